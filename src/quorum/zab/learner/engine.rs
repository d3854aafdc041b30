//! The learner's protocol as a sans-IO state machine (`Learner#registerWithLeader`,
//! `#syncWithLeader`, `Follower#processPacket`, `Observer#processPacket`,
//! `FollowerZooKeeperServer#commit`).
//!
//! Phases: FOLLOWERINFO/OBSERVERINFO out → LEADERINFO in (ACKEPOCH out) → DIFF | SNAP | TRUNC
//! in → PROPOSAL/COMMIT/INFORM queued → NEWLEADER (log, fsync, currentEpoch, ACK) → more
//! queued → UPTODATE (ACK, then log and commit what is queued) → broadcast.
//!
//! Invariants: the actions are to be carried out in the order given; "durable before
//! acknowledged" is stated here, once: an action other than `LogTxn` that follows a `LogTxn`
//! is held back until the executor reports that txn durable ([`LearnerEngine::durable`]), so
//! no ACK, epoch write, snapshot, apply or PING reply ever overtakes the fsync of a txn
//! logged before it; `ApplyTxn` is only emitted for a txn the leader committed, in the order
//! of its COMMITs.

use std::collections::VecDeque;

use super::{LearnerConfig, LearnerRole};
use crate::jute::codes::OpCode;
use crate::jute::data::Id;
use crate::jute::quorum::LearnerInfo;
use crate::jute::txn::{EncodedTxn, TxnBody, TxnEntry};
use crate::quorum::zab::packet::{QuorumPacketType, ZabMessage, PROTOCOL_VERSION};
use crate::quorum::zab::{counter_of, epoch_of, make_zxid};

/// One effect the engine asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LearnerAction {
    /// Write this packet to the leader (after an fsync of anything logged before it).
    Send(ZabMessage),
    /// Answer the leader's PING with the session touch table (`Learner#ping`).
    ReplyPing {
        zxid: i64,
        authinfo: Option<Vec<Id>>,
    },
    /// Write `acceptedEpoch` (`QuorumPeer#setAcceptedEpoch`).
    PersistAcceptedEpoch(i64),
    /// Write `currentEpoch` (`QuorumPeer#setCurrentEpoch`).
    PersistCurrentEpoch(i64),
    /// Read the snapshot payload that follows the SNAP packet in the stream and replace the
    /// tree and sessions with it; its last processed zxid becomes `zxid`.
    LoadSnap { zxid: i64 },
    /// Drop every logged txn after `zxid`, reload the database from disk
    /// (`ZKDatabase#truncateLog`) and set its last processed zxid to `zxid`.
    TruncateLog { zxid: i64 },
    /// Write a snapshot of the tree (`ZooKeeperServer#takeSnapshot(syncSnap)`).
    TakeSnapshot { fsync: bool },
    /// Append a txn to the log; the executor reports it with [`LearnerEngine::durable`] once
    /// it is fsynced.
    LogTxn(EncodedTxn),
    /// Apply a committed txn to the tree (and the session table); its bytes join the
    /// committed log.
    ApplyTxn(EncodedTxn),
    /// The leader's SYNC: complete the oldest pending client sync (`FollowerZooKeeperServer#sync`).
    SyncCompleted,
    /// A REVALIDATE answer for a client session (`Learner#revalidate`).
    Revalidated { session_id: i64, valid: bool },
    /// UPTODATE handled: the learner may serve clients (`ZooKeeperServer#startServing`).
    Synced { new_epoch: i64 },
    /// A reconfig was proposed, or NEWLEADER carried the leader's config: the text of that
    /// config (`QuorumPeer#setLastSeenQuorumVerifier(qv, true)`).
    LastSeenConfig(Vec<u8>),
    /// A reconfig is committed (COMMITANDACTIVATE, INFORMANDACTIVATE) or the leader's config
    /// comes into force at UPTODATE: `QuorumPeer#processReconfig`. Comes before the apply of
    /// the reconfig txn; with `suggested_leader` None the leader is kept if it keeps its
    /// quorum address. A major change ends the role once the current packet is handled.
    Activate {
        config: Vec<u8>,
        suggested_leader: Option<i64>,
        zxid: i64,
    },
}

