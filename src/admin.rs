//! The admin HTTP server (`--admin-listen`): ZooKeeper AdminServer-style
//! JSON commands under `/commands`, Prometheus metrics on `/metrics`, and
//! `/health` / `/ready` probes for orchestrators.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use etcd_client::GetOptions;
use serde_json::{json, Map, Value};
use tokio::net::TcpListener;
use tracing::{debug, info, warn};

use crate::fourlw;
use crate::metrics::{self, gauge};
use crate::server::Server;
use crate::stats::ConnInfo;

/// Set once the server has connected to etcd and loaded its replica.
pub type ServerSlot = Arc<OnceLock<Arc<Server>>>;

/// An etcd sample older than this makes /ready fail.
const SAMPLE_STALE_MS: i64 = 5000;

/// Primary command names and their aliases (ZooKeeper's AdminServer).
pub const COMMANDS: &[(&str, &[&str])] = &[
    ("configuration", &["conf", "config"]),
    ("connection_stat_reset", &["crst"]),
    ("connections", &["cons"]),
    ("dirs", &[]),
    ("dump", &[]),
    ("environment", &["env", "envi"]),
    ("get_trace_mask", &["gtmk"]),
    ("hash", &[]),
    ("is_read_only", &["isro"]),
    ("monitor", &["mntr"]),
    ("ruok", &[]),
    ("server_stats", &["srvr"]),
    ("stat_reset", &["srst"]),
    ("stats", &["stat"]),
    ("watch_summary", &["wchs"]),
    ("watches", &["wchc"]),
    ("watches_by_path", &["wchp"]),
];

/// The primary name of a command or alias.
pub fn primary(name: &str) -> Option<&'static str> {
    COMMANDS
        .iter()
        .find(|(p, aliases)| *p == name || aliases.contains(&name))
        .map(|(p, _)| *p)
}

/// Binds the admin address (so a bad address fails at start) and serves
/// it in the background.
pub async fn start(addr: &str, slot: ServerSlot) -> anyhow::Result<()> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr} (admin): {e}"))?;
    info!(admin = %addr, "admin server on /commands, /metrics, /health, /ready");
    let app = Router::new()
        .route("/commands", get(list))
        .route("/commands/", get(list))
        .route("/commands/:name", get(command))
        .route("/metrics", get(prometheus))
        .route("/health", get(health))
        .route("/ready", get(ready))
        .with_state(slot);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            warn!(error = %e, "admin server stopped");
        }
    });
    Ok(())
}

/// Samples etcd's revision every second: etcd reachability and replica
/// lag for /ready and /metrics.
pub fn start_sampler(server: Arc<Server>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let key = server.replica.layout().layout_key();
        let m = metrics::global();
        loop {
            tick.tick().await;
            let get = crate::etcd::retry_unsent(|| {
                let mut kv = server.client.kv_client();
                let key = key.clone();
                async move { kv.get(key, Some(GetOptions::new().with_count_only())).await }
            });
            let got = tokio::time::timeout(Duration::from_secs(2), get).await;
            match got {
                Ok(Ok(resp)) => {
                    let rev = resp.header().map(|h| h.revision()).unwrap_or(0);
                    // Revisions made under other prefixes reach the replica
                    // only through a progress notification: ask for one and
                    // give it a moment before measuring.
                    if server.replica.revision() < rev {
                        server.replica.wait_for(rev, Duration::from_secs(1)).await;
                    }
                    let lag = (rev - server.replica.revision()).max(0);
                    m.etcd_revision.store(rev, Ordering::Relaxed);
                    m.replica_lag.store(lag, Ordering::Relaxed);
                    m.etcd_up.store(true, Ordering::Relaxed);
                    m.etcd_sampled_ms
                        .store(crate::session::now_ms(), Ordering::Relaxed);
                }
                Ok(Err(e)) => {
                    debug!(error = %e, "etcd sample failed");
                    m.etcd_up.store(false, Ordering::Relaxed);
                }
                Err(_) => {
                    debug!("etcd sample timed out");
                    m.etcd_up.store(false, Ordering::Relaxed);
                }
            }
        }
    });
}

/// Why the server is not ready, if it is not.
pub fn not_ready(slot: &ServerSlot) -> Option<String> {
    let Some(server) = slot.get() else {
        return Some("starting: the replica is not loaded yet".into());
    };
    let m = metrics::global();
    if !m.etcd_up.load(Ordering::Relaxed) {
        return Some("etcd is unreachable".into());
    }
    let age = crate::session::now_ms() - m.etcd_sampled_ms.load(Ordering::Relaxed);
    if age > SAMPLE_STALE_MS {
        return Some(format!("no answer from etcd for {age} ms"));
    }
    let lag = m.replica_lag.load(Ordering::Relaxed);
    if lag > server.config.ready_max_lag {
        return Some(format!(
            "the replica is {lag} revisions behind etcd (ready-max-lag {})",
            server.config.ready_max_lag
        ));
    }
    None
}

