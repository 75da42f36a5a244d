#!/usr/bin/env node
// Builds pyembed from source for one Python: its binary (prebuilds/<platform>/pyembed.cp3XX.node,
// replacing a prebuilt one), the loader, and the TypeScript layer.
//
// Python: $PYTHON (a path or a command), else `python3` on PATH. pyo3 is pinned to the real
// interpreter behind it (through pyenv shims and virtualenvs) with PYO3_PYTHON. The binary then
// serves every build of that minor version, chosen at run time.
import { buildBinary, buildLoader, buildTypeScript, checkRust, probePython } from './native.mjs'

const python = probePython(process.env.PYTHON || 'python3')
checkRust()
buildBinary(python)
buildLoader()
buildTypeScript()
