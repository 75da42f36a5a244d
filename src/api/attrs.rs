//! Attribute access and iteration, for the proxies' traps.

use napi::Env;
use napi_derive::napi;
use pyo3::exceptions::PyAttributeError;
use pyo3::ffi;
use pyo3::prelude::*;

use super::contexts::{self, bind, borrowed, run_in, Reply};
use super::{object, routed, run, string_arg};
use crate::convert::{PyObjects, ToPy};
use crate::error::Result;
use crate::ffi as cpython;
use crate::js::{hooks, Js};
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
    let context = routed(&env, contexts::of_handle(id), |js, interp| {
        let (obj, name) = (
            borrowed(id, interp)?,
            string_arg(js, name, "attribute name")?,
        );
        run_in(js, interp, owner, move |py| {
            let obj = bind(py, obj);
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
    });
    if let Some(done) = context {
        return done;
    }
    run(&env, |py, js| {
        let obj = object(py, id)?;
        let name = string_arg(js, name, "attribute name")?;
        let value = match obj.getattr(name.as_str()) {
            Ok(value) => value,
            Err(e) if e.is_instance_of::<PyAttributeError>(py) => {
                e.restore(py);
                // SAFETY: attached; drops the AttributeError just restored.
                unsafe { ffi::PyErr_Clear() };
                return js.undefined().map(Js);
            }
            Err(e) => return Err(exception::from_pyerr(py, e)),
        };
        if is_method_of(&obj, &value) {
            return hooks::get(js, |h| h.method_symbol).map(Js);
        }
        super::to_js(js, owner, &value)
    })
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
    let context = routed(&env, contexts::of_handle(id), |js, interp| {
        let (obj, name) = (
            borrowed(id, interp)?,
            string_arg(js, name, "attribute name")?,
        );
        let (values, roots) = contexts::values(js, interp, &[value.0])?;
        run_in(js, interp, 0, move |py| {
            let value = contexts::build(py, &values, &roots)?.remove(0);
            bind(py, obj)
                .setattr(name.as_str(), value)
                .map_err(|e| exception::from_pyerr(py, e))?;
            Ok(Reply::Undefined)
        })
        .map(drop)
    });
    if let Some(done) = context {
        return done;
    }
    run(&env, |py, js| {
        let obj = object(py, id)?;
        let name = string_arg(js, name, "attribute name")?;
        let value = ToPy::new(js, PyObjects::new(py)).convert(value.0)?;
        obj.setattr(name.as_str(), value)
            .map_err(|e| exception::from_pyerr(py, e))
    })
}

/// `del obj.name`.
#[napi]
pub fn del_attr(env: Env, id: f64, #[napi(ts_arg_type = "string")] name: Js) -> napi::Result<()> {
    let context = routed(&env, contexts::of_handle(id), |js, interp| {
        let (obj, name) = (
            borrowed(id, interp)?,
            string_arg(js, name, "attribute name")?,
        );
        run_in(js, interp, 0, move |py| {
            bind(py, obj)
                .delattr(name.as_str())
                .map_err(|e| exception::from_pyerr(py, e))?;
            Ok(Reply::Undefined)
        })
        .map(drop)
    });
    if let Some(done) = context {
        return done;
    }
    run(&env, |py, js| {
        let obj = object(py, id)?;
        let name = string_arg(js, name, "attribute name")?;
        obj.delattr(name.as_str())
            .map_err(|e| exception::from_pyerr(py, e))
    })
}

/// `hasattr(obj, name)`.
#[napi]
pub fn has_attr(env: Env, id: f64, #[napi(ts_arg_type = "string")] name: Js) -> napi::Result<bool> {
    let context = routed(&env, contexts::of_handle(id), |js, interp| {
        let (obj, name) = (
            borrowed(id, interp)?,
            string_arg(js, name, "attribute name")?,
        );
        let found = run_in(js, interp, 0, move |py| {
            let found = bind(py, obj)
                .hasattr(name.as_str())
                .map_err(|e| exception::from_pyerr(py, e))?;
            Ok(Reply::Object(
                pyo3::types::PyBool::new(py, found).to_owned().into_any(),
            ))
        })?;
        js.get_bool(found.0)
    });
    if let Some(done) = context {
        return done;
    }
    run(&env, |py, js| {
        let obj = object(py, id)?;
        let name = string_arg(js, name, "attribute name")?;
        obj.hasattr(name.as_str())
            .map_err(|e| exception::from_pyerr(py, e))
    })
}

/// `iter(obj)`, as a proxy.
#[napi(ts_return_type = "unknown")]
pub fn iterate(env: Env, owner: u32, id: f64) -> napi::Result<Js> {
    let context = routed(&env, contexts::of_handle(id), |js, interp| {
        let obj = borrowed(id, interp)?;
        run_in(js, interp, owner, move |py| {
            let iter = bind(py, obj)
                .try_iter()
                .map_err(|e| exception::from_pyerr(py, e))?;
            Ok(Reply::Object(iter.into_any()))
        })
    });
    if let Some(done) = context {
        return done;
    }
    run(&env, |py, js| {
        let iter = object(py, id)?
            .try_iter()
            .map_err(|e| exception::from_pyerr(py, e))?;
        super::to_js(js, owner, iter.as_any())
    })
}

/// `next(iterator)`, or the `done` hook symbol when it is exhausted.
#[napi(ts_return_type = "unknown")]
pub fn next(env: Env, owner: u32, id: f64) -> napi::Result<Js> {
    let context = routed(&env, contexts::of_handle(id), |js, interp| {
        let obj = borrowed(id, interp)?;
        run_in(js, interp, owner, move |py| {
            Ok(match next_item(&bind(py, obj))? {
                Some(item) => Reply::Object(item),
                None => Reply::Done,
            })
        })
    });
    if let Some(done) = context {
        return done;
    }
    run(&env, |py, js| match next_item(&object(py, id)?)? {
        Some(item) => super::to_js(js, owner, &item),
        None => hooks::get(js, |h| h.done_symbol).map(Js),
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
