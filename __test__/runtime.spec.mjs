import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { realpathSync } from 'node:fs'
import { test } from 'node:test'

import { Python } from 'pyembed'

const py = new Python()

test('Python.version names the interpreter and pyembed', () => {
  const v = Python.version
  assert.match(v.python, /^3\.1[0-9]\.\d+/)
  assert.equal(v.python, py.eval('__import__("sys").version'))
  assert.equal(v.pyembed, JSON.parse(py.eval('__import__("pathlib").Path("package.json").read_text()')).version)
  assert.match(v.libpython, /libpython3\.1\dd?\.so/) // a debug build's name carries a `d`
})

test('sys.executable is the real Python, not node', () => {
  const exe = py.eval('__import__("sys").executable')
  assert.notEqual(exe, process.execPath)
  assert.equal(exe, Python.version.executable)
  assert.equal(py.eval('__import__("os").path.isfile(__import__("sys").executable)'), true)
  const version = py.eval('"%d.%d" % __import__("sys").version_info[:2]')
  assert.match(realpathSync(exe), new RegExp(`python${version.replace('.', '\\.')}d?$`))
})

test('Python installs no signal handlers (Node owns SIGINT)', () => {
  assert.equal(py.eval('__import__("signal").getsignal(__import__("signal").SIGINT) is __import__("signal").default_int_handler'), false)
})

test('C extension modules load (libpython is in global symbol scope)', () => {
  assert.equal(py.eval('__import__("ctypes").sizeof(__import__("ctypes").c_int)'), 4)
  assert.equal(py.eval('__import__("sqlite3").connect(":memory:").execute("select 6*7").fetchone()[0]'), 42)
  assert.equal(py.eval('str(__import__("decimal").Decimal("1.1") + __import__("decimal").Decimal("2.2"))'), '3.3')
  assert.equal(py.eval('__import__("decimal").__file__.endswith(".py")'), true)
  assert.match(py.eval('__import__("_decimal").__file__'), /_decimal.*\.so$/)
  assert.equal(py.eval('__import__("math").factorial(5)'), 120)
  assert.match(py.eval('__import__("ssl").OPENSSL_VERSION'), /SSL/)
})

test('hashlib.md5 of a Buffer equals Node crypto', () => {
  const data = Buffer.from('pyembed ✓ \u0000 bytes')
  const hashlib = py.import('hashlib')
  assert.equal(hashlib.md5(data).hexdigest(), createHash('md5').update(data).digest('hex'))
})

test('exec then eval share one __main__ namespace across plain instances', () => {
  py.exec('shared_value = 40\ndef plus(n):\n    return shared_value + n\n')
  assert.equal(py.eval('plus(2)'), 42)
  const other = new Python()
  assert.equal(other.eval('shared_value'), 40)
  assert.equal(other.import('__main__').plus(1), 41)
})
