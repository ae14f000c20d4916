//! A bare, blocking ZooKeeper connection for tests that need exact control
//! of the bytes and of when replies are read: handshake, then frames.
//! Panics on any I/O error (a test failure).

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use jute::{Record, ReplyHeader, Request, WatcherEvent};

pub struct RawConn(TcpStream);

impl RawConn {
    /// Connects and opens a new session with `timeout_ms`; reads time out
    /// after `read_timeout`.
    pub fn open(addr: &str, timeout_ms: i32, read_timeout: Duration) -> RawConn {
        let s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        s.set_read_timeout(Some(read_timeout)).unwrap();
        let mut hs = Vec::new();
        hs.extend_from_slice(&0i32.to_be_bytes()); // protocol version
        hs.extend_from_slice(&0i64.to_be_bytes()); // last zxid seen
        hs.extend_from_slice(&timeout_ms.to_be_bytes());
        hs.extend_from_slice(&0i64.to_be_bytes()); // session id: new
        hs.extend_from_slice(&16i32.to_be_bytes());
        hs.extend_from_slice(&[0u8; 16]); // password
        hs.push(0); // read-only: no
        let mut c = RawConn(s);
        c.raw(&hs);
        c.frame();
        c
    }

    /// Sends `body` as one length-prefixed frame.
    pub fn raw(&mut self, body: &[u8]) {
        let mut f = (body.len() as i32).to_be_bytes().to_vec();
        f.extend_from_slice(body);
        self.0.write_all(&f).expect("write a frame");
    }

    /// The next frame's body.
    pub fn frame(&mut self) -> Bytes {
        let mut len = [0u8; 4];
        self.0.read_exact(&mut len).expect("read a frame length");
        let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
        self.0.read_exact(&mut body).expect("read a frame");
        Bytes::from(body)
    }

    pub fn send(&mut self, xid: i32, req: &Request) {
        let mut b = BytesMut::new();
        b.extend_from_slice(&xid.to_be_bytes());
        b.extend_from_slice(&(req.opcode() as i32).to_be_bytes());
        req.encode(&mut b);
        self.raw(&b);
    }

    /// The next reply (header and body), handing each notification read on
    /// the way to `events`.
    pub fn reply_with(&mut self, events: &mut Vec<WatcherEvent>) -> (ReplyHeader, Bytes) {
        loop {
            let f = self.frame();
            let h = ReplyHeader::decode(f.clone()).expect("a reply header");
            if h.xid == -1 {
                events.push(WatcherEvent::decode(f.slice(16..)).expect("a notification"));
            } else {
                return (h, f.slice(16..));
            }
        }
    }

    /// The next reply, skipping notifications.
    pub fn reply(&mut self) -> (ReplyHeader, Bytes) {
        self.reply_with(&mut Vec::new())
    }

    /// Sends and waits for the reply to `xid`, collecting notifications.
    pub fn call(
        &mut self,
        xid: i32,
        req: &Request,
        events: &mut Vec<WatcherEvent>,
    ) -> (ReplyHeader, Bytes) {
        self.send(xid, req);
        loop {
            let (h, body) = self.reply_with(events);
            if h.xid == xid {
                return (h, body);
            }
        }
    }
}
