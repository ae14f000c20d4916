//! Raw etcd write throughput at the same concurrency as the ZooKeeper
//! workloads: the floor under zoe's writes (every zoe write is one etcd
//! transaction).

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::ValueEnum;
use etcd_client::{Client, Compare, CompareOp, DeleteOptions, Txn, TxnOp};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::report::Report;
use crate::workloads::LoadOpts;
use crate::zk::Stats;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
pub enum EtcdOp {
    /// One put of --value-size bytes.
    Put,
    /// One transaction shaped like a zoe setData: a compare on the data
    /// key's mod_revision, then a put of the data key and of a ~60-byte
    /// meta key.
    Txn,
}

impl EtcdOp {
    pub fn name(self) -> &'static str {
        match self {
            EtcdOp::Put => "etcd-put",
            EtcdOp::Txn => "etcd-txn",
        }
    }
}

/// `--connections` clients (each its own gRPC channel), each with
/// `--outstanding` concurrent requests, on a pool of `--keys` keys.
pub async fn run(endpoint: &str, op: EtcdOp, o: &LoadOpts) -> Result<Report> {
    let prefix = format!(
        "zoe-bench-raw-{}-{:08x}/",
        std::process::id(),
        rand::random::<u32>()
    );
    let value = vec![b'x'; o.value_size];
    let meta = br#"{"ct":1764108852123,"mt":1764108852123}"#.to_vec();
    let keys = o.keys.max(1);
    let start = Instant::now() + Duration::from_millis(200);
    let record_from = start + Duration::from_secs_f64(o.warmup);
    let end = record_from + Duration::from_secs_f64(o.duration);
    let per_task_interval = if o.rate > 0.0 {
        Some(Duration::from_secs_f64(
            (o.connections * o.outstanding) as f64 / o.rate,
        ))
    } else {
        None
    };
    let mut tasks = Vec::new();
    for c in 0..o.connections.max(1) {
        let client = Client::connect([endpoint], None)
            .await
            .with_context(|| format!("connect etcd {endpoint}"))?;
        for t in 0..o.outstanding.max(1) {
            let mut kv = client.kv_client();
            let prefix = prefix.clone();
            let value = value.clone();
            let meta = meta.clone();
            tasks.push(tokio::spawn(async move {
                let mut rng = SmallRng::seed_from_u64((c * 1000 + t) as u64);
                let mut st = Stats::default();
                tokio::time::sleep_until(start.into()).await;
                let mut seq = 0u32;
                loop {
                    let sched = match per_task_interval {
                        Some(iv) => {
                            let s = start + iv * seq;
                            tokio::time::sleep_until(s.into()).await;
                            s
                        }
                        None => Instant::now(),
                    };
                    if sched >= end {
                        break;
                    }
                    seq += 1;
                    let k = rng.gen_range(0..keys);
                    let key = format!("{prefix}k{k}");
                    let r = match op {
                        EtcdOp::Put => kv.put(key, value.clone(), None).await.map(|_| ()),
                        EtcdOp::Txn => {
                            let txn = Txn::new()
                                .when([Compare::mod_revision(
                                    key.clone(),
                                    CompareOp::Less,
                                    i64::MAX,
                                )])
                                .and_then([
                                    TxnOp::put(key.clone(), value.clone(), None),
                                    TxnOp::put(format!("{prefix}m/k{k}"), meta.clone(), None),
                                ]);
                            kv.txn(txn).await.map(|_| ())
                        }
                    };
                    let err = if r.is_ok() {
                        0
                    } else {
                        jute::ErrorCode::SystemError.as_i32()
                    };
                    st.record(sched.elapsed(), err, sched >= record_from);
                }
                st.sent = seq as u64;
                st
            }));
        }
    }
    let mut total = Stats::default();
    for t in tasks {
        total.merge(&t.await?);
    }
    // Clean up.
    let mut client = Client::connect([endpoint], None).await?;
    client
        .delete(prefix.clone(), Some(DeleteOptions::new().with_prefix()))
        .await?;
    let mut r = Report::from_stats(op.name(), "etcd", &total, o.duration);
    r.connections = o.connections;
    r.outstanding = o.outstanding;
    r.value_size = o.value_size;
    r.note = Some(match op {
        EtcdOp::Put => "one put".into(),
        EtcdOp::Txn => "compare + 2 puts (zoe setData shape)".into(),
    });
    Ok(r)
}
