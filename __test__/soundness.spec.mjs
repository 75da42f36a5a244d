// Regressions of issue 8: plugin code must not abort, hang or corrupt the host. Cases that
// used to abort run in a child process, so a crash is one failed test.
import assert from 'node:assert/strict'
import { test } from 'node:test'

import { Python, callOptions, kwargs } from 'pyembed'

import { runNode, thrown } from './helpers.mjs'

const py = new Python()

/** Runs `body` (an async function body using `py`) in a fresh process; asserts a clean exit. */
function inChild(body, { env } = {}) {
  const r = runNode(
    `import { Python, kwargs } from 'pyembed'
     import assert from 'node:assert/strict'
     import v8 from 'node:v8'
     import vm from 'node:vm'
     v8.setFlagsFromString('--expose-gc')
     const gc = vm.runInNewContext('gc')
     const py = new Python()
     // A Python thread waiting for a JS callback does not keep Node alive: the tests do.
     const keepAlive = setInterval(() => {}, 1000)
     ${body}
     clearInterval(keepAlive)
     console.log('done')`,
    { env },
  )
  assert.equal(r.signal, null, `killed by ${r.signal}: ${r.stderr}`)
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stdout, /done\n$/)
  return r
}

test('the same object passed twice to a JS callback from a Python thread arrives as one proxy', () => {
  inChild(`
    py.exec(\`
import threading
class O:
    pass
def twice(cb):
    o = O()
    shared = [o]
    threading.Thread(target=lambda: cb(o, o, {'a': o, 'b': shared, 'c': shared}, key=o)).start()
\`)
    const [a, b, d, kw] = await new Promise((resolve) => py.eval('twice')((...args) => resolve(args)))
    assert.equal(a, b)
    assert.equal(d.a, a)
    assert.equal(d.b, d.c)
    assert.equal(d.b[0], a)
    assert.equal(kw.key, a)
    assert.equal(String(py.eval('type')(a)), "<class '__main__.O'>")
  `)
})

test('identity across arguments holds in _async calls, context calls and marshalled callbacks', async () => {
  py.exec('def same(a, b):\n    return a is b')
  const same = py.eval('same')
  const o = py.eval('object()')
  const list = [1, 2]
  assert.equal(await py.call_async(py.import('__main__'), 'same', [o, o]), true)
  assert.equal(await py.call_async(py.import('__main__'), 'same', [list], kwargs({ b: list })), true)
  assert.equal(await py.import('__main__').same_async(o, o), true)
  assert.equal(same(o, o), true)
  const c = new Python({ context: true })
  try {
    c.exec('def same(a, b):\n    return a is b')
    const inContext = c.eval('same')
    const item = c.eval('object()')
    assert.equal(inContext(list, list), true)
    assert.equal(inContext(item, item), true)
    assert.equal(inContext(item, kwargs({ b: item })), true)
    assert.equal(await c.call_async(c.import('__main__'), 'same', [item, item]), true)
    assert.equal(await c.import('__main__').same_async(list, kwargs({ b: list })), true)
  } finally {
    await c.close()
  }
})

test("a context's objects reached through a callback stay in the context", () => {
  inChild(`
    const c = new Python({ context: true })
    c.exec(\`
class Child:
    value = 7
class Item:
    def __init__(self):
        self.child = Child()
    def hello(self):
        return 'hi'
\`)
    let kept
    c.eval('lambda cb: cb(Item())')((item) => {
      assert.equal(item.hello(), 'hi')
      kept = item.child
      assert.equal(kept.value, 7)
    })
    assert.equal(kept.value, 7)
    assert.equal(c.eval('lambda o: type(o).__name__')(kept), 'Child')
    assert.equal(thrown(() => py.eval('lambda o: o')(kept)).code, 'ERR_PY_CONTEXT_MISMATCH')
    assert.equal(await c.close(), true)
    assert.equal(thrown(() => kept.value).code, 'ERR_PY_CONTEXT_CLOSED')
    kept = undefined
    for (let i = 0; i < 5; i++) { gc(); await new Promise((r) => setImmediate(r)) }
    py.eval('None')
    function thrown(f) { try { f() } catch (e) { return e } throw new Error('no throw') }
  `)
})

