//! Committing a planned write: one etcd transaction per ZooKeeper write.
//!
//! The plan is made against the replica without reading etcd first. If a
//! compare fails, the replica was behind: wait until it has caught up to
//! the revision etcd reported, and plan again. An error is only returned
//! after etcd confirmed (with the same compares) that the facts behind it
//! still hold, so writes stay linearizable even on a stale replica.

use std::sync::Arc;
use std::time::Duration;

use etcd_client::{Compare, CompareOp, KvClient, Txn, TxnOp};
use jute::ErrorCode;
use tracing::{debug, warn};

use crate::plan::{OpResult, Plan, Planner, WriteCtx, WriteOp};
use crate::replica::{Replica, State};
use crate::tree::Tree;

/// Whether a client's write may still commit for its session.
enum SessionGuard {
    /// Not a client's write.
    None,
    /// Commit only if the session record still has this revision.
    Compare(Compare),
    /// The session moved to another connection, or ended: refuse.
    Refuse(ErrorCode),
}

/// A client's write carries the session record revision its connection
/// attached at (`WriteCtx::attached_rev`). A resume on any instance
/// rewrites the record, so a request read by an instance before its
/// client moved on (a paused or slow instance) can never commit after the
/// client's later requests, as ZooKeeper's SESSIONMOVED guarantees.
fn session_guard(state: &State, replica: &Replica, ctx: &WriteCtx) -> SessionGuard {
    let Some(attached) = ctx.attached_rev else {
        return SessionGuard::None;
    };
    let entry = state.tree.session(ctx.session_id);
    if state.revision >= attached {
        match entry {
            None => return SessionGuard::Refuse(ErrorCode::SessionExpired),
            Some(e) if e.mod_rev != attached => {
                return SessionGuard::Refuse(ErrorCode::SessionMoved)
            }
            Some(_) => {}
        }
    }
    // Current as far as the replica knows (or the replica has not seen the
    // attach yet): etcd decides.
    SessionGuard::Compare(Compare::mod_revision(
        replica.layout().session_key(ctx.session_id),
        CompareOp::Equal,
        attached,
    ))
}

/// What became of one write: an etcd failure leaves it unknown.
pub type Outcome = Result<WriteOutcome, Arc<WriteError>>;

#[derive(Debug)]
pub enum WriteOutcome {
    /// Committed at `zxid`.
    Done { zxid: i64, results: Vec<OpResult> },
    /// Op `index` failed with `code`; nothing was applied.
    Failed {
        zxid: i64,
        index: usize,
        code: ErrorCode,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("etcd: {0}")]
    Etcd(#[from] etcd_client::Error),
    #[error("the replica did not catch up with etcd in time")]
    Lagging,
    #[error("abandoned: its premise no longer holds")]
    Abandoned,
    #[error("gave up after {0} conflicting attempts")]
    Contention(usize),
}

/// Extra compares and operations to fold into the transaction of a write
/// (session bookkeeping that must commit atomically with it).
#[derive(Default, Clone)]
pub struct Extra {
    pub compares: Vec<Compare>,
    pub ops: Vec<TxnOp>,
}

#[derive(Clone)]
pub struct Writer {
    kv: KvClient,
    replica: Arc<Replica>,
}

const MAX_ATTEMPTS: usize = 64;
const CATCH_UP: Duration = Duration::from_secs(10);

impl Writer {
    pub fn new(kv: KvClient, replica: Arc<Replica>) -> Writer {
        Writer { kv, replica }
    }

    pub fn replica(&self) -> &Arc<Replica> {
        &self.replica
    }

    /// Commits a client's write.
    pub async fn write(&self, ops: &[WriteOp], ctx: &WriteCtx) -> Result<WriteOutcome, WriteError> {
        self.write_with(ctx, |_| Some((ops.to_vec(), Extra::default())))
            .await
    }

