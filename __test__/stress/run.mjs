// Stress test driver (`npm run stress`): runs one seeded stress run in a child process, so that a
// crash is reported as a failure with its signal and seed instead of taking the driver down, and a
// hang is reported instead of blocking CI.
//
//   STRESS_SEED  the seed (default: random); printed first, so a failure can be replayed
//   STRESS_MS    how long the run starts new operations (default 20000: a CI run)
//   STRESS_TRACE=1  print every operation as it starts and ends (to find where a hang is)
//
// The worker (worker.mjs) must end by itself: it stops starting operations at the deadline,
// checks the final state and lets the event loop drain. 60 s after the deadline it is killed.
import { spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const seed = process.env.STRESS_SEED ? Number(process.env.STRESS_SEED) : Math.floor(Math.random() * 2 ** 31)
const ms = Number(process.env.STRESS_MS || 20_000)
const graceMs = 60_000
if (!Number.isSafeInteger(seed) || !(ms > 0)) {
  console.error('STRESS_SEED must be an integer and STRESS_MS a positive number of milliseconds')
  process.exit(2)
}

console.log(`stress seed=${seed} ms=${ms}`)
const replay = `STRESS_SEED=${seed} STRESS_MS=${ms} npm run stress`
const started = Date.now()
const child = spawn(process.execPath, ['--expose-gc', join(here, 'worker.mjs')], {
  cwd: join(here, '..', '..'),
  env: { ...process.env, STRESS_SEED: String(seed), STRESS_MS: String(ms) },
  stdio: 'inherit',
})
let hung = false
const killer = setTimeout(() => {
  hung = true
  child.kill('SIGKILL')
}, ms + graceMs)

child.on('exit', (code, signal) => {
  clearTimeout(killer)
  const seconds = ((Date.now() - started) / 1000).toFixed(1)
  if (hung) {
    console.error(`stress FAILED: the worker hung (still running ${graceMs / 1000} s after its deadline; killed). seed=${seed}. Replay: ${replay}`)
    process.exit(1)
  }
  if (signal) {
    console.error(`stress FAILED: the worker crashed with ${signal} after ${seconds} s. seed=${seed}. Replay: ${replay}`)
    process.exit(1)
  }
  if (code !== 0) {
    console.error(`stress FAILED: the worker exited with code ${code} after ${seconds} s. seed=${seed}. Replay: ${replay}`)
    process.exit(1)
  }
  console.log(`stress passed in ${seconds} s (seed=${seed})`)
})
