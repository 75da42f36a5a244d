import assert from 'node:assert/strict'
import { test } from 'node:test'

import { Python } from 'pyembed'
import { thrown } from './helpers.mjs'

const py = new Python()
py.exec(`
import datetime, math
def echo(x): return x
def kind(x): return type(x).__name__
def describe(x):
    if isinstance(x, memoryview): return [x.format, x.tolist()]
    if isinstance(x, datetime.datetime): return [x.isoformat()]
    return repr(x)
`)
const main = py.import('__main__')
afterEach()

function afterEach() {
  // Keep finalizers exercised between tests (the suite runs with --expose-gc).
  test.afterEach?.(() => globalThis.gc?.())
}

test('JS primitives map to the documented Python types', () => {
  assert.equal(main.describe(undefined), 'None')
  assert.equal(main.describe(null), 'None')
  assert.equal(main.describe(true), 'True')
  assert.equal(main.describe(3), '3')
  assert.equal(main.kind(3), 'int')
  assert.equal(main.kind(2 ** 53 - 1), 'int')
  assert.equal(main.kind(2 ** 53), 'float') // beyond safe integers a number is a float
  assert.equal(main.describe(1e20), '1e+20')
  assert.equal(main.kind(2.5), 'float')
  assert.equal(main.describe(-0), '-0.0')
  assert.equal(main.describe(NaN), 'nan')
  assert.equal(main.describe(-Infinity), '-inf')
  assert.equal(main.describe(12345678901234567890123n), '12345678901234567890123')
  assert.equal(main.describe(-(2n ** 64n)), '-18446744073709551616')
  assert.equal(main.describe(-5n), '-5')
  assert.equal(main.describe('héllo 😀'), "'héllo 😀'")
})

test('Python scalars map back to JS values', () => {
  assert.equal(py.eval('None'), null)
  assert.equal(py.eval('True'), true)
  assert.equal(py.eval('42'), 42)
  assert.equal(py.eval('2**53 - 1'), Number.MAX_SAFE_INTEGER)
  assert.equal(py.eval('-(2**53 - 1)'), -Number.MAX_SAFE_INTEGER)
  assert.equal(py.eval('2**53'), 2n ** 53n)
  assert.equal(py.eval('-(2**100)'), -(2n ** 100n))
  assert.equal(py.eval('1.5'), 1.5)
  assert.ok(Number.isNaN(py.eval('float("nan")')))
  assert.equal(py.eval('float("-inf")'), -Infinity)
  assert.equal(py.eval('"a\\U0001F600b"'), 'a😀b')
  assert.equal(py.eval('"\\u00e9\\u4e2d"'), 'é中')
  assert.equal(py.eval('"\\ud800"'), '\ud800') // lone surrogate survives
})

test('round trips keep exact values', () => {
  for (const v of [0, 1, -1, 2 ** 31, -(2 ** 40), 0.1, 1e300, 'x', '', '😀😀', true, false, null, 2n ** 70n]) {
    assert.deepEqual(main.echo(v), v)
  }
})

test('bytes and typed arrays', () => {
  const buf = main.echo(Buffer.from([1, 2, 255]))
  assert.ok(Buffer.isBuffer(buf))
  assert.deepEqual([...buf], [1, 2, 255])
  assert.equal(main.describe(new Uint8Array([7, 8])), "b'\\x07\\x08'")
  assert.deepEqual([...py.eval('bytearray(b"ab")')], [97, 98])
  assert.deepEqual(main.describe(new Float64Array([1.5, -2])), ['d', [1.5, -2]])
  assert.deepEqual(main.describe(new Int32Array([-1, 2])), ['i', [-1, 2]])
  assert.deepEqual(main.describe(new Uint16Array([65535])), ['H', [65535]])
  assert.deepEqual(main.describe(new BigInt64Array([-3n])), ['q', [-3]])
  assert.equal(main.describe(new Uint8Array([1, 2, 3]).buffer), "b'\\x01\\x02\\x03'")
  assert.equal(main.describe(new DataView(new Uint8Array([4, 5, 6]).buffer, 1)), "b'\\x05\\x06'")
})

