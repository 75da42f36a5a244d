//! Buffer-protocol exporters (numpy arrays, `array.array`, `memoryview`, bytes-likes) as typed
//! arrays: `py.buffer(p)` (`described`) and `toJS()` of a one- or zero-dimensional one
//! (`unpacked`). Attached; built with any `JsBuilder` (directly into a JS TypedArray's
//! memory on the JS thread — one copy — or into a `Value` that crosses threads).

use std::mem::MaybeUninit;

use pyo3::exceptions::{PyException, PyMemoryError};
use pyo3::prelude::*;
use pyo3::{ffi, Bound, PyAny};

use super::element::{swap_bytes, Element};
use super::{JsBuilder, Text, MAX_SAFE_INTEGER};
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
/// booleans; a zero-dimensional one as its number or boolean; `None` for anything else (no
/// buffer, an exporter that refuses, another format or shape), which `toJS()` then converts as
/// it did before.
pub fn unpacked<B: JsBuilder>(b: &mut B, obj: &Bound<'_, PyAny>) -> Result<Option<B::Out>> {
    let py = obj.py();
    if is_numpy_scalar(obj) {
        return Ok(None); // some export raw bytes (a datetime64 as 8 × 'B')
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
    match exported.shape().len() {
        0 => return item(b, &exported, element, swapped).map(Some),
        1 => {}
        _ => return Ok(None),
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

/// The one element of a zero-dimensional buffer as a number (a BigInt beyond 2^53), or a
/// boolean.
fn item<B: JsBuilder>(
    b: &mut B,
    exported: &Exported<'_>,
    element: Element,
    swapped: bool,
) -> Result<B::Out> {
    let mut bytes = written(element.size(), &mut |dest| exported.copy_to(dest))?;
    if swapped {
        swap_bytes(&mut bytes, element.size());
    }
    let mut word = [0u8; 8];
    word[..bytes.len()].copy_from_slice(&bytes);
    let int = |signed: bool| -> i128 {
        let value = u64::from_ne_bytes(word) as i128;
        let bits = 8 * element.size() as u32;
        match signed && value >> (bits - 1) & 1 == 1 {
            true => value - (1i128 << bits),
            false => value,
        }
    };
    let value = match element {
        Element::Bool => return b.boolean(bytes[0] != 0),
        Element::F64 => return b.number(f64::from_ne_bytes(word)),
        Element::F32 => {
            return b.number(f32::from_ne_bytes([word[0], word[1], word[2], word[3]]).into())
        }
        Element::I8 | Element::I16 | Element::I32 | Element::I64 => int(true),
        Element::U8 | Element::U16 | Element::U32 | Element::U64 => int(false),
    };
    match value.unsigned_abs() <= MAX_SAFE_INTEGER as u128 {
        true => b.number(value as f64),
        false => b.bigint(value < 0, &[value.unsigned_abs() as u64]),
    }
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
        return Err(Error::Internal("a copy of the wrong length".into()));
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

/// A `numpy.ma.MaskedArray` (a buffer exporter whose buffer holds the masked values too). Runs
/// no code of `obj`'s: a subtype check of its type. (If `numpy.ma` was never imported, there
/// are none.)
pub fn is_masked(obj: &Bound<'_, PyAny>) -> Result<bool> {
    let py = obj.py();
    // SAFETY: attached; reads a type slot of a live object.
    if unsafe { ffi::PyObject_CheckBuffer(obj.as_ptr()) } == 0 {
        return Ok(false);
    }
    let name = pyo3::types::PyString::new(py, "numpy.ma");
    // SAFETY: attached; a new reference to the module if this interpreter imported it, else
    // NULL (with an exception set only if the lookup itself failed).
    let ma = unsafe { Bound::from_owned_ptr_or_opt(py, ffi::PyImport_GetModule(name.as_ptr())) };
    let Some(ma) = ma else {
        // SAFETY: attached; reads the error indicator.
        return match unsafe { ffi::PyErr_Occurred() }.is_null() {
            true => Ok(false),
            false => Err(exception::take(py)),
        };
    };
    let masked = ma
        .getattr("MaskedArray")
        .map_err(|e| exception::from_pyerr(py, e))?;
    // SAFETY: attached; `PyType_IsSubtype` reads the MROs of two live objects' types (false if
    // `masked` is not a type: its `tp_mro` is then not consulted as a class's).
    Ok(unsafe {
        ffi::PyType_Check(masked.as_ptr()) != 0
            && ffi::PyType_IsSubtype(ffi::Py_TYPE(obj.as_ptr()), masked.as_ptr().cast()) != 0
    })
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
