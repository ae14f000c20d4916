//! End to end: an Apache Pulsar 2.10 broker (official, unmodified jars) with
//! its embedded function worker, keeping its own metadata in etcd
//! (`metadataStoreUrl=etcd:...`) while BookKeeper — the broker's managed
//! ledgers and the function worker's DistributedLog package store — speaks
//! ZooKeeper to zoe (`bookkeeperMetadataServiceUri=zk+hierarchical://zoe/ledgers`).
//! This is the deployment zoe exists for: everything ends up in etcd.
//! `ZOE_TEST_TARGET=zookeeper` puts a real ZooKeeper 3.9.5 in zoe's place.
//!
//! Scenario:
//! 1. `bookkeeper shell metaformat` through zoe; two bookies;
//!    `PulsarClusterMetadataSetup` (etcd, existing BookKeeper on zoe);
//! 2. the broker starts; its function worker binds the DistributedLog
//!    namespace `distributedlog://zoe/pulsar/functions` (to `/ledgers`);
//! 3. a function (a jar with `zoee2e.fn.Exclaim`) is created: the worker
//!    stores the package as a DistributedLog log on zoe + the bookies and
//!    runs it (thread runtime); messages on `in` come out with a `!` on
//!    `out`; the package downloads back byte for byte;
//! 4. the broker is killed (-9) and restarted: the function runs again (its
//!    package read back from DistributedLog), messages flow (managed ledgers
//!    recovered through BookKeeper's fencing), the package still downloads.

mod support;

#[path = "e2e/common.rs"]
mod e2e;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use e2e::{spawn_java, tagged, wait_log, Bookie, Etcd, MetadataServer};
use support::{free_port, run_command, which, ClientOutput, ServerProcess, TestDir};

const PULSAR_VERSION: &str = "2.10.5";

struct Pulsar {
    lib: PathBuf,
    classes: PathBuf,
    function_jar: PathBuf,
    log4j2: PathBuf,
}

/// Resolve the Pulsar jars, compile the driver and build the function jar.
fn pulsar() -> &'static Pulsar {
    static PULSAR: OnceLock<Pulsar> = OnceLock::new();
    PULSAR.get_or_init(|| {
        let pom = e2e::e2e_path("pulsar/pom.xml");
        let lib = e2e::cache_path("pulsar-lib");
        e2e::resolve_jars(
            &format!("Pulsar {PULSAR_VERSION}"),
            &pom,
            &lib,
            &[
                format!("pulsar-broker-{PULSAR_VERSION}.jar"),
                format!("pulsar-functions-worker-{PULSAR_VERSION}.jar"),
            ],
        );
        let classes = e2e::cache_path("pulsar-classes");
        e2e::compile_java(&e2e::e2e_path("pulsar/java"), &pom, &lib, &classes, |out| {
            let jar = which("jar").expect("`jar` (JDK) not found on PATH");
            let mut cmd = Command::new(jar);
            cmd.arg("cf")
                .arg(out.join("exclaim.jar"))
                .arg("-C")
                .arg(out)
                .arg("zoee2e/fn");
            let o = run_command(&mut cmd, None, Duration::from_secs(60));
            assert!(o.success(), "jar failed\n{}", o.describe());
        });
        Pulsar {
            function_jar: classes.join("exclaim.jar"),
            lib,
            classes,
            log4j2: e2e::e2e_path("pulsar/log4j2.xml"),
        }
    })
}

fn pulsar_java(main_class: &str, heap: &str, direct: &str) -> Command {
    let p = pulsar();
    e2e::java_with(
        &p.classes,
        &p.lib,
        heap,
        &[
            format!("-XX:MaxDirectMemorySize={direct}"),
            format!("-Dlog4j.configurationFile={}", p.log4j2.display()),
            "-Dpulsar.allocator.exit_on_oom=true".to_string(),
            "-Dio.netty.recycler.maxCapacityPerThread=4096".to_string(),
        ],
        main_class,
    )
}

fn pulsar_driver(args: &[&str], timeout: Duration) -> ClientOutput {
    let mut cmd = pulsar_java("zoee2e.PulsarDriver", "128m", "64m");
    cmd.args(args);
    let out = run_command(&mut cmd, None, timeout);
    assert!(
        out.success(),
        "`PulsarDriver {}` failed\n{}",
        args.join(" "),
        out.describe()
    );
    out
}

struct BrokerPorts {
    broker: u16,
    web: u16,
}

