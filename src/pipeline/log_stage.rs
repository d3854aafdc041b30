//! The log stage (`SyncRequestProcessor`): a dedicated thread owns the txn log. It takes every
//! txn queued since its last fsync, appends them all, fsyncs once (group commit), and reports
//! the highest durable zxid back to the core, which only then applies and acknowledges them.
//!
//! Group size: pipelining clients split into two groups that alternate — one waits in the
//! queue while the other's fsync runs, and returns only after it — so each fsync would serve
//! about half of what is in flight. When fewer txns are queued than the last group plus those
//! (what was in flight a moment ago), the thread waits for the rest, never longer than one
//! fsync lasts: the groups merge and one fsync serves them all. A lone writer is never held
//! (its group is itself), the wait is the smaller the cheaper a commit is (forceSync=no),
//! and with many txns in flight it is not needed (the groups are large already). Clients
//! that do not wait for their replies (a fixed request rate) do not come back as a group: a
//! wait that ends without the rest turns waiting off for the next [`GATHER_BACKOFF`] groups.

use std::sync::mpsc as std_mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::admin::stats::ServerStats;
use crate::persist::txnlog::TxnLog;

/// Work for the log thread.
#[derive(Debug)]
pub enum LogRequest {
    Append {
        zxid: i64,
        bytes: Bytes,
    },
    /// Start a new log file with the next append (before a snapshot).
    Roll,
    /// Drop every logged txn after `zxid` (a leader's TRUNC); the outcome goes to `done`.
    Truncate {
        zxid: i64,
        done: std_mpsc::Sender<Result<(), crate::persist::error::PersistError>>,
    },
}

/// What the log thread reports to the core.
#[derive(Debug)]
pub enum LogEvent {
    /// Every txn up to and including this zxid is on disk (fsynced when forceSync=yes).
    Durable { zxid: i64 },
    /// The log could not be written; nothing after the last Durable is safe. The server stops.
    Fatal(crate::persist::error::PersistError),
}

pub struct LogStage {
    tx: std_mpsc::Sender<Vec<LogRequest>>,
    /// Submitted since the last [`LogStage::flush`]: handed over together, so that the
    /// requests one turn of the core produced wake the log thread once.
    pending: Vec<LogRequest>,
    stopped: bool,
    /// Gives the log back when it ends, for the next role ([`LogStage::close`]).
    thread: Option<JoinHandle<TxnLog>>,
}

/// The largest group one fsync serves (`zookeeper.maxBatchSize` is 1000 in 3.8).
const MAX_BATCH: usize = 1000;
/// Longest a group waits for stragglers, whatever a commit costs.
const GATHER_MAX_WAIT: Duration = Duration::from_micros(500);
/// Groups committed without waiting after a wait that was in vain.
const GATHER_BACKOFF: u32 = 32;
/// Groups are gathered only while this few txns are in flight.
const GATHER_MAX_IN_FLIGHT: usize = 32;

impl LogStage {
    /// The log thread; each commit's fsync time and size go to `stats` (`fsynctime`,
    /// `sync_processor_batch_size`).
    pub fn spawn(
        mut log: TxnLog,
        events: mpsc::UnboundedSender<LogEvent>,
        stats: Arc<ServerStats>,
    ) -> std::io::Result<LogStage> {
        let (tx, rx) = std_mpsc::channel::<Vec<LogRequest>>();
        let thread = std::thread::Builder::new()
            .name("txnlog-sync".into())
            .spawn(move || {
                run(&mut log, &rx, &events, &stats);
                log
            })?;
        Ok(LogStage {
            tx,
            pending: Vec::new(),
            stopped: false,
            thread: Some(thread),
        })
    }

    /// Queue work until the next [`LogStage::flush`], which reports a stopped log thread.
    pub fn submit(&mut self, req: LogRequest) {
        self.pending.push(req);
    }

    /// Truncate the log after `zxid` once everything submitted before is written, and wait
    /// for it (a learner's TRUNC, before it serves anything).
    pub fn truncate(&mut self, zxid: i64) -> Result<(), crate::persist::error::PersistError> {
        let (done, result) = std_mpsc::channel();
        self.submit(LogRequest::Truncate { zxid, done });
        if !self.flush() {
            return Err(crate::persist::error::PersistError::Stopped);
        }
        match result.recv() {
            Ok(r) => r,
            Err(_) => Err(crate::persist::error::PersistError::Stopped),
        }
    }

    /// Hand what was submitted to the log thread; the core calls it before it waits for
    /// anything. False if the log thread has stopped.
    pub fn flush(&mut self) -> bool {
        if !self.pending.is_empty() {
            let batch = std::mem::take(&mut self.pending);
            if self.tx.send(batch).is_err() {
                self.stopped = true;
            }
        }
        !self.stopped
    }

