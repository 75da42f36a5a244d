"""The task runner of a task interpreter (module `_pyembed_tasks`): runs one task's script at a
time as `__main__`, then puts the interpreter back as it was before the first task, so that the
next task sees none of its globals, modules, `sys.path` or `sys.argv` changes.

Loaded by src/task/runner.rs, which sets the native functions `_recv`, `_post`, `_unrecv` and
`_sleep` (mailboxes live in Rust: a message between tasks never waits for the JS thread).
The TS `Tasks` class calls `prepare()` once, then `run()` and `reset()` for each task.
"""
import builtins
import sys
import threading
import time

import pyembed

_TEXT, _BYTES, _JSON = 0, 1, 2

#: What the interpreter looked like before its first task (set by `prepare`).
_baseline = None


class _Baseline:
    def __init__(self):
        self.modules = dict(sys.modules)
        self.main = sys.modules['__main__']
        self.path = list(sys.path)
        self.argv = list(sys.argv)
        self.meta_path = list(sys.meta_path)
        self.path_hooks = list(sys.path_hooks)
        self.builtins = dict(builtins.__dict__)
        self.stdout, self.stderr, self.stdin = sys.stdout, sys.stderr, sys.stdin
        self.hooks = {name: getattr(sys, name) for name in (
            'excepthook', 'unraisablehook', 'displayhook', 'breakpointhook')}
        self.thread_excepthook = threading.excepthook
        self.recursion_limit = sys.getrecursionlimit()
        self.sleep = time.sleep
        import atexit
        self.atexit_register = atexit.register
        self.thread_register = threading._register_atexit
        self.threads = _thread_count()


def _thread_count():
    import _thread
    return _thread._count()


def prepare():
    """Records the clean state, once, before the first task."""
    global _baseline
    if _baseline is None:
        _baseline = _Baseline()
        sys.addaudithook(_audit)


#: Set when a task added an audit hook: those cannot be removed, so its interpreter retires.
_audited = False


def _audit(event, args):
    global _audited
    if event == 'sys.addaudithook':
        _audited = True


