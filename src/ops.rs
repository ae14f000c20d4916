//! Request handling: one decoded request in, one reply out, in order.
//!
//! Reads are answered from the replica under its read lock, which also
//! registers the watch they set, so "read + watch" is atomic with respect
//! to the change stream. Writes are queued to the `committer` without
//! waiting, so consecutive writes of a connection are pipelined (and
//! grouped with other connections' writes into one etcd transaction); any
//! other request first waits for the connection's earlier writes, so a
//! session never reads older state than its own writes. Replies leave in
//! request order through a per-connection sequencer task.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use jute::{
    AddWatchMode, Create2Response, CreateResponse, ErrorCode, ErrorResponse, EventType,
    ExistsResponse, GetAclResponse, GetAllChildrenNumberResponse, GetChildren2Response,
    GetChildrenResponse, GetDataResponse, GetEphemeralsResponse, Id, MultiOp, MultiRequest,
    MultiResponse, MultiResult, OpCode, Record, ReplyHeader, Request, SetAclResponse,
    SetDataResponse, Stat, SyncResponse, WatcherType, WhoAmIResponse,
};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, info, warn};

use crate::committer::Outcome;

use crate::acl;
use crate::conns::{frame, Outbound, Permit};
use crate::plan::{OpResult, WriteCtx, WriteOp};
use crate::replica::State;
use crate::server::Server;
use crate::session::now_ms;
use crate::watches::{kind, ConnId};
use crate::write::{WriteError, WriteOutcome};

pub struct Handler {
    server: Arc<Server>,
    conn: ConnId,
    session: i64,
    /// The session record's revision when this connection attached.
    attached_rev: i64,
    /// The connection's identities (ip, digest, ...), a set.
    auth_ids: Vec<Id>,
    /// Replies in request order, to the sequencer.
    slots: mpsc::UnboundedSender<Slot>,
    /// Writes handed to the committer so far, and how many have finished.
    submitted: u64,
    finished: watch::Receiver<u64>,
    /// Set by the sequencer once the connection is closing.
    closing: Arc<std::sync::atomic::AtomicBool>,
}

/// How a pipelined write's outcome becomes its reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteKind {
    Single,
    Multi(usize),
}

/// One reply position in the connection's order.
enum Slot {
    /// Notifications that must leave in this position (SetWatches').
    Frames(Vec<Bytes>),
    /// A reply, and the outstanding-request slot its writing releases.
    Ready(i32, Reply, Permit),
    Write(i32, WriteKind, oneshot::Receiver<Outcome>, Permit),
}

/// A reply body writer.
type Body = Box<dyn Fn(&mut BytesMut) + Send>;

fn body<R: Record + Send + 'static>(r: R) -> Option<Body> {
    Some(Box::new(move |out: &mut BytesMut| r.write(out)))
}

pub(crate) enum Reply {
    /// Header err 0 with an optional body, stamped with `zxid`.
    Ok(i64, Option<Body>),
    /// Header-only error.
    Err(i64, ErrorCode),
    /// An error that ZooKeeper sends with a body anyway.
    ErrBody(i64, ErrorCode, Option<Body>),
    /// Reply, then close the connection.
    Close(i64, ErrorCode),
    /// Close without replying.
    Drop,
}

impl Handler {
    pub fn new(
        server: Arc<Server>,
        conn: ConnId,
        session: i64,
        attached_rev: i64,
        peer: SocketAddr,
        tx: Outbound,
    ) -> Handler {
        let ip = Id {
            scheme: "ip".into(),
            id: peer.ip().to_string(),
        };
        let (slots, slots_rx) = mpsc::unbounded_channel();
        let (finished_tx, finished) = watch::channel(0u64);
        let closing = Arc::new(std::sync::atomic::AtomicBool::new(false));
        tokio::spawn(sequence(
            slots_rx,
            tx.clone(),
            finished_tx,
            closing.clone(),
            session,
        ));
        Handler {
            server,
            conn,
            session,
            attached_rev,
            auth_ids: vec![ip],
            slots,
            submitted: 0,
            finished,
            closing,
        }
    }

    /// Called when the connection's pipeline ends: outstanding writes
    /// still complete (their effects are committed) before the socket goes.
    pub fn finish(&mut self) {}

