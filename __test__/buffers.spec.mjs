// Buffers (issue 11): `py.buffer(p)` / `py.buffer_async(p)` copy a Python buffer exporter into a
// TypedArray `{ data, shape, format }`, `p.toJS()` gives a 1-D numeric exporter as its TypedArray,
// and TypedArrays (and `{ data, shape }`) reach Python as writable memoryviews. The stdlib
// exporters (array.array, memoryview, ctypes) run everywhere; the numpy cases run where
// scripts/test-deps.mjs installed numpy (`npm test` does), and fail instead of skipping under
// PYEMBED_REQUIRE_NUMPY=1.
import assert from 'node:assert/strict'
import { afterEach, test } from 'node:test'

import { Python, PythonError, callOptions } from 'pyembed'
import { numpyPath, numpySkip, pythonTag, runNode, thrown } from './helpers.mjs'

const py = new Python()
const [major, minor] = py.eval('__import__("sys").version_info[:2]')
const pep688 = major === 3 && minor >= 12 // classes with __buffer__ (PEP 688)
const skipNumpy = numpySkip(py)

// What every interpreter under test gets, contexts included (stdlib modules that load anywhere).
const DESCRIBE = `
import array, math, sys, types
def describe(m):
    """What a JS value became in Python."""
    if not isinstance(m, memoryview):
        return {'type': type(m).__name__, 'repr': repr(m)}
    return {'type': 'memoryview', 'format': m.format, 'readonly': m.readonly, 'shape': list(m.shape),
            'values': m.tolist(), 'owner': type(m.obj).__name__}
def signs(m):
    return [math.copysign(1.0, x) for x in m.tolist()]
def write(m, i, v):
    m[i] = v
    return m.tolist()
def raw_format(o):
    return memoryview(o).format
def released_memoryview():
    m = memoryview(b'ab')
    m.release()
    return m
`
py.exec(DESCRIBE)
py.exec(`
import ctypes, mmap, pickle
def released_picklebuffer():
    b = pickle.PickleBuffer(b'ab')
    b.release()
    return b
def closed_mmap():
    m = mmap.mmap(-1, 16)
    m.close()
    return m
`)
py.exec('try:\n    import numpy as np\nexcept ImportError:\n    np = None')
py.exec(`
def numpy_view(m):
    a = np.asarray(m)
    return {'dtype': str(a.dtype), 'shape': list(a.shape), 'shares': bool(np.shares_memory(a, m)), 'writeable': bool(a.flags.writeable)}
`)
const main = py.import('__main__')
afterEach(() => globalThis.gc?.())

/** Asserts a `py.buffer` result: a plain `{ data, shape, format }` with exactly these values. */
function assertBuffer(result, Class, format, shape, values) {
  assert.equal(Object.getPrototypeOf(result), Object.prototype)
  assert.deepEqual(Object.keys(result).sort(), ['data', 'format', 'shape'])
  assert.ok(result.data instanceof Class, `data is a ${result.data?.constructor?.name}, expected a ${Class.name}`)
  assert.equal(result.format, format)
  assert.deepEqual(result.shape, shape)
  assert.deepEqual(Array.from(result.data), values) // Object.is per element: NaN, -0 and BigInts exact
}

/** The buffer path still works (checked after each error). */
function assertStillWorks(instance = py) {
  assertBuffer(instance.buffer(instance.eval("__import__('array').array('h', [-1, 2])")), Int16Array, 'h', [2], [-1, 2])
}

/** A Python list literal of these numbers (nan, ±inf and -0.0 spelled out). */
function pyFloats(values) {
  const spell = (x) => (Number.isNaN(x) ? "float('nan')" : x === Infinity ? "float('inf')" : x === -Infinity ? "float('-inf')" : Object.is(x, -0) ? '-0.0' : String(x))
  return `[${values.map(spell).join(', ')}]`
}

/** What Python's `tolist()` gives back in JS for these integers: numbers where safe, else BigInts. */
function asPyInts(values) {
  return values.map((v) => (typeof v === 'bigint' && v >= -(2n ** 53n - 1n) && v <= 2n ** 53n - 1n ? Number(v) : v))
}

const F64 = [0.1, -0, 0, Infinity, -Infinity, NaN, Number.MAX_VALUE, Number.MIN_VALUE, -2.5]
const F32 = [0.1, -0, Infinity, -Infinity, NaN, 3.4028234663852886e38, 1.401298464324817e-45, 16777217, -2.5]
const F32_ROUNDED = F32.map(Math.fround) // 0.1 → 0.10000000149011612, 16777217 → 16777216
const I64 = [-(2n ** 63n), 2n ** 63n - 1n, 0n, -1n]
const I64_PY = '[-2**63, 2**63 - 1, 0, -1]'
const U64 = [0n, 2n ** 64n - 1n, 1n]
const U64_PY = '[0, 2**64 - 1, 1]'

// [Python expression, the format it exports, TypedArray, normalized format, shape, values]
const stdlibCases = [
  ["array.array('b', [-128, 127, 0, -1])", 'b', Int8Array, 'b', [4], [-128, 127, 0, -1]],
  ["array.array('B', [0, 255, 1])", 'B', Uint8Array, 'B', [3], [0, 255, 1]],
  ["array.array('h', [-32768, 32767, -1])", 'h', Int16Array, 'h', [3], [-32768, 32767, -1]],
  ["array.array('H', [0, 65535])", 'H', Uint16Array, 'H', [2], [0, 65535]],
  ["array.array('i', [-2**31, 2**31 - 1, -1])", 'i', Int32Array, 'i', [3], [-(2 ** 31), 2 ** 31 - 1, -1]],
  ["array.array('I', [0, 2**32 - 1])", 'I', Uint32Array, 'I', [2], [0, 2 ** 32 - 1]],
  [`array.array('q', ${I64_PY})`, 'q', BigInt64Array, 'q', [4], I64],
  [`array.array('l', ${I64_PY})`, 'l', BigInt64Array, 'q', [4], I64], // C long: 8 bytes here
  [`array.array('Q', ${U64_PY})`, 'Q', BigUint64Array, 'Q', [3], U64],
  [`array.array('L', ${U64_PY})`, 'L', BigUint64Array, 'Q', [3], U64],
  [`array.array('f', ${pyFloats(F32)})`, 'f', Float32Array, 'f', [F32.length], F32_ROUNDED],
  [`array.array('d', ${pyFloats(F64)})`, 'd', Float64Array, 'd', [F64.length], F64],
  ["memoryview(bytes([0, 1, 1, 0])).cast('?')", '?', Uint8Array, '?', [4], [0, 1, 1, 0]],
  [`memoryview(array.array('q', ${I64_PY})).cast('B').cast('n')`, 'n', BigInt64Array, 'q', [4], I64],
  [`memoryview(array.array('Q', ${U64_PY})).cast('B').cast('N')`, 'N', BigUint64Array, 'Q', [3], U64],
  ["memoryview(b'\\x00\\xff')", 'B', Uint8Array, 'B', [2], [0, 255]],
  ["memoryview(bytearray(b'ab'))", 'B', Uint8Array, 'B', [2], [97, 98]],
  // ctypes exports standard sizes with a byte-order prefix; '>' is not this machine's order
  ['(ctypes.c_int32 * 3)(-2**31, 2**31 - 1, 7)', '<i', Int32Array, 'i', [3], [-(2 ** 31), 2 ** 31 - 1, 7]],
  [`(ctypes.c_int64 * 4)(*${I64_PY})`, '<q', BigInt64Array, 'q', [4], I64],
  ['(ctypes.c_bool * 3)(True, False, True)', '<?', Uint8Array, '?', [3], [1, 0, 1]],
  ['(ctypes.c_int32.__ctype_be__ * 3)(-2**31, 2**31 - 1, 7)', '>i', Int32Array, 'i', [3], [-(2 ** 31), 2 ** 31 - 1, 7]],
  ['(ctypes.c_uint16.__ctype_be__ * 2)(1, 65535)', '>H', Uint16Array, 'H', [2], [1, 65535]],
  [`(ctypes.c_double.__ctype_be__ * ${F64.length})(*${pyFloats(F64)})`, '>d', Float64Array, 'd', [F64.length], F64],
  [`(ctypes.c_uint64.__ctype_be__ * 3)(*${U64_PY})`, '>Q', BigUint64Array, 'Q', [3], U64],
]

