//! The sequential specification: what ZooKeeper does with one operation on
//! a small group of znodes, and the vocabulary of the recorded history.
//!
//! The checker partitions the history by *group* (the first two path
//! components, `/h/r0`, `/h/q1`, ...): every operation of the workload,
//! a multi included, stays inside one group, so groups are independent
//! objects and each is checked on its own (P-compositionality). A group's
//! state is the set of its znodes with what a client can observe of each:
//! data, version, cversion, and the number of child creates, which names
//! the next sequential child (`docs/etcd-layout.md`: the suffix counts
//! creates, the cversion creates and deletes). A group's root has its
//! parent outside the group; that parent is assumed to exist and is
//! never read, so its counters are not modelled.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

pub const NO_NODE: i32 = -101;
pub const BAD_VERSION: i32 = -103;
pub const NODE_EXISTS: i32 = -110;
pub const NOT_EMPTY: i32 = -111;

/// Error codes that prove a write did nothing (the server decided it
/// against the state it had). Any other failure leaves the outcome unknown.
pub const DEFINITE_FAILURES: &[i32] = &[NO_NODE, BAD_VERSION, NODE_EXISTS, NOT_EMPTY];

pub fn code_name(code: i32) -> &'static str {
    match code {
        0 => "OK",
        -4 => "CONNECTIONLOSS",
        -7 => "OPERATIONTIMEOUT",
        NO_NODE => "NONODE",
        BAD_VERSION => "BADVERSION",
        NODE_EXISTS => "NODEEXISTS",
        NOT_EMPTY => "NOTEMPTY",
        -112 => "SESSIONEXPIRED",
        -118 => "SESSIONMOVED",
        -2 => "RUNTIMEINCONSISTENCY",
        _ => "?",
    }
}

/// One request as the client sent it. `Check` only appears inside `Multi`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Call {
    Create {
        path: String,
        data: Vec<u8>,
        sequential: bool,
    },
    Delete {
        path: String,
        version: i32,
    },
    SetData {
        path: String,
        data: Vec<u8>,
        version: i32,
    },
    Check {
        path: String,
        version: i32,
    },
    Multi(Vec<Call>),
    GetData {
        path: String,
    },
    Exists {
        path: String,
    },
    GetChildren {
        path: String,
    },
}

impl Call {
    /// True for calls that never change the tree.
    pub fn is_read(&self) -> bool {
        matches!(
            self,
            Call::GetData { .. } | Call::Exists { .. } | Call::GetChildren { .. }
        )
    }

    /// Every path the call names (the multi's ops flattened).
    pub fn paths(&self) -> Vec<&str> {
        match self {
            Call::Multi(ops) => ops.iter().flat_map(|o| o.paths()).collect(),
            Call::Create { path, .. }
            | Call::Delete { path, .. }
            | Call::SetData { path, .. }
            | Call::Check { path, .. }
            | Call::GetData { path }
            | Call::Exists { path }
            | Call::GetChildren { path } => vec![path.as_str()],
        }
    }

    /// Data values this call writes (unique per write in the workload).
    pub fn written_data(&self) -> Vec<&[u8]> {
        match self {
            Call::Multi(ops) => ops.iter().flat_map(|o| o.written_data()).collect(),
            Call::Create { data, .. } | Call::SetData { data, .. } => vec![data.as_slice()],
            _ => vec![],
        }
    }
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Call::Create {
                path,
                data,
                sequential,
            } => write!(
                f,
                "create{}({path}, {})",
                if *sequential { "-seq" } else { "" },
                show(data)
            ),
            Call::Delete { path, version } => write!(f, "delete({path}, v{version})"),
            Call::SetData {
                path,
                data,
                version,
            } => write!(f, "setData({path}, {}, v{version})", show(data)),
            Call::Check { path, version } => write!(f, "check({path}, v{version})"),
            Call::Multi(ops) => {
                write!(f, "multi[")?;
                for (i, o) in ops.iter().enumerate() {
                    if i > 0 {
                        write!(f, "; ")?;
                    }
                    write!(f, "{o}")?;
                }
                write!(f, "]")
            }
            Call::GetData { path } => write!(f, "getData({path})"),
            Call::Exists { path } => write!(f, "exists({path})"),
            Call::GetChildren { path } => write!(f, "getChildren({path})"),
        }
    }
}