    fn send(&self, xid: i32, reply: Reply, permit: Permit) -> bool {
        let keep = !matches!(reply, Reply::Close(..) | Reply::Drop);
        let _ = self.slots.send(Slot::Ready(xid, reply, permit));
        keep && !self.closing.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Waits until every write this connection submitted has finished, so
    /// what follows observes them.
    async fn wait_writes(&mut self) {
        let target = self.submitted;
        let _ = self.finished.wait_for(|n| *n >= target).await;
    }

    /// Handles one request; false when the connection must close. The
    /// permit travels with the reply and is released once it is written.
    pub async fn handle(&mut self, xid: i32, op: i32, body: Bytes, permit: Permit) -> bool {
        let req = match decide(op, body) {
            Decision::Refuse { code, close, error } => {
                let zxid = self.server.replica.revision();
                info!(session = format_args!("0x{:x}", self.session), op, error = ?error, "undecodable request");
                let reply = if close {
                    // ZooKeeper's UnimplementedRequestProcessor stamps -1.
                    Reply::Close(-1, code)
                } else {
                    Reply::Err(zxid, code)
                };
                return self.send(xid, reply, permit);
            }
            Decision::Write(ops, kind) => {
                if !self.server.sessions.touch(self.session) {
                    // Expired or moved to another instance: ZooKeeper closes.
                    return self.send(xid, Reply::Drop, permit);
                }
                if self.server.config.group_commit {
                    // Pipelined: the committer groups it with other writes.
                    let rx = self.server.committer.submit(ops, self.ctx());
                    self.submitted += 1;
                    let _ = self.slots.send(Slot::Write(xid, kind, rx, permit));
                    return !self.closing.load(std::sync::atomic::Ordering::Relaxed);
                }
                // One etcd transaction per write, in request order: every
                // write gets its own zxid, exactly as in ZooKeeper.
                let outcome = self
                    .server
                    .writer
                    .write_batch(&[(ops, self.ctx())])
                    .await
                    .pop()
                    .expect("one outcome per write");
                let reply = write_reply(kind, outcome, self.session);
                return self.send(xid, reply, permit);
            }
            Decision::Other(req) => req,
        };
        if !self.server.sessions.touch(self.session) {
            return self.send(xid, Reply::Drop, permit);
        }
        self.wait_writes().await;
        let reply = self.dispatch(xid, req).await;
        self.send(xid, reply, permit)
    }
}

/// How a request is served, decided from its opcode and bytes alone.
#[derive(Debug)]
pub enum Decision {
    /// The body does not decode: reply with `code`, then close if `close`.
    Refuse {
        code: ErrorCode,
        close: bool,
        error: jute::DecodeError,
    },
    /// A write: the planner's ops, and how its outcome becomes the reply.
    Write(Vec<WriteOp>, WriteKind),
    /// Anything else.
    Other(Request),
}

/// Decodes a request and sorts it into write or not: the first step of
/// [`Handler::handle`], pure so the fuzzer runs it too.
pub fn decide(op: i32, body: Bytes) -> Decision {
    match Request::decode(op, body) {
        Err(error) => {
            let (code, close) = crate::conn::decode_failure(&error);
            let code = ErrorCode::try_from(code).unwrap_or(ErrorCode::MarshallingError);
            Decision::Refuse { code, close, error }
        }
        Ok(req) => match write_request(req) {
            Ok((ops, kind)) => Decision::Write(ops, kind),
            Err(req) => Decision::Other(*req),
        },
    }
}

/// The ops of a write request and how to shape its reply; the request
/// back if it is not a well-formed write.
fn write_request(req: Request) -> Result<(Vec<WriteOp>, WriteKind), Box<Request>> {
    let single = |op: WriteOp| (vec![op], WriteKind::Single);
    let (ops, kind) = match req {
        Request::Create(r) => single(WriteOp::create(OpCode::Create, r)),
        Request::Create2(r) => single(WriteOp::create(OpCode::Create2, r)),
        Request::CreateContainer(r) => single(WriteOp::create(OpCode::CreateContainer, r)),
        Request::CreateTtl(r) => single(r.into()),
        Request::Delete(r) => single(r.into()),
        Request::DeleteContainer(r) => single(WriteOp::DeleteContainer {
            path: String::from_utf8_lossy(&r.path.unwrap_or_default()).into_owned(),
        }),
        Request::SetData(r) => single(r.into()),
        Request::SetAcl(r) => single(r.into()),
        Request::Multi(m) => match multi_ops(&m) {
            Some(ops) if !ops.is_empty() => {
                let n = ops.len();
                (ops, WriteKind::Multi(n))
            }
            _ => return Err(Box::new(Request::Multi(m))),
        },
        other => return Err(Box::new(other)),
    };
    Ok((ops, kind))
}

impl Handler {
    fn ctx(&self) -> WriteCtx {
        WriteCtx {
            session_id: self.session,
            attached_rev: Some(self.attached_rev),
            auth_ids: self.auth_ids.clone(),
            now_ms: now_ms(),
            ttl_enabled: self.server.config.extended_types,
        }
    }

