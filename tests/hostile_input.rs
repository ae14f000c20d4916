//! Hostile and malformed input against a real zoe on a real etcd: every
//! case gets ZooKeeper's answer (an error code, or that one connection
//! closed), zoe stays up, and a well-behaved session on the side keeps
//! working throughout.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use jute::{
    AddWatchRequest, CreateRequest, ErrorCode, ExistsRequest, GetDataRequest, Record, ReplyHeader,
    Request, SetWatches,
};
use support::{four_letter_word, unique_prefix, wait_for, EtcdServer, Zoe};

struct Raw {
    s: TcpStream,
}

/// A ConnectRequest body asking for a new session with `timeout_ms`.
fn connect_request(timeout_ms: i32) -> Vec<u8> {
    let mut hs = Vec::new();
    hs.extend_from_slice(&0i32.to_be_bytes());
    hs.extend_from_slice(&0i64.to_be_bytes());
    hs.extend_from_slice(&timeout_ms.to_be_bytes());
    hs.extend_from_slice(&0i64.to_be_bytes());
    hs.extend_from_slice(&16i32.to_be_bytes());
    hs.extend_from_slice(&[0u8; 16]);
    hs.push(0);
    hs
}

impl Raw {
    fn connect(addr: &str) -> Raw {
        Raw::connect_with_timeout(addr, 10_000)
    }

    fn connect_with_timeout(addr: &str, timeout_ms: i32) -> Raw {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut r = Raw { s };
        r.send_frame(&connect_request(timeout_ms));
        let body = r.read_frame().expect("ConnectResponse");
        assert_eq!(body.len(), 37, "ConnectResponse with readOnly byte");
        r
    }

    fn send_frame(&mut self, body: &[u8]) {
        let mut f = (body.len() as i32).to_be_bytes().to_vec();
        f.extend_from_slice(body);
        self.s.write_all(&f).expect("write");
    }

    fn read_frame(&mut self) -> Option<Vec<u8>> {
        let mut len = [0u8; 4];
        self.s.read_exact(&mut len).ok()?;
        let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
        self.s.read_exact(&mut body).ok()?;
        Some(body)
    }

    /// Reads replies until one with `xid` (skipping notifications).
    fn reply(&mut self, xid: i32) -> Option<(ReplyHeader, Bytes)> {
        loop {
            let body = Bytes::from(self.read_frame()?);
            let h = ReplyHeader::decode(body.clone()).expect("reply header");
            if h.xid == xid {
                return Some((h, body.slice(16..)));
            }
        }
    }

    fn request(&mut self, xid: i32, op: i32, body: &[u8]) -> Option<(ReplyHeader, Bytes)> {
        let mut f = Vec::new();
        f.extend_from_slice(&xid.to_be_bytes());
        f.extend_from_slice(&op.to_be_bytes());
        f.extend_from_slice(body);
        self.send_frame(&f);
        self.reply(xid)
    }

    fn send(&mut self, xid: i32, req: &Request) -> Option<(ReplyHeader, Bytes)> {
        let mut b = BytesMut::new();
        req.encode(&mut b);
        self.request(xid, req.opcode() as i32, &b)
    }

    /// True once the server has closed the connection.
    fn closed(&mut self) -> bool {
        let mut buf = [0u8; 64];
        loop {
            match self.s.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return false,
                Err(_) => return true,
            }
        }
    }
}

fn create(path: &str, data: &[u8]) -> Request {
    Request::Create(CreateRequest {
        path: path.into(),
        data: Some(Bytes::copy_from_slice(data)),
        acl: jute::Acl::open_acl_unsafe(),
        flags: 0,
    })
}

fn get(path: &str) -> Request {
    Request::GetData(GetDataRequest {
        path: path.into(),
        watch: false,
    })
}

