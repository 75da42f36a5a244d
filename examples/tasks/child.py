# The child task: computes n! and sends it to the task that started it.
import math

from pyembed import task

n = task.params['scriptParams']['n']
print(f'child {task.id[:8]}: computing {n}!')
task.send(task.parent_id, {'from': task.id, 'factorial': math.factorial(n)})
