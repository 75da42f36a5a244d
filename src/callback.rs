//! JS functions as Python callables.
//!
//! A JS function passed to Python is kept (a reference) in this JS thread's registry and
//! wrapped in a Python callable (`python::closure`). Called on its own JS thread — inside a sync
//! call — it runs directly, and may call into Python again. Called from any other thread (the
//! interpreter's thread, a `threading.Thread`, an executor) it is marshalled to the JS thread
//! through the environment's inbox while the caller waits with the GIL released; a returned
//! Promise is awaited there. A JS exception becomes `pyembed.JSError` in Python.
//!
//! A JS Promise passed to Python becomes a `pyembed.JSPromise` (awaitable in a coroutine);
//! when it settles on the JS thread, a job settles the Python side on the interpreter's thread.
//!
//! Thread rules: the registry is JS-thread only; a callable dying elsewhere sends `Forget`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, ThreadId};

use crossbeam_channel::Sender;
use napi::sys;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::context::InterpId;
use crate::convert::{Depth, JsBuilder, JsValues, PyObjects, ToJs, ToPy, ValueForJs, ValueForPy};
use crate::error::{Error, JsException, Result};
use crate::inbox::{self, Message, Outbox};
use crate::js::{hooks, JsEnv};
use crate::python::{closure, OwnedPtr};

/// A JS function as seen from Python threads.
pub struct JsCallback {
    id: u32,
    /// The interpreter its Python callable lives in (its arguments' proxies belong there).
    interp: InterpId,
    /// The function's env, only dereferenced on `thread`.
    env: usize,
    thread: ThreadId,
    outbox: Outbox,
}

impl Drop for JsCallback {
    fn drop(&mut self) {
        self.outbox.send(Message::Forget(self.id));
    }
}

/// Where a marshalled call's result goes.
type Reply = Sender<Result<ValueForPy>>;

/// A call of a JS function from another thread, waiting for its reply.
pub struct Request {
    id: u32,
    interp: InterpId,
    /// One root per argument (keyword arguments as a trailing object).
    args: ValueForJs,
    reply: Reply,
}

#[derive(Default)]
struct Registry {
    functions: Vec<Option<sys::napi_ref>>,
    free: Vec<u32>,
    /// Replies of marshalled calls waiting for a returned Promise, by ticket.
    awaiting: HashMap<u32, (InterpId, Reply)>,
    /// The interpreter each watched Promise was passed to, by ticket.
    watched: HashMap<u32, InterpId>,
}

/// Tickets name the Promises being awaited for Python (`awaitPromise` hook), process-wide.
static NEXT_TICKET: AtomicU32 = AtomicU32::new(1);

/// The Python side of watched Promises, by ticket; only touched attached (under the GIL).
static PROMISES: Mutex<Option<HashMap<u32, Slot>>> = Mutex::new(None);

enum Slot {
    /// The `pyembed.JSPromise` waiting for its outcome.
    Waiting(OwnedPtr),
    /// The outcome, which arrived before the `JSPromise` was made.
    Settled(Result<ValueForPy>),
}

/// Has the TS layer report when `promise` settles (to `settled`), under a new ticket, for
/// interpreter `interp`. JS thread only.
pub fn watch(js: JsEnv, promise: sys::napi_value, interp: InterpId) -> Result<u32> {
    let ticket = start_watch(js, promise)?;
    REGISTRY.with(|r| r.borrow_mut().watched.insert(ticket, interp));
    Ok(ticket)
}

fn start_watch(js: JsEnv, promise: sys::napi_value) -> Result<u32> {
    let ticket = NEXT_TICKET.fetch_add(1, Ordering::Relaxed);
    let hook = hooks::get(js, |h| h.await_promise)?;
    js.call(hook, js.undefined()?, &[promise, js.double(ticket as f64)?])?;
    Ok(ticket)
}

