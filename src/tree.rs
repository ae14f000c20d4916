//! The in-memory replica of the znode tree, rebuilt from etcd keys.
//!
//! Each znode is assembled from up to three etcd keys (data, meta, child
//! counters; see `layout`). The tree keeps the raw pieces together with
//! their etcd revisions, because the write path needs those revisions to
//! guard its transactions, and derives ZooKeeper's Stat from them on demand.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use bytes::Bytes;
use jute::{Acl, Id, Stat};

use crate::layout::{AuthRec, ChildRec, ChildRecord, Meta, NodeKind, SessionRec, StoredAcl};
use crate::path;

mod foreign;
mod load;

pub use load::Loader;

/// Maps keyed by path. hashbrown's default hasher (foldhash) is several
/// times faster than std's SipHash on paths, and its per-process random
/// seed still keeps clients from choosing znode names that collide.
type PathMap<V> = hashbrown::HashMap<Box<str>, V>;

/// The value under `path`, made if missing: one hash, and an allocation
/// only for a new path.
fn path_entry<'m, V: Default>(map: &'m mut PathMap<V>, path: &str) -> &'m mut V {
    map.raw_entry_mut()
        .from_key(path)
        .or_insert_with(|| (path.into(), V::default()))
        .1
}

/// A data key as etcd reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataKv {
    pub value: Bytes,
    pub create_rev: i64,
    pub mod_rev: i64,
    /// etcd's per-key version (1 after the first put).
    pub version: i64,
    pub lease: i64,
}

/// A child-counter record as etcd holds it.
#[derive(Debug, Clone, Copy)]
pub struct CrecKv {
    pub rec: ChildRecord,
    pub mod_rev: i64,
    /// etcd's per-key version.
    pub version: i64,
}

/// Everything the replica knows about one path.
#[derive(Debug, Default)]
pub struct Entry {
    pub data: Option<DataKv>,
    /// The meta record and its mod_revision.
    pub meta: Option<(Arc<Meta>, i64)>,
    /// The child-counter record (boxed: most znodes have none, and the
    /// entry is held once per znode).
    pub crec: Option<Box<CrecKv>>,
    /// etcd version of the child-delete counter key (0: none).
    pub deletes: i64,
    /// Names of existing children.
    pub children: BTreeSet<Box<str>>,
    /// `/`, `/zookeeper`, `/zookeeper/quota`, `/zookeeper/config`: exist
    /// without a key and report all-zero creation fields.
    pub special: bool,
    /// Child changes other writers made that the child record does not
    /// count yet (see `foreign`).
    pub pending: Option<Box<Pending>>,
    /// The ephemeral owner this entry is indexed under, to keep the
    /// session→ephemerals index exact.
    indexed_owner: i64,
}

/// Child changes of one znode that other writers made (a key put or
/// deleted below it without zoe's child record moving in the same
/// revision), after its child record's base: counted in what clients see
/// at once, in the record once the accountant folds them in. Every
/// replica that applied the same revisions holds the same list.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pending {
    /// (revision, child changes, of which creates), in revision order.
    events: Vec<(i64, u32, u32)>,
}

impl Pending {
    fn add(&mut self, rev: i64, changes: u32, creates: u32) {
        match self.events.last_mut() {
            Some(last) if last.0 == rev => {
                last.1 += changes;
                last.2 += creates;
            }
            _ => self.events.push((rev, changes, creates)),
        }
    }

    /// Forgets the changes a record with this base counts.
    fn prune(&mut self, base: i64) {
        self.events.retain(|e| e.0 > base);
    }

    pub fn changes(&self) -> u32 {
        self.events.iter().map(|e| e.1).fold(0, u32::wrapping_add)
    }

    pub fn creates(&self) -> u32 {
        self.events.iter().map(|e| e.2).fold(0, u32::wrapping_add)
    }

    /// Revision of the latest pending change.
    pub fn last(&self) -> i64 {
        self.events.last().map(|e| e.0).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

static DEFAULT_META: std::sync::OnceLock<Arc<Meta>> = std::sync::OnceLock::new();

fn default_meta() -> &'static Arc<Meta> {
    DEFAULT_META.get_or_init(|| Arc::new(Meta::default()))
}

impl Entry {
    /// A node exists if it is special, has a data key, or has descendants
    /// (an implicit node, left by writers that do not create parents; see
    /// `foreign`).
    pub fn exists(&self) -> bool {
        self.special || self.data.is_some() || !self.children.is_empty()
    }

