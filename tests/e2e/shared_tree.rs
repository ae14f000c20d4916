//! The SharedTreeDriver JVM (tests/e2e/pulsar/shared-tree): Pulsar 2.10's
//! own etcd metadata store and the ZooKeeper 3.6 Java client in one
//! process, driven line by line, plus etcd-side helpers. Used by
//! tests/pulsar_shared_tree.rs and tests/e2e_pulsar_shared_tree.rs.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::OnceLock;
use std::thread;
use std::time::Duration;

use crate::e2e;
use crate::support::{file_tail, EtcdServer, TestDir};

pub const PULSAR_VERSION: &str = "2.10.5";

/// How long one driver command may take (a loaded 2-core machine, a JVM).
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(120);

/// How long to wait for watch events that must come.
pub const EVENT_WAIT_MS: u64 = 30_000;

/// Jars and the compiled driver.
pub fn driver_classpath() -> &'static (PathBuf, PathBuf) {
    static CP: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    CP.get_or_init(|| {
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
        let classes = e2e::cache_path("pulsar-shared-tree-classes");
        e2e::compile_java(
            &e2e::e2e_path("pulsar/shared-tree"),
            &pom,
            &lib,
            &classes,
            |_| {},
        );
        (lib, classes)
    })
}

/// The SharedTreeDriver JVM.
pub struct Driver {
    child: Child,
    stdin: ChildStdin,
    replies: Receiver<String>,
    log: PathBuf,
}

impl Driver {
    pub fn start(dir: &TestDir) -> Driver {
        let (lib, classes) = driver_classpath();
        let log = dir.path().join("driver.log");
        let mut cmd = e2e::java_with(
            classes,
            lib,
            "256m",
            &[
                "-XX:MaxDirectMemorySize=64m".to_string(),
                // As Pulsar's bin/bookkeeper: BookKeeper clients find
                // Pulsar's metadata driver (`metadata-store:` URIs).
                "-Dbookkeeper.metadata.client.drivers=\
                 org.apache.pulsar.metadata.bookkeeper.PulsarMetadataClientDriver"
                    .to_string(),
                format!(
                    "-Dlog4j.configurationFile={}",
                    e2e::e2e_path("pulsar/log4j2.xml").display()
                ),
            ],
            "zoee2e.SharedTreeDriver",
        );
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(File::create(&log).expect("driver log"));
        let mut child = cmd.spawn().expect("spawn the SharedTreeDriver JVM");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, replies) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Driver {
            child,
            stdin,
            replies,
            log,
        }
    }

    /// Sends one command; returns its reply line. Panics (with the JVM's
    /// log) on a timeout or an unexpected exception.
    pub fn call(&mut self, cmd: &str) -> String {
        writeln!(self.stdin, "{cmd}")
            .and_then(|_| self.stdin.flush())
            .unwrap_or_else(|e| panic!("`{cmd}`: driver gone ({e}):\n{}", self.tail()));
        let reply = self
            .replies
            .recv_timeout(REPLY_TIMEOUT)
            .unwrap_or_else(|e| panic!("`{cmd}`: no reply ({e}):\n{}", self.tail()));
        assert!(
            !reply.starts_with("ERROR"),
            "`{cmd}` failed: {reply}\n{}",
            self.tail()
        );
        reply
    }

    /// The fields of an `OK` reply.
    pub fn ok(&mut self, cmd: &str) -> Vec<String> {
        let reply = self.call(cmd);
        let mut fields = reply.split(' ').map(str::to_string);
        assert_eq!(
            fields.next().as_deref(),
            Some("OK"),
            "`{cmd}` answered {reply}"
        );
        fields.collect()
    }

    /// ZooKeeper `exists`: None for NONODE.
    pub fn zstat(&mut self, path: &str, watch: bool) -> Option<ZStat> {
        let reply = self.call(&format!("zstat {path} {}", watch as u8));
        if reply == "NONODE" {
            return None;
        }
        let f = self.fields_of(&reply);
        Some(ZStat::parse(&f))
    }

    /// ZooKeeper `getData`: the data (hex, `-` for empty) and the Stat.
    pub fn zget(&mut self, path: &str, watch: bool) -> Option<(String, ZStat)> {
        let reply = self.call(&format!("zget {path} {}", watch as u8));
        if reply == "NONODE" {
            return None;
        }
        let f = self.fields_of(&reply);
        Some((f[0].clone(), ZStat::parse(&f[1..])))
    }

    /// ZooKeeper `getChildren2`.
    pub fn zchildren(&mut self, path: &str, watch: bool) -> Option<(BTreeSet<String>, ZStat)> {
        let reply = self.call(&format!("zchildren {path} {}", watch as u8));
        if reply == "NONODE" {
            return None;
        }
        let f = self.fields_of(&reply);
        Some((names(&f[0]), ZStat::parse(&f[1..])))
    }

    /// Waits for `n` ZooKeeper watch events (fewer if they do not come).
    pub fn zevents(&mut self, n: usize, wait_ms: u64) -> Vec<String> {
        let f = self.ok(&format!("zevents {n} {wait_ms}"));
        f.first()
            .filter(|s| !s.is_empty())
            .map(|s| s.split(';').map(str::to_string).collect())
            .unwrap_or_default()
    }

    /// Pulsar's `getChildren`.
    pub fn children(&mut self, path: &str) -> BTreeSet<String> {
        names(&self.ok(&format!("children {path}"))[0])
    }

    pub fn fields_of(&self, reply: &str) -> Vec<String> {
        let mut f = reply.split(' ').map(str::to_string);
        assert_eq!(f.next().as_deref(), Some("OK"), "{reply}");
        f.collect()
    }

    pub fn tail(&self) -> String {
        file_tail(&self.log, 40)
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn names(joined: &str) -> BTreeSet<String> {
    if joined == "-" {
        BTreeSet::new()
    } else {
        joined.split(',').map(str::to_string).collect()
    }
}

/// A ZooKeeper Stat as the Java client reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZStat {
    pub czxid: i64,
    pub mzxid: i64,
    pub ctime: i64,
    pub mtime: i64,
    pub version: i64,
    pub cversion: i64,
    pub aversion: i64,
    pub ephemeral_owner: i64,
    pub data_length: i64,
    pub num_children: i64,
    pub pzxid: i64,
}

