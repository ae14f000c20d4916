//! Process-wide metrics, exposed in the Prometheus text format on the
//! admin server's `/metrics`, and the ZooKeeper server counters behind
//! `srvr`/`mntr`.
//!
//! Everything is a plain atomic or a fixed-bucket histogram, so the calls
//! on the request path (`metrics::global().…`) cost a few atomic adds.
//! Gauges that describe state (znodes, sessions, watches, lag) are not
//! kept here: the exporter computes them from the server when scraped.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use parking_lot::Mutex;

use crate::stats::ServerStats;

/// Latency buckets, seconds.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Group-commit batch size buckets (ZooKeeper writes per etcd transaction).
pub const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// A cumulative histogram with fixed upper bounds.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    count: AtomicU64,
    /// Sum in millionths of the observed unit (µs for seconds).
    sum_micro: AtomicU64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_micro: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, v: f64) {
        if let Some(i) = self.bounds.iter().position(|b| v <= *b) {
            self.counts[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micro
            .fetch_add((v * 1e6).max(0.0) as u64, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Appends `name_bucket`/`_sum`/`_count` samples with `labels`
    /// (`k="v",...` without braces, may be empty).
    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            cumulative += c.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{}\"}} {cumulative}",
                fmt_f64(*b)
            );
        }
        let count = self.count();
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {count}");
        let sum = self.sum_micro.load(Ordering::Relaxed) as f64 / 1e6;
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", fmt_f64(sum));
        let _ = writeln!(out, "{name}_count{braces} {count}");
    }
}

/// Prometheus float formatting (integers without a fraction are fine).
pub fn fmt_f64(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

/// Escapes a label value.
pub fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// All process-wide counters.
#[derive(Debug)]
pub struct Metrics {
    /// The `srvr`/`mntr` counters (reset by `srst`).
    pub server: ServerStats,
    packets_received: AtomicU64,
    packets_sent: AtomicU64,
    /// Per opcode (index from `op_slot`), allocated at start so the
    /// request path takes no lock.
    requests: Vec<Histogram>,
    reply_errors: Mutex<BTreeMap<i32, u64>>,
    pub etcd_txn: Histogram,
    etcd_txn_conflicts: AtomicU64,
    etcd_txn_total: AtomicU64,
    pub write_batch: Histogram,
    connections_rejected: AtomicU64,
    connections_accepted: AtomicU64,
    tls_handshake_failures: AtomicU64,
    // Sampled by the admin server's background task.
    pub etcd_revision: AtomicI64,
    pub replica_lag: AtomicI64,
    pub etcd_up: AtomicBool,
    /// Unix ms of the last successful etcd sample.
    pub etcd_sampled_ms: AtomicI64,
}

static GLOBAL: OnceLock<Metrics> = OnceLock::new();

/// The process's metrics.
pub fn global() -> &'static Metrics {
    GLOBAL.get_or_init(|| Metrics {
        server: ServerStats::default(),
        packets_received: AtomicU64::new(0),
        packets_sent: AtomicU64::new(0),
        requests: OPS
            .iter()
            .map(|_| Histogram::new(LATENCY_BUCKETS))
            .collect(),
        reply_errors: Mutex::new(BTreeMap::new()),
        etcd_txn: Histogram::new(LATENCY_BUCKETS),
        etcd_txn_conflicts: AtomicU64::new(0),
        etcd_txn_total: AtomicU64::new(0),
        write_batch: Histogram::new(BATCH_BUCKETS),
        connections_rejected: AtomicU64::new(0),
        connections_accepted: AtomicU64::new(0),
        tls_handshake_failures: AtomicU64::new(0),
        etcd_revision: AtomicI64::new(0),
        replica_lag: AtomicI64::new(0),
        etcd_up: AtomicBool::new(false),
        etcd_sampled_ms: AtomicI64::new(0),
    })
}

/// Request opcodes with a latency histogram; the last slot takes the rest.
const OPS: &[i32] = &[
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
    9,
    11,
    12,
    13,
    14,
    15,
    16,
    17,
    18,
    19,
    20,
    21,
    22,
    100,
    101,
    102,
    103,
    104,
    105,
    106,
    107,
    -10,
    -11,
    i32::MIN,
];

fn op_slot(op: i32) -> usize {
    OPS.iter().position(|o| *o == op).unwrap_or(OPS.len() - 1)
}

fn op_name(op: i32) -> &'static str {
    jute::OpCode::try_from(op)
        .map(|o| o.name())
        .unwrap_or("unknown")
}

impl Metrics {
    pub fn packet_received(&self) {
        self.packets_received.fetch_add(1, Ordering::Relaxed);
        self.server.received.fetch_add(1, Ordering::Relaxed);
    }

    pub fn packet_sent(&self) {
        self.packets_sent.fetch_add(1, Ordering::Relaxed);
        self.server.sent.fetch_add(1, Ordering::Relaxed);
    }

    /// A client request (or ping) of opcode `op` was answered.
    pub fn request_done(&self, op: i32, elapsed: Duration) {
        self.server.record_latency(elapsed.as_millis() as u64);
        self.requests[op_slot(op)].observe(elapsed.as_secs_f64());
    }

    /// A reply carried a non-zero error code.
    pub fn reply_error(&self, err: i32) {
        *self.reply_errors.lock().entry(err).or_insert(0) += 1;
    }

