//! The core's loop: messages in order, plus the two clocks the reference runs on threads of
//! their own — session expiry (`SessionTrackerImpl#run`) and the container / TTL sweep
//! (`ContainerManager`). Both *submit* txns through the same prep → apply path as clients.
//! A snapshot in progress, and a learner's SNAP the leader streams, is serialized in slices
//! when nothing else is waiting, and at least every `MAX_SLICE_GAP` under a steady load.

use std::time::Duration;

use tokio::sync::mpsc;

use super::role::QuorumIn;
use super::snapshots::{Room, SnapshotWork};
use super::{idle_wait, Completion, CoreExit, CoreMsg, CoreState, QuorumInbox, Role};
use crate::jute::txn::TxnEntry;
use crate::pipeline::log_stage::LogEvent;
use crate::pipeline::FatalError;
use crate::tree::EphemeralType;

/// Runs until every sender of `rx` is gone (Ok) or the txn log fails (Err: the server must
/// stop, as the reference exits when its SyncRequestProcessor cannot write).
pub async fn run(
    mut state: CoreState,
    mut rx: mpsc::Receiver<CoreMsg>,
    mut durable: mpsc::UnboundedReceiver<LogEvent>,
) -> Result<(), FatalError> {
    match run_role(&mut state, &mut rx, &mut durable, None).await {
        CoreExit::Fatal(e) => Err(e),
        CoreExit::Shutdown | CoreExit::Reelect(_) | CoreExit::Reconfigured { .. } => {
            state.finish_snapshot().await;
            Ok(())
        }
    }
}

/// The core's loop for one role: client messages, the log's durable reports, the quorum
/// traffic of `inbox`, the timers. Returns when the role ends, the log fails, or every
/// sender of `rx` is gone.
pub async fn run_role(
    state: &mut CoreState,
    rx: &mut mpsc::Receiver<CoreMsg>,
    durable: &mut mpsc::UnboundedReceiver<LogEvent>,
    mut inbox: Option<QuorumInbox>,
) -> CoreExit {
    let container_every = Duration::from_millis(state.config.container_check_interval_ms.max(1));
    let mut container_tick = tokio::time::interval(container_every);
    container_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    container_tick.tick().await;
    let half_tick_every = Duration::from_millis(
        u64::try_from(state.config.tick_time_ms / 2)
            .unwrap_or(1)
            .max(1),
    );
    let mut half_tick = tokio::time::interval(half_tick_every);
    half_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    half_tick.tick().await;
    loop {
        // everything this turn logged goes to the log thread before the loop waits
        state.flush_log();
        state.wake_writers();
        if let Some(reason) = state.reelect.take() {
            return match state.reconfig_vote.take() {
                Some((leader, zxid)) => CoreExit::Reconfigured {
                    leader,
                    zxid,
                    reason,
                },
                None => CoreExit::Reelect(reason),
            };
        }
        let (slice_when_idle, room) = match state.snapshot_work() {
            SnapshotWork::Idle => (false, None),
            SnapshotWork::Ready => (true, None),
            SnapshotWork::Overdue => {
                state.snapshot_slice();
                continue;
            }
            SnapshotWork::Blocked(room) => (false, Some(room)),
        };
        let waiting_for_room = room.is_some();
        let wait = idle_wait(state);
        let leading = matches!(state.role, Role::Leading(_));
        let owns_expiry = state.serving && !matches!(state.role, Role::Following(_));
        // every quorum member expires its own local sessions
        let expires = owns_expiry || (state.serving && state.local_sessions_on());
        // the read-only server changes nothing: no ContainerManager runs there
        let sweeps = owns_expiry && !matches!(state.role, Role::ReadOnly(_));
        tokio::select! {
            biased;
            ev = durable.recv() => match ev {
                Some(LogEvent::Durable { zxid }) => state.durable(zxid),
                Some(LogEvent::Fatal(e)) => return CoreExit::Fatal(FatalError::TxnLog(e)),
                None => {}
            },
            q = QuorumInbox::recv(&mut inbox) => match q {
                QuorumIn::Leader(inc) => state.on_learner_socket(inc),
                QuorumIn::Learner(msg) => state.on_leader_message(msg),
            },
            msg = rx.recv() => match msg {
                Some(msg) => {
                    state.handle(msg);
                    // and what else is queued: the txns of the lot reach the log thread
                    // in one hand-over
                    for _ in 1..DRAIN_MAX {
                        match rx.try_recv() {
                            Ok(msg) => state.handle(msg),
                            Err(_) => break,
                        }
                    }
                }
                None => return CoreExit::Shutdown,
            },
            _ = half_tick.tick(), if leading => state.leader_half_tick(),
            _ = tokio::time::sleep(wait), if expires => state.expire_sessions(),
            _ = container_tick.tick(), if sweeps => state.sweep_containers(),
            () = room_in(room), if waiting_for_room => state.snapshot_slice(),
            // yielding first lets the runtime run other tasks and refill the coop budget
            () = tokio::task::yield_now(), if slice_when_idle => state.snapshot_slice(),
        }
    }
}

