//! The peer of an ensemble (`QuorumPeer#run`): load the database, elect (3888), then lead
//! or follow/observe (2888) through the same core a standalone server runs, and elect
//! again when the role ends. Clients are served only while a role is serving; in between,
//! connections are closed and the four-letter words say so, as in the reference.
//!
//! Invariants: the database is reloaded from disk before every election (everything logged
//! counts, as `fastForwardDataBase` does), so the vote carries the last logged zxid; one
//! core at a time owns the tree; election notifications are answered during every role.
//!
//! Taken ports: the election port is bound in the background and the peer stops with
//! `UNABLE_TO_BIND_QUORUM_PORT` once its retries are used up (`QuorumCnxManager.Listener`);
//! a leader whose quorum port is taken gives up leading and elects again, as `QuorumPeer#run`
//! does when the `Leader` constructor throws.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use super::storage::{snapshot_config, txn_log_options};
use super::{core_config, tree_options, ServerError};
use crate::admin::stats::Counter;
use crate::admin::ServerStats;
use crate::config::{LearnerType, ServerConfig};
use crate::pipeline::core::{
    wall_clock_ms, CoreExit, EnsembleInfo, FatalError, FollowSetup, LeaderSetup, QuorumInbox,
    ReadOnly, Role,
};
use crate::pipeline::log_stage::{LogEvent, LogStage};
use crate::pipeline::{run_role, CoreMsg, CoreState, Outbound};
use crate::quorum::election::{adopt_configs, answer_notifications};
use crate::quorum::reconfig::{backup_old_config, PeerConfig};
use crate::quorum::tls::QuorumTls;
use crate::quorum::zab::leader::net::{bind_quorum_port, LearnerListener};
use crate::quorum::zab::leader::{DiskHistory, LeaderSettings, LeaderStart};
use crate::quorum::zab::learner::{
    connect, LearnerConfig, LearnerDb, LearnerDbOptions, LearnerRole, LearnerTimeouts, LeftDatabase,
};
use crate::quorum::{
    look_for_leader, CnxConfig, ElectionConfig, FastLeaderElection, QuorumCnxManager,
    QuorumVerifier, ServerState,
};
use crate::sasl::quorum::QuorumSasl;
use crate::tree::DataTree;

/// `zookeeper.snapshotSizeFactor`'s default.
const SNAPSHOT_SIZE_FACTOR: f64 = 0.33;
/// How often the `ssl.quorum.*` store files are looked at with `sslQuorumReloadCertFiles`.
const CERT_RELOAD_POLL: Duration = Duration::from_secs(1);
/// `QuorumPeer#run`: LOOKING lasts at least this long (or a tick) before the read-only
/// server starts.
const READ_ONLY_GRACE_MS: i32 = 2000;
/// Pause before electing again after a role failed to start.
const RETRY_PAUSE: Duration = Duration::from_millis(200);

/// What a role's core is fed besides client messages.
struct RoleChannels {
    log_events: mpsc::UnboundedReceiver<LogEvent>,
    inbox: QuorumInbox,
    /// A leader's established epoch, for the election vote.
    established: Option<oneshot::Receiver<i64>>,
}

/// Everything that stays the same from one role to the next.
struct Peer {
    cfg: Arc<ServerConfig>,
    my_id: i64,
    /// The committed and proposed quorum configs; a reconfig changes them.
    configs: Arc<PeerConfig>,
    stats: Arc<ServerStats>,
    cnx: QuorumCnxManager,
    tick: Duration,
    tls: Arc<QuorumTls>,
    /// `quorum.auth.enableSasl`: the logins of quorum SASL.
    auth: Option<Arc<QuorumSasl>>,
}

