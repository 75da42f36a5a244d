// pyembed demo: load a Python plugin folder and call it in-process.
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

import { Python, PythonError, kwargs } from 'pyembed'

const py = new Python()
py.add_syspath(join(dirname(fileURLToPath(import.meta.url)), 'plugins'))

const xls = py.import('Excel').Excel()
console.log('read_cell(0, 1)   =', xls.read_cell(0, 1))
console.log('read_cell(1, 0)   =', xls.read_cell(1, 0))
console.log('summary(revenue)  =', xls.summary('revenue', kwargs({ digits: 1 })))

const statistics = py.eval('__import__("statistics")')
console.log('statistics.median =', statistics.median(xls.column('units')))

py.exec('def fib(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a')
console.log('fib(100)          =', py.eval('fib(100)'), '(a BigInt: above 2^53)')

try {
  xls.read_cell(99, 0)
} catch (e) {
  console.log('errors            =', e instanceof PythonError, e.pythonType, '-', e.pythonMessage)
}

// Contexts: interpreters of their own (own GIL on Python 3.12+), each with its own plugin copy.
const lines = []
const contexts = [1, 2].map((n) => new Python({ context: true, stdout: (text) => lines.push(`[${n}] ${text.trim()}`) }))
for (const [i, ctx] of contexts.entries()) {
  ctx.add_syspath(join(dirname(fileURLToPath(import.meta.url)), 'plugins'))
  ctx.exec(`import Excel\nExcel.owner = ${i + 1}\nprint('plugin loaded')`)
}
const sums = await Promise.all(contexts.map((ctx) => ctx.eval_async('sum(i * i for i in range(1_000_000))')))
console.log('contexts          =', contexts.map((ctx) => ctx.eval('__import__("Excel").owner')), 'sums equal:', sums[0] === sums[1], lines)
await Promise.all(contexts.map((ctx) => ctx.close()))

const { python, pyembed, subinterpreters } = Python.version
console.log(`\nPython ${python.split(' ')[0]} embedded by pyembed ${pyembed} (contexts: ${subinterpreters})`)
