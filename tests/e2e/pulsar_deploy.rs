//! The Pulsar deployment of `deploy/pulsar/`, defined once for the two
//! places that run it: tests/e2e_pulsar.rs (JVMs on loopback ports) and
//! docker-compose.yml (the apachepulsar/pulsar image). tests/deploy.rs
//! checks that the compose file runs the same templates, rendered the same
//! way, with the same commands.
//!
//! Every configuration file is a template of `deploy/pulsar/` rendered by
//! `deploy/pulsar/render-conf.sh` from environment variables; the commands
//! are the Java entry points the image's `bin/pulsar` and `bin/bookkeeper`
//! scripts start.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::{repo_root, run_command};

/// The Pulsar release of the end-to-end test and of docker-compose.yml.
pub const PULSAR_VERSION: &str = "2.10.5";

/// The official image docker-compose.yml runs.
pub fn pulsar_image() -> String {
    format!("apachepulsar/pulsar:{PULSAR_VERSION}")
}

/// `deploy/pulsar` in the repository.
pub fn deploy_dir() -> PathBuf {
    repo_root().join("deploy/pulsar")
}

/// The renderer, a file of `deploy_dir()`.
pub const RENDER_SCRIPT: &str = "render-conf.sh";

/// Template of the BookKeeper shell (`metaformat`, `whatisinstanceid`).
pub const METAFORMAT_CONF: &str = "metaformat.conf";
/// Template of a bookie.
pub const BOOKIE_CONF: &str = "bookkeeper.conf";
/// Template of the autorecovery process.
pub const AUTORECOVERY_CONF: &str = "autorecovery.conf";
/// Templates of the broker and its function worker.
pub const BROKER_CONF: &str = "broker.conf";
pub const FUNCTIONS_WORKER_CONF: &str = "functions_worker.yml";
/// Templates of a cluster whose metadata is in etcd through Pulsar's own
/// store, shared with autorecovery through zoe (tests/e2e_pulsar_shared_tree.rs).
pub const BROKER_ETCD_CONF: &str = "broker-etcd.conf";
pub const BOOKIE_ETCD_CONF: &str = "bookkeeper-etcd.conf";

/// Every template of `deploy/pulsar`.
pub const TEMPLATES: &[&str] = &[
    METAFORMAT_CONF,
    BOOKIE_CONF,
    AUTORECOVERY_CONF,
    BROKER_CONF,
    FUNCTIONS_WORKER_CONF,
    BROKER_ETCD_CONF,
    BOOKIE_ETCD_CONF,
];

/// JVM settings Pulsar's `bin/bookkeeper` adds so that BookKeeper finds
/// Pulsar's metadata drivers (`metadata-store:` URIs).
pub const PULSAR_METADATA_DRIVERS: &[&str] = &[
    "-Dbookkeeper.metadata.bookie.drivers=org.apache.pulsar.metadata.bookkeeper.PulsarMetadataBookieDriver",
    "-Dbookkeeper.metadata.client.drivers=org.apache.pulsar.metadata.bookkeeper.PulsarMetadataClientDriver",
];

/// The BookKeeper metadata initialisation is `metaformat` without `-force`
/// (it formats an empty store and refuses to touch an existing one), or
/// else `whatisinstanceid` (the cluster is already formatted): running it
/// again, as every `docker compose up` does, never wipes a cluster.
pub const METAFORMAT: &[&str] = &["metaformat", "-nonInteractive"];
pub const INSTANCE_ID: &[&str] = &["whatisinstanceid"];

/// BookKeeper separates the servers of a metadata URI with ';', Pulsar's
/// `zk:` URLs and the ZooKeeper client with ','.
pub fn bookkeeper_servers(zk_servers: &str) -> String {
    zk_servers.replace(',', ";")
}

/// `render-conf.sh TEMPLATE DEST...` with exactly `vars` in the environment
/// (plus PATH): an error names every placeholder without a value.
pub fn render(files: &[(&str, &Path)], vars: &[(&str, String)]) -> Result<(), String> {
    let mut cmd = Command::new("sh");
    cmd.arg(deploy_dir().join(RENDER_SCRIPT));
    for (template, dest) in files {
        cmd.arg(deploy_dir().join(template)).arg(dest);
    }
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = run_command(&mut cmd, None, Duration::from_secs(30));
    if out.success() {
        Ok(())
    } else {
        Err(out.describe())
    }
}

/// `key=value` lines of a Java properties file (comments and blank lines
/// skipped); a key given twice is an error, since BookKeeper's
/// configuration would turn it into a list.
pub fn properties(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut map = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .ok_or_else(|| format!("not a key=value line: {line:?}"))?;
        if map
            .insert(k.trim().to_string(), v.trim().to_string())
            .is_some()
        {
            return Err(format!("key {} given twice", k.trim()));
        }
    }
    Ok(map)
}

