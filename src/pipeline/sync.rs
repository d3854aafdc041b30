//! The log stage (`SyncRequestProcessor`): a dedicated thread owns the txn log. It takes every
//! txn queued since its last fsync, appends them all, fsyncs once (group commit), and reports
//! the highest durable zxid back to the core, which only then applies and acknowledges them.

use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;
use std::time::Instant;

use tokio::sync::mpsc;

use crate::persist::txnlog::TxnLog;

/// Work for the log thread.
#[derive(Debug)]
pub enum SyncRequest {
    Append {
        zxid: i64,
        bytes: Vec<u8>,
    },
    /// Start a new log file with the next append (before a snapshot).
    Roll,
}

/// What the log thread reports to the core.
#[derive(Debug)]
pub enum SyncEvent {
    /// Every txn up to and including this zxid is on disk (fsynced when forceSync=yes).
    Durable { zxid: i64 },
    /// The log could not be written; nothing after the last Durable is safe. The server stops.
    Fatal(String),
}

pub struct LogStage {
    tx: std_mpsc::Sender<SyncRequest>,
    thread: Option<JoinHandle<()>>,
}

/// The largest group one fsync serves (`zookeeper.maxBatchSize` is 1000 in 3.8).
const MAX_BATCH: usize = 1000;

impl LogStage {
    pub fn spawn(
        mut log: TxnLog,
        events: mpsc::UnboundedSender<SyncEvent>,
    ) -> std::io::Result<LogStage> {
        let (tx, rx) = std_mpsc::channel::<SyncRequest>();
        let thread = std::thread::Builder::new()
            .name("txnlog-sync".into())
            .spawn(move || run(&mut log, &rx, &events))?;
        Ok(LogStage {
            tx,
            thread: Some(thread),
        })
    }

    /// Queue work; false if the log thread has stopped (after a fatal error).
    pub fn submit(&self, req: SyncRequest) -> bool {
        self.tx.send(req).is_ok()
    }
}

impl Drop for LogStage {
    fn drop(&mut self) {
        // closing the channel ends the thread after it has committed what it holds
        let (dead_tx, _) = std_mpsc::channel();
        drop(std::mem::replace(&mut self.tx, dead_tx));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(
    log: &mut TxnLog,
    rx: &std_mpsc::Receiver<SyncRequest>,
    events: &mpsc::UnboundedSender<SyncEvent>,
) {
    while let Ok(first) = rx.recv() {
        let mut last = None;
        let mut next = Some(first);
        let mut count = 0;
        while let Some(req) = next.take() {
            match apply(log, req) {
                Ok(Some(zxid)) => last = Some(zxid),
                Ok(None) => {}
                Err(e) => return fatal(events, e),
            }
            count += 1;
            if count < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        let Some(zxid) = last else { continue };
        let started = Instant::now();
        if let Err(e) = log.commit() {
            return fatal(events, e);
        }
        tracing::trace!(zxid, count, elapsed = ?started.elapsed(), "group commit");
        if events.send(SyncEvent::Durable { zxid }).is_err() {
            return;
        }
    }
}

fn apply(
    log: &mut TxnLog,
    req: SyncRequest,
) -> Result<Option<i64>, crate::persist::error::PersistError> {
    match req {
        SyncRequest::Append { zxid, bytes } => log.append(zxid, &bytes).map(|()| Some(zxid)),
        SyncRequest::Roll => log.roll().map(|()| None),
    }
}

fn fatal(events: &mpsc::UnboundedSender<SyncEvent>, e: crate::persist::error::PersistError) {
    tracing::error!(error = %e, "txn log write failed; no further writes are acknowledged");
    let _ = events.send(SyncEvent::Fatal(e.to_string()));
}
