//! Memory limits of interpreters, for supervised tasks (see `task::memory`): the entry points
//! name an interpreter by id (0: the main one) and run on the JS thread without attaching.

use napi::Env;
use napi_derive::napi;
use pyo3::ffi;

use super::entry;
use crate::context;
use crate::error::{Error, Result};
use crate::runtime;
use crate::task::memory::{self, Usage};

/// What an interpreter allocated since its limit began, in bytes: `used` is held now (blocks
/// allocated since `taskMemoryBegin` and not freed), `peak` the most it held, `refused` how many
/// allocations failed for the limit.
#[napi(object)]
pub struct TaskMemoryUsage {
    pub used: f64,
    pub peak: f64,
    pub refused: f64,
    pub limit: f64,
}

impl From<Usage> for TaskMemoryUsage {
    fn from(u: Usage) -> Self {
        TaskMemoryUsage {
            used: u.used as f64,
            peak: u.peak as f64,
            refused: u.refused as f64,
            limit: u.limit as f64,
        }
    }
}

/// The largest limit: 2^53 bytes, the largest exact JS integer.
const MAX_LIMIT: f64 = 9_007_199_254_740_992.0;

/// Limits interpreter `interp` (0: the main one; else a context's id) to `limitBytes` bytes,
/// counted from zero: from now on its allocations that would take it over the limit raise
/// `MemoryError` in it; other interpreters and the host are unaffected. Starts Python if
/// needed. `ERR_PY_INVALID_ARG` for a limit that is not a number from 1 to 2^53, or if the
/// interpreter already has a limit; `ERR_PY_CONTEXT_CLOSED` for a closed context. A context's
/// limit ends when it closes. CPython does not survive every failed allocation: a task at its
/// limit can, rarely, abort the process (see `src/task/memory.rs`).
///
/// ```js
/// native.taskMemoryBegin(interp, 100 * 2 ** 20)
/// ```
#[napi]
pub fn task_memory_begin(env: Env, interp: u32, limit_bytes: f64) -> napi::Result<()> {
    entry(&env, |_| {
        if !(1.0..=MAX_LIMIT).contains(&limit_bytes) {
            return Err(Error::invalid_arg(
                "limitBytes must be a number of bytes from 1 to 2^53",
            ));
        }
        memory::begin(state(interp)?, limit_bytes as usize)
    })
}

/// What interpreter `interp` used since `taskMemoryBegin`; null if it has no limit (or is a
/// closed context).
///
/// ```js
/// const { used, peak, refused, limit } = native.taskMemoryUsage(interp)
/// ```
#[napi]
pub fn task_memory_usage(env: Env, interp: u32) -> napi::Result<Option<TaskMemoryUsage>> {
    entry(&env, |_| {
        Ok(open_state(interp)?.and_then(memory::usage).map(Into::into))
    })
}

/// Lifts interpreter `interp`'s limit and stops counting; returns its final usage, or null if
/// it had no limit (or is a closed context).
///
/// ```js
/// const final = native.taskMemoryEnd(interp)
/// ```
#[napi]
pub fn task_memory_end(env: Env, interp: u32) -> napi::Result<Option<TaskMemoryUsage>> {
    entry(&env, |_| {
        Ok(open_state(interp)?.and_then(memory::end).map(Into::into))
    })
}

/// The `PyInterpreterState` address of interpreter `interp`, starting Python if needed.
fn state(interp: u32) -> Result<usize> {
    runtime::get()?;
    if interp == 0 {
        // SAFETY: CPython is initialized; this reads the runtime's main interpreter pointer.
        return Ok(unsafe { ffi::PyInterpreterState_Main() } as usize);
    }
    Ok(context::get(interp)?.state())
}

/// As `state`, with `None` for a context that is closed.
fn open_state(interp: u32) -> Result<Option<usize>> {
    match state(interp) {
        Ok(state) => Ok(Some(state)),
        Err(Error::ContextClosed) => Ok(None),
        Err(e) => Err(e),
    }
}
