# CPU-bound work in pure Python: `n` loop iterations (from the task's params).
from pyembed import task

n = task.params['scriptParams']['n']
total = 0
for i in range(n):
    total += i * i
task.result(total)
