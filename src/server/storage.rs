//! Opening the data directory at start-up (`ZooKeeperServer#loadData`): recover, take the
//! clean snapshot the reference takes after loading (here, unless the directory had none, in
//! the background once clients are served), and open the txn log for appends.

use crate::config::ServerConfig;
use crate::persist::committed::CommittedLog;
use crate::persist::restore::{restore, version_dir, RestoreError};
use crate::persist::snapshot::{self, SnapshotCompression};
use crate::persist::txnlog::{TxnLog, TxnLogOptions};
use crate::persist::PersistError;
use crate::pipeline::SnapshotConfig;
use crate::tree::{DataTree, TreeOptions};

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("cannot create {dir}: {source}")]
    CreateDir {
        dir: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("recovery failed: {0}")]
    Restore(#[from] RestoreError),
    #[error("cannot write the start-up snapshot: {0}")]
    Snapshot(#[from] snapshot::SnapshotError),
    #[error("cannot open the txn log: {0}")]
    Log(#[from] PersistError),
}

pub(super) struct Storage {
    pub(super) tree: DataTree,
    pub(super) sessions: Vec<(i64, i32)>,
    pub(super) log: TxnLog,
    pub(super) snapshots: SnapshotConfig,
    /// The start-up snapshot is still to be taken, by the core as a fuzzy snapshot.
    pub(super) snapshot_pending: bool,
    /// How long the start-up snapshot written before serving took (`snapshottime`).
    pub(super) snapshot_time: Option<std::time::Duration>,
    pub(super) load: crate::persist::restore::DbLoad,
}

pub(super) fn compression(name: &str) -> SnapshotCompression {
    // `SnapStream.StreamMode#fromString`: anything else means no compression
    match name {
        "gz" => SnapshotCompression::Gzip,
        "snappy" => SnapshotCompression::Snappy,
        "" => SnapshotCompression::None,
        other => {
            tracing::warn!(
                method = other,
                "unknown snapshot.compression.method; writing plain snapshots"
            );
            SnapshotCompression::None
        }
    }
}

/// Blocking: run it off the async workers.
pub(super) fn open(cfg: &ServerConfig, tree_options: TreeOptions) -> Result<Storage, StorageError> {
    let snap_dir = version_dir(&cfg.data_dir);
    let log_dir = version_dir(&cfg.data_log_dir);
    for dir in [&snap_dir, &log_dir] {
        std::fs::create_dir_all(dir).map_err(|source| StorageError::CreateDir {
            dir: dir.clone(),
            source,
        })?;
    }
    // no learner ever syncs from a standalone server
    let restored = restore(
        &snap_dir,
        &log_dir,
        tree_options,
        cfg.snapshot_trust_empty,
        CommittedLog::unused(),
    )?;
    let snapshots = snapshot_config(cfg);
    // `ZooKeeperServer#loadData` takes this snapshot before serving. Every txn in it is
    // already durable in the log, so with an older snapshot on disk it can as well be written
    // while clients are served (a restart then replays from the older one): serving starts a
    // whole snapshot write sooner. Without one it is written now, so that no log is ever
    // left without a snapshot to replay it onto.
    let snapshot_pending = restored.snapshot.is_some();
    let mut snapshot_time = None;
    if !snapshot_pending {
        let started = std::time::Instant::now();
        snapshot::write_snapshot(
            &snapshots.snap_dir,
            restored.tree.last_processed_zxid(),
            &restored.tree,
            &restored.sessions,
            snapshots.compression,
            false,
        )?;
        snapshot_time = Some(started.elapsed());
    }
    let log = TxnLog::open(&log_dir, txn_log_options(cfg))?;
    Ok(Storage {
        tree: restored.tree,
        sessions: restored.sessions,
        log,
        snapshots,
        snapshot_pending,
        snapshot_time,
        load: restored.load,
    })
}

/// The txn log settings of zoo.cfg (preAllocSize, forceSync, txnLogSizeLimitInKb, ...).
pub(super) fn txn_log_options(cfg: &ServerConfig) -> TxnLogOptions {
    TxnLogOptions {
        pre_alloc_size: u64::try_from(cfg.pre_alloc_size_kb)
            .unwrap_or(0)
            .saturating_mul(1024)
            .max(4096),
        force_sync: cfg.force_sync,
        txn_log_size_limit: u64::try_from(cfg.txn_log_size_limit_kb)
            .ok()
            .filter(|kb| *kb > 0)
            .map(|kb| kb * 1024),
        fsync_warning_threshold_ms: u64::try_from(cfg.fsync_warning_threshold_ms).unwrap_or(1000),
    }
}

/// When and how snapshots are taken (snapCount, snapSizeLimitInKb, compression).
pub(super) fn snapshot_config(cfg: &ServerConfig) -> SnapshotConfig {
    SnapshotConfig {
        snap_dir: version_dir(&cfg.data_dir),
        snap_count: i64::from(cfg.snap_count.max(2)),
        snap_size_limit: cfg.snap_size_limit_kb.saturating_mul(1024),
        compression: compression(&cfg.snapshot_compression_method),
        fsync: cfg.force_sync,
    }
}