test('every format of array.array, memoryview and ctypes, with exact values', () => {
  for (const [expr, raw, Class, format, shape, values] of stdlibCases) {
    const p = py.eval(expr)
    assert.equal(main.raw_format(p), raw, expr)
    assertBuffer(py.buffer(p), Class, format, shape, values)
  }
})

test('NaN, -0 and the float32 rounding of array.array("f") arrive exactly', () => {
  const { data } = py.buffer(py.eval(`array.array('f', ${pyFloats(F32)})`))
  assert.ok(Number.isNaN(data[4]))
  assert.ok(Object.is(data[1], -0))
  assert.equal(data[0], Math.fround(0.1))
  assert.notEqual(data[0], 0.1)
  assert.equal(data[7], 16777216)
  const doubles = py.buffer(py.eval(`array.array('d', ${pyFloats(F64)})`)).data
  assert.ok(Object.is(doubles[1], -0))
  assert.ok(Object.is(doubles[2], 0))
  assert.equal(doubles[7], 5e-324)
})

test('data is a copy: later changes on either side do not reach the other', () => {
  py.exec("held = array.array('i', [1, 2, 3])")
  const held = py.eval('held')
  const { data } = py.buffer(held)
  py.exec('held[0] = 99')
  assert.deepEqual(Array.from(data), [1, 2, 3])
  data[1] = 42
  assert.deepEqual(py.eval('held.tolist()'), [99, 2, 3])
  const again = py.buffer(held).data
  assert.notEqual(again, data)
  assert.notEqual(again.buffer, data.buffer)
  assert.deepEqual(Array.from(again), [99, 2, 3])
  // a read-only exporter is copied too
  const { data: bytes } = py.buffer(py.eval("memoryview(b'xyz')"))
  bytes[0] = 0
  assert.deepEqual(Array.from(py.buffer(py.eval("memoryview(b'xyz')")).data), [120, 121, 122])
})

test('memoryview slices with steps are gathered in order; empty exporters give empty arrays', () => {
  assertBuffer(py.buffer(py.eval("memoryview(array.array('d', range(10)))[::3]")), Float64Array, 'd', [4], [0, 3, 6, 9])
  assertBuffer(py.buffer(py.eval("memoryview(array.array('i', range(10)))[::-2]")), Int32Array, 'i', [5], [9, 7, 5, 3, 1])
  assertBuffer(py.buffer(py.eval("memoryview(array.array('q', range(10)))[7:2:-3]")), BigInt64Array, 'q', [2], [7n, 4n])
  assertBuffer(py.buffer(py.eval("array.array('d')")), Float64Array, 'd', [0], [])
  assertBuffer(py.buffer(py.eval("memoryview(array.array('h', range(5)))[3:3]")), Int16Array, 'h', [0], [])
  const twoD = py.eval("memoryview(array.array('h', range(6))).cast('B').cast('h', [2, 3])")
  assertBuffer(py.buffer(twoD), Int16Array, 'h', [2, 3], [0, 1, 2, 3, 4, 5])
  const zeroD = py.eval("memoryview(array.array('d', [2.5])).cast('B').cast('d', [])")
  assertBuffer(py.buffer(zeroD), Float64Array, 'd', [], [2.5])
})

const testbuffer = py.eval('__import__("importlib.util").util.find_spec("_testbuffer") is not None')
test('indirect (PIL-style, suboffsets) and odd-strided exporters arrive in C order', { skip: !testbuffer && "this Python was built without CPython's _testbuffer module" }, () => {
  py.exec(`
import _testbuffer as tb
pil = tb.ndarray(list(range(12)), shape=[3, 4], format='d', flags=tb.ND_PIL)
pil_sliced = tb.ndarray(list(range(24)), shape=[2, 3, 4], format='h', flags=tb.ND_PIL)[::-1, ::2]
fortran = tb.ndarray(list(range(6)), shape=[2, 3], format='i', flags=tb.ND_FORTRAN)
`)
  for (const name of ['pil', 'pil_sliced', 'fortran']) {
    const { data, shape } = py.buffer(py.eval(name))
    const expected = py.eval(`memoryview(${name}).tolist()`)
    assert.deepEqual(shape, py.eval(`list(memoryview(${name}).shape)`), name)
    assert.deepEqual([...data], expected.flat(Infinity), name)
  }
  assert.equal(py.eval('memoryview(pil).suboffsets[0]'), 0) // really indirect
})

test('each export is released: the exporter can grow afterwards and keeps its reference count', async () => {
  // array('u') exports wchar_t as 'w', a format without a TypedArray ('u' is deprecated on 3.13)
  py.exec(`grows = array.array('i', [1, 2, 3])\ntext = array.array('${minor >= 13 ? 'w' : 'u'}', 'ab')`)
  const grows = py.eval('grows')
  const text = py.eval('text')
  const counts = () => py.eval('[sys.getrefcount(grows), sys.getrefcount(text)]')
  const before = counts()
  for (let i = 0; i < 50; i++) {
    assertBuffer(py.buffer(grows), Int32Array, 'i', [3], [1, 2, 3])
    assert.equal(thrown(() => py.buffer(text)).code, 'ERR_PY_CONVERSION')
    assert.deepEqual(Array.from(grows.toJS()), [1, 2, 3])
  }
  assertBuffer(await py.buffer_async(grows), Int32Array, 'i', [3], [1, 2, 3])
  await assert.rejects(py.buffer_async(text), { code: 'ERR_PY_CONVERSION' })
  assert.deepEqual(counts(), before)
  py.exec('grows.append(4)\ntext.append("c")') // BufferError if an export were still held
  assert.deepEqual(py.eval('[len(grows), len(text)]'), [4, 3])
})

test('a released proxy fails with ERR_PY_RELEASED', async () => {
  const p = py.eval("array.array('d', [1])")
  p[Symbol.dispose]()
  assert.equal(thrown(() => py.buffer(p)).code, 'ERR_PY_RELEASED')
  await assert.rejects(py.buffer_async(p), { code: 'ERR_PY_RELEASED' })
  assertStillWorks()
})

test('a class with __buffer__ exports through it (Python 3.12+)', { skip: !pep688 && 'PEP 688 __buffer__ needs Python 3.12+' }, () => {
  py.exec(`
class Wrapper:
    def __init__(self, inner):
        self.inner = inner
    def __buffer__(self, flags):
        return memoryview(self.inner)
`)
  assertBuffer(py.buffer(py.eval("Wrapper(array.array('I', [7, 2**32 - 1]))")), Uint32Array, 'I', [2], [7, 2 ** 32 - 1])
})

test('objects without the buffer protocol fail with ERR_PY_CONVERSION', () => {
  for (const expr of ['range(3)', 'object()', '__import__("collections").deque([1, 2])', "types.MappingProxyType({'a': 1})", '__import__("array")']) {
    const p = py.eval(expr)
    assert.equal(typeof p, 'object', `${expr} is a proxy`)
    const e = thrown(() => py.buffer(p))
    assert.equal(e.code, 'ERR_PY_CONVERSION', `${expr}: ${e.message}`)
    assertStillWorks()
  }
})

