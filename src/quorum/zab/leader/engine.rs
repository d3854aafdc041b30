//! The leader's state machine up to broadcast: `LearnerHandler#run`'s handshake,
//! `Leader#getEpochToPropose`, `#waitForEpochAck`, `#waitForNewLeaderAck`, `#startZkServer`
//! and `LearnerHandler#syncFollower` + `Leader#startForwarding` (the plan itself is
//! [`crate::quorum::zab::sync_plan::plan_sync`]). Broadcast and timers are in `broadcast`.
//!
//! Invariants: the engine does no I/O and reads no clock; actions must be carried out in the
//! order given (an epoch is persisted before the packets that follow it are sent); every
//! per-learner wait of the reference (`initLimit` × tickTime) is a tick deadline here.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bytes::Bytes;
use tracing::{info, warn};

use crate::jute::quorum::{LearnerInfo, QuorumPacket};
use crate::jute::txn::EncodedTxn;
use crate::jute::Jute;
use crate::persist::committed::CommittedLog;
use crate::quorum::verifier::QuorumVerifier;
use crate::quorum::zab::packet::{QuorumPacketType as T, ZabMessage, PROTOCOL_VERSION};

use crate::quorum::zab::{counter_of, epoch_of, make_zxid};

pub use super::types::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// `getEpochToPropose`: collecting acceptedEpochs.
    Discovery,
    /// `waitForEpochAck`: collecting ACKEPOCHs.
    EpochAck,
    /// `waitForNewLeaderAck`.
    Sync,
    Broadcast,
    Stopped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stage {
    AwaitInfo,
    /// Info read; LEADERINFO waits for the epoch.
    AwaitEpoch,
    AwaitAckEpoch,
    /// ACKEPOCH read; sync waits for the epoch quorum.
    AwaitEpochQuorum,
    AwaitNewLeaderAck,
    /// NEWLEADER acked; UPTODATE waits for the leader to serve.
    AwaitServing,
    Active,
}

#[derive(Debug, Clone)]
pub(super) struct Learner {
    pub(super) sid: Option<i64>,
    pub(super) kind: LearnerKind,
    pub(super) stage: Stage,
    /// `tickOfNextAckDeadline`.
    pub(super) deadline: u64,
    /// In `forwardingFollowers` / `observingLearners`.
    pub(super) forwarding: bool,
    /// The sender thread runs: PINGs go out.
    pub(super) pinging: bool,
    /// Proposals sent and not acked: zxid → tick sent (`SyncLimitCheck`).
    pub(super) unacked: BTreeMap<i64, u64>,
    pub(super) peer_last_zxid: i64,
}

/// `Proposal` with its `qvAcksetPairs`: the committed config when proposed, and the last
/// seen one while a reconfig is in flight; it commits once the acks hold a quorum of each.
#[derive(Debug, Clone)]
pub(super) struct Proposal {
    pub(super) txn: EncodedTxn,
    /// Every sid that acked (each config counts only its voters).
    pub(super) acks: BTreeSet<i64>,
    pub(super) verifiers: Vec<QuorumVerifier>,
}

impl Proposal {
    /// `Proposal#hasAllQuorums`.
    pub(super) fn has_all_quorums(&self) -> bool {
        all_quorums(&self.acks, &self.verifiers)
    }

    /// `qv`'s ackset (`Proposal#addAck`).
    pub(super) fn ackset(&self, qv: &QuorumVerifier) -> BTreeSet<i64> {
        ackset(&self.acks, qv)
    }
}

/// The acks of `qv`'s voters.
pub(super) fn ackset(acks: &BTreeSet<i64>, qv: &QuorumVerifier) -> BTreeSet<i64> {
    acks.iter().copied().filter(|s| qv.is_voter(*s)).collect()
}

/// `SyncedLearnerTracker#hasAllQuorums`: the acks hold a quorum of every config.
pub(super) fn all_quorums(acks: &BTreeSet<i64>, verifiers: &[QuorumVerifier]) -> bool {
    verifiers
        .iter()
        .all(|qv| qv.contains_quorum(&ackset(acks, qv)))
}

