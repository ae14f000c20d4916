//! The workloads. Each prepares its own tree under a unique base path,
//! runs for warmup + duration, and removes the tree.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use bytes::Bytes;
use clap::ValueEnum;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use jute::{
    CreateMode, ExistsRequest, GetChildrenRequest, GetDataRequest, MultiOp, MultiRequest, Request,
    SetDataRequest,
};

use crate::report::Report;
use crate::zk::{self, create_req, delete_req, drive, Conn, Phase, Stats, SESSION_TIMEOUT_MS};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[value(rename_all = "kebab-case")]
pub enum Workload {
    /// Persistent creates of new nodes.
    Create,
    /// Ephemeral sequential creates under one parent.
    CreateEphSeq,
    /// setData on random nodes of a pool (--keys).
    Set,
    /// getData on random nodes of a pool.
    Get,
    /// exists on random nodes of a pool.
    Exists,
    /// getChildren on a parent with --children children.
    Children,
    /// Deletes (nodes created in unmeasured rounds of --delete-batch per connection).
    Delete,
    /// multi of --multi-ops setData ops on distinct nodes.
    Multi,
    /// getData / setData mixed by --read-ratio.
    Mix,
    /// setData by one session → notification at another session holding a data watch.
    Watch,
    /// Session connect + close cycles.
    Sessions,
    /// Opens --sessions concurrent sessions, keeps them alive for --duration, checks them.
    Hold,
}

impl Workload {
    pub fn name(self) -> &'static str {
        match self {
            Workload::Create => "create",
            Workload::CreateEphSeq => "create-eph-seq",
            Workload::Set => "set",
            Workload::Get => "get",
            Workload::Exists => "exists",
            Workload::Children => "children",
            Workload::Delete => "delete",
            Workload::Multi => "multi",
            Workload::Mix => "mix",
            Workload::Watch => "watch",
            Workload::Sessions => "sessions",
            Workload::Hold => "hold",
        }
    }
}

#[derive(clap::Args, Debug, Clone, Serialize, Deserialize)]
pub struct LoadOpts {
    /// Client connections (sessions); for watch: setter/watcher pairs.
    #[arg(long, default_value_t = 16)]
    pub connections: usize,
    /// Pipelined requests in flight per connection.
    #[arg(long, default_value_t = 16)]
    pub outstanding: usize,
    /// Bytes of data per written node.
    #[arg(long, default_value_t = 100)]
    pub value_size: usize,
    /// Children of the parent in the children workload.
    #[arg(long, default_value_t = 100)]
    pub children: usize,
    /// Measured seconds (after the warmup).
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Unmeasured seconds before the measurement.
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// Target total ops/s; 0 = as fast as possible.
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
    /// Ops per multi.
    #[arg(long, default_value_t = 10)]
    pub multi_ops: usize,
    /// Fraction of reads in mix.
    #[arg(long, default_value_t = 0.9)]
    pub read_ratio: f64,
    /// Size of the node pool for set/get/exists/multi/mix.
    #[arg(long, default_value_t = 1000)]
    pub keys: usize,
    /// Nodes per connection created (unmeasured) before each measured delete round.
    #[arg(long, default_value_t = 1000)]
    pub delete_batch: usize,
    /// create: each connection creates under its own parent instead of all
    /// under one (zoe's creates contend on the parent's child counter).
    #[arg(long)]
    pub spread: bool,
    /// Concurrent sessions for the hold workload.
    #[arg(long, default_value_t = 10_000)]
    pub sessions: usize,
}

fn base_path(w: Workload) -> String {
    let r: u32 = rand::random();
    format!("/zoe-bench-{}-{}-{:08x}", w.name(), std::process::id(), r)
}

fn value(o: &LoadOpts) -> Bytes {
    Bytes::from(vec![b'x'; o.value_size])
}

