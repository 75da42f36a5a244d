//! Contexts: creating and closing them, and running work in them for the sync entry points.
//!
//! A sync call into a context converts its arguments on the JS thread into a `Value` (as an
//! `_async` call does), runs on the context's thread, and the JS thread waits for the result,
//! running the JS callbacks that the Python code calls meanwhile (`inbox::wait`). The JS thread
//! never attaches to a sub-interpreter.

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use napi::{sys, Env};
use napi_derive::napi;
use pyo3::prelude::*;

use super::{entry, panic_message};
use crate::context::{self, InterpId, Kind};
use crate::convert::{
    buffer_for_js, described_buffer, value_for_js, Depth, JsValues, PyObjects, ToJs, ToPy,
    ValueForJs, ValueForPy,
};
use crate::error::{Error, Result};
use crate::handle;
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
    /// Converted deeply (`toJS()`, `toJSON()`).
    Deep(Bound<'py, PyAny>, Depth),
    /// Its buffer as `{ data, shape, format }` (`py.buffer`).
    Buffer(Bound<'py, PyAny>),
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
    Value(ValueForJs),
    Plain(Plain),
}

/// Runs `work` on context `interp`'s thread while this JS thread waits, with `inputs` converted
/// for it, and converts its reply for JS with `build`.
pub(super) fn run_in<W>(
    js: JsEnv,
    interp: InterpId,
    mut build: JsValues,
    inputs: &[Js],
    work: W,
) -> Result<Js>
where
    W: for<'py> FnOnce(Python<'py>, Vec<Bound<'py, PyAny>>) -> Result<Reply<'py>> + Send + 'static,
{
    let context = context::get(interp)?;
    let mut convert = ToPy::new(js, ValueForPy::default()).for_interp(interp);
    let roots = inputs
        .iter()
        .map(|v| convert.convert(v.0))
        .collect::<Result<Vec<_>>>()?;
    let mut values = convert.into_builder();
    roots.into_iter().for_each(|root| values.add_root(root));
    super::release_pending_queued();
    let (tx, rx) = crossbeam_channel::bounded(1);
    context.send_sync(Box::new(move |py| {
        let result = catch_unwind(AssertUnwindSafe(|| {
            let inputs = values.build_py(&mut PyObjects::new(py))?;
            work(py, inputs).and_then(returned)
        }))
        .unwrap_or_else(|panic| Err(Error::Internal(panic_message(panic))));
        let _ = tx.send(result.map_err(hint(interp)));
    }))?;
    match inbox::wait(js, &rx)?.ok_or(Error::ContextClosed)?? {
        Returned::Value(value) => value.build_js_one(&mut build).map(Js),
        Returned::Plain(plain) => plain_to_js(js, plain),
    }
}

fn returned(reply: Reply<'_>) -> Result<Returned> {
    match reply {
        Reply::Object(object) => value_for_js(&object, Depth::Shallow).map(Returned::Value),
        Reply::Deep(object, depth) => value_for_js(&object, depth).map(Returned::Value),
        Reply::Buffer(object) => buffer_for_js(&object).map(Returned::Value),
        other => Ok(Returned::Plain(plain(other))),
    }
}

fn plain(reply: Reply<'_>) -> Plain {
    match reply {
        Reply::Object(_) | Reply::Deep(..) | Reply::Buffer(_) | Reply::Undefined => {
            Plain::Undefined
        }
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

/// A reply of work done in the main interpreter (attached), converted for JS with `build`.
pub(super) fn reply_to_js(js: JsEnv, mut build: JsValues, reply: Reply<'_>) -> Result<Js> {
    match reply {
        Reply::Object(object) => ToJs::new(build, Depth::Shallow).convert(&object).map(Js),
        Reply::Deep(object, depth) => ToJs::new(build, depth).convert(&object).map(Js),
        Reply::Buffer(object) => described_buffer(&mut build, &object).map(Js),
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
    entry(&env, |js| {
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
        let isolated = kind == Kind::Isolated;
        let interp = context::create(kind, Box::new(move |py| code::setup_context(py, isolated)))?;
        OPEN.with(|o| o.borrow_mut().push(interp.id));
        let installed = run_in(
            js,
            interp.id,
            JsValues::new(js, None),
            &capture,
            |py, streams| {
                code::capture_output(py, &streams[0], &streams[1]).map(|()| Reply::Undefined)
            },
        );
        if let Err(e) = installed {
            close(interp.id, Duration::ZERO, Box::new(|_| {}));
            return Err(e);
        }
        Ok(interp.id)
    })
}

/// Records context `interp` (created off this JS thread) as this thread's: closed when its
/// environment ends.
pub(super) fn adopt(interp: InterpId) -> Result<()> {
    context::get(interp)?;
    OPEN.with(|o| o.borrow_mut().push(interp));
    Ok(())
}

/// Closes context `interp` (see `Interp::close`); settles call `call` with true once ended, false
/// if Python threads were still running after `timeoutMs` (the interpreter is left alive).
/// Closing a closed context settles with true at once.
#[napi]
pub fn close_context(env: Env, interp: u32, timeout_ms: f64, call: u32) -> napi::Result<()> {
    entry(&env, |js| {
        let timeout = super::millis(timeout_ms, "timeoutMs")?;
        let outbox = inbox::start_call(js)?;
        // Settled once: by the context's thread, or by the watchdog below if that thread is
        // stuck in a call that never returns (its queue never reaches the close). Settling
        // drops `stop`, which ends the watchdog's wait.
        let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
        let settle = Arc::new(Mutex::new(Some((stop, outbox))));
        let once = move |ended: bool| {
            let settle = settle.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some((_stop, outbox)) = settle {
                outbox.send(Message::Completion(Completion {
                    call,
                    owner: None,
                    result: Ok(ValueForJs::boolean(ended)),
                }));
            }
        };
        if context::get(interp).is_err() {
            once(true);
            return Ok(());
        }
        let watchdog = once.clone();
        // Without a watchdog (no thread to be had) the close still ends, unless the context's
        // thread never reaches it.
        let _ = std::thread::Builder::new()
            .name("pyembed-close-watchdog".into())
            .spawn(move || {
                if let Err(crossbeam_channel::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(timeout + CLOSE_GRACE)
                {
                    watchdog(false);
                }
            });
        close(interp, timeout, Box::new(once));
        Ok(())
    })
}

/// How much longer than its timeout a close may take before it resolves `false` regardless
/// (ending an interpreter takes a few milliseconds after its threads are gone).
const CLOSE_GRACE: Duration = Duration::from_millis(500);

/// Starts closing `interp`: its handles answer `ERR_PY_CONTEXT_CLOSED` from now on and their
/// references are given back before the interpreter ends.
fn close(interp: InterpId, timeout: Duration, done: Box<dyn FnOnce(bool) + Send>) {
    OPEN.with(|o| o.borrow_mut().retain(|&i| i != interp));
    let Ok(context) = context::get(interp) else {
        return done(true);
    };
    let objects = handle::with(|r| r.close_interp(interp));
    // Dropped on the context's thread, running a job of it: released there and then (a share
    // still held by a value in flight is released by that value).
    context.close(Box::new(move |_| drop(objects)), timeout, done);
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
