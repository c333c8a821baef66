//! The Kafka wire codec: primitive types, bounded decoding, and the [`kafka_struct!`] macro that
//! declares a message once, with the version range of each field, and derives its encoder and
//! decoder.
//!
//! Encoding rules (Kafka's protocol guide; "flexible" versions are those of KIP-482):
//!
//! | Rust type        | classic versions          | flexible versions                     |
//! |------------------|---------------------------|---------------------------------------|
//! | `bool`, `i8`..`i64`, `u16`, `u32`, `f64` | big-endian fixed width | same            |
//! | `Uuid`           | 16 bytes                  | same                                  |
//! | `String`         | i16 length + UTF-8        | unsigned varint (length + 1) + UTF-8  |
//! | `Option<String>` | i16 length, -1 = null     | uvarint (length + 1), 0 = null        |
//! | `Bytes`          | i32 length + bytes        | uvarint (length + 1) + bytes          |
//! | `Option<Bytes>`  | i32 length, -1 = null     | uvarint (length + 1), 0 = null        |
//! | `Vec<T>`         | i32 count + elements      | uvarint (count + 1) + elements        |
//! | `Option<Vec<T>>` | i32 count, -1 = null      | uvarint (count + 1), 0 = null         |
//!
//! In flexible versions every struct ends with tagged fields: a uvarint count, then per field a
//! uvarint tag, a uvarint size and the value. Unknown tags are skipped.
//!
//! Decoding is bounded: every length or count is checked against the bytes that remain before
//! anything is allocated or sliced, so a hostile prefix costs an error, never memory or a panic.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use thiserror::Error;

/// The version being encoded or decoded, and whether it is a flexible one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version {
    pub version: i16,
    pub flexible: bool,
}

