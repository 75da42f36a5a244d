// Finds the Python to embed and what loading it takes: its shared libpython and the pyembed
// binary built for its minor version. Runs in JS, before any native code of pyembed's but the
// loader; every failure is an `ERR_PY_INIT` that says what was found and what to do.
//
// Where the Python comes from, first match wins: `Python.configure({ executable | venv |
// pythonHome })` (or python.ts's `runtime_path`), then `$VIRTUAL_ENV`, then `$PYTHON`, then
// `python3` on `PATH`. The Python is asked about itself once (python/probe.py, tens of ms).
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs'
import { dirname, isAbsolute, join, resolve } from 'node:path'

import { codedError } from './errors'

/** The options that choose the Python (see `Python.configure`). */
export interface RuntimeRequest {
  executable?: string
  venv?: string
  pythonHome?: string
}

/** A Python found, with what loading it takes. One per process (the loader keeps it). */
export interface Choice {
  /** `sys.executable` for `PyConfig` (a venv's `bin/python` activates the venv); null: none. */
  executable: string | null
  /** `PyConfig.home` (a relocated Python's prefix), or null. */
  home: string | null
  /** The shared libpython to load with global symbol scope. */
  libpython: string
  /** `3.11.7`, or `3.11` when only a libpython was found. */
  version: string
  /** The binary's tag: `cp311`, `cp311d` for a debug build (Py_DEBUG). */
  tag: string
  /** The pyembed binary built for that tag. */
  binary: string
  /** Where the choice came from, for messages. */
  source: string
}

/** What python/probe.py prints. */
interface Probe {
  version: string
  abiflags: string
  debug: boolean
  freeThreaded: boolean
  executable: string
  realExecutable: string
  basePrefix: string
  libdir: string | null
  multiarch: string | null
  ldlibrary: string | null
  instsoname: string | null
}

const SUPPORTED = ['3.10', '3.11', '3.12', '3.13']
const packageRoot = join(__dirname, '..')

/** `linux-x64-gnu`: the folder of prebuilds/ holding this platform's binaries. */
export function platformKey(): string {
  const abi = process.platform !== 'linux' ? '' : isMusl() ? '-musl' : '-gnu'
  return `${process.platform}-${process.arch}${abi}`
}

/**
 * musl's `ldd` is its loader; glibc's is a script that names glibc. Not
 * `process.report.getReport()`: ~7 ms in Node, needs `--allow-sys` in Deno (and reports a glibc
 * there even on musl).
 */
function isMusl(): boolean {
  try {
    return readFileSync('/usr/bin/ldd', 'latin1').includes('musl')
  } catch {
    return existsSync('/etc/alpine-release')
  }
}

/** The folder of this platform's binaries (the loader and one per Python minor version). */
export function binariesDir(): string {
  return join(packageRoot, 'prebuilds', platformKey())
}

function fail(message: string): never {
  throw codedError('ERR_PY_INIT', `cannot start Python: ${message}`)
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile()
  } catch {
    return false
  }
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory()
  } catch {
    return false
  }
}

/** python.ts's `runtime_path`: an executable, a virtualenv or an installation folder. */
export function runtimeOf(path: unknown): RuntimeRequest {
  if (typeof path !== 'string' || path === '') {
    throw codedError('ERR_PY_INVALID_ARG', 'runtime_path must be a non-empty string')
  }
  const full = resolve(path)
  if (!isDir(full)) return { executable: full }
  return isFile(join(full, 'pyvenv.cfg')) ? { venv: full } : { pythonHome: full }
}

