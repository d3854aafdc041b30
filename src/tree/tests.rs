//! Behaviour of `DataTree::apply` per txn type, as `DataTree#processTxn` of 3.8.0 behaves.

use super::oracle_tests::{create, data, entry, SESSION};
use super::*;
use crate::jute::codes::{perms, OpCode};
use crate::jute::txn::*;
use std::sync::Arc;

/// A trigger on a node with the open ACL (every node these tests create has it).
fn trig(path: &str, event: EventType) -> WatchTrigger {
    WatchTrigger {
        path: path.into(),
        event,
        acl: Arc::new(Acl::open_unsafe()),
    }
}

fn tree() -> DataTree {
    DataTree::new(true)
}

#[test]
fn fresh_tree_layout() {
    let t = tree();
    assert_eq!(t.children("/").unwrap(), vec!["zookeeper"]);
    assert_eq!(t.children("/zookeeper").unwrap(), vec!["config", "quota"]);
    assert_eq!(t.node("").unwrap().stat, t.node("/").unwrap().stat);
    assert_eq!(t.all_children_number("/zookeeper"), Some(2));
    assert_eq!(t.all_children_number("/nope"), None);
    // the root's "" key counts the "/" alias as a descendant (`DataTree#getAllChildrenNumber`)
    let from_root = t.all_children_number("/").unwrap_or_default();
    assert_eq!(t.all_children_number(""), Some(from_root + 1));
    assert_eq!(t.node("/zookeeper/config").unwrap().acl_id(), 1);
    assert_eq!(t.node("/").unwrap().acl_id(), OPEN_UNSAFE_ACL_ID);
    assert_eq!(DataTree::new(false).digest(), 0);
}

