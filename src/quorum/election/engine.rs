//! A sans-IO `FastLeaderElection`: `lookForLeader`'s loop and the `WorkerReceiver`'s replies
//! as a state machine. Messages and timeouts go in; [`Action`]s come out (send to a sid —
//! our own sid included, which the connection manager loops back as `QuorumCnxManager#toSend`
//! does — set the single timer, reconnect, decide).
//!
//! Invariants: the rules are 3.8's — round (`logicalclock`) handling, `totalOrderPredicate`
//! (weight 0 never wins), the 200 ms `finalizeWait` re-armed by every non-better notification,
//! the notification back-off doubling up to `maxNotificationInterval`, `recvset` /
//! `outofelection` with `checkLeader` for peers already out of election, and config versions
//! carried in notifications.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use tracing::{debug, info, warn};

use super::vote::{Candidate, ServerState, Vote};
use super::wire::{NotificationMsg, CURRENT_VERSION};
use crate::config::LearnerType;
use crate::quorum::verifier::QuorumVerifier;

/// `FastLeaderElection.finalizeWait`.
pub const FINALIZE_WAIT: Duration = Duration::from_millis(200);
/// Default `zookeeper.fastleader.maxNotificationInterval`.
pub const MAX_NOTIFICATION_INTERVAL: Duration = Duration::from_millis(60_000);
/// `QuorumCnxManager.RECV_CAPACITY`: notifications kept while no election runs.
const RECV_CAPACITY: usize = 100;

/// What the engine needs to know about this peer.
#[derive(Debug, Clone)]
pub struct ElectionConfig {
    pub my_id: i64,
    /// `peerType`: observers never vote for themselves and end OBSERVING.
    pub learner_type: LearnerType,
    /// The committed quorum config.
    pub verifier: QuorumVerifier,
    /// A newer proposed config (reconfig in flight), if any.
    pub last_seen: Option<QuorumVerifier>,
    /// `zookeeper.fastleader.minNotificationInterval` (default `finalizeWait`).
    pub min_notification_interval: Duration,
    pub max_notification_interval: Duration,
    /// For the initial current vote (`QuorumPeer#startLeaderElection`).
    pub last_logged_zxid: i64,
    pub current_epoch: i64,
}

impl ElectionConfig {
    /// Defaults of 3.8 for the intervals.
    pub fn new(my_id: i64, learner_type: LearnerType, verifier: QuorumVerifier) -> Self {
        ElectionConfig {
            my_id,
            learner_type,
            verifier,
            last_seen: None,
            min_notification_interval: FINALIZE_WAIT,
            max_notification_interval: MAX_NOTIFICATION_INTERVAL,
            last_logged_zxid: 0,
            current_epoch: 0,
        }
    }
}

/// What the engine asks its driver to do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Queue this notification for `to` (loop it back when `to` is our own sid).
    Send { to: i64, msg: NotificationMsg },
    /// (Re)arm the single timer; call [`FastLeaderElection::on_timeout`] when it fires.
    SetTimer(Duration),
    /// Nothing was delivered since the last round: dial every peer again
    /// (`QuorumCnxManager#connectAll`).
    ConnectAll,
    /// The election ended: our new state and the vote we follow.
    Decided { state: ServerState, vote: Vote },
    /// A notification carried a newer config, adopted while LOOKING; with `restart` the
    /// membership changed and the election stopped (the peer starts a new one).
    Reconfigured {
        verifier: QuorumVerifier,
        restart: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Not inside `lookForLeader`.
    Idle,
    Looking,
    /// A quorum agrees; waiting `finalizeWait` for anything better.
    Finalizing,
    /// Shut down after a membership change.
    Stopped,
}

/// A received notification (`FastLeaderElection.Notification`).
#[derive(Debug, Clone, Copy)]
struct Notification {
    sid: i64,
    state: ServerState,
    leader: i64,
    zxid: i64,
    election_epoch: i64,
    peer_epoch: i64,
    version: i32,
}

