//! One client connection: framing, handshake, the request pipeline and the
//! ordered reply queue.
//!
//! socket → [`Inbound`] (frames, handshake, request headers) → reader
//! (pings answered at once) → processor (requests in arrival order, one at
//! a time, so a session never reads older state than its own last write)
//! → outbound queue ← notifications → writer → socket.
//!
//! Every byte a client sends goes through [`Inbound`], a pure state
//! machine: the socket loop here and the fuzzer (fuzz/, and the corpus
//! replay in tests/fuzz_corpus.rs) drive the very same code.
//!
//! What bounds a connection's memory: a frame is at most `max_frame`
//! (jute.maxbuffer); at most `max_outstanding` requests are between being
//! read and having their reply handed to the socket — past that the
//! socket is not read until replies go out, as ZooKeeper throttles with
//! globalOutstandingLimit; replies and notifications queued for a client
//! that does not read are bounded by `max_outbound_bytes`; a connection
//! that has not completed its handshake within the sessionless timeout is
//! closed, and so is one whose session ends while a frame is half sent.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use jute::{ConnectRequest, ConnectResponse, DecodeError, Record, ReplyHeader};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Semaphore};
use tracing::{debug, info, warn};

use crate::conns::{frame, Out, Outbound, OutboundRx, Permit};
use crate::fourlw;
use crate::ops::Handler;
use crate::server::Server;
use crate::session::Resume;
use crate::stats::ConnStats;
use crate::watches::ConnId;

/// The read and write halves of a client's byte stream (TCP or TLS).
pub type BoxRead = Box<dyn AsyncRead + Send + Unpin>;
pub type BoxWrite = Box<dyn AsyncWrite + Send + Unpin>;

/// Bytes asked of the socket per read beyond what the current frame needs.
const READ_CHUNK: usize = 16 * 1024;

/// Where a connection is in the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Nothing read yet: a four-letter word or a ConnectRequest follows.
    Start,
    /// Waiting for the ConnectRequest frame.
    Connect,
    /// Handshake done: request frames.
    Session,
    /// A four-letter word was read, or the input was refused: nothing more.
    Done,
}

/// What the bytes a client sent mean, one event at a time.
///
/// Pure: no I/O, no clock, no server state. The caller appends what the
/// socket delivered ([`Inbound::buffer`] or [`Inbound::extend`]) and takes
/// events with [`Inbound::next_event`] until it says more bytes are needed. How
/// the bytes are split across reads never changes the events.
#[derive(Debug)]
pub struct Inbound {
    buf: BytesMut,
    phase: Phase,
    max_frame: usize,
}

/// One step of a connection's input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The first four bytes are a four-letter word; the connection answers
    /// it and closes.
    FourLetterWord(&'static str),
    /// The handshake.
    Connect(ConnectRequest),
    /// A ping (answered by the reader itself, never queued).
    Ping { xid: i32 },
    /// Any other request frame: its header and the undecoded body.
    Request { xid: i32, op: i32, body: Bytes },
}

/// Why a connection is closed without an answer, as ZooKeeper does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A length prefix below 0 (or 0 for the ConnectRequest) or above
    /// jute.maxbuffer.
    FrameLength(i32),
    /// A ConnectRequest that does not decode.
    MalformedConnect(DecodeError),
    /// A request frame shorter than the 8-byte request header.
    ShortFrame(usize),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::FrameLength(len) => write!(
                f,
                "frame length {len} out of range (jute.maxbuffer); closing"
            ),
            Refusal::MalformedConnect(e) => write!(f, "malformed ConnectRequest ({e}); closing"),
            Refusal::ShortFrame(n) => {
                write!(
                    f,
                    "frame of {n} bytes is shorter than a request header; closing"
                )
            }
        }
    }
}

impl Inbound {
    pub fn new(max_frame: usize) -> Inbound {
        Inbound {
            buf: BytesMut::new(),
            phase: Phase::Start,
            max_frame,
        }
    }

