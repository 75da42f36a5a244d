//! `PyObjects`: builds Python objects. Runs attached.

use std::sync::Arc;

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyMemoryView, PySet, PyString, PyTuple};

use super::{unpack, Element, PyBuilder, MAX_SAFE_INTEGER};
use crate::callback::JsCallback;
use crate::context::ObjectRef;
use crate::error::{Error, Result};
use crate::python::{buffer, exception};

pub struct PyObjects<'py> {
    py: Python<'py>,
}

impl<'py> PyObjects<'py> {
    pub fn new(py: Python<'py>) -> Self {
        Self { py }
    }

    /// A new reference from a C-API constructor, or the exception it raised.
    fn owned(&self, ptr: *mut ffi::PyObject) -> Result<Bound<'py, PyAny>> {
        // SAFETY: attached; `ptr` is a new reference or NULL with an exception set.
        unsafe { Bound::from_owned_ptr_or_opt(self.py, ptr) }
            .ok_or_else(|| exception::take(self.py))
    }

    fn fail(&self) -> impl Fn(PyErr) -> Error + 'py {
        let py = self.py;
        move |e| exception::from_pyerr(py, e)
    }
}

impl<'py> PyBuilder for PyObjects<'py> {
    type Out = Bound<'py, PyAny>;

    fn none(&mut self) -> Result<Self::Out> {
        Ok(self.py.None().into_bound(self.py))
    }

    fn boolean(&mut self, b: bool) -> Result<Self::Out> {
        Ok(pyo3::types::PyBool::new(self.py, b).to_owned().into_any())
    }

    fn number(&mut self, d: f64) -> Result<Self::Out> {
        // SAFETY: attached.
        self.owned(unsafe { number_ptr(d) })
    }

    fn bigint(&mut self, negative: bool, words: &[u64]) -> Result<Self::Out> {
        let py = self.py;
        let magnitude = match words {
            [] => 0u64,
            [w] => *w,
            _ => u64::MAX,
        };
        if magnitude <= i64::MAX as u64 {
            let value = if negative {
                -(magnitude as i64)
            } else {
                magnitude as i64
            };
            // SAFETY: attached.
            return self.owned(unsafe { ffi::PyLong_FromLongLong(value) });
        }
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        let int = py
            .get_type::<pyo3::types::PyInt>()
            .call_method1("from_bytes", (PyBytes::new(py, &bytes), "little"))
            .map_err(self.fail())?;
        if negative {
            int.neg().map_err(self.fail())
        } else {
            Ok(int)
        }
    }

    fn string(&mut self, s: &str) -> Result<Self::Out> {
        Ok(PyString::new(self.py, s).into_any())
    }

    /// Buffer, Uint8Array, ArrayBuffer, DataView → bytes (a copy).
    fn bytes(&mut self, bytes: &[u8]) -> Result<Self::Out> {
        // SAFETY: attached; copies `bytes.len()` readable bytes (NULL + MemoryError if it
        // cannot allocate them).
        self.owned(unsafe {
            ffi::PyBytes_FromStringAndSize(bytes.as_ptr().cast(), bytes.len() as ffi::Py_ssize_t)
        })
    }

    /// A bytearray holding one copy (a plain allocation: no Python code runs).
    fn elements(&mut self, bytes: &[u8]) -> Result<Self::Out> {
        // SAFETY: attached; copies `bytes.len()` readable bytes (NULL + MemoryError if it
        // cannot allocate them).
        self.owned(unsafe {
            ffi::PyByteArray_FromStringAndSize(
                bytes.as_ptr().cast(),
                bytes.len() as ffi::Py_ssize_t,
            )
        })
    }

    /// Other TypedArrays → a writable memoryview over that bytearray, cast to the element's
    /// format (and `shape`): `numpy.asarray` of it copies nothing more.
    fn typed(
        &mut self,
        data: Self::Out,
        element: Element,
        shape: Option<&[usize]>,
    ) -> Result<Self::Out> {
        let py = self.py;
        if let Some(shape) = shape.filter(|s| s.len() > 1 && s.contains(&0)) {
            return buffer::empty(py, element.format_c(), element.size(), shape);
        }
        let shape = shape.filter(|s| s != &[0]); // `cast` refuses a 0 in a shape
        let format = element.format();
        PyMemoryView::from(&data)
            .and_then(|view| match shape {
                None => view.call_method1("cast", (format,)),
                Some(shape) => view.call_method1("cast", (format, PyTuple::new(py, shape)?)),
            })
            .map_err(self.fail())
    }

