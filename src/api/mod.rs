//! Every `#[napi]` item lives here: argument checks, one attach per call, conversion, and the
//! single mapping of `Error` to a thrown JS error (`throw`). Semantics stay in the core modules.

mod attrs;
mod call;
mod calls;
mod lifecycle;
mod throw;

use napi::Env;
use pyo3::prelude::*;

use crate::convert;
use crate::error::{Error, Result};
use crate::handle::{self, HandleId};
use crate::js::{Js, JsEnv};
use crate::python::attach;

/// Attaches, releases what JS garbage collection dropped, runs `f`, and throws its error.
fn run<T>(env: &Env, f: impl for<'py> FnOnce(Python<'py>, JsEnv) -> Result<T>) -> napi::Result<T> {
    let js = JsEnv(env.raw());
    attach::with_gil(|py| {
        convert::release_pending(py);
        f(py, js)
    })
    .and_then(|r| r)
    .map_err(|e| throw::throw(js, e))
}

/// The object behind a handle id, as a new strong reference.
fn object<'py>(py: Python<'py>, id: f64) -> Result<Bound<'py, PyAny>> {
    let ptr = handle::with(|r| r.get(id as HandleId))?;
    // SAFETY: the registry holds a strong reference; this takes another.
    Ok(unsafe { Bound::from_borrowed_ptr(py, ptr) })
}

/// A required string argument.
fn string_arg(env: JsEnv, v: Js, what: &str) -> Result<String> {
    if env.type_of(v.0)? != napi::sys::ValueType::napi_string {
        return Err(Error::invalid_arg(format!("{what} must be a string")));
    }
    env.get_string(v.0)
}
