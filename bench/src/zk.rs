//! A minimal ZooKeeper client over jute: one TCP connection, the handshake,
//! and a pipelining driver that keeps up to K requests in flight (replies
//! come back in xid order on a connection, so a FIFO of pending requests is
//! all the bookkeeping needed).

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use bytes::{Bytes, BytesMut};
use hdrhistogram::Histogram;
use jute::frame::{request_with_xid, split_frame};
use jute::{
    decode_reply, Acl, ConnectRequest, ConnectResponse, CreateRequest, DeleteRequest,
    GetChildrenRequest, Id, MultiResponse, MultiResult, OpCode, Record, ReplyHeader, Request,
    WatcherEvent,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Replies can be large (getChildren of a big parent); accept up to 64 MiB.
const CLIENT_MAX_FRAME: usize = 64 << 20;

pub const SESSION_TIMEOUT_MS: i32 = 30_000;

pub fn open_acl() -> Vec<Acl> {
    vec![Acl {
        perms: jute::perms::ALL,
        id: Id {
            scheme: "world".into(),
            id: "anyone".into(),
        },
    }]
}

pub fn create_req(path: String, data: Option<Bytes>, flags: i32) -> Request {
    Request::Create(CreateRequest {
        path,
        data,
        acl: open_acl(),
        flags,
    })
}

pub fn delete_req(path: String) -> Request {
    Request::Delete(DeleteRequest { path, version: -1 })
}

pub struct Conn {
    stream: TcpStream,
    buf: BytesMut,
    pub session_id: i64,
    pub timeout_ms: i32,
    next_xid: i32,
}

impl Conn {
    /// Connects and performs the handshake (new session).
    pub async fn connect(addr: &str, timeout_ms: i32) -> Result<Conn> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connect {addr}"))?;
        stream.set_nodelay(true)?;
        let mut c = Conn {
            stream,
            buf: BytesMut::with_capacity(8 * 1024),
            session_id: 0,
            timeout_ms,
            next_xid: 1,
        };
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            time_out: timeout_ms,
            session_id: 0,
            passwd: Some(Bytes::from_static(&[0u8; 16])),
            read_only: Some(false),
        };
        let mut out = BytesMut::new();
        jute::frame::record(&mut out, &req);
        c.stream.write_all(&out).await?;
        let f = c.read_frame().await.context("handshake")?;
        let resp = ConnectResponse::decode(f).map_err(|e| anyhow!("handshake reply: {e}"))?;
        if resp.session_id == 0 || resp.time_out <= 0 {
            bail!("server refused the session");
        }
        c.session_id = resp.session_id;
        c.timeout_ms = resp.time_out;
        Ok(c)
    }

    pub fn next_xid(&mut self) -> i32 {
        let x = self.next_xid;
        self.next_xid = if x == i32::MAX { 1 } else { x + 1 };
        x
    }

    /// A complete frame already in the buffer, if any.
    pub fn try_frame(&mut self) -> Result<Option<Bytes>> {
        split_frame(&mut self.buf, CLIENT_MAX_FRAME).map_err(|e| anyhow!("bad frame: {e}"))
    }

    /// One read from the socket into the buffer. Cancel safe.
    pub async fn fill(&mut self) -> Result<()> {
        let n = self.stream.read_buf(&mut self.buf).await?;
        if n == 0 {
            bail!("connection closed by the server");
        }
        Ok(())
    }

    pub async fn read_frame(&mut self) -> Result<Bytes> {
        loop {
            if let Some(f) = self.try_frame()? {
                return Ok(f);
            }
            self.fill().await?;
        }
    }

    pub async fn write(&mut self, out: &[u8]) -> Result<()> {
        self.stream.write_all(out).await?;
        Ok(())
    }

    pub async fn send(&mut self, req: &Request) -> Result<i32> {
        let xid = self.next_xid();
        let mut out = BytesMut::new();
        request_with_xid(&mut out, xid, req);
        self.write(&out).await?;
        Ok(xid)
    }

    /// Sends one request and waits for its reply, skipping notifications.
    pub async fn call(&mut self, req: &Request) -> Result<(ReplyHeader, Bytes)> {
        let xid = self.send(req).await?;
        loop {
            let f = self.read_frame().await?;
            let (hdr, body) = decode_reply(f).map_err(|e| anyhow!("reply: {e}"))?;
            if hdr.xid == xid {
                return Ok((hdr, body));
            }
            if hdr.xid >= 0 {
                bail!("reply xid {} while waiting for {}", hdr.xid, xid);
            }
        }
    }

    /// Waits for the next watch notification (replies to pings are skipped).
    pub async fn next_notification(&mut self) -> Result<(ReplyHeader, WatcherEvent)> {
        loop {
            let f = self.read_frame().await?;
            let (hdr, body) = decode_reply(f).map_err(|e| anyhow!("reply: {e}"))?;
            if hdr.xid == jute::xid::NOTIFICATION {
                let ev = WatcherEvent::decode(body).map_err(|e| anyhow!("event: {e}"))?;
                return Ok((hdr, ev));
            }
            if hdr.xid >= 0 {
                bail!("unexpected reply xid {}", hdr.xid);
            }
        }
    }

    pub async fn children(&mut self, path: &str) -> Result<Vec<String>> {
        let (hdr, body) = self
            .call(&Request::GetChildren(GetChildrenRequest {
                path: path.into(),
                watch: false,
            }))
            .await?;
        if hdr.err != 0 {
            bail!("getChildren {path}: error {}", err_name(hdr.err));
        }
        Ok(jute::GetChildrenResponse::decode(body)
            .map_err(|e| anyhow!("getChildren reply: {e}"))?
            .children)
    }

    /// closeSession, waiting (bounded) for the reply.
    pub async fn close(mut self) -> Result<()> {
        let r = tokio::time::timeout(Duration::from_secs(10), self.call(&Request::CloseSession))
            .await
            .map_err(|_| anyhow!("closeSession timed out"))??;
        if r.0.err != 0 {
            bail!("closeSession: {}", err_name(r.0.err));
        }
        Ok(())
    }
}

