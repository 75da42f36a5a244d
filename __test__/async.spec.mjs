import assert from 'node:assert/strict'
import { afterEach, test } from 'node:test'

import { Python, PythonError, kwargs } from 'pyembed'
import { fixtures, runNode, thrown } from './helpers.mjs'

const py = new Python()
py.add_syspath(fixtures)
py.exec(`
import time
log = []
def record(x):
    log.append(x)
    return x
def busy(seconds):
    end = time.time() + seconds
    while time.time() < end:
        pass
    return "done"
def add(a, b=0, *, scale=1):
    return (a + b) * scale
class Box:
    def __init__(self, v):
        self.v = v
    def get(self):
        return self.v
`)
const main = py.import('__main__')
afterEach(() => globalThis.gc?.())

test('_async variants resolve with what the sync forms return', async () => {
  assert.equal(await py.eval_async('6 * 7'), 42)
  assert.equal(await py.exec_async('async_flag = True'), null)
  assert.equal(py.eval('async_flag'), true)
  const os = await py.import_async('os')
  assert.equal(os.path.join('a', 'b'), 'a/b')
  assert.equal(await py.call_async(main, 'add', [1, 2], { scale: 10 }), 30)
  assert.equal(await main.add_async(1, 2, kwargs({ scale: 2 })), 6)
  assert.deepEqual(await py.eval_async('{"a": [1, 2.5, None], "b": {1, 2}}'), { a: [1, 2.5, null], b: new Set([1, 2]) })
  const cyclic = await py.eval_async('(lambda l: (l.append(l), l)[1])([1])')
  assert.equal(cyclic[1], cyclic)
  assert.equal(await py.eval_async('"a\\U0001F600\\ud800"'), 'a😀\ud800')
  assert.equal(await py.eval_async('2**70'), 2n ** 70n)
  const box = await main.Box_async(7) // classes are callable by name too
  assert.equal(box.get(), 7)
  assert.equal(await box.get_async(), 7)
})

test('arguments convert like the sync path, proxies included', async () => {
  const box = main.Box(3)
  const echoed = await py.call_async(py.eval('lambda *a, **k: [a, k]'), '__call__', [box, [1, 'x', { k: new Map([[1, 2]]) }], new Uint8Array([1])], { d: new Date(0) })
  assert.equal(echoed[0][0].get(), 3)
  assert.deepEqual(echoed[0][1], [1, 'x', { k: new Map([[1, 2]]) }])
  assert.deepEqual([...echoed[0][2]], [1])
  assert.equal(echoed[1].d.getTime(), 0)
  const numbers = Array.from({ length: 5000 }, (_, i) => i / 2)
  assert.deepEqual(await py.call_async(py.eval('lambda x: x'), '__call__', [numbers]), numbers)
})

test('errors reject with the same PythonError and codes', async () => {
  const err = await py.eval_async('1/0').catch((e) => e)
  assert.ok(err instanceof PythonError)
  assert.equal(err.pythonType, 'ZeroDivisionError')
  assert.match(err.pythonTraceback, /ZeroDivisionError/)
  assert.equal((await py.eval_async(42).catch((e) => e)).code, 'ERR_PY_INVALID_ARG')
  assert.equal((await py.call_async(main, 'add', 'nope').catch((e) => e)).code, 'ERR_PY_INVALID_ARG')
  const gone = main.Box(1)
  py.gc(gone)
  assert.equal((await py.call_async(gone, 'get').catch((e) => e)).code, 'ERR_PY_RELEASED')
  assert.throws(() => gone.get_async, { code: 'ERR_PY_RELEASED' }) // reading any attribute throws
  assert.equal((await py.exec_async('import sys; sys.exit(2)').catch((e) => e)).pythonType, 'SystemExit')
})

test('calls on one instance run in submission order', async () => {
  py.exec('log.clear()')
  await Promise.all(Array.from({ length: 200 }, (_, i) => main.record_async(i)))
  assert.deepEqual(py.eval('log'), Array.from({ length: 200 }, (_, i) => i))
})

test('10,000 concurrent calls all resolve with their own results', async () => {
  const results = await Promise.all(Array.from({ length: 10_000 }, (_, i) => main.add_async(i, 1)))
  assert.equal(results.length, 10_000)
  results.forEach((r, i) => assert.equal(r, i + 1))
})

