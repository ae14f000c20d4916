//! Shared pieces of the end-to-end suite (`tests/e2e_*.rs`): the official
//! Apache BookKeeper 4.14 / DistributedLog 4.14 jars, the small Java drivers
//! in `tests/e2e/java`, and processes built from them (bookies, autorecovery
//! daemons), all talking ZooKeeper to the metadata server under test.
//!
//! The metadata server is zoe on its own etcd (default) or, with
//! `ZOE_TEST_TARGET=zookeeper`, a real ZooKeeper 3.9.5, to check that a
//! scenario passes against the reference.
//!
//! Artifacts (built once, re-used while their inputs are unchanged):
//!
//! | what                        | where                                     |
//! |-----------------------------|-------------------------------------------|
//! | jars of `tests/e2e/pom.xml` | `.cache/e2e/lib` (`mvn dependency:copy-dependencies`, local repository `.cache/m2`) |
//! | compiled drivers            | `.cache/e2e/classes` (`javac`)            |
//! | Pulsar (tests/e2e_pulsar.rs)| `.cache/e2e/pulsar-lib`, `.cache/e2e/pulsar-classes` |
//!
//! `ZOE_E2E_CACHE` moves `.cache/e2e`; `ZOE_E2E_MVN` names the `mvn` binary.

#![allow(dead_code)]

use std::env;
use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use crate::support::{
    etcd_bin, free_port, java_bin, repo_root, run_command, sessions_served, unique_prefix, which,
    ClientOutput, ServerProcess, TargetKind, TestDir, Zoe, ZooKeeperServer,
};

/// The BookKeeper / DistributedLog release under test (see tests/e2e/pom.xml).
pub const BK_VERSION: &str = "4.14.7";

// ---------------------------------------------------------------- artifacts

pub struct Artifacts {
    /// Directory of the jars (classpath `lib/*`).
    pub lib: PathBuf,
    /// Compiled `zoee2e.*` drivers.
    pub classes: PathBuf,
    /// log4j 1.x (reload4j) configuration of every JVM.
    pub log4j: PathBuf,
}

fn e2e_dir() -> PathBuf {
    repo_root().join("tests/e2e")
}

fn cache_dir() -> PathBuf {
    env::var_os("ZOE_E2E_CACHE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".cache/e2e"))
}

/// sha256 of the concatenated files, via coreutils' `sha256sum`.
fn digest(files: &[PathBuf]) -> String {
    let mut cmd = Command::new("sha256sum");
    let mut input = Vec::new();
    for f in files {
        input.extend(fs::read(f).unwrap_or_else(|e| panic!("read {}: {e}", f.display())));
        input.extend(f.display().to_string().as_bytes());
    }
    let out = run_command(
        &mut cmd,
        Some(&String::from_utf8_lossy(&input)),
        Duration::from_secs(60),
    );
    assert!(out.success(), "sha256sum failed\n{}", out.describe());
    out.stdout
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// The `.java` files under `dir` (recursively), sorted.
fn java_sources(dir: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap_or_else(|e| panic!("read {}: {e}", d.display())) {
            let p = e.expect("dir entry").path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "java") {
                v.push(p);
            }
        }
    }
    v.sort();
    v
}

