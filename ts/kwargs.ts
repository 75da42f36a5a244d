// Keyword arguments marker: the last argument of a call, `kwargs({ sep: ',' })`.

export class Kwargs {
  constructor(readonly values: Record<string, unknown>) {}
}

/** Marks an object as Python keyword arguments: `obj.method(1, kwargs({ key: 2 }))`. */
export function kwargs(values: Record<string, unknown>): Kwargs {
  return new Kwargs(values)
}

/** Splits a trailing `Kwargs` off an argument list. */
export function splitKwargs(args: unknown[]): [unknown[], Record<string, unknown> | null] {
  const n = args.length
  if (n === 0) return [args, null] // (args[-1] would be a slow string-keyed lookup)
  const last = args[n - 1]
  if (last instanceof Kwargs) return [args.slice(0, -1), last.values]
  return [args, null]
}
