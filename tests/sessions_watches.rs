//! Sessions (negotiation, reconnect, expiry) and watches (one-shot, persistent, recursive,
//! SetWatches after a reconnect) over TCP.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{start_server, Client};
use ferrokeeper::jute::codes::{ErrorCode, OpCode};
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
