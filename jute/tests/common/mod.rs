//! Shared test helpers: generated per-record strategies plus hand-written
//! ones for the compat types and the request/response enums.

use bytes::Bytes;
use jute::*;
use proptest::prelude::*;

include!(concat!(env!("OUT_DIR"), "/records_arb.rs"));

/// Parses the notation of the protocol notes' test vectors: hex groups,
/// `"ascii"` literals, `[16x00]` repeats; `|` separators are ignored.
pub fn hex(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('"') {
            let end = r.find('"').expect("closing quote");
            out.extend_from_slice(&r.as_bytes()[..end]);
            rest = &r[end + 1..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']').expect("closing bracket");
            let (n, b) = r[..end].split_once('x').expect("[NxHH]");
            let byte = u8::from_str_radix(b, 16).expect("hex byte");
            out.extend(std::iter::repeat_n(byte, n.parse().expect("count")));
            rest = &r[end + 1..];
        } else {
            let end = rest
                .find(|c: char| c.is_whitespace() || c == '"' || c == '[')
                .unwrap_or(rest.len());
            let tok = &rest[..end];
            if tok != "|" {
                assert!(tok.len().is_multiple_of(2), "odd hex group {tok:?}");
                for i in (0..tok.len()).step_by(2) {
                    out.push(u8::from_str_radix(&tok[i..i + 2], 16).expect("hex digit"));
                }
            }
            rest = &rest[end..];
        }
        rest = rest.trim_start();
    }
    out
}

pub fn arb_connect_request() -> BoxedStrategy<ConnectRequest> {
    (
        any::<i32>(),
        any::<i64>(),
        any::<i32>(),
        any::<i64>(),
        arb_buffer(),
        proptest::option::of(any::<bool>()),
    )
        .prop_map(
            |(protocol_version, last_zxid_seen, time_out, session_id, passwd, read_only)| {
                ConnectRequest {
                    protocol_version,
                    last_zxid_seen,
                    time_out,
                    session_id,
                    passwd,
                    read_only,
                }
            },
        )
        .boxed()
}

pub fn arb_connect_response() -> BoxedStrategy<ConnectResponse> {
    (
        any::<i32>(),
        any::<i32>(),
        any::<i64>(),
        arb_buffer(),
        proptest::option::of(any::<bool>()),
    )
        .prop_map(
            |(protocol_version, time_out, session_id, passwd, read_only)| ConnectResponse {
                protocol_version,
                time_out,
                session_id,
                passwd,
                read_only,
            },
        )
        .boxed()
}

pub fn arb_multi_op() -> BoxedStrategy<MultiOp> {
    prop_oneof![
        arb_create_request().prop_map(MultiOp::Create),
        arb_create_request().prop_map(MultiOp::Create2),
        arb_create_request().prop_map(MultiOp::CreateContainer),
        arb_create_ttl_request().prop_map(MultiOp::CreateTtl),
        arb_delete_request().prop_map(MultiOp::Delete),
        arb_set_data_request().prop_map(MultiOp::SetData),
        arb_check_version_request().prop_map(MultiOp::Check),
        arb_get_data_request().prop_map(MultiOp::GetData),
        arb_get_children_request().prop_map(MultiOp::GetChildren),
    ]
    .boxed()
}

pub fn arb_multi_request() -> BoxedStrategy<MultiRequest> {
    proptest::collection::vec(arb_multi_op(), 0..5)
        .prop_map(|ops| MultiRequest { ops })
        .boxed()
}

pub fn arb_multi_result() -> BoxedStrategy<MultiResult> {
    prop_oneof![
        arb_ustring().prop_map(|path| MultiResult::Create { path }),
        (arb_ustring(), arb_stat()).prop_map(|(path, stat)| MultiResult::Create2 { path, stat }),
        Just(MultiResult::Delete),
        arb_stat().prop_map(|stat| MultiResult::SetData { stat }),
        Just(MultiResult::Check),
        (arb_buffer(), arb_stat()).prop_map(|(data, stat)| MultiResult::GetData { data, stat }),
        proptest::collection::vec(arb_ustring(), 0..4)
            .prop_map(|children| MultiResult::GetChildren { children }),
        any::<i32>().prop_map(MultiResult::Error),
    ]
    .boxed()
}

pub fn arb_multi_response() -> BoxedStrategy<MultiResponse> {
    proptest::collection::vec(arb_multi_result(), 0..5)
        .prop_map(|results| MultiResponse { results })
        .boxed()
}

