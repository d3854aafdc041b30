//! The learner's side of the core (`Learner#registerWithLeader` / `#syncWithLeader`,
//! `FollowerZooKeeperServer`, `ObserverZooKeeperServer`, `FollowerRequestProcessor`,
//! `Learner#request` / `#validateSession`, the follower half of `CommitProcessor`): the core
//! is the one executor of the [`LearnerEngine`], from FOLLOWERINFO through the sync
//! (DIFF/TRUNC/SNAP) to broadcast. Txns go through the same log stage in both phases, and
//! its durable reports go back to the engine, which holds every ACK, epoch write, snapshot
//! and apply behind the fsync of what was logged before it. Once synced, local writes,
//! session creation and syncs go to the leader as REQUEST; COMMITs (INFORMs) are applied
//! and answer the local request they belong to; reads are served from the local tree.
//!
//! Invariants: no client is served before UPTODATE is handled; the database is replaced
//! only by a SNAP payload or a TRUNC reload, both before anything is logged on this
//! connection; a session's reads wait behind its forwarded writes and syncs; the leader
//! alone expires sessions.

use std::collections::{HashMap, HashSet, VecDeque};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::local::Upgrade;
use super::{
    connect_response, finish_reply, read_ctx, Completion, ConnId, CoreState, Queued, QuorumInbox,
    Role,
};
use crate::admin::stats::Counter;
use crate::jute::codes::{ErrorCode, OpCode};
use crate::jute::txn::{EncodedTxn, ErrorTxn, TxnBody};
use crate::persist::committed::CommittedLog;
use crate::persist::epoch::Epochs;
use crate::quorum::tls::QuorumStream;
use crate::quorum::zab::learner::{
    spawn_link, FromLeader, LearnerAction, LearnerConfig, LearnerEngine, LearnerStorage,
    LearnerTimeouts, LinkTasks,
};
use crate::quorum::zab::packet::{LearnerRequest, Sender, SessionTouch, ZabMessage};
use crate::quorum::zab::stream::SnapPayload;
use crate::request::Request;
use crate::tree::DataTree;

/// A client handshake waiting for the leader (createSession commit or REVALIDATE answer).
#[derive(Debug, Clone, Copy)]
pub(super) struct PendingConnect {
    conn: ConnId,
    timeout: i32,
    read_only: Option<bool>,
}

/// `QuorumPeer#configFromString`; a config that does not parse is logged and ignored.
fn parse_config(text: &[u8]) -> Option<crate::quorum::QuorumVerifier> {
    match crate::quorum::QuorumVerifier::from_config_str(&String::from_utf8_lossy(text)) {
        Ok(qv) => Some(qv),
        Err(e) => {
            tracing::error!("a reconfig carried a config that does not parse: {e}");
            None
        }
    }
}

/// What a learner starts from: the connection to its leader and the database on disk.
pub struct FollowSetup {
    pub stream: QuorumStream,
    pub cfg: LearnerConfig,
    pub timeouts: LearnerTimeouts,
    pub epochs: Epochs,
    pub storage: LearnerStorage,
    /// Our `/zookeeper/config` (data, version), put back after a sync replaced the tree.
    pub config_node: (Vec<u8>, i64),
    /// The newest committed txns of the database the core holds.
    pub committed: CommittedLog,
    /// Told the new epoch once synced (the election's vote then carries it).
    pub established: oneshot::Sender<i64>,
}

