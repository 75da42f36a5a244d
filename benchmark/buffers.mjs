// Buffers: an 8 MiB float64 array out of Python as a Float64Array (`py.buffer`, into a new
// or a reused one, `toJS`, `buffer_async`) and an 8 MiB Float64Array into Python as a memoryview, against Python's own
// `bytes(memoryview(a))` copy of the same data, `tolist()`-based conversion and a JS copy, all
// measured in this run. The first calls are reported apart: fresh 8 MiB pages fault in, so the
// steady-state rates also depend on the allocators handing the same memory back.
import { existsSync } from 'node:fs'

import { Python } from 'pyembed'
import { opsPerSecond, quick, report, target } from './harness.mjs'

const py = new Python()
// numpy as installed for the tests by scripts/test-deps.mjs; without it, array.array('d').
const tag = py.eval("__import__('sys').implementation.cache_tag + ('d' if hasattr(__import__('sys'), 'gettotalrefcount') else '')")
const pydeps = new URL(`../target/pydeps/${tag}`, import.meta.url).pathname
if (existsSync(pydeps)) py.add_syspath(pydeps)
py.exec(`
import sys, time, timeit
N = 1 << 20
try:
    import numpy as np
    a = np.arange(N, dtype=np.float64) + 0.5
    exporter = f"numpy {np.__version__} ndarray"
except ImportError:
    from array import array
    a = array("d", (i + 0.5 for i in range(N)))
    exporter = "array.array('d') (numpy not found: run scripts/test-deps.mjs)"
def take(x):
    return x.nbytes if type(x) is memoryview else 8 * len(x)
def first_copy():
    t = time.perf_counter()
    bytes(memoryview(a))
    return time.perf_counter() - t
def copy_rate(number):
    seconds = min(timeit.repeat("bytes(memoryview(a))", globals=globals(), number=number, repeat=5))
    return memoryview(a).nbytes * number / seconds
`)
const main = py.import('__main__')
const arr = py.eval('a')
const bytes = py.eval('memoryview(a).nbytes')
const gb = bytes / 1e9
const src = Float64Array.from({ length: bytes / 8 }, (_, i) => i + 0.5)
const list = Array.from(src)

/** Mean milliseconds and minor page faults per call over `n` calls. */
function perCall(fn, n) {
  const faults = process.resourceUsage().minorPageFault
  const start = process.hrtime.bigint()
  for (let i = 0; i < n; i++) fn()
  const ms = Number(process.hrtime.bigint() - start) / 1e6 / n
  return { ms, faults: (process.resourceUsage().minorPageFault - faults) / n }
}
const show = ({ ms, faults }) => `${ms.toFixed(2)} ms (${(gb / (ms / 1e3)).toFixed(2)} GB/s, ${faults.toFixed(0)} page faults)`

// First calls, before any warm-up: each copy lands in freshly mapped pages.
const firstBuffer = perCall(() => py.buffer(arr), 1)
const firstTake = perCall(() => main.take(src), 1)
const firstJs = perCall(() => new Float64Array(src), 1)
let firstPyMs = 0
const firstPy = { ...perCall(() => (firstPyMs = py.eval('first_copy()') * 1e3), 1), ms: firstPyMs }

const check = py.buffer(arr)
if (check.format !== 'd' || check.shape.join() !== `${bytes / 8}` || !(check.data instanceof Float64Array) || check.data[12345] !== 12345.5) {
  throw new Error(`py.buffer(arr) gave ${check.format} ${check.shape} ${check.data?.constructor.name}`)
}
if (main.take(src) !== bytes || main.take(list) !== bytes) throw new Error('take() did not see all the bytes')

/** GB/s of `fn` (the harness's best round), and minor page faults per call over all rounds. */
function measure(fn) {
  let calls = 0
  const faults = process.resourceUsage().minorPageFault
  const rate = opsPerSecond(() => (calls++, fn()), 1) * gb
  return { rate, faults: (process.resourceUsage().minorPageFault - faults) / calls }
}

