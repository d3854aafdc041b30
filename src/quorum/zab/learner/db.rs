//! A peer's database as loaded from disk, and where it lives: the parts of `ZKDatabase`,
//! `FileTxnSnapLog` and `QuorumPeer` a peer uses around an election (`loadDataBase`) and a
//! learner's sync uses on disk (`truncateLog`'s reload, `takeSnapshot`, `setAcceptedEpoch`,
//! `setCurrentEpoch`). The txn log itself goes to the core's log stage ([`LearnerParts::log`]).
//!
//! Invariants: loading never changes what is on disk, except that an empty directory gets
//! `snapshot.0` as the reference's restore saves one. Blocking: call it off the async
//! workers.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::persist::committed::CommittedLog;
use crate::persist::epoch::{self, EpochError, Epochs};
use crate::persist::restore::{fast_forward, restore, version_dir, DbLoad, RestoreError, Restored};
use crate::persist::snapshot::{self, SnapshotCompression, SnapshotError};
use crate::persist::txnlog::{TxnLog, TxnLogOptions};
use crate::persist::PersistError;
use crate::tree::{DataTree, TreeOptions};

#[derive(Debug, thiserror::Error)]
pub enum LearnerDbError {
    #[error("cannot create {}: {source}", dir.display())]
    CreateDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("loading the database: {0}")]
    Restore(#[from] RestoreError),
    #[error(transparent)]
    Epoch(#[from] EpochError),
    #[error(transparent)]
    Log(#[from] PersistError),
    #[error("writing a snapshot: {0}")]
    Snapshot(#[from] SnapshotError),
}

/// Where and how the database is stored.
#[derive(Debug, Clone)]
pub struct LearnerDbOptions {
    pub data_dir: PathBuf,
    /// `dataLogDir` (defaults to `data_dir`).
    pub data_log_dir: Option<PathBuf>,
    pub tree_options: TreeOptions,
    pub log_options: TxnLogOptions,
    pub snapshot_compression: SnapshotCompression,
    /// `zookeeper.snapshot.trust.empty`.
    pub trust_empty_snapshot: bool,
}

impl LearnerDbOptions {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        LearnerDbOptions {
            data_dir: data_dir.into(),
            data_log_dir: None,
            tree_options: TreeOptions::default(),
            log_options: TxnLogOptions::default(),
            snapshot_compression: SnapshotCompression::None,
            trust_empty_snapshot: false,
        }
    }
}

/// Tree, sessions, txn log and epochs of a learner; what the serving pipeline takes over.
pub struct LearnerDb {
    opts: LearnerDbOptions,
    snap_dir: PathBuf,
    log_dir: PathBuf,
    tree: DataTree,
    sessions: BTreeMap<i64, i32>,
    committed: CommittedLog,
    log: TxnLog,
    epochs: Epochs,
    /// How it was loaded or fast-forwarded, until the peer takes it for its metrics.
    load: Option<DbLoad>,
}

impl std::fmt::Debug for LearnerDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LearnerDb")
            .field("snap_dir", &self.snap_dir)
            .field(
                "zxid",
                &format_args!("0x{:x}", self.tree.last_processed_zxid()),
            )
            .field("epochs", &self.epochs)
            .finish_non_exhaustive()
    }
}

/// The database handed to the core for a role.
pub struct LearnerParts {
    pub tree: DataTree,
    /// (session id, timeout ms), sorted by id.
    pub sessions: Vec<(i64, i32)>,
    /// The newest committed txns, ending at the tree's last processed zxid.
    pub committed: CommittedLog,
    /// Open for appends after the last logged txn.
    pub log: TxnLog,
    pub epochs: Epochs,
    pub storage: LearnerStorage,
}

/// What a role leaves to the next one (`ZooKeeperServer#shutdown(false)` keeps the
/// `ZKDatabase`): the tree it applied, the global session table, and the txn log with
/// everything submitted to it committed.
pub struct LeftDatabase {
    pub tree: DataTree,
    /// (session id, timeout ms).
    pub sessions: Vec<(i64, i32)>,
    /// The newest txns applied, ending at the tree's last processed zxid.
    pub committed: CommittedLog,
    pub log: TxnLog,
}