test('a Uint8ClampedArray becomes bytes (a copy)', () => {
  const clamped = new Uint8ClampedArray([0, 300, -5, 128]) // stored clamped: 0, 255, 0, 128
  assert.equal(main.describe(clamped), "b'\\x00\\xff\\x00\\x80'")
  assert.equal(main.kind(clamped), 'bytes')
  const copy = main.echo(clamped)
  clamped[0] = 7
  assert.deepEqual([...copy], [0, 255, 0, 128])
})

test('subclasses convert as their base: an IntEnum member is a number, an IntFlag too', () => {
  py.exec('import enum\nclass Level(enum.IntEnum):\n    LOW = 1\n    HIGH = 2**60\nclass Perm(enum.IntFlag):\n    R = 4\n    W = 2')
  assert.equal(py.eval('Level.LOW'), 1)
  assert.equal(py.eval('Level.HIGH'), 2n ** 60n) // beyond 2^53: BigInt, as for int
  assert.equal(py.eval('Perm.R | Perm.W'), 6)
  assert.deepEqual(py.eval('[Level.LOW, {"level": Level.LOW}]'), [1, { level: 1 }])
  assert.equal(py.eval('True'), true) // bool is an int subclass, yet stays a boolean
})

test('containers both ways', () => {
  assert.equal(main.describe([1, 'a', [2]]), "[1, 'a', [2]]")
  assert.equal(main.describe({ a: 1, b: [true] }), "{'a': 1, 'b': [True]}")
  assert.equal(main.describe(new Map([[1, 'x'], ['k', 2]])), "{1: 'x', 'k': 2}")
  assert.equal(main.describe(new Set([3])), '{3}')
  assert.deepEqual(py.eval('(1, [2, (3,)])'), [1, [2, [3]]])
  assert.deepEqual(py.eval('{"a": {"b": None}}'), { a: { b: null } })
  assert.deepEqual(py.eval('{1: "one", (2, 3): "pair"}'), new Map([[1, 'one'], [[2, 3], 'pair']]))
  assert.deepEqual(py.eval('{1, 2}'), new Set([1, 2]))
  assert.deepEqual(py.eval('frozenset(["x"])'), new Set(['x']))
  assert.deepEqual(main.echo([]), [])
  assert.deepEqual(main.echo({}), {})
  assert.equal(main.describe([1, , 3]), '[1, None, 3]') // holes become None
})

test('a dict key named __proto__ stays an own property', () => {
  const obj = py.eval('{"__proto__": 1, "x": 2}')
  assert.equal(Object.getPrototypeOf(obj), Object.prototype)
  assert.deepEqual(Object.keys(obj), ['__proto__', 'x'])
  assert.equal(Object.getOwnPropertyDescriptor(obj, '__proto__').value, 1)
})

test('long numeric arrays take the packed path and stay exact', () => {
  const values = Array.from({ length: 1000 }, (_, i) => (i % 3 === 0 ? i : i + 0.25))
  values[5] = -0
  values[6] = 2 ** 60 // a float in Python, a number again in JS
  const back = main.echo(values)
  assert.deepEqual(back, values)
  assert.equal(py.call(main, 'kind', [values]), 'list')
  const pyKinds = py.eval('lambda xs: [type(x).__name__ for x in xs]')(values.slice(0, 70))
  assert.equal(pyKinds[0], 'int')
  assert.equal(pyKinds[1], 'float')
  assert.equal(pyKinds[5], 'float') // -0 keeps its sign as a float
  assert.equal(pyKinds[6], 'float')
  const mixed = Array.from({ length: 100 }, (_, i) => (i === 50 ? 'x' : i))
  assert.deepEqual(main.echo(mixed), mixed)
  const chunked = Array.from({ length: 10_000 }, (_, i) => i / 4) // packed in several chunks
  assert.deepEqual(main.echo(chunked), chunked)
  chunked[9_000] = 'late non-number' // found after earlier chunks were converted
  assert.deepEqual(main.echo(chunked), chunked)
  const big = py.eval('[2**60 + i for i in range(100)]')
  assert.equal(typeof big[0], 'bigint')
})

