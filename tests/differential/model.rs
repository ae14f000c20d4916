//! The operations the differential harness sends, as plain data: generated
//! by proptest (`gen.rs`), written by hand (`edge.rs`), turned into wire
//! requests here and printed in reproducers.
//!
//! Paths are relative to a per-case base node (`/c<N>`), so every case runs
//! on a fresh subtree of both servers; `P::Abs` escapes that for the
//! special nodes.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};
use jute::{
    Acl, AddWatchRequest, AuthPacket, CheckVersionRequest, CheckWatchesRequest, CreateRequest,
    CreateTtlRequest, DeleteContainerRequest, DeleteRequest, ExistsRequest, GetAclRequest,
    GetAllChildrenNumberRequest, GetChildren2Request, GetChildrenRequest, GetDataRequest,
    GetEphemeralsRequest, Id, MultiOp, MultiRequest, ReconfigRequest, RemoveWatchesRequest,
    Request, SetAclRequest, SetDataRequest, SetWatches, SetWatches2, SyncRequest,
};

/// Node paths that exist or collide often (relative to the case base).
pub const VALID: &[&str] = &[
    "",
    "/a",
    "/b",
    "/a/b",
    "/a/c",
    "/b/a",
    "/a/b/c",
    "/a/b/c/d",
    "/e",
    "/e/x",
    "/a/0000000000",
    "/a/0000000001",
    "/a/0000000002",
    "/a/s0000000000",
    "/a/s0000000001",
    "/b/0000000000",
    "/b/0000000001",
    "/0000000000",
];

/// Prefixes for sequential creates (the server appends the counter).
pub const SEQ: &[&str] = &["/a/", "/a/s", "/b/", "/e/", "/", "/a/b/"];

/// Invalid paths (BADARGUMENTS for writes; reads just look them up).
pub const INVALID: &[&str] = &[
    "/a/",
    "/a//b",
    "/a/./b",
    "/a/..",
    "/a/\u{1}x",
    "/b/",
    "/a/\u{fff0}",
    "//a",
];

/// A path.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum P {
    /// `VALID[i]` under the case base.
    V(usize),
    /// `SEQ[i]` under the case base.
    S(usize),
    /// `INVALID[i]` under the case base.
    I(usize),
    /// An absolute path, not under the base.
    Abs(String),
    /// A path under the base given literally (edge cases).
    Rel(String),
}

impl P {
    pub fn full(&self, base: &str) -> String {
        match self {
            P::V(i) => format!("{base}{}", VALID[*i % VALID.len()]),
            P::S(i) => format!("{base}{}", SEQ[*i % SEQ.len()]),
            P::I(i) => format!("{base}{}", INVALID[*i % INVALID.len()]),
            P::Abs(s) => s.clone(),
            P::Rel(s) => format!("{base}{s}"),
        }
    }

    fn text(&self) -> String {
        match self {
            P::V(i) => VALID[*i % VALID.len()].to_string(),
            P::S(i) => SEQ[*i % SEQ.len()].to_string(),
            P::I(i) => INVALID[*i % INVALID.len()].to_string(),
            P::Rel(s) => s.clone(),
            P::Abs(s) => format!("abs:{s:?}"),
        }
    }
}

impl fmt::Debug for P {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.text();
        if t.is_empty() {
            f.write_str("~")
        } else if t.chars().all(|c| !c.is_control() && (c as u32) < 0xfff0) || t.starts_with("abs:")
        {
            write!(f, "~{t}")
        } else {
            write!(f, "~{t:?}")
        }
    }
}

/// Node data.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Data {
    Null,
    Empty,
    /// `len` bytes of a pattern seeded by `seed`.
    Bytes {
        len: u32,
        seed: u8,
    },
    /// These bytes.
    Lit(Vec<u8>),
}

impl Data {
    pub fn bytes(&self) -> Option<Bytes> {
        match self {
            Data::Null => None,
            Data::Empty => Some(Bytes::new()),
            Data::Bytes { len, seed } => {
                let mut v = Vec::with_capacity(*len as usize);
                for i in 0..*len as usize {
                    v.push((*seed as usize).wrapping_add(i.wrapping_mul(7)) as u8);
                }
                Some(Bytes::from(v))
            }
            Data::Lit(v) => Some(Bytes::from(v.clone())),
        }
    }
}