/// Where the database lives, for what a learner's sync writes besides the log.
#[derive(Debug, Clone)]
pub struct LearnerStorage {
    pub snap_dir: PathBuf,
    pub log_dir: PathBuf,
    pub tree_options: TreeOptions,
    pub snapshot_compression: SnapshotCompression,
    pub trust_empty_snapshot: bool,
}

impl LearnerStorage {
    /// `ZKDatabase#truncateLog`'s reload once the log is cut after `zxid`: the newest
    /// snapshot and the log after it; the tree's last processed zxid becomes `zxid`.
    pub fn reload(&self, zxid: i64) -> Result<Restored, LearnerDbError> {
        let mut restored = restore(
            &self.snap_dir,
            &self.log_dir,
            self.tree_options,
            self.trust_empty_snapshot,
            CommittedLog::default(),
        )?;
        restored.tree.set_last_processed_zxid(zxid);
        Ok(restored)
    }

    /// `ZooKeeperServer#takeSnapshot(syncSnap)`: `snapshot.<last processed zxid>`, whole,
    /// before the sync goes on.
    pub fn take_snapshot(
        &self,
        tree: &DataTree,
        sessions: &[(i64, i32)],
        fsync: bool,
    ) -> Result<PathBuf, LearnerDbError> {
        Ok(snapshot::write_snapshot(
            &self.snap_dir,
            tree.last_processed_zxid(),
            tree,
            sessions,
            self.snapshot_compression,
            fsync,
        )?)
    }

    /// `QuorumPeer#setAcceptedEpoch`.
    pub fn write_accepted_epoch(&self, e: i64) -> Result<(), LearnerDbError> {
        Ok(epoch::write_epoch(
            &self.snap_dir,
            epoch::ACCEPTED_EPOCH_FILENAME,
            e,
        )?)
    }

    /// `QuorumPeer#setCurrentEpoch`.
    pub fn write_current_epoch(&self, e: i64) -> Result<(), LearnerDbError> {
        Ok(epoch::write_epoch(
            &self.snap_dir,
            epoch::CURRENT_EPOCH_FILENAME,
            e,
        )?)
    }
}

impl LearnerDb {
    /// `QuorumPeer#loadDataBase`: restore the newest snapshot and the log after it, load the
    /// epochs, open the log. An empty directory gets `snapshot.0` at once, as
    /// `FileTxnSnapLog#restore` saves one for an empty database.
    pub fn open(opts: LearnerDbOptions) -> Result<LearnerDb, LearnerDbError> {
        let snap_dir = version_dir(&opts.data_dir);
        let log_dir = version_dir(opts.data_log_dir.as_deref().unwrap_or(&opts.data_dir));
        for dir in [&snap_dir, &log_dir] {
            std::fs::create_dir_all(dir).map_err(|source| LearnerDbError::CreateDir {
                dir: dir.clone(),
                source,
            })?;
        }
        let restored = restore(
            &snap_dir,
            &log_dir,
            opts.tree_options,
            opts.trust_empty_snapshot,
            CommittedLog::default(),
        )?;
        if restored.snapshot.is_none() {
            snapshot::write_snapshot(
                &snap_dir,
                restored.tree.last_processed_zxid(),
                &restored.tree,
                &restored.sessions,
                opts.snapshot_compression,
                opts.log_options.force_sync,
            )?;
        }
        let zxid = restored.tree.last_processed_zxid();
        let epochs = epoch::load_epochs(&snap_dir, zxid)?;
        let log = TxnLog::open(&log_dir, opts.log_options.clone())?;
        Ok(LearnerDb {
            opts,
            snap_dir,
            log_dir,
            tree: restored.tree,
            sessions: restored.sessions.into_iter().collect(),
            committed: restored.committed,
            log,
            epochs,
            load: Some(restored.load),
        })
    }

