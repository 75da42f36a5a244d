//! An interpreter's own Python thread and its job queue (for now: the main interpreter, served
//! by `pyembed-main`, the thread that initialized CPython).
//!
//! Thread rules: jobs run in submission order on the Python thread, attached; between jobs the
//! thread detaches, so JS threads and Python threads get the GIL. Jobs never touch Node-API:
//! what they produce goes back to the JS thread as owned data (`convert::Value`).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TryRecvError};
use pyo3::{ffi, Python};

use crate::python::attach;

/// Work for the Python thread.
pub type Job = Box<dyn for<'py> FnOnce(Python<'py>) + Send>;

/// After a job, the thread spins this long for the next one before parking: waking a parked
/// thread costs ~100 µs on this kind of VM, which would cap one-at-a-time `await` loops.
const SPIN: Duration = Duration::from_micros(100);
/// Spin only while calls keep coming: the previous job arrived at most this long ago.
const BUSY: Duration = Duration::from_millis(10);

pub fn channel() -> (Sender<Job>, Receiver<Job>) {
    crossbeam_channel::unbounded()
}

/// Serves jobs forever.
///
/// # Safety
/// Call on the thread that initialized CPython, attached (right after initialization).
pub unsafe fn serve(jobs: Receiver<Job>) -> ! {
    // SAFETY: attached per the contract; from here on the thread holds the GIL only per job.
    let mut tstate = unsafe { ffi::PyEval_SaveThread() };
    let mut last = Instant::now() - BUSY;
    loop {
        let job = next(&jobs, last.elapsed() < BUSY);
        last = Instant::now();
        // SAFETY: `tstate` is this thread's, saved just before waiting.
        unsafe { ffi::PyEval_RestoreThread(tstate) };
        // This thread's state is its GIL-state one, so pyo3 attaches without switching.
        Python::attach(|py| {
            // A job reports its own errors; a panic must not end the interpreter's thread.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(py)));
        });
        // SAFETY: attached since RestoreThread.
        tstate = unsafe { ffi::PyEval_SaveThread() };
    }
}

fn next(jobs: &Receiver<Job>, spin: bool) -> Job {
    if spin {
        let deadline = Instant::now() + SPIN;
        while Instant::now() < deadline {
            match jobs.try_recv() {
                Ok(job) => return job,
                Err(TryRecvError::Empty) => std::hint::spin_loop(),
                Err(TryRecvError::Disconnected) => break,
            }
        }
    }
    match jobs.recv() {
        Ok(job) => job,
        // Never happens: the runtime keeps the sender for the life of the process.
        Err(_) => loop {
            std::thread::park();
        },
    }
}

/// Runs `job` attached on `pyembed-helper`, a thread for the short GIL-needing chores (cancelling
/// a call, settling a `JSPromise`) that neither the JS thread (it must not wait for the GIL) nor
/// the interpreter's thread (it may be busy with the very call concerned) can do.
pub fn helper(job: Job) {
    static HELPER: OnceLock<Option<Sender<Job>>> = OnceLock::new();
    let sender = HELPER.get_or_init(|| {
        let (tx, rx) = channel();
        std::thread::Builder::new()
            .name("pyembed-helper".into())
            .spawn(move || {
                for job in rx {
                    let _ = attach::with_gil(|py| {
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(py)));
                    });
                }
            })
            .ok()
            .map(|_| tx)
    });
    if let Some(sender) = sender {
        let _ = sender.send(job);
    }
}
