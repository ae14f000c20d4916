//! Planning a write: ZooKeeper ops → one etcd transaction.
//!
//! The planner runs the ops of a request (a single write is a multi of one)
//! in order against the replica, through an overlay that holds what the
//! earlier ops of the same request changed. It produces either the etcd
//! operations plus the compares that guard every fact the decision relied
//! on, or the ZooKeeper error of the first failing op plus the compares
//! that prove the error (so a stale replica never produces a wrong error).
//! Planning is pure: no I/O, no clock; the caller commits and retries.

use std::collections::{BTreeSet, HashMap};

use bytes::Bytes;
use etcd_client::{Compare, CompareOp, PutOptions, TxnOp};
use jute::{Acl, CreateMode, ErrorCode, EventType, Id, OpCode, Stat};

use crate::acl;
use crate::layout::{self, ChildRec, ChildRecord, EventList, Layout, Meta, NodeKind, Numbering};
use crate::path;
use crate::tree::{self, Tree};

/// Stands for "the revision this transaction commits at" until it is known.
pub const PENDING: i64 = i64::MIN;

/// Owner marker ZooKeeper stores for containers (clients see 0).
const CONTAINER_OWNER: i64 = i64::MIN;

#[derive(Debug, Clone)]
pub enum WriteOp {
    Create {
        opcode: OpCode,
        path: String,
        data: Option<Bytes>,
        acl: Vec<Acl>,
        flags: i32,
        ttl: i64,
    },
    Delete {
        path: String,
        version: i32,
    },
    SetData {
        path: String,
        data: Option<Bytes>,
        version: i32,
    },
    Check {
        path: String,
        version: i32,
    },
    /// The server's own container/TTL reaping (opcode 20): no ACL and no
    /// version check.
    DeleteContainer {
        path: String,
    },
    SetAcl {
        path: String,
        acl: Vec<Acl>,
        version: i32,
    },
}

impl WriteOp {
    /// create, create2 and createContainer share one request record; the
    /// opcode decides what kind of node it makes.
    pub fn create(opcode: OpCode, r: jute::CreateRequest) -> WriteOp {
        WriteOp::Create {
            opcode,
            path: r.path,
            data: r.data,
            acl: r.acl,
            flags: r.flags,
            ttl: -1,
        }
    }

    /// Deletes every ephemeral of a session (its close or expiry).
    pub fn delete_ephemerals(tree: &Tree, session: i64) -> Vec<WriteOp> {
        tree.ephemerals_in_zookeeper_order(session)
            .into_iter()
            .map(|path| WriteOp::Delete { path, version: -1 })
            .collect()
    }
}

impl From<jute::CreateTtlRequest> for WriteOp {
    fn from(r: jute::CreateTtlRequest) -> WriteOp {
        WriteOp::Create {
            opcode: OpCode::CreateTtl,
            path: r.path,
            data: r.data,
            acl: r.acl,
            flags: r.flags,
            ttl: r.ttl,
        }
    }
}

impl From<jute::DeleteRequest> for WriteOp {
    fn from(r: jute::DeleteRequest) -> WriteOp {
        WriteOp::Delete {
            path: r.path,
            version: r.version,
        }
    }
}

impl From<jute::SetDataRequest> for WriteOp {
    fn from(r: jute::SetDataRequest) -> WriteOp {
        WriteOp::SetData {
            path: r.path,
            data: r.data,
            version: r.version,
        }
    }
}

impl From<jute::SetAclRequest> for WriteOp {
    fn from(r: jute::SetAclRequest) -> WriteOp {
        WriteOp::SetAcl {
            path: r.path,
            acl: r.acl,
            version: r.version,
        }
    }
}