    /// Commits several independent requests in one etcd transaction (group
    /// commit). They are planned in order, each on top of the ones before,
    /// exactly as if they had run one after another; each gets its own
    /// outcome. All that succeed share the commit revision as their zxid.
    ///
    /// A request that cannot share the transaction with the ones before it
    /// (`Planner::take_deferred`) is committed after it, on its own.
    pub async fn write_batch(&self, batch: &[(Vec<WriteOp>, WriteCtx)]) -> Vec<Outcome> {
        let (outcomes, deferred) = match self.commit_batch(batch).await {
            Ok(done) => done,
            Err(e) => {
                let e = Arc::new(e);
                return batch.iter().map(|_| Err(e.clone())).collect();
            }
        };
        let mut outcomes: Vec<Outcome> = outcomes.into_iter().map(Ok).collect();
        for i in deferred {
            // A batch of one never defers.
            outcomes[i] = match self.commit_batch(std::slice::from_ref(&batch[i])).await {
                Ok((mut alone, _)) => Ok(alone.pop().expect("one outcome per request")),
                Err(e) => Err(Arc::new(e)),
            };
        }
        outcomes
    }

    /// One transaction for `batch`; also says which requests were deferred
    /// (their outcomes here are placeholders).
    async fn commit_batch(
        &self,
        batch: &[(Vec<WriteOp>, WriteCtx)],
    ) -> Result<(Vec<WriteOutcome>, Vec<usize>), WriteError> {
        let kv = &self.kv;
        for attempt in 0..MAX_ATTEMPTS {
            let mut deferred = Vec::new();
            let (outcomes, compares, ops, base) = {
                let state = self.replica.read();
                let mut planner = Planner::new(&state.tree, self.replica.layout(), &batch[0].1);
                let mut sessions: Vec<Compare> = Vec::new();
                let mut guarded: Vec<i64> = Vec::new();
                let outcomes: Vec<_> = batch
                    .iter()
                    .enumerate()
                    .map(|(i, (ops, ctx))| {
                        let outcome = match session_guard(&state, &self.replica, ctx) {
                            SessionGuard::Refuse(code) => Err((0, code)),
                            SessionGuard::Compare(c) => {
                                if !guarded.contains(&ctx.session_id) {
                                    guarded.push(ctx.session_id);
                                    sessions.push(c);
                                }
                                planner.plan_request(ops, ctx)
                            }
                            SessionGuard::None => planner.plan_request(ops, ctx),
                        };
                        if planner.take_deferred() {
                            deferred.push(i);
                        }
                        outcome
                    })
                    .collect();
                let changes = planner.has_changes();
                let (mut compares, ops) = planner.finish();
                compares.extend(sessions);
                (
                    outcomes,
                    compares,
                    if changes { ops } else { vec![] },
                    state.revision,
                )
            };
            // A failure takes the revision it was proven at: the
            // transaction's, when its compares were checked, or the
            // replica's when it needed no proof. Never an older one: a
            // replica that lags (a paused instance) must not answer with a
            // zxid from before writes acknowledged to others. And never
            // older than the replica: etcd may answer a read-only
            // transaction with the revision before one whose events it
            // has already sent to watchers (it notifies them before it
            // publishes the new revision), and the facts the compares
            // checked still held at the replica's revision.
            let failed = |outcomes: Vec<Result<Vec<OpResult>, (usize, ErrorCode)>>, zxid: i64| {
                outcomes
                    .into_iter()
                    .map(|o| match o {
                        Ok(mut results) => {
                            for r in &mut results {
                                r.finalize(zxid);
                            }
                            WriteOutcome::Done { zxid, results }
                        }
                        Err((index, code)) => WriteOutcome::Failed {
                            zxid: zxid.max(base),
                            index,
                            code,
                        },
                    })
                    .collect::<Vec<_>>()
            };
            if compares.is_empty() && ops.is_empty() {
                return Ok((failed(outcomes, base), deferred));
            }
            let sent_at = std::time::Instant::now();
            let txn = Txn::new().when(compares).and_then(ops);
            let resp = txn_unsent_retried(kv, txn).await?;
            crate::metrics::global().etcd_txn(sent_at.elapsed(), resp.succeeded(), batch.len());
            let rev = resp.header().map(|h| h.revision()).unwrap_or(0);
            if resp.succeeded() {
                if !self.replica.wait_for(rev, CATCH_UP).await {
                    return Err(WriteError::Lagging);
                }
                return Ok((failed(outcomes, rev), deferred));
            }
            debug!(
                attempt,
                base,
                rev,
                size = batch.len(),
                "batch conflicted; catching up"
            );
            if !self.replica.wait_for(rev, CATCH_UP).await {
                return Err(WriteError::Lagging);
            }
        }
        warn!(size = batch.len(), "batch gave up under contention");
        Err(WriteError::Contention(MAX_ATTEMPTS))
    }