    async fn dispatch(&mut self, xid: i32, req: Request) -> Reply {
        match req {
            Request::Sync(r) => match self.server.catch_up().await {
                Ok(z) => Reply::Ok(z, body(SyncResponse { path: r.path })),
                Err(e) => {
                    warn!(error = %e, "sync could not reach etcd; closing");
                    Reply::Drop
                }
            },
            Request::Auth(a) => {
                let super_digest = self.server.super_digest();
                let r = authenticate(
                    &mut self.auth_ids,
                    super_digest.as_deref(),
                    self.session,
                    &a.scheme,
                    a.auth.as_deref().unwrap_or_default(),
                );
                self.server.conns.set_ids(self.conn, self.auth_ids.clone());
                r
            }
            Request::Sasl(_) => {
                info!(
                    session = format_args!("0x{:x}", self.session),
                    "SASL is not enabled on this server"
                );
                Reply::Close(0, ErrorCode::AuthFailed)
            }
            Request::CloseSession => match self.server.sessions.close(self.session).await {
                Ok(zxid) => Reply::Close(zxid, ErrorCode::Ok),
                Err(e) => {
                    warn!(error = %e, "closeSession failed; the session will expire");
                    Reply::Drop
                }
            },
            other => {
                let asker = Asker {
                    conn: self.conn,
                    session: self.session,
                    ids: &self.auth_ids,
                    limits: self.server.config.watch_limits,
                };
                let (reply, frames) = {
                    let st = self.server.replica.read();
                    asker.answer(&st, other)
                };
                if !frames.is_empty() {
                    let _ = self.slots.send(Slot::Frames(frames));
                }
                reply
            }
        }
        .tap_log(xid)
    }
}

/// An auth packet: adds the identity it proves to `ids` (and super, when
/// it is the super digest). Pure, for the fuzzer too.
pub(crate) fn authenticate(
    ids: &mut Vec<Id>,
    super_digest: Option<&str>,
    session: i64,
    scheme: &str,
    auth: &[u8],
) -> Reply {
    match scheme {
        "digest" => {
            let text = String::from_utf8_lossy(auth);
            let id = Id {
                scheme: "digest".into(),
                id: acl::digest_id(&text),
            };
            if super_digest == Some(id.id.as_str()) {
                let s = acl::super_id();
                if !ids.contains(&s) {
                    ids.push(s);
                }
            }
            if !ids.contains(&id) {
                ids.push(id);
            }
            Reply::Ok(0, None)
        }
        "ip" => Reply::Ok(0, None),
        other => {
            info!(
                session = format_args!("0x{session:x}"),
                scheme = other,
                "auth with an unsupported scheme; closing"
            );
            Reply::Close(0, ErrorCode::AuthFailed)
        }
    }
}

/// How many watches one session (its connection) may hold: ZooKeeper has
/// no limit; zoe bounds the memory a client can make it spend on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchLimits {
    /// Distinct watched paths.
    pub max_watches: usize,
    /// Sum of the lengths of those paths.
    pub max_watch_bytes: usize,
}

/// The connection a request answered from the replica alone comes from.
pub struct Asker<'a> {
    pub conn: ConnId,
    pub session: i64,
    /// Its identities (ip, digest, ...).
    pub ids: &'a [Id],
    pub limits: WatchLimits,
}

