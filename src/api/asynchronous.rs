//! `_async` entry points: arguments are converted on the JS thread into a `Value` (no GIL),
//! the work runs as a job on the interpreter's Python thread, and the result comes back as a
//! `Value` through the environment's inbox, where the TS layer's promise is settled. The JS
//! thread never waits for the GIL here.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use napi::{sys, Env};
use napi_derive::napi;
use pyo3::prelude::*;
use pyo3::types::{PyString, PyTuple};

use super::cancel::{Control, State, CONTROLS};
use super::{entry, interp_of, owner_of, panic_message, string_arg, target};
use crate::context::{self, InterpId, Job, ObjectRef};
use crate::convert::{buffer_for_js, value_for_js, Depth, PyObjects, ToPy, ValueForJs, ValueForPy};
use crate::error::{Error, Result};
use crate::handle::{names, OwnerId};
use crate::inbox::{self, Completion, Message};
use crate::js::{Js, JsEnv};
use crate::python::args::CallArgs;
use crate::python::{closure, code, exception, OwnedPtr};

/// What an `_async` job's work gives back.
enum Done<'py> {
    /// A result (`None`: a statement's), converted as usual; a coroutine is awaited first.
    Object(Option<Bound<'py, PyAny>>),
    /// A result already converted for JS.
    Value(ValueForJs),
}

/// Queues `work` on the Python thread of interpreter `interp`; its result settles call `call`
/// of the TS layer, proxies belonging to `owner`. A coroutine result is run on the
/// interpreter's asyncio loop and settles the call when done.
fn submit<F>(
    js: JsEnv,
    owner: Option<OwnerId>,
    interp: InterpId,
    call: u32,
    cancellable: bool,
    work: F,
) -> Result<()>
where
    F: for<'py> FnOnce(Python<'py>) -> Result<Done<'py>> + Send + 'static,
{
    let context = match interp {
        0 => None,
        _ => Some(context::get(interp)?),
    };
    super::release_pending_queued();
    let outbox = inbox::start_call(js)?;
    let control = cancellable.then(|| {
        Arc::new(Control {
            state: Default::default(),
            interp,
        })
    });
    if let Some(control) = &control {
        CONTROLS.with(|c| c.borrow_mut().insert(call, control.clone()));
    }
    let job: Job = Box::new(move |py| {
        let finish = move |result: Result<ValueForJs>| {
            let result = result.map_err(super::contexts::hint(interp));
            outbox.send(Message::Completion(Completion {
                call,
                owner,
                result,
            }));
        };
        if context.is_some_and(|c| c.is_closed()) {
            return finish(Err(Error::ContextClosed));
        }
        let outcome = catch_unwind(AssertUnwindSafe(|| -> Result<Option<ValueForJs>> {
            let Some(control) = control else {
                return run_job(py, work, None, finish.clone());
            };
            {
                let mut state = control.state.lock().unwrap_or_else(|e| e.into_inner());
                if matches!(*state, State::Cancelled) {
                    return Err(Error::Internal("aborted before it ran".into()));
                    // already rejected in JS
                }
                // SAFETY: attached; returns this thread's identifier.
                let thread = unsafe { pyo3::ffi::PyThread_get_thread_ident() };
                *state = State::Running(thread, context::Nesting::here());
            }
            context::on_nesting(control.clone());
            let result = run_job(py, work, Some(control.clone()), finish.clone());
            let mut state = control.state.lock().unwrap_or_else(|e| e.into_inner());
            if let State::Interrupted(thread) = *state {
                // SAFETY: attached; clears an interruption that may not have fired yet.
                unsafe { pyo3::ffi::PyThreadState_SetAsyncExc(thread as _, std::ptr::null_mut()) };
            }
            if !matches!(*state, State::Awaiting(_)) {
                *state = State::Done;
            }
            result
        }))
        .unwrap_or_else(|panic| Err(Error::Internal(panic_message(panic))));
        match outcome {
            Ok(Some(result)) => finish(Ok(result)),
            Ok(None) => {}
            Err(e) => finish(Err(e)),
        }
    });
    context::send(interp, job).inspect_err(|_| inbox::abandon_call(js))
}