test('a proxy released by JS while a callback reply carrying it is on its way stays valid', () => {
  inChild(`
    py.exec(\`
import threading
class Box:
    def __init__(self, n):
        self.n = n
results = []
def ask(cb, count):
    def run():
        for i in range(count):
            results.append(cb(i).n)
    t = threading.Thread(target=run)
    t.start()
    return t
\`)
    const count = 300
    const t = py.eval('ask')((i) => {
      const box = py.eval('Box')(i)
      // Resolves with the box; the release runs right after pyembed took the reply, before
      // the Python thread used it.
      const reply = Promise.resolve(box)
      reply.then(() => queueMicrotask(() => assert.equal(py.gc(box), true)))
      return reply
    }, count)
    while (t.is_alive()) await new Promise((r) => setTimeout(r, 5))
    assert.deepEqual(py.eval('results'), Array.from({ length: count }, (_, i) => i))
  `)
})

test('a Python loop calling JS many times in one sync call keeps memory bounded', () => {
  const r = inChild(`
    py.exec('def loop(f, n):\\n    for i in range(n):\\n        f({"i": i, "s": "x" * 64}, [i, i])')
    const loop = py.eval('loop')
    let seen = 0
    loop(() => { seen++ }, 20000) // warm-up
    gc()
    const before = process.memoryUsage().rss
    loop((o, l) => { seen += o.i === l[0] ? 1 : 0 }, 400000)
    gc()
    const grown = (process.memoryUsage().rss - before) / 2 ** 20
    assert.equal(seen, 420000)
    console.log('grown', grown.toFixed(1))
    assert.ok(grown < 40, 'RSS grew by ' + grown.toFixed(1) + ' MiB')
  `)
  assert.match(r.stdout, /grown/)
})

test('py.call with callOptions is refused, not passed as keyword arguments', () => {
  const err = thrown(() => py.call(py.import('os'), 'getcwd', [], callOptions({ timeoutMs: 10 })))
  assert.equal(err.code, 'ERR_PY_INVALID_ARG')
})

test('Node exits promptly when a plugin left a module-level ProcessPoolExecutor', () => {
  const started = Date.now()
  const r = inChild(`
    py.add_syspath('__test__/fixtures')
    assert.deepEqual(py.import('lingering_pool').warm(), [1, 4, 9])
  `)
  assert.equal(r.stderr, '')
  assert.ok(Date.now() - started < 20000, `took ${Date.now() - started} ms`)
})

test('process exit runs the exit hooks of the main interpreter and of open contexts, bounded', () => {
  const started = Date.now()
  const r = runNode(`import { Python } from 'pyembed'
    Python.configure({ exitTimeoutMs: 1500 })
    const py = new Python()
    py.exec('import atexit; atexit.register(lambda: print("main atexit", flush=True))')
    const c = new Python({ context: true, stdout: (t) => process.stdout.write('ctx: ' + t) })
    c.exec('import atexit; atexit.register(lambda: print("context atexit", flush=True))')
    const hang = new Python({ context: 'shared-gil' })
    hang.exec('import atexit, time; atexit.register(lambda: time.sleep(60))')
    console.log('done')`)
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stdout, /^done\n/)
  assert.match(r.stdout, /main atexit/)
  assert.match(r.stdout, /ctx: context atexit/)
  assert.ok(Date.now() - started < 15000, `took ${Date.now() - started} ms`)
})

test('a context with an idle ThreadPoolExecutor closes cleanly', async () => {
  const c = new Python({ context: true })
  c.exec(`
from concurrent.futures import ThreadPoolExecutor
pool = ThreadPoolExecutor(max_workers=3)
assert list(pool.map(abs, [-1, -2, -3])) == [1, 2, 3]
`)
  assert.equal(await c.close({ timeoutMs: 3000 }), true)
})

test('close({ timeoutMs }) resolves false in time when a call never returns, and Node still exits', () => {
  const started = Date.now()
  const r = inChild(`
    const c = new Python({ context: 'shared-gil' })
    const stuck = c.eval_async('__import__("time").sleep(3600)')
    stuck.catch(() => {})
    await new Promise((r) => setTimeout(r, 100))
    const t0 = Date.now()
    const warned = new Promise((resolve) => process.once('warning', resolve))
    assert.equal(await c.close({ timeoutMs: 300 }), false)
    assert.ok(Date.now() - t0 < 3000, 'close took ' + (Date.now() - t0) + ' ms')
    assert.equal((await warned).code, 'PYEMBED_CONTEXT_LEFT_ALIVE')
    clearInterval(keepAlive)
    console.log('done')
    process.exit(0) // the stuck call itself keeps Node alive (a pending call does)
  `)
  assert.ok(Date.now() - started < 30000)
})

