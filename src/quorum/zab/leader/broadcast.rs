//! The leader's broadcast phase: `Leader#propose`, `#processAck`, `#tryToCommit`, `#commit`,
//! `#inform`, `LearnerHandler`'s main loop (ACK, PING, REVALIDATE, REQUEST),
//! `Leader#revalidateSession`, and the timers of `Leader#lead`'s loop and
//! `LearnerHandler#ping` / `#synced` / `SyncLimitCheck`.
//!
//! Invariants: a txn commits only when it is the oldest outstanding proposal and its ackers
//! (voters only) form a quorum, so commits are in zxid order; a committed txn enters the
//! committed log (at most `commitLogCount`) and the session table before it is handed out.

use std::collections::BTreeSet;

use bytes::Bytes;
use tracing::{debug, info, warn};

use super::engine::{
    name, proposal_packet, Action, ConnId, LeaderEngine, LearnerKind, Phase, Proposal,
    ProposeError, Stage,
};
use crate::jute::codes::OpCode;
use crate::jute::quorum::QuorumPacket;
use crate::jute::txn::{EncodedTxn, TxnBody, TxnEntry};
use crate::quorum::verifier::{java_hash_order, QuorumVerifier};
use crate::quorum::zab::packet::{QuorumPacketType as T, Sender, ZabMessage};
use crate::quorum::zab::{counter_of, epoch_of};

impl LeaderEngine {
    /// `Leader#propose`: the txn (zxid = last proposed + 1, digest filled in by prep) goes
    /// to every forwarding follower and to the local log.
    pub fn propose(&mut self, txn: TxnEntry) -> Result<Vec<Action>, ProposeError> {
        match self.phase {
            Phase::Broadcast => {}
            Phase::Stopped => return Err(ProposeError::Stopped),
            _ => return Err(ProposeError::NotServing),
        }
        let zxid = txn.header.zxid;
        if counter_of(zxid) == 0xffff_ffff {
            self.step_down(ProposeError::Rollover.to_string());
            return Err(ProposeError::Rollover);
        }
        let expected = self.last_proposed + 1;
        if zxid != expected || epoch_of(zxid) != self.epoch {
            return Err(ProposeError::OutOfOrder {
                expected,
                got: zxid,
            });
        }
        let reconfig = reconfig_config(&txn);
        let txn = EncodedTxn::encode(txn);
        let data = txn.bytes().clone();
        let size = i64::try_from(data.len()).unwrap_or(i64::MAX);
        let (_, min, max) = self.proposal_sizes;
        self.proposal_sizes = (
            size,
            if min < 0 { size } else { min.min(size) },
            max.max(size),
        );
        let packet = proposal_packet(T::PROPOSAL, zxid, data);
        let mut verifiers = vec![self.s.verifier.clone()];
        if let Some(qv) = reconfig {
            self.last_seen = Some(qv.clone());
            self.out.push(Action::LastSeenConfig(qv));
        }
        if let Some(next) = self
            .last_seen
            .as_ref()
            .filter(|n| n.version() > self.s.verifier.version())
        {
            verifiers.push(next.clone());
        }
        self.last_proposed = zxid;
        let tick = self.tick;
        let followers: Vec<ConnId> = self
            .learners
            .iter()
            .filter(|(_, l)| l.forwarding && l.kind == LearnerKind::Follower)
            .map(|(c, _)| *c)
            .collect();
        for conn in followers {
            self.send(conn, packet.clone());
            if let Some(l) = self.learners.get_mut(&conn) {
                l.unacked.insert(zxid, tick);
            }
        }
        self.out.push(Action::Log(txn.clone()));
        self.outstanding.insert(
            zxid,
            Proposal {
                txn,
                acks: BTreeSet::new(),
                verifiers,
            },
        );
        Ok(std::mem::take(&mut self.out))
    }

    /// `Leader#processSync`: a learner's forwarded sync is answered with SYNC once every
    /// proposal made before it has committed (at once when none is outstanding).
    pub fn learner_sync(&mut self, sid: i64) -> Vec<Action> {
        if self.outstanding.is_empty() {
            self.send_sync(sid);
        } else {
            self.pending_syncs.push((self.last_proposed, sid));
        }
        std::mem::take(&mut self.out)
    }