    /// Appends received bytes.
    pub fn extend(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The buffer to read the socket into.
    pub fn buffer(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// Bytes received and not consumed by an event.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// True once the ConnectRequest has been taken.
    pub fn in_session(&self) -> bool {
        self.phase == Phase::Session
    }

    /// What was received after the last event (a four-letter word's
    /// argument, say).
    pub fn into_rest(self) -> Bytes {
        self.buf.freeze()
    }

    /// The next event; `Ok(None)` when more bytes are needed (or after a
    /// four-letter word, when nothing more is read). After an error the
    /// connection must close; later calls return `Ok(None)`.
    pub fn next_event(&mut self) -> Result<Option<Event>, Refusal> {
        let r = self.step();
        if r.is_err() {
            self.phase = Phase::Done;
        }
        r
    }

    fn step(&mut self) -> Result<Option<Event>, Refusal> {
        match self.phase {
            Phase::Done => Ok(None),
            Phase::Start => {
                let Some(first) = self.buf.get(..4) else {
                    return Ok(None);
                };
                let first: [u8; 4] = first.try_into().expect("4 bytes");
                if let Some(word) = fourlw::recognize(&first) {
                    let _ = self.buf.split_to(4);
                    self.phase = Phase::Done;
                    return Ok(Some(Event::FourLetterWord(word)));
                }
                // A ConnectRequest is never empty.
                if i32::from_be_bytes(first) == 0 {
                    return Err(Refusal::FrameLength(0));
                }
                self.phase = Phase::Connect;
                self.step()
            }
            Phase::Connect => {
                let Some(body) = self.frame()? else {
                    return Ok(None);
                };
                let req = ConnectRequest::decode(body).map_err(Refusal::MalformedConnect)?;
                self.phase = Phase::Session;
                Ok(Some(Event::Connect(req)))
            }
            Phase::Session => {
                let Some(body) = self.frame()? else {
                    return Ok(None);
                };
                if body.len() < 8 {
                    return Err(Refusal::ShortFrame(body.len()));
                }
                let xid = i32::from_be_bytes(body[0..4].try_into().expect("4 bytes"));
                let op = i32::from_be_bytes(body[4..8].try_into().expect("4 bytes"));
                if op == jute::OpCode::Ping as i32 {
                    return Ok(Some(Event::Ping { xid }));
                }
                Ok(Some(Event::Request {
                    xid,
                    op,
                    body: body.slice(8..),
                }))
            }
        }
    }

    fn frame(&mut self) -> Result<Option<Bytes>, Refusal> {
        jute::frame::split_frame(&mut self.buf, self.max_frame).map_err(|_| {
            let len = i32::from_be_bytes(self.buf[..4].try_into().expect("4 bytes"));
            Refusal::FrameLength(len)
        })
    }

    /// Reads what the socket has into the buffer; 0 at end of stream.
    /// (`split_frame` has already reserved room for a frame under way.)
    async fn fill<R: AsyncRead + Unpin + ?Sized>(&mut self, rd: &mut R) -> std::io::Result<usize> {
        self.buf.reserve(READ_CHUNK);
        rd.read_buf(&mut self.buf).await
    }
}

/// The pure part of the handshake's answer: the ConnectResponse frame. The
/// readOnly byte is echoed only to clients that sent one (3.4+ clients);
/// zoe is never read-only.
pub fn connect_response(
    req: &ConnectRequest,
    session_id: i64,
    timeout_ms: i32,
    password: Bytes,
) -> Bytes {
    let resp = ConnectResponse {
        protocol_version: 0,
        time_out: timeout_ms,
        session_id,
        passwd: Some(password),
        read_only: req.read_only.map(|_| false),
    };
    let mut out = BytesMut::new();
    jute::frame::record(&mut out, &resp);
    out.freeze()
}

pub async fn serve(socket: TcpStream, peer: SocketAddr, server: Arc<Server>) {
    let _ = socket.set_nodelay(true);
    let (rd, wr) = socket.into_split();
    serve_split(Box::new(rd), Box::new(wr), peer, server, false).await
}

/// A client connection over any byte stream (the secure port's TLS).
pub async fn serve_stream<S>(stream: S, peer: SocketAddr, server: Arc<Server>, secure: bool)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (rd, wr) = tokio::io::split(stream);
    serve_split(Box::new(rd), Box::new(wr), peer, server, secure).await
}

/// Reads until the first event: a four-letter word or the ConnectRequest.
/// The whole of it must arrive within the sessionless timeout, counted
/// from when the connection was accepted.
async fn first_event(
    rd: &mut BoxRead,
    inbound: &mut Inbound,
    timeout: Duration,
    peer: SocketAddr,
) -> Option<Event> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match inbound.next_event() {
            Ok(Some(ev)) => return Some(ev),
            Ok(None) => {}
            Err(refusal) => {
                info!(%peer, "{refusal}");
                return None;
            }
        }
        match tokio::time::timeout_at(deadline, inbound.fill(rd)).await {
            Ok(Ok(n)) if n > 0 => {}
            Ok(_) => return None,
            Err(_) => {
                info!(
                    %peer,
                    timeout_ms = timeout.as_millis() as u64,
                    buffered = inbound.buffered(),
                    "no complete handshake within the sessionless timeout; closing"
                );
                return None;
            }
        }
    }
}

