// The reactor API every interpreter has (`pyembed.execute`, `pyembed.schedule`, `pyembed.loop`),
// checked in the main interpreter, in a context and in a task. The checks themselves are in
// fixtures/tasks/app/reactor_checks.py; each runs as the interpreter's own code.
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, afterEach, test } from 'node:test'

import { Python, Tasks } from 'pyembed'

import { fixtures, runNode } from './helpers.mjs'

const app = join(fixtures, 'tasks', 'app')
const workRoot = mkdtempSync(join(tmpdir(), 'pyembed-reactor-'))

const main = new Python()
main.add_syspath(app)
main.exec('import reactor_checks')
const context = new Python({ context: true })
context.add_syspath(app)
context.exec('import reactor_checks')
const tasks = new Tasks({ appPath: app, workRoot, concurrency: 2, timeoutSec: 60 })

after(async () => {
  assert.deepEqual(await tasks.close(), { abandoned: [] })
  assert.equal(await context.close(), true)
  rmSync(workRoot, { recursive: true, force: true })
})
afterEach(() => globalThis.gc?.())

/** Runs check `name` of reactor_checks.py in `where` and returns what it saw. */
async function check(where, name) {
  if (where === 'main') return main.eval(`reactor_checks.${name}()`)
  if (where === 'context') return context.eval(`reactor_checks.${name}()`)
  const r = await tasks.run('reactor_task.py', { argv: [name] }).result
  assert.equal(r.state, 'done', r.error?.pythonTraceback ?? r.output.map((l) => l.text).join('\n'))
  return r.value
}

for (const where of ['main', 'context', 'task']) {
  test(`${where}: execute(fn, *args) returns a concurrent.futures.Future of fn's result, run on the pyembed-asyncio thread`, async () => {
    assert.deepEqual(await check(where, 'execute_result'), { future: true, result: [5, 'pyembed-asyncio'], caller: true })
  })

  test(`${where}: execute() called on the reactor thread runs fn at once (its future is done on return)`, async () => {
    assert.deepEqual(await check(where, 'execute_on_reactor'), {
      done: true,
      result: null,
      order: ['before', 'inner', 'after'],
      thread: 'pyembed-asyncio',
    })
  })

  test(`${where}: an exception raised by fn lands in the future`, async () => {
    assert.deepEqual(await check(where, 'execute_exception'), { type: 'ValueError', message: 'bad input', raised: 'bad input' })
  })

  test(`${where}: schedule(0.05, fn) runs fn on the reactor while the script is in time.sleep`, async () => {
    const r = await check(where, 'schedule_while_sleeping')
    assert.equal(r.count, 1)
    assert.equal(r.thread, 'pyembed-asyncio')
    assert.ok(r.after >= 0.04 && r.after < 0.6, `ran after ${r.after} s`)
  })

  test(`${where}: schedule(0.05, event.set) wakes the script waiting on a threading.Event`, async () => {
    const r = await check(where, 'schedule_while_waiting')
    assert.equal(r.woken, true)
    assert.ok(r.after >= 0.04 && r.after < 5, `woken after ${r.after} s`)
  })

  test(`${where}: cancel() of a pending call returns True once and the call never runs; False once it ran`, async () => {
    assert.deepEqual(await check(where, 'schedule_cancel'), { first: true, second: false, ran: [], pending: false, afterRun: false })
  })

  test(`${where}: reschedule(delay) moves a call earlier or later, and runs one that already ran again`, async () => {
    assert.deepEqual(await check(where, 'schedule_reschedule'), {
      order: ['ran twice', 'moved earlier', 'fixed at 0.5', 'ran twice', 'moved later'],
      woken: true,
      chain: true,
    })
  })

  test(`${where}: a delay below 0, NaN or not a number raises ValueError`, async () => {
    assert.deepEqual(await check(where, 'schedule_bad_delay'), ['ValueError', 'ValueError', 'ValueError'])
  })

  test(`${where}: reschedule() with a bad delay raises ValueError and leaves the call as it was`, async () => {
    assert.deepEqual(await check(where, 'reschedule_bad_delay_keeps_call'), { error: 'ValueError', ran: true, pending: false })
  })

  test(`${where}: loop() is the running asyncio loop of the reactor; call_soon_threadsafe and run_coroutine_threadsafe work`, async () => {
    assert.deepEqual(await check(where, 'reactor_loop'), {
      loop: true,
      running: true,
      same: true,
      woken: true,
      seen: ['pyembed-asyncio'],
      coroutine: 'pyembed-asyncio',
    })
  })
}

test('main and context: `from pyembed import task` outside a task raises ImportError', async () => {
  for (const where of ['main', 'context']) {
    const r = await check(where, 'import_task')
    assert.equal(r.imported, false, where)
    assert.equal(r.error, 'ImportError', where)
    assert.match(r.message, /only inside a task/, where)
  }
})

test('task: `from pyembed import task` gives the running task', async () => {
  const task = tasks.run('reactor_task.py', { argv: ['import_task'] })
  const r = await task.result
  assert.equal(r.state, 'done')
  assert.deepEqual(r.value, { imported: true, id: task.id })
})

test('task: a call still scheduled when the task ends never runs (its reactor stops with it)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pyembed-reactor-marker-'))
  try {
    const marker = join(dir, 'marker')
    const r = await tasks.run('schedule_after_end.py', { params: { marker } }).result
    assert.equal(r.state, 'done')
    await new Promise((resolve) => setTimeout(resolve, 800))
    assert.equal(existsSync(marker), false)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('regression: a context reactor runs while the main interpreter reactor runs (Python 3.11 keeps one running-loop cache for all interpreters)', () => {
  const child = runNode(
    `
    import { Python } from 'pyembed'
    const main = new Python()
    main.exec('import pyembed; pyembed.loop()')
    const context = new Python({ context: true })
    const results = []
    for (let i = 0; i < 2; i++) {
      try {
        results.push(context.eval('__import__("pyembed").execute(lambda: "ran").result(3)'))
      } catch (e) {
        results.push(e.pythonType)
      }
    }
    console.log(JSON.stringify(results))
    await context.close()
  `,
    { timeout: 30_000 },
  )
  assert.equal(child.status, 0, child.stderr)
  assert.equal(child.stdout, '["ran","ran"]\n')
  assert.doesNotMatch(child.stderr, /Cannot run the event loop while another loop is running/)
})
