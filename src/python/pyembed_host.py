"""The `pyembed` module every interpreter gets (`from pyembed import JSError`): what Python code
sees of its host, and the helpers pyembed's native code calls (names starting with `_`).

Loaded by src/python/code.rs (`include_str!`) into a fresh module per interpreter; it must not
import anything heavy at module level (every context pays for it).
"""
import os as _os
import threading as _threading

#: The process pyembed runs in: guards apply here, not in forked children.
_host_pid = _os.getpid()


class JSError(Exception):
    """An exception thrown by JavaScript code that Python called."""

    def __init__(self, message, name='Error', stack=''):
        super().__init__(message)
        self.name = name
        self.stack = stack


class Cancelled(BaseException):
    """Raised in a call that JS aborted or timed out (a BaseException, like KeyboardInterrupt,
    so that `except Exception` does not swallow it)."""


class JSPromise:
    """A JavaScript Promise passed to Python: `await` it in a coroutine, or call result()
    from a thread other than the JS thread that made it."""

    def __init__(self):
        import concurrent.futures
        self._future = concurrent.futures.Future()

    def __await__(self):
        import asyncio
        return asyncio.wrap_future(self._future).__await__()

    def result(self, timeout=None):
        return self._future.result(timeout)

    def done(self):
        return self._future.done()


_loop = None
_loop_thread = None
_loop_lock = _threading.Lock()
_in_context = False


def event_loop():
    """The asyncio loop that runs coroutines returned to _async calls, on its own thread."""
    global _loop, _loop_thread
    with _loop_lock:
        if _loop is None:
            import asyncio
            loop = asyncio.new_event_loop()
            # Contexts refuse daemon threads; closing one stops and joins this thread instead.
            _loop_thread = _threading.Thread(
                target=loop.run_forever, name='pyembed-asyncio', daemon=not _in_context)
            _loop_thread.start()
            _loop = loop
    return _loop


def loop():
    """This interpreter's reactor: the asyncio loop running on its own thread (`pyembed-asyncio`),
    beside the thread that runs the interpreter's code. Use its thread-safe methods from other
    threads (`call_soon_threadsafe`, `asyncio.run_coroutine_threadsafe`); on the reactor thread
    itself (inside `execute`/`schedule` callbacks) any loop method: `call_later`, `add_reader`."""
    return event_loop()


def _on_reactor():
    return _loop_thread is not None and _threading.current_thread() is _loop_thread


def execute(fn, *args):
    """Runs `fn(*args)` on the reactor thread; returns a `concurrent.futures.Future` of its
    result. Called on the reactor thread itself, `fn` runs at once."""
    import concurrent.futures
    future = concurrent.futures.Future()

    def run():
        if not future.set_running_or_notify_cancel():
            return
        try:
            result = fn(*args)
        except BaseException as e:
            future.set_exception(e)
        else:
            future.set_result(result)

    if _on_reactor():
        run()
    else:
        event_loop().call_soon_threadsafe(run)
    return future


class Scheduled:
    """A call scheduled on the reactor (`schedule`): `cancel()` it, or `reschedule(delay)`."""

    def __init__(self, loop, delay, fn, args):
        self._loop = loop
        self._fn = fn
        self._args = args
        self._lock = _threading.Lock()
        self._handle = None
        self._state = 'pending'  # 'pending' | 'running' | 'done' | 'cancelled'
        self._generation = 0
        self._at(delay)

    def _at(self, delay):
        generation = self._generation

        def arm():
            with self._lock:
                if self._generation != generation or self._state != 'pending':
                    return
                if self._handle is not None:
                    self._handle.cancel()
                self._handle = self._loop.call_later(max(0.0, delay), self._fire, generation)

        if _on_reactor():
            arm()
        else:
            self._loop.call_soon_threadsafe(arm)

    def _fire(self, generation):
        with self._lock:
            if self._generation != generation or self._state != 'pending':
                return
            self._state = 'running'
        try:
            self._fn(*self._args)
        finally:
            with self._lock:
                if self._state == 'running':
                    self._state = 'done'

    def cancel(self):
        """Stops the call if it has not started; returns True if it was pending."""
        with self._lock:
            if self._state != 'pending':
                return False
            self._state = 'cancelled'
            self._generation += 1
            handle = self._handle
        if handle is not None:
            if _on_reactor():
                handle.cancel()
            else:
                self._loop.call_soon_threadsafe(handle.cancel)
        return True

    def reschedule(self, delay):
        """Runs the call `delay` seconds from now instead (again, if it already ran)."""
        delay = _delay(delay)
        with self._lock:  # from its own callback too: a periodic call re-arms itself
            self._state = 'pending'
            self._generation += 1
        self._at(delay)
        return self

    def pending(self):
        """True until the call starts or is cancelled."""
        return self._state == 'pending'


