//! `zoe import` (a running ZooKeeper → etcd, in zoe's layout) and
//! `zoe export` (etcd → JSON).
//!
//! Import walks the source tree with a small synchronous ZooKeeper client
//! (jute over TCP) and writes each znode's keys exactly as zoe's write path
//! would (docs/etcd-layout.md): the data key with the raw bytes, the meta
//! record with ctime, mtime, ACL, aversion, kind and a version offset that
//! makes the ZooKeeper version come out unchanged, and the child-counter
//! record with the source cversion (also used as the next sequential
//! suffix, as ZooKeeper does). Zxids cannot be kept: in zoe they are etcd
//! revisions. Ephemerals are skipped (their sessions do not exist here).
//! Nodes are written parents first, a batch per etcd transaction, each
//! guarded so an existing node is never overwritten.
//!
//! Export loads the tree through zoe's own replica code and prints every
//! znode under a path with its data (base64), Stat and ACL.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use base64::Engine;
use bytes::{Bytes, BytesMut};
use etcd_client::{Compare, CompareOp, Txn, TxnOp};
use jute::{
    Acl, AuthPacket, ConnectRequest, ConnectResponse, GetAclRequest, GetAclResponse,
    GetChildrenRequest, GetChildrenResponse, GetDataRequest, GetDataResponse, OpCode, Record,
    ReplyHeader, RequestHeader, Stat,
};
use serde::Serialize;
use tracing::{info, warn};

use crate::layout::{self, ChildRec, ChildRecord, Layout, Meta, NodeKind};

#[derive(Debug, Clone, clap::Args)]
pub struct ImportArgs {
    /// The ZooKeeper server to read, HOST:PORT.
    #[arg(long)]
    pub from_zookeeper: String,
    /// Subtree to copy (its ancestors are copied too, without their other
    /// children).
    #[arg(long, default_value = "/")]
    pub path: String,
    /// Credentials to add to the ZooKeeper session, `scheme:auth` (e.g.
    /// `digest:user:password`); repeatable.
    #[arg(long)]
    pub auth: Vec<String>,
    /// Znodes per etcd transaction (each takes up to three operations).
    #[arg(long, default_value_t = 40)]
    pub batch: usize,
    #[command(flatten)]
    pub etcd: crate::config::EtcdOptions,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ExportArgs {
    /// Subtree to dump.
    #[arg(long, default_value = "/")]
    pub path: String,
    /// `json` (one document) or `jsonl` (one znode per line).
    #[arg(long, default_value = "json")]
    pub format: String,
    /// Write here instead of standard output.
    #[arg(long)]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub etcd: crate::config::EtcdOptions,
}

// ---------------------------------------------------------------- a tiny client

/// A synchronous ZooKeeper client: one request at a time.
pub struct ZkClient {
    sock: TcpStream,
    xid: i32,
    pub session_id: i64,
    pub passwd: Vec<u8>,
    /// Negotiated session timeout, ms.
    pub timeout_ms: i32,
    /// The zxid of the last reply: the server's state the answer reflects.
    pub last_zxid: i64,
}

impl ZkClient {
    /// Opens a new session.
    pub fn connect(addr: &str, timeout: Duration) -> anyhow::Result<ZkClient> {
        ZkClient::resume(addr, timeout, 0, &[0; 16])
    }

    /// Re-attaches session `session_id` (0: a new session).
    pub fn resume(
        addr: &str,
        timeout: Duration,
        session_id: i64,
        passwd: &[u8],
    ) -> anyhow::Result<ZkClient> {
        let sa = std::net::ToSocketAddrs::to_socket_addrs(addr)
            .with_context(|| format!("cannot resolve {addr}"))?
            .next()
            .ok_or_else(|| anyhow!("cannot resolve {addr}"))?;
        let sock = TcpStream::connect_timeout(&sa, timeout)
            .with_context(|| format!("cannot connect to ZooKeeper at {addr}"))?;
        sock.set_read_timeout(Some(timeout))?;
        sock.set_write_timeout(Some(timeout))?;
        let _ = sock.set_nodelay(true);
        let mut c = ZkClient {
            sock,
            xid: 0,
            session_id: 0,
            passwd: Vec::new(),
            timeout_ms: 0,
            last_zxid: 0,
        };
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            time_out: 30_000,
            session_id,
            passwd: Some(Bytes::copy_from_slice(passwd)),
            read_only: Some(false),
        };
        c.send(|o| req.write(o))?;
        let resp = ConnectResponse::decode(c.recv()?)
            .map_err(|e| anyhow!("bad ConnectResponse from {addr}: {e:?}"))?;
        if resp.time_out <= 0 || resp.session_id == 0 {
            bail!("ZooKeeper at {addr} refused the session");
        }
        c.session_id = resp.session_id;
        c.passwd = resp.passwd.map(|p| p.to_vec()).unwrap_or_default();
        c.timeout_ms = resp.time_out;
        Ok(c)
    }

