use super::*;
use crate::jute::codes::OpCode;
use crate::jute::data::Acl;
use crate::jute::txn::{CreateTxn, TxnBody, TxnHeader};

const E: i64 = 5;

fn cfg(role: LearnerRole) -> LearnerConfig {
    LearnerConfig {
        sid: 3,
        role,
        config_version: 0,
    }
}

fn enc(zxid: i64) -> EncodedTxn {
    EncodedTxn::encode(txn(zxid))
}

fn txn(zxid: i64) -> TxnEntry {
    TxnEntry {
        header: TxnHeader {
            client_id: 1,
            cxid: 1,
            zxid,
            time: 0,
            op: OpCode::CREATE,
        },
        body: TxnBody::Create(CreateTxn {
            path: format!("/n{zxid:x}"),
            data: None,
            acl: Acl::open_unsafe(),
            ephemeral: false,
            parent_cversion: 1,
        }),
        digest: None,
    }
}

fn z(c: i64) -> i64 {
    make_zxid(E, c)
}

fn proposal(c: i64) -> ZabMessage {
    ZabMessage::Proposal {
        zxid: z(c),
        txn: enc(z(c)),
    }
}

fn commit(c: i64) -> ZabMessage {
    ZabMessage::Commit { zxid: z(c) }
}

fn send(m: ZabMessage) -> LearnerAction {
    LearnerAction::Send(m)
}

fn ack(zxid: i64) -> LearnerAction {
    send(ZabMessage::Ack { zxid })
}

/// An engine that has sent FOLLOWERINFO/OBSERVERINFO and acknowledged epoch E.
fn discovered(role: LearnerRole, last: i64) -> LearnerEngine {
    let mut e = LearnerEngine::new(cfg(role), E - 1, E - 1, last);
    e.start();
    e.handle(ZabMessage::LeaderInfo {
        zxid: z(0),
        protocol_version: PROTOCOL_VERSION,
    })
    .unwrap();
    e
}

fn feed(e: &mut LearnerEngine, msgs: Vec<ZabMessage>) -> Vec<LearnerAction> {
    msgs.into_iter()
        .flat_map(|m| e.handle(m).unwrap())
        .collect()
}

#[test]
fn first_packet_carries_the_accepted_epoch_and_learner_info() {
    let mut e = LearnerEngine::new(cfg(LearnerRole::Follower), 4, 3, 0x3_0000_0009);
    let info = LearnerInfo {
        serverid: 3,
        protocol_version: 0x10000,
        config_version: 0,
    };
    assert_eq!(
        e.start(),
        vec![send(ZabMessage::FollowerInfo {
            zxid: 0x4_0000_0000,
            info: info.clone()
        })]
    );
    let mut o = LearnerEngine::new(cfg(LearnerRole::Observer), 0, 0, 0);
    assert_eq!(
        o.start(),
        vec![send(ZabMessage::ObserverInfo { zxid: 0, info })]
    );
}

#[test]
fn leader_info_newer_equal_and_older_epochs() {
    let li = |epoch| ZabMessage::LeaderInfo {
        zxid: make_zxid(epoch, 0),
        protocol_version: PROTOCOL_VERSION,
    };
    let mut e = LearnerEngine::new(cfg(LearnerRole::Follower), 4, 3, 0x3_0000_0009);
    e.start();
    assert_eq!(
        e.handle(li(5)).unwrap(),
        vec![
            LearnerAction::PersistAcceptedEpoch(5),
            send(ZabMessage::AckEpoch {
                zxid: 0x3_0000_0009,
                current_epoch: 3
            })
        ]
    );
    let mut e = LearnerEngine::new(cfg(LearnerRole::Follower), 5, 3, 7);
    e.start();
    assert_eq!(
        e.handle(li(5)).unwrap(),
        vec![send(ZabMessage::AckEpoch {
            zxid: 7,
            current_epoch: -1
        })]
    );
    let mut e = LearnerEngine::new(cfg(LearnerRole::Follower), 6, 3, 7);
    e.start();
    assert_eq!(
        e.handle(li(5)),
        Err(LearnerError::EpochBehind {
            leader: 5,
            accepted: 6
        })
    );
    let mut e = LearnerEngine::new(cfg(LearnerRole::Follower), 6, 3, 7);
    e.start();
    assert!(e.handle(ZabMessage::Diff { zxid: 0 }).is_err());
}

