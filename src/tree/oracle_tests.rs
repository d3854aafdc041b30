//! The scenario of a small Java program driving `org.apache.zookeeper.server.DataTree` of the
//! Debian zookeeper 3.8.0 jar (`processTxn` per txn, then `getTreeDigest`,
//! `cachedApproximateDataSize`, `getNodeCount`, `DataNode#copyStat`); every expected number
//! below is what that program printed. Txn time = 1000 + zxid, session 0x100.

use bytes::Bytes;

use super::*;
use crate::jute::codes::OpCode;
use crate::jute::data::Acl;
use crate::jute::txn::*;

pub(super) const SESSION: i64 = 0x100;

pub(super) fn entry(op: OpCode, zxid: i64, body: TxnBody) -> TxnEntry {
    TxnEntry {
        header: TxnHeader {
            client_id: SESSION,
            cxid: 1,
            zxid,
            time: 1000 + zxid,
            op,
        },
        body,
        digest: None,
    }
}

pub(super) fn data(s: &str) -> Option<Bytes> {
    Some(Bytes::copy_from_slice(s.as_bytes()))
}

pub(super) fn create(path: &str, d: Option<Bytes>, ephemeral: bool, pcv: i32) -> TxnBody {
    TxnBody::Create(CreateTxn {
        path: path.into(),
        data: d,
        acl: Acl::open_unsafe(),
        ephemeral,
        parent_cversion: pcv,
    })
}

fn delete(path: &str) -> TxnBody {
    TxnBody::Delete(DeleteTxn { path: path.into() })
}

fn set_data(path: &str, d: &str, version: i32) -> TxnBody {
    TxnBody::SetData(SetDataTxn {
        path: path.into(),
        data: data(d),
        version,
    })
}

fn error(err: i32) -> TxnBody {
    TxnBody::Error(ErrorTxn { err })
}

/// `czxid,mzxid,ctime,mtime,version,cversion,aversion,ephemeralOwner,dataLength,numChildren,pzxid`
fn stat_line(t: &DataTree, path: &str) -> String {
    let s = t.stat(path).unwrap();
    format!(
        "{},{},{},{},{},{},{},{},{},{},{}",
        s.czxid,
        s.mzxid,
        s.ctime,
        s.mtime,
        s.version,
        s.cversion,
        s.aversion,
        s.ephemeral_owner,
        s.data_length,
        s.num_children,
        s.pzxid
    )
}

fn ext_tree() -> DataTree {
    DataTree::with_options(TreeOptions {
        digest_enabled: true,
        ephemeral: EphemeralOptions {
            extended_types_enabled: true,
            emulate_353_ttl: false,
        },
    })
}

#[test]
fn matches_reference_datatree() {
    check_against_reference(false);
}

/// Start-up replay (encoded, decoded borrowing, `apply_replay`) ends in the same tree.
#[test]
fn replay_matches_reference_datatree() {
    check_against_reference(true);
}

