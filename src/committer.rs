//! Group commit: writes from all connections queue here and are committed
//! in batches, one etcd transaction per batch.
//!
//! While a transaction is in flight, new writes accumulate; the next batch
//! takes what is queued (up to the transaction size etcd accepts), at most
//! one write per session, so that every write of a session gets a zxid of
//! its own as in ZooKeeper; writes of different sessions committed together
//! share one (docs/COMPATIBILITY.md). The writes of a batch are planned in
//! queue order, each on top of the ones before it, so the result is what
//! running them one after another would give — and the writes of one
//! connection, which arrive in order, keep their order. A connection can
//! therefore pipeline its writes.

use std::collections::{HashSet, VecDeque};

use tokio::sync::{mpsc, oneshot};
use tracing::debug;

use crate::plan::{WriteCtx, WriteOp};
pub use crate::write::Outcome;
use crate::write::Writer;

struct Job {
    ops: Vec<WriteOp>,
    ctx: WriteCtx,
    reply: oneshot::Sender<Outcome>,
}

#[derive(Clone)]
pub struct Committer {
    tx: mpsc::UnboundedSender<Job>,
}

/// etcd operations or compares a ZooKeeper op may need, for keeping a
/// batch under etcd's --max-txn-ops (which bounds each list of a
/// transaction). The largest is a versioned delete: compares on the
/// parent's data and meta keys, on the node's data key (existence and
/// version), meta key and both child counters — and, as puts and deletes,
/// the node's four keys plus the parent's two counters.
const ETCD_OPS_PER_OP: usize = 7;

/// What a write costs of a transaction's --max-txn-ops: its ops' puts and
/// compares, plus the compare on its session's record.
fn cost(ops: &[WriteOp]) -> usize {
    ops.len().max(1) * ETCD_OPS_PER_OP + 1
}

/// Data bytes one batch may carry, under etcd's default request limit
/// (--max-request-bytes, 1.5 MiB) with room for keys and metadata. A
/// single larger write still goes alone.
const MAX_BATCH_BYTES: usize = 1 << 20;

fn data_bytes(ops: &[WriteOp]) -> usize {
    ops.iter()
        .map(|op| match op {
            WriteOp::Create { data, .. } | WriteOp::SetData { data, .. } => {
                data.as_ref().map(|d| d.len()).unwrap_or(0) + 256
            }
            _ => 256,
        })
        .sum()
}

impl Committer {
    pub fn start(writer: Writer, max_txn_ops: usize) -> Committer {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(writer, rx, max_txn_ops.max(ETCD_OPS_PER_OP + 1)));
        Committer { tx }
    }

    /// Queues a write; the receiver yields its outcome once committed and
    /// applied by the replica.
    pub fn submit(&self, ops: Vec<WriteOp>, ctx: WriteCtx) -> oneshot::Receiver<Outcome> {
        let (reply, rx) = oneshot::channel();
        let _ = self.tx.send(Job { ops, ctx, reply });
        rx
    }
}

async fn run(writer: Writer, mut rx: mpsc::UnboundedReceiver<Job>, max_txn_ops: usize) {
    let mut queue: VecDeque<Job> = VecDeque::new();
    loop {
        if queue.is_empty() {
            match rx.recv().await {
                Some(j) => queue.push_back(j),
                None => return,
            }
        }
        while let Ok(j) = rx.try_recv() {
            queue.push_back(j);
        }
        let jobs = next_batch(&mut queue, max_txn_ops);
        let (batch, replies): (Vec<_>, Vec<_>) =
            jobs.into_iter().map(|j| ((j.ops, j.ctx), j.reply)).unzip();
        if batch.len() > 1 {
            debug!(size = batch.len(), "group commit");
        }
        let outcomes = writer.write_batch(&batch).await;
        for (reply, outcome) in replies.into_iter().zip(outcomes) {
            let _ = reply.send(outcome);
        }
    }
}

/// Takes the next batch off the queue, in queue order: at most one write
/// per session — a session's writes each get a zxid of their own, as in
/// ZooKeeper, so its later writes wait for the next batch (and every write
/// of that session after them too, keeping its order) — and within etcd's
/// transaction size and request byte limits. Never empty if the queue is
/// not.
fn next_batch(queue: &mut VecDeque<Job>, max_txn_ops: usize) -> Vec<Job> {
    let mut batch = Vec::new();
    let mut rest = VecDeque::with_capacity(queue.len());
    // Sessions with a write in this batch or one held back.
    let mut seen: HashSet<i64> = HashSet::new();
    let (mut budget, mut bytes) = (0usize, 0usize);
    let mut full = false;
    for job in queue.drain(..) {
        let cost = cost(&job.ops);
        let size = data_bytes(&job.ops);
        let fits =
            batch.is_empty() || (budget + cost <= max_txn_ops && bytes + size <= MAX_BATCH_BYTES);
        full |= !fits;
        if full || !seen.insert(job.ctx.session_id) {
            seen.insert(job.ctx.session_id);
            rest.push_back(job);
            continue;
        }
        budget += cost;
        bytes += size;
        batch.push(job);
    }
    *queue = rest;
    batch
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(session: i64, path: &str) -> Job {
        let (reply, _) = oneshot::channel();
        Job {
            ops: vec![WriteOp::Delete {
                path: path.into(),
                version: -1,
            }],
            ctx: WriteCtx {
                session_id: session,
                auth_ids: vec![],
                now_ms: 0,
                ttl_enabled: false,
                attached_rev: None,
            },
            reply,
        }
    }

    fn paths(jobs: &[Job]) -> Vec<String> {
        jobs.iter()
            .map(|j| match &j.ops[0] {
                WriteOp::Delete { path, .. } => path.clone(),
                _ => unreachable!(),
            })
            .collect()
    }

    #[test]
    fn one_write_per_session_per_batch_in_order() {
        let mut q: VecDeque<Job> = [
            job(1, "/a1"),
            job(1, "/a2"),
            job(2, "/b1"),
            job(1, "/a3"),
            job(3, "/c1"),
            job(2, "/b2"),
        ]
        .into_iter()
        .collect();
        assert_eq!(paths(&next_batch(&mut q, 10_000)), ["/a1", "/b1", "/c1"]);
        assert_eq!(paths(&next_batch(&mut q, 10_000)), ["/a2", "/b2"]);
        assert_eq!(paths(&next_batch(&mut q, 10_000)), ["/a3"]);
        assert!(q.is_empty());
    }

    #[test]
    fn a_full_batch_keeps_the_rest_in_order() {
        let mut q: VecDeque<Job> = (0..5).map(|i| job(i, &format!("/n{i}"))).collect();
        // room for two writes per transaction
        let room = 2 * cost(&q[0].ops);
        let b = next_batch(&mut q, room);
        assert_eq!(paths(&b), ["/n0", "/n1"]);
        assert_eq!(paths(&next_batch(&mut q, room)), ["/n2", "/n3"]);
        // a single write larger than the budget still goes, alone
        let mut q: VecDeque<Job> = [job(1, "/x"), job(2, "/y")].into_iter().collect();
        assert_eq!(paths(&next_batch(&mut q, 1)), ["/x"]);
    }
}
