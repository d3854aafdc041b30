//! The txn-log writer (`FileTxnLog#append/commit/rollLog`, `FilePadding`).
//!
//! Appends are buffered in memory; `commit` writes them, zero-extends the file in
//! `pre_alloc_size` steps first, then fsyncs (`FileChannel#force(false)`, i.e. fdatasync)
//! every file touched since the last commit. After any I/O error the writer refuses all
//! further work: a failed write may have left part of a record on disk, so nothing after it
//! may be reported committed; restarting (`open` cuts the torn tail) is the recovery.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::scan::{FileScan, Step};
use super::{log_file_name, sorted_log_files, DEFAULT_MAX_TXN_LEN, DEFAULT_PRE_ALLOC_SIZE};
use super::{END_OF_RECORD, FILE_HEADER_LEN, TXNLOG_VERSION};
use crate::jute::persistence::{FileHeader, TXNLOG_MAGIC};
use crate::jute::Jute;
use crate::persist::error::PersistError;

/// Txn-log fsyncs done in this process: how a snapshot being written learns that clients
/// are waiting on the disk (one server per process in production).
static LOG_SYNCS: AtomicU64 = AtomicU64::new(0);

/// The number of txn-log fsyncs done in this process so far.
pub fn log_syncs() -> u64 {
    LOG_SYNCS.load(Ordering::Relaxed)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnLogOptions {
    /// Bytes to zero-extend by (`zookeeper.preAllocSize` is in KiB; 0 disables).
    pub pre_alloc_size: u64,
    /// fsync at commit (`zookeeper.forceSync`, default yes).
    pub force_sync: bool,
    /// Roll after a commit that leaves the file longer than this many bytes
    /// (`zookeeper.txnLogSizeLimitInKb` × 1024). Like `FileTxnLog#commit`, the length compared
    /// is the file's length on disk, preallocation included, so a limit below
    /// `pre_alloc_size` rolls at every commit.
    pub txn_log_size_limit: Option<u64>,
    /// Warn when one fsync takes longer (`zookeeper.fsync.warningthresholdms`, default 1000).
    pub fsync_warning_threshold_ms: u64,
}

impl Default for TxnLogOptions {
    fn default() -> Self {
        TxnLogOptions {
            pre_alloc_size: DEFAULT_PRE_ALLOC_SIZE,
            force_sync: true,
            txn_log_size_limit: None,
            fsync_warning_threshold_ms: 1000,
        }
    }
}

/// What one `commit` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// Txns made durable by this commit.
    pub txns: usize,
    /// Bytes written (records only; padding not counted).
    pub bytes_written: u64,
    /// Total time spent in fsync (None when `force_sync` is off or nothing was written).
    pub fsync_time: Option<Duration>,
    /// An fsync took longer than the warning threshold (ServerStats' fsyncThresholdExceedCount).
    pub fsync_threshold_exceeded: bool,
    /// The size limit was exceeded and the log rolled: the next append opens a new file.
    pub rolled: bool,
}

struct OpenLog {
    path: PathBuf,
    file: File,
    /// Bytes written: header and records.
    written: u64,
    /// Length on disk, preallocation included (`FilePadding.currentSize`).
    size: u64,
    unsynced: bool,
}

/// The txn-log writer. Not thread-safe by design: the pipeline's log stage owns it.
pub struct TxnLog {
    dir: PathBuf,
    opts: TxnLogOptions,
    current: Option<OpenLog>,
    /// Files rolled away from with data not yet fsynced (`FileTxnLog.streamsToFlush`).
    retired: Vec<OpenLog>,
    pending: Vec<u8>,
    pending_txns: usize,
    last_zxid_seen: i64,
    prev_logs_total: u64,
    failure: Option<(PathBuf, String)>,
}

impl TxnLog {
    /// Open the log in `log_dir` (created if missing). The newest file's torn tail, if any,
    /// is cut off, and a newest file left without records is deleted, so that appends start
    /// on a clean boundary; corruption is an error. No file is opened until the first append.
    pub fn open(log_dir: &Path, opts: TxnLogOptions) -> Result<TxnLog, PersistError> {
        std::fs::create_dir_all(log_dir).map_err(|e| PersistError::io(log_dir, e))?;
        let last_zxid_seen = recover_tail(log_dir)?;
        Ok(TxnLog {
            dir: log_dir.to_path_buf(),
            opts,
            current: None,
            retired: Vec::new(),
            pending: Vec::new(),
            pending_txns: 0,
            last_zxid_seen,
            prev_logs_total: 0,
            failure: None,
        })
    }

