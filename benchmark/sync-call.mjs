// Sync calls: a no-op Python method through a proxy and through py.call.
import { Python } from 'pyembed'
import { native, opsPerSecond, quick, report, target } from './harness.mjs'

const py = new Python()
py.exec('class C:\n    def noop(self):\n        return None\nc = C()\n')
const c = py.eval('c')

const napiNoop = opsPerSecond(() => native.cancelCall(0))
const pure = py.eval(`1 / min(__import__("timeit").repeat("c.noop()", globals=globals(), number=${quick ? 20000 : 200000}, repeat=5)) * ${quick ? 20000 : 200000}`)
const proxy = opsPerSecond(() => c.noop())
const call = opsPerSecond(() => py.call(c, 'noop'))

console.log('\n## sync call (no-op method, None back)')
report('baseline: plain Node-API call (no Python)', napiNoop, 'ops/s')
report('baseline: c.noop() inside Python', pure, 'ops/s')
report('proxy method c.noop()', proxy, 'ops/s', { 'Node-API no-op': napiNoop, 'pure Python': pure })
report('py.call(c, "noop")', call, 'ops/s', { 'Node-API no-op': napiNoop, 'pure Python': pure })
target('proxy ≥ 1.8 M ops/s', proxy >= 1.8e6)
