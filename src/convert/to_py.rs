//! JS → Python.
//!
//! undefined/null→None, boolean→bool, safe integer→int, other number→float,
//! BigInt→int, string→str, Buffer/Uint8Array→bytes, other TypedArrays→memoryview of the matching
//! format, ArrayBuffer/DataView→bytes, Array→list, Date→datetime (UTC), Map→dict, Set→set,
//! proxy→its Python object, other objects→dict of their own enumerable string keys.

use napi::sys;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PySet};

use super::{too_deep, MAX_DEPTH, MAX_SAFE_INTEGER, PACK_THRESHOLD};
use crate::error::{Error, Result};
use crate::handle::{self, HandleId};
use crate::js::{hooks, JsEnv};
use crate::python::exception;

/// Identity lookups scan linearly up to this many containers, then use a JS `Map`.
const LINEAR_SEEN: usize = 16;

pub struct ToPy<'py> {
    py: Python<'py>,
    env: JsEnv,
    depth: usize,
    /// Containers converted so far: JS object and the Python object made for it.
    seen: Vec<(sys::napi_value, Bound<'py, PyAny>)>,
    /// JS object → index into `seen`, once `seen` outgrows a linear scan.
    seen_map: Option<(sys::napi_value, sys::napi_value, sys::napi_value)>,
}

impl<'py> ToPy<'py> {
    pub fn new(py: Python<'py>, env: JsEnv) -> Self {
        Self {
            py,
            env,
            depth: 0,
            seen: Vec::new(),
            seen_map: None,
        }
    }

