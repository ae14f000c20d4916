//! One etcd tree, two doors: keys written by Apache Pulsar 2.10's own etcd
//! metadata store (the official `pulsar-metadata` jar, as brokers and
//! Pulsar-driver bookies use it) are read through zoe by the ZooKeeper 3.6
//! Java client (as BookKeeper autorecovery reads them), and what that
//! client writes through zoe is what Pulsar reads (docs/shared-tree.md).
//!
//! Both doors live in one JVM, `zoee2e.SharedTreeDriver`
//! (tests/e2e/pulsar/shared-tree), driven line by line; etcd itself
//! (`etcdctl`) is the referee for revisions, versions and leases.
//!
//! - `pulsar_keys_read_through_zookeeper`: Stat from etcd
//!   (czxid/mzxid/version/ephemeralOwner), implicit directories, child
//!   lists equal to Pulsar's own, Pulsar sequential keys, a second zoe
//!   that loads the same tree from scratch; ZooKeeper-side writes read
//!   back by Pulsar with agreeing versions; zoe's own keys never reach
//!   Pulsar's watch.
//! - `pulsar_changes_fire_zookeeper_watches`: NodeCreated,
//!   NodeDataChanged, NodeDeleted and NodeChildrenChanged for Pulsar puts,
//!   deletes and lease revocation, implicit directories included.
//! - `pulsar_child_changes_raise_cversion_across_restarts`: a ZooKeeper
//!   client follows `/ledgers/available` the way BookKeeper's
//!   ZKRegistrationClient does (getChildren2 + child watch, a new list
//!   only with a higher cversion) while bookies join and leave through
//!   Pulsar's store and zoe; every read shows a strictly higher cversion
//!   and pzxid with exact counts, through every zoe instance being killed
//!   and restarted (changes made while none ran included), a second
//!   instance agrees, and the accountant's records in etcd catch up.
//!
//! The Pulsar jars come from `tests/e2e/pulsar/pom.xml` (the same cache as
//! tests/e2e_pulsar.rs, `.cache/e2e/pulsar-lib`).

mod support;

#[path = "e2e/common.rs"]
mod e2e;
#[path = "e2e/shared_tree.rs"]
mod shared_tree;

use std::collections::BTreeSet;
use std::thread;
use std::time::Duration;

use shared_tree::{
    await_children, etcd_keys, etcd_kv, hex, set, stored_cversion, Driver, ZStat, EVENT_WAIT_MS,
};
use support::{EtcdServer, TestDir, Zoe};

/// The Stat ZooKeeper clients must see for a key Pulsar wrote.
fn assert_stat_from_etcd(etcd: &EtcdServer, path: &str, st: &ZStat, data_len: usize) {
    let kv = etcd_kv(etcd, path).unwrap_or_else(|| panic!("{path} not in etcd"));
    assert_eq!(st.czxid, kv.create_revision, "{path}: czxid");
    assert_eq!(st.mzxid, kv.mod_revision, "{path}: mzxid");
    assert_eq!(st.version, kv.version - 1, "{path}: version");
    assert_eq!(st.ephemeral_owner, kv.lease, "{path}: ephemeralOwner");
    assert_eq!((st.ctime, st.mtime, st.aversion), (0, 0, 0), "{path}");
    assert_eq!(st.data_length, data_len as i64, "{path}: dataLength");
}

/// A path with keys below it and none of its own.
fn assert_implicit(etcd: &EtcdServer, path: &str, st: &ZStat, children: i64) {
    assert!(etcd_kv(etcd, path).is_none(), "{path} has a key");
    assert_eq!(
        (st.czxid, st.mzxid, st.ctime, st.mtime, st.version),
        (0, 0, 0, 0, 0),
        "{path}"
    );
    assert_eq!(
        (st.ephemeral_owner, st.data_length, st.num_children),
        (0, 0, children),
        "{path}"
    );
}

fn start(tag: &str) -> (EtcdServer, Zoe, TestDir, Driver) {
    let etcd = EtcdServer::start();
    let zoe = Zoe::start_with(
        &etcd.endpoint(),
        "",
        &["--profile", "pulsar-2.10", "--etcd-max-txn-ops", "1024"],
    );
    let dir = TestDir::new(tag);
    let mut d = Driver::start(&dir);
    d.ok(&format!("etcd etcd:{} 10000", etcd.endpoint()));
    d.ok(&format!("zk {}", zoe.addr()));
    (etcd, zoe, dir, d)
}

