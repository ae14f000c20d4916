//! The ZooKeeper C client (Debian's `cli_mt` shell, libzookeeper-mt) against
//! the target server (`ZOE_TEST_TARGET`: zoe by default, `zookeeper` for the
//! oracle). cli_mt runs each command asynchronously and prints the result from
//! its completion callback; the harness sends one command at a time and reads
//! what it printed.
//!
//! Output shapes relied on (libzookeeper-mt 3.8 cli.c):
//! * create: `[PATH]: rc = N` then, on success, `\tname = ACTUAL`; data is `new`
//! * get: `PATH: rc = 0`, ` value_len = N`, the data, `Stat:` and `\tversion=V\taversion=A`
//! * set: `PATH: rc = N Stat:` and the new stat
//! * ls: `PATH: rc = 0` then one `\tCHILD` line per child
//! * exists: nothing on success, `Error -101 for PATH` when missing
//! * delete: `PATH: rc = N`
//! * watches: `Watcher CHILD_EVENT state = CONNECTED_STATE for path PATH`

mod support;

use std::time::Duration;

use support::{CliMt, Target};

/// The `name = ...` of a successful create.
fn created_name(out: &str) -> String {
    out.lines()
        .find_map(|l| l.trim().strip_prefix("name = "))
        .unwrap_or_else(|| panic!("no `name = ` in create output:\n{out}"))
        .to_string()
}

/// Children printed by `ls PATH` (tab-indented lines after `PATH: rc = 0`).
fn ls_children(out: &str, path: &str) -> Vec<String> {
    let header = format!("{path}: rc = 0");
    let mut lines = out.lines().skip_while(|l| l.trim() != header);
    assert!(lines.next().is_some(), "no `{header}` in ls output:\n{out}");
    let mut children: Vec<String> = lines
        .take_while(|l| l.starts_with('\t') && !l.contains('='))
        .map(|l| l.trim().to_string())
        .collect();
    children.sort();
    children
}

fn assert_contains(out: &str, needle: &str, what: &str) {
    assert!(
        out.contains(needle),
        "{what}: expected {needle:?} in cli_mt output:\n{out}"
    );
}

#[test]
fn cli_mt_create_get_set_ls_delete() {
    let target = Target::from_env();
    let mut cli = CliMt::connect(&target.addr());

    let out = cli.run_until("create /c", "[/c]: rc =");
    assert_contains(&out, "[/c]: rc = 0", "create /c");
    assert_eq!(created_name(&out), "/c");

    let out = cli.run_until("create /c", "[/c]: rc =");
    assert_contains(&out, "[/c]: rc = -110", "create existing (ZNODEEXISTS)");

    let out = cli.run_until("get /c", "aversion=");
    assert_contains(&out, "/c: rc = 0", "get /c");
    assert_contains(
        &out,
        "value_len = 3",
        "cli_mt creates nodes with the data `new`",
    );
    assert!(out.lines().any(|l| l == "new"), "data `new` in:\n{out}");
    assert_contains(&out, "version=0\taversion=0", "fresh node versions");
    assert_contains(&out, "ephemeralOwner = 0", "persistent owner");

    let out = cli.run_until("set /c hello", "aversion=");
    assert_contains(&out, "/c: rc = 0 Stat:", "set /c");
    assert_contains(&out, "version=1\taversion=0", "version after set");

    let out = cli.run_until("get /c", "aversion=");
    assert_contains(&out, "value_len = 5", "get after set");
    assert!(out.lines().any(|l| l == "hello"), "data `hello` in:\n{out}");

    // Sequential names: `%010d` of the parent's child-create counter.
    let s0 = created_name(&cli.run_until("create +s /c/s-", "name = "));
    let s1 = created_name(&cli.run_until("create +s /c/s-", "name = "));
    assert_eq!(s0, "/c/s-0000000000");
    assert_eq!(s1, "/c/s-0000000001");
    let e = created_name(&cli.run_until("create +e /c/e", "name = "));
    assert_eq!(e, "/c/e");
    let es = created_name(&cli.run_until("create +se /c/es-", "name = "));
    assert_eq!(es, "/c/es-0000000003");

    let out = cli.run_until("ls /c", "/c: rc = 0");
    assert_eq!(
        ls_children(&out, "/c"),
        ["e", "es-0000000003", "s-0000000000", "s-0000000001"]
    );

    // exists prints nothing on success and an error for a missing node
    let out = cli.run("exists /c");
    assert!(
        !out.contains("Error"),
        "exists /c reported an error:\n{out}"
    );
    let out = cli.run_until("exists /nope", "for /nope");
    assert_contains(&out, "Error -101 for /nope", "exists on a missing node");

    let out = cli.run_until("get /nope", "/nope: rc =");
    assert_contains(&out, "/nope: rc = -101", "get missing (ZNONODE)");
    let out = cli.run_until("set /nope x", "/nope: rc =");
    assert_contains(&out, "/nope: rc = -101", "set missing (ZNONODE)");
    let out = cli.run_until("create /nope/x", "[/nope/x]: rc =");
    assert_contains(&out, "[/nope/x]: rc = -101", "create under missing parent");
    let out = cli.run_until("create /c/e/x", "[/c/e/x]: rc =");
    assert_contains(&out, "[/c/e/x]: rc = -108", "child of an ephemeral");
    let out = cli.run_until("delete /c", "/c: rc =");
    assert_contains(&out, "/c: rc = -111", "delete non-empty (ZNOTEMPTY)");
    let out = cli.run_until("delete /zookeeper", "/zookeeper: rc =");
    assert_contains(
        &out,
        "/zookeeper: rc = -8",
        "delete /zookeeper (ZBADARGUMENTS)",
    );

    let out = cli.run_until("delete /c/s-0000000000", "/c/s-0000000000: rc =");
    assert_contains(&out, "/c/s-0000000000: rc = 0", "delete a child");
    let out = cli.run_until("ls /c", "/c: rc = 0");
    assert_eq!(
        ls_children(&out, "/c"),
        ["e", "es-0000000003", "s-0000000001"]
    );
    // the counter does not reuse numbers
    let s4 = created_name(&cli.run_until("create +s /c/s-", "name = "));
    assert_eq!(s4, "/c/s-0000000004");

    let out = cli.run_until("ls /", "/: rc = 0");
    let root = ls_children(&out, "/");
    assert!(
        root.contains(&"zookeeper".to_string()) && root.contains(&"c".to_string()),
        "ls / = {root:?}"
    );

    let done = cli.quit();
    assert!(
        done.success(),
        "cli_mt did not exit cleanly\n{}",
        done.describe()
    );
}

