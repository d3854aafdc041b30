//! One log file read and written record by record, with no judgement about damage: what the
//! offline tools (`TxnLogToolkit`, `LogChopper`) see, where the server's reader
//! ([`super::TxnLogIter`]) decides torn tail or corruption.
//!
//! [`TxnFileReader`] follows `BinaryInputArchive` as those tools drive it: a record is
//! `long crc | buffer txn | byte 'B'`, read one field at a time, so a caller can act on the
//! txn (print it, check its CRC) before it learns whether the end marker is there.

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::writer::padded_size;
use super::{DEFAULT_PRE_ALLOC_SIZE, END_OF_RECORD, TXNLOG_VERSION};
use crate::jute::persistence::TXNLOG_MAGIC;
use crate::persist::error::PersistError;

/// `FileHeader` of a log file as it is on disk (the magic is not checked here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnFileHeader {
    pub magic: i32,
    pub version: i32,
    pub dbid: i64,
}

impl TxnFileHeader {
    /// The header the server writes: "ZKLG", version 2, dbid 0.
    pub fn standard() -> TxnFileHeader {
        TxnFileHeader {
            magic: TXNLOG_MAGIC,
            version: TXNLOG_VERSION,
            dbid: 0,
        }
    }

    pub fn is_txn_log(&self) -> bool {
        self.magic == TXNLOG_MAGIC
    }

    fn to_bytes(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..4].copy_from_slice(&self.magic.to_be_bytes());
        b[4..8].copy_from_slice(&self.version.to_be_bytes());
        b[8..].copy_from_slice(&self.dbid.to_be_bytes());
        b
    }
}

/// The next record's checksum and txn, as far as they could be read.
#[derive(Debug, PartialEq, Eq)]
pub enum TxnFileItem {
    /// The stored checksum and the txn bytes (not yet checked, the end marker not yet read).
    Txn { crc: i64, bytes: Vec<u8> },
    /// A zero length: preallocated space, the end of the log.
    Empty,
    /// The file ended inside the checksum or the txn.
    Eof,
}

/// Why a record could not be read at all (not a short file: that is [`TxnFileItem::Eof`]).
#[derive(Debug, thiserror::Error)]
pub enum TxnFileError {
    #[error(transparent)]
    Io(#[from] PersistError),
    /// `BinaryInputArchive#checkLength`: a negative or oversized length.
    #[error("Unreasonable length = {0}")]
    UnreasonableLength(i32),
    /// A length of -1, which the archive reads as a null buffer.
    #[error("null txn buffer")]
    NullBuffer,
}

/// Sequential reader of one `log.*` file.
pub struct TxnFileReader {
    path: PathBuf,
    input: BufReader<File>,
    max_txn_len: usize,
}

impl TxnFileReader {
    /// Open `path` and read its 16-byte header; `Ok(None)` when the file is shorter than that.
    pub fn open(
        path: &Path,
        max_txn_len: usize,
    ) -> Result<Option<(TxnFileReader, TxnFileHeader)>, PersistError> {
        let file = File::open(path).map_err(|e| PersistError::io(path, e))?;
        let mut r = TxnFileReader {
            path: path.to_path_buf(),
            input: BufReader::with_capacity(64 * 1024, file),
            max_txn_len,
        };
        let mut hdr = [0u8; 16];
        if !r.fill(&mut hdr)? {
            return Ok(None);
        }
        let header = TxnFileHeader {
            magic: i32::from_be_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]),
            version: i32::from_be_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]),
            dbid: i64::from_be_bytes([
                hdr[8], hdr[9], hdr[10], hdr[11], hdr[12], hdr[13], hdr[14], hdr[15],
            ]),
        };
        Ok(Some((r, header)))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Fills `buf`; false if the file ends first.
    fn fill(&mut self, buf: &mut [u8]) -> Result<bool, PersistError> {
        match self.input.read_exact(buf) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
            Err(e) => Err(PersistError::io(&self.path, e)),
        }
    }

    /// The checksum and txn of the next record.
    pub fn next_txn(&mut self) -> Result<TxnFileItem, TxnFileError> {
        let mut crc = [0u8; 8];
        let mut len = [0u8; 4];
        if !self.fill(&mut crc)? || !self.fill(&mut len)? {
            return Ok(TxnFileItem::Eof);
        }
        let len = i32::from_be_bytes(len);
        if len == -1 {
            return Err(TxnFileError::NullBuffer);
        }
        let Some(n) = usize::try_from(len).ok().filter(|n| *n <= self.max_txn_len) else {
            return Err(TxnFileError::UnreasonableLength(len));
        };
        if n == 0 {
            return Ok(TxnFileItem::Empty);
        }
        let mut bytes = vec![0u8; n];
        if !self.fill(&mut bytes)? {
            return Ok(TxnFileItem::Eof);
        }
        Ok(TxnFileItem::Txn {
            crc: i64::from_be_bytes(crc),
            bytes,
        })
    }

    /// The byte after a txn: `Some(b'B')` for an intact record, `None` at end of file.
    pub fn end_of_record(&mut self) -> Result<Option<u8>, PersistError> {
        let mut b = [0u8; 1];
        Ok(self.fill(&mut b)?.then_some(b[0]))
    }
}

/// The checksum a record of `bytes` must carry (`Adler32`).
pub fn txn_checksum(bytes: &[u8]) -> i64 {
    i64::from(super::adler32(bytes))
}

