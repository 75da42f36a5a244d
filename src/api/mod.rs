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
pub(crate) mod throw;

pub(crate) use cancel::settled as call_settled;

use std::collections::HashMap;

use napi::Env;
use pyo3::prelude::*;

use crate::context::{self, InterpId};
use crate::convert;
use crate::error::{Error, Result};
use crate::handle::{self, HandleId};
use crate::inbox;
use crate::js::{Js, JsEnv};
use crate::python::{attach, OwnedPtr};

/// Attaches, releases what JS garbage collection dropped, runs `f`, and throws its error.
fn run<T>(env: &Env, f: impl for<'py> FnOnce(Python<'py>, JsEnv) -> Result<T>) -> napi::Result<T> {
    let js = JsEnv(env.raw());
    attached(|py| f(py, js)).map_err(|e| throw::throw(js, e))
}

/// Runs `work` on the object behind handle `id`, in the interpreter that owns it: attached
/// here for the main one, on its thread for a context. `inputs` are converted for that
/// interpreter (proxies of another: `ERR_PY_CONTEXT_MISMATCH`); the reply is converted for JS,
/// proxies belonging to `owner`, which must be of the same interpreter (0 if none are made).
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
    let js = JsEnv(env.raw());
    let result = contexts::target(id).and_then(|(target, route)| {
        // Proxies made for `owner` must belong to its interpreter (owner 0: none are made).
        if owner != 0 && contexts::of_owner(owner)? != route {
            return Err(Error::ContextMismatch);
        }
        match route {
            None => attached(|py| {
                let target = contexts::bind(py, target);
                let inputs = main_inputs(py, js, inputs)?;
                contexts::reply_to_js(js, owner, work(py, target, inputs)?)
            }),
            Some(interp) => contexts::run_in(js, interp, owner, inputs, move |py, inputs| {
                work(py, contexts::bind(py, target), inputs)
            }),
        }
    });
    result.map_err(|e| throw::throw(js, e))
}

/// Runs `work` in `owner`'s interpreter, like `on_object` without a target object.
fn in_interpreter<W>(env: &Env, owner: u32, inputs: &[Js], work: W) -> napi::Result<Js>
where
    W: for<'py> FnOnce(Python<'py>, Vec<Bound<'py, PyAny>>) -> Result<contexts::Reply<'py>>
        + Send
        + 'static,
{
    let js = JsEnv(env.raw());
    let result = contexts::of_owner(owner).and_then(|route| match route {
        None => attached(|py| {
            let inputs = main_inputs(py, js, inputs)?;
            contexts::reply_to_js(js, owner, work(py, inputs)?)
        }),
        Some(interp) => contexts::run_in(js, interp, owner, inputs, work),
    });
    result.map_err(|e| throw::throw(js, e))
}

/// JS values converted for the main interpreter, directly.
fn main_inputs<'py>(py: Python<'py>, js: JsEnv, inputs: &[Js]) -> Result<Vec<Bound<'py, PyAny>>> {
    let mut convert = convert::ToPy::new(js, convert::PyObjects::new(py));
    inputs.iter().map(|v| convert.convert(v.0)).collect()
}

/// The boolean an entry point's reply became.
fn bool_of(env: &Env, v: Js) -> napi::Result<bool> {
    let js = JsEnv(env.raw());
    js.get_bool(v.0).map_err(|e| throw::throw(js, e))
}

/// Runs `f` attached to the main interpreter, first releasing what JS garbage collection
/// dropped.
fn attached<T>(f: impl for<'py> FnOnce(Python<'py>) -> Result<T>) -> Result<T> {
    if handle::with(|r| r.has_pending()) {
        release_objects(handle::with(|r| r.take_pending()));
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

/// Gives references back to their interpreters: a context's through its queue, behind the jobs
/// that may still use them through borrowed pointers; the main interpreter's now (attached)
/// when no async call is in flight, else likewise as a job. Those of closed contexts went with
/// them.
fn release_objects(objects: Vec<handle::Release>) {
    release(objects, inbox::in_flight() > 0)
}

fn release(objects: Vec<handle::Release>, queue_main: bool) {
    let mut main = Vec::new();
    let mut contexts: HashMap<InterpId, Vec<OwnedPtr>> = HashMap::new();
    for (interp, object) in objects {
        match interp {
            0 => main.push(object),
            _ => contexts.entry(interp).or_default().push(object),
        }
    }
    for (interp, objects) in contexts {
        let _ = context::send(interp, release_job(objects));
    }
    if main.is_empty() {
        return;
    }
    if queue_main {
        let _ = context::send(0, release_job(main));
        return;
    }
    let _ = attach::with_gil(|py| main.into_iter().for_each(|o| o.release(py)));
}

fn release_job(objects: Vec<OwnedPtr>) -> context::Job {
    Box::new(move |py| objects.into_iter().for_each(|o| o.release(py)))
}

/// The main-interpreter object behind a handle id, as a new strong reference.
fn object<'py>(py: Python<'py>, id: f64) -> Result<Bound<'py, PyAny>> {
    let ptr = handle::with(|r| r.get_in(id as HandleId, 0))?;
    // SAFETY: the registry holds a strong reference; this takes another.
    Ok(unsafe { Bound::from_borrowed_ptr(py, ptr) })
}

/// Converts a result for JS (proxies belong to `owner`).
fn to_js(js: JsEnv, owner: u32, obj: &Bound<'_, PyAny>) -> Result<Js> {
    convert::ToJs::new(convert::JsValues::new(js, owner), false)
        .convert(obj)
        .map(Js)
}

/// A required string argument.
fn string_arg(env: JsEnv, v: Js, what: &str) -> Result<String> {
    if env.type_of(v.0)? != napi::sys::ValueType::napi_string {
        return Err(Error::invalid_arg(format!("{what} must be a string")));
    }
    env.get_string(v.0)
}
