// Conversion: a 100k-float Array into Python and a 100k-float list out of Python.
import { Python } from 'pyembed'
import { opsPerSecond, report, target } from './harness.mjs'

const py = new Python()
py.exec(`
from array import array
floats = [i + 0.5 for i in range(100_000)]
packed = array("d", floats)
def get(): return floats
def length(xs): return len(xs)
`)
const main = py.import('__main__')
const input = Array.from({ length: 100_000 }, (_, i) => i + 0.5)
const megabytes = (100_000 * 8) / 1e6

const jsCopy = opsPerSecond(() => input.slice(), 10) * megabytes
const pyBuild = py.eval('1 / min(__import__("timeit").repeat("list(packed)", globals=globals(), number=50, repeat=5)) * 50') * megabytes
const out = opsPerSecond(() => main.get(), 5) * megabytes
const into = opsPerSecond(() => main.length(input), 5) * megabytes

console.log('\n## conversion (100k floats, 0.8 MB)')
report('baseline: JS Array copy (slice)', jsCopy, 'MB/s')
report('baseline: Python builds the list (list(array))', pyBuild, 'MB/s')
report('Python list → JS Array', out, 'MB/s', { 'JS copy': jsCopy, 'Python list build': pyBuild })
report('JS Array → Python list', into, 'MB/s', { 'JS copy': jsCopy, 'Python list build': pyBuild })
target('Python list → JS Array ≥ 300 MB/s', out >= 300)
target('JS Array → Python list ≥ 300 MB/s', into >= 300)