/// The leader (see the module doc).
pub struct LeaderEngine {
    pub(super) s: LeaderSettings,
    pub(super) phase: Phase,
    pub(super) tick: u64,
    pub(super) tick_skip: bool,
    pub(super) phase_deadline: u64,
    pub(super) epoch: i64,
    /// `leaderStateSummary`: (currentEpoch, last zxid).
    summary: (i64, i64),
    connecting: BTreeSet<i64>,
    electing: BTreeSet<i64>,
    newleader_acks: BTreeSet<i64>,
    pub(super) learners: BTreeMap<ConnId, Learner>,
    pub(super) last_processed: i64,
    pub(super) last_proposed: i64,
    pub(super) last_committed: i64,
    pub(super) outstanding: BTreeMap<i64, Proposal>,
    pub(super) committed_log: CommittedLog,
    pub(super) sessions: HashMap<i64, i32>,
    /// `Leader.pendingSyncs`: (zxid to commit first, learner sid).
    pub(super) pending_syncs: Vec<(i64, i64)>,
    /// `ProposalStats`: last, smallest, largest proposal in bytes (-1 before the first).
    pub(super) proposal_sizes: (i64, i64, i64),
    /// The config of a reconfig proposed and not committed (`lastSeenQuorumVerifier` when
    /// newer than the committed `s.verifier`).
    pub(super) last_seen: Option<QuorumVerifier>,
    /// `Leader.allowedToCommit`: false once a committed reconfig designated another leader.
    pub(super) allowed_to_commit: bool,
    pub(super) out: Vec<Action>,
}

impl LeaderEngine {
    /// Starts leading: the leader's own `getEpochToPropose` (it counts itself).
    pub fn new(s: LeaderSettings, start: LeaderStart) -> (LeaderEngine, Vec<Action>) {
        let committed_log = start.committed_log.with_capacity(s.commit_log_count);
        let mut e = LeaderEngine {
            phase: Phase::Discovery,
            tick: 0,
            tick_skip: true,
            phase_deadline: s.init_limit,
            epoch: start.accepted_epoch + 1,
            summary: (start.current_epoch, start.last_processed_zxid),
            connecting: BTreeSet::new(),
            electing: BTreeSet::new(),
            newleader_acks: BTreeSet::new(),
            learners: BTreeMap::new(),
            last_processed: start.last_processed_zxid,
            last_proposed: start.last_processed_zxid,
            last_committed: start.last_processed_zxid,
            outstanding: BTreeMap::new(),
            committed_log,
            sessions: start.sessions.into_iter().collect(),
            pending_syncs: Vec::new(),
            proposal_sizes: (-1, -1, -1),
            last_seen: s
                .last_seen
                .clone()
                .filter(|ls| ls.version() > s.verifier.version()),
            allowed_to_commit: true,
            out: Vec::new(),
            s,
        };
        let me = e.s.my_sid;
        e.connecting.insert(me);
        e.check_epoch_quorum();
        let actions = std::mem::take(&mut e.out);
        (e, actions)
    }

    /// The epoch this leader leads (final once a quorum reported its acceptedEpoch).
    pub fn epoch(&self) -> i64 {
        self.epoch
    }

    pub fn is_serving(&self) -> bool {
        self.phase == Phase::Broadcast
    }

    pub fn is_stopped(&self) -> bool {
        self.phase == Phase::Stopped
    }

    pub fn last_proposed(&self) -> i64 {
        self.last_proposed
    }

    /// The newest committed txns (`ZKDatabase#committedLog`), for the next role.
    pub fn committed_log(&self) -> &CommittedLog {
        &self.committed_log
    }

    pub fn last_committed(&self) -> i64 {
        self.last_committed
    }

