//! Data keys as any writer leaves them, zoe or not.
//!
//! zoe's own writes always create a node's parent first and delete its
//! children first. Other writers of the same etcd keys do not: Pulsar's
//! etcd metadata store puts `/ledgers/00/0000/L0001` with no key for
//! `/ledgers/00` or `/ledgers/00/0000`, and deletes a key whatever lies
//! below it (docs/shared-tree.md). Here a path with descendants but no key
//! of its own is an *implicit* node: it exists, with empty data and zeroed
//! creation fields, for as long as it has descendants. Applying a data key
//! change therefore walks up the ancestors whose existence it changes,
//! keeps their child sets and the node count right, and derives the
//! ZooKeeper events as if the implicit ancestors had been created top down
//! before the key, and deleted bottom up after it.
//!
//! For zoe's own transactions none of this is visible: their parents exist
//! and their children go first, so no implicit node ever appears.
//!
//! Every child entered into or removed from a parent's set here is a child
//! change; `Tree::apply` counts those that no child record counted in the
//! same revision as pending on the parent (see `accountant`).

use std::collections::HashMap;

use jute::{Acl, EventType};
use tracing::debug;

use super::{event, DataKv, Tree, ZkEvent};
use crate::path;

impl Tree {
    /// Applies one data key change of a revision: the node, the ancestors
    /// it makes appear or vanish, and the events that stand for them. The
    /// caller reindexes `p` once the revision's meta changes are in.
    /// `gone_acls` collects the ACLs of nodes that stop existing, for the
    /// events' READ check.
    pub(super) fn apply_data(
        &mut self,
        p: &str,
        kv: Option<DataKv>,
        derived: &mut Vec<ZkEvent>,
        gone_acls: &mut HashMap<String, Option<Vec<Acl>>>,
    ) {
        if path::validate(p).is_err() {
            // A key another writer made that no ZooKeeper client could
            // name (`/a//b`, `/a/`, control characters): not a znode.
            debug!(key = %p.escape_debug(), "not a ZooKeeper path; key ignored");
            return;
        }
        let (before, old_len) = match self.nodes.get(p) {
            Some(e) => (e.exists(), e.data_len()),
            None => (false, 0),
        };
        let put = kv.is_some();
        let new_len = kv.as_ref().map(|d| d.value.len()).unwrap_or(0);
        self.data_size = (self.data_size + new_len as u64).saturating_sub(old_len as u64);
        if before && !put {
            let acl = self.nodes.get(p).and_then(|e| e.restricted_acl(p));
            gone_acls.entry(p.to_string()).or_insert(acl);
        }
        self.entry_mut(p).data = kv;
        let after = self.nodes.get(p).is_some_and(|e| e.exists());
        match (before, after) {
            (false, true) => {
                self.node_count += 1;
                let appeared = self.link_up(p);
                for a in appeared.iter().rev() {
                    created(derived, a);
                }
                created(derived, p);
            }
            (true, false) => {
                self.node_count -= 1;
                deleted(derived, p);
                for a in self.unlink_up(p) {
                    deleted(derived, &a);
                }
            }
            // A key written over an existing or implicit node, or the key
            // of a node with descendants deleted (it stays, implicit).
            (true, true) => derived.push(event(EventType::NodeDataChanged, p)),
            (false, false) => {}
        }
    }

    /// Enters `p`, which has just come to exist, in its parent's children.
    /// Returns the ancestors that came to exist with it (implicit ones),
    /// nearest first.
    fn link_up(&mut self, p: &str) -> Vec<String> {
        let mut appeared = Vec::new();
        let mut child = p.to_string();
        while let Some(parent) = path::parent(&child) {
            let parent = parent.to_string();
            let entry = self.entry_mut(&parent);
            let existed = entry.exists();
            if entry.children.insert(path::name(&child).into()) {
                self.child_changed(&parent, true);
            }
            // It may have been a path with counter keys but no znode.
            self.reindex(&parent);
            if existed {
                break;
            }
            self.node_count += 1;
            appeared.push(parent.clone());
            child = parent;
        }
        appeared
    }

