//! `CallArgs`: the argument vector of one vectorcall, owning its references.

use pyo3::ffi;
use pyo3::prelude::*;

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
        let base = if self.heap.is_empty() { self.inline.as_ptr() } else { self.heap.as_ptr() };
        // SAFETY: `1 + index <= len`, within the active storage (one past the end at most).
        unsafe { base.add(1 + index) }
    }
}

impl Drop for CallArgs {
    fn drop(&mut self) {
        let slots = if self.heap.is_empty() { &self.inline[..self.len] } else { &self.heap[..] };
        for &ptr in &slots[1..] {
            // SAFETY: each slot after the scratch one owns a reference; the owner is attached
            // (documented requirement of this type).
            unsafe { ffi::Py_DECREF(ptr) };
        }
    }
}
