// Shared test helpers.
import { spawnSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

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
