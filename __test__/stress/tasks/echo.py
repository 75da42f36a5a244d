# Host round trips: takes `count` messages, sending each back to the host as it comes
# (with `recv_async` inside a coroutine when `async` is set).
import asyncio

from pyembed import task

params = task.params['scriptParams']


async def echo_async():
    for _ in range(params['count']):
        task.send(None, await task.recv_async(timeout=30))


if params['async']:
    asyncio.run(echo_async())
else:
    for _ in range(params['count']):
        task.send(None, task.recv(timeout=30))
task.result(params['count'])
