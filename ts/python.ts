// The `Python` class: python.ts's API shape over the native binding.
import { Buffer } from 'node:buffer'
import { resolve } from 'node:path'
import { isMainThread } from 'node:worker_threads'

import { chosen, load, type Native, native, request, setOnLoad } from './native'
import { runtimeOf } from './discover'
import { codedError, PythonError } from './errors'
import { type CallOptions, isCallOptions, isKwargs, type Kwargs } from './kwargs'
import { DONE, HANDLE, handleOf, makeProxy, METHOD, nameId, type PyObject } from './proxy'
import { shared } from './shared'
import { settle, submit } from './submit'

// Large numeric arrays cross as one Float64Array; these loops beat element-wise Node-API calls.
function fromFloat64(packed: Float64Array): number[] {
  const out = new Array<number>(packed.length)
  for (let i = 0; i < packed.length; i++) out[i] = packed[i]
  return out
}
// Packs `array[start..]` into a small reused buffer, a chunk at a time so that it stays in
// cache while native code turns it into Python numbers; null if a chunk holds a non-number.
const scratch = new Float64Array(4096)
function packNumbers(array: unknown[], start: number): Float64Array | null {
  const n = Math.min(scratch.length, array.length - start)
  for (let i = 0; i < n; i++) {
    const x = array[start + i]
    if (typeof x !== 'number') return null
    scratch[i] = x
  }
  return scratch.subarray(0, n)
}
// New typed arrays for native code to copy into, by Node-API kind; null when JS cannot allocate
// one (a RangeError here, where Node-API's own allocation would abort the process). Their memory
// is not zeroed first (native code writes every byte before JS sees it): zeroing fresh memory
// cost more than the copy itself.
// Taken now, so that user code patching them later cannot see or keep that memory.
const typedArrays = [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array,
  Uint32Array, Float32Array, Float64Array, BigInt64Array, BigUint64Array]
const allocUnsafeSlow = Buffer.allocUnsafeSlow
const viewProto = Object.getPrototypeOf(Uint8Array.prototype)
const bufferOf = Object.getOwnPropertyDescriptor(viewProto, 'buffer')!.get!
const byteOffsetOf = Object.getOwnPropertyDescriptor(viewProto, 'byteOffset')!.get!
const { apply } = Reflect
function typedArray(kind: number, length: number): ArrayBufferView | null {
  try {
    const Type = typedArrays[kind]
    const bytes = allocUnsafeSlow(length * Type.BYTES_PER_ELEMENT)
    const offset: number = apply(byteOffsetOf, bytes, [])
    if (offset % Type.BYTES_PER_ELEMENT !== 0) return new Type(length) // not Node's Buffer
    return new Type(apply(bufferOf, bytes, []), offset, length)
  } catch {
    return null
  }
}

/**
 * Whether this JS environment ends only with the process: Node's main thread, Electron's main
 * and utility processes. Not a worker_thread, nor an Electron renderer or web worker, whose
 * reload tears the environment down (emitting 'exit') while the process and Python go on: their
 * objects are released at teardown and Python's exit hooks do not run then.
 */
const livesWithProcess = isMainThread && !['renderer', 'worker'].includes((process as any).type)

/** `Python.configure()` options other than the Python's location, until the binding loads. */
let startOptions: { allowOsExit?: boolean; exitTimeoutMs?: number } | null = null

// When the binding loads in this environment: once per environment, whichever copy of this
// layer loads it first (see shared.ts), register the helpers; then apply `configure()`.
setOnLoad((native) => {
  if (!shared.initialized) registerHooks(native)
  if (startOptions !== null) {
    native.configure(startOptions)
    startOptions = null
  }
})

function registerHooks(native: Native): void {
  native.init(
    {
      makeProxy,
      makePythonError: (type: string, message: string, traceback: string, cause?: PythonError) =>
        new PythonError(type, message, traceback, cause),
      handle: HANDLE,
      method: METHOD,
      done: DONE,
      Map,
      Set,
      toArray: (iterable: Iterable<unknown>) => Array.from(iterable),
      fromFloat64,
      packNumbers,
      typedArray,
      settle,
      awaitPromise: (promise: Promise<unknown>, ticket: number) =>
        promise.then(
          (value) => native.promiseSettled(ticket, true, value),
          (error) => native.promiseSettled(ticket, false, error),
        ),
    },
    livesWithProcess,
  )
  shared.initialized = true
  if (livesWithProcess) process.on('exit', () => native.shutdown())
}

