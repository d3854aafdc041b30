//! Autopurge (`PurgeTxnLog#purge`, `DatadirCleanupManager`): keep the newest `retain` valid
//! snapshots and every log file they need; delete older snapshots and logs.

use std::path::{Path, PathBuf};

use super::snapshot;
use super::txnlog;

/// The reference refuses to keep fewer than 3 snapshots.
pub const MIN_RETAIN: usize = 3;

/// Delete what the newest `retain` snapshots no longer need; returns the deleted files.
pub fn purge(snap_dir: &Path, log_dir: &Path, retain: usize) -> Vec<PathBuf> {
    let mut doomed = candidates(snap_dir, log_dir, retain);
    doomed.retain(|p| match std::fs::remove_file(p) {
        Ok(()) => {
            tracing::info!(file = %p.display(), "purged");
            true
        }
        Err(e) => {
            tracing::warn!(file = %p.display(), error = %e, "cannot purge");
            false
        }
    });
    doomed
}

/// `PurgeTxnLog#purgeOlderSnapshots`' list: the log files, then the snapshot files, each in
/// directory order, whose zxid is below the oldest of the newest `retain` valid snapshots,
/// except the log file that snapshot still needs.
fn candidates(snap_dir: &Path, log_dir: &Path, retain: usize) -> Vec<PathBuf> {
    let retain = retain.max(MIN_RETAIN);
    let snaps = snapshot::find_snapshots(snap_dir, retain);
    let Some(oldest_kept) = snaps.last() else {
        return Vec::new();
    };
    let Some(least) = oldest_kept
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(snapshot::zxid_from_name)
    else {
        return Vec::new();
    };
    let needed = txnlog::log_files(log_dir, least);
    let older = |dir: &Path, prefix: &str| -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| {
                        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                        name.starts_with(prefix)
                            && txnlog::zxid_from_name(name, prefix.trim_end_matches('.')) < least
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut doomed: Vec<PathBuf> = older(log_dir, "log.")
        .into_iter()
        .filter(|p| !needed.contains(p))
        .collect();
    doomed.extend(older(snap_dir, "snapshot."));
    doomed
}

/// A file `PurgeTxnLog` would remove, with its modification time (ms since the epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeCandidate {
    pub path: PathBuf,
    pub modified_ms: i64,
}

/// Why the offline purge cannot start, worded as the Java tool's uncaught exception.
#[derive(Debug, thiserror::Error)]
pub enum PurgeSetupError {
    #[error("java.io.IOException: Unable to create data directory {}", .0.display())]
    CannotCreate(PathBuf),
    #[error("org.apache.zookeeper.server.persistence.FileTxnSnapLog$LogDirContentCheckException: \
             Log directory has snapshot files. Check if dataLogDir and dataDir configuration is correct.")]
    SnapshotsInLogDir,
    #[error("org.apache.zookeeper.server.persistence.FileTxnSnapLog$SnapDirContentCheckException: \
             Snapshot directory has log files. Check if dataLogDir and dataDir configuration is correct.")]
    LogsInSnapDir,
}

/// The offline purge (`PurgeTxnLog#purge`) of the `version-2` directories under `log_dir`
/// and `snap_dir`, which are created if missing (`FileTxnSnapLog` does), and must not hold
/// each other's files when they differ. Nothing is deleted here: see [`remove`].
pub fn plan_for_tool(
    log_dir: &Path,
    snap_dir: &Path,
    retain: usize,
) -> Result<Vec<PurgeCandidate>, PurgeSetupError> {
    let log_dir = super::restore::version_dir(log_dir);
    let snap_dir = super::restore::version_dir(snap_dir);
    for dir in [&log_dir, &snap_dir] {
        if std::fs::create_dir_all(dir).is_err() {
            return Err(PurgeSetupError::CannotCreate(dir.clone()));
        }
    }
    if log_dir != snap_dir {
        let any = |dir: &Path, prefix: &str| {
            std::fs::read_dir(dir).is_ok_and(|rd| {
                rd.filter_map(Result::ok)
                    .any(|e| e.file_name().to_string_lossy().starts_with(prefix))
            })
        };
        if any(&log_dir, "snapshot.") {
            return Err(PurgeSetupError::SnapshotsInLogDir);
        }
        if any(&snap_dir, "log.") {
            return Err(PurgeSetupError::LogsInSnapDir);
        }
    }
    Ok(candidates(&snap_dir, &log_dir, retain)
        .into_iter()
        .map(|path| {
            let modified_ms = std::fs::metadata(&path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
            PurgeCandidate { path, modified_ms }
        })
        .collect())
}

/// Delete one file of a purge plan.
pub fn remove(path: &Path) -> std::io::Result<()> {
    std::fs::remove_file(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_snapshots_and_the_logs_they_need() {
        let dir = std::env::temp_dir().join(format!("fk-purge-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_default();
        let tree = crate::tree::DataTree::new(true);
        for zxid in [0x10, 0x20, 0x30, 0x40] {
            snapshot::write_snapshot(&dir, zxid, &tree, &[], Default::default(), false).ok();
        }
        for name in ["log.1", "log.15", "log.25", "log.35", "log.45"] {
            std::fs::write(dir.join(name), b"").ok();
        }
        let mut deleted: Vec<String> = purge(&dir, &dir, 3)
            .iter()
            .filter_map(|p| Some(p.file_name()?.to_str()?.to_string()))
            .collect();
        deleted.sort();
        // the oldest kept snapshot is 0x20; log.15 holds txns after it, so it stays
        assert_eq!(deleted, vec!["log.1", "snapshot.10"]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
