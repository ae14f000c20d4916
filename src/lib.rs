//! zoe: a ZooKeeper-compatible server whose only state store is etcd.
//!
//! A request's path through the code (docs/ARCHITECTURE.md has the long
//! form): `server` accepts → `conn` frames and runs the handshake with
//! `session` → `ops` decodes and dispatches → reads come from the
//! `replica` (`tree` + `watches`), writes are planned by `plan` and
//! committed by `write` as one etcd transaction → the replica applies the
//! change from its etcd watch, fires watches into `conns` → the reply
//! follows on the same ordered queue.

pub mod accountant;
pub mod acl;
pub mod admin;
pub mod check;
pub mod committer;
pub mod config;
pub mod conn;
pub mod conns;
pub mod etcd;
pub mod fourlw;
pub mod fuzz;
pub mod layout;
pub mod local_etcd;
pub mod memory;
pub mod metrics;
pub mod migrate;
pub mod ops;
pub mod path;
pub mod plan;
pub mod profile;
pub mod reaper;
pub mod replica;
pub mod server;
pub mod session;
pub mod stats;
pub mod tls;
pub mod tree;
pub mod watches;
pub mod write;
