//! `JsEnv`: the Node-API calls pyembed makes, each checked and mapped to `Error`.

use std::ffi::c_void;
use std::ptr;

use napi::bindgen_prelude::{FromNapiValue, ToNapiValue, TypeName, ValidateNapiValue};
use napi::sys;

use crate::error::{Error, Result};

/// A raw JS value passed through `#[napi]` functions untouched.
#[derive(Clone, Copy)]
pub struct Js(pub sys::napi_value);

impl TypeName for Js {
    fn type_name() -> &'static str {
        "unknown"
    }
    fn value_type() -> napi::ValueType {
        napi::ValueType::Unknown
    }
}

impl ValidateNapiValue for Js {}

impl FromNapiValue for Js {
    unsafe fn from_napi_value(_env: sys::napi_env, value: sys::napi_value) -> napi::Result<Self> {
        Ok(Js(value))
    }
}

impl ToNapiValue for Js {
    unsafe fn to_napi_value(_env: sys::napi_env, value: Self) -> napi::Result<sys::napi_value> {
        Ok(value.0)
    }
}

#[derive(Clone, Copy)]
pub struct JsEnv(pub sys::napi_env);

macro_rules! napi_call {
    ($env:expr, $name:ident($($arg:expr),*)) => {{
        // SAFETY: `$env` is the live env of the current JS thread and every pointer argument
        // is valid for the call (out-pointers are locals of the caller).
        let status = unsafe { sys::$name($env.0, $($arg),*) };
        $env.check(status, stringify!($name))
    }};
}

/// A napi call writing one out-value.
macro_rules! napi_out {
    ($env:expr, $ty:ty, $name:ident($($arg:expr),*)) => {{
        let mut out: $ty = Default::default();
        napi_call!($env, $name($($arg,)* &mut out)).map(|()| out)
    }};
}

impl JsEnv {
    fn check(self, status: sys::napi_status, what: &str) -> Result<()> {
        if status == sys::Status::napi_ok {
            return Ok(());
        }
        if status == sys::Status::napi_cannot_run_js {
            return Err(Error::JsEnded); // the environment is being torn down
        }
        let mut pending = false;
        // SAFETY: env is live; `pending` is a valid out-pointer.
        unsafe { sys::napi_is_exception_pending(self.0, &mut pending) };
        if pending || status == sys::Status::napi_pending_exception {
            Err(Error::JsPending)
        } else {
            Err(Error::Internal(format!(
                "{what} failed with status {status}"
            )))
        }
    }

    pub fn type_of(self, v: sys::napi_value) -> Result<sys::napi_valuetype> {
        napi_out!(self, sys::napi_valuetype, napi_typeof(v))
    }

    pub fn undefined(self) -> Result<sys::napi_value> {
        napi_out!(self, sys::napi_value, napi_get_undefined())
    }

    pub fn null(self) -> Result<sys::napi_value> {
        napi_out!(self, sys::napi_value, napi_get_null())
    }

    pub fn boolean(self, b: bool) -> Result<sys::napi_value> {
        napi_out!(self, sys::napi_value, napi_get_boolean(b))
    }

    pub fn get_bool(self, v: sys::napi_value) -> Result<bool> {
        napi_out!(self, bool, napi_get_value_bool(v))
    }

    pub fn double(self, d: f64) -> Result<sys::napi_value> {
        napi_out!(self, sys::napi_value, napi_create_double(d))
    }

    pub fn get_double(self, v: sys::napi_value) -> Result<f64> {
        napi_out!(self, f64, napi_get_value_double(v))
    }

    /// A JS string from UTF-8.
    pub fn string(self, s: &str) -> Result<sys::napi_value> {
        napi_out!(
            self,
            sys::napi_value,
            napi_create_string_utf8(s.as_ptr().cast(), s.len() as isize)
        )
    }

    pub fn string_latin1(self, bytes: &[u8]) -> Result<sys::napi_value> {
        napi_out!(
            self,
            sys::napi_value,
            napi_create_string_latin1(bytes.as_ptr().cast(), bytes.len() as isize)
        )
    }