#[test]
fn diff_logs_and_fsyncs_before_epoch_and_newleader_ack_and_commits_after_uptodate() {
    let mut e = discovered(LearnerRole::Follower, z(0));
    let pre = feed(
        &mut e,
        vec![
            ZabMessage::Diff { zxid: z(2) },
            proposal(1),
            commit(1),
            proposal(2),
            // PING while syncing is ignored, as in syncWithLeader
            ZabMessage::Ping { zxid: 0 },
        ],
    );
    assert!(pre.is_empty(), "{pre:?}");
    assert_eq!(e.sync_mode(), Some(SyncMode::Diff));
    assert_eq!(
        e.handle(ZabMessage::NewLeader {
            zxid: z(0),
            config: None
        })
        .unwrap(),
        vec![
            LearnerAction::LogTxn(enc(z(1))),
            LearnerAction::LogTxn(enc(z(2))),
        ]
    );
    assert!(e.newleader_acked());
    // nothing moves until both txns are durable: not the epoch, not the NEWLEADER ACK
    assert!(e.durable(z(1)).is_empty());
    assert!(e.handle(ZabMessage::Ping { zxid: 0 }).unwrap().is_empty());
    assert_eq!(
        e.durable(z(2)),
        vec![LearnerAction::PersistCurrentEpoch(E), ack(z(0))]
    );
    let post = feed(
        &mut e,
        vec![proposal(3), commit(2), ZabMessage::UpToDate { zxid: -1 }],
    );
    assert_eq!(
        post,
        vec![
            ack(z(0)),
            ack(z(1)),
            ack(z(2)),
            LearnerAction::LogTxn(enc(z(3))),
        ]
    );
    assert_eq!(
        e.durable(z(3)),
        vec![
            ack(z(3)),
            LearnerAction::ApplyTxn(EncodedTxn::encode(txn(z(1)))),
            LearnerAction::ApplyTxn(EncodedTxn::encode(txn(z(2)))),
            LearnerAction::Synced { new_epoch: E },
        ]
    );
    assert!(e.is_synced());
    assert_eq!(e.pending_commits(), 1);
    assert_eq!(
        e.handle(commit(3)).unwrap(),
        vec![LearnerAction::ApplyTxn(EncodedTxn::encode(txn(z(3))))]
    );
}

#[test]
fn snap_applies_committed_txns_directly_and_snapshots_with_fsync_at_newleader() {
    let mut e = discovered(LearnerRole::Follower, 0);
    let a = feed(
        &mut e,
        vec![
            ZabMessage::Snap { zxid: z(4) },
            // ZOOKEEPER-4394: a COMMIT with no proposal queued is skipped, not a crash
            commit(4),
            proposal(5),
            commit(5),
            proposal(6),
            ZabMessage::NewLeader {
                zxid: z(0),
                config: None,
            },
        ],
    );
    assert_eq!(
        a,
        vec![
            LearnerAction::LoadSnap { zxid: z(4) },
            LearnerAction::ApplyTxn(EncodedTxn::encode(txn(z(5)))),
            LearnerAction::TakeSnapshot { fsync: true },
            LearnerAction::LogTxn(enc(z(6))),
        ]
    );
    // the SNAP started the log over at its zxid: z(6) durable releases the rest
    assert_eq!(
        e.durable(z(6)),
        vec![LearnerAction::PersistCurrentEpoch(E), ack(z(0))]
    );
}

#[test]
fn trunc_truncates_then_snapshots_without_fsync() {
    let mut e = discovered(LearnerRole::Follower, z(9));
    let a = feed(
        &mut e,
        vec![
            ZabMessage::Trunc { zxid: z(7) },
            ZabMessage::NewLeader {
                zxid: z(0),
                config: None,
            },
            ZabMessage::UpToDate { zxid: -1 },
        ],
    );
    assert_eq!(
        a,
        vec![
            LearnerAction::TruncateLog { zxid: z(7) },
            LearnerAction::TakeSnapshot { fsync: false },
            LearnerAction::PersistCurrentEpoch(E),
            ack(z(0)),
            ack(z(0)),
            LearnerAction::Synced { new_epoch: E },
        ]
    );
    assert_eq!(e.sync_mode(), Some(SyncMode::Trunc));
    // the log starts over at the TRUNC zxid: z(8) durable is enough for an ACK of z(8)
    assert_eq!(
        e.handle(proposal(8)).unwrap(),
        vec![LearnerAction::LogTxn(enc(z(8)))]
    );
    assert_eq!(e.durable(z(8)), vec![ack(z(8))]);
}

