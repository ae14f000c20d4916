//! Sessions: an etcd lease and a record per session, liveness tracked here.
//!
//! A session lives while its client talks to some zoe instance. The
//! instance holding the client's connection (the record's `owner`) keeps
//! the lease alive while the client pings, and expires the session itself
//! when the client goes silent for the negotiated timeout — deleting its
//! ephemerals in the same transaction that updates their parents and
//! removes the record. If that instance dies, the client moves to another
//! one (which takes ownership) or the lease runs out; then any instance
//! that sees the record vanish deletes the orphaned ephemerals the same way.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use etcd_client::{Client, Compare, CompareOp, LeaseGrantOptions, PutOptions, TxnOp};
use parking_lot::Mutex;
use rand::Rng;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::conns::Conns;
use crate::layout::{self, SessionRec};
use crate::plan::{WriteCtx, WriteOp};
use crate::replica::SessionChange;
use crate::watches::ConnId;
use crate::write::{Extra, WriteError, WriteOutcome, Writer};

#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub tick_ms: u64,
    pub min_timeout_ms: i32,
    pub max_timeout_ms: i32,
}

impl SessionConfig {
    pub fn negotiate(&self, requested: i32) -> i32 {
        requested.clamp(self.min_timeout_ms, self.max_timeout_ms)
    }
}

struct Local {
    timeout_ms: i32,
    last_touch: Instant,
    last_refresh: Instant,
    conn: Option<ConnId>,
    expiring: bool,
}

impl Local {
    /// A session just (re)attached to `conn`: touched and refreshed now.
    fn attached(timeout_ms: i32, conn: ConnId) -> Local {
        let now = Instant::now();
        Local {
            timeout_ms,
            last_touch: now,
            last_refresh: now,
            conn: Some(conn),
            expiring: false,
        }
    }
}

pub struct Sessions {
    /// etcd's --max-txn-ops, bounding one expiry transaction.
    max_txn_ops: usize,
    /// False while etcd is unreachable: like a ZooKeeper server without
    /// quorum, zoe serves no one then, and no session expires.
    serving: std::sync::atomic::AtomicBool,
    cfg: SessionConfig,
    instance: String,
    client: Client,
    writer: Writer,
    conns: Arc<Conns>,
    local: Mutex<HashMap<i64, Local>>,
}

/// What a reconnecting client gets.
pub enum Resume {
    Ok {
        timeout_ms: i32,
        password: Vec<u8>,
        /// The session record's mod revision after this attach (see
        /// `WriteCtx::attached_rev`).
        record_rev: i64,
    },
    Expired,
}

fn lease_ttl(timeout_ms: i32) -> i64 {
    (timeout_ms as i64 + 999) / 1000 + 1
}

impl Sessions {
    pub fn new(
        cfg: SessionConfig,
        instance: String,
        client: Client,
        writer: Writer,
        conns: Arc<Conns>,
        max_txn_ops: usize,
    ) -> Arc<Sessions> {
        Arc::new(Sessions {
            max_txn_ops,
            serving: std::sync::atomic::AtomicBool::new(true),
            cfg,
            instance,
            client,
            writer,
            conns,
            local: Mutex::new(HashMap::new()),
        })
    }

