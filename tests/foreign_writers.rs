//! zoe's guarantees while another writer (Pulsar's etcd store, etcdctl)
//! changes the same keys: a decision zoe made from its replica never
//! overrides a change it had not seen yet. And the compares those
//! guarantees add keep zoe's transactions within etcd's default limits.

mod support;
#[path = "support/workload.rs"]
mod workload;
#[path = "support/zk_client.rs"]
mod zk_client;

use std::time::Duration;

use jute::{DeleteRequest, ErrorCode, ExistsRequest, Request};
use support::{EtcdServer, Zoe};
use workload::{create, Fate, Session};
use zk_client::Outcome;

/// A delete that zoe plans while the replica has not yet seen a child
/// another writer just put must answer NotEmpty, as ZooKeeper would have:
/// the child's key does not move the parent's child record, so only a
/// guard on the key range below the node catches it. The instance is
/// frozen while the delete arrives and the key is put, so on waking it
/// may plan the delete before the watch brings the key; each round is
/// one chance for a missing guard to delete the parent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_racing_a_foreign_child_is_not_empty() {
    let etcd = EtcdServer::start();
    let prefix = support::unique_prefix("foreign");
    let zoe = Zoe::start_with(&etcd.endpoint(), &prefix, &[]);
    let within = Duration::from_secs(10);
    let mut s = Session::open(&[zoe.addr()], 30_000, within).await;
    let pid = zoe.pid().expect("zoe runs");
    for round in 0..12 {
        let p = format!("/race{round}");
        assert_eq!(s.write(&p, &create(&p, b"", 0), within).await, Fate::Acked);
        support::signal(pid, "STOP");
        await_stopped(pid).await;
        let pending = s
            .conn
            .as_ref()
            .expect("connected")
            .send(&Request::Delete(DeleteRequest {
                path: p.clone(),
                version: -1,
            }));
        let child = format!("{prefix}{p}/child");
        let put = tokio::task::block_in_place(|| etcd.etcdctl(&["put", &child, "x", "-w", "json"]));
        support::signal(pid, "CONT");
        assert!(put.success(), "{}", put.describe());
        let put_rev = serde_json::from_str::<serde_json::Value>(&put.stdout).unwrap()["header"]
            ["revision"]
            .as_i64()
            .unwrap();
        let Outcome::Reply(r) = pending.wait(Duration::from_secs(30)).await else {
            panic!("round {round}: no answer to the delete")
        };
        assert_eq!(
            (r.header.err, r.header.zxid >= put_rev),
            (ErrorCode::NotEmpty as i32, true),
            "round {round}: delete of {p}, sent while the instance was stopped, after a child \
             was put at revision {put_rev}\n{}",
            zoe.log_tail(30)
        );
        let exists = |path: String| Request::Exists(ExistsRequest { path, watch: false });
        for q in [p.clone(), format!("{p}/child")] {
            let r = s.call(&exists(q.clone())).await.expect("exists answered");
            assert_eq!(r.header.err, 0, "round {round}: {q} is gone");
        }
    }
}

