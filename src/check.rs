//! `zoe check`: verifies the tree zoe keeps in etcd, and optionally that
//! running instances serve exactly that tree.
//!
//! The layout check reads every key under the prefix at one etcd revision
//! and verifies what zoe's writes always keep true (docs/etcd-layout.md):
//! the layout record; a meta record for every data key and a data key for
//! every meta record; parents; child records that belong to existing
//! znodes, with counters that agree with the children (cversion counts at
//! least the creates, the creates at least the children, no sequential
//! child at or past the next sequence number); ephemerals owned by a
//! session record and without children; session records attached to their
//! lease.
//!
//! With `--zoe HOST:PORT` it also walks the tree a running instance serves
//! (ZooKeeper protocol, after a sync) and compares every Stat, child list
//! and data with what zoe's own tree code builds from etcd at the revision
//! each answer carries as its zxid, so a busy cluster can be checked too.
//!
//! Exit status: 0 consistent, 1 inconsistencies found, 2 the check could
//! not run (etcd or the instance unreachable).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use bytes::Bytes;
use etcd_client::{GetOptions, KeyValue};
use jute::{GetChildren2Request, GetChildren2Response, OpCode, Record, Stat, SyncRequest};

use crate::config::EtcdOptions;
use crate::layout::{self, ChildRec, ChildRecord, KeyKind, Layout, Meta, NodeKind, SessionRec};
use crate::migrate::ZkClient;
use crate::path;
use crate::tree::Tree;

#[derive(Debug, Clone, clap::Args)]
pub struct CheckArgs {
    /// Also compare what a running zoe instance serves with etcd: its
    /// client address, HOST:PORT. Repeatable.
    #[arg(long = "zoe", value_name = "HOST:PORT")]
    pub zoe: Vec<String>,
    /// Credentials for reading restricted znodes through --zoe,
    /// `scheme:auth` (e.g. `digest:user:password`); repeatable.
    #[arg(long)]
    pub auth: Vec<String>,
    /// The tree is shared with a path-keyed etcd client (such as Pulsar's
    /// etcd metadata store): data keys without a meta record, and their
    /// missing parents, are reported as warnings instead of errors.
    #[arg(long)]
    pub allow_foreign: bool,
    #[command(flatten)]
    pub etcd: EtcdOptions,
}

/// What a check found.
#[derive(Debug, Default)]
pub struct Report {
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
    /// Facts about the tree, for the summary.
    pub facts: Vec<String>,
}

impl Report {
    pub fn consistent(&self) -> bool {
        self.errors.is_empty()
    }

    fn error(&mut self, s: String) {
        self.errors.push(s);
    }

    fn warn(&mut self, s: String) {
        self.warnings.push(s);
    }

    /// The report as text, errors first.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for f in &self.facts {
            let _ = writeln!(out, "{f}");
        }
        for e in &self.errors {
            let _ = writeln!(out, "ERROR: {e}");
        }
        for w in &self.warnings {
            let _ = writeln!(out, "WARNING: {w}");
        }
        let _ = writeln!(
            out,
            "{}: {} error(s), {} warning(s)",
            if self.consistent() {
                "consistent"
            } else {
                "INCONSISTENT"
            },
            self.errors.len(),
            self.warnings.len()
        );
        out
    }
}

/// Every key in zoe's range at one revision.
pub struct Snapshot {
    pub revision: i64,
    pub kvs: Vec<KeyValue>,
}

