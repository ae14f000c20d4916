//! Integration-test harness: real etcd, real zoe, real Apache ZooKeeper (the
//! oracle) and real, independently written clients (Java, kazoo, the C
//! `cli_mt`, `zkCli.sh`).
//!
//! Every server is started on free loopback ports with its own temporary
//! directory and is killed (and its directory removed) when its guard is
//! dropped, whatever the test outcome. When a test panics, the guards print
//! the tail of each server's log before killing it.
//!
//! Which server a client scenario talks to is chosen by `ZOE_TEST_TARGET`:
//! `zoe` (the default: a zoe instance on its own etcd) or `zookeeper` (a real
//! ZooKeeper 3.9.5, to check that a scenario asserts the reference
//! behaviour).
//!
//! External artifacts are found through environment variables that
//! `scripts/test.sh` sets, with fallbacks under `.cache/` in the repository:
//!
//! | variable                | default                                   |
//! |-------------------------|-------------------------------------------|
//! | `ZOE_TEST_ZK_LIB`       | `.cache/java/zk-3.9.5/lib` (jar directory) |
//! | `ZOE_TEST_JAVA_CLASSES` | `.cache/java/classes` (compiled scenarios) |
//! | `ZOE_TEST_VENV`         | `.cache/venv` (kazoo + pytest)             |
//! | `ZOE_TEST_JAVA`         | `java` on `PATH`                           |
//! | `ZOE_TEST_ETCD`         | `etcd` on `PATH`                           |
//! | `ZOE_TEST_CLI_MT`       | `/usr/lib/zookeeper/bin/cli_mt`            |
//! | `ZOE_TEST_ZKCLI`        | `/usr/share/zookeeper/bin/zkCli.sh`        |
//! | `ZOE_TEST_TMPDIR`       | `/dev/shm` when writable, else the OS temp |
//! | `ZOE_TEST_KEEP_TMP`     | set to keep temp dirs of failed tests      |
//!
//! A missing artifact is a test failure that says to run
//! `scripts/setup-deps.sh`; nothing is skipped silently.

#![allow(dead_code)]

use std::collections::HashSet;
use std::env;
use std::ffi::OsString;
use std::fs::{self, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tempfile::TempDir;

/// ZooKeeper version of the oracle and of the Java client.
pub const ZK_VERSION: &str = "3.9.5";

const SETUP_HINT: &str = "run scripts/setup-deps.sh (or scripts/test.sh) first";

// ---------------------------------------------------------------- artifacts

/// The repository root (the `zoe` package's manifest directory).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn env_path(var: &str) -> Option<PathBuf> {
    env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

fn require(path: PathBuf, what: &str, var: &str) -> PathBuf {
    if !path.exists() {
        panic!(
            "{what} not found at {} (set {var} or {SETUP_HINT})",
            path.display()
        );
    }
    path
}

/// Look `name` up on `PATH`.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH")?;
    env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

fn tool(var: &str, name: &str, fallbacks: &[&str], what: &str) -> PathBuf {
    if let Some(p) = env_path(var) {
        return require(p, what, var);
    }
    if let Some(p) = which(name) {
        return p;
    }
    for f in fallbacks {
        if Path::new(f).exists() {
            return PathBuf::from(f);
        }
    }
    panic!("{what} (`{name}`) not found on PATH (set {var} or {SETUP_HINT})");
}

/// Directory holding the ZooKeeper 3.9.5 jars and their dependencies.
pub fn zk_lib_dir() -> PathBuf {
    let dir =
        env_path("ZOE_TEST_ZK_LIB").unwrap_or_else(|| repo_root().join(".cache/java/zk-3.9.5/lib"));
    let jar = dir.join(format!("zookeeper-{ZK_VERSION}.jar"));
    require(jar, "the ZooKeeper 3.9.5 jar", "ZOE_TEST_ZK_LIB");
    dir
}

/// Directory holding the compiled Java scenarios (`zoetest/Scenarios.class`).
pub fn java_classes_dir() -> PathBuf {
    let dir = env_path("ZOE_TEST_JAVA_CLASSES")
        .unwrap_or_else(|| repo_root().join(".cache/java/classes"));
    require(
        dir.join("zoetest/Scenarios.class"),
        "the compiled Java scenarios",
        "ZOE_TEST_JAVA_CLASSES",
    );
    dir
}

/// The Python virtualenv with kazoo and pytest.
pub fn venv_dir() -> PathBuf {
    let dir = env_path("ZOE_TEST_VENV").unwrap_or_else(|| repo_root().join(".cache/venv"));
    require(
        dir.join("bin/python"),
        "the kazoo virtualenv",
        "ZOE_TEST_VENV",
    );
    dir
}

pub fn java_bin() -> PathBuf {
    tool("ZOE_TEST_JAVA", "java", &["/usr/bin/java"], "java")
}

pub fn etcd_bin() -> PathBuf {
    tool("ZOE_TEST_ETCD", "etcd", &["/usr/bin/etcd"], "etcd")
}

pub fn cli_mt_bin() -> PathBuf {
    let p = env_path("ZOE_TEST_CLI_MT").unwrap_or_else(|| "/usr/lib/zookeeper/bin/cli_mt".into());
    require(p, "the ZooKeeper C client cli_mt", "ZOE_TEST_CLI_MT")
}

pub fn zkcli_bin() -> PathBuf {
    let p =
        env_path("ZOE_TEST_ZKCLI").unwrap_or_else(|| "/usr/share/zookeeper/bin/zkCli.sh".into());
    require(p, "zkCli.sh", "ZOE_TEST_ZKCLI")
}

/// The zoe binary built by cargo for this test run.
pub fn zoe_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_zoe"))
}

/// Java classpath: compiled scenarios (optional) plus every jar of the lib dir.
fn java_classpath(with_scenarios: bool) -> OsString {
    let mut cp = OsString::new();
    if with_scenarios {
        cp.push(java_classes_dir());
        cp.push(":");
    }
    cp.push(zk_lib_dir().join("*"));
    cp
}

/// JVM flags that make short-lived JVMs start fast on a small machine.
const JVM_FLAGS: &[&str] = &[
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-Xss512k",
    "-Djava.net.preferIPv4Stack=true",
];

// ---------------------------------------------------------------- temp dirs, ports

fn tmp_base() -> PathBuf {
    if let Some(p) = env_path("ZOE_TEST_TMPDIR") {
        fs::create_dir_all(&p).expect("create ZOE_TEST_TMPDIR");
        return p;
    }
    // tmpfs makes etcd's and ZooKeeper's fsyncs free.
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(probe) = tempfile::Builder::new()
            .prefix("zoe-probe-")
            .tempdir_in(shm)
        {
            drop(probe);
            return shm.to_path_buf();
        }
    }
    env::temp_dir()
}

/// A fresh temporary directory; removed on drop unless `ZOE_TEST_KEEP_TMP` is
/// set and the thread is panicking.
pub struct TestDir {
    dir: Option<TempDir>,
}

impl TestDir {
    pub fn new(tag: &str) -> TestDir {
        let dir = tempfile::Builder::new()
            .prefix(&format!("zoe-test-{tag}-"))
            .tempdir_in(tmp_base())
            .expect("create temp dir");
        TestDir { dir: Some(dir) }
    }

    pub fn path(&self) -> &Path {
        self.dir.as_ref().expect("temp dir").path()
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            if thread::panicking() && env::var_os("ZOE_TEST_KEEP_TMP").is_some() {
                let kept = dir.keep();
                eprintln!("[harness] kept temp dir {}", kept.display());
            }
        }
    }
}

