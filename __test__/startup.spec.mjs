// Start-up configuration and process exit: each case runs in its own node process, since
// Python starts once per process.
import assert from 'node:assert/strict'
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'

import { runNode } from './helpers.mjs'

const prelude = `import { Python } from 'pyembed'\nconst py = new Python()\n`

function codeOf(source, env) {
  const r = runNode(prelude + `try { ${source}; console.log('NO ERROR') } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })) }`, { env })
  assert.equal(r.status, 0, r.stderr)
  return JSON.parse(r.stdout.trim().split('\n').pop())
}

function fakeVenv(version) {
  const dir = mkdtempSync(join(tmpdir(), 'pyembed-fakevenv-'))
  mkdirSync(join(dir, 'bin'))
  writeFileSync(join(dir, 'bin', 'python'), '')
  writeFileSync(join(dir, 'pyvenv.cfg'), `home = /usr/bin\nversion = ${version}\n`)
  return dir
}

test('a missing venv path gives ERR_PY_INIT, on every later use too', () => {
  const r = runNode(
    prelude +
      `Python.configure({ venv: '/no/such/venv' })
       for (const f of [() => py.eval('1'), () => Python.version]) {
         try { f() } catch (e) { console.log(e.code, e.message) }
       }`,
  )
  const lines = r.stdout.trim().split('\n')
  assert.equal(lines.length, 2)
  for (const line of lines) assert.match(line, /^ERR_PY_INIT cannot start Python: \/no\/such\/venv is not a virtualenv/)
})

test('a venv made by another Python minor version gives ERR_PY_INIT with the reason', () => {
  const venv = fakeVenv('3.9.18')
  const err = codeOf(`Python.configure({ venv: ${JSON.stringify(venv)} }); py.eval('1')`)
  assert.equal(err.code, 'ERR_PY_INIT')
  assert.match(err.message, /made by Python 3\.9\.18, but pyembed is built for Python 3\.1\d/)
})

test('VIRTUAL_ENV is honoured by default', () => {
  const err = codeOf(`py.eval('1')`, { VIRTUAL_ENV: fakeVenv('3.8.0') })
  assert.equal(err.code, 'ERR_PY_INIT')
  assert.match(err.message, /3\.8\.0/)
})

test('a missing executable or pythonHome gives ERR_PY_INIT', () => {
  assert.equal(codeOf(`Python.configure({ executable: '/no/python' }); py.eval('1')`).code, 'ERR_PY_INIT')
  assert.equal(codeOf(`Python.configure({ pythonHome: '/no/home' }); py.eval('1')`).code, 'ERR_PY_INIT')
})

test('configure before first use is accepted; after it is refused', () => {
  const r = runNode(
    prelude +
      `Python.configure({})
       console.log(py.eval('6 * 7'))
       try { Python.configure({}) } catch (e) { console.log(e.code) }`,
  )
  assert.deepEqual(r.stdout.trim().split('\n'), ['42', 'ERR_PY_ALREADY_INITIALIZED'])
})

test('atexit handlers run at exit and buffered output is flushed', () => {
  const r = runNode(
    prelude +
      `py.exec('import atexit, sys\\natexit.register(lambda: print("atexit ran"))\\nsys.stdout.write("no newline")')
       console.log('')`,
  )
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stdout, /no newline/)
  assert.match(r.stdout, /atexit ran/)
})

test('exit is prompt with non-daemon and _thread threads still running', () => {
  const started = Date.now()
  const r = runNode(
    prelude +
      `py.exec(\`
import threading, _thread, time
threading.Thread(target=lambda: time.sleep(1000)).start()
def spin():
    while True:
        pass
threading.Thread(target=spin).start()
_thread.start_new_thread(time.sleep, (1000,))
\`)
       console.log('started')`,
    { timeout: 30_000 },
  )
  assert.equal(r.signal, null, r.stderr)
  assert.equal(r.status, 0, r.stderr)
  assert.equal(r.stdout.trim(), 'started')
  assert.ok(Date.now() - started < 20_000)
  assert.doesNotMatch(r.stderr, /Fatal|core dumped|Abort/)
})

test('process.exit(code) keeps its code after Python ran', () => {
  const r = runNode(prelude + `py.eval('1'); process.exit(3)`)
  assert.equal(r.status, 3, r.stderr)
})

test('stdout is unbuffered: print and console.log interleave in order', () => {
  const r = runNode(
    prelude +
      `for (let i = 0; i < 3; i++) {
         py.exec(\`print('py \${i}')\`)
         console.log('js ' + i)
       }
       py.exec("import sys; sys.stdout.write('no newline'); print(' then newline', file=sys.stderr)")
       console.log(' js')`,
  )
  assert.equal(r.status, 0, r.stderr)
  assert.equal(r.stdout, 'py 0\njs 0\npy 1\njs 1\npy 2\njs 2\nno newline js\n')
  assert.equal(r.stderr, ' then newline\n')
})
