// Supervised tasks (`Tasks`): scripts run as `__main__` in reused task interpreters, with
// parameters, isolation, outcomes, timeouts, output, messages, child tasks, cancellation and
// memory limits. Scripts are in fixtures/tasks/app/ (the appPath of every runner here).
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { once } from 'node:events'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, test } from 'node:test'

import { Python, PythonError, Tasks } from 'pyembed'

import { fixtures, runNode, thrown } from './helpers.mjs'

const app = join(fixtures, 'tasks', 'app')
const outside = join(fixtures, 'tasks', 'outside.py')
const MB = 1024 * 1024
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/** Runners and directories made by the current test: closed and removed after it. */
const opened = []
const dirs = []

afterEach(async () => {
  const runners = opened.splice(0)
  const closed = await Promise.all(runners.map((t) => t.close()))
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
  globalThis.gc?.()
  for (const c of closed) assert.deepEqual(c, { abandoned: [] })
  for (const t of runners) assert.ok(t.list().every((task) => task.ended))
})

function tempDir(prefix = 'pyembed-tasks-') {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  dirs.push(dir)
  return dir
}

/** A runner on the fixture app (timeout 60 s unless said), in a fresh work root. */
function runner(options = {}) {
  const tasks = new Tasks({ appPath: app, workRoot: tempDir(), timeoutSec: 60, ...options })
  opened.push(tasks)
  return tasks
}

