//! `Value`: a converted value owned by Rust, for crossing threads (async calls).
//!
//! Built on one side without the other side's lock — JS arguments on the JS thread with no
//! GIL, Python results on the Python thread with no napi — and replayed into real values on the
//! other side. Nodes live in an arena and refer to each other by index, so shared and cyclic
//! structures keep their shape. A Python object without a JS equivalent travels as an owned
//! reference (`Object`); a proxy passed from JS travels as a borrowed pointer that the job keeps
//! alive (`Borrowed`, see `context`).

use std::sync::Arc;

use napi::sys;
use pyo3::ffi;

use super::{unpack, JsBuilder, PyBuilder, Text};
use crate::callback::JsCallback;
use crate::error::Result;
use crate::python::OwnedPtr;

type Index = usize;

enum Node {
    None,
    Bool(bool),
    Number(f64),
    BigInt(bool, Vec<u64>),
    /// UTF-8 from JS.
    Str(String),
    /// UTF-16 from Python (lossless: lone surrogates stay).
    Utf16(Vec<u16>),
    Binary(Option<sys::napi_typedarray_type>, Vec<u8>),
    Date(f64),
    Numbers(Vec<f64>),
    List(Vec<Index>),
    /// Plain object (str keys, from Python) or dict (any keys, from JS).
    Object(Vec<(Index, Index)>),
    Map(Vec<(Index, Index)>),
    Set(Vec<Index>),
    /// A Python object for a proxy (one strong reference, handed over on replay).
    Proxy(Option<OwnedPtr>, bool),
    /// A proxy's object from JS, and the method name for a cached method.
    Borrowed(usize, Option<String>),
    /// A JS function, for Python.
    Callback(Arc<JsCallback>),
    /// A watched JS Promise, for Python.
    Promise(u32),
}

/// An arena of nodes; the last one built by the caller is the root.
#[derive(Default)]
pub struct Value {
    nodes: Vec<Node>,
}

// SAFETY: the only raw pointers are `Borrowed` objects, dereferenced only on the Python thread
// while attached, and kept alive by the job that carries the value; `JsCallback`s only touch
// their JS environment from its own thread.
unsafe impl Send for Value {}

impl Value {
    fn push(&mut self, node: Node) -> Result<Index> {
        self.nodes.push(node);
        Ok(self.nodes.len() - 1)
    }

    fn node(&mut self, index: Index) -> &mut Node {
        &mut self.nodes[index]
    }

    /// Replays node `root` (and what it refers to) into JS. Proxies take their references.
    pub fn build_js<B: JsBuilder>(&mut self, root: Index, build: &mut B) -> Result<B::Out> {
        let mut done: Vec<Option<B::Out>> = vec![None; self.nodes.len()];
        self.js_node(root, build, &mut done)
    }

    fn js_node<B: JsBuilder>(
        &mut self,
        i: Index,
        b: &mut B,
        done: &mut Vec<Option<B::Out>>,
    ) -> Result<B::Out> {
        if let Some(out) = &done[i] {
            return Ok(out.clone());
        }
        let out = match &mut self.nodes[i] {
            Node::None => b.null()?,
            Node::Bool(v) => b.boolean(*v)?,
            Node::Number(d) => b.number(*d)?,
            Node::BigInt(negative, words) => b.bigint(*negative, words)?,
            Node::Str(s) => b.string(Text::Utf8(s))?,
            Node::Utf16(units) => b.string(Text::Ucs2(units))?,
            Node::Binary(_, bytes) => b.buffer(bytes)?,
            Node::Date(ms) => b.date(*ms)?,
            Node::Numbers(values) => b.numbers(values)?,
            Node::Proxy(object, callable) => {
                let callable = *callable;
                let object = object.take().expect("a proxy node is replayed once");
                b.proxy(object, callable)?
            }
            Node::Borrowed(..) | Node::Callback(_) | Node::Promise(_) => {
                return Err(crate::error::Error::Internal(
                    "a value for Python cannot go to JS".into(),
                ))
            }
            Node::List(items) | Node::Set(items) => {
                let items = items.clone();
                let is_set = matches!(self.nodes[i], Node::Set(_));
                let out = if is_set {
                    b.set()?
                } else {
                    b.array(items.len())?
                };
                done[i] = Some(out.clone());
                for (k, item) in items.into_iter().enumerate() {
                    let value = self.js_node(item, b, done)?;
                    if is_set {
                        b.set_add(&out, value)?
                    } else {
                        b.set_element(&out, k, value)?
                    }
                }
                return Ok(out);
            }
            Node::Object(entries) | Node::Map(entries) => {
                let entries = entries.clone();
                let is_map = matches!(self.nodes[i], Node::Map(_));
                let out = if is_map { b.map()? } else { b.object()? };
                done[i] = Some(out.clone());
                for (key, value) in entries {
                    let value = self.js_node(value, b, done)?;
                    if is_map {
                        let key = self.js_node(key, b, done)?;
                        b.map_set(&out, key, value)?;
                    } else {
                        let units = match &self.nodes[key] {
                            Node::Utf16(units) => units.clone(),
                            Node::Str(s) => s.encode_utf16().collect(),
                            _ => {
                                return Err(crate::error::Error::Internal(
                                    "object key is not a string".into(),
                                ))
                            }
                        };
                        b.set_property(&out, Text::Ucs2(&units), value)?;
                    }
                }
                return Ok(out);
            }
        };
        done[i] = Some(out.clone());
        Ok(out)
    }

