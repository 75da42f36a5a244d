// One seeded tasks stress run (started by tasks.mjs with --expose-gc and STRESS_SEED): a warm-up
// batch (one task of each kind) on a runner of its own, closed, then the RSS baseline; then
// STRESS_TASKS tasks (default 200) started at once on a runner with concurrency 4, of kinds
// picked by the seed, each checked when it ends. Then `close()`, which must abandon nothing,
// and the RSS bound. Exit code 1 on any failure; the process must end by itself.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

import { PythonError, Tasks } from 'pyembed'

import { makeRandom } from './random.mjs'

const seed = Number(process.env.STRESS_SEED)
const total = Number(process.env.STRESS_TASKS || 200)
const hangMs = 90_000 // then the tasks not ended are printed and the run fails (the driver kills at 120 s)
const rssLimitMiB = 50
const random = makeRandom(seed)
const appPath = join(dirname(fileURLToPath(import.meta.url)), 'tasks')
const workRoot = mkdtempSync(join(tmpdir(), 'pyembed-stress-tasks-'))
const rssMiB = () => process.memoryUsage().rss / 2 ** 20
const failures = new Map() // "where: first line" → { count, first }
const outcomes = {} // "kind: what happened" → count
const counts = {} // kind → tasks started

function fail(where, err) {
  const key = `${where}: ${String(err?.message ?? err).split('\n')[0]}`
  const seen = failures.get(key)
  if (seen) seen.count++
  else failures.set(key, { count: 1, first: err?.stack ?? String(err) })
}
function count(what) {
  outcomes[what] = (outcomes[what] ?? 0) + 1
}
// A hang is reported with what is left, before the driver kills the process (unless the JS
// thread itself is blocked, in a synchronous call: then only the driver reports it).
setTimeout(() => {
  console.error(`\ntasks stress: HUNG — still running after ${hangMs / 1000} s. seed=${seed}. Tasks not ended:`)
  for (const [i, tasks] of runners.entries()) {
    for (const t of tasks.list().filter((t) => !t.ended)) {
      const since = t.startedAt ? `${Date.now() - t.startedAt.getTime()} ms` : '-'
      const tail = t.output.slice(-3).map((l) => l.text).join(' | ')
      console.error(`  runner ${i} ${t.id} ${t.script.split('/').pop()} ${t.state} (running for ${since}) ending=${t.ending} output: ${tail}`)
    }
  }
  process.exit(1)
}, hangMs).unref()
process.on('unhandledRejection', (err) => fail('unhandled rejection', err))
process.on('uncaughtException', (err) => fail('uncaught exception', err))

const texts = ['', 'héllo', '𝄞 astral', 'multi\nline', 'x'.repeat(2000), '{"not": "json"}']
/** A message of each kind a task can take: text, bytes, or a JSON-able value. */
function message(i) {
  switch (random.int(0, 2)) {
    case 0: return `${i}:${random.pick(texts)}`
    case 1: return Buffer.from([i & 255, random.int(0, 255), 0, 255])
    default: return { i, s: random.pick(texts), n: random.int(-(2 ** 40), 2 ** 40), f: random.next(), list: [i, null, true] }
  }
}

function expectState(r, state) {
  assert.equal(r.state, state, `ended ${r.state} (exit code ${r.exitCode}${r.error ? `, ${r.error.message}` : ''}), expected ${state}`)
}

const runners = []
/** Every message the host got from each task, in order, recorded from its creation. */
function record(tasks) {
  runners.push(tasks)
  tasks.on('task', (task) => {
    task.received = []
    task.on('message', (m) => task.received.push(m))
  })
}

