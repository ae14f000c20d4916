//! `zkCli.sh` (the Java command-line client of Debian's zookeeper package)
//! against the target server (`ZOE_TEST_TARGET`: zoe by default, `zookeeper`
//! for the oracle). Each invocation is one session running one command:
//! results go to stdout, errors and `Created ...` to stderr, and a failed
//! command exits 1.

mod support;

use std::time::{Duration, Instant};

use support::{wait_for, zkcli, ClientOutput, Target};

/// Run one zkCli command and require exit status 0.
fn ok(addr: &str, args: &[&str]) -> ClientOutput {
    let out = zkcli(addr, args);
    assert!(out.success(), "zkCli {args:?} failed\n{}", out.describe());
    out
}

/// Run one zkCli command that must fail with `message` on stderr.
fn fails(addr: &str, args: &[&str], message: &str) {
    let out = zkcli(addr, args);
    assert_eq!(
        out.code(),
        Some(1),
        "zkCli {args:?} should exit 1\n{}",
        out.describe()
    );
    assert!(
        out.stderr.contains(message),
        "zkCli {args:?}: expected {message:?} on stderr\n{}",
        out.describe()
    );
}

/// `key = value` lines of a printed Stat.
fn stat_field(out: &str, key: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{key} = ")))
        .unwrap_or_else(|| panic!("no `{key} = ` in:\n{out}"))
        .trim()
        .to_string()
}

