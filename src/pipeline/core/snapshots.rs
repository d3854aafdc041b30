//! When and how to snapshot (`SyncRequestProcessor#shouldSnapshot`, `FileTxnSnapLog#save`):
//! after more than snapCount/2 + rand(snapCount/2) txns, or more than
//! snapSizeLimit/2 + rand(snapSizeLimit/2) bytes of log, the log rolls and a fuzzy snapshot
//! of the live tree starts, named after the last processed zxid. The core serializes the tree
//! itself, in slices of at most [`SLICE_UNITS`] nodes or [`SLICE_TIME`] between requests, and
//! hands the bytes to the snapshot thread, which files them; txns applied meanwhile are
//! repaired by replaying the log from that zxid, as in the reference. The loop drives the
//! learners' SNAPs a leader streams (`leading::snap`) the same way: [`SnapshotWork`] and
//! `snapshot_slice` cover both; a clean shutdown waits for the local snapshot only.
//!
//! Invariants: one snapshot at a time (from its start until its file is renamed or given
//! up); the tree is never copied; at most [`CHANNEL_CHUNKS`] × [`CHUNK_BYTES`] (+ one chunk)
//! of encoded nodes wait for the disk — when the thread falls behind the core stops
//! slicing and serves requests until there is room; a failure logs an error and loses
//! nothing (the log holds every txn).

use std::collections::VecDeque;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::{self, error::TrySendError};
use tokio::sync::{oneshot, Semaphore};

use super::leading::SnapWork;
use super::{CoreState, Role};
pub(crate) use crate::persist::snapshot::SnapshotPart;
use crate::persist::snapshot::{
    spawn_snapshot_writer, SnapshotCompression, SnapshotDone, SnapshotJob, SnapshotTarget,
    StepBudget,
};
use crate::pipeline::log_stage::LogRequest;
use crate::session::JavaRandom;
use crate::tree::DataTree;

/// Most nodes (written or collected) one slice handles.
pub(crate) const SLICE_UNITS: usize = 2_000;
/// Longest a slice runs before the core turns back to requests.
pub(crate) const SLICE_TIME: Duration = Duration::from_millis(2);
/// Under a steady stream of requests a slice still runs this often.
pub(crate) const MAX_SLICE_GAP: Duration = Duration::from_millis(10);
/// Bytes of node records per message to the snapshot thread.
pub(crate) const CHUNK_BYTES: usize = 64 * 1024;
/// Messages the channel to the snapshot thread holds (≈ 4 MiB of chunks).
pub(crate) const CHANNEL_CHUNKS: usize = 64;
/// Longest a clean shutdown waits for the snapshot in progress to be filed.
const FINISH_WAIT: Duration = Duration::from_secs(60);

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
    live: Option<LiveSnapshot>,
    /// From a snapshot's start: resolves once its thread has filed (or given up) the file.
    filed: Option<oneshot::Receiver<()>>,
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
            live: None,
            filed: None,
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

    /// A snapshot is between its start and its file being written (or given up).
    fn busy(&mut self) -> bool {
        let Some(filed) = self.filed.as_mut() else {
            return false;
        };
        if matches!(filed.try_recv(), Err(oneshot::error::TryRecvError::Empty)) {
            return true;
        }
        self.filed = None;
        false
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

/// What [`CoreState::admin_snapshot`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminSnapshot {
    Started,
    /// Another snapshot is being written.
    Busy,
    /// The server keeps no snapshots (in-memory).
    Unavailable,
}

/// What [`CoreState::admin_restore`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminRestore {
    /// Restored; the server's zxid now.
    Done(i64),
    /// Txns in flight or a snapshot being written: try again shortly.
    Busy,
    Refused(&'static str),
    /// The restored tree could not be written; nothing changed.
    Failed(String),
}

/// An admin snapshot's wishes, carried by [`CoreState::start_snapshot`].
struct AdminTake {
    last_processed_zxid: bool,
    done: oneshot::Sender<Result<PathBuf, String>>,
}