#[test]
fn hostile_input_gets_zookeeper_answers_and_hurts_nobody() {
    let etcd = EtcdServer::start();
    let zoe = Zoe::start(&etcd);
    let addr = zoe.addr();

    let mut good = Raw::connect(&addr);
    let (h, _) = good.send(1, &create("/good", b"v")).unwrap();
    assert_eq!(h.err, 0);

    // A known opcode with a garbage body: MARSHALLINGERROR, connection open.
    let mut c = Raw::connect(&addr);
    let (h, _) = c.request(1, 4, &[0xff, 0xff, 0xff, 0x00]).unwrap();
    assert_eq!(h.err, ErrorCode::MarshallingError as i32);
    let (h, _) = c.send(2, &get("/good")).unwrap();
    assert_eq!(h.err, 0, "connection stays usable after MARSHALLINGERROR");

    // A vector count of 2^31-1 in an ACL list: refused without allocating.
    let mut body = BytesMut::new();
    jute::write_ustring(&mut body, "/huge");
    jute::write_buffer(&mut body, Some(b"x"));
    jute::write_i32(&mut body, i32::MAX);
    let (h, _) = c.request(3, 1, &body).unwrap();
    assert_eq!(h.err, ErrorCode::MarshallingError as i32);

    // Invalid paths: BADARGUMENTS (a missing parent is reported first, as
    // ZooKeeper does, so these all have an existing parent).
    for (i, p) in ["relative", "/good/", "/.", "/good/..", "/\u{1}", "/😀"]
        .iter()
        .enumerate()
    {
        let (h, _) = c.send(10 + i as i32, &create(p, b"")).unwrap();
        assert_eq!(h.err, ErrorCode::BadArguments as i32, "path {p:?}");
    }

    // An unknown opcode: UNIMPLEMENTED, then the connection closes.
    let mut c = Raw::connect(&addr);
    let (h, _) = c.request(7, 55, &[]).unwrap();
    assert_eq!(h.err, ErrorCode::Unimplemented as i32);
    assert!(c.closed(), "closed after UNIMPLEMENTED");

    // A frame longer than jute.maxbuffer: closed without a reply.
    let mut c = Raw::connect(&addr);
    c.s.write_all(&(2 * 1024 * 1024i32).to_be_bytes()).unwrap();
    let _ = c.s.write_all(&[0u8; 4096]);
    assert!(c.closed(), "closed after an oversized frame");

    // A negative length and a frame too short for a request header.
    let mut c = Raw::connect(&addr);
    c.s.write_all(&(-5i32).to_be_bytes()).unwrap();
    assert!(c.closed());
    let mut c = Raw::connect(&addr);
    c.send_frame(&[1, 2, 3]);
    assert!(c.closed());

    // A garbage ConnectRequest, and a truncated one followed by a hang-up.
    let mut s = TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(&[0, 0, 0, 3, 1, 2, 3]).unwrap();
    let mut buf = Vec::new();
    assert_eq!(s.read_to_end(&mut buf).unwrap_or(0), 0);
    let mut s = TcpStream::connect(&addr).unwrap();
    s.write_all(&[0, 0, 0, 45, 0, 0]).unwrap();
    drop(s);

    // Pure noise on a fresh connection.
    let mut s = TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let noise: Vec<u8> = (0..10_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let _ = s.write_all(&noise);
    let _ = s.read_to_end(&mut buf);

    // The good session never noticed.
    let (h, body) = good.send(2, &get("/good")).unwrap();
    assert_eq!(h.err, 0);
    let resp = jute::GetDataResponse::decode(body).unwrap();
    assert_eq!(resp.data.as_deref(), Some(&b"v"[..]));
    let (h, _) = good.send(3, &create("/good2", b"")).unwrap();
    assert_eq!(h.err, 0);
}

fn exists(path: &str, watch: bool) -> Request {
    Request::Exists(ExistsRequest {
        path: path.into(),
        watch,
    })
}

fn get_watch(path: &str) -> Request {
    Request::GetData(GetDataRequest {
        path: path.into(),
        watch: true,
    })
}

/// A log line without its terminal colours.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Waits (generously) for the server to close `s`; false if it stays open.
fn closed_within(s: &mut TcpStream, limit: Duration) -> bool {
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let deadline = Instant::now() + limit;
    let mut buf = [0u8; 256];
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                continue
            }
            Err(_) => return true,
        }
    }
    false
}