impl Asker<'_> {
    /// Answers a request that needs nothing but the replica's state (no
    /// etcd, no change to the connection's identities): every read, the
    /// watch requests, and the requests refused outright. Also returns the
    /// notifications that must precede the reply (SetWatches').
    ///
    /// Writes are planned and committed elsewhere; sync, auth, sasl and
    /// closeSession are the handler's. Given one of those, this refuses it
    /// as ZooKeeper refuses a request it cannot process.
    pub(crate) fn answer(&self, st: &State, req: Request) -> (Reply, Vec<Bytes>) {
        let reply = match req {
            Request::Exists(r) => self.exists(st, &r.path, r.watch),
            Request::GetData(r) => self.get_data(st, &r.path, r.watch),
            Request::GetChildren(r) => self.get_children(st, &r.path, r.watch, false),
            Request::GetChildren2(r) => self.get_children(st, &r.path, r.watch, true),
            Request::GetAcl(r) => self.get_acl(st, &r.path),
            Request::GetAllChildrenNumber(r) => {
                let path = node_path(&r.path);
                match st.tree.get(path) {
                    None => Reply::Err(st.revision, ErrorCode::NoNode),
                    Some(e) if !acl::allowed(&e.acl(path), jute::perms::READ, self.ids) => {
                        Reply::Err(st.revision, ErrorCode::NoAuth)
                    }
                    Some(_) => Reply::Ok(
                        st.revision,
                        body(GetAllChildrenNumberResponse {
                            // ZooKeeper's node table holds the root under
                            // both "" and "/", and counts the latter as a
                            // descendant of "".
                            total_number: st.tree.descendants(path) as i32
                                + i32::from(r.path.is_empty()),
                        }),
                    ),
                }
            }
            Request::GetEphemerals(r) => {
                let prefix = r.prefix_path.trim();
                let all = prefix.is_empty() || prefix == "/";
                let ephemerals = st
                    .tree
                    .ephemerals_in_zookeeper_order(self.session)
                    .into_iter()
                    .filter(|p| all || p.starts_with(prefix))
                    .collect();
                Reply::Ok(st.revision, body(GetEphemeralsResponse { ephemerals }))
            }
            Request::Multi(m) => self.multi(st, &m),
            Request::MultiRead(m) => self.multi_read(st, &m),
            Request::Check(_) => {
                // Only valid inside a multi since 3.5.
                Reply::Close(-1, ErrorCode::Unimplemented)
            }
            Request::Reconfig(_) => Reply::Err(st.revision, ErrorCode::ReconfigDisabled),
            Request::SetWatches(w) => {
                return self.set_watches(
                    st,
                    w.relative_zxid,
                    &w.data_watches,
                    &w.exist_watches,
                    &w.child_watches,
                    &[],
                    &[],
                )
            }
            Request::SetWatches2(w) => {
                return self.set_watches(
                    st,
                    w.relative_zxid,
                    &w.data_watches,
                    &w.exist_watches,
                    &w.child_watches,
                    &w.persistent_watches,
                    &w.persistent_recursive_watches,
                )
            }
            Request::AddWatch(w) => {
                let k = match AddWatchMode::try_from(w.mode) {
                    Ok(AddWatchMode::Persistent) => kind::PERSISTENT,
                    Ok(AddWatchMode::PersistentRecursive) => kind::RECURSIVE,
                    Err(_) => {
                        return (Reply::Err(st.revision, ErrorCode::MarshallingError), vec![])
                    }
                };
                if self.watch(st, &[&w.path], k) {
                    Reply::Ok(st.revision, body(ErrorResponse { err: 0 }))
                } else {
                    Reply::Err(st.revision, ErrorCode::QuotaExceeded)
                }
            }
            Request::CheckWatches(w) => self.check_watches(st, &w.path, w.watch_type, false),
            Request::RemoveWatches(w) => self.check_watches(st, &w.path, w.watch_type, true),
            Request::WhoAmI => {
                let client_info = self
                    .ids
                    .iter()
                    .map(|id| jute::ClientInfo {
                        auth_scheme: id.scheme.clone(),
                        user: match id.scheme.as_str() {
                            "digest" => id.id.split(':').next().unwrap_or("").to_string(),
                            _ => id.id.clone(),
                        },
                    })
                    .collect();
                Reply::Ok(st.revision, body(WhoAmIResponse { client_info }))
            }
            Request::Ping => Reply::Ok(st.revision, None),
            other => {
                // Not a request this answers (see above); the handler never
                // passes one, the fuzzer may.
                debug!(op = ?other.opcode(), "request not answerable from the replica");
                Reply::Close(-1, ErrorCode::Unimplemented)
            }
        };
        (reply, vec![])
    }

    /// Registers `k` watches on `paths` if the connection stays within its
    /// limits; false (nothing registered) otherwise.
    fn watch(&self, st: &State, paths: &[&str], k: u8) -> bool {
        let mut w = st.watches.lock();
        if !w.room(self.conn, paths.iter().copied(), self.limits) {
            self.over_limit(paths.len());
            return false;
        }
        for p in paths {
            w.add(self.conn, p, k);
        }
        true
    }

    fn over_limit(&self, asked: usize) {
        warn!(
            session = format_args!("0x{:x}", self.session),
            asked,
            max_watches = self.limits.max_watches,
            max_watch_bytes = self.limits.max_watch_bytes,
            "watch limit reached; refusing with QUOTAEXCEEDED"
        );
    }

    fn exists(&self, st: &State, path: &str, watch: bool) -> Reply {
        if path.contains('\0') {
            return Reply::Err(st.revision, ErrorCode::BadArguments);
        }
        if let Some(e) = st.tree.get(path) {
            if !acl::allowed(&e.acl(node_path(path)), jute::perms::READ, self.ids) {
                return Reply::Err(st.revision, ErrorCode::NoAuth);
            }
        }
        if watch && !self.watch(st, &[path], kind::DATA) {
            return Reply::Err(st.revision, ErrorCode::QuotaExceeded);
        }
        match st.tree.get(node_path(path)) {
            Some(e) => Reply::Ok(
                st.revision,
                body(ExistsResponse {
                    stat: e.stat(node_path(path)),
                }),
            ),
            None => Reply::Err(st.revision, ErrorCode::NoNode),
        }
    }

    fn get_data(&self, st: &State, path: &str, watch: bool) -> Reply {
        match st.tree.get(node_path(path)) {
            Some(e) => {
                if !acl::allowed(&e.acl(node_path(path)), jute::perms::READ, self.ids) {
                    return Reply::Err(st.revision, ErrorCode::NoAuth);
                }
                if watch && !self.watch(st, &[path], kind::DATA) {
                    return Reply::Err(st.revision, ErrorCode::QuotaExceeded);
                }
                Reply::Ok(
                    st.revision,
                    body(GetDataResponse {
                        data: e.data(),
                        stat: e.stat(node_path(path)),
                    }),
                )
            }
            None => Reply::Err(st.revision, ErrorCode::NoNode),
        }
    }

    fn get_children(&self, st: &State, path: &str, watch: bool, with_stat: bool) -> Reply {
        match st.tree.get(node_path(path)) {
            Some(e) => {
                if !acl::allowed(&e.acl(node_path(path)), jute::perms::READ, self.ids) {
                    return Reply::Err(st.revision, ErrorCode::NoAuth);
                }
                if watch && !self.watch(st, &[path], kind::CHILD) {
                    return Reply::Err(st.revision, ErrorCode::QuotaExceeded);
                }
                let children: Vec<String> = e.children.iter().map(|c| c.to_string()).collect();
                if with_stat {
                    Reply::Ok(
                        st.revision,
                        body(GetChildren2Response {
                            children,
                            stat: e.stat(node_path(path)),
                        }),
                    )
                } else {
                    Reply::Ok(st.revision, body(GetChildrenResponse { children }))
                }
            }
            None => Reply::Err(st.revision, ErrorCode::NoNode),
        }
    }

    fn get_acl(&self, st: &State, path: &str) -> Reply {
        let path = node_path(path);
        let Some(e) = st.tree.get(path) else {
            return Reply::Err(st.revision, ErrorCode::NoNode);
        };
        let acl = e.acl(node_path(path));
        if !acl::allowed(&acl, jute::perms::READ | jute::perms::ADMIN, self.ids) {
            return Reply::Err(st.revision, ErrorCode::NoAuth);
        }
        let acl = if acl::allowed(&acl, jute::perms::ADMIN, self.ids) {
            acl
        } else {
            acl::mask_digests(acl)
        };
        Reply::Ok(
            st.revision,
            body(GetAclResponse {
                acl,
                stat: e.stat(node_path(path)),
            }),
        )
    }

    fn multi_read(&self, st: &State, m: &MultiRequest) -> Reply {
        let mut results = Vec::with_capacity(m.ops.len());
        let readable =
            |e: &crate::tree::Entry, p: &str| acl::allowed(&e.acl(p), jute::perms::READ, self.ids);
        for op in &m.ops {
            let r = match op {
                MultiOp::GetData(g) => match st.tree.get(&g.path) {
                    Some(e) if !readable(e, &g.path) => {
                        MultiResult::Error(ErrorCode::NoAuth as i32)
                    }
                    Some(e) => MultiResult::GetData {
                        data: e.data(),
                        stat: e.stat(&g.path),
                    },
                    None => MultiResult::Error(ErrorCode::NoNode as i32),
                },
                MultiOp::GetChildren(g) => match st.tree.get(&g.path) {
                    Some(e) if !readable(e, &g.path) => {
                        MultiResult::Error(ErrorCode::NoAuth as i32)
                    }
                    Some(e) => MultiResult::GetChildren {
                        children: e.children.iter().map(|c| c.to_string()).collect(),
                    },
                    None => MultiResult::Error(ErrorCode::NoNode as i32),
                },
                // ZooKeeper fails the request with MARSHALLINGERROR; when no
                // op is a read it still sends an (empty) multi response.
                _ if m.ops.iter().all(|o| !o.is_read()) => {
                    return Reply::ErrBody(
                        st.revision,
                        ErrorCode::MarshallingError,
                        body(MultiResponse { results: vec![] }),
                    )
                }
                _ => return Reply::Err(st.revision, ErrorCode::MarshallingError),
            };
            results.push(r);
        }
        Reply::Ok(st.revision, body(MultiResponse { results }))
    }

    /// A multi that was not pipelined: empty, or mixing reads into a write
    /// multi (MARSHALLINGERROR, as ZooKeeper).
    fn multi(&self, st: &State, m: &MultiRequest) -> Reply {
        let zxid = st.revision;
        if m.ops.is_empty() {
            Reply::Ok(zxid, body(MultiResponse { results: vec![] }))
        } else {
            Reply::Err(zxid, ErrorCode::MarshallingError)
        }
    }

    fn check_watches(&self, st: &State, path: &str, watch_type: i32, remove: bool) -> Reply {
        let bits = match WatcherType::try_from(watch_type) {
            Ok(WatcherType::Children) => kind::CHILD,
            Ok(WatcherType::Data) => kind::DATA,
            Ok(WatcherType::Persistent) => kind::PERSISTENT,
            Ok(WatcherType::PersistentRecursive) => kind::RECURSIVE,
            Ok(WatcherType::Any) => kind::DATA | kind::CHILD | kind::PERSISTENT | kind::RECURSIVE,
            Err(_) => return Reply::Err(st.revision, ErrorCode::MarshallingError),
        };
        let mut w = st.watches.lock();
        let found = if remove {
            w.remove(self.conn, path, bits)
        } else {
            w.flags(self.conn, path) & bits
        };
        if found == 0 {
            Reply::Err(st.revision, ErrorCode::NoWatcher)
        } else {
            Reply::Ok(st.revision, None)
        }
    }

    /// SetWatches after a reconnect: fire what changed since
    /// `relative_zxid`, register the rest. All or nothing: when the
    /// registrations would pass the connection's watch limits, none is
    /// made, no event is sent, and the reply is QUOTAEXCEEDED.
    #[allow(clippy::too_many_arguments)]
    fn set_watches(
        &self,
        st: &State,
        relative_zxid: i64,
        data: &[String],
        exist: &[String],
        child: &[String],
        persistent: &[String],
        recursive: &[String],
    ) -> (Reply, Vec<Bytes>) {
        let mut events: Vec<(EventType, &str)> = Vec::new();
        let mut register: Vec<(&str, u8)> = Vec::new();
        for p in data {
            match st.tree.get(p) {
                None => events.push((EventType::NodeDeleted, p)),
                Some(e) if e.stat(p).mzxid > relative_zxid => {
                    events.push((EventType::NodeDataChanged, p))
                }
                Some(_) => register.push((p, kind::DATA)),
            }
        }
        for p in exist {
            match st.tree.get(p) {
                None => register.push((p, kind::DATA)),
                Some(_) => events.push((EventType::NodeCreated, p)),
            }
        }
        for p in child {
            match st.tree.get(p) {
                None => events.push((EventType::NodeDeleted, p)),
                Some(e) if e.stat(p).pzxid > relative_zxid => {
                    events.push((EventType::NodeChildrenChanged, p))
                }
                Some(_) => register.push((p, kind::CHILD)),
            }
        }
        register.extend(persistent.iter().map(|p| (p.as_str(), kind::PERSISTENT)));
        register.extend(recursive.iter().map(|p| (p.as_str(), kind::RECURSIVE)));
        let mut w = st.watches.lock();
        if !w.room(self.conn, register.iter().map(|(p, _)| *p), self.limits) {
            self.over_limit(register.len());
            return (Reply::Err(st.revision, ErrorCode::QuotaExceeded), vec![]);
        }
        for (p, k) in register {
            w.add(self.conn, p, k);
        }
        // Synthesised events go out after the replies to earlier requests
        // and before this one's, as in ZooKeeper.
        let header = ReplyHeader {
            xid: jute::xid::NOTIFICATION,
            zxid: -1,
            err: 0,
        };
        let frames = events
            .into_iter()
            .map(|(t, p)| {
                let ev = jute::WatcherEvent {
                    event_type: t as i32,
                    state: jute::KeeperState::SyncConnected as i32,
                    path: p.to_string(),
                };
                frame(&header, Some(&|out: &mut BytesMut| ev.write(out)))
            })
            .collect();
        (Reply::Ok(st.revision, None), frames)
    }
}