/// Build `dest` with `build(tmp)` into a sibling temporary directory, then
/// move it into place, so that an interrupted build never leaves a
/// half-filled directory behind a valid stamp.
fn build_dir(dest: &Path, stamp: &str, build: impl FnOnce(&Path)) {
    let stamp_file = dest.join(".stamp");
    if fs::read_to_string(&stamp_file).ok().as_deref() == Some(stamp) {
        return;
    }
    let parent = dest.parent().expect("cache parent");
    fs::create_dir_all(parent).expect("create cache dir");
    let tmp = parent.join(format!(
        ".{}.tmp-{}",
        dest.file_name().unwrap().to_string_lossy(),
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp).expect("create temp build dir");
    build(&tmp);
    fs::write(tmp.join(".stamp"), stamp).expect("write stamp");
    let _ = fs::remove_dir_all(dest);
    if let Err(e) = fs::rename(&tmp, dest) {
        // Another test process may have finished the same build first.
        let _ = fs::remove_dir_all(&tmp);
        if fs::read_to_string(&stamp_file).ok().as_deref() != Some(stamp) {
            panic!("move {} into place: {e}", dest.display());
        }
    }
}

fn mvn_bin() -> PathBuf {
    if let Some(p) = env::var_os("ZOE_E2E_MVN").filter(|v| !v.is_empty()) {
        return PathBuf::from(p);
    }
    which("mvn").unwrap_or_else(|| {
        panic!("`mvn` not found on PATH (apt-get install maven, or set ZOE_E2E_MVN)")
    })
}

fn javac_bin() -> PathBuf {
    which("javac").unwrap_or_else(|| panic!("`javac` not found on PATH (install a JDK)"))
}

/// `mvn dependency:copy-dependencies` of `pom` into `lib` (Maven's local
/// repository is `.cache/m2`), unless `lib` is up to date; then checks that
/// each of `required` (jar file names) is there.
pub fn resolve_jars(what: &str, pom: &Path, lib: &Path, required: &[String]) {
    let stamp = digest(&[pom.to_path_buf(), e2e_dir().join("maven-settings.xml")]);
    build_dir(lib, &stamp, |tmp| {
        eprintln!("[e2e] resolving {what} into {}", lib.display());
        let mut cmd = Command::new(mvn_bin());
        cmd.arg("-B")
            .arg("-s")
            .arg(e2e_dir().join("maven-settings.xml"))
            .arg("-Dstyle.color=never")
            .arg(format!(
                "-Dmaven.repo.local={}",
                repo_root().join(".cache/m2").display()
            ))
            .arg("-f")
            .arg(pom)
            .arg("dependency:copy-dependencies")
            .arg(format!("-DoutputDirectory={}", tmp.display()))
            .arg("-DincludeScope=runtime");
        let out = run_command(&mut cmd, None, Duration::from_secs(1200));
        assert!(
            out.success(),
            "mvn could not resolve the artifacts of {} (each unresolvable artifact is named \
             in the output below)\n{}",
            pom.display(),
            out.describe()
        );
        for jar in required {
            assert!(
                tmp.join(jar).is_file(),
                "mvn succeeded but {jar} is not in {}",
                tmp.display()
            );
        }
    });
}

/// `javac` every source under `src` against `lib/*` into `classes`, unless
/// `classes` is up to date with the sources and `pom`; then `extra(classes)`
/// (still inside the rebuild) for anything built from the classes.
pub fn compile_java(src: &Path, pom: &Path, lib: &Path, classes: &Path, extra: impl FnOnce(&Path)) {
    let sources = java_sources(src);
    let mut inputs = sources.clone();
    inputs.push(pom.to_path_buf());
    let stamp = digest(&inputs);
    build_dir(classes, &stamp, |tmp| {
        eprintln!(
            "[e2e] compiling {} into {}",
            src.display(),
            classes.display()
        );
        let mut cmd = Command::new(javac_bin());
        cmd.args(["--release", "11", "-nowarn", "-encoding", "UTF-8", "-d"])
            .arg(tmp)
            .arg("-cp")
            .arg(lib.join("*"))
            .args(&sources);
        let out = run_command(&mut cmd, None, Duration::from_secs(300));
        assert!(out.success(), "javac failed\n{}", out.describe());
        extra(tmp);
    });
}

/// Resolve the BookKeeper/DistributedLog jars and compile the drivers (once
/// per run; skipped when the cache is up to date).
pub fn artifacts() -> &'static Artifacts {
    static ARTIFACTS: OnceLock<Artifacts> = OnceLock::new();
    ARTIFACTS.get_or_init(|| {
        let cache = cache_dir();
        let pom = e2e_dir().join("pom.xml");
        let lib = cache.join("lib");
        resolve_jars(
            &format!("BookKeeper/DistributedLog {BK_VERSION}"),
            &pom,
            &lib,
            &[
                format!("bookkeeper-server-{BK_VERSION}.jar"),
                format!("distributedlog-core-{BK_VERSION}.jar"),
            ],
        );
        let classes = cache.join("classes");
        compile_java(&e2e_dir().join("java"), &pom, &lib, &classes, |_| {});
        Artifacts {
            lib,
            classes,
            log4j: e2e_dir().join("log4j.properties"),
        }
    })
}

