//! `mntr`: `MonitorCommand` = `zk_version`, `zk_server_state`, then every metric of the
//! default provider as `zk_<name>\t<value>`, in the order 3.8.0 printed them.
//!
//! Gauges come from the view; counters and summaries ferrokeeper does not measure yet are
//! printed as the reference prints an untouched metric (0, and `0.0` for averages), so
//! scripts that expect a key find it.

use std::fmt::Write;

use super::javafmt::java_double;
use super::mntr_names::{COUNTERS, GAUGES, SUMMARIES};
use super::view::ServerView;

/// A gauge's value text, or None for a name we do not know (printed as 0).
fn gauge(v: &ServerView, name: &str) -> Option<String> {
    let s = v.stats.snapshot();
    let int = |n: u64| Some(n.to_string());
    let signed = |n: i64| Some(n.to_string());
    match name {
        "ephemerals_count" => int(v.ephemerals.iter().map(|(_, p)| p.len() as u64).sum()),
        "num_alive_connections" => int(v.connections.len() as u64),
        "avg_latency" => Some(java_double(s.avg_latency)),
        "min_latency" => int(s.min_latency),
        "max_latency" => int(s.max_latency),
        "outstanding_requests" => signed(s.outstanding_requests),
        "znode_count" => int(v.node_count),
        "global_sessions" => int(v.global_sessions),
        "local_sessions" => int(v.local_sessions),
        "packets_sent" => int(s.packets_sent),
        "packets_received" => int(s.packets_received),
        "last_client_response_size" => signed(s.last_client_response_size),
        "max_client_response_size" => signed(s.max_client_response_size),
        "min_client_response_size" => signed(s.min_client_response_size),
        "connection_drop_probability" => Some("0.0".to_owned()),
        "watch_count" => int(v.watch_count),
        "approximate_data_size" => int(v.approximate_data_size),
        "open_file_descriptor_count" => v.open_file_descriptor_count.map(|n| n.to_string()),
        "max_file_descriptor_count" => v.max_file_descriptor_count.map(|n| n.to_string()),
        "uptime" => int(v.uptime_ms),
        _ => None,
    }
}

pub(super) fn mntr(v: &ServerView) -> String {
    let mut out = format!("zk_version\t{}\nzk_server_state\t{}\n", v.version, v.mode);
    for name in GAUGES {
        let value = gauge(v, name).unwrap_or_else(|| "0".to_owned());
        let _ = writeln!(out, "zk_{name}\t{value}");
    }
    for name in COUNTERS {
        let _ = writeln!(out, "zk_{name}\t0");
    }
    for (name, percentiles) in SUMMARIES {
        let _ = write!(
            out,
            "zk_avg_{name}\t0.0\nzk_min_{name}\t0\nzk_max_{name}\t0\nzk_cnt_{name}\t0\nzk_sum_{name}\t0\n"
        );
        if percentiles {
            for p in ["p50", "p95", "p99", "p999"] {
                let _ = writeln!(out, "zk_{p}_{name}\t0");
            }
        }
    }
    out
}
