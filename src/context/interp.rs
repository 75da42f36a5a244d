//! Contexts: sub-interpreters, each with its own thread (`pyembed-ctx`) that creates it, serves
//! its job queue and finally ends it.
//!
//! Thread states: the serving thread and the helper thread each create their thread state first
//! thing, so it is their GIL-state one and pyo3's `Python::attach` works there as on the main
//! interpreter (`PyGILState_Ensure` finds it): the first thread state made on a thread is its
//! GIL-state one (see `new_interpreter` for the pre-3.12 detail).
//!
//! Objects never cross interpreters: handles record their interpreter, releases go through the
//! owning interpreter's queue, and pyo3's global deferred-release pool is compiled out
//! (`pyo3_disable_reference_pool`, see `.cargo/config.toml`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use pyo3::{ffi, Python};

use super::{channel, serve, Job, Task};
use crate::error::{Error, Result};
use crate::python::{attach, code};
use crate::runtime;

pub use crate::python::attach::InterpId;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Its own GIL and allocator (3.12+); a classic sub-interpreter sharing the GIL before.
    Isolated,
    /// Shares the main GIL and allocator; single-phase-init extension modules load.
    SharedGil,
    /// Isolated, and may start processes (`subprocess`; `os.fork` stays refused): a task's.
    Task,
}

/// `'own-gil'` where isolated contexts get their own GIL (Python 3.12+), else `'shared-gil'`.
pub fn kind_available() -> &'static str {
    if cfg!(Py_3_12) {
        "own-gil"
    } else {
        "shared-gil"
    }
}

pub struct Interp {
    pub id: InterpId,
    tasks: Sender<Task>,
    closed: AtomicBool,
    /// The `PyInterpreterState`, for the helper and sync-call threads' thread states.
    state: usize,
    helper: Mutex<Option<(Sender<Job>, JoinHandle<()>)>>,
    /// The thread that runs sync calls (started on first need): a sync call must not queue
    /// behind an async job that is itself waiting for the JS thread (a Promise returned to a
    /// Python thread), which the waiting JS thread could never serve.
    sync: Mutex<Option<(Sender<Task>, JoinHandle<()>)>>,
}

static INTERPS: Mutex<Option<HashMap<InterpId, Arc<Interp>>>> = Mutex::new(None);

fn interps<R>(f: impl FnOnce(&mut HashMap<InterpId, Arc<Interp>>) -> R) -> R {
    f(INTERPS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(HashMap::new))
}

/// Every open context.
pub fn open() -> Vec<Arc<Interp>> {
    interps(|m| m.values().cloned().collect())
}

/// The open context `id`.
pub fn get(id: InterpId) -> Result<Arc<Interp>> {
    interps(|m| m.get(&id).cloned()).ok_or(Error::ContextClosed)
}

