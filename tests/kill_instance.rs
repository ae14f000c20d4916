//! A zoe instance is killed (SIGKILL) while the sessions on it are writing.
//! Two instances share one etcd; the Java client (ZooKeeper 3.9.5) with both
//! in its connect string moves the sessions to the survivor. The scenario
//! (tests/java/src/zoetest/Faults.java) checks every write's outcome: an
//! acknowledged write is there exactly once, a write that ended in
//! ConnectionLoss is there entirely or not at all (never a partial multi),
//! sessions keep their ids and ephemerals, watches fire after the move.
//! Afterwards `zoe check` finds etcd's layout consistent and the survivor
//! serving exactly what etcd holds.

mod support;

use std::time::Duration;

use support::{java_main_interactive, EtcdServer, Zoe};

/// With one etcd transaction per write (`--group-commit=false`).
#[test]
fn killing_an_instance_during_writes_loses_no_acknowledged_write() {
    kill_during_writes(&["--group-commit=false"]);
}

/// The same with group commit (the default), where writes of several
/// sessions share etcd transactions.
#[test]
fn killing_an_instance_during_group_commits_loses_no_acknowledged_write() {
    kill_during_writes(&[]);
}

fn kill_during_writes(zoe_args: &[&str]) {
    let etcd = EtcdServer::start();
    let prefix = support::unique_prefix("kill");
    let mut zoes = [
        Zoe::start_with(&etcd.endpoint(), &prefix, zoe_args),
        Zoe::start_with(&etcd.endpoint(), &prefix, zoe_args),
    ];
    let connect = zoes.iter().map(|z| z.addr()).collect::<Vec<_>>().join(",");
    let mut client = java_main_interactive("zoetest.Faults", &connect, "kill_during_writes");
    let ready = client.expect_line("READY_TO_KILL ", Duration::from_secs(90));
    let victim = ready["READY_TO_KILL ".len()..].trim().to_string();
    let z = zoes
        .iter_mut()
        .find(|z| z.addr() == victim)
        .unwrap_or_else(|| panic!("the client names {victim}, not one of the instances"));
    z.kill();
    client.send_line("KILLED");
    let out = client.wait(Duration::from_secs(150));
    assert!(
        out.success() && out.stdout.contains("PASS kill_during_writes"),
        "scenario failed\n{}",
        out.describe()
    );
    let summary = out
        .stdout
        .lines()
        .find(|l| l.starts_with("MOVED "))
        .unwrap_or("")
        .to_string();
    eprintln!("{summary}");

    // What etcd holds is consistent, and the surviving instance serves it.
    let survivor = zoes
        .iter()
        .map(|z| z.addr())
        .find(|a| *a != victim)
        .unwrap();
    let check = support::zoe_check(&etcd.endpoint(), &prefix, &["--zoe", &survivor]);
    assert!(
        check.success(),
        "zoe check after the kill\n{}",
        check.describe()
    );
}
