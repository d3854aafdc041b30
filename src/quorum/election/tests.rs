#![allow(clippy::unwrap_used)]
//! Engine behaviour for given event sequences, checked against 3.8's rules.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use super::*;
use crate::config::servers::parse_server;
use crate::config::LearnerType;
use crate::quorum::verifier::QuorumVerifier;

fn qv(n: i64) -> QuorumVerifier {
    QuorumVerifier::majority(
        (1..=n).map(|i| {
            parse_server(i, &format!("127.0.0.1:{}:{}", 2000 + i, 3000 + i), false).unwrap()
        }),
        0,
    )
}

fn engine(my_id: i64, verifier: QuorumVerifier) -> FastLeaderElection {
    FastLeaderElection::new(ElectionConfig::new(
        my_id,
        LearnerType::Participant,
        verifier,
    ))
}

fn note(state: ServerState, leader: i64, zxid: i64, round: i64, epoch: i64) -> Vec<u8> {
    NotificationMsg {
        state: state.to_wire(),
        leader,
        zxid,
        election_epoch: round,
        peer_epoch: epoch,
        version: CURRENT_VERSION,
        config: Some(qv(3).to_string().into_bytes()),
    }
    .encode()
}

/// (to, leader, zxid, round, state) of every Send.
fn sends(actions: &[Action]) -> Vec<(i64, i64, i64, i64, i32)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send { to, msg } => {
                Some((*to, msg.leader, msg.zxid, msg.election_epoch, msg.state))
            }
            _ => None,
        })
        .collect()
}

fn decided(actions: &[Action]) -> Option<(ServerState, Vote)> {
    actions.iter().find_map(|a| match a {
        Action::Decided { state, vote } => Some((*state, *vote)),
        _ => None,
    })
}

const LOOKING: ServerState = ServerState::Looking;

#[test]
fn election_starts_with_a_vote_for_ourselves_to_every_voter() {
    let mut e = engine(1, qv(3));
    let a = e.look_for_leader(5, 1);
    assert_eq!(
        sends(&a),
        vec![(1, 1, 5, 1, 0), (2, 1, 5, 1, 0), (3, 1, 5, 1, 0)]
    );
    assert_eq!(a.last(), Some(&Action::SetTimer(FINALIZE_WAIT)));
    let Action::Send { msg, .. } = &a[0] else {
        panic!()
    };
    assert_eq!(msg.peer_epoch, 1);
    assert_eq!(msg.config.as_deref(), Some(qv(3).to_string().as_bytes()));
}

#[test]
fn a_better_vote_in_the_same_round_is_adopted_and_broadcast() {
    let mut e = engine(1, qv(3));
    e.look_for_leader(5, 1);
    let a = e.on_message(2, &note(LOOKING, 2, 9, 1, 1));
    assert_eq!(
        sends(&a),
        vec![(1, 2, 9, 1, 0), (2, 2, 9, 1, 0), (3, 2, 9, 1, 0)]
    );
    assert_eq!(a.last(), Some(&Action::SetTimer(FINALIZE_WAIT)));
    // a worse vote changes nothing and sends nothing
    let a = e.on_message(3, &note(LOOKING, 3, 4, 1, 1));
    assert!(sends(&a).is_empty());
    assert_eq!(e.proposal().id, 2);
}

#[test]
fn higher_round_resets_and_lower_round_gets_our_proposal() {
    let mut e = engine(1, qv(3));
    e.look_for_leader(5, 1);
    // round 7 with a worse vote: we jump to round 7 and re-propose ourselves
    let a = e.on_message(2, &note(LOOKING, 2, 1, 7, 1));
    assert_eq!(e.logical_clock(), 7);
    assert_eq!(sends(&a)[0], (1, 1, 5, 7, 0));
    // a peer still in round 3 is told our round-7 proposal and is otherwise ignored
    let a = e.on_message(3, &note(LOOKING, 3, 99, 3, 1));
    assert_eq!(sends(&a), vec![(3, 1, 5, 7, 0)]);
    assert_eq!(e.proposal().id, 1);
}

