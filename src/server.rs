//! Wiring: connect to etcd, load the replica, start sessions, accept
//! clients (plain and TLS), stop gracefully.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use etcd_client::{Client, Compare, CompareOp, GetOptions, Txn, TxnOp};
use parking_lot::Mutex;

use crate::profile::Profile;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tracing::{info, warn};

use crate::conns::Conns;
use crate::layout::{self, Layout, LayoutRec};
use crate::replica::Replica;
use crate::session::{SessionConfig, Sessions};
use crate::write::Writer;

/// The secure client port's certificate, key and optional client CA.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// When set, clients must present a certificate signed by it.
    pub ca: Option<PathBuf>,
}

/// TLS towards etcd (https endpoints).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EtcdTls {
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// Name to verify the server certificate against.
    pub domain: Option<String>,
}

/// Everything `serve` needs to know (see config.rs for defaults).
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: String,
    /// The TLS client port, with `tls`.
    pub secure_listen: Option<String>,
    pub tls: Option<TlsFiles>,
    pub etcd: Vec<String>,
    pub etcd_user: Option<(String, String)>,
    pub etcd_tls: Option<EtcdTls>,
    pub prefix: String,
    /// Who else writes the tree (docs/shared-tree.md).
    pub profile: crate::profile::Profile,
    pub session: SessionConfig,
    /// jute.maxbuffer: the largest frame accepted from a client.
    pub max_frame: usize,
    /// maxClientCnxns: connections per client IP (0: unlimited).
    pub max_client_cnxns: usize,
    /// zookeeper.extendedTypesEnabled: TTL nodes.
    pub extended_types: bool,
    /// Four-letter words answered on the client port.
    pub four_letter_words: Vec<String>,
    /// When set, stored in etcd as the super digest for every instance.
    pub super_digest: Option<String>,
    /// The admin HTTP server's address (None: off).
    pub admin_listen: Option<String>,
    /// /ready fails while the replica lags etcd by more revisions.
    pub ready_max_lag: i64,
    pub reaper: crate::reaper::ReaperConfig,
    /// etcd's --max-txn-ops: bounds how many writes one group commit takes.
    pub etcd_max_txn_ops: usize,
    /// Group concurrent writes into shared etcd transactions (they then
    /// share a zxid; see docs/COMPATIBILITY.md). Off: one transaction and
    /// one zxid per write, exactly as ZooKeeper.
    pub group_commit: bool,
    /// Bytes a connection may have queued for its client before it is
    /// closed as not reading.
    pub max_outbound_bytes: usize,
    /// Requests a connection may have read and not yet answered before
    /// zoe stops reading it (globalOutstandingLimit, per connection).
    pub max_outstanding: usize,
    /// zookeeper.nio.sessionlessCnxnTimeout: how long a connection may take
    /// to send its whole ConnectRequest.
    pub sessionless_timeout: Duration,
    /// What one session's watches may cost.
    pub watch_limits: crate::ops::WatchLimits,
}

impl Config {
    /// A configuration with ZooKeeper's defaults, for tools and tests.
    pub fn new(etcd: Vec<String>, prefix: &str) -> Config {
        let mut s = crate::config::Options::default()
            .resolve()
            .expect("defaults are consistent");
        s.server.etcd = etcd;
        s.server.prefix = prefix.to_string();
        s.server
    }
}

pub struct Server {
    pub config: Config,
    pub client: Client,
    pub replica: Arc<Replica>,
    pub writer: Writer,
    pub committer: crate::committer::Committer,
    pub sessions: Arc<Sessions>,
    pub conns: Arc<Conns>,
    pub started: Instant,
    pub instance: String,
    /// Open client connections per IP, for max_client_cnxns.
    per_ip: Mutex<HashMap<IpAddr, usize>>,
}

/// Listening sockets of one server.
pub struct Listeners {
    pub plain: TcpListener,
    /// The secure client port and its TLS acceptor.
    pub secure: Option<(TcpListener, TlsAcceptor)>,
}