fn synced(role: LearnerRole) -> LearnerEngine {
    let mut e = discovered(role, z(0));
    feed(
        &mut e,
        vec![
            ZabMessage::Diff { zxid: z(0) },
            ZabMessage::NewLeader {
                zxid: z(0),
                config: None,
            },
            ZabMessage::UpToDate { zxid: -1 },
        ],
    );
    assert!(e.is_synced());
    assert!(e.durable(z(0)).is_empty());
    e
}

#[test]
fn broadcast_follower_acks_after_logging_and_commits_in_order() {
    let mut e = synced(LearnerRole::Follower);
    assert_eq!(
        e.handle(proposal(1)).unwrap(),
        vec![LearnerAction::LogTxn(enc(z(1)))]
    );
    assert_eq!(e.durable(z(1)), vec![ack(z(1))]);
    e.handle(proposal(2)).unwrap();
    assert_eq!(e.durable(z(2)), vec![ack(z(2))]);
    assert_eq!(
        e.handle(commit(2)),
        Err(LearnerError::UnmatchedCommit {
            zxid: z(2),
            pending: z(1)
        })
    );
    assert_eq!(
        e.handle(commit(1)).unwrap(),
        vec![LearnerAction::ApplyTxn(EncodedTxn::encode(txn(z(1))))]
    );
    assert_eq!(
        e.handle(ZabMessage::Ping { zxid: z(2) }).unwrap(),
        vec![LearnerAction::ReplyPing {
            zxid: z(2),
            authinfo: None
        }]
    );
    assert_eq!(
        e.handle(ZabMessage::Sync { zxid: 0 }).unwrap(),
        vec![LearnerAction::SyncCompleted]
    );
    assert!(e
        .handle(ZabMessage::UpToDate { zxid: -1 })
        .unwrap()
        .is_empty());
    e.handle(commit(2)).unwrap();
    // a COMMIT with nothing pending is only a warning
    assert!(e.handle(commit(9)).unwrap().is_empty());
}

#[test]
fn observer_logs_and_applies_informs_and_never_acks_txns() {
    let mut e = discovered(LearnerRole::Observer, z(0));
    let a = feed(
        &mut e,
        vec![
            ZabMessage::Diff { zxid: z(2) },
            proposal(1),
            commit(1),
            ZabMessage::NewLeader {
                zxid: z(0),
                config: None,
            },
            ZabMessage::Inform {
                zxid: z(2),
                txn: enc(z(2)),
            },
            ZabMessage::UpToDate { zxid: -1 },
        ],
    );
    assert_eq!(
        a,
        vec![
            LearnerAction::PersistCurrentEpoch(E),
            ack(z(0)),
            ack(z(0)),
            LearnerAction::LogTxn(enc(z(1))),
            LearnerAction::LogTxn(enc(z(2))),
        ]
    );
    // an INFORM is applied once it is durable, and only then is the learner serving
    assert_eq!(
        e.durable(z(1)),
        vec![LearnerAction::ApplyTxn(EncodedTxn::encode(txn(z(1))))]
    );
    assert_eq!(
        e.durable(z(2)),
        vec![
            LearnerAction::ApplyTxn(EncodedTxn::encode(txn(z(2)))),
            LearnerAction::Synced { new_epoch: E },
        ]
    );
    assert_eq!(
        e.handle(ZabMessage::Inform {
            zxid: z(3),
            txn: enc(z(3))
        })
        .unwrap(),
        vec![LearnerAction::LogTxn(enc(z(3)))]
    );
    assert_eq!(
        e.durable(z(3)),
        vec![LearnerAction::ApplyTxn(EncodedTxn::encode(txn(z(3))))]
    );
    assert!(e.handle(proposal(4)).unwrap().is_empty());
    assert!(e.handle(commit(4)).unwrap().is_empty());
}

