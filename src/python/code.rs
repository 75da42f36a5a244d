//! Running code: `exec`, `eval` and `import` in the interpreter's `__main__` namespace.

use std::ffi::CString;

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use crate::error::{Error, Result};
use crate::python::exception;

/// The `__main__` module's dict, shared by every plain `Python` instance.
pub fn main_dict(py: Python<'_>) -> Result<Bound<'_, PyDict>> {
    let main = py
        .import("__main__")
        .map_err(|e| exception::from_pyerr(py, e))?;
    Ok(main.dict())
}

/// Runs statements; returns nothing.
pub fn exec(py: Python<'_>, code: &str) -> Result<()> {
    run(py, code, ffi::Py_file_input, "<exec>").map(drop)
}

/// Evaluates one expression.
pub fn eval<'py>(py: Python<'py>, expr: &str) -> Result<Bound<'py, PyAny>> {
    run(py, expr, ffi::Py_eval_input, "<eval>")
}

fn run<'py>(
    py: Python<'py>,
    source: &str,
    start: i32,
    filename: &str,
) -> Result<Bound<'py, PyAny>> {
    let source = CString::new(source)
        .map_err(|_| Error::invalid_arg("Python source code must not contain NUL characters"))?;
    let filename = CString::new(filename).expect("static filename");
    let globals = main_dict(py)?;
    // SAFETY: attached; both strings are NUL-terminated; returns a new reference or NULL.
    let code = unsafe {
        Bound::from_owned_ptr_or_err(
            py,
            ffi::Py_CompileString(source.as_ptr(), filename.as_ptr(), start),
        )
    }
    .map_err(|e| exception::from_pyerr(py, e))?;
    // SAFETY: attached; `code` is a code object and `globals` a dict, both alive for the call.
    let result = unsafe {
        Bound::from_owned_ptr_or_err(
            py,
            ffi::PyEval_EvalCode(code.as_ptr(), globals.as_ptr(), globals.as_ptr()),
        )
    };
    result.map_err(|e| exception::from_pyerr(py, e))
}

/// `import name` (dotted names give the submodule).
pub fn import<'py>(py: Python<'py>, name: &str) -> Result<Bound<'py, PyAny>> {
    let name = PyString::new(py, name);
    if let Some(module) = imported(&name)? {
        return Ok(module);
    }
    // SAFETY: attached; returns a new reference or NULL.
    let module = unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyImport_Import(name.as_ptr())) };
    module.map_err(|e| exception::from_pyerr(py, e))
}

/// `sys.modules[name]` if it is there and fully initialized (a module another thread is still
/// importing goes through the import system, which waits for it).
pub fn imported<'py>(name: &Bound<'py, PyString>) -> Result<Option<Bound<'py, PyAny>>> {
    let py = name.py();
    // SAFETY: attached; returns a new reference, or NULL with or without an error set.
    let module =
        unsafe { Bound::from_owned_ptr_or_opt(py, ffi::PyImport_GetModule(name.as_ptr())) };
    let Some(module) = module else {
        // SAFETY: attached; NULL with an error means sys.modules itself failed.
        return match unsafe { ffi::PyErr_Occurred() }.is_null() {
            true => Ok(None),
            false => Err(exception::take(py)),
        };
    };
    let initializing = module
        .getattr("__spec__")
        .and_then(|spec| match spec.is_none() {
            true => Ok(false),
            false => spec
                .getattr("_initializing")
                .map_or(Ok(false), |v| v.is_truthy()),
        })
        .map_err(|e| exception::from_pyerr(py, e))?;
    Ok((!initializing).then_some(module))
}

/// `importlib.reload(module)`.
pub fn reload<'py>(module: &Bound<'py, PyAny>) -> Result<Bound<'py, PyAny>> {
    let py = module.py();
    // SAFETY: attached; returns a new reference or NULL.
    let fresh =
        unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyImport_ReloadModule(module.as_ptr())) };
    fresh.map_err(|e| exception::from_pyerr(py, e))
}

/// Appends `dir` to `sys.path` unless it is already there.
pub fn add_syspath(py: Python<'_>, dir: &str) -> Result<()> {
    let result: PyResult<()> = (|| {
        let path = py.import("sys")?.getattr("path")?;
        if !path.contains(dir)? {
            path.call_method1("append", (dir,))?;
        }
        Ok(())
    })();
    result.map_err(|e| exception::from_pyerr(py, e))
}

/// Python source of the `pyembed` module each interpreter gets (`from pyembed import JSError`).
const HOST_MODULE: &str = include_str!("pyembed_host.py");

/// The `pyembed` module of this interpreter, created at start-up (or on first use).
pub fn host_module(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    let modules = py.import("sys")?.getattr("modules")?;
    if let Ok(module) = modules.get_item("pyembed") {
        return Ok(module);
    }
    let module = pyo3::types::PyModule::new(py, "pyembed")?;
    let source = CString::new(HOST_MODULE).expect("no NUL in pyembed_host.py");
    py.run(&source, Some(&module.dict()), None)?;
    modules.set_item("pyembed", &module)?;
    Ok(module.into_any())
}

