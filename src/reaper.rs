//! Removes containers that have lost their last child and TTL nodes whose
//! time is up, like ZooKeeper's ContainerManager.
//!
//! Every instance runs it; the deletes are guarded transactions, so when
//! two instances pick the same node one of them finds it already gone.

use std::sync::Arc;
use std::time::Duration;

use tracing::{debug, info};

use crate::layout::NodeKind;
use crate::plan::{WriteCtx, WriteOp};
use crate::session::now_ms;
use crate::write::{Extra, WriteOutcome, Writer};

#[derive(Debug, Clone)]
pub struct ReaperConfig {
    /// znode.container.checkIntervalMs
    pub interval: Duration,
    /// znode.container.maxPerMinute
    pub max_per_minute: usize,
    /// znode.container.maxNeverUsedIntervalMs (0: never-used containers stay)
    pub max_never_used_ms: i64,
}

/// Whether the node at `path` should go now.
fn due(tree: &crate::tree::Tree, path: &str, now: i64, cfg: &ReaperConfig) -> bool {
    let Some(e) = tree.get(path) else {
        return false;
    };
    if !e.children.is_empty() {
        return false;
    }
    let meta = e.meta();
    match meta.kind {
        NodeKind::Container => {
            e.child_rec(path).creates > 0
                || (cfg.max_never_used_ms > 0 && now - meta.mtime > cfg.max_never_used_ms)
        }
        NodeKind::Ttl => meta.ttl > 0 && now - meta.mtime > meta.ttl,
        _ => false,
    }
}

pub fn start(writer: Writer, cfg: ReaperConfig) {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(cfg.interval);
        interval.tick().await;
        loop {
            interval.tick().await;
            run_once(&writer, &cfg).await;
        }
    });
}

async fn run_once(writer: &Writer, cfg: &ReaperConfig) {
    let now = now_ms();
    let candidates: Vec<String> = {
        let st = writer.replica().read();
        st.tree
            .reapable()
            .filter(|p| due(&st.tree, p, now, cfg))
            .map(str::to_string)
            .collect()
    };
    if candidates.is_empty() {
        return;
    }
    let pause = Duration::from_millis(60_000 / cfg.max_per_minute.max(1) as u64);
    let cfg = Arc::new(cfg.clone());
    for path in candidates {
        let ctx = WriteCtx {
            session_id: 0,
            attached_rev: None,
            auth_ids: vec![],
            now_ms: now_ms(),
            ttl_enabled: true,
        };
        let p = path.clone();
        let c = cfg.clone();
        let r = writer
            .write_with(&ctx, move |tree| {
                due(tree, &p, now_ms(), &c).then(|| {
                    (
                        vec![WriteOp::DeleteContainer { path: p.clone() }],
                        Extra::default(),
                    )
                })
            })
            .await;
        match r {
            Ok(WriteOutcome::Done { zxid, .. }) => info!(%path, zxid, "reaped"),
            Ok(WriteOutcome::Failed { code, .. }) => debug!(%path, ?code, "not reaped"),
            Err(e) => debug!(%path, error = %e, "not reaped"),
        }
        tokio::time::sleep(pause).await;
    }
}