/// The engine; one per peer, reused across elections as the reference reuses its FLE.
#[derive(Debug)]
pub struct FastLeaderElection {
    cfg: ElectionConfig,
    qv_text: Vec<u8>,
    state: ServerState,
    phase: Phase,
    logical_clock: i64,
    /// (leader, zxid, peer epoch) we propose.
    proposed: Candidate,
    /// `getInitId`, `getInitLastLoggedZxid`, `getPeerEpoch` of this round.
    init: Candidate,
    current_vote: Vote,
    recvset: BTreeMap<i64, Vote>,
    outofelection: BTreeMap<i64, Vote>,
    pending: VecDeque<Notification>,
    not_timeout: Duration,
}

impl FastLeaderElection {
    pub fn new(cfg: ElectionConfig) -> Self {
        let qv_text = cfg.verifier.to_string().into_bytes();
        let current_vote = Vote::new(cfg.my_id, cfg.last_logged_zxid, -1, cfg.current_epoch);
        let not_timeout = cfg.min_notification_interval;
        FastLeaderElection {
            cfg,
            qv_text,
            state: ServerState::Looking,
            phase: Phase::Idle,
            logical_clock: 0,
            proposed: Candidate::new(-1, -1, 0),
            init: Candidate::new(-1, -1, 0),
            current_vote,
            recvset: BTreeMap::new(),
            outofelection: BTreeMap::new(),
            pending: VecDeque::new(),
            not_timeout,
        }
    }

    pub fn my_id(&self) -> i64 {
        self.cfg.my_id
    }
    /// `QuorumPeer#getPeerState`.
    pub fn state(&self) -> ServerState {
        self.state
    }
    pub fn logical_clock(&self) -> i64 {
        self.logical_clock
    }
    /// `QuorumPeer#getCurrentVote`: the last decided vote (or our initial one).
    pub fn current_vote(&self) -> Vote {
        self.current_vote
    }
    /// `FastLeaderElection#getVote`: what we propose now.
    pub fn proposal(&self) -> Vote {
        self.proposed.vote(-1)
    }
    pub fn verifier(&self) -> &QuorumVerifier {
        &self.cfg.verifier
    }
    /// True while an election runs (until `Decided` or a restart).
    pub fn is_electing(&self) -> bool {
        matches!(self.phase, Phase::Looking | Phase::Finalizing)
    }

    /// `QuorumPeer#updateElectionVote`: once the role established its epoch (a leader when a
    /// quorum acked NEWLEADER, a learner at UPTODATE) the vote it reports to LOOKING peers
    /// carries that epoch. A joiner counts out-of-election votes by (leader, peer epoch), so
    /// every member must report the same one (ZOOKEEPER-1732).
    /// The peer's configs changed (`QuorumPeer#setQuorumVerifier` /
    /// `#setLastSeenQuorumVerifier`): notifications carry the committed one from now on,
    /// and votes count in both. Our learner type follows our line in the committed config
    /// (`updateLearnerType`: a server not in it is a participant).
    pub fn set_configs(&mut self, committed: QuorumVerifier, last_seen: QuorumVerifier) {
        let me = self.cfg.my_id;
        self.cfg.learner_type = if committed.observing_members().contains(&me) {
            LearnerType::Observer
        } else {
            LearnerType::Participant
        };
        self.qv_text = committed.to_string().into_bytes();
        self.cfg.last_seen = (last_seen.version() > committed.version()).then_some(last_seen);
        self.cfg.verifier = committed;
    }

    pub fn update_election_vote(&mut self, peer_epoch: i64) {
        self.current_vote.peer_epoch = peer_epoch;
    }

    /// A reconfig named the leader (`QuorumPeer#updateVote`, then `updateServerState` with
    /// `reconfigFlag`): no election; we lead, follow or observe under it with the vote
    /// `(leader, zxid)` (its epochs unknown until the role establishes one).
    pub fn adopt_designated_leader(&mut self, leader: i64, zxid: i64) -> Vote {
        let vote = Vote::new(leader, zxid, -1, -1);
        self.state = self.state_under(leader);
        self.current_vote = vote;
        self.phase = Phase::Idle;
        self.pending.clear();
        vote
    }

    /// The peer left LEADING/FOLLOWING/OBSERVING (`QuorumPeer#setPeerState(LOOKING)`).
    pub fn set_looking(&mut self) {
        self.state = ServerState::Looking;
    }

