//! A recording client: one ZooKeeper session over the wire-protocol test
//! client (`support/zk_client.rs`), one request at a time, which moves to
//! another server whenever its connection breaks — resuming the same
//! session by id and password with its lastZxidSeen, as every ZooKeeper
//! client does — and records each request's invocation and completion.
//!
//! Outcomes: a reply with err 0 is `Ok`; NONODE, NODEEXISTS, BADVERSION and
//! NOTEMPTY are definite failures; anything else (no reply before the
//! request timeout, the connection closing, any other error code) leaves
//! the outcome unknown.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use jute::{
    CheckVersionRequest, CreateRequest, DeleteRequest, ExistsRequest, GetChildrenRequest,
    GetDataRequest, MultiOp, MultiRequest, MultiResult, Request, Response, SetDataRequest,
    SyncRequest,
};

use super::checker::{History, Op};
use super::model::{Call, Outcome, Ret, Stat, DEFINITE_FAILURES, NO_NODE};
use super::zk_client::{ConnectOpts, Handshake, Outcome as Wire, ZkConn};

/// Collects the history of all clients, with a common clock.
pub struct Recorder {
    start: Instant,
    ops: Mutex<Vec<Op>>,
    notes: Mutex<Vec<(u64, String)>>,
}

impl Recorder {
    pub fn new() -> Arc<Recorder> {
        Arc::new(Recorder {
            start: Instant::now(),
            ops: Mutex::new(Vec::new()),
            notes: Mutex::new(Vec::new()),
        })
    }

