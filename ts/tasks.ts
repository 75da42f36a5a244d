// Supervised tasks: Python scripts run as `__main__` in task interpreters (isolated contexts
// that may start processes), with parameters, timeouts, memory limits, work directories,
// captured output, child tasks and messages. Interpreters are kept and reused (the runner puts
// each back as it was: see src/task/runner.py); one that cannot be reused is retired.
import { randomUUID } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { closeSync, mkdirSync, openSync, realpathSync, statSync, writeSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { isAbsolute, join, relative, resolve, sep } from 'node:path'

import { native } from './native'
import { codedError, PythonError } from './errors'
import { internals } from './python'
import {
  checkParams,
  decodeMessage,
  emitSafely,
  type Ending,
  invalid,
  isPlainObject,
  limitMb,
  type RunOptions,
  seconds,
  Task,
  type TaskResult,
  type TasksCloseResult,
  type TasksOptions,
} from './task'
import { type MemoryUsage, overLimit, type RunOutcome, Worker } from './worker'

const MB = 1024 * 1024
const MAX_TIMER = 2 ** 31 - 1
/** What a kept output line counts against the 1 MB kept: its bytes and newline, at least 32
 * (a flood of empty lines must not keep a million objects). */
const lineCost = (text: string) => Math.max(32, Buffer.byteLength(text) + 1)
const OUTPUT_KEPT = MB

/** Runs Python scripts as supervised tasks. See the README's "Tasks" section. */
export class Tasks extends EventEmitter {
  readonly appPath: string
  readonly workRoot: string
  readonly #realApp: string
  readonly #params: Record<string, unknown>
  readonly #timeoutSec: number
  readonly #memoryLimitMb: number
  readonly #concurrency: number
  readonly #graceMs: number
  readonly #tasks = new Map<string, Task>()
  readonly #queue: Task[] = []
  readonly #idle: Worker[] = []
  /** Workers running a task or being reset. */
  readonly #busy = new Set<Worker>()
  readonly #abandoned: string[] = []
  /** Workers being made. */
  #making = 0
  #memoryWatch: NodeJS.Timeout | null = null
  /** Closes of retired workers (bounded: a stuck one resolves after its watchdog). */
  readonly #retiring = new Set<Promise<boolean>>()
  #closing: Promise<TasksCloseResult> | null = null

  constructor(options: TasksOptions) {
    super()
    if (!isPlainObject(options)) throw invalid('options must be an object')
    const { appPath, workRoot } = options
    if (typeof appPath !== 'string' || appPath === '') throw invalid('appPath must be a directory path')
    if (typeof workRoot !== 'string' || workRoot === '') throw invalid('workRoot must be a directory path')
    this.appPath = resolve(appPath)
    try {
      if (!statSync(this.appPath).isDirectory()) throw new Error('not a directory')
      this.#realApp = realpathSync(this.appPath)
    } catch (e) {
      throw invalid(`appPath ${this.appPath} is not a directory: ${(e as Error).message}`)
    }
    this.workRoot = resolve(workRoot)
    this.#params = checkParams(options.params, 'params')
    this.#timeoutSec = seconds(options.timeoutSec, 'timeoutSec', 300)
    this.#memoryLimitMb = limitMb(options.memoryLimitMb, 100)
    const concurrency = options.concurrency ?? availableParallelism()
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256) {
      throw invalid('concurrency must be an integer from 1 to 256')
    }
    this.#concurrency = concurrency
    const graceMs = options.graceMs ?? 2000
    if (typeof graceMs !== 'number' || !(graceMs >= 0 && graceMs <= 2 ** 31 - 1)) {
      throw invalid('graceMs must be a number of milliseconds from 0 to 2^31 - 1')
    }
    this.#graceMs = graceMs
  }

  /** Queues `script` (a path relative to `appPath`) as a new task; runs it as soon as the
   * concurrency bound allows. */
  run(script: string, options: RunOptions = {}): Task {
    return this.#create(script, options, null)
  }

  /** The task `id`, if this runner made it. */
  get(id: string): Task | undefined {
    return this.#tasks.get(id)
  }

  /** Every task this runner made, children included, in creation order. */
  list(): Task[] {
    return [...this.#tasks.values()]
  }

  /** Cancels what is queued and running, waits for the running tasks to stop (each within the
   * grace period), then ends the interpreters. Calling it again returns the same promise. */
  close(): Promise<TasksCloseResult> {
    this.#closing ??= this.#close()
    return this.#closing
  }

  async #close(): Promise<TasksCloseResult> {
    for (const task of this.#tasks.values()) this.cancel(task, false)
    await Promise.all([...this.#tasks.values()].map((t) => t.result))
    // Bounded: on Python 3.10/3.11 a worker being made waits for the shared GIL, which a task
    // stuck in C code (abandoned) may hold for good.
    const giveUp = Date.now() + this.#graceMs + 5000
    while ((this.#busy.size > 0 || this.#making > 0) && Date.now() < giveUp) {
      await new Promise((r) => setTimeout(r, 5))
    }
    await Promise.all([...this.#idle.splice(0).map((w) => internals.close(w.py, 1000)), ...this.#retiring])
    return { abandoned: [...this.#abandoned] }
  }

  #create(script: string, options: RunOptions, parent: Task | null): Task {
    if (this.#closing !== null) throw codedError('ERR_PY_CONTEXT_CLOSED', 'this Tasks runner is closed')
    if (!isPlainObject(options)) throw invalid('options must be an object')
    const path = this.#resolve(script)
    const params = { ...this.#params, ...checkParams(options.params, 'params') }
    const argv = options.argv ?? []
    if (!Array.isArray(argv) || argv.some((a) => typeof a !== 'string')) throw invalid('argv must be an array of strings')
    const onOutput = options.onOutput as unknown
    if (onOutput !== undefined && typeof onOutput !== 'function') throw invalid('onOutput must be a function')
    const timeoutSec = seconds(options.timeoutSec, 'timeoutSec', this.#timeoutSec)
    const memoryLimitMb = limitMb(options.memoryLimitMb, this.#memoryLimitMb)
    const id = randomUUID()
    const workdir = join(this.workRoot, id)
    const task = new Task(this, id, parent?.id ?? null, path, {
      params,
      argv: [...argv],
      timeoutSec,
      memoryLimitMb,
      onOutput: onOutput as RunOptions['onOutput'],
      workdir,
    })
    native.taskMailboxOpen(id)
    this.#tasks.set(id, task)
    parent?.children.push(task)
    this.#queue.push(task)
    this.emit('task', task)
    queueMicrotask(() => this.#pump())
    return task
  }

  /** The absolute path of `script`, which must be a file inside `appPath`. */
  #resolve(script: string): string {
    if (typeof script !== 'string' || script === '' || script.includes('\0')) {
      throw invalid('script must be a path relative to appPath')
    }
    const path = resolve(this.appPath, script)
    const notFound = (why: string) => codedError('ERR_PY_TASK_NOT_FOUND', `no task script ${JSON.stringify(script)}: ${why}`)
    const inside = (root: string, p: string) => {
      const rel = relative(root, p)
      return rel !== '' && rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel)
    }
    if (!inside(this.appPath, path)) throw notFound(`it is outside appPath ${this.appPath}`)
    let real: string
    try {
      real = realpathSync(path)
      if (!statSync(real).isFile()) throw new Error('not a file')
    } catch (e) {
      throw notFound((e as Error).message)
    }
    if (!inside(this.#realApp, real)) throw notFound(`it leads outside appPath ${this.appPath}`)
    return path
  }

  /** Starts queued tasks while the concurrency bound allows (a worker being made counts). */
  #pump(): void {
    while (this.#queue.length > 0 && (this.#idle.length > 0 || this.#busy.size + this.#making < this.#concurrency)) {
      const task = this.#queue.shift()!
      if (task.state !== 'queued') continue
      const idle = this.#idle.pop()
      if (idle !== undefined) {
        this.#start(idle, task)
        continue
      }
      this.#making++
      Worker.create((w, stream, text) => this.#output(w, stream, text)).then(
        (worker) => {
          this.#making--
          if (task.endedAt === null) {
            this.#start(worker, task)
          } else {
            this.#release(worker, false) // cancelled meanwhile: for the next one
          }
        },
        (error: Error) => {
          this.#making--
          this.#end(task, 'failed', { error })
          this.#pump()
        },
      )
    }
  }

  #start(worker: Worker, task: Task): void {
    this.#busy.add(worker)
    worker.task = task
    task.state = 'running'
    task.startedAt = new Date()
    const { spec } = task
    try {
      mkdirSync(spec.workdir, { recursive: true })
      task.log = openSync(join(spec.workdir, 'output.log'), 'a')
      if (spec.memoryLimitMb > 0) {
        native.taskMemoryBegin(worker.interp, Math.round(spec.memoryLimitMb * MB))
        task.limited = true
      }
    } catch (e) {
      this.#end(task, 'failed', { error: e as Error })
      this.#release(worker, true)
      return
    }
    this.#arm(task, spec.timeoutSec)
    if (task.limited) this.#watchMemory()
    const call = {
      id: task.id,
      parentId: task.parentId,
      script: task.script,
      argv: spec.argv,
      appPath: this.appPath,
      workdir: spec.workdir,
      params: spec.params,
    }
    const host = (op: string, ...args: unknown[]) => this.#host(task, op, args)
    native.taskBind(worker.interp, task.id)
    const run = internals.start(worker.py, worker.runner, 'run', [call, host])
    task.call = run.call
    run.promise.then(
      (r: RunOutcome) => this.#ran(worker, task, r),
      (error: Error) => this.#stopped(worker, task, error),
    )
  }

  /** The script ended and the runner has reset the interpreter. */
  #ran(worker: Worker, task: Task, r: RunOutcome): void {
    if (worker.abandoned) return worker.stopNudging()
    const memory = this.#settled(worker, task)
    const error = r.error === null ? null : new PythonError(r.error.type, r.error.message, r.error.traceback)
    const value = r.hasValue ? r.value : undefined
    const peakMemory = memory?.peak ?? null
    if (task.ending !== null) {
      // Stopped, even if the script caught the interruption and ended by itself.
      this.#end(task, task.ending, { value, peakMemory })
    } else {
      let state: TaskResult['state'] = r.exitCode === 0 && error === null ? 'done' : 'failed'
      if (error !== null && overLimit(memory)) state = 'memory' // not for sys.exit(n)
      this.#end(task, state, { exitCode: r.exitCode, value, error, peakMemory })
    }
    this.#release(worker, !r.clean)
  }

  /** The run call ended with an exception: interrupted (`pyembed.Cancelled`), or pyembed
   * itself failed. The interpreter is reset here (the runner does not reset after a cancel). */
  #stopped(worker: Worker, task: Task, error: Error): void {
    if (worker.abandoned) return worker.stopNudging()
    const memory = this.#settled(worker, task)
    let state: TaskResult['state'] = task.ending ?? 'failed'
    if (state === 'failed' && overLimit(memory)) state = 'memory'
    this.#end(task, state, { error: task.ending === null ? error : null, peakMemory: memory?.peak ?? null })
    // The reset runs the task's leftovers (`__del__` of its objects...): it gets the task's
    // treatment, interrupted again and again, given up after the grace period.
    const reset = internals.start(worker.py, worker.runner, 'reset', [])
    const nudge = setInterval(() => native.cancelCall(reset.call), 100)
    const grace = setTimeout(() => {
      clearInterval(nudge)
      worker.abandoned = true
      native.unrefCall(reset.call)
      this.#abandoned.push(task.id)
      this.#release(worker, true)
    }, this.#graceMs)
    reset.promise.then(
      (clean: boolean) => !worker.abandoned && this.#release(worker, !clean),
      () => !worker.abandoned && this.#release(worker, true),
    ).finally(() => {
      clearInterval(nudge)
      clearTimeout(grace)
    })
  }

  /** The run call is over: stops interrupting it, unbinds its interpreter and ends its memory
   * account. */
  #settled(worker: Worker, task: Task): MemoryUsage | null {
    clearInterval(task.nudge ?? undefined)
    clearTimeout(task.grace ?? undefined)
    task.nudge = task.grace = null
    native.taskUnbind(worker.interp) // its mailbox closes in `#end`, which every caller runs next
    if (!task.limited) return null
    task.limited = false
    return native.taskMemoryEnd(worker.interp) ?? null
  }

  /** (Re)arms the task's timeout, counted from its start. */
  #arm(task: Task, timeoutSec: number): void {
    if (task.timer !== null) clearTimeout(task.timer)
    task.timer = null
    if (!(timeoutSec >= 0 && timeoutSec < Infinity) || task.startedAt === null) return
    const left = Math.max(0, task.startedAt.getTime() + timeoutSec * 1000 - Date.now())
    const fire = left > MAX_TIMER ? () => this.#arm(task, timeoutSec) : () => this.#interrupt(task, 'timeout')
    task.timer = setTimeout(fire, Math.min(left, MAX_TIMER))
    task.timer.unref()
  }

  /** Stops a running task: `pyembed.Cancelled` at its next bytecode (sent again every 100 ms:
   * Python swallows an exception raised in a weakref callback or `__del__`), and its waits end.
   * If it has not stopped after the grace period, it is abandoned. */
  #interrupt(task: Task, why: Ending): void {
    if (task.state !== 'running' || task.ending !== null || task.call === 0) return
    task.ending = why
    native.taskMailboxInterrupt(task.id)
    const call = task.call
    native.cancelCall(call)
    task.nudge = setInterval(() => native.cancelCall(call), 100)
    task.grace = setTimeout(() => this.#abandon(task), this.#graceMs)
  }

  /** A task stuck in a blocking call past its grace period: it ends now (as what stopped it),
   * and its interpreter is closed whenever the call returns; a new one takes its place. */
  #abandon(task: Task): void {
    const worker = [...this.#busy].find((w) => w.task === task)
    if (worker === undefined || task.endedAt !== null) return
    // Its memory limit stays (it ends with the interpreter), and so do the interrupts, on an
    // unref'd timer: a task that swallows them still gets them, as long as it runs.
    const memory = task.limited ? native.taskMemoryUsage(worker.interp) : null
    task.limited = false
    clearTimeout(task.grace ?? undefined)
    task.grace = null
    task.nudge?.unref()
    const nudge = task.nudge
    task.nudge = null
    worker.abandoned = true
    native.taskUnbind(worker.interp)
    native.unrefCall(task.call)
    this.#abandoned.push(task.id)
    this.#end(task, task.ending ?? 'cancelled', { peakMemory: memory?.peak ?? null })
    this.#release(worker, true)
    worker.stopNudging = () => clearInterval(nudge ?? undefined)
  }

  /** While tasks with a memory limit run, every 25 ms: a task over its limit (through small
   * blocks, which may go a little over it: see src/task/memory.rs) or that keeps hitting it
   * (refusals in two checks in a row) is stopped as `memory`. */
  #watchMemory(): void {
    if (this.#memoryWatch !== null) return
    this.#memoryWatch = setInterval(() => {
      let limited = 0
      for (const worker of this.#busy) {
        const task = worker.task
        if (task === null || !task.limited) continue
        limited++
        const usage = native.taskMemoryUsage(worker.interp)
        if (usage === null) continue
        const hitting = usage.refused > task.refusedSeen && task.refusedSeen > 0
        if (usage.used > usage.limit || hitting) this.#interrupt(task, 'memory')
        task.refusedSeen = usage.refused
      }
      if (limited === 0) {
        clearInterval(this.#memoryWatch!)
        this.#memoryWatch = null
      }
    }, 25)
    this.#memoryWatch.unref()
  }

  /** @internal `Task.cancel`. */
  cancel(task: Task, children: boolean): void {
    if (children) for (const child of task.children) this.cancel(child, true)
    if (task.state === 'queued') this.#end(task, 'cancelled', {})
    else this.#interrupt(task, 'cancelled')
  }

  /** The worker is free again: back to the pool, or retired (closed, in the background). */
  #release(worker: Worker, retire: boolean): void {
    worker.task = null
    this.#busy.delete(worker)
    if (retire || this.#closing !== null) {
      const closed = internals.close(worker.py, retire ? 0 : 1000).catch(() => false)
      this.#retiring.add(closed)
      closed.then(() => this.#retiring.delete(closed))
    } else {
      this.#idle.push(worker)
    }
    this.#pump()
  }

  #end(task: Task, state: TaskResult['state'], outcome: Partial<TaskResult>): void {
    if (task.endedAt !== null) return
    if (task.timer !== null) clearTimeout(task.timer)
    task.timer = null
    if (task.log !== null) {
      closeSync(task.log)
      task.log = null
    }
    native.taskMailboxClose(task.id)
    task.state = state
    task.endedAt = new Date()
    const r: TaskResult = {
      id: task.id,
      state,
      exitCode: outcome.exitCode ?? (state === 'done' ? 0 : null),
      value: outcome.value,
      output: task.output,
      outputTruncated: task.outputTruncated,
      error: outcome.error ?? null,
      durationMs: task.startedAt === null ? null : task.endedAt.getTime() - task.startedAt.getTime(),
      peakMemory: outcome.peakMemory ?? null,
    }
    task.resolve(r)
    emitSafely(task, 'end', r)
  }

  /** Output of the task running on `worker`: split into lines, kept, logged, streamed. */
  #output(worker: Worker, stream: 'stdout' | 'stderr', text: string): void {
    const task = worker.task
    if (task === null || task.endedAt !== null) return
    if (task.log !== null) writeSync(task.log, text)
    const t = Date.now()
    const lines = text.endsWith('\n') ? text.slice(0, -1).split('\n') : text.split('\n')
    for (const line of lines) {
      task.output.push({ stream, text: line, t })
      task.outputBytes += lineCost(line)
      try {
        task.spec.onOutput?.(line, stream)
        if (task.listenerCount('output') > 0) task.emit('output', line, stream)
      } catch (e) {
        process.emitWarning(`pyembed: a task's onOutput threw: ${(e as Error)?.message ?? e}`, {
          code: 'PYEMBED_ONOUTPUT_THREW',
        })
      }
    }
    if (task.outputBytes > OUTPUT_KEPT) {
      let drop = 0
      while (task.outputBytes > OUTPUT_KEPT && drop < task.output.length - 1) {
        task.outputBytes -= lineCost(task.output[drop++].text)
      }
      task.output.splice(0, drop) // once: shifting one at a time is quadratic
      task.outputTruncated = true
    }
  }

  /** What a task's Python code asks of its host: `[status, value]`, status 'ok' or a code. */
  #host(task: Task, op: string, args: unknown[]): [string, unknown] {
    if (task.endedAt !== null) return ['ERR_PY_TASK_ENDED', `task ${task.id} has ended`]
    try {
      switch (op) {
        case 'run': {
          const [script, params, argv] = args as [string, Record<string, unknown> | null, string[] | null]
          const child = this.#create(script, { params: params ?? undefined, argv: argv ?? undefined }, task)
          return ['ok', child.id]
        }
        case 'send': {
          const [kind, payload] = args as [number, unknown]
          task.emit('message', decodeMessage(kind, payload))
          return ['ok', null]
        }
        case 'timeout': {
          if (typeof args[0] !== 'number' || Number.isNaN(args[0])) return ['ERR_PY_INVALID_ARG', 'seconds must be a number']
          task.spec.timeoutSec = args[0]
          if (task.state === 'running') this.#arm(task, task.spec.timeoutSec)
          return ['ok', null]
        }
        default:
          return ['ERR_PY_INVALID_ARG', `unknown request ${op}`]
      }
    } catch (e) {
      return [(e as { code?: string }).code ?? 'ERR_PY_JS_EXCEPTION', (e as Error).message ?? String(e)]
    }
  }
}