fn json_response(status: StatusCode, v: &Value) -> Response {
    let body = serde_json::to_string_pretty(v).unwrap_or_else(|_| "{}".into());
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn health() -> Response {
    json_response(StatusCode::OK, &json!({"status": "up"}))
}

async fn ready(State(slot): State<ServerSlot>) -> Response {
    match not_ready(&slot) {
        None => json_response(StatusCode::OK, &json!({"ready": true})),
        Some(reason) => json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({"ready": false, "reason": reason}),
        ),
    }
}

async fn list() -> Response {
    let mut html = String::new();
    for (name, _) in COMMANDS {
        let _ = writeln!(html, "<a href=\"/commands/{name}\">{name}</a>\n<br/>");
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html,
    )
        .into_response()
}

async fn command(State(slot): State<ServerSlot>, Path(name): Path<String>) -> Response {
    json_response(StatusCode::OK, &run_command(&slot, &name))
}

/// A command's JSON, always with `command` and `error`.
pub fn run_command(slot: &ServerSlot, name: &str) -> Value {
    let Some(primary) = primary(name) else {
        return json!({"command": name, "error": format!("Unknown command: {name}")});
    };
    let mut obj = match slot.get() {
        None => {
            return json!({
                "command": primary,
                "error": "This ZooKeeper instance is not currently serving requests"
            })
        }
        Some(server) => body(server, primary),
    };
    obj.insert("command".into(), json!(primary));
    obj.insert("error".into(), Value::Null);
    Value::Object(obj)
}

fn num_or_string(v: &str) -> Value {
    if let Ok(i) = v.parse::<i64>() {
        json!(i)
    } else if let Ok(f) = v.parse::<f64>() {
        json!(f)
    } else {
        json!(v)
    }
}

fn brief_conn(c: &ConnInfo) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("remote_socket_address".into(), json!(c.peer.to_string()));
    m.insert("interest_ops".into(), json!(1));
    m.insert("outstanding_requests".into(), json!(c.outstanding));
    m.insert("packets_received".into(), json!(c.received));
    m.insert("packets_sent".into(), json!(c.sent));
    m
}

fn full_conn(c: &ConnInfo) -> Value {
    let mut m = brief_conn(c);
    if c.session_id != 0 {
        let lat = &c.latency;
        let avg = lat.total.checked_div(lat.count).unwrap_or(0);
        m.insert("session_id".into(), json!(c.session_id));
        m.insert("last_operation".into(), json!(c.last_op));
        m.insert("established".into(), json!(c.established_ms));
        m.insert("session_timeout".into(), json!(c.timeout_ms));
        m.insert("last_cxid".into(), json!(c.last_cxid));
        m.insert("last_zxid".into(), json!(c.last_zxid));
        m.insert("last_response_time".into(), json!(c.last_resp_ms));
        m.insert("last_latency".into(), json!(lat.last));
        m.insert("min_latency".into(), json!(lat.min()));
        m.insert("avg_latency".into(), json!(avg));
        m.insert("max_latency".into(), json!(lat.max));
    }
    Value::Object(m)
}

fn server_stats(server: &Arc<Server>) -> Map<String, Value> {
    let s = fourlw::summary(server, None);
    let response = json!({"last_buffer_size": -1, "min_buffer_size": -1, "max_buffer_size": -1});
    let mut m = Map::new();
    m.insert("version".into(), json!(s.version));
    m.insert("read_only".into(), json!(false));
    m.insert(
        "server_stats".into(),
        json!({
            "packets_sent": s.sent,
            "packets_received": s.received,
            "fsync_threshold_exceed_count": 0,
            "client_response_stats": response,
            "provider_null": false,
            "data_dir_size": 0,
            "log_dir_size": 0,
            "last_processed_zxid": s.zxid,
            "outstanding_requests": s.outstanding,
            "server_state": "standalone",
            "avg_latency": (s.latency.avg() * 10_000.0).round() / 10_000.0,
            "max_latency": s.latency.max,
            "min_latency": s.latency.min(),
            "num_alive_client_connections": s.connections,
            "uptime": s.uptime_ms,
            "auth_failed_count": 0,
            "non_mtlsremote_conn_count": 0,
            "non_mtlslocal_conn_count": 0,
        }),
    );
    m.insert("client_response".into(), response);
    m.insert("node_count".into(), json!(s.node_count));
    m
}

