//! Python → JS: walks Python objects and builds with a `JsBuilder` (JS values directly on the
//! JS thread, or a thread-crossing `Value`).
//!
//! None→null, bool, int→number (|x| ≤ 2^53−1) else BigInt, float→number, str→string,
//! bytes/bytearray→Buffer, list/tuple→Array, dict with str keys→object (other keys→Map),
//! set/frozenset→Set, datetime→Date, anything else→proxy; deeper conversions unpack more
//! (see `Depth`).

use std::collections::HashMap;

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};

use super::{too_deep, Depth, JsBuilder, Text, MAX_DEPTH, MAX_SAFE_INTEGER, PACK_THRESHOLD};
use crate::context::ObjectRef;
use crate::error::{Error, Result};
use crate::js::{too_long, MAX_ARRAY_LENGTH};
use crate::python::exception;

pub struct ToJs<'py, B: JsBuilder> {
    build: B,
    unpack: Depth,
    depth: usize,
    /// Containers (and proxies) already converted, by object address; each kept alive for the
    /// walk, so Python code running meanwhile cannot free one and reuse its address.
    seen: HashMap<*mut ffi::PyObject, (B::Out, Bound<'py, PyAny>)>,
}

impl<'py, B: JsBuilder> ToJs<'py, B> {
    pub fn new(build: B, unpack: Depth) -> Self {
        Self {
            build,
            unpack,
            depth: 0,
            seen: HashMap::new(),
        }
    }

    /// The builder, to take what it built (a `Value`) after converting.
    pub fn into_builder(self) -> B {
        self.build
    }

    pub fn convert(&mut self, obj: &Bound<'py, PyAny>) -> Result<B::Out> {
        let b = &mut self.build;
        let ptr = obj.as_ptr();
        // SAFETY: (all the type checks below) attached, `ptr` is a live object.
        unsafe {
            if ptr == ffi::Py_None() {
                return b.null();
            }
            if ffi::PyBool_Check(ptr) != 0 {
                return b.boolean(ptr == ffi::Py_True());
            }
            if ffi::PyFloat_Check(ptr) != 0 {
                return b.number(ffi::PyFloat_AS_DOUBLE(ptr));
            }
            if ffi::PyLong_Check(ptr) != 0 {
                return self.int(obj);
            }
            if ffi::PyUnicode_Check(ptr) != 0 {
                return b.string(text(obj));
            }
            if ffi::PyBytes_Check(ptr) != 0 {
                return b.buffer(obj.cast_unchecked::<PyBytes>().as_bytes());
            }
            if ffi::PyByteArray_Check(ptr) != 0 {
                let data = ffi::PyByteArray_AsString(ptr) as *const u8;
                let len = ffi::PyByteArray_Size(ptr) as usize;
                let bytes = if len == 0 {
                    &[][..]
                } else {
                    std::slice::from_raw_parts(data, len)
                };
                return b.buffer(bytes);
            }
        }
        if let Some((done, _)) = self.seen.get(&ptr) {
            return Ok(done.clone());
        }
        if self.depth >= MAX_DEPTH {
            return Err(too_deep());
        }
        self.depth += 1;
        let result = self.container(obj);
        self.depth -= 1;
        result
    }

    fn container(&mut self, obj: &Bound<'py, PyAny>) -> Result<B::Out> {
        let py = obj.py();
        if let Ok(list) = obj.cast::<PyList>() {
            if let Some(packed) = self.numbers(obj, list.len())? {
                return Ok(packed);
            }
            // Python code may run while items convert (a datetime subclass's `timestamp`, a
            // GIL switch): the list may shrink meanwhile.
            return self.sequence(obj, list.len(), |i| list.get_item(i).map_err(|_| changed()));
        }
        if let Ok(tuple) = obj.cast::<PyTuple>() {
            if let Some(packed) = self.numbers(obj, tuple.len())? {
                return Ok(packed);
            }
            return self.sequence(obj, tuple.len(), |i| {
                tuple.get_item(i).map_err(|_| changed())
            });
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
            return self.build.date(seconds * 1000.0);
        }
        if self.unpack != Depth::Shallow && super::buffer::is_masked(obj)? {
            // numpy's masked array: its buffer and its items hold the masked values too;
            // `tolist()` gives None for them.
            let list = obj
                .call_method0("tolist")
                .map_err(|e| exception::from_pyerr(py, e))?;
            let done = self.convert(&list)?;
            self.remember(obj, &done);
            return Ok(done);
        }
        if self.unpack == Depth::Deep {
            if let Some(done) = super::buffer::unpacked(&mut self.build, obj)? {
                self.remember(obj, &done);
                return Ok(done);
            }
        }
        if self.unpack != Depth::Shallow {
            if let Some(done) = self.protocols(obj)? {
                return Ok(done);
            }
        }
        let proxy = self.build.proxy(ObjectRef::of(obj), obj.is_callable())?;
        self.remember(obj, &proxy);
        Ok(proxy)
    }

