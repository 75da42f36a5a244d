#!/usr/bin/env node
// npm's install hook. A package with prebuilt binaries for this platform builds nothing; a git
// checkout, a platform without them, or PYEMBED_BUILD_FROM_SOURCE=1 builds from source (Rust).
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'

import { binariesDir, root } from './native.mjs'

const dir = binariesDir()
const prebuilt = existsSync(join(dir, 'pyembed-loader.node')) && readdirSync(dir).some((n) => /^pyembed\.cp\d+\.node$/.test(n))
const checkout = existsSync(join(root, '.git'))
if (process.env.PYEMBED_BUILD_FROM_SOURCE === '1' || checkout || !prebuilt) {
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { stdio: 'inherit' })
  process.exit(r.status ?? 1)
}