/// jute.maxbuffer (`--max-frame`): a frame above it closes that connection
/// without a reply; one just below it is served; nobody else notices.
#[test]
fn oversized_frame_closes_only_that_connection() {
    let etcd = EtcdServer::start();
    let zoe = Zoe::start_with(
        &etcd.endpoint(),
        &unique_prefix("maxframe"),
        &["--max-frame", "4096"],
    );
    let addr = zoe.addr();
    let mut good = Raw::connect(&addr);
    let (h, _) = good.send(1, &create("/f", b"")).unwrap();
    assert_eq!(h.err, 0);

    // Just under the limit: a create whose frame body is 4096 bytes.
    let mut c = Raw::connect(&addr);
    let mut body = BytesMut::new();
    create("/f/fits", b"").encode(&mut body);
    let pad = 4096 - 8 - body.len();
    let (h, _) = c.send(1, &create("/f/fits", &vec![b'x'; pad])).unwrap();
    assert_eq!(h.err, 0, "a frame of exactly max-frame bytes is served");

    // One byte over: closed, no reply.
    let reply = c.send(2, &create("/f/over", &vec![b'x'; pad + 1]));
    assert!(reply.is_none(), "no reply to an oversized frame");
    assert!(c.closed(), "closed after an oversized frame");

    // An oversized ConnectRequest is refused the same way.
    let mut s = TcpStream::connect(&addr).unwrap();
    s.write_all(&5000i32.to_be_bytes()).unwrap();
    let _ = s.write_all(&[0u8; 5000]);
    assert!(closed_within(&mut s, Duration::from_secs(20)));

    let (h, body) = good.send(2, &get("/f/fits")).unwrap();
    assert_eq!(h.err, 0);
    assert_eq!(
        jute::GetDataResponse::decode(body)
            .unwrap()
            .data
            .unwrap()
            .len(),
        pad
    );
    wait_for(Duration::from_secs(10), "the log line", || {
        zoe.log_tail(100)
            .contains("out of range (jute.maxbuffer)")
            .then_some(())
    });
}

/// A client that pipelines requests without reading replies: zoe stops
/// reading its socket once max-outstanding requests are unanswered
/// (ZooKeeper's globalOutstandingLimit throttle), drops nothing, and
/// answers every request in order once the client reads again.
#[test]
fn pipelining_without_reading_is_throttled_not_dropped() {
    const MAX_OUTSTANDING: usize = 8;
    const REQUESTS: i32 = 5000;
    let etcd = EtcdServer::start();
    let zoe = Zoe::start_with(
        &etcd.endpoint(),
        &unique_prefix("outstanding"),
        &[
            "--max-outstanding",
            &MAX_OUTSTANDING.to_string(),
            "--four-letter-words",
            "cons",
            // Large enough that the replies queued while the client does
            // not read never close the connection: this is about reading.
            "--max-outbound-bytes",
            "1073741824",
        ],
    );
    let addr = zoe.addr();
    let mut good = Raw::connect_with_timeout(&addr, 40_000);
    // Replies of 64 KiB fill the socket buffers after a few hundred.
    let (h, _) = good
        .send(1, &create("/big", &vec![7u8; 64 * 1024]))
        .unwrap();
    assert_eq!(h.err, 0);

    // The session must outlive the stall: zoe reads none of its requests
    // (so nothing touches it) until the client reads again.
    let mut c = Raw::connect_with_timeout(&addr, 40_000);
    let port = c.s.local_addr().unwrap().port();
    let mut writer = c.s.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        let mut frames = Vec::new();
        for xid in 1..=REQUESTS {
            let mut b = BytesMut::new();
            b.extend_from_slice(&xid.to_be_bytes());
            b.extend_from_slice(&(jute::OpCode::GetData as i32).to_be_bytes());
            get("/big").encode(&mut b);
            frames.extend_from_slice(&(b.len() as i32).to_be_bytes());
            frames.extend_from_slice(&b);
        }
        // Blocks once zoe stops reading; finishes when the client reads.
        writer.write_all(&frames).expect("write pipelined requests");
    });

    // zoe's own counters for that connection (cons): it stops reading
    // with a bounded number of requests received, and never holds more
    // than MAX_OUTSTANDING of them unanswered.
    let cons = |addr: &str| -> Option<(u64, u64)> {
        let text = four_letter_word(addr, "cons").ok()?;
        let line = text.lines().find(|l| l.contains(&format!(":{port}[")))?;
        let field = |name: &str| -> Option<u64> {
            let start = line.find(&format!("{name}="))? + name.len() + 1;
            let rest = &line[start..];
            rest[..rest.find([',', ')'])?].parse().ok()
        };
        Some((field("queued")?, field("recved")?))
    };
    let mut last = None;
    let stalled = wait_for(Duration::from_secs(60), "reading to stall", || {
        let now = cons(&addr)?;
        let same = last == Some(now);
        last = Some(now);
        std::thread::sleep(Duration::from_millis(500));
        same.then_some(now)
    });
    let (queued, recved) = stalled;
    eprintln!("reading stalled with {queued} outstanding after {recved} of {REQUESTS} requests");
    assert!(
        queued <= MAX_OUTSTANDING as u64,
        "{queued} requests outstanding, limit {MAX_OUTSTANDING}"
    );
    assert!(
        recved < REQUESTS as u64 / 2,
        "zoe kept reading a client that does not read: {recved} of {REQUESTS} requests received"
    );

    // Meanwhile others are served.
    let (h, _) = good.send(2, &exists("/big", false)).unwrap();
    assert_eq!(h.err, 0);

    // Now read: every request gets its reply, in order.
    c.s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    for xid in 1..=REQUESTS {
        let body = Bytes::from(
            c.read_frame()
                .unwrap_or_else(|| panic!("reply {xid} missing")),
        );
        let h = ReplyHeader::decode(body).unwrap();
        assert_eq!((h.xid, h.err), (xid, 0), "reply out of order or failed");
    }
    sender.join().unwrap();
    let (h, _) = c.send(REQUESTS + 1, &exists("/big", false)).unwrap();
    assert_eq!(h.err, 0);
}