#[test]
fn pulsar_keys_read_through_zookeeper() {
    let (etcd, _zoe, _dir, mut d) = start("pulsar-shared-read");
    let meta1 = "ledger-1 metadata";

    // What a Pulsar 2.10 cluster writes through etcd: format keys, a
    // ledger (no parent keys), a bookie registration (ephemeral, on the
    // store's lease), an under-replication mark five levels below any key,
    // and a sequential key (Pulsar bumps the parent key, then puts
    // parent-version-suffixed child).
    d.ok("put /ledgers - - -");
    d.ok("put /ledgers/available - -1 -");
    d.ok("put /ledgers/available/readonly - -1 -");
    d.ok(&format!(
        "put /ledgers/INSTANCEID {} -1 -",
        hex("instance-1")
    ));
    let created = d.ok(&format!("put /ledgers/00/0000/L0001 {} -1 -", hex("v0")));
    assert_eq!(created[0], "0", "Pulsar's version of a new key");
    let updated = d.ok(&format!("put /ledgers/00/0000/L0001 {} 0 -", hex(meta1)));
    assert_eq!(updated[0], "1");
    d.ok(&format!(
        "put /ledgers/available/bk1:3181 {} - e",
        hex("bookie-1")
    ));
    d.ok(&format!(
        "put /ledgers/underreplication/ledgers/0000/0000/0000/0001/urL0000000001 {} -1 -",
        hex("mark")
    ));
    let seq = d.ok("put /counters/producer-name/- - -1 es");
    assert_eq!(seq[1], "/counters/producer-name/-0");
    d.ok("zsync /");

    // Keys: data as written, Stat from the etcd key.
    let (data, st) = d.zget("/ledgers/00/0000/L0001", false).expect("ledger");
    assert_eq!(data, hex(meta1));
    assert_stat_from_etcd(&etcd, "/ledgers/00/0000/L0001", &st, meta1.len());
    assert_eq!(st.version, 1, "one CAS update through Pulsar");
    assert_eq!(st.pzxid, st.czxid);
    let (data, st) = d.zget("/ledgers/INSTANCEID", false).expect("instance id");
    assert_eq!(data, hex("instance-1"));
    assert_stat_from_etcd(&etcd, "/ledgers/INSTANCEID", &st, "instance-1".len());
    let st = d
        .zstat("/ledgers/available/bk1:3181", false)
        .expect("bookie");
    assert_stat_from_etcd(&etcd, "/ledgers/available/bk1:3181", &st, "bookie-1".len());
    assert_ne!(st.ephemeral_owner, 0, "a Pulsar ephemeral shows its lease");
    let (data, st) = d.zget("/ledgers", false).expect("/ledgers");
    assert_eq!(data, "-");
    assert_stat_from_etcd(&etcd, "/ledgers", &st, 0);
    let (data, st) = d.zget("/counters/producer-name", false).expect("counter");
    assert_eq!(data, "-");
    assert_stat_from_etcd(&etcd, "/counters/producer-name", &st, 0);
    let st = d
        .zstat("/counters/producer-name/-0", false)
        .expect("sequential");
    assert_stat_from_etcd(&etcd, "/counters/producer-name/-0", &st, 0);

    // Implicit directories: present, empty, listed; Pulsar lists the same
    // children.
    for (p, n) in [
        ("/ledgers/00", 1),
        ("/ledgers/00/0000", 1),
        ("/ledgers/underreplication", 1),
        ("/ledgers/underreplication/ledgers/0000/0000/0000/0001", 1),
        ("/counters", 1),
    ] {
        let (data, st) = d.zget(p, false).unwrap_or_else(|| panic!("{p} not served"));
        assert_eq!(data, "-", "{p}");
        assert_implicit(&etcd, p, &st, n);
    }
    let (kids, st) = d.zchildren("/ledgers", false).expect("/ledgers");
    assert_eq!(
        kids,
        set(&["00", "INSTANCEID", "available", "underreplication"])
    );
    assert_eq!(st.num_children, 4);
    assert_eq!(d.children("/ledgers"), kids, "Pulsar's own child list");
    let (kids, _) = d.zchildren("/ledgers/available", false).unwrap();
    assert_eq!(kids, set(&["bk1:3181", "readonly"]));
    assert_eq!(d.children("/ledgers/available"), kids);
    let (kids, _) = d.zchildren("/", false).unwrap();
    assert!(
        kids.is_superset(&set(&["counters", "ledgers", "zookeeper"])),
        "{kids:?}"
    );
    assert!(d.zstat("/ledgers/01", false).is_none());

    // ZooKeeper-side writes, as BookKeeper's ZooKeeper driver makes them:
    // its createFullPathOptimistic finds the directories, creates below
    // them; Pulsar reads the results with versions that agree.
    let layout = "2\norg.apache.bookkeeper.meta.HierarchicalLedgerManagerFactory:1";
    d.ok(&format!(
        "zcreate /ledgers/LAYOUT {} PERSISTENT",
        hex(layout)
    ));
    assert_eq!(
        d.ok("get /ledgers/LAYOUT"),
        vec![hex(layout), "0".to_string()]
    );
    assert_eq!(d.call("zcreate /ledgers/00 - PERSISTENT"), "ERR NODEEXISTS");
    assert_eq!(d.call("zdelete /ledgers/00 -1"), "ERR NOTEMPTY");
    d.ok(&format!(
        "zcreate /ledgers/00/0000/L0002 {} PERSISTENT",
        hex("ledger-2")
    ));
    assert_eq!(d.children("/ledgers/00/0000"), set(&["L0001", "L0002"]));
    // Compare-and-set across the doors: ZooKeeper version 1 is Pulsar's 1.
    assert_eq!(
        d.call(&format!("zset /ledgers/00/0000/L0001 {} 0", hex("x"))),
        "ERR BADVERSION"
    );
    d.ok(&format!(
        "zset /ledgers/00/0000/L0001 {} 1",
        hex("replicated")
    ));
    assert_eq!(
        d.ok("get /ledgers/00/0000/L0001"),
        vec![hex("replicated"), "2".to_string()]
    );
    d.ok(&format!("put /ledgers/00/0000/L0001 {} 2 -", hex("closed")));
    d.ok("zsync /");
    let (data, st) = d.zget("/ledgers/00/0000/L0001", false).unwrap();
    assert_eq!((data, st.version), (hex("closed"), 3));
    // A zoe setData keeps a Pulsar ephemeral on its lease.
    // A zoe setData keeps a Pulsar ephemeral on its lease, and answers
    // with the lease as the owner, as reads do.
    let lease = etcd_kv(&etcd, "/ledgers/available/bk1:3181").unwrap().lease;
    let stat = d.ok(&format!(
        "zset /ledgers/available/bk1:3181 {} -1",
        hex("bookie-1b")
    ));
    assert_eq!(stat[7], lease.to_string(), "ephemeralOwner in {stat:?}");
    assert_eq!(
        etcd_kv(&etcd, "/ledgers/available/bk1:3181").unwrap().lease,
        lease
    );
    // An ephemeral has no children, whoever made it.
    assert_eq!(
        d.call("zcreate /ledgers/available/bk1:3181/x - PERSISTENT"),
        "ERR NOCHILDRENFOREPHEMERALS"
    );

    // A second zoe loads the same tree from etcd and serves it the same.
    d.ok("zsync /");
    let before: Vec<_> = [
        "/ledgers",
        "/ledgers/00",
        "/ledgers/00/0000/L0001",
        "/ledgers/available/bk1:3181",
        "/ledgers/underreplication/ledgers/0000/0000/0000/0001/urL0000000001",
        "/counters/producer-name/-0",
    ]
    .iter()
    .map(|p| (p.to_string(), d.zget(p, false)))
    .collect();
    let second = Zoe::start_with(
        &etcd.endpoint(),
        "",
        &["--profile", "pulsar-2.10", "--etcd-max-txn-ops", "1024"],
    );
    d.ok(&format!("zk {}", second.addr()));
    for (p, seen) in before {
        assert_eq!(d.zget(&p, false), seen, "{p} through the second zoe");
    }

    // zoe's keys stay out of Pulsar's way: every key in etcd is a path or
    // starts with 0zoe/, and Pulsar's watch never reported a 0zoe/ key.
    let keys = etcd_keys(&etcd);
    assert!(keys.iter().any(|k| k.starts_with("0zoe/")), "{keys:?}");
    for k in &keys {
        assert!(k.starts_with('/') || k.starts_with("0zoe/"), "{k:?}");
    }
    let events = d.ok("sevents");
    let events = events.first().cloned().unwrap_or_default();
    assert!(events.contains("Created:/ledgers/LAYOUT"), "{events}");
    assert!(!events.contains("0zoe"), "{events}");
}

