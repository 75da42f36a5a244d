// Per-interpreter memory limits (native `taskMemory*`, for supervised tasks): an interpreter
// allocating beyond its limit gets MemoryError; other interpreters and the host do not. Limits
// on the main interpreter run in a child process, so that a crash is one failed test.
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { test } from 'node:test'

import { Python } from 'pyembed'

import { fixtures, runNode, thrown } from './helpers.mjs'

const native = createRequire(import.meta.url)('../dist/native.js').load()
const MiB = 2 ** 20

const main = new Python()
main.add_syspath(fixtures)
main.exec(`
def interpreter_ids():
    try:
        import _interpreters as m
    except ImportError:
        import _xxsubinterpreters as m
    return [int(i[0] if isinstance(i, tuple) else i) for i in m.list_all()]
`)

/** A context with the fixture imported as `hog`, and its interpreter id. */
function context(kind = true) {
  const before = new Set(main.eval('interpreter_ids()'))
  const py = new Python({ context: kind })
  const ids = main.eval('interpreter_ids()').filter((id) => !before.has(id))
  assert.equal(ids.length, 1)
  py.add_syspath(fixtures)
  py.exec('import memory_hog as hog')
  return { py, interp: ids[0] }
}

/** Runs `body` in a fresh process with `py` (main interpreter, fixture imported as `hog`) and
 * `native`; asserts a clean exit. */
function inChild(body) {
  const r = runNode(
    `import assert from 'node:assert/strict'
     import { createRequire } from 'node:module'
     import { join } from 'node:path'
     import { Python } from 'pyembed'
     const native = createRequire(join(process.cwd(), 'x.js'))('./dist/native.js').load()
     const MiB = 2 ** 20
     const py = new Python()
     py.add_syspath(${JSON.stringify(fixtures)})
     py.exec('import memory_hog as hog')
     ${body}
     console.log('done')`,
  )
  assert.equal(r.signal, null, `killed by ${r.signal}: ${r.stderr}`)
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stdout, /done\n$/)
}

/** The chunk count the issue allows for a limit of `mb` MiB allocated in 1 MiB steps. */
const inBounds = (n, mb) => n >= 0.9 * mb - 5 && n <= 1.1 * mb + 5

test('1 MiB steps in the main interpreter stop near a 50 MiB limit, then run unlimited after end', () => {
  inChild(`
    native.taskMemoryBegin(0, 50 * MiB)
    const n = py.eval('hog.fill()')
    assert.ok(n >= 0.9 * 50 - 5 && n <= 1.1 * 50 + 5, String(n))
    const usage = native.taskMemoryUsage(0)
    assert.ok(usage.refused >= 1)
    assert.equal(usage.limit, 50 * MiB)
    assert.ok(usage.peak > 40 * MiB && usage.peak <= 50 * MiB, String(usage.peak))
    assert.ok(usage.used < 5 * MiB, String(usage.used)) // the chunks were freed
    const final = native.taskMemoryEnd(0)
    assert.equal(final.refused, usage.refused)
    assert.equal(final.peak, usage.peak)
    assert.equal(native.taskMemoryUsage(0), null)
    assert.equal(py.eval('len(bytearray(200 << 20))'), 200 * MiB)
  `)
})

test('a Python thread of the main interpreter is limited too', () => {
  inChild(`
    native.taskMemoryBegin(0, 50 * MiB)
    const n = py.eval('hog.fill_in_thread()')
    assert.ok(n >= 0.9 * 50 - 5 && n <= 1.1 * 50 + 5, String(n))
    assert.ok(native.taskMemoryEnd(0).refused >= 1)
  `)
})

test('1 MiB steps in a context stop near its 50 MiB limit; the main interpreter is unaffected', async () => {
  const { py, interp } = context()
  try {
    native.taskMemoryBegin(interp, 50 * MiB)
    const n = py.eval('hog.fill()')
    assert.ok(inBounds(n, 50), String(n))
    assert.ok(native.taskMemoryUsage(interp).refused >= 1)
    // The limit is still on: the host and the main interpreter allocate freely meanwhile.
    assert.equal(main.eval('len(bytearray(200 << 20))'), 200 * MiB)
    assert.equal(native.taskMemoryUsage(0), null)
    const final = native.taskMemoryEnd(interp)
    assert.equal(final.limit, 50 * MiB)
    assert.ok(final.refused >= 1)
    assert.equal(native.taskMemoryEnd(interp), null)
    assert.equal(py.eval('len(bytearray(200 << 20))'), 200 * MiB)
  } finally {
    await py.close()
  }
})

