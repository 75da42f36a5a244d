//! Converting values between JS and Python, both ways, with one fixed mapping (see README).
//!
//! Walkers and builders are separate: `ToJs` walks Python objects and `ToPy` walks JS values,
//! each keeping an identity map of containers (so shared and cyclic structures keep their shape)
//! and a depth count (so a too-deep value fails with `ERR_PY_CONVERSION`). What they build is
//! up to a builder: real JS values (`JsValues`, on the JS thread) or Python objects
//! (`PyObjects`, attached) for synchronous calls, or a `Value` — owned, `Send`, no GIL and no
//! napi needed — that crosses threads and is replayed into the other side later.
//!
//! Thread rules: `JsValues` and `ToPy` run on a JS thread; `PyObjects` and `ToJs` run attached.

mod buffer;
mod element;
mod js_builder;
mod proxy;
mod py_builder;
mod to_js;
mod to_py;
mod value;

use std::sync::Arc;

use pyo3::{Bound, PyAny};

use crate::callback::JsCallback;
use crate::context::ObjectRef;
use crate::error::Result;

pub use buffer::{described as described_buffer, Fill};
pub use element::Element;
pub use js_builder::JsValues;
pub use py_builder::PyObjects;
pub use to_js::ToJs;
pub use to_py::ToPy;
pub use value::{ValueForJs, ValueForPy};

/// How much of a Python object a conversion unpacks.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// The fixed mapping; anything else becomes a proxy (results, arguments).
    Shallow,
    /// `toJS()`: also one-dimensional buffers of numbers (into TypedArrays), other mappings,
    /// iterables and numbers.
    Deep,
    /// `toJSON()`: as `Deep`, but buffers are iterated like other sequences, so that
    /// `JSON.stringify` sees Arrays of numbers.
    Json,
}

/// `obj` converted into a value for JS, of one root. Call attached.
pub fn value_for_js(obj: &Bound<'_, PyAny>, depth: Depth) -> Result<ValueForJs> {
    let mut walk = ToJs::new(ValueForJs::default(), depth);
    let root = walk.convert(obj)?;
    let mut value = walk.into_builder();
    value.add_root(root);
    Ok(value)
}

/// `obj`'s buffer as `{ data, shape, format }` (see `py.buffer`), in a value for JS. Call
/// attached.
pub fn buffer_for_js(obj: &Bound<'_, PyAny>) -> Result<ValueForJs> {
    let mut value = ValueForJs::default();
    let root = buffer::described(&mut value, obj)?;
    value.add_root(root);
    Ok(value)
}

/// Deepest nesting converted in either direction. Bounded by V8's stack limit (about 1 MB,
/// checked by every Node-API call): one level of JS → Python costs about 1.3 KB of stack.
pub const MAX_DEPTH: usize = 400;

/// Arrays of numbers at least this long cross as one Float64Array (see the TS hooks).
const PACK_THRESHOLD: usize = 64;

/// Largest integer magnitude that converts to a JS number (2^53 - 1); larger ones become BigInt.
const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// The numbers in a packed Float64Array's bytes, if there are some and they fit in `room`.
fn unpack(packed: &[u8], room: usize) -> Option<impl Iterator<Item = f64> + '_> {
    let count = packed.len() / 8;
    (count > 0 && count <= room).then(|| {
        packed
            .chunks_exact(8)
            .map(|c| f64::from_ne_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
    })
}

fn too_deep() -> crate::error::Error {
    crate::error::Error::Conversion(format!("value nested deeper than {MAX_DEPTH} levels"))
}

