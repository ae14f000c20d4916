//! Four-letter words on the client port (`ruok`, `srvr`, `mntr`, ...),
//! answered in ZooKeeper 3.9's text formats, subject to the allow-list
//! (4lw.commands.whitelist). The data behind them is gathered here too and
//! shared with the admin server's JSON commands.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::server::Server;
use crate::stats::ConnInfo;
use crate::watches::kind;

const WORDS: [&str; 18] = [
    "ruok", "srvr", "stat", "conf", "cons", "crst", "dump", "envi", "mntr", "wchs", "wchc", "wchp",
    "isro", "srst", "dirs", "gtmk", "stmk", "hash",
];

/// ZooKeeper's default trace mask; `gtmk`/`stmk` read and set it (zoe
/// has no request tracing, the value is only kept).
static TRACE_MASK: AtomicI64 = AtomicI64::new(306);

/// The ZooKeeper version zoe reports.
pub const ZK_VERSION: &str = "3.9.5";

/// The word the first four bytes spell, if it is one ZooKeeper knows.
pub fn recognize(first: &[u8; 4]) -> Option<&'static str> {
    WORDS.iter().copied().find(|w| w.as_bytes() == first)
}

/// Whether the allow-list lets `word` run.
pub fn allowed(server: &Server, word: &str) -> bool {
    server
        .config
        .four_letter_words
        .iter()
        .any(|w| w == "*" || w == word)
}

/// Answers a four-letter word on a fresh connection, then closes it.
pub async fn answer<R, W>(word: &str, rd: &mut R, mut wr: W, server: &Arc<Server>, peer: SocketAddr)
where
    R: AsyncRead + Unpin + ?Sized,
    W: AsyncWrite + Unpin,
{
    crate::metrics::global().packet_received();
    let text = if !allowed(server, word) {
        format!("{word} is not executed because it is not in the whitelist.\n")
    } else if word == "stmk" {
        let mut mask = [0u8; 8];
        match tokio::time::timeout(std::time::Duration::from_secs(5), rd.read_exact(&mut mask))
            .await
        {
            Ok(Ok(_)) => {
                let m = i64::from_be_bytes(mask);
                TRACE_MASK.store(m, Ordering::Relaxed);
                m.to_string()
            }
            _ => return,
        }
    } else {
        text(word, server, Some(peer))
    };
    let _ = wr.write_all(text.as_bytes()).await;
    let _ = wr.flush().await;
    let _ = wr.shutdown().await;
}

/// The text of an allowed word. `asker` is the connection asking, which
/// ZooKeeper lists among the clients and counts as a connection.
pub fn text(word: &str, server: &Arc<Server>, asker: Option<SocketAddr>) -> String {
    match word {
        "ruok" => "imok".into(),
        "isro" => "rw".into(),
        "srvr" => srvr(server, false, asker),
        "stat" => srvr(server, true, asker),
        "mntr" => mntr(server, asker),
        "conf" => conf(server),
        "cons" => cons(server, asker),
        "crst" => {
            reset_connections(server);
            "Connection stats reset.\n".into()
        }
        "srst" => {
            crate::metrics::global().server.reset();
            "Server stats reset.\n".into()
        }
        "envi" => envi(),
        "wchs" => wchs(server),
        "wchc" => wchc(server),
        "wchp" => wchp(server),
        "dirs" => "datadir_size: 0\nlogdir_size: 0\n".into(),
        "dump" => dump(server),
        "gtmk" => TRACE_MASK.load(Ordering::Relaxed).to_string(),
        "stmk" => TRACE_MASK.load(Ordering::Relaxed).to_string(),
        // zoe keeps no ZooKeeper tree digests.
        "hash" => String::new(),
        _ => format!("{word} is not executed because it is not in the whitelist.\n"),
    }
}

// ---------------------------------------------------------------- data

/// `3.9.5-zoe-<version>, built on MM/dd/yyyy HH:mm GMT` — the old date
/// format, which go-zookeeper's FLWSrvr parses.
pub fn version() -> String {
    let epoch: i64 = option_env!("ZOE_BUILD_EPOCH")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let (y, mo, d, h, mi, _, _) = civil(epoch);
    format!(
        "{ZK_VERSION}-zoe-{}, built on {mo:02}/{d:02}/{y:04} {h:02}:{mi:02} GMT",
        env!("CARGO_PKG_VERSION")
    )
}