/// The follower / observer role.
pub struct Following {
    engine: LearnerEngine,
    link: LinkTasks,
    pub observer: bool,
    storage: LearnerStorage,
    config_node: (Vec<u8>, i64),
    established: Option<oneshot::Sender<i64>>,
    /// The newest txns applied (`ZKDatabase#committedLog`), for the day this node leads.
    committed: CommittedLog,
    /// The database that came with the SNAP packet being handled.
    snap: Option<Box<SnapPayload>>,
    /// `LearnerSessionTracker.touchTable`: sessions touched since the last PING.
    touched: HashMap<i64, i32>,
    connecting: HashMap<i64, PendingConnect>,
    revalidating: HashMap<i64, PendingConnect>,
    /// Sessions whose forwarded syncs wait for the leader's SYNC, oldest first.
    syncs: VecDeque<i64>,
    /// Forwarded ephemeral creates of local sessions that may not upgrade (session, xid):
    /// the error txn the leader makes of each is answered EphemeralOnLocalSession, the
    /// exception `checkUpgradeSession` left on the request.
    refused: HashSet<(i64, i32)>,
    /// When the link to the leader came up: `follower_sync_time` / `observer_sync_time`
    /// run from here to UPTODATE (3.8 starts after the epoch exchange, a loopback round
    /// trip later).
    linked: Instant,
}

impl Following {
    /// The sync with the leader is over (UPTODATE handled): from here on the tree holds
    /// nothing the txn log does not.
    pub(super) fn synced(&self) -> bool {
        self.established.is_none()
    }

    pub(super) fn take_committed_log(&mut self) -> CommittedLog {
        std::mem::take(&mut self.committed)
    }

    fn to_leader(&self, msg: &ZabMessage) {
        let mut buf = bytes::BytesMut::new();
        crate::jute::Jute::encode(&msg.to_packet(), &mut buf);
        let _ = self.link.to_leader.send(buf.freeze());
    }
}

impl CoreState {
    /// Register with the leader and sync (`Follower#followLeader` /
    /// `Observer#observeLeader`); clients are served from UPTODATE on.
    pub fn start_following(&mut self, setup: FollowSetup) -> QuorumInbox {
        let (tx, rx) = mpsc::unbounded_channel();
        let link = spawn_link(setup.stream, setup.timeouts, setup.storage.tree_options, tx);
        let mut engine = LearnerEngine::new(
            setup.cfg,
            setup.epochs.accepted,
            setup.epochs.current,
            self.tree.last_processed_zxid(),
        );
        let first = engine.start();
        self.role = Role::Following(Box::new(Following {
            engine,
            link,
            observer: setup.cfg.role == crate::quorum::zab::learner::LearnerRole::Observer,
            storage: setup.storage,
            config_node: setup.config_node,
            established: Some(setup.established),
            committed: setup.committed,
            snap: None,
            touched: HashMap::new(),
            connecting: HashMap::new(),
            revalidating: HashMap::new(),
            syncs: VecDeque::new(),
            refused: HashSet::new(),
            linked: Instant::now(),
        }));
        self.serving = false;
        self.learner_actions(first);
        QuorumInbox::Learner(rx)
    }

    fn following(&mut self) -> Option<&mut Following> {
        match &mut self.role {
            Role::Following(f) => Some(f),
            _ => None,
        }
    }

    pub(super) fn on_leader_message(&mut self, msg: FromLeader) {
        let p = match msg {
            FromLeader::Packet(p) => p,
            FromLeader::Snap { packet, payload } => {
                if let Some(f) = self.following() {
                    f.snap = Some(payload);
                }
                packet
            }
            FromLeader::Lost(reason) => return self.reelect(&reason),
        };
        let Some(f) = self.following() else { return };
        let parsed = ZabMessage::parse(&p, Sender::Leader);
        let counted = parsed
            .as_ref()
            .ok()
            .and_then(|m| broadcast_counter(m, f.observer))
            .filter(|_| f.engine.is_synced());
        let result = parsed
            .map_err(|e| e.to_string())
            .and_then(|m| f.engine.handle(m).map_err(|e| e.to_string()));
        if let Some(c) = counted {
            self.stats.count(c);
        }
        match result {
            Ok(actions) => self.learner_actions(actions),
            Err(e) => self.reelect(&format!("from the leader: {e}")),
        }
    }

    fn learner_actions(&mut self, actions: Vec<LearnerAction>) {
        for action in actions {
            self.learner_action(action);
        }
    }

