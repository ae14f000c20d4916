//! Running one case on both servers and comparing everything a client can
//! observe.
//!
//! Every step runs on ZooKeeper and on zoe at the same time (each server
//! sees the same requests in the same order on its own connections), and
//! the next step starts only when both have answered, so the two histories
//! are the same sequence of operations.
//!
//! What is compared, per reply: the error code, the xid and whether the
//! reply came in request order, the decoded body field by field (data with
//! null ≠ empty, children sorted, ACLs, created paths, multi results one by
//! one), every Stat field, body bytes on error replies and trailing bytes.
//! Per connection: the arrival log, i.e. replies and notifications
//! interleaved, so an event's position relative to the replies is
//! compared, as are its type, path and zxid. Per case: the handshakes
//! (timeout, readOnly byte, password length), what happens on close and
//! expiry, and finally the whole subtree (children, data, ACL, Stat).
//!
//! zxids are compared by order, never by value (see [`Cmp::strong`]).
//! Times are checked against the window of the request that set them on
//! each server's own clock (see [`Cmp::time`]).

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt::Debug;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use jute::{Acl, ErrorCode, MultiResult, Response, Stat};

use crate::model::*;
use crate::zk_client::{now_ms, ConnectOpts, Handshake, LogItem, Outcome, Reply, ZkConn};

pub const SIDES: [&str; 2] = ["zk", "zoe"];
pub const OP_TIMEOUT: Duration = Duration::from_secs(30);

/// One server under test, with two long-lived sessions of the harness:
/// `admin` creates case bases and walks the final tree (compared), `poll`
/// waits for expiries to complete (not compared: how often it polls
/// depends on timing).
pub struct Server {
    pub addr: String,
    pub admin: ZkConn,
    pub poll: ZkConn,
}

/// The pair of servers.
pub struct Servers {
    pub sides: [Server; 2],
    counter: AtomicUsize,
    prefix: String,
}

async fn admin_conn(addr: &str) -> ZkConn {
    let opts = ConnectOpts {
        timeout_ms: 4000,
        ..ConnectOpts::default()
    };
    match ZkConn::connect(addr, &opts).await {
        Ok(Handshake::Answered { conn, response, .. }) if response.time_out > 0 => conn,
        _ => panic!("cannot open an admin session on {addr}"),
    }
}

/// The super user both servers are configured with (digest of
/// `super:admin`); only the `poll` sessions use it, to clean up whatever a
/// case left behind regardless of ACLs.
pub const SUPER_DIGEST: &str = "super:xQJmxLMiHGwaqBvst5y6rkB6HQs=";

async fn super_conn(addr: &str) -> ZkConn {
    let conn = admin_conn(addr).await;
    let auth = jute::Request::Auth(jute::AuthPacket {
        auth_type: 0,
        scheme: "digest".into(),
        auth: Some(Bytes::from_static(b"super:admin")),
    });
    match conn.call(&auth, OP_TIMEOUT).await {
        Outcome::Reply(r) if r.header.err == 0 => conn,
        o => panic!("super auth on {addr} failed: {o:?}"),
    }
}

impl Servers {
    pub async fn connect(zk: &str, zoe: &str, prefix: &str) -> Servers {
        Servers {
            sides: [
                Server {
                    addr: zk.to_string(),
                    admin: admin_conn(zk).await,
                    poll: super_conn(zk).await,
                },
                Server {
                    addr: zoe.to_string(),
                    admin: admin_conn(zoe).await,
                    poll: super_conn(zoe).await,
                },
            ],
            counter: AtomicUsize::new(0),
            prefix: prefix.to_string(),
        }
    }

    fn next_base(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::SeqCst);
        format!("/{}{n}", self.prefix)
    }
}

/// One observed difference.
#[derive(Clone, Debug)]
pub struct Divergence {
    /// Step index in the case (None for setup and teardown).
    pub step: Option<usize>,
    /// `op:field` with indexes removed, to recognise the same bug.
    pub sig: String,
    pub detail: String,
}

fn err_name(code: i32) -> String {
    match ErrorCode::try_from(code) {
        Ok(c) => c.name().to_string(),
        Err(_) => format!("err{code}"),
    }
}

/// A field name without its numbers (result indexes, session and
/// connection numbers, log positions), so that the same bug found at
/// another place has the same signature.
fn generic(field: &str) -> String {
    let field = field.split(" (zk zxid").next().unwrap_or(field);
    field.chars().filter(|c| !c.is_ascii_digit()).collect()
}

/// Comparison state of one case.
pub struct Cmp {
    /// (ZooKeeper zxid, zoe zxid) pairs that must be order-isomorphic.
    strong: Vec<(i64, i64)>,
    /// Pairs that must sit in the same gap between strong pairs.
    weak: Vec<(i64, i64)>,
    /// (ZooKeeper session id, zoe session id).
    sessions: Vec<(i64, i64)>,
    /// zxid → [request sent, reply received] (ms), per server.
    windows: [HashMap<i64, (i64, i64)>; 2],
    /// zxid → the time a Stat reported for it, per server.
    times: [HashMap<i64, i64>; 2],
    /// Last reply zxid per server (replies must never go back).
    last_reply: [i64; 2],
    pub divs: Vec<Divergence>,
    step: Option<usize>,
    opname: String,
    pub events: u64,
}

impl Cmp {
    pub fn new() -> Cmp {
        Cmp {
            strong: Vec::new(),
            weak: Vec::new(),
            sessions: Vec::new(),
            windows: [HashMap::new(), HashMap::new()],
            times: [HashMap::new(), HashMap::new()],
            last_reply: [i64::MIN; 2],
            divs: Vec::new(),
            step: None,
            opname: String::new(),
            events: 0,
        }
    }

    fn at(&mut self, step: Option<usize>, opname: &str) {
        self.step = step;
        self.opname = opname.to_string();
    }

    fn div(&mut self, field: &str, zk: impl Debug, zoe: impl Debug) {
        let sig = format!("{}:{}", self.opname, generic(field));
        let detail = format!("{}: {field}: zk {zk:?} | zoe {zoe:?}", self.opname);
        self.divs.push(Divergence {
            step: self.step,
            sig,
            detail,
        });
    }

    /// A pair of zxids of the same real transaction (a successful write's
    /// reply, a Stat zxid, a notification). All strong pairs together must
    /// be order-isomorphic: equal on one side iff equal on the other, less
    /// on one side iff less on the other. No zxid value is compared.
    pub fn strong(&mut self, field: &str, a: i64, b: i64) {
        for &(x, y) in &self.strong {
            let kind = if x == a && y != b {
                "two zoe zxids for one ZooKeeper zxid"
            } else if x != a && y == b {
                "one zoe zxid for two ZooKeeper zxids"
            } else if (x < a) != (y < b) {
                "order differs"
            } else {
                continue;
            };
            self.div(
                &format!("{field} ({kind})"),
                format!("{a:#x}"),
                format!("{b:#x} (vs earlier zk {x:#x} ↔ zoe {y:#x})"),
            );
            return;
        }
        for &(x, y) in &self.weak {
            if (a <= x) != (b <= y) {
                self.div(
                    &format!("{field} (order differs from a reply zxid)"),
                    format!("{a:#x}"),
                    format!("{b:#x} (vs reply zxid zk {x:#x} ↔ zoe {y:#x})"),
                );
                return;
            }
        }
        if !self.strong.contains(&(a, b)) {
            self.strong.push((a, b));
        }
    }

