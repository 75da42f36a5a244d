//! Running code: import, exec, eval, reload, sys.path, toJS, str. (Calls are in `call`.)

use napi::{sys, Env};
use napi_derive::napi;
use pyo3::prelude::*;

use super::contexts::Reply;
use super::{entry, in_interpreter, on_object, on_object_into, string_arg};
use crate::convert::Depth;
use crate::error::{Error, Result};
use crate::handle::{self, HandleId};
use crate::js::Js;
use crate::python::{code, exception};

/// A required string argument, thrown as `ERR_PY_INVALID_ARG` otherwise.
fn text(env: &Env, v: Js, what: &str) -> napi::Result<String> {
    entry(env, |js| string_arg(js, v, what))
}

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
    let name = text(&env, name, "module name")?;
    in_interpreter(&env, owner, &[], move |py, _| {
        code::import(py, &name).map(Reply::Object)
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
    let name = text(&env, name, "module name")?;
    if handle::with(|r| r.lend(id as HandleId)).is_err() {
        return Ok(false); // released or closed: import afresh
    }
    let same = on_object(&env, 0, id, &[], move |py, cached, _| {
        let name = pyo3::types::PyString::new(py, &name);
        Ok(Reply::Bool(
            code::imported(&name)?.is_some_and(|m| m.is(&cached)),
        ))
    })?;
    super::bool_of(&env, same)
}

/// Runs statements in the interpreter's `__main__` namespace.
///
/// ```js
/// native.exec(owner, 'x = 1 + 1')
/// ```
#[napi]
pub fn exec(env: Env, owner: u32, #[napi(ts_arg_type = "string")] source: Js) -> napi::Result<()> {
    let source = text(&env, source, "code")?;
    in_interpreter(&env, owner, &[], move |py, _| {
        code::exec(py, &source).map(|()| Reply::Undefined)
    })
    .map(drop)
}

/// Evaluates an expression in the interpreter's `__main__` namespace and converts the result.
///
/// ```js
/// native.eval(owner, 'x * 2') // 4
/// ```
#[napi(ts_return_type = "unknown")]
pub fn eval(env: Env, owner: u32, #[napi(ts_arg_type = "string")] source: Js) -> napi::Result<Js> {
    let source = text(&env, source, "expression")?;
    in_interpreter(&env, owner, &[], move |py, _| {
        code::eval(py, &source).map(Reply::Object)
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
    let name = text(&env, name, "module name")?;
    entry(&env, |js| -> Result<()> {
        match js.type_of(members.0)? == napi::sys::ValueType::napi_object
            && !js.is_array(members.0)?
        {
            true => Ok(()),
            false => Err(Error::invalid_arg("module members must be an object")),
        }
    })?;
    in_interpreter(&env, owner, &[members], move |py, members| {
        code::expose(py, &name, &members[0]).map(|()| Reply::Undefined)
    })
    .map(drop)
}

/// A Promise that a marshalled JS callback returned has settled.
#[napi]
pub fn promise_settled(
    env: Env,
    ticket: u32,
    ok: bool,
    #[napi(ts_arg_type = "unknown")] value: Js,
) -> napi::Result<()> {
    entry(&env, |js| {
        crate::callback::settled(js, ticket, ok, value.0);
        Ok(())
    })
}

/// Appends a directory to `sys.path` (once).
#[napi]
pub fn add_syspath(
    env: Env,
    owner: u32,
    #[napi(ts_arg_type = "string")] dir: Js,
) -> napi::Result<()> {
    let dir = text(&env, dir, "directory")?;
    in_interpreter(&env, owner, &[], move |py, _| {
        code::add_syspath(py, &dir).map(|()| Reply::Undefined)
    })
    .map(drop)
}

/// `importlib.reload(module)`; the module object stays the same, so its proxies see new code.
#[napi(ts_return_type = "unknown")]
pub fn reload(env: Env, owner: u32, id: f64) -> napi::Result<Js> {
    on_object(&env, owner, id, &[], |_, module, _| {
        code::reload(&module).map(Reply::Object)
    })
}

/// Converts deeply: one-dimensional buffers of numbers (into TypedArrays), mappings, iterables
/// and numbers are unpacked too; `json`: buffers are Arrays, as other sequences (`toJSON()`).
#[napi(ts_return_type = "unknown")]
pub fn to_js(env: Env, owner: u32, id: f64, json: bool) -> napi::Result<Js> {
    let depth = if json { Depth::Json } else { Depth::Deep };
    on_object(&env, owner, id, &[], move |_, obj, _| {
        Ok(Reply::Deep(obj, depth))
    })
}

/// The elements of a buffer-protocol exporter (a numpy array, `array.array`, `memoryview`,
/// bytes-like) as `{ data, shape, format }`: `data` a TypedArray holding one copy in C order,
/// `format` its one-letter `struct` format.
///
/// ```js
/// const { data, shape } = py.buffer(py.eval('__import__("array").array("d", [1.5, 2])'))
/// // data: Float64Array [1.5, 2], shape: [2]
/// ```
///
/// `into` (a TypedArray of the right kind and length, or null) receives the elements instead
/// of a new TypedArray.
#[napi(ts_return_type = "{ data: ArrayBufferView; shape: number[]; format: string }")]
pub fn buffer(
    env: Env,
    owner: u32,
    id: f64,
    #[napi(ts_arg_type = "ArrayBufferView | null")] into: Js,
) -> napi::Result<Js> {
    let into = entry(&env, |js| match js.type_of(into.0)? {
        sys::ValueType::napi_null | sys::ValueType::napi_undefined => Ok(None),
        _ => match js.with_binary(into.0, |kind, _| kind)? {
            Some(Some(_)) => Ok(Some(into)),
            _ => Err(Error::invalid_arg("into must be a TypedArray")),
        },
    })?;
    on_object_into(&env, owner, id, into, &[], |_, obj, _| {
        Ok(Reply::Buffer(obj))
    })
}

/// `str(obj)`, or `repr(obj)`.
#[napi]
pub fn to_string(env: Env, id: f64, repr: bool) -> napi::Result<String> {
    let text = on_object(&env, 0, id, &[], move |py, obj, _| {
        let text = if repr { obj.repr() } else { obj.str() };
        text.map(|s| Reply::Str(s.to_string_lossy().into_owned()))
            .map_err(|e| exception::from_pyerr(py, e))
    })?;
    entry(&env, |js| js.get_string(text.0))
}
