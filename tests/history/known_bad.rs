//! The checker against hand-written histories: it accepts what ZooKeeper
//! allows (stale reads from another session, writes with lost replies
//! taking effect or not) and rejects each kind of anomaly it is there to
//! find, with zxid witnesses and, where the search alone must find it,
//! without them. A checker that passed everything would fail here.

use super::checker::{check, History, Op, Options, Report};
use super::model::{Call, Outcome, Ret, Stat, BAD_VERSION, NO_NODE};

const MS: u64 = 1_000_000;

/// Builds a history; times in milliseconds.
struct B {
    h: History,
}

impl B {
    fn new() -> B {
        B {
            h: History::default(),
        }
    }

    /// Adds an op of `session` (the worker is the session number).
    #[allow(clippy::too_many_arguments)]
    fn op(
        &mut self,
        session: i64,
        call: Call,
        invoke: u64,
        complete: u64,
        outcome: Outcome,
        zxid: Option<i64>,
    ) -> &mut B {
        let id = self.h.ops.len();
        self.h.ops.push(Op {
            id,
            client: session as usize,
            session,
            server: 0,
            call,
            invoke: invoke * MS,
            complete: complete * MS,
            outcome,
            zxid,
            sync_invoke: None,
            odd_code: None,
        });
        self
    }

    /// Marks the last op as a read after a sync sent at `at`.
    fn synced(&mut self, at: u64) -> &mut B {
        self.h.ops.last_mut().unwrap().sync_invoke = Some(at * MS);
        self
    }

    fn check(&self, zxids: bool) -> Report {
        let r = check(
            &self.h,
            &Options {
                zxids,
                ..Options::default()
            },
        );
        for a in &r.anomalies {
            eprintln!("[{}] {}", a.kind, a.text);
        }
        r
    }

    fn assert_ok(&self, zxids: bool) {
        let r = self.check(zxids);
        assert!(
            r.anomalies.is_empty(),
            "a valid history was rejected: {}",
            r.summary()
        );
    }

    fn assert_rejected(&self, zxids: bool, kind: &str) {
        let r = self.check(zxids);
        assert!(
            r.anomalies.iter().any(|a| a.kind == kind),
            "expected a `{kind}` anomaly, got {:?}",
            r.anomalies.iter().map(|a| a.kind).collect::<Vec<_>>()
        );
    }
}

fn create(p: &str, d: &str) -> Call {
    Call::Create {
        path: p.into(),
        data: d.as_bytes().to_vec(),
        sequential: false,
    }
}

fn create_seq(p: &str, d: &str) -> Call {
    Call::Create {
        path: p.into(),
        data: d.as_bytes().to_vec(),
        sequential: true,
    }
}

fn set(p: &str, d: &str, version: i32) -> Call {
    Call::SetData {
        path: p.into(),
        data: d.as_bytes().to_vec(),
        version,
    }
}

fn get(p: &str) -> Call {
    Call::GetData { path: p.into() }
}

fn st(d: &str, version: i32, czxid: i64, mzxid: i64) -> Stat {
    Stat {
        czxid,
        mzxid,
        pzxid: czxid,
        version,
        cversion: 0,
        num_children: 0,
        data_length: d.len() as i32,
    }
}

fn created(p: &str) -> Outcome {
    Outcome::Ok(Ret::Created(p.into()))
}

fn was_set(d: &str, version: i32, czxid: i64, mzxid: i64) -> Outcome {
    Outcome::Ok(Ret::Set(st(d, version, czxid, mzxid)))
}

fn data(d: &str, version: i32, czxid: i64, mzxid: i64) -> Outcome {
    Outcome::Ok(Ret::Data(
        d.as_bytes().to_vec(),
        st(d, version, czxid, mzxid),
    ))
}

fn fail(code: i32) -> Outcome {
    Outcome::Fail { code, index: None }
}

/// /h/x created with "a" (zxid 10), set to "b" (zxid 11) by session 1.
fn base() -> B {
    let mut b = B::new();
    b.op(1, create("/h/x", "a"), 0, 1, created("/h/x"), Some(10))
        .op(
            1,
            set("/h/x", "b", -1),
            2,
            3,
            was_set("b", 1, 10, 11),
            Some(11),
        );
    b
}