/** Finds the Python for `request` (else the environment's) and what loading it takes. */
export function discover(request: RuntimeRequest, env: NodeJS.ProcessEnv = process.env): Choice {
  const { executable, venv, pythonHome } = request
  const home = pythonHome === undefined ? null : resolve(pythonHome)
  if (home !== null && !isDir(home)) fail(`pythonHome ${home} is not a directory`)
  if (executable !== undefined) {
    const exe = resolve(executable)
    if (!isFile(exe)) fail(`executable ${exe} does not exist`)
    return fromExecutable(exe, exe, home, 'Python.configure({ executable })')
  }
  if (venv !== undefined) return fromVenv(resolve(venv), home, 'Python.configure({ venv })')
  if (home !== null) return fromHome(home)
  if (env.VIRTUAL_ENV) return fromVenv(resolve(env.VIRTUAL_ENV), null, '$VIRTUAL_ENV')
  if (env.PYTHON) return fromExecutable(env.PYTHON, null, null, '$PYTHON')
  return fromExecutable('python3', null, null, 'python3 on PATH')
}

/** A venv's `bin/python` is `sys.executable` (that activates the venv); its base Python runs. */
function fromVenv(venv: string, home: string | null, source: string): Choice {
  if (!isFile(join(venv, 'pyvenv.cfg'))) fail(`${venv} is not a virtualenv (no pyvenv.cfg) (from ${source})`)
  const python = ['python', 'python3'].map((name) => join(venv, 'bin', name)).find(isFile)
  if (python === undefined) fail(`virtualenv ${venv} has no bin/python (from ${source})`)
  return fromExecutable(python, python, home, source)
}

/** A Python installation folder: its `bin/python3`, else its `lib/libpython3.X.so`. */
function fromHome(home: string): Choice {
  const source = 'Python.configure({ pythonHome })'
  const bin = join(home, 'bin')
  const exe = ['python3', ...newestFirst(bin, /^python(3\.(\d+))$/).map((m) => m[0])].map((n) => join(bin, n)).find(isFile)
  if (exe !== undefined) return fromExecutable(exe, exe, home, source)
  const lib = join(home, 'lib')
  const [found] = newestFirst(lib, /^libpython(3\.(\d+))(d?)\.so(\.\d+)*$/)
  if (found === undefined) fail(`pythonHome ${home} has neither bin/python3 nor lib/libpython3.X.so`)
  supported(found[1], `${join(lib, found[0])} (from ${source})`)
  const libpython = realpathSync(join(lib, found[0]))
  return withBinary({ executable: null, home, libpython, version: found[1], source }, found[1], found[3] === 'd')
}

/** The files of `dir` whose names match `pattern` (group 2: the minor version), newest first,
 * then shortest name first (`libpython3.12.so` before `libpython3.12d.so`). */
function newestFirst(dir: string, pattern: RegExp): RegExpExecArray[] {
  if (!isDir(dir)) return []
  return readdirSync(dir)
    .map((name) => pattern.exec(name))
    .filter((m): m is RegExpExecArray => m !== null && isFile(join(dir, m[0])))
    .sort((a, b) => Number(b[2]) - Number(a[2]) || a[0].length - b[0].length)
}

/** Asks the Python at `command` about itself, then finds its libpython and our binary. */
function fromExecutable(command: string, executable: string | null, home: string | null, source: string): Choice {
  const probe = runProbe(command, source)
  const minor = probe.version.split('.').slice(0, 2).join('.')
  supported(minor, `${probe.executable} (Python ${probe.version}, from ${source})`)
  if (probe.freeThreaded) {
    fail(`${probe.executable} (from ${source}) is a free-threaded build of Python ${probe.version}, which pyembed does not support yet: use a regular build`)
  }
  const libpython = findLibpython(probe, minor)
  if (libpython === null) {
    fail(
      `${probe.executable} (Python ${probe.version}, from ${source}) has no shared libpython${minor}${probe.abiflags}.so, which embedding needs. ` +
        `Debian/Ubuntu: apt-get install libpython${minor}; pyenv: env PYTHON_CONFIGURE_OPTS=--enable-shared pyenv install --force ${probe.version}; ` +
        `or point Python.configure({ executable }) or $PYTHON at a Python built with --enable-shared`,
    )
  }
  return withBinary(
    { executable: executable ?? probe.executable, home, libpython, version: probe.version, source },
    minor,
    probe.debug,
  )
}