test('the event loop keeps running while Python busy-loops asynchronously', async () => {
  const drifts = []
  let last = performance.now()
  const timer = setInterval(() => {
    const now = performance.now()
    drifts.push(now - last - 10)
    last = now
  }, 10)
  let syncWork = 0
  const busy = main.busy_async(1.0)
  for (let i = 0; i < 1000; i++) syncWork += i // sync JS runs meanwhile
  assert.equal(await busy, 'done')
  clearInterval(timer)
  assert.equal(syncWork, 499500)
  assert.ok(drifts.length >= 50, `only ${drifts.length} timer ticks in 1 s`)
  const sorted = drifts.sort((a, b) => a - b)
  const median = sorted[Math.floor(sorted.length / 2)]
  assert.ok(median < 10, `median timer drift ${median.toFixed(1)} ms`)
})

test('sync and async calls mix without deadlock', async () => {
  const busy = main.busy_async(0.3)
  assert.equal(py.eval('1 + 1'), 2) // waits for the GIL, which the busy loop hands over
  assert.equal(main.add(2, 3), 5)
  const results = await Promise.all([busy, main.add_async(1), py.eval_async('3')])
  assert.deepEqual(results, ['done', 1, 3])
})

test('releases wait behind queued calls that use the object', async () => {
  const box = main.Box(9)
  const queued = [main.busy_async(0.1), box.get_async()]
  py.gc(box) // released only after the queued call ran
  assert.deepEqual(await Promise.all(queued), ['done', 9])
})

test('clear releases behind queued calls: a queued call still gets a working object', async () => {
  py.exec('import weakref\nclear_refs = []')
  const own = new Python()
  const ownMain = own.import('__main__')
  const box = ownMain.Box(9)
  py.eval('lambda b: clear_refs.append(weakref.ref(b))')(box)
  const queued = [ownMain.busy_async(0.2), box.get_async(), own.call_async(py.eval('lambda b: b.get() * 2'), '__call__', [box])]
  assert.equal(own.clear(), 3) // the module, the Box class and the box, while the calls are queued
  assert.equal(own.stats().owned, 0)
  assert.equal(thrown(() => box.get()).code, 'ERR_PY_RELEASED') // released for JS at once
  assert.deepEqual(await Promise.all(queued), ['done', 9, 18])
  assert.equal(await own.eval_async('1'), 1) // queued behind the releases: they ran before it
  py.exec('import gc; gc.collect()')
  assert.deepEqual(py.eval('[r() is None for r in clear_refs]'), [true]) // and then freed
})

test('an idle instance does not keep Node alive; a pending call does', () => {
  const idle = runNode(`import { Python } from 'pyembed'
    const py = new Python()
    await py.eval_async('1')
    console.log('idle')`, { timeout: 20_000 })
  assert.equal(idle.status, 0, idle.stderr)
  assert.equal(idle.stdout.trim(), 'idle')
  const pending = runNode(`import { Python } from 'pyembed'
    const py = new Python()
    py.eval_async('__import__("time").sleep(0.3) or "late result"').then(console.log)`, { timeout: 20_000 })
  assert.equal(pending.status, 0, pending.stderr)
  assert.equal(pending.stdout.trim(), 'late result')
})

test('a worker thread can make async calls', async () => {
  const { Worker } = await import('node:worker_threads')
  const { once } = await import('node:events')
  const worker = new Worker(`
    const { parentPort } = require('node:worker_threads')
    const { Python } = require('pyembed')
    const py = new Python()
    Promise.all([py.eval_async('sum(range(10))'), py.eval_async('"w"')]).then((r) => parentPort.postMessage(r))
  `, { eval: true })
  const exited = once(worker, 'exit')
  const [result] = await once(worker, 'message')
  assert.deepEqual(result, [45, 'w'])
  assert.deepEqual(await exited, [0])
})

test('regression: a proxy collected while its async call is queued stays alive until the call ran', async () => {
  const queued = (() => {
    const box = main.Box(11) // only the queued call refers to it once this scope ends
    return [main.busy_async(0.2), box.get_async()]
  })()
  for (let i = 0; i < 5; i++) {
    globalThis.gc()
    assert.equal(main.add(i), i) // sync calls drain collected proxies: behind the queued call
  }
  assert.deepEqual(await Promise.all(queued), ['done', 11])
})