    /// A reply zxid that is only "the last committed zxid" (reads, failed
    /// writes: ZooKeeper spends a zxid on a failed write, zoe does not).
    /// It must fall between the same two strong zxids on both servers,
    /// i.e. reflect the same set of committed transactions.
    pub fn weak(&mut self, field: &str, a: i64, b: i64) {
        for &(x, y) in &self.strong {
            if (x <= a) != (y <= b) {
                let kind = if y <= b {
                    "reply reflects a later transaction"
                } else {
                    "reply misses an earlier transaction"
                };
                self.div(
                    &format!("{field} ({kind})"),
                    format!("{a:#x}"),
                    format!("{b:#x} (vs transaction zk {x:#x} ↔ zoe {y:#x})"),
                );
                return;
            }
        }
        if !self.weak.contains(&(a, b)) {
            self.weak.push((a, b));
        }
    }

    pub fn session(&mut self, a: i64, b: i64) {
        for &(x, y) in &self.sessions {
            if (x == a) != (y == b) {
                self.div(
                    "sessionId",
                    a,
                    format!("{b} (zk {x:#x} ↔ zoe {y:#x} already)"),
                );
                return;
            }
        }
        if !self.sessions.contains(&(a, b)) {
            self.sessions.push((a, b));
        }
    }

    fn time(&mut self, side: usize, field: &str, zxid: i64, t: i64) {
        if let Some(&prev) = self.times[side].get(&zxid) {
            if prev != t {
                self.div(
                    &format!("{field} ({} clock)", SIDES[side]),
                    "same time for the same zxid",
                    format!("zxid {zxid:#x}: {t} vs earlier {prev}"),
                );
                return;
            }
        } else {
            self.times[side].insert(zxid, t);
        }
        if let Some(&(lo, hi)) = self.windows[side].get(&zxid) {
            if t < lo || t > hi {
                self.div(
                    &format!("{field} ({} clock)", SIDES[side]),
                    "within [request sent, reply received]",
                    format!("{t} not in [{lo}, {hi}]"),
                );
            }
        }
    }

    pub fn stat(&mut self, f: &str, a: &Stat, b: &Stat) {
        self.strong(&format!("{f}.czxid"), a.czxid, b.czxid);
        self.strong(&format!("{f}.mzxid"), a.mzxid, b.mzxid);
        self.strong(&format!("{f}.pzxid"), a.pzxid, b.pzxid);
        for (side, s) in [(0, a), (1, b)] {
            if s.czxid > 0 {
                self.time(side, &format!("{f}.ctime"), s.czxid, s.ctime);
            }
            if s.mzxid > 0 {
                self.time(side, &format!("{f}.mtime"), s.mzxid, s.mtime);
            }
            if s.czxid == s.mzxid && s.ctime != s.mtime {
                self.div(
                    &format!("{f}.mtime ({} clock)", SIDES[side]),
                    "mtime == ctime when mzxid == czxid",
                    (s.ctime, s.mtime),
                );
            }
        }
        if a.czxid <= 0 && a.ctime != b.ctime {
            self.div(&format!("{f}.ctime"), a.ctime, b.ctime);
        }
        if a.mzxid <= 0 && a.mtime != b.mtime {
            self.div(&format!("{f}.mtime"), a.mtime, b.mtime);
        }
        let ints = [
            ("version", a.version, b.version),
            ("cversion", a.cversion, b.cversion),
            ("aversion", a.aversion, b.aversion),
            ("dataLength", a.data_length, b.data_length),
            ("numChildren", a.num_children, b.num_children),
        ];
        for (name, x, y) in ints {
            if x != y {
                self.div(&format!("{f}.{name}"), x, y);
            }
        }
        if a.ephemeral_owner == 0 || b.ephemeral_owner == 0 {
            if a.ephemeral_owner != b.ephemeral_owner {
                self.div(
                    &format!("{f}.ephemeralOwner"),
                    format!("{:#x}", a.ephemeral_owner),
                    format!("{:#x}", b.ephemeral_owner),
                );
            }
        } else {
            match self.sessions.iter().find(|(x, _)| *x == a.ephemeral_owner) {
                Some(&(_, y)) if y == b.ephemeral_owner => {}
                m => {
                    let m = m.copied();
                    self.div(
                        &format!("{f}.ephemeralOwner"),
                        format!("{:#x}", a.ephemeral_owner),
                        format!(
                            "{:#x} (expected the peer of zk's: {m:x?})",
                            b.ephemeral_owner
                        ),
                    )
                }
            }
        }
    }

    fn acls(&mut self, f: &str, a: &[Acl], b: &[Acl]) {
        // ZooKeeper's order is arbitrary where `auth` expanded into several
        // ids; the list is a set to clients.
        let key = |v: &[Acl]| {
            let mut v: Vec<(i32, String, String)> = v
                .iter()
                .map(|a| (a.perms, a.id.scheme.clone(), a.id.id.clone()))
                .collect();
            v.sort();
            v
        };
        let (x, y) = (key(a), key(b));
        if x != y {
            self.div(f, x, y);
        }
    }

    fn strings(&mut self, f: &str, a: &[String], b: &[String]) {
        let mut x = a.to_vec();
        let mut y = b.to_vec();
        x.sort();
        y.sort();
        if x != y {
            self.div(f, x, y);
        }
    }

    fn data(&mut self, f: &str, a: &Option<Bytes>, b: &Option<Bytes>) {
        if a != b {
            self.div(f, show_data(a), show_data(b));
        }
    }

    fn response(&mut self, a: &Response, b: &Response) {
        use Response as R;
        match (a, b) {
            (R::Empty, R::Empty) => {}
            (R::Create(x), R::Create(y)) => {
                if x.path != y.path {
                    self.div("path", &x.path, &y.path)
                }
            }
            (R::Create2(x), R::Create2(y)) => {
                if x.path != y.path {
                    self.div("path", &x.path, &y.path)
                }
                self.stat("stat", &x.stat, &y.stat);
            }
            (R::Exists(x), R::Exists(y)) => self.stat("stat", &x.stat, &y.stat),
            (R::SetData(x), R::SetData(y)) => self.stat("stat", &x.stat, &y.stat),
            (R::SetAcl(x), R::SetAcl(y)) => self.stat("stat", &x.stat, &y.stat),
            (R::GetData(x), R::GetData(y)) => {
                self.data("data", &x.data, &y.data);
                self.stat("stat", &x.stat, &y.stat);
            }
            (R::GetAcl(x), R::GetAcl(y)) => {
                self.acls("acl", &x.acl, &y.acl);
                self.stat("stat", &x.stat, &y.stat);
            }
            (R::GetChildren(x), R::GetChildren(y)) => {
                self.strings("children", &x.children, &y.children)
            }
            (R::GetChildren2(x), R::GetChildren2(y)) => {
                self.strings("children", &x.children, &y.children);
                self.stat("stat", &x.stat, &y.stat);
            }
            (R::Sync(x), R::Sync(y)) => {
                if x.path != y.path {
                    self.div("path", &x.path, &y.path)
                }
            }
            (R::GetEphemerals(x), R::GetEphemerals(y)) => {
                self.strings("ephemerals", &x.ephemerals, &y.ephemerals)
            }
            (R::GetAllChildrenNumber(x), R::GetAllChildrenNumber(y)) => {
                if x.total_number != y.total_number {
                    self.div("totalNumber", x.total_number, y.total_number)
                }
            }
            (R::AddWatch(x), R::AddWatch(y)) => {
                if x.err != y.err {
                    self.div("body.err", x.err, y.err)
                }
            }
            (R::WhoAmI(x), R::WhoAmI(y)) => {
                let key = |v: &[jute::ClientInfo]| {
                    let mut v: Vec<(String, String)> = v
                        .iter()
                        .map(|c| (c.auth_scheme.clone(), c.user.clone()))
                        .collect();
                    v.sort();
                    v
                };
                let (p, q) = (key(&x.client_info), key(&y.client_info));
                if p != q {
                    self.div("clientInfo", p, q)
                }
            }
            (R::Multi(x), R::Multi(y)) => {
                if x.results.len() != y.results.len() {
                    self.div("results.len", x.results.len(), y.results.len());
                    return;
                }
                for (i, (p, q)) in x.results.iter().zip(&y.results).enumerate() {
                    self.multi_result(i, p, q);
                }
            }
            (R::GetData(_), _) | (R::Multi(_), _) | (R::Empty, _) | (_, _) => {
                self.div("body", short_body(a), short_body(b))
            }
        }
    }

