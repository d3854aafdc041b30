//! `/metrics` against the family list ZooKeeper 3.8's PrometheusMetricsProvider exports
//! (src/admin/fixtures/prometheus_families_3.8.txt, derived from the 3.8 source): after a small
//! load (creates, reads, a watch firing, a quota, a session closed), a standalone server, an
//! ensemble's leader and a follower each export exactly the families listed for their role,
//! with the listed type, label names and quantiles (the `jvm_*` families aside).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::srvr_mode as mode;
use common::{connect_when_up, create, free_port, start_server, temp_data_dir, Client, WAIT};
use ferrokeeper::jute::codes::{ErrorCode, OpCode};
use ferrokeeper::jute::proto::{GetDataRequest, SetDataRequest};
use ferrokeeper::server::RunningServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const FIXTURE: &str = include_str!("../src/admin/fixtures/prometheus_families_3.8.txt");
const PROVIDER: &str =
    "metricsProvider.className=org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider";

/// One fixture line.
#[derive(Debug)]
struct Expected {
    kind: String,
    labels: BTreeSet<String>,
    quantiles: BTreeSet<String>,
}

fn dash_list(s: &str) -> BTreeSet<String> {
    if s == "-" {
        BTreeSet::new()
    } else {
        s.split(',').map(str::to_owned).collect()
    }
}

/// The fixture's families for `role`.
fn expected(role: &str) -> BTreeMap<String, Expected> {
    let mut out = BTreeMap::new();
    for line in FIXTURE
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let f: Vec<&str> = line.split(' ').collect();
        assert_eq!(f.len(), 5, "fixture line {line:?}");
        if f[4].split(',').any(|r| r == role) {
            let e = Expected {
                kind: f[1].to_owned(),
                labels: dash_list(f[2]),
                quantiles: dash_list(f[3]),
            };
            assert!(out.insert(f[0].to_owned(), e).is_none(), "twice: {}", f[0]);
        }
    }
    out
}

/// A family as scraped: its TYPE and its samples (suffix, labels).
#[derive(Debug, Default)]
struct Scraped {
    kind: Option<String>,
    samples: Vec<(String, BTreeMap<String, String>)>,
}

/// Parses the text exposition format (0.0.4) as far as names, types and labels go.
fn parse(body: &str) -> BTreeMap<String, Scraped> {
    let mut out: BTreeMap<String, Scraped> = BTreeMap::new();
    let mut current = String::new();
    for line in body.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            let f = out.entry(name.to_owned()).or_default();
            assert!(f.kind.is_none(), "two TYPE lines for {name}");
            f.kind = Some(kind.to_owned());
            current = name.to_owned();
        } else if line.starts_with('#') || line.is_empty() {
            continue;
        } else {
            let (series, value) = line.rsplit_once(' ').unwrap();
            let _: f64 = match value {
                "NaN" => f64::NAN,
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                v => v.parse().unwrap_or_else(|_| panic!("value in {line:?}")),
            };
            let (name, labels) = match series.split_once('{') {
                None => (series, BTreeMap::new()),
                Some((name, rest)) => {
                    let inner = rest.strip_suffix('}').unwrap();
                    let labels = inner
                        .split(',')
                        .map(|kv| {
                            let (k, v) = kv.split_once('=').unwrap();
                            (k.to_owned(), v.trim_matches('"').to_owned())
                        })
                        .collect();
                    (name, labels)
                }
            };
            let suffix = name
                .strip_prefix(current.as_str())
                .unwrap_or_else(|| panic!("sample {name} outside its family {current}"));
            out.entry(current.clone())
                .or_default()
                .samples
                .push((suffix.to_owned(), labels));
        }
    }
    out
}

/// One child's sample suffixes and quantiles.
type Child = (BTreeSet<String>, BTreeSet<String>);

