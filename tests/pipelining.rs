//! Pipelined requests on one connection and concurrent writers on many:
//! replies come back in request order with monotonic zxids, a read after
//! writes sees them, and writes grouped into one etcd transaction keep
//! ZooKeeper's results (unique sequential names, exact versions).

#[path = "support/raw_conn.rs"]
mod raw_conn;
mod support;

use std::time::Duration;

use bytes::Bytes;
use jute::{
    CreateRequest, GetChildrenRequest, GetChildrenResponse, GetDataRequest, Record, Request,
    SetDataRequest,
};
use raw_conn::RawConn;
use support::{EtcdServer, Zoe};

fn create(path: &str, flags: i32) -> Request {
    Request::Create(CreateRequest {
        path: path.into(),
        data: Some(Bytes::from_static(b"d")),
        acl: jute::Acl::open_acl_unsafe(),
        flags,
    })
}

#[test]
fn pipelined_writes_then_read_on_one_connection() {
    let etcd = EtcdServer::start();
    let zoe = Zoe::start_with(
        &etcd.endpoint(),
        &support::unique_prefix("pipe"),
        &["--group-commit"],
    );
    let mut c = RawConn::open(&zoe.addr(), 10_000, Duration::from_secs(20));
    c.send(1, &create("/p", 0));
    let n = 200;
    for i in 0..n {
        c.send(2 + i, &create(&format!("/p/n{i}"), 0));
    }
    // Ten setData on one node, each expecting the version the previous one
    // produced: only correct if they apply in order.
    for v in 0..10 {
        c.send(
            1000 + v,
            &Request::SetData(SetDataRequest {
                path: "/p".into(),
                data: Some(Bytes::from(format!("v{v}"))),
                version: v,
            }),
        );
    }
    c.send(
        5000,
        &Request::GetChildren(GetChildrenRequest {
            path: "/p".into(),
            watch: false,
        }),
    );
    c.send(
        5001,
        &Request::GetData(GetDataRequest {
            path: "/p".into(),
            watch: false,
        }),
    );
    let mut last_zxid = 0;
    let mut expect = vec![1];
    expect.extend(2..2 + n);
    expect.extend(1000..1010);
    expect.extend([5000, 5001]);
    let mut children = None;
    for want in expect {
        let (h, body) = c.reply();
        assert_eq!(h.xid, want, "replies in request order");
        assert_eq!(h.err, 0, "xid {want}");
        assert!(h.zxid >= last_zxid, "zxids never go back");
        last_zxid = h.zxid;
        if want == 5000 {
            children = Some(GetChildrenResponse::decode(body).unwrap().children);
        } else if want == 5001 {
            let r = jute::GetDataResponse::decode(body).unwrap();
            assert_eq!(r.data.as_deref(), Some(&b"v9"[..]));
            assert_eq!(r.stat.version, 10);
            assert_eq!(r.stat.num_children, n);
            assert_eq!(r.stat.cversion, n);
        }
    }
    assert_eq!(children.unwrap().len(), n as usize);
}

#[test]
fn concurrent_sequential_creates_stay_unique_and_ordered() {
    let etcd = EtcdServer::start();
    let zoe = Zoe::start_with(
        &etcd.endpoint(),
        &support::unique_prefix("pipe"),
        &["--group-commit"],
    );
    let addr = zoe.addr();
    let mut setup = RawConn::open(&addr, 10_000, Duration::from_secs(20));
    setup.send(1, &create("/q", 0));
    assert_eq!(setup.reply().0.err, 0);
    let per = 100;
    let workers: Vec<_> = (0..6)
        .map(|w| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                let mut c = RawConn::open(&addr, 10_000, Duration::from_secs(20));
                for i in 0..per {
                    c.send(i, &create(&format!("/q/w{w}-"), 2));
                }
                let mut names = Vec::new();
                for i in 0..per {
                    let (h, body) = c.reply();
                    assert_eq!((h.xid, h.err), (i, 0));
                    names.push(jute::CreateResponse::decode(body).unwrap().path);
                }
                names
            })
        })
        .collect();
    let mut all = Vec::new();
    for w in workers {
        let names = w.join().unwrap();
        let seqs: Vec<u64> = names
            .iter()
            .map(|n| n[n.len() - 10..].parse().unwrap())
            .collect();
        assert!(
            seqs.windows(2).all(|p| p[0] < p[1]),
            "one connection's sequence numbers increase"
        );
        all.extend(seqs);
    }
    all.sort();
    let expected: Vec<u64> = (0..6 * per as u64).collect();
    assert_eq!(all, expected, "every number used once, none skipped");
}

#[test]
fn pipelined_large_writes_fit_etcd_request_limits() {
    let etcd = EtcdServer::start();
    let zoe = Zoe::start_with(
        &etcd.endpoint(),
        &support::unique_prefix("pipe"),
        &["--group-commit"],
    );
    let mut c = RawConn::open(&zoe.addr(), 10_000, Duration::from_secs(20));
    // Eight writes of ~900 KB queued at once: grouped naively they would
    // exceed etcd's 1.5 MiB request limit.
    let big = Bytes::from(vec![b'z'; 900_000]);
    for i in 0..8 {
        c.send(
            i,
            &Request::Create(CreateRequest {
                path: format!("/big{i}"),
                data: Some(big.clone()),
                acl: jute::Acl::open_acl_unsafe(),
                flags: 0,
            }),
        );
    }
    for i in 0..8 {
        let (h, _) = c.reply();
        assert_eq!((h.xid, h.err), (i, 0));
    }
    c.send(
        100,
        &Request::GetData(GetDataRequest {
            path: "/big7".into(),
            watch: false,
        }),
    );
    let (h, body) = c.reply();
    assert_eq!(h.err, 0);
    assert_eq!(
        jute::GetDataResponse::decode(body)
            .unwrap()
            .data
            .unwrap()
            .len(),
        900_000
    );
}
