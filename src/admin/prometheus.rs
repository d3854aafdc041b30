//! `/metrics` in the Prometheus text format (0.0.4), replacing
//! `metrics/prometheus/PrometheusMetricsProvider` and its simpleclient 0.9 servlet.
//!
//! Enabled by `metricsProvider.className=...PrometheusMetricsProvider`; served on
//! `metricsProvider.httpHost` (default 0.0.0.0) : `metricsProvider.httpPort` (default 7000).
//! The families are the reference's, listed per role in
//! `fixtures/prometheus_families_3.8.txt`: every `mntr` metric without its `zk_` prefix —
//! gauges as `gauge`, `ServerMetrics` counters as `counter` (no `_total` suffix: simpleclient
//! 0.9 predates it), summaries as `summary` with `quantile` 0.5 (BASIC) or 0.5/0.9/0.99
//! (ADVANCED) then `_count` and `_sum` — plus the labelled sets (label `key`): the
//! `*_per_namespace` summaries and counter, `ack_latency`, the leader's
//! `learner_handler_qp_*` keyed by sid, and the `quota_*_per_namespace` gauges. Help text is
//! the name; values print as Java's `Double#toString`. Values are read from a fresh
//! [`ServerView`] at scrape time, via the same `mntr` rendering, so the two never disagree.
//!
//! In an ensemble the gauges follow the role, as the reference registers them: `quorum_size`
//! on every member, the leader's learner and proposal-size gauges on the leader,
//! `synced_observers` on leader and follower (0 on a follower: it has no observer master);
//! `peer_state` and `observer_master_id` are `mntr`-only values, not provider metrics.
//!
//! A labelled family without children is its header alone, as in simpleclient; a summary
//! reports NaN quantiles until it has observations. `exportJvmInfo` (default true) adds the
//! `process_*` families of simpleclient_hotspot's `StandardExports` read from `/proc/self`;
//! the `jvm_*` families have no native counterpart and are never present.
//! `numWorkerThreads`, `maxQueueSize` and `workerShutdownTimeoutMs` tune Java's reporting
//! executor and are ignored.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::sync::Arc;

use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Response, StatusCode};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::http::{self, HttpEndpointError, HttpResponse, Req, ViewRequest, ViewSource};
use super::javafmt::java_double;
use super::mntr::{learner_keys, mntr};
use super::mntr_names::{gauges, COUNTERS, SUMMARIES};
use super::stats::ServerStats;
use super::view::ServerView;
use crate::config::ServerConfig;

/// `TextFormat.CONTENT_TYPE_004`.
const CONTENT_TYPE_004: &str = "text/plain; version=0.0.4; charset=utf-8";

/// True when zoo.cfg selects the Prometheus provider.
pub fn enabled(cfg: &ServerConfig) -> bool {
    cfg.metrics_provider_class_name
        .ends_with("PrometheusMetricsProvider")
}

/// The bound but not yet serving `/metrics` endpoint.
pub struct MetricsServer {
    listener: TcpListener,
    export_process_info: bool,
}

impl MetricsServer {
    /// Binds `httpHost:httpPort` when the provider is enabled.
    pub async fn bind(cfg: &ServerConfig) -> Result<Option<MetricsServer>, HttpEndpointError> {
        if !enabled(cfg) {
            return Ok(None);
        }
        let what = "PrometheusMetricsProvider";
        let conf = &cfg.metrics_provider_config;
        let host = conf.get("httpHost").map_or("0.0.0.0", String::as_str);
        let port_text = conf.get("httpPort").map_or("7000", String::as_str);
        // `Integer#parseInt` then `InetSocketAddress`: out-of-range ports fail start-up.
        let port = port_text
            .parse::<u16>()
            .map_err(|_| HttpEndpointError::Port {
                what,
                port: port_text.to_owned(),
            })?;
        let export_process_info = conf
            .get("exportJvmInfo")
            .map_or(true, |v| v.eq_ignore_ascii_case("true"));
        let listener = http::bind(what, host, port).await?;
        Ok(Some(MetricsServer {
            listener,
            export_process_info,
        }))
    }

    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves `/metrics` until `shutdown`.
    pub fn spawn(
        self,
        config: Arc<ServerConfig>,
        stats: Arc<ServerStats>,
        source: ViewSource,
        shutdown: CancellationToken,
    ) -> JoinHandle<()> {
        if let Ok(addr) = self.listener.local_addr() {
            tracing::info!("Starting /metrics HTTP endpoint at {addr}");
        }
        let process = self.export_process_info;
        let handler = move |req: Req| {
            let (config, stats, source) = (config.clone(), stats.clone(), source.clone());
            async move {
                if req.path != "/metrics" {
                    return http::error_page(StatusCode::NOT_FOUND, &req.path, "Not Found");
                }
                if req.method != Method::GET && req.method != Method::HEAD {
                    let msg = format!("HTTP method {} is not supported by this URL", req.method);
                    return http::error_page(StatusCode::METHOD_NOT_ALLOWED, &req.path, &msg);
                }
                let view = source(ViewRequest::Plain)
                    .await
                    .unwrap_or_else(|| ServerView::idle(config, stats));
                scrape_response(&view, process)
            }
        };
        let idle = std::time::Duration::from_secs(30);
        tokio::spawn(http::serve(self.listener, idle, shutdown, handler))
    }
}