/// The quorum verifier of zoo.cfg (`server.N`, `group.N`, `weight.N`).
pub(super) fn verifier(cfg: &ServerConfig) -> Result<QuorumVerifier, String> {
    let members = cfg.servers.values().cloned();
    if cfg.groups.is_empty() {
        Ok(QuorumVerifier::majority(members, cfg.config_version))
    } else {
        QuorumVerifier::hierarchical(members, &cfg.groups, &cfg.weights, cfg.config_version)
            .map_err(|e| e.to_string())
    }
}

fn election_addrs(verifier: &QuorumVerifier, sid: i64) -> Vec<String> {
    verifier
        .all_members()
        .get(&sid)
        .map(|s| {
            s.addresses
                .iter()
                .map(|a| format!("{}:{}", a.host, a.election_port))
                .collect()
        })
        .unwrap_or_default()
}

/// `sid`'s quorum address, resolved, and its host as zoo.cfg writes it.
async fn quorum_addr(
    verifier: &QuorumVerifier,
    sid: i64,
) -> Result<(SocketAddr, String), FatalError> {
    quorum_addr_of(verifier, sid)
        .await
        .map_err(|reason| FatalError::QuorumAddress { sid, reason })
}

async fn quorum_addr_of(
    verifier: &QuorumVerifier,
    sid: i64,
) -> Result<(SocketAddr, String), String> {
    let spec = verifier
        .all_members()
        .get(&sid)
        .ok_or_else(|| format!("server.{sid} is not in the configuration"))?;
    let a = spec
        .addresses
        .first()
        .ok_or_else(|| format!("server.{sid} has no address"))?;
    let addr = tokio::net::lookup_host((a.host.as_str(), a.quorum_port))
        .await
        .map_err(|e| format!("cannot resolve {}: {e}", a.host))?
        .next()
        .ok_or_else(|| format!("{} has no address", a.host))?;
    Ok((addr, a.host.clone()))
}

/// The quorum TLS settings and material (`sslQuorum`, `portUnification`, `ssl.quorum.*`);
/// an unusable store stops the server here, naming its key and file.
pub(super) async fn quorum_tls(cfg: &ServerConfig) -> Result<Arc<QuorumTls>, ServerError> {
    QuorumTls::from_config(cfg)
        .await
        .map_err(|e| ServerError::Startup(format!("quorum TLS: {e}")))
}

/// The peer's quorum configs at start-up (`QuorumPeerConfig#parse`, `QuorumPeerMain`): the
/// committed one from zoo.cfg or its dynamic file; with a dynamic file, a
/// `zoo.cfg.dynamic.next` left by a reconfig that was proposed but not committed before we
/// stopped is the last seen config (the leader we elect finishes or drops it). zoo.cfg is
/// backed up before a reconfig may rewrite it.
pub(super) fn peer_configs(cfg: &ServerConfig) -> Result<Arc<PeerConfig>, ServerError> {
    let my_id = cfg
        .my_id
        .ok_or_else(|| ServerError::Startup("no myid for a distributed ensemble".to_owned()))?;
    let verifier = verifier(cfg).map_err(ServerError::Startup)?;
    let dynamic = cfg.raw_value("dynamicConfigFile").is_some();
    if cfg.reconfig_enabled && !dynamic {
        // the static config is kept before a reconfig rewrites it
        if let Err(e) = backup_old_config(&cfg.cfg_path) {
            tracing::warn!("backing up the static config: {e}");
        }
    }
    let configs = PeerConfig::new(my_id, cfg.reconfig_enabled, cfg.cfg_path.clone(), verifier);
    if dynamic {
        let next = configs.next_file();
        match std::fs::read(&next) {
            Ok(bytes) => {
                let text = crate::config::properties::decode(&bytes);
                let qv = QuorumVerifier::from_config_str(&text).map_err(|e| {
                    ServerError::Startup(format!("Error processing {}: {e}", next.display()))
                })?;
                tracing::info!(
                    version = format_args!("{:x}", qv.version()),
                    "{} holds a config proposed before we stopped: it is the last seen config",
                    next.display()
                );
                // `setLastSeenQuorumVerifier(qv, false)`: nothing without reconfigEnabled
                configs.set_last_seen(qv, false);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(
                    "reading {}: {e}; NextQuorumVerifier is initiated to null",
                    next.display()
                )
            }
        }
    }
    Ok(Arc::new(configs))
}

