//! What the four-letter words report, published by the server as plain data.
//!
//! Invariant: building a [`ServerView`] is the server's job (it snapshots the tree, session
//! and watch tables off the hot path); the admin module only formats it and never locks the
//! tree. Collections are rendered in the order given.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use super::stats::ServerStats;
use super::summary::SummaryValues;
use crate::config::ServerConfig;

/// Session part of a connection line in `cons` (`ServerCnxn#dumpConnectionInfo`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionSessionView {
    pub session_id: i64,
    /// Last operation's short name (`Request#op2String`: GETD, GETC, EXIS, ...); "NA" after crst.
    pub last_op: String,
    /// Wall-clock ms when the session was established on this connection.
    pub established_ms: i64,
    pub timeout_ms: i32,
    /// -1 hides `lcxid` (as after crst).
    pub last_cxid: i64,
    pub last_zxid: i64,
    /// Wall-clock ms of the last response (0 after crst).
    pub last_response_ms: i64,
    pub last_latency: i64,
    pub min_latency: i64,
    pub avg_latency: i64,
    pub max_latency: i64,
}

/// One client connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionView {
    pub remote: SocketAddr,
    /// NIO interest ops as the reference prints them: 1 (read) while serving, 0 for a
    /// four-letter-word connection.
    pub interest_ops: u32,
    pub queued: u64,
    pub received: u64,
    pub sent: u64,
    /// None until the handshake made a session (then `cons` prints only the counters).
    pub session: Option<ConnectionSessionView>,
    /// Wall-clock ms at which the connection expires (for `dump`).
    pub expire_at_ms: Option<i64>,
    /// Accepted on `secureClientPort` (3.8's secure connection factory).
    pub secure_port: bool,
}

/// One live session for `dump`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionView {
    pub session_id: i64,
    pub timeout_ms: i32,
    /// Wall-clock ms of the expiry bucket the session sits in.
    pub expire_at_ms: i64,
}

/// One learner handler on a leader: `LearnerHandler#getLearnerHandlerInfo`'s figures, with
/// the learner's type and whether `Leader` forwards to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LearnerHandlerView {
    pub sid: i64,
    pub observer: bool,
    /// In `forwardingFollowers` / `observingLearners`: synced or being synced.
    pub forwarding: bool,
    pub remote: SocketAddr,
    /// Wall-clock ms the connection was accepted.
    pub established_ms: i64,
    pub queued_packets: i64,
    /// Can be negative: see [`crate::quorum::zab::leader::net::LearnerTraffic`].
    pub queued_packets_size: i64,
    pub packets_received: u64,
    pub packets_sent: u64,
    /// REQUEST packets the learner forwarded.
    pub requests: u64,
    /// Zxid of the last packet sent with a positive zxid, -1 before one.
    pub last_zxid: i64,
}

/// A leader's view of its learners (`LeaderZooKeeperServer#registerMetrics`' gauges).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeaderView {
    /// Learner connections past the handshake (`Leader#getLearners`).
    pub learners: u64,
    /// Synced voting followers (`getForwardingFollowers`).
    pub synced_followers: u64,
    pub synced_non_voting_followers: u64,
    pub synced_observers: u64,
    pub pending_syncs: u64,
    /// Since the leader started serving.
    pub leader_uptime_ms: u64,
    /// Bytes of the last / smallest / largest proposal; -1 before the first.
    pub last_proposal_size: i64,
    pub min_proposal_size: i64,
    pub max_proposal_size: i64,
    /// The synced learners by sid, with their `LearnerHandler`'s
    /// `<sid>_learner_handler_qp_size` and `_qp_time_ms` summaries (`mntr`'s order).
    pub learner_queue_summaries: BTreeMap<i64, [SummaryValues; 2]>,
    /// Every learner handler that said who it is, by sid.
    pub learner_handlers: Vec<LearnerHandlerView>,
}

/// This server's part in an ensemble (None for a standalone server).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QuorumView {
    /// `QuorumPeer#getDetailedPeerState`: "leading - broadcast", "following - broadcast", ...
    pub peer_state: String,
    /// Voting members (`zk_quorum_size`).
    pub quorum_size: u64,
    pub leader_id: i64,
    /// Set when leading.
    pub leader: Option<LeaderView>,
    /// The committed quorum config's text (`QuorumVerifier#toString`), once the peer knows
    /// one; `conf` prints it after `membership: `.
    pub membership: Option<String>,
    /// The client port our line of the committed config gives (`;[host:]port`), where the
    /// client listener is once a reconfig moved it; `conf`'s `clientPort` then.
    pub client_port: Option<u16>,
}