/// Runs the work; a coroutine result is handed to the asyncio loop (`None`: settles later).
fn run_job<F>(
    py: Python<'_>,
    work: F,
    control: Option<Arc<Control>>,
    finish: impl Fn(Result<ValueForJs>) + Clone + Send + Sync + 'static,
) -> Result<Option<ValueForJs>>
where
    F: for<'py> FnOnce(Python<'py>) -> Result<Done<'py>>,
{
    let value = match work(py)? {
        Done::Value(value) => return Ok(Some(value)),
        Done::Object(value) => value,
    };
    if let Some(value) = value.as_ref().filter(|v| is_awaitable(v)) {
        let awaited = control.clone();
        let done = closure::new(
            py,
            Box::new(move |py, args, _| {
                if let Some(awaited) = &awaited {
                    let previous = std::mem::replace(
                        &mut *awaited.state.lock().unwrap_or_else(|e| e.into_inner()),
                        State::Done,
                    );
                    if let State::Awaiting(future) = previous {
                        future.release(py); // after unlocking: a release may run Python code
                    }
                }
                finish(coroutine_result(
                    &args.get_item(0).map_err(|e| exception::from_pyerr(py, e))?,
                ));
                Ok(py.None().into_bound(py))
            }),
        )?;
        if let Some(future) = code::schedule_coroutine(value, done)? {
            let Some(control) = control else {
                return Ok(None);
            };
            let aborted = {
                let mut state = control.state.lock().unwrap_or_else(|e| e.into_inner());
                let running = matches!(*state, State::Running(..));
                if running {
                    *state = State::Awaiting(OwnedPtr::new(&future));
                }
                !running // interrupted meanwhile: the call was aborted, so is the coroutine
            };
            if aborted {
                let _ = future.call_method0("cancel");
            }
            return Ok(None);
        }
    }
    to_value(value.as_ref()).map(Some)
}

/// Cheap pre-check before asking asyncio whether `value` is a coroutine: its type implements
/// `__await__`.
fn is_awaitable(value: &Bound<'_, PyAny>) -> bool {
    // SAFETY: attached; reads the type's async slots of a live object.
    unsafe {
        let slots = (*pyo3::ffi::Py_TYPE(value.as_ptr())).tp_as_async;
        !slots.is_null() && (*slots).am_await.is_some()
    }
}

/// The outcome of a finished `concurrent.futures.Future` running a coroutine.
fn coroutine_result(future: &Bound<'_, PyAny>) -> Result<ValueForJs> {
    let py = future.py();
    let value = future
        .call_method0("result")
        .map_err(|e| exception::from_pyerr(py, e))?;
    to_value(Some(&value))
}

/// A result as a value for JS; statements (`None`) resolve with null.
fn to_value(result: Option<&Bound<'_, PyAny>>) -> Result<ValueForJs> {
    match result {
        Some(obj) => value_for_js(obj, Depth::Shallow),
        None => Ok(ValueForJs::none()),
    }
}

/// Like `call`, asynchronously: settles call `call` with `getattr(obj, name)(*args, **kwargs)`.
#[allow(clippy::too_many_arguments)] // the Node-API signature
#[napi]
pub fn call_async(
    env: Env,
    owner: u32,
    id: f64,
    #[napi(ts_arg_type = "string | null")] name: Js,
    #[napi(ts_arg_type = "unknown[]")] args: Js,
    #[napi(ts_arg_type = "Record<string, unknown> | null")] kwargs: Js,
    call: u32,
    cancellable: bool,
) -> napi::Result<()> {
    entry(&env, |js| {
        let owner = owner_of(owner);
        let target = target(owner, id)?;
        let interp = target.interp();
        let request = CallRequest::gather(js, target, name, args, kwargs)?;
        submit(js, owner, interp, call, cancellable, move |py| {
            request.run(py).map(|result| Done::Object(Some(result)))
        })
    })
}

/// A call's target, name and arguments, converted on the JS thread.
pub(super) struct CallRequest {
    target: Arc<ObjectRef>,
    name: Option<String>,
    /// The positional arguments, then the keyword arguments' values: one identity table.
    values: ValueForPy,
    keywords: Vec<String>,
}