/// Writer of a new log file made of records copied from another (a repaired or chopped log).
pub struct TxnFileWriter {
    path: PathBuf,
    out: BufWriter<File>,
    position: u64,
    /// `FilePadding.currentSize`, when the file is preallocated as the server does.
    padded_to: Option<u64>,
}

impl TxnFileWriter {
    /// Create `path` (a new file only, unless `overwrite`); nothing is written yet.
    pub fn create(path: &Path, overwrite: bool) -> Result<TxnFileWriter, PersistError> {
        let mut opts = OpenOptions::new();
        opts.write(true);
        if overwrite {
            opts.create(true).truncate(true);
        } else {
            opts.create_new(true);
        }
        let file = opts.open(path).map_err(|e| PersistError::io(path, e))?;
        Ok(TxnFileWriter {
            path: path.to_path_buf(),
            out: BufWriter::new(file),
            position: 0,
            padded_to: None,
        })
    }

    /// Write the file header. With `preallocate`, the file then grows in
    /// [`DEFAULT_PRE_ALLOC_SIZE`] steps before each record, as `FilePadding` grows a log;
    /// without it, the file holds exactly the records.
    pub fn write_header(
        &mut self,
        header: TxnFileHeader,
        preallocate: bool,
    ) -> Result<(), PersistError> {
        self.write(&header.to_bytes())?;
        if preallocate {
            self.padded_to = Some(self.position);
        }
        Ok(())
    }

    fn write(&mut self, b: &[u8]) -> Result<(), PersistError> {
        self.out
            .write_all(b)
            .map_err(|e| PersistError::io(&self.path, e))?;
        self.position += b.len() as u64;
        Ok(())
    }

    /// Append one record: `crc`, the txn, 'B'.
    pub fn append(&mut self, crc: i64, bytes: &[u8]) -> Result<(), PersistError> {
        if let Some(size) = self.padded_to {
            let grown = padded_size(self.position, size, DEFAULT_PRE_ALLOC_SIZE);
            if grown != size {
                self.extend_to(grown)?;
                self.padded_to = Some(grown);
            }
        }
        let len = i32::try_from(bytes.len()).map_err(|_| PersistError::InvalidTxn {
            file: self.path.clone(),
            reason: "txn longer than 2 GiB".into(),
        })?;
        self.write(&crc.to_be_bytes())?;
        self.write(&len.to_be_bytes())?;
        self.write(bytes)?;
        self.write(&[END_OF_RECORD])
    }

    /// Zero-extend the file to `size` bytes, leaving the write position where it is.
    fn extend_to(&mut self, size: u64) -> Result<(), PersistError> {
        let io = |e| PersistError::io(&self.path, e);
        self.out.flush().map_err(io)?;
        let file = self.out.get_mut();
        file.set_len(size).map_err(io)?;
        file.seek(SeekFrom::Start(self.position)).map_err(io)?;
        Ok(())
    }

    /// Flush and close the file.
    pub fn finish(mut self) -> Result<(), PersistError> {
        let path = self.path.clone();
        self.out.flush().map_err(|e| PersistError::io(&path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("fk-records-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::create_dir_all(&dir);
        dir
    }

    #[test]
    fn records_written_are_read_back_and_preallocation_grows_like_file_padding() {
        let dir = temp("rw");
        let path = dir.join("log.1");
        let Ok(mut w) = TxnFileWriter::create(&path, false) else {
            panic!("create");
        };
        assert!(w.write_header(TxnFileHeader::standard(), true).is_ok());
        assert!(w.append(txn_checksum(b"abc"), b"abc").is_ok());
        assert!(w.append(7, b"de").is_ok());
        assert!(w.finish().is_ok());
        let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        // FilePadding starts at the header's end and grows by 64 MiB before the first record
        assert_eq!(len, 16 + DEFAULT_PRE_ALLOC_SIZE);
        let Ok(Some((mut r, h))) = TxnFileReader::open(&path, 100) else {
            panic!("open");
        };
        assert!(h.is_txn_log());
        assert_eq!(
            r.next_txn().ok(),
            Some(TxnFileItem::Txn {
                crc: txn_checksum(b"abc"),
                bytes: b"abc".to_vec()
            })
        );
        assert_eq!(r.end_of_record().ok(), Some(Some(b'B')));
        assert_eq!(
            r.next_txn().ok(),
            Some(TxnFileItem::Txn {
                crc: 7,
                bytes: b"de".to_vec()
            })
        );
        assert_eq!(r.end_of_record().ok(), Some(Some(b'B')));
        assert_eq!(r.next_txn().ok(), Some(TxnFileItem::Empty));
        // an existing file is never overwritten
        assert!(TxnFileWriter::create(&path, false).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn short_files_and_bad_lengths() {
        let dir = temp("short");
        let path = dir.join("x");
        let _ = std::fs::write(&path, b"ZKLG");
        assert!(matches!(TxnFileReader::open(&path, 100), Ok(None)));
        let mut bytes = TxnFileHeader::standard().to_bytes().to_vec();
        bytes.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1, 0x7f, 0, 0, 0]);
        let _ = std::fs::write(&path, &bytes);
        let Ok(Some((mut r, _))) = TxnFileReader::open(&path, 100) else {
            panic!("open");
        };
        assert!(matches!(
            r.next_txn(),
            Err(TxnFileError::UnreasonableLength(0x7f00_0000))
        ));
        bytes.truncate(16 + 10);
        let _ = std::fs::write(&path, &bytes);
        let Ok(Some((mut r, _))) = TxnFileReader::open(&path, 100) else {
            panic!("open");
        };
        assert_eq!(r.next_txn().ok(), Some(TxnFileItem::Eof));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