/// max-watches / max-watch-bytes: a request that would take a session past
/// them fails with QUOTAEXCEEDED and registers nothing; watches that fire
/// give their room back.
#[test]
fn watch_limits_refuse_with_quota_exceeded() {
    let etcd = EtcdServer::start();
    let zoe = Zoe::start_with(
        &etcd.endpoint(),
        &unique_prefix("watches"),
        &["--max-watches", "4", "--max-watch-bytes", "1000"],
    );
    let addr = zoe.addr();
    let mut c = Raw::connect(&addr);
    let (h, _) = c.send(1, &create("/w", b"")).unwrap();
    assert_eq!(h.err, 0);
    for (i, p) in ["/w/a", "/w/b", "/w/c"].iter().enumerate() {
        let (h, _) = c.send(10 + i as i32, &exists(p, true)).unwrap();
        assert_eq!(h.err, ErrorCode::NoNode as i32, "exists watch on {p}");
    }
    let (h, _) = c.send(20, &get_watch("/w")).unwrap();
    assert_eq!(h.err, 0, "the fourth watch fits");
    // A second kind of watch on a watched path costs nothing.
    let (h, _) = c
        .send(
            21,
            &Request::GetChildren(jute::GetChildrenRequest {
                path: "/w".into(),
                watch: true,
            }),
        )
        .unwrap();
    assert_eq!(h.err, 0);
    // The fifth path does not: every way of adding a watch is refused.
    let (h, _) = c.send(22, &exists("/w/d", true)).unwrap();
    assert_eq!(h.err, ErrorCode::QuotaExceeded as i32);
    let (h, _) = c.send(23, &get_watch("/")).unwrap();
    assert_eq!(h.err, ErrorCode::QuotaExceeded as i32);
    let add = Request::AddWatch(AddWatchRequest {
        path: "/w/e".into(),
        mode: jute::AddWatchMode::Persistent as i32,
    });
    let (h, _) = c.send(24, &add).unwrap();
    assert_eq!(h.err, ErrorCode::QuotaExceeded as i32);
    let set = Request::SetWatches(SetWatches {
        relative_zxid: 0,
        data_watches: vec![],
        exist_watches: vec!["/w/x".into(), "/w/y".into()],
        child_watches: vec![],
    });
    let (h, _) = c.send(25, &set).unwrap();
    assert_eq!(h.err, ErrorCode::QuotaExceeded as i32);
    // Without the watch the read itself is fine.
    let (h, _) = c.send(26, &exists("/w/d", false)).unwrap();
    assert_eq!(h.err, ErrorCode::NoNode as i32);

    // Creating /w/a fires its watch (another connection writes), which
    // frees one place.
    let mut other = Raw::connect(&addr);
    let (h, _) = other.send(1, &create("/w/a", b"")).unwrap();
    assert_eq!(h.err, 0);
    let body = Bytes::from(c.read_frame().expect("notification"));
    let n = ReplyHeader::decode(body).unwrap();
    assert_eq!(n.xid, jute::xid::NOTIFICATION);
    let (h, _) = c.send(30, &exists("/w/d", true)).unwrap();
    assert_eq!(
        h.err,
        ErrorCode::NoNode as i32,
        "room again after a watch fired"
    );

    // The byte limit: one long path on a fresh session.
    let mut d = Raw::connect(&addr);
    let long = format!("/{}", "x".repeat(1000));
    let (h, _) = d.send(1, &exists(&long, true)).unwrap();
    assert_eq!(h.err, ErrorCode::QuotaExceeded as i32);
    let (h, _) = d.send(2, &exists(&long[..999], true)).unwrap();
    assert_eq!(h.err, ErrorCode::NoNode as i32);
    wait_for(Duration::from_secs(10), "the log line", || {
        zoe.log_tail(100)
            .contains("watch limit reached")
            .then_some(())
    });
}

