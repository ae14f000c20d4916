//! Client sessions that keep writing through faults, on the wire client
//! (`zk_client.rs`), and the bookkeeping that fault tests check afterwards:
//! which writes were acknowledged, which ended in a connection loss (their
//! outcome unknown to the client, as with ZooKeeper), and any answer that
//! would be wrong.
//!
//! Used through `#[path]` next to `zk_client.rs`.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use jute::{
    CreateRequest, ExistsRequest, GetChildrenRequest, Request, Response, SetDataRequest,
    SyncRequest,
};
use tokio::sync::watch;

use crate::zk_client::{ConnectOpts, Handshake, Outcome, ZkConn};

/// What became of one write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    /// The server answered OK.
    Acked,
    /// The connection closed (or stayed silent) before an answer: the write
    /// may or may not have happened.
    Unknown,
}

/// A session that survives its server going away: on a connection loss it
/// reconnects to the next address with its session id and password.
pub struct Session {
    addrs: Vec<String>,
    next: usize,
    pub conn: Option<ZkConn>,
    pub session_id: i64,
    passwd: Vec<u8>,
    timeout_ms: i32,
    last_zxid: i64,
    /// Wrong answers seen (anything but OK or a connection loss).
    pub wrong: Vec<String>,
    /// True once a server said the session expired.
    pub expired: bool,
    /// Number of connection losses.
    pub losses: usize,
    /// The longest time an acknowledged write took.
    pub longest_wait: Duration,
}

impl Session {
    /// Opens a new session on the first of `addrs` that answers.
    pub async fn open(addrs: &[String], timeout_ms: i32, within: Duration) -> Session {
        let mut s = Session {
            addrs: addrs.to_vec(),
            next: 0,
            conn: None,
            session_id: 0,
            passwd: vec![0; 16],
            timeout_ms,
            last_zxid: 0,
            wrong: Vec::new(),
            expired: false,
            losses: 0,
            longest_wait: Duration::ZERO,
        };
        assert!(
            s.reconnect(within).await,
            "no server of {addrs:?} opened a session within {within:?}"
        );
        s
    }

    /// The server address the session is connected to now.
    pub fn current(&self) -> Option<&str> {
        self.conn
            .as_ref()
            .map(|_| self.addrs[(self.next + self.addrs.len() - 1) % self.addrs.len()].as_str())
    }