fn check_against_reference(replay: bool) {
    let mut t = ext_tree();
    assert_eq!(
        (t.digest(), t.node_count(), t.approximate_data_size()),
        (1371985504, 5, 44)
    );
    assert_eq!(t.all_children_number("/"), Some(3));
    let limits = "count=-1,bytes=-1=;byteHardLimit=-1;countHardLimit=3";
    let steps: Vec<(OpCode, TxnBody, i32, i64, i64, usize)> = vec![
        (
            OpCode::CREATE_SESSION,
            TxnBody::CreateSession(CreateSessionTxn { time_out: 30000 }),
            0,
            1371985504,
            44,
            5,
        ),
        (
            OpCode::CREATE,
            create("/a", data("hello"), false, 1),
            0,
            3891024181,
            51,
            6,
        ),
        (
            OpCode::CREATE2,
            create("/a/b", data("x"), true, 1),
            0,
            6737189294,
            56,
            7,
        ),
        (
            OpCode::CREATE_CONTAINER,
            TxnBody::CreateContainer(CreateContainerTxn {
                path: "/c".into(),
                data: data("c"),
                acl: Acl::open_unsafe(),
                parent_cversion: 2,
            }),
            0,
            9327645139,
            59,
            8,
        ),
        (
            OpCode::CREATE_TTL,
            TxnBody::CreateTtl(CreateTtlTxn {
                path: "/t".into(),
                data: None,
                acl: Acl::open_unsafe(),
                parent_cversion: 3,
                ttl: 5000,
            }),
            0,
            11645680510,
            61,
            9,
        ),
        (
            OpCode::SET_DATA,
            set_data("/a", "world!", 1),
            0,
            10073218287,
            62,
            9,
        ),
        (
            OpCode::SET_ACL,
            TxnBody::SetAcl(SetAclTxn {
                path: "/a".into(),
                acl: Acl::read_unsafe(),
                version: 1,
            }),
            0,
            10331629742,
            62,
            9,
        ),
        (OpCode::DELETE, delete("/a/b"), 0, 10512124889, 57, 8),
        (
            OpCode::CREATE,
            create("/a/s0000000001", data(""), false, 2),
            0,
            12653616357,
            71,
            9,
        ),
        (
            OpCode::SET_DATA,
            set_data("/", "root", 1),
            0,
            12657093669,
            75,
            9,
        ),
        (
            OpCode::CREATE,
            create("/zookeeper/quota/a", None, false, -1),
            0,
            12657093669,
            93,
            10,
        ),
        (
            OpCode::CREATE,
            create(
                "/zookeeper/quota/a/zookeeper_limits",
                data(limits),
                false,
                -1,
            ),
            0,
            12657093669,
            180,
            11,
        ),
        (
            OpCode::CREATE,
            create(
                "/zookeeper/quota/a/zookeeper_stats",
                data("count=0,bytes=0"),
                false,
                -1,
            ),
            0,
            12657093669,
            229,
            12,
        ),
        (
            OpCode::CREATE,
            create("/a/q", data("12345"), false, 3),
            0,
            12714638076,
            238,
            13,
        ),
        (
            OpCode::MULTI,
            TxnBody::Multi(vec![
                (OpCode::CREATE, create("/m", data("mm"), false, 4)),
                (OpCode::SET_DATA, set_data("/a", "xy", 2)),
                (OpCode::DELETE, delete("/a/q")),
                (
                    OpCode::CHECK,
                    TxnBody::Check(CheckVersionTxn {
                        path: "/a".into(),
                        version: 3,
                    }),
                ),
            ]),
            0,
            11696339329,
            229,
            13,
        ),
        (
            OpCode::MULTI,
            TxnBody::Multi(vec![
                (OpCode::ERROR, error(0)),
                (OpCode::ERROR, error(-101)),
                (OpCode::ERROR, error(-2)),
            ]),
            -101,
            11696339329,
            229,
            13,
        ),
        (
            OpCode::CREATE,
            create("/a/e2", data("e"), true, 4),
            0,
            12635782968,
            235,
            14,
        ),
        (
            OpCode::CREATE,
            create("/c/e3", None, true, 1),
            0,
            16068754628,
            240,
            15,
        ),
        (
            OpCode::CLOSE_SESSION,
            TxnBody::CloseSession(Some(CloseSessionTxn {
                paths2_delete: vec!["/a/e2".into()],
            })),
            0,
            11312741702,
            229,
            13,
        ),
        (
            OpCode::CREATE,
            create("/a", data("hello"), false, 10),
            -110,
            11412733747,
            229,
            13,
        ),
        (OpCode::DELETE, delete("/a/zz"), -101, 10124949875, 229, 13),
        (
            OpCode::DELETE,
            delete("/nope/x"),
            -101,
            10124949875,
            229,
            13,
        ),
        (OpCode::ERROR, error(-110), -110, 10124949875, 229, 13),
    ];
    for (i, (op, body, err, digest, size, count)) in steps.into_iter().enumerate() {
        let zxid = i as i64 + 1;
        let e = entry(op, zxid, body);
        let err = if replay {
            let bytes = e.to_vec();
            t.apply_replay(&crate::jute::txn_ref::TxnEntryRef::decode(&bytes).unwrap());
            err
        } else {
            t.apply(&e).err.0
        };
        let got = (err, t.digest(), t.approximate_data_size(), t.node_count());
        assert_eq!(got, (err, digest, size, count), "step zxid {zxid}");
        if zxid == 13 {
            let stats = t.node("/zookeeper/quota/a/zookeeper_stats").unwrap();
            assert_eq!(stats.data.as_deref(), Some(&b"count=2,bytes=6"[..]));
        }
        if zxid == 14 {
            let stats = t.node("/zookeeper/quota/a/zookeeper_stats").unwrap();
            assert_eq!(stats.data.as_deref(), Some(&b"count=3,bytes=11"[..]));
        }
    }
    let expected = [
        ("/", "0,10,0,1010,1,15,0,0,4,5,20", 10, -1),
        ("/zookeeper", "0,0,0,0,0,-2,0,0,0,2,0", 0, -1),
        ("/zookeeper/quota", "0,0,0,0,0,1,0,0,0,1,11", 1, -1),
        ("/zookeeper/config", "0,0,0,0,0,0,-1,0,0,0,0", 0, 1),
        ("/a", "2,15,1002,1015,2,7,1,0,2,1,21", 4, 1),
        ("/c", "4,4,1004,1004,0,2,0,0,1,0,19", 1, 2),
        ("/t", "5,5,1005,1005,0,0,0,0,0,0,5", 0, 2),
        ("/a/s0000000001", "9,9,1009,1009,0,0,0,0,0,0,9", 0, 2),
        ("/m", "15,15,1015,1015,0,0,0,0,2,0,15", 0, 2),
        ("/zookeeper/quota/a", "11,11,1011,1011,0,2,0,0,0,2,13", 2, 2),
        (
            "/zookeeper/quota/a/zookeeper_limits",
            "12,12,1012,1012,0,0,0,0,52,0,12",
            0,
            2,
        ),
        (
            "/zookeeper/quota/a/zookeeper_stats",
            "13,13,1013,1013,0,0,0,0,15,0,13",
            0,
            2,
        ),
    ];
    for (path, line, stored_cversion, acl_id) in expected {
        assert_eq!(stat_line(&t, path), line, "{path}");
        let n = t.node(path).unwrap();
        assert_eq!(
            (n.stat.cversion, n.acl_id()),
            (stored_cversion, acl_id),
            "{path}"
        );
    }
    assert_eq!(t.node("/c").unwrap().stat.ephemeral_owner, i64::MIN);
    assert_eq!(
        t.node("/t").unwrap().stat.ephemeral_owner,
        -72057594037922936
    );
    assert!(t.node("/t").unwrap().data.is_none());
    assert_eq!(t.node("/").unwrap().data.as_deref(), Some(&b"root"[..]));
    let stats = t.node("/zookeeper/quota/a/zookeeper_stats").unwrap();
    assert_eq!(stats.data.as_deref(), Some(&b"count=2,bytes=2"[..]));
    for gone in ["/a/b", "/c/e3", "/a/e2"] {
        assert!(t.node(gone).is_none());
    }
    assert_eq!(t.full_data_size(), 233);
    assert_eq!(t.all_children_number("/"), Some(11));
    assert_eq!(t.all_children_number("/a"), Some(1));
    assert_eq!(t.last_processed_zxid(), 23);
    let acls: Vec<(i64, Vec<Acl>)> = t
        .acl_cache()
        .iter()
        .map(|(i, l)| (i, (**l).clone()))
        .collect();
    assert_eq!(acls, vec![(1, Acl::read_unsafe()), (2, Acl::open_unsafe())]);
    assert_eq!(t.containers(), vec!["/c".to_string()]);
    assert_eq!(t.ttls(), vec!["/t".to_string()]);
    assert!(t.sessions_with_ephemerals().is_empty());
}
