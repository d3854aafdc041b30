//! When to snapshot (`SyncRequestProcessor#shouldSnapshot`): after more than
//! snapCount/2 + rand(snapCount/2) txns, or more than snapSizeLimit/2 + rand(snapSizeLimit/2)
//! bytes of log, the log rolls and the tree as it stands is written to `snapshot.<zxid>` on a
//! thread of its own, so writes keep flowing (a fuzzy snapshot, as the reference takes: replay
//! from its zxid repairs whatever it caught half-applied). One snapshot at a time.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::CoreState;
use crate::persist::snapshot::{self, SnapshotCompression};
use crate::pipeline::sync::SyncRequest;
use crate::session::JavaRandom;

/// Where and how snapshots are written.
#[derive(Debug, Clone)]
pub struct SnapshotConfig {
    pub snap_dir: PathBuf,
    pub snap_count: i64,
    /// snapSizeLimitInKb in bytes; 0 or less turns the size trigger off.
    pub snap_size_limit: i64,
    pub compression: SnapshotCompression,
    pub fsync: bool,
}

pub(crate) struct SnapshotPolicy {
    config: SnapshotConfig,
    rng: JavaRandom,
    count_roll: i64,
    size_roll: i64,
    txns: i64,
    bytes: i64,
    running: Arc<AtomicBool>,
}

impl SnapshotPolicy {
    pub(crate) fn new(config: SnapshotConfig, seed: i64) -> SnapshotPolicy {
        let mut p = SnapshotPolicy {
            config,
            rng: JavaRandom::new(seed),
            count_roll: 0,
            size_roll: 0,
            txns: 0,
            bytes: 0,
            running: Arc::new(AtomicBool::new(false)),
        };
        p.reroll();
        p
    }

    fn reroll(&mut self) {
        let half = |v: i64| i32::try_from((v / 2).max(1)).unwrap_or(i32::MAX);
        self.count_roll = i64::from(
            self.rng
                .next_int_bound(half(self.config.snap_count))
                .unwrap_or(0),
        );
        self.size_roll = if self.config.snap_size_limit > 0 {
            i64::from(
                self.rng
                    .next_int_bound(half(self.config.snap_size_limit))
                    .unwrap_or(0),
            )
        } else {
            0
        };
    }

    /// Count one logged txn; true when it is time to roll and snapshot.
    fn logged(&mut self, bytes: usize) -> bool {
        self.txns += 1;
        self.bytes += i64::try_from(bytes).unwrap_or(i64::MAX);
        let by_count = self.txns > self.config.snap_count / 2 + self.count_roll;
        let by_size = self.config.snap_size_limit > 0
            && self.bytes > self.config.snap_size_limit / 2 + self.size_roll;
        by_count || by_size
    }
}

impl CoreState {
    /// Called for every txn handed to the log stage.
    pub(super) fn note_logged(&mut self, bytes: usize) {
        let due = match self.snapshots.as_mut() {
            Some(p) => p.logged(bytes),
            None => false,
        };
        if !due {
            return;
        }
        let Some(policy) = self.snapshots.as_mut() else {
            return;
        };
        policy.txns = 0;
        policy.bytes = 0;
        policy.reroll();
        if policy.running.swap(true, Ordering::AcqRel) {
            tracing::warn!("too busy to snapshot, skipping");
            return;
        }
        let running = policy.running.clone();
        let config = policy.config.clone();
        if let Some(log) = &self.log {
            log.submit(SyncRequest::Roll);
        }
        let tree = self.tree.clone();
        let sessions = self.sessions.sessions();
        let spawned = std::thread::Builder::new()
            .name("snapshot".into())
            .spawn(move || {
                let zxid = tree.last_processed_zxid();
                match snapshot::write_snapshot(
                    &config.snap_dir,
                    zxid,
                    &tree,
                    &sessions,
                    config.compression,
                    config.fsync,
                ) {
                    Ok(path) => tracing::info!(file = %path.display(), "snapshot written"),
                    // a failed snapshot loses nothing: the txn log still holds every txn
                    Err(e) => tracing::error!(error = %e, "snapshot failed"),
                }
                running.store(false, Ordering::Release);
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the snapshot thread");
            if let Some(p) = self.snapshots.as_ref() {
                p.running.store(false, Ordering::Release);
            }
        }
    }
}