/// The characters of a string, in whichever form the source holds them.
#[derive(Clone, Copy)]
pub enum Text<'a> {
    /// From JS (V8's UTF-8).
    Utf8(&'a str),
    /// From Python's compact representation: one, two or four bytes per character.
    Latin1(&'a [u8]),
    Ucs2(&'a [u16]),
    Ucs4(&'a [u32]),
}

impl Text<'_> {
    /// As UTF-16 code units (a lone surrogate stays one unit).
    pub fn to_utf16(self) -> Vec<u16> {
        match self {
            Text::Utf8(s) => s.encode_utf16().collect(),
            Text::Latin1(b) => b.iter().map(|&c| c as u16).collect(),
            Text::Ucs2(u) => u.to_vec(),
            Text::Ucs4(chars) => {
                let mut units = Vec::with_capacity(chars.len());
                for &c in chars {
                    match char::from_u32(c) {
                        Some(ch) => units.extend_from_slice(ch.encode_utf16(&mut [0; 2])),
                        None => units.push(c as u16), // a lone surrogate
                    }
                }
                units
            }
        }
    }

    pub fn is(self, ascii: &str) -> bool {
        match self {
            Text::Utf8(s) => s == ascii,
            Text::Latin1(b) => b == ascii.as_bytes(),
            _ => false, // wider kinds always hold a non-Latin-1 character
        }
    }
}

/// Builds JS-side values from a Python walk (`ToJs`), or replays a `Value`.
pub trait JsBuilder {
    type Out: Clone;
    fn null(&mut self) -> Result<Self::Out>;
    fn boolean(&mut self, b: bool) -> Result<Self::Out>;
    fn number(&mut self, d: f64) -> Result<Self::Out>;
    fn bigint(&mut self, negative: bool, words: &[u64]) -> Result<Self::Out>;
    fn string(&mut self, text: Text<'_>) -> Result<Self::Out>;
    fn buffer(&mut self, bytes: &[u8]) -> Result<Self::Out>;
    /// A TypedArray of `count` elements, its bytes (`count` × the element's size, given
    /// uninitialized) all written by `fill`.
    fn typed_array(&mut self, element: Element, count: usize, fill: Fill<'_>) -> Result<Self::Out>;
    fn date(&mut self, ms: f64) -> Result<Self::Out>;
    /// An Array of numbers, in one go.
    fn numbers(&mut self, values: &[f64]) -> Result<Self::Out>;
    /// An Array of booleans, one per byte (non-zero: true).
    fn booleans(&mut self, flags: &[u8]) -> Result<Self::Out>;
    fn array(&mut self, len: usize) -> Result<Self::Out>;
    fn set_element(&mut self, array: &Self::Out, index: usize, item: Self::Out) -> Result<()>;
    fn object(&mut self) -> Result<Self::Out>;
    fn set_property(&mut self, object: &Self::Out, key: Text<'_>, value: Self::Out) -> Result<()>;
    fn map(&mut self) -> Result<Self::Out>;
    fn map_set(&mut self, map: &Self::Out, key: Self::Out, value: Self::Out) -> Result<()>;
    fn set(&mut self) -> Result<Self::Out>;
    fn set_add(&mut self, set: &Self::Out, item: Self::Out) -> Result<()>;
    /// A proxy for `object` (its reference handed over).
    fn proxy(&mut self, object: ObjectRef, callable: bool) -> Result<Self::Out>;
}

/// Builds Python-side values from a JS walk (`ToPy`), or replays a `Value`.
pub trait PyBuilder {
    type Out: Clone;
    fn none(&mut self) -> Result<Self::Out>;
    fn boolean(&mut self, b: bool) -> Result<Self::Out>;
    fn number(&mut self, d: f64) -> Result<Self::Out>;
    fn bigint(&mut self, negative: bool, words: &[u64]) -> Result<Self::Out>;
    fn string(&mut self, s: &str) -> Result<Self::Out>;
    /// Bytes of a Buffer, Uint8Array, ArrayBuffer or DataView.
    fn bytes(&mut self, bytes: &[u8]) -> Result<Self::Out>;
    /// A copy of the bytes of another TypedArray (or one with a shape), for `typed`. Runs no
    /// Python code (it borrows JS memory, which JS run by Python code could detach).
    fn elements(&mut self, bytes: &[u8]) -> Result<Self::Out>;
    /// Those elements as a memoryview of `shape` (else one dimension) in their format.
    fn typed(
        &mut self,
        elements: Self::Out,
        element: Element,
        shape: Option<&[usize]>,
    ) -> Result<Self::Out>;
    fn date(&mut self, ms: f64) -> Result<Self::Out>;
    /// The object behind a proxy (shared with the registry), or its method `name`.
    fn object(&mut self, object: &Arc<ObjectRef>, method: Option<String>) -> Result<Self::Out>;
    /// A list of `len` numbers, filled by `fill_numbers`.
    fn numbers(&mut self, len: usize) -> Result<Self::Out>;
    /// Appends the numbers packed in a Float64Array's bytes; returns how many (0 if they would
    /// not fit in the `room` left).
    fn fill_numbers(
        &mut self,
        list: &Self::Out,
        start: usize,
        room: usize,
        packed: &[u8],
    ) -> Result<usize>;
    fn list(&mut self, len: usize) -> Result<Self::Out>;
    fn list_set(&mut self, list: &Self::Out, index: usize, item: Self::Out) -> Result<()>;
    fn dict(&mut self) -> Result<Self::Out>;
    fn dict_set(&mut self, dict: &Self::Out, key: Self::Out, value: Self::Out) -> Result<()>;
    fn set(&mut self) -> Result<Self::Out>;
    fn set_add(&mut self, set: &Self::Out, item: Self::Out) -> Result<()>;
    /// A JS function, callable from Python.
    fn callback(&mut self, callback: Arc<JsCallback>) -> Result<Self::Out>;
    /// A JS Promise being watched under `ticket`, awaitable from Python.
    fn promise(&mut self, ticket: u32) -> Result<Self::Out>;
}
