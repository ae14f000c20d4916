//! proptest strategies for random cases.
//!
//! Paths come from a small alphabet (`model::VALID`, `SEQ`, `INVALID`) so
//! that ops collide: NodeExists, NoNode, NotEmpty, BadVersion,
//! NoChildrenForEphemerals (children of `/e`), invalid paths, sequential
//! names that later ops address directly. Data goes from null and empty to
//! near 1 MiB (rarely). Several sessions take turns in a fixed order; a
//! step may pipeline a few ops on one connection.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::strategy::{BoxedStrategy, Union};

use crate::model::*;

/// Session timeout of random sessions (ms): short, so that expiring one
/// is cheap, and well above the ping interval (a third of it).
pub const SESSION_TIMEOUT_MS: i32 = 1500;

/// Weight of each `VALID` path: shallow paths more often, so that trees
/// grow and deeper ops find their parents.
fn valid_weight(p: &str) -> u32 {
    match p.matches('/').count() {
        0 => 1,
        1 if p.ends_with("0000000000") => 1,
        1 => 5,
        2 if p.contains("000000") => 1,
        2 => 3,
        _ => 1,
    }
}

fn path_valid() -> BoxedStrategy<P> {
    let arms: Vec<(u32, BoxedStrategy<P>)> = VALID
        .iter()
        .enumerate()
        .map(|(i, p)| (valid_weight(p), Just(P::V(i)).boxed()))
        .collect();
    Union::new_weighted(arms).boxed()
}

fn path_any() -> BoxedStrategy<P> {
    Union::new_weighted(vec![
        (14, path_valid()),
        (2, (0..SEQ.len()).prop_map(P::S).boxed()),
        (1, (0..INVALID.len()).prop_map(P::I).boxed()),
    ])
    .boxed()
}

fn path_create() -> BoxedStrategy<P> {
    Union::new_weighted(vec![
        (10, path_valid()),
        (5, (0..SEQ.len()).prop_map(P::S).boxed()),
        (1, (0..INVALID.len()).prop_map(P::I).boxed()),
    ])
    .boxed()
}

fn data_small() -> BoxedStrategy<Data> {
    Union::new_weighted(vec![
        (3, Just(Data::Null).boxed()),
        (3, Just(Data::Empty).boxed()),
        (
            10,
            (1u32..24, any::<u8>())
                .prop_map(|(len, seed)| Data::Bytes { len, seed })
                .boxed(),
        ),
        (
            2,
            (100u32..4096, any::<u8>())
                .prop_map(|(len, seed)| Data::Bytes { len, seed })
                .boxed(),
        ),
    ])
    .boxed()
}

/// Mostly small; about 1 in 150 is large, up to just under the 1 MiB frame
/// limit (with the longest path and ACL of the alphabet).
fn data_any() -> BoxedStrategy<Data> {
    let large = (
        prop_oneof![
            Just(1_048_000u32),
            Just(1_000_000u32),
            Just(700_000u32),
            65_536u32..400_000
        ],
        any::<u8>(),
    )
        .prop_map(|(len, seed)| Data::Bytes { len, seed });
    Union::new_weighted(vec![(150, data_small()), (1, large.boxed())]).boxed()
}

fn version() -> BoxedStrategy<i32> {
    prop_oneof![6 => Just(-1), 4 => 0..3i32, 1 => 3..8i32, 1 => Just(-2)].boxed()
}

fn acl() -> BoxedStrategy<AclSpec> {
    Union::new_weighted(vec![
        (20, Just(AclSpec::Open).boxed()),
        (2, Just(AclSpec::ReadOnly).boxed()),
        (2, Just(AclSpec::CreatorAll).boxed()),
        (2, (0..32i32).prop_map(AclSpec::World).boxed()),
        (
            2,
            (0..2usize, 0..32i32)
                .prop_map(|(u, p)| AclSpec::Digest(u, p))
                .boxed(),
        ),
        (1, (0..32i32).prop_map(AclSpec::Ip).boxed()),
        (1, (0..32i32).prop_map(AclSpec::Mixed).boxed()),
        (1, Just(AclSpec::Invalid).boxed()),
        (1, Just(AclSpec::Empty).boxed()),
    ])
    .boxed()
}

fn flags() -> BoxedStrategy<i32> {
    prop_oneof![24 => 0..4i32, 1 => Just(4), 1 => Just(5), 1 => Just(-1), 1 => Just(7)].boxed()
}

