//! Record-by-record scanning of one `log.*` file, and the torn-tail-or-corrupt decision
//! (`FileTxnIterator#next`, `Util#readTxnBytes`).
//!
//! The reference treats a short read, a zero length and a missing 'B' alike as "end of this
//! file" (and moves on to the next file, even from the middle of one), and a checksum mismatch
//! as fatal. Here every such stop is [`Step::Damaged`] unless the rest of the file is zeros
//! ([`Step::End`]); [`FileScan::check_torn`] then looks for any valid record after the damage:
//! if there is one the file is corrupt, otherwise the damage is a torn tail.

use std::fs::File;
use std::io::{BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::{END_OF_RECORD, FILE_HEADER_LEN, RECORD_PREFIX_LEN};
use crate::jute::persistence::TXNLOG_MAGIC;
use crate::persist::error::PersistError;

const CHUNK: usize = 1 << 20;

/// One intact record: checksum and end marker verified.
#[derive(Debug)]
pub(super) struct RawRecord {
    pub(super) path: PathBuf,
    pub(super) offset: u64,
    pub(super) end: u64,
    pub(super) bytes: Vec<u8>,
}

impl RawRecord {
    /// The zxid of the TxnHeader (long clientId, int cxid, long zxid...).
    pub(super) fn zxid(&self) -> Result<i64, PersistError> {
        match self
            .bytes
            .get(12..20)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
        {
            Some(z) => Ok(i64::from_be_bytes(z)),
            None => Err(PersistError::corrupt(
                &self.path,
                self.offset,
                "txn too short for a TxnHeader",
            )),
        }
    }
}

#[derive(Debug)]
pub(super) enum Step {
    Record(RawRecord),
    /// Zero length or end of file, with only zeros from here on: the normal end.
    End,
    /// The bytes at `offset` are not a record.
    Damaged {
        offset: u64,
        reason: String,
    },
}

pub(super) struct FileScan {
    path: PathBuf,
    reader: BufReader<File>,
    len: u64,
    pos: u64,
    max_txn_len: usize,
    header_ok: bool,
}

impl FileScan {
    /// Open `path` and check its FileHeader. A wrong magic is corrupt at once; a missing or
    /// all-zero header is reported by the first [`FileScan::step`] as damage at offset 0
    /// (a file created just before a crash).
    pub(super) fn open(path: &Path, max_txn_len: usize) -> Result<FileScan, PersistError> {
        let io = |e| PersistError::io(path, e);
        let file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let mut scan = FileScan {
            path: path.to_path_buf(),
            reader: BufReader::with_capacity(64 * 1024, file),
            len,
            pos: 0,
            max_txn_len,
            header_ok: false,
        };
        if len >= FILE_HEADER_LEN {
            let mut hdr = [0u8; FILE_HEADER_LEN as usize];
            scan.read_exact(&mut hdr)?;
            let magic = i32::from_be_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]);
            let version = i32::from_be_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]);
            if magic == TXNLOG_MAGIC {
                scan.header_ok = true;
                if version != super::TXNLOG_VERSION {
                    tracing::warn!("{}: txn log version {version}", path.display());
                }
            } else if hdr.iter().any(|b| *b != 0) {
                return Err(PersistError::corrupt(
                    path,
                    0,
                    format!("invalid magic number {magic:#x} != {TXNLOG_MAGIC:#x}"),
                ));
            }
        }
        Ok(scan)
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), PersistError> {
        self.reader
            .read_exact(buf)
            .map_err(|e| PersistError::io(&self.path, e))?;
        self.pos += buf.len() as u64;
        Ok(())
    }

    /// `len` bytes into an allocation of their own. Not zero-filled first: jemalloc serves a
    /// zeroed request of this size by dropping the reused pages (`MADV_DONTNEED`), so every
    /// record read faulted fresh pages — a third of a replay's page faults.
    fn read_record(&mut self, len: usize) -> Result<Vec<u8>, PersistError> {
        let mut bytes = Vec::with_capacity(len);
        let got = (&mut self.reader)
            .take(len as u64)
            .read_to_end(&mut bytes)
            .map_err(|e| PersistError::io(&self.path, e))?;
        if got < len {
            let eof = std::io::Error::from(std::io::ErrorKind::UnexpectedEof);
            return Err(PersistError::io(&self.path, eof));
        }
        self.pos += len as u64;
        Ok(bytes)
    }

    /// The next record, or why there is none.
    pub(super) fn step(&mut self) -> Result<Step, PersistError> {
        if !self.header_ok {
            return self.stop(0, "missing file header");
        }
        let offset = self.pos;
        let remaining = self.len - offset;
        if remaining < RECORD_PREFIX_LEN {
            return self.stop(offset, "short record header");
        }
        let mut prefix = [0u8; RECORD_PREFIX_LEN as usize];
        self.read_exact(&mut prefix)?;
        let (crc, len) = split_prefix(&prefix);
        if len == 0 {
            return self.stop(offset, "zero-length record");
        }
        let Some(len) = usize::try_from(len).ok().filter(|l| *l <= self.max_txn_len) else {
            return self.stop(offset, &format!("unreasonable length {len}"));
        };
        if remaining < RECORD_PREFIX_LEN + len as u64 + 1 {
            return self.stop(offset, "record runs past end of file");
        }
        let bytes = self.read_record(len)?;
        let mut eor = [0u8; 1];
        self.read_exact(&mut eor)?;
        if eor[0] != END_OF_RECORD {
            return self.stop(offset, "missing end-of-record byte 'B'");
        }
        if crc != i64::from(super::adler32(&bytes)) {
            return self.stop(offset, "CRC check failed");
        }
        Ok(Step::Record(RawRecord {
            path: self.path.clone(),
            offset,
            end: self.pos,
            bytes,
        }))
    }

    /// `offset` is not a record: the normal end if only zeros follow, damage otherwise.
    fn stop(&mut self, offset: u64, reason: &str) -> Result<Step, PersistError> {
        if self.header_ok && last_nonzero(&self.path, self.reader.get_ref(), offset)?.is_none() {
            return Ok(Step::End);
        }
        Ok(Step::Damaged {
            offset,
            reason: reason.to_string(),
        })
    }

    /// Decide about damage at `offset`: corrupt if any valid record follows it; otherwise a
    /// torn tail, which is acceptable only where `tolerated` (the end of the newest file).
    pub(super) fn check_torn(
        &mut self,
        offset: u64,
        reason: &str,
        tolerated: bool,
    ) -> Result<(), PersistError> {
        if let Some(at) = self.find_record_after(offset)? {
            return Err(PersistError::corrupt(
                &self.path,
                offset,
                format!("{reason}, and a valid record follows at offset {at}"),
            ));
        }
        if !tolerated {
            return Err(PersistError::corrupt(
                &self.path,
                offset,
                format!("{reason}, not at the end of the newest log file"),
            ));
        }
        tracing::warn!(
            "transaction log {} ends with a torn record at offset {offset} ({reason}); \
             ignoring it",
            self.path.display()
        );
        Ok(())
    }

    /// The offset of the first intact record starting after `offset`, if any.
    pub(super) fn find_record_after(&mut self, offset: u64) -> Result<Option<u64>, PersistError> {
        let file = self.reader.get_ref();
        let Some(last) = last_nonzero(&self.path, file, offset)? else {
            return Ok(None);
        };
        // A record's length field holds a non-zero byte, so it starts at most 11 bytes
        // before the last non-zero byte.
        let mut start = offset.saturating_add(1).max(FILE_HEADER_LEN);
        let mut window = Vec::new();
        while start <= last {
            let want = (last + RECORD_PREFIX_LEN - start).min(CHUNK as u64 + RECORD_PREFIX_LEN);
            window.resize(usize::try_from(want).unwrap_or(CHUNK), 0);
            let got = read_at(&self.path, file, &mut window, start)?;
            let window = &window[..got];
            for (i, pre) in window.windows(RECORD_PREFIX_LEN as usize).enumerate() {
                let p = start + i as u64;
                if p > last {
                    break;
                }
                if self.is_record_at(file, p, pre)? {
                    return Ok(Some(p));
                }
            }
            start += CHUNK as u64;
        }
        Ok(None)
    }

    fn is_record_at(&self, file: &File, p: u64, prefix: &[u8]) -> Result<bool, PersistError> {
        let Ok(prefix) = <[u8; RECORD_PREFIX_LEN as usize]>::try_from(prefix) else {
            return Ok(false);
        };
        let (crc, len) = split_prefix(&prefix);
        let Some(len) = usize::try_from(len)
            .ok()
            .filter(|l| *l > 0 && *l <= self.max_txn_len)
        else {
            return Ok(false);
        };
        let eor_at = p + RECORD_PREFIX_LEN + len as u64;
        if eor_at >= self.len {
            return Ok(false);
        }
        let mut eor = [0u8; 1];
        read_at(&self.path, file, &mut eor, eor_at)?;
        if eor[0] != END_OF_RECORD {
            return Ok(false);
        }
        let mut bytes = vec![0u8; len];
        read_at(&self.path, file, &mut bytes, p + RECORD_PREFIX_LEN)?;
        Ok(crc == i64::from(super::adler32(&bytes)))
    }
}