impl fmt::Debug for Data {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Data::Null => f.write_str("null"),
            Data::Empty => f.write_str("\"\""),
            Data::Bytes { len, seed } => write!(f, "[{len}B#{seed}]"),
            Data::Lit(v) => write!(f, "{:?}", String::from_utf8_lossy(v)),
        }
    }
}

/// Digest users: (user:password, digest id).
pub const USERS: &[(&str, &str)] = &[
    ("bob:secret", "bob:fyVmFCwVbTJYrznoSu1koqYEYF0="),
    ("user:password", "user:tpUq/4Pn5A64fVZyQ0gOJ8ZWqkY="),
];

/// An ACL list.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum AclSpec {
    Open,
    ReadOnly,
    /// `auth:""` with ALL: the creator's authenticated ids.
    CreatorAll,
    World(i32),
    Digest(usize, i32),
    Ip(i32),
    /// world:anyone with the given perms plus ALL for digest user 0.
    Mixed(i32),
    /// `world:nobody`: INVALIDACL.
    Invalid,
    /// Empty list: INVALIDACL.
    Empty,
}

impl AclSpec {
    pub fn acls(&self) -> Vec<Acl> {
        let acl = |perms: i32, scheme: &str, id: &str| Acl {
            perms,
            id: Id {
                scheme: scheme.into(),
                id: id.into(),
            },
        };
        match self {
            AclSpec::Open => vec![acl(31, "world", "anyone")],
            AclSpec::ReadOnly => vec![acl(1, "world", "anyone")],
            AclSpec::CreatorAll => vec![acl(31, "auth", "")],
            AclSpec::World(p) => vec![acl(*p, "world", "anyone")],
            AclSpec::Digest(u, p) => vec![acl(*p, "digest", USERS[*u % USERS.len()].1)],
            AclSpec::Ip(p) => vec![acl(*p, "ip", "127.0.0.1")],
            AclSpec::Mixed(p) => vec![acl(*p, "world", "anyone"), acl(31, "digest", USERS[0].1)],
            AclSpec::Invalid => vec![acl(31, "world", "nobody")],
            AclSpec::Empty => vec![],
        }
    }
}

impl fmt::Debug for AclSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AclSpec::Open => f.write_str("open"),
            AclSpec::ReadOnly => f.write_str("read"),
            AclSpec::CreatorAll => f.write_str("creator"),
            AclSpec::World(p) => write!(f, "world:{p}"),
            AclSpec::Digest(u, p) => write!(f, "digest{u}:{p}"),
            AclSpec::Ip(p) => write!(f, "ip:{p}"),
            AclSpec::Mixed(p) => write!(f, "world:{p}+digest0"),
            AclSpec::Invalid => f.write_str("world:nobody"),
            AclSpec::Empty => f.write_str("[]"),
        }
    }
}

/// The opcode used for a create.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum CreateOp {
    Create,
    Create2,
    Container,
    Ttl,
}

/// relativeZxid of a setWatches, resolved per server against the zxids
/// this session has seen there.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum RelZ {
    Zero,
    /// The k-th most recent reply zxid this session saw (0 = latest).
    Back(usize),
}

/// One op of a multi (14).
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum MOp {
    Create {
        op: CreateOp,
        path: P,
        data: Data,
        acl: AclSpec,
        flags: i32,
    },
    Delete {
        path: P,
        version: i32,
    },
    SetData {
        path: P,
        data: Data,
        version: i32,
    },
    Check {
        path: P,
        version: i32,
    },
    /// A read op inside a write multi (MARSHALLINGERROR).
    GetData {
        path: P,
    },
}

/// One op of a multiRead (22).
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum ROp {
    GetData {
        path: P,
    },
    GetChildren {
        path: P,
    },
    /// A write inside multiRead (MARSHALLINGERROR).
    Check {
        path: P,
        version: i32,
    },
}

