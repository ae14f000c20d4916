//! Byte-level vectors: the protocol notes' §17 examples, byte for byte, in
//! both directions, plus hand-derived vectors for the quirks of §1 and §8.

#[allow(dead_code)]
mod common;

use bytes::{Bytes, BytesMut};
use common::hex;
use jute::consts::size;
use jute::*;

fn frame_body(v: &[u8]) -> Bytes {
    let len = u32::from_be_bytes(v[..4].try_into().unwrap()) as usize;
    assert_eq!(len, v.len() - 4, "vector's length prefix");
    Bytes::copy_from_slice(&v[4..])
}

fn stat(seed: i64) -> Stat {
    Stat {
        czxid: seed,
        mzxid: seed + 1,
        ctime: 1_700_000_000_000,
        mtime: 1_700_000_000_001,
        version: 2,
        cversion: -1,
        aversion: 3,
        ephemeral_owner: 0x0100_000a_2b3c_0000,
        data_length: 5,
        num_children: 6,
        pzxid: seed + 2,
    }
}

fn stat_hex(seed: i64) -> String {
    format!(
        "{:016x} {:016x} 0000018b cfe56800 0000018b cfe56801 00000002 ffffffff 00000003 \
         0100000a 2b3c0000 00000005 00000006 {:016x}",
        seed,
        seed + 1,
        seed + 2
    )
}

#[test]
fn connect_request_new_session() {
    let v =
        hex("0000002d 00000000 00000000 00000000 00007530 00000000 00000000 00000010 [16x00] 00");
    let req = ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0,
        time_out: 30_000,
        session_id: 0,
        passwd: Some(Bytes::from_static(&[0; 16])),
        read_only: Some(false),
    };
    let mut out = BytesMut::new();
    frame::record(&mut out, &req);
    assert_eq!(&out[..], &v[..]);
    assert_eq!(v.len() - 4, size::CONNECT_REQUEST);
    assert_eq!(ConnectRequest::decode(frame_body(&v)).unwrap(), req);
}

#[test]
fn connect_request_without_read_only_byte() {
    // go-zookeeper's form: 44 bytes, readOnly absent.
    let v = hex("00000000 00000000 00000015 00000fa0 0100000a 2b3c0000 00000010 [16x07]");
    assert_eq!(v.len(), size::CONNECT_REQUEST_WITHOUT_READ_ONLY);
    let req = ConnectRequest::decode(Bytes::from(v.clone())).unwrap();
    assert_eq!(req.read_only, None);
    assert_eq!(req.last_zxid_seen, 0x15);
    assert_eq!(req.time_out, 4000);
    assert_eq!(req.session_id, 0x0100_000a_2b3c_0000);
    assert_eq!(req.encode_to_vec(), v);
    // A non-zero byte after passwd reads as readOnly = true.
    let mut with = v.clone();
    with.push(0x02);
    let ro = ConnectRequest::decode(Bytes::from(with)).unwrap();
    assert_eq!(ro.read_only, Some(true));
}

#[test]
fn connect_response_valid_session() {
    let v = hex(
        "00000025 00000000 00007530 0100000a 2b3c0000 00000010 00010203 04050607 \
         08090a0b 0c0d0e0f 00",
    );
    let resp = ConnectResponse {
        protocol_version: 0,
        time_out: 30_000,
        session_id: 0x0100_000a_2b3c_0000,
        passwd: Some(Bytes::from_static(&[
            0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
        ])),
        read_only: Some(false),
    };
    let mut out = BytesMut::new();
    frame::record(&mut out, &resp);
    assert_eq!(&out[..], &v[..]);
    assert_eq!(v.len() - 4, size::CONNECT_RESPONSE);
    assert_eq!(ConnectResponse::decode(frame_body(&v)).unwrap(), resp);
    assert_eq!(
        Response::decode(OpCode::CreateSession, frame_body(&v)).unwrap(),
        Response::Connect(resp)
    );
}

#[test]
fn connect_response_expired() {
    let v = hex("00000025 00000000 00000000 00000000 00000000 00000010 [16x00] 00");
    let resp = ConnectResponse {
        passwd: Some(Bytes::from_static(&[0; 16])),
        read_only: Some(false),
        ..ConnectResponse::default()
    };
    let mut out = BytesMut::new();
    frame::record(&mut out, &resp);
    assert_eq!(&out[..], &v[..]);
    assert_eq!(ConnectResponse::decode(frame_body(&v)).unwrap(), resp);
}

#[test]
fn connect_response_without_read_only_byte() {
    let resp = ConnectResponse {
        passwd: Some(Bytes::from_static(&[0; 16])),
        read_only: None,
        ..ConnectResponse::default()
    };
    let v = resp.encode_to_vec();
    assert_eq!(v.len(), size::CONNECT_RESPONSE_WITHOUT_READ_ONLY);
    assert_eq!(ConnectResponse::decode(Bytes::from(v)).unwrap(), resp);
}