    /// The database a role left, caught up with its own log (`ZKDatabase#fastForwardDataBase`:
    /// proposals logged but never committed) instead of loaded from disk again, which at a
    /// million znodes costs seconds of an election. A tree ahead of everything on disk is not
    /// trusted: then the database is loaded from disk as at start-up.
    pub fn resume(opts: LearnerDbOptions, left: LeftDatabase) -> Result<LearnerDb, LearnerDbError> {
        let snap_dir = version_dir(&opts.data_dir);
        let log_dir = version_dir(opts.data_log_dir.as_deref().unwrap_or(&opts.data_dir));
        let LeftDatabase {
            mut tree,
            sessions,
            mut committed,
            log,
        } = left;
        let applied = tree.last_processed_zxid();
        let logged = log.last_zxid_seen();
        let snapshot = snapshot::find_snapshots(&snap_dir, 1)
            .first()
            .and_then(|p| p.file_name())
            .and_then(|n| snapshot::zxid_from_name(&n.to_string_lossy()))
            .unwrap_or(-1);
        if applied > logged.max(snapshot) {
            tracing::warn!(
                applied = format_args!("0x{applied:x}"),
                logged = format_args!("0x{logged:x}"),
                "the tree in memory is ahead of the txn log; loading the database from disk"
            );
            drop(log);
            return LearnerDb::open(opts);
        }
        let mut sessions: BTreeMap<i64, i32> = sessions.into_iter().collect();
        let mut load = None;
        if logged > applied {
            let forwarded = fast_forward(&mut tree, &mut sessions, &mut committed, &log_dir)?;
            load = Some(forwarded);
            tracing::info!(
                txns = forwarded.txns,
                zxid = format_args!("0x{:x}", tree.last_processed_zxid()),
                "fast-forwarded the database from the txn log"
            );
        }
        let epochs = epoch::load_epochs(&snap_dir, tree.last_processed_zxid())?;
        Ok(LearnerDb {
            opts,
            snap_dir,
            log_dir,
            tree,
            sessions,
            committed,
            log,
            epochs,
            load,
        })
    }

    /// How this database was loaded (once: the peer records it as metrics).
    pub fn take_load(&mut self) -> Option<DbLoad> {
        self.load.take()
    }

    pub fn tree(&self) -> &DataTree {
        &self.tree
    }

    /// Lends the tree to the read-only server for the election (an empty tree stands in);
    /// [`LearnerDb::return_tree`] puts it back. The read-only server changes nothing in it.
    pub fn lend_tree(&mut self) -> DataTree {
        std::mem::replace(
            &mut self.tree,
            DataTree::with_options(self.opts.tree_options),
        )
    }

    pub fn return_tree(&mut self, tree: DataTree) {
        self.tree = tree;
    }

    /// (session id, timeout ms), sorted by id.
    pub fn sessions(&self) -> Vec<(i64, i32)> {
        self.sessions.iter().map(|(k, v)| (*k, *v)).collect()
    }

    pub fn epochs(&self) -> Epochs {
        self.epochs
    }

    /// The tree's last processed zxid (`QuorumPeer#getLastLoggedZxid`).
    pub fn last_processed_zxid(&self) -> i64 {
        self.tree.last_processed_zxid()
    }

    pub fn storage(&self) -> LearnerStorage {
        LearnerStorage {
            snap_dir: self.snap_dir.clone(),
            log_dir: self.log_dir.clone(),
            tree_options: self.opts.tree_options,
            snapshot_compression: self.opts.snapshot_compression,
            trust_empty_snapshot: self.opts.trust_empty_snapshot,
        }
    }

