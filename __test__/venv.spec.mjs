// A real virtualenv, made in this run, with a package installed by pip from a wheel built here
// (no network needed).
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, realpathSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { before, test } from 'node:test'

import { Python } from 'pyembed'
import { fixtures, runNode } from './helpers.mjs'

let venv
before(() => {
  const base = Python.version.executable
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'pyembed-venv-')))
  venv = join(dir, 'venv')
  execFileSync(base, ['-m', 'venv', venv])
  const wheel = execFileSync(base, [join(fixtures, 'make_wheel.py'), dir], { encoding: 'utf8' }).trim()
  execFileSync(join(venv, 'bin', 'python'), ['-m', 'pip', 'install', '--no-index', '--quiet', wheel])
})

const probe = `import { Python } from 'pyembed'
const py = new Python()
py.exec('import sys, embedprobe')
console.log(JSON.stringify({
  executable: py.eval('sys.executable'),
  prefix: py.eval('sys.prefix'),
  module: py.eval('embedprobe.where()'),
  version: Python.version.executable,
}))`

function check(out) {
  const info = JSON.parse(out.trim())
  assert.equal(info.executable, join(venv, 'bin', 'python'))
  assert.equal(info.version, info.executable)
  assert.equal(realpathSync(info.prefix), venv)
  assert.ok(info.module.startsWith(join(venv, 'lib')), info.module)
}

test('VIRTUAL_ENV activates the venv: sys.executable, sys.prefix, its packages', () => {
  const r = runNode(probe, { env: { VIRTUAL_ENV: venv } })
  assert.equal(r.status, 0, r.stderr)
  check(r.stdout)
})

test('Python.configure({ venv }) activates it too', () => {
  const r = runNode(`import { Python } from 'pyembed'\nPython.configure({ venv: ${JSON.stringify(venv)} })\n` + probe.split('\n').slice(1).join('\n'), {
    env: { VIRTUAL_ENV: '' },
  })
  assert.equal(r.status, 0, r.stderr)
  check(r.stdout)
})

test('without a venv the package is not importable', () => {
  const r = runNode(probe, { env: { VIRTUAL_ENV: '' } })
  assert.notEqual(r.status, 0)
  assert.match(r.stderr, /ModuleNotFoundError: No module named 'embedprobe'/)
})
