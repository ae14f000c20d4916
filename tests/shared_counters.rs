//! Child counters of a tree other writers change (keys put and deleted
//! with etcdctl, as Pulsar's etcd store would), when etcd has compacted the
//! history after the accountant's watermark while no zoe instance ran: the
//! first instance to start raises the counters, so no client sees a
//! cversion fall, and counts exactly again from there (docs/etcd-layout.md,
//! "Child changes other writers make").

#[path = "support/raw_conn.rs"]
mod raw_conn;
mod support;

use std::time::{Duration, Instant};

use jute::{GetChildren2Request, GetChildren2Response, Record, Request, Stat};
use raw_conn::RawConn;
use support::{EtcdServer, Zoe};

/// getChildren2: the children (sorted) and the Stat, None for NONODE.
fn children(zk: &mut RawConn, path: &str) -> Option<(Vec<String>, Stat)> {
    let req = Request::GetChildren2(GetChildren2Request {
        path: path.into(),
        watch: false,
    });
    let (h, body) = zk.call(7, &req, &mut Vec::new());
    if h.err != 0 {
        return None;
    }
    let mut r = GetChildren2Response::decode(body).unwrap();
    r.children.sort();
    Some((r.children, r.stat))
}

fn put(etcd: &EtcdServer, key: &str) {
    let out = etcd.etcdctl(&["put", key, ""]);
    assert!(out.success(), "{}", out.describe());
}

fn del(etcd: &EtcdServer, key: &str) {
    let out = etcd.etcdctl(&["del", key]);
    assert!(out.success(), "{}", out.describe());
}

fn revision(etcd: &EtcdServer) -> i64 {
    let out = etcd.etcdctl(&["get", "/", "-w", "json"]);
    assert!(out.success(), "{}", out.describe());
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    doc["header"]["revision"].as_i64().unwrap()
}

/// Polls until `path` lists `want`; returns its Stat.
fn await_children(zk: &mut RawConn, path: &str, want: &[&str]) -> Stat {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some((kids, st)) = children(zk, path) {
            if kids == want {
                return st;
            }
        }
        assert!(Instant::now() < deadline, "{path} never listed {want:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_compacted_watermark_raises_the_counters_instead_of_losing_them() {
    let etcd = EtcdServer::start();
    let args = ["--profile", "pulsar-2.10", "--etcd-max-txn-ops", "1024"];
    let mut zoe = Zoe::start_with(&etcd.endpoint(), "", &args);
    assert!(
        etcd.etcdctl(&["get", "0zoe/acct"])
            .stdout
            .contains("through"),
        "the profile creates the watermark at the first start"
    );
    let mut zk = RawConn::open(&zoe.addr(), 30_000, Duration::from_secs(30));
    put(&etcd, "/ledgers/available");
    put(&etcd, "/ledgers/available/b1");
    put(&etcd, "/ledgers/available/b2");
    let seen = await_children(&mut zk, "/ledgers/available", &["b1", "b2"]);
    assert_eq!(seen.cversion, 2);

    // No instance runs while the tree changes and etcd forgets the history.
    zoe.kill();
    put(&etcd, "/ledgers/available/b3");
    del(&etcd, "/ledgers/available/b1");
    let compact_at = revision(&etcd);
    let out = etcd.etcdctl(&["compact", &compact_at.to_string()]);
    assert!(out.success(), "{}", out.describe());

    zoe.restart();
    let mut zk = RawConn::open(&zoe.addr(), 30_000, Duration::from_secs(30));
    let st = await_children(&mut zk, "/ledgers/available", &["b2", "b3"]);
    // Exactly, it would be 4; the gap's count is lost, so the counter is
    // raised by the revisions since the watermark: never below the truth,
    // always above what a client saw.
    assert!(
        st.cversion >= 4 && st.cversion > seen.cversion,
        "cversion {} after the rebase (was {})",
        st.cversion,
        seen.cversion
    );
    assert!(
        st.pzxid > seen.pzxid,
        "pzxid {} (was {})",
        st.pzxid,
        seen.pzxid
    );
    let wm = etcd.etcdctl(&["get", "0zoe/acct", "--print-value-only"]);
    let through: serde_json::Value = serde_json::from_str(wm.stdout.trim()).unwrap();
    assert!(
        through["through"].as_i64().unwrap() >= compact_at,
        "a new watermark: {}",
        wm.stdout
    );
    assert!(
        zoe.log_tail(200).contains("child counters rebased"),
        "{}",
        zoe.log_tail(60)
    );

    // Exact again from there.
    put(&etcd, "/ledgers/available/b4");
    let next = await_children(&mut zk, "/ledgers/available", &["b2", "b3", "b4"]);
    assert_eq!(next.cversion, st.cversion + 1);
    // And a second restart (the watermark now readable) keeps it.
    zoe.kill();
    zoe.restart();
    let mut zk = RawConn::open(&zoe.addr(), 30_000, Duration::from_secs(30));
    let again = await_children(&mut zk, "/ledgers/available", &["b2", "b3", "b4"]);
    assert_eq!(again.cversion, next.cversion);
}
