//! kazoo (the pure-Python ZooKeeper client) against the target server
//! (`ZOE_TEST_TARGET`: zoe by default, `zookeeper` for the oracle). Each test
//! starts a fresh server and runs one pytest file of tests/python/ from the
//! `.cache/venv` virtualenv.

mod support;

use support::{kazoo, Target};

fn run(file: &str) {
    let target = Target::from_env();
    let out = kazoo(&target.connect_string(), file);
    // pytest -rA lists every test; make sure the file really ran some.
    assert!(
        out.stdout.contains(" passed"),
        "pytest did not report passed tests\n{}",
        out.describe()
    );
}

#[test]
fn kazoo_crud_errors_and_recipes() {
    run("test_kazoo_crud.py");
}

#[test]
fn kazoo_ephemeral_sequential_and_session_expiry() {
    run("test_kazoo_ephemeral.py");
}

#[test]
fn kazoo_watches() {
    run("test_kazoo_watches.py");
}

#[test]
fn kazoo_transactions() {
    run("test_kazoo_transactions.py");
}

/// Two zoe instances on one etcd; kazoo is given both (in order). The
/// first, which kazoo connects to, is killed (-9) under it: kazoo moves to
/// the second and resumes its session (see test_kazoo_failover.py).
#[test]
fn kazoo_resumes_its_session_on_another_zoe_instance() {
    let etcd = support::EtcdServer::start();
    let prefix = support::unique_prefix("kazoo-move");
    let first = support::Zoe::start_with(&etcd.endpoint(), &prefix, &[]);
    let second = support::Zoe::start_with(&etcd.endpoint(), &prefix, &[]);
    let pid = first.pid().expect("zoe pid");
    let out = support::kazoo_with_env(
        &format!("{},{}", first.addr(), second.addr()),
        "test_kazoo_failover.py",
        &[
            ("ZOE_TEST_FIRST_PID", pid.to_string()),
            ("ZOE_TEST_SECOND", second.addr()),
        ],
    );
    assert!(out.stdout.contains(" passed"), "{}", out.describe());
    drop(first);
    drop(second);
}
