//! Buffer-protocol exporters (numpy arrays, `array.array`, `memoryview`, bytes-likes) as typed
//! arrays: `py.buffer(p)` (`described`) and `toJS()` of a one-dimensional one
//! (`one_dimensional`). Attached; built with any `JsBuilder` (directly into a JS TypedArray's
//! memory on the JS thread — one copy — or into a `Value` that crosses threads).

use std::mem::MaybeUninit;

use pyo3::exceptions::{PyException, PyMemoryError};
use pyo3::prelude::*;
use pyo3::{ffi, Bound, PyAny};

use super::element::{swap_bytes, Element};
use super::{JsBuilder, Text};
use crate::error::{Error, Result};
use crate::js::{too_long, MAX_ARRAY_LENGTH};
use crate::python::buffer::Exported;
use crate::python::exception;

/// `{ data, shape, format }`: the elements of `obj` in C order as a TypedArray, its dimensions
/// and the one-letter format of the elements.
pub fn described<B: JsBuilder>(b: &mut B, obj: &Bound<'_, PyAny>) -> Result<B::Out> {
    let exported = Exported::of(obj)?.ok_or_else(|| {
        Error::Conversion(format!(
            "a '{}' object does not support the buffer protocol",
            type_name(obj)
        ))
    })?;
    let (element, swapped) = Element::parse(exported.format(), exported.itemsize())?;
    let data = typed(b, &exported, element, swapped)?;
    let shape = exported.shape();
    let dims = b.array(shape.len())?;
    for (i, &d) in shape.iter().enumerate() {
        let d = b.number(d as f64)?;
        b.set_element(&dims, i, d)?;
    }
    let format = b.string(Text::Utf8(element.format()))?;
    let out = b.object()?;
    b.set_property(&out, Text::Utf8("data"), data)?;
    b.set_property(&out, Text::Utf8("shape"), dims)?;
    b.set_property(&out, Text::Utf8("format"), format)?;
    Ok(out)
}

/// A one-dimensional exporter of numbers as its TypedArray, of booleans as an Array of
/// booleans; `None` for anything else (no buffer, an exporter that refuses, another format or
/// shape), which `toJS()` then converts as it did before.
pub fn one_dimensional<B: JsBuilder>(b: &mut B, obj: &Bound<'_, PyAny>) -> Result<Option<B::Out>> {
    let py = obj.py();
    if is_numpy_scalar(obj) || is_masked(obj) {
        return Ok(None); // raw bytes (a datetime64 as 8 × 'B'), or values hiding a mask
    }
    let exported = match Exported::try_of(obj) {
        Ok(Some(exported)) if exported.check().is_ok() => exported,
        Ok(_) => return Ok(None),
        // An exporter that refuses converts another way; an interrupt, a cancellation or
        // running out of memory does not.
        Err(e) if e.is_instance_of::<PyException>(py) && !e.is_instance_of::<PyMemoryError>(py) => {
            return Ok(None)
        }
        Err(e) => return Err(exception::from_pyerr(py, e)),
    };
    let Ok((element, swapped)) = Element::parse(exported.format(), exported.itemsize()) else {
        return Ok(None);
    };
    if exported.shape().len() != 1 {
        return Ok(None);
    }
    if element != Element::Bool {
        return typed(b, &exported, element, swapped).map(Some);
    }
    if exported.len() > MAX_ARRAY_LENGTH {
        return Err(too_long(exported.len())); // before copying what cannot be returned
    }
    let flags = written(exported.len(), &mut |dest| exported.copy_to(dest))?;
    b.booleans(&flags).map(Some)
}

/// The elements as a TypedArray, copied once into the memory the builder provides.
fn typed<B: JsBuilder>(
    b: &mut B,
    exported: &Exported<'_>,
    element: Element,
    swapped: bool,
) -> Result<B::Out> {
    let count = exported.len() / element.size();
    b.typed_array(element, count, &mut |dest| {
        exported.copy_to(dest)?;
        // SAFETY: `copy_to` succeeded, so it wrote every byte of `dest`.
        let dest: &mut [u8] =
            unsafe { std::slice::from_raw_parts_mut(dest.as_mut_ptr().cast(), dest.len()) };
        if swapped {
            swap_bytes(dest, element.size());
        }
        if element == Element::Bool {
            dest.iter_mut().for_each(|flag| *flag = (*flag != 0) as u8); // 0 and 1, as documented
        }
        Ok(())
    })
}

/// Writes every byte of the memory it is given (uninitialized until then), or fails.
pub type Fill<'a> = &'a mut dyn FnMut(&mut [MaybeUninit<u8>]) -> Result<()>;

/// `len` bytes written by `fill`, or `ERR_PY_CONVERSION` if they cannot be allocated (never an
/// abort: a strided view may describe far more memory than the process has).
pub fn written(len: usize, fill: Fill<'_>) -> Result<Vec<u8>> {
    let mut bytes = room(len)?;
    fill(&mut bytes.spare_capacity_mut()[..len])?;
    // SAFETY: `fill` wrote all `len` bytes (its contract), within the capacity reserved.
    unsafe { bytes.set_len(len) };
    Ok(bytes)
}

/// Copies `src` into `dest`, which must be as long: every byte written.
pub fn write(dest: &mut [MaybeUninit<u8>], src: &[u8]) -> Result<()> {
    if dest.len() != src.len() {
        return Err(crate::error::Error::Internal(
            "a copy of the wrong length".into(),
        ));
    }
    // SAFETY: both hold `src.len()` bytes, and a `&mut` cannot overlap a `&`.
    unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dest.as_mut_ptr().cast(), src.len()) };
    Ok(())
}

/// A copy of `bytes`, or `ERR_PY_CONVERSION` if it cannot be allocated.
pub fn copied(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut copy = room(bytes.len())?;
    copy.extend_from_slice(bytes);
    Ok(copy)
}

fn room(len: usize) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    bytes.try_reserve_exact(len).map_err(|_| {
        Error::Conversion(format!("cannot allocate {len} bytes to copy a buffer into"))
    })?;
    Ok(bytes)
}

/// The `tp_name` of `obj`'s type, for messages.
fn type_name(obj: &Bound<'_, PyAny>) -> String {
    // SAFETY: attached; a live object's type has a NUL-terminated `tp_name`.
    unsafe { std::ffi::CStr::from_ptr((*ffi::Py_TYPE(obj.as_ptr())).tp_name) }
        .to_string_lossy()
        .into_owned()
}

/// A `numpy.ma.MaskedArray`: its buffer holds the masked values too. (If `numpy.ma` was never
/// imported, there are none.)
fn is_masked(obj: &Bound<'_, PyAny>) -> bool {
    let py = obj.py();
    let masked = (|| -> PyResult<bool> {
        let modules = py.import("sys")?.getattr("modules")?;
        match modules.get_item("numpy.ma") {
            Ok(ma) => obj.is_instance(&ma.getattr("MaskedArray")?),
            Err(_) => Ok(false),
        }
    })();
    masked.unwrap_or(false)
}

/// An instance of `numpy.generic` (a numpy scalar), found by its C type's name: numpy need not
/// be imported to ask.
fn is_numpy_scalar(obj: &Bound<'_, PyAny>) -> bool {
    // SAFETY: attached; walks the `tp_base` chain of a live object's type, reading names only.
    unsafe {
        let mut tp = ffi::Py_TYPE(obj.as_ptr());
        while !tp.is_null() {
            if std::ffi::CStr::from_ptr((*tp).tp_name).to_bytes() == b"numpy.generic" {
                return true;
            }
            tp = (*tp).tp_base;
        }
    }
    false
}
