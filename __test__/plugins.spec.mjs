import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative as relativePath } from 'node:path'
import { test } from 'node:test'

import { Python, kwargs } from 'pyembed'
import { fixtures } from './helpers.mjs'

const py = new Python()
py.add_syspath(fixtures)

test('a plugin class returns a string (python.ts quick start)', () => {
  const greeter = py.import('greeter').Greeter()
  assert.equal(greeter.greet('Node'), 'Hello, Node!')
  assert.equal(greeter.greet('you', '?'), 'Hello, you?')
  assert.equal(greeter.calls, 2)
  const formal = py.import('greeter').Greeter('Good evening')
  assert.equal(formal.greet('Ada', kwargs({ punctuation: '.' })), 'Good evening, Ada.')
  assert.equal(py.import('greeter').shout('hi', kwargs({ times: 2 })), 'HI HI ')
})

test('add_syspath resolves relative paths and adds each once', () => {
  const relative = relativePath(process.cwd(), fixtures)
  assert.ok(!relative.startsWith('/'))
  py.add_syspath(relative)
  py.add_syspath(fixtures)
  assert.equal(py.eval(`__import__("sys").path.count(${JSON.stringify(fixtures)})`), 1)
  assert.equal(py.eval(`${JSON.stringify(relative)} in __import__("sys").path`), false)
})

test('reload picks up changed plugin code; existing proxies see it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pyembed-reload-'))
  writeFileSync(join(dir, 'hot.py'), 'def version():\n    return 1\n')
  py.add_syspath(dir)
  const hot = py.import('hot')
  assert.equal(hot.version(), 1)
  writeFileSync(join(dir, 'hot.py'), 'def version():\n    return 2  # changed\n')
  py.exec('import importlib; importlib.invalidate_caches()')
  const again = py.reload(hot)
  assert.equal(hot.version(), 2)
  assert.equal(again.version(), 2)
  assert.equal(py.reload('hot').version(), 2)
})

test('Python threads and a thread pool keep running; JS reads their counter live', async () => {
  const demo = py.import('threads_demo')
  demo.start_threads(4, 1000)
  demo.submit_jobs(8, 500)
  const deadline = Date.now() + 20_000
  while (!demo.all_done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
  assert.equal(demo.counter, 4 * 1000 + 8 * 500)
})

for (const method of ['spawn', 'forkserver']) {
  test(`ProcessPoolExecutor with ${method} runs Python children`, { timeout: 120_000 }, () => {
    const result = py.import('procpool_demo').run(method, [1, 2, 3, 4])
    assert.deepEqual(result.squares, [1, 4, 9, 16])
    assert.equal(result.executable, py.eval('__import__("sys").executable'))
  })
}

test('import reuses the module proxy while sys.modules holds the same module', () => {
  const a = py.import('greeter')
  assert.equal(py.import('greeter'), a)
  py.exec('import sys; del sys.modules["greeter"]')
  const fresh = py.import('greeter')
  assert.notEqual(fresh, a)
  assert.equal(py.eval('lambda m: m is __import__("sys").modules["greeter"]')(fresh), true)
  py.gc(fresh)
  assert.equal(py.import('greeter').Greeter().greet('x'), 'Hello, x!')
})
