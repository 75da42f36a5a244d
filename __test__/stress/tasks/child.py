# A child task: sends x * x + its index to the host and sets it as its result.
from pyembed import task

params = task.params['scriptParams']
value = params['x'] * params['x'] + params['index']
task.send(None, {'index': params['index'], 'value': value, 'parent': task.parent_id})
task.result(value)
