// Regression for the memory over time of task interpreters: CPython 3.12/3.13 keep ~2.5 MB of
// every isolated interpreter they end, so tasks must reuse interpreters, and what a task leaves
// behind must be given back when the next one starts.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'

import { Tasks } from '../dist/index.js'
import { fixtures } from './helpers.mjs'

const MiB = 2 ** 20

test('10,000 sequential trivial tasks leave RSS within +100 MB', async (t) => {
  const workRoot = mkdtempSync(join(tmpdir(), 'pyembed-churn-'))
  const tasks = new Tasks({ appPath: join(fixtures, 'churn'), workRoot, concurrency: 2 })
  try {
    for (let i = 0; i < 50; i++) assert.equal((await tasks.run('trivial.py').result).state, 'done')
    globalThis.gc?.()
    const before = process.memoryUsage().rss
    for (let i = 0; i < 10_000; i++) {
      const r = await tasks.run('trivial.py').result
      if (r.state !== 'done' || r.value !== 14) assert.fail(`task ${i}: ${JSON.stringify(r)}`)
    }
    globalThis.gc?.()
    const grown = (process.memoryUsage().rss - before) / MiB
    t.diagnostic(`RSS +${grown.toFixed(1)} MiB`)
    assert.ok(grown < 100, `RSS grew by ${grown.toFixed(1)} MiB`)
    assert.deepEqual(await tasks.close(), { abandoned: [] })
  } finally {
    await tasks.close()
    rmSync(workRoot, { recursive: true, force: true })
  }
})