#[test]
fn pulsar_changes_fire_zookeeper_watches() {
    let (etcd, _zoe, _dir, mut d) = start("pulsar-shared-watch");
    d.ok("put /ledgers - - -");
    d.ok("put /ledgers/available - -1 -");
    d.ok(&format!("put /ledgers/00/0000/L0001 {} -1 -", hex("m")));
    d.ok("zsync /");

    // A bookie registers (ephemeral put): exists-watch and child watch.
    assert!(d.zstat("/ledgers/available/bk2:3181", true).is_none());
    let (kids, st0) = d.zchildren("/ledgers/available", true).unwrap();
    assert!(kids.is_empty());
    d.ok(&format!(
        "put /ledgers/available/bk2:3181 {} - e",
        hex("bookie-2")
    ));
    assert_eq!(
        d.zevents(2, EVENT_WAIT_MS),
        [
            "NodeCreated:/ledgers/available/bk2:3181",
            "NodeChildrenChanged:/ledgers/available"
        ]
    );
    let (kids, st) = d.zchildren("/ledgers/available", false).unwrap();
    assert_eq!(kids, set(&["bk2:3181"]));
    assert_eq!(st.num_children, st0.num_children + 1);

    // Ledger metadata updated by compare-and-set: data watch.
    d.zget("/ledgers/00/0000/L0001", true).unwrap();
    d.ok(&format!("put /ledgers/00/0000/L0001 {} 0 -", hex("m2")));
    assert_eq!(
        d.zevents(1, EVENT_WAIT_MS),
        ["NodeDataChanged:/ledgers/00/0000/L0001"]
    );

    // A ledger in a new range: its implicit directories are created, top
    // down, before it.
    d.zchildren("/ledgers", true).unwrap();
    assert!(d.zstat("/ledgers/01", true).is_none());
    assert!(d.zstat("/ledgers/01/0000", true).is_none());
    assert!(d.zstat("/ledgers/01/0000/L0100", true).is_none());
    d.ok(&format!("put /ledgers/01/0000/L0100 {} -1 -", hex("m")));
    assert_eq!(
        d.zevents(4, EVENT_WAIT_MS),
        [
            "NodeCreated:/ledgers/01",
            "NodeChildrenChanged:/ledgers",
            "NodeCreated:/ledgers/01/0000",
            "NodeCreated:/ledgers/01/0000/L0100",
        ]
    );
    d.ok("zsync /");
    let st = d.zstat("/ledgers/01", false).expect("implicit /ledgers/01");
    assert_implicit(&etcd, "/ledgers/01", &st, 1);

    // The ledger deleted: the directories it implied go, bottom up.
    d.zstat("/ledgers/01", true).unwrap();
    d.zstat("/ledgers/01/0000", true).unwrap();
    d.zget("/ledgers/01/0000/L0100", true).unwrap();
    d.zchildren("/ledgers", true).unwrap();
    d.ok("delete /ledgers/01/0000/L0100 -");
    assert_eq!(
        d.zevents(4, EVENT_WAIT_MS),
        [
            "NodeDeleted:/ledgers/01/0000/L0100",
            "NodeDeleted:/ledgers/01/0000",
            "NodeDeleted:/ledgers/01",
            "NodeChildrenChanged:/ledgers",
        ]
    );
    assert!(d.zstat("/ledgers/01", false).is_none());

    // A key deleted while it has descendants: the node stays, implicit.
    d.ok(&format!("put /x {} -1 -", hex("x")));
    d.ok("put /x/y - -1 -");
    d.ok("zsync /");
    let (data, _) = d.zget("/x", true).unwrap();
    assert_eq!(data, hex("x"));
    d.ok("delete /x -");
    assert_eq!(d.zevents(1, EVENT_WAIT_MS), ["NodeDataChanged:/x"]);
    let (data, st) = d.zget("/x", false).expect("implicit /x");
    assert_eq!(data, "-");
    assert_implicit(&etcd, "/x", &st, 1);

    // The Pulsar store closes: its lease is revoked and its ephemerals go,
    // as when a bookie dies.
    d.zstat("/ledgers/available/bk2:3181", true).unwrap();
    d.zchildren("/ledgers/available", true).unwrap();
    d.ok("close-store");
    assert_eq!(
        d.zevents(2, EVENT_WAIT_MS),
        [
            "NodeDeleted:/ledgers/available/bk2:3181",
            "NodeChildrenChanged:/ledgers/available"
        ]
    );
    assert!(d.zstat("/ledgers/available/bk2:3181", false).is_none());
    assert!(etcd_kv(&etcd, "/ledgers/available/bk2:3181").is_none());
    // No event beyond those asked for.
    assert_eq!(d.zevents(1, 500), Vec::<String>::new());
}

