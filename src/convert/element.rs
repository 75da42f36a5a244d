//! The element types that cross as typed arrays: one `Element` per JS TypedArray kind (plus
//! `bool`, which JS holds in a Uint8Array), with its Python `struct` format letter, and the
//! parsing of a buffer exporter's format string into one. Pure data: no Python, no Node-API.

use std::ffi::CStr;

use napi::sys;

use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Element {
    I8,
    U8,
    Bool,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    F32,
    F64,
}

impl Element {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Element::I8 | Element::U8 | Element::Bool => 1,
            Element::I16 | Element::U16 => 2,
            Element::I32 | Element::U32 | Element::F32 => 4,
            Element::I64 | Element::U64 | Element::F64 => 8,
        }
    }

    /// The native `struct` format letter: what `memoryview.format` shows and `py.buffer`
    /// reports.
    pub fn format(self) -> &'static str {
        self.format_c().to_str().unwrap_or_default()
    }

    /// `format`, NUL-terminated for the C API.
    pub fn format_c(self) -> &'static CStr {
        match self {
            Element::I8 => c"b",
            Element::U8 => c"B",
            Element::Bool => c"?",
            Element::I16 => c"h",
            Element::U16 => c"H",
            Element::I32 => c"i",
            Element::U32 => c"I",
            Element::I64 => c"q",
            Element::U64 => c"Q",
            Element::F32 => c"f",
            Element::F64 => c"d",
        }
    }

    /// The TypedArray kind that holds it in JS.
    pub fn typed_array(self) -> sys::napi_typedarray_type {
        use sys::TypedarrayType as T;
        match self {
            Element::I8 => T::int8_array,
            Element::U8 | Element::Bool => T::uint8_array,
            Element::I16 => T::int16_array,
            Element::U16 => T::uint16_array,
            Element::I32 => T::int32_array,
            Element::U32 => T::uint32_array,
            Element::I64 => T::bigint64_array,
            Element::U64 => T::biguint64_array,
            Element::F32 => T::float32_array,
            Element::F64 => T::float64_array,
        }
    }

    /// The name of the TypedArray that holds it, for messages.
    pub fn js_name(self) -> &'static str {
        match self {
            Element::I8 => "Int8Array",
            Element::U8 | Element::Bool => "Uint8Array",
            Element::I16 => "Int16Array",
            Element::U16 => "Uint16Array",
            Element::I32 => "Int32Array",
            Element::U32 => "Uint32Array",
            Element::I64 => "BigInt64Array",
            Element::U64 => "BigUint64Array",
            Element::F32 => "Float32Array",
            Element::F64 => "Float64Array",
        }
    }

    /// The element of a TypedArray kind; `None` for one Python has no format for (a
    /// Float16Array).
    pub fn of_typed_array(kind: sys::napi_typedarray_type) -> Option<Element> {
        use sys::TypedarrayType as T;
        Some(match kind {
            T::int8_array => Element::I8,
            T::uint8_array | T::uint8_clamped_array => Element::U8,
            T::int16_array => Element::I16,
            T::uint16_array => Element::U16,
            T::int32_array => Element::I32,
            T::uint32_array => Element::U32,
            T::bigint64_array => Element::I64,
            T::biguint64_array => Element::U64,
            T::float32_array => Element::F32,
            T::float64_array => Element::F64,
            _ => return None,
        })
    }

    /// The element a buffer exporter's `format` (of items `itemsize` bytes long) describes,
    /// and whether its bytes are in the opposite of this machine's order. Aliases of one
    /// element give the same one (numpy's int64 exports `'l'`, which is `'q'` here); anything
    /// else — objects, complex, half floats, structures, strings, pointers — is refused,
    /// naming the format.
    pub fn parse(format: &str, itemsize: usize) -> Result<(Element, bool)> {
        let refuse = || {
            Error::Conversion(format!(
                "buffer format '{format}' has no TypedArray equivalent (supported: numbers of \
                 the formats b B ? h H i I l L q Q n N f d, in either byte order)"
            ))
        };
        let (order, code) = match format.as_bytes() {
            [code] => (b'@', *code),
            [order @ (b'@' | b'=' | b'<' | b'>' | b'!'), code] => (*order, *code),
            _ => return Err(refuse()),
        };
        // '@' is native size and order; the others are standard sizes ('l' is 4 bytes there).
        let native = order == b'@';
        let element = match code {
            b'b' => Element::I8,
            b'B' => Element::U8,
            b'?' => Element::Bool,
            b'h' => Element::I16,
            b'H' => Element::U16,
            b'i' => Element::I32,
            b'I' => Element::U32,
            b'l' | b'L' if !native => [Element::I32, Element::U32][(code == b'L') as usize],
            b'l' | b'L' => integer(std::mem::size_of::<std::ffi::c_long>(), code == b'l'),
            b'n' | b'N' if native => integer(std::mem::size_of::<isize>(), code == b'n'),
            b'q' => Element::I64,
            b'Q' => Element::U64,
            b'f' => Element::F32,
            b'd' => Element::F64,
            _ => return Err(refuse()),
        };
        if element.size() != itemsize {
            return Err(Error::Conversion(format!(
                "buffer format '{format}' names {} bytes per item, but the exporter reports {itemsize}",
                element.size()
            )));
        }
        let big = match order {
            b'>' | b'!' => true,
            b'<' => false,
            _ => cfg!(target_endian = "big"),
        };
        Ok((element, big != cfg!(target_endian = "big")))
    }
}

/// The integer element of `size` bytes.
fn integer(size: usize, signed: bool) -> Element {
    match (size, signed) {
        (4, true) => Element::I32,
        (4, false) => Element::U32,
        (_, true) => Element::I64,
        (_, false) => Element::U64,
    }
}

/// Reverses the bytes of every `size`-byte item of `bytes` (from the other byte order).
pub fn swap_bytes(bytes: &mut [u8], size: usize) {
    if size > 1 {
        bytes.chunks_exact_mut(size).for_each(<[u8]>::reverse);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_and_byte_orders() {
        assert_eq!(Element::parse("d", 8).unwrap(), (Element::F64, false));
        assert_eq!(Element::parse("l", 8).unwrap(), (Element::I64, false));
        assert_eq!(Element::parse("<l", 4).unwrap(), (Element::I32, false));
        assert_eq!(Element::parse("=L", 4).unwrap(), (Element::U32, false));
        assert_eq!(Element::parse("N", 8).unwrap(), (Element::U64, false));
        assert_eq!(Element::parse(">d", 8).unwrap(), (Element::F64, true));
        assert_eq!(Element::parse("!h", 2).unwrap(), (Element::I16, true));
        assert_eq!(Element::parse("?", 1).unwrap(), (Element::Bool, false));
    }

    #[test]
    fn refusals_name_the_format() {
        for (format, size) in [("Zd", 16), ("O", 8), ("e", 2), ("T{d:x:}", 8), ("2s", 2)] {
            let err = Element::parse(format, size).unwrap_err().to_string();
            assert!(err.contains(&format!("'{format}'")), "{err}");
        }
        assert!(Element::parse("<n", 8).is_err()); // 'n' has no standard size
        assert!(Element::parse("d", 4).is_err()); // an exporter contradicting itself
    }

    #[test]
    fn swapping() {
        let mut bytes = [1, 2, 3, 4, 5, 6, 7, 8];
        swap_bytes(&mut bytes, 4);
        assert_eq!(bytes, [4, 3, 2, 1, 8, 7, 6, 5]);
    }
}
