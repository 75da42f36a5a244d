# Ends normally: `lines` lines of output, then the `value` it was given as its result.
from pyembed import task

params = task.params['scriptParams']
for i in range(params['lines']):
    print(f'line {i}')
task.result({'echo': params['value'], 'lines': params['lines']})
