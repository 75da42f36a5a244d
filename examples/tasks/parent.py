# The parent task: hands the work to a child task, waits for its answer, and reports it.
import time

from pyembed import task

n = task.params['scriptParams']['n']
print(f'parent {task.id[:8]}: asking a child task for {n}!')
child = task.run('child.py', {'n': n})
print(f'parent: started child {child[:8]}, waiting for its answer')
started = time.perf_counter()
answer = task.recv(timeout=30)
print(f'parent: child {answer["from"][:8]} answered in {(time.perf_counter() - started) * 1000:.1f} ms')
digits = len(str(answer['factorial']))
print(f'parent: {n}! has {digits} digits')
task.result({'n': n, 'digits': digits, 'factorial': str(answer['factorial'])})
