// Shared test helpers.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

import { markerOf, pydepsDir, TAG_EXPRESSION } from '../scripts/test-deps.mjs'

export const fixtures = join(dirname(fileURLToPath(import.meta.url)), 'fixtures')

/** Runs an ES module snippet in a fresh node process (Python starts once per process). */
export function runNode(source, { env = {}, timeout = 60_000 } = {}) {
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', source], {
    cwd: join(fixtures, '..', '..'),
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout,
  })
  return { status: result.status, signal: result.signal, stdout: result.stdout, stderr: result.stderr, error: result.error }
}

/** The error a function throws (fails the test if it does not throw). */
export function thrown(fn) {
  try {
    fn()
  } catch (e) {
    return e
  }
  throw new Error('expected an exception')
}

/** The tag of the Python that `py` runs, e.g. `cpython-311d` (scripts/test-deps.mjs). */
export function pythonTag(py) {
  return py.eval(TAG_EXPRESSION)
}

/**
 * The folder where scripts/test-deps.mjs (run by `npm test`) installed numpy for the Python that
 * `py` runs (target/pydeps/<tag>), or null when it is not installed there.
 */
export function numpyPath(py) {
  const dir = pydepsDir(pythonTag(py))
  return existsSync(markerOf(dir)) ? dir : null
}

/** Why numpy does not import in `py` after its folder is added to sys.path, or null if it does. */
function numpyProblem(py) {
  const dir = numpyPath(py)
  if (dir === null) return `numpy is not installed for this Python (${pythonTag(py)}): run node scripts/test-deps.mjs`
  py.add_syspath(dir)
  try {
    py.import('numpy')
    return null
  } catch (e) {
    return `numpy in ${dir} does not import in this Python (${e.message})`
  }
}

/** Adds numpy's folder to `py`'s sys.path; whether `import numpy` then works in `py`. */
export function withNumpy(py) {
  return numpyProblem(py) === null
}

/**
 * For `test(name, { skip: numpySkip(py) }, …)`: false when numpy imports in `py`, else why not.
 * With PYEMBED_REQUIRE_NUMPY=1 (CI) it is always false, so a missing numpy fails the tests.
 */
export function numpySkip(py) {
  const problem = numpyProblem(py)
  return problem === null || process.env.PYEMBED_REQUIRE_NUMPY === '1' ? false : problem
}
