// A task as its runner's users see it: its state, result, messages and events; the options
// and results of the `Tasks` API, and the checks and message encoding both files share.
import { EventEmitter } from 'node:events'

import { native } from './native'
import { codedError } from './errors'

export type TaskState = 'queued' | 'running' | 'done' | 'failed' | 'timeout' | 'memory' | 'cancelled'

export interface OutputLine {
  stream: 'stdout' | 'stderr'
  /** One line, without its newline. */
  text: string
  /** When it arrived (`Date.now()`). */
  t: number
}

export interface TaskResult {
  id: string
  state: Exclude<TaskState, 'queued' | 'running'>
  /** 0 for `done`; `sys.exit(n)` gives n, an uncaught exception 1; null if it never ended. */
  exitCode: number | null
  /** What the script passed to `task.result(value)` (undefined if nothing). */
  value: unknown
  /** The last 1 MB of its output lines. */
  output: OutputLine[]
  /** True if earlier output lines were dropped from `output` (output.log has them all). */
  outputTruncated: boolean
  /** `failed`: the uncaught exception (a `PythonError` with traceback); otherwise null. */
  error: Error | null
  /** From start to end, or null if it never started. */
  durationMs: number | null
  /** Memory its interpreter took at most, in bytes (null without a limit). */
  peakMemory: number | null
}

export interface TasksOptions {
  /** Where scripts and their local modules live: `sys.path[0]` of every task. */
  appPath: string
  /** Each task gets `workRoot/<id>/` (created; kept after it ends). */
  workRoot: string
  /** Parameters of every task, under each task's own (the task's win). */
  params?: Record<string, unknown>
  /** Default timeout per task, in seconds (default 300); below 0: none. */
  timeoutSec?: number
  /** Default memory limit per task, in MB (default 100); below 0: none. */
  memoryLimitMb?: number
  /** Tasks running at once (default: available parallelism); the rest queue. */
  concurrency?: number
  /** How long an interrupted task may take to stop before it is abandoned (default 2000 ms). */
  graceMs?: number
}

export interface RunOptions {
  params?: Record<string, unknown>
  /** `sys.argv[1:]`. */
  argv?: string[]
  timeoutSec?: number
  memoryLimitMb?: number
  /** Each output line as it arrives. */
  onOutput?: (text: string, stream: 'stdout' | 'stderr') => void
}

export interface TasksCloseResult {
  /** Tasks whose interpreters were still busy (a blocking call) when they were given up. */
  abandoned: string[]
}

const MESSAGE_TEXT = 0
const MESSAGE_BYTES = 1
export const MESSAGE_JSON = 2
export type Ending = 'timeout' | 'cancelled' | 'memory'

/** What `Task.cancel` asks of the runner that made the task. */
export interface Canceller {
  cancel(task: Task, children: boolean): void
}

/** Emits `event`; a listener that throws is the host's bug: rethrown on its own tick (as an
 * uncaught exception, like any listener's), never into the supervisor's bookkeeping. */
export function emitSafely(emitter: EventEmitter, event: string, ...args: unknown[]): void {
  try {
    emitter.emit(event, ...args)
  } catch (e) {
    process.nextTick(() => {
      throw e
    })
  }
}

export function invalid(message: string): Error {
  return codedError('ERR_PY_INVALID_ARG', message)
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null) return false
  const proto = Object.getPrototypeOf(v)
  return proto === Object.prototype || proto === null
}

export function seconds(v: unknown, what: string, fallback: number): number {
  if (v === undefined) return fallback
  if (typeof v !== 'number' || Number.isNaN(v)) throw invalid(`${what} must be a number`)
  return v
}

export function limitMb(v: unknown, fallback: number): number {
  if (v === undefined) return fallback
  if (typeof v !== 'number' || Number.isNaN(v) || (v >= 0 && v < 1) || v > 2 ** 33) {
    throw invalid('memoryLimitMb must be a number of MB from 1 to 2^33, or below 0 for no limit')
  }
  return v
}