    /// Takes `p`, which has just stopped existing, out of its parent's
    /// children. Returns the implicit ancestors that stopped existing with
    /// it, nearest first.
    fn unlink_up(&mut self, p: &str) -> Vec<String> {
        let mut vanished = Vec::new();
        let mut child = p.to_string();
        while let Some(parent) = path::parent(&child) {
            let parent = parent.to_string();
            let Some(entry) = self.nodes.get_mut(parent.as_str()) else {
                break;
            };
            if entry.children.remove(path::name(&child)) {
                self.child_changed(&parent, false);
            }
            let gone = self.nodes.get(parent.as_str()).is_none_or(|e| !e.exists());
            self.reindex(&parent);
            if !gone {
                break;
            }
            self.node_count -= 1;
            vanished.push(parent.clone());
            child = parent;
        }
        vanished
    }
}

impl Tree {
    /// Notes a child entered (`create`) or removed under `parent` in the
    /// revision being applied, for the child counters (`Tree::apply`).
    fn child_changed(&mut self, parent: &str, create: bool) {
        let e = super::path_entry(&mut self.child_events, parent);
        e.0 += 1;
        if create {
            e.1 += 1;
        }
    }
}

fn created(derived: &mut Vec<ZkEvent>, p: &str) {
    derived.push(event(EventType::NodeCreated, p));
    if let Some(parent) = path::parent(p) {
        derived.push(event(EventType::NodeChildrenChanged, parent));
    }
}

