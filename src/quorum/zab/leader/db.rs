//! The leader's own database as it starts leading (`ZKDatabase#loadDataBase` with its
//! committed-log playback, `QuorumPeer#loadDataBase`'s epochs) and the on-disk history a
//! learner may be synced from (`ZKDatabase#getProposalsFromTxnLog`).
//!
//! Invariant: the committed log handed to the engine is the last `commitLogCount` txns
//! replayed after the snapshot, ascending, ending at the tree's last processed zxid.

use std::path::{Path, PathBuf};

use crate::jute::txn::TxnEntry;
use crate::persist::epoch::{load_epochs, EpochError, Epochs};
use crate::persist::restore::{restore, RestoreError};
use crate::persist::{snapshot, txnlog};
use crate::quorum::zab::sync_plan::{txn_log_size_limit, txn_log_usable};
use crate::tree::{DataTree, TreeOptions};

use super::engine::{LeaderStart, SyncHistory};

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Restore(#[from] RestoreError),
    #[error(transparent)]
    Epoch(#[from] EpochError),
    #[error(transparent)]
    Log(#[from] crate::persist::error::PersistError),
}

/// Tree, sessions, epochs and the newest committed txns.
pub struct LeaderDb {
    pub tree: DataTree,
    pub sessions: Vec<(i64, i32)>,
    pub epochs: Epochs,
    pub committed_log: Vec<TxnEntry>,
}

impl LeaderDb {
    /// Restore from `snap_dir` / `log_dir` (the `version-2` directories).
    pub fn load(
        snap_dir: &Path,
        log_dir: &Path,
        tree_options: TreeOptions,
        commit_log_count: usize,
    ) -> Result<LeaderDb, DbError> {
        let restored = restore(snap_dir, log_dir, tree_options, false)?;
        let committed_log = recent_committed(snap_dir, log_dir, commit_log_count)?;
        let epochs = load_epochs(snap_dir, restored.tree.last_processed_zxid())?;
        Ok(LeaderDb {
            tree: restored.tree,
            sessions: restored.sessions,
            epochs,
            committed_log,
        })
    }

    /// What the engine starts from.
    pub fn start(&self) -> LeaderStart {
        LeaderStart {
            accepted_epoch: self.epochs.accepted,
            current_epoch: self.epochs.current,
            last_processed_zxid: self.tree.last_processed_zxid(),
            committed_log: self.committed_log.clone(),
            sessions: self.sessions.clone(),
        }
    }
}

/// The newest `count` txns of the log after the newest snapshot, ascending
/// (`ZKDatabase#committedLog` as `loadDataBase` fills it).
pub fn recent_committed(
    snap_dir: &Path,
    log_dir: &Path,
    count: usize,
) -> Result<Vec<TxnEntry>, DbError> {
    let snap_zxid = snapshot::find_snapshots(snap_dir, 1)
        .first()
        .and_then(|p| p.file_name())
        .and_then(|n| snapshot::zxid_from_name(&n.to_string_lossy()))
        .unwrap_or(-1);
    let mut committed_log = std::collections::VecDeque::new();
    for logged in txnlog::read_txns(log_dir, snap_zxid)? {
        let Ok(logged) = logged else { break };
        committed_log.push_back(logged.entry);
        if committed_log.len() > count.max(1) {
            committed_log.pop_front();
        }
    }
    Ok(committed_log.into())
}

/// Reads the txn log for DIFFs, within `ZKDatabase#getProposalsFromTxnLog`'s limits.
#[derive(Debug, Clone)]
pub struct DiskHistory {
    pub snap_dir: PathBuf,
    pub log_dir: PathBuf,
    /// `zookeeper.snapshotSizeFactor`; negative turns on-disk sync off.
    pub snapshot_size_factor: f64,
}

impl SyncHistory for DiskHistory {
    fn txn_log_since(&mut self, peer: i64) -> Option<Vec<TxnEntry>> {
        if self.snapshot_size_factor < 0.0 {
            return None;
        }
        let files = txnlog::log_files(&self.log_dir, peer);
        let first_file = files.first()?;
        let start = txnlog::zxid_from_name(&first_file.file_name()?.to_string_lossy(), "log");
        let storage: u64 = files
            .iter()
            .filter_map(|f| std::fs::metadata(f).ok())
            .map(|m| m.len())
            .sum();
        let snap_size = snapshot::find_snapshots(&self.snap_dir, 1)
            .first()
            .and_then(|p| std::fs::metadata(p).ok())
            .map_or(0, |m| m.len());
        let limit = txn_log_size_limit(snap_size, self.snapshot_size_factor);
        if !txn_log_usable(Some(i64::MIN), peer, storage, limit) {
            return None;
        }
        // the iterator starts at the first record of the file holding `peer`
        let txns: Vec<TxnEntry> = txnlog::read_txns(&self.log_dir, start - 1)
            .ok()?
            .map_while(Result::ok)
            .map(|l| l.entry)
            .collect();
        let first = txns.first().map(|t| t.header.zxid);
        txn_log_usable(first, peer, storage, limit).then_some(txns)
    }
}
