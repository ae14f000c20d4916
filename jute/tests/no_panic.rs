//! Decoding is total: arbitrary or damaged input yields `Err`, never a panic
//! (proptest reports a panic as a failure).

#[allow(dead_code)]
mod common;

use bytes::{Bytes, BytesMut};
use common::*;
use jute::*;
use proptest::prelude::*;

/// Runs every decoder that takes untrusted input over `b`.
fn decode_everything(op: i32, b: &Bytes) {
    let _ = Request::decode(op, b.clone());
    if let Ok(op) = OpCode::try_from(op) {
        let _ = Response::decode(op, b.clone());
    }
    let _ = decode_request(b.clone());
    let _ = decode_reply(b.clone());
    let _ = MultiRequest::decode(b.clone());
    let _ = MultiResponse::decode(b.clone());
    let _ = ConnectRequest::decode(b.clone());
    let _ = ConnectResponse::decode(b.clone());
    let mut buf = BytesMut::from(&b[..]);
    while let Ok(Some(_)) = frame::split_frame(&mut buf, 64) {}
}

fn edits() -> impl Strategy<Value = Vec<(usize, u8)>> {
    proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn random_bytes_never_panic(op in -12i32..=110, body in arb_hostile_bytes(96)) {
        decode_everything(op, &Bytes::from(body));
    }

    #[test]
    fn damaged_requests_never_panic(
        req in arb_request(),
        wrong_op in -12i32..=110,
        cut in any::<usize>(),
        edits in edits(),
    ) {
        let mut body = BytesMut::new();
        req.encode(&mut body);
        let b = damage(body.to_vec(), cut, &edits);
        decode_everything(req.opcode().as_i32(), &b);
        decode_everything(wrong_op, &b);
    }

    #[test]
    fn damaged_multi_never_panics(
        req in arb_multi_request(),
        resp in arb_multi_response(),
        cut in any::<usize>(),
        edits in edits(),
    ) {
        decode_everything(14, &damage(req.encode_to_vec(), cut, &edits));
        decode_everything(14, &damage(resp.encode_to_vec(), cut, &edits));
    }

    #[test]
    fn damaged_responses_never_panic(
        (op, resp) in arb_response(),
        cut in any::<usize>(),
        edits in edits(),
    ) {
        let mut body = BytesMut::new();
        resp.encode(&mut body);
        decode_everything(op.as_i32(), &damage(body.to_vec(), cut, &edits));
    }

    #[test]
    fn damaged_connect_never_panics(
        req in arb_connect_request(),
        cut in any::<usize>(),
        edits in edits(),
    ) {
        decode_everything(-10, &damage(req.encode_to_vec(), cut, &edits));
    }
}

#[test]
fn every_opcode_on_empty_and_tiny_bodies() {
    for op in -12..=110 {
        for body in [
            &[][..],
            &[0],
            &[0xff; 3],
            &[0xff; 4],
            &[0x7f, 0xff, 0xff, 0xff, 0],
        ] {
            decode_everything(op, &Bytes::copy_from_slice(body));
        }
    }
}
