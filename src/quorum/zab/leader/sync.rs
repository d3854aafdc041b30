//! Bringing one learner up to date: `LearnerHandler#syncFollower` (the plan is
//! [`crate::quorum::zab::sync_plan::plan_sync`]), `#queueCommittedProposals`'s packets,
//! `Leader#startForwarding`, then NEWLEADER with `Leader#getQuorumVerifierBytes`.
//!
//! Invariant: the packets of a plan, NEWLEADER and the forwarded proposals are queued in
//! one go, so no live PROPOSAL or COMMIT can slip between them.

use std::collections::HashMap;

use bytes::Bytes;
use tracing::{info, warn};

use super::engine::{
    proposal_packet, Action, ConnId, LeaderEngine, LearnerKind, Stage, SyncHistory, SyncKind,
};
use crate::jute::txn::EncodedTxn;
use crate::quorum::zab::make_zxid;
use crate::quorum::zab::packet::{QuorumPacketType as T, ZabMessage};
use crate::quorum::zab::sync_plan::{
    plan_sync, Queued, Source, SyncInput, SyncPlan, TxnLogHistory,
};

impl LeaderEngine {
    /// `LearnerHandler#syncFollower`, NEWLEADER, then `Leader#startForwarding`.
    pub(super) fn sync_learner(&mut self, conn: ConnId, history: &mut dyn SyncHistory) {
        let Some(l) = self.learners.get(&conn) else {
            return;
        };
        let (peer, kind, sid) = (l.peer_last_zxid, l.kind, l.sid.unwrap_or(-1));
        let committed = self.committed_log.zxids();
        let min = committed.first().copied().unwrap_or(self.last_processed);
        let disk = if peer < min {
            history.txn_log_since(peer)
        } else {
            None
        };
        let disk_zxids: Vec<i64> = disk.iter().flatten().map(EncodedTxn::zxid).collect();
        let decision = plan_sync(&SyncInput {
            peer_last_zxid: peer,
            last_processed_zxid: self.last_processed,
            committed_log: &committed,
            force_snap_sync: self.s.force_snap_sync,
            txn_log: match disk {
                Some(_) => TxnLogHistory::Available(&disk_zxids),
                None => TxnLogHistory::Unavailable,
            },
        });
        info!(sid, peer = format_args!("0x{peer:x}"), plan = ?decision.plan, "syncing learner");
        let from_disk: HashMap<i64, &EncodedTxn> =
            disk.iter().flatten().map(|t| (t.zxid(), t)).collect();
        let how = match &decision.plan {
            SyncPlan::InSync { diff_zxid } => {
                self.send(conn, ZabMessage::Diff { zxid: *diff_zxid }.to_packet());
                SyncKind::Diff
            }
            SyncPlan::Diff {
                diff_zxid,
                proposals,
            } => {
                self.send(conn, ZabMessage::Diff { zxid: *diff_zxid }.to_packet());
                self.queue_history(conn, proposals, &from_disk);
                SyncKind::Diff
            }
            SyncPlan::Trunc { trunc_zxid } => {
                self.send(conn, ZabMessage::Trunc { zxid: *trunc_zxid }.to_packet());
                SyncKind::Trunc
            }
            SyncPlan::TruncThenDiff {
                trunc_zxid,
                proposals,
            } => {
                self.send(conn, ZabMessage::Trunc { zxid: *trunc_zxid }.to_packet());
                self.queue_history(conn, proposals, &from_disk);
                SyncKind::Trunc
            }
            SyncPlan::Snap { zxid } => {
                self.out.push(Action::SendSnap { conn, zxid: *zxid });
                SyncKind::Snap
            }
        };
        self.out.push(Action::Synced {
            conn,
            sid,
            kind,
            how,
        });
        let newleader = ZabMessage::NewLeader {
            zxid: make_zxid(self.epoch, 0),
            config: Some(Bytes::from(self.newleader_config().into_bytes())),
        };
        self.send(conn, newleader.to_packet());
        // Outstanding proposals follow NEWLEADER: their COMMITs come later, and a 3.8
        // learner that meets a COMMIT after NEWLEADER with no PROPOSAL after it dies on a
        // NullPointerException (Learner#syncWithLeader, ZOOKEEPER-4394).
        self.start_forwarding(conn, decision.forward_from);
        if let Some(l) = self.learners.get_mut(&conn) {
            l.stage = Stage::AwaitNewLeaderAck;
            l.pinging = true;
        }
    }

    /// `getQuorumVerifierBytes`: the last seen verifier, which `Leader#lead` gives the new
    /// epoch's first zxid as version when the configured one still has version 0 (a no-op
    /// without `reconfigEnabled`).
    pub fn newleader_config(&self) -> String {
        let mut qv = self
            .last_seen
            .clone()
            .unwrap_or_else(|| self.s.verifier.clone());
        if qv.version() == 0 && self.s.reconfig_enabled {
            qv.set_version(make_zxid(self.epoch, 0));
        }
        qv.to_string()
    }

    fn queue_history(
        &mut self,
        conn: ConnId,
        proposals: &[Queued],
        from_disk: &HashMap<i64, &EncodedTxn>,
    ) {
        for q in proposals {
            let data = match q.source {
                Source::CommittedLog => self.committed_log.get(q.zxid).cloned(),
                Source::TxnLog => from_disk.get(&q.zxid).map(|t| t.bytes().clone()),
            };
            let Some(data) = data else {
                warn!(
                    zxid = format_args!("0x{:x}", q.zxid),
                    "planned txn not found"
                );
                continue;
            };
            self.send(conn, proposal_packet(T::PROPOSAL, q.zxid, data));
            self.send(conn, ZabMessage::Commit { zxid: q.zxid }.to_packet());
        }
    }

    /// `Leader#startForwarding`: outstanding proposals above what the sync covered go to a
    /// follower (observers only get INFORMs of later commits).
    fn start_forwarding(&mut self, conn: ConnId, last_seen: i64) {
        let Some(l) = self.learners.get(&conn) else {
            return;
        };
        if l.kind == LearnerKind::Follower && self.last_proposed > last_seen {
            let pending: Vec<(i64, Bytes)> = self
                .outstanding
                .range(last_seen + 1..)
                .map(|(z, p)| (*z, p.txn.bytes().clone()))
                .collect();
            for (zxid, data) in pending {
                self.send(conn, proposal_packet(T::PROPOSAL, zxid, data));
                let tick = self.tick;
                if let Some(l) = self.learners.get_mut(&conn) {
                    l.unacked.insert(zxid, tick);
                }
            }
        }
        if let Some(l) = self.learners.get_mut(&conn) {
            l.forwarding = true;
        }
    }
}