    fn multi_result(&mut self, i: usize, a: &MultiResult, b: &MultiResult) {
        use MultiResult as M;
        let f = |s: &str| format!("result[{i}].{s}");
        match (a, b) {
            (M::Create { path: p }, M::Create { path: q }) => {
                if p != q {
                    self.div(&f("path"), p, q)
                }
            }
            (M::Create2 { path: p, stat: s }, M::Create2 { path: q, stat: t }) => {
                if p != q {
                    self.div(&f("path"), p, q)
                }
                self.stat(&f("stat"), s, t);
            }
            (M::Delete, M::Delete) | (M::Check, M::Check) => {}
            (M::SetData { stat: s }, M::SetData { stat: t }) => self.stat(&f("stat"), s, t),
            (M::GetData { data: d, stat: s }, M::GetData { data: e, stat: t }) => {
                self.data(&f("data"), d, e);
                self.stat(&f("stat"), s, t);
            }
            (M::GetChildren { children: c }, M::GetChildren { children: d }) => {
                self.strings(&f("children"), c, d)
            }
            (M::Error(x), M::Error(y)) => {
                if x != y {
                    self.div(&f("err"), err_name(*x), err_name(*y))
                }
            }
            _ => self.div(&f("type"), short_result(a), short_result(b)),
        }
    }

    /// Compares one reply pair. `changes_state`: the op writes the tree
    /// when it succeeds, so a successful reply's zxid is a strong pair.
    fn outcome(&mut self, a: &Timed, b: &Timed, changes_state: bool) {
        match (&a.outcome, &b.outcome) {
            (Outcome::Reply(ra), Outcome::Reply(rb)) => {
                self.reply(ra, rb, a.sent, b.sent, changes_state)
            }
            (Outcome::Closed, Outcome::Closed) | (Outcome::TimedOut, Outcome::TimedOut) => {}
            (x, y) => self.div("outcome", describe(x, 0, ""), describe(y, 0, "")),
        }
    }

    fn reply(&mut self, ra: &Reply, rb: &Reply, sa: i64, sb: i64, changes_state: bool) {
        if ra.header.err != rb.header.err {
            self.div("err", err_name(ra.header.err), err_name(rb.header.err));
            return;
        }
        if ra.header.xid != rb.header.xid {
            self.div("xid", ra.header.xid, rb.header.xid);
        }
        if ra.in_order != rb.in_order {
            self.div("reply order", ra.in_order, rb.in_order);
        }
        let failed_multi = matches!(&ra.body, Ok(Response::Multi(m))
            if m.results.iter().any(|r| matches!(r, MultiResult::Error(_))));
        let strong = changes_state && ra.header.err == 0 && !failed_multi;
        let (za, zb) = (ra.header.zxid, rb.header.zxid);
        if za <= 0 || zb <= 0 {
            // Not a transaction id: ZooKeeper answers auth with 0 and
            // UNIMPLEMENTED with -1. Compared as values.
            if za != zb {
                self.div("zxid", format!("{za:#x}"), format!("{zb:#x}"));
            }
        } else if strong {
            self.windows[0].entry(za).or_insert((sa, ra.received_ms));
            self.windows[1].entry(zb).or_insert((sb, rb.received_ms));
            self.strong("zxid", za, zb);
        } else {
            self.weak("zxid", za, zb);
        }
        for (side, z) in [(0, za), (1, zb)] {
            if z <= 0 {
                continue;
            }
            if z < self.last_reply[side] {
                let prev = self.last_reply[side];
                self.div(
                    &format!("zxid went backwards on {}", SIDES[side]),
                    "never",
                    format!("{z:#x} after {prev:#x}"),
                );
            }
            self.last_reply[side] = self.last_reply[side].max(z);
        }
        if ra.header.err != 0 && ra.raw_body.len() != rb.raw_body.len() {
            self.div(
                "error reply body bytes",
                ra.raw_body.len(),
                rb.raw_body.len(),
            );
        }
        if ra.header.err == 0 && ra.trailing != rb.trailing {
            self.div("trailing body bytes", ra.trailing, rb.trailing);
        }
        match (&ra.body, &rb.body) {
            (Ok(x), Ok(y)) => self.response(x, y),
            (Err(_), Err(_)) => {}
            (x, y) => self.div("body decoding", x.is_ok(), y.is_ok()),
        }
    }

    /// Compares two connections' arrival logs item by item.
    fn logs(&mut self, label: &str, a: &[LogItem], b: &[LogItem], base: &str) {
        let n = a.len().max(b.len());
        for i in 0..n {
            let ok = match (a.get(i), b.get(i)) {
                (
                    Some(LogItem::Reply {
                        xid: x1, err: e1, ..
                    }),
                    Some(LogItem::Reply {
                        xid: x2, err: e2, ..
                    }),
                ) => x1 == x2 && e1 == e2,
                (
                    Some(LogItem::Event {
                        zxid: z1,
                        event: e1,
                    }),
                    Some(LogItem::Event {
                        zxid: z2,
                        event: e2,
                    }),
                ) if e1 == e2 => {
                    self.events += 1;
                    if *z1 == -1 || *z2 == -1 {
                        if z1 != z2 {
                            self.div(
                                &format!("{label} event zxid"),
                                format!("{z1:#x}"),
                                format!("{z2:#x}"),
                            );
                        }
                    } else {
                        self.strong(&format!("{label} event zxid"), *z1, *z2);
                    }
                    true
                }
                (Some(LogItem::Closed), Some(LogItem::Closed)) => true,
                (Some(x), Some(y)) => x == y,
                _ => false,
            };
            if !ok {
                // Same events of one transaction in another order?
                let field = match permuted_events(a, b, i) {
                    Some(z) => format!(
                        "{label} order of the events of one transaction at #{i} (zk zxid {z:#x})"
                    ),
                    None => match (a.get(i), b.get(i)) {
                        (Some(LogItem::Reply { .. }), Some(LogItem::Event { zxid: -1, .. })) => {
                            format!("{label} setWatches event ahead of an earlier reply at #{i}")
                        }
                        _ => format!("{label} arrival log at #{i}"),
                    },
                };
                let lo = i.saturating_sub(3);
                let hi = i + 3;
                let show = |v: &[LogItem]| -> String {
                    (lo..hi.min(v.len()))
                        .map(|j| {
                            let s = show_item(&v[j], base);
                            if j == i {
                                format!("»{s}«")
                            } else {
                                s
                            }
                        })
                        .collect::<Vec<_>>()
                        .join(" ")
                };
                self.div(&field, show(a), show(b));
                return;
            }
        }
    }
}

impl Default for Cmp {
    fn default() -> Self {
        Cmp::new()
    }
}