/**
 * Start-up options. `executable`, `venv` and `pythonHome` choose the Python (first of them
 * given; else `$VIRTUAL_ENV`, `$PYTHON`, `python3` on PATH): any build of Python 3.10–3.13 with
 * a shared libpython.
 */
export interface ConfigureOptions {
  /** A Python executable: its libpython is embedded, and it becomes `sys.executable`. */
  executable?: string
  /** A virtualenv: its Python is embedded and its `bin/python` activates it. */
  venv?: string
  /**
   * A Python installation folder (a relocatable Python shipped with an app): its
   * `bin/python3` (else `lib/libpython3.X.so`) is embedded, and it is `PyConfig.home`. With
   * `executable` or `venv`, only the latter.
   */
  pythonHome?: string
  /** Let `os._exit()` in the main interpreter end the process (default false: it raises). */
  allowOsExit?: boolean
  /** How long Python's exit hooks may take at process exit, in ms (default 5000). */
  exitTimeoutMs?: number
}

export interface VersionInfo {
  python: string
  pyembed: string
  /** `sys.executable`. */
  executable: string
  /** The shared libpython loaded. */
  libpython: string
  /** The pyembed binary loaded for that Python (one per minor version). */
  binary: string
  /** Where the Python was found: `python3 on PATH`, `$VIRTUAL_ENV`, `Python.configure({ venv })`, … */
  source: string
  /** What `{ context: 'isolated' }` creates: its own GIL (Python 3.12+) or a shared one. */
  subinterpreters: 'own-gil' | 'shared-gil'
}

export interface PythonOptions {
  /**
   * Run in a context of its own (a sub-interpreter) instead of the shared main interpreter:
   * `true` or `'isolated'` (its own GIL on Python 3.12+), or `'shared-gil'` (shares the main
   * GIL; loads extension modules that refuse isolated interpreters).
   */
  context?: boolean | 'isolated' | 'shared-gil'
  /** A context's `sys.stdout`: receives its output, whole lines at a time, in order. */
  stdout?: (text: string) => void
  /** A context's `sys.stderr`, likewise. */
  stderr?: (text: string) => void
  /**
   * python.ts compatibility: the Python to use (an executable, a venv or an installation
   * folder), as `Python.configure` would choose it; only before the Python is chosen (first
   * use). Naming another one afterwards throws `ERR_PY_ALREADY_INITIALIZED`.
   */
  runtime_path?: string
}

/** What `py.buffer()` returns: a buffer-protocol exporter's elements, copied. */
export interface PyBuffer {
  /** The elements, one copy in C order (a `'?'` buffer's booleans as 0 and 1). */
  data:
    | Int8Array
    | Uint8Array
    | Int16Array
    | Uint16Array
    | Int32Array
    | Uint32Array
    | Float32Array
    | Float64Array
    | BigInt64Array
    | BigUint64Array
  /** Elements per dimension (`[]` for a zero-dimensional array). */
  shape: number[]
  /** The `struct` format letter of the elements, in this machine's byte order. */
  format: 'b' | 'B' | '?' | 'h' | 'H' | 'i' | 'I' | 'q' | 'Q' | 'f' | 'd'
}

export interface BufferOptions {
  /** A TypedArray to copy the elements into, of the kind and length they need. */
  into?: PyBuffer['data'] | Uint8ClampedArray
}

export interface CloseOptions {
  /** How long to wait for the context's Python threads to finish (default 5000 ms). */
  timeoutMs?: number
}

/** What the `Tasks` supervisor (tasks.ts) needs of an instance; set by the class below. */
export const internals = {} as {
  /** A task interpreter (an isolated context that may start processes), created off the JS
   * thread, with its output sent to `stdout`/`stderr`. */
  taskContext(stdout: (text: string) => void, stderr: (text: string) => void): Promise<Python>
  /** The instance's interpreter id (0: main). */
  interp(py: Python): number
  /** `close()` without the warning for threads that outlive the timeout. */
  close(py: Python, timeoutMs: number): Promise<boolean>
  /** `call_async(obj, name, args)` that `native.cancelCall(call)` interrupts (again and again)
   * without settling it: its promise settles when the call really ends. */
  start(py: Python, obj: PyObject, name: string, args: unknown[]): { promise: Promise<any>; call: number }
}

/** The interpreter of a context being wrapped (see `internals.taskContext`). */
let adopting: number | null = null

const asyncDispose: typeof Symbol.asyncDispose =
  (Symbol as any).asyncDispose ?? Symbol.for('nodejs.asyncDispose')

