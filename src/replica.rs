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
use crate::tree::{Change, DataKv, Loader, SessionEntry, Tree, ZkEvent};
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

/// How the replica treats the tree it loads.
#[derive(Debug, Clone)]
pub struct ReplicaOptions {
    /// etcd's --max-txn-ops, for the writes a load may need.
    pub max_txn_ops: usize,
    /// Create the accountant's watermark on a tree that has none, so child
    /// changes of other writers are counted from the first start on (a
    /// tree shared with Pulsar).
    pub keep_watermark: bool,
    /// The load may write (a serving instance); tools that only read
    /// (`zoe export`) load what is there.
    pub writes: bool,
}

impl ReplicaOptions {
    /// A tool that only reads.
    pub fn read_only() -> ReplicaOptions {
        ReplicaOptions {
            max_txn_ops: 128,
            keep_watermark: false,
            writes: false,
        }
    }
}

pub struct Replica {
    state: RwLock<State>,
    client: Client,
    opts: ReplicaOptions,
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
/// in pages of P costs it about N²/2P index entries. With 32 MiB pages
/// (about 200,000 keys of 100 bytes) etcd spends about 40 % less CPU on a
/// cold start of a million znodes than with 8 MiB pages. zoe holds at
/// most three pages at once: one being entered, one queued, one being
/// read.
const PAGE_BYTES: usize = 32 << 20;

/// Bounds of the page size, in keys.
const PAGE_MAX: i64 = 400_000;

/// A watch response of at least this many events frees enough (its
/// decoded keys and values, the changes made of them) to give the memory
/// back afterwards. etcd batches up to a thousand revisions per response
/// for a watcher that fell behind.
const TRIM_EVENTS: usize = 10_000;

/// Largest etcd response accepted: a page of keys, or one revision's
/// events, can hold many values of up to jute.maxbuffer each.
const MAX_MESSAGE: usize = 512 << 20;

impl Replica {
    /// Loads the tree and starts following etcd. Returns once the replica
    /// serves a consistent snapshot.
    pub async fn start(
        client: Client,
        layout: Layout,
        opts: ReplicaOptions,
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
            client: client.clone(),
            opts,
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

    /// The etcd connection the replica follows.
    pub fn client(&self) -> &Client {
        &self.client
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

    /// Builds the tree from etcd (`build_tree`) and replaces the current
    /// one with it. On a reload after a compaction, fires the events that
    /// the gap hid.
    async fn load(&self, client: &Client) -> anyhow::Result<i64> {
        let started = std::time::Instant::now();
        let Built {
            tree: fresh,
            revision: at,
        } = self.build(client).await?;
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
        drop(old);
        // The pages the tree was built from are gone, and so is the tree it
        // replaces.
        crate::memory::release_free_memory();
        for s in sessions {
            let _ = self.session_changes.send(s);
        }
        self.applied.send_replace(at);
        info!(
            revision = at,
            znodes = self.state.read().tree.node_count(),
            ms = started.elapsed().as_millis() as u64,
            "replica loaded"
        );
        Ok(at)
    }

    /// `build_tree`, plus what a serving instance owes the tree: a
    /// watermark where a shared tree has none yet, and the conservative
    /// rebase when the watermark's revision has been compacted away.
    async fn build(&self, client: &Client) -> anyhow::Result<Built> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            if attempts > 1 {
                tokio::time::sleep(Duration::from_millis(100 * attempts.min(20))).await;
            }
            match build_tree(client, &self.layout, None).await {
                Ok(built) => {
                    if built.tree.watermark().is_none() && self.opts.keep_watermark && attempts < 5
                    {
                        // From here on every instance replays from this
                        // revision, so no change another writer makes is
                        // ever lost to a restart.
                        match crate::accountant::create_watermark(
                            client,
                            &self.layout,
                            built.revision,
                        )
                        .await
                        {
                            Ok(true) => info!(revision = built.revision, "watermark created"),
                            Ok(false) => {}
                            Err(e) => warn!(error = %e, "cannot create the watermark"),
                        }
                        continue;
                    }
                    return Ok(built);
                }
                Err(BuildError::Compacted { watermark }) if self.opts.writes && attempts < 20 => {
                    if let Err(e) = crate::accountant::rebase(
                        client,
                        &self.layout,
                        watermark,
                        self.opts.max_txn_ops,
                    )
                    .await
                    {
                        warn!(error = %e, "rebase after compaction failed; retrying");
                    }
                }
                Err(BuildError::Compacted { watermark }) if !self.opts.writes => {
                    warn!(
                        watermark,
                        "the watermark's revision is compacted; loading the current tree, \
                         without child changes of other writers that are not yet counted"
                    );
                    let (tree, revision) = load_tree(client, &self.layout, None).await?;
                    return Ok(Built { tree, revision });
                }
                Err(BuildError::Etcd(e)) if attempts < 5 => {
                    warn!(error = %e, "cannot load the tree; retrying")
                }
                Err(BuildError::Etcd(e)) => return Err(e),
                Err(e @ BuildError::Compacted { .. }) => {
                    return Err(anyhow::anyhow!("cannot rebase the child counters: {e}"))
                }
            }
        }
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
                                let large = resp.events().len() >= TRIM_EVENTS;
                                rev = self.apply_response(&resp, rev);
                                drop(resp);
                                if large {
                                    crate::memory::release_free_memory();
                                }
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
        for (r, changes) in by_revision(&self.layout, resp) {
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
        let events = state.tree.apply(changes, r);
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
}

/// The changes of one watch response, grouped by revision in etcd's order,
/// one revision at a time: a response can carry a thousand revisions of
/// a thousand keys each, and only the revision being applied is held
/// twice (in the response and as changes).
fn by_revision<'r>(layout: &'r Layout, resp: &'r etcd_client::WatchResponse) -> Revisions<'r> {
    Revisions {
        layout,
        events: resp.events(),
    }
}

struct Revisions<'r> {
    layout: &'r Layout,
    events: &'r [etcd_client::Event],
}

impl Iterator for Revisions<'_> {
    type Item = (i64, Vec<Change>);

