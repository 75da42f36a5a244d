// Object lifetime: 1,000,000 synchronous calls that each return a new Python object.
import { Python } from 'pyembed'
import { quick, report } from './harness.mjs'

const py = new Python()
py.exec('class Thing:\n    pass\ndef make():\n    return Thing()\ndef nothing():\n    return None\n')
const main = py.import('__main__')
const calls = quick ? 100_000 : 1_000_000

function rssAfter(fn) {
  globalThis.gc?.()
  const before = process.memoryUsage().rss
  let peakHandles = 0
  const start = process.hrtime.bigint()
  for (let i = 0; i < calls; i++) {
    fn()
    if (i % 10_000 === 0) peakHandles = Math.max(peakHandles, py.stats().handles)
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9
  globalThis.gc?.()
  return { grown: (process.memoryUsage().rss - before) / 2 ** 20, peakHandles, rate: calls / seconds }
}

const base = rssAfter(() => main.nothing())
const made = rssAfter(() => main.make())
console.log(`\n## object lifetime (${calls.toLocaleString()} calls in one synchronous loop)`)
report('baseline: calls returning None', base.rate, 'ops/s')
report('calls returning a new object (proxy)', made.rate, 'ops/s', { baseline: base.rate })
console.log(`RSS growth: baseline ${base.grown.toFixed(1)} MiB, new objects ${made.grown.toFixed(1)} MiB; peak live handles ${made.peakHandles.toLocaleString()}`)
