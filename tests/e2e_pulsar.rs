//! End to end: an Apache Pulsar 2.10 broker (official, unmodified jars) with
//! its embedded function worker, BookKeeper bookies and an autorecovery
//! process, all speaking ZooKeeper to two zoe instances on one etcd:
//! `metadataStoreUrl=zk:A,B`, `bookkeeperMetadataServiceUri=
//! zk+hierarchical://A;B/ledgers`, the worker's DistributedLog namespace on
//! the same servers. This is the deployment zoe exists for: everything ends
//! up in etcd. `ZOE_TEST_TARGET=zookeeper` puts one real ZooKeeper 3.9.5 in
//! zoe's place (standalone: the "move to a second instance" phase then
//! restarts it instead).
//!
//! Every configuration file is rendered from the templates of
//! `deploy/pulsar/` by `deploy/pulsar/render-conf.sh`, and every process
//! runs on the jars of the Pulsar distribution, as docker-compose.yml runs
//! them (tests/e2e/pulsar_deploy.rs holds the shared definitions,
//! tests/deploy.rs checks the compose file against them).
//!
//! Scenario:
//! 1. `bookkeeper shell metaformat` through zoe; two bookies and an
//!    `AutoRecoveryMain`; `PulsarClusterMetadataSetup` (metadata through
//!    zoe, existing BookKeeper); both initialisations run a second time, as
//!    on every `docker compose up`, and change nothing;
//! 2. the broker starts; its function worker binds the DistributedLog
//!    namespace `distributedlog://…/pulsar/functions` (to `/ledgers`);
//! 3. a function (a jar with `zoee2e.fn.Exclaim`) is created: the worker
//!    stores the package as a DistributedLog log on zoe + the bookies and
//!    runs it (thread runtime); messages on `in` come out with a `!` on
//!    `out`; the package downloads back byte for byte;
//! 4. every zoe instance is killed (-9) and restarted at once: the broker,
//!    the bookies and autorecovery resume their sessions (every ephemeral
//!    keeps its owner, so no session expired), messages published before
//!    and after are all delivered, the function still runs;
//! 5. the zoe instance with the most client connections is killed (-9) and
//!    stays down: its clients move to the other instance, with the same
//!    checks;
//! 6. the broker is killed (-9) and restarted: the function runs again (its
//!    package read back from DistributedLog), messages flow (managed ledgers
//!    recovered through BookKeeper's fencing), the package still downloads.

mod support;

#[path = "e2e/common.rs"]
mod e2e;
#[path = "e2e/pulsar_deploy.rs"]
mod pulsar_deploy;
#[path = "e2e/pulsar_jvm.rs"]
mod pulsar_jvm;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use e2e::{spawn_java, tagged, wait_log, MetadataServer};
use pulsar_deploy::JavaCommand;
use pulsar_jvm::{
    check_function, create_function, pulsar, pulsar_driver, render, spawn_daemon, Daemon,
};
use support::{free_port, run_command, ServerProcess, TestDir};

/// `main_class ARGS` on the jars of the Pulsar distribution (ZooKeeper
/// metadata drivers only: everything here speaks ZooKeeper).
fn pulsar_command(cmd: JavaCommand, heap: &str, direct: &str) -> Command {
    pulsar_jvm::pulsar_command(cmd, heap, direct, false)
}

/// ZooKeeper session timeout of every long-lived process, as the deploy
/// files set it: long enough to ride out a restart of every zoe instance.
fn session_timeout() -> Duration {
    Duration::from_millis(pulsar_deploy::session_timeout_ms())
}

/// The cluster's instance id, as `whatisinstanceid` prints it.
fn instance_id(conf: &str) -> String {
    let mut cmd = pulsar_command(
        pulsar_deploy::bookie_shell(conf, pulsar_deploy::INSTANCE_ID),
        "128m",
        "64m",
    );
    let out = run_command(&mut cmd, None, Duration::from_secs(120));
    assert!(out.success(), "whatisinstanceid failed\n{}", out.describe());
    let text = format!("{}{}", out.stdout, out.stderr);
    text.lines()
        .find_map(|l| {
            l.split_once("InstanceId: ")
                .map(|(_, id)| id.trim().to_string())
        })
        .unwrap_or_else(|| panic!("no InstanceId in the output\n{}", out.describe()))
}

