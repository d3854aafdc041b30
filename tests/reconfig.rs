//! Dynamic reconfiguration with a ferrokeeper learner under a real ZooKeeper 3.8 leader:
//! `reconfig` adds a server and removes one (first a stranger, then our node) under a write
//! load; our follower keeps following through each COMMITANDACTIVATE (its clients are never
//! disconnected), and its `/zookeeper/config`, dynamic config file, rewritten zoo.cfg (and
//! zoo.cfg.bak) and `conf` membership are the real follower's.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::free_port;
use common::realzk::{skip, wait_formed, Mixed, SERIAL};

/// `/zookeeper/config` through `sid` after a sync: data and the Stat fields a reconfig sets.
async fn config_node(ens: &Mixed, sid: usize) -> String {
    ens.kazoo(
        sid,
        "zk.sync('/zookeeper/config')\nd, st = zk.get('/zookeeper/config')\n\
         print(repr(d.decode()), st.czxid, st.mzxid, st.version, st.dataLength, st.pzxid)",
    )
    .await
    .trim()
    .to_owned()
}

/// The `membership:` block of `conf`.
async fn membership(ens: &Mixed, sid: usize) -> String {
    let conf = ens.four(sid, "conf").await.expect("conf answers");
    conf.split_once("membership: ")
        .map(|(_, m)| m.trim().to_owned())
        .unwrap_or_else(|| panic!("no membership in conf of {sid}: {conf}"))
}

/// `sid`'s zoo.cfg with its own dataDir and client port masked.
fn masked_cfg(ens: &Mixed, sid: usize, name: &str) -> String {
    let dir = ens.dir(sid);
    let text = std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let canonical = std::fs::canonicalize(&dir).unwrap();
    text.replace(&canonical.display().to_string(), "<dir>")
        .replace(&dir.display().to_string(), "<dir>")
        .replace(&ens.ports[sid - 1].client.to_string(), "<port>")
}

/// Waits until ours and the real follower show the config version `version` everywhere
/// they keep it, then compares them.
async fn same_config(ens: &Mixed, real: usize, ours: usize, version: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let want = format!("version={version}");
    loop {
        let (r, o) = (config_node(ens, real).await, config_node(ens, ours).await);
        if r.contains(&want) && r == o {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "/zookeeper/config differs (want {want}):\nreal {r}\nours {o}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let (r, o) = (membership(ens, real).await, membership(ens, ours).await);
    assert!(r.ends_with(&want), "{r}");
    assert_eq!(o, r, "conf membership");
    let dynamic = format!("zoo.cfg.dynamic.{version}");
    let (r, o) = (
        masked_cfg(ens, real, &dynamic),
        masked_cfg(ens, ours, &dynamic),
    );
    assert_eq!(o, r, "{dynamic}");
    assert_eq!(
        masked_cfg(ens, ours, "zoo.cfg"),
        masked_cfg(ens, real, "zoo.cfg"),
        "rewritten zoo.cfg"
    );
    assert_eq!(
        masked_cfg(ens, ours, "zoo.cfg.bak"),
        masked_cfg(ens, real, "zoo.cfg.bak"),
        "zoo.cfg.bak"
    );
    for sid in [real, ours] {
        assert!(
            !ens.dir(sid).join("zoo.cfg.dynamic.next").exists(),
            "{sid} keeps a proposed config after the commit"
        );
    }
}

/// The config version of `/zookeeper/config` as `sid` reads it.
async fn config_version(ens: &Mixed, sid: usize) -> String {
    let node = config_node(ens, sid).await;
    let at = node.rfind("version=").expect("version line") + "version=".len();
    node[at..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ferrokeeper_follower_goes_through_reconfigs_of_a_zookeeper_leader() {
    if skip() {
        return;
    }
    let _serial = SERIAL.lock().await;
    let mut ens = Mixed::new("reconfig", 3, &[], 200);
    ens.set_extra_all("reconfigEnabled=true\n");
    ens.set_jvm_flags_all("-Dzookeeper.skipACL=yes");
    ens.start_real(1);
    ens.start_real(2);
    let leader = wait_formed(&ens, &[1, 2], 60).await;
    ens.start_ours(3).await;
    ens.wait_mode(3, "follower", 60).await;
    let real = 3 - leader; // the real follower
    let epoch = ens.zxid(3).await >> 32;

    // a client of ours writes all along; a re-election would disconnect it
    let load = ens.kazoo_background(
        3,
        "import time\nstates = []\nzk.add_listener(lambda s: states.append(s))\n\
         zk.ensure_path('/load')\nn = 0\nend = time.time() + 12\n\
         while time.time() < end:\n\
         \x20   zk.create('/load/n', b'x', sequence=True)\n\
         \x20   n += 1\n\
         \x20   time.sleep(0.02)\n\
         print(n, states)",
    );
    tokio::time::sleep(Duration::from_millis(500)).await;

    // a fourth participant that never runs: 1, 2 and 3 are a quorum of both configs
    let (q, e, c) = (free_port(), free_port(), free_port());
    let add = format!("server.4=127.0.0.1:{q}:{e}:participant;127.0.0.1:{c}");
    let out = ens
        .kazoo(
            leader,
            &format!("d, st = zk.reconfig(joining='{add}', leaving=None, new_members=None)\nprint(d.decode())"),
        )
        .await;
    assert!(out.contains("server.4="), "{out}");
    let v1 = config_version(&ens, leader).await;
    same_config(&ens, real, 3, &v1).await;
    assert!(membership(&ens, 3).await.contains("server.4="));

    // through our node: forwarded to the leader, answered with the new config
    let out = ens
        .kazoo(
            3,
            "d, st = zk.reconfig(joining=None, leaving='4', new_members=None)\nprint(d.decode())",
        )
        .await;
    assert!(!out.contains("server.4="), "{out}");
    let v2 = config_version(&ens, leader).await;
    assert_ne!(v1, v2);
    same_config(&ens, real, 3, &v2).await;

    let summary = load.finish().await;
    let (n, states) = summary.trim().split_once(' ').unwrap();
    assert!(n.parse::<u64>().unwrap() > 50, "{summary}");
    assert_eq!(states, "[]", "our client saw the connection change");
    assert_eq!(ens.mode(3).await.as_deref(), Some("follower"));
    assert_eq!(ens.zxid(3).await >> 32, epoch, "an election happened");

    // our node removed: as 3.8, it stays a (non-voting) follower of the same leader
    ens.kazoo(
        leader,
        "zk.reconfig(joining=None, leaving='3', new_members=None)",
    )
    .await;
    let v3 = config_version(&ens, leader).await;
    same_config(&ens, real, 3, &v3).await;
    assert!(!membership(&ens, 3).await.contains("server.3="));
    assert_eq!(ens.mode(3).await.as_deref(), Some("follower"));
    ens.kazoo(3, "zk.create('/after-removal', b'y')").await;
    assert_eq!(ens.get(real, "/after-removal").await.0, "y");
    assert_eq!(ens.zxid(3).await >> 32, epoch, "an election happened");
    ens.stop_ours(3).await;
}
