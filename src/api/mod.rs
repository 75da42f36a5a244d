//! Every `#[napi]` item lives here: argument checks, one attach per call (or, for a context, one
//! hand-off to its thread), conversion, and the single mapping of `Error` to a thrown JS error
//! (`throw`). Semantics stay in the core modules.

mod asynchronous;
mod attrs;
mod call;
mod calls;
mod cancel;
mod contexts;
mod lifecycle;
mod memory;
mod tasks;
pub(crate) mod throw;

pub(crate) use cancel::settled as call_settled;

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use napi::Env;
use pyo3::prelude::*;

use crate::context::{self, InterpId, ObjectRef};
use crate::convert;
use crate::error::{Error, Result};
use crate::handle::{self, HandleId, OwnerId};
use crate::js::{Js, JsEnv};
use crate::python::{attach, OwnedPtr};

/// Runs an entry point's body, turning a panic into `ERR_PY_INTERNAL` (a panic must never
/// unwind into Node) and an error into a thrown JS error.
fn entry<T>(env: &Env, body: impl FnOnce(JsEnv) -> Result<T>) -> napi::Result<T> {
    let js = JsEnv(env.raw());
    catch_unwind(AssertUnwindSafe(|| body(js)))
        .unwrap_or_else(|panic| Err(Error::Internal(panic_message(panic))))
        .map_err(|e| throw::throw(js, e))
}

/// What a caught panic said.
pub(crate) fn panic_message(panic: Box<dyn std::any::Any + Send>) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    format!("internal error (a bug in pyembed, please report it): {text}")
}

/// Attaches, releases what JS garbage collection dropped, runs `f`, and throws its error.
fn run<T>(env: &Env, f: impl for<'py> FnOnce(Python<'py>, JsEnv) -> Result<T>) -> napi::Result<T> {
    entry(env, |js| attached(|py| f(py, js)))
}

/// The owner an entry point was given: 0 (none) or an instance's id.
fn owner_of(owner: u32) -> Option<OwnerId> {
    handle::owner_arg(owner)
}

/// The interpreter of an entry point's required owner.
fn interp_of(owner: u32) -> Result<InterpId> {
    let owner = owner_of(owner).ok_or_else(|| Error::invalid_arg("a Python instance is needed"))?;
    handle::with(|r| r.owner_interp(owner))
}

/// The object behind handle `id`, shared, after checking that `owner` (if any) is of its
/// interpreter: work on it runs in that interpreter.
fn target(owner: Option<OwnerId>, id: f64) -> Result<Arc<ObjectRef>> {
    handle::with(|r| {
        let target = r.lend(id as HandleId)?;
        match owner {
            Some(owner) if r.owner_interp(owner)? != target.interp() => Err(Error::ContextMismatch),
            _ => Ok(target),
        }
    })
}

/// Runs `work` on the object behind handle `id`, in the interpreter that owns it: attached
/// here for the main one, on its thread for a context. `inputs` are converted for that
/// interpreter (proxies of another: `ERR_PY_CONTEXT_MISMATCH`); the reply is converted for JS,
/// proxies belonging to `owner` (0: none), which must be of the same interpreter.
fn on_object<W>(env: &Env, owner: u32, id: f64, inputs: &[Js], work: W) -> napi::Result<Js>
where
    W: for<'py> FnOnce(
            Python<'py>,
            Bound<'py, PyAny>,
            Vec<Bound<'py, PyAny>>,
        ) -> Result<contexts::Reply<'py>>
        + Send
        + 'static,
{
    on_object_into(env, owner, id, None, inputs, work)
}

/// `on_object`, with a TypedArray the reply's typed array is written into (`py.buffer`).
fn on_object_into<W>(
    env: &Env,
    owner: u32,
    id: f64,
    into: Option<Js>,
    inputs: &[Js],
    work: W,
) -> napi::Result<Js>
where
    W: for<'py> FnOnce(
            Python<'py>,
            Bound<'py, PyAny>,
            Vec<Bound<'py, PyAny>>,
        ) -> Result<contexts::Reply<'py>>
        + Send
        + 'static,
{
    entry(env, |js| {
        let owner = owner_of(owner);
        let target = target(owner, id)?;
        let build = convert::JsValues::new(js, owner).into_array(into.map(|v| v.0));
        match target.interp() {
            0 => attached(|py| {
                let object = target.bind(py);
                let inputs = main_inputs(py, js, inputs)?;
                contexts::reply_to_js(js, build, work(py, object, inputs)?)
            }),
            interp => contexts::run_in(js, interp, build, inputs, move |py, inputs| {
                work(py, target.bind(py), inputs)
            }),
        }
    })
}