#[test]
fn get_data_request() {
    let v = hex("0000000f 00000001 00000004 00000002 2f61 01");
    let req = Request::GetData(GetDataRequest {
        path: "/a".into(),
        watch: true,
    });
    let mut out = BytesMut::new();
    frame::request_with_xid(&mut out, 1, &req);
    assert_eq!(&out[..], &v[..]);
    let (hdr, body) = decode_request(frame_body(&v)).unwrap();
    assert_eq!(hdr, RequestHeader { xid: 1, op_type: 4 });
    assert_eq!(body.unwrap(), req);
}

#[test]
fn ping_request_and_reply() {
    let v = hex("00000008 fffffffe 0000000b");
    let mut out = BytesMut::new();
    frame::request_with_xid(&mut out, xid::PING, &Request::Ping);
    assert_eq!(&out[..], &v[..]);
    let (hdr, body) = decode_request(frame_body(&v)).unwrap();
    assert_eq!((hdr.xid, hdr.op_type), (-2, OpCode::Ping.as_i32()));
    assert_eq!(body.unwrap(), Request::Ping);

    let v = hex("00000010 fffffffe 00000000 00000015 00000000");
    let hdr = ReplyHeader {
        xid: xid::PING,
        zxid: 0x15,
        err: 0,
    };
    let mut out = BytesMut::new();
    frame::reply(&mut out, &hdr, None);
    assert_eq!(&out[..], &v[..]);
    let (got, rest) = decode_reply(frame_body(&v)).unwrap();
    assert_eq!(got, hdr);
    assert_eq!(
        Response::decode(OpCode::Ping, rest).unwrap(),
        Response::Empty
    );
}

#[test]
fn notification_node_data_changed() {
    let v = hex("0000001e ffffffff 00000000 00000016 00000000 00000003 00000003 00000002 2f61");
    let ev = WatcherEvent {
        event_type: EventType::NodeDataChanged.as_i32(),
        state: KeeperState::SyncConnected.as_i32(),
        path: "/a".into(),
    };
    let mut out = BytesMut::new();
    frame::notification(&mut out, 0x16, &ev);
    assert_eq!(&out[..], &v[..]);
    let (hdr, rest) = decode_reply(frame_body(&v)).unwrap();
    assert_eq!(hdr.xid, xid::NOTIFICATION);
    assert_eq!(
        Response::decode(OpCode::Notification, rest).unwrap(),
        Response::Notification(ev)
    );
}

