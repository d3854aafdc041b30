//! Runs the [`LeaderEngine`] over tokio: `Leader.LearnerCnxAcceptor` (the quorum port),
//! `LearnerHandler`'s reader and sender threads (one reader and one writer task per
//! learner), `SyncRequestProcessor` (a txn-log thread that batches appends and fsyncs, then
//! reports the leader's own ACK) and `Leader#lead`'s tickTime/2 loop.
//!
//! Invariants: only the main task touches the engine, the tree and the epoch files, and it
//! carries out each event's actions in order before the next event, so a SNAP serializes the
//! tree at exactly the zxid the engine planned; every task and the log thread end when the
//! leader does.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::db::{DiskHistory, LeaderDb};
use super::engine::{
    Action, ConnId, Event, LeaderEngine, LeaderSettings, LearnerKind, ProposeError, SyncKind,
};
use super::net::{accept_loop, bind_quorum_port, Incoming, Outgoing};
use crate::jute::txn::TxnEntry;
use crate::persist::epoch::{write_epoch, ACCEPTED_EPOCH_FILENAME, CURRENT_EPOCH_FILENAME};
use crate::persist::txnlog::{TxnLog, TxnLogOptions};
use crate::quorum::zab::packet::{LearnerRequest, SessionTouch};
use crate::quorum::zab::stream::write_snap_payload;
use crate::tree::DataTree;

/// How to lead.
#[derive(Debug, Clone)]
pub struct LeaderConfig {
    pub settings: LeaderSettings,
    pub tick_time: Duration,
    /// Our `server.N` quorum address.
    pub quorum_addr: SocketAddr,
    /// `quorumListenOnAllIPs`.
    pub listen_on_all_ips: bool,
    pub snap_dir: PathBuf,
    pub log_dir: PathBuf,
    pub snapshot_size_factor: f64,
    pub txn_log: TxnLogOptions,
}

/// What the leader reports to the rest of the server.
#[derive(Debug, Clone)]
pub enum LeaderEvent {
    /// A quorum acked NEWLEADER; proposals start at `zxid + 1`.
    Serving {
        zxid: i64,
    },
    /// Applied to the local tree.
    Committed(TxnEntry),
    /// A client write a learner forwarded (`LearnerHandler`: REQUEST).
    Request {
        sid: i64,
        request: LearnerRequest,
    },
    /// Session touches from a learner's PING reply.
    SessionTouches {
        sid: i64,
        touches: Vec<SessionTouch>,
    },
    /// A learner was brought up to date this way (its NEWLEADER is queued).
    LearnerSynced {
        sid: i64,
        kind: LearnerKind,
        how: SyncKind,
    },
    LearnerLost {
        sid: Option<i64>,
        reason: String,
    },
}

/// Why leading ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaderExit {
    /// Lost the quorum or a handshake timed out: re-elect.
    SteppedDown(String),
    Cancelled,
    /// Local storage failed.
    Failed(String),
}

enum Command {
    Propose(TxnEntry, oneshot::Sender<Result<(), ProposeError>>),
    SetSession(i64, Option<i32>),
}

/// The API the pipeline calls.
#[derive(Clone)]
pub struct LeaderHandle {
    cmd: mpsc::UnboundedSender<Command>,
}

impl LeaderHandle {
    /// Propose a prepped txn (its zxid must be the next one, its digest the tree's after it).
    pub async fn propose(&self, txn: TxnEntry) -> Result<(), ProposeError> {
        let (tx, rx) = oneshot::channel();
        self.cmd
            .send(Command::Propose(txn, tx))
            .map_err(|_| ProposeError::Stopped)?;
        rx.await.map_err(|_| ProposeError::Stopped)?
    }

    /// Tell the leader a session exists (`Some(timeout)`) or is gone, for REVALIDATE.
    pub fn set_session(&self, session_id: i64, timeout: Option<i32>) {
        let _ = self.cmd.send(Command::SetSession(session_id, timeout));
    }
}

pub struct RunningLeader {
    pub handle: LeaderHandle,
    pub events: mpsc::UnboundedReceiver<LeaderEvent>,
    /// The bound quorum address.
    pub local_addr: SocketAddr,
    pub task: JoinHandle<LeaderExit>,
}

struct Conn {
    tx: mpsc::UnboundedSender<Outgoing>,
    reader: JoinHandle<()>,
}