/// `QuorumPeer#processReconfig` → `ServerCnxnFactory#reconfigure`: once a committed config
/// changes the membership and gives our `server.N` line a client address other than the one
/// the client port listens on, the port moves there. Every path that commits a config
/// (a learner's or a leader's activation, a config adopted in an election) goes through
/// [`PeerConfig`], so this follows its channel.
pub(super) async fn follow_client_address(
    configs: Arc<PeerConfig>,
    bound: SocketAddr,
    moves: watch::Sender<SocketAddr>,
    shutdown: CancellationToken,
) {
    let mut changes = configs.subscribe();
    let mut prev = changes.borrow_and_update().committed.clone();
    let mut current = bound;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            changed = changes.changed() => if changed.is_err() { return },
        }
        let committed = changes.borrow_and_update().committed.clone();
        let grew = prev.version() < committed.version() && !prev.same_as(&committed);
        prev = committed.clone();
        if !grew {
            continue;
        }
        let Some((host, port)) = committed
            .all_members()
            .get(&configs.my_id)
            .and_then(|s| s.client_address.clone())
        else {
            continue;
        };
        let addr = match tokio::net::lookup_host((host.as_str(), port)).await {
            Ok(mut addrs) => addrs.next(),
            Err(e) => {
                tracing::error!("Error reconfiguring client port to {host}:{port}: {e}");
                continue;
            }
        };
        let Some(addr) = addr.filter(|a| *a != current) else {
            continue;
        };
        tracing::info!(from = %current, to = %addr, "reconfig moved our client address");
        current = addr;
        if moves.send(addr).is_err() {
            return;
        }
    }
}

/// Run the peer until shutdown (Ok), a fatal storage error, or an election port that could
/// not be bound (Err).
pub(super) async fn run_peer(
    cfg: Arc<ServerConfig>,
    configs: Arc<PeerConfig>,
    mut rx: mpsc::Receiver<CoreMsg>,
    stats: Arc<ServerStats>,
    shutdown: CancellationToken,
    tls: Arc<QuorumTls>,
) -> Result<(), ServerError> {
    let my_id = configs.my_id;
    let verifier = configs.committed();
    let tick = Duration::from_millis(u64::try_from(cfg.tick_time_ms).unwrap_or(3000));
    let mut cnx_cfg = CnxConfig::new(my_id, election_addrs(&verifier, my_id));
    cnx_cfg.peers = verifier
        .all_members()
        .keys()
        .map(|sid| (*sid, election_addrs(&verifier, *sid)))
        .collect();
    cnx_cfg.listen_on_all_ips = cfg.quorum_listen_on_all_ips;
    cnx_cfg.multi_address_enabled = cfg.multi_address_enabled;
    cnx_cfg.socket_timeout = tick * u32::try_from(cfg.init_limit).unwrap_or(10);
    cnx_cfg.tls = tls.clone();
    let auth = QuorumSasl::from_config(&cfg)
        .map_err(|e| ServerError::Startup(format!("quorum SASL: {e}")))?;
    cnx_cfg.auth = auth.clone();
    if let Some(source) = tls.source().filter(|_| cfg.ssl_quorum_reload_cert_files) {
        source.spawn_watcher("quorum", CERT_RELOAD_POLL, shutdown.clone());
    }
    if let Some(retry) = cfg
        .raw_value("electionPortBindRetry")
        .or_else(|| cfg.raw_value("zookeeper.electionPortBindRetry"))
        .and_then(|v| v.trim().parse().ok())
    {
        cnx_cfg.port_bind_retry = retry;
    }
    // `QuorumPeer#startLeaderElection`: the listener binds in the background, we dial meanwhile
    let (cnx, listener_exit) =
        QuorumCnxManager::spawn(cnx_cfg).map_err(|e| ServerError::Startup(e.to_string()))?;
    // the peer stops as for a shutdown once the listener gives up, then reports why
    let stop = shutdown.child_token();
    let watcher = tokio::spawn({
        let stop = stop.clone();
        async move {
            let source = listener_exit.gave_up().await;
            stop.cancel();
            source
        }
    });
    let mut fle = FastLeaderElection::new(ElectionConfig::new(my_id, cfg.peer_type, verifier));
    let peer = Peer {
        cfg,
        my_id,
        configs,
        stats,
        cnx: cnx.clone(),
        tick,
        tls,
        auth,
    };
    let result = peer.run(&mut fle, &mut rx, &stop).await;
    cnx.halt();
    if stop.is_cancelled() && !shutdown.is_cancelled() {
        if let Ok(source) = watcher.await {
            return Err(ServerError::ElectionPort { source });
        }
    } else {
        watcher.abort();
    }
    result.map_err(ServerError::Fatal)
}

