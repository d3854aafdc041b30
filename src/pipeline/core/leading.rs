//! The leader's side of the core (`LeaderZooKeeperServer`, `ProposalRequestProcessor`,
//! `Leader#processSync`, `LearnerHandler`'s REQUEST hand-off): the [`LeaderEngine`] runs
//! inside the core task, so a prepped txn is proposed in the same step that prepped it, a
//! txn is applied when the engine commits it (a quorum of acks, the leader's own ack being
//! its log fsync), and a SNAP starts over the tree at exactly the zxid the engine planned
//! and streams in slices between requests ([`snap`]).
//!
//! Invariants: txns are proposed and committed in zxid order; nothing is proposed before a
//! quorum acked NEWLEADER (`serving`); learners' writes go through the same prep as local
//! ones; the leader alone expires sessions; while a learner's SNAP payload streams, every
//! packet for it is held and follows the payload.

mod snap;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::{Completion, CoreState, QuorumInbox, Role};
use crate::admin::stats::Counter;
use crate::admin::summary::SummaryValues;
use crate::jute::codes::{ErrorCode, OpCode};
use crate::jute::txn::TxnEntry;
use crate::persist::epoch::{write_epoch, ACCEPTED_EPOCH_FILENAME, CURRENT_EPOCH_FILENAME};
use crate::pipeline::core::snapshots::SliceOutcome;
use crate::pipeline::reconfig::LeaderConfigs;
use crate::quorum::zab::leader::net::{
    accept_loop, Incoming, LearnerListener, LearnerTraffic, Outgoing, TrafficCounts,
};
use crate::quorum::zab::leader::{
    Action, ConnId as LearnerConnId, DiskHistory, Event, LeaderEngine, LeaderSettings, LeaderStart,
    LearnerKind, SyncKind,
};
use crate::quorum::zab::packet::LearnerRequest;
use crate::request::Request;
use crate::session::SessionOwner;
use snap::SnapSend;
pub(super) use snap::SnapWork;

/// What leading needs besides the core's own state.
pub struct LeaderSetup {
    pub settings: LeaderSettings,
    pub start: LeaderStart,
    pub history: DiskHistory,
    /// Where the epoch files live (`dataDir/version-2`).
    pub snap_dir: PathBuf,
    /// The bound quorum port, with how it secures learner connections.
    pub listener: LearnerListener,
    /// Told the new epoch once a quorum acked NEWLEADER, for the election vote.
    pub established: oneshot::Sender<i64>,
}

struct LearnerSocket {
    tx: mpsc::UnboundedSender<Outgoing>,
    reader: JoinHandle<()>,
    /// Its SNAP payload while it streams.
    snap: Option<SnapSend>,
    remote: SocketAddr,
    established_ms: i64,
    traffic: Arc<LearnerTraffic>,
}

/// One learner handler as the admin commands report it (`LearnerHandler#getLearnerHandlerInfo`
/// plus what `Leader` knows of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LearnerHandlerInfo {
    pub sid: i64,
    pub kind: LearnerKind,
    /// In `forwardingFollowers` / `observingLearners` (synced, or being synced).
    pub forwarding: bool,
    pub remote: SocketAddr,
    pub established_ms: i64,
    pub traffic: TrafficCounts,
    /// `<sid>_learner_handler_qp_size` and `_qp_time_ms`.
    pub queue_summaries: [SummaryValues; 2],
}

/// The leader role: its engine and the learner sockets.
pub struct Leading {
    engine: LeaderEngine,
    history: DiskHistory,
    snap_dir: PathBuf,
    learners: HashMap<LearnerConnId, LearnerSocket>,
    acceptor: JoinHandle<()>,
    /// When a quorum acked NEWLEADER (`Leader#getUptime`).
    serving_since: Option<tokio::time::Instant>,
    established: Option<oneshot::Sender<i64>>,
}

impl Drop for Leading {
    fn drop(&mut self) {
        self.acceptor.abort();
        for (_, l) in self.learners.drain() {
            l.reader.abort();
        }
    }
}