/// Child names, long lists shortened to their ends.
pub fn names(c: &[String]) -> String {
    if c.len() <= 8 {
        return format!("{c:?}");
    }
    format!(
        "{:?} … {:?} ({} names)",
        &c[..3],
        &c[c.len() - 3..],
        c.len()
    )
}

pub fn show(data: &[u8]) -> String {
    match std::str::from_utf8(data) {
        Ok(s) => format!("{s:?}"),
        Err(_) => format!("{data:02x?}"),
    }
}

/// The Stat fields the checker uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Stat {
    pub czxid: i64,
    pub mzxid: i64,
    pub pzxid: i64,
    pub version: i32,
    pub cversion: i32,
    pub num_children: i32,
    pub data_length: i32,
}

impl From<&jute::Stat> for Stat {
    fn from(s: &jute::Stat) -> Stat {
        Stat {
            czxid: s.czxid,
            mzxid: s.mzxid,
            pzxid: s.pzxid,
            version: s.version,
            cversion: s.cversion,
            num_children: s.num_children,
            data_length: s.data_length,
        }
    }
}

impl fmt::Display for Stat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "v{} cv{} n{} czxid {} mzxid {}",
            self.version, self.cversion, self.num_children, self.czxid, self.mzxid
        )
    }
}

/// A successful reply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Ret {
    Created(String),
    Deleted,
    Set(Stat),
    Checked,
    Multi(Vec<Ret>),
    Data(Vec<u8>, Stat),
    /// exists: `None` when the node is absent (NONODE on the wire).
    Exists(Option<Stat>),
    /// Child names, sorted.
    Children(Vec<String>),
}

impl fmt::Display for Ret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ret::Created(p) => write!(f, "{p}"),
            Ret::Deleted => write!(f, "deleted"),
            Ret::Set(s) => write!(f, "{s}"),
            Ret::Checked => write!(f, "checked"),
            Ret::Multi(rs) => {
                write!(f, "[")?;
                for (i, r) in rs.iter().enumerate() {
                    if i > 0 {
                        write!(f, "; ")?;
                    }
                    write!(f, "{r}")?;
                }
                write!(f, "]")
            }
            Ret::Data(d, s) => write!(f, "{} ({s})", show(d)),
            Ret::Exists(None) => write!(f, "absent"),
            Ret::Exists(Some(s)) => write!(f, "present ({s})"),
            Ret::Children(c) => write!(f, "{}", names(c)),
        }
    }
}

/// What became of a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    Ok(Ret),
    /// Definitely not applied: the error code, and for a multi the index
    /// of the op that failed.
    Fail {
        code: i32,
        index: Option<usize>,
    },
    /// No answer (connection loss, timeout) or an answer that does not say:
    /// it may have taken effect at any time after it was sent, or never.
    Unknown,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Ok(r) => write!(f, "ok {r}"),
            Outcome::Fail { code, index: None } => write!(f, "{}", code_name(*code)),
            Outcome::Fail {
                code,
                index: Some(i),
            } => write!(f, "{} at op {i}", code_name(*code)),
            Outcome::Unknown => write!(f, "unknown"),
        }
    }
}

/// The group an absolute path belongs to: its first two components.
pub fn group_of(path: &str) -> String {
    let mut parts = path.split('/').skip(1);
    match (parts.next(), parts.next()) {
        (Some(a), Some(b)) => format!("/{a}/{b}"),
        (Some(a), None) => format!("/{a}"),
        _ => "/".to_string(),
    }
}

pub fn parent_of(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) => "/",
        Some(i) => &path[..i],
        None => "",
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Node {
    pub data: Vec<u8>,
    pub version: i32,
    pub cversion: i32,
    /// Child creates ever: the next sequential suffix.
    pub creates: i32,
}

/// Prior values of the nodes a write changed, oldest change first.
pub type UndoLog = Vec<(String, Option<Node>)>;

/// The znodes of one group, with a fingerprint of them kept up to date
/// change by change (the search remembers states by it).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct State {
    /// The group's root path (its parent is outside and always exists).
    pub root: String,
    pub nodes: BTreeMap<String, Node>,
    fp: u128,
}

