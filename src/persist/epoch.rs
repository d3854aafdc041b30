//! The `currentEpoch` and `acceptedEpoch` files (`QuorumPeer#readLongFromFile`,
//! `#writeLongToFile`, `#loadDataBase`, `AtomicFileOutputStream`, `AtomicFileWritingIdiom`).
//!
//! They live in the snapshot directory — `dataDir/version-2`, `FileTxnSnapLog#getSnapDir` —
//! not in dataDir itself. Each holds one decimal long with no newline.
//!
//! Invariants: a write goes to `<name>.tmp`, is fsynced, then renamed over the file (and the
//! directory fsynced), so a crash leaves the old value or the new one, never a torn one; a
//! crash between the fsync and the rename leaves `currentEpoch.tmp`, which
//! [`load_epochs`] uses exactly as the reference does.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// `QuorumPeer.CURRENT_EPOCH_FILENAME`.
pub const CURRENT_EPOCH_FILENAME: &str = "currentEpoch";
/// `QuorumPeer.ACCEPTED_EPOCH_FILENAME`.
pub const ACCEPTED_EPOCH_FILENAME: &str = "acceptedEpoch";
/// `AtomicFileOutputStream.TMP_EXTENSION`.
pub const TMP_EXTENSION: &str = ".tmp";

#[derive(Debug, thiserror::Error)]
pub enum EpochError {
    #[error("I/O error on {}: {source}", file.display())]
    Io { file: PathBuf, source: io::Error },
    /// `readLongFromFile`'s "Found <line> in <file>".
    #[error("Found {line} in {}", file.display())]
    NotANumber { file: PathBuf, line: String },
    #[error("The current epoch, {current:#x}, is older than the last zxid, {last_zxid:#x}")]
    CurrentOlderThanLastZxid { current: i64, last_zxid: i64 },
    #[error("The accepted epoch, {accepted:#x} is less than the current epoch, {current:#x}")]
    AcceptedBehindCurrent { accepted: i64, current: i64 },
}

fn io_err(file: &Path) -> impl FnOnce(io::Error) -> EpochError + '_ {
    move |source| EpochError::Io {
        file: file.to_path_buf(),
        source,
    }
}

/// `readLongFromFile`: the first line as a decimal long; `Ok(None)` when there is no file.
pub fn read_epoch(snap_dir: &Path, name: &str) -> Result<Option<i64>, EpochError> {
    let file = snap_dir.join(name);
    let text = match fs::read(&file) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(&file)(e)),
    };
    let text = String::from_utf8_lossy(&text);
    // `BufferedReader#readLine` ends a line at \n, \r or \r\n; an empty file reads as null.
    let line = text.split(['\n', '\r']).next().filter(|_| !text.is_empty());
    match line.map(|l| (l, l.parse::<i64>())) {
        Some((_, Ok(v))) => Ok(Some(v)),
        Some((l, Err(_))) => Err(EpochError::NotANumber {
            file,
            line: l.to_string(),
        }),
        None => Err(EpochError::NotANumber {
            file,
            line: "null".to_string(),
        }),
    }
}

/// `writeLongToFile`: `Long.toString(value)` into `<name>.tmp`, fsync, rename over `<name>`.
pub fn write_epoch(snap_dir: &Path, name: &str, value: i64) -> Result<(), EpochError> {
    let file = snap_dir.join(name);
    let tmp = snap_dir.join(format!("{name}{TMP_EXTENSION}"));
    let write = || -> io::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(value.to_string().as_bytes())?;
        f.sync_all()
    };
    if let Err(e) = write() {
        // `AtomicFileOutputStream#close` deletes the temporary file when it fails
        let _ = fs::remove_file(&tmp);
        return Err(io_err(&tmp)(e));
    }
    fs::rename(&tmp, &file).map_err(io_err(&file))?;
    File::open(snap_dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(snap_dir))
}

/// The epochs a quorum peer starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Epochs {
    /// The last epoch this peer followed to NEWLEADER (`currentEpoch`).
    pub current: i64,
    /// The last epoch this peer promised in an ACKEPOCH (`acceptedEpoch`).
    pub accepted: i64,
}