    /// `lookForLeader`'s start: next round, vote for ourselves, tell every voter.
    pub fn look_for_leader(&mut self, last_logged_zxid: i64, current_epoch: i64) -> Vec<Action> {
        self.state = ServerState::Looking;
        self.phase = Phase::Looking;
        self.recvset.clear();
        self.outofelection.clear();
        self.not_timeout = self.cfg.min_notification_interval;
        let participant = self.cfg.learner_type == LearnerType::Participant;
        let id = if self.cfg.verifier.is_voter(self.cfg.my_id) {
            self.cfg.my_id
        } else {
            i64::MIN
        };
        let (zxid, epoch) = if participant {
            (last_logged_zxid, current_epoch)
        } else {
            (i64::MIN, i64::MIN)
        };
        self.init = Candidate::new(id, zxid, epoch);
        self.logical_clock += 1;
        self.proposed = self.init;
        info!(
            my_id = self.cfg.my_id,
            zxid = format_args!("{zxid:#x}"),
            "new election"
        );
        let mut out = self.send_notifications();
        out.push(Action::SetTimer(self.not_timeout));
        let queued: Vec<Notification> = self.pending.drain(..).collect();
        for n in queued {
            if self.is_electing() {
                self.in_loop(n, &mut out);
            }
        }
        out
    }

    /// One message from `from` (`WorkerReceiver#run`, then the election loop).
    pub fn on_message(&mut self, from: i64, bytes: &[u8]) -> Vec<Action> {
        let mut out = Vec::new();
        if self.phase == Phase::Stopped {
            return out;
        }
        let msg = match NotificationMsg::decode(bytes) {
            Ok(m) => m,
            Err(e) => {
                warn!(sid = from, error = %e, "skipping notification");
                return out;
            }
        };
        if let Some(config) = &msg.config {
            if self.check_config(from, config, &mut out) {
                return out;
            }
        }
        if !self.valid_voter(from) {
            if from == self.cfg.my_id {
                // our own notification from when we were a voter, read after a newer config
                // made us none: answering it would send it straight back to us, forever
                return out;
            }
            // non-voters (observers) learn the current vote from us
            let reply = self.vote_msg(self.current_vote, self.logical_clock, self.state);
            out.push(Action::Send {
                to: from,
                msg: reply,
            });
            return out;
        }
        let Some(state) = ServerState::from_wire(msg.state) else {
            return out;
        };
        let n = Notification {
            sid: from,
            state,
            leader: msg.leader,
            zxid: msg.zxid,
            election_epoch: msg.election_epoch,
            peer_epoch: msg.peer_epoch,
            version: msg.version,
        };
        if self.state == ServerState::Looking {
            if state == ServerState::Looking && n.election_epoch < self.logical_clock {
                // a peer in an older round: tell it our proposal in this round
                let reply =
                    self.vote_msg(self.proposal(), self.logical_clock, ServerState::Looking);
                out.push(Action::Send {
                    to: from,
                    msg: reply,
                });
            }
            if self.is_electing() {
                self.in_loop(n, &mut out);
            } else {
                if self.pending.len() == RECV_CAPACITY {
                    self.pending.pop_front();
                }
                self.pending.push_back(n);
            }
        } else if state == ServerState::Looking {
            // out of election: answer a LOOKING peer with what we follow
            let v = self.current_vote;
            let reply = self.vote_msg(v, v.election_epoch, self.state);
            out.push(Action::Send {
                to: from,
                msg: reply,
            });
        }
        out
    }

    /// The timer set by the last [`Action::SetTimer`] fired. `have_delivered`:
    /// `QuorumCnxManager#haveDelivered` (some send queue is empty).
    pub fn on_timeout(&mut self, have_delivered: bool) -> Vec<Action> {
        let mut out = Vec::new();
        match self.phase {
            Phase::Finalizing => {
                let vote = self.proposed.vote(self.logical_clock);
                self.decide(vote, &mut out);
            }
            Phase::Looking => {
                if have_delivered {
                    out.extend(self.send_notifications());
                } else {
                    out.push(Action::ConnectAll);
                }
                self.not_timeout = (self.not_timeout * 2).min(self.cfg.max_notification_interval);
                out.push(Action::SetTimer(self.not_timeout));
            }
            Phase::Idle | Phase::Stopped => {}
        }
        out
    }
}

#[path = "rules.rs"]
mod rules;