/// ZooKeeper's side of an expired connection ends `…, Closed` where zoe's
/// ends `…, events, Closed` and everything before is alike: returns how many
/// events only zoe delivered.
fn expiry_race(zk: &[LogItem], zoe: &[LogItem]) -> Option<usize> {
    let (Some(LogItem::Closed), Some(LogItem::Closed)) = (zk.last(), zoe.last()) else {
        return None;
    };
    let n = zoe.len().checked_sub(zk.len())?;
    if n == 0 {
        return None;
    }
    let extra = &zoe[zk.len() - 1..zoe.len() - 1];
    let all_events = extra.iter().all(|i| matches!(i, LogItem::Event { .. }));
    let same_prefix = zk[..zk.len() - 1]
        .iter()
        .zip(&zoe[..zk.len() - 1])
        .all(|(x, y)| match (x, y) {
            (LogItem::Event { event: e1, .. }, LogItem::Event { event: e2, .. }) => e1 == e2,
            (
                LogItem::Reply {
                    xid: x1, err: e1, ..
                },
                LogItem::Reply {
                    xid: x2, err: e2, ..
                },
            ) => x1 == x2 && e1 == e2,
            (x, y) => x == y,
        });
    (all_events && same_prefix).then_some(n)
}

/// If the logs differ at `i` only by the order of consecutive events that
/// carry the same zxid (one transaction), returns ZooKeeper's zxid.
fn permuted_events(a: &[LogItem], b: &[LogItem], i: usize) -> Option<i64> {
    let Some(LogItem::Event { zxid: z, .. }) = a.get(i) else {
        return None;
    };
    let run = |v: &[LogItem]| -> Vec<(i32, String)> {
        let zx = match v.get(i) {
            Some(LogItem::Event { zxid, .. }) => *zxid,
            _ => return Vec::new(),
        };
        let mut out: Vec<(i32, String)> = v[i..]
            .iter()
            .map_while(|it| match it {
                LogItem::Event { zxid, event } if *zxid == zx => {
                    Some((event.event_type, event.path.clone()))
                }
                _ => None,
            })
            .collect();
        out.sort();
        out
    };
    let (x, y) = (run(a), run(b));
    (!x.is_empty() && x == y).then_some(*z)
}

/// An outcome with the time its request was sent.
pub struct Timed {
    pub outcome: Outcome,
    pub sent: i64,
}

fn show_data(d: &Option<Bytes>) -> String {
    match d {
        None => "null".into(),
        Some(b) if b.is_empty() => "\"\"".into(),
        Some(b) if b.len() <= 12 => format!("{:02x?}", &b[..]),
        Some(b) => format!("[{}B {:02x?}…]", b.len(), &b[..8]),
    }
}

fn short_body(r: &Response) -> String {
    let s = format!("{r:?}");
    s.chars().take(120).collect()
}

fn short_result(r: &MultiResult) -> String {
    match r {
        MultiResult::Create { .. } => "create".into(),
        MultiResult::Create2 { .. } => "create2".into(),
        MultiResult::Delete => "delete".into(),
        MultiResult::SetData { .. } => "setData".into(),
        MultiResult::Check => "check".into(),
        MultiResult::GetData { .. } => "getData".into(),
        MultiResult::GetChildren { .. } => "getChildren".into(),
        MultiResult::Error(e) => format!("error({})", err_name(*e)),
    }
}

fn rel_path(p: &str, base: &str) -> String {
    if base.is_empty() {
        return p.to_string();
    }
    match p.strip_prefix(base) {
        Some(r) if r.is_empty() || r.starts_with('/') => format!("~{r}"),
        _ => p.to_string(),
    }
}

fn show_stat(s: &Stat, t0: i64) -> String {
    let t = |x: i64| {
        if x == 0 {
            "0".to_string()
        } else {
            format!("{:+}", x - t0)
        }
    };
    format!(
        "{{cz={:#x} mz={:#x} pz={:#x} ct={} mt={} v={} cv={} av={} eo={:#x} dl={} nc={}}}",
        s.czxid,
        s.mzxid,
        s.pzxid,
        t(s.ctime),
        t(s.mtime),
        s.version,
        s.cversion,
        s.aversion,
        s.ephemeral_owner,
        s.data_length,
        s.num_children
    )
}

fn show_acl(v: &[Acl]) -> String {
    v.iter()
        .map(|a| format!("{}:{}:{}", a.perms, a.id.scheme, a.id.id))
        .collect::<Vec<_>>()
        .join(",")
}

fn show_response(r: &Response, t0: i64, base: &str) -> String {
    use Response as R;
    match r {
        R::Empty => String::new(),
        R::Create(x) => rel_path(&x.path, base),
        R::Create2(x) => format!("{} {}", rel_path(&x.path, base), show_stat(&x.stat, t0)),
        R::Exists(x) => show_stat(&x.stat, t0),
        R::SetData(x) => show_stat(&x.stat, t0),
        R::SetAcl(x) => show_stat(&x.stat, t0),
        R::GetData(x) => format!("{} {}", show_data(&x.data), show_stat(&x.stat, t0)),
        R::GetAcl(x) => format!("[{}] {}", show_acl(&x.acl), show_stat(&x.stat, t0)),
        R::GetChildren(x) => {
            let mut c = x.children.clone();
            c.sort();
            format!("{c:?}")
        }
        R::GetChildren2(x) => {
            let mut c = x.children.clone();
            c.sort();
            format!("{c:?} {}", show_stat(&x.stat, t0))
        }
        R::Sync(x) => rel_path(&x.path, base),
        R::Multi(m) => {
            let parts: Vec<String> = m
                .results
                .iter()
                .map(|r| match r {
                    MultiResult::Create { path } => format!("create {}", rel_path(path, base)),
                    MultiResult::Create2 { path, stat } => {
                        format!("create2 {} {}", rel_path(path, base), show_stat(stat, t0))
                    }
                    MultiResult::SetData { stat } => format!("setData {}", show_stat(stat, t0)),
                    MultiResult::GetData { data, stat } => {
                        format!("getData {} {}", show_data(data), show_stat(stat, t0))
                    }
                    MultiResult::GetChildren { children } => {
                        let mut c = children.clone();
                        c.sort();
                        format!("getChildren {c:?}")
                    }
                    other => short_result(other),
                })
                .collect();
            format!("[{}]", parts.join("; "))
        }
        R::GetEphemerals(x) => {
            let mut c: Vec<String> = x.ephemerals.iter().map(|p| rel_path(p, base)).collect();
            c.sort();
            format!("{c:?}")
        }
        R::GetAllChildrenNumber(x) => format!("{}", x.total_number),
        R::AddWatch(x) => format!("err={}", x.err),
        R::WhoAmI(x) => format!(
            "{:?}",
            x.client_info
                .iter()
                .map(|c| format!("{}:{}", c.auth_scheme, c.user))
                .collect::<Vec<_>>()
        ),
        other => short_body(other),
    }
}

/// One outcome as text (times relative to `t0`, paths relative to `base`).
pub fn describe(o: &Outcome, t0: i64, base: &str) -> String {
    match o {
        Outcome::Closed => "connection closed".into(),
        Outcome::TimedOut => "no reply (connection open)".into(),
        Outcome::Reply(r) => {
            let mut s = if r.header.err != 0 {
                format!("{} z={:#x}", err_name(r.header.err), r.header.zxid)
            } else {
                let body = match &r.body {
                    Ok(b) => show_response(b, t0, base),
                    Err(e) => format!("<undecodable: {e}>"),
                };
                format!("OK z={:#x} {body}", r.header.zxid)
            };
            if !r.in_order {
                s.push_str(" (OUT OF ORDER)");
            }
            if r.trailing > 0 {
                if r.header.err == 0 {
                    s.push_str(&format!(" (+{} trailing bytes)", r.trailing));
                } else {
                    let shown: Vec<u8> = r.raw_body.iter().take(16).copied().collect();
                    s.push_str(&format!(" (+{} body bytes {shown:02x?})", r.trailing));
                }
            }
            s
        }
    }
}