/// A request.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Op {
    Create {
        op: CreateOp,
        path: P,
        data: Data,
        acl: AclSpec,
        flags: i32,
    },
    Delete {
        path: P,
        version: i32,
    },
    DeleteContainer {
        path: P,
    },
    Exists {
        path: P,
        watch: bool,
    },
    GetData {
        path: P,
        watch: bool,
    },
    GetChildren {
        path: P,
        watch: bool,
    },
    GetChildren2 {
        path: P,
        watch: bool,
    },
    SetData {
        path: P,
        data: Data,
        version: i32,
    },
    GetAcl {
        path: P,
    },
    SetAcl {
        path: P,
        acl: AclSpec,
        version: i32,
    },
    Sync {
        path: P,
    },
    Multi(Vec<MOp>),
    MultiRead(Vec<ROp>),
    GetAllChildrenNumber {
        path: P,
    },
    GetEphemerals {
        prefix: P,
    },
    AddWatch {
        path: P,
        mode: i32,
    },
    RemoveWatches {
        path: P,
        wtype: i32,
    },
    CheckWatches {
        path: P,
        wtype: i32,
    },
    SetWatches {
        rel: RelZ,
        data: Vec<P>,
        exist: Vec<P>,
        child: Vec<P>,
    },
    SetWatches2 {
        rel: RelZ,
        data: Vec<P>,
        exist: Vec<P>,
        child: Vec<P>,
        persistent: Vec<P>,
        recursive: Vec<P>,
    },
    /// digest auth as `USERS[user]`, or another scheme.
    Auth {
        scheme: String,
        user: usize,
    },
    WhoAmI,
    Reconfig,
    /// Top-level check (13): UNIMPLEMENTED then close in 3.5+.
    CheckTop {
        path: P,
        version: i32,
    },
    /// setData whose whole frame (after the length prefix) is `frame_len`
    /// bytes long.
    SetDataFrame {
        path: P,
        frame_len: usize,
    },
    /// A request with this opcode and raw body bytes, decoded as `opcode`.
    Raw {
        opcode: i32,
        body: Vec<u8>,
    },
    /// Raw bytes on the socket; if `reply_opcode` is set, a reply with the
    /// next xid is expected (the executor writes that xid into bytes 4..8,
    /// the RequestHeader's xid field).
    Bytes {
        bytes: Vec<u8>,
        reply_opcode: Option<i32>,
    },
}

/// Which flags are ephemeral.
pub fn is_ephemeral_flags(flags: i32) -> bool {
    flags == 1 || flags == 3
}

impl Op {
    /// True for ops that change the tree when they succeed (their reply
    /// zxid must then be a fresh zxid on both servers).
    pub fn changes_state(&self) -> bool {
        match self {
            Op::Create { .. }
            | Op::Delete { .. }
            | Op::DeleteContainer { .. }
            | Op::SetData { .. }
            | Op::SetAcl { .. }
            | Op::SetDataFrame { .. } => true,
            Op::Multi(ops) => ops.iter().any(|o| !matches!(o, MOp::Check { .. })),
            _ => false,
        }
    }

    /// Short name for divergence signatures.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Create { op, .. } => match op {
                CreateOp::Create => "create",
                CreateOp::Create2 => "create2",
                CreateOp::Container => "createContainer",
                CreateOp::Ttl => "createTTL",
            },
            Op::Delete { .. } => "delete",
            Op::DeleteContainer { .. } => "deleteContainer",
            Op::Exists { .. } => "exists",
            Op::GetData { .. } => "getData",
            Op::GetChildren { .. } => "getChildren",
            Op::GetChildren2 { .. } => "getChildren2",
            Op::SetData { .. } => "setData",
            Op::GetAcl { .. } => "getACL",
            Op::SetAcl { .. } => "setACL",
            Op::Sync { .. } => "sync",
            Op::Multi(_) => "multi",
            Op::MultiRead(_) => "multiRead",
            Op::GetAllChildrenNumber { .. } => "getAllChildrenNumber",
            Op::GetEphemerals { .. } => "getEphemerals",
            Op::AddWatch { .. } => "addWatch",
            Op::RemoveWatches { .. } => "removeWatches",
            Op::CheckWatches { .. } => "checkWatches",
            Op::SetWatches { .. } => "setWatches",
            Op::SetWatches2 { .. } => "setWatches2",
            Op::Auth { .. } => "auth",
            Op::WhoAmI => "whoAmI",
            Op::Reconfig => "reconfig",
            Op::CheckTop { .. } => "check",
            Op::SetDataFrame { .. } => "setData(frame)",
            Op::Raw { .. } => "raw",
            Op::Bytes { .. } => "bytes",
        }
    }
}

