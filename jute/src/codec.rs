//! Primitive jute encoding: a bounds-checked [`Reader`], writer functions and
//! the [`Record`] trait every wire record implements.
//!
//! Decoding is total: every read checks the remaining input first, and every
//! length or count is checked against what remains *before* anything is
//! allocated, so a hostile 2³¹-element count costs nothing.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

/// Why a byte sequence is not a valid encoding.
///
/// The server treats all of these as protocol violations of the request
/// *body* (ZooKeeper replies MARSHALLINGERROR, or UNIMPLEMENTED and closes
/// for [`DecodeError::UnknownOpcode`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The input ended, or a length/count claims more bytes than remain.
    Truncated {
        /// What was being read, e.g. `"CreateRequest.path"`.
        what: &'static str,
    },
    /// The bytes are present but not acceptable (e.g. a length below -1).
    Invalid {
        /// What was being read.
        what: &'static str,
        /// Human-readable reason, for logs.
        detail: String,
    },
    /// An opcode (or multi op type) that cannot start a request.
    UnknownOpcode(i32),
}

// Labels used by the primitive reads. Generated record code replaces them
// with the field name (`Stat.czxid`), which is what a log reader wants.
const INT: &str = "int";
const LONG: &str = "long";
const BOOLEAN: &str = "boolean";
const BUFFER: &str = "buffer";
const USTRING: &str = "ustring";
const VECTOR: &str = "vector";

