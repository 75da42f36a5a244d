//! The buffer protocol: `Exported`, a view of an object's memory that keeps the exporter from
//! freeing, moving or resizing that memory until the view is dropped.
//!
//! Thread rules: made and dropped attached to the exporter's interpreter (it borrows the
//! `Python` token's lifetime, so it cannot leave the attach that made it). No Python code runs
//! while it copies (a strided gather here, `PyBuffer_ToContiguous` for an indirect layout:
//! plain C), but the exporter's own `getbuffer` (a `__buffer__` method) may run Python code
//! when the view is made, and `__release_buffer__` when it is dropped.

use std::ffi::CStr;
use std::mem::MaybeUninit;
use std::sync::atomic::AtomicU64;

use pyo3::{ffi, Bound, PyAny, PyErr, PyResult, Python};

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
    /// raised (or its view is faulty).
    pub fn of(obj: &Bound<'py, PyAny>) -> Result<Option<Self>> {
        let exported = Self::try_of(obj).map_err(|e| exception::from_pyerr(obj.py(), e))?;
        if let Some(exported) = &exported {
            exported.check()?;
        }
        Ok(exported)
    }

    /// `of`, with the exporter's exception as raised and the view not yet checked (for a
    /// caller that may drop the exception without formatting it).
    pub fn try_of(obj: &Bound<'py, PyAny>) -> PyResult<Option<Self>> {
        let py = obj.py();
        // SAFETY: attached; reads a type slot of a live object.
        if unsafe { ffi::PyObject_CheckBuffer(obj.as_ptr()) } == 0 {
            return Ok(None);
        }
        let mut view = Box::new(ffi::Py_buffer::new());
        // SAFETY: attached; `view` is a valid, writable Py_buffer that the exporter fills (and
        // on success references `obj` from it) or leaves alone, raising.
        if unsafe { ffi::PyObject_GetBuffer(obj.as_ptr(), &mut *view, ffi::PyBUF_FULL_RO) } != 0 {
            return Err(PyErr::fetch(py));
        }
        Ok(Some(Self { view, py }))
    }

    /// Refuses a view whose fields contradict each other (a faulty exporter), so that the
    /// copy below can trust them.
    pub fn check(&self) -> Result<()> {
        let faulty = |what: &str| Err(Error::Conversion(format!("the buffer exporter {what}")));
        let v = &*self.view;
        if v.itemsize <= 0 || v.len < 0 || v.buf.is_null() && v.len > 0 {
            return faulty("reported no memory or a non-positive item size");
        }
        if !(0..=MAX_DIMS as i32).contains(&v.ndim) {
            return faulty("reported an impossible number of dimensions");
        }
        if v.shape.is_null() && (v.ndim > 1 || !v.strides.is_null() || !v.suboffsets.is_null()) {
            return faulty("reported strides or several dimensions but no shape");
        }
        if v.ndim == 0 && !v.suboffsets.is_null() {
            return faulty("reported suboffsets for a single item");
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
        let v = &*self.view;
        if v.suboffsets.is_null() {
            self.gather(dest);
            return Ok(());
        }
        // A `*mut` (3.10 declares the view non-const; 3.11+ const): CPython only reads it.
        let view = std::ptr::from_ref::<ffi::Py_buffer>(v).cast_mut();
        // SAFETY: attached; `dest` has exactly `len` writable bytes and the view (checked)
        // describes `len` bytes of elements that stay put while it is held.
        let status =
            unsafe { ffi::PyBuffer_ToContiguous(dest.as_mut_ptr().cast(), view, v.len, b'C' as _) };
        match status {
            0 => Ok(()),
            _ => Err(exception::take(self.py)),
        }
    }
}

