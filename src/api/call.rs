//! The hot path: `call(owner, id, name, args, kwargs)`, i.e. `getattr(obj, name)(*args,
//! **kwargs)`, or `obj(*args, **kwargs)` when `name` is null.
//!
//! Registered as a raw Node-API callback rather than through `#[napi]`: proxy method calls are
//! the most frequent crossing, and the generated wrapper's per-call bookkeeping cost about a
//! third of a no-op call. `name` may be an id from `internName` (what proxies pass: no string
//! copy, no hashing) or a string. Methods are looked up without creating a bound method.

use std::panic::{catch_unwind, AssertUnwindSafe};

use napi::bindgen_prelude::Object;
use napi::{sys, Env, JsValue};
use napi_derive::napi;
use pyo3::prelude::*;
use pyo3::types::{PyString, PyTuple};

use super::asynchronous::CallRequest;
use super::contexts::{self, Reply};
use super::{owner_of, panic_message, string_arg, target, throw};
use crate::convert::{PyObjects, ToPy};
use crate::error::{Error, Result};
use crate::handle::names;
use crate::js::{Js, JsEnv};
use crate::python::args::CallArgs;
use crate::python::exception;

/// A small id for an attribute name, for `call`.
///
/// ```js
/// const id = native.internName('append')
/// ```
#[napi]
pub fn intern_name(env: Env, #[napi(ts_arg_type = "string")] name: Js) -> napi::Result<u32> {
    super::run(&env, |py, js| {
        Ok(names::intern(py, &string_arg(js, name, "attribute name")?))
    })
}

/// Adds the raw `call` function to the module's exports.
#[napi(module_exports)]
pub fn register_call(env: Env, exports: Object) -> napi::Result<()> {
    super::entry(&env, |js| {
        let func = js.function(c"call", call_entry)?;
        js.set_property(exports.raw(), js.string("call")?, func)
    })
}

/// `call(owner: number, id: number, name: number | string | null, args: unknown[],
/// kwargs: Record<string, unknown> | null): unknown`
unsafe extern "C" fn call_entry(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    let js = JsEnv(env);
    let mut argv = [std::ptr::null_mut(); 5];
    let mut argc = argv.len();
    // SAFETY: `info` is this callback's; missing arguments are filled with `undefined`.
    let status = unsafe {
        sys::napi_get_cb_info(
            env,
            info,
            &mut argc,
            argv.as_mut_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    };
    let result = catch_unwind(AssertUnwindSafe(|| {
        if status != sys::Status::napi_ok {
            return Err(Error::Internal("napi_get_cb_info failed".into()));
        }
        let owner = owner_of(js.get_double(argv[0])? as u32);
        let target = target(owner, js.get_double(argv[1])?)?;
        if target.interp() != 0 {
            let interp = target.interp();
            let request = CallRequest::gather(js, target, Js(argv[2]), Js(argv[3]), Js(argv[4]))?;
            let build = crate::convert::JsValues::new(js, owner);
            return contexts::run_in(js, interp, build, &[], move |py, _| {
                request.run(py).map(Reply::Object)
            })
            .map(|v| v.0);
        }
        super::attached(|py| {
            let target = target.bind(py);
            let name = match js.type_of(argv[2])? {
                sys::ValueType::napi_number => {
                    Some(names::get(py, js.get_double(argv[2])? as u32)?)
                }
                sys::ValueType::napi_string => {
                    Some(js.with_utf8(argv[2], |s| PyString::new(py, s))?)
                }
                sys::ValueType::napi_null | sys::ValueType::napi_undefined => None,
                _ => return Err(Error::invalid_arg("method name must be a string")),
            };
            let result = call_object(py, js, &target, name.as_ref(), argv[3], argv[4])?;
            super::to_js(js, owner, &result).map(|v| v.0)
        })
    }))
    .unwrap_or_else(|panic| Err(Error::Internal(panic_message(panic))));
    result.unwrap_or_else(|e| {
        throw::throw(js, e);
        std::ptr::null_mut()
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
    let mut convert = ToPy::new(js, PyObjects::new(py));
    let positional = js.array_len(args)? as usize;
    let mut argv = CallArgs::new();
    argv.push(target.clone());
    for i in 0..positional {
        argv.push(convert.convert(js.get_element(args, i as u32)?)?);
    }
    let kwnames = match js.type_of(kwargs)? {
        sys::ValueType::napi_null | sys::ValueType::napi_undefined => None,
        sys::ValueType::napi_object => {
            let keys = js.own_keys(kwargs)?;
            let mut names = Vec::new();
            for i in 0..js.array_len(keys)? {
                let key = js.get_element(keys, i)?;
                argv.push(convert.convert(js.get_property(kwargs, key)?)?);
                names.push(js.with_utf8(key, |s| PyString::new(py, s))?);
            }
            (!names.is_empty())
                .then(|| PyTuple::new(py, names))
                .transpose()
                .map_err(|e| exception::from_pyerr(py, e))?
        }
        _ => return Err(Error::invalid_arg("keyword arguments must be an object")),
    };
    argv.call(py, name, positional, kwnames.as_ref())
}
