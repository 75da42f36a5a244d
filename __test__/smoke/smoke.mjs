// The smoke suite: one pass over pyembed's main paths, as a plain ES module script (no node:test),
// so it runs unchanged under Node, Bun and Deno (scripts/ci/runtimes.sh). One line per check,
// then `N passed, N failed`; exit code 0 only if every check passed.
// SMOKE_VENV_PACKAGE=<module>: also checks that module imports from $VIRTUAL_ENV.
import { realpathSync } from 'node:fs'
import { createRequire } from 'node:module'
import { sep } from 'node:path'

import { Python, PythonError, kwargs } from 'pyembed'

let passed = 0
let failed = 0

/** Runs one check (sync or async); it fails by throwing. */
async function check(name, fn) {
  try {
    await fn()
    passed++
    console.log(`ok   ${name}`)
  } catch (e) {
    failed++
    console.log(`FAIL ${name}: ${e?.stack ?? e}`)
  }
}

/** Throws unless `actual` and `expected` have the same JSON form and the same type. */
function same(actual, expected) {
  const show = (v) => (typeof v === 'bigint' ? `${v}n` : JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? `${x}n` : x)))
  if (typeof actual !== typeof expected || show(actual) !== show(expected)) {
    throw new Error(`expected ${show(expected)}, got ${show(actual)}`)
  }
}

const runtime = globalThis.Deno ? `deno ${Deno.version.deno}` : globalThis.Bun ? `bun ${Bun.version}` : `node ${process.version}`
console.log(`runtime: ${runtime}`)
const py = new Python()
await check('Python.version', () => {
  const { python, libpython, source } = Python.version
  console.log(`     python ${python.split(' ')[0]}, ${libpython}, from ${source}`)
  if (!/^3\.1[0-3]\.\d+/.test(python)) throw new Error(`unexpected version ${python}`)
})

await check('require() gives the same Python class', () => {
  same(createRequire(import.meta.url)('pyembed').Python === Python, true)
})

await check('import math; math.sqrt', () => same(py.import('math').sqrt(2), Math.SQRT2))

await check('C extensions load (ssl, ctypes, sqlite3)', () => {
  same(py.import('ssl').OPENSSL_VERSION.startsWith('OpenSSL'), true)
  same(py.import('ctypes').sizeof(py.import('ctypes').c_int64), 8)
  same(py.eval('__import__("sqlite3").connect(":memory:").execute("select 6 * 7").fetchone()'), [42])
})

// CPython installs its own SIGINT handler when `signal` is imported while SIGINT is at SIG_DFL,
// as it is under Bun and Deno (Node installs a handler of its own): Ctrl-C would then be swallowed.
await check('SIGINT stays the host\'s (no Python handler)', () => {
  same(py.eval('__import__("signal").getsignal(__import__("signal").SIGINT) is __import__("signal").default_int_handler'), false)
})

await check('exec and eval', () => {
  py.exec('def greet(name, punct="!"):\n    return f"hello {name}{punct}"')
  same(py.eval('greet("js")'), 'hello js!')
})

await check('a call with kwargs', () => same(py.import('__main__').greet('py', kwargs({ punct: '?' })), 'hello py?'))

await check('conversion round trips', () => {
  const echo = py.eval('lambda x: x')
  same(echo({ a: 1, b: [true, null, 'x'] }), { a: 1, b: [true, null, 'x'] })
  same(echo('astral 🐍 ü'), 'astral 🐍 ü')
  same(echo(2n ** 70n), 2n ** 70n)
  same(echo(0.1), 0.1)
  same([...echo(Buffer.from([0, 1, 255]))], [0, 1, 255])
  const back = py.eval('{"n": 2**53, "f": 1.5, "b": b"hi", "t": (1, 2)}')
  same([back.n, back.f, back.t, Buffer.isBuffer(back.b) && back.b.toString()], [2n ** 53n, 1.5, [1, 2], 'hi'])
})

