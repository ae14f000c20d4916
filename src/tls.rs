//! TLS: the secure client port (rustls, PEM files) and the client side of
//! the etcd connection.

use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, Context};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{self, RootCertStore, ServerConfig};

use crate::server::{EtcdTls, TlsFiles};

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Every certificate in a PEM file.
pub fn load_certs(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let pem = read(path)?;
    let certs = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{}: bad PEM", path.display()))?;
    if certs.is_empty() {
        anyhow::bail!("{}: no certificate found", path.display());
    }
    Ok(certs)
}

/// The first private key (PKCS#8, PKCS#1 or SEC1) in a PEM file.
pub fn load_key(path: &Path) -> anyhow::Result<PrivateKeyDer<'static>> {
    let pem = read(path)?;
    rustls_pemfile::private_key(&mut pem.as_slice())
        .with_context(|| format!("{}: bad PEM", path.display()))?
        .ok_or_else(|| anyhow!("{}: no private key found", path.display()))
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The secure client port's rustls configuration. With a CA, clients must
/// present a certificate it signed (ZooKeeper's `ssl.clientAuth=need`).
pub fn server_config(files: &TlsFiles) -> anyhow::Result<Arc<ServerConfig>> {
    let certs = load_certs(&files.cert)?;
    let key = load_key(&files.key)?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?;
    let builder = match &files.ca {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for c in load_certs(ca)? {
                roots
                    .add(c)
                    .with_context(|| format!("{}: unusable CA certificate", ca.display()))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                .build()
                .context("client certificate verifier")?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let config = builder
        .with_single_cert(certs, key)
        .context("the TLS certificate and key do not match")?;
    Ok(Arc::new(config))
}

/// etcd-client TLS options from PEM files.
pub fn etcd_tls_options(t: &EtcdTls) -> anyhow::Result<etcd_client::TlsOptions> {
    let mut o = etcd_client::TlsOptions::new();
    match &t.ca {
        Some(ca) => o = o.ca_certificate(etcd_client::Certificate::from_pem(read(ca)?)),
        // No CA given: trust the system's roots.
        None => o = o.with_native_roots(),
    }
    if let (Some(cert), Some(key)) = (&t.cert, &t.key) {
        o = o.identity(etcd_client::Identity::from_pem(read(cert)?, read(key)?));
    }
    if let Some(d) = &t.domain {
        o = o.domain_name(d.clone());
    }
    Ok(o)
}
