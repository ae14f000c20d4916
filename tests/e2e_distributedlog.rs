//! End to end: Apache DistributedLog 4.14 (official, unmodified
//! `distributedlog-core`) on zoe — namespace binding, log creation, writes,
//! tailing reads, and the writer lock handed over through ephemeral
//! sequential znodes when a writer dies. The BookKeeper cluster under the
//! namespace uses the same server for its metadata. `ZOE_TEST_TARGET=zookeeper`
//! runs the same scenario against a real ZooKeeper 3.9.5.
//!
//! Scenario:
//! 1. `bookkeeper shell metaformat`, two bookies;
//! 2. `dlog admin bind -c` (DistributedLogAdmin) binds
//!    `distributedlog://SERVER/messaging/distributedlog` to the BookKeeper
//!    ledgers path `/ledgers` on the same server;
//! 3. the log `stream-1` is created; writer #1 writes txids 1..50 and closes;
//!    a reader reads them back;
//! 4. a tailing reader (holding DistributedLog's read lock) starts waiting
//!    for 150 records;
//! 5. writer #2 writes 51..100 and keeps the write lock; writer #3 must be
//!    refused the lock;
//! 6. writer #2 is killed (-9); writer #4 must get the lock once #2's
//!    session expires, recover #2's in-progress segment and write 101..150;
//! 7. the tailing reader must have received all 150 records in order, and a
//!    fresh reader reads 150 records from three completed segments.

mod support;

#[path = "e2e/common.rs"]
mod e2e;

use std::time::{Duration, Instant};

use e2e::{driver, spawn_java, tagged, wait_log, Bookie, MetadataServer};
use support::TestDir;

const STREAM: &str = "stream-1";

fn dlog(args: &[&str], timeout: Duration) -> support::ClientOutput {
    driver("DistributedLogDriver", args, timeout)
}

#[test]
fn distributedlog_namespace_write_read_and_writer_handover() {
    let started = Instant::now();
    e2e::artifacts();
    let mut meta = MetadataServer::start();
    let addr = meta.addr();
    eprintln!("[e2e] metadata server: {} at {addr}", meta.name());
    let bk_uri = format!("zk+hierarchical://{addr}/ledgers");
    let dl_uri = format!("distributedlog://{addr}/messaging/distributedlog");
    let dir = TestDir::new("e2e-dlog");

    e2e::metaformat(dir.path(), &bk_uri);
    let mut bookies: Vec<Bookie> = (1..=2)
        .map(|i| Bookie::spawn(&format!("bookie{i}"), &bk_uri))
        .collect();
    for b in &mut bookies {
        b.wait_ready(Duration::from_secs(120));
    }

    // ---- bind the namespace (bin/dlog admin bind)
    let out = e2e::run_java(
        "org.apache.distributedlog.tools.Tool",
        &[
            "org.apache.distributedlog.admin.DistributedLogAdmin",
            "bind",
            "-l",
            "/ledgers",
            "-s",
            &addr,
            "-c",
            "-f",
            &dl_uri,
        ],
        Duration::from_secs(120),
    );
    assert!(
        out.success() && out.stdout.contains(&format!("Created binding on {dl_uri}")),
        "DistributedLogAdmin bind failed\n{}",
        out.describe()
    );
    eprintln!("[e2e] namespace bound after {:?}", started.elapsed());

    // ---- create, write, read
    let out = dlog(&["create", &dl_uri, STREAM], Duration::from_secs(120));
    assert!(out.stdout.contains("CREATED"), "{}", out.describe());
    let out = dlog(
        &["write", &dl_uri, STREAM, "1", "50"],
        Duration::from_secs(120),
    );
    assert!(out.stdout.contains("WROTE 50"), "{}", out.describe());
    let out = dlog(
        &["read", &dl_uri, STREAM, "50", "60"],
        Duration::from_secs(120),
    );
    assert!(out.stdout.contains("READ_ALL 50"), "{}", out.describe());

    // ---- a tailing reader with the read lock, for everything to come
    let mut tail_cmd = e2e::java("zoee2e.DistributedLogDriver", "96m");
    tail_cmd.args(["read", &dl_uri, STREAM, "150", "180", "readlock"]);
    let mut tail = spawn_java("tailing-reader", dir.path(), tail_cmd);
    wait_log(
        &mut tail,
        "READER open",
        Duration::from_secs(90),
        "tailing reader",
    );

    // ---- writer #2 holds the lock; writer #3 is refused
    let mut w2_cmd = e2e::java("zoee2e.DistributedLogDriver", "96m");
    w2_cmd.args(["write", &dl_uri, STREAM, "51", "50", "hold"]);
    let mut w2 = spawn_java("writer-2", dir.path(), w2_cmd);
    wait_log(&mut w2, "HOLDING", Duration::from_secs(120), "writer #2");
    let out = dlog(
        &["expect-locked", &dl_uri, STREAM, "5"],
        Duration::from_secs(120),
    );
    assert!(out.stdout.contains("LOCKED"), "{}", out.describe());

    // ---- writer #2 dies; writer #4 takes over
    eprintln!("[e2e] killing writer #2 (after {:?})", started.elapsed());
    w2.kill();
    let t = Instant::now();
    let out = dlog(
        &["write", &dl_uri, STREAM, "101", "50"],
        Duration::from_secs(150),
    );
    assert!(out.stdout.contains("WROTE 50"), "{}", out.describe());
    eprintln!("[e2e] writer #4 done {:?} after the kill", t.elapsed());
    let segments = tagged(&out.stdout, "SEGMENT");
    assert_eq!(
        segments.len(),
        3,
        "expected 3 log segments\n{}",
        out.describe()
    );

    // ---- readers see everything
    wait_log(
        &mut tail,
        "READ_ALL 150",
        Duration::from_secs(120),
        "tailing reader",
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = tail.exit_status() {
            break s;
        }
        assert!(Instant::now() < deadline, "tailing reader did not exit");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        status.success(),
        "tailing reader exited with {status}; log tail:\n{}",
        tail.log_tail(80)
    );

    let out = dlog(
        &["read", &dl_uri, STREAM, "150", "60"],
        Duration::from_secs(120),
    );
    assert!(out.stdout.contains("READ_ALL 150"), "{}", out.describe());
    let segments = tagged(&out.stdout, "SEGMENT");
    assert!(
        segments.len() == 3 && segments.iter().all(|s| s.contains("inprogress=false")),
        "expected 3 completed segments\n{}",
        out.describe()
    );

    for b in &mut bookies {
        assert!(
            b.process.is_running(),
            "bookie {} exited; log tail:\n{}",
            b.id,
            b.process.log_tail(80)
        );
    }
    meta.assert_running();
    eprintln!(
        "[e2e] DistributedLog scenario passed on {} in {:?}",
        meta.name(),
        started.elapsed()
    );
}