async fn connect_all(addr: &str, n: usize) -> Result<Vec<Conn>> {
    let mut tasks = Vec::new();
    for _ in 0..n {
        let a = addr.to_string();
        tasks.push(tokio::spawn(async move {
            Conn::connect(&a, SESSION_TIMEOUT_MS).await
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await??);
    }
    Ok(out)
}

async fn close_all(conns: Vec<Conn>) {
    let mut tasks = Vec::new();
    for c in conns {
        tasks.push(tokio::spawn(async move {
            let _ = c.close().await;
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

fn phase(o: &LoadOpts, start: Instant) -> (Phase, f64) {
    let record_from = start + Duration::from_secs_f64(o.warmup);
    let end = record_from + Duration::from_secs_f64(o.duration);
    let interval = if o.rate > 0.0 {
        Some(Duration::from_secs_f64(o.connections as f64 / o.rate))
    } else {
        None
    };
    (
        Phase {
            start,
            record_from,
            end: Some(end),
            interval,
        },
        o.duration,
    )
}

type MakeReq = Arc<dyn Fn(usize, u64, &mut SmallRng) -> Request + Send + Sync>;

/// Runs `make` on every connection for warmup + duration. A connection the
/// server drops is counted (its in-flight requests as CONNECTIONLOSS) and
/// replaced by a new session, as a real client would.
async fn steady(addr: &str, o: &LoadOpts, make: MakeReq) -> Result<(Stats, f64, Vec<Conn>)> {
    let conns = connect_all(addr, o.connections).await?;
    let start = Instant::now() + Duration::from_millis(50);
    let (ph, window) = phase(o, start);
    let mut tasks = Vec::new();
    for (i, c) in conns.into_iter().enumerate() {
        let make = make.clone();
        let k = o.outstanding;
        let addr = addr.to_string();
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(start.into()).await;
            let mut rng = SmallRng::seed_from_u64(i as u64 * 7919 + 1);
            let mut st = Stats::default();
            let mut conn = Some(c);
            let mut base_seq = 0u64;
            let mut ph = ph;
            let end = ph.end.unwrap();
            let mut drops = 0u64;
            while Instant::now() < end {
                let mut c = match conn.take() {
                    Some(c) => c,
                    None => match Conn::connect(&addr, SESSION_TIMEOUT_MS).await {
                        Ok(c) => c,
                        Err(_) => {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    },
                };
                let b = base_seq;
                let r = drive(&mut c, k, &ph, |s| Some(make(i, b + s, &mut rng)), &mut st).await;
                match r {
                    Ok(_) => {
                        conn = Some(c);
                        break;
                    }
                    Err(e) => {
                        if drops == 0 {
                            eprintln!("!!! connection {i} lost: {e:#}; reconnecting");
                        }
                        drops += 1;
                        base_seq = st.sent;
                        // The rate schedule restarts from now.
                        ph.start = Instant::now();
                    }
                }
            }
            (conn, st)
        }));
    }
    let mut total = Stats::default();
    let mut conns = Vec::new();
    for t in tasks {
        let (c, st) = t.await?;
        total.merge(&st);
        conns.extend(c);
    }
    Ok((total, window, conns))
}

async fn setup_base(addr: &str, base: &str) -> Result<()> {
    let mut c = Conn::connect(addr, SESSION_TIMEOUT_MS).await?;
    let (h, _) = c.call(&create_req(base.to_string(), None, 0)).await?;
    if h.err != 0 {
        bail!("create {base}: {}", zk::err_name(h.err));
    }
    let _ = c.close().await;
    Ok(())
}

async fn setup_pool(addr: &str, paths: Vec<String>, data: Bytes) -> Result<()> {
    let n = paths.len();
    // One connection: zoe processes a connection's requests one at a time
    // and concurrent creates under one parent contend there.
    let st = zk::bulk_create(addr, 1, 256, Arc::new(paths), Some(data)).await?;
    if st.error_count() > 0 {
        bail!(
            "setup: {} of {n} creates failed: {:?}",
            st.error_count(),
            st.errors
        );
    }
    Ok(())
}

fn pool_paths(base: &str, n: usize) -> Arc<Vec<String>> {
    Arc::new((0..n).map(|i| format!("{base}/k{i}")).collect())
}

/// Runs one workload against the ZooKeeper-protocol server at `addr`.
pub async fn run(addr: &str, target: &str, w: Workload, o: &LoadOpts) -> Result<Report> {
    let base = base_path(w);
    setup_base(addr, &base).await?;
    let res = run_inner(addr, target, w, o, &base).await;
    let cleanup =
        tokio::time::timeout(Duration::from_secs(300), zk::delete_tree(addr, &base)).await;
    let mut report = res?;
    match cleanup {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            eprintln!("!!! cleanup of {base} failed: {e:#}");
            report.errors += 1;
            *report.error_codes.entry("CLEANUP".into()).or_default() += 1;
        }
        Err(_) => eprintln!("!!! cleanup of {base} timed out"),
    }
    report.connections = o.connections;
    report.outstanding = o.outstanding;
    report.value_size = o.value_size;
    Ok(report)
}

async fn run_inner(
    addr: &str,
    target: &str,
    w: Workload,
    o: &LoadOpts,
    base: &str,
) -> Result<Report> {
    let data = value(o);
    let name = w.name();
    match w {
        Workload::Create | Workload::CreateEphSeq => {
            let b = base.to_string();
            let d = data.clone();
            let eph = w == Workload::CreateEphSeq;
            let spread = o.spread;
            if spread {
                let parents = (0..o.connections).map(|i| format!("{b}/s{i}")).collect();
                setup_pool(addr, parents, Bytes::new()).await?;
            }
            let make: MakeReq = Arc::new(move |i, s, _| {
                let dir = if spread {
                    format!("{b}/s{i}")
                } else {
                    b.clone()
                };
                if eph {
                    create_req(
                        format!("{dir}/e-"),
                        Some(d.clone()),
                        CreateMode::EphemeralSequential.as_i32(),
                    )
                } else {
                    create_req(format!("{dir}/c{i}-{s}"), Some(d.clone()), 0)
                }
            });
            let (st, win, conns) = steady(addr, o, make).await?;
            close_all(conns).await;
            let mut r = Report::from_stats(name, target, &st, win);
            r.note = Some(
                if spread {
                    "one parent per connection"
                } else {
                    "one shared parent"
                }
                .into(),
            );
            Ok(r)
        }
        Workload::Set | Workload::Get | Workload::Exists | Workload::Mix | Workload::Multi => {
            let keys = o.keys.max(1);
            if w == Workload::Multi && o.multi_ops > keys {
                bail!("--multi-ops {} needs --keys >= it", o.multi_ops);
            }
            let paths = pool_paths(base, keys);
            setup_pool(addr, paths.to_vec(), data.clone()).await?;
            let d = data.clone();
            let ratio = o.read_ratio;
            let n = o.multi_ops.max(1);
            let make: MakeReq = Arc::new(move |_, _, rng| {
                let k = rng.gen_range(0..keys);
                let path = paths[k].clone();
                let set = |path: String| {
                    Request::SetData(SetDataRequest {
                        path,
                        data: Some(d.clone()),
                        version: -1,
                    })
                };
                match w {
                    Workload::Set => set(path),
                    Workload::Get => Request::GetData(GetDataRequest { path, watch: false }),
                    Workload::Exists => Request::Exists(ExistsRequest { path, watch: false }),
                    Workload::Mix => {
                        if rng.gen::<f64>() < ratio {
                            Request::GetData(GetDataRequest { path, watch: false })
                        } else {
                            set(path)
                        }
                    }
                    _ => Request::Multi(MultiRequest {
                        ops: (0..n)
                            .map(|j| {
                                MultiOp::SetData(SetDataRequest {
                                    path: paths[(k + j) % keys].clone(),
                                    data: Some(d.clone()),
                                    version: -1,
                                })
                            })
                            .collect(),
                    }),
                }
            });
            let (st, win, conns) = steady(addr, o, make).await?;
            close_all(conns).await;
            let mut r = Report::from_stats(name, target, &st, win);
            if w == Workload::Multi {
                r.sub_ops_per_sec = Some(r.ops_per_sec * n as f64);
                r.note = Some(format!("{n} setData per multi"));
            }
            if w == Workload::Mix {
                r.note = Some(format!("read ratio {ratio}"));
            }
            Ok(r)
        }
        Workload::Children => {
            let parent = format!("{base}/p");
            setup_pool(addr, vec![parent.clone()], Bytes::new()).await?;
            let kids: Vec<String> = (0..o.children)
                .map(|i| format!("{parent}/c{i:06}"))
                .collect();
            setup_pool(addr, kids, data.clone()).await?;
            let make: MakeReq = Arc::new(move |_, _, _| {
                Request::GetChildren(GetChildrenRequest {
                    path: parent.clone(),
                    watch: false,
                })
            });
            let (st, win, conns) = steady(addr, o, make).await?;
            close_all(conns).await;
            let mut r = Report::from_stats(name, target, &st, win);
            r.note = Some(format!("{} children", o.children));
            Ok(r)
        }
        Workload::Delete => run_delete(addr, target, o, base, data).await,
        Workload::Watch => run_watch(addr, target, o, base, data).await,
        Workload::Sessions => run_sessions(addr, target, o).await,
        Workload::Hold => run_hold(addr, target, o).await,
    }
}

/// Rounds: every connection creates `delete_batch` nodes (unmeasured), then
/// all connections delete them (measured; only delete time counts).
async fn run_delete(
    addr: &str,
    target: &str,
    o: &LoadOpts,
    base: &str,
    data: Bytes,
) -> Result<Report> {
    let mut conns = connect_all(addr, o.connections).await?;
    let batch = o.delete_batch.max(1) as u64;
    let mut total = Stats::default();
    let mut measured = 0.0f64;
    let mut elapsed = 0.0f64;
    let mut round = 0u64;
    let failure: Option<anyhow::Error> = None;
    while measured < o.duration {
        let in_window = elapsed >= o.warmup;
        for del in [false, true] {
            let t0 = Instant::now();
            let mut tasks = Vec::new();
            for (i, mut c) in conns.drain(..).enumerate() {
                let b = base.to_string();
                let d = data.clone();
                let k = o.outstanding;
                let addr = addr.to_string();
                tasks.push(tokio::spawn(async move {
                    let mut st = Stats::default();
                    let mut ph = Phase::unbounded();
                    if !del || !in_window {
                        ph.record_from = ph.start + Duration::from_secs(1 << 30);
                    }
                    let mut from = 0u64;
                    let mut r = Ok(0);
                    for _attempt in 0..20 {
                        r = drive(
                            &mut c,
                            k,
                            &ph,
                            |s| {
                                (from + s < batch).then(|| {
                                    let p = format!("{b}/d{i}-{round}-{}", from + s);
                                    if del {
                                        delete_req(p)
                                    } else {
                                        create_req(p, Some(d.clone()), 0)
                                    }
                                })
                            },
                            &mut st,
                        )
                        .await;
                        if r.is_ok() {
                            break;
                        }
                        // The server dropped us: count it, reconnect, go on.
                        from = st.sent;
                        match Conn::connect(&addr, SESSION_TIMEOUT_MS).await {
                            Ok(nc) => c = nc,
                            Err(_) => break,
                        }
                    }
                    (c, st, r)
                }));
            }
            let mut st_round = Stats::default();
            for t in tasks {
                let (c, st, r) = t.await?;
                conns.push(c);
                st_round.merge(&st);
                if let Err(e) = r {
                    eprintln!("!!! delete round {round}: connection lost: {e:#}");
                }
            }
            if del {
                let dt = t0.elapsed().as_secs_f64();
                elapsed += dt;
                if in_window {
                    measured += dt;
                }
                total.merge(&st_round);
            } else {
                for (k, v) in st_round.errors {
                    *total.errors.entry(k).or_default() += v;
                }
            }
        }
        round += 1;
    }
    close_all(conns).await;
    if let Some(e) = failure {
        return Err(e.context("connection failed during delete rounds"));
    }
    let mut r = Report::from_stats("delete", target, &total, measured);
    r.note = Some(format!("{round} rounds of {batch}/conn"));
    Ok(r)
}

/// Pairs of sessions: the setter changes a node, the watcher holds a data
/// watch on it; latency is setData sent → notification received. The watch
/// is re-armed (getData watch=true) before the next setData.
async fn run_watch(
    addr: &str,
    target: &str,
    o: &LoadOpts,
    base: &str,
    data: Bytes,
) -> Result<Report> {
    let pairs = o.connections.max(1);
    let paths: Vec<String> = (0..pairs).map(|i| format!("{base}/w{i}")).collect();
    setup_pool(addr, paths.clone(), data.clone()).await?;
    let start = Instant::now() + Duration::from_millis(50);
    let (ph, window) = phase(o, start);
    let mut tasks = Vec::new();
    for path in paths {
        let a = addr.to_string();
        let d = data.clone();
        tasks.push(tokio::spawn(async move {
            let mut st = Stats::default();
            let mut setter = Conn::connect(&a, SESSION_TIMEOUT_MS).await?;
            let mut watcher = Conn::connect(&a, SESSION_TIMEOUT_MS).await?;
            tokio::time::sleep_until(start.into()).await;
            let end = ph.end.unwrap();
            let mut seq = 0u64;
            let res: Result<()> = async {
                while Instant::now() < end {
                    let arm = watcher
                        .call(&Request::GetData(GetDataRequest {
                            path: path.clone(),
                            watch: true,
                        }))
                        .await;
                    match arm {
                        Ok((h, _)) if h.err == 0 => {}
                        Ok((h, _)) => {
                            st.record(Duration::ZERO, h.err, false);
                            continue;
                        }
                        Err(_) => {
                            st.record(Duration::ZERO, jute::ErrorCode::ConnectionLoss.as_i32(), false);
                            watcher = Conn::connect(&a, SESSION_TIMEOUT_MS).await?;
                            continue;
                        }
                    }
                    if let Some(iv) = ph.interval {
                        tokio::time::sleep_until((ph.start + iv * seq as u32).into()).await;
                    }
                    seq += 1;
                    let t0 = Instant::now();
                    let set = Request::SetData(SetDataRequest {
                        path: path.clone(),
                        data: Some(d.clone()),
                        version: -1,
                    });
                    let xid = match setter.send(&set).await {
                        Ok(x) => x,
                        Err(_) => {
                            st.record(Duration::ZERO, jute::ErrorCode::ConnectionLoss.as_i32(), false);
                            setter = Conn::connect(&a, SESSION_TIMEOUT_MS).await?;
                            continue;
                        }
                    };
                    // Wait for both the notification and the setter's reply.
                    let deadline = t0 + Duration::from_secs(10);
                    let mut ev: Option<Result<(Duration, bool)>> = None;
                    let mut rep: Option<Result<i32>> = None;
                    while ev.is_none() || rep.is_none() {
                        tokio::select! {
                            r = watcher.next_notification(), if ev.is_none() => {
                                ev = Some(r.map(|(_, e)| (
                                    t0.elapsed(),
                                    e.event_type == jute::EventType::NodeDataChanged.as_i32() && e.path == path,
                                )));
                            }
                            r = read_reply(&mut setter, xid), if rep.is_none() => {
                                let failed = !matches!(r, Ok(0));
                                rep = Some(r);
                                if failed {
                                    break; // no notification will come
                                }
                            }
                            _ = tokio::time::sleep_until(deadline.into()) => break,
                        }
                    }
                    let in_window = t0 >= ph.record_from && t0 < end;
                    match rep {
                        Some(Ok(0)) => {}
                        Some(Ok(code)) => {
                            st.record(Duration::ZERO, code, false);
                            continue;
                        }
                        _ => {
                            st.record(Duration::ZERO, jute::ErrorCode::ConnectionLoss.as_i32(), false);
                            setter = Conn::connect(&a, SESSION_TIMEOUT_MS).await?;
                            continue;
                        }
                    }
                    match ev {
                        Some(Ok((lat, true))) => st.record(lat, 0, in_window),
                        Some(Ok((_, false))) => st.record(Duration::ZERO, zk::WRONG_EVENT, false),
                        Some(Err(_)) => {
                            st.record(Duration::ZERO, jute::ErrorCode::ConnectionLoss.as_i32(), false);
                            watcher = Conn::connect(&a, SESSION_TIMEOUT_MS).await?;
                        }
                        None => st.record(Duration::ZERO, zk::NO_NOTIFICATION, false),
                    }
                }
                Ok(())
            }
            .await;
            st.sent = seq;
            let _ = setter.close().await;
            let _ = watcher.close().await;
            res.map(|_| st)
        }));
    }
    let mut total = Stats::default();
    for t in tasks {
        total.merge(&t.await??);
    }
    let mut r = Report::from_stats("watch", target, &total, window);
    r.note = Some(format!("{pairs} setter/watcher pairs, 1 in flight each"));
    Ok(r)
}

/// Reads frames until the reply to `xid`; returns its error code.
async fn read_reply(c: &mut Conn, xid: i32) -> Result<i32> {
    loop {
        let f = c.read_frame().await?;
        let (h, _) = jute::decode_reply(f).map_err(|e| anyhow::anyhow!("{e}"))?;
        if h.xid == xid {
            return Ok(h.err);
        }
    }
}

/// Connect + closeSession cycles on every connection slot.
async fn run_sessions(addr: &str, target: &str, o: &LoadOpts) -> Result<Report> {
    let start = Instant::now() + Duration::from_millis(50);
    let (ph, window) = phase(o, start);
    let mut tasks = Vec::new();
    for _ in 0..o.connections.max(1) {
        let a = addr.to_string();
        tasks.push(tokio::spawn(async move {
            let mut st = Stats::default();
            tokio::time::sleep_until(start.into()).await;
            let end = ph.end.unwrap();
            let mut seq = 0u64;
            while Instant::now() < end {
                if let Some(iv) = ph.interval {
                    tokio::time::sleep_until((ph.start + iv * seq as u32).into()).await;
                }
                seq += 1;
                let t0 = Instant::now();
                let r = async {
                    let c = Conn::connect(&a, SESSION_TIMEOUT_MS).await?;
                    c.close().await
                }
                .await;
                let err = match r {
                    Ok(()) => 0,
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        jute::ErrorCode::ConnectionLoss.as_i32()
                    }
                };
                st.record(t0.elapsed(), err, t0 >= ph.record_from);
            }
            st.sent = seq;
            st
        }));
    }
    let mut total = Stats::default();
    for t in tasks {
        total.merge(&t.await?);
    }
    let mut r = Report::from_stats("sessions", target, &total, window);
    r.note = Some("connect + closeSession per op".into());
    Ok(r)
}

/// Opens `sessions` concurrent sessions (at most 256 handshakes in flight),
/// keeps them alive with pings for `duration`, then checks every one with
/// an exists("/") and closes them. ops/s is the rate sessions were opened;
/// latency is the handshake's.
async fn run_hold(addr: &str, target: &str, o: &LoadOpts) -> Result<Report> {
    let n = o.sessions.max(1);
    let sem = Arc::new(tokio::sync::Semaphore::new(256));
    let t_open = Instant::now();
    let (hold_tx, hold_rx) = tokio::sync::watch::channel::<Option<Instant>>(None);
    let opened = Arc::new(tokio::sync::Barrier::new(n + 1));
    let mut tasks = Vec::new();
    for _ in 0..n {
        let a = addr.to_string();
        let sem = sem.clone();
        let opened = opened.clone();
        let mut hold_rx = hold_rx.clone();
        tasks.push(tokio::spawn(async move {
            let mut st = Stats::default();
            let permit = sem.acquire_owned().await.unwrap();
            let t0 = Instant::now();
            let conn = Conn::connect(&a, SESSION_TIMEOUT_MS).await;
            drop(permit);
            st.record(t0.elapsed(), if conn.is_ok() { 0 } else { -4 }, true);
            opened.wait().await;
            let Ok(mut c) = conn else { return st };
            let until = match hold_rx.wait_for(|v| v.is_some()).await {
                Ok(v) => v.unwrap(),
                Err(_) => Instant::now(),
            };
            let ping_every = Duration::from_millis((c.timeout_ms / 3).max(100) as u64);
            let mut alive = true;
            while Instant::now() < until {
                tokio::time::sleep(ping_every.min(until.saturating_duration_since(Instant::now())))
                    .await;
                let mut out = bytes::BytesMut::new();
                jute::frame::request_with_xid(&mut out, jute::xid::PING, &Request::Ping);
                if c.write(&out).await.is_err() {
                    alive = false;
                    break;
                }
            }
            // Check: a real request still works (pings' replies are skipped).
            let check = if alive {
                tokio::time::timeout(
                    Duration::from_secs(60),
                    c.call(&Request::Exists(ExistsRequest {
                        path: "/".into(),
                        watch: false,
                    })),
                )
                .await
            } else {
                Ok(Err(anyhow::anyhow!("dead")))
            };
            match check {
                Ok(Ok((h, _))) if h.err == 0 => {}
                Ok(Ok((h, _))) => *st.errors.entry(h.err).or_default() += 1,
                // Connection closed, or no answer within 60 s.
                _ => {
                    *st.errors
                        .entry(jute::ErrorCode::ConnectionLoss.as_i32())
                        .or_default() += 1
                }
            }
            let _ = c.close().await;
            st
        }));
    }
    opened.wait().await;
    let open_s = t_open.elapsed().as_secs_f64();
    let _ = hold_tx.send(Some(Instant::now() + Duration::from_secs_f64(o.duration)));
    let mut total = Stats::default();
    for t in tasks {
        total.merge(&t.await?);
    }
    let mut r = Report::from_stats("hold", target, &total, open_s);
    r.note = Some(format!(
        "{} of {n} sessions opened in {open_s:.1}s, held {}s, {} failed",
        total.ok,
        o.duration,
        total.error_count()
    ));
    Ok(r)
}
