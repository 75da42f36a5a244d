//! Thin safe wrappers over raw Node-API calls, plus the JS helpers the TS layer registers.
//!
//! Thread rules: a `JsEnv` is only valid on its own JS thread, inside the native call that
//! received it; `napi_value`s never outlive that call (use `napi_ref` for longer).

pub mod hooks;
mod value;

pub use value::{too_long, Js, JsEnv, MAX_ARRAY_LENGTH};
