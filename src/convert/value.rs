//! Values that cross threads, one type per direction: `ValueForPy` (built from JS values on a JS
//! thread, no GIL; replayed into Python objects on the interpreter's thread) and `ValueForJs`
//! (built from Python objects, attached; replayed into JS values on the JS thread).
//!
//! Nodes live in an arena and refer to each other by index; a value has several roots (a
//! call's arguments, keyword arguments last) and is replayed with one identity table for all
//! of them, so the same object passed twice, shared and cyclic structures keep their shape.
//! What refers to Python objects owns its reference (`ObjectRef`): a value never borrows from
//! the handle registry, so nothing JS does meanwhile can free what it carries.

use std::sync::Arc;

use super::{unpack, Element, Fill, JsBuilder, PyBuilder, Text};
use crate::callback::JsCallback;
use crate::context::ObjectRef;
use crate::error::{Error, Result};
use crate::js::{too_long, MAX_ARRAY_LENGTH};

type Index = usize;

enum Node<L> {
    None,
    Bool(bool),
    Number(f64),
    BigInt(bool, Vec<u64>),
    /// UTF-8 from JS.
    Str(String),
    /// UTF-16 from Python (lossless: lone surrogates stay).
    Utf16(Vec<u16>),
    /// Buffer, Uint8Array, ArrayBuffer, DataView ↔ bytes.
    Bytes(Vec<u8>),
    /// Other TypedArrays ↔ buffer exporters: the elements' bytes in C order, and the shape a
    /// JS `{ data, shape }` gave.
    Typed(Element, Vec<u8>, Option<Vec<usize>>),
    Date(f64),
    Numbers(Vec<f64>),
    /// An Array of booleans, one byte each (a buffer of `'?'`).
    Flags(Vec<u8>),
    List(Vec<Index>),
    /// Plain object (str keys, from Python) or dict (any keys, from JS).
    Object(Vec<(Index, Index)>),
    Map(Vec<(Index, Index)>),
    Set(Vec<Index>),
    /// What only one direction carries.
    Leaf(L),
}

/// What a value headed for Python carries besides plain data.
pub enum ForPy {
    /// A proxy's object (shared with the registry), and the method name for a cached method.
    Object(Arc<ObjectRef>, Option<String>),
    /// A JS function, for Python.
    Callback(Arc<JsCallback>),
    /// A watched JS Promise, for Python.
    Promise(u32),
}

/// What a value headed for JS carries besides plain data: an object for a proxy (and whether
/// it is callable), handed over to the registry on replay.
pub struct ForJs(ObjectRef, bool);

/// An arena of nodes and the roots the caller marked.
pub struct Value<L> {
    nodes: Vec<Node<L>>,
    roots: Vec<Index>,
}

/// Built from JS values, replayed into Python.
pub type ValueForPy = Value<ForPy>;
/// Built from Python objects, replayed into JS.
pub type ValueForJs = Value<ForJs>;

impl<L> Default for Value<L> {
    fn default() -> Self {
        Self {
            nodes: Vec::new(),
            roots: Vec::new(),
        }
    }
}

impl<L> Value<L> {
    fn push(&mut self, node: Node<L>) -> Result<Index> {
        self.nodes.push(node);
        Ok(self.nodes.len() - 1)
    }

    fn node(&mut self, index: Index) -> &mut Node<L> {
        &mut self.nodes[index]
    }

    /// Marks node `index` (built by the caller) as the next root.
    pub fn add_root(&mut self, index: Index) {
        self.roots.push(index);
    }

    /// A value of one root, `None`/`null`.
    pub fn none() -> Self {
        let mut value = Self::default();
        value.nodes.push(Node::None);
        value.roots.push(0);
        value
    }

    /// A value of one root, a boolean.
    pub fn boolean(b: bool) -> Self {
        let mut value = Self::default();
        value.nodes.push(Node::Bool(b));
        value.roots.push(0);
        value
    }

    /// A value of one root, a number.
    pub fn number(n: f64) -> Self {
        let mut value = Self::default();
        value.nodes.push(Node::Number(n));
        value.roots.push(0);
        value
    }
}