test('Date ↔ datetime, in UTC', () => {
  const when = new Date('2024-02-29T12:34:56.789Z')
  assert.deepEqual(main.describe(when), ['2024-02-29T12:34:56.789000+00:00'])
  const back = py.eval('__import__("datetime").datetime(2020, 1, 2, 3, 4, 5, 6000, tzinfo=__import__("datetime").timezone.utc)')
  assert.ok(back instanceof Date)
  assert.equal(back.toISOString(), '2020-01-02T03:04:05.006Z')
  assert.equal(main.echo(when).getTime(), when.getTime())
  assert.equal(thrown(() => main.echo(new Date(NaN))).code, 'ERR_PY_INVALID_ARG')
})

test('shared and cyclic structures keep their shape, JS → Python', () => {
  const shared = [1]
  const cyclic = { name: 'root', shared, again: shared }
  cyclic.self = cyclic
  py.exec('def check(o): return o["self"] is o and o["shared"] is o["again"]')
  assert.equal(main.check(cyclic), true)
  const arr = [1]
  arr.push(arr)
  assert.equal(py.eval('lambda a: a[1] is a')(arr), true)
  // beyond the linear identity scan: many distinct containers, one shared
  const many = Array.from({ length: 40 }, () => ({}))
  many.push(many[3])
  assert.equal(py.eval('lambda xs: xs[40] is xs[3] and xs[0] is not xs[1]')(many), true)
})

test('shared and cyclic structures keep their shape, Python → JS', () => {
  const arr = py.eval('(lambda l: (l.append(l), l)[1])([1])')
  assert.equal(arr[1], arr)
  const d = py.eval('(lambda d: (d.__setitem__("me", d), d)[1])({})')
  assert.equal(d.me, d)
  const shared = py.eval('(lambda x: [x, x])([1, 2])')
  assert.equal(shared[0], shared[1])
})

test('nesting deeper than the limit fails with ERR_PY_CONVERSION, both ways', () => {
  let deep = []
  for (let i = 0; i < 500; i++) deep = [deep]
  assert.equal(thrown(() => main.echo(deep)).code, 'ERR_PY_CONVERSION')
  assert.equal(thrown(() => py.eval('(lambda: (l := []) or [l := [l] for _ in range(500)] and l)()')).code, 'ERR_PY_CONVERSION')
  let ok = []
  for (let i = 0; i < 390; i++) ok = [ok]
  assert.ok(Array.isArray(main.echo(ok)))
})

test('unsupported JS values are refused with ERR_PY_INVALID_ARG', () => {
  assert.equal(thrown(() => main.echo(Symbol('s'))).code, 'ERR_PY_INVALID_ARG')
  assert.equal(py.eval('callable')(() => 1), true) // functions are callables (callbacks.spec)
})

test('Map keys that Python cannot hash fail with ERR_PY_CONVERSION', () => {
  assert.equal(thrown(() => main.echo(new Map([[[1], 2]]))).code, 'ERR_PY_CONVERSION')
})

test('objects without a JS equivalent come back as proxies; toJS() converts deeply', () => {
  const r = py.eval('range(3)')
  assert.equal(typeof r, 'object')
  assert.equal(String(r), 'range(0, 3)')
  assert.deepEqual(r.toJS(), [0, 1, 2])
  const od = py.eval('__import__("collections").OrderedDict(a=1)')
  assert.deepEqual(od, { a: 1 }) // dict subclasses are dicts
  const mapping = py.eval('__import__("types").MappingProxyType({"k": [1, 2]})')
  assert.deepEqual(mapping.toJS(), { k: [1, 2] })
  const nested = py.eval('[range(2), {"r": range(1)}]')
  assert.equal(String(nested[0]), 'range(0, 2)')
  const frac = py.eval('__import__("fractions").Fraction(1, 4)')
  assert.equal(frac.toJS(), 0.25)
  assert.equal(py.eval('__import__("decimal").Decimal("2.5")').toJS(), 2.5)
})
