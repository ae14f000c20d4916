//! Property tests: for every record, `read(write(v)) == v`, the encoding is
//! at least `MIN_WIRE_SIZE` bytes, trailing bytes are ignored, and every
//! strict prefix fails to decode. The per-record tests are generated from
//! `records.jute` by build.rs, so no record can escape them.

#[allow(dead_code)]
mod common;

use std::fmt::Debug;

use bytes::{Bytes, BytesMut};
use common::*;
use jute::*;
use proptest::prelude::*;

fn check_roundtrip<T: Record + PartialEq + Debug>(v: &T) -> Result<(), TestCaseError> {
    let enc = v.encode_to_vec();
    prop_assert!(enc.len() >= T::MIN_WIRE_SIZE);
    prop_assert_eq!(&T::decode(Bytes::from(enc.clone()))?, v);
    let mut trailing = enc.clone();
    trailing.extend_from_slice(&[0xde, 0xad]);
    prop_assert_eq!(&T::decode(Bytes::from(trailing))?, v);
    for cut in 0..enc.len() {
        prop_assert!(T::decode(Bytes::copy_from_slice(&enc[..cut])).is_err());
    }
    Ok(())
}

include!(concat!(env!("OUT_DIR"), "/records_roundtrip.rs"));

#[test]
fn every_idl_record_has_a_roundtrip_test() {
    // 47 records are declared: update this when adding one.
    assert_eq!(RECORD_COUNT, 47);
}

proptest! {
    #[test]
    fn roundtrip_connect_request(v in arb_connect_request()) {
        let enc = v.encode_to_vec();
        prop_assert_eq!(ConnectRequest::decode(Bytes::from(enc.clone()))?, v.clone());
        // The optional trailing byte: cutting it off gives read_only = None.
        if v.read_only.is_some() {
            let short = ConnectRequest::decode(Bytes::copy_from_slice(&enc[..enc.len() - 1]))?;
            prop_assert_eq!(short, ConnectRequest { read_only: None, ..v });
        }
    }

    #[test]
    fn roundtrip_connect_response(v in arb_connect_response()) {
        let enc = v.encode_to_vec();
        prop_assert_eq!(ConnectResponse::decode(Bytes::from(enc))?, v);
    }

    #[test]
    fn roundtrip_multi_request(v in arb_multi_request()) {
        check_roundtrip(&v)?;
    }

    #[test]
    fn roundtrip_multi_response(v in arb_multi_response()) {
        check_roundtrip(&v)?;
    }

    #[test]
    fn roundtrip_request(req in arb_request()) {
        let mut body = BytesMut::new();
        req.encode(&mut body);
        let op = req.opcode().as_i32();
        prop_assert_eq!(Request::decode(op, body.freeze())?, req.clone());
        // And through a whole frame.
        let mut out = BytesMut::new();
        frame::request_with_xid(&mut out, 42, &req);
        let frame = frame::split_frame(&mut out, DEFAULT_MAX_FRAME)?.expect("whole frame");
        prop_assert!(out.is_empty());
        let (hdr, got) = decode_request(frame)?;
        prop_assert_eq!(hdr, RequestHeader { xid: 42, op_type: op });
        prop_assert_eq!(got?, req);
    }

    #[test]
    fn roundtrip_response((op, resp) in arb_response()) {
        let mut body = BytesMut::new();
        resp.encode(&mut body);
        prop_assert_eq!(Response::decode(op, body.freeze())?, resp);
    }
}
