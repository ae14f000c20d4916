//! End to end on a shared tree: an Apache Pulsar 2.10 cluster whose
//! metadata is in etcd through Pulsar's own etcd metadata store, and
//! BookKeeper autorecovery — which only speaks ZooKeeper — on the very same
//! keys through two zoe instances (`--profile pulsar-2.10`,
//! docs/shared-tree.md). Official, unmodified jars.
//!
//! - etcd; `PulsarClusterMetadataSetup` with `etcd:` URLs (it formats
//!   BookKeeper's metadata itself, through Pulsar's driver);
//! - three bookies on `metadataServiceUri=metadata-store:etcd:…/ledgers`
//!   (Pulsar's metadata driver, embedded autorecovery off);
//! - two zoe instances, and two `AutoRecoveryMain` processes on
//!   `zk+hierarchical://A;B/ledgers`;
//! - a broker on `metadataStoreUrl=etcd:…`, small ledgers;
//! - the SharedTreeDriver JVM watching both doors: Pulsar's store on etcd,
//!   and the ZooKeeper client on zoe.
//!
//! Checked: etcd holds only path keys and zoe's `0zoe/` keys; exactly one
//! auditor (ZooKeeper election through zoe, none through Pulsar's driver);
//! every ledger's metadata read through zoe equals etcd's, bytes, versions
//! and revisions; the bookie list seen through zoe loses a killed bookie
//! with a strictly higher cversion; the auditor marks exactly the ledgers
//! that had a copy on it (marks seen by Pulsar's store and by a ZooKeeper
//! watch), the replication workers copy them and rewrite their metadata
//! (seen through both doors), the marks go, and every message is read
//! back; the auditor killed, the other process takes over.
//!
//! Configuration comes from `deploy/pulsar/` (broker-etcd.conf,
//! bookkeeper-etcd.conf, autorecovery.conf) through render-conf.sh.

mod support;

#[path = "e2e/common.rs"]
mod e2e;
#[path = "e2e/pulsar_deploy.rs"]
mod pulsar_deploy;
#[path = "e2e/shared_tree.rs"]
mod shared_tree;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use e2e::{spawn_java, wait_log};
use pulsar_deploy::{JavaCommand, PULSAR_VERSION};
use shared_tree::{await_children, etcd_keys, Driver, ZStat};
use support::{
    free_port, run_command, which, ClientOutput, EtcdServer, ServerProcess, TestDir, Zoe,
};

struct Pulsar {
    lib: PathBuf,
    classes: PathBuf,
    log4j2: PathBuf,
}

/// The Pulsar jars and the PulsarDriver (built exactly as
/// tests/e2e_pulsar.rs builds them, into the same cache).
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
            lib,
            classes,
            log4j2: e2e::e2e_path("pulsar/log4j2.xml"),
        }
    })
}

/// `main_class ARGS` on the jars of the Pulsar distribution; `drivers`
/// adds Pulsar's BookKeeper metadata drivers, as `bin/bookkeeper` does.
fn pulsar_command(
    (main_class, args): JavaCommand,
    heap: &str,
    direct: &str,
    drivers: bool,
) -> Command {
    let p = pulsar();
    let mut props = vec![
        format!("-XX:MaxDirectMemorySize={direct}"),
        format!("-Dlog4j.configurationFile={}", p.log4j2.display()),
        "-Dpulsar.allocator.exit_on_oom=true".to_string(),
        "-Dio.netty.recycler.maxCapacityPerThread=4096".to_string(),
    ];
    if drivers {
        props.extend(
            pulsar_deploy::PULSAR_METADATA_DRIVERS
                .iter()
                .map(|s| s.to_string()),
        );
    }
    let mut cmd = e2e::java_with(&p.classes, &p.lib, heap, &props, main_class);
    cmd.args(args);
    cmd
}

fn pulsar_driver(args: &[&str], timeout: Duration) -> ClientOutput {
    let cmd = (
        "zoee2e.PulsarDriver",
        args.iter().map(|s| s.to_string()).collect(),
    );
    let out = run_command(
        &mut pulsar_command(cmd, "128m", "64m", false),
        None,
        timeout,
    );
    assert!(
        out.success(),
        "`PulsarDriver {}` failed\n{}",
        args.join(" "),
        out.describe()
    );
    out
}

