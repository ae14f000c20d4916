//! A local etcd that `zoe serve` starts and supervises when no etcd
//! endpoints are given, so one command gives a working server.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use tokio::process::{Child, Command};
use tracing::{info, warn};

pub struct LocalEtcd {
    pub endpoint: String,
    _supervisor: tokio::task::JoinHandle<()>,
}

fn spawn(bin: &str, dir: &Path, client_port: u16, peer_port: u16) -> anyhow::Result<Child> {
    let client = format!("http://127.0.0.1:{client_port}");
    let peer = format!("http://127.0.0.1:{peer_port}");
    let log = std::fs::File::create(dir.join("etcd.log"))?;
    Command::new(bin)
        .arg("--name=zoe-local")
        .arg(format!("--data-dir={}", dir.join("data").display()))
        .arg(format!("--listen-client-urls={client}"))
        .arg(format!("--advertise-client-urls={client}"))
        .arg(format!("--listen-peer-urls={peer}"))
        .arg(format!("--initial-advertise-peer-urls={peer}"))
        .arg(format!("--initial-cluster=zoe-local={peer}"))
        // Multis and session expiry can touch many keys in one transaction.
        .arg("--max-txn-ops=10000")
        .arg("--max-request-bytes=4194304")
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {bin}; install etcd (Debian: etcd-server)"))
}

impl LocalEtcd {
    /// Starts etcd with its data under `dir` and restarts it if it dies.
    pub async fn start(bin: &str, dir: PathBuf, client_port: u16) -> anyhow::Result<LocalEtcd> {
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let peer_port = client_port + 1;
        let mut child = spawn(bin, &dir, client_port, peer_port)?;
        let endpoint = format!("http://127.0.0.1:{client_port}");
        info!(%endpoint, dir = %dir.display(), "started a local etcd");
        let bin = bin.to_string();
        let supervisor = tokio::spawn(async move {
            loop {
                let status = child.wait().await;
                warn!(?status, "local etcd exited; restarting it");
                tokio::time::sleep(Duration::from_secs(1)).await;
                match spawn(&bin, &dir, client_port, peer_port) {
                    Ok(c) => child = c,
                    Err(e) => {
                        warn!(error = %e, "cannot restart the local etcd");
                        return;
                    }
                }
            }
        });
        Ok(LocalEtcd {
            endpoint,
            _supervisor: supervisor,
        })
    }
}