    /// Sends any request record; returns the error code and reply body.
    pub fn request(&mut self, op: OpCode, req: &impl Record) -> anyhow::Result<(i32, Bytes)> {
        self.call(op, None, &|o| req.write(o))
    }

    fn send(&mut self, body: impl FnOnce(&mut BytesMut)) -> anyhow::Result<()> {
        let mut out = BytesMut::new();
        jute::encode_frame(&mut out, body);
        self.sock.write_all(&out)?;
        Ok(())
    }

    fn recv(&mut self) -> anyhow::Result<Bytes> {
        let mut len = [0u8; 4];
        self.sock.read_exact(&mut len)?;
        let len = i32::from_be_bytes(len);
        if !(0..=64 << 20).contains(&len) {
            bail!("bad frame length {len} from ZooKeeper");
        }
        let mut body = vec![0u8; len as usize];
        self.sock.read_exact(&mut body)?;
        Ok(Bytes::from(body))
    }

    /// Sends one request; returns the error code and the reply body.
    pub fn call(
        &mut self,
        op: OpCode,
        xid: Option<i32>,
        req: &dyn Fn(&mut BytesMut),
    ) -> anyhow::Result<(i32, Bytes)> {
        let xid = xid.unwrap_or_else(|| {
            self.xid += 1;
            self.xid
        });
        self.send(|o| {
            RequestHeader {
                xid,
                op_type: op as i32,
            }
            .write(o);
            req(o);
        })?;
        loop {
            let frame = self.recv()?;
            let (hdr, body) = jute::decode_reply(frame)
                .map_err(|e| anyhow!("bad reply from ZooKeeper: {e:?}"))?;
            if hdr.xid == jute::xid::NOTIFICATION {
                continue;
            }
            let ReplyHeader {
                xid: got,
                err,
                zxid,
            } = hdr;
            if got != xid {
                bail!("reply xid {got} to request {xid}");
            }
            self.last_zxid = zxid;
            return Ok((err, body));
        }
    }

    pub fn auth(&mut self, scheme: &str, auth: &str) -> anyhow::Result<()> {
        let p = AuthPacket {
            auth_type: 0,
            scheme: scheme.into(),
            auth: Some(Bytes::copy_from_slice(auth.as_bytes())),
        };
        let (err, _) = self.call(OpCode::Auth, Some(jute::xid::AUTH), &|o| p.write(o))?;
        if err != 0 {
            bail!("ZooKeeper refused {scheme} credentials (error {err})");
        }
        Ok(())
    }

    /// getData: Ok(None) if the node is gone; Err for other failures.
    pub fn get_data(&mut self, path: &str) -> anyhow::Result<Result<GetDataResponse, i32>> {
        let r = GetDataRequest {
            path: path.into(),
            watch: false,
        };
        let (err, body) = self.call(OpCode::GetData, None, &|o| r.write(o))?;
        if err != 0 {
            return Ok(Err(err));
        }
        Ok(Ok(
            GetDataResponse::decode(body).map_err(|e| anyhow!("getData {path}: {e:?}"))?
        ))
    }

    pub fn get_acl(&mut self, path: &str) -> anyhow::Result<Result<GetAclResponse, i32>> {
        let r = GetAclRequest { path: path.into() };
        let (err, body) = self.call(OpCode::GetAcl, None, &|o| r.write(o))?;
        if err != 0 {
            return Ok(Err(err));
        }
        Ok(Ok(
            GetAclResponse::decode(body).map_err(|e| anyhow!("getACL {path}: {e:?}"))?
        ))
    }

    pub fn get_children(&mut self, path: &str) -> anyhow::Result<Result<Vec<String>, i32>> {
        let r = GetChildrenRequest {
            path: path.into(),
            watch: false,
        };
        let (err, body) = self.call(OpCode::GetChildren, None, &|o| r.write(o))?;
        if err != 0 {
            return Ok(Err(err));
        }
        Ok(Ok(GetChildrenResponse::decode(body)
            .map_err(|e| anyhow!("getChildren {path}: {e:?}"))?
            .children))
    }

