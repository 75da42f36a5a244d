import assert from 'node:assert/strict'
import { afterEach, test } from 'node:test'

import { Python, PythonError } from 'pyembed'

const py = new Python()
py.exec(`
import asyncio, threading
from pyembed import JSError
async def nap(x, seconds=0.1):
    await asyncio.sleep(seconds)
    return x * 2
async def loop_thread():
    return threading.current_thread().name
async def fail():
    await asyncio.sleep(0)
    raise ValueError("in a coroutine")
async def plus(promise, n):
    return (await promise) + n
async def guarded(promise):
    try:
        return await promise
    except JSError as e:
        return ["caught", e.name, str(e)]
def wait_in_thread(promise):
    return promise.result(timeout=5)
`)
const main = py.import('__main__')
const later = (value, ms) => new Promise((resolve) => setTimeout(() => resolve(value), ms))
afterEach(() => globalThis.gc?.())

test('a coroutine result is awaited on the interpreter asyncio loop thread', async () => {
  assert.equal(await main.nap_async(21), 42)
  assert.equal(await main.loop_thread_async(), 'pyembed-asyncio')
  assert.equal(await py.eval_async('nap(5, 0)'), 10)
  const err = await main.fail_async().catch((e) => e)
  assert.ok(err instanceof PythonError)
  assert.equal(err.pythonType, 'ValueError')
})

test('100 coroutines sleeping 0.1 s finish together', async () => {
  const start = performance.now()
  const results = await Promise.all(Array.from({ length: 100 }, (_, i) => main.nap_async(i)))
  const elapsed = performance.now() - start
  assert.deepEqual(results, Array.from({ length: 100 }, (_, i) => i * 2))
  assert.ok(elapsed < 2000, `took ${elapsed.toFixed(0)} ms`) // sequentially it would take 10 s
})

test('a JS Promise passed to Python is awaitable in a coroutine', async () => {
  assert.equal(await main.plus_async(later(40, 20), 2), 42)
  assert.equal(await main.plus_async(Promise.resolve(1), 1), 2)
  assert.deepEqual(await main.guarded_async(Promise.reject(new TypeError('nope'))), ['caught', 'TypeError', 'nope'])
  assert.deepEqual(await main.plus_async(later([1], 5), [2]), [1, 2])
})

test('a JS Promise can be waited for from a Python thread with result()', async () => {
  assert.equal(await main.wait_in_thread_async(later('done', 20)), 'done')
  const promise = py.eval('lambda p: p')(Promise.resolve(1))
  assert.match(String(promise), /^<pyembed\.JSPromise object/)
})