#[test]
fn auth_packet_digest() {
    let v = hex(r#"00000024 fffffffc 00000064 00000000 00000006 "digest" 0000000a "bob:secret""#);
    let req = Request::Auth(AuthPacket {
        auth_type: 0,
        scheme: "digest".into(),
        auth: Some(Bytes::from_static(b"bob:secret")),
    });
    let mut out = BytesMut::new();
    frame::request_with_xid(&mut out, xid::AUTH, &req);
    assert_eq!(&out[..], &v[..]);
    let (hdr, body) = decode_request(frame_body(&v)).unwrap();
    assert_eq!(hdr.xid, xid::AUTH);
    assert_eq!(body.unwrap(), req);
}

const MULTI_REQUEST_BODY: &str = r#"00000007 0000000e
    | 00000001 00 ffffffff
    | 00000002 2f78 00000000 00000001 0000001f 00000005 "world" 00000006 "anyone" 00000000
    | 0000000d 00 ffffffff
    | 00000002 2f79 ffffffff
    | ffffffff 01 ffffffff"#;

#[test]
fn multi_request() {
    let v = hex(MULTI_REQUEST_BODY);
    let req = Request::Multi(MultiRequest {
        ops: vec![
            MultiOp::Create(CreateRequest {
                path: "/x".into(),
                data: Some(Bytes::new()),
                acl: Acl::open_acl_unsafe(),
                flags: CreateMode::Persistent.as_i32(),
            }),
            MultiOp::Check(CheckVersionRequest {
                path: "/y".into(),
                version: -1,
            }),
        ],
    });
    let mut out = BytesMut::new();
    frame::request_with_xid(&mut out, 7, &req);
    assert_eq!(&out[4..], &v[..]);
    let (hdr, body) = decode_request(Bytes::from(v)).unwrap();
    assert_eq!(
        hdr,
        RequestHeader {
            xid: 7,
            op_type: 14
        }
    );
    assert_eq!(body.unwrap(), req);
}

#[test]
fn multi_failure_reply() {
    let v = hex("00000033 00000007 00000000 00000017 00000000 \
         | ffffffff 00 00000000 00000000 \
         | ffffffff 00 ffffff9b ffffff9b \
         | ffffffff 01 ffffffff");
    let hdr = ReplyHeader {
        xid: 7,
        zxid: 0x17,
        err: 0,
    };
    let resp = MultiResponse {
        results: vec![
            MultiResult::Error(ErrorCode::Ok.as_i32()),
            MultiResult::Error(ErrorCode::NoNode.as_i32()),
        ],
    };
    let mut out = BytesMut::new();
    frame::reply(&mut out, &hdr, Some(&resp));
    assert_eq!(&out[..], &v[..]);
    let (got, rest) = decode_reply(frame_body(&v)).unwrap();
    assert_eq!(got, hdr);
    assert_eq!(
        Response::decode(OpCode::Multi, rest).unwrap(),
        Response::Multi(resp)
    );
}

#[test]
fn multi_success_reply_every_result_type() {
    // Hand-derived from §8.2: result type, done=false, err=0, then the body.
    let v = hex(&format!(
        "00000001 00 00000000 00000002 2f61 \
         0000000f 00 00000000 00000002 2f62 {s1} \
         00000002 00 00000000 \
         00000005 00 00000000 {s2} \
         0000000d 00 00000000 \
         00000004 00 00000000 ffffffff {s3} \
         00000008 00 00000000 00000002 00000001 \"c\" 00000000 \
         ffffffff 00 ffffff92 ffffff92 \
         ffffffff 01 ffffffff",
        s1 = stat_hex(1),
        s2 = stat_hex(2),
        s3 = stat_hex(3)
    ));
    let resp = MultiResponse {
        results: vec![
            MultiResult::Create { path: "/a".into() },
            MultiResult::Create2 {
                path: "/b".into(),
                stat: stat(1),
            },
            MultiResult::Delete,
            MultiResult::SetData { stat: stat(2) },
            MultiResult::Check,
            MultiResult::GetData {
                data: None,
                stat: stat(3),
            },
            MultiResult::GetChildren {
                children: vec!["c".into(), String::new()],
            },
            MultiResult::Error(ErrorCode::NodeExists.as_i32()),
        ],
    };
    assert_eq!(resp.encode_to_vec(), v);
    assert_eq!(MultiResponse::decode(Bytes::from(v)).unwrap(), resp);
}

#[test]
fn empty_multi() {
    let v = hex("ffffffff 01 ffffffff");
    assert_eq!(MultiRequest::default().encode_to_vec(), v);
    assert_eq!(MultiResponse::default().encode_to_vec(), v);
    assert_eq!(
        MultiRequest::decode(Bytes::from(v.clone())).unwrap(),
        MultiRequest::default()
    );
    // Readers look only at `done`: any type/err in the end header is fine.
    let odd = hex("0000000e 01 00000000");
    assert!(MultiResponse::decode(Bytes::from(odd))
        .unwrap()
        .results
        .is_empty());
}

#[test]
fn multi_unknown_op_type_is_invalid() {
    let v = hex("00000003 00 ffffffff 00000002 2f61 00 ffffffff 01 ffffffff");
    assert!(matches!(
        MultiRequest::decode(Bytes::from(v)),
        Err(DecodeError::Invalid { .. })
    ));
    let v = hex("00000007 00 00000000");
    assert!(matches!(
        MultiResponse::decode(Bytes::from(v)),
        Err(DecodeError::Invalid { .. })
    ));
    // A multi without its end header is truncated.
    let v = hex("0000000d 00 ffffffff 00000002 2f79 ffffffff");
    assert!(matches!(
        MultiRequest::decode(Bytes::from(v)),
        Err(DecodeError::Truncated { .. })
    ));
}

#[test]
fn stat_is_68_bytes() {
    let s = stat(0x10);
    let v = s.encode_to_vec();
    assert_eq!(v.len(), size::STAT);
    assert_eq!(<Stat as Record>::MIN_WIRE_SIZE, size::STAT);
    assert_eq!(v, hex(&stat_hex(0x10)));
    assert_eq!(Stat::decode(Bytes::from(v)).unwrap(), s);
}

#[test]
fn header_sizes() {
    assert_eq!(
        <RequestHeader as Record>::MIN_WIRE_SIZE,
        size::REQUEST_HEADER
    );
    assert_eq!(<ReplyHeader as Record>::MIN_WIRE_SIZE, size::REPLY_HEADER);
    assert_eq!(<MultiHeader as Record>::MIN_WIRE_SIZE, size::MULTI_HEADER);
    assert_eq!(
        ReplyHeader::default().encode_to_vec().len(),
        size::REPLY_HEADER
    );
}

#[test]
fn get_data_response_keeps_null_distinct_from_empty() {
    let null = GetDataResponse {
        data: None,
        stat: stat(1),
    };
    let empty = GetDataResponse {
        data: Some(Bytes::new()),
        stat: stat(1),
    };
    assert_eq!(
        null.encode_to_vec(),
        hex(&format!("ffffffff {}", stat_hex(1)))
    );
    assert_eq!(
        empty.encode_to_vec(),
        hex(&format!("00000000 {}", stat_hex(1)))
    );
    let mut out = BytesMut::new();
    frame::reply(
        &mut out,
        &ReplyHeader::default(),
        Some(&Response::GetData(null.clone())),
    );
    let (_, rest) = decode_reply(frame_body(&out)).unwrap();
    assert_eq!(
        Response::decode(OpCode::GetData, rest).unwrap(),
        Response::GetData(null)
    );
}

#[test]
fn kazoo_null_ustring_reads_as_empty() {
    // kazoo writes Id("auth", "") with a -1 length.
    let v = hex(r#"0000001f 00000004 "auth" ffffffff"#);
    let acl = Acl::decode(Bytes::from(v)).unwrap();
    assert_eq!(acl, Acl::creator_all_acl()[0]);
    // We always write the empty string as length 0.
    assert_eq!(
        acl.encode_to_vec(),
        hex(r#"0000001f 00000004 "auth" 00000000"#)
    );
}

#[test]
fn null_vectors_read_as_empty() {
    let v = hex("00000000 00000000 ffffffff ffffffff ffffffff");
    let sw = SetWatches::decode(Bytes::from(v)).unwrap();
    assert_eq!(sw, SetWatches::default());
    assert_eq!(
        sw.encode_to_vec(),
        hex("00000000 00000000 00000000 00000000 00000000")
    );
}

#[test]
fn add_watch_reply_has_four_byte_body() {
    let mut out = BytesMut::new();
    let hdr = ReplyHeader {
        xid: 9,
        zxid: 0x20,
        err: 0,
    };
    frame::reply(
        &mut out,
        &hdr,
        Some(&Response::AddWatch(ErrorResponse { err: 0 })),
    );
    assert_eq!(
        &out[..],
        &hex("00000014 00000009 00000000 00000020 00000000 00000000")[..]
    );
}

#[test]
fn create2_response_trailing_stat_is_ignored_by_create_reader() {
    // A Java client that sent createContainer without a Stat parses only the
    // path of the Create2Response.
    let r = Create2Response {
        path: "/c".into(),
        stat: stat(4),
    };
    let got = CreateResponse::decode(Bytes::from(r.encode_to_vec())).unwrap();
    assert_eq!(got.path, "/c");
}

#[test]
fn delete_container_path_is_a_buffer() {
    let v = hex("00000002 2f63");
    let req = Request::decode(20, Bytes::from(v.clone())).unwrap();
    assert_eq!(
        req,
        Request::DeleteContainer(DeleteContainerRequest {
            path: Some(Bytes::from_static(b"/c"))
        })
    );
    // Same bytes as the ustring of a SyncRequest.
    assert_eq!(SyncRequest { path: "/c".into() }.encode_to_vec(), v);
}

#[test]
fn invalid_request_opcodes() {
    for op in [0, 10, -10, -1, 23, 99, 108, i32::MIN] {
        assert_eq!(
            Request::decode(op, Bytes::new()),
            Err(DecodeError::UnknownOpcode(op))
        );
    }
    let (hdr, body) = decode_request(Bytes::from(hex("00000005 0000000a"))).unwrap();
    assert_eq!(hdr.xid, 5);
    assert_eq!(body, Err(DecodeError::UnknownOpcode(10)));
    assert_eq!(
        Response::decode(OpCode::Error, Bytes::new()),
        Err(DecodeError::UnknownOpcode(-1))
    );
}

#[test]
fn body_errors_name_the_field() {
    // One ACL cannot fit in 4 bytes: the count is rejected up front.
    let v = hex("00000002 2f61 00000000 00000001 0000001f");
    assert_eq!(
        Request::decode(1, Bytes::from(v)),
        Err(DecodeError::Truncated {
            what: "CreateRequest.acl"
        })
    );
    // Room for an ACL, but the scheme claims more than remains.
    let v = hex(r#"00000002 2f61 00000000 00000001 0000001f 00000009 "world""#);
    assert_eq!(
        Request::decode(1, Bytes::from(v)),
        Err(DecodeError::Truncated { what: "Id.scheme" })
    );
    let v = hex("00000002 2f61 fffffffe");
    assert!(matches!(
        Request::decode(1, Bytes::from(v)),
        Err(DecodeError::Invalid {
            what: "CreateRequest.data",
            ..
        })
    ));
}