    fn next(&mut self) -> Option<(i64, Vec<Change>)> {
        let rev_of = |ev: &etcd_client::Event| ev.kv().map(|kv| kv.mod_revision());
        // Events without a key-value carry nothing to apply.
        let first = self.events.iter().position(|ev| ev.kv().is_some())?;
        self.events = &self.events[first..];
        let r = rev_of(&self.events[0]).expect("has a key-value");
        let n = self
            .events
            .iter()
            .position(|ev| rev_of(ev).is_some_and(|x| x != r))
            .unwrap_or(self.events.len());
        let (this, rest) = self.events.split_at(n);
        self.events = rest;
        let changes = this
            .iter()
            .filter_map(|ev| {
                let kv = ev.kv()?;
                classify(self.layout, kv, ev.event_type() == EtcdEventType::Put)
            })
            .collect();
        Some((r, changes))
    }
}

/// A tree built from etcd and the revision it reflects.
pub struct Built {
    pub tree: Tree,
    pub revision: i64,
}

#[derive(Debug)]
pub enum BuildError {
    /// The watermark's revision (or history after it) is compacted away.
    Compacted {
        watermark: i64,
    },
    Etcd(anyhow::Error),
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BuildError::Compacted { watermark } => write!(
                f,
                "etcd has compacted the history after the watermark (revision {watermark})"
            ),
            BuildError::Etcd(e) => write!(f, "{e:#}"),
        }
    }
}

fn is_compacted(e: &etcd_client::Error) -> bool {
    e.to_string().contains("compacted")
}

/// The keys of the layout range at one revision, classified.
pub struct Snapshot {
    pub revision: i64,
    pub changes: Vec<Change>,
}

/// Reads the whole layout range at `at` (None: now), paginated.
pub async fn snapshot(
    client: &Client,
    layout: &Layout,
    at: Option<i64>,
) -> Result<Snapshot, SnapshotError> {
    let mut changes = Vec::new();
    let revision = snapshot_pages(client, layout, at, |page| {
        changes.reserve(page.total.saturating_sub(changes.len()));
        changes.extend(page.changes);
    })
    .await?;
    Ok(Snapshot { revision, changes })
}

/// The tree of the keys at `at` (None: now), built page by page as they
/// arrive (`Loader`), and the revision it reflects. The snapshot is never
/// held whole: each page's keys become the tree's as it is entered.
pub async fn load_tree(
    client: &Client,
    layout: &Layout,
    at: Option<i64>,
) -> Result<(Tree, i64), SnapshotError> {
    let started = std::time::Instant::now();
    let mut loader = Loader::new();
    let mut first = true;
    let mut keys = 0usize;
    let revision = snapshot_pages(client, layout, at, |page| {
        if first {
            // etcd counts the whole range with the first page: the path
            // table grows once.
            loader.reserve(page.total);
            first = false;
        }
        keys += page.changes.len();
        for c in page.changes {
            loader.add(c);
        }
    })
    .await?;
    let tree = loader.finish(revision);
    debug!(
        revision,
        keys,
        znodes = tree.node_count(),
        ms = started.elapsed().as_millis() as u64,
        "snapshot loaded"
    );
    Ok((tree, revision))
}