    pub fn close(mut self) {
        let _ = self.call(OpCode::CloseSession, None, &|_| {});
    }
}

// ---------------------------------------------------------------- import

/// One znode read from the source.
#[derive(Debug, Clone)]
pub struct SourceNode {
    pub path: String,
    pub data: Option<Bytes>,
    pub stat: Stat,
    pub acl: Vec<Acl>,
    /// An ancestor of the imported path, copied only so the subtree has
    /// parents: created if missing, its child counters left alone.
    pub ancestor: bool,
}

/// What a source ephemeralOwner says about the node's kind.
pub fn kind_of(owner: i64) -> Option<(NodeKind, i64)> {
    if owner == 0 {
        Some((NodeKind::Persistent, 0))
    } else if owner == i64::MIN {
        // EphemeralType.CONTAINER_EPHEMERAL_OWNER
        Some((NodeKind::Container, 0))
    } else if (owner as u64) >> 56 == 0xff {
        // TTL nodes: 0xFF in the top byte, the TTL in the low 40 bits.
        Some((NodeKind::Ttl, owner & 0x00ff_ffff_ffff))
    } else {
        None
    }
}

/// The etcd operations that store `n` as zoe would, and the compares that
/// keep an existing node (or child counter) from being overwritten.
pub fn node_ops(layout: &Layout, n: &SourceNode) -> Option<(Vec<Compare>, Vec<TxnOp>)> {
    let (kind, ttl) = kind_of(n.stat.ephemeral_owner)?;
    let special = matches!(
        n.path.as_str(),
        "/" | "/zookeeper" | "/zookeeper/quota" | "/zookeeper/config"
    );
    let meta = Meta {
        ctime: n.stat.ctime,
        mtime: n.stat.mtime,
        null_data: n.data.is_none(),
        acl: crate::tree::acl_for_meta(&n.acl),
        aversion: n.stat.aversion,
        kind,
        owner: 0,
        ttl,
        version_offset: n.stat.version,
        czxid: 0,
    };
    let mut compares = Vec::new();
    let mut ops = Vec::new();
    if special && n.ancestor {
        return Some((compares, ops));
    }
    if special {
        // Exist without keys; only what a client changed is stored.
        let data = n.data.clone().unwrap_or_default();
        if !data.is_empty() || n.stat.version != 0 {
            compares.push(Compare::create_revision(
                layout.data_key(&n.path),
                CompareOp::Equal,
                0,
            ));
            ops.push(TxnOp::put(layout.data_key(&n.path), data.to_vec(), None));
        }
        if meta.acl.is_some() || meta.aversion != 0 || !ops.is_empty() {
            ops.push(TxnOp::put(
                layout.meta_key(&n.path),
                layout::encode(&meta),
                None,
            ));
        }
    } else {
        compares.push(Compare::create_revision(
            layout.data_key(&n.path),
            CompareOp::Equal,
            0,
        ));
        ops.push(TxnOp::put(
            layout.data_key(&n.path),
            n.data.clone().unwrap_or_default().to_vec(),
            None,
        ));
        ops.push(TxnOp::put(
            layout.meta_key(&n.path),
            layout::encode(&meta),
            None,
        ));
    }
    if n.stat.cversion != 0 && !n.ancestor {
        compares.push(Compare::create_revision(
            layout.children_key(&n.path),
            CompareOp::Equal,
            0,
        ));
        let counters = ChildRec {
            cversion: n.stat.cversion,
            // ZooKeeper numbers sequential children with the parent's
            // cversion; continuing from it never reuses a suffix.
            creates: n.stat.cversion.max(0),
        };
        // A fresh key: version 1 once written, no deletes key yet.
        let crec = ChildRecord::exact(counters, 1, 0, 0);
        ops.push(TxnOp::put(
            layout.children_key(&n.path),
            layout::encode(&crec),
            None,
        ));
    }
    Some((compares, ops))
}

fn parent_chain(path: &str) -> Vec<String> {
    let mut out = vec!["/".to_string()];
    let mut cur = String::new();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        cur.push('/');
        cur.push_str(part);
        out.push(cur.clone());
    }
    out
}

fn join(parent: &str, child: &str) -> String {
    if parent == "/" {
        format!("/{child}")
    } else {
        format!("{parent}/{child}")
    }
}