test('unsupported element formats fail with ERR_PY_CONVERSION naming the format', () => {
  py.exec('class Pair(ctypes.Structure):\n    _fields_ = [("a", ctypes.c_int32), ("b", ctypes.c_double)]')
  const cases = ["memoryview(b'ab').cast('c')", '(ctypes.c_char * 2)()', '(Pair * 2)()', "memoryview(bytes(16)).cast('P')"]
  if (minor >= 12) cases.push("memoryview(bytes(4)).cast('e')") // memoryview knows 'e' from 3.12
  for (const expr of cases) {
    const p = py.eval(expr)
    const format = main.raw_format(p)
    const e = thrown(() => py.buffer(p))
    assert.equal(e.code, 'ERR_PY_CONVERSION', `${expr}: ${e.message}`)
    assert.ok(e.message.includes(`'${format}'`), `the message names '${format}': ${e.message}`)
    assertStillWorks()
  }
})

test('values that are not proxies fail with ERR_PY_INVALID_ARG', () => {
  for (const value of [42, 'abc', {}, [1, 2], undefined, null, new Float64Array(2), Buffer.from('ab'), { data: new Float64Array(1), shape: [1], format: 'd' }]) {
    assert.equal(thrown(() => py.buffer(value)).code, 'ERR_PY_INVALID_ARG', String(value))
  }
  assert.equal(thrown(() => py.buffer()).code, 'ERR_PY_INVALID_ARG')
  assertStillWorks()
})

test('an exporter that raises while exporting gives its exception as a PythonError', () => {
  for (const [fn, message] of [['released_memoryview', /released memoryview/], ['released_picklebuffer', /released PickleBuffer/], ['closed_mmap', /mmap closed/]]) {
    const p = py.eval(`${fn}()`)
    const e = thrown(() => py.buffer(p))
    assert.ok(e instanceof PythonError, `${fn}: ${e}`)
    assert.equal(e.code, 'ERR_PY_EXCEPTION')
    assert.equal(e.pythonType, 'ValueError')
    assert.match(e.pythonMessage, message)
    assertStillWorks()
  }
})

test('a __buffer__ that raises gives that exception (Python 3.12+)', { skip: !pep688 && 'PEP 688 __buffer__ needs Python 3.12+' }, () => {
  py.exec(`
class Refused(Exception):
    pass
class Unwilling:
    def __buffer__(self, flags):
        raise Refused('not today')
`)
  const e = thrown(() => py.buffer(py.eval('Unwilling()')))
  assert.ok(e instanceof PythonError)
  assert.equal(e.code, 'ERR_PY_EXCEPTION')
  assert.equal(e.pythonType, 'Refused')
  assert.equal(e.pythonMessage, 'not today')
  assertStillWorks()
})

test('toJS of a one-dimensional numeric exporter is its TypedArray', () => {
  const cases = [
    [`array.array('d', ${pyFloats(F64)})`, Float64Array, F64],
    [`array.array('f', ${pyFloats(F32)})`, Float32Array, F32_ROUNDED],
    [`array.array('l', ${I64_PY})`, BigInt64Array, I64],
    [`array.array('Q', ${U64_PY})`, BigUint64Array, U64],
    ["array.array('b', [-128, 127])", Int8Array, [-128, 127]],
    ["array.array('B', [0, 255])", Uint8Array, [0, 255]],
    ["memoryview(array.array('H', [1, 65535]))", Uint16Array, [1, 65535]],
    ["memoryview(array.array('i', range(10)))[::2]", Int32Array, [0, 2, 4, 6, 8]],
    ["array.array('d')", Float64Array, []],
  ]
  for (const [expr, Class, values] of cases) {
    const got = py.eval(expr).toJS()
    assert.ok(got instanceof Class, `${expr}: ${got?.constructor?.name}`)
    assert.deepEqual(Array.from(got), values, expr)
  }
  assert.deepEqual(py.eval("memoryview(bytes([0, 1, 1])).cast('?')").toJS(), [false, true, true])
})

test('toJSON (JSON.stringify) keeps Arrays of numbers', () => {
  assert.equal(JSON.stringify(py.eval("array.array('d', [1.5, -2])")), '[1.5,-2]')
  assert.equal(JSON.stringify(py.eval("array.array('q', [1, 2])")), '[1,2]') // a BigInt64Array would throw
  assert.deepEqual(py.eval("array.array('i', [3])").toJSON(), [3])
})

test('py.buffer(p, { into }) copies into the given TypedArray and returns it as data', () => {
  const p = py.eval("memoryview(array.array('i', range(6))).cast('B').cast('i', [2, 3])")
  const into = new Int32Array(6)
  const result = py.buffer(p, { into })
  assert.equal(result.data, into)
  assertBuffer(result, Int32Array, 'i', [2, 3], [0, 1, 2, 3, 4, 5])
  py.exec("refill = array.array('i', [7, 8, 9, 10, 11, 12])")
  assert.equal(py.buffer(py.eval('refill'), { into }).data, into) // reused
  assert.deepEqual(Array.from(into), [7, 8, 9, 10, 11, 12])
  // a view: only its own elements are written
  const whole = new Float64Array(6)
  py.buffer(py.eval("array.array('d', [1.5, -0.0])"), { into: whole.subarray(2, 4) })
  assert.deepEqual(Array.from(whole), [0, 0, 1.5, -0, 0, 0])
  const flags = new Uint8Array(3)
  assert.equal(py.buffer(py.eval("memoryview(bytes([1, 0, 1])).cast('?')"), { into: flags }).format, '?')
  assert.deepEqual(Array.from(flags), [1, 0, 1])
  const longs = new BigInt64Array(4)
  py.buffer(py.eval(`array.array('l', ${I64_PY})`), { into: longs })
  assert.deepEqual(Array.from(longs), I64)
  assert.notEqual(py.buffer(p, {}).data, into)
  assert.notEqual(py.buffer(p, { into: undefined }).data, into)
})

test('py.buffer(p, { into }) of the wrong kind or length fails with ERR_PY_INVALID_ARG and writes nothing', () => {
  const p = py.eval("array.array('i', [1, 2, 3])")
  const detached = new Int32Array(3)
  structuredClone(detached.buffer, { transfer: [detached.buffer] })
  for (const into of [new Int32Array(2), new Int32Array(4), new Uint32Array(3), new Float32Array(3), new Int8Array(12), [0, 0, 0], new DataView(new ArrayBuffer(12)), detached, 3]) {
    const before = ArrayBuffer.isView(into) && into.buffer.byteLength ? Array.from(new Uint8Array(into.buffer)) : null
    assert.equal(thrown(() => py.buffer(p, { into })).code, 'ERR_PY_INVALID_ARG', into?.constructor?.name ?? String(into))
    if (before) assert.deepEqual(Array.from(new Uint8Array(into.buffer)), before)
  }
  assert.equal(thrown(() => py.buffer(py.eval("memoryview(b'ab')"), { into: new Int8Array(2) })).code, 'ERR_PY_INVALID_ARG') // 'B' needs a Uint8Array
  assert.equal(thrown(() => py.buffer(p, 42)).code, 'ERR_PY_INVALID_ARG')
  assertStillWorks()
})

