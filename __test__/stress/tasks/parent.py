# Starts one child task per entry of `xs` and ends (the children outlive it); its result is
# their ids, in order.
from pyembed import task

ids = [task.run('child.py', {'x': x, 'index': i}) for i, x in enumerate(task.params['scriptParams']['xs'])]
print(f'started {len(ids)} children')
task.result(ids)