/// Holds one of an IP's connection slots until dropped.
struct IpSlot {
    server: Arc<Server>,
    ip: IpAddr,
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut map = self.server.per_ip.lock();
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

impl Server {
    /// Connects to etcd and loads the tree. Fails clearly if etcd cannot be
    /// reached or holds an incompatible layout.
    pub async fn start(config: Config) -> anyhow::Result<Arc<Server>> {
        let client = crate::etcd::connect(
            &config.etcd,
            config.etcd_user.as_ref(),
            config.etcd_tls.as_ref(),
        )
        .await?;
        let layout = config.profile.layout(&config.prefix);
        tokio::time::timeout(
            Duration::from_secs(20),
            ensure_layout(&client, &layout, config.profile),
        )
        .await
        .map_err(|_| anyhow::anyhow!("etcd did not answer within 20 s"))
        .and_then(|r| r)
        .with_context(|| format!("cannot use etcd at {}", config.etcd.join(",")))?;
        if let Some(d) = &config.super_digest {
            let rec = layout::AuthRec {
                super_digest: Some(d.clone()),
            };
            client
                .kv_client()
                .put(layout.auth_key(), layout::encode(&rec), None)
                .await
                .context("cannot store the super digest in etcd")?;
        }
        let conns = Arc::new(Conns::default());
        let (changes_tx, changes_rx) = tokio::sync::mpsc::unbounded_channel();
        let replica_opts = crate::replica::ReplicaOptions {
            max_txn_ops: config.etcd_max_txn_ops,
            keep_watermark: config.profile == crate::profile::Profile::Pulsar210,
            writes: true,
        };
        let replica = Replica::start(
            client.clone(),
            layout,
            replica_opts,
            conns.clone(),
            changes_tx,
        )
        .await?;
        config
            .profile
            .lint(&replica.read().tree, config.etcd_max_txn_ops);
        let writer = Writer::new(client.kv_client(), replica.clone());
        let instance = format!("{:016x}", rand::random::<u64>());
        let sessions = Sessions::new(
            config.session.clone(),
            instance.clone(),
            client.clone(),
            writer.clone(),
            conns.clone(),
            config.etcd_max_txn_ops,
        );
        sessions.start(changes_rx);
        crate::accountant::start(replica.clone(), instance.clone(), config.etcd_max_txn_ops);
        crate::reaper::start(writer.clone(), config.reaper.clone());
        let committer = crate::committer::Committer::start(writer.clone(), config.etcd_max_txn_ops);
        tokio::spawn(watch_etcd_health(
            client.clone(),
            replica.layout().layout_key(),
            sessions.clone(),
        ));
        Ok(Arc::new(Server {
            config,
            client,
            replica,
            writer,
            committer,
            sessions,
            conns,
            started: Instant::now(),
            instance,
            per_ip: Mutex::new(HashMap::new()),
        }))
    }

