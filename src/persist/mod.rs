//! Persistence: the only module that opens files (replaces `server/persistence`).
//!
//! It sees txn bytes and zxids, never requests or sessions. `txnlog` is the write-ahead log
//! (`log.<zxid>` files, `FileTxnLog`); errors are [`error::PersistError`].

pub mod epoch;
pub mod error;
pub mod purge;
pub mod restore;
pub mod snapshot;
pub mod txnlog;

pub use error::PersistError;
