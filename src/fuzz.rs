//! The server side of a connection, without sockets or etcd, for the
//! fuzzer (`fuzz/`, nightly) and the corpus replay test (stable): both
//! call [`connection`], so CI replays exactly what was fuzzed.
//!
//! The input is the byte stream a client sends. It goes through the same
//! code as on a real connection: [`conn::Inbound`] (framing, four-letter
//! word detection, the handshake's ConnectRequest, request headers),
//! [`conn::connect_response`], [`ops::decide`] (request decoding, write
//! or not), the write planner against the in-memory tree, and
//! [`ops::Asker`] for everything answered from the replica (reads, watches
//! and their limits), with [`ops::authenticate`] for auth packets. Only
//! what needs etcd is left out: committing a planned write, sync, and
//! closing the session.

use bytes::Bytes;
use jute::Id;
use parking_lot::Mutex;

use crate::conn::{self, Event, Inbound};
use crate::layout::{ChildRec, ChildRecord, Layout, Meta, NodeKind, StoredAcl};
use crate::ops::{self, Asker, Decision, WatchLimits};
use crate::plan::{Plan, Planner, WriteCtx};
use crate::replica::State;
use crate::session::SessionConfig;
use crate::tree::{Change, DataKv, Tree};
use crate::watches::WatchTable;

/// The session id the in-memory handshake hands out.
const SESSION: i64 = 0x1_2345_6789;

/// Small limits, so that inputs reach them.
const LIMITS: WatchLimits = WatchLimits {
    max_watches: 16,
    max_watch_bytes: 512,
};

/// Runs `data` as one connection's input, once in a single piece and once
/// in small irregular pieces; panics if anything panics, or if how the
/// bytes were split changed what the server did.
pub fn connection(data: &[u8]) {
    let whole = run(data, |_| usize::MAX);
    let mut seed = data.len() as u64 | 1;
    let pieces = run(data, move |_| {
        // xorshift: deterministic for a given input.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % 37) as usize + 1
    });
    assert_eq!(whole, pieces, "splitting the input changed the outcome");
}

/// What the server did, step by step: the frames it sent and what it
/// decided.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    FourLetterWord(&'static str),
    Sent(Bytes),
    Planned {
        ops: usize,
        failed: Option<(usize, i32)>,
    },
    NeedsEtcd(i32),
    Closed(String),
}

fn run(data: &[u8], mut piece: impl FnMut(usize) -> usize) -> Vec<Step> {
    let mut c = Conn {
        inbound: Inbound::new(jute::DEFAULT_MAX_FRAME),
        state: State {
            tree: seeded_tree(),
            watches: Mutex::new(WatchTable::default()),
            revision: 1,
        },
        layout: Layout::new(""),
        ids: vec![Id {
            scheme: "ip".into(),
            id: "127.0.0.1".into(),
        }],
        steps: Vec::new(),
    };
    let mut rest = data;
    while !rest.is_empty() {
        let n = piece(rest.len()).min(rest.len());
        c.inbound.extend(&rest[..n]);
        rest = &rest[n..];
        if !c.drain() {
            break;
        }
    }
    c.steps
}

/// A small tree for reads to find: nested nodes, data, an ephemeral of the
/// session, a container, and a node only a digest identity may read.
fn seeded_tree() -> Tree {
    let mut tree = Tree::new();
    let mut rev = 1;
    let mut node = |tree: &mut Tree, path: &str, data: &[u8], meta: Meta| {
        rev += 1;
        let mut changes = vec![
            Change::Data(
                path.into(),
                Some(DataKv {
                    value: Bytes::copy_from_slice(data),
                    create_rev: rev,
                    mod_rev: rev,
                    version: 1,
                    lease: if meta.kind == NodeKind::Ephemeral {
                        SESSION
                    } else {
                        0
                    },
                }),
            ),
            Change::Meta(path.into(), Some((meta, rev))),
        ];
        if let Some(parent) = crate::path::parent(path) {
            changes.push(Change::Children(
                parent.into(),
                Some(crate::tree::CrecKv {
                    rec: ChildRecord::exact(
                        ChildRec {
                            cversion: rev as i32,
                            creates: rev as i32,
                        },
                        1,
                        0,
                        0,
                    ),
                    mod_rev: rev,
                    version: 1,
                }),
            ));
        }
        tree.apply(changes, rev);
    };
    node(&mut tree, "/a", b"data of a", Meta::default());
    node(&mut tree, "/a/b", b"", Meta::default());
    node(&mut tree, "/a/b/c", b"\0\x01\x02", Meta::default());
    node(
        &mut tree,
        "/a/eph",
        b"e",
        Meta {
            kind: NodeKind::Ephemeral,
            owner: SESSION,
            ..Meta::default()
        },
    );
    node(
        &mut tree,
        "/box",
        b"",
        Meta {
            kind: NodeKind::Container,
            ..Meta::default()
        },
    );
    node(
        &mut tree,
        "/locked",
        b"secret",
        Meta {
            acl: Some(vec![StoredAcl {
                perms: jute::perms::ALL,
                scheme: "digest".into(),
                // user:pw
                id: crate::acl::digest_id("user:pw"),
            }]),
            ..Meta::default()
        },
    );
    tree
}

