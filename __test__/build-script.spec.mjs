// scripts/build.mjs refuses unusable toolchains with a message that says how to fix them.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'

import { fixtures } from './helpers.mjs'

const script = join(fixtures, '..', '..', 'scripts', 'build.mjs')

function fakePython(shared) {
  const dir = mkdtempSync(join(tmpdir(), 'pyembed-fakepy-'))
  const exe = join(dir, 'python3')
  writeFileSync(
    exe,
    `#!/bin/sh\necho '{"executable": "${exe}", "version": "3.12", "shared": ${shared}, "libdir": "/nowhere"}'\n`,
  )
  chmodSync(exe, 0o755)
  return { dir, exe }
}

function build(env) {
  return spawnSync(process.execPath, [script], { env: { ...process.env, ...env }, encoding: 'utf8' })
}

test('a Python without a shared libpython is refused with the pyenv fix', () => {
  const r = build({ PYTHON: fakePython(false).exe })
  assert.equal(r.status, 1)
  assert.match(r.stderr, /built without a shared libpython/)
  assert.match(r.stderr, /PYTHON_CONFIGURE_OPTS=--enable-shared pyenv install --force 3\.12/)
})

test('a Python that cannot run is named', () => {
  const r = build({ PYTHON: '/no/such/python3' })
  assert.equal(r.status, 1)
  assert.match(r.stderr, /cannot run Python '\/no\/such\/python3'/)
})

test('a missing Rust toolchain is reported with where to get it', () => {
  const { dir, exe } = fakePython(true)
  const r = build({ PYTHON: exe, PATH: dir }) // a PATH with no cargo
  assert.equal(r.status, 1)
  assert.match(r.stderr, /Rust toolchain \(cargo\) was not found.*rustup\.rs/)
})
