//! `CallArgs`: the argument vector of one vectorcall, owning its references.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyString, PyTuple};

use crate::error::Result;
use crate::python::exception;

/// Arguments stored inline up to this count (plus the scratch slot); more go to the heap.
const INLINE: usize = 12;

/// Slot 0 is scratch space, so calls may pass `PY_VECTORCALL_ARGUMENTS_OFFSET`; every later slot
/// owns one strong reference, released on drop. Create and drop it while attached.
pub struct CallArgs {
    inline: [*mut ffi::PyObject; INLINE],
    heap: Vec<*mut ffi::PyObject>,
    len: usize,
}

impl CallArgs {
    pub fn new() -> Self {
        Self {
            inline: [std::ptr::null_mut(); INLINE],
            heap: Vec::new(),
            len: 1,
        }
    }

    pub fn push(&mut self, obj: Bound<'_, PyAny>) {
        let ptr = obj.into_ptr();
        if self.len < INLINE && self.heap.is_empty() {
            self.inline[self.len] = ptr;
        } else {
            if self.heap.is_empty() {
                self.heap.extend_from_slice(&self.inline[..self.len]);
            }
            self.heap.push(ptr);
        }
        self.len += 1;
    }

    /// Pointer to argument `index`; the slot before it may be overwritten by the callee.
    pub fn at(&self, index: usize) -> *const *mut ffi::PyObject {
        let base = if self.heap.is_empty() {
            self.inline.as_ptr()
        } else {
            self.heap.as_ptr()
        };
        // SAFETY: `1 + index <= len`, within the active storage (one past the end at most).
        unsafe { base.add(1 + index) }
    }
}

impl CallArgs {
    /// `getattr(target, name)(*positional, **kwargs)` — or `target(...)` without a name — where
    /// the first argument pushed was `target`, then `positional` arguments, then one value per
    /// keyword in `kwnames`. The method is looked up without creating a bound method.
    pub fn call<'py>(
        &self,
        py: Python<'py>,
        name: Option<&Bound<'py, PyString>>,
        positional: usize,
        kwnames: Option<&Bound<'py, PyTuple>>,
    ) -> Result<Bound<'py, PyAny>> {
        let kwnames = kwnames.map_or(std::ptr::null_mut(), |k| k.as_ptr());
        let offset = ffi::PY_VECTORCALL_ARGUMENTS_OFFSET;
        // SAFETY: attached; `self` owns the target and every argument for the whole call and
        // keeps a writable slot before the first one passed, as ARGUMENTS_OFFSET requires.
        let result = unsafe {
            match name {
                Some(name) => ffi::PyObject_VectorcallMethod(
                    name.as_ptr(),
                    self.at(0),
                    (1 + positional) | offset,
                    kwnames,
                ),
                None => {
                    ffi::PyObject_Vectorcall(*self.at(0), self.at(1), positional | offset, kwnames)
                }
            }
        };
        // SAFETY: a new reference, or NULL with an exception set.
        unsafe { Bound::from_owned_ptr_or_opt(py, result) }.ok_or_else(|| exception::take(py))
    }
}

impl Drop for CallArgs {
    fn drop(&mut self) {
        let slots = if self.heap.is_empty() {
            &self.inline[..self.len]
        } else {
            &self.heap[..]
        };
        for &ptr in &slots[1..] {
            // SAFETY: each slot after the scratch one owns a reference; the owner is attached
            // (documented requirement of this type).
            unsafe { ffi::Py_DECREF(ptr) };
        }
    }
}