/** The same for an async `fn`, awaited one call at a time. */
async function measureAsync(fn) {
  let calls = 0
  const faults = process.resourceUsage().minorPageFault
  await fn() // warm-up
  let best = 0
  for (let r = 0; r < (quick ? 2 : 5); r++) {
    let ops = 0
    let elapsed = 0
    const start = process.hrtime.bigint()
    while (elapsed < (quick ? 50 : 400)) {
      await fn()
      ops++
      calls++
      elapsed = Number(process.hrtime.bigint() - start) / 1e6
    }
    best = Math.max(best, (ops * 1000) / elapsed)
  }
  return { rate: best * gb, faults: (process.resourceUsage().minorPageFault - faults) / (calls + 1) }
}

const pyCopy = py.eval(`copy_rate(${quick ? 10 : 100})`) / 1e9
const jsCopy = measure(() => new Float64Array(src))
const out = measure(() => py.buffer(arr))
const reused = new Float64Array(bytes / 8)
const outInto = measure(() => py.buffer(arr, { into: reused }))
const outToJS = measure(() => arr.toJS())
const outAsync = await measureAsync(() => py.buffer_async(arr))
const outList = measure(() => arr.tolist())
const into = measure(() => main.take(src))
const intoList = measure(() => main.take(list))

console.log(`\n## buffers (${(bytes / 2 ** 20).toFixed(0)} MiB of float64, 1 GB = 1e9 bytes; Python side: ${py.eval('exporter')})`)
report('baseline: JS copy new Float64Array(f64)', jsCopy.rate, 'GB/s')
report('baseline: bytes(memoryview(a)) in Python', pyCopy, 'GB/s')
report('baseline: a.tolist() → JS Array', outList.rate, 'GB/s')
const outVs = { 'bytes(memoryview(a))': pyCopy, tolist: outList.rate, 'JS copy': jsCopy.rate }
report('py.buffer(a) → Float64Array', out.rate, 'GB/s', outVs)
report('py.buffer(a, { into: reused })', outInto.rate, 'GB/s', outVs)
report('a.toJS() → Float64Array', outToJS.rate, 'GB/s', outVs)
report('await py.buffer_async(a), sequential', outAsync.rate, 'GB/s', outVs)
report('baseline: take(Array.from(f64)) → list', intoList.rate, 'GB/s')
report('take(f64) → memoryview', into.rate, 'GB/s', { 'bytes(memoryview(a))': pyCopy, list: intoList.rate, 'JS copy': jsCopy.rate })
const ms = ({ rate }) => `${((gb / rate) * 1e3).toFixed(2)} ms`
const pf = ({ faults }) => `${faults.toFixed(0)} faults`
console.log(`first call (cold): py.buffer ${show(firstBuffer)}; take(f64) ${show(firstTake)}`)
console.log(`                   JS copy ${show(firstJs)}; bytes(memoryview(a)) in Python ${show(firstPy)}`)
console.log(`steady state, per call (best round; page faults over all rounds, ${bytes / 4096} = all pages fresh):`)
console.log(`  py.buffer ${ms(out)}, ${pf(out)}; into ${ms(outInto)}, ${pf(outInto)}; toJS ${ms(outToJS)}, ${pf(outToJS)}; buffer_async ${ms(outAsync)}, ${pf(outAsync)}`)
console.log(`  take(f64) ${ms(into)}, ${pf(into)}; JS copy ${ms(jsCopy)}, ${pf(jsCopy)}`)
target('Python → JS py.buffer ≥ 2 GB/s', out.rate >= 2)
target('JS → Python Float64Array ≥ 2 GB/s', into.rate >= 2)
target('Python → JS py.buffer within 2× of bytes(memoryview(a))', out.rate >= pyCopy / 2)
target('Python → JS py.buffer into a reused Float64Array within 2× of bytes(memoryview(a))', outInto.rate >= pyCopy / 2)
target('JS → Python Float64Array within 2× of bytes(memoryview(a))', into.rate >= pyCopy / 2)