    /// The log is durable through `zxid`: what the engine held behind it.
    pub(super) fn learner_durable(&mut self, zxid: i64) {
        let Some(f) = self.following() else { return };
        let due = f.engine.durable(zxid);
        self.learner_actions(due);
    }

    fn learner_action(&mut self, action: LearnerAction) {
        match action {
            LearnerAction::Send(msg) => {
                if let Some(f) = self.following() {
                    f.to_leader(&msg);
                }
            }
            LearnerAction::ReplyPing { zxid, authinfo } => {
                let Some(f) = self.following() else { return };
                let touches = f
                    .touched
                    .drain()
                    .map(|(session_id, timeout)| SessionTouch {
                        session_id,
                        timeout,
                    })
                    .collect();
                f.to_leader(&ZabMessage::PingReply {
                    zxid,
                    touches,
                    authinfo,
                });
            }
            LearnerAction::LogTxn(txn) => self.log_txn(&txn),
            LearnerAction::ApplyTxn(txn) => self.learner_apply(&txn),
            LearnerAction::SyncCompleted => self.sync_completed(),
            LearnerAction::Revalidated { session_id, valid } => self.revalidated(session_id, valid),
            LearnerAction::PersistAcceptedEpoch(e) => {
                let Some(f) = self.following() else { return };
                if let Err(err) = f.storage.write_accepted_epoch(e) {
                    self.reelect(&format!("writing acceptedEpoch: {err}"));
                }
            }
            LearnerAction::PersistCurrentEpoch(e) => {
                let Some(f) = self.following() else { return };
                if let Err(err) = f.storage.write_current_epoch(e) {
                    self.reelect(&format!("writing currentEpoch: {err}"));
                }
            }
            LearnerAction::LoadSnap { zxid } => {
                let Some(payload) = self.following().and_then(|f| f.snap.take()) else {
                    return self.reelect("SNAP without its payload");
                };
                tracing::info!(
                    zxid = format_args!("0x{zxid:x}"),
                    "loading the database the leader sent"
                );
                self.replace_database(payload.tree, &payload.sessions, CommittedLog::default());
            }
            LearnerAction::TruncateLog { zxid } => self.truncate_log(zxid),
            LearnerAction::TakeSnapshot { fsync } => {
                let Some(f) = self.following() else { return };
                let storage = f.storage.clone();
                let sessions = self.sessions.sessions();
                let started = Instant::now();
                let taken = tokio::task::block_in_place(|| {
                    storage.take_snapshot(&self.tree, &sessions, fsync)
                });
                match taken {
                    Ok(path) => {
                        tracing::info!("snapshot of the synced database: {}", path.display());
                        self.stats.record_snapshot(started.elapsed());
                    }
                    Err(err) => self.reelect(&format!("snapshot after the sync: {err}")),
                }
            }
            LearnerAction::LastSeenConfig(text) => {
                let Some(qv) = parse_config(&text) else {
                    return;
                };
                if let Some(pc) = &self.quorum_configs {
                    pc.set_last_seen(qv, true);
                }
            }
            LearnerAction::Activate {
                config,
                suggested_leader,
                zxid,
            } => self.activate(&config, suggested_leader, zxid),
            LearnerAction::Synced { new_epoch } => {
                let Some(f) = self.following() else { return };
                if let Some(tx) = f.established.take() {
                    let _ = tx.send(new_epoch);
                }
                let mode = f.engine.sync_mode();
                let observer = f.observer;
                let took = f.linked.elapsed();
                self.stats.record_learner_sync(took, observer);
                self.last_zxid = self.last_zxid.max(self.tree.last_processed_zxid());
                self.serving = true;
                tracing::info!(
                    zxid = format_args!("0x{:x}", self.tree.last_processed_zxid()),
                    sync = ?mode,
                    "{}: synced with the leader, serving",
                    if observer { "OBSERVING" } else { "FOLLOWING" }
                );
            }
        }
    }