fn reconfig_txn(zxid: i64, text: &str) -> TxnEntry {
    TxnEntry {
        header: TxnHeader {
            client_id: 1,
            cxid: 2,
            zxid,
            time: 0,
            op: OpCode::RECONFIG,
        },
        body: TxnBody::SetData(crate::jute::txn::SetDataTxn {
            path: "/zookeeper/config".to_owned(),
            data: Some(bytes::Bytes::copy_from_slice(text.as_bytes())),
            version: -1,
        }),
        digest: None,
    }
}

fn activate(text: &str, suggested_leader: Option<i64>, zxid: i64) -> LearnerAction {
    LearnerAction::Activate {
        config: text.as_bytes().to_vec(),
        suggested_leader,
        zxid,
    }
}

/// `Follower#processPacket`: a reconfig PROPOSAL is the last seen config before it is
/// logged; COMMITANDACTIVATE activates it, then commits it.
#[test]
fn follower_activates_a_committed_reconfig_before_applying_it() {
    let mut e = discovered(LearnerRole::Follower, z(0));
    feed(
        &mut e,
        vec![
            ZabMessage::Diff { zxid: z(0) },
            ZabMessage::NewLeader {
                zxid: z(0),
                config: None,
            },
        ],
    );
    e.durable(z(0));
    feed(&mut e, vec![ZabMessage::UpToDate { zxid: -1 }]);
    let text = "server.1=a:1:2:participant\nversion=500000001";
    let t = EncodedTxn::encode(reconfig_txn(z(1), text));
    let a = e
        .handle(ZabMessage::Proposal {
            zxid: z(1),
            txn: t.clone(),
        })
        .unwrap();
    assert_eq!(
        a,
        vec![
            LearnerAction::LastSeenConfig(text.as_bytes().to_vec()),
            LearnerAction::LogTxn(t.clone()),
        ]
    );
    e.durable(z(1));
    let a = e
        .handle(ZabMessage::CommitAndActivate {
            zxid: z(1),
            suggested_leader_id: 2,
        })
        .unwrap();
    assert_eq!(
        a,
        vec![activate(text, Some(2), z(1)), LearnerAction::ApplyTxn(t)]
    );
    // a COMMITANDACTIVATE without its txn pending is a protocol error
    assert_eq!(
        e.handle(ZabMessage::CommitAndActivate {
            zxid: z(2),
            suggested_leader_id: 2,
        }),
        Err(LearnerError::NoReconfigPending(z(2)))
    );
}

/// `syncWithLeader`: NEWLEADER's config is seen at once and activated at UPTODATE, before
/// its ACK.
#[test]
fn newleader_config_is_activated_at_uptodate() {
    let mut e = discovered(LearnerRole::Follower, z(0));
    let text = "server.1=a:1:2:participant\nversion=400000007";
    let a = feed(
        &mut e,
        vec![
            ZabMessage::Diff { zxid: z(0) },
            ZabMessage::NewLeader {
                zxid: z(0),
                config: Some(bytes::Bytes::copy_from_slice(text.as_bytes())),
            },
        ],
    );
    assert_eq!(
        a[0],
        LearnerAction::LastSeenConfig(text.as_bytes().to_vec())
    );
    let a = e.handle(ZabMessage::UpToDate { zxid: -1 }).unwrap();
    assert_eq!(a[0], activate(text, None, z(0)));
    assert_eq!(a[1], ack(z(0)));
}

/// `Observer#processPacket`: INFORMANDACTIVATE activates, then logs and applies.
#[test]
fn observer_activates_informed_reconfig() {
    let mut e = discovered(LearnerRole::Observer, z(0));
    feed(
        &mut e,
        vec![
            ZabMessage::Diff { zxid: z(0) },
            ZabMessage::NewLeader {
                zxid: z(0),
                config: None,
            },
            ZabMessage::UpToDate { zxid: -1 },
        ],
    );
    let text = "server.1=a:1:2:participant\nversion=500000001";
    let t = reconfig_txn(z(1), text);
    let a = e
        .handle(ZabMessage::InformAndActivate {
            zxid: z(1),
            suggested_leader_id: 1,
            txn: t.clone(),
        })
        .unwrap();
    assert_eq!(a[0], activate(text, Some(1), z(1)));
    assert_eq!(a[1], LearnerAction::LogTxn(EncodedTxn::encode(t.clone())));
    // the apply waits for the log
    assert_eq!(a.len(), 2);
    assert_eq!(
        e.durable(z(1)),
        vec![LearnerAction::ApplyTxn(EncodedTxn::encode(t))]
    );
}