/// Renders `template` of deploy/pulsar into `dir`; returns its path.
fn render(dir: &Path, template: &str, vars: &[(&str, String)]) -> String {
    let dest = dir.join(template);
    pulsar_deploy::render(&[(template, &dest)], vars)
        .unwrap_or_else(|e| panic!("render-conf.sh {template} failed\n{e}"));
    dest.display().to_string()
}

/// A bookie or an autorecovery process, known by its BookKeeper identity.
struct Daemon {
    process: ServerProcess,
    id: String,
    _dir: TestDir,
}

fn spawn_daemon(
    name: &str,
    template: &str,
    vars: &[(&str, String)],
    command: fn(&str) -> JavaCommand,
    drivers: bool,
) -> Daemon {
    let dir = TestDir::new(&format!("e2e-shared-{name}"));
    let port = free_port();
    let mut vars = vars.to_vec();
    vars.push(("ADVERTISED_ADDRESS", "127.0.0.1".to_string()));
    vars.push(("BOOKIE_PORT", port.to_string()));
    if template == pulsar_deploy::BOOKIE_ETCD_CONF {
        vars.push(("DATA_DIR", dir.path().join("data").display().to_string()));
    }
    let conf = render(dir.path(), template, &vars);
    let cmd = pulsar_command(command(&conf), "128m", "128m", drivers);
    let process = spawn_java(name, dir.path(), cmd);
    Daemon {
        process,
        id: format!("127.0.0.1:{port}"),
        _dir: dir,
    }
}

/// Every key under `prefix` with its value and etcd metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Kv {
    value: Vec<u8>,
    create_revision: i64,
    mod_revision: i64,
    version: i64,
}

fn etcd_prefix(etcd: &EtcdServer, prefix: &str) -> BTreeMap<String, Kv> {
    let out = etcd.etcdctl(&["get", "--prefix", prefix, "-w", "json"]);
    assert!(out.success(), "etcdctl get {prefix}\n{}", out.describe());
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).expect("etcdctl json");
    let mut map = BTreeMap::new();
    for kv in doc
        .get("kvs")
        .and_then(|v| v.as_array())
        .cloned()
        .unwrap_or_default()
    {
        let text = |f: &str| kv.get(f).and_then(|v| v.as_str()).unwrap_or("").to_string();
        let num = |f: &str| kv.get(f).and_then(|v| v.as_i64()).unwrap_or(0);
        let key = String::from_utf8(shared_tree::base64_decode(&text("key"))).expect("utf-8 key");
        map.insert(
            key,
            Kv {
                value: shared_tree::base64_decode(&text("value")),
                create_revision: num("create_revision"),
                mod_revision: num("mod_revision"),
                version: num("version"),
            },
        );
    }
    map
}

/// Ledger metadata keys (`/ledgers/NN/NNNN/LNNNN`) and their ledger ids.
fn ledgers(etcd: &EtcdServer) -> BTreeMap<String, (u64, Kv)> {
    etcd_prefix(etcd, "/ledgers/")
        .into_iter()
        .filter_map(|(k, kv)| {
            let parts: Vec<&str> = k.trim_start_matches("/ledgers/").split('/').collect();
            match parts.as_slice() {
                [a, b, l] if a.len() == 2 && b.len() == 4 && l.starts_with('L') => {
                    let id: u64 = format!("{a}{b}{}", &l[1..]).parse().ok()?;
                    Some((k, (id, kv)))
                }
                _ => None,
            }
        })
        .collect()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// The ledger's metadata through zoe equals etcd's: bytes, version,
/// czxid, mzxid. Returns a description of the first difference.
fn zoe_differs(d: &mut Driver, path: &str, kv: &Kv) -> Option<String> {
    let Some((data, st)) = d.zget(path, false) else {
        return Some(format!("{path}: NONODE through zoe"));
    };
    let want = if kv.value.is_empty() {
        "-".to_string()
    } else {
        kv.value.iter().map(|b| format!("{b:02x}")).collect()
    };
    if data != want {
        return Some(format!("{path}: data differs"));
    }
    let seen = (st.version, st.czxid, st.mzxid);
    let etcd = (kv.version - 1, kv.create_revision, kv.mod_revision);
    (seen != etcd)
        .then(|| format!("{path}: (version, czxid, mzxid) {seen:?} through zoe, {etcd:?} in etcd"))
}

/// The autorecovery process that is auditor, by the election znode's data
/// (the winner's vote), and the votes.
fn auditor(d: &mut Driver) -> (Option<String>, BTreeSet<String>) {
    let election = "/ledgers/underreplication/auditorelection";
    let votes = d
        .zchildren(election, false)
        .map(|(kids, _)| kids.into_iter().filter(|k| k.starts_with("V_")).collect())
        .unwrap_or_default();
    let winner = d.zget(election, false).and_then(|(data, _)| {
        let bytes: Vec<u8> = (0..data.len() / 2)
            .filter_map(|i| u8::from_str_radix(&data[2 * i..2 * i + 2], 16).ok())
            .collect();
        let text = String::from_utf8_lossy(&bytes).to_string();
        // AuditorVoteFormat in protobuf text format: bookieId: "host:port"
        text.split('"').nth(1).map(str::to_string)
    });
    (winner, votes)
}

fn wait_until<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out: {what}");
        thread::sleep(Duration::from_millis(500));
    }
}

