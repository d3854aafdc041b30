use super::*;
use crate::jute::codes::OpCode;
use crate::jute::quorum::{LearnerInfo, QuorumPacket};
use crate::jute::txn::CreateSessionTxn;
use crate::jute::txn::{TxnBody, TxnEntry, TxnHeader};
use crate::jute::Jute;
use crate::quorum::verifier::QuorumVerifier;
use crate::quorum::zab::packet::{QuorumPacketType as T, ZabMessage};

fn qv() -> QuorumVerifier {
    QuorumVerifier::from_config_str(
        "server.1=127.0.0.1:2001:3001\nserver.2=127.0.0.1:2002:3002\n\
         server.3=127.0.0.1:2003:3003\nserver.4=127.0.0.1:2004:3004:observer\n",
    )
    .unwrap()
}

fn info(t: T, sid: i64, accepted_epoch: i64) -> QuorumPacket {
    let li = LearnerInfo {
        serverid: sid,
        protocol_version: 0x10000,
        config_version: 0,
    };
    QuorumPacket {
        packet_type: t.0,
        zxid: accepted_epoch << 32,
        data: Some(li.to_vec().into()),
        authinfo: None,
    }
}

fn ack_epoch(current: i32, zxid: i64) -> QuorumPacket {
    ZabMessage::AckEpoch {
        zxid,
        current_epoch: current,
    }
    .to_packet()
}

fn ack(zxid: i64) -> QuorumPacket {
    ZabMessage::Ack { zxid }.to_packet()
}

fn sent(actions: &[Action], conn: ConnId) -> Vec<T> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send { conn: c, packet } if *c == conn => Some(T(packet.packet_type)),
            Action::SendSnap { conn: c, .. } if *c == conn => Some(T::SNAP),
            _ => None,
        })
        .collect()
}

fn engine(accepted: i64) -> LeaderEngine {
    let start = LeaderStart {
        accepted_epoch: accepted,
        current_epoch: accepted,
        last_processed_zxid: (accepted << 32) | 3,
        ..LeaderStart::default()
    };
    let (e, first) = LeaderEngine::new(LeaderSettings::new(3, qv(), 10, 5), start);
    assert!(first.is_empty(), "one voter is no quorum");
    e
}

fn txn(zxid: i64) -> TxnEntry {
    TxnEntry {
        header: TxnHeader {
            client_id: 7,
            cxid: 0,
            zxid,
            time: 0,
            op: OpCode::CREATE_SESSION,
        },
        body: TxnBody::CreateSession(CreateSessionTxn { time_out: 4000 }),
        digest: None,
    }
}

/// Followers 1 (conn 1) and 2 (conn 2), observer 4 (conn 4), all synced; returns the epoch.
fn serving() -> (LeaderEngine, i64) {
    let mut e = engine(1);
    let h = &mut ();
    for c in [1, 2] {
        e.handle(Event::Connected(c), h);
    }
    // epoch = max(accepted of a quorum) + 1, persisted before any LEADERINFO
    let a = e.handle(Event::Packet(1, info(T::FOLLOWERINFO, 1, 4)), h);
    assert!(matches!(a[0], Action::PersistAcceptedEpoch(5)));
    assert_eq!(sent(&a, 1), vec![T::LEADERINFO]);
    let a = e.handle(Event::Packet(2, info(T::FOLLOWERINFO, 2, 1)), h);
    assert_eq!(sent(&a, 2), vec![T::LEADERINFO]);
    let a = e.handle(Event::Packet(1, ack_epoch(1, 0x1_0000_0003)), h);
    assert!(matches!(a[0], Action::PersistCurrentEpoch(5)));
    assert_eq!(sent(&a, 1), vec![T::DIFF, T::NEWLEADER]);
    let a = e.handle(Event::Packet(2, ack_epoch(1, 0)), h);
    assert_eq!(sent(&a, 2), vec![T::SNAP, T::NEWLEADER]);
    let a = e.handle(Event::Packet(1, ack(5 << 32)), h);
    assert!(matches!(a[0], Action::StartServing { zxid } if zxid == 5 << 32));
    assert_eq!(sent(&a, 1), vec![T::UPTODATE]);
    let a = e.handle(Event::Packet(2, ack(5 << 32)), h);
    assert_eq!(sent(&a, 2), vec![T::UPTODATE]);
    e.handle(Event::Connected(4), h);
    e.handle(Event::Packet(4, info(T::OBSERVERINFO, 4, 5)), h);
    let a = e.handle(Event::Packet(4, ack_epoch(-1, 0)), h);
    assert_eq!(sent(&a, 4), vec![T::SNAP, T::NEWLEADER]);
    let a = e.handle(Event::Packet(4, ack(5 << 32)), h);
    assert_eq!(sent(&a, 4), vec![T::UPTODATE]);
    (e, 5)
}