fn create_req(base: &str, path: &P, data: &Data, acl: &AclSpec, flags: i32) -> CreateRequest {
    CreateRequest {
        path: path.full(base),
        data: data.bytes(),
        acl: acl.acls(),
        flags,
    }
}

fn paths(base: &str, v: &[P]) -> Vec<String> {
    v.iter().map(|p| p.full(base)).collect()
}

/// What goes on the wire for one op.
pub enum Wire {
    Req(Request),
    Raw {
        opcode: i32,
        body: Vec<u8>,
    },
    Bytes {
        bytes: Vec<u8>,
        reply_opcode: Option<i32>,
    },
}

/// Builds the wire form; `relz` resolves a [`RelZ`] for this server.
pub fn to_wire(op: &Op, base: &str, relz: &dyn Fn(RelZ) -> i64) -> Wire {
    Wire::Req(match op {
        Op::Create {
            op,
            path,
            data,
            acl,
            flags,
        } => {
            let r = create_req(base, path, data, acl, *flags);
            match op {
                CreateOp::Create => Request::Create(r),
                CreateOp::Create2 => Request::Create2(r),
                CreateOp::Container => Request::CreateContainer(r),
                CreateOp::Ttl => Request::CreateTtl(CreateTtlRequest {
                    path: r.path,
                    data: r.data,
                    acl: r.acl,
                    flags: r.flags,
                    ttl: 60_000,
                }),
            }
        }
        Op::Delete { path, version } => Request::Delete(DeleteRequest {
            path: path.full(base),
            version: *version,
        }),
        Op::DeleteContainer { path } => Request::DeleteContainer(DeleteContainerRequest {
            path: Some(Bytes::from(path.full(base).into_bytes())),
        }),
        Op::Exists { path, watch } => Request::Exists(ExistsRequest {
            path: path.full(base),
            watch: *watch,
        }),
        Op::GetData { path, watch } => Request::GetData(GetDataRequest {
            path: path.full(base),
            watch: *watch,
        }),
        Op::GetChildren { path, watch } => Request::GetChildren(GetChildrenRequest {
            path: path.full(base),
            watch: *watch,
        }),
        Op::GetChildren2 { path, watch } => Request::GetChildren2(GetChildren2Request {
            path: path.full(base),
            watch: *watch,
        }),
        Op::SetData {
            path,
            data,
            version,
        } => Request::SetData(SetDataRequest {
            path: path.full(base),
            data: data.bytes(),
            version: *version,
        }),
        Op::GetAcl { path } => Request::GetAcl(GetAclRequest {
            path: path.full(base),
        }),
        Op::SetAcl { path, acl, version } => Request::SetAcl(SetAclRequest {
            path: path.full(base),
            acl: acl.acls(),
            version: *version,
        }),
        Op::Sync { path } => Request::Sync(SyncRequest {
            path: path.full(base),
        }),
        Op::Multi(ops) => Request::Multi(MultiRequest {
            ops: ops
                .iter()
                .map(|o| match o {
                    MOp::Create {
                        op,
                        path,
                        data,
                        acl,
                        flags,
                    } => {
                        let r = create_req(base, path, data, acl, *flags);
                        match op {
                            CreateOp::Create => MultiOp::Create(r),
                            CreateOp::Create2 => MultiOp::Create2(r),
                            CreateOp::Container => MultiOp::CreateContainer(r),
                            CreateOp::Ttl => MultiOp::CreateTtl(CreateTtlRequest {
                                path: r.path,
                                data: r.data,
                                acl: r.acl,
                                flags: r.flags,
                                ttl: 60_000,
                            }),
                        }
                    }
                    MOp::Delete { path, version } => MultiOp::Delete(DeleteRequest {
                        path: path.full(base),
                        version: *version,
                    }),
                    MOp::SetData {
                        path,
                        data,
                        version,
                    } => MultiOp::SetData(SetDataRequest {
                        path: path.full(base),
                        data: data.bytes(),
                        version: *version,
                    }),
                    MOp::Check { path, version } => MultiOp::Check(CheckVersionRequest {
                        path: path.full(base),
                        version: *version,
                    }),
                    MOp::GetData { path } => MultiOp::GetData(GetDataRequest {
                        path: path.full(base),
                        watch: false,
                    }),
                })
                .collect(),
        }),
        Op::MultiRead(ops) => Request::MultiRead(MultiRequest {
            ops: ops
                .iter()
                .map(|o| match o {
                    ROp::GetData { path } => MultiOp::GetData(GetDataRequest {
                        path: path.full(base),
                        watch: true,
                    }),
                    ROp::GetChildren { path } => MultiOp::GetChildren(GetChildrenRequest {
                        path: path.full(base),
                        watch: true,
                    }),
                    ROp::Check { path, version } => MultiOp::Check(CheckVersionRequest {
                        path: path.full(base),
                        version: *version,
                    }),
                })
                .collect(),
        }),
        Op::GetAllChildrenNumber { path } => {
            Request::GetAllChildrenNumber(GetAllChildrenNumberRequest {
                path: path.full(base),
            })
        }
        Op::GetEphemerals { prefix } => Request::GetEphemerals(GetEphemeralsRequest {
            prefix_path: prefix.full(base),
        }),
        Op::AddWatch { path, mode } => Request::AddWatch(AddWatchRequest {
            path: path.full(base),
            mode: *mode,
        }),
        Op::RemoveWatches { path, wtype } => Request::RemoveWatches(RemoveWatchesRequest {
            path: path.full(base),
            watch_type: *wtype,
        }),
        Op::CheckWatches { path, wtype } => Request::CheckWatches(CheckWatchesRequest {
            path: path.full(base),
            watch_type: *wtype,
        }),
        Op::SetWatches {
            rel,
            data,
            exist,
            child,
        } => Request::SetWatches(SetWatches {
            relative_zxid: relz(*rel),
            data_watches: paths(base, data),
            exist_watches: paths(base, exist),
            child_watches: paths(base, child),
        }),
        Op::SetWatches2 {
            rel,
            data,
            exist,
            child,
            persistent,
            recursive,
        } => Request::SetWatches2(SetWatches2 {
            relative_zxid: relz(*rel),
            data_watches: paths(base, data),
            exist_watches: paths(base, exist),
            child_watches: paths(base, child),
            persistent_watches: paths(base, persistent),
            persistent_recursive_watches: paths(base, recursive),
        }),
        Op::Auth { scheme, user } => Request::Auth(AuthPacket {
            auth_type: 0,
            scheme: scheme.clone(),
            auth: Some(Bytes::from(
                USERS[*user % USERS.len()].0.as_bytes().to_vec(),
            )),
        }),
        Op::WhoAmI => Request::WhoAmI,
        Op::Reconfig => Request::Reconfig(ReconfigRequest {
            joining_servers: String::new(),
            leaving_servers: String::new(),
            new_members: String::new(),
            cur_config_id: -1,
        }),
        Op::CheckTop { path, version } => Request::Check(CheckVersionRequest {
            path: path.full(base),
            version: *version,
        }),
        Op::SetDataFrame { path, frame_len } => {
            let p = path.full(base);
            // header 8 + path (4 + len) + data (4 + n) + version 4
            let fixed = 8 + 4 + p.len() + 4 + 4;
            let n = frame_len.saturating_sub(fixed);
            Request::SetData(SetDataRequest {
                path: p,
                data: Some(Bytes::from(vec![b'x'; n])),
                version: -1,
            })
        }
        Op::Raw { opcode, body } => {
            return Wire::Raw {
                opcode: *opcode,
                body: body.clone(),
            }
        }
        Op::Bytes {
            bytes,
            reply_opcode,
        } => {
            return Wire::Bytes {
                bytes: bytes.clone(),
                reply_opcode: *reply_opcode,
            }
        }
    })
}