// Each kind starts its task(s) on `tasks` and returns how many it started and a check that
// waits for them to end and asserts what their kind implies.
const kinds = {
  done: { weight: 3, start(tasks) {
    const value = { tag: random.int(0, 1e6), text: random.pick(texts), list: [1, 'two', null] }
    const lines = random.int(0, 20)
    const t = tasks.run('done.py', { params: { value, lines } })
    return [1, async () => {
      const r = await t.result
      expectState(r, 'done')
      assert.equal(r.exitCode, 0)
      assert.deepEqual(r.value, { echo: value, lines })
      assert.deepEqual(r.output.map((l) => l.text), Array.from({ length: lines }, (_, i) => `line ${i}`))
    }]
  } },
  exception: { weight: 1, start(tasks) {
    const tag = random.int(0, 1e6)
    const t = tasks.run('exception.py', { params: { tag } })
    return [1, async () => {
      const r = await t.result
      expectState(r, 'failed')
      assert.equal(r.exitCode, 1)
      assert.ok(r.error instanceof PythonError, 'error is a PythonError')
      assert.equal(r.error.pythonType, 'ValueError')
      assert.equal(r.error.pythonMessage, `boom ${tag}`)
      assert.match(r.error.pythonTraceback, /exception\.py/)
    }]
  } },
  exit3: { weight: 1, start(tasks) {
    const t = tasks.run('exit3.py')
    return [1, async () => {
      const r = await t.result
      expectState(r, 'failed')
      assert.equal(r.exitCode, 3)
      assert.equal(r.error, null)
    }]
  } },
  timeout: { weight: 1, start(tasks) {
    const mode = random.pick(['busy', 'sleep', 'recv'])
    const timeoutSec = 0.1 + random.next() * 0.4
    const t = tasks.run('timeout.py', { params: { mode }, timeoutSec })
    return [1, async () => {
      const r = await t.result
      expectState(r, 'timeout')
      assert.ok(r.durationMs >= timeoutSec * 1000 - 5, `ended after ${r.durationMs} ms, before its timeout`)
      count(`timeout: ${mode}`)
    }]
  } },
  memory: { weight: 1, start(tasks) {
    const t = tasks.run('memory.py', { params: { capMb: 100 }, memoryLimitMb: 30, timeoutSec: 30 })
    return [1, async () => {
      const r = await t.result
      expectState(r, 'memory')
    }]
  } },
  cancelled: { weight: 2, start(tasks) {
    // Cancelled at once (queued), after a delay from its creation (queued, running or ended),
    // or a little after its first output line (running, or just finished).
    const params = { ms: random.int(20, 800), busy: random.chance(0.5) }
    const when = random.pick(['at once', 'after a delay', 'once running'])
    const delay = random.int(0, when === 'once running' ? params.ms + 100 : 3000)
    let at, cancelled
    const cancel = () => {
      at = t.ended ? 'ended' : t.state
      t.cancel()
    }
    const later = () => (cancelled ??= new Promise((r) => setTimeout(() => r(cancel()), delay)))
    const t = tasks.run('cancel.py', { params, onOutput: when === 'once running' ? later : undefined })
    if (when === 'at once') cancel()
    else if (when === 'after a delay') later()
    return [1, async () => {
      const r = await t.result
      await cancelled
      if (at === 'queued') expectState(r, 'cancelled')
      else if (at === 'running' && r.state !== 'cancelled') expectState(r, 'done') // finished first
      else if (at === 'ended' || at === undefined) expectState(r, 'done')
      count(`cancelled ${when}: ${at ?? 'never (no output)'} → ${r.state}`)
    }]
  } },
  children: { weight: 1, start(tasks) {
    const xs = Array.from({ length: random.int(1, 3) }, () => random.int(0, 1000))
    const parent = tasks.run('parent.py', { params: { xs } })
    return [1, async () => {
      const r = await parent.result
      expectState(r, 'done')
      assert.equal(r.value.length, xs.length, 'one id per child')
      assert.deepEqual(tasks.list().filter((t) => t.parentId === parent.id).map((t) => t.id), r.value)
      for (const [index, id] of r.value.entries()) {
        const child = tasks.get(id)
        const value = xs[index] * xs[index] + index
        const cr = await child.result
        expectState(cr, 'done')
        assert.equal(cr.value, value)
        assert.deepEqual(child.received, [{ index, value, parent: parent.id }], 'child → host messages')
      }
      count(`children: ${xs.length}`)
    }]
  } },
  echo: { weight: 1.5, start(tasks) {
    const n = random.int(1, 20)
    const useAsync = random.chance(0.3)
    const sent = Array.from({ length: n }, (_, i) => message(i))
    const t = tasks.run('echo.py', { params: { count: n, async: useAsync } })
    // One round trip at a time: the next message goes once the previous one came back.
    t.on('message', () => {
      if (t.received.length < n) t.send(sent[t.received.length])
    })
    t.send(sent[0])
    return [1, async () => {
      const r = await t.result
      expectState(r, 'done')
      assert.deepEqual(t.received, sent, 'host ↔ task round trips: each once, in order')
      count(`echo: ${useAsync ? 'recv_async' : 'recv'}`)
    }]
  } },
  pair: { weight: 1, start(tasks) {
    // The sender is queued first and waits only for the host, so the receiver's wait always ends.
    const n = random.int(1, 20)
    const messages = Array.from({ length: n }, (_, i) => message(i))
    const sender = tasks.run('sender.py', { params: { count: n } })
    const receiver = tasks.run('receiver.py', { params: { count: n } })
    sender.send(receiver.id)
    for (const m of messages) sender.send(m)
    return [2, async () => {
      const [s, r] = await Promise.all([sender.result, receiver.result])
      expectState(s, 'done')
      expectState(r, 'done')
      assert.deepEqual(receiver.received, messages, 'task → task messages: each once, in order')
      assert.deepEqual(r.value, { count: n, extra: null }, 'nothing more than was sent')
    }]
  } },
}
// STRESS_KINDS=a,b runs only those kinds (to find which one a failure comes from).
const only = process.env.STRESS_KINDS?.split(',')
const weighted = Object.entries(kinds)
  .filter(([name]) => only === undefined || only.includes(name))
  .map(([name, kind]) => ({ name, weight: kind.weight, kind }))

