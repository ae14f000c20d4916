//! The `zoe` command line.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tracing::{error, info};
use tracing_subscriber::EnvFilter;

use zoe::local_etcd::LocalEtcd;
use zoe::server::{Config, Server};
use zoe::session::SessionConfig;

#[derive(Parser)]
#[command(name = "zoe", version, about = "A ZooKeeper-compatible server on etcd")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve ZooKeeper clients.
    Serve(ServeArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address for ZooKeeper clients.
    #[arg(long, default_value = "127.0.0.1:2181", env = "ZOE_LISTEN")]
    listen: String,
    /// etcd endpoints, comma separated. Without it zoe starts and
    /// supervises a local etcd under --data-dir.
    #[arg(long, value_delimiter = ',', env = "ZOE_ETCD")]
    etcd: Vec<String>,
    /// etcd user (with --etcd-password).
    #[arg(long, env = "ZOE_ETCD_USER")]
    etcd_user: Option<String>,
    #[arg(long, env = "ZOE_ETCD_PASSWORD")]
    etcd_password: Option<String>,
    /// Prefix of every key zoe writes in etcd.
    #[arg(long, default_value = "", env = "ZOE_PREFIX")]
    prefix: String,
    /// ZooKeeper's tickTime in ms; session timeouts default to 2x..20x.
    #[arg(long, default_value_t = 2000)]
    tick_time: u64,
    #[arg(long)]
    min_session_timeout: Option<i32>,
    #[arg(long)]
    max_session_timeout: Option<i32>,
    /// jute.maxbuffer: largest request frame in bytes.
    #[arg(long, default_value_t = 0xfffff)]
    max_frame: usize,
    /// Enable TTL nodes (zookeeper.extendedTypesEnabled).
    #[arg(long)]
    extended_types: bool,
    /// Four-letter words to answer (4lw.commands.whitelist); `*` for all.
    #[arg(long, value_delimiter = ',', default_value = "srvr")]
    four_letter_words: Vec<String>,
    /// `super:<base64 sha1>`: a digest identity allowed everything
    /// (ZooKeeper's superDigest). Stored in etcd for every instance.
    #[arg(long, env = "ZOE_SUPER_DIGEST")]
    super_digest: Option<String>,
    /// How often containers and TTL nodes are checked
    /// (znode.container.checkIntervalMs).
    #[arg(long, default_value_t = 60_000)]
    container_check_interval_ms: u64,
    /// znode.container.maxPerMinute
    #[arg(long, default_value_t = 10_000)]
    container_max_per_minute: usize,
    /// znode.container.maxNeverUsedIntervalMs (0: disabled)
    #[arg(long, default_value_t = 0)]
    container_max_never_used_ms: i64,
    /// etcd's --max-txn-ops (128 unless etcd was started with more): the
    /// most operations zoe puts in one group-commit transaction. The
    /// supervised local etcd allows 10000.
    #[arg(long)]
    etcd_max_txn_ops: Option<usize>,
    /// Where the supervised local etcd keeps its data.
    #[arg(long, default_value = "var/etcd")]
    data_dir: PathBuf,
    /// Client port of the supervised local etcd (the peer port is +1).
    #[arg(long, default_value_t = 2379)]
    local_etcd_port: u16,
    /// The etcd binary for the supervised local etcd.
    #[arg(long, default_value = "etcd")]
    etcd_bin: String,
    /// Log format: text or json. The level comes from RUST_LOG (default info).
    #[arg(long, default_value = "text")]
    log_format: String,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let Cmd::Serve(args) = cli.command;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    if args.log_format == "json" {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .json()
            .init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).init();
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(serve(args))
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut _local = None;
    let etcd = if args.etcd.is_empty() {
        let local =
            LocalEtcd::start(&args.etcd_bin, args.data_dir.clone(), args.local_etcd_port).await?;
        let endpoint = local.endpoint.clone();
        _local = Some(local);
        vec![endpoint]
    } else {
        args.etcd.clone()
    };
    let tick = args.tick_time.max(1);
    let min = args.min_session_timeout.unwrap_or((tick * 2) as i32);
    let max = args
        .max_session_timeout
        .unwrap_or((tick * 20) as i32)
        .max(min);
    let config = Config {
        listen: args.listen.clone(),
        etcd,
        etcd_user: args.etcd_user.zip(args.etcd_password),
        prefix: args.prefix.clone(),
        session: SessionConfig {
            tick_ms: tick,
            min_timeout_ms: min,
            max_timeout_ms: max,
        },
        max_frame: args.max_frame,
        extended_types: args.extended_types,
        four_letter_words: args.four_letter_words.clone(),
        super_digest: args.super_digest.clone(),
        etcd_max_txn_ops: args.etcd_max_txn_ops.unwrap_or(if _local.is_some() {
            10_000
        } else {
            128
        }),
        reaper: zoe::reaper::ReaperConfig {
            interval: std::time::Duration::from_millis(args.container_check_interval_ms.max(10)),
            max_per_minute: args.container_max_per_minute,
            max_never_used_ms: args.container_max_never_used_ms,
        },
    };
    let server = {
        // A freshly started local etcd needs a moment before it answers.
        let mut attempt = 0;
        loop {
            match Server::start(config.clone()).await {
                Ok(s) => break s,
                Err(e) if _local.is_some() && attempt < 20 => {
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
                    if attempt == 20 {
                        error!(error = %e, "local etcd did not come up");
                    }
                }
                Err(e) => return Err(e),
            }
        }
    };
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    info!(listen = %args.listen, instance = %server.instance, "zoe is serving ZooKeeper clients");
    server.serve(listener, shutdown_signal()).await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("signal handler");
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
