// The one module that loads the native binding (generated `index.js` at the package root).
import binding = require('../index.js')

/** Registered as a raw callback (see src/api/call.rs), so not in the generated index.d.ts. */
declare function call(
  owner: number,
  id: number,
  name: number | string | null,
  args: unknown[],
  kwargs: Record<string, unknown> | null,
): unknown

const native = binding as typeof binding & { call: typeof call }

export = native
