// Contexts: true parallelism of isolated contexts (CPU/wall while two run CPU-bound Python, against
// two threads of the main interpreter in the same run), the cost of creating one and of keeping
// one alive, and call rates into a context against the main interpreter.
import { Python } from 'pyembed'
import { opsPerSecond, quick, report, target } from './harness.mjs'

const { subinterpreters } = Python.version
const main = new Python()
const rssMiB = () => process.memoryUsage().rss / 2 ** 20

/** Process CPU time / wall time while `run` is pending, and the wall time: the best of 3 each. */
async function cpuPerWall(run) {
  const best = [0, Infinity]
  for (let round = 0; round < 3; round++) {
    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    await run()
    const wall = performance.now() - t0
    const cpu = process.cpuUsage(cpu0)
    const ratio = (cpu.user + cpu.system) / 1000 / wall
    best[0] = Math.max(best[0], ratio)
    best[1] = Math.min(best[1], wall)
  }
  return best
}

// Long enough (~0.3 s) that starting and finishing unevenly do not count, even in a smoke run.
const work = `sum(i * i for i in range(${quick ? 3_000_000 : 4_000_000}))`
console.log(`\n## contexts (isolated contexts here: ${subinterpreters})`)

const [a, b] = [new Python({ context: true }), new Python({ context: true })]
const [s1, s2] = [new Python({ context: 'shared-gil' }), new Python({ context: 'shared-gil' })]
main.exec(`import threading\ndef on_two_threads():\n    ts = [threading.Thread(target=lambda: ${work}) for _ in range(2)]\n    [t.start() for t in ts]\n    [t.join() for t in ts]`)
await Promise.all([a.eval_async('1'), b.eval_async('1')])
const [mainRatio, mainWall] = await cpuPerWall(() => main.eval_async('on_two_threads()'))
const [ctxRatio, ctxWall] = await cpuPerWall(() => Promise.all([a.eval_async(work), b.eval_async(work)]))
const [sharedRatio] = await cpuPerWall(() => Promise.all([s1.eval_async(work), s2.eval_async(work)]))
report('baseline: main interpreter, 2 threads', mainRatio, 'CPU/wall')
report('2 shared-GIL contexts', sharedRatio, 'CPU/wall', { 'main, 2 threads': mainRatio })
report('2 isolated contexts', ctxRatio, 'CPU/wall', { 'main, 2 threads': mainRatio })
console.log(`wall time for the same work: ${ctxWall.toFixed(0)} ms in 2 isolated contexts, ${mainWall.toFixed(0)} ms on 2 main-interpreter threads (${(mainWall / ctxWall).toFixed(2)}× faster)`)
if (subinterpreters === 'own-gil') {
  target('2 isolated contexts CPU/wall ≥ 1.75', ctxRatio >= 1.75)
} else {
  console.log('target: CPU/wall ≥ 1.75 needs Python 3.12+ (own GIL); not applicable here')
}

// Calls into a context run on its thread: each sync call is a hand-off and a wait.
for (const py of [main, a]) py.exec('class C:\n    def noop(self):\n        return None\nc = C()')
const [cMain, cCtx] = [main.eval('c'), a.eval('c')]
const mainCalls = opsPerSecond(() => cMain.noop())
const ctxCalls = opsPerSecond(() => cCtx.noop(), 200)
report('baseline: proxy c.noop(), main interpreter', mainCalls, 'ops/s')
report('proxy c.noop(), isolated context', ctxCalls, 'ops/s', { main: mainCalls })
async function awaitLoop(py, n) {
  const t0 = performance.now()
  for (let i = 0; i < n; i++) await py.eval_async('None')
  return (n * 1000) / (performance.now() - t0)
}
const n = quick ? 2000 : 20000
const mainAwait = Math.max(await awaitLoop(main, n), await awaitLoop(main, n))
const ctxAwait = Math.max(await awaitLoop(a, n), await awaitLoop(a, n))
report('baseline: await eval_async, main interpreter', mainAwait, 'calls/s')
report('await eval_async, isolated context', ctxAwait, 'calls/s', { main: mainAwait })
await Promise.all([a.close(), b.close(), s1.close(), s2.close()])

// Creating, keeping and closing contexts.
const count = quick ? 5 : 20
let t0 = performance.now()
const before = rssMiB()
const live = []
for (let i = 0; i < count; i++) live.push(new Python({ context: true }))
const createMs = (performance.now() - t0) / count
const perContext = (rssMiB() - before) / count
t0 = performance.now()
await Promise.all(live.map((py) => py.close()))
const closeMs = (performance.now() - t0) / count
console.log(`create an isolated context: ${createMs.toFixed(1)} ms; close: ${closeMs.toFixed(1)} ms; RSS of a live one: ${perContext.toFixed(1)} MiB`)
