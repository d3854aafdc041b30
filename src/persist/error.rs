//! Typed errors of the persistence layer (the `IOException`s `FileTxnLog` and `FileSnap`
//! throw). Every variant names the file it is about, so start-up can say which file to look at.

use std::io;
use std::path::PathBuf;

/// Linux `ENOSPC`: `io::ErrorKind::StorageFull` is newer than our minimum Rust version.
const ENOSPC: i32 = 28;

#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    /// An operating-system error while touching `file` (open, write, fsync, preallocate...).
    #[error("I/O error on {}: {source}", file.display())]
    Io {
        file: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The file holds bytes that are not a valid log/snapshot and are not a torn tail.
    #[error("corrupt file {} at offset {offset}: {reason}", file.display())]
    Corrupt {
        file: PathBuf,
        offset: u64,
        reason: String,
    },
    /// `truncate` was asked for but there is no log file (FileTxnLog#truncate's IOException).
    #[error("no transaction log files found in {}", dir.display())]
    NoLogFiles { dir: PathBuf },
    /// A caller handed us something the log cannot hold (empty or oversized txn).
    #[error("invalid txn for {}: {reason}", file.display())]
    InvalidTxn { file: PathBuf, reason: String },
    /// An earlier write or fsync failed; nothing after it can be reported committed.
    #[error("transaction log {} failed earlier ({reason}); restart to recover", file.display())]
    Failed { file: PathBuf, reason: String },
    /// The thread that owns the log has stopped (after an earlier failure, or at shutdown).
    #[error("the transaction log thread has stopped")]
    Stopped,
}

impl PersistError {
    pub(crate) fn io(file: impl Into<PathBuf>, source: io::Error) -> PersistError {
        PersistError::Io {
            file: file.into(),
            source,
        }
    }

    pub(crate) fn corrupt(
        file: impl Into<PathBuf>,
        offset: u64,
        reason: impl Into<String>,
    ) -> PersistError {
        PersistError::Corrupt {
            file: file.into(),
            offset,
            reason: reason.into(),
        }
    }

    /// The file this error is about, when there is one.
    pub fn file(&self) -> Option<&std::path::Path> {
        match self {
            PersistError::Io { file, .. }
            | PersistError::Corrupt { file, .. }
            | PersistError::InvalidTxn { file, .. }
            | PersistError::Failed { file, .. } => Some(file),
            PersistError::NoLogFiles { .. } | PersistError::Stopped => None,
        }
    }

    /// True when the disk (or quota) is full.
    pub fn is_disk_full(&self) -> bool {
        match self {
            PersistError::Io { source, .. } => source.raw_os_error() == Some(ENOSPC),
            _ => false,
        }
    }
}
