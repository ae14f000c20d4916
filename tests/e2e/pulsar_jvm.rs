//! Running the Pulsar 2.10 distribution's jars: the resolved jars, the
//! compiled PulsarDriver and the function jar, commands on that class path,
//! rendered configuration, and the function check. Shared by
//! tests/e2e_pulsar.rs and tests/e2e_pulsar_shared_tree.rs.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use crate::e2e;
use crate::pulsar_deploy::{self, JavaCommand, PULSAR_VERSION};
use crate::support::{free_port, run_command, which, ClientOutput, ServerProcess, TestDir};

pub struct Pulsar {
    pub lib: PathBuf,
    pub classes: PathBuf,
    /// A jar with `zoee2e.fn.Exclaim`, the function both suites deploy.
    pub function_jar: PathBuf,
    pub log4j2: PathBuf,
}

/// Resolves the Pulsar jars, compiles the driver, builds the function jar
/// (once per cache).
pub fn pulsar() -> &'static Pulsar {
    static PULSAR: OnceLock<Pulsar> = OnceLock::new();
    PULSAR.get_or_init(|| {
        let pom = e2e::e2e_path("pulsar/pom.xml");
        let lib = e2e::cache_path("pulsar-lib");
        e2e::resolve_jars(
            &format!("Pulsar {PULSAR_VERSION}"),
            &pom,
            &lib,
            &[
                format!("pulsar-broker-{PULSAR_VERSION}.jar"),
                format!("pulsar-functions-worker-{PULSAR_VERSION}.jar"),
            ],
        );
        let classes = e2e::cache_path("pulsar-classes");
        e2e::compile_java(&e2e::e2e_path("pulsar/java"), &pom, &lib, &classes, |out| {
            let jar = which("jar").expect("`jar` (JDK) not found on PATH");
            let mut cmd = Command::new(jar);
            cmd.arg("cf")
                .arg(out.join("exclaim.jar"))
                .arg("-C")
                .arg(out)
                .arg("zoee2e/fn");
            let o = run_command(&mut cmd, None, Duration::from_secs(60));
            assert!(o.success(), "jar failed\n{}", o.describe());
        });
        Pulsar {
            function_jar: classes.join("exclaim.jar"),
            lib,
            classes,
            log4j2: e2e::e2e_path("pulsar/log4j2.xml"),
        }
    })
}

/// `main_class ARGS` on the jars of the Pulsar distribution; `drivers`
/// adds Pulsar's BookKeeper metadata drivers, as `bin/bookkeeper` does.
pub fn pulsar_command(
    (main_class, args): JavaCommand,
    heap: &str,
    direct: &str,
    drivers: bool,
) -> Command {
    let p = pulsar();
    let mut props = vec![
        format!("-XX:MaxDirectMemorySize={direct}"),
        format!("-Dlog4j.configurationFile={}", p.log4j2.display()),
        "-Dpulsar.allocator.exit_on_oom=true".to_string(),
        "-Dio.netty.recycler.maxCapacityPerThread=4096".to_string(),
    ];
    if drivers {
        props.extend(
            pulsar_deploy::PULSAR_METADATA_DRIVERS
                .iter()
                .map(|s| s.to_string()),
        );
    }
    let mut cmd = e2e::java_with(&p.classes, &p.lib, heap, &props, main_class);
    cmd.args(args);
    cmd
}

/// Runs the PulsarDriver (tests/e2e/pulsar/java) and insists it succeeds.
pub fn pulsar_driver(args: &[&str], timeout: Duration) -> ClientOutput {
    let cmd = (
        "zoee2e.PulsarDriver",
        args.iter().map(|s| s.to_string()).collect(),
    );
    let out = run_command(
        &mut pulsar_command(cmd, "128m", "64m", false),
        None,
        timeout,
    );
    assert!(
        out.success(),
        "`PulsarDriver {}` failed\n{}",
        args.join(" "),
        out.describe()
    );
    out
}

/// Renders `templates` of deploy/pulsar into `dir` under the same names;
/// returns their paths.
pub fn render(dir: &Path, templates: &[&str], vars: &[(&str, String)]) -> Vec<String> {
    let dests: Vec<PathBuf> = templates.iter().map(|t| dir.join(t)).collect();
    let files: Vec<(&str, &Path)> = templates
        .iter()
        .copied()
        .zip(dests.iter().map(PathBuf::as_path))
        .collect();
    pulsar_deploy::render(&files, vars)
        .unwrap_or_else(|e| panic!("render-conf.sh {templates:?} failed\n{e}"));
    dests.iter().map(|d| d.display().to_string()).collect()
}

/// Deploys the function jar through the broker's admin API.
pub fn create_function(web: &str) {
    let jar = pulsar().function_jar.display().to_string();
    let out = pulsar_driver(&["create", web, &jar], Duration::from_secs(180));
    assert!(out.stdout.contains("CREATED"), "{}", out.describe());
}

/// The function flows: messages through it come out changed, and its
/// package reads back from DistributedLog identical to the uploaded jar.
pub fn check_function(web: &str, broker_url: &str, tag: &str, dir: &Path) {
    let out = pulsar_driver(&["await-running", web, "120"], Duration::from_secs(180));
    assert!(out.stdout.contains("RUNNING"), "{}", out.describe());
    let out = pulsar_driver(
        &["roundtrip", web, broker_url, tag, "10", "120"],
        Duration::from_secs(180),
    );
    assert!(out.stdout.contains("ROUNDTRIP 10"), "{}", out.describe());
    let jar = pulsar().function_jar.display().to_string();
    let dest = dir.join(format!("downloaded-{tag}.jar"));
    let out = pulsar_driver(
        &["download", web, &jar, &dest.display().to_string()],
        Duration::from_secs(180),
    );
    assert!(out.stdout.contains("identical"), "{}", out.describe());
}

/// A bookie or an autorecovery process: a JVM in its own directory,
/// registered in the metadata as `id`.
pub struct Daemon {
    pub process: ServerProcess,
    pub id: String,
    _dir: TestDir,
}

/// Starts a bookie (`data`: it gets a DATA_DIR) or autorecovery process
/// from `template` of deploy/pulsar on a free port of 127.0.0.1, with
/// `vars` besides the address and port; `drivers` as for `pulsar_command`.
pub fn spawn_daemon(
    name: &str,
    template: &str,
    vars: &[(&str, String)],
    data: bool,
    command: fn(&str) -> JavaCommand,
    drivers: bool,
) -> Daemon {
    let dir = TestDir::new(&format!("e2e-{name}"));
    let port = free_port();
    let mut vars = vars.to_vec();
    vars.push(("ADVERTISED_ADDRESS", "127.0.0.1".to_string()));
    vars.push(("BOOKIE_PORT", port.to_string()));
    if data {
        vars.push(("DATA_DIR", dir.path().join("data").display().to_string()));
    }
    let conf = render(dir.path(), &[template], &vars);
    let cmd = pulsar_command(command(&conf[0]), "128m", "128m", drivers);
    Daemon {
        process: e2e::spawn_java(name, dir.path(), cmd),
        id: format!("127.0.0.1:{port}"),
        _dir: dir,
    }
}