async fn serve_split(
    mut rd: BoxRead,
    wr: BoxWrite,
    peer: SocketAddr,
    server: Arc<Server>,
    secure: bool,
) {
    let mut inbound = Inbound::new(server.config.max_frame);
    let timeout = server.config.sessionless_timeout;
    let req = match first_event(&mut rd, &mut inbound, timeout, peer).await {
        Some(Event::FourLetterWord(word)) => {
            let rest = inbound.into_rest();
            let mut rd = (&rest[..]).chain(rd);
            fourlw::answer(word, &mut rd, wr, &server, peer).await;
            return;
        }
        Some(Event::Connect(req)) => req,
        Some(other) => {
            // Inbound yields nothing else before the handshake.
            warn!(%peer, event = ?other, "unexpected event before the handshake; closing");
            return;
        }
        None => return,
    };
    let started = Instant::now();
    let (tx, rx) = Outbound::channel(server.config.max_outbound_bytes);
    let ip = jute::Id {
        scheme: "ip".into(),
        id: peer.ip().to_string(),
    };
    let stats = Arc::new(ConnStats::new(peer, secure));
    stats.received();
    let conn_id = server
        .conns
        .register_with_stats(tx.clone(), vec![ip], Some(stats.clone()));
    let writer = tokio::spawn(write_loop(wr, rx, stats.clone()));
    let session = handshake(&server, &req, conn_id, peer, &tx).await;
    if let Some((session_id, timeout_ms, record_rev)) = session {
        stats.set_session(session_id, timeout_ms);
        stats.done(jute::OpCode::CreateSession as i32, -1, started, false);
        let handler = Handler::new(
            server.clone(),
            conn_id,
            session_id,
            record_rev,
            peer,
            tx.clone(),
        );
        let conn = Reader {
            server: &server,
            session_id,
            timeout_ms,
            peer,
            tx: &tx,
            stats: &stats,
        };
        conn.run(rd, inbound, handler).await;
        server.sessions.detach(session_id, conn_id);
    }
    server.conns.unregister(conn_id);
    server.replica.read().watches.lock().remove_conn(conn_id);
    tx.close();
    drop(tx);
    let _ = writer.await;
}

