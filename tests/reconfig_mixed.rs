//! Dynamic reconfiguration led by a ferrokeeper leader with real ZooKeeper 3.8 followers,
//! under a write load through the real nodes: a ZooKeeper server joins (it follows first as
//! a non-voter, then `reconfig` adds it), a ZooKeeper follower leaves, then our leader leaves
//! and a ZooKeeper node leads the rest. After each step every node's `/zookeeper/config` and
//! zoo.cfg.dynamic.<version> are the same; no acknowledged write is lost.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::realzk::{assert_same_everywhere, skip, wait_formed, Mixed, SERIAL};
use common::reconfig::{load_children, reconfig, same_config};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ferrokeeper_leader_reconfigures_zookeeper_followers() {
    if skip() {
        return;
    }
    let _serial = SERIAL.lock().await;
    let mut ens = Mixed::new("reconfig-mixed", 4, &[], 200);
    ens.set_members(3);
    ens.set_extra_all("reconfigEnabled=true\n");
    ens.set_jvm_flags_all("-Dzookeeper.skipACL=yes");
    // ours first: with every zxid 0 the largest sid (3) wins the first election
    ens.start_ours(3).await;
    ens.start_real(1);
    ens.start_real(2);
    assert_eq!(wait_formed(&ens, &[1, 2, 3], 60).await, 3, "ours leads");
    ens.kazoo(3, "zk.ensure_path('/load')").await;

    // a client of the real nodes writes until told to stop, moving on when its node goes;
    // it prints the names of the creates that were acknowledged
    let stop = ens.root.join("stop-load");
    let hosts = format!(
        "127.0.0.1:{},127.0.0.1:{}",
        ens.ports[0].client, ens.ports[1].client
    );
    let load = ens.kazoo_background(
        1,
        &format!(
            "import os, time\nfrom kazoo.exceptions import KazooException\n\
             w = KazooClient(hosts='{hosts}', timeout=10)\nw.start(timeout=30)\n\
             acked = []\nfailed = 0\nend = time.time() + 150\n\
             while not os.path.exists('{}') and time.time() < end:\n\
             \x20   try:\n\
             \x20       acked.append(w.create('/load/n', b'x', sequence=True))\n\
             \x20   except KazooException:\n\
             \x20       failed += 1\n\
             \x20       time.sleep(0.2)\n\
             \x20   time.sleep(0.02)\n\
             w.stop()\nprint(failed, ' '.join(p.rsplit('/', 1)[1] for p in acked))",
            stop.display()
        ),
    );
    tokio::time::sleep(Duration::from_millis(500)).await;

    // a ZooKeeper server that knows 1..4 follows our leader as a non-voter, then joins
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

    // a ZooKeeper follower leaves, asked through another ZooKeeper node (forwarded to ours);
    // as in 3.8 it goes on following as a non-voter
    let text = reconfig(&ens, 2, "", "1").await;
    assert!(!text.contains("server.1="), "{text}");
    same_config(&ens, &[1, 2, 3, 4], &text).await;
    assert_eq!(ens.mode(1).await.as_deref(), Some("follower"));
    assert_eq!(ens.mode(3).await.as_deref(), Some("leader"));

    // our leader leaves: a ZooKeeper node leads 2 and 4 after it
    let text = reconfig(&ens, 3, "", "3").await;
    assert!(!text.contains("server.3="), "{text}");
    let new_leader = wait_formed(&ens, &[2, 4], 60).await;
    assert!(ens.is_real(new_leader));
    same_config(&ens, &[1, 2, 4], &text).await;
    ens.kazoo(new_leader, "zk.create('/after', b'z')").await;

    tokio::time::sleep(Duration::from_millis(500)).await;
    std::fs::write(&stop, b"").unwrap();
    let summary = load.finish().await;
    let (failed, names) = summary
        .trim()
        .split_once(' ')
        .unwrap_or((summary.trim(), ""));
    let acked: BTreeSet<String> = names.split_whitespace().map(str::to_owned).collect();
    assert!(
        acked.len() > 50,
        "only {} writes acknowledged ({failed} failed)",
        acked.len()
    );
    let present = load_children(&ens, new_leader).await;
    let lost: Vec<&String> = acked.difference(&present).collect();
    assert!(lost.is_empty(), "acknowledged creates lost: {lost:?}");
    assert_same_everywhere(&ens, &[1, 2, 4]).await;
    ens.stop_ours(3).await;
}
