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
//! - a broker on `metadataStoreUrl=etcd:…`, small ledgers, with its
//!   function worker; the broker's BookKeeper client and the worker's
//!   DistributedLog namespace go through zoe (the only way Pulsar 2.10's
//!   worker gets a DistributedLog namespace);
//! - the SharedTreeDriver JVM watching both doors: Pulsar's store on etcd,
//!   and the ZooKeeper client on zoe; it also writes ledgers through a
//!   BookKeeper client on Pulsar's driver (etcd).
//!
//! Checked: the function worker binds its DistributedLog namespace through
//! zoe, a function deployed through the broker runs and its package reads
//! back; while ledgers are created through both doors at once, no ledger
//! id is handed out twice (the `/ledgers/idgen` children both create, as
//! Pulsar's store reports them); etcd holds only path keys and zoe's
//! `0zoe/` keys; exactly one auditor (ZooKeeper election through zoe, none through Pulsar's driver);
//! every ledger's metadata read through zoe equals etcd's, bytes, versions
//! and revisions; the bookie list seen through zoe loses a killed bookie
//! with a strictly higher cversion; the auditor marks exactly the ledgers
//! that had a copy on it (marks seen by Pulsar's store and by a ZooKeeper
//! watch), the replication workers copy them and rewrite their metadata
//! (seen through both doors), the marks go, and every message is read
//! back, every entry of the ledgers written through etcd too, and the
//! function still runs; the auditor killed, the other process takes over;
//! a new bookie joins and the list seen through zoe gains it, again with a
//! higher cversion; Pulsar's store never reports a zoe key.
//!
//! Configuration comes from `deploy/pulsar/` (broker-etcd.conf,
//! functions_worker.yml, bookkeeper-etcd.conf, autorecovery.conf) through
//! render-conf.sh.

mod support;