fn deleted(derived: &mut Vec<ZkEvent>, p: &str) {
    derived.push(event(EventType::NodeDeleted, p));
    if let Some(parent) = path::parent(p) {
        derived.push(event(EventType::NodeChildrenChanged, parent));
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use jute::EventType as E;

    use super::super::{Change, CrecKv, DataKv, Tree, ZkEvent};
    use crate::layout::{ChildRec, ChildRecord, Meta, NodeKind, StoredAcl};

    /// A key as Pulsar's store leaves it: no meta record, maybe a lease.
    fn put(p: &str, value: &[u8], create: i64, modified: i64, version: i64, lease: i64) -> Change {
        Change::Data(
            p.to_string(),
            Some(DataKv {
                value: Bytes::copy_from_slice(value),
                create_rev: create,
                mod_rev: modified,
                version,
                lease,
            }),
        )
    }

    fn del(p: &str) -> Change {
        Change::Data(p.to_string(), None)
    }

    fn evs(list: &[(E, &str)]) -> Vec<ZkEvent> {
        list.iter()
            .map(|(t, p)| ZkEvent {
                event_type: *t as i32,
                path: p.to_string(),
                acl: None,
            })
            .collect()
    }

    fn children(t: &Tree, p: &str) -> Vec<String> {
        t.get(p)
            .map(|e| e.children.iter().map(|c| c.to_string()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn a_key_without_meta_gets_its_stat_from_etcd() {
        let mut t = Tree::new();
        t.apply(
            vec![put("/ledgers/00/0000/L0001", b"meta", 10, 12, 3, 0)],
            12,
        );
        let e = t.get("/ledgers/00/0000/L0001").expect("served");
        let st = e.stat("/ledgers/00/0000/L0001");
        assert_eq!((st.czxid, st.mzxid, st.pzxid), (10, 12, 10));
        assert_eq!((st.version, st.cversion, st.aversion), (2, 0, 0));
        assert_eq!((st.ctime, st.mtime, st.ephemeral_owner), (0, 0, 0));
        assert_eq!((st.data_length, st.num_children), (4, 0));
        assert_eq!(e.data(), Some(Bytes::from_static(b"meta")));
        assert_eq!(e.acl("/ledgers/00/0000/L0001"), super::super::open_acl());
        assert!(!e.is_implicit());
    }

    #[test]
    fn ancestors_without_keys_are_implicit_nodes() {
        let mut t = Tree::new();
        t.apply(vec![put("/ledgers/00/0000/L0001", b"m", 10, 10, 1, 0)], 10);
        for (p, child) in [
            ("/ledgers", "00"),
            ("/ledgers/00", "0000"),
            ("/ledgers/00/0000", "L0001"),
        ] {
            let e = t.get(p).unwrap_or_else(|| panic!("{p} not served"));
            assert!(e.is_implicit(), "{p}");
            assert_eq!(children(&t, p), vec![child.to_string()]);
            assert_eq!(e.data(), Some(Bytes::new()), "{p}: empty, not null");
            let st = e.stat(p);
            assert_eq!(
                (st.czxid, st.mzxid, st.version, st.ctime, st.mtime),
                (0, 0, 0, 0, 0),
                "{p}"
            );
            // Its child appeared with the key: one child change, at 10.
            assert_eq!((st.cversion, st.pzxid), (1, 10), "{p}");
            assert_eq!((st.data_length, st.num_children), (0, 1), "{p}");
            assert_eq!(st.ephemeral_owner, 0);
        }
        assert!(children(&t, "/").contains(&"ledgers".to_string()));
        assert_eq!(t.node_count(), 4 + 4);
        assert_eq!(t.descendants("/ledgers"), 3);
        let mut paths: Vec<&str> = t.paths().filter(|p| p.starts_with("/l")).collect();
        paths.sort();
        assert_eq!(
            paths,
            [
                "/ledgers",
                "/ledgers/00",
                "/ledgers/00/0000",
                "/ledgers/00/0000/L0001"
            ]
        );
    }

    #[test]
    fn implicit_ancestors_appear_top_down_and_vanish_bottom_up() {
        let mut t = Tree::new();
        let ev = t.apply(vec![put("/ledgers/00/0000/L0001", b"m", 10, 10, 1, 0)], 10);
        assert_eq!(
            ev,
            evs(&[
                (E::NodeCreated, "/ledgers"),
                (E::NodeChildrenChanged, "/"),
                (E::NodeCreated, "/ledgers/00"),
                (E::NodeChildrenChanged, "/ledgers"),
                (E::NodeCreated, "/ledgers/00/0000"),
                (E::NodeChildrenChanged, "/ledgers/00"),
                (E::NodeCreated, "/ledgers/00/0000/L0001"),
                (E::NodeChildrenChanged, "/ledgers/00/0000"),
            ])
        );
        let ev = t.apply(vec![put("/ledgers/00/0000/L0002", b"m", 11, 11, 1, 0)], 11);
        assert_eq!(
            ev,
            evs(&[
                (E::NodeCreated, "/ledgers/00/0000/L0002"),
                (E::NodeChildrenChanged, "/ledgers/00/0000"),
            ])
        );
        let ev = t.apply(vec![del("/ledgers/00/0000/L0001")], 12);
        assert_eq!(
            ev,
            evs(&[
                (E::NodeDeleted, "/ledgers/00/0000/L0001"),
                (E::NodeChildrenChanged, "/ledgers/00/0000"),
            ])
        );
        let ev = t.apply(vec![del("/ledgers/00/0000/L0002")], 13);
        assert_eq!(
            ev,
            evs(&[
                (E::NodeDeleted, "/ledgers/00/0000/L0002"),
                (E::NodeChildrenChanged, "/ledgers/00/0000"),
                (E::NodeDeleted, "/ledgers/00/0000"),
                (E::NodeChildrenChanged, "/ledgers/00"),
                (E::NodeDeleted, "/ledgers/00"),
                (E::NodeChildrenChanged, "/ledgers"),
                (E::NodeDeleted, "/ledgers"),
                (E::NodeChildrenChanged, "/"),
            ])
        );
        assert!(t.get("/ledgers").is_none());
        assert!(t.raw("/ledgers/00").is_none(), "no empty entry left behind");
        assert_eq!(children(&t, "/"), vec!["zookeeper".to_string()]);
        assert_eq!((t.node_count(), t.data_size()), (4, 0));
    }

    #[test]
    fn a_key_over_an_implicit_node_and_back() {
        let mut t = Tree::new();
        t.apply(vec![put("/a/b", b"", 5, 5, 1, 0)], 5);
        // The key arrives after its child: the node was there, its data
        // changed.
        let ev = t.apply(vec![put("/a", b"x", 6, 6, 1, 0)], 6);
        assert_eq!(ev, evs(&[(E::NodeDataChanged, "/a")]));
        let a = t.get("/a").unwrap();
        assert!(!a.is_implicit());
        assert_eq!((a.stat("/a").czxid, a.stat("/a").num_children), (6, 1));
        assert_eq!(t.node_count(), 4 + 2);
        // Deleting a key that has descendants leaves an implicit node.
        let ev = t.apply(vec![del("/a")], 7);
        assert_eq!(ev, evs(&[(E::NodeDataChanged, "/a")]));
        let a = t.get("/a").expect("still there, implicit");
        assert!(a.is_implicit());
        assert_eq!((a.version(), a.data_len()), (0, 0));
        assert_eq!(t.node_count(), 4 + 2);
        let ev = t.apply(vec![del("/a/b")], 8);
        assert_eq!(
            ev,
            evs(&[
                (E::NodeDeleted, "/a/b"),
                (E::NodeChildrenChanged, "/a"),
                (E::NodeDeleted, "/a"),
                (E::NodeChildrenChanged, "/"),
            ])
        );
        assert_eq!(t.node_count(), 4);
    }

    #[test]
    fn a_foreign_ephemeral_shows_its_lease_and_is_no_session_of_ours() {
        let mut t = Tree::new();
        let lease = 0x694d_7f3a_1c2b_0001;
        t.apply(
            vec![put(
                "/ledgers/available/bk1:3181",
                b"info",
                20,
                20,
                1,
                lease,
            )],
            20,
        );
        let st = t
            .get("/ledgers/available/bk1:3181")
            .unwrap()
            .stat("/ledgers/available/bk1:3181");
        assert_eq!(st.ephemeral_owner, lease);
        assert!(t.ephemerals_of(lease).is_empty(), "zoe never expires it");
        assert!(t.ephemeral_owners().is_empty());
        // A zoe setData keeps the lease (ignore_lease) and writes a meta
        // record: still the lease's node.
        t.apply(
            vec![
                put("/ledgers/available/bk1:3181", b"new", 20, 21, 2, lease),
                Change::Meta(
                    "/ledgers/available/bk1:3181".into(),
                    Some((Meta::default(), 21)),
                ),
            ],
            21,
        );
        let e = t.get("/ledgers/available/bk1:3181").unwrap();
        assert_eq!(e.stat("/ledgers/available/bk1:3181").ephemeral_owner, lease);
    }

    #[test]
    fn meta_of_an_older_incarnation_or_older_data_does_not_apply() {
        let mut t = Tree::new();
        let meta = Meta {
            ctime: 1000,
            mtime: 1000,
            null_data: true,
            acl: Some(vec![StoredAcl {
                perms: jute::perms::READ,
                scheme: "world".into(),
                id: "anyone".into(),
            }]),
            kind: NodeKind::Persistent,
            ..Meta::default()
        };
        t.apply(
            vec![
                put("/n", b"", 5, 5, 1, 0),
                Change::Meta("/n".into(), Some((meta, 5))),
            ],
            5,
        );
        let e = t.get("/n").unwrap();
        assert_eq!(e.data(), None, "zoe stored null");
        assert_eq!(e.stat("/n").ctime, 1000);
        // Another writer puts data: the null flag no longer holds, the rest
        // of the record (same incarnation) does.
        t.apply(vec![put("/n", b"pulsar", 5, 7, 2, 0)], 7);
        let e = t.get("/n").unwrap();
        assert_eq!(e.data(), Some(Bytes::from_static(b"pulsar")));
        assert_eq!((e.stat("/n").ctime, e.stat("/n").version), (1000, 1));
        assert!(e.restricted_acl("/n").is_some());
        // Deleted and re-created by the other writer: a new node.
        t.apply(vec![del("/n")], 8);
        t.apply(vec![put("/n", b"again", 9, 9, 1, 0)], 9);
        let e = t.get("/n").unwrap();
        let st = e.stat("/n");
        assert_eq!((st.czxid, st.ctime, st.mtime, st.version), (9, 0, 0, 0));
        assert_eq!(e.data(), Some(Bytes::from_static(b"again")));
        assert_eq!(e.restricted_acl("/n"), None);
    }

    #[test]
    fn keys_zookeeper_cannot_name_are_not_served() {
        let mut t = Tree::new();
        for p in ["/a//b", "/a/", "/a/./b", "/c/\u{1}"] {
            let ev = t.apply(vec![put(p, b"x", 3, 3, 1, 0)], 3);
            assert!(ev.is_empty(), "{p:?}: {ev:?}");
            assert!(t.get(p).is_none());
        }
        assert!(t.get("/a").is_none() && t.get("/c").is_none());
        assert_eq!((t.node_count(), t.data_size()), (4, 0));
        assert!(t.apply(vec![del("/a//b")], 1018).is_empty());
    }

    #[test]
    fn the_planner_sees_implicit_nodes_as_nodes() {
        use crate::layout::Layout;
        use crate::plan::{Plan, Planner, WriteCtx, WriteOp};
        use jute::{ErrorCode, OpCode};

        let mut t = Tree::new();
        t.apply(vec![put("/ledgers/00/0000/L0001", b"m", 10, 10, 1, 0)], 10);
        let layout = Layout::new("");
        let ctx = WriteCtx {
            session_id: 0x7700_0000_0000_0001,
            auth_ids: vec![],
            now_ms: 1,
            ttl_enabled: false,
            attached_rev: None,
        };
        let create = |p: &str| WriteOp::Create {
            opcode: OpCode::Create,
            path: p.into(),
            data: Some(Bytes::new()),
            acl: super::super::open_acl(),
            flags: 0,
            ttl: -1,
        };
        let plan = |op: WriteOp| Planner::new(&t, &layout, &ctx).plan(&[op]);
        let code = |p: Plan| match p {
            Plan::Fail { code, .. } => Some(code),
            Plan::Commit { .. } => None,
        };
        // BookKeeper's createFullPathOptimistic: NODEEXISTS on the
        // directories, success below them.
        assert_eq!(
            code(plan(create("/ledgers/00"))),
            Some(ErrorCode::NodeExists)
        );
        assert_eq!(code(plan(create("/ledgers/00/0000/L0002"))), None);
        assert_eq!(
            code(plan(WriteOp::Delete {
                path: "/ledgers/00".into(),
                version: -1
            })),
            Some(ErrorCode::NotEmpty)
        );
        assert_eq!(
            code(plan(WriteOp::SetData {
                path: "/ledgers/00".into(),
                data: Some(Bytes::from_static(b"x")),
                version: 0
            })),
            None
        );
    }

    fn counters(t: &Tree, p: &str) -> (i32, i32, i64) {
        let e = t.get(p).unwrap_or_else(|| panic!("{p} not served"));
        let st = e.stat(p);
        (st.cversion, e.child_rec(p).creates, st.pzxid)
    }

    fn record(p: &str, rec: ChildRecord, mod_rev: i64, version: i64) -> Change {
        Change::Children(
            p.to_string(),
            Some(CrecKv {
                rec,
                mod_rev,
                version,
            }),
        )
    }

    #[test]
    fn other_writers_child_changes_count_at_their_revision() {
        let mut t = Tree::new();
        t.apply(vec![put("/ledgers/available", b"", 5, 5, 1, 0)], 5);
        assert_eq!(counters(&t, "/ledgers/available"), (0, 0, 5));
        // Two bookies register, one in a revision of its own, two keys in
        // one revision (a batch) count twice.
        t.apply(vec![put("/ledgers/available/bk1", b"", 6, 6, 1, 7)], 6);
        assert_eq!(counters(&t, "/ledgers/available"), (1, 1, 6));
        t.apply(
            vec![
                put("/ledgers/available/bk2", b"", 7, 7, 1, 7),
                put("/ledgers/available/bk3", b"", 7, 7, 1, 7),
            ],
            7,
        );
        assert_eq!(counters(&t, "/ledgers/available"), (3, 3, 7));
        // A lease expiring deletes: cversion moves, creates does not.
        t.apply(vec![del("/ledgers/available/bk1")], 8);
        assert_eq!(counters(&t, "/ledgers/available"), (4, 3, 8));
        // Rewriting a key is no child change.
        t.apply(vec![put("/ledgers/available/bk2", b"x", 7, 9, 2, 7)], 9);
        assert_eq!(counters(&t, "/ledgers/available"), (4, 3, 8));
        // Implicit ancestors count as children of their parents, both ways.
        t.apply(vec![put("/ledgers/00/0000/L1", b"", 10, 10, 1, 0)], 10);
        assert_eq!(counters(&t, "/ledgers"), (2, 2, 10));
        assert_eq!(counters(&t, "/ledgers/00"), (1, 1, 10));
        t.apply(vec![del("/ledgers/00/0000/L1")], 11);
        assert_eq!(counters(&t, "/ledgers"), (3, 2, 11));
        assert!(t.get("/ledgers/00").is_none());
        // Gone without counter keys: nothing left to count on.
        assert!(t.raw("/ledgers/00").is_none());
        let mut pending: Vec<&str> = t.pending_paths().collect();
        pending.sort();
        assert_eq!(pending, ["/", "/ledgers", "/ledgers/available"]);
    }

    #[test]
    fn a_change_zoe_counted_is_not_pending() {
        let mut t = Tree::new();
        t.apply(vec![put("/a", b"", 5, 5, 1, 0)], 5);
        // zoe's create: the key, its meta and a bump of the parent's
        // record in one revision.
        let rec = ChildRecord::exact(
            ChildRec {
                cversion: 0,
                creates: 0,
            },
            0,
            0,
            5,
        );
        t.apply(
            vec![
                put("/a/z", b"", 6, 6, 1, 0),
                Change::Meta("/a/z".into(), Some((Meta::default(), 6))),
                record("/a", rec, 6, 1),
            ],
            6,
        );
        assert_eq!(counters(&t, "/a"), (1, 1, 6));
        assert!(t.get("/a").unwrap().pending().is_none());
        // Another writer's create, then zoe's blind bump for a delete:
        // both count, the record's base stays.
        t.apply(vec![put("/a/p", b"", 7, 7, 1, 0)], 7);
        t.apply(
            vec![
                del("/a/z"),
                Change::Meta("/a/z".into(), None),
                record("/a", rec, 8, 2),
                Change::Deletes("/a".into(), 1),
            ],
            8,
        );
        assert_eq!(counters(&t, "/a"), (3, 2, 8));
        // An exact write planned at 8 (so counting the change at 7) and
        // committed at 10, after another writer's change at 9: that one
        // stays pending on top.
        t.apply(vec![put("/a/q", b"", 9, 9, 1, 0)], 9);
        assert_eq!(counters(&t, "/a"), (4, 3, 9));
        let exact = ChildRecord::exact(
            ChildRec {
                cversion: 3 + 2,
                creates: 2 + 2,
            },
            3,
            1,
            8,
        );
        t.apply(
            vec![
                put("/a/r", b"", 10, 10, 1, 0),
                put("/a/s", b"", 10, 10, 1, 0),
                record("/a", exact, 10, 3),
            ],
            10,
        );
        assert_eq!(counters(&t, "/a"), (6, 5, 10));
        assert_eq!(t.get("/a").unwrap().pending().map(|p| p.changes()), Some(1));
    }

    #[test]
    fn a_snapshot_has_nothing_pending() {
        let mut t = Tree::new();
        t.load(
            vec![
                put("/ledgers/available/bk1", b"", 6, 6, 1, 7),
                put("/ledgers/00/0000/L1", b"", 7, 7, 1, 0),
            ],
            20,
        );
        assert_eq!(t.pending_paths().count(), 0);
        assert_eq!(counters(&t, "/ledgers"), (0, 0, 0));
        assert_eq!(t.revision(), 20);
    }
}