struct Conn {
    inbound: Inbound,
    state: State,
    layout: Layout,
    ids: Vec<Id>,
    steps: Vec<Step>,
}

impl Conn {
    /// Handles every complete event; false once the connection is closed.
    fn drain(&mut self) -> bool {
        loop {
            let event = match self.inbound.next_event() {
                Ok(Some(e)) => e,
                Ok(None) => return !matches!(self.steps.last(), Some(Step::FourLetterWord(_))),
                Err(refusal) => {
                    self.steps.push(Step::Closed(refusal.to_string()));
                    return false;
                }
            };
            if !self.handle(event) {
                return false;
            }
        }
    }

    fn handle(&mut self, event: Event) -> bool {
        match event {
            Event::FourLetterWord(w) => {
                self.steps.push(Step::FourLetterWord(w));
                false
            }
            Event::Connect(req) => {
                let sessions = SessionConfig {
                    tick_ms: 2000,
                    min_timeout_ms: 4000,
                    max_timeout_ms: 40000,
                };
                let id = if req.session_id == 0 {
                    SESSION
                } else {
                    req.session_id
                };
                let f = conn::connect_response(
                    &req,
                    id,
                    sessions.negotiate(req.time_out),
                    Bytes::from_static(&[7; 16]),
                );
                self.steps.push(Step::Sent(f));
                true
            }
            Event::Ping { xid: _ } => {
                let header = jute::ReplyHeader {
                    xid: jute::xid::PING,
                    zxid: self.state.revision,
                    err: 0,
                };
                self.steps
                    .push(Step::Sent(crate::conns::frame(&header, None)));
                true
            }
            Event::Request { xid, op, body } => self.request(xid, op, body),
        }
    }