/// One page of a snapshot.
pub struct Page {
    /// The revision the snapshot reads.
    pub revision: i64,
    /// Keys in the whole range, as etcd counted them.
    pub total: usize,
    pub changes: Vec<Change>,
}

/// Reads the whole layout range at `at` (None: now), paginated, and hands
/// each page to `page` in key order. Returns the revision read. A task of
/// its own fetches and classifies the next page while `page` works on the
/// last one, so etcd's range reads and what the caller does with them
/// overlap.
pub async fn snapshot_pages(
    client: &Client,
    layout: &Layout,
    at: Option<i64>,
    mut page: impl FnMut(Page),
) -> Result<i64, SnapshotError> {
    let (tx, mut rx) = mpsc::channel(1);
    let fetch = tokio::spawn(fetch_pages(
        client.clone(),
        layout.clone(),
        at.unwrap_or(0),
        tx,
    ));
    // Stops the fetch when the caller gives up on the snapshot.
    let _fetch = AbortOnDrop(fetch);
    let mut revision = 0;
    while let Some(next) = rx.recv().await {
        let next: Page = next?;
        revision = next.revision;
        page(next);
    }
    if revision == 0 {
        return Err(SnapshotError::Etcd(anyhow::anyhow!(
            "the snapshot read ended without a page"
        )));
    }
    Ok(revision)
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The pages of `snapshot_pages`, in order, then the end of the channel;
/// an error ends them.
async fn fetch_pages(
    client: Client,
    layout: Layout,
    mut at: i64,
    tx: mpsc::Sender<Result<Page, SnapshotError>>,
) {
    let (start, end) = layout.watch_range();
    let kv = client.kv_client().max_decoding_message_size(MAX_MESSAGE);
    let mut from = start.clone();
    let mut page = PAGE;
    let mut total = 0usize;
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
        let mut resp = match get.await {
            Ok(r) => r,
            // A page of large values can exceed the message limit:
            // ask for fewer keys.
            Err(e) if page > 1 && e.to_string().contains("too large") => {
                page = (page / 4).max(1);
                warn!(page, error = %e, "etcd page too large; asking for fewer keys");
                continue;
            }
            Err(e) => {
                let e = if is_compacted(&e) {
                    SnapshotError::Compacted
                } else {
                    SnapshotError::Etcd(e.into())
                };
                let _ = tx.send(Err(e)).await;
                return;
            }
        };
        if at == 0 {
            at = resp.header().map(|h| h.revision()).unwrap_or(0);
        }
        if total == 0 {
            total = usize::try_from(resp.count()).unwrap_or(0);
        }
        let more = resp.more();
        let kvs = resp.take_kvs();
        let mut bytes = 0usize;
        let n = kvs.len();
        if let Some(last) = kvs.last() {
            from = last.key().to_vec();
            from.push(0);
        }
        let mut changes = Vec::with_capacity(n);
        for item in kvs {
            bytes += item.key().len() + item.value().len() + 32;
            if let Some(c) = classify_owned(&layout, item) {
                changes.push(c);
            }
        }
        let sent = tx.send(Ok(Page {
            revision: at,
            total,
            changes,
        }));
        if sent.await.is_err() || !more || n == 0 {
            return;
        }
        let per_key = (bytes / n).max(1);
        page = ((PAGE_BYTES / per_key) as i64).clamp(1, PAGE_MAX);
    }
}

#[derive(Debug)]
pub enum SnapshotError {
    Compacted,
    Etcd(anyhow::Error),
}

impl From<SnapshotError> for anyhow::Error {
    fn from(e: SnapshotError) -> anyhow::Error {
        match e {
            SnapshotError::Compacted => anyhow::anyhow!("the revision is compacted"),
            SnapshotError::Etcd(e) => e,
        }
    }
}

/// Writes the sync marker; returns its revision.
async fn marker(client: &Client, layout: &Layout) -> anyhow::Result<i64> {
    let put = crate::etcd::retry_unsent(|| {
        let mut kv = client.kv_client();
        async move { kv.put(layout.sync_key(), Vec::new(), None).await }
    });
    let resp = put.await?;
    resp.header()
        .map(|h| h.revision())
        .ok_or_else(|| anyhow::anyhow!("etcd answered without a revision"))
}

