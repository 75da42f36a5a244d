// JS-side error types. Native code builds `PythonError`s through the `makePythonError` hook.
import { brand, isBranded } from './shared'

const PYTHON_ERROR = brand('PythonError')

/** A Python exception, raised by code that JS called. */
export class PythonError extends Error {
  readonly code = 'ERR_PY_EXCEPTION'
  /** The exception class name, e.g. `ZeroDivisionError`. */
  readonly pythonType: string
  /** `str(exception)`. */
  readonly pythonMessage: string
  /** The formatted Python traceback. */
  readonly pythonTraceback: string

  constructor(pythonType: string, pythonMessage: string, pythonTraceback: string, cause?: PythonError) {
    super(pythonMessage ? `${pythonType}: ${pythonMessage}` : pythonType, cause ? { cause } : undefined)
    this.name = 'PythonError'
    this.pythonType = pythonType
    this.pythonMessage = pythonMessage
    this.pythonTraceback = pythonTraceback
  }

  get [PYTHON_ERROR](): true {
    return true
  }

  /**
   * `instanceof PythonError` holds for errors made by another copy of this layer in the
   * environment too; a subclass keeps the usual prototype check.
   */
  static [Symbol.hasInstance](this: Function, value: unknown): boolean {
    if (this !== PythonError) return Function.prototype[Symbol.hasInstance].call(this, value)
    return isBranded(value, PYTHON_ERROR)
  }
}

/** An `Error` with a stable `code`, for misuse detected in the JS layer. */
export function codedError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code })
}
