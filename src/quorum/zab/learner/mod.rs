//! The learner side of ZAB — a follower or an observer joining a leader: replaces
//! `Learner#registerWithLeader` / `#syncWithLeader`, `Follower#followLeader` /
//! `#processPacket`, `Observer#observeLeader` / `#processPacket`, the learner parts of
//! `FollowerZooKeeperServer` (`logRequest`, `commit`), `ObserverZooKeeperServer#commitRequest`
//! and `SendAckRequestProcessor`.
//!
//! - [`engine`]: a sans-IO state machine: typed packets in, [`LearnerAction`]s out;
//! - [`db`]: the learner's database (tree, sessions, txn log, epochs) that carries the
//!   actions out, and that the serving pipeline takes over;
//! - [`driver`]: the sync (registration up to UPTODATE) over the connection to the leader's
//!   quorum port, which it then hands to the serving pipeline.
//!
//! Invariants (the reference's, with the ordering fixes of 3.8.x: ZOOKEEPER-3911, -4394,
//! -4643, -4646, -4785):
//! - a txn is written and fsynced to the log before it is acknowledged, and before
//!   `currentEpoch` moves to the new epoch; the NEWLEADER ACK follows both;
//! - the tree only ever applies committed txns, in zxid order;
//! - a SNAP or TRUNC sync is made durable by a snapshot before NEWLEADER is acknowledged.

pub mod db;
pub mod driver;
pub mod engine;
pub mod net;

pub use db::{Executed, LearnerDb, LearnerDbError, LearnerDbOptions, LearnerParts};
pub use driver::{
    sync_with_leader, LeaderLink, LearnerExit, LearnerParams, LearnerTimeouts, LostLeader,
};
pub use engine::{LearnerAction, LearnerEngine, LearnerError, SyncMode};

use crate::config::LearnerType;

/// Who we are to the leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LearnerRole {
    /// Sends FOLLOWERINFO, logs and ACKs PROPOSALs, applies on COMMIT.
    Follower,
    /// Sends OBSERVERINFO, logs and applies INFORMs, never ACKs a txn.
    Observer,
}

impl From<LearnerType> for LearnerRole {
    fn from(t: LearnerType) -> Self {
        match t {
            LearnerType::Participant => LearnerRole::Follower,
            LearnerType::Observer => LearnerRole::Observer,
        }
    }
}

/// What the engine needs to know about this peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LearnerConfig {
    /// `myid`.
    pub sid: i64,
    pub role: LearnerRole,
    /// The quorum verifier's version (`LearnerInfo.configVersion`; 0 for a static config).
    pub config_version: i64,
}