def _encode(data):
    if isinstance(data, str):
        return _TEXT, data
    if isinstance(data, (bytes, bytearray, memoryview)):
        return _BYTES, bytes(data)
    import json
    try:
        return _JSON, json.dumps(data, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise TypeError(f'a message must be str, bytes or JSON-able: {e}') from None


def _decode(kind, payload):
    if kind == _JSON:
        import json
        return json.loads(payload)
    return payload


class Task:
    """`from pyembed import task`: the running task, seen from its own script."""

    def __init__(self, spec, host):
        self.id = spec['id']
        self.parent_id = spec['parentId']
        self.workdir = spec['workdir']
        self.script_params = spec['params']
        self.params = {
            'pid': self.id,
            'parentPid': self.parent_id,
            'applicationPath': spec['appPath'],
            'scriptPath': spec['script'],
            'scriptParams': self.script_params,
            'outputPath': self.workdir,
        }
        self._host = host
        self._value = None
        self._has_value = False

    def __repr__(self):
        return f'<pyembed task {self.id}>'

    def result(self, value):
        """Sets the task's value (what `task.result` resolves with in JS, converted as usual)."""
        self._value = value
        self._has_value = True

    def run(self, script, params=None, argv=None):
        """Starts a child task running `script` (relative to the application path) with
        `params`; returns its id at once. The child may outlive this task."""
        if params is not None and not isinstance(params, dict):
            raise TypeError('params must be a dict')
        if argv is not None:
            argv = [str(a) for a in argv]
        return self._call_host('run', script, params, argv)

    def send(self, to, data):
        """Sends `data` (str, bytes, or a JSON-able value) to task `to`, or to the host if `to`
        is None. Raises RuntimeError if that task has ended."""
        kind, payload = _encode(data)
        if to is None:
            self._call_host('send', kind, payload)
        else:
            _post(str(to), kind, payload)

    def recv(self, timeout=None):
        """The next message sent to this task, in order; waits up to `timeout` seconds (None:
        no limit), then raises TimeoutError."""
        kind, payload = _recv(timeout)
        return _decode(kind, payload)

    async def recv_async(self, timeout=None):
        """`recv()` for coroutines: waits on a thread of its own, leaving the loop free."""
        import asyncio
        loop = asyncio.get_running_loop()
        future = loop.create_future()

        def deliver(outcome, value):
            if future.cancelled():
                if outcome == 'message':  # nobody takes it now: back in front of the queue
                    _unrecv(*value)
                return
            if outcome == 'message':
                future.set_result(_decode(*value))
            else:
                future.set_exception(value)

        def wait():
            try:
                value, outcome = _recv(timeout), 'message'
            except BaseException as e:
                value, outcome = e, 'error'
            try:
                loop.call_soon_threadsafe(deliver, outcome, value)
            except RuntimeError:  # the loop is closed
                if outcome == 'message':
                    _unrecv(*value)

        threading.Thread(target=wait, name=_RECV_THREAD).start()
        return await future

    def set_timeout(self, seconds):
        """Changes this task's timeout to `seconds` from its start (below 0: no limit)."""
        self._call_host('timeout', float(seconds))

    def _call_host(self, op, *args):
        status, value = self._host(op, *args)
        if status == 'ok':
            return value
        errors = {'ERR_PY_TASK_NOT_FOUND': FileNotFoundError, 'ERR_PY_INVALID_ARG': ValueError}
        raise errors.get(status, RuntimeError)(value)


#: `recv_async`'s waiting threads: not joined at the script's end (an abandoned wait lasts until
#: the task's mailbox closes, right after).
_RECV_THREAD = 'pyembed-task-recv'


def _exit_code(exit):
    """What `python script.py` exits with for a `SystemExit`."""
    code = exit.code
    if code is None:
        return 0
    if isinstance(code, int):
        return int(code)  # sys.exit(True) is 1
    print(code, file=sys.stderr)
    return 1


def run(spec, host):
    """Runs the task `spec` describes, then puts the interpreter back (`reset`). Returns
    `{exitCode, value, hasValue, error, clean}`: `error` describes an uncaught exception (its
    traceback printed to stderr first, as Python does), `clean` is what `reset` said. A
    cancellation (`pyembed.Cancelled`) propagates: the supervisor resets with a call of its own."""
    import types
    task = Task(spec, host)
    script = spec['script']
    pyembed.task = task
    sys.argv = [script, *spec['argv']]
    sys.path = [spec['appPath'], *_baseline.path]
    time.sleep = _interruptible_sleep()
    import atexit
    atexit.register = _recording_register
    threading._register_atexit = _recording_thread_register
    main = types.ModuleType('__main__')
    main.__file__ = script
    main.__builtins__ = builtins
    sys.modules['__main__'] = main
    exit_code, error = 0, None
    try:
        exec(_compiled(script), main.__dict__)
    except SystemExit as e:
        exit_code = _exit_code(e)
    except pyembed.Cancelled:
        raise
    except BaseException as e:
        exit_code, error = 1, _describe(e.with_traceback(e.__traceback__.tb_next))  # not this frame
    _shutdown()
    outcome = {'exitCode': exit_code, 'value': task._value, 'hasValue': task._has_value,
               'error': error}
    task._value = None
    outcome['clean'] = reset()
    return outcome


#: Compiled scripts by path, with the file's (mtime, size) when compiled.
_code = {}


def _compiled(script):
    """The script's code object, compiled again only when its file changed."""
    import os
    stat = os.stat(script)
    stamp = (stat.st_mtime_ns, stat.st_size)
    cached = _code.get(script)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    with open(script, 'rb') as f:
        code = compile(f.read(), script, 'exec', dont_inherit=True)
    if len(_code) >= 64:
        _code.clear()
    _code[script] = (stamp, code)
    return code


def _describe(exc):
    """An uncaught exception as the supervisor's `PythonError` takes it; printed to stderr."""
    import traceback
    lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
    sys.stderr.write(''.join(lines))
    return {'type': type(exc).__name__, 'message': str(exc), 'traceback': ''.join(lines)}


def _interruptible_sleep():
    real = _baseline.sleep

    def sleep(seconds):
        if not _sleep(seconds):
            raise pyembed.Cancelled('the task was cancelled')

    sleep.__doc__ = real.__doc__
    return sleep


def _shutdown():
    """What ends a Python process after its script: threading's exit hooks, a join of the
    threads the script started (while the task's timeout allows), then atexit; output flushed."""
    pyembed._run_exit_hooks(_join_threads)


#: Top-level packages whose modules registered exit hooks during the task: they ran, so those
#: modules are shut down (concurrent.futures refuses new work): dropped at reset.
_shut = set()


def _hooked(func):
    module = getattr(func, '__module__', None)
    if isinstance(module, str):
        _shut.add(module.partition('.')[0])


def _recording_register(func, *args, **kwargs):
    """`atexit.register` during a task: notes whose hook it is (see `_shut`)."""
    _hooked(func)
    return _baseline.atexit_register(func, *args, **kwargs)


def _recording_thread_register(func, *args, **kwargs):
    """`threading._register_atexit` during a task, likewise (concurrent.futures uses it)."""
    _hooked(func)
    return _baseline.thread_register(func, *args, **kwargs)


def _join_threads():
    # Not this thread, nor the reactor (it stops at reset), nor threads `threading` did not
    # start (3.13 records this one as a dummy thread).
    own = (threading.current_thread(), threading.main_thread(), pyembed._loop_thread)
    for thread in threading.enumerate():
        if (thread not in own and not thread.daemon and thread.is_alive()
                and thread.name != _RECV_THREAD
                and not isinstance(thread, threading._DummyThread)):
            while thread.is_alive():  # in slices, so that a cancellation lands
                thread.join(0.05)


def _release_import_locks():
    """An interrupt (`pyembed.Cancelled` sent by a cancel or timeout) lands at any bytecode,
    also inside importlib while it holds the import lock or a module's lock, which would then
    stay held by this thread: every later import would wait forever (before 3.12 the import lock
    is shared by every interpreter). Locks this thread holds are released here; it runs no
    import of its own between tasks."""
    import _imp
    import _thread
    for _ in range(1000):
        try:
            _imp.release_lock()
        except RuntimeError:  # not held by this thread
            break
    me = _thread.get_ident()
    bootstrap = sys.modules.get('_frozen_importlib')
    for ref in list(getattr(bootstrap, '_module_locks', {}).values()):
        lock = ref()
        for _ in range(1000):
            if lock is None or getattr(lock, 'owner', None) != me:
                break
            try:
                lock.release()
            except RuntimeError:
                break
    blocking = getattr(bootstrap, '_blocking_on', None)
    try:
        blocking.pop(me, None)
    except Exception:
        pass


#: Standard-library modules kept loaded, as checked at a reset (name → module).
_kept = {}


def _initializing(module):
    try:
        return bool(module.__spec__._initializing)
    except Exception:  # no spec (None in sys.modules, a module made by hand): not an import
        return False


def reset():
    """Puts the interpreter back as `prepare` found it. Returns False if it cannot be reused
    (a thread the task started is still running)."""
    base = _baseline
    _release_import_locks()
    pyembed.__dict__.pop('task', None)
    time.sleep = base.sleep
    import atexit
    atexit.register = base.atexit_register
    threading._register_atexit = base.thread_register
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass
    reactor_stopped = pyembed._stop_reactor(1.0)
    # Dropped: every module the task loaded, but the standard library's (kept loaded for the
    # next task: re-importing its C modules on every task costs time, and memory CPython does
    # not give back) unless an interrupted import left it half done: still initializing, or a
    # package above it gone (a failed import of a package keeps the submodules it had loaded,
    # which a fresh import of the package would not bind to it).
    stdlib = sys.stdlib_module_names - _shut
    _shut.clear()
    for name in sorted(n for n in sys.modules if n not in base.modules):
        module = sys.modules[name]
        top = name.partition('.')[0]
        if _kept.get(name) is module and top in stdlib:
            continue  # checked after an earlier task, unchanged since
        parent = name.rpartition('.')[0]
        if (top not in stdlib or name == '__main__'
                or (parent and parent not in sys.modules) or _initializing(module)):
            del sys.modules[name]
            _kept.pop(name, None)
        else:
            _kept[name] = module
    for name, module in base.modules.items():  # a task may have removed or replaced one
        if sys.modules.get(name) is not module:
            sys.modules[name] = module
    sys.modules['__main__'] = base.main
    # New lists, not the task's changed back: the task's value may be one of them.
    sys.path = list(base.path)
    sys.argv = list(base.argv)
    sys.meta_path[:] = base.meta_path
    sys.path_hooks[:] = base.path_hooks
    sys.path_importer_cache.clear()
    current = builtins.__dict__
    for name in [n for n in current if n not in base.builtins]:
        del current[name]
    current.update(base.builtins)
    sys.stdout, sys.stderr, sys.stdin = base.stdout, base.stderr, base.stdin
    for name, hook in base.hooks.items():
        setattr(sys, name, hook)
    threading.excepthook = base.thread_excepthook
    sys.setrecursionlimit(base.recursion_limit)
    sys.settrace(None)
    sys.setprofile(None)
    threading.settrace(None)
    threading.setprofile(None)
    import atexit
    atexit._clear()
    import gc
    gc.collect(1)  # a task's young garbage; the rest to the automatic collections
    deadline = time.monotonic() + 0.2  # `recv_async` threads end as the mailbox closes
    while _thread_count() > base.threads and time.monotonic() < deadline:
        base.sleep(0.005)
    return reactor_stopped and not _audited and _thread_count() <= base.threads
