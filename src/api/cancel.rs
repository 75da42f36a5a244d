//! Cancelling `_async` calls: the state a cancellable job is in, and `cancelCall`.
//!
//! Thread rules: the state is only read or changed attached (holding the GIL), by the Python
//! thread running the job or by its interpreter's helper thread, never by the JS thread, which therefore never
//! waits for the GIL to cancel.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use napi_derive::napi;
use pyo3::prelude::*;

use crate::context;
use crate::python::{code, OwnedPtr};

/// Where a job is, for cancellation. Only read or changed attached (holding the GIL), so the
/// Python thread and the canceller see one consistent state; no Python code runs while the lock
/// is held (it could switch threads, and the other thread would wait for the lock holding the
/// GIL).
#[derive(Default)]
pub(super) struct Control {
    pub(super) state: Mutex<State>,
    /// The interpreter the call runs in.
    pub(super) interp: crate::context::InterpId,
}

impl context::NestingHooks for Control {
    /// A job is about to run nested above this one on its thread: an interruption aimed at
    /// this job, not fired yet, must not fire there; it is held until this job resumes.
    fn suspend(&self, _py: Python<'_>) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let State::Interrupted(thread) = *state {
            // SAFETY: attached; clears the exception set for this thread, not fired yet (this
            // job waits inside a call into pyembed).
            unsafe { pyo3::ffi::PyThreadState_SetAsyncExc(thread as _, std::ptr::null_mut()) };
            *state = State::Pending(thread);
        }
    }

    /// This job resumes: delivers a cancellation held back meanwhile.
    fn resume(&self, py: Python<'_>) {
        let pending = || {
            matches!(
                *self.state.lock().unwrap_or_else(|e| e.into_inner()),
                State::Pending(_)
            )
        };
        if !pending() {
            return;
        }
        let Ok(cancelled) = code::cancelled_type(py) else {
            return; // Python code: before taking the lock
        };
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let State::Pending(thread) = *state {
            // SAFETY: attached; `thread` is this one, running this job again, innermost.
            unsafe { pyo3::ffi::PyThreadState_SetAsyncExc(thread as _, cancelled.as_ptr()) };
            *state = State::Interrupted(thread);
        }
    }
}

#[derive(Default)]
pub(super) enum State {
    #[default]
    Queued,
    /// Running on the thread with this `threading.get_ident()`, at this nesting.
    Running(std::ffi::c_ulong, context::Nesting),
    /// Cancelled while a job runs nested above it on its thread (a callback calling back into
    /// the context): interrupted when it resumes, so the exception lands in this job.
    Pending(std::ffi::c_ulong),
    /// Waiting for a coroutine: its `concurrent.futures.Future`.
    Awaiting(OwnedPtr),
    /// Cancelled before it ran: it never will.
    Cancelled,
    /// Interrupted while running: the pending exception must not leak into the next job.
    Interrupted(std::ffi::c_ulong),
    Done,
}

thread_local! {
    /// Calls of this JS thread that can still be cancelled, by call id.
    pub(super) static CONTROLS: RefCell<HashMap<u32, Arc<Control>>> = RefCell::new(HashMap::new());
}

/// Call `call` settled: it can no longer be cancelled.
pub(crate) fn settled(call: u32) {
    CONTROLS.with(|c| c.borrow_mut().remove(&call));
}

/// This JS environment is ending: its calls can no longer be cancelled from it (a next
/// environment on the thread numbers its calls from 1 again).
pub(super) fn forget_all() {
    let _ = CONTROLS.try_with(|c| c.borrow_mut().clear());
}

/// Best-effort interruption of call `call` (the TS layer has usually rejected its promise
/// already): a queued call never runs, a running one gets `pyembed.Cancelled` raised in its
/// thread (at its next bytecode; C code blocking without checking signals runs on until it
/// returns; cancelling it again raises it again), an awaited coroutine is cancelled. Runs on the interpreter's helper thread, so the JS thread never waits for
/// the GIL.
#[napi]
pub fn cancel_call(env: napi::Env, call: u32) -> napi::Result<()> {
    super::entry(&env, |_| {
        cancel(call);
        Ok(())
    })
}

fn cancel(call: u32) {
    // Kept until the call settles: cancelling again re-sends the interruption (the first may
    // have landed where Python swallows it, e.g. in a weakref callback).
    let Some(control) = CONTROLS.with(|c| c.borrow().get(&call).cloned()) else {
        return;
    };
    context::helper(
        control.interp,
        Box::new(move |py| {
            let cancelled = code::cancelled_type(py); // Python code: before taking the lock
            let mut state = control.state.lock().unwrap_or_else(|e| e.into_inner());
            let awaiting = match std::mem::take(&mut *state) {
                State::Queued => {
                    *state = State::Cancelled;
                    None
                }
                State::Running(thread, nesting) if nesting.is_innermost() => {
                    if let Ok(cancelled) = &cancelled {
                        // SAFETY: attached; `thread` runs this job, innermost (the state and
                        // the nesting say so under the GIL); the exception type is alive.
                        unsafe {
                            pyo3::ffi::PyThreadState_SetAsyncExc(thread as _, cancelled.as_ptr())
                        };
                    }
                    *state = State::Interrupted(thread);
                    None
                }
                State::Running(thread, _) => {
                    *state = State::Pending(thread);
                    None
                }
                State::Interrupted(thread) => {
                    if let Ok(cancelled) = &cancelled {
                        // SAFETY: attached; the job still runs on `thread`, innermost (it would
                        // be `Pending` while nested, `Done` once over, both set under the GIL).
                        unsafe {
                            pyo3::ffi::PyThreadState_SetAsyncExc(thread as _, cancelled.as_ptr())
                        };
                    }
                    *state = State::Interrupted(thread);
                    None
                }
                State::Awaiting(future) => {
                    *state = State::Done;
                    Some(future)
                }
                other => {
                    *state = other;
                    None
                }
            };
            drop(state); // cancel() runs the done-callback right here, which takes the lock
            if let Some(future) = awaiting {
                let _ = future.bind(py).call_method0("cancel");
                future.release(py);
            }
        }),
    );
}
