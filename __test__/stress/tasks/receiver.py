# Task to task: takes `count` messages from the sender, passing each on to the host, then
# checks that nothing more came.
from pyembed import task

count = task.params['scriptParams']['count']
for _ in range(count):
    task.send(None, task.recv(timeout=30))
try:
    extra = task.recv(timeout=0.05)
except TimeoutError:
    extra = None
task.result({'count': count, 'extra': extra})