/// A loopback TCP port that was free a moment ago and that this test process
/// has not handed out before.
pub fn free_port() -> u16 {
    static HANDED_OUT: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    let used = HANDED_OUT.get_or_init(|| Mutex::new(HashSet::new()));
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local addr").port();
        if used.lock().unwrap().insert(port) {
            return port;
        }
    }
}

/// A prefix for zoe's etcd keys that no other test of this run uses.
pub fn unique_prefix(tag: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    let tag: String = tag
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("/zoe-test/{tag}-{}-{n}-{nanos:x}", std::process::id())
}

/// Poll `f` every 50 ms until it returns `Some`, or panic with `what` after
/// `timeout`.
pub fn wait_for<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------- processes

/// Last `n` lines of a text file (lossy UTF-8), for failure reports.
pub fn file_tail(path: &Path, n: usize) -> String {
    let bytes = fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(n);
    lines[start..].join("\n")
}

/// `kill -SIG PID` (SIGSTOP/SIGCONT to pause a client or server).
pub fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill -{sig} {pid} failed");
}

fn signal_group(pid: u32, signal: &str) {
    // Children run in their own process group (pgid = pid); signal all of it,
    // so that wrapper scripts take their JVMs with them.
    let _ = Command::new("kill")
        .args(["-s", signal, "--", &format!("-{pid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// A spawned server process whose stdout and stderr go to a log file. Killed
/// (with its whole process group) on drop; prints the log tail first when
/// the thread is panicking.
pub struct ServerProcess {
    name: String,
    child: Option<Child>,
    log: PathBuf,
}

impl ServerProcess {
    pub fn spawn(name: &str, cmd: &mut Command, log: PathBuf) -> io::Result<ServerProcess> {
        let out = OpenOptions::new().create(true).append(true).open(&log)?;
        let err = out.try_clone()?;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .process_group(0);
        let child = cmd.spawn()?;
        Ok(ServerProcess {
            name: name.to_string(),
            child: Some(child),
            log,
        })
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    pub fn log_tail(&self, n: usize) -> String {
        file_tail(&self.log, n)
    }

    /// `None` while running, `Some(status)` once it has exited (or was never
    /// running).
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        match self.child.as_mut() {
            None => Some(ExitStatus::default()),
            Some(c) => c.try_wait().ok().flatten(),
        }
    }

    pub fn is_running(&mut self) -> bool {
        self.exit_status().is_none()
    }

    /// SIGKILL the process group and reap the process.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal_group(child.id(), "KILL");
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, wait up to `grace`, then SIGKILL. Returns the exit status if
    /// the process stopped by itself.
    pub fn terminate(&mut self, grace: Duration) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        signal_group(child.id(), "TERM");
        let deadline = Instant::now() + grace;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                signal_group(child.id(), "KILL");
                return Some(status);
            }
            if Instant::now() >= deadline {
                signal_group(child.id(), "KILL");
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn report_if_panicking(&self) {
        if thread::panicking() {
            eprintln!(
                "----- last lines of {} log ({}) -----\n{}\n----- end of {} log -----",
                self.name,
                self.log.display(),
                self.log_tail(60),
                self.name
            );
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.report_if_panicking();
        self.kill();
    }
}

// ---------------------------------------------------------------- wire probes

fn connect_timeout(addr: &str, timeout: Duration) -> io::Result<TcpStream> {
    let sa: SocketAddr = addr
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address"))?;
    let s = TcpStream::connect_timeout(&sa, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    Ok(s)
}

/// Send a four-letter word and return the server's whole answer.
pub fn four_letter_word(addr: &str, word: &str) -> io::Result<String> {
    let mut s = connect_timeout(addr, Duration::from_secs(2))?;
    s.write_all(word.as_bytes())?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Outcome of a raw ZooKeeper handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handshake {
    pub timeout_ms: i32,
    pub session_id: i64,
}

fn read_frame(s: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len)?;
    let len = i32::from_be_bytes(len);
    if !(0..=1 << 20).contains(&len) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("bad frame length {len}"),
        ));
    }
    let mut body = vec![0u8; len as usize];
    s.read_exact(&mut body)?;
    Ok(body)
}

/// Open a new session with a raw ConnectRequest (the 45-byte form every
/// client sends), then close it again with closeSession. Succeeds only when
/// the server answered with a live session (timeout > 0, id != 0).
pub fn zk_handshake(addr: &str, timeout: Duration) -> io::Result<Handshake> {
    let mut s = connect_timeout(addr, timeout)?;
    let mut req = Vec::with_capacity(49);
    req.extend_from_slice(&45i32.to_be_bytes());
    req.extend_from_slice(&0i32.to_be_bytes()); // protocolVersion
    req.extend_from_slice(&0i64.to_be_bytes()); // lastZxidSeen
    req.extend_from_slice(&4000i32.to_be_bytes()); // timeOut
    req.extend_from_slice(&0i64.to_be_bytes()); // sessionId
    req.extend_from_slice(&16i32.to_be_bytes()); // passwd length
    req.extend_from_slice(&[0u8; 16]);
    req.push(0); // readOnly
    s.write_all(&req)?;
    let body = read_frame(&mut s)?;
    if body.len() < 16 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("short ConnectResponse ({} bytes)", body.len()),
        ));
    }
    let timeout_ms = i32::from_be_bytes(body[4..8].try_into().unwrap());
    let session_id = i64::from_be_bytes(body[8..16].try_into().unwrap());
    let hs = Handshake {
        timeout_ms,
        session_id,
    };
    if timeout_ms <= 0 || session_id == 0 {
        return Err(io::Error::other(format!("handshake refused: {hs:?}")));
    }
    // closeSession: RequestHeader{xid=1, type=-11}, then wait for the reply.
    let mut close = Vec::with_capacity(12);
    close.extend_from_slice(&8i32.to_be_bytes());
    close.extend_from_slice(&1i32.to_be_bytes());
    close.extend_from_slice(&(-11i32).to_be_bytes());
    if s.write_all(&close).is_ok() {
        let _ = read_frame(&mut s);
    }
    let _ = s.shutdown(Shutdown::Both);
    Ok(hs)
}

// ---------------------------------------------------------------- etcd

/// A single-member etcd on free loopback ports with a temp data dir.
pub struct EtcdServer {
    // Field order matters: the process dies before its directory goes.
    process: ServerProcess,
    client_port: u16,
    peer_port: u16,
    dir: TestDir,
}

impl EtcdServer {
    pub fn start() -> EtcdServer {
        Self::start_with_max_txn_ops(1024)
    }

    /// An etcd that takes at most `max_txn_ops` compares (and as many
    /// operations) per transaction; etcd's own default is 128.
    pub fn start_with_max_txn_ops(max_txn_ops: usize) -> EtcdServer {
        let mut last_log = String::new();
        for _attempt in 0..3 {
            match Self::try_start(max_txn_ops) {
                Ok(e) => return e,
                Err(log) => last_log = log,
            }
        }
        panic!("etcd did not start after 3 attempts; last log:\n{last_log}");
    }

