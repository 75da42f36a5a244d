//! Contexts: creating and closing them, and running work in them for the sync entry points.
//!
//! A sync call into a context converts its arguments on the JS thread into a `Value` (as an
//! `_async` call does), runs on the context's thread, and the JS thread waits for the result,
//! running the JS callbacks that the Python code calls meanwhile (`inbox::wait`). The JS thread
//! never attaches to a sub-interpreter.

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use napi::{sys, Env};
use napi_derive::napi;
use pyo3::prelude::*;

use super::throw;
use crate::context::{self, InterpId, Kind};
use crate::convert::{JsBuilder, JsValues, PyObjects, ToJs, ToPy, Value};
use crate::error::{Error, Result};
use crate::handle::{self, HandleId, OwnerId};
use crate::inbox::{self, Completion, Message};
use crate::js::{hooks, Js, JsEnv};
use crate::python::code;

thread_local! {
    /// Contexts created on this JS thread and not closed: closed when its environment ends.
    static OPEN: RefCell<Vec<InterpId>> = const { RefCell::new(Vec::new()) };
}

/// What an entry point's Python work gives back.
pub(super) enum Reply<'py> {
    /// Converted as usual (proxies for what has no JS equivalent).
    Object(Bound<'py, PyAny>),
    /// Converted deeply (`toJS()`).
    Deep(Bound<'py, PyAny>),
    Undefined,
    /// The TS layer's `method` symbol (see `getAttr`).
    Method,
    /// The TS layer's `done` symbol (see `next`).
    Done,
    Bool(bool),
    Str(String),
}

/// A `Reply` without Python objects, as it crosses back from a context's thread.
enum Plain {
    Undefined,
    Method,
    Done,
    Bool(bool),
    Str(String),
}

enum Returned {
    Value(Value, usize),
    Plain(Plain),
}

/// The context of `owner`'s interpreter, or `None` for the main one.
pub(super) fn of_owner(owner: OwnerId) -> Result<Option<InterpId>> {
    Ok(Some(handle::with(|r| r.owner_interp(owner))?).filter(|&i| i != 0))
}

/// The object behind handle `id`, borrowed (releases queue behind the job that uses it, or wait
/// for the next attach), and the context of its interpreter (`None` for the main one).
pub(super) fn target(id: f64) -> Result<(usize, Option<InterpId>)> {
    let (object, interp) = handle::with(|r| r.get(id as HandleId))?;
    Ok((object as usize, Some(interp).filter(|&i| i != 0)))
}

/// A new reference to a `target` object. Call attached to its interpreter.
pub(super) fn bind(py: Python<'_>, object: usize) -> Bound<'_, PyAny> {
    // SAFETY: attached to the object's interpreter; the handle keeps it alive (see `target`).
    unsafe { Bound::from_borrowed_ptr(py, object as *mut pyo3::ffi::PyObject) }
}

/// Runs `work` on context `interp`'s thread while this JS thread waits, with `inputs` converted
/// for it, and converts its reply for JS (proxies for `owner`).
pub(super) fn run_in<W>(
    js: JsEnv,
    interp: InterpId,
    owner: OwnerId,
    inputs: &[Js],
    work: W,
) -> Result<Js>
where
    W: for<'py> FnOnce(Python<'py>, Vec<Bound<'py, PyAny>>) -> Result<Reply<'py>> + Send + 'static,
{
    let context = context::get(interp)?;
    let mut convert = ToPy::new(js, Value::default()).for_interp(interp);
    let roots = inputs
        .iter()
        .map(|v| convert.convert(v.0))
        .collect::<Result<Vec<_>>>()?;
    let values = convert.into_builder();
    super::release_pending_queued();
    let (tx, rx) = crossbeam_channel::bounded(1);
    context.send(Box::new(move |py| {
        let result = catch_unwind(AssertUnwindSafe(|| {
            let mut build = PyObjects::new(py);
            let inputs = roots
                .iter()
                .map(|&r| values.build_py(r, &mut build))
                .collect::<Result<Vec<_>>>()?;
            work(py, inputs).and_then(returned)
        }))
        .unwrap_or_else(|_| Err(Error::Internal("panic in a context call".into())));
        let _ = tx.send(result.map_err(hint(interp)));
    }))?;
    match inbox::wait(js, &rx)?.ok_or(Error::ContextClosed)?? {
        Returned::Value(mut value, root) => {
            value.build_js(root, &mut JsValues::new(js, owner)).map(Js)
        }
        Returned::Plain(plain) => plain_to_js(js, plain),
    }
}

fn returned(reply: Reply<'_>) -> Result<Returned> {
    let (object, deep) = match reply {
        Reply::Object(object) => (object, false),
        Reply::Deep(object) => (object, true),
        other => return Ok(Returned::Plain(plain(other))),
    };
    let mut walk = ToJs::new(Value::default(), deep);
    let root = walk.convert(&object)?;
    Ok(Returned::Value(walk.into_builder(), root))
}

fn plain(reply: Reply<'_>) -> Plain {
    match reply {
        Reply::Object(_) | Reply::Deep(_) | Reply::Undefined => Plain::Undefined,
        Reply::Method => Plain::Method,
        Reply::Done => Plain::Done,
        Reply::Bool(b) => Plain::Bool(b),
        Reply::Str(s) => Plain::Str(s),
    }
}

fn plain_to_js(js: JsEnv, plain: Plain) -> Result<Js> {
    match plain {
        Plain::Undefined => js.undefined(),
        Plain::Method => hooks::get(js, |h| h.method_symbol),
        Plain::Done => hooks::get(js, |h| h.done_symbol),
        Plain::Bool(b) => js.boolean(b),
        Plain::Str(s) => js.string(&s),
    }
    .map(Js)
}

/// A reply of work done in the main interpreter (attached), converted for JS.
pub(super) fn reply_to_js(js: JsEnv, owner: OwnerId, reply: Reply<'_>) -> Result<Js> {
    match reply {
        Reply::Object(object) => super::to_js(js, owner, &object),
        Reply::Deep(object) => ToJs::new(JsValues::new(js, owner), true)
            .convert(&object)
            .map(Js),
        other => plain_to_js(js, plain(other)),
    }
}

/// Adds a hint to the `ImportError` of a module that refuses sub-interpreters.
pub(super) fn hint(interp: InterpId) -> impl Fn(Error) -> Error {
    move |e| match e {
        Error::Python(mut p)
            if interp != 0
                && p.type_name == "ImportError"
                && (p.message.contains("subinterpreters")
                    || p.message.contains("more than once per process")) =>
        {
            p.message.push_str(
                " (pyembed: this module cannot load in this context; import it from the main \
                 interpreter, `new Python()`, or from a context created with \
                 `{ context: 'shared-gil' }`)",
            );
            Error::Python(p)
        }
        other => other,
    }
}

/// Creates a context: `kind` is `'isolated'` (own GIL on Python 3.12+) or `'shared-gil'`;
/// `stdout`/`stderr`, if functions, receive its output (whole lines, in order). Returns its
/// interpreter id.
#[napi]
pub fn create_context(
    env: Env,
    kind: String,
    #[napi(ts_arg_type = "((text: string) => void) | null | undefined")] stdout: Js,
    #[napi(ts_arg_type = "((text: string) => void) | null | undefined")] stderr: Js,
) -> napi::Result<u32> {
    let js = JsEnv(env.raw());
    let result = (|| {
        let kind = match kind.as_str() {
            "isolated" => Kind::Isolated,
            "shared-gil" => Kind::SharedGil,
            other => {
                return Err(Error::invalid_arg(format!(
                    "context must be true, 'isolated' or 'shared-gil', not {other:?}"
                )))
            }
        };
        let mut capture = Vec::new();
        for (name, v) in [("stdout", stdout), ("stderr", stderr)] {
            match js.type_of(v.0)? {
                sys::ValueType::napi_function
                | sys::ValueType::napi_undefined
                | sys::ValueType::napi_null => capture.push(v),
                _ => return Err(Error::invalid_arg(format!("{name} must be a function"))),
            }
        }
        let interp = context::create(kind, Box::new(code::setup_context))?;
        OPEN.with(|o| o.borrow_mut().push(interp.id));
        let installed = run_in(js, interp.id, 0, &capture, |py, streams| {
            code::capture_output(py, &streams[0], &streams[1]).map(|()| Reply::Undefined)
        });
        if let Err(e) = installed {
            close(interp.id, Duration::ZERO, Box::new(|_| {}));
            return Err(e);
        }
        Ok(interp.id)
    })();
    result.map_err(|e| throw::throw(js, e))
}

/// Closes context `interp` (see `Interp::close`); settles call `call` with true once ended, false
/// if Python threads were still running after `timeoutMs` (the interpreter is left alive).
/// Closing a closed context settles with true at once.
#[napi]
pub fn close_context(env: Env, interp: u32, timeout_ms: f64, call: u32) -> napi::Result<()> {
    let js = JsEnv(env.raw());
    let result = (|| {
        let outbox = inbox::start_call(js)?;
        let timeout = Duration::from_secs_f64(timeout_ms.max(0.0) / 1000.0);
        let done = move |ended: bool| {
            let mut value = Value::default();
            let result = JsBuilder::boolean(&mut value, ended).map(|root| (value, root));
            outbox.send(Message::Completion(Completion {
                call,
                owner: 0,
                result,
            }));
        };
        if context::get(interp).is_err() {
            done(true);
            return Ok(());
        }
        close(interp, timeout, Box::new(done));
        Ok(())
    })();
    result.map_err(|e| throw::throw(js, e))
}

/// Starts closing `interp`: its handles answer `ERR_PY_CONTEXT_CLOSED` from now on and their
/// references are given back before the interpreter ends.
fn close(interp: InterpId, timeout: Duration, done: Box<dyn FnOnce(bool) + Send>) {
    OPEN.with(|o| o.borrow_mut().retain(|&i| i != interp));
    let Ok(context) = context::get(interp) else {
        return done(true);
    };
    let objects = handle::with(|r| r.close_interp(interp));
    context.close(super::release_job(objects), timeout, done);
}

/// This JS environment is ending: closes its contexts, waiting for each (bounded by `timeout`).
pub(super) fn close_all(timeout: Duration) {
    let open = OPEN.with(|o| std::mem::take(&mut *o.borrow_mut()));
    let (tx, rx) = crossbeam_channel::unbounded();
    for &interp in &open {
        let tx = tx.clone();
        close(
            interp,
            timeout,
            Box::new(move |_| {
                let _ = tx.send(());
            }),
        );
    }
    drop(tx);
    for _ in &open {
        if rx.recv_timeout(timeout + Duration::from_secs(1)).is_err() {
            break;
        }
    }
}

/// For `Python.version`: what an isolated context gets here.
pub(super) fn available() -> &'static str {
    context::kind_available()
}