/// The write ops of a multi; `None` if it holds a read op.
fn multi_ops(m: &MultiRequest) -> Option<Vec<WriteOp>> {
    m.ops
        .iter()
        .map(|op| {
            if let MultiOp::Create(r) | MultiOp::Create2(r) | MultiOp::CreateContainer(r) = op {
                // ZooKeeper refuses the whole multi when it cannot even
                // build the op: an unknown or TTL create mode.
                match jute::CreateMode::from_flags(r.flags) {
                    // ZooKeeper rebuilds each create of a multi from its
                    // flags: a container mode makes it a createContainer
                    // whatever the opcode said (and its result a create2).
                    Some(m) if m.is_container() => {
                        return Some(WriteOp::create(OpCode::CreateContainer, r.clone()))
                    }
                    Some(m) if !m.is_ttl() => {}
                    _ => return None,
                }
            }
            Some(match op.clone() {
                MultiOp::Create(r) => WriteOp::create(OpCode::Create, r),
                MultiOp::Create2(r) => WriteOp::create(OpCode::Create2, r),
                MultiOp::CreateContainer(r) => WriteOp::create(OpCode::CreateContainer, r),
                MultiOp::CreateTtl(r) => r.into(),
                MultiOp::Delete(r) => r.into(),
                MultiOp::SetData(r) => r.into(),
                MultiOp::Check(r) => r.into(),
                MultiOp::GetData(_) | MultiOp::GetChildren(_) => return None,
            })
        })
        .collect()
}

