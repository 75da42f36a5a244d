#!/usr/bin/env node
// `npm run prebuild`: the binaries a published package carries, one per Python minor version
// 3.10–3.13 for this platform, plus the loader, replacing the binaries there. Each minor's Python is
// $PYEMBED_PYTHON_3_12 (e.g.), else the newest pyenv version of it, else `python3.12` on PATH.
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, rmSync } from 'node:fs'
import { homedir } from 'node:os'
import { basename, join } from 'node:path'

import { binariesDir, buildBinary, buildLoader, buildTypeScript, checkRust, fail, probePython } from './native.mjs'

const MINORS = ['3.10', '3.11', '3.12', '3.13']

function pyenvRoot() {
  try {
    return execFileSync('pyenv', ['root'], { encoding: 'utf8' }).trim()
  } catch {
    return process.env.PYENV_ROOT || join(homedir(), '.pyenv')
  }
}

function newest(versions) {
  const key = (v) => v.split('.').map((n) => parseInt(n, 10) || 0)
  return versions.sort((a, b) => {
    const [x, y] = [key(a), key(b)]
    for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0)
    return 0
  }).pop()
}

function pythonFor(minor) {
  const named = process.env[`PYEMBED_PYTHON_${minor.replace('.', '_')}`]
  if (named) return named
  const versions = join(pyenvRoot(), 'versions')
  if (existsSync(versions)) {
    const found = readdirSync(versions).filter((v) => new RegExp(`^${minor.replace('.', '\\.')}\\.\\d+$`).test(v))
    if (found.length > 0) {
      const exe = join(versions, newest(found), 'bin', `python${minor}`)
      if (existsSync(exe)) return exe
    }
  }
  return `python${minor}`
}

checkRust()
const built = new Set(['pyembed-loader.node'])
for (const minor of MINORS) {
  const python = probePython(pythonFor(minor))
  if (python.minor !== minor) fail(`${pythonFor(minor)} is Python ${python.version}, not ${minor}`)
  if (python.debug) fail(`${pythonFor(minor)} is a debug build; prebuilt binaries are for release builds`)
  built.add(basename(buildBinary(python)))
}
buildLoader()
buildTypeScript()
// Exactly what a package carries: no binary of another build (a debug CPython's) left behind.
for (const name of readdirSync(binariesDir())) {
  if (name.endsWith('.node') && !built.has(name)) rmSync(join(binariesDir(), name))
}
