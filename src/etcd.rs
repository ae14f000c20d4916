//! The connection to etcd, and how zoe gets through the loss of etcd
//! members.
//!
//! etcd-client spreads requests over every endpoint with a power-of-two-
//! choices balancer whose connections are lazy: an endpoint whose member
//! is down still counts as ready, and a request routed to it fails at once
//! with "tcp connect error". With one member of three dead, about a third
//! of zoe's etcd requests would fail that way, each a client connection
//! loss, and three failed health probes in a row would stop the instance
//! although etcd has its quorum. Two things keep zoe going instead:
//!
//! - **An endpoint supervisor** (only with several endpoints) asks every
//!   member for its status twice a second, over a connection of its own,
//!   and takes a member that is down or has no leader out of the shared
//!   balancer until it answers again. The last endpoint is never taken
//!   out: with none, requests would wait forever instead of failing.
//! - **`retry_unsent`** repeats a request that failed before reaching any
//!   member (no connection could be made), which is safe for every
//!   request, writes included: etcd never saw it. A request that failed
//!   after it was sent is not repeated — it may have been applied — and
//!   the client sees a connection loss, as with ZooKeeper.

use std::future::Future;
use std::time::Duration;

use anyhow::Context;
use etcd_client::{Client, ConnectOptions};
use tracing::{debug, info, warn};

use crate::server::EtcdTls;

/// How long a request that could not be sent is retried.
const UNSENT_RETRY: Duration = Duration::from_secs(5);

/// How often the supervisor asks each member for its status.
const PROBE_EVERY: Duration = Duration::from_millis(500);

/// Failed probes in a row before a member leaves the balancer.
const PROBE_FAILURES: u32 = 2;

/// Connects to etcd with the configured credentials and TLS. With several
/// endpoints, also starts the endpoint supervisor.
pub async fn connect(
    endpoints: &[String],
    user: Option<&(String, String)>,
    tls: Option<&EtcdTls>,
) -> anyhow::Result<Client> {
    let (endpoints, opts) = prepare(endpoints, user, tls)?;
    let client = connect_with(&endpoints, opts.clone()).await?;
    if endpoints.len() > 1 {
        tokio::spawn(supervise(client.clone(), endpoints, opts));
    }
    Ok(client)
}

