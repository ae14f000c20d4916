//! The etcd key layout (documented for operators in docs/etcd-layout.md).
//!
//! A znode's data lives raw under `<prefix><path>`, so `etcdctl get /foo`
//! shows exactly what a client stored. Everything ZooKeeper needs beyond
//! that — times, ACLs, child counters, null-versus-empty, sessions — lives
//! in side keys under `<prefix>0zoe/`. The side prefix starts with `'0'`, the
//! first byte after `/`, so it stays outside every range a path-keyed
//! reader (such as Pulsar's etcd metadata store, which watches
//! `["\0", "0")`) looks at, and one etcd watch over `[<prefix>/, <prefix>0zoe0)`
//! carries data and side keys in a single revision-ordered stream.

use serde::{Deserialize, Serialize};

/// Version of the layout written to `0zoe/layout`; bumped on any
/// incompatible change so an old zoe refuses a newer tree.
///
/// 2: child counters are offsets from etcd key versions (`ChildRecord`) and
/// child deletes are counted by `0zoe/d<path>`. A format 1 tree is taken
/// over in place: its child records (absolute counters) are read as they
/// are and rewritten in the new form on their next change.
pub const FORMAT_VERSION: u32 = 2;

/// The oldest format this zoe reads (and upgrades).
pub const OLDEST_FORMAT: u32 = 1;

const SIDE: &str = "0zoe/";

/// Key builder and classifier for one prefix.
#[derive(Debug, Clone)]
pub struct Layout {
    prefix: Vec<u8>,
    /// Parents whose sequential children take their number from the
    /// parent key's etcd version (see `Numbering`).
    key_numbered: fn(&str) -> bool,
}

/// Where a sequential create takes its number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Numbering {
    /// ZooKeeper's: the parent's count of child creates (`ChildRecord`).
    ChildCreates,
    /// The etcd version of the parent's data key, consumed by a put of
    /// that key in the same transaction. Another writer that numbers
    /// children the same way (Pulsar's store: a put of the parent, then
    /// the child named after the version the put replaced) shares the
    /// counter, so the two never hand out the same number.
    ParentKeyVersion,
}

/// What a key in the watched range is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyKind {
    /// A znode's data key.
    Data(String),
    /// A znode's metadata record.
    Meta(String),
    /// A znode's child-counter record.
    Children(String),
    /// A znode's child-delete counter (its etcd version is the count).
    Deletes(String),
    /// A session record.
    Session(i64),
    /// The accountant's watermark (`0zoe/acct`).
    Watermark,
    /// The per-transaction explicit event list.
    Events,
    /// Authentication settings shared by all instances.
    Auth,
    /// Anything else (the layout record, foreign keys in the range).
    Other,
}

impl Layout {
    pub fn new(prefix: &str) -> Layout {
        Layout {
            prefix: prefix.as_bytes().to_vec(),
            key_numbered: |_| false,
        }
    }

    /// Sequential children of the parents `rule` accepts are numbered by
    /// the parent key's version (`Numbering::ParentKeyVersion`).
    pub fn with_key_numbering(self, rule: fn(&str) -> bool) -> Layout {
        Layout {
            key_numbered: rule,
            ..self
        }
    }

    pub fn numbering(&self, parent: &str) -> Numbering {
        if (self.key_numbered)(parent) {
            Numbering::ParentKeyVersion
        } else {
            Numbering::ChildCreates
        }
    }

    fn key(&self, parts: &[&[u8]]) -> Vec<u8> {
        let len = self.prefix.len() + parts.iter().map(|p| p.len()).sum::<usize>();
        let mut k = Vec::with_capacity(len);
        k.extend_from_slice(&self.prefix);
        for p in parts {
            k.extend_from_slice(p);
        }
        k
    }

    pub fn data_key(&self, path: &str) -> Vec<u8> {
        self.key(&[path.as_bytes()])
    }

    pub fn meta_key(&self, path: &str) -> Vec<u8> {
        self.key(&[SIDE.as_bytes(), b"m", path.as_bytes()])
    }

    pub fn children_key(&self, path: &str) -> Vec<u8> {
        self.key(&[SIDE.as_bytes(), b"c", path.as_bytes()])
    }

    pub fn deletes_key(&self, path: &str) -> Vec<u8> {
        self.key(&[SIDE.as_bytes(), b"d", path.as_bytes()])
    }

    pub fn session_key(&self, id: i64) -> Vec<u8> {
        self.key(&[
            SIDE.as_bytes(),
            b"s/",
            format!("{:016x}", id as u64).as_bytes(),
        ])
    }

    pub fn events_key(&self) -> Vec<u8> {
        self.key(&[SIDE.as_bytes(), b"ev"])
    }