test('signal.signal is refused in every pyembed thread, and allowed in a forked child', async () => {
  const install = 'import signal; signal.signal(signal.SIGUSR2, lambda *a: None)'
  const sync = thrown(() => py.exec(install))
  assert.equal(sync.pythonType, 'ValueError')
  const asynchronous = await py.exec_async(install).catch((e) => e)
  assert.equal(asynchronous.pythonType, 'ValueError')
  assert.match(asynchronous.message, /refused inside pyembed/)
  py.exec(`
import os, signal, threading
def signal_in_thread():
    seen = []
    def run():
        try:
            signal.signal(signal.SIGUSR2, lambda *a: None)
            seen.append('installed')
        except ValueError as e:
            seen.append(str(e))
    t = threading.Thread(target=run)
    t.start()
    t.join()
    return seen
def forked_signal():
    pid = os.fork()
    if pid == 0:
        try:
            signal.signal(signal.SIGUSR2, lambda *a: None)
            os._exit(0)
        except BaseException:
            os._exit(7)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
`)
  assert.equal(py.eval('forked_signal()'), 0)
  assert.deepEqual(py.eval('signal_in_thread()'), [asynchronous.pythonMessage])
  const c = new Python({ context: true })
  try {
    assert.equal(thrown(() => c.exec(install)).pythonType, 'ValueError')
  } finally {
    await c.close()
  }
})

test('os._exit raises RuntimeError in the main interpreter, and still exits a forked child', async () => {
  const e = thrown(() => py.exec('import os; os._exit(3)'))
  assert.equal(e.pythonType, 'RuntimeError')
  assert.match(e.message, /os\._exit\(\) would end the whole host process/)
  const inAsync = await py.exec_async('import posix; posix._exit(3)').catch((err) => err)
  assert.equal(inAsync.pythonType, 'RuntimeError')
  py.exec(`
import os
def forked_exit():
    pid = os.fork()
    if pid == 0:
        os._exit(5)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
`)
  assert.equal(py.eval('forked_exit()'), 5)
  assert.equal(py.eval('6 * 7'), 42)
})

test('Python.configure({ allowOsExit: true }) lets os._exit end the process', () => {
  const r = runNode(`import { Python } from 'pyembed'
    Python.configure({ allowOsExit: true })
    new Python().exec('import os; os._exit(9)')
    console.log('not reached')`)
  assert.equal(r.status, 9)
  assert.doesNotMatch(r.stdout, /not reached/)
})

test('two copies of the JS layer in one environment share calls, markers and errors', () => {
  inChild(`
    import { createRequire } from 'node:module'
    const require = createRequire(import.meta.url)
    const entry = require.resolve('pyembed')
    for (const key of Object.keys(require.cache)) if (key.includes('/dist/')) delete require.cache[key]
    const second = require(entry)
    assert.notEqual(second.Python, Python)
    const py2 = new second.Python()
    const results = await Promise.all([
      py.eval_async('1 + 1'), py2.eval_async('2 + 2'), py.eval_async('3 + 3'), py2.eval_async('4 + 4'),
    ])
    assert.deepEqual(results, [2, 4, 6, 8])
    const join = py2.eval('lambda *a, sep=",": sep.join(a)')
    assert.equal(join('a', 'b', kwargs({ sep: '-' })), 'a-b')
    const err = await py2.eval_async('1 / 0').catch((e) => e)
    assert.equal(err.pythonType, 'ZeroDivisionError')
    const { PythonError } = await import('pyembed')
    assert.ok(err instanceof PythonError)
  `)
})

test('Symbol.asyncDispose resolves like close(): true once ended', async () => {
  const c = new Python({ context: true })
  assert.equal(await c[Symbol.asyncDispose](), true)
  assert.equal(thrown(() => c.eval('1')).code, 'ERR_PY_CONTEXT_CLOSED')
})

