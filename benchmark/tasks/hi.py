# The trivial task: one line of output and a result.
from pyembed import task

print('hi')
task.result(1)
