//! Named edge cases: one scripted case per protocol subtlety a client can
//! observe (docs: /work/shared/reference/zk-wire-protocol.md §5–§13). They
//! run through the same executor and comparisons as the random cases; the
//! expected answer is whatever ZooKeeper 3.9.5 says.

use crate::model::*;

/// One named case.
pub struct Edge {
    pub name: &'static str,
    pub about: &'static str,
    pub case: Case,
}

const LONG: SessionSpec = SessionSpec { timeout_ms: 4000 };
const SHORT: SessionSpec = SessionSpec { timeout_ms: 1500 };

fn r(s: &str) -> P {
    P::Rel(s.to_string())
}
fn a(s: &str) -> P {
    P::Abs(s.to_string())
}
fn lit(s: &str) -> Data {
    Data::Lit(s.as_bytes().to_vec())
}
fn create_with(op: CreateOp, p: P, data: Data, acl: AclSpec, flags: i32) -> Op {
    Op::Create {
        op,
        path: p,
        data,
        acl,
        flags,
    }
}
fn c1(p: P, data: Data, flags: i32) -> Op {
    create_with(CreateOp::Create, p, data, AclSpec::Open, flags)
}
fn c2(p: P, data: Data, flags: i32) -> Op {
    create_with(CreateOp::Create2, p, data, AclSpec::Open, flags)
}
fn mk(p: &str) -> Op {
    c2(r(p), Data::Empty, 0)
}
fn eph(p: &str) -> Op {
    c2(r(p), lit("e"), 1)
}
fn get(p: P) -> Op {
    Op::GetData {
        path: p,
        watch: false,
    }
}
fn getw(p: P) -> Op {
    Op::GetData {
        path: p,
        watch: true,
    }
}
fn ex(p: P) -> Op {
    Op::Exists {
        path: p,
        watch: false,
    }
}
fn exw(p: P) -> Op {
    Op::Exists {
        path: p,
        watch: true,
    }
}
fn kids(p: P) -> Op {
    Op::GetChildren {
        path: p,
        watch: false,
    }
}
fn kidsw(p: P) -> Op {
    Op::GetChildren {
        path: p,
        watch: true,
    }
}
fn kids2(p: P) -> Op {
    Op::GetChildren2 {
        path: p,
        watch: false,
    }
}
fn set(p: P, data: Data, version: i32) -> Op {
    Op::SetData {
        path: p,
        data,
        version,
    }
}
fn del(p: P, version: i32) -> Op {
    Op::Delete { path: p, version }
}
fn acl(p: P) -> Op {
    Op::GetAcl { path: p }
}
fn s(session: usize, op: Op) -> Step {
    Step::Batch {
        session,
        ops: vec![op],
    }
}
fn sb(session: usize, ops: Vec<Op>) -> Step {
    Step::Batch { session, ops }
}
fn mc(p: &str, flags: i32) -> MOp {
    MOp::Create {
        op: CreateOp::Create,
        path: r(p),
        data: Data::Empty,
        acl: AclSpec::Open,
        flags,
    }
}
fn mc2(p: &str, flags: i32) -> MOp {
    MOp::Create {
        op: CreateOp::Create2,
        path: r(p),
        data: lit("m"),
        acl: AclSpec::Open,
        flags,
    }
}
fn auth(user: usize) -> Op {
    Op::Auth {
        scheme: "digest".into(),
        user,
    }
}
fn reopen(session: usize) -> Step {
    Step::Connect {
        session,
        kind: ConnectKind::NewWithTimeout(4000),
    }
}
fn edge(
    name: &'static str,
    about: &'static str,
    sessions: Vec<SessionSpec>,
    steps: Vec<Step>,
) -> Edge {
    Edge {
        name,
        about,
        case: Case { sessions, steps },
    }
}

/// A request body: a ustring path and a trailing boolean.
fn path_bool(p: &str, b: bool) -> Vec<u8> {
    let mut v = (p.len() as i32).to_be_bytes().to_vec();
    v.extend_from_slice(p.as_bytes());
    v.push(b as u8);
    v
}