def _delay(delay):
    delay = float(delay)
    if delay != delay or delay < 0:
        raise ValueError('delay must be a number of seconds, at least 0')
    return delay


def schedule(delay, fn, *args):
    """Runs `fn(*args)` on the reactor thread `delay` seconds from now; returns a `Scheduled`
    handle (`cancel()`, `reschedule(delay)`). Exceptions go to the loop's exception handler."""
    return Scheduled(event_loop(), _delay(delay), fn, args)


def __getattr__(name):
    if name == 'task':
        raise ImportError('pyembed.task exists only inside a task (run by pyembed Tasks)')
    raise AttributeError(f"module 'pyembed' has no attribute {name!r}")


def _guard_exit():
    """os._exit() ends the whole host process (a Node or Electron app), not just Python: refuse
    it there, as sys.exit() is (it raises SystemExit). A forked child still exits."""
    import posix
    real_exit = posix._exit

    def _exit(status=0):
        if _os.getpid() != _host_pid:
            real_exit(status)
        raise RuntimeError(
            'os._exit() would end the whole host process, not just Python; pyembed refuses it '
            '(Python.configure({ allowOsExit: true }) allows it in the main interpreter)')

    _exit.__doc__ = real_exit.__doc__
    _os._exit = posix._exit = _exit


def _guard_fork():
    """A forked copy of the host process would start with this sub-interpreter and die in
    CPython's after-fork code (3.10/3.11 do not refuse it; 3.12+ contexts refuse it already):
    refuse it as 3.12 does. `subprocess` is unaffected (it forks and execs in C)."""
    import posix

    def refuse(*args, **kwargs):
        raise RuntimeError('fork not supported for subinterpreters (pyembed context)')

    for name in ('fork', 'forkpty'):
        if hasattr(posix, name):
            setattr(posix, name, refuse)
            setattr(_os, name, refuse)


def _guard_signals():
    """signal.signal() in the host process would take signals (SIGINT, SIGTERM) from Node:
    refuse it in every thread, as CPython does outside its main thread. A forked child may.
    Importing `_signal` while SIGINT is at SIG_DFL (Bun and Deno install no SIGINT handler;
    Node does) makes CPython install its own, which turns Ctrl-C into a KeyboardInterrupt in a
    later Python call instead of ending the host: give SIGINT back to the host."""
    import _signal
    real_signal = _signal.signal
    if _signal.getsignal(_signal.SIGINT) is _signal.default_int_handler:
        real_signal(_signal.SIGINT, _signal.SIG_DFL)  # runs on Python's main thread

    def signal(signalnum, handler):
        if _os.getpid() != _host_pid:
            return real_signal(signalnum, handler)
        raise ValueError(
            'signal.signal() is refused inside pyembed: the host (Node) owns the process signals')

    signal.__doc__ = real_signal.__doc__
    # signal.signal() calls _signal.signal() through the module, so both see this one.
    _signal.signal = signal


def _setup_main(allow_os_exit):
    """The main interpreter, at start-up."""
    _guard_signals()
    if not allow_os_exit:
        _guard_exit()


def _setup_context(isolated):
    """A new context, at creation (its `os` and `_signal` modules are its own)."""
    global _in_context
    _in_context = True
    _guard_exit()
    _guard_fork()
    import sys
    if sys.version_info < (3, 12):
        # Before 3.12 the C accelerator of asyncio keeps the running loop in process-wide
        # statics keyed by a thread-state number that each interpreter counts on its own, so
        # two interpreters see each other's loops: use asyncio's pure-Python version here.
        sys.modules['_asyncio'] = None
    if isolated and sys.version_info >= (3, 12):
        sys.meta_path.insert(0, _Refused(_REFUSED_BY_VERSION.get(sys.version_info[:2], ())))


#: Extension modules an isolated context refuses before CPython tries them. 3.12 refuses these
#: itself, but its refusing attempt at a single-phase module corrupts memory when two isolated
#: interpreters make it at once (`decimal` in 4 contexts: `munmap_chunk(): invalid pointer`).
#: 3.13.0 corrupts memory when two import `_datetime` at once (plain python3.13 too), and
#: `_zoneinfo` needs it. The pure-Python fallbacks (`_pydecimal`, `_pydatetime`, ...) load.
_REFUSED_BY_VERSION = {
    (3, 12): ('_decimal', '_datetime', '_zoneinfo', '_elementtree', 'pyexpat', '_ctypes',
              '_curses', '_curses_panel', 'readline'),
    (3, 13): ('_datetime', '_zoneinfo'),
}


