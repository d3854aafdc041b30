//! Persistence: the only module that opens files (replaces `server/persistence`).
//!
//! It sees txn bytes and zxids, never requests or sessions. `txnlog` is the write-ahead log
//! (`log.<zxid>` files, `FileTxnLog`); errors are [`error::PersistError`].

pub mod committed;
pub mod epoch;
pub mod error;
pub mod purge;
pub mod restore;
pub mod snapshot;
pub mod txnlog;

pub use error::PersistError;

/// Bytes of every file under `path`, recursively (`ZooKeeperServer#getDirSize`); 0 for a
/// missing or unreadable directory, as the reference's `listFiles` gives null.
pub fn dir_size(path: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return std::fs::metadata(path)
            .ok()
            .filter(std::fs::Metadata::is_file)
            .map_or(0, |m| m.len());
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}
