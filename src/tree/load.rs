//! Building a tree from a snapshot in one pass.
//!
//! A snapshot is every key of the layout range at one revision, each put
//! once, none pending (`Tree::load`). Entering it change by change, as a
//! live revision is applied, costs a cold start most of its time: events
//! derived and thrown away, child changes noted per key, every touched path
//! re-indexed once per key below it. The loader enters each key where it
//! belongs, links each new node into its parent's children (implicit
//! ancestors included), and computes the indexes once at the end. The
//! result is the tree the per-change path builds from the same keys (the
//! tests below build both from random key sets and compare them).

use std::sync::Arc;

use tracing::debug;

use super::{Change, DataKv, Entry, Tree};
use crate::layout::NodeKind;
use crate::path;

/// A tree being built from the keys of a snapshot, in any order.
pub struct Loader {
    tree: Tree,
}

impl Default for Loader {
    fn default() -> Self {
        Self::new()
    }
}

impl Loader {
    pub fn new() -> Loader {
        Loader { tree: Tree::new() }
    }

    /// Room for about `n` more keys, to grow the path table once.
    pub fn reserve(&mut self, n: usize) {
        self.tree.nodes.reserve(n);
    }

    /// Enters one key of the snapshot.
    pub fn add(&mut self, change: Change) {
        let t = &mut self.tree;
        match change {
            Change::Data(p, Some(kv)) => self.data(p, kv),
            // A snapshot holds puts only; a deletion (never sent by
            // `snapshot`) goes the per-change way, which handles it.
            Change::Data(p, None) => {
                t.apply_data(&p, None, &mut Vec::new(), &mut Default::default());
            }
            Change::Meta(p, m) => entry(t, p).meta = m.map(|(m, rev)| (Arc::new(m), rev)),
            Change::Children(p, c) => entry(t, p).crec = c.map(Box::new),
            Change::Deletes(p, v) => entry(t, p).deletes = v,
            Change::Session(id, s) => match s {
                Some(s) => {
                    t.sessions.insert(id, s);
                }
                None => {
                    t.sessions.remove(&id);
                    t.ephemeral_peak.remove(&id);
                }
            },
            // Explicit events only name what watchers of a revision see.
            Change::Events(_) => {}
            Change::Auth(a) => t.auth = a.unwrap_or_default(),
            Change::Watermark(w) => t.watermark = w,
        }
    }

    /// A data key put: the node, and the ancestors it makes appear.
    fn data(&mut self, p: String, kv: DataKv) {
        if path::validate(&p).is_err() {
            // As `Tree::apply_data`: no ZooKeeper client could name it.
            debug!(key = %p.escape_debug(), "not a ZooKeeper path; key ignored");
            return;
        }
        let t = &mut self.tree;
        let (before, old_len) = match t.nodes.get(p.as_str()) {
            Some(e) => (e.exists(), e.data_len()),
            None => (false, 0),
        };
        t.data_size = (t.data_size + kv.value.len() as u64).saturating_sub(old_len as u64);
        if !before {
            t.node_count += 1;
            link_up(t, &p);
        }
        entry(t, p).data = Some(kv);
    }

    /// The tree at revision `rev`, indexed.
    pub fn finish(self, rev: i64) -> Tree {
        let mut t = self.tree;
        t.child_events.clear();
        t.revision = rev;
        // What `Tree::reindex` keeps right per path, computed for all at
        // once.
        t.nodes.retain(|_, e| !e.holds_nothing());
        t.ephemerals.clear();
        t.pending_paths.clear();
        t.orphans.clear();
        t.reapable.clear();
        for (p, e) in t.nodes.iter_mut() {
            if !e.exists() && e.crec.is_none() {
                e.pending = None;
            }
            if e.pending.is_some() {
                t.pending_paths.insert(p.to_string());
            }
            if !e.special && !e.exists() && (e.crec.is_some() || e.deletes != 0) {
                t.orphans.insert(p.to_string());
            }
            let kind = e.kind();
            e.indexed_owner = if e.data.is_some() && kind == NodeKind::Ephemeral {
                e.meta().owner
            } else {
                0
            };
            if e.indexed_owner != 0 {
                t.ephemerals
                    .entry(e.indexed_owner)
                    .or_default()
                    .insert(p.to_string());
            }
            if e.data.is_some() && matches!(kind, NodeKind::Container | NodeKind::Ttl) {
                t.reapable.insert(p.to_string());
            }
        }
        for (owner, set) in &t.ephemerals {
            let peak = t.ephemeral_peak.entry(*owner).or_insert(0);
            *peak = (*peak).max(set.len());
        }
        t
    }
}