fn split_secure<F: Fn(&ConnInfo) -> Value>(server: &Arc<Server>, f: F) -> (Vec<Value>, Vec<Value>) {
    let (secure, plain): (Vec<ConnInfo>, Vec<ConnInfo>) = fourlw::connections(server)
        .into_iter()
        .partition(|c| c.secure);
    (
        plain.iter().map(&f).collect(),
        secure.iter().map(&f).collect(),
    )
}

fn body(server: &Arc<Server>, primary: &str) -> Map<String, Value> {
    let mut m = Map::new();
    match primary {
        "ruok" => {}
        // The text words do the resetting.
        "stat_reset" => {
            fourlw::text("srst", server, None);
        }
        "connection_stat_reset" => {
            fourlw::text("crst", server, None);
        }
        "server_stats" => m = server_stats(server),
        "stats" => {
            m = server_stats(server);
            let (plain, secure) = split_secure(server, |c| Value::Object(brief_conn(c)));
            m.insert("connections".into(), json!(plain));
            m.insert("secure_connections".into(), json!(secure));
        }
        "connections" => {
            let (plain, secure) = split_secure(server, full_conn);
            m.insert("connections".into(), json!(plain));
            m.insert("secure_connections".into(), json!(secure));
        }
        "monitor" => {
            for (k, v) in fourlw::mntr_pairs(server, None) {
                let value = if k == "version" {
                    json!(v)
                } else {
                    num_or_string(&v)
                };
                m.insert(k.into(), value);
            }
        }
        "configuration" => {
            let c = &server.config;
            let pairs = fourlw::conf_pairs(server);
            let get = |k: &str| {
                pairs
                    .iter()
                    .find(|(key, _)| *key == k)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            };
            m.insert("client_port".into(), num_or_string(&get("clientPort")));
            if c.secure_listen.is_some() {
                m.insert(
                    "secure_client_port".into(),
                    num_or_string(&get("secureClientPort")),
                );
            }
            m.insert("data_dir".into(), json!(get("dataDir")));
            m.insert("data_log_dir".into(), json!(get("dataLogDir")));
            m.insert("tick_time".into(), json!(c.session.tick_ms));
            m.insert("max_client_cnxns".into(), json!(c.max_client_cnxns));
            m.insert(
                "min_session_timeout".into(),
                json!(c.session.min_timeout_ms),
            );
            m.insert(
                "max_session_timeout".into(),
                json!(c.session.max_timeout_ms),
            );
            m.insert("server_id".into(), json!(0));
            m.insert("client_port_listen_backlog".into(), json!(-1));
        }
        "environment" => {
            for (k, v) in fourlw::env_pairs() {
                m.insert(k.into(), json!(v));
            }
        }
        "is_read_only" => {
            m.insert("read_only".into(), json!(false));
        }
        "watch_summary" => {
            let w = fourlw::watch_summary(server);
            m.insert("num_connections".into(), json!(w.data_connections));
            m.insert("num_paths".into(), json!(w.by_path.len()));
            m.insert("num_total_watches".into(), json!(w.data_watches));
        }
        "watches" => {
            let w = fourlw::watch_summary(server);
            let map: Map<String, Value> = w
                .by_session
                .iter()
                .map(|(sid, paths)| (sid.to_string(), json!(paths)))
                .collect();
            m.insert("session_id_to_watched_paths".into(), Value::Object(map));
        }
        "watches_by_path" => {
            let w = fourlw::watch_summary(server);
            let map: Map<String, Value> = w
                .by_path
                .iter()
                .map(|(p, sids)| (p.clone(), json!(sids)))
                .collect();
            m.insert("path_to_session_ids".into(), Value::Object(map));
        }
        "dirs" => {
            m.insert("datadir_size".into(), json!(0));
            m.insert("logdir_size".into(), json!(0));
        }
        "dump" => {
            let expiry: Map<String, Value> = fourlw::session_expiry(server)
                .into_iter()
                .map(|(at, ids)| (at.to_string(), json!(ids)))
                .collect();
            let eph: Map<String, Value> = fourlw::ephemerals(server)
                .into_iter()
                .map(|(sid, paths)| (sid.to_string(), json!(paths)))
                .collect();
            m.insert("expiry_time_to_session_ids".into(), Value::Object(expiry));
            m.insert("session_id_to_ephemeral_paths".into(), Value::Object(eph));
        }
        "get_trace_mask" => {
            let mask: i64 = fourlw::text("gtmk", server, None).parse().unwrap_or(0);
            m.insert("tracemask".into(), json!(mask));
        }
        "hash" => {
            m.insert("digests".into(), json!([]));
        }
        _ => {}
    }
    m
}