/// Establishes or resumes the session. Returns (session id, timeout, the
/// session record's revision) when the client may proceed.
async fn handshake(
    server: &Arc<Server>,
    req: &ConnectRequest,
    conn: ConnId,
    peer: SocketAddr,
    tx: &Outbound,
) -> Option<(i64, i32, i64)> {
    if !server.sessions.serving() {
        info!(%peer, "not serving while etcd is unreachable; closing");
        return None;
    }
    // A client that saw a newer zxid elsewhere waits here until this
    // replica has caught up, instead of being refused.
    if req.last_zxid_seen > server.replica.revision() {
        let wait = Duration::from_millis(server.sessions.config().max_timeout_ms as u64);
        if !server.replica.wait_for(req.last_zxid_seen, wait).await {
            info!(%peer, zxid = req.last_zxid_seen, "client is ahead of this replica; closing");
            return None;
        }
    }
    if req.session_id == 0 {
        match server.sessions.create(req.time_out, conn).await {
            Ok((id, password, timeout, record_rev)) => {
                tx.frame(connect_response(req, id, timeout, Bytes::from(password)));
                Some((id, timeout, record_rev))
            }
            Err(e) => {
                warn!(%peer, error = %e, "cannot create a session in etcd; closing");
                None
            }
        }
    } else {
        let password = req.passwd.clone().unwrap_or_default();
        match server
            .sessions
            .resume(req.session_id, &password, req.time_out, conn)
            .await
        {
            Ok(Resume::Ok {
                timeout_ms,
                password,
                record_rev,
            }) => {
                tx.frame(connect_response(
                    req,
                    req.session_id,
                    timeout_ms,
                    Bytes::from(password),
                ));
                Some((req.session_id, timeout_ms, record_rev))
            }
            Ok(Resume::Expired) => {
                debug!(%peer, session = format_args!("0x{:x}", req.session_id), "session expired or bad password");
                tx.frame(connect_response(req, 0, 0, Bytes::from_static(&[0; 16])));
                None
            }
            Err(e) => {
                warn!(%peer, error = %e, "cannot resume a session; closing");
                None
            }
        }
    }
}

/// A request read from the socket, on its way to the processor.
struct Queued {
    xid: i32,
    op: i32,
    body: Bytes,
    read_at: Instant,
    permit: Permit,
}

/// The reading side of an established session's connection.
struct Reader<'a> {
    server: &'a Arc<Server>,
    session_id: i64,
    timeout_ms: i32,
    peer: SocketAddr,
    tx: &'a Outbound,
    stats: &'a Arc<ConnStats>,
}

impl Reader<'_> {
    async fn run(&self, mut rd: BoxRead, mut inbound: Inbound, handler: Handler) {
        let (req_tx, mut req_rx) = mpsc::unbounded_channel::<Queued>();
        let done_stats = self.stats.clone();
        let processor = tokio::spawn(async move {
            let mut handler = handler;
            while let Some(q) = req_rx.recv().await {
                let keep = handler.handle(q.xid, q.op, q.body, q.permit).await;
                done_stats.done(q.op, q.xid, q.read_at, true);
                if !keep {
                    break;
                }
            }
            handler.finish();
        });
        // The requests read and not yet answered; each holds a permit
        // until its reply is handed to the socket. With none left, the
        // socket is not read (the unbounded queue above never holds more
        // than this many).
        let outstanding = Arc::new(Semaphore::new(self.server.config.max_outstanding));
        let session = format_args!("0x{:x}", self.session_id).to_string();
        // A client that sends nothing for twice its session timeout is
        // gone; the session tracker expires it, this just frees the
        // socket. Any bytes count, so a frame sent slowly still arrives.
        let idle = Duration::from_millis(self.timeout_ms.max(1) as u64 * 2);
        let peer = self.peer;
        loop {
            let event = match inbound.next_event() {
                Ok(Some(ev)) => ev,
                Ok(None) => {
                    let read = tokio::select! {
                        r = tokio::time::timeout(idle, inbound.fill(&mut rd)) => r,
                        // Closed by the session's end (which a client
                        // stalled half-way through a frame also meets),
                        // by a newer connection, or by a write error.
                        _ = self.tx.closed() => break,
                    };
                    match read {
                        Ok(Ok(n)) if n > 0 => continue,
                        Ok(Ok(_)) => {
                            if inbound.buffered() > 0 {
                                debug!(%peer, session, buffered = inbound.buffered(), "connection closed in the middle of a frame");
                            }
                            break;
                        }
                        Ok(Err(e)) => {
                            debug!(%peer, session, error = %e, "read failed");
                            break;
                        }
                        Err(_) => {
                            info!(%peer, session, "nothing received for twice the session timeout; closing");
                            break;
                        }
                    }
                }
                Err(refusal) => {
                    info!(%peer, session, "{refusal}");
                    break;
                }
            };
            let permit = match outstanding.clone().try_acquire_owned() {
                Ok(p) => p,
                Err(_) => {
                    debug!(
                        %peer,
                        session,
                        limit = self.server.config.max_outstanding,
                        "outstanding request limit reached; not reading until replies go out"
                    );
                    tokio::select! {
                        p = outstanding.clone().acquire_owned() => p.expect("the semaphore is never closed"),
                        _ = self.tx.closed() => break,
                    }
                }
            };
            let read_at = Instant::now();
            self.stats.received();
            match event {
                Event::Ping { xid } => {
                    // Pings bypass the pipeline so a slow write never makes
                    // a client think the server is gone.
                    if !self.server.sessions.touch(self.session_id) {
                        break;
                    }
                    let header = ReplyHeader {
                        xid: jute::xid::PING,
                        zxid: self.server.replica.revision(),
                        err: 0,
                    };
                    self.tx.reply(frame(&header, None), permit);
                    self.stats
                        .done(jute::OpCode::Ping as i32, xid, read_at, false);
                }
                Event::Request { xid, op, body } => {
                    self.stats.queued();
                    let q = Queued {
                        xid,
                        op,
                        body,
                        read_at,
                        permit,
                    };
                    if req_tx.send(q).is_err() {
                        break;
                    }
                }
                Event::FourLetterWord(_) | Event::Connect(_) => {
                    // Inbound yields neither once in session.
                    warn!(%peer, session, event = ?event, "unexpected event in session; closing");
                    break;
                }
            }
        }
        drop(req_tx);
        let _ = processor.await;
    }
}