/// Protocol violations: the connection is dropped and the peer goes back to election.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LearnerError {
    /// `registerWithLeader`: "Leaders epoch, X is less than accepted epoch, Y".
    #[error("Leaders epoch, {leader} is less than accepted epoch, {accepted}")]
    EpochBehind { leader: i64, accepted: i64 },
    #[error("unexpected {packet} in phase {phase}")]
    Unexpected {
        packet: &'static str,
        phase: &'static str,
    },
    /// `FollowerZooKeeperServer#commit`: the reference exits (UNMATCHED_TXN_COMMIT).
    #[error("Committing zxid 0x{zxid:x} but next pending txn 0x{pending:x}")]
    UnmatchedCommit { zxid: i64, pending: i64 },
    /// COMMITANDACTIVATE whose zxid is not the next pending txn, or that is no reconfig
    /// (the reference fails on the cast or the empty queue).
    #[error("COMMITANDACTIVATE 0x{0:x} does not match a pending reconfig txn")]
    NoReconfigPending(i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    New,
    AwaitLeaderInfo,
    AwaitSyncMode,
    Syncing,
    Broadcast,
}

impl Phase {
    fn name(self) -> &'static str {
        match self {
            Phase::New => "new",
            Phase::AwaitLeaderInfo => "discovery (LEADERINFO)",
            Phase::AwaitSyncMode => "synchronization (DIFF/SNAP/TRUNC)",
            Phase::Syncing => "synchronization",
            Phase::Broadcast => "broadcast",
        }
    }
}

/// How the leader chose to sync us (`QuorumPeer.SyncMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    Diff,
    Snap,
    Trunc,
}

/// The state `syncWithLeader` keeps between DIFF/SNAP/TRUNC and UPTODATE.
#[derive(Debug, Default)]
struct SyncState {
    /// SNAP and TRUNC: txns go straight to the tree and a snapshot saves them at NEWLEADER.
    snapshot_needed: bool,
    /// SNAP: that snapshot is fsynced (a gap in the log otherwise).
    sync_snapshot: bool,
    /// After NEWLEADER (from the start for a DIFF): txns are logged, not applied.
    write_to_log: bool,
    newleader_seen: bool,
    /// `packetsNotCommitted` (3.9: `packetsNotLogged`).
    not_logged: VecDeque<EncodedTxn>,
    /// `packetsCommitted`.
    committed: VecDeque<i64>,
    /// Logged at NEWLEADER, acknowledged after UPTODATE (ZOOKEEPER-4685).
    to_ack: Vec<i64>,
    /// The config NEWLEADER carried (`newLeaderQV`), activated at UPTODATE.
    new_leader_config: Option<Vec<u8>>,
}

/// The learner state machine. One per connection to a leader.
#[derive(Debug)]
pub struct LearnerEngine {
    cfg: LearnerConfig,
    phase: Phase,
    accepted_epoch: i64,
    current_epoch: i64,
    last_logged_zxid: i64,
    new_epoch: i64,
    new_leader_zxid: i64,
    sync_mode: Option<SyncMode>,
    sync: SyncState,
    /// `lastQueued`: the last proposal's zxid, to warn about gaps.
    last_queued: i64,
    /// `FollowerZooKeeperServer.pendingTxns`: logged, waiting for their COMMIT.
    pending: VecDeque<EncodedTxn>,
    /// The newest zxid handed to the log, and the newest the executor reported durable.
    logged: i64,
    durable: i64,
    /// Actions waiting for the log to be durable up to their zxid, in order.
    held: VecDeque<(i64, LearnerAction)>,
}

impl LearnerEngine {
    /// `accepted_epoch` / `current_epoch` as loaded from disk; `last_logged_zxid` is the
    /// database's last processed zxid (`QuorumPeer#getLastLoggedZxid`).
    pub fn new(
        cfg: LearnerConfig,
        accepted_epoch: i64,
        current_epoch: i64,
        last_logged_zxid: i64,
    ) -> Self {
        LearnerEngine {
            cfg,
            phase: Phase::New,
            accepted_epoch,
            current_epoch,
            last_logged_zxid,
            new_epoch: -1,
            new_leader_zxid: -1,
            sync_mode: None,
            sync: SyncState::default(),
            last_queued: 0,
            pending: VecDeque::new(),
            logged: last_logged_zxid,
            durable: last_logged_zxid,
            held: VecDeque::new(),
        }
    }