/// Reads the subtree at `root` (and its ancestors), parents first.
/// Returns the nodes and the number of ephemerals and unreadable nodes
/// left out.
pub fn read_tree(zk: &mut ZkClient, root: &str) -> anyhow::Result<(Vec<SourceNode>, usize, usize)> {
    let mut nodes = Vec::new();
    let mut ephemerals = 0;
    let mut unreadable = 0;
    let chain = parent_chain(root);
    let mut queue: VecDeque<(String, bool)> = chain
        .iter()
        .map(|p| (p.clone(), p.as_str() == root || chain.len() == 1))
        .collect();
    while let Some((path, descend)) = queue.pop_front() {
        if path == "/zookeeper" || path.starts_with("/zookeeper/") {
            // ZooKeeper's own nodes: zoe synthesises them.
            continue;
        }
        let data = match zk.get_data(&path)? {
            Ok(d) => d,
            Err(e) if e == jute::ErrorCode::NoNode as i32 => {
                if path == root {
                    bail!("{root} does not exist on the source");
                }
                continue;
            }
            Err(e) => {
                warn!(%path, error = e, "cannot read node (no READ permission?); skipping its subtree");
                unreadable += 1;
                continue;
            }
        };
        if kind_of(data.stat.ephemeral_owner).is_none() {
            ephemerals += 1;
            continue;
        }
        let acl = match zk.get_acl(&path)? {
            Ok(a) => a.acl,
            Err(e) => {
                warn!(%path, error = e, "cannot read the ACL; skipping its subtree");
                unreadable += 1;
                continue;
            }
        };
        if descend {
            match zk.get_children(&path)? {
                Ok(mut children) => {
                    children.sort();
                    for c in children {
                        queue.push_back((join(&path, &c), true));
                    }
                }
                Err(e) if e == jute::ErrorCode::NoNode as i32 => continue,
                Err(e) => {
                    warn!(%path, error = e, "cannot list children; skipping them");
                    unreadable += 1;
                }
            }
        }
        nodes.push(SourceNode {
            ancestor: !descend,
            path,
            data: data.data,
            stat: data.stat,
            acl,
        });
    }
    Ok((nodes, ephemerals, unreadable))
}

/// Counts of an import.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    pub imported: usize,
    pub existing: usize,
    pub ephemerals: usize,
    pub unreadable: usize,
}

/// Writes `nodes` (parents first) into etcd.
pub async fn write_nodes(
    client: &etcd_client::Client,
    layout: &Layout,
    nodes: &[SourceNode],
    batch: usize,
) -> anyhow::Result<(usize, usize)> {
    let mut kv = client.kv_client();
    let mut imported = 0;
    let mut existing = 0;
    for chunk in nodes.chunks(batch.max(1)) {
        let planned: Vec<(Vec<Compare>, Vec<TxnOp>)> = chunk
            .iter()
            .filter_map(|n| node_ops(layout, n))
            .filter(|(_, ops)| !ops.is_empty())
            .collect();
        let compares: Vec<Compare> = planned.iter().flat_map(|p| p.0.clone()).collect();
        let ops: Vec<TxnOp> = planned.iter().flat_map(|p| p.1.clone()).collect();
        if ops.is_empty() {
            continue;
        }
        let resp = kv
            .txn(Txn::new().when(compares).and_then(ops))
            .await
            .context("etcd transaction failed")?;
        if resp.succeeded() {
            imported += planned.len();
            continue;
        }
        // Some node of the batch exists: go one by one, keeping what is there.
        for n in chunk {
            let Some((c, o)) = node_ops(layout, n).filter(|(_, o)| !o.is_empty()) else {
                continue;
            };
            let r = kv
                .txn(Txn::new().when(c).and_then(o))
                .await
                .context("etcd transaction failed")?;
            if r.succeeded() {
                imported += 1;
            } else {
                warn!(path = %n.path, "already in etcd; left as it is");
                existing += 1;
            }
        }
    }
    Ok((imported, existing))
}

