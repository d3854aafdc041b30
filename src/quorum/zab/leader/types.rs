//! The leader engine's inputs and outputs: settings, start state, events, actions, errors.

use crate::jute::quorum::QuorumPacket;
use crate::jute::txn::{EncodedTxn, TxnEntry};
use crate::persist::committed::CommittedLog;
use crate::quorum::verifier::QuorumVerifier;
use crate::quorum::zab::packet::{LearnerRequest, SessionTouch};
use crate::quorum::zab::sync_plan::DEFAULT_COMMIT_LOG_COUNT;

/// The core's name for one learner connection (`quorum::zab::leader::net`).
pub type ConnId = u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LearnerKind {
    Follower,
    Observer,
}

/// How a learner was brought up to date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncKind {
    Diff,
    Trunc,
    Snap,
}

/// Fixed settings (`QuorumPeer`'s tickTime-derived limits are in ticks).
#[derive(Debug, Clone)]
pub struct LeaderSettings {
    pub my_sid: i64,
    pub verifier: QuorumVerifier,
    pub init_limit: u64,
    pub sync_limit: u64,
    /// `zookeeper.commitLogCount`.
    pub commit_log_count: usize,
    /// `zookeeper.forceSnapshotSync`.
    pub force_snap_sync: bool,
    /// `reconfigEnabled`: without it `setLastSeenQuorumVerifier` does nothing, so NEWLEADER
    /// carries the configured verifier as it is (version 0 for a static config); with it the
    /// leader versions an initial config and activates the last seen one once a quorum
    /// acked NEWLEADER.
    pub reconfig_enabled: bool,
    /// A config proposed by an earlier leader and not committed (newer than `verifier`).
    pub last_seen: Option<QuorumVerifier>,
}

impl LeaderSettings {
    pub fn new(my_sid: i64, verifier: QuorumVerifier, init_limit: u64, sync_limit: u64) -> Self {
        LeaderSettings {
            my_sid,
            verifier,
            init_limit,
            sync_limit,
            commit_log_count: DEFAULT_COMMIT_LOG_COUNT,
            force_snap_sync: false,
            reconfig_enabled: false,
            last_seen: None,
        }
    }
}

/// What the leader knows of itself when it starts leading.
#[derive(Debug, Clone, Default)]
pub struct LeaderStart {
    pub accepted_epoch: i64,
    pub current_epoch: i64,
    /// The tree's last processed zxid.
    pub last_processed_zxid: i64,
    /// The newest committed txns, ascending, as logged (`ZKDatabase#committedLog`).
    pub committed_log: CommittedLog,
    /// Global sessions and their timeouts (REVALIDATE answers from these).
    pub sessions: Vec<(i64, i32)>,
}

/// The on-disk part of the history (`ZKDatabase#getProposalsFromTxnLog`).
pub trait SyncHistory {
    /// Txns of the log files from the one holding `peer_last_zxid` on, ascending, or None
    /// when the txn log may not be used for this learner (too big, missing, disabled).
    fn txn_log_since(&mut self, peer_last_zxid: i64) -> Option<Vec<EncodedTxn>>;
}

/// A history with nothing on disk: learners behind the committed log get a SNAP.
impl SyncHistory for () {
    fn txn_log_since(&mut self, _: i64) -> Option<Vec<EncodedTxn>> {
        None
    }
}

#[derive(Debug, Clone)]
pub enum Event {
    Connected(ConnId),
    Packet(ConnId, QuorumPacket),
    /// The socket closed or failed.
    Disconnected(ConnId),
    /// tickTime / 2 elapsed (the leader pings twice a tick).
    HalfTick,
    /// The local txn log is fsynced up to this zxid: the leader's own ACK.
    LocalDurable(i64),
}

#[derive(Debug, Clone)]
pub enum Action {
    Send {
        conn: ConnId,
        packet: QuorumPacket,
    },
    /// Write a SNAP packet at `zxid` then the tree (at exactly `zxid`) and the signature.
    SendSnap {
        conn: ConnId,
        zxid: i64,
    },
    /// Hang up on a learner (its handler died in the reference).
    Close {
        conn: ConnId,
        sid: Option<i64>,
        reason: String,
    },
    /// The learner's socket went away.
    LearnerLost {
        conn: ConnId,
        sid: Option<i64>,
    },
    Synced {
        conn: ConnId,
        sid: i64,
        kind: LearnerKind,
        how: SyncKind,
    },
    PersistAcceptedEpoch(i64),
    PersistCurrentEpoch(i64),
    /// A quorum acked NEWLEADER: set the tree's last processed zxid to `zxid` and serve.
    StartServing {
        zxid: i64,
    },
    /// Append this proposal to the local txn log; report [`Event::LocalDurable`] after fsync.
    Log(EncodedTxn),
    /// Apply this txn to the local tree: a quorum acked it.
    Commit(TxnEntry),
    /// A learner's REQUEST; `conn` is the learner connection it came through (the owner
    /// of the session in `checkSession`).
    LearnerRequest {
        conn: ConnId,
        sid: i64,
        request: LearnerRequest,
    },
    /// A learner's REVALIDATE: the core decides (`Leader#revalidateSession`: a live global
    /// session, touched and owned by `conn` from now on) and answers through
    /// [`LeaderEngine::revalidate_answer`](super::LeaderEngine::revalidate_answer).
    Revalidate {
        conn: ConnId,
        sid: i64,
        zxid: i64,
        session_id: i64,
        timeout: i32,
    },
    SessionTouches {
        sid: i64,
        touches: Vec<SessionTouch>,
    },
    /// A reconfig was proposed: its config is the last seen one (`setLastSeenQuorumVerifier`,
    /// written to zoo.cfg.dynamic.next).
    LastSeenConfig(QuorumVerifier),
    /// A reconfig commits (`QuorumPeer#processReconfig` in `Leader#tryToCommit`): activate
    /// `config` before the [`Action::Commit`] of its txn that follows. `designated_leader`
    /// is who leads the new config; not us means this leader commits nothing more.
    Activate {
        config: QuorumVerifier,
        designated_leader: i64,
        zxid: i64,
    },
    /// Stop leading (`Leader#shutdown`): the peer goes back to LOOKING.
    StepDown {
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProposeError {
    #[error("not serving yet (no quorum acked NEWLEADER)")]
    NotServing,
    #[error("the leader stepped down")]
    Stopped,
    #[error("proposal zxid 0x{got:x} is not the next one (0x{expected:x})")]
    OutOfOrder { expected: i64, got: i64 },
    #[error(
        "zxid lower 32 bits have rolled over, forcing re-election, and therefore new epoch start"
    )]
    Rollover,
}
