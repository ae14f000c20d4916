//! The `zoe` command line: `serve`, `import`, `export`, `check`.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use clap::{Parser, Subcommand};
use tracing::{error, info, warn};
use tracing_subscriber::EnvFilter;

use zoe::config::{Options, Settings};
use zoe::local_etcd::LocalEtcd;
use zoe::server::Server;

#[derive(Parser)]
#[command(name = "zoe", version, about = "A ZooKeeper-compatible server on etcd")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once
enum Cmd {
    /// Serve ZooKeeper clients.
    Serve(ServeArgs),
    /// Copy the tree of a running ZooKeeper into etcd (ephemerals skipped).
    Import(zoe::migrate::ImportArgs),
    /// Dump the tree stored in etcd (path, data, stat, ACL).
    Export(zoe::migrate::ExportArgs),
    /// Verify the tree stored in etcd (and, with --zoe, what running
    /// instances serve). Exit status 0: consistent, 1: inconsistencies
    /// found, 2: the check could not run.
    Check(zoe::check::CheckArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// TOML configuration file (keys are the flag names); flags override it.
    #[arg(long, env = "ZOE_CONFIG")]
    config: Option<PathBuf>,
    /// A ZooKeeper zoo.cfg to take ZooKeeper settings from; --config and
    /// flags override it.
    #[arg(long)]
    zoo_cfg: Option<PathBuf>,
    #[command(flatten)]
    opts: Options,
}

/// Logs go to standard output for `serve` and to standard error for the
/// tools, whose output is their result.
fn init_logging(level: Option<&str>, format: &str, to_stderr: bool) {
    let filter = match level {
        Some(l) => EnvFilter::new(l),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match (format == "json", to_stderr) {
        (true, false) => builder.json().init(),
        (true, true) => builder.json().with_writer(std::io::stderr).init(),
        (false, false) => builder.init(),
        (false, true) => builder.with_writer(std::io::stderr).init(),
    }
}

/// How a command ended, beyond success and failure.
enum Exit {
    Ok,
    /// `zoe check` found inconsistencies.
    Inconsistent,
}

fn main() {
    let checking = std::env::args().nth(1).as_deref() == Some("check");
    match run() {
        Ok(Exit::Ok) => {}
        Ok(Exit::Inconsistent) => std::process::exit(1),
        Err(e) => {
            // One clear line (plus causes), without a backtrace.
            eprintln!("zoe: error: {e:#}");
            // `zoe check` keeps 1 for "inconsistent".
            std::process::exit(if checking { 2 } else { 1 });
        }
    }
}

fn run() -> anyhow::Result<Exit> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = match cli.command {
        Cmd::Serve(args) => {
            let mut notes = Vec::new();
            let mut opts = args.opts;
            if let Some(path) = &args.config {
                opts = opts.over(Options::load_toml(path)?);
            }
            if let Some(path) = &args.zoo_cfg {
                let (zoo, n) = Options::load_zoo_cfg(path)?;
                notes = n;
                opts = opts.over(zoo);
            }
            let settings = opts.resolve()?;
            init_logging(settings.log_level.as_deref(), &settings.log_format, false);
            for n in notes {
                warn!("{n}");
            }
            let r = rt.block_on(serve(settings));
            if let Err(e) = &r {
                error!("{e:#}");
            }
            r
        }
        Cmd::Import(args) => {
            init_logging(None, "text", true);
            rt.block_on(zoe::migrate::import(args))
        }
        Cmd::Export(args) => {
            init_logging(Some("error"), "text", true);
            rt.block_on(zoe::migrate::export(args))
        }
        Cmd::Check(args) => {
            init_logging(Some("error"), "text", true);
            let consistent = rt.block_on(zoe::check::check(args));
            rt.shutdown_timeout(Duration::from_secs(1));
            return consistent.map(|ok| if ok { Exit::Ok } else { Exit::Inconsistent });
        }
    };
    rt.shutdown_timeout(Duration::from_secs(1));
    result.map(|()| Exit::Ok)
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let mut config = settings.server.clone();
    let mut _local = None;
    if !settings.etcd_given {
        let local = LocalEtcd::start(
            &settings.etcd_bin,
            settings.data_dir.clone(),
            settings.local_etcd_port,
        )
        .await?;
        config.etcd = vec![local.endpoint.clone()];
        _local = Some(local);
    }
    let slot: zoe::admin::ServerSlot = Arc::new(OnceLock::new());
    if let Some(addr) = &config.admin_listen {
        zoe::admin::start(addr, slot.clone()).await?;
    }
    let server = {
        // A freshly started local etcd needs a moment before it answers.
        let mut attempt = 0;
        loop {
            match Server::start(config.clone()).await {
                Ok(s) => break s,
                Err(e) if _local.is_some() && attempt < 20 => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    if attempt == 20 {
                        error!(error = %e, "local etcd did not come up");
                    }
                }
                Err(e) => return Err(e),
            }
        }
    };
    let listeners = server.bind().await?;
    let _ = slot.set(server.clone());
    if config.admin_listen.is_some() {
        zoe::admin::start_sampler(server.clone());
    }
    info!(
        listen = %config.listen,
        secure_listen = config.secure_listen.as_deref().unwrap_or("-"),
        instance = %server.instance,
        "zoe is serving ZooKeeper clients"
    );
    server
        .run(listeners, shutdown_signal(), settings.shutdown_grace)
        .await;
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
