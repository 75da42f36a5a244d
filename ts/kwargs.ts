// Trailing markers of a call's argument list: `kwargs({...})` for Python keyword arguments and,
// on `_async` calls, `callOptions({ signal, timeoutMs })`.
import { codedError } from './errors'
import { brand, isBranded } from './shared'

// Markers are recognised by a registered symbol, not `instanceof`: a marker made by another
// copy of this layer in the same environment must work too.
const KWARGS = brand('kwargs')
const CALL_OPTIONS = brand('callOptions')

/** True for a `kwargs(...)` marker, whichever copy of this layer made it. */
export function isKwargs(value: unknown): value is Kwargs {
  return isBranded(value, KWARGS)
}

/** True for a `callOptions(...)` marker, whichever copy of this layer made it. */
export function isCallOptions(value: unknown): value is CallOptions {
  return isBranded(value, CALL_OPTIONS)
}

export class Kwargs {
  constructor(readonly values: Record<string, unknown>) {}

  get [KWARGS](): true {
    return true
  }

  static [Symbol.hasInstance](this: Function, value: unknown): boolean {
    return this === Kwargs ? isKwargs(value) : Function.prototype[Symbol.hasInstance].call(this, value)
  }
}

/** Marks an object as Python keyword arguments: `obj.method(1, kwargs({ key: 2 }))`. */
export function kwargs(values: Record<string, unknown>): Kwargs {
  return new Kwargs(values)
}

export interface CallOptionsInit {
  /** Aborting it rejects the call with `ERR_PY_ABORTED` and interrupts it in Python. */
  signal?: AbortSignal
  /** Milliseconds after which the call rejects with `ERR_PY_TIMEOUT` and is interrupted. */
  timeoutMs?: number
}

export class CallOptions {
  readonly signal?: AbortSignal
  readonly timeoutMs?: number

  constructor({ signal, timeoutMs }: CallOptionsInit) {
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      throw codedError('ERR_PY_INVALID_ARG', 'callOptions: signal must be an AbortSignal')
    }
    // setTimeout's range: a longer delay would fire at once.
    if (timeoutMs !== undefined && !(typeof timeoutMs === 'number' && timeoutMs >= 0 && timeoutMs <= 2 ** 31 - 1)) {
      throw codedError('ERR_PY_INVALID_ARG', 'callOptions: timeoutMs must be a number of milliseconds from 0 to 2^31 - 1')
    }
    this.signal = signal
    this.timeoutMs = timeoutMs
  }

  get [CALL_OPTIONS](): true {
    return true
  }

  static [Symbol.hasInstance](this: Function, value: unknown): boolean {
    return this === CallOptions ? isCallOptions(value) : Function.prototype[Symbol.hasInstance].call(this, value)
  }
}

/** Options for one `_async` call, passed as its last argument. */
export function callOptions(init: CallOptionsInit): CallOptions {
  return new CallOptions(init)
}

/** Splits trailing `CallOptions` and `Kwargs` (in that order from the end) off an argument list. */
export function splitArgs(args: unknown[]): [unknown[], Record<string, unknown> | null, CallOptions | undefined] {
  let n = args.length // (no args[-1]: a negative index is a slow string-keyed lookup)
  let options: CallOptions | undefined
  if (n > 0 && isCallOptions(args[n - 1])) options = args[--n] as CallOptions
  let kw: Record<string, unknown> | null = null
  if (n > 0 && isKwargs(args[n - 1])) kw = (args[--n] as Kwargs).values
  return [n === args.length ? args : args.slice(0, n), kw, options]
}