#[test]
fn accepts_a_stale_read_from_another_session() {
    // Session 2 reads "a" after "b" was acknowledged: ZooKeeper allows it
    // (its server may lag), as long as the read is not after a sync.
    let mut b = base();
    b.op(2, get("/h/x"), 4, 5, data("a", 0, 10, 10), Some(10));
    b.assert_ok(true);
    b.assert_ok(false);
}

#[test]
fn rejects_a_stale_read_after_an_acknowledged_write_of_the_same_session() {
    let mut b = base();
    b.op(1, get("/h/x"), 4, 5, data("a", 0, 10, 10), Some(10));
    b.assert_rejected(true, "session missed its own write");
    b.assert_rejected(true, "not linearizable");
    b.assert_rejected(false, "not linearizable");
}

#[test]
fn rejects_a_stale_read_after_sync() {
    let mut b = base();
    b.op(2, get("/h/x"), 5, 6, data("a", 0, 10, 10), Some(10))
        .synced(4);
    b.assert_rejected(true, "sync did not catch up");
    b.assert_rejected(true, "not linearizable");
    b.assert_rejected(false, "not linearizable");
}

#[test]
fn rejects_a_lost_compare_and_set() {
    // Two CAS on version 1 both succeed: one update is lost.
    let mut b = base();
    b.op(
        2,
        set("/h/x", "c", 1),
        4,
        6,
        was_set("c", 2, 10, 12),
        Some(12),
    )
    .op(
        3,
        set("/h/x", "d", 1),
        5,
        7,
        was_set("d", 2, 10, 13),
        Some(13),
    );
    b.assert_rejected(true, "not linearizable");
    b.assert_rejected(false, "not linearizable");
}

#[test]
fn accepts_concurrent_compare_and_set_with_one_winner() {
    let mut b = base();
    b.op(
        2,
        set("/h/x", "c", 1),
        4,
        6,
        was_set("c", 2, 10, 12),
        Some(12),
    )
    .op(3, set("/h/x", "d", 1), 5, 7, fail(BAD_VERSION), Some(12));
    b.assert_ok(true);
    b.assert_ok(false);
}

#[test]
fn rejects_duplicate_sequence_numbers() {
    let mut b = B::new();
    b.op(1, create("/h/q", "q"), 0, 1, created("/h/q"), Some(10))
        .op(
            1,
            create_seq("/h/q/n-", "n1"),
            2,
            4,
            created("/h/q/n-0000000000"),
            Some(11),
        )
        .op(
            2,
            create_seq("/h/q/n-", "n2"),
            3,
            5,
            created("/h/q/n-0000000000"),
            Some(12),
        );
    b.assert_rejected(true, "duplicate sequence number");
    b.assert_rejected(false, "not linearizable");
}

#[test]
fn accepts_sequence_numbers_in_commit_order() {
    let mut b = B::new();
    b.op(1, create("/h/q", "q"), 0, 1, created("/h/q"), Some(10))
        .op(
            1,
            create_seq("/h/q/n-", "n1"),
            2,
            6,
            created("/h/q/n-0000000001"),
            Some(12),
        )
        .op(
            2,
            create_seq("/h/q/n-", "n2"),
            3,
            5,
            created("/h/q/n-0000000000"),
            Some(11),
        )
        .op(
            3,
            Call::GetChildren {
                path: "/h/q".into(),
            },
            7,
            8,
            Outcome::Ok(Ret::Children(vec![
                "n-0000000000".into(),
                "n-0000000001".into(),
            ])),
            Some(12),
        );
    b.assert_ok(true);
    b.assert_ok(false);
}

#[test]
fn rejects_a_read_going_back_in_time() {
    // Session 2 sees "b", then "a" again.
    let mut b = base();
    b.op(2, get("/h/x"), 4, 5, data("b", 1, 10, 11), Some(11))
        .op(2, get("/h/x"), 6, 7, data("a", 0, 10, 10), Some(10));
    b.assert_rejected(true, "session went back in time");
    b.assert_rejected(true, "read went back in time");
    b.assert_rejected(false, "not linearizable");
}

