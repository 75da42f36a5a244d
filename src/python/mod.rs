//! Small safe wrappers over CPython's C API, free of Node-API types.
//!
//! Thread rules: everything that takes a `Python<'py>` token runs attached to the interpreter.
//! pyo3's `Bound` is used for its immediate decref on drop; `Py<T>` is avoided on purpose (its
//! drop may defer to pyo3's process-global pool, which is wrong for sub-interpreters), so
//! references that outlive an attach are `OwnedPtr`s.

pub mod args;
pub mod attach;
pub mod buffer;
pub mod closure;
pub mod code;
pub mod exception;
pub mod object;

pub use object::OwnedPtr;
