// Tasks: trivial scripts run as supervised tasks against the usual alternative, one Python
// process per script (the real interpreter binary, through execFile, at the same concurrency),
// in the same run; the latency from `run()` to a task's first line of output; and 8 CPU-bound
// tasks run two at a time against one at a time (parallel with an own GIL, Python 3.12+).
// First-call figures (a cold runner's first task) are printed beside the steady state.
import { execFile, spawn } from 'node:child_process'
import { mkdtempSync, realpathSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

import { Python, Tasks } from 'pyembed'
import { quick, report, target } from './harness.mjs'

const appPath = fileURLToPath(new URL('tasks/', import.meta.url))
const plainScript = join(appPath, 'hi_plain.py')
const workRoot = mkdtempSync(join(tmpdir(), 'pyembed-bench-tasks-'))
// The interpreter binary itself: a launcher such as a pyenv shim would add its own start-up.
const python = realpathSync(Python.version.executable)
const { subinterpreters } = Python.version
const execFileAsync = promisify(execFile)
const runners = []

function runner(concurrency) {
  const tasks = new Tasks({ appPath, workRoot, concurrency })
  runners.push(tasks)
  return tasks
}

/** Percentile `p` (0..1) of `values`. */
function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]
}

/** Runs `job` `n` times with at most `concurrency` at once; resolves with the wall time in ms. */
async function pool(n, concurrency, job) {
  let next = 0
  const t0 = performance.now()
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < n) {
      next++
      await job()
    }
  }))
  return performance.now() - t0
}

async function plainProcess(flags = []) {
  const { stdout } = await execFileAsync(python, [...flags, plainScript])
  if (stdout !== 'hi\n1\n') throw new Error(`python ${plainScript} printed ${JSON.stringify(stdout)}`)
}

async function trivialTasks(tasks, n) {
  const t0 = performance.now()
  const results = await Promise.all(Array.from({ length: n }, () => tasks.run('hi.py').result))
  const wall = performance.now() - t0
  const bad = results.find((r) => r.state !== 'done' || r.value !== 1)
  if (bad) throw new Error(`a trivial task ended ${bad.state}: ${bad.error?.message ?? JSON.stringify(bad.value)}`)
  return wall
}

/** Runs hi.py on `tasks`: [ms from run() to its first output line, ms to its result]. */
async function firstOutput(tasks) {
  let first = null
  const t0 = performance.now()
  const task = tasks.run('hi.py', { onOutput: () => (first ??= performance.now() - t0) })
  const r = await task.result
  const total = performance.now() - t0
  if (r.state !== 'done' || first === null) throw new Error(`hi.py ended ${r.state} with no output`)
  return [first, total]
}

/** Spawns the plain script: ms to its first stdout chunk. */
function processFirstOutput() {
  return new Promise((resolve, reject) => {
    const t0 = performance.now()
    let first = null
    const child = spawn(python, [plainScript], { stdio: ['ignore', 'pipe', 'inherit'] })
    child.stdout.on('data', () => (first ??= performance.now() - t0))
    child.on('error', reject)
    child.on('close', (code) => (code === 0 && first !== null ? resolve(first) : reject(new Error(`python exited ${code}`))))
  })
}

console.log(`\n## tasks (isolated contexts here: ${subinterpreters}; baseline: ${python})`)

// First call: a cold runner (no interpreter yet) and its first task; one process, the same way.
const cold = runner(2)
const [coldFirst, coldTotal] = await firstOutput(cold)
let t0 = performance.now()
await plainProcess()
const processCold = performance.now() - t0
console.log(`first call: cold runner's first task: first output ${coldFirst.toFixed(1)} ms, result ${coldTotal.toFixed(1)} ms; first python process: ${processCold.toFixed(1)} ms`)

