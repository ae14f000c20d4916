//! Hostile and malformed input against a real zoe on a real etcd: every
//! case gets ZooKeeper's answer (an error code, or that one connection
//! closed), zoe stays up, and a well-behaved session on the side keeps
//! working throughout.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use jute::{CreateRequest, ErrorCode, GetDataRequest, Record, ReplyHeader, Request};
use support::{EtcdServer, Zoe};

struct Raw {
    s: TcpStream,
}

impl Raw {
    fn connect(addr: &str) -> Raw {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut r = Raw { s };
        let mut hs = Vec::new();
        hs.extend_from_slice(&0i32.to_be_bytes());
        hs.extend_from_slice(&0i64.to_be_bytes());
        hs.extend_from_slice(&10_000i32.to_be_bytes());
        hs.extend_from_slice(&0i64.to_be_bytes());
        hs.extend_from_slice(&16i32.to_be_bytes());
        hs.extend_from_slice(&[0u8; 16]);
        hs.push(0);
        r.send_frame(&hs);
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
