//! Attaching the current OS thread to the main interpreter.
//!
//! Each thread that calls into Python keeps one thread state for its whole life: the first attach
//! creates it with `PyGILState_Ensure` and immediately detaches, so later attaches only swap it in
//! (pyo3's `Python::attach` then costs a GIL hand-off, not a thread-state allocation). Re-entrant
//! attaches on the same thread are free. A worker_thread that ends calls `forget_thread`.

use std::cell::Cell;

use pyo3::{ffi, Python};

use crate::error::Result;
use crate::runtime;

thread_local! {
    /// The `PyGILState_Ensure` result that created this thread's state, if it did.
    static THREAD_STATE: Cell<Option<ffi::PyGILState_STATE>> = const { Cell::new(None) };
    /// How many `with_gil` calls are running on this thread.
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// CPython's interpreter id (`PyInterpreterState_GetID`); 0 is the main interpreter.
pub type InterpId = u32;

/// The interpreter this thread is attached to.
pub fn current_interp(_py: Python<'_>) -> InterpId {
    // SAFETY: attached (the token says so), so there is a current interpreter.
    unsafe { ffi::PyInterpreterState_GetID(ffi::PyInterpreterState_Get()) as InterpId }
}

/// Runs `f` attached to the main interpreter, starting the runtime on first use.
pub fn with_gil<R>(f: impl for<'py> FnOnce(Python<'py>) -> R) -> Result<R> {
    runtime::get()?;
    THREAD_STATE.with(|state| {
        if state.get().is_none() {
            // SAFETY: the runtime is initialized; this thread has no thread state yet. Ensure
            // creates one and attaches; SaveThread detaches while keeping it for later attaches.
            let gstate = unsafe { ffi::PyGILState_Ensure() };
            // SAFETY: this thread is attached by the Ensure just above.
            unsafe { ffi::PyEval_SaveThread() };
            state.set(Some(gstate));
        }
    });
    DEPTH.with(|d| d.set(d.get() + 1));
    let _depth = Depth;
    Ok(Python::attach(f))
}

struct Depth;

impl Drop for Depth {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get() - 1));
    }
}

/// Runs `f` with this thread detached from the main interpreter if `with_gil` attached it: for
/// waiting on a context's thread, which may need the GIL (shared) or call back into JS, whose
/// callbacks may attach again.
pub fn detached<R: Send>(f: impl FnOnce() -> R) -> R {
    if DEPTH.with(Cell::get) == 0 {
        return f();
    }
    struct AssertSend<F>(F);
    // SAFETY: `f` runs on this very thread; pyo3 only asks for Send to keep Python tokens out.
    unsafe impl<F> Send for AssertSend<F> {}
    let f = AssertSend(f);
    Python::attach(|py| {
        py.detach(move || {
            let f = f;
            (f.0)()
        })
    })
}

/// Deletes this thread's thread state, if it has one. Call when a JS thread ends.
pub fn forget_thread() {
    let Some(gstate) = THREAD_STATE.with(|state| state.take()) else {
        return;
    };
    // SAFETY: this thread's state was created by PyGILState_Ensure in `with_gil` and is detached;
    // restoring it and releasing the Ensure drops the counter to zero, which deletes the state
    // and releases the GIL.
    unsafe {
        ffi::PyEval_RestoreThread(ffi::PyGILState_GetThisThreadState());
        ffi::PyGILState_Release(gstate);
    }
}
