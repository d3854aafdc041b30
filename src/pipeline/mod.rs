//! The request pipeline (`PrepRequestProcessor` → `SyncRequestProcessor` →
//! `FinalRequestProcessor`): prep turns a write into ZooKeeper's txn (TxnHeader + record),
//! the log stage would persist it, apply runs it on the tree, fires watches and replies.
//! Reads are answered from the tree in the same ordered stream.

pub mod auth;
pub mod core;
pub mod log_stage;
pub mod outbound;
pub mod pending;
pub mod prep;
pub mod reads;
pub mod reconfig;
pub mod reply;
pub mod results;

pub use self::core::{
    run, run_role, ConnId, CoreConfig, CoreMsg, CoreState, FatalError, SnapshotConfig,
};
pub use outbound::{outbound_queue, OutboundRx, OutboundTx};
pub use reply::Outbound;
