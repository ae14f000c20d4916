//! ZooKeeper-style statistics: per connection (the `cons` word, reset by
//! `crst`) and for the whole server (`srvr`/`mntr`, reset by `srst`).
//! The connection code feeds them with one call per event; everything here
//! is lock-free except the latency record, which is one small mutex per
//! connection.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicI32, AtomicI64, AtomicU64, Ordering};
use std::time::Instant;

use parking_lot::Mutex;

use crate::session::now_ms;

/// ZooKeeper's short names of the last operation (`lop=` in `cons`).
pub fn short_op(op: i32) -> &'static str {
    match op {
        11 => "PING",
        -10 => "SESS",
        14 => "MULT",
        22 => "MLTR",
        1 | 15 | 19 | 21 => "CREA",
        2 | 20 => "DELE",
        5 => "SETD",
        16 => "RECO",
        7 => "SETA",
        -11 => "CLOS",
        9 => "SYNC",
        13 => "CHEC",
        3 => "EXIS",
        4 => "GETD",
        101 => "SETW",
        105 => "STW2",
        106 => "ADDW",
        6 => "GETA",
        8 | 12 => "GETC",
        104 => "GETACN",
        17 => "CHKW",
        18 => "REMW",
        107 => "HOMI",
        103 => "GETE",
        _ => "NA",
    }
}

/// min/avg/max latency in milliseconds, plus the last one.
#[derive(Debug, Clone, Copy)]
pub struct Latency {
    pub last: u64,
    pub min: u64,
    pub max: u64,
    pub total: u64,
    pub count: u64,
}

impl Default for Latency {
    fn default() -> Self {
        Latency {
            last: 0,
            min: u64::MAX,
            max: 0,
            total: 0,
            count: 0,
        }
    }
}

impl Latency {
    pub fn record(&mut self, ms: u64) {
        self.last = ms;
        self.min = self.min.min(ms);
        self.max = self.max.max(ms);
        self.total += ms;
        self.count += 1;
    }

    pub fn min(&self) -> u64 {
        if self.count == 0 {
            0
        } else {
            self.min
        }
    }

    /// Average as ZooKeeper's srvr shows it (a double).
    pub fn avg(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.total as f64 / self.count as f64
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Last {
    op: &'static str,
    cxid: i64,
    zxid: i64,
    resp_ms: i64,
    lat: Latency,
}

impl Default for Last {
    fn default() -> Self {
        Last {
            op: "NA",
            cxid: -1,
            zxid: -1,
            resp_ms: 0,
            lat: Latency::default(),
        }
    }
}

/// The counters of one client connection.
#[derive(Debug)]
pub struct ConnStats {
    pub peer: SocketAddr,
    pub secure: bool,
    /// Wall-clock ms when the connection was accepted.
    pub established_ms: i64,
    session_id: AtomicI64,
    timeout_ms: AtomicI32,
    received: AtomicU64,
    sent: AtomicU64,
    outstanding: AtomicI64,
    last: Mutex<Last>,
}

/// A snapshot of one connection, for `cons` and the admin server.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub peer: SocketAddr,
    pub secure: bool,
    pub established_ms: i64,
    pub session_id: i64,
    pub timeout_ms: i32,
    pub received: u64,
    pub sent: u64,
    pub outstanding: i64,
    pub last_op: &'static str,
    pub last_cxid: i64,
    pub last_zxid: i64,
    pub last_resp_ms: i64,
    pub latency: Latency,
}

impl ConnStats {
    pub fn new(peer: SocketAddr, secure: bool) -> ConnStats {
        ConnStats {
            peer,
            secure,
            established_ms: now_ms(),
            session_id: AtomicI64::new(0),
            timeout_ms: AtomicI32::new(0),
            received: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            outstanding: AtomicI64::new(0),
            last: Mutex::new(Last::default()),
        }
    }

    pub fn set_session(&self, id: i64, timeout_ms: i32) {
        self.session_id.store(id, Ordering::Relaxed);
        self.timeout_ms.store(timeout_ms, Ordering::Relaxed);
    }

    pub fn session_id(&self) -> i64 {
        self.session_id.load(Ordering::Relaxed)
    }

    /// A frame arrived from the client.
    pub fn received(&self) {
        self.received.fetch_add(1, Ordering::Relaxed);
        crate::metrics::global().packet_received();
    }

    /// A request was queued for processing.
    pub fn queued(&self) {
        self.outstanding.fetch_add(1, Ordering::Relaxed);
    }

    pub fn outstanding(&self) -> i64 {
        self.outstanding.load(Ordering::Relaxed)
    }

    /// A request (or ping) was answered; `started` is when it was read.
    pub fn done(&self, op: i32, xid: i32, started: Instant, queued: bool) {
        if queued {
            self.outstanding.fetch_sub(1, Ordering::Relaxed);
        }
        let elapsed = started.elapsed();
        let ms = elapsed.as_millis() as u64;
        {
            let mut l = self.last.lock();
            l.op = short_op(op);
            if xid >= 0 {
                l.cxid = xid as i64;
            }
            l.resp_ms = now_ms();
            l.lat.record(ms);
        }
        crate::metrics::global().request_done(op, elapsed);
    }

    /// A frame is going out; `reply` tells whether it carries a
    /// ReplyHeader (everything but the ConnectResponse).
    pub fn sent(&self, frame: &[u8], reply: bool) {
        self.sent.fetch_add(1, Ordering::Relaxed);
        crate::metrics::global().packet_sent();
        if reply && frame.len() >= 20 {
            let xid = i32::from_be_bytes(frame[4..8].try_into().expect("4 bytes"));
            let zxid = i64::from_be_bytes(frame[8..16].try_into().expect("8 bytes"));
            let err = i32::from_be_bytes(frame[16..20].try_into().expect("4 bytes"));
            if xid != jute::xid::NOTIFICATION {
                self.last.lock().zxid = zxid;
                if err != 0 {
                    crate::metrics::global().reply_error(err);
                }
            }
        }
    }

