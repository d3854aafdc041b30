//! Ensembles of ferrokeeper servers in one process, on loopback: election, writes through
//! every node (followers forward them), reads of one's own writes everywhere after sync,
//! sessions moving between nodes, a leader shut down and a new one elected. Mixed ensembles
//! with Apache ZooKeeper are in compat-tests/ensemble.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::srvr_mode as mode;
use common::{connect_when_up, create, exists, free_port, temp_data_dir, Client};
use ferrokeeper::jute::codes::{ErrorCode, OpCode};
use ferrokeeper::jute::proto::{GetDataRequest, GetDataResponse, SyncRequest};
use ferrokeeper::server::RunningServer;

struct Node {
    sid: usize,
    cfg: PathBuf,
    client: SocketAddr,
    server: Option<RunningServer>,
}

/// Write zoo.cfg + myid for `n` nodes under one temp dir.
fn ensemble_configs(n: usize) -> Vec<(usize, PathBuf, SocketAddr)> {
    let root = temp_data_dir();
    let ports: Vec<(u16, u16, u16)> = (0..n)
        .map(|_| (free_port(), free_port(), free_port()))
        .collect();
    let lines: String = ports
        .iter()
        .enumerate()
        .map(|(i, (q, e, _))| format!("server.{}=127.0.0.1:{q}:{e}\n", i + 1))
        .collect();
    (0..n)
        .map(|i| {
            let dir = root.join(format!("n{}", i + 1));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("myid"), format!("{}\n", i + 1)).unwrap();
            let client = ports[i].2;
            let text = format!(
                "tickTime=200\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort={client}\n\
                 clientPortAddress=127.0.0.1\nadmin.enableServer=false\nmaxSessionTimeout=30000\n\
                 4lw.commands.whitelist=*\n{lines}",
                dir.display()
            );
            let cfg = dir.join("zoo.cfg");
            std::fs::write(&cfg, text).unwrap();
            (i + 1, cfg, SocketAddr::from(([127, 0, 0, 1], client)))
        })
        .collect()
}

async fn start(cfg: &Path) -> RunningServer {
    let cfg = ferrokeeper::config::load(cfg).expect("ensemble config");
    ferrokeeper::server::start(cfg).await.expect("node starts")
}

async fn start_ensemble(n: usize) -> Vec<Node> {
    let mut nodes = Vec::new();
    for (sid, cfg, client) in ensemble_configs(n) {
        let server = Some(start(&cfg).await);
        nodes.push(Node {
            sid,
            cfg,
            client,
            server,
        });
    }
    nodes
}

