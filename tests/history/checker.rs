//! Checks a recorded history against ZooKeeper's consistency guarantees.
//!
//! ZooKeeper promises (and zoe must keep, whatever fails):
//!
//! * **Writes are linearizable**: there is one order of all writes,
//!   consistent with real time (a write acknowledged before another was
//!   sent comes first) and with the model of a znode (`model.rs`).
//! * **Reads are sequentially consistent per session**: a read may be
//!   stale, but it returns the state at some point of that order, no
//!   earlier than the session's previous operation (its own writes
//!   included), and no later than its own reply.
//! * **Updates of a session apply in the order it sent them**: a write
//!   whose outcome the client never learned (connection loss) either took
//!   effect before the session's next operation, or never.
//! * **sync, then read** sees every write acknowledged before the sync
//!   was sent.
//! * **zxids order everything**: a write's reply zxid is its place in the
//!   order (its Stat's mzxid); a read stamped zxid Z shows exactly the
//!   writes up to Z; a session's zxids never decrease.
//!
//! The search (`Search`) is the algorithm of Wing & Gong with Lowe's
//! memoisation, as in Knossos and Porcupine, run per group of znodes
//! (P-compositionality: a group is an independent object). A linearization
//! is built op by op; at each step the candidates are the ops whose
//! predecessors are placed, and whose recorded result the model agrees
//! with; visited (placed set, model state) pairs are remembered, so no
//! configuration is explored twice. The order constraints between two ops
//! A and B ("A before B") are:
//!
//! * real time: A returned before B was sent, and B is linearizable (a
//!   write, a failed write, or a read after a sync, whose window opens when
//!   the sync was sent). A plain read has no lower bound in real time:
//!   it may be stale;
//! * session order: A and B belong to one session, A sent first;
//! * zxids: a write with zxid w precedes writes with larger zxids and the
//!   reads stamped zxid >= w; reads stamped below w precede it. Failed
//!   writes likewise, except that one stamped w itself may come before
//!   it (with --group-commit, writes committed together share a zxid, and
//!   a write of the batch may fail before a later one succeeds).
//!
//! An op with an unknown outcome is optional: it may be placed anywhere its
//! constraints allow, or nowhere; once an op that must follow it is placed,
//! it can no longer be. Its zxid is known when a read saw the data it
//! wrote (every write in the workload writes unique data): the read's Stat
//! says when it took effect.
//!
//! An op that never changes the state (a read, a definite failure) and
//! whose result agrees with the current state is placed at once, without
//! branching, when no optional op could still have to come before it —
//! moving such an op to the front of any valid completion keeps the
//! completion valid. This keeps the search linear on real histories.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::hash::{Hash, Hasher};

use serde::{Deserialize, Serialize};

use super::model::{self, group_of, matches, Call, Expect, Outcome, Ret, State, UndoLog};

/// One operation as the client saw it. Times are nanoseconds since the
/// start of the recording, taken before the request was written and after
/// its reply was read.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Op {
    pub id: usize,
    /// The worker that issued it.
    pub client: usize,
    pub session: i64,
    /// Which server it was sent to (an index, for reports).
    pub server: usize,
    pub call: Call,
    pub invoke: u64,
    pub complete: u64,
    pub outcome: Outcome,
    /// The reply header's zxid (replies only).
    pub zxid: Option<i64>,
    /// For a read right after a sync on the same connection: when the sync
    /// was sent.
    pub sync_invoke: Option<u64>,
    /// The error code of a reply that left the outcome unknown.
    pub odd_code: Option<i32>,
}

/// A recorded run: operations plus notes (faults, reconnects) for reports.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct History {
    pub ops: Vec<Op>,
    pub notes: Vec<(u64, String)>,
}

#[derive(Clone, Debug)]
pub struct Anomaly {
    pub kind: &'static str,
    pub text: String,
}

#[derive(Clone, Debug)]
pub struct Options {
    /// Use reply zxids and Stat zxids as witnesses of the order.
    pub zxids: bool,
    /// Search steps allowed per group before giving up, at least 50 per
    /// op of the group (a give-up is reported as an anomaly: the checker
    /// never passes what it could not check).
    pub budget: u64,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            zxids: true,
            budget: 2_000_000,
        }
    }
}

#[derive(Debug, Default)]
pub struct Report {
    pub ops: usize,
    pub ok: usize,
    pub failed: usize,
    pub unknown: usize,
    pub groups: usize,
    pub search_nodes: u64,
    pub anomalies: Vec<Anomaly>,
}

impl Report {
    pub fn summary(&self) -> String {
        format!(
            "{} operations checked ({} ok, {} failed definitely, {} unknown) in {} groups, \
             {} search steps; {} anomalies",
            self.ops,
            self.ok,
            self.failed,
            self.unknown,
            self.groups,
            self.search_nodes,
            self.anomalies.len()
        )
    }
}