async fn write_loop(wr: BoxWrite, mut rx: OutboundRx, stats: Arc<ConnStats>) {
    let mut w = BufWriter::with_capacity(64 * 1024, wr);
    // The first frame is the ConnectResponse, which has no ReplyHeader.
    let mut first = true;
    'outer: while let Some(msg) = rx.recv().await {
        let mut next = Some(msg);
        while let Some(m) = next.take() {
            match m {
                Out::Frame(f, permit) => {
                    stats.sent(&f, !std::mem::replace(&mut first, false));
                    // A client that stops reading blocks this write; once
                    // the connection is closing it gets a grace period.
                    let written = tokio::select! {
                        r = w.write_all(&f) => r.is_ok(),
                        _ = rx.give_up() => false,
                    };
                    drop(permit);
                    if !written {
                        break 'outer;
                    }
                    rx.written(f.len());
                }
                Out::Close => {
                    tokio::select! {
                        _ = w.flush() => {}
                        _ = rx.give_up() => {}
                    }
                    break 'outer;
                }
            }
            next = rx.try_recv();
        }
        let flushed = tokio::select! {
            r = w.flush() => r.is_ok(),
            _ = rx.give_up() => false,
        };
        if !flushed {
            break;
        }
    }
    // Shutting down a socket whose peer does not read can block too.
    let _ = tokio::time::timeout(crate::conns::CLOSE_GRACE, w.shutdown()).await;
}

