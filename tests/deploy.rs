//! docker-compose.yml runs the deployment tests/e2e_pulsar.rs proves.
//!
//! The end-to-end test renders `deploy/pulsar/*` with
//! `deploy/pulsar/render-conf.sh` and starts the Java entry points of
//! tests/e2e/pulsar_deploy.rs. These checks read the compose file and
//! assert, without Docker, that every service does the same: it mounts
//! `deploy/pulsar`, renders the same templates through the same script (run
//! here with the service's own environment), names only the zoe services
//! as metadata servers, and starts, through the image's `bin/pulsar` and
//! `bin/bookkeeper`, the command the end-to-end test runs. The zoe services
//! run the binary the Dockerfile builds, with a health check that is run
//! here against a real zoe started with the service's own command.

mod support;

#[path = "e2e/pulsar_deploy.rs"]
mod pulsar_deploy;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use serde_yaml::Value;

use pulsar_deploy::{
    AUTORECOVERY_CONF, BOOKIE_CONF, BROKER_CONF, FUNCTIONS_WORKER_CONF, METAFORMAT_CONF,
};
use support::{
    four_letter_word, free_port, repo_root, run_command, which, zoe_bin, EtcdServer, ServerProcess,
    TestDir,
};

/// Where the services mount `deploy/pulsar`.
const MOUNT: &str = "/deploy";

fn compose() -> Value {
    let path = repo_root().join("docker-compose.yml");
    let text = fs::read_to_string(&path).expect("read docker-compose.yml");
    serde_yaml::from_str(&text).expect("docker-compose.yml is YAML")
}

fn service<'a>(compose: &'a Value, name: &str) -> &'a Value {
    compose["services"]
        .get(name)
        .unwrap_or_else(|| panic!("docker-compose.yml has no service {name}"))
}

fn string(v: &Value, what: &str) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => panic!("{what}: expected a string, found {other:?}"),
    }
}

fn strings(v: &Value, what: &str) -> Vec<String> {
    v.as_sequence()
        .unwrap_or_else(|| panic!("{what}: expected a list, found {v:?}"))
        .iter()
        .map(|s| string(s, what))
        .collect()
}

/// What compose makes of a string: `$$` is a literal `$`; any other `$`
/// would be replaced from the host's environment, which none of these
/// values may depend on.
fn interpolated(s: &str) -> String {
    assert!(
        !s.replace("$$", "").contains('$'),
        "{s:?} depends on the host environment (a single $)"
    );
    s.replace("$$", "$")
}

/// A service's `command`, in exec form.
fn command(compose: &Value, name: &str) -> Vec<String> {
    strings(
        &service(compose, name)["command"],
        &format!("{name}.command"),
    )
    .iter()
    .map(|s| interpolated(s))
    .collect()
}

/// A service's `environment` (a mapping or a list of `K=V`).
fn environment(compose: &Value, name: &str) -> BTreeMap<String, String> {
    let what = format!("{name}.environment");
    match &service(compose, name)["environment"] {
        Value::Mapping(m) => m
            .iter()
            .map(|(k, v)| (string(k, &what), interpolated(&string(v, &what))))
            .collect(),
        Value::Sequence(_) => strings(&service(compose, name)["environment"], &what)
            .iter()
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                (k.to_string(), interpolated(v))
            })
            .collect(),
        Value::Null => BTreeMap::new(),
        other => panic!("{what}: {other:?}"),
    }
}

fn volumes(compose: &Value, name: &str) -> Vec<String> {
    let v = &service(compose, name)["volumes"];
    if v.is_null() {
        return Vec::new();
    }
    strings(v, &format!("{name}.volumes"))
}

/// `condition` of each service `name` depends on.
fn depends_on(compose: &Value, name: &str) -> BTreeMap<String, String> {
    match &service(compose, name)["depends_on"] {
        Value::Mapping(m) => m
            .iter()
            .map(|(k, v)| {
                let cond = v
                    .get("condition")
                    .map(|c| string(c, "condition"))
                    .unwrap_or_else(|| "service_started".into());
                (string(k, "depends_on"), cond)
            })
            .collect(),
        Value::Sequence(_) => strings(&service(compose, name)["depends_on"], "depends_on")
            .into_iter()
            .map(|s| (s, "service_started".to_string()))
            .collect(),
        Value::Null => BTreeMap::new(),
        other => panic!("{name}.depends_on: {other:?}"),
    }
}

