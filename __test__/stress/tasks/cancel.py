# Works for `ms` milliseconds (busy or asleep), unless cancelled first.
import time

from pyembed import task

params = task.params['scriptParams']
print('working')
end = time.monotonic() + params['ms'] / 1000
if params['busy']:
    while time.monotonic() < end:
        pass
else:
    time.sleep(params['ms'] / 1000)
task.result('finished')