#[test]
fn cli_mt_ephemerals_go_with_the_session_and_watches_fire() {
    let target = Target::from_env();
    let mut owner = CliMt::connect(&target.addr());
    let session = owner
        .transcript()
        .lines()
        .find_map(|l| l.split("Got a new session id: 0x").nth(1))
        .expect("session id line")
        .trim()
        .to_string();

    owner.run_until("create /w", "[/w]: rc = 0");
    assert_eq!(
        created_name(&owner.run_until("create +e /w/e", "name = ")),
        "/w/e"
    );

    let mut watcher = CliMt::connect(&target.addr());
    // the owner of an ephemeral, printed in hex without 0x, is the session id
    let out = watcher.run_until("get /w/e", "ephemeralOwner");
    let owner_field = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("ephemeralOwner = "))
        .expect("ephemeralOwner line");
    assert_eq!(
        owner_field.trim_start_matches('0'),
        session.trim_start_matches('0'),
        "ephemeralOwner vs session id"
    );

    // ls sets a child watch in cli_mt
    let out = watcher.run_until("ls /w", "/w: rc = 0");
    assert_eq!(ls_children(&out, "/w"), ["e"]);

    // the owner's other change fires the watcher's child watch
    owner.run_until("create /w/p", "[/w/p]: rc = 0");
    watcher.wait_for(
        "Watcher CHILD_EVENT state = CONNECTED_STATE for path /w",
        Duration::from_secs(15),
    );

    let out = watcher.run_until("ls /w", "/w: rc = 0");
    assert_eq!(ls_children(&out, "/w"), ["e", "p"]);

    // closing the owner's session deletes its ephemeral and fires the watch
    let done = owner.quit();
    assert!(done.success(), "owner cli_mt exit\n{}", done.describe());
    watcher.wait_for(
        "Watcher CHILD_EVENT state = CONNECTED_STATE for path /w",
        Duration::from_secs(15),
    );
    let out = watcher.run_until("ls /w", "/w: rc = 0");
    assert_eq!(ls_children(&out, "/w"), ["p"]);
    let out = watcher.run_until("exists /w/e", "for /w/e");
    assert_contains(&out, "Error -101 for /w/e", "ephemeral gone");
    let _ = watcher.quit();
}