/// Reads `[P/, P0zoe0)` at `at` (None: the current revision), paginated.
pub async fn load(
    client: &etcd_client::Client,
    layout: &Layout,
    at: Option<i64>,
) -> anyhow::Result<Snapshot> {
    let (start, end) = layout.watch_range();
    let kv = client.kv_client().max_decoding_message_size(512 << 20);
    let mut from = start;
    let mut revision = at.unwrap_or(0);
    let mut kvs = Vec::new();
    loop {
        let mut opts = GetOptions::new().with_range(end.clone()).with_limit(1000);
        if revision > 0 {
            opts = opts.with_revision(revision);
        }
        let resp = crate::etcd::retry_unsent(|| {
            let mut kv = kv.clone();
            let (from, opts) = (from.clone(), opts.clone());
            async move { kv.get(from, Some(opts)).await }
        })
        .await
        .with_context(|| format!("cannot read zoe's keys at revision {revision}"))?;
        if revision == 0 {
            revision = resp.header().map(|h| h.revision()).unwrap_or(0);
        }
        let page = resp.kvs();
        kvs.extend(page.iter().cloned());
        if !resp.more() || page.is_empty() {
            break;
        }
        from = page.last().expect("non-empty").key().to_vec();
        from.push(0);
    }
    Ok(Snapshot { revision, kvs })
}

/// zoe's tree as an instance builds it from a snapshot.
pub fn tree_of(layout: &Layout, snap: &Snapshot) -> Tree {
    let mut tree = Tree::new();
    tree.load(
        snap.kvs
            .iter()
            .filter_map(|kv| crate::replica::classify(layout, kv, true))
            .collect(),
        snap.revision,
    );
    tree
}

/// ZooKeeper's baseline cversion of a node's child record, and how many of
/// its children were never counted as creates (`zookeeper` under `/`,
/// `quota` and `config` under `/zookeeper`).
fn child_baseline(p: &str) -> i32 {
    match p {
        "/" => -1,
        "/zookeeper" => -2,
        _ => 0,
    }
}