fn show_item(i: &LogItem, base: &str) -> String {
    match i {
        LogItem::Reply { xid, err, .. } => {
            if *err == 0 {
                format!("R{xid}")
            } else {
                format!("R{xid}:{}", err_name(*err))
            }
        }
        LogItem::Event { zxid, event } => {
            let t = jute::EventType::try_from(event.event_type)
                .map(|t| t.name().to_string())
                .unwrap_or_else(|_| format!("type{}", event.event_type));
            let st = if event.state == 3 {
                String::new()
            } else {
                format!(" state={}", event.state)
            };
            format!("E({t} {} z={zxid:#x}{st})", rel_path(&event.path, base))
        }
        LogItem::Unexpected { xid, err, .. } => format!("UNEXPECTED(xid={xid} err={err})"),
        LogItem::Garbage { len } => format!("GARBAGE({len}B)"),
        LogItem::Closed => "CLOSED".into(),
    }
}

/// A session slot: the same logical session on both servers.
struct Slot {
    spec: SessionSpec,
    live: bool,
    /// Every connection the slot used, per server (the last is current).
    conns: [Vec<ZkConn>; 2],
    sids: [i64; 2],
    passwd: [Vec<u8>; 2],
    /// Reply zxids this session saw, per server (for setWatches).
    hist: [Vec<i64>; 2],
    /// Ephemerals this session created, per server.
    ephemerals: [BTreeSet<String>; 2],
    /// Indexes (into `conns`) of the connections the server closed because
    /// the session expired.
    expired: Vec<usize>,
}

/// The result of running one case.
pub struct CaseResult {
    pub ops: u64,
    pub events: u64,
    pub divs: Vec<Divergence>,
    pub transcript: Vec<String>,
    pub base: String,
}

impl CaseResult {
    pub fn first_sig(&self) -> Option<&str> {
        self.divs.first().map(|d| d.sig.as_str())
    }
}

/// Runs `case` on both servers (a fresh base node per run).
/// Where a case runs.
#[derive(Clone, Copy, Debug)]
pub enum Base {
    /// A new node `/c<N>` per run, left in place afterwards.
    Unique,
    /// Always this node: removed (uncompared) if a previous run left it,
    /// created, and deleted again (compared) at the end. Re-running a case
    /// then sends exactly the same paths, which keeps ZooKeeper's
    /// hash-ordered behaviours (the order of a closing session's
    /// ephemeral deletions) reproducible while shrinking.
    Fixed(&'static str),
}

/// Runs `case` on both servers.
pub async fn run_case(srv: &Servers, case: &Case, base_mode: Base) -> CaseResult {
    let base = match base_mode {
        Base::Unique => srv.next_base(),
        Base::Fixed(b) => {
            let (g0, g1) = tokio::join!(purge(&srv.sides[0].poll, b), purge(&srv.sides[1].poll, b));
            if g0 && g1 {
                b.to_string()
            } else {
                // Something could not be removed: use a fresh name.
                srv.next_base()
            }
        }
    };
    let mut run = CaseRun {
        srv,
        base: base.clone(),
        slots: Vec::new(),
        cmp: Cmp::new(),
        transcript: Vec::new(),
        ops: 0,
        t0: now_ms(),
    };
    run.transcript.push(format!(
        "base {} (shown as ~); times are ms after {}",
        if base.is_empty() { "/" } else { &base },
        run.t0
    ));
    if !base.is_empty() {
        let op = Op::Create {
            op: CreateOp::Create2,
            path: P::Abs(base.clone()),
            data: Data::Empty,
            acl: AclSpec::Open,
            flags: 0,
        };
        run.admin_ops(None, "setup", &[op]).await;
    }
    for spec in &case.sessions {
        run.slots.push(Slot {
            spec: *spec,
            live: false,
            conns: [Vec::new(), Vec::new()],
            sids: [0; 2],
            passwd: [Vec::new(), Vec::new()],
            hist: [Vec::new(), Vec::new()],
            ephemerals: [BTreeSet::new(), BTreeSet::new()],
            expired: Vec::new(),
        });
    }
    for i in 0..run.slots.len() {
        run.open(
            None,
            i,
            ConnectKind::NewWithTimeout(case.sessions[i].timeout_ms),
        )
        .await;
    }
    for (i, step) in case.steps.iter().enumerate() {
        run.step(i, step).await;
    }
    let nodes = run.finish().await;
    if let Base::Fixed(_) = base_mode {
        run.cleanup(nodes).await;
    }
    CaseResult {
        ops: run.ops,
        events: run.cmp.events,
        divs: run.cmp.divs,
        transcript: run.transcript,
        base,
    }
}

struct CaseRun<'a> {
    srv: &'a Servers,
    base: String,
    slots: Vec<Slot>,
    cmp: Cmp,
    transcript: Vec<String>,
    ops: u64,
    t0: i64,
}

async fn close_one(c: &ZkConn) -> (Timed, bool) {
    let sent = now_ms();
    let outcome = c.close_session(Duration::from_secs(15)).await;
    let closed = c.wait_closed(Duration::from_secs(10)).await;
    (Timed { outcome, sent }, closed)
}

async fn send_batch(conn: &ZkConn, wires: Vec<Wire>) -> Vec<Timed> {
    let sent = now_ms();
    let mut pendings = Vec::new();
    let mut no_reply = Vec::new();
    for w in wires {
        match w {
            Wire::Req(r) => pendings.push(Some(conn.send(&r))),
            Wire::Raw { opcode, body } => pendings.push(Some(conn.send_raw(None, opcode, &body))),
            Wire::Bytes {
                mut bytes,
                reply_opcode,
            } => match reply_opcode {
                Some(op) => {
                    let xid = conn.take_xid();
                    if bytes.len() >= 8 {
                        bytes[4..8].copy_from_slice(&xid.to_be_bytes());
                    }
                    pendings.push(Some(conn.send_bytes(Bytes::from(bytes), Some((xid, op)))));
                }
                None => {
                    let _ = conn.send_bytes(Bytes::from(bytes), None);
                    no_reply.push(pendings.len());
                    pendings.push(None);
                }
            },
        }
    }
    let mut out = Vec::new();
    for p in pendings {
        let outcome = match p {
            Some(p) => p.wait(OP_TIMEOUT).await,
            None => {
                // Raw bytes without a reply: what matters is whether the
                // server closes the connection.
                if conn.wait_closed(Duration::from_secs(3)).await {
                    Outcome::Closed
                } else {
                    Outcome::TimedOut
                }
            }
        };
        out.push(Timed { outcome, sent });
    }
    out
}

impl<'a> CaseRun<'a> {
    fn line(&mut self, s: String) {
        self.transcript.push(s);
    }

    fn show_pair(&self, a: &Outcome, b: &Outcome) -> String {
        format!(
            "\n        zk : {}\n        zoe: {}",
            describe(a, self.t0, &self.base),
            describe(b, self.t0, &self.base)
        )
    }

