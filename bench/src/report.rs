//! Results: one `Report` per run, printed as a table row or as JSON.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::zk::{err_name, Stats};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Latency {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Report {
    pub workload: String,
    /// `zookeeper`, `zoe`, `etcd` or an address.
    pub target: String,
    pub connections: usize,
    pub outstanding: usize,
    pub value_size: usize,
    /// Length of the measured window in seconds.
    pub duration_s: f64,
    /// Successful operations measured (multi: whole multis).
    pub ops: u64,
    pub ops_per_sec: f64,
    /// For multi: the individual ops inside them per second.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_ops_per_sec: Option<f64>,
    /// Failed operations, all phases included.
    pub errors: u64,
    pub error_codes: BTreeMap<String, u64>,
    pub latency: Latency,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Report {
    pub fn from_stats(workload: &str, target: &str, st: &Stats, window_s: f64) -> Report {
        let h = &st.hist;
        let ms = |us: u64| us as f64 / 1000.0;
        let latency = if h.is_empty() {
            Latency::default()
        } else {
            Latency {
                p50_ms: ms(h.value_at_quantile(0.50)),
                p90_ms: ms(h.value_at_quantile(0.90)),
                p99_ms: ms(h.value_at_quantile(0.99)),
                p999_ms: ms(h.value_at_quantile(0.999)),
                max_ms: ms(h.max()),
                mean_ms: h.mean() / 1000.0,
            }
        };
        Report {
            workload: workload.to_string(),
            target: target.to_string(),
            duration_s: window_s,
            ops: st.ok,
            ops_per_sec: if window_s > 0.0 {
                st.ok as f64 / window_s
            } else {
                0.0
            },
            errors: st.error_count(),
            error_codes: st.errors.iter().map(|(k, v)| (err_name(*k), *v)).collect(),
            latency,
            ..Report::default()
        }
    }
}

pub fn table_header() -> String {
    format!(
        "{:<15} {:<10} {:>8} {:>11} {:>8} {:>8} {:>8} {:>8} {:>8}  {}",
        "workload",
        "target",
        "conn×out",
        "ops/s",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "p99.9",
        "max ms",
        "errors"
    )
}

pub fn table_row(r: &Report) -> String {
    let l = &r.latency;
    let errs = if r.errors > 0 {
        format!("!!! {} ERRORS {:?}", r.errors, r.error_codes)
    } else {
        "0".into()
    };
    let mut s = format!(
        "{:<15} {:<10} {:>8} {:>11.0} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.1}  {}",
        r.workload,
        r.target,
        format!("{}×{}", r.connections, r.outstanding),
        r.ops_per_sec,
        l.p50_ms,
        l.p90_ms,
        l.p99_ms,
        l.p999_ms,
        l.max_ms,
        errs
    );
    if let Some(sub) = r.sub_ops_per_sec {
        s.push_str(&format!("  ({sub:.0} ops/s inside multis)"));
    }
    if let Some(n) = &r.note {
        s.push_str(&format!("  [{n}]"));
    }
    s
}

pub fn print_errors_banner(reports: &[Report]) {
    let bad: Vec<&Report> = reports.iter().filter(|r| r.errors > 0).collect();
    if !bad.is_empty() {
        eprintln!();
        eprintln!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
        for r in bad {
            eprintln!(
                "!!! {} against {}: {} operations FAILED: {:?}",
                r.workload, r.target, r.errors, r.error_codes
            );
        }
        eprintln!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
    }
}
