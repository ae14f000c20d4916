//! The accountant: folds the child changes other writers made into the
//! child records, so they survive every instance restarting.
//!
//! A key another writer puts or deletes (Pulsar's etcd metadata store on a
//! shared tree) changes its parent's children, but not zoe's child record
//! `0zoe/c<parent>`. Every replica counts such a change at once, at its
//! revision, as *pending* on the parent (`tree::Pending`): pending changes
//! after the record's `base` revision are added to what the record says, so
//! every instance shows the same cversion, creates and pzxid at the same
//! revision, and a client that re-reads after NodeChildrenChanged sees the
//! higher cversion. zoe's own exact counter writes include them (and move
//! the base to the revision they were planned at).
//!
//! One instance at a time — the holder of the lease-bound key
//! `0zoe/acct-lock` — makes the counts durable: every `INTERVAL` it writes
//! each parent with pending changes as an exact record with base = the
//! revision its replica is at (guarded by the record's mod_revision and the
//! deletes key's version, so it never overwrites a count it did not see),
//! deletes counter keys whose znode is gone, and then advances the
//! watermark `0zoe/acct` to that revision. The values clients see do not
//! move when a fold lands: what the record gains, pending loses.
//!
//! Every change at or before the watermark is in the records, so an
//! instance loads the keys at the watermark and replays the revisions after
//! it (`replica::build_tree`), and computes exactly what the running
//! instances compute. If etcd has compacted that history (every instance
//! was down longer than etcd keeps it), the first instance to start
//! `rebase`s: it adds a conservative amount to every child counter, so no
//! client that saw a higher count before sees it fall, and starts a new
//! watermark.
//!
//! Correctness never rests on there being one accountant: every write is
//! guarded. The lock only keeps instances from doing the same work.

use std::sync::Arc;
use std::time::{Duration, Instant};

use etcd_client::{Client, Compare, CompareOp, PutOptions, Txn, TxnOp};
use tracing::{debug, info, warn};

use crate::layout::{self, ChildRec, ChildRecord, Layout, WatermarkRec};
use crate::replica::Replica;
use crate::tree::Tree;

/// How often the accountant looks for work.
const INTERVAL: Duration = Duration::from_millis(250);

/// TTL of the lock's lease, seconds: how long the other instances wait
/// after the accountant dies.
const LOCK_TTL: i64 = 10;

/// How often the lock's lease is refreshed.
const KEEPALIVE: Duration = Duration::from_secs(3);

/// How often an instance that is not the accountant checks the lock.
const LOCK_CHECK: Duration = Duration::from_secs(2);

/// The watermark is moved on an otherwise idle tree once it lags this many
/// revisions, to keep the replay at start short.
const IDLE_ADVANCE: i64 = 1000;

/// The most a rebase adds to a counter.
const MAX_REBASE: i64 = 65_536;

/// One write the accountant owes.
#[derive(Debug, Clone)]
enum Item {
    /// Write the exact record of a znode with pending changes.
    Fold {
        path: String,
        rec: ChildRecord,
        crec_rev: i64,
        deletes: i64,
    },
    /// Delete the counter keys of a znode that is gone.
    Orphan {
        path: String,
        crec_rev: i64,
        deletes: i64,
    },
}

impl Item {
    fn compares(&self, layout: &Layout) -> Vec<Compare> {
        match self {
            Item::Fold {
                path,
                crec_rev,
                deletes,
                ..
            } => vec![
                Compare::mod_revision(layout.children_key(path), CompareOp::Equal, *crec_rev),
                Compare::version(layout.deletes_key(path), CompareOp::Equal, *deletes),
            ],
            Item::Orphan {
                path,
                crec_rev,
                deletes,
            } => {
                let (below, below_end) = layout.descendants_range(path);
                vec![
                    Compare::mod_revision(layout.children_key(path), CompareOp::Equal, *crec_rev),
                    Compare::version(layout.deletes_key(path), CompareOp::Equal, *deletes),
                    // Still no znode: no key of its own and none below it
                    // (a range compare holds for an empty range).
                    Compare::create_revision(layout.data_key(path), CompareOp::Equal, 0),
                    Compare::create_revision(below, CompareOp::Equal, 0).with_range(below_end),
                ]
            }
        }
    }