    fn send_sync(&mut self, sid: i64) {
        let conn = self
            .learners
            .iter()
            .find(|(_, l)| l.sid == Some(sid))
            .map(|(c, _)| *c);
        match conn {
            Some(conn) => self.send(conn, ZabMessage::Sync { zxid: 0 }.to_packet()),
            None => debug!(sid, "sync for a learner that is gone"),
        }
    }

    /// `AckRequestProcessor`: the leader acks every proposal its log made durable.
    pub(super) fn on_local_durable(&mut self, zxid: i64) {
        let me = self.s.my_sid;
        for p in self.outstanding.range_mut(..=zxid).map(|(_, p)| p) {
            p.acks.insert(me);
        }
        self.commit_ready();
    }

    /// `LearnerHandler#run`'s loop after the sync.
    pub(super) fn on_broadcast_packet(&mut self, conn: ConnId, p: &QuorumPacket) {
        let deadline = self.tick + self.s.sync_limit;
        let Some(l) = self.learners.get_mut(&conn) else {
            return;
        };
        l.deadline = deadline;
        let sid = l.sid.unwrap_or(-1);
        let kind = l.kind;
        match ZabMessage::parse(p, Sender::Learner) {
            Ok(ZabMessage::Ack { zxid }) => {
                if let Some(l) = self.learners.get_mut(&conn) {
                    l.unacked.retain(|z, _| *z > zxid);
                }
                if kind == LearnerKind::Observer {
                    debug!(sid, "Received ACK from Observer");
                }
                self.process_ack(sid, zxid);
            }
            Ok(ZabMessage::PingReply { touches, .. }) => {
                if !touches.is_empty() {
                    self.out.push(Action::SessionTouches { sid, touches });
                }
            }
            Ok(ZabMessage::Revalidate {
                zxid,
                session_id,
                timeout,
            }) => {
                debug!(sid, session_id, "revalidate");
                self.out.push(Action::Revalidate {
                    conn,
                    sid,
                    zxid,
                    session_id,
                    timeout,
                });
            }
            Ok(ZabMessage::Request(request)) => {
                self.out.push(Action::LearnerRequest { conn, sid, request });
            }
            Ok(_) => warn!(sid, "unexpected quorum packet, type: {}", name(p)),
            Err(e) => {
                // `LearnerHandler` dies on a payload it cannot read
                self.close(conn, format!("bad {} from learner: {e}", name(p)));
            }
        }
    }

    /// `Leader#processAck`.
    fn process_ack(&mut self, sid: i64, zxid: i64) {
        if !self.allowed_to_commit {
            // the last op committed was a leader change: the new leader commits from now on
            return;
        }
        if counter_of(zxid) == 0 || self.outstanding.is_empty() || self.last_committed >= zxid {
            // NEWLEADER / UPTODATE acks, or already committed
            return;
        }
        let Some(p) = self.outstanding.get_mut(&zxid) else {
            warn!(sid, "Trying to commit future proposal: zxid 0x{zxid:x}");
            return;
        };
        p.acks.insert(sid);
        self.commit_ready();
    }

    /// `Leader#tryToCommit` for every proposal that can go, oldest first; none once a
    /// reconfig designated another leader.
    fn commit_ready(&mut self) {
        while self.allowed_to_commit {
            let Some(entry) = self.outstanding.first_entry() else {
                break;
            };
            if !entry.get().has_all_quorums() {
                break;
            }
            let zxid = *entry.key();
            let p = entry.remove();
            if zxid != self.last_committed + 1 {
                warn!(
                    "Commiting zxid 0x{zxid:x} but the last committed was 0x{:x}",
                    self.last_committed
                );
            }
            self.commit(zxid, p);
        }
    }

