//! The Apache ZooKeeper 3.9.5 Java client against the target server
//! (`ZOE_TEST_TARGET`: zoe by default, `zookeeper` for the oracle).
//! The scenarios themselves live in tests/java/src/zoetest/Scenarios.java;
//! each test here starts a fresh server and runs one of them.

mod support;

use std::time::Duration;

use support::{java_scenario, java_scenario_interactive, Cluster, Target};

fn run(scenario: &str) {
    let target = Target::from_env();
    java_scenario(&target.connect_string(), scenario);
}

#[test]
fn crud_with_exact_stats() {
    run("crud");
}

#[test]
fn ephemeral_and_sequential_nodes() {
    run("sequential");
}

#[test]
fn error_codes_and_path_validation() {
    run("errors");
}

#[test]
fn root_and_zookeeper_subtree() {
    run("special");
}

#[test]
fn one_shot_watches_and_event_ordering() {
    run("watches");
}

#[test]
fn multi_commit_and_rollback() {
    run("multi");
}

#[test]
fn session_expiry_removes_ephemerals_and_fires_watches() {
    run("session_expiry");
}

/// The client's server dies; the session, its ephemeral and its watches move
/// to the other server. zoe: two instances on one etcd and prefix. Oracle: a
/// 3-member ensemble whose two followers are in the connect string.
#[test]
fn session_resumes_on_another_server_with_watches() {
    let mut cluster = Cluster::from_env();
    let connect = cluster.connect_string();
    let mut client = java_scenario_interactive(&connect, "failover");
    let ready = client.expect_line("READY_TO_KILL ", Duration::from_secs(60));
    let victim = ready["READY_TO_KILL ".len()..].trim().to_string();
    assert!(
        cluster.addrs().contains(&victim),
        "client reports it is connected to {victim}, not one of {:?}",
        cluster.addrs()
    );
    cluster.kill_server(&victim);
    client.send_line("KILLED");
    let reconnected = client.expect_line("RECONNECTED ", Duration::from_secs(30));
    assert!(
        !reconnected.contains(&victim),
        "reconnected to the killed server: {reconnected}"
    );
    let out = client.wait(Duration::from_secs(60));
    assert!(
        out.success() && out.stdout.contains("PASS failover"),
        "failover scenario failed\n{}",
        out.describe()
    );
}
