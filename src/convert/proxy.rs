//! Python objects that have no JS equivalent travel as proxies: a registry handle plus an
//! External whose finalizer queues the release when JS garbage-collects the proxy.

use std::ffi::c_void;

use napi::sys;

use crate::context::InterpId;
use crate::error::Result;
use crate::handle::{self, OwnerId};
use crate::js::{hooks, JsEnv};
use crate::python::OwnedPtr;

/// Registers `object` (handing over its reference) and returns a new JS proxy for it, built by
/// the TS layer. Needs no GIL.
pub fn wrap(
    env: JsEnv,
    owner: OwnerId,
    interp: InterpId,
    object: OwnedPtr,
    callable: bool,
) -> Result<sys::napi_value> {
    let id = handle::with(|r| r.insert(owner, interp, object));
    let external = env.external(id as usize, Some(finalize))?;
    let factory = hooks::get(env, |h| h.make_proxy)?;
    let args = [
        env.double(owner as f64)?,
        env.double(id as f64)?,
        env.boolean(callable)?,
        external,
    ];
    env.call(factory, env.undefined()?, &args)
}

/// Node-API finalizer of a proxy's External: never touches Python, only queues.
unsafe extern "C" fn finalize(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    handle::try_with(|r| r.defer_release(data as usize as handle::HandleId));
}
