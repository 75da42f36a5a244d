//! Python callables backed by Rust closures: a `builtin_function_or_method` whose `self` is a
//! capsule owning the closure (no `#[pyclass]`, no per-process type, so it works in any
//! interpreter). Used for JS callbacks and for completion callbacks of coroutines.

use std::ffi::CStr;

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::error::{Error, Result};
use crate::python::exception;

/// What a closure does when Python calls it; runs attached, on whichever thread called.
pub type Body = dyn for<'py> Fn(
        Python<'py>,
        &Bound<'py, PyTuple>,
        Option<&Bound<'py, PyDict>>,
    ) -> Result<Bound<'py, PyAny>>
    + Send
    + Sync;

const CAPSULE: &CStr = c"pyembed.closure";

struct Def(ffi::PyMethodDef);
// SAFETY: the definition is immutable and only read by CPython.
unsafe impl Sync for Def {}

static DEF: Def = Def(ffi::PyMethodDef {
    ml_name: c"pyembed_callable".as_ptr(),
    ml_meth: ffi::PyMethodDefPointer {
        PyCFunctionWithKeywords: trampoline,
    },
    ml_flags: ffi::METH_VARARGS | ffi::METH_KEYWORDS,
    ml_doc: std::ptr::null(),
});

/// A new Python callable running `body`.
pub fn new<'py>(py: Python<'py>, body: Box<Body>) -> Result<Bound<'py, PyAny>> {
    let raw = Box::into_raw(Box::new(body));
    // SAFETY: attached; the capsule takes ownership of `raw` and frees it in `destroy`.
    let capsule = unsafe { ffi::PyCapsule_New(raw.cast(), CAPSULE.as_ptr(), Some(destroy)) };
    if capsule.is_null() {
        // SAFETY: the capsule was not created, so `raw` is still ours.
        drop(unsafe { Box::from_raw(raw) });
        return Err(exception::take(py));
    }
    // SAFETY: attached; `DEF` is static; NewEx takes its own reference to the capsule, so ours
    // is released right after.
    unsafe {
        let function =
            ffi::PyCFunction_NewEx(&DEF.0 as *const _ as *mut _, capsule, std::ptr::null_mut());
        ffi::Py_DECREF(capsule);
        Bound::from_owned_ptr_or_opt(py, function).ok_or_else(|| exception::take(py))
    }
}

unsafe extern "C" fn destroy(capsule: *mut ffi::PyObject) {
    // SAFETY: called once by CPython with our capsule, whose pointer came from `new`.
    unsafe {
        let raw = ffi::PyCapsule_GetPointer(capsule, CAPSULE.as_ptr()) as *mut Box<Body>;
        if !raw.is_null() {
            drop(Box::from_raw(raw));
        }
    }
}

unsafe extern "C" fn trampoline(
    capsule: *mut ffi::PyObject,
    args: *mut ffi::PyObject,
    kwargs: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls this attached, with our capsule, an args tuple and a kwargs dict or
    // NULL, all borrowed for the call. `Python::attach` only counts the attachment for pyo3
    // (the calling thread's GIL-state thread state is the current one), so that objects pyo3
    // drops here are released at once, in this interpreter.
    Python::attach(|py| unsafe {
        let body = &*(ffi::PyCapsule_GetPointer(capsule, CAPSULE.as_ptr()) as *const Box<Body>);
        let args = Bound::from_borrowed_ptr(py, args).cast_into_unchecked::<PyTuple>();
        let kwargs =
            Bound::from_borrowed_ptr_or_opt(py, kwargs).map(|k| k.cast_into_unchecked::<PyDict>());
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            body(py, &args, kwargs.as_ref())
        }))
        .unwrap_or_else(|_| Err(Error::Internal("panic in a pyembed callable".into())));
        match result {
            Ok(value) => value.into_ptr(),
            Err(err) => {
                raise(py, err);
                std::ptr::null_mut()
            }
        }
    })
}

/// Sets `err` as the current Python exception (unless one is already set).
fn raise(py: Python<'_>, err: Error) {
    // SAFETY: attached.
    if !unsafe { ffi::PyErr_Occurred() }.is_null() {
        return;
    }
    exception(py, err).restore(py);
}

/// The Python exception for `err`, raised where Python called into pyembed: a JS exception is
/// `pyembed.JSError`, a bad value `TypeError`, anything else `RuntimeError`.
pub fn exception(py: Python<'_>, err: Error) -> PyErr {
    let message = err.to_string();
    match err {
        Error::Python(_) => pyo3::exceptions::PyRuntimeError::new_err(message),
        Error::InvalidArg(_) | Error::Conversion(_) | Error::ContextMismatch => {
            pyo3::exceptions::PyTypeError::new_err(message)
        }
        Error::JsException(js) => crate::python::code::js_error(py, &js),
        Error::JsEnded => crate::python::code::js_error(
            py,
            &crate::error::JsException {
                name: "Error".into(),
                message,
                stack: String::new(),
            },
        ),
        _ => pyo3::exceptions::PyRuntimeError::new_err(message),
    }
}