/// Every family of `role` present with its type, label names and quantiles; nothing else
/// but `jvm_*`. Returns the labelled families that had children, for the caller to insist on.
fn check(role: &str, body: &str) -> BTreeSet<String> {
    let want = expected(role);
    let got = parse(body);
    let mut labelled_seen = BTreeSet::new();
    for (name, e) in &want {
        let Some(f) = got.get(name) else {
            panic!("{role}: family {name} missing from /metrics");
        };
        assert_eq!(
            f.kind.as_deref(),
            Some(e.kind.as_str()),
            "{role}: type of {name}"
        );
        if e.labels.is_empty() {
            assert!(!f.samples.is_empty(), "{role}: {name} has no sample");
        } else if !f.samples.is_empty() {
            labelled_seen.insert(name.clone());
        }
        // each child, by its labels other than `quantile`
        let mut children: BTreeMap<Vec<(String, String)>, Child> = BTreeMap::new();
        for (suffix, labels) in &f.samples {
            let mut own: Vec<(String, String)> = labels
                .iter()
                .filter(|(k, _)| k.as_str() != "quantile")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            own.sort();
            let names: BTreeSet<String> = own.iter().map(|(k, _)| k.clone()).collect();
            assert_eq!(names, e.labels, "{role}: label names of {name}{suffix}");
            let child = children.entry(own).or_default();
            child.0.insert(suffix.clone());
            if let Some(q) = labels.get("quantile") {
                assert_eq!(suffix, "", "{role}: quantile on {name}{suffix}");
                child.1.insert(q.clone());
            }
        }
        for (key, (suffixes, quantiles)) in &children {
            let want_suffixes: BTreeSet<String> = if e.kind == "summary" {
                ["", "_count", "_sum"].map(str::to_owned).into()
            } else {
                [String::new()].into()
            };
            assert_eq!(
                suffixes, &want_suffixes,
                "{role}: samples of {name} {key:?}"
            );
            assert_eq!(
                quantiles, &e.quantiles,
                "{role}: quantiles of {name} {key:?}"
            );
        }
    }
    for name in got.keys() {
        assert!(
            want.contains_key(name) || name.starts_with("jvm_"),
            "{role}: {name} is not a 3.8 family of this role"
        );
    }
    labelled_seen
}

async fn scrape(addr: SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(WAIT, s.read_to_end(&mut raw))
        .await
        .expect("scrape in time")
        .unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("header end");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_owned()
}

async fn call_ok(c: &mut Client, op: OpCode, body: &impl ferrokeeper::jute::Jute, what: &str) {
    let r = c.call(op, body).await;
    assert_eq!(r.err(), ErrorCode::OK, "{what}");
}

/// Creates (one under a quota), reads, a data watch that fires, a session closed.
async fn load(addr: SocketAddr, base: &str) {
    let mut c = connect_when_up(addr).await;
    call_ok(&mut c, OpCode::CREATE, &create(base, b"x", 0), "create").await;
    // a quota on the base path, the nodes zkCli's setquota writes
    let quota = format!("/zookeeper/quota{base}");
    call_ok(&mut c, OpCode::CREATE, &create(&quota, b"", 0), "quota").await;
    for (node, data) in [
        ("zookeeper_limits", "count=10,bytes=-1"),
        ("zookeeper_stats", "count=1,bytes=1"),
    ] {
        let path = format!("{quota}/{node}");
        call_ok(
            &mut c,
            OpCode::CREATE,
            &create(&path, data.as_bytes(), 0),
            &path,
        )
        .await;
    }
    for i in 0..5 {
        let path = format!("{base}/n{i}");
        call_ok(&mut c, OpCode::CREATE, &create(&path, b"data", 0), "child").await;
    }
    let get = GetDataRequest {
        path: format!("{base}/n0"),
        watch: true,
    };
    call_ok(&mut c, OpCode::GET_DATA, &get, "get").await;
    let mut other = connect_when_up(addr).await;
    let set = SetDataRequest {
        path: format!("{base}/n0"),
        data: Some(bytes::Bytes::from_static(b"changed")),
        version: -1,
    };
    call_ok(&mut other, OpCode::SET_DATA, &set, "set").await;
    let event = tokio::time::timeout(WAIT, c.next_event())
        .await
        .expect("watch fires in time");
    assert!(event.is_some(), "watch event");
    assert_eq!(other.close_session().await.err(), ErrorCode::OK);
    assert_eq!(c.close_session().await.err(), ErrorCode::OK);
}

