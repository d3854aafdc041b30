//! The core task: the single owner of the tree, the watches, the sessions and the pending
//! changes. Requests arrive in order from every connection; each is prepped, applied and
//! answered before the next (`PrepRequestProcessor` → `SyncRequestProcessor` →
//! `FinalRequestProcessor` in one sequence), which gives per-session FIFO order and
//! "watch event before any response that reflects the change" by construction.
//!
//! In an ensemble the core also runs its role's engine ([`Role`]): a leader proposes what
//! prep produces and applies on commit; a learner forwards writes and applies the leader's
//! commits (see `leading` and `following`).

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::auth::{authenticate, check_acl};
use super::log_stage::LogStage;
use super::outbound::OutboundTx;
use super::pending::PendingChanges;
use super::prep::{PrepConfig, PrepContext};
use super::reads::ReadContext;
use super::reply::{Answer, Outbound};
use crate::admin::ServerStats;
use crate::jute::codes::{perms, ErrorCode, OpCode};
use crate::jute::data::Id;
use crate::jute::proto::{ConnectRequest, ConnectResponse};
use crate::jute::txn::TxnEntry;
use crate::quorum::zab::learner::LeftDatabase;
use crate::request::{LastOp, Request};
use crate::session::{check_passwd, generate_passwd, SessionTracker};
use crate::tree::DataTree;
use crate::watch::{WatchManager, WatcherId};

pub type ConnId = u64;

/// Messages from the connections (and the admin side) to the core.
pub enum CoreMsg {
    Connect {
        conn: ConnId,
        remote: SocketAddr,
        req: ConnectRequest,
        out: OutboundTx,
        /// A TLS connection's port and certificate ids; None for plaintext. Boxed, so that
        /// every message in the core's queue stays small.
        tls: Option<Box<TlsOrigin>>,
    },
    /// A request of an established session, decoded by its connection: `None` for an
    /// opcode the server does not implement, [`Request::Malformed`] for a record that did
    /// not decode. `body` is the record as received (a learner forwards it to its leader).
    Packet {
        conn: ConnId,
        xid: i32,
        op: OpCode,
        req: Option<Box<Request>>,
        body: Bytes,
        /// When the connection read it: latency is measured from here to the reply.
        received: Instant,
    },
    Disconnected {
        conn: ConnId,
    },
    /// The connection's SASL exchange completed: its ids (`sasl:<authorizationId>`, and
    /// `super` for a super user) join the connection's before any later packet of it.
    Authenticated {
        conn: ConnId,
        ids: Vec<Id>,
    },
    /// Runs `f` against the core's state (four-letter words read, and crst/srst reset, here).
    Inspect {
        f: Box<dyn FnOnce(&mut CoreState) -> String + Send>,
        reply: oneshot::Sender<String>,
    },
}

/// Where a TLS connection came from and what its certificate authenticated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOrigin {
    /// The x509 ids of the client's certificate, in the order 3.8 adds them
    /// (`NettyServerCnxnFactory.CertificateVerifier`); empty without a certificate.
    pub auth: Vec<Id>,
    /// Accepted on `secureClientPort` (3.8's secure factory: listed apart by `cons`, `stat`
    /// and the AdminServer), not on a port-unified `clientPort`.
    pub secure_port: bool,
}

/// Settings the core needs, taken from zoo.cfg.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    pub myid: i64,
    pub tick_time_ms: i64,
    pub min_session_timeout_ms: i32,
    pub max_session_timeout_ms: i32,
    pub super_digest: Option<String>,
    /// Schemes of which a session must hold an id before its requests are served
    /// (`AuthenticationHelper`); empty when not enforced.
    pub enforce_auth_schemes: Vec<String>,
    pub prep: PrepConfig,
    pub digest_enabled: bool,
    pub container_check_interval_ms: u64,
    pub container_max_per_minute: u64,
    pub container_max_never_used_interval_ms: i64,
    /// `localSessionsEnabled`: a quorum member creates sessions of its own, without a txn.
    pub local_sessions: bool,
    /// `localSessionsUpgradingEnabled`: a local session's first ephemeral create makes it
    /// global (a createSession txn) instead of failing with EphemeralOnLocalSession.
    pub local_sessions_upgrading: bool,
}