    /// A JS Date → timezone-aware `datetime` in UTC.
    fn date(&mut self, ms: f64) -> Result<Self::Out> {
        if !ms.is_finite() {
            return Err(Error::invalid_arg(
                "cannot convert an invalid Date to Python",
            ));
        }
        let py = self.py;
        (|| {
            let datetime = py.import("datetime")?;
            let utc = datetime.getattr("timezone")?.getattr("utc")?;
            datetime
                .getattr("datetime")?
                .call_method1("fromtimestamp", (ms / 1000.0, utc))
        })()
        .map_err(self.fail())
    }

    /// `object` is of this interpreter: the walk that found it checked (`ToPy::for_interp`).
    fn object(&mut self, object: &Arc<ObjectRef>, method: Option<String>) -> Result<Self::Out> {
        let obj = object.bind(self.py);
        match method {
            Some(name) => obj.getattr(name.as_str()).map_err(self.fail()),
            None => Ok(obj),
        }
    }

    fn numbers(&mut self, len: usize) -> Result<Self::Out> {
        self.list(len)
    }

    fn fill_numbers(
        &mut self,
        list: &Self::Out,
        start: usize,
        room: usize,
        packed: &[u8],
    ) -> Result<usize> {
        let Some(values) = unpack(packed, room) else {
            return Ok(0);
        };
        // SAFETY: attached; `list` was made by `list(len)` with slots `start..start + room` still
        // empty (NULL), and `unpack` yields at most `room` numbers; each slot gets one new
        // reference.
        unsafe {
            let items = (*list.as_ptr().cast::<ffi::PyListObject>())
                .ob_item
                .add(start);
            for (i, d) in values.enumerate() {
                let value = number_ptr(d);
                if value.is_null() {
                    return Err(exception::take(self.py));
                }
                *items.add(i) = value;
            }
        }
        Ok(packed.len() / 8)
    }

    /// A list of `len` empty slots (empty slots are safe to drop if filling fails).
    fn list(&mut self, len: usize) -> Result<Self::Out> {
        // SAFETY: attached.
        self.owned(unsafe { ffi::PyList_New(len as ffi::Py_ssize_t) })
    }

    fn list_set(&mut self, list: &Self::Out, index: usize, item: Self::Out) -> Result<()> {
        // SAFETY: `list` came from `list(len)` with `index < len`, each slot set once;
        // SET_ITEM steals the reference.
        unsafe { ffi::PyList_SET_ITEM(list.as_ptr(), index as ffi::Py_ssize_t, item.into_ptr()) };
        Ok(())
    }

    fn dict(&mut self) -> Result<Self::Out> {
        Ok(PyDict::new(self.py).into_any())
    }

    fn dict_set(&mut self, dict: &Self::Out, key: Self::Out, value: Self::Out) -> Result<()> {
        // SAFETY: `dict` came from `dict()`.
        let dict = unsafe { dict.cast_unchecked::<PyDict>() };
        dict.set_item(key, value)
            .map_err(|e| unhashable(self.py, e))
    }

    fn set(&mut self) -> Result<Self::Out> {
        PySet::empty(self.py)
            .map(|s| s.into_any())
            .map_err(self.fail())
    }

    fn set_add(&mut self, set: &Self::Out, item: Self::Out) -> Result<()> {
        // SAFETY: `set` came from `set()`.
        let set = unsafe { set.cast_unchecked::<PySet>() };
        set.add(item).map_err(|e| unhashable(self.py, e))
    }

    fn callback(&mut self, callback: Arc<JsCallback>) -> Result<Self::Out> {
        crate::callback::callable(self.py, callback)
    }

    fn promise(&mut self, ticket: u32) -> Result<Self::Out> {
        crate::callback::js_promise(self.py, ticket)
    }
}

/// Safe integers (|x| ≤ 2^53 − 1) become int; every other number, -0 included, is a float, so
/// numbers round-trip exactly. A new reference, NULL on memory error.
///
/// # Safety
/// The caller is attached.
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

fn unhashable(py: Python<'_>, err: PyErr) -> Error {
    match exception::from_pyerr(py, err) {
        Error::Python(e) => Error::Conversion(format!(
            "a Map key or Set value cannot be a Python dict/set key: {}: {}",
            e.type_name, e.message
        )),
        other => other,
    }
}
