//! Jute primitives, as `org.apache.jute.BinaryInputArchive` / `BinaryOutputArchive` lay them
//! out: big-endian ints and longs, one-byte booleans, length-prefixed buffers, strings and
//! vectors where a length of -1 means null.
//!
//! Invariants: decoding never panics and never allocates more than the input it was given —
//! every length is checked against the bytes that remain before anything is reserved.

use bytes::{BufMut, Bytes};
use nom::error::{ErrorKind, ParseError};
use nom::IResult;

/// Why a frame could not be decoded. `Truncated` is kept apart: it is the one a streaming
/// reader could cure with more bytes; the framing layer only ever hands whole frames here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("record truncated: needed more bytes than the frame holds")]
    Truncated,
    #[error("negative length {0}")]
    NegativeLength(i32),
    #[error("length {len} exceeds the {remaining} bytes left in the frame")]
    LengthOverrun { len: usize, remaining: usize },
    #[error("unknown {what} {value}")]
    UnknownValue { what: &'static str, value: i32 },
    #[error("malformed record: {0}")]
    Malformed(&'static str),
}

impl<'a> ParseError<&'a [u8]> for DecodeError {
    fn from_error_kind(_input: &'a [u8], kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::Eof | ErrorKind::Complete => DecodeError::Truncated,
            _ => DecodeError::Malformed("unexpected input"),
        }
    }
    fn append(_input: &'a [u8], _kind: ErrorKind, other: Self) -> Self {
        other
    }
}

pub type JResult<'a, T> = IResult<&'a [u8], T, DecodeError>;

/// Fail a nom parser with one of our errors.
pub fn fail<T>(e: DecodeError) -> JResult<'static, T> {
    Err(nom::Err::Failure(e))
}

/// Turn a nom result into a plain one.
pub fn finish<T>(r: JResult<'_, T>) -> Result<(&[u8], T), DecodeError> {
    match r {
        Ok(v) => Ok(v),
        Err(nom::Err::Error(e)) | Err(nom::Err::Failure(e)) => Err(e),
        Err(nom::Err::Incomplete(_)) => Err(DecodeError::Truncated),
    }
}

/// A Jute record or primitive: encodes to and decodes from its binary archive form.
pub trait Jute: Sized {
    fn encode<B: BufMut>(&self, out: &mut B);
    fn decode(input: &[u8]) -> JResult<'_, Self>;

    /// Decode one record from the front of `input`; like the reference, bytes after the record
    /// are ignored.
    fn from_bytes(input: &[u8]) -> Result<Self, DecodeError> {
        finish(Self::decode(input)).map(|(_, v)| v)
    }

    fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode(&mut v);
        v
    }
}

impl Jute for i32 {
    fn encode<B: BufMut>(&self, out: &mut B) {
        out.put_i32(*self);
    }
    fn decode(input: &[u8]) -> JResult<'_, Self> {
        nom::number::complete::be_i32(input)
    }
}

impl Jute for i64 {
    fn encode<B: BufMut>(&self, out: &mut B) {
        out.put_i64(*self);
    }
    fn decode(input: &[u8]) -> JResult<'_, Self> {
        nom::number::complete::be_i64(input)
    }
}

impl Jute for u8 {
    fn encode<B: BufMut>(&self, out: &mut B) {
        out.put_u8(*self);
    }
    fn decode(input: &[u8]) -> JResult<'_, Self> {
        nom::number::complete::be_u8(input)
    }
}

/// `DataInput.readBoolean`: any non-zero byte is true.
impl Jute for bool {
    fn encode<B: BufMut>(&self, out: &mut B) {
        out.put_u8(u8::from(*self));
    }
    fn decode(input: &[u8]) -> JResult<'_, Self> {
        let (rest, b) = nom::number::complete::be_u8(input)?;
        Ok((rest, b != 0))
    }
}

/// Reads a length prefix; `None` for the -1 that means null.
fn length(input: &[u8]) -> JResult<'_, Option<usize>> {
    let (rest, len) = nom::number::complete::be_i32(input)?;
    match len {
        -1 => Ok((rest, None)),
        n if n < 0 => fail(DecodeError::NegativeLength(n)),
        // i32 >= 0 always fits in usize on the targets we build for
        n => Ok((rest, Some(usize::try_from(n).unwrap_or(usize::MAX)))),
    }
}