    pub fn convert(&mut self, v: sys::napi_value) -> Result<Bound<'py, PyAny>> {
        let (py, env) = (self.py, self.env);
        match env.type_of(v)? {
            sys::ValueType::napi_undefined | sys::ValueType::napi_null => Ok(py.None().into_bound(py)),
            sys::ValueType::napi_boolean => {
                let b = env.get_bool(v)?;
                Ok(pyo3::types::PyBool::new(py, b).to_owned().into_any())
            }
            sys::ValueType::napi_number => number(py, env.get_double(v)?),
            sys::ValueType::napi_string => env.with_utf8(v, |s| pyo3::types::PyString::new(py, s).into_any()),
            sys::ValueType::napi_bigint => self.bigint(v),
            sys::ValueType::napi_object => self.object(v),
            sys::ValueType::napi_function => match self.proxied(v)? {
                Some(obj) => Ok(obj),
                None => Err(Error::invalid_arg(
                    "a JS function cannot be passed to Python (only pyembed proxies can)",
                )),
            },
            other => Err(Error::invalid_arg(format!(
                "cannot convert a JS {} to Python",
                type_name(other)
            ))),
        }
    }

    fn object(&mut self, v: sys::napi_value) -> Result<Bound<'py, PyAny>> {
        let (py, env) = (self.py, self.env);
        if let Some(done) = self.lookup(v)? {
            return Ok(done);
        }
        if self.depth >= MAX_DEPTH {
            return Err(too_deep());
        }
        self.depth += 1;
        let result = (|| {
            if env.is_array(v)? {
                return self.array(v);
            }
            if let Some(obj) = self.proxied(v)? {
                return Ok(obj);
            }
            if let Some(bytes) = env.with_binary(v, |kind, bytes| binary(py, kind, bytes))? {
                return bytes;
            }
            if env.is_date(v)? {
                return date(py, env.date_value(v)?);
            }
            if env.instance_of(v, hooks::get(env, |h| h.map_ctor)?)? {
                return self.map(v);
            }
            if env.instance_of(v, hooks::get(env, |h| h.set_ctor)?)? {
                return self.set(v);
            }
            self.plain(v)
        })();
        self.depth -= 1;
        result
    }

    /// The Python object behind a proxy (or a proxy's cached method), if `v` is one.
    fn proxied(&mut self, v: sys::napi_value) -> Result<Option<Bound<'py, PyAny>>> {
        let env = self.env;
        let id = env.get_property(v, hooks::get(env, |h| h.handle_symbol)?)?;
        if env.type_of(id)? != sys::ValueType::napi_number {
            return Ok(None);
        }
        let id = env.get_double(id)? as HandleId;
        let ptr = handle::with(|r| r.get(id))?;
        // SAFETY: the registry holds a strong reference; we take another one.
        let obj = unsafe { Bound::from_borrowed_ptr(self.py, ptr) };
        let method = env.get_property(v, hooks::get(env, |h| h.method_symbol)?)?;
        if env.type_of(method)? != sys::ValueType::napi_string {
            return Ok(Some(obj));
        }
        let name = env.get_string(method)?;
        obj.getattr(name.as_str())
            .map(Some)
            .map_err(|e| exception::from_pyerr(self.py, e))
    }

    fn lookup(&mut self, v: sys::napi_value) -> Result<Option<Bound<'py, PyAny>>> {
        let env = self.env;
        if let Some((map, get, _)) = self.seen_map {
            let index = env.call(get, map, &[v])?;
            if env.type_of(index)? == sys::ValueType::napi_number {
                return Ok(Some(self.seen[env.get_double(index)? as usize].1.clone()));
            }
            return Ok(None);
        }
        for (js, py) in &self.seen {
            if env.strict_equals(*js, v)? {
                return Ok(Some(py.clone()));
            }
        }
        Ok(None)
    }

    fn remember(&mut self, v: sys::napi_value, obj: &Bound<'py, PyAny>) -> Result<()> {
        let env = self.env;
        self.seen.push((v, obj.clone()));
        if self.seen_map.is_none() && self.seen.len() > LINEAR_SEEN {
            let map = env.new_instance(hooks::get(env, |h| h.map_ctor)?, &[])?;
            let get = env.get_property(map, env.string("get")?)?;
            let set = env.get_property(map, env.string("set")?)?;
            for (i, (js, _)) in self.seen.iter().enumerate() {
                env.call(set, map, &[*js, env.double(i as f64)?])?;
            }
            self.seen_map = Some((map, get, set));
        } else if let Some((map, _, set)) = self.seen_map {
            env.call(set, map, &[v, env.double((self.seen.len() - 1) as f64)?])?;
        }
        Ok(())
    }

    fn array(&mut self, v: sys::napi_value) -> Result<Bound<'py, PyAny>> {
        let (py, env) = (self.py, self.env);
        let len = env.array_len(v)?;
        if len as usize >= PACK_THRESHOLD {
            if let Some(list) = self.numbers(v, len as usize)? {
                self.remember(v, &list)?;
                return Ok(list);
            }
        }
        let list = new_list(py, len as usize)?;
        self.remember(v, &list)?;
        for i in 0..len {
            let item = self.convert(env.get_element(v, i)?)?;
            // SAFETY: `list` has `len` slots, slot `i` is still empty; SET_ITEM steals `item`.
            unsafe { ffi::PyList_SET_ITEM(list.as_ptr(), i as ffi::Py_ssize_t, item.into_ptr()) };
        }
        Ok(list)
    }

    /// An Array of numbers as a list, filled chunk by chunk from the TS `packNumbers` hook;
    /// `None` as soon as a chunk holds anything else.
    fn numbers(&mut self, v: sys::napi_value, len: usize) -> Result<Option<Bound<'py, PyAny>>> {
        let (py, env) = (self.py, self.env);
        let pack = hooks::get(env, |h| h.pack_numbers)?;
        let undefined = env.undefined()?;
        let list = new_list(py, len)?;
        let mut filled = 0;
        while filled < len {
            let packed = env.call(pack, undefined, &[v, env.double(filled as f64)?])?;
            let chunk =
                env.with_binary(packed, |_, bytes| fill_numbers(&list, filled, len - filled, bytes))?;
            match chunk {
                Some(Ok(0)) | None => return Ok(None), // a non-number (or the array shrank)
                Some(Ok(count)) => filled += count,
                Some(Err(e)) => return Err(e),
            }
        }
        Ok(Some(list))
    }

    fn plain(&mut self, v: sys::napi_value) -> Result<Bound<'py, PyAny>> {
        let env = self.env;
        let dict = PyDict::new(self.py);
        self.remember(v, dict.as_any())?;
        let keys = env.own_keys(v)?;
        for i in 0..env.array_len(keys)? {
            let key = env.get_element(keys, i)?;
            let value = self.convert(env.get_property(v, key)?)?;
            let key = env.with_utf8(key, |s| pyo3::types::PyString::new(self.py, s))?;
            dict.set_item(key, value).map_err(|e| exception::from_pyerr(self.py, e))?;
        }
        Ok(dict.into_any())
    }

    /// Entries of a Map or values of a Set, via the TS helper `Array.from`.
    fn items(&mut self, v: sys::napi_value) -> Result<sys::napi_value> {
        let env = self.env;
        env.call(hooks::get(env, |h| h.to_array)?, env.undefined()?, &[v])
    }

    fn map(&mut self, v: sys::napi_value) -> Result<Bound<'py, PyAny>> {
        let env = self.env;
        let dict = PyDict::new(self.py);
        self.remember(v, dict.as_any())?;
        let entries = self.items(v)?;
        for i in 0..env.array_len(entries)? {
            let entry = env.get_element(entries, i)?;
            let key = self.convert(env.get_element(entry, 0)?)?;
            let value = self.convert(env.get_element(entry, 1)?)?;
            dict.set_item(key, value).map_err(|e| unhashable(self.py, e))?;
        }
        Ok(dict.into_any())
    }

    fn set(&mut self, v: sys::napi_value) -> Result<Bound<'py, PyAny>> {
        let env = self.env;
        let set = PySet::empty(self.py).map_err(|e| exception::from_pyerr(self.py, e))?;
        self.remember(v, set.as_any())?;
        let values = self.items(v)?;
        for i in 0..env.array_len(values)? {
            let item = self.convert(env.get_element(values, i)?)?;
            set.add(item).map_err(|e| unhashable(self.py, e))?;
        }
        Ok(set.into_any())
    }

    fn bigint(&mut self, v: sys::napi_value) -> Result<Bound<'py, PyAny>> {
        let py = self.py;
        let (negative, words) = self.env.get_bigint(v)?;
        let magnitude = match words.as_slice() {
            [] => 0u64,
            [w] => *w,
            _ => u64::MAX,
        };
        if magnitude <= i64::MAX as u64 {
            let value = if negative { -(magnitude as i64) } else { magnitude as i64 };
            // SAFETY: attached; returns a new reference (or NULL on memory error).
            let int = unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyLong_FromLongLong(value)) };
            return int.map_err(|e| exception::from_pyerr(py, e));
        }
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        let result = (|| {
            let int = py
                .get_type::<pyo3::types::PyInt>()
                .call_method1("from_bytes", (PyBytes::new(py, &bytes), "little"))?;
            if negative {
                int.neg()
            } else {
                Ok(int)
            }
        })();
        result.map_err(|e| exception::from_pyerr(py, e))
    }
}