    fn try_start(max_txn_ops: usize) -> Result<EtcdServer, String> {
        let dir = TestDir::new("etcd");
        let client_port = free_port();
        let peer_port = free_port();
        let client_url = format!("http://127.0.0.1:{client_port}");
        let peer_url = format!("http://127.0.0.1:{peer_port}");
        let mut cmd = Command::new(etcd_bin());
        cmd.arg("--name")
            .arg("zoe-test")
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .arg("--listen-client-urls")
            .arg(&client_url)
            .arg("--advertise-client-urls")
            .arg(&client_url)
            .arg("--listen-peer-urls")
            .arg(&peer_url)
            .arg("--initial-advertise-peer-urls")
            .arg(&peer_url)
            .arg("--initial-cluster")
            .arg(format!("zoe-test={peer_url}"))
            .arg("--initial-cluster-state")
            .arg("new")
            .arg("--max-txn-ops")
            .arg(max_txn_ops.to_string())
            .arg("--logger")
            .arg("zap")
            .arg("--log-outputs")
            .arg("stderr")
            .arg("--log-level")
            .arg("warn");
        let log = dir.path().join("etcd.log");
        let process = ServerProcess::spawn("etcd", &mut cmd, log)
            .map_err(|e| format!("spawn {}: {e}", etcd_bin().display()))?;
        let mut etcd = EtcdServer {
            process,
            client_port,
            peer_port,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = etcd.process.exit_status() {
                let log = etcd.process.log_tail(40);
                etcd.process.kill();
                return Err(format!("etcd exited early ({status}):\n{log}"));
            }
            if etcd.healthy() {
                return Ok(etcd);
            }
            if Instant::now() >= deadline {
                let log = etcd.process.log_tail(40);
                etcd.process.kill();
                return Err(format!("etcd not healthy within 30 s:\n{log}"));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    fn healthy(&self) -> bool {
        let Ok(mut s) = connect_timeout(
            &format!("127.0.0.1:{}", self.client_port),
            Duration::from_secs(1),
        ) else {
            return false;
        };
        let req = format!(
            "GET /health HTTP/1.0\r\nHost: 127.0.0.1:{}\r\n\r\n",
            self.client_port
        );
        if s.write_all(req.as_bytes()).is_err() {
            return false;
        }
        let mut resp = String::new();
        let _ = s.read_to_string(&mut resp);
        resp.starts_with("HTTP/1.") && resp.contains("\"health\":\"true\"")
    }

    /// `http://127.0.0.1:PORT`
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    pub fn client_port(&self) -> u16 {
        self.client_port
    }

    pub fn log_path(&self) -> &Path {
        self.process.log_path()
    }

    /// The etcd process id (to pause it with SIGSTOP in fault tests).
    pub fn pid(&self) -> Option<u32> {
        self.process.pid()
    }

    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// Run `etcdctl` against this server (for tests that inspect the layout).
    pub fn etcdctl(&self, args: &[&str]) -> ClientOutput {
        let etcdctl = which("etcdctl").unwrap_or_else(|| PathBuf::from("/usr/bin/etcdctl"));
        let mut cmd = Command::new(etcdctl);
        cmd.env("ETCDCTL_API", "3")
            .arg("--endpoints")
            .arg(self.endpoint())
            .args(args);
        run_command(&mut cmd, None, Duration::from_secs(30))
    }
}

/// `etcdctl` (v3 API) against `endpoints` (comma separated).
pub fn etcdctl_at(endpoints: &str, args: &[&str]) -> ClientOutput {
    let etcdctl = which("etcdctl").unwrap_or_else(|| PathBuf::from("/usr/bin/etcdctl"));
    let mut cmd = Command::new(etcdctl);
    cmd.env("ETCDCTL_API", "3")
        .arg("--endpoints")
        .arg(endpoints)
        .arg("--command-timeout")
        .arg("5s")
        .args(args);
    run_command(&mut cmd, None, Duration::from_secs(30))
}

/// GET /health of an etcd client URL: true when the member answers and
/// has a leader.
fn etcd_healthy(client_port: u16) -> bool {
    let Ok(mut s) = connect_timeout(&format!("127.0.0.1:{client_port}"), Duration::from_secs(1))
    else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let req = format!("GET /health HTTP/1.0\r\nHost: 127.0.0.1:{client_port}\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    resp.starts_with("HTTP/1.") && resp.contains("\"health\":\"true\"")
}

/// One member of an `EtcdCluster`. Its data directory outlives its process,
/// so a stopped member restarts with its state, as after a crash.
pub struct EtcdMember {
    pub name: String,
    process: Option<ServerProcess>,
    client_port: u16,
    peer_port: u16,
    dir: TestDir,
}

impl EtcdMember {
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    pub fn is_running(&mut self) -> bool {
        self.process.as_mut().is_some_and(|p| p.is_running())
    }

    pub fn log_tail(&self, n: usize) -> String {
        file_tail(&self.dir.path().join("etcd.log"), n)
    }
}

/// A multi-member etcd cluster on loopback, for tests that lose members and
/// quorum. Members can be killed (SIGKILL) and started again on their data.
pub struct EtcdCluster {
    pub members: Vec<EtcdMember>,
    initial_cluster: String,
}

impl EtcdCluster {
    /// Starts `n` members and waits until every one reports a leader.
    pub fn start(n: usize) -> EtcdCluster {
        assert!(n >= 1);
        let mut members: Vec<EtcdMember> = (0..n)
            .map(|i| EtcdMember {
                name: format!("m{i}"),
                process: None,
                client_port: free_port(),
                peer_port: free_port(),
                dir: TestDir::new(&format!("etcd-m{i}")),
            })
            .collect();
        let initial_cluster = members
            .iter()
            .map(|m| format!("{}=http://127.0.0.1:{}", m.name, m.peer_port))
            .collect::<Vec<_>>()
            .join(",");
        for m in members.iter_mut() {
            spawn_member(&initial_cluster, m);
        }
        let mut cluster = EtcdCluster {
            members,
            initial_cluster,
        };
        for i in 0..n {
            cluster.wait_healthy(i, Duration::from_secs(60));
        }
        cluster
    }
}

/// Starts a member's process (its ports, name and data directory stay).
fn spawn_member(initial_cluster: &str, m: &mut EtcdMember) {
    let client_url = format!("http://127.0.0.1:{}", m.client_port);
    let peer_url = format!("http://127.0.0.1:{}", m.peer_port);
    let mut cmd = Command::new(etcd_bin());
    cmd.arg("--name")
        .arg(&m.name)
        .arg("--data-dir")
        .arg(m.dir.path().join("data"))
        .arg("--listen-client-urls")
        .arg(&client_url)
        .arg("--advertise-client-urls")
        .arg(&client_url)
        .arg("--listen-peer-urls")
        .arg(&peer_url)
        .arg("--initial-advertise-peer-urls")
        .arg(&peer_url)
        .arg("--initial-cluster")
        .arg(initial_cluster)
        .arg("--initial-cluster-state")
        .arg("new")
        .arg("--initial-cluster-token")
        .arg("zoe-test")
        // A loaded test machine must not look like a dead leader.
        .arg("--heartbeat-interval")
        .arg("200")
        .arg("--election-timeout")
        .arg("2000")
        .arg("--max-txn-ops")
        .arg("1024")
        .arg("--logger")
        .arg("zap")
        .arg("--log-outputs")
        .arg("stderr")
        .arg("--log-level")
        .arg("warn");
    let log = m.dir.path().join("etcd.log");
    m.process = Some(
        ServerProcess::spawn(&format!("etcd {}", m.name), &mut cmd, log)
            .unwrap_or_else(|e| panic!("spawn {}: {e}", etcd_bin().display())),
    );
}

impl EtcdCluster {
    /// Client URLs of every member, comma separated (zoe's `--etcd`).
    pub fn endpoints(&self) -> String {
        self.members
            .iter()
            .map(|m| m.endpoint())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Waits until member `i` answers /health with a leader.
    pub fn wait_healthy(&mut self, i: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let m = &mut self.members[i];
            if !m.is_running() {
                panic!("etcd {} is not running; log:\n{}", m.name, m.log_tail(40));
            }
            if etcd_healthy(m.client_port) {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "etcd {} not healthy within {timeout:?}; log:\n{}",
                    m.name,
                    m.log_tail(40)
                );
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGKILL member `i`; its data stays.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut p) = self.members[i].process.take() {
            p.kill();
        }
    }

    /// Starts member `i` again on its data directory (does not wait).
    pub fn restart(&mut self, i: usize) {
        self.kill(i);
        spawn_member(&self.initial_cluster, &mut self.members[i]);
    }

    /// The index of the member every running member agrees is the leader.
    pub fn leader(&mut self) -> usize {
        wait_for(Duration::from_secs(30), "an etcd leader", || {
            let running: Vec<String> = self
                .members
                .iter_mut()
                .filter_map(|m| m.is_running().then(|| m.endpoint()))
                .collect();
            let out = etcdctl_at(&running.join(","), &["endpoint", "status", "-w", "json"]);
            if !out.success() {
                return None;
            }
            // [{"Endpoint":"http://..","Status":{"header":{"member_id":N,..},"leader":M,..}},..]
            let ids = json_numbers(&out.stdout, "\"member_id\":");
            let leaders = json_numbers(&out.stdout, "\"leader\":");
            let endpoints: Vec<&str> = out
                .stdout
                .split("\"Endpoint\":\"")
                .skip(1)
                .filter_map(|s| s.split('"').next())
                .collect();
            if ids.len() != running.len() || leaders.len() != running.len() {
                return None;
            }
            let leader = leaders[0];
            if leader == 0 || leaders.iter().any(|l| *l != leader) {
                return None;
            }
            let pos = ids.iter().position(|id| *id == leader)?;
            let ep = endpoints.get(pos)?;
            self.members.iter().position(|m| m.endpoint() == *ep)
        })
    }
}

/// Every unsigned number that follows `key` in a JSON text.
fn json_numbers(text: &str, key: &str) -> Vec<u64> {
    text.split(key)
        .skip(1)
        .filter_map(|s| {
            s.trim_start()
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|d| d.parse().ok())
        })
        .collect()
}

// ---------------------------------------------------------------- zoe

/// A zoe server process (`zoe serve`).
pub struct Zoe {
    process: ServerProcess,
    port: u16,
    etcd_endpoint: String,
    prefix: String,
    extra_args: Vec<String>,
    dir: TestDir,
}

impl Zoe {
    /// One zoe on `etcd` with a prefix unique to this test.
    pub fn start(etcd: &EtcdServer) -> Zoe {
        Zoe::start_with(&etcd.endpoint(), &unique_prefix("zoe"), &[])
    }

    /// `zoe serve --listen 127.0.0.1:PORT --etcd ENDPOINT --prefix PREFIX EXTRA...`
    pub fn start_with(etcd_endpoint: &str, prefix: &str, extra_args: &[&str]) -> Zoe {
        let extra: Vec<String> = extra_args.iter().map(|s| s.to_string()).collect();
        let mut last = String::new();
        for _attempt in 0..3 {
            let dir = TestDir::new("zoe");
            let port = free_port();
            let process = Self::spawn(&dir, port, etcd_endpoint, prefix, &extra);
            let mut zoe = Zoe {
                process,
                port,
                etcd_endpoint: etcd_endpoint.to_string(),
                prefix: prefix.to_string(),
                extra_args: extra.clone(),
                dir,
            };
            match zoe.wait_ready(Duration::from_secs(30)) {
                Ok(()) => return zoe,
                Err(e) => {
                    // Another process may have grabbed the port: try a new one.
                    let retry = e.contains("in use");
                    last = e;
                    if !retry {
                        break;
                    }
                }
            }
        }
        panic!("zoe did not become ready: {last}");
    }

    fn spawn(
        dir: &TestDir,
        port: u16,
        etcd: &str,
        prefix: &str,
        extra: &[String],
    ) -> ServerProcess {
        let mut cmd = Command::new(zoe_bin());
        cmd.arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--etcd")
            .arg(etcd)
            .arg("--prefix")
            .arg(prefix)
            .args(extra)
            .env("RUST_BACKTRACE", "1");
        if env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "info");
        }
        let log = dir.path().join("zoe.log");
        ServerProcess::spawn("zoe", &mut cmd, log)
            .unwrap_or_else(|e| panic!("spawn {}: {e}", zoe_bin().display()))
    }

