//! The registry of live client connections on this instance: where
//! notifications and close requests are sent.
//!
//! Each connection has exactly one outbound queue, drained in order by its
//! writer task. Replies and notifications both go through it; that single
//! FIFO is what keeps ZooKeeper's per-connection ordering.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use dashmap::DashMap;
use jute::{Acl, Id, Record, ReplyHeader, WatcherEvent};
use tokio::sync::mpsc::UnboundedSender;

use crate::stats::ConnStats;
use crate::watches::{ConnId, Notify};

/// What a connection's writer task sends.
#[derive(Debug)]
pub enum Out {
    /// A complete frame, length prefix included.
    Frame(Bytes),
    /// Flush what came before, then close the socket.
    Close,
}

struct Conn {
    tx: UnboundedSender<Out>,
    /// The connection's identities, for filtering notifications by ACL.
    ids: Vec<Id>,
    /// Counters for the `cons`/`stat` words and the admin server.
    stats: Option<Arc<ConnStats>>,
}

#[derive(Default)]
pub struct Conns {
    map: DashMap<ConnId, Conn>,
    next: AtomicU64,
}

/// Encodes `ReplyHeader` + optional body as one length-prefixed frame.
pub fn frame(header: &ReplyHeader, body: Option<&dyn Fn(&mut BytesMut)>) -> Bytes {
    let mut out = BytesMut::with_capacity(64);
    out.extend_from_slice(&[0, 0, 0, 0]);
    header.write(&mut out);
    if let Some(b) = body {
        b(&mut out);
    }
    let len = (out.len() - 4) as u32;
    out[..4].copy_from_slice(&len.to_be_bytes());
    out.freeze()
}

impl Conns {
    pub fn register(&self, tx: UnboundedSender<Out>, ids: Vec<Id>) -> ConnId {
        self.register_with_stats(tx, ids, None)
    }

    /// `register`, with the connection's statistics.
    pub fn register_with_stats(
        &self,
        tx: UnboundedSender<Out>,
        ids: Vec<Id>,
        stats: Option<Arc<ConnStats>>,
    ) -> ConnId {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        self.map.insert(id, Conn { tx, ids, stats });
        id
    }

    /// Statistics of every connection that has them.
    pub fn stats(&self) -> Vec<(ConnId, Arc<ConnStats>)> {
        self.map
            .iter()
            .filter_map(|c| c.stats.clone().map(|s| (*c.key(), s)))
            .collect()
    }

    /// Ids of every registered connection.
    pub fn ids(&self) -> Vec<ConnId> {
        self.map.iter().map(|c| *c.key()).collect()
    }

    pub fn set_ids(&self, id: ConnId, ids: Vec<Id>) {
        if let Some(mut c) = self.map.get_mut(&id) {
            c.ids = ids;
        }
    }

    pub fn unregister(&self, id: ConnId) {
        self.map.remove(&id);
    }

    pub fn close(&self, id: ConnId) {
        if let Some(c) = self.map.get(&id) {
            let _ = c.tx.send(Out::Close);
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

impl Notify for Conns {
    fn notify(&self, conn: ConnId, event_type: i32, path: &str, zxid: i64, acl: Option<&[Acl]>) {
        let Some(c) = self.map.get(&conn) else {
            return;
        };
        if let Some(acl) = acl {
            if !crate::acl::allowed(acl, jute::perms::READ, &c.ids) {
                return;
            }
        }
        let header = ReplyHeader {
            xid: jute::xid::NOTIFICATION,
            zxid,
            err: 0,
        };
        let event = WatcherEvent {
            event_type,
            state: jute::KeeperState::SyncConnected as i32,
            path: path.to_string(),
        };
        let f = frame(&header, Some(&|out: &mut BytesMut| event.write(out)));
        let _ = c.tx.send(Out::Frame(f));
    }
}
