# Never ends by itself: a busy loop, a sleep or a wait for a message that never comes.
import time

from pyembed import task

mode = task.params['scriptParams']['mode']
print(f'waiting forever: {mode}')
if mode == 'busy':
    while True:
        pass
elif mode == 'sleep':
    time.sleep(3600)
else:
    task.recv()