/// Most client messages the core handles in one turn of its loop.
const DRAIN_MAX: usize = 64;

/// Resolves once a consumer of the snapshot work has room (or is closed).
async fn room_in(room: Option<Room>) {
    if let Some(room) = room {
        room.wait().await;
    }
}

impl CoreState {
    /// `updateVote` / `updateLearnerType` set `reconfigFlag`: once this role ends the peer
    /// serves under `leader` without an election.
    pub(super) fn set_reconfig_vote(&mut self, leader: i64, zxid: i64) {
        self.reconfig_vote = Some((leader, zxid));
    }

    /// End this role at the next turn of the loop: the peer elects again.
    pub(super) fn reelect(&mut self, reason: &str) {
        if self.reelect.is_none() {
            tracing::warn!("leaving the role: {reason}");
            self.reelect = Some(reason.to_owned());
        }
    }

    /// Every due session is closed by a closeSession txn, as if its client had asked.
    pub(super) fn expire_sessions(&mut self) {
        let now = self.now_ms();
        self.expire_local_sessions(now);
        if matches!(self.role, Role::Following(_)) {
            // the leader alone expires global sessions
            return;
        }
        for session_id in self.sessions.expired(now) {
            // 3.8's line (ZooKeeperServer#expire), which operators alert on
            tracing::info!(
                "Expiring session 0x{session_id:x}, timeout of {}ms exceeded",
                self.sessions.timeout(session_id).unwrap_or(0)
            );
            if matches!(self.role, Role::ReadOnly(_)) {
                // a local session (`LocalSessionTracker`) ends here without a txn
                self.session_closed(session_id);
                continue;
            }
            let txn = self
                .prep_ctx(session_id, 0, &[])
                .prep(&crate::request::Request::CloseSession);
            self.submit_txn(txn, Completion::Expire);
        }
    }

    /// `ContainerManager#getCandidates`: empty containers that once had children (or were
    /// never used for longer than maxNeverUsedIntervalMs), and empty TTL nodes past their TTL.
    fn container_candidates(&self) -> Vec<String> {
        let now = self.now_ms();
        let mut out = Vec::new();
        for path in self.tree.containers() {
            let Some(node) = self.tree.node(&path) else {
                continue;
            };
            if node.num_children() > 0 {
                continue;
            }
            let never_used = self.config.container_max_never_used_interval_ms;
            if node.stat.cversion > 0 || (never_used != 0 && now - node.stat.mtime > never_used) {
                out.push(path);
            }
        }
        for path in self.tree.ttls() {
            let Some(node) = self.tree.node(&path) else {
                continue;
            };
            let owner = node.stat.ephemeral_owner;
            let is_ttl =
                EphemeralType::of(owner, self.tree.options().ephemeral) == EphemeralType::Ttl;
            if node.num_children() > 0 || !is_ttl {
                continue;
            }
            let ttl = EphemeralType::ttl_of(owner);
            if ttl != 0 && now - node.stat.mtime > ttl {
                out.push(path);
            }
        }
        out
    }

    pub(super) fn sweep_containers(&mut self) {
        let per_minute = self.config.container_max_per_minute.max(1);
        let interval = self.config.container_check_interval_ms.max(1);
        // the reference paces deletions at maxPerMinute; one sweep gets its interval's share
        let budget = usize::try_from((per_minute * interval / 60_000).max(1)).unwrap_or(usize::MAX);
        for path in self.container_candidates().into_iter().take(budget) {
            let txn: TxnEntry = self.prep_ctx(0, 0, &[]).delete_container(&path);
            self.submit_txn(txn, Completion::Internal);
        }
    }
}