pub async fn import(args: ImportArgs) -> anyhow::Result<()> {
    if !args.path.starts_with('/') {
        bail!("--path must be absolute");
    }
    let mut args = args;
    if args.path.len() > 1 {
        args.path = args.path.trim_end_matches('/').to_string();
    }
    let client = args.etcd.connect().await?;
    let layout = Layout::new(args.etcd.prefix());
    ensure_layout_record(&client, &layout).await?;
    let from = args.from_zookeeper.clone();
    let path = args.path.clone();
    let auth = args.auth.clone();
    let (nodes, ephemerals, unreadable) = tokio::task::spawn_blocking(move || {
        let mut zk = ZkClient::connect(&from, Duration::from_secs(30))?;
        for a in &auth {
            let (scheme, cred) = a
                .split_once(':')
                .ok_or_else(|| anyhow!("--auth takes scheme:credentials"))?;
            zk.auth(scheme, cred)?;
        }
        let r = read_tree(&mut zk, &path);
        zk.close();
        r
    })
    .await??;
    info!(
        nodes = nodes.len(),
        ephemerals, unreadable, "read the source tree; writing it to etcd"
    );
    let (imported, existing) = write_nodes(&client, &layout, &nodes, args.batch).await?;
    let report = ImportReport {
        imported,
        existing,
        ephemerals,
        unreadable,
    };
    println!("{}", serde_json::to_string(&report)?);
    info!(?report, "import finished");
    Ok(())
}