    /// `crst`.
    pub fn reset(&self) {
        self.received.store(0, Ordering::Relaxed);
        self.sent.store(0, Ordering::Relaxed);
        *self.last.lock() = Last::default();
    }

    pub fn info(&self) -> ConnInfo {
        let l = *self.last.lock();
        ConnInfo {
            peer: self.peer,
            secure: self.secure,
            established_ms: self.established_ms,
            session_id: self.session_id(),
            timeout_ms: self.timeout_ms.load(Ordering::Relaxed),
            received: self.received.load(Ordering::Relaxed),
            sent: self.sent.load(Ordering::Relaxed),
            outstanding: self.outstanding().max(0),
            last_op: l.op,
            last_cxid: l.cxid,
            last_zxid: l.zxid,
            last_resp_ms: l.resp_ms,
            latency: l.lat,
        }
    }
}

impl ConnInfo {
    /// One `cons` line (leading space, no newline); `interest` is the
    /// bracketed number ZooKeeper shows (1 while reading).
    pub fn cons_line(&self, full: bool, interest: u8) -> String {
        let mut s = format!(
            " /{}[{}](queued={},recved={},sent={}",
            self.peer, interest, self.outstanding, self.received, self.sent
        );
        if full && self.session_id != 0 {
            s.push_str(&format!(
                ",sid=0x{:x},lop={},est={},to={}",
                self.session_id, self.last_op, self.established_ms, self.timeout_ms
            ));
            if self.last_cxid >= 0 {
                s.push_str(&format!(",lcxid=0x{:x}", self.last_cxid));
            }
            let lat = &self.latency;
            let avg = lat.total.checked_div(lat.count).unwrap_or(0);
            s.push_str(&format!(
                ",lzxid=0x{:x},lresp={},llat={},minlat={},avglat={},maxlat={}",
                self.last_zxid,
                self.last_resp_ms,
                lat.last,
                lat.min(),
                avg,
                lat.max
            ));
        }
        s.push(')');
        s
    }
}

/// Server-wide counters that `srst` resets. Atomics only: every request
/// of every connection updates them.
#[derive(Debug)]
pub struct ServerStats {
    pub received: AtomicU64,
    pub sent: AtomicU64,
    lat_last: AtomicU64,
    lat_min: AtomicU64,
    lat_max: AtomicU64,
    lat_total: AtomicU64,
    lat_count: AtomicU64,
}

impl Default for ServerStats {
    fn default() -> Self {
        ServerStats {
            received: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            lat_last: AtomicU64::new(0),
            lat_min: AtomicU64::new(u64::MAX),
            lat_max: AtomicU64::new(0),
            lat_total: AtomicU64::new(0),
            lat_count: AtomicU64::new(0),
        }
    }
}

impl ServerStats {
    pub fn record_latency(&self, ms: u64) {
        self.lat_last.store(ms, Ordering::Relaxed);
        self.lat_min.fetch_min(ms, Ordering::Relaxed);
        self.lat_max.fetch_max(ms, Ordering::Relaxed);
        self.lat_total.fetch_add(ms, Ordering::Relaxed);
        self.lat_count.fetch_add(1, Ordering::Relaxed);
    }

    pub fn latency(&self) -> Latency {
        Latency {
            last: self.lat_last.load(Ordering::Relaxed),
            min: self.lat_min.load(Ordering::Relaxed),
            max: self.lat_max.load(Ordering::Relaxed),
            total: self.lat_total.load(Ordering::Relaxed),
            count: self.lat_count.load(Ordering::Relaxed),
        }
    }

    pub fn reset(&self) {
        self.received.store(0, Ordering::Relaxed);
        self.sent.store(0, Ordering::Relaxed);
        self.lat_last.store(0, Ordering::Relaxed);
        self.lat_min.store(u64::MAX, Ordering::Relaxed);
        self.lat_max.store(0, Ordering::Relaxed);
        self.lat_total.store(0, Ordering::Relaxed);
        self.lat_count.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cons_line_shapes() {
        let s = ConnStats::new("127.0.0.1:5000".parse().unwrap(), false);
        assert_eq!(
            s.info().cons_line(true, 1),
            " /127.0.0.1:5000[1](queued=0,recved=0,sent=0)"
        );
        s.set_session(0x1234, 30000);
        s.received();
        s.queued();
        s.done(4, 7, Instant::now(), true);
        let line = s.info().cons_line(true, 1);
        assert!(
            line.starts_with(
                " /127.0.0.1:5000[1](queued=0,recved=1,sent=0,sid=0x1234,lop=GETD,est="
            ),
            "{line}"
        );
        assert!(
            line.contains(",to=30000,lcxid=0x7,lzxid=0xffffffffffffffff,lresp="),
            "{line}"
        );
        assert!(
            line.ends_with(",llat=0,minlat=0,avglat=0,maxlat=0)"),
            "{line}"
        );
        s.reset();
        let line = s.info().cons_line(true, 1);
        assert!(line.contains("lop=NA"), "{line}");
        assert!(!line.contains("lcxid"), "{line}");
    }

    #[test]
    fn latency_numbers() {
        let mut l = Latency::default();
        assert_eq!((l.min(), l.avg(), l.max), (0, 0.0, 0));
        l.record(3);
        l.record(6);
        assert_eq!((l.min(), l.avg(), l.max, l.last), (3, 4.5, 6, 6));
    }
}
