//! Sessions (negotiation, reconnect, expiry) and watches (one-shot, persistent, recursive,
//! SetWatches after a reconnect) over TCP.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{start_server, Client};
use ferrokeeper::jute::codes::{perms, ErrorCode, OpCode};
use ferrokeeper::jute::data::Acl;
use ferrokeeper::jute::proto::*;

fn create(path: &str, flags: i32) -> CreateRequest {
    CreateRequest {
        path: path.into(),
        data: None,
        acl: Some(Acl::open_unsafe()),
        flags,
    }
}

#[tokio::test]
async fn timeout_is_clamped_and_ids_carry_the_server_id() {
    // tickTime=200: min 400, max 4000
    let server = start_server("").await;
    let c = Client::connect_with(server.client_addr, 0, Bytes::from_static(&[0; 16]), 100, 0)
        .await
        .expect("session");
    assert_eq!(c.timeout, 400);
    let d = Client::connect_with(
        server.client_addr,
        0,
        Bytes::from_static(&[0; 16]),
        999_999,
        0,
    )
    .await
    .expect("session");
    assert_eq!(d.timeout, 4000);
    assert_eq!(
        c.session_id >> 56,
        0,
        "standalone server id 0 in the top byte"
    );
    assert_ne!(c.session_id, d.session_id);
    assert_eq!(c.passwd.len(), 16);
    assert_eq!(
        &c.passwd[..],
        &ferrokeeper::session::generate_passwd(c.session_id)[..]
    );
    server.shutdown().await;
}

