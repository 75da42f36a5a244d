//! JS → Python: walks JS values and builds with a `PyBuilder` (Python objects directly while
//! attached, or a thread-crossing `Value`). JS thread only.
//!
//! undefined/null→None, boolean→bool, safe integer→int, other number→float,
//! BigInt→int, string→str, Buffer/Uint8Array→bytes, other TypedArrays→writable memoryview of the
//! matching format, ArrayBuffer/DataView→bytes, `{ data: TypedArray, shape }`→memoryview of that
//! shape, Array→list, Date→datetime (UTC), Map→dict, Set→set,
//! proxy→its Python object, function→a callable calling it, Promise→`pyembed.JSPromise`
//! (awaitable), other objects→dict of their own enumerable string keys.

use napi::sys;

use super::{too_deep, Element, PyBuilder, MAX_DEPTH, MAX_SAFE_INTEGER, PACK_THRESHOLD};
use crate::callback;
use crate::context::InterpId;
use crate::error::{Error, Result};
use crate::handle::{self, HandleId};
use crate::js::{hooks, JsEnv};
use crate::python::buffer::MAX_DIMS;

/// Identity lookups scan linearly up to this many containers, then use a JS `Map`.
const LINEAR_SEEN: usize = 16;

pub struct ToPy<B: PyBuilder> {
    env: JsEnv,
    build: B,
    depth: usize,
    /// Containers converted so far: JS object and what was built for it.
    seen: Vec<(sys::napi_value, B::Out)>,
    /// JS `Map` from object to index into `seen` (with its `get` and `set`), once `seen`
    /// outgrows a linear scan.
    seen_map: Option<(sys::napi_value, sys::napi_value, sys::napi_value)>,
    /// The interpreter the result is for: proxies of any other are refused.
    interp: InterpId,
}

impl<B: PyBuilder> ToPy<B> {
    pub fn new(env: JsEnv, build: B) -> Self {
        Self {
            env,
            build,
            depth: 0,
            seen: Vec::new(),
            seen_map: None,
            interp: 0,
        }
    }

    /// Converts for interpreter `interp` (default: the main one).
    pub fn for_interp(mut self, interp: InterpId) -> Self {
        self.interp = interp;
        self
    }

    /// The builder, to take what it built (a `Value`) after converting.
    pub fn into_builder(self) -> B {
        self.build
    }

    pub fn convert(&mut self, v: sys::napi_value) -> Result<B::Out> {
        let env = self.env;
        match env.type_of(v)? {
            sys::ValueType::napi_undefined | sys::ValueType::napi_null => self.build.none(),
            sys::ValueType::napi_boolean => {
                let b = env.get_bool(v)?;
                self.build.boolean(b)
            }
            sys::ValueType::napi_number => {
                let d = env.get_double(v)?;
                self.build.number(d)
            }
            sys::ValueType::napi_string => {
                let build = &mut self.build;
                env.with_utf8(v, |s| build.string(s))?
            }
            sys::ValueType::napi_bigint => {
                let (negative, words) = env.get_bigint(v)?;
                self.build.bigint(negative, &words)
            }
            sys::ValueType::napi_object => self.object(v),
            sys::ValueType::napi_function => match self.proxied(v)? {
                Some(obj) => Ok(obj),
                None => {
                    let callback = callback::register(env, v, self.interp)?;
                    self.build.callback(callback)
                }
            },
            sys::ValueType::napi_symbol => {
                Err(Error::invalid_arg("cannot convert a JS symbol to Python"))
            }
            _ => Err(Error::invalid_arg("cannot convert this JS value to Python")),
        }
    }