fn create_op() -> BoxedStrategy<CreateOp> {
    prop_oneof![
        10 => Just(CreateOp::Create),
        10 => Just(CreateOp::Create2),
        1 => Just(CreateOp::Container),
        1 => Just(CreateOp::Ttl)
    ]
    .boxed()
}

/// A sequential create of the base path itself would create a sibling of
/// the base numbered by the root's counter, which every case shares: keep
/// cases independent (the base then gives NODEEXISTS).
fn no_seq_at_base(path: &P, flags: i32) -> i32 {
    if *path == P::V(0) && (flags == 2 || flags == 3 || flags == 6) {
        flags & 1
    } else {
        flags
    }
}

fn create(data: BoxedStrategy<Data>) -> BoxedStrategy<Op> {
    (create_op(), path_create(), data, acl(), flags())
        .prop_map(|(op, path, data, acl, flags)| {
            // Containers are made with flag 4 most of the time.
            let flags = if op == CreateOp::Container && flags < 2 {
                4
            } else {
                flags
            };
            let flags = no_seq_at_base(&path, flags);
            Op::Create {
                op,
                path,
                data,
                acl,
                flags,
            }
        })
        .boxed()
}

fn mop() -> BoxedStrategy<MOp> {
    let create = (
        prop_oneof![Just(CreateOp::Create), Just(CreateOp::Create2)],
        path_create(),
        data_small(),
        acl(),
        flags(),
    )
        .prop_map(|(op, path, data, acl, flags)| MOp::Create {
            op,
            flags: no_seq_at_base(&path, flags),
            path,
            data,
            acl,
        });
    Union::new_weighted(vec![
        (6, create.boxed()),
        (
            4,
            (path_any(), version())
                .prop_map(|(path, version)| MOp::Delete { path, version })
                .boxed(),
        ),
        (
            4,
            (path_any(), data_small(), version())
                .prop_map(|(path, data, version)| MOp::SetData {
                    path,
                    data,
                    version,
                })
                .boxed(),
        ),
        (
            3,
            (path_any(), version())
                .prop_map(|(path, version)| MOp::Check { path, version })
                .boxed(),
        ),
        (
            1,
            path_valid().prop_map(|path| MOp::GetData { path }).boxed(),
        ),
    ])
    .boxed()
}

fn rop() -> BoxedStrategy<ROp> {
    Union::new_weighted(vec![
        (5, path_any().prop_map(|path| ROp::GetData { path }).boxed()),
        (
            5,
            path_any()
                .prop_map(|path| ROp::GetChildren { path })
                .boxed(),
        ),
        (
            1,
            (path_valid(), version())
                .prop_map(|(path, version)| ROp::Check { path, version })
                .boxed(),
        ),
    ])
    .boxed()
}

fn relz() -> BoxedStrategy<RelZ> {
    prop_oneof![1 => Just(RelZ::Zero), 3 => (0..4usize).prop_map(RelZ::Back)].boxed()
}

fn plist() -> BoxedStrategy<Vec<P>> {
    vec(path_valid(), 0..3).boxed()
}