    /// Ready when `ruok` answers `imok`, or when a ZooKeeper handshake opens
    /// a session.
    fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let addr = self.addr();
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.process.exit_status() {
                return Err(format!(
                    "zoe exited early ({status}); log:\n{}",
                    self.process.log_tail(60)
                ));
            }
            if let Ok(answer) = four_letter_word(&addr, "ruok") {
                if answer == "imok" {
                    return Ok(());
                }
            }
            if zk_handshake(&addr, Duration::from_secs(2)).is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "zoe at {addr} not ready within {timeout:?}; log:\n{}",
                    self.process.log_tail(60)
                ));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// The zoe process id (to pause it with SIGSTOP in fault tests).
    pub fn pid(&self) -> Option<u32> {
        self.process.pid()
    }

    /// `127.0.0.1:PORT`
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn log_path(&self) -> &Path {
        self.process.log_path()
    }

    pub fn log_tail(&self, n: usize) -> String {
        self.process.log_tail(n)
    }

    pub fn is_running(&mut self) -> bool {
        self.process.is_running()
    }

    /// SIGKILL (no chance to clean up).
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// SIGTERM, then SIGKILL after 10 s. Returns the exit status if zoe stopped
    /// by itself.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        self.process.terminate(Duration::from_secs(10))
    }

    /// Start again on the same port, etcd and prefix (after `kill`/`stop`).
    pub fn restart(&mut self) {
        self.process.kill();
        self.process = Self::spawn(
            &self.dir,
            self.port,
            &self.etcd_endpoint,
            &self.prefix,
            &self.extra_args,
        );
        if let Err(e) = self.wait_ready(Duration::from_secs(30)) {
            panic!("zoe did not become ready after restart: {e}");
        }
    }
}

/// Run `zoe check --etcd ENDPOINTS --prefix PREFIX EXTRA...` to completion.
pub fn zoe_check(etcd_endpoints: &str, prefix: &str, extra: &[&str]) -> ClientOutput {
    let mut cmd = Command::new(zoe_bin());
    cmd.arg("check")
        .arg("--etcd")
        .arg(etcd_endpoints)
        .arg("--prefix")
        .arg(prefix)
        .args(extra);
    run_command(&mut cmd, None, Duration::from_secs(120))
}

// ---------------------------------------------------------------- ZooKeeper

fn zk_command(cfg: &Path, jvm_props: &[&str]) -> Command {
    let mut cmd = Command::new(java_bin());
    cmd.args(JVM_FLAGS)
        .arg("-Xmx256m")
        .arg("-Dzookeeper.admin.enableServer=false")
        .arg("-Dzookeeper.4lw.commands.whitelist=*")
        .arg("-Dzookeeper.preAllocSize=4096")
        .args(jvm_props.iter().map(|p| format!("-D{p}")))
        .arg("-cp")
        .arg(java_classpath(false))
        .arg("org.apache.zookeeper.server.ZooKeeperServerMain")
        .arg(cfg);
    cmd
}

fn zk_command_quorum(cfg: &Path) -> Command {
    let mut cmd = Command::new(java_bin());
    cmd.args(JVM_FLAGS)
        .arg("-Xmx256m")
        .arg("-Dzookeeper.admin.enableServer=false")
        .arg("-Dzookeeper.4lw.commands.whitelist=*")
        .arg("-Dzookeeper.preAllocSize=4096")
        .arg("-cp")
        .arg(java_classpath(false))
        .arg("org.apache.zookeeper.server.quorum.QuorumPeerMain")
        .arg(cfg);
    cmd
}