fn secs(ns: u64) -> String {
    format!("{:.3}s", ns as f64 / 1e9)
}

/// One line describing an op.
pub fn describe(op: &Op) -> String {
    let mut s = format!(
        "#{} c{} s{:x}@srv{} [{}–{}] {}",
        op.id,
        op.client,
        op.session,
        op.server,
        secs(op.invoke),
        secs(op.complete),
        op.call
    );
    if let Some(t) = op.sync_invoke {
        let _ = write!(s, " (after sync sent at {})", secs(t));
    }
    let _ = write!(s, " → {}", op.outcome);
    if let Some(c) = op.odd_code {
        let _ = write!(s, " (reply {c})");
    }
    if let Some(z) = op.zxid {
        let _ = write!(s, " zxid {z}");
    }
    s
}

fn notes_between(h: &History, from: u64, to: u64) -> String {
    let mut out = String::new();
    for (t, n) in &h.notes {
        if *t + 2_000_000_000 >= from && *t <= to + 1_000_000_000 {
            let _ = writeln!(out, "    note at {}: {n}", secs(*t));
        }
    }
    out
}

/// Runs every check.
pub fn check(h: &History, opts: &Options) -> Report {
    let mut r = Report {
        ops: h.ops.len(),
        ..Report::default()
    };
    for op in &h.ops {
        match op.outcome {
            Outcome::Ok(_) => r.ok += 1,
            Outcome::Fail { .. } => r.failed += 1,
            Outcome::Unknown => r.unknown += 1,
        }
    }
    let witnessed = if opts.zxids {
        witnesses(h, &mut r.anomalies)
    } else {
        HashMap::new()
    };
    if opts.zxids {
        check_sessions(h, &witnessed, &mut r.anomalies);
        check_sync(h, &mut r.anomalies);
        check_write_order(h, &mut r.anomalies);
    }
    check_odd_codes(h, &mut r.anomalies);
    check_sequential_names(h, &mut r.anomalies);
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, op) in h.ops.iter().enumerate() {
        let paths = op.call.paths();
        let g = group_of(paths[0]);
        assert!(
            paths.iter().all(|p| group_of(p) == g),
            "workload bug: {} spans groups",
            op.call
        );
        groups.entry(g).or_default().push(i);
    }
    r.groups = groups.len();
    for (g, ops) in &groups {
        let s = Search::new(h, g, ops, &witnessed, opts);
        let (nodes, result) = s.run();
        r.search_nodes += nodes;
        if let Err(a) = result {
            r.anomalies.push(a);
        }
    }
    r
}

// ------------------------------------------------------------ direct checks

/// The zxid at which each write with an unknown outcome took effect, where a
/// read saw its data; also checks that everyone who saw a value agrees on
/// its mzxid, and that it is the writer's reply zxid.
fn witnesses(h: &History, out: &mut Vec<Anomaly>) -> HashMap<usize, i64> {
    let mut writer: HashMap<&[u8], usize> = HashMap::new();
    for (i, op) in h.ops.iter().enumerate() {
        for d in op.call.written_data() {
            writer.insert(d, i);
        }
    }
    // data -> (mzxid, op that showed it)
    let mut seen: HashMap<Vec<u8>, (i64, usize)> = HashMap::new();
    let mut observe = |data: &'_ [u8], mzxid: i64, by: usize, out: &mut Vec<Anomaly>| {
        if data.is_empty() {
            return;
        }
        let Some(&w) = writer.get(data) else {
            out.push(Anomaly {
                kind: "phantom data",
                text: format!(
                    "a read returned data that no client ever wrote:\n  {}",
                    describe(&h.ops[by])
                ),
            });
            return;
        };
        if let (Outcome::Ok(_), Some(z)) = (&h.ops[w].outcome, h.ops[w].zxid) {
            if z != mzxid {
                out.push(Anomaly {
                    kind: "mzxid is not the writer's zxid",
                    text: format!(
                        "the Stat shows mzxid {mzxid} for data written by an op acknowledged with zxid {z}:\n  {}\n  {}",
                        describe(&h.ops[w]),
                        describe(&h.ops[by])
                    ),
                });
            }
        }
        match seen.get(data) {
            Some(&(m, other)) if m != mzxid => out.push(Anomaly {
                kind: "one write, two mzxids",
                text: format!(
                    "two replies show the same data with different mzxids:\n  {}\n  {}",
                    describe(&h.ops[other]),
                    describe(&h.ops[by])
                ),
            }),
            Some(_) => {}
            None => {
                seen.insert(data.to_vec(), (mzxid, by));
            }
        }
    };
    for (i, op) in h.ops.iter().enumerate() {
        match (&op.call, &op.outcome) {
            (Call::GetData { .. }, Outcome::Ok(Ret::Data(d, s))) => observe(d, s.mzxid, i, out),
            (Call::SetData { data, .. }, Outcome::Ok(Ret::Set(s))) => {
                observe(data, s.mzxid, i, out)
            }
            (Call::Multi(calls), Outcome::Ok(Ret::Multi(rets))) => {
                for (c, r) in calls.iter().zip(rets) {
                    if let (Call::SetData { data, .. }, Ret::Set(s)) = (c, r) {
                        observe(data, s.mzxid, i, out);
                    }
                }
            }
            _ => {}
        }
    }
    let mut w = HashMap::new();
    for (i, op) in h.ops.iter().enumerate() {
        if op.outcome != Outcome::Unknown {
            continue;
        }
        let zs: Vec<i64> = op
            .call
            .written_data()
            .iter()
            .filter_map(|d| seen.get(*d).map(|(m, _)| *m))
            .collect();
        if let Some(&z) = zs.first() {
            if zs.iter().any(|x| *x != z) {
                out.push(Anomaly {
                    kind: "torn multi",
                    text: format!(
                        "the data of one multi was seen with different mzxids ({zs:?}):\n  {}",
                        describe(op)
                    ),
                });
            }
            w.insert(i, z);
        }
    }
    w
}

