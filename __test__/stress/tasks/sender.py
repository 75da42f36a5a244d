# Task to task: takes the receiver's id from the host, then `count` messages, forwarding each
# to the receiver as it comes.
from pyembed import task

to = task.recv(timeout=30)
count = task.params['scriptParams']['count']
for _ in range(count):
    task.send(to, task.recv(timeout=30))
task.result(count)
