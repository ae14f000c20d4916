//! One client connection: framing, handshake, the request pipeline and the
//! ordered reply queue.
//!
//! socket → reader (frames, pings answered at once) → processor (requests
//! in arrival order, one at a time, so a session never reads older state
//! than its own last write) → outbound queue ← notifications → writer →
//! socket.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use jute::{ConnectRequest, ConnectResponse, DecodeError, Record, ReplyHeader, Request};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::conns::{frame, Out, Outbound, OutboundRx};
use crate::fourlw;
use crate::ops::Handler;
use crate::server::Server;
use crate::session::Resume;
use crate::stats::ConnStats;
use crate::watches::ConnId;

/// The read and write halves of a client's byte stream (TCP or TLS).
pub type BoxRead = Box<dyn AsyncRead + Send + Unpin>;
pub type BoxWrite = Box<dyn AsyncWrite + Send + Unpin>;

/// How long a connection may stay without sending its ConnectRequest.
const SESSIONLESS_TIMEOUT: Duration = Duration::from_secs(10);

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

async fn serve_split(
    mut rd: BoxRead,
    wr: BoxWrite,
    peer: SocketAddr,
    server: Arc<Server>,
    secure: bool,
) {
    let mut first = [0u8; 4];
    match tokio::time::timeout(SESSIONLESS_TIMEOUT, rd.read_exact(&mut first)).await {
        Ok(Ok(_)) => {}
        _ => return,
    }
    if let Some(word) = fourlw::recognize(&first) {
        fourlw::answer(word, &mut rd, wr, &server, peer).await;
        return;
    }
    let started = Instant::now();
    let len = i32::from_be_bytes(first);
    if len <= 0 || len as usize > server.config.max_frame {
        info!(%peer, len, "connect frame length out of range; closing");
        return;
    }
    let mut body = vec![0u8; len as usize];
    if tokio::time::timeout(SESSIONLESS_TIMEOUT, rd.read_exact(&mut body))
        .await
        .map(|r| r.is_err())
        .unwrap_or(true)
    {
        return;
    }
    let req = match ConnectRequest::decode(Bytes::from(body)) {
        Ok(r) => r,
        Err(e) => {
            info!(%peer, error = ?e, "malformed ConnectRequest; closing");
            return;
        }
    };
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
        read_loop(
            rd, handler, &server, session_id, timeout_ms, peer, &tx, &stats,
        )
        .await;
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
    let send = |resp: ConnectResponse| {
        let mut out = BytesMut::new();
        out.extend_from_slice(&[0; 4]);
        resp.write(&mut out);
        let len = (out.len() - 4) as u32;
        out[..4].copy_from_slice(&len.to_be_bytes());
        tx.frame(out.freeze());
    };
    let read_only = req.read_only.map(|_| false);
    if req.session_id == 0 {
        match server.sessions.create(req.time_out, conn).await {
            Ok((id, password, timeout, record_rev)) => {
                send(ConnectResponse {
                    protocol_version: 0,
                    time_out: timeout,
                    session_id: id,
                    passwd: Some(Bytes::from(password)),
                    read_only,
                });
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
                send(ConnectResponse {
                    protocol_version: 0,
                    time_out: timeout_ms,
                    session_id: req.session_id,
                    passwd: Some(Bytes::from(password)),
                    read_only,
                });
                Some((req.session_id, timeout_ms, record_rev))
            }
            Ok(Resume::Expired) => {
                debug!(%peer, session = format_args!("0x{:x}", req.session_id), "session expired or bad password");
                send(ConnectResponse {
                    protocol_version: 0,
                    time_out: 0,
                    session_id: 0,
                    passwd: Some(Bytes::from_static(&[0; 16])),
                    read_only,
                });
                None
            }
            Err(e) => {
                warn!(%peer, error = %e, "cannot resume a session; closing");
                None
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn read_loop(
    mut rd: BoxRead,
    handler: Handler,
    server: &Arc<Server>,
    session_id: i64,
    timeout_ms: i32,
    peer: SocketAddr,
    tx: &Outbound,
    stats: &Arc<ConnStats>,
) {
    let (req_tx, mut req_rx) = mpsc::channel::<(i32, i32, Bytes, Instant)>(256);
    let done_stats = stats.clone();
    let processor = tokio::spawn(async move {
        let mut handler = handler;
        while let Some((xid, op, body, read_at)) = req_rx.recv().await {
            let keep = handler.handle(xid, op, body).await;
            done_stats.done(op, xid, read_at, true);
            if !keep {
                break;
            }
        }
        handler.finish();
    });
    // A client that sends nothing for its whole session timeout is gone;
    // the session tracker expires it, this just frees the socket.
    let idle = Duration::from_millis(timeout_ms.max(1) as u64 * 2);
    let max = server.config.max_frame;
    loop {
        let mut len_buf = [0u8; 4];
        let read = tokio::select! {
            r = tokio::time::timeout(idle, rd.read_exact(&mut len_buf)) => r,
            _ = tx.closed() => break,
        };
        match read {
            Ok(Ok(_)) => {}
            _ => break,
        }
        let len = i32::from_be_bytes(len_buf);
        if len < 0 || len as usize > max {
            info!(%peer, session = format_args!("0x{session_id:x}"), len, "frame length out of range (jute.maxbuffer); closing");
            break;
        }
        let mut body = vec![0u8; len as usize];
        if rd.read_exact(&mut body).await.is_err() {
            break;
        }
        let read_at = Instant::now();
        stats.received();
        if body.len() < 8 {
            info!(%peer, "frame shorter than a request header; closing");
            break;
        }
        let xid = i32::from_be_bytes(body[0..4].try_into().expect("4 bytes"));
        let op = i32::from_be_bytes(body[4..8].try_into().expect("4 bytes"));
        if op == jute::OpCode::Ping as i32 {
            // Pings bypass the pipeline so a slow write never makes a
            // client think the server is gone.
            if !server.sessions.touch(session_id) {
                break;
            }
            let header = ReplyHeader {
                xid: jute::xid::PING,
                zxid: server.replica.revision(),
                err: 0,
            };
            tx.frame(frame(&header, None));
            stats.done(op, xid, read_at, false);
            continue;
        }
        let body = Bytes::from(body).slice(8..);
        stats.queued();
        if req_tx.send((xid, op, body, read_at)).await.is_err() {
            break;
        }
    }
    drop(req_tx);
    let _ = processor.await;
}

async fn write_loop(wr: BoxWrite, mut rx: OutboundRx, stats: Arc<ConnStats>) {
    let mut w = BufWriter::with_capacity(64 * 1024, wr);
    // The first frame is the ConnectResponse, which has no ReplyHeader.
    let mut first = true;
    'outer: while let Some(msg) = rx.recv().await {
        let mut next = Some(msg);
        while let Some(m) = next.take() {
            match m {
                Out::Frame(f) => {
                    stats.sent(&f, !std::mem::replace(&mut first, false));
                    if w.write_all(&f).await.is_err() {
                        break 'outer;
                    }
                    rx.written(f.len());
                }
                Out::Close => {
                    let _ = w.flush().await;
                    break 'outer;
                }
            }
            next = rx.try_recv();
        }
        if w.flush().await.is_err() {
            break;
        }
    }
    let _ = w.shutdown().await;
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

/// Decodes a request body (helper for the handler).
pub fn decode(op: i32, body: Bytes) -> Result<Request, DecodeError> {
    Request::decode(op, body)
}