fn write_broker_conf(dir: &Path, etcd: &str, bk_uri: &str, ports: &BrokerPorts) -> PathBuf {
    let conf = dir.join("broker.conf");
    fs::write(
        &conf,
        format!(
            "clusterName=e2e\n\
             metadataStoreUrl=etcd:{etcd}\n\
             configurationMetadataStoreUrl=etcd:{etcd}\n\
             metadataStoreSessionTimeoutMillis=5000\n\
             bookkeeperMetadataServiceUri={bk_uri}\n\
             brokerServicePort={}\n\
             webServicePort={}\n\
             advertisedAddress=127.0.0.1\n\
             bindAddress=127.0.0.1\n\
             managedLedgerDefaultEnsembleSize=2\n\
             managedLedgerDefaultWriteQuorum=2\n\
             managedLedgerDefaultAckQuorum=2\n\
             managedLedgerCacheSizeMB=16\n\
             functionsWorkerEnabled=true\n\
             systemTopicEnabled=false\n\
             topicLevelPoliciesEnabled=false\n\
             transactionCoordinatorEnabled=false\n\
             loadBalancerOverrideBrokerNicSpeedGbps=1\n\
             numIOThreads=2\n\
             numHttpServerThreads=4\n\
             numWorkerThreadsForNonPersistentTopic=1\n\
             bookkeeperClientNumWorkerThreads=2\n\
             managedLedgerNumWorkerThreads=2\n\
             managedLedgerNumSchedulerThreads=2\n\
             numOrderedExecutorThreads=2\n\
             numCacheExecutorThreadPoolSize=1\n",
            ports.broker, ports.web
        ),
    )
    .expect("write broker.conf");
    let fw = dir.join("fw");
    for d in ["download", "connectors", "functions"] {
        fs::create_dir_all(fw.join(d)).unwrap();
    }
    fs::write(
        dir.join("functions_worker.yml"),
        format!(
            "workerId: fw-e2e\n\
             workerHostname: 127.0.0.1\n\
             workerPort: {web}\n\
             pulsarFunctionsCluster: e2e\n\
             pulsarFunctionsNamespace: public/functions\n\
             numFunctionPackageReplicas: 2\n\
             downloadDirectory: {fw}/download\n\
             connectorsDirectory: {fw}/connectors\n\
             functionsDirectory: {fw}/functions\n\
             uploadBuiltinSinksSources: false\n\
             functionRuntimeFactoryClassName: org.apache.pulsar.functions.runtime.thread.ThreadRuntimeFactory\n\
             functionRuntimeFactoryConfigs:\n  threadGroupName: fn\n\
             functionMetadataTopicName: metadata\n\
             clusterCoordinationTopicName: coordinate\n\
             functionAssignmentTopicName: assignments\n\
             schedulerClassName: org.apache.pulsar.functions.worker.scheduler.RoundRobinScheduler\n\
             failureCheckFreqMs: 30000\n\
             rescheduleTimeoutMs: 60000\n\
             initialBrokerReconnectMaxRetries: 60\n\
             assignmentWriteMaxRetries: 60\n\
             instanceLivenessCheckFreqMs: 30000\n\
             topicCompactionFrequencySec: 1800\n",
            web = ports.web,
            fw = fw.display()
        ),
    )
    .expect("write functions_worker.yml");
    conf
}

fn start_broker(name: &str, dir: &Path, conf: &Path) -> ServerProcess {
    let mut cmd = pulsar_java("org.apache.pulsar.PulsarBrokerStarter", "320m", "192m");
    cmd.arg("--broker-conf")
        .arg(conf)
        .arg("--functions-worker-conf")
        .arg(dir.join("functions_worker.yml"));
    let mut broker = spawn_java(name, dir, cmd);
    wait_log(
        &mut broker,
        "messaging service is ready",
        Duration::from_secs(180),
        "Pulsar broker",
    );
    broker
}

/// The function flows: `COUNT` messages through it, and its package reads
/// back from DistributedLog identical to the uploaded jar.
fn check_function(web: &str, broker_url: &str, tag: &str, dir: &Path) {
    let out = pulsar_driver(&["await-running", web, "120"], Duration::from_secs(180));
    assert!(out.stdout.contains("RUNNING"), "{}", out.describe());
    let out = pulsar_driver(
        &["roundtrip", web, broker_url, tag, "10", "120"],
        Duration::from_secs(180),
    );
    assert!(out.stdout.contains("ROUNDTRIP 10"), "{}", out.describe());
    let jar = pulsar().function_jar.display().to_string();
    let dest = dir.join(format!("downloaded-{tag}.jar"));
    let out = pulsar_driver(
        &["download", web, &jar, &dest.display().to_string()],
        Duration::from_secs(180),
    );
    assert!(out.stdout.contains("identical"), "{}", out.describe());
}