/** Starts `kind` on `tasks`; the returned promise settles once its tasks ended and were checked. */
function start(tasks, name, kind, where) {
  counts[name] = (counts[name] ?? 0) + 1
  let n, check
  try {
    ;[n, check] = kind.start(tasks)
  } catch (err) {
    fail(`${where}${name}`, err)
    return [0, Promise.resolve()]
  }
  return [n, check().catch((err) => fail(`${where}${name}`, err))]
}

// Warm-up: one task of each kind on a runner of its own, then the baseline.
{
  const tasks = new Tasks({ appPath, workRoot, concurrency: 4, timeoutSec: 60 })
  record(tasks)
  await Promise.all(weighted.map(({ name, kind }) => start(tasks, name, kind, 'warm-up ')[1]))
  try {
    assert.deepEqual(await tasks.close(), { abandoned: [] }, 'close() of the warm-up runner')
  } catch (err) {
    fail('warm-up close', err)
  }
}
for (const k of Object.keys(counts)) delete counts[k]
globalThis.gc()
const rssBaseline = rssMiB()

// The run: every task started at once.
const runStarted = Date.now()
const tasks = new Tasks({ appPath, workRoot, concurrency: 4, timeoutSec: 60 })
record(tasks)
const checks = []
for (let made = 0; made < total;) {
  const { name, kind } = random.weighted(weighted)
  const [n, check] = start(tasks, name, kind, '')
  made += n
  checks.push(check)
}
await Promise.all(checks)
const ranMs = Date.now() - runStarted
try {
  const list = tasks.list()
  assert.deepEqual(list.filter((t) => !t.ended).map((t) => `${t.id} ${t.state}`), [], 'tasks that never ended')
  assert.deepEqual(await tasks.close(), { abandoned: [] }, 'close()')
  console.log(`tasks: ${list.length} tasks (children included), ${checks.length} checks, all ended in ${(ranMs / 1000).toFixed(1)} s`)
} catch (err) {
  fail('close', err)
}
for (let i = 0; i < 3; i++) {
  globalThis.gc()
  await new Promise((r) => setTimeout(r, 50))
}
const grown = rssMiB() - rssBaseline
console.log(`tasks: kinds ${JSON.stringify(counts)}`)
console.log(`tasks: outcomes ${JSON.stringify(Object.fromEntries(Object.entries(outcomes).sort()))}`)
console.log(`tasks: RSS ${rssBaseline.toFixed(0)} → ${rssMiB().toFixed(0)} MiB after close() (growth ${grown.toFixed(1)} MiB, limit ${rssLimitMiB})`)
if (grown > rssLimitMiB) fail('final state', new Error(`RSS grew by ${grown.toFixed(1)} MiB (limit ${rssLimitMiB})`))
rmSync(workRoot, { recursive: true, force: true })

for (const [key, { count: n, first }] of failures) console.error(`\nFAILED ×${n}: ${key}\n${first}`)
if (failures.size) {
  console.error(`\ntasks stress: ${failures.size} distinct failure(s), seed=${seed}`)
  process.exitCode = 1
}
