//! The buffer protocol: `Exported`, a view of an object's memory that keeps the exporter from
//! freeing, moving or resizing that memory until the view is dropped.
//!
//! Thread rules: made and dropped attached to the exporter's interpreter (it borrows the
//! `Python` token's lifetime, so it cannot leave the attach that made it). No Python code runs
//! while it copies (`PyBuffer_ToContiguous` is plain C), but the exporter's own `getbuffer`
//! (a `__buffer__` method) may run Python code when the view is made.

use std::ffi::CStr;
use std::mem::MaybeUninit;

use pyo3::{ffi, Bound, PyAny, Python};

use crate::error::{Error, Result};
use crate::python::exception;

/// Dimensions Python allows a buffer (`PyBUF_MAX_NDIM`).
pub const MAX_DIMS: usize = 64;

pub struct Exported<'py> {
    /// Boxed: the exporter may keep pointers to it until it is released.
    view: Box<ffi::Py_buffer>,
    py: Python<'py>,
}

impl<'py> Exported<'py> {
    /// `obj`'s memory in whatever layout it has (strided, indirect, read-only);
    /// `Ok(None)` if its type does not support the buffer protocol, `Err` if its exporter
    /// raised.
    pub fn of(obj: &Bound<'py, PyAny>) -> Result<Option<Self>> {
        let py = obj.py();
        // SAFETY: attached; reads a type slot of a live object.
        if unsafe { ffi::PyObject_CheckBuffer(obj.as_ptr()) } == 0 {
            return Ok(None);
        }
        let mut view = Box::new(ffi::Py_buffer::new());
        // SAFETY: attached; `view` is a valid, writable Py_buffer that the exporter fills (and
        // on success references `obj` from it) or leaves alone, raising.
        if unsafe { ffi::PyObject_GetBuffer(obj.as_ptr(), &mut *view, ffi::PyBUF_FULL_RO) } != 0 {
            return Err(exception::take(py));
        }
        let exported = Self { view, py };
        exported.check()?;
        Ok(Some(exported))
    }

    /// Refuses a view whose fields contradict each other (a faulty exporter), so that the
    /// copy below can trust them.
    fn check(&self) -> Result<()> {
        let faulty = |what: &str| Err(Error::Conversion(format!("the buffer exporter {what}")));
        let v = &*self.view;
        if v.itemsize <= 0 || v.len < 0 || v.buf.is_null() && v.len > 0 {
            return faulty("reported no memory or a non-positive item size");
        }
        if !(0..=MAX_DIMS as i32).contains(&v.ndim) {
            return faulty("reported an impossible number of dimensions");
        }
        if v.ndim > 1 && v.shape.is_null() {
            return faulty("reported several dimensions but no shape");
        }
        let elements = self
            .shape()
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d));
        match elements.and_then(|n| n.checked_mul(v.itemsize as usize)) {
            Some(bytes) if bytes == v.len as usize => Ok(()),
            _ => faulty("reported a shape that does not match its length"),
        }
    }

    /// The `struct` format of one item (`"B"` when the exporter gives none).
    pub fn format(&self) -> &str {
        if self.view.format.is_null() {
            return "B";
        }
        // SAFETY: a non-NULL format is a NUL-terminated string owned by the exporter, valid
        // until the view is released (which needs `&mut self`).
        let format = unsafe { CStr::from_ptr(self.view.format) };
        format.to_str().unwrap_or("?invalid")
    }

    pub fn itemsize(&self) -> usize {
        self.view.itemsize as usize
    }

    /// Bytes the elements take once contiguous.
    pub fn len(&self) -> usize {
        self.view.len as usize
    }

    /// Elements per dimension (`[]` for a zero-dimensional item).
    pub fn shape(&self) -> Vec<usize> {
        let v = &*self.view;
        match (v.ndim, v.shape.is_null()) {
            (0, _) => Vec::new(),
            (_, true) => vec![v.len as usize / v.itemsize.max(1) as usize],
            // SAFETY: the exporter filled `ndim` (checked: 0..=64) shape entries, valid until
            // release; `check` ran before any caller could see this view.
            (n, false) => unsafe { std::slice::from_raw_parts(v.shape, n as usize) }
                .iter()
                .map(|&d| d.max(0) as usize)
                .collect(),
        }
    }

    /// Copies the elements into `dest` (`len()` bytes, every one written on success) in C
    /// order, gathering a strided or indirect layout.
    pub fn copy_to(&self, dest: &mut [MaybeUninit<u8>]) -> Result<()> {
        if dest.len() != self.len() {
            return Err(Error::Internal("buffer copy of the wrong length".into()));
        }
        if dest.is_empty() {
            return Ok(());
        }
        // SAFETY: attached; `dest` has exactly `len` writable bytes and the view (checked)
        // describes `len` bytes of elements that stay put while it is held.
        let status = unsafe {
            ffi::PyBuffer_ToContiguous(
                dest.as_mut_ptr().cast(),
                &*self.view,
                self.view.len,
                b'C' as _,
            )
        };
        match status {
            0 => Ok(()),
            _ => Err(exception::take(self.py)),
        }
    }
}

impl Drop for Exported<'_> {
    fn drop(&mut self) {
        // SAFETY: attached (the `'py` token is alive); releases the view obtained in `of`,
        // exactly once.
        unsafe { ffi::PyBuffer_Release(&mut *self.view) }
    }
}
