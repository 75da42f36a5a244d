//! The one error type of the core, and the stable codes JS sees.
//!
//! Nothing here touches Node-API or Python: a Python exception is captured into owned strings
//! while the interpreter is attached (see `python::exception`), and turned into a JS error object
//! only on the JS thread (see `api::throw`).

use std::fmt;

/// A Python exception captured as plain data.
#[derive(Debug, Clone)]
pub struct PyException {
    /// The exception class's `__name__`, e.g. `ZeroDivisionError`.
    pub type_name: String,
    /// `str(exception)`.
    pub message: String,
    /// `traceback.format_exception(exception)`, joined.
    pub traceback: String,
    /// `__cause__`, or `__context__` unless suppressed.
    pub cause: Option<Box<PyException>>,
}

/// A JS exception captured as plain data (from a callback that Python called).
#[derive(Debug, Clone)]
pub struct JsException {
    pub name: String,
    pub message: String,
    pub stack: String,
}

#[derive(Debug)]
pub enum Error {
    /// Python raised; `ERR_PY_EXCEPTION`.
    Python(PyException),
    /// A JS argument of the wrong type or shape; `ERR_PY_INVALID_ARG`.
    InvalidArg(String),
    /// A proxy whose Python object was already released; `ERR_PY_RELEASED`.
    Released,
    /// A value that cannot be converted (too deep, unsupported); `ERR_PY_CONVERSION`.
    Conversion(String),
    /// CPython could not be started; `ERR_PY_INIT`.
    Init(String),
    /// `configure` after the runtime started; `ERR_PY_ALREADY_INITIALIZED`.
    AlreadyInitialized,
    /// A JS callback threw; in Python it becomes `pyembed.JSError`.
    JsException(JsException),
    /// A JS exception is already pending (a getter or proxy trap threw): let it propagate as is.
    JsPending,
    /// The JS environment is being torn down (a worker ending) and runs no more JS; in Python
    /// it becomes `pyembed.JSError`.
    JsEnded,
    /// A proxy of one context passed to another (or to the main interpreter);
    /// `ERR_PY_CONTEXT_MISMATCH`.
    ContextMismatch,
    /// The context was closed (or is closing); `ERR_PY_CONTEXT_CLOSED`.
    ContextClosed,
    /// A message sent to a task that has ended (or never existed); `ERR_PY_TASK_ENDED`.
    TaskEnded(String),
    /// A Node-API call failed unexpectedly; `ERR_PY_INTERNAL`.
    Internal(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// The stable `code` property of the JS error.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Python(_) => "ERR_PY_EXCEPTION",
            Error::InvalidArg(_) => "ERR_PY_INVALID_ARG",
            Error::Released => "ERR_PY_RELEASED",
            Error::Conversion(_) => "ERR_PY_CONVERSION",
            Error::Init(_) => "ERR_PY_INIT",
            Error::AlreadyInitialized => "ERR_PY_ALREADY_INITIALIZED",
            Error::JsException(_) | Error::JsPending => "ERR_PY_JS_EXCEPTION",
            Error::JsEnded => "ERR_PY_INTERNAL",
            Error::ContextMismatch => "ERR_PY_CONTEXT_MISMATCH",
            Error::ContextClosed => "ERR_PY_CONTEXT_CLOSED",
            Error::TaskEnded(_) => "ERR_PY_TASK_ENDED",
            Error::Internal(_) => "ERR_PY_INTERNAL",
        }
    }

    pub fn invalid_arg(message: impl Into<String>) -> Self {
        Error::InvalidArg(message.into())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Python(e) => write!(f, "{}: {}", e.type_name, e.message),
            Error::InvalidArg(m) | Error::Conversion(m) | Error::Internal(m) => f.write_str(m),
            Error::Init(m) => write!(f, "cannot start Python: {m}"),
            Error::Released => {
                f.write_str("this Python object was released (gc, clear or dispose)")
            }
            Error::AlreadyInitialized => {
                f.write_str("Python is already running: call Python.configure() before first use")
            }
            Error::JsException(e) => write!(f, "{}: {}", e.name, e.message),
            Error::JsPending => f.write_str("a JavaScript exception is pending"),
            Error::JsEnded => f.write_str("the JS environment of this callback has ended"),
            Error::ContextMismatch => f.write_str(
                "this Python object belongs to another context: objects cannot cross interpreters",
            ),
            Error::ContextClosed => f.write_str("this Python context is closed"),
            Error::TaskEnded(id) => write!(f, "task {id:?} has ended: it takes no more messages"),
        }
    }
}
