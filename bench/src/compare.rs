//! `zoe-bench compare`: starts etcd, zoe and Apache ZooKeeper 3.9.5 on this
//! machine, runs every workload against ZooKeeper and zoe with the same
//! settings (repeated, medians reported), measures etcd's raw write rate at
//! the same concurrency, the memory of a large tree, zoe's cold start and
//! many concurrent sessions. Every process it starts is stopped at the end,
//! on error and on SIGINT/SIGTERM.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use serde::Serialize;

use crate::etcd::{self, EtcdOp};
use crate::report::{print_errors_banner, table_header, table_row, Report};
use crate::workloads::{self, LoadOpts, Workload};
use crate::zk::{self, create_req, Conn, Phase, Stats, SESSION_TIMEOUT_MS};

#[derive(clap::Args, Debug, Clone)]
pub struct CompareOpts {
    #[command(flatten)]
    pub load: LoadOpts,
    /// Repetitions of every workload (medians are reported).
    #[arg(long, default_value_t = 3)]
    pub reps: usize,
    /// Workloads to compare, comma separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "create,create-eph-seq,set,get,exists,children,delete,multi,mix,watch,sessions"
    )]
    pub workloads: Vec<Workload>,
    /// znodes (of 100 bytes) in the tree used for memory and cold start; 0 skips.
    #[arg(long, default_value_t = 1_000_000)]
    pub tree_size: usize,
    /// Connections used to load the tree (one avoids zoe's write
    /// contention between sessions; 256 in flight keep both servers busy).
    #[arg(long, default_value_t = 1)]
    pub load_connections: usize,
    /// Outstanding requests per connection while loading the tree.
    #[arg(long, default_value_t = 256)]
    pub load_outstanding: usize,
    /// Give zoe its tree by writing zoe's etcd layout directly (path-keyed
    /// data keys, 1000 puts per txn) instead of creates through zoe; the
    /// running zoe applies them from its etcd watch. ZooKeeper still gets
    /// pipelined creates.
    #[arg(long)]
    pub zoe_tree_via_etcd: bool,
    /// Cold starts of each server with the tree (medians are reported).
    #[arg(long, default_value_t = 1)]
    pub cold_starts: usize,
    /// Leave ZooKeeper out of the tree phase (no load, memory or cold
    /// start of its own): zoe's side alone, for quick comparisons of zoe
    /// builds.
    #[arg(long)]
    pub skip_zookeeper_tree: bool,
    /// Concurrent sessions to open and hold (0 skips); held for --duration.
    #[arg(long, default_value_t = 10_000)]
    pub hold_sessions: usize,
    /// Skip the raw etcd measurement.
    #[arg(long)]
    pub skip_etcd: bool,
    /// Working directory for data dirs and logs (default: a new temp dir).
    #[arg(long)]
    pub workdir: Option<PathBuf>,
    /// Keep the working directory.
    #[arg(long)]
    pub keep: bool,
    #[arg(long, default_value = "target/release/zoe")]
    pub zoe_bin: PathBuf,
    #[arg(long, default_value = "etcd")]
    pub etcd_bin: PathBuf,
    #[arg(long, default_value = "java")]
    pub java: PathBuf,
    /// Directory with the ZooKeeper 3.9.5 jars and dependencies.
    #[arg(long, default_value = ".cache/java/zk-3.9.5/lib")]
    pub zk_lib: PathBuf,
    /// Also write every report and the summary as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

// ------------------------------------------------------------------ processes

/// Pids of everything started, mirrored into `<workdir>/pids` so the shell
/// wrapper's trap can kill them even if this process dies.
static PIDS: OnceLock<Mutex<(Vec<u32>, PathBuf)>> = OnceLock::new();

fn pids() -> &'static Mutex<(Vec<u32>, PathBuf)> {
    PIDS.get_or_init(|| Mutex::new((Vec::new(), PathBuf::new())))
}

fn save_pids(g: &(Vec<u32>, PathBuf)) {
    if g.1.as_os_str().is_empty() {
        return;
    }
    let body: String = g.0.iter().map(|p| format!("{p}\n")).collect();
    let _ = fs::write(&g.1, body);
}

fn signal(pid: u32, sig: i32) {
    // SAFETY: kill(2) with a pid we started and have not reaped yet.
    unsafe {
        libc::kill(pid as i32, sig);
    }
}

/// Kills every registered process (SIGKILL). For signal handlers.
fn kill_all_registered() {
    if let Ok(g) = pids().lock() {
        for p in &g.0 {
            signal(*p, libc::SIGKILL);
        }
    }
}

struct Proc {
    child: Child,
    log: PathBuf,
    started: Instant,
}