/// `QuorumPeer#loadDataBase` after the tree is loaded: read both epochs; a missing file is
/// created from the epoch of the last processed zxid (an upgrade from a pre-Zab-1.0 install);
/// a `currentEpoch` behind that zxid is repaired from `currentEpoch.tmp` when a crash left
/// one, else it is an error, as is an accepted epoch behind the current one.
pub fn load_epochs(snap_dir: &Path, last_processed_zxid: i64) -> Result<Epochs, EpochError> {
    let zxid_epoch = last_processed_zxid >> 32;
    let mut current = match read_epoch(snap_dir, CURRENT_EPOCH_FILENAME)? {
        Some(v) => v,
        None => {
            tracing::info!(
                "{CURRENT_EPOCH_FILENAME} not found! Creating with a reasonable default of \
                 {zxid_epoch}. This should only happen when you are upgrading your installation"
            );
            write_epoch(snap_dir, CURRENT_EPOCH_FILENAME, zxid_epoch)?;
            zxid_epoch
        }
    };
    if zxid_epoch > current {
        let tmp_name = format!("{CURRENT_EPOCH_FILENAME}{TMP_EXTENSION}");
        match read_epoch(snap_dir, &tmp_name)? {
            Some(v) => {
                tracing::info!("{tmp_name} found. Setting current epoch to {v}.");
                write_epoch(snap_dir, CURRENT_EPOCH_FILENAME, v)?;
                current = v;
            }
            None => {
                return Err(EpochError::CurrentOlderThanLastZxid {
                    current,
                    last_zxid: last_processed_zxid,
                })
            }
        }
    }
    let accepted = match read_epoch(snap_dir, ACCEPTED_EPOCH_FILENAME)? {
        Some(v) => v,
        None => {
            tracing::info!(
                "{ACCEPTED_EPOCH_FILENAME} not found! Creating with a reasonable default of \
                 {zxid_epoch}. This should only happen when you are upgrading your installation"
            );
            write_epoch(snap_dir, ACCEPTED_EPOCH_FILENAME, zxid_epoch)?;
            zxid_epoch
        }
    };
    if accepted < current {
        return Err(EpochError::AcceptedBehindCurrent { accepted, current });
    }
    Ok(Epochs { current, accepted })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("fk-epoch-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn written_as_bare_decimal_and_read_back() {
        let d = dir("rw");
        write_epoch(&d, CURRENT_EPOCH_FILENAME, 12).unwrap();
        assert_eq!(fs::read(d.join("currentEpoch")).unwrap(), b"12");
        assert!(!d.join("currentEpoch.tmp").exists());
        assert_eq!(read_epoch(&d, CURRENT_EPOCH_FILENAME).unwrap(), Some(12));
        assert_eq!(read_epoch(&d, ACCEPTED_EPOCH_FILENAME).unwrap(), None);
        fs::write(d.join("acceptedEpoch"), "7\r\nrest").unwrap();
        assert_eq!(read_epoch(&d, ACCEPTED_EPOCH_FILENAME).unwrap(), Some(7));
        for bad in ["", " 7", "7 ", "x"] {
            fs::write(d.join("acceptedEpoch"), bad).unwrap();
            assert!(matches!(
                read_epoch(&d, ACCEPTED_EPOCH_FILENAME),
                Err(EpochError::NotANumber { .. })
            ));
        }
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn missing_files_are_derived_from_the_last_zxid_and_written() {
        let d = dir("missing");
        let e = load_epochs(&d, 0x3_0000_0009).unwrap();
        assert_eq!(
            e,
            Epochs {
                current: 3,
                accepted: 3
            }
        );
        assert_eq!(fs::read(d.join("currentEpoch")).unwrap(), b"3");
        assert_eq!(fs::read(d.join("acceptedEpoch")).unwrap(), b"3");
        // a fresh data dir starts at epoch 0
        let d2 = dir("fresh");
        assert_eq!(
            load_epochs(&d2, 0).unwrap(),
            Epochs {
                current: 0,
                accepted: 0
            }
        );
        fs::remove_dir_all(d).unwrap();
        fs::remove_dir_all(d2).unwrap();
    }

    #[test]
    fn a_current_epoch_behind_the_log_needs_the_tmp_file() {
        let d = dir("behind");
        write_epoch(&d, CURRENT_EPOCH_FILENAME, 2).unwrap();
        write_epoch(&d, ACCEPTED_EPOCH_FILENAME, 4).unwrap();
        assert!(matches!(
            load_epochs(&d, 0x3_0000_0001),
            Err(EpochError::CurrentOlderThanLastZxid { current: 2, .. })
        ));
        // the crash between fsync and rename: the tmp file holds the new value
        fs::write(d.join("currentEpoch.tmp"), "3").unwrap();
        let e = load_epochs(&d, 0x3_0000_0001).unwrap();
        assert_eq!(
            e,
            Epochs {
                current: 3,
                accepted: 4
            }
        );
        assert_eq!(fs::read(d.join("currentEpoch")).unwrap(), b"3");
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn accepted_behind_current_is_refused() {
        let d = dir("accepted");
        write_epoch(&d, CURRENT_EPOCH_FILENAME, 5).unwrap();
        write_epoch(&d, ACCEPTED_EPOCH_FILENAME, 4).unwrap();
        assert!(matches!(
            load_epochs(&d, 0x5_0000_0000),
            Err(EpochError::AcceptedBehindCurrent {
                accepted: 4,
                current: 5
            })
        ));
        fs::remove_dir_all(d).unwrap();
    }
}