/// The argv a `CMD` health check runs.
fn health_check(compose: &Value, name: &str) -> Vec<String> {
    let test = strings(
        &service(compose, name)["healthcheck"]["test"],
        &format!("{name}.healthcheck.test"),
    );
    assert_eq!(test[0], "CMD", "{name}: health check not in CMD form");
    test[1..].iter().map(|s| interpolated(s)).collect()
}

/// The zoe services, by name.
fn zoe_services(compose: &Value) -> Vec<String> {
    let services = compose["services"].as_mapping().expect("services");
    let names: Vec<String> = services
        .iter()
        .map(|(k, _)| string(k, "service name"))
        .filter(|n| n.starts_with("zoe"))
        .collect();
    assert!(
        names.len() >= 2,
        "the compose file should run several zoe instances, as the end-to-end test does: {names:?}"
    );
    names
}

/// `service:port` of every zoe service, the port being the one its
/// `ZOE_LISTEN` listens on.
fn zoe_endpoints(compose: &Value) -> Vec<String> {
    zoe_services(compose)
        .iter()
        .map(|z| {
            let listen = environment(compose, z)
                .get("ZOE_LISTEN")
                .cloned()
                .unwrap_or_else(|| panic!("{z}: no ZOE_LISTEN"));
            let port = listen.rsplit_once(':').expect("ZOE_LISTEN host:port").1;
            format!("{z}:{port}")
        })
        .collect()
}

// ---------------------------------------------------------------- starts

/// A Pulsar/BookKeeper service's command: `sh /deploy/render-conf.sh
/// (TEMPLATE DEST)... -- EXEC...`, as (template file name, destination)
/// pairs and the command exec'd.
struct Start {
    renders: Vec<(String, String)>,
    exec: Vec<String>,
}

fn start(compose: &Value, name: &str) -> Start {
    let cmd = command(compose, name);
    let script = format!("{MOUNT}/{}", pulsar_deploy::RENDER_SCRIPT);
    assert_eq!(
        cmd[..2],
        ["sh".to_string(), script.clone()],
        "{name} does not start through {script}: {cmd:?}"
    );
    let sep = cmd
        .iter()
        .position(|a| a == "--")
        .unwrap_or_else(|| panic!("{name}: no `--` before the command: {cmd:?}"));
    let pairs = &cmd[2..sep];
    assert!(
        !pairs.is_empty() && pairs.len().is_multiple_of(2),
        "{name}: templates and destinations do not pair up: {pairs:?}"
    );
    let renders = pairs
        .chunks(2)
        .map(|p| {
            let template = p[0]
                .strip_prefix(&format!("{MOUNT}/"))
                .unwrap_or_else(|| panic!("{name}: template {} is not in {MOUNT}", p[0]));
            (template.to_string(), p[1].clone())
        })
        .collect();
    Start {
        renders,
        exec: cmd[sep + 1..].to_vec(),
    }
}

impl Start {
    /// Where `template` is rendered to.
    fn dest(&self, template: &str) -> &str {
        &self
            .renders
            .iter()
            .find(|(t, _)| t == template)
            .unwrap_or_else(|| panic!("{template} is not rendered"))
            .1
    }
}

