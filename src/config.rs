//! `zoe serve` settings: command-line flags, a TOML file (`--config`) and a
//! ZooKeeper `zoo.cfg` (`--zoo-cfg`), merged in that order of precedence
//! (a flag beats the TOML file, which beats zoo.cfg, which beats the
//! default). Every option and its default is listed in
//! docs/configuration.md.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use serde::Deserialize;

use crate::profile::Profile;
use crate::reaper::ReaperConfig;
use crate::server::{Config, EtcdTls, TlsFiles};
use crate::session::SessionConfig;

/// Defaults, in one place (docs/configuration.md repeats them).
pub mod defaults {
    pub const LISTEN: &str = "127.0.0.1:2181";
    pub const TICK_TIME_MS: u64 = 2000;
    pub const MAX_CLIENT_CNXNS: usize = 60;
    /// jute.maxbuffer: 1 MiB - 1.
    pub const MAX_FRAME: usize = 0xfffff;
    pub const FOUR_LETTER_WORDS: &str = "srvr";
    pub const LOG_LEVEL: &str = "info";
    pub const LOG_FORMAT: &str = "text";
    pub const CONTAINER_CHECK_INTERVAL_MS: u64 = 60_000;
    pub const CONTAINER_MAX_PER_MINUTE: usize = 10_000;
    pub const CONTAINER_MAX_NEVER_USED_MS: i64 = 0;
    pub const DATA_DIR: &str = "var/etcd";
    /// etcd's own default --max-txn-ops.
    pub const ETCD_MAX_TXN_OPS: usize = 128;
    pub const MAX_OUTBOUND_BYTES: usize = 64 << 20;
    /// ZooKeeper's globalOutstandingLimit (there for the whole server,
    /// here per connection).
    pub const MAX_OUTSTANDING: usize = 1000;
    /// zookeeper.nio.sessionlessCnxnTimeout.
    pub const SESSIONLESS_CNXN_TIMEOUT_MS: u64 = 10_000;
    /// ZooKeeper has no watch limit; these bound what one session's
    /// watches can cost (docs/COMPATIBILITY.md).
    pub const MAX_WATCHES: usize = 1_000_000;
    pub const MAX_WATCH_BYTES: usize = 128 << 20;
    /// What the supervised local etcd is started with.
    pub const LOCAL_ETCD_MAX_TXN_OPS: usize = 10_000;
    pub const LOCAL_ETCD_PORT: u16 = 2379;
    pub const ETCD_BIN: &str = "etcd";
    pub const READY_MAX_LAG: i64 = 1000;
    pub const SHUTDOWN_GRACE_MS: u64 = 2000;
}