/// A frame with an arbitrary length field and body.
pub fn frame_with_len(len_field: i32, body: &[u8]) -> Vec<u8> {
    let mut b = BytesMut::with_capacity(4 + body.len());
    b.put_i32(len_field);
    b.put_slice(body);
    b.to_vec()
}

fn fmt_list(f: &mut fmt::Formatter<'_>, name: &str, v: &[P]) -> fmt::Result {
    if !v.is_empty() {
        write!(f, " {name}={v:?}")?;
    }
    Ok(())
}

fn fmt_create(
    f: &mut fmt::Formatter<'_>,
    op: &CreateOp,
    path: &P,
    data: &Data,
    acl: &AclSpec,
    flags: i32,
) -> fmt::Result {
    let name = match op {
        CreateOp::Create => "create",
        CreateOp::Create2 => "create2",
        CreateOp::Container => "createContainer",
        CreateOp::Ttl => "createTTL",
    };
    let mode = match flags {
        0 => "PERSISTENT".to_string(),
        1 => "EPHEMERAL".to_string(),
        2 => "PERSISTENT_SEQUENTIAL".to_string(),
        3 => "EPHEMERAL_SEQUENTIAL".to_string(),
        4 => "CONTAINER".to_string(),
        5 => "TTL".to_string(),
        6 => "SEQUENTIAL_TTL".to_string(),
        x => format!("flags={x}"),
    };
    write!(f, "{name} {path:?} {data:?} acl={acl:?} {mode}")
}