    fn ops(&self, layout: &Layout) -> Vec<TxnOp> {
        match self {
            Item::Fold { path, rec, .. } => vec![TxnOp::put(
                layout.children_key(path),
                layout::encode(rec),
                None,
            )],
            Item::Orphan { path, .. } => vec![
                TxnOp::delete(layout.children_key(path), None),
                TxnOp::delete(layout.deletes_key(path), None),
            ],
        }
    }
}

/// What the accountant owes at one revision of the replica.
#[derive(Debug)]
struct Work {
    revision: i64,
    items: Vec<Item>,
    /// (through, mod_revision) of the watermark.
    watermark: Option<(i64, i64)>,
}

impl Work {
    fn survey(tree: &Tree, revision: i64) -> Work {
        let mut items = Vec::new();
        for p in tree.pending_paths() {
            let Some(e) = tree.raw(p) else { continue };
            if !e.exists() {
                continue;
            }
            let version = e.crec_version() + 1;
            let rec = ChildRecord::folded(
                e.child_rec(p),
                e.stat(p).pzxid,
                version,
                e.deletes,
                revision,
            );
            items.push(Item::Fold {
                path: p.to_string(),
                rec,
                crec_rev: e.crec_rev(),
                deletes: e.deletes,
            });
        }
        for p in tree.orphans() {
            let Some(e) = tree.raw(p) else { continue };
            items.push(Item::Orphan {
                path: p.to_string(),
                crec_rev: e.crec_rev(),
                deletes: e.deletes,
            });
        }
        Work {
            revision,
            items,
            watermark: tree.watermark(),
        }
    }

    /// Whether the watermark should move to this revision.
    fn advances_watermark(&self) -> bool {
        match self.watermark {
            Some((through, _)) => {
                through < self.revision
                    && (!self.items.is_empty() || self.revision - through >= IDLE_ADVANCE)
            }
            // A tree nobody else writes needs none; one that got a change
            // from another writer gets one with its first fold.
            None => !self.items.is_empty(),
        }
    }

    fn is_idle(&self) -> bool {
        !self.advances_watermark() && self.items.is_empty()
    }
}

/// Starts the accountant of this instance.
pub fn start(replica: Arc<Replica>, instance: String, max_txn_ops: usize) {
    let acc = Accountant {
        client: replica.client().clone(),
        layout: replica.layout().clone(),
        replica,
        instance,
        max_txn_ops: max_txn_ops.max(8),
        lease: None,
        last_check: None,
    };
    tokio::spawn(acc.run());
}

struct Accountant {
    client: Client,
    layout: Layout,
    replica: Arc<Replica>,
    instance: String,
    max_txn_ops: usize,
    /// The lease the lock is held on, and when it was last refreshed.
    lease: Option<(i64, Instant)>,
    /// When a lock held by another instance was last looked at.
    last_check: Option<Instant>,
}

impl Accountant {
    async fn run(mut self) {
        let mut tick = tokio::time::interval(INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let work = {
                let st = self.replica.read();
                Work::survey(&st.tree, st.tree.revision())
            };
            if work.is_idle() && self.lease.is_none() {
                continue;
            }
            if !self.hold_lock().await {
                continue;
            }
            if work.is_idle() {
                continue;
            }
            if let Err(e) = self.round(work).await {
                warn!(error = %e, "accountant round failed");
            }
        }
    }

