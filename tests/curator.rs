//! Apache Curator 5.9.0 recipes (on the ZooKeeper 3.9.5 Java client) against
//! the target server (`ZOE_TEST_TARGET`: zoe by default, `zookeeper` for the
//! oracle). The scenarios live in tests/java/src/zoetest/CuratorScenarios.java;
//! each test here starts a fresh server and runs one of them.

mod support;

use support::{java_main_scenario, Target};

const MAIN: &str = "zoetest.CuratorScenarios";

fn run(scenario: &str) {
    run_with(scenario, &[], &[]);
}

fn run_with(scenario: &str, zoe_args: &[&str], zk_jvm_props: &[&str]) {
    let target = Target::from_env_with(zoe_args, zk_jvm_props);
    java_main_scenario(MAIN, &target.connect_string(), scenario);
}

#[test]
fn leader_latch_hands_over_leadership() {
    run("leader_latch");
}

#[test]
fn inter_process_mutex_excludes_other_clients() {
    run("mutex");
}

#[test]
fn curator_cache_and_persistent_watcher_events() {
    run("cache");
}

#[test]
fn persistent_node_is_recreated() {
    run("persistent_node");
}

#[test]
fn distributed_atomic_long_counts_every_increment() {
    run("atomic_long");
}

#[test]
fn shared_count_propagates_and_rejects_stale_versions() {
    run("shared_count");
}

#[test]
fn container_parents_created_by_curator_are_reaped() {
    run_with(
        "containers",
        &["--container-check-interval-ms", "500"],
        &["znode.container.checkIntervalMs=500"],
    );
}