    /// Exists only because something below it does.
    pub fn is_implicit(&self) -> bool {
        !self.special && self.data.is_none() && !self.children.is_empty()
    }

    /// The meta that applies to the current incarnation of the data key. A
    /// meta written before the data key was (re)created by someone else is
    /// stale, and then the defaults apply.
    pub fn meta(&self) -> &Meta {
        match (&self.meta, &self.data) {
            (Some((m, mrev)), Some(d)) if *mrev >= d.create_rev => m,
            (Some((m, _)), None) if self.special => m,
            _ => default_meta(),
        }
    }

    pub fn kind(&self) -> NodeKind {
        self.meta().kind
    }

    /// The session owning this node if it is a session ephemeral; for a
    /// key written by someone else with an etcd lease (a Pulsar
    /// ephemeral), that lease. zoe never attaches leases to data keys, and
    /// its session ids are lease ids, so the two cannot be confused.
    pub fn ephemeral_owner(&self) -> i64 {
        let m = self.meta();
        match m.kind {
            NodeKind::Ephemeral => m.owner,
            NodeKind::Persistent => self.data.as_ref().map(|d| d.lease).unwrap_or(0),
            _ => 0,
        }
    }

    /// The data as a client sees it: `None` for null data. The null flag
    /// describes zoe's last write only: once someone else wrote the key
    /// after it (a newer mod_revision), the key's bytes are the data.
    pub fn data(&self) -> Option<Bytes> {
        if self.meta().null_data && self.meta_rev() >= self.data_mod_rev() {
            return None;
        }
        Some(
            self.data
                .as_ref()
                .map(|d| d.value.clone())
                .unwrap_or_default(),
        )
    }

    pub fn data_len(&self) -> usize {
        self.data.as_ref().map(|d| d.value.len()).unwrap_or(0)
    }

    /// ZooKeeper's data version.
    pub fn version(&self) -> i32 {
        let etcd = self.data.as_ref().map(|d| d.version - 1).unwrap_or(0);
        (etcd as i32).wrapping_add(self.meta().version_offset)
    }

    /// The child counters clients see: the record's, plus the changes
    /// other writers made that it does not count yet.
    pub fn child_rec(&self, path: &str) -> ChildRec {
        let stored = self.stored_child_rec(path);
        match &self.pending {
            Some(p) => ChildRec {
                cversion: stored.cversion.wrapping_add(p.changes() as i32),
                creates: stored.creates.wrapping_add(p.creates() as i32),
            },
            None => stored,
        }
    }

    /// The child counters as the record alone has them.
    pub fn stored_child_rec(&self, path: &str) -> ChildRec {
        match &self.crec {
            Some(c) => c.rec.counters(c.version, self.deletes),
            None => ChildRec {
                cversion: match path {
                    // `zookeeper` is a child of `/` that was never counted
                    // as a create, and `/zookeeper` has two such children.
                    "/" => -1,
                    "/zookeeper" => -2,
                    _ => 0,
                },
                creates: 0,
            },
        }
    }

    /// Child changes not yet in the record.
    pub fn pending(&self) -> Option<&Pending> {
        self.pending.as_deref()
    }

    pub fn crec_rev(&self) -> i64 {
        self.crec.as_ref().map(|c| c.mod_rev).unwrap_or(0)
    }

    /// etcd version of the child-counter key (0: none).
    pub fn crec_version(&self) -> i64 {
        self.crec.as_ref().map(|c| c.version).unwrap_or(0)
    }

    /// Whether the child-counter record may be bumped without rewriting it.
    pub fn crec_bumpable(&self) -> bool {
        self.crec.as_ref().is_some_and(|c| !c.rec.is_legacy())
    }

    pub fn meta_rev(&self) -> i64 {
        self.meta.as_ref().map(|m| m.1).unwrap_or(0)
    }

    pub fn data_create_rev(&self) -> i64 {
        self.data.as_ref().map(|d| d.create_rev).unwrap_or(0)
    }

    pub fn data_mod_rev(&self) -> i64 {
        self.data.as_ref().map(|d| d.mod_rev).unwrap_or(0)
    }