/// The layout invariants of a snapshot.
pub fn check_layout(layout: &Layout, snap: &Snapshot, allow_foreign: bool) -> Report {
    let mut r = Report::default();
    let mut data: BTreeMap<String, &KeyValue> = BTreeMap::new();
    let mut meta: BTreeMap<String, (Option<Meta>, &KeyValue)> = BTreeMap::new();
    let mut crecs: BTreeMap<String, (Option<ChildRecord>, &KeyValue)> = BTreeMap::new();
    let mut deletes: BTreeMap<String, &KeyValue> = BTreeMap::new();
    let mut sessions: BTreeMap<i64, (Option<SessionRec>, &KeyValue)> = BTreeMap::new();
    let mut layout_rec = None;
    let mut watermark = false;
    let layout_key = layout.layout_key();
    let sync_key = layout.sync_key();
    let lock_key = layout.accountant_lock_key();
    for kv in &snap.kvs {
        match layout.classify(kv.key()) {
            KeyKind::Data(p) => {
                data.insert(p, kv);
            }
            KeyKind::Meta(p) => {
                meta.insert(p, (layout::decode(kv.value()), kv));
            }
            KeyKind::Children(p) => {
                crecs.insert(p, (layout::decode(kv.value()), kv));
            }
            KeyKind::Deletes(p) => {
                deletes.insert(p, kv);
            }
            KeyKind::Session(id) => {
                sessions.insert(id, (layout::decode(kv.value()), kv));
            }
            KeyKind::Events => {
                if layout::decode::<layout::EventList>(kv.value()).is_none() {
                    r.error("unreadable event list (0zoe/ev)".into());
                }
            }
            KeyKind::Auth => {
                if layout::decode::<layout::AuthRec>(kv.value()).is_none() {
                    r.error("unreadable authentication record (0zoe/auth)".into());
                }
            }
            KeyKind::Watermark => {
                watermark = true;
                if layout::decode::<layout::WatermarkRec>(kv.value()).is_none() {
                    r.error("unreadable watermark (0zoe/acct)".into());
                }
            }
            KeyKind::Other if kv.key() == layout_key.as_slice() => {
                layout_rec = Some(layout::decode::<layout::LayoutRec>(kv.value()));
            }
            KeyKind::Other if kv.key() == sync_key.as_slice() => {}
            KeyKind::Other if kv.key() == lock_key.as_slice() => {}
            KeyKind::Other => r.warn(format!(
                "key {} is not part of zoe's layout",
                String::from_utf8_lossy(kv.key())
            )),
        }
    }
    match layout_rec {
        None => r.error(
            "no layout record (0zoe/layout): no zoe tree under this prefix (wrong --prefix?)"
                .into(),
        ),
        Some(None) => r.error("unreadable layout record (0zoe/layout)".into()),
        Some(Some(l)) if !(layout::OLDEST_FORMAT..=layout::FORMAT_VERSION).contains(&l.format) => r
            .error(format!(
                "layout format {} (this zoe understands {} to {})",
                l.format,
                layout::OLDEST_FORMAT,
                layout::FORMAT_VERSION
            )),
        Some(Some(_)) => {}
    }

    // A path with data keys below it and none of its own is a znode too
    // (left by writers that do not create parents; docs/shared-tree.md).
    let implicit: BTreeSet<&str> = data
        .keys()
        .flat_map(|p| {
            std::iter::successors(path::parent(p), |q| path::parent(q))
                .filter(|q| !data.contains_key(*q))
        })
        .collect();
    let exists = |p: &str| path::is_special(p) || data.contains_key(p) || implicit.contains(p);
    // Children of each znode, by parent (special nodes' own children excluded:
    // they are never counted as creates).
    let mut children: HashMap<&str, Vec<&str>> = HashMap::new();
    for p in data.keys() {
        if path::is_special(p) {
            continue;
        }
        if let Some(parent) = path::parent(p) {
            children.entry(parent).or_default().push(path::name(p));
        }
    }
    let mut ephemerals = 0;
    for (p, kv) in &data {
        if let Err(e) = path::validate(p) {
            r.error(format!("data key of an invalid znode path {p:?}: {}", e.0));
            continue;
        }
        let m = meta.get(p.as_str());
        let foreign = m.is_none() && !path::is_special(p);
        if foreign {
            let msg = format!(
                "{p}: data key without its meta record (0zoe/m{p}); zoe writes both in one \
                 transaction, so another etcd client wrote it (or the meta record was deleted)"
            );
            if allow_foreign {
                r.warn(msg);
            } else {
                r.error(msg);
            }
        }
        if let Some(parent) = path::parent(p) {
            // zoe writes parents first: an implicit one is another writer's.
            if !path::is_special(parent) && !data.contains_key(parent) {
                let msg = format!("{p}: its parent {parent} does not exist");
                if foreign && allow_foreign {
                    r.warn(msg);
                } else {
                    r.error(msg);
                }
            }
        }
        let Some((m, mkv)) = m else { continue };
        let Some(m) = m else {
            r.error(format!("{p}: unreadable meta record (0zoe/m{p})"));
            continue;
        };
        if mkv.mod_revision() < kv.create_revision() {
            r.error(format!(
                "{p}: meta record (revision {}) is older than the data key (created at {}): the \
                 key was re-created without it",
                mkv.mod_revision(),
                kv.create_revision()
            ));
        }
        match m.kind {
            NodeKind::Ephemeral => {
                ephemerals += 1;
                if m.owner == 0 {
                    r.error(format!("{p}: ephemeral without an owner"));
                } else if !sessions.contains_key(&m.owner) {
                    r.error(format!(
                        "{p}: ephemeral of session 0x{:x}, which has no session record; an \
                         instance removes such orphans when it starts or sees the session end",
                        m.owner
                    ));
                }
                if let Some(c) = children.get(p.as_str()) {
                    r.error(format!(
                        "{p}: ephemeral with children ({})",
                        c.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
                    ));
                }
            }
            NodeKind::Ttl if m.ttl <= 0 => r.error(format!("{p}: TTL node without a TTL")),
            _ => {}
        }
    }
    for (p, (_, mkv)) in &meta {
        if !data.contains_key(p) && !path::is_special(p) {
            r.error(format!(
                "{p}: meta record without a data key (left behind by a delete, revision {})",
                mkv.mod_revision()
            ));
        }
    }
    for (p, (rec, _)) in &crecs {
        if !exists(p) {
            let msg = format!("{p}: child record (0zoe/c{p}) of a znode that does not exist");
            // Another writer deleting a znode leaves its counter keys for
            // the accountant to remove (a tree with a watermark has seen
            // other writers).
            if allow_foreign || watermark {
                r.warn(msg);
            } else {
                r.error(msg);
            }
            continue;
        }
        if rec.is_none() {
            r.error(format!("{p}: unreadable child record (0zoe/c{p})"));
        }
    }
    for p in deletes.keys() {
        if !exists(p) {
            let msg =
                format!("{p}: child-delete counter (0zoe/d{p}) of a znode that does not exist");
            if allow_foreign || watermark {
                r.warn(msg);
            } else {
                r.error(msg);
            }
        }
    }
    // Counters, for every znode with children or a child record.
    let mut parents: BTreeSet<&str> = children.keys().copied().collect();
    parents.extend(crecs.keys().map(|s| s.as_str()).filter(|p| exists(p)));
    for p in parents {
        let (rec, has_rec) = match crecs.get(p) {
            Some((Some(c), kv)) => {
                let d = deletes.get(p).map(|d| d.version()).unwrap_or(0);
                (c.counters(kv.version(), d), true)
            }
            Some((None, _)) => continue,
            None => (
                ChildRec {
                    cversion: child_baseline(p),
                    creates: 0,
                },
                false,
            ),
        };
        let kids = children.get(p).map(|v| v.as_slice()).unwrap_or(&[]);
        let foreign_kids = kids.iter().any(|k| !meta.contains_key(&path::join(p, k)));
        let report = |r: &mut Report, msg: String| {
            if foreign_kids && allow_foreign {
                r.warn(msg)
            } else {
                r.error(msg)
            }
        };
        if rec.creates < 0 || rec.cversion - child_baseline(p) < rec.creates {
            report(
                &mut r,
                format!(
                    "{p}: child record cversion {} with {} creates: cversion counts every create \
                     and delete",
                    rec.cversion, rec.creates
                ),
            );
        }
        if kids.len() as i64 > rec.creates as i64 {
            report(
                &mut r,
                format!(
                    "{p}: {} children but {} creates counted{}: the next sequential name could \
                     be taken",
                    kids.len(),
                    rec.creates,
                    if has_rec { "" } else { " (no child record)" }
                ),
            );
        }
        for k in kids {
            let digits = k.len().saturating_sub(10);
            if k.len() >= 10 && k.is_char_boundary(digits) {
                if let Ok(n) = k[digits..].parse::<i64>() {
                    if k[digits..].bytes().all(|b| b.is_ascii_digit()) && n >= rec.creates as i64 {
                        r.warn(format!(
                            "{}: sequence number {n} is at or past the parent's next one ({}); a \
                             sequential create with this prefix would collide",
                            path::join(p, k),
                            rec.creates
                        ));
                    }
                }
            }
        }
    }
    for (id, (rec, kv)) in &sessions {
        let Some(rec) = rec else {
            r.error(format!("session 0x{id:x}: unreadable session record"));
            continue;
        };
        if kv.lease() != *id {
            r.error(format!(
                "session 0x{id:x}: record attached to lease {:x}, not its own; it would not end \
                 with the session",
                kv.lease()
            ));
        }
        if rec.timeout_ms <= 0 {
            r.error(format!("session 0x{id:x}: timeout {}", rec.timeout_ms));
        }
        if rec.password.len() != 32 || !rec.password.bytes().all(|b| b.is_ascii_hexdigit()) {
            r.error(format!("session 0x{id:x}: malformed password"));
        }
        if rec.owner.is_empty() {
            r.error(format!("session 0x{id:x}: no owning instance"));
        }
    }
    r.facts.push(format!(
        "{} znodes (data keys), {} ephemerals, {} sessions at revision {}",
        data.len(),
        ephemerals,
        sessions.len(),
        snap.revision
    ));
    r
}

