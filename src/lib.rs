//! pyembed: CPython embedded in Node.js.
//!
//! Layering: `runtime` starts CPython once per process; `python` holds the small safe wrappers
//! over the C API (attaching, owned pointers, exceptions, code execution); `handle` is the
//! per-environment object registry; `js` wraps raw Node-API calls; `convert` maps values both
//! ways; `api` is the only place with `#[napi]` items.

mod api;
mod callback;
mod context;
mod convert;
mod error;
mod ffi;
mod handle;
mod inbox;
mod js;
mod python;
mod runtime;