/// Any op that may be pipelined (auth is not: ZooKeeper answers it out of
/// band, ahead of replies still in its pipeline).
fn op() -> BoxedStrategy<Op> {
    let b = any::<bool>;
    Union::new_weighted(vec![
        (24, create(data_any())),
        (
            8,
            (path_any(), version())
                .prop_map(|(path, version)| Op::Delete { path, version })
                .boxed(),
        ),
        (
            6,
            (path_any(), b())
                .prop_map(|(path, watch)| Op::Exists { path, watch })
                .boxed(),
        ),
        (
            6,
            (path_any(), b())
                .prop_map(|(path, watch)| Op::GetData { path, watch })
                .boxed(),
        ),
        (
            3,
            (path_any(), b())
                .prop_map(|(path, watch)| Op::GetChildren { path, watch })
                .boxed(),
        ),
        (
            3,
            (path_any(), b())
                .prop_map(|(path, watch)| Op::GetChildren2 { path, watch })
                .boxed(),
        ),
        (
            8,
            (path_any(), data_any(), version())
                .prop_map(|(path, data, version)| Op::SetData {
                    path,
                    data,
                    version,
                })
                .boxed(),
        ),
        (2, path_any().prop_map(|path| Op::GetAcl { path }).boxed()),
        (
            2,
            (path_any(), acl(), version())
                .prop_map(|(path, acl, version)| Op::SetAcl { path, acl, version })
                .boxed(),
        ),
        (1, path_any().prop_map(|path| Op::Sync { path }).boxed()),
        (
            6,
            prop_oneof![1 => Just(vec![]), 12 => vec(mop(), 1..5)]
                .prop_map(Op::Multi)
                .boxed(),
        ),
        (2, vec(rop(), 0..4).prop_map(Op::MultiRead).boxed()),
        (
            1,
            path_any()
                .prop_map(|path| Op::GetAllChildrenNumber { path })
                .boxed(),
        ),
        (
            1,
            prop_oneof![3 => path_any(), 1 => Just(P::Abs(String::new())), 1 => Just(P::Abs("/".into()))]
                .prop_map(|prefix| Op::GetEphemerals { prefix })
                .boxed(),
        ),
        (
            3,
            (
                prop_oneof![2 => Just(P::V(0)), 3 => path_any()],
                prop_oneof![6 => 0..2i32, 1 => Just(2)],
            )
                .prop_map(|(path, mode)| Op::AddWatch { path, mode })
                .boxed(),
        ),
        (
            2,
            (path_any(), prop_oneof![10 => 1..6i32, 1 => Just(0)])
                .prop_map(|(path, wtype)| Op::RemoveWatches { path, wtype })
                .boxed(),
        ),
        (
            1,
            (path_any(), prop_oneof![10 => 1..6i32, 1 => Just(9)])
                .prop_map(|(path, wtype)| Op::CheckWatches { path, wtype })
                .boxed(),
        ),
        (
            1,
            (relz(), plist(), plist(), plist())
                .prop_map(|(rel, data, exist, child)| Op::SetWatches {
                    rel,
                    data,
                    exist,
                    child,
                })
                .boxed(),
        ),
        (
            1,
            (relz(), plist(), plist(), plist(), plist(), plist())
                .prop_map(
                    |(rel, data, exist, child, persistent, recursive)| Op::SetWatches2 {
                        rel,
                        data,
                        exist,
                        child,
                        persistent,
                        recursive,
                    },
                )
                .boxed(),
        ),
        (1, Just(Op::WhoAmI).boxed()),
    ])
    .boxed()
}

fn step() -> BoxedStrategy<Step> {
    let session = 0..3usize;
    let auth = (session.clone(), 0..2usize).prop_map(|(session, user)| Step::Batch {
        session,
        ops: vec![Op::Auth {
            scheme: "digest".into(),
            user,
        }],
    });
    Union::new_weighted(vec![
        (
            80,
            (session.clone(), op())
                .prop_map(|(session, op)| Step::Batch {
                    session,
                    ops: vec![op],
                })
                .boxed(),
        ),
        (
            8,
            (session.clone(), vec(op(), 2..5))
                .prop_map(|(session, ops)| Step::Batch { session, ops })
                .boxed(),
        ),
        (2, auth.boxed()),
        (
            2,
            session
                .clone()
                .prop_map(|session| Step::Close { session })
                .boxed(),
        ),
        (
            1,
            session
                .clone()
                .prop_map(|session| Step::Expire { session })
                .boxed(),
        ),
        (
            2,
            session
                .prop_map(|session| Step::Connect {
                    session,
                    kind: ConnectKind::Resume,
                })
                .boxed(),
        ),
    ])
    .boxed()
}

fn open_acls(op: &mut Op) {
    let fix = |a: &mut AclSpec| *a = AclSpec::Open;
    match op {
        Op::Create { acl, .. } | Op::SetAcl { acl, .. } => fix(acl),
        Op::Multi(ops) => {
            for o in ops {
                if let MOp::Create { acl, .. } = o {
                    fix(acl)
                }
            }
        }
        _ => {}
    }
}

/// A whole case: 2 or 3 sessions and up to `max_steps` steps. In about two
/// thirds of the cases every ACL is OPEN_ACL_UNSAFE, so that permission
/// checks do not mask everything else.
pub fn case(max_steps: usize) -> BoxedStrategy<Case> {
    (
        2..=3usize,
        prop::bool::weighted(0.35),
        vec(step(), 1..max_steps),
    )
        .prop_map(|(n, restrict_acls, mut steps)| {
            for s in &mut steps {
                match s {
                    Step::Batch { session, ops } => {
                        *session %= n;
                        if !restrict_acls {
                            ops.iter_mut().for_each(open_acls);
                        }
                    }
                    Step::Close { session }
                    | Step::Expire { session }
                    | Step::ExpireStrict { session }
                    | Step::Connect { session, .. } => *session %= n,
                }
            }
            Case {
                sessions: vec![
                    SessionSpec {
                        timeout_ms: SESSION_TIMEOUT_MS
                    };
                    n
                ],
                steps,
            }
        })
        .boxed()
}