/// Two zoe instances on one etcd; cli_mt is given both. The instance it is
/// connected to is killed (-9): the C client moves to the other one and
/// resumes the same session, whose ephemeral stays, and whose watches set
/// before the move still fire.
#[test]
fn cli_mt_resumes_its_session_on_another_zoe_instance() {
    let etcd = support::EtcdServer::start();
    let prefix = support::unique_prefix("cli-mt-move");
    let args = ["--four-letter-words", "*"];
    let mut zoes = [
        support::Zoe::start_with(&etcd.endpoint(), &prefix, &args),
        support::Zoe::start_with(&etcd.endpoint(), &prefix, &args),
    ];
    let connect = format!("{},{}", zoes[0].addr(), zoes[1].addr());
    let mut cli = CliMt::connect(&connect);
    let session = cli
        .transcript()
        .lines()
        .find_map(|l| l.split("Got a new session id: 0x").nth(1))
        .expect("session id line")
        .trim()
        .to_string();
    cli.run_until("create /mv", "[/mv]: rc = 0");
    assert_eq!(
        created_name(&cli.run_until("create +e /mv/e", "name = ")),
        "/mv/e"
    );
    // ls sets a child watch
    cli.run_until("ls /mv", "/mv: rc = 0");

    let on: Vec<usize> = (0..2)
        .filter(|i| support::sessions_served(&zoes[*i].addr()) > 0)
        .collect();
    assert_eq!(
        on.len(),
        1,
        "cli_mt should be connected to exactly one instance"
    );
    let (gone, other) = (on[0], 1 - on[0]);
    zoes[gone].kill();

    // The client reconnects by itself; a new session would print a new id.
    cli.wait_for(
        "Watcher SESSION_EVENT state = CONNECTED_STATE",
        Duration::from_secs(30),
    );
    assert_eq!(
        support::sessions_served(&zoes[other].addr()),
        1,
        "cli_mt moved"
    );
    let ids = cli.transcript().matches("Got a new session id").count();
    assert_eq!(
        ids,
        1,
        "the session was resumed, not replaced\n{}",
        cli.transcript()
    );
    let out = cli.run_until("get /mv/e", "ephemeralOwner");
    let owner = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("ephemeralOwner = "))
        .expect("ephemeralOwner line");
    assert_eq!(
        owner.trim_start_matches('0'),
        session.trim_start_matches('0')
    );

    // The child watch set before the move fires after it.
    let mut other_cli = CliMt::connect(&zoes[other].addr());
    other_cli.run_until("create /mv/x", "[/mv/x]: rc = 0");
    cli.wait_for(
        "Watcher CHILD_EVENT state = CONNECTED_STATE for path /mv",
        Duration::from_secs(15),
    );
    let out = cli.run_until("ls /mv", "/mv: rc = 0");
    assert_eq!(ls_children(&out, "/mv"), ["e", "x"]);
    let _ = other_cli.quit();
    let _ = cli.quit();
}

/// A C client that falls silent (SIGSTOP) for longer than its session
/// timeout: the server expires the session (its ephemeral goes, a watcher
/// hears of it), and when the client wakes it is told its session expired.
#[test]
fn cli_mt_session_expires_while_the_client_is_stopped() {
    // A 200 ms tick caps the session timeout at 4 s (cli_mt asks for 30 s).
    let target = Target::from_env_with_config(&["--tick-time", "200"], &["tickTime=200"]);
    let mut victim = CliMt::connect(&target.addr());
    victim.run_until("create /x", "[/x]: rc = 0");
    assert_eq!(
        created_name(&victim.run_until("create +e /x/e", "name = ")),
        "/x/e"
    );
    let mut watcher = CliMt::connect(&target.addr());
    let out = watcher.run_until("ls /x", "/x: rc = 0");
    assert_eq!(ls_children(&out, "/x"), ["e"]);

    let pid = victim.pid().expect("cli_mt pid");
    support::signal(pid, "STOP");
    let woke = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        watcher.wait_for(
            "Watcher CHILD_EVENT state = CONNECTED_STATE for path /x",
            Duration::from_secs(30),
        );
        let out = watcher.run_until("ls /x", "/x: rc = 0");
        assert!(ls_children(&out, "/x").is_empty(), "the ephemeral is gone");
    }));
    support::signal(pid, "CONT");
    if let Err(e) = woke {
        std::panic::resume_unwind(e);
    }
    victim.wait_for("EXPIRED_SESSION_STATE", Duration::from_secs(30));
    let _ = watcher.quit();
}
