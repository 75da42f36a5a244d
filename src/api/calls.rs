//! Running code and calling objects: import, exec, eval, call, reload, sys.path, toJS, str.

use napi::sys;
use napi::Env;
use napi_derive::napi;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyString, PyTuple};

use super::{object, run, string_arg};
use crate::convert::{ToJs, ToPy};
use crate::error::{Error, Result};
use crate::js::{Js, JsEnv};
use crate::python::{code, exception};

/// `import name`; the module comes back as a proxy.
///
/// ```js
/// const os = native.importModule(owner, 'os')
/// ```
#[napi(ts_return_type = "unknown")]
pub fn import_module(env: Env, owner: u32, #[napi(ts_arg_type = "string")] name: Js) -> napi::Result<Js> {
    run(&env, |py, js| {
        let name = string_arg(js, name, "module name")?;
        let module = code::import(py, &name)?;
        ToJs::new(js, owner, false).convert(&module).map(Js)
    })
}

/// Runs statements in the shared `__main__` namespace.
///
/// ```js
/// native.exec('x = 1 + 1')
/// ```
#[napi]
pub fn exec(env: Env, #[napi(ts_arg_type = "string")] source: Js) -> napi::Result<()> {
    run(&env, |py, js| code::exec(py, &string_arg(js, source, "code")?))
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
        ToJs::new(js, owner, false).convert(&value).map(Js)
    })
}

/// Calls `getattr(obj, name)(*args, **kwargs)`, or `obj(*args, **kwargs)` when `name` is null.
/// The method is looked up without creating a bound method object.
///
/// ```js
/// native.call(owner, id, 'join', [['a', 'b']], null)
/// ```
#[napi(ts_return_type = "unknown")]
pub fn call(
    env: Env,
    owner: u32,
    id: f64,
    #[napi(ts_arg_type = "string | null")] name: Js,
    #[napi(ts_arg_type = "unknown[]")] args: Js,
    #[napi(ts_arg_type = "Record<string, unknown> | null")] kwargs: Js,
) -> napi::Result<Js> {
    run(&env, |py, js| {
        let target = object(py, id)?;
        let name = match js.type_of(name.0)? {
            sys::ValueType::napi_string => Some(js.with_utf8(name.0, |s| PyString::new(py, s))?),
            sys::ValueType::napi_null | sys::ValueType::napi_undefined => None,
            _ => return Err(Error::invalid_arg("method name must be a string")),
        };
        let result = call_object(py, js, &target, name.as_ref(), args.0, kwargs.0)?;
        ToJs::new(js, owner, false).convert(&result).map(Js)
    })
}

fn call_object<'py>(
    py: Python<'py>,
    js: JsEnv,
    target: &Bound<'py, PyAny>,
    name: Option<&Bound<'py, PyString>>,
    args: sys::napi_value,
    kwargs: sys::napi_value,
) -> Result<Bound<'py, PyAny>> {
    if !js.is_array(args)? {
        return Err(Error::invalid_arg("call arguments must be an array"));
    }
    let mut convert = ToPy::new(py, js);
    let positional = js.array_len(args)? as usize;
    // Slot 0 is scratch space for PY_VECTORCALL_ARGUMENTS_OFFSET, slot 1 is `self`.
    let mut owned: Vec<Bound<'py, PyAny>> = Vec::with_capacity(positional + 2);
    owned.push(target.clone());
    for i in 0..positional {
        owned.push(convert.convert(js.get_element(args, i as u32)?)?);
    }
    let kwnames = match js.type_of(kwargs)? {
        sys::ValueType::napi_null | sys::ValueType::napi_undefined => None,
        sys::ValueType::napi_object => {
            let keys = js.own_keys(kwargs)?;
            let mut names = Vec::new();
            for i in 0..js.array_len(keys)? {
                let key = js.get_element(keys, i)?;
                owned.push(convert.convert(js.get_property(kwargs, key)?)?);
                names.push(js.with_utf8(key, |s| PyString::new(py, s))?);
            }
            (!names.is_empty())
                .then(|| PyTuple::new(py, names))
                .transpose()
                .map_err(|e| exception::from_pyerr(py, e))?
        }
        _ => return Err(Error::invalid_arg("keyword arguments must be an object")),
    };
    let mut slots: Vec<*mut ffi::PyObject> = Vec::with_capacity(owned.len() + 1);
    slots.push(std::ptr::null_mut());
    slots.extend(owned.iter().map(|o| o.as_ptr()));
    let kwnames_ptr = kwnames.as_ref().map_or(std::ptr::null_mut(), |k| k.as_ptr());
    let offset = ffi::PY_VECTORCALL_ARGUMENTS_OFFSET;
    // SAFETY: attached; `slots` holds borrowed pointers kept alive by `owned` for the whole
    // call, with one writable slot before the first argument as ARGUMENTS_OFFSET requires;
    // keyword values follow the positional ones, named by `kwnames`.
    let result = unsafe {
        match name {
            Some(name) => ffi::PyObject_VectorcallMethod(
                name.as_ptr(),
                slots.as_ptr().add(1),
                (1 + positional) | offset,
                kwnames_ptr,
            ),
            None => ffi::PyObject_Vectorcall(
                target.as_ptr(),
                slots.as_ptr().add(2),
                positional | offset,
                kwnames_ptr,
            ),
        }
    };
    // SAFETY: a new reference, or NULL with an exception set.
    unsafe { Bound::from_owned_ptr_or_opt(py, result) }.ok_or_else(|| exception::take(py))
}

/// Appends a directory to `sys.path` (once).
#[napi]
pub fn add_syspath(env: Env, #[napi(ts_arg_type = "string")] dir: Js) -> napi::Result<()> {
    run(&env, |py, js| code::add_syspath(py, &string_arg(js, dir, "directory")?))
}

/// `importlib.reload(module)`; the module object stays the same, so its proxies see new code.
#[napi(ts_return_type = "unknown")]
pub fn reload(env: Env, owner: u32, id: f64) -> napi::Result<Js> {
    run(&env, |py, js| {
        let fresh = code::reload(&object(py, id)?)?;
        ToJs::new(js, owner, false).convert(&fresh).map(Js)
    })
}

/// Converts deeply: mappings, iterables and numbers are unpacked too.
#[napi(ts_return_type = "unknown")]
pub fn to_js(env: Env, owner: u32, id: f64) -> napi::Result<Js> {
    run(&env, |py, js| ToJs::new(js, owner, true).convert(&object(py, id)?).map(Js))
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
