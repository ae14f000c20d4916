//! An etcd compaction that overtakes a lagging instance's watch: the
//! instance reloads the tree, fires the watches the gap hid (conservative
//! events rather than none), and serves the current tree afterwards.

#[path = "support/raw_conn.rs"]
mod raw_conn;
mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use jute::{
    CreateRequest, GetDataRequest, GetDataResponse, Record, ReplyHeader, Request, SetDataRequest,
    WatcherEvent,
};
use raw_conn::RawConn;
use support::{EtcdServer, Zoe};

#[test]
fn compaction_past_a_lagging_replica_resyncs_and_fires_watches() {
    let etcd = EtcdServer::start();
    let prefix = support::unique_prefix("compact");
    let lagging = Zoe::start_with(&etcd.endpoint(), &prefix, &[]);
    let other = Zoe::start_with(&etcd.endpoint(), &prefix, &[]);
    let mut writer = RawConn::open(&other.addr(), 40_000, Duration::from_secs(30));
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

    let mut watcher = RawConn::open(&lagging.addr(), 40_000, Duration::from_secs(30));
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
