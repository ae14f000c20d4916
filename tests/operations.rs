//! Operator-facing behaviour: four-letter words (checked with ZooKeeper's
//! own `FourLetterWordMain` and compared in shape with a real ZooKeeper
//! 3.9.5), the admin HTTP server (`curl`, JSON, Prometheus text format),
//! configuration files, maxClientCnxns, TLS on the client port (the Java
//! client over Netty), etcd with TLS and authentication, graceful
//! shutdown, start-up failures, and import/export.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Read;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use bytes::Bytes;
use jute::{
    Acl, CreateRequest, ExistsRequest, GetChildrenRequest, GetDataRequest, GetDataResponse, Id,
    OpCode, Record, SetAclRequest, SetDataRequest, Stat,
};
use support::{
    etcd_bin, four_letter_word, free_port, java_bin, java_classes_dir, run_command, unique_prefix,
    wait_for, zk_lib_dir, zoe_bin, ClientOutput, EtcdServer, ServerProcess, TestDir, Zoe,
    ZooKeeperServer,
};
use zoe::migrate::ZkClient;

const T: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------- a client

fn open_acl() -> Vec<Acl> {
    vec![Acl {
        perms: jute::perms::ALL,
        id: Id {
            scheme: "world".into(),
            id: "anyone".into(),
        },
    }]
}

fn connect(addr: &str) -> ZkClient {
    ZkClient::connect(addr, T).unwrap_or_else(|e| panic!("connect {addr}: {e:#}"))
}

fn expect_ok(what: &str, r: (i32, Bytes)) -> Bytes {
    assert_eq!(r.0, 0, "{what} failed with error {}", r.0);
    r.1
}

fn create(c: &mut ZkClient, path: &str, data: &[u8], acl: Vec<Acl>, flags: i32) -> String {
    let req = CreateRequest {
        path: path.into(),
        data: Some(Bytes::copy_from_slice(data)),
        acl,
        flags,
    };
    let body = expect_ok(
        &format!("create {path}"),
        c.request(OpCode::Create, &req).unwrap(),
    );
    jute::CreateResponse::decode(body).unwrap().path
}

fn set_data(c: &mut ZkClient, path: &str, data: &[u8]) {
    let req = SetDataRequest {
        path: path.into(),
        data: Some(Bytes::copy_from_slice(data)),
        version: -1,
    };
    expect_ok(
        &format!("setData {path}"),
        c.request(OpCode::SetData, &req).unwrap(),
    );
}

fn get_data(c: &mut ZkClient, path: &str, watch: bool) -> Option<GetDataResponse> {
    let req = GetDataRequest {
        path: path.into(),
        watch,
    };
    let (err, body) = c.request(OpCode::GetData, &req).unwrap();
    (err == 0).then(|| GetDataResponse::decode(body).unwrap())
}

fn exists_watch(c: &mut ZkClient, path: &str) {
    let req = ExistsRequest {
        path: path.into(),
        watch: true,
    };
    c.request(OpCode::Exists, &req).unwrap();
}

fn children_watch(c: &mut ZkClient, path: &str) {
    let req = GetChildrenRequest {
        path: path.into(),
        watch: true,
    };
    expect_ok("getChildren", c.request(OpCode::GetChildren, &req).unwrap());
}

/// The same sessions, nodes and watches on any server: two sessions, one
/// ephemeral, three data watches on two paths and one child watch.
fn activity(addr: &str) -> (ZkClient, ZkClient) {
    let mut a = connect(addr);
    let mut b = connect(addr);
    create(&mut a, "/a", b"", open_acl(), 0);
    create(&mut a, "/a/b", b"", open_acl(), 0);
    create(&mut a, "/a/e", b"hello", open_acl(), 1);
    set_data(&mut a, "/a/b", &[b'x'; 100]);
    get_data(&mut a, "/a/b", true).unwrap();
    exists_watch(&mut a, "/nope");
    children_watch(&mut a, "/a");
    get_data(&mut b, "/a/b", true).unwrap();
    (a, b)
}

// ---------------------------------------------------------------- helpers

fn java_flw(host: &str, port: u16, word: &str, extra: &[String]) -> String {
    let mut cmd = Command::new(java_bin());
    cmd.args(["-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xss512k"])
        .args(extra)
        .arg("-cp")
        .arg(zk_lib_dir().join("*"))
        .arg("org.apache.zookeeper.client.FourLetterWordMain")
        .arg(host)
        .arg(port.to_string())
        .arg(word);
    if !extra.is_empty() {
        cmd.arg("true");
    }
    let out = run_command(&mut cmd, None, Duration::from_secs(60));
    assert!(
        out.success(),
        "FourLetterWordMain {word} failed\n{}",
        out.describe()
    );
    out.stdout
}

fn port_of(addr: &str) -> u16 {
    addr.rsplit(':').next().unwrap().parse().unwrap()
}

/// Keys before `sep` of each line, in order.
fn keys(text: &str, sep: char) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.split_once(sep).map(|(k, _)| k.to_string()))
        .collect()
}

/// A `cons`/`stat` client line reduced to its field names.
fn cons_shape(line: &str) -> String {
    let (head, fields) = line
        .split_once('(')
        .unwrap_or_else(|| panic!("not a connection line: {line:?}"));
    assert!(head.starts_with(" /"), "{line:?}");
    assert!(head.ends_with(']'), "{line:?}");
    let names: Vec<&str> = fields
        .trim_end_matches(')')
        .split(',')
        .map(|f| f.split('=').next().unwrap())
        .collect();
    names.join(",")
}

