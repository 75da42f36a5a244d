// Runs every benchmark in its own process. BENCH_QUICK=1 for a short smoke run.
import { spawnSync } from 'node:child_process'
import { cpus } from 'node:os'

import { Python } from 'pyembed'

const { python } = Python.version
console.log(`# pyembed benchmarks — node ${process.version}, Python ${python.split(' ')[0]}, ${cpus().length}× ${cpus()[0].model}`)
if (process.env.BENCH_QUICK === '1') console.log('# smoke run (BENCH_QUICK=1): short rounds, too noisy to judge the targets')
let failed = false
for (const file of ['sync-call.mjs', 'async-call.mjs', 'conversion.mjs', 'import.mjs', 'handles.mjs', 'contexts.mjs']) {
  const r = spawnSync(process.execPath, ['--expose-gc', new URL(file, import.meta.url).pathname], { stdio: 'inherit' })
  failed ||= r.status !== 0
}
process.exit(failed ? 1 : 0)
