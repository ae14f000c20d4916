//! The less common parts of the ZooKeeper API, driven by the Apache ZooKeeper
//! 3.9.5 Java client against the target server (`ZOE_TEST_TARGET`: zoe by
//! default, `zookeeper` for the oracle): multiRead, persistent and recursive
//! watches and their removal, containers and TTL nodes, getEphemerals,
//! getAllChildrenNumber, whoAmI, the config node and reconfig, ACLs of every
//! scheme, failed authentication and ACL-filtered notifications.
//!
//! The scenarios live in tests/java/src/zoetest/Surface.java; each test here
//! starts a fresh server (with the settings the scenario needs, given to zoe
//! as flags and to ZooKeeper as JVM system properties) and runs one of them.

mod support;

use std::time::Duration;

use support::{java_main_interactive, java_main_scenario, Cluster, Target};

const MAIN: &str = "zoetest.Surface";

/// `super:admin`, as Surface.java's super user authenticates.
const SUPER_DIGEST: &str = "super:xQJmxLMiHGwaqBvst5y6rkB6HQs=";

fn run(scenario: &str) {
    run_with(scenario, &[], &[]);
}

fn run_with(scenario: &str, zoe_args: &[&str], zk_jvm_props: &[&str]) {
    let target = Target::from_env_with(zoe_args, zk_jvm_props);
    java_main_scenario(MAIN, &target.connect_string(), scenario);
}

#[test]
fn multi_read_per_op_results_and_no_watches() {
    run("multi_read");
}

#[test]
fn persistent_and_recursive_watch_event_sequences() {
    run("persistent_watches");
}

#[test]
fn remove_and_check_watches() {
    run("remove_watches");
}

/// Persistent and recursive watches are re-registered (SetWatches2) when the
/// session moves to another server. zoe: two instances on one etcd; oracle:
/// a 3-member ensemble, its two followers in the connect string.
#[test]
fn persistent_watches_survive_a_move_to_another_server() {
    let mut cluster = Cluster::from_env();
    let connect = cluster.connect_string();
    let mut client = java_main_interactive(MAIN, &connect, "persistent_failover");
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
        out.success() && out.stdout.contains("PASS persistent_failover"),
        "persistent_failover scenario failed\n{}",
        out.describe()
    );
}

#[test]
fn containers_are_reaped_once_emptied() {
    run_with(
        "containers",
        &["--container-check-interval-ms", "500"],
        &["znode.container.checkIntervalMs=500"],
    );
}

#[test]
fn ttl_nodes_expire_when_childless() {
    run_with(
        "ttl",
        &["--container-check-interval-ms", "500", "--extended-types"],
        &[
            "znode.container.checkIntervalMs=500",
            "zookeeper.extendedTypesEnabled=true",
        ],
    );
}

#[test]
fn ttl_nodes_are_unimplemented_unless_enabled() {
    run("ttl_disabled");
}

#[test]
fn get_ephemerals_and_get_all_children_number() {
    run("ephemerals_and_counts");
}

#[test]
fn who_am_i_lists_ip_and_digest_identities() {
    run("who_am_i");
}

#[test]
fn config_node_and_reconfig_in_standalone() {
    run("config_and_reconfig");
}

#[test]
fn acl_schemes_permissions_and_super_digest() {
    run_with(
        "acl",
        &["--super-digest", SUPER_DIGEST],
        &[&format!(
            "zookeeper.DigestAuthenticationProvider.superDigest={SUPER_DIGEST}"
        )],
    );
}

#[test]
fn auth_with_an_unknown_scheme_kills_the_handle() {
    run("auth_failed");
}

#[test]
fn notifications_are_filtered_by_read_permission() {
    run("acl_filtered_watches");
}