    pub fn string_utf16(self, units: &[u16]) -> Result<sys::napi_value> {
        napi_out!(
            self,
            sys::napi_value,
            napi_create_string_utf16(units.as_ptr(), units.len() as isize)
        )
    }

    /// Runs `f` on a JS string's UTF-8 (lone surrogates become U+FFFD), without allocating
    /// for short strings.
    pub fn with_utf8<R>(self, v: sys::napi_value, f: impl FnOnce(&str) -> R) -> Result<R> {
        let mut buf = [0u8; 256];
        let written = napi_out!(
            self,
            usize,
            napi_get_value_string_utf8(v, buf.as_mut_ptr().cast(), buf.len())
        )?;
        if written < buf.len() - 1 {
            return Ok(f(utf8(&buf[..written])));
        }
        let len = napi_out!(
            self,
            usize,
            napi_get_value_string_utf8(v, ptr::null_mut(), 0)
        )?;
        let mut big = vec![0u8; len + 1];
        let written = napi_out!(
            self,
            usize,
            napi_get_value_string_utf8(v, big.as_mut_ptr().cast(), big.len())
        )?;
        Ok(f(utf8(&big[..written])))
    }

    /// A JS string as an owned `String`.
    pub fn get_string(self, v: sys::napi_value) -> Result<String> {
        self.with_utf8(v, str::to_owned)
    }

    pub fn bigint(self, negative: bool, words: &[u64]) -> Result<sys::napi_value> {
        napi_out!(
            self,
            sys::napi_value,
            napi_create_bigint_words(negative as i32, words.len(), words.as_ptr())
        )
    }

    /// Sign and little-endian 64-bit words of a BigInt.
    pub fn get_bigint(self, v: sys::napi_value) -> Result<(bool, Vec<u64>)> {
        let mut count = 0usize;
        let mut sign = 0i32;
        napi_call!(
            self,
            napi_get_value_bigint_words(v, ptr::null_mut(), &mut count, ptr::null_mut())
        )?;
        let mut words = vec![0u64; count];
        napi_call!(
            self,
            napi_get_value_bigint_words(v, &mut sign, &mut count, words.as_mut_ptr())
        )?;
        Ok((sign != 0, words))
    }

    /// A new Array of `len` holes; longer than V8 allows (`MAX_ARRAY_LENGTH`) is
    /// `ERR_PY_CONVERSION`, where Node-API would abort the process.
    pub fn array(self, len: usize) -> Result<sys::napi_value> {
        if len > MAX_ARRAY_LENGTH {
            return Err(too_long(len));
        }
        napi_out!(self, sys::napi_value, napi_create_array_with_length(len))
    }

    pub fn is_typedarray(self, v: sys::napi_value) -> Result<bool> {
        napi_out!(self, bool, napi_is_typedarray(v))
    }

    pub fn is_array(self, v: sys::napi_value) -> Result<bool> {
        napi_out!(self, bool, napi_is_array(v))
    }

    pub fn array_len(self, v: sys::napi_value) -> Result<u32> {
        napi_out!(self, u32, napi_get_array_length(v))
    }

    pub fn get_element(self, v: sys::napi_value, i: u32) -> Result<sys::napi_value> {
        napi_out!(self, sys::napi_value, napi_get_element(v, i))
    }

    pub fn set_element(self, v: sys::napi_value, i: u32, item: sys::napi_value) -> Result<()> {
        napi_call!(self, napi_set_element(v, i, item))
    }

    pub fn object(self) -> Result<sys::napi_value> {
        napi_out!(self, sys::napi_value, napi_create_object())
    }

    pub fn get_property(self, v: sys::napi_value, key: sys::napi_value) -> Result<sys::napi_value> {
        napi_out!(self, sys::napi_value, napi_get_property(v, key))
    }

    pub fn set_property(
        self,
        v: sys::napi_value,
        key: sys::napi_value,
        item: sys::napi_value,
    ) -> Result<()> {
        napi_call!(self, napi_set_property(v, key, item))
    }

    pub fn get_named(self, v: sys::napi_value, name: &std::ffi::CStr) -> Result<sys::napi_value> {
        napi_out!(
            self,
            sys::napi_value,
            napi_get_named_property(v, name.as_ptr())
        )
    }