fn session_ops(h: &History) -> BTreeMap<i64, Vec<usize>> {
    let mut by: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    for (i, op) in h.ops.iter().enumerate() {
        by.entry(op.session).or_default().push(i);
    }
    for v in by.values_mut() {
        v.sort_by_key(|&i| (h.ops[i].invoke, i));
    }
    by
}

/// Per session: reply zxids never decrease (a session never goes back in
/// time, and sees its own writes); a read's Stat is not from the future;
/// a node's (czxid, mzxid) seen by the session never goes back; an op
/// with an unknown outcome did not take effect after a later op of its
/// session.
fn check_sessions(h: &History, witnessed: &HashMap<usize, i64>, out: &mut Vec<Anomaly>) {
    for (sid, ops) in session_ops(h) {
        let mut high: Option<(i64, usize)> = None;
        let mut node_seen: HashMap<&str, (i64, i64, usize)> = HashMap::new();
        for (k, &i) in ops.iter().enumerate() {
            let op = &h.ops[i];
            if let Some(z) = op.zxid {
                if let Some((hz, hi)) = high {
                    if z < hz {
                        let own = !h.ops[hi].call.is_read()
                            && matches!(h.ops[hi].outcome, Outcome::Ok(_));
                        out.push(Anomaly {
                            kind: if own {
                                "session missed its own write"
                            } else {
                                "session went back in time"
                            },
                            text: format!(
                                "session {sid:x} got zxid {z} after it had seen zxid {hz}:\n  {}\n  {}\n{}",
                                describe(&h.ops[hi]),
                                describe(op),
                                notes_between(h, h.ops[hi].invoke, op.complete)
                            ),
                        });
                    }
                }
                if high.is_none_or(|(hz, _)| z > hz) {
                    high = Some((z, i));
                }
            }
            let stat = match &op.outcome {
                Outcome::Ok(Ret::Data(_, s)) | Outcome::Ok(Ret::Exists(Some(s))) => Some(s),
                _ => None,
            };
            if let (Some(s), Some(z)) = (stat, op.zxid) {
                if s.mzxid > z || s.czxid > s.mzxid || s.pzxid > z {
                    out.push(Anomaly {
                        kind: "stat from the future",
                        text: format!(
                            "a read stamped zxid {z} shows a node with czxid {}, mzxid {}, pzxid {}:\n  {}",
                            s.czxid,
                            s.mzxid,
                            s.pzxid,
                            describe(op)
                        ),
                    });
                }
                let path = op.call.paths()[0];
                if let Some(&(c, m, prev)) = node_seen.get(path) {
                    if (s.czxid, s.mzxid) < (c, m) {
                        out.push(Anomaly {
                            kind: "read went back in time",
                            text: format!(
                                "session {sid:x} saw {path} at (czxid {c}, mzxid {m}), later at (czxid {}, mzxid {}):\n  {}\n  {}\n{}",
                                s.czxid,
                                s.mzxid,
                                describe(&h.ops[prev]),
                                describe(op),
                                notes_between(h, h.ops[prev].invoke, op.complete)
                            ),
                        });
                    }
                }
                node_seen.insert(path, (s.czxid, s.mzxid, i));
            }
            if let Some(&u) = witnessed.get(&i) {
                for &j in &ops[k + 1..] {
                    let later = &h.ops[j];
                    if let Some(z) = later.zxid {
                        if z < u {
                            out.push(Anomaly {
                                kind: "write applied after later ops of its session",
                                text: format!(
                                    "an op whose reply was lost took effect at zxid {u} (a read saw its data), \
                                     after its session had moved on to zxid {z}:\n  {}\n  {}\n{}",
                                    describe(op),
                                    describe(later),
                                    notes_between(h, op.invoke, later.complete)
                                ),
                            });
                            break;
                        }
                    }
                }
            }
        }
    }
}

