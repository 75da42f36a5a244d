//! pyembed: CPython embedded in Node.js.
//!
//! Layering: `runtime` starts CPython once per process; `python` holds the small safe wrappers
//! over the C API (attaching, owned pointers, exceptions, code execution); `handle` is the
//! per-environment object registry; `js` wraps raw Node-API calls; `convert` maps values both
//! ways; `task` holds what supervised tasks need natively (memory limits); `api` is the only
//! place with `#[napi]` items.

// Contexts rely on pyo3 having no process-global deferred-release pool (docs/contexts.md).
#[cfg(not(pyo3_disable_reference_pool))]
compile_error!(
    "build with --cfg pyo3_disable_reference_pool (.cargo/config.toml sets it; a RUSTFLAGS \
     environment variable replaces it: add `--cfg pyo3_disable_reference_pool` to it)"
);

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
mod task;
