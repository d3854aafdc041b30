//! Ensemble membership and leader election (`org.apache.zookeeper.server.quorum`):
//! quorum verifiers (`flexible/QuorumMaj`, `QuorumHierarchical`), the election connection
//! manager (`QuorumCnxManager`) and `FastLeaderElection` as a sans-IO engine plus its driver.
//!
//! Invariant: only `cnxmgr` owns sockets; `election`'s engine and `verifier` are pure.

pub mod cnxmgr;
pub mod election;
pub mod verifier;

pub use cnxmgr::{CnxConfig, QuorumCnxManager};
pub use election::{look_for_leader, ElectionConfig, FastLeaderElection, ServerState, Vote};
pub use verifier::QuorumVerifier;