    pub fn now(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    pub fn note(&self, text: impl Into<String>) {
        let t = self.now();
        self.notes.lock().unwrap().push((t, text.into()));
    }

    fn push(&self, mut op: Op) {
        let mut ops = self.ops.lock().unwrap();
        op.id = ops.len();
        ops.push(op);
    }

    pub fn len(&self) -> usize {
        self.ops.lock().unwrap().len()
    }

    /// Takes the recorded history (the recorder is empty afterwards).
    pub fn take(&self) -> History {
        History {
            ops: std::mem::take(&mut *self.ops.lock().unwrap()),
            notes: std::mem::take(&mut *self.notes.lock().unwrap()),
        }
    }
}

#[derive(Default, Debug, Clone, Copy)]
pub struct ClientStats {
    pub reconnects: u64,
    pub moves: u64,
    pub expired: u64,
}

pub struct Client {
    pub id: usize,
    addrs: Vec<String>,
    rec: Arc<Recorder>,
    conn: Option<ZkConn>,
    server: usize,
    session: i64,
    passwd: Vec<u8>,
    last_zxid: i64,
    op_timeout: Duration,
    session_timeout_ms: i32,
    pub stats: ClientStats,
    stop: Arc<AtomicBool>,
}

fn to_request(call: &Call) -> Request {
    let b = |d: &[u8]| Some(Bytes::copy_from_slice(d));
    match call {
        Call::Create {
            path,
            data,
            sequential,
        } => Request::Create(CreateRequest {
            path: path.clone(),
            data: b(data),
            acl: jute::Acl::open_acl_unsafe(),
            flags: if *sequential { 2 } else { 0 },
        }),
        Call::Delete { path, version } => Request::Delete(DeleteRequest {
            path: path.clone(),
            version: *version,
        }),
        Call::SetData {
            path,
            data,
            version,
        } => Request::SetData(SetDataRequest {
            path: path.clone(),
            data: b(data),
            version: *version,
        }),
        Call::Multi(ops) => Request::Multi(MultiRequest {
            ops: ops.iter().map(multi_op).collect(),
        }),
        Call::Check { .. } => panic!("check travels only inside a multi"),
        Call::GetData { path } => Request::GetData(GetDataRequest {
            path: path.clone(),
            watch: false,
        }),
        Call::Exists { path } => Request::Exists(ExistsRequest {
            path: path.clone(),
            watch: false,
        }),
        Call::GetChildren { path } => Request::GetChildren(GetChildrenRequest {
            path: path.clone(),
            watch: false,
        }),
    }
}

fn multi_op(call: &Call) -> MultiOp {
    match (call, to_request_single(call)) {
        (Call::Check { path, version }, _) => MultiOp::Check(CheckVersionRequest {
            path: path.clone(),
            version: *version,
        }),
        (_, Some(Request::Create(r))) => MultiOp::Create(r),
        (_, Some(Request::Delete(r))) => MultiOp::Delete(r),
        (_, Some(Request::SetData(r))) => MultiOp::SetData(r),
        _ => panic!("not a multi op: {call}"),
    }
}

fn to_request_single(call: &Call) -> Option<Request> {
    match call {
        Call::Multi(_) | Call::Check { .. } => None,
        c => Some(to_request(c)),
    }
}

fn multi_ret(r: &MultiResult) -> Option<Ret> {
    Some(match r {
        MultiResult::Create { path } => Ret::Created(path.clone()),
        MultiResult::Create2 { path, .. } => Ret::Created(path.clone()),
        MultiResult::Delete => Ret::Deleted,
        MultiResult::SetData { stat } => Ret::Set(Stat::from(stat)),
        MultiResult::Check => Ret::Checked,
        _ => return None,
    })
}

/// Interprets a reply: the outcome, and the code of a reply that did not
/// settle it.
fn interpret(call: &Call, err: i32, body: &Result<Response, String>) -> (Outcome, Option<i32>) {
    if err != 0 {
        if matches!(call, Call::Exists { .. }) && err == NO_NODE {
            return (Outcome::Ok(Ret::Exists(None)), None);
        }
        if DEFINITE_FAILURES.contains(&err) {
            return (
                Outcome::Fail {
                    code: err,
                    index: None,
                },
                None,
            );
        }
        return (Outcome::Unknown, Some(err));
    }
    let ret = match (call, body) {
        (Call::Create { .. }, Ok(Response::Create(r))) => Ret::Created(r.path.clone()),
        (Call::Delete { .. }, Ok(Response::Empty)) => Ret::Deleted,
        (Call::SetData { .. }, Ok(Response::SetData(r))) => Ret::Set(Stat::from(&r.stat)),
        (Call::GetData { .. }, Ok(Response::GetData(r))) => Ret::Data(
            r.data.as_deref().unwrap_or_default().to_vec(),
            Stat::from(&r.stat),
        ),
        (Call::Exists { .. }, Ok(Response::Exists(r))) => Ret::Exists(Some(Stat::from(&r.stat))),
        (Call::GetChildren { .. }, Ok(Response::GetChildren(r))) => {
            let mut c = r.children.clone();
            c.sort();
            Ret::Children(c)
        }
        (Call::Multi(_), Ok(Response::Multi(m))) => {
            let failed = m
                .results
                .iter()
                .position(|r| matches!(r, MultiResult::Error(c) if *c != 0 && *c != -2));
            if let Some(i) = failed {
                let MultiResult::Error(code) = m.results[i] else {
                    unreachable!()
                };
                if DEFINITE_FAILURES.contains(&code) {
                    return (
                        Outcome::Fail {
                            code,
                            index: Some(i),
                        },
                        None,
                    );
                }
                return (Outcome::Unknown, Some(code));
            }
            match m.results.iter().map(multi_ret).collect::<Option<Vec<_>>>() {
                Some(rs) => Ret::Multi(rs),
                // An impossible reply: flagged as an odd code.
                None => return (Outcome::Unknown, Some(9999)),
            }
        }
        _ => return (Outcome::Unknown, Some(9999)),
    };
    (Outcome::Ok(ret), None)
}

impl Client {
    pub fn new(
        id: usize,
        addrs: Vec<String>,
        first: usize,
        rec: Arc<Recorder>,
        stop: Arc<AtomicBool>,
    ) -> Client {
        Client {
            id,
            addrs,
            rec,
            conn: None,
            server: first,
            session: 0,
            passwd: vec![0; 16],
            last_zxid: 0,
            op_timeout: Duration::from_secs(2),
            session_timeout_ms: 12_000,
            stats: ClientStats::default(),
            stop,
        }
    }

    fn live(&self) -> bool {
        self.conn.as_ref().is_some_and(|c| !c.is_closed())
    }

    /// Leaves the current server (closing the socket, keeping the session)
    /// so the next request goes to another one.
    pub fn hop(&mut self) {
        if let Some(c) = self.conn.take() {
            c.abort();
            self.stats.moves += 1;
        }
        self.server = (self.server + 1) % self.addrs.len();
    }