fn is_write_ok(op: &Op) -> bool {
    !op.call.is_read() && matches!(op.outcome, Outcome::Ok(_))
}

/// A read after a sync is stamped at least the zxid of every write
/// acknowledged before the sync was sent.
fn check_sync(h: &History, out: &mut Vec<Anomaly>) {
    let mut acked: Vec<(u64, i64, usize)> = h
        .ops
        .iter()
        .enumerate()
        .filter(|(_, o)| is_write_ok(o))
        .filter_map(|(i, o)| o.zxid.map(|z| (o.complete, z, i)))
        .collect();
    acked.sort();
    // prefix maximum of zxid by completion time
    let mut best: Vec<(i64, usize)> = Vec::with_capacity(acked.len());
    for &(_, z, i) in &acked {
        let prev = best.last().copied();
        best.push(match prev {
            Some((pz, pi)) if pz >= z => (pz, pi),
            _ => (z, i),
        });
    }
    for op in &h.ops {
        let (Some(t), Some(z)) = (op.sync_invoke, op.zxid) else {
            continue;
        };
        let n = acked.partition_point(|(c, _, _)| *c < t);
        if n == 0 {
            continue;
        }
        let (wz, wi) = best[n - 1];
        if z < wz {
            out.push(Anomaly {
                kind: "sync did not catch up",
                text: format!(
                    "a read after sync is stamped zxid {z}, but a write acknowledged before the sync was sent has zxid {wz}:\n  {}\n  {}\n{}",
                    describe(&h.ops[wi]),
                    describe(op),
                    notes_between(h, h.ops[wi].invoke, op.complete)
                ),
            });
        }
    }
}

/// Acknowledged writes: one acknowledged before another was sent has the
/// smaller zxid (zxids are the global order of writes).
fn check_write_order(h: &History, out: &mut Vec<Anomaly>) {
    let mut by_complete: Vec<(u64, i64, usize)> = h
        .ops
        .iter()
        .enumerate()
        .filter(|(_, o)| is_write_ok(o))
        .filter_map(|(i, o)| o.zxid.map(|z| (o.complete, z, i)))
        .collect();
    by_complete.sort();
    let mut best: Vec<(i64, usize)> = Vec::new();
    for &(_, z, i) in &by_complete {
        let prev = best.last().copied();
        best.push(match prev {
            Some((pz, pi)) if pz >= z => (pz, pi),
            _ => (z, i),
        });
    }
    for op in h.ops.iter().filter(|o| is_write_ok(o)) {
        let Some(z) = op.zxid else { continue };
        let n = by_complete.partition_point(|(c, _, _)| *c < op.invoke);
        if n == 0 {
            continue;
        }
        let (pz, pi) = best[n - 1];
        if pz >= z {
            out.push(Anomaly {
                kind: "write order against real time",
                text: format!(
                    "a write acknowledged with zxid {pz} before another was sent, which got zxid {z}:\n  {}\n  {}",
                    describe(&h.ops[pi]),
                    describe(op)
                ),
            });
        }
    }
}

/// Replies whose error code no operation of the workload should ever get.
fn check_odd_codes(h: &History, out: &mut Vec<Anomaly>) {
    // Codes after which a client legitimately does not know the outcome.
    const EXPECTED: &[i32] = &[-4, -7, -112, -118];
    for op in &h.ops {
        if let Some(c) = op.odd_code {
            if !EXPECTED.contains(&c) {
                out.push(Anomaly {
                    kind: "unexpected error code",
                    text: format!("reply code {c}:\n  {}", describe(op)),
                });
            }
        }
    }
}

/// Sequential creates under one parent never return the same name while
/// the parent lives.
fn check_sequential_names(h: &History, out: &mut Vec<Anomaly>) {
    let deleted: HashSet<&str> = h
        .ops
        .iter()
        .flat_map(|o| match &o.call {
            Call::Delete { path, .. } => vec![path.as_str()],
            Call::Multi(ops) => ops
                .iter()
                .filter_map(|c| match c {
                    Call::Delete { path, .. } => Some(path.as_str()),
                    _ => None,
                })
                .collect(),
            _ => vec![],
        })
        .collect();
    let mut names: HashMap<&str, usize> = HashMap::new();
    for (i, op) in h.ops.iter().enumerate() {
        let mut created = vec![];
        match (&op.call, &op.outcome) {
            (
                Call::Create {
                    sequential: true,
                    path,
                    ..
                },
                Outcome::Ok(Ret::Created(name)),
            ) => created.push((path, name)),
            (Call::Multi(calls), Outcome::Ok(Ret::Multi(rets))) => {
                for (c, r) in calls.iter().zip(rets) {
                    if let (
                        Call::Create {
                            sequential: true,
                            path,
                            ..
                        },
                        Ret::Created(name),
                    ) = (c, r)
                    {
                        created.push((path, name));
                    }
                }
            }
            _ => {}
        }
        for (path, name) in created {
            if deleted.contains(model::parent_of(path)) {
                continue;
            }
            if let Some(&j) = names.get(name.as_str()) {
                out.push(Anomaly {
                    kind: "duplicate sequence number",
                    text: format!(
                        "two sequential creates got {name}:\n  {}\n  {}",
                        describe(&h.ops[j]),
                        describe(op)
                    ),
                });
            } else {
                names.insert(name, i);
            }
        }
    }
}

