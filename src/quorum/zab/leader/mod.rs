//! The ZAB leader: `Leader`, `LearnerHandler`, `LeaderZooKeeperServer`'s quorum side,
//! `ProposalRequestProcessor` / `AckRequestProcessor`'s acks and the commit half of
//! `CommitProcessor` of ZooKeeper 3.8.0.
//!
//! - [`engine`]: a sans-IO state machine. Events in (a learner connected, a packet from a
//!   learner, a half tick, the local log durable up to a zxid, a txn to propose), actions
//!   out (send a packet, send a SNAP, persist an epoch, log a txn, commit a txn, a learner
//!   lost, step down).
//! - [`db`]: the on-disk history a DIFF may be cut from (the newest committed txns come with
//!   the database, `persist::committed`).
//! - `sync` / `broadcast`: the engine's per-learner sync and its broadcast phase.
//! - [`net`]: the quorum port listener, one reader and one writer task per learner.
//!
//! The engine's only executor is the core (`pipeline::core::leading`): it feeds the events,
//! carries out the actions through the same log stage as client writes, and returns the
//! log's fsync as [`Event::LocalDurable`].
//!
//! Invariants: the epoch is `max(acceptedEpoch of a quorum) + 1`; acceptedEpoch is persisted
//! before any LEADERINFO leaves, currentEpoch before any NEWLEADER; nothing is proposed
//! before a quorum acked NEWLEADER; txns commit in zxid order, each once, only when the acks
//! of its proposal (the leader's own = its log fsync) form a quorum.

pub mod db;
pub mod engine;
pub mod net;

mod broadcast;
mod sync;
mod types;

pub use db::DiskHistory;
pub use engine::{
    Action, ConnId, Event, LeaderEngine, LeaderSettings, LeaderStart, LearnerKind, ProposeError,
    SyncHistory, SyncKind,
};

#[cfg(test)]
mod tests;