fn raw_bytes(input: &[u8]) -> JResult<'_, Option<&[u8]>> {
    let (rest, len) = length(input)?;
    match len {
        None => Ok((rest, None)),
        Some(len) if len > rest.len() => fail(DecodeError::LengthOverrun {
            len,
            remaining: rest.len(),
        }),
        Some(len) => Ok((&rest[len..], Some(&rest[..len]))),
    }
}

fn put_len<B: BufMut>(out: &mut B, len: usize) {
    // Jute lengths are Java ints; jute.maxbuffer keeps every real value far below i32::MAX.
    out.put_i32(i32::try_from(len).unwrap_or(i32::MAX));
}

/// `buffer` where null and empty need not be told apart: null decodes as empty.
impl Jute for Bytes {
    fn encode<B: BufMut>(&self, out: &mut B) {
        put_len(out, self.len());
        out.put_slice(self);
    }
    fn decode(input: &[u8]) -> JResult<'_, Self> {
        let (rest, b) = raw_bytes(input)?;
        Ok((rest, b.map(Bytes::copy_from_slice).unwrap_or_default()))
    }
}

/// `buffer` where null matters (a znode created with null data reads back as null).
impl Jute for Option<Bytes> {
    fn encode<B: BufMut>(&self, out: &mut B) {
        match self {
            None => out.put_i32(-1),
            Some(b) => b.encode(out),
        }
    }
    fn decode(input: &[u8]) -> JResult<'_, Self> {
        let (rest, b) = raw_bytes(input)?;
        Ok((rest, b.map(Bytes::copy_from_slice)))
    }
}

/// `BinaryOutputArchive#stringToByteBuffer` encodes each UTF-16 unit on its own, so a
/// character outside the BMP becomes two 3-byte surrogate sequences (CESU-8), not 4 bytes.
fn java_string_bytes(s: &str) -> std::borrow::Cow<'_, [u8]> {
    if s.chars().all(|c| u32::from(c) <= 0xffff) {
        return std::borrow::Cow::Borrowed(s.as_bytes());
    }
    let mut out = Vec::with_capacity(s.len() + 4);
    for unit in s.encode_utf16() {
        let u = u32::from(unit);
        if u < 0x80 {
            out.push(u as u8);
        } else if u < 0x800 {
            out.extend_from_slice(&[0xc0 | (u >> 6) as u8, 0x80 | (u & 0x3f) as u8]);
        } else {
            out.extend_from_slice(&[
                0xe0 | (u >> 12) as u8,
                0x80 | ((u >> 6) & 0x3f) as u8,
                0x80 | (u & 0x3f) as u8,
            ]);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// `new String(bytes, UTF_8)` as the JDK decodes: invalid input is replaced, never an error,
/// and an encoded surrogate (ED A0..BF xx) counts as one malformed character, not three.
fn java_string_from(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    let mut rest = bytes;
    while !rest.is_empty() {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                out.push_str(s);
                break;
            }
            Err(e) => {
                let (good, bad) = rest.split_at(e.valid_up_to());
                out.push_str(std::str::from_utf8(good).unwrap_or_default());
                out.push(char::REPLACEMENT_CHARACTER);
                let surrogate = matches!(bad, [0xed, 0xa0..=0xbf, 0x80..=0xbf, ..]);
                let skip = if surrogate {
                    3
                } else {
                    e.error_len().unwrap_or(bad.len())
                };
                rest = &bad[skip.min(bad.len())..];
            }
        }
    }
    out
}

/// `ustring`. Null decodes as empty.
impl Jute for String {
    fn encode<B: BufMut>(&self, out: &mut B) {
        let bytes = java_string_bytes(self);
        put_len(out, bytes.len());
        out.put_slice(&bytes);
    }
    fn decode(input: &[u8]) -> JResult<'_, Self> {
        let (rest, b) = raw_bytes(input)?;
        Ok((rest, b.map(java_string_from).unwrap_or_default()))
    }
}

