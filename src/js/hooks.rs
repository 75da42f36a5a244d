//! JS helpers registered once per environment by the TS layer (`init`), kept as references.
//!
//! Native code builds plain values itself, but proxies and `PythonError`s are TS classes, and
//! `Map`/`Set` have no Node-API constructors, so those go through these functions.

use std::cell::RefCell;

use napi::sys;

use crate::error::{Error, Result};
use crate::js::JsEnv;

/// The helpers, as references valid on this thread's env.
pub struct Hooks {
    /// `(owner, id, callable, external) => proxy`.
    pub make_proxy: sys::napi_ref,
    /// `(type, message, traceback, cause) => PythonError`.
    pub make_python_error: sys::napi_ref,
    /// Own property of every proxy target; its value is the handle id.
    pub handle_symbol: sys::napi_ref,
    /// Returned by `getAttr` for a method, so the TS layer caches a caller instead of a value.
    pub method_symbol: sys::napi_ref,
    /// Returned by `next` when an iterator is exhausted.
    pub done_symbol: sys::napi_ref,
    pub map_ctor: sys::napi_ref,
    pub set_ctor: sys::napi_ref,
    /// `(iterable) => Array` for Map entries and Set values.
    pub to_array: sys::napi_ref,
    /// `(Float64Array) => Array`: builds a large numeric Array faster than Node-API can.
    pub from_float64: sys::napi_ref,
    /// `(Array, start) => Float64Array | null`: packs a chunk of an all-number Array, or null.
    pub pack_numbers: sys::napi_ref,
    /// `(kind, length) => TypedArray | null`: a new TypedArray of a Node-API kind whose memory
    /// is not yet initialized (native code writes all of it before JS sees it), or null if JS
    /// cannot allocate it (Node-API's own allocation aborts the process then).
    pub typed_array: sys::napi_ref,
    /// `(ids, oks, values) => void`: settles the promises of completed async calls.
    pub settle: sys::napi_ref,
    /// `(promise, ticket) => void`: reports the promise's outcome to `promiseSettled`.
    pub await_promise: sys::napi_ref,
}

thread_local! {
    static HOOKS: RefCell<Option<Hooks>> = const { RefCell::new(None) };
}

pub fn install(hooks: Hooks) {
    HOOKS.with(|h| *h.borrow_mut() = Some(hooks));
}

/// Forgets this thread's hooks (their environment ended; its references died with it).
pub fn uninstall() {
    let _ = HOOKS.try_with(|h| h.borrow_mut().take());
}

pub fn is_installed() -> bool {
    HOOKS.with(|h| h.borrow().is_some())
}

/// The value of one hook.
pub fn get(env: JsEnv, pick: impl FnOnce(&Hooks) -> sys::napi_ref) -> Result<sys::napi_value> {
    let r = HOOKS.with(|h| h.borrow().as_ref().map(pick));
    let r = r.ok_or_else(|| Error::Internal("pyembed's JS layer did not call init()".into()))?;
    env.deref(r)
}
