// A JS environment that ends while pyembed is busy in it (an Electron renderer reload, a
// worker_thread) must leave the process and the other environments unharmed, and leave nothing
// behind. worker_threads stand in for such environments: each one loads the addon, makes
// proxies, leaves calls and callbacks in flight and a context open, then ends. Each case runs in
// a child process (Python starts once per process, and a crash is one failed test).
import assert from 'node:assert/strict'
import { test } from 'node:test'

import { runNode } from './helpers.mjs'

/** Runs `source` in a child with `gc()` exposed; returns its last stdout line as JSON. */
function runChild(source, timeout = 90_000) {
  const child = runNode(source, { env: { NODE_OPTIONS: '--expose-gc' }, timeout })
  const context = `status ${child.status}, signal ${child.signal}\n--- stderr\n${child.stderr}\n--- stdout\n${child.stdout}`
  assert.equal(child.error, undefined, context)
  assert.equal(child.signal, null, context)
  assert.equal(child.status, 0, context)
  assert.doesNotMatch(child.stderr, /Fatal|Abort|Segmentation|panicked/, context)
  const lines = child.stdout.trim().split('\n')
  return { report: JSON.parse(lines.at(-1)), log: lines.slice(0, -1), stderr: child.stderr }
}

// Shared by the children: a worker from source (CommonJS; the child itself is an ES module, whose
// `--input-type` a worker would inherit), with `exited` listened from the start.
const spawnWorker = `
import { Worker } from 'node:worker_threads'
import { once } from 'node:events'
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
function spawn(source, workerData) {
  const worker = new Worker(source, { eval: true, execArgv: [], workerData })
  worker.exited = once(worker, 'exit').then(([code]) => code)
  return worker
}
`

// Python helpers in the main interpreter (its __main__ is shared with the workers).
const helpers = `
import gc, os, sys, threading, time, weakref
try:
    import _xxsubinterpreters as _interpreters
except ImportError:
    import _interpreters
class Box:
    def __init__(self, v):
        self.v = v
        boxes.add(self)
    def twice(self):
        return self.v * 2
boxes = weakref.WeakSet()
def call_js(f, x):
    return f(x)
async def await_js(p):
    return await p
def call_from_thread(f, n):
    def run():
        for k in range(n):
            try:
                f(k)
            except Exception:
                return
            time.sleep(0.01)
    threading.Thread(target=run, name='env-caller', daemon=True).start()
def steady():
    gc.collect()
    return {'objects': len(gc.get_objects()), 'pythonThreads': threading.active_count(),
            'interpreters': len(_interpreters.list_all()), 'osThreads': len(os.listdir('/proc/self/task')),
            'blocks': sys.getallocatedblocks(), 'boxes': len(boxes)}
`

// One environment: proxies (modules, an object held in a variable), values computed by the main
// interpreter, a context, an async call and a JS callback; then, still in flight when it ends: a
// Python call of a JS function whose Promise resolves later, an eval_async that sleeps, a Python
// thread calling JS, and the context (open, with an async call of its own).
const environment = `
const { parentPort, workerData: { i, mode } } = require('node:worker_threads')
const { Python } = require('pyembed')
const py = new Python()
const main = py.import('__main__')
const json = py.import('json')
const box = main.Box(i)
const ctx = new Python({ context: true })
ctx.exec('import time\\nclass C:\\n    def __init__(self, v):\\n        self.v = v')
const cobj = ctx.eval('C')(i * 3)
;(async () => {
  const report = {
    i,
    twice: box.twice(),
    dumped: json.dumps([i, 'x']),
    callback: main.call_js((x) => x * 2 + 1, i),
    asyncSum: await py.eval_async('sum(range(' + i + '))'),
    context: cobj.v,
  }
  main.call_js_async((x) => new Promise((r) => setTimeout(() => r(x + 1), 300)), i).catch(() => {})
  py.eval_async('__import__("time").sleep(0.2)').catch(() => {})
  main.call_from_thread((k) => k, 30)
  ctx.eval_async('time.sleep(0.2) or 7').catch(() => {})
  parentPort.postMessage(report)
  if (mode === 'exit') setTimeout(() => process.exit(0), 50)
})()
`