/// One answer of an instance, with the revision it reflects.
enum Seen {
    Node {
        path: String,
        zxid: i64,
        stat: Stat,
        children: Vec<String>,
    },
    Data {
        path: String,
        zxid: i64,
        data: Option<Bytes>,
    },
    Gone {
        path: String,
        zxid: i64,
    },
}

impl Seen {
    fn zxid(&self) -> i64 {
        match self {
            Seen::Node { zxid, .. } | Seen::Data { zxid, .. } | Seen::Gone { zxid, .. } => *zxid,
        }
    }
}

/// Walks what an instance serves (everything but /zookeeper), after a sync.
fn walk_instance(addr: &str, auth: &[String]) -> anyhow::Result<(Vec<Seen>, usize)> {
    let mut zk = ZkClient::connect(addr, Duration::from_secs(30))
        .with_context(|| format!("cannot open a session on {addr}"))?;
    for a in auth {
        let (scheme, cred) = a
            .split_once(':')
            .ok_or_else(|| anyhow!("--auth takes scheme:credentials"))?;
        zk.auth(scheme, cred)?;
    }
    let (err, _) = zk.request(OpCode::Sync, &SyncRequest { path: "/".into() })?;
    if err != 0 {
        bail!("sync on {addr} failed with error {err}");
    }
    let mut seen = Vec::new();
    let mut unreadable = 0;
    let mut queue = std::collections::VecDeque::from(["/".to_string()]);
    while let Some(p) = queue.pop_front() {
        let req = GetChildren2Request {
            path: p.clone(),
            watch: false,
        };
        let (err, body) = zk.request(OpCode::GetChildren2, &req)?;
        let zxid = zk.last_zxid;
        if err == jute::ErrorCode::NoNode as i32 {
            seen.push(Seen::Gone { path: p, zxid });
            continue;
        }
        if err != 0 {
            unreadable += 1;
            continue;
        }
        let resp = GetChildren2Response::decode(body)
            .map_err(|e| anyhow!("{addr}: bad getChildren2 reply for {p}: {e:?}"))?;
        for c in &resp.children {
            let child = path::join(&p, c);
            if child != "/zookeeper" {
                queue.push_back(child);
            }
        }
        match zk.get_data(&p)? {
            Ok(d) => seen.push(Seen::Data {
                path: p.clone(),
                zxid: zk.last_zxid,
                data: d.data,
            }),
            Err(e) if e == jute::ErrorCode::NoNode as i32 => seen.push(Seen::Gone {
                path: p.clone(),
                zxid: zk.last_zxid,
            }),
            Err(_) => unreadable += 1,
        }
        seen.push(Seen::Node {
            path: p,
            zxid,
            stat: resp.stat,
            children: resp.children,
        });
    }
    zk.close();
    Ok((seen, unreadable))
}