/// The properties of a template file, placeholders left as they are.
pub fn template_properties(template: &str) -> BTreeMap<String, String> {
    let path = deploy_dir().join(template);
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    properties(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The ZooKeeper session timeout of every process, in ms: broker.conf's
/// `metadataStoreSessionTimeoutMillis`, which must equal `zkTimeout` of
/// each BookKeeper template.
pub fn session_timeout_ms() -> u64 {
    let broker = template_properties(BROKER_CONF);
    let ms = &broker["metadataStoreSessionTimeoutMillis"];
    for t in [METAFORMAT_CONF, BOOKIE_CONF, AUTORECOVERY_CONF] {
        assert_eq!(
            template_properties(t).get("zkTimeout"),
            Some(ms),
            "{t}: zkTimeout differs from metadataStoreSessionTimeoutMillis of {BROKER_CONF}"
        );
    }
    ms.parse()
        .unwrap_or_else(|e| panic!("metadataStoreSessionTimeoutMillis={ms}: {e}"))
}

// ---------------------------------------------------------------- commands
//
// Java main class and arguments of each process. The image runs them
// through its scripts (tests/deploy.rs maps one to the other):
//   bin/bookkeeper shell ARGS        BookieShell -conf $BOOKIE_CONF ARGS
//   bin/bookkeeper bookie            org.apache.bookkeeper.server.Main --conf $BOOKIE_CONF
//   bin/bookkeeper autorecovery      AutoRecoveryMain --conf $BOOKIE_CONF
//   bin/pulsar initialize-cluster-metadata ARGS   PulsarClusterMetadataSetup ARGS
//   bin/pulsar broker ARGS           PulsarBrokerStarter --broker-conf $PULSAR_BROKER_CONF ARGS

pub type JavaCommand = (&'static str, Vec<String>);

pub fn bookie_shell(conf: &str, args: &[&str]) -> JavaCommand {
    let mut v = vec!["-conf".to_string(), conf.to_string()];
    v.extend(args.iter().map(|s| s.to_string()));
    ("org.apache.bookkeeper.bookie.BookieShell", v)
}

pub fn bookie(conf: &str) -> JavaCommand {
    (
        "org.apache.bookkeeper.server.Main",
        vec!["--conf".into(), conf.into()],
    )
}

pub fn autorecovery(conf: &str) -> JavaCommand {
    (
        "org.apache.bookkeeper.replication.AutoRecoveryMain",
        vec!["--conf".into(), conf.into()],
    )
}

/// `PulsarClusterMetadataSetup` for the cluster a rendered broker.conf
/// describes: the same metadata store, configuration store and BookKeeper
/// (formatted beforehand, hence "existing"), and the broker's URLs.
pub fn cluster_metadata_setup(broker: &BTreeMap<String, String>) -> JavaCommand {
    let get = |k: &str| {
        broker
            .get(k)
            .unwrap_or_else(|| panic!("broker.conf has no {k}"))
            .clone()
    };
    let host = get("advertisedAddress");
    (
        "org.apache.pulsar.PulsarClusterMetadataSetup",
        vec![
            "--cluster".into(),
            get("clusterName"),
            "--metadata-store".into(),
            get("metadataStoreUrl"),
            "--configuration-metadata-store".into(),
            get("configurationMetadataStoreUrl"),
            "--existing-bk-metadata-service-uri".into(),
            get("bookkeeperMetadataServiceUri"),
            "--web-service-url".into(),
            format!("http://{host}:{}", get("webServicePort")),
            "--broker-service-url".into(),
            format!("pulsar://{host}:{}", get("brokerServicePort")),
        ],
    )
}

/// `PulsarClusterMetadataSetup` for a cluster whose metadata is in etcd
/// (a rendered broker-etcd.conf): Pulsar formats BookKeeper's metadata
/// itself, through its metadata driver, since no BookKeeper URI is given.
pub fn cluster_metadata_setup_etcd(broker: &BTreeMap<String, String>) -> JavaCommand {
    let get = |k: &str| {
        broker
            .get(k)
            .unwrap_or_else(|| panic!("broker conf has no {k}"))
            .clone()
    };
    let host = get("advertisedAddress");
    (
        "org.apache.pulsar.PulsarClusterMetadataSetup",
        vec![
            "--cluster".into(),
            get("clusterName"),
            "--metadata-store".into(),
            get("metadataStoreUrl"),
            "--configuration-metadata-store".into(),
            get("configurationMetadataStoreUrl"),
            "--web-service-url".into(),
            format!("http://{host}:{}", get("webServicePort")),
            "--broker-service-url".into(),
            format!("pulsar://{host}:{}", get("brokerServicePort")),
        ],
    )
}

/// The broker without a function worker.
pub fn broker_only(conf: &str) -> JavaCommand {
    (
        "org.apache.pulsar.PulsarBrokerStarter",
        vec!["--broker-conf".into(), conf.into()],
    )
}

pub fn broker(conf: &str, functions_worker_conf: &str) -> JavaCommand {
    (
        "org.apache.pulsar.PulsarBrokerStarter",
        vec![
            "--broker-conf".into(),
            conf.into(),
            "--functions-worker-conf".into(),
            functions_worker_conf.into(),
        ],
    )
}