pub fn cases() -> Vec<Edge> {
    let special = ["/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"];
    let mut root_reads = Vec::new();
    for p in special {
        root_reads.push(s(0, ex(a(p))));
        root_reads.push(s(0, get(a(p))));
        root_reads.push(s(0, kids2(a(p))));
        root_reads.push(s(0, acl(a(p))));
        root_reads.push(s(0, Op::GetAllChildrenNumber { path: a(p) }));
    }
    let mut invalid_paths = Vec::new();
    for i in 0..INVALID.len() {
        invalid_paths.push(s(0, c1(P::I(i), Data::Empty, 0)));
        invalid_paths.push(s(0, set(P::I(i), Data::Empty, -1)));
        invalid_paths.push(s(0, get(P::I(i))));
        invalid_paths.push(s(0, ex(P::I(i))));
        invalid_paths.push(s(0, del(P::I(i), -1)));
        invalid_paths.push(s(
            0,
            Op::SetAcl {
                path: P::I(i),
                acl: AclSpec::Open,
                version: -1,
            },
        ));
        invalid_paths.push(s(
            0,
            Op::Multi(vec![MOp::Check {
                path: P::I(i),
                version: -1,
            }]),
        ));
    }
    vec![
        edge(
            "root_and_special_nodes",
            "stats, data, children and ACLs of /, /zookeeper, /zookeeper/quota, /zookeeper/config",
            vec![LONG],
            root_reads,
        ),
        edge(
            "create_root_is_node_exists",
            "create(\"/\") gives NODEEXISTS; sequential under / gets a counter name",
            vec![LONG],
            vec![
                s(0, c1(a("/"), Data::Empty, 0)),
                s(0, c2(a("/"), Data::Null, 1)),
                s(0, c1(a("/zookeeper"), Data::Empty, 0)),
                s(0, c1(a("/zookeeper/quota"), Data::Empty, 0)),
                s(0, kids2(a("/zookeeper"))),
            ],
        ),
        edge(
            "delete_special_nodes",
            "deleting /, /zookeeper, /zookeeper/quota, /zookeeper/config gives BADARGUMENTS",
            vec![LONG],
            vec![
                s(0, del(a("/"), -1)),
                s(0, del(a("/zookeeper"), -1)),
                s(0, del(a("/zookeeper/quota"), -1)),
                s(0, del(a("/zookeeper/config"), -1)),
                s(0, del(a("/zookeeper"), 5)),
                s(0, del(a("/zookeeper/no-such-node"), -1)),
                s(0, Op::DeleteContainer { path: a("/zookeeper") }),
            ],
        ),
        edge(
            "zookeeper_subtree_writes",
            "/zookeeper accepts children; /zookeeper/config is READ-only",
            vec![LONG],
            vec![
                s(0, c2(a("/zookeeper/zoe-diff"), lit("x"), 0)),
                s(0, kids2(a("/zookeeper"))),
                s(0, del(a("/zookeeper/zoe-diff"), -1)),
                s(0, kids2(a("/zookeeper"))),
                s(0, c1(a("/zookeeper/config/x"), Data::Empty, 0)),
                s(0, set(a("/zookeeper/config"), lit("x"), -1)),
                s(0, set(a("/zookeeper"), lit("x"), -1)),
                s(0, get(a("/zookeeper"))),
                s(0, set(a("/zookeeper"), Data::Empty, -1)),
                s(0, get(a("/zookeeper"))),
                s(
                    0,
                    Op::SetAcl {
                        path: a("/zookeeper/config"),
                        acl: AclSpec::Open,
                        version: -1,
                    },
                ),
            ],
        ),
        edge(
            "read_paths_are_not_validated",
            "reads of \"\" and relative paths: ZooKeeper maps \"\" to the root",
            vec![LONG],
            vec![
                s(0, get(a(""))),
                s(0, ex(a(""))),
                s(0, kids2(a(""))),
                s(0, acl(a(""))),
                s(0, get(a("zookeeper"))),
                s(0, ex(a("zookeeper"))),
                s(0, Op::GetAllChildrenNumber { path: a("") }),
                s(0, get(a("/zookeeper/"))),
                s(0, exw(a("no-slash"))),
                s(0, c1(a(""), Data::Empty, 0)),
                s(0, c1(a("no-slash"), Data::Empty, 0)),
                s(0, del(a(""), -1)),
                s(0, del(a("no-slash"), -1)),
                s(0, set(a(""), Data::Empty, -1)),
            ],
        ),
        edge(
            "exists_with_nul_is_bad_arguments",
            "a NUL in an exists path gives BADARGUMENTS; other reads look it up",
            vec![LONG],
            vec![
                s(0, mk("")),
                s(0, ex(r("/a\u{0}b"))),
                s(0, exw(r("/a\u{0}b"))),
                s(0, get(r("/a\u{0}b"))),
                s(0, kids(r("/a\u{0}b"))),
                s(0, c1(r("/a\u{0}b"), Data::Empty, 0)),
            ],
        ),
        edge(
            "invalid_paths_per_op",
            "each invalid path through create, setData, getData, exists, delete, setACL, check",
            vec![LONG],
            invalid_paths,
        ),
        edge(
            "null_vs_empty_data",
            "null data stays null (-1 on the wire), empty stays empty, dataLength 0 for both",
            vec![LONG],
            vec![
                s(0, c2(r("/n"), Data::Null, 0)),
                s(0, c2(r("/e"), Data::Empty, 0)),
                s(0, c1(r("/d"), lit("abc"), 0)),
                s(0, get(r("/n"))),
                s(0, get(r("/e"))),
                s(0, get(r("/d"))),
                s(0, set(r("/d"), Data::Null, 0)),
                s(0, get(r("/d"))),
                s(0, set(r("/n"), Data::Empty, -1)),
                s(0, get(r("/n"))),
                s(0, set(r("/e"), Data::Null, -1)),
                s(
                    0,
                    Op::MultiRead(vec![
                        ROp::GetData { path: r("/n") },
                        ROp::GetData { path: r("/e") },
                        ROp::GetData { path: r("/d") },
                    ]),
                ),
                s(
                    0,
                    Op::Multi(vec![
                        MOp::Create {
                            op: CreateOp::Create2,
                            path: r("/m"),
                            data: Data::Null,
                            acl: AclSpec::Open,
                            flags: 0,
                        },
                        MOp::SetData {
                            path: r("/d"),
                            data: Data::Empty,
                            version: -1,
                        },
                    ]),
                ),
                s(0, get(r("/m"))),
                s(0, get(r("/d"))),
            ],
        ),
        edge(
            "sequential_names",
            "trailing-slash sequential creates, the per-parent counter counts every create",
            vec![LONG],
            vec![
                s(0, mk("/q")),
                s(0, c2(r("/q/"), Data::Empty, 2)),
                s(0, c1(r("/q/"), Data::Empty, 2)),
                s(0, c1(r("/q/x"), Data::Empty, 2)),
                s(0, c2(r("/q/"), Data::Empty, 3)),
                s(0, c1(r("/q/"), Data::Empty, 0)),
                s(0, c1(r("/q/"), Data::Empty, 1)),
                s(0, mk("/q/plain")),
                s(0, del(r("/q/0000000000"), -1)),
                s(0, c1(r("/q/"), Data::Empty, 2)),
                s(0, kids2(r("/q"))),
                s(0, c1(r("/q/0000000006"), Data::Empty, 0)),
                s(0, c1(r("/q/"), Data::Empty, 2)),
                s(0, c1(r("/"), Data::Empty, 2)),
                s(0, c1(r("/nope/"), Data::Empty, 2)),
            ],
        ),
        edge(
            "sequential_counter_in_multi",
            "sequence numbers inside one multi count the earlier creates of the batch",
            vec![LONG],
            vec![
                s(
                    0,
                    Op::Multi(vec![
                        mc2("/m", 0),
                        mc("/m/", 2),
                        mc2("/m/", 2),
                        mc("/m/a", 0),
                        mc2("/m/a-", 3),
                    ]),
                ),
                s(0, kids2(r("/m"))),
                s(0, Op::GetEphemerals { prefix: r("/m") }),
            ],
        ),
        edge(
            "cversion_and_pzxid",
            "cversion counts child creates and deletes; pzxid follows child changes only",
            vec![LONG],
            vec![
                s(0, mk("/p")),
                s(0, mk("/p/a")),
                s(0, mk("/p/b")),
                s(0, kids2(r("/p"))),
                s(0, del(r("/p/a"), -1)),
                s(0, kids2(r("/p"))),
                s(0, set(r("/p"), lit("x"), -1)),
                s(0, ex(r("/p"))),
                s(0, mk("/p/a")),
                s(0, mk("/p/b/c")),
                s(0, ex(r("/p"))),
                s(0, del(r("/p/b/c"), -1)),
                s(0, del(r("/p/b"), -1)),
                s(0, del(r("/p/a"), -1)),
                s(0, ex(r("/p"))),
                s(0, del(r("/p"), -1)),
                s(0, mk("/p")),
                s(0, kids2(r("/p"))),
                s(0, c1(r("/p/"), Data::Empty, 2)),
            ],
        ),
        edge(
            "delete_errors",
            "NOTEMPTY, BADVERSION, NONODE; version checks before emptiness",
            vec![LONG],
            vec![
                s(0, mk("/d")),
                s(0, mk("/d/c")),
                s(0, del(r("/d"), -1)),
                s(0, del(r("/d"), 7)),
                s(0, del(r("/d/c"), 1)),
                s(0, del(r("/missing/c"), -1)),
                s(0, del(r("/d/missing"), -1)),
                s(0, set(r("/d/c"), lit("v1"), 0)),
                s(0, del(r("/d/c"), 0)),
                s(0, del(r("/d/c"), 1)),
                s(0, del(r("/d"), 0)),
                s(0, del(r("/d/"), -1)),
            ],
        ),
        edge(
            "set_data_and_acl_versions",
            "version +1 even for equal data; BADVERSION; setACL bumps aversion only and fires nothing",
            vec![LONG, LONG],
            vec![
                s(0, c2(r("/v"), lit("same"), 0)),
                s(1, getw(r("/v"))),
                s(0, set(r("/v"), lit("same"), 0)),
                s(0, set(r("/v"), lit("same"), 0)),
                s(0, set(r("/v"), lit("same"), 1)),
                s(1, getw(r("/v"))),
                s(
                    0,
                    Op::SetAcl {
                        path: r("/v"),
                        acl: AclSpec::World(31),
                        version: 1,
                    },
                ),
                s(
                    0,
                    Op::SetAcl {
                        path: r("/v"),
                        acl: AclSpec::World(31),
                        version: 0,
                    },
                ),
                s(
                    0,
                    Op::SetAcl {
                        path: r("/v"),
                        acl: AclSpec::World(31),
                        version: -1,
                    },
                ),
                s(0, acl(r("/v"))),
                s(0, set(r("/v"), lit("x"), -1)),
                s(
                    0,
                    Op::SetAcl {
                        path: r("/missing"),
                        acl: AclSpec::Open,
                        version: -1,
                    },
                ),
            ],
        ),
        edge(
            "ephemeral_rules",
            "no children under ephemerals (checked after NODEEXISTS); owner in stats",
            vec![LONG, LONG],
            vec![
                s(0, mk("/g")),
                s(0, eph("/g/e")),
                s(0, c1(r("/g/e/child"), Data::Empty, 0)),
                s(0, c1(r("/g/e/"), Data::Empty, 2)),
                s(0, c1(r("/g/e/child"), Data::Empty, 1)),
                s(1, c1(r("/g/e/child"), Data::Empty, 0)),
                s(0, c1(r("/g/e"), Data::Empty, 0)),
                s(1, ex(r("/g/e"))),
                s(1, c2(r("/g/e2"), Data::Null, 3)),
                s(1, c2(r("/g/e2"), Data::Null, 1)),
                s(0, Op::GetEphemerals { prefix: a("") }),
                s(1, Op::GetEphemerals { prefix: a("") }),
                s(0, del(r("/g/e"), -1)),
                s(0, Op::GetEphemerals { prefix: a("/") }),
            ],
        ),
        edge(
            "get_ephemerals_prefix",
            "getEphemerals filters by plain string prefix; \"\" and \"/\" mean all",
            vec![LONG, LONG],
            vec![
                s(0, mk("/g")),
                s(0, eph("/g/a1")),
                s(0, eph("/g/ab")),
                s(0, eph("/g/b")),
                s(0, eph("/g2")),
                s(0, Op::GetEphemerals { prefix: r("/g/a") }),
                s(0, Op::GetEphemerals { prefix: r("/g/a/") }),
                s(0, Op::GetEphemerals { prefix: r("/g") }),
                s(0, Op::GetEphemerals { prefix: r("/g/") }),
                s(0, Op::GetEphemerals { prefix: a("") }),
                s(0, Op::GetEphemerals { prefix: a("/") }),
                s(0, Op::GetEphemerals { prefix: a(" ") }),
                s(0, Op::GetEphemerals { prefix: a("no-slash") }),
                s(1, Op::GetEphemerals { prefix: a("/") }),
            ],
        ),
        edge(
            "multi_failure_shapes",
            "failed multi: header err 0, results 0 / code / RUNTIMEINCONSISTENCY, nothing applied",
            vec![LONG],
            vec![
                s(0, mk("/mf")),
                s(
                    0,
                    Op::Multi(vec![
                        mc("/mf/a", 0),
                        mc("/mf", 0),
                        MOp::SetData {
                            path: r("/mf"),
                            data: lit("x"),
                            version: -1,
                        },
                    ]),
                ),
                s(0, ex(r("/mf/a"))),
                s(
                    0,
                    Op::Multi(vec![
                        mc2("/mf/b", 0),
                        MOp::Delete {
                            path: r("/mf"),
                            version: -1,
                        },
                    ]),
                ),
                s(
                    0,
                    Op::Multi(vec![
                        MOp::SetData {
                            path: r("/mf"),
                            data: lit("x"),
                            version: 3,
                        },
                        mc("/mf/c", 0),
                    ]),
                ),
                s(
                    0,
                    Op::Multi(vec![
                        mc("/mf/d", 1),
                        mc("/mf/d/e", 0),
                        mc("/mf/f", 0),
                    ]),
                ),
                s(
                    0,
                    Op::Multi(vec![
                        mc("/mf/g", 0),
                        mc("/mf/g/", 7),
                        mc("/mf/h", 0),
                    ]),
                ),
                s(
                    0,
                    Op::Multi(vec![
                        mc("/mf/g", 0),
                        MOp::Create {
                            op: CreateOp::Create,
                            path: r("/mf/i"),
                            data: Data::Empty,
                            acl: AclSpec::Invalid,
                            flags: 0,
                        },
                    ]),
                ),
                s(0, kids2(r("/mf"))),
            ],
        ),
        edge(
            "multi_create_rebuilt_from_flags",
            "a create, create2 or createContainer inside a multi is rebuilt from its flags: container flags make a createContainer (create2-shaped result), other flags keep the opcode",
            vec![LONG],
            vec![
                s(0, mk("/mf")),
                s(0, Op::Multi(vec![mc("/mf/c", 4), mc2("/mf/d", 4), mc("/mf/e", 0)])),
                s(0, Op::Multi(vec![mc2("/mf/c/x", 0), mc("/mf/d/y", 2)])),
                s(
                    0,
                    Op::Multi(vec![MOp::Create {
                        op: CreateOp::Container,
                        path: r("/mf/f"),
                        data: Data::Empty,
                        acl: AclSpec::Open,
                        flags: 0,
                    }]),
                ),
                s(0, kids2(r("/mf"))),
                s(0, del(r("/mf/c/x"), -1)),
                s(0, ex(r("/mf/c"))),
            ],
        ),
        edge(
            "multi_check_op",
            "check inside multi: NONODE, BADVERSION, BADARGUMENTS, and versions seen after earlier ops",
            vec![LONG],
            vec![
                s(0, mk("/c")),
                s(
                    0,
                    Op::Multi(vec![MOp::Check {
                        path: r("/missing"),
                        version: -1,
                    }]),
                ),
                s(
                    0,
                    Op::Multi(vec![MOp::Check {
                        path: r("/c"),
                        version: 0,
                    }]),
                ),
                s(
                    0,
                    Op::Multi(vec![MOp::Check {
                        path: r("/c"),
                        version: 1,
                    }]),
                ),
                s(
                    0,
                    Op::Multi(vec![MOp::Check {
                        path: r("/c/"),
                        version: -1,
                    }]),
                ),
                s(
                    0,
                    Op::Multi(vec![
                        MOp::SetData {
                            path: r("/c"),
                            data: lit("1"),
                            version: 0,
                        },
                        MOp::Check {
                            path: r("/c"),
                            version: 1,
                        },
                        MOp::SetData {
                            path: r("/c"),
                            data: lit("2"),
                            version: 1,
                        },
                    ]),
                ),
                s(0, get(r("/c"))),
                s(
                    0,
                    Op::Multi(vec![
                        MOp::Delete {
                            path: r("/c"),
                            version: -1,
                        },
                        MOp::Check {
                            path: r("/c"),
                            version: -1,
                        },
                    ]),
                ),
                s(
                    0,
                    Op::Multi(vec![
                        mc("/c/new", 0),
                        MOp::Check {
                            path: r("/c/new"),
                            version: 0,
                        },
                        MOp::Delete {
                            path: r("/c/new"),
                            version: 0,
                        },
                        mc("/c/new", 0),
                    ]),
                ),
                s(0, kids2(r("/c"))),
                s(0, ex(r("/c/new"))),
            ],
        ),
        edge(
            "multi_delete_and_recreate",
            "deleting and re-creating an existing node in one multi gives a fresh node (czxid, versions, counters)",
            vec![LONG, LONG],
            vec![
                s(0, c2(r("/rc"), lit("old"), 0)),
                s(0, set(r("/rc"), lit("v1"), -1)),
                s(0, mk("/rc/k")),
                s(0, del(r("/rc/k"), -1)),
                s(
                    0,
                    Op::SetAcl {
                        path: r("/rc"),
                        acl: AclSpec::World(31),
                        version: -1,
                    },
                ),
                s(1, getw(r("/rc"))),
                s(1, kidsw(r(""))),
                s(
                    0,
                    Op::Multi(vec![
                        MOp::Delete {
                            path: r("/rc"),
                            version: -1,
                        },
                        mc2("/rc", 0),
                    ]),
                ),
                s(0, kids2(r("/rc"))),
                s(0, acl(r("/rc"))),
                s(0, c1(r("/rc/"), Data::Empty, 2)),
                s(
                    0,
                    Op::Multi(vec![
                        MOp::SetData {
                            path: r("/rc"),
                            data: lit("x"),
                            version: -1,
                        },
                        MOp::Delete {
                            path: r("/rc/0000000000"),
                            version: -1,
                        },
                        MOp::Delete {
                            path: r("/rc"),
                            version: -1,
                        },
                        mc2("/rc", 1),
                    ]),
                ),
                s(0, ex(r("/rc"))),
                s(1, ex(r("/rc"))),
            ],
        ),
        edge(
            "multi_empty_and_mixed",
            "empty multi and multiRead; reads inside multi and writes inside multiRead",
            vec![LONG],
            vec![
                s(0, Op::Multi(vec![])),
                s(0, Op::MultiRead(vec![])),
                s(0, Op::Multi(vec![mc("/x", 0), MOp::GetData { path: r("/x") }])),
                s(0, ex(r("/x"))),
                s(
                    0,
                    Op::MultiRead(vec![
                        ROp::GetData { path: r("") },
                        ROp::Check {
                            path: r(""),
                            version: -1,
                        },
                    ]),
                ),
                s(
                    0,
                    Op::MultiRead(vec![ROp::Check {
                        path: r(""),
                        version: -1,
                    }]),
                ),
                s(
                    0,
                    Op::MultiRead(vec![
                        ROp::Check {
                            path: r(""),
                            version: -1,
                        },
                        ROp::GetData { path: r("") },
                    ]),
                ),
                s(
                    0,
                    Op::Multi(vec![MOp::Check {
                        path: r(""),
                        version: -1,
                    }]),
                ),
            ],
        ),
        edge(
            "multi_read_results",
            "multiRead answers each op independently and sets no watch",
            vec![LONG, LONG],
            vec![
                s(0, c2(r("/mr"), Data::Null, 0)),
                s(0, mk("/mr/k")),
                s(
                    1,
                    Op::MultiRead(vec![
                        ROp::GetData { path: r("/mr") },
                        ROp::GetChildren { path: r("/mr") },
                        ROp::GetData { path: r("/missing") },
                        ROp::GetChildren { path: r("/missing") },
                        ROp::GetData { path: r("/mr//bad") },
                        ROp::GetChildren { path: r("/mr/k") },
                    ]),
                ),
                s(0, set(r("/mr"), lit("changed"), -1)),
                s(0, mk("/mr/k2")),
                s(1, ex(r("/mr"))),
            ],
        ),
        edge(
            "multi_events_share_one_zxid",
            "every event of one multi carries the multi's zxid, in op order",
            vec![LONG, LONG],
            vec![
                s(1, exw(r("/me"))),
                s(1, exw(r("/me/a"))),
                s(1, kidsw(r(""))),
                s(
                    0,
                    Op::Multi(vec![
                        mc2("/me", 0),
                        mc("/me/a", 0),
                        MOp::SetData {
                            path: r("/me"),
                            data: lit("x"),
                            version: 0,
                        },
                    ]),
                ),
                s(1, getw(r("/me"))),
                s(1, kidsw(r("/me"))),
                s(
                    0,
                    Op::Multi(vec![
                        MOp::Delete {
                            path: r("/me/a"),
                            version: -1,
                        },
                        MOp::Delete {
                            path: r("/me"),
                            version: -1,
                        },
                    ]),
                ),
                s(1, ex(r("/me"))),
            ],
        ),
        edge(
            "exists_watch_on_missing_node",
            "exists(watch) on a missing node: NONODE and a watch that fires NodeCreated once",
            vec![LONG, LONG],
            vec![
                s(1, exw(r("/w"))),
                s(1, exw(r("/w"))),
                s(0, mk("/w")),
                s(0, set(r("/w"), lit("x"), -1)),
                s(1, ex(r("/w"))),
                s(1, getw(r("/missing"))),
                s(0, mk("/missing")),
                s(1, ex(r("/missing"))),
            ],
        ),
        edge(
            "own_write_event_before_reply",
            "a session watching what it writes gets the event before the write's reply",
            vec![LONG],
            vec![
                s(0, mk("/wo")),
                s(0, getw(r("/wo"))),
                s(0, kidsw(r("/wo"))),
                s(0, set(r("/wo"), lit("1"), -1)),
                s(0, mk("/wo/c")),
                s(0, exw(r("/wo/c"))),
                s(0, getw(r("/wo"))),
                sb(
                    0,
                    vec![
                        del(r("/wo/c"), -1),
                        set(r("/wo"), lit("2"), -1),
                        get(r("/wo")),
                    ],
                ),
            ],
        ),
        edge(
            "one_event_per_connection",
            "data + child + exists watches on one node give one NodeDeleted per connection",
            vec![LONG, LONG, LONG],
            vec![
                s(0, mk("/wd")),
                s(1, getw(r("/wd"))),
                s(1, kidsw(r("/wd"))),
                s(1, exw(r("/wd"))),
                s(2, kidsw(r("/wd"))),
                s(2, Op::AddWatch { path: r(""), mode: 1 }),
                s(2, exw(r("/wd"))),
                s(0, del(r("/wd"), -1)),
                s(1, ex(r("/wd"))),
                s(2, ex(r("/wd"))),
            ],
        ),
        edge(
            "child_watch_events",
            "child watches fire on child create/delete and on the node's own delete",
            vec![LONG, LONG],
            vec![
                s(0, mk("/wc")),
                s(1, kidsw(r("/wc"))),
                s(0, set(r("/wc"), lit("x"), -1)),
                s(0, mk("/wc/a")),
                s(1, Op::GetChildren2 {
                    path: r("/wc"),
                    watch: true,
                }),
                s(0, del(r("/wc/a"), -1)),
                s(1, kidsw(r("/wc"))),
                s(0, del(r("/wc"), -1)),
                s(1, kidsw(r("/wc"))),
                s(0, mk("/wc")),
            ],
        ),
        edge(
            "set_watches_relative_zxid",
            "setWatches: changed, missing and still-valid nodes relative to relativeZxid",
            vec![LONG, LONG],
            vec![
                s(0, mk("/sw")),
                s(0, mk("/sw/a")),
                s(0, mk("/sw/b")),
                s(0, mk("/sw/gone")),
                s(1, ex(r("/sw"))),
                s(0, set(r("/sw/a"), lit("x"), -1)),
                s(0, mk("/sw/b/c")),
                s(0, del(r("/sw/gone"), -1)),
                s(
                    1,
                    Op::SetWatches {
                        rel: RelZ::Back(0),
                        data: vec![r("/sw/a"), r("/sw/b"), r("/sw/gone")],
                        exist: vec![r("/sw/a"), r("/sw/none")],
                        child: vec![r("/sw/b"), r("/sw/a"), r("/sw/gone")],
                    },
                ),
                s(0, set(r("/sw/b"), lit("y"), -1)),
                s(0, mk("/sw/none")),
                s(0, mk("/sw/a/k")),
                s(1, ex(r("/sw"))),
                s(
                    1,
                    Op::SetWatches {
                        rel: RelZ::Zero,
                        data: vec![r("/sw")],
                        exist: vec![],
                        child: vec![r("/sw")],
                    },
                ),
                s(
                    1,
                    Op::SetWatches {
                        rel: RelZ::Back(0),
                        data: vec![r("/sw")],
                        exist: vec![r("/sw/later")],
                        child: vec![r("/sw")],
                    },
                ),
                s(0, mk("/sw/later")),
                s(1, ex(r("/sw"))),
            ],
        ),
        edge(
            "set_watches2_persistent",
            "setWatches2 re-registers persistent and recursive watches without synthesizing events",
            vec![LONG, LONG],
            vec![
                s(
                    1,
                    Op::SetWatches2 {
                        rel: RelZ::Zero,
                        data: vec![],
                        exist: vec![],
                        child: vec![],
                        persistent: vec![r("/p2")],
                        recursive: vec![r("/r2")],
                    },
                ),
                s(0, mk("/p2")),
                s(0, mk("/p2/x")),
                s(0, set(r("/p2"), lit("1"), -1)),
                s(0, mk("/r2")),
                s(0, mk("/r2/y")),
                s(0, set(r("/r2/y"), lit("1"), -1)),
                s(0, del(r("/r2/y"), -1)),
                s(1, Op::CheckWatches { path: r("/p2"), wtype: 4 }),
                s(1, Op::CheckWatches { path: r("/r2"), wtype: 5 }),
                s(1, Op::CheckWatches { path: r("/r2"), wtype: 4 }),
            ],
        ),
        edge(
            "add_watch_persistent",
            "persistent watch: created/changed/children/deleted events, never consumed",
            vec![LONG, LONG],
            vec![
                s(1, Op::AddWatch { path: r("/pw"), mode: 0 }),
                s(0, mk("/pw")),
                s(0, set(r("/pw"), lit("1"), -1)),
                s(0, mk("/pw/c")),
                s(0, set(r("/pw/c"), lit("1"), -1)),
                s(0, del(r("/pw/c"), -1)),
                s(0, del(r("/pw"), -1)),
                s(0, mk("/pw")),
                s(1, Op::CheckWatches { path: r("/pw"), wtype: 1 }),
                s(1, Op::CheckWatches { path: r("/pw"), wtype: 2 }),
                s(1, Op::CheckWatches { path: r("/pw"), wtype: 3 }),
                s(1, Op::RemoveWatches { path: r("/pw"), wtype: 4 }),
                s(1, Op::RemoveWatches { path: r("/pw"), wtype: 4 }),
                s(0, set(r("/pw"), lit("2"), -1)),
            ],
        ),
        edge(
            "add_watch_recursive",
            "recursive watch: events for the subtree, never NodeChildrenChanged; one event per connection",
            vec![LONG, LONG],
            vec![
                s(1, Op::AddWatch { path: r("/rw"), mode: 1 }),
                s(1, exw(r("/rw/a"))),
                s(0, mk("/rw")),
                s(0, mk("/rw/a")),
                s(0, mk("/rw/a/b")),
                s(0, set(r("/rw/a/b"), lit("1"), -1)),
                s(1, getw(r("/rw/a/b"))),
                s(0, set(r("/rw/a/b"), lit("2"), -1)),
                s(0, del(r("/rw/a/b"), -1)),
                s(1, Op::AddWatch { path: r("/rw"), mode: 0 }),
                s(0, mk("/rw/c")),
                s(1, Op::RemoveWatches { path: r("/rw"), wtype: 5 }),
                s(0, mk("/rw/d")),
                s(0, mk("/rw/a/e")),
                s(1, Op::RemoveWatches { path: r("/rw"), wtype: 3 }),
                s(0, mk("/rw/f")),
            ],
        ),
        edge(
            "add_watch_modes",
            "addWatch with an invalid mode gives MARSHALLINGERROR; on missing paths it is fine",
            vec![LONG],
            vec![
                s(0, Op::AddWatch { path: r("/x"), mode: 2 }),
                s(0, Op::AddWatch { path: r("/x"), mode: -1 }),
                s(0, Op::AddWatch { path: r("/x/y/z"), mode: 1 }),
                s(0, Op::AddWatch { path: r("/x//y"), mode: 0 }),
                s(0, Op::AddWatch { path: a(""), mode: 0 }),
                s(0, mk("/x")),
            ],
        ),
        edge(
            "remove_and_check_watches",
            "NOWATCHER when nothing matches; per-type removal; invalid types",
            vec![LONG, LONG],
            vec![
                s(0, mk("/rm")),
                s(1, Op::RemoveWatches { path: r("/rm"), wtype: 1 }),
                s(1, Op::RemoveWatches { path: r("/rm"), wtype: 2 }),
                s(1, Op::RemoveWatches { path: r("/rm"), wtype: 3 }),
                s(1, Op::RemoveWatches { path: r("/rm"), wtype: 4 }),
                s(1, Op::RemoveWatches { path: r("/rm"), wtype: 5 }),
                s(1, Op::CheckWatches { path: r("/rm"), wtype: 3 }),
                s(1, getw(r("/rm"))),
                s(1, Op::CheckWatches { path: r("/rm"), wtype: 2 }),
                s(1, Op::CheckWatches { path: r("/rm"), wtype: 1 }),
                s(1, Op::CheckWatches { path: r("/rm"), wtype: 3 }),
                s(1, Op::CheckWatches { path: r("/rm"), wtype: 4 }),
                s(1, Op::RemoveWatches { path: r("/rm"), wtype: 1 }),
                s(1, Op::RemoveWatches { path: r("/rm"), wtype: 2 }),
                s(0, set(r("/rm"), lit("1"), -1)),
                s(1, kidsw(r("/rm"))),
                s(1, exw(r("/rm"))),
                s(1, Op::RemoveWatches { path: r("/rm"), wtype: 3 }),
                s(0, mk("/rm/c")),
                s(1, exw(r("/rm/missing"))),
                s(1, Op::RemoveWatches { path: r("/rm/missing"), wtype: 2 }),
                s(1, Op::RemoveWatches { path: r("/rm"), wtype: 0 }),
                s(1, Op::RemoveWatches { path: r("/rm"), wtype: 6 }),
                s(1, Op::CheckWatches { path: r("/rm"), wtype: 9 }),
                s(0, del(r("/rm/c"), -1)),
            ],
        ),
        edge(
            "unknown_opcodes_close_the_connection",
            "UNIMPLEMENTED then close for unknown opcodes and top-level check",
            vec![LONG],
            vec![
                // Not pipelined with a following request: whether ZooKeeper
                // still answers a request read after an unknown opcode
                // depends on a race between its request pipeline and the
                // close it queues (both outcomes were seen).
                s(
                    0,
                    Op::Raw {
                        opcode: 999,
                        body: vec![],
                    },
                ),
                s(0, ex(r(""))),
                reopen(0),
                s(
                    0,
                    Op::Raw {
                        opcode: 0,
                        body: vec![],
                    },
                ),
                reopen(0),
                s(
                    0,
                    Op::Raw {
                        opcode: 10,
                        body: vec![],
                    },
                ),
                reopen(0),
                s(
                    0,
                    Op::Raw {
                        opcode: -10,
                        body: vec![],
                    },
                ),
                reopen(0),
                s(
                    0,
                    Op::Raw {
                        opcode: -1,
                        body: vec![],
                    },
                ),
                reopen(0),
                s(
                    0,
                    Op::CheckTop {
                        path: r(""),
                        version: -1,
                    },
                ),
                reopen(0),
                s(0, Op::Reconfig),
                s(0, ex(r(""))),
                s(0, Op::WhoAmI),
            ],
        ),
        edge(
            "malformed_bodies_keep_the_connection",
            "MARSHALLINGERROR for undecodable bodies; the connection stays open",
            vec![LONG],
            vec![
                s(
                    0,
                    Op::Raw {
                        opcode: 4,
                        body: vec![0, 0, 0, 10, b'/', b'a'],
                    },
                ),
                s(0, ex(r(""))),
                s(
                    0,
                    Op::Raw {
                        opcode: 3,
                        body: vec![],
                    },
                ),
                s(
                    0,
                    Op::Raw {
                        opcode: 1,
                        body: vec![0, 0, 0, 2, b'/', b'x'],
                    },
                ),
                s(
                    0,
                    Op::Raw {
                        opcode: 5,
                        body: {
                            let mut v = path_bool("/x", false);
                            v.pop();
                            v.extend_from_slice(&(-5i32).to_be_bytes());
                            v.extend_from_slice(&(-1i32).to_be_bytes());
                            v
                        },
                    },
                ),
                s(
                    0,
                    Op::Raw {
                        opcode: 14,
                        body: vec![0, 0, 0, 99, 0, 0xff, 0xff, 0xff, 0xff],
                    },
                ),
                s(
                    0,
                    Op::Raw {
                        opcode: 14,
                        body: vec![],
                    },
                ),
                s(
                    0,
                    Op::Raw {
                        opcode: 4,
                        body: vec![0x7f, 0xff, 0xff, 0xff, b'/'],
                    },
                ),
                s(
                    0,
                    Op::Raw {
                        opcode: 101,
                        body: vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
                    },
                ),
                s(0, ex(r(""))),
                s(
                    0,
                    Op::Raw {
                        opcode: 3,
                        body: {
                            let mut v = path_bool("/x", true);
                            v.extend_from_slice(b"trailing");
                            v
                        },
                    },
                ),
                s(0, Op::WhoAmI),
            ],
        ),
        edge(
            "frame_limits",
            "a 1,048,575-byte frame is served; one byte more closes the connection; bad lengths close",
            vec![LONG],
            vec![
                s(0, mk("/fl")),
                s(
                    0,
                    Op::SetDataFrame {
                        path: r("/fl"),
                        frame_len: 0xfffff,
                    },
                ),
                s(0, ex(r("/fl"))),
                s(
                    0,
                    Op::SetDataFrame {
                        path: r("/fl"),
                        frame_len: 0x100000,
                    },
                ),
                s(0, ex(r("/fl"))),
                reopen(0),
                s(0, ex(r("/fl"))),
                s(
                    0,
                    Op::Bytes {
                        bytes: frame_with_len(-1, &[]),
                        reply_opcode: None,
                    },
                ),
                reopen(0),
                s(
                    0,
                    Op::Bytes {
                        bytes: frame_with_len(4, &[0, 0, 0, 1]),
                        reply_opcode: None,
                    },
                ),
                reopen(0),
                s(
                    0,
                    Op::Bytes {
                        bytes: frame_with_len(0, &[]),
                        reply_opcode: None,
                    },
                ),
                reopen(0),
                s(
                    0,
                    Op::Bytes {
                        bytes: frame_with_len(0x7fff_ffff, &[0; 16]),
                        reply_opcode: None,
                    },
                ),
            ],
        ),
        edge(
            "large_data_roundtrip",
            "data just under the frame limit round-trips; a 2 MiB multiRead reply",
            vec![LONG],
            vec![
                s(
                    0,
                    c2(
                        r("/big"),
                        Data::Bytes {
                            len: 1_048_000,
                            seed: 7,
                        },
                        0,
                    ),
                ),
                s(0, get(r("/big"))),
                s(
                    0,
                    c2(
                        r("/big2"),
                        Data::Bytes {
                            len: 1_040_000,
                            seed: 9,
                        },
                        0,
                    ),
                ),
                s(
                    0,
                    Op::MultiRead(vec![
                        ROp::GetData { path: r("/big") },
                        ROp::GetData { path: r("/big2") },
                    ]),
                ),
                s(0, set(r("/big"), Data::Null, -1)),
                s(0, ex(r("/big"))),
            ],
        ),
        edge(
            "close_session_effects",
            "closeSession deletes ephemerals, fires watches, updates parent stats, then closes",
            vec![LONG, LONG],
            vec![
                s(0, mk("/cs")),
                s(0, eph("/cs/e1")),
                s(0, c1(r("/cs/e"), Data::Null, 3)),
                s(1, getw(r("/cs/e1"))),
                s(1, exw(r("/cs/e0000000001"))),
                s(1, kidsw(r("/cs"))),
                s(1, Op::AddWatch { path: r(""), mode: 1 }),
                s(0, getw(r("/cs/e1"))),
                Step::Close { session: 0 },
                s(1, kids2(r("/cs"))),
                s(1, ex(r("/cs/e1"))),
                s(1, ex(r("/cs"))),
            ],
        ),
        edge(
            "close_session_event_order",
            "the order of the NodeDeleted events when a session with several ephemerals closes or expires",
            vec![LONG, LONG, SHORT],
            {
                let mut v = vec![s(0, mk("/o"))];
                for n in ["a", "b", "c", "d", "e", "f"] {
                    v.push(s(1, eph(&format!("/o/{n}"))));
                    v.push(s(2, eph(&format!("/o/x{n}"))));
                }
                v.push(s(0, Op::AddWatch { path: r("/o"), mode: 1 }));
                v.push(Step::Close { session: 1 });
                v.push(s(0, kids2(r("/o"))));
                v.push(Step::Expire { session: 2 });
                v.push(s(0, kids2(r("/o"))));
                v
            },
        ),
        edge(
            "ephemerals_go_whatever_the_parent_acl",
            "closing or expiring a session deletes its ephemerals even where the parent's ACL denies DELETE",
            vec![LONG, LONG, SHORT],
            vec![
                s(
                    0,
                    create_with(CreateOp::Create2, r("/pa"), Data::Empty, AclSpec::World(5), 0),
                ),
                s(1, eph("/pa/e1")),
                s(2, eph("/pa/e2")),
                s(0, getw(r("/pa/e1"))),
                s(0, getw(r("/pa/e2"))),
                s(1, del(r("/pa/e1"), -1)),
                Step::Close { session: 1 },
                s(0, ex(r("/pa/e1"))),
                Step::Expire { session: 2 },
                s(0, ex(r("/pa/e2"))),
                s(0, kids2(r("/pa"))),
            ],
        ),
        edge(
            "session_expiry_effects",
            "expiry deletes ephemerals, fires watches, updates parent stats and closes the connection",
            vec![LONG, SHORT],
            vec![
                s(0, mk("/se")),
                s(1, eph("/se/e1")),
                s(1, c1(r("/se/e"), Data::Null, 3)),
                s(0, getw(r("/se/e1"))),
                s(0, kidsw(r("/se"))),
                Step::Expire { session: 1 },
                s(0, kids2(r("/se"))),
                s(0, ex(r("/se/e1"))),
                s(1, ex(r("/se"))),
            ],
        ),
        edge(
            "expiry_fires_the_sessions_own_watches",
            "an expiring session's own watches on its ephemerals fire on its connection before the server closes it",
            vec![LONG, SHORT],
            vec![
                s(0, mk("/xo")),
                s(1, eph("/xo/e")),
                s(1, exw(r("/xo/e"))),
                s(1, kidsw(r("/xo"))),
                Step::ExpireStrict { session: 1 },
                s(0, kids2(r("/xo"))),
            ],
        ),
        edge(
            "expiry_deletes_before_closing",
            "when the server closes an expired session's connection, its ephemerals are already gone",
            vec![LONG, SHORT],
            vec![
                s(0, mk("/xe")),
                s(1, eph("/xe/e")),
                Step::ExpireStrict { session: 1 },
                s(0, ex(r("/xe/e"))),
                s(0, kids2(r("/xe"))),
            ],
        ),
        edge(
            "acl_enforcement",
            "READ-only, digest and ip ACLs; NOAUTH for every op that needs a permission",
            vec![LONG, LONG],
            vec![
                s(0, mk("/acl")),
                s(
                    0,
                    create_with(CreateOp::Create2, r("/acl/r"), lit("r"), AclSpec::ReadOnly, 0),
                ),
                s(0, get(r("/acl/r"))),
                s(0, set(r("/acl/r"), lit("x"), -1)),
                s(0, c1(r("/acl/r/child"), Data::Empty, 0)),
                s(
                    0,
                    Op::SetAcl {
                        path: r("/acl/r"),
                        acl: AclSpec::Open,
                        version: -1,
                    },
                ),
                s(0, acl(r("/acl/r"))),
                s(
                    0,
                    Op::Multi(vec![MOp::SetData {
                        path: r("/acl/r"),
                        data: lit("x"),
                        version: -1,
                    }]),
                ),
                s(
                    0,
                    create_with(CreateOp::Create2, r("/acl/d"), lit("d"), AclSpec::Digest(0, 31), 0),
                ),
                s(0, get(r("/acl/d"))),
                s(0, ex(r("/acl/d"))),
                s(0, kids(r("/acl/d"))),
                s(0, acl(r("/acl/d"))),
                s(0, Op::GetAllChildrenNumber { path: r("/acl/d") }),
                s(
                    0,
                    Op::MultiRead(vec![
                        ROp::GetData { path: r("/acl/d") },
                        ROp::GetChildren { path: r("/acl/d") },
                    ]),
                ),
                s(
                    0,
                    Op::Multi(vec![MOp::Check {
                        path: r("/acl/d"),
                        version: -1,
                    }]),
                ),
                s(0, auth(0)),
                s(0, get(r("/acl/d"))),
                s(0, c1(r("/acl/d/kid"), Data::Empty, 0)),
                s(0, acl(r("/acl/d"))),
                s(1, auth(1)),
                s(1, get(r("/acl/d"))),
                s(1, del(r("/acl/d/kid"), -1)),
                s(
                    0,
                    create_with(CreateOp::Create2, r("/acl/c"), Data::Empty, AclSpec::CreatorAll, 0),
                ),
                s(1, acl(r("/acl/c"))),
                s(1, get(r("/acl/c"))),
                s(
                    1,
                    create_with(CreateOp::Create2, r("/acl/ip"), Data::Empty, AclSpec::Ip(1), 0),
                ),
                s(1, get(r("/acl/ip"))),
                s(1, set(r("/acl/ip"), lit("x"), -1)),
                s(
                    1,
                    create_with(CreateOp::Create, r("/acl/w"), Data::Empty, AclSpec::World(8), 0),
                ),
                s(1, c1(r("/acl/w/k"), Data::Empty, 0)),
                s(
                    0,
                    create_with(CreateOp::Create2, r("/acl/m"), Data::Empty, AclSpec::Mixed(1), 0),
                ),
                s(1, acl(r("/acl/m"))),
                s(
                    1,
                    create_with(CreateOp::Create2, r("/acl/m2"), Data::Empty, AclSpec::Mixed(16), 0),
                ),
                s(1, acl(r("/acl/m2"))),
                s(0, acl(r("/acl/m2"))),
                s(0, del(r("/acl/r"), -1)),
                s(
                    0,
                    create_with(CreateOp::Create, r("/acl/nd"), Data::Empty, AclSpec::World(7), 0),
                ),
                s(0, mk("/acl/nd/k")),
                s(0, del(r("/acl/nd/k"), -1)),
                s(0, Op::WhoAmI),
                s(1, Op::WhoAmI),
            ],
        ),
        edge(
            "invalid_acls",
            "INVALIDACL for empty lists, unknown ids, auth without credentials, malformed digest/ip",
            vec![LONG],
            vec![
                s(0, create_with(CreateOp::Create, r("/i1"), Data::Empty, AclSpec::Empty, 0)),
                s(0, create_with(CreateOp::Create, r("/i2"), Data::Empty, AclSpec::Invalid, 0)),
                s(0, create_with(CreateOp::Create, r("/i3"), Data::Empty, AclSpec::CreatorAll, 0)),
                s(0, create_with(CreateOp::Create, r("/i4"), Data::Empty, AclSpec::World(0), 0)),
                s(0, acl(r("/i4"))),
                s(0, create_with(CreateOp::Create, r("/i5"), Data::Empty, AclSpec::World(99), 0)),
                s(0, acl(r("/i5"))),
                s(0, create_with(CreateOp::Create, r("/missing/x"), Data::Empty, AclSpec::Empty, 0)),
                s(
                    0,
                    Op::SetAcl {
                        path: r("/i5"),
                        acl: AclSpec::Empty,
                        version: -1,
                    },
                ),
                s(
                    0,
                    Op::SetAcl {
                        path: r("/missing"),
                        acl: AclSpec::Empty,
                        version: -1,
                    },
                ),
                s(
                    0,
                    Op::SetAcl {
                        path: r("/i5"),
                        acl: AclSpec::CreatorAll,
                        version: -1,
                    },
                ),
            ],
        ),
        edge(
            "auth_failures",
            "unknown auth schemes give AUTHFAILED and close the connection",
            vec![LONG],
            vec![
                s(0, auth(0)),
                s(0, auth(0)),
                s(0, Op::WhoAmI),
                s(
                    0,
                    Op::Auth {
                        scheme: "ip".into(),
                        user: 0,
                    },
                ),
                s(0, Op::WhoAmI),
                s(
                    0,
                    Op::Auth {
                        scheme: "nosuchscheme".into(),
                        user: 0,
                    },
                ),
                s(0, ex(r(""))),
                reopen(0),
                s(
                    0,
                    Op::Auth {
                        scheme: "world".into(),
                        user: 0,
                    },
                ),
                reopen(0),
                s(
                    0,
                    Op::Auth {
                        scheme: "super".into(),
                        user: 0,
                    },
                ),
            ],
        ),
        edge(
            "create_modes_and_opcodes",
            "container and TTL opcodes/flags (TTL disabled), invalid flags",
            vec![LONG],
            vec![
                s(0, create_with(CreateOp::Container, r("/ct"), Data::Empty, AclSpec::Open, 4)),
                s(0, ex(r("/ct"))),
                s(0, create_with(CreateOp::Container, r("/ct0"), Data::Empty, AclSpec::Open, 0)),
                s(0, create_with(CreateOp::Container, r("/ct1"), Data::Empty, AclSpec::Open, 1)),
                s(0, c1(r("/f4"), Data::Empty, 4)),
                s(0, ex(r("/f4"))),
                s(0, c2(r("/f4b"), Data::Empty, 4)),
                s(0, c1(r("/f5"), Data::Empty, 5)),
                s(0, c1(r("/f6"), Data::Empty, 6)),
                s(0, c1(r("/f7"), Data::Empty, 7)),
                s(0, c1(r("/fm"), Data::Empty, -1)),
                s(0, create_with(CreateOp::Ttl, r("/ttl"), Data::Empty, AclSpec::Open, 5)),
                s(0, create_with(CreateOp::Ttl, r("/ttl"), Data::Empty, AclSpec::Open, 0)),
                s(0, ex(r(""))),
                s(
                    0,
                    Op::Multi(vec![MOp::Create {
                        op: CreateOp::Container,
                        path: r("/mct"),
                        data: Data::Empty,
                        acl: AclSpec::Open,
                        flags: 4,
                    }]),
                ),
                s(
                    0,
                    Op::Multi(vec![MOp::Create {
                        op: CreateOp::Ttl,
                        path: r("/mttl"),
                        data: Data::Empty,
                        acl: AclSpec::Open,
                        flags: 5,
                    }]),
                ),
                s(0, kids2(r(""))),
            ],
        ),
        edge(
            "delete_container_opcode",
            "deleteContainer (20): no version or ACL check; NOTEMPTY, NONODE, special nodes",
            vec![LONG],
            vec![
                s(0, mk("/dc")),
                s(0, mk("/dc/k")),
                s(0, Op::DeleteContainer { path: r("/dc") }),
                s(0, Op::DeleteContainer { path: r("/dc/k") }),
                s(0, Op::DeleteContainer { path: r("/dc/missing") }),
                s(0, eph("/dc/e")),
                s(0, Op::DeleteContainer { path: r("/dc/e") }),
                s(0, Op::DeleteContainer { path: a("/zookeeper/quota") }),
                s(0, kids2(r("/dc"))),
            ],
        ),
        edge(
            "get_all_children_number",
            "counts all descendants, not the node itself",
            vec![LONG],
            vec![
                s(0, mk("/n")),
                s(0, Op::GetAllChildrenNumber { path: r("/n") }),
                s(0, mk("/n/a")),
                s(0, mk("/n/a/b")),
                s(0, mk("/n/a/b/c")),
                s(0, mk("/n/d")),
                s(0, Op::GetAllChildrenNumber { path: r("/n") }),
                s(0, Op::GetAllChildrenNumber { path: r("/n/a") }),
                s(0, Op::GetAllChildrenNumber { path: r("/n/missing") }),
                s(0, Op::GetAllChildrenNumber { path: r("/n/") }),
                s(0, Op::GetAllChildrenNumber { path: a("/zookeeper") }),
            ],
        ),
        edge(
            "sync_echoes_the_path",
            "sync replies with the request path, whatever it is",
            vec![LONG],
            vec![
                s(0, Op::Sync { path: r("/missing") }),
                s(0, Op::Sync { path: a("no-slash") }),
                s(0, Op::Sync { path: a("") }),
                s(0, Op::Sync { path: r("//bad/") }),
            ],
        ),
        edge(
            "handshake_variants",
            "readOnly byte echo, timeout clamping, re-attach, bad password, lastZxidSeen ahead",
            vec![LONG, LONG],
            vec![
                Step::Connect {
                    session: 0,
                    kind: ConnectKind::NewWithoutReadOnly,
                },
                s(0, ex(r(""))),
                Step::Connect {
                    session: 0,
                    kind: ConnectKind::NewReadOnly,
                },
                s(0, ex(r(""))),
                Step::Connect {
                    session: 0,
                    kind: ConnectKind::NewWithTimeout(1),
                },
                s(0, ex(r(""))),
                Step::Connect {
                    session: 0,
                    kind: ConnectKind::NewWithTimeout(-5),
                },
                s(0, ex(r(""))),
                Step::Connect {
                    session: 0,
                    kind: ConnectKind::NewWithTimeout(1_000_000),
                },
                s(0, ex(r(""))),
                Step::Connect {
                    session: 0,
                    kind: ConnectKind::NewWithTimeout(4000),
                },
                s(0, eph("/hs")),
                s(0, getw(r("/hs"))),
                Step::Connect {
                    session: 0,
                    kind: ConnectKind::Resume,
                },
                s(1, set(r("/hs"), lit("x"), -1)),
                s(0, ex(r("/hs"))),
                s(0, Op::GetEphemerals { prefix: a("/") }),
                Step::Connect {
                    session: 1,
                    kind: ConnectKind::ZxidAhead,
                },
                s(1, ex(r("/hs"))),
            ],
        ),
        edge(
            "close_right_after_connect",
            "closeSession as a session's first request is a transaction like any other close",
            vec![LONG, LONG, LONG],
            vec![
                Step::Close { session: 2 },
                s(0, ex(r(""))),
                Step::Close { session: 1 },
                s(0, ex(r(""))),
                Step::Connect {
                    session: 1,
                    kind: ConnectKind::NewThenClose,
                },
                s(0, ex(r(""))),
                Step::Connect {
                    session: 2,
                    kind: ConnectKind::NewThenClose,
                },
                Step::Connect {
                    session: 1,
                    kind: ConnectKind::NewThenClose,
                },
                s(0, ex(r(""))),
            ],
        ),
        edge(
            "reattach_with_a_bad_password",
            "a wrong password gets the invalid-session reply; ZooKeeper also drops the session's current connection",
            vec![LONG, LONG],
            vec![
                s(0, eph("/bp")),
                s(1, getw(r("/bp"))),
                Step::Connect {
                    session: 0,
                    kind: ConnectKind::BadPassword,
                },
                s(0, ex(r("/bp"))),
                s(1, ex(r("/bp"))),
            ],
        ),
        edge(
            "pipelined_writes_share_a_zxid",
            "each pipelined write is its own transaction in ZooKeeper, also the failed ones",
            vec![LONG],
            vec![
                sb(
                    0,
                    vec![
                        mk("/g1"),
                        mk("/g2"),
                        set(r("/g1"), lit("x"), -1),
                        mk("/g1"),
                        mk("/g3"),
                    ],
                ),
                sb(0, vec![set(r("/missing"), lit("x"), -1), mk("/g4")]),
                s(0, kids2(r(""))),
            ],
        ),
        edge(
            "set_watches_events_follow_earlier_replies",
            "setWatches' synthesized events come after the replies to requests pipelined before it",
            vec![LONG],
            vec![
                s(0, mk("/sw")),
                sb(
                    0,
                    vec![
                        acl(r("/missing")),
                        get(r("/sw")),
                        Op::SetWatches {
                            rel: RelZ::Zero,
                            data: vec![r("/gone1"), r("/gone2"), r("/sw")],
                            exist: vec![r("/sw")],
                            child: vec![r("/gone3")],
                        },
                        ex(r("/sw")),
                    ],
                ),
            ],
        ),
        edge(
            "pipelined_requests_stay_in_order",
            "many pipelined reads and writes on one connection are answered in order",
            vec![LONG],
            vec![sb(
                0,
                vec![
                    mk("/pl"),
                    get(r("/pl")),
                    set(r("/pl"), lit("1"), 0),
                    get(r("/pl")),
                    mk("/pl/a"),
                    kids2(r("/pl")),
                    del(r("/pl/a"), -1),
                    Op::Sync { path: r("/pl") },
                    kids2(r("/pl")),
                    set(r("/pl"), lit("2"), 0),
                    get(r("/pl")),
                    Op::Multi(vec![mc("/pl/b", 0), mc("/pl/b/c", 0)]),
                    Op::GetAllChildrenNumber { path: r("/pl") },
                    del(r("/pl"), -1),
                    ex(r("/pl")),
                ],
            )],
        ),
    ]
}