/// BookKeeper's metadata initialisation as docker-compose.yml's one-shot
/// service runs it: `metaformat` (without -force), or else
/// `whatisinstanceid`. Returns whether `metaformat` succeeded and the
/// cluster's instance id.
fn bookkeeper_init(conf: &str) -> (bool, String) {
    let mut cmd = pulsar_command(
        pulsar_deploy::bookie_shell(conf, pulsar_deploy::METAFORMAT),
        "128m",
        "64m",
    );
    let out = run_command(&mut cmd, None, Duration::from_secs(120));
    (out.success(), instance_id(conf))
}

/// `PulsarClusterMetadataSetup` for the cluster of a rendered broker.conf.
fn cluster_metadata_setup(broker_conf: &str) {
    let text = fs::read_to_string(broker_conf).expect("read broker.conf");
    let props = pulsar_deploy::properties(&text).expect("parse broker.conf");
    let mut setup = pulsar_command(pulsar_deploy::cluster_metadata_setup(&props), "128m", "64m");
    let out = run_command(&mut setup, None, Duration::from_secs(180));
    assert!(
        out.success() && out.stderr.contains("setup correctly"),
        "PulsarClusterMetadataSetup failed\n{}",
        out.describe()
    );
}

/// A bookie (`data`: it gets a DATA_DIR) or autorecovery process on the
/// metadata servers `zk_servers_bk`; waits until it logs `ready`.
fn start_daemon(
    name: &str,
    template: &str,
    zk_servers_bk: &str,
    data: bool,
    command: fn(&str) -> JavaCommand,
    ready: &str,
) -> Daemon {
    let vars = [("ZK_SERVERS_BK", zk_servers_bk.to_string())];
    let mut d = spawn_daemon(name, template, &vars, data, command, false);
    wait_log(&mut d.process, ready, Duration::from_secs(120), name);
    d
}

fn start_broker(name: &str, dir: &Path, confs: &[String]) -> ServerProcess {
    let cmd = pulsar_command(pulsar_deploy::broker(&confs[0], &confs[1]), "320m", "192m");
    let mut broker = spawn_java(name, dir, cmd);
    wait_log(
        &mut broker,
        "messaging service is ready",
        Duration::from_secs(180),
        "Pulsar broker",
    );
    broker
}

/// `(path, ephemeralOwner)` of every ephemeral znode in the tree.
fn ephemerals(connect: &str) -> Vec<(String, String)> {
    let out = pulsar_driver(&["zk-tree", connect, "/"], Duration::from_secs(120));
    tagged(&out.stdout, "ZNODE")
        .iter()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (path, owner) = (f.next()?, f.next()?);
            (owner != "0").then(|| (path.to_string(), owner.to_string()))
        })
        .collect()
}

/// The registrations of the bookies, the broker and the auditor: ephemerals
/// whose owner changes only if their session was lost.
fn registrations(connect: &str) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = ephemerals(connect)
        .into_iter()
        .filter(|(p, _)| {
            p.starts_with("/ledgers/available/")
                || p.starts_with("/loadbalance/brokers/")
                || p.starts_with("/ledgers/underreplication/auditorelection/")
        })
        .collect();
    v.sort();
    v
}

/// After a fault: once longer than a session timeout has passed (a lost
/// session's ephemerals would be gone by then), every registration still
/// has its owner; messages sent before the fault and after it all arrive;
/// the function still runs.
#[allow(clippy::too_many_arguments)]
fn check_after_fault(
    what: &str,
    connect: &str,
    before: &[(String, String)],
    web: &str,
    broker_url: &str,
    sent_before: &str,
    tag: &str,
    dir: &Path,
) {
    thread::sleep(session_timeout() + Duration::from_secs(2));
    let after = registrations(connect);
    assert_eq!(
        after, before,
        "{what}: the registrations (bookies, broker, auditor) changed owner or vanished, \
         so a session did not survive"
    );
    let out = pulsar_driver(
        &["produce", broker_url, DURABLE, "keep", tag, "50"],
        Duration::from_secs(180),
    );
    assert!(out.stdout.contains("PRODUCED 50"), "{}", out.describe());
    let out = pulsar_driver(
        &[
            "consume",
            broker_url,
            DURABLE,
            "keep",
            "50",
            "120",
            sent_before,
            tag,
        ],
        Duration::from_secs(180),
    );
    assert!(
        out.stdout.contains("CONSUMED 100"),
        "{what}: messages sent before or after the fault were lost\n{}",
        out.describe()
    );
    check_function(web, broker_url, tag, dir);
}