    /// The first packet (`Learner#registerWithLeader`): zxid = makeZxid(acceptedEpoch, 0).
    pub fn start(&mut self) -> Vec<LearnerAction> {
        self.phase = Phase::AwaitLeaderInfo;
        let zxid = make_zxid(self.accepted_epoch, 0);
        let info = LearnerInfo {
            serverid: self.cfg.sid,
            protocol_version: PROTOCOL_VERSION,
            config_version: self.cfg.config_version,
        };
        let msg = match self.cfg.role {
            LearnerRole::Follower => ZabMessage::FollowerInfo { zxid, info },
            LearnerRole::Observer => ZabMessage::ObserverInfo { zxid, info },
        };
        vec![LearnerAction::Send(msg)]
    }

    /// Whether UPTODATE has been handled.
    pub fn is_synced(&self) -> bool {
        self.phase == Phase::Broadcast
    }

    /// Whether NEWLEADER has been acknowledged (the read timeout becomes syncLimit).
    pub fn newleader_acked(&self) -> bool {
        self.sync.newleader_seen || self.phase == Phase::Broadcast
    }

    pub fn sync_mode(&self) -> Option<SyncMode> {
        self.sync_mode
    }

    /// The epoch the leader proposed (-1 before LEADERINFO).
    pub fn new_epoch(&self) -> i64 {
        self.new_epoch
    }

    pub fn accepted_epoch(&self) -> i64 {
        self.accepted_epoch
    }

    pub fn current_epoch(&self) -> i64 {
        self.current_epoch
    }

    /// Logged txns still waiting for their COMMIT.
    pub fn pending_commits(&self) -> usize {
        self.pending.len()
    }

    /// One packet from the leader.
    pub fn handle(&mut self, msg: ZabMessage) -> Result<Vec<LearnerAction>, LearnerError> {
        let actions = self.packet(msg)?;
        Ok(self.release(actions))
    }

    /// The executor's log is durable through `zxid`: what waited for it, in order.
    pub fn durable(&mut self, zxid: i64) -> Vec<LearnerAction> {
        self.durable = self.durable.max(zxid);
        let mut due = Vec::new();
        while self
            .held
            .front()
            .is_some_and(|(gate, _)| *gate <= self.durable)
        {
            if let Some((_, action)) = self.held.pop_front() {
                due.push(action);
            }
        }
        due
    }

    /// Hold back whatever follows a txn that is not durable yet. A TRUNC or SNAP starts the
    /// log over at its zxid: both come before anything is logged on this connection.
    fn release(&mut self, actions: Vec<LearnerAction>) -> Vec<LearnerAction> {
        let mut now = Vec::new();
        for action in actions {
            match action {
                LearnerAction::LogTxn(ref txn) => {
                    self.logged = self.logged.max(txn.zxid());
                    now.push(action);
                }
                LearnerAction::TruncateLog { zxid } | LearnerAction::LoadSnap { zxid }
                    if self.held.is_empty() =>
                {
                    self.logged = zxid;
                    self.durable = zxid;
                    now.push(action);
                }
                other if self.held.is_empty() && self.logged <= self.durable => now.push(other),
                other => self.held.push_back((self.logged, other)),
            }
        }
        now
    }

    fn packet(&mut self, msg: ZabMessage) -> Result<Vec<LearnerAction>, LearnerError> {
        match self.phase {
            Phase::AwaitLeaderInfo => self.on_leader_info(msg),
            Phase::AwaitSyncMode => self.on_sync_mode(msg),
            Phase::Syncing => self.on_syncing(msg),
            Phase::Broadcast => match self.cfg.role {
                LearnerRole::Follower => self.follower_packet(msg),
                LearnerRole::Observer => self.observer_packet(msg),
            },
            Phase::New => Err(self.unexpected(&msg)),
        }
    }

    fn unexpected(&self, msg: &ZabMessage) -> LearnerError {
        LearnerError::Unexpected {
            packet: type_name(msg.packet_type()),
            phase: self.phase.name(),
        }
    }