/// One client connection as the core knows it.
#[derive(Debug)]
pub struct ConnState {
    pub out: OutboundTx,
    pub remote: SocketAddr,
    /// 0 until the session is established.
    pub session_id: i64,
    pub timeout_ms: i32,
    pub auth: Vec<Id>,
    /// Accepted on `secureClientPort`.
    pub secure_port: bool,
    pub established_ms: i64,
    pub last_cxid: i32,
    pub last_zxid: i64,
    pub last_op: LastOp,
    pub packets_received: u64,
    pub packets_sent: u64,
    pub last_response_ms: i64,
    pub latency: LatencyStats,
}

/// Per-connection latency in ms, for `cons`.
#[derive(Debug, Default, Clone, Copy)]
pub struct LatencyStats {
    pub last: i64,
    pub min: i64,
    pub max: i64,
    pub total: i64,
    pub count: i64,
}

impl LatencyStats {
    fn record(&mut self, ms: i64) {
        self.min = if self.count == 0 {
            ms
        } else {
            self.min.min(ms)
        };
        self.max = self.max.max(ms);
        self.last = ms;
        self.total += ms;
        self.count += 1;
    }

    pub fn avg(&self) -> i64 {
        if self.count == 0 {
            0
        } else {
            self.total / self.count
        }
    }
}

/// Everything the core owns; four-letter words get read access to it.
pub struct CoreState {
    pub config: CoreConfig,
    pub tree: DataTree,
    pub watches: WatchManager,
    pub sessions: SessionTracker,
    /// Sessions created here without a txn (`LocalSessionTracker`); expired here only.
    pub local_sessions: SessionTracker,
    /// Local sessions whose createSession txn is on its way (`upgradingSessions`).
    upgrading: HashSet<i64>,
    pub pending: PendingChanges,
    pub conns: HashMap<ConnId, ConnState, ahash::RandomState>,
    /// Connections whose queue got its first message this turn: woken once at its end, so
    /// a turn that answers a batch costs each writer one wake-up.
    to_wake: Vec<ConnId>,
    pub session_conns: HashMap<i64, ConnId, ahash::RandomState>,
    /// The last zxid handed out (epoch << 32 | counter).
    pub last_zxid: i64,
    /// Counters the four-letter words report (`ServerStats`).
    pub stats: Arc<ServerStats>,
    pub origin: Instant,
    wall_origin_ms: i64,
    /// The log stage; `None` keeps state in memory only (txns are applied at once).
    pub(crate) log: Option<LogStage>,
    /// When to snapshot; `None` without persistence.
    snapshots: Option<snapshots::SnapshotPolicy>,
    /// Txns handed to the log stage and not yet durable, in zxid order.
    in_flight: VecDeque<InFlight>,
    /// Per session, what waits behind its in-flight writes (`CommitProcessor`'s per-session
    /// order): a read is answered only after every earlier write of its session.
    session_queues: HashMap<i64, VecDeque<Queued>, ahash::RandomState>,
    /// Standalone, or this server's part in an ensemble.
    pub role: Role,
    /// Clients are served (a leader only once a quorum acked NEWLEADER).
    pub serving: bool,
    /// Set when the ensemble role ends: the peer goes back to election.
    reelect: Option<String>,
    /// `reconfigFlag` with the vote `updateVote` made (leader, zxid): a reconfig changed our
    /// role or named another leader, so when this role ends the peer goes straight to that
    /// leader without an election (`QuorumPeer#updateServerState`).
    reconfig_vote: Option<(i64, i64)>,
    /// Set by the peer for an ensemble member.
    pub ensemble: Option<EnsembleInfo>,
    /// The peer's quorum configs (an ensemble member only): what a reconfig changes.
    pub quorum_configs: Option<Arc<crate::quorum::reconfig::PeerConfig>>,
}