impl Leading {
    pub fn engine(&self) -> &LeaderEngine {
        &self.engine
    }

    /// Milliseconds since the leader started serving (0 before).
    pub fn uptime_ms(&self) -> u64 {
        self.serving_since.map_or(0, |t| {
            u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX)
        })
    }

    /// Every learner handler that said who it is, by sid.
    pub fn learner_handlers(&self) -> Vec<LearnerHandlerInfo> {
        let mut all: Vec<LearnerHandlerInfo> = self
            .engine
            .learner_handlers()
            .into_iter()
            .filter_map(|(conn, sid, kind, forwarding)| {
                let socket = self.learners.get(&conn)?;
                Some(LearnerHandlerInfo {
                    sid,
                    kind,
                    forwarding,
                    remote: socket.remote,
                    established_ms: socket.established_ms,
                    traffic: socket.traffic.counts(),
                    queue_summaries: socket.traffic.queue_summaries(),
                })
            })
            .collect();
        all.sort_by_key(|l| l.sid);
        all
    }

    /// `Leader#resetObserverConnectionStats`: the observers' handlers only.
    pub fn reset_observer_connection_stats(&self) {
        for (conn, _, kind, forwarding) in self.engine.learner_handlers() {
            if kind == LearnerKind::Observer && forwarding {
                if let Some(socket) = self.learners.get(&conn) {
                    socket.traffic.reset();
                }
            }
        }
    }

    fn send(&mut self, conn: LearnerConnId, out: Outgoing) {
        if let Some(l) = self.learners.get_mut(&conn) {
            if let Outgoing::Packet(p) = &out {
                l.traffic.queued(p);
            }
            match &mut l.snap {
                Some(snap) => snap.hold(out),
                None => {
                    let _ = l.tx.send(out);
                }
            }
        }
    }

    /// What the learners' SNAPs in progress need: each one's.
    pub(super) fn snap_work(&self) -> impl Iterator<Item = SnapWork> + '_ {
        self.learners
            .values()
            .filter_map(|l| l.snap.as_ref().map(SnapSend::work))
    }

    /// One slice of every learner's SNAP in progress; a finished payload releases the
    /// packets held behind it.
    pub(super) fn snap_slices(&mut self, tree: &crate::tree::DataTree) {
        let mut gone = Vec::new();
        for (conn, l) in &mut self.learners {
            let Some(snap) = l.snap.as_mut() else {
                continue;
            };
            match snap.slice(tree, &l.tx) {
                SliceOutcome::More | SliceOutcome::Blocked => {}
                SliceOutcome::Sent => {
                    if let Some(snap) = l.snap.take() {
                        for out in snap.into_held() {
                            let _ = l.tx.send(out);
                        }
                    }
                }
                SliceOutcome::Failed => gone.push(*conn),
            }
        }
        for conn in gone {
            // its writer stopped: the reader reports the close to the engine
            tracing::warn!(conn, "SNAP abandoned: the learner's socket is gone");
            if let Some(l) = self.learners.get_mut(&conn) {
                l.snap = None;
            }
        }
    }
}

impl CoreState {
    /// Start leading (`Leader#lead`): accept learners, agree on the epoch, sync them; clients
    /// are served once a quorum acked NEWLEADER.
    pub fn start_leading(&mut self, setup: LeaderSetup) -> QuorumInbox {
        let (tx, rx) = mpsc::unbounded_channel();
        let acceptor = tokio::spawn(accept_loop(setup.listener, tx));
        let mut settings = setup.settings;
        if let Some(pc) = &self.quorum_configs {
            settings.reconfig_enabled = pc.enabled;
            settings.last_seen = Some(pc.last_seen());
        }
        let (engine, first) = LeaderEngine::new(settings, setup.start);
        self.serving = false;
        self.role = Role::Leading(Box::new(Leading {
            engine,
            history: setup.history,
            snap_dir: setup.snap_dir,
            learners: HashMap::new(),
            acceptor,
            serving_since: None,
            established: Some(setup.established),
        }));
        self.leader_actions(first);
        QuorumInbox::Leader(rx)
    }