    /// Defines an own data property (bypasses setters such as `__proto__`).
    pub fn define_value(
        self,
        v: sys::napi_value,
        key: sys::napi_value,
        item: sys::napi_value,
    ) -> Result<()> {
        let descriptor = sys::napi_property_descriptor {
            utf8name: ptr::null(),
            name: key,
            method: None,
            getter: None,
            setter: None,
            value: item,
            attributes: sys::PropertyAttributes::writable
                | sys::PropertyAttributes::enumerable
                | sys::PropertyAttributes::configurable,
            data: ptr::null_mut(),
        };
        napi_call!(self, napi_define_properties(v, 1, &descriptor))
    }

    /// Own enumerable string keys, as a JS array.
    pub fn own_keys(self, v: sys::napi_value) -> Result<sys::napi_value> {
        napi_out!(
            self,
            sys::napi_value,
            napi_get_all_property_names(
                v,
                sys::KeyCollectionMode::own_only,
                sys::KeyFilter::enumerable | sys::KeyFilter::skip_symbols,
                sys::KeyConversion::numbers_to_strings
            )
        )
    }

    pub fn buffer_copy(self, bytes: &[u8]) -> Result<sys::napi_value> {
        let mut data: *mut c_void = ptr::null_mut();
        napi_out!(
            self,
            sys::napi_value,
            napi_create_buffer_copy(bytes.len(), bytes.as_ptr().cast(), &mut data)
        )
    }

    /// Runs `f` on the bytes of a TypedArray (with its kind), ArrayBuffer or DataView (kind
    /// `None`); `Ok(None)` if `v` is none of these.
    pub fn with_binary<R>(
        self,
        v: sys::napi_value,
        f: impl FnOnce(Option<sys::napi_typedarray_type>, &[u8]) -> R,
    ) -> Result<Option<R>> {
        let mut data: *mut c_void = ptr::null_mut();
        let mut len = 0usize;
        let mut buffer: sys::napi_value = ptr::null_mut();
        let mut offset = 0usize;
        let kind = if napi_out!(self, bool, napi_is_typedarray(v))? {
            let kind;
            (kind, data, len, buffer) = self.typed_array_info(v)?;
            Some(kind)
        } else if napi_out!(self, bool, napi_is_arraybuffer(v))? {
            napi_call!(self, napi_get_arraybuffer_info(v, &mut data, &mut len))?;
            None
        } else if napi_out!(self, bool, napi_is_dataview(v))? {
            napi_call!(
                self,
                napi_get_dataview_info(v, &mut len, &mut data, &mut buffer, &mut offset)
            )?;
            None
        } else {
            return Ok(None);
        };
        let owner = if buffer.is_null() { v } else { buffer };
        if napi_out!(self, bool, napi_is_detached_arraybuffer(owner))? {
            return Err(Error::invalid_arg(
                "cannot convert a detached ArrayBuffer (or a view of one): its contents were \
                 transferred",
            ));
        }
        let bytes = if len == 0 || data.is_null() {
            &[][..]
        } else {
            // SAFETY: Node-API reported `len` readable bytes at `data`; no JS runs while `f`
            // borrows them, so the buffer cannot be detached or resized meanwhile.
            unsafe { std::slice::from_raw_parts(data.cast::<u8>(), len) }
        };
        Ok(Some(f(kind, bytes)))
    }

    /// A TypedArray's kind, data, length in bytes and ArrayBuffer; a kind this addon does not
    /// know is `ERR_PY_INVALID_ARG`.
    fn typed_array_info(
        self,
        v: sys::napi_value,
    ) -> Result<(
        sys::napi_typedarray_type,
        *mut c_void,
        usize,
        sys::napi_value,
    )> {
        let mut kind = UNKNOWN_KIND;
        let mut count = 0usize;
        let mut data: *mut c_void = ptr::null_mut();
        let mut buffer: sys::napi_value = ptr::null_mut();
        let mut offset = 0usize;
        napi_call!(
            self,
            napi_get_typedarray_info(
                v,
                &mut kind,
                &mut count,
                &mut data,
                &mut buffer,
                &mut offset
            )
        )?;
        Ok((kind, data, count * element_size(kind)?, buffer))
    }