impl Jute for Option<String> {
    fn encode<B: BufMut>(&self, out: &mut B) {
        match self {
            None => out.put_i32(-1),
            Some(s) => s.encode(out),
        }
    }
    fn decode(input: &[u8]) -> JResult<'_, Self> {
        let (rest, b) = raw_bytes(input)?;
        Ok((rest, b.map(java_string_from)))
    }
}

fn elements<T: Jute>(input: &[u8], count: usize) -> JResult<'_, Vec<T>> {
    // Every element takes at least one byte, so the remaining input bounds the allocation.
    let mut items = Vec::with_capacity(count.min(input.len()));
    let mut rest = input;
    for _ in 0..count {
        let (r, item) = T::decode(rest)?;
        rest = r;
        items.push(item);
    }
    Ok((rest, items))
}

/// `vector<T>`; null decodes as empty.
impl<T: Jute> Jute for Vec<T> {
    fn encode<B: BufMut>(&self, out: &mut B) {
        put_len(out, self.len());
        for item in self {
            item.encode(out);
        }
    }
    fn decode(input: &[u8]) -> JResult<'_, Self> {
        let (rest, count) = length(input)?;
        match count {
            None => Ok((rest, Vec::new())),
            Some(n) => elements(rest, n),
        }
    }
}

impl<T: Jute> Jute for Option<Vec<T>> {
    fn encode<B: BufMut>(&self, out: &mut B) {
        match self {
            None => out.put_i32(-1),
            Some(v) => v.encode(out),
        }
    }
    fn decode(input: &[u8]) -> JResult<'_, Self> {
        let (rest, count) = length(input)?;
        match count {
            None => Ok((rest, None)),
            Some(n) => elements(rest, n).map(|(r, v)| (r, Some(v))),
        }
    }
}

/// Declares a Jute record: a struct whose fields are encoded in declaration order with no tags.
#[macro_export]
macro_rules! jute_record {
    ($(#[$m:meta])* pub struct $name:ident { $( $(#[$fm:meta])* pub $field:ident : $ty:ty ),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct $name { $( $(#[$fm])* pub $field: $ty ),* }

        impl $crate::jute::prim::Jute for $name {
            fn encode<B: ::bytes::BufMut>(&self, _out: &mut B) {
                $( $crate::jute::prim::Jute::encode(&self.$field, _out); )*
            }
            fn decode(input: &[u8]) -> $crate::jute::prim::JResult<'_, Self> {
                $( let (input, $field) = <$ty as $crate::jute::prim::Jute>::decode(input)?; )*
                Ok((input, Self { $($field),* }))
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_and_empty_buffers_differ() {
        assert_eq!(None::<Bytes>.to_vec(), vec![0xff, 0xff, 0xff, 0xff]);
        assert_eq!(Some(Bytes::new()).to_vec(), vec![0, 0, 0, 0]);
        assert_eq!(Option::<Bytes>::from_bytes(&[0xff; 4]), Ok(None));
    }

    #[test]
    fn lengths_past_the_frame_are_rejected_without_allocating() {
        let huge = [0x7f, 0xff, 0xff, 0xff, 1, 2];
        assert!(matches!(
            Bytes::from_bytes(&huge),
            Err(DecodeError::LengthOverrun { .. })
        ));
        // a vector claiming two billion ints in a six byte frame
        assert_eq!(Vec::<i32>::from_bytes(&huge), Err(DecodeError::Truncated));
        assert_eq!(
            String::from_bytes(&[0xff, 0xff, 0xff, 0xfe]),
            Err(DecodeError::NegativeLength(-2))
        );
    }

    #[test]
    fn invalid_utf8_is_replaced_like_java() {
        let s = String::from_bytes(&[0, 0, 0, 2, b'/', 0xff]);
        assert_eq!(s, Ok("/\u{fffd}".to_string()));
    }

    #[test]
    fn truncated_ints() {
        assert_eq!(i64::from_bytes(&[0, 0, 0]), Err(DecodeError::Truncated));
        assert_eq!(bool::from_bytes(&[2]), Ok(true));
    }
}
