//! The registry of live client connections on this instance: where
//! notifications and close requests are sent.
//!
//! Each connection has exactly one outbound queue, drained in order by its
//! writer task. Replies and notifications both go through it; that single
//! FIFO is what keeps ZooKeeper's per-connection ordering.

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::{Bytes, BytesMut};
use dashmap::DashMap;
use jute::{Record, ReplyHeader, WatcherEvent};
use tokio::sync::mpsc::UnboundedSender;

use crate::watches::{ConnId, Notify};

/// What a connection's writer task sends.
#[derive(Debug)]
pub enum Out {
    /// A complete frame, length prefix included.
    Frame(Bytes),
    /// Flush what came before, then close the socket.
    Close,
}

#[derive(Default)]
pub struct Conns {
    map: DashMap<ConnId, UnboundedSender<Out>>,
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
    pub fn register(&self, tx: UnboundedSender<Out>) -> ConnId {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        self.map.insert(id, tx);
        id
    }

    pub fn unregister(&self, id: ConnId) {
        self.map.remove(&id);
    }

    pub fn close(&self, id: ConnId) {
        if let Some(tx) = self.map.get(&id) {
            let _ = tx.send(Out::Close);
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
    fn notify(&self, conn: ConnId, event_type: i32, path: &str, zxid: i64) {
        let Some(tx) = self.map.get(&conn) else {
            return;
        };
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
        let _ = tx.send(Out::Frame(f));
    }
}