    /// Hand everything to the core.
    pub fn into_parts(self) -> LearnerParts {
        let storage = self.storage();
        let sessions = self.sessions();
        LearnerParts {
            tree: self.tree,
            sessions,
            committed: self.committed,
            log: self.log,
            epochs: self.epochs,
            storage,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::jute::codes::OpCode;
    use crate::jute::data::Acl;
    use crate::jute::txn::{CreateTxn, EncodedTxn, TxnBody, TxnEntry, TxnHeader};

    fn create(zxid: i64) -> EncodedTxn {
        EncodedTxn::encode(TxnEntry {
            header: TxnHeader {
                client_id: 1,
                cxid: 1,
                zxid,
                time: 0,
                op: OpCode::CREATE,
            },
            body: TxnBody::Create(CreateTxn {
                path: format!("/n{zxid:x}"),
                data: None,
                acl: Acl::open_unsafe(),
                ephemeral: false,
                parent_cversion: 1,
            }),
            digest: None,
        })
    }

    #[test]
    fn a_trunc_reload_holds_the_log_up_to_its_zxid_and_a_reopen_everything_logged() {
        let dir = std::env::temp_dir().join(format!("fk-learner-db-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut opts = LearnerDbOptions::new(&dir);
        opts.log_options.pre_alloc_size = 4096;
        let db = LearnerDb::open(opts.clone()).unwrap();
        // an empty database gets snapshot.0 at once
        assert!(dir.join("version-2/snapshot.0").exists());
        let mut parts = db.into_parts();
        parts.storage.write_accepted_epoch(1).unwrap();
        for zxid in [0x1_0000_0001, 0x1_0000_0002, 0x1_0000_0003] {
            let txn = create(zxid);
            parts.log.append(zxid, txn.bytes()).unwrap();
        }
        parts.log.commit().unwrap();
        parts.log.truncate(0x1_0000_0002).unwrap();
        let tree = parts.storage.reload(0x1_0000_0002).unwrap().tree;
        assert!(tree.node("/n100000002").is_some());
        assert!(tree.node("/n100000003").is_none());
        assert_eq!(tree.last_processed_zxid(), 0x1_0000_0002);
        // appends go on after the cut
        parts
            .log
            .append(0x1_0000_0004, create(0x1_0000_0004).bytes())
            .unwrap();
        parts.log.commit().unwrap();
        parts.storage.write_current_epoch(1).unwrap();
        drop(parts);
        let db = LearnerDb::open(opts).unwrap();
        assert_eq!(db.last_processed_zxid(), 0x1_0000_0004);
        assert!(db.tree().node("/n100000003").is_none());
        assert_eq!(db.epochs().current, 1);
        assert_eq!(db.epochs().accepted, 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_resumed_database_catches_up_with_its_log_and_a_tree_ahead_of_the_disk_is_reloaded() {
        let dir = std::env::temp_dir().join(format!("fk-learner-resume-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut opts = LearnerDbOptions::new(&dir);
        opts.log_options.pre_alloc_size = 4096;
        let mut parts = LearnerDb::open(opts.clone()).unwrap().into_parts();
        parts.storage.write_accepted_epoch(1).unwrap();
        parts.storage.write_current_epoch(1).unwrap();
        // three proposals logged, the first one applied (committed)
        for zxid in [0x1_0000_0001, 0x1_0000_0002, 0x1_0000_0003] {
            parts.log.append(zxid, create(zxid).bytes()).unwrap();
        }
        parts.log.commit().unwrap();
        parts.tree.apply(create(0x1_0000_0001).txn());
        assert_eq!(parts.tree.last_processed_zxid(), 0x1_0000_0001);
        let db = LearnerDb::resume(
            opts.clone(),
            LeftDatabase {
                tree: parts.tree,
                sessions: vec![(7, 30_000)],
                committed: CommittedLog::default(),
                log: parts.log,
            },
        )
        .unwrap();
        assert_eq!(db.last_processed_zxid(), 0x1_0000_0003);
        assert!(db.tree().node("/n100000003").is_some());
        assert_eq!(db.sessions(), vec![(7, 30_000)]);
        // the fast-forwarded txns are committed now, as DIFFs from a new leader need them
        assert_eq!(db.committed.zxids(), vec![0x1_0000_0002, 0x1_0000_0003]);
        // a tree holding a txn the disk does not: what the disk holds wins
        let mut parts = db.into_parts();
        parts.tree.apply(create(0x1_0000_0004).txn());
        let db = LearnerDb::resume(
            opts,
            LeftDatabase {
                tree: parts.tree,
                sessions: Vec::new(),
                committed: parts.committed,
                log: parts.log,
            },
        )
        .unwrap();
        assert_eq!(db.last_processed_zxid(), 0x1_0000_0003);
        assert!(db.tree().node("/n100000004").is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