/// Delivers every Send in FIFO order among in-process engines until all decided.
fn run_ensemble(peers: &mut BTreeMap<i64, FastLeaderElection>, start: &[(i64, i64, i64)]) {
    let mut wire: VecDeque<(i64, i64, Vec<u8>)> = VecDeque::new();
    for (sid, zxid, epoch) in start {
        let acts = peers.get_mut(sid).unwrap().look_for_leader(*zxid, *epoch);
        queue(&mut wire, *sid, acts);
    }
    let mut rounds = 0;
    while peers.values().any(|p| p.is_electing()) {
        rounds += 1;
        assert!(rounds < 10_000, "no convergence");
        match wire.pop_front() {
            Some((from, to, bytes)) => {
                let acts = peers.get_mut(&to).unwrap().on_message(from, &bytes);
                queue(&mut wire, to, acts);
            }
            None => {
                // quiet network: every finalize wait expires
                for (sid, p) in peers.iter_mut() {
                    let acts = p.on_timeout(true);
                    queue(&mut wire, *sid, acts);
                }
            }
        }
    }
}

fn queue(wire: &mut VecDeque<(i64, i64, Vec<u8>)>, from: i64, acts: Vec<Action>) {
    for a in acts {
        if let Action::Send { to, msg } = a {
            wire.push_back((from, to, msg.encode()));
        }
    }
}

#[test]
fn three_peers_elect_the_highest_zxid() {
    let mut peers: BTreeMap<i64, _> = (1..=3).map(|i| (i, engine(i, qv(3)))).collect();
    run_ensemble(
        &mut peers,
        &[
            (1, 0x1_0000_0009, 1),
            (2, 0x1_0000_0004, 1),
            (3, 0x1_0000_0007, 1),
        ],
    );
    assert_eq!(peers[&1].state(), ServerState::Leading);
    assert_eq!(peers[&2].state(), ServerState::Following);
    assert_eq!(peers[&3].state(), ServerState::Following);
    for p in peers.values() {
        let v = p.current_vote();
        assert_eq!(
            (v.id, v.zxid, v.peer_epoch, v.election_epoch),
            (1, 0x1_0000_0009, 1, 1)
        );
    }
}

#[test]
fn epoch_beats_zxid_and_ties_go_to_the_larger_sid() {
    let mut peers: BTreeMap<i64, _> = (1..=3).map(|i| (i, engine(i, qv(3)))).collect();
    run_ensemble(
        &mut peers,
        &[(1, 0x9, 2), (2, 0x1_0000_0000, 1), (3, 0x9, 2)],
    );
    assert_eq!(peers[&3].state(), ServerState::Leading);
    assert!(peers.values().all(|p| p.current_vote().id == 3));
}

#[test]
fn finalize_wait_is_rearmed_by_worse_notifications_and_ends_on_timeout() {
    let mut e = engine(3, qv(3));
    e.look_for_leader(5, 1);
    e.on_message(3, &note(LOOKING, 3, 5, 1, 1));
    let a = e.on_message(1, &note(LOOKING, 3, 5, 1, 1));
    assert_eq!(
        a,
        vec![Action::SetTimer(FINALIZE_WAIT)],
        "quorum {{1,3}}: finalizing"
    );
    let a = e.on_message(2, &note(LOOKING, 2, 1, 1, 1));
    assert_eq!(
        a,
        vec![Action::SetTimer(FINALIZE_WAIT)],
        "worse: dropped, wait again"
    );
    let a = e.on_timeout(true);
    let (state, vote) = decided(&a).unwrap();
    assert_eq!(state, ServerState::Leading);
    assert_eq!(vote, Vote::new(3, 5, 1, 1));
}

#[test]
fn a_better_notification_while_finalizing_reopens_the_election() {
    let mut e = engine(1, qv(3));
    e.look_for_leader(5, 1);
    e.on_message(2, &note(LOOKING, 2, 6, 1, 1));
    e.on_message(1, &note(LOOKING, 2, 6, 1, 1));
    assert!(e.is_electing());
    let a = e.on_message(3, &note(LOOKING, 3, 6, 1, 1));
    assert_eq!(sends(&a)[0], (1, 3, 6, 1, 0), "switch to 3");
    assert_eq!(a.last(), Some(&Action::SetTimer(FINALIZE_WAIT)));
    assert!(decided(&e.on_timeout(true)).is_none());
}

#[test]
fn notification_timeout_backs_off_to_the_maximum() {
    let mut e = engine(1, qv(3));
    e.look_for_leader(0, 0);
    let a = e.on_timeout(false);
    assert_eq!(
        a,
        vec![
            Action::ConnectAll,
            Action::SetTimer(Duration::from_millis(400))
        ]
    );
    let a = e.on_timeout(true);
    assert_eq!(sends(&a).len(), 3);
    assert_eq!(
        a.last(),
        Some(&Action::SetTimer(Duration::from_millis(800)))
    );
    for _ in 0..20 {
        e.on_timeout(true);
    }
    assert_eq!(
        e.on_timeout(false).last(),
        Some(&Action::SetTimer(MAX_NOTIFICATION_INTERVAL))
    );
}