    /// `QuorumPeer#processReconfig` on a learner: the config is committed (and written to
    /// disk), `/zookeeper/config` takes it (`initConfigInZKDatabase`; the reconfig txn applied
    /// next sets it again), and the role ends when our role or our leader changes.
    fn activate(&mut self, text: &[u8], suggested_leader: Option<i64>, zxid: i64) {
        let Some(pc) = self.quorum_configs.clone() else {
            return;
        };
        let Some(qv) = parse_config(text) else { return };
        let prev = pc.committed();
        let Some((committed_text, version, changed)) = self.commit_config(&pc, &qv, zxid) else {
            return;
        };
        if let Some(f) = self.following() {
            f.config_node = (committed_text, version);
        }
        if !changed {
            return;
        }
        let me = pc.my_id;
        let observer = self.following().is_some_and(|f| f.observer);
        // `updateLearnerType`: not in the view is a (non-voting) participant
        let role_change = qv.observing_members().contains(&me) != observer;
        let leader = self.ensemble.map_or(-1, |e| e.leader_id);
        let leader_change = match suggested_leader {
            // `updateVote`
            Some(designated) => designated != leader,
            None => {
                let addrs = |v: &crate::quorum::QuorumVerifier| {
                    v.is_voter(leader)
                        .then(|| v.all_members().get(&leader).map(|s| s.addresses.clone()))
                        .flatten()
                };
                let before = addrs(&prev);
                before.is_none() || before != addrs(&qv)
            }
        };
        if role_change || leader_change {
            // `updateVote(designatedLeader)` / `updateLearnerType` set `reconfigFlag`; without
            // a designated leader (not from a COMMITANDACTIVATE) the peer elects
            if let Some(designated) = suggested_leader {
                self.set_reconfig_vote(designated, zxid);
            }
            self.reelect("changes proposed in reconfig");
        }
    }

    /// `ZKDatabase#truncateLog`: the log stage cuts the log after `zxid`, then the database
    /// is reloaded from disk. Nothing else is logged on this connection yet.
    fn truncate_log(&mut self, zxid: i64) {
        let Some(f) = self.following() else { return };
        let storage = f.storage.clone();
        let Some(log) = self.log.as_mut() else {
            return self.reelect("TRUNC without a txn log");
        };
        let reloaded = tokio::task::block_in_place(|| {
            log.truncate(zxid)
                .map_err(|e| e.to_string())
                .and_then(|()| storage.reload(zxid).map_err(|e| e.to_string()))
        });
        match reloaded {
            Ok(r) => self.replace_database(r.tree, &r.sessions, r.committed),
            Err(err) => self.reelect(&format!("truncating the log to 0x{zxid:x}: {err}")),
        }
    }

    /// A sync replaced the database: the tree and the global session table, with our own
    /// `/zookeeper/config` (ZOOKEEPER-2819: a SNAP brings the leader's).
    fn replace_database(
        &mut self,
        mut tree: DataTree,
        sessions: &[(i64, i32)],
        committed: CommittedLog,
    ) {
        if let Some(f) = self.following() {
            let (data, version) = f.config_node.clone();
            tree.init_config_node(&data, version, super::wall_clock_ms());
            f.committed = committed;
        }
        self.tree = tree;
        let now = self.now_ms();
        for (id, _) in self.sessions.sessions() {
            self.sessions.remove(id);
        }
        for &(id, timeout) in sessions {
            self.sessions.add_session(id, timeout, now);
        }
        self.last_zxid = self.tree.last_processed_zxid();
    }