    fn remember(&mut self, obj: &Bound<'py, PyAny>, built: &B::Out) {
        self.seen.insert(obj.as_ptr(), (built.clone(), obj.clone()));
    }

    fn int(&mut self, obj: &Bound<'py, PyAny>) -> Result<B::Out> {
        let mut overflow = 0;
        // SAFETY: attached; `obj` is an int, so this cannot raise except by overflow flag.
        let v = unsafe { ffi::PyLong_AsLongLongAndOverflow(obj.as_ptr(), &mut overflow) };
        if overflow == 0 && (-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(&v) {
            return self.build.number(v as f64);
        }
        let py = obj.py();
        // Rare: big integers go through int.to_bytes, little-endian, magnitude only.
        let (negative, words) = (|| -> PyResult<(bool, Vec<u64>)> {
            let negative = obj.lt(0)?;
            let magnitude = obj.call_method0("__abs__")?;
            let bits: usize = magnitude.call_method0("bit_length")?.extract()?;
            let len = bits.div_ceil(64) * 8;
            let bytes = magnitude.call_method1("to_bytes", (len, "little"))?;
            let bytes = bytes.cast::<PyBytes>()?.as_bytes();
            // An int subclass may answer `to_bytes` with any length: pad the last word.
            let words = bytes
                .chunks(8)
                .map(|c| {
                    let mut word = [0u8; 8];
                    word[..c.len()].copy_from_slice(c);
                    u64::from_le_bytes(word)
                })
                .collect();
            Ok((negative, words))
        })()
        .map_err(|e| exception::from_pyerr(py, e))?;
        self.build.bigint(negative, &words)
    }

    /// A long list or tuple of floats and safe integers is built in one go (a packed
    /// Float64Array for JS). `None` if it is short or holds anything else.
    fn numbers(&mut self, obj: &Bound<'py, PyAny>, len: usize) -> Result<Option<B::Out>> {
        if len < PACK_THRESHOLD {
            return Ok(None);
        }
        if len > MAX_ARRAY_LENGTH {
            return Err(too_long(len));
        }
        let mut values = Vec::new();
        values
            .try_reserve_exact(len)
            .map_err(|_| Error::Conversion(format!("cannot allocate {len} numbers")))?;
        // SAFETY: attached; `obj` is a list or tuple whose items are read borrowed, with no
        // Python code running in between that could mutate it.
        unsafe {
            let items = if ffi::PyList_Check(obj.as_ptr()) != 0 {
                (*obj.as_ptr().cast::<ffi::PyListObject>()).ob_item
            } else {
                (*obj.as_ptr().cast::<ffi::PyTupleObject>())
                    .ob_item
                    .as_mut_ptr()
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
        let array = self.build.numbers(&values)?;
        self.remember(obj, &array);
        Ok(Some(array))
    }

    fn sequence(
        &mut self,
        obj: &Bound<'py, PyAny>,
        len: usize,
        item: impl Fn(usize) -> Result<Bound<'py, PyAny>>,
    ) -> Result<B::Out> {
        let array = self.build.array(len)?;
        self.remember(obj, &array);
        for i in 0..len {
            let value = self.convert(&item(i)?)?;
            self.build.set_element(&array, i, value)?;
        }
        Ok(array)
    }

    fn dict(&mut self, obj: &Bound<'py, PyAny>, dict: &Bound<'py, PyDict>) -> Result<B::Out> {
        // A private copy: Python code running while values convert cannot change its size or
        // its keys (which are checked once, then read as str).
        let dict = dict
            .copy()
            .map_err(|e| exception::from_pyerr(obj.py(), e))?;
        let string_keys = dict.keys().iter().all(|k| k.is_instance_of::<PyString>());
        let target = if string_keys {
            self.build.object()?
        } else {
            self.build.map()?
        };
        self.remember(obj, &target);
        for (k, v) in dict.iter() {
            let value = self.convert(&v)?;
            if string_keys {
                self.build.set_property(&target, text(&k), value)?;
            } else {
                let key = self.convert(&k)?;
                self.build.map_set(&target, key, value)?;
            }
        }
        Ok(target)
    }

    fn set(&mut self, obj: &Bound<'py, PyAny>) -> Result<B::Out> {
        let py = obj.py();
        let set = self.build.set()?;
        self.remember(obj, &set);
        let iter = obj.try_iter().map_err(|e| exception::from_pyerr(py, e))?;
        for item in iter {
            let item = item.map_err(|e| exception::from_pyerr(py, e))?;
            let value = self.convert(&item)?;
            self.build.set_add(&set, value)?;
        }
        Ok(set)
    }

    /// `toJS()` only: mappings → object/Map, iterables → Array, `__index__` → int,
    /// `__float__` → number. `None` if no protocol applies.
    fn protocols(&mut self, obj: &Bound<'py, PyAny>) -> Result<Option<B::Out>> {
        let py = obj.py();
        let fail = |e| exception::from_pyerr(py, e);
        if obj.hasattr("keys").map_err(fail)? && obj.hasattr("__getitem__").map_err(fail)? {
            // `dict.update` directly, not through `PyMapping`, whose type check caches
            // `collections.abc.Mapping` process-wide (contexts must not share it).
            let dict = PyDict::new(py);
            dict.call_method1("update", (obj,)).map_err(fail)?;
            return self.dict(obj, &dict).map(Some);
        }
        match obj.try_iter() {
            Ok(iter) => {
                let items = iter.collect::<PyResult<Vec<_>>>().map_err(fail)?;
                return self
                    .sequence(obj, items.len(), |i| Ok(items[i].clone()))
                    .map(Some);
            }
            Err(e) if e.is_instance_of::<pyo3::exceptions::PyTypeError>(py) => {
                discard(py, e);
            }
            Err(e) => return Err(fail(e)),
        }
        // SAFETY: attached, live object; the checks only read type slots.
        let (index, float) = unsafe {
            let number = (*ffi::Py_TYPE(obj.as_ptr())).tp_as_number;
            (
                ffi::PyIndex_Check(obj.as_ptr()) != 0,
                !number.is_null() && (*number).nb_float.is_some(),
            )
        };
        if index {
            let int = obj.call_method0("__index__").map_err(fail)?;
            return self.int(&int).map(Some);
        }
        if float {
            let value: f64 = obj.extract().map_err(fail)?;
            return self.build.number(value).map(Some);
        }
        Ok(None)
    }
}

fn changed() -> Error {
    Error::Conversion("a list or tuple changed size while it was converted".into())
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
                    if ty
                        .getattr("__module__")
                        .is_ok_and(|m| m.eq("datetime").unwrap_or(false))
                    {
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

/// A Python str's characters, borrowed from its compact representation (PEP 393).
fn text<'a>(obj: &'a Bound<'_, PyAny>) -> Text<'a> {
    let ptr = obj.as_ptr();
    // SAFETY: attached; `ptr` is a ready str, so kind, data and length are valid, and the data
    // lives as long as `obj` does.
    unsafe {
        let len = ffi::PyUnicode_GET_LENGTH(ptr) as usize;
        let data = ffi::PyUnicode_DATA(ptr);
        match ffi::PyUnicode_KIND(ptr) {
            ffi::PyUnicode_1BYTE_KIND => Text::Latin1(std::slice::from_raw_parts(data.cast(), len)),
            ffi::PyUnicode_2BYTE_KIND => Text::Ucs2(std::slice::from_raw_parts(data.cast(), len)),
            _ => Text::Ucs4(std::slice::from_raw_parts(data.cast(), len)),
        }
    }
}