    /// LEADERINFO: promise the new epoch (or say we already did, with -1) and report our
    /// last zxid so the leader can plan the sync.
    fn on_leader_info(&mut self, msg: ZabMessage) -> Result<Vec<LearnerAction>, LearnerError> {
        let ZabMessage::LeaderInfo { zxid, .. } = msg else {
            // A pre-Zab-1.0 leader would start with NEWLEADER; 3.8 never does.
            return Err(self.unexpected(&msg));
        };
        let new_epoch = epoch_of(zxid);
        let mut actions = Vec::new();
        let current_epoch = if new_epoch > self.accepted_epoch {
            actions.push(LearnerAction::PersistAcceptedEpoch(new_epoch));
            self.accepted_epoch = new_epoch;
            self.current_epoch as i32
        } else if new_epoch == self.accepted_epoch {
            -1
        } else {
            return Err(LearnerError::EpochBehind {
                leader: new_epoch,
                accepted: self.accepted_epoch,
            });
        };
        self.new_epoch = new_epoch;
        self.new_leader_zxid = make_zxid(new_epoch, 0);
        actions.push(LearnerAction::Send(ZabMessage::AckEpoch {
            zxid: self.last_logged_zxid,
            current_epoch,
        }));
        self.phase = Phase::AwaitSyncMode;
        Ok(actions)
    }

    fn on_sync_mode(&mut self, msg: ZabMessage) -> Result<Vec<LearnerAction>, LearnerError> {
        let (mode, action) = match msg {
            ZabMessage::Diff { .. } => (SyncMode::Diff, None),
            ZabMessage::Snap { zxid } => (SyncMode::Snap, Some(LearnerAction::LoadSnap { zxid })),
            ZabMessage::Trunc { zxid } => {
                tracing::warn!("Truncating log to get in sync with the leader 0x{zxid:x}");
                (SyncMode::Trunc, Some(LearnerAction::TruncateLog { zxid }))
            }
            other => return Err(self.unexpected(&other)),
        };
        tracing::info!(?mode, zxid = format_args!("0x{:x}", msg.zxid()), "sync");
        self.sync_mode = Some(mode);
        self.sync = SyncState {
            snapshot_needed: mode != SyncMode::Diff,
            sync_snapshot: mode == SyncMode::Snap,
            write_to_log: mode == SyncMode::Diff,
            ..SyncState::default()
        };
        self.phase = Phase::Syncing;
        Ok(action.into_iter().collect())
    }

    fn check_order(&mut self, zxid: i64) {
        if zxid != self.last_queued + 1 {
            tracing::warn!(
                "Got zxid 0x{zxid:x} expected 0x{:x}",
                self.last_queued.wrapping_add(1)
            );
        }
        self.last_queued = zxid;
    }

    /// Between DIFF/SNAP/TRUNC and UPTODATE (`syncWithLeader`'s loop). Packets the
    /// reference's switch does not name (PING, SYNC...) are ignored, as there.
    fn on_syncing(&mut self, msg: ZabMessage) -> Result<Vec<LearnerAction>, LearnerError> {
        match msg {
            ZabMessage::Proposal { txn, .. } => {
                self.check_order(txn.zxid());
                let seen = reconfig_data(txn.txn()).map(LearnerAction::LastSeenConfig);
                self.sync.not_logged.push_back(txn);
                Ok(seen.into_iter().collect())
            }
            ZabMessage::Commit { zxid } => Ok(self.sync_commit(zxid)),
            ZabMessage::CommitAndActivate {
                zxid,
                suggested_leader_id,
            } => {
                // `syncWithLeader` activates only when the head of the queue is this txn
                let head = self
                    .sync
                    .not_logged
                    .front()
                    .filter(|p| p.zxid() == zxid)
                    .and_then(|p| reconfig_data(p.txn()));
                let mut actions: Vec<LearnerAction> = head
                    .map(|config| LearnerAction::Activate {
                        config,
                        suggested_leader: Some(suggested_leader_id),
                        zxid,
                    })
                    .into_iter()
                    .collect();
                actions.extend(self.sync_commit(zxid));
                Ok(actions)
            }
            ZabMessage::Inform { txn, .. } => {
                self.check_order(txn.zxid());
                Ok(self.sync_inform(txn))
            }
            ZabMessage::InformAndActivate {
                zxid,
                suggested_leader_id,
                txn,
            } => {
                let mut actions: Vec<LearnerAction> = activation(&txn, suggested_leader_id, zxid)
                    .into_iter()
                    .collect();
                actions.extend(self.sync_inform(EncodedTxn::encode(txn)));
                Ok(actions)
            }
            ZabMessage::NewLeader { zxid, config } => {
                let mut actions = Vec::new();
                // `syncWithLeader`: data of one byte or less is no config
                if let Some(c) = config.filter(|c| c.len() > 1) {
                    actions.push(LearnerAction::LastSeenConfig(c.to_vec()));
                    self.sync.new_leader_config = Some(c.to_vec());
                }
                actions.extend(self.on_new_leader(zxid));
                Ok(actions)
            }
            ZabMessage::UpToDate { .. } => Ok(self.on_up_to_date()),
            other => {
                tracing::debug!(
                    packet = type_name(other.packet_type()),
                    "ignored while syncing"
                );
                Ok(Vec::new())
            }
        }
    }