/// The `pyembed.JSPromise` for `ticket`, pending until the JS Promise settles. Call attached.
pub fn js_promise(py: Python<'_>, ticket: u32) -> Result<Bound<'_, PyAny>> {
    let promise = crate::python::code::new_js_promise(py)?;
    // No Python code runs while the lock is held: it could switch threads, and the other
    // thread would wait for this lock while holding the GIL.
    let early = {
        let mut map = PROMISES.lock().unwrap_or_else(|e| e.into_inner());
        let map = map.get_or_insert_with(HashMap::new);
        match map.remove(&ticket) {
            Some(Slot::Settled(result)) => Some(result),
            _ => {
                map.insert(ticket, Slot::Waiting(OwnedPtr::new(&promise)));
                None
            }
        }
    };
    if let Some(result) = early {
        settle_promise(py, &promise, result);
    }
    Ok(promise)
}

/// Settles a `JSPromise` with the outcome of its JS Promise. Call attached.
fn settle_promise(py: Python<'_>, promise: &Bound<'_, PyAny>, result: Result<ValueForPy>) {
    let outcome = result
        .and_then(|value| value.build_py_one(&mut PyObjects::new(py)))
        .map_err(|e| closure::exception(py, e));
    let _ = crate::python::code::settle_js_promise(promise, outcome);
}

thread_local! {
    static REGISTRY: RefCell<Registry> = RefCell::new(Registry::default());
}

/// Keeps `func` for Python (interpreter `interp`). JS thread only.
pub fn register(js: JsEnv, func: sys::napi_value, interp: InterpId) -> Result<Arc<JsCallback>> {
    let outbox = inbox::outbox(js)?;
    let reference = js.reference(func)?;
    let id = REGISTRY.with(|r| {
        let mut r = r.borrow_mut();
        match r.free.pop() {
            Some(id) => {
                r.functions[id as usize] = Some(reference);
                id
            }
            None => {
                r.functions.push(Some(reference));
                (r.functions.len() - 1) as u32
            }
        }
    });
    Ok(Arc::new(JsCallback {
        id,
        interp,
        env: js.0 as usize,
        thread: thread::current().id(),
        outbox,
    }))
}

/// Drops the registry's reference to function `id`. JS thread only.
pub fn forget(js: JsEnv, id: u32) {
    let reference = REGISTRY.with(|r| {
        let mut r = r.borrow_mut();
        let reference = r.functions.get_mut(id as usize).and_then(Option::take);
        if reference.is_some() {
            r.free.push(id);
        }
        reference
    });
    if let Some(reference) = reference {
        js.delete_reference(reference);
    }
}

fn function(js: JsEnv, id: u32) -> Result<sys::napi_value> {
    let reference = REGISTRY.with(|r| r.borrow().functions.get(id as usize).copied().flatten());
    js.deref(reference.ok_or_else(|| Error::Internal(format!("JS callback {id} is gone")))?)
}

/// The Python callable for `callback`.
pub fn callable<'py>(py: Python<'py>, callback: Arc<JsCallback>) -> Result<Bound<'py, PyAny>> {
    closure::new(
        py,
        Box::new(move |py, args, kwargs| invoke(py, &callback, args, kwargs)),
    )
}

fn invoke<'py>(
    py: Python<'py>,
    cb: &JsCallback,
    args: &Bound<'py, PyTuple>,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> Result<Bound<'py, PyAny>> {
    let kwargs = kwargs.filter(|k| !k.is_empty());
    if cb.outbox.is_closed() {
        // Its environment ended; on its thread another one may live now (an Electron
        // renderer's reload), where `cb.env` is gone and `cb.id` may name another function.
        return Err(Error::JsEnded);
    }
    if thread::current().id() == cb.thread {
        return direct(py, cb, args, kwargs);
    }
    let mut walk = ToJs::new(ValueForJs::default(), Depth::Shallow);
    let roots = arguments(&mut walk, args, kwargs)?;
    let mut values = walk.into_builder();
    roots.into_iter().for_each(|root| values.add_root(root));
    let (reply, answer) = crossbeam_channel::bounded(1);
    let request = Request {
        id: cb.id,
        interp: cb.interp,
        args: values,
        reply,
    };
    if !cb.outbox.send(Message::Callback(request)) {
        return Err(Error::JsEnded);
    }
    let value = crate::context::wait_serving(py, &answer).ok_or(Error::JsEnded)??;
    value.build_py_one(&mut PyObjects::new(py))
}

/// A call's arguments for JS; keyword arguments arrive as one trailing object.
fn arguments<'py, B: JsBuilder>(
    walk: &mut ToJs<'py, B>,
    args: &Bound<'py, PyTuple>,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> Result<Vec<B::Out>> {
    let mut out = args
        .iter()
        .map(|a| walk.convert(&a))
        .collect::<Result<Vec<_>>>()?;
    if let Some(kwargs) = kwargs {
        out.push(walk.convert(kwargs.as_any())?);
    }
    Ok(out)
}

/// On the callback's own JS thread (inside a sync call): call it right here.
fn direct<'py>(
    py: Python<'py>,
    cb: &JsCallback,
    args: &Bound<'py, PyTuple>,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> Result<Bound<'py, PyAny>> {
    let js = JsEnv(cb.env as sys::napi_env);
    // Its own handle scope: a Python loop calling JS many times in one sync call must not keep
    // every argument and result alive until the call returns.
    js.scoped(|| {
        let argv = arguments(
            &mut ToJs::new(JsValues::new(js, None), Depth::Shallow),
            args,
            kwargs,
        )?;
        let result = call(js, cb.id, &argv)?;
        if js.is_promise(result)? {
            return Err(Error::invalid_arg(
                "a JS callback returned a Promise while called synchronously on the JS thread; \
                 use an _async call so Python runs on its own thread and can wait for it",
            ));
        }
        ToPy::new(js, PyObjects::new(py)).convert(result)
    })
}