impl fmt::Debug for MOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MOp::Create {
                op,
                path,
                data,
                acl,
                flags,
            } => fmt_create(f, op, path, data, acl, *flags),
            MOp::Delete { path, version } => write!(f, "delete {path:?} v={version}"),
            MOp::SetData {
                path,
                data,
                version,
            } => write!(f, "setData {path:?} {data:?} v={version}"),
            MOp::Check { path, version } => write!(f, "check {path:?} v={version}"),
            MOp::GetData { path } => write!(f, "getData {path:?}"),
        }
    }
}

impl fmt::Debug for ROp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ROp::GetData { path } => write!(f, "getData {path:?}"),
            ROp::GetChildren { path } => write!(f, "getChildren {path:?}"),
            ROp::Check { path, version } => write!(f, "check {path:?} v={version}"),
        }
    }
}

impl fmt::Debug for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = |b: &bool| if *b { " watch" } else { "" };
        match self {
            Op::Create {
                op,
                path,
                data,
                acl,
                flags,
            } => fmt_create(f, op, path, data, acl, *flags),
            Op::Delete { path, version } => write!(f, "delete {path:?} v={version}"),
            Op::DeleteContainer { path } => write!(f, "deleteContainer {path:?}"),
            Op::Exists { path, watch } => write!(f, "exists {path:?}{}", w(watch)),
            Op::GetData { path, watch } => write!(f, "getData {path:?}{}", w(watch)),
            Op::GetChildren { path, watch } => write!(f, "getChildren {path:?}{}", w(watch)),
            Op::GetChildren2 { path, watch } => write!(f, "getChildren2 {path:?}{}", w(watch)),
            Op::SetData {
                path,
                data,
                version,
            } => write!(f, "setData {path:?} {data:?} v={version}"),
            Op::GetAcl { path } => write!(f, "getACL {path:?}"),
            Op::SetAcl { path, acl, version } => write!(f, "setACL {path:?} {acl:?} v={version}"),
            Op::Sync { path } => write!(f, "sync {path:?}"),
            Op::Multi(ops) => write!(f, "multi {ops:?}"),
            Op::MultiRead(ops) => write!(f, "multiRead {ops:?}"),
            Op::GetAllChildrenNumber { path } => write!(f, "getAllChildrenNumber {path:?}"),
            Op::GetEphemerals { prefix } => write!(f, "getEphemerals {prefix:?}"),
            Op::AddWatch { path, mode } => write!(
                f,
                "addWatch {path:?} {}",
                match mode {
                    0 => "PERSISTENT".to_string(),
                    1 => "PERSISTENT_RECURSIVE".to_string(),
                    m => format!("mode={m}"),
                }
            ),
            Op::RemoveWatches { path, wtype } => write!(f, "removeWatches {path:?} type={wtype}"),
            Op::CheckWatches { path, wtype } => write!(f, "checkWatches {path:?} type={wtype}"),
            Op::SetWatches {
                rel,
                data,
                exist,
                child,
            } => {
                write!(f, "setWatches rel={rel:?}")?;
                fmt_list(f, "data", data)?;
                fmt_list(f, "exist", exist)?;
                fmt_list(f, "child", child)
            }
            Op::SetWatches2 {
                rel,
                data,
                exist,
                child,
                persistent,
                recursive,
            } => {
                write!(f, "setWatches2 rel={rel:?}")?;
                fmt_list(f, "data", data)?;
                fmt_list(f, "exist", exist)?;
                fmt_list(f, "child", child)?;
                fmt_list(f, "persistent", persistent)?;
                fmt_list(f, "recursive", recursive)
            }
            Op::Auth { scheme, user } => {
                write!(f, "auth {scheme} {:?}", USERS[*user % USERS.len()].0)
            }
            Op::WhoAmI => f.write_str("whoAmI"),
            Op::Reconfig => f.write_str("reconfig"),
            Op::CheckTop { path, version } => write!(f, "check(top-level) {path:?} v={version}"),
            Op::SetDataFrame { path, frame_len } => {
                write!(f, "setData {path:?} sized to a {frame_len}-byte frame")
            }
            Op::Raw { opcode, body } => write!(f, "raw opcode={opcode} body={body:02x?}"),
            Op::Bytes {
                bytes,
                reply_opcode,
            } => {
                let shown: Vec<u8> = bytes.iter().take(16).copied().collect();
                write!(
                    f,
                    "bytes[{}] {shown:02x?}{} reply_as={reply_opcode:?}",
                    bytes.len(),
                    if bytes.len() > 16 { "…" } else { "" }
                )
            }
        }
    }
}