    fn commit(&mut self, zxid: i64, p: Proposal) {
        self.last_committed = zxid;
        self.last_processed = zxid;
        let (commit, inform) = match reconfig_config(p.txn.txn()) {
            Some(qv) => self.activate(zxid, &p, qv),
            None => (
                ZabMessage::Commit { zxid }.to_packet(),
                proposal_packet(T::INFORM, zxid, p.txn.bytes().clone()),
            ),
        };
        let targets: Vec<(ConnId, LearnerKind)> = self
            .learners
            .iter()
            .filter(|(_, l)| l.forwarding)
            .map(|(c, l)| (*c, l.kind))
            .collect();
        for (conn, kind) in targets {
            match kind {
                LearnerKind::Follower => self.send(conn, commit.clone()),
                LearnerKind::Observer => self.send(conn, inform.clone()),
            }
        }
        let txn = p.txn.txn();
        match (&txn.header.op, &txn.body) {
            (&OpCode::CREATE_SESSION, TxnBody::CreateSession(t)) => {
                self.sessions.insert(txn.header.client_id, t.time_out);
            }
            (&OpCode::CLOSE_SESSION, _) => {
                self.sessions.remove(&txn.header.client_id);
            }
            _ => {}
        }
        self.committed_log.push(zxid, p.txn.bytes().clone());
        self.out.push(Action::Commit(p.txn.into_txn()));
        let (due, later): (Vec<_>, Vec<_>) =
            self.pending_syncs.drain(..).partition(|(z, _)| *z <= zxid);
        self.pending_syncs = later;
        for (_, sid) in due {
            self.send_sync(sid);
        }
    }

    /// `Leader#lead`'s loop body: a tick every other call, the phase timeouts of the
    /// handshake, learners silent past their deadline dropped, the synced-quorum check, then
    /// `LearnerHandler#ping` for each learner.
    pub(super) fn on_half_tick(&mut self) {
        let full = !self.tick_skip;
        if full {
            self.tick += 1;
        }
        self.tick_skip = !self.tick_skip;
        if full && self.phase != Phase::Broadcast && self.tick > self.phase_deadline {
            let why = match self.phase {
                Phase::Discovery => "Timeout while waiting for epoch from quorum",
                Phase::EpochAck => "Timeout while waiting for epoch to be acked by quorum",
                _ => "Waiting for a quorum of followers, only synced with sids",
            };
            return self.step_down(why.to_owned());
        }
        let tick = self.tick;
        let silent: Vec<ConnId> = self
            .learners
            .iter()
            .filter(|(_, l)| tick > l.deadline)
            .map(|(c, _)| *c)
            .collect();
        for conn in silent {
            self.close(conn, "learner not heard from in time".to_owned());
        }
        if full && self.phase == Phase::Broadcast {
            // `SyncedLearnerTracker` over the committed config and a pending one
            let mut synced: BTreeSet<i64> = self.learners.values().filter_map(|l| l.sid).collect();
            synced.insert(self.s.my_sid);
            let quorum_of = |qv: &QuorumVerifier| {
                let voters: BTreeSet<i64> =
                    synced.iter().copied().filter(|s| qv.is_voter(*s)).collect();
                qv.contains_quorum(&voters)
            };
            let all =
                quorum_of(&self.s.verifier) && self.last_seen.as_ref().map_or(true, quorum_of);
            if !all {
                let synced: BTreeSet<i64> = synced
                    .into_iter()
                    .filter(|s| self.is_participant(*s))
                    .collect();
                let sids: Vec<String> = synced.iter().map(i64::to_string).collect();
                let why = format!(
                    "Not sufficient followers synced, only synced with sids: [ {} ]",
                    sids.join(",")
                );
                return self.step_down(why);
            }
        }
        self.ping_learners();
    }

    fn ping_learners(&mut self) {
        let ping = ZabMessage::Ping {
            zxid: self.last_proposed,
        }
        .to_packet();
        let limit = self.s.sync_limit;
        let tick = self.tick;
        let learners: Vec<(ConnId, bool)> = self
            .learners
            .iter()
            .filter(|(_, l)| l.pinging)
            .map(|(c, l)| {
                let late = l.unacked.values().next().is_some_and(|t| t + limit < tick);
                (*c, late)
            })
            .collect();
        for (conn, late) in learners {
            if late {
                self.close(
                    conn,
                    "Closing connection to peer due to transaction timeout.".to_owned(),
                );
            } else {
                self.send(conn, ping.clone());
            }
        }
    }

    /// Learners that completed the sync (UPTODATE sent), by sid.
    pub fn synced_learners(&self) -> Vec<(i64, LearnerKind)> {
        self.learners
            .values()
            .filter(|l| l.stage == Stage::Active)
            .filter_map(|l| l.sid.map(|s| (s, l.kind)))
            .collect()
    }

    /// Learner connections that said who they are: (conn, sid, kind, in
    /// `forwardingFollowers` / `observingLearners`).
    pub fn learner_handlers(&self) -> Vec<(ConnId, i64, LearnerKind, bool)> {
        self.learners
            .iter()
            .filter_map(|(conn, l)| l.sid.map(|s| (*conn, s, l.kind, l.forwarding)))
            .collect()
    }

