//! End to end: Apache BookKeeper 4.14 (official, unmodified jars) with its
//! ZooKeeper metadata driver pointed at zoe — cluster format, bookies, the
//! autorecovery daemons (auditor election, auditor, replication worker) and
//! the client. `ZOE_TEST_TARGET=zookeeper` runs the same scenario against a
//! real ZooKeeper 3.9.5.
//!
//! Scenario:
//! 1. `bookkeeper shell metaformat` through the server;
//! 2. five bookies and two `AutoRecoveryMain` processes; an auditor is
//!    elected;
//! 3. a client writes ledgers (ensemble 3, write quorum 2, ack quorum 2);
//! 4. the bookie named by most ensembles is killed (-9): the auditor must
//!    mark its ledgers under-replicated and the replication workers must
//!    re-replicate them — every ledger's metadata stops naming the dead
//!    bookie, every fragment is complete on its bookies (LedgerChecker at
//!    100 %), every entry reads back, nothing stays under-replicated;
//! 5. the autorecovery process holding the auditor role is killed (-9):
//!    the other one must win the election;
//! 6. the new auditor must work: another bookie is killed and its ledgers
//!    are re-replicated again.
//!
//! Why five bookies rather than three: re-replication replaces the dead
//! bookie with one *outside* the ledger's ensemble, so ensemble 3 needs a
//! fourth live bookie after the first kill, and step 6 (a second kill)
//! needs a fifth.
//!
//! The jars and drivers come from `tests/e2e/` (see tests/e2e/common.rs);
//! `scripts/e2e.sh` runs this suite.

mod support;

#[path = "e2e/common.rs"]
mod e2e;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use e2e::{driver, log_contains, tagged, AutoRecovery, Bookie, MetadataServer};
use support::TestDir;

const LEDGERS: usize = 8;
const ENTRIES: usize = 20;

/// `LEDGER <id> <a,b,c>` / `BOOKIES <id> <a,b,c>` lines → id → bookies.
fn ledger_bookies(lines: Vec<&str>) -> BTreeMap<u64, Vec<String>> {
    lines
        .into_iter()
        .map(|l| {
            let mut it = l.split_whitespace();
            let id: u64 = it.next().unwrap().parse().unwrap();
            let bookies = it
                .next()
                .unwrap_or("")
                .split(',')
                .map(str::to_string)
                .collect();
            (id, bookies)
        })
        .collect()
}

/// The live bookie named by the most ledgers, and those ledgers.
fn busiest(
    ledgers: &BTreeMap<u64, Vec<String>>,
    live: &BTreeSet<String>,
) -> (String, BTreeSet<u64>) {
    let mut by_bookie: BTreeMap<&String, BTreeSet<u64>> = BTreeMap::new();
    for (id, bookies) in ledgers {
        for b in bookies {
            if live.contains(b) {
                by_bookie.entry(b).or_default().insert(*id);
            }
        }
    }
    let (b, ids) = by_bookie
        .into_iter()
        .max_by_key(|(_, ids)| ids.len())
        .expect("some ledger names a live bookie");
    (b.clone(), ids)
}

fn current_auditor(uri: &str, not_this: &str, timeout: Duration) -> String {
    let t = timeout.as_secs().to_string();
    let out = driver(
        "BookKeeperDriver",
        &["await-auditor", uri, not_this, &t],
        timeout + Duration::from_secs(60),
    );
    tagged(&out.stdout, "AUDITOR")
        .last()
        .expect("AUDITOR line")
        .to_string()
}

/// Wait until no ledger names any of `dead` and all are whole again.
fn await_rereplicated(
    uri: &str,
    dead: &[&str],
    ids: &BTreeMap<u64, Vec<String>>,
) -> BTreeMap<u64, Vec<String>> {
    let dead = dead.join(",");
    let entries = ENTRIES.to_string();
    let id_args: Vec<String> = ids.keys().map(u64::to_string).collect();
    let mut args = vec!["await-rereplicated", uri, &dead, "180", &entries];
    args.extend(id_args.iter().map(String::as_str));
    let out = driver("BookKeeperDriver", &args, Duration::from_secs(300));
    assert!(
        out.stdout.contains("REREPLICATED"),
        "no REREPLICATED\n{}",
        out.describe()
    );
    eprintln!(
        "[e2e] under-replicated ledgers seen while waiting: {:?}",
        tagged(&out.stdout, "SEEN_UNDERREPLICATED")
    );
    ledger_bookies(tagged(&out.stdout, "BOOKIES"))
}

