//! The `_pyembed_tasks` module of a task's interpreter: the Python runner (`runner.py`) plus
//! the native functions it calls for messages and interruptible sleep (`_recv`, `_post`,
//! `_unrecv`, `_sleep`), which wait detached from Python and hold no Python object. `_recv`,
//! `_unrecv` and `_sleep` act on the task the calling interpreter runs (`mailbox::bind`), never
//! on one the caller names.

use std::ffi::CString;
use std::time::Duration;

use pyo3::exceptions::{PyOverflowError, PyRuntimeError, PyTimeoutError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyModule, PyTuple};

use super::mailbox::{self, Message, Woken};
use crate::error::Result;
use crate::python::{closure, code, exception};

const SOURCE: &str = include_str!("runner.py");
const NAME: &str = "_pyembed_tasks";

/// This interpreter's runner module, created on first use.
pub fn module(py: Python<'_>) -> Result<Bound<'_, PyAny>> {
    made(py).map_err(|e| exception::from_pyerr(py, e))
}

fn made(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    let modules = py.import("sys")?.getattr("modules")?;
    if let Ok(module) = modules.get_item(NAME) {
        return Ok(module);
    }
    code::host_module(py)?;
    let source = CString::new(SOURCE).expect("no NUL in runner.py");
    // Its own file name, so that tracebacks through it say what it is; `from_code` also puts
    // it in `sys.modules`.
    let module = PyModule::from_code(py, &source, c"pyembed/task/runner.py", c"_pyembed_tasks")?;
    let natives: [(&str, Box<closure::Body>); 4] = [
        ("_recv", Box::new(recv)),
        ("_post", Box::new(|py, args, _| post(py, args, false))),
        ("_unrecv", Box::new(|py, args, _| post(py, args, true))),
        ("_sleep", Box::new(sleep)),
    ];
    for (name, body) in natives {
        module.setattr(name, closure::new(py, body).map_err(|e| into_pyerr(py, e))?)?;
    }
    Ok(module.into_any())
}

fn into_pyerr(py: Python<'_>, e: crate::error::Error) -> PyErr {
    closure::exception(py, e)
}

/// `_recv(timeout)` → `(kind, payload)`: 0 str, 1 bytes, 2 JSON text. Raises
/// `TimeoutError`, `pyembed.Cancelled` (interrupted) or `RuntimeError` (the task ended).
fn recv<'py>(
    py: Python<'py>,
    args: &Bound<'py, PyTuple>,
    _: Option<&Bound<'py, PyDict>>,
) -> Result<Bound<'py, PyAny>> {
    let (timeout,): (Option<f64>,) = args.extract().map_err(|e| err(py, e))?;
    let Some(task) = running_task() else {
        return Err(err(
            py,
            PyRuntimeError::new_err("no task runs in this interpreter"),
        ));
    };
    let timeout = timeout.map(seconds).transpose().map_err(|e| err(py, e))?;
    let woken = py.detach(|| mailbox::recv(&task, timeout));
    let raised = match woken {
        Woken::Message(message) => match message_to_py(py, &message) {
            Ok(value) => return Ok(value),
            Err(e) => {
                let _ = mailbox::unrecv(&task, message); // not lost: still first in line
                e
            }
        },
        Woken::TimedOut => PyTimeoutError::new_err("no message arrived in time"),
        Woken::Interrupted => {
            let cancelled = code::cancelled_type(py)?;
            PyErr::from_value(
                cancelled
                    .call1(("the task was cancelled",))
                    .map_err(|e| err(py, e))?,
            )
        }
        Woken::Closed => PyRuntimeError::new_err(format!("task {task:?} has ended")),
    };
    Err(err(py, raised))
}

