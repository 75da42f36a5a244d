//! Interpreters and their Python threads: the main interpreter, served by `pyembed-main` (the
//! thread that initialized CPython), and contexts (sub-interpreters, see `interp`), each served
//! by its own `pyembed-ctx` thread.
//!
//! Thread rules: jobs run in submission order on the interpreter's thread, attached; between
//! jobs the thread detaches, so other threads get the GIL. Jobs never touch Node-API: what they
//! produce goes back to the JS thread as owned data (`convert::Value`). A sub-interpreter is only
//! ever entered by threads it owns (its serving thread, its helper, the Python threads it
//! starts): JS threads reach it through its job queue.

mod interp;
mod nesting;
mod object_ref;

use std::cell::RefCell;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TryRecvError};
use pyo3::{ffi, Python};

use crate::error::{Error, Result};
use crate::python::{attach, code};
use crate::runtime;
pub use interp::{create, get, kind_available, InterpId, Kind};
pub use nesting::{on_nesting, Nesting, NestingHooks};
pub use object_ref::{process_exiting, release, ObjectRef};

/// Work for an interpreter's thread.
pub type Job = Box<dyn for<'py> FnOnce(Python<'py>) + Send>;

/// What an interpreter's thread is asked to do.
pub enum Task {
    Run(Job),
    /// End the interpreter (contexts only): `done(true)` once ended, `done(false)` if Python
    /// threads were still running at the timeout (the interpreter is then left alive).
    Close {
        timeout: Duration,
        done: Box<dyn FnOnce(bool) + Send>,
        /// The context's helper and sync-call threads, told to stop: waited for (within the
        /// timeout) before the interpreter ends.
        threads: Vec<std::thread::JoinHandle<()>>,
    },
    /// Stop serving (a context's sync-call thread, at close).
    Stop,
}

/// After a job, the thread spins this long for the next one before parking: waking a parked
/// thread costs ~100 µs on this kind of VM, which would cap one-at-a-time `await` loops.
const SPIN: Duration = Duration::from_micros(100);
/// Spin only while calls keep coming: the previous job arrived at most this long ago.
const BUSY: Duration = Duration::from_millis(10);

pub fn channel() -> (Sender<Task>, Receiver<Task>) {
    crossbeam_channel::unbounded()
}

thread_local! {
    /// On a context's thread: its task queue, so that a wait for JS inside a job can run jobs
    /// that the JS side submits meanwhile (a callback calling back into the same context).
    static SERVING: RefCell<Option<Receiver<Task>>> = const { RefCell::new(None) };
    /// A close that arrived during such a nested wait, for the serving loop.
    static DEFERRED: RefCell<Option<Task>> = const { RefCell::new(None) };
}

/// Queues `job` on interpreter `interp`'s thread (0: the main interpreter).
pub fn send(interp: InterpId, job: Job) -> Result<()> {
    if interp == 0 {
        return runtime::get()?
            .jobs
            .send(Task::Run(job))
            .map_err(|_| Error::Internal("the Python thread is gone".into()));
    }
    get(interp)?.send(job)
}

/// Serves jobs until a `Close` arrives; returns it, detached, with this thread's state.
///
/// # Safety
/// Call attached, on the interpreter's own thread, whose thread state is its GIL-state one.
pub unsafe fn serve(tasks: &Receiver<Task>, nested: bool) -> (Task, *mut ffi::PyThreadState) {
    if nested {
        SERVING.with(|s| *s.borrow_mut() = Some(tasks.clone()));
    }
    // SAFETY: attached per the contract; from here on the thread holds the GIL only per job.
    let mut tstate = unsafe { ffi::PyEval_SaveThread() };
    let mut last = Instant::now() - BUSY;
    loop {
        let task = match DEFERRED.with(|d| d.borrow_mut().take()) {
            Some(task) => task,
            None => next(tasks, last.elapsed() < BUSY),
        };
        last = Instant::now();
        let job = match task {
            Task::Run(job) => job,
            close => {
                SERVING.with(|s| s.borrow_mut().take());
                return (close, tstate);
            }
        };
        // SAFETY: `tstate` is this thread's, saved just before waiting.
        unsafe { ffi::PyEval_RestoreThread(tstate) };
        // This thread's state is its GIL-state one, so pyo3 attaches without switching.
        Python::attach(|py| run(py, job));
        // SAFETY: attached since RestoreThread.
        tstate = unsafe { ffi::PyEval_SaveThread() };
    }
}