    pub fn acl(&self, path: &str) -> Vec<Acl> {
        match &self.meta().acl {
            Some(list) => list.iter().map(stored_to_acl).collect(),
            // ZooKeeper keeps its dynamic configuration read-only.
            None if path == "/zookeeper/config" => vec![Acl {
                perms: jute::perms::READ,
                id: Id {
                    scheme: "world".into(),
                    id: "anyone".into(),
                },
            }],
            None => open_acl(),
        }
    }

    /// The ACL if it restricts anyone (None: world:anyone may do all).
    pub fn restricted_acl(&self, path: &str) -> Option<Vec<Acl>> {
        if self.meta().acl.is_none() && path != "/zookeeper/config" {
            None
        } else {
            Some(self.acl(path))
        }
    }

    pub fn stat(&self, path: &str) -> Stat {
        let meta = self.meta();
        let (czxid, ctime) = if self.special {
            (0, 0)
        } else {
            let czxid = match meta.czxid {
                -1 => self.meta_rev(),
                c if c > 0 => c,
                _ => self.data_create_rev(),
            };
            (czxid, meta.ctime)
        };
        let mzxid = self.data_mod_rev();
        let crec = self.child_rec(path);
        let stored_pzxid = match &self.crec {
            Some(c) => c.rec.pzxid(c.version, c.mod_rev),
            None => czxid,
        };
        let pzxid = stored_pzxid.max(self.pending.as_ref().map(|p| p.last()).unwrap_or(0));
        Stat {
            czxid,
            mzxid,
            ctime,
            mtime: if self.data.is_some() { meta.mtime } else { 0 },
            version: self.version(),
            cversion: crec.cversion,
            // ZooKeeper sets the config node's read-only ACL with a setACL
            // at version -1, which leaves -1 as its aversion.
            aversion: if path == "/zookeeper/config" && self.meta.is_none() {
                -1
            } else {
                meta.aversion
            },
            ephemeral_owner: self.ephemeral_owner(),
            data_length: self.data_len() as i32,
            num_children: self.children.len() as i32,
            pzxid,
        }
    }
}

pub fn open_acl() -> Vec<Acl> {
    vec![Acl {
        perms: jute::perms::ALL,
        id: Id {
            scheme: "world".into(),
            id: "anyone".into(),
        },
    }]
}

pub fn stored_to_acl(s: &StoredAcl) -> Acl {
    Acl {
        perms: s.perms,
        id: Id {
            scheme: s.scheme.clone(),
            id: s.id.clone(),
        },
    }
}

pub fn acl_to_stored(a: &Acl) -> StoredAcl {
    StoredAcl {
        perms: a.perms,
        scheme: a.id.scheme.clone(),
        id: a.id.id.clone(),
    }
}

/// Stored form of an ACL list: `None` for OPEN_ACL_UNSAFE.
pub fn acl_for_meta(acl: &[Acl]) -> Option<Vec<StoredAcl>> {
    if acl == open_acl().as_slice() {
        None
    } else {
        Some(acl.iter().map(acl_to_stored).collect())
    }
}

/// A session as the replica sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionEntry {
    pub rec: SessionRec,
    pub mod_rev: i64,
    pub create_rev: i64,
}

/// One key change of a revision, already classified.
#[derive(Debug, Clone)]
pub enum Change {
    Data(String, Option<DataKv>),
    Meta(String, Option<(Meta, i64)>),
    Children(String, Option<CrecKv>),
    /// The child-delete counter key's etcd version (0: deleted).
    Deletes(String, i64),
    Session(i64, Option<SessionEntry>),
    Events(Option<Vec<(i32, String)>>),
    Auth(Option<AuthRec>),
    /// The accountant's watermark: (through, mod_revision of the key).
    Watermark(Option<(i64, i64)>),
}

/// A ZooKeeper event produced by applying a revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZkEvent {
    pub event_type: i32,
    pub path: String,
    /// The ACL a watcher needs READ on to receive it (the node's, as of
    /// the event); None when the node is open to everyone.
    pub acl: Option<Arc<Vec<Acl>>>,
}

