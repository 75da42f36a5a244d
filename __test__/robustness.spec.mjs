// Hostile or unusual JS input gets a JS error (or a sane conversion), never a crash or a hang.
import assert from 'node:assert/strict'
import { test } from 'node:test'

import { Python } from 'pyembed'

const py = new Python()
const echo = py.eval('lambda x: x')
const kind = py.eval('lambda x: type(x).__name__')

test('a throwing getter or proxy trap propagates its own JS error', () => {
  const getter = { get boom() { throw new RangeError('getter') } }
  assert.throws(() => echo(getter), RangeError)
  const trap = new Proxy({}, { ownKeys() { throw new TypeError('trap') } })
  assert.throws(() => echo(trap), TypeError)
  const { proxy, revoke } = Proxy.revocable({}, {})
  revoke()
  assert.throws(() => echo(proxy), TypeError)
  assert.equal(py.eval('1 + 1'), 2) // still healthy
})

test('a getter that calls back into Python during conversion works', () => {
  const sneaky = { get value() { return py.eval('40 + 2') } }
  assert.deepEqual(echo(sneaky), { value: 42 })
})

test('unusual objects convert predictably', () => {
  assert.equal(kind(Object.create(null)), 'dict')
  assert.equal(kind(Object.freeze({ a: 1 })), 'dict')
  assert.deepEqual(echo(new (class Point { constructor() { this.x = 1 } })()), { x: 1 })
  assert.deepEqual(echo({ [Symbol('hidden')]: 1, shown: 2 }), { shown: 2 })
  assert.equal(kind(new SharedArrayBuffer(8)), 'dict')
  assert.deepEqual(echo(new Error('e')), {}) // own enumerable keys only
  assert.equal(kind(/re/), 'dict')
  assert.equal(kind(new WeakMap()), 'dict')
})

test('large inputs', () => {
  const wide = Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`k${i}`, i]))
  assert.equal(py.eval('len')(wide), 10_000)
  const long = 'x'.repeat(5_000_000) + '😀'
  assert.equal(py.eval('len')(long), 5_000_001)
  assert.equal(echo(long).length, long.length)
  const sparse = []
  sparse[5000] = 1
  assert.equal(py.eval('lambda l: (len(l), l[0], l[5000])')(sparse).join(), '5001,,1')
})

test('proxies survive odd uses', () => {
  const obj = py.eval('object()')
  assert.equal(typeof obj, 'object')
  assert.deepEqual(Object.keys(obj), [])
  assert.equal(JSON.stringify({ o: py.eval('[1, {"a": None}]') }), '{"o":[1,{"a":null}]}')
  assert.equal(obj[Symbol.toStringTag], undefined)
  assert.equal('then' in obj, false)
  assert.throws(() => obj(), TypeError) // a non-callable object is not a JS function either
})