/// The data line printed by `get` (the last non-protocol stdout line).
fn data_lines(out: &str) -> Vec<String> {
    out.lines()
        .filter(|l| {
            !l.is_empty()
                && !l.starts_with("Connecting to ")
                && !l.starts_with("WATCHER::")
                && !l.starts_with("WatchedEvent ")
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn zkcli_create_get_set_stat() {
    let target = Target::from_env();
    let addr = target.addr();

    let out = ok(&addr, &["create", "/zk", "hello"]);
    assert!(out.stderr.contains("Created /zk"), "{}", out.describe());
    fails(
        &addr,
        &["create", "/zk", "again"],
        "Node already exists: /zk",
    );

    let out = ok(&addr, &["get", "/zk"]);
    assert_eq!(data_lines(&out.stdout), ["hello"]);

    ok(&addr, &["set", "/zk", "world"]);
    let out = ok(&addr, &["get", "-s", "/zk"]);
    let lines = data_lines(&out.stdout);
    assert_eq!(lines.first().map(String::as_str), Some("world"));
    assert_eq!(stat_field(&out.stdout, "dataVersion"), "1");
    assert_eq!(stat_field(&out.stdout, "dataLength"), "5");
    assert_eq!(stat_field(&out.stdout, "numChildren"), "0");
    assert_eq!(stat_field(&out.stdout, "cversion"), "0");
    assert_eq!(stat_field(&out.stdout, "aclVersion"), "0");
    assert_eq!(stat_field(&out.stdout, "ephemeralOwner"), "0x0");
    let czxid = stat_field(&out.stdout, "cZxid");
    let mzxid = stat_field(&out.stdout, "mZxid");
    let parse = |z: &str| i64::from_str_radix(z.trim_start_matches("0x"), 16).unwrap();
    assert!(
        parse(&mzxid) > parse(&czxid),
        "mZxid {mzxid} must be above cZxid {czxid} after set"
    );
    assert_eq!(
        stat_field(&out.stdout, "pZxid"),
        czxid,
        "pZxid of a leaf is its cZxid"
    );

    fails(
        &addr,
        &["set", "-v", "7", "/zk", "z"],
        "version No is not valid : /zk",
    );
    ok(&addr, &["set", "-v", "1", "/zk", "v2"]);
    let out = ok(&addr, &["stat", "/zk"]);
    assert_eq!(stat_field(&out.stdout, "dataVersion"), "2");
    assert_eq!(stat_field(&out.stdout, "dataLength"), "2");

    fails(&addr, &["get", "/nope"], "Node does not exist: /nope");
    fails(&addr, &["stat", "/nope"], "Node does not exist: /nope");
    fails(&addr, &["set", "/nope", "x"], "Node does not exist: /nope");
    fails(
        &addr,
        &["create", "/nope/x", "x"],
        "Node does not exist: /nope/x",
    );
    // client-side validation
    fails(
        &addr,
        &["create", "/bad/", "x"],
        "Path must not end with / character",
    );
}

#[test]
fn zkcli_children_sequential_ephemeral_delete() {
    let target = Target::from_env();
    let addr = target.addr();

    ok(&addr, &["create", "/p", "parent"]);
    let out = ok(&addr, &["create", "-s", "/p/q-", "d"]);
    assert!(
        out.stderr.contains("Created /p/q-0000000000"),
        "{}",
        out.describe()
    );
    let out = ok(&addr, &["create", "-s", "/p/q-", "d"]);
    assert!(
        out.stderr.contains("Created /p/q-0000000001"),
        "{}",
        out.describe()
    );
    ok(&addr, &["create", "/p/plain", ""]);

    let out = ok(&addr, &["ls", "/p"]);
    assert_eq!(
        data_lines(&out.stdout),
        ["[plain, q-0000000000, q-0000000001]"]
    );
    let out = ok(&addr, &["ls", "/"]);
    let listing = data_lines(&out.stdout).join("\n");
    assert!(
        listing.starts_with('[') && listing.contains("zookeeper") && listing.contains("p"),
        "ls / = {listing}"
    );

    let out = ok(&addr, &["stat", "/p"]);
    assert_eq!(stat_field(&out.stdout, "numChildren"), "3");
    assert_eq!(stat_field(&out.stdout, "cversion"), "3");
    assert_eq!(stat_field(&out.stdout, "dataVersion"), "0");

    fails(&addr, &["delete", "/p"], "Node not empty: /p");
    ok(&addr, &["delete", "/p/plain"]);
    let out = ok(&addr, &["stat", "/p"]);
    assert_eq!(stat_field(&out.stdout, "numChildren"), "2");
    assert_eq!(stat_field(&out.stdout, "cversion"), "4");
    fails(
        &addr,
        &["delete", "/p/plain"],
        "Node does not exist: /p/plain",
    );

    // zkCli's one-shot mode exits without closing its session, so its
    // ephemeral lives on until the server expires the abandoned session
    // (4 s timeout here, plus up to one tick).
    let out = ok(&addr, &["-timeout", "4000", "create", "-e", "/p/eph", "e"]);
    assert!(out.stderr.contains("Created /p/eph"), "{}", out.describe());
    let exited = Instant::now();
    let out = ok(&addr, &["stat", "/p/eph"]);
    assert_ne!(stat_field(&out.stdout, "ephemeralOwner"), "0x0");
    wait_for(
        Duration::from_secs(30),
        "the abandoned session to expire",
        || {
            let out = zkcli(&addr, &["stat", "/p/eph"]);
            (out.code() == Some(1) && out.stderr.contains("Node does not exist: /p/eph"))
                .then_some(())
        },
    );
    assert!(
        exited.elapsed() >= Duration::from_millis(3500),
        "ephemeral vanished {:?} after its client left, before the 4 s session timeout",
        exited.elapsed()
    );
    // ... but it did take a sequence number.
    let out = ok(&addr, &["create", "-s", "/p/q-", "d"]);
    assert!(
        out.stderr.contains("Created /p/q-0000000004"),
        "{}",
        out.describe()
    );

    fails(
        &addr,
        &["delete", "/zookeeper"],
        "Arguments are not valid : /zookeeper",
    );
    let out = ok(&addr, &["ls", "/zookeeper"]);
    assert_eq!(data_lines(&out.stdout), ["[config, quota]"]);

    ok(&addr, &["deleteall", "/p"]);
    fails(&addr, &["ls", "/p"], "Node does not exist: /p");
}

/// zkCli.sh given two zoe instances on one etcd, as one interactive
/// session. The instance it is connected to is killed (-9): the Java client
/// behind zkCli moves to the other one with the same session (its
/// ephemeral keeps its owner) and re-registers the watch it had set, which
/// then fires.
#[test]
fn zkcli_resumes_its_session_on_another_zoe_instance() {
    let etcd = support::EtcdServer::start();
    let prefix = support::unique_prefix("zkcli-move");
    let args = ["--four-letter-words", "*"];
    let mut zoes = [
        support::Zoe::start_with(&etcd.endpoint(), &prefix, &args),
        support::Zoe::start_with(&etcd.endpoint(), &prefix, &args),
    ];
    let connect = format!("{},{}", zoes[0].addr(), zoes[1].addr());
    let mut cli = support::zkcli_interactive(&connect);
    let wait = Duration::from_secs(60);
    cli.expect_line("WatchedEvent state:SyncConnected type:None", wait);
    cli.send_line("create -e /zkmove mine");
    cli.expect_line("Created /zkmove", wait);
    cli.send_line("create /zkw v1");
    cli.expect_line("Created /zkw", wait);
    cli.send_line("stat /zkmove");
    let owner = cli.expect_line("ephemeralOwner = ", wait);
    cli.send_line("get -w /zkw");
    cli.expect_line("v1", wait);

    let on: Vec<usize> = (0..2)
        .filter(|i| support::sessions_served(&zoes[*i].addr()) > 0)
        .collect();
    assert_eq!(
        on.len(),
        1,
        "zkCli should be connected to exactly one instance"
    );
    let (gone, other) = (on[0], 1 - on[0]);
    zoes[gone].kill();
    cli.expect_line("WatchedEvent state:Disconnected", wait);
    cli.expect_line("WatchedEvent state:SyncConnected type:None", wait);
    assert_eq!(
        support::sessions_served(&zoes[other].addr()),
        1,
        "zkCli moved"
    );

    // The watch set before the move fires after it.
    ok(&zoes[other].addr(), &["set", "/zkw", "v2"]);
    cli.expect_line(
        "WatchedEvent state:SyncConnected type:NodeDataChanged path:/zkw",
        wait,
    );
    // Same session: the ephemeral still has its owner.
    cli.send_line("stat /zkmove");
    assert_eq!(cli.expect_line("ephemeralOwner = ", wait), owner);
    cli.send_line("quit");
    cli.close_stdin();
    let _ = cli.wait(Duration::from_secs(30));
    // Closed: the ephemeral went with the session.
    fails(
        &zoes[other].addr(),
        &["stat", "/zkmove"],
        "Node does not exist",
    );
}
