// The one module that loads the native binding, on first use: the loader (Python-independent)
// loads the chosen Python's libpython with global symbol scope, then the binary built for its
// minor version is required (prebuilds/<platform>/pyembed.cp3XX.node). The choice is made once
// per process (ts/discover.ts); later JS environments (worker_threads) load the same binary.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs'
import { join } from 'node:path'

import type * as Binding from '../index'
import { type Choice, binariesDir, discover, type RuntimeRequest } from './discover'
import { codedError } from './errors'

/** Registered as a raw callback (see src/api/call.rs), so not in the generated index.d.ts. */
declare function call(
  owner: number,
  id: number,
  name: number | string | null,
  args: unknown[],
  kwargs: Record<string, unknown> | null,
): unknown

export type Native = typeof Binding & { call: typeof call }

interface Loader {
  chooseAndOpen(choice: string, libpython: string): string
  chosen(): string | null
}

/** Runs once the binding is loaded in this environment, before anything else uses it. */
let onLoad: ((binding: Native) => void) | null = null
/** What `Python.configure()` asked for before the binding was loaded here. */
let pending: RuntimeRequest = {}
let loader: Loader | undefined
let binding: Native | undefined

/**
 * The native binding. Until first use it is a stand-in that loads the real one on any
 * property access; `load()` then replaces it, so later accesses reach the binding directly.
 */
export let native: Native = new Proxy({} as Native, {
  get: (_, key) => (load() as any)[key],
})

/** Sets the hook that registers the TS layer's helpers (python.ts), run at load. */
export function setOnLoad(hook: (binding: Native) => void): void {
  onLoad = hook
  if (binding !== undefined) hook(binding)
}

function getLoader(): Loader {
  if (loader !== undefined) return loader
  const path = join(binariesDir(), 'pyembed-loader.node')
  try {
    loader = require(path) as Loader
  } catch (e: any) {
    throw codedError(
      'ERR_PY_INIT',
      `cannot start Python: pyembed's loader ${path} cannot be loaded (${e.message}). ` +
        `Reinstall pyembed, or build it (needs Rust): PYEMBED_BUILD_FROM_SOURCE=1 npm rebuild pyembed`,
    )
  }
  return loader
}

/** The choice in force in this process, if some environment made one. */
export function chosen(): Choice | null {
  const json = getLoader().chosen()
  return json === null ? null : (JSON.parse(json) as Choice)
}

/** True if `a` and `b` run the same Python the same way. */
function sameRuntime(a: Choice, b: Choice): boolean {
  return a.libpython === b.libpython && a.executable === b.executable && a.home === b.home
}

/** The error for asking for another Python (`asked` names it) once one is chosen. */
function alreadyChosen(inForce: Choice, asked: string): Error {
  return codedError(
    'ERR_PY_ALREADY_INITIALIZED',
    `this process already uses Python ${inForce.version} (${inForce.executable ?? inForce.libpython}, from ${inForce.source}); ` +
      `${asked} cannot replace it: choose the Python before first use`,
  )
}

/** How the user named a Python, for messages. */
function named(runtime: RuntimeRequest): string {
  return Object.entries(runtime).map(([key, value]) => `${key} ${value}`).join(', ')
}

/** Requests checked against the choice in force (the answer, by request): each probe runs a
 * Python, and python.ts code names its `runtime_path` at every `new Python()`. */
const checked = new Map<string, boolean>()

/** Records runtime options for the load (before it), or checks them against the choice. */
export function request(runtime: RuntimeRequest): void {
  const given: RuntimeRequest = Object.fromEntries(Object.entries(runtime).filter(([, v]) => v !== undefined))
  const inForce = chosen()
  if (inForce === null) {
    if (Object.keys(given).length > 0) pending = given
    return
  }
  if (Object.keys(given).length === 0) return
  const key = JSON.stringify(given)
  if (!checked.has(key)) {
    let asked: Choice | null = null
    try {
      asked = discover(given)
    } catch {} // not even a usable Python: not the one in force either
    checked.set(key, asked !== null && sameRuntime(inForce, asked))
  }
  if (!checked.get(key)) throw alreadyChosen(inForce, named(given))
}

/** Throws for an ELF file shorter than its header says (a truncated copy would be mapped and
 * then fault with SIGBUS when touched). Other files are left to `require`. */
function checkWhole(path: string): void {
  const header = Buffer.alloc(64)
  const fd = openSync(path, 'r')
  try {
    if (readSync(fd, header, 0, 64, 0) < 64 || header.readUInt32BE(0) !== 0x7f454c46 || header[4] !== 2) return
    const end = Number(header.readBigUInt64LE(0x28)) + header.readUInt16LE(0x3a) * header.readUInt16LE(0x3c)
    if (fstatSync(fd).size < end) throw new Error(`the file is truncated (${fstatSync(fd).size} of ${end} bytes)`)
  } finally {
    closeSync(fd)
  }
}

/** Loads the binding in this environment (once), choosing the Python if nobody has yet. */
export function load(): Native {
  if (binding !== undefined) return binding
  const loader = getLoader()
  let choice = chosen()
  const isNamed = Object.keys(pending).length > 0
  const asked = choice === null || isNamed ? discover(pending) : null
  if (choice === null) {
    // Another environment may have chosen meanwhile: the first choice stands.
    try {
      choice = JSON.parse(loader.chooseAndOpen(JSON.stringify(asked), asked!.libpython)) as Choice
    } catch (e: any) {
      const message = String(e.message).replace(/^ALREADY_LOADED: /, '')
      const code = message === e.message ? 'ERR_PY_INIT' : 'ERR_PY_ALREADY_INITIALIZED'
      throw codedError(code, `cannot start Python: ${message} (from ${asked!.source})`)
    }
  }
  if (isNamed && !sameRuntime(choice, asked!)) throw alreadyChosen(choice, named(pending))
  let loaded: Native
  try {
    checkWhole(choice.binary)
    loaded = require(choice.binary) as Native
  } catch (e: any) {
    throw codedError('ERR_PY_INIT', `cannot start Python: pyembed's binary ${choice.binary} cannot be loaded for ${choice.libpython}: ${e.message}`)
  }
  loaded.selectPython({ executable: choice.executable ?? undefined, home: choice.home ?? undefined, libpython: choice.libpython })
  onLoad?.(loaded) // if it throws, the next use loads again
  binding = loaded
  native = loaded
  return loaded
}