test('toJS nests TypedArrays; bytes and bytearray stay Buffers', () => {
  const got = py.eval("types.MappingProxyType({'a': array.array('f', [0.1]), 'l': [array.array('b', [-1])], 'b': b'ab', 'c': bytearray(b'c')})").toJS()
  assert.deepEqual(Object.keys(got).sort(), ['a', 'b', 'c', 'l'])
  assert.ok(got.a instanceof Float32Array)
  assert.deepEqual(Array.from(got.a), [Math.fround(0.1)])
  assert.ok(got.l[0] instanceof Int8Array)
  assert.deepEqual(Array.from(got.l[0]), [-1])
  assert.ok(Buffer.isBuffer(got.b))
  assert.deepEqual([...got.b], [97, 98])
  assert.ok(Buffer.isBuffer(got.c))
  assert.deepEqual([...got.c], [99])
})

// [TypedArray, format, numpy dtype, what tolist() gives in JS]
const jsCases = [
  [new Int8Array([-128, 127, 0, -1]), 'b', 'int8', [-128, 127, 0, -1]],
  [new Int16Array([-32768, 32767, -1]), 'h', 'int16', [-32768, 32767, -1]],
  [new Uint16Array([0, 65535]), 'H', 'uint16', [0, 65535]],
  [new Int32Array([-(2 ** 31), 2 ** 31 - 1, -1]), 'i', 'int32', [-(2 ** 31), 2 ** 31 - 1, -1]],
  [new Uint32Array([0, 2 ** 32 - 1]), 'I', 'uint32', [0, 2 ** 32 - 1]],
  [new Float32Array(F32), 'f', 'float32', F32_ROUNDED],
  [new Float64Array(F64), 'd', 'float64', F64],
  [new BigInt64Array(I64), 'q', 'int64', asPyInts(I64)],
  [new BigUint64Array(U64), 'Q', 'uint64', asPyInts(U64)],
]

test('each TypedArray arrives as a writable memoryview with its format and exact values', () => {
  for (const [array, format, , values] of jsCases) {
    const name = array.constructor.name
    assert.deepEqual(main.describe(array), { type: 'memoryview', format, readonly: false, shape: [array.length], values, owner: 'bytearray' }, name)
  }
  assert.deepEqual(main.signs(new Float64Array([-0, 0, -Infinity, NaN])), [-1, 1, -1, 1])
  assert.deepEqual(main.signs(new Float32Array([-0, 0])), [-1, 1])
  // a view converts only its own elements
  const whole = new Float64Array([1, 2, 3, 4])
  assert.deepEqual(main.describe(whole.subarray(1, 3)).values, [2, 3])
  assert.deepEqual(main.describe(new Int32Array(0)), { type: 'memoryview', format: 'i', readonly: false, shape: [0], values: [], owner: 'bytearray' })
})

test('a memoryview made from a TypedArray is a copy: writes on either side stay there', () => {
  const array = new Int32Array([1, 2, 3])
  assert.deepEqual(main.write(array, 0, -7), [-7, 2, 3])
  assert.deepEqual(Array.from(array), [1, 2, 3])
  py.exec('def keep(m):\n    global kept\n    kept = m')
  main.keep(array)
  array[1] = 100
  assert.deepEqual(py.eval('kept.tolist()'), [1, 2, 3])
})

test('Buffer, Uint8Array, Uint8ClampedArray, ArrayBuffer and DataView still become bytes', () => {
  for (const value of [Buffer.from([1, 2]), new Uint8Array([1, 2]), new Uint8ClampedArray([1, 2]), new Uint8Array([1, 2]).buffer, new DataView(new Uint8Array([9, 1, 2]).buffer, 1)]) {
    assert.deepEqual(main.describe(value), { type: 'bytes', repr: "b'\\x01\\x02'" }, value.constructor.name)
  }
})

test('{ data, shape } becomes a memoryview of that shape', () => {
  const mv = (values, format, shape) => ({ type: 'memoryview', format, readonly: false, shape, values, owner: 'bytearray' })
  assert.deepEqual(main.describe({ data: new Float64Array([1, 2, 3, 4, 5, 6]), shape: [2, 3] }), mv([[1, 2, 3], [4, 5, 6]], 'd', [2, 3]))
  assert.deepEqual(main.describe({ shape: [3, 1, 2], data: new Int16Array([1, -2, 3, -4, 5, -6]) }), mv([[[1, -2]], [[3, -4]], [[5, -6]]], 'h', [3, 1, 2]))
  assert.deepEqual(main.describe({ data: new Uint8Array([1, 2, 3, 4]), shape: [2, 2] }), mv([[1, 2], [3, 4]], 'B', [2, 2])) // not bytes
  assert.deepEqual(main.describe({ data: new Uint8Array([5]), shape: [1], format: 'B' }), mv([5], 'B', [1]))
  assert.deepEqual(main.describe({ data: new Uint8Array([1, 0, 1, 1]), shape: [2, 2], format: '?' }), mv([[true, false], [true, true]], '?', [2, 2]))
  assert.deepEqual(main.describe({ data: new Float64Array([1, 2]), shape: [2], format: 'd' }), mv([1, 2], 'd', [2]))
  assert.deepEqual(main.describe({ data: new BigUint64Array([2n ** 64n - 1n, 0n]), shape: [2, 1], format: 'Q' }), mv([[2n ** 64n - 1n], [0]], 'Q', [2, 1]))
  assert.deepEqual(main.describe({ data: new Float64Array([2.5]), shape: [] }), mv(2.5, 'd', []))
  assert.deepEqual(main.describe({ data: new Float32Array(0), shape: [0] }), mv([], 'f', [0]))
  const deepest = main.describe({ data: new Int8Array([-5]), shape: Array(64).fill(1) }) // memoryview's limit
  assert.equal(deepest.shape.length, 64)
  assert.equal(deepest.format, 'b')
  // a view's own elements, in a list
  const whole = new Int32Array([0, 1, 2, 3, 4, 5, 6])
  assert.deepEqual(py.eval('lambda l: [describe(x) for x in l]')([{ data: whole.subarray(1, 5), shape: [2, 2] }]), [mv([[1, 2], [3, 4]], 'i', [2, 2])])
})

test('{ data, shape } with a zero among several dimensions is an empty memoryview of that shape', () => {
  // memoryview.cast refuses zeros in a shape: a 1-D one casts without it (over a bytearray),
  // one of several dimensions is made from a bare buffer description (no underlying object).
  const mv = (values, format, shape) =>
    ({ type: 'memoryview', format, readonly: false, shape, values, owner: shape.length > 1 ? 'NoneType' : 'bytearray' })
  assert.deepEqual(main.describe({ data: new Int32Array(0), shape: [2, 0] }), mv([[], []], 'i', [2, 0]))
  assert.deepEqual(main.describe({ data: new Float64Array(0), shape: [0, 3] }), mv([], 'd', [0, 3]))
  // what py.buffer gives for such an exporter goes back the same way
  const empty = py.buffer(py.eval("memoryview(array.array('h'))"))
  assert.deepEqual(main.describe(empty), mv([], 'h', [0]))
  assert.deepEqual(main.describe({ ...empty, shape: [0, 5] }), mv([], 'h', [0, 5]))
})

test("'?' data arrives as Python booleans (0 or 1) whatever its bytes; an empty shape too large for strides is refused", () => {
  assert.deepEqual(main.describe({ data: new Uint8Array([0, 1, 2, 255]), shape: [4], format: '?' }).values, [false, true, true, true])
  assert.deepEqual(py.eval('lambda m: bytes(m)')({ data: new Uint8Array([0, 1, 2, 255]), shape: [2, 2], format: '?' }), Buffer.from([0, 1, 1, 1]))
  for (const shape of [[0, 2 ** 53 - 1, 2 ** 53 - 1], [2 ** 40, 2 ** 40, 0], [0, 2 ** 40, 2 ** 40]]) {
    assert.equal(thrown(() => main.describe({ data: new Float64Array(0), shape })).code, 'ERR_PY_INVALID_ARG', String(shape))
  }
})

