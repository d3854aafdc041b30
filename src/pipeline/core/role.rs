//! The server's part in an ensemble as the core sees it (`QuorumPeer.ServerState` once an
//! election ended): standalone, leading or following/observing, and where the quorum
//! traffic of that role comes in.

use std::collections::HashSet;

use tokio::sync::mpsc;

use super::{Following, Leading};
use crate::persist::error::PersistError;
use crate::quorum::zab::leader::net::Incoming;
use crate::quorum::zab::learner::net::FromLeader;
use crate::quorum::zab::learner::LearnerDbError;

/// What this server is.
pub enum Role {
    Standalone,
    Leading(Box<Leading>),
    /// A follower or an observer.
    Following(Box<Following>),
    /// Cut off from the quorum with `readonlymode.enabled`: reads for clients that connected
    /// with `readOnly=true` (`ReadOnlyZooKeeperServer`).
    ReadOnly(ReadOnly),
}

/// What the read-only server knows about sessions (`LearnerSessionTracker` on the database
/// the peer loaded): the global sessions of the database, which it will not renew, and
/// whether it creates local sessions of its own (`localSessionsEnabled`).
#[derive(Debug, Default)]
pub struct ReadOnly {
    pub global_sessions: HashSet<i64>,
    pub local_sessions: bool,
}

impl Role {
    /// `QuorumPeer#getServerState` as `srvr` prints it.
    pub fn mode(&self) -> &'static str {
        match self {
            Role::Standalone => "standalone",
            Role::Leading(_) => "leader",
            Role::Following(f) if f.observer => "observer",
            Role::Following(_) => "follower",
            Role::ReadOnly(_) => "read-only",
        }
    }
}

/// What the words report about the ensemble.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnsembleInfo {
    /// Voting members.
    pub quorum_size: u64,
    pub leader_id: i64,
}

/// The quorum-port traffic of the current role.
pub enum QuorumInbox {
    /// Learner connections to our quorum port.
    Leader(mpsc::UnboundedReceiver<Incoming>),
    /// Our connection to the leader.
    Learner(mpsc::UnboundedReceiver<FromLeader>),
}

pub(super) enum QuorumIn {
    Leader(Incoming),
    Learner(FromLeader),
}

impl QuorumInbox {
    /// The next message; pends forever once the senders are gone (the role's end is
    /// reported by the role itself).
    pub(super) async fn recv(inbox: &mut Option<QuorumInbox>) -> QuorumIn {
        let msg = match inbox {
            Some(QuorumInbox::Leader(rx)) => rx.recv().await.map(QuorumIn::Leader),
            Some(QuorumInbox::Learner(rx)) => rx.recv().await.map(QuorumIn::Learner),
            None => None,
        };
        match msg {
            Some(m) => m,
            None => {
                *inbox = None;
                std::future::pending().await
            }
        }
    }
}

/// Why a server stops on its own; each names what failed.
#[derive(Debug, thiserror::Error)]
pub enum FatalError {
    /// The log stage could not write or fsync: nothing after the last durable zxid may be
    /// acknowledged (`SyncRequestProcessor` exits the JVM).
    #[error("txn log write failed: {0}")]
    TxnLog(#[source] PersistError),
    #[error("cannot start the txn log thread: {0}")]
    LogThread(#[source] std::io::Error),
    /// The database could not be loaded, truncated or handed over between roles.
    #[error(transparent)]
    Database(#[from] LearnerDbError),
    /// Our own `server.N` line gives no quorum address to listen on.
    #[error("server.{sid}: {reason}")]
    QuorumAddress { sid: i64, reason: String },
    /// A task the server runs on ended without a result (a panic).
    #[error("{task} ended abnormally: {reason}")]
    Task { task: &'static str, reason: String },
}

/// Why the core stopped.
#[derive(Debug)]
pub enum CoreExit {
    /// Every connection sender is gone (shutdown).
    Shutdown,
    /// The server must stop.
    Fatal(FatalError),
    /// The ensemble role ended (lost the leader, lost the quorum): elect again.
    Reelect(String),
    /// The role ended after a reconfig changed it: serve under `leader` (the designated one,
    /// or ours with a new learner type) without an election (`reconfigFlag`).
    Reconfigured {
        leader: i64,
        zxid: i64,
        reason: String,
    },
}