/// Milliseconds since the epoch on the system clock (txn times, `/zookeeper/config`'s mtime).
pub(crate) fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl CoreState {
    pub fn new(config: CoreConfig, tree: DataTree, stats: Arc<ServerStats>) -> CoreState {
        let wall = wall_clock_ms();
        let sessions = SessionTracker::new(config.myid, config.tick_time_ms, wall);
        let local_sessions = SessionTracker::new(config.myid, config.tick_time_ms, wall);
        let last_zxid = tree.last_processed_zxid();
        CoreState {
            tree,
            watches: WatchManager::new(),
            sessions,
            local_sessions,
            upgrading: HashSet::new(),
            pending: PendingChanges::default(),
            conns: HashMap::default(),
            to_wake: Vec::new(),
            session_conns: HashMap::default(),
            last_zxid,
            stats,
            origin: Instant::now(),
            wall_origin_ms: wall,
            log: None,
            snapshots: None,
            in_flight: VecDeque::new(),
            session_queues: HashMap::default(),
            role: Role::Standalone,
            serving: true,
            reelect: None,
            reconfig_vote: None,
            ensemble: None,
            quorum_configs: None,
            config,
        }
    }

    /// Persist from now on: txns go through `log` before they are applied, and snapshots are
    /// taken as `snapshot` says. `sessions` are the ones recovery found.
    pub fn attach_persistence(
        &mut self,
        log: LogStage,
        snapshot: SnapshotConfig,
        sessions: &[(i64, i32)],
    ) {
        let now = self.now_ms();
        for &(id, timeout) in sessions {
            self.sessions.add_session(id, timeout, now);
        }
        self.log = Some(log);
        self.snapshots = Some(snapshots::SnapshotPolicy::new(snapshot, wall_clock_ms()));
    }

    /// End the role and hand its database to the next (`ZooKeeperServer#shutdown(false)` keeps
    /// the `ZKDatabase`): the tree, the global session table, and the txn log once what was
    /// submitted to it is committed. None when the tree may hold txns the disk does not (a
    /// learner that had not finished its sync) or the log failed: the next role loads the
    /// database from disk. Blocks until the last commit is done.
    pub fn leave_database(mut self) -> Option<LeftDatabase> {
        let committed = match &mut self.role {
            Role::Leading(l) => Some(l.engine().committed_log().clone()),
            Role::Following(f) if f.synced() => Some(f.take_committed_log()),
            _ => None,
        };
        let log = self.log.take()?.close()?;
        let committed = committed?;
        let options = self.tree.options();
        let tree = std::mem::replace(&mut self.tree, DataTree::with_options(options));
        Some(LeftDatabase {
            tree,
            sessions: self.sessions.sessions(),
            committed,
            log,
        })
    }

    /// `QuorumPeer#processReconfig`'s part every role shares: `qv` is committed (on disk),
    /// `/zookeeper/config` takes the committed config (`initConfigInZKDatabase`), and a
    /// changed membership is logged and resizes the quorum. The committed config's text and
    /// version, and whether the membership changed; None without `reconfigEnabled`.
    pub(super) fn commit_config(
        &mut self,
        pc: &crate::quorum::reconfig::PeerConfig,
        qv: &crate::quorum::QuorumVerifier,
        zxid: i64,
    ) -> Option<(Vec<u8>, i64, bool)> {
        let old_client = pc
            .committed()
            .all_members()
            .get(&pc.my_id)
            .and_then(|s| s.client_address.clone());
        let activation = pc.activate(qv.clone(), old_client);
        if !pc.enabled {
            return None;
        }
        let committed = pc.committed();
        let text = committed.to_string().into_bytes();
        self.tree
            .init_config_node(&text, committed.version(), wall_clock_ms());
        if activation.changed {
            tracing::info!(
                version = format_args!("{:x}", qv.version()),
                zxid = format_args!("0x{zxid:x}"),
                "reconfig: new configuration activated"
            );
            if let Some(info) = self.ensemble.as_mut() {
                info.quorum_size = qv.voting_members().len() as u64;
            }
            if let Some((host, port)) = &activation.new_client {
                // the client port follows the committed config (`ServerCnxnFactory#reconfigure`)
                tracing::info!("reconfig moved our client address to {host}:{port}");
            }
        }
        Some((text, committed.version(), activation.changed))
    }

    /// Milliseconds on a clock that tokio's paused time controls (session expiry, containers).
    pub fn now_ms(&self) -> i64 {
        let elapsed = Instant::now().saturating_duration_since(self.origin);
        self.wall_origin_ms + i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
    }

    /// Queue a reply, event or handshake answer; the connection encodes it.
    fn send(&mut self, conn: ConnId, msg: Outbound) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.packets_sent += 1;
            self.stats.packet_sent();
            // a closed receiver means the connection is going away; its Disconnected follows
            if let Ok(true) = c.out.push(msg) {
                self.to_wake.push(conn);
            }
        }
    }

    /// Wakes the writers this turn queued for (see `to_wake`).
    pub(crate) fn wake_writers(&mut self) {
        for conn in self.to_wake.drain(..) {
            if let Some(c) = self.conns.get(&conn) {
                c.out.wake();
            }
        }
    }

    fn close(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.get(&conn) {
            let _ = c.out.send(Outbound::Close);
        }
    }

    /// Drop a connection: its watches go with it; its session lives on until it expires.
    fn forget_conn(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.remove(&conn) {
            if self.session_conns.get(&c.session_id) == Some(&conn) {
                self.session_conns.remove(&c.session_id);
            }
        }
        self.watches.remove_watcher(conn);
    }

    fn next_zxid(&mut self) -> i64 {
        self.last_zxid += 1;
        self.last_zxid
    }

    fn prep_ctx<'a>(&'a mut self, session_id: i64, cxid: i32, auth: &'a [Id]) -> PrepContext<'a> {
        let zxid = self.next_zxid();
        PrepContext {
            tree: &self.tree,
            pending: &mut self.pending,
            config: &self.config.prep,
            auth,
            session_id,
            cxid,
            zxid,
            time: wall_clock_ms(),
        }
    }

    /// The tree applies a durable txn; its watch events go out before any reply, each only to
    /// watchers whose connection may READ the node as the change left it, by the auth the
    /// connection has now (CVE-2024-23944: `NIOServerCnxn#process(WatchedEvent, List<ACL>)`
    /// calls `ZooKeeperServer#checkACL`; a refused watch is used up all the same).
    fn apply_txn(&mut self, txn: &TxnEntry) -> crate::tree::Applied {
        let applied = self.tree.apply(txn);
        if txn.header.op == OpCode::CREATE_SESSION {
            // `commitSession`: an upgraded (or moved-while-upgrading) session is global now
            self.local_sessions.remove(txn.header.client_id);
            self.upgrading.remove(&txn.header.client_id);
        }
        // every role compares, as `DataTree#processTxn` does: on a learner it checks the
        // leader's tree against ours, on a leader its prep against its apply
        if !self.tree.digest_matches(txn) {
            self.stats.digest_mismatch();
        }
        self.pending.applied_through(txn.header.zxid);
        for trigger in &applied.triggers {
            let policy = &self.config.prep.acl;
            // what anyone may read (the common open ACL) needs no look-up per watcher
            let everyone = check_acl(&trigger.acl, perms::READ, &[], policy).is_ok();
            let conns = &self.conns;
            let may_read = |w: WatcherId| {
                everyone
                    || conns.get(&w).is_some_and(|c| {
                        check_acl(&trigger.acl, perms::READ, &c.auth, policy).is_ok()
                    })
            };
            let stats = &self.stats;
            let events =
                self.watches
                    .trigger_counted(&trigger.path, trigger.event, may_read, |n| {
                        stats.record_watch_trigger(trigger.event, n)
                    });
            for (watcher, event) in events {
                self.send(watcher, Outbound::Notification(event));
            }
        }
        applied
    }

    pub fn handle(&mut self, msg: CoreMsg) {
        match msg {
            CoreMsg::Connect {
                conn,
                remote,
                req,
                out,
                tls,
            } => self.connect(conn, remote, req, out, tls.map(|t| *t).unwrap_or_default()),
            CoreMsg::Packet {
                conn,
                xid,
                op,
                req,
                body,
                received,
            } => {
                self.stats.packet_received();
                self.packet(conn, xid, op, req, body, received);
            }
            CoreMsg::Disconnected { conn } => self.forget_conn(conn),
            CoreMsg::Authenticated { conn, ids } => self.authenticated(conn, ids),
            CoreMsg::Inspect { f, reply } => {
                let _ = reply.send(f(self));
            }
        }
    }
}

