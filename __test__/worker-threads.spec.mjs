import assert from 'node:assert/strict'
import { once } from 'node:events'
import { test } from 'node:test'
import { Worker } from 'node:worker_threads'

import { Python } from 'pyembed'

const py = new Python()
py.exec(`
import weakref
class WorkerObject:
    pass
worker_refs = []
def worker_make():
    o = WorkerObject()
    worker_refs.append(weakref.ref(o))
    return o
def worker_alive():
    import gc; gc.collect()
    return sum(1 for r in worker_refs if r() is not None)
`)

/** A worker running `source`, with `exited` resolving to its exit code (listened from the start). */
function spawn(source) {
  const worker = new Worker(`
    const { parentPort } = require('node:worker_threads')
    const { Python } = require('pyembed')
    ${source}
  `, { eval: true })
  worker.exited = once(worker, 'exit').then(([code]) => code)
  return worker
}

test('several workers load the addon at once, each with its own registry', async () => {
  const workers = Array.from({ length: 4 }, (_, i) =>
    spawn(`
      const py = new Python()
      const make = py.eval('worker_make')
      const kept = []
      for (let k = 0; k < 50; k++) kept.push(make())
      const sum = py.eval('sum(range(${i * 100}))')
      parentPort.postMessage({ sum, handles: py.stats().handles })
    `),
  )
  const results = await Promise.all(workers.map(async (w) => (await once(w, 'message'))[0]))
  for (const [i, r] of results.entries()) {
    assert.equal(r.sum, Array.from({ length: i * 100 }, (_, k) => k).reduce((a, b) => a + b, 0))
    assert.equal(r.handles, 51) // its own 50 objects and make: no other worker's, none of this thread's
  }
  assert.deepEqual(await Promise.all(workers.map((w) => w.exited)), [0, 0, 0, 0])
  assert.equal(py.import('__main__').worker_alive(), 0) // the workers' 200 objects were released
  py.exec('worker_refs.clear()')
})

test("a worker that ends releases its handles", async () => {
  const worker = spawn(`
    const py = new Python()
    const main = py.import('__main__')
    globalThis.kept = Array.from({ length: 20 }, () => main.worker_make())
    parentPort.postMessage(main.worker_alive())
  `)
  const [alive] = await once(worker, 'message')
  assert.equal(alive, 20)
  assert.equal(await worker.exited, 0)
  assert.equal(py.import('__main__').worker_alive(), 0)
  py.exec('worker_refs.clear()')
})

test('terminating a worker in the middle of a Python call waits for the call to return', async () => {
  py.exec('terminate_marker = []') // __main__ is shared with the worker
  const worker = spawn(`
    const py = new Python()
    py.exec('import time\\nterminate_marker.append("started")\\nfor _ in range(100):\\n    time.sleep(0.01)\\nterminate_marker.append(time.time())')
    parentPort.postMessage('returned')
  `)
  const deadline = Date.now() + 20_000
  while (py.eval('len(terminate_marker)') === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
  assert.deepEqual(py.eval('terminate_marker'), ['started']) // in the call, about 1 s from its end
  const code = await worker.terminate()
  const terminatedAt = Date.now() / 1000
  assert.equal(code, 1)
  const marker = py.eval('terminate_marker')
  assert.equal(marker.length, 2, 'the Python call ran to its end')
  // Date.now() has whole milliseconds: allow one more.
  assert.ok(marker[1] <= terminatedAt + 0.001, `terminate resolved ${(marker[1] - terminatedAt).toFixed(3)} s before the call ended`)
  assert.equal(py.eval('1 + 1'), 2)
})

test('terminating workers with async calls and callbacks in flight does not crash', async () => {
  for (let round = 0; round < 3; round++) {
    const worker = spawn(`
      const py = new Python()
      py.exec('import time\\ndef slow(x):\\n    time.sleep(0.05)\\n    return x')
      const main = py.import('__main__')
      for (let i = 0; i < 20; i++) main.slow_async(i)
      main.slow_async((x) => x)
      parentPort.postMessage('started')
    `)
    await once(worker, 'message')
    await new Promise((r) => setTimeout(r, 30))
    await worker.terminate()
    await worker.exited
  }
  await new Promise((r) => setTimeout(r, 1200)) // the queued jobs finish with nobody to tell
  assert.equal(py.eval('2 + 2'), 4)
})