fn scrape_response(view: &ServerView, process: bool) -> HttpResponse {
    let body = render(view, process);
    let mut r = Response::new(http::full_body(body));
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE_004));
    r
}

/// The exposition text for one view.
pub fn render(view: &ServerView, export_process_info: bool) -> String {
    let mut families = families(view);
    if export_process_info {
        families.extend(process_families(view));
    }
    let mut out = String::new();
    for f in &families {
        f.write(&mut out);
    }
    out
}

/// simpleclient's metric types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Gauge,
    Counter,
    Summary,
}

/// One family: its `# HELP` / `# TYPE` header and its samples, written as simpleclient 0.9's
/// `TextFormat#write004` writes them (a labelled family with no children yet is the header
/// alone).
struct Family {
    name: String,
    help: String,
    kind: Kind,
    samples: Vec<Sample>,
}

struct Sample {
    suffix: &'static str,
    labels: Vec<(&'static str, String)>,
    value: f64,
}

impl Family {
    fn new(name: &str, kind: Kind) -> Family {
        // ZooKeeper builds every metric with its name as help text
        Family {
            name: name.to_owned(),
            help: name.to_owned(),
            kind,
            samples: Vec::new(),
        }
    }

    fn sample(
        mut self,
        suffix: &'static str,
        labels: Vec<(&'static str, String)>,
        value: f64,
    ) -> Self {
        self.samples.push(Sample {
            suffix,
            labels,
            value,
        });
        self
    }

    fn write(&self, out: &mut String) {
        let kind = match self.kind {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
            Kind::Summary => "summary",
        };
        let help = self.help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(out, "# HELP {} {help}", self.name);
        let _ = writeln!(out, "# TYPE {} {kind}", self.name);
        for s in &self.samples {
            out.push_str(&self.name);
            out.push_str(s.suffix);
            if !s.labels.is_empty() {
                out.push('{');
                for (i, (k, v)) in s.labels.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let v = v
                        .replace('\\', "\\\\")
                        .replace('\"', "\\\"")
                        .replace('\n', "\\n");
                    let _ = write!(out, "{k}=\"{v}\"");
                }
                out.push('}');
            }
            let _ = writeln!(out, " {}", go_double(s.value));
        }
    }
}

/// `Collector#doubleToGoString`: Java's `Double#toString` but Go's infinities.
fn go_double(x: f64) -> String {
    if x == f64::INFINITY {
        "+Inf".to_owned()
    } else if x == f64::NEG_INFINITY {
        "-Inf".to_owned()
    } else {
        java_double(x)
    }
}

/// The `key` label of every ZooKeeper set (`PrometheusMetricsProvider.LABEL`).
const KEY: &str = "key";

fn gauge(name: &str, value: f64) -> Family {
    Family::new(name, Kind::Gauge).sample("", Vec::new(), value)
}

fn counter(name: &str, value: f64) -> Family {
    Family::new(name, Kind::Counter).sample("", Vec::new(), value)
}

fn gauge_set(name: &str, values: &BTreeMap<String, i64>) -> Family {
    values
        .iter()
        .fold(Family::new(name, Kind::Gauge), |f, (k, v)| {
            f.sample("", vec![(KEY, k.clone())], *v as f64)
        })
}

/// A summary's quantiles: 0.5 for `DetailLevel.BASIC`, 0.5/0.9/0.99 for `ADVANCED`.
fn quantiles(advanced: bool) -> &'static [(f64, &'static str)] {
    if advanced {
        &[(0.5, "p50"), (0.9, "p95"), (0.99, "p99")]
    } else {
        &[(0.5, "avg")]
    }
}