    /// Replays node `root` into Python. Call attached.
    pub fn build_py<B: PyBuilder>(&self, root: Index, build: &mut B) -> Result<B::Out> {
        let mut done: Vec<Option<B::Out>> = vec![None; self.nodes.len()];
        self.py_node(root, build, &mut done)
    }

    fn py_node<B: PyBuilder>(
        &self,
        i: Index,
        b: &mut B,
        done: &mut Vec<Option<B::Out>>,
    ) -> Result<B::Out> {
        if let Some(out) = &done[i] {
            return Ok(out.clone());
        }
        let out = match &self.nodes[i] {
            Node::None => b.none()?,
            Node::Bool(v) => b.boolean(*v)?,
            Node::Number(d) => b.number(*d)?,
            Node::BigInt(negative, words) => b.bigint(*negative, words)?,
            Node::Str(s) => b.string(s)?,
            Node::Utf16(units) => b.string(&String::from_utf16_lossy(units))?,
            Node::Binary(kind, bytes) => b.binary(*kind, bytes)?,
            Node::Date(ms) => b.date(*ms)?,
            Node::Numbers(values) => {
                let out = b.numbers(values.len())?;
                // SAFETY: any f64 slice is readable as bytes (no padding, alignment 1 suffices);
                // the view lives only for this call.
                let bytes = unsafe {
                    std::slice::from_raw_parts(values.as_ptr().cast::<u8>(), values.len() * 8)
                };
                b.fill_numbers(&out, 0, values.len(), bytes)?;
                out
            }
            Node::Borrowed(ptr, method) => b.object(*ptr as *mut ffi::PyObject, method.clone())?,
            Node::Callback(callback) => b.callback(callback.clone())?,
            Node::Promise(ticket) => b.promise(*ticket)?,
            Node::Proxy(..) => {
                return Err(crate::error::Error::Internal(
                    "a result object cannot go back to Python".into(),
                ))
            }
            Node::List(items) => {
                let out = b.list(items.len())?;
                done[i] = Some(out.clone());
                for (k, &item) in items.iter().enumerate() {
                    let value = self.py_node(item, b, done)?;
                    b.list_set(&out, k, value)?;
                }
                return Ok(out);
            }
            Node::Set(items) => {
                let out = b.set()?;
                done[i] = Some(out.clone());
                for &item in items {
                    let value = self.py_node(item, b, done)?;
                    b.set_add(&out, value)?;
                }
                return Ok(out);
            }
            Node::Object(entries) | Node::Map(entries) => {
                let out = b.dict()?;
                done[i] = Some(out.clone());
                for &(key, value) in entries {
                    let key = self.py_node(key, b, done)?;
                    let value = self.py_node(value, b, done)?;
                    b.dict_set(&out, key, value)?;
                }
                return Ok(out);
            }
        };
        done[i] = Some(out.clone());
        Ok(out)
    }
}

impl JsBuilder for Value {
    type Out = Index;