/// The auditor's log must show it identified `ledgers` of `bookie` as
/// under-replicated, and some replication worker's log that it re-replicated
/// each of them. (Log lines of Auditor.java and ReplicationWorker.java in
/// BookKeeper 4.14.)
fn assert_recovery_logged(
    auditor: &AutoRecovery,
    all: &[&AutoRecovery],
    bookie: &str,
    ledgers: &BTreeSet<u64>,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let identified = log_contains(
            &auditor.process,
            &format!("of bookie: [{bookie}] are identified as underreplicated"),
        );
        let missing: Vec<u64> = ledgers
            .iter()
            .copied()
            .filter(|id| {
                !all.iter().any(|ar| {
                    log_contains(
                        &ar.process,
                        &format!("Ledger replicated successfully. ledger id is: {id}\n"),
                    )
                })
            })
            .collect();
        if identified && missing.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "autorecovery logs: auditor {} identified {bookie}'s ledgers as under-replicated: \
             {identified}; ledgers with no 'replicated successfully' line: {missing:?}\n\
             ----- auditor log tail -----\n{}",
            auditor.id,
            auditor.process.log_tail(80)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn autorecovery_rereplicates_lost_bookie_and_auditor_fails_over() {
    let started = Instant::now();
    e2e::artifacts();
    let mut meta = MetadataServer::start();
    let uri = format!("zk+hierarchical://{}/ledgers", meta.addr());
    eprintln!("[e2e] metadata server: {} at {}", meta.name(), meta.addr());
    let dir = TestDir::new("e2e-bk");

    e2e::metaformat(dir.path(), &uri);

    let mut bookies: Vec<Bookie> = (1..=5)
        .map(|i| Bookie::spawn(&format!("bookie{i}"), &uri))
        .collect();
    for b in &mut bookies {
        b.wait_ready(Duration::from_secs(120));
    }
    let mut ars = vec![
        AutoRecovery::spawn("autorecovery-a", &uri),
        AutoRecovery::spawn("autorecovery-b", &uri),
    ];
    for ar in &mut ars {
        ar.wait_ready(Duration::from_secs(120));
    }
    let auditor1 = current_auditor(&uri, "none", Duration::from_secs(60));
    assert!(
        ars.iter().any(|ar| ar.id == auditor1),
        "the elected auditor {auditor1} is neither autorecovery process ({} / {})",
        ars[0].id,
        ars[1].id
    );
    eprintln!(
        "[e2e] cluster up after {:?}; auditor {auditor1}",
        started.elapsed()
    );

    // ---- write
    let out = driver(
        "BookKeeperDriver",
        &["write", &uri, &LEDGERS.to_string(), &ENTRIES.to_string()],
        Duration::from_secs(180),
    );
    let ledgers = ledger_bookies(tagged(&out.stdout, "LEDGER"));
    assert_eq!(
        ledgers.len(),
        LEDGERS,
        "ledgers written\n{}",
        out.describe()
    );
    let ids: BTreeSet<u64> = ledgers.keys().copied().collect();
    assert_eq!(ids.len(), LEDGERS, "ledger ids must be distinct: {ids:?}");

    // ---- kill the busiest bookie: audit + re-replication
    let mut live: BTreeSet<String> = bookies.iter().map(|b| b.id.clone()).collect();
    let (victim1, affected1) = busiest(&ledgers, &live);
    eprintln!(
        "[e2e] killing bookie {victim1}, named by ledgers {affected1:?} (after {:?})",
        started.elapsed()
    );
    bookies
        .iter_mut()
        .find(|b| b.id == victim1)
        .unwrap()
        .process
        .kill();
    live.remove(&victim1);
    let t = Instant::now();
    let after1 = await_rereplicated(&uri, &[&victim1], &ledgers);
    eprintln!("[e2e] re-replicated after {:?}", t.elapsed());
    let auditor1_ar = ars.iter().find(|ar| ar.id == auditor1).unwrap();
    assert_recovery_logged(
        auditor1_ar,
        &ars.iter().collect::<Vec<_>>(),
        &victim1,
        &affected1,
    );

    // ---- kill the auditor: the other process must take over
    let idx = ars.iter().position(|ar| ar.id == auditor1).unwrap();
    eprintln!("[e2e] killing the auditor {auditor1}");
    ars[idx].process.kill();
    let t = Instant::now();
    let auditor2 = current_auditor(&uri, &auditor1, Duration::from_secs(90));
    let other = &ars[1 - idx];
    assert_eq!(
        auditor2, other.id,
        "after killing auditor {auditor1} the election names {auditor2}, expected {}",
        other.id
    );
    eprintln!("[e2e] new auditor {auditor2} after {:?}", t.elapsed());
    wait_for_log(
        &ars[1 - idx],
        &format!("I'm starting as Auditor Bookie. ID: {auditor2}"),
    );

    // ---- the new auditor works: lose another bookie
    let (victim2, affected2) = busiest(&after1, &live);
    eprintln!("[e2e] killing bookie {victim2}, named by ledgers {affected2:?}");
    bookies
        .iter_mut()
        .find(|b| b.id == victim2)
        .unwrap()
        .process
        .kill();
    live.remove(&victim2);
    let t = Instant::now();
    let after2 = await_rereplicated(&uri, &[&victim1, &victim2], &ledgers);
    eprintln!("[e2e] re-replicated again after {:?}", t.elapsed());
    for (id, bs) in &after2 {
        assert!(
            bs.iter().all(|b| live.contains(b)),
            "ledger {id} names {bs:?}; live bookies are {live:?}"
        );
    }
    let ar2 = &ars[1 - idx];
    assert_recovery_logged(ar2, &[ar2], &victim2, &affected2);

    // ---- nothing died along the way (an expired session ends these)
    for b in &mut bookies {
        if live.contains(&b.id) {
            assert!(
                b.process.is_running(),
                "bookie {} exited; log tail:\n{}",
                b.id,
                b.process.log_tail(80)
            );
        }
    }
    let ar2 = &mut ars[1 - idx];
    assert!(
        ar2.process.is_running(),
        "autorecovery {} exited; log tail:\n{}",
        ar2.id,
        ar2.process.log_tail(80)
    );
    meta.assert_running();
    eprintln!(
        "[e2e] BookKeeper scenario passed on {} in {:?}",
        meta.name(),
        started.elapsed()
    );
}

fn wait_for_log(ar: &AutoRecovery, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !log_contains(&ar.process, needle) {
        assert!(
            Instant::now() < deadline,
            "autorecovery {} did not log {needle:?}; log tail:\n{}",
            ar.id,
            ar.process.log_tail(80)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