fn entry_hash(path: &str, node: &Option<Node>) -> u128 {
    use std::hash::{Hash, Hasher};
    let Some(n) = node else { return 0 };
    let mut a = std::collections::hash_map::DefaultHasher::new();
    (path, n).hash(&mut a);
    let mut b = std::collections::hash_map::DefaultHasher::new();
    (0x51ed_u32, path, n).hash(&mut b);
    ((a.finish() as u128) << 64) | b.finish() as u128
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.nodes.is_empty() {
            return write!(f, "{{}} (no node of {})", self.root);
        }
        write!(f, "{{")?;
        for (i, (p, n)) in self.nodes.iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{p}={} v{} cv{}", show(&n.data), n.version, n.cversion)?;
        }
        write!(f, "}}")
    }
}

impl State {
    pub fn new(root: &str) -> State {
        State {
            root: root.to_string(),
            nodes: BTreeMap::new(),
            fp: 0,
        }
    }

    /// Identifies the state (with the group root, which never changes).
    pub fn fingerprint(&self) -> u128 {
        self.fp
    }

    fn in_group(&self, path: &str) -> bool {
        path == self.root || path.starts_with(&format!("{}/", self.root))
    }

    fn parent_exists(&self, path: &str) -> bool {
        let parent = parent_of(path);
        !self.in_group(parent) || self.nodes.contains_key(parent)
    }

    pub fn children(&self, path: &str) -> Vec<String> {
        let prefix = format!("{path}/");
        self.nodes
            .range(prefix.clone()..)
            .take_while(|(p, _)| p.starts_with(&prefix))
            .filter(|(p, _)| !p[prefix.len()..].contains('/'))
            .map(|(p, _)| p[prefix.len()..].to_string())
            .collect()
    }

    fn stat_of(&self, path: &str) -> Option<(i32, i32, i32, i32)> {
        let n = self.nodes.get(path)?;
        Some((
            n.version,
            n.cversion,
            self.children(path).len() as i32,
            n.data.len() as i32,
        ))
    }

    /// Sets (or removes) one node, logging its prior value.
    fn put(&mut self, path: &str, node: Option<Node>, log: &mut UndoLog) {
        let old = match &node {
            Some(n) => self.nodes.insert(path.to_string(), n.clone()),
            None => self.nodes.remove(path),
        };
        self.fp ^= entry_hash(path, &old) ^ entry_hash(path, &node);
        log.push((path.to_string(), old));
    }

    /// Undoes the changes logged from `from` on, newest first.
    pub fn rollback(&mut self, log: &mut UndoLog, from: usize) {
        while log.len() > from {
            let (path, old) = log.pop().expect("non-empty");
            let cur = match &old {
                Some(n) => self.nodes.insert(path.clone(), n.clone()),
                None => self.nodes.remove(&path),
            };
            self.fp ^= entry_hash(&path, &cur) ^ entry_hash(&path, &old);
        }
    }

    fn bump_parent(&mut self, path: &str, create: bool, log: &mut UndoLog) {
        let parent = parent_of(path);
        if let Some(p) = self.nodes.get(parent) {
            let mut p = p.clone();
            p.cversion = p.cversion.wrapping_add(1);
            if create {
                p.creates = p.creates.wrapping_add(1);
            }
            self.put(parent, Some(p), log);
        }
    }