    /// Commits a write whose ops (and extra guarded operations) are derived
    /// from the tree on every attempt; `build` returning `None` abandons it.
    pub async fn write_with(
        &self,
        ctx: &WriteCtx,
        build: impl Fn(&Tree) -> Option<(Vec<WriteOp>, Extra)>,
    ) -> Result<WriteOutcome, WriteError> {
        let kv = &self.kv;
        for attempt in 0..MAX_ATTEMPTS {
            let (plan, base, extra) = {
                let state = self.replica.read();
                let Some((ops, extra)) = build(&state.tree) else {
                    return Err(WriteError::Abandoned);
                };
                let plan = Planner::new(&state.tree, self.replica.layout(), ctx).plan(&ops);
                (plan, state.revision, extra)
            };
            let (txn, on_success) = match plan {
                Plan::Fail {
                    index,
                    code,
                    compares,
                } => {
                    if compares.is_empty() {
                        return Ok(WriteOutcome::Failed {
                            zxid: base,
                            index,
                            code,
                        });
                    }
                    (Txn::new().when(compares), Err((index, code)))
                }
                Plan::Commit {
                    mut compares,
                    mut ops,
                    results,
                } => {
                    compares.extend(extra.compares);
                    ops.extend(extra.ops);
                    (Txn::new().when(compares).and_then(ops), Ok(results))
                }
            };
            let sent_at = std::time::Instant::now();
            let resp = txn_unsent_retried(kv, txn).await?;
            crate::metrics::global().etcd_txn(sent_at.elapsed(), resp.succeeded(), 1);
            let rev = resp.header().map(|h| h.revision()).unwrap_or(0);
            if resp.succeeded() {
                // Whatever the answer, it is stamped with the revision it
                // was proven at, and the replica reaches that revision
                // first, so what the writer reads next is not older.
                if !self.replica.wait_for(rev, CATCH_UP).await {
                    return Err(WriteError::Lagging);
                }
                return Ok(match on_success {
                    // See `write_batch` for why not older than the replica.
                    Err((index, code)) => WriteOutcome::Failed {
                        zxid: rev.max(base),
                        index,
                        code,
                    },
                    Ok(mut results) => {
                        for r in &mut results {
                            r.finalize(rev);
                        }
                        WriteOutcome::Done { zxid: rev, results }
                    }
                });
            }
            debug!(attempt, base, rev, "write conflicted; catching up");
            if !self.replica.wait_for(rev, CATCH_UP).await {
                return Err(WriteError::Lagging);
            }
        }
        warn!("write gave up under contention");
        Err(WriteError::Contention(MAX_ATTEMPTS))
    }
}

/// Sends a transaction, again if it could not reach etcd the first time
/// (a member down): it was certainly not applied then. A transaction that
/// failed after it was sent is not repeated; its outcome is unknown.
async fn txn_unsent_retried(
    kv: &KvClient,
    txn: Txn,
) -> Result<etcd_client::TxnResponse, etcd_client::Error> {
    crate::etcd::retry_unsent(|| {
        let mut kv = kv.clone();
        let txn = txn.clone();
        async move { kv.txn(txn).await }
    })
    .await
}