#[test]
fn handshake_agrees_on_the_epoch_and_syncs() {
    let (e, epoch) = serving();
    assert!(e.is_serving());
    assert_eq!(e.last_proposed(), epoch << 32);
    // `setLastSeenQuorumVerifier` is a no-op without reconfigEnabled: the static config
    // goes out with its version 0, as 3.8.0's NEWLEADER carries it
    assert!(e.newleader_config().ends_with("\nversion=0"));
}

#[test]
fn newleader_config_takes_the_epochs_zxid_as_version_with_reconfig() {
    let (mut e, _) = serving();
    e.s.reconfig_enabled = true;
    assert!(e.newleader_config().ends_with("version=500000000"));
}

#[test]
fn follower_ahead_of_the_leader_is_refused() {
    let mut e = engine(1);
    let h = &mut ();
    e.handle(Event::Connected(1), h);
    e.handle(Event::Packet(1, info(T::FOLLOWERINFO, 1, 1)), h);
    let a = e.handle(Event::Packet(1, ack_epoch(1, 0x1_0000_0009)), h);
    assert!(
        matches!(&a[0], Action::Close { reason, .. } if reason.contains("ahead of the leader"))
    );
}

#[test]
fn commits_in_order_on_a_quorum_and_informs_observers() {
    let (mut e, epoch) = serving();
    let h = &mut ();
    let (z1, z2) = ((epoch << 32) + 1, (epoch << 32) + 2);
    let a = e.propose(txn(z1)).unwrap();
    assert_eq!(sent(&a, 1), vec![T::PROPOSAL]);
    assert!(sent(&a, 4).is_empty(), "observers get no proposals");
    assert!(matches!(a.last(), Some(Action::Log(_))));
    e.propose(txn(z2)).unwrap();
    assert_eq!(
        e.propose(txn(z2 + 5)).err(),
        Some(ProposeError::OutOfOrder {
            expected: z2 + 1,
            got: z2 + 5
        })
    );
    // z2 acked by a quorum first: it waits for z1
    assert!(e.handle(Event::Packet(1, ack(z2)), h).is_empty());
    let a = e.handle(Event::LocalDurable(z2), h);
    assert!(a.iter().all(|x| !matches!(x, Action::Commit(_))));
    let a = e.handle(Event::Packet(2, ack(z1)), h);
    let commits: Vec<i64> = a
        .iter()
        .filter_map(|x| match x {
            Action::Commit(t) => Some(t.header.zxid),
            _ => None,
        })
        .collect();
    assert_eq!(commits, vec![z1, z2]);
    assert_eq!(sent(&a, 1), vec![T::COMMIT, T::COMMIT]);
    assert_eq!(sent(&a, 4), vec![T::INFORM, T::INFORM]);
    assert_eq!(e.sessions(), vec![(7, 4000)]);
}

#[test]
fn steps_down_without_a_synced_quorum() {
    let (mut e, _) = serving();
    let h = &mut ();
    e.handle(Event::Disconnected(1), h);
    e.handle(Event::Disconnected(2), h);
    let mut reason = None;
    for _ in 0..4 {
        for a in e.handle(Event::HalfTick, h) {
            if let Action::StepDown { reason: r } = a {
                reason = Some(r);
            }
        }
    }
    assert_eq!(
        reason.as_deref(),
        Some("Not sufficient followers synced, only synced with sids: [ 3 ]")
    );
    assert!(e.is_stopped());
    assert_eq!(e.propose(txn(1)).err(), Some(ProposeError::Stopped));
}