/// The endpoints as full URLs (so the supervisor can name them exactly as
/// the balancer does) and the connect options.
fn prepare(
    endpoints: &[String],
    user: Option<&(String, String)>,
    tls: Option<&EtcdTls>,
) -> anyhow::Result<(Vec<String>, ConnectOptions)> {
    let mut opts = ConnectOptions::new()
        .with_connect_timeout(Duration::from_secs(5))
        .with_timeout(Duration::from_secs(15))
        .with_keep_alive(Duration::from_secs(5), Duration::from_secs(5));
    if let Some((u, p)) = user {
        opts = opts.with_user(u.clone(), p.clone());
    }
    // https endpoints without TLS settings: the system's trusted roots.
    let default_tls = EtcdTls::default();
    let tls = tls.or_else(|| {
        endpoints
            .iter()
            .any(|e| e.starts_with("https://"))
            .then_some(&default_tls)
    });
    if let Some(t) = tls {
        opts = opts.with_tls(crate::tls::etcd_tls_options(t)?);
    }
    let endpoints = endpoints
        .iter()
        .map(|e| match tls {
            // An explicit http:// endpoint with TLS options is a mistake
            // etcd-client refuses; say so plainly.
            Some(_) if e.starts_with("http://") => {
                anyhow::bail!("etcd endpoint {e} is http:// but etcd TLS is configured")
            }
            _ if e.starts_with("http://") || e.starts_with("https://") => Ok(e.clone()),
            // Without a scheme: https when TLS is configured.
            Some(_) => Ok(format!("https://{e}")),
            None => Ok(format!("http://{e}")),
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok((endpoints, opts))
}

async fn connect_with(endpoints: &[String], opts: ConnectOptions) -> anyhow::Result<Client> {
    tokio::time::timeout(
        Duration::from_secs(20),
        Client::connect(endpoints, Some(opts)),
    )
    .await
    .map_err(|_| anyhow::anyhow!("timed out"))
    .and_then(|r| {
        r.map_err(|e| match e {
            // Its Display is just "transport error"; the cause is in Debug.
            etcd_client::Error::TransportError(t) => anyhow::anyhow!("{t:?}"),
            e => anyhow::Error::from(e),
        })
    })
    .with_context(|| format!("cannot connect to etcd at {}", endpoints.join(",")))
}

/// True when a request failed before it reached etcd: no connection to
/// the chosen member could be made. Such a request can be sent again.
pub fn unsent(e: &etcd_client::Error) -> bool {
    let etcd_client::Error::GRpcStatus(status) = e else {
        return false;
    };
    if status.code() != tonic::Code::Unavailable {
        return false;
    }
    let mut source = std::error::Error::source(status);
    while let Some(err) = source {
        if err.downcast_ref::<tonic::ConnectError>().is_some() {
            return true;
        }
        source = err.source();
    }
    false
}

/// Runs `attempt` until it succeeds, fails after reaching etcd, or has
/// failed unsent for `UNSENT_RETRY`.
pub async fn retry_unsent<T, F, Fut>(mut attempt: F) -> Result<T, etcd_client::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, etcd_client::Error>>,
{
    let deadline = tokio::time::Instant::now() + UNSENT_RETRY;
    let mut pause = Duration::from_millis(10);
    loop {
        match attempt().await {
            Err(e) if unsent(&e) && tokio::time::Instant::now() + pause < deadline => {
                debug!(error = %e, "etcd request not sent; trying again");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(200));
            }
            r => return r,
        }
    }
}

/// One member as the supervisor sees it.
struct Member {
    endpoint: String,
    /// A client of this member alone, made when the member first answers.
    probe: Option<Client>,
    failures: u32,
    in_balancer: bool,
}

/// Keeps the shared client's balancer to the members that are up and have
/// a leader (see the module comment).
async fn supervise(client: Client, endpoints: Vec<String>, opts: ConnectOptions) {
    let mut members: Vec<Member> = endpoints
        .into_iter()
        .map(|endpoint| Member {
            endpoint,
            probe: None,
            failures: 0,
            in_balancer: true,
        })
        .collect();
    let mut tick = tokio::time::interval(PROBE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let results =
            futures::future::join_all(members.iter_mut().map(|m| probe(m, opts.clone()))).await;
        for (i, ok) in results.into_iter().enumerate() {
            if ok {
                members[i].failures = 0;
                if !members[i].in_balancer {
                    match client.add_endpoint(&members[i].endpoint).await {
                        Ok(()) => {
                            members[i].in_balancer = true;
                            info!(endpoint = %members[i].endpoint, "etcd member is back; sending it requests again");
                        }
                        Err(e) => {
                            warn!(endpoint = %members[i].endpoint, error = %e, "cannot add etcd endpoint back")
                        }
                    }
                }
                continue;
            }
            members[i].failures += 1;
            let others = members
                .iter()
                .enumerate()
                .filter(|(j, m)| *j != i && m.in_balancer)
                .count();
            if members[i].in_balancer && members[i].failures >= PROBE_FAILURES && others > 0 {
                match client.remove_endpoint(&members[i].endpoint).await {
                    Ok(()) => {
                        members[i].in_balancer = false;
                        warn!(endpoint = %members[i].endpoint, "etcd member is down or has no leader; no requests go to it until it answers");
                    }
                    Err(e) => {
                        warn!(endpoint = %members[i].endpoint, error = %e, "cannot remove etcd endpoint")
                    }
                }
            }
        }
    }
}

/// Asks one member for its status; healthy when it answers in time and
/// knows a leader.
async fn probe(m: &mut Member, opts: ConnectOptions) -> bool {
    let timeout = Duration::from_millis(1500);
    if m.probe.is_none() {
        let endpoint = [m.endpoint.clone()];
        match tokio::time::timeout(timeout, Client::connect(endpoint, Some(opts))).await {
            Ok(Ok(c)) => m.probe = Some(c),
            _ => return false,
        }
    }
    let Some(c) = m.probe.as_mut() else {
        return false;
    };
    match tokio::time::timeout(timeout, c.status()).await {
        Ok(Ok(status)) => status.leader() != 0,
        Ok(Err(e)) => {
            debug!(endpoint = %m.endpoint, error = %e, "etcd member probe failed");
            false
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_refused_connection_is_unsent() {
        // A port nobody listens on: the request cannot have reached etcd.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let (eps, opts) = prepare(&[format!("127.0.0.1:{port}")], None, None).unwrap();
        assert_eq!(eps, vec![format!("http://127.0.0.1:{port}")]);
        let client = connect_with(&eps, opts).await.unwrap();
        let err = client.kv_client().get("k", None).await.unwrap_err();
        assert!(unsent(&err), "{err:?}");
        let tries = std::sync::atomic::AtomicUsize::new(0);
        let started = std::time::Instant::now();
        let r = retry_unsent(|| {
            tries.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut kv = client.kv_client();
            async move { kv.get("k", None).await }
        })
        .await;
        assert!(r.is_err());
        assert!(tries.load(std::sync::atomic::Ordering::Relaxed) > 3);
        assert!(started.elapsed() >= Duration::from_secs(4));
    }

    #[test]
    fn other_failures_are_not_unsent() {
        let e = etcd_client::Error::GRpcStatus(tonic::Status::unavailable("etcdserver: no leader"));
        assert!(!unsent(&e));
        let e = etcd_client::Error::GRpcStatus(tonic::Status::unknown("connection reset"));
        assert!(!unsent(&e));
    }
}