impl From<jute::CheckVersionRequest> for WriteOp {
    fn from(r: jute::CheckVersionRequest) -> WriteOp {
        WriteOp::Check {
            path: r.path,
            version: r.version,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum OpResult {
    Create { path: String },
    Create2 { path: String, stat: Stat },
    Delete,
    SetData { stat: Stat },
    Check,
    SetAcl { stat: Stat },
}

impl OpResult {
    /// Fills in the commit revision.
    pub fn finalize(&mut self, zxid: i64) {
        let fix = |s: &mut Stat| {
            for z in [&mut s.czxid, &mut s.mzxid, &mut s.pzxid] {
                if *z == PENDING {
                    *z = zxid;
                }
            }
        };
        match self {
            OpResult::Create2 { stat, .. }
            | OpResult::SetData { stat }
            | OpResult::SetAcl { stat } => fix(stat),
            _ => {}
        }
    }
}

/// Who is writing, and when.
#[derive(Debug, Clone)]
pub struct WriteCtx {
    pub session_id: i64,
    /// For a client's write: the mod revision of the session record when
    /// the connection attached to the session. The write commits only
    /// while the record is unchanged, so once the session has moved to
    /// another connection (or expired), nothing sent on this one can take
    /// effect any more — ZooKeeper's SESSIONMOVED. `None` for zoe's own
    /// writes (expiry, reaping).
    pub attached_rev: Option<i64>,
    pub auth_ids: Vec<Id>,
    pub now_ms: i64,
    pub ttl_enabled: bool,
}

/// The outcome of planning.
pub enum Plan {
    /// Commit `ops` if `compares` hold.
    Commit {
        compares: Vec<Compare>,
        ops: Vec<TxnOp>,
        results: Vec<OpResult>,
    },
    /// Op `index` fails with `code`, provided `compares` hold (no compares:
    /// the error does not depend on the tree).
    Fail {
        index: usize,
        code: ErrorCode,
        compares: Vec<Compare>,
    },
}

/// One node as the planner sees it, with where it came from.
#[derive(Debug, Clone)]
struct PNode {
    exists: bool,
    special: bool,
    data: Option<Bytes>,
    version: i32,
    aversion: i32,
    cversion: i32,
    creates: i32,
    num_children: i32,
    czxid: i64,
    mzxid: i64,
    pzxid: i64,
    ctime: i64,
    mtime: i64,
    kind: NodeKind,
    owner: i64,
    ttl: i64,
    acl: Vec<Acl>,
    lease: i64,
    // Original etcd facts, for compares and for the version offset.
    orig_exists: bool,
    orig_create_rev: i64,
    orig_mod_rev: i64,
    orig_etcd_version: i64,
    orig_meta_rev: i64,
    orig_crec_rev: i64,
    orig_crec_version: i64,
    orig_deletes_version: i64,
    /// The child record exists in the current format (see `ChildRecord`).
    orig_crec_bumpable: bool,
    // What this request changed.
    data_put: bool,
    meta_put: bool,
    /// The counters start afresh (a node re-created in place).
    crec_reset: bool,
    /// Children created plus children deleted, and children deleted.
    child_changes: u32,
    child_deletes: u32,
    /// A reply carries this node's stat, so its counters must be exact.
    exposed: bool,
    recreated: bool,
}

impl PNode {
    fn from_tree(tree: &Tree, p: &str) -> PNode {
        match tree.raw(p) {
            Some(e) => {
                let exists = e.exists();
                let st = e.stat(p);
                let meta = e.meta();
                let crec = e.child_rec(p);
                PNode {
                    exists,
                    special: e.special,
                    data: e.data(),
                    version: st.version,
                    aversion: st.aversion,
                    cversion: crec.cversion,
                    creates: crec.creates,
                    num_children: e.children.len() as i32,
                    czxid: st.czxid,
                    mzxid: st.mzxid,
                    pzxid: st.pzxid,
                    ctime: st.ctime,
                    mtime: st.mtime,
                    kind: meta.kind,
                    // A session's ephemeral, or a key another writer
                    // attached to a lease (a Pulsar ephemeral).
                    owner: match meta.kind {
                        NodeKind::Ephemeral | NodeKind::Persistent => e.ephemeral_owner(),
                        _ => 0,
                    },
                    ttl: meta.ttl,
                    acl: e.acl(p),
                    lease: e.data.as_ref().map(|d| d.lease).unwrap_or(0),
                    orig_exists: exists,
                    orig_create_rev: e.data_create_rev(),
                    orig_mod_rev: e.data_mod_rev(),
                    orig_etcd_version: e.data.as_ref().map(|d| d.version).unwrap_or(0),
                    orig_meta_rev: e.meta_rev(),
                    orig_crec_rev: e.crec_rev(),
                    orig_crec_version: e.crec_version(),
                    orig_deletes_version: e.deletes,
                    orig_crec_bumpable: e.crec_bumpable(),
                    data_put: false,
                    meta_put: false,
                    crec_reset: false,
                    child_changes: 0,
                    child_deletes: 0,
                    exposed: false,
                    recreated: false,
                }
            }
            None => PNode {
                exists: false,
                special: false,
                data: None,
                version: 0,
                aversion: 0,
                cversion: 0,
                creates: 0,
                num_children: 0,
                czxid: 0,
                mzxid: 0,
                pzxid: 0,
                ctime: 0,
                mtime: 0,
                kind: NodeKind::Persistent,
                owner: 0,
                ttl: 0,
                acl: tree::open_acl(),
                lease: 0,
                orig_exists: false,
                orig_create_rev: 0,
                orig_mod_rev: 0,
                orig_etcd_version: 0,
                orig_meta_rev: 0,
                orig_crec_rev: 0,
                orig_crec_version: 0,
                orig_deletes_version: 0,
                orig_crec_bumpable: false,
                data_put: false,
                meta_put: false,
                crec_reset: false,
                child_changes: 0,
                child_deletes: 0,
                exposed: false,
                recreated: false,
            },
        }
    }

    fn stat(&self) -> Stat {
        Stat {
            czxid: self.czxid,
            mzxid: self.mzxid,
            ctime: self.ctime,
            mtime: self.mtime,
            version: self.version,
            cversion: self.cversion,
            aversion: self.aversion,
            ephemeral_owner: self.owner,
            data_length: self.data.as_ref().map(|d| d.len()).unwrap_or(0) as i32,
            num_children: self.num_children,
            pzxid: self.pzxid,
        }
    }

    fn meta(&self) -> Meta {
        // The version a client sees is etcd's key version minus one plus a
        // stored offset; the offset absorbs what etcd cannot count (several
        // changes of one node in one transaction, a node re-created in
        // place, special nodes that had no key).
        let key_after = self.data_put || self.orig_create_rev != 0;
        let etcd_version_after = match (self.data_put, self.orig_create_rev != 0) {
            (true, true) => self.orig_etcd_version + 1,
            (true, false) => 1,
            (false, _) => self.orig_etcd_version,
        };
        let etcd_part = if key_after { etcd_version_after - 1 } else { 0 };
        let version_offset = self.version.wrapping_sub(etcd_part as i32);
        Meta {
            ctime: self.ctime,
            mtime: self.mtime,
            null_data: self.data.is_none(),
            acl: tree::acl_for_meta(&self.acl),
            aversion: self.aversion,
            kind: self.kind,
            owner: match self.kind {
                NodeKind::Ephemeral => self.owner,
                NodeKind::Container => CONTAINER_OWNER,
                _ => 0,
            },
            ttl: self.ttl,
            version_offset,
            czxid: if self.czxid == PENDING {
                // Created by this request: a re-created key keeps its old
                // create_revision, so point at this record's revision.
                if self.orig_create_rev != 0 {
                    -1
                } else {
                    0
                }
            } else if self.czxid != self.orig_create_rev {
                self.czxid
            } else {
                0
            },
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
/// Which etcd fact about a node a decision relied on.
enum Guard {
    /// The data key's create_revision (existence, incarnation).
    Created,
    /// The data key's mod_revision (data, version).
    Modified,
    /// The meta record's mod_revision (ACL, aversion, times).
    Meta,
    /// The child record's mod_revision (counters, emptiness).
    Children,
    /// The child-delete counter's etcd version (the creates count).
    Deletes,
    /// No data key below the node created since the replica's revision:
    /// other writers put keys below a node without moving its child record,
    /// so only the key range itself shows a child they just created.
    NoNewDescendants,
}

/// Plans `ops` against `tree`.
pub struct Planner<'a> {
    tree: &'a Tree,
    layout: &'a Layout,
    ctx: &'a WriteCtx,
    nodes: HashMap<String, PNode>,
    /// Order in which nodes were first changed: the etcd op order.
    order: Vec<String>,
    guards: Vec<(String, Guard)>,
    events: Vec<(i32, String)>,
    /// Prior states of the nodes the current request changed, so a failed
    /// request of a batch leaves no trace.
    undo: Vec<(String, Option<PNode>)>,
    /// The last request needs a transaction of its own (see `take_deferred`).
    deferred: bool,
}

impl<'a> Planner<'a> {
    pub fn new(tree: &'a Tree, layout: &'a Layout, ctx: &'a WriteCtx) -> Planner<'a> {
        Planner {
            tree,
            layout,
            ctx,
            nodes: HashMap::new(),
            order: Vec::new(),
            guards: Vec::new(),
            events: Vec::new(),
            undo: Vec::new(),
            deferred: false,
        }
    }

    /// Whether the request just planned (and rolled back) could not share
    /// the transaction with the requests before it, and must be committed
    /// on its own after them rather than answered with its error.
    pub fn take_deferred(&mut self) -> bool {
        std::mem::take(&mut self.deferred)
    }

    /// Plans one request of a batch on top of the requests planned before
    /// it. A failed request is rolled back; its guards stay, since they
    /// prove its error.
    pub fn plan_request(
        &mut self,
        ops: &[WriteOp],
        ctx: &'a WriteCtx,
    ) -> Result<Vec<OpResult>, (usize, ErrorCode)> {
        self.ctx = ctx;
        self.undo.clear();
        let order_len = self.order.len();
        let events_len = self.events.len();
        let mut results = Vec::with_capacity(ops.len());
        for (index, op) in ops.iter().enumerate() {
            match self.apply(op) {
                Ok(r) => results.push(r),
                Err(code) => {
                    for (p, prior) in self.undo.drain(..).rev() {
                        match prior {
                            Some(n) => self.nodes.insert(p, n),
                            None => self.nodes.remove(&p),
                        };
                    }
                    self.order.truncate(order_len);
                    self.events.truncate(events_len);
                    return Err((index, code));
                }
            }
        }
        Ok(results)
    }

    /// The guards and operations of every request planned so far.
    pub fn finish(mut self) -> (Vec<Compare>, Vec<TxnOp>) {
        self.settle();
        (self.compares(), self.etcd_ops())
    }

    /// Whether any request planned so far changes something.
    pub fn has_changes(&self) -> bool {
        !self.order.is_empty()
    }

    pub fn plan(mut self, ops: &[WriteOp]) -> Plan {
        let mut results = Vec::with_capacity(ops.len());
        for (index, op) in ops.iter().enumerate() {
            match self.apply(op) {
                Ok(r) => results.push(r),
                Err(code) => {
                    return Plan::Fail {
                        index,
                        code,
                        compares: self.compares(),
                    }
                }
            }
        }
        self.settle();
        let compares = self.compares();
        let ops = self.etcd_ops();
        Plan::Commit {
            compares,
            ops,
            results,
        }
    }

    fn node(&mut self, p: &str) -> &mut PNode {
        if !self.nodes.contains_key(p) {
            let n = PNode::from_tree(self.tree, p);
            self.nodes.insert(p.to_string(), n);
        }
        self.nodes.get_mut(p).expect("inserted")
    }

    fn guard(&mut self, p: &str, g: Guard) {
        let n = self.node(p);
        // Facts about nodes without keys (the special nodes) need no guard;
        // facts already changed by this request rest on earlier guards.
        if n.special && g == Guard::Created {
            return;
        }
        let key = (p.to_string(), g);
        if !self.guards.contains(&key) {
            self.guards.push(key);
        }
    }

    /// The node, for changing it: remembers its prior state for rollback.
    fn edit(&mut self, p: &str) -> &mut PNode {
        if !self.undo.iter().any(|(u, _)| u == p) {
            let prior = self.nodes.get(p).cloned();
            self.undo.push((p.to_string(), prior));
        }
        self.node(p)
    }

    fn touch(&mut self, p: &str) {
        if !self.order.iter().any(|o| o == p) {
            self.order.push(p.to_string());
        }
    }

    fn exists(&mut self, p: &str) -> bool {
        self.guard(p, Guard::Created);
        self.node(p).exists
    }

    fn apply(&mut self, op: &WriteOp) -> Result<OpResult, ErrorCode> {
        match op {
            WriteOp::Create {
                opcode,
                path,
                data,
                acl,
                flags,
                ttl,
            } => self.create(*opcode, path, data, acl, *flags, *ttl),
            WriteOp::Delete { path, version } => self.delete(path, *version),
            WriteOp::SetData {
                path,
                data,
                version,
            } => self.set_data(path, data, *version),
            WriteOp::Check { path, version } => {
                path::validate(path).map_err(|_| ErrorCode::BadArguments)?;
                if !self.exists(path) {
                    return Err(ErrorCode::NoNode);
                }
                self.check_perm(path, jute::perms::READ)?;
                self.check_version(path, *version)?;
                Ok(OpResult::Check)
            }
            WriteOp::DeleteContainer { path } => self.delete_container(path),
            WriteOp::SetAcl { path, acl, version } => self.set_acl(path, acl, *version),
        }
    }

    /// ZooKeeper's checkACL against the node's ACL as of this request.
    fn check_perm(&mut self, p: &str, perm: i32) -> Result<(), ErrorCode> {
        self.guard(p, Guard::Meta);
        let ctx = self.ctx;
        if acl::allowed(&self.node(p).acl, perm, &ctx.auth_ids) {
            Ok(())
        } else {
            Err(ErrorCode::NoAuth)
        }
    }

    fn check_version(&mut self, p: &str, version: i32) -> Result<(), ErrorCode> {
        if version == -1 {
            return Ok(());
        }
        self.guard(p, Guard::Modified);
        self.guard(p, Guard::Meta);
        if self.node(p).version != version {
            return Err(ErrorCode::BadVersion);
        }
        Ok(())
    }

    fn create(
        &mut self,
        opcode: OpCode,
        p: &str,
        data: &Option<Bytes>,
        acl: &[Acl],
        flags: i32,
        ttl: i64,
    ) -> Result<OpResult, ErrorCode> {
        let mode = CreateMode::from_flags(flags).ok_or(ErrorCode::BadArguments)?;
        // ZooKeeper's checks: a TTL mode needs extended types; the ttl
        // must suit the mode (TTL modes: 0 < ttl <= 2^40-1, others: none).
        // The opcode, not the flags, makes a container.
        if mode.is_ttl() && !self.ctx.ttl_enabled {
            return Err(ErrorCode::Unimplemented);
        }
        let ttl_ok = if mode.is_ttl() {
            ttl > 0 && ttl <= 0xFF_FFFF_FFFF
        } else {
            ttl < 0
        };
        if !ttl_ok {
            return Err(ErrorCode::BadArguments);
        }
        let kind = match opcode {
            OpCode::CreateContainer => NodeKind::Container,
            _ if mode.is_ttl() => NodeKind::Ttl,
            _ if mode.is_ephemeral() => NodeKind::Ephemeral,
            _ => NodeKind::Persistent,
        };
        if !p.starts_with('/') || p.contains('\0') {
            return Err(ErrorCode::BadArguments);
        }
        let fixed = acl::fixup(acl, &self.ctx.auth_ids).ok_or(ErrorCode::InvalidAcl)?;
        let parent = match p.rfind('/') {
            Some(0) => "/".to_string(),
            Some(i) => p[..i].to_string(),
            None => return Err(ErrorCode::BadArguments),
        };
        if !self.exists(&parent) {
            return Err(ErrorCode::NoNode);
        }
        self.check_perm(&parent, jute::perms::CREATE)?;
        let numbering = self.layout.numbering(&parent);
        let final_path = if !mode.is_sequential() {
            p.to_string()
        } else if numbering == Numbering::ChildCreates {
            self.guard(&parent, Guard::Children);
            format!("{p}{:010}", self.node(&parent).creates)
        } else {
            // The number is the parent key's version, consumed by a put of
            // the parent below; one transaction can put a key only once.
            self.guard(&parent, Guard::Modified);
            if self.node(&parent).data_put {
                // Put by an earlier request of this batch (it was already
                // put when this request first changed the parent, or this
                // request never changed it): this one waits for its own
                // transaction. Put by this request: refused.
                let earlier = match self.undo.iter().find(|(u, _)| *u == parent) {
                    Some((_, prior)) => prior.as_ref().is_some_and(|n| n.data_put),
                    None => true,
                };
                self.deferred = earlier;
                return Err(ErrorCode::Unimplemented);
            }
            format!("{p}{:010}", self.node(&parent).orig_etcd_version)
        };
        path::validate(&final_path).map_err(|_| ErrorCode::BadArguments)?;
        if self.exists(&final_path) {
            return Err(ErrorCode::NodeExists);
        }
        if self.node(&parent).lease != 0 {
            // The lease makes it ephemeral; only a put can change it.
            self.guard(&parent, Guard::Modified);
        }
        if self.node(&parent).owner != 0 {
            return Err(ErrorCode::NoChildrenForEphemerals);
        }
        // Apply: the new node, then the parent's counters (counted without
        // a guard unless something needs their exact value; see `settle`).
        let now = self.ctx.now_ms;
        let session = self.ctx.session_id;
        if self.node(&final_path).orig_exists {
            // Re-created in place (deleted earlier in this transaction): the
            // key stays, etcd continues its version, and the version offset
            // written now is reckoned from the version the replica saw. A
            // delete does not care about that version, so nothing else
            // guarantees it is still the key's; without this, a setData
            // committed elsewhere meanwhile made the new node's version 1.
            self.guard(&final_path, Guard::Modified);
        }
        self.touch(&final_path);
        let n = self.edit(&final_path);
        if n.orig_exists {
            n.recreated = true;
        }
        n.exists = true;
        n.data = data.clone();
        n.version = 0;
        n.aversion = 0;
        n.cversion = 0;
        n.creates = 0;
        n.num_children = 0;
        n.czxid = PENDING;
        n.mzxid = PENDING;
        n.pzxid = PENDING;
        n.ctime = now;
        n.mtime = now;
        n.kind = kind;
        n.owner = if kind == NodeKind::Ephemeral {
            session
        } else {
            0
        };
        n.ttl = if kind == NodeKind::Ttl { ttl } else { 0 };
        n.acl = fixed;
        n.data_put = true;
        n.meta_put = true;
        // A re-created node starts with fresh counters, written now so its
        // pzxid is this transaction; so does one whose counter keys outlived
        // an earlier incarnation that another writer deleted.
        n.crec_reset = n.orig_exists || n.orig_crec_rev != 0 || n.orig_deletes_version != 0;
        n.child_changes = 0;
        n.child_deletes = 0;
        let stat = n.stat();
        self.touch(&parent);
        let pn = self.edit(&parent);
        pn.cversion = pn.cversion.wrapping_add(1);
        pn.creates = pn.creates.wrapping_add(1);
        pn.num_children += 1;
        pn.pzxid = PENDING;
        pn.child_changes += 1;
        let consumes_number = mode.is_sequential() && numbering == Numbering::ParentKeyVersion;
        if consumes_number {
            // Consumes the number: the parent's key is put as it is, so
            // its version (and the version clients see) goes up by one.
            pn.data_put = true;
            pn.version = pn.version.wrapping_add(1);
            pn.mzxid = PENDING;
        }
        self.events
            .push((EventType::NodeCreated as i32, final_path.clone()));
        self.events
            .push((EventType::NodeChildrenChanged as i32, parent.clone()));
        if consumes_number {
            self.events
                .push((EventType::NodeDataChanged as i32, parent.clone()));
        }
        Ok(if opcode == OpCode::Create {
            OpResult::Create { path: final_path }
        } else {
            OpResult::Create2 {
                path: final_path,
                stat,
            }
        })
    }

    fn delete(&mut self, p: &str, version: i32) -> Result<OpResult, ErrorCode> {
        if !p.starts_with('/') || p.contains('\0') || path::is_special(p) {
            return Err(ErrorCode::BadArguments);
        }
        let parent = path::parent(p).ok_or(ErrorCode::BadArguments)?.to_string();
        if !self.exists(&parent) {
            return Err(ErrorCode::NoNode);
        }
        self.check_perm(&parent, jute::perms::DELETE)?;
        if !self.exists(p) {
            return Err(ErrorCode::NoNode);
        }
        self.check_version(p, version)?;
        self.guard(p, Guard::Children);
        if self.node(p).num_children > 0 {
            return Err(ErrorCode::NotEmpty);
        }
        self.guard(p, Guard::NoNewDescendants);
        self.remove(p, &parent);
        Ok(OpResult::Delete)
    }

    fn delete_container(&mut self, p: &str) -> Result<OpResult, ErrorCode> {
        if !p.starts_with('/') || p.contains('\0') || path::is_special(p) {
            return Err(ErrorCode::BadArguments);
        }
        let parent = path::parent(p).ok_or(ErrorCode::BadArguments)?.to_string();
        if !self.exists(p) {
            return Err(ErrorCode::NoNode);
        }
        self.guard(p, Guard::Children);
        if self.node(p).num_children > 0 {
            return Err(ErrorCode::NotEmpty);
        }
        self.guard(p, Guard::Meta);
        let n = self.node(p);
        if n.kind == NodeKind::Ephemeral && n.owner != 0 {
            return Err(ErrorCode::BadVersion);
        }
        self.guard(p, Guard::NoNewDescendants);
        self.remove(p, &parent);
        Ok(OpResult::Delete)
    }

    /// Removes a node the checks allowed to go, updating its parent.
    fn remove(&mut self, p: &str, parent: &str) {
        let parent = parent.to_string();
        // Its counter keys go with it, so their existence must be known.
        self.guard(p, Guard::Deletes);
        self.touch(p);
        let n = self.edit(p);
        n.exists = false;
        n.data_put = false;
        n.meta_put = false;
        n.crec_reset = false;
        self.touch(&parent);
        let pn = self.edit(&parent);
        pn.cversion = pn.cversion.wrapping_add(1);
        pn.num_children -= 1;
        pn.pzxid = PENDING;
        pn.child_changes += 1;
        pn.child_deletes += 1;
        self.events
            .push((EventType::NodeDeleted as i32, p.to_string()));
        self.events
            .push((EventType::NodeChildrenChanged as i32, parent));
    }

    fn set_data(
        &mut self,
        p: &str,
        data: &Option<Bytes>,
        version: i32,
    ) -> Result<OpResult, ErrorCode> {
        path::validate(p).map_err(|_| ErrorCode::BadArguments)?;
        if !self.exists(p) {
            return Err(ErrorCode::NoNode);
        }
        self.check_perm(p, jute::perms::WRITE)?;
        self.check_version(p, version)?;
        // The meta record is rewritten whole, so it must not have moved.
        self.guard(p, Guard::Meta);
        let now = self.ctx.now_ms;
        self.touch(p);
        let n = self.edit(p);
        n.data = data.clone();
        n.version = n.version.wrapping_add(1);
        n.mzxid = PENDING;
        n.mtime = now;
        n.data_put = true;
        n.meta_put = true;
        n.exposed = true;
        let stat = n.stat();
        self.events
            .push((EventType::NodeDataChanged as i32, p.to_string()));
        Ok(OpResult::SetData { stat })
    }

    fn set_acl(&mut self, p: &str, acl: &[Acl], version: i32) -> Result<OpResult, ErrorCode> {
        path::validate(p).map_err(|_| ErrorCode::BadArguments)?;
        let fixed = acl::fixup(acl, &self.ctx.auth_ids).ok_or(ErrorCode::InvalidAcl)?;
        if !self.exists(p) {
            return Err(ErrorCode::NoNode);
        }
        self.check_perm(p, jute::perms::ADMIN)?;
        self.guard(p, Guard::Modified);
        if version != -1 && self.node(p).aversion != version {
            return Err(ErrorCode::BadVersion);
        }
        self.touch(p);
        let n = self.edit(p);
        n.acl = fixed;
        n.aversion = n.aversion.wrapping_add(1);
        n.meta_put = true;
        n.exposed = true;
        if !n.special && n.orig_create_rev == 0 && !n.data_put {
            // An implicit node (keys below it, none of its own): a meta
            // record only counts for a node with a key, so the ACL would
            // be lost. It gets an empty key now (the guard above proved
            // there was none), and with it a czxid and mzxid, and it no
            // longer vanishes with its last descendant. No event: a setACL
            // fires none.
            n.data = Some(Bytes::new());
            n.data_put = true;
            n.czxid = PENDING;
            n.mzxid = PENDING;
        }
        Ok(OpResult::SetAcl { stat: n.stat() })
    }

    /// Whether a node's changed child counters must be written as exact
    /// values under guards rather than counted by a blind bump of its
    /// counter keys (which adds exactly one per transaction and assumes
    /// nothing about concurrent changes).
    fn counters_exact(&self, p: &str, n: &PNode) -> bool {
        n.crec_reset
            || n.child_changes > 1
            || !n.orig_crec_bumpable
            || n.exposed
            || self
                .guards
                .iter()
                .any(|(g, k)| g == p && *k == Guard::Children)
    }

    /// Adds the guards that exact counter writes rely on.
    fn settle(&mut self) {
        let exact: Vec<String> = self
            .order
            .iter()
            .filter(|p| {
                let n = &self.nodes[p.as_str()];
                n.exists && (n.child_changes > 0 || n.crec_reset) && self.counters_exact(p, n)
            })
            .cloned()
            .collect();
        for p in exact {
            self.guard(&p, Guard::Children);
            self.guard(&p, Guard::Deletes);
        }
    }

    fn compares(&self) -> Vec<Compare> {
        self.guards
            .iter()
            .map(|(p, g)| {
                let n = &self.nodes[p];
                match g {
                    Guard::Created => Compare::create_revision(
                        self.layout.data_key(p),
                        CompareOp::Equal,
                        n.orig_create_rev,
                    ),
                    Guard::Modified => Compare::mod_revision(
                        self.layout.data_key(p),
                        CompareOp::Equal,
                        n.orig_mod_rev,
                    ),
                    Guard::Meta => Compare::mod_revision(
                        self.layout.meta_key(p),
                        CompareOp::Equal,
                        n.orig_meta_rev,
                    ),
                    Guard::Children => Compare::mod_revision(
                        self.layout.children_key(p),
                        CompareOp::Equal,
                        n.orig_crec_rev,
                    ),
                    Guard::Deletes => Compare::version(
                        self.layout.deletes_key(p),
                        CompareOp::Equal,
                        n.orig_deletes_version,
                    ),
                    Guard::NoNewDescendants => {
                        let (from, to) = self.layout.descendants_range(p);
                        Compare::create_revision(from, CompareOp::Less, self.tree.revision() + 1)
                            .with_range(to)
                    }
                }
            })
            .collect()
    }

    /// The etcd operations, data keys in the order the request first
    /// changed them, so the events other instances derive come out in
    /// ZooKeeper's order. When derivation cannot reproduce the request's
    /// events (a node changed twice), the events are written explicitly.
    fn etcd_ops(&self) -> Vec<TxnOp> {
        let mut ops = Vec::new();
        let mut derived = Vec::new();
        for p in &self.order {
            let n = &self.nodes[p];
            if n.exists {
                if n.data_put {
                    let value = n.data.clone().unwrap_or_default().to_vec();
                    let opts = if n.lease != 0 && n.orig_exists && !n.recreated {
                        Some(PutOptions::new().with_ignore_lease())
                    } else {
                        None
                    };
                    ops.push(TxnOp::put(self.layout.data_key(p), value, opts));
                    if n.orig_exists && !n.recreated {
                        derived.push((EventType::NodeDataChanged as i32, p.clone()));
                    } else if !n.orig_exists {
                        derived.push((EventType::NodeCreated as i32, p.clone()));
                        if let Some(parent) = path::parent(p) {
                            derived
                                .push((EventType::NodeChildrenChanged as i32, parent.to_string()));
                        }
                    } else {
                        // Deleted and re-created by this request: etcd sees
                        // only a put, so the events must be explicit.
                        derived.push((EventType::None as i32, p.clone()));
                    }
                }
                if n.meta_put {
                    ops.push(TxnOp::put(
                        self.layout.meta_key(p),
                        layout::encode(&n.meta()),
                        None,
                    ));
                }
                if n.child_changes > 0 || n.crec_reset {
                    self.counter_ops(p, n, &mut ops);
                }
            } else if n.orig_exists {
                ops.push(TxnOp::delete(self.layout.data_key(p), None));
                if n.orig_meta_rev != 0 {
                    ops.push(TxnOp::delete(self.layout.meta_key(p), None));
                }
                if n.orig_crec_rev != 0 {
                    ops.push(TxnOp::delete(self.layout.children_key(p), None));
                }
                if n.orig_deletes_version != 0 {
                    ops.push(TxnOp::delete(self.layout.deletes_key(p), None));
                }
                derived.push((EventType::NodeDeleted as i32, p.clone()));
                if let Some(parent) = path::parent(p) {
                    derived.push((EventType::NodeChildrenChanged as i32, parent.to_string()));
                }
            }
        }
        if derived != self.events {
            ops.push(TxnOp::put(
                self.layout.events_key(),
                layout::encode(&EventList(self.events.clone())),
                None,
            ));
        }
        ops
    }
}

impl Planner<'_> {
    /// The puts that record a node's child changes (see `ChildRecord`).
    fn counter_ops(&self, p: &str, n: &PNode, ops: &mut Vec<TxnOp>) {
        let deletes_put = n.child_deletes > 0;
        if self.counters_exact(p, n) {
            // Guarded by `settle`: the versions after this transaction are
            // known, so the offsets can be.
            let counters = ChildRec {
                cversion: n.cversion,
                creates: n.creates,
            };
            // Other writers' changes up to the revision planned at are in
            // `counters`; later ones stay pending on top of this record.
            let rec = ChildRecord::exact(
                counters,
                n.orig_crec_version + 1,
                n.orig_deletes_version + deletes_put as i64,
                self.tree.revision(),
            );
            ops.push(TxnOp::put(
                self.layout.children_key(p),
                layout::encode(&rec),
                None,
            ));
        } else {
            // One child change: a put that keeps the value adds one to the
            // key's version, i.e. to cversion (and to creates, unless the
            // deletes key moves too).
            ops.push(TxnOp::put(
                self.layout.children_key(p),
                Vec::new(),
                Some(PutOptions::new().with_ignore_value()),
            ));
        }
        if deletes_put {
            ops.push(TxnOp::put(self.layout.deletes_key(p), Vec::new(), None));
        }
    }
}

/// Paths touched, for tests and logs.
pub fn touched_paths(ops: &[WriteOp]) -> BTreeSet<String> {
    ops.iter()
        .map(|o| match o {
            WriteOp::Create { path, .. }
            | WriteOp::Delete { path, .. }
            | WriteOp::SetData { path, .. }
            | WriteOp::Check { path, .. }
            | WriteOp::DeleteContainer { path }
            | WriteOp::SetAcl { path, .. } => path.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::{Change, DataKv};

    fn ctx() -> WriteCtx {
        WriteCtx {
            attached_rev: None,
            session_id: 77,
            auth_ids: vec![],
            now_ms: 1000,
            ttl_enabled: false,
        }
    }

    fn create(path: &str, flags: i32) -> WriteOp {
        WriteOp::Create {
            opcode: OpCode::Create2,
            path: path.into(),
            data: Some(Bytes::from_static(b"d")),
            acl: tree::open_acl(),
            flags,
            ttl: -1,
        }
    }

    fn tree_with(paths: &[(&str, i64)]) -> Tree {
        let mut t = Tree::new();
        for (p, rev) in paths {
            t.load(
                vec![Change::Data(
                    p.to_string(),
                    Some(DataKv {
                        value: Bytes::new(),
                        create_rev: *rev,
                        mod_rev: *rev,
                        version: 1,
                        lease: 0,
                    }),
                )],
                *rev,
            );
        }
        t
    }

    fn fail(plan: Plan) -> (usize, ErrorCode) {
        match plan {
            Plan::Fail { index, code, .. } => (index, code),
            Plan::Commit { .. } => panic!("expected a failure"),
        }
    }

    #[test]
    fn a_node_recreated_in_place_guards_the_version_its_offset_assumes() {
        // Deleted (any version) and created again in one transaction, as
        // one multi or as two requests of a group-commit batch.
        let t = tree_with(&[("/x", 5)]);
        let l = Layout::new("");
        let c = ctx();
        let delete = WriteOp::Delete {
            path: "/x".into(),
            version: -1,
        };
        for batch in [
            vec![vec![delete.clone(), create("/x", 0)]],
            vec![vec![delete.clone()], vec![create("/x", 0)]],
        ] {
            let mut planner = Planner::new(&t, &l, &c);
            for ops in &batch {
                assert!(planner.plan_request(ops, &c).is_ok());
            }
            assert!(
                planner
                    .guards
                    .contains(&("/x".to_string(), Guard::Modified)),
                "the data key's mod_revision is not compared"
            );
        }
        // A plain delete does not depend on it.
        let mut planner = Planner::new(&t, &l, &c);
        assert!(planner.plan_request(&[delete], &c).is_ok());
        assert!(!planner
            .guards
            .contains(&("/x".to_string(), Guard::Modified)));
    }

    #[test]
    fn create_errors_in_zookeeper_order() {
        let t = tree_with(&[("/a", 2)]);
        let l = Layout::new("");
        let c = ctx();
        let plan = |ops: &[WriteOp]| Planner::new(&t, &l, &c).plan(ops);
        assert_eq!(fail(plan(&[create("/a", 0)])), (0, ErrorCode::NodeExists));
        assert_eq!(fail(plan(&[create("/x/y", 0)])), (0, ErrorCode::NoNode));
        assert_eq!(fail(plan(&[create("/", 0)])), (0, ErrorCode::NodeExists));
        assert_eq!(fail(plan(&[create("a", 0)])), (0, ErrorCode::BadArguments));
        assert_eq!(
            fail(plan(&[create("/a/", 0)])),
            (0, ErrorCode::BadArguments)
        );
        assert_eq!(fail(plan(&[create("/b", 9)])), (0, ErrorCode::BadArguments));
        assert_eq!(
            fail(plan(&[create("/b", 5)])),
            (0, ErrorCode::Unimplemented)
        );
        // The ACL is checked before the parent's existence, as in ZooKeeper.
        let bad_acl = WriteOp::Create {
            opcode: OpCode::Create,
            path: "/x/y".into(),
            data: None,
            acl: vec![],
            flags: 0,
            ttl: -1,
        };
        assert_eq!(fail(plan(&[bad_acl])), (0, ErrorCode::InvalidAcl));
        // Ephemeral parent check comes after the exists check.
        assert_eq!(
            fail(plan(&[create("/e", 1), create("/e/c", 0)])),
            (1, ErrorCode::NoChildrenForEphemerals)
        );
    }

    /// A key as another writer leaves it: no meta record, maybe a lease.
    fn foreign(t: &mut Tree, p: &str, rev: i64, version: i64, lease: i64) {
        t.apply(
            vec![Change::Data(
                p.to_string(),
                Some(DataKv {
                    value: Bytes::new(),
                    create_rev: rev,
                    mod_rev: rev,
                    version,
                    lease,
                }),
            )],
            rev,
        );
    }

    fn created_path(r: &OpResult) -> &str {
        match r {
            OpResult::Create2 { path, .. } | OpResult::Create { path } => path,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_key_numbered_parent_numbers_by_its_version_and_consumes_it() {
        let mut t = tree_with(&[("/ledgers", 2)]);
        foreign(&mut t, "/ledgers/idgen", 3, 42, 0);
        let l = Layout::new("").with_key_numbering(|p| p == "/ledgers/idgen");
        let c = ctx();
        let Plan::Commit {
            compares,
            ops,
            results,
        } = Planner::new(&t, &l, &c).plan(&[create("/ledgers/idgen/ID-", 3)])
        else {
            panic!("expected a commit")
        };
        // Pulsar names its next one after version 43, the one this put
        // leaves; the parent key must still be at 42 when this commits.
        assert_eq!(created_path(&results[0]), "/ledgers/idgen/ID-0000000042");
        let same = |a: &Compare, b: &Compare| format!("{a:?}") == format!("{b:?}");
        let guard = Compare::mod_revision(b"/ledgers/idgen".to_vec(), CompareOp::Equal, 3);
        assert!(compares.iter().any(|c| same(c, &guard)), "{compares:?}");
        assert!(mentions_key(&ops, b"/ledgers/idgen"), "{ops:?}");
        // Elsewhere, ZooKeeper's numbering.
        match Planner::new(&t, &l, &c).plan(&[create("/ledgers/x-", 2)]) {
            Plan::Commit { results, .. } => {
                assert_eq!(created_path(&results[0]), "/ledgers/x-0000000001")
            }
            Plan::Fail { code, .. } => panic!("{code:?}"),
        }
        // A key is put once per transaction: a second number in the same
        // request is refused; in a later request of a batch, deferred.
        let two = [
            create("/ledgers/idgen/ID-", 3),
            create("/ledgers/idgen/ID-", 3),
        ];
        assert_eq!(
            fail(Planner::new(&t, &l, &c).plan(&two)),
            (1, ErrorCode::Unimplemented)
        );
        let mut planner = Planner::new(&t, &l, &c);
        assert!(planner.plan_request(&two[..1], &c).is_ok());
        assert!(!planner.take_deferred());
        assert!(planner.plan_request(&two[..1], &c).is_err());
        assert!(planner.take_deferred());
        // ... also when the later request changed the parent before.
        let sibling_then_number = [
            create("/ledgers/idgen/x", 0),
            create("/ledgers/idgen/ID-", 3),
        ];
        assert!(planner.plan_request(&sibling_then_number, &c).is_err());
        assert!(planner.take_deferred());
        assert!(planner.plan_request(&[create("/ledgers/y", 0)], &c).is_ok());
        assert!(!planner.take_deferred());
    }

    #[test]
    fn a_leased_key_is_an_ephemeral() {
        let mut t = tree_with(&[("/b", 2)]);
        let lease = 0x694d_7f3a_1c2b_0001;
        foreign(&mut t, "/b/bookie", 3, 1, lease);
        let l = Layout::new("");
        let c = ctx();
        assert_eq!(
            fail(Planner::new(&t, &l, &c).plan(&[create("/b/bookie/x", 0)])),
            (0, ErrorCode::NoChildrenForEphemerals)
        );
        let set = WriteOp::SetData {
            path: "/b/bookie".into(),
            data: None,
            version: -1,
        };
        match Planner::new(&t, &l, &c).plan(&[set]) {
            Plan::Commit { results, .. } => match &results[0] {
                OpResult::SetData { stat } => assert_eq!(stat.ephemeral_owner, lease),
                other => panic!("{other:?}"),
            },
            Plan::Fail { code, .. } => panic!("{code:?}"),
        }
    }

    #[test]
    fn an_acl_set_on_an_implicit_node_gets_it_a_key() {
        let mut t = Tree::new();
        foreign(&mut t, "/a/b/c", 3, 1, 0);
        assert!(t.get("/a/b").is_some_and(|e| e.is_implicit()));
        let l = Layout::new("");
        let c = ctx();
        let set = WriteOp::SetAcl {
            path: "/a/b".into(),
            acl: vec![Acl {
                perms: jute::perms::READ,
                id: Id {
                    scheme: "world".into(),
                    id: "anyone".into(),
                },
            }],
            version: -1,
        };
        let Plan::Commit {
            compares,
            ops,
            results,
        } = Planner::new(&t, &l, &c).plan(&[set])
        else {
            panic!("expected a commit")
        };
        // Still no key when it commits; then the key and the meta record.
        let none = Compare::mod_revision(b"/a/b".to_vec(), CompareOp::Equal, 0);
        assert!(compares
            .iter()
            .any(|c| format!("{c:?}") == format!("{none:?}")));
        assert!(mentions_key(&ops, b"/a/b"), "{ops:?}");
        assert!(mentions_key(&ops, &l.meta_key("/a/b")), "{ops:?}");
        match &results[0] {
            OpResult::SetAcl { stat } => {
                assert_eq!((stat.aversion, stat.version), (1, 0));
                assert_eq!((stat.czxid, stat.mzxid), (PENDING, PENDING));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_delete_guards_against_keys_created_below_since() {
        let t = tree_with(&[("/a", 2), ("/b", 3)]);
        let l = Layout::new("");
        let c = ctx();
        let delete = WriteOp::Delete {
            path: "/a".into(),
            version: -1,
        };
        let Plan::Commit { compares, .. } = Planner::new(&t, &l, &c).plan(&[delete]) else {
            panic!("expected a commit")
        };
        let below = Compare::create_revision(b"/a/".to_vec(), CompareOp::Less, t.revision() + 1)
            .with_range(b"/a0".to_vec());
        assert!(
            compares
                .iter()
                .any(|c| format!("{c:?}") == format!("{below:?}")),
            "{compares:?}"
        );
    }

    #[test]
    fn sequential_names_count_every_create_in_the_request() {
        let t = tree_with(&[]);
        let l = Layout::new("");
        let c = ctx();
        let ops = [
            create("/a", 0),
            create("/a/", 2),
            create("/a/s-", 2),
            create("/q", 2),
        ];
        match Planner::new(&t, &l, &c).plan(&ops) {
            Plan::Commit { results, .. } => {
                let paths: Vec<String> = results
                    .iter()
                    .map(|r| match r {
                        OpResult::Create2 { path, .. } => path.clone(),
                        other => panic!("{other:?}"),
                    })
                    .collect();
                assert_eq!(
                    paths,
                    vec!["/a", "/a/0000000000", "/a/s-0000000001", "/q0000000001"]
                );
            }
            Plan::Fail { code, .. } => panic!("{code:?}"),
        }
    }

    /// `/a` (created at 2) with a current-format child record.
    fn tree_with_counted_parent() -> Tree {
        let mut t = tree_with(&[("/a", 2)]);
        t.apply(
            vec![Change::Children(
                "/a".into(),
                Some(tree::CrecKv {
                    rec: ChildRecord::exact(
                        ChildRec {
                            cversion: 3,
                            creates: 2,
                        },
                        4,
                        1,
                        0,
                    ),
                    mod_rev: 9,
                    version: 4,
                }),
            )],
            9,
        );
        t.apply(vec![Change::Deletes("/a".into(), 1)], 1003);
        t
    }

    fn mentions_key(items: &[impl std::fmt::Debug], key: &[u8]) -> bool {
        let key = format!("{key:?}");
        items.iter().any(|i| format!("{i:?}").contains(&key))
    }

    #[test]
    fn one_child_change_counts_without_a_guard() {
        let t = tree_with_counted_parent();
        let l = Layout::new("");
        let c = ctx();
        for ops in [
            vec![create("/a/x", 0)],
            vec![WriteOp::Delete {
                path: "/a/x".into(),
                version: -1,
            }],
        ] {
            let t = if matches!(ops[0], WriteOp::Delete { .. }) {
                let mut t = tree_with_counted_parent();
                t.apply(
                    vec![Change::Data(
                        "/a/x".into(),
                        Some(DataKv {
                            value: Bytes::new(),
                            create_rev: 10,
                            mod_rev: 10,
                            version: 1,
                            lease: 0,
                        }),
                    )],
                    10,
                );
                t
            } else {
                tree_with_counted_parent()
            };
            match Planner::new(&t, &l, &c).plan(&ops) {
                Plan::Commit { compares, ops, .. } => {
                    assert!(
                        !mentions_key(&compares, &l.children_key("/a")),
                        "{compares:?}"
                    );
                    assert!(
                        !mentions_key(&compares, &l.deletes_key("/a")),
                        "{compares:?}"
                    );
                    let bump = ops
                        .iter()
                        .find(|o| mentions_key(std::slice::from_ref(o), &l.children_key("/a")))
                        .expect("a put of the child record");
                    assert!(
                        format!("{bump:?}").contains("ignore_value: true"),
                        "{bump:?}"
                    );
                }
                Plan::Fail { code, .. } => panic!("{code:?}"),
            }
        }
        let _ = t;
    }

    #[test]
    fn exact_counters_are_guarded() {
        let t = tree_with_counted_parent();
        let l = Layout::new("");
        let c = ctx();
        let set_parent = WriteOp::SetData {
            path: "/a".into(),
            data: None,
            version: -1,
        };
        for ops in [
            // two changes of one parent in one transaction
            vec![create("/a/x", 0), create("/a/y", 0)],
            // a sequential name depends on the count
            vec![create("/a/s-", 2)],
            // a reply shows the parent's cversion
            vec![create("/a/x", 0), set_parent.clone()],
        ] {
            match Planner::new(&t, &l, &c).plan(&ops) {
                Plan::Commit {
                    compares, results, ..
                } => {
                    assert!(mentions_key(&compares, &l.children_key("/a")), "{ops:?}");
                    assert!(mentions_key(&compares, &l.deletes_key("/a")), "{ops:?}");
                    if let Some(OpResult::SetData { stat }) = results.last() {
                        assert_eq!(stat.cversion, 4);
                    }
                    if let Some(OpResult::Create2 { path, .. }) = results.first() {
                        if path.starts_with("/a/s-") {
                            assert_eq!(path, "/a/s-0000000002");
                        }
                    }
                }
                Plan::Fail { code, .. } => panic!("{code:?}"),
            }
        }
    }

    #[test]
    fn multi_sees_its_own_changes() {
        let t = tree_with(&[("/a", 2)]);
        let l = Layout::new("");
        let c = ctx();
        let set = |v| WriteOp::SetData {
            path: "/a".into(),
            data: None,
            version: v,
        };
        let ok = Planner::new(&t, &l, &c).plan(&[set(0), set(1)]);
        match ok {
            Plan::Commit { results, .. } => match &results[1] {
                OpResult::SetData { stat } => assert_eq!(stat.version, 2),
                other => panic!("{other:?}"),
            },
            Plan::Fail { code, .. } => panic!("{code:?}"),
        }
        let del = WriteOp::Delete {
            path: "/a".into(),
            version: -1,
        };
        assert_eq!(
            fail(Planner::new(&t, &l, &c).plan(&[create("/a/b", 0), del.clone()])),
            (1, ErrorCode::NotEmpty)
        );
        assert_eq!(
            fail(Planner::new(&t, &l, &c).plan(&[set(5)])),
            (0, ErrorCode::BadVersion)
        );
        let special = WriteOp::Delete {
            path: "/zookeeper".into(),
            version: -1,
        };
        assert_eq!(
            fail(Planner::new(&t, &l, &c).plan(&[special])),
            (0, ErrorCode::BadArguments)
        );
    }
}

#[cfg(test)]
mod batch_tests {
    use super::*;

    #[test]
    fn failed_request_of_a_batch_leaves_no_trace() {
        let t = Tree::new();
        let l = Layout::new("");
        let c = WriteCtx {
            attached_rev: None,
            session_id: 1,
            auth_ids: vec![],
            now_ms: 5,
            ttl_enabled: false,
        };
        let mk = |p: &str, flags| WriteOp::Create {
            opcode: OpCode::Create,
            path: p.into(),
            data: None,
            acl: tree::open_acl(),
            flags,
            ttl: -1,
        };
        let mut planner = Planner::new(&t, &l, &c);
        assert!(planner.plan_request(&[mk("/a", 0)], &c).is_ok());
        // Creates /b then fails: /b must not exist for the next request.
        assert_eq!(
            planner.plan_request(&[mk("/b", 0), mk("/a", 0)], &c),
            Err((1, ErrorCode::NodeExists))
        );
        let r = planner
            .plan_request(&[mk("/b", 0), mk("/s", 2)], &c)
            .unwrap();
        assert_eq!(
            r,
            vec![
                OpResult::Create { path: "/b".into() },
                OpResult::Create {
                    path: "/s0000000002".into()
                }
            ]
        );
    }
}
