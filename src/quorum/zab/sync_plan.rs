//! How a leader brings a learner up to date: `LearnerHandler#syncFollower` and
//! `#queueCommittedProposals` of 3.8.0, plus the txn-log gate of
//! `ZKDatabase#getProposalsFromTxnLog` / `#calculateTxnLogSizeLimit`, as pure functions.
//!
//! The leader keeps the last `zookeeper.commitLogCount` (default 500) committed proposals in
//! memory (`ZKDatabase#committedLog`, window [minCommittedLog, maxCommittedLog]); older
//! history is on disk. The plan is one of: an empty DIFF (already in sync); DIFF + committed
//! proposals; TRUNC; TRUNC + proposals; SNAP. After it the leader forwards every proposal
//! above [`SyncDecision::forward_from`] (`LearnerMaster#startForwarding`).
//!
//! Invariants: proposals come out in ascending zxid order, each once, each > the learner's
//! zxid (or > the TRUNC point); a TRUNC never crosses an epoch boundary (that is a SNAP);
//! the inputs are zxids only, so the caller decides where the bytes come from.

use super::{counter_of, epoch_of};

pub use crate::persist::committed::DEFAULT_COMMIT_LOG_COUNT;
/// `zookeeper.snapshotSizeFactor` default.
pub const DEFAULT_SNAPSHOT_SIZE_FACTOR: f64 = 0.33;

/// The on-disk history the leader could use, as `getProposalsFromTxnLog` found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnLogHistory<'a> {
    /// `snapshotSizeFactor` < 0: on-disk sync is off (`ZKDatabase#isTxnLogSyncEnabled`).
    Disabled,
    /// No usable iterator ([`txn_log_usable`] said no, or the log could not be read).
    Unavailable,
    /// The zxids the txn-log iterator yields, ascending, starting with the first record of
    /// the log file that holds the learner's zxid.
    Available(&'a [i64]),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncInput<'a> {
    /// The learner's last logged zxid (its ACKEPOCH zxid).
    pub peer_last_zxid: i64,
    /// The leader's `ZKDatabase#getDataTreeLastProcessedZxid`.
    pub last_processed_zxid: i64,
    /// Zxids of `ZKDatabase#committedLog`, ascending; its ends are min/maxCommittedLog.
    pub committed_log: &'a [i64],
    /// `LearnerHandler.forceSnapSync` (`zookeeper.forceSnapshotSync`, tests only).
    pub force_snap_sync: bool,
    pub txn_log: TxnLogHistory<'a>,
}

/// Where the bytes of a queued proposal come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    TxnLog,
    CommittedLog,
}

