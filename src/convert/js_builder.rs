//! `JsValues`: builds real JS values through Node-API. JS thread only; needs no GIL.

use napi::sys;

use super::{proxy, Element, Fill, JsBuilder, Text};
use crate::context::ObjectRef;
use crate::error::{Error, Result};
use crate::handle::OwnerId;
use crate::js::{hooks, JsEnv};

pub struct JsValues {
    env: JsEnv,
    /// Proxies made while building belong to this `Python` instance, if any (each proxy's
    /// interpreter is its object's own).
    owner: Option<OwnerId>,
    /// `Map.prototype.set` and `Set.prototype.add`, looked up once per conversion.
    map_set: Option<sys::napi_value>,
    set_add: Option<sys::napi_value>,
    /// A TypedArray the next typed array is written into, instead of a new one.
    into: Option<sys::napi_value>,
}

impl JsValues {
    pub fn new(env: JsEnv, owner: Option<OwnerId>) -> Self {
        Self {
            env,
            owner,
            map_set: None,
            set_add: None,
            into: None,
        }
    }

    /// Writes the (first) typed array built into `array` (a TypedArray) instead of a new one;
    /// its kind and length must match.
    pub fn into_array(mut self, array: Option<sys::napi_value>) -> Self {
        self.into = array;
        self
    }

    fn method(
        &mut self,
        on: sys::napi_value,
        name: &str,
        slot: fn(&mut Self) -> &mut Option<sys::napi_value>,
    ) -> Result<sys::napi_value> {
        if let Some(f) = *slot(self) {
            return Ok(f);
        }
        let f = self.env.get_property(on, self.env.string(name)?)?;
        *slot(self) = Some(f);
        Ok(f)
    }
}

impl JsBuilder for JsValues {
    type Out = sys::napi_value;

    fn null(&mut self) -> Result<Self::Out> {
        self.env.null()
    }

    fn boolean(&mut self, b: bool) -> Result<Self::Out> {
        self.env.boolean(b)
    }

    fn number(&mut self, d: f64) -> Result<Self::Out> {
        self.env.double(d)
    }

    fn bigint(&mut self, negative: bool, words: &[u64]) -> Result<Self::Out> {
        self.env.bigint(negative, words)
    }

    fn string(&mut self, text: Text<'_>) -> Result<Self::Out> {
        match text {
            Text::Utf8(s) => self.env.string(s),
            Text::Latin1(bytes) => self.env.string_latin1(bytes),
            Text::Ucs2(units) => self.env.string_utf16(units),
            Text::Ucs4(_) => self.env.string_utf16(&text.to_utf16()),
        }
    }

    fn buffer(&mut self, bytes: &[u8]) -> Result<Self::Out> {
        self.env.buffer_copy(bytes)
    }

    /// Allocated by JS (the `typedArray` hook), so that a size JS cannot hold is an error, or
    /// the caller's (`into_array`), and filled in place: one copy.
    fn typed_array(&mut self, element: Element, count: usize, fill: Fill<'_>) -> Result<Self::Out> {
        let env = self.env;
        let given = self.into.take();
        let array = match given {
            Some(array) => array,
            None => {
                let kind = env.double(element.typed_array() as f64)?;
                let length = env.double(count as f64)?;
                let new = hooks::get(env, |h| h.typed_array)?;
                env.call(new, env.undefined()?, &[kind, length])?
            }
        };
        if env.type_of(array)? != sys::ValueType::napi_object {
            return Err(Error::Conversion(format!(
                "JS cannot allocate a TypedArray of {count} elements of {} bytes",
                element.size()
            )));
        }
        env.with_typed_array_mut(array, |kind, bytes| {
            let fits = kind == element.typed_array()
                || kind == sys::TypedarrayType::uint8_clamped_array
                    && matches!(element, Element::U8 | Element::Bool);
            if given.is_some() && !fits {
                return Err(Error::invalid_arg(format!(
                    "into cannot hold '{}' elements: a {} is needed",
                    element.format(),
                    element.js_name()
                )));
            }
            if bytes.len() != count * element.size() {
                return Err(Error::invalid_arg(format!(
                    "into holds {} elements, the buffer {count}",
                    bytes.len() / element.size()
                )));
            }
            fill(bytes)
        })??;
        Ok(array)
    }

    fn date(&mut self, ms: f64) -> Result<Self::Out> {
        self.env.date(ms)
    }

    fn numbers(&mut self, values: &[f64]) -> Result<Self::Out> {
        let env = self.env;
        let packed = env.float64_array(values)?;
        env.call(
            hooks::get(env, |h| h.from_float64)?,
            env.undefined()?,
            &[packed],
        )
    }

    fn booleans(&mut self, flags: &[u8]) -> Result<Self::Out> {
        let env = self.env;
        let array = env.array(flags.len())?;
        let (yes, no) = (env.boolean(true)?, env.boolean(false)?);
        for (i, &flag) in flags.iter().enumerate() {
            env.set_element(array, i as u32, if flag != 0 { yes } else { no })?;
        }
        Ok(array)
    }

    fn array(&mut self, len: usize) -> Result<Self::Out> {
        self.env.array(len)
    }

    fn set_element(&mut self, array: &Self::Out, index: usize, item: Self::Out) -> Result<()> {
        self.env.set_element(*array, index as u32, item)
    }

    fn object(&mut self) -> Result<Self::Out> {
        self.env.object()
    }

    fn set_property(&mut self, object: &Self::Out, key: Text<'_>, value: Self::Out) -> Result<()> {
        let name = self.string(key)?;
        if key.is("__proto__") {
            self.env.define_value(*object, name, value) // an own property, not the prototype
        } else {
            self.env.set_property(*object, name, value)
        }
    }

    fn map(&mut self) -> Result<Self::Out> {
        let env = self.env;
        env.new_instance(hooks::get(env, |h| h.map_ctor)?, &[])
    }

    fn map_set(&mut self, map: &Self::Out, key: Self::Out, value: Self::Out) -> Result<()> {
        let set = self.method(*map, "set", |s| &mut s.map_set)?;
        self.env.call(set, *map, &[key, value]).map(drop)
    }

    fn set(&mut self) -> Result<Self::Out> {
        let env = self.env;
        env.new_instance(hooks::get(env, |h| h.set_ctor)?, &[])
    }

    fn set_add(&mut self, set: &Self::Out, item: Self::Out) -> Result<()> {
        let add = self.method(*set, "add", |s| &mut s.set_add)?;
        self.env.call(add, *set, &[item]).map(drop)
    }

    fn proxy(&mut self, object: ObjectRef, callable: bool) -> Result<Self::Out> {
        proxy::wrap(self.env, self.owner, object, callable)
    }
}
