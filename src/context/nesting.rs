//! Jobs nested on one thread: a job waiting for a JS callback runs the jobs queued meanwhile
//! (a callback calling back into the same context), so several jobs can be running on one
//! thread, innermost last. What is aimed at one of them (a cancellation, raised by thread id)
//! must land in that job: `Nesting` says whether a job is the innermost, and `NestingHooks`
//! let a job take back, around each job nested above it, what was aimed at it.
//!
//! Thread rules: all of it is per thread; the depth counter is shared (an `Arc`) so that a
//! canceller on another thread can read it, attached to the same interpreter.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use pyo3::Python;

thread_local! {
    /// How many jobs this thread is running, nested.
    static DEPTH: Arc<AtomicU32> = Arc::new(AtomicU32::new(0));
    /// One entry per job running on this thread, innermost last: its hooks, if any.
    static JOBS: RefCell<Vec<Option<Arc<dyn NestingHooks>>>> = const { RefCell::new(Vec::new()) };
}

/// What a job wants done, on its thread and attached, around each job that runs nested above
/// it while it waits for JS.
pub trait NestingHooks {
    /// Before the nested job runs (e.g. take back an interruption aimed at this job).
    fn suspend(&self, py: Python<'_>);
    /// After it ended, as this job resumes.
    fn resume(&self, py: Python<'_>);
}

/// Where the job running on this thread sits among the jobs nested on it.
pub struct Nesting {
    depth: Arc<AtomicU32>,
    level: u32,
}

impl Nesting {
    /// The job running on this thread now.
    pub fn here() -> Self {
        let depth = DEPTH.with(Arc::clone);
        let level = depth.load(Ordering::Acquire);
        Self { depth, level }
    }

    /// True while no other job is nested above this one on its thread. Read it attached to
    /// the job's interpreter (the depth only changes attached).
    pub fn is_innermost(&self) -> bool {
        self.depth.load(Ordering::Acquire) == self.level
    }
}

/// Gives the job running on this thread (inside `run`) its nesting hooks.
pub fn on_nesting(hooks: Arc<dyn NestingHooks>) {
    JOBS.with(|j| {
        if let Some(top) = j.borrow_mut().last_mut() {
            *top = Some(hooks);
        }
    });
}

/// Runs `job` (one job, through `run`) around this thread's bookkeeping of jobs.
pub(super) fn entered<R>(job: impl FnOnce() -> R) -> R {
    let depth = DEPTH.with(Arc::clone);
    depth.fetch_add(1, Ordering::AcqRel);
    JOBS.with(|j| j.borrow_mut().push(None));
    let result = job();
    JOBS.with(|j| j.borrow_mut().pop());
    depth.fetch_sub(1, Ordering::AcqRel);
    result
}

/// Runs `job` nested above the job running on this thread, which waits for JS meanwhile.
pub(super) fn nested(py: Python<'_>, job: impl FnOnce()) {
    let below = JOBS.with(|j| j.borrow().last().cloned().flatten());
    if let Some(below) = &below {
        below.suspend(py);
    }
    job();
    if let Some(below) = &below {
        below.resume(py);
    }
}