/// The reply to a committed (or refused) write.
fn write_reply(kind: WriteKind, outcome: Outcome, session: i64) -> Reply {
    match (kind, outcome) {
        (
            _,
            Ok(WriteOutcome::Failed {
                zxid,
                code: code @ (ErrorCode::SessionMoved | ErrorCode::SessionExpired),
                ..
            }),
        ) => {
            // The session went on elsewhere (or ended) after this
            // connection sent the write: it was not applied, and this
            // connection has nothing more to do.
            info!(
                session = format_args!("0x{session:x}"),
                ?code,
                "write from a connection the session left; closing"
            );
            Reply::Close(zxid, code)
        }
        (WriteKind::Single, Ok(WriteOutcome::Done { zxid, mut results })) => {
            let b = match results.pop() {
                Some(OpResult::Create { path }) => body(CreateResponse { path }),
                Some(OpResult::Create2 { path, stat }) => body(Create2Response { path, stat }),
                Some(OpResult::SetData { stat }) => body(SetDataResponse { stat }),
                Some(OpResult::SetAcl { stat }) => body(SetAclResponse { stat }),
                Some(OpResult::Delete) | Some(OpResult::Check) | None => None,
            };
            Reply::Ok(zxid, b)
        }
        (WriteKind::Single, Ok(WriteOutcome::Failed { zxid, code, .. })) => Reply::Err(zxid, code),
        (WriteKind::Multi(_), Ok(WriteOutcome::Done { zxid, results })) => {
            let results = results.into_iter().map(multi_result).collect();
            Reply::Ok(zxid, body(MultiResponse { results }))
        }
        (WriteKind::Multi(n), Ok(WriteOutcome::Failed { zxid, index, code })) => {
            // Header OK; earlier ops OK, the failing op its code, later
            // ops RUNTIMEINCONSISTENCY — what every client expects.
            let results = (0..n)
                .map(|i| {
                    MultiResult::Error(if i < index {
                        0
                    } else if i == index {
                        code as i32
                    } else {
                        ErrorCode::RuntimeInconsistency as i32
                    })
                })
                .collect();
            Reply::Ok(zxid, body(MultiResponse { results }))
        }
        (_, Err(e)) => {
            // etcd could not take the write: the client sees a connection
            // loss, as with a ZooKeeper server without quorum, and retries.
            warn!(session = format_args!("0x{session:x}"), error = %e, "write failed; closing the connection");
            Reply::Drop
        }
    }
}

