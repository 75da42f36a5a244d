// pyembed tasks demo (`npm run demo:tasks`): runs parent.py as a supervised task; it starts
// child.py as a child task, which sends its answer back as a message. Output streams as it comes.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

import { Tasks } from 'pyembed'

const appPath = dirname(fileURLToPath(import.meta.url))
const workRoot = mkdtempSync(join(tmpdir(), 'pyembed-demo-tasks-'))
// Two at once: the parent keeps its place while it waits for the child.
const tasks = new Tasks({ appPath, workRoot, concurrency: 2, timeoutSec: 30 })
// Every task's output streams as it comes, children's too: listen to each new task.
tasks.on('task', (task) => {
  const who = task.parentId !== null ? 'child ' : 'parent'
  task.on('output', (text, stream) => console.log(`  [${who}] ${stream === 'stderr' ? '(stderr) ' : ''}${text}`))
  task.on('end', (r) => console.log(`  [${who}] ended: ${r.state} in ${r.durationMs} ms`))
})

const parent = tasks.run('parent.py', { params: { n: 200 } })
const result = await parent.result

const { abandoned } = await tasks.close()
rmSync(workRoot, { recursive: true, force: true })
if (result.state !== 'done') {
  console.error(`parent.py ended ${result.state}:`, result.error ?? result.exitCode)
  process.exit(1)
}
const { n, digits, factorial } = result.value
console.log(`\nresult: ${n}! = ${factorial.slice(0, 20)}…${factorial.slice(-10)} (${digits} digits)`)
console.log(`closed: ${abandoned.length} task(s) abandoned`)
