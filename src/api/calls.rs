//! Running code: import, exec, eval, reload, sys.path, toJS, str. (Calls are in `call`.)

use napi::Env;
use napi_derive::napi;
use pyo3::prelude::*;

use super::{object, run, string_arg};
use crate::convert::{JsValues, ToJs};
use crate::js::Js;
use crate::python::{code, exception};

/// `import name`; the module comes back as a proxy.
///
/// ```js
/// const os = native.importModule(owner, 'os')
/// ```
#[napi(ts_return_type = "unknown")]
pub fn import_module(
    env: Env,
    owner: u32,
    #[napi(ts_arg_type = "string")] name: Js,
) -> napi::Result<Js> {
    run(&env, |py, js| {
        let name = string_arg(js, name, "module name")?;
        let module = code::import(py, &name)?;
        super::to_js(js, owner, &module)
    })
}

/// True when `sys.modules[name]` is still the object behind handle `id`: lets the TS layer
/// reuse a module proxy instead of making a new one for every `import`.
#[napi]
pub fn module_is(
    env: Env,
    id: f64,
    #[napi(ts_arg_type = "string")] name: Js,
) -> napi::Result<bool> {
    run(&env, |py, js| {
        let Ok(cached) = object(py, id) else {
            return Ok(false); // released: import afresh
        };
        let name = pyo3::types::PyString::new(py, &string_arg(js, name, "module name")?);
        Ok(code::imported(&name)?.is_some_and(|m| m.is(&cached)))
    })
}

/// Runs statements in the shared `__main__` namespace.
///
/// ```js
/// native.exec('x = 1 + 1')
/// ```
#[napi]
pub fn exec(env: Env, #[napi(ts_arg_type = "string")] source: Js) -> napi::Result<()> {
    run(&env, |py, js| {
        code::exec(py, &string_arg(js, source, "code")?)
    })
}

/// Evaluates an expression in the shared `__main__` namespace and converts the result.
///
/// ```js
/// native.eval(owner, 'x * 2') // 4
/// ```
#[napi(ts_return_type = "unknown")]
pub fn eval(env: Env, owner: u32, #[napi(ts_arg_type = "string")] source: Js) -> napi::Result<Js> {
    run(&env, |py, js| {
        let value = code::eval(py, &string_arg(js, source, "expression")?)?;
        super::to_js(js, owner, &value)
    })
}

/// Makes a host module importable from Python: functions become callables that call back
/// into JS, other members are converted.
///
/// ```js
/// native.expose('host', { log: (m) => console.log(m), version: 2 })  // Python: import host
/// ```
#[napi]
pub fn expose(
    env: Env,
    #[napi(ts_arg_type = "string")] name: Js,
    #[napi(ts_arg_type = "Record<string, unknown>")] members: Js,
) -> napi::Result<()> {
    run(&env, |py, js| {
        let name = string_arg(js, name, "module name")?;
        if js.type_of(members.0)? != napi::sys::ValueType::napi_object || js.is_array(members.0)? {
            return Err(crate::error::Error::invalid_arg(
                "module members must be an object",
            ));
        }
        let members =
            crate::convert::ToPy::new(js, crate::convert::PyObjects::new(py)).convert(members.0)?;
        code::expose(py, &name, &members)
    })
}

/// A Promise that a marshalled JS callback returned has settled.
#[napi]
pub fn promise_settled(
    env: Env,
    ticket: u32,
    ok: bool,
    #[napi(ts_arg_type = "unknown")] value: Js,
) {
    crate::callback::settled(crate::js::JsEnv(env.raw()), ticket, ok, value.0);
}

/// Appends a directory to `sys.path` (once).
#[napi]
pub fn add_syspath(env: Env, #[napi(ts_arg_type = "string")] dir: Js) -> napi::Result<()> {
    run(&env, |py, js| {
        code::add_syspath(py, &string_arg(js, dir, "directory")?)
    })
}

/// `importlib.reload(module)`; the module object stays the same, so its proxies see new code.
#[napi(ts_return_type = "unknown")]
pub fn reload(env: Env, owner: u32, id: f64) -> napi::Result<Js> {
    run(&env, |py, js| {
        let fresh = code::reload(&object(py, id)?)?;
        super::to_js(js, owner, &fresh)
    })
}

/// Converts deeply: mappings, iterables and numbers are unpacked too.
#[napi(ts_return_type = "unknown")]
pub fn to_js(env: Env, owner: u32, id: f64) -> napi::Result<Js> {
    run(&env, |py, js| {
        ToJs::new(JsValues::new(js, owner), true)
            .convert(&object(py, id)?)
            .map(Js)
    })
}

/// `str(obj)`, or `repr(obj)`.
#[napi]
pub fn to_string(env: Env, id: f64, repr: bool) -> napi::Result<String> {
    run(&env, |py, _| {
        let obj = object(py, id)?;
        let text = if repr { obj.repr() } else { obj.str() };
        text.map(|s| s.to_string_lossy().into_owned())
            .map_err(|e| exception::from_pyerr(py, e))
    })
}
