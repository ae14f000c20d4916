//! Watch registrations of this instance's connections, and the rules that
//! turn a ZooKeeper event into notifications (ZooKeeper 3.9 semantics).
//!
//! Watches belong to a connection, not a session: they vanish when it
//! closes and the client re-registers them with SetWatches. The table lives
//! inside the replica's lock so a watch is registered atomically with the
//! read that set it, and events are delivered while the revision that
//! caused them is being applied — before any reply can observe it.

use std::collections::{HashMap, HashSet};

use jute::{Acl, EventType};

use crate::path;

pub type ConnId = u64;

/// Bit flags of the watches one connection holds on one path.
pub mod kind {
    /// getData/exists (one-shot).
    pub const DATA: u8 = 1;
    /// getChildren (one-shot).
    pub const CHILD: u8 = 2;
    /// addWatch PERSISTENT: data and child events on the path.
    pub const PERSISTENT: u8 = 4;
    /// addWatch PERSISTENT_RECURSIVE: data events on the path and below.
    pub const RECURSIVE: u8 = 8;
}

/// Something that can receive a notification for a connection.
pub trait Notify {
    /// Delivers an event unless `acl` denies the connection READ, in which
    /// case it is dropped silently (ZooKeeper 3.9.2+; the one-shot watch is
    /// consumed either way).
    fn notify(&self, conn: ConnId, event_type: i32, path: &str, zxid: i64, acl: Option<&[Acl]>);
}

#[derive(Default, Debug)]
pub struct WatchTable {
    by_path: HashMap<Box<str>, HashMap<ConnId, u8>>,
    by_conn: HashMap<ConnId, ConnWatches>,
    recursive: usize,
}

/// The paths one connection watches, and the sum of their lengths (what
/// the watch limits count).
#[derive(Default, Debug)]
struct ConnWatches {
    paths: HashSet<Box<str>>,
    bytes: usize,
}

impl ConnWatches {
    fn insert(&mut self, path: &str) {
        if self.paths.insert(path.into()) {
            self.bytes += path.len();
        }
    }

    fn remove(&mut self, path: &str) {
        if self.paths.remove(path) {
            self.bytes -= path.len();
        }
    }
}

impl WatchTable {
    pub fn add(&mut self, conn: ConnId, path: &str, k: u8) {
        let flags = self
            .by_path
            .entry(path.into())
            .or_default()
            .entry(conn)
            .or_insert(0);
        if k & kind::RECURSIVE != 0 && *flags & kind::RECURSIVE == 0 {
            self.recursive += 1;
        }
        *flags |= k;
        self.by_conn.entry(conn).or_default().insert(path);
    }