    /// The committed config (`getQuorumVerifier`).
    pub fn committed_config(&self) -> &QuorumVerifier {
        &self.s.verifier
    }

    /// The config a proposed reconfig carries, while it is not committed.
    pub fn pending_config(&self) -> Option<&QuorumVerifier> {
        self.last_seen.as_ref()
    }

    /// Whether this leader still commits (a committed reconfig may designate another).
    pub fn allowed_to_commit(&self) -> bool {
        self.allowed_to_commit
    }

    /// The leader and the followers it forwards to that are alive (`LearnerHandler#synced`):
    /// whose synced voters `Leader#isQuorumSynced` counts.
    pub fn synced_followers(&self) -> BTreeSet<i64> {
        let mut ids: BTreeSet<i64> = self
            .learners
            .values()
            .filter(|l| l.forwarding && l.kind == LearnerKind::Follower)
            .filter(|l| l.deadline >= self.tick)
            .filter_map(|l| l.sid)
            .collect();
        ids.insert(self.s.my_sid);
        ids
    }

    /// Learner connections (`Leader#getLearners`).
    pub fn learner_count(&self) -> usize {
        self.learners.len()
    }

    /// Forwarded syncs waiting for a commit (`Leader#getNumPendingSyncs`).
    pub fn pending_sync_count(&self) -> usize {
        self.pending_syncs.len()
    }

    /// (last, min, max) proposal size in bytes; -1 before the first proposal.
    pub fn proposal_sizes(&self) -> (i64, i64, i64) {
        self.proposal_sizes
    }

    /// Global sessions the leader knows (ascending), as a SNAP carries them.
    pub fn sessions(&self) -> Vec<(i64, i32)> {
        let mut v: Vec<(i64, i32)> = self.sessions.iter().map(|(k, v)| (*k, *v)).collect();
        v.sort_unstable();
        v
    }

    /// Set or forget a session in the table REVALIDATE is answered from.
    pub fn set_session(&mut self, session_id: i64, timeout: Option<i32>) {
        match timeout {
            Some(t) => self.sessions.insert(session_id, t),
            None => self.sessions.remove(&session_id),
        };
    }

    /// `Leader#revalidateSession`'s answer, on the same packet type, to learner `conn`.
    pub fn revalidate_answer(
        &mut self,
        conn: ConnId,
        zxid: i64,
        session_id: i64,
        valid: bool,
    ) -> Vec<Action> {
        let answer = ZabMessage::RevalidateAnswer {
            zxid,
            session_id,
            valid,
        };
        self.send(conn, answer.to_packet());
        std::mem::take(&mut self.out)
    }