impl DecodeError {
    /// Names the field being read, unless a more specific (inner) field name
    /// is already recorded.
    pub(crate) fn in_field(self, field: &'static str) -> Self {
        let generic = |w: &str| matches!(w, INT | LONG | BOOLEAN | BUFFER | USTRING | VECTOR);
        match self {
            DecodeError::Truncated { what } if generic(what) => {
                DecodeError::Truncated { what: field }
            }
            DecodeError::Invalid { what, detail } if generic(what) => DecodeError::Invalid {
                what: field,
                detail,
            },
            other => other,
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated { what } => write!(f, "truncated input reading {what}"),
            DecodeError::Invalid { what, detail } => write!(f, "invalid {what}: {detail}"),
            DecodeError::UnknownOpcode(op) => write!(f, "unknown opcode {op}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// A cursor over one frame's bytes.
///
/// Buffers are returned as slices of the input [`Bytes`] (zero-copy), so
/// request data is never copied between the socket buffer and the store.
#[derive(Debug, Clone)]
pub struct Reader {
    buf: Bytes,
    pos: usize,
}

impl Reader {
    /// Starts reading at the beginning of `b`.
    pub fn new(b: Bytes) -> Self {
        Reader { buf: b, pos: 0 }
    }

    /// Bytes not yet consumed.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The unconsumed bytes, without copying.
    pub fn into_rest(self) -> Bytes {
        self.buf.slice(self.pos..)
    }

    fn take<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        let end = self.pos.checked_add(N).filter(|&e| e <= self.buf.len());
        let end = end.ok_or(DecodeError::Truncated { what })?;
        let mut a = [0u8; N];
        a.copy_from_slice(&self.buf[self.pos..end]);
        self.pos = end;
        Ok(a)
    }

    /// A 4-byte big-endian `int`.
    pub fn read_i32(&mut self) -> Result<i32, DecodeError> {
        self.take::<4>(INT).map(i32::from_be_bytes)
    }

    /// An 8-byte big-endian `long`.
    pub fn read_i64(&mut self) -> Result<i64, DecodeError> {
        self.take::<8>(LONG).map(i64::from_be_bytes)
    }

    /// A `boolean`: any non-zero byte is true, as in the Java reader.
    pub fn read_bool(&mut self) -> Result<bool, DecodeError> {
        self.take::<1>(BOOLEAN).map(|[b]| b != 0)
    }

    /// Reads a length prefix: `None` for -1 (null), an error below -1 or when
    /// it exceeds the remaining input.
    fn read_len(&mut self, what: &'static str) -> Result<Option<usize>, DecodeError> {
        let len = self
            .read_i32()
            .map_err(|_| DecodeError::Truncated { what })?;
        match len {
            -1 => Ok(None),
            n if n < -1 => Err(DecodeError::Invalid {
                what,
                detail: format!("negative length {n}"),
            }),
            n => {
                let n = n as usize; // non-negative i32 always fits
                if n > self.remaining() {
                    Err(DecodeError::Truncated { what })
                } else {
                    Ok(Some(n))
                }
            }
        }
    }

    /// A `buffer`: `None` for null (-1). The result shares the input's memory.
    pub fn read_buffer(&mut self) -> Result<Option<Bytes>, DecodeError> {
        Ok(self.read_len(BUFFER)?.map(|n| {
            let b = self.buf.slice(self.pos..self.pos + n);
            self.pos += n;
            b
        }))
    }

    /// A `ustring`. Null reads as the empty string (kazoo writes `""` as
    /// null); invalid UTF-8 becomes U+FFFD, as in the Java reader, because
    /// the Java writer emits CESU-8 for characters outside the BMP.
    pub fn read_ustring(&mut self) -> Result<String, DecodeError> {
        let Some(n) = self.read_len(USTRING)? else {
            return Ok(String::new());
        };
        let bytes = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(String::from_utf8_lossy(bytes).into_owned())
    }

    /// Reads a vector count and checks that `count` elements of at least
    /// `min_size` bytes each fit in the remaining input.
    fn read_count(&mut self, min_size: usize) -> Result<usize, DecodeError> {
        let Some(n) = self.read_len_unchecked()? else {
            return Ok(0);
        };
        if n > self.remaining() / min_size.max(1) {
            return Err(DecodeError::Truncated { what: VECTOR });
        }
        Ok(n)
    }

    fn read_len_unchecked(&mut self) -> Result<Option<usize>, DecodeError> {
        match self.read_i32()? {
            -1 => Ok(None),
            n if n < -1 => Err(DecodeError::Invalid {
                what: VECTOR,
                detail: format!("negative count {n}"),
            }),
            n => Ok(Some(n as usize)),
        }
    }

    /// A `vector<T>` of records; null (-1) reads as empty.
    pub fn read_vec<T: Record>(&mut self) -> Result<Vec<T>, DecodeError> {
        let n = self.read_count(T::MIN_WIRE_SIZE)?;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(T::read(self)?);
        }
        Ok(v)
    }

    /// A `vector<ustring>`; null (-1) reads as empty.
    pub fn read_ustring_vec(&mut self) -> Result<Vec<String>, DecodeError> {
        let n = self.read_count(4)?;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(self.read_ustring()?);
        }
        Ok(v)
    }
}

/// A jute record: a fixed sequence of fields, encoded back to back.
pub trait Record: Sized {
    /// Smallest possible encoding in bytes; bounds vector counts before
    /// allocation. Generated records compute it from their fields.
    const MIN_WIRE_SIZE: usize = 1;

    /// Appends the encoding of `self` to `out`.
    fn write(&self, out: &mut BytesMut);

    /// Reads one record from `r`.
    fn read(r: &mut Reader) -> Result<Self, DecodeError>;

    /// Decodes a record from the start of `b`. Trailing bytes are ignored, as
    /// the Java reader does (clients depend on it, e.g. reading only the path
    /// of a Create2Response).
    fn decode(b: Bytes) -> Result<Self, DecodeError> {
        Self::read(&mut Reader::new(b))
    }