test('50 environments in a row, ended mid-flight, leave the process and Python as they were', () => {
  const { report, log } = runChild(`
    ${spawnWorker}
    import { Python } from 'pyembed'
    const py = new Python()
    py.exec(${JSON.stringify(helpers)})
    const main = py.import('__main__')
    const os = py.import('os')
    const mine = main.Box(21)
    const rss = () => process.memoryUsage.rss()
    const settle = async () => {
      // Until what the last environment left in flight is over: its Python thread's calls fail
      // at once, its callbacks' timers (300 ms) are gone with it.
      let last = null
      for (let k = 0; k < 40; k++) {
        await sleep(100)
        globalThis.gc()
        const now = py.eval('steady()')
        if (last !== null && JSON.stringify(now) === JSON.stringify(last)) return now
        last = now
      }
      return last
    }
    // What CPython itself keeps of an isolated interpreter that ends, measured on this thread
    // (3.12+ leaks its allocator's arenas and remaining blocks, about 2.4 MiB here; 3.11
    // nothing): each environment below ends one, and that is not the environment's leak.
    const blocks = () => py.eval('sys.getallocatedblocks()')
    await new Python({ context: true }).close() // the first one imports what contexts need
    globalThis.gc()
    const [blocks0, rss0] = [blocks(), rss()]
    for (let k = 0; k < 10; k++) {
      const ctx = new Python({ context: true })
      ctx.exec('import time')
      await ctx.close()
    }
    globalThis.gc()
    const contextBlocks = (blocks() - blocks0) / 10
    const contextMiB = Math.max(0, (rss() - rss0) / 10 / 2 ** 20)
    console.log('an isolated context that ends keeps', contextBlocks, 'blocks,', contextMiB.toFixed(2), 'MiB')
    const modes = ['terminate', 'exit', 'terminate', 'finish']
    const reports = [], codes = [], live = [], after = [], checkpoints = {}
    for (let i = 0; i < 50; i++) {
      const mode = modes[i % 4]
      globalThis.gc()
      const before = rss()
      const worker = spawn(${JSON.stringify(environment)}, { i, mode })
      const [message] = await new Promise((resolve, reject) => {
        worker.once('message', (m) => resolve([m]))
        worker.exited.then((code) => reject(new Error('environment ' + i + ' exited ' + code + ' before reporting')))
      })
      reports.push(message)
      live.push(rss() - before)
      if (mode === 'terminate') {
        await sleep(20)
        await worker.terminate()
      }
      codes.push(await worker.exited)
      // The main thread goes on using Python between environments.
      if (mine.twice() !== 42 || os.path.join('a', String(i)) !== 'a/' + i || (await mine.twice_async()) !== 42) {
        throw new Error('the main thread lost its proxies after environment ' + i)
      }
      globalThis.gc()
      after.push(rss())
      if (i === 0 || i === 19 || i === 49) checkpoints[i + 1] = await settle()
      const mib = (n) => (n / 2 ** 20).toFixed(1)
      console.log('environment', i + 1, mode, 'exit', codes[i], 'rss live +' + mib(live[i]), 'after', mib(after[i]), 'MiB')
    }
    const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length
    console.log(JSON.stringify({
      reports, codes, checkpoints, contextBlocks, contextMiB,
      liveMiB: mean(live.slice(10)) / 2 ** 20,
      rss11to20: mean(after.slice(10, 20)) / 2 ** 20,
      rss41to50: mean(after.slice(40, 50)) / 2 ** 20,
      mineAtEnd: [mine.twice(), await mine.twice_async(), os.getpid() === process.pid, py.eval('len(boxes)')],
    }))
  `, 110_000)
  for (const line of log) console.log(line)

  const expected = Array.from({ length: 50 }, (_, i) => ({
    i,
    twice: 2 * i,
    dumped: `[${i}, "x"]`,
    callback: 2 * i + 1,
    asyncSum: (i * (i - 1)) >> 1,
    context: 3 * i,
  }))
  assert.deepEqual(report.reports, expected)
  assert.deepEqual(report.codes, Array.from({ length: 50 }, (_, i) => (i % 4 === 0 || i % 4 === 2 ? 1 : 0)))
  assert.deepEqual(report.mineAtEnd, [42, 42, true, 1]) // every worker's Box released, this one kept

  const { 1: first, 20: at20, 50: at50 } = report.checkpoints
  console.log('steady after 1, 20, 50 environments:', JSON.stringify({ first, at20, at50 }))
  const growth = report.rss41to50 - report.rss11to20
  console.log(`an ended context keeps ${report.contextBlocks} blocks, ${report.contextMiB.toFixed(2)} MiB; RSS: one live environment +${report.liveMiB.toFixed(1)} MiB; ` +
    `mean after environments 11-20 ${report.rss11to20.toFixed(1)} MiB, 41-50 ${report.rss41to50.toFixed(1)} MiB (+${growth.toFixed(1)})`)
  // No thread, interpreter or Python object is left per environment: measured, the counts are
  // the same after 1, 20 and 50 environments. Python's allocated blocks drift by about 11 per
  // environment beyond what an ended context keeps (under 1 KiB; not traced to a cause), on
  // 3.11 to 3.13; 50 more per environment is a leak.
  assert.equal(at50.interpreters, 1) // every worker's context ended
  assert.equal(at50.osThreads, at20.osThreads)
  assert.equal(at50.pythonThreads, at20.pythonThreads)
  assert.equal(at50.boxes, 1)
  assert.equal(at50.objects, at20.objects)
  const blockBound = 30 * (report.contextBlocks + 50)
  assert.ok(at50.blocks - at20.blocks < blockBound, `Python blocks: ${at20.blocks} after 20 environments, ${at50.blocks} after 50 (bound +${blockBound})`)
  // Measured on 2 vCPUs: a live environment costs 7.8-8.0 MiB of RSS (10.1 on 3.12/3.13). On
  // 3.11 the mean after environments 41-50 is 4.0-4.5 MiB above that after 11-20, one step of
  // the allocator just after the 20th, flat over 21-50; on 3.12/3.13 it is 70-77 MiB, 0.99-1.07
  // times what 30 ended contexts keep. 12 MiB allows that step and 8 MiB more, plus the
  // contexts with a quarter to spare: a leak of a thirtieth of each environment exceeds it.
  // (On 3.11 an ended context keeps no block, and the RSS it seems to keep is noise: 0.4-0.6.)
  const rssBound = 12 + 30 * (report.contextBlocks > 0 ? report.contextMiB : 0) * 1.25
  assert.ok(growth < rssBound, `RSS grew ${growth.toFixed(1)} MiB over 30 environments (bound ${rssBound.toFixed(1)})`)
})