#[test]
fn silent_learner_is_dropped_after_sync_limit() {
    let (mut e, _) = serving();
    let h = &mut ();
    let mut closed = Vec::new();
    for _ in 0..14 {
        e.handle(
            Event::Packet(
                2,
                ZabMessage::PingReply {
                    zxid: 0,
                    touches: vec![],
                    authinfo: None,
                }
                .to_packet(),
            ),
            h,
        );
        for a in e.handle(Event::HalfTick, h) {
            if let Action::Close { sid, .. } = a {
                closed.push(sid);
            }
        }
    }
    assert!(closed.contains(&Some(1)) && closed.contains(&Some(4)));
    assert!(!closed.contains(&Some(2)));
    assert!(e.is_serving());
}

#[test]
fn a_learner_sync_waits_for_the_proposals_before_it() {
    let (mut e, epoch) = serving();
    let h = &mut ();
    // nothing outstanding: SYNC goes out at once, to that learner only
    let a = e.learner_sync(2);
    assert_eq!(sent(&a, 2), vec![T::SYNC]);
    assert!(sent(&a, 1).is_empty());
    // a proposal outstanding: the SYNC follows its COMMIT
    let z1 = (epoch << 32) + 1;
    e.propose(txn(z1)).unwrap();
    assert!(e.learner_sync(2).is_empty());
    assert_eq!(e.pending_sync_count(), 1);
    e.handle(Event::LocalDurable(z1), h);
    let a = e.handle(Event::Packet(1, ack(z1)), h);
    assert_eq!(sent(&a, 2), vec![T::COMMIT, T::SYNC]);
    assert_eq!(e.pending_sync_count(), 0);
    let (last, min, max) = e.proposal_sizes();
    assert!(last > 0 && last == min && min == max);
}

#[test]
fn a_follower_joining_under_load_gets_outstanding_proposals_after_newleader() {
    let (mut e, epoch) = serving();
    let h = &mut ();
    let z1 = (epoch << 32) + 1;
    e.propose(txn(z1)).unwrap();
    e.handle(Event::Disconnected(2), h);
    e.handle(Event::Connected(5), h);
    e.handle(Event::Packet(5, info(T::FOLLOWERINFO, 2, epoch)), h);
    let a = e.handle(Event::Packet(5, ack_epoch(5, epoch << 32)), h);
    // the COMMIT of z1 comes after NEWLEADER, so its PROPOSAL must too (ZOOKEEPER-4394)
    let s = sent(&a, 5);
    assert_eq!(s[s.len() - 2..], [T::NEWLEADER, T::PROPOSAL], "{s:?}");
    e.handle(Event::LocalDurable(z1), h);
    let a = e.handle(Event::Packet(1, ack(z1)), h);
    assert_eq!(sent(&a, 5), vec![T::COMMIT]);
}

/// A reconfig txn (`PrepContext::reconfig`): `config` versioned with its zxid.
fn reconfig_txn(zxid: i64, config: &str) -> TxnEntry {
    let mut qv = QuorumVerifier::from_config_str(config).unwrap();
    qv.set_version(zxid);
    TxnEntry {
        header: TxnHeader {
            client_id: 7,
            cxid: 1,
            zxid,
            time: 0,
            op: OpCode::RECONFIG,
        },
        body: TxnBody::SetData(crate::jute::txn::SetDataTxn {
            path: "/zookeeper/config".into(),
            data: Some(qv.to_string().into_bytes().into()),
            version: -1,
        }),
        digest: None,
    }
}