/// What the core loop should do about snapshot work next (the local snapshot's and the
/// learners' SNAPs' together).
pub(crate) enum SnapshotWork {
    Idle,
    /// Slice when nothing else is waiting.
    Ready,
    /// Slice now: requests have kept it waiting for [`MAX_SLICE_GAP`].
    Overdue,
    /// Every consumer is behind: wait until one has room.
    Blocked(Room),
}

/// The consumers a blocked snapshot waits on: the snapshot thread's channel and the
/// learners' sockets (their chunk permits).
#[derive(Default)]
pub(crate) struct Room {
    disk: Option<mpsc::Sender<SnapshotPart>>,
    learners: Vec<Arc<Semaphore>>,
}

impl Room {
    /// Resolves once one of them has room (or is closed).
    pub(crate) async fn wait(self) {
        let mut waits: Vec<Pin<Box<dyn Future<Output = ()> + Send>>> = Vec::new();
        if let Some(tx) = self.disk {
            // the permit is dropped at once: the next slice's try_send takes the room
            waits.push(Box::pin(async move {
                let _ = tx.reserve().await;
            }));
        }
        for sem in self.learners {
            waits.push(Box::pin(async move {
                let _ = sem.acquire_owned().await;
            }));
        }
        if !waits.is_empty() {
            futures::future::select_all(waits).await;
        }
    }
}

/// How a slice ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SliceOutcome {
    More,
    Blocked,
    /// Everything, tail included, is with the snapshot thread.
    Sent,
    Failed,
}

/// A fuzzy snapshot the core is serializing.
pub(crate) struct LiveSnapshot {
    /// `None` once the traversal is complete and its tail queued.
    job: Option<SnapshotJob>,
    tx: mpsc::Sender<SnapshotPart>,
    buf: Vec<u8>,
    /// Parts the channel had no room for yet, in order.
    pending: VecDeque<SnapshotPart>,
    started: Instant,
    last_slice: Instant,
    pub(crate) longest_slice: Duration,
    pub(crate) slices: u64,
}

impl LiveSnapshot {
    pub(crate) fn new(job: SnapshotJob, tx: mpsc::Sender<SnapshotPart>) -> LiveSnapshot {
        let now = Instant::now();
        LiveSnapshot {
            job: Some(job),
            tx,
            buf: Vec::with_capacity(CHUNK_BYTES + 4096),
            pending: VecDeque::new(),
            started: now,
            last_slice: now,
            longest_slice: Duration::ZERO,
            slices: 0,
        }
    }

    pub(crate) fn work(&self) -> SnapshotWork {
        if !self.pending.is_empty() && self.tx.capacity() == 0 {
            SnapshotWork::Blocked(Room {
                disk: Some(self.tx.clone()),
                learners: Vec::new(),
            })
        } else if self.last_slice.elapsed() >= MAX_SLICE_GAP {
            SnapshotWork::Overdue
        } else {
            SnapshotWork::Ready
        }
    }

    /// One bounded piece of the traversal; `tree` is the live tree.
    pub(crate) fn slice(&mut self, tree: &DataTree) -> SliceOutcome {
        let start = Instant::now();
        let outcome = self.slice_inner(tree, start + SLICE_TIME);
        self.last_slice = Instant::now();
        self.longest_slice = self.longest_slice.max(self.last_slice - start);
        self.slices += 1;
        outcome
    }

    fn slice_inner(&mut self, tree: &DataTree, deadline: Instant) -> SliceOutcome {
        let mut units = SLICE_UNITS;
        loop {
            while let Some(part) = self.pending.pop_front() {
                match self.tx.try_send(part) {
                    Ok(()) => {}
                    Err(TrySendError::Full(part)) => {
                        self.pending.push_front(part);
                        return SliceOutcome::Blocked;
                    }
                    Err(TrySendError::Closed(_)) => return SliceOutcome::Failed,
                }
            }
            let Some(job) = self.job.as_mut() else {
                return SliceOutcome::Sent;
            };
            if units == 0 || Instant::now() >= deadline {
                return SliceOutcome::More;
            }
            if !step_within(&mut units, deadline, "snapshot", |b| {
                job.step(tree, &mut self.buf, b)
            }) {
                return SliceOutcome::Failed;
            }
            let done = job.is_done();
            if done || self.buf.len() >= CHUNK_BYTES {
                let chunk =
                    std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK_BYTES + 4096));
                if !chunk.is_empty() {
                    self.pending.push_back(SnapshotPart::Nodes(chunk));
                }
            }
            if done {
                if let Some(job) = self.job.take() {
                    tracing::info!(
                        zxid = format_args!("0x{:x}", job.zxid()),
                        nodes = job.nodes_written(),
                        slices = self.slices + 1,
                        longest_slice_us = self.longest_slice.as_micros() as u64,
                        elapsed_ms = self.started.elapsed().as_millis() as u64,
                        "snapshot traversal complete"
                    );
                    self.pending
                        .push_back(SnapshotPart::Finish(job.finish(tree)));
                }
            }
        }
    }
}