    /// Runs `f` on the kind and bytes of TypedArray `v`, to be written (they may be
    /// uninitialized).
    pub fn with_typed_array_mut<R>(
        self,
        v: sys::napi_value,
        f: impl FnOnce(sys::napi_typedarray_type, &mut [std::mem::MaybeUninit<u8>]) -> R,
    ) -> Result<R> {
        let (kind, data, len, _) = self.typed_array_info(v)?;
        let bytes = if len == 0 || data.is_null() {
            &mut [][..]
        } else {
            // SAFETY: Node-API reported `len` bytes at `data`, writable; no JS runs while `f`
            // borrows them, so the buffer cannot be detached, resized or read meanwhile.
            unsafe { std::slice::from_raw_parts_mut(data.cast(), len) }
        };
        Ok(f(kind, bytes))
    }

    /// A new Float64Array holding a copy of `values`.
    pub fn float64_array(self, values: &[f64]) -> Result<sys::napi_value> {
        let bytes = std::mem::size_of_val(values);
        let mut data: *mut c_void = ptr::null_mut();
        let buffer = napi_out!(
            self,
            sys::napi_value,
            napi_create_arraybuffer(bytes, &mut data)
        )?;
        if bytes > 0 {
            // SAFETY: Node-API just allocated `bytes` writable bytes at `data`.
            unsafe {
                ptr::copy_nonoverlapping(values.as_ptr().cast::<u8>(), data.cast::<u8>(), bytes)
            };
        }
        napi_out!(
            self,
            sys::napi_value,
            napi_create_typedarray(sys::TypedarrayType::float64_array, values.len(), buffer, 0)
        )
    }

    pub fn is_date(self, v: sys::napi_value) -> Result<bool> {
        napi_out!(self, bool, napi_is_date(v))
    }

    pub fn date_value(self, v: sys::napi_value) -> Result<f64> {
        napi_out!(self, f64, napi_get_date_value(v))
    }

    pub fn date(self, ms: f64) -> Result<sys::napi_value> {
        napi_out!(self, sys::napi_value, napi_create_date(ms))
    }

    pub fn instance_of(self, v: sys::napi_value, ctor: sys::napi_value) -> Result<bool> {
        napi_out!(self, bool, napi_instanceof(v, ctor))
    }

    pub fn strict_equals(self, a: sys::napi_value, b: sys::napi_value) -> Result<bool> {
        napi_out!(self, bool, napi_strict_equals(a, b))
    }

    pub fn call(
        self,
        func: sys::napi_value,
        this: sys::napi_value,
        args: &[sys::napi_value],
    ) -> Result<sys::napi_value> {
        napi_out!(
            self,
            sys::napi_value,
            napi_call_function(this, func, args.len(), args.as_ptr())
        )
    }

    pub fn new_instance(
        self,
        ctor: sys::napi_value,
        args: &[sys::napi_value],
    ) -> Result<sys::napi_value> {
        napi_out!(
            self,
            sys::napi_value,
            napi_new_instance(ctor, args.len(), args.as_ptr())
        )
    }

    /// An External carrying `data`; `finalize` runs on this thread after it is collected.
    pub fn external(self, data: usize, finalize: sys::napi_finalize) -> Result<sys::napi_value> {
        napi_out!(
            self,
            sys::napi_value,
            napi_create_external(data as *mut c_void, finalize, ptr::null_mut())
        )
    }

    /// A JS function backed by a raw Node-API callback.
    pub fn function(
        self,
        name: &std::ffi::CStr,
        cb: unsafe extern "C" fn(sys::napi_env, sys::napi_callback_info) -> sys::napi_value,
    ) -> Result<sys::napi_value> {
        napi_out!(
            self,
            sys::napi_value,
            napi_create_function(
                name.as_ptr(),
                name.to_bytes().len() as isize,
                Some(cb),
                ptr::null_mut()
            )
        )
    }

    pub fn is_promise(self, v: sys::napi_value) -> Result<bool> {
        napi_out!(self, bool, napi_is_promise(v))
    }

