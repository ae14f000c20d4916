//! The 4-byte big-endian length prefix that delimits every message, in both
//! directions, plus helpers that write whole frames.
//!
//! Inbound, ZooKeeper closes the connection without replying when a length
//! is negative or exceeds `jute.maxbuffer` ([`DEFAULT_MAX_FRAME`]); there is
//! no "too large" error code. Outbound, clients drop replies above their own
//! limit (Java 3.7+: the same 0xfffff), so servers should respect it too.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::codec::{DecodeError, Record};
use crate::consts::{size::LENGTH_PREFIX, xid};
use crate::records::{ReplyHeader, RequestHeader, WatcherEvent};
use crate::request::Request;
use crate::response::Response;

/// Default `jute.maxbuffer`: the largest frame body accepted.
pub const DEFAULT_MAX_FRAME: usize = 0xfffff;

/// Anything that can be written as (part of) a frame body: every
/// [`Record`], [`Request`] and [`Response`]. Object-safe, unlike `Record`.
pub trait Encode {
    /// Appends the encoding to `out`.
    fn encode(&self, out: &mut BytesMut);
}

impl<T: Record> Encode for T {
    fn encode(&self, out: &mut BytesMut) {
        self.write(out);
    }
}

impl Encode for Request {
    fn encode(&self, out: &mut BytesMut) {
        Request::encode(self, out);
    }
}

impl Encode for Response {
    fn encode(&self, out: &mut BytesMut) {
        Response::encode(self, out);
    }
}

/// Appends one frame: a length placeholder, whatever `body` writes, then
/// patches the length in. `out` may already hold earlier frames.
///
/// # Panics
/// If `body` writes more than `i32::MAX` bytes.
pub fn encode_frame(out: &mut BytesMut, body: impl FnOnce(&mut BytesMut)) {
    let start = out.len();
    out.put_i32(0);
    body(out);
    let len = out.len() - start - LENGTH_PREFIX;
    let len = i32::try_from(len).expect("frame body exceeds i32::MAX bytes");
    out[start..start + LENGTH_PREFIX].copy_from_slice(&len.to_be_bytes());
}

/// Removes one complete frame from the front of `buf` and returns its body.
///
/// `Ok(None)` means more bytes are needed (nothing is consumed). A length
/// below 0 or above `max_frame` is an error; ZooKeeper closes the connection
/// without replying in that case.
pub fn split_frame(buf: &mut BytesMut, max_frame: usize) -> Result<Option<Bytes>, DecodeError> {
    let Some(prefix) = buf.get(..LENGTH_PREFIX) else {
        return Ok(None);
    };
    let len = i32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
    let len = usize::try_from(len)
        .ok()
        .filter(|&l| l <= max_frame)
        .ok_or_else(|| DecodeError::Invalid {
            what: "frame length",
            detail: format!("{len} is outside 0..={max_frame}"),
        })?;
    if buf.len() < LENGTH_PREFIX + len {
        buf.reserve(LENGTH_PREFIX + len - buf.len());
        return Ok(None);
    }
    buf.advance(LENGTH_PREFIX);
    Ok(Some(buf.split_to(len).freeze()))
}

/// Appends a reply frame: `hdr`, then `body` if given.
///
/// Pass `None` whenever `hdr.err != 0`: error replies carry no body, and
/// all clients skip it anyway. (A failed multi is not such a case: its
/// header err is 0.)
pub fn reply(out: &mut BytesMut, hdr: &ReplyHeader, body: Option<&dyn Encode>) {
    encode_frame(out, |out| {
        hdr.write(out);
        if let Some(b) = body {
            b.encode(out);
        }
    });
}

/// Appends a request frame: `hdr`, then the body of `req`. For clients and
/// tests; `hdr.op_type` should be `req.opcode()`.
pub fn request(out: &mut BytesMut, hdr: &RequestHeader, req: &Request) {
    encode_frame(out, |out| {
        hdr.write(out);
        req.encode(out);
    });
}

/// Appends a request frame with the next `xid` and the request's own opcode.
pub fn request_with_xid(out: &mut BytesMut, xid: i32, req: &Request) {
    let hdr = RequestHeader {
        xid,
        op_type: req.opcode().as_i32(),
    };
    request(out, &hdr, req);
}

/// Appends a watch notification frame: xid -1, the given `zxid` (the firing
/// transaction's since 3.9; -1 before, and for events made up from
/// setWatches), err 0, then the event.
pub fn notification(out: &mut BytesMut, zxid: i64, event: &WatcherEvent) {
    let hdr = ReplyHeader {
        xid: xid::NOTIFICATION,
        zxid,
        err: 0,
    };
    reply(out, &hdr, Some(event));
}

/// Appends a frame holding a bare record: the handshake
/// ([`crate::ConnectRequest`], [`crate::ConnectResponse`]), which has no
/// header.
pub fn record<R: Record>(out: &mut BytesMut, rec: &R) {
    encode_frame(out, |out| rec.write(out));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_frame_waits_for_whole_frame() {
        let mut buf = BytesMut::from(&[0, 0, 0, 3, 1, 2][..]);
        assert_eq!(split_frame(&mut buf, DEFAULT_MAX_FRAME), Ok(None));
        assert_eq!(buf.len(), 6);
        buf.extend_from_slice(&[3, 0, 0]);
        let f = split_frame(&mut buf, DEFAULT_MAX_FRAME).unwrap().unwrap();
        assert_eq!(&f[..], &[1, 2, 3]);
        assert_eq!(&buf[..], &[0, 0]);
        assert_eq!(split_frame(&mut buf, DEFAULT_MAX_FRAME), Ok(None));
    }

    #[test]
    fn split_frame_rejects_bad_lengths() {
        let mut neg = BytesMut::from(&[0xff, 0xff, 0xff, 0xff][..]);
        assert!(split_frame(&mut neg, DEFAULT_MAX_FRAME).is_err());
        let mut big = BytesMut::from(&[0, 0x10, 0, 0][..]);
        assert!(split_frame(&mut big, DEFAULT_MAX_FRAME).is_err());
        let mut max = BytesMut::from(&[0, 0x0f, 0xff, 0xff][..]);
        assert_eq!(split_frame(&mut max, DEFAULT_MAX_FRAME), Ok(None));
    }

    #[test]
    fn encode_frame_appends() {
        let mut out = BytesMut::from(&b"xy"[..]);
        encode_frame(&mut out, |o| o.put_slice(b"abc"));
        assert_eq!(&out[..], b"xy\0\0\0\x03abc");
    }
}