async fn prometheus(State(slot): State<ServerSlot>) -> Response {
    let body = render_metrics(&slot);
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

/// The whole /metrics page.
pub fn render_metrics(slot: &ServerSlot) -> String {
    let mut out = String::new();
    let m = metrics::global();
    let _ = writeln!(out, "# HELP zoe_build_info zoe's version.");
    let _ = writeln!(out, "# TYPE zoe_build_info gauge");
    let _ = writeln!(
        out,
        "zoe_build_info{{version=\"{}\",zookeeper=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION"),
        fourlw::ZK_VERSION
    );
    gauge(
        &mut out,
        "zoe_ready",
        "1 when /ready answers 200.",
        u8::from(not_ready(slot).is_none()),
    );
    m.render(&mut out);
    if let Some(server) = slot.get() {
        let s = fourlw::summary(server, None);
        gauge(
            &mut out,
            "zoe_uptime_seconds",
            "Seconds since this instance started serving.",
            s.uptime_ms as f64 / 1000.0,
        );
        gauge(
            &mut out,
            "zoe_connections",
            "Open client connections (after the handshake started).",
            s.connections,
        );
        gauge(
            &mut out,
            "zoe_outstanding_requests",
            "Requests read but not answered yet.",
            s.outstanding,
        );
        gauge(
            &mut out,
            "zoe_sessions_owned",
            "Sessions this instance keeps alive and expires.",
            s.local_sessions_owned,
        );
        gauge(
            &mut out,
            "zoe_sessions_global",
            "Sessions in etcd, all instances.",
            s.global_sessions,
        );
        gauge(
            &mut out,
            "zoe_znodes",
            "znodes in the tree.",
            s.node_count - 1,
        );
        gauge(
            &mut out,
            "zoe_ephemerals",
            "Ephemeral znodes in the tree.",
            s.ephemerals,
        );
        gauge(
            &mut out,
            "zoe_approximate_data_size_bytes",
            "Sum of the data lengths of all znodes.",
            s.data_size,
        );
        gauge(
            &mut out,
            "zoe_watches",
            "Watch registrations on this instance (data and child tables).",
            s.watches.total,
        );
        gauge(
            &mut out,
            "zoe_watched_paths",
            "Distinct paths with a data watch on this instance.",
            s.watches.by_path.len(),
        );
        gauge(
            &mut out,
            "zoe_replica_revision",
            "etcd revision the replica has applied (the zxid).",
            s.zxid,
        );
    }
    gauge(
        &mut out,
        "zoe_etcd_revision",
        "etcd's current revision at the last sample.",
        m.etcd_revision.load(Ordering::Relaxed),
    );
    gauge(
        &mut out,
        "zoe_replica_lag_revisions",
        "etcd revision minus the replica's, sampled every second.",
        m.replica_lag.load(Ordering::Relaxed),
    );
    gauge(
        &mut out,
        "zoe_etcd_up",
        "1 when the last etcd sample succeeded.",
        u8::from(m.etcd_up.load(Ordering::Relaxed)),
    );
    let (open, max) = fourlw::fd_counts();
    if let Some(open) = open {
        gauge(&mut out, "process_open_fds", "Open file descriptors.", open);
    }
    if let Some(max) = max {
        gauge(
            &mut out,
            "process_max_fds",
            "Maximum number of open file descriptors.",
            max,
        );
    }
    if let Some(rss) = fourlw::rss_bytes() {
        gauge(
            &mut out,
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            rss,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_resolve() {
        assert_eq!(primary("mntr"), Some("monitor"));
        assert_eq!(primary("monitor"), Some("monitor"));
        assert_eq!(primary("config"), Some("configuration"));
        assert_eq!(primary("wchp"), Some("watches_by_path"));
        assert_eq!(primary("nope"), None);
    }

    #[test]
    fn unknown_and_not_serving() {
        let slot: ServerSlot = Arc::new(OnceLock::new());
        let v = run_command(&slot, "nosuch");
        assert_eq!(v["command"], "nosuch");
        assert_eq!(v["error"], "Unknown command: nosuch");
        let v = run_command(&slot, "srvr");
        assert_eq!(v["command"], "server_stats");
        assert!(v["error"].is_string());
        assert!(not_ready(&slot).is_some());
        let text = render_metrics(&slot);
        assert!(text.contains("zoe_ready 0\n"), "{text}");
    }
}
