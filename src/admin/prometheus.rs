//! `/metrics` in the Prometheus text format (0.0.4), replacing
//! `metrics/prometheus/PrometheusMetricsProvider` and its simpleclient 0.9 servlet.
//!
//! Enabled by `metricsProvider.className=...PrometheusMetricsProvider`; served on
//! `metricsProvider.httpHost` (default 0.0.0.0) : `metricsProvider.httpPort` (default 7000).
//! The families and names are the reference's: every `mntr` metric without its `zk_` prefix
//! — gauges as `gauge`, `ServerMetrics` counters as `counter` (no `_total` suffix: simpleclient
//! 0.9 predates it), summaries as `summary` with `quantile` 0.5 (BASIC) or 0.5/0.9/0.99
//! (ADVANCED) plus `_sum` and `_count`, each with its own name as help text. Values are read
//! from a fresh [`ServerView`] at scrape time, via the same `mntr` rendering, so the two never
//! disagree.
//!
//! In an ensemble the gauges follow the role, as the reference registers them: `quorum_size`
//! on every member, the leader's learner and proposal-size gauges on the leader;
//! `peer_state` and `observer_master_id` are `mntr`-only values, not provider metrics.
//!
//! Differences: the labelled families (among them the leader's
//! `<sid>_learner_handler_qp_*` sets, `*_per_namespace` summary sets, gauge and counter sets
//! keyed by `key`) are not exported; a summary reports NaN quantiles until it has observations,
//! as simpleclient does. `exportJvmInfo` has no JVM to describe: when true (the default) only
//! the `process_*` metrics we can know natively are exported (`process_open_fds`,
//! `process_max_fds`, `process_start_time_seconds`); the `jvm_*` families are never present.
//! `numWorkerThreads`, `maxQueueSize` and `workerShutdownTimeoutMs` tune Java's reporting
//! executor and are ignored.

use std::sync::Arc;

use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Response, StatusCode};
use prometheus::proto::{
    Counter, Gauge, Metric, MetricFamily, MetricType, Quantile, Summary as PromSummary,
};
use prometheus::{Encoder, TextEncoder};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::http::{self, HttpEndpointError, HttpResponse, Req, ViewRequest, ViewSource};
use super::mntr::mntr;
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
    let mut buf = Vec::new();
    if let Err(e) = TextEncoder::new().encode(&families, &mut buf) {
        tracing::warn!("cannot encode metrics: {e}");
    }
    String::from_utf8_lossy(&buf).into_owned()
}

fn family(name: &str, kind: MetricType, metric: Metric) -> MetricFamily {
    let mut f = MetricFamily::default();
    f.set_name(name.to_owned());
    // simpleclient builds every ZooKeeper metric with its name as help
    f.set_help(name.to_owned());
    f.set_field_type(kind);
    f.set_metric(vec![metric]);
    f
}

fn gauge(name: &str, value: f64) -> MetricFamily {
    let mut g = Gauge::default();
    g.set_value(value);
    let mut m = Metric::default();
    m.set_gauge(g);
    family(name, MetricType::GAUGE, m)
}

fn counter(name: &str, value: f64) -> MetricFamily {
    let mut c = Counter::default();
    c.set_value(value);
    let mut m = Metric::default();
    m.set_counter(c);
    family(name, MetricType::COUNTER, m)
}

/// A summary from its `mntr` lines; quantiles NaN while empty (simpleclient's CKMS).
fn summary(name: &str, advanced: bool, value: impl Fn(&str) -> f64) -> MetricFamily {
    let count = value(&format!("cnt_{name}"));
    let mut s = PromSummary::default();
    s.set_sample_count(count.max(0.0) as u64);
    s.set_sample_sum(value(&format!("sum_{name}")));
    let quantiles: &[(f64, &str)] = if advanced {
        &[(0.5, "p50"), (0.9, "p95"), (0.99, "p99")]
    } else {
        &[(0.5, "avg")]
    };
    let qs = quantiles
        .iter()
        .map(|(q, source)| {
            let mut quantile = Quantile::default();
            quantile.set_quantile(*q);
            quantile.set_value(if count > 0.0 {
                value(&format!("{source}_{name}"))
            } else {
                f64::NAN
            });
            quantile
        })
        .collect();
    s.set_quantile(qs);
    let mut m = Metric::default();
    m.set_summary(s);
    family(name, MetricType::SUMMARY, m)
}