impl Version {
    pub fn new(version: i16, flexible: bool) -> Self {
        Version { version, flexible }
    }
    /// Whether a field present in `lo..=hi` exists at this version.
    pub fn within(self, lo: i16, hi: i16) -> bool {
        lo <= self.version && self.version <= hi
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error("truncated {what}: needs {needed} bytes, {remaining} remain")]
    Truncated { what: &'static str, needed: usize, remaining: usize },
    #[error("invalid {what} length {length}")]
    InvalidLength { what: &'static str, length: i64 },
    #[error("string is not UTF-8")]
    InvalidUtf8,
    #[error("varint does not end within {0} bytes")]
    InvalidVarint(usize),
    #[error("unsupported {api} version {version}")]
    UnsupportedVersion { api: &'static str, version: i16 },
    #[error("unknown API key {0}")]
    UnknownApiKey(i16),
    #[error("{0} bytes left over after the message")]
    TrailingBytes(usize),
    #[error("more than {limit} array elements in one request")]
    TooManyElements { limit: usize },
}

pub type DecodeResult<T> = Result<T, DecodeError>;

/// A value too large for its length field at the version it is written in: a string of over
/// 32,767 bytes where the length is an i16, a byte array or array of over 2^31 - 1 items, a
/// frame over 2 GiB. [`checked`] (and the frame encoders built on it) report it instead of
/// sending a frame that lies.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{what} of {len} bytes or items does not fit its length field")]
pub struct EncodeError {
    pub what: &'static str,
    pub len: usize,
}

thread_local! {
    /// The first overflow met by the encoding running on this thread (see [`checked`]).
    /// `Encode` stays infallible for every field type; the one thing that can go wrong, a
    /// length that does not fit, is recorded here and turned into an error by `checked`. The
    /// rejected alternative, `Encode::encode` returning a `Result`, threads `?` through every
    /// generated field for a condition only a length prefix can meet.
    static OVERFLOW: std::cell::Cell<Option<EncodeError>> = const { std::cell::Cell::new(None) };
}

pub(crate) fn record_overflow(what: &'static str, len: usize) {
    OVERFLOW.with(|o| {
        let first = o.take().or(Some(EncodeError { what, len }));
        o.set(first);
    });
}

/// Runs `encode` (which writes values with [`Encode`]) and returns its result, or the first
/// value that did not fit its length field. Whatever `encode` wrote is then garbage: drop it.
pub fn checked<T>(encode: impl FnOnce() -> T) -> Result<T, EncodeError> {
    OVERFLOW.with(|o| o.set(None));
    let out = encode();
    match OVERFLOW.with(std::cell::Cell::take) {
        None => Ok(out),
        Some(e) => Err(e),
    }
}

/// A 128-bit UUID as Kafka sends it (topic ids).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Uuid(pub [u8; 16]);

impl Uuid {
    pub const ZERO: Uuid = Uuid([0; 16]);
}

/// A value that can be written at a given version.
pub trait Encode {
    fn encode(&self, buf: &mut BytesMut, v: Version);
}

/// A value that can be read at a given version.
pub trait Decode: Sized {
    fn decode(buf: &mut Bytes, v: Version) -> DecodeResult<Self>;
}

pub(crate) fn need(buf: &Bytes, n: usize, what: &'static str) -> DecodeResult<()> {
    if buf.remaining() < n {
        Err(DecodeError::Truncated { what, needed: n, remaining: buf.remaining() })
    } else {
        Ok(())
    }
}

pub fn read_uvarint(buf: &mut Bytes) -> DecodeResult<u32> {
    let mut value: u32 = 0;
    for i in 0..5 {
        need(buf, 1, "varint")?;
        let b = buf.get_u8();
        value |= u32::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(DecodeError::InvalidVarint(5))
}

pub fn write_uvarint(buf: &mut BytesMut, mut value: u32) {
    while value >= 0x80 {
        buf.put_u8((value as u8) | 0x80);
        value >>= 7;
    }
    buf.put_u8(value as u8);
}

macro_rules! fixed {
    ($($ty:ty => $get:ident, $put:ident, $n:expr;)*) => {$(
        impl Encode for $ty {
            fn encode(&self, buf: &mut BytesMut, _v: Version) {
                buf.$put(*self);
            }
        }
        impl Decode for $ty {
            fn decode(buf: &mut Bytes, _v: Version) -> DecodeResult<Self> {
                need(buf, $n, stringify!($ty))?;
                Ok(buf.$get())
            }
        }
    )*};
}

fixed! {
    i8 => get_i8, put_i8, 1;
    i16 => get_i16, put_i16, 2;
    i32 => get_i32, put_i32, 4;
    i64 => get_i64, put_i64, 8;
    u16 => get_u16, put_u16, 2;
    u32 => get_u32, put_u32, 4;
    f64 => get_f64, put_f64, 8;
}

impl Encode for bool {
    fn encode(&self, buf: &mut BytesMut, _v: Version) {
        buf.put_u8(u8::from(*self));
    }
}
impl Decode for bool {
    fn decode(buf: &mut Bytes, _v: Version) -> DecodeResult<Self> {
        need(buf, 1, "bool")?;
        Ok(buf.get_u8() != 0)
    }
}

impl Encode for Uuid {
    fn encode(&self, buf: &mut BytesMut, _v: Version) {
        buf.put_slice(&self.0);
    }
}
impl Decode for Uuid {
    fn decode(buf: &mut Bytes, _v: Version) -> DecodeResult<Self> {
        need(buf, 16, "uuid")?;
        let mut id = [0u8; 16];
        buf.copy_to_slice(&mut id);
        Ok(Uuid(id))
    }
}

/// Reads a length prefix: `Ok(None)` for null. Classic lengths are i16 (`short`) or i32.
pub(crate) fn read_length(buf: &mut Bytes, v: Version, short: bool, what: &'static str) -> DecodeResult<Option<usize>> {
    let raw: i64 = if v.flexible {
        i64::from(read_uvarint(buf)?) - 1
    } else if short {
        i64::from(i16::decode(buf, v)?)
    } else {
        i64::from(i32::decode(buf, v)?)
    };
    match raw {
        -1 => Ok(None),
        n if n < -1 => Err(DecodeError::InvalidLength { what, length: n }),
        n => {
            let n = n as usize;
            // Every element or byte takes at least one byte: a count beyond what remains is a lie.
            need(buf, n, what)?;
            Ok(Some(n))
        }
    }
}

/// Writes a length prefix. A length its field cannot hold is recorded for [`checked`] (and a
/// null written in its place), never a panic: the value may come from a client (a 32 KiB client
/// id inside a member id).
pub(crate) fn write_length(buf: &mut BytesMut, v: Version, short: bool, len: Option<usize>) {
    let what = if short { "string" } else { "bytes or array" };
    match (v.flexible, len) {
        (true, None) => write_uvarint(buf, 0),
        (true, Some(n)) => match u32::try_from(n + 1) {
            Ok(n) => write_uvarint(buf, n),
            Err(_) => {
                record_overflow(what, n);
                write_uvarint(buf, 0);
            }
        },
        (false, None) if short => buf.put_i16(-1),
        (false, None) => buf.put_i32(-1),
        (false, Some(n)) if short => match i16::try_from(n) {
            Ok(n) => buf.put_i16(n),
            Err(_) => {
                record_overflow(what, n);
                buf.put_i16(-1);
            }
        },
        (false, Some(n)) => match i32::try_from(n) {
            Ok(n) => buf.put_i32(n),
            Err(_) => {
                record_overflow(what, n);
                buf.put_i32(-1);
            }
        },
    }
}

fn read_str(buf: &mut Bytes, len: usize) -> DecodeResult<String> {
    let bytes = buf.split_to(len);
    String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError::InvalidUtf8)
}

impl Encode for String {
    fn encode(&self, buf: &mut BytesMut, v: Version) {
        write_length(buf, v, true, Some(self.len()));
        buf.put_slice(self.as_bytes());
    }
}
impl Decode for String {
    fn decode(buf: &mut Bytes, v: Version) -> DecodeResult<Self> {
        // A null where a string is required reads as empty: lenient, as Kafka's own parsers are
        // for fields that only became nullable in later versions.
        match read_length(buf, v, true, "string")? {
            Some(n) => read_str(buf, n),
            None => Ok(String::new()),
        }
    }
}

impl Encode for Option<String> {
    fn encode(&self, buf: &mut BytesMut, v: Version) {
        write_length(buf, v, true, self.as_ref().map(String::len));
        if let Some(s) = self {
            buf.put_slice(s.as_bytes());
        }
    }
}
impl Decode for Option<String> {
    fn decode(buf: &mut Bytes, v: Version) -> DecodeResult<Self> {
        read_length(buf, v, true, "string")?.map(|n| read_str(buf, n)).transpose()
    }
}

/// A nullable struct field: an int8 marker (-1 null, 1 present) before the struct, as Kafka's
/// generated code writes `nullableVersions` structs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Nullable<T>(pub Option<T>);

impl<T: Encode> Encode for Nullable<T> {
    fn encode(&self, buf: &mut BytesMut, v: Version) {
        match &self.0 {
            None => buf.put_i8(-1),
            Some(t) => {
                buf.put_i8(1);
                t.encode(buf, v);
            }
        }
    }
}
impl<T: Decode> Decode for Nullable<T> {
    fn decode(buf: &mut Bytes, v: Version) -> DecodeResult<Self> {
        need(buf, 1, "nullable struct marker")?;
        if buf.get_i8() < 0 { Ok(Nullable(None)) } else { T::decode(buf, v).map(|t| Nullable(Some(t))) }
    }
}

impl Encode for Bytes {
    fn encode(&self, buf: &mut BytesMut, v: Version) {
        write_length(buf, v, false, Some(self.len()));
        buf.put_slice(self);
    }
}
impl Decode for Bytes {
    fn decode(buf: &mut Bytes, v: Version) -> DecodeResult<Self> {
        Ok(read_length(buf, v, false, "bytes")?.map(|n| buf.split_to(n)).unwrap_or_default())
    }
}

impl Encode for Option<Bytes> {
    fn encode(&self, buf: &mut BytesMut, v: Version) {
        write_length(buf, v, false, self.as_ref().map(Bytes::len));
        if let Some(b) = self {
            buf.put_slice(b);
        }
    }
}
impl Decode for Option<Bytes> {
    fn decode(buf: &mut Bytes, v: Version) -> DecodeResult<Self> {
        Ok(read_length(buf, v, false, "bytes")?.map(|n| buf.split_to(n)))
    }
}

impl<T: Encode> Encode for Vec<T> {
    fn encode(&self, buf: &mut BytesMut, v: Version) {
        write_length(buf, v, false, Some(self.len()));
        for item in self {
            item.encode(buf, v);
        }
    }
}
impl<T: Decode> Decode for Vec<T> {
    fn decode(buf: &mut Bytes, v: Version) -> DecodeResult<Self> {
        let n = read_length(buf, v, false, "array")?.unwrap_or(0);
        charge_elements(n)?;
        (0..n).map(|_| T::decode(buf, v)).collect()
    }
}

impl<T: Encode> Encode for Option<Vec<T>> {
    fn encode(&self, buf: &mut BytesMut, v: Version) {
        write_length(buf, v, false, self.as_ref().map(Vec::len));
        for item in self.iter().flatten() {
            item.encode(buf, v);
        }
    }
}
impl<T: Decode> Decode for Option<Vec<T>> {
    fn decode(buf: &mut Bytes, v: Version) -> DecodeResult<Self> {
        match read_length(buf, v, false, "array")? {
            None => Ok(None),
            Some(n) => {
                charge_elements(n)?;
                (0..n).map(|_| T::decode(buf, v)).collect::<DecodeResult<Vec<T>>>().map(Some)
            }
        }
    }
}

thread_local! {
    /// Array elements the request being decoded on this thread may still hold (see
    /// [`with_element_budget`]); `None` outside one, where nothing is counted.
    static ELEMENT_BUDGET: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

/// Runs `decode` with at most `limit` array elements in all. Each element costs at least one
/// byte on the wire, but its decoded form (a struct, a `String`) takes tens of bytes: without a
/// count, a frame of `socket.request.max.bytes` of one-byte elements decodes to dozens of times
/// its size. A request beyond the count fails with [`DecodeError::TooManyElements`].
pub fn with_element_budget<T>(limit: usize, decode: impl FnOnce() -> DecodeResult<T>) -> DecodeResult<T> {
    let previous = ELEMENT_BUDGET.with(|b| b.replace(Some(limit)));
    let out = decode();
    ELEMENT_BUDGET.with(|b| b.set(previous));
    out.map_err(|e| match e {
        DecodeError::TooManyElements { .. } => DecodeError::TooManyElements { limit },
        e => e,
    })
}

/// Counts `n` elements against the budget of the request being decoded, if any (the error's
/// limit is filled in by [`with_element_budget`]).
fn charge_elements(n: usize) -> DecodeResult<()> {
    ELEMENT_BUDGET.with(|b| match b.get() {
        None => Ok(()),
        Some(left) => match left.checked_sub(n) {
            Some(rest) => {
                b.set(Some(rest));
                Ok(())
            }
            None => Err(DecodeError::TooManyElements { limit: 0 }),
        },
    })
}

/// Skips the tagged fields of a flexible struct this crate does not model.
pub fn skip_tagged_fields(buf: &mut Bytes) -> DecodeResult<()> {
    let count = read_uvarint(buf)?;
    for _ in 0..count {
        let _tag = read_uvarint(buf)?;
        let size = read_uvarint(buf)? as usize;
        need(buf, size, "tagged field")?;
        buf.advance(size);
    }
    Ok(())
}

/// Highest version, for open-ended field ranges in [`kafka_struct!`].
pub const MAX: i16 = i16::MAX;

/// Declares a Kafka struct once and derives `Encode`/`Decode` for it.
///
/// ```ignore
/// kafka_struct! {
///     /// Doc comment.
///     pub struct ApiVersionsRequest {
///         client_software_name: String [3, MAX],
///         client_software_version: String [3, MAX],
///         some_tagged: Option<String> [3, MAX] tag 0,
///         leader_epoch: i32 [2, MAX] = -1,
///     }
/// }
/// ```
///
/// Each field lists the inclusive version range it exists in; outside it the field is neither
/// written nor read and keeps its default. A field with `tag N` is a tagged field of flexible
/// versions (written only when it differs from its default).
///
/// A field's default is its type's `Default` unless the field ends with `= value`: Kafka's
/// `"default"` in its message definition, such as `-1` for a leader epoch nobody gave. That is
/// what a request of a version without the field decodes to (an OffsetCommit v1 partition's
/// `committed_leader_epoch` is -1, "unknown", not 0, a real epoch that would fence), and what
/// the struct's `Default` holds. The alternative, each handler patching fields by version, was
/// rejected: every handler and every client of this crate would have to know every default.
#[macro_export]
macro_rules! kafka_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$fmeta:meta])*
                $field:ident : $ty:ty [$lo:expr, $hi:expr] $(tag $tag:literal)? $(= $default:expr)?
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        impl ::core::default::Default for $name {
            fn default() -> Self {
                $name { $( $field: $crate::kafka_struct!(@default $ty $(, $default)?), )* }
            }
        }

        impl $crate::codec::Encode for $name {
            #[allow(unused_variables)]
            fn encode(&self, buf: &mut ::bytes::BytesMut, v: $crate::codec::Version) {
                #[allow(unused_imports)]
                use $crate::codec::MAX;
                $(
                    if $crate::kafka_struct!(@untagged $($tag)?) && v.within($lo, $hi) {
                        $crate::codec::Encode::encode(&self.$field, buf, v);
                    }
                )*
                if v.flexible {
                    let mut tagged: Vec<(u32, ::bytes::BytesMut)> = Vec::new();
                    $(
                        if let Some(tag) = $crate::kafka_struct!(@tag $($tag)?) {
                            let default: $ty = $crate::kafka_struct!(@default $ty $(, $default)?);
                            if v.within($lo, $hi) && self.$field != default {
                                let mut field = ::bytes::BytesMut::new();
                                $crate::codec::Encode::encode(&self.$field, &mut field, v);
                                tagged.push((tag, field));
                            }
                        }
                    )*
                    $crate::codec::write_uvarint(buf, tagged.len() as u32);
                    for (tag, field) in tagged {
                        $crate::codec::write_uvarint(buf, tag);
                        $crate::codec::write_uvarint(buf, field.len() as u32);
                        ::bytes::BufMut::put_slice(buf, &field);
                    }
                }
            }
        }

        impl $crate::codec::Decode for $name {
            #[allow(unused_variables, unused_mut)]
            fn decode(buf: &mut ::bytes::Bytes, v: $crate::codec::Version) -> $crate::codec::DecodeResult<Self> {
                #[allow(unused_imports)]
                use $crate::codec::MAX;
                let mut this = Self::default();
                $(
                    if $crate::kafka_struct!(@untagged $($tag)?) && v.within($lo, $hi) {
                        this.$field = $crate::codec::Decode::decode(buf, v)?;
                    }
                )*
                if v.flexible {
                    let count = $crate::codec::read_uvarint(buf)?;
                    for _ in 0..count {
                        let tag = $crate::codec::read_uvarint(buf)?;
                        let size = $crate::codec::read_uvarint(buf)? as usize;
                        $crate::codec::need_bytes(buf, size)?;
                        let mut field = buf.split_to(size);
                        $(
                            if $crate::kafka_struct!(@tag $($tag)?) == Some(tag) && v.within($lo, $hi) {
                                this.$field = $crate::codec::Decode::decode(&mut field, v)?;
                            }
                        )*
                        let _ = &mut field;
                    }
                }
                Ok(this)
            }
        }

        $crate::kafka_struct!(@sample $name { $($field : $ty),* });
    };
    (@sample $name:ident { $($field:ident : $ty:ty),* }) => {
        impl $crate::codec::Sample for $name {
            fn sample(rng: &mut u64) -> Self {
                $name { $( $field: <$ty as $crate::codec::Sample>::sample(rng), )* }
            }
        }
    };
    (@default $ty:ty) => { <$ty as ::core::default::Default>::default() };
    (@default $ty:ty, $default:expr) => { $default };
    (@untagged) => { true };
    (@untagged $tag:literal) => { false };
    (@tag) => { None::<u32> };
    (@tag $tag:literal) => { Some($tag as u32) };
}