const TOPIC: &str = "persistent://public/default/shared";
const MESSAGES: &str = "120";

#[test]
fn pulsar_on_etcd_with_autorecovery_through_zoe() {
    let started = Instant::now();
    let step = |what: &str| eprintln!("[e2e] {what} after {:?}", started.elapsed());
    pulsar();
    shared_tree::driver_classpath();
    let etcd = EtcdServer::start();
    let store_url = format!("etcd:{}", etcd.endpoint());
    let dir = TestDir::new("e2e-pulsar-shared");

    // ---- Pulsar's cluster metadata, BookKeeper's included, through etcd
    let (broker_port, web_port) = (free_port(), free_port());
    let web = format!("http://127.0.0.1:{web_port}");
    let broker_url = format!("pulsar://127.0.0.1:{broker_port}");
    let broker_conf = render(
        dir.path(),
        pulsar_deploy::BROKER_ETCD_CONF,
        &[
            ("CLUSTER_NAME", "shared".to_string()),
            ("METADATA_STORE_URL", store_url.clone()),
            ("ADVERTISED_ADDRESS", "127.0.0.1".to_string()),
            ("BIND_ADDRESS", "127.0.0.1".to_string()),
            ("BROKER_SERVICE_PORT", broker_port.to_string()),
            ("WEB_SERVICE_PORT", web_port.to_string()),
        ],
    );
    let props = pulsar_deploy::properties(&fs::read_to_string(&broker_conf).unwrap())
        .expect("broker-etcd.conf");
    let mut setup = pulsar_command(
        pulsar_deploy::cluster_metadata_setup_etcd(&props),
        "128m",
        "64m",
        false,
    );
    let out = run_command(&mut setup, None, Duration::from_secs(180));
    assert!(
        out.success() && out.stderr.contains("setup correctly"),
        "PulsarClusterMetadataSetup failed\n{}",
        out.describe()
    );
    let keys = etcd_keys(&etcd);
    for k in ["/ledgers", "/ledgers/available", "/ledgers/INSTANCEID"] {
        assert!(keys.iter().any(|x| x == k), "setup wrote no {k}: {keys:?}");
    }
    step("cluster metadata set up in etcd");

    // ---- two zoe instances on that tree; bookies on etcd; autorecovery on zoe
    let zoe_args = ["--profile", "pulsar-2.10", "--etcd-max-txn-ops", "1024"];
    let zoes: Vec<Zoe> = (0..2)
        .map(|_| Zoe::start_with(&etcd.endpoint(), "", &zoe_args))
        .collect();
    let zk_connect = format!("{},{}", zoes[0].addr(), zoes[1].addr());
    let zk_bk = pulsar_deploy::bookkeeper_servers(&zk_connect);
    let mut bookies: Vec<Daemon> = (1..=3)
        .map(|i| {
            spawn_daemon(
                &format!("bookie{i}"),
                pulsar_deploy::BOOKIE_ETCD_CONF,
                &[("METADATA_STORE_URL", store_url.clone())],
                pulsar_deploy::bookie,
                true,
            )
        })
        .collect();
    for b in &mut bookies {
        wait_log(
            &mut b.process,
            "Started component bookie-server",
            Duration::from_secs(180),
            &b.id.clone(),
        );
    }
    step("three bookies up on Pulsar's metadata driver");
    let mut recovery: Vec<Daemon> = (1..=2)
        .map(|i| {
            spawn_daemon(
                &format!("autorecovery{i}"),
                pulsar_deploy::AUTORECOVERY_CONF,
                &[("ZK_SERVERS_BK", zk_bk.clone())],
                pulsar_deploy::autorecovery,
                false,
            )
        })
        .collect();
    for r in &mut recovery {
        wait_log(
            &mut r.process,
            "Started component autorecovery-server",
            Duration::from_secs(180),
            &r.id.clone(),
        );
    }
    step("two autorecovery processes up through zoe");

    let mut broker = spawn_java(
        "broker",
        dir.path(),
        pulsar_command(
            pulsar_deploy::broker_only(&broker_conf),
            "320m",
            "192m",
            false,
        ),
    );
    let mut d = Driver::start(&dir);
    d.ok(&format!("etcd {store_url} 10000"));
    d.ok(&format!("zk {zk_connect}"));
    wait_log(
        &mut broker,
        "messaging service is ready",
        Duration::from_secs(240),
        "Pulsar broker",
    );
    step("broker up on etcd");

    // ---- one auditor, elected through zoe; none through Pulsar's driver
    let (winner, votes) = wait_until("an auditor elected", Duration::from_secs(60), || {
        let (w, v) = auditor(&mut d);
        (w.is_some() && v.len() == 2).then_some((w.unwrap(), v))
    });
    let ids: Vec<String> = recovery.iter().map(|r| r.id.clone()).collect();
    assert!(ids.contains(&winner), "auditor {winner} is none of {ids:?}");
    assert_eq!(votes.len(), 2, "{votes:?}");
    assert!(
        d.zstat("/ledgers/underreplication/leader", false).is_none(),
        "an auditor was elected through Pulsar's driver too"
    );
    let (layout, _) = d.zget("/ledgers/LAYOUT", false).expect("LAYOUT");
    assert!(
        contains(&unhex(&layout), "HierarchicalLedgerManagerFactory"),
        "{layout}"
    );

    // ---- messages, in several small ledgers; then the topic is unloaded
    // so they are all closed.
    let out = pulsar_driver(
        &["produce", &broker_url, TOPIC, "sub", "m", MESSAGES],
        Duration::from_secs(180),
    );
    assert!(out.stdout.contains("PRODUCED"), "{}", out.describe());
    let unload = run_command(
        Command::new("curl").args([
            "-sf",
            "-X",
            "PUT",
            &format!("{web}/admin/v2/persistent/public/default/shared/unload"),
        ]),
        None,
        Duration::from_secs(120),
    );
    assert!(unload.success(), "unload\n{}", unload.describe());
    step("messages produced");

    // ---- ledger metadata: zoe serves what etcd holds
    d.ok("zsync /");
    let before = ledgers(&etcd);
    assert!(before.len() >= 3, "expected several ledgers: {before:?}");
    for (path, (_, kv)) in &before {
        if let Some(diff) = zoe_differs(&mut d, path, kv) {
            panic!("{diff}");
        }
    }

    // ---- a bookie dies: the list seen through zoe loses it, with a
    // higher cversion
    let ids: Vec<String> = bookies.iter().map(|b| b.id.clone()).collect();
    let victim = ids
        .iter()
        .max_by_key(|id| {
            before
                .values()
                .filter(|(_, kv)| contains(&kv.value, id))
                .count()
        })
        .unwrap()
        .clone();
    let affected: BTreeSet<u64> = before
        .values()
        .filter(|(_, kv)| contains(&kv.value, &victim))
        .map(|(id, _)| *id)
        .collect();
    assert!(!affected.is_empty(), "no ledger on {victim}");
    d.ok("zwatch /ledgers/available");
    let mut all: Vec<&str> = ids.iter().map(String::as_str).collect();
    all.push("readonly");
    let cv_before = await_children(&mut d, &all, "three bookies");
    d.ok("zrecwatch /ledgers/underreplication");
    d.ok("sevents");
    bookies
        .iter_mut()
        .find(|b| b.id == victim)
        .unwrap()
        .process
        .kill();
    all.retain(|id| *id != victim);
    let cv_after = await_children(&mut d, &all, "a bookie left");
    assert!(cv_after > cv_before, "{cv_before} then {cv_after}");
    step(&format!(
        "bookie {victim} gone (cversion {cv_before} -> {cv_after}); {} ledgers to copy",
        affected.len()
    ));

    // ---- marked, copied, metadata rewritten: both doors agree
    wait_until(
        "every affected ledger re-replicated",
        Duration::from_secs(120),
        || {
            let now = ledgers(&etcd);
            let done = before
                .keys()
                .filter_map(|p| now.get(p))
                .all(|(_, kv)| !contains(&kv.value, &victim));
            let marks = etcd_prefix(&etcd, "/ledgers/underreplication/ledgers/");
            (done && !marks.keys().any(|k| k.contains("/urL"))).then_some(())
        },
    );
    step("ledgers re-replicated");
    d.ok("zsync /");
    let after = ledgers(&etcd);
    for (path, (_, kv)) in &after {
        if let Some(diff) = zoe_differs(&mut d, path, kv) {
            panic!("{diff}");
        }
        let pulsar = d.ok(&format!("get {path}"));
        assert_eq!(
            pulsar[1],
            (kv.version - 1).to_string(),
            "{path}: Pulsar's version"
        );
    }
    for id in &affected {
        let (_, kv) = before.values().find(|(l, _)| l == id).unwrap();
        let path = before
            .iter()
            .find(|(_, (l, _))| l == id)
            .map(|(p, _)| p.clone())
            .unwrap();
        let now = &after.get(&path).expect("ledger still there").1;
        assert!(now.version > kv.version, "{path}: metadata not rewritten");
    }
    let mark_of = |id: &u64| {
        let s = format!("{id:016x}");
        format!(
            "{}/{}/{}/{}/urL{id:010}",
            &s[0..4],
            &s[4..8],
            &s[8..12],
            &s[12..16]
        )
    };
    let zk_events = d.ok("zrecevents").first().cloned().unwrap_or_default();
    let store_events = d.ok("sevents").first().cloned().unwrap_or_default();
    let marked = |events: &str, kind: &str| -> BTreeSet<u64> {
        events
            .split(';')
            .filter_map(|e| e.strip_prefix(kind))
            .filter_map(|p| p.rsplit_once("/urL").map(|(_, n)| n.parse().ok()))
            .flatten()
            .collect()
    };
    assert_eq!(
        marked(&zk_events, "NodeCreated:"),
        affected,
        "marks seen through zoe ({})",
        mark_of(affected.iter().next().unwrap())
    );
    assert_eq!(marked(&zk_events, "NodeDeleted:"), affected);
    assert_eq!(
        marked(&store_events, "Created:"),
        affected,
        "marks seen by Pulsar's store"
    );
    assert_eq!(marked(&store_events, "Deleted:"), affected);

    // ---- every message still there
    let out = pulsar_driver(
        &["consume", &broker_url, TOPIC, "sub", MESSAGES, "120", "m"],
        Duration::from_secs(180),
    );
    assert!(out.stdout.contains("CONSUMED"), "{}", out.describe());
    step("every message read back");

    // ---- the auditor dies: the other process takes over
    let (winner, _) = auditor(&mut d);
    let winner = winner.expect("an auditor");
    recovery
        .iter_mut()
        .find(|r| r.id == winner)
        .expect("the auditor is one of ours")
        .process
        .kill();
    let other = wait_until("a new auditor", Duration::from_secs(90), || {
        let (w, v) = auditor(&mut d);
        w.filter(|w| *w != winner && v.len() == 1)
    });
    assert!(ids_of(&recovery).contains(&other), "{other}");
    step(&format!("auditor moved from {winner} to {other}"));

    // ---- the tree holds path keys and zoe's side keys only
    for k in etcd_keys(&etcd) {
        assert!(k.starts_with('/') || k.starts_with("0zoe/"), "{k:?}");
    }
    for b in bookies.iter_mut().filter(|b| b.id != victim) {
        assert!(
            b.process.is_running(),
            "bookie {} exited:\n{}",
            b.id,
            b.process.log_tail(60)
        );
    }
    assert!(
        broker.is_running(),
        "broker exited:\n{}",
        broker.log_tail(60)
    );
    let st: ZStat = d.zstat("/ledgers/available", false).expect("available");
    assert!(st.cversion >= cv_after);
    step("shared-tree scenario passed");
}

fn ids_of(ds: &[Daemon]) -> Vec<String> {
    ds.iter().map(|d| d.id.clone()).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    if s == "-" {
        return Vec::new();
    }
    (0..s.len() / 2)
        .filter_map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok())
        .collect()
}