    /// `FinalRequestProcessor` on a learner: apply, then answer the local request it was.
    fn learner_apply(&mut self, encoded: &EncodedTxn) {
        let txn = encoded.txn();
        let applied = self.apply_txn(txn);
        if let Some(f) = self.following() {
            f.committed.push(encoded.zxid(), encoded.bytes().clone());
        }
        if self.reelect.is_some() {
            // the role ends with this txn (3.8's follower throws on COMMITANDACTIVATE's major
            // change before the commit is answered): its clients see the connection close
            self.last_zxid = self.last_zxid.max(txn.header.zxid);
            return;
        }
        self.last_zxid = self.last_zxid.max(txn.header.zxid);
        let session_id = txn.header.client_id;
        if txn.header.op == OpCode::CREATE_SESSION {
            // the session table is the global one (`ZKDatabase#sessionsWithTimeouts`): snapshots
            // taken here must list sessions created through any server
            if let TxnBody::CreateSession(t) = &txn.body {
                let now = self.now_ms();
                self.sessions.add_session(session_id, t.time_out, now);
            }
            if let Some(p) = self
                .following()
                .and_then(|f| f.connecting.remove(&session_id))
            {
                self.complete(
                    txn,
                    &applied,
                    Completion::Connect {
                        conn: p.conn,
                        timeout: p.timeout,
                        read_only: p.read_only,
                    },
                );
            }
            return;
        }
        let ours = self
            .session_queues
            .get(&session_id)
            .and_then(|q| q.front())
            .is_some_and(|q| {
                matches!(q, Queued::Forwarded { xid, req, .. }
                    if *xid == txn.header.cxid && !matches!(req, Request::Sync(_)))
            });
        if ours {
            if let Some(Queued::Forwarded {
                conn,
                xid,
                req,
                received,
            }) = self
                .session_queues
                .get_mut(&session_id)
                .and_then(|q| q.pop_front())
            {
                let refused = self
                    .following()
                    .is_some_and(|f| f.refused.remove(&(session_id, xid)));
                let mut answered = std::borrow::Cow::Borrowed(txn);
                if refused && txn.header.op == OpCode::ERROR {
                    let mut t = txn.clone();
                    t.body = TxnBody::Error(ErrorTxn {
                        err: ErrorCode::EPHEMERAL_ON_LOCAL_SESSION.0,
                    });
                    answered = std::borrow::Cow::Owned(t);
                }
                self.complete(
                    &answered,
                    &applied,
                    Completion::Reply {
                        conn,
                        xid,
                        req,
                        received,
                    },
                );
            }
        } else if txn.header.op == OpCode::CLOSE_SESSION {
            self.session_closed(session_id);
        }
    }

    /// The leader's SYNC: answer the oldest forwarded sync (`FollowerZooKeeperServer#sync`).
    fn sync_completed(&mut self) {
        let Some(session_id) = self.following().and_then(|f| f.syncs.pop_front()) else {
            tracing::warn!("SYNC from the leader with no sync pending");
            return;
        };
        let Some(queue) = self.session_queues.get_mut(&session_id) else {
            return;
        };
        let Some(pos) = queue.iter().position(|q| {
            matches!(
                q,
                Queued::Forwarded {
                    req: Request::Sync(_),
                    ..
                }
            )
        }) else {
            return;
        };
        let Some(Queued::Forwarded {
            conn,
            xid,
            req,
            received,
        }) = queue.remove(pos)
        else {
            return;
        };
        let result = read_ctx(self, conn, &[]).read(&req);
        let result =
            result.unwrap_or_else(|| Err(crate::jute::codes::ErrorCode::UNIMPLEMENTED).into());
        finish_reply(self, conn, xid, req.last_op(), result, received);
        self.release_session_queue(session_id, i64::MIN);
    }