fn split_prefix(prefix: &[u8; RECORD_PREFIX_LEN as usize]) -> (i64, i32) {
    let mut crc = [0u8; 8];
    crc.copy_from_slice(&prefix[..8]);
    let mut len = [0u8; 4];
    len.copy_from_slice(&prefix[8..]);
    (i64::from_be_bytes(crc), i32::from_be_bytes(len))
}

/// Positional read of up to `buf.len()` bytes; returns how many were read.
fn read_at(path: &Path, file: &File, buf: &mut [u8], at: u64) -> Result<usize, PersistError> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], at + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(PersistError::io(path, e)),
        }
    }
    Ok(done)
}

/// The offset of the last non-zero byte at or after `from`, if any. Only the file's data
/// regions are read: a log's preallocated tail is a hole (`FilePadding` extends the file by
/// writing its last byte), and reading it would zero a page-cache page per 4 KiB — at the
/// end of every replay, up to the 64 MiB of one preallocation.
fn last_nonzero(path: &Path, file: &File, from: u64) -> Result<Option<u64>, PersistError> {
    let len = file
        .metadata()
        .map_err(|e| PersistError::io(path, e))?
        .len();
    let mut buf = vec![0u8; CHUNK];
    let zeros = vec![0u8; CHUNK];
    let mut last = None;
    for (start, end) in data_regions(file, from, len) {
        let mut at = start;
        while at < end {
            let want = usize::try_from(end - at).map_or(CHUNK, |n| n.min(CHUNK));
            let got = read_at(path, file, &mut buf[..want], at)?;
            if got == 0 {
                break;
            }
            // Zeros are the common case: a slice comparison is a memcmp in every build (a
            // learner taking over as leader scans its log's tail, and a designated leader
            // has half a second before a 3.8 follower gives up on it); the byte-by-byte
            // search runs only on a chunk that has data.
            let chunk = &buf[..got];
            if chunk != &zeros[..got] {
                if let Some(i) = chunk.iter().rposition(|b| *b != 0) {
                    last = Some(at + i as u64);
                }
            }
            at += got as u64;
        }
    }
    Ok(last)
}

/// The `[start, end)` ranges of `[from, len)` that may hold data (`SEEK_DATA` /
/// `SEEK_HOLE`); the whole range where the file system cannot tell. The file's offset is
/// left where it was: the scanner's buffered reader depends on it.
fn data_regions(file: &File, from: u64, len: u64) -> Vec<(u64, u64)> {
    use rustix::fs::{seek, SeekFrom};
    let whole = vec![(from, len)];
    let Ok(home) = seek(file, SeekFrom::Current(0)) else {
        return whole;
    };
    let mut regions = Vec::new();
    let mut at = from;
    let found = loop {
        if at >= len {
            break true;
        }
        let start = match seek(file, SeekFrom::Data(at)) {
            Ok(start) => start,
            // no data after `at`: the rest is a hole
            Err(rustix::io::Errno::NXIO) => break true,
            Err(_) => break false,
        };
        let Ok(end) = seek(file, SeekFrom::Hole(start)) else {
            break false;
        };
        if end <= start {
            break false;
        }
        regions.push((start, end.min(len)));
        at = end;
    };
    if seek(file, SeekFrom::Start(home)).is_err() {
        tracing::warn!("cannot restore a transaction log's read offset after probing for holes");
    }
    if found {
        regions
    } else {
        whole
    }
}