    /// An INFORM before UPTODATE: applied at once before NEWLEADER's snapshot, queued after.
    fn sync_inform(&mut self, txn: EncodedTxn) -> Vec<LearnerAction> {
        if self.sync.write_to_log {
            self.sync.committed.push_back(txn.zxid());
            self.sync.not_logged.push_back(txn);
            Vec::new()
        } else {
            vec![LearnerAction::ApplyTxn(txn)]
        }
    }

    /// A COMMIT before UPTODATE: applied at once while txns go straight to the tree (SNAP,
    /// TRUNC before NEWLEADER), remembered otherwise.
    fn sync_commit(&mut self, zxid: i64) -> Vec<LearnerAction> {
        if self.sync.write_to_log {
            self.sync.committed.push_back(zxid);
            return Vec::new();
        }
        match self.sync.not_logged.front() {
            // ZOOKEEPER-4394: the reference throws a NullPointerException here
            None => {
                tracing::warn!("Committing 0x{zxid:x}, but got no proposal");
                Vec::new()
            }
            Some(p) if p.zxid() != zxid => {
                tracing::warn!(
                    "Committing 0x{zxid:x}, but next proposal is 0x{:x}",
                    p.zxid()
                );
                Vec::new()
            }
            Some(_) => self
                .sync
                .not_logged
                .pop_front()
                .map(LearnerAction::ApplyTxn)
                .into_iter()
                .collect(),
        }
    }

    /// NEWLEADER (3.8.6's order): snapshot if SNAP/TRUNC; a follower logs and fsyncs every
    /// queued proposal (ZOOKEEPER-3911, -4646); only then currentEpoch (ZOOKEEPER-4643,
    /// -4785); then the ACK carrying NEWLEADER's zxid.
    fn on_new_leader(&mut self, zxid: i64) -> Vec<LearnerAction> {
        let mut actions = Vec::new();
        if self.sync.snapshot_needed {
            actions.push(LearnerAction::TakeSnapshot {
                fsync: self.sync.sync_snapshot,
            });
        }
        self.sync.write_to_log = true;
        self.sync.newleader_seen = true;
        if self.cfg.role == LearnerRole::Follower {
            for txn in self.sync.not_logged.drain(..) {
                if counter_of(txn.zxid()) != 0 {
                    self.sync.to_ack.push(txn.zxid());
                    self.pending.push_back(txn.clone());
                }
                actions.push(LearnerAction::LogTxn(txn));
            }
        }
        actions.push(LearnerAction::PersistCurrentEpoch(self.new_epoch));
        self.current_epoch = self.new_epoch;
        if zxid != self.new_leader_zxid {
            tracing::warn!(
                "NEWLEADER zxid 0x{zxid:x} differs from the epoch's 0x{:x}",
                self.new_leader_zxid
            );
        }
        actions.push(LearnerAction::Send(ZabMessage::Ack { zxid }));
        actions
    }

