import { Tasks } from 'pyembed'
import { mkdtempSync } from 'node:fs'
const N = +process.argv[2]
const tasks = new Tasks({ appPath: '/work/main/__test__/fixtures/tasks/app', workRoot: mkdtempSync('/tmp/tasktest-UkOw/w-'), concurrency: 3, graceMs: 3000 })
const slow = []
const t0 = Date.now()
for (let i = 0; i < N; i++) {
  const batch = [0, 1, 2].map(() => tasks.run('imports.py'))
  await new Promise((resolve) => setTimeout(resolve, 5 + (i * 7) % 70))
  for (const t of batch) t.cancel()
  for (const r of await Promise.all(batch.map((t) => t.result))) if (r.durationMs > 2000) slow.push(r.durationMs)
}
const quick = await tasks.run('quick.py').result
console.log(JSON.stringify({ slow, quick: quick.state, closed: await tasks.close() }), Date.now() - t0)
process.exit(0)
