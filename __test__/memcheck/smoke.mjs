// A short tour of pyembed for memory checkers (valgrind, ASan; see docs/debugging.md): the main
// interpreter, a callback, a callback from a Python thread, a cyclic argument, proxies collected by
// the JS garbage collector, and a context opened and closed.
import { Python } from 'pyembed'
const py = new Python()
py.exec('import threading\ndef twice(f, x):\n    return f(x) * 2\ndef in_thread(f):\n    out = []\n    t = threading.Thread(target=lambda: out.append(f(21)))\n    t.start(); t.join()\n    return out[0]')
const main = py.import('__main__')
if (main.twice((x) => x + 1, 1) !== 4) throw new Error('twice')
if ((await main.in_thread_async((x) => x * 2)) !== 42) throw new Error('in_thread')
const xs = [1, 'a']; xs.push(xs)
if (py.eval('lambda a: a[2] is a')(xs) !== true) throw new Error('cyclic')
for (let i = 0; i < 100; i++) py.eval('object()')
globalThis.gc?.()
const ctx = new Python({ context: true })
if (ctx.eval('1 + 1') !== 2 || (await ctx.eval_async('2 + 2')) !== 4) throw new Error('context')
if ((await ctx.close()) !== true) throw new Error('close')
console.log('smoke ok', py.clear())
