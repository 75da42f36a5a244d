//! `OwnedPtr`: one strong reference to a Python object, held outside of an attach.

use std::ptr::NonNull;

use pyo3::{ffi, Bound, PyAny, Python};

/// Owns one strong reference. Dropping it leaks the reference on purpose (a drop may happen on a
/// thread that is not attached); give it back with `release` while attached.
#[derive(Debug)]
pub struct OwnedPtr(NonNull<ffi::PyObject>);

// SAFETY: the pointer is only dereferenced by CPython while attached to its interpreter.
unsafe impl Send for OwnedPtr {}

impl OwnedPtr {
    /// Takes a new strong reference to `obj`.
    pub fn new(obj: &Bound<'_, PyAny>) -> Self {
        // `into_ptr` hands over the strong reference held by the clone.
        Self(NonNull::new(obj.clone().into_ptr()).expect("Bound is never null"))
    }

    pub fn as_ptr(&self) -> *mut ffi::PyObject {
        self.0.as_ptr()
    }

    /// A new `Bound` to the same object (a new strong reference).
    pub fn bind<'py>(&self, py: Python<'py>) -> Bound<'py, PyAny> {
        // SAFETY: we hold a strong reference, so the object is alive.
        unsafe { Bound::from_borrowed_ptr(py, self.as_ptr()) }
    }

    /// Gives the reference back to Python.
    pub fn release(self, _py: Python<'_>) {
        // SAFETY: attached (token), and we own exactly this reference.
        unsafe { ffi::Py_DECREF(self.as_ptr()) }
    }
}