impl Exported<'_> {
    /// Copies a strided layout (no suboffsets) into `dest` in C order: whole rows at once where
    /// the last dimension is contiguous, else item by item. Not `PyBuffer_ToContiguous`, which
    /// copies each strided row twice, through a temporary.
    fn gather(&self, dest: &mut [MaybeUninit<u8>]) {
        let v = &*self.view;
        let item = v.itemsize as usize;
        let shape = self.shape();
        let strides: Vec<isize> = match (v.strides.is_null(), shape.len()) {
            (true, _) | (_, 0) => c_strides(&shape, item),
            // SAFETY: the exporter filled `ndim` strides (checked: shape and ndim agree), valid
            // until release.
            (false, n) => unsafe { std::slice::from_raw_parts(v.strides, n) }.to_vec(),
        };
        let (outer, last) = match shape.split_last() {
            Some((&last, outer)) => (outer, last),
            None => (&[][..], 1), // one item
        };
        let step = strides.last().copied().unwrap_or(item as isize);
        let row = last * item;
        let mut index = vec![0usize; outer.len()];
        let out = dest.as_mut_ptr().cast::<u8>();
        for r in 0..dest.len() / row.max(1) {
            let offset: isize = index
                .iter()
                .zip(&strides)
                .map(|(&i, &s)| i as isize * s)
                .sum();
            // SAFETY: the exporter's shape and strides (checked against its length) address
            // items inside its memory, pinned while the view is held; `dest` holds
            // `len = rows × row` bytes, and row `r` is written at `r × row`.
            unsafe {
                let src = v.buf.cast::<u8>().cast_const().offset(offset);
                let dst = out.add(r * row);
                if step == item as isize {
                    std::ptr::copy_nonoverlapping(src, dst, row);
                } else {
                    copy_items(src, step, dst, item, last);
                }
            }
            for d in (0..index.len()).rev() {
                index[d] += 1;
                if index[d] < outer[d] {
                    break;
                }
                index[d] = 0;
            }
        }
    }
}

/// The strides of a C-contiguous layout.
fn c_strides(shape: &[usize], item: usize) -> Vec<isize> {
    let mut strides = vec![item as isize; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        strides[i] = strides[i + 1] * shape[i + 1] as isize;
    }
    strides
}

/// Copies `count` items of `item` bytes, `step` bytes apart at `src`, next to each other at
/// `dst`; the common sizes with a fixed-size copy.
///
/// # Safety
/// `src + k × step` must be readable for `item` bytes and `dst` writable for `count × item`.
unsafe fn copy_items(src: *const u8, step: isize, dst: *mut u8, item: usize, count: usize) {
    // SAFETY: the caller's contract, item by item.
    unsafe fn each<const N: usize>(src: *const u8, step: isize, dst: *mut u8, count: usize) {
        for k in 0..count {
            // SAFETY: see `copy_items`.
            unsafe {
                std::ptr::copy_nonoverlapping(src.offset(k as isize * step), dst.add(k * N), N)
            };
        }
    }
    // SAFETY: the caller's contract.
    unsafe {
        match item {
            1 => each::<1>(src, step, dst, count),
            2 => each::<2>(src, step, dst, count),
            4 => each::<4>(src, step, dst, count),
            8 => each::<8>(src, step, dst, count),
            _ => {
                for k in 0..count {
                    std::ptr::copy_nonoverlapping(
                        src.offset(k as isize * step),
                        dst.add(k * item),
                        item,
                    );
                }
            }
        }
    }
}

/// A writable memoryview of no elements, of `shape` (which holds a 0) and items of `format`
/// (`itemsize` bytes): `memoryview.cast` refuses to make one. It has no underlying object
/// (`obj` is None).
pub fn empty<'py>(
    py: Python<'py>,
    format: &'static CStr,
    itemsize: usize,
    shape: &[usize],
) -> Result<Bound<'py, PyAny>> {
    // Writable memory (an atomic's), though nothing reads or writes it: no elements.
    static NOTHING: AtomicU64 = AtomicU64::new(0);
    if shape.len() > MAX_DIMS || !shape.contains(&0) {
        return Err(Error::Internal(
            "an empty view of a shape with elements".into(),
        ));
    }
    let mut dims: Vec<ffi::Py_ssize_t> = shape.iter().map(|&d| d as ffi::Py_ssize_t).collect();
    let mut strides = c_strides(shape, itemsize);
    let mut view = ffi::Py_buffer::new();
    view.buf = NOTHING.as_ptr().cast();
    view.itemsize = itemsize as ffi::Py_ssize_t;
    view.ndim = shape.len() as i32;
    view.format = format.as_ptr().cast_mut();
    view.shape = dims.as_mut_ptr();
    view.strides = strides.as_mut_ptr();
    // SAFETY: attached; `view` describes 0 bytes with no exporter (`obj` NULL). CPython copies
    // its shape and strides into the new memoryview and keeps only `format`, which is static.
    let made = unsafe { ffi::PyMemoryView_FromBuffer(&view) };
    // SAFETY: attached; a new reference or NULL with an exception set.
    unsafe { Bound::from_owned_ptr_or_opt(py, made) }.ok_or_else(|| exception::take(py))
}

impl Drop for Exported<'_> {
    fn drop(&mut self) {
        // SAFETY: attached (the `'py` token is alive); releases the view obtained in `of`,
        // exactly once.
        unsafe { ffi::PyBuffer_Release(&mut *self.view) }
    }
}
