//! Reading txns back in zxid order across all log files (`FileTxnLog.FileTxnIterator`).

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use super::scan::{FileScan, Step};
use super::{select_log_files, sorted_log_files, DEFAULT_MAX_TXN_LEN};
use crate::jute::txn::{EncodedTxn, TxnEntry};
use crate::jute::txn_ref::TxnEntryRef;
use crate::jute::DecodeError;
use crate::persist::error::PersistError;

/// One txn read from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedTxn {
    pub zxid: i64,
    /// The txn exactly as logged (TxnHeader + record + optional TxnDigest).
    pub bytes: Vec<u8>,
    pub entry: TxnEntry,
}

impl LoggedTxn {
    /// The txn with the bytes it was logged in, to send on without encoding it again.
    pub fn into_encoded(self) -> EncodedTxn {
        EncodedTxn::decoded_from(self.entry, self.bytes.into())
    }
}

/// One intact record, not yet decoded.
#[derive(Debug)]
pub struct RawTxn {
    pub zxid: i64,
    /// The file and offset it was read from, for [`RawTxn::undecodable`].
    pub path: PathBuf,
    pub offset: u64,
    /// The txn exactly as logged (TxnHeader + record + optional TxnDigest).
    pub bytes: Vec<u8>,
}

impl RawTxn {
    /// The error for a record whose checksum holds but whose txn does not decode.
    pub fn undecodable(&self, e: DecodeError) -> PersistError {
        PersistError::corrupt(&self.path, self.offset, format!("undecodable txn: {e}"))
    }
}

/// Iterator over every txn with zxid > `after`. Yields `Err` at most once, then ends.
pub struct TxnLogIter {
    files: VecDeque<(i64, PathBuf)>,
    current: Option<FileScan>,
    /// Zxid of the last intact record of the current file (its name's zxid - 1 before any).
    last_in_file: i64,
    after: i64,
    max_txn_len: usize,
    finished: bool,
    torn: Option<(PathBuf, u64)>,
}

/// Every txn with zxid > `after`, in order, across the log files of `log_dir` (the
/// `version-2` directory). A missing directory reads as an empty log.
pub fn read_txns(log_dir: &Path, after: i64) -> Result<TxnLogIter, PersistError> {
    read_txns_limited(log_dir, after, DEFAULT_MAX_TXN_LEN)
}

/// [`read_txns`] with another bound on one txn's length (`jute.maxbuffer` + extrasize).
pub fn read_txns_limited(
    log_dir: &Path,
    after: i64,
    max_txn_len: usize,
) -> Result<TxnLogIter, PersistError> {
    let files = select_log_files(sorted_log_files(log_dir)?, after);
    Ok(TxnLogIter {
        files: files.into(),
        current: None,
        last_in_file: -1,
        after,
        max_txn_len,
        finished: false,
        torn: None,
    })
}

impl TxnLogIter {
    /// Where a torn tail was found (file, offset of the torn record), once the iterator has
    /// reached it. [`super::truncate`] to the last txn read removes it.
    pub fn torn_tail(&self) -> Option<(&Path, u64)> {
        self.torn.as_ref().map(|(p, o)| (p.as_path(), *o))
    }

    /// The next txn after `after` as its logged bytes, for a caller that decodes it itself
    /// (start-up replay, with [`crate::jute::txn_ref::TxnEntryRef`]); records it skips are
    /// still checked to decode. `None` at the end of the log.
    pub fn next_raw(&mut self) -> Option<Result<RawTxn, PersistError>> {
        if self.finished {
            return None;
        }
        match self.advance_raw() {
            Ok(Some(txn)) => Some(Ok(txn)),
            Ok(None) => {
                self.finished = true;
                None
            }
            Err(e) => {
                self.finished = true;
                self.current = None;
                Some(Err(e))
            }
        }
    }

    fn advance(&mut self) -> Result<Option<LoggedTxn>, PersistError> {
        let Some(raw) = self.advance_raw()? else {
            return Ok(None);
        };
        let entry = TxnEntry::from_bytes(&raw.bytes).map_err(|e| raw.undecodable(e))?;
        Ok(Some(LoggedTxn {
            zxid: raw.zxid,
            bytes: raw.bytes,
            entry,
        }))
    }

    fn advance_raw(&mut self) -> Result<Option<RawTxn>, PersistError> {
        loop {
            let Some(scan) = self.current.as_mut() else {
                let Some((zxid, path)) = self.files.pop_front() else {
                    return Ok(None);
                };
                self.current = Some(FileScan::open(&path, self.max_txn_len)?);
                self.last_in_file = zxid.saturating_sub(1);
                continue;
            };
            match scan.step()? {
                Step::Record(r) => {
                    let zxid = r.zxid()?;
                    let raw = RawTxn {
                        zxid,
                        path: r.path,
                        offset: r.offset,
                        bytes: r.bytes,
                    };
                    if zxid > self.after {
                        self.last_in_file = zxid;
                        return Ok(Some(raw));
                    }
                    // Decoded even when skipped, as SerializeUtils#deserializeTxn does while
                    // the reference fast-forwards: an undecodable intact record is corrupt.
                    TxnEntryRef::decode(&raw.bytes).map_err(|e| raw.undecodable(e))?;
                    self.last_in_file = zxid;
                }
                Step::End => self.current = None,
                Step::Damaged { offset, reason } => {
                    // A torn tail in an older file is what a crashed reference server leaves
                    // behind when it restarts into a new file; it is harmless exactly when
                    // the next file starts right after the last intact txn.
                    let tolerated = match self.files.front() {
                        None => true,
                        Some((next, _)) => *next <= self.last_in_file.saturating_add(1),
                    };
                    scan.check_torn(offset, &reason, tolerated)?;
                    self.torn = Some((scan.path().to_path_buf(), offset));
                    self.current = None;
                }
            }
        }
    }
}

impl Iterator for TxnLogIter {
    type Item = Result<LoggedTxn, PersistError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        match self.advance() {
            Ok(Some(txn)) => Some(Ok(txn)),
            Ok(None) => {
                self.finished = true;
                None
            }
            Err(e) => {
                self.finished = true;
                self.current = None;
                Some(Err(e))
            }
        }
    }
}
