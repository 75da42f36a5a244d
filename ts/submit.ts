// Async calls: each gets an id and a promise; the native inbox settles them in batches
// (one `settle` call per wake-up of the JS thread, however many calls completed). Aborts and
// timeouts reject at once and ask native code to interrupt the call.
import { native } from './native'
import { codedError } from './errors'
import type { CallOptions } from './kwargs'
import { shared } from './shared'

const pending = shared.pending

/** Native hook: settles completed calls (ids of calls already aborted are skipped). */
export function settle(ids: number[], oks: boolean[], values: unknown[]): void {
  for (let i = 0; i < ids.length; i++) {
    const p = pending.get(ids[i])
    if (p === undefined) continue
    pending.delete(ids[i])
    if (oks[i]) p.resolve(values[i])
    else p.reject(values[i])
  }
}

function cancel(call: number, code: string, message: string): void {
  const p = pending.get(call)
  if (p === undefined) return
  pending.delete(call)
  native.cancelCall(call)
  p.reject(codedError(code, message))
}

/**
 * Submits an async native call, telling it whether it may be cancelled; its result settles the
 * returned promise.
 */
export function submit(start: (call: number, cancellable: boolean) => void, options?: CallOptions): Promise<any> {
  const call = shared.nextCall++
  if (options === undefined) {
    return new Promise((resolve, reject) => {
      pending.set(call, { resolve, reject })
      try {
        start(call, false)
      } catch (e) {
        pending.delete(call)
        reject(e)
      }
    })
  }
  const { signal, timeoutMs } = options
  if (signal?.aborted) return Promise.reject(codedError('ERR_PY_ABORTED', 'the call was aborted before it started'))
  return new Promise((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined
    const onAbort = () => cancel(call, 'ERR_PY_ABORTED', 'the call was aborted')
    const done = () => {
      if (timer !== undefined) clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
    }
    pending.set(call, {
      resolve: (v) => (done(), resolve(v)),
      reject: (e) => (done(), reject(e)),
    })
    try {
      start(call, true)
    } catch (e) {
      pending.delete(call)
      done()
      reject(e)
      return
    }
    signal?.addEventListener('abort', onAbort, { once: true })
    if (timeoutMs !== undefined) {
      timer = setTimeout(() => cancel(call, 'ERR_PY_TIMEOUT', `the call timed out after ${timeoutMs} ms`), timeoutMs)
    }
  })
}