/// A list of `len` empty slots, to be filled with `PyList_SET_ITEM` (empty slots are safe to
/// drop if filling fails).
fn new_list(py: Python<'_>, len: usize) -> Result<Bound<'_, PyAny>> {
    // SAFETY: attached; returns a new reference or NULL with MemoryError set.
    unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyList_New(len as ffi::Py_ssize_t)) }
        .map_err(|e| exception::from_pyerr(py, e))
}

/// Stores the numbers packed in a Float64Array's bytes into `list[start..]` and returns how
/// many; 0 (nothing stored) if they are none or more than the `room` left.
fn fill_numbers(list: &Bound<'_, PyAny>, start: usize, room: usize, bytes: &[u8]) -> Result<usize> {
    let count = bytes.len() / 8;
    if count == 0 || count > room {
        return Ok(0);
    }
    // SAFETY: attached; `list` is a list made by `new_list` whose slots `start..start + room`
    // are still empty (NULL), and `count <= room`; each slot gets one new reference.
    unsafe {
        let items = (*list.as_ptr().cast::<ffi::PyListObject>()).ob_item.add(start);
        for (i, chunk) in bytes.chunks_exact(8).enumerate() {
            let value = number_ptr(f64::from_ne_bytes(chunk.try_into().expect("8-byte chunk")));
            if value.is_null() {
                return Err(exception::take(list.py()));
            }
            *items.add(i) = value;
        }
    }
    Ok(count)
}

