//! Entry points for the fuzzer (`fuzz/`, nightly) and for the corpus replay
//! test that runs every saved input on stable: both call these, so what CI
//! replays is exactly what was fuzzed.

use bytes::{Bytes, BytesMut};

use crate::codec::Record;
use crate::compat::ConnectRequest;
use crate::consts::OpCode;
use crate::frame::{split_frame, DEFAULT_MAX_FRAME};
use crate::request::{decode_request, Request};

/// Decodes `data` every way a server reads client bytes, and checks that
/// whatever decodes encodes back to something that decodes to the same
/// value. Panics on a violation (which is what the fuzzer looks for).
///
/// * as a request frame body: the RequestHeader, then the body of the
///   opcode it names;
/// * as the body of every opcode in turn;
/// * as a ConnectRequest (the readOnly byte is optional);
/// * as a byte stream cut into frames.
pub fn decode(data: &[u8]) {
    let bytes = Bytes::copy_from_slice(data);
    if let Ok((hdr, Ok(req))) = decode_request(bytes.clone()) {
        assert_eq!(
            req.opcode().as_i32(),
            hdr.op_type,
            "decoded as another opcode"
        );
        round_trip(&req);
    }
    for op in OpCode::ALL {
        if let Ok(req) = Request::decode(op.as_i32(), bytes.clone()) {
            round_trip(&req);
        }
    }
    if let Ok(c) = ConnectRequest::decode(bytes.clone()) {
        let mut out = BytesMut::new();
        c.write(&mut out);
        let again =
            ConnectRequest::decode(out.freeze()).expect("an encoded ConnectRequest decodes");
        assert_eq!(again, c, "ConnectRequest changed in a round trip");
    }
    let mut buf = BytesMut::from(data);
    let mut consumed = 0;
    while let Ok(Some(frame)) = split_frame(&mut buf, DEFAULT_MAX_FRAME) {
        consumed += 4 + frame.len();
        assert!(frame.len() <= DEFAULT_MAX_FRAME);
    }
    assert_eq!(consumed + buf.len(), data.len(), "split_frame lost bytes");
}

fn round_trip(req: &Request) {
    let mut out = BytesMut::new();
    req.encode(&mut out);
    let again = Request::decode(req.opcode().as_i32(), out.freeze())
        .unwrap_or_else(|e| panic!("{:?} does not decode after encoding: {e}", req.opcode()));
    assert_eq!(&again, req, "request changed in a round trip");
}