impl ValueForJs {
    /// Replays every root into JS, with one identity table. Proxies take their references.
    pub fn build_js<B: JsBuilder>(mut self, build: &mut B) -> Result<Vec<B::Out>> {
        let mut done: Vec<Option<B::Out>> = vec![None; self.nodes.len()];
        let roots = std::mem::take(&mut self.roots);
        roots
            .into_iter()
            .map(|root| self.js_node(root, build, &mut done))
            .collect()
    }

    /// Replays the only root.
    pub fn build_js_one<B: JsBuilder>(self, build: &mut B) -> Result<B::Out> {
        self.build_js(build)?
            .pop()
            .ok_or_else(|| Error::Internal("a value without a root".into()))
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
        let out = match &self.nodes[i] {
            Node::None => b.null()?,
            Node::Bool(v) => b.boolean(*v)?,
            Node::Number(d) => b.number(*d)?,
            Node::BigInt(negative, words) => b.bigint(*negative, words)?,
            Node::Str(s) => b.string(Text::Utf8(s))?,
            Node::Utf16(units) => b.string(Text::Ucs2(units))?,
            Node::Bytes(bytes) => b.buffer(bytes)?,
            Node::Typed(element, bytes, _) => {
                let count = bytes.len() / element.size();
                b.typed_array(*element, count, &mut |dest| {
                    super::buffer::write(dest, bytes)
                })?
            }
            Node::Date(ms) => b.date(*ms)?,
            Node::Numbers(values) => b.numbers(values)?,
            Node::Flags(flags) => b.booleans(flags)?,
            Node::Leaf(_) => {
                // Replayed once: `done` remembers it from now on.
                let Node::Leaf(ForJs(object, callable)) =
                    std::mem::replace(&mut self.nodes[i], Node::None)
                else {
                    unreachable!("matched a leaf just above")
                };
                b.proxy(object, callable)?
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
                            _ => return Err(Error::Internal("object key is not a string".into())),
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
}

impl ValueForPy {
    /// Replays every root into Python, with one identity table. Call attached.
    pub fn build_py<B: PyBuilder>(&self, build: &mut B) -> Result<Vec<B::Out>> {
        let mut done: Vec<Option<B::Out>> = vec![None; self.nodes.len()];
        self.roots
            .iter()
            .map(|&root| self.py_node(root, build, &mut done))
            .collect()
    }

    /// Replays the only root.
    pub fn build_py_one<B: PyBuilder>(&self, build: &mut B) -> Result<B::Out> {
        self.build_py(build)?
            .pop()
            .ok_or_else(|| Error::Internal("a value without a root".into()))
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
            Node::Bytes(bytes) => b.bytes(bytes)?,
            Node::Typed(element, bytes, shape) => {
                let elements = b.elements(bytes)?;
                b.typed(elements, *element, shape.as_deref())?
            }
            Node::Date(ms) => b.date(*ms)?,
            Node::Flags(_) => return Err(Error::Internal("booleans headed for Python".into())),
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
            Node::Leaf(ForPy::Object(object, method)) => b.object(object, method.clone())?,
            Node::Leaf(ForPy::Callback(callback)) => b.callback(callback.clone())?,
            Node::Leaf(ForPy::Promise(ticket)) => b.promise(*ticket)?,
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

/// The plain-data half of both builders.
macro_rules! plain_builder {
    () => {
        fn boolean(&mut self, b: bool) -> Result<Index> {
            self.push(Node::Bool(b))
        }
        fn number(&mut self, d: f64) -> Result<Index> {
            self.push(Node::Number(d))
        }
        fn bigint(&mut self, negative: bool, words: &[u64]) -> Result<Index> {
            self.push(Node::BigInt(negative, words.to_vec()))
        }
        fn date(&mut self, ms: f64) -> Result<Index> {
            self.push(Node::Date(ms))
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
    };
}

impl JsBuilder for ValueForJs {
    type Out = Index;

    plain_builder!();

    fn null(&mut self) -> Result<Index> {
        self.push(Node::None)
    }
    fn string(&mut self, text: Text<'_>) -> Result<Index> {
        self.push(Node::Utf16(text.to_utf16()))
    }
    fn buffer(&mut self, bytes: &[u8]) -> Result<Index> {
        self.push(Node::Bytes(super::buffer::copied(bytes)?))
    }
    fn typed_array(&mut self, element: Element, count: usize, fill: Fill<'_>) -> Result<Index> {
        let len = count
            .checked_mul(element.size())
            .ok_or_else(|| Error::Conversion(format!("{count} elements are too many")))?;
        let bytes = super::buffer::written(len, fill)?;
        self.push(Node::Typed(element, bytes, None))
    }
    fn numbers(&mut self, values: &[f64]) -> Result<Index> {
        let mut copy = Vec::new();
        copy.try_reserve_exact(values.len())
            .map_err(|_| Error::Conversion(format!("cannot allocate {} numbers", values.len())))?;
        copy.extend_from_slice(values);
        self.push(Node::Numbers(copy))
    }
    fn array(&mut self, len: usize) -> Result<Index> {
        if len > MAX_ARRAY_LENGTH {
            return Err(too_long(len));
        }
        let mut items = Vec::new();
        items.try_reserve_exact(len).map_err(|_| {
            Error::Conversion(format!("cannot allocate an Array of {len} elements"))
        })?;
        items.resize(len, 0);
        self.push(Node::List(items))
    }
    fn booleans(&mut self, flags: &[u8]) -> Result<Index> {
        if flags.len() > MAX_ARRAY_LENGTH {
            return Err(too_long(flags.len()));
        }
        self.push(Node::Flags(super::buffer::copied(flags)?))
    }
    fn set_element(&mut self, array: &Index, index: usize, item: Index) -> Result<()> {
        if let Node::List(items) = self.node(*array) {
            match items.get_mut(index) {
                Some(slot) => *slot = item,
                None => return Err(Error::Internal("array index out of range".into())),
            }
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
    fn proxy(&mut self, object: ObjectRef, callable: bool) -> Result<Index> {
        self.push(Node::Leaf(ForJs(object, callable)))
    }
}

impl PyBuilder for ValueForPy {
    type Out = Index;

    plain_builder!();

    fn none(&mut self) -> Result<Index> {
        self.push(Node::None)
    }
    fn string(&mut self, s: &str) -> Result<Index> {
        self.push(Node::Str(s.to_owned()))
    }
    fn bytes(&mut self, bytes: &[u8]) -> Result<Index> {
        self.push(Node::Bytes(super::buffer::copied(bytes)?))
    }
    fn elements(&mut self, bytes: &[u8]) -> Result<Index> {
        let copy = super::buffer::copied(bytes)?;
        self.push(Node::Typed(Element::U8, copy, None))
    }
    fn typed(
        &mut self,
        elements: Index,
        element: Element,
        shape: Option<&[usize]>,
    ) -> Result<Index> {
        if let Node::Typed(kind, _, dims) = self.node(elements) {
            *kind = element;
            *dims = shape.map(<[usize]>::to_vec);
        }
        Ok(elements)
    }
    fn object(&mut self, object: &Arc<ObjectRef>, method: Option<String>) -> Result<Index> {
        self.push(Node::Leaf(ForPy::Object(object.clone(), method)))
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
        self.push(Node::List(vec![0; len]))
    }
    fn list_set(&mut self, list: &Index, index: usize, item: Index) -> Result<()> {
        if let Node::List(items) = self.node(*list) {
            match items.get_mut(index) {
                Some(slot) => *slot = item,
                None => return Err(Error::Internal("list index out of range".into())),
            }
        }
        Ok(())
    }
    fn dict(&mut self) -> Result<Index> {
        self.push(Node::Object(Vec::new()))
    }
    fn dict_set(&mut self, dict: &Index, key: Index, value: Index) -> Result<()> {
        if let Node::Object(entries) = self.node(*dict) {
            entries.push((key, value));
        }
        Ok(())
    }
    fn callback(&mut self, callback: Arc<JsCallback>) -> Result<Index> {
        self.push(Node::Leaf(ForPy::Callback(callback)))
    }
    fn promise(&mut self, ticket: u32) -> Result<Index> {
        self.push(Node::Leaf(ForPy::Promise(ticket)))
    }
}