impl CallRequest {
    /// `name` is a string, an `internName` id or null; proxies must belong to the target's
    /// interpreter.
    pub(super) fn gather(
        js: JsEnv,
        target: Arc<ObjectRef>,
        name: Js,
        args: Js,
        kwargs: Js,
    ) -> Result<Self> {
        let name = match js.type_of(name.0)? {
            sys::ValueType::napi_string => Some(js.get_string(name.0)?),
            sys::ValueType::napi_number => Some(names::text(js.get_double(name.0)? as u32)?),
            sys::ValueType::napi_null | sys::ValueType::napi_undefined => None,
            _ => return Err(Error::invalid_arg("method name must be a string")),
        };
        if !js.is_array(args.0)? {
            return Err(Error::invalid_arg("call arguments must be an array"));
        }
        let mut convert = ToPy::new(js, ValueForPy::default()).for_interp(target.interp());
        let mut roots = Vec::new();
        for i in 0..js.array_len(args.0)? {
            roots.push(convert.convert(js.get_element(args.0, i)?)?);
        }
        let mut keywords = Vec::new();
        match js.type_of(kwargs.0)? {
            sys::ValueType::napi_null | sys::ValueType::napi_undefined => {}
            sys::ValueType::napi_object => {
                let keys = js.own_keys(kwargs.0)?;
                for i in 0..js.array_len(keys)? {
                    let key = js.get_element(keys, i)?;
                    roots.push(convert.convert(js.get_property(kwargs.0, key)?)?);
                    keywords.push(js.get_string(key)?);
                }
            }
            _ => return Err(Error::invalid_arg("keyword arguments must be an object")),
        }
        let mut values = convert.into_builder();
        roots.into_iter().for_each(|root| values.add_root(root));
        Ok(Self {
            target,
            name,
            values,
            keywords,
        })
    }

    pub(super) fn run<'py>(self, py: Python<'py>) -> Result<Bound<'py, PyAny>> {
        let mut argv = CallArgs::new();
        argv.push(self.target.bind(py));
        let values = self.values.build_py(&mut PyObjects::new(py))?;
        let positional = values.len() - self.keywords.len();
        values.into_iter().for_each(|v| argv.push(v));
        let kwnames = (!self.keywords.is_empty())
            .then(|| PyTuple::new(py, self.keywords.iter().map(|k| PyString::new(py, k))))
            .transpose()
            .map_err(|e| crate::python::exception::from_pyerr(py, e))?;
        let name = self.name.as_deref().map(|n| PyString::new(py, n));
        argv.call(py, name.as_ref(), positional, kwnames.as_ref())
    }
}

/// Submits `work` on a string argument (code or a module name), as the `_async` entries below do.
fn submit_text<F>(
    env: &Env,
    owner: u32,
    text: Js,
    what: &str,
    call: u32,
    cancellable: bool,
    work: F,
) -> napi::Result<()>
where
    F: for<'py> FnOnce(Python<'py>, &str) -> Result<Option<Bound<'py, PyAny>>> + Send + 'static,
{
    entry(env, |js| {
        let text = string_arg(js, text, what)?;
        let interp = interp_of(owner)?;
        submit(js, owner_of(owner), interp, call, cancellable, move |py| {
            work(py, &text).map(Done::Object)
        })
    })
}

/// Like `eval`, asynchronously.
#[napi]
pub fn eval_async(
    env: Env,
    owner: u32,
    #[napi(ts_arg_type = "string")] source: Js,
    call: u32,
    cancellable: bool,
) -> napi::Result<()> {
    submit_text(
        &env,
        owner,
        source,
        "expression",
        call,
        cancellable,
        |py, source| code::eval(py, source).map(Some),
    )
}

/// Like `exec`, asynchronously (settles with null).
#[napi]
pub fn exec_async(
    env: Env,
    owner: u32,
    #[napi(ts_arg_type = "string")] source: Js,
    call: u32,
    cancellable: bool,
) -> napi::Result<()> {
    submit_text(
        &env,
        owner,
        source,
        "code",
        call,
        cancellable,
        |py, source| code::exec(py, source).map(|()| None),
    )
}

/// Like `importModule`, asynchronously.
#[napi]
pub fn import_async(
    env: Env,
    owner: u32,
    #[napi(ts_arg_type = "string")] name: Js,
    call: u32,
    cancellable: bool,
) -> napi::Result<()> {
    submit_text(
        &env,
        owner,
        name,
        "module name",
        call,
        cancellable,
        |py, name| code::import(py, name).map(Some),
    )
}

/// Like `buffer`, asynchronously: settles call `call` with `{ data, shape, format }`, copied on
/// the interpreter's Python thread.
#[napi]
pub fn buffer_async(
    env: Env,
    owner: u32,
    id: f64,
    call: u32,
    cancellable: bool,
) -> napi::Result<()> {
    entry(&env, |js| {
        let owner = owner_of(owner);
        let target = target(owner, id)?;
        let interp = target.interp();
        submit(js, owner, interp, call, cancellable, move |py| {
            buffer_for_js(&target.bind(py)).map(Done::Value)
        })
    })
}