    /// Actions left by a call that returned an error (a rollover's step-down).
    pub fn take_actions(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.out)
    }

    /// Feed one event; returns the actions to carry out, in order.
    pub fn handle(&mut self, event: Event, history: &mut dyn SyncHistory) -> Vec<Action> {
        if self.phase != Phase::Stopped {
            match event {
                Event::Connected(conn) => self.on_connected(conn),
                Event::Packet(conn, p) => self.on_packet(conn, &p, history),
                Event::Disconnected(conn) => {
                    if let Some(l) = self.learners.remove(&conn) {
                        info!(sid = ?l.sid, "learner connection closed");
                        self.out.push(Action::LearnerLost { conn, sid: l.sid });
                    }
                }
                Event::HalfTick => self.on_half_tick(),
                Event::LocalDurable(zxid) => self.on_local_durable(zxid),
            }
        }
        std::mem::take(&mut self.out)
    }

    fn on_connected(&mut self, conn: ConnId) {
        // `getTickOfInitialAckDeadline`
        let deadline = self.tick + self.s.init_limit + self.s.sync_limit;
        self.learners.insert(
            conn,
            Learner {
                sid: None,
                kind: LearnerKind::Follower,
                stage: Stage::AwaitInfo,
                deadline,
                forwarding: false,
                pinging: false,
                unacked: BTreeMap::new(),
                peer_last_zxid: -1,
            },
        );
    }

    pub(super) fn close(&mut self, conn: ConnId, reason: String) {
        if let Some(l) = self.learners.remove(&conn) {
            warn!(sid = ?l.sid, "closing learner connection: {reason}");
            self.out.push(Action::Close {
                conn,
                sid: l.sid,
                reason,
            });
        }
    }

    pub(super) fn send(&mut self, conn: ConnId, packet: QuorumPacket) {
        self.out.push(Action::Send { conn, packet });
    }

    pub(super) fn is_participant(&self, sid: i64) -> bool {
        self.s.verifier.is_voter(sid)
    }

    fn on_packet(&mut self, conn: ConnId, p: &QuorumPacket, history: &mut dyn SyncHistory) {
        let Some(l) = self.learners.get(&conn) else {
            return;
        };
        let stage = l.stage;
        match stage {
            Stage::AwaitInfo => self.on_learner_info(conn, p),
            Stage::AwaitAckEpoch => self.on_ack_epoch(conn, p, history),
            Stage::AwaitEpoch | Stage::AwaitEpochQuorum => {
                // the reference's handler is blocked and reads nothing yet
                self.close(
                    conn,
                    format!("unexpected {} during the epoch handshake", name(p)),
                );
            }
            Stage::AwaitNewLeaderAck => self.on_newleader_ack(conn, p),
            Stage::AwaitServing | Stage::Active => self.on_broadcast_packet(conn, p),
        }
    }

    /// `LearnerHandler#run`: the first packet is FOLLOWERINFO or OBSERVERINFO.
    fn on_learner_info(&mut self, conn: ConnId, p: &QuorumPacket) {
        let kind = match T(p.packet_type) {
            T::FOLLOWERINFO => LearnerKind::Follower,
            T::OBSERVERINFO => LearnerKind::Observer,
            _ => {
                let why = format!(
                    "First packet {} is not FOLLOWERINFO or OBSERVERINFO!",
                    name(p)
                );
                return self.close(conn, why);
            }
        };
        // Like `LearnerHandler#run`, read only the fields that are there.
        let d = p.data.as_deref().unwrap_or_default();
        let Some(sid) = d
            .get(..8)
            .map(|b| i64::from_be_bytes(b.try_into().unwrap_or([0; 8])))
        else {
            return self.close(conn, "LearnerInfo without a server id".to_owned());
        };
        if d.len() >= LearnerInfo::default().to_vec().len() {
            if let Ok(info) = LearnerInfo::from_bytes(d) {
                if info.config_version > self.s.verifier.version() {
                    let why =
                        "Follower is ahead of the leader (has a later activated configuration)";
                    return self.close(conn, why.to_owned());
                }
            }
        }
        if !self.s.verifier.all_members().contains_key(&sid) {
            info!(sid, "learner not in the current config");
        }
        let dup: Vec<ConnId> = self
            .learners
            .iter()
            .filter(|(c, l)| **c != conn && l.sid == Some(sid))
            .map(|(c, _)| *c)
            .collect();
        for old in dup {
            self.close(old, format!("sid {sid} connected again"));
        }
        if let Some(l) = self.learners.get_mut(&conn) {
            l.sid = Some(sid);
            l.kind = kind;
            l.stage = Stage::AwaitEpoch;
        }
        info!(sid, ?kind, "learner connected");
        if self.phase == Phase::Discovery {
            let accepted = epoch_of(p.zxid);
            if accepted >= self.epoch {
                self.epoch = accepted + 1;
            }
            if self.is_participant(sid) {
                self.connecting.insert(sid);
            }
            self.check_epoch_quorum();
        } else {
            self.send_leader_info(conn);
        }
    }

    fn check_epoch_quorum(&mut self) {
        if self.phase != Phase::Discovery || !self.s.verifier.contains_quorum(&self.connecting) {
            return;
        }
        info!(epoch = self.epoch, "a quorum reported its accepted epoch");
        self.phase = Phase::EpochAck;
        self.phase_deadline = self.tick + self.s.init_limit;
        self.out.push(Action::PersistAcceptedEpoch(self.epoch));
        self.last_proposed = make_zxid(self.epoch, 0);
        if self.s.reconfig_enabled && self.s.verifier.version() == 0 && self.last_seen.is_none() {
            // ZOOKEEPER-1783: an initial config gets the new epoch's first zxid as version,
            // agreed through NEWLEADER and activated once a quorum acked it
            let mut qv = self.s.verifier.clone();
            qv.set_version(self.last_proposed);
            self.last_seen = Some(qv.clone());
            self.out.push(Action::LastSeenConfig(qv));
        }
        let me = self.s.my_sid;
        self.electing.insert(me);
        let waiting: Vec<ConnId> = self.in_stage(Stage::AwaitEpoch);
        for conn in waiting {
            self.send_leader_info(conn);
        }
        self.check_epoch_ack_quorum();
    }

    fn in_stage(&self, stage: Stage) -> Vec<ConnId> {
        self.learners
            .iter()
            .filter(|(_, l)| l.stage == stage)
            .map(|(c, _)| *c)
            .collect()
    }

    fn send_leader_info(&mut self, conn: ConnId) {
        let msg = ZabMessage::LeaderInfo {
            zxid: make_zxid(self.epoch, 0),
            protocol_version: PROTOCOL_VERSION,
        };
        self.send(conn, msg.to_packet());
        if let Some(l) = self.learners.get_mut(&conn) {
            l.stage = Stage::AwaitAckEpoch;
        }
    }

    /// `Leader#waitForEpochAck` for one learner.
    fn on_ack_epoch(&mut self, conn: ConnId, p: &QuorumPacket, history: &mut dyn SyncHistory) {
        let (zxid, current_epoch) =
            match ZabMessage::parse(p, super::super::packet::Sender::Learner) {
                Ok(ZabMessage::AckEpoch {
                    zxid,
                    current_epoch,
                }) => (zxid, i64::from(current_epoch)),
                _ => return self.close(conn, format!("{} is not ACKEPOCH", name(p))),
            };
        let sid = self.learners.get(&conn).and_then(|l| l.sid).unwrap_or(-1);
        if let Some(l) = self.learners.get_mut(&conn) {
            l.peer_last_zxid = zxid;
            l.stage = Stage::AwaitEpochQuorum;
        }
        if self.phase != Phase::EpochAck {
            return self.sync_learner(conn, history);
        }
        if current_epoch != -1 {
            let (my_epoch, my_zxid) = self.summary;
            if current_epoch > my_epoch || (current_epoch == my_epoch && zxid > my_zxid) {
                let why = format!(
                    "Follower is ahead of the leader, leader summary: {my_epoch} (current epoch), \
                     {my_zxid} (last zxid)"
                );
                return self.close(conn, why);
            }
            if zxid != -1 && self.is_participant(sid) {
                self.electing.insert(sid);
            }
        }
        self.check_epoch_ack_quorum_with(history);
    }

    fn check_epoch_ack_quorum(&mut self) {
        self.check_epoch_ack_quorum_with(&mut ());
    }

    fn check_epoch_ack_quorum_with(&mut self, history: &mut dyn SyncHistory) {
        if self.phase != Phase::EpochAck || !self.s.verifier.contains_quorum(&self.electing) {
            return;
        }
        info!(epoch = self.epoch, "a quorum acked the new epoch");
        self.phase = Phase::Sync;
        self.phase_deadline = self.tick + self.s.init_limit;
        self.out.push(Action::PersistCurrentEpoch(self.epoch));
        let me = self.s.my_sid;
        self.newleader_acks.insert(me);
        for conn in self.in_stage(Stage::AwaitEpochQuorum) {
            self.sync_learner(conn, history);
        }
        self.check_newleader_quorum();
    }

    /// The first packet after NEWLEADER must be its ACK (`LearnerHandler#run`).
    fn on_newleader_ack(&mut self, conn: ConnId, p: &QuorumPacket) {
        if T(p.packet_type) != T::ACK {
            let why = format!(
                "Next packet was supposed to be an ACK, but received packet: {}",
                name(p)
            );
            return self.close(conn, why);
        }
        if counter_of(p.zxid) != 0 {
            // a proposal forwarded during the sync, acked early
            return self.on_broadcast_packet(conn, p);
        }
        let sid = self.learners.get(&conn).and_then(|l| l.sid).unwrap_or(-1);
        let tick = self.tick + self.s.sync_limit;
        if let Some(l) = self.learners.get_mut(&conn) {
            l.stage = Stage::AwaitServing;
            l.deadline = tick;
        }
        match self.phase {
            Phase::Sync if p.zxid == make_zxid(self.epoch, 0) => {
                self.newleader_acks.insert(sid);
                self.check_newleader_quorum();
            }
            Phase::Sync => {
                warn!(
                    sid,
                    "NEWLEADER ACK from sid: {sid} is from a different epoch"
                );
            }
            _ => self.send_uptodate(conn),
        }
    }

    fn check_newleader_quorum(&mut self) {
        // `newLeaderProposal`: a quorum of the committed config and of a pending one
        let verifiers: Vec<QuorumVerifier> = std::iter::once(self.s.verifier.clone())
            .chain(self.last_seen.clone())
            .collect();
        if self.phase != Phase::Sync || !all_quorums(&self.newleader_acks, &verifiers) {
            return;
        }
        // `Leader#startZkServer`
        let zxid = make_zxid(self.epoch, 0);
        info!(
            acks = ?self.newleader_acks,
            "Have quorum of supporters; starting up and setting last processed zxid: 0x{zxid:x}"
        );
        self.phase = Phase::Broadcast;
        self.last_committed = zxid;
        self.last_processed = zxid;
        self.out.push(Action::StartServing { zxid });
        if self.s.reconfig_enabled {
            // `startZkServer` (ZOOKEEPER-1324): the config sent in NEWLEADER is ours now
            let qv = self
                .last_seen
                .clone()
                .unwrap_or_else(|| self.s.verifier.clone());
            let acked = ackset(&self.newleader_acks, &qv);
            let designated = self.designated_leader(&qv, acked, zxid);
            self.out.push(Action::Activate {
                config: qv.clone(),
                designated_leader: designated,
                zxid,
            });
            self.last_seen = None;
            self.s.verifier = qv;
            if designated != self.s.my_sid {
                warn!("This leader is not the designated leader, it will be initialized with allowedToCommit = false");
                self.allowed_to_commit = false;
            }
        }
        for conn in self.in_stage(Stage::AwaitServing) {
            self.send_uptodate(conn);
        }
    }

    fn send_uptodate(&mut self, conn: ConnId) {
        self.send(conn, ZabMessage::UpToDate { zxid: -1 }.to_packet());
        if let Some(l) = self.learners.get_mut(&conn) {
            l.stage = Stage::Active;
        }
    }

    pub(super) fn step_down(&mut self, reason: String) {
        warn!("leader stepping down: {reason}");
        let conns: Vec<ConnId> = self.learners.keys().copied().collect();
        for conn in conns {
            self.close(conn, "leader shutdown".to_owned());
        }
        self.phase = Phase::Stopped;
        self.out.push(Action::StepDown { reason });
    }
}

pub(super) fn proposal_packet(t: T, zxid: i64, data: Bytes) -> QuorumPacket {
    QuorumPacket {
        packet_type: t.0,
        zxid,
        data: Some(data),
        authinfo: None,
    }
}

pub(super) fn name(p: &QuorumPacket) -> String {
    match T(p.packet_type).name() {
        Some(n) => format!("{n} 0x{:x}", p.zxid),
        None => format!("type {} 0x{:x}", p.packet_type, p.zxid),
    }
}
