# Allocates 1 MiB at a time, far past its memory limit; stops at `capMb` (a safety net while
# memory limits are not enforced: the task then ends `done`, which the stress test reports).
from pyembed import task

cap = task.params['scriptParams']['capMb']
chunks = []
for _ in range(cap):
    chunks.append(bytearray(1 << 20))
print(f'allocated {cap} MiB and was not stopped')
task.result(len(chunks))