/// Calls function `id`, turning a thrown JS exception into `Error::JsException`.
fn call(js: JsEnv, id: u32, argv: &[sys::napi_value]) -> Result<sys::napi_value> {
    let func = function(js, id)?;
    match js.call(func, js.undefined()?, argv) {
        Err(Error::JsPending) => Err(Error::JsException(describe(js, js.take_exception()?))),
        other => other,
    }
}

fn describe(js: JsEnv, thrown: sys::napi_value) -> JsException {
    let field = |name: &str| -> Option<String> {
        let key = js.string(name).ok()?;
        let value = js.get_property(thrown, key).ok()?;
        match js.type_of(value).ok()? {
            sys::ValueType::napi_undefined => None,
            _ => js.to_js_string(value).ok(),
        }
    };
    let is_object = matches!(js.type_of(thrown), Ok(sys::ValueType::napi_object));
    let message = if is_object { field("message") } else { None };
    JsException {
        name: if is_object { field("name") } else { None }.unwrap_or_else(|| "Error".into()),
        message: message
            .or_else(|| js.to_js_string(thrown).ok())
            .unwrap_or_default(),
        stack: if is_object { field("stack") } else { None }.unwrap_or_default(),
    }
}

/// Runs a marshalled call on the JS thread and replies (later, if it returns a Promise).
pub fn serve(js: JsEnv, request: Request) {
    let Request {
        id,
        interp,
        args,
        reply,
    } = request;
    let result = args
        .build_js(&mut JsValues::new(js, None))
        .and_then(|argv| call(js, id, &argv));
    match result {
        Ok(value) if js.is_promise(value).unwrap_or(false) => match start_watch(js, value) {
            Ok(ticket) => {
                REGISTRY.with(|r| r.borrow_mut().awaiting.insert(ticket, (interp, reply)));
            }
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        },
        Ok(value) => {
            let _ = reply.send(to_value(js, value, interp));
        }
        Err(e) => {
            let _ = reply.send(Err(e));
        }
    }
}

/// A watched Promise settled (reported by the TS `awaitPromise` hook): reply to the marshalled
/// call waiting for it, or settle the `JSPromise` made for Python.
pub fn settled(js: JsEnv, ticket: u32, ok: bool, value: sys::napi_value) {
    let (reply, interp) = REGISTRY.with(|r| {
        let mut r = r.borrow_mut();
        match r.awaiting.remove(&ticket) {
            Some((interp, reply)) => (Some(reply), interp),
            None => (None, r.watched.remove(&ticket).unwrap_or(0)),
        }
    });
    let result = if ok {
        to_value(js, value, interp)
    } else {
        Err(Error::JsException(describe(js, value)))
    };
    if let Some(reply) = reply {
        let _ = reply.send(result);
        return;
    }
    settle_ticket(interp, ticket, result);
}

/// This JS environment is ending (JS thread, at teardown): the Promises it handed to Python will
/// never report, so their `JSPromise`s are rejected (`pyembed.JSError`) and the coroutines
/// awaiting them end; marshalled calls waiting for a returned Promise get `JsEnded` as their
/// replies drop. The registry is emptied for a next environment on this thread (an Electron
/// renderer's reload): its references died with this one.
pub fn abandon_environment() {
    let Ok(registry) = REGISTRY.try_with(|r| std::mem::take(&mut *r.borrow_mut())) else {
        return;
    };
    for (ticket, interp) in registry.watched {
        settle_ticket(interp, ticket, Err(Error::JsEnded));
    }
}

/// Settles the `JSPromise` of `ticket` in interpreter `interp`, on its helper thread: the
/// interpreter's own thread may be the one blocked waiting for it (`JSPromise.result()`), and
/// the JS thread must not wait for the GIL.
fn settle_ticket(interp: InterpId, ticket: u32, result: Result<ValueForPy>) {
    crate::context::helper(
        interp,
        Box::new(move |py| {
            let waiting = {
                let mut map = PROMISES.lock().unwrap_or_else(|e| e.into_inner());
                let map = map.get_or_insert_with(HashMap::new);
                match map.remove(&ticket) {
                    Some(Slot::Waiting(promise)) => Some((promise, result)),
                    _ => {
                        map.insert(ticket, Slot::Settled(result)); // its JSPromise is not made yet
                        None
                    }
                }
            };
            if let Some((promise, result)) = waiting {
                settle_promise(py, &promise.bind(py), result);
                promise.release(py);
            }
        }),
    );
}

fn to_value(js: JsEnv, value: sys::napi_value, interp: InterpId) -> Result<ValueForPy> {
    let mut walk = ToPy::new(js, ValueForPy::default()).for_interp(interp);
    let root = walk.convert(value)?;
    let mut value = walk.into_builder();
    value.add_root(root);
    Ok(value)
}
