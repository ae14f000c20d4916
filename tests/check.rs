//! `zoe check`: a tree written through zoe passes, with the running
//! instance compared against etcd; a tree corrupted behind zoe's back (keys
//! put and deleted with etcdctl) fails with a message that names the
//! problem; an instance that serves another tree fails the comparison; and
//! an unreachable etcd is exit status 2, not a verdict.

mod support;
#[path = "support/workload.rs"]
mod workload;
#[path = "support/zk_client.rs"]
mod zk_client;

use std::time::Duration;

use bytes::Bytes;
use jute::{MultiOp, MultiRequest, Request};
use support::{zoe_check, ClientOutput, EtcdServer, Zoe};
use workload::{create, set_data, Fate, Session};

/// Builds a small tree of every kind through zoe; returns the session that
/// owns its ephemerals (kept open so they stay).
async fn populate(addr: &str, root: &str) -> Session {
    let mut s = Session::open(&[addr.to_string()], 30_000, Duration::from_secs(30)).await;
    let within = Duration::from_secs(10);
    let ok = |fate: Fate, what: &str| assert_eq!(fate, Fate::Acked, "{what}");
    ok(
        s.write("root", &create(root, b"r", 0), within).await,
        "root",
    );
    for i in 0..5 {
        let p = format!("{root}/p{i}");
        ok(s.write(&p, &create(&p, b"x", 0), within).await, &p);
        ok(s.write(&p, &set_data(&p, b"changed", -1), within).await, &p);
    }
    let seq = format!("{root}/seq-");
    for _ in 0..3 {
        ok(
            s.write("seq", &create(&seq, b"", 2), within).await,
            "sequential",
        );
    }
    let eph = format!("{root}/eph");
    ok(
        s.write(&eph, &create(&eph, b"e", 1), within).await,
        "ephemeral",
    );
    let p4 = format!("{root}/p4");
    ok(
        s.write(
            "delete",
            &Request::Delete(jute::DeleteRequest {
                path: p4,
                version: -1,
            }),
            within,
        )
        .await,
        "delete",
    );
    let m = format!("{root}/multi");
    let multi = Request::Multi(MultiRequest {
        ops: vec![
            MultiOp::Create(jute::CreateRequest {
                path: m.clone(),
                data: Some(Bytes::from_static(b"m")),
                acl: jute::Acl::open_acl_unsafe(),
                flags: 0,
            }),
            MultiOp::SetData(jute::SetDataRequest {
                path: m.clone(),
                data: Some(Bytes::from_static(b"m2")),
                version: -1,
            }),
            MultiOp::Create(jute::CreateRequest {
                path: format!("{m}/child"),
                data: None,
                acl: jute::Acl::open_acl_unsafe(),
                flags: 0,
            }),
        ],
    });
    ok(s.write("multi", &multi, within).await, "multi");
    s
}

fn assert_consistent(out: &ClientOutput) {
    assert!(
        out.success() && out.stdout.contains("consistent: 0 error(s)"),
        "zoe check should pass\n{}",
        out.describe()
    );
}

fn assert_finds(out: &ClientOutput, needle: &str) {
    assert_eq!(
        out.code(),
        Some(1),
        "zoe check should fail with status 1\n{}",
        out.describe()
    );
    assert!(
        out.stdout.contains("INCONSISTENT") && out.stdout.contains(needle),
        "zoe check should report {needle:?}\n{}",
        out.describe()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_tree_passes_and_corruption_is_named() {
    let etcd = EtcdServer::start();
    let prefix = support::unique_prefix("check");
    let zoe = Zoe::start_with(&etcd.endpoint(), &prefix, &[]);
    let _owner = populate(&zoe.addr(), "/c").await;

    let check = |extra: &[&str]| {
        tokio::task::block_in_place(|| zoe_check(&etcd.endpoint(), &prefix, extra))
    };
    let out = check(&["--zoe", &zoe.addr()]);
    assert_consistent(&out);
    assert!(
        out.stdout.contains("answers compared with etcd"),
        "{}",
        out.describe()
    );

    let put = |k: &str, v: &str| {
        let out = etcd.etcdctl(&["put", &format!("{prefix}{k}"), v]);
        assert!(out.success(), "{}", out.describe());
    };
    let del = |k: &str| {
        let out = etcd.etcdctl(&["del", &format!("{prefix}{k}")]);
        assert!(out.success(), "{}", out.describe());
    };

    // A data key nobody wrote a meta record for.
    put("/c/stray", "x");
    assert_finds(&check(&[]), "/c/stray: data key without its meta record");
    // ... which a tree shared with a path-keyed client allows.
    let out = check(&["--allow-foreign"]);
    assert_consistent(&out);
    assert!(
        out.stdout.contains("WARNING: /c/stray"),
        "{}",
        out.describe()
    );
    del("/c/stray");
    assert_consistent(&check(&[]));

    // A meta record whose data key is gone.
    put("0zoe/m/c/ghost", r#"{"kind":"persistent"}"#);
    assert_finds(&check(&[]), "/c/ghost: meta record without a data key");
    del("0zoe/m/c/ghost");

    // A node whose parent is missing.
    put("/c/nowhere/x", "x");
    put("0zoe/m/c/nowhere/x", r#"{"kind":"persistent"}"#);
    assert_finds(
        &check(&[]),
        "/c/nowhere/x: its parent /c/nowhere does not exist",
    );
    del("/c/nowhere/x");
    del("0zoe/m/c/nowhere/x");

    // Child counters that fell behind the children (the next sequential
    // create would collide).
    let counters = format!("{prefix}0zoe/c/c");
    let saved = etcd.etcdctl(&["get", &counters, "--print-value-only"]);
    assert!(saved.success(), "{}", saved.describe());
    // (The count reported can exceed 1: the accountant may still fold the
    // stray key's create above into this record after the put.)
    put("0zoe/c/c", r#"{"cv":1,"cr":1}"#);
    assert_finds(
        &check(&[]),
        "creates counted: the next sequential name could be taken",
    );
    put("0zoe/c/c", saved.stdout.trim());
    assert_consistent(&check(&[]));

    // An ephemeral whose session does not exist.
    put(
        "0zoe/m/c/p0",
        r#"{"kind":"ephemeral","owner":81985529216486895}"#,
    );
    assert_finds(&check(&[]), "/c/p0: ephemeral of session 0x123456789abcdef");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_serving_another_tree_fails_the_comparison() {
    let etcd = EtcdServer::start();
    let (pa, pb) = (
        support::unique_prefix("check-a"),
        support::unique_prefix("check-b"),
    );
    let za = Zoe::start_with(&etcd.endpoint(), &pa, &[]);
    let zb = Zoe::start_with(&etcd.endpoint(), &pb, &[]);
    let _a = populate(&za.addr(), "/same").await;
    let _b = populate(&zb.addr(), "/same").await;
    let out =
        tokio::task::block_in_place(|| zoe_check(&etcd.endpoint(), &pa, &["--zoe", &zb.addr()]));
    // Same paths and data, but other zxids and sessions.
    assert_finds(&out, &format!("{}: /same at zxid", zb.addr()));
    let out =
        tokio::task::block_in_place(|| zoe_check(&etcd.endpoint(), &pa, &["--zoe", &za.addr()]));
    assert_consistent(&out);
}

#[test]
fn an_unreachable_etcd_is_status_2() {
    let port = support::free_port();
    let out = zoe_check(&format!("http://127.0.0.1:{port}"), "/x", &[]);
    assert_eq!(out.code(), Some(2), "{}", out.describe());
    assert!(out.stderr.contains("zoe: error:"), "{}", out.describe());
}