    /// Applies one write op; the expected result, or the error code.
    fn apply_one(&mut self, call: &Call, log: &mut UndoLog) -> Result<Expect, i32> {
        match call {
            Call::Create {
                path,
                data,
                sequential,
            } => {
                if !self.parent_exists(path) {
                    return Err(NO_NODE);
                }
                let name = if *sequential {
                    let creates = self
                        .nodes
                        .get(parent_of(path))
                        .map(|p| p.creates)
                        .unwrap_or(0);
                    format!("{path}{creates:010}")
                } else {
                    path.clone()
                };
                if self.nodes.contains_key(&name) {
                    return Err(NODE_EXISTS);
                }
                let node = Node {
                    data: data.clone(),
                    version: 0,
                    cversion: 0,
                    creates: 0,
                };
                self.put(&name, Some(node), log);
                self.bump_parent(&name, true, log);
                Ok(Expect::Created(name))
            }
            Call::Delete { path, version } => {
                if !self.parent_exists(path) {
                    return Err(NO_NODE);
                }
                let Some(n) = self.nodes.get(path) else {
                    return Err(NO_NODE);
                };
                if *version != -1 && *version != n.version {
                    return Err(BAD_VERSION);
                }
                if !self.children(path).is_empty() {
                    return Err(NOT_EMPTY);
                }
                self.put(path, None, log);
                self.bump_parent(path, false, log);
                Ok(Expect::Deleted)
            }
            Call::SetData {
                path,
                data,
                version,
            } => {
                let Some(n) = self.nodes.get(path) else {
                    return Err(NO_NODE);
                };
                if *version != -1 && *version != n.version {
                    return Err(BAD_VERSION);
                }
                let mut n = n.clone();
                n.data = data.clone();
                n.version = n.version.wrapping_add(1);
                self.put(path, Some(n), log);
                Ok(Expect::Stat(self.stat_of(path).expect("just set")))
            }
            Call::Check { path, version } => {
                let Some(n) = self.nodes.get(path) else {
                    return Err(NO_NODE);
                };
                if *version != -1 && *version != n.version {
                    return Err(BAD_VERSION);
                }
                Ok(Expect::Checked)
            }
            Call::Multi(_)
            | Call::GetData { .. }
            | Call::Exists { .. }
            | Call::GetChildren { .. } => {
                unreachable!("apply_one takes single write ops")
            }
        }
    }

    /// Runs `call` on this state, in place: a write that succeeds changes
    /// it (its prior values appended to `log`), one that fails leaves it
    /// as it was. Returns what the reply must be.
    pub fn apply(&mut self, call: &Call, log: &mut UndoLog) -> Expect {
        match call {
            Call::GetData { path } => match self.nodes.get(path) {
                Some(n) => Expect::Data(n.data.clone(), self.stat_of(path).expect("exists")),
                None => Expect::Fail(NO_NODE, None),
            },
            Call::Exists { path } => Expect::Exists(self.stat_of(path)),
            Call::GetChildren { path } => match self.nodes.get(path) {
                Some(_) => Expect::Children(self.children(path)),
                None => Expect::Fail(NO_NODE, None),
            },
            Call::Multi(ops) => {
                let from = log.len();
                let mut results = Vec::new();
                for (i, op) in ops.iter().enumerate() {
                    match self.apply_one(op, log) {
                        Ok(e) => results.push(e),
                        Err(code) => {
                            self.rollback(log, from);
                            return Expect::Fail(code, Some(i));
                        }
                    }
                }
                Expect::Multi(results)
            }
            single => match self.apply_one(single, log) {
                Ok(e) => e,
                Err(code) => Expect::Fail(code, None),
            },
        }
    }

    /// Runs `call` on a copy: the state afterwards if it changed, and what
    /// the reply must be.
    pub fn run(&self, call: &Call) -> (Option<State>, Expect) {
        let mut next = self.clone();
        let mut log = UndoLog::new();
        let e = next.apply(call, &mut log);
        ((!log.is_empty()).then_some(next), e)
    }
}