#[test]
fn create_sets_stat_and_fires_created_and_children_changed() {
    let mut t = tree();
    let a = t.apply(&entry(
        OpCode::CREATE2,
        5,
        create("/a", data("v"), false, 1),
    ));
    let stat = match a.result {
        AppliedResult::Created { path, stat } => {
            assert_eq!(path, "/a");
            stat
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(a.err, ErrorCode::OK);
    assert_eq!((stat.czxid, stat.mzxid, stat.pzxid), (5, 5, 5));
    assert_eq!((stat.ctime, stat.mtime, stat.data_length), (1005, 1005, 1));
    assert_eq!((stat.version, stat.cversion, stat.aversion), (0, 0, 0));
    assert_eq!(
        a.triggers,
        vec![
            trig("/a", EventType::NODE_CREATED),
            trig("/", EventType::NODE_CHILDREN_CHANGED)
        ]
    );
    let root = t.node("/").unwrap();
    assert_eq!((root.stat.cversion, root.stat.pzxid), (1, 5));
    // parentCVersion -1 means "current + 1"; a lower one leaves cversion and pzxid alone.
    t.apply(&entry(OpCode::CREATE, 6, create("/a/x", None, false, -1)));
    t.apply(&entry(OpCode::CREATE, 7, create("/a/y", None, false, 1)));
    let a = t.node("/a").unwrap();
    assert_eq!((a.stat.cversion, a.stat.pzxid), (1, 6));
    assert_eq!(t.stat("/a").unwrap().cversion, 0); // 2 * 1 - 2 children
    assert_eq!(t.last_processed_zxid(), 7);
}

#[test]
fn ephemeral_owner_encodings() {
    let mut t = DataTree::with_options(TreeOptions {
        digest_enabled: true,
        ephemeral: EphemeralOptions {
            extended_types_enabled: true,
            emulate_353_ttl: false,
        },
    });
    t.apply(&entry(OpCode::CREATE, 2, create("/e", None, true, 1)));
    let ttl = TxnBody::CreateTtl(CreateTtlTxn {
        path: "/t".into(),
        data: None,
        acl: Acl::open_unsafe(),
        parent_cversion: 2,
        ttl: 100,
    });
    t.apply(&entry(OpCode::CREATE_TTL, 3, ttl));
    assert_eq!(t.stat("/e").unwrap().ephemeral_owner, SESSION);
    assert_eq!(t.node("/t").unwrap().ephemeral_type(), EphemeralType::Ttl);
    assert_eq!(t.stat("/t").unwrap().ephemeral_owner, 0);
    assert_eq!(t.ephemerals(SESSION), vec!["/e"]);
    assert_eq!(t.ttls(), vec!["/t"]);
    assert_eq!(t.ephemerals_count(), 1);
    let bad_ttl = TxnBody::CreateTtl(CreateTtlTxn {
        path: "/u".into(),
        data: None,
        acl: Acl::open_unsafe(),
        parent_cversion: 3,
        ttl: 0,
    });
    let a = t.apply(&entry(OpCode::CREATE_TTL, 4, bad_ttl));
    assert_eq!(a.err, ErrorCode::BAD_ARGUMENTS);
    assert!(t.node("/u").is_none());
}

#[test]
fn delete_moves_parent_pzxid_only() {
    let mut t = tree();
    t.apply(&entry(OpCode::CREATE, 2, create("/a", None, false, 1)));
    t.apply(&entry(OpCode::CREATE, 3, create("/a/b", None, false, 1)));
    let d = TxnBody::Delete(DeleteTxn {
        path: "/a/b".into(),
    });
    let a = t.apply(&entry(OpCode::DELETE, 4, d.clone()));
    assert_eq!((a.err, a.result), (ErrorCode::OK, AppliedResult::Deleted));
    assert_eq!(
        a.triggers,
        vec![
            trig("/a/b", EventType::NODE_DELETED),
            trig("/a", EventType::NODE_CHILDREN_CHANGED)
        ]
    );
    let n = t.node("/a").unwrap();
    assert_eq!((n.stat.cversion, n.stat.pzxid), (1, 4));
    assert_eq!(t.stat("/a").unwrap().cversion, 2);
    // replay: NoNode, no triggers, but the parent's pzxid still moves forward
    let again = t.apply(&entry(OpCode::DELETE, 9, d));
    assert_eq!(again.err, ErrorCode::NO_NODE);
    assert!(again.triggers.is_empty());
    assert_eq!(t.node("/a").unwrap().stat.pzxid, 9);
}

/// Each event carries the ACL 3.8.4+ checks READ on before delivery: the node's own for
/// NodeCreated / NodeDataChanged / NodeDeleted (as it was at the change), the parent's for
/// NodeChildrenChanged.
#[test]
fn triggers_carry_the_acl_the_watcher_needs_read_on() {
    let mut t = tree();
    let no_read = vec![Acl::new(perms::ALL & !perms::READ, "world", "anyone")];
    let digest = vec![Acl::new(perms::ALL, "digest", "u:x")];
    let acl_create = |path: &str, acl: &[Acl]| {
        TxnBody::Create(CreateTxn {
            path: path.into(),
            data: None,
            acl: acl.to_vec(),
            ephemeral: false,
            parent_cversion: -1,
        })
    };
    let acls = |a: &Applied| -> Vec<(String, EventType, Vec<Acl>)> {
        a.triggers
            .iter()
            .map(|t| (t.path.clone(), t.event, t.acl.to_vec()))
            .collect()
    };
    let open = Acl::open_unsafe();
    t.apply(&entry(OpCode::CREATE, 2, acl_create("/p", &digest)));
    let a = t.apply(&entry(OpCode::CREATE, 3, acl_create("/p/c", &no_read)));
    assert_eq!(
        acls(&a),
        vec![
            ("/p/c".into(), EventType::NODE_CREATED, no_read.clone()),
            (
                "/p".into(),
                EventType::NODE_CHILDREN_CHANGED,
                digest.clone()
            ),
        ]
    );
    let sd = TxnBody::SetData(SetDataTxn {
        path: "/p/c".into(),
        data: None,
        version: 1,
    });
    let a = t.apply(&entry(OpCode::SET_DATA, 4, sd));
    assert_eq!(
        acls(&a),
        vec![("/p/c".into(), EventType::NODE_DATA_CHANGED, no_read.clone())]
    );
    // a setACL fires nothing, and what fires later is checked against the new list
    let sa = TxnBody::SetAcl(SetAclTxn {
        path: "/p/c".into(),
        acl: open.clone(),
        version: 1,
    });
    assert!(t.apply(&entry(OpCode::SET_ACL, 5, sa)).triggers.is_empty());
    let d = TxnBody::Delete(DeleteTxn {
        path: "/p/c".into(),
    });
    let a = t.apply(&entry(OpCode::DELETE, 6, d));
    assert_eq!(
        acls(&a),
        vec![
            ("/p/c".into(), EventType::NODE_DELETED, open),
            ("/p".into(), EventType::NODE_CHILDREN_CHANGED, digest),
        ]
    );
}

#[test]
fn set_data_and_set_acl() {
    let mut t = tree();
    t.apply(&entry(OpCode::CREATE, 2, create("/a", data("1"), false, 1)));
    let sd = TxnBody::SetData(SetDataTxn {
        path: "/a".into(),
        data: data("123"),
        version: 7,
    });
    let a = t.apply(&entry(OpCode::SET_DATA, 3, sd));
    let AppliedResult::DataSet(s) = a.result else {
        panic!("{:?}", a.result)
    };
    assert_eq!(
        (s.version, s.mzxid, s.mtime, s.data_length),
        (7, 3, 1003, 3)
    );
    assert_eq!((s.czxid, s.ctime), (2, 1002));
    assert_eq!(a.triggers, vec![trig("/a", EventType::NODE_DATA_CHANGED)]);
    let sa = TxnBody::SetAcl(SetAclTxn {
        path: "/a".into(),
        acl: Acl::read_unsafe(),
        version: 4,
    });
    let a = t.apply(&entry(OpCode::SET_ACL, 4, sa));
    let AppliedResult::AclSet(s) = a.result else {
        panic!("{:?}", a.result)
    };
    assert_eq!((s.aversion, s.mzxid), (4, 3));
    assert!(a.triggers.is_empty());
    // shares the /zookeeper/config list
    let config = t.node("/zookeeper/config").unwrap();
    assert!(Arc::ptr_eq(&t.node("/a").unwrap().acl, &config.acl));
    let missing = TxnBody::SetData(SetDataTxn {
        path: "/zz".into(),
        data: None,
        version: 1,
    });
    assert_eq!(
        t.apply(&entry(OpCode::SET_DATA, 5, missing)).err,
        ErrorCode::NO_NODE
    );
}

#[test]
fn close_session_deletes_txn_paths_then_the_rest() {
    let mut t = tree();
    t.apply(&entry(OpCode::CREATE, 2, create("/p", None, false, 1)));
    t.apply(&entry(OpCode::CREATE, 3, create("/p/e1", None, true, 1)));
    t.apply(&entry(OpCode::CREATE, 4, create("/p/e2", None, true, 2)));
    t.apply(&entry(OpCode::CREATE, 5, create("/e3", None, true, 3)));
    // Java's HashSet iterates these as /p/e2, /p/e1, /e3
    assert_eq!(
        t.ephemerals_by_prefix(SESSION, "/p"),
        vec!["/p/e2", "/p/e1"]
    );
    assert_eq!(t.ephemerals_by_prefix(SESSION, " / ").len(), 3);
    let close = TxnBody::CloseSession(Some(CloseSessionTxn {
        paths2_delete: vec!["/p/e2".into(), "/gone".into()],
    }));
    let a = t.apply(&entry(OpCode::CLOSE_SESSION, 6, close));
    assert_eq!((a.err, a.result), (ErrorCode::OK, AppliedResult::None));
    assert_eq!(
        a.triggers,
        vec![
            trig("/p/e2", EventType::NODE_DELETED),
            trig("/p", EventType::NODE_CHILDREN_CHANGED),
            trig("/p/e1", EventType::NODE_DELETED),
            trig("/p", EventType::NODE_CHILDREN_CHANGED),
            trig("/e3", EventType::NODE_DELETED),
            trig("/", EventType::NODE_CHILDREN_CHANGED),
        ]
    );
    assert!(t.ephemerals(SESSION).is_empty());
    assert!(t.sessions_with_ephemerals().is_empty());
    assert_eq!(t.node("/p").unwrap().stat.pzxid, 6);
}

/// Orders printed by OpenJDK 17 for the same HashSet operations.
#[test]
fn close_session_lists_paths_in_java_order() {
    let mut t = tree();
    t.apply(&entry(
        OpCode::CREATE,
        2,
        create("/zookeeper/quota/a", None, false, 1),
    ));
    let limits = "/zookeeper/quota/a/zookeeper_limits";
    t.apply(&entry(OpCode::CREATE, 3, create(limits, None, true, 1)));
    t.apply(&entry(OpCode::CREATE, 4, create("/a", None, true, 1)));
    t.apply(&entry(OpCode::CREATE, 5, create("/b", None, true, 1)));
    assert_eq!(t.ephemerals(SESSION), vec![limits, "/a", "/b"]);
    // a pending delete of /b, then pending creates of /c and a node under the quota
    let pending = [("/b", false), ("/c", true), ("/zookeeper/quota/a/x", true)];
    assert_eq!(
        t.close_session_paths(SESSION, pending),
        vec![limits, "/zookeeper/quota/a/x", "/a", "/c"]
    );
    assert_eq!(t.close_session_paths(0x99, [("/x", true)]), vec!["/x"]);
}

#[test]
fn emptied_session_entry_stays_until_close() {
    let mut t = tree();
    t.apply(&entry(OpCode::CREATE, 2, create("/e", None, true, 1)));
    t.apply(&entry(
        OpCode::DELETE,
        3,
        TxnBody::Delete(DeleteTxn { path: "/e".into() }),
    ));
    assert_eq!(t.sessions_with_ephemerals(), vec![(SESSION, vec![])]);
    t.apply(&entry(
        OpCode::CLOSE_SESSION,
        4,
        TxnBody::CloseSession(None),
    ));
    assert!(t.sessions_with_ephemerals().is_empty());
}

#[test]
fn multi_results_and_failed_multi() {
    let mut t = tree();
    let ok = TxnBody::Multi(vec![
        (OpCode::CREATE, create("/m", None, false, 1)),
        (
            OpCode::DELETE,
            TxnBody::Delete(DeleteTxn { path: "/m".into() }),
        ),
        (
            OpCode::CHECK,
            TxnBody::Check(CheckVersionTxn {
                path: "/".into(),
                version: 1,
            }),
        ),
    ]);
    let a = t.apply(&entry(OpCode::MULTI, 2, ok));
    let AppliedResult::Multi(r) = &a.result else {
        panic!("{:?}", a.result)
    };
    assert_eq!(r.len(), 3);
    assert!(matches!(
        r[0],
        (ErrorCode::OK, AppliedResult::Created { .. })
    ));
    assert_eq!(r[1], (ErrorCode::OK, AppliedResult::Deleted));
    assert_eq!(r[2], (ErrorCode::OK, AppliedResult::Checked));
    assert_eq!(a.triggers.len(), 4);
    let digest = t.digest();
    // A non-error sub-txn next to an ErrorTxn is not applied (OK before, -2 after the error).
    let failed = TxnBody::Multi(vec![
        (OpCode::CREATE, create("/x", None, false, 2)),
        (OpCode::ERROR, TxnBody::Error(ErrorTxn { err: -101 })),
        (OpCode::CREATE, create("/y", None, false, 2)),
    ]);
    let a = t.apply(&entry(OpCode::MULTI, 3, failed));
    assert_eq!(a.err, ErrorCode::NO_NODE);
    let codes: Vec<i32> = match &a.result {
        AppliedResult::Multi(r) => r.iter().map(|(e, _)| e.0).collect(),
        other => panic!("{other:?}"),
    };
    assert_eq!(codes, vec![0, -101, -2]);
    assert!(a.triggers.is_empty());
    assert!(t.node("/x").is_none() && t.node("/y").is_none());
    assert_eq!(t.digest(), digest);
    assert_eq!(t.last_processed_zxid(), 3);
}

#[test]
fn replay_is_idempotent_and_never_panics() {
    let mut t = tree();
    let txns = [
        entry(OpCode::CREATE, 2, create("/a", data("x"), false, 1)),
        entry(OpCode::CREATE, 3, create("/a/b", None, true, 1)),
        entry(OpCode::CLOSE_SESSION, 4, TxnBody::CloseSession(None)),
        entry(OpCode::CREATE, 5, create("/a/c/d", None, false, 1)),
    ];
    for e in &txns {
        t.apply(e);
    }
    let digest = t.digest();
    let errs: Vec<i32> = txns.iter().map(|e| t.apply(e).err.0).collect();
    assert_eq!(errs, vec![-110, 0, 0, -101]);
    // the replayed /a/b was re-created then removed by the replayed closeSession
    assert!(t.node("/a/b").is_none());
    assert_eq!(t.digest(), digest); // replays never move cversion/pzxid backwards
    assert_eq!(t.node("/").unwrap().stat.cversion, 1);
}

#[test]
fn quota_tracking_and_hard_limits() {
    let mut t = tree();
    t.apply(&entry(
        OpCode::CREATE,
        2,
        create("/q", data("ab"), false, 1),
    ));
    t.apply(&entry(
        OpCode::CREATE,
        3,
        create("/zookeeper/quota/q", None, false, -1),
    ));
    let limits = "count=-1,bytes=-1=;byteHardLimit=10;countHardLimit=2";
    t.apply(&entry(
        OpCode::CREATE,
        4,
        create(
            "/zookeeper/quota/q/zookeeper_limits",
            data(limits),
            false,
            -1,
        ),
    ));
    assert!(!t.quota_exceeded("/q/x", 1, 0)); // no stats node yet: reference logs and allows
    t.apply(&entry(
        OpCode::CREATE,
        5,
        create(
            "/zookeeper/quota/q/zookeeper_stats",
            data("count=0,bytes=0"),
            false,
            -1,
        ),
    ));
    let stats = |t: &DataTree| {
        let n = t.node("/zookeeper/quota/q/zookeeper_stats").unwrap();
        String::from_utf8(n.data.clone().unwrap().to_vec()).unwrap()
    };
    assert_eq!(stats(&t), "count=1,bytes=2");
    assert!(!t.quota_exceeded("/q/x", 1, 3));
    assert!(t.quota_exceeded("/q/x", 0, 9));
    t.apply(&entry(
        OpCode::CREATE,
        6,
        create("/q/x", data("123"), false, 1),
    ));
    assert_eq!(stats(&t), "count=2,bytes=5");
    assert!(t.quota_exceeded("/q/x/y", 1, 0));
    assert!(!t.quota_exceeded("/other", 1, 100));
    let sd = TxnBody::SetData(SetDataTxn {
        path: "/q/x".into(),
        data: data("1"),
        version: 1,
    });
    t.apply(&entry(OpCode::SET_DATA, 7, sd));
    assert_eq!(stats(&t), "count=2,bytes=3");
    t.apply(&entry(
        OpCode::DELETE,
        8,
        TxnBody::Delete(DeleteTxn {
            path: "/q/x".into(),
        }),
    ));
    assert_eq!(stats(&t), "count=1,bytes=2");
    // deleting the limits node stops tracking
    let del = DeleteTxn {
        path: "/zookeeper/quota/q/zookeeper_limits".into(),
    };
    t.apply(&entry(OpCode::DELETE, 9, TxnBody::Delete(del)));
    t.apply(&entry(
        OpCode::CREATE,
        10,
        create("/q/z", data("zz"), false, 2),
    ));
    assert_eq!(stats(&t), "count=1,bytes=2");
}

#[test]
fn multi_stops_at_an_op_the_reference_rejects() {
    let mut t = tree();
    let m = TxnBody::Multi(vec![
        (OpCode::CREATE, create("/a", None, false, 1)),
        (
            OpCode::SET_ACL,
            TxnBody::SetAcl(SetAclTxn {
                path: "/a".into(),
                acl: vec![],
                version: 1,
            }),
        ),
        (OpCode::CREATE, create("/b", None, false, 2)),
    ]);
    let a = t.apply(&entry(OpCode::MULTI, 2, m));
    assert!(matches!(&a.result, AppliedResult::Multi(r) if r.len() == 1));
    assert!(t.node("/a").is_some() && t.node("/b").is_none());
}

#[test]
fn node_storage_scales() {
    let mut t = DataTree::new(true);
    t.apply(&entry(OpCode::CREATE, 2, create("/big", None, false, 1)));
    for i in 0..20_000i64 {
        let path = format!("/big/n{i:06}");
        t.apply(&entry(
            OpCode::CREATE,
            3 + i,
            create(&path, None, false, -1),
        ));
    }
    assert_eq!(t.all_children_number("/big"), Some(20_000));
    assert_eq!(t.stat("/big").unwrap().num_children, 20_000);
    assert_eq!(t.node("/big").unwrap().stat.cversion, 20_000);
}