/// (year, month, day, hour, minute, second, weekday 0=Sunday) of a Unix
/// time in UTC.
pub fn civil(secs: i64) -> (i64, u32, u32, u32, u32, u32, u32) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    let weekday = (days + 4).rem_euclid(7) as u32;
    (
        y,
        m,
        d,
        (rem / 3600) as u32,
        ((rem % 3600) / 60) as u32,
        (rem % 60) as u32,
        weekday,
    )
}

/// Java's `Date.toString()` in UTC: `Wed Nov 25 22:22:57 UTC 2026`.
pub fn java_date(ms: i64) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, mo, d, h, mi, s, wd) = civil(ms.div_euclid(1000));
    format!(
        "{} {} {d:02} {h:02}:{mi:02}:{s:02} UTC {y}",
        DAYS[wd as usize],
        MONTHS[(mo - 1) as usize]
    )
}

/// Java's `Double.toString` for the values shown here.
pub fn java_double(v: f64) -> String {
    let v = (v * 10_000.0).round() / 10_000.0;
    if v.fract() == 0.0 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

/// Counts behind srvr/mntr.
#[derive(Debug, Clone)]
pub struct ServerSummary {
    pub version: String,
    pub zxid: i64,
    /// As ZooKeeper counts: one more than the znodes there are.
    pub node_count: usize,
    pub data_size: u64,
    pub ephemerals: usize,
    pub global_sessions: usize,
    pub local_sessions_owned: usize,
    pub connections: usize,
    pub outstanding: i64,
    pub received: u64,
    pub sent: u64,
    pub latency: crate::stats::Latency,
    pub uptime_ms: u64,
    pub watches: WatchSummary,
}

pub fn summary(server: &Arc<Server>, asker: Option<SocketAddr>) -> ServerSummary {
    let conns = server.conns.stats();
    let outstanding = conns.iter().map(|(_, s)| s.outstanding().max(0)).sum();
    let watches = watch_summary(server);
    let (zxid, node_count, data_size, ephemerals, global_sessions) = {
        let st = server.replica.read();
        let eph = st
            .tree
            .ephemeral_owners()
            .into_iter()
            .map(|o| st.tree.ephemerals_of(o).len())
            .sum();
        (
            st.revision,
            // ZooKeeper's count includes its root twice (stored under ""
            // and "/"); report what it would.
            st.tree.node_count() + 1,
            st.tree.data_size(),
            eph,
            st.tree.sessions().len(),
        )
    };
    let m = crate::metrics::global();
    ServerSummary {
        version: version(),
        zxid,
        node_count,
        data_size,
        ephemerals,
        global_sessions,
        local_sessions_owned: server.sessions.count(),
        connections: server.conns.len() + usize::from(asker.is_some()),
        outstanding,
        received: m.server.received.load(Ordering::Relaxed),
        sent: m.server.sent.load(Ordering::Relaxed),
        latency: m.server.latency(),
        uptime_ms: server.started.elapsed().as_millis() as u64,
        watches,
    }
}

/// The connections of this instance, oldest first.
pub fn connections(server: &Arc<Server>) -> Vec<ConnInfo> {
    let mut v: Vec<(u64, ConnInfo)> = server
        .conns
        .stats()
        .into_iter()
        .map(|(id, s)| (id, s.info()))
        .collect();
    v.sort_by_key(|(id, _)| *id);
    v.into_iter().map(|(_, i)| i).collect()
}

fn reset_connections(server: &Arc<Server>) {
    for (_, s) in server.conns.stats() {
        s.reset();
    }
}

/// The watch tables seen per session, ZooKeeper style.
#[derive(Debug, Clone, Default)]
pub struct WatchSummary {
    /// Data watches (exists, getData, persistent): session → paths.
    pub by_session: BTreeMap<i64, BTreeSet<String>>,
    /// Data watches: path → sessions.
    pub by_path: BTreeMap<String, BTreeSet<i64>>,
    /// Data-watch registrations (what `wchs` calls total watches).
    pub data_watches: usize,
    /// Connections holding a data watch.
    pub data_connections: usize,
    /// All registrations, data and child tables (`zk_watch_count`).
    pub total: usize,
}

pub fn watch_summary(server: &Arc<Server>) -> WatchSummary {
    let conns = server.conns.stats();
    let mut out = WatchSummary::default();
    let st = server.replica.read();
    let table = st.watches.lock();
    for (id, stats) in conns {
        let session = stats.session_id();
        let mut has_data = false;
        for (path, flags) in table.of_conn(id) {
            let data = flags & (kind::DATA | kind::PERSISTENT | kind::RECURSIVE) != 0;
            out.total += usize::from(flags & kind::DATA != 0)
                + usize::from(flags & kind::CHILD != 0)
                + 2 * usize::from(flags & kind::PERSISTENT != 0)
                + 2 * usize::from(flags & kind::RECURSIVE != 0);
            if data {
                has_data = true;
                out.data_watches += 1;
                out.by_session
                    .entry(session)
                    .or_default()
                    .insert(path.clone());
                out.by_path.entry(path).or_default().insert(session);
            }
        }
        out.data_connections += usize::from(has_data);
    }
    out
}

/// (open, max) file descriptors of this process, when /proc tells.
pub fn fd_counts() -> (Option<u64>, Option<u64>) {
    let open = std::fs::read_dir("/proc/self/fd")
        .ok()
        .map(|d| d.count() as u64);
    let max = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|l| {
            l.lines()
                .find(|x| x.starts_with("Max open files"))
                .and_then(|x| x.split_whitespace().nth(3).map(str::to_string))
        })
        .and_then(|v| v.parse().ok());
    (open, max)
}