/// What the model says a reply must be. Stats are (version, cversion,
/// numChildren, dataLength); zxids are checked elsewhere.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    Created(String),
    Deleted,
    Stat((i32, i32, i32, i32)),
    Checked,
    Multi(Vec<Expect>),
    Data(Vec<u8>, (i32, i32, i32, i32)),
    Exists(Option<(i32, i32, i32, i32)>),
    Children(Vec<String>),
    Fail(i32, Option<usize>),
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = |f: &mut fmt::Formatter<'_>, s: &(i32, i32, i32, i32)| {
            write!(f, "v{} cv{} n{}", s.0, s.1, s.2)
        };
        match self {
            Expect::Created(p) => write!(f, "ok {p}"),
            Expect::Deleted => write!(f, "ok deleted"),
            Expect::Stat(s) => {
                write!(f, "ok ")?;
                st(f, s)
            }
            Expect::Checked => write!(f, "ok checked"),
            Expect::Multi(rs) => {
                write!(f, "ok [")?;
                for (i, r) in rs.iter().enumerate() {
                    if i > 0 {
                        write!(f, "; ")?;
                    }
                    write!(f, "{r}")?;
                }
                write!(f, "]")
            }
            Expect::Data(d, s) => {
                write!(f, "ok {} (", show(d))?;
                st(f, s)?;
                write!(f, ")")
            }
            Expect::Exists(None) => write!(f, "ok absent"),
            Expect::Exists(Some(s)) => {
                write!(f, "ok present (")?;
                st(f, s)?;
                write!(f, ")")
            }
            Expect::Children(c) => write!(f, "ok {}", names(c)),
            Expect::Fail(code, None) => write!(f, "{}", code_name(*code)),
            Expect::Fail(code, Some(i)) => write!(f, "{} at op {i}", code_name(*code)),
        }
    }
}

fn stat_matches(e: &(i32, i32, i32, i32), s: &Stat) -> bool {
    e.0 == s.version && e.1 == s.cversion && e.2 == s.num_children && e.3 == s.data_length
}

fn ret_matches(e: &Expect, r: &Ret) -> bool {
    match (e, r) {
        (Expect::Created(a), Ret::Created(b)) => a == b,
        (Expect::Deleted, Ret::Deleted) | (Expect::Checked, Ret::Checked) => true,
        (Expect::Stat(e), Ret::Set(s)) => stat_matches(e, s),
        (Expect::Multi(es), Ret::Multi(rs)) => {
            es.len() == rs.len() && es.iter().zip(rs).all(|(e, r)| ret_matches(e, r))
        }
        (Expect::Data(d, e), Ret::Data(rd, s)) => d == rd && stat_matches(e, s),
        (Expect::Exists(None), Ret::Exists(None)) => true,
        (Expect::Exists(Some(e)), Ret::Exists(Some(s))) => stat_matches(e, s),
        (Expect::Children(a), Ret::Children(b)) => a == b,
        _ => false,
    }
}

/// Does the recorded outcome agree with what the model expects?
/// (`Unknown` outcomes are handled by the checker, not here.)
pub fn matches(expect: &Expect, outcome: &Outcome) -> bool {
    match (expect, outcome) {
        (Expect::Fail(c, i), Outcome::Fail { code, index }) => c == code && i == index,
        (e, Outcome::Ok(r)) => ret_matches(e, r),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(p: &str, seq: bool) -> Call {
        Call::Create {
            path: p.into(),
            data: b"d".to_vec(),
            sequential: seq,
        }
    }

    #[test]
    fn sequential_suffix_counts_creates_and_cversion_counts_both() {
        let mut s = State::new("/h/q");
        s = s.run(&create("/h/q", false)).0.unwrap();
        let (n, e) = s.run(&create("/h/q/n-", true));
        assert_eq!(e, Expect::Created("/h/q/n-0000000000".into()));
        s = n.unwrap();
        s = s
            .run(&Call::Delete {
                path: "/h/q/n-0000000000".into(),
                version: -1,
            })
            .0
            .unwrap();
        let (_, e) = s.run(&create("/h/q/n-", true));
        assert_eq!(e, Expect::Created("/h/q/n-0000000001".into()));
        assert_eq!(s.nodes["/h/q"].cversion, 2);
    }

    #[test]
    fn multi_is_all_or_nothing() {
        let s = State::new("/h/m")
            .run(&create("/h/m", false))
            .0
            .unwrap()
            .run(&create("/h/m/a", false))
            .0
            .unwrap();
        let m = Call::Multi(vec![
            Call::SetData {
                path: "/h/m/a".into(),
                data: b"x".to_vec(),
                version: 0,
            },
            Call::Check {
                path: "/h/m/a".into(),
                version: 0,
            },
        ]);
        let (next, e) = s.run(&m);
        assert!(next.is_none());
        assert_eq!(e, Expect::Fail(BAD_VERSION, Some(1)));
        assert_eq!(group_of("/h/m/a"), "/h/m");
        assert_eq!(s.children("/h/m"), vec!["a".to_string()]);
    }
}