/// Where `tests/e2e/<rel>` is.
pub fn e2e_path(rel: &str) -> PathBuf {
    e2e_dir().join(rel)
}

/// Where `.cache/e2e/<rel>` is.
pub fn cache_path(rel: &str) -> PathBuf {
    cache_dir().join(rel)
}

// ---------------------------------------------------------------- JVMs

/// JVM flags for a small, shared machine; BookKeeper 4.14 and Pulsar 2.10
/// predate Java 17's strong encapsulation, hence the `--add-opens`.
pub const JVM_FLAGS: &[&str] = &[
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-Xss512k",
    "-Djava.net.preferIPv4Stack=true",
    "-Dzookeeper.sasl.client=false",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.misc=ALL-UNNAMED",
    "--add-opens=java.management/sun.management=ALL-UNNAMED",
    "--add-opens=jdk.management/com.sun.management.internal=ALL-UNNAMED",
];

/// `java` with `JVM_FLAGS`, `heap`, classpath `classes:lib/*`, and `props`
/// (`-D...` settings) before `main_class`.
pub fn java_with(
    classes: &Path,
    lib: &Path,
    heap: &str,
    props: &[String],
    main_class: &str,
) -> Command {
    let mut cp = classes.as_os_str().to_os_string();
    cp.push(":");
    cp.push(lib.join("*"));
    let mut cmd = Command::new(java_bin());
    cmd.arg(format!("-Xmx{heap}"))
        .args(JVM_FLAGS)
        .args(props)
        .arg("-cp")
        .arg(cp)
        .arg(main_class);
    cmd
}

/// `java` for the BookKeeper/DistributedLog jars and drivers.
pub fn java(main_class: &str, heap: &str) -> Command {
    let a = artifacts();
    java_with(
        &a.classes,
        &a.lib,
        heap,
        &[
            "-XX:MaxDirectMemorySize=128m".to_string(),
            format!("-Dlog4j.configuration=file:{}", a.log4j.display()),
        ],
        main_class,
    )
}

/// Run a Java main to completion.
pub fn run_java(main_class: &str, args: &[&str], timeout: Duration) -> ClientOutput {
    let mut cmd = java(main_class, "96m");
    cmd.args(args);
    run_command(&mut cmd, None, timeout)
}

/// Run one command of a `zoee2e` driver; panics (with its output) unless it
/// exits 0.
pub fn driver(class: &str, args: &[&str], timeout: Duration) -> ClientOutput {
    let out = run_java(&format!("zoee2e.{class}"), args, timeout);
    assert!(
        out.success(),
        "`{class} {}` failed\n{}",
        args.join(" "),
        out.describe()
    );
    out
}

/// Lines of `text` starting with `prefix` (the prefix and one space removed).
pub fn tagged<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    text.lines()
        .filter_map(|l| l.strip_prefix(prefix))
        .map(|l| l.strip_prefix(' ').unwrap_or(l))
        .collect()
}

/// A long-running JVM whose output goes to a log file in `dir`.
pub fn spawn_java(name: &str, dir: &Path, mut cmd: Command) -> ServerProcess {
    let log = dir.join(format!("{name}.log"));
    ServerProcess::spawn(name, &mut cmd, log).unwrap_or_else(|e| panic!("spawn {name}: {e}"))
}

pub fn log_text(p: &ServerProcess) -> String {
    String::from_utf8_lossy(&fs::read(p.log_path()).unwrap_or_default()).into_owned()
}

/// Wait until `p`'s log contains `needle`; panics with the log tail if the
/// process exits first or `timeout` passes.
pub fn wait_log(p: &mut ServerProcess, needle: &str, timeout: Duration, what: &str) {
    let deadline = Instant::now() + timeout;
    loop {
        if log_text(p).contains(needle) {
            return;
        }
        if let Some(status) = p.exit_status() {
            panic!(
                "{what}: process exited ({status}) before logging {needle:?}; log tail:\n{}",
                p.log_tail(80)
            );
        }
        if Instant::now() >= deadline {
            panic!(
                "{what}: {needle:?} not logged within {timeout:?}; log tail:\n{}",
                p.log_tail(80)
            );
        }
        thread::sleep(Duration::from_millis(100));
    }
}