/// The database one pass of the election loop hands the next.
// one value at a time, moved between passes: boxing either variant would gain nothing
#[allow(clippy::large_enum_variant)]
enum Carried {
    /// Loaded, and no role took it.
    Loaded(LearnerDb),
    /// What a role left ([`CoreState::leave_database`]).
    Left(LeftDatabase),
}

impl Peer {
    async fn run(
        &self,
        fle: &mut FastLeaderElection,
        rx: &mut mpsc::Receiver<CoreMsg>,
        shutdown: &CancellationToken,
    ) -> Result<(), FatalError> {
        let mut carried: Option<Carried> = None;
        // `reconfigFlag`: the leader (and zxid) a reconfig sent us to, no election needed
        let mut designated: Option<(i64, i64)> = None;
        loop {
            let looking_since = tokio::time::Instant::now();
            let mut looking = self.looking_core();
            // the sender stays alive so the looking core's log channel pends
            let (_idle_tx, mut idle_durable) = mpsc::unbounded_channel();
            let (loaded, left) = match carried.take() {
                Some(Carried::Loaded(db)) => (Some(db), None),
                Some(Carried::Left(left)) => (None, Some(left)),
                None => (None, None),
            };
            let mut db = if let Some(db) = loaded {
                db
            } else {
                let opts = self.db_options();
                // `QuorumPeer#loadDataBase` once; after a role, its database caught up
                let load = tokio::task::spawn_blocking(move || match left {
                    Some(left) => LearnerDb::resume(opts, left),
                    None => LearnerDb::open(opts),
                });
                tokio::select! {
                    _ = shutdown.cancelled() => return Ok(()),
                    _ = run_role(&mut looking, rx, &mut idle_durable, None) => return Ok(()),
                    r = load => r.map_err(|e| FatalError::Task {
                        task: "loading the database",
                        reason: e.to_string(),
                    })??,
                }
            };
            if let Some(load) = db.take_load() {
                self.stats.record_db_load(&load);
            }
            let zxid = db.last_processed_zxid();
            let epoch = db.epochs().current;
            if fle.state() != ServerState::Looking {
                fle.set_looking();
            }
            adopt_configs(fle, &self.cnx, self.configs.subscribe().borrow().clone());
            let elected = designated.is_none();
            let vote = if let Some((leader, at)) = designated.take() {
                // `QuorumPeer#updateServerState` with `reconfigFlag`
                let vote = fle.adopt_designated_leader(leader, at);
                tracing::info!(leader, state = ?fle.state(), "reconfig: serving under the designated leader without an election");
                Ok(vote)
            } else if self.cfg.read_only_mode_enabled {
                self.stats.count(Counter::Looking);
                tracing::info!(
                    zxid = format_args!("0x{zxid:x}"),
                    epoch,
                    "LOOKING: electing a leader"
                );
                let elected = self
                    .elect_serving_read_only(&mut db, looking_since, fle, rx, shutdown)
                    .await;
                match elected {
                    Some(v) => v,
                    None => return Ok(()),
                }
            } else {
                self.stats.count(Counter::Looking);
                tracing::info!(
                    zxid = format_args!("0x{zxid:x}"),
                    epoch,
                    "LOOKING: electing a leader"
                );
                tokio::select! {
                    _ = shutdown.cancelled() => return Ok(()),
                    _ = run_role(&mut looking, rx, &mut idle_durable, None) => return Ok(()),
                    v = look_for_leader(fle, &self.cnx, zxid, epoch, shutdown) => v,
                }
            };
            drop(looking);
            self.keep_election_config(fle, &vote);
            let vote = match vote {
                Ok(v) => v,
                Err(e) => {
                    tracing::warn!("election ended without a leader: {e}");
                    tokio::time::sleep(RETRY_PAUSE).await;
                    carried = Some(Carried::Loaded(db));
                    continue;
                }
            };
            tracing::info!(leader = vote.id, state = ?fle.state(), "election done");
            if elected && matches!(fle.state(), ServerState::Leading | ServerState::Following) {
                // `ELECTION_TIME`, as `Leader#lead` / `Follower#followLeader` add it (an
                // observer does not)
                self.stats.record_election(looking_since.elapsed());
            }
            let (exit, left) = match fle.state() {
                ServerState::Leading => self.lead(db, fle, rx, shutdown).await,
                ServerState::Following | ServerState::Observing => {
                    self.follow(db, vote.id, fle, rx, shutdown).await
                }
                ServerState::Looking => (
                    CoreExit::Reelect("still looking".to_owned()),
                    Some(Carried::Loaded(db)),
                ),
            };
            carried = left;
            match exit {
                CoreExit::Shutdown => return Ok(()),
                CoreExit::Fatal(e) => return Err(e),
                CoreExit::Reelect(reason) => {
                    tracing::warn!("electing again: {reason}");
                }
                CoreExit::Reconfigured {
                    leader,
                    zxid,
                    reason,
                } => {
                    tracing::warn!(leader, "leaving the role: {reason}");
                    designated = Some((leader, zxid));
                }
            }
        }
    }