#[test]
fn a_peer_joining_an_established_ensemble_follows_its_leader() {
    let mut e = engine(3, qv(3));
    e.look_for_leader(0, 0);
    // 1 follows 2, round 4 — not enough alone: the leader must have said it leads
    let a = e.on_message(1, &note(ServerState::Following, 2, 0x1_0000_0000, 4, 1));
    assert!(decided(&a).is_none());
    let a = e.on_message(2, &note(ServerState::Leading, 2, 0x1_0000_0000, 4, 1));
    let (state, vote) = decided(&a).unwrap();
    assert_eq!(state, ServerState::Following);
    assert_eq!((vote.id, vote.election_epoch, vote.peer_epoch), (2, 4, 1));
    assert_eq!(
        e.logical_clock(),
        4,
        "outofelection adopts the leader's round"
    );
    // afterwards a LOOKING peer is answered with that vote and our state
    let a = e.on_message(1, &note(LOOKING, 1, 0, 9, 0));
    assert_eq!(sends(&a), vec![(1, 2, 0x1_0000_0000, 4, 1)]);
}

/// The vote a non-looking peer sends back: (leader, zxid, round, peer epoch, state).
fn reply_vote(actions: &[Action]) -> Option<(i64, i64, i64, i64, i32)> {
    actions.iter().find_map(|a| match a {
        Action::Send { msg, .. } => Some((
            msg.leader,
            msg.zxid,
            msg.election_epoch,
            msg.peer_epoch,
            msg.state,
        )),
        _ => None,
    })
}

#[test]
fn an_established_epoch_is_reported_to_looking_peers() {
    // 3 elected 2 in round 4 while the ensemble was in epoch 1; the leader then
    // established epoch 2 (QuorumPeer#updateElectionVote, ZOOKEEPER-1732)
    let mut e = engine(3, qv(3));
    e.look_for_leader(0x1_0000_0005, 1);
    e.on_message(1, &note(ServerState::Following, 2, 0x1_0000_0005, 4, 1));
    decided(&e.on_message(2, &note(ServerState::Leading, 2, 0x1_0000_0005, 4, 1))).unwrap();
    e.update_election_vote(2);
    let a = e.on_message(1, &note(LOOKING, 1, 0x2_0000_0009, 7, 2));
    let following = ServerState::Following.to_wire();
    assert_eq!(reply_vote(&a), Some((2, 0x1_0000_0005, 4, 2, following)));
}

#[test]
fn a_joiner_needs_a_quorum_reporting_one_peer_epoch() {
    // a leader and a follower that report the same established epoch let a joiner in
    let mut joiner = engine(1, qv(3));
    joiner.look_for_leader(0x1_0000_0003, 1);
    joiner.on_message(3, &note(ServerState::Following, 2, 0x1_0000_0005, 4, 2));
    let a = joiner.on_message(2, &note(ServerState::Leading, 2, 0x1_0000_0007, 5, 2));
    let (state, vote) = decided(&a).unwrap();
    assert_eq!(
        (state, vote.id, vote.peer_epoch),
        (ServerState::Following, 2, 2)
    );

    // one that still reported the epoch it was elected in would keep every joiner out
    let mut joiner = engine(1, qv(3));
    joiner.look_for_leader(0x1_0000_0003, 1);
    joiner.on_message(3, &note(ServerState::Following, 2, 0x1_0000_0005, 4, 1));
    let a = joiner.on_message(2, &note(ServerState::Leading, 2, 0x1_0000_0007, 4, 2));
    assert!(decided(&a).is_none());
}

#[test]
fn non_voters_are_answered_with_the_current_vote() {
    let mut e = engine(1, qv(3));
    e.look_for_leader(5, 1);
    let a = e.on_message(9, &note(LOOKING, 9, 100, 1, 5));
    // the current vote (from start-up: zxid 0), not the proposal (zxid 5), in our round
    assert_eq!(sends(&a), vec![(9, 1, 0, 1, 0)]);
    assert_eq!(a.len(), 1, "no timer change: never reached the loop");
}