/// Resident set size of this process in bytes.
pub fn rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: u64 = s
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

fn port_of(addr: &str) -> String {
    addr.rsplit(':')
        .next()
        .filter(|p| p.parse::<u16>().is_ok())
        .unwrap_or("-1")
        .to_string()
}

/// The `conf` keys and values, in ZooKeeper's standalone order.
pub fn conf_pairs(server: &Arc<Server>) -> Vec<(&'static str, String)> {
    let c = &server.config;
    let store = format!("etcd:{}{}", c.etcd.join(","), c.prefix);
    vec![
        ("clientPort", port_of(&c.listen)),
        (
            "secureClientPort",
            c.secure_listen
                .as_deref()
                .map(port_of)
                .unwrap_or_else(|| "-1".into()),
        ),
        ("dataDir", store.clone()),
        ("dataDirSize", "0".into()),
        ("dataLogDir", store),
        ("dataLogSize", "0".into()),
        ("tickTime", c.session.tick_ms.to_string()),
        ("maxClientCnxns", c.max_client_cnxns.to_string()),
        ("minSessionTimeout", c.session.min_timeout_ms.to_string()),
        ("maxSessionTimeout", c.session.max_timeout_ms.to_string()),
        ("clientPortListenBacklog", "-1".into()),
        ("serverId", "0".into()),
    ]
}

/// The `envi` keys: ZooKeeper's, with this process's values (`<NA>` for
/// the Java ones).
pub fn env_pairs() -> Vec<(&'static str, String)> {
    let na = || "<NA>".to_string();
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem = |key: &str| {
        meminfo
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .map(|kb| format!("{}MB", kb / 1024))
            .unwrap_or_else(na)
    };
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        a => a,
    };
    let os = match std::env::consts::OS {
        "linux" => "Linux",
        o => o,
    };
    vec![
        ("zookeeper.version", version()),
        (
            "host.name",
            read("/proc/sys/kernel/hostname").unwrap_or_else(na),
        ),
        ("java.version", na()),
        ("java.vendor", na()),
        ("java.home", na()),
        ("java.class.path", na()),
        ("java.library.path", na()),
        ("java.io.tmpdir", std::env::temp_dir().display().to_string()),
        ("java.compiler", na()),
        ("os.name", os.to_string()),
        ("os.arch", arch.to_string()),
        (
            "os.version",
            read("/proc/sys/kernel/osrelease").unwrap_or_else(na),
        ),
        ("user.name", user_name().unwrap_or_else(na)),
        ("user.home", std::env::var("HOME").unwrap_or_else(|_| na())),
        (
            "user.dir",
            std::env::current_dir()
                .map(|d| d.display().to_string())
                .unwrap_or_else(|_| na()),
        ),
        ("os.memory.free", mem("MemAvailable:")),
        ("os.memory.max", mem("MemTotal:")),
        (
            "os.memory.total",
            rss_bytes()
                .map(|b| format!("{}MB", b / (1024 * 1024)))
                .unwrap_or_else(na),
        ),
    ]
}

/// The name of the user running zoe ($USER, else from /etc/passwd).
fn user_name() -> Option<String> {
    if let Ok(u) = std::env::var("USER") {
        return Some(u);
    }
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .to_string();
    std::fs::read_to_string("/etc/passwd")
        .ok()?
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() > 2 && f[2] == uid).then(|| f[0].to_string())
        })
}

