//! The on-disk history a leader syncs learners from when a learner is behind its committed
//! log (`ZKDatabase#getProposalsFromTxnLog`).

use std::path::PathBuf;

use crate::jute::txn::EncodedTxn;
use crate::persist::{snapshot, txnlog};
use crate::quorum::zab::sync_plan::{txn_log_size_limit, txn_log_usable};

use super::engine::SyncHistory;

/// Reads the txn log for DIFFs, within `ZKDatabase#getProposalsFromTxnLog`'s limits.
#[derive(Debug, Clone)]
pub struct DiskHistory {
    pub snap_dir: PathBuf,
    pub log_dir: PathBuf,
    /// `zookeeper.snapshotSizeFactor`; negative turns on-disk sync off.
    pub snapshot_size_factor: f64,
}

impl SyncHistory for DiskHistory {
    fn txn_log_since(&mut self, peer: i64) -> Option<Vec<EncodedTxn>> {
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
        let txns: Vec<EncodedTxn> = txnlog::read_txns(&self.log_dir, start - 1)
            .ok()?
            .map_while(Result::ok)
            .map(txnlog::LoggedTxn::into_encoded)
            .collect();
        let first = txns.first().map(EncodedTxn::zxid);
        txn_log_usable(first, peer, storage, limit).then_some(txns)
    }
}
