//! An etcd compaction that overtakes a lagging instance's watch: the
//! instance reloads the tree, fires the watches the gap hid (conservative
//! events rather than none), and serves the current tree afterwards.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use jute::{
    CreateRequest, GetDataRequest, GetDataResponse, Record, ReplyHeader, Request, SetDataRequest,
    WatcherEvent,
};
use support::{EtcdServer, Zoe};

struct Conn(TcpStream);

impl Conn {
    fn open(addr: &str) -> Conn {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut hs = Vec::new();
        hs.extend_from_slice(&0i32.to_be_bytes());
        hs.extend_from_slice(&0i64.to_be_bytes());
        hs.extend_from_slice(&40_000i32.to_be_bytes());
        hs.extend_from_slice(&0i64.to_be_bytes());
        hs.extend_from_slice(&16i32.to_be_bytes());
        hs.extend_from_slice(&[0u8; 16]);
        hs.push(0);
        let mut c = Conn(s);
        c.raw(&hs);
        c.frame();
        c
    }

    fn raw(&mut self, body: &[u8]) {
        let mut f = (body.len() as i32).to_be_bytes().to_vec();
        f.extend_from_slice(body);
        self.0.write_all(&f).unwrap();
    }

    fn frame(&mut self) -> Bytes {
        let mut len = [0u8; 4];
        self.0.read_exact(&mut len).unwrap();
        let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
        self.0.read_exact(&mut body).unwrap();
        Bytes::from(body)
    }

    fn send(&mut self, xid: i32, req: &Request) {
        let mut b = BytesMut::new();
        b.extend_from_slice(&xid.to_be_bytes());
        b.extend_from_slice(&(req.opcode() as i32).to_be_bytes());
        req.encode(&mut b);
        self.raw(&b);
    }

    /// Sends and waits for the reply, collecting notifications on the way.
    fn call(
        &mut self,
        xid: i32,
        req: &Request,
        events: &mut Vec<WatcherEvent>,
    ) -> (ReplyHeader, Bytes) {
        self.send(xid, req);
        loop {
            let f = self.frame();
            let h = ReplyHeader::decode(f.clone()).unwrap();
            if h.xid == -1 {
                events.push(WatcherEvent::decode(f.slice(16..)).unwrap());
            } else if h.xid == xid {
                return (h, f.slice(16..));
            }
        }
    }
}

#[test]
fn compaction_past_a_lagging_replica_resyncs_and_fires_watches() {
    let etcd = EtcdServer::start();
    let prefix = support::unique_prefix("compact");
    let lagging = Zoe::start_with(&etcd.endpoint(), &prefix, &[]);
    let other = Zoe::start_with(&etcd.endpoint(), &prefix, &[]);
    let mut writer = Conn::open(&other.addr());
    let mut none = Vec::new();
    let create = |p: &str| {
        Request::Create(CreateRequest {
            path: p.into(),
            data: Some(Bytes::from_static(b"v0")),
            acl: jute::Acl::open_acl_unsafe(),
            flags: 0,
        })
    };
    assert_eq!(writer.call(1, &create("/w"), &mut none).0.err, 0);

    let mut watcher = Conn::open(&lagging.addr());
    let get = |watch| {
        Request::GetData(GetDataRequest {
            path: "/w".into(),
            watch,
        })
    };
    let mut events = Vec::new();
    assert_eq!(watcher.call(1, &get(true), &mut events).0.err, 0);

    // Freeze the lagging instance, change a lot, compact everything.
    let pid = lagging.pid().unwrap();
    support::signal(pid, "STOP");
    let payload = Bytes::from(vec![b'p'; 10_000]);
    for i in 0..1500 {
        let set = Request::SetData(SetDataRequest {
            path: "/w".into(),
            data: Some(if i == 1499 {
                Bytes::from_static(b"last")
            } else {
                payload.clone()
            }),
            version: -1,
        });
        // One at a time: each write is its own etcd revision, enough of
        // them to overflow what etcd buffers for the frozen watcher.
        assert_eq!(writer.call(10 + i, &set, &mut none).0.err, 0);
    }
    let status = etcd.etcdctl(&["endpoint", "status", "-w", "json"]).stdout;
    let rev: i64 = status
        .split("\"revision\":")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|d| d.parse().ok())
        .unwrap_or_else(|| panic!("no revision in {status}"));
    let compacted = etcd.etcdctl(&["compact", &rev.to_string()]);
    assert!(
        compacted.stdout.contains("compacted revision"),
        "{} {}",
        compacted.stdout,
        compacted.stderr
    );
    support::signal(pid, "CONT");

    // The lagging instance resynchronises and fires the watch it owed.
    let deadline = Instant::now() + Duration::from_secs(30);
    while events.is_empty() {
        assert!(Instant::now() < deadline, "no event after resync");
        let f = watcher.frame();
        let h = ReplyHeader::decode(f.clone()).unwrap();
        if h.xid == -1 {
            events.push(WatcherEvent::decode(f.slice(16..)).unwrap());
        }
    }
    assert_eq!(events[0].path, "/w");
    assert_eq!(
        events[0].event_type,
        jute::EventType::NodeDataChanged as i32
    );
    // The watcher's session never saw those writes, so this instance may
    // still be catching up; after a sync it must show the current tree.
    let sync = Request::Sync(jute::SyncRequest { path: "/w".into() });
    assert_eq!(watcher.call(2, &sync, &mut events).0.err, 0);
    let (h, body) = watcher.call(3, &get(false), &mut events);
    assert_eq!(h.err, 0);
    let r = GetDataResponse::decode(body).unwrap();
    assert!(
        r.data.as_deref() == Some(&b"last"[..]),
        "stale data after sync: {} bytes, version {}, mzxid {}, reply zxid {}",
        r.data.as_ref().map(|d| d.len()).unwrap_or(0),
        r.stat.version,
        r.stat.mzxid,
        h.zxid
    );
    assert_eq!(r.stat.version, 1500);
    let log = std::fs::read_to_string(lagging.log_path()).unwrap_or_default();
    assert!(
        log.contains("compacted past the replica"),
        "the lagging instance never saw the compaction:\n{}",
        lagging.log_tail(20)
    );
}
