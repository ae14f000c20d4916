//! Group commit: writes from all connections queue here and are committed
//! in batches, one etcd transaction per batch.
//!
//! While a transaction is in flight, new writes accumulate; the next batch
//! takes everything queued (up to the transaction size etcd accepts). The
//! writes of a batch are planned in queue order, each on top of the ones
//! before it, so the result is what running them one after another would
//! give — and the writes of one connection, which arrive in order, keep
//! their order. A connection can therefore pipeline its writes.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tracing::debug;

use crate::plan::{WriteCtx, WriteOp};
use crate::write::{WriteError, WriteOutcome, Writer};

pub type Outcome = Result<WriteOutcome, Arc<WriteError>>;

struct Job {
    ops: Vec<WriteOp>,
    ctx: WriteCtx,
    reply: oneshot::Sender<Outcome>,
}

#[derive(Clone)]
pub struct Committer {
    tx: mpsc::UnboundedSender<Job>,
}

/// etcd operations a ZooKeeper op may need (data, meta, child records),
/// for keeping a batch under etcd's --max-txn-ops.
const ETCD_OPS_PER_OP: usize = 4;

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
    let mut held: Option<Job> = None;
    loop {
        let first = match held.take() {
            Some(j) => j,
            None => match rx.recv().await {
                Some(j) => j,
                None => return,
            },
        };
        let mut budget = cost(&first.ops);
        let mut bytes = data_bytes(&first.ops);
        let mut jobs = vec![first];
        while let Ok(j) = rx.try_recv() {
            let cost = cost(&j.ops);
            let size = data_bytes(&j.ops);
            if budget + cost > max_txn_ops || bytes + size > MAX_BATCH_BYTES {
                held = Some(j);
                break;
            }
            budget += cost;
            bytes += size;
            jobs.push(j);
        }
        let (batch, replies): (Vec<_>, Vec<_>) =
            jobs.into_iter().map(|j| ((j.ops, j.ctx), j.reply)).unzip();
        if batch.len() > 1 {
            debug!(size = batch.len(), "group commit");
        }
        match writer.write_batch(&batch).await {
            Ok(outcomes) => {
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
            }
            Err(e) => {
                let e = Arc::new(e);
                for reply in replies {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }
}