impl Proc {
    fn spawn(name: &str, cmd: &mut Command, log: PathBuf) -> Result<Proc> {
        let f = fs::File::create(&log)?;
        let f2 = f.try_clone()?;
        let started = Instant::now();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(f)
            .stderr(f2)
            .spawn()
            .with_context(|| format!("spawn {name} ({:?})", cmd.get_program()))?;
        {
            let mut g = pids().lock().unwrap();
            g.0.push(child.id());
            save_pids(&g);
        }
        Ok(Proc {
            child,
            log,
            started,
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn log_tail(&self) -> String {
        let s = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// SIGTERM, then SIGKILL after `grace`; reaps and unregisters.
    fn stop(&mut self, grace: Duration) {
        if self.alive() {
            signal(self.pid(), libc::SIGTERM);
            let t = Instant::now();
            while self.alive() && t.elapsed() < grace {
                std::thread::sleep(Duration::from_millis(20));
            }
            if self.alive() {
                let _ = self.child.kill();
            }
        }
        let _ = self.child.wait();
        let mut g = pids().lock().unwrap();
        let pid = self.pid();
        g.0.retain(|p| *p != pid);
        save_pids(&g);
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(3));
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Resident set size in bytes, from /proc/PID/status.
fn rss_bytes(pid: u32) -> Option<u64> {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// utime + stime in seconds, from /proc/PID/stat.
fn cpu_seconds(pid: u32) -> f64 {
    let path = if pid == 0 {
        "/proc/self/stat".to_string()
    } else {
        format!("/proc/{pid}/stat")
    };
    let Ok(s) = fs::read_to_string(path) else {
        return 0.0;
    };
    // Fields after the ")" of the command name; utime and stime are 14, 15.
    let Some(rest) = s.rsplit_once(')').map(|(_, r)| r) else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let ut: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    let st: f64 = f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    (ut + st) / ticks
}

// ------------------------------------------------------------------ servers

struct Servers {
    etcd: Proc,
    etcd_url: String,
    zoe: Proc,
    zoe_addr: String,
    zk: Proc,
    zk_addr: String,
    zk_cmd: Vec<String>,
    zoe_cmd: Vec<String>,
    work: PathBuf,
}

fn command(argv: &[String]) -> Command {
    let mut c = Command::new(&argv[0]);
    c.args(&argv[1..]);
    c
}

async fn wait_for<F, Fut>(
    what: &str,
    proc_: &mut Proc,
    timeout: Duration,
    mut probe: F,
) -> Result<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let t = Instant::now();
    loop {
        if !proc_.alive() {
            bail!("{what} exited early; log tail:\n{}", proc_.log_tail());
        }
        if probe().await {
            return Ok(proc_.started.elapsed());
        }
        if t.elapsed() > timeout {
            bail!(
                "{what} not ready within {timeout:?}; log tail:\n{}",
                proc_.log_tail()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn zk_ready(addr: &str, check: Option<&str>) -> bool {
    let Ok(Ok(mut c)) = tokio::time::timeout(
        Duration::from_secs(2),
        Conn::connect(addr, SESSION_TIMEOUT_MS),
    )
    .await
    else {
        return false;
    };
    let ok = match check {
        None => true,
        Some(p) => matches!(
            c.call(&jute::Request::Exists(jute::ExistsRequest {
                path: p.into(),
                watch: false
            }))
            .await,
            Ok((h, _)) if h.err == 0
        ),
    };
    let _ = c.close().await;
    ok
}

async fn start_zoe(
    argv: &[String],
    work: &Path,
    addr: &str,
    check: Option<&str>,
    n: usize,
) -> Result<(Proc, Duration)> {
    let mut p = Proc::spawn("zoe", &mut command(argv), work.join(format!("zoe-{n}.log")))?;
    let a = addr.to_string();
    let c = check.map(str::to_string);
    let t = wait_for("zoe", &mut p, Duration::from_secs(300), || {
        let a = a.clone();
        let c = c.clone();
        async move { zk_ready(&a, c.as_deref()).await }
    })
    .await?;
    Ok((p, t))
}

async fn start_zk(
    argv: &[String],
    work: &Path,
    addr: &str,
    check: Option<&str>,
    n: usize,
) -> Result<(Proc, Duration)> {
    let mut p = Proc::spawn(
        "zookeeper",
        &mut command(argv),
        work.join(format!("zookeeper-{n}.log")),
    )?;
    let a = addr.to_string();
    let c = check.map(str::to_string);
    let t = wait_for("ZooKeeper", &mut p, Duration::from_secs(300), || {
        let a = a.clone();
        let c = c.clone();
        async move { zk_ready(&a, c.as_deref()).await }
    })
    .await?;
    Ok((p, t))
}

async fn start_servers(o: &CompareOpts, work: &Path) -> Result<Servers> {
    // etcd
    let cport = free_port()?;
    let pport = free_port()?;
    let etcd_url = format!("http://127.0.0.1:{cport}");
    let peer = format!("http://127.0.0.1:{pport}");
    let mut cmd = Command::new(&o.etcd_bin);
    cmd.args(["--name", "bench", "--data-dir"])
        .arg(work.join("etcd"))
        .args([
            "--listen-client-urls",
            &etcd_url,
            "--advertise-client-urls",
            &etcd_url,
        ])
        .args([
            "--listen-peer-urls",
            &peer,
            "--initial-advertise-peer-urls",
            &peer,
        ])
        .args([
            "--initial-cluster",
            &format!("bench={peer}"),
            "--initial-cluster-state",
            "new",
        ])
        .args([
            "--max-txn-ops",
            "10000",
            "--quota-backend-bytes",
            "8589934592",
        ])
        .args(["--log-level", "warn"]);
    let mut etcd = Proc::spawn("etcd", &mut cmd, work.join("etcd.log"))?;
    let url = etcd_url.clone();
    wait_for("etcd", &mut etcd, Duration::from_secs(60), || {
        let url = url.clone();
        async move {
            match etcd_client::Client::connect([url.as_str()], None).await {
                Ok(mut c) => c.get("health-probe", None).await.is_ok(),
                Err(_) => false,
            }
        }
    })
    .await?;

    // zoe
    let zoe_port = free_port()?;
    let zoe_addr = format!("127.0.0.1:{zoe_port}");
    let zoe_cmd: Vec<String> = vec![
        o.zoe_bin.display().to_string(),
        "serve".into(),
        "--listen".into(),
        zoe_addr.clone(),
        "--etcd".into(),
        etcd_url.clone(),
        "--prefix".into(),
        "bench".into(),
        "--four-letter-words".into(),
        "*".into(),
        // ZooKeeper runs with maxClientCnxns=0 too.
        "--max-client-cnxns".into(),
        "0".into(),
        // The numbers in docs/performance.md were taken with group commit.
        "--group-commit".into(),
    ];
    let (zoe, _) = start_zoe(&zoe_cmd, work, &zoe_addr, None, 0).await?;

    // ZooKeeper standalone, default JVM heap.
    let zk_port = free_port()?;
    let zk_addr = format!("127.0.0.1:{zk_port}");
    let data = work.join("zk-data");
    fs::create_dir_all(&data)?;
    let cfg = work.join("zoo.cfg");
    fs::write(
        &cfg,
        format!(
            "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort={zk_port}\n\
             clientPortAddress=127.0.0.1\nmaxClientCnxns=0\n4lw.commands.whitelist=*\n\
             admin.enableServer=false\n",
            data.display()
        ),
    )?;
    let lib = fs::canonicalize(&o.zk_lib)
        .with_context(|| format!("ZooKeeper jars not found in {}", o.zk_lib.display()))?;
    let zk_cmd: Vec<String> = vec![
        o.java.display().to_string(),
        "-Dzookeeper.admin.enableServer=false".into(),
        "-Dzookeeper.4lw.commands.whitelist=*".into(),
        "-cp".into(),
        format!("{}/*", lib.display()),
        "org.apache.zookeeper.server.ZooKeeperServerMain".into(),
        cfg.display().to_string(),
    ];
    let (zk, _) = start_zk(&zk_cmd, work, &zk_addr, None, 0).await?;
    Ok(Servers {
        etcd,
        etcd_url,
        zoe,
        zoe_addr,
        zk,
        zk_addr,
        zk_cmd,
        zoe_cmd,
        work: work.to_path_buf(),
    })
}

// ------------------------------------------------------------------ tree

/// A tree load that makes no progress for this long is abandoned.
const STALL: Duration = Duration::from_secs(60);

/// Writes the tree straight into etcd in zoe's layout, path-keyed (data key
/// only; zoe's layout serves such keys with default metadata, see
/// docs/etcd-layout.md). 1000 puts per transaction, 8 in flight.
async fn load_tree_via_etcd(
    endpoint: &str,
    prefix: &str,
    size: usize,
    value_size: usize,
) -> Result<f64> {
    const FAN: usize = 1000;
    let t = Instant::now();
    let client = etcd_client::Client::connect([endpoint], None).await?;
    let dirs = size.div_ceil(FAN).max(1);
    let mut keys: Vec<(String, Vec<u8>)> = vec![(format!("{prefix}/zoe-tree"), Vec::new())];
    keys.extend((0..dirs).map(|j| (format!("{prefix}/zoe-tree/d{j}"), Vec::new())));
    let value = vec![b'v'; value_size];
    keys.extend((0..size).map(|g| {
        (
            format!("{prefix}/zoe-tree/d{}/n{}", g / FAN, g % FAN),
            value.clone(),
        )
    }));
    let keys = Arc::new(keys);
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (keys, next) = (keys.clone(), next.clone());
        let mut kv = client.kv_client();
        tasks.push(tokio::spawn(async move {
            loop {
                let start = next.fetch_add(1000, Ordering::Relaxed) as usize;
                if start >= keys.len() {
                    return anyhow::Ok(());
                }
                let ops: Vec<etcd_client::TxnOp> = keys[start..(start + 1000).min(keys.len())]
                    .iter()
                    .map(|(k, v)| etcd_client::TxnOp::put(k.clone(), v.clone(), None))
                    .collect();
                kv.txn(etcd_client::Txn::new().and_then(ops)).await?;
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(t.elapsed().as_secs_f64())
}

/// Loads `size` znodes of `value_size` bytes as /zoe-tree/dJ/nK (1000 per
/// directory). Connection i owns directories i, i+L, ... so no two sessions
/// create under the same parent. Returns (seconds, last path, errors).
async fn load_tree(
    addr: &str,
    size: usize,
    value_size: usize,
    conns: usize,
    window: usize,
) -> Result<(f64, String, Stats)> {
    const FAN: usize = 1000;
    let dirs = size.div_ceil(FAN).max(1);
    let t = Instant::now();
    let mut c = Conn::connect(addr, SESSION_TIMEOUT_MS).await?;
    c.call(&create_req("/zoe-tree".into(), None, 0)).await?;
    let _ = c.close().await;
    let dpaths: Vec<String> = (0..dirs).map(|j| format!("/zoe-tree/d{j}")).collect();
    let st = zk::bulk_create(addr, 1, 256, Arc::new(dpaths), None).await?;
    if st.error_count() > 0 {
        bail!("tree directories: {:?}", st.errors);
    }
    let data = Bytes::from(vec![b'v'; value_size]);
    let l = conns.max(1);
    // Stall detection: the furthest position each connection has reached.
    let hi: Arc<Vec<AtomicU64>> = Arc::new((0..l).map(|_| AtomicU64::new(0)).collect());
    let abort = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let (hi, abort) = (hi.clone(), abort.clone());
        tokio::spawn(async move {
            let mut last = 0u64;
            let mut since = Instant::now();
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                let now: u64 = hi.iter().map(|h| h.load(Ordering::Relaxed)).sum();
                if now > last {
                    last = now;
                    since = Instant::now();
                } else if since.elapsed() > STALL {
                    eprintln!(
                        "!!! tree load stalled at about {now} znodes for {STALL:?}: giving up"
                    );
                    abort.store(true, Ordering::Relaxed);
                    return;
                }
            }
        })
    };
    let mut tasks = Vec::new();
    for i in 0..l {
        let addr = addr.to_string();
        let data = data.clone();
        let (hi, abort) = (hi.clone(), abort.clone());
        tasks.push(tokio::spawn(async move {
            let path_of = |s: u64| -> Option<String> {
                let s = s as usize;
                let dir = i + l * (s / FAN);
                let g = dir * FAN + s % FAN;
                (dir < dirs && g < size).then(|| format!("/zoe-tree/d{dir}/n{}", s % FAN))
            };
            let mut st = Stats::default();
            let mut from = 0u64;
            for _attempt in 0..100_000 {
                if abort.load(Ordering::Relaxed) {
                    break;
                }
                let mut c = match Conn::connect(&addr, SESSION_TIMEOUT_MS).await {
                    Ok(c) => c,
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    }
                };
                let f = from;
                let sent_before = st.sent;
                let r = zk::drive(
                    &mut c,
                    window,
                    &Phase::unbounded(),
                    |s| {
                        hi[i].fetch_max(f + s, Ordering::Relaxed);
                        if abort.load(Ordering::Relaxed) {
                            return None;
                        }
                        path_of(f + s).map(|p| create_req(p, Some(data.clone()), 0))
                    },
                    &mut st,
                )
                .await;
                if r.is_ok() {
                    let _ = c.close().await;
                    return st;
                }
                // Lost the connection: resume a window back (NODEEXISTS is fine).
                from = (from + (st.sent - sent_before)).saturating_sub(window as u64);
            }
            st
        }));
    }
    let mut total = Stats::default();
    for t in tasks {
        total.merge(&t.await?);
    }
    watchdog.abort();
    if abort.load(Ordering::Relaxed) {
        *total.errors.entry(zk::LOAD_STALLED).or_default() += 1;
    }
    total.errors.remove(&jute::ErrorCode::NodeExists.as_i32());
    let last_dir = (size - 1) / FAN;
    let last = format!("/zoe-tree/d{last_dir}/n{}", (size - 1) % FAN);
    Ok((t.elapsed().as_secs_f64(), last, total))
}

// ------------------------------------------------------------------ summary

#[derive(Debug, Clone, Serialize, Default)]
pub struct Row {
    pub workload: String,
    pub zk_ops: f64,
    pub zk_p50: f64,
    pub zk_p99: f64,
    pub zoe_ops: f64,
    pub zoe_p50: f64,
    pub zoe_p99: f64,
    pub ratio_ops: f64,
    pub ratio_p99: f64,
    pub zk_errors: u64,
    pub zoe_errors: u64,
    /// Median cores used during a run (client, zoe, etcd, ZooKeeper).
    pub zk_cpu: BTreeMap<String, f64>,
    pub zoe_cpu: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct TreeResult {
    pub znodes: usize,
    pub zk_load_s: f64,
    pub zoe_load_s: f64,
    pub zk_load_errors: u64,
    pub zoe_load_errors: u64,
    pub zk_rss_mb: f64,
    pub zoe_rss_mb: f64,
    pub etcd_rss_mb: f64,
    pub zk_idle_rss_mb: f64,
    pub zoe_idle_rss_mb: f64,
    pub etcd_idle_rss_mb: f64,
    pub zoe_cold_start_s: f64,
    pub zk_cold_start_s: f64,
    /// RSS right after the cold start (median over --cold-starts).
    pub zoe_cold_start_rss_mb: f64,
    pub zk_cold_start_rss_mb: f64,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct Summary {
    pub command: String,
    pub machine: String,
    pub rows: Vec<Row>,
    pub etcd: Vec<Report>,
    pub hold: Vec<Report>,
    pub tree: Option<TreeResult>,
    pub runs: Vec<Report>,
}

/// One run's report and the cores each process used during it.
type RunCpu = (Report, BTreeMap<String, f64>);

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let model = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_default();
    let mem = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .next()
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_string())
        })
        .and_then(|kb| kb.parse::<u64>().ok())
        .map(|kb| kb as f64 / 1024.0 / 1024.0)
        .unwrap_or(0.0);
    format!("{cpus} cores ({model}), {mem:.0} GiB RAM")
}

const NOTE: &str =
    "NOTE: this machine has only 2 cores, shared by the load generator, etcd, zoe and ZooKeeper \
(and possibly other users); absolute numbers are low and noisy, compare ratios.";

fn mb(b: Option<u64>) -> f64 {
    b.unwrap_or(0) as f64 / (1024.0 * 1024.0)
}

// ------------------------------------------------------------------ main

pub async fn run(o: CompareOpts) -> Result<()> {
    let (work, owned) = match &o.workdir {
        Some(w) => {
            fs::create_dir_all(w)?;
            (fs::canonicalize(w)?, false)
        }
        None => {
            let w = std::env::temp_dir().join(format!("zoe-compare-{}", std::process::id()));
            fs::create_dir_all(&w)?;
            (w, true)
        }
    };
    pids().lock().unwrap().1 = work.join("pids");
    // SIGINT / SIGTERM: kill everything we started, then exit.
    tokio::spawn(async {
        use tokio::signal::unix::{signal as sig, SignalKind};
        let mut term = sig(SignalKind::terminate()).expect("SIGTERM handler");
        let mut int = sig(SignalKind::interrupt()).expect("SIGINT handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        eprintln!("\ninterrupted: stopping every server");
        kill_all_registered();
        std::process::exit(130);
    });
    let res = run_in(&o, &work).await;
    kill_all_registered();
    if owned && !o.keep && res.is_ok() {
        let _ = fs::remove_dir_all(&work);
    } else if owned || o.keep || res.is_err() {
        // (bench/compare removes a --workdir it made itself after success.)
        eprintln!("working directory (logs): {}", work.display());
    }
    res
}

async fn run_in(o: &CompareOpts, work: &Path) -> Result<()> {
    let command: String = std::env::args().collect::<Vec<_>>().join(" ");
    let mut summary = Summary {
        command,
        machine: machine(),
        ..Summary::default()
    };
    println!("{NOTE}");
    println!("machine: {}", summary.machine);
    println!("working directory: {}", work.display());
    let mut s = start_servers(o, work).await?;
    println!(
        "etcd {} (pid {}), zoe {} (pid {}), ZooKeeper 3.9.5 {} (pid {})",
        s.etcd_url,
        s.etcd.pid(),
        s.zoe_addr,
        s.zoe.pid(),
        s.zk_addr,
        s.zk.pid()
    );
    let idle = (
        rss_bytes(s.zk.pid()),
        rss_bytes(s.zoe.pid()),
        rss_bytes(s.etcd.pid()),
    );
    let l = &o.load;
    println!(
        "settings: {} connections × {} outstanding, {} B values, {} s warmup + {} s measured, {} reps{}",
        l.connections,
        l.outstanding,
        l.value_size,
        l.warmup,
        l.duration,
        o.reps,
        if l.rate > 0.0 { format!(", target {} ops/s", l.rate) } else { String::new() }
    );
    println!();
    println!("{}  cpu(cores: client zoe etcd zk)", table_header());

    let timeout = Duration::from_secs_f64(l.warmup + l.duration + 300.0);
    let mut runs: BTreeMap<(String, String), Vec<RunCpu>> = BTreeMap::new();
    for &w in &o.workloads {
        for _rep in 0..o.reps {
            for (label, addr) in [
                ("zookeeper", s.zk_addr.clone()),
                ("zoe", s.zoe_addr.clone()),
            ] {
                let procs = [
                    ("client", 0u32),
                    ("zoe", s.zoe.pid()),
                    ("etcd", s.etcd.pid()),
                    ("zk", s.zk.pid()),
                ];
                let before: Vec<f64> = procs.iter().map(|(_, p)| cpu_seconds(*p)).collect();
                let t0 = Instant::now();
                let r = tokio::time::timeout(timeout, workloads::run(&addr, label, w, l)).await;
                let wall = t0.elapsed().as_secs_f64();
                let cpu: BTreeMap<String, f64> = procs
                    .iter()
                    .zip(&before)
                    .map(|((n, p), b)| (n.to_string(), (cpu_seconds(*p) - b) / wall))
                    .collect();
                let rep = match r {
                    Ok(Ok(r)) => r,
                    Ok(Err(e)) => failed(w.name(), label, &format!("{e:#}")),
                    Err(_) => failed(w.name(), label, "timed out"),
                };
                println!(
                    "{}  {:.2} {:.2} {:.2} {:.2}",
                    table_row(&rep),
                    cpu["client"],
                    cpu["zoe"],
                    cpu["etcd"],
                    cpu["zk"]
                );
                summary.runs.push(rep.clone());
                runs.entry((w.name().to_string(), label.to_string()))
                    .or_default()
                    .push((rep, cpu));
                if !s.zoe.alive() || !s.zk.alive() || !s.etcd.alive() {
                    bail!("a server died; see the logs in {}", work.display());
                }
            }
        }
    }
    for &w in &o.workloads {
        let get = |t: &str| {
            runs.get(&(w.name().to_string(), t.to_string()))
                .cloned()
                .unwrap_or_default()
        };
        let (zk, zoe) = (get("zookeeper"), get("zoe"));
        let m = |v: &[RunCpu], f: fn(&Report) -> f64| median(v.iter().map(|(r, _)| f(r)).collect());
        // Latency medians leave out runs that failed outright (they have no
        // latencies); their throughput counts as 0 in the medians above.
        let lm = |v: &[RunCpu], f: fn(&Report) -> f64| {
            median(
                v.iter()
                    .filter(|(r, _)| !r.error_codes.contains_key("RUN FAILED"))
                    .map(|(r, _)| f(r))
                    .collect(),
            )
        };
        let mc = |v: &[RunCpu]| -> BTreeMap<String, f64> {
            ["client", "zoe", "etcd", "zk"]
                .iter()
                .map(|k| {
                    (
                        k.to_string(),
                        median(v.iter().map(|(_, c)| c[*k]).collect()),
                    )
                })
                .collect()
        };
        let mut row = Row {
            workload: w.name().to_string(),
            zk_ops: m(&zk, |r| r.ops_per_sec),
            zk_p50: lm(&zk, |r| r.latency.p50_ms),
            zk_p99: lm(&zk, |r| r.latency.p99_ms),
            zoe_ops: m(&zoe, |r| r.ops_per_sec),
            zoe_p50: lm(&zoe, |r| r.latency.p50_ms),
            zoe_p99: lm(&zoe, |r| r.latency.p99_ms),
            zk_errors: zk.iter().map(|(r, _)| r.errors).sum(),
            zoe_errors: zoe.iter().map(|(r, _)| r.errors).sum(),
            zk_cpu: mc(&zk),
            zoe_cpu: mc(&zoe),
            ..Row::default()
        };
        row.ratio_ops = if row.zk_ops > 0.0 {
            row.zoe_ops / row.zk_ops
        } else {
            0.0
        };
        row.ratio_p99 = if row.zk_p99 > 0.0 {
            row.zoe_p99 / row.zk_p99
        } else {
            0.0
        };
        summary.rows.push(row);
    }

    // Raw etcd writes at the same concurrency.
    if !o.skip_etcd {
        println!();
        println!(
            "raw etcd writes, {} clients × {} in flight:",
            l.connections, l.outstanding
        );
        for op in [EtcdOp::Put, EtcdOp::Txn] {
            let mut v = Vec::new();
            for _ in 0..o.reps {
                let r = match tokio::time::timeout(timeout, etcd::run(&s.etcd_url, op, l)).await {
                    Ok(Ok(r)) => r,
                    Ok(Err(e)) => failed(op.name(), "etcd", &format!("{e:#}")),
                    Err(_) => failed(op.name(), "etcd", "timed out"),
                };
                println!("{}", table_row(&r));
                summary.runs.push(r.clone());
                v.push(r);
            }
            let mut r = v[0].clone();
            r.ops_per_sec = median(v.iter().map(|r| r.ops_per_sec).collect());
            r.latency.p50_ms = median(v.iter().map(|r| r.latency.p50_ms).collect());
            r.latency.p99_ms = median(v.iter().map(|r| r.latency.p99_ms).collect());
            r.errors = v.iter().map(|r| r.errors).sum();
            summary.etcd.push(r);
        }
    }

    // Many concurrent sessions.
    if o.hold_sessions > 0 {
        println!();
        println!(
            "{} concurrent sessions, held {} s:",
            o.hold_sessions, l.duration
        );
        let mut hl = l.clone();
        hl.sessions = o.hold_sessions;
        for (label, addr) in [
            ("zookeeper", s.zk_addr.clone()),
            ("zoe", s.zoe_addr.clone()),
        ] {
            let r = match tokio::time::timeout(
                timeout * 2,
                workloads::run(&addr, label, Workload::Hold, &hl),
            )
            .await
            {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => failed("hold", label, &format!("{e:#}")),
                Err(_) => failed("hold", label, "timed out"),
            };
            println!("{}", table_row(&r));
            summary.hold.push(r);
        }
    }

    // A big tree: load rate, memory, cold start.
    if o.tree_size > 0 {
        println!();
        println!(
            "tree of {} znodes × {} B ({} connection(s) × {} outstanding creates, 1000 children per parent):",
            o.tree_size, 100, o.load_connections, o.load_outstanding
        );
        let mut tr = TreeResult {
            znodes: o.tree_size,
            zk_idle_rss_mb: mb(idle.0),
            zoe_idle_rss_mb: mb(idle.1),
            etcd_idle_rss_mb: mb(idle.2),
            ..TreeResult::default()
        };
        let fan = 1000;
        let mut last = format!(
            "/zoe-tree/d{}/n{}",
            (o.tree_size - 1) / fan,
            (o.tree_size - 1) % fan
        );
        if !o.skip_zookeeper_tree {
            let (t, l, st) = load_tree(
                &s.zk_addr,
                o.tree_size,
                100,
                o.load_connections,
                o.load_outstanding,
            )
            .await?;
            last = l;
            tr.zk_load_s = t;
            tr.zk_load_errors = st.error_count();
            println!(
                "  ZooKeeper: loaded in {t:.1} s ({:.0} creates/s), errors {:?}",
                o.tree_size as f64 / t,
                st.errors
            );
        }
        if o.zoe_tree_via_etcd {
            let t0 = Instant::now();
            let w = load_tree_via_etcd(&s.etcd_url, "bench", o.tree_size, 100).await?;
            // The running zoe applies the keys from its etcd watch.
            let deadline = Instant::now() + Duration::from_secs(900);
            while !zk_ready(&s.zoe_addr, Some(&last)).await {
                if Instant::now() > deadline {
                    bail!("zoe did not show {last} within 900 s of the etcd load");
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            let t = t0.elapsed().as_secs_f64();
            tr.zoe_load_s = t;
            println!(
                "  zoe:       tree written into etcd directly in {w:.1} s; zoe served its last node after {t:.1} s"
            );
        } else {
            let (t, _, st) = load_tree(
                &s.zoe_addr,
                o.tree_size,
                100,
                o.load_connections,
                o.load_outstanding,
            )
            .await?;
            tr.zoe_load_s = t;
            tr.zoe_load_errors = st.error_count();
            println!(
                "  zoe:       loaded in {t:.1} s ({:.0} creates/s), errors {:?}",
                o.tree_size as f64 / t,
                st.errors
            );
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
        // Without its tree, ZooKeeper's RSS says nothing about one.
        if !o.skip_zookeeper_tree {
            tr.zk_rss_mb = mb(rss_bytes(s.zk.pid()));
        }
        tr.zoe_rss_mb = mb(rss_bytes(s.zoe.pid()));
        tr.etcd_rss_mb = mb(rss_bytes(s.etcd.pid()));
        println!(
            "  RSS with the tree: ZooKeeper JVM {:.0} MiB, zoe {:.0} MiB (etcd {:.0} MiB); idle before: ZooKeeper {:.0}, zoe {:.0}, etcd {:.0} MiB",
            tr.zk_rss_mb, tr.zoe_rss_mb, tr.etcd_rss_mb, tr.zk_idle_rss_mb, tr.zoe_idle_rss_mb, tr.etcd_idle_rss_mb
        );
        // Cold start: a new process until it answers exists(last node).
        // The probe node must exist on both servers beforehand.
        let zk_has_it = o.skip_zookeeper_tree || zk_ready(&s.zk_addr, Some(&last)).await;
        if !(zk_has_it && zk_ready(&s.zoe_addr, Some(&last)).await) {
            eprintln!("!!! {last} is missing on a server (load errors); probing /zoe-tree instead");
            last = "/zoe-tree".into();
        }
        let (mut times, mut rss) = (Vec::new(), Vec::new());
        for n in 1..=o.cold_starts.max(1) {
            s.zoe.stop(Duration::from_secs(10));
            let (p, t) = start_zoe(&s.zoe_cmd, &s.work, &s.zoe_addr, Some(&last), n).await?;
            s.zoe = p;
            let r = mb(rss_bytes(s.zoe.pid()));
            println!("  zoe cold start (process start → exists({last}) answered): {:.2} s, RSS then {r:.0} MiB", t.as_secs_f64());
            times.push(t.as_secs_f64());
            rss.push(r);
        }
        tr.zoe_cold_start_s = median(times);
        tr.zoe_cold_start_rss_mb = median(rss);
        if !o.skip_zookeeper_tree {
            let (mut times, mut rss) = (Vec::new(), Vec::new());
            for n in 1..=o.cold_starts.max(1) {
                s.zk.stop(Duration::from_secs(10));
                let (p, t) = start_zk(&s.zk_cmd, &s.work, &s.zk_addr, Some(&last), n).await?;
                s.zk = p;
                let r = mb(rss_bytes(s.zk.pid()));
                println!(
                    "  ZooKeeper cold start (same probe): {:.2} s, RSS then {r:.0} MiB",
                    t.as_secs_f64()
                );
                times.push(t.as_secs_f64());
                rss.push(r);
            }
            tr.zk_cold_start_s = median(times);
            tr.zk_cold_start_rss_mb = median(rss);
        }
        summary.tree = Some(tr);
    }

    print_summary(&summary, o);
    print_errors_banner(&summary.runs);
    let json = serde_json::to_string_pretty(&summary)?;
    fs::write(work.join("results.json"), &json)?;
    if let Some(p) = &o.json {
        let mut f = fs::File::create(p)?;
        f.write_all(json.as_bytes())?;
    }
    drop(s);
    Ok(())
}

fn failed(w: &str, target: &str, msg: &str) -> Report {
    eprintln!("!!! {w} against {target} FAILED: {msg}");
    let mut r = Report {
        workload: w.into(),
        target: target.into(),
        errors: 1,
        ..Report::default()
    };
    r.error_codes.insert("RUN FAILED".into(), 1);
    r.note = Some(msg.chars().take(200).collect());
    r
}

fn print_summary(s: &Summary, o: &CompareOpts) {
    println!();
    println!("==================================================================================================");
    println!("SUMMARY (medians of {} runs) — {}", o.reps, s.machine);
    println!("{NOTE}");
    println!();
    println!(
        "{:<15} | {:>9} {:>7} {:>7} | {:>9} {:>7} {:>7} | {:>7} {:>7} | errors zk/zoe",
        "workload",
        "ZK ops/s",
        "p50 ms",
        "p99 ms",
        "zoe ops/s",
        "p50 ms",
        "p99 ms",
        "thr x",
        "p99 x"
    );
    for r in &s.rows {
        println!(
            "{:<15} | {:>9.0} {:>7.2} {:>7.2} | {:>9.0} {:>7.2} {:>7.2} | {:>7.2} {:>7.2} | {}/{}{}",
            r.workload,
            r.zk_ops,
            r.zk_p50,
            r.zk_p99,
            r.zoe_ops,
            r.zoe_p50,
            r.zoe_p99,
            r.ratio_ops,
            r.ratio_p99,
            r.zk_errors,
            r.zoe_errors,
            if r.zk_errors + r.zoe_errors > 0 { "  !!! ERRORS" } else { "" }
        );
    }
    if !s.etcd.is_empty() {
        println!();
        for r in &s.etcd {
            println!(
                "{:<15} | raw etcd {:>9.0} ops/s  p50 {:.2} ms  p99 {:.2} ms  ({})",
                r.workload,
                r.ops_per_sec,
                r.latency.p50_ms,
                r.latency.p99_ms,
                r.note.as_deref().unwrap_or("")
            );
        }
    }
    for r in &s.hold {
        println!(
            "hold {:<10} | {}",
            r.target,
            r.note.as_deref().unwrap_or("")
        );
    }
    if let Some(t) = &s.tree {
        println!();
        println!(
            "tree {} znodes: load ZK {:.1} s / zoe {:.1} s; RSS ZK {:.0} MiB, zoe {:.0} MiB (+ etcd {:.0} MiB); cold start zoe {:.2} s (RSS {:.0} MiB), ZK {:.2} s (RSS {:.0} MiB)",
            t.znodes, t.zk_load_s, t.zoe_load_s, t.zk_rss_mb, t.zoe_rss_mb, t.etcd_rss_mb, t.zoe_cold_start_s, t.zoe_cold_start_rss_mb, t.zk_cold_start_s, t.zk_cold_start_rss_mb
        );
    }
    println!("==================================================================================================");
}
