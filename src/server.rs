//! Wiring: connect to etcd, load the replica, start sessions, accept
//! clients.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use etcd_client::{Client, Compare, CompareOp, ConnectOptions, GetOptions, Txn, TxnOp};
use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::conns::Conns;
use crate::layout::{self, Layout, LayoutRec};
use crate::replica::Replica;
use crate::session::{SessionConfig, Sessions};
use crate::write::Writer;

/// Everything `serve` needs to know.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: String,
    pub etcd: Vec<String>,
    pub etcd_user: Option<(String, String)>,
    pub prefix: String,
    pub session: SessionConfig,
    /// jute.maxbuffer: the largest frame accepted from a client.
    pub max_frame: usize,
    /// zookeeper.extendedTypesEnabled: TTL nodes.
    pub extended_types: bool,
    /// Four-letter words answered on the client port.
    pub four_letter_words: Vec<String>,
    /// When set, stored in etcd as the super digest for every instance.
    pub super_digest: Option<String>,
    pub reaper: crate::reaper::ReaperConfig,
    /// etcd's --max-txn-ops: bounds how many writes one group commit takes.
    pub etcd_max_txn_ops: usize,
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
}

impl Server {
    /// Connects to etcd and loads the tree. Fails clearly if etcd cannot be
    /// reached or holds an incompatible layout.
    pub async fn start(config: Config) -> anyhow::Result<Arc<Server>> {
        let mut opts = ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(5))
            .with_timeout(Duration::from_secs(15))
            .with_keep_alive(Duration::from_secs(5), Duration::from_secs(5));
        if let Some((u, p)) = &config.etcd_user {
            opts = opts.with_user(u.clone(), p.clone());
        }
        let client = Client::connect(&config.etcd, Some(opts))
            .await
            .with_context(|| format!("cannot connect to etcd at {}", config.etcd.join(",")))?;
        let layout = Layout::new(&config.prefix);
        ensure_layout(&client, &layout)
            .await
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
        let replica = Replica::start(client.clone(), layout, conns.clone(), changes_tx).await?;
        let writer = Writer::new(client.kv_client(), replica.clone());
        let instance = format!("{:016x}", rand::random::<u64>());
        let sessions = Sessions::new(
            config.session.clone(),
            instance.clone(),
            client.clone(),
            writer.clone(),
            conns.clone(),
        );
        sessions.start(changes_rx);
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
        }))
    }

    /// The super digest every instance honours (`super:<base64>`).
    pub fn super_digest(&self) -> Option<String> {
        self.replica.read().tree.auth().super_digest.clone()
    }

    /// Brings the replica up to etcd's current revision (ZooKeeper's sync).
    pub async fn catch_up(&self) -> anyhow::Result<i64> {
        let mut kv = self.client.kv_client();
        let resp = kv
            .get(
                self.replica.layout().layout_key(),
                Some(GetOptions::new().with_count_only()),
            )
            .await?;
        let rev = resp.header().map(|h| h.revision()).unwrap_or(0);
        if !self.replica.wait_for(rev, Duration::from_secs(10)).await {
            anyhow::bail!("replica did not reach revision {rev}");
        }
        Ok(self.replica.revision().max(rev))
    }

    /// Accepts clients until `shutdown` resolves.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => {
                    info!("shutting down");
                    return;
                }
                accepted = listener.accept() => match accepted {
                    Ok((socket, peer)) => {
                        let server = self.clone();
                        tokio::spawn(crate::conn::serve(socket, peer, server));
                    }
                    Err(e) => {
                        warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        }
    }
}

/// Probes etcd with a linearizable read (it needs a quorum) every half
/// second. After consecutive failures zoe stops serving — closing client
/// connections and refusing new ones, so clients see a connection loss and
/// try elsewhere, as with a ZooKeeper server that lost quorum — until a
/// probe succeeds again.
async fn watch_etcd_health(client: Client, key: Vec<u8>, sessions: Arc<Sessions>) {
    const FAILURES: u32 = 3;
    let mut kv = client.kv_client();
    let mut failures = 0;
    let mut interval = tokio::time::interval(Duration::from_millis(500));
    loop {
        interval.tick().await;
        let probe = kv.get(key.clone(), Some(GetOptions::new().with_count_only()));
        let ok = matches!(
            tokio::time::timeout(Duration::from_secs(1), probe).await,
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
async fn ensure_layout(client: &Client, layout: &Layout) -> anyhow::Result<()> {
    let key = layout.layout_key();
    let rec = LayoutRec {
        format: layout::FORMAT_VERSION,
    };
    let txn = Txn::new()
        .when([Compare::create_revision(key.clone(), CompareOp::Equal, 0)])
        .and_then([TxnOp::put(key.clone(), layout::encode(&rec), None)])
        .or_else([TxnOp::get(key, None)]);
    let resp = client.kv_client().txn(txn).await?;
    if resp.succeeded() {
        info!(format = rec.format, "initialised a new zoe tree in etcd");
        return Ok(());
    }
    for r in resp.op_responses() {
        if let etcd_client::TxnOpResponse::Get(g) = r {
            if let Some(kv) = g.kvs().first() {
                match layout::decode::<LayoutRec>(kv.value()) {
                    Some(found) if found.format == layout::FORMAT_VERSION => return Ok(()),
                    Some(found) => anyhow::bail!(
                        "the tree in etcd has layout format {}, this zoe understands {}",
                        found.format,
                        layout::FORMAT_VERSION
                    ),
                    None => anyhow::bail!("unreadable layout record in etcd"),
                }
            }
        }
    }
    Ok(())
}