fn wait_zk_serving(
    process: &mut ServerProcess,
    addr: &str,
    timeout: Duration,
) -> Result<(), String> {
    // `ruok` answers `imok` even when the server failed to start its
    // database, so readiness is a real handshake.
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = process.exit_status() {
            return Err(format!(
                "ZooKeeper exited early ({status}); log:\n{}",
                process.log_tail(60)
            ));
        }
        if zk_handshake(addr, Duration::from_secs(2)).is_ok() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "ZooKeeper at {addr} not serving within {timeout:?}; log:\n{}",
                process.log_tail(60)
            ));
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// A real Apache ZooKeeper 3.9.5 standalone server (the oracle).
pub struct ZooKeeperServer {
    process: ServerProcess,
    port: u16,
    jvm_props: Vec<String>,
    dir: TestDir,
}

impl ZooKeeperServer {
    pub fn start() -> ZooKeeperServer {
        ZooKeeperServer::start_with_config(&[])
    }

    /// Standalone server; `extra_config` lines are appended to zoo.cfg.
    pub fn start_with_config(extra_config: &[&str]) -> ZooKeeperServer {
        ZooKeeperServer::start_with(extra_config, &[])
    }

    /// Standalone server; `extra_config` lines are appended to zoo.cfg and
    /// each `jvm_props` entry (`name=value`) becomes a `-Dname=value` JVM
    /// system property, for settings ZooKeeper reads only from there (such
    /// as `znode.container.checkIntervalMs`, `zookeeper.extendedTypesEnabled`
    /// or `zookeeper.DigestAuthenticationProvider.superDigest`).
    pub fn start_with(extra_config: &[&str], jvm_props: &[&str]) -> ZooKeeperServer {
        let mut last = String::new();
        for _attempt in 0..3 {
            let dir = TestDir::new("zk");
            let port = free_port();
            let data = dir.path().join("data");
            fs::create_dir_all(&data).expect("create ZooKeeper dataDir");
            let mut cfg = format!(
                "tickTime=2000\n\
                 initLimit=10\n\
                 syncLimit=5\n\
                 dataDir={}\n\
                 clientPort={port}\n\
                 clientPortAddress=127.0.0.1\n\
                 maxClientCnxns=0\n\
                 4lw.commands.whitelist=*\n\
                 admin.enableServer=false\n",
                data.display()
            );
            for line in extra_config {
                cfg.push_str(line);
                cfg.push('\n');
            }
            let cfg_path = dir.path().join("zoo.cfg");
            fs::write(&cfg_path, cfg).expect("write zoo.cfg");
            let process = ServerProcess::spawn(
                "zookeeper",
                &mut zk_command(&cfg_path, jvm_props),
                dir.path().join("zookeeper.log"),
            )
            .unwrap_or_else(|e| panic!("spawn java: {e}"));
            let jvm_props = jvm_props.iter().map(|p| p.to_string()).collect();
            let mut zk = ZooKeeperServer {
                process,
                port,
                jvm_props,
                dir,
            };
            let addr = zk.addr();
            match wait_zk_serving(&mut zk.process, &addr, Duration::from_secs(60)) {
                Ok(()) => return zk,
                Err(e) => {
                    zk.process.kill();
                    last = e;
                }
            }
        }
        panic!("ZooKeeper {ZK_VERSION} did not start: {last}");
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn log_path(&self) -> &Path {
        self.process.log_path()
    }

    pub fn kill(&mut self) {
        self.process.kill();
    }

    pub fn stop(&mut self) -> Option<ExitStatus> {
        self.process.terminate(Duration::from_secs(10))
    }

    /// kill -9, then start again on the same port and data directory (its
    /// sessions survive in the snapshot and transaction log).
    pub fn kill_and_restart(&mut self) {
        self.process.kill();
        let props: Vec<&str> = self.jvm_props.iter().map(String::as_str).collect();
        let cfg = self.dir.path().join("zoo.cfg");
        self.process = ServerProcess::spawn(
            "zookeeper",
            &mut zk_command(&cfg, &props),
            self.dir.path().join("zookeeper-restarted.log"),
        )
        .unwrap_or_else(|e| panic!("spawn java: {e}"));
        let addr = self.addr();
        if let Err(e) = wait_zk_serving(&mut self.process, &addr, Duration::from_secs(60)) {
            panic!("ZooKeeper did not come back after a restart: {e}");
        }
    }
}

/// One member of a real ZooKeeper ensemble.
pub struct ZooKeeperMember {
    pub id: u32,
    process: ServerProcess,
    client_port: u16,
    dir: TestDir,
}

impl ZooKeeperMember {
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.client_port)
    }

    /// `Mode:` from `srvr` (`leader`, `follower`, `standalone`, ...).
    pub fn mode(&self) -> Option<String> {
        let srvr = four_letter_word(&self.addr(), "srvr").ok()?;
        srvr.lines()
            .find_map(|l| l.strip_prefix("Mode: "))
            .map(|m| m.trim().to_string())
    }

    pub fn is_running(&mut self) -> bool {
        self.process.is_running()
    }

    pub fn kill(&mut self) {
        self.process.kill();
    }
}

/// A real ZooKeeper 3.9.5 ensemble on loopback.
pub struct ZooKeeperEnsemble {
    pub members: Vec<ZooKeeperMember>,
}

impl ZooKeeperEnsemble {
    pub fn start(n: usize) -> ZooKeeperEnsemble {
        assert!(n >= 3, "an ensemble needs at least 3 members");
        let ports: Vec<(u16, u16, u16)> = (0..n)
            .map(|_| (free_port(), free_port(), free_port()))
            .collect();
        let servers: String = ports
            .iter()
            .enumerate()
            .map(|(i, (_, quorum, election))| {
                format!("server.{}=127.0.0.1:{quorum}:{election}\n", i + 1)
            })
            .collect();
        let mut members = Vec::new();
        for (i, (client_port, _, _)) in ports.iter().enumerate() {
            let id = (i + 1) as u32;
            let dir = TestDir::new(&format!("zk{id}"));
            let data = dir.path().join("data");
            fs::create_dir_all(&data).expect("create dataDir");
            fs::write(data.join("myid"), format!("{id}\n")).expect("write myid");
            let cfg = format!(
                "tickTime=2000\n\
                 initLimit=10\n\
                 syncLimit=5\n\
                 dataDir={}\n\
                 clientPort={client_port}\n\
                 clientPortAddress=127.0.0.1\n\
                 maxClientCnxns=0\n\
                 4lw.commands.whitelist=*\n\
                 admin.enableServer=false\n\
                 cnxTimeout=1000\n\
                 {servers}",
                data.display()
            );
            let cfg_path = dir.path().join("zoo.cfg");
            fs::write(&cfg_path, cfg).expect("write zoo.cfg");
            let process = ServerProcess::spawn(
                &format!("zookeeper-{id}"),
                &mut zk_command_quorum(&cfg_path),
                dir.path().join("zookeeper.log"),
            )
            .unwrap_or_else(|e| panic!("spawn java: {e}"));
            members.push(ZooKeeperMember {
                id,
                process,
                client_port: *client_port,
                dir,
            });
        }
        let mut ensemble = ZooKeeperEnsemble { members };
        for m in ensemble.members.iter_mut() {
            let addr = m.addr();
            if let Err(e) = wait_zk_serving(&mut m.process, &addr, Duration::from_secs(90)) {
                panic!("ZooKeeper ensemble member {} not serving: {e}", m.id);
            }
        }
        ensemble
    }