#[test]
fn rejects_reads_that_disagree_with_their_zxid() {
    // Stamped zxid 11 but showing the state before zxid 11: with zxids
    // the read is pinned after the write.
    let mut b = base();
    b.op(2, get("/h/x"), 4, 5, data("a", 0, 10, 10), Some(11));
    b.assert_rejected(true, "not linearizable");
    // Without zxids it is just a stale read.
    b.assert_ok(false);
}

#[test]
fn accepts_a_lost_write_that_took_effect_and_one_that_did_not() {
    let mut b = base();
    b.op(2, set("/h/x", "c", -1), 4, 9, Outcome::Unknown, None)
        .op(3, set("/h/x", "d", 5), 4, 9, Outcome::Unknown, None)
        .op(4, get("/h/x"), 10, 11, data("c", 2, 10, 12), Some(12));
    b.assert_ok(true);
    b.assert_ok(false);
}

#[test]
fn rejects_a_lost_write_applied_after_its_session_moved_on() {
    // Session 2's first write got no reply, its second one did; the first
    // then shows up on top of the second.
    let mut b = base();
    b.op(2, set("/h/x", "c", -1), 4, 9, Outcome::Unknown, None)
        .op(
            2,
            set("/h/x", "d", -1),
            10,
            11,
            was_set("d", 2, 10, 12),
            Some(12),
        )
        .op(3, get("/h/x"), 12, 13, data("c", 3, 10, 13), Some(13));
    b.assert_rejected(true, "write applied after later ops of its session");
    b.assert_rejected(true, "not linearizable");
    b.assert_rejected(false, "not linearizable");
}

#[test]
fn rejects_data_nobody_wrote() {
    let mut b = base();
    b.op(2, get("/h/x"), 4, 5, data("zz", 2, 10, 12), Some(12));
    b.assert_rejected(true, "phantom data");
    b.assert_rejected(false, "not linearizable");
}

#[test]
fn rejects_a_write_ordered_against_real_time() {
    // "c" was acknowledged before "d" was sent, yet the reads show "c" on
    // top of "d" (and zxids say so too).
    let mut b = base();
    b.op(
        2,
        set("/h/x", "c", -1),
        4,
        5,
        was_set("c", 3, 10, 13),
        Some(13),
    )
    .op(
        3,
        set("/h/x", "d", -1),
        6,
        7,
        was_set("d", 2, 10, 12),
        Some(12),
    );
    b.assert_rejected(true, "write order against real time");
    b.assert_rejected(false, "not linearizable");
}

#[test]
fn rejects_a_failed_delete_that_should_have_succeeded() {
    let mut b = base();
    b.op(
        2,
        Call::Delete {
            path: "/h/x".into(),
            version: -1,
        },
        4,
        5,
        fail(NO_NODE),
        Some(11),
    );
    b.assert_rejected(true, "not linearizable");
    b.assert_rejected(false, "not linearizable");
}

#[test]
fn rejects_a_torn_multi() {
    // One multi sets a and b; a reader sees the new a with the old b at
    // the same zxid.
    let mut b = B::new();
    let multi = Call::Multi(vec![set("/h/m/a", "a1", -1), set("/h/m/b", "b1", -1)]);
    b.op(1, create("/h/m", "m"), 0, 1, created("/h/m"), Some(10))
        .op(1, create("/h/m/a", "a0"), 1, 2, created("/h/m/a"), Some(11))
        .op(1, create("/h/m/b", "b0"), 2, 3, created("/h/m/b"), Some(12))
        .op(1, multi, 4, 5, Outcome::Unknown, None)
        .op(2, get("/h/m/a"), 6, 7, data("a1", 1, 11, 13), Some(13))
        .op(2, get("/h/m/b"), 8, 9, data("b0", 0, 12, 12), Some(13));
    b.assert_rejected(true, "not linearizable");
    b.assert_rejected(false, "not linearizable");
}