    /// A config the election adopted from a notification is committed here too, on disk
    /// (`FastLeaderElection` calls `processReconfig(rqv, null, null, false)`).
    fn keep_election_config(
        &self,
        fle: &FastLeaderElection,
        vote: &Result<crate::quorum::election::Vote, crate::quorum::election::ElectionError>,
    ) {
        let newer = match vote {
            Err(crate::quorum::election::ElectionError::Reconfigured(qv)) => Some((**qv).clone()),
            _ => Some(fle.verifier().clone()),
        };
        if let Some(qv) = newer.filter(|qv| qv.version() > self.configs.committed().version()) {
            if self.configs.enabled {
                self.configs.set_committed(qv, true);
            }
        }
    }

    fn verifier(&self) -> QuorumVerifier {
        self.configs.committed()
    }

    /// The LOOKING phase with `readonlymode.enabled` (`QuorumPeer#run`'s roZkMgr): elect;
    /// once LOOKING has lasted max(2 s, tickTime), serve read-only clients from the loaded
    /// database meanwhile. When the election ends every read-only client is disconnected and
    /// the tree goes back to `db`. None on shutdown.
    async fn elect_serving_read_only(
        &self,
        db: &mut LearnerDb,
        looking_since: tokio::time::Instant,
        fle: &mut FastLeaderElection,
        rx: &mut mpsc::Receiver<CoreMsg>,
        shutdown: &CancellationToken,
    ) -> Option<Result<crate::quorum::election::Vote, crate::quorum::election::ElectionError>> {
        let zxid = db.last_processed_zxid();
        let epoch = db.epochs().current;
        let grace = Duration::from_millis(
            u64::try_from(self.cfg.tick_time_ms.max(READ_ONLY_GRACE_MS)).unwrap_or(2000),
        );
        let mut looking = self.looking_core();
        let mut read_only: Option<CoreState> = None;
        let (_idle_tx, mut idle_durable) = mpsc::unbounded_channel();
        let election = look_for_leader(fle, &self.cnx, zxid, epoch, shutdown);
        tokio::pin!(election);
        let grace_over = tokio::time::sleep_until(looking_since + grace);
        tokio::pin!(grace_over);
        let vote = loop {
            let waiting = read_only.is_none();
            let serving = read_only.as_mut().unwrap_or(&mut looking);
            tokio::select! {
                _ = shutdown.cancelled() => break None,
                v = &mut election => break Some(v),
                _ = run_role(serving, rx, &mut idle_durable, None) => break None,
                () = &mut grace_over, if waiting => {
                    tracing::info!("Attempting to start ReadOnlyZooKeeperServer");
                    read_only = Some(self.read_only_core(db.lend_tree(), db.sessions()));
                    tracing::info!("Read-only server started");
                }
            }
        };
        if let Some(mut ro) = read_only {
            // `ReadOnlyZooKeeperServer#shutdown`: closeAllConnections
            for c in ro.conns.values() {
                let _ = c.out.send(Outbound::Close);
            }
            let options = ro.tree.options();
            db.return_tree(std::mem::replace(
                &mut ro.tree,
                DataTree::with_options(options),
            ));
        }
        vote
    }