#[derive(Debug)]
pub struct Tree {
    /// Entries are boxed: the table keeps up to twice as many slots as
    /// entries (it grows by doubling), and a slot then costs a pointer
    /// instead of a whole entry.
    nodes: PathMap<Box<Entry>>,
    ephemerals: HashMap<i64, BTreeSet<String>>,
    /// The most ephemerals each live session has held at once: the
    /// capacity of ZooKeeper's per-session hash set, which decides the
    /// order its ephemerals are deleted in.
    ephemeral_peak: HashMap<i64, usize>,
    sessions: HashMap<i64, SessionEntry>,
    auth: AuthRec,
    /// Containers and TTL nodes, which the reaper inspects.
    reapable: BTreeSet<String>,
    node_count: usize,
    data_size: u64,
    /// The revision the tree reflects.
    revision: i64,
    /// Znodes with pending child changes, and paths whose counter keys
    /// outlived their znode: the accountant's work.
    pending_paths: BTreeSet<String>,
    orphans: BTreeSet<String>,
    watermark: Option<(i64, i64)>,
    /// Children entered or removed per parent while applying one revision:
    /// (changes, of which creates).
    child_events: PathMap<(u32, u32)>,
}

impl Default for Tree {
    fn default() -> Self {
        Self::new()
    }
}

impl Tree {
    pub fn new() -> Tree {
        let mut t = Tree {
            nodes: PathMap::default(),
            ephemerals: HashMap::new(),
            ephemeral_peak: HashMap::new(),
            sessions: HashMap::new(),
            auth: AuthRec::default(),
            reapable: BTreeSet::new(),
            node_count: 4,
            data_size: 0,
            revision: 0,
            pending_paths: BTreeSet::new(),
            orphans: BTreeSet::new(),
            watermark: None,
            child_events: PathMap::default(),
        };
        for p in ["/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"] {
            t.entry_mut(p).special = true;
            if let Some(parent) = path::parent(p) {
                t.entry_mut(parent).children.insert(path::name(p).into());
            }
        }
        t
    }

    pub fn get(&self, path: &str) -> Option<&Entry> {
        self.raw(path).filter(|e| e.exists())
    }

    /// The entry even if the node does not exist (for revisions to compare).
    pub fn raw(&self, path: &str) -> Option<&Entry> {
        self.nodes.get(path).map(|e| &**e)
    }

    fn entry_mut(&mut self, path: &str) -> &mut Entry {
        path_entry::<Box<Entry>>(&mut self.nodes, path)
    }

    /// Number of znodes, the special ones included.
    pub fn node_count(&self) -> usize {
        self.node_count
    }

    /// Sum of the data lengths of all znodes.
    pub fn data_size(&self) -> u64 {
        self.data_size
    }

    /// Containers and TTL nodes.
    pub fn reapable(&self) -> impl Iterator<Item = &str> {
        self.reapable.iter().map(|s| s.as_str())
    }

    /// Authentication settings shared through etcd.
    pub fn auth(&self) -> &AuthRec {
        &self.auth
    }

    /// The revision the tree reflects.
    pub fn revision(&self) -> i64 {
        self.revision
    }

    /// The accountant's watermark and the revision it was written at.
    pub fn watermark(&self) -> Option<(i64, i64)> {
        self.watermark
    }

    /// Znodes whose child counters include changes the record does not.
    pub fn pending_paths(&self) -> impl Iterator<Item = &str> {
        self.pending_paths.iter().map(|s| s.as_str())
    }

    /// Paths with a child record or child-delete counter but no znode:
    /// left by another writer deleting the znode, or by a directory that
    /// existed only through its descendants.
    pub fn orphans(&self) -> impl Iterator<Item = &str> {
        self.orphans.iter().map(|s| s.as_str())
    }

    pub fn sessions(&self) -> &HashMap<i64, SessionEntry> {
        &self.sessions
    }

    pub fn session(&self, id: i64) -> Option<&SessionEntry> {
        self.sessions.get(&id)
    }