/// One value for every setting, each optional: what one source (flags, a
/// TOML file, a zoo.cfg) says. The same struct is the clap argument set of
/// `zoe serve` and the schema of the TOML file, so the names agree: a flag
/// `--tick-time` is the key `tick-time`.
#[derive(Debug, Default, Clone, PartialEq, clap::Args, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Options {
    /// Address for ZooKeeper clients [default: 127.0.0.1:2181].
    #[arg(long, env = "ZOE_LISTEN")]
    pub listen: Option<String>,
    /// Address for ZooKeeper clients over TLS (needs --tls-cert/--tls-key).
    #[arg(long, env = "ZOE_SECURE_LISTEN")]
    pub secure_listen: Option<String>,
    /// PEM certificate chain of the secure client port.
    #[arg(long)]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of the secure client port.
    #[arg(long)]
    pub tls_key: Option<PathBuf>,
    /// PEM CA bundle: when set, secure clients must present a certificate
    /// signed by it.
    #[arg(long)]
    pub tls_ca: Option<PathBuf>,
    /// How to reach etcd (shared with the tools: import, export, check).
    #[command(flatten)]
    #[serde(skip)]
    pub etcd: EtcdOptions,
    /// Who else writes the tree: `zookeeper` (only zoe) or `pulsar-2.10`
    /// (the tree of Pulsar 2.10's etcd metadata store, shared with it;
    /// docs/shared-tree.md) [default: zookeeper].
    #[arg(long, env = "ZOE_PROFILE")]
    pub profile: Option<String>,
    /// ZooKeeper's tickTime in ms [default: 2000].
    #[arg(long)]
    pub tick_time: Option<u64>,
    /// Smallest session timeout granted, ms [default: 2 x tick-time].
    #[arg(long)]
    pub min_session_timeout: Option<i32>,
    /// Largest session timeout granted, ms [default: 20 x tick-time].
    #[arg(long)]
    pub max_session_timeout: Option<i32>,
    /// Connections allowed from one IP address; 0 for no limit [default: 60].
    #[arg(long)]
    pub max_client_cnxns: Option<usize>,
    /// jute.maxbuffer: largest request frame in bytes [default: 1048575].
    #[arg(long)]
    pub max_frame: Option<usize>,
    /// Four-letter words answered (4lw.commands.whitelist); `*` for all
    /// [default: srvr].
    #[arg(long, value_delimiter = ',')]
    #[serde(default, deserialize_with = "string_or_list")]
    pub four_letter_words: Option<Vec<String>>,
    /// Address of the admin HTTP server (/commands, /metrics, /health,
    /// /ready) [default: off].
    #[arg(long, env = "ZOE_ADMIN_LISTEN")]
    pub admin_listen: Option<String>,
    /// /ready fails while the replica is more than this many etcd
    /// revisions behind [default: 1000].
    #[arg(long)]
    pub ready_max_lag: Option<i64>,
    /// On SIGTERM, how long in-flight requests may take before client
    /// connections are closed, ms [default: 2000].
    #[arg(long)]
    pub shutdown_grace_ms: Option<u64>,
    /// Log level or tracing filter (RUST_LOG syntax) [default: info;
    /// RUST_LOG when set].
    #[arg(long)]
    pub log_level: Option<String>,
    /// Log format: text or json [default: text].
    #[arg(long)]
    pub log_format: Option<String>,
    /// `super:<base64 sha1>`: a digest identity allowed everything
    /// (ZooKeeper's superDigest). Stored in etcd for every instance.
    #[arg(long, env = "ZOE_SUPER_DIGEST")]
    pub super_digest: Option<String>,
    /// Enable TTL nodes (zookeeper.extendedTypesEnabled) [default: false].
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub extended_types: Option<bool>,
    /// How often containers and TTL nodes are checked, ms
    /// (znode.container.checkIntervalMs) [default: 60000].
    #[arg(long)]
    pub container_check_interval_ms: Option<u64>,
    /// znode.container.maxPerMinute [default: 10000].
    #[arg(long)]
    pub container_max_per_minute: Option<usize>,
    /// znode.container.maxNeverUsedIntervalMs; 0 disables [default: 0].
    #[arg(long)]
    pub container_max_never_used_ms: Option<i64>,
    /// etcd's --max-txn-ops: the most operations zoe puts in one
    /// group-commit transaction [default: 128, etcd's own default; 10000
    /// with the supervised local etcd, which is started with that].
    #[arg(long)]
    pub etcd_max_txn_ops: Option<usize>,
    /// Group concurrent writes of different sessions into shared etcd
    /// transactions and pipeline a connection's writes; writes of different
    /// sessions committed together share a zxid (docs/COMPATIBILITY.md).
    /// `--group-commit=false`: one etcd transaction per write, in request
    /// order per connection [default: true].
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub group_commit: Option<bool>,
    /// Bytes of replies and notifications a connection may have queued for
    /// a client that does not read them; past it the connection is closed
    /// [default: 67108864].
    #[arg(long)]
    pub max_outbound_bytes: Option<usize>,
    /// Requests one connection may have read and not yet answered
    /// (globalOutstandingLimit, per connection here); past it zoe stops
    /// reading that socket until replies go out [default: 1000].
    #[arg(long)]
    pub max_outstanding: Option<usize>,
    /// How long a new connection may take to complete its handshake
    /// (zookeeper.nio.sessionlessCnxnTimeout), ms [default: 10000].
    #[arg(long)]
    pub sessionless_cnxn_timeout: Option<u64>,
    /// Distinct paths one session may watch; past it, requests that would
    /// add a watch fail with QUOTAEXCEEDED [default: 1000000].
    #[arg(long)]
    pub max_watches: Option<usize>,
    /// Total length in bytes of the paths one session may watch
    /// [default: 134217728].
    #[arg(long)]
    pub max_watch_bytes: Option<usize>,
    /// Where the supervised local etcd keeps its data [default: var/etcd].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Client port of the supervised local etcd; the peer port is +1
    /// [default: 2379].
    #[arg(long)]
    pub local_etcd_port: Option<u16>,
    /// The etcd binary for the supervised local etcd [default: etcd].
    #[arg(long)]
    pub etcd_bin: Option<String>,
}

/// `$hi`'s value of every field where set, else `$lo`'s; the bracketed
/// fields are option groups of their own, merged with their `over`.
macro_rules! overlay {
    ($ty:ident, $hi:expr, $lo:expr, [$($nested:ident),*], $($f:ident),* $(,)?) => {
        $ty { $($nested: $hi.$nested.over($lo.$nested),)* $($f: $hi.$f.or($lo.$f)),* }
    };
}

/// An etcd user and password.
pub type EtcdUser = (String, String);