    /// The read-only server's core: the database's tree, no log (nothing is written), local
    /// sessions only (`localSessionsEnabled`).
    fn read_only_core(&self, mut tree: DataTree, global_sessions: Vec<(i64, i32)>) -> CoreState {
        let verifier = self.verifier();
        tree.init_config_node(
            verifier.to_string().as_bytes(),
            verifier.version(),
            wall_clock_ms(),
        );
        let mut core = self.core(tree, -1);
        core.role = Role::ReadOnly(ReadOnly {
            global_sessions: global_sessions.into_iter().map(|(id, _)| id).collect(),
            local_sessions: self.cfg.local_sessions_enabled,
        });
        core
    }

    fn db_options(&self) -> LearnerDbOptions {
        let cfg = &self.cfg;
        let mut opts = LearnerDbOptions::new(cfg.data_dir.clone());
        opts.data_log_dir = Some(cfg.data_log_dir.clone());
        opts.tree_options = tree_options(cfg);
        opts.log_options = txn_log_options(cfg);
        opts.snapshot_compression = snapshot_config(cfg).compression;
        opts.trust_empty_snapshot = cfg.snapshot_trust_empty;
        opts
    }

    fn core(&self, mut tree: DataTree, leader_id: i64) -> CoreState {
        if leader_id >= 0 {
            // `initConfigInZKDatabase`: at start-up and after every sync (a SNAP brings the
            // leader's copy, replaced by our own, ZOOKEEPER-2819)
            let verifier = self.verifier();
            tree.init_config_node(
                verifier.to_string().as_bytes(),
                verifier.version(),
                wall_clock_ms(),
            );
        }
        let mut config = core_config(&self.cfg);
        config.myid = self.my_id;
        config.local_sessions = self.cfg.local_sessions_enabled;
        config.local_sessions_upgrading = self.cfg.local_sessions_upgrading_enabled;
        let mut core = CoreState::new(config, tree, self.stats.clone());
        core.ensemble = Some(EnsembleInfo {
            quorum_size: self.verifier().voting_members().len() as u64,
            leader_id,
        });
        core.quorum_configs = Some(self.configs.clone());
        core
    }

    /// A core with nothing to serve: closes connections, answers the words "not serving".
    fn looking_core(&self) -> CoreState {
        let mut core = self.core(DataTree::with_options(tree_options(&self.cfg)), -1);
        core.serving = false;
        core
    }

