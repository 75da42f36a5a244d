// Which Python runs is chosen at first use (ts/discover.ts): Python.configure({ executable |
// venv | pythonHome }) or python.ts's runtime_path, then $VIRTUAL_ENV, $PYTHON, python3 on PATH.
// Each case runs in its own node process (the choice is one per process). Fake Pythons (shell
// scripts printing what python/probe.py would) cover the refusals without installing anything.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { test } from 'node:test'

import { Python } from 'pyembed'

import { fixtures, runNode } from './helpers.mjs'

// The Python of this test process: its executable, libpython and prefix, to build on.
const real = Python.version
const py = new Python()
const minor = py.eval('"%d.%d" % __import__("sys").version_info[:2]')
const prefix = py.eval('__import__("sys").base_prefix')
const debug = py.eval('hasattr(__import__("sys"), "gettotalrefcount")')
const debian = '/usr/bin/python3.11'

function tempDir(name) {
  return realpathSync(mkdtempSync(join(tmpdir(), `pyembed-${name}-`)))
}

/** A script that answers the probe as a Python with `fields` would. */
function fakePython(dir, fields) {
  const probe = {
    version: '3.12.1',
    abiflags: '',
    debug: false,
    freeThreaded: false,
    basePrefix: dir,
    libdir: join(dir, 'lib'),
    multiarch: null,
    ldlibrary: 'libpython3.12.so',
    instsoname: 'libpython3.12.so.1.0',
    ...fields,
  }
  mkdirSync(join(dir, 'bin'), { recursive: true })
  const exe = join(dir, 'bin', 'python')
  probe.executable = probe.realExecutable = exe
  writeFileSync(exe, `#!/bin/sh\necho '${JSON.stringify(probe)}'\n`)
  chmodSync(exe, 0o755)
  return exe
}

/** Runs `source` after importing Python; returns the last line it printed, parsed. */
function outcome(source, env = {}) {
  const r = runNode(
    `import { Python } from 'pyembed'
     try { ${source} } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })) }`,
    { env },
  )
  assert.equal(r.status, 0, r.stderr)
  return JSON.parse(r.stdout.trim().split('\n').pop())
}

const versionOf = `const py = new Python(); const v = Python.version
  console.log(JSON.stringify({ version: py.eval('"%d.%d.%d" % __import__("sys").version_info[:3]'), executable: py.eval('__import__("sys").executable'),
    prefix: py.eval('__import__("sys").prefix'), libpython: v.libpython, source: v.source, binary: v.binary }))`

test('by default the Python of $PYTHON, else python3 on PATH, is embedded, and says where it came from', () => {
  assert.equal(real.source, process.env.PYTHON ? '$PYTHON' : 'python3 on PATH')
  assert.match(real.binary, new RegExp(`pyembed\\.cp${minor.replace('.', '')}${debug ? 'd' : ''}\\.node$`))
  assert.equal(realpathSync(real.libpython), real.libpython)
})

test('Python.configure({ executable }) embeds that Python and makes it sys.executable', () => {
  const exe = real.executable
  const info = outcome(`Python.configure({ executable: ${JSON.stringify(exe)} }); ${versionOf}`, { PYTHON: '/no/such/python' })
  assert.equal(info.executable, exe)
  assert.equal(info.source, 'Python.configure({ executable })')
  assert.equal(info.libpython, real.libpython)
})

const cp311 = join(dirname(real.binary), 'pyembed.cp311.node')
test("Debian's /usr/bin/python3.11 (static executable, libpython3.11.so beside) embeds with the cp311 binary", {
  skip: (!existsSync(debian) && 'no /usr/bin/python3.11') || (!existsSync(cp311) && 'no cp311 binary built here'),
}, () => {
  const info = outcome(versionOf, { PYTHON: debian })
  assert.equal(info.executable, debian)
  assert.equal(info.libpython, '/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0')
  assert.match(info.version, /^3\.11\./)
})

test('pythonHome: a Python folder with only lib/ (libpython and the standard library) runs from there', () => {
  const home = tempDir('home')
  mkdirSync(join(home, 'lib'))
  symlinkSync(real.libpython, join(home, 'lib', real.libpython.split('/').pop()))
  symlinkSync(join(prefix, 'lib', `python${minor}`), join(home, 'lib', `python${minor}`))
  const info = outcome(`Python.configure({ pythonHome: ${JSON.stringify(home)} }); ${versionOf}`)
  assert.equal(info.prefix, home)
  assert.equal(info.source, 'Python.configure({ pythonHome })')
  assert.equal(info.libpython, real.libpython) // by its real path: the identity of a Python
})

test("python.ts's runtime_path chooses the Python for the first instance; another one later is refused", () => {
  const exe = JSON.stringify(real.executable)
  const info = outcome(`
    const a = new Python({ runtime_path: ${exe} })
    a.eval('1')
    const b = new Python({ runtime_path: ${exe} }) // the same: accepted
    console.log(JSON.stringify({ same: b.eval('2'), source: Python.version.source }))
  `, { PYTHON: '/no/such/python' })
  assert.deepEqual(info, { same: 2, source: 'Python.configure({ executable })' })
  const other = tempDir('other')
  symlinkSync(join(dirname(real.executable), `python${minor}`), join(other, 'python3'))
  const refused = outcome(`new Python().eval('1'); new Python({ runtime_path: ${JSON.stringify(join(other, 'python3'))} })`)
  assert.equal(refused.code, 'ERR_PY_ALREADY_INITIALIZED')
  assert.match(refused.message, /already uses Python/)
})