    pub fn auth_key(&self) -> Vec<u8> {
        self.key(&[SIDE.as_bytes(), b"auth"])
    }

    /// Written by `sync` to push a revision through the watch.
    pub fn sync_key(&self) -> Vec<u8> {
        self.key(&[SIDE.as_bytes(), b"sync"])
    }

    /// What every side key starts with: `<prefix>0zoe/`.
    pub fn side_prefix(&self) -> Vec<u8> {
        self.key(&[SIDE.as_bytes()])
    }

    pub fn layout_key(&self) -> Vec<u8> {
        self.key(&[SIDE.as_bytes(), b"layout"])
    }

    /// `0zoe/acct`: every child change other writers made up to this
    /// revision is counted in the child records (see `accountant`).
    pub fn watermark_key(&self) -> Vec<u8> {
        self.key(&[SIDE.as_bytes(), b"acct"])
    }

    /// `0zoe/acct-lock`: held, on its lease, by the instance that is the
    /// accountant.
    pub fn accountant_lock_key(&self) -> Vec<u8> {
        self.key(&[SIDE.as_bytes(), b"acct-lock"])
    }

    /// The keys strictly below `path`: `[P<path>/, P<path>0)` (`0` is the
    /// byte after `/`). Empty exactly when the znode has no descendants.
    pub fn descendants_range(&self, path: &str) -> (Vec<u8>, Vec<u8>) {
        let base = if path == "/" { "" } else { path };
        (
            self.key(&[base.as_bytes(), b"/"]),
            self.key(&[base.as_bytes(), b"0"]),
        )
    }

    /// The one range the replica loads and watches.
    pub fn watch_range(&self) -> (Vec<u8>, Vec<u8>) {
        (self.key(&[b"/"]), self.key(&[b"0zoe0"]))
    }

    pub fn classify(&self, key: &[u8]) -> KeyKind {
        let Some(rest) = key.strip_prefix(self.prefix.as_slice()) else {
            return KeyKind::Other;
        };
        let text = match std::str::from_utf8(rest) {
            Ok(t) => t,
            Err(_) => return KeyKind::Other,
        };
        if text.starts_with('/') {
            return KeyKind::Data(text.to_string());
        }
        let Some(side) = text.strip_prefix(SIDE) else {
            return KeyKind::Other;
        };
        if let Some(p) = side.strip_prefix('m') {
            if p.starts_with('/') {
                return KeyKind::Meta(p.to_string());
            }
        }
        if let Some(p) = side.strip_prefix('c') {
            if p.starts_with('/') {
                return KeyKind::Children(p.to_string());
            }
        }
        if let Some(p) = side.strip_prefix('d') {
            if p.starts_with('/') {
                return KeyKind::Deletes(p.to_string());
            }
        }
        if let Some(hex) = side.strip_prefix("s/") {
            if let Ok(id) = u64::from_str_radix(hex, 16) {
                return KeyKind::Session(id as i64);
            }
        }
        match side {
            "ev" => return KeyKind::Events,
            "auth" => return KeyKind::Auth,
            "acct" => return KeyKind::Watermark,
            _ => {}
        }
        KeyKind::Other
    }
}

fn is_zero_i32(v: &i32) -> bool {
    *v == 0
}
fn is_zero_i64(v: &i64) -> bool {
    *v == 0
}
fn is_false(v: &bool) -> bool {
    !*v
}

/// One ACL entry as stored: `{"p":31,"s":"world","i":"anyone"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredAcl {
    #[serde(rename = "p")]
    pub perms: i32,
    #[serde(rename = "s")]
    pub scheme: String,
    #[serde(rename = "i")]
    pub id: String,
}

/// How a znode lives and dies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeKind {
    #[default]
    Persistent,
    Ephemeral,
    Container,
    Ttl,
}

