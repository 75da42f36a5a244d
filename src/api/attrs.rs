//! Attribute access and iteration, for the proxies' traps.

use napi::Env;
use napi_derive::napi;
use pyo3::exceptions::PyAttributeError;
use pyo3::ffi;
use pyo3::prelude::*;

use super::contexts::Reply;
use super::{on_object, string_arg};
use crate::error::Result;
use crate::ffi as cpython;
use crate::js::Js;
use crate::python::exception;

/// Reads `obj.name` now. Returns the converted value, `undefined` when there is no such
/// attribute, or the `method` hook symbol when the attribute is a method bound to `obj` (or a
/// module's function), so that the TS layer caches one caller instead of a bound method.
#[napi(ts_return_type = "unknown")]
pub fn get_attr(
    env: Env,
    owner: u32,
    id: f64,
    #[napi(ts_arg_type = "string")] name: Js,
) -> napi::Result<Js> {
    let name = name_arg(&env, name)?;
    on_object(&env, owner, id, &[], move |py, obj, _| {
        let value = match obj.getattr(name.as_str()) {
            Ok(value) => value,
            Err(e) if e.is_instance_of::<PyAttributeError>(py) => return Ok(Reply::Undefined),
            Err(e) => return Err(exception::from_pyerr(py, e)),
        };
        Ok(match is_method_of(&obj, &value) {
            true => Reply::Method,
            false => Reply::Object(value),
        })
    })
}

fn name_arg(env: &Env, name: Js) -> napi::Result<String> {
    super::entry(env, |js| string_arg(js, name, "attribute name"))
}

/// True for `obj.f` where `f` is a method bound to `obj` (Python or builtin), or a function
/// of module `obj`: calling it by name later gives the same result without materializing it.
fn is_method_of(obj: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> bool {
    let (o, v) = (obj.as_ptr(), value.as_ptr());
    // SAFETY: attached; both objects are alive; only type checks and borrowed reads.
    unsafe {
        if ffi::Py_TYPE(v) == &raw mut cpython::PyMethod_Type {
            return cpython::PyMethod_Self(v) == o;
        }
        if ffi::PyCFunction_Check(v) != 0 {
            return ffi::PyCFunction_GET_SELF(v) == o;
        }
        ffi::PyModule_Check(o) != 0 && ffi::PyFunction_Check(v) != 0
    }
}

/// `obj.name = value`.
#[napi]
pub fn set_attr(
    env: Env,
    id: f64,
    #[napi(ts_arg_type = "string")] name: Js,
    #[napi(ts_arg_type = "unknown")] value: Js,
) -> napi::Result<()> {
    let name = name_arg(&env, name)?;
    on_object(&env, 0, id, &[value], move |py, obj, mut values| {
        obj.setattr(name.as_str(), values.remove(0))
            .map_err(|e| exception::from_pyerr(py, e))?;
        Ok(Reply::Undefined)
    })
    .map(drop)
}

/// `del obj.name`.
#[napi]
pub fn del_attr(env: Env, id: f64, #[napi(ts_arg_type = "string")] name: Js) -> napi::Result<()> {
    let name = name_arg(&env, name)?;
    on_object(&env, 0, id, &[], move |py, obj, _| {
        obj.delattr(name.as_str())
            .map_err(|e| exception::from_pyerr(py, e))?;
        Ok(Reply::Undefined)
    })
    .map(drop)
}

/// `hasattr(obj, name)`.
#[napi]
pub fn has_attr(env: Env, id: f64, #[napi(ts_arg_type = "string")] name: Js) -> napi::Result<bool> {
    let name = name_arg(&env, name)?;
    let found = on_object(&env, 0, id, &[], move |py, obj, _| {
        let found = obj
            .hasattr(name.as_str())
            .map_err(|e| exception::from_pyerr(py, e))?;
        Ok(Reply::Bool(found))
    })?;
    super::bool_of(&env, found)
}

/// `iter(obj)`, as a proxy.
#[napi(ts_return_type = "unknown")]
pub fn iterate(env: Env, owner: u32, id: f64) -> napi::Result<Js> {
    on_object(&env, owner, id, &[], |py, obj, _| {
        let iter = obj.try_iter().map_err(|e| exception::from_pyerr(py, e))?;
        Ok(Reply::Object(iter.into_any()))
    })
}

/// `next(iterator)`, or the `done` hook symbol when it is exhausted.
#[napi(ts_return_type = "unknown")]
pub fn next(env: Env, owner: u32, id: f64) -> napi::Result<Js> {
    on_object(&env, owner, id, &[], |_, iter, _| {
        Ok(match next_item(&iter)? {
            Some(item) => Reply::Object(item),
            None => Reply::Done,
        })
    })
}

/// `next(iter)`, or `None` when it is exhausted.
fn next_item<'py>(iter: &Bound<'py, PyAny>) -> Result<Option<Bound<'py, PyAny>>> {
    let py = iter.py();
    // SAFETY: attached; `iter` is alive; returns a new reference or NULL.
    let item = unsafe { Bound::from_owned_ptr_or_opt(py, ffi::PyIter_Next(iter.as_ptr())) };
    match item {
        Some(item) => Ok(Some(item)),
        // SAFETY: attached; NULL without an error set means exhaustion.
        None if unsafe { ffi::PyErr_Occurred() }.is_null() => Ok(None),
        None => Err(exception::take(py)),
    }
}