// ------------------------------------------------------------ the search

struct Entry {
    op: usize,
    required: bool,
    /// Never changes the state.
    observer: bool,
    /// Real-time lower bound (None: a plain read, which may be stale).
    lower: Option<u64>,
    complete: u64,
    /// zxid of a write (reply zxid, or witnessed).
    wz: Option<i64>,
    /// zxid stamped on an observer.
    oz: Option<i64>,
    /// A failed write: with group commit it shares its zxid with the
    /// writes committed in the same transaction, and may be ordered before
    /// them, so an equal zxid does not order it. (A read stamped zxid z
    /// shows the whole revision z.)
    tie_free: bool,
    session: usize,
    pos: i64,
    prev_required: Option<usize>,
    last_optional_before: Option<usize>,
    zob: u128,
}

struct Search<'a> {
    h: &'a History,
    group: &'a str,
    opts: &'a Options,
    e: Vec<Entry>,
    lin_kind: Vec<usize>,
    plain_z: Vec<usize>,
    plain_noz: Vec<usize>,
    by_complete: Vec<usize>,
    req_w: Vec<usize>,
    req_o: Vec<usize>,
    opt_witnessed: Vec<usize>,
    n_required: usize,
    sessions: usize,
}

/// Mutable search position; everything is undone on backtrack.
struct Pos {
    lin: Vec<bool>,
    zob: u128,
    sess_max: Vec<i64>,
    max_w: i64,
    /// Largest zxid of a placed read, and of a placed failed write.
    max_o: i64,
    max_f: i64,
    lin_required: usize,
    /// Pointers into lin_kind, plain_z, by_complete, req_w, req_o.
    ptr: [usize; 5],
}

struct Undo {
    entry: usize,
    /// What the entry changed in the state.
    log: UndoLog,
    sess_max: i64,
    max_w: i64,
    max_o: i64,
    max_f: i64,
    ptr: [usize; 5],
}

struct Choice {
    cands: Vec<usize>,
    next: usize,
    undo: Option<Undo>,
}

fn zobrist(i: usize, salt: u64) -> u128 {
    let mut a = DefaultHasher::new();
    (i, salt, 0x5eed_u32).hash(&mut a);
    let mut b = DefaultHasher::new();
    (salt, i, 0xface_u32).hash(&mut b);
    ((a.finish() as u128) << 64) | b.finish() as u128
}