/// Creates a context; `setup` runs in it (attached, on its thread) before it serves jobs.
/// Blocks until it is ready.
pub fn create(
    kind: Kind,
    setup: Box<dyn for<'py> FnOnce(Python<'py>) -> Result<()> + Send>,
) -> Result<Arc<Interp>> {
    runtime::get()?;
    let (tasks, queue) = channel();
    let (ready, started) = crossbeam_channel::bounded(1);
    std::thread::Builder::new()
        .name("pyembed-ctx".into())
        .spawn(move || {
            // SAFETY: a fresh thread, with no thread state.
            let tstate = match unsafe { new_interpreter(kind) } {
                Ok(tstate) => tstate,
                Err(e) => {
                    let _ = ready.send(Err(e));
                    return;
                }
            };
            // SAFETY: attached to the new interpreter since its creation.
            let (id, state) = unsafe {
                let state = ffi::PyThreadState_GetInterpreter(tstate);
                (ffi::PyInterpreterState_GetID(state) as InterpId, state)
            };
            let prepared = Python::attach(|py| {
                code::host_module(py).map_err(|e| crate::python::exception::from_pyerr(py, e))?;
                setup(py)
            });
            if let Err(e) = prepared {
                // SAFETY: attached, the only thread of the interpreter, outside any attach.
                unsafe { end_interpreter(tstate, kind) };
                let _ = ready.send(Err(e));
                return;
            }
            let _ = ready.send(Ok((id, state as usize)));
            // SAFETY: attached; this thread's state is its GIL-state one.
            let (close, tstate) = unsafe { serve(&queue, true) };
            if let Task::Close {
                timeout,
                done,
                threads,
            } = close
            {
                // SAFETY: detached; `tstate` is this thread's, in the context's interpreter.
                let ended = unsafe { finish(threads, tstate, kind, timeout) };
                done(ended);
            }
        })
        .map_err(|e| Error::Internal(format!("cannot spawn a context thread: {e}")))?;
    // A shared-GIL interpreter needs the GIL this thread may hold (inside a JS callback).
    let (id, state) = attach::detached(|| started.recv())
        .map_err(|_| Error::Internal("the context thread died during start-up".into()))??;
    let interp = Arc::new(Interp {
        id,
        tasks,
        closed: AtomicBool::new(false),
        state,
        helper: Mutex::new(None),
        sync: Mutex::new(None),
    });
    interps(|m| m.insert(id, interp.clone()));
    Ok(interp)
}

impl Interp {
    /// Queues a job; `ERR_PY_CONTEXT_CLOSED` once closing.
    pub fn send(&self, job: Job) -> Result<()> {
        if self.is_closed() {
            return Err(Error::ContextClosed);
        }
        self.tasks
            .send(Task::Run(job))
            .map_err(|_| Error::ContextClosed)
    }

