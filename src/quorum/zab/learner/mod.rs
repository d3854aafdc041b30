//! The learner side of ZAB — a follower or an observer joining a leader: replaces
//! `Learner#registerWithLeader` / `#syncWithLeader`, `Follower#followLeader` /
//! `#processPacket`, `Observer#observeLeader` / `#processPacket`, the learner parts of
//! `FollowerZooKeeperServer` (`logRequest`, `commit`), `ObserverZooKeeperServer#commitRequest`
//! and `SendAckRequestProcessor`.
//!
//! - [`engine`]: a sans-IO state machine: typed packets and durable-log reports in,
//!   [`LearnerAction`]s out; the core (`pipeline::core::following`) is its one executor,
//!   from FOLLOWERINFO through the sync (DIFF/TRUNC/SNAP) to broadcast;
//! - [`db`]: the database as loaded from disk, handed to the core, and where it lives;
//! - [`net`]: the connection to the leader's quorum port: reader and writer tasks, the SNAP
//!   payload parsed off the core.
//!
//! Invariants (the reference's, with the ordering fixes of 3.8.x: ZOOKEEPER-3911, -4394,
//! -4643, -4646, -4785):
//! - a txn is written and fsynced to the log before it is acknowledged, and before
//!   `currentEpoch` moves to the new epoch; the NEWLEADER ACK follows both;
//! - the tree only ever applies committed txns, in zxid order;
//! - a SNAP or TRUNC sync is made durable by a snapshot before NEWLEADER is acknowledged.

pub mod db;
pub mod engine;
pub mod net;

pub use db::{
    LearnerDb, LearnerDbError, LearnerDbOptions, LearnerParts, LearnerStorage, LeftDatabase,
};
pub use engine::{LearnerAction, LearnerEngine, LearnerError, SyncMode};
pub use net::{connect, spawn_link, FromLeader, LearnerTimeouts, LinkTasks};

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