/// Waits until every thread of `pid` is stopped (state `T`), so what is
/// sent next is read only after `CONT`.
async fn await_stopped(pid: u32) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("the process is there");
        let all = tasks.filter_map(Result::ok).all(|t| {
            std::fs::read_to_string(t.path().join("stat"))
                .ok()
                .and_then(|s| {
                    s.rsplit_once(')')
                        .map(|(_, rest)| rest.trim_start().starts_with('T'))
                })
                .unwrap_or(true)
        });
        if all {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{pid} did not stop");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// On an etcd with its default limit of 128 compares per transaction, a
/// session whose many ephemerals each have a parent of their own is closed
/// in transactions etcd accepts, and every ephemeral goes. (Every delete
/// carries compares on the node, on its counters and on the key range
/// below it, and on its parent.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_a_session_with_many_ephemerals_fits_etcds_default_limits() {
    let etcd = EtcdServer::start_with_max_txn_ops(128);
    let prefix = support::unique_prefix("many-eph");
    let zoe = Zoe::start_with(&etcd.endpoint(), &prefix, &["--etcd-max-txn-ops", "128"]);
    let within = Duration::from_secs(10);
    let mut owner = Session::open(&[zoe.addr()], 30_000, within).await;
    let mut other = Session::open(&[zoe.addr()], 30_000, within).await;
    let n = 150;
    for i in 0..n {
        let parent = format!("/p{i}");
        assert_eq!(
            other.write(&parent, &create(&parent, b"", 0), within).await,
            Fate::Acked
        );
        let eph = format!("{parent}/e");
        assert_eq!(
            owner.write(&eph, &create(&eph, b"", 1), within).await,
            Fate::Acked,
            "{:?}",
            owner.wrong
        );
    }
    let closed = owner
        .conn
        .as_ref()
        .expect("connected")
        .close_session(Duration::from_secs(60))
        .await;
    let Outcome::Reply(r) = closed else {
        panic!(
            "no answer to closeSession: {closed:?}\n{}",
            zoe.log_tail(30)
        )
    };
    assert_eq!(r.header.err, 0, "{}", zoe.log_tail(30));
    for i in 0..n {
        let eph = format!("/p{i}/e");
        let r = other
            .call(&Request::Exists(ExistsRequest {
                path: eph.clone(),
                watch: false,
            }))
            .await
            .expect("exists answered");
        assert_eq!(
            r.header.err,
            ErrorCode::NoNode as i32,
            "{eph} outlived its session\n{}",
            zoe.log_tail(30)
        );
    }
}

/// An ACL set on an implicit node (a path with another writer's keys below
/// it and no key of its own) is kept and enforced: the node gets a key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acl_set_on_an_implicit_node_is_kept() {
    let etcd = EtcdServer::start();
    let prefix = support::unique_prefix("implicit-acl");
    let zoe = Zoe::start_with(&etcd.endpoint(), &prefix, &[]);
    let within = Duration::from_secs(10);
    let mut s = Session::open(&[zoe.addr()], 30_000, within).await;
    let put = tokio::task::block_in_place(|| {
        etcd.etcdctl(&["put", &format!("{prefix}/dir/sub/leaf"), "x"])
    });
    assert!(put.success(), "{}", put.describe());
    let read_only = vec![jute::Acl {
        perms: jute::perms::READ,
        id: jute::Id {
            scheme: "world".into(),
            id: "anyone".into(),
        },
    }];
    let sync = Request::Sync(jute::SyncRequest { path: "/".into() });
    assert_eq!(s.call(&sync).await.expect("sync").header.err, 0);
    let set = Request::SetAcl(jute::SetAclRequest {
        path: "/dir/sub".into(),
        acl: read_only.clone(),
        version: -1,
    });
    let r = s.call(&set).await.expect("setACL answered");
    assert_eq!(r.header.err, 0);
    let get = Request::GetAcl(jute::GetAclRequest {
        path: "/dir/sub".into(),
    });
    let r = s.call(&get).await.expect("getACL answered");
    match r.body {
        Ok(jute::Response::GetAcl(g)) => {
            assert_eq!(g.acl, read_only);
            assert_eq!(g.stat.aversion, 1);
        }
        other => panic!("getACL: {other:?}"),
    }
    let r = s
        .call(&create("/dir/sub/mine", b"", 0))
        .await
        .expect("create answered");
    assert_eq!(
        r.header.err,
        ErrorCode::NoAuth as i32,
        "the ACL is enforced"
    );
    // The node has a key of its own now, so it stays when the other
    // writer's key below it goes.
    let del =
        tokio::task::block_in_place(|| etcd.etcdctl(&["del", &format!("{prefix}/dir/sub/leaf")]));
    assert!(del.success(), "{}", del.describe());
    assert_eq!(s.call(&sync).await.expect("sync").header.err, 0);
    let r = s.call(&get).await.expect("getACL answered");
    assert_eq!(r.header.err, 0, "/dir/sub vanished with its last child");
}
