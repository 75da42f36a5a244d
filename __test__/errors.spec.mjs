import assert from 'node:assert/strict'
import { afterEach, test } from 'node:test'

import { Python, PythonError } from 'pyembed'
import { thrown } from './helpers.mjs'

const py = new Python()
afterEach(() => globalThis.gc?.())

test('a Python exception becomes a PythonError with type, message and traceback', () => {
  py.exec('def fail(x):\n    return 1 / x\n')
  const err = thrown(() => py.eval('fail(0)'))
  assert.ok(err instanceof PythonError)
  assert.ok(err instanceof Error)
  assert.equal(err.name, 'PythonError')
  assert.equal(err.code, 'ERR_PY_EXCEPTION')
  assert.equal(err.pythonType, 'ZeroDivisionError')
  assert.equal(err.pythonMessage, 'division by zero')
  assert.equal(err.message, 'ZeroDivisionError: division by zero')
  assert.match(err.pythonTraceback, /^Traceback \(most recent call last\):/)
  assert.match(err.pythonTraceback, /line 2, in fail/)
  assert.match(err.stack, /errors\.spec\.mjs/) // the JS stack points at the caller
})

test('exception chains arrive as cause', () => {
  py.exec(`
def chained():
    try:
        {}["k"]
    except KeyError as e:
        raise ValueError("bad value") from e
`)
  const err = thrown(() => py.eval('chained()'))
  assert.equal(err.pythonType, 'ValueError')
  assert.ok(err.cause instanceof PythonError)
  assert.equal(err.cause.pythonType, 'KeyError')
  assert.equal(err.cause.pythonMessage, "'k'")
})

test('an implicit chain (raise inside except: __context__) arrives as cause', () => {
  py.exec(`
def implicit():
    try:
        [][1]
    except IndexError:
        raise RuntimeError("while handling")
def suppressed():
    try:
        [][1]
    except IndexError:
        raise RuntimeError("no context") from None
`)
  const err = thrown(() => py.eval('implicit()'))
  assert.equal(err.pythonType, 'RuntimeError')
  assert.equal(err.pythonMessage, 'while handling')
  assert.ok(err.cause instanceof PythonError)
  assert.equal(err.cause.pythonType, 'IndexError')
  assert.equal(err.cause.pythonMessage, 'list index out of range')
  assert.equal(err.cause.cause, undefined)
  const bare = thrown(() => py.eval('suppressed()'))
  assert.equal(bare.pythonType, 'RuntimeError')
  assert.equal(bare.cause, undefined) // __suppress_context__: no cause
})

test('syntax errors and custom exception classes', () => {
  assert.equal(thrown(() => py.exec('def (')).pythonType, 'SyntaxError')
  py.exec('class AppError(Exception): pass\ndef app(): raise AppError("custom")')
  const err = thrown(() => py.eval('app()'))
  assert.equal(err.pythonType, 'AppError')
  assert.equal(err.message, 'AppError: custom')
})

test('sys.exit() raises SystemExit and Node keeps running', () => {
  const err = thrown(() => py.exec('import sys\nsys.exit(3)'))
  assert.equal(err.pythonType, 'SystemExit')
  assert.equal(err.pythonMessage, '3')
  assert.equal(py.eval('1 + 1'), 2)
})

test('KeyboardInterrupt and other BaseExceptions are errors too', () => {
  assert.equal(thrown(() => py.exec('raise KeyboardInterrupt')).pythonType, 'KeyboardInterrupt')
})

test('wrong argument types give ERR_PY_INVALID_ARG', () => {
  assert.equal(thrown(() => py.exec(42)).code, 'ERR_PY_INVALID_ARG')
  assert.equal(thrown(() => py.eval({})).code, 'ERR_PY_INVALID_ARG')
  assert.equal(thrown(() => py.import(null)).code, 'ERR_PY_INVALID_ARG')
  assert.equal(thrown(() => py.add_syspath(3)).code, 'ERR_PY_INVALID_ARG')
  assert.equal(thrown(() => py.call({}, 'x')).code, 'ERR_PY_INVALID_ARG')
  assert.equal(thrown(() => py.gc('not a proxy')).code, 'ERR_PY_INVALID_ARG')
  const os = py.import('os')
  assert.equal(thrown(() => py.call(os, 'getcwd', 'not an array')).code, 'ERR_PY_INVALID_ARG')
  assert.equal(thrown(() => py.call(os, 42, [])).code, 'ERR_PY_INVALID_ARG')
  assert.equal(thrown(() => py.exec('x = "\0"')).code, 'ERR_PY_INVALID_ARG')
})

test('importing a missing module is a ModuleNotFoundError', () => {
  const err = thrown(() => py.import('no_such_module_here'))
  assert.equal(err.pythonType, 'ModuleNotFoundError')
})

test('an exception whose str() raises still becomes a PythonError', () => {
  py.exec('class Weird(Exception):\n    def __str__(self): raise RuntimeError("no")\n')
  const err = thrown(() => py.exec('raise Weird()'))
  assert.equal(err.pythonType, 'Weird')
  assert.equal(err.pythonMessage, '<unprintable>')
})

test('Python.configure after start gives ERR_PY_ALREADY_INITIALIZED', () => {
  py.eval('1')
  assert.equal(thrown(() => Python.configure({})).code, 'ERR_PY_ALREADY_INITIALIZED')
})