mod commit;
mod connect;
mod following;
mod leading;
mod local;
mod packet;
mod role;
mod snapshots;
pub use snapshots::{AdminRestore, AdminSnapshot};
mod timers;

pub use following::{FollowSetup, Following};
pub use leading::{LeaderSetup, Leading, LearnerHandlerInfo};
pub use role::{CoreExit, EnsembleInfo, FatalError, QuorumInbox, ReadOnly, Role};
pub use snapshots::SnapshotConfig;

use commit::{Completion, InFlight, Queued};

pub use timers::{run, run_role};

/// How long the core may wait before it must look at sessions and containers again.
pub(crate) fn idle_wait(state: &CoreState) -> Duration {
    let now = state.now_ms();
    // a learner's global sessions are the leader's to expire
    let global = if matches!(state.role, Role::Following(_)) {
        None
    } else {
        state.sessions.next_expiration_ms()
    };
    let next = [global, state.local_sessions.next_expiration_ms()]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(now + state.config.tick_time_ms);
    Duration::from_millis(
        u64::try_from((next - now).clamp(1, state.config.tick_time_ms)).unwrap_or(1),
    )
}

/// Answer a request; its latency counts as an update's for the ops that go through the
/// quorum (`Request#isQuorum`: the writes, and a global session's close, which only a
/// committed closeSession txn answers with "CLOS" here).
pub(crate) fn finish_reply(
    state: &mut CoreState,
    conn: ConnId,
    xid: i32,
    op: LastOp,
    answer: impl Into<Answer>,
    received: Instant,
) {
    let quorum = op.went_through_the_quorum();
    finish_reply_counted(state, conn, xid, op, answer, received, quorum);
}

