// One stress run (started by run.mjs with --expose-gc, STRESS_SEED and STRESS_MS): until the
// deadline, batches of random concurrent operations against the main interpreter and two contexts,
// each batch followed now and then by one barrier operation. Then the final checks: every proxy
// released back to the starting count, RSS growth bounded, no unhandled rejection. The process
// ends by itself (exit code 1 on any failure): an open context or a pending call that kept Node
// alive would show as a hang in the driver.
import assert from 'node:assert/strict'

import { Python } from 'pyembed'

import { Target, barrierOps, concurrentOps } from './ops.mjs'
import { makeRandom } from './random.mjs'

const seed = Number(process.env.STRESS_SEED)
const deadline = Date.now() + Number(process.env.STRESS_MS)
const rssLimitMiB = 300
const random = makeRandom(seed)
const failures = new Map() // "op on target: first line" → { count, first }
const counts = {}

let reported = false
function fail(where, err) {
  if (reported) {
    // After the summary (a late rejection, an exception in a finalizer): report it on its own.
    console.error(`\nFAILED after the run: ${where}\n${err?.stack ?? err}\nseed=${seed}`)
    process.exitCode = 1
    return
  }
  const key = `${where}: ${String(err?.message ?? err).split('\n')[0]}`
  const seen = failures.get(key)
  if (seen) seen.count++
  else failures.set(key, { count: 1, first: err?.stack ?? String(err) })
}

process.on('unhandledRejection', (err) => fail('unhandled rejection', err))
process.on('uncaughtException', (err) => fail('uncaught exception', err))

const trace = process.env.STRESS_TRACE === '1' // every operation's start and end, to find a hang
let opNumber = 0
const started = Date.now()

async function runOp(op, target, env) {
  const where = `${op.name} on ${target.kind}`
  const n = ++opNumber
  counts[op.name] = (counts[op.name] ?? 0) + 1
  if (trace) console.log(`${Date.now() - started} ms: #${n} ${where}`)
  try {
    await op.run(env, target)
  } catch (err) {
    fail(where, err)
  }
  if (trace) console.log(`${Date.now() - started} ms: #${n} done`)
}

function eligible(ops, target) {
  return ops.filter((op) => !(op.mainOnly && target.kind !== 'main') && !(op.contextOnly && target.kind === 'main'))
}

const rssMiB = () => process.memoryUsage().rss / 2 ** 20
const baselineHandles = new Python().stats().handles
const targets = [new Target('main'), new Target('isolated'), new Target('shared-gil')]
const env = { random, main: targets[0] }
const rssStart = rssMiB()

let batches = 0
while (Date.now() < deadline) {
  const size = random.int(1, 8)
  const batch = []
  for (let i = 0; i < size; i++) {
    const target = random.pick(targets)
    batch.push(runOp(random.weighted(eligible(concurrentOps, target)), target, env))
  }
  await Promise.all(batch)
  if (random.chance(0.2)) {
    const target = random.pick(targets)
    await runOp(random.weighted(eligible(barrierOps, target)), target, env)
  }
  if (random.chance(0.05)) globalThis.gc()
  batches++
}

// Final state: close the contexts, clear the main instance, collect, and count what is left.
try {
  for (const t of targets.slice(1)) assert.equal(await t.py.close(), true, `close() of the ${t.kind} context`)
  targets[0].py.clear()
  targets[0].kept = []
  targets[0].mod = null
  const probe = new Python()
  for (let i = 0; i < 5 && probe.stats().handles !== baselineHandles; i++) {
    globalThis.gc()
    await new Promise((resolve) => setImmediate(resolve))
    probe.eval('None') // drains releases queued by finalizers
  }
  assert.equal(probe.stats().handles, baselineHandles, 'live handles after clearing everything')
} catch (err) {
  fail('final state', err)
}
globalThis.gc()
const grown = rssMiB() - rssStart
// CPython 3.12+ keeps part of the memory of every isolated interpreter it ends (~1.7 MiB each,
// python/cpython#110411): allow for the contexts this run made and ended.
const endedContexts = (counts.restart ?? 0) + (counts.close ?? 0) + (counts.workerTerminate ?? 0)
const ownGil = Python.version.subinterpreters === 'own-gil'
const limit = rssLimitMiB + (ownGil ? 4 * endedContexts : 0)
console.log(`stress: ${batches} batches; ops ${JSON.stringify(counts)}`)
console.log(`stress: RSS ${rssStart.toFixed(0)} → ${rssMiB().toFixed(0)} MiB (growth ${grown.toFixed(1)} MiB, limit ${limit})`)
if (grown > limit) fail('final state', new Error(`RSS grew by ${grown.toFixed(1)} MiB (limit ${limit})`))

for (const [key, { count, first }] of failures) {
  console.error(`\nFAILED ×${count}: ${key}\n${first}`)
}
reported = true
if (failures.size) {
  console.error(`\nstress: ${failures.size} distinct failure(s), seed=${seed}`)
  process.exitCode = 1
}