/// Prepares the main interpreter at start-up: `signal.signal` refused, `os._exit` refused
/// unless allowed.
pub fn setup_main(py: Python<'_>, allow_os_exit: bool) -> PyResult<()> {
    host_module(py)?
        .call_method1("_setup_main", (allow_os_exit,))
        .map(drop)
}

/// Runs the interpreter's exit hooks (threading's, then atexit) and flushes its stdio.
pub fn run_exit_hooks(py: Python<'_>) {
    if let Err(e) = host_module(py).and_then(|m| m.call_method0("_run_exit_hooks")) {
        e.print(py);
    }
}

/// Prepares a new context: its asyncio thread is not a daemon, `os._exit` and `os.fork` raise;
/// an `isolated` one (its own GIL on 3.12+) keeps `_datetime` out (see `_setup_context`).
pub fn setup_context(py: Python<'_>, isolated: bool) -> Result<()> {
    host_module(py)
        .and_then(|m| m.call_method1("_setup_context", (isolated,)))
        .map(drop)
        .map_err(|e| exception::from_pyerr(py, e))
}

/// Sends a context's `sys.stdout` / `sys.stderr` to these callables (`None`: left alone).
pub fn capture_output(
    py: Python<'_>,
    stdout: &Bound<'_, PyAny>,
    stderr: &Bound<'_, PyAny>,
) -> Result<()> {
    host_module(py)
        .and_then(|m| m.call_method1("_capture", (stdout, stderr)))
        .map(drop)
        .map_err(|e| exception::from_pyerr(py, e))
}

/// A context is closing: flushes captured output, stops its asyncio loop (waiting up to
/// `timeout` for its thread). Errors are reported on stderr.
pub fn close_context(py: Python<'_>, timeout: std::time::Duration) {
    let closed =
        host_module(py).and_then(|m| m.call_method1("_close_context", (timeout.as_secs_f64(),)));
    if let Err(e) = closed {
        e.print(py);
    }
}

/// `pyembed.JSError(message, name, stack)`, ready to raise.
pub fn js_error(py: Python<'_>, e: &crate::error::JsException) -> PyErr {
    match host_module(py).and_then(|m| m.getattr("JSError")?.call1((&e.message, &e.name, &e.stack)))
    {
        Ok(exc) => PyErr::from_value(exc),
        Err(err) => err,
    }
}

/// Makes module `name` importable, with `members` as its attributes.
pub fn expose(py: Python<'_>, name: &str, members: &Bound<'_, PyAny>) -> Result<()> {
    let result: PyResult<()> = (|| {
        let members = members.cast::<PyDict>()?;
        let module = pyo3::types::PyModule::new(py, name)?;
        module.dict().update(members.as_mapping())?;
        py.import("sys")?
            .getattr("modules")?
            .set_item(name, module)?;
        Ok(())
    })();
    result.map_err(|e| exception::from_pyerr(py, e))
}

/// If `value` is a coroutine, schedules it on the interpreter's asyncio loop thread and calls
/// `done(future)` when it finishes; returns the `concurrent.futures.Future`, or `None`.
pub fn schedule_coroutine<'py>(
    value: &Bound<'py, PyAny>,
    done: Bound<'py, PyAny>,
) -> Result<Option<Bound<'py, PyAny>>> {
    let py = value.py();
    let result: PyResult<Option<Bound<'py, PyAny>>> = (|| {
        if !py
            .import("asyncio")?
            .call_method1("iscoroutine", (value,))?
            .is_truthy()?
        {
            return Ok(None);
        }
        host_module(py)?
            .call_method1("_schedule", (value, done))
            .map(Some)
    })();
    result.map_err(|e| exception::from_pyerr(py, e))
}

/// `pyembed.Cancelled`, the exception an aborted call is interrupted with.
pub fn cancelled_type(py: Python<'_>) -> Result<Bound<'_, PyAny>> {
    host_module(py)
        .and_then(|m| m.getattr("Cancelled"))
        .map_err(|e| exception::from_pyerr(py, e))
}

/// A new, pending `pyembed.JSPromise`.
pub fn new_js_promise(py: Python<'_>) -> Result<Bound<'_, PyAny>> {
    host_module(py)
        .and_then(|m| m.getattr("JSPromise")?.call0())
        .map_err(|e| exception::from_pyerr(py, e))
}

/// Settles a `pyembed.JSPromise` with a value or an exception.
pub fn settle_js_promise<'py>(
    promise: &Bound<'py, PyAny>,
    outcome: std::result::Result<Bound<'py, PyAny>, PyErr>,
) -> Result<()> {
    let py = promise.py();
    let result: PyResult<()> = (|| {
        let future = promise.getattr("_future")?;
        match outcome {
            Ok(value) => future.call_method1("set_result", (value,))?,
            Err(err) => future.call_method1("set_exception", (err.into_value(py),))?,
        };
        Ok(())
    })();
    result.map_err(|e| exception::from_pyerr(py, e))
}