/// Wait (bounded) until every running node serves and exactly one leads; its index.
async fn wait_for_leader(nodes: &[Node]) -> usize {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut modes = Vec::new();
        for n in nodes.iter().filter(|n| n.server.is_some()) {
            modes.push((n.sid, mode(n.client).await));
        }
        if let Some(leader) = common::realzk::single_leader(&modes) {
            return nodes.iter().position(|n| n.sid == leader).unwrap();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no single leader: {modes:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn sync(c: &mut Client, path: &str) {
    let r = c
        .call(
            OpCode::SYNC,
            &SyncRequest {
                path: path.to_owned(),
            },
        )
        .await;
    assert_eq!(r.err(), ErrorCode::OK, "sync");
}

async fn get(c: &mut Client, path: &str) -> Vec<u8> {
    let r = c
        .call(
            OpCode::GET_DATA,
            &GetDataRequest {
                path: path.to_owned(),
                watch: false,
            },
        )
        .await;
    assert_eq!(r.err(), ErrorCode::OK, "get {path}");
    r.decode::<GetDataResponse>()
        .data
        .unwrap_or_default()
        .to_vec()
}

async fn shutdown_all(nodes: &mut [Node]) {
    for n in nodes {
        if let Some(s) = n.server.take() {
            s.shutdown().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_serve_writes_from_every_node_and_survive_the_leader() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .try_init();
    let mut nodes = start_ensemble(3).await;
    let leader = wait_for_leader(&nodes).await;

    // a write through each node, read back from every node after sync
    for (i, n) in nodes.iter().enumerate() {
        let mut c = connect_when_up(n.client).await;
        let r = c
            .call(
                OpCode::CREATE,
                &create(&format!("/via{i}"), format!("v{i}").as_bytes(), 0),
            )
            .await;
        assert_eq!(r.err(), ErrorCode::OK, "create through node {}", n.sid);
    }
    for n in &nodes {
        let mut c = connect_when_up(n.client).await;
        sync(&mut c, "/").await;
        for i in 0..3 {
            assert_eq!(
                get(&mut c, &format!("/via{i}")).await,
                format!("v{i}").as_bytes()
            );
        }
    }

    // an ephemeral owned through a follower; the session moves to another node
    let follower = (leader + 1) % 3;
    let other = (leader + 2) % 3;
    let mut owner = connect_when_up(nodes[follower].client).await;
    let r = owner.call(OpCode::CREATE, &create("/eph", b"", 1)).await;
    assert_eq!(r.err(), ErrorCode::OK);
    let moved = Client::connect_with(
        nodes[other].client,
        owner.session_id,
        owner.passwd.clone(),
        owner.timeout,
        0,
    )
    .await
    .expect("the session moves to another node (REVALIDATE)");
    assert_eq!(moved.session_id, owner.session_id);
    let mut moved = moved;
    sync(&mut moved, "/").await;
    assert!(exists(&mut moved, "/eph").await, "the ephemeral lives on");
    let r = moved.close_session().await;
    assert_eq!(r.err(), ErrorCode::OK);
    let mut c = connect_when_up(nodes[leader].client).await;
    sync(&mut c, "/").await;
    assert!(
        !exists(&mut c, "/eph").await,
        "ephemeral gone with its session"
    );

    // the leader goes; the two others elect one of themselves and carry on
    nodes[leader].server.take().unwrap().shutdown().await;
    let new_leader = wait_for_leader(&nodes).await;
    assert_ne!(new_leader, leader);
    let survivor = nodes.iter().position(|n| n.server.is_some()).unwrap();
    let mut c = connect_when_up(nodes[survivor].client).await;
    let r = c.call(OpCode::CREATE, &create("/after", b"", 0)).await;
    assert_eq!(r.err(), ErrorCode::OK, "write after the leader left");
    for n in nodes.iter().filter(|n| n.server.is_some()) {
        let mut c = connect_when_up(n.client).await;
        sync(&mut c, "/").await;
        assert!(exists(&mut c, "/after").await);
        assert!(exists(&mut c, "/via0").await);
    }

    // the old leader comes back and catches up
    let cfg = nodes[leader].cfg.clone();
    nodes[leader].server = Some(start(&cfg).await);
    wait_for_leader(&nodes).await;
    let mut c = connect_when_up(nodes[leader].client).await;
    sync(&mut c, "/").await;
    assert!(exists(&mut c, "/after").await, "restarted node caught up");

    shutdown_all(&mut nodes).await;
}

/// A follower elected leader syncs a returning node from the database it kept across the
/// election (its tree and committed txns) — what it learned as a follower, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_follower_turned_leader_catches_up_a_returning_node_from_what_it_kept() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .try_init();
    let mut nodes = start_ensemble(3).await;
    let leader = wait_for_leader(&nodes).await;
    let away = (leader + 1) % 3;
    let stays = (leader + 2) % 3;
    // every node has the first writes of the epoch: the rest can be a DIFF from them
    let mut c = connect_when_up(nodes[away].client).await;
    let r = c.call(OpCode::CREATE, &create("/before", b"", 0)).await;
    assert_eq!(r.err(), ErrorCode::OK);
    for n in &nodes {
        sync(&mut connect_when_up(n.client).await, "/").await;
    }
    drop(c);
    nodes[away].server.take().unwrap().shutdown().await;
    let mut c = connect_when_up(nodes[stays].client).await;
    for i in 0..40 {
        let r = c
            .call(
                OpCode::CREATE,
                &create(&format!("/k{i}"), format!("v{i}").as_bytes(), 0),
            )
            .await;
        assert_eq!(r.err(), ErrorCode::OK, "create /k{i}");
    }
    drop(c);
    // the leader goes and the node that was away returns: the one that stayed leads (it has
    // the newest zxid) and must hand the returning node the 41 txns it missed
    nodes[leader].server.take().unwrap().shutdown().await;
    let cfg = nodes[away].cfg.clone();
    nodes[away].server = Some(start(&cfg).await);
    let new_leader = wait_for_leader(&nodes).await;
    assert_eq!(new_leader, stays, "the node with the newest zxid leads");
    let mut c = connect_when_up(nodes[away].client).await;
    sync(&mut c, "/").await;
    for i in 0..40 {
        assert_eq!(
            get(&mut c, &format!("/k{i}")).await,
            format!("v{i}").as_bytes(),
            "/k{i} on the returning node"
        );
    }
    // and the kept tree still takes writes in order on both
    let r = c.call(OpCode::CREATE, &create("/k40", b"v40", 0)).await;
    assert_eq!(r.err(), ErrorCode::OK);
    let mut l = connect_when_up(nodes[stays].client).await;
    sync(&mut l, "/").await;
    assert_eq!(get(&mut l, "/k40").await, b"v40");
    shutdown_all(&mut nodes).await;
}
