//! Buffer-protocol exporters (numpy arrays, `array.array`, `memoryview`, bytes-likes) as typed
//! arrays: `py.buffer(p)` (`described`) and `toJS()` of a one-dimensional one
//! (`one_dimensional`). Attached; built with any `JsBuilder` (directly into a JS TypedArray's
//! memory on the JS thread — one copy — or into a `Value` that crosses threads).

use std::mem::MaybeUninit;

use pyo3::{ffi, Bound, PyAny};

use super::element::{swap_bytes, Element};
use super::{JsBuilder, Text};
use crate::error::{Error, Result};
use crate::python::buffer::Exported;

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
    if is_numpy_scalar(obj) {
        return Ok(None); // some export their raw bytes (a datetime64 as 8 × 'B')
    }
    let Ok(Some(exported)) = Exported::of(obj) else {
        return Ok(None); // an exporter's exception is dropped: it converts another way
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
    let flags = written(exported.len(), &mut |dest| exported.copy_to(dest))?;
    let array = b.array(flags.len())?;
    for (i, &flag) in flags.iter().enumerate() {
        let flag = b.boolean(flag != 0)?;
        b.set_element(&array, i, flag)?;
    }
    Ok(Some(array))
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
        if swapped {
            // SAFETY: `copy_to` succeeded, so it wrote every byte of `dest`.
            let dest =
                unsafe { std::slice::from_raw_parts_mut(dest.as_mut_ptr().cast(), dest.len()) };
            swap_bytes(dest, element.size());
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