test('aborting a call while a job nested on its context thread runs interrupts that call, not the nested one', async () => {
  const c = new Python({ context: true })
  try {
    c.exec(`
import time
log = []
def nested():
    end = time.monotonic() + 0.6
    while time.monotonic() < end:
        pass
    log.append('nested done')
    return 'nested'
def outer(cb):
    try:
        cb()
        log.append('outer went on')
    except BaseException as e:
        log.append(type(e).__name__)
        raise
`)
    const controller = new AbortController()
    let nested
    const outer = c.import('__main__').outer_async(() => {
      nested = c.eval_async('nested()')
      return nested
    }, callOptions({ signal: controller.signal }))
    await new Promise((r) => setTimeout(r, 200))
    controller.abort()
    assert.equal((await outer.catch((e) => e)).code, 'ERR_PY_ABORTED')
    assert.equal(await nested, 'nested')
    for (let i = 0; i < 100 && c.eval('len(log)') < 2; i++) await new Promise((r) => setTimeout(r, 20))
    assert.deepEqual(c.eval('log'), ['nested done', 'Cancelled'])
  } finally {
    await c.close()
  }
})

test('a kept id of a released proxy never names a later object, however often its slot is reused', () => {
  inChild(`
    const make = py.eval('object')
    const old = make()
    py.gc(old)
    // Every new proxy reuses the one free slot: 2^21 generations, more than an id can tell apart.
    for (let i = 0; i < 2 ** 21 + 8; i++) py.gc(make())
    const fresh = make()
    let err
    try { String(old) } catch (e) { err = e }
    assert.equal(err?.code, 'ERR_PY_RELEASED')
    assert.match(String(fresh), /^<object object at/)
  `)
})

test('Python threads calling the JS functions of a worker being terminated get pyembed.JSError', () => {
  const r = runNode(`
    import { Worker } from 'node:worker_threads'
    import { setTimeout as sleep } from 'node:timers/promises'
    for (let round = 0; round < 8; round++) {
      const w = new Worker('./__test__/fixtures/polling_worker.cjs')
      await new Promise((r) => w.once('message', r))
      await sleep(round * 5)
      await w.terminate()
      await sleep(200)
    }
    console.log('done')
  `)
  assert.equal(r.status, 0, r.stderr)
  const caught = r.stderr.split('\n').filter((l) => l.startsWith('CAUGHT'))
  assert.ok(caught.length > 0, r.stderr)
  for (const line of caught) assert.match(line, /^CAUGHT pyembed\.JSError: the JS environment of this callback has ended$/)
})

test('a sync call into a context does not wait behind an async call that waits for the JS thread', () => {
  for (const context of [true, 'shared-gil']) {
    const r = runNode(`import { Python } from 'pyembed'
      const c = new Python({ context: ${JSON.stringify(context)} })
      c.exec(\`
import threading
def in_thread(f):
    out = []
    t = threading.Thread(target=lambda: out.append(f(1)))
    t.start()
    t.join()
    return out[0]
\`)
      // The async call's Python thread gets a Promise from JS, which can settle only once the
      // JS thread is free; the sync call must not queue behind it.
      const pending = c.import('__main__').in_thread_async(async (x) => x + 1)
      console.log('sync', c.eval('1 + 1'))
      console.log('async', await pending)
      console.log('closed', await c.close())`, { timeout: 20000 })
    assert.equal(r.signal, null, `${context}: killed by ${r.signal} (a hang): ${r.stdout}`)
    assert.equal(r.stdout, 'sync 2\nasync 2\nclosed true\n', r.stderr)
  }
})

test('an abort that reaches a call just before a job nests above it still lands in that call only', async () => {
  const c = new Python({ context: true })
  try {
    c.exec(`
log = []
def work(tag):
    total = 0
    for i in range(200000):
        total += i
    log.append(tag)
    return tag
def outer(cb):
    try:
        cb()
        log.append('outer went on')
    except BaseException as e:
        log.append('outer ' + type(e).__name__)
        raise
`)
    const m = c.import('__main__')
    const busy = (ms) => { const end = Date.now() + ms; while (Date.now() < end); }
    for (const nested of ['async', 'sync']) {
      c.exec('log.clear()')
      const controller = new AbortController()
      let inner
      const outer = m.outer_async(() => {
        controller.abort() // interrupts `outer`, which waits for this callback
        busy(100)
        if (nested === 'sync') {
          inner = m.work('inner')
          return 'done'
        }
        inner = m.work_async('inner')
        return inner
      }, callOptions({ signal: controller.signal }))
      assert.equal((await outer.catch((e) => e)).code, 'ERR_PY_ABORTED')
      assert.equal(await inner, 'inner', nested)
      for (let i = 0; i < 100 && c.eval('len(log)') < 2; i++) await new Promise((r) => setTimeout(r, 20))
      assert.deepEqual(c.eval('log'), ['inner', 'outer Cancelled'], nested)
    }
  } finally {
    await c.close()
  }
})