impl ZStat {
    pub fn parse(f: &[String]) -> ZStat {
        let v: Vec<i64> = f
            .iter()
            .take(11)
            .map(|s| s.parse().unwrap_or_else(|_| panic!("stat field {s:?}")))
            .collect();
        assert_eq!(v.len(), 11, "stat {f:?}");
        ZStat {
            czxid: v[0],
            mzxid: v[1],
            ctime: v[2],
            mtime: v[3],
            version: v[4],
            cversion: v[5],
            aversion: v[6],
            ephemeral_owner: v[7],
            data_length: v[8],
            num_children: v[9],
            pzxid: v[10],
        }
    }
}

/// A key as etcd holds it.
#[derive(Debug, Clone, Copy)]
pub struct EtcdKv {
    pub create_revision: i64,
    pub mod_revision: i64,
    pub version: i64,
    pub lease: i64,
}

pub fn etcd_kv(etcd: &EtcdServer, key: &str) -> Option<EtcdKv> {
    let out = etcd.etcdctl(&["get", key, "-w", "json"]);
    assert!(out.success(), "etcdctl get {key}\n{}", out.describe());
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).expect("etcdctl json");
    let kv = doc.get("kvs")?.as_array()?.first()?;
    let num = |f: &str| kv.get(f).and_then(|v| v.as_i64()).unwrap_or(0);
    Some(EtcdKv {
        create_revision: num("create_revision"),
        mod_revision: num("mod_revision"),
        version: num("version"),
        lease: num("lease"),
    })
}

