//! The replica: this instance's in-memory copy of the tree, loaded from a
//! consistent etcd range and kept current by one etcd watch over the whole
//! layout range. Every event reaches the tree in revision order; applying a
//! revision fires the watches it triggers before the revision becomes
//! visible to readers, which is what orders notifications ahead of any
//! reply that reflects them.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use etcd_client::{Client, EventType as EtcdEventType, GetOptions, KeyValue, WatchOptions};
use parking_lot::{Mutex, RwLock, RwLockReadGuard};
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

use crate::layout::{self, KeyKind, Layout};
use crate::tree::{Change, DataKv, SessionEntry, Tree, ZkEvent};
use crate::watches::{Notify, WatchTable};

/// The tree, its watches and the revision it reflects.
pub struct State {
    pub tree: Tree,
    pub watches: Mutex<WatchTable>,
    /// Every event up to and including this etcd revision has been applied.
    pub revision: i64,
}

/// A session record that appeared, changed or disappeared.
#[derive(Debug, Clone)]
pub struct SessionChange {
    pub id: i64,
    pub entry: Option<SessionEntry>,
    pub revision: i64,
}

pub struct Replica {
    state: RwLock<State>,
    applied: watch::Sender<i64>,
    /// For marker writes (see `wait_for`).
    kv: etcd_client::KvClient,
    marker: tokio::sync::Mutex<()>,
    layout: Layout,
    notify: Arc<dyn Notify + Send + Sync>,
    session_changes: mpsc::UnboundedSender<SessionChange>,
}

/// Keys of the first range request when loading.
const PAGE: i64 = 5000;

/// Later pages are sized to carry about this many bytes. Few, large pages
/// matter: etcd 3.4 collects every revision of the remaining range for
/// each limited range request (3.5 stops at the limit), so loading N keys
/// in pages of P costs it about N²/2P index entries.
const PAGE_BYTES: usize = 8 << 20;

/// Bounds of the page size, in keys.
const PAGE_MAX: i64 = 100_000;

/// Largest etcd response accepted: a page of keys, or one revision's
/// events, can hold many values of up to jute.maxbuffer each.
const MAX_MESSAGE: usize = 512 << 20;

impl Replica {
    /// Loads the tree and starts following etcd. Returns once the replica
    /// serves a consistent snapshot.
    pub async fn start(
        client: Client,
        layout: Layout,
        notify: Arc<dyn Notify + Send + Sync>,
        session_changes: mpsc::UnboundedSender<SessionChange>,
    ) -> anyhow::Result<Arc<Replica>> {
        let (applied, _) = watch::channel(0);
        let replica = Arc::new(Replica {
            state: RwLock::new(State {
                tree: Tree::new(),
                watches: Mutex::new(WatchTable::default()),
                revision: 0,
            }),
            applied,
            kv: client.kv_client(),
            marker: tokio::sync::Mutex::new(()),
            layout,
            notify,
            session_changes,
        });
        let rev = replica.load(&client).await?;
        let feed = replica.clone();
        tokio::spawn(async move { feed.follow(client, rev).await });
        Ok(replica)
    }

