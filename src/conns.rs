//! The registry of live client connections on this instance: where
//! notifications and close requests are sent.
//!
//! Each connection has exactly one outbound queue, drained in order by its
//! writer task. Replies and notifications both go through it; that single
//! FIFO is what keeps ZooKeeper's per-connection ordering.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use dashmap::DashMap;
use jute::{Acl, Id, Record, ReplyHeader, WatcherEvent};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tokio::sync::OwnedSemaphorePermit;
use tracing::warn;

use crate::stats::ConnStats;
use crate::watches::{ConnId, Notify};

/// One of a connection's outstanding-request slots (see `conn`): taken
/// when a request is read, given back once its reply has been handed to
/// the socket, so a client that pipelines without reading stops being read.
pub type Permit = OwnedSemaphorePermit;

/// How long a closing connection may take to flush what is queued before
/// its socket is dropped: a client that never reads cannot keep it open.
pub const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// What a connection's writer task sends.
#[derive(Debug)]
pub enum Out {
    /// A complete frame, length prefix included, and the outstanding-request
    /// slot it releases once written (replies to requests carry one).
    Frame(Bytes, Option<Permit>),
    /// Flush what came before, then close the socket.
    Close,
}

/// The sending side of a connection's outbound queue. It counts the bytes
/// queued and not yet written; a connection whose client stops reading (a
/// watch storm to a stalled consumer, say) is closed once that passes the
/// limit, instead of growing memory without bound.
#[derive(Clone, Debug)]
pub struct Outbound {
    tx: UnboundedSender<Out>,
    queued: Arc<AtomicUsize>,
    limit: usize,
    overflowed: Arc<AtomicBool>,
    closing: Arc<Closing>,
}

/// When the connection was told to close, for the writer's grace period.
#[derive(Debug, Default)]
struct Closing {
    at: OnceLock<Instant>,
    notify: tokio::sync::Notify,
}

/// The receiving side, drained by the connection's writer task.
pub struct OutboundRx {
    rx: UnboundedReceiver<Out>,
    queued: Arc<AtomicUsize>,
    closing: Arc<Closing>,
}

impl Outbound {
    pub fn channel(limit: usize) -> (Outbound, OutboundRx) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let closing = Arc::new(Closing::default());
        (
            Outbound {
                tx,
                queued: queued.clone(),
                limit,
                overflowed: Arc::new(AtomicBool::new(false)),
                closing: closing.clone(),
            },
            OutboundRx {
                rx,
                queued,
                closing,
            },
        )
    }

    /// Queues a frame. Returns false if the connection is closing.
    pub fn frame(&self, f: Bytes) -> bool {
        self.send(f, None)
    }

    /// Queues the reply to a request; its outstanding-request slot is
    /// released once the writer has handed it to the socket.
    pub fn reply(&self, f: Bytes, permit: Permit) -> bool {
        self.send(f, Some(permit))
    }

    fn send(&self, f: Bytes, permit: Option<Permit>) -> bool {
        let total = self.queued.fetch_add(f.len(), Ordering::Relaxed) + f.len();
        if total > self.limit {
            if !self.overflowed.swap(true, Ordering::Relaxed) {
                warn!(
                    queued = total,
                    limit = self.limit,
                    "client is not reading its replies; closing the connection"
                );
                self.close();
            }
            self.queued.fetch_sub(f.len(), Ordering::Relaxed);
            return false;
        }
        self.tx.send(Out::Frame(f, permit)).is_ok()
    }

    /// Flushes what is queued, then closes the socket. A client that does
    /// not read gets [`CLOSE_GRACE`] for that, then the socket is dropped.
    pub fn close(&self) {
        if self.closing.at.set(Instant::now()).is_ok() {
            self.closing.notify.notify_waiters();
        }
        let _ = self.tx.send(Out::Close);
    }

    /// Resolves once the writer task is gone.
    pub async fn closed(&self) {
        self.tx.closed().await
    }
}

impl OutboundRx {
    pub async fn recv(&mut self) -> Option<Out> {
        self.rx.recv().await
    }

    pub fn try_recv(&mut self) -> Option<Out> {
        self.rx.try_recv().ok()
    }

    /// The writer wrote `n` bytes of what was queued.
    pub fn written(&self, n: usize) {
        self.queued.fetch_sub(n, Ordering::Relaxed);
    }

    /// Resolves [`CLOSE_GRACE`] after the connection was told to close:
    /// the writer gives up on a socket write still blocked by then.
    pub async fn give_up(&self) {
        loop {
            let notified = self.closing.notify.notified();
            if let Some(at) = self.closing.at.get() {
                tokio::time::sleep_until((*at + CLOSE_GRACE).into()).await;
                return;
            }
            notified.await;
        }
    }
}

struct Conn {
    tx: Outbound,
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
    pub fn register(&self, tx: Outbound, ids: Vec<Id>) -> ConnId {
        self.register_with_stats(tx, ids, None)
    }

    /// `register`, with the connection's statistics.
    pub fn register_with_stats(
        &self,
        tx: Outbound,
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
            c.tx.close();
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
        c.tx.frame(f);
    }
}