fn curl(url: &str) -> (u16, String) {
    let out = run_command(
        Command::new("curl").args(["-s", "-m", "10", "-w", "\n%{http_code}", url]),
        None,
        Duration::from_secs(20),
    );
    let text = out.stdout;
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

fn zoe_with(etcd: &EtcdServer, args: &[&str]) -> Zoe {
    Zoe::start_with(&etcd.endpoint(), &unique_prefix("ops"), args)
}

// ---------------------------------------------------------------- 4lw

#[test]
fn four_letter_words_have_zookeepers_formats() {
    let etcd = EtcdServer::start();
    let zoe = zoe_with(&etcd, &["--four-letter-words", "*"]);
    let zk = ZooKeeperServer::start();
    let (_za, _zb) = activity(&zoe.addr());
    let (_ka, _kb) = activity(&zk.addr());
    let words = [
        "ruok", "srvr", "stat", "mntr", "conf", "cons", "envi", "wchs", "wchc", "wchp", "dirs",
        "isro", "dump", "gtmk", "crst", "srst",
    ];
    let mut ours = BTreeMap::new();
    let mut theirs = BTreeMap::new();
    for w in words {
        ours.insert(w, java_flw("127.0.0.1", port_of(&zoe.addr()), w, &[]));
        theirs.insert(w, java_flw("127.0.0.1", port_of(&zk.addr()), w, &[]));
    }
    // The raw answers (FourLetterWordMain re-joins lines).
    assert_eq!(four_letter_word(&zoe.addr(), "ruok").unwrap(), "imok");
    assert_eq!(four_letter_word(&zoe.addr(), "isro").unwrap(), "rw");
    for w in ["ruok", "isro", "crst", "srst"] {
        assert_eq!(ours[w], theirs[w], "{w}");
    }
    // srvr: the same lines in the same order; the version line in the old
    // date format go-zookeeper parses.
    assert_eq!(keys(&ours["srvr"], ':'), keys(&theirs["srvr"], ':'));
    let version = ours["srvr"].lines().next().unwrap();
    let date = version.split(", built on ").nth(1).unwrap();
    assert!(
        version.starts_with("Zookeeper version: 3.9.5-zoe-")
            && date.len() == "11/25/2026 22:30 GMT".len()
            && date.as_bytes()[2] == b'/'
            && date.ends_with(" GMT"),
        "{version}"
    );
    assert!(ours["srvr"].contains("Mode: standalone\n"));
    // What go-zookeeper's FLWSrvr requires of the raw answer.
    let go_zk = regex::Regex::new(concat!(
        r"(?m:\A^Zookeeper version: ([A-Za-z0-9.\-]+), built on ",
        r"(\d\d/\d\d/\d\d\d\d \d\d:\d\d [A-Za-z0-9:+\-]+).*\n",
        r"^Latency min/avg/max: (\d+)/([0-9.]+)/(\d+).*\n",
        r"^Received: (\d+).*\n^Sent: (\d+).*\n^Connections: (\d+).*\n^Outstanding: (\d+).*\n",
        r"^Zxid: (0x[A-Za-z0-9]+).*\n^Mode: (\w+).*\n^Node count: (\d+))"
    ))
    .unwrap();
    let raw = four_letter_word(&zoe.addr(), "srvr").unwrap();
    let m = go_zk
        .captures(&raw)
        .unwrap_or_else(|| panic!("go-zookeeper would not parse:\n{raw}"));
    assert_eq!(&m[11], "standalone");
    // ZooKeeper 3.9's own answer (yyyy-MM-dd dates) is one it cannot parse.
    assert!(!go_zk.is_match(&four_letter_word(&zk.addr(), "srvr").unwrap()));
    // stat: srvr plus the client list.
    assert_eq!(keys(&ours["stat"], ':'), keys(&theirs["stat"], ':'));
    let clients = |t: &str| -> BTreeSet<String> {
        t.lines()
            .filter(|l| l.starts_with(" /"))
            .map(cons_shape)
            .collect()
    };
    assert_eq!(clients(&ours["stat"]), clients(&theirs["stat"]));
    // cons: the same field names for session and 4lw connections.
    assert_eq!(clients(&ours["cons"]), clients(&theirs["cons"]));
    assert_eq!(
        ours["cons"]
            .lines()
            .filter(|l| l.contains("sid=0x"))
            .count(),
        2
    );
    // mntr: key<TAB>value lines with every fixed ZooKeeper key.
    for l in ours["mntr"].lines().filter(|l| !l.is_empty()) {
        let (k, v) = l.split_once('\t').unwrap_or_else(|| panic!("{l:?}"));
        assert!(k.starts_with("zk_") && !v.is_empty(), "{l:?}");
    }
    let mk: BTreeSet<String> = keys(&ours["mntr"], '\t').into_iter().collect();
    for k in [
        "zk_version",
        "zk_server_state",
        "zk_avg_latency",
        "zk_max_latency",
        "zk_min_latency",
        "zk_packets_received",
        "zk_packets_sent",
        "zk_num_alive_connections",
        "zk_outstanding_requests",
        "zk_uptime",
        "zk_znode_count",
        "zk_watch_count",
        "zk_ephemerals_count",
        "zk_approximate_data_size",
        "zk_global_sessions",
        "zk_local_sessions",
        "zk_open_file_descriptor_count",
        "zk_max_file_descriptor_count",
        "zk_connection_drop_probability",
        "zk_outstanding_tls_handshake",
        "zk_auth_failed_count",
    ] {
        assert!(mk.contains(k), "mntr lacks {k}:\n{}", ours["mntr"]);
        assert!(theirs["mntr"].contains(&format!("{k}\t")), "zk lacks {k}");
    }
    let mntr: BTreeMap<String, String> = ours["mntr"]
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(mntr["zk_server_state"], "standalone");
    assert_eq!(mntr["zk_ephemerals_count"], "1");
    assert_eq!(mntr["zk_global_sessions"], "2");
    assert_eq!(mntr["zk_watch_count"], "4");
    assert_eq!(
        mntr["zk_znode_count"],
        theirs["mntr"]
            .lines()
            .find_map(|l| l.strip_prefix("zk_znode_count\t"))
            .unwrap()
    );
    // conf and envi: the same keys.
    assert_eq!(keys(&ours["conf"], '='), keys(&theirs["conf"], '='));
    assert_eq!(ours["envi"].lines().next(), Some("Environment:"));
    assert_eq!(keys(&ours["envi"], '='), keys(&theirs["envi"], '='));
    assert_eq!(keys(&ours["dirs"], ':'), keys(&theirs["dirs"], ':'));
    // Watches: the data-watch table only, same numbers as ZooKeeper.
    assert_eq!(ours["wchs"], theirs["wchs"]);
    assert!(ours["wchs"].starts_with("2 connections watching 2 paths\n"));
    // Groups of "header\n\titem\n...": wchp is path → sessions, wchc is
    // session → paths.
    let groups = |t: &str, items_are_sessions: bool| -> Vec<(String, Vec<String>)> {
        let mut g: Vec<(String, Vec<String>)> = Vec::new();
        for l in t.lines().filter(|l| !l.is_empty()) {
            match l.strip_prefix('\t') {
                Some(item) => {
                    assert_eq!(item.starts_with("0x"), items_are_sessions, "{l:?}");
                    g.last_mut()
                        .expect("item before header")
                        .1
                        .push(item.into());
                }
                None => {
                    assert_eq!(l.starts_with("0x"), !items_are_sessions, "{l:?}");
                    g.push((l.to_string(), Vec::new()));
                }
            }
        }
        g
    };
    let path_counts = |t: &str| -> BTreeMap<String, usize> {
        groups(t, true)
            .into_iter()
            .map(|(p, s)| (p, s.len()))
            .collect()
    };
    assert_eq!(path_counts(&ours["wchp"]), path_counts(&theirs["wchp"]));
    let session_paths = |t: &str| -> Vec<Vec<String>> {
        let mut v: Vec<Vec<String>> = groups(t, false).into_iter().map(|(_, p)| p).collect();
        v.sort();
        v
    };
    assert_eq!(session_paths(&ours["wchc"]), session_paths(&theirs["wchc"]));
    // dump: the same section headers.
    let headers = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| l.ends_with(':') && !l.starts_with('\t') && !l.starts_with("0x"))
            .map(|l| l.split(" (").next().unwrap().to_string())
            .filter(|l| !l.contains("expire at"))
            .collect()
    };
    assert_eq!(headers(&ours["dump"]), headers(&theirs["dump"]));
    assert!(ours["dump"].contains("\t/a/e\n"));
    assert!(ours["gtmk"].trim().parse::<i64>().is_ok());
}