/// The Java main class and arguments the image's scripts start for `exec`
/// (apachepulsar/pulsar:2.10.5, working directory /pulsar):
/// `bin/bookkeeper CMD` runs with `--conf`/`-conf $BOOKIE_CONF`,
/// `bin/pulsar broker` with `--broker-conf $PULSAR_BROKER_CONF`, and both
/// pass the remaining arguments on.
fn image_java(exec: &[String], env: &BTreeMap<String, String>) -> (String, Vec<String>) {
    let conf = |var: &str, default: &str| env.get(var).cloned().unwrap_or_else(|| default.into());
    let bookie_conf = conf("BOOKIE_CONF", "/pulsar/conf/bookkeeper.conf");
    let (main, mut args): (&str, Vec<String>) =
        match exec.iter().map(String::as_str).collect::<Vec<_>>()[..2] {
            ["bin/bookkeeper", "bookie"] => (
                "org.apache.bookkeeper.server.Main",
                vec!["--conf".into(), bookie_conf],
            ),
            ["bin/bookkeeper", "autorecovery"] => (
                "org.apache.bookkeeper.replication.AutoRecoveryMain",
                vec!["--conf".into(), bookie_conf],
            ),
            ["bin/bookkeeper", "shell"] => (
                "org.apache.bookkeeper.bookie.BookieShell",
                vec!["-conf".into(), bookie_conf],
            ),
            ["bin/pulsar", "broker"] => (
                "org.apache.pulsar.PulsarBrokerStarter",
                vec![
                    "--broker-conf".into(),
                    conf("PULSAR_BROKER_CONF", "/pulsar/conf/broker.conf"),
                ],
            ),
            ["bin/pulsar", "initialize-cluster-metadata"] => {
                ("org.apache.pulsar.PulsarClusterMetadataSetup", vec![])
            }
            _ => panic!("not a command of the image's scripts: {exec:?}"),
        };
    args.extend(exec[2..].iter().cloned());
    (main.to_string(), args)
}

fn java(cmd: pulsar_deploy::JavaCommand) -> (String, Vec<String>) {
    (cmd.0.to_string(), cmd.1)
}

/// Renders a service's templates with the service's environment, through
/// the real render-conf.sh, into `dir`; returns each rendered file's text
/// by template name.
fn render_service(
    compose: &Value,
    name: &str,
    start: &Start,
    dir: &Path,
) -> BTreeMap<String, String> {
    let env = environment(compose, name);
    let vars: Vec<(&str, String)> = env.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let dests: Vec<PathBuf> = start
        .renders
        .iter()
        .map(|(t, _)| dir.join(format!("{name}-{t}")))
        .collect();
    let files: Vec<(&str, &Path)> = start
        .renders
        .iter()
        .zip(&dests)
        .map(|((t, _), d)| (t.as_str(), d.as_path()))
        .collect();
    pulsar_deploy::render(&files, &vars)
        .unwrap_or_else(|e| panic!("{name}: its environment does not fill its templates\n{e}"));
    start
        .renders
        .iter()
        .zip(&dests)
        .map(|((t, _), d)| (t.clone(), fs::read_to_string(d).expect("rendered file")))
        .collect()
}

fn props(text: &str) -> BTreeMap<String, String> {
    pulsar_deploy::properties(text).expect("rendered properties")
}

// ---------------------------------------------------------------- tests

#[test]
fn docker_compose_accepts_the_file() {
    // `docker compose` (v2) when the CLI has it, else `docker-compose`
    // (scripts/setup-deps.sh installs Debian's). `config` validates and
    // resolves the file without a Docker engine.
    let root = repo_root();
    let v2 = which("docker").is_some_and(|docker| {
        run_command(
            Command::new(docker).args(["compose", "version"]),
            None,
            Duration::from_secs(30),
        )
        .success()
    });
    let mut cmd = if v2 {
        let mut c = Command::new("docker");
        c.arg("compose");
        c
    } else {
        let bin = which("docker-compose").unwrap_or_else(|| {
            panic!("neither `docker compose` nor `docker-compose` found: run scripts/setup-deps.sh")
        });
        Command::new(bin)
    };
    cmd.current_dir(&root)
        .arg("-f")
        .arg(root.join("docker-compose.yml"))
        .args(["config", "-q"]);
    let out = run_command(&mut cmd, None, Duration::from_secs(120));
    assert!(
        out.success(),
        "docker compose config rejects docker-compose.yml\n{}",
        out.describe()
    );
}