export function checkParams(v: unknown, what: string): Record<string, unknown> {
  if (v === undefined) return {}
  if (!isPlainObject(v)) throw invalid(`${what} must be a plain object`)
  try {
    return JSON.parse(JSON.stringify(v)) // what a task gets is plain data, whatever it was given
  } catch (e) {
    throw invalid(`${what} must be JSON-able: ${(e as Error).message}`)
  }
}

/** What crosses to the task: a string, bytes, or JSON text. */
export function encodeMessage(data: unknown): [number, string | Uint8Array] {
  if (typeof data === 'string') return [MESSAGE_TEXT, data]
  if (ArrayBuffer.isView(data)) {
    return [MESSAGE_BYTES, new Uint8Array(data.buffer, data.byteOffset, data.byteLength)]
  }
  let json: string | undefined
  try {
    json = JSON.stringify(data)
  } catch (e) {
    throw invalid(`a message must be a string, a Buffer or JSON-able: ${(e as Error).message}`)
  }
  if (json === undefined) throw invalid('a message must be a string, a Buffer or JSON-able')
  return [MESSAGE_JSON, json]
}

export function decodeMessage(kind: number, payload: unknown): unknown {
  if (kind === MESSAGE_JSON) return JSON.parse(payload as string)
  if (kind === MESSAGE_BYTES) return Buffer.from(payload as Uint8Array)
  return payload
}

/** One run of a script: its state, its result (a promise that never rejects), its messages. */
export class Task extends EventEmitter {
  readonly id: string
  readonly parentId: string | null
  /** The script's absolute path. */
  readonly script: string
  state: TaskState = 'queued'
  startedAt: Date | null = null
  endedAt: Date | null = null
  /** Settles once the task ended, whatever the outcome. */
  readonly result: Promise<TaskResult>

  /** @internal */ readonly spec: {
    params: Record<string, unknown>
    argv: string[]
    timeoutSec: number
    memoryLimitMb: number
    onOutput?: RunOptions['onOutput']
    workdir: string
  }
  /** @internal */ readonly children: Task[] = []
  /** @internal Why it is being stopped, once it is. */ ending: Ending | null = null
  /** @internal */ output: OutputLine[] = []
  /** @internal */ outputBytes = 0
  /** @internal */ outputTruncated = false
  /** @internal */ log: number | null = null
  /** @internal */ timer: NodeJS.Timeout | null = null
  /** @internal The run call, once started (for `cancelCall`). */ call = 0
  /** @internal Re-sends the interruption until the call ends. */ nudge: NodeJS.Timeout | null = null
  /** @internal Abandons it if it has not stopped in time. */ grace: NodeJS.Timeout | null = null
  /** @internal Its interpreter has a memory limit (until `#settled`). */ limited = false
  /** @internal Refused allocations at the last memory check. */ refusedSeen = 0
  /** @internal */ resolve!: (r: TaskResult) => void
  readonly #runner: Canceller

  /** @internal */
  constructor(runner: Canceller, id: string, parentId: string | null, script: string, spec: Task['spec']) {
    super()
    this.#runner = runner
    this.id = id
    this.parentId = parentId
    this.script = script
    this.spec = spec
    this.result = new Promise((resolve) => (this.resolve = resolve))
  }

  /** Stops the task (queued: at once; running: interrupted, see README); with `children`,
   * its child tasks too, recursively. Does nothing once it ended. */
  cancel({ children = false }: { children?: boolean } = {}): void {
    this.#runner.cancel(this, children)
  }

  /** Sends `data` (a string, a Buffer/TypedArray, or a JSON-able value) to the task, which
   * takes it with `task.recv()`. `ERR_PY_TASK_ENDED` once it ended. */
  send(data: unknown): void {
    const [kind, payload] = encodeMessage(data)
    native.taskMailboxPost(this.id, kind, payload)
  }

  get ended(): boolean {
    return this.endedAt !== null
  }
}