    /// Stop the thread once everything submitted is committed, and hand the log back;
    /// None if the log failed (or its thread did), as nothing unacknowledged may be trusted.
    /// Blocks until the last commit is done.
    pub fn close(mut self) -> Option<TxnLog> {
        self.stop().filter(|log| !log.has_failed())
    }

    fn stop(&mut self) -> Option<TxnLog> {
        self.flush();
        // closing the channel ends the thread after it has committed what it holds
        let (dead_tx, _) = std_mpsc::channel();
        drop(std::mem::replace(&mut self.tx, dead_tx));
        self.thread.take().and_then(|t| t.join().ok())
    }
}

impl Drop for LogStage {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(
    log: &mut TxnLog,
    rx: &std_mpsc::Receiver<Vec<LogRequest>>,
    events: &mpsc::UnboundedSender<LogEvent>,
    stats: &ServerStats,
) {
    let mut last_group = 0usize;
    let mut skip_gathers = 0u32;
    // how long a commit takes, smoothed: the longest a group waits for stragglers
    let mut commit_time = Duration::ZERO;
    loop {
        // what queued while the last commit ran: the other group
        let (first, waited) = match rx.try_recv() {
            Ok(req) => (req, false),
            Err(std_mpsc::TryRecvError::Empty) => match rx.recv() {
                Ok(req) => (req, true),
                Err(_) => return,
            },
            Err(std_mpsc::TryRecvError::Disconnected) => return,
        };
        let mut group = Group::default();
        if let Err(e) = group.take(log, first, rx) {
            return fatal(events, e);
        }
        let queued = if waited { 0 } else { group.count };
        // the last group's clients are sending again: wait for them, one commit at most
        // (only small groups: larger ones already share their fsyncs well, and the core,
        // not the disk, paces them, so waiting would only add latency)
        let in_flight = last_group + queued;
        let expected = if skip_gathers > 0 {
            skip_gathers -= 1;
            0
        } else if in_flight <= GATHER_MAX_IN_FLIGHT {
            in_flight
        } else {
            0
        };
        let until = Instant::now() + commit_time.min(GATHER_MAX_WAIT);
        while group.count < expected {
            let left = until.saturating_duration_since(Instant::now());
            let Ok(req) = rx.recv_timeout(left) else {
                skip_gathers = GATHER_BACKOFF;
                break;
            };
            if let Err(e) = group.take(log, req, rx) {
                return fatal(events, e);
            }
        }
        let Some(zxid) = group.last_zxid else {
            continue;
        };
        let started = Instant::now();
        match log.commit() {
            Ok(c) => stats.record_log_commit(c.fsync_time, group.count),
            Err(e) => return fatal(events, e),
        }
        let took = started.elapsed();
        commit_time = (commit_time * 7 + took) / 8;
        tracing::trace!(zxid, count = group.count, elapsed = ?took, "group commit");
        last_group = group.count;
        if events.send(LogEvent::Durable { zxid }).is_err() {
            return;
        }
    }
}

/// The txns one commit will make durable.
#[derive(Default)]
struct Group {
    count: usize,
    last_zxid: Option<i64>,
}

impl Group {
    /// Append `reqs` and whatever else is queued already (up to about [`MAX_BATCH`]).
    fn take(
        &mut self,
        log: &mut TxnLog,
        reqs: Vec<LogRequest>,
        rx: &std_mpsc::Receiver<Vec<LogRequest>>,
    ) -> Result<(), crate::persist::error::PersistError> {
        let mut next = Some(reqs);
        while let Some(reqs) = next.take() {
            for req in reqs {
                if let Some(zxid) = apply(log, req)? {
                    self.last_zxid = Some(zxid);
                }
                self.count += 1;
            }
            if self.count < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        Ok(())
    }
}

fn apply(
    log: &mut TxnLog,
    req: LogRequest,
) -> Result<Option<i64>, crate::persist::error::PersistError> {
    match req {
        LogRequest::Append { zxid, bytes } => log.append(zxid, &bytes).map(|()| Some(zxid)),
        LogRequest::Roll => log.roll().map(|()| None),
        LogRequest::Truncate { zxid, done } => {
            // the requester reports a failure; the log itself goes on
            let _ = done.send(log.truncate(zxid));
            Ok(None)
        }
    }
}

fn fatal(events: &mpsc::UnboundedSender<LogEvent>, e: crate::persist::error::PersistError) {
    tracing::error!(error = %e, "txn log write failed; no further writes are acknowledged");
    let _ = events.send(LogEvent::Fatal(e));
}
