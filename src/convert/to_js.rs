//! Python → JS.
//!
//! None→null, bool, int→number (|x| ≤ 2^53−1) else BigInt, float→number, str→string,
//! bytes/bytearray→Buffer, list/tuple→Array, dict with str keys→object (other keys→Map),
//! set/frozenset→Set, datetime→Date, anything else→proxy. `deep` (used by `toJS()`) also unpacks
//! other mappings, iterables and numbers instead of proxying them.

use std::collections::HashMap;

use napi::sys;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};

use super::{too_deep, MAX_DEPTH, MAX_SAFE_INTEGER, PACK_THRESHOLD};
use crate::error::Result;
use crate::handle::OwnerId;
use crate::js::{hooks, JsEnv};
use crate::python::exception;

pub struct ToJs {
    env: JsEnv,
    owner: OwnerId,
    deep: bool,
    depth: usize,
    /// Containers (and proxies) already converted, by object address.
    seen: HashMap<*mut ffi::PyObject, sys::napi_value>,
}

impl ToJs {
    pub fn new(env: JsEnv, owner: OwnerId, deep: bool) -> Self {
        Self {
            env,
            owner,
            deep,
            depth: 0,
            seen: HashMap::new(),
        }
    }

    pub fn convert(&mut self, obj: &Bound<'_, PyAny>) -> Result<sys::napi_value> {
        let env = self.env;
        let ptr = obj.as_ptr();
        // SAFETY (all the type checks below): attached, `ptr` is a live object.
        unsafe {
            if ptr == ffi::Py_None() {
                return env.null();
            }
            if ffi::PyBool_Check(ptr) != 0 {
                return env.boolean(ptr == ffi::Py_True());
            }
            if ffi::PyFloat_Check(ptr) != 0 {
                return env.double(ffi::PyFloat_AS_DOUBLE(ptr));
            }
            if ffi::PyLong_Check(ptr) != 0 {
                return self.int(obj);
            }
            if ffi::PyUnicode_Check(ptr) != 0 {
                return string(env, obj);
            }
            if ffi::PyBytes_Check(ptr) != 0 {
                return env.buffer_copy(obj.cast_unchecked::<PyBytes>().as_bytes());
            }
            if ffi::PyByteArray_Check(ptr) != 0 {
                let data = ffi::PyByteArray_AsString(ptr) as *const u8;
                let len = ffi::PyByteArray_Size(ptr) as usize;
                let bytes = if len == 0 { &[][..] } else { std::slice::from_raw_parts(data, len) };
                return env.buffer_copy(bytes);
            }
        }
        if let Some(&done) = self.seen.get(&ptr) {
            return Ok(done);
        }
        if self.depth >= MAX_DEPTH {
            return Err(too_deep());
        }
        self.depth += 1;
        let result = self.container(obj);
        self.depth -= 1;
        result
    }

    fn container(&mut self, obj: &Bound<'_, PyAny>) -> Result<sys::napi_value> {
        let py = obj.py();
        if let Ok(list) = obj.cast::<PyList>() {
            if let Some(packed) = self.numbers(obj, list.len())? {
                return Ok(packed);
            }
            return self.sequence(obj, list.len(), |i| list.get_item(i).expect("index in range"));
        }
        if let Ok(tuple) = obj.cast::<PyTuple>() {
            if let Some(packed) = self.numbers(obj, tuple.len())? {
                return Ok(packed);
            }
            return self.sequence(obj, tuple.len(), |i| tuple.get_item(i).expect("index in range"));
        }
        if let Ok(dict) = obj.cast::<PyDict>() {
            return self.dict(obj, dict);
        }
        let ptr = obj.as_ptr();
        // SAFETY: attached, live object.
        if unsafe { ffi::PyAnySet_Check(ptr) } != 0 {
            return self.set(obj);
        }
        if is_datetime(obj) {
            let seconds: f64 = obj
                .call_method0("timestamp")
                .and_then(|t| t.extract())
                .map_err(|e| exception::from_pyerr(py, e))?;
            return self.env.date(seconds * 1000.0);
        }
        if self.deep {
            if let Some(done) = self.protocols(obj)? {
                return Ok(done);
            }
        }
        let proxy = super::wrap(self.env, self.owner, obj)?;
        self.seen.insert(ptr, proxy);
        Ok(proxy)
    }