function runProbe(command: string, source: string): Probe {
  const script = readFileSync(join(packageRoot, 'python', 'probe.py'), 'utf8')
  let out: string
  try {
    out = execFileSync(command, ['-S', '-c', script], {
      encoding: 'utf8',
      timeout: 15_000, // it blocks the event loop: a Python that hangs is not one to embed
      stdio: ['ignore', 'pipe', 'pipe'],
      windowsHide: true,
    })
  } catch (e: any) {
    fail(`cannot run ${command} (from ${source}): ${whyNot(e)}. Install Python 3.10–3.13, or name one with $PYTHON or Python.configure({ executable })`)
  }
  try {
    return JSON.parse(out.trim().split('\n').pop()!)
  } catch {
    fail(`${command} (from ${source}) is not a Python pyembed can use: it printed ${JSON.stringify(out.slice(0, 200))}`)
  }
}

/** What a failed probe said: its fatal error, else its last lines, and the variables that steer it. */
function whyNot(e: any): string {
  if (e.code === 'ENOENT') return 'not found'
  if (e.code === 'ETIMEDOUT') return 'it did not answer within 15 s'
  const lines = String(e.stderr ?? '').split('\n').map((l) => l.trim()).filter(Boolean)
  const fatal = lines.find((l) => l.startsWith('Fatal Python error'))
  const said = fatal ?? (lines.slice(-3).join(' / ') || e.message)
  const steering = ['PYTHONHOME', 'PYTHONPATH'].filter((name) => process.env[name]).map((name) => `$${name}=${process.env[name]}`)
  return steering.length > 0 ? `${said} (with ${steering.join(', ')})` : said
}

/** The first shared libpython of that Python's on disk: where sysconfig says, else in its prefix. */
function findLibpython(probe: Probe, minor: string): string | null {
  const dirs = [probe.libdir, join(probe.basePrefix, 'lib'), join(dirname(dirname(probe.realExecutable)), 'lib')]
    .filter((d): d is string => typeof d === 'string' && isAbsolute(d))
    .flatMap((d) => (probe.multiarch ? [d, join(d, probe.multiarch)] : [d]))
  const stem = `libpython${minor}${probe.abiflags}`
  const names = [probe.instsoname, probe.ldlibrary, `${stem}.so.1.0`, `${stem}.so`].filter(
    (n): n is string => typeof n === 'string' && n.startsWith(stem) && n.includes('.so'),
  )
  for (const dir of new Set(dirs)) {
    for (const name of names) {
      const path = join(dir, name)
      if (isFile(path)) return realpathSync(path)
    }
  }
  return null
}

function supported(minor: string, what: string): void {
  if (!SUPPORTED.includes(minor)) {
    fail(`${what} is not supported: pyembed supports Python ${SUPPORTED[0]}–${SUPPORTED[SUPPORTED.length - 1]}`)
  }
}

function withBinary(found: Omit<Choice, 'tag' | 'binary'>, minor: string, debug: boolean): Choice {
  const tag = `cp${minor.replace('.', '')}${debug ? 'd' : ''}`
  const binary = join(binariesDir(), `pyembed.${tag}.node`)
  if (!existsSync(binary)) {
    const have = existsSync(binariesDir())
      ? readdirSync(binariesDir()).filter((n) => /^pyembed\.cp\d+d?\.node$/.test(n)).map((n) => n.split('.')[1])
      : []
    fail(
      `pyembed has no binary for Python ${minor}${debug ? ' (debug build)' : ''} on ${platformKey()} ` +
        `(found ${found.libpython} from ${found.source}; binaries here: ${have.join(', ') || 'none'}). ` +
        `Build one (needs Rust): PYEMBED_BUILD_FROM_SOURCE=1 PYTHON=<that python> npm rebuild pyembed; or choose another Python`,
    )
  }
  return { ...found, tag, binary }
}