#[tokio::test]
async fn reconnect_keeps_the_session_wrong_password_does_not() {
    let server = start_server("").await;
    let mut a = Client::connect(server.client_addr).await;
    a.call(OpCode::CREATE, &create("/mine", 1)).await;
    let again = Client::connect_with(
        server.client_addr,
        a.session_id,
        a.passwd.clone(),
        4000,
        a.last_zxid,
    )
    .await;
    let mut again = again.expect("reconnect with the right password");
    assert_eq!(again.session_id, a.session_id);
    assert!(
        a.is_closed().await,
        "the old connection of a moved session is closed"
    );
    let r = again
        .call(
            OpCode::GET_EPHEMERALS,
            &GetEphemeralsRequest {
                prefix_path: "/".into(),
            },
        )
        .await;
    assert_eq!(
        r.decode::<GetEphemeralsResponse>().ephemerals,
        vec!["/mine"]
    );
    let wrong = Client::connect_with(
        server.client_addr,
        a.session_id,
        Bytes::from_static(&[1; 16]),
        4000,
        0,
    )
    .await;
    assert!(wrong.is_none(), "wrong password: session expired");
    let ahead = Client::connect_with(
        server.client_addr,
        0,
        Bytes::from_static(&[0; 16]),
        4000,
        i64::MAX,
    )
    .await;
    assert!(
        ahead.is_none(),
        "a client that has seen a later zxid is refused"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn expiry_removes_ephemerals_and_fires_watches() {
    let server = start_server("").await;
    let mut watcher = Client::connect(server.client_addr).await;
    let mut short =
        Client::connect_with(server.client_addr, 0, Bytes::from_static(&[0; 16]), 400, 0)
            .await
            .expect("session");
    short.call(OpCode::CREATE, &create("/short", 1)).await;
    let r = watcher
        .call(
            OpCode::GET_DATA,
            &GetDataRequest {
                path: "/short".into(),
                watch: true,
            },
        )
        .await;
    assert_eq!(r.err(), ErrorCode::OK);
    // keep the watcher alive by pinging while the other session goes silent
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let ev = loop {
        tokio::select! {
            ev = watcher.next_event() => break ev.expect("event"),
            _ = tokio::time::sleep(Duration::from_millis(150)) => {
                assert!(tokio::time::Instant::now() < deadline, "session never expired");
            }
        }
    };
    assert_eq!((ev.event_type, ev.path.as_str()), (2, "/short"));
    assert!(
        short.is_closed().await,
        "the expired session's connection is closed"
    );
    let gone = Client::connect_with(
        server.client_addr,
        short.session_id,
        short.passwd.clone(),
        400,
        0,
    )
    .await;
    assert!(gone.is_none(), "an expired session cannot be resumed");
    server.shutdown().await;
}

#[tokio::test]
async fn one_shot_watches_fire_once_before_the_reply() {
    let server = start_server("").await;
    let mut a = Client::connect(server.client_addr).await;
    let mut b = Client::connect(server.client_addr).await;
    a.call(OpCode::CREATE, &create("/w", 0)).await;
    a.call(
        OpCode::GET_DATA,
        &GetDataRequest {
            path: "/w".into(),
            watch: true,
        },
    )
    .await;
    a.call(
        OpCode::GET_CHILDREN,
        &GetChildrenRequest {
            path: "/w".into(),
            watch: true,
        },
    )
    .await;
    let r = a
        .call(
            OpCode::EXISTS,
            &ExistsRequest {
                path: "/w/none".into(),
                watch: true,
            },
        )
        .await;
    assert_eq!(r.err(), ErrorCode::NO_NODE);
    b.call(OpCode::CREATE, &create("/w/none", 0)).await;
    b.call(
        OpCode::SET_DATA,
        &SetDataRequest {
            path: "/w".into(),
            data: None,
            version: -1,
        },
    )
    .await;
    b.call(
        OpCode::SET_DATA,
        &SetDataRequest {
            path: "/w".into(),
            data: None,
            version: -1,
        },
    )
    .await;
    // a's own write: the event for it must arrive before the write's reply
    a.send(OpCode::CREATE, &create("/w/x", 0)).await;
    let reply = a.recv().await.expect("reply");
    assert_eq!(reply.err(), ErrorCode::OK);
    let seen: Vec<(i32, String)> = a.events.drain(..).map(|e| (e.event_type, e.path)).collect();
    assert_eq!(
        seen,
        vec![(1, "/w/none".into()), (4, "/w".into()), (3, "/w".into())],
        "created, children changed, data changed — each once"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn persistent_and_recursive_watches() {
    let server = start_server("").await;
    let mut a = Client::connect(server.client_addr).await;
    let mut b = Client::connect(server.client_addr).await;
    b.call(OpCode::CREATE, &create("/p", 0)).await;
    let r = a
        .call(
            OpCode::ADD_WATCH,
            &AddWatchRequest {
                path: "/p".into(),
                mode: 1,
            },
        )
        .await;
    assert_eq!(
        &r.body[..],
        &[0, 0, 0, 0],
        "addWatch answers ErrorResponse{{0}}"
    );
    b.call(OpCode::CREATE, &create("/p/c", 0)).await;
    b.call(
        OpCode::SET_DATA,
        &SetDataRequest {
            path: "/p/c".into(),
            data: None,
            version: -1,
        },
    )
    .await;
    b.call(
        OpCode::DELETE,
        &DeleteRequest {
            path: "/p/c".into(),
            version: -1,
        },
    )
    .await;
    let mut got = Vec::new();
    for _ in 0..3 {
        let e = a.next_event().await.expect("event");
        got.push((e.event_type, e.path));
    }
    assert_eq!(
        got,
        vec![(1, "/p/c".into()), (3, "/p/c".into()), (2, "/p/c".into())]
    );
    let r = a
        .call(
            OpCode::CHECK_WATCHES,
            &CheckWatchesRequest {
                path: "/p".into(),
                watcher_type: 2,
            },
        )
        .await;
    assert_eq!(r.err(), ErrorCode::OK);
    let r = a
        .call(
            OpCode::REMOVE_WATCHES,
            &RemoveWatchesRequest {
                path: "/p".into(),
                watcher_type: 3,
            },
        )
        .await;
    assert_eq!(r.err(), ErrorCode::OK);
    let r = a
        .call(
            OpCode::REMOVE_WATCHES,
            &RemoveWatchesRequest {
                path: "/p".into(),
                watcher_type: 3,
            },
        )
        .await;
    assert_eq!(r.err(), ErrorCode::NO_WATCHER);
    server.shutdown().await;
}

#[tokio::test]
async fn set_watches_after_reconnect_fires_missed_changes() {
    let server = start_server("").await;
    let mut a = Client::connect(server.client_addr).await;
    a.call(OpCode::CREATE, &create("/sw", 0)).await;
    a.call(OpCode::CREATE, &create("/sw/gone", 0)).await;
    let seen = a.last_zxid;
    let mut b = Client::connect(server.client_addr).await;
    b.call(
        OpCode::SET_DATA,
        &SetDataRequest {
            path: "/sw".into(),
            data: None,
            version: -1,
        },
    )
    .await;
    b.call(
        OpCode::DELETE,
        &DeleteRequest {
            path: "/sw/gone".into(),
            version: -1,
        },
    )
    .await;
    b.call(OpCode::CREATE, &create("/sw/new", 0)).await;
    let mut a2 = Client::connect_with(
        server.client_addr,
        a.session_id,
        a.passwd.clone(),
        30000,
        seen,
    )
    .await
    .expect("reconnect");
    let sw = SetWatches {
        relative_zxid: seen,
        data_watches: vec!["/sw".into(), "/sw/gone".into()],
        exist_watches: vec!["/sw/new".into(), "/sw/later".into()],
        child_watches: vec!["/sw".into()],
    };
    a2.send_xid(
        -8,
        OpCode::SET_WATCHES,
        &ferrokeeper::jute::Jute::to_vec(&sw),
    )
    .await;
    let r = a2.recv().await.expect("setWatches reply");
    assert_eq!((r.header.xid, r.err()), (-8, ErrorCode::OK));
    let mut got: Vec<(i32, String)> = a2
        .events
        .drain(..)
        .map(|e| (e.event_type, e.path))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            (1, "/sw/new".into()),
            (2, "/sw/gone".into()),
            (3, "/sw".into()),
            (4, "/sw".into())
        ]
    );
    b.call(OpCode::CREATE, &create("/sw/later", 0)).await;
    let e = a2
        .next_event()
        .await
        .expect("registered exist watch fires later");
    assert_eq!((e.event_type, e.path.as_str()), (1, "/sw/later"));
    server.shutdown().await;
}

async fn add_digest(c: &mut Client, user_password: &'static str) {
    let auth = AuthPacket {
        auth_type: 0,
        scheme: "digest".into(),
        auth: Bytes::from_static(user_password.as_bytes()),
    };
    c.send_xid(-4, OpCode::AUTH, &ferrokeeper::jute::Jute::to_vec(&auth))
        .await;
    assert_eq!(c.recv().await.expect("auth reply").err(), ErrorCode::OK);
}

/// The events that reached `c` so far: an exists call is answered after every event the
/// core queued for it before (each write below was answered before this is called).
async fn events_of(c: &mut Client) -> Vec<(i32, String)> {
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
    c.events.drain(..).map(|e| (e.event_type, e.path)).collect()
}

async fn set_data(c: &mut Client, path: &str) {
    let req = SetDataRequest {
        path: path.into(),
        data: None,
        version: -1,
    };
    assert_eq!(c.call(OpCode::SET_DATA, &req).await.err(), ErrorCode::OK);
}

/// CVE-2024-23944 (fixed in 3.8.4 and in the Debian 3.8.0 reference): a watcher is told of a
/// change only if its connection may READ the node, by the auth it has at that moment — for
/// persistent-recursive watches on a readable parent too. Same answers from the reference
/// over raw sockets.
#[tokio::test]
async fn watch_events_go_only_to_connections_that_may_read_the_node() {
    let su = ferrokeeper::pipeline::auth::generate_digest("super:test");
    let server = start_server(&format!("DigestAuthenticationProvider.superDigest={su}")).await;
    let addr = server.client_addr;
    let (mut writer, mut reader, mut blind, mut admin, mut one_shot) = (
        Client::connect(addr).await,
        Client::connect(addr).await,
        Client::connect(addr).await,
        Client::connect(addr).await,
        Client::connect(addr).await,
    );
    add_digest(&mut writer, "alice:pw").await;
    add_digest(&mut reader, "alice:pw").await;
    add_digest(&mut admin, "super:test").await;
    writer.call(OpCode::CREATE, &create("/p", 0)).await;
    for c in [&mut reader, &mut blind, &mut admin] {
        let r = c
            .call(
                OpCode::ADD_WATCH,
                &AddWatchRequest {
                    path: "/p".into(),
                    mode: 1,
                },
            )
            .await;
        assert_eq!(r.err(), ErrorCode::OK);
    }
    let children = GetChildrenRequest {
        path: "/p".into(),
        watch: true,
    };
    one_shot.call(OpCode::GET_CHILDREN, &children).await;
    let exists = ExistsRequest {
        path: "/p/noread".into(),
        watch: true,
    };
    one_shot.call(OpCode::EXISTS, &exists).await;

    let with_acl = |path: &str, acl: Acl| CreateRequest {
        acl: Some(vec![acl]),
        ..create(path, 0)
    };
    let all_but_read = perms::ALL & !perms::READ;
    for req in [
        with_acl("/p/noread", Acl::new(all_but_read, "world", "anyone")),
        with_acl("/p/alice", Acl::new(perms::ALL, "auth", "")),
        create("/p/open", 0),
    ] {
        assert_eq!(writer.call(OpCode::CREATE, &req).await.err(), ErrorCode::OK);
    }
    for path in ["/p/noread", "/p/alice", "/p/open"] {
        set_data(&mut writer, path).await;
    }
    let ev = |t: i32, p: &str| (t, p.to_string());
    assert_eq!(
        events_of(&mut blind).await,
        [ev(1, "/p/open"), ev(3, "/p/open")],
        "no READ on /p/noread, no alice auth for /p/alice"
    );
    assert_eq!(
        events_of(&mut reader).await,
        [
            ev(1, "/p/alice"),
            ev(1, "/p/open"),
            ev(3, "/p/alice"),
            ev(3, "/p/open")
        ]
    );
    assert_eq!(events_of(&mut admin).await.len(), 6, "super reads all");
    // the parent's children changed is checked against the parent's ACL; the one-shot exists
    // watch on /p/noread was used up by the NodeCreated it was refused
    assert_eq!(events_of(&mut one_shot).await, [ev(4, "/p")]);

    // the check uses the ACL the change leaves and the auth the connection has by then
    let open = SetAclRequest {
        path: "/p/noread".into(),
        acl: Some(Acl::open_unsafe()),
        version: -1,
    };
    assert_eq!(
        writer.call(OpCode::SET_ACL, &open).await.err(),
        ErrorCode::OK
    );
    set_data(&mut writer, "/p/noread").await;
    add_digest(&mut blind, "alice:pw").await;
    let delete = DeleteRequest {
        path: "/p/alice".into(),
        version: -1,
    };
    assert_eq!(
        writer.call(OpCode::DELETE, &delete).await.err(),
        ErrorCode::OK
    );
    assert_eq!(
        events_of(&mut blind).await,
        [ev(3, "/p/noread"), ev(2, "/p/alice")]
    );
    assert!(events_of(&mut one_shot).await.is_empty());
    server.shutdown().await;
}

fn get_data(path: &str, watch: bool) -> GetDataRequest {
    GetDataRequest {
        path: path.into(),
        watch,
    }
}

/// What a reply of the pipelined burst below must say.
enum Expect {
    /// getData of /fifo at this version, holding the data the setData before it wrote.
    Data(i32),
    /// setData of /fifo, conditional on the version before it, leaving this one.
    Set(i32),
    NoNode,
    Created,
    /// getChildren of /fifo with this many children.
    Children(usize),
}

/// Per-session FIFO: reads and writes sent in one burst, without waiting, are each answered,
/// in the order sent (errors included), and every read sees exactly the writes sent before
/// it; the server writes many of these replies in one batch.
#[tokio::test]
async fn a_pipelined_burst_is_answered_in_the_order_sent() {
    let server = start_server("").await;
    let mut c = Client::connect(server.client_addr).await;
    c.call(OpCode::CREATE, &create("/fifo", 0)).await;
    let mut sent = Vec::new();
    for round in 0..100 {
        let set = SetDataRequest {
            path: "/fifo".into(),
            data: Some(Bytes::from(format!("v{}", round + 1))),
            version: round,
        };
        let children = usize::try_from(round).unwrap() + 1;
        sent.push((
            c.send(OpCode::GET_DATA, &get_data("/fifo", false)).await,
            Expect::Data(round),
        ));
        sent.push((c.send(OpCode::SET_DATA, &set).await, Expect::Set(round + 1)));
        sent.push((
            c.send(OpCode::GET_DATA, &get_data("/none", false)).await,
            Expect::NoNode,
        ));
        sent.push((
            c.send(OpCode::CREATE, &create(&format!("/fifo/c{round}"), 0))
                .await,
            Expect::Created,
        ));
        sent.push((
            c.send(
                OpCode::GET_CHILDREN,
                &GetChildrenRequest {
                    path: "/fifo".into(),
                    watch: false,
                },
            )
            .await,
            Expect::Children(children),
        ));
    }
    for (xid, expect) in sent {
        let r = c.recv().await.expect("a reply for every request");
        assert_eq!(r.header.xid, xid, "replies come in the order sent");
        match expect {
            Expect::Data(version) => {
                let rsp: GetDataResponse = r.decode();
                assert_eq!(rsp.stat.version, version);
                let want = (version > 0).then(|| Bytes::from(format!("v{version}")));
                assert_eq!(rsp.data, want);
            }
            Expect::Set(version) => {
                assert_eq!(r.err(), ErrorCode::OK);
                assert_eq!(r.decode::<SetDataResponse>().stat.version, version);
            }
            Expect::NoNode => {
                assert_eq!(r.err(), ErrorCode::NO_NODE);
                assert!(r.body.is_empty(), "an error reply is the header alone");
            }
            Expect::Created => assert_eq!(r.err(), ErrorCode::OK),
            Expect::Children(n) => {
                assert_eq!(r.decode::<GetChildrenResponse>().children.len(), n);
            }
        }
    }
    server.shutdown().await;
}

/// A watch event reaches its connection before any reply that shows the change it reports:
/// the watching session reads the node in a burst while another session changes it, and once
/// more after the change was acknowledged (that read must show it, behind the event).
#[tokio::test]
async fn a_watch_event_comes_before_any_reply_that_reflects_the_change() {
    let server = start_server("").await;
    let mut writer = Client::connect(server.client_addr).await;
    let mut watcher = Client::connect(server.client_addr).await;
    writer.call(OpCode::CREATE, &create("/ev", 0)).await;
    for round in 0..20 {
        let r = watcher.call(OpCode::GET_DATA, &get_data("/ev", true)).await;
        assert_eq!(r.decode::<GetDataResponse>().stat.version, round);
        let mut xids = Vec::new();
        for _ in 0..50 {
            xids.push(
                watcher
                    .send(OpCode::GET_DATA, &get_data("/ev", false))
                    .await,
            );
        }
        let set = SetDataRequest {
            path: "/ev".into(),
            data: None,
            version: round,
        };
        assert_eq!(
            writer.call(OpCode::SET_DATA, &set).await.err(),
            ErrorCode::OK
        );
        xids.push(
            watcher
                .send(OpCode::GET_DATA, &get_data("/ev", false))
                .await,
        );
        let mut last_version = round;
        for xid in xids {
            let r = watcher.recv().await.expect("reply");
            assert_eq!(r.header.xid, xid);
            last_version = r.decode::<GetDataResponse>().stat.version;
            if last_version > round {
                // recv() reads frames in order and keeps the notifications it passes
                assert_eq!(
                    watcher.events.len(),
                    1,
                    "the event came before the first reply at version {last_version}"
                );
            }
        }
        assert_eq!(
            last_version,
            round + 1,
            "a read after the ack sees the change"
        );
        let seen: Vec<(i32, String)> = watcher
            .events
            .drain(..)
            .map(|e| (e.event_type, e.path))
            .collect();
        assert_eq!(seen, vec![(3, "/ev".to_string())]);
    }
    server.shutdown().await;
}
