// Live proxies for Python objects. A proxy's target holds the handle id and the External whose
// finalizer releases the Python object when JS collects the proxy; every trap goes straight to
// one native call. Methods are recognised once per proxy and name, then cached as callers, so
// `obj.method()` costs one native crossing.
import { inspect } from 'node:util'

import { native } from './native'
import { codedError } from './errors'
import { splitArgs } from './kwargs'
import { brand } from './shared'
import { submit } from './submit'

/** Own property (through the trap) of every proxy and cached method: the handle id. */
export const HANDLE = brand('handle')
/** On a cached method: its name. Returned by `getAttr` for methods. */
export const METHOD = brand('method')
/** Returned by `next` when an iterator is exhausted. */
export const DONE = brand('done')
const STATE = brand('state')

interface State {
  readonly id: number
  readonly owner: number
  /** Keeps the handle alive: its finalizer releases the Python object. */
  readonly external: unknown
  methods?: Map<string, Function>
}

type Target = { [STATE]: State }

/** A Python object seen from JS: attributes, methods and calls are forwarded live. */
export type PyObject = any

const nameIds = new Map<string, number>()

/** The native id of an attribute name (interned once per environment). */
export function nameId(name: string): number {
  let id = nameIds.get(name)
  if (id === undefined) {
    id = native.internName(name)
    nameIds.set(name, id)
  }
  return id
}

function call(s: State, name: number | null, args: unknown[]): unknown {
  const [positional, kw, options] = splitArgs(args)
  if (options !== undefined) throw codedError('ERR_PY_INVALID_ARG', 'callOptions only apply to _async calls')
  return native.call(s.owner, s.id, name, positional, kw)
}

function method(s: State, name: string): Function {
  const id = nameId(name)
  const fn = (...args: unknown[]) => call(s, id, args)
  Object.defineProperties(fn, {
    [HANDLE]: { value: s.id },
    [METHOD]: { value: name },
    [STATE]: { value: s },
    name: { value: name },
  })
  return fn
}

/** `obj.name_async(...)`: calls `name` on the interpreter's Python thread. */
function asyncMethod(s: State, name: string): Function {
  const fn = (...args: unknown[]) => {
    const [positional, kw, options] = splitArgs(args)
    return submit((call, cancellable) => native.callAsync(s.owner, s.id, name, positional, kw, call, cancellable), options)
  }
  Object.defineProperties(fn, { [STATE]: { value: s }, name: { value: `${name}_async` } })
  return fn
}

function* iterate(s: State): Generator<unknown, void, undefined> {
  const iterator = native.iterate(s.owner, s.id) as Target
  const id = iterator[STATE].id
  try {
    for (;;) {
      const item = native.next(s.owner, id)
      if (item === DONE) return
      yield item
    }
  } finally {
    native.release(id)
  }
}

// Members that every proxy answers in JS rather than in Python.
const returnThis = function (this: unknown) {
  return this
}
const members = new Map<string, (s: State) => unknown>([
  ['then', () => undefined], // not thenable: `await proxy` gives the proxy
  ['toJS', (s: State) => () => native.toJs(s.owner, s.id, false)],
  ['toJSON', (s: State) => () => native.toJs(s.owner, s.id, true)],
  ['toString', (s: State) => () => native.toString(s.id, false)],
  ['unwrap', () => returnThis], // python.ts compatibility
  ['__refresh__', () => returnThis],
])

// Symbol-keyed members live on the targets' prototypes: util.inspect looks at the target.
function describe(this: Target): string {
  try {
    return `[PyObject ${native.toString(this[STATE].id, true)}]`
  } catch {
    return '[PyObject <released>]'
  }
}
const symbolMembers = {
  [Symbol.iterator](this: Target) {
    return iterate(this[STATE])
  },
  [Symbol.toPrimitive](this: Target) {
    return native.toString(this[STATE].id, false)
  },
  [Symbol.dispose](this: Target) {
    native.release(this[STATE].id)
  },
  [inspect.custom]: describe,
}
const objectProto = Object.assign(Object.create(Object.prototype), symbolMembers)
const functionProto = Object.assign(Object.create(Function.prototype), symbolMembers)

const handler: ProxyHandler<Target> = {
  get(target, key) {
    const s = target[STATE]
    if (typeof key === 'symbol') return key === HANDLE ? s.id : (target as any)[key]
    const cached = s.methods?.get(key)
    if (cached !== undefined) return cached
    const member = members.get(key)
    if (member !== undefined) return member(s)
    const value = native.getAttr(s.owner, s.id, key)
    if (value === undefined && key.endsWith('_async') && key.length > 6) {
      const fn = asyncMethod(s, key.slice(0, -6)) // no such attribute: `name_async` calls `name`
      ;(s.methods ??= new Map()).set(key, fn)
      return fn
    }
    if (value !== METHOD) return value
    const fn = method(s, key)
    ;(s.methods ??= new Map()).set(key, fn)
    return fn
  },
  set(target, key, value) {
    if (typeof key === 'symbol') return Reflect.set(target, key, value)
    native.setAttr(target[STATE].id, key, value)
    return true
  },
  has(target, key) {
    if (typeof key === 'symbol') return key === HANDLE || key in target
    return native.hasAttr(target[STATE].id, key)
  },
  deleteProperty(target, key) {
    if (typeof key === 'symbol') return Reflect.deleteProperty(target, key)
    native.delAttr(target[STATE].id, key)
    return true
  },
  apply(target, _this, args) {
    return call(target[STATE], null, args)
  },
  construct(target, args) {
    return call(target[STATE], null, args) as object
  },
}

/** Native hook: wraps a new handle. */
export function makeProxy(owner: number, id: number, callable: boolean, external: unknown): PyObject {
  const target: Target = callable
    ? Object.setPrototypeOf(function () {}, functionProto)
    : Object.create(objectProto)
  target[STATE] = { id, owner, external }
  return new Proxy(target, handler)
}

/** The handle id of a proxy or cached method, or undefined. */
export function handleOf(value: unknown): number | undefined {
  if ((typeof value === 'object' || typeof value === 'function') && value !== null) {
    const id = (value as any)[HANDLE]
    if (typeof id === 'number') return id
  }
  return undefined
}
