//! Running code: import, exec, eval, reload, sys.path, toJS, str. (Calls are in `call`.)

use napi::Env;
use napi_derive::napi;
use pyo3::prelude::*;

use super::contexts::{self, bind, borrowed, run_in, Reply};
use super::{object, routed, run, string_arg};
use crate::convert::{JsValues, ToJs};
use crate::error::{Error, Result};
use crate::js::{Js, JsEnv};
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
    let context = routed(&env, contexts::of_owner(owner), |js, interp| {
        let name = string_arg(js, name, "module name")?;
        run_in(js, interp, owner, move |py| {
            code::import(py, &name).map(Reply::Object)
        })
    });
    if let Some(done) = context {
        return done;
    }
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
    let Ok(route) = contexts::of_handle(id) else {
        return Ok(false); // released or closed: import afresh
    };
    let context = routed(&env, Ok(route), |js, interp| {
        let (module, name) = (borrowed(id, interp)?, string_arg(js, name, "module name")?);
        let same = run_in(js, interp, 0, move |py| {
            let name = pyo3::types::PyString::new(py, &name);
            let same = code::imported(&name)?.is_some_and(|m| m.is(bind(py, module)));
            Ok(Reply::Object(
                pyo3::types::PyBool::new(py, same).to_owned().into_any(),
            ))
        })?;
        js.get_bool(same.0)
    });
    if let Some(done) = context {
        return done;
    }
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
/// native.exec(owner, 'x = 1 + 1')
/// ```
#[napi]
pub fn exec(env: Env, owner: u32, #[napi(ts_arg_type = "string")] source: Js) -> napi::Result<()> {
    let context = routed(&env, contexts::of_owner(owner), |js, interp| {
        let source = string_arg(js, source, "code")?;
        run_in(js, interp, owner, move |py| {
            code::exec(py, &source).map(|()| Reply::Undefined)
        })
        .map(drop)
    });
    if let Some(done) = context {
        return done;
    }
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
    let context = routed(&env, contexts::of_owner(owner), |js, interp| {
        let source = string_arg(js, source, "expression")?;
        run_in(js, interp, owner, move |py| {
            code::eval(py, &source).map(Reply::Object)
        })
    });
    if let Some(done) = context {
        return done;
    }
    run(&env, |py, js| {
        let value = code::eval(py, &string_arg(js, source, "expression")?)?;
        super::to_js(js, owner, &value)
    })
}

/// Makes a host module importable from Python: functions become callables that call back
/// into JS, other members are converted.
///
/// ```js
/// native.expose(owner, 'host', { log: (m) => console.log(m), version: 2 })  // import host
/// ```
#[napi]
pub fn expose(
    env: Env,
    owner: u32,
    #[napi(ts_arg_type = "string")] name: Js,
    #[napi(ts_arg_type = "Record<string, unknown>")] members: Js,
) -> napi::Result<()> {
    let context = routed(&env, contexts::of_owner(owner), |js, interp| {
        let name = string_arg(js, name, "module name")?;
        check_members(js, members)?;
        let (values, roots) = contexts::values(js, interp, &[members.0])?;
        run_in(js, interp, owner, move |py| {
            let members = contexts::build(py, &values, &roots)?.remove(0);
            code::expose(py, &name, &members).map(|()| Reply::Undefined)
        })
        .map(drop)
    });
    if let Some(done) = context {
        return done;
    }
    run(&env, |py, js| {
        let name = string_arg(js, name, "module name")?;
        check_members(js, members)?;
        let members =
            crate::convert::ToPy::new(js, crate::convert::PyObjects::new(py)).convert(members.0)?;
        code::expose(py, &name, &members)
    })
}

fn check_members(js: JsEnv, members: Js) -> Result<()> {
    if js.type_of(members.0)? != napi::sys::ValueType::napi_object || js.is_array(members.0)? {
        return Err(Error::invalid_arg("module members must be an object"));
    }
    Ok(())
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
pub fn add_syspath(
    env: Env,
    owner: u32,
    #[napi(ts_arg_type = "string")] dir: Js,
) -> napi::Result<()> {
    let context = routed(&env, contexts::of_owner(owner), |js, interp| {
        let dir = string_arg(js, dir, "directory")?;
        run_in(js, interp, owner, move |py| {
            code::add_syspath(py, &dir).map(|()| Reply::Undefined)
        })
        .map(drop)
    });
    if let Some(done) = context {
        return done;
    }
    run(&env, |py, js| {
        code::add_syspath(py, &string_arg(js, dir, "directory")?)
    })
}

/// `importlib.reload(module)`; the module object stays the same, so its proxies see new code.
#[napi(ts_return_type = "unknown")]
pub fn reload(env: Env, owner: u32, id: f64) -> napi::Result<Js> {
    let context = routed(&env, contexts::of_handle(id), |js, interp| {
        let module = borrowed(id, interp)?;
        run_in(js, interp, owner, move |py| {
            code::reload(&bind(py, module)).map(Reply::Object)
        })
    });
    if let Some(done) = context {
        return done;
    }
    run(&env, |py, js| {
        let fresh = code::reload(&object(py, id)?)?;
        super::to_js(js, owner, &fresh)
    })
}

/// Converts deeply: mappings, iterables and numbers are unpacked too.
#[napi(ts_return_type = "unknown")]
pub fn to_js(env: Env, owner: u32, id: f64) -> napi::Result<Js> {
    let context = routed(&env, contexts::of_handle(id), |js, interp| {
        let obj = borrowed(id, interp)?;
        run_in(js, interp, owner, move |py| Ok(Reply::Deep(bind(py, obj))))
    });
    if let Some(done) = context {
        return done;
    }
    run(&env, |py, js| {
        ToJs::new(JsValues::new(js, owner), true)
            .convert(&object(py, id)?)
            .map(Js)
    })
}

/// `str(obj)`, or `repr(obj)`.
#[napi]
pub fn to_string(env: Env, id: f64, repr: bool) -> napi::Result<String> {
    let context = routed(&env, contexts::of_handle(id), |js, interp| {
        let obj = borrowed(id, interp)?;
        let text = run_in(js, interp, 0, move |py| {
            let text = describe(&bind(py, obj), repr)?;
            Ok(Reply::Object(
                pyo3::types::PyString::new(py, &text).into_any(),
            ))
        })?;
        js.get_string(text.0)
    });
    if let Some(done) = context {
        return done;
    }
    run(&env, |py, _| describe(&object(py, id)?, repr))
}

fn describe(obj: &Bound<'_, PyAny>, repr: bool) -> Result<String> {
    let text = if repr { obj.repr() } else { obj.str() };
    text.map(|s| s.to_string_lossy().into_owned())
        .map_err(|e| exception::from_pyerr(obj.py(), e))
}
