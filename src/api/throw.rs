//! The one conversion of `Error` into a thrown JS error.
//!
//! Python exceptions become the TS layer's `PythonError` (built by a hook, `cause` chained);
//! every other error is a plain `Error` whose `code` is `Error::code()`.

use napi::sys;

use crate::error::{Error, PyException, Result};
use crate::js::{hooks, JsEnv};

/// Throws `err` in JS and returns the napi error that tells napi-rs an exception is pending.
pub fn throw(js: JsEnv, err: Error) -> napi::Error {
    if !matches!(err, Error::JsPending) {
        if let Ok(value) = error_value(js, &err) {
            js.throw(value);
        }
    }
    napi::Error::from_status(napi::Status::PendingException)
}

/// The JS error object for `err` (to throw, or to reject a promise with).
pub fn error_value(js: JsEnv, err: &Error) -> Result<sys::napi_value> {
    let built = match err {
        Error::Python(exception) => python_error(js, exception),
        other => js.error(other.code(), &other.to_string()),
    };
    built.or_else(|_| js.error(err.code(), &err.to_string()))
}

fn python_error(js: JsEnv, e: &PyException) -> Result<sys::napi_value> {
    let cause = match &e.cause {
        Some(cause) => python_error(js, cause)?,
        None => js.undefined()?,
    };
    let make = hooks::get(js, |h| h.make_python_error)?;
    let args = [
        js.string(&e.type_name)?,
        js.string(&e.message)?,
        js.string(&e.traceback)?,
        cause,
    ];
    js.call(make, js.undefined()?, &args)
}
