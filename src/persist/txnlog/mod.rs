//! The transaction log, byte-compatible with ZooKeeper 3.8 (replaces `FileTxnLog`,
//! `FileTxnLog.FileTxnIterator`, `FilePadding`, the file-name parts of `Util` and the reading
//! side of `TxnLogToolkit`).
//!
//! On disk, in the `version-2` directory, each file `log.<first zxid in lowercase hex>` is:
//! `FileHeader{int magic "ZKLG", int version 2, long dbid 0}`, then records
//! `long adler32(txn) | int len | txn[len] | byte 0x42 ('B')` where `txn` is exactly
//! `TxnEntry::to_vec()` (TxnHeader + record + optional TxnDigest). Files are zero-extended in
//! `preAllocSize` steps, so a zero length (or end of file) ends the log.
//!
//! Invariants:
//! - A damaged record at the very end of the newest file, with nothing but zeros after it
//!   (a write torn by a crash), ends the log with a warning; [`TxnLog::open`] and
//!   [`truncate`] cut it off so new appends start on a record boundary.
//! - Damage followed by a valid record, anywhere, is [`PersistError::Corrupt`]: a record that
//!   has valid records after it is never dropped silently.
//! - No length read from disk is trusted before it is checked against the file size and
//!   `jute.maxbuffer` (+ extrasize), the bound `BinaryInputArchive#checkLength` applies.

mod reader;
mod records;
mod scan;
mod writer;

use std::path::{Path, PathBuf};

pub use reader::{read_txns, read_txns_limited, LoggedTxn, RawTxn, TxnLogIter};
pub use records::{
    txn_checksum, TxnFileError, TxnFileHeader, TxnFileItem, TxnFileReader, TxnFileWriter,
};
pub use writer::{log_syncs, CommitStats, TxnLog, TxnLogOptions};

use crate::persist::error::PersistError;
use scan::{FileScan, Step};

/// "log", `FileTxnLog.LOG_FILE_PREFIX`.
pub const LOG_FILE_PREFIX: &str = "log";
/// `FileTxnLog.VERSION`.
pub const TXNLOG_VERSION: i32 = 2;
/// `FilePadding.preAllocSize` default: 64 MiB.
pub const DEFAULT_PRE_ALLOC_SIZE: u64 = 64 * 1024 * 1024;
/// Largest txn a record may hold by default: `jute.maxbuffer` (0xfffff) plus
/// `zookeeper.jute.maxbuffer.extrasize` (defaults to the same), as `BinaryInputArchive` checks.
pub const DEFAULT_MAX_TXN_LEN: usize = 2 * 0xfffff;
/// The byte after every record (`Util#writeTxnBytes`).
pub(crate) const END_OF_RECORD: u8 = 0x42;
/// FileHeader: int magic, int version, long dbid.
pub(crate) const FILE_HEADER_LEN: u64 = 16;
/// Before each record: long checksum, int length.
pub(crate) const RECORD_PREFIX_LEN: u64 = 12;

/// `Adler32` over one txn (`Util#writeTxnBytes` / `FileTxnIterator#next`), vectorised.
pub(crate) fn adler32(bytes: &[u8]) -> u32 {
    let mut a = simd_adler32::Adler32::new();
    a.write(bytes);
    a.finish()
}

/// `Util#makeLogName`: `log.` + `Long.toHexString(zxid)`.
pub fn log_file_name(zxid: i64) -> String {
    format!("{LOG_FILE_PREFIX}.{zxid:x}")
}

/// `Util#getZxidFromName`: the hex after the first dot of `log.<hex>[.anything]`, or -1.
pub fn zxid_from_name(name: &str, prefix: &str) -> i64 {
    let mut parts = name.split('.');
    match (parts.next(), parts.next()) {
        (Some(p), Some(hex)) if p == prefix => i64::from_str_radix(hex, 16).unwrap_or(-1),
        _ => -1,
    }
}

/// Every `log.*` file in `log_dir` with its zxid, ascending (`Util#sortDataDir`). Names that
/// do not parse get -1 in the reference and are then never selected, so they are left out.
fn sorted_log_files(log_dir: &Path) -> Result<Vec<(i64, PathBuf)>, PersistError> {
    let entries = match std::fs::read_dir(log_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(PersistError::io(log_dir, e)),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| PersistError::io(log_dir, e))?;
        let name = entry.file_name();
        let zxid = zxid_from_name(&name.to_string_lossy(), LOG_FILE_PREFIX);
        if zxid >= 0 && entry.path().is_file() {
            files.push((zxid, entry.path()));
        }
    }
    files.sort();
    Ok(files)
}