    /// Paths of the ephemerals a session owns, sorted.
    pub fn ephemerals_of(&self, session: i64) -> Vec<String> {
        self.ephemerals
            .get(&session)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// A session's ephemerals in the order ZooKeeper iterates them — the
    /// iteration order of a java.util.HashSet of the paths — which is the
    /// order ZooKeeper deletes them in when the session ends (and so the
    /// order of the notifications) and lists them in getEphemerals.
    pub fn ephemerals_in_zookeeper_order(&self, session: i64) -> Vec<String> {
        let Some(set) = self.ephemerals.get(&session) else {
            return Vec::new();
        };
        let peak = self
            .ephemeral_peak
            .get(&session)
            .copied()
            .unwrap_or(0)
            .max(set.len());
        // HashMap's table: 16 buckets, doubled whenever the size passed
        // three quarters of it.
        let mut capacity: usize = 16;
        while peak > capacity * 3 / 4 {
            capacity *= 2;
        }
        let spread = |p: &str| {
            let h = java_string_hash(p);
            (h ^ ((h as u32) >> 16) as i32) as u32 as usize
        };
        let mut keyed: Vec<(usize, i64, &String)> = set
            .iter()
            .map(|p| {
                let created = self
                    .nodes
                    .get(p.as_str())
                    .map(|e| e.data_create_rev())
                    .unwrap_or(0);
                // Within a bucket entries keep their insertion order.
                (spread(p) & (capacity - 1), created, p)
            })
            .collect();
        keyed.sort();
        // ZooKeeper iterates a clone of that set, whose table is sized for
        // its current size (tableSizeFor(size / 0.75 + 1)) and filled in
        // the original's order.
        let clone_capacity = ((set.len() as f32 / 0.75 + 1.0) as usize)
            .max(1)
            .next_power_of_two();
        let mut ordered: Vec<(usize, usize, &String)> = keyed
            .into_iter()
            .enumerate()
            .map(|(i, (_, _, p))| (spread(p) & (clone_capacity - 1), i, p))
            .collect();
        ordered.sort();
        ordered.into_iter().map(|(_, _, p)| p.clone()).collect()
    }

    /// Owners of ephemerals, for finding orphans at start.
    pub fn ephemeral_owners(&self) -> Vec<i64> {
        self.ephemerals.keys().copied().collect()
    }

    /// Number of descendants of `path` (the node itself excluded).
    pub fn descendants(&self, path: &str) -> usize {
        let mut count = 0;
        let mut stack = vec![path.to_string()];
        while let Some(p) = stack.pop() {
            if let Some(e) = self.get(&p) {
                for c in &e.children {
                    count += 1;
                    stack.push(path::join(&p, c));
                }
            }
        }
        count
    }

    /// Applies the key changes of revision `rev`, in etcd's order, and
    /// returns the ZooKeeper events they stand for. Child changes that no
    /// child record counts in the same revision are pending (`Pending`).
    pub fn apply(&mut self, changes: Vec<Change>, rev: i64) -> Vec<ZkEvent> {
        self.apply_changes(changes, rev, true)
    }

    /// Enters the keys of a snapshot taken at revision `rev`. Nothing is
    /// pending: every child change up to a snapshot the replica loads is
    /// counted in the records (see `accountant`).
    /// A fresh tree takes the bulk path (`Loader`); one that already
    /// holds keys enters them change by change.
    pub fn load(&mut self, keys: Vec<Change>, rev: i64) {
        if self.is_fresh() {
            let mut loader = Loader::new();
            for k in keys {
                loader.add(k);
            }
            *self = loader.finish(rev);
        } else {
            self.apply_changes(keys, rev, false);
        }
    }

    /// Nothing but what `Tree::new` made.
    fn is_fresh(&self) -> bool {
        self.revision == 0
            && self.nodes.len() == 4
            && self.node_count == 4
            && self.sessions.is_empty()
            && self.watermark.is_none()
            && self.auth == AuthRec::default()
    }

    fn apply_changes(&mut self, changes: Vec<Change>, rev: i64, count: bool) -> Vec<ZkEvent> {
        self.child_events.clear();
        let mut counted: std::collections::HashSet<String> = std::collections::HashSet::new();
        let mut derived = Vec::new();
        let mut explicit: Option<Vec<(i32, String)>> = None;
        let mut touched: Vec<String> = Vec::new();
        // ACLs of nodes this revision deletes, taken before they go.
        let mut gone_acls: HashMap<String, Option<Vec<Acl>>> = HashMap::new();
        for change in changes {
            match change {
                Change::Data(p, kv) => {
                    self.apply_data(&p, kv, &mut derived, &mut gone_acls);
                    touched.push(p);
                }
                Change::Meta(p, m) => {
                    self.entry_mut(&p).meta = m.map(|(m, rev)| (Arc::new(m), rev));
                    touched.push(p);
                }
                Change::Children(p, c) => {
                    let e = self.entry_mut(&p);
                    match (&c, &mut e.pending) {
                        (Some(c), Some(pending)) => {
                            pending.prune(c.rec.base);
                            if pending.is_empty() {
                                e.pending = None;
                            }
                        }
                        // The record goes with its znode, and the counts
                        // with it.
                        (None, _) => e.pending = None,
                        _ => {}
                    }
                    let recorded = c.is_some();
                    e.crec = c.map(Box::new);
                    if recorded {
                        counted.insert(p.clone());
                    }
                    touched.push(p);
                }
                Change::Deletes(p, v) => {
                    self.entry_mut(&p).deletes = v;
                    touched.push(p);
                }
                Change::Session(id, s) => match s {
                    Some(s) => {
                        self.sessions.insert(id, s);
                    }
                    None => {
                        self.sessions.remove(&id);
                        self.ephemeral_peak.remove(&id);
                    }
                },
                Change::Events(list) => explicit = list,
                Change::Auth(a) => self.auth = a.unwrap_or_default(),
                Change::Watermark(w) => self.watermark = w,
            }
        }
        if count {
            // A child change zoe makes always moves the parent's child
            // record in the same transaction; any other is another writer's.
            let mut events: Vec<(Box<str>, (u32, u32))> = self.child_events.drain().collect();
            events.sort();
            for (q, (changes, creates)) in events {
                if counted.contains(&*q) {
                    continue;
                }
                let Some(e) = self.nodes.get_mut(&*q) else {
                    continue;
                };
                if e.exists() || e.crec.is_some() {
                    e.pending
                        .get_or_insert_with(Default::default)
                        .add(rev, changes, creates);
                    touched.push(q.into());
                }
            }
        }
        self.child_events.clear();
        for p in touched {
            self.reindex(&p);
        }
        self.revision = rev;
        let mut events = match explicit {
            Some(list) => list
                .into_iter()
                .map(|(t, p)| ZkEvent {
                    event_type: t,
                    path: p,
                    acl: None,
                })
                .collect(),
            None => derived,
        };
        for e in &mut events {
            let acl = match self.get(e.path.as_str()) {
                Some(n) => n.restricted_acl(&e.path),
                None => gone_acls.get(&e.path).cloned().flatten(),
            };
            e.acl = acl.map(Arc::new);
        }
        events
    }

    /// Keeps the ephemeral index and the accountant's sets right, and
    /// drops entries that hold nothing.
    fn reindex(&mut self, p: &str) {
        let Some(e) = self.nodes.get_mut(p) else {
            self.pending_paths.remove(p);
            self.orphans.remove(p);
            return;
        };
        // Pending changes belong to a znode or to the record that will
        // count them; without either they are nobody's.
        if !e.exists() && e.crec.is_none() {
            e.pending = None;
        }
        if e.pending.is_some() {
            self.pending_paths.insert(p.to_string());
        } else {
            self.pending_paths.remove(p);
        }
        if !e.special && !e.exists() && (e.crec.is_some() || e.deletes != 0) {
            self.orphans.insert(p.to_string());
        } else {
            self.orphans.remove(p);
        }
        let owner = if e.data.is_some() && e.kind() == NodeKind::Ephemeral {
            e.meta().owner
        } else {
            0
        };
        let old = e.indexed_owner;
        e.indexed_owner = owner;
        let reapable = e.data.is_some() && matches!(e.kind(), NodeKind::Container | NodeKind::Ttl);
        if e.holds_nothing() {
            self.nodes.remove(p);
            self.pending_paths.remove(p);
        }
        if reapable {
            self.reapable.insert(p.to_string());
        } else {
            self.reapable.remove(p);
        }
        if old != owner {
            if old != 0 {
                if let Some(set) = self.ephemerals.get_mut(&old) {
                    set.remove(p);
                    if set.is_empty() {
                        self.ephemerals.remove(&old);
                    }
                }
            }
            if owner != 0 {
                let set = self.ephemerals.entry(owner).or_default();
                set.insert(p.to_string());
                let peak = self.ephemeral_peak.entry(owner).or_insert(0);
                *peak = (*peak).max(set.len());
            }
        }
    }

    /// Every existing path, for resynchronisation diffs.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.nodes
            .iter()
            .filter(|(_, e)| e.exists())
            .map(|(p, _)| p.as_ref())
    }
}

