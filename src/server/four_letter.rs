//! Four-letter words against the running core: a [`ServerView`] built from the core's state
//! inside the core task (no locks), then rendered by `admin`.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::admin::summary::SummaryValues;
use crate::admin::{
    self, ConnectionSessionView, ConnectionView, FourLetterWord, LeaderView, LearnerHandlerView,
    QuorumView, ServerStats, ServerView, SessionView,
};
use crate::config::ServerConfig;
use crate::conn::FourLetterHandler;
use crate::pipeline::core::Role;
use crate::pipeline::CoreState;
use crate::quorum::zab::leader::LearnerKind;

pub(super) fn handler(cfg: Arc<ServerConfig>, stats: Arc<ServerStats>) -> FourLetterHandler {
    Arc::new(
        move |first4: [u8; 4], secure_port: bool, remote: SocketAddr| {
            let word = FourLetterWord::from_bytes(&first4)?;
            let cfg = cfg.clone();
            let stats = stats.clone();
            Some(Box::new(move |state: &mut CoreState| {
                // the word itself counts as a packet, as in the reference
                stats.packet_received();
                if word == FourLetterWord::Crst && cfg.four_letter_whitelist.is_enabled(word.name())
                {
                    reset_connection_stats(state);
                }
                let mut view = ServerView {
                    asked_on_secure_port: secure_port,
                    ..view(state, cfg.clone(), stats.clone())
                };
                // 3.8's connection factory holds the asking connection too: `Connections:`,
                // `zk_num_alive_connections`, `stat` and `cons` count and list it, no session,
                // interest ops 0, its one packet received
                view.connections.push(ConnectionView {
                    remote,
                    interest_ops: 0,
                    queued: 0,
                    received: 1,
                    sent: 0,
                    session: None,
                    expire_at_ms: None,
                    secure_port,
                });
                view.connections.sort_by_key(|c| c.remote);
                let answer = admin::execute(word, &cfg.four_letter_whitelist, &view);
                // the answer is a packet sent, counted once written, as 3.8 counts it
                stats.packet_sent();
                answer
            })
                as Box<dyn FnOnce(&mut CoreState) -> String + Send>)
        },
    )
}

pub(super) fn reset_connection_stats(state: &mut CoreState) {
    for c in state.conns.values_mut() {
        c.packets_received = 0;
        c.packets_sent = 0;
        c.latency = Default::default();
    }
}

/// `orst`: `Leader#resetObserverConnectionStats` (a follower has no observer master here).
pub(super) fn reset_observer_connection_stats(state: &CoreState) {
    if let Role::Leading(l) = &state.role {
        l.reset_observer_connection_stats();
    }
}

fn connection_views(state: &CoreState) -> Vec<ConnectionView> {
    let expiries = expiry_by_session(state);
    let mut conns: Vec<ConnectionView> = state
        .conns
        .values()
        .map(|c| ConnectionView {
            remote: c.remote,
            interest_ops: 1,
            queued: 0,
            received: c.packets_received,
            sent: c.packets_sent,
            session: (c.session_id != 0).then(|| ConnectionSessionView {
                session_id: c.session_id,
                last_op: c.last_op.name().to_owned(),
                established_ms: c.established_ms,
                timeout_ms: c.timeout_ms,
                last_cxid: i64::from(c.last_cxid),
                last_zxid: c.last_zxid,
                last_response_ms: c.last_response_ms,
                last_latency: c.latency.last,
                min_latency: c.latency.min,
                avg_latency: c.latency.avg(),
                max_latency: c.latency.max,
            }),
            expire_at_ms: expiries.get(&c.session_id).copied(),
            secure_port: c.secure_port,
        })
        .collect();
    conns.sort_by_key(|c| c.remote);
    conns
}

fn expiry_by_session(state: &CoreState) -> std::collections::HashMap<i64, i64> {
    state
        .sessions
        .expiry_buckets()
        .into_iter()
        .flat_map(|(at, ids)| ids.into_iter().map(move |id| (id, at)))
        .collect()
}

