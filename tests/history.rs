//! zoe keeps ZooKeeper's consistency guarantees while things fail.
//!
//! Eight workers, each holding one session, run reads (getData, exists,
//! getChildren, sync + read), writes, compare-and-set, sequential creates,
//! deletes and multis against three zoe instances on one etcd, and record
//! every invocation and completion. Meanwhile zoe instances are killed
//! with SIGKILL (their clients resume their sessions on another instance)
//! and paused with SIGSTOP (their clients time out and move; the paused
//! replica falls behind and still holds requests it read), and etcd is
//! killed and restarted. Then the history is checked against ZooKeeper's
//! model (tests/history/checker.rs says exactly what is checked, and
//! tests/history/known_bad.rs shows it rejecting each kind of anomaly).
//! What it found in zoe is pinned down in tests/history/regressions.rs.
//!
//! * default: a fixed fault schedule over about 25 s;
//! * `ZOE_HISTORY_SOAK=<seconds>`: random faults for that long, with a
//!   random workload seed that is printed (`ZOE_HISTORY_SEED=<n>` replays
//!   the workload's choices; fault timing is not reproducible).
//!
//! `ZOE_TEST_TARGET=zookeeper` runs it all against a ZooKeeper 3.9.5
//! ensemble instead (the same faults, but etcd's), to show that the
//! checker holds the reference to nothing it does not do.
//!
//! Both print the number of operations checked and the anomalies found,
//! and fail on any anomaly with an excerpt of the history around it; the
//! whole history is then saved as JSON, and `ZOE_HISTORY_REPLAY=<file>`
//! checks a saved history again without running anything.

mod support;

#[path = "history/checker.rs"]
mod checker;
#[path = "history/client.rs"]
mod client;
#[path = "history/faults.rs"]
mod faults;
#[path = "history/known_bad.rs"]
mod known_bad;
#[path = "history/model.rs"]
mod model;
#[path = "history/regressions.rs"]
mod regressions;
#[path = "history/workload.rs"]
mod workload;
#[path = "support/zk_client.rs"]
mod zk_client;

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use checker::{check, History, Options};
use client::{Client, ClientStats, Recorder};
use faults::Cluster;
use support::TargetKind;
use workload::Worker;

const WORKERS: usize = 8;
const ZOES: usize = 3;
const MIN_OPS: usize = 3_000;

/// Writes to the real stderr, so it shows without `--nocapture`.
fn say(text: &str) {
    let mut e = std::io::stderr().lock();
    let _ = writeln!(e, "{text}");
}

fn run(total: Duration, seed: u64, soak: bool) {
    let rec = Recorder::new();
    let kind = TargetKind::from_env();
    let mut cluster = Cluster::start(kind, ZOES);
    let addrs = cluster.addrs();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let stop = Arc::new(AtomicBool::new(false));
    rt.block_on(async {
        let mut c = Client::new(WORKERS, addrs.clone(), 1, rec.clone(), stop.clone());
        workload::setup(&mut c).await;
        c.close().await;
    });
    let handles: Vec<_> = (0..WORKERS)
        .map(|i| {
            let client = Client::new(i, addrs.clone(), i % ZOES, rec.clone(), stop.clone());
            let mut w = Worker::new(client, seed);
            let stop = stop.clone();
            rt.spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    w.step().await;
                }
                w.client.close().await;
                w.client.stats
            })
        })
        .collect();
    let start = Instant::now();
    if soak {
        let mut rng = StdRng::seed_from_u64(seed ^ 0xfa17);
        faults::random_schedule(&mut cluster, &rec, start, total, &mut rng);
    } else {
        faults::short_schedule(&mut cluster, &rec, start, total);
    }
    // A slow machine gets more time, so every run checks a few thousand
    // operations.
    let extra = Instant::now();
    while rec.len() < MIN_OPS && extra.elapsed() < Duration::from_secs(90) {
        std::thread::sleep(Duration::from_millis(200));
    }
    stop.store(true, Ordering::SeqCst);
    let stats: Vec<ClientStats> = rt.block_on(async {
        let mut out = Vec::new();
        for h in handles {
            match tokio::time::timeout(Duration::from_secs(90), h).await {
                Ok(Ok(s)) => out.push(s),
                Ok(Err(e)) => panic!("worker failed: {e}"),
                Err(_) => panic!("a worker did not stop within 90 s"),
            }
        }
        out
    });
    let history = rec.take();
    let ran = start.elapsed();
    let reconnects: u64 = stats.iter().map(|s| s.reconnects).sum();
    let moves: u64 = stats.iter().map(|s| s.moves).sum();
    let expired: u64 = stats.iter().map(|s| s.expired).sum();
    say(&format!(
        "history (seed {seed}): {} ops in {:.1}s by {WORKERS} sessions on {ZOES} {} servers; \
         {reconnects} session resumptions ({moves} voluntary moves), {expired} expiries; \
         faults: {}",
        history.ops.len(),
        ran.as_secs_f64(),
        kind.name(),
        history
            .notes
            .iter()
            .filter(|(_, n)| n.starts_with("SIG"))
            .count()
    ));
    drop(cluster);
    verify(&history, &format!("seed {seed}"), true);
}

/// Checks a history; on anomalies, saves it (if `save`, for
/// `ZOE_HISTORY_REPLAY`) and fails.
fn verify(history: &History, what: &str, save: bool) {
    let checked_at = Instant::now();
    let report = check(history, &Options::default());
    say(&format!(
        "history: {} (checked in {:.1}s)",
        report.summary(),
        checked_at.elapsed().as_secs_f64()
    ));
    for a in report.anomalies.iter().take(10) {
        say(&format!("--- anomaly: {}\n{}", a.kind, a.text));
    }
    if save && !report.anomalies.is_empty() {
        let path = std::env::temp_dir().join(format!("zoe-history-{}.json", std::process::id()));
        match serde_json::to_vec(history).map(|b| std::fs::write(&path, b)) {
            Ok(Ok(())) => say(&format!(
                "history saved to {} (ZOE_HISTORY_REPLAY=<file> checks it again)",
                path.display()
            )),
            _ => say("could not save the history"),
        }
    }
    assert!(
        report.ops >= MIN_OPS,
        "only {} operations were recorded: the clients hardly made progress",
        report.ops
    );
    assert!(
        report.anomalies.is_empty(),
        "{} anomalies ({what}); see above",
        report.anomalies.len()
    );
}

#[test]
fn consistency_under_faults() {
    if let Ok(file) = std::env::var("ZOE_HISTORY_REPLAY") {
        let bytes = std::fs::read(&file).expect("read the saved history");
        let history: History = serde_json::from_slice(&bytes).expect("parse the saved history");
        verify(&history, &file, false);
        return;
    }
    if let Some(secs) = std::env::var("ZOE_HISTORY_SOAK")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    {
        let seed = std::env::var("ZOE_HISTORY_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| rand::thread_rng().gen());
        say(&format!("history soak: {secs}s, seed {seed}"));
        run(Duration::from_secs(secs), seed, true);
    } else {
        let seed = std::env::var("ZOE_HISTORY_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(1);
        run(Duration::from_secs(25), seed, false);
    }
}