/// A joiner whose zoo.cfg lists itself votes for itself, and so queues a notification to
/// itself; a newer config from a member, without it, restarts the election before that one
/// is read. Read then, it must not be answered: the answer would come straight back.
#[test]
fn our_own_notification_read_as_a_non_voter_is_not_answered() {
    let mut joiner = engine(4, qv(4));
    let a = joiner.look_for_leader(0, 0);
    assert!(
        sends(&a).iter().any(|s| s.0 == 4),
        "a voter tells itself too"
    );
    let mut newer = qv(3);
    newer.set_version(0x1_0000_0000);
    joiner.set_configs(newer.clone(), newer);
    let a = joiner.on_message(4, &note(LOOKING, 4, 0, 1, 0));
    assert!(sends(&a).is_empty(), "answered itself: {a:?}");
    // another non-voter is still answered
    let a = joiner.on_message(9, &note(LOOKING, 9, 0, 1, 0));
    assert_eq!(sends(&a).len(), 1);
}

#[test]
fn observers_learn_the_leader_without_voting() {
    let text = format!("{}\n", qv(3)).replace(
        "version=0",
        "server.4=127.0.0.1:2004:3004:observer\nversion=0",
    );
    let v = QuorumVerifier::from_config_str(&text).unwrap();
    let mut o = FastLeaderElection::new(ElectionConfig::new(4, LearnerType::Observer, v));
    let a = o.look_for_leader(77, 3);
    assert_eq!(
        sends(&a).iter().map(|s| s.0).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(sends(&a)[0].1, i64::MIN, "observers propose nobody");
    o.on_message(1, &note(ServerState::Following, 3, 8, 2, 1));
    let a = o.on_message(3, &note(ServerState::Leading, 3, 8, 2, 1));
    assert_eq!(decided(&a).unwrap().0, ServerState::Observing);
}

#[test]
fn zero_weight_never_wins() {
    let text =
        "server.1=h:1:2\nserver.2=h:3:4\nserver.3=h:5:6\ngroup.1=1:2:3\nweight.3=0\nversion=0";
    let v = QuorumVerifier::from_config_str(text).unwrap();
    let mut e = engine(1, v);
    e.look_for_leader(5, 1);
    let a = e.on_message(3, &note(LOOKING, 3, 99, 1, 9));
    assert!(sends(&a).is_empty());
    assert_eq!(e.proposal().id, 1);
}

#[test]
fn newer_config_with_other_members_stops_the_election() {
    let mut e = engine(1, qv(3));
    e.look_for_leader(0, 0);
    let mut bigger = qv(5);
    bigger.set_version(0x1_0000_0002);
    let msg = NotificationMsg {
        state: 0,
        leader: 2,
        zxid: 0,
        election_epoch: 1,
        peer_epoch: 0,
        version: CURRENT_VERSION,
        config: Some(bigger.to_string().into_bytes()),
    };
    let a = e.on_message(2, &msg.encode());
    assert_eq!(
        a,
        vec![Action::Reconfigured {
            verifier: bigger.clone(),
            restart: true
        }]
    );
    assert!(!e.is_electing());
    assert!(e.on_message(2, &msg.encode()).is_empty(), "stopped");
    // same members, newer version: adopted, election goes on
    let mut e = engine(1, qv(3));
    e.look_for_leader(0, 0);
    let mut same = qv(3);
    same.set_version(7);
    let msg = NotificationMsg {
        config: Some(same.to_string().into_bytes()),
        ..msg
    };
    let a = e.on_message(2, &msg.encode());
    assert_eq!(
        a[0],
        Action::Reconfigured {
            verifier: same.clone(),
            restart: false
        }
    );
    assert_eq!(e.verifier().version(), 7);
    assert!(e.is_electing());
}

#[test]
fn garbage_and_unknown_states_are_dropped() {
    let mut e = engine(1, qv(3));
    e.look_for_leader(0, 0);
    assert!(e.on_message(2, &[1, 2, 3]).is_empty());
    let mut m = NotificationMsg::decode(&note(LOOKING, 2, 0, 1, 0)).unwrap();
    m.state = 7;
    assert!(e.on_message(2, &m.encode()).is_empty());
}

#[test]
fn zxid_minus_one_never_takes_part() {
    let mut e = engine(1, qv(3));
    e.look_for_leader(0, 0);
    let a = e.on_message(2, &note(LOOKING, 2, -1, 1, 0));
    assert_eq!(a, vec![Action::SetTimer(FINALIZE_WAIT)]);
}