    /// Whether this instance holds the lock (taking it if it is free).
    async fn hold_lock(&mut self) -> bool {
        if let Some((lease, refreshed)) = self.lease {
            if refreshed.elapsed() < KEEPALIVE {
                return true;
            }
            match self.refresh(lease).await {
                Ok(true) => {
                    self.lease = Some((lease, Instant::now()));
                    return true;
                }
                Ok(false) => {
                    info!("accountant lock lost (its lease expired)");
                    self.lease = None;
                }
                Err(e) => {
                    debug!(error = %e, "accountant lease refresh failed");
                    // Still ours until the TTL says otherwise.
                    return refreshed.elapsed() < Duration::from_secs(LOCK_TTL as u64 / 2);
                }
            }
        }
        if self.last_check.is_some_and(|t| t.elapsed() < LOCK_CHECK) {
            return false;
        }
        self.last_check = Some(Instant::now());
        match self.acquire().await {
            Ok(Some(lease)) => {
                info!(instance = %self.instance, "this instance is the accountant");
                self.lease = Some((lease, Instant::now()));
                true
            }
            Ok(None) => false,
            Err(e) => {
                debug!(error = %e, "cannot take the accountant lock");
                false
            }
        }
    }

    async fn refresh(&self, lease: i64) -> anyhow::Result<bool> {
        let mut lc = self.client.lease_client();
        let (mut keeper, mut stream) = lc.keep_alive(lease).await?;
        keeper.keep_alive().await?;
        let resp = tokio::time::timeout(Duration::from_secs(5), stream.message())
            .await
            .map_err(|_| anyhow::anyhow!("no keep-alive answer"))??;
        Ok(resp.is_some_and(|r| r.ttl() > 0))
    }

    /// Takes the lock if nobody holds it: Some(lease) when taken.
    async fn acquire(&self) -> anyhow::Result<Option<i64>> {
        let key = self.layout.accountant_lock_key();
        let mut kv = self.client.kv_client();
        if !kv.get(key.clone(), None).await?.kvs().is_empty() {
            return Ok(None);
        }
        let mut lc = self.client.lease_client();
        let lease = lc.grant(LOCK_TTL, None).await?.id();
        let txn = Txn::new()
            .when(vec![Compare::create_revision(
                key.clone(),
                CompareOp::Equal,
                0,
            )])
            .and_then(vec![TxnOp::put(
                key,
                self.instance.clone(),
                Some(PutOptions::new().with_lease(lease)),
            )]);
        if kv.txn(txn).await?.succeeded() {
            Ok(Some(lease))
        } else {
            let _ = lc.revoke(lease).await;
            Ok(None)
        }
    }

    /// Writes what `work` owes, then the watermark.
    async fn round(&mut self, work: Work) -> anyhow::Result<()> {
        let Some((lease, _)) = self.lease else {
            return Ok(());
        };
        let lock = Compare::lease(self.layout.accountant_lock_key(), CompareOp::Equal, lease);
        let mut kv = self.client.kv_client();
        let mut last = 0;
        let mut folded = 0;
        let mut batch_compares = Vec::new();
        let mut batch_ops = Vec::new();
        let mut pending_items = work.items.iter().peekable();
        while let Some(item) = pending_items.next() {
            batch_compares.extend(item.compares(&self.layout));
            batch_ops.extend(item.ops(&self.layout));
            folded += 1;
            let full = pending_items.peek().is_none_or(|next| {
                batch_compares.len() + next.compares(&self.layout).len() + 1 > self.max_txn_ops
                    || batch_ops.len() + next.ops(&self.layout).len() > self.max_txn_ops
            });
            if !full {
                continue;
            }
            let mut compares = std::mem::take(&mut batch_compares);
            compares.push(lock.clone());
            let txn = Txn::new()
                .when(compares)
                .and_then(std::mem::take(&mut batch_ops));
            let resp = kv.txn(txn).await?;
            if !resp.succeeded() {
                // A record moved (zoe wrote it, or the lock is gone): the
                // replica catches up and the next round decides again.
                debug!(
                    revision = work.revision,
                    "accountant guard failed; next round"
                );
                self.catch_up(last).await;
                return Ok(());
            }
            last = resp.header().map(|h| h.revision()).unwrap_or(last);
        }
        if work.advances_watermark() {
            let wm_rev = work.watermark.map(|w| w.1).unwrap_or(0);
            let key = self.layout.watermark_key();
            let txn = Txn::new()
                .when(vec![
                    Compare::mod_revision(key.clone(), CompareOp::Equal, wm_rev),
                    lock,
                ])
                .and_then(vec![TxnOp::put(
                    key,
                    layout::encode(&WatermarkRec {
                        through: work.revision,
                    }),
                    None,
                )]);
            let resp = kv.txn(txn).await?;
            if resp.succeeded() {
                last = resp.header().map(|h| h.revision()).unwrap_or(last);
                debug!(through = work.revision, folded, "watermark advanced");
            }
        }
        self.catch_up(last).await;
        Ok(())
    }