/// `0zoe/m<path>`: what ZooKeeper knows about a node that etcd's key
/// metadata does not. Written in the same transaction as the create,
/// setData or setACL it describes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Meta {
    #[serde(rename = "ct", default, skip_serializing_if = "is_zero_i64")]
    pub ctime: i64,
    #[serde(rename = "mt", default, skip_serializing_if = "is_zero_i64")]
    pub mtime: i64,
    /// The client stored null data (the data key then holds zero bytes).
    #[serde(rename = "null", default, skip_serializing_if = "is_false")]
    pub null_data: bool,
    /// Absent means OPEN_ACL_UNSAFE, the common case, to keep records small.
    #[serde(rename = "acl", default, skip_serializing_if = "Option::is_none")]
    pub acl: Option<Vec<StoredAcl>>,
    #[serde(rename = "av", default, skip_serializing_if = "is_zero_i32")]
    pub aversion: i32,
    #[serde(rename = "kind", default)]
    pub kind: NodeKind,
    /// Session id of an ephemeral's owner.
    #[serde(rename = "owner", default, skip_serializing_if = "is_zero_i64")]
    pub owner: i64,
    #[serde(rename = "ttl", default, skip_serializing_if = "is_zero_i64")]
    pub ttl: i64,
    /// ZooKeeper version minus (etcd key version - 1). Non-zero only when
    /// one multi changed a node's data more than once, which etcd records as
    /// a single put.
    #[serde(rename = "vo", default, skip_serializing_if = "is_zero_i32")]
    pub version_offset: i32,
    /// czxid when it is not the data key's create_revision: -1 for "the
    /// revision this record was written at" (a node deleted and re-created
    /// by one multi, which etcd sees as a single put), or the value itself.
    #[serde(rename = "cz", default, skip_serializing_if = "is_zero_i64")]
    pub czxid: i64,
}

/// A znode's child counters as clients see them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChildRec {
    /// cversion as clients see it: child creates plus child deletes.
    pub cversion: i32,
    /// Child creates ever; the next sequential suffix.
    pub creates: i32,
}

/// `0zoe/c<path>`: a znode's child counters, put in the same transaction as
/// every change of its children that zoe makes, so its mod_revision is the
/// znode's pzxid.
///
/// The counters are stored as offsets from etcd's per-key versions: every
/// put of this key adds one to its version, and every put of the deletes
/// key `0zoe/d<path>` (whose value is always empty) adds one to that key's.
/// A transaction that changes one child of a znode can therefore count it
/// with a put that keeps the value (`ignore_value`) and needs no compare,
/// so concurrent creates and deletes under one parent never conflict. A
/// transaction that needs the exact counters (a sequential create, several
/// child changes at once, a reply showing the znode's stat) guards both
/// keys and writes new offsets.
///
/// Child changes other writers make (keys put or deleted without this
/// record moving in the same revision) are counted by every replica as
/// pending from the record's `base` on, and folded into the offsets by the
/// accountant (`accountant`, docs/etcd-layout.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ChildRecord {
    /// cversion minus this key's etcd version.
    #[serde(rename = "co", default)]
    pub cversion_offset: i64,
    /// creates minus this key's etcd version plus the deletes key's.
    #[serde(rename = "ro", default)]
    pub creates_offset: i64,
    /// Child changes other writers made at or before this revision are
    /// included in the offsets; later ones are pending.
    #[serde(rename = "b", default, skip_serializing_if = "is_zero_i64")]
    pub base: i64,
    /// The pzxid while this key is at etcd version `pzxid_version`: the
    /// accountant's write is no child change, so it carries the last one.
    /// 0: the key's mod_revision is the pzxid.
    #[serde(rename = "pz", default, skip_serializing_if = "is_zero_i64")]
    pub pzxid: i64,
    #[serde(rename = "pv", default, skip_serializing_if = "is_zero_i64")]
    pub pzxid_version: i64,
    /// Layout format 1: the counters themselves (never bumped blindly).
    #[serde(rename = "cv", default, skip_serializing_if = "Option::is_none")]
    pub legacy_cversion: Option<i32>,
    #[serde(rename = "cr", default, skip_serializing_if = "Option::is_none")]
    pub legacy_creates: Option<i32>,
}

impl ChildRecord {
    /// The record that yields `counters` once this key is at etcd version
    /// `version` and the deletes key at `deletes_version` (0: absent),
    /// counting other writers' child changes up to revision `base`.
    pub fn exact(counters: ChildRec, version: i64, deletes_version: i64, base: i64) -> ChildRecord {
        ChildRecord {
            cversion_offset: counters.cversion as i64 - version,
            creates_offset: counters.creates as i64 - version + deletes_version,
            base,
            ..ChildRecord::default()
        }
    }

    /// As `exact`, for a write that is not itself a child change: the
    /// pzxid stays `pzxid` until the key moves again.
    pub fn folded(
        counters: ChildRec,
        pzxid: i64,
        version: i64,
        deletes_version: i64,
        base: i64,
    ) -> ChildRecord {
        ChildRecord {
            pzxid,
            pzxid_version: version,
            ..ChildRecord::exact(counters, version, deletes_version, base)
        }
    }

    /// The counters, with this key at etcd version `version` and the
    /// deletes key at `deletes_version`. (ZooKeeper's counters are ints
    /// that wrap; so do these.)
    pub fn counters(&self, version: i64, deletes_version: i64) -> ChildRec {
        match (self.legacy_cversion, self.legacy_creates) {
            (Some(cversion), Some(creates)) => ChildRec { cversion, creates },
            _ => ChildRec {
                cversion: (self.cversion_offset + version) as i32,
                creates: (self.creates_offset + version - deletes_version) as i32,
            },
        }
    }

