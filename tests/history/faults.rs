//! The system under test and what goes wrong with it: several zoe
//! instances on one etcd; a zoe killed with SIGKILL and restarted, a zoe
//! paused with SIGSTOP (its clients time out and move; when it resumes its
//! replica is behind and it still holds requests it read before), etcd
//! killed and restarted on the same data directory. With
//! `ZOE_TEST_TARGET=zookeeper` the same faults (but etcd's) hit the
//! members of a ZooKeeper 3.9.5 ensemble instead.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::Rng;

use super::client::Recorder;
use crate::support::{
    etcd_bin, free_port, unique_prefix, ServerProcess, TargetKind, TestDir, Zoe, ZooKeeperEnsemble,
};

/// A single-member etcd that can be killed and restarted on its data
/// directory and ports.
pub struct Etcd {
    // Field order: the process goes before its directory.
    process: Option<ServerProcess>,
    client_port: u16,
    peer_port: u16,
    max_txn_ops: usize,
    dir: TestDir,
}

impl Etcd {
    pub fn start() -> Etcd {
        Etcd::start_with_max_txn_ops(1024)
    }

    /// With etcd's `--max-txn-ops` (its own default is 128).
    pub fn start_with_max_txn_ops(max_txn_ops: usize) -> Etcd {
        let mut e = Etcd {
            process: None,
            client_port: free_port(),
            peer_port: free_port(),
            max_txn_ops,
            dir: TestDir::new("history-etcd"),
        };
        e.launch();
        e
    }

    fn launch(&mut self) {
        let client_url = format!("http://127.0.0.1:{}", self.client_port);
        let peer_url = format!("http://127.0.0.1:{}", self.peer_port);
        let mut cmd = Command::new(etcd_bin());
        cmd.arg("--name")
            .arg("history")
            .arg("--data-dir")
            .arg(self.dir.path().join("data"))
            .arg("--listen-client-urls")
            .arg(&client_url)
            .arg("--advertise-client-urls")
            .arg(&client_url)
            .arg("--listen-peer-urls")
            .arg(&peer_url)
            .arg("--initial-advertise-peer-urls")
            .arg(&peer_url)
            .arg("--initial-cluster")
            .arg(format!("history={peer_url}"))
            .arg("--initial-cluster-state")
            .arg("new")
            .arg("--max-txn-ops")
            .arg(self.max_txn_ops.to_string())
            .arg("--logger")
            .arg("zap")
            .arg("--log-outputs")
            .arg("stderr")
            .arg("--log-level")
            .arg("warn");
        let log = self.dir.path().join("etcd.log");
        let mut p = ServerProcess::spawn("etcd", &mut cmd, log).expect("spawn etcd");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.healthy() {
            if let Some(st) = p.exit_status() {
                panic!("etcd exited ({st}):\n{}", p.log_tail(40));
            }
            assert!(
                Instant::now() < deadline,
                "etcd not healthy in 30 s:\n{}",
                p.log_tail(40)
            );
            thread::sleep(Duration::from_millis(50));
        }
        self.process = Some(p);
    }

    fn healthy(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.client_port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
        let req = format!(
            "GET /health HTTP/1.0\r\nHost: 127.0.0.1:{}\r\n\r\n",
            self.client_port
        );
        if s.write_all(req.as_bytes()).is_err() {
            return false;
        }
        let mut resp = String::new();
        let _ = s.read_to_string(&mut resp);
        resp.contains("\"health\":\"true\"")
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    /// SIGKILL, `down` of silence, then the same etcd again.
    pub fn restart(&mut self, down: Duration) {
        if let Some(mut p) = self.process.take() {
            p.kill();
        }
        thread::sleep(down);
        self.launch();
    }
}

/// The servers under test: zoe instances on one etcd, or (to check that
/// the checker holds the reference to the same rules) a ZooKeeper 3.9.5
/// ensemble.
enum Servers {
    // Field order: the zoe instances go before their etcd.
    Zoe { zoes: Vec<Zoe>, etcd: Etcd },
    ZooKeeper(ZooKeeperEnsemble),
}

pub struct Cluster {
    servers: Servers,
    paused: Vec<bool>,
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status();
}

impl Cluster {
    /// `n` servers. Of zoe instances, the first commits in groups (the
    /// default), the others one transaction per write
    /// (`--group-commit=false`), so both write paths serve the same
    /// sessions.
    pub fn start(kind: TargetKind, n: usize) -> Cluster {
        let servers = match kind {
            TargetKind::Zoe => {
                let etcd = Etcd::start();
                let prefix = unique_prefix("history");
                let zoes = (0..n)
                    .map(|i| {
                        let args: &[&str] = if i == 0 {
                            &[]
                        } else {
                            &["--group-commit=false"]
                        };
                        Zoe::start_with(&etcd.endpoint(), &prefix, args)
                    })
                    .collect();
                Servers::Zoe { zoes, etcd }
            }
            TargetKind::ZooKeeper => Servers::ZooKeeper(ZooKeeperEnsemble::start(n)),
        };
        Cluster {
            servers,
            paused: vec![false; n],
        }
    }

