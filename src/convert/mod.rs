//! Converting values between JS and Python, both ways, with one fixed mapping (see README).
//!
//! Thread rules: runs on a JS thread while attached to the interpreter. Both directions keep an
//! identity map of containers, so shared and cyclic structures keep their shape, and count
//! nesting so that a too-deep value fails with `ERR_PY_CONVERSION` instead of overflowing.

mod proxy;
mod to_js;
mod to_py;

pub use proxy::{release_pending, wrap};
pub use to_js::ToJs;
pub use to_py::ToPy;

/// Deepest nesting converted in either direction. Bounded by V8's stack limit (about 1 MB,
/// checked by every Node-API call): one level of JS → Python costs about 1.3 KB of stack.
pub const MAX_DEPTH: usize = 400;

/// Arrays of numbers at least this long cross as one Float64Array (see the TS hooks).
const PACK_THRESHOLD: usize = 64;

/// Largest integer magnitude that converts to a JS number (2^53 - 1); larger ones become BigInt.
const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

fn too_deep() -> crate::error::Error {
    crate::error::Error::Conversion(format!("value nested deeper than {MAX_DEPTH} levels"))
}