/// [`finish_reply`] for a reply whose op name does not say whether the quorum took part
/// (a local session's close).
pub(crate) fn finish_reply_counted(
    state: &mut CoreState,
    conn: ConnId,
    xid: i32,
    op: LastOp,
    answer: impl Into<Answer>,
    received: Instant,
    quorum: bool,
) {
    let answer = answer.into();
    let zxid = state.tree.last_processed_zxid();
    let latency = received.elapsed();
    let latency_ms = i64::try_from(latency.as_millis()).unwrap_or(i64::MAX);
    state
        .stats
        .record_latency(u64::try_from(latency_ms).unwrap_or(0), quorum);
    let now = state.now_ms();
    if let Some(c) = state.conns.get_mut(&conn) {
        c.last_cxid = xid;
        c.last_zxid = zxid;
        c.last_op = op;
        c.last_response_ms = now;
        c.latency.record(latency_ms);
    }
    state.send(conn, Outbound::reply(xid, zxid, answer));
}

/// The handshake's answer; its trailing readOnly flag (only for a client that sent one) says
/// whether this is the read-only server.
pub(crate) fn connect_response(
    session_id: i64,
    timeout: i32,
    read_only: Option<bool>,
    server_read_only: bool,
) -> Outbound {
    let valid = session_id != 0;
    Outbound::Connect(Box::new(ConnectResponse {
        protocol_version: 0,
        time_out: if valid { timeout } else { 0 },
        session_id,
        passwd: Bytes::copy_from_slice(&if valid {
            generate_passwd(session_id)
        } else {
            [0u8; 16]
        }),
        read_only: read_only.map(|_| server_read_only),
    }))
}

pub(crate) fn check_reconnect(state: &mut CoreState, session_id: i64, passwd: &[u8]) -> bool {
    let now = state.now_ms();
    check_passwd(session_id, passwd) && state.sessions.touch(session_id, now)
}

pub(crate) fn auth_packet(
    state: &mut CoreState,
    conn: ConnId,
    xid_: i32,
    scheme: &str,
    auth: &[u8],
) {
    let Some(c) = state.conns.get(&conn) else {
        return;
    };
    let ids = authenticate(
        scheme,
        auth,
        c.remote.ip(),
        state.config.super_digest.as_deref(),
        state
            .config
            .prep
            .providers
            .x509
            .then_some(c.auth.as_slice()),
    );
    match ids {
        Some(ids) => {
            if let Some(c) = state.conns.get_mut(&conn) {
                for id in ids {
                    if !c.auth.contains(&id) {
                        c.auth.push(id);
                    }
                }
            }
            state.send(conn, Outbound::header(xid_, 0, ErrorCode::OK));
        }
        None => {
            if scheme == "x509" && state.config.prep.providers.x509 {
                tracing::warn!(client = %c.remote, "x509 authentication failed: the connection has no trusted client certificate");
            } else {
                tracing::warn!(scheme, "authentication failed: no provider for scheme");
            }
            state.send(conn, Outbound::header(xid_, 0, ErrorCode::AUTH_FAILED));
            state.close(conn);
        }
    }
}

pub(crate) fn read_ctx<'a>(
    state: &'a mut CoreState,
    conn: ConnId,
    auth: &'a [Id],
) -> ReadContext<'a> {
    let session_id = state.conns.get(&conn).map_or(0, |c| c.session_id);
    ReadContext {
        tree: &state.tree,
        watches: &mut state.watches,
        watcher: conn,
        auth,
        acl: &state.config.prep.acl,
        session_id,
    }
}

// 10,000 idle sessions take 16,384 slots of `CoreState::conns`: every 8 bytes more per
// entry is ~13 B per session in the idle row of scripts/bench
const _: () = assert!(std::mem::size_of::<(ConnId, ConnState)>() <= 176);