test('timeouts out of range are refused up front, and nothing is left waiting', async () => {
  const c = new Python({ context: true })
  await assert.rejects(c.close({ timeoutMs: Infinity }), { code: 'ERR_PY_INVALID_ARG' })
  await assert.rejects(c.close({ timeoutMs: 2 ** 31 }), { code: 'ERR_PY_INVALID_ARG' })
  assert.equal(thrown(() => callOptions({ timeoutMs: 3e9 })).code, 'ERR_PY_INVALID_ARG')
  assert.equal(c.eval('1 + 1'), 2) // still open
  assert.equal(await c.close({ timeoutMs: 2 ** 31 - 1 }), true)
})

test('closing many contexts leaves no thread behind', async () => {
  const threads = () => Number(py.eval('len(__import__("os").listdir("/proc/self/task"))'))
  const before = threads()
  for (let i = 0; i < 20; i++) {
    const c = new Python({ context: 'shared-gil' })
    assert.equal(c.eval('2'), 2)
    assert.equal(await c.close({ timeoutMs: 60000 }), true)
  }
  await new Promise((r) => setTimeout(r, 200))
  assert.ok(threads() <= before + 2, `${before} threads before, ${threads()} after`)
})

test('a container freed while the result converts is not confused with a new one at its address', () => {
  py.exec(`
import datetime
OUT = []
class Sneaky(datetime.datetime):
    def timestamp(self):
        OUT.pop(0)  # frees the list converted just before (OUT held its only reference)
        OUT.append(['fresh', 2, 3])  # likely at the freed address
        return 0.0
def make():
    OUT[:] = [['old', 1], Sneaky(2020, 1, 1), None]
    return OUT
`)
  for (let i = 0; i < 20; i++) {
    const [first, , last] = py.eval('make()')
    assert.deepEqual(first, ['old', 1])
    assert.deepEqual(last, ['fresh', 2, 3])
  }
})

test('no Python code runs while the process exits after the exit hooks', () => {
  const r = runNode(`import { Python } from 'pyembed'
    const py = new Python()
    py.exec('import sys\\nclass D:\\n    def __del__(self):\\n        sys.stdout.write("del\\\\n")')
    globalThis.kept = Array.from({ length: 500 }, () => py.eval('D()'))
    console.log('done')`)
  assert.equal(r.status, 0, r.stderr)
  assert.equal(r.stdout, 'done\n')
})

test('instanceof PythonError holds across copies, and subclasses keep their own check', async () => {
  const { PythonError } = await import('pyembed')
  class Mine extends PythonError {}
  const err = thrown(() => py.eval('1/0'))
  assert.ok(err instanceof PythonError)
  assert.equal(err instanceof Mine, false)
  assert.ok(new Mine('T', 'm', '') instanceof Mine)
})

test('a dict changed by Python code while it converts comes back as it was when conversion began', () => {
  inChild(`
    py.exec(\`
import datetime
class Mutator(datetime.datetime):
    def timestamp(self):
        D.clear()
        D.update({i: i for i in range(50)})  # new size, and keys that are not str
        return 0.0
def make_dict():
    global D
    D = {'a': 1, 'when': Mutator(2020, 1, 1), 'z': 'last'}
    return D
\`)
    const d = py.eval('make_dict()')
    assert.deepEqual(Object.keys(d), ['a', 'when', 'z'])
    assert.equal(d.a, 1)
    assert.ok(d.when instanceof Date)
    assert.equal(d.z, 'last')
    assert.equal(py.eval('len(D)'), 50)
  `)
})

test('a patched Map.prototype.get cannot make conversion read out of bounds', () => {
  inChild(`
    const realGet = Map.prototype.get
    Map.prototype.get = function (key) { return 123456 } // every lookup "finds" a bogus index
    try {
      const shared = { s: 1 }
      const many = Array.from({ length: 40 }, (_, i) => ({ i, shared }))
      const lens = py.eval('lambda xs: [len(xs), xs[0]["shared"] is xs[39]["shared"]]')(many)
      assert.equal(lens[0], 40)
    } finally {
      Map.prototype.get = realGet
    }
  `)
})