/// zookeeper.nio.sessionlessCnxnTimeout: a connection that does not
/// complete its handshake in time is closed — silent, stalled half-way
/// through the ConnectRequest, or trickling it a byte at a time. After the
/// handshake, a frame left half sent is closed when the session ends.
#[test]
fn stalled_handshakes_and_half_frames_are_closed() {
    let etcd = EtcdServer::start();
    let zoe = Zoe::start_with(
        &etcd.endpoint(),
        &unique_prefix("stall"),
        &[
            "--sessionless-cnxn-timeout",
            "1000",
            "--tick-time",
            "200",
            "--max-session-timeout",
            "60000",
        ],
    );
    let addr = zoe.addr();
    let mut good = Raw::connect_with_timeout(&addr, 60_000);
    let (h, _) = good.send(1, &create("/s", b"")).unwrap();
    assert_eq!(h.err, 0);

    // The log line below shows it was the configured 1 s that closed them.
    let limit = Duration::from_secs(30);
    let mut silent = TcpStream::connect(&addr).unwrap();
    let mut partial = TcpStream::connect(&addr).unwrap();
    let hs = connect_request(10_000);
    partial.write_all(&(hs.len() as i32).to_be_bytes()).unwrap();
    partial.write_all(&hs[..10]).unwrap();
    let mut trickle = TcpStream::connect(&addr).unwrap();
    let mut frame = (hs.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&hs);
    let trickled = std::thread::spawn(move || {
        // One byte every 200 ms: the whole request would take 9 s, and a
        // timeout restarted by every read (ZooKeeper's) would never fire.
        for b in frame {
            if trickle.write_all(&[b]).is_err() {
                return trickle;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        trickle
    });
    assert!(
        closed_within(&mut silent, limit),
        "silent connection stays open"
    );
    assert!(
        closed_within(&mut partial, limit),
        "half a ConnectRequest stays open"
    );
    let mut trickle = trickled.join().unwrap();
    assert!(
        closed_within(&mut trickle, Duration::from_secs(2)),
        "trickled handshake stays open"
    );

    // In session: half a request frame, then silence. The session (1 s
    // timeout) expires and its connection goes.
    let mut half = Raw::connect_with_timeout(&addr, 1000);
    half.s.write_all(&100i32.to_be_bytes()).unwrap();
    half.s.write_all(&[0u8; 10]).unwrap();
    assert!(
        closed_within(&mut half.s, Duration::from_secs(20)),
        "half a frame pins the connection"
    );

    let (h, _) = good.send(2, &exists("/s", false)).unwrap();
    assert_eq!(h.err, 0, "the good session never noticed");
    wait_for(Duration::from_secs(10), "the log line", || {
        zoe.log_tail(200)
            .lines()
            .map(strip_ansi)
            .any(|l| {
                l.contains("no complete handshake within the sessionless timeout")
                    && l.contains("timeout_ms=1000")
            })
            .then_some(())
    });
}

/// The same limit seen by a real client: kazoo raises QuotaExceededError.
#[test]
fn kazoo_sees_the_watch_limit_as_quota_exceeded() {
    let etcd = EtcdServer::start();
    let zoe = Zoe::start_with(
        &etcd.endpoint(),
        &unique_prefix("kazoo-watches"),
        &["--max-watches", "3"],
    );
    let out = support::kazoo(&zoe.addr(), "zoe_watch_limit.py");
    assert!(
        out.stdout.contains("1 passed"),
        "pytest did not report the test as passed\n{}",
        out.describe()
    );
}
