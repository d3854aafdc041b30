#![allow(clippy::unwrap_used)]

use super::*;
use crate::jute::data::Acl;
use crate::jute::txn::{CreateTxn, TxnBody, TxnDigest, TxnHeader};

fn entry(zxid: i64) -> TxnEntry {
    TxnEntry {
        header: TxnHeader {
            client_id: 0x1000,
            cxid: 4,
            zxid,
            time: 1_700_000_000_000,
            op: OpCode::CREATE,
        },
        body: TxnBody::Create(CreateTxn {
            path: "/a".into(),
            data: Some(Bytes::from_static(b"x")),
            acl: Acl::open_unsafe(),
            ephemeral: false,
            parent_cversion: 1,
        }),
        digest: Some(TxnDigest {
            version: 2,
            tree_digest: 77,
        }),
    }
}

fn every_message() -> Vec<(ZabMessage, Sender)> {
    let info = LearnerInfo {
        serverid: 2,
        protocol_version: PROTOCOL_VERSION,
        config_version: 0,
    };
    vec![
        (
            ZabMessage::Request(LearnerRequest {
                session_id: 0x0100_0000_0000_0001,
                cxid: 3,
                op: OpCode::CREATE,
                request: Bytes::from_static(b"\0\0\0\x02/a"),
                authinfo: Some(vec![]),
            }),
            Sender::Learner,
        ),
        (
            ZabMessage::Proposal {
                zxid: 0x1_0000_0001,
                txn: EncodedTxn::encode(entry(0x1_0000_0001)),
            },
            Sender::Leader,
        ),
        (ZabMessage::Ack { zxid: 5 }, Sender::Learner),
        (ZabMessage::Commit { zxid: 5 }, Sender::Leader),
        (ZabMessage::Ping { zxid: 5 }, Sender::Leader),
        (
            ZabMessage::PingReply {
                zxid: 5,
                touches: vec![SessionTouch {
                    session_id: 9,
                    timeout: 4000,
                }],
                authinfo: None,
            },
            Sender::Learner,
        ),
        (
            ZabMessage::Revalidate {
                zxid: -1,
                session_id: 9,
                timeout: 30000,
            },
            Sender::Learner,
        ),
        (
            ZabMessage::RevalidateAnswer {
                zxid: -1,
                session_id: 9,
                valid: true,
            },
            Sender::Leader,
        ),
        (ZabMessage::Sync { zxid: 0 }, Sender::Leader),
        (
            ZabMessage::Inform {
                zxid: 7,
                txn: EncodedTxn::encode(entry(7)),
            },
            Sender::Leader,
        ),
        (
            ZabMessage::CommitAndActivate {
                zxid: 7,
                suggested_leader_id: 3,
            },
            Sender::Leader,
        ),
        (
            ZabMessage::NewLeader {
                zxid: 0x2_0000_0000,
                config: Some(Bytes::from_static(
                    b"server.1=127.0.0.1:1:2:participant\nversion=0",
                )),
            },
            Sender::Leader,
        ),
        (
            ZabMessage::NewLeader {
                zxid: 1,
                config: None,
            },
            Sender::Leader,
        ),
        (
            ZabMessage::FollowerInfo {
                zxid: 0x1_0000_0000,
                info: info.clone(),
            },
            Sender::Learner,
        ),
        (ZabMessage::ObserverInfo { zxid: 0, info }, Sender::Learner),
        (ZabMessage::UpToDate { zxid: -1 }, Sender::Leader),
        (ZabMessage::Diff { zxid: 3 }, Sender::Leader),
        (ZabMessage::Trunc { zxid: 3 }, Sender::Leader),
        (ZabMessage::Snap { zxid: 3 }, Sender::Leader),
        (
            ZabMessage::LeaderInfo {
                zxid: 0x2_0000_0000,
                protocol_version: PROTOCOL_VERSION,
            },
            Sender::Leader,
        ),
        (
            ZabMessage::AckEpoch {
                zxid: 0x1_0000_0004,
                current_epoch: -1,
            },
            Sender::Learner,
        ),
        (
            ZabMessage::InformAndActivate {
                zxid: 8,
                suggested_leader_id: 1,
                txn: entry(8),
            },
            Sender::Leader,
        ),
    ]
}