/// How to reach etcd and where zoe's keys are: the flags (and TOML keys)
/// `zoe serve` shares with `zoe import`, `zoe export` and `zoe check`.
#[derive(Debug, Default, Clone, PartialEq, clap::Args, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct EtcdOptions {
    /// etcd endpoints, comma separated. Without it `zoe serve` starts and
    /// supervises a local etcd under --data-dir.
    #[arg(long, value_delimiter = ',', env = "ZOE_ETCD")]
    #[serde(default, deserialize_with = "string_or_list")]
    pub etcd: Option<Vec<String>>,
    /// etcd user (with --etcd-password).
    #[arg(long, env = "ZOE_ETCD_USER")]
    pub etcd_user: Option<String>,
    #[arg(long, env = "ZOE_ETCD_PASSWORD")]
    pub etcd_password: Option<String>,
    /// PEM CA bundle that signed etcd's server certificate (enables TLS).
    #[arg(long)]
    pub etcd_ca: Option<PathBuf>,
    /// PEM client certificate for etcd (with --etcd-key).
    #[arg(long)]
    pub etcd_cert: Option<PathBuf>,
    /// PEM private key of --etcd-cert.
    #[arg(long)]
    pub etcd_key: Option<PathBuf>,
    /// Name to verify etcd's certificate against, when it differs from the
    /// endpoint's host.
    #[arg(long)]
    pub etcd_domain: Option<String>,
    /// Prefix of every key zoe writes in etcd [default: empty].
    #[arg(long, env = "ZOE_PREFIX")]
    pub prefix: Option<String>,
}

impl EtcdOptions {
    /// The TOML keys of these options.
    const KEYS: &'static [&'static str] = &[
        "etcd",
        "etcd-user",
        "etcd-password",
        "etcd-ca",
        "etcd-cert",
        "etcd-key",
        "etcd-domain",
        "prefix",
    ];

    /// `self` where set, else `lower`.
    pub fn over(self, lower: EtcdOptions) -> EtcdOptions {
        overlay!(
            EtcdOptions,
            self,
            lower,
            [],
            etcd,
            etcd_user,
            etcd_password,
            etcd_ca,
            etcd_cert,
            etcd_key,
            etcd_domain,
            prefix,
        )
    }

    /// The credentials and TLS settings, checked for consistency.
    pub fn auth(&self) -> anyhow::Result<(Option<EtcdUser>, Option<EtcdTls>)> {
        let tls = match (&self.etcd_ca, &self.etcd_cert, &self.etcd_key) {
            (None, None, None) => None,
            (_, Some(_), None) | (_, None, Some(_)) => {
                bail!("etcd-cert and etcd-key go together")
            }
            (ca, cert, key) => Some(EtcdTls {
                ca: ca.clone(),
                cert: cert.clone(),
                key: key.clone(),
                domain: self.etcd_domain.clone(),
            }),
        };
        let user = match (&self.etcd_user, &self.etcd_password) {
            (Some(u), Some(p)) => Some((u.clone(), p.clone())),
            (None, None) => None,
            _ => bail!("etcd-user and etcd-password go together"),
        };
        Ok((user, tls))
    }

    /// The prefix of zoe's keys (empty by default).
    pub fn prefix(&self) -> &str {
        self.prefix.as_deref().unwrap_or("")
    }

    /// Connects, for the tools, which need --etcd.
    pub async fn connect(&self) -> anyhow::Result<etcd_client::Client> {
        let endpoints = match &self.etcd {
            Some(e) if !e.is_empty() => e,
            _ => bail!("--etcd (or ZOE_ETCD) is required: the etcd endpoints zoe uses"),
        };
        let (user, tls) = self.auth()?;
        crate::etcd::connect(endpoints, user.as_ref(), tls.as_ref()).await
    }
}

fn string_or_list<'de, D>(d: D) -> Result<Option<Vec<String>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => None,
        Some(OneOrMany::One(s)) => Some(split_list(&s)),
        Some(OneOrMany::Many(v)) => Some(v),
    })
}

fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(|x| x.trim().to_string())
        .filter(|x| !x.is_empty())
        .collect()
}

impl Options {
    /// `self` where set, else `lower`.
    pub fn over(self, lower: Options) -> Options {
        overlay!(
            Options,
            self,
            lower,
            [etcd],
            listen,
            secure_listen,
            tls_cert,
            tls_key,
            tls_ca,
            profile,
            tick_time,
            min_session_timeout,
            max_session_timeout,
            max_client_cnxns,
            max_frame,
            four_letter_words,
            admin_listen,
            ready_max_lag,
            shutdown_grace_ms,
            log_level,
            log_format,
            super_digest,
            extended_types,
            container_check_interval_ms,
            container_max_per_minute,
            container_max_never_used_ms,
            etcd_max_txn_ops,
            group_commit,
            max_outbound_bytes,
            max_outstanding,
            sessionless_cnxn_timeout,
            max_watches,
            max_watch_bytes,
            data_dir,
            local_etcd_port,
            etcd_bin,
        )
    }

    /// Parses a TOML configuration file's text.
    pub fn from_toml(text: &str) -> anyhow::Result<Options> {
        // The etcd keys belong to EtcdOptions; the rest must all be known.
        let mut table: toml::Table = toml::from_str(text)?;
        let mut etcd = toml::Table::new();
        for k in EtcdOptions::KEYS {
            if let Some(v) = table.remove(*k) {
                etcd.insert(k.to_string(), v);
            }
        }
        let mut o: Options = table.try_into()?;
        o.etcd = etcd.try_into()?;
        Ok(o)
    }