/// Every ZooKeeper family, in `mntr` order.
fn families(view: &ServerView) -> Vec<MetricFamily> {
    let text = mntr(view);
    let values: std::collections::HashMap<&str, f64> = text
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .filter_map(|(k, v)| Some((k.strip_prefix("zk_")?, v.parse::<f64>().ok()?)))
        .collect();
    let value = |name: &str| values.get(name).copied().unwrap_or(0.0);
    let mut out = Vec::new();
    out.extend(gauges(view).iter().map(|n| gauge(n, value(n))));
    out.extend(COUNTERS.iter().map(|n| counter(n, value(n))));
    out.extend(
        SUMMARIES
            .iter()
            .filter(|(n, _)| !n.ends_with("_per_namespace"))
            .map(|(n, advanced)| summary(n, *advanced, value)),
    );
    out
}

/// simpleclient_hotspot's `StandardExports` that a native process can report.
fn process_families(view: &ServerView) -> Vec<MetricFamily> {
    let mut out = Vec::new();
    let start_s = (view.now_ms as f64 - view.uptime_ms as f64) / 1000.0;
    if view.now_ms > 0 {
        out.push(gauge("process_start_time_seconds", start_s));
    }
    if let Some(n) = view.open_file_descriptor_count {
        out.push(gauge("process_open_fds", n as f64));
    }
    if let Some(n) = view.max_file_descriptor_count {
        out.push(gauge("process_max_fds", n as f64));
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
        v.open_file_descriptor_count = Some(49);
        v
    }

    #[test]
    fn reference_names_and_types() {
        let text = render(&view(), true);
        for expected in [
            "# HELP znode_count znode_count\n# TYPE znode_count gauge\nznode_count 7\n",
            "# TYPE proposal_count counter\nproposal_count 0\n",
            "# TYPE readlatency summary\nreadlatency{quantile=\"0.5\"} NaN\nreadlatency{quantile=\"0.9\"} NaN\nreadlatency{quantile=\"0.99\"} NaN\nreadlatency_sum 0\nreadlatency_count 0\n",
            "# TYPE fsynctime summary\nfsynctime{quantile=\"0.5\"} NaN\nfsynctime_sum 0\nfsynctime_count 0\n",
            "process_start_time_seconds 6\n",
            "process_open_fds 49\n",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
        assert!(!text.contains("per_namespace"));
        assert!(!text.lines().any(|l| l.starts_with("zk_")));
        assert!(!render(&view(), false).contains("process_open_fds"));
    }

    #[test]
    fn ensemble_gauges() {
        use crate::admin::tests::{ensemble_view, Role};
        let leader = render(&ensemble_view(Role::Leader), false);
        for expected in [
            "# TYPE synced_followers gauge\nsynced_followers 2\n",
            "# TYPE learners gauge\nlearners 3\n",
            "# TYPE leader_uptime gauge\nleader_uptime 16136\n",
            "# TYPE min_proposal_size gauge\nmin_proposal_size -1\n",
            "# TYPE quorum_size gauge\nquorum_size 3\n",
        ] {
            assert!(
                leader.contains(expected),
                "missing {expected:?} in\n{leader}"
            );
        }
        // `dumpMonitorValues` strings and the labelled learner sets are not provider gauges
        assert!(!leader.contains("peer_state") && !leader.contains("learner_handler"));
        let follower = render(&ensemble_view(Role::Follower), false);
        assert!(follower.contains("quorum_size 3\n") && !follower.contains("learners"));
        assert!(!render(&view(), false).contains("quorum_size"));
    }
}
