// The stress test's operations: one function per kind, each asserting its result exactly.
//
// A target is one interpreter reached through one `Python` instance: the main interpreter
// (`new Python()`), an isolated context or a shared-GIL context. `concurrent` operations run many
// at once against any target; `barrier` operations run alone, because they invalidate the
// target's proxies (clear, restart, close) or are slow (worker threads).
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { Worker } from 'node:worker_threads'

import { Python, callOptions } from 'pyembed'

import { container, value } from './random.mjs'

/** Python helpers every target defines in its `__main__`. */
const helpers = `
import concurrent.futures, threading, time

def stress_same(a, b):
    return a is b

def stress_is_cyclic(xs):
    return xs[-1] is xs

def stress_echo(x):
    return x

def stress_apply(f, *args):
    return f(*args)

def stress_in_threads(f, n):
    out = [None] * n
    def run(i):
        try:
            out[i] = f(i)
        except BaseException as e:  # into the result, where the assertion shows it
            out[i] = f'{type(e).__module__}.{type(e).__name__}: {e}'
    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out

def stress_in_executor(f, n):
    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        return list(pool.map(f, range(n)))

def stress_spin(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass
    return 'finished'

class StressBox:
    def __init__(self, v):
        self.v = v
    def get(self):
        return self.v
`

const contextKinds = { main: null, isolated: true, 'shared-gil': 'shared-gil' }

/** One interpreter and the proxies the run keeps alive in it. */
export class Target {
  constructor(kind) {
    this.kind = kind
    this.kept = []
    this.open()
  }

  open() {
    this.py = this.kind === 'main' ? new Python() : new Python({ context: contextKinds[this.kind] })
    this.setUp()
  }

  setUp() {
    this.py.exec(helpers)
    this.mod = this.py.import('__main__')
    this.kept = []
  }

  keep(proxy) {
    this.kept.push(proxy)
    if (this.kept.length > 200) this.kept.splice(0, 100) // dropped: left to the garbage collector
  }
}

const expectCode = (code) => (err) => {
  assert.equal(err?.code, code, `expected ${code}, got ${err?.stack ?? err}`)
  return true
}

// ---- concurrent operations

/** The same JS object passed twice arrives as the same Python object (sync). */
function sameSync({ random }, t) {
  const o = container(random)
  assert.equal(t.mod.stress_same(o, o), true, `sync: a is b for ${o.constructor.name} passed twice`)
  const box = t.mod.StressBox(1)
  assert.equal(t.mod.stress_same(box, box), true, 'sync: a is b for a proxy passed twice')
}

/** The same JS object passed twice arrives as the same Python object (_async). */
async function sameAsync({ random }, t) {
  const o = container(random)
  assert.equal(await t.mod.stress_same_async(o, o), true, `_async: a is b for ${o.constructor.name} passed twice`)
}

/** A list containing itself goes in and comes back cyclic; shared members stay shared. */
async function cyclic({ random }, t) {
  const xs = [random.int(0, 9), 'x']
  xs.push(xs)
  const shared = { s: 1 }
  const viaAsync = random.chance(0.5)
  const label = viaAsync ? '_async' : 'sync'
  const call = (name, ...args) => (viaAsync ? t.mod[`${name}_async`](...args) : t.mod[name](...args))
  assert.equal(await call('stress_is_cyclic', xs), true, `${label}: xs[-1] is xs`)
  const back = await call('stress_echo', xs)
  assert.equal(back[2], back, `${label}: the echoed list contains itself`)
  assert.deepEqual(back.slice(0, 2), xs.slice(0, 2))
  const pair = await call('stress_echo', [shared, shared])
  assert.equal(pair[0], pair[1], `${label}: a shared member comes back shared`)
}

/** Random nested values round-trip unchanged, sync or _async. */
async function echo({ random }, t) {
  const v = value(random)
  const back = random.chance(0.5) ? t.mod.stress_echo(v) : await t.mod.stress_echo_async(v)
  assert.deepStrictEqual(back, v)
}

/** Proxies: create, read, call methods on them, keep some for later operations. */
async function proxies({ random }, t) {
  const n = random.int(1, 20)
  for (let i = 0; i < n; i++) {
    const box = t.mod.StressBox(i)
    assert.equal(box.v, i)
    assert.equal(random.chance(0.5) ? box.get() : await box.get_async(), i)
    if (random.chance(0.3)) t.keep(box)
  }
  const old = t.kept.length ? random.pick(t.kept) : null
  if (old) assert.equal(await t.mod.stress_same_async(old, old), true, '_async: a is b for a kept proxy passed twice')
}