/// Bind the quorum port and start leading with `db` (the peer just won an election).
pub async fn start_leader(
    cfg: LeaderConfig,
    db: LeaderDb,
    cancel: CancellationToken,
) -> std::io::Result<RunningLeader> {
    let listener = bind_quorum_port(cfg.quorum_addr, cfg.listen_on_all_ips).await?;
    let local_addr = listener.local_addr()?;
    info!(%local_addr, "leader listening on the quorum port");
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (ev_tx, ev_rx) = mpsc::unbounded_channel();
    let (in_tx, in_rx) = mpsc::unbounded_channel();
    let acceptor = tokio::spawn(accept_loop(listener, in_tx));
    let (log_tx, durable_rx, log_thread) =
        spawn_log_thread(cfg.log_dir.clone(), cfg.txn_log.clone());
    let (engine, first) = LeaderEngine::new(cfg.settings.clone(), db.start());
    let main = Main {
        history: DiskHistory {
            snap_dir: cfg.snap_dir.clone(),
            log_dir: cfg.log_dir.clone(),
            snapshot_size_factor: cfg.snapshot_size_factor,
        },
        cfg,
        engine,
        tree: db.tree,
        conns: HashMap::new(),
        events: ev_tx,
        log_tx: Some(log_tx),
    };
    let task = tokio::spawn(async move {
        let exit = main.run(first, in_rx, cmd_rx, durable_rx, cancel).await;
        acceptor.abort();
        let _ = tokio::task::spawn_blocking(move || log_thread.join()).await;
        info!(?exit, "leader stopped");
        exit
    });
    Ok(RunningLeader {
        handle: LeaderHandle { cmd: cmd_tx },
        events: ev_rx,
        local_addr,
        task,
    })
}

type LogThread = std::thread::JoinHandle<()>;
/// Appends to the log thread: (zxid, txn bytes).
type LogSender = std::sync::mpsc::Sender<(i64, Vec<u8>)>;
/// Its reports: durable up to zxid, or why it stopped.
type DurableReceiver = mpsc::UnboundedReceiver<Result<i64, String>>;

/// `SyncRequestProcessor`: appends in arrival order, one fsync per batch.
fn spawn_log_thread(dir: PathBuf, opts: TxnLogOptions) -> (LogSender, DurableReceiver, LogThread) {
    let (tx, rx) = std::sync::mpsc::channel::<(i64, Vec<u8>)>();
    let (done_tx, done_rx) = mpsc::unbounded_channel();
    let thread = std::thread::spawn(move || {
        let mut log = match TxnLog::open(&dir, opts) {
            Ok(l) => l,
            Err(e) => {
                let _ = done_tx.send(Err(e.to_string()));
                return;
            }
        };
        while let Ok(first) = rx.recv() {
            let mut last = first.0;
            let mut result = log.append(first.0, &first.1);
            while let Ok((zxid, bytes)) = rx.try_recv() {
                last = zxid;
                result = result.and_then(|()| log.append(zxid, &bytes));
            }
            let result = result.and_then(|()| log.commit().map(|_| ()));
            let report = result.map(|()| last).map_err(|e| e.to_string());
            let failed = report.is_err();
            if done_tx.send(report).is_err() || failed {
                return;
            }
        }
        let _ = log.close();
    });
    (tx, done_rx, thread)
}

struct Main {
    cfg: LeaderConfig,
    engine: LeaderEngine,
    tree: DataTree,
    history: DiskHistory,
    conns: HashMap<ConnId, Conn>,
    events: mpsc::UnboundedSender<LeaderEvent>,
    log_tx: Option<LogSender>,
}

impl Main {
    async fn run(
        mut self,
        first: Vec<Action>,
        mut inbox: mpsc::UnboundedReceiver<Incoming>,
        mut cmds: mpsc::UnboundedReceiver<Command>,
        mut durable: DurableReceiver,
        cancel: CancellationToken,
    ) -> LeaderExit {
        let exit = self
            .run_inner(first, &mut inbox, &mut cmds, &mut durable, &cancel)
            .await;
        self.log_tx = None;
        for (_, c) in self.conns.drain() {
            c.reader.abort();
        }
        exit
    }

