//! Ensembles (`org.apache.zookeeper.server.quorum`): quorum verifiers (`flexible/QuorumMaj`,
//! `QuorumHierarchical`), the election connection manager (`QuorumCnxManager`),
//! `FastLeaderElection` as a sans-IO engine plus its driver, and ZAB's wire layer and pure
//! decisions (`zab`: QuorumPacket stream, typed packets, the DIFF/TRUNC/SNAP planner).
//!
//! Invariant: only `cnxmgr` (and, later, zab's leader/learner handlers) own sockets; the
//! election engine, `verifier` and `zab`'s planner are pure.

pub mod cnxmgr;
pub mod election;
pub mod verifier;
pub mod zab;

pub use cnxmgr::{CnxConfig, QuorumCnxManager};
pub use election::{look_for_leader, ElectionConfig, FastLeaderElection, ServerState, Vote};
pub use verifier::QuorumVerifier;