/// `mntr` as (key without `zk_`, value) pairs.
pub fn mntr_pairs(server: &Arc<Server>, asker: Option<SocketAddr>) -> Vec<(&'static str, String)> {
    let s = summary(server, asker);
    let (open_fds, max_fds) = fd_counts();
    let m = crate::metrics::global();
    let mut v = vec![
        ("version", s.version.clone()),
        ("server_state", "standalone".into()),
        ("ephemerals_count", s.ephemerals.to_string()),
        ("num_alive_connections", s.connections.to_string()),
        ("avg_latency", java_double(s.latency.avg())),
        ("outstanding_requests", s.outstanding.to_string()),
        ("znode_count", s.node_count.to_string()),
        ("global_sessions", s.global_sessions.to_string()),
        ("non_mtls_remote_conn_count", "0".into()),
        ("packets_sent", s.sent.to_string()),
        ("packets_received", s.received.to_string()),
        ("connection_drop_probability", "0.0".into()),
        ("watch_count", s.watches.total.to_string()),
        ("auth_failed_count", "0".into()),
        ("min_latency", s.latency.min().to_string()),
    ];
    if let Some(max) = max_fds {
        v.push(("max_file_descriptor_count", max.to_string()));
    }
    v.push(("approximate_data_size", s.data_size.to_string()));
    if let Some(open) = open_fds {
        v.push(("open_file_descriptor_count", open.to_string()));
    }
    v.extend([
        ("local_sessions", "0".into()),
        ("uptime", s.uptime_ms.to_string()),
        ("max_latency", s.latency.max.to_string()),
        ("outstanding_tls_handshake", "0".into()),
        ("non_mtls_local_conn_count", "0".into()),
        ("connection_rejected", m.connections_rejected().to_string()),
    ]);
    v
}

// ---------------------------------------------------------------- text

fn srvr(server: &Arc<Server>, with_clients: bool, asker: Option<SocketAddr>) -> String {
    let s = summary(server, asker);
    let mut out = format!("Zookeeper version: {}\n", s.version);
    if with_clients {
        out.push_str("Clients:\n");
        for c in connections(server) {
            out.push_str(&c.cons_line(false, 1));
            out.push('\n');
        }
        if let Some(a) = asker {
            out.push_str(&format!(" /{a}[0](queued=0,recved=1,sent=0)\n"));
        }
        out.push('\n');
    }
    out.push_str(&format!(
        "Latency min/avg/max: {}/{}/{}\n\
         Received: {}\n\
         Sent: {}\n\
         Connections: {}\n\
         Outstanding: {}\n\
         Zxid: 0x{:x}\n\
         Mode: standalone\n\
         Node count: {}\n",
        s.latency.min(),
        java_double(s.latency.avg()),
        s.latency.max,
        s.received,
        s.sent,
        s.connections,
        s.outstanding,
        s.zxid,
        s.node_count
    ));
    out
}

fn mntr(server: &Arc<Server>, asker: Option<SocketAddr>) -> String {
    mntr_pairs(server, asker)
        .into_iter()
        .map(|(k, v)| format!("zk_{k}\t{v}\n"))
        .collect()
}

fn conf(server: &Arc<Server>) -> String {
    conf_pairs(server)
        .into_iter()
        .map(|(k, v)| format!("{k}={v}\n"))
        .collect()
}

fn cons(server: &Arc<Server>, asker: Option<SocketAddr>) -> String {
    let mut out = String::new();
    for c in connections(server) {
        out.push_str(&c.cons_line(true, 1));
        out.push('\n');
    }
    if let Some(a) = asker {
        out.push_str(&format!(" /{a}[0](queued=0,recved=1,sent=0)\n"));
    }
    out.push('\n');
    out
}

fn envi() -> String {
    let mut out = String::from("Environment:\n");
    for (k, v) in env_pairs() {
        out.push_str(&format!("{k}={v}\n"));
    }
    out
}

fn wchs(server: &Arc<Server>) -> String {
    let w = watch_summary(server);
    format!(
        "{} connections watching {} paths\nTotal watches:{}\n",
        w.data_connections,
        w.by_path.len(),
        w.data_watches
    )
}

fn wchc(server: &Arc<Server>) -> String {
    let w = watch_summary(server);
    let mut out = String::new();
    for (sid, paths) in &w.by_session {
        out.push_str(&format!("0x{sid:x}\n"));
        for p in paths {
            out.push_str(&format!("\t{p}\n"));
        }
    }
    out.push('\n');
    out
}

