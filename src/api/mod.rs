//! Every `#[napi]` item lives here: argument checks, one attach per call, conversion, and the
//! single mapping of `Error` to a thrown JS error (`throw`). Semantics stay in the core modules.

mod asynchronous;
mod attrs;
mod call;
mod calls;
mod cancel;
mod lifecycle;
pub(crate) mod throw;

pub(crate) use cancel::settled as call_settled;

use napi::Env;
use pyo3::prelude::*;

use crate::convert;
use crate::error::{Error, Result};
use crate::handle::{self, HandleId};
use crate::inbox;
use crate::js::{Js, JsEnv};
use crate::python::{attach, OwnedPtr};
use crate::runtime;

/// Attaches, releases what JS garbage collection dropped, runs `f`, and throws its error.
fn run<T>(env: &Env, f: impl for<'py> FnOnce(Python<'py>, JsEnv) -> Result<T>) -> napi::Result<T> {
    let js = JsEnv(env.raw());
    attached(|py| f(py, js)).map_err(|e| throw::throw(js, e))
}

/// Runs `f` attached, first releasing what JS garbage collection dropped (behind the in-flight
/// async calls, if any, which may still use those objects).
fn attached<T>(f: impl for<'py> FnOnce(Python<'py>) -> Result<T>) -> Result<T> {
    if inbox::in_flight() > 0 && handle::with(|r| r.has_pending()) {
        release_objects(handle::with(|r| r.take_pending()));
    }
    attach::with_gil(|py| {
        convert::release_pending(py);
        f(py)
    })?
}

/// Gives references back to Python: now (attached) when no async call is in flight, else as a
/// job behind the queued ones, which may still use the objects through borrowed pointers.
fn release_objects(objects: Vec<OwnedPtr>) {
    if objects.is_empty() {
        return;
    }
    if inbox::in_flight() > 0 {
        if let Ok(rt) = runtime::get() {
            let job: crate::context::Job =
                Box::new(move |py| objects.into_iter().for_each(|o| o.release(py)));
            let _ = rt.jobs.send(job);
        }
        return;
    }
    let _ = attach::with_gil(|py| objects.into_iter().for_each(|o| o.release(py)));
}

/// The object behind a handle id, as a new strong reference.
fn object<'py>(py: Python<'py>, id: f64) -> Result<Bound<'py, PyAny>> {
    let ptr = handle::with(|r| r.get(id as HandleId))?;
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