/// java.lang.String.hashCode over UTF-16 code units.
fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32))
}

fn event(t: jute::EventType, p: &str) -> ZkEvent {
    ZkEvent {
        event_type: t as i32,
        path: p.to_string(),
        acl: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(rev: i64, version: i64, create: i64) -> Option<DataKv> {
        Some(DataKv {
            value: Bytes::from_static(b"x"),
            create_rev: create,
            mod_rev: rev,
            version,
            lease: 0,
        })
    }

    #[test]
    fn fresh_tree_matches_zookeeper() {
        let t = Tree::new();
        let root = t.get("/").unwrap();
        let st = root.stat("/");
        assert_eq!(st.cversion, -1);
        assert_eq!(st.num_children, 1);
        assert_eq!(t.get("/zookeeper").unwrap().stat("/zookeeper").cversion, -2);
        assert_eq!(t.descendants("/"), 3);
        assert_eq!(t.node_count(), 4);
        assert_eq!(root.data(), Some(Bytes::new()));
    }

    #[test]
    fn apply_derives_events_and_children() {
        let mut t = Tree::new();
        let ev = t.apply(
            vec![
                Change::Data("/a".into(), kv(5, 1, 5)),
                Change::Children(
                    "/".into(),
                    Some(CrecKv {
                        rec: ChildRecord::exact(
                            ChildRec {
                                cversion: 0,
                                creates: 1,
                            },
                            1,
                            0,
                            0,
                        ),
                        mod_rev: 5,
                        version: 1,
                    }),
                ),
            ],
            5,
        );
        assert_eq!(
            ev,
            vec![
                event(jute::EventType::NodeCreated, "/a"),
                event(jute::EventType::NodeChildrenChanged, "/"),
            ]
        );
        let st = t.get("/").unwrap().stat("/");
        assert_eq!((st.cversion, st.num_children, st.pzxid), (0, 2, 5));
        let ev = t.apply(vec![Change::Data("/a".into(), kv(6, 2, 5))], 6);
        assert_eq!(ev, vec![event(jute::EventType::NodeDataChanged, "/a")]);
        let a = t.get("/a").unwrap().stat("/a");
        assert_eq!((a.czxid, a.mzxid, a.version, a.pzxid), (5, 6, 1, 5));
        let ev = t.apply(vec![Change::Data("/a".into(), None)], 1003);
        assert_eq!(ev.len(), 2);
        assert!(t.get("/a").is_none());
        assert_eq!(t.get("/").unwrap().children.len(), 1);
        assert_eq!((t.node_count(), t.data_size()), (4, 0));
    }

    #[test]
    fn java_hash_order() {
        assert_eq!(java_string_hash("/o/a"), 1_508_402);
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("hello"), 99_162_322);
        let mut t = Tree::new();
        for (i, p) in ["/o/a", "/o/b", "/o/c", "/o/d", "/o/e", "/o/f"]
            .iter()
            .enumerate()
        {
            let meta = Meta {
                kind: NodeKind::Ephemeral,
                owner: 9,
                ..Meta::default()
            };
            let rev = 10 + i as i64;
            t.apply(
                vec![
                    Change::Data(p.to_string(), kv(rev, 1, rev)),
                    Change::Meta(p.to_string(), Some((meta, rev))),
                ],
                rev,
            );
        }
        // ZooKeeper 3.9.5 deletes these in the order f, e, d, c, b, a.
        assert_eq!(
            t.ephemerals_in_zookeeper_order(9),
            vec!["/o/f", "/o/e", "/o/d", "/o/c", "/o/b", "/o/a"]
        );
    }

    #[test]
    fn ephemeral_index_follows_meta() {
        let mut t = Tree::new();
        let meta = Meta {
            kind: NodeKind::Ephemeral,
            owner: 42,
            ..Meta::default()
        };
        t.apply(
            vec![
                Change::Data("/e".into(), kv(7, 1, 7)),
                Change::Meta("/e".into(), Some((meta, 7))),
            ],
            7,
        );
        assert_eq!(t.ephemerals_of(42), vec!["/e".to_string()]);
        assert_eq!(t.get("/e").unwrap().stat("/e").ephemeral_owner, 42);
        t.apply(
            vec![
                Change::Data("/e".into(), None),
                Change::Meta("/e".into(), None),
            ],
            1006,
        );
        assert!(t.ephemerals_of(42).is_empty());
        assert!(t.raw("/e").is_none());
    }
}