    pub fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read()
    }

    pub fn revision(&self) -> i64 {
        *self.applied.borrow()
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Waits until every etcd revision up to `rev` has been applied.
    ///
    /// Revisions made outside our key range never arrive as events, so if
    /// the replica does not get there by itself, a marker put into our
    /// range (`0zoe/sync`) brings a revision at or past `rev` through the
    /// watch; the watch delivers events in order, so once it is applied,
    /// so is everything before it. (etcd's progress notifications cannot
    /// serve here: etcd 3.4 answers a progress request with its current
    /// revision even while the watcher is still behind.)
    pub async fn wait_for(&self, rev: i64, timeout: Duration) -> bool {
        let mut rx = self.applied.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        let mut marked = false;
        loop {
            if *rx.borrow_and_update() >= rev {
                return true;
            }
            let pause = tokio::time::sleep(Duration::from_millis(if marked { 500 } else { 20 }));
            tokio::select! {
                r = rx.changed() => if r.is_err() { return false },
                _ = pause => {
                    if *rx.borrow() < rev && self.put_marker().await.is_some() {
                        marked = true;
                    }
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return *rx.borrow() >= rev;
            }
        }
    }

    /// Writes the marker key; returns the revision it was written at.
    async fn put_marker(&self) -> Option<i64> {
        let _one_at_a_time = self.marker.lock().await;
        let put = crate::etcd::retry_unsent(|| {
            let mut kv = self.kv.clone();
            async move { kv.put(self.layout.sync_key(), Vec::new(), None).await }
        });
        match put.await {
            Ok(r) => r.header().map(|h| h.revision()),
            Err(e) => {
                debug!(error = %e, "sync marker put failed");
                None
            }
        }
    }

    /// ZooKeeper's sync: brings the replica up to etcd's current revision
    /// (a marker write, then waiting for it). Returns that revision.
    pub async fn sync(&self, timeout: Duration) -> anyhow::Result<i64> {
        let rev = self
            .put_marker()
            .await
            .ok_or_else(|| anyhow::anyhow!("etcd did not take the sync marker"))?;
        if !self.wait_for(rev, timeout).await {
            anyhow::bail!("replica did not reach revision {rev}");
        }
        Ok(self.revision().max(rev))
    }

    /// Reads the whole layout range at one revision and replaces the tree.
    /// On a reload after a compaction, fires the events that the gap hid.
    async fn load(&self, client: &Client) -> anyhow::Result<i64> {
        let (start, end) = self.layout.watch_range();
        let kv = client.kv_client().max_decoding_message_size(MAX_MESSAGE);
        let mut from = start.clone();
        let mut at = 0i64;
        let mut changes = Vec::new();
        let mut page = PAGE;
        loop {
            let mut opts = GetOptions::new().with_range(end.clone()).with_limit(page);
            if at > 0 {
                opts = opts.with_revision(at);
            }
            let get = crate::etcd::retry_unsent(|| {
                let mut kv = kv.clone();
                let (from, opts) = (from.clone(), opts.clone());
                async move { kv.get(from, Some(opts)).await }
            });
            let resp = match get.await {
                Ok(r) => r,
                // A page of large values can exceed the message limit:
                // ask for fewer keys.
                Err(e) if page > 1 && e.to_string().contains("too large") => {
                    page = (page / 4).max(1);
                    warn!(page, error = %e, "etcd page too large; asking for fewer keys");
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            if at == 0 {
                at = resp.header().map(|h| h.revision()).unwrap_or(0);
            }
            let kvs = resp.kvs();
            let mut bytes = 0usize;
            for item in kvs {
                bytes += item.key().len() + item.value().len() + 32;
                if let Some(c) = self.classify(item, true) {
                    changes.push(c);
                }
            }
            if !resp.more() || kvs.is_empty() {
                break;
            }
            let per_key = (bytes / kvs.len()).max(1);
            page = ((PAGE_BYTES / per_key) as i64).clamp(1, PAGE_MAX);
            from = kvs.last().expect("non-empty").key().to_vec();
            from.push(0);
        }
        let mut fresh = Tree::new();
        fresh.apply(changes);
        let mut state = self.state.write();
        let first = state.revision == 0;
        let old = std::mem::replace(&mut state.tree, fresh);
        if !first {
            let events = resync_events(&old, &state.tree);
            warn!(
                revision = at,
                events = events.len(),
                "replica reloaded after a gap"
            );
            let watches = state.watches.get_mut();
            for e in &events {
                watches.trigger(
                    e.event_type,
                    &e.path,
                    at,
                    e.acl.as_ref().map(|a| a.as_slice()),
                    self.notify.as_ref(),
                );
            }
        }
        let sessions: Vec<SessionChange> = session_diff(&old, &state.tree, at);
        state.revision = at;
        drop(state);
        for s in sessions {
            let _ = self.session_changes.send(s);
        }
        self.applied.send_replace(at);
        info!(revision = at, "replica loaded");
        Ok(at)
    }

    async fn follow(self: Arc<Self>, client: Client, mut rev: i64) {
        let (start, end) = self.layout.watch_range();
        loop {
            let opts = WatchOptions::new()
                .with_range(end.clone())
                .with_start_revision(rev + 1);
            let mut wc = client.watch_client().max_decoding_message_size(MAX_MESSAGE);
            let (_watcher, mut stream) = match wc.watch(start.clone(), Some(opts)).await {
                Ok(w) => w,
                Err(e) => {
                    warn!(error = %e, "etcd watch failed; retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            };
            debug!(from = rev + 1, "watching etcd");
            loop {
                tokio::select! {
                    msg = stream.message() => {
                        match msg {
                            Ok(Some(resp)) => {
                                if resp.canceled() {
                                    if resp.compact_revision() > 0 {
                                        warn!(compacted = resp.compact_revision(), at = rev,
                                              "etcd compacted past the replica; reloading");
                                        match self.load(&client).await {
                                            Ok(r) => rev = r,
                                            Err(e) => warn!(error = %e, "reload failed"),
                                        }
                                    }
                                    break;
                                }
                                rev = self.apply_response(&resp, rev);
                            }
                            Ok(None) => break,
                            Err(e) => {
                                warn!(error = %e, "etcd watch stream failed; resuming");
                                tokio::time::sleep(Duration::from_millis(100)).await;
                                break;
                            }
                        }
                    }
                }
            }
        }
    }

    /// Applies one watch response, revision by revision. Returns the new
    /// applied revision.
    fn apply_response(&self, resp: &etcd_client::WatchResponse, mut rev: i64) -> i64 {
        let events = resp.events();
        if events.is_empty() {
            // Created confirmations and progress notifications carry etcd's
            // current revision, which says nothing reliable about what this
            // watch has delivered (see `wait_for`).
            return rev;
        }
        let mut i = 0;
        while i < events.len() {
            let r = events[i].kv().map(|kv| kv.mod_revision()).unwrap_or(0);
            let mut changes = Vec::new();
            while i < events.len() && events[i].kv().map(|kv| kv.mod_revision()).unwrap_or(0) == r {
                let ev = &events[i];
                if let Some(kv) = ev.kv() {
                    let put = ev.event_type() == EtcdEventType::Put;
                    if let Some(c) = self.classify(kv, put) {
                        changes.push(c);
                    }
                }
                i += 1;
            }
            if r <= rev {
                continue;
            }
            self.apply_revision(r, changes);
            rev = r;
        }
        rev
    }

    fn apply_revision(&self, r: i64, changes: Vec<Change>) {
        let session_changes: Vec<SessionChange> = changes
            .iter()
            .filter_map(|c| match c {
                Change::Session(id, e) => Some(SessionChange {
                    id: *id,
                    entry: e.clone(),
                    revision: r,
                }),
                _ => None,
            })
            .collect();
        let mut state = self.state.write();
        let events = state.tree.apply(changes);
        let watches = state.watches.get_mut();
        for e in &events {
            watches.trigger(
                e.event_type,
                &e.path,
                r,
                e.acl.as_ref().map(|a| a.as_slice()),
                self.notify.as_ref(),
            );
        }
        state.revision = r;
        drop(state);
        self.applied.send_replace(r);
        for s in session_changes {
            let _ = self.session_changes.send(s);
        }
    }

    fn classify(&self, kv: &KeyValue, put: bool) -> Option<Change> {
        classify(&self.layout, kv, put)
    }
}

/// What a key put (`put`) or deleted means for the tree; None for keys the
/// tree does not keep (the layout record, the sync marker, foreign keys).
pub fn classify(layout: &Layout, kv: &KeyValue, put: bool) -> Option<Change> {
    let rev = kv.mod_revision();
    Some(match layout.classify(kv.key()) {
        KeyKind::Data(p) => Change::Data(
            p,
            put.then(|| DataKv {
                value: Bytes::copy_from_slice(kv.value()),
                create_rev: kv.create_revision(),
                mod_rev: rev,
                version: kv.version(),
                lease: kv.lease(),
            }),
        ),
        KeyKind::Meta(p) => Change::Meta(
            p,
            if put {
                Some((layout::decode(kv.value()).unwrap_or_default(), rev))
            } else {
                None
            },
        ),
        KeyKind::Children(p) => Change::Children(
            p,
            put.then(|| crate::tree::CrecKv {
                rec: layout::decode(kv.value()).unwrap_or_default(),
                mod_rev: rev,
                version: kv.version(),
            }),
        ),
        KeyKind::Deletes(p) => Change::Deletes(p, if put { kv.version() } else { 0 }),
        KeyKind::Session(id) => Change::Session(
            id,
            if put {
                match layout::decode(kv.value()) {
                    Some(rec) => Some(SessionEntry {
                        rec,
                        mod_rev: rev,
                        create_rev: kv.create_revision(),
                    }),
                    None => {
                        warn!(session = id, "unreadable session record ignored");
                        return None;
                    }
                }
            } else {
                None
            },
        ),
        KeyKind::Auth => Change::Auth(if put {
            layout::decode::<layout::AuthRec>(kv.value())
        } else {
            None
        }),
        KeyKind::Events => {
            if !put {
                return None;
            }
            Change::Events(layout::decode::<layout::EventList>(kv.value()).map(|l| l.0))
        }
        KeyKind::Other => return None,
    })
}

/// Events a client could have missed while the replica was cut off: every
/// node that appeared, disappeared or changed, and every parent whose
/// children changed. Conservative by design: an extra event is harmless, a
/// missing one leaves a client waiting forever.
fn resync_events(old: &Tree, new: &Tree) -> Vec<ZkEvent> {
    use jute::EventType as E;
    let mut out = Vec::new();
    let ev = |t: E, p: &str| ZkEvent {
        event_type: t as i32,
        path: p.to_string(),
        acl: None,
    };
    for p in old.paths() {
        match new.get(p) {
            None => out.push(ev(E::NodeDeleted, p)),
            Some(n) => {
                let o = old.get(p).expect("listed");
                if o.data_mod_rev() != n.data_mod_rev()
                    || o.data_create_rev() != n.data_create_rev()
                {
                    out.push(ev(E::NodeDataChanged, p));
                }
                if o.children != n.children || o.crec_rev() != n.crec_rev() {
                    out.push(ev(E::NodeChildrenChanged, p));
                }
            }
        }
    }
    for p in new.paths() {
        if old.get(p).is_none() {
            out.push(ev(E::NodeCreated, p));
        }
    }
    out
}

fn session_diff(old: &Tree, new: &Tree, rev: i64) -> Vec<SessionChange> {
    let mut out = Vec::new();
    for (id, e) in new.sessions() {
        if old.session(*id) != Some(e) {
            out.push(SessionChange {
                id: *id,
                entry: Some(e.clone()),
                revision: rev,
            });
        }
    }
    for id in old.sessions().keys() {
        if new.session(*id).is_none() {
            out.push(SessionChange {
                id: *id,
                entry: None,
                revision: rev,
            });
        }
    }
    out
}