    /// Waits for the replica to see this round's writes, so the next round
    /// starts from them.
    async fn catch_up(&self, rev: i64) {
        if rev > 0 {
            self.replica.wait_for(rev, Duration::from_secs(10)).await;
        }
    }
}

/// Creates the watermark at `rev` if there is none. Ok(false): another
/// instance was first.
pub async fn create_watermark(client: &Client, layout: &Layout, rev: i64) -> anyhow::Result<bool> {
    let key = layout.watermark_key();
    let txn = Txn::new()
        .when(vec![Compare::create_revision(
            key.clone(),
            CompareOp::Equal,
            0,
        )])
        .and_then(vec![TxnOp::put(
            key,
            layout::encode(&WatermarkRec { through: rev }),
            None,
        )]);
    Ok(client.kv_client().txn(txn).await?.succeeded())
}

/// After etcd compacted the history after the watermark `old`, the
/// pending counts of that time are lost: raises every child counter by
/// the number of revisions since (at most `MAX_REBASE`), which no pending
/// count can have exceeded unless single revisions carried many changes
/// under one parent, and starts a new watermark at the revision read.
pub async fn rebase(
    client: &Client,
    layout: &Layout,
    old: i64,
    max_txn_ops: usize,
) -> anyhow::Result<()> {
    let mut kv = client.kv_client();
    let wm_rev = kv
        .get(layout.watermark_key(), None)
        .await?
        .kvs()
        .first()
        .map(|k| k.mod_revision())
        .unwrap_or(0);
    let snap = crate::replica::snapshot(client, layout, None).await?;
    let at = snap.revision;
    let mut tree = Tree::new();
    tree.load(snap.changes, at);
    let bump = (at - old).clamp(1, MAX_REBASE) as i32;
    warn!(
        watermark = old,
        revision = at,
        bump,
        "etcd compacted the history after the watermark: raising every child counter so none \
         goes back"
    );
    let mut items = Vec::new();
    for p in tree.paths() {
        let Some(e) = tree.get(p) else { continue };
        if e.special && p != "/" {
            continue;
        }
        if e.children.is_empty() && e.crec.is_none() {
            continue;
        }
        let c = e.child_rec(p);
        let counters = ChildRec {
            cversion: c.cversion.wrapping_add(bump),
            creates: c.creates.wrapping_add(bump),
        };
        items.push(Item::Fold {
            path: p.to_string(),
            rec: ChildRecord::exact(counters, e.crec_version() + 1, e.deletes, at),
            crec_rev: e.crec_rev(),
            deletes: e.deletes,
        });
    }
    for chunk in items.chunks((max_txn_ops / 2).max(1)) {
        let txn = Txn::new()
            .when(
                chunk
                    .iter()
                    .flat_map(|i| i.compares(layout))
                    .collect::<Vec<_>>(),
            )
            .and_then(chunk.iter().flat_map(|i| i.ops(layout)).collect::<Vec<_>>());
        if !kv.txn(txn).await?.succeeded() {
            anyhow::bail!("a child record moved during the rebase");
        }
    }
    let key = layout.watermark_key();
    let txn = Txn::new()
        .when(vec![Compare::mod_revision(
            key.clone(),
            CompareOp::Equal,
            wm_rev,
        )])
        .and_then(vec![TxnOp::put(
            key,
            layout::encode(&WatermarkRec { through: at }),
            None,
        )]);
    if !kv.txn(txn).await?.succeeded() {
        anyhow::bail!("the watermark moved during the rebase");
    }
    info!(
        records = items.len(),
        through = at,
        "child counters rebased"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::{Change, CrecKv, DataKv};
    use bytes::Bytes;

    fn put(p: &str, rev: i64, lease: i64) -> Change {
        Change::Data(
            p.to_string(),
            Some(DataKv {
                value: Bytes::new(),
                create_rev: rev,
                mod_rev: rev,
                version: 1,
                lease,
            }),
        )
    }

    #[test]
    fn a_fold_leaves_what_clients_see_unchanged() {
        let mut t = Tree::new();
        t.apply(vec![put("/ledgers", 5, 0)], 5);
        t.apply(vec![put("/ledgers/available", 6, 0)], 6);
        for (i, b) in ["bk1", "bk2", "bk3"].iter().enumerate() {
            let rev = 7 + i as i64;
            t.apply(vec![put(&format!("/ledgers/available/{b}"), rev, 9)], rev);
        }
        t.apply(
            vec![Change::Data("/ledgers/available/bk2".into(), None)],
            10,
        );
        let p = "/ledgers/available";
        let before = t.get(p).unwrap().stat(p);
        assert_eq!(
            (before.cversion, before.pzxid, before.num_children),
            (4, 10, 2)
        );
        let work = Work::survey(&t, t.revision());
        assert!(work.advances_watermark(), "the first fold creates it");
        let folds: Vec<_> = work
            .items
            .iter()
            .filter_map(|i| match i {
                Item::Fold { path, rec, .. } => Some((path.clone(), *rec)),
                _ => None,
            })
            .collect();
        let names: Vec<&str> = folds.iter().map(|f| f.0.as_str()).collect();
        assert_eq!(names, ["/", "/ledgers", "/ledgers/available"]);
        // The fold lands at revision 11 as the record's first version.
        let rec = folds[2].1;
        t.apply(
            vec![Change::Children(
                p.into(),
                Some(CrecKv {
                    rec,
                    mod_rev: 11,
                    version: 1,
                }),
            )],
            11,
        );
        let e = t.get(p).unwrap();
        assert!(e.pending().is_none());
        assert_eq!(e.stat(p), before);
        assert!(t.pending_paths().all(|q| q != p));
        // A later change of another writer counts on top of the record.
        t.apply(vec![put("/ledgers/available/bk4", 12, 9)], 12);
        let st = t.get(p).unwrap().stat(p);
        assert_eq!((st.cversion, st.pzxid), (5, 12));
    }

    #[test]
    fn counter_keys_of_a_vanished_directory_are_orphans() {
        let mut t = Tree::new();
        t.apply(vec![put("/u/ledgers/0000/urL1", 5, 0)], 5);
        let dir = "/u/ledgers/0000";
        t.apply(
            vec![Change::Children(
                dir.into(),
                Some(CrecKv {
                    rec: ChildRecord::folded(
                        ChildRec {
                            cversion: 1,
                            creates: 1,
                        },
                        5,
                        1,
                        0,
                        5,
                    ),
                    mod_rev: 6,
                    version: 1,
                }),
            )],
            6,
        );
        assert_eq!(t.orphans().count(), 0);
        t.apply(vec![Change::Data("/u/ledgers/0000/urL1".into(), None)], 7);
        assert!(t.get(dir).is_none());
        assert_eq!(t.orphans().collect::<Vec<_>>(), [dir]);
        let work = Work::survey(&t, 7);
        assert!(work.items.iter().any(|i| matches!(i,
            Item::Orphan { path, crec_rev: 6, deletes: 0 } if path == dir)));
        // It comes back before the accountant got to it: no orphan, and
        // the record applies again.
        t.apply(vec![put("/u/ledgers/0000/urL2", 8, 0)], 8);
        assert_eq!(t.orphans().count(), 0);
        let st = t.get(dir).unwrap().stat(dir);
        assert_eq!((st.cversion, st.pzxid), (3, 8));
    }
}