/// Pseudo error codes for the watch workload.
pub const NO_NOTIFICATION: i32 = -10_001;
pub const WRONG_EVENT: i32 = -10_002;
/// Pseudo error code: a tree load made no progress and was abandoned.
pub const LOAD_STALLED: i32 = -10_003;

pub fn err_name(code: i32) -> String {
    if code == NO_NOTIFICATION {
        return "NO_NOTIFICATION_IN_10S".into();
    }
    if code == LOAD_STALLED {
        return "LOAD_STALLED".into();
    }
    if code == WRONG_EVENT {
        return "WRONG_EVENT".into();
    }
    match jute::ErrorCode::try_from(code) {
        Ok(c) => c.name().to_string(),
        Err(_) => format!("error {code}"),
    }
}

/// Latency histogram in microseconds (1 µs .. 100 s, 3 significant digits).
pub fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 100_000_000, 3).expect("histogram bounds")
}

/// What one or more connections measured.
pub struct Stats {
    pub hist: Histogram<u64>,
    /// Successful requests sent inside the measurement window.
    pub ok: u64,
    /// Failed requests (any phase), by error code.
    pub errors: BTreeMap<i32, u64>,
    /// Requests sent (any phase).
    pub sent: u64,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            hist: new_hist(),
            ok: 0,
            errors: BTreeMap::new(),
            sent: 0,
        }
    }
}

