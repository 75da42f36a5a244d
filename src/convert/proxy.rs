//! Python objects that have no JS equivalent travel as proxies: a registry handle plus an
//! External whose finalizer queues the release when JS garbage-collects the proxy.

use std::ffi::c_void;

use napi::sys;

use crate::context::{self, ObjectRef};
use crate::error::{Error, Result};
use crate::handle::{self, OwnerId};
use crate::js::{hooks, JsEnv};

/// Registers `object` (handing over its reference) for `owner` and returns a new JS proxy for
/// it, built by the TS layer. Needs no GIL. An object of a context that closed meanwhile (a
/// late result) is refused: its reference is left to the ended interpreter.
pub fn wrap(
    env: JsEnv,
    owner: Option<OwnerId>,
    object: ObjectRef,
    callable: bool,
) -> Result<sys::napi_value> {
    if object.interp() != 0 && context::get(object.interp()).is_err() {
        return Err(Error::ContextClosed);
    }
    let id = handle::with(|r| r.insert(owner, object))?;
    let external = env.external(id as usize, Some(finalize))?;
    let factory = hooks::get(env, |h| h.make_proxy)?;
    let args = [
        env.double(owner.map_or(0, |o| o.get()) as f64)?,
        env.double(id as f64)?,
        env.boolean(callable)?,
        external,
    ];
    env.call(factory, env.undefined()?, &args)
}

/// Node-API finalizer of a proxy's External: never touches Python, only queues.
unsafe extern "C" fn finalize(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    // Nothing here can panic short of a bug; a panic must still not unwind into Node.
    let _ = std::panic::catch_unwind(|| {
        handle::try_with(|r| r.defer_release(data as usize as handle::HandleId))
    });
}
