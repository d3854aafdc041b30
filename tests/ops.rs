//! Every client opcode over TCP against an in-process server, with the reference's answers.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use bytes::Bytes;
use common::{create, exists, start_server, Client};
use ferrokeeper::jute::codes::{perms, ErrorCode, OpCode};
use ferrokeeper::jute::data::{Acl, Stat};
use ferrokeeper::jute::proto::*;
use ferrokeeper::jute::Jute;

async fn stat_of(c: &mut Client, path: &str) -> Stat {
    let r = c
        .call(
            OpCode::EXISTS,
            &ExistsRequest {
                path: path.into(),
                watch: false,
            },
        )
        .await;
    assert_eq!(r.err(), ErrorCode::OK, "exists {path}");
    r.decode::<ExistsResponse>().stat
}

#[tokio::test]
async fn create_get_set_delete_move_stat_as_the_reference() {
    let server = start_server("").await;
    let mut c = Client::connect(server.client_addr).await;
    let r = c.call(OpCode::CREATE, &create("/a", b"v1", 0)).await;
    assert_eq!(r.err(), ErrorCode::OK);
    assert_eq!(r.decode::<CreateResponse>().path, "/a");
    let created_zxid = r.header.zxid;

    let r = c.call(OpCode::CREATE2, &create("/a/b", b"", 0)).await;
    let rsp: Create2Response = r.decode();
    assert_eq!(rsp.stat.czxid, r.header.zxid);
    assert_eq!(rsp.stat.version, 0);

    let a = stat_of(&mut c, "/a").await;
    assert_eq!(a.czxid, created_zxid);
    assert_eq!(a.num_children, 1);
    assert_eq!(a.cversion, 1);
    assert_eq!(a.pzxid, rsp.stat.czxid);
    assert_eq!(a.data_length, 2);

    let r = c
        .call(
            OpCode::SET_DATA,
            &SetDataRequest {
                path: "/a".into(),
                data: Some(Bytes::from_static(b"v2")),
                version: 0,
            },
        )
        .await;
    let s = r.decode::<SetDataResponse>().stat;
    assert_eq!((s.version, s.mzxid), (1, r.header.zxid));
    let r = c
        .call(
            OpCode::SET_DATA,
            &SetDataRequest {
                path: "/a".into(),
                data: None,
                version: 0,
            },
        )
        .await;
    assert_eq!(r.err(), ErrorCode::BAD_VERSION);
    assert!(r.body.is_empty(), "errors carry no body");

    let r = c
        .call(
            OpCode::GET_DATA,
            &GetDataRequest {
                path: "/a".into(),
                watch: false,
            },
        )
        .await;
    let d: GetDataResponse = r.decode();
    assert_eq!(d.data.as_deref(), Some(&b"v2"[..]));

    let r = c
        .call(
            OpCode::DELETE,
            &DeleteRequest {
                path: "/a".into(),
                version: -1,
            },
        )
        .await;
    assert_eq!(r.err(), ErrorCode::NOT_EMPTY);
    let r = c
        .call(
            OpCode::DELETE,
            &DeleteRequest {
                path: "/a/b".into(),
                version: 5,
            },
        )
        .await;
    assert_eq!(r.err(), ErrorCode::BAD_VERSION);
    let r = c
        .call(
            OpCode::DELETE,
            &DeleteRequest {
                path: "/a/b".into(),
                version: 0,
            },
        )
        .await;
    assert_eq!(r.err(), ErrorCode::OK);
    let r = c
        .call(
            OpCode::DELETE,
            &DeleteRequest {
                path: "/a/b".into(),
                version: -1,
            },
        )
        .await;
    assert_eq!(r.err(), ErrorCode::NO_NODE);
    let a = stat_of(&mut c, "/a").await;
    assert_eq!(
        (a.num_children, a.cversion),
        (0, 2),
        "delete bumps the parent's cversion"
    );

    let r = c.call(OpCode::CREATE, &create("/a", b"", 0)).await;
    assert_eq!(r.err(), ErrorCode::NODE_EXISTS);
    let r = c.call(OpCode::CREATE, &create("/missing/x", b"", 0)).await;
    assert_eq!(r.err(), ErrorCode::NO_NODE);
    let r = c.call(OpCode::CREATE, &create("/a/", b"", 0)).await;
    assert_eq!(r.err(), ErrorCode::BAD_ARGUMENTS);
    let r = c
        .call(
            OpCode::DELETE,
            &DeleteRequest {
                path: "/zookeeper".into(),
                version: -1,
            },
        )
        .await;
    assert_eq!(r.err(), ErrorCode::BAD_ARGUMENTS);
    server.shutdown().await;
}

