//! What the history checker found, pinned down. A zoe instance paused
//! with SIGSTOP, whose client moved its session to another instance,
//! resumes with requests of that session still unread in its socket, and
//! with a replica far behind etcd.
//!
//! * Those requests must not take effect: the client has moved on, and
//!   ZooKeeper applies a session's updates in the order it sent them
//!   (a server answers SESSIONMOVED to requests from a connection the
//!   session left).
//! * What the lagging instance answers must not carry a zxid from before
//!   writes that were acknowledged before the request was sent.
//!
//! A soak found one more: a node deleted and re-created in one transaction
//! (a multi, or two requests of a group-commit batch) while another
//! instance changed its data reported version 1 instead of 0.
//!
//! And what the session fix must not break: the compare on the session
//! record that every write now carries counts against etcd's
//! --max-txn-ops, so a group-commit batch must leave room for it.

use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use jute::{CreateRequest, GetDataRequest, Request, Response, SetDataRequest, SyncRequest};

use super::faults::Etcd;
use super::zk_client::{ConnectOpts, Handshake, Outcome, ZkConn};
use crate::support::{unique_prefix, EtcdServer, Zoe};

const KEYS: usize = 20;
const WAIT: Duration = Duration::from_secs(20);

fn signal(zoe: &Zoe, sig: &str) {
    let pid = zoe.pid().expect("zoe runs");
    let ok = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .expect("kill")
        .success();
    assert!(ok, "kill -{sig} {pid}");
}

async fn connect(addr: &str, session: i64, passwd: &[u8], last_zxid: i64) -> ZkConn {
    let opts = ConnectOpts {
        timeout_ms: 20_000,
        session_id: session,
        passwd: passwd.to_vec(),
        last_zxid_seen: last_zxid,
        ..ConnectOpts::default()
    };
    match ZkConn::connect(addr, &opts).await.expect("connect") {
        Handshake::Answered { conn, response, .. } => {
            assert!(response.time_out > 0, "session refused by {addr}");
            if session != 0 {
                assert_eq!(response.session_id, session, "resumed another session");
            }
            conn
        }
        _ => panic!("no handshake answer from {addr}"),
    }
}

fn set(path: &str, data: &[u8], version: i32) -> Request {
    Request::SetData(SetDataRequest {
        path: path.into(),
        data: Some(Bytes::copy_from_slice(data)),
        version,
    })
}

async fn ok(conn: &ZkConn, req: &Request) -> (i64, Response) {
    match conn.call(req, WAIT).await {
        Outcome::Reply(r) if r.header.err == 0 => (r.header.zxid, r.body.expect("decodable")),
        other => panic!("{req:?}: {other:?}"),
    }
}