    pub fn serving(&self) -> bool {
        self.serving.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// etcd became unreachable (`false`) or reachable again (`true`). While
    /// unreachable, sessions do not expire; when it comes back, each gets a
    /// full timeout to reconnect, as a ZooKeeper ensemble that regains
    /// quorum gives its sessions.
    pub fn set_serving(&self, serving: bool) {
        let was = self
            .serving
            .swap(serving, std::sync::atomic::Ordering::Relaxed);
        if serving && !was {
            let now = Instant::now();
            for l in self.local.lock().values_mut() {
                l.last_touch = now;
            }
        }
        if !serving && was {
            let conns: Vec<ConnId> = self.local.lock().values().filter_map(|l| l.conn).collect();
            for c in conns {
                self.conns.close(c);
            }
        }
    }

    pub fn config(&self) -> &SessionConfig {
        &self.cfg
    }

    pub fn count(&self) -> usize {
        self.local.lock().len()
    }

    /// Starts the expiry/keepalive ticker and the follower of session
    /// record changes; also cleans up ephemerals of sessions that died
    /// while no instance was watching.
    pub fn start(self: &Arc<Self>, changes: mpsc::UnboundedReceiver<SessionChange>) {
        let me = self.clone();
        tokio::spawn(async move { me.tick_loop().await });
        let me = self.clone();
        tokio::spawn(async move { me.follow(changes).await });
        let me = self.clone();
        tokio::spawn(async move {
            let orphans: Vec<i64> = {
                let st = me.writer.replica().read();
                st.tree
                    .ephemeral_owners()
                    .into_iter()
                    .filter(|id| st.tree.session(*id).is_none())
                    .collect()
            };
            for id in orphans {
                me.clone().cleanup_orphan(id).await;
            }
        });
    }

    /// Creates a session and returns (id, password, negotiated timeout,
    /// the record's revision).
    pub async fn create(
        &self,
        requested_ms: i32,
        conn: ConnId,
    ) -> Result<(i64, Vec<u8>, i32, i64), etcd_client::Error> {
        let timeout = self.cfg.negotiate(requested_ms);
        let mut password = vec![0u8; 16];
        rand::thread_rng().fill(&mut password[..]);
        let id = loop {
            // Ids double as etcd lease ids. Keep them positive, at least ten
            // decimal digits (DistributedLog formats them), and away from
            // the container/TTL owner markers in the top byte.
            let id: i64 = rand::thread_rng().gen_range(10_000_000_000..(1i64 << 56));
            let grant = crate::etcd::retry_unsent(|| {
                let mut lc = self.client.lease_client();
                async move {
                    lc.grant(
                        lease_ttl(timeout),
                        Some(LeaseGrantOptions::new().with_id(id)),
                    )
                    .await
                }
            });
            match grant.await {
                Ok(_) => break id,
                Err(etcd_client::Error::GRpcStatus(s)) if s.message().contains("exists") => {
                    continue
                }
                Err(e) => return Err(e),
            }
        };
        let rec = SessionRec {
            timeout_ms: timeout,
            password: hex(&password),
            owner: self.instance.clone(),
        };
        let key = self.writer.replica().layout().session_key(id);
        let put = crate::etcd::retry_unsent(|| {
            let mut kv = self.client.kv_client();
            let (key, value) = (key.clone(), layout::encode(&rec));
            async move {
                kv.put(key, value, Some(PutOptions::new().with_lease(id)))
                    .await
            }
        })
        .await?;
        let record_rev = put.header().map(|h| h.revision()).unwrap_or(0);
        // ZooKeeper answers a handshake only once createSession is applied.
        // Waiting for the replica to hold the record makes every later
        // request of this session (a closeSession first of all) find it.
        self.await_replica(Some(record_rev)).await;
        self.local.lock().insert(id, Local::attached(timeout, conn));
        info!(
            session = format_args!("0x{id:x}"),
            timeout, "session created"
        );
        Ok((id, password, timeout, record_rev))
    }

    /// Re-attaches a session, possibly created on another instance, and
    /// takes ownership of its expiry.
    pub async fn resume(
        &self,
        id: i64,
        password: &[u8],
        requested_ms: i32,
        conn: ConnId,
    ) -> Result<Resume, etcd_client::Error> {
        let key = self.writer.replica().layout().session_key(id);
        let known = self.writer.replica().read().tree.session(id).cloned();
        let (rec, create_rev) = match known {
            Some(e) => (e.rec, e.create_rev),
            None => {
                // The replica may not have seen a brand-new session yet.
                let resp = crate::etcd::retry_unsent(|| {
                    let mut kv = self.client.kv_client();
                    let key = key.clone();
                    async move { kv.get(key, None).await }
                })
                .await?;
                match resp.kvs().first() {
                    Some(kv) => match layout::decode::<SessionRec>(kv.value()) {
                        Some(rec) => (rec, kv.create_revision()),
                        None => return Ok(Resume::Expired),
                    },
                    None => return Ok(Resume::Expired),
                }
            }
        };
        if rec.password != hex(password) || self.is_expiring(id) {
            // ZooKeeper drops the session's current connection first.
            let current = self.local.lock().get_mut(&id).and_then(|l| l.conn.take());
            if let Some(c) = current {
                self.conns.close(c);
            }
            return Ok(Resume::Expired);
        }
        let timeout = self.cfg.negotiate(requested_ms);
        let new_rec = SessionRec {
            timeout_ms: timeout,
            password: rec.password.clone(),
            owner: self.instance.clone(),
        };
        let txn = etcd_client::Txn::new()
            .when([Compare::create_revision(
                key.clone(),
                CompareOp::Equal,
                create_rev,
            )])
            .and_then([TxnOp::put(
                key,
                layout::encode(&new_rec),
                Some(PutOptions::new().with_ignore_lease()),
            )]);
        let resp = crate::etcd::retry_unsent(|| {
            let mut kv = self.client.kv_client();
            let txn = txn.clone();
            async move { kv.txn(txn).await }
        })
        .await?;
        if !resp.succeeded() {
            return Ok(Resume::Expired);
        }
        let record_rev = resp.header().map(|h| h.revision()).unwrap_or(0);
        self.await_replica(Some(record_rev)).await;
        // Keep the lease from running out while the client was away.
        // Opening the keepalive stream refreshes the lease once and waits
        // for etcd's answer.
        let _ = crate::etcd::retry_unsent(|| {
            let mut lc = self.client.lease_client();
            async move { lc.keep_alive(id).await }
        })
        .await;
        let previous = {
            let old = self.local.lock().insert(id, Local::attached(timeout, conn));
            old.and_then(|o| o.conn).filter(|c| *c != conn)
        };
        // The newest connection wins; the old one is closed silently.
        if let Some(old) = previous {
            self.conns.close(old);
        }
        debug!(
            session = format_args!("0x{id:x}"),
            timeout, "session resumed"
        );
        Ok(Resume::Ok {
            timeout_ms: timeout,
            password: password.to_vec(),
            record_rev,
        })
    }

    /// Waits (bounded by the longest session timeout) until the replica
    /// has applied revision `rev`. On a timeout the caller goes on: the
    /// write path still guards every decision with compares.
    async fn await_replica(&self, rev: Option<i64>) {
        let Some(rev) = rev else { return };
        let replica = self.writer.replica();
        let wait = Duration::from_millis(self.cfg.max_timeout_ms.max(0) as u64);
        if !replica.wait_for(rev, wait).await {
            warn!(
                rev,
                "replica did not catch up with a session record in time"
            );
        }
    }

    fn is_expiring(&self, id: i64) -> bool {
        self.local.lock().get(&id).is_some_and(|l| l.expiring)
    }

    /// Records client activity. Returns false if the session is no longer
    /// served here (expired or moved), in which case the connection closes.
    pub fn touch(&self, id: i64) -> bool {
        if !self.serving() {
            return false;
        }
        match self.local.lock().get_mut(&id) {
            Some(l) if !l.expiring => {
                l.last_touch = Instant::now();
                true
            }
            _ => false,
        }
    }

    /// The connection went away; the session stays until it expires.
    pub fn detach(&self, id: i64, conn: ConnId) {
        if let Some(l) = self.local.lock().get_mut(&id) {
            if l.conn == Some(conn) {
                l.conn = None;
            }
        }
    }

    /// closeSession from the client: expire now.
    pub async fn close(self: &Arc<Self>, id: i64) -> Result<i64, WriteError> {
        if let Some(l) = self.local.lock().get_mut(&id) {
            l.expiring = true;
            // The caller replies and closes; seeing the record vanish must
            // not close the connection before that reply is out.
            l.conn = None;
        }
        let r = self.expire_now(id).await;
        self.local.lock().remove(&id);
        r
    }

    async fn expire_now(&self, id: i64) -> Result<i64, WriteError> {
        let layout = self.writer.replica().layout().clone();
        let instance = self.instance.clone();
        let ctx = cleanup_ctx(id);
        // One transaction when etcd's --max-txn-ops allows; a session with
        // more ephemerals than that loses them in chunks, the last of
        // which also removes the record.
        let chunk = ephemerals_per_txn(self.max_txn_ops);
        let mut zxid = self.writer.replica().revision();
        for _ in 0..100_000 {
            let outcome = self
                .writer
                .write_with(&ctx, |tree| {
                    let s = tree.session(id)?;
                    if s.rec.owner != instance {
                        return None;
                    }
                    let mut ops = WriteOp::delete_ephemerals(tree, id);
                    let key = layout.session_key(id);
                    let guard = Compare::mod_revision(key.clone(), CompareOp::Equal, s.mod_rev);
                    if ops.len() > chunk {
                        ops.truncate(chunk);
                        return Some((
                            ops,
                            Extra {
                                compares: vec![guard],
                                ops: vec![],
                            },
                        ));
                    }
                    Some((
                        ops,
                        Extra {
                            compares: vec![guard],
                            ops: vec![TxnOp::delete(key, None)],
                        },
                    ))
                })
                .await;
            match outcome {
                Ok(WriteOutcome::Done { zxid: z, .. }) => zxid = z,
                Ok(WriteOutcome::Failed { zxid: z, code, .. }) => {
                    warn!(
                        session = format_args!("0x{id:x}"),
                        ?code,
                        "session close failed"
                    );
                    zxid = z;
                    break;
                }
                Err(WriteError::Abandoned) => break,
                Err(e) => return Err(e),
            }
            if self.writer.replica().read().tree.session(id).is_none() {
                break;
            }
        }
        // The record and the ephemerals are gone; the lease only held the
        // record. Revoking it is cleanup that the client need not wait for
        // (if this instance dies first, the lease runs out by itself).
        let client = self.client.clone();
        tokio::spawn(async move {
            let revoked = crate::etcd::retry_unsent(|| {
                let mut lc = client.lease_client();
                async move { lc.revoke(id).await }
            });
            if let Err(e) = revoked.await {
                debug!(session = format_args!("0x{id:x}"), error = %e, "lease revoke failed; it will run out");
            }
        });
        Ok(zxid)
    }

    /// Deletes the ephemerals of a session whose record is gone.
    async fn cleanup_orphan(self: Arc<Self>, id: i64) {
        let layout = self.writer.replica().layout().clone();
        let ctx = cleanup_ctx(id);
        let chunk = ephemerals_per_txn(self.max_txn_ops);
        let r = self
            .writer
            .write_with(&ctx, |tree| {
                if tree.session(id).is_some() {
                    return None;
                }
                let mut ops = WriteOp::delete_ephemerals(tree, id);
                ops.truncate(chunk);
                if ops.is_empty() {
                    return None;
                }
                Some((
                    ops,
                    Extra {
                        compares: vec![Compare::create_revision(
                            layout.session_key(id),
                            CompareOp::Equal,
                            0,
                        )],
                        ops: vec![],
                    },
                ))
            })
            .await;
        let more = !self
            .writer
            .replica()
            .read()
            .tree
            .ephemerals_of(id)
            .is_empty();
        if more && matches!(r, Ok(WriteOutcome::Done { .. })) {
            // More than one transaction's worth: the next chunk.
            return Box::pin(self.cleanup_orphan(id)).await;
        }
        match r {
            Ok(_) | Err(WriteError::Abandoned) => {
                debug!(
                    session = format_args!("0x{id:x}"),
                    "orphaned ephemerals removed"
                )
            }
            Err(e) => {
                warn!(session = format_args!("0x{id:x}"), error = %e, "orphan cleanup failed")
            }
        }
    }

    async fn follow(self: Arc<Self>, mut changes: mpsc::UnboundedReceiver<SessionChange>) {
        while let Some(c) = changes.recv().await {
            match &c.entry {
                Some(e) if e.rec.owner != self.instance => {
                    // Another instance took the session over.
                    let gone = self.local.lock().remove(&c.id);
                    if let Some(conn) = gone.and_then(|l| l.conn) {
                        debug!(session = format_args!("0x{:x}", c.id), "session moved away");
                        self.conns.close(conn);
                    }
                }
                Some(_) => {}
                None => {
                    let gone = self.local.lock().remove(&c.id);
                    if let Some(conn) = gone.and_then(|l| l.conn) {
                        self.conns.close(conn);
                    }
                    let has_ephemerals = !self
                        .writer
                        .replica()
                        .read()
                        .tree
                        .ephemerals_of(c.id)
                        .is_empty();
                    if has_ephemerals {
                        tokio::spawn(self.clone().cleanup_orphan(c.id));
                    }
                }
            }
        }
    }

    async fn tick_loop(self: Arc<Self>) {
        let period = Duration::from_millis((self.cfg.tick_ms / 4).clamp(20, 500));
        let mut interval = tokio::time::interval(period);
        loop {
            interval.tick().await;
            if !self.serving() {
                continue;
            }
            let now = Instant::now();
            let mut expire = Vec::new();
            let mut refresh = Vec::new();
            {
                let mut local = self.local.lock();
                for (id, l) in local.iter_mut() {
                    if l.expiring {
                        continue;
                    }
                    let silent = now.duration_since(l.last_touch);
                    if silent >= Duration::from_millis(l.timeout_ms as u64) {
                        l.expiring = true;
                        expire.push(*id);
                        continue;
                    }
                    let refresh_every = Duration::from_millis(
                        (lease_ttl(l.timeout_ms) as u64 * 1000 / 3).min(1000),
                    );
                    if l.last_touch > l.last_refresh
                        && now.duration_since(l.last_refresh) >= refresh_every
                    {
                        l.last_refresh = now;
                        refresh.push(*id);
                    }
                }
            }
            for id in expire {
                info!(session = format_args!("0x{id:x}"), "session expired");
                // Like ZooKeeper, the expired client's connection stays open
                // until the expiry's transaction is applied: the watches the
                // session itself set on its ephemerals fire on it first, and
                // the replica closes it when the session record goes.
                let me = self.clone();
                tokio::spawn(async move {
                    if let Err(e) = me.expire_now(id).await {
                        warn!(session = format_args!("0x{id:x}"), error = %e, "expiry failed; the lease will end it");
                    }
                    let gone = me.local.lock().remove(&id);
                    if let Some(conn) = gone.and_then(|l| l.conn) {
                        me.conns.close(conn);
                    }
                });
            }
            for id in refresh {
                let client = self.client.clone();
                tokio::spawn(async move {
                    let refreshed = crate::etcd::retry_unsent(|| {
                        let mut lc = client.lease_client();
                        async move { lc.keep_alive(id).await }
                    });
                    match refreshed.await {
                        // Opening the stream already sent one keepalive.
                        Ok(_) => {}
                        Err(e) => {
                            debug!(session = format_args!("0x{id:x}"), error = %e, "lease refresh failed")
                        }
                    }
                });
            }
        }
    }
}

/// Compares one ephemeral's delete may bring into a transaction: on the
/// node (existence, child record, delete counter, the key range below it)
/// and on its parent (existence, ACL record, and both counters when several
/// of its children go at once). etcd's --max-txn-ops bounds the compares
/// of a transaction as well as its operations, and the deletes themselves
/// stay under it too (data, meta and counter keys, the parent's counters).
const COMPARES_PER_EPHEMERAL: usize = 8;

/// How many ephemerals one transaction of a session's expiry deletes; the
/// session's own compare and record delete come on top.
fn ephemerals_per_txn(max_txn_ops: usize) -> usize {
    (max_txn_ops.saturating_sub(1) / COMPARES_PER_EPHEMERAL).max(1)
}

/// The context of zoe's own deletes on a session's behalf. ZooKeeper
/// removes a closing session's ephemerals whatever their parents' ACLs
/// say, hence the super identity.
fn cleanup_ctx(session_id: i64) -> WriteCtx {
    WriteCtx {
        session_id,
        attached_rev: None,
        auth_ids: vec![crate::acl::super_id()],
        now_ms: now_ms(),
        ttl_enabled: false,
    }
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
