// Start-up configuration and process exit: each case runs in its own node process, since
// Python starts once per process.
import assert from 'node:assert/strict'
import { test } from 'node:test'

import { runNode } from './helpers.mjs'

const prelude = `import { Python } from 'pyembed'\nconst py = new Python()\n`

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
