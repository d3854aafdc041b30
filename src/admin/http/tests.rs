//! Command answers against captures from the real 3.8.0 server (`fixtures/http/`), taken
//! with one kazoo session that created `/p` and the ephemeral `/p/e`, and watched `/w` (exists)
//! and `/p` (data and children).

use std::collections::BTreeMap;
use std::sync::atomic::AtomicI64;
use std::sync::Arc;

use serde_json::Value;

use super::commands::{self, Ctx};
use super::{command_links, percent_decode, query_params};
use crate::admin::stats::ServerStats;
use crate::admin::view::{ConnectionSessionView, ConnectionView, ServerView, SessionView};

const SID: i64 = 72_057_700_902_699_008;

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/src/admin/fixtures/http/{name}.txt",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The captured server's state, as a view.
fn view() -> ServerView {
    let text = "tickTime=2000\ndataDir=/tmp/zkadm/data\nclientPort=21881\nadmin.serverPort=28081\n";
    let cfg = crate::config::parse(text, "zoo.cfg".as_ref()).unwrap_or_else(|e| panic!("{e}"));
    let stats = Arc::new(ServerStats::new());
    stats.record_response_size(25);
    let mut v = ServerView::idle(Arc::new(cfg), stats);
    v.node_count = 7;
    v.last_zxid = 3;
    v.snap_dir = "/tmp/zkadm/data/version-2".to_owned();
    v.log_dir = v.snap_dir.clone();
    v.connections = vec![ConnectionView {
        remote: "127.0.0.1:39412".parse().unwrap_or_else(|_| unreachable!()),
        interest_ops: 1,
        queued: 0,
        received: 6,
        sent: 6,
        session: Some(ConnectionSessionView {
            session_id: SID,
            last_op: "GETC".to_owned(),
            established_ms: 1_795_322_988_558,
            timeout_ms: 10_000,
            last_cxid: 5,
            last_zxid: 3,
            last_response_ms: 1_660_263,
            last_latency: 3,
            min_latency: 0,
            avg_latency: 7,
            max_latency: 26,
        }),
        expire_at_ms: Some(1_672_000),
        secure_port: false,
    }];
    v.sessions = vec![SessionView {
        session_id: SID,
        timeout_ms: 10_000,
        expire_at_ms: 1_672_000,
    }];
    v.ephemerals = vec![(SID, vec!["/p/e".to_owned()])];
    v.data_watches = vec![(SID, vec!["/p".to_owned(), "/w".to_owned()])];
    v
}

fn answer(name: &str, query: &str, view: &ServerView) -> String {
    let kwargs = query_params(query);
    let mask = AtomicI64::new(306);
    let ctx = Ctx {
        view,
        kwargs: &kwargs,
        trace_mask: &mask,
    };
    commands::run(name, &ctx).to_json().to_pretty()
}

/// Top-level keys in order, from Jackson-style pretty text.
fn top_keys(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("  \""))
        .filter_map(|l| l.split_once("\" :").map(|(k, _)| k.to_owned()))
        .collect()
}

/// Keys and value types; maps keyed by data (ids, times, paths) collapse to one `*` entry.
fn shape(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let data_keyed = !m.is_empty()
                && m.keys()
                    .all(|k| k.starts_with('/') || k.bytes().all(|b| b.is_ascii_digit()));
            let mut out = serde_json::Map::new();
            for (k, x) in m {
                let key = if data_keyed {
                    "*".to_owned()
                } else {
                    k.clone()
                };
                out.insert(key, shape(x));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.first().map(shape).into_iter().collect()),
        Value::Number(n) if n.is_f64() => Value::from("float"),
        Value::Number(_) => Value::from("int"),
        other => Value::from(format!("{:?}", std::mem::discriminant(other))),
    }
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn same_keys_and_shapes_as_the_reference() {
    let v = view();
    // `hash` differs on purpose: the reference logs a digest every 128 txns, we report the
    // current one, as the `hash` word does.
    for name in [
        "srvr",
        "stat",
        "conf",
        "cons",
        "crst",
        "dump",
        "wchs",
        "wchc",
        "wchp",
        "dirs",
        "isro",
        "srst",
        "gtmk",
        "icfg",
        "lsnp",
        "voting_view",
        "zabstate",
        "leader",
        "observers",
        "orst",
        "ruok",
        "nosuch",
    ] {
        let ours = answer(name, "", &v);
        let theirs = fixture(name);
        assert_eq!(top_keys(&ours), top_keys(&theirs), "{name}");
        assert_eq!(shape(&parse(&ours)), shape(&parse(&theirs)), "{name}");
    }
}

#[test]
fn mntr_keys_match_apart_from_namespaces() {
    // the capture's per-namespace summaries are for its namespace `p`
    let strip = |keys: Vec<String>| -> Vec<String> {
        keys.into_iter()
            .filter(|k| !k.ends_with("_per_namespace"))
            .collect()
    };
    let ours = strip(top_keys(&answer("monitor", "", &view())));
    assert_eq!(ours, strip(top_keys(&fixture("mntr"))));
}

