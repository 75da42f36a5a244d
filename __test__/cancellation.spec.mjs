import assert from 'node:assert/strict'
import { test } from 'node:test'

import { Python, callOptions } from 'pyembed'

const py = new Python()
py.exec(`
import asyncio, time
ran = []
def spin(seconds):
    end = time.time() + seconds
    while time.time() < end:
        pass
    return "finished"
def sleepy(seconds):
    time.sleep(seconds)
    return "slept"
def mark(x):
    ran.append(x)
    return x
cancelled = []
async def nap(seconds):
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        cancelled.append(seconds)
        raise
    return "napped"
caught = []
def swallow(seconds):
    try:
        spin(seconds)
    except Exception as e:
        caught.append(["except Exception", type(e).__name__])
        return "swallowed"
    except BaseException as e:
        caught.append(["except BaseException", type(e).__module__ + "." + type(e).__name__])
        raise
    return "finished"
progress = [0]
outcome = []
def loop_for(seconds):
    end = time.time() + seconds
    while time.time() < end:
        progress[0] += 1
# The outcome is recorded one frame up: CPython 3.13.0 raises an asynchronous exception at a
# loop's backward jump outside the loop's own try block (plain python3.13 does it too).
def count_up(seconds):
    try:
        loop_for(seconds)
    except BaseException as e:
        outcome.append(type(e).__name__)
        raise
    outcome.append("finished")
    return "finished"
`)
const main = py.import('__main__')

test('a timeout interrupts a running pure-Python call; the instance stays usable', async () => {
  const start = performance.now()
  const err = await main.spin_async(10, callOptions({ timeoutMs: 100 })).catch((e) => e)
  assert.equal(err.code, 'ERR_PY_TIMEOUT')
  assert.ok(performance.now() - start < 1000)
  const next = performance.now()
  assert.equal(await main.mark_async('after'), 'after') // the spin really stopped
  assert.ok(performance.now() - next < 2000)
  assert.equal(await main.spin_async(0.01), 'finished') // no interruption left over
})

test('an aborted queued call never runs', async () => {
  py.exec('ran.clear()')
  const controller = new AbortController()
  const busy = main.spin_async(0.2)
  const queued = main.mark_async('queued', callOptions({ signal: controller.signal }))
  controller.abort()
  assert.equal((await queued.catch((e) => e)).code, 'ERR_PY_ABORTED')
  assert.equal(await busy, 'finished')
  assert.equal(await main.mark_async('next'), 'next')
  assert.deepEqual(py.eval('ran'), ['next'])
})

test('an abort while running interrupts the call: Python stops advancing; the instance stays usable', async () => {
  py.exec('progress[0] = 0; outcome.clear()')
  const controller = new AbortController()
  const running = main.count_up_async(60, callOptions({ signal: controller.signal }))
  while (py.eval('progress[0]') === 0) await new Promise((r) => setTimeout(r, 5)) // it is running
  const abortedAt = performance.now()
  controller.abort()
  assert.equal((await running.catch((e) => e)).code, 'ERR_PY_ABORTED')
  // A call queued behind the loop runs only once the loop has stopped: 60 s if not interrupted.
  assert.equal(await main.mark_async('ok'), 'ok')
  const stoppedWithin = performance.now() - abortedAt
  assert.ok(stoppedWithin < 5000, `the loop ran on for ${stoppedWithin.toFixed(0)} ms after the abort`)
  assert.deepEqual(py.eval('outcome'), ['Cancelled'])
  const stoppedAt = py.eval('progress[0]')
  assert.ok(stoppedAt > 0)
  await new Promise((r) => setTimeout(r, 200))
  assert.equal(py.eval('progress[0]'), stoppedAt) // no longer advancing
  assert.equal(main.mark('sync'), 'sync')
  assert.equal(await main.count_up_async(0.01), 'finished') // no interruption left over
})

test('pyembed.Cancelled is a BaseException: except Exception does not catch it', async () => {
  py.exec('caught.clear()')
  assert.deepEqual(py.eval('(lambda C: [issubclass(C, BaseException), issubclass(C, Exception)])(__import__("pyembed").Cancelled)'), [true, false])
  const err = await main.swallow_async(60, callOptions({ timeoutMs: 100 })).catch((e) => e)
  assert.equal(err.code, 'ERR_PY_TIMEOUT')
  assert.equal(await main.mark_async('after'), 'after') // queued behind: the swallow call is over
  assert.deepEqual(py.eval('caught'), [['except BaseException', 'pyembed.Cancelled']])
})

test('an awaiting coroutine is cancelled', async () => {
  const controller = new AbortController()
  const napping = main.nap_async(30, callOptions({ signal: controller.signal }))
  setTimeout(() => controller.abort(), 50)
  assert.equal((await napping.catch((e) => e)).code, 'ERR_PY_ABORTED')
  const deadline = Date.now() + 2000
  while (py.eval('len(cancelled)') === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
  assert.deepEqual(py.eval('cancelled'), [30])
  assert.equal(await main.nap_async(0, callOptions({ timeoutMs: 5000 })), 'napped')
})

test('an already aborted signal rejects without running; bad options are refused', async () => {
  py.exec('ran.clear()')
  assert.equal((await main.mark_async('x', callOptions({ signal: AbortSignal.abort() })).catch((e) => e)).code, 'ERR_PY_ABORTED')
  assert.deepEqual(py.eval('ran'), [])
  assert.throws(() => callOptions({ timeoutMs: -1 }), { code: 'ERR_PY_INVALID_ARG' })
  assert.throws(() => callOptions({ signal: {} }), { code: 'ERR_PY_INVALID_ARG' })
  assert.throws(() => main.mark('x', callOptions({ timeoutMs: 1 })), { code: 'ERR_PY_INVALID_ARG' })
  assert.equal(await py.eval_async('1 + 1', callOptions({ timeoutMs: 5000 })), 2)
  assert.equal(await py.call_async(main, 'mark', ['y'], callOptions({ timeoutMs: 5000 })), 'y')
})

test('a C call blocking without checking signals runs on; the promise rejects at once', async () => {
  const start = performance.now()
  const err = await main.sleepy_async(0.5, callOptions({ timeoutMs: 50 })).catch((e) => e)
  assert.equal(err.code, 'ERR_PY_TIMEOUT')
  assert.ok(performance.now() - start < 400)
  const next = performance.now()
  assert.equal(await main.mark_async('after sleep'), 'after sleep') // queued behind the sleep
  assert.ok(performance.now() - next > 200)
})