#[test]
fn four_letter_word_allow_list() {
    let etcd = EtcdServer::start();
    let zoe = Zoe::start(&etcd);
    // Default: srvr only.
    let srvr = four_letter_word(&zoe.addr(), "srvr").unwrap();
    assert!(srvr.starts_with("Zookeeper version: "), "{srvr}");
    for w in ["ruok", "mntr", "stat", "cons", "wchc", "envi"] {
        assert_eq!(
            four_letter_word(&zoe.addr(), w).unwrap(),
            format!("{w} is not executed because it is not in the whitelist.\n")
        );
    }
    // An unknown word is a frame length: the connection just closes.
    assert_eq!(four_letter_word(&zoe.addr(), "abcd").unwrap(), "");
    let zoe2 = zoe_with(&etcd, &["--four-letter-words", "ruok,mntr"]);
    assert_eq!(four_letter_word(&zoe2.addr(), "ruok").unwrap(), "imok");
    assert!(four_letter_word(&zoe2.addr(), "mntr")
        .unwrap()
        .starts_with("zk_version\t"));
    assert!(four_letter_word(&zoe2.addr(), "srvr")
        .unwrap()
        .starts_with("Zookeeper version"));
    assert!(four_letter_word(&zoe2.addr(), "conf")
        .unwrap()
        .contains("not in the whitelist"));
}

// ---------------------------------------------------------------- admin

/// Checks the Prometheus text exposition format line by line: every
/// sample belongs to a family declared with TYPE before it, names and
/// labels are well-formed, values are numbers, histograms are cumulative
/// and end with +Inf equal to _count.
fn check_exposition(text: &str) -> BTreeMap<String, String> {
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let name_ok = |n: &str| {
        !n.is_empty()
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
            && !n.starts_with(|c: char| c.is_ascii_digit())
    };
    let mut last_bucket: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut it = rest.splitn(3, ' ');
            let kind = it.next().unwrap();
            let name = it.next().unwrap();
            assert!(name_ok(name), "{line}");
            if kind == "TYPE" {
                let t = it.next().unwrap();
                assert!(
                    ["counter", "gauge", "histogram", "summary", "untyped"].contains(&t),
                    "{line}"
                );
                assert!(types.insert(name.into(), t.into()).is_none(), "dup {line}");
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap();
        let v: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value: {line}")),
        };
        let (name, labels) = match series.split_once('{') {
            Some((n, l)) => {
                assert!(l.ends_with('}'), "{line}");
                (n, &l[..l.len() - 1])
            }
            None => (series, ""),
        };
        assert!(name_ok(name), "{line}");
        for pair in labels.split("\",").filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once("=\"").unwrap_or_else(|| panic!("{line}"));
            assert!(name_ok(k), "{line}");
            assert!(!v.trim_end_matches('"').contains('\n'), "{line}");
        }
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| types.get(*f).is_some_and(|t| t == "histogram"))
            })
            .unwrap_or(name);
        assert!(types.contains_key(family), "sample before TYPE: {line}");
        if name.ends_with("_bucket") {
            let key = format!(
                "{family}{{{}}}",
                labels
                    .split(',')
                    .filter(|p| !p.starts_with("le="))
                    .collect::<Vec<_>>()
                    .join(",")
            );
            let le: f64 = labels
                .split(',')
                .find_map(|p| p.strip_prefix("le=\""))
                .map(|x| x.trim_end_matches('"'))
                .map(|x| {
                    if x == "+Inf" {
                        f64::INFINITY
                    } else {
                        x.parse().unwrap()
                    }
                })
                .unwrap();
            if let Some((ple, pv)) = last_bucket.get(&key) {
                assert!(le > *ple && v >= *pv, "not cumulative: {line}");
            }
            last_bucket.insert(key, (le, v));
        }
    }
    types
}