#[tokio::test]
async fn standalone_exports_the_38_families() {
    let server = start_server(&format!(
        "{PROVIDER}\nmetricsProvider.httpHost=127.0.0.1\nmetricsProvider.httpPort=0"
    ))
    .await;
    let metrics = server.metrics_addr.expect("metrics endpoint");
    load(server.client_addr, "/app").await;
    let body = scrape(metrics).await;
    let labelled = check("standalone", &body);
    for name in [
        "quota_count_limit_per_namespace",
        "quota_bytes_limit_per_namespace",
        "quota_count_usage_per_namespace",
        "quota_bytes_usage_per_namespace",
    ] {
        assert!(labelled.contains(name), "{name} has no child:\n{body}");
    }
    // the quota's figures, keyed by its top namespace
    assert!(body.contains("quota_count_limit_per_namespace{key=\"app\"} 10.0\n"));
    assert!(body.contains("quota_bytes_limit_per_namespace{key=\"app\"} -1.0\n"));
    // `updateQuotaForPath` recounts /app when its stats node appears (1 node, 1 byte); then
    // five 4-byte children and "data" set to "changed"
    assert!(
        body.contains("quota_count_usage_per_namespace{key=\"app\"} 6.0\n"),
        "{body}"
    );
    assert!(
        body.contains("quota_bytes_usage_per_namespace{key=\"app\"} 24.0\n"),
        "{body}"
    );
    // the process figures are this process's
    let value = |name: &str| -> f64 {
        body.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name}"))
            .parse()
            .unwrap()
    };
    assert!(value("process_open_fds") >= 3.0);
    assert!(value("process_max_fds") >= value("process_open_fds"));
    assert!(value("process_resident_memory_bytes") > 1e6);
    assert!(value("process_virtual_memory_bytes") >= value("process_resident_memory_bytes"));
    assert!(value("process_cpu_seconds_total") > 0.0);
    assert!(value("open_file_descriptor_count") >= 3.0);
    // what the load was measured as: nine creates, a setData and two closes through the log
    // (each fsynced), one getData
    assert!(value("updatelatency_count") >= 12.0, "{body}");
    assert!(value("readlatency_count") >= 1.0, "{body}");
    assert_eq!(value("connection_request_count"), 2.0, "{body}");
    assert_eq!(value("looking_count"), 0.0, "{body}");
    assert!(value("fsynctime_count") >= 1.0, "{body}");
    assert!(value("sync_processor_batch_size_sum") >= 12.0, "{body}");
    // the data watch the setData fired
    assert_eq!(value("node_changed_watch_count_sum"), 1.0, "{body}");
    // the empty database loaded once at start-up, no txn to replay
    assert_eq!(value("dbinittime_count"), 1.0, "{body}");
    assert_eq!(value("startup_txns_loaded_count"), 1.0, "{body}");
    assert_eq!(value("startup_txns_loaded_sum"), 0.0, "{body}");
    // the snapshot of the empty database taken at start-up
    assert_eq!(value("snapshottime_count"), 1.0, "{body}");
    assert_eq!(value("election_time_count"), 0.0);
    server.shutdown().await;
}

struct Node {
    sid: usize,
    client: SocketAddr,
    server: RunningServer,
}

fn ensemble_configs(n: usize) -> Vec<(usize, PathBuf, SocketAddr)> {
    let root = temp_data_dir();
    let ports: Vec<(u16, u16, u16, u16)> = (0..n)
        .map(|_| (free_port(), free_port(), free_port(), free_port()))
        .collect();
    let lines: String = ports
        .iter()
        .enumerate()
        .map(|(i, (q, e, _, _))| format!("server.{}=127.0.0.1:{q}:{e}\n", i + 1))
        .collect();
    (0..n)
        .map(|i| {
            let dir = root.join(format!("n{}", i + 1));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("myid"), format!("{}\n", i + 1)).unwrap();
            let (client, metrics) = (ports[i].2, ports[i].3);
            let text = format!(
                "tickTime=200\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort={client}\n\
                 clientPortAddress=127.0.0.1\nadmin.enableServer=false\n4lw.commands.whitelist=*\n\
                 {PROVIDER}\nmetricsProvider.httpHost=127.0.0.1\nmetricsProvider.httpPort={metrics}\n{lines}",
                dir.display()
            );
            let cfg = dir.join("zoo.cfg");
            std::fs::write(&cfg, text).unwrap();
            (i + 1, cfg, SocketAddr::from(([127, 0, 0, 1], client)))
        })
        .collect()
}

