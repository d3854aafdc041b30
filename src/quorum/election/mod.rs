//! Leader election (`FastLeaderElection`, `Vote`, the notification wire format) as a sans-IO
//! engine, and the driver that runs it over [`crate::quorum::cnxmgr`].
//!
//! Invariant: the engine never touches sockets or clocks; the driver owns both and feeds it
//! messages and timer expiries in arrival order.

mod driver;
mod engine;
mod vote;
pub mod wire;

pub use driver::{adopt_configs, answer_notifications, look_for_leader, ElectionError};
pub use engine::{
    Action, ElectionConfig, FastLeaderElection, FINALIZE_WAIT, MAX_NOTIFICATION_INTERVAL,
};
pub use vote::{Candidate, ServerState, Vote};
pub use wire::{NotificationMsg, WireError, CURRENT_VERSION};

#[cfg(test)]
mod tests;