#[test]
fn pulsar_broker_function_worker_keeps_packages_in_distributedlog_on_zoe() {
    let started = Instant::now();
    e2e::artifacts();
    pulsar();
    let mut meta = MetadataServer::start();
    let addr = meta.addr();
    // Pulsar's own metadata always lives in etcd: zoe's etcd, or a separate
    // one when ZooKeeper stands in for zoe.
    let own_etcd = match meta.etcd_endpoint() {
        Some(_) => None,
        None => Some(Etcd::start()),
    };
    let etcd = meta
        .etcd_endpoint()
        .unwrap_or_else(|| own_etcd.as_ref().unwrap().endpoint());
    eprintln!(
        "[e2e] BookKeeper metadata: {} at {addr}; Pulsar metadata: etcd {etcd}",
        meta.name()
    );
    let bk_uri = format!("zk+hierarchical://{addr}/ledgers");
    let dir = TestDir::new("e2e-pulsar");

    e2e::metaformat(dir.path(), &bk_uri);
    let mut bookies: Vec<Bookie> = (1..=2)
        .map(|i| Bookie::spawn(&format!("bookie{i}"), &bk_uri))
        .collect();
    for b in &mut bookies {
        b.wait_ready(Duration::from_secs(120));
    }

    let ports = BrokerPorts {
        broker: free_port(),
        web: free_port(),
    };
    let web = format!("http://127.0.0.1:{}", ports.web);
    let broker_url = format!("pulsar://127.0.0.1:{}", ports.broker);
    let mut setup = pulsar_java(
        "org.apache.pulsar.PulsarClusterMetadataSetup",
        "128m",
        "64m",
    );
    setup
        .args(["--cluster", "e2e"])
        .args(["--metadata-store", &format!("etcd:{etcd}")])
        .args(["--configuration-metadata-store", &format!("etcd:{etcd}")])
        .args(["--existing-bk-metadata-service-uri", &bk_uri])
        .args(["--web-service-url", &web])
        .args(["--broker-service-url", &broker_url]);
    let out = run_command(&mut setup, None, Duration::from_secs(180));
    assert!(
        out.success() && out.stderr.contains("setup correctly"),
        "PulsarClusterMetadataSetup failed\n{}",
        out.describe()
    );

    let conf = write_broker_conf(dir.path(), &etcd, &bk_uri, &ports);
    let mut broker = start_broker("broker", dir.path(), &conf);
    assert!(
        e2e::log_contains(
            &broker,
            &format!("uri: distributedlog://{addr}/pulsar/functions")
        ),
        "the function worker did not initialise its DistributedLog namespace on {addr}; \
         log tail:\n{}",
        broker.log_tail(80)
    );
    eprintln!("[e2e] broker up after {:?}", started.elapsed());

    // ---- deploy the function: its package goes to DistributedLog
    let jar = pulsar().function_jar.display().to_string();
    let out = pulsar_driver(&["create", &web, &jar], Duration::from_secs(180));
    assert!(out.stdout.contains("CREATED"), "{}", out.describe());
    let out = pulsar_driver(
        &["zk-tree", &addr, "/pulsar/functions/public/default/exclaim"],
        Duration::from_secs(120),
    );
    let znodes = tagged(&out.stdout, "ZNODE");
    assert!(
        znodes
            .iter()
            .any(|z| z.contains("-exclaim.jar/<default>/ledgers/logrecs_")),
        "no completed DistributedLog segment of the function package under \
         /pulsar/functions/public/default/exclaim on {addr}:\n{}",
        out.stdout
    );
    check_function(&web, &broker_url, "before", dir.path());
    eprintln!(
        "[e2e] function deployed and running after {:?}",
        started.elapsed()
    );

    // ---- kill -9 and restart the broker
    broker.kill();
    // Let the dead broker's etcd lease (metadataStoreSessionTimeoutMillis)
    // run out, or the new one finds its bundles still owned by "itself".
    thread::sleep(Duration::from_secs(8));
    let t = Instant::now();
    let mut broker = start_broker("broker-restarted", dir.path(), &conf);
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
        broker.is_running(),
        "broker exited; log tail:\n{}",
        broker.log_tail(80)
    );
    meta.assert_running();
    eprintln!(
        "[e2e] Pulsar scenario passed on {} in {:?}",
        meta.name(),
        started.elapsed()
    );
}
