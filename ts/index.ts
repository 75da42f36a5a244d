// pyembed: CPython embedded in Node.js.
export {
  Python,
  type BufferOptions,
  type CloseOptions,
  type ConfigureOptions,
  type PyBuffer,
  type PythonOptions,
  type VersionInfo,
} from './python'
export { PythonError } from './errors'
export { callOptions, CallOptions, type CallOptionsInit, kwargs, Kwargs } from './kwargs'
export type { PyObject } from './proxy'
export {
  Task,
  type OutputLine,
  type RunOptions,
  type TaskResult,
  type TasksCloseResult,
  type TasksOptions,
  type TaskState,
} from './task'
export { Tasks } from './tasks'