    /// One etcd transaction of the write path, carrying `writes` ZooKeeper
    /// requests, took `elapsed`; `succeeded` is false when a compare failed
    /// (a conflict: the requests are planned again).
    pub fn etcd_txn(&self, elapsed: Duration, succeeded: bool, writes: usize) {
        self.etcd_txn.observe(elapsed.as_secs_f64());
        self.etcd_txn_total.fetch_add(1, Ordering::Relaxed);
        if succeeded {
            self.write_batch(writes);
        } else {
            self.etcd_txn_conflicts.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// `n` ZooKeeper writes went into one etcd transaction.
    pub fn write_batch(&self, n: usize) {
        self.write_batch.observe(n as f64);
    }

    pub fn connection_accepted(&self) {
        self.connections_accepted.fetch_add(1, Ordering::Relaxed);
    }

    pub fn connection_rejected(&self) {
        self.connections_rejected.fetch_add(1, Ordering::Relaxed);
    }

    pub fn connections_rejected(&self) -> u64 {
        self.connections_rejected.load(Ordering::Relaxed)
    }

    pub fn tls_handshake_failed(&self) {
        self.tls_handshake_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// Counters and histograms in the Prometheus text format (gauges of
    /// the server's state are appended by the admin server).
    pub fn render(&self, out: &mut String) {
        counter(
            out,
            "zoe_packets_received_total",
            "Frames received from ZooKeeper clients.",
            self.packets_received.load(Ordering::Relaxed),
        );
        counter(
            out,
            "zoe_packets_sent_total",
            "Frames sent to ZooKeeper clients (replies and notifications).",
            self.packets_sent.load(Ordering::Relaxed),
        );
        counter(
            out,
            "zoe_connections_accepted_total",
            "Client connections accepted.",
            self.connections_accepted.load(Ordering::Relaxed),
        );
        counter(
            out,
            "zoe_connections_rejected_total",
            "Client connections closed at once because their IP reached max-client-cnxns.",
            self.connections_rejected(),
        );
        counter(
            out,
            "zoe_tls_handshake_failures_total",
            "TLS handshakes on the secure client port that failed.",
            self.tls_handshake_failures.load(Ordering::Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP zoe_request_duration_seconds Time from reading a request to queueing its reply, by opcode."
        );
        let _ = writeln!(out, "# TYPE zoe_request_duration_seconds histogram");
        let mut requests: Vec<(&'static str, &Histogram)> = OPS
            .iter()
            .zip(&self.requests)
            .filter(|(_, h)| h.count() > 0)
            .map(|(op, h)| (op_name(*op), h))
            .collect();
        requests.sort_by_key(|(name, _)| *name);
        for (op, h) in requests {
            h.render(
                out,
                "zoe_request_duration_seconds",
                &format!("op=\"{}\"", label(op)),
            );
        }
        let _ = writeln!(
            out,
            "# HELP zoe_reply_errors_total Replies with a non-zero ZooKeeper error code, by code."
        );
        let _ = writeln!(out, "# TYPE zoe_reply_errors_total counter");
        let errors: Vec<(i32, u64)> = self
            .reply_errors
            .lock()
            .iter()
            .map(|(k, v)| (*k, *v))
            .collect();
        for (code, n) in errors {
            let name = jute::ErrorCode::try_from(code)
                .map(|c| c.name())
                .unwrap_or("UNKNOWN");
            let _ = writeln!(
                out,
                "zoe_reply_errors_total{{code=\"{}\",name=\"{}\"}} {n}",
                code,
                label(name)
            );
        }
        let _ = writeln!(
            out,
            "# HELP zoe_etcd_txn_duration_seconds Latency of the write path's etcd transactions."
        );
        let _ = writeln!(out, "# TYPE zoe_etcd_txn_duration_seconds histogram");
        self.etcd_txn
            .render(out, "zoe_etcd_txn_duration_seconds", "");
        counter(
            out,
            "zoe_etcd_txn_conflicts_total",
            "Write-path etcd transactions whose compares failed (the write was planned again).",
            self.etcd_txn_conflicts.load(Ordering::Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP zoe_write_batch_size ZooKeeper writes committed per etcd transaction (group commit)."
        );
        let _ = writeln!(out, "# TYPE zoe_write_batch_size histogram");
        self.write_batch.render(out, "zoe_write_batch_size", "");
    }
}

pub fn counter(out: &mut String, name: &str, help: &str, v: u64) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} counter");
    let _ = writeln!(out, "{name} {v}");
}

pub fn gauge(out: &mut String, name: &str, help: &str, v: impl std::fmt::Display) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} gauge");
    let _ = writeln!(out, "{name} {v}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative() {
        let h = Histogram::new(&[1.0, 2.0]);
        h.observe(0.5);
        h.observe(1.5);
        h.observe(7.0);
        let mut s = String::new();
        h.render(&mut s, "x", "op=\"a\"");
        assert_eq!(
            s,
            "x_bucket{op=\"a\",le=\"1\"} 1\nx_bucket{op=\"a\",le=\"2\"} 2\n\
             x_bucket{op=\"a\",le=\"+Inf\"} 3\nx_sum{op=\"a\"} 9\nx_count{op=\"a\"} 3\n"
        );
        let mut s = String::new();
        h.render(&mut s, "y", "");
        assert!(
            s.contains("y_bucket{le=\"+Inf\"} 3\ny_sum 9\ny_count 3\n"),
            "{s}"
        );
    }

    #[test]
    fn labels_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
