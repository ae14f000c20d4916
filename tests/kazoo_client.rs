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
