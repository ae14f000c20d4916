//! Every zoe instance dies at once (SIGKILL) and new ones start on the same
//! etcd and prefix. Sessions whose clients come back within their timeout
//! resume with their ephemerals, and no acknowledged write is lost;
//! sessions whose clients are gone expire by their etcd lease and their
//! ephemerals are removed — whether the lease ran out while no instance was
//! running (found when an instance starts) or after the new ones started
//! (seen in the change stream).

mod support;
#[path = "support/workload.rs"]
mod workload;
#[path = "support/zk_client.rs"]
mod zk_client;

use std::time::{Duration, Instant};

use support::{EtcdServer, Zoe};
use workload::{create, ephemeral_owner, spawn_writer, verify_writers, Fate, Session};

async fn wait_gone(admin: &mut Session, path: &str, within: Duration) -> Duration {
    let start = Instant::now();
    loop {
        if ephemeral_owner(admin, path).await.is_none() {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "{path} still there after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarting_every_instance_keeps_live_sessions_and_ends_gone_ones() {
    let etcd = EtcdServer::start();
    let prefix = support::unique_prefix("restart-all");
    let mut zoes = [
        Zoe::start_with(&etcd.endpoint(), &prefix, &[]),
        Zoe::start_with(&etcd.endpoint(), &prefix, &[]),
    ];
    let addrs: Vec<String> = zoes.iter().map(|z| z.addr()).collect();
    let root = "/restart";
    let mut admin = Session::open(&addrs, 30_000, Duration::from_secs(30)).await;
    for p in [root.to_string(), format!("{root}-eph")] {
        let fate = admin
            .write(&p, &create(&p, b"", 0), Duration::from_secs(10))
            .await;
        assert_eq!(fate, Fate::Acked, "create {p}");
    }

    // Clients that will not come back: one whose lease runs out while no
    // instance runs, one whose lease outlives the restart.
    let mut gone = Vec::new();
    for (name, timeout_ms, addr) in [("short", 4_000, &addrs[0]), ("long", 16_000, &addrs[1])] {
        let mut s = Session::open(
            std::slice::from_ref(addr),
            timeout_ms,
            Duration::from_secs(30),
        )
        .await;
        let path = format!("{root}-eph/{name}");
        let fate = s
            .write(&path, &create(&path, b"", 1), Duration::from_secs(10))
            .await;
        assert_eq!(fate, Fate::Acked, "create {path}");
        gone.push((s, path));
    }

    // Clients that stay and keep writing through the restart.
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let mut writers = Vec::new();
    for w in 0..3 {
        let mut a = addrs.clone();
        a.rotate_left(w % 2);
        writers.push(spawn_writer(a, root.into(), format!("w{w}"), 30_000, stop.clone()).await);
    }
    let wait_acked = |n: usize, from: Vec<usize>| {
        let progress: Vec<_> = writers.iter().map(|w| w.0.clone()).collect();
        async move {
            let deadline = Instant::now() + Duration::from_secs(60);
            while progress.iter().zip(&from).any(|(p, f)| p.acked() < f + n) {
                assert!(Instant::now() < deadline, "writers stalled");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    wait_acked(20, vec![0; 3]).await;

    for z in zoes.iter_mut() {
        z.kill();
    }
    // The gone clients' sockets die with the instances; they never return.
    for (s, _) in &gone {
        if let Some(c) = &s.conn {
            c.abort();
        }
    }
    let killed = Instant::now();
    // Longer than the short session's lease (its timeout plus a second or
    // two), shorter than the others' timeouts.
    tokio::time::sleep(Duration::from_secs(8)).await;
    tokio::task::block_in_place(|| {
        for z in zoes.iter_mut() {
            z.restart();
        }
    });
    eprintln!("instances back after {:?}", killed.elapsed());

    let at_restart: Vec<usize> = writers.iter().map(|w| w.0.acked()).collect();
    wait_acked(20, at_restart).await;
    assert!(
        admin.reconnect(Duration::from_secs(20)).await,
        "admin session resumes"
    );

    // Gone sessions end: the short one's lease ran out while no instance
    // ran, the long one's after the restart.
    let short = wait_gone(&mut admin, &gone[0].1, Duration::from_secs(30)).await;
    let long = wait_gone(&mut admin, &gone[1].1, Duration::from_secs(60)).await;
    eprintln!(
        "gone sessions' ephemerals removed {short:?} and {long:?} after the restart's first check"
    );
    for (s, _) in &mut gone {
        assert!(
            !s.reconnect(Duration::from_secs(5)).await && s.expired,
            "a gone session (0x{:x}) must be expired",
            s.session_id
        );
    }

    stop_tx.send(true).unwrap();
    let mut reports = Vec::new();
    for (_, t) in writers {
        reports.push(t.await.unwrap());
    }
    let unknown = verify_writers(&mut admin, root, &reports).await;
    for r in &mut reports {
        assert!(!r.session.expired, "{}: session expired", r.name);
        let eph = format!("{root}-eph/{}", r.name);
        assert_eq!(
            ephemeral_owner(&mut admin, &eph).await,
            Some(r.session.session_id),
            "{}: its ephemeral",
            r.name
        );
    }
    eprintln!(
        "acknowledged: {:?}, unknown fate: {unknown}",
        reports.iter().map(|r| r.acked.len()).collect::<Vec<_>>()
    );
    let check = tokio::task::block_in_place(|| {
        support::zoe_check(
            &etcd.endpoint(),
            &prefix,
            &["--zoe", &addrs[0], "--zoe", &addrs[1]],
        )
    });
    assert!(check.success(), "zoe check\n{}", check.describe());
}