    /// Whether `conn`'s NEWLEADER was acked: `LearnerHandler#run`'s main loop, which counts
    /// the packets it reads, starts there.
    pub fn in_main_loop(&self, conn: ConnId) -> bool {
        self.learners
            .get(&conn)
            .is_some_and(|l| matches!(l.stage, Stage::AwaitServing | Stage::Active))
    }
}

impl LeaderEngine {
    /// The reconfig half of `Leader#tryToCommit`: `getDesignatedLeader`, `processReconfig`
    /// (as an action, before the txn's commit), `allowedToCommit`, and the packets that
    /// carry the commit: COMMITANDACTIVATE for followers, INFORMANDACTIVATE for observers.
    fn activate(
        &mut self,
        zxid: i64,
        p: &Proposal,
        qv: QuorumVerifier,
    ) -> (QuorumPacket, QuorumPacket) {
        let me = self.s.my_sid;
        let designated = self.designated_leader(&qv, p.ackset(&qv), zxid);
        self.out.push(Action::Activate {
            config: qv.clone(),
            designated_leader: designated,
            zxid,
        });
        if self
            .last_seen
            .as_ref()
            .is_some_and(|ls| ls.version() <= qv.version())
        {
            self.last_seen = None;
        }
        self.s.verifier = qv;
        if designated != me {
            info!(
                "Committing a reconfiguration (reconfigEnabled=true); this leader is not the \
                 designated leader anymore, setting allowedToCommit=false"
            );
            self.allowed_to_commit = false;
        }
        let commit = ZabMessage::CommitAndActivate {
            zxid,
            suggested_leader_id: designated,
        }
        .to_packet();
        let mut data = Vec::with_capacity(8 + p.txn.bytes().len());
        data.extend_from_slice(&designated.to_be_bytes());
        data.extend_from_slice(p.txn.bytes());
        let inform = proposal_packet(T::INFORMANDACTIVATE, zxid, Bytes::from(data));
        (commit, inform)
    }

    /// `Leader#getDesignatedLeader`: us if we vote in the new config at the same quorum
    /// address; otherwise, of the new config's voters that acked the reconfig, the one that
    /// also acked the most of the proposals after it. `candidates`: the new config's voters
    /// that acked.
    pub(super) fn designated_leader(
        &self,
        new: &QuorumVerifier,
        mut candidates: BTreeSet<i64>,
        zxid: i64,
    ) -> i64 {
        let me = self.s.my_sid;
        let quorum_addr = |qv: &QuorumVerifier| {
            qv.all_members().get(&me).map(|s| {
                s.addresses
                    .iter()
                    .map(|a| (a.host.clone(), a.quorum_port))
                    .collect::<Vec<_>>()
            })
        };
        if new.is_voter(me) && quorum_addr(new) == quorum_addr(&self.s.verifier) {
            return me;
        }
        candidates.remove(&me);
        // `HashSet#iterator().next()`
        let first = |c: &BTreeSet<i64>| java_hash_order(c.iter().copied()).first().copied();
        let Some(mut current) = first(&candidates) else {
            warn!("no voter of the new config acked the reconfig but us");
            return me;
        };
        let mut next = zxid + 1;
        while let Some(later) = self.outstanding.get(&next) {
            for qv in &later.verifiers {
                let acked = later.ackset(qv);
                candidates.retain(|c| acked.contains(c));
                let Some(c) = first(&candidates) else {
                    return current;
                };
                current = c;
                if candidates.len() == 1 {
                    return current;
                }
            }
            next += 1;
        }
        current
    }
}

/// The config a reconfig txn carries (a SetDataTxn on `/zookeeper/config`).
pub(super) fn reconfig_config(txn: &TxnEntry) -> Option<QuorumVerifier> {
    if txn.header.op != OpCode::RECONFIG {
        return None;
    }
    let TxnBody::SetData(t) = &txn.body else {
        return None;
    };
    let text = String::from_utf8_lossy(t.data.as_deref().unwrap_or_default());
    match QuorumVerifier::from_config_str(&text) {
        Ok(qv) => Some(qv),
        Err(e) => {
            warn!("a reconfig txn carries a config that does not parse: {e}");
            None
        }
    }
}