    /// The last child change this record counts, with the key at etcd
    /// version `version` and mod_revision `mod_rev`.
    pub fn pzxid(&self, version: i64, mod_rev: i64) -> i64 {
        if self.pzxid != 0 && self.pzxid_version == version {
            self.pzxid
        } else {
            mod_rev
        }
    }

    /// Written by a format 1 zoe: must be rewritten before it is bumped.
    pub fn is_legacy(&self) -> bool {
        self.legacy_cversion.is_some() || self.legacy_creates.is_some()
    }
}

/// `0zoe/acct`: every child change other writers made at or before
/// `through` is counted in the child records. Instances load the tree at
/// this revision and replay from there (see `accountant`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatermarkRec {
    pub through: i64,
}

/// `0zoe/s/<id hex>`: a session, attached to the etcd lease of the same id
/// so it disappears when no zoe instance keeps the session alive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRec {
    /// Negotiated timeout in milliseconds.
    #[serde(rename = "to")]
    pub timeout_ms: i32,
    /// The 16-byte password, hex.
    #[serde(rename = "pw")]
    pub password: String,
    /// The zoe instance currently responsible for expiring it.
    #[serde(rename = "owner")]
    pub owner: String,
}

/// `0zoe/ev`: the ZooKeeper events of a transaction, written only when they
/// cannot be derived from its key changes (a multi touching one node twice).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventList(pub Vec<(i32, String)>);

/// `0zoe/auth`: authentication settings every instance enforces alike.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AuthRec {
    /// `super:<base64 sha1>`: a digest identity that bypasses every ACL
    /// (zookeeper.DigestAuthenticationProvider.superDigest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub super_digest: Option<String>,
}

/// `0zoe/layout`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayoutRec {
    pub format: u32,
}

pub fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("records always serialize")
}

pub fn decode<T: for<'de> Deserialize<'de>>(b: &[u8]) -> Option<T> {
    serde_json::from_slice(b).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_classify_back() {
        let l = Layout::new("t1");
        assert_eq!(
            l.classify(&l.data_key("/a/b")),
            KeyKind::Data("/a/b".into())
        );
        assert_eq!(l.classify(&l.meta_key("/a")), KeyKind::Meta("/a".into()));
        assert_eq!(
            l.classify(&l.children_key("/")),
            KeyKind::Children("/".into())
        );
        assert_eq!(l.classify(&l.session_key(0x1234)), KeyKind::Session(0x1234));
        assert_eq!(l.classify(&l.events_key()), KeyKind::Events);
        assert_eq!(l.classify(&l.layout_key()), KeyKind::Other);
        assert_eq!(l.classify(b"other/a"), KeyKind::Other);
        let (start, end) = l.watch_range();
        for k in [
            l.data_key("/x"),
            l.meta_key("/x"),
            l.session_key(-5),
            l.events_key(),
        ] {
            assert!(k >= start && k < end);
        }
        assert_eq!(Layout::new("").data_key("/a"), b"/a");
    }

    #[test]
    fn meta_is_compact_and_round_trips() {
        let m = Meta::default();
        assert_eq!(encode(&m), br#"{"kind":"persistent"}"#);
        let m2 = Meta {
            ctime: 5,
            null_data: true,
            kind: NodeKind::Ephemeral,
            owner: 7,
            ..Meta::default()
        };
        assert_eq!(decode::<Meta>(&encode(&m2)), Some(m2));
    }

    #[test]
    fn child_counters_follow_key_versions() {
        let c = ChildRec {
            cversion: 7,
            creates: 5,
        };
        // written at C version 3 with D at version 2
        let rec = ChildRecord::exact(c, 3, 2, 0);
        assert_eq!(rec.counters(3, 2), c);
        // a blind bump for a create: C +1
        assert_eq!(
            rec.counters(4, 2),
            ChildRec {
                cversion: 8,
                creates: 6
            }
        );
        // then one for a delete: C +1 and D +1
        assert_eq!(
            rec.counters(5, 3),
            ChildRec {
                cversion: 9,
                creates: 6
            }
        );
        // format 1 records hold the counters themselves
        let legacy: ChildRecord = decode(br#"{"cv":4,"cr":3}"#).unwrap();
        assert!(legacy.is_legacy());
        assert_eq!(
            legacy.counters(9, 9),
            ChildRec {
                cversion: 4,
                creates: 3
            }
        );
        let back: ChildRecord = decode(&encode(&rec)).unwrap();
        assert_eq!(back, rec);
        assert!(!back.is_legacy());
    }
}
