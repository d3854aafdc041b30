#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use tokio_util::codec::{Decoder, Encoder};

use super::*;
use crate::jute::codes::OpCode;
use crate::jute::data::{Acl, Id};
use crate::jute::txn::{CreateTxn, TxnBody, TxnEntry, TxnHeader};

fn packet(t: i32, data: Option<&[u8]>, authinfo: Option<Vec<Id>>) -> QuorumPacket {
    QuorumPacket {
        packet_type: t,
        zxid: 0x1_0000_0002,
        data: data.map(Bytes::copy_from_slice),
        authinfo,
    }
}

#[test]
fn every_prefix_is_incomplete_and_the_whole_decodes() {
    let p = packet(
        1,
        Some(b"0123456789abcdefgh"),
        Some(vec![Id {
            scheme: "digest".into(),
            id: "u:x".into(),
        }]),
    );
    let mut bytes = p.to_vec();
    let len = bytes.len();
    for cut in 0..len {
        assert!(decode_packet(&bytes[..cut], DEFAULT_MAX_ITEM)
            .unwrap()
            .is_none());
    }
    bytes.extend_from_slice(&[0, 0, 0, 3]);
    let (got, used) = decode_packet(&bytes, DEFAULT_MAX_ITEM).unwrap().unwrap();
    assert_eq!((got, used), (p, len));
}

#[test]
fn lengths_the_reference_refuses_are_errors_before_the_bytes_arrive() {
    let mut head = [0u8; 12].to_vec();
    head.extend_from_slice(&(DEFAULT_MAX_ITEM as i32 + 1).to_be_bytes());
    assert!(matches!(
        decode_packet(&head, DEFAULT_MAX_ITEM),
        Err(StreamError::UnreasonableLength { .. })
    ));
    // exactly the cap is fine: incomplete until it all arrives
    let mut head = [0u8; 12].to_vec();
    head.extend_from_slice(&(DEFAULT_MAX_ITEM as i32).to_be_bytes());
    assert!(decode_packet(&head, DEFAULT_MAX_ITEM).unwrap().is_none());
    let mut head = [0u8; 12].to_vec();
    head.extend_from_slice(&(-2i32).to_be_bytes());
    assert!(decode_packet(&head, DEFAULT_MAX_ITEM).is_err());
    // a huge authinfo count
    let mut bytes = packet(3, None, None).to_vec();
    let n = bytes.len();
    bytes[n - 4..].copy_from_slice(&0x7fff_ffffi32.to_be_bytes());
    assert!(decode_packet(&bytes, DEFAULT_MAX_ITEM).is_err());
}

#[test]
fn codec_splits_a_stream_of_packets() {
    let mut codec = QuorumCodec::default();
    let a = packet(5, None, None);
    let b = packet(2, Some(b"xyz"), Some(vec![]));
    let mut buf = BytesMut::new();
    codec.encode(&a, &mut buf).unwrap();
    codec.encode(&b, &mut buf).unwrap();
    let tail = buf.split_off(buf.len() - 3);
    assert_eq!(codec.decode(&mut buf).unwrap(), Some(a));
    assert_eq!(codec.decode(&mut buf).unwrap(), None);
    buf.extend_from_slice(&tail);
    assert_eq!(codec.decode(&mut buf).unwrap(), Some(b));
    assert!(buf.is_empty());
}

fn small_tree() -> DataTree {
    let mut t = DataTree::with_options(TreeOptions::default());
    for (i, path) in ["/a", "/a/b", "/c"].iter().enumerate() {
        let zxid = 0x1_0000_0001 + i as i64;
        t.apply(&TxnEntry {
            header: TxnHeader {
                client_id: 0,
                cxid: 1,
                zxid,
                time: 1000,
                op: OpCode::CREATE,
            },
            body: TxnBody::Create(CreateTxn {
                path: (*path).into(),
                data: Some(Bytes::copy_from_slice(path.as_bytes())),
                acl: Acl::open_unsafe(),
                ephemeral: false,
                parent_cversion: -1,
            }),
            digest: None,
        });
    }
    t
}