function idOf(obj: unknown): number {
  const id = handleOf(obj)
  if (id === undefined) throw codedError('ERR_PY_INVALID_ARG', 'expected a Python object proxy')
  return id
}

/**
 * An entry point to the embedded interpreter. Every plain instance shares the main interpreter
 * and its `__main__` namespace; an instance made with `{ context }` has an interpreter of its
 * own. Each tracks the objects it created, for `clear()`.
 */
export class Python {
  readonly #options: PythonOptions
  /** The interpreter id: 0 for the main one. */
  #interp: number
  #ownerId: number
  /** Set once `close()` started: the promise it returned. */
  #closing?: Promise<boolean>
  /** Module proxies by name; reused while `sys.modules` still holds the same module. */
  readonly #modules = new Map<string, PyObject>()

  static {
    internals.taskContext = async (stdout, stderr) => {
      const interp: number = await submit((call) => native.createTaskContext(call))
      adopting = interp
      let py: Python
      try {
        native.adoptContext(interp)
        py = new Python({ context: true })
      } finally {
        adopting = null
      }
      try {
        const host = await py.import_async('pyembed')
        await py.call_async(host, '_capture', [stdout, stderr])
      } catch (e) {
        await py.#close(0, false)
        throw e
      }
      return py
    }
    internals.interp = (py) => py.#interp
    internals.close = (py, timeoutMs) => py.#close(timeoutMs, false)
    internals.start = (py, obj, name, args) => {
      let id = 0
      const promise = submit((call, cancellable) => {
        id = call
        native.callAsync(py.#owner, idOf(obj), name, args, null, call, cancellable)
      }, {})
      return { promise, call: id }
    }
  }

  constructor(options: PythonOptions = {}) {
    if (typeof options !== 'object' || options === null) {
      throw codedError('ERR_PY_INVALID_ARG', 'options must be an object')
    }
    const { context = false, stdout, stderr, runtime_path } = options
    if (runtime_path !== undefined) request(runtimeOf(runtime_path))
    if (typeof context !== 'boolean' && context !== 'isolated' && context !== 'shared-gil') {
      throw codedError('ERR_PY_INVALID_ARG', `context must be true, 'isolated' or 'shared-gil', not ${String(context)}`)
    }
    if (!context && (stdout !== undefined || stderr !== undefined)) {
      throw codedError('ERR_PY_INVALID_ARG', 'stdout and stderr capture needs a context')
    }
    this.#options = { context, stdout, stderr }
    this.#interp = Python.#create(this.#options)
    // The main interpreter's instances get their owner id at first use: until then the Python
    // is not chosen, and `Python.configure()` may still choose it.
    this.#ownerId = this.#interp === 0 ? 0 : native.newOwner(this.#interp)
  }

  static #create({ context, stdout, stderr }: PythonOptions): number {
    if (context === false || context === undefined) return 0
    if (adopting !== null) return adopting
    return native.createContext(context === true ? 'isolated' : String(context), stdout, stderr)
  }

  /** This instance's owner id; throws once it is closed. */
  get #owner(): number {
    if (this.#closing !== undefined) throw codedError('ERR_PY_CONTEXT_CLOSED', 'this Python instance is closed')
    return this.#ownerId || (this.#ownerId = native.newOwner(0))
  }

  /** True for an instance with a context (sub-interpreter) of its own. */
  get isContext(): boolean {
    return this.#interp !== 0
  }