    /// Run `state` in its role while answering LOOKING peers; close every client after.
    async fn serve(
        &self,
        mut state: CoreState,
        mut role: RoleChannels,
        fle: &mut FastLeaderElection,
        rx: &mut mpsc::Receiver<CoreMsg>,
        shutdown: &CancellationToken,
    ) -> (CoreExit, Option<Carried>) {
        let cancel = shutdown.child_token();
        let exit = tokio::select! {
            e = run_role(&mut state, rx, &mut role.log_events, Some(role.inbox)) => e,
            () = answer_notifications(fle, &self.cnx, &cancel, role.established, Some(self.configs.subscribe())) => {
                CoreExit::Reelect("the election restarted".to_owned())
            }
            () = shutdown.cancelled() => CoreExit::Shutdown,
        };
        cancel.cancel();
        for c in state.conns.values() {
            let _ = c.out.send(Outbound::Close);
        }
        // the role's tasks stop, the log stage commits what it holds
        let left = tokio::task::block_in_place(move || state.leave_database());
        (exit, left.map(Carried::Left))
    }

    async fn lead(
        &self,
        db: LearnerDb,
        fle: &mut FastLeaderElection,
        rx: &mut mpsc::Receiver<CoreMsg>,
        shutdown: &CancellationToken,
    ) -> (CoreExit, Option<Carried>) {
        let quorum = match quorum_addr(&self.verifier(), self.my_id).await {
            Ok((a, _)) => a,
            Err(e) => return (CoreExit::Fatal(e), None),
        };
        let listener = match bind_quorum_port(quorum, self.cfg.quorum_listen_on_all_ips).await {
            Ok(l) => l,
            Err(e) => {
                // the `Leader` constructor logs this and throws; `QuorumPeer#run` catches it
                // and goes LOOKING again: the peer stays and takes part in the next election
                tracing::error!(%quorum, error = %e, "Couldn't bind to {quorum}");
                tokio::time::sleep(RETRY_PAUSE).await;
                return (
                    CoreExit::Reelect(format!(
                        "Leader failed to initialize any of the following sockets: [{quorum}]"
                    )),
                    Some(Carried::Loaded(db)),
                );
            }
        };
        let parts = db.into_parts();
        let epochs = parts.epochs;
        let snap_dir = parts.storage.snap_dir.clone();
        let log_dir = parts.storage.log_dir.clone();
        let start = LeaderStart {
            accepted_epoch: epochs.accepted,
            current_epoch: epochs.current,
            last_processed_zxid: parts.tree.last_processed_zxid(),
            committed_log: parts.committed,
            sessions: parts.sessions.clone(),
        };
        let mut state = self.core(parts.tree, self.my_id);
        let (log_tx, log_events) = mpsc::unbounded_channel();
        let log = match LogStage::spawn(parts.log, log_tx, self.stats.clone()) {
            Ok(l) => l,
            Err(e) => return (CoreExit::Fatal(FatalError::LogThread(e)), None),
        };
        state.attach_persistence(log, snapshot_config(&self.cfg), &parts.sessions);
        let (established, epoch_rx) = oneshot::channel();
        // `reconfigEnabled` and a pending config come from the peer's configs in start_leading
        let settings = LeaderSettings::new(
            self.my_id,
            self.verifier(),
            u64::try_from(self.cfg.init_limit).unwrap_or(10),
            u64::try_from(self.cfg.sync_limit).unwrap_or(5),
        );
        let inbox = state.start_leading(LeaderSetup {
            settings,
            start,
            history: DiskHistory {
                snap_dir: snap_dir.clone(),
                log_dir,
                snapshot_size_factor: SNAPSHOT_SIZE_FACTOR,
            },
            snap_dir,
            listener: LearnerListener {
                listener,
                tls: self.tls.clone(),
                auth: self.auth.clone(),
                handshake_timeout: self.tick * u32::try_from(self.cfg.init_limit).unwrap_or(10),
            },
            established,
        });
        tracing::info!(%quorum, "LEADING");
        let role = RoleChannels {
            log_events,
            inbox,
            established: Some(epoch_rx),
        };
        self.serve(state, role, fle, rx, shutdown).await
    }

