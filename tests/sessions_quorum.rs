//! Sessions in an ensemble as 3.8 has them: SessionMoved (a session that reconnected through
//! another server; its stale connection's next request is not answered and the connection
//! is closed, `FinalRequestProcessor`), and local sessions (`localSessionsEnabled`: created
//! and expired on the server the client talks to with no txn, unknown elsewhere, upgraded
//! to a global session by a createSession txn when they first create an ephemeral node).
//! Ferrokeeper-only ensembles and mixed ones with real ZooKeeper 3.8 nodes, both kinds of
//! leader. Behaviour checked against a real 3.8 ensemble first.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::realzk::{available, wait_formed, Mixed, SERIAL};
use common::{create, Client};
use ferrokeeper::jute::codes::{ErrorCode, OpCode};
use ferrokeeper::jute::proto::{ExistsRequest, ExistsResponse};

const TICK_MS: u64 = 500;
const LOCAL: &str = "localSessionsEnabled=true\nlocalSessionsUpgradingEnabled=true\n";

/// A session made through `a` moves to `b` by a reconnect; its connection to `a` stays
/// open. The next request there (a write, or a read when `a` leads) is not answered and
/// the connection closes; the session carries on through `b`.
async fn session_moves(ens: &Mixed, a: usize, b: usize, write: bool, tag: &str) {
    let mut old = Client::connect(ens.client(a)).await;
    let made = old
        .call(OpCode::CREATE, &create(&format!("/{tag}"), b"x", 0))
        .await;
    assert_eq!(made.err(), ErrorCode::OK, "{tag}");
    // a server that has not applied the client's last zxid yet (a leader may apply a commit
    // after the follower it sent COMMIT to did) refuses it for now, as 3.8 does: retry
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut new = loop {
        let moved = Client::connect_with(
            ens.client(b),
            old.session_id,
            old.passwd.clone(),
            30000,
            old.last_zxid,
        )
        .await;
        if let Some(c) = moved {
            break c;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the session reconnects through another server"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    if write {
        old.send(OpCode::CREATE, &create(&format!("/{tag}-stale"), b"", 0))
            .await;
    } else {
        let req = ExistsRequest {
            path: format!("/{tag}"),
            watch: false,
        };
        old.send(OpCode::EXISTS, &req).await;
    }
    let answer = old.recv().await;
    assert!(
        answer.is_none(),
        "{tag}: the stale connection through {a} was answered: {answer:?}"
    );
    assert!(old.is_closed().await, "{tag}: stale connection left open");
    let again = new
        .call(OpCode::CREATE, &create(&format!("/{tag}-new"), b"", 0))
        .await;
    assert_eq!(again.err(), ErrorCode::OK, "{tag}");
    assert_eq!(new.close_session().await.err(), ErrorCode::OK);
}

/// The leader and the followers of a formed ensemble of `sids`.
async fn roles(ens: &Mixed, sids: &[usize]) -> (usize, Vec<usize>) {
    let leader = wait_formed(ens, sids, 60).await;
    let followers = sids.iter().copied().filter(|s| *s != leader).collect();
    (leader, followers)
}

fn ephemeral_owner(reply: &common::Reply) -> i64 {
    reply.decode::<ExistsResponse>().stat.ephemeral_owner
}

/// A local session made through `a`: no txn, `a`'s id in its top byte, unknown to
/// `other`; its first ephemeral create upgrades it (createSession, then the create: two
/// zxids), after which `other` takes its reconnect.
async fn local_session(ens: &Mixed, a: usize, other: usize, tag: &str) {
    let before = ens.zxid(a).await;
    let mut c = Client::connect(ens.client(a)).await;
    assert_eq!(c.session_id >> 56, a as i64, "{tag}: session id layout");
    assert_eq!(
        ens.zxid(a).await,
        before,
        "{tag}: a local session is no txn"
    );
    assert!(ens.mntr(a, "local_sessions").await >= 1, "{tag}");
    let made = c
        .call(OpCode::CREATE, &create(&format!("/{tag}"), b"", 0))
        .await;
    assert_eq!(made.err(), ErrorCode::OK, "{tag}: a local session writes");
    let refused = Client::connect_with(
        ens.client(other),
        c.session_id,
        c.passwd.clone(),
        30000,
        c.last_zxid,
    )
    .await;
    assert!(
        refused.is_none(),
        "{tag}: server {other} took a reconnect of {a}'s local session"
    );

    let persistent = made.header.zxid;
    let eph = c
        .call(OpCode::CREATE, &create(&format!("/{tag}-e"), b"", 1))
        .await;
    assert_eq!(eph.err(), ErrorCode::OK, "{tag}: ephemeral create");
    assert_eq!(
        eph.header.zxid,
        persistent + 2,
        "{tag}: the createSession of the upgrade goes first"
    );
    // `other` may not have applied the ephemeral's commit yet, and a server behind the
    // client's last zxid hangs up (as 3.8's does): a client retries, so does this one
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut moved = loop {
        let attempt = Client::connect_with(
            ens.client(other),
            c.session_id,
            c.passwd.clone(),
            30000,
            c.last_zxid,
        )
        .await;
        match attempt {
            Some(moved) => break moved,
            None if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            None => panic!("{tag}: the upgraded session is refused by {other} for 10 s"),
        }
    };
    let stat = moved
        .call(
            OpCode::EXISTS,
            &ExistsRequest {
                path: format!("/{tag}-e"),
                watch: false,
            },
        )
        .await;
    assert_eq!(stat.err(), ErrorCode::OK);
    assert_eq!(ephemeral_owner(&stat), c.session_id, "{tag}");
    assert_eq!(moved.close_session().await.err(), ErrorCode::OK);
}

/// A local session on `a` expires there only: no closeSession txn anywhere, and a
/// reconnect is refused afterwards.
async fn local_session_expires(ens: &Mixed, a: usize, leader: usize, tag: &str) {
    let c = Client::connect_with(ens.client(a), 0, Bytes::from_static(&[0; 16]), 1000, 0)
        .await
        .expect("session");
    let before = ens.zxid(leader).await;
    tokio::time::sleep(Duration::from_millis(4 * TICK_MS + 1500)).await;
    let again = Client::connect_with(ens.client(a), c.session_id, c.passwd.clone(), 1000, 0).await;
    assert!(
        again.is_none(),
        "{tag}: the local session outlived its timeout"
    );
    assert_eq!(
        ens.zxid(leader).await,
        before,
        "{tag}: a local session's expiry is no txn"
    );
    assert_eq!(ens.zxid(a).await, before, "{tag}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_moved_ours_only() {
    common::realzk::log_to_stderr();
    let _serial = SERIAL.lock().await;
    let mut ens = Mixed::new("moved-ours", 3, &[], TICK_MS);
    for sid in 1..=3 {
        ens.start_ours(sid).await;
    }
    let (leader, f) = roles(&ens, &[1, 2, 3]).await;
    session_moves(&ens, f[0], f[1], true, "ff").await;
    session_moves(&ens, leader, f[0], false, "lf").await;
    session_moves(&ens, f[0], leader, true, "fl").await;
    for sid in 1..=3 {
        ens.stop_ours(sid).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_sessions_ours_only() {
    common::realzk::log_to_stderr();
    let _serial = SERIAL.lock().await;
    let mut ens = Mixed::new("local-ours", 3, &[], TICK_MS);
    ens.set_extra_all(LOCAL);
    for sid in 1..=3 {
        ens.start_ours(sid).await;
    }
    let (leader, f) = roles(&ens, &[1, 2, 3]).await;
    local_session(&ens, f[0], f[1], "ff").await;
    local_session(&ens, leader, f[0], "lf").await;
    local_session(&ens, f[1], leader, "fl").await;
    local_session_expires(&ens, f[0], leader, "expiry-f").await;
    local_session_expires(&ens, leader, leader, "expiry-l").await;
    for sid in 1..=3 {
        ens.stop_ours(sid).await;
    }
}

/// Real nodes 1 and 2, ours 3: ours follows the real leader, then leads the real nodes.
async fn mixed_both_leaders(
    tag: &str,
    extra: &str,
    mut under_real: impl FnMut(&Mixed, usize, usize) -> futures::future::BoxFuture<'_, ()>,
    mut under_ours: impl FnMut(&Mixed, usize) -> futures::future::BoxFuture<'_, ()>,
) {
    let _serial = SERIAL.lock().await;
    let mut ens = Mixed::new(tag, 3, &[], TICK_MS);
    ens.set_extra_all(extra);
    ens.start_real(1);
    ens.start_real(2);
    let leader = wait_formed(&ens, &[1, 2], 60).await;
    let real_follower = 3 - leader;
    ens.start_ours(3).await;
    ens.wait_mode(3, "follower", 60).await;
    under_real(&ens, leader, real_follower).await;

    ens.kill_real(leader);
    ens.wait_mode(3, "leader", 60).await;
    ens.wait_mode(real_follower, "follower", 60).await;
    under_ours(&ens, real_follower).await;
    ens.stop_ours(3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_moved_mixed() {
    if !available() {
        println!("skipped: java, the ZooKeeper jars or python3-kazoo missing");
        return;
    }
    common::realzk::log_to_stderr();
    mixed_both_leaders(
        "moved-mixed",
        "",
        |ens, leader, real_f| {
            Box::pin(async move {
                // our follower hears the real leader's SessionMoved error txn
                session_moves(ens, 3, real_f, true, "rl-of").await;
                // our follower's REVALIDATE moves the session off the real leader
                session_moves(ens, leader, 3, false, "rl-lo").await;
            })
        },
        |ens, real_f| {
            Box::pin(async move {
                // our leader: the real follower's stale write; its own stale read
                session_moves(ens, real_f, 3, true, "ol-fl").await;
                session_moves(ens, 3, real_f, false, "ol-lf").await;
            })
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_sessions_mixed() {
    if !available() {
        println!("skipped: java, the ZooKeeper jars or python3-kazoo missing");
        return;
    }
    common::realzk::log_to_stderr();
    mixed_both_leaders(
        "local-mixed",
        LOCAL,
        |ens, leader, real_f| {
            Box::pin(async move {
                local_session(ens, 3, real_f, "rl-ours").await;
                local_session(ens, real_f, 3, "rl-real").await;
                local_session_expires(ens, 3, leader, "rl-expiry").await;
            })
        },
        |ens, real_f| {
            Box::pin(async move {
                // the real follower's local session writes and upgrades through our leader
                local_session(ens, real_f, 3, "ol-real").await;
                local_session(ens, 3, real_f, "ol-ours").await;
                local_session_expires(ens, 3, 3, "ol-expiry").await;
            })
        },
    )
    .await;
}