test('Python.configure naming another Python after the choice gives ERR_PY_ALREADY_INITIALIZED', () => {
  const venv = tempDir('venv')
  writeFileSync(join(venv, 'pyvenv.cfg'), 'home = /usr/bin\n')
  fakePython(venv, {})
  const err = outcome(`new Python().eval('1'); Python.configure({ venv: ${JSON.stringify(venv)} })`)
  assert.equal(err.code, 'ERR_PY_ALREADY_INITIALIZED')
})

test('a missing executable, venv or pythonHome gives ERR_PY_INIT naming it, on every later use too', () => {
  for (const [option, message] of [
    ['executable', /executable \/no\/python does not exist/],
    ['venv', /\/no\/python is not a virtualenv/],
    ['pythonHome', /pythonHome \/no\/python is not a directory/],
  ]) {
    const r = runNode(
      `import { Python } from 'pyembed'
       Python.configure({ ${option}: '/no/python' })
       for (const f of [() => new Python().eval('1'), () => Python.version]) {
         try { f() } catch (e) { console.log(e.code, e.message) }
       }`,
    )
    const lines = r.stdout.trim().split('\n')
    assert.equal(lines.length, 2, r.stderr)
    for (const line of lines) {
      assert.match(line, /^ERR_PY_INIT cannot start Python: /)
      assert.match(line, message)
    }
  }
})

test('$VIRTUAL_ENV is honoured first; a venv of an unsupported Python is refused naming its version', () => {
  const venv = tempDir('venv')
  writeFileSync(join(venv, 'pyvenv.cfg'), 'home = /usr/bin\nversion = 3.9.18\n')
  fakePython(venv, { version: '3.9.18' })
  const err = outcome(`new Python().eval('1')`, { VIRTUAL_ENV: venv, PYTHON: real.executable })
  assert.equal(err.code, 'ERR_PY_INIT')
  assert.match(err.message, /Python 3\.9\.18, from \$VIRTUAL_ENV\) is not supported: pyembed supports Python 3\.10–3\.13/)
})

test('a Python without a shared libpython is refused with how to get one', () => {
  const exe = fakePython(tempDir('static'), {})
  const err = outcome(`new Python().eval('1')`, { PYTHON: exe })
  assert.equal(err.code, 'ERR_PY_INIT')
  assert.match(err.message, /has no shared libpython3\.12\.so.*apt-get install libpython3\.12.*--enable-shared/)
})

test('a Python minor version without a binary is refused, naming the binaries there and the source build', () => {
  const dir = tempDir('nobinary')
  mkdirSync(join(dir, 'lib'))
  writeFileSync(join(dir, 'lib', 'libpython3.12d.so.1.0'), '')
  const exe = fakePython(dir, { debug: true, abiflags: 'd', ldlibrary: 'libpython3.12d.so', instsoname: 'libpython3.12d.so.1.0' })
  const err = outcome(`new Python().eval('1')`, { PYTHON: exe })
  assert.equal(err.code, 'ERR_PY_INIT')
  assert.match(err.message, /no binary for Python 3\.12 \(debug build\) on linux-x64-gnu/)
  assert.match(err.message, /binaries here: .*cp3\d\d/)
  assert.match(err.message, /PYEMBED_BUILD_FROM_SOURCE=1 PYTHON=<that python> npm rebuild pyembed/)
})

test('a free-threaded Python and a program that is not Python are refused', () => {
  const ft = fakePython(tempDir('ft'), { version: '3.13.0', freeThreaded: true, abiflags: 't' })
  assert.match(outcome(`new Python().eval('1')`, { PYTHON: ft }).message, /free-threaded build of Python 3\.13\.0/)
  const notPython = outcome(`new Python().eval('1')`, { PYTHON: '/bin/true' })
  assert.equal(notPython.code, 'ERR_PY_INIT')
  assert.match(notPython.message, /\/bin\/true \(from \$PYTHON\) is not a Python pyembed can use/)
})

test('configure options are checked: a non-string path is ERR_PY_INVALID_ARG', () => {
  const err = outcome(`Python.configure({ venv: 42 })`)
  assert.equal(err.code, 'ERR_PY_INVALID_ARG')
  assert.equal(outcome(`new Python({ runtime_path: '' })`).code, 'ERR_PY_INVALID_ARG')
})

