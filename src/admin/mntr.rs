//! `mntr`: `MonitorCommand` = `zk_version`, `zk_server_state`, in an ensemble
//! `zk_peer_state` (and an observer's `zk_observer_master_id`), then every metric of the
//! default provider as `zk_<name>\t<value>`, in the order 3.8.0 printed them for the role.
//!
//! Gauges come from the view, measured counters and summaries from the server's stats;
//! those ferrokeeper does not measure yet are printed as the reference prints an untouched
//! metric (0, and `0.0` for averages), so scripts that expect a key find it.

use std::fmt::Write;

use super::javafmt::java_double;
use super::mntr_names::{gauges, COUNTERS, LEARNER_SUMMARY_SETS, SUMMARIES};
use super::summary::SummaryValues;
use super::view::{LeaderView, ServerView};

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
        "quorum_size" => v.quorum.as_ref().map(|q| q.quorum_size.to_string()),
        _ => leader_gauge(v.quorum.as_ref()?.leader.as_ref()?, name),
    }
}

/// `LeaderZooKeeperServer#registerMetrics`' gauges.
fn leader_gauge(l: &LeaderView, name: &str) -> Option<String> {
    let n = match name {
        "learners" => l.learners as i64,
        "synced_followers" => l.synced_followers as i64,
        "synced_non_voting_followers" => l.synced_non_voting_followers as i64,
        "synced_observers" => l.synced_observers as i64,
        "pending_syncs" => l.pending_syncs as i64,
        "leader_uptime" => l.leader_uptime_ms as i64,
        "last_proposal_size" => l.last_proposal_size,
        "min_proposal_size" => l.min_proposal_size,
        "max_proposal_size" => l.max_proposal_size,
        _ => return None,
    };
    Some(n.to_string())
}

/// The lines `ZooKeeperServer#dumpMonitorValues` and its quorum overrides print first.
fn monitor_values(v: &ServerView) -> String {
    let mut out = format!("zk_version\t{}\nzk_server_state\t{}\n", v.version, v.mode);
    if let Some(q) = &v.quorum {
        let _ = writeln!(out, "zk_peer_state\t{}", q.peer_state);
        // `ObserverZooKeeperServer#dumpMonitorValues`: the learner master it syncs from.
        if v.mode == "observer" {
            let _ = writeln!(out, "zk_observer_master_id\t{}", q.leader_id);
        }
    }
    out
}

/// Java's `String#hashCode`, spread as `ConcurrentHashMap#spread` does.
fn java_spread_hash(s: &str) -> i32 {
    let h = s
        .encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)));
    (h ^ ((h as u32) >> 16) as i32) & 0x7fff_ffff
}

/// Learner sids in the order a default-sized `ConcurrentHashMap` of their names iterates.
pub(super) fn learner_keys(l: &LeaderView) -> Vec<(i64, &[SummaryValues; 2])> {
    let mut keys: Vec<(i32, i64, &[SummaryValues; 2])> = l
        .learner_queue_summaries
        .iter()
        .map(|(sid, s)| (java_spread_hash(&sid.to_string()) & 15, *sid, s))
        .collect();
    keys.sort_unstable_by_key(|(bucket, sid, _)| (*bucket, *sid));
    keys.into_iter().map(|(_, sid, s)| (sid, s)).collect()
}

pub(super) fn mntr(v: &ServerView) -> String {
    let mut out = monitor_values(v);
    for name in gauges(v) {
        let value = gauge(v, name).unwrap_or_else(|| "0".to_owned());
        let _ = writeln!(out, "zk_{name}\t{value}");
    }
    for name in COUNTERS {
        let value = v.stats.counter(name).unwrap_or(0);
        let _ = writeln!(out, "zk_{name}\t{value}");
    }
    for (name, percentiles) in SUMMARIES {
        v.stats
            .summary(name)
            .unwrap_or_else(|| SummaryValues::empty(percentiles))
            .write_mntr(&mut out, name);
    }
    if let Some(l) = v.quorum.as_ref().and_then(|q| q.leader.as_ref()) {
        let keys = learner_keys(l);
        for (i, (set, _)) in LEARNER_SUMMARY_SETS.into_iter().enumerate() {
            for (sid, summaries) in &keys {
                summaries[i].write_mntr(&mut out, &format!("{sid}_{set}"));
            }
        }
    }
    out
}