    fn leader_event(&mut self, event: Event) {
        let Role::Leading(l) = &mut self.role else {
            return;
        };
        let leading = &mut **l;
        let actions = leading.engine.handle(event, &mut leading.history);
        self.leader_actions(actions);
    }

    pub(super) fn on_learner_socket(&mut self, inc: Incoming) {
        let event = match inc {
            Incoming::Accepted(conn, a) => {
                if let Role::Leading(l) = &mut self.role {
                    l.learners.insert(
                        conn,
                        LearnerSocket {
                            tx: a.tx,
                            reader: a.reader,
                            snap: None,
                            remote: a.remote,
                            established_ms: a.established_ms,
                            traffic: a.traffic,
                        },
                    );
                }
                Event::Connected(conn)
            }
            Incoming::Packet(conn, p) => {
                if let Role::Leading(l) = &self.role {
                    if let Some(socket) = l.learners.get(&conn) {
                        if l.engine.in_main_loop(conn) {
                            socket.traffic.received(&p);
                        }
                    }
                }
                Event::Packet(conn, p)
            }
            Incoming::Closed(conn) => {
                if let Role::Leading(l) = &mut self.role {
                    l.learners.remove(&conn);
                }
                Event::Disconnected(conn)
            }
        };
        self.leader_event(event);
    }

    pub(super) fn leader_half_tick(&mut self) {
        self.leader_event(Event::HalfTick);
    }

    pub(super) fn leader_durable(&mut self, zxid: i64) {
        self.leader_event(Event::LocalDurable(zxid));
    }

    /// `ProposalRequestProcessor`: the txn is already at the back of `in_flight`.
    pub(super) fn propose(&mut self, txn: TxnEntry) {
        let Role::Leading(l) = &mut self.role else {
            return;
        };
        let zxid = txn.header.zxid;
        match l.engine.propose(txn) {
            Ok(actions) => {
                self.stats.count(Counter::Proposal);
                self.leader_actions(actions)
            }
            Err(e) => {
                let rest = l.engine.take_actions();
                tracing::error!(zxid = format_args!("0x{zxid:x}"), "cannot propose: {e}");
                self.leader_actions(rest);
                self.reelect(&format!("cannot propose: {e}"));
            }
        }
    }

    fn leader_actions(&mut self, actions: Vec<Action>) {
        for action in actions {
            self.leader_action(action);
        }
    }

    fn leader_action(&mut self, action: Action) {
        let Role::Leading(l) = &mut self.role else {
            return;
        };
        match action {
            Action::Send { conn, packet } => l.send(conn, Outgoing::Packet(packet)),
            Action::SendSnap { conn, zxid } => self.send_snap(conn, zxid),
            Action::Close { conn, sid, reason } => {
                if let Some(s) = l.learners.remove(&conn) {
                    s.reader.abort();
                }
                tracing::warn!(?sid, "dropping learner: {reason}");
            }
            Action::LearnerLost { sid, .. } => tracing::info!(?sid, "learner gone"),
            Action::Synced { sid, kind, how, .. } => {
                tracing::info!(sid, ?kind, ?how, "learner synced");
                // `LearnerHandler` counts a TRUNC as a DIFF
                let counter = if how == SyncKind::Snap {
                    Counter::Snap
                } else {
                    Counter::Diff
                };
                self.stats.count(counter);
            }
            Action::PersistAcceptedEpoch(e) => {
                if let Err(err) = write_epoch(&l.snap_dir, ACCEPTED_EPOCH_FILENAME, e) {
                    self.reelect(&format!("writing acceptedEpoch: {err}"));
                }
            }
            Action::PersistCurrentEpoch(e) => {
                if let Err(err) = write_epoch(&l.snap_dir, CURRENT_EPOCH_FILENAME, e) {
                    self.reelect(&format!("writing currentEpoch: {err}"));
                }
            }
            Action::StartServing { zxid } => {
                tracing::info!(zxid = format_args!("0x{zxid:x}"), "leading: serving");
                l.serving_since = Some(tokio::time::Instant::now());
                if let Some(tx) = l.established.take() {
                    let _ = tx.send(zxid >> 32);
                }
                self.tree.set_last_processed_zxid(zxid);
                self.last_zxid = zxid;
                self.serving = true;
            }
            Action::Log(txn) => self.log_txn(&txn),
            Action::Commit(txn) => {
                self.stats.count(Counter::Commit);
                self.complete_through(txn.header.zxid)
            }
            Action::LearnerRequest { conn, sid, request } => {
                self.learner_request(conn, sid, request)
            }
            Action::Revalidate {
                conn,
                sid,
                zxid,
                session_id,
                timeout,
            } => self.revalidate_learner_session(conn, sid, zxid, session_id, timeout),
            Action::SessionTouches { touches, .. } => {
                let now = self.now_ms();
                for t in touches {
                    self.sessions
                        .touch_with_timeout(t.session_id, t.timeout, now);
                }
            }
            Action::LastSeenConfig(qv) => {
                if let Some(pc) = &self.quorum_configs {
                    pc.set_last_seen(qv, true);
                }
            }
            Action::Activate {
                config,
                designated_leader,
                zxid,
            } => self.leader_activate(config, designated_leader, zxid),
            Action::StepDown { reason } => self.reelect(&reason),
        }
    }

