// Async calls: each gets an id and a promise; the native inbox settles them in batches
// (one `settle` call per wake-up of the JS thread, however many calls completed).

// Promises of async calls, by call id; settled in batches by the native inbox.
const pending = new Map<number, { resolve: (v: any) => void; reject: (e: unknown) => void }>()
let nextCall = 1

/** Native hook: settles completed calls. */
export function settle(ids: number[], oks: boolean[], values: unknown[]): void {
  for (let i = 0; i < ids.length; i++) {
    const p = pending.get(ids[i])
    if (p === undefined) continue
    pending.delete(ids[i])
    if (oks[i]) p.resolve(values[i])
    else p.reject(values[i])
  }
}

/** Submits an async native call; its result settles the returned promise. */
export function submit(start: (call: number) => void): Promise<any> {
  const call = nextCall++
  return new Promise((resolve, reject) => {
    pending.set(call, { resolve, reject })
    try {
      start(call)
    } catch (e) {
      pending.delete(call)
      reject(e)
    }
  })
}

