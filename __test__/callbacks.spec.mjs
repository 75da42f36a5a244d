import assert from 'node:assert/strict'
import { afterEach, test } from 'node:test'

import { Python, PythonError } from 'pyembed'
import { thrown } from './helpers.mjs'

const py = new Python()
py.exec(`
import threading
from concurrent.futures import ThreadPoolExecutor
from pyembed import JSError
def apply(f, *args, **kwargs):
    return f(*args, **kwargs)
def guarded(f):
    try:
        return ["ok", f()]
    except JSError as e:
        return ["caught", e.name, str(e), "stack" if "at " in e.stack else "no stack"]
def in_thread(f, x):
    out = []
    t = threading.Thread(target=lambda: out.append(f(x)))
    t.start()
    t.join()
    return out[0]
pool = ThreadPoolExecutor(max_workers=2)
def in_pool(f, xs):
    return list(pool.map(f, xs))
results = []
def start_thread(f, x):
    threading.Thread(target=lambda: results.append(f(x))).start()
`)
const main = py.import('__main__')
afterEach(() => globalThis.gc?.())

test('a JS function is a Python callable, run directly inside a sync call', () => {
  assert.equal(main.apply((a, b) => a + b, 2, 3), 5)
  assert.deepEqual(main.apply((x) => [x, typeof x], 'str'), ['str', 'string'])
  assert.equal(py.eval('callable')(() => 0), true)
  const box = py.eval('type("B", (), {"v": 7})()')
  assert.equal(main.apply((b) => b.v, box), 7) // Python objects arrive as proxies
})

test('a Promise returned to a sync call on the JS thread raises TypeError in Python', () => {
  py.exec('def catch_type_error(f):\n    try:\n        f()\n    except TypeError as e:\n        return ["TypeError", str(e)]\n    return "not raised"')
  const [type, message] = main.catch_type_error(() => Promise.resolve(1))
  assert.equal(type, 'TypeError')
  assert.match(message, /_async/) // says what to use instead
  assert.equal(main.catch_type_error(async () => 1)[0], 'TypeError')
  const err = thrown(() => main.apply(() => Promise.resolve(1)))
  assert.equal(err.code, 'ERR_PY_EXCEPTION')
  assert.equal(err.pythonType, 'TypeError')
})

test('keyword arguments arrive as one trailing object', () => {
  py.exec('def with_kw(f):\n    return f(1, sep="-", end="!")')
  assert.deepEqual(main.with_kw((...args) => args), [1, { sep: '-', end: '!' }])
})

test('a JS exception becomes pyembed.JSError, catchable in Python', () => {
  const caught = main.guarded(() => {
    throw new RangeError('out of range')
  })
  assert.deepEqual(caught, ['caught', 'RangeError', 'out of range', 'stack'])
  assert.deepEqual(main.guarded(() => { throw 'a string' }), ['caught', 'Error', 'a string', 'no stack'])
})

test('uncaught in Python, it comes back to JS as PythonError', () => {
  const err = (() => {
    try {
      main.apply(() => {
        throw new TypeError('boom')
      })
    } catch (e) {
      return e
    }
  })()
  assert.ok(err instanceof PythonError)
  assert.equal(err.pythonType, 'JSError')
  assert.equal(err.pythonMessage, 'boom')
})

test('re-entrancy: a callback calls into Python, several levels deep', () => {
  const depth = (n) => (n === 0 ? py.eval('"bottom"') : main.apply(depth, n - 1))
  assert.equal(main.apply(depth, 5), 'bottom')
  assert.equal(main.apply(() => main.apply(() => py.eval('6 * 7'))), 42)
})

test('a callback from a threading.Thread that the (async) call joins', () => {
  const seen = []
  const result = py.call_async(main, 'in_thread', [(x) => { seen.push(x); return x * 2 }, 21])
  return result.then((value) => {
    assert.equal(value, 42)
    assert.deepEqual(seen, [21])
  })
})

test('callbacks from the async Python thread and from a pool, with Promise results', async () => {
  assert.equal(await py.call_async(main, 'apply', [(x) => x * 10, 4]), 40)
  const later = async (x) => {
    await new Promise((r) => setTimeout(r, 10))
    return x + 1
  }
  assert.equal(await py.call_async(main, 'apply', [later, 1]), 2)
  assert.deepEqual(await py.call_async(main, 'in_pool', [later, [1, 2, 3]]), [2, 3, 4])
  const rejected = await py.call_async(main, 'guarded', [async () => { throw new Error('async no') }])
  assert.deepEqual(rejected.slice(0, 3), ['caught', 'Error', 'async no'])
})

test('no deadlock: a Python thread calls JS while the JS thread is busy in a sync call', async () => {
  py.exec('results.clear()')
  main.start_thread((x) => x + 100, 1)
  py.exec('import time\ntime.sleep(0.2)') // the thread's call waits for the JS thread meanwhile
  const deadline = Date.now() + 5000
  while (py.eval('len(results)') === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5))
  assert.deepEqual(py.eval('results'), [101])
})

test('py.expose makes a host module importable', () => {
  const logged = []
  py.expose('host_app', { log: (m) => logged.push(m), version: '1.2', limits: { max: 3 } })
  py.exec('import host_app\nhost_app.log("hello from Python")')
  assert.deepEqual(logged, ['hello from Python'])
  assert.equal(py.eval('host_app.version'), '1.2')
  assert.deepEqual(py.eval('host_app.limits'), { max: 3 })
  assert.equal(py.eval('__import__("host_app").log("again")'), 2)
  assert.throws(() => py.expose('bad', [1]), { code: 'ERR_PY_INVALID_ARG' })
})

test('a callback released by Python is released in JS too', async () => {
  let collected = false
  const registry = new FinalizationRegistry(() => {
    collected = true
  })
  ;(() => {
    const f = () => 1
    registry.register(f, 'f')
    main.apply(() => null, f) // Python holds f only during the call
  })()
  const deadline = Date.now() + 5000
  while (!collected && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10))
    globalThis.gc()
    py.eval('0') // releases collected proxies (the callable's, made for the inner call)
  }
  assert.equal(collected, true)
  assert.equal(main.apply(() => 'still fine'), 'still fine')
})

test("a callback whose worker_thread ended raises JSError instead of hanging", async () => {
  const { Worker } = await import('node:worker_threads')
  const { once } = await import('node:events')
  py.exec(`
import time
late = []
def call_later(f):
    def run():
        time.sleep(0.3)
        try:
            late.append(f(1))
        except JSError as e:
            late.append("JSError: " + str(e))
    threading.Thread(target=run).start()
`)
  const worker = new Worker(
    `const { Python } = require('pyembed'); new Python().import('__main__').call_later((x) => x + 1)`,
    { eval: true },
  )
  await once(worker, 'exit')
  const deadline = Date.now() + 5000
  while (py.eval('len(late)') === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
  assert.deepEqual(py.eval('late'), ['JSError: the JS environment of this callback has ended'])
})