    /// `QuorumPeer#processReconfig` on the leader, before the reconfig txn is applied: the
    /// config is committed (on disk) and `/zookeeper/config` takes it. A leader that is not
    /// the designated one commits nothing more; its followers leave it for the designated
    /// leader, and it steps down when it no longer has a synced quorum (as 3.8 does).
    fn leader_activate(
        &mut self,
        config: crate::quorum::QuorumVerifier,
        designated_leader: i64,
        zxid: i64,
    ) {
        let Some(pc) = self.quorum_configs.clone() else {
            return;
        };
        match self.commit_config(&pc, &config, zxid) {
            Some((_, _, true)) => {}
            _ => return,
        }
        let role_change = config.observing_members().contains(&pc.my_id);
        if role_change || designated_leader != pc.my_id {
            // `updateLearnerType` / `updateVote` set `reconfigFlag`: once this role ends the
            // peer follows (or observes) the designated leader without an election
            self.set_reconfig_vote(designated_leader, zxid);
        }
        if designated_leader != pc.my_id {
            tracing::warn!(
                designated_leader,
                "this leader is not the designated leader of the new configuration: it commits \
                 nothing more"
            );
        }
    }

    /// What the leader's prep of `reconfig` checks against (`None` off a leader).
    pub(super) fn leader_configs(&self) -> Option<LeaderConfigs> {
        let (Role::Leading(l), Some(pc)) = (&self.role, &self.quorum_configs) else {
            return None;
        };
        Some(LeaderConfigs {
            committed: pc.committed(),
            last_seen: pc.last_seen(),
            synced: l.engine.synced_followers(),
            standalone_enabled: self.config.prep.standalone_enabled,
        })
    }

    /// `LearnerHandler#run`: SNAP, then `ZKDatabase#serializeSnapshot` (streamed from the
    /// live tree, see [`snap`]), then "BenWasHere". The engine's actions are carried out in
    /// order and the commits before this one are applied, so the tree is at `zxid`.
    fn send_snap(&mut self, conn: LearnerConnId, zxid: i64) {
        let Role::Leading(l) = &mut self.role else {
            return;
        };
        if self.tree.last_processed_zxid() != zxid {
            tracing::warn!(
                "SNAP at 0x{zxid:x} but the tree is at 0x{:x}",
                self.tree.last_processed_zxid()
            );
        }
        let sessions = l.engine.sessions();
        let Some(socket) = l.learners.get_mut(&conn) else {
            return;
        };
        match SnapSend::start(&self.tree, &sessions, &socket.tx) {
            Ok(snap) => socket.snap = Some(snap),
            Err(e) => tracing::warn!("serializing the snapshot for a learner: {e}"),
        }
    }

