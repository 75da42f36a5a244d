//! JS functions as Python callables.
//!
//! A JS function passed to Python is kept (a reference) in this JS thread's registry and
//! wrapped in a Python callable (`python::closure`). Called on its own JS thread — inside a sync
//! call — it runs directly, and may call into Python again. Called from any other thread (the
//! interpreter's thread, a `threading.Thread`, an executor) it is marshalled to the JS thread
//! through the environment's inbox while the caller waits with the GIL released; a returned
//! Promise is awaited there. A JS exception becomes `pyembed.JSError` in Python.
//!
//! Thread rules: the registry is JS-thread only; a callable dying elsewhere sends `Forget`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::thread::{self, ThreadId};

use crossbeam_channel::Sender;
use napi::sys;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::convert::{JsValues, PyObjects, ToJs, ToPy, Value};
use crate::error::{Error, JsException, Result};
use crate::inbox::{self, Message, Outbox};
use crate::js::{hooks, JsEnv};
use crate::python::closure;

/// A JS function as seen from Python threads.
pub struct JsCallback {
    id: u32,
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

/// A call of a JS function from another thread, waiting for its reply.
pub struct Request {
    id: u32,
    args: Value,
    roots: Vec<usize>,
    reply: Sender<Result<(Value, usize)>>,
}

#[derive(Default)]
struct Registry {
    functions: Vec<Option<sys::napi_ref>>,
    free: Vec<u32>,
    /// Replies waiting for a Promise, by request number.
    awaiting: HashMap<u32, Sender<Result<(Value, usize)>>>,
    next_await: u32,
}

thread_local! {
    static REGISTRY: RefCell<Registry> = RefCell::new(Registry::default());
}

/// Keeps `func` for Python. JS thread only.
pub fn register(js: JsEnv, func: sys::napi_value) -> Result<Arc<JsCallback>> {
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
    Ok(Arc::new(JsCallback { id, env: js.0 as usize, thread: thread::current().id(), outbox }))
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
    closure::new(py, Box::new(move |py, args, kwargs| invoke(py, &callback, args, kwargs)))
}

fn invoke<'py>(
    py: Python<'py>,
    cb: &JsCallback,
    args: &Bound<'py, PyTuple>,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> Result<Bound<'py, PyAny>> {
    let kwargs = kwargs.filter(|k| !k.is_empty());
    if thread::current().id() == cb.thread {
        return direct(py, cb, args, kwargs);
    }
    // Keyword arguments arrive in JS as one trailing object.
    let mut walk = ToJs::new(Value::default(), false);
    let mut roots = args.iter().map(|a| walk.convert(&a)).collect::<Result<Vec<_>>>()?;
    if let Some(kwargs) = kwargs {
        roots.push(walk.convert(kwargs.as_any())?);
    }
    let (reply, answer) = crossbeam_channel::bounded(1);
    let request = Request { id: cb.id, args: walk.into_builder(), roots, reply };
    if !cb.outbox.send(Message::Callback(request)) {
        return Err(ended());
    }
    let (value, root) = py.detach(|| answer.recv()).map_err(|_| ended())??;
    value.to_py(root, &mut PyObjects::new(py))
}

fn ended() -> Error {
    Error::JsException(JsException {
        name: "Error".into(),
        message: "the JS environment of this callback has ended".into(),
        stack: String::new(),
    })
}

/// On the callback's own JS thread (inside a sync call): call it right here.
fn direct<'py>(
    py: Python<'py>,
    cb: &JsCallback,
    args: &Bound<'py, PyTuple>,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> Result<Bound<'py, PyAny>> {
    let js = JsEnv(cb.env as sys::napi_env);
    let mut walk = ToJs::new(JsValues::new(js, 0), false);
    let mut argv = args.iter().map(|a| walk.convert(&a)).collect::<Result<Vec<_>>>()?;
    if let Some(kwargs) = kwargs {
        argv.push(walk.convert(kwargs.as_any())?);
    }
    let result = call(js, cb.id, &argv)?;
    if js.is_promise(result)? {
        return Err(Error::invalid_arg(
            "a JS callback returned a Promise while called synchronously on the JS thread; \
             use an _async call so Python runs on its own thread and can wait for it",
        ));
    }
    ToPy::new(js, PyObjects::new(py)).convert(result)
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
        message: message.or_else(|| js.to_js_string(thrown).ok()).unwrap_or_default(),
        stack: if is_object { field("stack") } else { None }.unwrap_or_default(),
    }
}

/// Runs a marshalled call on the JS thread and replies (later, if it returns a Promise).
pub fn serve(js: JsEnv, request: Request) {
    let Request { id, mut args, roots, reply } = request;
    let result = (|| {
        let mut build = JsValues::new(js, 0);
        let argv = roots.iter().map(|&r| args.to_js(r, &mut build)).collect::<Result<Vec<_>>>()?;
        call(js, id, &argv)
    })();
    match result {
        Ok(value) if js.is_promise(value).unwrap_or(false) => {
            let ticket = REGISTRY.with(|r| {
                let mut r = r.borrow_mut();
                r.next_await = r.next_await.wrapping_add(1);
                let ticket = r.next_await;
                r.awaiting.insert(ticket, reply.clone());
                ticket
            });
            let waited = (|| {
                let hook = hooks::get(js, |h| h.await_promise)?;
                js.call(hook, js.undefined()?, &[value, js.double(ticket as f64)?])
            })();
            if let Err(e) = waited {
                REGISTRY.with(|r| r.borrow_mut().awaiting.remove(&ticket));
                let _ = reply.send(Err(e));
            }
        }
        Ok(value) => {
            let _ = reply.send(to_value(js, value));
        }
        Err(e) => {
            let _ = reply.send(Err(e));
        }
    }
}

/// A Promise awaited for a marshalled call settled (called by the TS `awaitPromise` hook).
pub fn settled(js: JsEnv, ticket: u32, ok: bool, value: sys::napi_value) {
    let Some(reply) = REGISTRY.with(|r| r.borrow_mut().awaiting.remove(&ticket)) else {
        return;
    };
    let result = if ok { to_value(js, value) } else { Err(Error::JsException(describe(js, value))) };
    let _ = reply.send(result);
}

fn to_value(js: JsEnv, value: sys::napi_value) -> Result<(Value, usize)> {
    let mut walk = ToPy::new(js, Value::default());
    let root = walk.convert(value)?;
    Ok((walk.into_builder(), root))
}
