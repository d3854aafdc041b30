//! Start-up recovery (`FileTxnSnapLog#restore`, `ZKDatabase#loadDataBase`): the newest snapshot
//! that loads (an older one if the newest is damaged), then every logged txn after it, in
//! order. A torn last record is cut off with a warning; damage anywhere else stops start-up
//! with the file and offset — an acknowledged txn is never dropped silently.

use std::path::{Path, PathBuf};

use super::error::PersistError;
use super::snapshot::{self, SnapshotError};
use super::txnlog;
use crate::jute::codes::OpCode;
use crate::jute::txn::TxnBody;
use crate::tree::{DataTree, TreeOptions};

/// What recovery rebuilt.
pub struct Restored {
    pub tree: DataTree,
    /// Live sessions and their timeouts (from the snapshot, then createSession/closeSession).
    pub sessions: Vec<(i64, i32)>,
    /// The snapshot it started from, if any.
    pub snapshot: Option<PathBuf>,
    pub txns_replayed: u64,
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

/// `version-2` under a data or log dir: the only layout 3.8 reads.
pub fn version_dir(dir: &Path) -> PathBuf {
    dir.join("version-2")
}

pub fn restore(
    snap_dir: &Path,
    log_dir: &Path,
    tree_options: TreeOptions,
    trust_empty_snapshot: bool,
) -> Result<Restored, RestoreError> {
    let loaded = snapshot::load_newest_valid(snap_dir, tree_options)?;
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
    let mut replayed = 0u64;
    for logged in txnlog::read_txns(log_dir, tree.last_processed_zxid())? {
        let logged = logged?;
        let entry = &logged.entry;
        match (&entry.header.op, &entry.body) {
            (&OpCode::CREATE_SESSION, TxnBody::CreateSession(t)) => {
                sessions.insert(entry.header.client_id, t.time_out);
            }
            (&OpCode::CLOSE_SESSION, _) => {
                sessions.remove(&entry.header.client_id);
            }
            _ => {}
        }
        tree.apply(entry);
        if !tree.digest_matches(entry) {
            tracing::warn!(
                zxid = format_args!("0x{:x}", entry.header.zxid),
                "digest mismatch while replaying the txn log"
            );
        }
        if let Some((zxid, digest)) = snapshot_digest {
            if zxid == entry.header.zxid && tree.digest() != digest {
                tracing::warn!(
                    zxid = format_args!("0x{zxid:x}"),
                    "tree digest differs from the one the snapshot recorded"
                );
            }
        }
        replayed += 1;
    }
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
    })
}