    /// `Leader#revalidateSession`: valid if it is a live global session
    /// (`checkIfValidGlobalSession`, which touches it); the learner connection owns it then.
    fn revalidate_learner_session(
        &mut self,
        conn: LearnerConnId,
        sid: i64,
        zxid: i64,
        session_id: i64,
        timeout: i32,
    ) {
        let now = self.now_ms();
        let global = !self.local_sessions_on() || self.sessions.contains(session_id);
        let valid = global && self.sessions.touch_with_timeout(session_id, timeout, now);
        if valid {
            self.sessions
                .set_owner(session_id, Some(SessionOwner::Learner(conn)));
        }
        tracing::debug!(
            sid,
            session = format_args!("0x{session_id:x}"),
            valid,
            "revalidated"
        );
        let Role::Leading(l) = &mut self.role else {
            return;
        };
        let actions = l.engine.revalidate_answer(conn, zxid, session_id, valid);
        self.leader_actions(actions);
    }

    /// A learner's forwarded request (`LearnerHandler` → prep → propose; the learner
    /// connection is the owner `checkSession` compares with).
    fn learner_request(&mut self, conn: LearnerConnId, sid: i64, r: LearnerRequest) {
        let session_id = r.session_id;
        let owner = SessionOwner::Learner(conn);
        match r.op {
            OpCode::SYNC => {
                if let Role::Leading(l) = &mut self.role {
                    let actions = l.engine.learner_sync(sid);
                    self.leader_actions(actions);
                }
            }
            OpCode::CREATE_SESSION => {
                let Some(timeout) = r
                    .request
                    .get(..4)
                    .and_then(|b| <[u8; 4]>::try_from(b).ok())
                    .map(i32::from_be_bytes)
                else {
                    // `PrepRequestProcessor#pRequest2Txn`'s getInt underflows: an ErrorTxn
                    tracing::warn!(sid, "createSession request without a timeout");
                    let txn = self
                        .prep_ctx(session_id, r.cxid, &[])
                        .error(ErrorCode::MARSHALLING_ERROR);
                    self.submit_txn(txn, Completion::Internal);
                    return;
                };
                let now = self.now_ms();
                self.sessions.add_session(session_id, timeout, now);
                self.sessions.set_owner(session_id, Some(owner));
                let txn = self
                    .prep_ctx(session_id, r.cxid, &[])
                    .create_session(timeout);
                self.submit_txn(txn, Completion::Internal);
            }
            op => {
                let req = match Request::decode(op, &r.request) {
                    Ok(Some(req)) => req,
                    Ok(None) => {
                        tracing::warn!(sid, op = op.0, "learner forwarded an unknown request");
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(sid, op = op.0, "malformed forwarded request: {e}");
                        Request::Malformed(op)
                    }
                };
                if !req.is_write() {
                    tracing::debug!(sid, op = op.0, "learner forwarded a read; ignored");
                    return;
                }
                let now = self.now_ms();
                let auth = r.authinfo.unwrap_or_default();
                let live = self.sessions.touch(session_id, now);
                // a closeSession is not checked against its owner (expiry submits it without
                // being the owner); one of a session gone already is an error txn
                let checked = if matches!(req, Request::CloseSession) {
                    if live {
                        Ok(())
                    } else {
                        Err(ErrorCode::SESSION_EXPIRED)
                    }
                } else {
                    self.leader_check_session(session_id, owner, &req)
                };
                let leader = self.leader_configs();
                let mut ctx = self.prep_ctx(session_id, r.cxid, &auth);
                let txn = match (checked, &req, &leader) {
                    (Ok(()), Request::Reconfig(rr), Some(leader)) => ctx.reconfig(rr, leader),
                    (Ok(()), _, _) => ctx.prep(&req),
                    (Err(err), _, _) => ctx.error(err),
                };
                self.submit_txn(txn, Completion::Internal);
            }
        }
    }
}