    /// The encoding of `self` as a fresh vector.
    fn encode_to_vec(&self) -> Vec<u8> {
        let mut out = BytesMut::new();
        self.write(&mut out);
        out.to_vec()
    }
}

/// Converts a length to the wire's `int`.
///
/// # Panics
/// If `len` exceeds `i32::MAX`: such a value cannot be represented in jute,
/// and is far beyond any frame limit, so this is a caller bug.
fn wire_len(len: usize) -> i32 {
    i32::try_from(len).expect("jute length exceeds i32::MAX")
}

/// Appends an `int`.
pub fn write_i32(out: &mut BytesMut, v: i32) {
    out.put_i32(v);
}

/// Appends a `long`.
pub fn write_i64(out: &mut BytesMut, v: i64) {
    out.put_i64(v);
}

/// Appends a `boolean` as 0 or 1.
pub fn write_bool(out: &mut BytesMut, v: bool) {
    out.put_u8(u8::from(v));
}

/// Appends a `buffer`; `None` is written as length -1 (null).
///
/// # Panics
/// If the buffer is longer than `i32::MAX` bytes.
pub fn write_buffer(out: &mut BytesMut, v: Option<&[u8]>) {
    match v {
        None => out.put_i32(-1),
        Some(b) => {
            out.put_i32(wire_len(b.len()));
            out.put_slice(b);
        }
    }
}

/// Appends a `ustring`. Never writes null: the empty string is length 0.
///
/// # Panics
/// If the string is longer than `i32::MAX` bytes.
pub fn write_ustring(out: &mut BytesMut, v: &str) {
    out.put_i32(wire_len(v.len()));
    out.put_slice(v.as_bytes());
}

/// Appends a `vector<T>` of records (always a count, never null).
///
/// # Panics
/// If there are more than `i32::MAX` elements.
pub fn write_vec<T: Record>(out: &mut BytesMut, v: &[T]) {
    out.put_i32(wire_len(v.len()));
    for item in v {
        item.write(out);
    }
}

/// Appends a `vector<ustring>` (always a count, never null).
///
/// # Panics
/// If there are more than `i32::MAX` elements or one is too long.
pub fn write_ustring_vec<S: AsRef<str>>(out: &mut BytesMut, v: &[S]) {
    out.put_i32(wire_len(v.len()));
    for s in v {
        write_ustring(out, s.as_ref());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(b: &[u8]) -> Reader {
        Reader::new(Bytes::copy_from_slice(b))
    }

    #[test]
    fn bool_reads_any_nonzero_as_true() {
        assert!(reader(&[0x7f]).read_bool().unwrap());
        assert!(!reader(&[0]).read_bool().unwrap());
        assert_eq!(
            reader(&[]).read_bool(),
            Err(DecodeError::Truncated { what: BOOLEAN })
        );
    }

    #[test]
    fn null_and_empty_buffers_differ() {
        assert_eq!(reader(&[0xff; 4]).read_buffer().unwrap(), None);
        assert_eq!(
            reader(&[0, 0, 0, 0]).read_buffer().unwrap(),
            Some(Bytes::new())
        );
    }

    #[test]
    fn null_ustring_reads_empty() {
        assert_eq!(reader(&[0xff; 4]).read_ustring().unwrap(), "");
    }

    #[test]
    fn lengths_below_minus_one_are_invalid() {
        let r = reader(&[0xff, 0xff, 0xff, 0xfe, 0]).read_buffer();
        assert!(matches!(r, Err(DecodeError::Invalid { .. })));
        let r = reader(&[0x80, 0, 0, 0]).read_ustring_vec();
        assert!(matches!(r, Err(DecodeError::Invalid { .. })));
    }

    #[test]
    fn lengths_beyond_input_are_truncated() {
        let r = reader(&[0, 0, 0, 3, b'a', b'b']).read_ustring();
        assert_eq!(r, Err(DecodeError::Truncated { what: USTRING }));
        // Each ustring needs at least 4 bytes, so 2 elements cannot fit in 7.
        let r = reader(&[0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0]).read_ustring_vec();
        assert_eq!(r, Err(DecodeError::Truncated { what: VECTOR }));
    }

    #[test]
    fn buffer_is_zero_copy() {
        let input = Bytes::from_static(&[0, 0, 0, 2, 7, 8, 9]);
        let mut r = Reader::new(input.clone());
        let b = r.read_buffer().unwrap().unwrap();
        assert_eq!(&b[..], &[7, 8]);
        assert_eq!(b.as_ptr(), input[4..].as_ptr());
        assert_eq!(r.remaining(), 1);
        assert_eq!(r.position(), 6);
        assert_eq!(&r.into_rest()[..], &[9]);
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        let s = reader(&[0, 0, 0, 2, b'a', 0xff]).read_ustring().unwrap();
        assert_eq!(s, "a\u{fffd}");
    }

    #[test]
    fn inner_field_names_win() {
        let e = DecodeError::Truncated { what: INT }.in_field("Id.scheme");
        assert_eq!(e.clone().in_field("Acl.id"), e);
    }
}