#[path = "e2e/common.rs"]
mod e2e;
#[path = "e2e/pulsar_deploy.rs"]
mod pulsar_deploy;
#[path = "e2e/pulsar_jvm.rs"]
mod pulsar_jvm;
#[path = "e2e/shared_tree.rs"]
mod shared_tree;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use e2e::{spawn_java, wait_log};
use pulsar_jvm::{
    check_function, create_function, pulsar, pulsar_command, pulsar_driver, spawn_daemon, Daemon,
};
use shared_tree::{await_children, etcd_keys, Driver, ZStat};
use support::{free_port, run_command, EtcdServer, TestDir, Zoe};

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
    let broker_vars = |zk_bk: &str| {
        vec![
            ("CLUSTER_NAME", "shared".to_string()),
            ("METADATA_STORE_URL", store_url.clone()),
            ("ZK_SERVERS_BK", zk_bk.to_string()),
            ("ADVERTISED_ADDRESS", "127.0.0.1".to_string()),
            ("BIND_ADDRESS", "127.0.0.1".to_string()),
            ("BROKER_SERVICE_PORT", broker_port.to_string()),
            ("WEB_SERVICE_PORT", web_port.to_string()),
            ("WORKER_ID", "fw-shared".to_string()),
            ("FUNCTIONS_DIR", dir.path().join("fw").display().to_string()),
        ]
    };
    // The setup reads the cluster's name, URLs and ports only; the zoe
    // instances do not run yet, so the rendering for the broker comes later.
    let setup_dir = dir.path().join("setup");
    fs::create_dir_all(&setup_dir).unwrap();
    let setup_conf = pulsar_jvm::render(
        &setup_dir,
        &[pulsar_deploy::BROKER_ETCD_CONF],
        &broker_vars("not-used-by-the-setup:1"),
    )
    .remove(0);
    let props = pulsar_deploy::properties(&fs::read_to_string(&setup_conf).unwrap())
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
    let broker_confs = pulsar_jvm::render(
        dir.path(),
        &[
            pulsar_deploy::BROKER_ETCD_CONF,
            pulsar_deploy::FUNCTIONS_WORKER_CONF,
        ],
        &broker_vars(&zk_bk),
    );
    let mut bookies: Vec<Daemon> = (1..=3)
        .map(|i| {
            spawn_daemon(
                &format!("bookie{i}"),
                pulsar_deploy::BOOKIE_ETCD_CONF,
                &[("METADATA_STORE_URL", store_url.clone())],
                true,
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
                false,
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
            pulsar_deploy::broker(&broker_confs[0], &broker_confs[1]),
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
    let dlog = e2e::log_text(&broker)
        .lines()
        .find(|l| l.contains("uri: distributedlog://") && l.contains("/pulsar/functions"))
        .map(str::to_string);
    assert!(
        dlog.as_deref().is_some_and(|l| l.contains(&zoes[0].addr())),
        "the function worker did not bind its DistributedLog namespace through zoe \
         ({dlog:?}); log tail:\n{}",
        broker.log_tail(80)
    );
    step("broker up on etcd, its function worker's DistributedLog on zoe");

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

    // ---- both doors create ledgers at once: a BookKeeper client on
    // Pulsar's driver (etcd) keeps writing small ledgers while, through
    // zoe, the function worker stores a function package in DistributedLog
    // and the broker writes messages in several small ledgers; then the
    // topic is unloaded so they are all closed.
    d.ok("sevents");
    d.ok(&format!("bkstart metadata-store:{store_url}/ledgers 12"));
    create_function(&web);
    let out = pulsar_driver(
        &["produce", &broker_url, TOPIC, "sub", "m", MESSAGES],
        Duration::from_secs(180),
    );
    assert!(out.stdout.contains("PRODUCED"), "{}", out.describe());
    check_function(&web, &broker_url, "before", dir.path());
    step("function deployed through the broker and running");
    let etcd_door: Vec<u64> = d.ok("bkstop")[0]
        .split(',')
        .map(|id| id.parse().expect("a ledger id"))
        .collect();
    let events = d.ok("sevents").first().cloned().unwrap_or_default();
    assert!(!events.contains("0zoe"), "a zoe key reached Pulsar's watch");
    let ids = ledger_ids_handed_out(&events);
    let (zoe_ids, pulsar_ids) = (&ids.0, &ids.1);
    assert!(
        !zoe_ids.is_empty() && !pulsar_ids.is_empty(),
        "both doors should have created ledgers (zoe {zoe_ids:?}, Pulsar {pulsar_ids:?})"
    );
    assert!(
        zoe_ids.is_disjoint(pulsar_ids),
        "ledger ids handed out by both doors: {:?}",
        zoe_ids.intersection(pulsar_ids).collect::<Vec<_>>()
    );
    for id in &etcd_door {
        assert!(
            pulsar_ids.contains(id),
            "ledger {id} not numbered through etcd"
        );
    }
    step(&format!(
        "{} ledger ids through zoe, {} through etcd, none twice",
        zoe_ids.len(),
        pulsar_ids.len()
    ));
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
    let mut left = (0, 0);
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let now = ledgers(&etcd);
        let on_victim = before
            .keys()
            .filter_map(|p| now.get(p))
            .filter(|(_, kv)| contains(&kv.value, &victim))
            .count();
        let marks = etcd_prefix(&etcd, "/ledgers/underreplication/ledgers/");
        let marked = marks.keys().filter(|k| k.contains("/urL")).count();
        if on_victim == 0 && marked == 0 {
            break;
        }
        if (on_victim, marked) != left {
            left = (on_victim, marked);
            step(&format!(
                "{on_victim} ledgers still name {victim}, {marked} marked"
            ));
        }
        assert!(
            Instant::now() < deadline,
            "re-replication stalled: {on_victim} ledgers still name {victim}, {marked} marked"
        );
        thread::sleep(Duration::from_millis(500));
    }
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
    assert!(
        !store_events.contains("0zoe"),
        "a zoe key reached Pulsar's watch"
    );

    // ---- every message still there
    let out = pulsar_driver(
        &["consume", &broker_url, TOPIC, "sub", MESSAGES, "120", "m"],
        Duration::from_secs(180),
    );
    assert!(out.stdout.contains("CONSUMED"), "{}", out.describe());
    let read = d.ok("bkread");
    assert_eq!(
        read[0],
        (etcd_door.len() * 5).to_string(),
        "entries of the ledgers written through etcd"
    );
    check_function(&web, &broker_url, "after", dir.path());
    step("every message and entry read back, the function still runs");

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

    // ---- a bookie joins: the list seen through zoe gains it, with a
    // higher cversion
    let mut newcomer = spawn_daemon(
        "bookie4",
        pulsar_deploy::BOOKIE_ETCD_CONF,
        &[("METADATA_STORE_URL", store_url.clone())],
        true,
        pulsar_deploy::bookie,
        true,
    );
    wait_log(
        &mut newcomer.process,
        "Started component bookie-server",
        Duration::from_secs(180),
        "bookie4",
    );
    all.push(newcomer.id.as_str());
    let cv_joined = await_children(&mut d, &all, "a bookie joined");
    assert!(cv_joined > cv_after, "{cv_after} then {cv_joined}");
    step(&format!(
        "bookie {} joined (cversion {cv_after} -> {cv_joined})",
        newcomer.id
    ));

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
    assert!(st.cversion >= cv_joined);
    step("shared-tree scenario passed");
}

/// The ledger ids handed out while Pulsar's store watched, from the
/// `Created` notifications of `/ledgers/idgen/ID-<n>`: zoe's (ZooKeeper's
/// ten-digit names) and Pulsar's (unpadded). Panics on an id handed out
/// twice by one door.
fn ledger_ids_handed_out(events: &str) -> (BTreeSet<u64>, BTreeSet<u64>) {
    let (mut zoe, mut pulsar) = (BTreeSet::new(), BTreeSet::new());
    for name in events
        .split(';')
        .filter_map(|e| e.strip_prefix("Created:/ledgers/idgen/ID-"))
    {
        let id: u64 = name.parse().expect("a numbered id node");
        let door = if name.len() == 10 {
            &mut zoe
        } else {
            &mut pulsar
        };
        assert!(door.insert(id), "ledger id {id} handed out twice");
    }
    (zoe, pulsar)
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