/// The tree exactly as a replica serves it at revision `target` (None:
/// now): the keys at the accountant's watermark, then every revision after
/// it replayed, so that the child changes other writers made since are
/// counted the way every running instance counts them (`accountant`).
/// Without a watermark, the keys at the target revision.
pub async fn build_tree(
    client: &Client,
    layout: &Layout,
    target: Option<i64>,
) -> Result<Built, BuildError> {
    let etcd = |e: anyhow::Error| BuildError::Etcd(e);
    // Replaying needs an end the watch is sure to deliver: a marker put
    // after the target.
    let end = marker(client, layout).await.map_err(etcd)?;
    let target = target.unwrap_or(end);
    let mut kv = client.kv_client();
    let get = kv
        .get(
            layout.watermark_key(),
            Some(GetOptions::new().with_revision(target)),
        )
        .await;
    let watermark = match get {
        Ok(r) => r
            .kvs()
            .first()
            .and_then(|kv| layout::decode::<layout::WatermarkRec>(kv.value()))
            .map(|w| w.through),
        Err(e) if is_compacted(&e) => {
            return Err(BuildError::Etcd(anyhow::anyhow!(
                "revision {target} is compacted"
            )))
        }
        Err(e) => return Err(etcd(e.into())),
    };
    let Some(w) = watermark.filter(|w| *w > 0 && *w < target) else {
        let (tree, _) = load_tree(client, layout, Some(target))
            .await
            .map_err(|e| etcd(e.into()))?;
        return Ok(Built {
            tree,
            revision: target,
        });
    };
    let mut tree = match load_tree(client, layout, Some(w)).await {
        Ok((tree, _)) => tree,
        Err(SnapshotError::Compacted) => return Err(BuildError::Compacted { watermark: w }),
        Err(SnapshotError::Etcd(e)) => return Err(etcd(e)),
    };
    let (start, range_end) = layout.watch_range();
    let opts = WatchOptions::new()
        .with_range(range_end)
        .with_start_revision(w + 1);
    let mut wc = client.watch_client().max_decoding_message_size(MAX_MESSAGE);
    let (mut watcher, mut stream) = wc
        .watch(start, Some(opts))
        .await
        .map_err(|e| etcd(e.into()))?;
    let mut rev = w;
    'replay: while rev < end {
        let msg = tokio::time::timeout(Duration::from_secs(60), stream.message()).await;
        let resp = match msg {
            Ok(Ok(Some(r))) => r,
            Ok(Ok(None)) => return Err(etcd(anyhow::anyhow!("etcd ended the replay watch"))),
            Ok(Err(e)) => return Err(etcd(e.into())),
            Err(_) => return Err(etcd(anyhow::anyhow!("replay watch silent for 60 s"))),
        };
        if resp.canceled() {
            if resp.compact_revision() > 0 {
                return Err(BuildError::Compacted { watermark: w });
            }
            return Err(etcd(anyhow::anyhow!("etcd canceled the replay watch")));
        }
        for (r, changes) in by_revision(layout, &resp) {
            if r > target {
                break 'replay;
            }
            if r > rev {
                tree.apply(changes, r);
                rev = r;
            }
        }
    }
    let _ = watcher.cancel().await;
    debug!(
        watermark = w,
        target,
        replayed = rev - w,
        "tree built by replay"
    );
    Ok(Built {
        tree,
        revision: target,
    })
}

/// `classify` for a key read in a range (a put), taking its value rather
/// than copying it: a data key's bytes become the tree's as they are.
pub fn classify_owned(layout: &Layout, kv: KeyValue) -> Option<Change> {
    match layout.classify(kv.key()) {
        KeyKind::Data(p) => {
            let (create_rev, mod_rev, version, lease) = (
                kv.create_revision(),
                kv.mod_revision(),
                kv.version(),
                kv.lease(),
            );
            let (_, value) = kv.into_key_value();
            Some(Change::Data(
                p,
                Some(DataKv {
                    value: Bytes::from(value),
                    create_rev,
                    mod_rev,
                    version,
                    lease,
                }),
            ))
        }
        _ => classify(layout, &kv, true),
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
        KeyKind::Watermark => Change::Watermark(if put {
            match layout::decode::<layout::WatermarkRec>(kv.value()) {
                Some(w) => Some((w.through, rev)),
                None => {
                    warn!("unreadable watermark (0zoe/acct) ignored");
                    return None;
                }
            }
        } else {
            None
        }),
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