    /// (Re)connects, trying the addresses in turn until `within` has
    /// passed. False if the session expired or nobody answered.
    pub async fn reconnect(&mut self, within: Duration) -> bool {
        if let Some(c) = self.conn.take() {
            self.last_zxid = self.last_zxid.max(c.last_zxid());
            c.abort();
        }
        let deadline = Instant::now() + within;
        while !self.expired && Instant::now() < deadline {
            let addr = self.addrs[self.next % self.addrs.len()].clone();
            self.next += 1;
            let opts = ConnectOpts {
                timeout_ms: self.timeout_ms,
                session_id: self.session_id,
                passwd: self.passwd.clone(),
                last_zxid_seen: self.last_zxid,
                handshake_timeout: Duration::from_secs(10),
                ..ConnectOpts::default()
            };
            match ZkConn::connect(&addr, &opts).await {
                Ok(Handshake::Answered { conn, response, .. }) => {
                    if response.time_out <= 0 {
                        if self.session_id != 0 {
                            self.expired = true;
                        }
                        continue;
                    }
                    if self.session_id != 0 && response.session_id != self.session_id {
                        self.wrong.push(format!(
                            "reconnect to {addr} gave session 0x{:x}, not 0x{:x}",
                            response.session_id, self.session_id
                        ));
                    }
                    self.session_id = conn.session_id;
                    self.passwd = conn.passwd.clone();
                    self.conn = Some(conn);
                    return true;
                }
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        false
    }

    /// Sends one request and waits for its answer; a connection loss (or
    /// no answer within 40 s) is `None` and drops the connection.
    pub async fn call(&mut self, req: &Request) -> Option<crate::zk_client::Reply> {
        let conn = self.conn.as_ref()?;
        match conn.call(req, Duration::from_secs(40)).await {
            Outcome::Reply(r) => Some(r),
            Outcome::Closed | Outcome::TimedOut => {
                self.losses += 1;
                if let Some(c) = self.conn.take() {
                    self.last_zxid = self.last_zxid.max(c.last_zxid());
                    c.abort();
                }
                None
            }
        }
    }

    /// A write that must succeed: `Acked` on OK, `Unknown` on a connection
    /// loss (the connection is dropped then), and anything else is
    /// recorded as a wrong answer (and `Unknown` returned). Reconnects
    /// first if there is no connection.
    pub async fn write(&mut self, what: &str, req: &Request, reconnect_within: Duration) -> Fate {
        let sent = Instant::now();
        if self.conn.is_none() && !self.reconnect(reconnect_within).await {
            return Fate::Unknown;
        }
        let fate = match self.call(req).await {
            Some(r) if r.header.err == 0 => Fate::Acked,
            Some(r) => {
                self.wrong.push(format!(
                    "{what}: error {} (zxid {})",
                    r.header.err, r.header.zxid
                ));
                Fate::Unknown
            }
            // The caller reconnects (`conn` is None now).
            None => Fate::Unknown,
        };
        if fate == Fate::Acked {
            self.longest_wait = self.longest_wait.max(sent.elapsed());
        }
        fate
    }
}

pub fn create(path: &str, data: &[u8], flags: i32) -> Request {
    Request::Create(CreateRequest {
        path: path.into(),
        data: Some(Bytes::copy_from_slice(data)),
        acl: jute::Acl::open_acl_unsafe(),
        flags,
    })
}

pub fn set_data(path: &str, data: &[u8], version: i32) -> Request {
    Request::SetData(SetDataRequest {
        path: path.into(),
        data: Some(Bytes::copy_from_slice(data)),
        version,
    })
}

pub fn sync(path: &str) -> Request {
    Request::Sync(SyncRequest { path: path.into() })
}

/// What a writer did, for checking against the tree afterwards.
pub struct WriterReport {
    pub name: String,
    pub session: Session,
    /// Paths whose create was acknowledged.
    pub acked: Vec<String>,
    /// Paths whose create ended in a connection loss.
    pub unknown: Vec<String>,
}

/// Live counters of a running writer.
#[derive(Default)]
pub struct Progress {
    pub acked: AtomicUsize,
    pub unknown: AtomicUsize,
}

impl Progress {
    pub fn acked(&self) -> usize {
        self.acked.load(Ordering::SeqCst)
    }
}

/// A session that creates `<root>/<name>-<n>` for n = 0, 1, ... one at a
/// time until `stop` turns true, reconnecting (with its session) to any
/// of `addrs` after a connection loss. It first creates the ephemeral
/// `<root>-eph/<name>`.
pub async fn spawn_writer(
    addrs: Vec<String>,
    root: String,
    name: String,
    timeout_ms: i32,
    mut stop: watch::Receiver<bool>,
) -> (Arc<Progress>, tokio::task::JoinHandle<WriterReport>) {
    let mut session = Session::open(&addrs, timeout_ms, Duration::from_secs(30)).await;
    let eph = format!("{root}-eph/{name}");
    assert_eq!(
        session
            .write(&eph, &create(&eph, b"", 1), Duration::from_secs(30))
            .await,
        Fate::Acked,
        "{name}: creating its ephemeral; wrong answers: {:?}",
        session.wrong
    );
    let progress = Arc::new(Progress::default());
    let p = progress.clone();
    let task = tokio::spawn(async move {
        let mut report = WriterReport {
            name: name.clone(),
            session,
            acked: Vec::new(),
            unknown: Vec::new(),
        };
        let mut n = 0;
        while !*stop.borrow_and_update() && !report.session.expired {
            if report.session.conn.is_none() {
                if !report.session.reconnect(Duration::from_secs(2)).await {
                    // Nobody serves right now (or the session is gone).
                    let _ = tokio::time::timeout(Duration::from_millis(200), stop.changed()).await;
                }
                continue;
            }
            let path = format!("{root}/{name}-{n:06}");
            n += 1;
            match report
                .session
                .write(
                    &path,
                    &create(&path, name.as_bytes(), 0),
                    Duration::from_secs(2),
                )
                .await
            {
                Fate::Acked => {
                    report.acked.push(path);
                    p.acked.fetch_add(1, Ordering::SeqCst);
                }
                Fate::Unknown => {
                    report.unknown.push(path);
                    p.unknown.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
        report
    });
    (progress, task)
}

/// The children of `path`, read on `session` after a sync (so the answer
/// reflects every write acknowledged before).
pub async fn children_after_sync(session: &mut Session, path: &str) -> BTreeSet<String> {
    let r = session.call(&sync(path)).await.expect("sync answered");
    assert_eq!(r.header.err, 0, "sync {path}");
    let r = session
        .call(&Request::GetChildren(GetChildrenRequest {
            path: path.into(),
            watch: false,
        }))
        .await
        .expect("getChildren answered");
    assert_eq!(r.header.err, 0, "getChildren {path}");
    match r.body {
        Ok(Response::GetChildren(c)) => c.children.into_iter().collect(),
        other => panic!("getChildren {path}: {other:?}"),
    }
}

/// The ephemeral owner of `path` (None when it does not exist).
pub async fn ephemeral_owner(session: &mut Session, path: &str) -> Option<i64> {
    let r = session
        .call(&Request::Exists(ExistsRequest {
            path: path.into(),
            watch: false,
        }))
        .await
        .expect("exists answered");
    match (r.header.err, r.body) {
        (0, Ok(Response::Exists(e))) => Some(e.stat.ephemeral_owner),
        (-101, _) => None,
        (err, body) => panic!("exists {path}: error {err}, {body:?}"),
    }
}

/// Checks the writers' creates against the children of `root`: every
/// acknowledged one is there, every one that is there was acknowledged or
/// ended in a connection loss, and no writer saw a wrong answer. Returns
/// how many writes ended in a connection loss.
pub async fn verify_writers(reader: &mut Session, root: &str, reports: &[WriterReport]) -> usize {
    let children = children_after_sync(reader, root).await;
    let mut unknown = 0;
    let mut allowed = BTreeSet::new();
    for r in reports {
        assert!(
            r.session.wrong.is_empty(),
            "{}: wrong answers {:?}",
            r.name,
            r.session.wrong
        );
        for p in &r.acked {
            let name = p.rsplit('/').next().unwrap().to_string();
            assert!(
                children.contains(&name),
                "{}: acknowledged create {p} is missing",
                r.name
            );
            allowed.insert(name);
        }
        for p in &r.unknown {
            allowed.insert(p.rsplit('/').next().unwrap().to_string());
        }
        unknown += r.unknown.len();
    }
    let stray: Vec<&String> = children.difference(&allowed).collect();
    assert!(
        stray.is_empty(),
        "nodes nobody created (or created twice under another name): {stray:?}"
    );
    unknown
}
