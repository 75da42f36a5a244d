// Runs every benchmark in its own process. BENCH_QUICK=1 for a short smoke run, which does not
// check the targets; a full run exits non-zero when a benchmark fails or misses its target.
import { spawnSync } from 'node:child_process'
import { cpus } from 'node:os'

import { Python } from 'pyembed'

const { python } = Python.version
console.log(`# pyembed benchmarks — node ${process.version}, Python ${python.split(' ')[0]}, ${cpus().length}× ${cpus()[0].model}`)
if (process.env.BENCH_QUICK === '1') console.log('# smoke run (BENCH_QUICK=1): short rounds, too noisy to judge; targets are not checked')
const failed = []
for (const file of ['sync-call.mjs', 'async-call.mjs', 'conversion.mjs', 'buffers.mjs', 'import.mjs', 'handles.mjs', 'contexts.mjs', 'tasks.mjs']) {
  const r = spawnSync(process.execPath, ['--expose-gc', new URL(file, import.meta.url).pathname], { stdio: 'inherit' })
  if (r.status !== 0) failed.push(file)
}
if (failed.length) console.error(`\n# failed or missed a target: ${failed.join(', ')}`)
process.exit(failed.length ? 1 : 0)