/// Every key in etcd.
pub fn etcd_keys(etcd: &EtcdServer) -> Vec<String> {
    let out = etcd.etcdctl(&["get", "", "--from-key", "--keys-only"]);
    assert!(out.success(), "etcdctl get --from-key\n{}", out.describe());
    out.stdout
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

pub fn hex(s: &str) -> String {
    if s.is_empty() {
        return "-".into();
    }
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

pub fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// One read of a child watcher: cversion, pzxid, children.
pub type ChildRead = (i64, i64, BTreeSet<String>);

/// Everything `zwatch` read so far.
pub fn child_reads(d: &mut Driver) -> Vec<ChildRead> {
    let f = d.ok("zwatchlog");
    let Some(joined) = f.first().filter(|s| !s.is_empty()) else {
        return Vec::new();
    };
    joined
        .split(';')
        .map(|e| {
            assert!(!e.starts_with("ERROR"), "the child watcher failed: {e}");
            let mut parts = e.splitn(3, ',');
            let num = |s: Option<&str>| -> i64 {
                s.and_then(|s| s.parse().ok())
                    .unwrap_or_else(|| panic!("watcher entry {e:?}"))
            };
            let cversion = num(parts.next());
            let pzxid = num(parts.next());
            let kids = parts.next().unwrap_or("-");
            let kids = if kids == "-" {
                BTreeSet::new()
            } else {
                kids.split('+').map(str::to_string).collect()
            };
            (cversion, pzxid, kids)
        })
        .collect()
}

/// Waits until the child watcher has read `want`; checks that every read
/// it made showed a strictly higher cversion and pzxid than the one
/// before (what BookKeeper's ZKRegistrationClient requires to take a new
/// bookie list), and returns the cversion it read.
pub fn await_children(d: &mut Driver, want: &[&str], step: &str) -> i64 {
    let want = set(want);
    let deadline = std::time::Instant::now() + Duration::from_millis(EVENT_WAIT_MS);
    loop {
        let reads = child_reads(d);
        for pair in reads.windows(2) {
            assert!(
                pair[1].0 > pair[0].0 && pair[1].1 > pair[0].1,
                "{step}: cversion/pzxid did not rise between reads: {:?} then {:?}\nall: {reads:?}",
                pair[0],
                pair[1]
            );
        }
        if let Some(last) = reads.last().filter(|r| r.2 == want) {
            return last.0;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{step}: the child watcher never read {want:?}; it read {reads:?}"
        );
        thread::sleep(Duration::from_millis(100));
    }
}

/// The counters a child record holds in etcd (without pending changes):
/// cversion = co + the key's etcd version.
pub fn stored_cversion(etcd: &EtcdServer, path: &str) -> Option<i64> {
    let key = format!("0zoe/c{path}");
    let out = etcd.etcdctl(&["get", &key, "-w", "json"]);
    assert!(out.success(), "etcdctl get {key}\n{}", out.describe());
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).expect("etcdctl json");
    let kv = doc.get("kvs")?.as_array()?.first()?;
    let version = kv.get("version")?.as_i64()?;
    let value = kv.get("value")?.as_str()?;
    let value = base64_decode(value);
    let rec: serde_json::Value = serde_json::from_slice(&value).expect("child record json");
    Some(rec.get("co")?.as_i64()? + version)
}

pub fn base64_decode(s: &str) -> Vec<u8> {
    let table = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => (c - b'A') as u32,
            b'a'..=b'z' => (c - b'a' + 26) as u32,
            b'0'..=b'9' => (c - b'0' + 52) as u32,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("base64 {s:?}"),
        }
    };
    let bytes: Vec<u8> = s.bytes().filter(|b| *b != b'=').collect();
    let mut out = Vec::new();
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= table(*c) << (18 - 6 * i);
        }
        for i in 0..chunk.len().saturating_sub(1) {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    out
}