pub(super) fn view(
    state: &CoreState,
    cfg: Arc<ServerConfig>,
    stats: Arc<ServerStats>,
) -> ServerView {
    let expiries = expiry_by_session(state);
    let session_of = |watcher: u64| state.conns.get(&watcher).map_or(0, |c| c.session_id);
    let data_watches = state
        .watches
        .by_watcher()
        .into_iter()
        .map(|(w, paths)| (session_of(w), paths))
        .collect();
    let sessions = state
        .sessions
        .sessions()
        .into_iter()
        .map(|(session_id, timeout_ms)| SessionView {
            session_id,
            timeout_ms,
            expire_at_ms: expiries.get(&session_id).copied().unwrap_or(0),
        })
        .collect();
    // the read-only server's own sessions are local (`LearnerSessionTracker`)
    let (global_sessions, local_sessions) = match &state.role {
        Role::ReadOnly(ro) if ro.local_sessions => {
            (ro.global_sessions.len() as u64, state.sessions.len() as u64)
        }
        Role::ReadOnly(ro) => (ro.global_sessions.len() as u64, 0),
        _ => (
            state.sessions.len() as u64,
            state.local_sessions.len() as u64,
        ),
    };
    let last_zxid = state.tree.last_processed_zxid();
    let digests = if state.config.digest_enabled {
        vec![(last_zxid, state.tree.digest())]
    } else {
        Vec::new()
    };
    let process = crate::admin::process::ProcessStats::read();
    ServerView {
        last_zxid,
        open_file_descriptor_count: process.open_fds,
        max_file_descriptor_count: process.max_fds,
        process,
        namespace_quotas: state.tree.namespace_quotas(),
        node_count: state.tree.node_count() as u64,
        approximate_data_size: u64::try_from(state.tree.approximate_data_size()).unwrap_or(0),
        connections: connection_views(state),
        data_watches,
        watch_count: state.watches.watch_count() as u64,
        ephemerals: state.tree.sessions_with_ephemerals(),
        sessions,
        // `getDataDirSize` sizes the txn log dir and `getLogDirSize` the snapshot dir (the
        // reference's names are swapped; the numbers follow it)
        data_dir_size: crate::persist::dir_size(&cfg.data_log_dir.join("version-2")),
        log_dir_size: crate::persist::dir_size(&cfg.data_dir.join("version-2")),
        snap_dir: cfg.data_dir.join("version-2").display().to_string(),
        log_dir: cfg.data_log_dir.join("version-2").display().to_string(),
        digests,
        uptime_ms: u64::try_from(state.origin.elapsed().as_millis()).unwrap_or(0),
        global_sessions,
        local_sessions,
        now_ms: state.now_ms(),
        mode: state.role.mode().to_owned(),
        read_only: matches!(state.role, Role::ReadOnly(_)),
        serving: state.serving,
        server_id: state.config.myid,
        quorum: quorum_view(state),
        ..ServerView::idle(cfg, stats)
    }
}

/// The ensemble part of the view: peer state, quorum size, and the leader's learners.
fn quorum_view(state: &CoreState) -> Option<QuorumView> {
    let info = state.ensemble?;
    let phase = if state.serving {
        "broadcast"
    } else {
        "synchronization"
    };
    let (peer_state, leader) = match &state.role {
        Role::Standalone => return None,
        // `getDetailedPeerState` while the election goes on
        Role::ReadOnly(_) => ("looking".to_owned(), None),
        Role::Following(f) if f.observer => (format!("observing - {phase}"), None),
        Role::Following(_) => (format!("following - {phase}"), None),
        Role::Leading(l) => {
            let engine = l.engine();
            let synced = engine.synced_learners();
            let infos = l.learner_handlers();
            let learner_queue_summaries = synced
                .iter()
                .map(|(sid, _)| {
                    let handler = infos.iter().find(|h| h.sid == *sid);
                    let summaries = handler.map_or_else(SummaryValues::empty_learner_queues, |h| {
                        h.queue_summaries.clone()
                    });
                    (*sid, summaries)
                })
                .collect();
            let handlers: Vec<LearnerHandlerView> = infos
                .into_iter()
                .map(|h| LearnerHandlerView {
                    sid: h.sid,
                    observer: h.kind == LearnerKind::Observer,
                    forwarding: h.forwarding,
                    remote: h.remote,
                    established_ms: h.established_ms,
                    queued_packets: h.traffic.queued_packets,
                    queued_packets_size: h.traffic.queued_packets_size,
                    packets_received: h.traffic.packets_received,
                    packets_sent: h.traffic.packets_sent,
                    requests: h.traffic.requests,
                    last_zxid: h.traffic.last_zxid,
                })
                .collect();
            // `forwardingFollowers` / `observingLearners`: from `startForwarding` on
            let count = |observer: bool| {
                handlers
                    .iter()
                    .filter(|h| h.forwarding && h.observer == observer)
                    .count() as u64
            };
            let (last, min, max) = engine.proposal_sizes();
            let view = LeaderView {
                learners: engine.learner_count() as u64,
                synced_followers: count(false),
                synced_non_voting_followers: 0,
                synced_observers: count(true),
                pending_syncs: engine.pending_sync_count() as u64,
                leader_uptime_ms: l.uptime_ms(),
                last_proposal_size: last,
                min_proposal_size: min,
                max_proposal_size: max,
                learner_queue_summaries,
                learner_handlers: handlers,
            };
            (format!("leading - {phase}"), Some(view))
        }
    };
    Some(QuorumView {
        peer_state,
        quorum_size: info.quorum_size,
        leader_id: info.leader_id,
        leader,
        membership: state
            .quorum_configs
            .as_ref()
            .map(|c| c.committed().to_string()),
        client_port: state.quorum_configs.as_ref().and_then(|c| {
            c.committed()
                .all_members()
                .get(&c.my_id)
                .and_then(|s| s.client_address.as_ref().map(|(_, port)| *port))
        }),
    })
}