    /// A write or sync of a client session goes to the leader (`FollowerRequestProcessor`).
    pub(super) fn forward(
        &mut self,
        conn: ConnId,
        xid: i32,
        op: OpCode,
        req: Request,
        body: Bytes,
        received: Instant,
    ) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let session_id = c.session_id;
        let authinfo = Some(c.auth.clone());
        let is_sync = matches!(req, Request::Sync(_));
        match self.check_upgrade(session_id, &req) {
            Upgrade::No => {}
            Upgrade::Refused => {
                // forwarded all the same (`FollowerRequestProcessor`): the leader, which does
                // not know the session, makes an error txn of it
                if let Some(f) = self.following() {
                    f.refused.insert((session_id, xid));
                }
            }
            Upgrade::Upgraded(timeout) => {
                // the createSession goes to the leader ahead of the create
                if let Some(f) = self.following() {
                    f.to_leader(&ZabMessage::Request(LearnerRequest {
                        session_id,
                        cxid: 0,
                        op: OpCode::CREATE_SESSION,
                        request: Bytes::copy_from_slice(&timeout.to_be_bytes()),
                        authinfo: None,
                    }));
                }
            }
        }
        self.enqueue(
            session_id,
            Queued::Forwarded {
                conn,
                xid,
                req,
                received,
            },
        );
        let Some(f) = self.following() else { return };
        if is_sync {
            f.syncs.push_back(session_id);
        }
        f.to_leader(&ZabMessage::Request(LearnerRequest {
            session_id,
            cxid: xid,
            op,
            request: body,
            authinfo,
        }));
    }

    /// A new session is created by the leader (`Learner#request` of createSession).
    pub(super) fn forward_create_session(
        &mut self,
        conn: ConnId,
        session_id: i64,
        timeout: i32,
        read_only: Option<bool>,
    ) {
        let Some(f) = self.following() else { return };
        f.connecting.insert(
            session_id,
            PendingConnect {
                conn,
                timeout,
                read_only,
            },
        );
        f.to_leader(&ZabMessage::Request(LearnerRequest {
            session_id,
            cxid: 0,
            op: OpCode::CREATE_SESSION,
            request: Bytes::copy_from_slice(&timeout.to_be_bytes()),
            authinfo: None,
        }));
    }

    /// A reconnect asks the leader whether the session lives (`Learner#validateSession`).
    pub(super) fn revalidate(
        &mut self,
        conn: ConnId,
        session_id: i64,
        timeout: i32,
        read_only: Option<bool>,
    ) {
        let Some(f) = self.following() else { return };
        f.revalidating.insert(
            session_id,
            PendingConnect {
                conn,
                timeout,
                read_only,
            },
        );
        f.to_leader(&ZabMessage::Revalidate {
            zxid: -1,
            session_id,
            timeout,
        });
    }

    fn revalidated(&mut self, session_id: i64, valid: bool) {
        let Some(p) = self
            .following()
            .and_then(|f| f.revalidating.remove(&session_id))
        else {
            return;
        };
        if !self.conns.contains_key(&p.conn) {
            return;
        }
        if !valid {
            tracing::info!(
                session = format_args!("0x{session_id:x}"),
                "the leader says the session is gone"
            );
            self.send(p.conn, connect_response(0, 0, p.read_only, false));
            self.close(p.conn);
            return;
        }
        self.resume_session(p.conn, session_id, p.timeout, p.read_only);
    }

    /// `LearnerSessionTracker#touchSession`: the leader hears of it in the next PING reply.
    pub(super) fn learner_touch(&mut self, session_id: i64) {
        let timeout = self.sessions.timeout(session_id).unwrap_or(0);
        if let Some(f) = self.following() {
            f.touched.insert(session_id, timeout);
        }
    }
}

/// What `Follower` / `Observer#processPacket` count for a packet in broadcast: a follower's
/// PROPOSAL and COMMIT, an observer's INFORM (as a commit).
fn broadcast_counter(m: &ZabMessage, observer: bool) -> Option<Counter> {
    match m {
        ZabMessage::Proposal { .. } if !observer => Some(Counter::LearnerProposalReceived),
        ZabMessage::Commit { .. } if !observer => Some(Counter::LearnerCommitReceived),
        ZabMessage::Inform { .. } if observer => Some(Counter::LearnerCommitReceived),
        _ => None,
    }
}
