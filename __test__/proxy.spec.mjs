import assert from 'node:assert/strict'
import { afterEach, test } from 'node:test'
import { inspect } from 'node:util'

import { Python, kwargs } from 'pyembed'
import { thrown } from './helpers.mjs'

const py = new Python()
py.exec(`
class Box:
    kind = "box"
    def __init__(self, value):
        self.value = value
    def get(self):
        return self.value
    def add(self, a, b=0, *, scale=1):
        return (self.value + a + b) * scale
    def __call__(self, x):
        return x * 2
    def __iter__(self):
        return iter(range(self.value))
    def __str__(self):
        return f"Box({self.value})"
    @property
    def doubled(self):
        return self.value * 2
    @property
    def broken(self):
        raise KeyError("nope")
`)
const Box = py.eval('Box')
afterEach(() => globalThis.gc?.())

test('a callable proxy is callable: a class makes an instance', () => {
  const box = Box(5)
  assert.equal(box.value, 5)
  assert.equal(box.kind, 'box')
  assert.equal(typeof Box, 'function')
  assert.equal(new Box(7).value, 7)
})

test('attributes are read live and can be set and deleted', () => {
  const box = Box(1)
  assert.equal(box.doubled, 2)
  box.value = 10
  assert.equal(box.doubled, 20)
  assert.equal(py.eval('lambda b: b.value')(box), 10)
  box.extra = [1, 2]
  assert.deepEqual(box.extra, [1, 2])
  assert.equal('extra' in box, true)
  delete box.extra
  assert.equal('extra' in box, false)
  assert.equal(box.missing, undefined) // AttributeError reads as undefined
  const err = thrown(() => box.broken)
  assert.equal(err.pythonType, 'KeyError')
})

test('methods take positional and keyword arguments', () => {
  const box = Box(1)
  assert.equal(box.get(), 1)
  assert.equal(box.add(2), 3)
  assert.equal(box.add(2, 3), 6)
  assert.equal(box.add(2, kwargs({ b: 3, scale: 10 })), 60)
  assert.equal(py.call(box, 'add', [2], { scale: 3 }), 9)
  assert.equal(py.call(box, 'add', [2], kwargs({ b: 1 })), 4)
  assert.equal(box(21), 42) // __call__
  const err = thrown(() => box.add())
  assert.equal(err.pythonType, 'TypeError')
})

test('methods see the live object, and calling a cached method twice works', () => {
  const box = Box(1)
  const get = box.get
  assert.equal(get(), 1)
  box.value = 2
  assert.equal(get(), 2)
  assert.equal(box.get, get) // cached per proxy and name
})

test('a cached method calls getattr live: reassigning the method is seen', () => {
  py.exec('class Swap:\n    def f(self):\n        return "original"')
  const obj = py.eval('Swap()')
  const f = obj.f
  assert.equal(f(), 'original')
  py.exec('Swap.f = lambda self: "class reassigned"')
  assert.equal(f(), 'class reassigned')
  py.eval('lambda o: setattr(o, "f", lambda: "instance reassigned")')(obj)
  assert.equal(f(), 'instance reassigned')
  assert.equal(obj.f, f) // still the cached function
})

test('a cached method shadowed by a non-callable instance attribute is still returned by p.name', () => {
  py.exec('class Shadowed:\n    def f(self):\n        return 1')
  const obj = py.eval('Shadowed()')
  const f = obj.f
  py.eval('lambda o: setattr(o, "f", 5)')(obj)
  assert.equal(obj.f, f)
  assert.equal(py.eval('lambda o: o.f')(obj), 5)
})

test('a method or proxy passed back to Python is the Python object', () => {
  const box = Box(3)
  assert.equal(py.eval('lambda f: f()')(box.get), 3)
  // Only a Python bound method has a __self__ that is the object and a __func__ that is Box.get.
  const describe = py.eval('lambda m, o: [type(m).__name__, m.__self__ is o, m.__func__ is Box.get]')
  assert.deepEqual(describe(box.get, box), ['method', true, true])
  const os = py.import('os')
  assert.deepEqual(py.eval('lambda f: [type(f).__name__, f is __import__("os").getcwd]')(os.getcwd), ['builtin_function_or_method', true])
  assert.equal(py.eval('lambda b: isinstance(b, Box)')(box), true)
  assert.equal(py.eval('lambda a, b: a is b')(box, box), true)
})

test('iteration, String(), toJS()', () => {
  const box = Box(3)
  assert.deepEqual([...box], [0, 1, 2])
  const seen = []
  for (const x of py.eval('(c for c in "ab")')) seen.push(x)
  assert.deepEqual(seen, ['a', 'b'])
  assert.equal(String(box), 'Box(3)')
  assert.equal(`${box}`, 'Box(3)')
  assert.equal(box.toString(), 'Box(3)')
  assert.deepEqual(box.toJS(), [0, 1, 2])
  assert.equal(JSON.stringify({ b: box }), '{"b":[0,1,2]}')
  assert.match(inspect(box), /^\[PyObject <__main__\.Box object at 0x[0-9a-f]+>\]$/)
})

test('proxies are not thenable', async () => {
  const box = Box(4)
  assert.equal(box.then, undefined)
  const awaited = await box
  assert.equal(awaited.value, 4)
})

test('modules are proxies; their functions are called by name', () => {
  const os = py.import('os')
  assert.equal(os.path.join('a', 'b'), 'a/b')
  assert.equal(os.getpid(), process.pid)
  const math = py.import('math')
  assert.equal(math.sqrt(16), 4)
  assert.equal(math.pi, Math.PI)
})

test('python.ts compatibility: unwrap and refresh return the object', () => {
  const box = Box(1)
  assert.equal(box.unwrap(), box)
  assert.equal(py.unwrap(box), box)
  assert.equal(py.refresh(box), box)
  assert.equal(box.__refresh__(), box)
})

test('Symbol.dispose releases the object', () => {
  const box = Box(1)
  box[Symbol.dispose]()
  assert.equal(thrown(() => box.get()).code, 'ERR_PY_RELEASED')
})