    /// Reads a TOML configuration file.
    pub fn load_toml(path: &Path) -> anyhow::Result<Options> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        Options::from_toml(&text).with_context(|| format!("invalid config {}", path.display()))
    }

    /// Reads a ZooKeeper zoo.cfg; returns the options and notes about keys
    /// that were ignored (to be logged once logging is set up).
    pub fn load_zoo_cfg(path: &Path) -> anyhow::Result<(Options, Vec<String>)> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        Options::from_zoo_cfg(&text).with_context(|| format!("invalid zoo.cfg {}", path.display()))
    }

    /// Maps the zoo.cfg keys that mean something to zoe; everything else is
    /// reported back as ignored.
    pub fn from_zoo_cfg(text: &str) -> anyhow::Result<(Options, Vec<String>)> {
        let props = parse_properties(text);
        let mut o = Options::default();
        let mut notes = Vec::new();
        let mut client_port: Option<u16> = None;
        let mut client_addr: Option<String> = None;
        let mut secure_port: Option<u16> = None;
        let mut secure_addr: Option<String> = None;
        let mut admin_port: Option<u16> = None;
        let mut admin_addr: Option<String> = None;
        let mut admin_enabled = true;
        let mut keystore: (Option<String>, Option<String>) = (None, None);
        let mut truststore: (Option<String>, Option<String>) = (None, None);
        for (raw_key, value) in &props {
            // zoo.cfg keys not starting with `zookeeper.` become
            // `zookeeper.<key>` system properties; accept both spellings.
            let key = raw_key.strip_prefix("zookeeper.").unwrap_or(raw_key);
            let v = value.as_str();
            let bad = |what: &str| anyhow::anyhow!("{raw_key}={v}: {what}");
            match key {
                "clientPort" => client_port = Some(v.parse().map_err(|_| bad("not a port"))?),
                "clientPortAddress" => client_addr = Some(v.to_string()),
                "secureClientPort" => secure_port = Some(v.parse().map_err(|_| bad("not a port"))?),
                "secureClientPortAddress" => secure_addr = Some(v.to_string()),
                "tickTime" => o.tick_time = Some(v.parse().map_err(|_| bad("not a number"))?),
                "minSessionTimeout" => {
                    let n: i32 = v.parse().map_err(|_| bad("not a number"))?;
                    o.min_session_timeout = (n >= 0).then_some(n);
                }
                "maxSessionTimeout" => {
                    let n: i32 = v.parse().map_err(|_| bad("not a number"))?;
                    o.max_session_timeout = (n >= 0).then_some(n);
                }
                "maxClientCnxns" => {
                    o.max_client_cnxns = Some(v.parse().map_err(|_| bad("not a number"))?)
                }
                "4lw.commands.whitelist" => o.four_letter_words = Some(split_list(v)),
                "jute.maxbuffer" => o.max_frame = Some(v.parse().map_err(|_| bad("not a number"))?),
                "globalOutstandingLimit" => {
                    o.max_outstanding = Some(v.parse().map_err(|_| bad("not a number"))?)
                }
                "nio.sessionlessCnxnTimeout" => {
                    o.sessionless_cnxn_timeout = Some(v.parse().map_err(|_| bad("not a number"))?)
                }
                "extendedTypesEnabled" => o.extended_types = Some(parse_bool(v)),
                "znode.container.checkIntervalMs" => {
                    o.container_check_interval_ms =
                        Some(v.parse().map_err(|_| bad("not a number"))?)
                }
                "znode.container.maxPerMinute" => {
                    o.container_max_per_minute = Some(v.parse().map_err(|_| bad("not a number"))?)
                }
                "znode.container.maxNeverUsedIntervalMs" => {
                    o.container_max_never_used_ms =
                        Some(v.parse().map_err(|_| bad("not a number"))?)
                }
                "DigestAuthenticationProvider.superDigest" => o.super_digest = Some(v.to_string()),
                "admin.enableServer" => admin_enabled = parse_bool(v),
                "admin.serverPort" => admin_port = Some(v.parse().map_err(|_| bad("not a port"))?),
                "admin.serverAddress" => admin_addr = Some(v.to_string()),
                "ssl.keyStore.location" => keystore.0 = Some(v.to_string()),
                "ssl.keyStore.type" => keystore.1 = Some(v.to_string()),
                "ssl.trustStore.location" => truststore.0 = Some(v.to_string()),
                "ssl.trustStore.type" => truststore.1 = Some(v.to_string()),
                k if not_applicable(k) => notes.push(format!(
                    "zoo.cfg: {raw_key} does not apply to zoe (state lives in etcd); ignored"
                )),
                _ => notes.push(format!("zoo.cfg: unknown key {raw_key}; ignored")),
            }
        }
        if let Some(port) = client_port {
            o.listen = Some(host_port(client_addr.as_deref().unwrap_or("0.0.0.0"), port));
        }
        if let Some(port) = secure_port {
            let host = secure_addr
                .as_deref()
                .or(client_addr.as_deref())
                .unwrap_or("0.0.0.0");
            o.secure_listen = Some(host_port(host, port));
        }
        if admin_enabled {
            if let Some(port) = admin_port {
                o.admin_listen = Some(host_port(admin_addr.as_deref().unwrap_or("0.0.0.0"), port));
            }
        }
        match keystore {
            (Some(loc), ty) if is_pem(&loc, ty.as_deref()) => {
                o.tls_cert = Some(PathBuf::from(&loc));
                o.tls_key = Some(PathBuf::from(&loc));
            }
            (Some(loc), _) => notes.push(format!(
                "zoo.cfg: ssl.keyStore.location={loc} is not PEM; zoe reads PEM only \
                 (convert it and use tls-cert/tls-key); ignored"
            )),
            _ => {}
        }
        match truststore {
            (Some(loc), ty) if is_pem(&loc, ty.as_deref()) => o.tls_ca = Some(PathBuf::from(loc)),
            (Some(loc), _) => notes.push(format!(
                "zoo.cfg: ssl.trustStore.location={loc} is not PEM; zoe reads PEM only \
                 (convert it and use tls-ca); ignored"
            )),
            _ => {}
        }
        Ok((o, notes))
    }
}

