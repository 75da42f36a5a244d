// Cached import: `py.import('os')` once os is in sys.modules.
import { Python } from 'pyembed'
import { native, opsPerSecond, quick, report, target } from './harness.mjs'

const py = new Python()
py.import('os')
const n = quick ? 20000 : 200000
const napiNoop = opsPerSecond(() => native.cancelCall(0))
const pure = py.eval(`1 / min(__import__("timeit").repeat("importlib.import_module('os')", setup="import importlib", number=${n}, repeat=5)) * ${n}`)
const cached = opsPerSecond(() => py.import('os'))

console.log('\n## cached import')
report('baseline: plain Node-API call (no Python)', napiNoop, 'ops/s')
report('baseline: importlib.import_module in Python', pure, 'ops/s')
report("py.import('os')", cached, 'ops/s', { 'Node-API no-op': napiNoop, 'pure Python': pure })
target('≥ 500 k imports/s', cached >= 5e5)