/// A PROPOSAL + COMMIT pair to queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Queued {
    pub zxid: i64,
    pub source: Source,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncPlan {
    /// An empty DIFF at the learner's own zxid: nothing to send.
    InSync { diff_zxid: i64 },
    /// DIFF (zxid = maxCommittedLog, as Zab 1.0 wants), then the proposals.
    Diff {
        diff_zxid: i64,
        proposals: Vec<Queued>,
    },
    /// The learner has txns the leader never committed: cut them off, nothing else.
    Trunc { trunc_zxid: i64 },
    /// Cut back to a zxid both have, then the proposals after it.
    TruncThenDiff {
        trunc_zxid: i64,
        proposals: Vec<Queued>,
    },
    /// SNAP at the leader's last processed zxid, payload and all.
    Snap { zxid: i64 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncDecision {
    pub plan: SyncPlan,
    /// The last zxid the plan covers; live proposals above it are forwarded.
    pub forward_from: i64,
}

/// `(peerLastZxid & 0xffffffff) == 0`: a zxid no txn has, which the learner got from a DIFF
/// or SNAP of a new epoch, so the leader will not find it in its history.
fn is_new_epoch_zxid(zxid: i64) -> bool {
    counter_of(zxid) == 0
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Diff(i64),
    Trunc(i64),
}

/// The packets queued so far (`LearnerHandler.needOpPacket` is `op.is_none()`).
#[derive(Default)]
struct Queue {
    op: Option<Op>,
    proposals: Vec<Queued>,
}

impl Queue {
    /// `LearnerHandler#queueCommittedProposals`: queue (peer, max_zxid] from `zxids`;
    /// returns the last zxid queued (the peer's when nothing was).
    fn committed(
        &mut self,
        zxids: &[i64],
        source: Source,
        peer: i64,
        max_zxid: Option<i64>,
        last_committed: i64,
    ) -> i64 {
        let new_epoch_peer = is_new_epoch_zxid(peer);
        let mut queued = peer;
        let mut prev = -1;
        for &zxid in zxids {
            if max_zxid.is_some_and(|m| zxid > m) {
                break;
            }
            if zxid < peer {
                prev = zxid;
                continue;
            }
            if self.op.is_none() {
                if zxid == peer {
                    self.op = Some(Op::Diff(last_committed));
                    continue;
                }
                if new_epoch_peer {
                    self.op = Some(Op::Diff(last_committed));
                } else {
                    // zxid > peer: the learner has txns we never saw (an old leader)
                    if epoch_of(zxid) != epoch_of(peer) {
                        // a TRUNC across epochs would crash the learner: leave it to SNAP
                        return queued;
                    }
                    self.op = Some(Op::Trunc(prev));
                }
            }
            if zxid <= queued {
                continue;
            }
            self.proposals.push(Queued { zxid, source });
            queued = zxid;
        }
        if self.op.is_none() && new_epoch_peer {
            self.op = Some(Op::Diff(last_committed));
        }
        queued
    }
}

fn snap(input: &SyncInput<'_>) -> SyncDecision {
    SyncDecision {
        plan: SyncPlan::Snap {
            zxid: input.last_processed_zxid,
        },
        forward_from: input.last_processed_zxid,
    }
}

/// `LearnerHandler#syncFollower`.
pub fn plan_sync(input: &SyncInput<'_>) -> SyncDecision {
    let peer = input.peer_last_zxid;
    let last = input.last_processed_zxid;
    // An empty committedLog is treated as the window [last, last].
    let (min, max) = match (input.committed_log.first(), input.committed_log.last()) {
        (Some(&min), Some(&max)) => (min, max),
        _ => (last, last),
    };
    if input.force_snap_sync {
        tracing::warn!("forcing snapshot sync");
        return snap(input);
    }
    if last == peer {
        return SyncDecision {
            plan: SyncPlan::InSync { diff_zxid: peer },
            forward_from: peer,
        };
    }
    if peer > max && !is_new_epoch_zxid(peer) {
        return SyncDecision {
            plan: SyncPlan::Trunc { trunc_zxid: max },
            forward_from: max,
        };
    }
    let mut q = Queue::default();
    let current;
    if min <= peer && peer <= max {
        current = q.committed(input.committed_log, Source::CommittedLog, peer, None, max);
    } else if peer < min {
        let TxnLogHistory::Available(on_disk) = input.txn_log else {
            return snap(input);
        };
        if on_disk.is_empty() {
            return snap(input);
        }
        let from_disk = q.committed(on_disk, Source::TxnLog, peer, Some(min), max);
        if from_disk < min {
            tracing::info!(
                "gap between the end of the txn log 0x{from_disk:x} and the committed log 0x{min:x}"
            );
            return snap(input);
        }
        current = q.committed(
            input.committed_log,
            Source::CommittedLog,
            from_disk,
            None,
            max,
        );
    } else {
        tracing::warn!(
            "unhandled sync scenario: peer 0x{peer:x}, committed log [0x{min:x}, 0x{max:x}]"
        );
        return snap(input);
    }
    let plan = match q.op {
        // `syncFollower`'s last resort: no op packet means the history did not fit
        None => return snap(input),
        Some(Op::Diff(diff_zxid)) => SyncPlan::Diff {
            diff_zxid,
            proposals: q.proposals,
        },
        Some(Op::Trunc(trunc_zxid)) => SyncPlan::TruncThenDiff {
            trunc_zxid,
            proposals: q.proposals,
        },
    };
    SyncDecision {
        plan,
        forward_from: current,
    }
}

/// `ZKDatabase#calculateTxnLogSizeLimit`: the newest snapshot's size × snapshotSizeFactor,
/// truncated like Java's `(long)` cast. 0 (no snapshot) means no limit.
pub fn txn_log_size_limit(snapshot_size: u64, snapshot_size_factor: f64) -> i64 {
    (snapshot_size as f64 * snapshot_size_factor) as i64
}

/// `ZKDatabase#getProposalsFromTxnLog`'s gate: may the leader sync `peer` from its txn log?
/// `first_zxid` is the first txn the log iterator would yield (None: no log), and
/// `storage_size` the summed size of the log files it would read (`getStorageSize`).
pub fn txn_log_usable(
    first_zxid: Option<i64>,
    peer: i64,
    storage_size: u64,
    size_limit: i64,
) -> bool {
    if size_limit < 0 {
        return false;
    }
    let Some(first) = first_zxid else {
        return false;
    };
    if first > peer {
        // cannot prove the log holds the txn right after the peer's
        return false;
    }
    let too_big = size_limit > 0 && i64::try_from(storage_size).map_or(true, |s| s > size_limit);
    !too_big
}

#[cfg(test)]
#[path = "sync_plan_tests.rs"]
mod tests;
