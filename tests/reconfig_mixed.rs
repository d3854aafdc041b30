//! Dynamic reconfiguration led by a ferrokeeper leader with real ZooKeeper 3.8 followers,
//! under a write load through the real nodes: a ZooKeeper server joins (it follows first as
//! a non-voter, then `reconfig` adds it), a ZooKeeper follower leaves, then our leader leaves
//! and a ZooKeeper node leads the rest; and role and client-port changes of the followers and
//! of our leader itself. After each step every node's `/zookeeper/config` and
//! zoo.cfg.dynamic.<version> are the same; no acknowledged write is lost. Each scenario runs
//! twice: with ours as the leader, then with a ZooKeeper node in its place, so the same
//! steps and checks hold against an all-ZooKeeper ensemble.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::free_port;
use common::realzk::{assert_same_everywhere, skip, wait_formed, Mixed, SERIAL};
use common::reconfig::{
    leader_leaves, line, reconfig, same_config, wait_refused, write_through, Load,
};

/// `n` servers with reconfig enabled and skipACL, `1..=members` the initial ensemble; 3
/// (ours when `ours`) starts first and wins the first election (every zxid 0, the largest
/// sid).
async fn three_leads(tag: &str, n: usize, members: usize, ours: bool) -> Mixed {
    let tag = if ours {
        tag.to_owned()
    } else {
        format!("{tag}-zk")
    };
    let mut ens = Mixed::new(&tag, n, &[], 200);
    ens.set_members(members);
    ens.set_extra_all("reconfigEnabled=true\n");
    ens.set_jvm_flags_all("-Dzookeeper.skipACL=yes");
    ens.start_as(3, ours).await;
    ens.start_real(1);
    ens.start_real(2);
    assert_eq!(wait_formed(&ens, &[1, 2, 3], 60).await, 3, "3 leads");
    ens
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ferrokeeper_leader_reconfigures_zookeeper_followers() {
    if skip() {
        return;
    }
    let _serial = SERIAL.lock().await;
    members_join_and_leave(true).await;
    members_join_and_leave(false).await;
}

/// 4 joins, 1 leaves, then the leader (3) leaves.
async fn members_join_and_leave(ours: bool) {
    let mut ens = three_leads("reconfig-mixed", 4, 3, ours).await;
    let load = Load::start(&ens, &[1, 2]).await;

    // a ZooKeeper server that knows 1..4 follows the leader as a non-voter, then joins
    ens.start_real(4);
    ens.wait_mode(4, "follower", 60).await;
    let p4 = ens.ports[3];
    let join = format!(
        "server.4=127.0.0.1:{}:{}:participant;127.0.0.1:{}",
        p4.quorum, p4.election, p4.client
    );
    let text = reconfig(&ens, 3, &join, "").await;
    assert!(text.contains(&join), "{text}");
    same_config(&ens, &[1, 2, 3, 4], &text).await;

    // a ZooKeeper follower leaves, asked through another ZooKeeper node (forwarded to the
    // leader); as in 3.8 it goes on following as a non-voter
    let text = reconfig(&ens, 2, "", "1").await;
    assert!(!text.contains("server.1="), "{text}");
    same_config(&ens, &[1, 2, 3, 4], &text).await;
    assert_eq!(ens.mode(1).await.as_deref(), Some("follower"));
    assert_eq!(ens.mode(3).await.as_deref(), Some("leader"));

    // the leader leaves: a ZooKeeper node leads 2 and 4 after it
    let text = leader_leaves(&ens, 3, 2).await;
    assert!(!text.contains("server.3="), "{text}");
    let new_leader = wait_formed(&ens, &[2, 4], 60).await;
    same_config(&ens, &[1, 2, 4], &text).await;
    ens.kazoo(new_leader, "zk.create('/after', b'z')").await;

    load.finish(&ens, new_leader, 50).await;
    assert_same_everywhere(&ens, &[1, 2, 4]).await;
    ens.stop(3).await;
}

/// Under our leader (then a ZooKeeper one), each under a write load through the ZooKeeper
/// nodes: a ZooKeeper
/// follower becomes an observer and a participant again, a ZooKeeper follower's client port
/// moves, our leader's own client port moves (it goes on leading), and our leader becomes an
/// observer (a ZooKeeper node leads) and then a participant again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ferrokeeper_leader_changes_roles_and_client_ports() {
    if skip() {
        return;
    }
    let _serial = SERIAL.lock().await;
    roles_and_ports_change(true).await;
    roles_and_ports_change(false).await;
}

/// Under the leader 3: 1 becomes an observer and back, 2's and 3's client ports move, 3
/// becomes an observer and back.
async fn roles_and_ports_change(ours: bool) {
    let mut ens = three_leads("reconfig-mixed-roles", 3, 3, ours).await;
    let load = Load::start(&ens, &[1, 2]).await;

    let client1 = ens.ports[0].client;
    let text = reconfig(&ens, 2, &line(&ens, 1, "observer", client1), "").await;
    assert!(text.contains(":observer;"), "{text}");
    ens.wait_mode(1, "observer", 60).await;
    same_config(&ens, &[1, 2, 3], &text).await;
    write_through(&ens, 1, 3, "/real-as-observer").await;
    let text = reconfig(&ens, 3, &line(&ens, 1, "participant", client1), "").await;
    assert!(!text.contains(":observer;"), "{text}");
    ens.wait_mode(1, "follower", 60).await;
    same_config(&ens, &[1, 2, 3], &text).await;
    assert_eq!(ens.mode(3).await.as_deref(), Some("leader"));

    // a ZooKeeper follower's client port
    let (old, new) = (ens.client(2), free_port());
    let text = reconfig(&ens, 1, &line(&ens, 2, "participant", new), "").await;
    assert!(text.contains(&format!(";127.0.0.1:{new}")), "{text}");
    wait_refused(old).await;
    ens.ports[1].client = new;
    ens.wait_mode(2, "follower", 30).await;
    same_config(&ens, &[1, 2, 3], &text).await;
    write_through(&ens, 2, 3, "/real-new-port").await;

    // the leader's own client port: it moves its listener and goes on leading
    let (old, new) = (ens.client(3), free_port());
    let text = reconfig(&ens, 1, &line(&ens, 3, "participant", new), "").await;
    assert!(text.contains(&format!(";127.0.0.1:{new}")), "{text}");
    wait_refused(old).await;
    ens.ports[2].client = new;
    ens.wait_mode(3, "leader", 30).await;
    same_config(&ens, &[1, 2, 3], &text).await;
    write_through(&ens, 3, 1, "/leader-new-port").await;

    // the leader becomes an observer: a ZooKeeper node leads, 3 observes it
    let client3 = ens.ports[2].client;
    let text = reconfig(&ens, 3, &line(&ens, 3, "observer", client3), "").await;
    assert!(text.contains(":observer;"), "{text}");
    let real_leader = wait_formed(&ens, &[1, 2], 60).await;
    ens.wait_mode(3, "observer", 60).await;
    same_config(&ens, &[1, 2, 3], &text).await;
    write_through(&ens, 3, real_leader, "/ours-as-observer").await;
    let text = reconfig(&ens, 1, &line(&ens, 3, "participant", client3), "").await;
    assert!(!text.contains(":observer;"), "{text}");
    ens.wait_mode(3, "follower", 60).await;
    same_config(&ens, &[1, 2, 3], &text).await;
    write_through(&ens, 3, 2, "/ours-as-follower-again").await;

    load.finish(&ens, 3, 20).await;
    assert_same_everywhere(&ens, &[1, 2, 3]).await;
    ens.stop(3).await;
}