impl CoreState {
    /// Called for every txn handed to the log stage.
    pub(super) fn note_logged(&mut self, bytes: usize) {
        let Some(policy) = self.snapshots.as_mut() else {
            return;
        };
        if !policy.logged(bytes) {
            return;
        }
        policy.txns = 0;
        policy.bytes = 0;
        policy.reroll();
        if policy.busy() {
            tracing::warn!("too busy to snapshot, skipping");
            return;
        }
        if let Some(log) = &mut self.log {
            log.submit(LogRequest::Roll);
        }
        self.start_snapshot(None);
    }

    /// The snapshot `ZooKeeperServer#loadData` takes after recovery, here fuzzy and sliced
    /// between requests like any other: clients are served meanwhile, and until it is filed
    /// the previous snapshot and the log hold everything. Needs [`CoreState::attach_persistence`].
    pub fn take_startup_snapshot(&mut self) {
        let Some(policy) = self.snapshots.as_mut() else {
            return;
        };
        if !policy.busy() {
            self.start_snapshot(None);
        }
    }

    /// 3.9's AdminServer `snapshot` (`ZooKeeperServer#takeSnapshot(false, false)`): a fuzzy
    /// snapshot into the snapshot directory like any other, sliced between requests, ending
    /// with the last processed zxid when `serializeLastProcessedZxid.enabled`; `done`
    /// learns the file once it is written. [`AdminSnapshot::Busy`] while another snapshot
    /// is being written (the caller tries again: one at a time, as `snapshotAndRestoreLock`).
    pub fn admin_snapshot(
        &mut self,
        last_processed_zxid: bool,
        done: oneshot::Sender<Result<PathBuf, String>>,
    ) -> AdminSnapshot {
        let Some(policy) = self.snapshots.as_mut() else {
            return AdminSnapshot::Unavailable;
        };
        if policy.busy() {
            return AdminSnapshot::Busy;
        }
        self.start_snapshot(Some(AdminTake {
            last_processed_zxid,
            done,
        }));
        AdminSnapshot::Started
    }

    /// No txns in flight and no snapshot being written: a restore can happen now (a
    /// standalone server that is not ready is [`AdminRestore::Busy`]).
    pub fn admin_restore_ready(&mut self) -> bool {
        if !matches!(self.role, Role::Standalone) {
            return true;
        }
        self.in_flight.is_empty()
            && self.session_queues.values().all(VecDeque::is_empty)
            && !self.snapshots.as_mut().is_some_and(SnapshotPolicy::busy)
    }