/// Runs `work` in `owner`'s interpreter, like `on_object` without a target object.
fn in_interpreter<W>(env: &Env, owner: u32, inputs: &[Js], work: W) -> napi::Result<Js>
where
    W: for<'py> FnOnce(Python<'py>, Vec<Bound<'py, PyAny>>) -> Result<contexts::Reply<'py>>
        + Send
        + 'static,
{
    entry(env, |js| {
        let build = convert::JsValues::new(js, owner_of(owner));
        match interp_of(owner)? {
            0 => attached(|py| {
                let inputs = main_inputs(py, js, inputs)?;
                contexts::reply_to_js(js, build, work(py, inputs)?)
            }),
            interp => contexts::run_in(js, interp, build, inputs, work),
        }
    })
}

/// JS values converted for the main interpreter, directly.
fn main_inputs<'py>(py: Python<'py>, js: JsEnv, inputs: &[Js]) -> Result<Vec<Bound<'py, PyAny>>> {
    let mut convert = convert::ToPy::new(js, convert::PyObjects::new(py));
    inputs.iter().map(|v| convert.convert(v.0)).collect()
}

/// The boolean an entry point's reply became.
fn bool_of(env: &Env, v: Js) -> napi::Result<bool> {
    entry(env, |js| js.get_bool(v.0))
}

/// Runs `f` attached to the main interpreter, first releasing what JS garbage collection
/// dropped.
fn attached<T>(f: impl for<'py> FnOnce(Python<'py>) -> Result<T>) -> Result<T> {
    if handle::with(|r| r.has_pending()) {
        release(handle::with(|r| r.take_pending()), false);
    }
    attach::with_gil(f)?
}

/// Releases what JS garbage collection dropped, all through the interpreters' queues: for entry
/// points that must not wait for the main GIL on the JS thread.
fn release_pending_queued() {
    if handle::with(|r| r.has_pending()) {
        release(handle::with(|r| r.take_pending()), true);
    }
}

/// Gives references back to their interpreters: a context's through its queue, the main
/// interpreter's now (attached here) unless `queue_main`. A reference still shared with a value
/// in flight (an async call's argument, a callback's reply) is left to that value, which
/// releases it when it is done.
fn release(objects: Vec<handle::Release>, queue_main: bool) {
    let mut main = Vec::new();
    let mut contexts: HashMap<InterpId, Vec<OwnedPtr>> = HashMap::new();
    for object in objects {
        let Ok(object) = Arc::try_unwrap(object) else {
            continue; // the other holder releases it
        };
        match object.into_parts() {
            (0, object) => main.push(object),
            (interp, object) => contexts.entry(interp).or_default().push(object),
        }
    }
    for (interp, objects) in contexts {
        context::release(interp, objects);
    }
    if main.is_empty() {
        return;
    }
    if queue_main {
        return context::release(0, main);
    }
    let _ = attach::with_gil(|py| main.into_iter().for_each(|o| o.release(py)));
}

/// Converts a result for JS (proxies belong to `owner`).
fn to_js(js: JsEnv, owner: Option<OwnerId>, obj: &Bound<'_, PyAny>) -> Result<Js> {
    convert::ToJs::new(convert::JsValues::new(js, owner), convert::Depth::Shallow)
        .convert(obj)
        .map(Js)
}

/// The longest timeout accepted, in ms: setTimeout's (2^31 − 1, about 24.8 days).
const MAX_TIMEOUT_MS: f64 = 2_147_483_647.0;

/// A timeout argument in milliseconds: a number from 0 to `MAX_TIMEOUT_MS`.
fn millis(ms: f64, what: &str) -> Result<std::time::Duration> {
    if !(0.0..=MAX_TIMEOUT_MS).contains(&ms) {
        return Err(Error::invalid_arg(format!(
            "{what} must be a number of milliseconds from 0 to {MAX_TIMEOUT_MS}"
        )));
    }
    Ok(std::time::Duration::from_secs_f64(ms / 1000.0))
}

/// A required string argument.
fn string_arg(env: JsEnv, v: Js, what: &str) -> Result<String> {
    if env.type_of(v.0)? != napi::sys::ValueType::napi_string {
        return Err(Error::invalid_arg(format!("{what} must be a string")));
    }
    env.get_string(v.0)
}