test('bad shapes and disagreeing formats fail with ERR_PY_INVALID_ARG', () => {
  const six = new Float64Array(6)
  const bad = [
    { data: six, shape: [4] },
    { data: six, shape: [2, 4] },
    { data: six, shape: [] },
    { data: six, shape: [-2, -3] },
    { data: six, shape: [-6] },
    { data: six, shape: [2.5, 2.4] },
    { data: six, shape: [6.5] },
    { data: six, shape: [NaN] },
    { data: six, shape: [Infinity] },
    { data: six, shape: ['6'] },
    { data: six, shape: '6' },
    { data: six, shape: 6 },
    { data: six, shape: null },
    { data: six, shape: { 0: 6, length: 1 } },
    { data: new Int8Array(1), shape: Array(65).fill(1) },
    { data: six, shape: [6], format: 'f' },
    { data: six, shape: [6], format: 'q' },
    { data: six, shape: [6], format: 'dd' },
    { data: six, shape: [6], format: 42 },
    { data: new Int32Array(2), shape: [2], format: '?' },
    { data: new Uint8Array(2), shape: [2], format: 'b' },
    { data: new Int8Array(2), shape: [2], format: 'B' },
    { data: new BigInt64Array(1), shape: [1], format: 'Q' },
  ]
  for (const value of bad) {
    const e = thrown(() => main.describe(value))
    assert.equal(e.code, 'ERR_PY_INVALID_ARG', `${JSON.stringify({ ...value, data: value.data.constructor.name })}: ${e.message}`)
  }
  assert.deepEqual(main.describe({ data: six, shape: [6] }).shape, [6])
})

test('objects that are not exactly { data, shape[, format] } with a TypedArray stay dicts', () => {
  assert.deepEqual(main.describe({ data: [1, 2], shape: [2] }), { type: 'dict', repr: "{'data': [1, 2], 'shape': [2]}" })
  assert.equal(main.describe({ data: new Float64Array(2) }).type, 'dict')
  assert.equal(main.describe({ data: new Float64Array(2), shape: [2], extra: 1 }).type, 'dict')
  assert.equal(main.describe({ shape: [2] }).type, 'dict')
  assert.equal(py.eval('lambda d: type(d["data"]).__name__')({ data: new Float64Array(2) }), 'memoryview')
})

test('a detached TypedArray or DataView fails with ERR_PY_INVALID_ARG', () => {
  const detach = (view) => {
    const { buffer } = view
    structuredClone(buffer, { transfer: [buffer] })
    assert.equal(buffer.byteLength, 0)
    return view
  }
  for (const view of [detach(new Float64Array([1, 2])), detach(new Int32Array(3)), detach(new Uint8Array([1])), detach(new DataView(new ArrayBuffer(4)))]) {
    assert.equal(thrown(() => main.describe(view)).code, 'ERR_PY_INVALID_ARG', view.constructor.name)
  }
  assert.equal(thrown(() => main.describe({ data: detach(new Float64Array(2)), shape: [0] })).code, 'ERR_PY_INVALID_ARG')
  assert.equal(thrown(() => main.describe([1, detach(new Int16Array(2))])).code, 'ERR_PY_INVALID_ARG')
  assert.equal(main.describe(new Float64Array(0)).format, 'd') // empty, not detached: fine
})

test('py.buffer output passed back to Python round-trips shape, format and values', () => {
  const cases = [
    ["array.array('h', [-32768, 0, 32767])", 'h'],
    ["memoryview(array.array('d', range(10)))[::3]", 'd'],
    ["memoryview(bytes([1, 0, 1])).cast('?')", '?'],
    [`array.array('L', ${U64_PY})`, 'Q'],
    ["memoryview(array.array('i', range(6))).cast('B').cast('i', [3, 2])", 'i'],
    ["memoryview(array.array('d', [2.5])).cast('B').cast('d', [])", 'd'],
    ['(ctypes.c_int32.__ctype_be__ * 2)(-1, 2**31 - 1)', 'i'],
  ]
  py.exec('def reference(o):\n    m = memoryview(o)\n    return [list(m.shape), m.tolist() if m.format[0] not in "<>" else list(o)]')
  for (const [expr, format] of cases) {
    const p = py.eval(expr)
    const back = main.describe(py.buffer(p))
    const [shape, values] = main.reference(p)
    assert.deepEqual(back, { type: 'memoryview', format, readonly: false, shape, values, owner: 'bytearray' }, expr)
  }
})

test('the same TypedArray passed twice arrives as two equal copies, as binaries always did', () => {
  // Identity is kept for containers (conversion.spec), not for binaries: each occurrence of a
  // Buffer or TypedArray is its own copy.
  const array = new Float64Array([1.5, 2])
  assert.deepEqual(py.eval('lambda a, b: [a is b, a == b]')(array, array), [false, true])
  assert.deepEqual(py.eval('lambda l: [l[0] is l[1], l[0] == l[1]]')([array, array]), [false, true])
  const bytes = Buffer.from('not a singleton')
  assert.deepEqual(py.eval('lambda a, b: [a is b, a == b]')(bytes, bytes), [false, true])
})

test('buffer_async resolves with what buffer returns and rejects with the same codes', async () => {
  for (const [expr, , Class, format, shape, values] of stdlibCases) {
    assertBuffer(await py.buffer_async(py.eval(expr)), Class, format, shape, values)
  }
  await assert.rejects(py.buffer_async(42), { code: 'ERR_PY_INVALID_ARG' }) // rejects, does not throw
  await assert.rejects(py.buffer_async(py.eval('range(2)')), { code: 'ERR_PY_CONVERSION' })
  const e = await py.buffer_async(py.eval("memoryview(b'ab').cast('c')")).catch((err) => err)
  assert.equal(e.code, 'ERR_PY_CONVERSION')
  assert.ok(e.message.includes("'c'"), e.message)
  const raised = await py.buffer_async(py.eval('released_memoryview()')).catch((err) => err)
  assert.ok(raised instanceof PythonError)
  assert.equal(raised.pythonType, 'ValueError')
  await assert.rejects(py.buffer_async(py.eval("array.array('i')"), callOptions({ signal: AbortSignal.abort() })), { code: 'ERR_PY_ABORTED' })
  assertBuffer(await py.buffer_async(py.eval("array.array('i', [3])"), callOptions({ timeoutMs: 10_000 })), Int32Array, 'i', [1], [3])
  assertStillWorks()
})

test('call_async converts TypedArrays and { data, shape } as the sync call does', async () => {
  for (const [array, format, , values] of jsCases) {
    assert.deepEqual(await py.call_async(main, 'describe', [array]), { type: 'memoryview', format, readonly: false, shape: [array.length], values, owner: 'bytearray' })
  }
  const shaped = { data: new Uint32Array([1, 2, 3, 4, 5, 6]), shape: [3, 2] }
  assert.deepEqual(await py.call_async(main, 'describe', [shaped]), main.describe(shaped))
  assert.deepEqual(await main.signs_async(new Float64Array([-0, 0])), [-1, 1])
  await assert.rejects(py.call_async(main, 'describe', [{ data: new Float64Array(2), shape: [3] }]), { code: 'ERR_PY_INVALID_ARG' })
  const detached = new Float64Array(2)
  structuredClone(detached.buffer, { transfer: [detached.buffer] })
  await assert.rejects(py.call_async(main, 'describe', [detached]), { code: 'ERR_PY_INVALID_ARG' })
})

