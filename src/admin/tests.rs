//! Output shapes compared line by line with captures from the real 3.8.0 server
//! (`fixtures/<word>.txt`: standalone, `4lw.commands.whitelist=*`, two kazoo sessions with
//! ephemerals and data/child/exists watches). Numbers are masked where they vary.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::*;
use crate::config::{self, FourLetterWhitelist};

mod ensemble;
pub(crate) use ensemble::{view as ensemble_view, Role};

const REF_VERSION: &str = "3.8.0-${mvngit.commit.id}, built on 2024-12-29 17:54 UTC";
const S0: i64 = 0x100000a48b50000;
const S1: i64 = 0x100000a48b50001;

fn fixture(word: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/admin/fixtures")
        .join(format!("{word}.txt"));
    std::fs::read_to_string(path).unwrap()
}

/// Digit runs and hex after `0x` become `#`.
fn mask(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '0' && chars.peek() == Some(&'x') {
            chars.next();
            out.push_str("0x#");
            while chars.peek().is_some_and(|c| c.is_ascii_hexdigit()) {
                chars.next();
            }
        } else if c.is_ascii_digit() {
            out.push('#');
            while chars.peek().is_some_and(|c| c.is_ascii_digit()) {
                chars.next();
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn assert_shape(ours: &str, word: &str) {
    let reference = fixture(word);
    let (a, b) = (mask(ours), mask(&reference));
    let (la, lb): (Vec<_>, Vec<_>) = (a.split('\n').collect(), b.split('\n').collect());
    for (i, (x, y)) in la.iter().zip(lb.iter()).enumerate() {
        assert_eq!(
            x,
            y,
            "{word}: line {} differs\nours:\n{ours}\nreference:\n{reference}",
            i + 1
        );
    }
    assert_eq!(
        la.len(),
        lb.len(),
        "{word}: line count\nours:\n{ours}\nreference:\n{reference}"
    );
}

fn session(id: i64, lop: &str) -> ConnectionSessionView {
    ConnectionSessionView {
        session_id: id,
        last_op: lop.to_owned(),
        established_ms: 1_795_322_011_947,
        timeout_ms: 10000,
        last_cxid: 9,
        last_zxid: 7,
        last_response_ms: 683_630,
        last_latency: 1,
        min_latency: 0,
        avg_latency: 3,
        max_latency: 11,
    }
}

fn conn(port: u16, sid: Option<i64>) -> ConnectionView {
    ConnectionView {
        remote: format!("127.0.0.1:{port}").parse().unwrap(),
        interest_ops: u32::from(sid.is_some()),
        queued: 0,
        received: if sid.is_some() { 10 } else { 1 },
        sent: if sid.is_some() { 10 } else { 0 },
        session: sid.map(|s| session(s, "GETC")),
        expire_at_ms: Some(1_795_322_028_000),
        secure_port: false,
    }
}

fn view() -> ServerView {
    let cfg = config::parse(
        "tickTime=2000\ndataDir=/tmp/zkr/data\nclientPort=57813\n4lw.commands.whitelist=*\n",
        Path::new("zoo.cfg"),
    )
    .unwrap();
    let stats = Arc::new(ServerStats::new());
    for ms in [0, 1, 11, 2, 0, 1, 2] {
        stats.record_latency(ms, false);
    }
    for _ in 0..16 {
        stats.packet_received();
    }
    stats.record_response_size(93);
    stats.record_response_size(16);
    let mut v = ServerView::idle(Arc::new(cfg), stats);
    v.version = REF_VERSION.to_owned();
    v.last_zxid = 7;
    v.node_count = 9;
    v.connections = vec![
        conn(43250, Some(S0)),
        conn(43264, Some(S1)),
        conn(43282, None),
    ];
    v.data_watches = vec![
        (S0, vec!["/app/cfg".to_owned()]),
        (S1, vec!["/app/cfg".to_owned(), "/nothere".to_owned()]),
    ];
    v.watch_count = 4;
    v.ephemerals = vec![
        (S1, vec!["/app/eph2".to_owned()]),
        (S0, vec!["/app/eph".to_owned()]),
    ];
    v.sessions = [S1, S0]
        .iter()
        .map(|&id| SessionView {
            session_id: id,
            timeout_ms: 10000,
            expire_at_ms: 1_795_322_022_000,
        })
        .collect();
    v.snap_dir = "/tmp/zkr/data/version-2".to_owned();
    v.log_dir = v.snap_dir.clone();
    v.data_dir_size = 67_109_337;
    v.log_dir_size = 67_109_337;
    v.open_file_descriptor_count = Some(45);
    v.max_file_descriptor_count = Some(20000);
    v
}

fn run(word: &str, v: &ServerView) -> String {
    let w = FourLetterWord::from_bytes(word.as_bytes().try_into().unwrap()).unwrap();
    assert_eq!(w.name(), word);
    execute(w, &FourLetterWhitelist::all(), v)
}

#[test]
fn stat_and_srvr_match_reference() {
    let v = view();
    assert_shape(&run("stat", &v), "stat");
    assert_shape(&run("srvr", &v), "srvr");
    assert_eq!(
        run("srvr", &v).lines().nth(1),
        Some("Latency min/avg/max: 0/2.4286/11")
    );
}

#[test]
fn cons_matches_reference() {
    let mut v = view();
    v.connections = vec![
        conn(43300, None),
        conn(43250, Some(S0)),
        conn(43264, Some(S1)),
    ];
    v.connections[2].session.as_mut().unwrap().last_op = "EXIS".to_owned();
    assert_shape(&run("cons", &v), "cons");
}

#[test]
fn conf_dirs_and_simple_words_match_reference() {
    let v = view();
    for word in [
        "conf", "dirs", "ruok", "isro", "gtmk", "srst", "crst", "wchs", "wchc", "wchp", "hash",
    ] {
        assert_shape(&run(word, &v), word);
    }
    assert_eq!(run("conf", &v), fixture("conf"));
}

#[test]
fn dump_matches_reference() {
    let mut v = view();
    v.connections = vec![
        conn(43250, Some(S0)),
        conn(43372, None),
        conn(43264, Some(S1)),
    ];
    let ours = run("dump", &v);
    assert_shape(&ours, "dump");
    assert!(ours.contains("2 expire at Sun Nov 22 04:33:42 UTC 2026:\n"));
}

#[test]
fn mntr_has_every_reference_key_in_order() {
    let v = view();
    let ours = run("mntr", &v);
    // per-namespace summaries (the capture's top-level znode "app") are not produced yet
    let reference: String = fixture("mntr")
        .lines()
        .filter(|l| !l.contains("_per_namespace"))
        .map(|l| format!("{l}\n"))
        .collect();
    let (a, b) = (mask(&ours), mask(&reference));
    assert_eq!(a.lines().collect::<Vec<_>>(), b.lines().collect::<Vec<_>>());
    assert!(ours.contains("zk_avg_latency\t2.4286\n"));
    assert!(ours.contains("zk_znode_count\t9\n"));
    assert!(ours.contains("zk_ephemerals_count\t2\n"));
    assert!(ours.contains("zk_num_alive_connections\t3\n"));
}

#[test]
fn envi_keeps_the_shape_kazoo_parses() {
    let mut v = view();
    v.version = version_string();
    v.environment = vec![("host.name".to_owned(), "localhost".to_owned())];
    let ours = run("envi", &v);
    let reference = fixture("envi");
    assert_eq!(ours.lines().next(), reference.lines().next());
    let version = ours
        .lines()
        .nth(1)
        .unwrap()
        .strip_prefix("zookeeper.version=")
        .unwrap();
    // kazoo: ENVI_VERSION = re.compile(r'([\d\.]*).*') on this value.
    let digits: String = version
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    assert_eq!(digits, "3.8.0");
    assert!(version.contains(", built on "));
}

#[test]
fn whitelist_refusal_text() {
    let v = view();
    let w = FourLetterWhitelist::default();
    assert_eq!(
        execute(FourLetterWord::Ruok, &w, &v),
        "ruok is not executed because it is not in the whitelist.\n"
    );
    assert!(execute(FourLetterWord::Srvr, &w, &v).starts_with("Zookeeper version: "));
}

#[test]
fn srst_and_crst_reset() {
    let mut v = view();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    v.reset_connection_stats = Some(Arc::new(move || {
        c.fetch_add(1, Ordering::Relaxed);
    }));
    run("srst", &v);
    assert_eq!(v.stats.snapshot().packets_received, 0);
    assert!(run("srvr", &v).contains("Latency min/avg/max: 0/0.0/0\n"));
    run("crst", &v);
    assert_eq!(calls.load(Ordering::Relaxed), 1);
}

#[test]
fn not_serving() {
    let mut v = view();
    v.serving = false;
    assert_eq!(
        run("srvr", &v),
        "This ZooKeeper instance is not currently serving requests\n"
    );
    assert_eq!(run("isro", &v), "null");
    assert_eq!(run("ruok", &v), "imok");
}

#[test]
fn unknown_words() {
    assert_eq!(FourLetterWord::from_bytes(b"RUOK"), None);
    assert_eq!(FourLetterWord::from_bytes(b"\0\0\0\x10"), None);
    assert_eq!(
        FourLetterWord::from_bytes(b"mntr"),
        Some(FourLetterWord::Mntr)
    );
}