    fn object(&mut self, v: sys::napi_value) -> Result<B::Out> {
        let env = self.env;
        if let Some(done) = self.lookup(v)? {
            return Ok(done);
        }
        if self.depth >= MAX_DEPTH {
            return Err(too_deep());
        }
        self.depth += 1;
        let result = (|| {
            if env.is_array(v)? {
                return self.array(v);
            }
            if let Some(obj) = self.proxied(v)? {
                return Ok(obj);
            }
            let build = &mut self.build;
            if let Some(copied) = env.with_binary(v, |kind, bytes| copy(build, kind, bytes))? {
                // Python code may run from here on (a memoryview is made): JS memory is no
                // longer borrowed.
                return match copied? {
                    (copy, None) => Ok(copy),
                    (copy, Some(element)) => self.build.typed(copy, element, None),
                };
            }
            if env.is_date(v)? {
                let ms = env.date_value(v)?;
                return self.build.date(ms);
            }
            if env.is_promise(v)? {
                let ticket = callback::watch(env, v, self.interp)?;
                return self.build.promise(ticket);
            }
            if env.instance_of(v, hooks::get(env, |h| h.map_ctor)?)? {
                return self.map(v);
            }
            if env.instance_of(v, hooks::get(env, |h| h.set_ctor)?)? {
                return self.set(v);
            }
            self.plain(v)
        })();
        self.depth -= 1;
        result
    }

    /// The Python object behind a proxy (or a proxy's cached method), if `v` is one.
    fn proxied(&mut self, v: sys::napi_value) -> Result<Option<B::Out>> {
        let env = self.env;
        let id = env.get_property(v, hooks::get(env, |h| h.handle_symbol)?)?;
        if env.type_of(id)? != sys::ValueType::napi_number {
            return Ok(None);
        }
        let object = handle::with(|r| r.lend_in(env.get_double(id)? as HandleId, self.interp))?;
        let method = env.get_property(v, hooks::get(env, |h| h.method_symbol)?)?;
        let method = match env.type_of(method)? == sys::ValueType::napi_string {
            true => Some(env.get_string(method)?),
            false => None,
        };
        self.build.object(&object, method).map(Some)
    }

    fn lookup(&mut self, v: sys::napi_value) -> Result<Option<B::Out>> {
        let env = self.env;
        if let Some((map, get, _)) = self.seen_map {
            // `get` is the Map's own (looked up once per conversion), but user code may have
            // patched `Map.prototype.get`: trust only an index that names an entry.
            let index = env.call(get, map, &[v])?;
            if env.type_of(index)? != sys::ValueType::napi_number {
                return Ok(None);
            }
            let index = env.get_double(index)?;
            return match self.seen.get(index as usize) {
                Some((seen, built)) if env.strict_equals(*seen, v)? => Ok(Some(built.clone())),
                _ => Ok(None),
            };
        }
        for (js, built) in &self.seen {
            if env.strict_equals(*js, v)? {
                return Ok(Some(built.clone()));
            }
        }
        Ok(None)
    }

    fn remember(&mut self, v: sys::napi_value, built: &B::Out) -> Result<()> {
        let env = self.env;
        self.seen.push((v, built.clone()));
        if self.seen_map.is_none() && self.seen.len() > LINEAR_SEEN {
            let map = env.new_instance(hooks::get(env, |h| h.map_ctor)?, &[])?;
            let get = env.get_property(map, env.string("get")?)?;
            let set = env.get_property(map, env.string("set")?)?;
            for (i, (js, _)) in self.seen.iter().enumerate() {
                env.call(set, map, &[*js, env.double(i as f64)?])?;
            }
            self.seen_map = Some((map, get, set));
        } else if let Some((map, _, set)) = self.seen_map {
            env.call(set, map, &[v, env.double((self.seen.len() - 1) as f64)?])?;
        }
        Ok(())
    }

    fn array(&mut self, v: sys::napi_value) -> Result<B::Out> {
        let env = self.env;
        let len = env.array_len(v)? as usize;
        if len >= PACK_THRESHOLD {
            if let Some(list) = self.numbers(v, len)? {
                self.remember(v, &list)?;
                return Ok(list);
            }
        }
        let list = self.build.list(len)?;
        self.remember(v, &list)?;
        for i in 0..len {
            let item = self.convert(env.get_element(v, i as u32)?)?;
            self.build.list_set(&list, i, item)?;
        }
        Ok(list)
    }