/// A generator of pseudo-random values for every wire type, so that codec tests (here and in
/// crates that declare messages of their own) can fill any message. Option values are always
/// `Some` (a field may be non-nullable at some versions), collections hold 0–2 elements.
pub trait Sample {
    fn sample(rng: &mut u64) -> Self;
}

/// xorshift64, the generator behind [`Sample`].
pub fn next_random(rng: &mut u64) -> u64 {
    *rng ^= *rng << 13;
    *rng ^= *rng >> 7;
    *rng ^= *rng << 17;
    *rng
}

mod sample_impls {
    use super::*;
    macro_rules! ints { ($($t:ty),*) => {$( impl Sample for $t { fn sample(rng: &mut u64) -> Self { (next_random(rng) % 1000) as $t } } )*}; }
    ints!(i8, i16, i32, i64, u16, u32);
    impl Sample for bool {
        fn sample(rng: &mut u64) -> Self {
            next_random(rng).is_multiple_of(2)
        }
    }
    impl Sample for f64 {
        fn sample(rng: &mut u64) -> Self {
            (next_random(rng) % 1000) as f64 / 8.0
        }
    }
    impl Sample for Uuid {
        fn sample(rng: &mut u64) -> Self {
            let mut id = [0u8; 16];
            id[..8].copy_from_slice(&next_random(rng).to_be_bytes());
            id[8..].copy_from_slice(&next_random(rng).to_be_bytes());
            Uuid(id)
        }
    }
    impl Sample for String {
        fn sample(rng: &mut u64) -> Self {
            let n = next_random(rng) % 8;
            (0..n).map(|_| (b'a' + (next_random(rng) % 26) as u8) as char).collect()
        }
    }
    impl Sample for Bytes {
        fn sample(rng: &mut u64) -> Self {
            let n = next_random(rng) % 8;
            (0..n).map(|_| next_random(rng) as u8).collect::<Vec<u8>>().into()
        }
    }
    impl<T: Sample> Sample for super::Nullable<T> {
        fn sample(rng: &mut u64) -> Self {
            super::Nullable(Option::<T>::sample(rng))
        }
    }