    /// 3.9's AdminServer `restore` (`ZooKeeperServer#restoreFromSnapshot`): the tree and
    /// the sessions are replaced by the snapshot's, and a new session tracker holds the
    /// restored sessions. Beyond 3.9: the restored tree is first written as a snapshot named
    /// by the server's zxid (so a restart comes back to it rather than to the old tree plus
    /// the log), the server's zxid moves up to the snapshot's if that is higher (clients
    /// that saw the restored data can connect), and every client connection is closed
    /// (3.9 drops their sessions and watches too; their next request finds the session
    /// gone). Standalone only: in an ensemble the quorum's tree would disagree with this one.
    /// [`AdminRestore::Busy`] while txns are in flight or a snapshot is being written.
    pub fn admin_restore(
        &mut self,
        mut tree: DataTree,
        sessions: Vec<(i64, i32)>,
        last_processed_zxid: Option<i64>,
    ) -> AdminRestore {
        if !matches!(self.role, Role::Standalone) {
            return AdminRestore::Refused("restore is supported on a standalone server only");
        }
        if !self.admin_restore_ready() {
            return AdminRestore::Busy;
        }
        let zxid = self.last_zxid.max(last_processed_zxid.unwrap_or(0));
        tree.set_last_processed_zxid(zxid);
        let mut sessions = sessions;
        sessions.sort_unstable();
        if let Some(policy) = &self.snapshots {
            let c = &policy.config;
            if let Err(e) = crate::persist::snapshot::write_snapshot(
                &c.snap_dir,
                zxid,
                &tree,
                &sessions,
                c.compression,
                c.fsync,
            ) {
                return AdminRestore::Failed(e.to_string());
            }
        }
        if let Some(log) = &mut self.log {
            log.submit(LogRequest::Roll);
        }
        tracing::info!(
            before_zxid = format_args!("0x{:x}", self.last_zxid),
            before_nodes = self.tree.node_count(),
            before_sessions = self.sessions.sessions().len(),
            after_zxid = format_args!("0x{zxid:x}"),
            after_nodes = tree.node_count(),
            after_sessions = sessions.len(),
            "restored the database from a snapshot"
        );
        let conns: Vec<_> = self.conns.keys().copied().collect();
        for conn in conns {
            self.close(conn);
            self.forget_conn(conn);
        }
        self.tree = tree;
        self.last_zxid = zxid;
        self.pending = Default::default();
        self.watches = crate::watch::WatchManager::new();
        let now = self.now_ms();
        self.sessions = crate::session::SessionTracker::new(
            self.config.myid,
            self.config.tick_time_ms,
            super::wall_clock_ms(),
        );
        for &(id, timeout) in &sessions {
            self.sessions.add_session(id, timeout, now);
        }
        AdminRestore::Done(zxid)
    }

    /// A fuzzy snapshot of the tree as it stands starts; the core loop drives it.
    fn start_snapshot(&mut self, admin: Option<AdminTake>) {
        let sessions = self.sessions.sessions();
        let (job, acls) = SnapshotJob::start(&self.tree);
        let Some(policy) = self.snapshots.as_mut() else {
            return;
        };
        let target = SnapshotTarget {
            snap_dir: policy.config.snap_dir.clone(),
            zxid: job.zxid(),
            compression: policy.config.compression,
            fsync: policy.config.fsync,
            last_processed_zxid: admin.as_ref().is_some_and(|a| a.last_processed_zxid),
        };
        // 3.8's wording (FileTxnSnapLog#save), which operators grep for
        tracing::info!(
            "Snapshotting: 0x{:x} to {}",
            target.zxid,
            target
                .snap_dir
                .join(crate::persist::snapshot::snapshot_file_name(
                    target.zxid,
                    target.compression
                ))
                .display()
        );
        let mut admin_done = admin.map(|a| a.done);
        let stats = self.stats.clone();
        let started = Instant::now();
        // dropped unsent (the thread not started) it reads as filed, too
        let (filed_tx, filed_rx) = oneshot::channel();
        let on_done: SnapshotDone = Box::new(move |result| {
            match &result {
                Ok(path) => {
                    tracing::info!(file = %path.display(), "snapshot written");
                    stats.record_snapshot(started.elapsed());
                }
                // a failed snapshot loses nothing: the txn log still holds every txn
                Err(e) => tracing::error!(error = %e, "snapshot failed"),
            }
            if let Some(done) = admin_done.take() {
                let _ = done.send(result.map_err(|e| e.to_string()));
            }
            let _ = filed_tx.send(());
        });
        policy.filed = Some(filed_rx);
        match spawn_snapshot_writer(target, sessions, acls, CHANNEL_CHUNKS, on_done) {
            Ok(tx) => policy.live = Some(LiveSnapshot::new(job, tx)),
            Err(e) => {
                tracing::error!(error = %e, "cannot start the snapshot thread");
            }
        }
    }