#[test]
fn pulsar_child_changes_raise_cversion_across_restarts() {
    let etcd = EtcdServer::start();
    let args = ["--profile", "pulsar-2.10", "--etcd-max-txn-ops", "1024"];
    let mut zoe = Zoe::start_with(&etcd.endpoint(), "", &args);
    let dir = TestDir::new("pulsar-shared-cversion");
    let mut d = Driver::start(&dir);
    d.ok(&format!("etcd etcd:{} 10000", etcd.endpoint()));
    d.ok(&format!("zk {}", zoe.addr()));
    let avail = "/ledgers/available";

    // A cluster set up through etcd; a ZooKeeper client follows the bookie
    // list as BookKeeper's registration client does.
    d.ok("put /ledgers - - -");
    d.ok("put /ledgers/available - -1 -");
    d.ok("put /ledgers/available/readonly - -1 -");
    d.ok("zsync /");
    d.ok(&format!("zwatch {avail}"));
    // cversion counts every child change since the node appeared,
    // whoever made it.
    assert_eq!(await_children(&mut d, &["readonly"], "start"), 1);

    // Bookies register through Pulsar (ephemeral, on the store's lease).
    d.ok(&format!("put {avail}/bk1:3181 {} - e", hex("bk1")));
    assert_eq!(await_children(&mut d, &["readonly", "bk1:3181"], "bk1"), 2);
    d.ok(&format!("put {avail}/bk2:3181 {} - e", hex("bk2")));
    let cv = await_children(&mut d, &["readonly", "bk1:3181", "bk2:3181"], "bk2");
    assert_eq!(cv, 3);
    // zoe's own child changes count on top, and its sequential names
    // count Pulsar's creates.
    d.ok(&format!("zcreate {avail}/zk1 - EPHEMERAL"));
    let cv = await_children(
        &mut d,
        &["readonly", "bk1:3181", "bk2:3181", "zk1"],
        "zoe create",
    );
    assert_eq!(cv, 4);
    d.ok(&format!("delete {avail}/bk1:3181 -"));
    assert_eq!(
        await_children(&mut d, &["readonly", "bk2:3181", "zk1"], "bk1 leaves"),
        5
    );
    let seq = d.ok(&format!("zcreate {avail}/s- - PERSISTENT_SEQUENTIAL"));
    assert_eq!(
        seq[0],
        format!("{avail}/s-0000000004"),
        "four creates before"
    );
    assert_eq!(
        await_children(
            &mut d,
            &["readonly", "bk2:3181", "zk1", "s-0000000004"],
            "sequential"
        ),
        6
    );
    d.ok(&format!("zdelete {avail}/s-0000000004 -1"));
    assert_eq!(
        await_children(&mut d, &["readonly", "bk2:3181", "zk1"], "zoe delete"),
        7
    );

    // A second instance computes the same Stat.
    let second = Zoe::start_with(&etcd.endpoint(), "", &args);
    d.ok(&format!("zkb {}", second.addr()));
    d.ok("zsync /");
    let here = d.zstat(avail, false).expect("served");
    let there = ZStat::parse(&d.ok(&format!("zbstat {avail}")));
    assert_eq!(here, there, "both instances");
    assert_eq!((here.cversion, here.num_children), (7, 3));
    drop(second);

    // Every instance down; Pulsar goes on: a bookie joins, one leaves.
    zoe.kill();
    d.ok(&format!("put {avail}/bk3:3181 {} - e", hex("bk3")));
    d.ok(&format!("delete {avail}/bk2:3181 -"));
    // zoe comes back: the client's watch, re-registered on reconnection,
    // fires for what changed meanwhile, and the re-read counts both.
    zoe.restart();
    assert_eq!(
        await_children(&mut d, &["readonly", "zk1", "bk3:3181"], "restart"),
        9
    );
    // A change the restarted instance cannot have folded into the record
    // yet (the killed accountant's lock outlives it by its lease), then
    // another restart: still counted.
    d.ok(&format!("put {avail}/bk4:3181 {} - e", hex("bk4")));
    assert_eq!(
        await_children(&mut d, &["readonly", "zk1", "bk3:3181", "bk4:3181"], "bk4"),
        10
    );
    zoe.kill();
    zoe.restart();
    // The client reconnects by itself; until then requests fail.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while d.call("zsync /") != "OK" {
        assert!(std::time::Instant::now() < deadline, "never reconnected");
        thread::sleep(Duration::from_millis(200));
    }
    let st = d.zstat(avail, false).expect("served");
    assert_eq!((st.cversion, st.num_children), (10, 4), "after the restart");
    // The store closes: its lease takes both its bookies in one revision.
    d.ok("close-store");
    assert_eq!(
        await_children(&mut d, &["readonly", "zk1"], "lease revoked"),
        12
    );

    // The accountant makes the count durable: the record catches up.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while stored_cversion(&etcd, avail) != Some(12) {
        assert!(
            std::time::Instant::now() < deadline,
            "the child record of {avail} never caught up: {:?}\n{}",
            stored_cversion(&etcd, avail),
            zoe.log_tail(40)
        );
        thread::sleep(Duration::from_millis(200));
    }
    assert!(etcd_kv(&etcd, "0zoe/acct").is_some(), "no watermark");
    d.ok("zsync /");
    let st = d.zstat(avail, false).expect("served");
    assert_eq!(st.cversion, 12, "visible count unchanged by the fold");
    for k in etcd_keys(&etcd) {
        assert!(k.starts_with('/') || k.starts_with("0zoe/"), "{k:?}");
    }
}