    /// An Array of numbers, filled chunk by chunk from the TS `packNumbers` hook; `None` as
    /// soon as a chunk holds anything else.
    fn numbers(&mut self, v: sys::napi_value, len: usize) -> Result<Option<B::Out>> {
        let env = self.env;
        let pack = hooks::get(env, |h| h.pack_numbers)?;
        let undefined = env.undefined()?;
        let list = self.build.numbers(len)?;
        let mut filled = 0;
        while filled < len {
            let packed = env.call(pack, undefined, &[v, env.double(filled as f64)?])?;
            let build = &mut self.build;
            let chunk = env.with_binary(packed, |_, bytes| {
                build.fill_numbers(&list, filled, len - filled, bytes)
            })?;
            match chunk {
                Some(Ok(0)) | None => return Ok(None), // a non-number (or the array shrank)
                Some(Ok(count)) => filled += count,
                Some(Err(e)) => return Err(e),
            }
        }
        Ok(Some(list))
    }

    fn plain(&mut self, v: sys::napi_value) -> Result<B::Out> {
        let env = self.env;
        let keys = env.own_keys(v)?;
        let count = env.array_len(keys)?;
        if count == 2 || count == 3 {
            if let Some(shaped) = self.shaped(v, keys, count)? {
                return Ok(shaped);
            }
        }
        let dict = self.build.dict()?;
        self.remember(v, &dict)?;
        for i in 0..count {
            let key = env.get_element(keys, i)?;
            let value = self.convert(env.get_property(v, key)?)?;
            let build = &mut self.build;
            let key = env.with_utf8(key, |s| build.string(s))??;
            self.build.dict_set(&dict, key, value)?;
        }
        Ok(dict)
    }

    /// `{ data, shape }`, or `{ data, shape, format }` (what `py.buffer` returns), with `data`
    /// a TypedArray: its elements as a memoryview of that shape. `None` for any other object.
    fn shaped(
        &mut self,
        v: sys::napi_value,
        keys: sys::napi_value,
        count: u32,
    ) -> Result<Option<B::Out>> {
        let env = self.env;
        // Own keys are distinct: `data` and `shape` among 2 or 3 of these three names suffice.
        // Most objects stop at their first key, read without allocating.
        const NAMES: [&str; 3] = ["data", "shape", "format"];
        let mut seen = [false; 3];
        for i in 0..count {
            let key = env.get_element(keys, i)?;
            match env.with_utf8(key, |k| NAMES.iter().position(|&n| n == k))? {
                Some(n) => seen[n] = true,
                None => return Ok(None),
            }
        }
        if !(seen[0] && seen[1]) {
            return Ok(None);
        }
        let data = env.get_property(v, env.string("data")?)?;
        if !env.is_typedarray(data)? {
            return Ok(None);
        }
        let shape = dimensions(env, env.get_property(v, env.string("shape")?)?)?;
        let format = match count {
            3 => Some(env.get_property(v, env.string("format")?)?),
            _ => None,
        };
        let format = match format {
            Some(f) if env.type_of(f)? == sys::ValueType::napi_string => Some(env.get_string(f)?),
            Some(_) => return Err(Error::invalid_arg("format must be a string")),
            None => None,
        };
        let build = &mut self.build;
        let copied = env.with_binary(data, |kind, bytes| {
            let own = kind
                .and_then(Element::of_typed_array)
                .ok_or_else(|| Error::invalid_arg("data must be a TypedArray"))?;
            let element = match format.as_deref() {
                None => own,
                Some("?") if own == Element::U8 => Element::Bool,
                Some(f) if f == own.format() => own,
                Some(f) => {
                    return Err(Error::invalid_arg(format!(
                        "format '{f}' does not match data, whose elements are '{}'",
                        own.format()
                    )))
                }
            };
            let elements = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
            // An empty shape's other dimensions still make its strides: numpy's rule.
            let span = (shape.iter().filter(|&&d| d != 0))
                .try_fold(element.size(), |n, &d| n.checked_mul(d))
                .filter(|&n| n <= isize::MAX as usize);
            if elements != Some(bytes.len() / element.size()) || span.is_none() {
                return Err(Error::invalid_arg(format!(
                    "shape {shape:?} does not hold the {} elements of data",
                    bytes.len() / element.size()
                )));
            }
            if element == Element::Bool && bytes.iter().any(|&flag| flag > 1) {
                let flags: Vec<u8> = bytes.iter().map(|&flag| (flag != 0) as u8).collect();
                return Ok((build.elements(&flags)?, element)); // as Python's bool: 0 or 1
            }
            Ok((build.elements(bytes)?, element))
        })?;
        let Some(copied) = copied else {
            return Ok(None);
        };
        let (copy, element) = copied?;
        let view = self.build.typed(copy, element, Some(&shape))?;
        self.remember(v, &view)?;
        Ok(Some(view))
    }