/// How many distinct revisions of a busy tree are compared at most.
const MAX_REVISIONS: usize = 16;

/// Compares an instance's answers with etcd at the revisions they carry.
async fn compare_instance(
    client: &etcd_client::Client,
    layout: &Layout,
    addr: &str,
    auth: &[String],
    r: &mut Report,
) -> anyhow::Result<()> {
    let (a, au) = (addr.to_string(), auth.to_vec());
    let (seen, unreadable) = tokio::task::spawn_blocking(move || walk_instance(&a, &au))
        .await
        .map_err(|e| anyhow!("{e}"))??;
    let revisions: BTreeSet<i64> = seen.iter().map(|s| s.zxid()).collect();
    let mut trees: HashMap<i64, Arc<Tree>> = HashMap::new();
    let mut skipped = 0;
    for rev in revisions.iter().take(MAX_REVISIONS) {
        // Built as an instance builds it, so that child changes other
        // writers made since the watermark are counted the same way.
        match crate::replica::build_tree(client, layout, Some(*rev)).await {
            Ok(built) => {
                trees.insert(*rev, Arc::new(built.tree));
            }
            Err(e) => r.warn(format!(
                "{addr}: cannot read etcd at revision {rev} to compare ({e:#})"
            )),
        }
    }
    let mut compared = 0;
    for s in &seen {
        let Some(tree) = trees.get(&s.zxid()) else {
            skipped += 1;
            continue;
        };
        compared += 1;
        let zxid = s.zxid();
        match s {
            Seen::Gone { path: p, .. } => {
                if tree.get(p).is_some() {
                    r.error(format!(
                        "{addr}: {p} does not exist there at zxid {zxid}, but does in etcd"
                    ));
                }
            }
            Seen::Node {
                path: p,
                stat,
                children,
                ..
            } => match tree.get(p) {
                None => r.error(format!(
                    "{addr}: {p} exists there at zxid {zxid}, but not in etcd"
                )),
                Some(e) => {
                    let want = e.stat(p);
                    if want != *stat {
                        r.error(format!(
                            "{addr}: {p} at zxid {zxid}: Stat {} there, {} from etcd",
                            show(stat),
                            show(&want)
                        ));
                    }
                    let mut got: Vec<&str> = children.iter().map(|c| c.as_str()).collect();
                    got.sort_unstable();
                    let want: Vec<&str> = e.children.iter().map(|c| c.as_ref()).collect();
                    if got != want {
                        r.error(format!(
                            "{addr}: {p} at zxid {zxid}: children {got:?} there, {want:?} in etcd"
                        ));
                    }
                }
            },
            Seen::Data { path: p, data, .. } => match tree.get(p) {
                None => r.error(format!(
                    "{addr}: {p} exists there at zxid {zxid}, but not in etcd"
                )),
                Some(e) => {
                    if e.data() != *data {
                        r.error(format!(
                            "{addr}: {p} at zxid {zxid}: data differs ({} bytes there, {} in etcd)",
                            data.as_ref().map(|d| d.len() as i64).unwrap_or(-1),
                            e.data().map(|d| d.len() as i64).unwrap_or(-1)
                        ));
                    }
                }
            },
        }
    }
    if skipped > 0 {
        r.warn(format!(
            "{addr}: the tree changed through more than {MAX_REVISIONS} revisions during the \
             walk; {skipped} answers not compared"
        ));
    }
    if unreadable > 0 {
        r.warn(format!(
            "{addr}: {unreadable} znodes not readable (ACL); pass --auth to compare them"
        ));
    }
    r.facts.push(format!(
        "{addr}: {compared} answers compared with etcd at {} revision(s)",
        trees.len()
    ));
    Ok(())
}

