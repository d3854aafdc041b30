//! Dynamic reconfiguration led by a real ZooKeeper 3.8 leader with ferrokeeper nodes in the
//! ensemble, each step under a write load through a node that stays: a ferrokeeper server
//! joins by an incremental reconfig (following as a non-voter first, as 3.8 requires), the
//! ZooKeeper leader removes itself (the designated leader leads, compared with an
//! all-ZooKeeper ensemble in the same step), a ferrokeeper follower is made an observer and a
//! participant again, and a ferrokeeper follower's client port is moved. After each step
//! every node's `/zookeeper/config` and zoo.cfg.dynamic.<version> are the same; no
//! acknowledged write is lost. Each scenario runs twice: with ours, then with a ZooKeeper
//! node in its place, so the same steps and checks hold against an all-ZooKeeper ensemble.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::free_port;
use common::realzk::{assert_same_everywhere, skip, wait_formed, Mixed, SERIAL};
use common::reconfig::{
    leader_leaves, line, reconfig, same_config, wait_refused, write_through, Load,
};

/// `n` servers with reconfig enabled and skipACL, `1..=members` the initial ensemble.
fn ensemble(tag: &str, n: usize, members: usize, ours: bool) -> Mixed {
    let tag = if ours {
        tag.to_owned()
    } else {
        format!("{tag}-zk")
    };
    let mut ens = Mixed::new(&tag, n, &[], 200);
    ens.set_members(members);
    ens.set_extra_all("reconfigEnabled=true\n");
    ens.set_jvm_flags_all("-Dzookeeper.skipACL=yes");
    ens
}

