// Installs what the tests import but pyembed does not need: numpy, for the Python the tests run
// against, into target/pydeps/<tag> (the tests add that folder to sys.path; nothing is installed
// into the Python itself). That Python: $VIRTUAL_ENV/bin/python, else $PYTHON, else python3 on
// PATH (ts/discover.ts in short). <tag> is sys.implementation.cache_tag, plus `d` for a debug
// build (Py_DEBUG), so each Python keeps its own folder.
//
// Done once per tag: a marker file written after a successful install says so, and the install
// goes to a scratch folder renamed into place, so an interrupted one is retried. Bounded in time.
// Without network or pip it warns in one line and exits 0 (the numpy tests then skip), unless
// PYEMBED_REQUIRE_NUMPY=1 (CI), where it exits 1 with the reason.
//
// Also a module: __test__/helpers.mjs takes the tag expression and the folder from here.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

export const NUMPY = 'numpy==2.2.6'
/** A Python expression giving the tag of the Python that evaluates it, e.g. `cpython-311d`. */
export const TAG_EXPRESSION = "__import__('sys').implementation.cache_tag + ('d' if hasattr(__import__('sys'), 'gettotalrefcount') else '')"
const TIMEOUT_MS = 180_000
const root = join(dirname(fileURLToPath(import.meta.url)), '..')

/** The folder holding the test dependencies of the Python with that tag. */
export function pydepsDir(tag) {
  return join(root, 'target', 'pydeps', tag)
}

/** The file whose presence says the install into `dir` completed. */
export function markerOf(dir) {
  return join(dir, `.${NUMPY.replace('==', '-')}.installed`)
}

function testPython(env = process.env) {
  if (env.VIRTUAL_ENV) return join(env.VIRTUAL_ENV, 'bin', 'python')
  return env.PYTHON || 'python3'
}

/** Runs `python args…`; the error is a one-line reason, or null. */
function run(python, args, timeout) {
  const r = spawnSync(python, args, { encoding: 'utf8', timeout, killSignal: 'SIGKILL' })
  if (r.error?.code === 'ETIMEDOUT') return { error: `timed out after ${timeout / 1000} s` }
  if (r.error) return { error: r.error.message }
  if (r.status !== 0) {
    const lines = `${r.stderr}\n${r.stdout}`.trim().split('\n').filter((l) => l.trim())
    return { error: `exit ${r.status ?? r.signal}: ${lines.at(-1) ?? 'no output'}` }
  }
  return { stdout: r.stdout.trim() }
}

function install() {
  const python = testPython()
  const tag = run(python, ['-c', `print(${TAG_EXPRESSION})`], 30_000)
  if (tag.error) return `cannot ask ${python} for its tag (${tag.error})`
  const dir = pydepsDir(tag.stdout)
  if (existsSync(markerOf(dir))) return null
  const scratch = `${dir}.partial-${process.pid}`
  rmSync(scratch, { recursive: true, force: true })
  mkdirSync(dirname(dir), { recursive: true })
  const started = Date.now()
  const pip = run(python, ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', '-q', '--target', scratch, NUMPY], TIMEOUT_MS)
  try {
    if (pip.error) return `${python} -m pip install ${NUMPY} failed (${pip.error})`
    writeFileSync(markerOf(scratch), `${NUMPY} for ${python}\n`)
    if (existsSync(markerOf(dir))) return null // another run finished first
    rmSync(dir, { recursive: true, force: true }) // an unfinished earlier attempt
    renameSync(scratch, dir)
  } finally {
    rmSync(scratch, { recursive: true, force: true })
  }
  console.log(`test-deps: ${NUMPY} installed for ${python} into ${dir} in ${((Date.now() - started) / 1000).toFixed(0)} s`)
  return null
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const failure = install()
  if (failure !== null) {
    if (process.env.PYEMBED_REQUIRE_NUMPY === '1') {
      console.error(`test-deps: ${failure}; PYEMBED_REQUIRE_NUMPY=1 requires numpy`)
      process.exit(1)
    }
    console.warn(`test-deps: warning: ${failure}; the numpy tests will skip`)
  }
}
