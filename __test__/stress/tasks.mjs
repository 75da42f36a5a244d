// Tasks stress test driver (`npm run stress:tasks`): runs one seeded run of tasks-worker.mjs in a
// child process, so that a crash is reported with its signal and seed instead of taking the
// driver down, and a hang is reported instead of blocking CI.
//
//   STRESS_SEED   the seed (default: random); printed first, so a failure can be replayed
//   STRESS_TASKS  how many tasks the run starts at once (default 200)
import { spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const seed = process.env.STRESS_SEED ? Number(process.env.STRESS_SEED) : Math.floor(Math.random() * 2 ** 31)
const total = Number(process.env.STRESS_TASKS || 200)
const limitMs = 120_000
if (!Number.isSafeInteger(seed) || !Number.isSafeInteger(total) || total < 1) {
  console.error('STRESS_SEED and STRESS_TASKS must be integers (STRESS_TASKS at least 1)')
  process.exit(2)
}

console.log(`tasks stress seed=${seed} tasks=${total}`)
const replay = `STRESS_SEED=${seed} STRESS_TASKS=${total} npm run stress:tasks`
const started = Date.now()
const child = spawn(process.execPath, ['--expose-gc', join(here, 'tasks-worker.mjs')], {
  cwd: join(here, '..', '..'),
  env: { ...process.env, STRESS_SEED: String(seed), STRESS_TASKS: String(total) },
  stdio: 'inherit',
})
let hung = false
const killer = setTimeout(() => {
  hung = true
  child.kill('SIGKILL')
}, limitMs)

child.on('exit', (code, signal) => {
  clearTimeout(killer)
  const seconds = ((Date.now() - started) / 1000).toFixed(1)
  if (hung) {
    console.error(`tasks stress FAILED: the worker hung (still running after ${limitMs / 1000} s; killed). seed=${seed}. Replay: ${replay}`)
    process.exit(1)
  }
  if (signal) {
    console.error(`tasks stress FAILED: the worker crashed with ${signal} after ${seconds} s. seed=${seed}. Replay: ${replay}`)
    process.exit(1)
  }
  if (code !== 0) {
    console.error(`tasks stress FAILED: the worker exited with code ${code} after ${seconds} s. seed=${seed}. Replay: ${replay}`)
    process.exit(1)
  }
  console.log(`tasks stress passed in ${seconds} s (seed=${seed})`)
})