    /// Takes the pending JS exception (after a call failed with `JsPending`).
    pub fn take_exception(self) -> Result<sys::napi_value> {
        napi_out!(self, sys::napi_value, napi_get_and_clear_last_exception())
    }

    /// `String(v)`, which may run JS (`toString`).
    pub fn to_js_string(self, v: sys::napi_value) -> Result<String> {
        let s = napi_out!(self, sys::napi_value, napi_coerce_to_string(v))?;
        self.get_string(s)
    }

    pub fn delete_reference(self, r: sys::napi_ref) {
        // SAFETY: `r` was created in this env and is deleted once.
        unsafe { sys::napi_delete_reference(self.0, r) };
    }

    pub fn reference(self, v: sys::napi_value) -> Result<sys::napi_ref> {
        napi_out!(self, sys::napi_ref, napi_create_reference(v, 1))
    }

    pub fn deref(self, r: sys::napi_ref) -> Result<sys::napi_value> {
        napi_out!(self, sys::napi_value, napi_get_reference_value(r))
    }

    pub fn error(self, code: &str, message: &str) -> Result<sys::napi_value> {
        let code = self.string(code)?;
        let message = self.string(message)?;
        napi_out!(self, sys::napi_value, napi_create_error(code, message))
    }

    pub fn throw(self, error: sys::napi_value) {
        // SAFETY: env is live; a failure to throw leaves nothing better to do.
        unsafe { sys::napi_throw(self.0, error) };
    }

    /// Runs `f` inside a handle scope of its own, so the JS values it makes are freed when it
    /// returns instead of living as long as the enclosing native call (a sync call that runs
    /// thousands of JS callbacks). `f` must not return JS values.
    pub fn scoped<R>(self, f: impl FnOnce() -> R) -> R {
        let mut scope = ptr::null_mut();
        // SAFETY: env is live; `scope` is a valid out-pointer.
        let opened =
            unsafe { sys::napi_open_handle_scope(self.0, &mut scope) } == sys::Status::napi_ok;
        struct Close(sys::napi_env, sys::napi_handle_scope, bool);
        impl Drop for Close {
            fn drop(&mut self) {
                if self.2 {
                    // SAFETY: the scope opened above, closed once, innermost (scopes nest with
                    // the Rust stack).
                    unsafe { sys::napi_close_handle_scope(self.0, self.1) };
                }
            }
        }
        let _close = Close(self.0, scope, opened);
        f()
    }

    pub fn add_cleanup_hook(
        self,
        hook: unsafe extern "C" fn(*mut c_void),
        arg: usize,
    ) -> Result<()> {
        napi_call!(
            self,
            napi_add_env_cleanup_hook(Some(hook), arg as *mut c_void)
        )
    }
}

/// The longest Array `napi_create_array_with_length` makes (V8's FixedArray limit on 64-bit
/// platforms); one element more aborts the process.
pub const MAX_ARRAY_LENGTH: usize = 134_217_725;

/// The error for an Array longer than JS allows.
pub fn too_long(len: usize) -> Error {
    Error::Conversion(format!(
        "an Array of {len} elements is longer than JS allows ({MAX_ARRAY_LENGTH})"
    ))
}

/// No TypedArray kind: what a kind out-value holds if Node-API does not know the array's kind
/// (a Float16Array, before Node-API had a name for it) and leaves it unwritten.
const UNKNOWN_KIND: sys::napi_typedarray_type = -1;

/// Bytes per element of a TypedArray kind (`None`: a kind this addon does not know).
fn element_size(kind: sys::napi_typedarray_type) -> Result<usize> {
    use sys::TypedarrayType as T;
    Ok(match kind {
        T::int8_array | T::uint8_array | T::uint8_clamped_array => 1,
        T::int16_array | T::uint16_array => 2,
        T::int32_array | T::uint32_array | T::float32_array => 4,
        T::float64_array | T::bigint64_array | T::biguint64_array => 8,
        _ => {
            return Err(Error::invalid_arg(format!(
                "unsupported TypedArray kind {kind}"
            )))
        }
    })
}

/// V8 writes valid UTF-8 (it replaces lone surrogates), so this never fails in practice.
fn utf8(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap_or("\u{fffd}")
}