fn wchp(server: &Arc<Server>) -> String {
    let w = watch_summary(server);
    let mut out = String::new();
    for (path, sids) in &w.by_path {
        out.push_str(&format!("{path}\n"));
        for sid in sids {
            out.push_str(&format!("\t0x{sid:x}\n"));
        }
    }
    out.push('\n');
    out
}

/// Sessions this instance is responsible for expiring, grouped by the
/// time they would expire if their clients fell silent now.
pub fn session_expiry(server: &Arc<Server>) -> BTreeMap<i64, Vec<i64>> {
    let now = crate::session::now_ms();
    let mut out: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    let st = server.replica.read();
    for (id, s) in st.tree.sessions() {
        if s.rec.owner == server.instance {
            let tick = server.config.session.tick_ms.max(1) as i64;
            let at = (now + s.rec.timeout_ms as i64) / tick * tick + tick;
            out.entry(at).or_default().push(*id);
        }
    }
    for ids in out.values_mut() {
        ids.sort_unstable();
    }
    out
}

/// Ephemeral paths per owning session, every session of the tree.
pub fn ephemerals(server: &Arc<Server>) -> BTreeMap<i64, Vec<String>> {
    let st = server.replica.read();
    st.tree
        .ephemeral_owners()
        .into_iter()
        .map(|o| (o, st.tree.ephemerals_of(o)))
        .filter(|(_, v)| !v.is_empty())
        .collect()
}

fn dump(server: &Arc<Server>) -> String {
    let expiry = session_expiry(server);
    let n: usize = expiry.values().map(Vec::len).sum();
    let mut out = format!(
        "SessionTracker dump:\nSession Sets ({})/({}):\n",
        expiry.len(),
        n
    );
    for (at, ids) in &expiry {
        out.push_str(&format!("{} expire at {}:\n", ids.len(), java_date(*at)));
        for id in ids {
            out.push_str(&format!("\t0x{id:x}\n"));
        }
    }
    let eph = ephemerals(server);
    out.push_str(&format!(
        "ephemeral nodes dump:\nSessions with Ephemerals ({}):\n",
        eph.len()
    ));
    for (sid, paths) in &eph {
        out.push_str(&format!("0x{sid:x}:\n"));
        for p in paths {
            out.push_str(&format!("\t{p}\n"));
        }
    }
    let conns = connections(server);
    out.push_str("Connections dump:\n");
    out.push_str(&format!(
        "Connections Sets ({})/({}):\n",
        usize::from(!conns.is_empty()),
        conns.len()
    ));
    if !conns.is_empty() {
        let at = crate::session::now_ms() + server.config.session.max_timeout_ms as i64;
        out.push_str(&format!("{} expire at {}:\n", conns.len(), java_date(at)));
        for c in &conns {
            out.push_str(&format!(
                "\tip: /{} sessionId: 0x{:x}\n",
                c.peer, c.session_id
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        // 2026-11-25 22:22:57 UTC, a Wednesday.
        assert_eq!(java_date(1_795_645_377_000), "Wed Nov 25 22:22:57 UTC 2026");
        assert_eq!(civil(0), (1970, 1, 1, 0, 0, 0, 4));
        let (y, m, d, ..) = civil(951_782_400);
        assert_eq!((y, m, d), (2000, 2, 29));
        let v = version();
        assert!(v.starts_with("3.9.5-zoe-"), "{v}");
        let date = v.split(", built on ").nth(1).unwrap();
        let b = date.as_bytes();
        assert_eq!(date.len(), "01/02/2006 15:04 GMT".len(), "{date}");
        assert!(b[2] == b'/' && b[5] == b'/' && b[10] == b' ' && b[13] == b':');
    }

    #[test]
    fn doubles_like_java() {
        assert_eq!(java_double(0.0), "0.0");
        assert_eq!(java_double(4.5), "4.5");
        assert_eq!(java_double(2.0), "2.0");
        assert_eq!(java_double(1.0 / 14.0), "0.0714");
    }

    #[test]
    fn words() {
        assert_eq!(recognize(b"ruok"), Some("ruok"));
        assert_eq!(recognize(b"xxxx"), None);
        assert_eq!(port_of("127.0.0.1:2181"), "2181");
        assert_eq!(port_of("[::1]:2181"), "2181");
    }
}
