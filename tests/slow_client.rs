//! A client that stops reading its socket while replies and notifications
//! pile up: zoe bounds what it queues for that connection and closes it,
//! and other sessions carry on unaffected.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use jute::{
    AddWatchRequest, CreateRequest, GetDataRequest, Record, ReplyHeader, Request, SetDataRequest,
};
use support::{EtcdServer, Zoe};

fn open(addr: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut hs = Vec::new();
    hs.extend_from_slice(&0i32.to_be_bytes());
    hs.extend_from_slice(&0i64.to_be_bytes());
    hs.extend_from_slice(&30_000i32.to_be_bytes());
    hs.extend_from_slice(&0i64.to_be_bytes());
    hs.extend_from_slice(&16i32.to_be_bytes());
    hs.extend_from_slice(&[0u8; 16]);
    hs.push(0);
    let mut f = (hs.len() as i32).to_be_bytes().to_vec();
    f.extend_from_slice(&hs);
    s.write_all(&f).unwrap();
    read_frame(&mut s).expect("ConnectResponse");
    s
}

fn read_frame(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).ok()?;
    let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
    s.read_exact(&mut body).ok()?;
    Some(body)
}

fn send(s: &mut TcpStream, xid: i32, req: &Request) -> bool {
    let mut b = BytesMut::new();
    b.extend_from_slice(&xid.to_be_bytes());
    b.extend_from_slice(&(req.opcode() as i32).to_be_bytes());
    req.encode(&mut b);
    let mut f = (b.len() as i32).to_be_bytes().to_vec();
    f.extend_from_slice(&b);
    s.write_all(&f).is_ok()
}

fn call(s: &mut TcpStream, xid: i32, req: &Request) -> ReplyHeader {
    assert!(send(s, xid, req));
    loop {
        let h = ReplyHeader::decode(Bytes::from(read_frame(s).expect("reply"))).unwrap();
        if h.xid == xid {
            return h;
        }
    }
}

#[test]
fn a_client_that_stops_reading_is_cut_off_alone() {
    let etcd = EtcdServer::start();
    let zoe = Zoe::start_with(
        &etcd.endpoint(),
        &support::unique_prefix("slow"),
        &["--max-outbound-bytes", "4194304"],
    );
    let addr = zoe.addr();
    let mut good = open(&addr);
    let big = Bytes::from(vec![7u8; 500_000]);
    let create = Request::Create(CreateRequest {
        path: "/big".into(),
        data: Some(big),
        acl: jute::Acl::open_acl_unsafe(),
        flags: 0,
    });
    assert_eq!(call(&mut good, 1, &create).err, 0);
    // The storm changes another node, so every read of /big stays large
    // whenever zoe gets to it.
    let storm = Request::Create(CreateRequest {
        path: "/storm".into(),
        data: None,
        acl: jute::Acl::open_acl_unsafe(),
        flags: 0,
    });
    assert_eq!(call(&mut good, 2, &storm).err, 0);

    // The stalled client: a recursive watch on / (a watch storm follows)
    // and a flood of large reads, and it never reads a byte.
    let mut slow = open(&addr);
    assert!(send(
        &mut slow,
        1,
        &Request::AddWatch(AddWatchRequest {
            path: "/".into(),
            mode: 1,
        })
    ));
    let get = Request::GetData(GetDataRequest {
        path: "/big".into(),
        watch: false,
    });
    slow.set_write_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    for xid in 2..400 {
        if !send(&mut slow, xid, &get) {
            break;
        }
    }
    for i in 0..200 {
        let set = Request::SetData(SetDataRequest {
            path: "/storm".into(),
            data: Some(Bytes::from(format!("v{i}"))),
            version: -1,
        });
        assert_eq!(
            call(&mut good, 10 + i, &set).err,
            0,
            "the good session is unaffected"
        );
    }

    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = std::fs::read_to_string(zoe.log_path()).unwrap_or_default();
        if log.contains("not reading its replies") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "zoe never cut the stalled client off:\n{}",
            zoe.log_tail(30)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Draining the stalled socket ends at EOF, or at a reset when zoe
    // dropped the socket with bytes of this client still unread (it stops
    // reading a connection whose replies pile up): either way it is closed.
    slow.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0usize;
    loop {
        match slow.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => total += n,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("expected the connection closed after {total} bytes, got {e}"),
        }
    }
    assert!(total < 64 << 20, "the queue stayed bounded ({total} bytes)");
    let get_small = Request::GetData(GetDataRequest {
        path: "/big".into(),
        watch: false,
    });
    assert_eq!(call(&mut good, 999, &get_small).err, 0);
}
