//! The election loop's rules (`FastLeaderElection#lookForLeader`, `receivedFollowingNotification`,
//! `checkLeader`, `getVoteTracker`, `sendNotifications`), split from the engine's entry points.

use super::*;

impl FastLeaderElection {
    /// One notification taken from the receive queue by `lookForLeader`.
    pub(super) fn in_loop(&mut self, n: Notification, out: &mut Vec<Action>) {
        if self.phase == Phase::Finalizing {
            if !self.total_order(
                Candidate::new(n.leader, n.zxid, n.peer_epoch),
                self.proposed,
            ) {
                // not better: dropped, and the finalize wait starts over
                out.push(Action::SetTimer(FINALIZE_WAIT));
                return;
            }
            self.phase = Phase::Looking;
        }
        if self.valid_voter(n.sid) && self.valid_voter(n.leader) {
            match n.state {
                ServerState::Looking => self.looking(n, out),
                ServerState::Observing => {}
                // with no oracle, a LEADING notification is handled as a FOLLOWING one
                ServerState::Following | ServerState::Leading => self.out_of_election(n, out),
            }
        } else {
            warn!(
                sid = n.sid,
                leader = n.leader,
                "ignoring notification from/for a non-voter"
            );
        }
        if self.phase == Phase::Looking {
            out.push(Action::SetTimer(self.not_timeout));
        }
    }

    fn looking(&mut self, n: Notification, out: &mut Vec<Action>) {
        if self.init.zxid == -1 || n.zxid == -1 {
            return;
        }
        let theirs = Candidate::new(n.leader, n.zxid, n.peer_epoch);
        if n.election_epoch > self.logical_clock {
            self.logical_clock = n.election_epoch;
            self.recvset.clear();
            self.proposed = if self.total_order(theirs, self.init) {
                theirs
            } else {
                self.init
            };
            out.extend(self.send_notifications());
        } else if n.election_epoch < self.logical_clock {
            debug!(
                sid = n.sid,
                round = n.election_epoch,
                "notification from an older round"
            );
            return;
        } else if self.total_order(theirs, self.proposed) {
            self.proposed = theirs;
            out.extend(self.send_notifications());
        }
        self.recvset.insert(
            n.sid,
            Vote::new(n.leader, n.zxid, n.election_epoch, n.peer_epoch),
        );
        let mine = self.proposed.vote(self.logical_clock);
        if self.has_all_quorums(&self.recvset, &mine) {
            self.phase = Phase::Finalizing;
            out.push(Action::SetTimer(FINALIZE_WAIT));
        }
    }

    /// `receivedFollowingNotification`: a peer already FOLLOWING / LEADING.
    fn out_of_election(&mut self, n: Notification, out: &mut Vec<Action>) {
        let theirs = Vote {
            version: n.version,
            id: n.leader,
            zxid: n.zxid,
            election_epoch: n.election_epoch,
            peer_epoch: n.peer_epoch,
            state: n.state,
        };
        let end = Vote::new(n.leader, n.zxid, n.election_epoch, n.peer_epoch);
        if n.election_epoch == self.logical_clock {
            self.recvset.insert(
                n.sid,
                Vote {
                    version: 0,
                    ..theirs
                },
            );
            if self.has_all_quorums(&self.recvset, &theirs)
                && self.check_leader(&self.recvset, n.leader, n.election_epoch)
            {
                self.decide(end, out);
                return;
            }
        }
        // the ensemble may have moved on without us: join it once a quorum follows one leader
        self.outofelection.insert(n.sid, theirs);
        if self.has_all_quorums(&self.outofelection, &theirs)
            && self.check_leader(&self.outofelection, n.leader, n.election_epoch)
        {
            self.logical_clock = n.election_epoch;
            self.decide(end, out);
        }
    }

    /// `checkLeader`: another leader must have told us it leads; ourselves only in this round.
    fn check_leader(&self, votes: &BTreeMap<i64, Vote>, leader: i64, election_epoch: i64) -> bool {
        if leader != self.cfg.my_id {
            votes
                .get(&leader)
                .is_some_and(|v| v.state == ServerState::Leading)
        } else {
            self.logical_clock == election_epoch
        }
    }