    /// UPTODATE: ACK makeZxid(newEpoch, 0), then the delayed proposal ACKs, then log and
    /// commit what arrived since NEWLEADER.
    fn on_up_to_date(&mut self) -> Vec<LearnerAction> {
        let mut actions = Vec::new();
        if let Some(config) = self.sync.new_leader_config.take() {
            actions.push(LearnerAction::Activate {
                config,
                suggested_leader: None,
                zxid: make_zxid(self.new_epoch, 0),
            });
        }
        if !self.sync.newleader_seen {
            // Pre-Zab-1.0 order (`isPreZAB1_0`): the snapshot and epoch are written here.
            actions.push(LearnerAction::TakeSnapshot {
                fsync: self.sync.sync_snapshot,
            });
            actions.push(LearnerAction::PersistCurrentEpoch(self.new_epoch));
            self.current_epoch = self.new_epoch;
        }
        actions.push(LearnerAction::Send(ZabMessage::Ack {
            zxid: make_zxid(self.new_epoch, 0),
        }));
        let sync = std::mem::take(&mut self.sync);
        match self.cfg.role {
            LearnerRole::Follower => self.follower_catch_up(sync, &mut actions),
            LearnerRole::Observer => observer_catch_up(sync, &mut actions),
        }
        actions.push(LearnerAction::Synced {
            new_epoch: self.new_epoch,
        });
        self.sync.newleader_seen = true;
        self.phase = Phase::Broadcast;
        actions
    }

    fn follower_catch_up(&mut self, sync: SyncState, actions: &mut Vec<LearnerAction>) {
        for zxid in sync.to_ack {
            actions.push(LearnerAction::Send(ZabMessage::Ack { zxid }));
        }
        for txn in sync.not_logged {
            actions.extend(self.log_proposal(txn));
        }
        for zxid in sync.committed {
            match self.commit(zxid) {
                Ok(a) => actions.extend(a),
                Err(e) => tracing::error!("{e}"),
            }
        }
    }

    /// `FollowerZooKeeperServer#logRequest` + `SendAckRequestProcessor`: log, then ACK (held
    /// until the txn is durable). A txn with counter 0 is logged but never pending.
    fn log_proposal(&mut self, txn: EncodedTxn) -> Vec<LearnerAction> {
        let zxid = txn.zxid();
        let mut actions = vec![LearnerAction::LogTxn(txn.clone())];
        if counter_of(zxid) != 0 {
            self.pending.push_back(txn);
        }
        actions.push(LearnerAction::Send(ZabMessage::Ack { zxid }));
        actions
    }

    /// `FollowerZooKeeperServer#commit`.
    fn commit(&mut self, zxid: i64) -> Result<Vec<LearnerAction>, LearnerError> {
        let Some(head) = self.pending.front() else {
            tracing::warn!("Committing {zxid:x} without seeing txn");
            return Ok(Vec::new());
        };
        if head.zxid() != zxid {
            return Err(LearnerError::UnmatchedCommit {
                zxid,
                pending: head.zxid(),
            });
        }
        Ok(self
            .pending
            .pop_front()
            .map(LearnerAction::ApplyTxn)
            .into_iter()
            .collect())
    }

    /// `Follower#processPacket`.
    fn follower_packet(&mut self, msg: ZabMessage) -> Result<Vec<LearnerAction>, LearnerError> {
        match msg {
            ZabMessage::Proposal { txn, .. } => {
                self.check_order(txn.zxid());
                let mut actions: Vec<LearnerAction> = reconfig_data(txn.txn())
                    .map(LearnerAction::LastSeenConfig)
                    .into_iter()
                    .collect();
                actions.extend(self.log_proposal(txn));
                Ok(actions)
            }
            ZabMessage::Commit { zxid } => self.commit(zxid),
            ZabMessage::CommitAndActivate {
                zxid,
                suggested_leader_id,
            } => {
                // `Follower#processPacket`: the config is the pending head's
                let config = self
                    .pending
                    .front()
                    .and_then(|p| reconfig_data(p.txn()))
                    .ok_or(LearnerError::NoReconfigPending(zxid))?;
                let mut actions = vec![LearnerAction::Activate {
                    config,
                    suggested_leader: Some(suggested_leader_id),
                    zxid,
                }];
                actions.extend(self.commit(zxid)?);
                Ok(actions)
            }
            other => Ok(self.common_packet(other)),
        }
    }

