#!/usr/bin/env node
// Builds pyembed: the native addon (release) against one Python, then the TypeScript layer.
//
// Python: $PYTHON (a path or a command), else `python3` on PATH. It is resolved to the real
// interpreter (through pyenv shims and virtualenvs), pinned for pyo3 with PYO3_PYTHON, and must
// have a shared libpython. Each Python minor version builds into its own target directory, and a
// debug CPython (Py_DEBUG, e.g. Debian's python3.11d) into one of its own (`target/py3.11d`): its
// ABI differs, so it must never share build artefacts with the release interpreter.
import { execFileSync, spawnSync } from 'node:child_process'
import { copyFileSync, existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createRequire } from 'node:module'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(import.meta.url)

function fail(message) {
  console.error(`\npyembed build: ${message}\n`)
  process.exit(1)
}

function resolvePython() {
  const requested = process.env.PYTHON || 'python3'
  const probe = [
    'import json, os, sys, sysconfig',
    'base = getattr(sys, "_base_executable", None) or sys.executable',
    'print(json.dumps({"executable": os.path.realpath(base),',
    '  "version": "%d.%d" % sys.version_info[:2],',
    '  "shared": bool(sysconfig.get_config_var("Py_ENABLE_SHARED")),',
    '  "debug": bool(sysconfig.get_config_var("Py_DEBUG")) or "d" in getattr(sys, "abiflags", ""),',
    '  "libdir": sysconfig.get_config_var("LIBDIR")}))',
  ].join('\n')
  let out
  try {
    out = execFileSync(requested, ['-c', probe], { encoding: 'utf8' })
  } catch (e) {
    fail(`cannot run Python '${requested}' (${e.code || e.message}). Set PYTHON to a Python 3.10+ interpreter.`)
  }
  const info = JSON.parse(out)
  const [major, minor] = info.version.split('.').map(Number)
  if (major !== 3 || minor < 10) fail(`Python ${info.version} is too old: pyembed needs 3.10 or newer.`)
  if (!info.shared) {
    fail(
      `${info.executable} was built without a shared libpython, which embedding needs.\n` +
        `With pyenv: env PYTHON_CONFIGURE_OPTS=--enable-shared pyenv install --force ${info.version}\n` +
        `On Debian/Ubuntu: apt-get install libpython${info.version}-dev`,
    )
  }
  return info
}

function checkRust() {
  const cargo = spawnSync('cargo', ['--version'], { encoding: 'utf8' })
  if (cargo.error || cargo.status !== 0) {
    fail('the Rust toolchain (cargo) was not found. Install it from https://rustup.rs and retry.')
  }
}

function run(cmd, args, env) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } })
  if (r.error) fail(`${cmd} could not start: ${r.error.message}`)
  if (r.status !== 0) fail(`${cmd} ${args.join(' ')} failed`)
}

const python = resolvePython()
checkRust()
const flavour = `${python.version}${python.debug ? 'd' : ''}`
console.log(`pyembed: building for Python ${flavour}${python.debug ? ' (debug build, Py_DEBUG)' : ''} (${python.executable})`)
const targetDir = join(root, 'target', `py${flavour}`)
const env = { PYO3_PYTHON: python.executable, CARGO_TARGET_DIR: targetDir }

let napiCli = null
try {
  const manifest = require.resolve('@napi-rs/cli/package.json')
  napiCli = join(dirname(manifest), require(manifest).bin.napi)
} catch {}
if (napiCli) {
  // Development checkout: also regenerates index.js / index.d.ts (committed).
  run(process.execPath, [napiCli, 'build', '--platform', '--release', '--js', 'index.js', '--dts', 'index.d.ts', '--no-dts-cache', '--target-dir', targetDir], env)
} else {
  // Installed as a dependency: plain cargo, then put the library where index.js looks.
  run('cargo', ['build', '--release'], env)
  copyFileSync(join(targetDir, 'release', 'libpyembed.so'), join(root, 'pyembed.linux-x64-gnu.node'))
}

if (existsSync(join(root, 'node_modules', 'typescript'))) {
  run(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'ts'], {})
} else if (!existsSync(join(root, 'dist', 'index.js'))) {
  fail('the TypeScript layer is not built and typescript is not installed (npm install --include=dev).')
}