#[test]
fn admin_server_commands_metrics_and_probes() {
    let mut etcd = EtcdServer::start();
    let admin = format!("127.0.0.1:{}", free_port());
    let zoe = zoe_with(&etcd, &["--admin-listen", &admin]);
    let (_a, _b) = activity(&zoe.addr());
    let base = format!("http://{admin}");
    let (code, html) = curl(&format!("{base}/commands"));
    assert_eq!(code, 200);
    for (primary, aliases) in zoe::admin::COMMANDS {
        assert!(html.contains(&format!("/commands/{primary}\"")), "{html}");
        for name in std::iter::once(primary).chain(aliases.iter()) {
            let (code, body) = curl(&format!("{base}/commands/{name}"));
            assert_eq!(code, 200, "{name}");
            let v: serde_json::Value = serde_json::from_str(&body)
                .unwrap_or_else(|e| panic!("{name}: not JSON ({e}): {body}"));
            assert_eq!(v["command"], *primary, "{name}: {body}");
            assert!(v["error"].is_null(), "{name}: {body}");
        }
    }
    let get = |name: &str| -> serde_json::Value {
        serde_json::from_str(&curl(&format!("{base}/commands/{name}")).1).unwrap()
    };
    let (_, body) = curl(&format!("{base}/commands/nosuch"));
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["command"], "nosuch");
    assert_eq!(v["error"], "Unknown command: nosuch");
    // ZooKeeper's key names.
    let srvr = get("srvr");
    for k in [
        "version",
        "read_only",
        "server_stats",
        "client_response",
        "node_count",
    ] {
        assert!(srvr.get(k).is_some(), "server_stats lacks {k}: {srvr}");
    }
    assert_eq!(srvr["server_stats"]["server_state"], "standalone");
    let cons = get("cons");
    let conns = cons["connections"].as_array().unwrap();
    assert_eq!(conns.len(), 2, "{cons}");
    for k in [
        "remote_socket_address",
        "interest_ops",
        "outstanding_requests",
        "packets_received",
        "packets_sent",
        "session_id",
        "last_operation",
        "established",
        "session_timeout",
        "last_cxid",
        "last_zxid",
        "last_response_time",
        "last_latency",
        "min_latency",
        "avg_latency",
        "max_latency",
    ] {
        assert!(conns[0].get(k).is_some(), "connection lacks {k}: {cons}");
    }
    assert!(cons["secure_connections"].as_array().unwrap().is_empty());
    let mntr = get("monitor");
    assert_eq!(mntr["server_state"], "standalone");
    assert_eq!(mntr["ephemerals_count"], 1);
    assert_eq!(get("wchs")["num_total_watches"], 3);
    assert_eq!(
        get("wchp")["path_to_session_ids"]["/a/b"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        get("dump")["session_id_to_ephemeral_paths"]
            .as_object()
            .unwrap()
            .values()
            .next()
            .unwrap()[0],
        "/a/e"
    );
    assert_eq!(get("conf")["max_client_cnxns"], 60);
    assert_eq!(get("isro")["read_only"], false);

    // Probes.
    assert_eq!(curl(&format!("{base}/health")).0, 200);
    wait_for(T, "/ready to answer 200", || {
        (curl(&format!("{base}/ready")).0 == 200).then_some(())
    });

    // Metrics: a valid exposition with the families operators need.
    let (code, text) = curl(&format!("{base}/metrics"));
    assert_eq!(code, 200);
    let types = check_exposition(&text);
    for (family, t) in [
        ("zoe_request_duration_seconds", "histogram"),
        ("zoe_etcd_txn_duration_seconds", "histogram"),
        ("zoe_write_batch_size", "histogram"),
        ("zoe_etcd_txn_conflicts_total", "counter"),
        ("zoe_packets_received_total", "counter"),
        ("zoe_connections_rejected_total", "counter"),
        ("zoe_sessions_owned", "gauge"),
        ("zoe_sessions_global", "gauge"),
        ("zoe_watches", "gauge"),
        ("zoe_znodes", "gauge"),
        ("zoe_replica_lag_revisions", "gauge"),
        ("zoe_etcd_up", "gauge"),
        ("zoe_ready", "gauge"),
    ] {
        assert_eq!(types.get(family).map(String::as_str), Some(t), "{family}");
    }
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
        .expect("prometheus-parse accepts /metrics");
    let sample = |name: &str, label: Option<(&str, &str)>| {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name && label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
            .unwrap_or_else(|| panic!("no sample {name} {label:?}"))
            .value
            .clone()
    };
    match sample("zoe_request_duration_seconds", Some(("op", "getData"))) {
        prometheus_parse::Value::Histogram(h) => {
            assert_eq!(h.last().unwrap().count, 2.0, "{h:?}")
        }
        v => panic!("getData latency is not a histogram: {v:?}"),
    }
    match sample("zoe_write_batch_size", None) {
        prometheus_parse::Value::Histogram(h) => {
            assert!(h.last().unwrap().count >= 4.0, "{h:?}")
        }
        v => panic!("{v:?}"),
    }
    assert!(matches!(
        sample("zoe_znodes", None),
        prometheus_parse::Value::Gauge(g) if g == 7.0
    ));
    assert!(matches!(
        sample("zoe_sessions_owned", None),
        prometheus_parse::Value::Gauge(g) if g == 2.0
    ));

    // etcd gone: not ready, still healthy.
    etcd.kill();
    wait_for(Duration::from_secs(20), "/ready to answer 503", || {
        let (code, body) = curl(&format!("{base}/ready"));
        (code == 503 && body.contains("etcd")).then_some(())
    });
    assert_eq!(curl(&format!("{base}/health")).0, 200);
}

// ---------------------------------------------------------------- limits and config

#[test]
fn max_client_cnxns_closes_extra_connections_from_one_ip() {
    let etcd = EtcdServer::start();
    let zoe = zoe_with(&etcd, &["--max-client-cnxns", "3"]);
    let is_open = |s: &mut TcpStream| {
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut b = [0u8; 1];
        matches!(s.read(&mut b), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock
            || e.kind() == std::io::ErrorKind::TimedOut)
    };
    // Hold three slots (retrying while the harness's readiness probe may
    // still hold one), then a fourth connection is closed at once.
    let held = wait_for(T, "three connections held", || {
        let mut held: Vec<TcpStream> = (0..3)
            .map(|_| TcpStream::connect(zoe.addr()).unwrap())
            .collect();
        held.iter_mut().all(&is_open).then_some(held)
    });
    let mut extra = TcpStream::connect(zoe.addr()).unwrap();
    extra.set_read_timeout(Some(T)).unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 16];
    let n = extra.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "the extra connection was not closed");
    assert!(started.elapsed() < Duration::from_secs(5));
    wait_for(T, "the log line", || {
        zoe.log_tail(50)
            .contains("too many connections from 127.0.0.1")
            .then_some(())
    });
    drop(held);
    wait_for(T, "a free slot", || {
        four_letter_word(&zoe.addr(), "srvr")
            .ok()
            .filter(|s| s.starts_with("Zookeeper"))
    });
}