/// Session parameters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct SessionSpec {
    pub timeout_ms: i32,
}

/// How to (re)connect a session slot.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum ConnectKind {
    /// Re-attach the slot's session on a new connection.
    Resume,
    /// Re-attach with a wrong password.
    BadPassword,
    /// Re-attach claiming a lastZxidSeen far ahead of the server.
    ZxidAhead,
    /// A new session without the readOnly byte (44-byte request).
    NewWithoutReadOnly,
    /// A new session with readOnly = true.
    NewReadOnly,
    /// A new session with a requested timeout (ms).
    NewWithTimeout(i32),
    /// A new session whose closeSession is pipelined right behind the
    /// ConnectRequest (the session's first and last request).
    NewThenClose,
}

/// One step of a case, run on both servers before the next starts.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Step {
    /// These ops, pipelined on the session's connection.
    Batch { session: usize, ops: Vec<Op> },
    /// closeSession.
    Close { session: usize },
    /// Stop pinging until the server expires the session and closes the
    /// connection; then wait until its ephemerals are gone.
    Expire { session: usize },
    /// Like Expire, but continue as soon as the connection is closed (no
    /// waiting for the ephemerals): ZooKeeper deletes them before it
    /// closes the connection.
    ExpireStrict { session: usize },
    /// Drop the connection (client side) and connect again.
    Connect { session: usize, kind: ConnectKind },
}

impl fmt::Debug for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Batch { session, ops } if ops.len() == 1 => write!(f, "s{session} {:?}", ops[0]),
            Step::Batch { session, ops } => write!(f, "s{session} pipelined {ops:?}"),
            Step::Close { session } => write!(f, "s{session} closeSession"),
            Step::Expire { session } => write!(f, "s{session} expire"),
            Step::ExpireStrict { session } => write!(f, "s{session} expire (strict)"),
            Step::Connect { session, kind } => write!(f, "s{session} connect {kind:?}"),
        }
    }
}

/// A sequence of steps over some sessions.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Case {
    pub sessions: Vec<SessionSpec>,
    pub steps: Vec<Step>,
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "sessions: {:?}", self.sessions)?;
        for (i, s) in self.steps.iter().enumerate() {
            writeln!(f, "  #{i:<3} {s:?}")?;
        }
        Ok(())
    }
}