    /// Binds the client port(s) of the configuration.
    pub async fn bind(&self) -> anyhow::Result<Listeners> {
        let plain = TcpListener::bind(&self.config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", self.config.listen))?;
        let secure = match (&self.config.secure_listen, &self.config.tls) {
            (Some(addr), Some(files)) => {
                let acceptor = TlsAcceptor::from(crate::tls::server_config(files)?);
                let l = TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on {addr}"))?;
                Some((l, acceptor))
            }
            _ => None,
        };
        Ok(Listeners { plain, secure })
    }

    /// Takes one of `ip`'s connection slots, or None when it has
    /// max_client_cnxns already.
    fn ip_slot(self: &Arc<Self>, ip: IpAddr) -> Option<IpSlot> {
        let max = self.config.max_client_cnxns;
        let mut map = self.per_ip.lock();
        let n = map.entry(ip).or_insert(0);
        if max > 0 && *n >= max {
            return None;
        }
        *n += 1;
        Some(IpSlot {
            server: self.clone(),
            ip,
        })
    }

    /// Open client connections (for shutdown).
    fn open_connections(&self) -> usize {
        self.per_ip.lock().values().sum()
    }

    fn admit(self: &Arc<Self>, socket: &TcpStream) -> Option<(IpSlot, std::net::SocketAddr)> {
        let peer = socket.peer_addr().ok()?;
        match self.ip_slot(peer.ip()) {
            Some(slot) => {
                crate::metrics::global().connection_accepted();
                Some((slot, peer))
            }
            None => {
                crate::metrics::global().connection_rejected();
                warn!(
                    ip = %peer.ip(),
                    max = self.config.max_client_cnxns,
                    "too many connections from {} (max-client-cnxns is {}); closing",
                    peer.ip(),
                    self.config.max_client_cnxns
                );
                None
            }
        }
    }

    /// Serves clients on `listeners` until `shutdown` resolves, then stops
    /// gracefully: no new connections, in-flight requests get up to `grace`
    /// to finish, then every client socket is closed. Sessions are not
    /// closed: their clients reconnect to another instance and resume them.
    pub async fn run(
        self: Arc<Self>,
        listeners: Listeners,
        shutdown: impl std::future::Future<Output = ()>,
        grace: Duration,
    ) {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut accepters = Vec::new();
        accepters.push(tokio::spawn(
            self.clone().accept_plain(listeners.plain, stop_rx.clone()),
        ));
        if let Some((l, acceptor)) = listeners.secure {
            accepters.push(tokio::spawn(self.clone().accept_tls(
                l,
                acceptor,
                stop_rx.clone(),
            )));
        }
        shutdown.await;
        info!("shutting down: no new connections");
        let _ = stop_tx.send(true);
        for a in accepters {
            let _ = a.await;
        }
        // Let requests already read finish, so their replies go out.
        let deadline = Instant::now() + grace;
        loop {
            let outstanding: i64 = self
                .conns
                .stats()
                .iter()
                .map(|(_, s)| s.outstanding())
                .sum();
            if outstanding <= 0 || Instant::now() >= deadline {
                if outstanding > 0 {
                    warn!(outstanding, "closing connections with requests in flight");
                }
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let ids = self.conns.ids();
        info!(
            connections = ids.len(),
            "closing client connections; their sessions stay open for another instance"
        );
        for id in ids {
            self.conns.close(id);
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.open_connections() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        info!("stopped");
    }

    async fn accept_plain(
        self: Arc<Self>,
        listener: TcpListener,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        loop {
            tokio::select! {
                _ = stop.changed() => return,
                accepted = listener.accept() => match accepted {
                    Ok((socket, _)) => {
                        let Some((slot, peer)) = self.admit(&socket) else { continue };
                        let server = self.clone();
                        tokio::spawn(async move {
                            crate::conn::serve(socket, peer, server).await;
                            drop(slot);
                        });
                    }
                    Err(e) => {
                        warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        }
    }

    async fn accept_tls(
        self: Arc<Self>,
        listener: TcpListener,
        acceptor: TlsAcceptor,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        loop {
            tokio::select! {
                _ = stop.changed() => return,
                accepted = listener.accept() => match accepted {
                    Ok((socket, _)) => {
                        let Some((slot, peer)) = self.admit(&socket) else { continue };
                        let _ = socket.set_nodelay(true);
                        let server = self.clone();
                        let acceptor = acceptor.clone();
                        tokio::spawn(async move {
                            let hs = tokio::time::timeout(
                                Duration::from_secs(10),
                                acceptor.accept(socket),
                            )
                            .await;
                            match hs {
                                Ok(Ok(stream)) => {
                                    crate::conn::serve_stream(stream, peer, server, true).await
                                }
                                Ok(Err(e)) => {
                                    crate::metrics::global().tls_handshake_failed();
                                    info!(%peer, error = %e, "TLS handshake failed");
                                }
                                Err(_) => {
                                    crate::metrics::global().tls_handshake_failed();
                                    info!(%peer, "TLS handshake timed out");
                                }
                            }
                            drop(slot);
                        });
                    }
                    Err(e) => {
                        warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        }
    }

    /// The super digest every instance honours (`super:<base64>`).
    pub fn super_digest(&self) -> Option<String> {
        self.replica.read().tree.auth().super_digest.clone()
    }

    /// Brings the replica up to etcd's current revision (ZooKeeper's sync).
    pub async fn catch_up(&self) -> anyhow::Result<i64> {
        self.replica.sync(Duration::from_secs(10)).await
    }

    /// Accepts clients on one plain listener until `shutdown` resolves
    /// (`run` with the default grace).
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        let listeners = Listeners {
            plain: listener,
            secure: None,
        };
        self.run(
            listeners,
            shutdown,
            Duration::from_millis(crate::config::defaults::SHUTDOWN_GRACE_MS),
        )
        .await
    }
}

/// Probes etcd with a linearizable read (it needs a quorum) every half
/// second. After consecutive failures zoe stops serving — closing client
/// connections and refusing new ones, so clients see a connection loss and
/// try elsewhere, as with a ZooKeeper server that lost quorum — until a
/// probe succeeds again.
async fn watch_etcd_health(client: Client, key: Vec<u8>, sessions: Arc<Sessions>) {
    // Loose enough that a loaded etcd is not taken for a dead one: three
    // probes in a row (about six seconds) must fail.
    const FAILURES: u32 = 3;
    let kv = client.kv_client();
    let mut failures = 0;
    let mut interval = tokio::time::interval(Duration::from_secs(1));
    loop {
        interval.tick().await;
        // A member that is down is not etcd being down: a probe that could
        // not reach one member goes to another.
        let probe = crate::etcd::retry_unsent(|| {
            let mut kv = kv.clone();
            let key = key.clone();
            async move { kv.get(key, Some(GetOptions::new().with_count_only())).await }
        });
        let ok = matches!(
            tokio::time::timeout(Duration::from_secs(2), probe).await,
            Ok(Ok(_))
        );
        if ok {
            if failures >= FAILURES {
                info!("etcd is reachable again; serving clients");
            }
            failures = 0;
            sessions.set_serving(true);
        } else {
            failures += 1;
            if failures == FAILURES {
                warn!("etcd is unreachable; closing client connections until it is back");
                sessions.set_serving(false);
            }
        }
    }
}

/// Writes the layout record on first use and refuses an incompatible one.
/// Marks the tree as zoe's on first start, or checks the mark.
///
/// A first start of the `zookeeper` profile on keys that are already there
/// is refused: they were written by something else (most likely Pulsar's
/// etcd metadata store), and serving them without the profile made for
/// them would, among other things, number ledger ids apart from Pulsar's.
async fn ensure_layout(client: &Client, layout: &Layout, profile: Profile) -> anyhow::Result<()> {
    let key = layout.layout_key();
    let rec = LayoutRec {
        format: layout::FORMAT_VERSION,
    };
    let (from, to) = layout.descendants_range("/");
    let mut first_start = vec![Compare::create_revision(key.clone(), CompareOp::Equal, 0)];
    if profile == Profile::Zookeeper {
        // Holds only when no key lies in the range.
        first_start.push(
            Compare::create_revision(from.clone(), CompareOp::Equal, 0).with_range(to.clone()),
        );
    }
    let txn = Txn::new()
        .when(first_start)
        .and_then([TxnOp::put(key.clone(), layout::encode(&rec), None)])
        .or_else([
            TxnOp::get(key, None),
            TxnOp::get(from, Some(GetOptions::new().with_range(to).with_limit(1))),
        ]);
    let resp = crate::etcd::retry_unsent(|| {
        let mut kv = client.kv_client();
        let txn = txn.clone();
        async move { kv.txn(txn).await }
    })
    .await?;
    if resp.succeeded() {
        info!(format = rec.format, "initialised a new zoe tree in etcd");
        return Ok(());
    }
    let mut gets = resp.op_responses().into_iter().filter_map(|r| match r {
        etcd_client::TxnOpResponse::Get(g) => Some(g),
        _ => None,
    });
    let (mark, existing) = (gets.next(), gets.next());
    let Some(kv) = mark.as_ref().and_then(|g| g.kvs().first()) else {
        // No mark, so the range was not empty.
        let found = existing
            .as_ref()
            .and_then(|g| g.kvs().first())
            .map(|kv| String::from_utf8_lossy(kv.key()).into_owned())
            .unwrap_or_default();
        anyhow::bail!(
            "etcd already holds keys zoe did not write where its tree would be (for example \
             {found:?}) and no zoe tree; if they are the tree of Pulsar's etcd metadata store, \
             start zoe with --profile pulsar-2.10 to serve it; otherwise choose a --prefix \
             nothing else uses"
        );
    };
    match layout::decode::<LayoutRec>(kv.value()) {
        Some(found) if found.format == layout::FORMAT_VERSION => Ok(()),
        Some(found) if (layout::OLDEST_FORMAT..layout::FORMAT_VERSION).contains(&found.format) => {
            // Older trees are read as they are; marking the tree
            // keeps older zoe versions from starting on it.
            let up = Txn::new()
                .when([Compare::mod_revision(
                    layout.layout_key(),
                    CompareOp::Equal,
                    kv.mod_revision(),
                )])
                .and_then([TxnOp::put(layout.layout_key(), layout::encode(&rec), None)]);
            client.kv_client().txn(up).await?;
            info!(
                from = found.format,
                to = rec.format,
                "upgraded the layout format of the tree in etcd"
            );
            Ok(())
        }
        Some(found) => anyhow::bail!(
            "the tree in etcd has layout format {}, this zoe understands {} to {}",
            found.format,
            layout::OLDEST_FORMAT,
            layout::FORMAT_VERSION
        ),
        None => anyhow::bail!("unreadable layout record in etcd"),
    }
}