/// Sends replies in request order, awaiting pipelined writes in turn.
async fn sequence(
    mut slots: mpsc::UnboundedReceiver<Slot>,
    tx: Outbound,
    finished: watch::Sender<u64>,
    closing: Arc<std::sync::atomic::AtomicBool>,
    session: i64,
) {
    let mut done = 0u64;
    while let Some(slot) = slots.recv().await {
        let (xid, reply, permit) = match slot {
            Slot::Frames(frames) => {
                if !closing.load(std::sync::atomic::Ordering::Relaxed) {
                    for f in frames {
                        tx.frame(f);
                    }
                }
                continue;
            }
            Slot::Ready(xid, reply, permit) => (xid, reply, permit),
            Slot::Write(xid, kind, rx, permit) => {
                let outcome = rx
                    .await
                    .unwrap_or_else(|_| Err(Arc::new(WriteError::Abandoned)));
                done += 1;
                finished.send_replace(done);
                (xid, write_reply(kind, outcome, session), permit)
            }
        };
        if closing.load(std::sync::atomic::Ordering::Relaxed) {
            continue;
        }
        let (f, keep) = reply_frame(xid, reply);
        if let Some(f) = f {
            tx.reply(f, permit);
        }
        if !keep {
            closing.store(true, std::sync::atomic::Ordering::Relaxed);
            tx.close();
        }
    }
}