fn is_pem(location: &str, ty: Option<&str>) -> bool {
    match ty {
        Some(t) => t.eq_ignore_ascii_case("pem"),
        None => {
            let l = location.to_ascii_lowercase();
            l.ends_with(".pem") || l.ends_with(".crt") || l.ends_with(".key")
        }
    }
}

fn parse_bool(v: &str) -> bool {
    v.trim().eq_ignore_ascii_case("true") || v.trim() == "1" || v.trim() == "yes"
}

fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// ZooKeeper settings about its own storage, quorum or JVM, which have no
/// meaning for a server whose state is in etcd.
fn not_applicable(key: &str) -> bool {
    const EXACT: &[&str] = &[
        "dataDir",
        "dataLogDir",
        "initLimit",
        "syncLimit",
        "electionAlg",
        "electionPortBindRetry",
        "peerType",
        "standaloneEnabled",
        "reconfigEnabled",
        "dynamicConfigFile",
        "snapCount",
        "snapSizeLimitInKb",
        "preAllocSize",
        "leaderServes",
        "cnxTimeout",
        "syncEnabled",
        "forceSync",
        "fsync.warningthresholdms",
        "localSessionsEnabled",
        "localSessionsUpgradingEnabled",
        "clientPortListenBacklog",
        "maxCnxns",
        "connectToLearnerMasterLimit",
        "quorumListenOnAllIPs",
        "multiAddress.enabled",
        "serverCnxnFactory",
        "authProvider.1",
        "sslQuorum",
        "portUnification",
        "digest.enabled",
        "skipACL",
        "commitLogCount",
        "txnLogSizeLimitInKb",
        "observerMasterPort",
        "metricsProvider.className",
        "admin.commandURL",
        "admin.idleTimeout",
        "audit.enable",
        "ssl.clientAuth",
        "ssl.keyStore.password",
        "ssl.trustStore.password",
        "ssl.hostnameVerification",
        "ssl.protocol",
        "ssl.enabledProtocols",
        "ssl.ciphersuites",
    ];
    const PREFIXES: &[&str] = &[
        "server.",
        "group.",
        "weight.",
        "autopurge.",
        "metricsProvider.",
        "quorum.",
        "ssl.quorum.",
        "authProvider.",
        "kerberos.",
        "jvm.",
    ];
    EXACT.contains(&key) || PREFIXES.iter().any(|p| key.starts_with(p))
}

/// A Java `.properties` reader good enough for zoo.cfg: `key=value`,
/// `key: value` or `key value`; `#` and `!` comments; a trailing backslash
/// continues the line. The last occurrence of a key wins.
pub fn parse_properties(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut pending = String::new();
    for raw in text.lines() {
        let line = raw.trim_start();
        if pending.is_empty() && (line.is_empty() || line.starts_with('#') || line.starts_with('!'))
        {
            continue;
        }
        if let Some(stripped) = line.strip_suffix('\\') {
            pending.push_str(stripped);
            continue;
        }
        pending.push_str(line);
        let full = std::mem::take(&mut pending);
        let full = full.trim();
        if full.is_empty() {
            continue;
        }
        let split = full
            .find(|c: char| c == '=' || c == ':' || c.is_whitespace())
            .unwrap_or(full.len());
        let key = full[..split].trim();
        let mut rest = full[split..].trim_start();
        if let Some(r) = rest.strip_prefix(['=', ':']) {
            rest = r.trim_start();
        }
        out.insert(key.to_string(), rest.trim_end().to_string());
    }
    out
}

/// Everything resolved: the server's configuration and what `main` needs
/// around it.
#[derive(Debug, Clone)]
pub struct Settings {
    pub server: Config,
    /// Empty when zoe must start a local etcd.
    pub etcd_given: bool,
    pub log_level: Option<String>,
    pub log_format: String,
    pub data_dir: PathBuf,
    pub local_etcd_port: u16,
    pub etcd_bin: String,
    pub shutdown_grace: Duration,
}