#[test]
fn the_cluster_has_every_service_in_order() {
    let c = compose();
    let image = pulsar_deploy::pulsar_image();
    let zoes = zoe_services(&c);
    assert!(
        string(&service(&c, "etcd")["image"], "etcd.image").contains("/etcd:v3."),
        "etcd runs an official etcd v3 image"
    );
    for s in [
        "bookkeeper-init",
        "bookie-1",
        "bookie-2",
        "autorecovery",
        "pulsar-init",
        "broker",
    ] {
        assert_eq!(string(&service(&c, s)["image"], s), image, "{s}.image");
    }
    // The image is the release whose jars the end-to-end test runs.
    let pom = fs::read_to_string(repo_root().join("tests/e2e/pulsar/pom.xml")).unwrap();
    assert!(
        pom.contains(&format!(
            "<pulsar.version>{}</pulsar.version>",
            pulsar_deploy::PULSAR_VERSION
        )),
        "tests/e2e/pulsar/pom.xml is not on Pulsar {}",
        pulsar_deploy::PULSAR_VERSION
    );

    // The end-to-end order: zoe on etcd; BookKeeper's metadata; bookies and
    // autorecovery; Pulsar's metadata; the broker.
    let dep = |s: &str| depends_on(&c, s);
    let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
    for z in &zoes {
        assert!(dep(z).contains_key("etcd"), "{z} does not wait for etcd");
    }
    for z in &zoes {
        assert_eq!(
            dep("bookkeeper-init").get(z).map(String::as_str),
            Some("service_healthy"),
            "bookkeeper-init does not wait for a healthy {z}"
        );
    }
    for s in ["bookie-1", "bookie-2", "autorecovery", "pulsar-init"] {
        assert!(
            dep(s)
                .into_iter()
                .any(|d| d == pair("bookkeeper-init", "service_completed_successfully")),
            "{s} does not wait for BookKeeper's metadata"
        );
    }
    let broker = dep("broker");
    assert_eq!(
        broker.get("pulsar-init").map(String::as_str),
        Some("service_completed_successfully"),
        "the broker does not wait for Pulsar's metadata"
    );
    for s in ["bookie-1", "bookie-2"] {
        assert!(broker.contains_key(s), "the broker does not wait for {s}");
    }
}

#[test]
fn zoe_services_run_the_binary_the_dockerfile_builds() {
    let c = compose();
    let dockerfile = fs::read_to_string(repo_root().join("Dockerfile")).expect("read Dockerfile");
    let lines: Vec<&str> = dockerfile.lines().map(str::trim).collect();
    let froms: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("FROM "))
        .collect();
    assert!(
        froms.len() >= 2,
        "the Dockerfile should be multi-stage: {froms:?}"
    );
    let build_stage = froms[0]
        .split_whitespace()
        .last()
        .expect("FROM ... AS name");
    assert!(
        froms[0].to_lowercase().contains(" as "),
        "the build stage is not named: {}",
        froms[0]
    );
    // The build stage builds the zoe binary of this workspace...
    let cargo_toml = fs::read_to_string(repo_root().join("Cargo.toml")).unwrap();
    assert!(cargo_toml.contains("[[bin]]\nname = \"zoe\""));
    let workdir = lines
        .iter()
        .find_map(|l| l.strip_prefix("WORKDIR "))
        .expect("WORKDIR of the build stage");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("RUN cargo build --release") && l.contains("-p zoe")),
        "the Dockerfile does not build the zoe package in release mode"
    );
    // ...and the final stage puts it on the PATH as `zoe`.
    let copy = format!("COPY --from={build_stage} {workdir}/target/release/zoe /usr/local/bin/zoe");
    let final_stage = lines.iter().rposition(|l| l.starts_with("FROM ")).unwrap();
    assert!(
        lines[final_stage..].contains(&copy.as_str()),
        "the final stage does not install the built binary ({copy:?})"
    );

    for z in zoe_services(&c) {
        let build = &service(&c, &z)["build"];
        assert_eq!(string(&build["context"], "build.context"), ".", "{z}");
        assert_eq!(
            string(&build["dockerfile"], "build.dockerfile"),
            "Dockerfile",
            "{z}"
        );
        let cmd = command(&c, &z);
        assert_eq!(cmd[..2], ["zoe", "serve"], "{z} does not run `zoe serve`");
        let env = environment(&c, &z);
        assert_eq!(
            env.get("ZOE_ETCD").map(String::as_str),
            Some("http://etcd:2379"),
            "{z}: ZOE_ETCD is not the etcd service"
        );
        let etcd = command(&c, "etcd");
        assert!(
            etcd.contains(&"--listen-client-urls=http://0.0.0.0:2379".to_string())
                && etcd.contains(&"--max-txn-ops=10000".to_string()),
            "etcd: {etcd:?}"
        );
    }
}

