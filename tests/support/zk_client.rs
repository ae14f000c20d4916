//! A minimal asynchronous ZooKeeper client for tests, on tokio and the
//! `jute` crate. It hides nothing: every reply is handed back with its raw
//! ReplyHeader (xid, zxid, err), its undecoded body bytes and the decoded
//! body, and every frame the server sends after the handshake is recorded
//! in arrival order in one log, replies and watch notifications
//! interleaved, so a test can check where a notification arrived relative
//! to the replies on the same connection.
//!
//! * Requests are pipelined: `send*` writes the frame at once and returns a
//!   [`PendingReply`]; replies are matched to requests in send order (a
//!   reply whose xid is not the oldest pending one is still matched by xid,
//!   but flagged `in_order = false`).
//! * Ordinary xids count 1, 2, ...; `auth` uses -4 and `setWatches` -8, as
//!   the Java client does. Pings (xid -2) come from a background task every
//!   third of the negotiated timeout, can be paused (to let a session
//!   expire), and their replies are not logged.
//! * Raw frames (unknown opcodes, malformed bodies, oversized frames) can be
//!   sent too, to observe how a server reacts to them.
//!
//! Used by `tests/differential.rs` through `#[path]`; it does not depend on
//! `support/mod.rs`.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{BufMut, Bytes, BytesMut};
use jute::{
    ConnectRequest, ConnectResponse, OpCode, Record, ReplyHeader, Request, RequestHeader, Response,
    WatcherEvent,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::task::JoinHandle;

/// The largest frame this client accepts from a server (it is a test
/// client: it must be able to see whatever a server sends).
pub const MAX_INBOUND: usize = 64 << 20;

/// Wall-clock milliseconds since the epoch (the clock servers stamp
/// ctime/mtime with).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// One reply as received.
#[derive(Debug, Clone)]
pub struct Reply {
    pub header: ReplyHeader,
    /// The opcode of the request it answers (used to decode the body).
    pub opcode: i32,
    /// Everything after the ReplyHeader.
    pub raw_body: Bytes,
    /// The decoded body: `Ok(Response::Empty)` when `err != 0` (a body on
    /// an error reply is kept in `raw_body` only); `Err` when the body
    /// could not be decoded or the opcode is unknown.
    pub body: Result<Response, String>,
    /// Bytes left after the decoded record (0 for a well-formed reply).
    pub trailing: usize,
    /// False if an older request was still waiting when this arrived.
    pub in_order: bool,
    /// `now_ms()` when the frame was read.
    pub received_ms: i64,
}

/// What became of a request.
#[derive(Debug, Clone)]
pub enum Outcome {
    Reply(Reply),
    /// The connection closed before a reply arrived.
    Closed,
    /// No reply within the wait timeout (the connection stayed open).
    TimedOut,
}

impl Outcome {
    pub fn reply(&self) -> Option<&Reply> {
        match self {
            Outcome::Reply(r) => Some(r),
            _ => None,
        }
    }

    pub fn err(&self) -> Option<i32> {
        self.reply().map(|r| r.header.err)
    }
}

/// One entry of a connection's arrival log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogItem {
    /// A reply to a request with this xid (pings are not logged).
    Reply { xid: i32, err: i32, zxid: i64 },
    /// A watch notification (xid -1).
    Event { zxid: i64, event: WatcherEvent },
    /// A reply whose xid matched no pending request.
    Unexpected { xid: i32, zxid: i64, err: i32 },
    /// A frame that could not be parsed.
    Garbage { len: usize },
    /// The connection closed (either side).
    Closed,
}

struct Pending {
    xid: i32,
    opcode: i32,
    tx: oneshot::Sender<Outcome>,
}

struct State {
    pending: VecDeque<Pending>,
    log: Vec<LogItem>,
    closed: bool,
    next_xid: i32,
    wtx: Option<mpsc::UnboundedSender<Bytes>>,
    /// Highest non-notification reply zxid seen (the client's lastZxid).
    last_zxid: i64,
    pings_answered: u64,
    /// Replies to the requests pipelined behind the ConnectRequest.
    early: Vec<PendingReply>,
}

struct Inner {
    state: Mutex<State>,
    closed: Notify,
    pinging: AtomicBool,
}

/// A reply that has not arrived yet.
pub struct PendingReply {
    rx: Option<oneshot::Receiver<Outcome>>,
}

impl PendingReply {
    /// Waits for the reply (or the connection's end) up to `timeout`.
    pub async fn wait(self, timeout: Duration) -> Outcome {
        let Some(rx) = self.rx else {
            return Outcome::Closed;
        };
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(o)) => o,
            Ok(Err(_)) => Outcome::Closed,
            Err(_) => Outcome::TimedOut,
        }
    }
}