    /// Entries of a Map or values of a Set, via the TS helper `Array.from`.
    fn items(&mut self, v: sys::napi_value) -> Result<sys::napi_value> {
        let env = self.env;
        env.call(hooks::get(env, |h| h.to_array)?, env.undefined()?, &[v])
    }

    fn map(&mut self, v: sys::napi_value) -> Result<B::Out> {
        let env = self.env;
        let dict = self.build.dict()?;
        self.remember(v, &dict)?;
        let entries = self.items(v)?;
        for i in 0..env.array_len(entries)? {
            let entry = env.get_element(entries, i)?;
            let key = self.convert(env.get_element(entry, 0)?)?;
            let value = self.convert(env.get_element(entry, 1)?)?;
            self.build.dict_set(&dict, key, value)?;
        }
        Ok(dict)
    }

    fn set(&mut self, v: sys::napi_value) -> Result<B::Out> {
        let env = self.env;
        let set = self.build.set()?;
        self.remember(v, &set)?;
        let values = self.items(v)?;
        for i in 0..env.array_len(values)? {
            let item = self.convert(env.get_element(values, i)?)?;
            self.build.set_add(&set, item)?;
        }
        Ok(set)
    }
}

/// Copies a Buffer, Uint8Array, Uint8ClampedArray, ArrayBuffer or DataView into bytes, or
/// another TypedArray's elements (and says which, for `PyBuilder::typed`).
fn copy<B: PyBuilder>(
    build: &mut B,
    kind: Option<sys::napi_typedarray_type>,
    bytes: &[u8],
) -> Result<(B::Out, Option<Element>)> {
    match kind.and_then(Element::of_typed_array) {
        None | Some(Element::U8) => Ok((build.bytes(bytes)?, None)),
        Some(element) => Ok((build.elements(bytes)?, Some(element))),
    }
}

/// A `shape`: an Array of at most 64 non-negative integers.
fn dimensions(env: JsEnv, v: sys::napi_value) -> Result<Vec<usize>> {
    let bad = || {
        Error::invalid_arg(format!(
            "shape must be an Array of at most {MAX_DIMS} non-negative integers"
        ))
    };
    if !env.is_array(v)? {
        return Err(bad());
    }
    let len = env.array_len(v)?;
    if len as usize > MAX_DIMS {
        return Err(bad());
    }
    (0..len)
        .map(|i| {
            let d = env.get_element(v, i)?;
            if env.type_of(d)? != sys::ValueType::napi_number {
                return Err(bad());
            }
            match env.get_double(d)? {
                d if d >= 0.0 && d.fract() == 0.0 && d <= MAX_SAFE_INTEGER as f64 => Ok(d as usize),
                _ => Err(bad()),
            }
        })
        .collect()
}