    async fn run_inner(
        &mut self,
        first: Vec<Action>,
        inbox: &mut mpsc::UnboundedReceiver<Incoming>,
        cmds: &mut mpsc::UnboundedReceiver<Command>,
        durable: &mut DurableReceiver,
        cancel: &CancellationToken,
    ) -> LeaderExit {
        if let Some(exit) = self.perform(first) {
            return exit;
        }
        let mut ticker = tokio::time::interval(self.cfg.tick_time / 2);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            let actions = tokio::select! {
                _ = cancel.cancelled() => return LeaderExit::Cancelled,
                Some(inc) = inbox.recv() => self.on_incoming(inc),
                Some(cmd) = cmds.recv() => self.on_command(cmd),
                Some(done) = durable.recv() => match done {
                    Ok(zxid) => self.engine.handle(Event::LocalDurable(zxid), &mut self.history),
                    Err(e) => return LeaderExit::Failed(format!("txn log: {e}")),
                },
                _ = ticker.tick() => self.engine.handle(Event::HalfTick, &mut self.history),
            };
            if let Some(exit) = self.perform(actions) {
                return exit;
            }
        }
    }

    fn on_incoming(&mut self, inc: Incoming) -> Vec<Action> {
        match inc {
            Incoming::Accepted(conn, tx, reader) => {
                self.conns.insert(conn, Conn { tx, reader });
                self.engine
                    .handle(Event::Connected(conn), &mut self.history)
            }
            Incoming::Packet(conn, p) => self
                .engine
                .handle(Event::Packet(conn, p), &mut self.history),
            Incoming::Closed(conn) => {
                self.conns.remove(&conn);
                self.engine
                    .handle(Event::Disconnected(conn), &mut self.history)
            }
        }
    }

    fn on_command(&mut self, cmd: Command) -> Vec<Action> {
        match cmd {
            Command::Propose(txn, reply) => match self.engine.propose(txn) {
                Ok(actions) => {
                    let _ = reply.send(Ok(()));
                    actions
                }
                Err(e) => {
                    let _ = reply.send(Err(e));
                    // a rollover steps down: its actions are still to be carried out
                    self.engine.take_actions()
                }
            },
            Command::SetSession(id, timeout) => {
                self.engine.set_session(id, timeout);
                Vec::new()
            }
        }
    }

    fn send(&self, conn: ConnId, out: Outgoing) {
        if let Some(c) = self.conns.get(&conn) {
            let _ = c.tx.send(out);
        }
    }

    fn emit(&self, e: LeaderEvent) {
        let _ = self.events.send(e);
    }

    /// Carry out actions in order; Some when leading is over.
    fn perform(&mut self, actions: Vec<Action>) -> Option<LeaderExit> {
        for action in actions {
            match action {
                Action::Send { conn, packet } => self.send(conn, Outgoing::Packet(packet)),
                Action::SendSnap { conn, zxid } => self.send_snap(conn, zxid),
                Action::Close { conn, sid, reason } => {
                    if let Some(c) = self.conns.remove(&conn) {
                        c.reader.abort();
                    }
                    self.emit(LeaderEvent::LearnerLost { sid, reason });
                }
                Action::LearnerLost { sid, .. } => self.emit(LeaderEvent::LearnerLost {
                    sid,
                    reason: "connection closed".to_owned(),
                }),
                Action::Synced { sid, kind, how, .. } => {
                    self.emit(LeaderEvent::LearnerSynced { sid, kind, how })
                }
                Action::PersistAcceptedEpoch(e) => {
                    if let Err(err) = write_epoch(&self.cfg.snap_dir, ACCEPTED_EPOCH_FILENAME, e) {
                        return Some(LeaderExit::Failed(err.to_string()));
                    }
                }
                Action::PersistCurrentEpoch(e) => {
                    if let Err(err) = write_epoch(&self.cfg.snap_dir, CURRENT_EPOCH_FILENAME, e) {
                        return Some(LeaderExit::Failed(err.to_string()));
                    }
                }
                Action::StartServing { zxid } => {
                    self.tree.set_last_processed_zxid(zxid);
                    self.emit(LeaderEvent::Serving { zxid });
                }
                Action::Log(txn) => {
                    let sent = self
                        .log_tx
                        .as_ref()
                        .is_some_and(|tx| tx.send((txn.header.zxid, txn.to_vec())).is_ok());
                    if !sent {
                        return Some(LeaderExit::Failed("txn log thread gone".to_owned()));
                    }
                }
                Action::Commit(txn) => {
                    self.tree.apply(&txn);
                    if !self.tree.digest_matches(&txn) {
                        warn!(
                            zxid = format_args!("0x{:x}", txn.header.zxid),
                            "digest mismatch"
                        );
                    }
                    self.emit(LeaderEvent::Committed(txn));
                }
                Action::LearnerRequest { sid, request } => {
                    self.emit(LeaderEvent::Request { sid, request })
                }
                Action::SessionTouches { sid, touches } => {
                    self.emit(LeaderEvent::SessionTouches { sid, touches })
                }
                Action::StepDown { reason } => return Some(LeaderExit::SteppedDown(reason)),
            }
        }
        None
    }

    /// `LearnerHandler#run`: SNAP, `ZKDatabase#serializeSnapshot`, "BenWasHere".
    fn send_snap(&self, conn: ConnId, zxid: i64) {
        if self.tree.last_processed_zxid() != zxid {
            warn!(
                "SNAP at 0x{zxid:x} but the tree is at 0x{:x}",
                self.tree.last_processed_zxid()
            );
        }
        let mut payload = Vec::new();
        if let Err(e) = write_snap_payload(&self.tree, &self.engine.sessions(), &mut payload) {
            warn!("serializing the snapshot for a learner: {e}");
            return;
        }
        let snap = crate::quorum::zab::packet::ZabMessage::Snap { zxid }.to_packet();
        self.send(conn, Outgoing::Packet(snap));
        self.send(conn, Outgoing::Raw(Bytes::from(payload)));
    }
}