pub fn arb_request() -> BoxedStrategy<Request> {
    prop_oneof![
        arb_create_request().prop_map(Request::Create),
        arb_create_request().prop_map(Request::Create2),
        arb_create_request().prop_map(Request::CreateContainer),
        arb_create_ttl_request().prop_map(Request::CreateTtl),
        arb_delete_request().prop_map(Request::Delete),
        arb_delete_container_request().prop_map(Request::DeleteContainer),
        arb_exists_request().prop_map(Request::Exists),
        arb_get_data_request().prop_map(Request::GetData),
        arb_set_data_request().prop_map(Request::SetData),
        arb_get_acl_request().prop_map(Request::GetAcl),
        arb_set_acl_request().prop_map(Request::SetAcl),
        arb_get_children_request().prop_map(Request::GetChildren),
        arb_get_children2_request().prop_map(Request::GetChildren2),
        arb_sync_request().prop_map(Request::Sync),
        Just(Request::Ping),
        arb_check_version_request().prop_map(Request::Check),
        arb_multi_request().prop_map(Request::Multi),
        arb_multi_request().prop_map(Request::MultiRead),
        arb_reconfig_request().prop_map(Request::Reconfig),
        arb_check_watches_request().prop_map(Request::CheckWatches),
        arb_remove_watches_request().prop_map(Request::RemoveWatches),
        arb_auth_packet().prop_map(Request::Auth),
        arb_set_watches().prop_map(Request::SetWatches),
        arb_set_watches2().prop_map(Request::SetWatches2),
        arb_get_sasl_request().prop_map(Request::Sasl),
        arb_get_ephemerals_request().prop_map(Request::GetEphemerals),
        arb_get_all_children_number_request().prop_map(Request::GetAllChildrenNumber),
        arb_add_watch_request().prop_map(Request::AddWatch),
        Just(Request::WhoAmI),
        Just(Request::CloseSession),
    ]
    .boxed()
}

/// A response together with an opcode whose reply has that shape.
pub fn arb_response() -> BoxedStrategy<(OpCode, Response)> {
    use OpCode as O;
    prop_oneof![
        prop_oneof![
            Just(O::Delete),
            Just(O::Ping),
            Just(O::Auth),
            Just(O::SetWatches),
            Just(O::CloseSession)
        ]
        .prop_map(|op| (op, Response::Empty)),
        arb_connect_response().prop_map(|r| (O::CreateSession, Response::Connect(r))),
        arb_create_response().prop_map(|r| (O::Create, Response::Create(r))),
        (
            prop_oneof![
                Just(O::Create2),
                Just(O::CreateContainer),
                Just(O::CreateTtl)
            ],
            arb_create2_response()
        )
            .prop_map(|(op, r)| (op, Response::Create2(r))),
        arb_exists_response().prop_map(|r| (O::Exists, Response::Exists(r))),
        (
            prop_oneof![Just(O::GetData), Just(O::Reconfig)],
            arb_get_data_response()
        )
            .prop_map(|(op, r)| (op, Response::GetData(r))),
        arb_set_data_response().prop_map(|r| (O::SetData, Response::SetData(r))),
        arb_get_acl_response().prop_map(|r| (O::GetAcl, Response::GetAcl(r))),
        arb_set_acl_response().prop_map(|r| (O::SetAcl, Response::SetAcl(r))),
        arb_get_children_response().prop_map(|r| (O::GetChildren, Response::GetChildren(r))),
        arb_get_children2_response().prop_map(|r| (O::GetChildren2, Response::GetChildren2(r))),
        arb_sync_response().prop_map(|r| (O::Sync, Response::Sync(r))),
        (
            prop_oneof![Just(O::Multi), Just(O::MultiRead)],
            arb_multi_response()
        )
            .prop_map(|(op, r)| (op, Response::Multi(r))),
        arb_set_sasl_response().prop_map(|r| (O::Sasl, Response::Sasl(r))),
        arb_get_ephemerals_response().prop_map(|r| (O::GetEphemerals, Response::GetEphemerals(r))),
        arb_get_all_children_number_response()
            .prop_map(|r| (O::GetAllChildrenNumber, Response::GetAllChildrenNumber(r))),
        arb_error_response().prop_map(|r| (O::AddWatch, Response::AddWatch(r))),
        arb_who_am_i_response().prop_map(|r| (O::WhoAmI, Response::WhoAmI(r))),
        arb_watcher_event().prop_map(|r| (O::Notification, Response::Notification(r))),
    ]
    .boxed()
}

/// Bytes biased towards the values that stress length handling.
pub fn arb_hostile_bytes(max: usize) -> BoxedStrategy<Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![
            Just(0u8),
            Just(0xffu8),
            Just(0x7fu8),
            Just(0x80u8),
            Just(1u8),
            any::<u8>(),
            any::<u8>(),
        ],
        0..max,
    )
    .boxed()
}

/// A valid encoding of something, then damaged: truncated and/or with a few
/// bytes overwritten. Reaches deeper into decoders than random bytes do.
pub fn damage(mut bytes: Vec<u8>, cut: usize, edits: &[(usize, u8)]) -> Bytes {
    if !bytes.is_empty() {
        for &(i, b) in edits {
            let i = i % bytes.len();
            bytes[i] = b;
        }
    }
    bytes.truncate(cut.min(bytes.len()));
    Bytes::from(bytes)
}
