// Building pyembed's native parts (used by build.mjs, prebuild.mjs and install.mjs):
// - the binary for one Python minor version, built against any build of that minor (it does not
//   link libpython: see .cargo/config.toml), into prebuilds/<platform>/pyembed.cp3XX.node
//   (`cp311d` for a debug CPython, whose ABI differs);
// - the loader (Python-independent), prebuilds/<platform>/pyembed-loader.node;
// - a check that no binary creates external ArrayBuffers (Electron's memory cage forbids them);
// - the TypeScript layer.
// Each Python minor version builds into its own cargo target directory (target/py3.11, ...).
import { execFileSync, spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

import { importedSymbols } from './elf.mjs'

export const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(import.meta.url)

/** Imports that make external ArrayBuffers or Buffers, which Electron's memory cage refuses. */
const FORBIDDEN = ['napi_create_external_arraybuffer', 'napi_create_external_buffer']

export function fail(message) {
  console.error(`\npyembed build: ${message}\n`)
  process.exit(1)
}

/** The folder of this platform's binaries; the same rule as `platformKey` in ts/discover.ts. */
export function binariesDir() {
  let musl = false
  try {
    musl = readFileSync('/usr/bin/ldd', 'latin1').includes('musl')
  } catch {
    musl = existsSync('/etc/alpine-release')
  }
  const abi = process.platform !== 'linux' ? '' : musl ? '-musl' : '-gnu'
  return join(root, 'prebuilds', `${process.platform}-${process.arch}${abi}`)
}

/** Asks the Python `command` about itself (python/probe.py); refuses what cannot be embedded. */
export function probePython(command) {
  const script = readFileSync(join(root, 'python', 'probe.py'), 'utf8')
  let out
  try {
    out = execFileSync(command, ['-S', '-c', script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
  } catch (e) {
    fail(`cannot run Python '${command}' (${e.code || e.message}). Set PYTHON to a Python 3.10–3.13 interpreter.`)
  }
  const info = JSON.parse(out.trim().split('\n').pop())
  const [major, minor] = info.version.split('.').map(Number)
  if (major !== 3 || minor < 10) fail(`Python ${info.version} is too old: pyembed needs 3.10 or newer.`)
  if (!info.shared) {
    fail(
      `${info.executable} was built without a shared libpython, which embedding needs.\n` +
        `With pyenv: env PYTHON_CONFIGURE_OPTS=--enable-shared pyenv install --force ${info.version}\n` +
        `On Debian/Ubuntu: apt-get install libpython${major}.${minor}-dev`,
    )
  }
  return { ...info, minor: `${major}.${minor}`, tag: `cp${major}${minor}${info.debug ? 'd' : ''}` }
}

export function checkRust() {
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

/** The napi CLI's entry, present in a development checkout (it regenerates index.d.ts). */
function napiCli() {
  try {
    const manifest = require.resolve('@napi-rs/cli/package.json')
    return join(dirname(manifest), require(manifest).bin.napi)
  } catch {
    return null
  }
}

/** Puts the built library `from` at `to` by rename, never rewriting a file in place: a process
 * that has the old one loaded keeps a consistent copy. */
function place(from, to) {
  copyFileSync(from, `${to}.tmp`)
  renameSync(`${to}.tmp`, to)
}

/** Fails if the binary at `path` imports a Node-API function that makes external buffers. */
export function checkBinary(path) {
  const bad = importedSymbols(readFileSync(path)).filter((s) => FORBIDDEN.includes(s))
  if (bad.length > 0) {
    fail(`${path} imports ${bad.join(', ')}: external ArrayBuffers are refused by Electron's memory cage; copy into a JS-owned buffer instead`)
  }
}

/** Builds the binary for the Python `python` (from `probePython`); returns its path. */
export function buildBinary(python) {
  const label = `Python ${python.version}${python.debug ? ' (debug build, Py_DEBUG)' : ''}`
  console.log(`pyembed: building the binary for ${label} (${python.realExecutable})`)
  const targetDir = join(root, 'target', `py${python.minor}${python.debug ? 'd' : ''}`)
  const env = { PYO3_PYTHON: python.realExecutable, CARGO_TARGET_DIR: targetDir }
  const out = join(binariesDir(), `pyembed.${python.tag}.node`)
  mkdirSync(binariesDir(), { recursive: true })
  const cli = napiCli()
  if (cli) {
    const built = join(targetDir, 'napi')
    run(process.execPath, [cli, 'build', '--platform', '--release', '--no-js', '--dts', '../../../index.d.ts', '--no-dts-cache', '--target-dir', targetDir, '--output-dir', built], env)
    renameSync(join(built, 'pyembed.linux-x64-gnu.node'), out)
  } else {
    run('cargo', ['build', '--release', '-p', 'pyembed'], env)
    place(join(targetDir, 'release', 'libpyembed.so'), out)
  }
  checkBinary(out)
  return out
}

/** Builds the loader; returns its path. */
export function buildLoader() {
  const targetDir = join(root, 'target', 'loader')
  run('cargo', ['build', '--release', '-p', 'pyembed-loader'], { CARGO_TARGET_DIR: targetDir })
  const out = join(binariesDir(), 'pyembed-loader.node')
  mkdirSync(binariesDir(), { recursive: true })
  place(join(targetDir, 'release', 'libpyembed_loader.so'), out)
  checkBinary(out)
  return out
}

/** Compiles the TypeScript layer into dist/ when TypeScript is installed (a checkout). */
export function buildTypeScript() {
  if (existsSync(join(root, 'node_modules', 'typescript'))) {
    run(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'ts'], {})
  } else if (!existsSync(join(root, 'dist', 'index.js'))) {
    fail('the TypeScript layer is not built and typescript is not installed (npm install --include=dev).')
  }
}