test('in an isolated context: buffer, buffer_async, toJS and TypedArray arguments', async () => {
  const ctx = new Python({ context: true })
  let kept
  try {
    ctx.exec(DESCRIBE)
    const cmain = ctx.import('__main__')
    const doubles = ctx.eval(`array.array('d', ${pyFloats(F64)})`)
    kept = doubles
    assertBuffer(ctx.buffer(doubles), Float64Array, 'd', [F64.length], F64)
    assertBuffer(await ctx.buffer_async(doubles), Float64Array, 'd', [F64.length], F64)
    const stepped = ctx.eval("memoryview(array.array('q', range(10)))[::-3]")
    assertBuffer(ctx.buffer(stepped), BigInt64Array, 'q', [4], [9n, 6n, 3n, 0n])
    assertBuffer(await ctx.buffer_async(stepped), BigInt64Array, 'q', [4], [9n, 6n, 3n, 0n])
    const twoD = ctx.eval("memoryview(array.array('h', range(6))).cast('B').cast('h', [3, 2])")
    assertBuffer(await ctx.buffer_async(twoD), Int16Array, 'h', [3, 2], [0, 1, 2, 3, 4, 5])
    const into = new Float64Array(F64.length)
    assert.equal(ctx.buffer(doubles, { into }).data, into)
    assert.deepEqual(Array.from(into), F64)
    const toJS = ctx.eval(`array.array('L', ${U64_PY})`).toJS()
    assert.ok(toJS instanceof BigUint64Array)
    assert.deepEqual(Array.from(toJS), U64)
    for (const [array, format, , values] of jsCases) {
      const expected = { type: 'memoryview', format, readonly: false, shape: [array.length], values, owner: 'bytearray' }
      assert.deepEqual(cmain.describe(array), expected)
      assert.deepEqual(await ctx.call_async(cmain, 'describe', [array]), expected)
    }
    const shaped = { data: new Int8Array([1, 2, 3, 4]), shape: [2, 2] }
    assert.deepEqual(cmain.describe(shaped).values, [[1, 2], [3, 4]])
    assert.deepEqual((await cmain.describe_async(shaped)).values, [[1, 2], [3, 4]])
    assert.deepEqual(cmain.describe(ctx.buffer(twoD)).values, [[0, 1], [2, 3], [4, 5]])
    assert.deepEqual(cmain.signs(new Float64Array([-0])), [-1])
    // errors, and the context still works after each
    assert.equal(thrown(() => ctx.buffer(ctx.eval('range(2)'))).code, 'ERR_PY_CONVERSION')
    assertStillWorks(ctx)
    assert.equal(thrown(() => ctx.buffer(ctx.eval("memoryview(b'ab').cast('c')"))).code, 'ERR_PY_CONVERSION')
    assertStillWorks(ctx)
    assert.equal(thrown(() => ctx.buffer(7)).code, 'ERR_PY_INVALID_ARG')
    assertStillWorks(ctx)
    const raised = thrown(() => ctx.buffer(ctx.eval('released_memoryview()')))
    assert.ok(raised instanceof PythonError)
    assert.equal(raised.pythonType, 'ValueError')
    assertStillWorks(ctx)
    await assert.rejects(ctx.buffer_async(ctx.eval('released_memoryview()')), { pythonType: 'ValueError' })
    assert.equal(thrown(() => cmain.describe({ data: new Float64Array(2), shape: [3] })).code, 'ERR_PY_INVALID_ARG')
    assertStillWorks(ctx)
  } finally {
    await ctx.close()
  }
  assert.equal(thrown(() => ctx.buffer(kept)).code, 'ERR_PY_CONTEXT_CLOSED')
  await assert.rejects(ctx.buffer_async(kept), { code: 'ERR_PY_CONTEXT_CLOSED' })
})

test('a proxy of another interpreter fails with ERR_PY_CONTEXT_MISMATCH', async () => {
  const ctx = new Python({ context: true })
  try {
    const theirs = ctx.eval("__import__('array').array('i', [1, 2])")
    const ours = py.eval("array.array('i', [1, 2])")
    assert.equal(thrown(() => py.buffer(theirs)).code, 'ERR_PY_CONTEXT_MISMATCH')
    assert.equal(thrown(() => ctx.buffer(ours)).code, 'ERR_PY_CONTEXT_MISMATCH')
    await assert.rejects(py.buffer_async(theirs), { code: 'ERR_PY_CONTEXT_MISMATCH' })
    await assert.rejects(ctx.buffer_async(ours), { code: 'ERR_PY_CONTEXT_MISMATCH' })
    assertBuffer(ctx.buffer(theirs), Int32Array, 'i', [2], [1, 2])
    assertBuffer(py.buffer(ours), Int32Array, 'i', [2], [1, 2])
  } finally {
    await ctx.close()
  }
})

// numpy: the main interpreter only (it does not load in isolated sub-interpreters).

test('numpy is installed for this Python (npm test runs scripts/test-deps.mjs)', { skip: skipNumpy }, () => {
  assert.ok(numpyPath(py), `numpy is not in target/pydeps/${pythonTag(py)}: scripts/test-deps.mjs failed or did not run`)
  assert.equal(py.eval('np.__version__'), '2.2.6')
})

// [numpy expression, the format it exports, TypedArray, normalized format, values]
const numpyCases = [
  ['np.array([-128, 127, 0, -1], dtype=np.int8)', 'b', Int8Array, 'b', [-128, 127, 0, -1]],
  ['np.array([0, 255, 1], dtype=np.uint8)', 'B', Uint8Array, 'B', [0, 255, 1]],
  ['np.array([-32768, 32767, -1], dtype=np.int16)', 'h', Int16Array, 'h', [-32768, 32767, -1]],
  ['np.array([0, 65535], dtype=np.uint16)', 'H', Uint16Array, 'H', [0, 65535]],
  ['np.array([-2**31, 2**31 - 1, -1], dtype=np.int32)', 'i', Int32Array, 'i', [-(2 ** 31), 2 ** 31 - 1, -1]],
  ['np.array([0, 2**32 - 1], dtype=np.uint32)', 'I', Uint32Array, 'I', [0, 2 ** 32 - 1]],
  [`np.array(${I64_PY}, dtype=np.int64)`, 'l', BigInt64Array, 'q', I64],
  [`np.array(${U64_PY}, dtype=np.uint64)`, 'L', BigUint64Array, 'Q', U64],
  [`np.array(${I64_PY}, dtype=np.longlong)`, 'q', BigInt64Array, 'q', I64],
  [`np.array(${U64_PY}, dtype=np.ulonglong)`, 'Q', BigUint64Array, 'Q', U64],
  [`np.array(${pyFloats(F32)}, dtype=np.float32)`, 'f', Float32Array, 'f', F32_ROUNDED],
  [`np.array(${pyFloats(F64)}, dtype=np.float64)`, 'd', Float64Array, 'd', F64],
  ['np.array([True, False, True])', '?', Uint8Array, '?', [1, 0, 1]],
  ['np.arange(5, dtype=">f8")', '>d', Float64Array, 'd', [0, 1, 2, 3, 4]],
  ['np.array([-2, 2**31 - 1, 1, -2**31], dtype=">i4")', '>i', Int32Array, 'i', [-2, 2 ** 31 - 1, 1, -(2 ** 31)]],
  [`np.array(${I64_PY}, dtype=">i8")`, '>q', BigInt64Array, 'q', I64],
  [`np.array(${pyFloats(F32)}, dtype=">f4")`, '>f', Float32Array, 'f', F32_ROUNDED],
]

test('every numpy dtype with a TypedArray, with exact values', { skip: skipNumpy }, () => {
  for (const [expr, raw, Class, format, values] of numpyCases) {
    const p = py.eval(expr)
    assert.equal(main.raw_format(p), raw, expr)
    assertBuffer(py.buffer(p), Class, format, [values.length], values)
  }
})