/// Writes `0zoe/layout` if missing and refuses another format, like
/// `zoe serve` does at start.
async fn ensure_layout_record(client: &etcd_client::Client, layout: &Layout) -> anyhow::Result<()> {
    let key = layout.layout_key();
    let rec = layout::LayoutRec {
        format: layout::FORMAT_VERSION,
    };
    let txn = Txn::new()
        .when([Compare::create_revision(key.clone(), CompareOp::Equal, 0)])
        .and_then([TxnOp::put(key.clone(), layout::encode(&rec), None)])
        .or_else([TxnOp::get(key, None)]);
    let resp = client.kv_client().txn(txn).await?;
    if resp.succeeded() {
        return Ok(());
    }
    for r in resp.op_responses() {
        if let etcd_client::TxnOpResponse::Get(g) = r {
            if let Some(kv) = g.kvs().first() {
                match layout::decode::<layout::LayoutRec>(kv.value()) {
                    Some(found) if found.format == layout::FORMAT_VERSION => return Ok(()),
                    _ => bail!("the tree in etcd has another layout format"),
                }
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- export

/// A znode as exported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ExportedNode {
    pub path: String,
    /// Base64; null for null data.
    pub data: Option<String>,
    pub stat: ExportedStat,
    pub acl: Vec<ExportedAcl>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportedStat {
    pub czxid: i64,
    pub mzxid: i64,
    pub ctime: i64,
    pub mtime: i64,
    pub version: i32,
    pub cversion: i32,
    pub aversion: i32,
    pub ephemeral_owner: i64,
    pub data_length: i32,
    pub num_children: i32,
    pub pzxid: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ExportedAcl {
    pub perms: i32,
    pub scheme: String,
    pub id: String,
}

/// The whole export document (`--format json`).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct ExportDoc {
    pub format: String,
    pub revision: i64,
    pub prefix: String,
    pub nodes: Vec<ExportedNode>,
}

impl From<&Stat> for ExportedStat {
    fn from(s: &Stat) -> Self {
        ExportedStat {
            czxid: s.czxid,
            mzxid: s.mzxid,
            ctime: s.ctime,
            mtime: s.mtime,
            version: s.version,
            cversion: s.cversion,
            aversion: s.aversion,
            ephemeral_owner: s.ephemeral_owner,
            data_length: s.data_length,
            num_children: s.num_children,
            pzxid: s.pzxid,
        }
    }
}

/// Every znode at and under `root` in the tree, depth first, children in
/// name order.
pub fn export_tree(tree: &crate::tree::Tree, root: &str) -> Vec<ExportedNode> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut out = Vec::new();
    let mut stack = vec![root.to_string()];
    while let Some(p) = stack.pop() {
        let Some(e) = tree.get(&p) else { continue };
        out.push(ExportedNode {
            path: p.clone(),
            data: e.data().map(|d| b64.encode(&d)),
            stat: ExportedStat::from(&e.stat(&p)),
            acl: e
                .acl(&p)
                .into_iter()
                .map(|a| ExportedAcl {
                    perms: a.perms,
                    scheme: a.id.scheme,
                    id: a.id.id,
                })
                .collect(),
        });
        let mut children: Vec<&str> = e.children.iter().map(|c| c.as_ref()).collect();
        children.sort_unstable();
        for c in children.into_iter().rev() {
            stack.push(join(&p, c));
        }
    }
    out
}

pub async fn export(args: ExportArgs) -> anyhow::Result<()> {
    if args.format != "json" && args.format != "jsonl" {
        bail!("--format must be json or jsonl");
    }
    let client = args.etcd.connect().await?;
    let layout = Layout::new(args.etcd.prefix());
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let replica = crate::replica::Replica::start(
        client,
        layout,
        crate::replica::ReplicaOptions::read_only(),
        Arc::new(crate::conns::Conns::default()),
        tx,
    )
    .await
    .context("cannot load the tree from etcd")?;
    let (nodes, revision) = {
        let st = replica.read();
        if st.tree.get(&args.path).is_none() {
            bail!("{} does not exist", args.path);
        }
        (export_tree(&st.tree, &args.path), st.revision)
    };
    let text = if args.format == "json" {
        let doc = ExportDoc {
            format: "zoe-export-1".into(),
            revision,
            prefix: args.etcd.prefix().to_string(),
            nodes,
        };
        let mut s = serde_json::to_string_pretty(&doc)?;
        s.push('\n');
        s
    } else {
        let mut s = String::new();
        for n in &nodes {
            s.push_str(&serde_json::to_string(n)?);
            s.push('\n');
        }
        s
    };
    match &args.output {
        Some(p) => {
            std::fs::write(p, text).with_context(|| format!("cannot write {}", p.display()))?
        }
        None => std::io::stdout().write_all(text.as_bytes())?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_kinds() {
        assert_eq!(kind_of(0), Some((NodeKind::Persistent, 0)));
        assert_eq!(kind_of(i64::MIN), Some((NodeKind::Container, 0)));
        assert_eq!(
            kind_of(((0xffu64 << 56) | 5000) as i64),
            Some((NodeKind::Ttl, 5000))
        );
        assert_eq!(kind_of(0x1000013e0d10000), None);
    }

    #[test]
    fn chains() {
        assert_eq!(parent_chain("/"), vec!["/"]);
        assert_eq!(parent_chain("/a/b"), vec!["/", "/a", "/a/b"]);
        assert_eq!(join("/", "a"), "/a");
        assert_eq!(join("/a", "b"), "/a/b");
    }

    #[test]
    fn imported_keys_rebuild_the_same_stat() {
        use crate::tree::{Change, DataKv, Tree};
        let layout = Layout::new("");
        let n = SourceNode {
            path: "/a".into(),
            data: Some(Bytes::from_static(b"hi")),
            stat: Stat {
                czxid: 5,
                mzxid: 9,
                ctime: 1000,
                mtime: 2000,
                version: 3,
                cversion: 4,
                aversion: 1,
                ephemeral_owner: 0,
                data_length: 2,
                num_children: 0,
                pzxid: 9,
            },
            acl: crate::tree::open_acl(),
            ancestor: false,
        };
        let (compares, ops) = node_ops(&layout, &n).unwrap();
        assert_eq!(compares.len(), 2);
        assert_eq!(ops.len(), 3);
        // Feed the tree what etcd would report for those puts at rev 20.
        let meta = Meta {
            ctime: 1000,
            mtime: 2000,
            aversion: 1,
            version_offset: 3,
            ..Meta::default()
        };
        let mut t = Tree::new();
        t.load(
            vec![
                Change::Data(
                    "/a".into(),
                    Some(DataKv {
                        value: Bytes::from_static(b"hi"),
                        create_rev: 20,
                        mod_rev: 20,
                        version: 1,
                        lease: 0,
                    }),
                ),
                Change::Meta("/a".into(), Some((meta, 20))),
                Change::Children(
                    "/a".into(),
                    Some(crate::tree::CrecKv {
                        rec: ChildRecord::exact(
                            ChildRec {
                                cversion: 4,
                                creates: 4,
                            },
                            1,
                            0,
                            0,
                        ),
                        mod_rev: 20,
                        version: 1,
                    }),
                ),
            ],
            20,
        );
        let s = t.get("/a").unwrap().stat("/a");
        assert_eq!(
            (s.version, s.cversion, s.aversion, s.ctime, s.mtime),
            (3, 4, 1, 1000, 2000)
        );
        let exported = export_tree(&t, "/");
        assert_eq!(exported[0].path, "/");
        assert!(exported
            .iter()
            .any(|e| e.path == "/a" && e.data.as_deref() == Some("aGk=") && e.stat.version == 3));
    }
}