/// `zoe` run as a compose service's command, with its environment but
/// listening on `listen` and using `etcd`.
fn spawn_zoe_service(
    c: &Value,
    name: &str,
    args: &[String],
    listen: &str,
    etcd: &str,
    dir: &TestDir,
) -> ServerProcess {
    let mut cmd = Command::new(zoe_bin());
    cmd.args(args)
        .envs(environment(c, name))
        .env("ZOE_LISTEN", listen)
        .env("ZOE_ETCD", etcd);
    ServerProcess::spawn(name, &mut cmd, dir.path().join(format!("{name}.log")))
        .unwrap_or_else(|e| panic!("spawn zoe: {e}"))
}

/// Runs a health check argv with `ZOE_LISTEN` as the container has it.
fn run_check(check: &[String], listen: &str) -> bool {
    let mut cmd = Command::new(&check[0]);
    cmd.args(&check[1..]).env("ZOE_LISTEN", listen);
    run_command(&mut cmd, None, Duration::from_secs(30)).success()
}

#[test]
fn zoe_health_check_answers_ruok_with_the_compose_command() {
    let c = compose();
    let etcd = EtcdServer::start();
    let dir = TestDir::new("deploy-zoe");
    for z in zoe_services(&c) {
        let check = health_check(&c, &z);
        assert!(
            check
                .iter()
                .any(|a| a.contains("ruok") && a.contains("imok")),
            "{z}: the health check does not ask ruok: {check:?}"
        );
        let args = command(&c, &z)[1..].to_vec();

        // As the service runs it: ruok is allowed and the check passes.
        let listen = format!("127.0.0.1:{}", free_port());
        let mut zoe = spawn_zoe_service(&c, &z, &args, &listen, &etcd.endpoint(), &dir);
        let deadline = Instant::now() + Duration::from_secs(60);
        while !run_check(&check, &listen) {
            assert!(zoe.is_running(), "{z} exited; log:\n{}", zoe.log_tail(40));
            assert!(
                Instant::now() < deadline,
                "{z}: the health check did not pass within 60 s; log:\n{}",
                zoe.log_tail(40)
            );
            thread::sleep(Duration::from_millis(200));
        }
        assert_eq!(four_letter_word(&listen, "ruok").unwrap(), "imok");
        zoe.kill();

        // Without the service's four-letter-word list, ruok is refused and
        // the same check fails: it depends on that setting.
        let listen = format!("127.0.0.1:{}", free_port());
        let mut zoe = spawn_zoe_service(
            &c,
            &z,
            &["serve".to_string()],
            &listen,
            &etcd.endpoint(),
            &dir,
        );
        // srvr is always allowed: it says when the server is up.
        let deadline = Instant::now() + Duration::from_secs(60);
        while four_letter_word(&listen, "srvr").map_or(true, |s| !s.contains("Zookeeper version")) {
            assert!(zoe.is_running(), "zoe exited; log:\n{}", zoe.log_tail(40));
            assert!(
                Instant::now() < deadline,
                "zoe did not start; log:\n{}",
                zoe.log_tail(40)
            );
            thread::sleep(Duration::from_millis(200));
        }
        assert!(
            !run_check(&check, &listen),
            "{z}: the health check passed although ruok is not allowed"
        );
        zoe.kill();
    }
}