    /// `getVoteTracker(...).hasAllQuorums()`: the voters agreeing with `vote` form a quorum
    /// in the committed config and in a newer proposed one.
    fn has_all_quorums(&self, votes: &BTreeMap<i64, Vote>, vote: &Vote) -> bool {
        let mut verifiers = vec![&self.cfg.verifier];
        if let Some(seen) = &self.cfg.last_seen {
            if seen.version() > self.cfg.verifier.version() {
                verifiers.push(seen);
            }
        }
        verifiers.into_iter().all(|qv| {
            let acks: BTreeSet<i64> = votes
                .iter()
                .filter(|(sid, v)| qv.is_voter(**sid) && vote.agrees_with(v))
                .map(|(sid, _)| *sid)
                .collect();
            qv.contains_quorum(&acks)
        })
    }

    /// What serving under `leader` makes us (`QuorumPeer#updateServerState`).
    pub(super) fn state_under(&self, leader: i64) -> ServerState {
        if leader == self.cfg.my_id {
            ServerState::Leading
        } else if self.cfg.learner_type == LearnerType::Participant {
            ServerState::Following
        } else {
            ServerState::Observing
        }
    }

    pub(super) fn decide(&mut self, vote: Vote, out: &mut Vec<Action>) {
        self.state = self.state_under(vote.id);
        info!(my_id = self.cfg.my_id, leader = vote.id, state = ?self.state, "election done");
        self.current_vote = vote;
        self.phase = Phase::Idle;
        self.pending.clear();
        out.push(Action::Decided {
            state: self.state,
            vote,
        });
    }

    /// `totalOrderPredicate`: `new` is ahead of `cur` and its leader has a vote.
    pub(super) fn total_order(&self, new: Candidate, cur: Candidate) -> bool {
        self.cfg.verifier.weight(new.leader) != 0 && new > cur
    }

    /// `getCurrentAndNextConfigVoters` contains `sid`.
    pub(super) fn valid_voter(&self, sid: i64) -> bool {
        self.cfg.verifier.is_voter(sid)
            || self
                .cfg
                .last_seen
                .as_ref()
                .is_some_and(|qv| qv.is_voter(sid))
    }

    pub(super) fn send_notifications(&self) -> Vec<Action> {
        let mut voters = self.cfg.verifier.voting_members();
        if let Some(seen) = &self.cfg.last_seen {
            voters.extend(seen.voting_members());
        }
        let v = self.proposed.vote(self.logical_clock);
        let msg = self.vote_msg(v, self.logical_clock, ServerState::Looking);
        voters
            .into_iter()
            .map(|to| Action::Send {
                to,
                msg: msg.clone(),
            })
            .collect()
    }

    pub(super) fn vote_msg(&self, v: Vote, round: i64, state: ServerState) -> NotificationMsg {
        NotificationMsg {
            state: state.to_wire(),
            leader: v.id,
            zxid: v.zxid,
            election_epoch: round,
            peer_epoch: v.peer_epoch,
            version: CURRENT_VERSION,
            config: Some(self.qv_text.clone()),
        }
    }

    /// A config in a notification: adopt a newer one while LOOKING (`processReconfig`).
    /// Returns true when the election stops for a membership change.
    pub(super) fn check_config(&mut self, from: i64, config: &[u8], out: &mut Vec<Action>) -> bool {
        let text = String::from_utf8_lossy(config);
        let rqv = match QuorumVerifier::from_config_str(&text) {
            Ok(qv) => qv,
            Err(e) => {
                warn!(sid = from, error = %e, "bad config in notification");
                return false;
            }
        };
        if rqv.version() <= self.cfg.verifier.version() || self.state != ServerState::Looking {
            return false;
        }
        info!(
            sid = from,
            version = format_args!("{:x}", rqv.version()),
            "newer config"
        );
        let restart = !rqv.same_as(&self.cfg.verifier);
        self.cfg.verifier = rqv.clone();
        self.qv_text = rqv.to_string().into_bytes();
        out.push(Action::Reconfigured {
            verifier: rqv,
            restart,
        });
        if restart {
            self.phase = Phase::Stopped;
        }
        restart
    }
}