/** py.gc(p) releases now, once; the proxy is dead afterwards. */
function gcProxy(_, t) {
  const box = t.mod.StressBox('gc')
  assert.equal(t.py.gc(box), true)
  assert.equal(t.py.gc(box), false)
  assert.throws(() => box.get(), expectCode('ERR_PY_RELEASED'))
}

/** py.gc(p) while an _async call on p is in flight releases behind the call. */
async function gcInFlight({ random }, t) {
  const v = random.int(0, 1e6)
  const box = t.mod.StressBox(v)
  const pending = box.get_async()
  assert.equal(t.py.gc(box), true)
  assert.equal(await pending, v)
}

/** Many proxies dropped at once and collected by the JS garbage collector. */
function dropProxies({ random }, t) {
  const objects = t.py.eval(`[object() for _ in range(${random.int(1, 500)})]`)
  assert.ok(objects.length >= 1)
  if (random.chance(0.5)) globalThis.gc()
}

/** JS callbacks called from threading.Thread threads (the call must be _async). */
async function threadCallbacks({ random }, t) {
  const n = random.int(1, 8)
  const viaPromise = random.chance(0.3)
  const f = viaPromise ? async (i) => (await sleep(random.int(0, 2)), i * 3) : (i) => i * 3
  const out = await t.mod.stress_in_threads_async(f, n)
  assert.deepStrictEqual(out, Array.from({ length: n }, (_, i) => i * 3))
}

/** JS callbacks called from a ThreadPoolExecutor. */
async function executorCallbacks({ random }, t) {
  const n = random.int(1, 12)
  const out = await t.mod.stress_in_executor_async((i) => `${i}!`, n)
  assert.deepStrictEqual(out, Array.from({ length: n }, (_, i) => `${i}!`))
}

/** A callback on the JS thread (inside a sync call) that calls into Python again. */
function nestedCallback({ random }, t) {
  const [a, b] = [random.int(0, 100), random.int(0, 100)]
  assert.equal(t.mod.stress_apply((x, y) => t.mod.stress_echo(x + y), a, b), a + b)
}

/** A scratch main-interpreter instance: its objects die with py.clear() or close(). */
async function scratchInstance({ random }) {
  const py = new Python()
  const boxes = Array.from({ length: random.int(1, 10) }, (_, i) => py.eval(`StressBox(${i})`))
  const pending = boxes.map((b) => b.get_async())
  if (random.chance(0.5)) {
    // Objects passed to queued calls stay alive until the calls ran.
    assert.equal(py.clear(), boxes.length)
    assert.deepStrictEqual(await Promise.all(pending), boxes.map((_, i) => i))
  } else {
    // Closing: a call that already ran resolves, a queued one rejects with ERR_PY_CONTEXT_CLOSED.
    assert.equal(await py.close(), true)
    assert.throws(() => py.eval('1'), expectCode('ERR_PY_CONTEXT_CLOSED'))
    const settled = await Promise.allSettled(pending)
    for (const [i, s] of settled.entries()) {
      if (s.status === 'fulfilled') assert.equal(s.value, i)
      else expectCode('ERR_PY_CONTEXT_CLOSED')(s.reason)
    }
  }
  assert.throws(() => boxes[0].get(), expectCode('ERR_PY_RELEASED'))
}

// ---- barrier operations

/**
 * callOptions({ timeoutMs }) and an AbortSignal interrupt a running call; calls queued behind it
 * still run, and the target stays usable. A barrier: a sync call into a context made meanwhile
 * would wait for the whole spin (the JS thread is blocked, so no timer fires).
 */
async function cancel({ random }, t) {
  const queued = Array.from({ length: random.int(0, 5) }, (_, i) => t.mod.stress_echo_async(i))
  if (random.chance(0.5)) {
    const err = await t.mod.stress_spin_async(5, callOptions({ timeoutMs: random.int(1, 50) })).catch((e) => e)
    expectCode('ERR_PY_TIMEOUT')(err)
  } else {
    const controller = new AbortController()
    const running = t.mod.stress_spin_async(5, callOptions({ signal: controller.signal }))
    setTimeout(() => controller.abort(), random.int(0, 30))
    expectCode('ERR_PY_ABORTED')(await running.catch((e) => e))
  }
  const started = Date.now()
  assert.equal(await t.mod.stress_echo_async('after'), 'after')
  assert.ok(Date.now() - started < 2500, `the call after a cancelled spin waited ${Date.now() - started} ms (not interrupted?)`)
  assert.deepStrictEqual(await Promise.all(queued), queued.map((_, i) => i))
}