/// The entry of `p`, made if missing; the key's string becomes the map's.
fn entry(t: &mut Tree, p: String) -> &mut Entry {
    t.nodes.entry(p.into_boxed_str()).or_default()
}

/// Enters `p`, which has just come to exist, in its parent's children, and
/// the parent in its own if it only now exists (an implicit node), up to
/// the first ancestor that existed.
fn link_up(t: &mut Tree, p: &str) {
    let mut child = p;
    while let Some(parent) = path::parent(child) {
        let e = super::path_entry(&mut t.nodes, parent);
        let existed = e.exists();
        e.children.insert(path::name(child).into());
        if existed {
            break;
        }
        t.node_count += 1;
        child = parent;
    }
}

impl Entry {
    /// Nothing left to keep: `Tree::reindex` drops such entries.
    pub(super) fn holds_nothing(&self) -> bool {
        !self.special
            && self.data.is_none()
            && self.meta.is_none()
            && self.crec.is_none()
            && self.deletes == 0
            && self.children.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use proptest::prelude::*;

    use super::super::{Change, CrecKv, DataKv, SessionEntry, Tree};
    use super::Loader;
    use crate::layout::{ChildRec, ChildRecord, Meta, NodeKind, SessionRec};

    /// Everything a tree holds, in a form that compares: the entries in
    /// path order with every field, the counters and every index.
    fn dump(t: &Tree) -> String {
        let mut nodes: Vec<_> = t.nodes.iter().collect();
        nodes.sort_by(|a, b| a.0.cmp(b.0));
        let mut out = String::new();
        for (p, e) in nodes {
            let stat = e.exists().then(|| e.stat(p));
            out += &format!(
                "{p}: exists={} {e:?} stat={stat:?} child_rec={:?} acl={:?}\n",
                e.exists(),
                e.child_rec(p),
                e.acl(p)
            );
        }
        let mut eph: Vec<_> = t.ephemerals.iter().collect();
        eph.sort();
        let mut peak: Vec<_> = t.ephemeral_peak.iter().collect();
        peak.sort();
        let mut sessions: Vec<_> = t.sessions.iter().collect();
        sessions.sort_by_key(|s| *s.0);
        out += &format!(
            "node_count={} data_size={} revision={} watermark={:?} auth={:?}\n\
             ephemerals={eph:?} peak={peak:?} sessions={sessions:?}\n\
             reapable={:?} pending={:?} orphans={:?} descendants={}\n",
            t.node_count(),
            t.data_size(),
            t.revision(),
            t.watermark(),
            t.auth(),
            t.reapable,
            t.pending_paths,
            t.orphans,
            t.descendants("/"),
        );
        out
    }

    /// The tree the per-change path builds from the keys, one revision per
    /// key (`count`: as live revisions, with other writers' child changes
    /// pending; otherwise as a load).
    fn per_change(keys: &[Change], rev: i64, count: bool) -> Tree {
        let mut t = Tree::new();
        for k in keys {
            t.apply_changes(vec![k.clone()], 1, count);
        }
        t.revision = rev;
        t
    }

    fn bulk(keys: &[Change], rev: i64) -> Tree {
        let mut l = Loader::new();
        for k in keys {
            l.add(k.clone());
        }
        l.finish(rev)
    }

    const NAMES: [&str; 4] = ["a", "b", "zookeeper", "n7"];

    fn arb_path() -> impl Strategy<Value = String> {
        prop_oneof![
            8 => prop::collection::vec(prop::sample::select(NAMES.to_vec()), 1..5)
                .prop_map(|parts| format!("/{}", parts.join("/"))),
            1 => prop::sample::select(vec![
                "/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config", "/a//b", "/a/",
            ])
            .prop_map(str::to_string),
        ]
    }

    fn arb_meta() -> impl Strategy<Value = Meta> {
        (0..4u8, 0..3i64, any::<bool>(), 0..3i32).prop_map(|(kind, owner, null, av)| Meta {
            kind: match kind {
                0 => NodeKind::Persistent,
                1 => NodeKind::Ephemeral,
                2 => NodeKind::Container,
                _ => NodeKind::Ttl,
            },
            owner: owner * 0x1000,
            null_data: null,
            aversion: av,
            ctime: 77,
            ..Meta::default()
        })
    }

    /// One key of a snapshot at revision 100 or less.
    fn arb_key() -> impl Strategy<Value = Change> {
        prop_oneof![
            6 => (arb_path(), 0..3usize, 1..50i64, 0..20i64, 1..4i64, 0..2i64).prop_map(
                |(p, len, create, later, version, lease)| Change::Data(
                    p,
                    Some(DataKv {
                        value: Bytes::from(vec![b'v'; len]),
                        create_rev: create,
                        mod_rev: create + later,
                        version,
                        // A leased key another writer made.
                        lease: lease * 0x77,
                    })
                )
            ),
            3 => (arb_path(), arb_meta(), 1..100i64)
                .prop_map(|(p, m, rev)| Change::Meta(p, Some((m, rev)))),
            2 => (arb_path(), 0..5i64, 1..100i64, 1..9i64, 0..3i64).prop_map(
                |(p, off, rev, version, base)| Change::Children(
                    p,
                    Some(CrecKv {
                        rec: ChildRecord::exact(
                            ChildRec { cversion: off as i32, creates: off as i32 },
                            version,
                            0,
                            base,
                        ),
                        mod_rev: rev,
                        version,
                    })
                )
            ),
            1 => (arb_path(), 1..5i64).prop_map(|(p, v)| Change::Deletes(p, v)),
            1 => (1..3i64, 1..100i64).prop_map(|(id, rev)| Change::Session(
                id * 0x1000,
                Some(SessionEntry {
                    rec: SessionRec {
                        timeout_ms: 4000,
                        password: "00".into(),
                        owner: "i1".into(),
                    },
                    mod_rev: rev,
                    create_rev: rev,
                })
            )),
            1 => (1..100i64, 1..100i64)
                .prop_map(|(w, rev)| Change::Watermark(Some((w, rev)))),
        ]
    }

    /// A snapshot: each key at most once.
    fn arb_snapshot() -> impl Strategy<Value = Vec<Change>> {
        prop::collection::vec(arb_key(), 0..40).prop_map(|keys| {
            let mut seen = std::collections::HashSet::new();
            keys.into_iter()
                .filter(|k| {
                    let id = match k {
                        Change::Data(p, _) => format!("d{p}"),
                        Change::Meta(p, _) => format!("m{p}"),
                        Change::Children(p, _) => format!("c{p}"),
                        Change::Deletes(p, _) => format!("x{p}"),
                        Change::Session(id, _) => format!("s{id}"),
                        Change::Watermark(_) => "w".into(),
                        Change::Events(_) | Change::Auth(_) => "e".into(),
                    };
                    seen.insert(id)
                })
                .collect()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// The bulk path builds exactly what entering the keys one by one
        /// builds, whatever their order.
        #[test]
        fn bulk_load_is_the_per_change_load(keys in arb_snapshot(), rev in 100..200i64) {
            let reference = dump(&per_change(&keys, rev, false));
            prop_assert_eq!(dump(&bulk(&keys, rev)), reference.clone());
            let mut reversed = keys.clone();
            reversed.reverse();
            prop_assert_eq!(dump(&bulk(&reversed, rev)), reference.clone());
            let mut t = Tree::new();
            t.load(keys.clone(), rev);
            prop_assert_eq!(dump(&t), reference.clone());
            // One revision holding every key.
            let mut t = Tree::new();
            t.apply_changes(keys.clone(), rev, false);
            prop_assert_eq!(dump(&t), reference);
        }

        /// Against live revisions: the same nodes, data, children, stats
        /// and indexes; only other writers' child changes, which a live
        /// tree counts as pending and a snapshot has already counted in
        /// its records, differ.
        #[test]
        fn bulk_load_serves_what_live_revisions_serve(keys in arb_snapshot()) {
            let live = per_change(&keys, 100, true);
            let loaded = bulk(&keys, 100);
            let paths = |t: &Tree| {
                let mut v: Vec<String> = t.paths().map(str::to_string).collect();
                v.sort();
                v
            };
            prop_assert_eq!(paths(&loaded), paths(&live));
            for p in paths(&live) {
                let (a, b) = (loaded.get(&p).unwrap(), live.get(&p).unwrap());
                prop_assert_eq!(&a.children, &b.children);
                prop_assert_eq!(a.data(), b.data());
                prop_assert_eq!(a.acl(&p), b.acl(&p));
                prop_assert_eq!(a.stored_child_rec(&p), b.stored_child_rec(&p));
                let (mut sa, mut sb) = (a.stat(&p), b.stat(&p));
                // Pending counts: cversion and pzxid.
                (sa.cversion, sa.pzxid, sb.cversion, sb.pzxid) = (0, 0, 0, 0);
                prop_assert_eq!(sa, sb);
            }
            prop_assert_eq!(loaded.node_count(), live.node_count());
            prop_assert_eq!(loaded.data_size(), live.data_size());
            prop_assert_eq!(loaded.pending_paths().count(), 0);
            let mut owners = live.ephemeral_owners();
            owners.sort();
            let mut loaded_owners = loaded.ephemeral_owners();
            loaded_owners.sort();
            prop_assert_eq!(&loaded_owners, &owners);
            for o in owners {
                prop_assert_eq!(
                    loaded.ephemerals_in_zookeeper_order(o),
                    live.ephemerals_in_zookeeper_order(o)
                );
            }
            prop_assert_eq!(loaded.reapable().collect::<Vec<_>>(), live.reapable().collect::<Vec<_>>());
            prop_assert_eq!(loaded.orphans().collect::<Vec<_>>(), live.orphans().collect::<Vec<_>>());
        }
    }

    #[test]
    fn a_pulsar_tree_loads_with_its_directories() {
        let put = |p: &str, create: i64, lease: i64| {
            Change::Data(
                p.to_string(),
                Some(DataKv {
                    value: Bytes::from_static(b"x"),
                    create_rev: create,
                    mod_rev: create,
                    version: 1,
                    lease,
                }),
            )
        };
        let keys = vec![
            put("/ledgers/00/0000/L0001", 5, 0),
            put("/ledgers/available/bk1:3181", 6, 0x55),
            put("/ledgers", 7, 0),
            Change::Deletes("/gone".into(), 2),
        ];
        let t = bulk(&keys, 9);
        assert_eq!(dump(&t), dump(&per_change(&keys, 9, false)));
        assert!(t.get("/ledgers/00").unwrap().is_implicit());
        assert!(!t.get("/ledgers").unwrap().is_implicit());
        assert_eq!(t.node_count(), 4 + 6);
        assert_eq!(t.orphans().collect::<Vec<_>>(), ["/gone"]);
        let bk = t.get("/ledgers/available/bk1:3181").unwrap();
        assert_eq!(bk.stat("/ledgers/available/bk1:3181").ephemeral_owner, 0x55);
    }
}
