// A task interpreter as the `Tasks` supervisor holds it (`Worker`: reused from task to task),
// and what the runner module in it gives back.
import { type PyObject } from './proxy'
import { internals, type Python } from './python'
import { type Task } from './task'

export interface MemoryUsage {
  used: number
  peak: number
  refused: number
  limit: number
}

/** Whether a task's interpreter hit its limit: an allocation refused, or over it. */
export function overLimit(memory: MemoryUsage | null): boolean {
  return memory !== null && (memory.refused > 0 || memory.peak > memory.limit)
}

/** What the runner's `run` returns (src/task/runner.py). */
export interface RunOutcome {
  exitCode: number
  value: unknown
  hasValue: boolean
  error: { type: string; message: string; traceback: string } | null
  /** Whether the interpreter could be put back as it was. */
  clean: boolean
}

/** A task interpreter, reused from task to task. */
export class Worker {
  task: Task | null = null
  /** Its task was given up while it ran: its late outcome is ignored. */
  abandoned = false
  /** Ends the interrupts still sent to an abandoned task's call. */
  stopNudging: () => void = () => {}
  readonly py: Python
  readonly runner: PyObject

  private constructor(py: Python, runner: PyObject) {
    this.py = py
    this.runner = runner
  }

  get interp(): number {
    return internals.interp(this.py)
  }

  /** A new one, made off the JS thread (see `createTaskContext`). */
  static async create(output: (worker: Worker, stream: 'stdout' | 'stderr', text: string) => void): Promise<Worker> {
    let worker: Worker | null = null
    const py = await internals.taskContext(
      (text) => worker !== null && output(worker, 'stdout', text),
      (text) => worker !== null && output(worker, 'stderr', text),
    )
    try {
      const runner = await py.import_async('_pyembed_tasks')
      await py.call_async(runner, 'prepare')
      worker = new Worker(py, runner)
      return worker
    } catch (e) {
      await internals.close(py, 0)
      throw e
    }
  }
}
