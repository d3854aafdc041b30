//! Ensembles (`org.apache.zookeeper.server.quorum`): quorum verifiers (`flexible/QuorumMaj`,
//! `QuorumHierarchical`), the election connection manager (`QuorumCnxManager`),
//! `FastLeaderElection` as a sans-IO engine plus its driver, and ZAB's wire layer and pure
//! decisions (`zab`: QuorumPacket stream, typed packets, the DIFF/TRUNC/SNAP planner).
//!
//! `tls` secures those sockets (`sslQuorum`, `portUnification`).
//!
//! Invariant: only `cnxmgr` and zab's `driver` / `net` modules own sockets; the election
//! engine, `verifier`, zab's planner and the leader / learner engines are pure. The serving
//! pipeline drives the engines (`pipeline::core`); `server::ensemble` runs the peer loop.

pub mod auth;
pub mod cnxmgr;
pub mod election;
pub mod reconfig;
pub mod tls;
pub mod verifier;
pub mod zab;

pub use cnxmgr::{CnxConfig, QuorumCnxManager};
pub use election::{look_for_leader, ElectionConfig, FastLeaderElection, ServerState, Vote};
pub use verifier::QuorumVerifier;