/// `_post(task_id, kind, payload)`, and `_unrecv(kind, payload)`, which puts a message back in
/// front of the running task's queue.
fn post<'py>(
    py: Python<'py>,
    args: &Bound<'py, PyTuple>,
    front: bool,
) -> Result<Bound<'py, PyAny>> {
    let (task, kind, payload): (Option<String>, u8, Bound<'py, PyAny>) = match front {
        // `_unrecv(kind, payload)`: back to this interpreter's own task.
        true => {
            let (kind, payload) = args.extract().map_err(|e| err(py, e))?;
            (running_task(), kind, payload)
        }
        false => {
            let (task, kind, payload) = args.extract().map_err(|e| err(py, e))?;
            (Some(task), kind, payload)
        }
    };
    let Some(task) = task else {
        return Err(err(
            py,
            PyRuntimeError::new_err("no task runs in this interpreter"),
        ));
    };
    let message = match kind {
        0 => Message::Text(payload.extract().map_err(|e| err(py, e))?),
        1 => Message::Bytes(payload.extract().map_err(|e| err(py, e))?),
        2 => Message::Json(payload.extract().map_err(|e| err(py, e))?),
        _ => return Err(err(py, PyValueError::new_err("unknown message kind"))),
    };
    let posted = match front {
        true => mailbox::unrecv(&task, message),
        false => mailbox::post(&task, message),
    };
    posted
        .map(|()| py.None().into_bound(py))
        .map_err(|e| err(py, PyRuntimeError::new_err(e.to_string())))
}

/// `_sleep(seconds)` → False if the task was interrupted meanwhile.
fn sleep<'py>(
    py: Python<'py>,
    args: &Bound<'py, PyTuple>,
    _: Option<&Bound<'py, PyDict>>,
) -> Result<Bound<'py, PyAny>> {
    let (secs,): (f64,) = args.extract().map_err(|e| err(py, e))?;
    if secs > MAX_SLEEP {
        // What `time.sleep` itself says of a duration it cannot represent.
        return Err(err(
            py,
            PyOverflowError::new_err("sleep length is too large"),
        ));
    }
    let duration = seconds(secs).map_err(|e| err(py, e))?;
    // No task (it ended): no sleep either.
    let slept = running_task().is_some_and(|task| py.detach(|| mailbox::sleep(&task, duration)));
    Ok(pyo3::types::PyBool::new(py, slept).to_owned().into_any())
}

/// The task the calling thread's interpreter runs.
fn running_task() -> Option<String> {
    // SAFETY: called attached (from a closure Python called): the current thread state and
    // its interpreter are alive.
    let interp = unsafe { ffi::PyThreadState_GetInterpreter(ffi::PyThreadState_Get()) };
    mailbox::bound(interp as usize)
}

/// About the longest `time.sleep` accepts (its nanosecond clock's range).
const MAX_SLEEP: f64 = 9.2e9;

fn seconds(secs: f64) -> PyResult<Duration> {
    if secs.is_nan() {
        return Err(PyValueError::new_err(
            "a duration must be a number of seconds, not NaN",
        ));
    }
    if secs < 0.0 {
        return Err(PyValueError::new_err("a duration must not be negative"));
    }
    Ok(Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX))
}

/// `(kind, payload)` for Python: 0 str, 1 bytes, 2 JSON text. Fails (`MemoryError`) rather
/// than panic when the payload cannot be made (a big message under a memory limit).
fn message_to_py<'py>(py: Python<'py>, message: &Message) -> PyResult<Bound<'py, PyAny>> {
    let (kind, payload) = match message {
        Message::Text(text) => (0u8, text_to_py(py, text)?),
        Message::Json(text) => (2, text_to_py(py, text)?),
        // SAFETY: attached; copies `len` bytes from a live slice; a new reference or NULL.
        Message::Bytes(bytes) => (1, unsafe {
            Bound::from_owned_ptr_or_err(
                py,
                ffi::PyBytes_FromStringAndSize(
                    bytes.as_ptr().cast(),
                    bytes.len() as ffi::Py_ssize_t,
                ),
            )?
        }),
    };
    let kind = pyo3::types::PyInt::new(py, kind).into_any();
    Ok(PyTuple::new(py, [kind, payload])?.into_any())
}

fn text_to_py<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyAny>> {
    // SAFETY: attached; `text` is valid UTF-8 of `len` bytes; a new reference or NULL.
    unsafe {
        Bound::from_owned_ptr_or_err(
            py,
            ffi::PyUnicode_FromStringAndSize(text.as_ptr().cast(), text.len() as ffi::Py_ssize_t),
        )
    }
}

/// Raises `e` as it is: the closure's caller keeps an exception already set (see
/// `closure::raise`) rather than turning the returned error into a `RuntimeError`.
fn err(py: Python<'_>, e: PyErr) -> crate::error::Error {
    e.restore(py);
    crate::error::Error::Internal("raised".into())
}