class _Refused:
    """A meta-path finder refusing some extension modules in an isolated context, with the
    message CPython gives for a module that does not support sub-interpreters."""

    def __init__(self, names):
        self._names = frozenset(names)

    def find_spec(self, name, path=None, target=None):
        if name in self._names:
            raise ImportError(
                f'module {name} does not support loading in subinterpreters', name=name)
        return None


def _run_exit_hooks(join_threads=None):
    """What a normal interpreter exit runs: threading's exit hooks (concurrent.futures stops its
    executors there), `join_threads()` if given (by default the threads still running are not
    joined), then atexit; then stdout and stderr are flushed. Errors are printed, never raised.
    With `join_threads` (a task's end, see src/task/runner.py) the interpreter goes on: new
    threading hooks stay allowed and atexit is emptied."""
    import sys
    threading = sys.modules.get('threading')
    hooks = getattr(threading, '_threading_atexits', None)
    if hooks is not None:
        if join_threads is None:
            threading._SHUTTING_DOWN = True  # no new hooks from here on
        for hook in reversed(list(hooks)):
            try:
                hook()
            except BaseException:
                sys.excepthook(*sys.exc_info())
        hooks.clear()
    if join_threads is not None:
        join_threads()
    import atexit
    atexit._run_exitfuncs()
    if join_threads is not None:
        atexit._clear()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass


class _Writer:
    """sys.stdout / sys.stderr of a context whose output JS captures: whole lines (and what
    flush() finds) go to the JS function, one call at a time, in order."""

    encoding = 'utf-8'
    errors = 'strict'

    def __init__(self, send, name):
        self._send = send
        self._buffer = ''
        self._lock = _threading.RLock()
        self.name = name

    def write(self, text):
        if not isinstance(text, str):
            raise TypeError(f'write() argument must be str, not {type(text).__name__}')
        with self._lock:
            self._buffer += text
            end = self._buffer.rfind('\n') + 1
            if end:
                lines, self._buffer = self._buffer[:end], self._buffer[end:]
                self._send(lines)
        return len(text)

    def flush(self):
        with self._lock:
            text, self._buffer = self._buffer, ''
            if text:
                self._send(text)

    def writable(self):
        return True

    def isatty(self):
        return False


def _capture(stdout, stderr):
    import sys
    if stdout is not None:
        sys.stdout = _Writer(stdout, '<stdout>')
    if stderr is not None:
        sys.stderr = _Writer(stderr, '<stderr>')


def _close_context(timeout):
    """A context is closing, with `timeout` seconds for all of this: its exit hooks run (on a
    thread of their own: a hook that hangs leaves a thread, and the context is then left
    alive), output is flushed, asyncio tasks are cancelled and the loop thread joined."""
    import sys
    import time
    deadline = time.monotonic() + timeout

    def left():
        return max(0.0, deadline - time.monotonic())

    hooks = _threading.Thread(target=_run_exit_hooks, name='pyembed-exit-hooks')
    hooks.start()
    hooks.join(left())
    # Python 3.13 makes a dummy Thread for this thread (not started by threading); drop it now,
    # while the threading module can still take it out of its table.
    info = getattr(sys.modules.get('threading'), '_thread_local_info', None)
    if info is not None and hasattr(info, '_track_dummy_thread_ref'):
        del info._track_dummy_thread_ref
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, _Writer):
            try:
                stream.flush()
            except BaseException:
                pass
    _stop_reactor(left())


def _stop_reactor(timeout):
    """Cancels the reactor's asyncio tasks and stops its thread, waiting up to `timeout`
    seconds; the next use starts a fresh one. Returns False if the thread is still running."""
    global _loop, _loop_thread
    import time
    deadline = time.monotonic() + timeout
    with _loop_lock:
        loop, thread = _loop, _loop_thread
        if loop is None:
            return True
        _loop = _loop_thread = None
    import asyncio

    async def cancel_all():
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    try:
        asyncio.run_coroutine_threadsafe(cancel_all(), loop).result(
            max(0.0, deadline - time.monotonic()))
    except BaseException:
        pass
    loop.call_soon_threadsafe(loop.stop)
    thread.join(max(0.0, deadline - time.monotonic()))
    if thread.is_alive():
        return False
    loop.close()
    return True


def _schedule(coroutine, done):
    import asyncio
    future = asyncio.run_coroutine_threadsafe(coroutine, event_loop())
    future.add_done_callback(done)
    return future