#[test]
fn zoo_cfg_and_toml_files_configure_the_server() {
    let etcd = EtcdServer::start();
    let dir = TestDir::new("cfg");
    let zoo = dir.path().join("zoo.cfg");
    fs::write(
        &zoo,
        "tickTime=1000\ninitLimit=10\nsyncLimit=5\ndataDir=/var/lib/zookeeper\n\
         maxSessionTimeout=7000\nmaxClientCnxns=11\n4lw.commands.whitelist=conf, ruok\n\
         server.1=zk1:2888:3888\n",
    )
    .unwrap();
    let toml = dir.path().join("zoe.toml");
    fs::write(&toml, "max-client-cnxns = 12\nmin-session-timeout = 3000\n").unwrap();
    let zoe = zoe_with(
        &etcd,
        &[
            "--zoo-cfg",
            zoo.to_str().unwrap(),
            "--config",
            toml.to_str().unwrap(),
        ],
    );
    assert_eq!(four_letter_word(&zoe.addr(), "ruok").unwrap(), "imok");
    let conf = four_letter_word(&zoe.addr(), "conf").unwrap();
    for line in [
        "tickTime=1000",
        "maxSessionTimeout=7000",
        "minSessionTimeout=3000",
        "maxClientCnxns=12",
    ] {
        assert!(conf.contains(&format!("{line}\n")), "{line} not in\n{conf}");
    }
    let log = zoe.log_tail(100);
    assert!(log.contains("initLimit does not apply"), "{log}");
    assert!(log.contains("server.1 does not apply"), "{log}");
    // A session asks for 60 s and gets the zoo.cfg maximum.
    let c = connect(&zoe.addr());
    assert_eq!(c.timeout_ms, 7000);
}

// ---------------------------------------------------------------- TLS

struct Pki {
    dir: TestDir,
    ca: rcgen::Certificate,
    ca_key: rcgen::KeyPair,
}

impl Pki {
    fn new(tag: &str) -> Pki {
        let dir = TestDir::new(tag);
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "zoe test CA");
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let ca = params.self_signed(&ca_key).unwrap();
        fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        Pki { dir, ca, ca_key }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Issues `name.pem`/`name.key` for localhost and 127.0.0.1.
    fn issue(&self, name: &str, cn: &str, server: bool) {
        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
                .unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        params.extended_key_usages = if server {
            vec![
                rcgen::ExtendedKeyUsagePurpose::ServerAuth,
                rcgen::ExtendedKeyUsagePurpose::ClientAuth,
            ]
        } else {
            vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth]
        };
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.ca, &self.ca_key).unwrap();
        fs::write(self.path(&format!("{name}.pem")), cert.pem()).unwrap();
        fs::write(self.path(&format!("{name}.key")), key.serialize_pem()).unwrap();
        // ZooKeeper's PEM key store: key and certificate in one file.
        fs::write(
            self.path(&format!("{name}-keystore.pem")),
            format!("{}{}", key.serialize_pem(), cert.pem()),
        )
        .unwrap();
    }

    /// A PKCS12 trust store with the CA, made with keytool.
    fn truststore(&self) -> PathBuf {
        let out = self.path("trust.p12");
        let keytool = support::which("keytool").unwrap_or_else(|| "/usr/bin/keytool".into());
        let r = run_command(
            Command::new(keytool)
                .args(["-importcert", "-noprompt", "-alias", "zoe-test-ca", "-file"])
                .arg(self.path("ca.pem"))
                .arg("-keystore")
                .arg(&out)
                .args(["-storetype", "PKCS12", "-storepass", "changeit"]),
            None,
            Duration::from_secs(60),
        );
        assert!(r.success(), "keytool failed\n{}", r.describe());
        out
    }
}

fn java_tls_props(trust: &Path, keystore: Option<&Path>) -> Vec<String> {
    let mut v = vec![
        "-Dzookeeper.client.secure=true".to_string(),
        "-Dzookeeper.clientCnxnSocket=org.apache.zookeeper.ClientCnxnSocketNetty".to_string(),
        format!("-Dzookeeper.ssl.trustStore.location={}", trust.display()),
        "-Dzookeeper.ssl.trustStore.password=changeit".to_string(),
        "-Dzookeeper.ssl.trustStore.type=PKCS12".to_string(),
    ];
    if let Some(k) = keystore {
        v.push(format!("-Dzookeeper.ssl.keyStore.location={}", k.display()));
        v.push("-Dzookeeper.ssl.keyStore.type=PEM".to_string());
    }
    v
}

fn java_scenario_with(props: &[String], connect: &str, scenario: &str) -> ClientOutput {
    let mut cp = std::ffi::OsString::new();
    cp.push(java_classes_dir());
    cp.push(":");
    cp.push(zk_lib_dir().join("*"));
    let mut cmd = Command::new(java_bin());
    cmd.args(["-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xmx128m"])
        .args(props)
        .arg("-Dorg.slf4j.simpleLogger.defaultLogLevel=warn")
        .arg("-Dzookeeper.sasl.client=false")
        .arg("-cp")
        .arg(cp)
        .arg("zoetest.Scenarios")
        .arg(scenario)
        .arg(connect);
    run_command(&mut cmd, None, Duration::from_secs(150))
}