/// `FileTxnLog#getLogFiles` on already-sorted files: the newest file starting at or before
/// `snapshot_zxid`, and every later one.
fn select_log_files(files: Vec<(i64, PathBuf)>, snapshot_zxid: i64) -> Vec<(i64, PathBuf)> {
    let start = files
        .iter()
        .map(|(z, _)| *z)
        .filter(|z| *z <= snapshot_zxid)
        .max()
        .unwrap_or(0);
    files.into_iter().filter(|(z, _)| *z >= start).collect()
}

/// `FileTxnLog#getLogFiles`: the log files needed to replay txns after a snapshot at
/// `snapshot_zxid`, oldest first. An unreadable directory yields no files.
pub fn log_files(log_dir: &Path, snapshot_zxid: i64) -> Vec<PathBuf> {
    match sorted_log_files(log_dir) {
        Ok(files) => select_log_files(files, snapshot_zxid)
            .into_iter()
            .map(|(_, p)| p)
            .collect(),
        Err(e) => {
            tracing::warn!("cannot list {}: {e}", log_dir.display());
            Vec::new()
        }
    }
}

/// The zxid of the last valid txn in the log, or -1 when there is none
/// (`FileTxnLog#getLastLoggedZxid`). A torn tail is skipped; corruption is an error.
pub fn last_logged_zxid(log_dir: &Path) -> Result<i64, PersistError> {
    let files = sorted_log_files(log_dir)?;
    let mut last = -1;
    // Newest file first; an empty newest file defers to the one before it.
    for (i, (_, path)) in files.iter().enumerate().rev() {
        let is_last = i + 1 == files.len();
        let mut scan = FileScan::open(path, DEFAULT_MAX_TXN_LEN)?;
        loop {
            match scan.step()? {
                Step::Record(r) => last = r.zxid()?,
                Step::End => break,
                Step::Damaged { offset, reason } => {
                    scan.check_torn(offset, &reason, is_last)?;
                    break;
                }
            }
        }
        if last >= 0 {
            return Ok(last);
        }
    }
    Ok(last)
}

/// Drop every txn after `zxid` (`FileTxnLog#truncate`, used for a leader's TRUNC and to cut a
/// torn tail): the file holding `zxid` is cut right after that record, later files are
/// deleted, and so is any file left without records.
///
/// Differs from the reference on purpose: when `zxid` itself is not in the log, the reference
/// keeps the first txn after it; here nothing after `zxid` survives.
pub fn truncate(log_dir: &Path, zxid: i64) -> Result<(), PersistError> {
    let files = select_log_files(sorted_log_files(log_dir)?, zxid);
    if files.is_empty() {
        return Err(PersistError::NoLogFiles {
            dir: log_dir.to_path_buf(),
        });
    }
    let count = files.len();
    let mut cut_done = false;
    for (i, (_, path)) in files.iter().enumerate() {
        if cut_done {
            remove(path)?;
            continue;
        }
        let (keep, reached) = valid_prefix_up_to(path, zxid, i + 1 == count)?;
        match keep {
            Some(end) => set_len(path, end)?,
            None => remove(path)?,
        }
        cut_done = reached;
    }
    Ok(())
}

/// Scan one file: the end offset of its last record with zxid ≤ `zxid` (None if it has no such
/// record), and whether a record past `zxid` was seen (so later files must go).
fn valid_prefix_up_to(
    path: &Path,
    zxid: i64,
    is_last: bool,
) -> Result<(Option<u64>, bool), PersistError> {
    let mut scan = FileScan::open(path, DEFAULT_MAX_TXN_LEN)?;
    let mut keep = None;
    loop {
        match scan.step()? {
            Step::Record(r) => {
                if r.zxid()? > zxid {
                    return Ok((keep, true));
                }
                keep = Some(r.end);
            }
            Step::End => return Ok((keep, false)),
            Step::Damaged { offset, reason } => {
                scan.check_torn(offset, &reason, is_last)?;
                return Ok((keep, false));
            }
        }
    }
}

fn set_len(path: &Path, len: u64) -> Result<(), PersistError> {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| PersistError::io(path, e))?;
    file.set_len(len).map_err(|e| PersistError::io(path, e))?;
    file.sync_all().map_err(|e| PersistError::io(path, e))
}

fn remove(path: &Path) -> Result<(), PersistError> {
    tracing::info!("removing transaction log {}", path.display());
    std::fs::remove_file(path).map_err(|e| PersistError::io(path, e))
}

#[cfg(test)]
mod tests;