test('numpy arrays of any layout arrive in C order', { skip: skipNumpy }, () => {
  py.exec('grid = np.arange(12).reshape(3, 4)') // int64: 'l'
  const grid = [0n, 1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n, 9n, 10n, 11n]
  assertBuffer(py.buffer(py.eval('grid')), BigInt64Array, 'q', [3, 4], grid)
  assertBuffer(py.buffer(py.eval('np.arange(6, dtype=np.int32).reshape(2, 3)')), Int32Array, 'i', [2, 3], [0, 1, 2, 3, 4, 5])
  assertBuffer(py.buffer(py.eval('np.arange(24.).reshape(2, 3, 4)')), Float64Array, 'd', [2, 3, 4], Array.from({ length: 24 }, (_, i) => i))
  assertBuffer(py.buffer(py.eval('np.arange(10.)[::2]')), Float64Array, 'd', [5], [0, 2, 4, 6, 8])
  assertBuffer(py.buffer(py.eval('np.arange(10.)[::-1]')), Float64Array, 'd', [10], [9, 8, 7, 6, 5, 4, 3, 2, 1, 0])
  assertBuffer(py.buffer(py.eval('grid[:, 1]')), BigInt64Array, 'q', [3], [1n, 5n, 9n])
  assertBuffer(py.buffer(py.eval('grid.T')), BigInt64Array, 'q', [4, 3], [0n, 4n, 8n, 1n, 5n, 9n, 2n, 6n, 10n, 3n, 7n, 11n])
  assertBuffer(py.buffer(py.eval('grid[::2, ::-3]')), BigInt64Array, 'q', [2, 2], [3n, 0n, 11n, 8n])
  assertBuffer(py.buffer(py.eval('np.asfortranarray(grid.astype(np.float32))')), Float32Array, 'f', [3, 4], Array.from({ length: 12 }, (_, i) => i))
  assertBuffer(py.buffer(py.eval('np.arange(24, dtype=np.int16).reshape(2, 3, 4).transpose(2, 0, 1)')), Int16Array, 'h', [4, 2, 3],
    [0, 4, 8, 12, 16, 20, 1, 5, 9, 13, 17, 21, 2, 6, 10, 14, 18, 22, 3, 7, 11, 15, 19, 23])
  assertBuffer(py.buffer(py.eval('np.broadcast_to(np.arange(3.), (4, 3))')), Float64Array, 'd', [4, 3], [0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2])
  assertBuffer(py.buffer(py.eval('np.arange(6, dtype=">f8").reshape(2, 3).T')), Float64Array, 'd', [3, 2], [0, 3, 1, 4, 2, 5])
  assertBuffer(py.buffer(py.eval('np.array(2.5)')), Float64Array, 'd', [], [2.5])
  assertBuffer(py.buffer(py.eval('np.array(-7, dtype=np.int8)')), Int8Array, 'b', [], [-7])
  assertBuffer(py.buffer(py.eval('np.zeros(0)')), Float64Array, 'd', [0], [])
  assertBuffer(py.buffer(py.eval('np.zeros((2, 0), dtype=np.int16)')), Int16Array, 'h', [2, 0], [])
  assertBuffer(py.buffer(py.eval('np.zeros((0, 3), dtype=np.uint32)[:, ::2]')), Uint32Array, 'I', [0, 2], [])
})

test('numpy data is a copy', { skip: skipNumpy }, () => {
  py.exec('vec = np.array([1.0, 2.0, 3.0])')
  const { data } = py.buffer(py.eval('vec'))
  py.exec('vec[0] = 99')
  assert.deepEqual(Array.from(data), [1, 2, 3])
  data[1] = 42
  assert.deepEqual(py.eval('vec.tolist()'), [99, 2, 3])
})