#[test]
fn java_client_over_tls_on_the_secure_port() {
    let pki = Pki::new("tls");
    pki.issue("server", "localhost", true);
    pki.issue("client", "zoe-client", false);
    let trust = pki.truststore();
    let etcd = EtcdServer::start();
    let secure = free_port();
    let secure_addr = format!("127.0.0.1:{secure}");
    let zoe = zoe_with(
        &etcd,
        &[
            "--secure-listen",
            &secure_addr,
            "--tls-cert",
            pki.path("server.pem").to_str().unwrap(),
            "--tls-key",
            pki.path("server.key").to_str().unwrap(),
        ],
    );
    let out = java_scenario_with(&java_tls_props(&trust, None), &secure_addr, "crud");
    assert!(
        out.success() && out.stdout.contains("PASS crud"),
        "Java client over TLS failed\n{}",
        out.describe()
    );
    let srvr = java_flw("127.0.0.1", secure, "srvr", &java_tls_props(&trust, None));
    assert!(srvr.starts_with("Zookeeper version: 3.9.5-zoe-"), "{srvr}");
    // Plain clients still use the plain port; the secure port speaks TLS only.
    assert!(four_letter_word(&zoe.addr(), "srvr")
        .unwrap()
        .starts_with("Zookeeper"));
    assert!(!four_letter_word(&secure_addr, "srvr")
        .unwrap_or_default()
        .contains("Zookeeper"));

    // With a client CA, a certificate is required.
    let secure2 = format!("127.0.0.1:{}", free_port());
    let _zoe2 = zoe_with(
        &etcd,
        &[
            "--secure-listen",
            &secure2,
            "--tls-cert",
            pki.path("server.pem").to_str().unwrap(),
            "--tls-key",
            pki.path("server.key").to_str().unwrap(),
            "--tls-ca",
            pki.path("ca.pem").to_str().unwrap(),
        ],
    );
    let keystore = pki.path("client-keystore.pem");
    let out = java_scenario_with(&java_tls_props(&trust, Some(&keystore)), &secure2, "crud");
    assert!(
        out.success() && out.stdout.contains("PASS crud"),
        "Java client with a client certificate failed\n{}",
        out.describe()
    );
    let mut cmd = Command::new(java_bin());
    cmd.args(["-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"])
        .args(java_tls_props(&trust, None))
        .arg("-cp")
        .arg(zk_lib_dir().join("*"))
        .arg("org.apache.zookeeper.client.FourLetterWordMain")
        .args(["127.0.0.1", &port_of(&secure2).to_string(), "srvr", "true"]);
    let out = run_command(&mut cmd, None, Duration::from_secs(60));
    assert!(
        !out.stdout.contains("Zookeeper version"),
        "a client without a certificate was served\n{}",
        out.describe()
    );
}

/// etcd with TLS (client certificates required) and authentication.
struct SecureEtcd {
    process: ServerProcess,
    endpoint: String,
    _dir: TestDir,
}

fn etcdctl(pki: &Pki, endpoint: &str, args: &[&str]) -> ClientOutput {
    let etcdctl = support::which("etcdctl").unwrap_or_else(|| "/usr/bin/etcdctl".into());
    let mut cmd = Command::new(etcdctl);
    cmd.env("ETCDCTL_API", "3")
        .arg("--endpoints")
        .arg(endpoint)
        .arg("--cacert")
        .arg(pki.path("ca.pem"))
        .arg("--cert")
        .arg(pki.path("root.pem"))
        .arg("--key")
        .arg(pki.path("root.key"))
        .args(args);
    run_command(&mut cmd, None, Duration::from_secs(30))
}

