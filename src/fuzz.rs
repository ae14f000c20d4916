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
use crate::layout::Layout;
use crate::ops::{self, Asker, Decision, WatchLimits};
use crate::plan::{Plan, Planner, WriteCtx};
use crate::replica::State;
use crate::session::SessionConfig;
use crate::tree::Tree;
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
            tree: Tree::new(),
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