    pub fn addrs(&self) -> Vec<String> {
        self.members.iter().map(|m| m.addr()).collect()
    }

    /// Client addresses of the members that are followers right now.
    pub fn follower_addrs(&self) -> Vec<String> {
        self.members
            .iter()
            .filter(|m| m.mode().as_deref() == Some("follower"))
            .map(|m| m.addr())
            .collect()
    }

    pub fn kill(&mut self, addr: &str) {
        let m = self
            .members
            .iter_mut()
            .find(|m| m.addr() == addr)
            .unwrap_or_else(|| panic!("no ensemble member at {addr}"));
        m.kill();
    }
}

// ---------------------------------------------------------------- targets

/// Which server implementation client scenarios run against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    Zoe,
    ZooKeeper,
}

impl TargetKind {
    /// `ZOE_TEST_TARGET`: unset/`zoe` → zoe; `zookeeper`/`zk` → ZooKeeper 3.9.5.
    pub fn from_env() -> TargetKind {
        match env::var("ZOE_TEST_TARGET").as_deref() {
            Err(_) | Ok("") | Ok("zoe") => TargetKind::Zoe,
            Ok("zookeeper") | Ok("zk") => TargetKind::ZooKeeper,
            Ok(other) => panic!("ZOE_TEST_TARGET={other:?}: expected `zoe` or `zookeeper`"),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            TargetKind::Zoe => "zoe",
            TargetKind::ZooKeeper => "zookeeper-3.9.5",
        }
    }
}

/// One fresh server for a client scenario: zoe on its own etcd, or a real
/// ZooKeeper.
pub enum Target {
    // Field order: zoe is killed before its etcd.
    Zoe { zoe: Zoe, etcd: EtcdServer },
    ZooKeeper(ZooKeeperServer),
}

impl Target {
    pub fn from_env() -> Target {
        Target::start(TargetKind::from_env())
    }

    pub fn start(kind: TargetKind) -> Target {
        Target::start_with(kind, &[], &[])
    }

    /// Like `from_env`, for a scenario that needs a server feature switched
    /// on: `zoe_args` are extra `zoe serve` flags, `zk_jvm_props` are
    /// `name=value` system properties for the ZooKeeper JVM. Both should
    /// describe the same setting.
    pub fn from_env_with(zoe_args: &[&str], zk_jvm_props: &[&str]) -> Target {
        Target::start_with(TargetKind::from_env(), zoe_args, zk_jvm_props)
    }

    /// The target with zoe flags, or zoo.cfg lines for ZooKeeper.
    pub fn from_env_with_config(zoe_args: &[&str], zk_config: &[&str]) -> Target {
        let target = match TargetKind::from_env() {
            TargetKind::Zoe => return Target::start_with(TargetKind::Zoe, zoe_args, &[]),
            TargetKind::ZooKeeper => {
                Target::ZooKeeper(ZooKeeperServer::start_with_config(zk_config))
            }
        };
        eprintln!("[harness] target: {} at {}", target.name(), target.addr());
        target
    }

    pub fn start_with(kind: TargetKind, zoe_args: &[&str], zk_jvm_props: &[&str]) -> Target {
        let target = match kind {
            TargetKind::Zoe => {
                let etcd = EtcdServer::start();
                let zoe = Zoe::start_with(&etcd.endpoint(), &unique_prefix("zoe"), zoe_args);
                Target::Zoe { zoe, etcd }
            }
            TargetKind::ZooKeeper => {
                Target::ZooKeeper(ZooKeeperServer::start_with(&[], zk_jvm_props))
            }
        };
        eprintln!("[harness] target: {} at {}", target.name(), target.addr());
        target
    }

    pub fn kind(&self) -> TargetKind {
        match self {
            Target::Zoe { .. } => TargetKind::Zoe,
            Target::ZooKeeper(_) => TargetKind::ZooKeeper,
        }
    }

    pub fn name(&self) -> &'static str {
        self.kind().name()
    }

    pub fn is_zookeeper(&self) -> bool {
        self.kind() == TargetKind::ZooKeeper
    }

    /// `127.0.0.1:PORT` of the server.
    pub fn addr(&self) -> String {
        match self {
            Target::Zoe { zoe, .. } => zoe.addr(),
            Target::ZooKeeper(zk) => zk.addr(),
        }
    }

    /// Client connect string (a single server here).
    pub fn connect_string(&self) -> String {
        self.addr()
    }

    pub fn zoe(&mut self) -> Option<&mut Zoe> {
        match self {
            Target::Zoe { zoe, .. } => Some(zoe),
            Target::ZooKeeper(_) => None,
        }
    }

    pub fn etcd(&self) -> Option<&EtcdServer> {
        match self {
            Target::Zoe { etcd, .. } => Some(etcd),
            Target::ZooKeeper(_) => None,
        }
    }
}

/// Two client-facing servers sharing one state, for session-move scenarios:
/// two zoe instances on one etcd with the same prefix, or (for the oracle) a
/// 3-member ZooKeeper ensemble whose two followers are the client-facing
/// servers (so killing one never costs a leader election).
pub enum Cluster {
    Zoe { zoes: Vec<Zoe>, etcd: EtcdServer },
    ZooKeeper(ZooKeeperEnsemble),
}

impl Cluster {
    pub fn from_env() -> Cluster {
        Cluster::start(TargetKind::from_env())
    }

    pub fn start(kind: TargetKind) -> Cluster {
        eprintln!("[harness] cluster of: {}", kind.name());
        match kind {
            TargetKind::Zoe => {
                let etcd = EtcdServer::start();
                let prefix = unique_prefix("cluster");
                let zoes = (0..2)
                    .map(|_| Zoe::start_with(&etcd.endpoint(), &prefix, &[]))
                    .collect();
                Cluster::Zoe { zoes, etcd }
            }
            TargetKind::ZooKeeper => Cluster::ZooKeeper(ZooKeeperEnsemble::start(3)),
        }
    }

    pub fn kind(&self) -> TargetKind {
        match self {
            Cluster::Zoe { .. } => TargetKind::Zoe,
            Cluster::ZooKeeper(_) => TargetKind::ZooKeeper,
        }
    }

    /// The two client-facing server addresses.
    pub fn addrs(&self) -> Vec<String> {
        match self {
            Cluster::Zoe { zoes, .. } => zoes.iter().map(|z| z.addr()).collect(),
            Cluster::ZooKeeper(ens) => {
                let followers =
                    wait_for(Duration::from_secs(30), "two ZooKeeper followers", || {
                        let f = ens.follower_addrs();
                        (f.len() >= 2).then_some(f)
                    });
                followers.into_iter().take(2).collect()
            }
        }
    }

    pub fn connect_string(&self) -> String {
        self.addrs().join(",")
    }

    /// SIGKILL the server listening on `addr`.
    pub fn kill_server(&mut self, addr: &str) {
        match self {
            Cluster::Zoe { zoes, .. } => zoes
                .iter_mut()
                .find(|z| z.addr() == addr)
                .unwrap_or_else(|| panic!("no zoe at {addr}"))
                .kill(),
            Cluster::ZooKeeper(ens) => ens.kill(addr),
        }
    }
}

// ---------------------------------------------------------------- client processes

/// Output of a finished client process.
pub struct ClientOutput {
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
    pub timed_out: bool,
}

impl ClientOutput {
    pub fn success(&self) -> bool {
        !self.timed_out && self.status.map(|s| s.success()).unwrap_or(false)
    }