/// Parameters of the ConnectRequest.
#[derive(Debug, Clone)]
pub struct ConnectOpts {
    pub timeout_ms: i32,
    pub session_id: i64,
    pub passwd: Vec<u8>,
    pub last_zxid_seen: i64,
    /// `None`: do not send the readOnly byte (go-zookeeper style).
    pub read_only: Option<bool>,
    /// How long to wait for the ConnectResponse.
    pub handshake_timeout: Duration,
    /// Requests written right behind the ConnectRequest, before its answer
    /// (xids 1, 2, ...); their replies come from [`ZkConn::take_early`].
    pub pipelined: Vec<Request>,
}

impl Default for ConnectOpts {
    fn default() -> Self {
        ConnectOpts {
            timeout_ms: 10_000,
            session_id: 0,
            passwd: vec![0; 16],
            last_zxid_seen: 0,
            read_only: Some(false),
            handshake_timeout: Duration::from_secs(30),
            pipelined: Vec::new(),
        }
    }
}

/// How a handshake ended.
pub enum Handshake {
    /// The server answered. The session may still be invalid
    /// (`response.time_out <= 0`), in which case the server closes next.
    Answered {
        conn: ZkConn,
        response: ConnectResponse,
        /// Length of the ConnectResponse frame body (36 or 37 bytes).
        response_len: usize,
    },
    /// The connection closed without a ConnectResponse.
    Closed,
    /// No answer within the handshake timeout.
    TimedOut,
}

/// One client connection.
pub struct ZkConn {
    inner: Arc<Inner>,
    tasks: Vec<JoinHandle<()>>,
    pub session_id: i64,
    pub passwd: Vec<u8>,
    pub timeout_ms: i32,
}

impl Drop for ZkConn {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn frame_bytes(body: impl FnOnce(&mut BytesMut)) -> Bytes {
    let mut out = BytesMut::with_capacity(64);
    jute::encode_frame(&mut out, body);
    out.freeze()
}

async fn read_frame(rd: &mut tokio::net::tcp::OwnedReadHalf) -> io::Result<Bytes> {
    let mut len = [0u8; 4];
    rd.read_exact(&mut len).await?;
    let len = i32::from_be_bytes(len);
    if len < 0 || len as usize > MAX_INBOUND {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame length {len}"),
        ));
    }
    let mut body = vec![0u8; len as usize];
    rd.read_exact(&mut body).await?;
    Ok(Bytes::from(body))
}

/// Decodes a reply body for `opcode`; also returns the trailing byte count.
pub fn decode_body(opcode: i32, err: i32, raw: &Bytes) -> (Result<Response, String>, usize) {
    if err != 0 {
        return (Ok(Response::Empty), raw.len());
    }
    let Ok(op) = OpCode::try_from(opcode) else {
        return (Err(format!("unknown opcode {opcode}")), raw.len());
    };
    match Response::decode(op, raw.clone()) {
        Ok(resp) => {
            let mut re = BytesMut::new();
            resp.encode(&mut re);
            let trailing = raw.len().saturating_sub(re.len());
            (Ok(resp), trailing)
        }
        Err(e) => (Err(format!("{e:?}")), raw.len()),
    }
}