async fn start(cfg: &Path) -> RunningServer {
    let cfg = ferrokeeper::config::load(cfg).expect("ensemble config");
    ferrokeeper::server::start(cfg).await.expect("node starts")
}

/// Waits (bounded) until every node serves, one leads and two follow; the leader's index.
async fn wait_for_roles(nodes: &[Node]) -> usize {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut modes = Vec::new();
        for n in nodes {
            modes.push((n.sid, mode(n.client).await));
        }
        let followers = modes
            .iter()
            .filter(|(_, m)| m.as_deref() == Some("follower"))
            .count();
        if let Some(leader) = common::realzk::single_leader(&modes) {
            if followers == nodes.len() - 1 {
                return nodes.iter().position(|n| n.sid == leader).unwrap();
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no leader and followers: {modes:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leader_and_follower_export_their_38_families() {
    let mut nodes = Vec::new();
    for (sid, cfg, client) in ensemble_configs(3) {
        nodes.push(Node {
            sid,
            client,
            server: start(&cfg).await,
        });
    }
    let leader = wait_for_roles(&nodes).await;
    let follower = (leader + 1) % nodes.len();
    load(nodes[follower].client, "/app").await;
    load(nodes[leader].client, "/lead").await;

    let leader_body = scrape(nodes[leader].server.metrics_addr.expect("metrics")).await;
    let labelled = check("leader", &leader_body);
    for name in ["learner_handler_qp_size", "learner_handler_qp_time_ms"] {
        assert!(
            labelled.contains(name),
            "{name} has no child:\n{leader_body}"
        );
    }
    assert!(labelled.contains("quota_count_usage_per_namespace"));
    // the follower's handler looked at its queue for every packet the load made it send, and
    // timed the first packet through it
    let sample = |name: &str| {
        let head = format!("{name}{{key=\"{}\"}} ", nodes[follower].sid);
        leader_body
            .lines()
            .find_map(|l| l.strip_prefix(head.as_str()))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no {head}in\n{leader_body}"))
    };
    assert!(sample("learner_handler_qp_size_count") >= 10.0);
    assert!(sample("learner_handler_qp_time_ms_count") >= 1.0);

    let plain = |body: &str, name: &str| -> f64 {
        body.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in\n{body}"))
    };
    // the election that made it leader, and the writes it logged
    assert!(plain(&leader_body, "election_time_count") >= 1.0);
    assert!(plain(&leader_body, "fsynctime_count") >= 1.0);
    // both loads' writes proposed and committed; both followers synced (DIFF or SNAP)
    assert!(plain(&leader_body, "proposal_count") >= 24.0);
    assert!(plain(&leader_body, "commit_count") >= 24.0);
    let synced = plain(&leader_body, "diff_count") + plain(&leader_body, "snap_count");
    assert_eq!(synced, 2.0);
    assert!(plain(&leader_body, "looking_count") >= 1.0);

    let follower_body = scrape(nodes[follower].server.metrics_addr.expect("metrics")).await;
    assert!(plain(&follower_body, "election_time_count") >= 1.0);
    assert_eq!(plain(&follower_body, "follower_sync_time_count"), 1.0);
    assert_eq!(plain(&follower_body, "dbinittime_count"), 1.0);
    assert!(plain(&follower_body, "updatelatency_count") >= 12.0);
    assert!(plain(&follower_body, "learner_proposal_received_count") >= 24.0);
    assert!(plain(&follower_body, "learner_commit_received_count") >= 24.0);
    assert!(plain(&follower_body, "connection_request_count") >= 2.0);
    let labelled = check("follower", &follower_body);
    assert!(labelled.contains("quota_count_limit_per_namespace"));
    assert!(follower_body.contains("quota_count_limit_per_namespace{key=\"app\"} 10.0\n"));

    for n in nodes {
        n.server.shutdown().await;
    }
}