    pub fn code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }

    /// A readable dump for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "status: {}{}\n----- stdout -----\n{}\n----- stderr -----\n{}\n------------------",
            self.status
                .map(|s| s.to_string())
                .unwrap_or_else(|| "none".into()),
            if self.timed_out { " (timed out)" } else { "" },
            self.stdout,
            self.stderr
        )
    }
}

fn spawn_reader<R: Read + Send + 'static>(r: R) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let mut r = r;
        let _ = r.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// Run a command to completion (own process group, killed with its group
/// after `timeout`), feeding `stdin` if given.
pub fn run_command(cmd: &mut Command, stdin: Option<&str>, timeout: Duration) -> ClientOutput {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .process_group(0);
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {:?}: {e}", cmd.get_program()));
    let out = spawn_reader(child.stdout.take().unwrap());
    let err = spawn_reader(child.stderr.take().unwrap());
    if let Some(input) = stdin {
        let mut sin = child.stdin.take().unwrap();
        let input = input.to_string();
        thread::spawn(move || {
            let _ = sin.write_all(input.as_bytes());
        });
    }
    let deadline = Instant::now() + timeout;
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if Instant::now() >= deadline => {
                timed_out = true;
                signal_group(child.id(), "KILL");
                let _ = child.kill();
                break child.wait().ok();
            }
            Ok(None) => thread::sleep(Duration::from_millis(20)),
            Err(_) => break None,
        }
    };
    // The group may still hold the pipes open (a JVM behind a wrapper script).
    signal_group(child.id(), "KILL");
    ClientOutput {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
        timed_out,
    }
}

fn java_scenario_command(connect: &str, scenario: &str) -> Command {
    java_main_command("zoetest.Scenarios", connect, scenario)
}

fn java_main_command(main_class: &str, connect: &str, scenario: &str) -> Command {
    let mut cmd = Command::new(java_bin());
    cmd.args(JVM_FLAGS)
        .arg("-Xmx128m")
        .arg("-Dorg.slf4j.simpleLogger.defaultLogLevel=warn")
        .arg("-Dzookeeper.sasl.client=false")
        .arg("-cp")
        .arg(java_classpath(true))
        .arg(main_class)
        .arg(scenario)
        .arg(connect);
    cmd
}

/// Run one scenario of `tests/java/src/zoetest/Scenarios.java` with the
/// ZooKeeper 3.9.5 Java client against `connect` (a connect string such as
/// `127.0.0.1:2181` or `a:1,b:2`). Panics unless it printed `PASS <scenario>`
/// and exited 0.
pub fn java_scenario(connect: &str, scenario: &str) -> ClientOutput {
    java_main_scenario("zoetest.Scenarios", connect, scenario)
}

/// Like `java_scenario`, for another main class of tests/java/src that
/// follows the same convention (`<class> <scenario> <connect>`, prints
/// `PASS <scenario>` and exits 0), such as `zoetest.Surface`.
pub fn java_main_scenario(main_class: &str, connect: &str, scenario: &str) -> ClientOutput {
    let out = run_command(
        &mut java_main_command(main_class, connect, scenario),
        None,
        Duration::from_secs(150),
    );
    assert!(
        out.success() && out.stdout.contains(&format!("PASS {scenario}")),
        "Java scenario `{main_class} {scenario}` against {connect} failed\n{}",
        out.describe()
    );
    out
}

/// A client process driven line by line over stdin/stdout.
pub struct Interactive {
    name: String,
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

impl Interactive {
    pub fn spawn(name: &str, cmd: &mut Command) -> Interactive {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name} ({:?}): {e}", cmd.get_program()));
        let stdin = child.stdin.take();
        let (tx, rx) = mpsc::channel();
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        {
            let out = BufReader::new(child.stdout.take().unwrap());
            let transcript = stdout.clone();
            thread::spawn(move || {
                for line in out.split(b'\n') {
                    let Ok(line) = line else { break };
                    let line = String::from_utf8_lossy(&line)
                        .trim_end_matches('\r')
                        .to_string();
                    {
                        let mut t = transcript.lock().unwrap();
                        t.push_str(&line);
                        t.push('\n');
                    }
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        {
            let mut err = child.stderr.take().unwrap();
            let transcript = stderr.clone();
            thread::spawn(move || {
                let mut buf = [0u8; 4096];
                loop {
                    match err.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => transcript
                            .lock()
                            .unwrap()
                            .push_str(&String::from_utf8_lossy(&buf[..n])),
                    }
                }
            });
        }
        Interactive {
            name: name.to_string(),
            child: Some(child),
            stdin,
            lines: rx,
            stdout,
            stderr,
        }
    }

    /// Everything read from stdout and stderr so far.
    pub fn transcript(&self) -> String {
        format!(
            "----- {} stdout -----\n{}\n----- {} stderr -----\n{}\n-----",
            self.name,
            self.stdout.lock().unwrap(),
            self.name,
            self.stderr.lock().unwrap()
        )
    }

    /// Wait for a stdout line starting with `prefix`; returns that line.
    pub fn expect_line(&mut self, prefix: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.starts_with(prefix) => return line,
                Ok(_) => continue,
                Err(RecvTimeoutError::Timeout) => panic!(
                    "{}: no line starting with {prefix:?} within {timeout:?}\n{}",
                    self.name,
                    self.transcript()
                ),
                Err(RecvTimeoutError::Disconnected) => {
                    // give the stderr reader a moment to finish
                    thread::sleep(Duration::from_millis(200));
                    panic!(
                        "{}: exited before printing a line starting with {prefix:?}\n{}",
                        self.name,
                        self.transcript()
                    )
                }
            }
        }
    }

    pub fn send_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin already closed");
        if let Err(e) = writeln!(stdin, "{line}").and_then(|_| stdin.flush()) {
            panic!(
                "{}: cannot write {line:?} to stdin: {e}\n{}",
                self.name,
                self.transcript()
            );
        }
    }

    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Wait for exit (killing it after `timeout`); returns its output.
    pub fn wait(&mut self, timeout: Duration) -> ClientOutput {
        let mut child = self.child.take().expect("already waited");
        let deadline = Instant::now() + timeout;
        let mut timed_out = false;
        let status = loop {
            match child.try_wait() {
                Ok(Some(s)) => break Some(s),
                Ok(None) if Instant::now() >= deadline => {
                    timed_out = true;
                    signal_group(child.id(), "KILL");
                    let _ = child.kill();
                    break child.wait().ok();
                }
                Ok(None) => thread::sleep(Duration::from_millis(20)),
                Err(_) => break None,
            }
        };
        signal_group(child.id(), "KILL");
        // let the reader threads drain the pipes
        thread::sleep(Duration::from_millis(100));
        ClientOutput {
            status,
            stdout: self.stdout.lock().unwrap().clone(),
            stderr: self.stderr.lock().unwrap().clone(),
            timed_out,
        }
    }
}