#[test]
fn exact_answers() {
    let v = view();
    for (name, query, fixture_name) in [
        ("ruok", "", "ruok"),
        ("crst", "", "crst"),
        ("orst", "", "orst"),
        ("leader", "", "leader"),
        ("zabstate", "", "zabstate"),
        ("voting_view", "", "voting_view"),
        ("obsr", "", "observers"),
        ("nosuch", "", "nosuch"),
        ("isro", "", "isro"),
        ("gtmk", "", "gtmk"),
        ("stmk", "", "stmk"),
        ("stmk", "traceMask=42", "stmk_42"),
        ("set_trace_mask", "traceMask=abc", "stmk_abc"),
        ("wchs", "", "wchs"),
        ("wchc", "", "wchc"),
        ("wchp", "", "wchp"),
        ("dump", "", "dump"),
        ("cons", "", "cons"),
        ("conf", "", "conf"),
    ] {
        assert_eq!(
            answer(name, query, &v),
            fixture(fixture_name),
            "{name}?{query}"
        );
    }
}

#[test]
fn aliases_report_the_primary_name() {
    let v = view();
    for (alias, primary) in [
        ("config", "configuration"),
        ("env", "environment"),
        ("envi", "environment"),
        ("mntr", "monitor"),
        ("lead", "leader"),
        ("stat", "stats"),
    ] {
        let j = parse(&answer(alias, "", &v));
        assert_eq!(j["command"], primary, "{alias}");
    }
}

/// As 3.8's `watch2Paths`, a connection whose data watches all fired or were removed stays:
/// counted by `watch_summary`, an empty list in `watches`, absent from `watches_by_path`.
#[test]
fn a_connection_without_watches_left_still_counts() {
    let mut v = view();
    v.data_watches.push((SID + 1, Vec::new()));
    let j = parse(&answer("watch_summary", "", &v));
    assert_eq!(
        (
            &j["num_connections"],
            &j["num_paths"],
            &j["num_total_watches"]
        ),
        (&Value::from(2), &Value::from(2), &Value::from(2))
    );
    let j = parse(&answer("watches", "", &v));
    let by_session = &j["session_id_to_watched_paths"];
    assert_eq!(by_session[(SID + 1).to_string()], Value::Array(Vec::new()));
    assert_eq!(by_session[SID.to_string()], serde_json::json!(["/p", "/w"]));
    let j = parse(&answer("watches_by_path", "", &v));
    assert_eq!(j["path_to_session_ids"]["/p"], serde_json::json!([SID]));
}

#[test]
fn not_serving() {
    let mut v = view();
    v.serving = false;
    let j = parse(&answer("stat", "", &v));
    assert_eq!(j["command"], "stat");
    assert_eq!(
        j["error"],
        "This ZooKeeper instance is not currently serving requests"
    );
    // commands that need no server still answer
    assert!(parse(&answer("gtmk", "", &v))["error"].is_null());
}

#[test]
fn listing_and_query_parsing() {
    assert_eq!(command_links("/commands"), fixture("commands_list"));
    let q = query_params("traceMask=4%32&traceMask=7&a+b=c+d&flag");
    let expected: BTreeMap<String, String> = [("traceMask", "42"), ("a b", "c d"), ("flag", "")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    assert_eq!(q, expected);
    assert_eq!(
        percent_decode("/commands/%72uok%zz", false),
        "/commands/ruok%zz"
    );
}

/// Ensemble answers (`fixtures/http/ensemble/<role>_<command>.txt`, the ensemble of
/// `admin::tests::ensemble`).
mod ensemble {
    use super::{answer, fixture, parse, shape, top_keys};
    use crate::admin::tests::{ensemble_view, Role};

    const ROLES: [Role; 3] = [Role::Leader, Role::Follower, Role::Observer];

    fn capture(role: Role, command: &str) -> String {
        fixture(&format!("ensemble/{}_{command}", role.name()))
    }

    #[test]
    fn exact_answers() {
        for role in ROLES {
            let v = ensemble_view(role);
            for name in ["leader", "voting_view", "zabstate"] {
                assert_eq!(answer(name, "", &v), capture(role, name), "{role:?} {name}");
            }
        }
        for role in ROLES {
            let v = ensemble_view(role);
            assert_eq!(
                answer("obsr", "", &v),
                capture(role, "observers"),
                "{role:?}"
            );
        }
    }

    #[test]
    fn same_keys_and_shapes() {
        for role in ROLES {
            let v = ensemble_view(role);
            for name in ["srvr", "observers"] {
                let (ours, theirs) = (answer(name, "", &v), capture(role, name));
                assert_eq!(top_keys(&ours), top_keys(&theirs), "{role:?} {name}");
                if name == "srvr" {
                    assert_eq!(shape(&parse(&ours)), shape(&parse(&theirs)), "{role:?}");
                }
            }
            let strip = |keys: Vec<String>| -> Vec<String> {
                keys.into_iter()
                    .filter(|k| !k.ends_with("_per_namespace"))
                    .collect()
            };
            let ours = answer("mntr", "", &v);
            assert_eq!(
                strip(top_keys(&ours)),
                strip(top_keys(&capture(role, "mntr"))),
                "{role:?}"
            );
            assert_eq!(
                parse(&ours)["peer_state"],
                parse(&capture(role, "mntr"))["peer_state"]
            );
        }
        let leader = parse(&answer("observers", "", &ensemble_view(Role::Leader)));
        assert_eq!(leader["synced_observers"], 1);
    }
}