// (a) Throughput at concurrency 2, rounds alternating between the two (best round of each).
const tasks = cold
const rounds = quick ? 2 : 5
const [taskCount, processCount] = quick ? [100, 10] : [500, 40]
await trivialTasks(tasks, 20) // both workers made
let taskRate = 0
let processRate = 0
let noSiteRate = 0
for (let r = 0; r < rounds; r++) {
  taskRate = Math.max(taskRate, (taskCount * 1000) / (await trivialTasks(tasks, taskCount)))
  processRate = Math.max(processRate, (processCount * 1000) / (await pool(processCount, 2, plainProcess)))
  noSiteRate = Math.max(noSiteRate, (processCount * 1000) / (await pool(processCount, 2, () => plainProcess(['-S']))))
}
// `python -S` skips `site` (and the .pth files of site-packages, which may import packages):
// the floor of a process's start-up, shown so that a heavy site-packages does not flatter tasks.
report('baseline: python process (execFile), conc. 2', processRate, 'scripts/s')
report('python -S process (no site), conc. 2', noSiteRate, 'scripts/s', { 'python process': processRate })
report('trivial tasks, concurrency 2', taskRate, 'tasks/s', { processes: processRate, 'python -S': noSiteRate })
target('trivial tasks ≥ 20× python processes', taskRate >= 20 * processRate)

// (b) run() → first output line on the warm runner, one task at a time.
const samples = quick ? 50 : 300
const firsts = []
const totals = []
for (let i = 0; i < samples; i++) {
  const [first, total] = await firstOutput(tasks)
  firsts.push(first)
  totals.push(total)
}
const processFirsts = []
for (let i = 0; i < (quick ? 5 : 20); i++) processFirsts.push(await processFirstOutput())
const p50 = percentile(firsts, 0.5)
report('baseline: python process, spawn → 1st output p50', percentile(processFirsts, 0.5), 'ms')
report('task, run() → first output p50 (warm)', p50, 'ms', { process: percentile(processFirsts, 0.5) })
console.log(`task, warm: first output p90 ${percentile(firsts, 0.9).toFixed(2)} ms; run() → result p50 ${percentile(totals, 0.5).toFixed(2)} ms, p90 ${percentile(totals, 0.9).toFixed(2)} ms`)
target('run() → first output p50 ≤ 5 ms on a warm runner', p50 <= 5)

// (c) 8 CPU-bound tasks, two at a time against one at a time (warm runners, best round of each).
const one = runner(1)
const two = runner(2)
await Promise.all([trivialTasks(one, 2), trivialTasks(two, 2)])
const targetMs = quick ? 300 : 400
const probe = await one.run('cpu.py', { params: { n: 1_000_000 } }).result
const n = Math.round((1_000_000 * targetMs) / Math.max(1, probe.durationMs))
async function cpuBatch(tasks) {
  const t0 = performance.now()
  const results = await Promise.all(Array.from({ length: 8 }, () => tasks.run('cpu.py', { params: { n } }).result))
  const wall = performance.now() - t0
  if (results.some((r) => r.state !== 'done' || r.value !== results[0].value)) throw new Error('a CPU-bound task failed')
  return [wall, results.reduce((sum, r) => sum + r.durationMs, 0) / results.length]
}
let [serialWall, parallelWall, serialEach, parallelEach] = [Infinity, Infinity, 0, 0]
for (let r = 0; r < (quick ? 1 : 2); r++) {
  const [s, se] = await cpuBatch(one)
  const [p, pe] = await cpuBatch(two)
  if (s < serialWall) [serialWall, serialEach] = [s, se]
  if (p < parallelWall) [parallelWall, parallelEach] = [p, pe]
}
report('baseline: 8 CPU-bound tasks, concurrency 1', serialWall, 'ms wall')
report('8 CPU-bound tasks, concurrency 2', parallelWall, 'ms wall', { 'concurrency 1': serialWall })
console.log(`each task: ${serialEach.toFixed(0)} ms alone, ${parallelEach.toFixed(0)} ms two at a time (n=${n})`)
if (subinterpreters === 'own-gil') {
  target('8 CPU-bound tasks: wall(concurrency 2) / wall(concurrency 1) ≤ 0.6', parallelWall / serialWall <= 0.6)
} else {
  console.log('target: wall ratio ≤ 0.6 needs Python 3.12+ (own GIL); not applicable here')
}

const closed = await Promise.all(runners.map((r) => r.close()))
const abandoned = closed.flatMap((c) => c.abandoned)
rmSync(workRoot, { recursive: true, force: true })
if (abandoned.length) {
  console.error(`close() abandoned tasks: ${abandoned.join(', ')}`)
  process.exitCode = 1
}