    /// Ops on the admin sessions (setup and the final tree walk).
    async fn admin_ops(
        &mut self,
        step: Option<usize>,
        label: &str,
        ops: &[Op],
    ) -> Vec<[Outcome; 2]> {
        let base = self.base.clone();
        let w0: Vec<Wire> = ops.iter().map(|o| to_wire(o, &base, &|_| 0)).collect();
        let w1: Vec<Wire> = ops.iter().map(|o| to_wire(o, &base, &|_| 0)).collect();
        let (r0, r1) = tokio::join!(
            send_batch(&self.srv.sides[0].admin, w0),
            send_batch(&self.srv.sides[1].admin, w1)
        );
        let mut out = Vec::new();
        for ((op, a), b) in ops.iter().zip(r0).zip(r1) {
            self.ops += 1;
            let before = self.cmp.divs.len();
            self.cmp.at(step, &format!("{label} {}", op.name()));
            self.cmp.outcome(&a, &b, op.changes_state());
            if self.cmp.divs.len() > before || label == "setup" {
                let l = format!(
                    "  {label:<5} admin {op:?}{}",
                    self.show_pair(&a.outcome, &b.outcome)
                );
                self.line(l);
            }
            out.push([a.outcome, b.outcome]);
        }
        out
    }

    async fn step(&mut self, i: usize, step: &Step) {
        match step {
            Step::Batch { session, ops } => self.batch(i, *session, ops).await,
            Step::Close { session } => self.close(Some(i), *session).await,
            Step::Expire { session } => self.expire(i, *session, false).await,
            Step::ExpireStrict { session } => self.expire(i, *session, true).await,
            Step::Connect { session, kind } => {
                let s = *session % self.slots.len();
                self.open(Some(i), s, *kind).await
            }
        }
    }

    async fn ensure_live(&mut self, step: usize, s: usize) {
        if !self.slots[s].live {
            let t = self.slots[s].spec.timeout_ms;
            self.open(Some(step), s, ConnectKind::NewWithTimeout(t))
                .await;
        }
    }

    async fn batch(&mut self, i: usize, session: usize, ops: &[Op]) {
        let s = session % self.slots.len();
        self.ensure_live(i, s).await;
        let base = self.base.clone();
        let wires: [Vec<Wire>; 2] = [0, 1].map(|side| {
            let hist = self.slots[s].hist[side].clone();
            let relz = move |r: RelZ| match r {
                RelZ::Zero => 0,
                RelZ::Back(k) => {
                    if hist.is_empty() {
                        0
                    } else {
                        hist[hist.len() - 1 - k.min(hist.len() - 1)]
                    }
                }
            };
            ops.iter().map(|o| to_wire(o, &base, &relz)).collect()
        });
        let [w0, w1] = wires;
        let slot = &self.slots[s];
        let c0 = slot.conns[0].last().expect("live slot has a connection");
        let c1 = slot.conns[1].last().expect("live slot has a connection");
        let (r0, r1) = tokio::join!(send_batch(c0, w0), send_batch(c1, w1));
        for (k, ((op, a), b)) in ops.iter().zip(r0).zip(r1).enumerate() {
            self.ops += 1;
            let before = self.cmp.divs.len();
            self.cmp.at(Some(i), op.name());
            self.cmp.outcome(&a, &b, op.changes_state());
            let xid = a.outcome.reply().map(|r| r.header.xid);
            let tag = if ops.len() > 1 {
                format!("s{s}.{k}")
            } else {
                format!("s{s}")
            };
            let mark = if self.cmp.divs.len() > before {
                "!!"
            } else {
                "  "
            };
            let xid = xid.map(|x| format!(" [xid {x}]")).unwrap_or_default();
            let l = format!(
                "{mark}#{i:<3} {tag}{xid} {op:?}{}",
                self.show_pair(&a.outcome, &b.outcome)
            );
            self.line(l);
            for (side, t) in [(0, &a), (1, &b)] {
                if let Outcome::Reply(r) = &t.outcome {
                    self.slots[s].hist[side].push(r.header.zxid);
                    if r.header.err == 0 {
                        self.track_ephemerals(s, side, op, r);
                    }
                }
            }
        }
    }

