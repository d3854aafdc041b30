//! Start-up recovery (`FileTxnSnapLog#restore`, `ZKDatabase#loadDataBase`): the newest snapshot
//! that loads (an older one if the newest is damaged), then every logged txn after it, in
//! order. A torn last record is cut off with a warning; damage anywhere else stops start-up
//! with the file and offset — an acknowledged txn is never dropped silently.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::committed::CommittedLog;
use super::error::PersistError;
use super::snapshot::{self, SnapshotError};
use super::txnlog;
use crate::jute::codes::OpCode;
use crate::jute::txn_ref::{TxnEntryRef, TxnRef};
use crate::tree::{DataTree, TreeOptions};

/// What recovery rebuilt.
pub struct Restored {
    pub tree: DataTree,
    /// Live sessions and their timeouts (from the snapshot, then createSession/closeSession).
    pub sessions: Vec<(i64, i32)>,
    /// The snapshot it started from, if any.
    pub snapshot: Option<PathBuf>,
    pub txns_replayed: u64,
    /// The newest replayed txns (`ZKDatabase#loadDataBase`'s `addCommittedProposal`).
    pub committed: CommittedLog,
    pub load: DbLoad,
}

/// How a database was loaded, for `ServerMetrics`: `dbinittime` and
/// `startup_snap_load_time` at start-up, `startup_txns_loaded` / `_load_time` whenever
/// logged txns are replayed (`FileTxnSnapLog#fastForwardFromEdits`, a learner's
/// fast-forward too).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DbLoad {
    /// The whole load (`ZKDatabase#loadDataBase`); None for a fast-forward.
    pub total: Option<Duration>,
    /// Reading the snapshot; None for a fast-forward.
    pub snapshot: Option<Duration>,
    pub txns: u64,
    pub txns_time: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error(transparent)]
    Log(#[from] PersistError),
    #[error(
        "no snapshot in {snap_dir} but the txn log reaches zxid 0x{last:x}: something is broken \
         (set snapshot.trust.empty=true to replay the log from zero)"
    )]
    LogWithoutSnapshot { snap_dir: PathBuf, last: i64 },
}

/// One txn into the tree and the session table (`FileTxnSnapLog#processTransaction`), with
/// the digest checks `DataTree#compareDigest` makes.
fn replay_one(
    tree: &mut DataTree,
    sessions: &mut std::collections::BTreeMap<i64, i32>,
    entry: &TxnEntryRef<'_>,
    snapshot_digest: Option<(i64, i64)>,
) {
    let zxid = entry.header.zxid;
    match (entry.header.op, &entry.body) {
        (OpCode::CREATE_SESSION, TxnRef::CreateSession(time_out)) => {
            sessions.insert(entry.header.client_id, *time_out);
        }
        (OpCode::CLOSE_SESSION, _) => {
            sessions.remove(&entry.header.client_id);
        }
        _ => {}
    }
    tree.apply_replay(entry);
    if !tree.digest_matches_at(zxid, entry.digest.as_ref()) {
        tracing::warn!(
            zxid = format_args!("0x{zxid:x}"),
            "digest mismatch while replaying the txn log"
        );
    }
    if let Some((at, digest)) = snapshot_digest {
        if at == zxid && tree.digest() != digest {
            tracing::warn!(
                zxid = format_args!("0x{at:x}"),
                "tree digest differs from the one the snapshot recorded"
            );
        }
    }
}

/// Roughly how many nodes replaying the log after `zxid` may create: its files' sizes over
/// a small create's logged size (preallocated zeros make it an overestimate, which costs
/// only index buckets).
fn estimated_nodes(log_dir: &Path, zxid: i64) -> usize {
    let bytes: u64 = txnlog::log_files(log_dir, zxid)
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    usize::try_from(bytes / 160).unwrap_or(0).min(1 << 26)
}

/// `version-2` under a data or log dir: the only layout 3.8 reads.
pub fn version_dir(dir: &Path) -> PathBuf {
    dir.join("version-2")
}

/// Every logged txn after the tree's last processed zxid, in order, into the tree, the
/// session table and the committed log.
fn replay_log(
    tree: &mut DataTree,
    sessions: &mut std::collections::BTreeMap<i64, i32>,
    committed: &mut CommittedLog,
    log_dir: &Path,
    snapshot_digest: Option<(i64, i64)>,
) -> Result<u64, RestoreError> {
    let mut replayed = 0u64;
    let mut txns = txnlog::read_txns(log_dir, tree.last_processed_zxid())?;
    while let Some(raw) = txns.next_raw() {
        let raw = raw?;
        let entry = TxnEntryRef::decode(&raw.bytes).map_err(|e| raw.undecodable(e))?;
        replay_one(tree, sessions, &entry, snapshot_digest);
        committed.push(raw.zxid, raw.bytes.into());
        replayed += 1;
    }
    Ok(replayed)
}

/// `ZKDatabase#fastForwardDataBase`: a tree kept in memory catches up with the txns logged
/// after what it applied (a learner's proposals that were never committed), with the
/// session table and the committed log; the number of txns applied.
pub fn fast_forward(
    tree: &mut DataTree,
    sessions: &mut std::collections::BTreeMap<i64, i32>,
    committed: &mut CommittedLog,
    log_dir: &Path,
) -> Result<DbLoad, RestoreError> {
    let started = Instant::now();
    let txns = replay_log(tree, sessions, committed, log_dir, None)?;
    Ok(DbLoad {
        total: None,
        snapshot: None,
        txns,
        txns_time: started.elapsed(),
    })
}

/// The newest valid snapshot and the log after it. The replayed txns go into `committed`
/// as far as its capacity keeps them (a quorum peer's; a standalone server's keeps none).
pub fn restore(
    snap_dir: &Path,
    log_dir: &Path,
    tree_options: TreeOptions,
    trust_empty_snapshot: bool,
    mut committed: CommittedLog,
) -> Result<Restored, RestoreError> {
    let started = Instant::now();
    let loaded = snapshot::load_newest_valid(snap_dir, tree_options)?;
    let snapshot_time = started.elapsed();
    let (mut tree, sessions, snapshot_digest, snapshot) = match loaded {
        Some(data) => {
            let path = snapshot::find_snapshots(snap_dir, 1).into_iter().next();
            (data.tree, data.sessions, data.digest, path)
        }
        None => {
            let last = txnlog::last_logged_zxid(log_dir).unwrap_or(-1);
            if last != -1 && !trust_empty_snapshot {
                return Err(RestoreError::LogWithoutSnapshot {
                    snap_dir: snap_dir.to_path_buf(),
                    last,
                });
            }
            (DataTree::with_options(tree_options), Vec::new(), None, None)
        }
    };
    let mut sessions: std::collections::BTreeMap<i64, i32> = sessions.into_iter().collect();
    tree.reserve_nodes(estimated_nodes(log_dir, tree.last_processed_zxid()));
    let replay_started = Instant::now();
    let replayed = replay_log(
        &mut tree,
        &mut sessions,
        &mut committed,
        log_dir,
        snapshot_digest,
    )?;
    tracing::info!(
        snapshot = ?snapshot,
        txns = replayed,
        zxid = format_args!("0x{:x}", tree.last_processed_zxid()),
        "restored the database"
    );
    Ok(Restored {
        tree,
        sessions: sessions.into_iter().collect(),
        snapshot,
        txns_replayed: replayed,
        load: DbLoad {
            total: Some(started.elapsed()),
            snapshot: Some(snapshot_time),
            txns: replayed,
            txns_time: replay_started.elapsed(),
        },
        committed,
    })
}