const DURABLE: &str = "persistent://public/default/durable";

#[test]
fn pulsar_on_zoe_survives_zoe_restarts_and_moves() {
    let started = Instant::now();
    pulsar();
    let mut meta = MetadataServer::start_instances(2);
    let addr = meta.addr();
    let connect = meta.connect_string();
    eprintln!(
        "[e2e] all metadata (Pulsar, BookKeeper, DistributedLog): {} at {connect}",
        meta.name()
    );
    let zk_servers_bk = pulsar_deploy::bookkeeper_servers(&connect);
    let dir = TestDir::new("e2e-pulsar");

    // ---- BookKeeper's metadata, the bookies and autorecovery
    let metaformat_conf = render(
        dir.path(),
        &[pulsar_deploy::METAFORMAT_CONF],
        &[("ZK_SERVERS_BK", zk_servers_bk.clone())],
    );
    let (formatted, instance) = bookkeeper_init(&metaformat_conf[0]);
    assert!(
        formatted,
        "metaformat did not format a fresh metadata store"
    );
    let mut bookies: Vec<Daemon> = (1..=2)
        .map(|i| {
            start_daemon(
                &format!("bookie{i}"),
                pulsar_deploy::BOOKIE_CONF,
                &zk_servers_bk,
                true,
                pulsar_deploy::bookie,
                "Started component bookie-server",
            )
        })
        .collect();
    let mut recovery = start_daemon(
        "autorecovery",
        pulsar_deploy::AUTORECOVERY_CONF,
        &zk_servers_bk,
        false,
        pulsar_deploy::autorecovery,
        "Started component autorecovery-server",
    );

    // ---- Pulsar's cluster metadata, for the broker's configuration
    let (broker_port, web_port) = (free_port(), free_port());
    let web = format!("http://127.0.0.1:{web_port}");
    let broker_url = format!("pulsar://127.0.0.1:{broker_port}");
    let broker_confs = render(
        dir.path(),
        &[
            pulsar_deploy::BROKER_CONF,
            pulsar_deploy::FUNCTIONS_WORKER_CONF,
        ],
        &[
            ("CLUSTER_NAME", "e2e".to_string()),
            ("ZK_SERVERS", connect.clone()),
            ("ZK_SERVERS_BK", zk_servers_bk.clone()),
            ("ADVERTISED_ADDRESS", "127.0.0.1".to_string()),
            ("BIND_ADDRESS", "127.0.0.1".to_string()),
            ("BROKER_SERVICE_PORT", broker_port.to_string()),
            ("WEB_SERVICE_PORT", web_port.to_string()),
            ("WORKER_ID", "fw-e2e".to_string()),
            ("FUNCTIONS_DIR", dir.path().join("fw").display().to_string()),
        ],
    );
    cluster_metadata_setup(&broker_confs[0]);

    // ---- both initialisations again, as every `docker compose up` runs
    // them: BookKeeper's is refused by metaformat and accepted by
    // whatisinstanceid with the same instance id; Pulsar's succeeds.
    let (formatted, again) = bookkeeper_init(&metaformat_conf[0]);
    assert!(
        !formatted,
        "metaformat without -force formatted an existing cluster"
    );
    assert_eq!(again, instance, "the BookKeeper instance id changed");
    cluster_metadata_setup(&broker_confs[0]);
    eprintln!(
        "[e2e] BookKeeper and Pulsar metadata initialised (twice) after {:?}",
        started.elapsed()
    );

    let mut broker = start_broker("broker", dir.path(), &broker_confs);
    let dlog = e2e::log_text(&broker)
        .lines()
        .find(|l| l.contains("uri: distributedlog://") && l.contains("/pulsar/functions"))
        .map(str::to_string);
    assert!(
        dlog.as_deref().is_some_and(|l| l.contains(&addr)),
        "the function worker did not initialise its DistributedLog namespace on {connect} \
         ({dlog:?}); log tail:\n{}",
        broker.log_tail(80)
    );
    eprintln!("[e2e] broker up after {:?}", started.elapsed());

    // ---- deploy the function: its package goes to DistributedLog
    create_function(&web);
    let out = pulsar_driver(
        &[
            "zk-tree",
            &connect,
            "/pulsar/functions/public/default/exclaim",
        ],
        Duration::from_secs(120),
    );
    let znodes = tagged(&out.stdout, "ZNODE");
    assert!(
        znodes
            .iter()
            .any(|z| z.contains("-exclaim.jar/<default>/ledgers/logrecs_")),
        "no completed DistributedLog segment of the function package under \
         /pulsar/functions/public/default/exclaim on {connect}:\n{}",
        out.stdout
    );
    check_function(&web, &broker_url, "before", dir.path());
    eprintln!(
        "[e2e] function deployed and running after {:?}",
        started.elapsed()
    );

    let regs = registrations(&connect);
    for (kind, prefix) in [
        ("bookie", "/ledgers/available/127.0.0.1:"),
        ("broker", "/loadbalance/brokers/"),
        ("auditor", "/ledgers/underreplication/auditorelection/"),
    ] {
        assert!(
            regs.iter().any(|(p, _)| p.starts_with(prefix)),
            "no {kind} registration under {prefix}: {regs:?}"
        );
    }

    // ---- every zoe instance killed (-9) and restarted at once
    let out = pulsar_driver(
        &["produce", &broker_url, DURABLE, "keep", "a", "50"],
        Duration::from_secs(180),
    );
    assert!(out.stdout.contains("PRODUCED 50"), "{}", out.describe());
    let t = Instant::now();
    meta.kill_and_restart_all();
    eprintln!("[e2e] {} restarted in {:?}", meta.name(), t.elapsed());
    check_after_fault(
        "after restarting every instance",
        &connect,
        &regs,
        &web,
        &broker_url,
        "a",
        "b",
        dir.path(),
    );
    eprintln!("[e2e] sessions resumed and nothing lost after the restart");

    // ---- the busiest zoe instance killed (-9) for good: its clients move
    let out = pulsar_driver(
        &["produce", &broker_url, DURABLE, "keep", "c", "50"],
        Duration::from_secs(180),
    );
    assert!(out.stdout.contains("PRODUCED 50"), "{}", out.describe());
    let killed = match meta.kill_busiest() {
        Some((killed, conns)) => {
            assert!(conns > 0, "no client was connected to {killed}");
            eprintln!("[e2e] killed {killed}, which served {conns} connections");
            killed
        }
        None => {
            eprintln!(
                "[e2e] {} runs standalone here: restarting it again instead of moving clients",
                meta.name()
            );
            meta.kill_and_restart_all();
            String::new()
        }
    };
    check_after_fault(
        "after moving to the other instance",
        &connect,
        &regs,
        &web,
        &broker_url,
        "c",
        "d",
        dir.path(),
    );
    eprintln!("[e2e] sessions moved and nothing lost");

    // ---- kill -9 and restart the broker
    broker.kill();
    // Let the dead broker's session run out, or the new one finds its
    // registration and bundles still owned by "itself".
    thread::sleep(session_timeout() + Duration::from_secs(3));
    let t = Instant::now();
    let mut broker = start_broker("broker-restarted", dir.path(), &broker_confs);
    check_function(&web, &broker_url, "after", dir.path());
    eprintln!("[e2e] function back {:?} after the restart", t.elapsed());

    for b in &mut bookies {
        assert!(
            b.process.is_running(),
            "bookie {} exited; log tail:\n{}",
            b.id,
            b.process.log_tail(80)
        );
    }
    assert!(
        recovery.process.is_running(),
        "autorecovery exited; log tail:\n{}",
        recovery.process.log_tail(80)
    );
    assert!(
        broker.is_running(),
        "broker exited; log tail:\n{}",
        broker.log_tail(80)
    );
    meta.assert_running_except(&killed);
    eprintln!(
        "[e2e] Pulsar scenario passed on {} in {:?}",
        meta.name(),
        started.elapsed()
    );
}