/// Safe integers (|x| ≤ 2^53 − 1) become int; every other number, -0 included, is a float, so
/// numbers round-trip exactly.
fn number(py: Python<'_>, d: f64) -> Result<Bound<'_, PyAny>> {
    // SAFETY: attached; a new reference, or NULL with MemoryError set.
    unsafe { Bound::from_owned_ptr_or_opt(py, number_ptr(d)) }.ok_or_else(|| exception::take(py))
}

/// `number` as a raw new reference (NULL on memory error). Call attached.
#[inline(always)]
unsafe fn number_ptr(d: f64) -> *mut ffi::PyObject {
    let small = d as i64; // saturates; NaN gives 0
    let integral = small as f64 == d
        && (-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(&small)
        && !(small == 0 && d.is_sign_negative());
    // SAFETY: the caller is attached.
    unsafe {
        if integral {
            ffi::PyLong_FromLongLong(small)
        } else {
            ffi::PyFloat_FromDouble(d)
        }
    }
}

/// Buffer/Uint8Array/ArrayBuffer/DataView → bytes; other typed arrays → memoryview with format.
fn binary<'py>(
    py: Python<'py>,
    kind: Option<sys::napi_typedarray_type>,
    bytes: &[u8],
) -> Result<Bound<'py, PyAny>> {
    use sys::TypedarrayType as T;
    let data = PyBytes::new(py, bytes).into_any();
    let format = match kind {
        None | Some(T::uint8_array) | Some(T::uint8_clamped_array) => return Ok(data),
        Some(T::int8_array) => "b",
        Some(T::int16_array) => "h",
        Some(T::uint16_array) => "H",
        Some(T::int32_array) => "i",
        Some(T::uint32_array) => "I",
        Some(T::float32_array) => "f",
        Some(T::float64_array) => "d",
        Some(T::bigint64_array) => "q",
        Some(_) => "Q",
    };
    let view = (|| {
        pyo3::types::PyMemoryView::from(&data)?.call_method1("cast", (format,))
    })();
    view.map_err(|e| exception::from_pyerr(py, e))
}

/// A JS Date → timezone-aware `datetime` in UTC.
fn date(py: Python<'_>, ms: f64) -> Result<Bound<'_, PyAny>> {
    if !ms.is_finite() {
        return Err(Error::invalid_arg("cannot convert an invalid Date to Python"));
    }
    let result = (|| {
        let datetime = py.import("datetime")?;
        let utc = datetime.getattr("timezone")?.getattr("utc")?;
        datetime
            .getattr("datetime")?
            .call_method1("fromtimestamp", (ms / 1000.0, utc))
    })();
    result.map_err(|e| exception::from_pyerr(py, e))
}

fn unhashable(py: Python<'_>, err: PyErr) -> Error {
    match exception::from_pyerr(py, err) {
        Error::Python(e) => Error::Conversion(format!(
            "a Map key or Set value cannot be a Python dict/set key: {}: {}",
            e.type_name, e.message
        )),
        other => other,
    }
}

fn type_name(t: sys::napi_valuetype) -> &'static str {
    match t {
        sys::ValueType::napi_symbol => "symbol",
        sys::ValueType::napi_external => "external",
        _ => "value of this type",
    }
}