    /// `Observer#processPacket`: INFORM is logged and applied; PROPOSAL/COMMIT ignored.
    fn observer_packet(&mut self, msg: ZabMessage) -> Result<Vec<LearnerAction>, LearnerError> {
        match msg {
            ZabMessage::Inform { txn, .. } => {
                self.check_order(txn.zxid());
                Ok(vec![
                    LearnerAction::LogTxn(txn.clone()),
                    LearnerAction::ApplyTxn(txn),
                ])
            }
            ZabMessage::InformAndActivate {
                zxid,
                suggested_leader_id,
                txn,
            } => {
                let mut actions: Vec<LearnerAction> = activation(&txn, suggested_leader_id, zxid)
                    .into_iter()
                    .collect();
                let txn = EncodedTxn::encode(txn);
                actions.push(LearnerAction::LogTxn(txn.clone()));
                actions.push(LearnerAction::ApplyTxn(txn));
                Ok(actions)
            }
            ZabMessage::Proposal { .. } => {
                tracing::warn!("Ignoring proposal");
                Ok(Vec::new())
            }
            ZabMessage::Commit { .. } => {
                tracing::warn!("Ignoring commit");
                Ok(Vec::new())
            }
            other => Ok(self.common_packet(other)),
        }
    }

    fn common_packet(&mut self, msg: ZabMessage) -> Vec<LearnerAction> {
        match msg {
            // `Learner#ping` echoes the packet's authinfo, which a 3.8 leader's PING never has.
            ZabMessage::Ping { zxid } => vec![LearnerAction::ReplyPing {
                zxid,
                authinfo: None,
            }],
            ZabMessage::Sync { .. } => vec![LearnerAction::SyncCompleted],
            ZabMessage::RevalidateAnswer {
                session_id, valid, ..
            } => vec![LearnerAction::Revalidated { session_id, valid }],
            ZabMessage::UpToDate { .. } => {
                tracing::error!("Received an UPTODATE message after the learner started");
                Vec::new()
            }
            other => {
                tracing::warn!("Unknown packet type: {}", type_name(other.packet_type()));
                Vec::new()
            }
        }
    }
}

/// The observer's half of `syncWithLeader`'s tail: each queued txn whose zxid is the next
/// committed one is logged and applied (`ObserverZooKeeperServer#commitRequest`).
fn observer_catch_up(sync: SyncState, actions: &mut Vec<LearnerAction>) {
    let mut committed = sync.committed;
    for txn in sync.not_logged {
        let Some(&next) = committed.front() else {
            tracing::warn!(
                "Committing nothing, but next proposal is 0x{:x}",
                txn.zxid()
            );
            continue;
        };
        if txn.zxid() != next {
            tracing::warn!(
                "Committing 0x{next:x}, but next proposal is 0x{:x}",
                txn.zxid()
            );
            continue;
        }
        committed.pop_front();
        actions.push(LearnerAction::LogTxn(txn.clone()));
        actions.push(LearnerAction::ApplyTxn(txn));
    }
}

/// The config text of a reconfig txn (a SetDataTxn on `/zookeeper/config`).
/// INFORMANDACTIVATE's activation of the config its reconfig txn carries (none for any other
/// txn), ahead of logging and applying the txn, as 3.8's `Observer` orders them.
fn activation(txn: &TxnEntry, suggested_leader_id: i64, zxid: i64) -> Option<LearnerAction> {
    reconfig_data(txn).map(|config| LearnerAction::Activate {
        config,
        suggested_leader: Some(suggested_leader_id),
        zxid,
    })
}

fn reconfig_data(txn: &TxnEntry) -> Option<Vec<u8>> {
    match (&txn.body, txn.header.op) {
        (TxnBody::SetData(t), OpCode::RECONFIG) => {
            Some(t.data.as_deref().unwrap_or_default().to_vec())
        }
        _ => None,
    }
}

fn type_name(t: QuorumPacketType) -> &'static str {
    t.name().unwrap_or("UNKNOWN")
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