impl Stats {
    pub fn merge(&mut self, o: &Stats) {
        self.hist.add(&o.hist).expect("same histogram bounds");
        self.ok += o.ok;
        self.sent += o.sent;
        for (k, v) in &o.errors {
            *self.errors.entry(*k).or_default() += v;
        }
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    pub fn record(&mut self, latency: Duration, err: i32, in_window: bool) {
        if err != 0 {
            *self.errors.entry(err).or_default() += 1;
        } else if in_window {
            self.ok += 1;
            let us = (latency.as_micros() as u64).clamp(1, 100_000_000);
            self.hist.record(us).expect("in bounds");
        }
    }
}

/// Timing of one driven phase.
#[derive(Clone, Copy)]
pub struct Phase {
    pub start: Instant,
    /// Requests sent from here on are measured.
    pub record_from: Instant,
    /// Stop sending here (`None`: until the generator is exhausted).
    pub end: Option<Instant>,
    /// Fixed interval between sends on this connection (rate limiting).
    pub interval: Option<Duration>,
}

impl Phase {
    pub fn unbounded() -> Phase {
        let now = Instant::now();
        Phase {
            start: now,
            record_from: now,
            end: None,
            interval: None,
        }
    }
}

struct Pending {
    xid: i32,
    op: OpCode,
    t0: Instant,
    rec: bool,
}

/// The error code of a reply: its header's, or for a multi the first
/// failing result's.
fn reply_error(op: OpCode, hdr: &ReplyHeader, body: Bytes) -> i32 {
    if hdr.err != 0 {
        return hdr.err;
    }
    if op == OpCode::Multi {
        return match MultiResponse::decode(body) {
            Ok(m) => m
                .results
                .iter()
                .find_map(|r| match r {
                    MultiResult::Error(c) if *c != 0 => Some(*c),
                    _ => None,
                })
                .unwrap_or(0),
            Err(_) => jute::ErrorCode::MarshallingError.as_i32(),
        };
    }
    0
}

/// Drives one connection: keeps up to `window` requests from `gen` in
/// flight until `gen` returns `None` or the phase ends, then drains.
/// `gen(seq)` is called with 0, 1, 2, ... Returns how many were sent.
pub async fn drive(
    conn: &mut Conn,
    window: usize,
    phase: &Phase,
    mut gen: impl FnMut(u64) -> Option<Request>,
    stats: &mut Stats,
) -> Result<u64> {
    let mut pending: VecDeque<Pending> = VecDeque::with_capacity(window.max(1));
    let mut seq: u64 = 0;
    let r = drive_inner(
        conn,
        window.max(1),
        phase,
        &mut gen,
        stats,
        &mut pending,
        &mut seq,
    )
    .await;
    stats.sent += seq;
    if r.is_err() {
        // Whatever was in flight is lost with the connection.
        *stats
            .errors
            .entry(jute::ErrorCode::ConnectionLoss.as_i32())
            .or_default() += pending.len() as u64;
    }
    r.map(|_| seq)
}

async fn drive_inner(
    conn: &mut Conn,
    window: usize,
    phase: &Phase,
    gen: &mut impl FnMut(u64) -> Option<Request>,
    stats: &mut Stats,
    pending: &mut VecDeque<Pending>,
    seq: &mut u64,
) -> Result<()> {
    let mut done = false;
    let mut out = BytesMut::with_capacity(16 * 1024);
    loop {
        let now = Instant::now();
        if !done && phase.end.is_some_and(|e| now >= e) {
            done = true;
        }
        let mut next_send = None;
        if !done {
            while pending.len() < window {
                let sched = match phase.interval {
                    Some(iv) => phase.start + iv * (*seq as u32),
                    None => now,
                };
                if sched > now {
                    next_send = Some(sched);
                    break;
                }
                let Some(req) = gen(*seq) else {
                    done = true;
                    break;
                };
                let xid = conn.next_xid();
                request_with_xid(&mut out, xid, &req);
                // With a target rate, latency counts from the scheduled time
                // (no coordinated omission); otherwise from the send.
                let t0 = if phase.interval.is_some() { sched } else { now };
                pending.push_back(Pending {
                    xid,
                    op: req.opcode(),
                    t0,
                    rec: t0 >= phase.record_from && phase.end.is_none_or(|e| t0 < e),
                });
                *seq += 1;
            }
            if !out.is_empty() {
                conn.write(&out).await?;
                out.clear();
            }
        }
        // Consume every complete reply already buffered.
        while let Some(f) = conn.try_frame()? {
            let (hdr, body) = decode_reply(f).map_err(|e| anyhow!("reply: {e}"))?;
            if hdr.xid < 0 {
                continue; // notification or ping
            }
            let p = pending
                .pop_front()
                .ok_or_else(|| anyhow!("reply xid {} with nothing pending", hdr.xid))?;
            if p.xid != hdr.xid {
                bail!("reply xid {} but expected {}", hdr.xid, p.xid);
            }
            let err = reply_error(p.op, &hdr, body);
            stats.record(p.t0.elapsed(), err, p.rec);
        }
        if pending.is_empty() {
            if done {
                return Ok(());
            }
            if let Some(t) = next_send {
                tokio::time::sleep_until(t.into()).await;
            }
            continue;
        }
        // Wait for replies, or for the next scheduled send.
        match next_send {
            Some(t) if !done && pending.len() < window => {
                tokio::select! {
                    r = conn.fill() => r?,
                    _ = tokio::time::sleep_until(t.into()) => {}
                }
            }
            _ => conn.fill().await?,
        }
    }
}

/// Runs `gen` over `conns` connections in parallel (connection i gets
/// `gen(i, seq)`), unmeasured. Used for setup and cleanup.
pub async fn bulk<G>(addr: &str, conns: usize, window: usize, gen: G) -> Result<Stats>
where
    G: Fn(usize, u64) -> Option<Request> + Send + Sync + Clone + 'static,
{
    let mut tasks = Vec::new();
    for i in 0..conns.max(1) {
        let addr = addr.to_string();
        let gen = gen.clone();
        tasks.push(tokio::spawn(async move {
            let mut c = Conn::connect(&addr, SESSION_TIMEOUT_MS).await?;
            let mut st = Stats::default();
            drive(&mut c, window, &Phase::unbounded(), |s| gen(i, s), &mut st).await?;
            let _ = c.close().await;
            anyhow::Ok(st)
        }));
    }
    let mut total = Stats::default();
    for t in tasks {
        total.merge(&t.await??);
    }
    Ok(total)
}

/// Creates `paths` (persistent, `data`) over `conns` pipelined connections.
pub async fn bulk_create(
    addr: &str,
    conns: usize,
    window: usize,
    paths: std::sync::Arc<Vec<String>>,
    data: Option<Bytes>,
) -> Result<Stats> {
    let n = conns.max(1);
    bulk(addr, n, window, move |i, s| {
        let idx = i + (s as usize) * n;
        paths
            .get(idx)
            .map(|p| create_req(p.clone(), data.clone(), 0))
    })
    .await
}

/// Deletes `base` and everything under it (any depth), pipelined on one
/// connection (deletes of siblings from several sessions contend in zoe),
/// retrying if the server drops the connection.
pub async fn delete_tree(addr: &str, base: &str) -> Result<()> {
    let mut last = None;
    for attempt in 0..4 {
        // After a failure, fewer requests in flight.
        let window = if attempt == 0 { 256 } else { 16 };
        match delete_tree_once(addr, base, window).await {
            Ok(()) => return Ok(()),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(last.unwrap())
}

async fn delete_tree_once(addr: &str, base: &str, window: usize) -> Result<()> {
    let mut c = Conn::connect(addr, SESSION_TIMEOUT_MS).await?;
    // Collect every descendant, deepest last.
    let mut levels: Vec<Vec<String>> = vec![vec![base.to_string()]];
    loop {
        let mut next = Vec::new();
        for p in levels.last().unwrap() {
            match c.children(p).await {
                Ok(kids) => next.extend(kids.into_iter().map(|k| format!("{p}/{k}"))),
                Err(e) if e.to_string().contains("NONODE") => {}
                Err(e) => return Err(e),
            }
        }
        if next.is_empty() {
            break;
        }
        levels.push(next);
    }
    let _ = c.close().await;
    for level in levels.into_iter().rev() {
        let paths = std::sync::Arc::new(level);
        let n = 1usize;
        let p2 = paths.clone();
        let st = bulk(addr, n, window, move |i, s| {
            p2.get(i + (s as usize) * n).map(|p| delete_req(p.clone()))
        })
        .await?;
        let bad: u64 = st
            .errors
            .iter()
            .filter(|(k, _)| **k != jute::ErrorCode::NoNode.as_i32())
            .map(|(_, v)| *v)
            .sum();
        if bad > 0 {
            bail!("cleanup of {base}: {bad} deletes failed: {:?}", st.errors);
        }
    }
    Ok(())
}