#[test]
fn ledger_ids_from_both_doors_never_collide() {
    let (etcd, _zoe, _dir, mut d) = start("pulsar-shared-ids");
    d.ok("put /ledgers - - -");
    // Short ids (`/ledgers/idgen`) and the low halves of long ones
    // (`/ledgers/idgen-long/HOB-<high>`): Pulsar's generator on etcd and
    // BookKeeper's ZooKeeper generator on zoe, all requests in flight at
    // once, twice over so the second round starts from a counter both
    // moved.
    for prefix in [
        "/ledgers/idgen/ID-",
        "/ledgers/idgen-long/HOB-0000000001/ID-",
    ] {
        let mut seen = BTreeSet::new();
        for round in 0..2 {
            let got = d.ok(&format!("ids 20 {prefix}"));
            let parse =
                |s: &str| -> Vec<u64> { s.split(',').map(|n| n.parse().unwrap()).collect() };
            let (pulsar, zk) = (parse(&got[0]), parse(&got[1]));
            assert_eq!((pulsar.len(), zk.len()), (20, 20), "{got:?}");
            for id in pulsar.iter().chain(&zk) {
                assert!(
                    seen.insert(*id),
                    "{prefix} round {round}: ledger id {id} handed out twice \
                     (pulsar {pulsar:?}, zookeeper {zk:?})"
                );
            }
        }
        // One counter: the parent key's version. Every id consumed one
        // put of it; creating the parent (through zoe) may have taken one
        // more.
        let parent = prefix.trim_end_matches("/ID-");
        let kv = etcd_kv(&etcd, parent).expect("the parent key");
        let puts = kv.version as usize;
        assert!(
            puts == seen.len() || puts == seen.len() + 1,
            "{parent}: etcd version {puts} for {} ids",
            seen.len()
        );
        assert!(seen.iter().all(|id| (*id as usize) < puts), "{seen:?}");
    }
    // The id nodes are gone again, from both doors.
    d.ok("zsync /");
    let (kids, _) = d.zchildren("/ledgers/idgen", false).expect("idgen");
    assert!(kids.is_empty(), "{kids:?}");
}