    /// Connects (or resumes the session) to some server; false if the run
    /// is stopping and no server took the client.
    async fn ensure(&mut self) -> bool {
        if self.live() {
            return true;
        }
        if let Some(c) = self.conn.take() {
            c.abort();
        }
        let started = Instant::now();
        let mut i = self.server;
        loop {
            let opts = ConnectOpts {
                timeout_ms: self.session_timeout_ms,
                session_id: self.session,
                passwd: self.passwd.clone(),
                last_zxid_seen: self.last_zxid,
                handshake_timeout: Duration::from_secs(4),
                ..ConnectOpts::default()
            };
            let addr = self.addrs[i].clone();
            let hs =
                tokio::time::timeout(Duration::from_secs(5), ZkConn::connect(&addr, &opts)).await;
            if let Ok(Ok(Handshake::Answered { conn, response, .. })) = hs {
                if response.time_out > 0 {
                    if self.session != 0 && response.session_id != self.session {
                        panic!(
                            "resuming session {:x} on server {i} answered session {:x}",
                            self.session, response.session_id
                        );
                    }
                    if self.session == 0 {
                        self.rec.note(format!(
                            "c{} opened session {:x} on server {i}",
                            self.id, response.session_id
                        ));
                    } else {
                        self.stats.reconnects += 1;
                    }
                    self.session = response.session_id;
                    self.passwd = conn.passwd.clone();
                    self.conn = Some(conn);
                    self.server = i;
                    return true;
                }
                // The session is gone: ZooKeeper clients start a new one.
                self.rec.note(format!(
                    "c{}: session {:x} expired (told by server {i})",
                    self.id, self.session
                ));
                self.stats.expired += 1;
                self.session = 0;
                self.passwd = vec![0; 16];
                continue;
            }
            i = (i + 1) % self.addrs.len();
            if i == self.server {
                if self.stop.load(Ordering::SeqCst) && started.elapsed() > Duration::from_secs(30) {
                    return false;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }

    /// Sends one request and waits for its reply; `None` if the request
    /// could not even be sent (no server).
    async fn exchange(&mut self, req: &Request) -> Option<(Wire, u64, u64, i64, usize)> {
        if !self.ensure().await {
            return None;
        }
        let conn = self.conn.as_ref().expect("connected");
        let session = self.session;
        let server = self.server;
        let invoke = self.rec.now();
        let w = conn.send(req).wait(self.op_timeout).await;
        let complete = self.rec.now();
        match &w {
            Wire::Reply(r) => {
                self.last_zxid = self.last_zxid.max(r.header.zxid);
            }
            Wire::Closed => {
                self.conn = None;
                self.server = (self.server + 1) % self.addrs.len();
            }
            Wire::TimedOut => {
                // A silent server: give up on it and try the next one.
                if let Some(c) = self.conn.take() {
                    c.abort();
                }
                self.server = (self.server + 1) % self.addrs.len();
            }
        }
        Some((w, invoke, complete, session, server))
    }

    fn record(
        &self,
        call: Call,
        w: &Wire,
        times: (u64, u64),
        session: i64,
        server: usize,
        sync: Option<u64>,
    ) -> Outcome {
        let (outcome, odd, zxid) = match w {
            Wire::Reply(r) => {
                let (o, odd) = interpret(&call, r.header.err, &r.body);
                let z = (o != Outcome::Unknown).then_some(r.header.zxid);
                (o, odd, z)
            }
            _ => (Outcome::Unknown, None, None),
        };
        self.rec.push(Op {
            id: 0,
            client: self.id,
            session,
            server,
            call,
            invoke: times.0,
            complete: times.1,
            outcome: outcome.clone(),
            zxid,
            sync_invoke: sync,
            odd_code: odd,
        });
        outcome
    }

    /// Runs one operation and records it.
    pub async fn run(&mut self, call: Call) -> Outcome {
        let req = to_request(&call);
        match self.exchange(&req).await {
            Some((w, i, c, s, srv)) => self.record(call, &w, (i, c), s, srv, None),
            None => Outcome::Unknown,
        }
    }

    /// sync, then the read on the same connection; the read is recorded
    /// with the time the sync was sent. If the sync fails, nothing is read.
    pub async fn sync_then(&mut self, call: Call) -> Option<Outcome> {
        assert!(call.is_read());
        let sync = Request::Sync(SyncRequest {
            path: call.paths()[0].to_string(),
        });
        let (w, sync_at, _, session, _) = self.exchange(&sync).await?;
        match w {
            Wire::Reply(r) if r.header.err == 0 => {}
            _ => return None,
        }
        if !self.live() || self.session != session {
            return None;
        }
        let req = to_request(&call);
        let (w, i, c, s, srv) = self.exchange(&req).await?;
        Some(self.record(call, &w, (i, c), s, srv, Some(sync_at)))
    }

    /// Closes the session (best effort).
    pub async fn close(&mut self) {
        if let Some(c) = self.conn.take() {
            let _ = c.close_session(Duration::from_secs(2)).await;
        }
    }
}