impl SecureEtcd {
    fn start(pki: &Pki) -> SecureEtcd {
        let dir = TestDir::new("etcd-tls");
        let client = free_port();
        let peer = free_port();
        let endpoint = format!("https://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let mut cmd = Command::new(etcd_bin());
        cmd.args(["--name", "tls"])
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(["--listen-client-urls", &endpoint])
            .args(["--advertise-client-urls", &endpoint])
            .args(["--listen-peer-urls", &peer_url])
            .args(["--initial-advertise-peer-urls", &peer_url])
            .arg("--initial-cluster")
            .arg(format!("tls={peer_url}"))
            .arg("--cert-file")
            .arg(pki.path("etcd.pem"))
            .arg("--key-file")
            .arg(pki.path("etcd.key"))
            .arg("--trusted-ca-file")
            .arg(pki.path("ca.pem"))
            .arg("--client-cert-auth")
            .args(["--max-txn-ops", "1024", "--log-level", "warn"])
            .env("ETCD_UNSUPPORTED_ARCH", std::env::consts::ARCH);
        let process =
            ServerProcess::spawn("etcd-tls", &mut cmd, dir.path().join("etcd.log")).unwrap();
        let e = SecureEtcd {
            process,
            endpoint,
            _dir: dir,
        };
        wait_for(Duration::from_secs(30), "etcd with TLS", || {
            etcdctl(pki, &e.endpoint, &["endpoint", "health"])
                .success()
                .then_some(())
        });
        e
    }
}

#[test]
fn etcd_with_tls_and_authentication() {
    let pki = Pki::new("etcd-pki");
    pki.issue("etcd", "etcd", true);
    pki.issue("root", "root", false);
    pki.issue("zoe", "zoe", false);
    let etcd = SecureEtcd::start(&pki);
    let prefix = unique_prefix("secure");
    for args in [
        vec!["user", "add", "root:rootpw"],
        vec!["role", "add", "root"],
        vec!["user", "grant-role", "root", "root"],
        vec!["role", "add", "zoe"],
        vec![
            "role",
            "grant-permission",
            "zoe",
            "readwrite",
            "--prefix=true",
            &prefix,
        ],
        vec!["user", "add", "zoe:zoepw"],
        vec!["user", "grant-role", "zoe", "zoe"],
        vec!["auth", "enable"],
    ] {
        let out = etcdctl(&pki, &etcd.endpoint, &args);
        assert!(out.success(), "etcdctl {args:?}\n{}", out.describe());
    }
    let tls_args = |password: &str| -> Vec<String> {
        vec![
            "--etcd-ca".into(),
            pki.path("ca.pem").display().to_string(),
            "--etcd-cert".into(),
            pki.path("zoe.pem").display().to_string(),
            "--etcd-key".into(),
            pki.path("zoe.key").display().to_string(),
            "--etcd-user".into(),
            "zoe".into(),
            "--etcd-password".into(),
            password.into(),
        ]
    };
    let args = tls_args("zoepw");
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let zoe = Zoe::start_with(&etcd.endpoint, &prefix, &argv);
    let mut c = connect(&zoe.addr());
    create(&mut c, "/secure", b"data", open_acl(), 0);
    create(&mut c, "/secure/eph", b"", open_acl(), 1);
    assert_eq!(
        get_data(&mut c, "/secure", false).unwrap().data.as_deref(),
        Some(&b"data"[..])
    );
    // The keys are in etcd, readable only with credentials.
    let out = etcdctl(
        &pki,
        &etcd.endpoint,
        &[
            "--user",
            "root:rootpw",
            "get",
            &format!("{prefix}/secure"),
            "--print-value-only",
        ],
    );
    assert_eq!(out.stdout.trim(), "data", "{}", out.describe());
    // A wrong password is a clear start-up failure.
    let args = tls_args("wrong");
    let out = run_command(
        Command::new(zoe_bin())
            .args(["serve", "--listen"])
            .arg(format!("127.0.0.1:{}", free_port()))
            .args(["--etcd", &etcd.endpoint, "--prefix", &prefix])
            .args(&args),
        None,
        Duration::from_secs(60),
    );
    assert!(!out.success(), "{}", out.describe());
    assert!(
        out.stderr.contains("cannot connect to etcd") && out.stderr.contains("authentication"),
        "{}",
        out.describe()
    );
    drop(etcd.process);
}

// ---------------------------------------------------------------- lifecycle

#[test]
fn sigterm_closes_connections_but_keeps_sessions_for_another_instance() {
    let etcd = EtcdServer::start();
    let prefix = unique_prefix("sigterm");
    let mut a = Zoe::start_with(&etcd.endpoint(), &prefix, &[]);
    let b = Zoe::start_with(&etcd.endpoint(), &prefix, &[]);
    let mut c = connect(&a.addr());
    create(&mut c, "/eph", b"mine", open_acl(), 1);
    let (sid, passwd) = (c.session_id, c.passwd.clone());
    let status = a.stop().expect("zoe did not stop by itself within 10 s");
    assert!(status.success(), "zoe exited with {status}");
    let log = fs::read_to_string(a.log_path()).unwrap();
    assert!(log.contains("sessions stay open"), "{log}");
    // The client's socket was closed by the server.
    let r = c.request(
        OpCode::Exists,
        &ExistsRequest {
            path: "/eph".into(),
            watch: false,
        },
    );
    assert!(
        r.is_err(),
        "the connection to the stopped server still works"
    );
    // The session and its ephemeral live on: resume it on the other instance.
    let mut c2 = ZkClient::resume(&b.addr(), T, sid, &passwd).unwrap();
    assert_eq!(c2.session_id, sid);
    let d = get_data(&mut c2, "/eph", false).expect("the ephemeral survived");
    assert_eq!(d.stat.ephemeral_owner, sid);
    assert_eq!(d.data.as_deref(), Some(&b"mine"[..]));
}

#[test]
fn unreachable_etcd_is_a_clear_start_up_failure() {
    let port = free_port();
    let started = Instant::now();
    let out = run_command(
        Command::new(zoe_bin())
            .args(["serve", "--listen"])
            .arg(format!("127.0.0.1:{}", free_port()))
            .arg("--etcd")
            .arg(format!("http://127.0.0.1:{port}")),
        None,
        Duration::from_secs(60),
    );
    assert!(!out.timed_out, "zoe kept running without etcd");
    assert_eq!(out.code(), Some(1), "{}", out.describe());
    assert!(
        out.stderr
            .contains(&format!("cannot use etcd at http://127.0.0.1:{port}")),
        "{}",
        out.describe()
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    // A bad configuration file also stops it at once.
    let dir = TestDir::new("badcfg");
    let cfg = dir.path().join("zoe.toml");
    fs::write(&cfg, "tick_time = 5\n").unwrap();
    let out = run_command(
        Command::new(zoe_bin()).args(["serve", "--config", cfg.to_str().unwrap()]),
        None,
        Duration::from_secs(30),
    );
    assert_eq!(out.code(), Some(1), "{}", out.describe());
    assert!(out.stderr.contains("unknown field"), "{}", out.describe());
}

/// A first start on keys something else wrote (here as Pulsar's etcd store
/// lays them out) is refused under the default profile, with a message
/// that names a key and the way out; the profile made for that tree
/// starts, and so does the default profile on a prefix nothing uses.
#[test]
fn a_first_start_on_a_foreign_tree_needs_its_profile() {
    let etcd = EtcdServer::start();
    for key in ["/admin/clusters/c1", "/ledgers/LAYOUT"] {
        let out = etcd.etcdctl(&["put", key, "x"]);
        assert!(out.success(), "{}", out.describe());
    }
    let out = run_command(
        Command::new(zoe_bin())
            .args(["serve", "--listen"])
            .arg(format!("127.0.0.1:{}", free_port()))
            .arg("--etcd")
            .arg(etcd.endpoint()),
        None,
        Duration::from_secs(60),
    );
    assert_eq!(out.code(), Some(1), "{}", out.describe());
    assert!(
        out.stderr.contains("\"/admin/clusters/c1\"")
            && out.stderr.contains("--profile pulsar-2.10"),
        "{}",
        out.describe()
    );
    let layout = etcd.etcdctl(&["get", "0zoe/layout", "--print-value-only"]);
    assert_eq!(
        layout.stdout.trim(),
        "",
        "the refused start marked the tree"
    );
    let shared = Zoe::start_with(&etcd.endpoint(), "", &["--profile", "pulsar-2.10"]);
    let mut c = connect(&shared.addr());
    assert!(get_data(&mut c, "/admin/clusters/c1", false).is_some());
    let own = Zoe::start_with(&etcd.endpoint(), "/elsewhere", &[]);
    let mut c = connect(&own.addr());
    assert!(get_data(&mut c, "/admin/clusters/c1", false).is_none());
}

// ---------------------------------------------------------------- import / export

fn digest_acl() -> Vec<Acl> {
    vec![Acl {
        perms: jute::perms::ALL,
        id: Id {
            scheme: "digest".into(),
            id: zoe::acl::digest_id("u:p"),
        },
    }]
}

/// (data, the Stat fields an import keeps, ACL) by path.
type Snapshot = BTreeMap<String, (Option<Bytes>, [i64; 7], Vec<Acl>)>;
/// The same, in plain types, for comparing with an export.
type Plain = BTreeMap<String, (Option<Vec<u8>>, [i64; 7], Vec<(i32, String, String)>)>;

/// Every node under `root`, read with a client.
fn snapshot(c: &mut ZkClient, root: &str) -> Snapshot {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_string()];
    while let Some(p) = stack.pop() {
        let d = get_data(c, &p, false).unwrap_or_else(|| panic!("getData {p}"));
        let s: Stat = d.stat;
        let (_, body) = c
            .request(OpCode::GetAcl, &jute::GetAclRequest { path: p.clone() })
            .unwrap();
        let acl = jute::GetAclResponse::decode(body).unwrap().acl;
        out.insert(
            p.clone(),
            (
                d.data,
                [
                    s.ctime,
                    s.mtime,
                    s.version as i64,
                    s.cversion as i64,
                    s.aversion as i64,
                    s.data_length as i64,
                    s.num_children as i64,
                ],
                acl,
            ),
        );
        let (_, body) = c
            .request(
                OpCode::GetChildren,
                &GetChildrenRequest {
                    path: p.clone(),
                    watch: false,
                },
            )
            .unwrap();
        for child in jute::GetChildrenResponse::decode(body).unwrap().children {
            stack.push(if p == "/" {
                format!("/{child}")
            } else {
                format!("{p}/{child}")
            });
        }
    }
    out
}

#[test]
fn import_from_zookeeper_then_export_round_trip() {
    let zk = ZooKeeperServer::start();
    let mut src = connect(&zk.addr());
    create(&mut src, "/app", b"", open_acl(), 0);
    create(&mut src, "/app/cfg", b"v1", open_acl(), 0);
    set_data(&mut src, "/app/cfg", b"v2");
    set_data(&mut src, "/app/cfg", b"v3");
    create(&mut src, "/app/seq-", b"s", open_acl(), 2);
    let second = create(&mut src, "/app/seq-", b"s", open_acl(), 2);
    let (err, _) = src
        .request(
            OpCode::Delete,
            &jute::DeleteRequest {
                path: second,
                version: -1,
            },
        )
        .unwrap();
    assert_eq!(err, 0);
    create(&mut src, "/app/secret", b"pw", digest_acl(), 0);
    create(&mut src, "/app/empty", b"", open_acl(), 0);
    create(&mut src, "/app/eph", b"gone", open_acl(), 1);
    create(&mut src, "/app/deep", b"", open_acl(), 0);
    create(&mut src, "/app/deep/er", &[0, 1, 2, 255], open_acl(), 0);
    let (err, _) = src
        .request(
            OpCode::SetAcl,
            &SetAclRequest {
                path: "/app/deep".into(),
                acl: open_acl(),
                version: -1,
            },
        )
        .unwrap();
    assert_eq!(err, 0);
    create(&mut src, "/other", b"not copied", open_acl(), 0);
    src.auth("digest", "u:p").unwrap();
    let mut expected = snapshot(&mut src, "/app");
    // Ephemerals are not imported.
    expected.remove("/app/eph");
    expected.get_mut("/app").unwrap().1[6] -= 1;

    let etcd = EtcdServer::start();
    let prefix = unique_prefix("import");
    let out = run_command(
        Command::new(zoe_bin())
            .args(["import", "--from-zookeeper", &zk.addr(), "--path", "/app"])
            .args(["--etcd", &etcd.endpoint(), "--prefix", &prefix])
            .args(["--auth", "digest:u:p"]),
        None,
        Duration::from_secs(120),
    );
    assert!(out.success(), "import failed\n{}", out.describe());
    let report: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(report["imported"], 7, "{report}");
    assert_eq!(report["ephemerals"], 1, "{report}");
    // Importing again keeps what is there.
    let again = run_command(
        Command::new(zoe_bin())
            .args(["import", "--from-zookeeper", &zk.addr(), "--path", "/app"])
            .args(["--etcd", &etcd.endpoint(), "--prefix", &prefix])
            .args(["--auth", "digest:u:p"]),
        None,
        Duration::from_secs(120),
    );
    assert!(again.success(), "{}", again.describe());
    let report: serde_json::Value = serde_json::from_str(again.stdout.trim()).unwrap();
    assert_eq!(report["imported"], 0, "{report}");
    assert_eq!(report["existing"], 7, "{report}");

    // Served by zoe: the same data, versions, times and ACLs.
    let zoe = Zoe::start_with(&etcd.endpoint(), &prefix, &[]);
    let mut c = connect(&zoe.addr());
    c.auth("digest", "u:p").unwrap();
    let got = snapshot(&mut c, "/app");
    assert_eq!(got, expected);
    assert!(get_data(&mut c, "/other", false).is_none());
    // Sequential numbering continues after the source's.
    let next = create(&mut c, "/app/seq-", b"", open_acl(), 2);
    assert!(next.as_str() > "/app/seq-0000000001", "{next}");
    assert!(!expected.contains_key(&next), "{next} reused a suffix");
    drop(c);

    // Export: every node with base64 data, Stat and ACL.
    let out = run_command(
        Command::new(zoe_bin())
            .args(["export", "--path", "/app"])
            .args(["--etcd", &etcd.endpoint(), "--prefix", &prefix]),
        None,
        Duration::from_secs(60),
    );
    assert!(out.success(), "export failed\n{}", out.describe());
    let doc: zoe::migrate::ExportDoc = serde_json::from_str(&out.stdout).unwrap();
    let b64 = |d: &Option<String>| {
        use base64::Engine;
        d.as_ref()
            .map(|s| base64::engine::general_purpose::STANDARD.decode(s).unwrap())
    };
    let mut exported: Plain = doc
        .nodes
        .iter()
        .map(|n| {
            (
                n.path.clone(),
                (
                    b64(&n.data),
                    [
                        n.stat.ctime,
                        n.stat.mtime,
                        n.stat.version as i64,
                        n.stat.cversion as i64,
                        n.stat.aversion as i64,
                        n.stat.data_length as i64,
                        n.stat.num_children as i64,
                    ],
                    n.acl
                        .iter()
                        .map(|a| (a.perms, a.scheme.clone(), a.id.clone()))
                        .collect(),
                ),
            )
        })
        .collect();
    exported.remove(&next);
    let parent = exported.get_mut("/app").unwrap();
    parent.1[3] -= 1; // the sequential create above
    parent.1[6] -= 1;
    let want: Plain = expected
        .into_iter()
        .map(|(p, (d, s, acl))| {
            (
                p,
                (
                    d.map(|b| b.to_vec()),
                    s,
                    acl.into_iter()
                        .map(|a| (a.perms, a.id.scheme, a.id.id))
                        .collect(),
                ),
            )
        })
        .collect();
    assert_eq!(exported, want);
}