#[test]
fn pulsar_services_render_the_deploy_files_with_zoe_as_metadata() {
    let c = compose();
    let dir = TestDir::new("deploy-render");
    let zk = zoe_endpoints(&c).join(",");
    let zk_bk = pulsar_deploy::bookkeeper_servers(&zk);
    let bk_uri = format!("zk+hierarchical://{zk_bk}/ledgers");
    let timeout = pulsar_deploy::session_timeout_ms().to_string();

    for (name, templates) in [
        ("bookkeeper-init", &[METAFORMAT_CONF][..]),
        ("bookie-1", &[BOOKIE_CONF]),
        ("bookie-2", &[BOOKIE_CONF]),
        ("autorecovery", &[AUTORECOVERY_CONF]),
        ("broker", &[BROKER_CONF, FUNCTIONS_WORKER_CONF]),
    ] {
        assert!(
            volumes(&c, name).contains(&format!("./deploy/pulsar:{MOUNT}:ro")),
            "{name} does not mount deploy/pulsar at {MOUNT}"
        );
        let s = start(&c, name);
        let rendered: Vec<&str> = s.renders.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(rendered, templates, "{name} renders other templates");
        let files = render_service(&c, name, &s, dir.path());
        let env = environment(&c, name);

        for t in templates.iter().filter(|t| t.ends_with(".conf")) {
            let p = props(&files[*t]);
            if *t == BROKER_CONF {
                assert_eq!(p["metadataStoreUrl"], format!("zk:{zk}"), "{name}");
                assert_eq!(p["configurationMetadataStoreUrl"], format!("zk:{zk}"));
                assert_eq!(p["bookkeeperMetadataServiceUri"], bk_uri, "{name}");
                assert_eq!(p["metadataStoreSessionTimeoutMillis"], timeout);
            } else {
                assert_eq!(p["metadataServiceUri"], bk_uri, "{name}: {t}");
                assert_eq!(p["zkTimeout"], timeout, "{name}: {t}");
            }
            // Other containers reach a bookie or the broker by service name.
            if let Some(addr) = p.get("advertisedAddress") {
                assert_eq!(addr, name, "{name} advertises another host name");
            }
        }
        if name.starts_with("bookie") {
            let p = props(&files[BOOKIE_CONF]);
            assert_eq!(
                env.get("BOOKIE_PORT"),
                p.get("bookiePort"),
                "{name}: health check port"
            );
            assert!(
                volumes(&c, name).iter().any(|v| p["journalDirectories"]
                    .starts_with(v.split(':').nth(1).unwrap())
                    && !v.starts_with("./")),
                "{name}: its journal is not on a volume"
            );
        }
        if name == "broker" {
            let p = props(&files[BROKER_CONF]);
            let fw: Value =
                serde_yaml::from_str(&files[FUNCTIONS_WORKER_CONF]).expect("functions_worker.yml");
            assert_eq!(string(&fw["workerPort"], "workerPort"), p["webServicePort"]);
            assert_eq!(
                string(&fw["workerHostname"], "workerHostname"),
                p["advertisedAddress"]
            );
            assert_eq!(
                string(&fw["pulsarFunctionsCluster"], "pulsarFunctionsCluster"),
                p["clusterName"]
            );
            assert_eq!(p["functionsWorkerEnabled"], "true");
        }
    }
}

