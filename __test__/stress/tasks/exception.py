# Ends with an uncaught exception.
from pyembed import task

print('about to fail')
raise ValueError(f"boom {task.params['scriptParams']['tag']}")
