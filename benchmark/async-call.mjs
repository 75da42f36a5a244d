// Async calls: sequential awaits of a no-op method, and 1,000 calls in flight.
import { Python } from 'pyembed'
import { quick, report, target } from './harness.mjs'

const py = new Python()
py.exec('class C:\n    def noop(self):\n        return None\nc = C()\n')
const c = py.eval('c')

async function rate(fn, seconds) {
  let ops = 0
  const start = process.hrtime.bigint()
  let elapsed = 0
  while (elapsed < seconds) {
    ops += await fn()
    elapsed = Number(process.hrtime.bigint() - start) / 1e9
  }
  return ops / elapsed
}

async function best(fn) {
  await rate(fn, 0.05) // warm-up
  let top = 0
  for (let r = 0; r < (quick ? 2 : 5); r++) top = Math.max(top, await rate(fn, quick ? 0.1 : 0.5))
  return top
}

const baseline = await best(async () => {
  await Promise.resolve()
  return 1
})
const timerBaseline = await best(() => new Promise((r) => setImmediate(() => r(1))))
const sequential = await best(async () => {
  await c.noop_async()
  return 1
})
const inFlight = await best(async () => {
  const calls = new Array(1000)
  for (let i = 0; i < 1000; i++) calls[i] = c.noop_async()
  await Promise.all(calls)
  return 1000
})

console.log('\n## async call (no-op method)')
report('baseline: await of a resolved promise', baseline, 'ops/s')
report('baseline: await of setImmediate (one loop turn)', timerBaseline, 'ops/s')
report('sequential await c.noop_async()', sequential, 'calls/s', { 'loop turn': timerBaseline })
report('1,000 in flight', inFlight, 'calls/s', { 'loop turn': timerBaseline })
target('sequential ≥ 60 k/s', sequential >= 6e4)
target('1,000 in flight ≥ 500 k/s', inFlight >= 5e5)