/// Real nodes 1 and 2 form the ensemble (2 leads: the larger sid), then 3 (ours when
/// `ours`) follows it.
async fn real_leader_then_three(tag: &str, ours: bool) -> Mixed {
    let mut ens = ensemble(tag, 3, 3, ours);
    ens.start_real(1);
    ens.start_real(2);
    assert_eq!(wait_formed(&ens, &[1, 2], 60).await, 2);
    ens.start_as(3, ours).await;
    ens.wait_mode(3, "follower", 60).await;
    ens
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_ferrokeeper_server_joins_a_zookeeper_ensemble_by_reconfig() {
    if skip() {
        return;
    }
    let _serial = SERIAL.lock().await;
    fourth_joins(true).await;
    fourth_joins(false).await;
}

/// A 3-node ZooKeeper ensemble; 4 (ours when `ours`) follows as a non-voter, then joins.
async fn fourth_joins(ours: bool) {
    let mut ens = ensemble("rzl-join", 4, 3, ours);
    for sid in 1..=3 {
        ens.start_real(sid);
    }
    let leader = wait_formed(&ens, &[1, 2, 3], 60).await;
    let follower = if leader == 1 { 2 } else { 1 };
    let load = Load::start(&ens, &[follower]).await;

    // 4 knows 1..4: the ZooKeeper leader takes it as a non-voting follower
    ens.start_as(4, ours).await;
    ens.wait_mode(4, "follower", 60).await;
    let join = line(&ens, 4, "participant", ens.ports[3].client);
    let text = reconfig(&ens, leader, &join, "").await;
    assert!(text.contains(&join), "{text}");
    same_config(&ens, &[1, 2, 3, 4], &text).await;
    assert_eq!(ens.mode(4).await.as_deref(), Some("follower"));
    assert_eq!(ens.mode(leader).await.as_deref(), Some("leader"));

    // 4 serves reads and writes as a voter
    write_through(&ens, 4, leader, "/via-4").await;
    write_through(&ens, leader, 4, "/via-leader").await;
    load.finish(&ens, 4, 20).await;
    assert_same_everywhere(&ens, &[1, 2, 3, 4]).await;
    ens.stop(4).await;
}

/// Real nodes `first` form the ensemble (the larger sid leads), then `third` (ours when
/// `ours`) follows; the leader removes itself under a load through a node that stays (held
/// while the reconfig is in flight when `hold`). The sid that then leads the other two, once
/// every node's config is the same (the old leader goes on as a non-voting follower, as in
/// 3.8) and no acknowledged write is lost.
async fn leader_removes_itself(first: [usize; 2], third: usize, ours: bool, hold: bool) -> usize {
    let mut ens = ensemble("rzl-leave", 3, 3, ours);
    ens.start_real(first[0]);
    ens.start_real(first[1]);
    let old = wait_formed(&ens, &first, 60).await;
    assert_eq!(old, first[0].max(first[1]));
    ens.start_as(third, ours).await;
    ens.wait_mode(third, "follower", 60).await;
    let stay = first[0].min(first[1]);
    let load = Load::start(&ens, &[stay]).await;

    if hold {
        load.pause().await;
    }
    let text = leader_leaves(&ens, old, stay).await;
    if hold {
        load.resume();
    }
    assert!(!text.contains(&format!("server.{old}=")), "{text}");
    let mut voters = [stay, third];
    voters.sort_unstable();
    let leader = wait_formed(&ens, &voters, 60).await;
    same_config(&ens, &voters, &text).await;
    ens.wait_mode(old, "follower", 60).await;
    same_config(&ens, &[1, 2, 3], &text).await;
    write_through(&ens, third, stay, "/via-third").await;
    write_through(&ens, old, third, "/via-old-leader").await;
    load.finish(&ens, leader, 20).await;
    assert_same_everywhere(&ens, &[1, 2, 3]).await;
    ens.stop(third).await;
    leader
}

// The designated leader (`Leader#getDesignatedLeader`) is one of the new config's voters that
// acked the reconfig; both must here (2 of 2), and with no proposal after it the first in its
// HashSet is the smaller sid. With proposals after it, the one that acked more of them is
// chosen: under a load an all-ZooKeeper ensemble went either way, so the load holds its
// writes while the reconfig is in flight.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_zookeeper_leader_removes_itself_and_a_ferrokeeper_follower_takes_over() {
    if skip() {
        return;
    }
    let _serial = SERIAL.lock().await;
    // ours is sid 1: designated, it leads the ZooKeeper follower and the old leader
    let mixed = leader_removes_itself([2, 3], 1, true, true).await;
    let all_zk = leader_removes_itself([2, 3], 1, false, true).await;
    println!("after the leader left: {mixed} leads (ours as 1), {all_zk} (all ZooKeeper)");
    assert_eq!(mixed, 1, "ours was designated");
    assert_eq!(
        mixed, all_zk,
        "a different node leads than in an all-ZooKeeper ensemble"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_zookeeper_leader_removes_itself_and_a_ferrokeeper_follower_follows_the_next() {
    if skip() {
        return;
    }
    let _serial = SERIAL.lock().await;
    // ours is sid 3: a ZooKeeper node (1) is designated and ours follows it
    let mixed = leader_removes_itself([1, 2], 3, true, true).await;
    let all_zk = leader_removes_itself([1, 2], 3, false, true).await;
    println!("after the leader left: {mixed} leads (ours as 3), {all_zk} (all ZooKeeper)");
    assert_eq!(mixed, 1, "the ZooKeeper follower was designated");
    assert_eq!(
        mixed, all_zk,
        "a different node leads than in an all-ZooKeeper ensemble"
    );
}

// With the load's writes in flight during the reconfig, either voter may be designated (in
// an all-ZooKeeper ensemble too), so only what must hold either way is checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_zookeeper_leader_removes_itself_while_writes_are_in_flight() {
    if skip() {
        return;
    }
    let _serial = SERIAL.lock().await;
    for ours in [true, false] {
        let leader = leader_removes_itself([2, 3], 1, ours, false).await;
        println!("after the leader left under writes: {leader} leads (ours as 1: {ours})");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_zookeeper_leader_makes_a_ferrokeeper_follower_an_observer_and_back() {
    if skip() {
        return;
    }
    let _serial = SERIAL.lock().await;
    third_observes_and_follows_again(true).await;
    third_observes_and_follows_again(false).await;
}

async fn third_observes_and_follows_again(ours: bool) {
    let mut ens = real_leader_then_three("rzl-role", ours).await;
    let load = Load::start(&ens, &[1]).await;
    let client = ens.ports[2].client;

    let text = reconfig(&ens, 2, &line(&ens, 3, "observer", client), "").await;
    assert!(text.contains(":observer;"), "{text}");
    ens.wait_mode(3, "observer", 60).await;
    same_config(&ens, &[1, 2, 3], &text).await;
    write_through(&ens, 3, 1, "/as-observer").await;

    let text = reconfig(&ens, 1, &line(&ens, 3, "participant", client), "").await;
    assert!(!text.contains(":observer;"), "{text}");
    ens.wait_mode(3, "follower", 60).await;
    same_config(&ens, &[1, 2, 3], &text).await;
    write_through(&ens, 3, 2, "/as-follower").await;
    assert_eq!(ens.mode(2).await.as_deref(), Some("leader"));

    load.finish(&ens, 3, 20).await;
    assert_same_everywhere(&ens, &[1, 2, 3]).await;
    ens.stop(3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_zookeeper_leader_moves_a_ferrokeeper_followers_client_port() {
    if skip() {
        return;
    }
    let _serial = SERIAL.lock().await;
    third_moves_its_client_port(true).await;
    third_moves_its_client_port(false).await;
}

async fn third_moves_its_client_port(ours: bool) {
    let mut ens = real_leader_then_three("rzl-port", ours).await;
    let load = Load::start(&ens, &[1]).await;
    let old = ens.client(3);
    let new = free_port();

    let text = reconfig(&ens, 2, &line(&ens, 3, "participant", new), "").await;
    assert!(text.contains(&format!(";127.0.0.1:{new}")), "{text}");
    wait_refused(old).await;
    ens.ports[2].client = new;
    ens.wait_mode(3, "follower", 30).await;
    same_config(&ens, &[1, 2, 3], &text).await;
    write_through(&ens, 3, 2, "/via-new-port").await;

    load.finish(&ens, 3, 20).await;
    assert_same_everywhere(&ens, &[1, 2, 3]).await;
    ens.stop(3).await;
}