/// Everything the words report.
#[derive(Clone)]
pub struct ServerView {
    /// [`super::version_string`] normally.
    pub version: String,
    /// `standalone`, `leader`, `follower`, `observer`, `read-only`.
    pub mode: String,
    /// False while the server is starting or stopping ("not currently serving requests").
    pub serving: bool,
    pub read_only: bool,
    pub last_zxid: i64,
    pub node_count: u64,
    pub approximate_data_size: u64,
    pub stats: Arc<ServerStats>,
    pub connections: Vec<ConnectionView>,
    /// The four-letter word came in on `secureClientPort`: `cons` and `stat` list the
    /// connections of the factory that got the word, as 3.8's commands do.
    pub asked_on_secure_port: bool,
    /// Data watches (getData/exists/persistent) per connection that has had one, as
    /// (session id, watched paths), paths possibly empty once they all fired or were removed
    /// (`WatchManager#watch2Paths`): what wchs/wchc/wchp show.
    pub data_watches: Vec<(i64, Vec<String>)>,
    /// Data plus child watches (`zk_watch_count`).
    pub watch_count: u64,
    pub ephemerals: Vec<(i64, Vec<String>)>,
    pub sessions: Vec<SessionView>,
    pub config: Arc<ServerConfig>,
    pub server_id: i64,
    /// Absolute `<dataDir>/version-2` and `<dataLogDir>/version-2`.
    pub snap_dir: String,
    pub log_dir: String,
    pub data_dir_size: u64,
    pub log_dir_size: u64,
    pub open_file_descriptor_count: Option<u64>,
    pub max_file_descriptor_count: Option<u64>,
    /// `/proc/self` at the time of the view (`/metrics`' `process_*` families).
    pub process: super::process::ProcessStats,
    /// The `quota_*_per_namespace` gauge sets.
    pub namespace_quotas: crate::tree::NamespaceQuotas,
    /// (zxid, digest) history for `hash`, oldest first.
    pub digests: Vec<(i64, i64)>,
    pub trace_mask: i64,
    pub uptime_ms: u64,
    pub global_sessions: u64,
    pub local_sessions: u64,
    /// `envi` lines after `zookeeper.version` (host.name, os.*, user.*, ...).
    pub environment: Vec<(String, String)>,
    /// Wall-clock "now" in ms, for `dump` dates.
    pub now_ms: i64,
    /// Ensemble state; None when standalone.
    pub quorum: Option<QuorumView>,
    /// Called by `crst` to reset every connection's counters.
    pub reset_connection_stats: Option<Arc<dyn Fn() + Send + Sync>>,
}

impl ServerView {
    /// The connections of the listener a four-letter word came in on.
    pub fn port_connections(&self) -> impl Iterator<Item = &ConnectionView> {
        self.connections
            .iter()
            .filter(|c| c.secure_port == self.asked_on_secure_port)
    }

    /// A view of an idle standalone server with the given config (tests, start-up).
    pub fn idle(config: Arc<ServerConfig>, stats: Arc<ServerStats>) -> Self {
        Self {
            version: super::version_string(),
            mode: "standalone".to_owned(),
            serving: true,
            read_only: false,
            last_zxid: 0,
            node_count: 0,
            approximate_data_size: 0,
            stats,
            connections: Vec::new(),
            asked_on_secure_port: false,
            data_watches: Vec::new(),
            watch_count: 0,
            ephemerals: Vec::new(),
            sessions: Vec::new(),
            config,
            server_id: 0,
            snap_dir: String::new(),
            log_dir: String::new(),
            data_dir_size: 0,
            log_dir_size: 0,
            open_file_descriptor_count: None,
            max_file_descriptor_count: None,
            process: super::process::ProcessStats::default(),
            namespace_quotas: crate::tree::NamespaceQuotas::default(),
            digests: Vec::new(),
            trace_mask: 306,
            uptime_ms: 0,
            global_sessions: 0,
            local_sessions: 0,
            environment: Vec::new(),
            now_ms: 0,
            quorum: None,
            reset_connection_stats: None,
        }
    }
}