impl Options {
    /// Applies defaults and checks consistency.
    pub fn resolve(self) -> anyhow::Result<Settings> {
        let tick = self.tick_time.unwrap_or(defaults::TICK_TIME_MS);
        if tick == 0 {
            bail!("tick-time must be positive");
        }
        let min = self.min_session_timeout.unwrap_or((tick * 2) as i32);
        let max = self.max_session_timeout.unwrap_or((tick * 20) as i32);
        if min > max {
            bail!(
                "min-session-timeout ({min}) must not be larger than max-session-timeout ({max})"
            );
        }
        let secure_listen = self.secure_listen.clone();
        let tls = match (&secure_listen, &self.tls_cert, &self.tls_key) {
            (None, _, _) => None,
            (Some(_), Some(cert), Some(key)) => Some(TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
                ca: self.tls_ca.clone(),
            }),
            (Some(_), _, _) => bail!("secure-listen needs tls-cert and tls-key"),
        };
        let (etcd_user, etcd_tls) = self.etcd.auth()?;
        let log_format = self
            .log_format
            .unwrap_or_else(|| defaults::LOG_FORMAT.into());
        if log_format != "text" && log_format != "json" {
            bail!("log-format must be text or json, not {log_format}");
        }
        let prefix = self.etcd.prefix().to_string();
        let etcd = self.etcd.etcd.unwrap_or_default();
        let mut words = self
            .four_letter_words
            .unwrap_or_else(|| vec![defaults::FOUR_LETTER_WORDS.into()]);
        // Like ZooKeeper: srvr is always on (zkServer.sh status uses it).
        if !words.iter().any(|w| w == "srvr" || w == "*") {
            words.push("srvr".into());
        }
        let profile = match &self.profile {
            Some(name) => Profile::parse(name)?,
            None => Profile::default(),
        };
        profile.check_settings(&prefix)?;
        let max_outstanding = self.max_outstanding.unwrap_or(defaults::MAX_OUTSTANDING);
        if max_outstanding == 0 {
            bail!("max-outstanding must be at least 1");
        }
        let sessionless = self
            .sessionless_cnxn_timeout
            .unwrap_or(defaults::SESSIONLESS_CNXN_TIMEOUT_MS);
        if sessionless == 0 {
            bail!("sessionless-cnxn-timeout must be positive");
        }
        let etcd_max_txn_ops = self.etcd_max_txn_ops.unwrap_or(if etcd.is_empty() {
            defaults::LOCAL_ETCD_MAX_TXN_OPS
        } else {
            defaults::ETCD_MAX_TXN_OPS
        });
        Ok(Settings {
            etcd_given: !etcd.is_empty(),
            server: Config {
                listen: self.listen.unwrap_or_else(|| defaults::LISTEN.into()),
                secure_listen,
                tls,
                etcd,
                etcd_user,
                etcd_tls,
                prefix,
                profile,
                session: SessionConfig {
                    tick_ms: tick,
                    min_timeout_ms: min,
                    max_timeout_ms: max,
                },
                max_frame: self.max_frame.unwrap_or(defaults::MAX_FRAME),
                max_client_cnxns: self.max_client_cnxns.unwrap_or(defaults::MAX_CLIENT_CNXNS),
                extended_types: self.extended_types.unwrap_or(false),
                four_letter_words: words,
                super_digest: self.super_digest,
                admin_listen: self.admin_listen,
                ready_max_lag: self.ready_max_lag.unwrap_or(defaults::READY_MAX_LAG),
                etcd_max_txn_ops,
                group_commit: self.group_commit.unwrap_or(true),
                max_outbound_bytes: self
                    .max_outbound_bytes
                    .unwrap_or(defaults::MAX_OUTBOUND_BYTES),
                max_outstanding,
                sessionless_timeout: Duration::from_millis(sessionless),
                watch_limits: crate::ops::WatchLimits {
                    max_watches: self.max_watches.unwrap_or(defaults::MAX_WATCHES),
                    max_watch_bytes: self.max_watch_bytes.unwrap_or(defaults::MAX_WATCH_BYTES),
                },
                reaper: ReaperConfig {
                    interval: Duration::from_millis(
                        self.container_check_interval_ms
                            .unwrap_or(defaults::CONTAINER_CHECK_INTERVAL_MS)
                            .max(10),
                    ),
                    max_per_minute: self
                        .container_max_per_minute
                        .unwrap_or(defaults::CONTAINER_MAX_PER_MINUTE),
                    max_never_used_ms: self
                        .container_max_never_used_ms
                        .unwrap_or(defaults::CONTAINER_MAX_NEVER_USED_MS),
                },
            },
            log_level: self.log_level,
            log_format,
            data_dir: self
                .data_dir
                .unwrap_or_else(|| PathBuf::from(defaults::DATA_DIR)),
            local_etcd_port: self.local_etcd_port.unwrap_or(defaults::LOCAL_ETCD_PORT),
            etcd_bin: self.etcd_bin.unwrap_or_else(|| defaults::ETCD_BIN.into()),
            shutdown_grace: Duration::from_millis(
                self.shutdown_grace_ms
                    .unwrap_or(defaults::SHUTDOWN_GRACE_MS),
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_syntax() {
        let p = parse_properties(
            "# comment\n! also\n\nclientPort=2181\ntickTime : 3000\ndataDir /var/zk\n\
             server.1=a:1:2\\\n   ;participant\n  spaced = x y  \nempty=\n",
        );
        assert_eq!(p["clientPort"], "2181");
        assert_eq!(p["tickTime"], "3000");
        assert_eq!(p["dataDir"], "/var/zk");
        assert_eq!(p["server.1"], "a:1:2;participant");
        assert_eq!(p["spaced"], "x y");
        assert_eq!(p["empty"], "");
        assert_eq!(p.len(), 6);
    }

    #[test]
    fn zoo_cfg_mapping() {
        let (o, notes) = Options::from_zoo_cfg(
            "tickTime=3000\ninitLimit=10\nsyncLimit=5\ndataDir=/tmp/zk\n\
             clientPort=2182\nclientPortAddress=10.1.2.3\nsecureClientPort=2282\n\
             minSessionTimeout=7000\nmaxSessionTimeout=-1\nmaxClientCnxns=0\n\
             4lw.commands.whitelist=ruok, srvr ,mntr\njute.maxbuffer=4194304\n\
             globalOutstandingLimit=50\nzookeeper.nio.sessionlessCnxnTimeout=3000\n\
             zookeeper.extendedTypesEnabled=true\n\
             znode.container.checkIntervalMs=1000\nznode.container.maxPerMinute=5\n\
             znode.container.maxNeverUsedIntervalMs=9000\nserver.1=h:1:2\n\
             autopurge.snapRetainCount=3\nadmin.serverPort=8081\nfrobnicate=1\n",
        )
        .unwrap();
        assert_eq!(o.tick_time, Some(3000));
        assert_eq!(o.listen.as_deref(), Some("10.1.2.3:2182"));
        assert_eq!(o.secure_listen.as_deref(), Some("10.1.2.3:2282"));
        assert_eq!(o.min_session_timeout, Some(7000));
        assert_eq!(o.max_session_timeout, None);
        assert_eq!(o.max_client_cnxns, Some(0));
        assert_eq!(
            o.four_letter_words,
            Some(vec!["ruok".into(), "srvr".into(), "mntr".into()])
        );
        assert_eq!(o.max_frame, Some(4194304));
        assert_eq!(o.max_outstanding, Some(50));
        assert_eq!(o.sessionless_cnxn_timeout, Some(3000));
        assert_eq!(o.extended_types, Some(true));
        assert_eq!(o.container_check_interval_ms, Some(1000));
        assert_eq!(o.container_max_per_minute, Some(5));
        assert_eq!(o.container_max_never_used_ms, Some(9000));
        assert_eq!(o.admin_listen.as_deref(), Some("0.0.0.0:8081"));
        let joined = notes.join("\n");
        for k in [
            "initLimit",
            "syncLimit",
            "dataDir",
            "server.1",
            "autopurge.",
        ] {
            assert!(joined.contains(k), "{k} not reported: {joined}");
        }
        assert!(joined.contains("unknown key frobnicate"), "{joined}");
    }

    #[test]
    fn zoo_cfg_defaults_and_errors() {
        let (o, _) = Options::from_zoo_cfg("clientPort=2181\n").unwrap();
        assert_eq!(o.listen.as_deref(), Some("0.0.0.0:2181"));
        let (o, _) = Options::from_zoo_cfg(
            "clientPort=1\nclientPortAddress=::1\nadmin.serverPort=9\nadmin.enableServer=false\n",
        )
        .unwrap();
        assert_eq!(o.listen.as_deref(), Some("[::1]:1"));
        assert_eq!(o.admin_listen, None);
        assert!(Options::from_zoo_cfg("clientPort=abc\n").is_err());
        assert!(Options::from_zoo_cfg("tickTime=-5\n").is_err());
        let (o, notes) = Options::from_zoo_cfg(
            "ssl.keyStore.location=/k.pem\nssl.trustStore.location=/t.jks\nssl.trustStore.type=JKS\n",
        )
        .unwrap();
        assert_eq!(o.tls_cert.as_deref(), Some(Path::new("/k.pem")));
        assert_eq!(o.tls_key.as_deref(), Some(Path::new("/k.pem")));
        assert_eq!(o.tls_ca, None);
        assert!(notes.iter().any(|n| n.contains("not PEM")));
    }

    #[test]
    fn toml_file() {
        let o = Options::from_toml(
            "listen = \"0.0.0.0:2181\"\netcd = \"http://a:2379, http://b:2379\"\n\
             tick-time = 1000\nfour-letter-words = [\"ruok\", \"mntr\"]\n\
             extended-types = true\nmax-client-cnxns = 10\nmax-outstanding = 7\n\
             sessionless-cnxn-timeout = 2500\nmax-watches = 9\nmax-watch-bytes = 99\n",
        )
        .unwrap();
        assert_eq!(o.listen.as_deref(), Some("0.0.0.0:2181"));
        assert_eq!(
            o.etcd.etcd,
            Some(vec!["http://a:2379".into(), "http://b:2379".into()])
        );
        assert_eq!(o.tick_time, Some(1000));
        assert_eq!(
            o.four_letter_words,
            Some(vec!["ruok".into(), "mntr".into()])
        );
        assert_eq!(o.extended_types, Some(true));
        assert_eq!(o.max_client_cnxns, Some(10));
        assert_eq!(o.max_outstanding, Some(7));
        assert_eq!(o.sessionless_cnxn_timeout, Some(2500));
        assert_eq!(o.max_watches, Some(9));
        assert_eq!(o.max_watch_bytes, Some(99));
        let err = Options::from_toml("tick_time = 5\n").unwrap_err();
        assert!(format!("{err:#}").contains("unknown field"), "{err:#}");
    }

    #[test]
    fn precedence_and_defaults() {
        let flags = Options {
            tick_time: Some(500),
            ..Options::default()
        };
        let file = Options::from_toml("tick-time = 1000\nprefix = \"/p\"\n").unwrap();
        let (zoo, _) =
            Options::from_zoo_cfg("tickTime=3000\nmaxClientCnxns=7\nclientPort=1\n").unwrap();
        let s = flags.over(file.over(zoo)).resolve().unwrap();
        assert_eq!(s.server.session.tick_ms, 500);
        assert_eq!(s.server.session.min_timeout_ms, 1000);
        assert_eq!(s.server.session.max_timeout_ms, 10000);
        assert_eq!(s.server.prefix, "/p");
        assert_eq!(s.server.max_client_cnxns, 7);
        assert_eq!(s.server.listen, "0.0.0.0:1");

        let d = Options::default().resolve().unwrap();
        assert_eq!(d.server.listen, defaults::LISTEN);
        assert_eq!(d.server.max_client_cnxns, 60);
        assert_eq!(d.server.max_frame, 0xfffff);
        assert_eq!(d.server.max_outstanding, 1000);
        assert_eq!(d.server.sessionless_timeout, Duration::from_secs(10));
        assert_eq!(d.server.watch_limits.max_watches, 1_000_000);
        assert_eq!(d.server.watch_limits.max_watch_bytes, 128 << 20);
        assert_eq!(d.server.four_letter_words, vec!["srvr".to_string()]);
        assert!(!d.etcd_given);
        assert_eq!(d.log_format, "text");

        let w = Options {
            four_letter_words: Some(vec!["ruok".into()]),
            ..Options::default()
        }
        .resolve()
        .unwrap();
        assert_eq!(w.server.four_letter_words, vec!["ruok", "srvr"]);
    }

    #[test]
    fn inconsistent_settings_are_refused() {
        let bad = |o: Options| o.resolve().unwrap_err().to_string();
        assert!(bad(Options {
            min_session_timeout: Some(5000),
            max_session_timeout: Some(4000),
            ..Options::default()
        })
        .contains("must not be larger"));
        assert!(bad(Options {
            secure_listen: Some("127.0.0.1:2281".into()),
            ..Options::default()
        })
        .contains("tls-cert"));
        assert!(bad(Options {
            etcd: EtcdOptions {
                etcd_cert: Some("c".into()),
                ..EtcdOptions::default()
            },
            ..Options::default()
        })
        .contains("go together"));
        assert!(bad(Options {
            etcd: EtcdOptions {
                etcd_user: Some("u".into()),
                ..EtcdOptions::default()
            },
            ..Options::default()
        })
        .contains("go together"));
        assert!(bad(Options {
            max_outstanding: Some(0),
            ..Options::default()
        })
        .contains("max-outstanding"));
        assert!(bad(Options {
            log_format: Some("xml".into()),
            ..Options::default()
        })
        .contains("text or json"));
        assert!(bad(Options {
            profile: Some("pulsar".into()),
            ..Options::default()
        })
        .contains("unknown profile"));
        assert!(bad(Options {
            profile: Some("pulsar-2.10".into()),
            etcd: EtcdOptions {
                prefix: Some("/tree".into()),
                ..EtcdOptions::default()
            },
            ..Options::default()
        })
        .contains("empty prefix"));
    }

    #[test]
    fn profile_from_flags_and_file() {
        assert_eq!(
            Options::default().resolve().unwrap().server.profile,
            Profile::Zookeeper
        );
        let file = Options::from_toml("profile = \"pulsar-2.10\"\n").unwrap();
        let s = Options::default().over(file.clone()).resolve().unwrap();
        assert_eq!(s.server.profile, Profile::Pulsar210);
        assert_eq!(s.server.prefix, "");
        let flags = Options {
            profile: Some("zookeeper".into()),
            ..Options::default()
        };
        assert_eq!(
            flags.over(file).resolve().unwrap().server.profile,
            Profile::Zookeeper
        );
    }
}