    fn request(&mut self, xid: i32, op: i32, body: Bytes) -> bool {
        let (reply, frames) = match ops::decide(op, body) {
            Decision::Refuse { code, close, .. } => {
                let zxid = if close { -1 } else { self.state.revision };
                let reply = if close {
                    ops::Reply::Close(zxid, code)
                } else {
                    ops::Reply::Err(zxid, code)
                };
                (reply, vec![])
            }
            Decision::Write(write_ops, _) => {
                let ctx = WriteCtx {
                    session_id: SESSION,
                    auth_ids: self.ids.clone(),
                    now_ms: 1_700_000_000_000,
                    ttl_enabled: true,
                    attached_rev: None,
                };
                let plan = Planner::new(&self.state.tree, &self.layout, &ctx).plan(&write_ops);
                let failed = match plan {
                    Plan::Commit { .. } => None,
                    Plan::Fail { index, code, .. } => Some((index, code as i32)),
                };
                self.steps.push(Step::Planned {
                    ops: write_ops.len(),
                    failed,
                });
                return true;
            }
            Decision::Other(jute::Request::Auth(a)) => (
                ops::authenticate(
                    &mut self.ids,
                    None,
                    SESSION,
                    &a.scheme,
                    a.auth.as_deref().unwrap_or_default(),
                ),
                vec![],
            ),
            Decision::Other(
                req @ (jute::Request::Sync(_)
                | jute::Request::CloseSession
                | jute::Request::Sasl(_)),
            ) => {
                self.steps.push(Step::NeedsEtcd(req.opcode().as_i32()));
                return !matches!(req, jute::Request::CloseSession | jute::Request::Sasl(_));
            }
            Decision::Other(req) => {
                let asker = Asker {
                    conn: 1,
                    session: SESSION,
                    ids: &self.ids,
                    limits: LIMITS,
                };
                asker.answer(&self.state, req)
            }
        };
        self.steps.extend(frames.into_iter().map(Step::Sent));
        let (f, keep) = ops::reply_frame(xid, reply);
        if let Some(f) = f {
            self.steps.push(Step::Sent(f));
        }
        if !keep {
            self.steps.push(Step::Closed("reply closes".into()));
        }
        keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use jute::{ErrorCode, Record, Request};

    fn stream(reqs: &[Request]) -> Vec<u8> {
        let mut out = BytesMut::new();
        let connect = jute::ConnectRequest {
            time_out: 30_000,
            passwd: Some(Bytes::from_static(&[0; 16])),
            read_only: Some(false),
            ..Default::default()
        };
        jute::frame::record(&mut out, &connect);
        for (i, r) in reqs.iter().enumerate() {
            jute::frame::request_with_xid(&mut out, i as i32 + 1, r);
        }
        out.to_vec()
    }

    /// (xid, err, body) of every reply sent, the ConnectResponse skipped.
    fn replies(steps: &[Step]) -> Vec<(i32, i32, Bytes)> {
        steps
            .iter()
            .filter_map(|s| match s {
                Step::Sent(f) => Some(f.slice(4..)),
                _ => None,
            })
            .skip(1)
            .map(|f| {
                let h = jute::ReplyHeader::decode(f.clone()).unwrap();
                (h.xid, h.err, f.slice(16..))
            })
            .collect()
    }

    fn get(path: &str, watch: bool) -> Request {
        Request::GetData(jute::GetDataRequest {
            path: path.into(),
            watch,
        })
    }

    #[test]
    fn the_harness_serves_the_seeded_tree_with_acls_and_limits() {
        let mut reqs = vec![
            get("/a", false),
            get("/locked", false),
            Request::Auth(jute::AuthPacket {
                auth_type: 0,
                scheme: "digest".into(),
                auth: Some(Bytes::from_static(b"user:pw")),
            }),
            get("/locked", false),
            Request::GetChildren(jute::GetChildrenRequest {
                path: "/a".into(),
                watch: false,
            }),
            Request::GetEphemerals(jute::GetEphemeralsRequest {
                prefix_path: "/".into(),
            }),
        ];
        // Watches up to the harness's limit of 16, then one more.
        for i in 0..17 {
            reqs.push(get(&format!("/w{i}"), true));
            reqs.push(Request::Exists(jute::ExistsRequest {
                path: format!("/w{i}"),
                watch: true,
            }));
        }
        let data = stream(&reqs);
        connection(&data);
        let r = replies(&run(&data, |_| usize::MAX));
        let data_of = |b: &Bytes| jute::GetDataResponse::decode(b.clone()).unwrap().data;
        assert_eq!(r[0].1, 0);
        assert_eq!(data_of(&r[0].2).as_deref(), Some(&b"data of a"[..]));
        assert_eq!(r[1].1, ErrorCode::NoAuth as i32);
        assert_eq!(r[2].1, 0, "auth");
        assert_eq!(data_of(&r[3].2).as_deref(), Some(&b"secret"[..]));
        let mut children = jute::GetChildrenResponse::decode(r[4].2.clone())
            .unwrap()
            .children;
        children.sort();
        assert_eq!(children, vec!["b", "eph"]);
        let eph = jute::GetEphemeralsResponse::decode(r[5].2.clone()).unwrap();
        assert_eq!(eph.ephemerals, vec!["/a/eph"]);
        let watches: Vec<i32> = r[6..].iter().map(|x| x.1).collect();
        let (fits, over) = watches.split_at(32);
        // getData on a missing node sets no watch; exists does.
        assert!(fits.chunks(2).all(|p| p == [ErrorCode::NoNode as i32; 2]));
        assert_eq!(
            over,
            [ErrorCode::NoNode as i32, ErrorCode::QuotaExceeded as i32]
        );
    }
}