    fn track_ephemerals(&mut self, s: usize, side: usize, op: &Op, r: &Reply) {
        let set = &mut self.slots[s].ephemerals[side];
        match (op, &r.body) {
            (Op::Create { flags, .. }, Ok(Response::Create(c))) if is_ephemeral_flags(*flags) => {
                set.insert(c.path.clone());
            }
            (Op::Create { flags, .. }, Ok(Response::Create2(c))) if is_ephemeral_flags(*flags) => {
                set.insert(c.path.clone());
            }
            (Op::Multi(ops), Ok(Response::Multi(m))) => {
                for (o, res) in ops.iter().zip(&m.results) {
                    if let MOp::Create { flags, .. } = o {
                        if is_ephemeral_flags(*flags) {
                            match res {
                                MultiResult::Create { path }
                                | MultiResult::Create2 { path, .. } => {
                                    set.insert(path.clone());
                                }
                                _ => {}
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }

    async fn close(&mut self, step: Option<usize>, session: usize) {
        let s = session % self.slots.len();
        if !self.slots[s].live {
            self.line(format!(
                "  #{} s{s} closeSession: no live session, skipped",
                step.map(|x| x.to_string()).unwrap_or("-".into())
            ));
            return;
        }
        let slot = &self.slots[s];
        let c0 = slot.conns[0].last().expect("conn");
        let c1 = slot.conns[1].last().expect("conn");
        let ((a, ca), (b, cb)) = tokio::join!(close_one(c0), close_one(c1));
        self.ops += 1;
        let before = self.cmp.divs.len();
        self.cmp.at(step, "closeSession");
        self.cmp.outcome(&a, &b, true);
        if ca != cb {
            self.cmp.div("connection closed after closeSession", ca, cb);
        }
        let mark = if self.cmp.divs.len() > before {
            "!!"
        } else {
            "  "
        };
        let l = format!(
            "{mark}#{} s{s} closeSession{}",
            step.map(|x| x.to_string()).unwrap_or("end".into()),
            self.show_pair(&a.outcome, &b.outcome)
        );
        self.line(l);
        self.slots[s].live = false;
    }

    async fn expire(&mut self, i: usize, session: usize, strict: bool) {
        let s = session % self.slots.len();
        if !self.slots[s].live {
            self.line(format!("  #{i:<3} s{s} expire: no live session, skipped"));
            return;
        }
        let slot = &self.slots[s];
        let wait = Duration::from_millis(slot.spec.timeout_ms as u64 * 3 + 10_000);
        let c0 = slot.conns[0].last().expect("conn");
        let c1 = slot.conns[1].last().expect("conn");
        let expired_conn = slot.conns[0].len() - 1;
        c0.set_pinging(false);
        c1.set_pinging(false);
        let started = Instant::now();
        let (ca, cb) = tokio::join!(c0.wait_closed(wait), c1.wait_closed(wait));
        let took = started.elapsed();
        self.ops += 1;
        let before = self.cmp.divs.len();
        self.cmp.at(Some(i), "expire");
        if ca != cb {
            self.cmp
                .div("connection closed by the server on expiry", ca, cb);
        }
        let mut note = String::new();
        if !strict {
            let [e0, e1] = [
                self.slots[s].ephemerals[0].clone(),
                self.slots[s].ephemerals[1].clone(),
            ];
            let sids = self.slots[s].sids;
            let (g0, g1) = tokio::join!(
                ephemerals_gone(&self.srv.sides[0].poll, &e0, sids[0]),
                ephemerals_gone(&self.srv.sides[1].poll, &e1, sids[1])
            );
            if g0 != g1 {
                self.cmp
                    .div("ephemerals of the expired session deleted", g0, g1);
            }
            note = format!(" (ephemerals gone: zk {g0}, zoe {g1})");
        }
        let mark = if self.cmp.divs.len() > before {
            "!!"
        } else {
            "  "
        };
        self.line(format!(
            "{mark}#{i:<3} s{s} expire{}: connection closed by server: zk {ca}, zoe {cb} after {:?}{note}",
            if strict { " (strict)" } else { "" },
            took
        ));
        self.slots[s].live = false;
        self.slots[s].expired.push(expired_conn);
    }

    /// (Re)connects slot `s` on both servers and compares the handshakes.
    async fn open(&mut self, step: Option<usize>, s: usize, kind: ConnectKind) {
        let resume = matches!(
            kind,
            ConnectKind::Resume | ConnectKind::BadPassword | ConnectKind::ZxidAhead
        );
        if !resume && self.slots[s].live {
            self.close(step, s).await;
        }
        if resume && self.slots[s].sids[0] == 0 {
            self.line(format!("  s{s} connect {kind:?}: no session yet, skipped"));
            return;
        }
        let mut opts: [ConnectOpts; 2] = [ConnectOpts::default(), ConnectOpts::default()];
        for (side, o) in opts.iter_mut().enumerate() {
            let slot = &self.slots[s];
            let last = slot.conns[side].last().map(|c| c.last_zxid()).unwrap_or(0);
            o.timeout_ms = slot.spec.timeout_ms;
            match kind {
                ConnectKind::Resume => {
                    o.session_id = slot.sids[side];
                    o.passwd = slot.passwd[side].clone();
                    o.last_zxid_seen = last;
                }
                ConnectKind::BadPassword => {
                    o.session_id = slot.sids[side];
                    o.passwd = slot.passwd[side].iter().map(|b| b ^ 0x5a).collect();
                    o.last_zxid_seen = last;
                }
                ConnectKind::ZxidAhead => {
                    o.session_id = slot.sids[side];
                    o.passwd = slot.passwd[side].clone();
                    o.last_zxid_seen = last + 1_000_000;
                }
                ConnectKind::NewWithoutReadOnly => o.read_only = None,
                ConnectKind::NewReadOnly => o.read_only = Some(true),
                ConnectKind::NewWithTimeout(t) => o.timeout_ms = t,
                ConnectKind::NewThenClose => o.pipelined = vec![jute::Request::CloseSession],
            }
        }
        if kind == ConnectKind::Resume {
            // The client drops its connection, then re-attaches.
            for side in 0..2 {
                if let Some(c) = self.slots[s].conns[side].last() {
                    c.abort();
                }
            }
        }
        let [o0, o1] = opts;
        let (a0, a1) = (
            self.srv.sides[0].addr.clone(),
            self.srv.sides[1].addr.clone(),
        );
        let (h0, h1) = tokio::join!(ZkConn::connect(&a0, &o0), ZkConn::connect(&a1, &o1));
        self.ops += 1;
        let before = self.cmp.divs.len();
        self.cmp.at(step, &format!("connect {kind:?}"));
        let mut shown = [String::new(), String::new()];
        let mut conns: [Option<ZkConn>; 2] = [None, None];
        let mut resp: [Option<jute::ConnectResponse>; 2] = [None, None];
        for (side, h) in [h0, h1].into_iter().enumerate() {
            match h {
                Ok(Handshake::Answered {
                    conn,
                    response,
                    response_len,
                }) => {
                    shown[side] = format!(
                        "timeout={} session={:#x} passwd={}B readOnly={:?} ({response_len}-byte reply)",
                        response.time_out,
                        response.session_id,
                        response.passwd.as_ref().map(|p| p.len()).unwrap_or(0),
                        response.read_only
                    );
                    conns[side] = Some(conn);
                    resp[side] = Some(response);
                }
                Ok(Handshake::Closed) => shown[side] = "closed without a ConnectResponse".into(),
                Ok(Handshake::TimedOut) => shown[side] = "no ConnectResponse (timeout)".into(),
                Err(e) => shown[side] = format!("connect error: {e}"),
            }
        }
        match (&resp[0], &resp[1]) {
            (Some(x), Some(y)) => {
                if x.time_out != y.time_out {
                    self.cmp.div("timeOut", x.time_out, y.time_out);
                }
                if (x.session_id == 0) != (y.session_id == 0) {
                    self.cmp.div("sessionId", x.session_id, y.session_id);
                } else if x.session_id != 0 {
                    self.cmp.session(x.session_id, y.session_id);
                }
                let pl = |r: &jute::ConnectResponse| r.passwd.as_ref().map(|p| p.len());
                if pl(x) != pl(y) {
                    self.cmp.div("passwd length", pl(x), pl(y));
                }
                if x.session_id == 0 && y.session_id == 0 && x.passwd != y.passwd {
                    self.cmp
                        .div("passwd of an invalid session", &x.passwd, &y.passwd);
                }
                if x.read_only != y.read_only {
                    self.cmp.div("readOnly byte", x.read_only, y.read_only);
                }
                if x.protocol_version != y.protocol_version {
                    self.cmp
                        .div("protocolVersion", x.protocol_version, y.protocol_version);
                }
            }
            (None, None) => {
                if shown[0] != shown[1] {
                    self.cmp.div("handshake", &shown[0], &shown[1]);
                }
            }
            _ => self.cmp.div("handshake", &shown[0], &shown[1]),
        }
        let valid = [0, 1].map(|i| resp[i].as_ref().is_some_and(|r| r.time_out > 0));
        if valid[0] && valid[1] {
            let [c0, c1] = conns;
            let slot = &mut self.slots[s];
            let (c0, c1) = (c0.expect("answered"), c1.expect("answered"));
            slot.sids = [c0.session_id, c1.session_id];
            slot.passwd = [c0.passwd.clone(), c1.passwd.clone()];
            if !resume {
                slot.ephemerals = [BTreeSet::new(), BTreeSet::new()];
                slot.hist = [Vec::new(), Vec::new()];
            }
            slot.conns[0].push(c0);
            slot.conns[1].push(c1);
            slot.live = true;
        } else {
            // An invalid session: the server closes the connection next.
            let mut closed = [None, None];
            for (side, c) in conns.iter().enumerate() {
                if let Some(c) = c {
                    closed[side] = Some(c.wait_closed(Duration::from_secs(5)).await);
                }
            }
            if closed[0] != closed[1] {
                self.cmp.div(
                    "connection closed after the handshake",
                    closed[0],
                    closed[1],
                );
            }
            // Keep the connections for the log comparison.
            let [c0, c1] = conns;
            if let (Some(c0), Some(c1)) = (c0, c1) {
                let slot = &mut self.slots[s];
                // A failed re-attach leaves the slot's session as it was.
                let keep_live = slot.live && kind != ConnectKind::Resume;
                slot.conns[0].insert(slot.conns[0].len().saturating_sub(1), c0);
                slot.conns[1].insert(slot.conns[1].len().saturating_sub(1), c1);
                slot.live = keep_live;
            } else if kind == ConnectKind::Resume {
                self.slots[s].live = false;
            }
        }
        if kind == ConnectKind::NewThenClose && self.slots[s].live {
            let sent = now_ms();
            let early = [0, 1].map(|side| {
                self.slots[s].conns[side]
                    .last()
                    .map(|c| c.take_early())
                    .unwrap_or_default()
            });
            let [e0, e1] = early;
            let (a, b) = tokio::join!(first_reply(e0), first_reply(e1));
            let slot = &self.slots[s];
            let (c0, c1) = (
                slot.conns[0].last().expect("conn"),
                slot.conns[1].last().expect("conn"),
            );
            let (ca, cb) = tokio::join!(
                c0.wait_closed(Duration::from_secs(10)),
                c1.wait_closed(Duration::from_secs(10))
            );
            self.ops += 1;
            self.cmp.at(step, "closeSession (pipelined)");
            let (a, b) = (Timed { outcome: a, sent }, Timed { outcome: b, sent });
            self.cmp.outcome(&a, &b, true);
            if ca != cb {
                self.cmp.div("connection closed after closeSession", ca, cb);
            }
            shown[0].push_str(&format!(
                "; closeSession: {}",
                describe(&a.outcome, self.t0, &self.base)
            ));
            shown[1].push_str(&format!(
                "; closeSession: {}",
                describe(&b.outcome, self.t0, &self.base)
            ));
            self.slots[s].live = false;
        }
        let mark = if self.cmp.divs.len() > before {
            "!!"
        } else {
            "  "
        };
        self.line(format!(
            "{mark}#{} s{s} connect {kind:?}\n        zk : {}\n        zoe: {}",
            step.map(|x| x.to_string()).unwrap_or("-".into()),
            shown[0],
            shown[1]
        ));
    }

    /// Closes the sessions, compares the arrival logs and the tree;
    /// returns the tree's paths in walk order.
    async fn finish(&mut self) -> Vec<String> {
        for s in 0..self.slots.len() {
            if self.slots[s].live {
                self.close(None, s).await;
            }
        }
        // Every connection is closed now, so its log is complete.
        for s in 0..self.slots.len() {
            let slot = &self.slots[s];
            let n = slot.conns[0].len().max(slot.conns[1].len());
            let mut pairs = Vec::new();
            for k in 0..n {
                let a = slot.conns[0].get(k).map(|c| c.log()).unwrap_or_default();
                let b = slot.conns[1].get(k).map(|c| c.log()).unwrap_or_default();
                pairs.push((k, a, b));
            }
            for (k, a, mut b) in pairs {
                self.cmp.at(None, "events");
                let label = format!("s{s} conn{k}");
                if self.slots[s].expired.contains(&k) {
                    if let Some(n) = expiry_race(&a, &b) {
                        // ZooKeeper's connection expirer and session
                        // expirer race: when the connection goes first, the
                        // expiry's events never reach the expired session
                        // (docs/COMPATIBILITY.md). zoe always delivers them.
                        let keep = b.len() - 1 - n;
                        b.drain(keep..b.len() - 1);
                        self.line(format!(
                            "  s{s} conn{k}: ZooKeeper closed the expired connection before its \
                             expiry events ({n} events only zoe delivered; a known race in ZooKeeper)"
                        ));
                    }
                }
                let before = self.cmp.divs.len();
                self.cmp.logs(&label, &a, &b, &self.base.clone());
                let mark = if self.cmp.divs.len() > before {
                    "!!"
                } else {
                    "  "
                };
                let show = |v: &[LogItem]| {
                    v.iter()
                        .map(|i| show_item(i, &self.base))
                        .collect::<Vec<_>>()
                        .join(" ")
                };
                let l = format!(
                    "{mark}arrival log {label}\n        zk : {}\n        zoe: {}",
                    show(&a),
                    show(&b)
                );
                self.line(l);
            }
        }
        self.dump().await
    }

    /// Walks the case's subtree on both servers and compares every node.
    async fn dump(&mut self) -> Vec<String> {
        let mut queue = VecDeque::from([self.base.clone()]);
        let mut nodes = 0;
        let mut walked = Vec::new();
        let before = self.cmp.divs.len();
        while let Some(p) = queue.pop_front() {
            nodes += 1;
            walked.push(p.clone());
            let ops = [
                Op::GetChildren2 {
                    path: P::Abs(p.clone()),
                    watch: false,
                },
                Op::GetData {
                    path: P::Abs(p.clone()),
                    watch: false,
                },
                Op::GetAcl {
                    path: P::Abs(p.clone()),
                },
            ];
            let r = self.admin_ops(None, "dump", &ops).await;
            if let (Outcome::Reply(a), Outcome::Reply(b)) = (&r[0][0], &r[0][1]) {
                if let (Ok(Response::GetChildren2(x)), Ok(Response::GetChildren2(y))) =
                    (&a.body, &b.body)
                {
                    let mut c: Vec<&String> = x
                        .children
                        .iter()
                        .filter(|c| y.children.contains(c))
                        .collect();
                    c.sort();
                    for name in c {
                        queue.push_back(format!("{p}/{name}"));
                    }
                }
            }
        }
        let mark = if self.cmp.divs.len() > before {
            "!!"
        } else {
            "  "
        };
        self.line(format!("{mark}final tree walk: {nodes} nodes compared"));
        walked
    }
}

impl CaseRun<'_> {
    /// Deletes the case's tree, children first (compared like any op).
    async fn cleanup(&mut self, nodes: Vec<String>) {
        let before = self.cmp.divs.len();
        let ops: Vec<Op> = nodes
            .iter()
            .rev()
            .map(|p| Op::Delete {
                path: P::Abs(p.clone()),
                version: -1,
            })
            .collect();
        for op in &ops {
            self.admin_ops(None, "cleanup", std::slice::from_ref(op))
                .await;
        }
        let mark = if self.cmp.divs.len() > before {
            "!!"
        } else {
            "  "
        };
        self.line(format!("{mark}cleanup: {} nodes deleted", ops.len()));
    }
}

async fn first_reply(v: Vec<crate::zk_client::PendingReply>) -> Outcome {
    match v.into_iter().next() {
        Some(p) => p.wait(OP_TIMEOUT).await,
        None => Outcome::Closed,
    }
}

/// Deletes `base` and everything under it, ignoring errors (not
/// compared); true if `base` is gone afterwards.
async fn purge(conn: &ZkConn, base: &str) -> bool {
    let mut all = Vec::new();
    let mut queue = VecDeque::from([base.to_string()]);
    while let Some(p) = queue.pop_front() {
        let req = jute::Request::GetChildren(jute::GetChildrenRequest {
            path: p.clone(),
            watch: false,
        });
        if let Outcome::Reply(r) = conn.call(&req, OP_TIMEOUT).await {
            if let Ok(Response::GetChildren(c)) = &r.body {
                for name in &c.children {
                    queue.push_back(format!("{p}/{name}"));
                }
            }
        }
        all.push(p);
    }
    for p in all.iter().rev() {
        let req = jute::Request::Delete(jute::DeleteRequest {
            path: p.clone(),
            version: -1,
        });
        let _ = conn.call(&req, OP_TIMEOUT).await;
    }
    let req = jute::Request::Exists(jute::ExistsRequest {
        path: base.to_string(),
        watch: false,
    });
    matches!(conn.call(&req, OP_TIMEOUT).await.err(), Some(e) if e == jute::ErrorCode::NoNode as i32)
}

/// Waits until none of `paths` is an ephemeral of `sid` any more.
async fn ephemerals_gone(admin: &ZkConn, paths: &BTreeSet<String>, sid: i64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut left = 0;
        for p in paths {
            let req = jute::Request::Exists(jute::ExistsRequest {
                path: p.clone(),
                watch: false,
            });
            if let Outcome::Reply(r) = admin.call(&req, OP_TIMEOUT).await {
                if let Ok(Response::Exists(e)) = &r.body {
                    if r.header.err == 0 && e.stat.ephemeral_owner == sid {
                        left += 1;
                    }
                }
            }
        }
        if left == 0 {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