/// One child of a summary (the only one of an unlabelled summary) from its `mntr` lines
/// `<stat>_<mntr_name>`; quantiles NaN while empty (simpleclient's CKMS).
fn summary_child(
    f: Family,
    mntr_name: &str,
    key: Option<&str>,
    advanced: bool,
    value: &impl Fn(&str) -> f64,
) -> Family {
    let labels = || -> Vec<(&'static str, String)> {
        key.map(|k| vec![(KEY, k.to_owned())]).unwrap_or_default()
    };
    let count = value(&format!("cnt_{mntr_name}"));
    let f = quantiles(advanced).iter().fold(f, |f, (q, source)| {
        let mut l = labels();
        l.push(("quantile", java_double(*q)));
        let v = if count > 0.0 {
            value(&format!("{source}_{mntr_name}"))
        } else {
            f64::NAN
        };
        f.sample("", l, v)
    });
    f.sample("_count", labels(), count.max(0.0)).sample(
        "_sum",
        labels(),
        value(&format!("sum_{mntr_name}")),
    )
}

/// `ServerMetrics`' summary sets: `(name, advanced)`.
const SUMMARY_SETS: [(&str, bool); 5] = [
    ("write_per_namespace", false),
    ("read_per_namespace", false),
    ("learner_handler_qp_size", false),
    ("learner_handler_qp_time_ms", true),
    ("ack_latency", true),
];

/// `ServerMetrics`' counter set, keyed by namespace.
const COUNTER_SETS: [&str; 1] = ["quota_exceeded_error_per_namespace"];