    /// Buffer one txn (`TxnEntry::to_vec()` bytes); opens `log.<zxid>` if no file is open.
    pub fn append(&mut self, zxid: i64, txn_bytes: &[u8]) -> Result<(), PersistError> {
        self.check_failed()?;
        let Ok(len) = i32::try_from(txn_bytes.len()) else {
            return Err(self.invalid("txn longer than 2 GiB"));
        };
        if len == 0 {
            // A zero length is the end-of-log marker (FileTxnLog#append's "Faulty serialization").
            return Err(self.invalid("empty txn"));
        }
        if zxid <= self.last_zxid_seen {
            tracing::warn!("current zxid {zxid:#x} is <= {:#x}", self.last_zxid_seen);
        } else {
            self.last_zxid_seen = zxid;
        }
        if self.current.is_none() {
            let log = self.create_file(zxid);
            self.current = Some(self.poison_on_err(log)?);
        }
        let crc = i64::from(super::adler32(txn_bytes));
        self.pending.extend_from_slice(&crc.to_be_bytes());
        self.pending.extend_from_slice(&len.to_be_bytes());
        self.pending.extend_from_slice(txn_bytes);
        self.pending.push(END_OF_RECORD);
        self.pending_txns += 1;
        Ok(())
    }

    /// Write out and (with `force_sync`) fsync everything appended since the last commit;
    /// one call serves a whole group commit. Rolls afterwards when the size limit is exceeded.
    pub fn commit(&mut self) -> Result<CommitStats, PersistError> {
        self.check_failed()?;
        let written = self.flush_pending();
        let mut stats = CommitStats {
            txns: self.pending_txns,
            bytes_written: self.poison_on_err(written)?,
            ..CommitStats::default()
        };
        let synced = self.sync_all(&mut stats);
        self.poison_on_err(synced)?;
        self.retired.clear();
        self.pending_txns = 0;
        if let Some(limit) = self.opts.txn_log_size_limit {
            let size = self.current_file_size();
            if size > limit {
                tracing::debug!("log size limit reached: {size}");
                self.roll()?;
                stats.rolled = true;
            }
        }
        Ok(stats)
    }

    /// Make the next append start a new file (`FileTxnLog#rollLog`). Called at snapshot time
    /// (SyncRequestProcessor, after snapCount txns or snapSizeLimitInKb) and by `commit`
    /// itself when `txn_log_size_limit` is exceeded. Buffered txns are written (not fsynced:
    /// the next commit does that).
    pub fn roll(&mut self) -> Result<(), PersistError> {
        self.check_failed()?;
        let written = self.flush_pending();
        self.poison_on_err(written)?;
        if let Some(log) = self.current.take() {
            self.prev_logs_total += log.size.max(log.written);
            if log.unsynced {
                self.retired.push(log);
            }
        }
        Ok(())
    }

    /// Length on disk of the file being written, preallocation included; 0 when none is open
    /// (`FileTxnLog#getCurrentLogSize`). Exact after `commit`.
    pub fn current_file_size(&self) -> u64 {
        self.current
            .as_ref()
            .map_or(0, |log| log.size.max(log.written))
    }

    /// Header and record bytes written to the current file (no preallocation).
    pub fn current_data_size(&self) -> u64 {
        self.current.as_ref().map_or(0, |log| log.written)
    }

    /// The file being written, if any.
    pub fn current_file(&self) -> Option<&Path> {
        self.current.as_ref().map(|log| log.path.as_path())
    }

    /// `FileTxnLog#getTotalLogSize`: rolled files' sizes plus the current one.
    pub fn total_log_size(&self) -> u64 {
        self.prev_logs_total + self.current_file_size()
    }

    /// `FileTxnLog#setTotalLogSize` (the restore knows the size of the logs it replayed).
    pub fn set_total_log_size(&mut self, size: u64) {
        self.prev_logs_total = size;
    }

    /// `ZKDatabase#truncateLog` on the open log (a leader's TRUNC): commit what is buffered,
    /// close the file, drop every txn after `zxid` ([`super::truncate`]) and append after it.
    pub fn truncate(&mut self, zxid: i64) -> Result<(), PersistError> {
        self.commit()?;
        self.current = None;
        super::truncate(&self.dir, zxid)?;
        *self = TxnLog::open(&self.dir, self.opts.clone())?;
        Ok(())
    }

    /// The highest zxid appended (or, right after [`TxnLog::open`], the last one on disk).
    pub fn last_zxid_seen(&self) -> i64 {
        self.last_zxid_seen
    }

    /// A write or fsync failed: nothing appended since the last commit may be on disk.
    pub fn has_failed(&self) -> bool {
        self.failure.is_some()
    }

    /// Commit what is buffered and close the files.
    pub fn close(mut self) -> Result<(), PersistError> {
        self.commit().map(|_| ())
    }