#[tokio::test]
async fn null_data_stays_null() {
    let server = start_server("").await;
    let mut c = Client::connect(server.client_addr).await;
    let req = CreateRequest {
        path: "/n".into(),
        data: None,
        acl: Some(Acl::open_unsafe()),
        flags: 0,
    };
    assert_eq!(c.call(OpCode::CREATE, &req).await.err(), ErrorCode::OK);
    let r = c
        .call(
            OpCode::GET_DATA,
            &GetDataRequest {
                path: "/n".into(),
                watch: false,
            },
        )
        .await;
    assert_eq!(
        &r.body[..4],
        &[0xff; 4],
        "null data is sent back as length -1"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn sequential_names_come_from_the_parent_cversion() {
    let server = start_server("").await;
    let mut c = Client::connect(server.client_addr).await;
    c.call(OpCode::CREATE, &create("/q", b"", 0)).await;
    c.call(OpCode::CREATE, &create("/q/x", b"", 0)).await;
    let r = c.call(OpCode::CREATE, &create("/q/item-", b"", 2)).await;
    assert_eq!(r.decode::<CreateResponse>().path, "/q/item-0000000001");
    let r = c.call(OpCode::CREATE, &create("/q/", b"", 2)).await;
    assert_eq!(r.decode::<CreateResponse>().path, "/q/0000000002");
    let r = c
        .call(
            OpCode::GET_CHILDREN,
            &GetChildrenRequest {
                path: "/q".into(),
                watch: false,
            },
        )
        .await;
    let mut kids = r.decode::<GetChildrenResponse>().children;
    kids.sort();
    assert_eq!(kids, vec!["0000000002", "item-0000000001", "x"]);
    server.shutdown().await;
}

#[tokio::test]
async fn ephemerals_containers_and_ttl_nodes() {
    let server =
        start_server("extendedTypesEnabled=true\nznode.container.checkIntervalMs=100").await;
    let mut c = Client::connect(server.client_addr).await;
    let r = c.call(OpCode::CREATE2, &create("/e", b"", 1)).await;
    assert_eq!(
        r.decode::<Create2Response>().stat.ephemeral_owner,
        c.session_id
    );
    let r = c.call(OpCode::CREATE, &create("/e/child", b"", 0)).await;
    assert_eq!(r.err(), ErrorCode::NO_CHILDREN_FOR_EPHEMERALS);
    let r = c
        .call(
            OpCode::GET_EPHEMERALS,
            &GetEphemeralsRequest {
                prefix_path: "/".into(),
            },
        )
        .await;
    assert_eq!(r.decode::<GetEphemeralsResponse>().ephemerals, vec!["/e"]);

    let r = c
        .call(OpCode::CREATE_CONTAINER, &create("/c", b"", 4))
        .await;
    // `DataNode#copyStat` shows clients 0 for container and TTL owners
    assert_eq!(r.decode::<Create2Response>().stat.ephemeral_owner, 0);
    c.call(OpCode::CREATE, &create("/c/x", b"", 0)).await;
    c.call(
        OpCode::DELETE,
        &DeleteRequest {
            path: "/c/x".into(),
            version: -1,
        },
    )
    .await;

    let ttl = CreateTtlRequest {
        path: "/t".into(),
        data: None,
        acl: Some(Acl::open_unsafe()),
        flags: 5,
        ttl: 100,
    };
    let r = c.call(OpCode::CREATE_TTL, &ttl).await;
    assert_eq!(r.err(), ErrorCode::OK);
    assert_eq!(r.decode::<Create2Response>().stat.ephemeral_owner, 0);
    let bad_ttl = CreateTtlRequest {
        ttl: 0,
        path: "/t2".into(),
        ..ttl.clone()
    };
    assert_eq!(
        c.call(OpCode::CREATE_TTL, &bad_ttl).await.err(),
        ErrorCode::BAD_ARGUMENTS
    );

    // the container manager removes the emptied container and the expired TTL node
    let deadline = tokio::time::Instant::now() + common::WAIT;
    loop {
        let c_gone = c
            .call(
                OpCode::EXISTS,
                &ExistsRequest {
                    path: "/c".into(),
                    watch: false,
                },
            )
            .await
            .err();
        let t_gone = c
            .call(
                OpCode::EXISTS,
                &ExistsRequest {
                    path: "/t".into(),
                    watch: false,
                },
            )
            .await
            .err();
        if c_gone == ErrorCode::NO_NODE && t_gone == ErrorCode::NO_NODE {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "container/TTL not removed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    server.shutdown().await;
}

#[tokio::test]
async fn ttl_needs_extended_types() {
    let server = start_server("").await;
    let mut c = Client::connect(server.client_addr).await;
    let ttl = CreateTtlRequest {
        path: "/t".into(),
        data: None,
        acl: Some(Acl::open_unsafe()),
        flags: 5,
        ttl: 100,
    };
    assert_eq!(
        c.call(OpCode::CREATE_TTL, &ttl).await.err(),
        ErrorCode::UNIMPLEMENTED
    );
    server.shutdown().await;
}

#[tokio::test]
async fn multi_is_atomic_with_per_op_results() {
    let server = start_server("").await;
    let mut c = Client::connect(server.client_addr).await;
    let ok = MultiRequest {
        ops: vec![
            MultiOp::Create(OpCode::CREATE, create("/m", b"", 0)),
            MultiOp::Create(OpCode::CREATE2, create("/m/a", b"x", 0)),
            MultiOp::SetData(SetDataRequest {
                path: "/m/a".into(),
                data: None,
                version: 0,
            }),
            MultiOp::Check(CheckVersionRequest {
                path: "/m/a".into(),
                version: 1,
            }),
        ],
    };
    let r = c.call(OpCode::MULTI, &ok).await;
    let results = r.decode::<MultiResponse>().results;
    assert!(matches!(&results[0], OpResult::Create(p) if p == "/m"));
    assert!(
        matches!(&results[1], OpResult::Create(p) if p == "/m/a"),
        "create2 in a multi is a plain create"
    );
    assert!(matches!(&results[2], OpResult::SetData(s) if s.version == 1));
    assert!(matches!(results[3], OpResult::Check));

    let failing = MultiRequest {
        ops: vec![
            MultiOp::Create(OpCode::CREATE, create("/m/b", b"", 0)),
            MultiOp::Delete(DeleteRequest {
                path: "/nope".into(),
                version: -1,
            }),
            MultiOp::Create(OpCode::CREATE, create("/m/c", b"", 0)),
        ],
    };
    let r = c.call(OpCode::MULTI, &failing).await;
    assert_eq!(
        r.err(),
        ErrorCode::OK,
        "a failed multi still has err 0 in its header"
    );
    let results = r.decode::<MultiResponse>().results;
    assert_eq!(
        results,
        vec![
            OpResult::Error(ErrorCode::OK),
            OpResult::Error(ErrorCode::NO_NODE),
            OpResult::Error(ErrorCode::RUNTIME_INCONSISTENCY)
        ]
    );
    let r = c
        .call(
            OpCode::EXISTS,
            &ExistsRequest {
                path: "/m/b".into(),
                watch: false,
            },
        )
        .await;
    assert_eq!(
        r.err(),
        ErrorCode::NO_NODE,
        "nothing of a failed multi is applied"
    );

    let read = MultiRequest {
        ops: vec![
            MultiOp::GetData(GetDataRequest {
                path: "/m/a".into(),
                watch: false,
            }),
            MultiOp::GetChildren(GetChildrenRequest {
                path: "/nope".into(),
                watch: false,
            }),
            MultiOp::GetChildren(GetChildrenRequest {
                path: "/m".into(),
                watch: false,
            }),
        ],
    };
    let results = c
        .call(OpCode::MULTI_READ, &read)
        .await
        .decode::<MultiResponse>()
        .results;
    assert!(matches!(&results[0], OpResult::GetData(None, s) if s.version == 1));
    assert_eq!(results[1], OpResult::Error(ErrorCode::NO_NODE));
    assert_eq!(results[2], OpResult::GetChildren(vec!["a".into()]));
    server.shutdown().await;
}

/// One multi of `ops`; the reply header must say `err` with no body, and an ErrorTxn must have
/// taken the next zxid (the reference logs one and answers with its zxid).
async fn multi_fails_whole(c: &mut Client, ops: Vec<MultiOp>, err: ErrorCode) {
    let before = c.last_zxid;
    let r = c.call(OpCode::MULTI, &MultiRequest { ops }).await;
    assert_eq!(r.err(), err);
    assert!(r.body.is_empty(), "no per-op results: {:?}", r.body);
    assert_eq!(r.header.zxid, before + 1, "an ErrorTxn took a zxid");
}

/// Recorded against the Debian 3.8.0 server over raw sockets: a create / create2 /
/// createContainer op carrying a TTL mode inside a multi fails the cast to CreateTTLRequest in
/// `PrepRequestProcessor#pRequest2TxnCreate`, a non-Keeper exception, so the whole multi is
/// answered MarshallingError with no body; other bad modes fail per op.
#[tokio::test]
async fn multi_create_with_a_ttl_mode_fails_the_whole_multi() {
    let server = start_server("extendedTypesEnabled=true").await;
    let mut c = Client::connect(server.client_addr).await;
    assert_eq!(
        c.call(OpCode::CREATE, &create("/p", b"", 0)).await.err(),
        ErrorCode::OK
    );
    let bad = |op, flags| MultiOp::Create(op, create("/p/t", b"", flags));
    for (op, flags) in [
        (OpCode::CREATE, 5),
        (OpCode::CREATE2, 6),
        (OpCode::CREATE_CONTAINER, 5),
    ] {
        multi_fails_whole(&mut c, vec![bad(op, flags)], ErrorCode::MARSHALLING_ERROR).await;
    }
    // ops before it that would succeed are dropped with it, and leave nothing pending
    let ok_first = vec![
        MultiOp::Create(OpCode::CREATE, create("/p/ok", b"", 0)),
        bad(OpCode::CREATE, 5),
        MultiOp::Delete(DeleteRequest {
            path: "/p".into(),
            version: -1,
        }),
    ];
    multi_fails_whole(&mut c, ok_first, ErrorCode::MARSHALLING_ERROR).await;
    assert!(!common::exists(&mut c, "/p/ok").await);
    let r = c.call(OpCode::CREATE, &create("/p/ok", b"", 0)).await;
    assert_eq!(r.err(), ErrorCode::OK);

    // after an earlier failure the TTL op is never prepped: per-op results as usual
    let failed_first = MultiRequest {
        ops: vec![
            MultiOp::Delete(DeleteRequest {
                path: "/nope".into(),
                version: -1,
            }),
            bad(OpCode::CREATE, 5),
        ],
    };
    let r = c.call(OpCode::MULTI, &failed_first).await;
    assert_eq!(r.err(), ErrorCode::OK);
    assert_eq!(
        r.decode::<MultiResponse>().results,
        vec![
            OpResult::Error(ErrorCode::NO_NODE),
            OpResult::Error(ErrorCode::RUNTIME_INCONSISTENCY)
        ]
    );
    // unknown flags read as PERSISTENT to pick the op, then fail CreateMode#fromFlag per op
    for op in [
        bad(OpCode::CREATE, 99),
        MultiOp::CreateTtl(CreateTtlRequest {
            path: "/p/t".into(),
            data: None,
            acl: Some(Acl::open_unsafe()),
            flags: -1,
            ttl: 100,
        }),
    ] {
        let r = c.call(OpCode::MULTI, &MultiRequest { ops: vec![op] }).await;
        assert_eq!(
            r.decode::<MultiResponse>().results,
            vec![OpResult::Error(ErrorCode::BAD_ARGUMENTS)]
        );
    }
    // the container mode in a plain create op makes a container, answered as create2
    let container = MultiRequest {
        ops: vec![bad(OpCode::CREATE, 4)],
    };
    let results = c
        .call(OpCode::MULTI, &container)
        .await
        .decode::<MultiResponse>()
        .results;
    assert!(
        matches!(&results[..], [OpResult::Create2(p, _)] if p == "/p/t"),
        "{results:?}"
    );
    // outside a multi the same flags are BadArguments, with no body
    for (op, flags) in [
        (OpCode::CREATE, 5),
        (OpCode::CREATE2, 6),
        (OpCode::CREATE, 99),
    ] {
        let r = c.call(op, &create("/p/u", b"", flags)).await;
        assert_eq!((r.err(), r.body.len()), (ErrorCode::BAD_ARGUMENTS, 0));
    }
    server.shutdown().await;

    // with TTLs disabled the multi fails the same way; a plain create is Unimplemented
    let server = start_server("").await;
    let mut c = Client::connect(server.client_addr).await;
    assert!(common::exists(&mut c, "/").await, "learn the last zxid");
    multi_fails_whole(
        &mut c,
        vec![bad(OpCode::CREATE, 5)],
        ErrorCode::MARSHALLING_ERROR,
    )
    .await;
    let r = c.call(OpCode::CREATE, &create("/u", b"", 5)).await;
    assert_eq!((r.err(), r.body.len()), (ErrorCode::UNIMPLEMENTED, 0));
    server.shutdown().await;
}

#[tokio::test]
async fn acls_digest_auth_whoami_and_super() {
    let digest = ferrokeeper::pipeline::auth::generate_digest("super:test");
    let server = start_server(&format!(
        "DigestAuthenticationProvider.superDigest={digest}"
    ))
    .await;
    let mut c = Client::connect(server.client_addr).await;
    let auth = AuthPacket {
        auth_type: 0,
        scheme: "digest".into(),
        auth: Bytes::from_static(b"alice:secret"),
    };
    c.send_xid(-4, OpCode::AUTH, &auth.to_vec()).await;
    let r = c.recv().await.expect("auth reply");
    assert_eq!((r.header.xid, r.err()), (-4, ErrorCode::OK));

    let req = CreateRequest {
        path: "/secret".into(),
        data: None,
        acl: Some(vec![Acl::new(perms::ALL, "auth", "")]),
        flags: 0,
    };
    assert_eq!(c.call(OpCode::CREATE, &req).await.err(), ErrorCode::OK);
    let acl = c
        .call(
            OpCode::GET_ACL,
            &GetAclRequest {
                path: "/secret".into(),
            },
        )
        .await;
    let acl: GetAclResponse = acl.decode();
    assert_eq!(
        acl.acl,
        vec![Acl::new(
            perms::ALL,
            "digest",
            &ferrokeeper::pipeline::auth::generate_digest("alice:secret")
        )]
    );

    let who = c
        .call_empty(OpCode::WHO_AM_I)
        .await
        .decode::<WhoAmIResponse>();
    let schemes: Vec<_> = who
        .client_info
        .iter()
        .map(|i| (i.auth_scheme.as_str(), i.user.as_str()))
        .collect();
    // hash-bin order of the reference's ConcurrentHashMap-backed set, not insertion order
    assert_eq!(schemes, vec![("digest", "alice"), ("ip", "127.0.0.1")]);

    let mut other = Client::connect(server.client_addr).await;
    let r = other
        .call(
            OpCode::GET_DATA,
            &GetDataRequest {
                path: "/secret".into(),
                watch: false,
            },
        )
        .await;
    assert_eq!(r.err(), ErrorCode::NO_AUTH);
    let r = other
        .call(
            OpCode::GET_ACL,
            &GetAclRequest {
                path: "/secret".into(),
            },
        )
        .await;
    assert_eq!(r.err(), ErrorCode::NO_AUTH);
    let r = other
        .call(
            OpCode::SET_ACL,
            &SetAclRequest {
                path: "/secret".into(),
                acl: Some(vec![Acl::new(perms::ALL, "auth", "")]),
                version: -1,
            },
        )
        .await;
    assert_eq!(
        r.err(),
        ErrorCode::INVALID_ACL,
        "auth ACL without an authenticated id"
    );

    let su = AuthPacket {
        auth_type: 0,
        scheme: "digest".into(),
        auth: Bytes::from_static(b"super:test"),
    };
    other.send_xid(-4, OpCode::AUTH, &su.to_vec()).await;
    assert_eq!(other.recv().await.expect("auth").err(), ErrorCode::OK);
    let r = other
        .call(
            OpCode::GET_DATA,
            &GetDataRequest {
                path: "/secret".into(),
                watch: false,
            },
        )
        .await;
    assert_eq!(r.err(), ErrorCode::OK, "super reads everything");

    let bad = AuthPacket {
        auth_type: 0,
        scheme: "nope".into(),
        auth: Bytes::new(),
    };
    other.send_xid(-4, OpCode::AUTH, &bad.to_vec()).await;
    assert_eq!(
        other.recv().await.expect("auth").err(),
        ErrorCode::AUTH_FAILED
    );
    assert!(
        other.is_closed().await,
        "auth failure closes the connection"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn ip_acls_and_masked_digests() {
    let server = start_server("").await;
    let mut c = Client::connect(server.client_addr).await;
    let req = CreateRequest {
        path: "/ip".into(),
        data: None,
        acl: Some(vec![
            Acl::new(perms::READ, "ip", "127.0.0.0/8"),
            Acl::new(perms::ALL, "digest", "bob:hash"),
        ]),
        flags: 0,
    };
    assert_eq!(c.call(OpCode::CREATE, &req).await.err(), ErrorCode::OK);
    let r = c
        .call(
            OpCode::GET_DATA,
            &GetDataRequest {
                path: "/ip".into(),
                watch: false,
            },
        )
        .await;
    assert_eq!(r.err(), ErrorCode::OK);
    let r = c
        .call(
            OpCode::SET_DATA,
            &SetDataRequest {
                path: "/ip".into(),
                data: None,
                version: -1,
            },
        )
        .await;
    assert_eq!(r.err(), ErrorCode::NO_AUTH);
    let acl: GetAclResponse = c
        .call(OpCode::GET_ACL, &GetAclRequest { path: "/ip".into() })
        .await
        .decode();
    assert_eq!(
        acl.acl[1].id.id, "bob:x",
        "no ADMIN: digest hashes are masked"
    );
    let bad = CreateRequest {
        acl: Some(vec![Acl::new(perms::ALL, "ip", "300.0.0.1")]),
        path: "/ip2".into(),
        ..req
    };
    assert_eq!(
        c.call(OpCode::CREATE, &bad).await.err(),
        ErrorCode::INVALID_ACL
    );
    server.shutdown().await;
}

#[tokio::test]
async fn small_ops_sync_ping_counts_reconfig_sasl() {
    let server = start_server("").await;
    let mut c = Client::connect(server.client_addr).await;
    c.call(OpCode::CREATE, &create("/s", b"", 0)).await;
    c.call(OpCode::CREATE, &create("/s/a", b"", 0)).await;
    c.call(OpCode::CREATE, &create("/s/a/b", b"", 0)).await;
    let r = c
        .call(OpCode::SYNC, &SyncRequest { path: "/s".into() })
        .await;
    assert_eq!(r.decode::<SyncResponse>().path, "/s");
    let r = c
        .call(
            OpCode::GET_ALL_CHILDREN_NUMBER,
            &GetAllChildrenNumberRequest { path: "/s".into() },
        )
        .await;
    assert_eq!(r.decode::<GetAllChildrenNumberResponse>().total_number, 2);
    c.send_xid(-2, OpCode::PING, &[]).await;
    let r = c.recv().await.expect("ping");
    assert_eq!(r.header.xid, -2);
    let r = c
        .call(
            OpCode::RECONFIG,
            &ReconfigRequest {
                joining_servers: None,
                leaving_servers: None,
                new_members: None,
                cur_config_id: -1,
            },
        )
        .await;
    assert_eq!(r.err(), ErrorCode::RECONFIG_DISABLED);
    let r = c
        .call(
            OpCode::SASL,
            &GetSaslRequest {
                token: Some(Bytes::new()),
            },
        )
        .await;
    assert_eq!(
        (r.err(), &r.body[..]),
        (ErrorCode::OK, &[0xff, 0xff, 0xff, 0xff][..])
    );
    let r = c
        .call(
            OpCode::GET_CHILDREN2,
            &GetChildrenRequest {
                path: "/s".into(),
                watch: false,
            },
        )
        .await;
    let g: GetChildren2Response = r.decode();
    assert_eq!(
        (g.children, g.stat.num_children),
        (vec!["a".to_string()], 1)
    );
    let r = c
        .call(
            OpCode::GET_DATA,
            &GetDataRequest {
                path: "/zookeeper/config".into(),
                watch: false,
            },
        )
        .await;
    assert_eq!(r.err(), ErrorCode::OK, "/zookeeper/config exists");
    server.shutdown().await;
}

#[tokio::test]
async fn unknown_opcodes_get_unimplemented_then_close() {
    let server = start_server("").await;
    for op in [OpCode(10), OpCode(200), OpCode::NOTIFICATION] {
        let mut c = Client::connect(server.client_addr).await;
        c.call(OpCode::CREATE, &create("/u", b"", 0)).await;
        c.send_xid(7, op, &[]).await;
        let r = c.recv().await.expect("a reply before the close");
        // `UnimplementedRequestProcessor` answers before prep stamps a zxid: -1
        assert_eq!(
            (r.header.xid, r.header.zxid, r.err()),
            (7, -1, ErrorCode::UNIMPLEMENTED)
        );
        assert!(c.is_closed().await);
    }
    server.shutdown().await;
}

/// createSession (-10) on an established session and a client's deleteContainer (20) are
/// valid opcodes that prep refuses through an ErrorTxn (3.8's `PrepRequestProcessor`): the
/// reply takes a new zxid and the connection stays.
#[tokio::test]
async fn create_session_and_delete_container_from_a_client_are_error_txns() {
    let server = start_server("").await;
    let mut c = Client::connect(server.client_addr).await;
    let r = c
        .call(OpCode::CREATE_CONTAINER, &create("/box", b"", 4))
        .await;
    let before = r.header.zxid;
    c.send_xid(5, OpCode::CREATE_SESSION, &[]).await;
    let r = c.recv().await.expect("reply");
    assert_eq!(
        (r.header.xid, r.header.zxid, r.err()),
        (5, before + 1, ErrorCode::MARSHALLING_ERROR)
    );
    c.send_xid(6, OpCode::DELETE_CONTAINER, b"/box").await;
    let r = c.recv().await.expect("reply");
    assert_eq!(
        (r.header.xid, r.header.zxid, r.err()),
        (6, before + 2, ErrorCode::BAD_ARGUMENTS)
    );
    assert!(exists(&mut c, "/box").await, "the container stays");
    server.shutdown().await;
}

/// A multiRead holding write ops: `FinalRequestProcessor` throws on the first one after it has
/// built the MultiResponse, so MarshallingError comes with an empty MultiResponse body; reads
/// and writes mixed fail to decode (`MultiOperationRecord#add`), so no body at all.
#[tokio::test]
async fn multi_read_with_write_ops_is_a_marshalling_error() {
    let server = start_server("").await;
    let mut c = Client::connect(server.client_addr).await;
    c.call(OpCode::CREATE, &create("/r", b"x", 0)).await;
    let set = MultiOp::SetData(SetDataRequest {
        path: "/r".into(),
        data: Some(Bytes::from_static(b"y")),
        version: -1,
    });
    let get = MultiOp::GetData(GetDataRequest {
        path: "/r".into(),
        watch: false,
    });
    let writes = MultiRequest {
        ops: vec![set.clone()],
    };
    let r = c.call(OpCode::MULTI_READ, &writes).await;
    assert_eq!(r.err(), ErrorCode::MARSHALLING_ERROR);
    assert_eq!(r.decode::<MultiResponse>(), MultiResponse::default());
    for ops in [vec![get.clone(), set.clone()], vec![set, get]] {
        let r = c.call(OpCode::MULTI_READ, &MultiRequest { ops }).await;
        assert_eq!((r.err(), r.body.len()), (ErrorCode::MARSHALLING_ERROR, 0));
    }
    let r = c
        .call(
            OpCode::GET_DATA,
            &GetDataRequest {
                path: "/r".into(),
                watch: false,
            },
        )
        .await;
    assert_eq!(
        r.decode::<GetDataResponse>().data.as_deref(),
        Some(&b"x"[..])
    );
    server.shutdown().await;
}

/// 3.8.0 logs a bare check's txn but its reply (SetDataResponse with a null Stat) fails to
/// serialize, so nothing is sent; a failing check is answered with its error.
#[tokio::test]
async fn bare_check_is_logged_but_not_answered_like_3_8() {
    let server = start_server("").await;
    let mut c = Client::connect(server.client_addr).await;
    c.send_xid(
        5,
        OpCode::CHECK,
        &CheckVersionRequest {
            path: "/".into(),
            version: -1,
        }
        .to_vec(),
    )
    .await;
    c.send_xid(
        6,
        OpCode::CHECK,
        &CheckVersionRequest {
            path: "/".into(),
            version: 9,
        }
        .to_vec(),
    )
    .await;
    let r = c.recv().await.expect("the failing check is answered");
    assert_eq!((r.header.xid, r.err()), (6, ErrorCode::BAD_VERSION));
    let r = c
        .call(
            OpCode::EXISTS,
            &ExistsRequest {
                path: "/".into(),
                watch: false,
            },
        )
        .await;
    assert_eq!(r.err(), ErrorCode::OK, "the connection stays open");
    server.shutdown().await;
}

#[tokio::test]
async fn malformed_records_get_marshalling_error_and_keep_the_connection() {
    let server = start_server("").await;
    let mut c = Client::connect(server.client_addr).await;
    // a path length that runs past the frame, for a read and for a write
    c.send_xid(8, OpCode::GET_DATA, &[0, 0, 0x10, 0, b'/'])
        .await;
    let r = c.recv().await.expect("reply");
    assert_eq!((r.header.xid, r.err()), (8, ErrorCode::MARSHALLING_ERROR));
    c.send_xid(9, OpCode::CREATE, &[0, 0, 0x10, 0, b'/']).await;
    let r = c.recv().await.expect("reply");
    assert_eq!((r.header.xid, r.err()), (9, ErrorCode::MARSHALLING_ERROR));
    let r = c
        .call(
            OpCode::EXISTS,
            &ExistsRequest {
                path: "/".into(),
                watch: false,
            },
        )
        .await;
    assert_eq!(r.err(), ErrorCode::OK);
    server.shutdown().await;
}

#[tokio::test]
async fn close_session_replies_then_closes_and_removes_ephemerals() {
    let server = start_server("").await;
    let mut a = Client::connect(server.client_addr).await;
    let mut b = Client::connect(server.client_addr).await;
    a.call(OpCode::CREATE, &create("/eph", b"", 1)).await;
    let r = b
        .call(
            OpCode::EXISTS,
            &ExistsRequest {
                path: "/eph".into(),
                watch: true,
            },
        )
        .await;
    assert_eq!(r.err(), ErrorCode::OK);
    let r = a.close_session().await;
    assert_eq!(r.err(), ErrorCode::OK);
    assert!(a.is_closed().await);
    let ev = b.next_event().await.expect("NodeDeleted");
    assert_eq!((ev.event_type, ev.path.as_str()), (2, "/eph"));
    server.shutdown().await;
}