test('configure checks its start options up front; a later call keeps what an earlier one set', () => {
  for (const bad of [`{ exitTimeoutMs: 'x' }`, `{ exitTimeoutMs: -1 }`, `{ allowOsExit: 'yes' }`, `[]`]) {
    assert.equal(outcome(`Python.configure(${bad})`).code, 'ERR_PY_INVALID_ARG', bad)
  }
  const info = outcome(`Python.configure({ executable: ${JSON.stringify(real.executable)} }); Python.configure({ exitTimeoutMs: 100 }); ${versionOf}`, {
    PYTHON: '/no/such/python',
  })
  assert.equal(info.source, 'Python.configure({ executable })')
  // Start options merge the same way: allowOsExit given first stays after another configure.
  const exit = runNode(`import { Python } from 'pyembed'
    Python.configure({ allowOsExit: true }); Python.configure({ exitTimeoutMs: 1000 })
    new Python().exec('import os; os._exit(7)')`)
  assert.equal(exit.status, 7, exit.stderr)
})

test('after start, configure naming the Python in force is accepted; start options are refused', () => {
  const exe = JSON.stringify(real.executable)
  const info = outcome(`
    Python.configure({ executable: ${exe} })
    new Python().eval('1')
    Python.configure({ executable: ${exe} })
    let again; try { Python.configure({ exitTimeoutMs: 10 }) } catch (e) { again = e.code }
    console.log(JSON.stringify({ again }))`)
  assert.deepEqual(info, { again: 'ERR_PY_ALREADY_INITIALIZED' })
})

test("the probe imports nothing from the current directory (a json.py there does not run)", () => {
  const dir = tempDir('cwd')
  writeFileSync(join(dir, 'json.py'), `open(${JSON.stringify(join(dir, 'ran'))}, 'w').close()\nraise SystemExit('hijacked')\n`)
  const r = spawnSync(process.execPath, ['-e', `const { Python } = require(${JSON.stringify(join(fixtures, '..', '..'))}); console.log(new Python().eval('6 * 7'))`], {
    cwd: dir,
    encoding: 'utf8',
  })
  assert.equal(r.stdout.trim(), '42', r.stderr)
  assert.equal(existsSync(join(dir, 'ran')), false)
})

/** A copy of the built package (what npm installs) in a project folder of its own. */
function installedCopy(name) {
  const app = tempDir(name)
  const pkg = join(app, 'node_modules', 'pyembed')
  const root = join(fixtures, '..', '..')
  for (const part of ['dist', 'python', 'prebuilds', 'package.json']) cpSync(join(root, part), join(pkg, part), { recursive: true })
  return { app, pkg }
}

test('two copies of pyembed in one process: the second refuses to start Python again, no crash', () => {
  const { pkg } = installedCopy('copy')
  const r = runNode(`
    import { createRequire } from 'node:module'
    const require = createRequire(import.meta.url)
    const first = require('pyembed')
    console.log(new first.Python().eval('6 * 7'))
    const second = require(${JSON.stringify(pkg)})
    try { new second.Python().eval('1'); console.log('second started') } catch (e) { console.log(e.code, e.message) }
    console.log(new first.Python().eval('6 * 7'))`)
  assert.equal(r.status, 0, r.stderr)
  const lines = r.stdout.trim().split('\n')
  assert.equal(lines[0], '42')
  assert.match(lines[1], /^ERR_PY_INIT cannot start Python: Python is already running in this process, started by another copy of pyembed/)
  assert.equal(lines[2], '42')
})

test('a second copy naming another libpython is refused before loading it', { skip: !(existsSync(debian) && minor === '3.11' && !debug) && 'needs /usr/bin/python3.11 beside a 3.11 of another build' }, () => {
  const { pkg } = installedCopy('copy')
  const r = runNode(`
    import { createRequire } from 'node:module'
    const require = createRequire(import.meta.url)
    const first = require('pyembed')
    first.Python.configure({ executable: ${JSON.stringify(real.executable)} })
    console.log(new first.Python().eval('6 * 7'))
    const second = require(${JSON.stringify(pkg)})
    second.Python.configure({ executable: ${JSON.stringify(debian)} })
    try { new second.Python().eval('1') } catch (e) { console.log(e.code, e.message) }
    console.log(require('node:fs').readFileSync('/proc/self/maps', 'utf8').includes('/usr/lib/x86_64-linux-gnu/libpython3.11.so'))`)
  assert.equal(r.status, 0, r.stderr)
  const lines = r.stdout.trim().split('\n')
  assert.match(lines[1], /^ERR_PY_ALREADY_INITIALIZED cannot start Python: \S*libpython3\.11\.so\S* is already loaded in this process/)
  assert.equal(lines[2], 'false')
})

test('a truncated binary gives ERR_PY_INIT, not a crash', () => {
  const { pkg } = installedCopy('truncated')
  const binary = real.binary.replace(join(fixtures, '..', '..'), pkg)
  truncateSync(binary, Math.floor(readFileSync(binary).length / 2))
  const r = runNode(`
    import { createRequire } from 'node:module'
    const { Python } = createRequire(import.meta.url)(${JSON.stringify(pkg)})
    try { new Python().eval('1') } catch (e) { console.log(e.code, e.message) }`)
  assert.equal(r.signal, null, r.stderr)
  assert.match(r.stdout, /^ERR_PY_INIT cannot start Python: pyembed's binary .* cannot be loaded .*truncated/)
})
