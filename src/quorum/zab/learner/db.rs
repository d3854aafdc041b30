//! The learner's database and the executor of the engine's persistence actions: the parts
//! of `ZKDatabase`, `FileTxnSnapLog`, `SyncRequestProcessor` and `QuorumPeer`'s epoch setters
//! a learner uses (`loadDataBase`, `truncateLog`, `deserializeSnapshot`, `takeSnapshot`,
//! `append`/`commit`, `fastForwardDataBase`, `setAcceptedEpoch`, `setCurrentEpoch`).
//!
//! Invariants: the log is fsynced before an epoch file or a snapshot is written and before
//! [`LearnerDb::execute`] hands back packets to send, so nothing is acknowledged before it
//! is durable; the tree changes only through `apply` (committed txns), a SNAP payload, or a
//! reload after TRUNC. Blocking: call it off the async workers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::engine::LearnerAction;
use crate::jute::codes::OpCode;
use crate::jute::txn::{EncodedTxn, TxnBody, TxnEntry};
use crate::persist::epoch::{self, EpochError, Epochs};
use crate::persist::restore::{restore, version_dir, RestoreError};
use crate::persist::snapshot::{self, SnapshotCompression, SnapshotError};
use crate::persist::txnlog::{self, TxnLog, TxnLogOptions};
use crate::persist::PersistError;
use crate::quorum::zab::packet::ZabMessage;
use crate::quorum::zab::stream::SnapPayload;
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
    log: Option<TxnLog>,
    unsynced: bool,
    epochs: Epochs,
    last_logged_zxid: i64,
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

/// A synced learner's state, for the serving pipeline.
pub struct LearnerParts {
    pub tree: DataTree,
    /// (session id, timeout ms), sorted by id.
    pub sessions: Vec<(i64, i32)>,
    /// Open for appends after the last logged txn.
    pub log: TxnLog,
    pub epochs: Epochs,
}

