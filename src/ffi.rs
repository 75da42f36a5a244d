//! CPython symbols that pyo3-ffi does not declare (it skips `classobject.h`).

use pyo3::ffi::{PyObject, PyTypeObject};

extern "C" {
    /// The type of bound methods (`types.MethodType`).
    pub static mut PyMethod_Type: PyTypeObject;
    /// Borrowed `__self__` of a bound method.
    pub fn PyMethod_Self(method: *mut PyObject) -> *mut PyObject;
}