/// Every ZooKeeper family for the view's role.
fn families(view: &ServerView) -> Vec<Family> {
    let text = mntr(view);
    let values: HashMap<&str, f64> = text
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .filter_map(|(k, v)| Some((k.strip_prefix("zk_")?, v.parse::<f64>().ok()?)))
        .collect();
    let value = |name: &str| values.get(name).copied().unwrap_or(0.0);
    let mut out = Vec::new();
    out.extend(gauges(view).iter().map(|n| gauge(n, value(n))));
    // `FollowerZooKeeperServer` registers it too; with no observer master its value is null,
    // which `mntr` skips and the provider samples as 0
    if view.mode == "follower" {
        out.push(gauge("synced_observers", 0.0));
    }
    out.extend(COUNTERS.iter().map(|n| counter(n, value(n))));
    // keyed counters appear once a namespace has refused a write for its quota
    out.extend(COUNTER_SETS.iter().map(|n| Family::new(n, Kind::Counter)));
    out.extend(SUMMARIES.iter().map(|(n, advanced)| {
        summary_child(Family::new(n, Kind::Summary), n, None, *advanced, &value)
    }));
    // the leader's learner handlers are keyed by sid, as `mntr` prints them
    let learner_keys = view
        .quorum
        .as_ref()
        .and_then(|q| q.leader.as_ref())
        .map(|l| {
            learner_keys(l)
                .into_iter()
                .map(|(sid, _)| sid.to_string())
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    for (set, advanced) in SUMMARY_SETS {
        let keys: &[String] = if set.starts_with("learner_handler_qp") {
            &learner_keys
        } else {
            &[]
        };
        out.push(keys.iter().fold(Family::new(set, Kind::Summary), |f, k| {
            summary_child(f, &format!("{k}_{set}"), Some(k), advanced, &value)
        }));
    }
    let q = &view.namespace_quotas;
    out.push(gauge_set("quota_count_limit_per_namespace", &q.count_limit));
    out.push(gauge_set("quota_bytes_limit_per_namespace", &q.bytes_limit));
    out.push(gauge_set("quota_count_usage_per_namespace", &q.count_usage));
    out.push(gauge_set("quota_bytes_usage_per_namespace", &q.bytes_usage));
    out
}

/// simpleclient_hotspot's `StandardExports`, with their help texts; the `jvm_*` exports have
/// no native counterpart.
fn process_families(view: &ServerView) -> Vec<Family> {
    let with_help = |mut f: Family, help: &str| {
        f.help = help.to_owned();
        f
    };
    let p = &view.process;
    let mut out = Vec::new();
    if let Some(s) = p.cpu_seconds {
        out.push(with_help(
            counter("process_cpu_seconds_total", s),
            "Total user and system CPU time spent in seconds.",
        ));
    }
    if view.now_ms > 0 {
        let start_s = (view.now_ms as f64 - view.uptime_ms as f64) / 1000.0;
        out.push(with_help(
            gauge("process_start_time_seconds", start_s),
            "Start time of the process since unix epoch in seconds.",
        ));
    }
    let gauges = [
        (
            p.open_fds,
            "process_open_fds",
            "Number of open file descriptors.",
        ),
        (
            p.max_fds,
            "process_max_fds",
            "Maximum number of open file descriptors.",
        ),
        (
            p.virtual_memory_bytes,
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes.",
        ),
        (
            p.resident_memory_bytes,
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
        ),
    ];
    for (v, name, help) in gauges {
        if let Some(v) = v {
            out.push(with_help(gauge(name, v as f64), help));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> ServerView {
        let cfg = crate::config::parse("dataDir=/tmp/x\nclientPort=2181\n", "zoo.cfg".as_ref())
            .unwrap_or_else(|e| panic!("{e}"));
        let mut v = ServerView::idle(Arc::new(cfg), Arc::new(ServerStats::new()));
        v.node_count = 7;
        v.now_ms = 10_000;
        v.uptime_ms = 4_000;
        v.process.open_fds = Some(49);
        v.process.cpu_seconds = Some(1.25);
        v.process.resident_memory_bytes = Some(20_000_000);
        v.namespace_quotas.count_limit.insert("app".to_owned(), 10);
        v
    }

    #[test]
    fn reference_names_and_types() {
        let text = render(&view(), true);
        for expected in [
            "# HELP znode_count znode_count\n# TYPE znode_count gauge\nznode_count 7.0\n",
            "# TYPE proposal_count counter\nproposal_count 0.0\n",
            "# TYPE readlatency summary\nreadlatency{quantile=\"0.5\"} NaN\nreadlatency{quantile=\"0.9\"} NaN\nreadlatency{quantile=\"0.99\"} NaN\nreadlatency_count 0.0\nreadlatency_sum 0.0\n",
            "# TYPE fsynctime summary\nfsynctime{quantile=\"0.5\"} NaN\nfsynctime_count 0.0\nfsynctime_sum 0.0\n",
            // labelled families before their first child: the header alone
            "# HELP write_per_namespace write_per_namespace\n# TYPE write_per_namespace summary\n# HELP",
            "# TYPE quota_exceeded_error_per_namespace counter\n# HELP",
            "# TYPE quota_count_limit_per_namespace gauge\nquota_count_limit_per_namespace{key=\"app\"} 10.0\n",
            "# TYPE quota_bytes_usage_per_namespace gauge\n",
            "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 1.25\n",
            "process_start_time_seconds 6.0\n",
            "process_open_fds 49.0\n",
            "process_resident_memory_bytes 2.0E7\n",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
        assert!(!text.lines().any(|l| l.starts_with("zk_")));
        assert!(!text.contains("synced_observers"));
        assert!(!render(&view(), false).contains("process_open_fds"));
    }

    #[test]
    fn ensemble_gauges() {
        use crate::admin::tests::{ensemble_view, Role};
        let leader = render(&ensemble_view(Role::Leader), false);
        for expected in [
            "# TYPE synced_followers gauge\nsynced_followers 2.0\n",
            "# TYPE learners gauge\nlearners 3.0\n",
            "# TYPE leader_uptime gauge\nleader_uptime 16136.0\n",
            "# TYPE min_proposal_size gauge\nmin_proposal_size -1.0\n",
            "# TYPE quorum_size gauge\nquorum_size 3.0\n",
            "learner_handler_qp_size{key=\"4\",quantile=\"0.5\"} NaN\nlearner_handler_qp_size_count{key=\"4\"} 0.0\n",
            "learner_handler_qp_time_ms{key=\"4\",quantile=\"0.99\"} NaN\n",
        ] {
            assert!(
                leader.contains(expected),
                "missing {expected:?} in\n{leader}"
            );
        }
        // `dumpMonitorValues` strings are not provider gauges
        assert!(!leader.contains("peer_state"));
        let follower = render(&ensemble_view(Role::Follower), false);
        assert!(follower.contains("quorum_size 3.0\n") && !follower.contains("learners"));
        assert!(follower.contains("# TYPE synced_observers gauge\nsynced_observers 0.0\n"));
        assert!(!follower.contains("learner_handler_qp_size{"));
        assert!(!render(&view(), false).contains("quorum_size"));
    }

    #[test]
    fn label_values_escaped() {
        let mut f = Family::new("x", Kind::Gauge);
        f = f.sample("", vec![(KEY, "a\"b\\c\nd".to_owned())], f64::INFINITY);
        let mut out = String::new();
        f.write(&mut out);
        assert_eq!(
            out,
            "# HELP x x\n# TYPE x gauge\nx{key=\"a\\\"b\\\\c\\nd\"} +Inf\n"
        );
    }
}
