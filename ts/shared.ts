// State that must be one per JS environment even when this layer is loaded twice in it (two
// copies of the package, a test runner's fresh module registry): the native binding keeps one
// set of hooks and one settle path per environment, so call ids, their promises and the
// markers' identities live here, on the environment's global object under registered symbols.

export interface Pending {
  resolve: (v: any) => void
  reject: (e: unknown) => void
}

interface Shared {
  /** Async calls waiting for their result, by call id. */
  readonly pending: Map<number, Pending>
  nextCall: number
  /** Whether the native hooks were registered (by whichever copy loaded first). */
  initialized: boolean
}

const key = Symbol.for('pyembed.environment.v1')

export const shared: Shared = ((globalThis as any)[key] ??= {
  pending: new Map<number, Pending>(),
  nextCall: 1,
  initialized: false,
})

/** A registered symbol: the same in every copy of this layer. */
export function brand(name: string): symbol {
  return Symbol.for(`pyembed.${name}`)
}

/** True for an object whose `brand` property is `true` (markers, errors of any copy). */
export function isBranded(value: unknown, brand: symbol): boolean {
  return typeof value === 'object' && value !== null && (value as any)[brand] === true
}