/// The frame of a reply (none for a silent close), and whether the
/// connection stays open after it.
pub(crate) fn reply_frame(xid: i32, reply: Reply) -> (Option<Bytes>, bool) {
    let (zxid, err, b, keep) = match reply {
        Reply::Ok(z, b) => (z, 0, b, true),
        Reply::Err(z, e) => (z, e as i32, None, true),
        Reply::ErrBody(z, e, b) => (z, e as i32, b, true),
        Reply::Close(z, e) => (z, e as i32, None, false),
        Reply::Drop => return (None, false),
    };
    let header = ReplyHeader { xid, zxid, err };
    let f = match &b {
        Some(w) => frame(&header, Some(&|out: &mut BytesMut| w(out))),
        None => frame(&header, None),
    };
    (Some(f), keep)
}

/// ZooKeeper's node table maps the empty path to the root, so reads of
/// `""` serve `/` (the watch, if any, stays on `""`).
fn node_path(path: &str) -> &str {
    if path.is_empty() {
        "/"
    } else {
        path
    }
}

fn multi_result(r: OpResult) -> MultiResult {
    match r {
        OpResult::Create { path } => MultiResult::Create { path },
        OpResult::Create2 { path, stat } => MultiResult::Create2 { path, stat },
        OpResult::Delete => MultiResult::Delete,
        OpResult::SetData { stat } => MultiResult::SetData { stat },
        OpResult::Check => MultiResult::Check,
        OpResult::SetAcl { stat } => MultiResult::SetData { stat },
    }
}

trait TapLog {
    fn tap_log(self, xid: i32) -> Self;
}

impl TapLog for Reply {
    fn tap_log(self, xid: i32) -> Self {
        if let Reply::Err(_, code) = &self {
            debug!(xid, ?code, "request failed");
        }
        self
    }
}

#[allow(dead_code)]
fn _unused(_: Stat, _: Duration) {}