impl<'a> Search<'a> {
    fn new(
        h: &'a History,
        group: &'a str,
        ops: &[usize],
        witnessed: &HashMap<usize, i64>,
        opts: &'a Options,
    ) -> Search<'a> {
        let mut ops: Vec<usize> = ops
            .iter()
            .copied()
            // A read without an answer told nothing.
            .filter(|&i| !(h.ops[i].call.is_read() && h.ops[i].outcome == Outcome::Unknown))
            .collect();
        ops.sort_by_key(|&i| (h.ops[i].invoke, i));
        let mut session_idx: HashMap<i64, usize> = HashMap::new();
        let mut sess_last_req: Vec<Option<usize>> = Vec::new();
        let mut sess_last_opt: Vec<Option<usize>> = Vec::new();
        let mut sess_len: Vec<i64> = Vec::new();
        let mut e = Vec::with_capacity(ops.len());
        for &i in &ops {
            let op = &h.ops[i];
            let n = session_idx.len();
            let s = *session_idx.entry(op.session).or_insert(n);
            if s == sess_len.len() {
                sess_len.push(0);
                sess_last_req.push(None);
                sess_last_opt.push(None);
            }
            let required = op.outcome != Outcome::Unknown;
            let observer = op.call.is_read() || matches!(op.outcome, Outcome::Fail { .. });
            let lower = if op.call.is_read() {
                op.sync_invoke
            } else {
                Some(op.invoke)
            };
            let (wz, oz) = if !opts.zxids {
                (None, None)
            } else if observer {
                (None, op.zxid)
            } else if required {
                (op.zxid, None)
            } else {
                (witnessed.get(&i).copied(), None)
            };
            let idx = e.len();
            e.push(Entry {
                op: i,
                required,
                observer,
                lower,
                complete: op.complete,
                wz,
                oz,
                tie_free: observer && !op.call.is_read(),
                session: s,
                pos: sess_len[s],
                prev_required: sess_last_req[s],
                last_optional_before: sess_last_opt[s],
                zob: zobrist(idx, 0x9e37_79b9),
            });
            sess_len[s] += 1;
            if required {
                sess_last_req[s] = Some(idx);
            } else {
                sess_last_opt[s] = Some(idx);
            }
        }
        let idx: Vec<usize> = (0..e.len()).collect();
        let mut lin_kind: Vec<usize> = idx
            .iter()
            .copied()
            .filter(|&x| e[x].lower.is_some())
            .collect();
        lin_kind.sort_by_key(|&x| (e[x].lower, x));
        let mut plain_z: Vec<usize> = idx
            .iter()
            .copied()
            .filter(|&x| e[x].lower.is_none() && e[x].oz.is_some())
            .collect();
        plain_z.sort_by_key(|&x| (e[x].oz, x));
        let plain_noz = idx
            .iter()
            .copied()
            .filter(|&x| e[x].lower.is_none() && e[x].oz.is_none())
            .collect();
        let mut by_complete: Vec<usize> = idx.iter().copied().filter(|&x| e[x].required).collect();
        by_complete.sort_by_key(|&x| (e[x].complete, x));
        let mut req_w: Vec<usize> = idx
            .iter()
            .copied()
            .filter(|&x| e[x].required && e[x].wz.is_some())
            .collect();
        req_w.sort_by_key(|&x| (e[x].wz, x));
        let mut req_o: Vec<usize> = idx
            .iter()
            .copied()
            .filter(|&x| e[x].required && e[x].oz.is_some())
            .collect();
        req_o.sort_by_key(|&x| (e[x].oz, x));
        let opt_witnessed = idx
            .iter()
            .copied()
            .filter(|&x| !e[x].required && e[x].wz.is_some())
            .collect();
        let n_required = e.iter().filter(|x| x.required).count();
        Search {
            h,
            group,
            opts,
            e,
            lin_kind,
            plain_z,
            plain_noz,
            by_complete,
            req_w,
            req_o,
            opt_witnessed,
            n_required,
            sessions: sess_len.len(),
        }
    }

    fn dead(&self, p: &Pos, x: usize) -> bool {
        let en = &self.e[x];
        if en.required {
            return false;
        }
        if p.sess_max[en.session] > en.pos {
            return true;
        }
        match en.wz {
            Some(w) => p.max_w > w || p.max_o >= w || p.max_f > w,
            None => false,
        }
    }

    fn gone(&self, p: &Pos, x: usize) -> bool {
        p.lin[x] || self.dead(p, x)
    }

    fn first_pending(&self, p: &Pos, list: &[usize], from: usize, skip_dead: bool) -> usize {
        let mut i = from;
        while i < list.len() && (p.lin[list[i]] || (skip_dead && self.dead(p, list[i]))) {
            i += 1;
        }
        i
    }

    /// (earliest completion, smallest write zxid, smallest observer zxid)
    /// among pending required entries.
    fn bounds(&self, p: &Pos) -> (u64, i64, i64) {
        let mpc = self
            .by_complete
            .get(p.ptr[2])
            .map(|&x| self.e[x].complete)
            .unwrap_or(u64::MAX);
        let mpw = self
            .req_w
            .get(p.ptr[3])
            .and_then(|&x| self.e[x].wz)
            .unwrap_or(i64::MAX);
        let mpo = self
            .req_o
            .get(p.ptr[4])
            .and_then(|&x| self.e[x].oz)
            .unwrap_or(i64::MAX);
        (mpc, mpw, mpo)
    }

    fn ready(&self, p: &Pos, x: usize, (mpc, mpw, mpo): (u64, i64, i64)) -> bool {
        let en = &self.e[x];
        if let Some(l) = en.lower {
            if mpc < l {
                return false;
            }
        }
        if let Some(pr) = en.prev_required {
            if !p.lin[pr] {
                return false;
            }
        }
        if let Some(w) = en.wz {
            if mpw < w || mpo < w {
                return false;
            }
        }
        if let Some(z) = en.oz {
            if mpw < z || (mpw == z && !en.tie_free) {
                return false;
            }
        }
        true
    }

    /// The pending entry that keeps `x` from being placed, if any.
    fn blocker(&self, p: &Pos, x: usize) -> Option<usize> {
        let en = &self.e[x];
        let (mpc, mpw, mpo) = self.bounds(p);
        if en.lower.is_some_and(|l| mpc < l) {
            return self.by_complete.get(p.ptr[2]).copied();
        }
        if let Some(pr) = en.prev_required.filter(|&pr| !p.lin[pr]) {
            return Some(pr);
        }
        if en.wz.is_some_and(|w| mpw < w)
            || en.oz.is_some_and(|z| mpw < z || (mpw == z && !en.tie_free))
        {
            return self.req_w.get(p.ptr[3]).copied();
        }
        if en.wz.is_some_and(|w| mpo < w) {
            return self.req_o.get(p.ptr[4]).copied();
        }
        None
    }

    /// May observer `x` be placed now without branching?
    fn greedy_safe(&self, p: &Pos, x: usize) -> bool {
        let en = &self.e[x];
        if let Some(u) = en.last_optional_before {
            if !self.gone(p, u) {
                return false;
            }
        }
        match en.oz {
            Some(z) => !self
                .opt_witnessed
                .iter()
                .any(|&u| !self.gone(p, u) && self.e[u].wz.is_some_and(|w| w <= z)),
            None => self.opt_witnessed.iter().all(|&u| self.gone(p, u)),
        }
    }

    /// The window of entries that might be placed next.
    fn window(&self, p: &Pos, b: (u64, i64, i64)) -> Vec<usize> {
        let mut out = Vec::new();
        for &x in &self.lin_kind[p.ptr[0]..] {
            if self.e[x].lower.is_some_and(|l| l > b.0) {
                break;
            }
            out.push(x);
        }
        for &x in &self.plain_z[p.ptr[1]..] {
            if self.e[x].oz.is_some_and(|z| z >= b.1) {
                break;
            }
            out.push(x);
        }
        out.extend(self.plain_noz.iter().copied());
        out
    }

    fn candidates(&self, p: &Pos, state: &mut State) -> Vec<usize> {
        let b = self.bounds(p);
        let mut req = Vec::new();
        let mut opt = Vec::new();
        let mut log = UndoLog::new();
        for x in self.window(p, b) {
            if self.gone(p, x) || !self.ready(p, x, b) {
                continue;
            }
            let en = &self.e[x];
            let op = &self.h.ops[en.op];
            // Try it in place, then undo.
            let expect = state.apply(&op.call, &mut log);
            let changed = !log.is_empty();
            state.rollback(&mut log, 0);
            if en.required {
                if !matches(&expect, &op.outcome) {
                    continue;
                }
                if en.observer && self.greedy_safe(p, x) {
                    return vec![x];
                }
                req.push(x);
            } else if changed {
                // An optional op that would fail here has no effect: the
                // same as leaving it out.
                opt.push(x);
            }
        }
        req.sort_by_key(|x| (self.e[*x].complete, *x));
        opt.sort_by_key(|x| (self.h.ops[self.e[*x].op].invoke, *x));
        req.extend(opt);
        req
    }

    fn apply(&self, p: &mut Pos, state: &mut State, x: usize) -> Undo {
        let en = &self.e[x];
        let mut log = UndoLog::new();
        state.apply(&self.h.ops[en.op].call, &mut log);
        let undo = Undo {
            entry: x,
            log,
            sess_max: p.sess_max[en.session],
            max_w: p.max_w,
            max_o: p.max_o,
            max_f: p.max_f,
            ptr: p.ptr,
        };
        p.lin[x] = true;
        p.zob ^= en.zob;
        p.sess_max[en.session] = p.sess_max[en.session].max(en.pos);
        if let Some(w) = en.wz {
            p.max_w = p.max_w.max(w);
        }
        if let Some(z) = en.oz {
            if en.tie_free {
                p.max_f = p.max_f.max(z);
            } else {
                p.max_o = p.max_o.max(z);
            }
        }
        if en.required {
            p.lin_required += 1;
        }
        p.ptr[0] = self.first_pending(p, &self.lin_kind, p.ptr[0], true);
        p.ptr[1] = self.first_pending(p, &self.plain_z, p.ptr[1], true);
        p.ptr[2] = self.first_pending(p, &self.by_complete, p.ptr[2], false);
        p.ptr[3] = self.first_pending(p, &self.req_w, p.ptr[3], false);
        p.ptr[4] = self.first_pending(p, &self.req_o, p.ptr[4], false);
        undo
    }

    fn revert(&self, p: &mut Pos, state: &mut State, mut u: Undo) {
        let en = &self.e[u.entry];
        p.lin[u.entry] = false;
        p.zob ^= en.zob;
        p.sess_max[en.session] = u.sess_max;
        p.max_w = u.max_w;
        p.max_o = u.max_o;
        p.max_f = u.max_f;
        if en.required {
            p.lin_required -= 1;
        }
        p.ptr = u.ptr;
        state.rollback(&mut u.log, 0);
    }

    /// Returns (search nodes, Ok or the anomaly).
    fn run(&self) -> (u64, Result<(), Anomaly>) {
        let mut p = Pos {
            lin: vec![false; self.e.len()],
            zob: 0,
            sess_max: vec![-1; self.sessions],
            max_w: i64::MIN,
            max_o: i64::MIN,
            max_f: i64::MIN,
            lin_required: 0,
            ptr: [0; 5],
        };
        let mut state = State::new(self.group);
        if p.lin_required == self.n_required {
            return (0, Ok(()));
        }
        let budget = self.opts.budget.max(self.e.len() as u64 * 50);
        let mut visited: HashSet<u128> = HashSet::new();
        let mut nodes = 0u64;
        let mut deepest: Option<(usize, Vec<usize>, State, String)> = None;
        let root = self.candidates(&p, &mut state);
        let mut stack = vec![Choice {
            cands: root,
            next: 0,
            undo: None,
        }];
        while let Some(top) = stack.last_mut() {
            if let Some(u) = top.undo.take() {
                self.revert(&mut p, &mut state, u);
            }
            if top.next >= top.cands.len() {
                if top.cands.is_empty() && deepest.as_ref().is_none_or(|d| p.lin_required > d.0) {
                    let path: Vec<usize> = stack[..stack.len() - 1]
                        .iter()
                        .map(|c| c.cands[c.next - 1])
                        .collect();
                    let why = self.explain(&p, &state);
                    deepest = Some((p.lin_required, path, state.clone(), why));
                }
                stack.pop();
                continue;
            }
            let x = top.cands[top.next];
            top.next += 1;
            let u = self.apply(&mut p, &mut state, x);
            top.undo = Some(u);
            if p.lin_required == self.n_required {
                return (nodes, Ok(()));
            }
            nodes += 1;
            if nodes > budget {
                return (
                    nodes,
                    Err(Anomaly {
                        kind: "checker gave up",
                        text: format!(
                            "group {}: no verdict within {} search steps ({} ops); \
                             the history could not be checked",
                            self.group,
                            budget,
                            self.e.len()
                        ),
                    }),
                );
            }
            if !visited.insert(p.zob ^ state.fingerprint()) {
                continue;
            }
            let cands = self.candidates(&p, &mut state);
            stack.push(Choice {
                cands,
                next: 0,
                undo: None,
            });
        }
        let (placed, path, st, why) = deepest.unwrap_or_default();
        (nodes, Err(self.report(placed, &path, &st, &why)))
    }

    /// Why nothing more could be placed: the pending required ops at the
    /// front, each with what the model expected of it.
    fn explain(&self, p: &Pos, state: &State) -> String {
        let b = self.bounds(p);
        let mut pending: Vec<usize> = self
            .window(p, b)
            .into_iter()
            .filter(|&x| self.e[x].required && !p.lin[x])
            .collect();
        if pending.is_empty() {
            pending = self.by_complete[p.ptr[2]..]
                .iter()
                .copied()
                .take(1)
                .collect();
        }
        pending.sort_by_key(|&x| (self.e[x].complete, x));
        let mut out = String::new();
        for &x in pending.iter().take(6) {
            let op = &self.h.ops[self.e[x].op];
            let _ = writeln!(out, "    {}", describe(op));
            // Follow what it waits for, to an op that cannot go next.
            let mut cur = x;
            let mut hops = 0;
            while let Some(bl) = self.blocker(p, cur) {
                let bop = &self.h.ops[self.e[bl].op];
                let _ = writeln!(out, "        must follow {}", describe(bop));
                cur = bl;
                hops += 1;
                if hops == 4 || bl == x {
                    break;
                }
            }
            if self.blocker(p, cur).is_none() {
                let cop = &self.h.ops[self.e[cur].op];
                let expect = state.run(&cop.call).1;
                let _ = writeln!(
                    out,
                    "        for which the model says {}",
                    expect_text(&expect, &cop.outcome)
                );
            }
        }
        out
    }

    fn report(&self, placed: usize, path: &[usize], state: &State, why: &str) -> Anomaly {
        let mut text = format!(
            "group {}: not linearizable. The longest valid order places {placed} of the {} ops whose outcome is known; \
             after its last steps\n",
            self.group, self.n_required
        );
        let tail = &path[path.len().saturating_sub(8)..];
        for &x in tail {
            let _ = writeln!(text, "    {}", describe(&self.h.ops[self.e[x].op]));
        }
        let _ = writeln!(
            text,
            "  the group is {state}\n  and none of these can come next:"
        );
        text.push_str(why);
        let from = tail
            .first()
            .map(|&x| self.h.ops[self.e[x].op].invoke)
            .unwrap_or(0);
        let to = tail
            .last()
            .map(|&x| self.h.ops[self.e[x].op].complete)
            .unwrap_or(0);
        text.push_str(&notes_between(self.h, from, to));
        Anomaly {
            kind: "not linearizable",
            text,
        }
    }
}

/// What the model expected, and for child lists how the reply differs.
fn expect_text(e: &Expect, got: &Outcome) -> String {
    if let (Expect::Children(want), Outcome::Ok(Ret::Children(have))) = (e, got) {
        let missing: Vec<&String> = want.iter().filter(|c| !have.contains(c)).collect();
        let extra: Vec<&String> = have.iter().filter(|c| !want.contains(c)).collect();
        return format!("{e}: the reply lacks {missing:?} and has {extra:?} too");
    }
    format!("{e}")
}