    impl<T: Sample> Sample for Option<T> {
        fn sample(rng: &mut u64) -> Self {
            Some(T::sample(rng))
        }
    }
    impl<T: Sample> Sample for Vec<T> {
        fn sample(rng: &mut u64) -> Self {
            let n = next_random(rng) % 3;
            (0..n).map(|_| T::sample(rng)).collect()
        }
    }
}

/// Bounds check for tagged field sizes, used by [`kafka_struct!`].
pub fn need_bytes(buf: &Bytes, n: usize) -> DecodeResult<()> {
    need(buf, n, "tagged field")
}

#[cfg(test)]
mod tests {
    use super::*;

    kafka_struct! {
        /// A test struct with every kind of field.
        pub struct Sample {
            a: i32 [0, MAX],
            name: String [0, MAX],
            nullable: Option<String> [1, MAX],
            items: Vec<i64> [0, MAX],
            data: Option<Bytes> [2, MAX],
            extra: i16 [3, MAX] tag 0,
        }
    }

    #[test]
    fn a_length_that_does_not_fit_is_an_error_not_a_panic() {
        let long = "x".repeat(40_000);
        let mut buf = BytesMut::new();
        let err = checked(|| long.encode(&mut buf, Version::new(0, false))).expect_err("an i16 length cannot hold it");
        assert_eq!(err, EncodeError { what: "string", len: 40_000 });
        // Flexible versions have room for it; and a clean encoding leaves no error behind.
        let mut buf = BytesMut::new();
        assert!(checked(|| long.encode(&mut buf, Version::new(0, true))).is_ok());
        assert!(checked(|| "short".to_string().encode(&mut BytesMut::new(), Version::new(0, false))).is_ok());
    }