impl ZkConn {
    /// Opens a TCP connection and performs the handshake.
    pub async fn connect(addr: &str, opts: &ConnectOpts) -> io::Result<Handshake> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (mut rd, mut wr) = stream.into_split();
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: opts.last_zxid_seen,
            time_out: opts.timeout_ms,
            session_id: opts.session_id,
            passwd: Some(Bytes::from(opts.passwd.clone())),
            read_only: opts.read_only,
        };
        let mut f = BytesMut::from(&frame_bytes(|o| req.write(o))[..]);
        let mut early = Vec::new();
        for (i, r) in opts.pipelined.iter().enumerate() {
            let xid = i as i32 + 1;
            let hdr = RequestHeader {
                xid,
                op_type: r.opcode().as_i32(),
            };
            jute::frame::request(&mut f, &hdr, r);
            early.push((xid, r.opcode().as_i32()));
        }
        wr.write_all(&f).await?;
        let first = match tokio::time::timeout(opts.handshake_timeout, read_frame(&mut rd)).await {
            Err(_) => return Ok(Handshake::TimedOut),
            Ok(Err(_)) => return Ok(Handshake::Closed),
            Ok(Ok(b)) => b,
        };
        let response_len = first.len();
        let response = ConnectResponse::decode(first).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("ConnectResponse: {e:?}"),
            )
        })?;
        let (wtx, mut wrx) = mpsc::unbounded_channel::<Bytes>();
        let inner = Arc::new(Inner {
            state: Mutex::new(State {
                pending: VecDeque::new(),
                early: Vec::new(),
                log: Vec::new(),
                closed: false,
                next_xid: opts.pipelined.len() as i32 + 1,
                wtx: Some(wtx),
                last_zxid: opts.last_zxid_seen,
                pings_answered: 0,
            }),
            closed: Notify::new(),
            pinging: AtomicBool::new(true),
        });
        {
            let mut st = inner.state.lock().unwrap();
            for (xid, opcode) in early {
                let (tx, rx) = oneshot::channel();
                st.pending.push_back(Pending { xid, opcode, tx });
                st.early.push(PendingReply { rx: Some(rx) });
            }
        }
        let writer = tokio::spawn(async move {
            while let Some(f) = wrx.recv().await {
                if wr.write_all(&f).await.is_err() {
                    break;
                }
            }
            let _ = wr.shutdown().await;
        });
        let reader = {
            let inner = inner.clone();
            tokio::spawn(async move {
                while let Ok(f) = read_frame(&mut rd).await {
                    inner.on_frame(f);
                }
                inner.on_closed();
            })
        };
        let timeout_ms = response.time_out;
        let pinger = {
            let inner = inner.clone();
            let every = Duration::from_millis((timeout_ms.max(150) as u64) / 3);
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    if inner.state.lock().unwrap().closed {
                        break;
                    }
                    if inner.pinging.load(Ordering::SeqCst) {
                        let f = frame_bytes(|o| {
                            RequestHeader {
                                xid: jute::xid::PING,
                                op_type: OpCode::Ping.as_i32(),
                            }
                            .write(o)
                        });
                        inner.write(f);
                    }
                }
            })
        };
        let passwd = response
            .passwd
            .clone()
            .map(|b| b.to_vec())
            .unwrap_or_default();
        let conn = ZkConn {
            inner,
            tasks: vec![writer, reader, pinger],
            session_id: response.session_id,
            passwd,
            timeout_ms,
        };
        Ok(Handshake::Answered {
            conn,
            response,
            response_len,
        })
    }

    /// Sends `req` with the next ordinary xid (or -4 for auth, -8 for
    /// setWatches/setWatches2, as the Java client does).
    pub fn send(&self, req: &Request) -> PendingReply {
        let special = match req {
            Request::Auth(_) => Some(jute::xid::AUTH),
            Request::SetWatches(_) | Request::SetWatches2(_) => Some(jute::xid::SET_WATCHES),
            _ => None,
        };
        let mut body = BytesMut::new();
        req.encode(&mut body);
        self.send_raw(special, req.opcode().as_i32(), &body)
    }

    /// Sends a request with an explicit header opcode and raw body bytes;
    /// `xid` `None` takes the next ordinary xid. The reply is decoded as an
    /// answer to `opcode`.
    pub fn send_raw(&self, xid: Option<i32>, opcode: i32, body: &[u8]) -> PendingReply {
        let mut st = self.inner.state.lock().unwrap();
        if st.closed || st.wtx.is_none() {
            return PendingReply { rx: None };
        }
        let xid = xid.unwrap_or_else(|| {
            let x = st.next_xid;
            st.next_xid = if x == i32::MAX { 1 } else { x + 1 };
            x
        });
        let f = frame_bytes(|o| {
            RequestHeader {
                xid,
                op_type: opcode,
            }
            .write(o);
            o.put_slice(body);
        });
        let (tx, rx) = oneshot::channel();
        st.pending.push_back(Pending { xid, opcode, tx });
        if let Some(w) = &st.wtx {
            let _ = w.send(f);
        }
        PendingReply { rx: Some(rx) }
    }

    /// Writes arbitrary bytes (for example a frame with a bad length). If
    /// `expect` is given, a pending entry (xid, opcode) is queued first.
    pub fn send_bytes(&self, bytes: Bytes, expect: Option<(i32, i32)>) -> PendingReply {
        let mut st = self.inner.state.lock().unwrap();
        if st.closed || st.wtx.is_none() {
            return PendingReply { rx: None };
        }
        let rx = expect.map(|(xid, opcode)| {
            let (tx, rx) = oneshot::channel();
            st.pending.push_back(Pending { xid, opcode, tx });
            rx
        });
        if let Some(w) = &st.wtx {
            let _ = w.send(bytes);
        }
        PendingReply { rx }
    }

    /// The replies to [`ConnectOpts::pipelined`], in order (once).
    pub fn take_early(&self) -> Vec<PendingReply> {
        std::mem::take(&mut self.inner.state.lock().unwrap().early)
    }

    /// Takes the next ordinary xid without sending anything.
    pub fn take_xid(&self) -> i32 {
        let mut st = self.inner.state.lock().unwrap();
        let x = st.next_xid;
        st.next_xid = if x == i32::MAX { 1 } else { x + 1 };
        x
    }

    /// Sends and waits.
    pub async fn call(&self, req: &Request, timeout: Duration) -> Outcome {
        self.send(req).wait(timeout).await
    }

    /// closeSession, then waits (up to `timeout`) for the server to close
    /// the connection. Returns the reply outcome.
    pub async fn close_session(&self, timeout: Duration) -> Outcome {
        let o = self.call(&Request::CloseSession, timeout).await;
        self.wait_closed(timeout).await;
        o
    }

    /// Pauses or resumes the background pings.
    pub fn set_pinging(&self, on: bool) {
        self.inner.pinging.store(on, Ordering::SeqCst);
    }

    /// True once the connection has closed.
    pub fn is_closed(&self) -> bool {
        self.inner.state.lock().unwrap().closed
    }

    /// Waits until the connection closes; false on timeout.
    pub async fn wait_closed(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.inner.closed.notified();
            if self.is_closed() {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.is_closed();
            }
        }
    }

    /// Closes the socket from the client side (no closeSession).
    pub fn abort(&self) {
        {
            let mut st = self.inner.state.lock().unwrap();
            st.wtx = None;
        }
        for t in &self.tasks {
            t.abort();
        }
        self.inner.on_closed();
    }

    /// A copy of the arrival log.
    pub fn log(&self) -> Vec<LogItem> {
        self.inner.state.lock().unwrap().log.clone()
    }

    /// Number of log entries so far.
    pub fn log_len(&self) -> usize {
        self.inner.state.lock().unwrap().log.len()
    }

    /// The client's lastZxid: the highest reply zxid seen (notifications
    /// and pings excluded), as clients track it.
    pub fn last_zxid(&self) -> i64 {
        self.inner.state.lock().unwrap().last_zxid
    }

    pub fn pings_answered(&self) -> u64 {
        self.inner.state.lock().unwrap().pings_answered
    }
}

