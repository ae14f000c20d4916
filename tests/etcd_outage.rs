//! etcd unreachable for a while (its process paused): zoe behaves like a
//! ZooKeeper server that lost quorum — it closes client connections and
//! refuses new ones, so clients see a connection loss, never a wrong
//! answer — and when etcd is back the same session resumes with its
//! ephemeral intact.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use jute::{CreateRequest, GetDataRequest, Record, ReplyHeader, Request};
use support::{EtcdServer, Zoe};

fn connect(addr: &str, session: i64, password: &[u8]) -> Option<(TcpStream, i64, Vec<u8>)> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut hs = Vec::new();
    hs.extend_from_slice(&0i32.to_be_bytes());
    hs.extend_from_slice(&0i64.to_be_bytes());
    hs.extend_from_slice(&10_000i32.to_be_bytes());
    hs.extend_from_slice(&session.to_be_bytes());
    hs.extend_from_slice(&16i32.to_be_bytes());
    hs.extend_from_slice(password);
    hs.push(0);
    let mut f = (hs.len() as i32).to_be_bytes().to_vec();
    f.extend_from_slice(&hs);
    s.write_all(&f).ok()?;
    let body = read_frame(&mut s)?;
    let timeout = i32::from_be_bytes(body[4..8].try_into().unwrap());
    let id = i64::from_be_bytes(body[8..16].try_into().unwrap());
    if timeout <= 0 {
        return None;
    }
    Some((s, id, body[20..36].to_vec()))
}

fn read_frame(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).ok()?;
    let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
    s.read_exact(&mut body).ok()?;
    Some(body)
}

fn request(s: &mut TcpStream, xid: i32, req: &Request) -> Option<ReplyHeader> {
    let mut b = BytesMut::new();
    b.extend_from_slice(&xid.to_be_bytes());
    b.extend_from_slice(&(req.opcode() as i32).to_be_bytes());
    req.encode(&mut b);
    let mut f = (b.len() as i32).to_be_bytes().to_vec();
    f.extend_from_slice(&b);
    s.write_all(&f).ok()?;
    loop {
        let body = read_frame(s)?;
        let h = ReplyHeader::decode(Bytes::from(body)).ok()?;
        if h.xid == xid {
            return Some(h);
        }
    }
}

#[test]
fn etcd_outage_is_a_connection_loss_then_the_session_resumes() {
    let etcd = EtcdServer::start();
    let zoe = Zoe::start(&etcd);
    let addr = zoe.addr();
    let (mut s, id, pw) = connect(&addr, 0, &[0; 16]).expect("session");
    let create = Request::Create(CreateRequest {
        path: "/eph".into(),
        data: Some(Bytes::from_static(b"x")),
        acl: jute::Acl::open_acl_unsafe(),
        flags: 1,
    });
    assert_eq!(request(&mut s, 1, &create).unwrap().err, 0);

    let pid = etcd.pid().expect("etcd pid");
    support::signal(pid, "STOP");
    // zoe notices within a few probes and drops the connection.
    let start = Instant::now();
    let mut buf = [0u8; 64];
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let closed = loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break true,
            Ok(_) => continue,
        }
    };
    assert!(closed && start.elapsed() < Duration::from_secs(15));
    // New clients are turned away while etcd is gone.
    assert!(connect(&addr, id, &pw).is_none());
    support::signal(pid, "CONT");

    // Back: the same session resumes and still owns its ephemeral.
    let deadline = Instant::now() + Duration::from_secs(15);
    let (mut s, resumed, _) = loop {
        if let Some(c) = connect(&addr, id, &pw) {
            break c;
        }
        assert!(Instant::now() < deadline, "session did not resume");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(resumed, id);
    let get = Request::GetData(GetDataRequest {
        path: "/eph".into(),
        watch: false,
    });
    assert_eq!(request(&mut s, 2, &get).unwrap().err, 0);
}