fn show(s: &Stat) -> String {
    format!(
        "{{czxid {} mzxid {} pzxid {} ctime {} mtime {} version {} cversion {} aversion {} \
         ephemeralOwner 0x{:x} dataLength {} numChildren {}}}",
        s.czxid,
        s.mzxid,
        s.pzxid,
        s.ctime,
        s.mtime,
        s.version,
        s.cversion,
        s.aversion,
        s.ephemeral_owner,
        s.data_length,
        s.num_children
    )
}

/// Runs the check and prints its report; Ok(false) when it found
/// inconsistencies.
pub async fn check(args: CheckArgs) -> anyhow::Result<bool> {
    let client = args.etcd.connect().await?;
    let layout = Layout::new(args.etcd.prefix());
    let snap = load(&client, &layout, None).await?;
    let mut report = check_layout(&layout, &snap, args.allow_foreign);
    report.facts.insert(
        0,
        format!(
            "zoe check: etcd {} prefix {:?}",
            args.etcd.etcd.as_deref().unwrap_or_default().join(","),
            args.etcd.prefix()
        ),
    );
    for addr in &args.zoe {
        compare_instance(&client, &layout, addr, &args.auth, &mut report)
            .await
            .with_context(|| format!("cannot compare the instance at {addr}"))?;
    }
    print!("{}", report.render());
    Ok(report.consistent())
}