await check('buffers: py.buffer, buffer_async, TypedArrays and { data, shape } into Python', async () => {
  const grid = py.eval('memoryview(__import__("array").array("d", [1.5, -2, 3, 4.25, 5, 6])).cast("B").cast("d", (2, 3))')
  const { data, shape, format } = py.buffer(grid)
  same([data instanceof Float64Array, [...data], shape, format], [true, [1.5, -2, 3, 4.25, 5, 6], [2, 3], 'd'])
  same([...(await py.buffer_async(grid)).data], [1.5, -2, 3, 4.25, 5, 6])
  const describe = py.eval('lambda mv: [mv.format, list(mv.shape), mv.tolist()]')
  same(describe(new Int16Array([-1, 7])), ['h', [2], [-1, 7]])
  same(describe({ data: new BigInt64Array([1n, -2n, 3n, 4n]), shape: [2, 2] }), ['q', [2, 2], [[1, -2], [3, 4]]])
  same(describe(py.buffer(grid)), ['d', [2, 3], [[1.5, -2, 3], [4.25, 5, 6]]])
})

await check('a proxy and its methods', () => {
  py.exec('class Account:\n    def __init__(self, owner):\n        self.owner, self.balance = owner, 0\n' +
    '    def deposit(self, amount):\n        self.balance += amount\n        return self.balance\n' +
    '    def __str__(self):\n        return f"{self.owner}: {self.balance}"')
  const account = py.import('__main__').Account('ada')
  same([account.deposit(5), account.deposit(7), account.balance, String(account)], [5, 12, 12, 'ada: 12'])
  account.owner = 'bob'
  same(py.call(account, '__str__'), 'bob: 12')
  const path = py.import('pathlib').PurePosixPath('/a/b.txt')
  same([path.name, path.suffix, path.with_suffix('.md').as_posix()], ['b.txt', '.txt', '/a/b.md'])
})

await check('async calls: eval_async, call_async, method_async', async () => {
  same(await py.eval_async('sum(range(10))'), 45)
  same(await py.call_async(py.import('math'), 'gcd', [12, 18]), 6)
  same(await py.import('math').factorial_async(20), 2432902008176640000n)
  py.exec('import asyncio\nasync def later(x):\n    await asyncio.sleep(0.01)\n    return x * 2')
  same(await py.import('__main__').later_async(21), 42)
})

await check('JS callbacks called from Python', async () => {
  py.exec('def apply(f, *a, **k):\n    return f(*a, **k)')
  const main = py.import('__main__')
  same(main.apply((a, b, k) => a + b + k.c, 1, 2, kwargs({ c: 3 })), 6)
  py.expose('smoke_host', { double: (x) => x * 2, name: 'smoke' })
  same(py.eval('__import__("smoke_host").double(21)'), 42)
  same(py.eval('__import__("smoke_host").name'), 'smoke')
  // From the interpreter's own thread (an _async call): marshalled to the JS thread.
  same(await main.apply_async((x) => Promise.resolve(x + 1), 41), 42)
})

await check('a Python exception arrives as PythonError', () => {
  let err
  try {
    py.eval('1 / 0')
  } catch (e) {
    err = e
  }
  same(err instanceof PythonError, true)
  same([err.code, err.pythonType, err.pythonMessage, err.message],
    ['ERR_PY_EXCEPTION', 'ZeroDivisionError', 'division by zero', 'ZeroDivisionError: division by zero'])
})

await check('an async call rejects with PythonError', async () => {
  const err = await py.eval_async('{}["k"]').then(() => null, (e) => e)
  same([err instanceof PythonError, err.code, err.pythonType], [true, 'ERR_PY_EXCEPTION', 'KeyError'])
})

await check('a context: eval_async and close()', async () => {
  const ctx = new Python({ context: true })
  ctx.exec('x = 40')
  same(ctx.eval('x + 1'), 41)
  same(await ctx.eval_async('x + 2'), 42)
  same(py.eval('"x" in globals()'), false)
  same(await ctx.close(), true)
  let code
  try {
    ctx.eval('1')
  } catch (e) {
    code = e.code
  }
  same(code, 'ERR_PY_CONTEXT_CLOSED')
})

const venvPackage = process.env.SMOKE_VENV_PACKAGE
if (venvPackage) {
  await check(`${venvPackage} imports from $VIRTUAL_ENV`, () => {
    const venv = process.env.VIRTUAL_ENV
    if (!venv) throw new Error('SMOKE_VENV_PACKAGE needs VIRTUAL_ENV')
    const file = realpathSync(py.import(venvPackage).__file__)
    if (!file.startsWith(realpathSync(venv) + sep)) throw new Error(`${file} is not under ${venv}`)
    same(Python.version.source, '$VIRTUAL_ENV')
  })
}

console.log(`${passed} passed, ${failed} failed`)
process.exitCode = failed === 0 ? 0 : 1