#[test]
fn every_type_round_trips_through_jute_bytes() {
    let all = every_message();
    let mut types: Vec<i32> = all.iter().map(|(m, _)| m.packet_type().0).collect();
    types.sort_unstable();
    types.dedup();
    assert_eq!(types, (1..=19).collect::<Vec<_>>());
    for (msg, from) in all {
        let bytes = msg.to_packet().to_vec();
        let packet = QuorumPacket::from_bytes(&bytes).unwrap();
        assert_eq!(ZabMessage::parse(&packet, from).unwrap(), msg);
        assert!(msg.packet_type().name().is_some());
    }
}

#[test]
fn payload_layouts_match_data_output_stream() {
    let p = ZabMessage::LeaderInfo {
        zxid: 0x1_0000_0000,
        protocol_version: PROTOCOL_VERSION,
    }
    .to_packet();
    assert_eq!(p.data.as_deref(), Some(&[0, 1, 0, 0][..]));
    assert_eq!(p.authinfo, None);
    // ACK/COMMIT/DIFF carry a null buffer (-1), not an empty one
    let ack = ZabMessage::Ack { zxid: 1 }.to_packet().to_vec();
    assert_eq!(
        ack,
        [
            &[0, 0, 0, 3][..],
            &1i64.to_be_bytes(),
            &[0xff; 4],
            &[0xff; 4]
        ]
        .concat()
    );
    let answer = ZabMessage::RevalidateAnswer {
        zxid: -1,
        session_id: 1,
        valid: true,
    }
    .to_packet();
    assert_eq!(answer.data.as_deref().map(<[u8]>::len), Some(9));
    // an idle learner still answers a PING with an empty (not null) buffer
    let reply = ZabMessage::PingReply {
        zxid: 1,
        touches: vec![],
        authinfo: None,
    }
    .to_packet();
    assert_eq!(reply.data.as_deref(), Some(&[][..]));
}

#[test]
fn short_and_unknown_payloads_are_errors() {
    let p = |t: i32, data: &[u8]| QuorumPacket {
        packet_type: t,
        zxid: 0,
        data: Some(Bytes::copy_from_slice(data)),
        authinfo: None,
    };
    assert!(matches!(
        ZabMessage::parse(&p(1, &[0; 15]), Sender::Learner),
        Err(PacketError::Short { .. })
    ));
    assert!(ZabMessage::parse(&p(6, &[0; 9]), Sender::Learner).is_err());
    assert!(ZabMessage::parse(&p(6, &[0; 9]), Sender::Leader).is_ok());
    assert!(ZabMessage::parse(&p(17, &[0; 3]), Sender::Leader).is_err());
    assert!(ZabMessage::parse(&p(2, &[0; 3]), Sender::Leader).is_err());
    assert_eq!(
        ZabMessage::parse(&p(20, &[]), Sender::Leader),
        Err(PacketError::UnknownType(20))
    );
    // a ragged PING tail is dropped, as far as the reference would have read it
    let touches = [&7i64.to_be_bytes()[..], &5i32.to_be_bytes(), &[1, 2]].concat();
    match ZabMessage::parse(&p(5, &touches), Sender::Learner).unwrap() {
        ZabMessage::PingReply { touches, .. } => assert_eq!(touches.len(), 1),
        other => panic!("{other:?}"),
    }
}

proptest::proptest! {
    #[test]
    fn parsing_any_packet_never_panics(t in 0i32..22, data in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
        let p = QuorumPacket { packet_type: t, zxid: 1, data: Some(Bytes::from(data)), authinfo: None };
        let _ = ZabMessage::parse(&p, Sender::Leader);
        let _ = ZabMessage::parse(&p, Sender::Learner);
    }
}