    pub fn addrs(&self) -> Vec<String> {
        match &self.servers {
            Servers::Zoe { zoes, .. } => zoes.iter().map(|z| z.addr()).collect(),
            Servers::ZooKeeper(e) => e.addrs(),
        }
    }

    fn pid(&self, i: usize) -> Option<u32> {
        match &self.servers {
            Servers::Zoe { zoes, .. } => zoes[i].pid(),
            Servers::ZooKeeper(e) => e.members[i].pid(),
        }
    }

    fn running(&mut self, i: usize) -> bool {
        match &mut self.servers {
            Servers::Zoe { zoes, .. } => zoes[i].is_running(),
            Servers::ZooKeeper(e) => e.members[i].is_running(),
        }
    }

    pub fn kill(&mut self, i: usize, rec: &Recorder) {
        rec.note(format!("SIGKILL server {i}"));
        self.paused[i] = false;
        match &mut self.servers {
            Servers::Zoe { zoes, .. } => zoes[i].kill(),
            Servers::ZooKeeper(e) => e.members[i].kill(),
        }
    }

    pub fn restart(&mut self, i: usize, rec: &Recorder) {
        match &mut self.servers {
            Servers::Zoe { zoes, .. } => zoes[i].restart(),
            Servers::ZooKeeper(e) => e.members[i].restart(),
        }
        rec.note(format!("server {i} restarted"));
    }

    pub fn pause(&mut self, i: usize, rec: &Recorder) {
        if let Some(pid) = self.pid(i) {
            rec.note(format!("SIGSTOP server {i}"));
            signal(pid, "STOP");
            self.paused[i] = true;
        }
    }

    pub fn resume(&mut self, i: usize, rec: &Recorder) {
        if let Some(pid) = self.pid(i) {
            signal(pid, "CONT");
            self.paused[i] = false;
            rec.note(format!("SIGCONT server {i}"));
        }
    }

    /// Kills etcd and starts it again after `down`; a ZooKeeper ensemble
    /// has no etcd, so there this is skipped.
    pub fn restart_etcd(&mut self, down: Duration, rec: &Recorder) {
        if let Servers::Zoe { etcd, .. } = &mut self.servers {
            rec.note("SIGKILL etcd");
            etcd.restart(down);
            rec.note("etcd restarted");
        }
    }

    /// Resumes whatever is paused and restarts whatever is dead.
    pub fn heal(&mut self, rec: &Recorder) {
        for i in 0..self.paused.len() {
            if self.paused[i] {
                self.resume(i, rec);
            }
            if !self.running(i) {
                self.restart(i, rec);
            }
        }
    }
}

/// Sleeps until `at` after `start` (or returns at once if that is past).
fn until(start: Instant, at: Duration) {
    let now = start.elapsed();
    if at > now {
        thread::sleep(at - now);
    }
}

/// The fixed schedule of the default run, over about `total`: each fault
/// once, with time in between for clients to settle.
pub fn short_schedule(c: &mut Cluster, rec: &Recorder, start: Instant, total: Duration) {
    let s = |f: f64| total.mul_f64(f);
    until(start, s(0.10));
    c.kill(0, rec);
    until(start, s(0.17));
    c.restart(0, rec);
    until(start, s(0.27));
    c.pause(1, rec);
    until(start, s(0.42));
    c.resume(1, rec);
    until(start, s(0.50));
    c.restart_etcd(Duration::from_millis(1500), rec);
    until(start, s(0.66));
    c.kill(2, rec);
    until(start, s(0.72));
    c.restart(2, rec);
    until(start, s(0.80));
    c.pause(0, rec);
    until(start, s(0.90));
    c.resume(0, rec);
    until(start, total);
}

/// Random faults until `total` has passed: one at a time, separated by a
/// few seconds, never more than one zoe down or paused at once.
pub fn random_schedule(
    c: &mut Cluster,
    rec: &Recorder,
    start: Instant,
    total: Duration,
    rng: &mut StdRng,
) {
    let n = c.paused.len();
    while start.elapsed() + Duration::from_secs(10) < total {
        thread::sleep(Duration::from_millis(rng.gen_range(2_000..6_000)));
        let i = rng.gen_range(0..n);
        match rng.gen_range(0..10) {
            0..=3 => {
                c.kill(i, rec);
                thread::sleep(Duration::from_millis(rng.gen_range(200..4_000)));
                c.restart(i, rec);
            }
            4..=7 => {
                c.pause(i, rec);
                thread::sleep(Duration::from_millis(rng.gen_range(500..6_000)));
                c.resume(i, rec);
            }
            _ => {
                let down = Duration::from_millis(rng.gen_range(100..4_000));
                c.restart_etcd(down, rec);
            }
        }
    }
    c.heal(rec);
    until(start, total);
}