impl Drop for Interactive {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if thread::panicking() {
                eprintln!("{}", self.transcript());
            }
            signal_group(child.id(), "KILL");
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Start a Java scenario that talks to the test over stdin/stdout (e.g.
/// `failover`).
pub fn java_scenario_interactive(connect: &str, scenario: &str) -> Interactive {
    java_main_interactive("zoetest.Scenarios", connect, scenario)
}

/// `java_scenario_interactive` for another main class.
pub fn java_main_interactive(main_class: &str, connect: &str, scenario: &str) -> Interactive {
    Interactive::spawn(
        &format!("java scenario {main_class} {scenario}"),
        &mut java_main_command(main_class, connect, scenario),
    )
}

/// Run `tests/python/<test_file>` with pytest from the kazoo virtualenv;
/// the connect string is passed in `ZOE_TEST_CONNECT`. Panics unless pytest
/// passed (exit status 0, which also means at least one test ran).
pub fn kazoo(connect: &str, test_file: &str) -> ClientOutput {
    kazoo_with_env(connect, test_file, &[])
}

/// `kazoo`, with extra environment variables for the pytest file.
pub fn kazoo_with_env(connect: &str, test_file: &str, env: &[(&str, String)]) -> ClientOutput {
    let python = venv_dir().join("bin/python");
    let file = repo_root().join("tests/python").join(test_file);
    assert!(file.exists(), "no such pytest file: {}", file.display());
    let mut cmd = Command::new(python);
    cmd.current_dir(repo_root().join("tests/python"))
        .env("ZOE_TEST_CONNECT", connect)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONUNBUFFERED", "1")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA"])
        .arg(&file);
    let out = run_command(&mut cmd, None, Duration::from_secs(240));
    assert!(
        out.success(),
        "kazoo tests {test_file} against {connect} failed\n{}",
        out.describe()
    );
    out
}

/// Run `zkCli.sh -server ADDR ARGS...` to completion.
pub fn zkcli(addr: &str, args: &[&str]) -> ClientOutput {
    let mut cmd = Command::new(zkcli_bin());
    cmd.arg("-server").arg(addr).args(args);
    // keep the JVM small and quick
    cmd.env("CLIENT_JVMFLAGS", JVM_FLAGS.join(" "));
    run_command(&mut cmd, None, Duration::from_secs(60))
}

/// How many client sessions a zoe instance is serving, by `cons` (which
/// also lists the asking connection, without a session). Needs the `cons`
/// four-letter word enabled.
pub fn sessions_served(addr: &str) -> usize {
    four_letter_word(addr, "cons")
        .map(|out| out.lines().filter(|l| l.contains("sid=")).count())
        .unwrap_or(0)
}

/// `zkCli.sh -server CONNECT` as an interactive session: commands on its
/// stdin, stdout and stderr merged.
pub fn zkcli_interactive(connect: &str) -> Interactive {
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg("exec \"$0\" -server \"$1\" 2>&1")
        .arg(zkcli_bin())
        .arg(connect)
        .env("CLIENT_JVMFLAGS", JVM_FLAGS.join(" "));
    Interactive::spawn("zkCli.sh", &mut cmd)
}

/// An interactive session of the ZooKeeper C client's `cli_mt` shell.
/// cli_mt runs every command asynchronously and prints results from its
/// completion threads (to stderr, merged here into one stream).
pub struct CliMt {
    inner: Interactive,
    all: Vec<String>,
}

impl CliMt {
    /// Start `cli_mt ADDR` and wait until its session is connected.
    pub fn connect(addr: &str) -> CliMt {
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c")
            .arg("exec \"$0\" \"$1\" 2>&1")
            .arg(cli_mt_bin())
            .arg(addr);
        let mut cli = CliMt {
            inner: Interactive::spawn("cli_mt", &mut cmd),
            all: Vec::new(),
        };
        // printed by cli_mt's watcher once the session is established
        cli.wait_for("Got a new session id", Duration::from_secs(20));
        cli
    }

    /// Lines printed since the last call, waiting until the output has been
    /// quiet for `quiet` (at most `max`).
    fn collect(&mut self, quiet: Duration, max: Duration, until: Option<&str>) -> Vec<String> {
        let mut got = Vec::new();
        let deadline = Instant::now() + max;
        let mut seen_needle = until.is_none();
        loop {
            let now = Instant::now();
            if now >= deadline {
                if !seen_needle {
                    panic!(
                        "cli_mt: no output containing {:?} within {max:?}; got {got:#?}\n{}",
                        until.unwrap(),
                        self.inner.transcript()
                    );
                }
                break;
            }
            let wait = if seen_needle {
                quiet.min(deadline - now)
            } else {
                deadline - now
            };
            match self.inner.lines.recv_timeout(wait) {
                Ok(line) => {
                    let is_needle = until.is_some_and(|n| line.contains(n));
                    if !line.contains("ZOO_INFO") && !line.contains("ZOO_DEBUG") {
                        got.push(line.clone());
                    }
                    self.all.push(line);
                    if is_needle {
                        seen_needle = true;
                        if quiet.is_zero() {
                            break;
                        }
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    if seen_needle {
                        break;
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    if !seen_needle {
                        panic!(
                            "cli_mt exited while waiting for {:?}\n{}",
                            until.unwrap_or(""),
                            self.inner.transcript()
                        );
                    }
                    break;
                }
            }
        }
        got
    }

    /// Wait until a line containing `needle` appears; returns the lines read.
    pub fn wait_for(&mut self, needle: &str, timeout: Duration) -> Vec<String> {
        self.collect(Duration::from_millis(0), timeout, Some(needle))
    }

    /// Send one command; return its output (everything printed until the
    /// output has been quiet for 400 ms). Use `run_until` when the expected
    /// output is known: it is faster and does not depend on timing.
    pub fn run(&mut self, command: &str) -> String {
        self.inner.send_line(command);
        self.collect(Duration::from_millis(400), Duration::from_secs(10), None)
            .join("\n")
    }

    /// Send one command and wait until a line containing `needle` appears,
    /// then for 100 ms of quiet; returns the output.
    pub fn run_until(&mut self, command: &str, needle: &str) -> String {
        self.inner.send_line(command);
        self.collect(
            Duration::from_millis(100),
            Duration::from_secs(10),
            Some(needle),
        )
        .join("\n")
    }

    /// Everything cli_mt printed so far.
    pub fn transcript(&self) -> String {
        self.all.join("\n")
    }

    /// The cli_mt process id (to stop it with SIGSTOP).
    pub fn pid(&self) -> Option<u32> {
        self.inner.child.as_ref().map(|c| c.id())
    }

    /// `quit`, then wait for exit.
    pub fn quit(mut self) -> ClientOutput {
        self.inner.send_line("quit");
        self.inner.close_stdin();
        self.inner.wait(Duration::from_secs(15))
    }
}

/// Feed `script` (one cli_mt command per line) to a fresh cli_mt session,
/// one command at a time, and return everything it printed.
pub fn cli_mt(addr: &str, script: &str) -> String {
    let mut cli = CliMt::connect(addr);
    let mut out = String::new();
    for line in script.lines().map(str::trim).filter(|l| !l.is_empty()) {
        out.push_str(&format!(">>> {line}\n"));
        out.push_str(&cli.run(line));
        out.push('\n');
    }
    let _ = cli.quit();
    out
}

// ---------------------------------------------------------------- ensemble faults

impl ZooKeeperMember {
    /// The member's process id (to pause it with SIGSTOP in fault tests).
    pub fn pid(&self) -> Option<u32> {
        self.process.pid()
    }

    /// Starts the member again on its data directory and ports (after
    /// `kill`) and waits until it serves.
    pub fn restart(&mut self) {
        self.process.kill();
        let cfg = self.dir.path().join("zoo.cfg");
        self.process = ServerProcess::spawn(
            &format!("zookeeper-{}", self.id),
            &mut zk_command_quorum(&cfg),
            self.dir.path().join("zookeeper.log"),
        )
        .unwrap_or_else(|e| panic!("spawn java: {e}"));
        let addr = self.addr();
        if let Err(e) = wait_zk_serving(&mut self.process, &addr, Duration::from_secs(90)) {
            panic!(
                "ZooKeeper member {} not serving after restart: {e}",
                self.id
            );
        }
    }
}