#[test]
fn compose_commands_are_the_commands_of_the_end_to_end_test() {
    let c = compose();
    let dir = TestDir::new("deploy-commands");

    // BookKeeper's metadata: `metaformat || whatisinstanceid`.
    let s = start(&c, "bookkeeper-init");
    let env = environment(&c, "bookkeeper-init");
    let conf = s.dest(METAFORMAT_CONF);
    let shell = |args: &[&str]| format!("bin/bookkeeper shell {}", args.join(" "));
    assert_eq!(
        s.exec,
        [
            "sh".to_string(),
            "-c".to_string(),
            format!(
                "{} || {}",
                shell(pulsar_deploy::METAFORMAT),
                shell(pulsar_deploy::INSTANCE_ID)
            )
        ],
        "bookkeeper-init"
    );
    for args in [pulsar_deploy::METAFORMAT, pulsar_deploy::INSTANCE_ID] {
        let exec: Vec<String> = shell(args).split(' ').map(String::from).collect();
        assert_eq!(
            image_java(&exec, &env),
            java(pulsar_deploy::bookie_shell(conf, args))
        );
    }

    for name in ["bookie-1", "bookie-2"] {
        let s = start(&c, name);
        assert_eq!(
            image_java(&s.exec, &environment(&c, name)),
            java(pulsar_deploy::bookie(s.dest(BOOKIE_CONF))),
            "{name}"
        );
    }

    let s = start(&c, "autorecovery");
    assert_eq!(
        image_java(&s.exec, &environment(&c, "autorecovery")),
        java(pulsar_deploy::autorecovery(s.dest(AUTORECOVERY_CONF)))
    );

    let s = start(&c, "broker");
    assert_eq!(
        image_java(&s.exec, &environment(&c, "broker")),
        java(pulsar_deploy::broker(
            s.dest(BROKER_CONF),
            s.dest(FUNCTIONS_WORKER_CONF)
        ))
    );

    // Pulsar's metadata: the cluster, stores and URLs of the broker's
    // rendered broker.conf.
    let broker_files = render_service(&c, "broker", &s, dir.path());
    assert_eq!(
        image_java(&command(&c, "pulsar-init"), &environment(&c, "pulsar-init")),
        java(pulsar_deploy::cluster_metadata_setup(&props(
            &broker_files[BROKER_CONF]
        )))
    );
}

#[test]
fn deploy_files_are_the_templates_of_the_end_to_end_test() {
    let dir = pulsar_deploy::deploy_dir();
    let mut files: Vec<String> = fs::read_dir(&dir)
        .expect("read deploy/pulsar")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| f != pulsar_deploy::RENDER_SCRIPT)
        .collect();
    files.sort();
    let mut templates: Vec<String> = pulsar_deploy::TEMPLATES
        .iter()
        .map(|s| s.to_string())
        .collect();
    templates.sort();
    assert_eq!(files, templates, "a file of deploy/pulsar nothing renders");
    // One session timeout everywhere (panics otherwise).
    assert!(pulsar_deploy::session_timeout_ms() > 0);
}

#[test]
fn render_conf_refuses_a_placeholder_without_a_value() {
    let dir = TestDir::new("deploy-refuse");
    let dest = dir.path().join("broker.conf");
    let err = pulsar_deploy::render(
        &[(BROKER_CONF, &dest)],
        &[("CLUSTER_NAME", "c".to_string())],
    )
    .expect_err("rendered broker.conf without its metadata servers");
    for var in ["ZK_SERVERS", "ZK_SERVERS_BK", "ADVERTISED_ADDRESS"] {
        assert!(
            err.contains(&format!("{var} is not set")),
            "{var} not named:\n{err}"
        );
    }
    assert!(
        !dest.exists(),
        "a half-rendered broker.conf was left behind"
    );

    // With every value, each placeholder is replaced and nothing else.
    let vars: Vec<(&str, String)> = [
        ("CLUSTER_NAME", "c"),
        ("ZK_SERVERS", "a:1,b:2"),
        ("ZK_SERVERS_BK", "a:1;b:2"),
        ("ADVERTISED_ADDRESS", "h"),
        ("BIND_ADDRESS", "0.0.0.0"),
        ("BROKER_SERVICE_PORT", "6650"),
        ("WEB_SERVICE_PORT", "8080"),
    ]
    .iter()
    .map(|(k, v)| (*k, v.to_string()))
    .collect();
    pulsar_deploy::render(&[(BROKER_CONF, &dest)], &vars).expect("render broker.conf");
    let rendered = fs::read_to_string(&dest).unwrap();
    let template = fs::read_to_string(pulsar_deploy::deploy_dir().join(BROKER_CONF)).unwrap();
    assert!(!rendered.contains('@'), "{rendered}");
    assert_eq!(rendered.lines().count(), template.lines().count());
    let p = props(&rendered);
    assert_eq!(p["metadataStoreUrl"], "zk:a:1,b:2");
    assert_eq!(
        p["bookkeeperMetadataServiceUri"],
        "zk+hierarchical://a:1;b:2/ledgers"
    );
    assert_eq!(
        props(&template).len(),
        p.len(),
        "rendering changed the set of keys"
    );
}