    /// On a clean shutdown: complete the snapshot in progress, if any, and wait (bounded)
    /// until it is filed, so that a server stopped soon after start still leaves its
    /// start-up snapshot, as the reference (which writes it before serving) does.
    pub(super) async fn finish_snapshot(&mut self) {
        let finish = async {
            loop {
                match self.local_snapshot_work() {
                    SnapshotWork::Idle => break,
                    SnapshotWork::Blocked(room) => room.wait().await,
                    SnapshotWork::Ready | SnapshotWork::Overdue => {}
                }
                self.local_snapshot_slice();
            }
            if let Some(filed) = self.snapshots.as_mut().and_then(|p| p.filed.take()) {
                let _ = filed.await;
            }
        };
        if tokio::time::timeout(FINISH_WAIT, finish).await.is_err() {
            tracing::warn!("shutting down before the snapshot in progress was written");
        }
    }

    /// What the loop should do for the local snapshot and the learners' SNAPs in progress:
    /// slice now if any is overdue, when idle if any can go on, else wait for room.
    pub(super) fn snapshot_work(&self) -> SnapshotWork {
        let mut room = Room::default();
        let mut ready = false;
        let mut blocked = false;
        let learners = match &self.role {
            Role::Leading(l) => Some(l.snap_work()),
            _ => None,
        };
        let local = self.local_snapshot_work();
        let snaps = learners.into_iter().flatten().map(|w| match w {
            SnapWork::Ready => SnapshotWork::Ready,
            SnapWork::Overdue => SnapshotWork::Overdue,
            SnapWork::Blocked(sem) => SnapshotWork::Blocked(Room {
                disk: None,
                learners: vec![sem],
            }),
        });
        for work in std::iter::once(local).chain(snaps) {
            match work {
                SnapshotWork::Idle => {}
                SnapshotWork::Ready => ready = true,
                SnapshotWork::Overdue => return SnapshotWork::Overdue,
                SnapshotWork::Blocked(r) => {
                    blocked = true;
                    room.disk = room.disk.or(r.disk);
                    room.learners.extend(r.learners);
                }
            }
        }
        if ready {
            SnapshotWork::Ready
        } else if blocked {
            SnapshotWork::Blocked(room)
        } else {
            SnapshotWork::Idle
        }
    }

    /// One slice of the local snapshot and of each learner's SNAP in progress.
    pub(super) fn snapshot_slice(&mut self) {
        if let Role::Leading(l) = &mut self.role {
            l.snap_slices(&self.tree);
        }
        self.local_snapshot_slice();
    }

    /// What the loop should do for the local snapshot in progress, if any.
    fn local_snapshot_work(&self) -> SnapshotWork {
        match self.snapshots.as_ref().and_then(|p| p.live.as_ref()) {
            Some(live) => live.work(),
            None => SnapshotWork::Idle,
        }
    }

    /// One slice of the local snapshot in progress.
    fn local_snapshot_slice(&mut self) {
        let Some(policy) = self.snapshots.as_mut() else {
            return;
        };
        let Some(live) = policy.live.as_mut() else {
            return;
        };
        match live.slice(&self.tree) {
            SliceOutcome::More | SliceOutcome::Blocked => {}
            SliceOutcome::Sent => policy.live = None,
            SliceOutcome::Failed => {
                // dropping the sender makes the thread discard its files and report
                tracing::error!("snapshot abandoned: the snapshot thread stopped taking nodes");
                policy.live = None;
            }
        }
    }
}

/// One `step` of a job within `units` and `deadline`, at most a chunk's bytes; `units` is
/// charged what it used. False if a node could not be encoded (logged, naming `what`: a
/// local snapshot or a learner's SNAP).
pub(crate) fn step_within(
    units: &mut usize,
    deadline: Instant,
    what: &str,
    step: impl FnOnce(StepBudget) -> std::io::Result<usize>,
) -> bool {
    let budget = StepBudget {
        max_units: *units,
        max_bytes: CHUNK_BYTES,
        deadline: Some(deadline),
    };
    match step(budget) {
        Ok(used) => {
            *units = units.saturating_sub(used.max(1));
            true
        }
        Err(e) => {
            tracing::error!(error = %e, "{what}: cannot encode a node");
            false
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests;