pub fn log_contains(p: &ServerProcess, needle: &str) -> bool {
    log_text(p).contains(needle)
}

// ---------------------------------------------------------------- metadata server

/// etcd for zoe, started as the suite asks (`--max-txn-ops 10000`).
pub struct Etcd {
    process: ServerProcess,
    port: u16,
    dir: TestDir,
}

impl Etcd {
    pub fn start() -> Etcd {
        let mut last = String::new();
        for _ in 0..3 {
            let dir = TestDir::new("e2e-etcd");
            let port = free_port();
            let peer = free_port();
            let client_url = format!("http://127.0.0.1:{port}");
            let peer_url = format!("http://127.0.0.1:{peer}");
            let mut cmd = Command::new(etcd_bin());
            cmd.args(["--name", "e2e", "--data-dir"])
                .arg(dir.path().join("data"))
                .args(["--listen-client-urls", &client_url])
                .args(["--advertise-client-urls", &client_url])
                .args(["--listen-peer-urls", &peer_url])
                .args(["--initial-advertise-peer-urls", &peer_url])
                .args(["--initial-cluster", &format!("e2e={peer_url}")])
                .args(["--initial-cluster-state", "new"])
                .args(["--max-txn-ops", "10000"])
                .args(["--logger", "zap", "--log-outputs", "stderr"])
                .args(["--log-level", "warn"]);
            let log = dir.path().join("etcd.log");
            let mut process = ServerProcess::spawn("etcd", &mut cmd, log).expect("spawn etcd");
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if healthy(port) {
                    return Etcd { process, port, dir };
                }
                if process.exit_status().is_some() || Instant::now() >= deadline {
                    last = process.log_tail(40);
                    process.kill();
                    break;
                }
                thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("etcd did not start; last log:\n{last}");
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

fn healthy(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let req = format!("GET /health HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    resp.contains("\"health\":\"true\"")
}

/// The ZooKeeper endpoint the BookKeeper and DistributedLog processes use:
/// zoe on etcd, or (ZOE_TEST_TARGET=zookeeper) a real ZooKeeper 3.9.5.
pub enum MetadataServer {
    // Field order: zoe stops before its etcd.
    Zoe { zoes: Vec<Zoe>, etcd: Etcd },
    ZooKeeper(ZooKeeperServer),
}

impl MetadataServer {
    /// One zoe instance (or one ZooKeeper).
    pub fn start() -> MetadataServer {
        MetadataServer::start_instances(1)
    }

    /// `n` zoe instances on one etcd and prefix, all serving the same tree
    /// (or one standalone ZooKeeper: the oracle has no second instance).
    pub fn start_instances(n: usize) -> MetadataServer {
        match TargetKind::from_env() {
            TargetKind::Zoe => {
                let etcd = Etcd::start();
                let prefix = unique_prefix("e2e");
                let zoes = (0..n.max(1))
                    .map(|_| {
                        Zoe::start_with(
                            &etcd.endpoint(),
                            &prefix,
                            // `cons` tells which instance serves the clients.
                            &["--max-client-cnxns", "0", "--four-letter-words", "*"],
                        )
                    })
                    .collect();
                MetadataServer::Zoe { zoes, etcd }
            }
            TargetKind::ZooKeeper => MetadataServer::ZooKeeper(ZooKeeperServer::start()),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            MetadataServer::Zoe { .. } => "zoe",
            MetadataServer::ZooKeeper(_) => "ZooKeeper 3.9.5",
        }
    }

    /// `127.0.0.1:PORT` of the first instance.
    pub fn addr(&self) -> String {
        match self {
            MetadataServer::Zoe { zoes, .. } => zoes[0].addr(),
            MetadataServer::ZooKeeper(zk) => zk.addr(),
        }
    }

    /// Every instance's `127.0.0.1:PORT`.
    pub fn addrs(&self) -> Vec<String> {
        match self {
            MetadataServer::Zoe { zoes, .. } => zoes.iter().map(Zoe::addr).collect(),
            MetadataServer::ZooKeeper(zk) => vec![zk.addr()],
        }
    }

    /// A ZooKeeper connect string naming every instance.
    pub fn connect_string(&self) -> String {
        self.addrs().join(",")
    }

    /// The etcd zoe runs on (none for ZooKeeper).
    pub fn etcd_endpoint(&self) -> Option<String> {
        match self {
            MetadataServer::Zoe { etcd, .. } => Some(etcd.endpoint()),
            MetadataServer::ZooKeeper(_) => None,
        }
    }

    /// kill -9 every instance at once, then start each again on its port.
    pub fn kill_and_restart_all(&mut self) {
        match self {
            MetadataServer::Zoe { zoes, .. } => {
                for z in zoes.iter_mut() {
                    z.kill();
                }
                for z in zoes.iter_mut() {
                    z.restart();
                }
            }
            MetadataServer::ZooKeeper(zk) => zk.kill_and_restart(),
        }
    }

    /// kill -9 the zoe instance that serves the most client connections
    /// (by `cons`) and leave it down: its clients must move to the others.
    /// Returns the killed address and how many connections it had. `None`
    /// for ZooKeeper, which the suite runs standalone.
    pub fn kill_busiest(&mut self) -> Option<(String, usize)> {
        let MetadataServer::Zoe { zoes, .. } = self else {
            return None;
        };
        let live: Vec<usize> = (0..zoes.len()).filter(|i| zoes[*i].is_running()).collect();
        assert!(
            live.len() >= 2,
            "need two running zoe instances to move clients"
        );
        let (i, n) = live
            .iter()
            .map(|i| (*i, sessions_served(&zoes[*i].addr())))
            .max_by_key(|(_, n)| *n)
            .expect("a live instance");
        let addr = zoes[i].addr();
        zoes[i].kill();
        Some((addr, n))
    }

    /// Panics if a server process that should run has died.
    pub fn assert_running(&mut self) {
        if let MetadataServer::Zoe { zoes, .. } = self {
            for z in zoes.iter_mut() {
                assert!(z.is_running(), "zoe exited; log tail:\n{}", z.log_tail(80));
            }
        }
    }

    /// Like `assert_running`, for the instances not deliberately killed.
    pub fn assert_running_except(&mut self, killed: &str) {
        if let MetadataServer::Zoe { zoes, .. } = self {
            for z in zoes.iter_mut().filter(|z| z.addr() != killed) {
                assert!(z.is_running(), "zoe exited; log tail:\n{}", z.log_tail(80));
            }
        }
    }
}

// ---------------------------------------------------------------- BookKeeper

/// `bookkeeper shell metaformat -nonInteractive -force`: write the cluster
/// metadata (`/ledgers`, its layout, instance id, ...) through ZooKeeper.
pub fn metaformat(dir: &Path, metadata_uri: &str) {
    let conf = dir.join("metaformat.conf");
    fs::write(
        &conf,
        format!("metadataServiceUri={metadata_uri}\nzkTimeout=10000\n"),
    )
    .expect("write metaformat.conf");
    let conf_s = conf.display().to_string();
    let out = run_java(
        "org.apache.bookkeeper.bookie.BookieShell",
        &["-conf", &conf_s, "metaformat", "-nonInteractive", "-force"],
        Duration::from_secs(120),
    );
    assert!(
        out.success(),
        "BookieShell metaformat against {metadata_uri} failed\n{}",
        out.describe()
    );
}

/// A bookie (`org.apache.bookkeeper.server.Main`) on a free loopback port
/// with small journal and ledger directories.
pub struct Bookie {
    pub process: ServerProcess,
    pub port: u16,
    pub id: String,
    dir: TestDir,
}

impl Bookie {
    /// Spawn (does not wait; see `wait_ready`).
    pub fn spawn(name: &str, metadata_uri: &str) -> Bookie {
        Bookie::spawn_with_timeout(name, metadata_uri, 4000)
    }

    /// Spawn with a ZooKeeper session timeout of `zk_timeout_ms`.
    pub fn spawn_with_timeout(name: &str, metadata_uri: &str, zk_timeout_ms: u32) -> Bookie {
        let dir = TestDir::new(&format!("e2e-{name}"));
        let port = free_port();
        let journal = dir.path().join("journal");
        let ledgers = dir.path().join("ledgers");
        fs::create_dir_all(&journal).unwrap();
        fs::create_dir_all(&ledgers).unwrap();
        let conf = dir.path().join("bookie.conf");
        fs::write(
            &conf,
            format!(
                "metadataServiceUri={metadata_uri}\n\
                 bookiePort={port}\n\
                 advertisedAddress=127.0.0.1\n\
                 allowLoopback=true\n\
                 journalDirectories={}\n\
                 ledgerDirectories={}\n\
                 httpServerEnabled=false\n\
                 autoRecoveryDaemonEnabled=false\n\
                 zkTimeout={zk_timeout_ms}\n\
                 journalPreAllocSizeMB=1\n\
                 journalWriteBufferSizeKB=16\n\
                 journalSyncData=false\n\
                 ledgerStorageClass=org.apache.bookkeeper.bookie.InterleavedLedgerStorage\n\
                 entryLogFilePreallocationEnabled=false\n\
                 diskUsageThreshold=0.999\n\
                 diskUsageWarnThreshold=0.998\n\
                 diskUsageLwmThreshold=0.997\n\
                 numAddWorkerThreads=1\n\
                 numReadWorkerThreads=1\n\
                 numJournalCallbackThreads=1\n\
                 serverNumIOThreads=2\n",
                journal.display(),
                ledgers.display()
            ),
        )
        .expect("write bookie.conf");
        let mut cmd = java("org.apache.bookkeeper.server.Main", "128m");
        cmd.arg("--conf").arg(&conf);
        let process = spawn_java(name, dir.path(), cmd);
        Bookie {
            process,
            port,
            id: format!("127.0.0.1:{port}"),
            dir,
        }
    }

    pub fn wait_ready(&mut self, timeout: Duration) {
        let what = format!("bookie {}", self.id);
        wait_log(
            &mut self.process,
            "Started component bookie-server",
            timeout,
            &what,
        );
    }
}

/// An `org.apache.bookkeeper.replication.AutoRecoveryMain` (auditor elector
/// plus replication worker). Its id in the auditor election is
/// `127.0.0.1:<port>` with a port of its own (nothing listens on it).
pub struct AutoRecovery {
    pub process: ServerProcess,
    pub id: String,
    dir: TestDir,
}

impl AutoRecovery {
    pub fn spawn(name: &str, metadata_uri: &str) -> AutoRecovery {
        AutoRecovery::spawn_with_timeout(name, metadata_uri, 4000)
    }

    /// Spawn with a ZooKeeper session timeout of `zk_timeout_ms`.
    pub fn spawn_with_timeout(name: &str, metadata_uri: &str, zk_timeout_ms: u32) -> AutoRecovery {
        let dir = TestDir::new(&format!("e2e-{name}"));
        let port = free_port();
        let conf = dir.path().join("autorecovery.conf");
        fs::write(
            &conf,
            format!(
                "metadataServiceUri={metadata_uri}\n\
                 bookiePort={port}\n\
                 advertisedAddress=127.0.0.1\n\
                 allowLoopback=true\n\
                 httpServerEnabled=false\n\
                 zkTimeout={zk_timeout_ms}\n\
                 lostBookieRecoveryDelay=0\n\
                 auditorPeriodicCheckInterval=20\n\
                 auditorPeriodicBookieCheckInterval=5\n\
                 auditorPeriodicPlacementPolicyCheckInterval=0\n\
                 auditorPeriodicReplicasCheckInterval=0\n\
                 rwRereplicateBackoffMs=1000\n\
                 lockReleaseOfFailedLedgerGracePeriod=2000\n\
                 openLedgerRereplicationGracePeriod=2000\n\
                 underreplicatedLedgerRecoveryGracePeriod=0\n"
            ),
        )
        .expect("write autorecovery.conf");
        let mut cmd = java("org.apache.bookkeeper.replication.AutoRecoveryMain", "128m");
        cmd.arg("--conf").arg(&conf);
        let process = spawn_java(name, dir.path(), cmd);
        AutoRecovery {
            process,
            id: format!("127.0.0.1:{port}"),
            dir,
        }
    }

    pub fn wait_ready(&mut self, timeout: Duration) {
        let what = format!("autorecovery {}", self.id);
        wait_log(
            &mut self.process,
            "Started component autorecovery-server",
            timeout,
            &what,
        );
    }
}