    fn create_file(&self, zxid: i64) -> Result<OpenLog, PersistError> {
        let path = self.dir.join(log_file_name(zxid));
        // 3.8's line names the file only (FileTxnLog#append)
        tracing::info!("Creating new log file: {}", log_file_name(zxid));
        let io = |e| PersistError::io(&path, e);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io)?;
        let header = FileHeader {
            magic: TXNLOG_MAGIC,
            version: TXNLOG_VERSION,
            dbid: 0,
        };
        file.write_all(&header.to_vec()).map_err(io)?;
        Ok(OpenLog {
            path,
            file,
            written: FILE_HEADER_LEN,
            size: FILE_HEADER_LEN,
            unsynced: true,
        })
    }

    /// Pad, then write the buffered records to the current file.
    fn flush_pending(&mut self) -> Result<u64, PersistError> {
        let (Some(log), false) = (self.current.as_mut(), self.pending.is_empty()) else {
            return Ok(0);
        };
        let io = |e| PersistError::io(&log.path, e);
        let len = self.pending.len() as u64;
        let new_size = padded_size(log.written + len, log.size, self.opts.pre_alloc_size);
        if new_size != log.size {
            // Sparse, like FilePadding's single byte written at the new end.
            log.file.set_len(new_size).map_err(io)?;
            log.size = new_size;
        }
        log.unsynced = true;
        log.file.write_all(&self.pending).map_err(io)?;
        log.written += len;
        self.pending.clear();
        Ok(len)
    }

    fn sync_all(&mut self, stats: &mut CommitStats) -> Result<(), PersistError> {
        let threshold = Duration::from_millis(self.opts.fsync_warning_threshold_ms);
        for log in self.retired.iter_mut().chain(self.current.as_mut()) {
            if !log.unsynced {
                continue;
            }
            if self.opts.force_sync {
                let start = Instant::now();
                log.file
                    .sync_data()
                    .map_err(|e| PersistError::io(&log.path, e))?;
                let took = start.elapsed();
                LOG_SYNCS.fetch_add(1, Ordering::Relaxed);
                *stats.fsync_time.get_or_insert(Duration::ZERO) += took;
                if took > threshold {
                    stats.fsync_threshold_exceeded = true;
                    tracing::warn!(
                        "fsync-ing the write ahead log took {}ms which will adversely effect \
                         operation latency. File size is {} bytes. See the ZooKeeper \
                         troubleshooting guide",
                        took.as_millis(),
                        log.size.max(log.written)
                    );
                }
            }
            log.unsynced = false;
        }
        Ok(())
    }

    fn check_failed(&self) -> Result<(), PersistError> {
        match &self.failure {
            Some((file, reason)) => Err(PersistError::Failed {
                file: file.clone(),
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }

    fn poison_on_err<T>(&mut self, r: Result<T, PersistError>) -> Result<T, PersistError> {
        if let Err(e) = &r {
            let file = e.file().map_or_else(|| self.dir.clone(), Path::to_path_buf);
            self.failure = Some((file, e.to_string()));
        }
        r
    }

    fn invalid(&self, reason: &str) -> PersistError {
        PersistError::InvalidTxn {
            file: self.current_file().unwrap_or(&self.dir).to_path_buf(),
            reason: reason.to_string(),
        }
    }
}

/// `FilePadding#calculateFileSizeWithPadding`: once the write position comes within 4 KiB of
/// the known end of file, grow by `pre_alloc` (rounded to a multiple of it if the position
/// already passed the end).
pub(super) fn padded_size(position: u64, file_size: u64, pre_alloc: u64) -> u64 {
    if pre_alloc == 0 || position.saturating_add(4096) < file_size {
        return file_size;
    }
    if position > file_size {
        let size = position.saturating_add(pre_alloc);
        size - size % pre_alloc
    } else {
        file_size.saturating_add(pre_alloc)
    }
}

/// Cut a torn tail off the newest log file, and delete it if it holds no record. Returns the
/// zxid of its last record (0 when there is none, where `FileTxnLog.lastZxidSeen` starts).
fn recover_tail(log_dir: &Path) -> Result<i64, PersistError> {
    let files = sorted_log_files(log_dir)?;
    let Some((_, path)) = files.last() else {
        return Ok(0);
    };
    let mut scan = FileScan::open(path, DEFAULT_MAX_TXN_LEN)?;
    let (mut last_zxid, mut end) = (None, FILE_HEADER_LEN);
    loop {
        match scan.step()? {
            Step::Record(r) => {
                last_zxid = Some(r.zxid()?);
                end = r.end;
            }
            Step::End => break,
            Step::Damaged { offset, reason } => {
                scan.check_torn(offset, &reason, true)?;
                if last_zxid.is_some() {
                    tracing::warn!("truncating {} to {end} bytes", path.display());
                    super::set_len(path, end)?;
                }
                break;
            }
        }
    }
    match last_zxid {
        Some(z) => Ok(z),
        None => {
            super::remove(path)?;
            Ok(0)
        }
    }
}