#[test]
fn a_paused_instance_neither_applies_nor_misdates_a_moved_sessions_requests() {
    let etcd = EtcdServer::start();
    let prefix = unique_prefix("moved");
    let mut a = Zoe::start_with(&etcd.endpoint(), &prefix, &[]);
    let b = Zoe::start_with(&etcd.endpoint(), &prefix, &[]);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let problems = rt.block_on(async {
        let mut problems = Vec::new();
        let on_a = connect(&a.addr(), 0, &[0; 16], 0).await;
        let create = |path: String| {
            Request::Create(CreateRequest {
                path,
                data: Some(Bytes::from_static(b"0")),
                acl: jute::Acl::open_acl_unsafe(),
                flags: 0,
            })
        };
        ok(&on_a, &create("/m".into())).await;
        for i in 0..KEYS {
            ok(&on_a, &create(format!("/m/k{i}"))).await;
        }
        let (sid, pw, seen) = (on_a.session_id, on_a.passwd.clone(), on_a.last_zxid());

        // A stops; the session's next writes wait in A's socket.
        signal(&a, "STOP");
        let stale: Vec<_> = (0..KEYS)
            .map(|i| on_a.send(&set(&format!("/m/k{i}"), b"stale", -1)))
            .collect();
        tokio::time::sleep(Duration::from_millis(300)).await;

        // Others write a lot meanwhile (A will have much to catch up on
        // before it learns that the session moved); then the client gives
        // up on A and resumes its session on B.
        let other = connect(&b.addr(), 0, &[0; 16], 0).await;
        let churn = vec![b'c'; 20_000];
        let pending: Vec<_> = (0..300).map(|_| other.send(&set("/m", &churn, -1))).collect();
        for p in pending {
            match p.wait(WAIT).await {
                Outcome::Reply(r) if r.header.err == 0 => {}
                other => panic!("churn write: {other:?}"),
            }
        }
        let on_b = connect(&b.addr(), sid, &pw, seen).await;
        let (acked, _) = ok(&on_b, &set("/m/k0", b"new", -1)).await;

        signal(&a, "CONT");
        // A fresh session on A, at once: A's replica is still behind.
        let fresh = connect(&a.addr(), 0, &[0; 16], 0).await;
        match fresh.call(&set("/m/k1", b"x", 1000), WAIT).await {
            Outcome::Reply(r) => {
                assert_eq!(r.header.err, jute::ErrorCode::BadVersion as i32);
                if r.header.zxid < acked {
                    problems.push(format!(
                        "a write failed with zxid {}, older than zxid {acked} acknowledged before it was sent",
                        r.header.zxid
                    ));
                }
            }
            other => panic!("setData on the resumed instance: {other:?}"),
        }
        for p in stale {
            if let Outcome::Reply(r) = p.wait(WAIT).await {
                if r.header.err == 0 {
                    problems.push(
                        "a write of the session's old connection succeeded after the session moved"
                            .to_string(),
                    );
                }
            }
        }
        // Whatever A does with them, it does before this sync completes
        // or never (they are refused, not delayed); give it a moment too.
        tokio::time::sleep(Duration::from_secs(1)).await;
        ok(&on_b, &Request::Sync(SyncRequest { path: "/m".into() })).await;
        for i in 0..KEYS {
            let path = format!("/m/k{i}");
            let (_, body) = ok(&on_b, &Request::GetData(GetDataRequest { path: path.clone(), watch: false })).await;
            let Response::GetData(d) = body else { panic!("getData body") };
            if d.data.as_deref() == Some(&b"stale"[..]) {
                problems.push(format!(
                    "{path}: a request the session sent before it moved took effect after its later writes"
                ));
            }
        }
        problems
    });
    a.kill();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn group_commit_leaves_room_for_session_compares_in_a_batch() {
    // etcd and zoe both at etcd's default of 128 operations per
    // transaction; many sessions create nodes under distinct parents at
    // once, so batches are as large as zoe allows and share no compares.
    let etcd = Etcd::start_with_max_txn_ops(128);
    let zoe = Zoe::start_with(
        &etcd.endpoint(),
        &unique_prefix("batch"),
        &["--group-commit", "--etcd-max-txn-ops", "128"],
    );
    // (zoe admits 60 connections from one address by default.)
    const SESSIONS: usize = 50;
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let create = |path: String| {
            Request::Create(CreateRequest {
                path,
                data: Some(Bytes::from_static(b"x")),
                acl: jute::Acl::open_acl_unsafe(),
                flags: 0,
            })
        };
        let mut conns = Vec::new();
        for i in 0..SESSIONS {
            let c = connect(&zoe.addr(), 0, &[0; 16], 0).await;
            ok(&c, &create(format!("/p{i}"))).await;
            conns.push(c);
        }
        for round in 0..3 {
            let pending: Vec<_> = conns
                .iter()
                .enumerate()
                .map(|(i, c)| c.send(&create(format!("/p{i}/c{round}"))))
                .collect();
            for (i, p) in pending.into_iter().enumerate() {
                match p.wait(WAIT).await {
                    Outcome::Reply(r) if r.header.err == 0 => {}
                    other => panic!("create /p{i}/c{round} in a full batch: {other:?}"),
                }
            }
        }
    });
}

#[test]
fn a_node_deleted_and_recreated_in_one_multi_starts_at_version_zero() {
    // One instance re-creates /x in a multi while another changes its
    // data: when the multi was planned before the setData reached its
    // replica, the re-created node used to report version 1.
    let etcd = EtcdServer::start();
    let prefix = unique_prefix("recreate");
    let a = Zoe::start_with(&etcd.endpoint(), &prefix, &[]);
    let b = Zoe::start_with(&etcd.endpoint(), &prefix, &[]);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let on_a = connect(&a.addr(), 0, &[0; 16], 0).await;
        let on_b = connect(&b.addr(), 0, &[0; 16], 0).await;
        let create = |data: &'static [u8]| jute::CreateRequest {
            path: "/x".into(),
            data: Some(Bytes::from_static(data)),
            acl: jute::Acl::open_acl_unsafe(),
            flags: 0,
        };
        ok(&on_a, &Request::Create(create(b"first"))).await;
        for round in 0..150 {
            let multi = Request::Multi(jute::MultiRequest {
                ops: vec![
                    jute::MultiOp::Delete(jute::DeleteRequest {
                        path: "/x".into(),
                        version: -1,
                    }),
                    jute::MultiOp::Create(create(b"again")),
                ],
            });
            let set = on_b.send(&set("/x", b"changed", -1));
            let recreated = on_a.send(&multi);
            let _ = set.wait(WAIT).await;
            let _ = recreated.wait(WAIT).await;
            ok(&on_b, &Request::Sync(SyncRequest { path: "/x".into() })).await;
            let (_, body) = ok(
                &on_b,
                &Request::GetData(GetDataRequest {
                    path: "/x".into(),
                    watch: false,
                }),
            )
            .await;
            let Response::GetData(d) = body else {
                panic!("getData body")
            };
            // Either order is fine; but a node whose data is still the
            // multi's was created by it and never changed since.
            if d.data.as_deref() == Some(&b"again"[..]) {
                assert_eq!(
                    d.stat.version, 0,
                    "round {round}: re-created node at version {}",
                    d.stat.version
                );
            }
        }
    });
}