fn run(py: Python<'_>, job: Job) {
    let interp = attach::current_interp(py);
    // A job reports its own errors; a panic must not end the interpreter's thread.
    nesting::entered(|| {
        object_ref::running(interp, || {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(py)));
        })
    });
}

/// Waits (detached) for `answer`; on a context's own thread, runs the jobs that arrive
/// meanwhile. Call attached.
pub fn wait_serving<T: Send>(py: Python<'_>, answer: &Receiver<T>) -> Option<T> {
    let Some(tasks) = SERVING.with(|s| s.borrow().clone()) else {
        return py.detach(|| answer.recv().ok());
    };
    loop {
        let got = py.detach(|| {
            crossbeam_channel::select! {
                recv(answer) -> reply => Ok(reply.ok()),
                recv(tasks) -> task => Err(task.ok()),
            }
        });
        match got {
            Ok(reply) => return reply,
            Err(Some(Task::Run(job))) => nesting::nested(py, || run(py, job)),
            Err(Some(close)) => DEFERRED.with(|d| *d.borrow_mut() = Some(close)),
            Err(None) => return py.detach(|| answer.recv().ok()),
        }
    }
}

fn next(tasks: &Receiver<Task>, spin: bool) -> Task {
    if spin {
        let deadline = Instant::now() + SPIN;
        while Instant::now() < deadline {
            match tasks.try_recv() {
                Ok(task) => return task,
                Err(TryRecvError::Empty) => std::hint::spin_loop(),
                Err(TryRecvError::Disconnected) => break,
            }
        }
    }
    match tasks.recv() {
        Ok(task) => task,
        // Never happens: the runtime (or the context) keeps the sender while the thread serves.
        Err(_) => loop {
            std::thread::park();
        },
    }
}

/// Process exit: starts the exit hooks (threading's, then atexit) of the main interpreter and
/// of every open context: the main interpreter's on a thread of its own (a hook that hangs, or
/// a GIL never released, cannot hold the exit up), each context's as a job on its thread.
/// Returns where each reports its end, and how many will.
pub fn run_exit_hooks() -> (Receiver<()>, usize) {
    let (done, finished) = crossbeam_channel::unbounded::<()>();
    let mut started = 0;
    for context in interp::open() {
        let done = done.clone();
        let job: Job = Box::new(move |py| {
            code::run_exit_hooks(py);
            let _ = done.send(());
        });
        started += usize::from(context.send(job).is_ok());
    }
    let spawned = std::thread::Builder::new()
        .name("pyembed-exit".into())
        .spawn(move || {
            let _ = attach::with_gil(code::run_exit_hooks);
            let _ = done.send(());
        });
    started += usize::from(spawned.is_ok());
    (finished, started)
}

/// Runs `job` attached to interpreter `interp` on a helper thread, for the short GIL-needing
/// chores (cancelling a call, settling a `JSPromise`) that neither the JS thread (it must not
/// wait for the GIL) nor the interpreter's thread (it may be busy with the very call concerned)
/// can do. The main interpreter's helper is `pyembed-helper`; each context has its own.
pub fn helper(interp: InterpId, job: Job) {
    if interp != 0 {
        if let Ok(context) = get(interp) {
            context.helper(job);
        }
        return;
    }
    static HELPER: OnceLock<Option<Sender<Job>>> = OnceLock::new();
    let sender = HELPER.get_or_init(|| {
        let (tx, rx) = crossbeam_channel::unbounded::<Job>();
        std::thread::Builder::new()
            .name("pyembed-helper".into())
            .spawn(move || {
                for job in rx {
                    let _ = attach::with_gil(|py| run(py, job));
                }
            })
            .ok()
            .map(|_| tx)
    });
    if let Some(sender) = sender {
        let _ = sender.send(job);
    }
}