test('a worker can start Python before the main thread uses it, and end while busy', () => {
  const busy = `
    const { parentPort } = require('node:worker_threads')
    const { Python } = require('pyembed')
    const py = new Python()
    py.exec(${JSON.stringify(helpers)})
    const box = py.import('__main__').Box(5)
    py.eval_async('__import__("time").sleep(0.3)').catch(() => {})
    new Python({ context: true }).eval_async('__import__("time").sleep(0.3)').catch(() => {})
    parentPort.postMessage(box.twice())
  `
  const later = `
    const { parentPort } = require('node:worker_threads')
    const { Python } = require('pyembed')
    parentPort.postMessage(new Python().import('__main__').Box(7).twice())
  `
  const { report } = runChild(`
    ${spawnWorker}
    const first = spawn(${JSON.stringify(busy)})
    const [twice] = await once(first, 'message')
    await first.terminate()
    // A second environment finds Python running, started by one that has ended.
    const second = spawn(${JSON.stringify(later)})
    const [again] = await once(second, 'message')
    const codes = [await first.exited, await second.exited]
    await sleep(400) // the first one's calls are over
    const { Python } = await import('pyembed')
    const state = new Python().eval('steady()')
    console.log(JSON.stringify({ twice, again, codes, state }))
  `)
  assert.equal(report.twice, 10)
  assert.equal(report.again, 14)
  assert.deepEqual(report.codes, [1, 0])
  assert.equal(report.state.boxes, 0) // both workers' objects released
  assert.equal(report.state.interpreters, 1) // the first one's context ended
})

test('two workers load the addon at the same instant, in a process that has not', () => {
  const racer = `
    const { parentPort, workerData: { gate, n } } = require('node:worker_threads')
    Atomics.add(gate, 0, 1)
    while (Atomics.load(gate, 0) < 2) {} // both here: go
    const { Python } = require('pyembed')
    const py = new Python()
    const ctx = new Python({ context: true })
    parentPort.postMessage([py.eval('sum(range(' + (n + 10) + '))'), ctx.eval('6 * 7'), Python.version.binary])
  `
  for (let round = 0; round < 3; round++) {
    const { report } = runChild(`
      ${spawnWorker}
      const gate = new Int32Array(new SharedArrayBuffer(8))
      const workers = [0, 1].map((n) => spawn(${JSON.stringify(racer)}, { gate, n }))
      const results = await Promise.all(workers.map(async (w) => (await once(w, 'message'))[0]))
      const codes = await Promise.all(workers.map((w) => w.exited))
      const { Python } = await import('pyembed')
      console.log(JSON.stringify({ results, codes, main: new Python().eval('1 + 1'), binary: Python.version.binary }))
    `)
    assert.deepEqual(report.codes, [0, 0])
    assert.deepEqual(report.results.map((r) => r.slice(0, 2)), [[45, 42], [55, 42]])
    assert.equal(report.results[0][2], report.binary) // one choice of binary for the process
    assert.equal(report.results[1][2], report.binary)
    assert.equal(report.main, 2)
  }
})

// Regression: a JS Promise handed to Python (`pyembed.JSPromise`) was settled only by its own
// environment; when that ended first, the coroutine awaiting it stayed pending for ever (an
// asyncio Task, its coroutine and frame: about 55 Python objects per environment).
test('a coroutine awaiting a JS Promise of an environment that ends gets JSError', () => {
  const awaiting = `
    const { parentPort } = require('node:worker_threads')
    const { Python } = require('pyembed')
    const main = new Python().import('__main__')
    main.await_noted_async(new Promise((r) => setTimeout(r, 10_000))).catch(() => {})
    parentPort.postMessage('awaiting')
  `
  const noted = `
outcomes = []
async def await_noted(p):
    try:
        await p
        outcomes.append('resolved')
    except BaseException as e:
        outcomes.append(type(e).__name__)
        raise
`
  const { report } = runChild(`
    ${spawnWorker}
    import { Python } from 'pyembed'
    const py = new Python()
    py.exec(${JSON.stringify(helpers + noted)})
    for (let i = 0; i < 4; i++) {
      const worker = spawn(${JSON.stringify(awaiting)})
      await once(worker, 'message')
      await sleep(50)
      await worker.terminate()
    }
    await sleep(500)
    console.log(JSON.stringify({ outcomes: py.eval('outcomes') }))
  `)
  assert.deepEqual(report.outcomes, ['JSError', 'JSError', 'JSError', 'JSError'])
})