#[test]
fn snap_payload_round_trip_stops_at_its_end() {
    let tree = small_tree();
    let mut buf = Vec::new();
    write_snap_payload(&tree, &[(7, 4000)], &mut buf).unwrap();
    assert!(buf.ends_with(b"\0\0\0\x0aBenWasHere"));
    let after = packet(10, None, None).to_vec();
    buf.extend_from_slice(&after);
    let mut input = &buf[..];
    let snap = read_snap_payload(&mut input, 0x1_0000_0003, TreeOptions::default()).unwrap();
    assert_eq!(input, &after[..]);
    assert_eq!(snap.sessions, vec![(7, 4000)]);
    assert_eq!(snap.tree.last_processed_zxid(), 0x1_0000_0003);
    assert_eq!(snap.tree.digest(), tree.digest());
    assert_eq!(snap.tree.node_count(), tree.node_count());
    assert_eq!(
        snap.tree.node("/a/b").unwrap().data.as_deref(),
        Some(&b"/a/b"[..])
    );
}

#[test]
fn a_wrong_signature_or_truncation_is_an_error() {
    let tree = small_tree();
    let mut buf = Vec::new();
    write_snap_payload(&tree, &[], &mut buf).unwrap();
    let n = buf.len();
    buf[n - 1] = b'X';
    let r = read_snap_payload(&mut &buf[..], 1, TreeOptions::default());
    assert!(matches!(r, Err(SnapPayloadError::MissingSignature(_))));
    buf[n - 11] = 0x7f; // the signature's length
    let r = read_snap_payload(&mut &buf[..], 1, TreeOptions::default());
    assert!(matches!(r, Err(SnapPayloadError::MissingSignature(_))));
    for cut in [0, 3, n / 2, n - 1] {
        assert!(read_snap_payload(&mut &buf[..cut], 1, TreeOptions::default()).is_err());
    }
}

/// Dozens of nodes in a few directories under several ACLs, an ephemeral among them.
fn tree_with_acls() -> DataTree {
    let mut t = DataTree::with_options(TreeOptions::default());
    let acls = [
        Acl::open_unsafe(),
        Acl::read_unsafe(),
        vec![Acl::new(0x1f, "digest", "u:1")],
        vec![
            Acl::new(0x01, "ip", "10.0.0.1"),
            Acl::new(0x1f, "world", "anyone"),
        ],
    ];
    let mut zxid = 0x1_0000_0000;
    let mut paths = vec!["/a".to_string(), "/b".to_string()];
    for i in 0..40 {
        paths.push(format!("/{}/n{i}", if i % 3 == 0 { "a" } else { "b" }));
    }
    for (i, path) in paths.iter().enumerate() {
        zxid += 1;
        let parent = path.rsplit_once('/').map_or("/", |(p, _)| p);
        let parent = if parent.is_empty() { "/" } else { parent };
        let cv = t.node(parent).map_or(0, |n| n.stat.cversion);
        t.apply(&TxnEntry {
            header: TxnHeader {
                client_id: if i == 7 { 0x77 } else { 0 },
                cxid: 1,
                zxid,
                time: 1000 + zxid,
                op: OpCode::CREATE,
            },
            body: TxnBody::Create(CreateTxn {
                path: path.clone(),
                data: Some(Bytes::copy_from_slice(path.as_bytes())),
                acl: acls[i % acls.len()].clone(),
                ephemeral: i == 7,
                parent_cversion: cv + 1,
            }),
            digest: None,
        });
    }
    t
}

#[test]
fn sliced_payload_of_a_still_tree_is_the_one_buffer_payload() {
    let tree = tree_with_acls();
    let sessions = [(0x77, 4000), (0x12, 30_000), (-5, 6000)];
    let mut whole = Vec::new();
    write_snap_payload(&tree, &sessions, &mut whole).unwrap();
    for (units, bytes) in [
        (1, usize::MAX),
        (3, usize::MAX),
        (2_000, usize::MAX),
        (50, 200),
    ] {
        let mut out = Vec::new();
        let mut job = SnapPayloadJob::start(&tree, &sessions, &mut out).unwrap();
        assert_eq!(job.zxid(), tree.last_processed_zxid());
        let mut steps = 0;
        while !job.is_done() {
            let mut chunk = Vec::new();
            let budget = StepBudget {
                max_units: units,
                max_bytes: bytes,
                deadline: None,
            };
            job.step(&tree, &mut chunk, budget).unwrap();
            out.extend_from_slice(&chunk);
            steps += 1;
            assert!(steps < 10_000, "the job ends");
        }
        let (nodes, replaced) = job.finish(&mut out);
        // the 42 created, "/zookeeper" and its children, the root
        assert!(nodes > 42, "{units} units: {nodes} nodes");
        assert_eq!(replaced, 0);
        assert_eq!(out, whole, "{units} units per step, {bytes} bytes");
        if units == 1 {
            assert!(steps > 40, "one node per step: {steps} steps");
        }
    }
}