/// Maps a decoding failure to ZooKeeper's reaction.
pub fn decode_failure(e: &DecodeError) -> (i32, bool) {
    match e {
        // createSession is a known transaction type to ZooKeeper, which
        // then fails to read it as a request.
        DecodeError::UnknownOpcode(-10) => (jute::ErrorCode::MarshallingError as i32, false),
        DecodeError::UnknownOpcode(_) => (jute::ErrorCode::Unimplemented as i32, true),
        _ => (jute::ErrorCode::MarshallingError as i32, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connect_frame() -> Vec<u8> {
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            time_out: 30_000,
            session_id: 0,
            passwd: Some(Bytes::from_static(&[0; 16])),
            read_only: Some(false),
        };
        let mut out = BytesMut::new();
        jute::frame::record(&mut out, &req);
        out.to_vec()
    }

    fn request_frame(xid: i32, op: i32, body: &[u8]) -> Vec<u8> {
        let mut f = ((8 + body.len()) as i32).to_be_bytes().to_vec();
        f.extend_from_slice(&xid.to_be_bytes());
        f.extend_from_slice(&op.to_be_bytes());
        f.extend_from_slice(body);
        f
    }

    fn events(input: &[u8], piece: usize) -> (Vec<Event>, Option<Refusal>) {
        let mut inbound = Inbound::new(1000);
        let mut out = Vec::new();
        for chunk in input.chunks(piece) {
            inbound.extend(chunk);
            loop {
                match inbound.next_event() {
                    Ok(Some(e)) => out.push(e),
                    Ok(None) => break,
                    Err(r) => return (out, Some(r)),
                }
            }
        }
        (out, None)
    }

    #[test]
    fn events_do_not_depend_on_how_bytes_arrive() {
        let mut input = connect_frame();
        input.extend(request_frame(1, jute::OpCode::Ping as i32, &[]));
        input.extend(request_frame(2, 4, b"body"));
        let (whole, err) = events(&input, input.len());
        assert_eq!(err, None);
        assert_eq!(whole.len(), 3);
        assert!(matches!(whole[0], Event::Connect(ref c) if c.time_out == 30_000));
        assert_eq!(whole[1], Event::Ping { xid: 1 });
        assert_eq!(
            whole[2],
            Event::Request {
                xid: 2,
                op: 4,
                body: Bytes::from_static(b"body")
            }
        );
        for piece in 1..8 {
            assert_eq!(
                events(&input, piece),
                (whole.clone(), None),
                "pieces of {piece}"
            );
        }
    }

    #[test]
    fn four_letter_words_only_come_first() {
        let (ev, err) = events(b"ruokmore", 3);
        assert_eq!((ev, err), (vec![Event::FourLetterWord("ruok")], None));
        let mut inbound = Inbound::new(1000);
        inbound.extend(b"statxyz");
        assert_eq!(
            inbound.next_event(),
            Ok(Some(Event::FourLetterWord("stat")))
        );
        assert_eq!(inbound.next_event(), Ok(None));
        assert_eq!(&inbound.into_rest()[..], b"xyz");
        // In session the same bytes are a (too long) frame length.
        let mut input = connect_frame();
        input.extend(b"ruok");
        let (ev, err) = events(&input, 5);
        assert_eq!(ev.len(), 1);
        assert_eq!(
            err,
            Some(Refusal::FrameLength(i32::from_be_bytes(*b"ruok")))
        );
    }

    #[test]
    fn bad_lengths_and_short_frames_are_refused() {
        assert_eq!(events(&[0, 0, 0, 0], 4).1, Some(Refusal::FrameLength(0)));
        assert_eq!(events(&[0xff; 4], 4).1, Some(Refusal::FrameLength(-1)));
        assert_eq!(
            events(&[0, 0, 3, 0xe9], 4).1,
            Some(Refusal::FrameLength(1001))
        );
        assert!(matches!(
            events(&[0, 0, 0, 2, 1, 2], 6).1,
            Some(Refusal::MalformedConnect(_))
        ));
        let mut input = connect_frame();
        input.extend([0, 0, 0, 7, 1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(events(&input, 3).1, Some(Refusal::ShortFrame(7)));
        // An empty request frame is short too, not a ping.
        let mut input = connect_frame();
        input.extend([0, 0, 0, 0]);
        assert_eq!(events(&input, 64).1, Some(Refusal::ShortFrame(0)));
    }

    #[test]
    fn connect_response_echoes_the_read_only_byte_only_when_sent() {
        let mut req = ConnectRequest::default();
        let with = connect_response(&req, 5, 4000, Bytes::from_static(&[1; 16]));
        assert_eq!(with.len(), 4 + 36);
        req.read_only = Some(true);
        let without = connect_response(&req, 5, 4000, Bytes::from_static(&[1; 16]));
        assert_eq!(without.len(), 4 + 37);
        assert_eq!(without[40], 0, "zoe is never read-only");
    }
}