    async fn follow(
        &self,
        db: LearnerDb,
        leader: i64,
        fle: &mut FastLeaderElection,
        rx: &mut mpsc::Receiver<CoreMsg>,
        shutdown: &CancellationToken,
    ) -> (CoreExit, Option<Carried>) {
        let (leader_addr, leader_host) = match quorum_addr(&self.verifier(), leader).await {
            Ok(a) => a,
            Err(e) => return (CoreExit::Reelect(e.to_string()), Some(Carried::Loaded(db))),
        };
        // our line in the committed config decides (`updateLearnerType`); zoo.cfg's peerType
        // when we are not in it
        let observer = self
            .verifier()
            .all_members()
            .get(&self.my_id)
            .map_or(self.cfg.peer_type, |s| s.learner_type)
            == LearnerType::Observer;
        let timeouts = LearnerTimeouts {
            tick: self.tick,
            init_limit: u32::try_from(self.cfg.init_limit).unwrap_or(10),
            sync_limit: u32::try_from(self.cfg.sync_limit).unwrap_or(5),
        };
        // QuorumPeer's state lines: FOLLOWING, or OBSERVING for an observer
        if observer {
            tracing::info!(leader, %leader_addr, "OBSERVING: connecting to the leader");
        } else {
            tracing::info!(leader, %leader_addr, "FOLLOWING: connecting to the leader");
        }
        let mut looking = self.looking_core();
        let (_idle_tx, mut idle_durable) = mpsc::unbounded_channel();
        let answering = shutdown.child_token();
        let connected = tokio::select! {
            r = connect(leader_addr, &leader_host, timeouts, &self.tls, self.auth.as_ref()) => r,
            _ = run_role(&mut looking, rx, &mut idle_durable, None) => return (CoreExit::Shutdown, None),
            // LOOKING peers get our vote meanwhile, as WorkerReceiver answers them
            () = answer_notifications(fle, &self.cnx, &answering, None, Some(self.configs.subscribe())) => {
                return (
                    CoreExit::Reelect("the election restarted".to_owned()),
                    Some(Carried::Loaded(db)),
                );
            }
            () = shutdown.cancelled() => return (CoreExit::Shutdown, None),
        };
        answering.cancel();
        drop(looking);
        let stream = match connected {
            Ok(s) => s,
            Err(e) => {
                tokio::time::sleep(RETRY_PAUSE).await;
                return (
                    CoreExit::Reelect(format!(
                        "cannot connect to the leader at {leader_addr}: {e}"
                    )),
                    Some(Carried::Loaded(db)),
                );
            }
        };
        let parts = db.into_parts();
        let mut state = self.core(parts.tree, leader);
        let (log_tx, log_events) = mpsc::unbounded_channel();
        let log = match LogStage::spawn(parts.log, log_tx, self.stats.clone()) {
            Ok(l) => l,
            Err(e) => return (CoreExit::Fatal(FatalError::LogThread(e)), None),
        };
        state.attach_persistence(log, snapshot_config(&self.cfg), &parts.sessions);
        let (established, epoch_rx) = oneshot::channel();
        let inbox = state.start_following(FollowSetup {
            stream,
            cfg: LearnerConfig {
                sid: self.my_id,
                role: if observer {
                    LearnerRole::Observer
                } else {
                    LearnerRole::Follower
                },
                config_version: self.verifier().version(),
            },
            timeouts,
            epochs: parts.epochs,
            storage: parts.storage,
            config_node: (
                self.verifier().to_string().into_bytes(),
                self.verifier().version(),
            ),
            committed: parts.committed,
            established,
        });
        let role = RoleChannels {
            log_events,
            inbox,
            established: Some(epoch_rx),
        };
        self.serve(state, role, fle, rx, shutdown).await
    }
}