test('two limited contexts each stop at their own limit', async () => {
  const a = context()
  const b = context()
  try {
    native.taskMemoryBegin(a.interp, 30 * MiB)
    native.taskMemoryBegin(b.interp, 80 * MiB)
    const [na, nb] = await Promise.all([a.py.eval_async('hog.fill_in_thread()'), b.py.eval_async('hog.fill_in_thread()')])
    assert.ok(inBounds(na, 30), String(na))
    assert.ok(inBounds(nb, 80), String(nb))
  } finally {
    native.taskMemoryEnd(a.interp)
    native.taskMemoryEnd(b.interp)
    await Promise.all([a.py.close(), b.py.close()])
  }
})

test('frees count back: 40 MiB, freed, then 40 MiB again fit under 50 MiB', async () => {
  const { py, interp } = context()
  try {
    native.taskMemoryBegin(interp, 50 * MiB)
    assert.equal(py.eval('hog.allocate(40)'), true)
    assert.ok(native.taskMemoryUsage(interp).used >= 40 * MiB)
    py.eval('hog.release()')
    assert.ok(native.taskMemoryUsage(interp).used < 5 * MiB)
    assert.equal(py.eval('hog.allocate(40)'), true)
    py.eval('hog.release()')
    assert.equal(native.taskMemoryEnd(interp).refused, 0)
  } finally {
    await py.close()
  }
})

test('small objects are counted through the arenas: 5 million of them break a 30 MiB limit', async () => {
  const { py, interp } = context()
  try {
    native.taskMemoryBegin(interp, 30 * MiB)
    assert.equal(py.eval('hog.small_objects(5_000_000)'), 'MemoryError')
    assert.equal(py.eval('hog.small_ints(5_000_000)'), 'MemoryError')
    // Small blocks may go up to 32 MiB over the limit (src/task/memory.rs: HEADROOM).
    assert.ok(native.taskMemoryUsage(interp).peak <= (30 + 32) * MiB)
    assert.equal(py.eval('hog.small_objects(100_000)'), 100_000) // the interpreter is fine
    native.taskMemoryEnd(interp)
    assert.equal(py.eval('hog.small_objects(5_000_000)'), 5_000_000)
  } finally {
    await py.close()
  }
})

test('a shared-GIL context is limited too', async () => {
  const { py, interp } = context('shared-gil')
  try {
    native.taskMemoryBegin(interp, 50 * MiB)
    assert.ok(inBounds(py.eval('hog.fill()'), 50))
    assert.equal(py.eval('hog.small_objects(5_000_000)'), 'MemoryError')
  } finally {
    native.taskMemoryEnd(interp)
    await py.close()
  }
})

test('a limit that is not a number of bytes from 1 to 2^53 throws ERR_PY_INVALID_ARG', () => {
  for (const limit of [NaN, Infinity, -Infinity, 0, 0.5, -1, 2 ** 54]) {
    assert.equal(thrown(() => native.taskMemoryBegin(0, limit)).code, 'ERR_PY_INVALID_ARG', String(limit))
  }
  assert.equal(native.taskMemoryUsage(0), null)
})

test('a second begin on a limited interpreter throws ERR_PY_INVALID_ARG; a closed context has no limit', async () => {
  const { py, interp } = context()
  native.taskMemoryBegin(interp, 50 * MiB)
  assert.equal(thrown(() => native.taskMemoryBegin(interp, 60 * MiB)).code, 'ERR_PY_INVALID_ARG')
  assert.equal(native.taskMemoryUsage(interp).limit, 50 * MiB)
  // Closing the context ends its limit.
  await py.close()
  assert.equal(native.taskMemoryUsage(interp), null)
  assert.equal(native.taskMemoryEnd(interp), null)
  assert.equal(thrown(() => native.taskMemoryBegin(interp, 50 * MiB)).code, 'ERR_PY_CONTEXT_CLOSED')
})