test('unsupported numpy dtypes fail with ERR_PY_CONVERSION naming the format', { skip: skipNumpy }, () => {
  const cases = [
    'np.zeros(2, dtype=np.complex128)', // 'Zd'
    'np.zeros(2, dtype=np.complex64)', // 'Zf'
    'np.array([None, 1], dtype=object)', // 'O'
    'np.zeros(2, dtype=np.float16)', // 'e'
    "np.zeros(2, dtype=[('a', 'i4'), ('b', 'f8')])", // 'T{i:a:=d:b:}'
    "np.array([b'ab'])", // '2s'
    "np.array(['ab'])", // '2w'
    'np.zeros(2, dtype="V4")', // '4x'
    'np.zeros((2, 2), dtype=np.complex128)[:, 0]', // non-contiguous
  ]
  const seen = []
  for (const expr of cases) {
    const p = py.eval(expr)
    const format = main.raw_format(p)
    seen.push(format)
    const e = thrown(() => py.buffer(p))
    assert.equal(e.code, 'ERR_PY_CONVERSION', `${expr}: ${e.message}`)
    assert.ok(e.message.includes(`'${format}'`), `the message names '${format}': ${e.message}`)
    assertStillWorks()
  }
  assert.deepEqual(seen.slice(0, 4), ['Zd', 'Zf', 'O', 'e'])
  assert.equal(seen[5], '2s')
  assert.match(seen[4], /^T\{/)
})

test('a numpy array that refuses export (datetime64) gives its ValueError', { skip: skipNumpy }, () => {
  for (const expr of ["np.array(['2024-01-01'], dtype='datetime64[D]')", 'np.zeros(2, dtype="timedelta64[s]")']) {
    const e = thrown(() => py.buffer(py.eval(expr)))
    assert.ok(e instanceof PythonError, `${expr}: ${e}`)
    assert.equal(e.code, 'ERR_PY_EXCEPTION')
    assert.equal(e.pythonType, 'ValueError')
    assert.match(e.pythonMessage, /cannot include dtype/)
    assertStillWorks()
  }
})

test('a huge broadcast array fails with ERR_PY_CONVERSION, never a crash', { skip: skipNumpy }, () => {
  // 2^40 float64 elements, stride 0: 8 TB once gathered. In a child process, so that a crash is
  // one failed test rather than the end of this file.
  const r = runNode(`
    import { Python } from 'pyembed'
    const py = new Python()
    py.add_syspath(${JSON.stringify(numpyPath(py))})
    const huge = py.eval('__import__("numpy").broadcast_to(__import__("numpy").zeros(1), (2**40,))')
    const code = (f) => { try { f(); return 'no error' } catch (e) { return e.code } }
    console.log(code(() => py.buffer(huge)))
    console.log(await py.buffer_async(huge).then(() => 'no error', (e) => e.code))
    console.log(code(() => huge.toJS()))
    const wide = py.eval('__import__("numpy").broadcast_to(__import__("numpy").zeros(1, dtype="i1"), (2**20, 2**20, 2**20))')
    console.log(code(() => py.buffer(wide)))
    console.log(py.buffer(py.eval('__import__("numpy").arange(3.)')).data.join())
  `, { timeout: 90_000 })
  assert.equal(r.signal, null, r.stderr)
  assert.equal(r.status, 0, r.stderr)
  assert.deepEqual(r.stdout.trim().split('\n'), ['ERR_PY_CONVERSION', 'ERR_PY_CONVERSION', 'ERR_PY_CONVERSION', 'ERR_PY_CONVERSION', '0,1,2'])
})

test('toJS of numpy arrays: 1-D numeric a TypedArray, bool an Array of booleans, N-d an Array of rows', { skip: skipNumpy }, () => {
  for (const [expr, , Class, format, values] of numpyCases) {
    if (format === '?') continue // below
    const got = py.eval(expr).toJS()
    assert.ok(got instanceof Class, `${expr}: ${got?.constructor?.name}`)
    assert.deepEqual(Array.from(got), values, expr)
  }
  assert.deepEqual(py.eval('np.array([True, False, True])').toJS(), [true, false, true])
  assert.deepEqual(py.eval('np.array([[True], [False]])').toJS(), [[true], [false]])
  assert.deepEqual(py.eval('np.arange(6.).reshape(2, 3)').toJS(), [new Float64Array([0, 1, 2]), new Float64Array([3, 4, 5])])
  const rows = py.eval('np.arange(6, dtype=np.int32).reshape(3, 2).T').toJS()
  assert.equal(rows.length, 2)
  assert.ok(rows.every((row) => row instanceof Int32Array))
  assert.deepEqual(rows.map((row) => Array.from(row)), [[0, 2, 4], [1, 3, 5]])
  const cube = py.eval('np.arange(8, dtype=np.uint16).reshape(2, 2, 2)').toJS()
  assert.deepEqual(cube, [[new Uint16Array([0, 1]), new Uint16Array([2, 3])], [new Uint16Array([4, 5]), new Uint16Array([6, 7])]])
  const stepped = py.eval('np.arange(10)[::3]').toJS()
  assert.ok(stepped instanceof BigInt64Array)
  assert.deepEqual(Array.from(stepped), [0n, 3n, 6n, 9n])
  const empty = py.eval('np.zeros(0, dtype=np.float32)').toJS()
  assert.ok(empty instanceof Float32Array)
  assert.equal(empty.length, 0)
  assert.equal(py.eval('np.int64(3)').toJS(), 3) // a numpy scalar is a number, not a buffer
  assert.deepEqual(JSON.stringify(py.eval('np.arange(3)')), '[0,1,2]')
  const nested = py.eval("types.MappingProxyType({'x': np.arange(3.), 'b': b'z'})").toJS()
  assert.ok(nested.x instanceof Float64Array)
  assert.deepEqual(Array.from(nested.x), [0, 1, 2])
  assert.ok(Buffer.isBuffer(nested.b))
})

test('toJS of zero-dimensional numpy arrays is their number or boolean; of masked arrays, null where masked', { skip: skipNumpy }, () => {
  assert.equal(py.eval('np.array(2.5)').toJS(), 2.5)
  assert.equal(py.eval('np.array(-7, dtype=np.int8)').toJS(), -7)
  assert.equal(py.eval('np.array(True)').toJS(), true)
  assert.equal(py.eval('np.array(2**63 - 1, dtype=np.int64)').toJS(), 2n ** 63n - 1n)
  assert.equal(py.eval('np.array(-(2**63), dtype=np.int64)').toJS(), -(2n ** 63n))
  assert.equal(py.eval('np.array(2**64 - 1, dtype=np.uint64)').toJS(), 2n ** 64n - 1n)
  assert.equal(py.eval("np.array(1.5, dtype='>f4')").toJS(), 1.5)
  py.exec('import numpy.ma as ma')
  assert.deepEqual(py.eval('ma.array([1, 2, 3], mask=[0, 1, 0])').toJS(), [1, null, 3])
  assert.deepEqual(py.eval('ma.masked_array(np.arange(4.).reshape(2, 2), mask=[[0, 1], [0, 0]])').toJS(), [[0, null], [2, 3]])
  assert.equal(JSON.stringify(py.eval('ma.array([1.5, 2.5], mask=[1, 0])')), '[null,2.5]')
})

test('TypedArrays reach numpy without a further copy and with the matching dtype', { skip: skipNumpy }, () => {
  for (const [array, , dtype] of jsCases) {
    assert.deepEqual(main.numpy_view(array), { dtype, shape: [array.length], shares: true, writeable: true }, array.constructor.name)
  }
  assert.deepEqual(main.numpy_view({ data: new Float32Array(6), shape: [3, 2] }), { dtype: 'float32', shape: [3, 2], shares: true, writeable: true })
  assert.deepEqual(main.numpy_view({ data: new Uint8Array(4), shape: [2, 2] }), { dtype: 'uint8', shape: [2, 2], shares: true, writeable: true })
  assert.deepEqual(main.numpy_view({ data: new Uint8Array(4), shape: [4], format: '?' }), { dtype: 'bool', shape: [4], shares: true, writeable: true })
  assert.deepEqual(main.numpy_view({ data: new BigInt64Array(1), shape: [] }), { dtype: 'int64', shape: [], shares: true, writeable: true })
  assert.equal(py.eval('lambda m: float(np.asarray(m).sum())')({ data: new Float64Array([1, 2, 3, 4]), shape: [2, 2] }), 10)
})

test('numpy arrays round-trip through py.buffer and back', { skip: skipNumpy }, () => {
  py.exec('def same(a, m):\n    b = np.asarray(m)\n    return [str(b.dtype), list(b.shape), bool((a == b).all()) if a.size else b.size == 0]')
  const cases = [
    ['np.arange(6, dtype=np.int32).reshape(2, 3)', 'int32'],
    ['np.arange(24.).reshape(2, 3, 4).T', 'float64'],
    ['np.array([[True, False], [False, True]])', 'bool'],
    ['np.arange(5, dtype=">f8")', 'float64'],
    ['np.arange(12)[::-5]', 'int64'],
    ['np.array([2**64 - 1, 0], dtype=np.uint64)', 'uint64'],
    ['np.array(2.5, dtype=np.float32)', 'float32'],
    ['np.zeros(0, dtype=np.int16)', 'int16'],
  ]
  for (const [expr, dtype] of cases) {
    py.exec(`original = ${expr}`)
    const back = py.buffer(py.eval('original'))
    assert.deepEqual(py.eval('lambda m: same(original, m)')(back), [dtype, py.eval('list(original.shape)'), true], expr)
  }
})

test('empty numpy arrays of several dimensions round-trip through py.buffer and back', { skip: skipNumpy }, () => {
  for (const expr of ['np.zeros((2, 0), dtype=np.int16)', 'np.zeros((0, 3))', 'np.zeros((3, 0, 2), dtype=np.uint8)']) {
    const back = py.buffer(py.eval(expr))
    assert.deepEqual(py.eval('lambda m: list(np.asarray(m).shape)')(back), py.eval(`list(${expr}.shape)`), expr)
  }
})

test('numpy through buffer_async and call_async', { skip: skipNumpy }, async () => {
  assertBuffer(await py.buffer_async(py.eval('np.arange(6, dtype=np.uint16).reshape(2, 3).T')), Uint16Array, 'H', [3, 2], [0, 3, 1, 4, 2, 5])
  assertBuffer(await py.buffer_async(py.eval('np.broadcast_to(np.arange(2.), (2, 2))')), Float64Array, 'd', [2, 2], [0, 1, 0, 1])
  assertBuffer(await py.buffer_async(py.eval('np.arange(3, dtype=">i4")')), Int32Array, 'i', [3], [0, 1, 2])
  await assert.rejects(py.buffer_async(py.eval('np.zeros(1, dtype=np.complex128)')), (e) => e.code === 'ERR_PY_CONVERSION' && e.message.includes("'Zd'"))
  await assert.rejects(py.buffer_async(py.eval("np.zeros(1, dtype='datetime64[D]')")), { code: 'ERR_PY_EXCEPTION', pythonType: 'ValueError' })
  assert.deepEqual(await py.call_async(main, 'numpy_view', [new BigUint64Array(3)]), { dtype: 'uint64', shape: [3], shares: true, writeable: true })
  assert.deepEqual(await py.call_async(main, 'numpy_view', [{ data: new Int8Array(6), shape: [1, 2, 3] }]), { dtype: 'int8', shape: [1, 2, 3], shares: true, writeable: true })
})