    /// Its `PyInterpreterState` address.
    pub fn state(&self) -> usize {
        self.state
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Starts closing: no new jobs; `release` are the last references JS held into it (given
    /// back before the interpreter ends), then the thread ends it, waiting up to `timeout` for
    /// its Python threads. `done(ended)` runs on the context's thread.
    pub fn close(&self, release: Job, timeout: Duration, done: Box<dyn FnOnce(bool) + Send>) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        interps(|m| m.remove(&self.id));
        let helper = self.helper.lock().unwrap_or_else(|e| e.into_inner()).take();
        let sync = self.sync.lock().unwrap_or_else(|e| e.into_inner()).take();
        let mut threads = Vec::new();
        threads.extend(helper.map(|(_, handle)| handle)); // its sender is dropped: it ends
        if let Some((tasks, handle)) = sync {
            let _ = tasks.send(Task::Stop); // after the sync calls queued before the close
            threads.push(handle);
        }
        let _ = self.tasks.send(Task::Run(release));
        let _ = self.tasks.send(Task::Close {
            timeout,
            done,
            threads,
        });
    }

    /// Queues a sync call's job on the context's sync-call thread (started on first use):
    /// `ERR_PY_CONTEXT_CLOSED` once closing. Like the context's own thread, it serves jobs
    /// sent meanwhile while one of its jobs waits for JS (a callback calling back in).
    pub fn send_sync(&self, job: Job) -> Result<()> {
        let mut sync = self.sync.lock().unwrap_or_else(|e| e.into_inner());
        if self.is_closed() {
            return Err(Error::ContextClosed); // `close` took the thread, or is about to
        }
        if sync.is_none() {
            let (tasks, queue) = channel();
            let state = self.state;
            let handle = std::thread::Builder::new()
                .name("pyembed-ctx-sync".into())
                .spawn(move || {
                    // SAFETY: a fresh thread; the interpreter outlives it (the context's thread
                    // waits for it before ending the interpreter). The new state becomes this
                    // thread's GIL-state one; attached for `serve`, which detaches at once and
                    // returns detached.
                    unsafe {
                        let tstate = ffi::PyThreadState_New(state as _);
                        ffi::PyEval_RestoreThread(tstate);
                        let (_, tstate) = serve(&queue, true);
                        ffi::PyEval_RestoreThread(tstate);
                        ffi::PyThreadState_Clear(tstate);
                        ffi::PyThreadState_DeleteCurrent();
                    }
                })
                .map_err(|e| Error::Internal(format!("cannot spawn a context thread: {e}")))?;
            *sync = Some((tasks, handle));
        }
        let (tasks, _) = sync.as_ref().expect("started just above");
        tasks.send(Task::Run(job)).map_err(|_| Error::ContextClosed)
    }

    /// Runs `job` attached to this interpreter on its helper thread (started on first use).
    pub fn helper(&self, job: Job) {
        let mut helper = self.helper.lock().unwrap_or_else(|e| e.into_inner());
        if self.is_closed() {
            return; // `close` took the helper, or is about to
        }
        if helper.is_none() {
            let (tx, rx) = crossbeam_channel::unbounded::<Job>();
            let state = self.state;
            let spawned = std::thread::Builder::new()
                .name("pyembed-ctx-helper".into())
                .spawn(move || {
                    // SAFETY: a fresh thread; the interpreter outlives this thread (the
                    // context's thread joins it before ending the interpreter). The new thread
                    // state becomes this thread's GIL-state one, detached until a job attaches.
                    let tstate = unsafe { ffi::PyThreadState_New(state as _) };
                    for job in rx {
                        Python::attach(|py| super::run(py, job));
                    }
                    // SAFETY: this thread's own state, detached; deleted attached.
                    unsafe {
                        ffi::PyEval_RestoreThread(tstate);
                        ffi::PyThreadState_Clear(tstate);
                        ffi::PyThreadState_DeleteCurrent();
                    }
                });
            match spawned {
                Ok(handle) => *helper = Some((tx, handle)),
                Err(_) => return,
            }
        }
        if let Some((tx, _)) = helper.as_ref() {
            let _ = tx.send(job);
        }
    }
}

/// Creates a sub-interpreter on this (fresh) thread and returns its thread state, attached and
/// this thread's GIL-state one.
///
/// # Safety
/// The runtime is initialized; this thread has no thread state.
#[cfg(Py_3_12)]
unsafe fn new_interpreter(kind: Kind) -> Result<*mut ffi::PyThreadState> {
    let isolated = kind != Kind::SharedGil;
    let config = ffi::PyInterpreterConfig {
        use_main_obmalloc: (!isolated).into(),
        allow_fork: 0,
        allow_exec: (kind == Kind::Task).into(),
        allow_threads: 1,
        allow_daemon_threads: 0,
        check_multi_interp_extensions: isolated.into(),
        gil: match isolated {
            true => ffi::PyInterpreterConfig_OWN_GIL,
            false => ffi::PyInterpreterConfig_SHARED_GIL,
        },
    };
    let mut tstate = std::ptr::null_mut();
    // SAFETY: no thread state on this thread: the new one becomes its GIL-state one, and the
    // call takes the (own or shared) GIL itself.
    let status = unsafe { ffi::Py_NewInterpreterFromConfig(&mut tstate, &config) };
    runtime::check(status).map_err(Error::Init)?;
    Ok(tstate)
}

/// Before 3.12 every sub-interpreter shares the GIL, and `Py_NewInterpreter` must be called
/// holding it, which takes a main-interpreter thread state; that one is deleted (keeping the
/// GIL) before the call, so that the new interpreter's state becomes this thread's GIL-state one
/// (the first state made on a thread is).
///
/// # Safety
/// As above.
#[cfg(not(Py_3_12))]
unsafe fn new_interpreter(_kind: Kind) -> Result<*mut ffi::PyThreadState> {
    // SAFETY: the main interpreter exists and this thread has no state: attaching a new one
    // takes the GIL; it is cleared while current, then unset (the GIL stays held: before 3.12
    // swapping thread states does not touch the GIL) and deleted.
    let tstate = unsafe {
        let main = ffi::PyThreadState_New(ffi::PyInterpreterState_Main());
        ffi::PyEval_RestoreThread(main);
        ffi::PyThreadState_Clear(main);
        ffi::PyThreadState_Swap(std::ptr::null_mut());
        ffi::PyThreadState_Delete(main);
        ffi::Py_NewInterpreter()
    };
    if tstate.is_null() {
        // SAFETY: holding the GIL with no thread state: release it through a main one.
        unsafe { release_shared_gil() };
        return Err(Error::Init("Py_NewInterpreter failed".into()));
    }
    Ok(tstate)
}

/// Ends the interpreter of `tstate` and leaves this thread with no thread state and no GIL.
///
/// # Safety
/// Attached with `tstate`, the interpreter's only thread state, outside any pyo3 attach.
unsafe fn end_interpreter(tstate: *mut ffi::PyThreadState, kind: Kind) {
    // Its memory limit ends first: unlimited while it ends, and its address may be reused.
    // SAFETY: attached with `tstate` (upheld by the caller).
    crate::task::memory::end(unsafe { ffi::PyThreadState_GetInterpreter(tstate) } as usize);
    // SAFETY: upheld by the caller.
    unsafe { ffi::Py_EndInterpreter(tstate) };
    if kind == Kind::SharedGil || cfg!(not(Py_3_12)) {
        // SAFETY: ending a sub-interpreter that shares the GIL leaves this thread with no
        // thread state and, up to 3.12, still holding the GIL (3.13 releases it).
        unsafe { release_shared_gil() };
    }
}

/// Leaves this thread with no thread state and the main GIL released: it holds the GIL with no
/// thread state (up to 3.12), or neither (3.13, after ending a sub-interpreter).
///
/// # Safety
/// As said.
unsafe fn release_shared_gil() {
    // SAFETY: a temporary main-interpreter state is made current (up to 3.12 swapping leaves
    // the held GIL alone; 3.13 takes the released one), cleared and deleted, which releases
    // the GIL.
    unsafe {
        let main = ffi::PyThreadState_New(ffi::PyInterpreterState_Main());
        ffi::PyThreadState_Swap(main);
        ffi::PyThreadState_Clear(main);
        ffi::PyThreadState_DeleteCurrent();
    }
}

/// Closing, on the context's thread: stops its asyncio loop, helper and sync-call thread, waits up to `timeout`
/// for its Python threads, then ends it. False (interpreter left alive) if threads remain.
///
/// # Safety
/// Detached; `tstate` is this thread's state in the context's interpreter.
unsafe fn finish(
    threads: Vec<JoinHandle<()>>,
    tstate: *mut ffi::PyThreadState,
    kind: Kind,
    timeout: Duration,
) -> bool {
    let deadline = Instant::now() + timeout;
    // They end after their last job. One stuck in a job keeps its thread state, so the thread
    // count below leaves the interpreter alive.
    while threads.iter().any(|t| !t.is_finished()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    // SAFETY: this thread's own state.
    unsafe { ffi::PyEval_RestoreThread(tstate) };
    let left = deadline.saturating_duration_since(Instant::now());
    Python::attach(|py| code::close_context(py, left));
    loop {
        // SAFETY: attached; the thread list of our own interpreter, read holding its GIL.
        let threads = unsafe {
            let mut count = 0;
            let mut t =
                ffi::PyInterpreterState_ThreadHead(ffi::PyThreadState_GetInterpreter(tstate));
            while !t.is_null() {
                count += 1;
                t = ffi::PyThreadState_Next(t);
            }
            count
        };
        if threads <= 1 {
            // SAFETY: attached, the last thread state, outside any pyo3 attach.
            unsafe { end_interpreter(tstate, kind) };
            return true;
        }
        if Instant::now() >= deadline {
            // SAFETY: attached; the interpreter stays alive with its threads.
            unsafe { ffi::PyEval_SaveThread() };
            return false;
        }
        // SAFETY: attached; detach while sleeping so the threads can finish.
        unsafe {
            let saved = ffi::PyEval_SaveThread();
            std::thread::sleep(Duration::from_millis(5));
            ffi::PyEval_RestoreThread(saved);
        }
    }
}