/// What one batch of actions produced for the network side.
#[derive(Debug, Default)]
pub struct Executed {
    /// Packets to write, in order; the log is durable up to here.
    pub sends: Vec<ZabMessage>,
    /// UPTODATE was handled with this epoch.
    pub synced: Option<i64>,
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
            log: Some(log),
            unsynced: false,
            epochs,
            last_logged_zxid: zxid,
        })
    }

    pub fn tree(&self) -> &DataTree {
        &self.tree
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

    /// The zxid of the newest txn appended to the log (or loaded).
    pub fn last_logged_zxid(&self) -> i64 {
        self.last_logged_zxid
    }

    pub fn snap_dir(&self) -> &Path {
        &self.snap_dir
    }

    pub fn log_dir(&self) -> &Path {
        &self.log_dir
    }

    /// Hand everything to the serving pipeline: the log is fsynced first.
    pub fn into_parts(mut self) -> Result<LearnerParts, LearnerDbError> {
        self.sync_log()?;
        let sessions = self.sessions();
        let log = match self.log.take() {
            Some(l) => l,
            None => TxnLog::open(&self.log_dir, self.opts.log_options.clone())?,
        };
        Ok(LearnerParts {
            tree: self.tree,
            sessions,
            log,
            epochs: self.epochs,
        })
    }

    /// Carry out the engine's actions in order (the network ones are collected).
    /// PING replies carry an empty touch table (`Learner#ping`: `getTouchSnapshot`): this
    /// runs only until UPTODATE, before any local client is served; afterwards the
    /// serving pipeline answers PINGs with its own sessions.
    pub fn execute(&mut self, actions: Vec<LearnerAction>) -> Result<Executed, LearnerDbError> {
        let mut out = Executed::default();
        for action in actions {
            match action {
                LearnerAction::Send(msg) => out.sends.push(msg),
                LearnerAction::ReplyPing { zxid, authinfo } => {
                    out.sends.push(ZabMessage::PingReply {
                        zxid,
                        touches: Vec::new(),
                        authinfo,
                    })
                }
                LearnerAction::PersistAcceptedEpoch(e) => self.set_accepted_epoch(e)?,
                LearnerAction::PersistCurrentEpoch(e) => self.set_current_epoch(e)?,
                LearnerAction::TruncateLog { zxid } => self.truncate(zxid)?,
                LearnerAction::TakeSnapshot { fsync } => {
                    self.take_snapshot(fsync)?;
                }
                LearnerAction::LogTxn(txn) => self.log_txn(&txn)?,
                LearnerAction::SyncLog => self.sync_log()?,
                LearnerAction::ApplyTxn(txn) => self.apply(&txn),
                LearnerAction::Synced { new_epoch } => out.synced = Some(new_epoch),
                // the driver reads the payload from the stream and calls `replace`;
                // a leader SYNC before UPTODATE answers no local client (none is served yet)
                LearnerAction::LoadSnap { .. }
                | LearnerAction::Revalidated { .. }
                | LearnerAction::SyncCompleted => {}
            }
        }
        self.sync_log()?;
        Ok(out)
    }

    fn log_mut(&mut self) -> Result<&mut TxnLog, LearnerDbError> {
        if self.log.is_none() {
            self.log = Some(TxnLog::open(&self.log_dir, self.opts.log_options.clone())?);
        }
        match self.log.as_mut() {
            Some(l) => Ok(l),
            None => Err(LearnerDbError::Log(PersistError::NoLogFiles {
                dir: self.log_dir.clone(),
            })),
        }
    }

    /// Append (buffered) in the bytes the leader sent; made durable by the next
    /// [`Self::sync_log`].
    pub fn log_txn(&mut self, txn: &EncodedTxn) -> Result<(), LearnerDbError> {
        let zxid = txn.zxid();
        self.log_mut()?.append(zxid, txn.bytes())?;
        self.unsynced = true;
        self.last_logged_zxid = self.last_logged_zxid.max(zxid);
        Ok(())
    }

    /// Group commit: write and fsync everything appended since the last call.
    pub fn sync_log(&mut self) -> Result<(), LearnerDbError> {
        if self.unsynced {
            self.log_mut()?.commit()?;
            self.unsynced = false;
        }
        Ok(())
    }

    /// Apply a committed txn: the tree, the session table, the digest check.
    pub fn apply(&mut self, txn: &TxnEntry) {
        match (&txn.header.op, &txn.body) {
            (&OpCode::CREATE_SESSION, TxnBody::CreateSession(t)) => {
                self.sessions.insert(txn.header.client_id, t.time_out);
            }
            (&OpCode::CLOSE_SESSION, _) => {
                self.sessions.remove(&txn.header.client_id);
            }
            _ => {}
        }
        self.tree.apply(txn);
        if !self.tree.digest_matches(txn) {
            tracing::warn!(
                zxid = format_args!("0x{:x}", txn.header.zxid),
                "digest mismatch applying a txn from the leader"
            );
        }
    }

    pub fn set_accepted_epoch(&mut self, e: i64) -> Result<(), LearnerDbError> {
        self.sync_log()?;
        epoch::write_epoch(&self.snap_dir, epoch::ACCEPTED_EPOCH_FILENAME, e)?;
        self.epochs.accepted = e;
        Ok(())
    }

    pub fn set_current_epoch(&mut self, e: i64) -> Result<(), LearnerDbError> {
        self.sync_log()?;
        epoch::write_epoch(&self.snap_dir, epoch::CURRENT_EPOCH_FILENAME, e)?;
        self.epochs.current = e;
        Ok(())
    }

    /// A SNAP sync's payload replaces the tree and the sessions (`ZKDatabase#deserializeSnapshot`).
    pub fn replace(&mut self, payload: SnapPayload) {
        self.tree = payload.tree;
        self.sessions = payload.sessions.into_iter().collect();
    }

    /// `ZooKeeperServer#takeSnapshot`: `snapshot.<last processed zxid>`.
    pub fn take_snapshot(&mut self, fsync: bool) -> Result<PathBuf, LearnerDbError> {
        self.sync_log()?;
        let sessions = self.sessions();
        let zxid = self.tree.last_processed_zxid();
        Ok(snapshot::write_snapshot(
            &self.snap_dir,
            zxid,
            &self.tree,
            &sessions,
            self.opts.snapshot_compression,
            fsync,
        )?)
    }

    /// `ZKDatabase#truncateLog`: close the log, drop every txn after `zxid`, reload the
    /// database from disk, reopen the log; the tree's last processed zxid becomes `zxid`.
    pub fn truncate(&mut self, zxid: i64) -> Result<(), LearnerDbError> {
        self.sync_log()?;
        if let Some(log) = self.log.take() {
            log.close()?;
        }
        txnlog::truncate(&self.log_dir, zxid)?;
        let restored = restore(
            &self.snap_dir,
            &self.log_dir,
            self.opts.tree_options,
            self.opts.trust_empty_snapshot,
        )?;
        self.tree = restored.tree;
        self.tree.set_last_processed_zxid(zxid);
        self.sessions = restored.sessions.into_iter().collect();
        self.last_logged_zxid = zxid;
        self.log = Some(TxnLog::open(&self.log_dir, self.opts.log_options.clone())?);
        Ok(())
    }

    /// `ZKDatabase#fastForwardDataBase`, when the leader is lost: txns logged but not yet
    /// committed are applied, so the next election sees the whole logged history.
    pub fn fast_forward(&mut self) -> Result<u64, LearnerDbError> {
        self.sync_log()?;
        let mut n = 0;
        for logged in txnlog::read_txns(&self.log_dir, self.tree.last_processed_zxid())? {
            let logged = logged?;
            self.apply(&logged.entry);
            n += 1;
        }
        Ok(n)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::jute::data::Acl;
    use crate::jute::txn::{CreateTxn, TxnHeader};

    fn create(zxid: i64) -> TxnEntry {
        TxnEntry {
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
        }
    }

    #[test]
    fn logged_txns_survive_truncate_and_fast_forward_as_the_reference_does() {
        let dir = std::env::temp_dir().join(format!("fk-learner-db-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut opts = LearnerDbOptions::new(&dir);
        opts.log_options.pre_alloc_size = 4096;
        let mut db = LearnerDb::open(opts.clone()).unwrap();
        // an empty database gets snapshot.0 at once
        assert!(dir.join("version-2/snapshot.0").exists());
        let actions = vec![
            LearnerAction::PersistAcceptedEpoch(1),
            LearnerAction::LogTxn(EncodedTxn::encode(create(0x1_0000_0001))),
            LearnerAction::LogTxn(EncodedTxn::encode(create(0x1_0000_0002))),
            LearnerAction::LogTxn(EncodedTxn::encode(create(0x1_0000_0003))),
            LearnerAction::ApplyTxn(create(0x1_0000_0001)),
            LearnerAction::PersistCurrentEpoch(1),
            LearnerAction::Send(ZabMessage::Ack {
                zxid: 0x1_0000_0003,
            }),
        ];
        let out = db.execute(actions).unwrap();
        assert_eq!(out.sends.len(), 1);
        assert_eq!(db.last_processed_zxid(), 0x1_0000_0001);
        assert_eq!(db.last_logged_zxid(), 0x1_0000_0003);
        assert_eq!(db.epochs().current, 1);
        // TRUNC to 2: reload from disk (all of the log up to 2), no 3
        db.truncate(0x1_0000_0002).unwrap();
        assert!(db.tree().node("/n100000002").is_some());
        assert!(db.tree().node("/n100000003").is_none());
        assert_eq!(db.last_processed_zxid(), 0x1_0000_0002);
        db.log_txn(&EncodedTxn::encode(create(0x1_0000_0004)))
            .unwrap();
        assert_eq!(db.fast_forward().unwrap(), 1);
        assert!(db.tree().node("/n100000004").is_some());
        drop(db);
        let db = LearnerDb::open(opts).unwrap();
        assert_eq!(db.last_processed_zxid(), 0x1_0000_0004);
        assert_eq!(db.epochs().current, 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