    /// Whether `conn` may also watch `paths` within `limits`: only paths it
    /// does not watch yet count (another kind of watch on a watched path
    /// costs nothing).
    pub fn room<'a>(
        &self,
        conn: ConnId,
        paths: impl Iterator<Item = &'a str>,
        limits: crate::ops::WatchLimits,
    ) -> bool {
        let empty = ConnWatches::default();
        let have = self.by_conn.get(&conn).unwrap_or(&empty);
        let mut new: HashSet<&str> = HashSet::new();
        let (mut count, mut bytes) = (have.paths.len(), have.bytes);
        for p in paths {
            if !have.paths.contains(p) && new.insert(p) {
                count += 1;
                bytes += p.len();
                if count > limits.max_watches || bytes > limits.max_watch_bytes {
                    return false;
                }
            }
        }
        true
    }

    /// Distinct paths `conn` watches, and the sum of their lengths.
    pub fn usage(&self, conn: ConnId) -> (usize, usize) {
        self.by_conn
            .get(&conn)
            .map_or((0, 0), |c| (c.paths.len(), c.bytes))
    }

    /// The flags `conn` holds on `path`.
    pub fn flags(&self, conn: ConnId, path: &str) -> u8 {
        self.by_path
            .get(path)
            .and_then(|m| m.get(&conn))
            .copied()
            .unwrap_or(0)
    }

    /// Clears `k` bits; returns the bits that were actually set.
    pub fn remove(&mut self, conn: ConnId, path: &str, k: u8) -> u8 {
        let Some(m) = self.by_path.get_mut(path) else {
            return 0;
        };
        let Some(flags) = m.get_mut(&conn) else {
            return 0;
        };
        let removed = *flags & k;
        if removed & kind::RECURSIVE != 0 {
            self.recursive -= 1;
        }
        *flags &= !k;
        if *flags == 0 {
            m.remove(&conn);
            if m.is_empty() {
                self.by_path.remove(path);
            }
            if let Some(set) = self.by_conn.get_mut(&conn) {
                set.remove(path);
                if set.paths.is_empty() {
                    self.by_conn.remove(&conn);
                }
            }
        }
        removed
    }

    /// Drops every watch of a closed connection.
    pub fn remove_conn(&mut self, conn: ConnId) {
        if let Some(watched) = self.by_conn.remove(&conn) {
            for p in watched.paths {
                if let Some(m) = self.by_path.get_mut(&p) {
                    if let Some(flags) = m.remove(&conn) {
                        if flags & kind::RECURSIVE != 0 {
                            self.recursive -= 1;
                        }
                    }
                    if m.is_empty() {
                        self.by_path.remove(&p);
                    }
                }
            }
        }
    }

    /// Number of (connection, path) registrations and of distinct paths.
    pub fn counts(&self) -> (usize, usize) {
        (
            self.by_path.values().map(|m| m.len()).sum(),
            self.by_path.len(),
        )
    }

    /// Fires one event: each connection gets at most one notification,
    /// one-shot watches that matched are consumed, persistent ones stay.
    pub fn trigger(
        &mut self,
        event_type: i32,
        p: &str,
        zxid: i64,
        acl: Option<&[Acl]>,
        out: &dyn Notify,
    ) {
        let mut notified: Vec<ConnId> = Vec::new();
        let t = EventType::try_from(event_type).ok();
        let data_event = matches!(
            t,
            Some(EventType::NodeCreated | EventType::NodeDataChanged | EventType::NodeDeleted)
        );
        if data_event {
            self.fire(
                p,
                kind::DATA | kind::PERSISTENT | kind::RECURSIVE,
                kind::DATA,
                &mut notified,
            );
            if self.recursive > 0 {
                for a in path::ancestors(p) {
                    self.fire(a, kind::RECURSIVE, 0, &mut notified);
                }
            }
        }
        match t {
            Some(EventType::NodeDeleted) => {
                self.fire(p, kind::CHILD, kind::CHILD, &mut notified);
            }
            Some(EventType::NodeChildrenChanged) => {
                self.fire(
                    p,
                    kind::CHILD | kind::PERSISTENT,
                    kind::CHILD,
                    &mut notified,
                );
            }
            _ => {}
        }
        for conn in notified {
            out.notify(conn, event_type, p, zxid, acl);
        }
    }

    /// Collects connections holding any of `matching` on `p`, consuming
    /// `consume`, skipping connections already notified for this trigger.
    fn fire(&mut self, p: &str, matching: u8, consume: u8, notified: &mut Vec<ConnId>) {
        let Some(m) = self.by_path.get_mut(p) else {
            return;
        };
        let mut emptied = Vec::new();
        for (conn, flags) in m.iter_mut() {
            if *flags & matching == 0 {
                continue;
            }
            if !notified.contains(conn) {
                notified.push(*conn);
            }
            *flags &= !consume;
            if *flags == 0 {
                emptied.push(*conn);
            }
        }
        for conn in emptied {
            m.remove(&conn);
            if let Some(set) = self.by_conn.get_mut(&conn) {
                set.remove(p);
                if set.paths.is_empty() {
                    self.by_conn.remove(&conn);
                }
            }
        }
        if m.is_empty() {
            self.by_path.remove(p);
        }
    }

    /// (path, flags) of one connection, for the wchc/wchp words.
    pub fn of_conn(&self, conn: ConnId) -> Vec<(String, u8)> {
        self.by_conn
            .get(&conn)
            .map(|watched| {
                watched
                    .paths
                    .iter()
                    .map(|p| (p.to_string(), self.flags(conn, p)))
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    #[derive(Default)]
    struct Rec(RefCell<Vec<(ConnId, i32, String)>>);
    impl Notify for Rec {
        fn notify(&self, conn: ConnId, t: i32, p: &str, _z: i64, _acl: Option<&[Acl]>) {
            self.0.borrow_mut().push((conn, t, p.to_string()));
        }
    }

    const CREATED: i32 = EventType::NodeCreated as i32;
    const DELETED: i32 = EventType::NodeDeleted as i32;
    const CHILDREN: i32 = EventType::NodeChildrenChanged as i32;

    #[test]
    fn one_shot_watches_are_consumed() {
        let mut w = WatchTable::default();
        w.add(1, "/a", kind::DATA);
        let r = Rec::default();
        w.trigger(CREATED, "/a", 5, None, &r);
        w.trigger(CREATED, "/a", 6, None, &r);
        assert_eq!(r.0.borrow().len(), 1);
        assert_eq!(w.counts(), (0, 0));
    }

    #[test]
    fn delete_notifies_each_connection_once() {
        let mut w = WatchTable::default();
        w.add(1, "/a", kind::DATA);
        w.add(1, "/a", kind::CHILD);
        w.add(2, "/a", kind::CHILD);
        let r = Rec::default();
        w.trigger(DELETED, "/a", 5, None, &r);
        let got = r.0.borrow();
        assert_eq!(got.len(), 2);
        assert_eq!(w.counts(), (0, 0));
    }

    #[test]
    fn limits_count_distinct_paths_and_their_bytes() {
        let limits = crate::ops::WatchLimits {
            max_watches: 2,
            max_watch_bytes: 5,
        };
        let mut w = WatchTable::default();
        assert!(w.room(1, ["/a", "/a", "/b"].into_iter(), limits));
        assert!(!w.room(1, ["/a", "/b", "/c"].into_iter(), limits));
        assert!(!w.room(1, ["/abcdef"].into_iter(), limits));
        w.add(1, "/a", kind::DATA);
        w.add(1, "/a", kind::CHILD);
        assert_eq!(w.usage(1), (1, 2));
        // Another kind on a watched path is free.
        assert!(w.room(1, ["/a"].into_iter(), limits));
        w.add(1, "/b", kind::DATA);
        assert!(!w.room(1, ["/c"].into_iter(), limits));
        assert!(
            w.room(2, ["/c"].into_iter(), limits),
            "limits are per connection"
        );
        // Firing a one-shot watch gives its room back.
        let r = Rec::default();
        w.trigger(DELETED, "/b", 5, None, &r);
        assert_eq!(w.usage(1), (1, 2));
        assert!(w.room(1, ["/c"].into_iter(), limits));
        assert_eq!(
            w.remove(1, "/a", kind::DATA | kind::CHILD),
            kind::DATA | kind::CHILD
        );
        assert_eq!(w.usage(1), (0, 0));
        w.add(1, "/x", kind::PERSISTENT);
        w.remove_conn(1);
        assert_eq!(w.usage(1), (0, 0));
        assert_eq!(w.counts(), (0, 0));
    }

    #[test]
    fn recursive_never_gets_children_changed() {
        let mut w = WatchTable::default();
        w.add(1, "/", kind::RECURSIVE);
        w.add(2, "/a", kind::PERSISTENT);
        let r = Rec::default();
        w.trigger(CREATED, "/a/b", 5, None, &r);
        w.trigger(CHILDREN, "/a", 5, None, &r);
        w.trigger(CHILDREN, "/a", 6, None, &r);
        let got = r.0.borrow();
        assert_eq!(
            *got,
            vec![
                (1, CREATED, "/a/b".to_string()),
                (2, CHILDREN, "/a".to_string()),
                (2, CHILDREN, "/a".to_string())
            ]
        );
        drop(got);
        w.remove_conn(1);
        w.remove_conn(2);
        assert_eq!(w.counts(), (0, 0));
    }
}