    fn null(&mut self) -> Result<Index> {
        self.push(Node::None)
    }
    fn boolean(&mut self, b: bool) -> Result<Index> {
        self.push(Node::Bool(b))
    }
    fn number(&mut self, d: f64) -> Result<Index> {
        self.push(Node::Number(d))
    }
    fn bigint(&mut self, negative: bool, words: &[u64]) -> Result<Index> {
        self.push(Node::BigInt(negative, words.to_vec()))
    }
    fn string(&mut self, text: Text<'_>) -> Result<Index> {
        self.push(Node::Utf16(text.to_utf16()))
    }
    fn buffer(&mut self, bytes: &[u8]) -> Result<Index> {
        self.push(Node::Binary(None, bytes.to_vec()))
    }
    fn date(&mut self, ms: f64) -> Result<Index> {
        self.push(Node::Date(ms))
    }
    fn numbers(&mut self, values: &[f64]) -> Result<Index> {
        self.push(Node::Numbers(values.to_vec()))
    }
    fn array(&mut self, len: usize) -> Result<Index> {
        self.push(Node::List(vec![0; len]))
    }
    fn set_element(&mut self, array: &Index, index: usize, item: Index) -> Result<()> {
        if let Node::List(items) = self.node(*array) {
            items[index] = item;
        }
        Ok(())
    }
    fn object(&mut self) -> Result<Index> {
        self.push(Node::Object(Vec::new()))
    }
    fn set_property(&mut self, object: &Index, key: Text<'_>, value: Index) -> Result<()> {
        let key = JsBuilder::string(self, key)?;
        if let Node::Object(entries) = self.node(*object) {
            entries.push((key, value));
        }
        Ok(())
    }
    fn map(&mut self) -> Result<Index> {
        self.push(Node::Map(Vec::new()))
    }
    fn map_set(&mut self, map: &Index, key: Index, value: Index) -> Result<()> {
        if let Node::Map(entries) = self.node(*map) {
            entries.push((key, value));
        }
        Ok(())
    }
    fn set(&mut self) -> Result<Index> {
        self.push(Node::Set(Vec::new()))
    }
    fn set_add(&mut self, set: &Index, item: Index) -> Result<()> {
        if let Node::Set(items) = self.node(*set) {
            items.push(item);
        }
        Ok(())
    }
    fn proxy(&mut self, object: OwnedPtr, callable: bool) -> Result<Index> {
        self.push(Node::Proxy(Some(object), callable))
    }
}

impl PyBuilder for Value {
    type Out = Index;

    fn none(&mut self) -> Result<Index> {
        JsBuilder::null(self)
    }
    fn boolean(&mut self, b: bool) -> Result<Index> {
        JsBuilder::boolean(self, b)
    }
    fn number(&mut self, d: f64) -> Result<Index> {
        JsBuilder::number(self, d)
    }
    fn bigint(&mut self, negative: bool, words: &[u64]) -> Result<Index> {
        JsBuilder::bigint(self, negative, words)
    }
    fn string(&mut self, s: &str) -> Result<Index> {
        self.push(Node::Str(s.to_owned()))
    }
    fn binary(&mut self, kind: Option<sys::napi_typedarray_type>, bytes: &[u8]) -> Result<Index> {
        self.push(Node::Binary(kind, bytes.to_vec()))
    }
    fn date(&mut self, ms: f64) -> Result<Index> {
        JsBuilder::date(self, ms)
    }
    fn object(&mut self, borrowed: *mut ffi::PyObject, method: Option<String>) -> Result<Index> {
        self.push(Node::Borrowed(borrowed as usize, method))
    }
    fn numbers(&mut self, len: usize) -> Result<Index> {
        self.push(Node::Numbers(Vec::with_capacity(len)))
    }
    fn fill_numbers(
        &mut self,
        list: &Index,
        _start: usize,
        room: usize,
        packed: &[u8],
    ) -> Result<usize> {
        let Some(numbers) = unpack(packed, room) else {
            return Ok(0);
        };
        if let Node::Numbers(values) = self.node(*list) {
            values.extend(numbers);
        }
        Ok(packed.len() / 8)
    }
    fn list(&mut self, len: usize) -> Result<Index> {
        JsBuilder::array(self, len)
    }
    fn list_set(&mut self, list: &Index, index: usize, item: Index) -> Result<()> {
        JsBuilder::set_element(self, list, index, item)
    }
    fn dict(&mut self) -> Result<Index> {
        JsBuilder::object(self)
    }
    fn dict_set(&mut self, dict: &Index, key: Index, value: Index) -> Result<()> {
        if let Node::Object(entries) = self.node(*dict) {
            entries.push((key, value));
        }
        Ok(())
    }
    fn set(&mut self) -> Result<Index> {
        JsBuilder::set(self)
    }
    fn set_add(&mut self, set: &Index, item: Index) -> Result<()> {
        JsBuilder::set_add(self, set, item)
    }
    fn callback(&mut self, callback: Arc<JsCallback>) -> Result<Index> {
        self.push(Node::Callback(callback))
    }
    fn promise(&mut self, ticket: u32) -> Result<Index> {
        self.push(Node::Promise(ticket))
    }
}