  /**
   * Sets start-up options; only before Python starts (first use). Naming the Python already
   * chosen again (and nothing else) is accepted afterwards.
   */
  static configure(options: ConfigureOptions = {}): void {
    if (typeof options !== 'object' || options === null || Array.isArray(options)) {
      throw codedError('ERR_PY_INVALID_ARG', 'options must be an object')
    }
    const { executable, venv, pythonHome, allowOsExit, exitTimeoutMs } = options
    for (const [name, value] of Object.entries({ executable, venv, pythonHome })) {
      if (value !== undefined && (typeof value !== 'string' || value === '')) {
        throw codedError('ERR_PY_INVALID_ARG', `${name} must be a non-empty string`)
      }
    }
    if (allowOsExit !== undefined && typeof allowOsExit !== 'boolean') {
      throw codedError('ERR_PY_INVALID_ARG', 'allowOsExit must be a boolean')
    }
    if (exitTimeoutMs !== undefined && !(typeof exitTimeoutMs === 'number' && exitTimeoutMs >= 0 && exitTimeoutMs <= 2 ** 31 - 1)) {
      throw codedError('ERR_PY_INVALID_ARG', 'exitTimeoutMs must be a number of milliseconds from 0 to 2^31 - 1')
    }
    const runtime = { executable, venv, pythonHome }
    request(runtime)
    const rest = { allowOsExit, exitTimeoutMs }
    const onlyRuntime = allowOsExit === undefined && exitTimeoutMs === undefined && Object.values(runtime).some((v) => v !== undefined)
    if (chosen() === null) {
      const given = Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined))
      startOptions = { ...startOptions, ...given }
    } else if (!onlyRuntime) load().configure(rest)
  }

  /** Versions and paths of the embedded interpreter (starts it if needed). */
  static get version(): VersionInfo {
    load()
    const { binary, source } = chosen()!
    return { ...native.version(), binary, source }
  }

  /** Appends a directory (resolved against the current directory) to `sys.path`. */
  add_syspath(dir: string): void {
    native.addSyspath(this.#owner, typeof dir === 'string' ? resolve(dir) : dir)
  }

  /** `import name`: the module as a live proxy. */
  import(name: string): PyObject {
    const owner = this.#owner
    const cached = this.#modules.get(name)
    if (cached !== undefined && native.moduleIs(handleOf(cached)!, name)) return cached
    const module = native.importModule(owner, name)
    if (handleOf(module) !== undefined) this.#modules.set(name, module)
    return module
  }

  /** Runs Python statements in the interpreter's `__main__` namespace. */
  exec(code: string): void {
    native.exec(this.#owner, code)
  }

  /** Evaluates a Python expression in the interpreter's `__main__` namespace. */
  eval(code: string): any {
    return native.eval(this.#owner, code)
  }

  /**
   * The elements of a buffer-protocol exporter (numpy array, `array.array`, `memoryview`,
   * `bytes`-like) as `{ data, shape, format }`: one copy into a TypedArray, in C order (a
   * strided array is gathered). Passed back to Python it arrives as a memoryview of that shape.
   * `into`: a TypedArray of the right kind and length to copy into (and return as `data`)
   * instead of a new one.
   */
  buffer(obj: PyObject, options?: BufferOptions): PyBuffer {
    if (options !== undefined && (typeof options !== 'object' || options === null)) {
      throw codedError('ERR_PY_INVALID_ARG', 'buffer options must be an object')
    }
    return native.buffer(this.#owner, idOf(obj), options?.into ?? null) as PyBuffer
  }

  /** `buffer`, copied on the interpreter's Python thread (`into` is for `buffer` only). */
  buffer_async(obj: PyObject, options?: CallOptions): Promise<PyBuffer> {
    if (options !== undefined && 'into' in Object(options)) {
      return Promise.reject(codedError('ERR_PY_INVALID_ARG', 'into applies to buffer(), not buffer_async()'))
    }
    return submit((call, cancellable) => native.bufferAsync(this.#owner, idOf(obj), call, cancellable), options)
  }

  /**
   * Makes a host module importable from Python (`import name`): functions become callables that
   * call back into JS, other members are converted.
   */
  expose(name: string, members: Record<string, unknown>): void {
    native.expose(this.#owner, name, members)
  }

  /** `import name`, on the interpreter's Python thread. */
  import_async(name: string, options?: CallOptions): Promise<PyObject> {
    return submit((call, cancellable) => native.importAsync(this.#owner, name, call, cancellable), options)
  }

  /** `exec`, on the interpreter's Python thread; resolves with null. */
  exec_async(code: string, options?: CallOptions): Promise<null> {
    return submit((call, cancellable) => native.execAsync(this.#owner, code, call, cancellable), options)
  }

  /** `eval`, on the interpreter's Python thread. A coroutine result is awaited on the asyncio loop. */
  eval_async(code: string, options?: CallOptions): Promise<any> {
    return submit((call, cancellable) => native.evalAsync(this.#owner, code, call, cancellable), options)
  }

  /**
   * `getattr(obj, name)(*args, **kwargs)`, on the interpreter's Python thread; a coroutine
   * result is awaited on the interpreter's asyncio loop thread.
   */
  call_async(
    obj: PyObject,
    name: string,
    args: unknown[] = [],
    kwargs?: Record<string, unknown> | Kwargs | CallOptions,
    options?: CallOptions,
  ): Promise<any> {
    if (isCallOptions(kwargs)) [kwargs, options] = [undefined, kwargs]
    const kw = isKwargs(kwargs) ? kwargs.values : (kwargs ?? null)
    return submit(
      (call, cancellable) => native.callAsync(this.#owner, idOf(obj), name, args, kw, call, cancellable),
      options,
    )
  }

  /** `getattr(obj, name)(*args, **kwargs)`. */
  call(obj: PyObject, name: string, args: unknown[] = [], kwargs?: Record<string, unknown> | Kwargs): any {
    if (isCallOptions(kwargs)) {
      throw codedError('ERR_PY_INVALID_ARG', 'callOptions only apply to _async calls: use call_async')
    }
    const kw = isKwargs(kwargs) ? kwargs.values : (kwargs ?? null)
    const id = idOf(obj)
    return native.call(this.#owner, id, typeof name === 'string' ? nameId(name) : name, args, kw)
  }

  /** `importlib.reload(module)`; accepts a module proxy or a module name. */
  reload(module: PyObject | string): PyObject {
    const target = typeof module === 'string' ? this.import(module) : module
    return native.reload(this.#owner, idOf(target))
  }

  /** Releases a proxy's Python object now; later use throws `ERR_PY_RELEASED`. */
  gc(obj: PyObject): boolean {
    return native.release(idOf(obj))
  }

  /** Releases every object created through this instance; returns how many. */
  clear(): number {
    const owner = this.#owner
    this.#modules.clear()
    return native.clear(owner)
  }

  /**
   * Ends this instance: every later use throws `ERR_PY_CONTEXT_CLOSED`. A context rejects its
   * queued calls, releases its objects, waits up to `timeoutMs` for the Python threads it
   * started, then ends its interpreter; resolves with false (and emits a warning) if threads
   * were still running, leaving the interpreter alive. A main-interpreter instance releases its
   * objects; the main interpreter stays. Calling it again returns the same promise.
   */
  close(options: CloseOptions = {}): Promise<boolean> {
    if (this.#closing !== undefined) return this.#closing
    const timeoutMs = options?.timeoutMs ?? 5000
    if (typeof timeoutMs !== 'number' || !(timeoutMs >= 0 && timeoutMs <= 2 ** 31 - 1)) {
      return Promise.reject(codedError('ERR_PY_INVALID_ARG', 'timeoutMs must be a number of milliseconds from 0 to 2^31 - 1'))
    }
    return this.#close(timeoutMs, true)
  }

  #close(timeoutMs: number, warn: boolean): Promise<boolean> {
    if (this.#closing !== undefined) return this.#closing
    this.#modules.clear()
    if (this.#interp === 0) {
      if (this.#ownerId !== 0) native.clear(this.#ownerId)
      this.#closing = Promise.resolve(true)
      return this.#closing
    }
    const interp = this.#interp
    this.#closing = submit((call) => native.closeContext(interp, timeoutMs, call)).then((ended: boolean) => {
      if (!ended && warn) {
        process.emitWarning(
          `pyembed: a context's Python threads were still running ${timeoutMs} ms after close(); its interpreter is left alive`,
          { code: 'PYEMBED_CONTEXT_LEFT_ALIVE' },
        )
      }
      return ended
    })
    return this.#closing
  }

  /** python.ts compatibility: `close()`. */
  delete(options?: CloseOptions): Promise<boolean> {
    return this.close(options)
  }

  /** `close()`: resolves `true`, or `false` if a context's threads outlived the timeout. */
  [asyncDispose](): Promise<boolean> {
    return this.close()
  }

  /**
   * Replaces a context's interpreter with a fresh one (same options), for a clean reload of
   * plugin code: closes the current one as `close()` does (its proxies then throw
   * `ERR_PY_CONTEXT_CLOSED`), and this instance goes on with the new one. Resolves like
   * `close()`: false if the old interpreter was left alive with its threads.
   */
  async restart(options?: CloseOptions): Promise<boolean> {
    if (this.#interp === 0) {
      throw codedError('ERR_PY_INVALID_ARG', 'only a context can restart: create it with { context: true }')
    }
    this.#owner // throws once closed
    const ended = await this.close(options)
    this.#interp = Python.#create(this.#options)
    this.#ownerId = native.newOwner(this.#interp)
    this.#closing = undefined
    return ended
  }

  /** Live handles: `handles` in this JS environment, `owned` by this instance. */
  stats(): { handles: number; owned: number } {
    return native.stats(this.#owner)
  }

  /** python.ts compatibility: proxies are the objects themselves. */
  unwrap<T>(obj: T): T {
    return obj
  }

  /** python.ts compatibility: proxies are live, there is nothing to refresh. */
  refresh<T>(obj: T): T {
    return obj
  }
}