impl Inner {
    fn write(&self, f: Bytes) {
        let st = self.state.lock().unwrap();
        if let Some(w) = &st.wtx {
            let _ = w.send(f);
        }
    }

    fn on_frame(&self, f: Bytes) {
        let received_ms = now_ms();
        let mut st = self.state.lock().unwrap();
        let (header, rest) = match jute::decode_reply(f.clone()) {
            Ok(x) => x,
            Err(_) => {
                st.log.push(LogItem::Garbage { len: f.len() });
                return;
            }
        };
        match header.xid {
            jute::xid::NOTIFICATION => {
                match WatcherEvent::decode(rest) {
                    Ok(event) => st.log.push(LogItem::Event {
                        zxid: header.zxid,
                        event,
                    }),
                    Err(_) => st.log.push(LogItem::Garbage { len: f.len() }),
                }
                return;
            }
            jute::xid::PING => {
                st.pings_answered += 1;
                return;
            }
            _ => {}
        }
        let pos = st.pending.iter().position(|p| p.xid == header.xid);
        let Some(pos) = pos else {
            st.log.push(LogItem::Unexpected {
                xid: header.xid,
                zxid: header.zxid,
                err: header.err,
            });
            return;
        };
        let p = st.pending.remove(pos).expect("position is valid");
        if header.zxid > st.last_zxid {
            st.last_zxid = header.zxid;
        }
        st.log.push(LogItem::Reply {
            xid: header.xid,
            err: header.err,
            zxid: header.zxid,
        });
        let (body, trailing) = decode_body(p.opcode, header.err, &rest);
        let reply = Reply {
            header,
            opcode: p.opcode,
            raw_body: rest,
            body,
            trailing,
            in_order: pos == 0,
            received_ms,
        };
        let _ = p.tx.send(Outcome::Reply(reply));
    }

    fn on_closed(&self) {
        let mut st = self.state.lock().unwrap();
        if st.closed {
            return;
        }
        st.closed = true;
        st.wtx = None;
        st.log.push(LogItem::Closed);
        for p in st.pending.drain(..) {
            let _ = p.tx.send(Outcome::Closed);
        }
        drop(st);
        self.closed.notify_waiters();
    }
}