    fn int(&mut self, obj: &Bound<'_, PyAny>) -> Result<sys::napi_value> {
        let mut overflow = 0;
        // SAFETY: attached; `obj` is an int, so this cannot raise except by overflow flag.
        let v = unsafe { ffi::PyLong_AsLongLongAndOverflow(obj.as_ptr(), &mut overflow) };
        if overflow == 0 && (-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(&v) {
            return self.env.double(v as f64);
        }
        let py = obj.py();
        // Rare: big integers go through int.to_bytes, little-endian, magnitude only.
        let words = (|| -> PyResult<(bool, Vec<u64>)> {
            let negative = obj.lt(0)?;
            let magnitude = obj.call_method0("__abs__")?;
            let bits: usize = magnitude.call_method0("bit_length")?.extract()?;
            let len = bits.div_ceil(64) * 8;
            let bytes = magnitude.call_method1("to_bytes", (len, "little"))?;
            let bytes = bytes.cast::<PyBytes>()?.as_bytes();
            let words = bytes
                .chunks(8)
                .map(|c| u64::from_le_bytes(c.try_into().expect("8-byte chunk")))
                .collect();
            Ok((negative, words))
        })()
        .map_err(|e| exception::from_pyerr(py, e))?;
        self.env.bigint(words.0, &words.1)
    }

    /// A long list or tuple of floats and safe integers crosses as one Float64Array. `None` if
    /// it is short or holds anything else.
    fn numbers(&mut self, obj: &Bound<'_, PyAny>, len: usize) -> Result<Option<sys::napi_value>> {
        if len < PACK_THRESHOLD {
            return Ok(None);
        }
        let mut values = Vec::with_capacity(len);
        // SAFETY: attached; `obj` is a list or tuple whose items are read borrowed, with no
        // Python code running in between that could mutate it.
        unsafe {
            let items = if ffi::PyList_Check(obj.as_ptr()) != 0 {
                (*obj.as_ptr().cast::<ffi::PyListObject>()).ob_item
            } else {
                (*obj.as_ptr().cast::<ffi::PyTupleObject>()).ob_item.as_mut_ptr()
            };
            for i in 0..len {
                let item = *items.add(i);
                let tp = ffi::Py_TYPE(item);
                if tp == &raw mut ffi::PyFloat_Type {
                    values.push(ffi::PyFloat_AS_DOUBLE(item));
                } else if tp == &raw mut ffi::PyLong_Type {
                    let mut overflow = 0;
                    let v = ffi::PyLong_AsLongLongAndOverflow(item, &mut overflow);
                    if overflow != 0 || !(-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(&v) {
                        return Ok(None);
                    }
                    values.push(v as f64);
                } else {
                    return Ok(None);
                }
            }
        }
        let env = self.env;
        let packed = env.float64_array(&values)?;
        let array = env.call(hooks::get(env, |h| h.from_float64)?, env.undefined()?, &[packed])?;
        self.seen.insert(obj.as_ptr(), array);
        Ok(Some(array))
    }

    fn sequence<'py>(
        &mut self,
        obj: &Bound<'py, PyAny>,
        len: usize,
        item: impl Fn(usize) -> Bound<'py, PyAny>,
    ) -> Result<sys::napi_value> {
        let array = self.env.array(len)?;
        self.seen.insert(obj.as_ptr(), array);
        for i in 0..len {
            let value = self.convert(&item(i))?;
            self.env.set_element(array, i as u32, value)?;
        }
        Ok(array)
    }

    fn dict(&mut self, obj: &Bound<'_, PyAny>, dict: &Bound<'_, PyDict>) -> Result<sys::napi_value> {
        let env = self.env;
        let string_keys = dict.keys().iter().all(|k| k.is_instance_of::<PyString>());
        if !string_keys {
            let map = env.new_instance(hooks::get(env, |h| h.map_ctor)?, &[])?;
            self.seen.insert(obj.as_ptr(), map);
            let set = env.get_property(map, env.string("set")?)?;
            for (k, v) in dict.iter() {
                let args = [self.convert(&k)?, self.convert(&v)?];
                env.call(set, map, &args)?;
            }
            return Ok(map);
        }
        let target = env.object()?;
        self.seen.insert(obj.as_ptr(), target);
        for (k, v) in dict.iter() {
            let key = string(env, &k)?;
            let value = self.convert(&v)?;
            if k.cast::<PyString>().is_ok_and(|s| s == "__proto__") {
                env.define_value(target, key, value)?;
            } else {
                env.set_property(target, key, value)?;
            }
        }
        Ok(target)
    }

    fn set(&mut self, obj: &Bound<'_, PyAny>) -> Result<sys::napi_value> {
        let env = self.env;
        let py = obj.py();
        let set = env.new_instance(hooks::get(env, |h| h.set_ctor)?, &[])?;
        self.seen.insert(obj.as_ptr(), set);
        let add = env.get_property(set, env.string("add")?)?;
        let iter = obj.try_iter().map_err(|e| exception::from_pyerr(py, e))?;
        for item in iter {
            let item = item.map_err(|e| exception::from_pyerr(py, e))?;
            env.call(add, set, &[self.convert(&item)?])?;
        }
        Ok(set)
    }

    /// `toJS()` only: mappings → object/Map, iterables → Array, `__index__` → int,
    /// `__float__` → number. `None` if no protocol applies.
    fn protocols(&mut self, obj: &Bound<'_, PyAny>) -> Result<Option<sys::napi_value>> {
        let py = obj.py();
        let fail = |e| exception::from_pyerr(py, e);
        if obj.hasattr("keys").map_err(fail)? && obj.hasattr("__getitem__").map_err(fail)? {
            let dict = PyDict::new(py);
            dict.update(obj.cast::<pyo3::types::PyMapping>().map_err(|e| fail(e.into()))?)
                .map_err(fail)?;
            return self.dict(obj, &dict).map(Some);
        }
        match obj.try_iter() {
            Ok(iter) => {
                let items = iter.collect::<PyResult<Vec<_>>>().map_err(fail)?;
                return self.sequence(obj, items.len(), |i| items[i].clone()).map(Some);
            }
            Err(e) if e.is_instance_of::<pyo3::exceptions::PyTypeError>(py) => {
                discard(py, e);
            }
            Err(e) => return Err(fail(e)),
        }
        // SAFETY: attached, live object; the checks only read type slots.
        let (index, float) = unsafe {
            let number = (*ffi::Py_TYPE(obj.as_ptr())).tp_as_number;
            (ffi::PyIndex_Check(obj.as_ptr()) != 0, !number.is_null() && (*number).nb_float.is_some())
        };
        if index {
            let int = obj.call_method0("__index__").map_err(fail)?;
            return self.int(&int).map(Some);
        }
        if float {
            let value: f64 = obj.extract().map_err(fail)?;
            return self.env.double(value).map(Some);
        }
        Ok(None)
    }
}

fn discard(py: Python<'_>, err: PyErr) {
    err.restore(py);
    // SAFETY: attached; clears the error just restored.
    unsafe { ffi::PyErr_Clear() };
}

/// `datetime.datetime` or a subclass, whether from `_datetime` (C, `tp_name` is qualified) or
/// the pure-Python fallback (a heap type named `datetime` in module `datetime`).
fn is_datetime(obj: &Bound<'_, PyAny>) -> bool {
    // SAFETY: attached; walks the static `tp_base` chain of a live type, reading names only.
    unsafe {
        let mut tp = ffi::Py_TYPE(obj.as_ptr());
        while !tp.is_null() {
            match std::ffi::CStr::from_ptr((*tp).tp_name).to_bytes() {
                b"datetime.datetime" => return true,
                b"datetime" => {
                    let ty = Bound::from_borrowed_ptr(obj.py(), tp.cast());
                    if ty.getattr("__module__").is_ok_and(|m| m.eq("datetime").unwrap_or(false)) {
                        return true;
                    }
                }
                _ => {}
            }
            tp = (*tp).tp_base;
        }
    }
    false
}

/// A Python str as a JS string, straight from its compact representation.
fn string(env: JsEnv, obj: &Bound<'_, PyAny>) -> Result<sys::napi_value> {
    let ptr = obj.as_ptr();
    // SAFETY: attached; `ptr` is a ready str (PEP 393), so kind, data and length are valid and
    // the data stays alive while `obj` does.
    unsafe {
        let len = ffi::PyUnicode_GET_LENGTH(ptr) as usize;
        let data = ffi::PyUnicode_DATA(ptr);
        match ffi::PyUnicode_KIND(ptr) {
            ffi::PyUnicode_1BYTE_KIND => env.string_latin1(std::slice::from_raw_parts(data.cast(), len)),
            ffi::PyUnicode_2BYTE_KIND => env.string_utf16(std::slice::from_raw_parts(data.cast(), len)),
            _ => {
                let chars: &[u32] = std::slice::from_raw_parts(data.cast(), len);
                let mut units = Vec::with_capacity(len * 2);
                for &c in chars {
                    match char::from_u32(c) {
                        Some(ch) => units.extend_from_slice(ch.encode_utf16(&mut [0; 2])),
                        None => units.push(c as u16), // a lone surrogate stays one
                    }
                }
                env.string_utf16(&units)
            }
        }
    }
}