/** Waits until `condition()` holds (polling), failing after `ms`. */
async function until(condition, ms = 20_000) {
  const deadline = Date.now() + ms
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms: ${condition}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

const lines = (r) => r.output.map((l) => [l.stream, l.text])
const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

// API shape

test('tasks get unique uuid ids, parentId null, and start queued', async () => {
  const tasks = runner({ concurrency: 1 })
  const a = tasks.run('quick.py')
  const b = tasks.run('quick.py')
  assert.match(a.id, UUID)
  assert.match(b.id, UUID)
  assert.notEqual(a.id, b.id)
  assert.equal(a.parentId, null)
  assert.deepEqual([a.state, b.state], ['queued', 'queued'])
  assert.deepEqual([a.startedAt, a.endedAt], [null, null])
  assert.equal(tasks.get(a.id), a)
  assert.equal(tasks.get('no-such-task'), undefined)
  assert.deepEqual(tasks.list(), [a, b])
  await Promise.all([a.result, b.result])
  assert.deepEqual([a.state, b.state], ['done', 'done'])
})

test('state goes queued → running → done; startedAt and endedAt are Dates', async () => {
  const tasks = runner()
  const task = tasks.run('hello_host.py')
  assert.equal(task.state, 'queued')
  const seen = []
  task.on('message', (m) => {
    seen.push([m, task.state, task.startedAt instanceof Date, task.endedAt])
    task.send('go')
  })
  const r = await task.result
  assert.deepEqual(seen, [['started', 'running', true, null]])
  assert.equal(task.state, 'done')
  assert.ok(task.endedAt instanceof Date)
  assert.ok(task.endedAt >= task.startedAt)
  assert.equal(r.durationMs, task.endedAt.getTime() - task.startedAt.getTime())
  assert.equal(r.value, 'go')
})

test('result resolves with { id, state, exitCode, value, output, outputTruncated, error, durationMs }', async () => {
  const tasks = runner()
  const task = tasks.run('quick.py')
  const r = await task.result
  for (const key of ['id', 'state', 'exitCode', 'value', 'output', 'outputTruncated', 'error', 'durationMs']) {
    assert.ok(key in r, key)
  }
  const { durationMs, ...rest } = r
  assert.equal(typeof durationMs, 'number')
  assert.deepEqual(
    { id: rest.id, state: rest.state, exitCode: rest.exitCode, value: rest.value, output: rest.output, outputTruncated: rest.outputTruncated, error: rest.error },
    { id: task.id, state: 'done', exitCode: 0, value: 'quick', output: [], outputTruncated: false, error: null },
  )
})

test('result never rejects: failed, timed-out and cancelled tasks resolve', async () => {
  const tasks = runner({ concurrency: 1 })
  const failed = tasks.run('raises.py')
  const timedOut = tasks.run('sleep.py', { argv: ['30'], timeoutSec: 0.2 })
  const cancelled = tasks.run('quick.py')
  cancelled.cancel()
  const settled = await Promise.allSettled([failed.result, timedOut.result, cancelled.result])
  assert.deepEqual(
    settled.map((s) => [s.status, s.value?.state]),
    [
      ['fulfilled', 'failed'],
      ['fulfilled', 'timeout'],
      ['fulfilled', 'cancelled'],
    ],
  )
})

// Parameters and the script's setup

test('task params are the global params with the task params over them', async () => {
  const tasks = runner({ params: { a: 'global', b: 'global' }, concurrency: 1 })
  const own = await tasks.run('params.py', { params: { b: 'task', c: [1, 2] } }).result
  const plain = await tasks.run('params.py').result
  assert.deepEqual(own.value.script_params, { a: 'global', b: 'task', c: [1, 2] })
  assert.deepEqual(plain.value.script_params, { a: 'global', b: 'global' })
})

test('task.params holds exactly pid, parentPid, applicationPath, scriptPath, scriptParams, outputPath', async () => {
  const tasks = runner()
  const task = tasks.run('params.py', { params: { x: 1 } })
  const { value } = await task.result
  const workdir = join(tasks.workRoot, task.id)
  assert.deepEqual(value.keys, ['pid', 'parentPid', 'applicationPath', 'scriptPath', 'scriptParams', 'outputPath'])
  assert.deepEqual(value.params, {
    pid: task.id,
    parentPid: null,
    applicationPath: app,
    scriptPath: join(app, 'params.py'),
    scriptParams: { x: 1 },
    outputPath: workdir,
  })
  assert.deepEqual([value.id, value.parent_id, value.workdir, value.script_params], [task.id, null, workdir, { x: 1 }])
  assert.equal(statSync(workdir).isDirectory(), true)
})

test('the script runs as __main__ with __file__, sys.argv = [script, *argv] and sys.path[0] = appPath', async () => {
  const tasks = runner()
  const { value } = await tasks.run('params.py', { argv: ['one', 'two words'] }).result
  const script = join(app, 'params.py')
  assert.deepEqual([value.name, value.file, value.argv, value.path0], ['__main__', script, [script, 'one', 'two words'], app])
})

test('the value given to task.result() is what the script gave (sys.argv itself, not what reset made of it)', async () => {
  const tasks = runner()
  const r = await tasks.run('result_argv.py', { argv: ['kept'] }).result
  assert.deepEqual([r.state, r.value], ['done', [join(app, 'result_argv.py'), 'kept']])
})

test('a module next to the script imports', async () => {
  const tasks = runner()
  const r = await tasks.run('uses_local.py').result
  assert.deepEqual([r.state, r.value], ['done', ['original', 42, join(app, 'helper_mod.py')]])
})

// Isolation: one interpreter, reused

/** Runs pollute.py then probe.py on one reused interpreter; returns what probe.py saw. */
async function afterPollution() {
  const tasks = runner({ concurrency: 1 })
  const polluted = await tasks.run('pollute.py', { argv: ['a'] }).result
  const probed = await tasks.run('probe.py').result
  assert.equal(polluted.state, 'done')
  assert.equal(polluted.value.helper, 'mutated')
  assert.equal(probed.state, 'done')
  assert.equal(probed.value.interpreter, polluted.value.interpreter, 'both ran in the same interpreter')
  return probed.value
}

test('isolation: globals of an earlier task are not seen by a later one', async () => {
  assert.equal((await afterPollution()).global, false)
})

test('isolation: app modules (and an attribute a task changed) come fresh to a later task', async () => {
  const seen = await afterPollution()
  assert.equal(seen.helper, 'original')
  assert.equal(seen.module, false)
})

test('isolation: sys.path changes of an earlier task are gone', async () => {
  assert.equal((await afterPollution()).path, false)
})

test('isolation: builtins an earlier task added are gone', async () => {
  assert.equal((await afterPollution()).builtin, false)
})

test('isolation: sys.argv changes of an earlier task are gone', async () => {
  assert.deepEqual((await afterPollution()).argv, [])
})

// Outcomes

test('a script that ends normally is done with exit code 0', async () => {
  const tasks = runner()
  const r = await tasks.run('exit_code.py', { argv: ['end'] }).result
  assert.deepEqual([r.state, r.exitCode, r.error], ['done', 0, null])
  assert.deepEqual(lines(r), [['stdout', 'before'], ['stdout', 'after']])
})

test('sys.exit(0) and sys.exit() end a task as done with exit code 0', async () => {
  const tasks = runner()
  for (const how of ['0', 'none']) {
    const r = await tasks.run('exit_code.py', { argv: [how] }).result
    assert.deepEqual([r.state, r.exitCode, r.error], ['done', 0, null], how)
    assert.deepEqual(lines(r), [['stdout', 'before']], how)
  }
})

test('sys.exit(3) ends a task as failed with exit code 3 and no error', async () => {
  const tasks = runner()
  const r = await tasks.run('exit_code.py', { argv: ['3'] }).result
  assert.deepEqual([r.state, r.exitCode, r.error], ['failed', 3, null])
})

test("sys.exit('bye') fails the task with exit code 1 and prints bye to stderr", async () => {
  const tasks = runner()
  const r = await tasks.run('exit_code.py', { argv: ['text'] }).result
  assert.deepEqual([r.state, r.exitCode, r.error], ['failed', 1, null])
  assert.deepEqual(lines(r), [['stdout', 'before'], ['stderr', 'bye']])
})

test('an uncaught exception fails the task with exit code 1 and a PythonError whose traceback is the script’s', async () => {
  const tasks = runner()
  const r = await tasks.run('raises.py').result
  assert.deepEqual([r.state, r.exitCode], ['failed', 1])
  assert.ok(r.error instanceof PythonError)
  assert.deepEqual([r.error.pythonType, r.error.pythonMessage], ['ValueError', 'boom'])
  const trace = r.error.pythonTraceback
  assert.match(trace, /^Traceback \(most recent call last\):\n/)
  assert.ok(trace.includes(`File "${join(app, 'raises.py')}", line 6, in <module>`), trace)
  assert.ok(trace.includes(`File "${join(app, 'raises.py')}", line 2, in explode`), trace)
  assert.ok(!trace.includes('runner.py'), trace)
  assert.ok(trace.endsWith('ValueError: boom\n'), trace)
})

test('the traceback of an uncaught exception is also in the output, as stderr lines', async () => {
  const tasks = runner()
  const task = tasks.run('raises.py')
  const r = await task.result
  assert.deepEqual(r.output[0], { stream: 'stdout', text: 'about to fail', t: r.output[0].t })
  const stderr = r.output.filter((l) => l.stream === 'stderr').map((l) => l.text)
  assert.equal(stderr.join('\n') + '\n', r.error.pythonTraceback)
  assert.equal(readFileSync(join(tasks.workRoot, task.id, 'output.log'), 'utf8'), 'about to fail\n' + r.error.pythonTraceback)
})

// Timeouts

test('a busy loop is interrupted at its timeout: state timeout, well before the grace period ends', async () => {
  const tasks = runner({ graceMs: 10_000 })
  const r = await tasks.run('busy.py', { timeoutSec: 0.5 }).result
  assert.deepEqual([r.state, r.exitCode, r.error], ['timeout', null, null])
  assert.ok(r.durationMs >= 480 && r.durationMs < 5000, `${r.durationMs} ms`)
})

test('time.sleep(100) is interrupted at the timeout (sleep is interruptible)', async () => {
  const tasks = runner({ graceMs: 10_000 })
  const r = await tasks.run('sleep.py', { argv: ['100'], timeoutSec: 0.5 }).result
  assert.equal(r.state, 'timeout')
  assert.ok(r.durationMs >= 480 && r.durationMs < 5000, `${r.durationMs} ms`)
})

test('a task waiting in task.recv() is interrupted at the timeout', async () => {
  const tasks = runner({ graceMs: 10_000 })
  const r = await tasks.run('recv_forever.py', { timeoutSec: 0.5 }).result
  assert.equal(r.state, 'timeout')
  assert.ok(r.durationMs >= 480 && r.durationMs < 5000, `${r.durationMs} ms`)
})

test('a task can set its own timeout with task.set_timeout(0.3)', async () => {
  const tasks = runner({ timeoutSec: -1, graceMs: 10_000 })
  const r = await tasks.run('self_timeout.py').result
  assert.equal(r.state, 'timeout')
  assert.ok(r.durationMs >= 280 && r.durationMs < 5000, `${r.durationMs} ms`)
})

test('task.set_timeout(-1) lifts the timeout the task was given', async () => {
  const tasks = runner()
  const r = await tasks.run('extend_timeout.py', { timeoutSec: 0.5 }).result
  assert.deepEqual([r.state, r.value], ['done', 'slept'])
})

test("a task that catches pyembed.Cancelled at its timeout and ends still ends as 'timeout'", async () => {
  const tasks = runner()
  const r = await tasks.run('swallow_cancel.py', { timeoutSec: 0.3 }).result
  assert.deepEqual([r.state, r.exitCode], ['timeout', null])
})

test("a task that catches pyembed.Cancelled when cancelled and ends still ends as 'cancelled'", async () => {
  const tasks = runner()
  const task = tasks.run('swallow_cancel.py')
  await until(() => task.state === 'running')
  await delay(300)
  task.cancel()
  const r = await task.result
  assert.deepEqual([r.state, r.exitCode], ['cancelled', null])
})

test('a timeout below 0 means no limit (runner default or per task)', async () => {
  const none = runner({ timeoutSec: -1 })
  const short = runner({ timeoutSec: 0.5 })
  const [a, b] = await Promise.all([
    none.run('sleep.py', { argv: ['1.5'] }).result,
    short.run('sleep.py', { argv: ['1.5'], timeoutSec: -1 }).result,
  ])
  assert.deepEqual([a.state, a.value], ['done', 'slept'])
  assert.deepEqual([b.state, b.value], ['done', 'slept'])
  assert.ok(a.durationMs >= 1450 && b.durationMs >= 1450)
})

test('a task blocked in a C call that ignores interrupts is abandoned after the grace period; others run, close() reports it, the process exits', () => {
  const start = performance.now()
  const child = runNode(
    `
    import { mkdtempSync, rmSync } from 'node:fs'
    import { once } from 'node:events'
import { tmpdir } from 'node:os'
    import { join } from 'node:path'
    import { Tasks } from 'pyembed'
    const workRoot = mkdtempSync(join(tmpdir(), 'pyembed-tasks-abandon-'))
    const tasks = new Tasks({ appPath: ${JSON.stringify(app)}, workRoot, concurrency: 1, timeoutSec: 0.5, graceMs: 300 })
    const start = Date.now()
    const blocked = tasks.run('blocking.py')
    const next = tasks.run('quick.py')
    const b = await blocked.result
    const blockedMs = Date.now() - start
    const q = await next.result
    const closing = Date.now()
    const closed = await tasks.close()
    const closeMs = Date.now() - closing
    rmSync(workRoot, { recursive: true, force: true })
    console.log(JSON.stringify({
      blocked: [b.state, b.exitCode, b.output.map((l) => l.text)],
      blockedMs,
      next: [q.state, q.value],
      abandoned: closed.abandoned.length === 1 && closed.abandoned[0] === blocked.id,
      closeMs,
    }))
  `,
    { timeout: 20_000 },
  )
  const wallMs = performance.now() - start
  assert.notEqual(child.stdout, '', child.stderr)
  const r = JSON.parse(child.stdout)
  assert.deepEqual(r.blocked, ['timeout', null, ['blocking']])
  assert.ok(r.blockedMs >= 750 && r.blockedMs < 5000, `${r.blockedMs} ms`) // timeout 500 + grace 300
  assert.deepEqual(r.next, ['done', 'quick'])
  assert.equal(r.abandoned, true)
  assert.ok(r.closeMs < 2000, `close() took ${r.closeMs} ms`)
  assert.equal(child.signal, null, `killed after ${wallMs.toFixed(0)} ms: the process did not exit by itself`)
  assert.equal(child.status, 0, child.stderr)
  assert.ok(wallMs < 10_000, `${wallMs.toFixed(0)} ms`)
})

// Output

test('output lines carry their stream and a numeric time, in order; a last line without newline arrives', async () => {
  const tasks = runner()
  const task = tasks.run('output.py')
  const r = await task.result
  assert.deepEqual(lines(r), [
    ['stdout', 'first line'],
    ['stderr', 'to stderr'],
    ['stdout', 'second line'],
    ['stdout', 'no newline at the end'],
  ])
  for (const line of r.output) {
    assert.deepEqual(Object.keys(line).sort(), ['stream', 't', 'text'])
    assert.ok(Number.isFinite(line.t) && line.t >= task.startedAt.getTime() && line.t <= task.endedAt.getTime())
  }
  assert.equal(r.outputTruncated, false)
})

test('onOutput is called once per line, in order, with (text, stream)', async () => {
  const tasks = runner()
  const seen = []
  const r = await tasks.run('output.py', { onOutput: (text, stream) => seen.push([stream, text]) }).result
  assert.deepEqual(seen, lines(r))
  assert.equal(seen.length, 4)
})

test("a script's end is Python's: its threads are joined and its atexit hooks run, every time", async () => {
  const tasks = runner({ concurrency: 1 })
  for (let i = 0; i < 3; i++) {
    const r = await tasks.run('exit_hooks.py').result
    assert.deepEqual([r.state, r.value, r.output.map((l) => l.text)], ['done', 'script ended', ['thread done', 'atexit ran']])
  }
})

test("a task cannot take another task's messages through the runner's native functions", async () => {
  const tasks = runner({ concurrency: 2 })
  const victim = tasks.run('victim.py')
  victim.send('for the victim')
  const thief = await tasks.run('thief.py', { params: { victim: victim.id } }).result
  assert.deepEqual(thief.value, ['ValueError', 'TimeoutError']) // it takes no task id
  assert.deepEqual((await victim.result).value, 'for the victim')
})

test("a task's 'output' event gets each line too, for child tasks as well", async () => {
  const tasks = runner()
  const seen = new Map()
  tasks.on('task', (task) => task.on('output', (text, stream) => seen.set(task.id, [...(seen.get(task.id) ?? []), [stream, text]])))
  const task = tasks.run('output.py')
  const r = await task.result
  assert.deepEqual(seen.get(task.id), lines(r))
})

test('an onOutput that throws is reported as a warning; the task goes on', async () => {
  const tasks = runner()
  const warnings = []
  const onWarning = (w) => warnings.push(w.code)
  process.on('warning', onWarning)
  try {
    const r = await tasks.run('output.py', { onOutput: () => { throw new Error('listener bug') } }).result
    assert.equal(r.state, 'done')
    assert.equal(r.output.length, 4)
    await new Promise((resolve) => setImmediate(resolve))
    assert.ok(warnings.includes('PYEMBED_ONOUTPUT_THREW'), JSON.stringify(warnings))
  } finally {
    process.off('warning', onWarning)
  }
})

test('<workdir>/output.log holds the output text', async () => {
  const tasks = runner()
  const task = tasks.run('output.py')
  await task.result
  assert.equal(
    readFileSync(join(tasks.workRoot, task.id, 'output.log'), 'utf8'),
    'first line\nto stderr\nsecond line\nno newline at the end',
  )
})

test('a task printing 2 MB keeps the last ~1 MB of lines, marked outputTruncated; output.log has all', async () => {
  const tasks = runner()
  const count = 20_000 // 101 bytes a line
  const task = tasks.run('big_output.py', { argv: [String(count)] })
  const r = await task.result
  assert.equal(r.state, 'done')
  assert.equal(r.outputTruncated, true)
  const kept = r.output.reduce((n, l) => n + Buffer.byteLength(l.text) + 1, 0)
  assert.ok(kept <= MB && kept > MB - 101, `${kept} bytes kept`)
  const first = count - r.output.length
  assert.deepEqual(
    r.output.map((l) => l.text.slice(0, 8)),
    Array.from({ length: r.output.length }, (_, i) => String(first + i).padStart(8, '0')),
  )
  assert.equal(statSync(join(tasks.workRoot, task.id, 'output.log')).size, count * 101)
})

// Messages

test('messages from the host arrive in Python as str, bytes and dict', async () => {
  const tasks = runner()
  const task = tasks.run('echo.py', { argv: ['3'] })
  task.send('héllo')
  task.send(Buffer.from([0, 1, 255]))
  task.send({ x: [1, 2], y: null })
  const r = await task.result
  assert.deepEqual(r.value, [
    ['str', 'héllo'],
    ['bytes', [0, 1, 255]],
    ['dict', { x: [1, 2], y: null }],
  ])
})

test('task.send(None, ...) arrives on the host as a string, a Buffer and an object', async () => {
  const tasks = runner()
  const task = tasks.run('send_types.py')
  const got = []
  task.on('message', (m) => got.push(m))
  await task.result
  assert.equal(got.length, 3)
  assert.equal(got[0], 'text')
  assert.ok(Buffer.isBuffer(got[1]))
  assert.deepEqual([...got[1]], [0, 1, 255])
  assert.deepEqual(got[2], { k: [1, null, 'v'], f: 1.5 })
})

test('a message that is not a string, bytes or JSON-able: ERR_PY_INVALID_ARG in JS, TypeError in Python', async () => {
  const tasks = runner()
  const task = tasks.run('echo.py', { argv: ['1'] })
  assert.equal(thrown(() => task.send(undefined)).code, 'ERR_PY_INVALID_ARG')
  assert.equal(thrown(() => task.send(() => 1)).code, 'ERR_PY_INVALID_ARG')
  assert.equal(thrown(() => task.send({ big: 1n })).code, 'ERR_PY_INVALID_ARG')
  task.send('after the bad ones')
  assert.deepEqual((await task.result).value, [['str', 'after the bad ones']])
  assert.equal((await tasks.run('bad_message.py').result).value, 'TypeError')
})

test('1000 messages from a task arrive in order, exactly once', async () => {
  const tasks = runner()
  const task = tasks.run('send_many.py', { argv: ['1000'] })
  const got = []
  task.on('message', (m) => got.push(m))
  const r = await task.result
  assert.equal(r.state, 'done')
  assert.deepEqual(got, Array.from({ length: 1000 }, (_, i) => i))
})

test('tasks message each other by id: a child computes and sends back to its parent', async () => {
  const tasks = runner({ concurrency: 2 })
  const parent = tasks.run('parent.py', { params: { n: 7 } })
  const r = await parent.result
  assert.equal(r.state, 'done', r.error?.pythonTraceback)
  const child = tasks.get(r.value.child)
  assert.deepEqual(r.value, { child: child.id, reply: { square: 49, from: child.id, parentPid: parent.id } })
  assert.equal(child.parentId, parent.id)
  assert.equal((await child.result).state, 'done')
})

test('sending to an ended task: ERR_PY_TASK_ENDED in JS, RuntimeError in Python', async () => {
  const tasks = runner()
  const ended = tasks.run('quick.py')
  await ended.result
  assert.equal(thrown(() => ended.send('late')).code, 'ERR_PY_TASK_ENDED')
  const r = await tasks.run('send_to.py', { params: { to: ended.id } }).result
  assert.equal(r.value[0], 'RuntimeError')
  const unknown = await tasks.run('send_to.py', { params: { to: 'no-such-task' } }).result
  assert.equal(unknown.value[0], 'RuntimeError')
})

test('messages sent to a queued task are delivered when it runs', async () => {
  const tasks = runner({ concurrency: 1 })
  const first = tasks.run('sleep.py', { argv: ['0.3'] })
  const queued = tasks.run('echo.py', { argv: ['2'] })
  queued.send('one')
  queued.send({ two: 2 })
  assert.equal(queued.state, 'queued')
  const r = await queued.result
  assert.ok(queued.startedAt >= first.endedAt)
  assert.deepEqual(r.value, [
    ['str', 'one'],
    ['dict', { two: 2 }],
  ])
})

test('task.recv(timeout=0.1) raises TimeoutError when nothing comes', async () => {
  const tasks = runner()
  const r = await tasks.run('recv_timeout.py').result
  assert.equal(r.value[0], 'TimeoutError')
  assert.ok(r.value[1] >= 0.09 && r.value[1] < 5, `${r.value[1]} s`)
})

test('await task.recv_async() inside asyncio.run waits without blocking the loop', async () => {
  const tasks = runner()
  const task = tasks.run('recv_async.py')
  task.on('message', (m) => {
    if (m === 'ready') setTimeout(() => task.send('ping'), 200)
  })
  const r = await task.result
  assert.equal(r.state, 'done', r.error?.pythonTraceback)
  assert.deepEqual(r.value, { timedOut: true, message: 'ping', ticked: true })
})

// Children

test('task.run() returns the child id at once; the child has parentId and parentPid set', async () => {
  const tasks = runner({ concurrency: 1 })
  const parent = tasks.run('spawn.py', { params: { script: 'params.py' } })
  const r = await parent.result
  assert.equal(r.state, 'done', r.error?.pythonTraceback)
  assert.match(r.value.child, UUID)
  assert.ok(r.value.seconds < 1, `${r.value.seconds} s`)
  const child = tasks.get(r.value.child)
  assert.equal(child.parentId, parent.id)
  const c = await child.result
  assert.deepEqual([c.value.params.parentPid, c.value.parent_id, c.value.script_params], [parent.id, parent.id, { from: 'parent' }])
})

test('children obey the concurrency bound and may outlive their parent', async () => {
  const tasks = runner({ concurrency: 1 })
  const parent = tasks.run('spawn.py', { params: { script: 'sleep.py', argv: ['0.3'] } })
  const r = await parent.result
  const child = tasks.get(r.value.child)
  const c = await child.result
  assert.deepEqual([c.state, c.value], ['done', 'slept'])
  assert.ok(child.startedAt >= parent.endedAt, 'the child started once its parent ended')
  assert.ok(child.endedAt > parent.endedAt)
})

test("tasks.on('task') fires for every task, children included", async () => {
  const tasks = runner({ concurrency: 1 })
  const seen = []
  tasks.on('task', (t) => seen.push([t, t.state, t.parentId]))
  const parent = tasks.run('spawn.py', { params: { script: 'quick.py' } })
  const r = await parent.result
  const child = tasks.get(r.value.child)
  await child.result
  assert.deepEqual(seen, [
    [parent, 'queued', null],
    [child, 'queued', parent.id],
  ])
})

test('at most `concurrency` tasks run at once', async () => {
  const tasks = runner({ concurrency: 2 })
  const all = Array.from({ length: 5 }, () => tasks.run('sleep.py', { argv: ['0.2'] }))
  await Promise.all(all.map((t) => t.result))
  for (const t of all) {
    const at = t.startedAt.getTime()
    const running = all.filter((o) => o.startedAt.getTime() <= at && at < o.endedAt.getTime())
    assert.ok(running.length <= 2, `${running.length} running at once`)
  }
})

/** Runs tree.py with `depth` and waits until each of its depth + 1 tasks is in its sleep. */
async function sleepingTree(tasks, depth) {
  let sleeping = 0
  tasks.on('task', (t) => t.on('message', (m) => (sleeping += m === 'sleeping' ? 1 : 0)))
  const root = tasks.run('tree.py', { params: { depth } })
  await until(() => sleeping === depth + 1)
  return root
}

test('cancel({ children: true }) cancels the whole subtree', async () => {
  const tasks = runner({ concurrency: 3 })
  const root = await sleepingTree(tasks, 2)
  root.cancel({ children: true })
  const results = await Promise.all(tasks.list().map((t) => t.result))
  assert.deepEqual(
    results.map((r) => r.state),
    ['cancelled', 'cancelled', 'cancelled'],
  )
  const [, child, grandchild] = tasks.list()
  assert.deepEqual([child.parentId, grandchild.parentId], [root.id, child.id])
})

test('cancel() without children leaves the children running', async () => {
  const tasks = runner({ concurrency: 2 })
  const root = await sleepingTree(tasks, 1)
  const child = tasks.list()[1]
  root.cancel()
  assert.equal((await root.result).state, 'cancelled')
  await delay(200)
  assert.equal(child.state, 'running')
  child.cancel()
  assert.equal((await child.result).state, 'cancelled')
})

// On 3.10/3.11 (one import lock and one GIL for every interpreter) this run hung once in CI
// under load, and never in dozens of runs here: a known gap (README, Tasks), so it runs on
// 3.12+ only, where each interpreter has its own lock.
const sharedImportLock = Python.version.subinterpreters !== 'own-gil'

test('regression: cancelling tasks while their interpreters import never wedges later tasks (Python 3.11 has one import lock for all interpreters)', { skip: sharedImportLock && 'known gap on 3.10/3.11 (README)' }, () => {
  const child = runNode(
    `
    import { Tasks } from 'pyembed'
    const tasks = new Tasks({ appPath: ${JSON.stringify(app)}, workRoot: ${JSON.stringify(tempDir())}, concurrency: 3, graceMs: 3000 })
    const slow = []
    for (let i = 0; i < 20; i++) {
      const batch = [0, 1, 2].map(() => tasks.run('imports.py'))
      await new Promise((resolve) => setTimeout(resolve, 5 + ((i * 7) % 70)))
      for (const t of batch) t.cancel()
      for (const r of await Promise.all(batch.map((t) => t.result))) if (r.durationMs > 2000) slow.push(r.durationMs)
    }
    const quick = await tasks.run('quick.py').result
    console.log(JSON.stringify({ slow, quick: quick.state, closed: await tasks.close() }))
    process.exit(0)
  `,
    { timeout: 20_000 },
  )
  assert.equal(child.signal, null, 'the process hung')
  assert.equal(child.status, 0, child.stderr)
  assert.deepEqual(JSON.parse(child.stdout), { slow: [], quick: 'done', closed: { abandoned: [] } })
})

// Cancel

test('cancelling a queued task ends it at once without running it', async () => {
  const tasks = runner({ concurrency: 1 })
  const path = join(tempDir(), 'side-effect')
  const first = tasks.run('sleep.py', { argv: ['0.3'] })
  const queued = tasks.run('touch.py', { params: { path } })
  queued.cancel()
  assert.equal(queued.state, 'cancelled')
  assert.ok(queued.endedAt instanceof Date)
  assert.equal(queued.startedAt, null)
  const r = await queued.result
  assert.deepEqual([r.state, r.exitCode, r.durationMs, r.output], ['cancelled', null, null, []])
  await first.result
  await delay(200)
  assert.equal(existsSync(path), false)
  assert.equal(queued.startedAt, null)
})

test('cancelling a running task ends it as cancelled', async () => {
  const tasks = runner({ graceMs: 10_000 })
  const marker = join(tempDir(), 'marker')
  const task = tasks.run('sleep.py', { argv: ['30'], params: { marker } })
  await once(task, 'message') // 'sleeping'
  task.cancel()
  const r = await task.result
  assert.deepEqual([r.state, r.exitCode, r.error], ['cancelled', null, null])
  assert.ok(r.durationMs < 5000, `${r.durationMs} ms`)
  assert.equal(existsSync(marker), false)
})

test('regression: a task cancelled just after it started, before its time.sleep(), still stops at once', () => {
  // Racy by nature (the cancel must land just before the script's sleep): 15 tries.
  const child = runNode(
    `
    import { Tasks } from 'pyembed'
    const slow = []
    const abandoned = []
    for (let i = 0; i < 15; i++) {
      const tasks = new Tasks({ appPath: ${JSON.stringify(app)}, workRoot: ${JSON.stringify(tempDir())}, graceMs: 1000 })
      const task = tasks.run('nap.py', { argv: ['100'] })
      while (task.state !== 'running') await new Promise((resolve) => setTimeout(resolve, 1))
      task.cancel()
      const r = await task.result
      if (r.state !== 'cancelled' || r.durationMs >= 900) slow.push([r.state, r.durationMs])
      abandoned.push(...(await tasks.close()).abandoned)
    }
    console.log(JSON.stringify({ slow, abandoned: abandoned.length }))
    process.exit(0) // an abandoned interpreter would keep the process alive (another bug)
  `,
    { timeout: 40_000 },
  )
  assert.equal(child.status, 0, child.stderr)
  assert.deepEqual(JSON.parse(child.stdout), { slow: [], abandoned: 0 })
})

test('cancel after the end does nothing', async () => {
  const tasks = runner()
  const task = tasks.run('quick.py')
  const r = await task.result
  const endedAt = task.endedAt
  task.cancel()
  task.cancel({ children: true })
  assert.equal(task.state, 'done')
  assert.equal(task.endedAt, endedAt)
  assert.equal(await task.result, r)
  assert.equal(r.state, 'done')
})

// Errors

test('a script outside appPath is ERR_PY_TASK_NOT_FOUND (../, absolute path)', () => {
  const tasks = runner()
  assert.equal(existsSync(outside), true)
  assert.equal(thrown(() => tasks.run('../outside.py')).code, 'ERR_PY_TASK_NOT_FOUND')
  assert.equal(thrown(() => tasks.run('sub/../../outside.py')).code, 'ERR_PY_TASK_NOT_FOUND')
  assert.equal(thrown(() => tasks.run(outside)).code, 'ERR_PY_TASK_NOT_FOUND')
  assert.equal(thrown(() => tasks.run('/etc/hostname')).code, 'ERR_PY_TASK_NOT_FOUND')
  assert.deepEqual(tasks.list(), [])
})

test('a symlink inside appPath leading outside it is ERR_PY_TASK_NOT_FOUND', async () => {
  const appPath = tempDir('pyembed-tasks-app-')
  writeFileSync(join(appPath, 'ok.py'), 'print("inside")\n')
  symlinkSync(outside, join(appPath, 'link.py'))
  symlinkSync(join(fixtures, 'tasks'), join(appPath, 'linkdir'))
  const tasks = new Tasks({ appPath, workRoot: tempDir() })
  opened.push(tasks)
  assert.equal(thrown(() => tasks.run('link.py')).code, 'ERR_PY_TASK_NOT_FOUND')
  assert.equal(thrown(() => tasks.run('linkdir/outside.py')).code, 'ERR_PY_TASK_NOT_FOUND')
  const r = await tasks.run('ok.py').result
  assert.deepEqual([r.state, lines(r)], ['done', [['stdout', 'inside']]])
})

test('a script whose name starts with two dots, inside appPath, runs', async () => {
  const appPath = tempDir('pyembed-tasks-app-')
  writeFileSync(join(appPath, '..dots.py'), 'print("dots")\n')
  const tasks = new Tasks({ appPath, workRoot: tempDir() })
  opened.push(tasks)
  const r = await tasks.run('..dots.py').result
  assert.deepEqual([r.state, lines(r)], ['done', [['stdout', 'dots']]])
})

test('a missing script (or a directory) is ERR_PY_TASK_NOT_FOUND', () => {
  const tasks = runner()
  assert.equal(thrown(() => tasks.run('missing.py')).code, 'ERR_PY_TASK_NOT_FOUND')
  assert.equal(thrown(() => tasks.run('.')).code, 'ERR_PY_TASK_NOT_FOUND')
  assert.deepEqual(tasks.list(), [])
})

test('task.run() of a missing script raises FileNotFoundError in Python', async () => {
  const tasks = runner()
  const r = await tasks.run('run_missing.py').result
  assert.equal(r.state, 'done', r.error?.pythonTraceback)
  assert.equal(r.value[0], 'FileNotFoundError')
  assert.match(r.value[1], /missing\.py/)
  assert.equal(tasks.list().length, 1)
})

test('bad options are ERR_PY_INVALID_ARG', () => {
  const workRoot = tempDir()
  const make = (options) => () => new Tasks({ appPath: app, workRoot, ...options })
  assert.equal(thrown(() => new Tasks({ workRoot })).code, 'ERR_PY_INVALID_ARG')
  assert.equal(thrown(() => new Tasks({ appPath: app })).code, 'ERR_PY_INVALID_ARG')
  assert.equal(thrown(() => new Tasks({ appPath: join(app, 'nope'), workRoot })).code, 'ERR_PY_INVALID_ARG')
  assert.equal(thrown(() => new Tasks()).code, 'ERR_PY_INVALID_ARG')
  assert.equal(thrown(make({ timeoutSec: 'x' })).code, 'ERR_PY_INVALID_ARG')
  assert.equal(thrown(make({ memoryLimitMb: 'x' })).code, 'ERR_PY_INVALID_ARG')
  assert.equal(thrown(make({ concurrency: 0 })).code, 'ERR_PY_INVALID_ARG')
  assert.equal(thrown(make({ concurrency: 1.5 })).code, 'ERR_PY_INVALID_ARG')
  assert.equal(thrown(make({ params: [] })).code, 'ERR_PY_INVALID_ARG')
  assert.equal(thrown(make({ params: 'x' })).code, 'ERR_PY_INVALID_ARG')
  const tasks = runner()
  assert.equal(thrown(() => tasks.run('quick.py', { timeoutSec: 'x' })).code, 'ERR_PY_INVALID_ARG')
  assert.equal(thrown(() => tasks.run('quick.py', { memoryLimitMb: NaN })).code, 'ERR_PY_INVALID_ARG')
  assert.equal(thrown(() => tasks.run('quick.py', { params: 'x' })).code, 'ERR_PY_INVALID_ARG')
  assert.equal(thrown(() => tasks.run('quick.py', { params: [1] })).code, 'ERR_PY_INVALID_ARG')
  assert.equal(thrown(() => tasks.run('quick.py', { argv: [1] })).code, 'ERR_PY_INVALID_ARG')
  assert.equal(thrown(() => tasks.run('quick.py', { argv: 'a' })).code, 'ERR_PY_INVALID_ARG')
  assert.equal(thrown(() => tasks.run('quick.py', { onOutput: 'x' })).code, 'ERR_PY_INVALID_ARG')
  assert.equal(thrown(() => tasks.run(42)).code, 'ERR_PY_INVALID_ARG')
  assert.deepEqual(tasks.list(), [])
})

test('run() after close() throws ERR_PY_CONTEXT_CLOSED', async () => {
  const tasks = runner()
  assert.deepEqual(await tasks.close(), { abandoned: [] })
  assert.equal(thrown(() => tasks.run('quick.py')).code, 'ERR_PY_CONTEXT_CLOSED')
  assert.deepEqual(tasks.list(), [])
})

// Processes

test('subprocess works inside a task; os.fork() raises RuntimeError', async () => {
  const tasks = runner()
  const r = await tasks.run('subprocess_fork.py').result
  assert.equal(r.state, 'done', r.error?.pythonTraceback)
  assert.equal(r.value.stdout, '42\n')
  assert.equal(r.value.returncode, 0)
  assert.match(r.value.executable, /^python/)
  assert.equal(r.value.fork[0], 'RuntimeError')
})

// close()

test('close() cancels queued and running tasks and resolves { abandoned: [] }', async () => {
  const tasks = runner({ concurrency: 1, graceMs: 3000 })
  const path = join(tempDir(), 'side-effect')
  const running = tasks.run('sleep.py', { argv: ['10'] })
  const queued = tasks.run('touch.py', { params: { path } })
  await once(running, 'message') // 'sleeping'
  const start = Date.now()
  const closing = tasks.close()
  assert.equal(tasks.close(), closing)
  assert.deepEqual(await closing, { abandoned: [] })
  assert.ok(Date.now() - start < 5000)
  assert.deepEqual([running.state, queued.state], ['cancelled', 'cancelled'])
  assert.equal(queued.startedAt, null)
  assert.ok(tasks.list().every((t) => t.ended))
  assert.equal(existsSync(path), false)
})

// Parallelism

test(
  'two CPU-bound tasks with concurrency 2 run at the same time',
  { skip: Python.version.subinterpreters !== 'own-gil' && 'needs an own GIL per interpreter (Python 3.12+)' },
  async () => {
    const tasks = runner({ concurrency: 2 })
    const [a, b] = [tasks.run('cpu.py', { argv: ['1'] }), tasks.run('cpu.py', { argv: ['1'] })]
    const [ra, rb] = await Promise.all([a.result, b.result])
    assert.deepEqual([ra.state, rb.state], ['done', 'done'])
    assert.ok(a.startedAt < b.endedAt && b.startedAt < a.endedAt, 'their run intervals overlap')
  },
)

// Memory limits

test('allocations beyond memoryLimitMb raise MemoryError in the task (stopped between 0.9× and 1.1× + 5 MB)', async () => {
  const tasks = runner()
  const r = await tasks.run('mem_steps.py', { argv: ['300'], memoryLimitMb: 60 }).result
  assert.equal(r.state, 'done', r.error?.pythonTraceback)
  assert.ok(r.value >= 54 && r.value <= 71, `stopped at ${r.value} MB`)
  assert.equal(typeof r.peakMemory, 'number')
  assert.ok(r.peakMemory >= r.value * MB, `peak ${r.peakMemory}`)
})

test('the default memory limit is 100 MB', async () => {
  const tasks = runner()
  const r = await tasks.run('mem_steps.py', { argv: ['400'] }).result
  assert.equal(r.state, 'done', r.error?.pythonTraceback)
  assert.ok(r.value >= 90 && r.value <= 115, `stopped at ${r.value} MB`)
})

test("a task that goes on allocating beyond its limit ends as 'memory'", async () => {
  const tasks = runner()
  const r = await tasks.run('mem_hog.py', { argv: ['300'], memoryLimitMb: 50, timeoutSec: 30 }).result
  assert.deepEqual([r.state, r.exitCode], ['memory', null])
})

test('memoryLimitMb below 0 means no limit (peakMemory null)', async () => {
  const tasks = runner({ memoryLimitMb: -1 })
  const r = await tasks.run('mem_steps.py', { argv: ['150'] }).result
  assert.deepEqual([r.state, r.value, r.peakMemory], ['done', 150, null])
})

test("a memory limit is the task's own: the next task on the same interpreter is not bound by it", async () => {
  const tasks = runner({ concurrency: 1 })
  const limited = tasks.run('mem_steps.py', { argv: ['300'], memoryLimitMb: 40 })
  const free = tasks.run('mem_steps.py', { argv: ['150'], memoryLimitMb: -1 })
  const [a, b] = await Promise.all([limited.result, free.result])
  assert.ok(a.value >= 36 && a.value <= 49, `stopped at ${a.value} MB`)
  assert.deepEqual([b.state, b.value], ['done', 150])
})