    #[test]
    fn fields_follow_their_version_ranges() {
        let s = Sample {
            a: 7,
            name: "x".into(),
            nullable: Some("n".into()),
            items: vec![1, 2],
            data: Some(Bytes::from_static(b"d")),
            extra: 5,
        };
        for (version, flexible) in [(0, false), (1, false), (2, false), (3, true)] {
            let v = Version::new(version, flexible);
            let mut buf = BytesMut::new();
            s.encode(&mut buf, v);
            let mut bytes = buf.freeze();
            let back = Sample::decode(&mut bytes, v).expect("decodes");
            assert!(bytes.is_empty(), "version {version}: all bytes used");
            assert_eq!(back.a, 7);
            assert_eq!(back.nullable.is_some(), version >= 1);
            assert_eq!(back.data.is_some(), version >= 2);
            assert_eq!(back.extra, if version >= 3 { 5 } else { 0 });
        }
    }

    #[test]
    fn absurd_counts_fail_without_allocating() {
        // An array claiming 2^31-1 elements with 4 bytes behind it.
        let mut bytes = Bytes::from_static(&[0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
        let err = Vec::<i64>::decode(&mut bytes, Version::new(0, false)).expect_err("lies");
        assert!(matches!(err, DecodeError::Truncated { what: "array", .. }));
        let mut bytes = Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert!(Vec::<i64>::decode(&mut bytes, Version::new(0, true)).is_err());
        let mut bytes = Bytes::from_static(&[0xff, 0xfe]);
        assert!(matches!(String::decode(&mut bytes, Version::new(0, false)), Err(DecodeError::InvalidLength { .. })));
    }

    #[test]
    fn unknown_tagged_fields_are_skipped() {
        let v = Version::new(3, true);
        let mut buf = BytesMut::new();
        Sample::default().encode(&mut buf, v);
        // Replace the empty tag section (last byte 0) by one unknown tag 9 of 2 bytes.
        buf.truncate(buf.len() - 1);
        buf.put_slice(&[1, 9, 2, 0xaa, 0xbb]);
        let mut bytes = buf.freeze();
        assert_eq!(Sample::decode(&mut bytes, v).expect("decodes"), Sample::default());
        assert!(bytes.is_empty());
    }

    kafka_struct! {
        /// A struct with Kafka-style defaults, one of them tagged.
        pub struct WithDefaults {
            epoch: i32 [1, MAX] = -1,
            plain: i32 [1, MAX],
            retries: i16 [2, MAX] tag 0 = 7,
        }
    }

    #[test]
    fn an_absent_field_decodes_to_its_declared_default() {
        let mut bytes = Bytes::new();
        let v0 = WithDefaults::decode(&mut bytes, Version::new(0, false)).expect("v0 has no fields");
        assert_eq!(v0, WithDefaults { epoch: -1, plain: 0, retries: 7 });
        assert_eq!(WithDefaults::default(), v0);
    }

    #[test]
    fn a_tagged_field_at_its_declared_default_is_not_written() {
        let v = Version::new(2, true);
        let mut buf = BytesMut::new();
        WithDefaults { epoch: 3, plain: 4, retries: 7 }.encode(&mut buf, v);
        assert_eq!(&buf[..], &[0, 0, 0, 3, 0, 0, 0, 4, 0], "no tagged field");
        let mut buf = BytesMut::new();
        WithDefaults { epoch: 3, plain: 4, retries: 0 }.encode(&mut buf, v);
        assert_eq!(&buf[..], &[0, 0, 0, 3, 0, 0, 0, 4, 1, 0, 2, 0, 0], "0 differs from the default 7");
        let back = WithDefaults::decode(&mut buf.freeze(), v).expect("decodes");
        assert_eq!(back.retries, 0);
    }
}