/** py.clear() releases every object of the instance. */
function clear(_, t) {
  const old = t.kept.length ? t.kept[0] : t.mod
  const released = t.py.clear()
  assert.ok(released >= 1, `clear() released ${released}`)
  assert.throws(() => old.v, expectCode('ERR_PY_RELEASED'))
  t.setUp()
}

/** restart() gives the context a fresh interpreter; old proxies say it is closed. */
async function restart(_, t) {
  const old = t.mod
  await t.py.restart()
  assert.throws(() => old.stress_echo(1), expectCode('ERR_PY_CONTEXT_CLOSED'))
  assert.throws(() => t.py.eval('stress_echo'), (e) => e.pythonType === 'NameError')
  t.setUp()
}

/** close() ends the context (true: no Python thread left); a new context takes its place. */
async function close(_, t) {
  const old = t.mod
  assert.equal(await t.py.close(), true)
  assert.throws(() => t.py.eval('1'), expectCode('ERR_PY_CONTEXT_CLOSED'))
  assert.throws(() => old.stress_echo(1), expectCode('ERR_PY_CONTEXT_CLOSED'))
  t.open()
}

const workerSources = {
  // A sync call of ~0.5 s (time.sleep cannot be interrupted: terminate waits for the call).
  sync: `py.exec('import time\\nfor _ in range(50):\\n    time.sleep(0.01)')`,
  // _async calls with callbacks from Python threads in flight.
  async: `py.exec(${JSON.stringify(helpers)})
    const mod = py.import('__main__')
    for (let i = 0; i < 20; i++) mod.stress_in_threads_async((x) => x, 4).catch(() => {})
    mod.stress_spin_async(0.5).catch(() => {})
    py.exec('import time\\ntime.sleep(0.5)')`,
}

/** A worker_thread terminated while it is inside a Python call (main interpreter or a context). */
async function workerTerminate({ random, main }) {
  const context = random.pick([null, null, 'true', "'shared-gil'"])
  const source = random.pick(Object.keys(workerSources))
  const worker = new Worker(
    `const { parentPort } = require('node:worker_threads')
    const { Python } = require('pyembed')
    const py = new Python(${context ? `{ context: ${context} }` : ''})
    parentPort.postMessage('calling')
    ${workerSources[source]}
    parentPort.postMessage('returned')`,
    { eval: true },
  )
  const exited = new Promise((resolve) => worker.once('exit', resolve))
  const first = await new Promise((resolve, reject) => {
    worker.once('message', resolve)
    worker.once('error', reject)
  })
  assert.equal(first, 'calling')
  await sleep(random.int(0, 100))
  const code = await worker.terminate()
  assert.equal(code, 1, `worker (${source}, context: ${context}) terminate() code`)
  assert.equal(await exited, 1)
  assert.equal(main.mod.stress_echo('alive'), 'alive')
}

export const concurrentOps = [
  { name: 'sameSync', weight: 3, run: sameSync },
  { name: 'sameAsync', weight: 3, run: sameAsync },
  { name: 'cyclic', weight: 2, run: cyclic },
  { name: 'echo', weight: 4, run: echo },
  { name: 'proxies', weight: 3, run: proxies },
  { name: 'gcProxy', weight: 2, run: gcProxy },
  { name: 'gcInFlight', weight: 2, run: gcInFlight },
  { name: 'dropProxies', weight: 2, run: dropProxies },
  { name: 'threadCallbacks', weight: 2, run: threadCallbacks },
  { name: 'executorCallbacks', weight: 2, run: executorCallbacks },
  { name: 'nestedCallback', weight: 2, run: nestedCallback },
  { name: 'scratchInstance', weight: 1, run: scratchInstance, mainOnly: true },
]

export const barrierOps = [
  { name: 'clear', weight: 2, run: clear },
  { name: 'cancel', weight: 3, run: cancel },
  { name: 'restart', weight: 1, run: restart, contextOnly: true },
  { name: 'close', weight: 1, run: close, contextOnly: true },
  { name: 'workerTerminate', weight: 1, run: workerTerminate, mainOnly: true },
]
