//! Sessions: ids, passwords and expiry, as `SessionTrackerImpl`, `ExpiryQueue` and
//! `ZooKeeperServer#generatePasswd` / `#checkPasswd` do them in Apache ZooKeeper 3.8.
//!
//! Pure logic: the caller passes the time (`now_ms`, on the elapsed-time clock the reference
//! reads through `Time.currentElapsedTime`) and drives reaping. Expiry only *reports* due
//! sessions and marks them closing; the caller submits a closeSession for each, and calls
//! [`SessionTracker::remove`] when that txn is applied. This module never touches the tree.

mod random;
mod tracker;

#[cfg(test)]
mod tests;

pub use random::{check_passwd, generate_passwd, JavaRandom, PASSWD_LEN};
pub use tracker::{initial_session_id, SessionCheckError, SessionOwner, SessionTracker};
