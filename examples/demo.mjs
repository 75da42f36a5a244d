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

const { python, pyembed } = Python.version
console.log(`\nPython ${python.split(' ')[0]} embedded by pyembed ${pyembed}`)
