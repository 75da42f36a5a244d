//! Capturing a raised Python exception as plain data (`PyException`).
//!
//! pyo3's `PyErr` is never dropped here: it is restored as the current exception and fetched
//! back as a `Bound`, so no reference goes through pyo3's deferred pool.

use pyo3::prelude::*;
use pyo3::types::{PyList, PyString};
use pyo3::{ffi, PyErr};

use crate::error::{Error, PyException};

/// Chains longer than this are cut (a cause chain can be made arbitrarily long).
const MAX_CAUSES: usize = 16;

/// Converts a pyo3 error into ours.
pub fn from_pyerr(py: Python<'_>, err: PyErr) -> Error {
    err.restore(py);
    take(py)
}

/// Takes the currently raised exception (there must be one) and describes it.
pub fn take(py: Python<'_>) -> Error {
    match fetch(py) {
        Some(exc) => Error::Python(describe(&exc, 0)),
        None => Error::Internal("a Python call failed without setting an exception".into()),
    }
}

/// Describes an exception object.
pub fn describe(exc: &Bound<'_, PyAny>, depth: usize) -> PyException {
    let py = exc.py();
    // Not `PyType::name()`: it caches its attribute name process-wide, which contexts must not
    // share.
    let type_name = exc
        .get_type()
        .getattr("__name__")
        .map(|n| n.to_string())
        .unwrap_or_else(|e| discard(py, e, "<unknown>".into()));
    let message = exc
        .str()
        .map(|s| s.to_string())
        .unwrap_or_else(|e| discard(py, e, "<unprintable>".into()));
    let traceback = format_traceback(exc).unwrap_or_else(|e| discard(py, e, String::new()));
    let cause = (depth < MAX_CAUSES)
        .then(|| chained(exc))
        .flatten()
        .map(|c| Box::new(describe(&c, depth + 1)));
    PyException {
        type_name,
        message,
        traceback,
        cause,
    }
}

fn fetch(py: Python<'_>) -> Option<Bound<'_, PyAny>> {
    #[cfg(Py_3_12)]
    {
        // SAFETY: attached; returns a new reference or NULL.
        let raised = unsafe { ffi::PyErr_GetRaisedException() };
        // SAFETY: `raised` is a new reference (or NULL, giving None).
        unsafe { Bound::from_owned_ptr_or_opt(py, raised) }
    }
    #[cfg(not(Py_3_12))]
    {
        let (mut ptype, mut pvalue, mut ptb) = (
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        );
        // SAFETY: attached; the out-pointers receive new references (or NULL).
        unsafe {
            ffi::PyErr_Fetch(&mut ptype, &mut pvalue, &mut ptb);
            if ptype.is_null() {
                return None;
            }
            ffi::PyErr_NormalizeException(&mut ptype, &mut pvalue, &mut ptb);
            if !ptb.is_null() && !pvalue.is_null() {
                ffi::PyException_SetTraceback(pvalue, ptb);
            }
            ffi::Py_XDECREF(ptype);
            ffi::Py_XDECREF(ptb);
            Bound::from_owned_ptr_or_opt(py, pvalue)
        }
    }
}

fn format_traceback(exc: &Bound<'_, PyAny>) -> PyResult<String> {
    let py = exc.py();
    let lines = py
        .import("traceback")?
        .call_method1("format_exception", (exc,))?
        .cast_into::<PyList>()?;
    let joined = PyString::new(py, "").call_method1("join", (lines,))?;
    Ok(joined.to_string())
}

/// `__cause__`, or `__context__` unless `__suppress_context__`.
fn chained<'py>(exc: &Bound<'py, PyAny>) -> Option<Bound<'py, PyAny>> {
    let py = exc.py();
    let get = |name: &str| match exc.getattr(name) {
        Ok(v) if !v.is_none() => Some(v),
        Ok(_) => None,
        Err(e) => discard(py, e, None),
    };
    get("__cause__").or_else(|| {
        let suppressed =
            get("__suppress_context__").is_some_and(|v| v.is_truthy().unwrap_or(false));
        if suppressed {
            None
        } else {
            get("__context__")
        }
    })
}

/// Drops an error raised while describing another one, returning `fallback`.
fn discard<T>(py: Python<'_>, err: PyErr, fallback: T) -> T {
    err.restore(py);
    // SAFETY: attached; clears the error just restored.
    unsafe { ffi::PyErr_Clear() };
    fallback
}