/// `Leader#propose` / `#tryToCommit` with a reconfig in flight: its acks (and those of the
/// proposals after it) must hold a quorum of the old AND the new config; its commit is
/// COMMITANDACTIVATE / INFORMANDACTIVATE naming the designated leader, activation first.
#[test]
fn a_reconfig_commits_on_a_quorum_of_both_configs_and_activates() {
    let (mut e, epoch) = serving();
    let h = &mut ();
    let (z1, z2) = ((epoch << 32) + 1, (epoch << 32) + 2);
    // server 2 leaves: the new voters are 1 and 3
    let a = e
        .propose(reconfig_txn(
            z1,
            "server.1=127.0.0.1:2001:3001\nserver.3=127.0.0.1:2003:3003\n\
             server.4=127.0.0.1:2004:3004:observer\n",
        ))
        .unwrap();
    assert!(matches!(&a[0], Action::LastSeenConfig(qv) if qv.version() == z1));
    assert_eq!(e.pending_config().map(QuorumVerifier::version), Some(z1));
    e.propose(txn(z2)).unwrap();
    // the leader and 2 are a quorum of the old config only
    assert!(e.handle(Event::LocalDurable(z2), h).is_empty());
    let a = e.handle(Event::Packet(2, ack(z1)), h);
    assert!(a.iter().all(|a| !matches!(a, Action::Commit(_))), "{a:?}");
    e.handle(Event::Packet(2, ack(z2)), h);
    let a = e.handle(Event::Packet(1, ack(z1)), h);
    let activate = a
        .iter()
        .position(
            |a| matches!(a, Action::Activate { designated_leader: 3, zxid, .. } if *zxid == z1),
        )
        .expect("activation");
    let commit = a
        .iter()
        .position(|a| matches!(a, Action::Commit(t) if t.header.zxid == z1))
        .expect("commit");
    assert!(activate < commit);
    assert_eq!(sent(&a, 1), vec![T::COMMITANDACTIVATE]);
    assert_eq!(sent(&a, 2), vec![T::COMMITANDACTIVATE]);
    assert_eq!(sent(&a, 4), vec![T::INFORMANDACTIVATE]);
    assert_eq!(e.committed_config().version(), z1);
    assert!(e.pending_config().is_none());
    // z2 waits for the new config's quorum: 2's ack is no longer a voter's
    assert_eq!(e.last_committed(), z1);
    let a = e.handle(Event::Packet(1, ack(z2)), h);
    assert!(a
        .iter()
        .any(|a| matches!(a, Action::Commit(t) if t.header.zxid == z2)));
}

/// `getDesignatedLeader` when the leader leaves: a voter of the new config that acked the
/// reconfig leads next, and this leader commits nothing after it (`allowedToCommit`).
#[test]
fn a_leader_that_leaves_designates_another_and_stops_committing() {
    let (mut e, epoch) = serving();
    let h = &mut ();
    let (z1, z2) = ((epoch << 32) + 1, (epoch << 32) + 2);
    e.propose(reconfig_txn(
        z1,
        "server.1=127.0.0.1:2001:3001\nserver.2=127.0.0.1:2002:3002\n\
         server.4=127.0.0.1:2004:3004:observer\n",
    ))
    .unwrap();
    e.propose(txn(z2)).unwrap();
    e.handle(Event::LocalDurable(z2), h);
    e.handle(Event::Packet(1, ack(z1)), h);
    e.handle(Event::Packet(2, ack(z2)), h);
    let a = e.handle(Event::Packet(2, ack(z1)), h);
    // 2 acked the most of what follows the reconfig
    assert!(
        a.iter().any(|a| matches!(
            a,
            Action::Activate {
                designated_leader: 2,
                ..
            }
        )),
        "{a:?}"
    );
    let designated = ZabMessage::CommitAndActivate {
        zxid: z1,
        suggested_leader_id: 2,
    }
    .to_packet();
    assert!(a
        .iter()
        .any(|a| matches!(a, Action::Send { conn: 1, packet } if packet.data == designated.data)));
    assert!(!e.allowed_to_commit());
    let a = e.handle(Event::Packet(1, ack(z2)), h);
    assert!(a.is_empty(), "{a:?}");
    assert_eq!(e.last_committed(), z1);
}
