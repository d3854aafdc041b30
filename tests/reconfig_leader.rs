//! Dynamic reconfiguration led by a ferrokeeper leader, all nodes ferrokeeper, in one
//! process on loopback, under a write load through a follower: the refusals (NoAuth without
//! super, BadVersion, NewConfigNoQuorum, ReconfigDisabled), a fourth server joining, a
//! follower leaving, a non-incremental `newMembers`, and the leader leaving (another node
//! leads after, no acknowledged write lost). Every node's `/zookeeper/config` is the reply's.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use common::srvr_mode as mode;
use common::{connect_when_up, create, frame, free_port, temp_data_dir, Client};
use ferrokeeper::jute::codes::{ErrorCode, OpCode};
use ferrokeeper::jute::data::Stat;
use ferrokeeper::jute::proto::{
    AuthPacket, GetDataRequest, GetDataResponse, ReconfigRequest, SyncRequest,
};
use ferrokeeper::jute::Jute;
use ferrokeeper::server::RunningServer;
use tokio::io::AsyncWriteExt;

struct Node {
    client: SocketAddr,
    /// `server.N=` value.
    line: String,
    cfg: PathBuf,
    server: Option<RunningServer>,
}

const SUPER: &str = "super:test";

/// Zoo.cfg + myid for sids 1..=n; nodes past `members` are left out of the others' config
/// (they join later) but know everyone.
fn configs(n: usize, members: usize, extra: &str) -> Vec<Node> {
    let root = temp_data_dir();
    let lines: Vec<(String, u16)> = (0..n)
        .map(|_| {
            let c = free_port();
            (
                format!(
                    "127.0.0.1:{}:{}:participant;127.0.0.1:{c}",
                    free_port(),
                    free_port()
                ),
                c,
            )
        })
        .collect();
    let digest = ferrokeeper::pipeline::auth::generate_digest(SUPER);
    (0..n)
        .map(|i| {
            let dir = root.join(format!("n{}", i + 1));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("myid"), format!("{}\n", i + 1)).unwrap();
            let known = if i < members { members } else { n };
            let servers: String = (0..known)
                .map(|j| format!("server.{}={}\n", j + 1, lines[j].0))
                .collect();
            let text = format!(
                "tickTime=200\ninitLimit=10\nsyncLimit=5\ndataDir={}\n\
                 admin.enableServer=false\nmaxSessionTimeout=30000\n4lw.commands.whitelist=*\n\
                 DigestAuthenticationProvider.superDigest={digest}\n{extra}{servers}",
                dir.display()
            );
            let cfg = dir.join("zoo.cfg");
            std::fs::write(&cfg, text).unwrap();
            Node {
                client: SocketAddr::from(([127, 0, 0, 1], lines[i].1)),
                line: lines[i].0.clone(),
                cfg,
                server: None,
            }
        })
        .collect()
}

async fn start(cfg: &Path) -> RunningServer {
    let cfg = ferrokeeper::config::load(cfg).expect("ensemble config");
    ferrokeeper::server::start(cfg).await.expect("node starts")
}

/// Waits (bounded) until every sid in `sids` serves and exactly one leads; its sid.
async fn wait_leader(nodes: &[Node], sids: &[usize]) -> usize {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    loop {
        let mut modes = Vec::new();
        for &sid in sids {
            modes.push((sid, mode(nodes[sid - 1].client).await));
        }
        if let Some(l) = common::realzk::single_leader(&modes) {
            return l;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no single leader: {modes:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_mode(node: &Node, want: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    loop {
        let m = mode(node.client).await;
        if m.as_deref() == Some(want) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never {want}: {m:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn super_client(addr: SocketAddr) -> Client {
    let mut c = connect_when_up(addr).await;
    let auth = AuthPacket {
        auth_type: 0,
        scheme: "digest".into(),
        auth: Bytes::from_static(SUPER.as_bytes()),
    };
    c.send_xid(-4, OpCode::AUTH, &auth.to_vec()).await;
    let r = c.recv().await.expect("auth reply");
    assert_eq!(r.err(), ErrorCode::OK);
    c
}

fn reconfig(
    joining: Option<&str>,
    leaving: Option<&str>,
    members: Option<&str>,
    id: i64,
) -> ReconfigRequest {
    ReconfigRequest {
        joining_servers: joining.map(str::to_owned),
        leaving_servers: leaving.map(str::to_owned),
        new_members: members.map(str::to_owned),
        cur_config_id: id,
    }
}

/// A node's data as text (`Jute::to_vec` would add the length prefix).
fn utf8(data: Option<Bytes>) -> String {
    String::from_utf8(data.unwrap_or_default().as_ref().to_owned()).unwrap()
}

/// A successful reconfig: the new config's text and its Stat, as 3.8 answers.
async fn reconfig_ok(c: &mut Client, req: &ReconfigRequest) -> (String, Stat, i64) {
    let r = c.call(OpCode::RECONFIG, req).await;
    assert_eq!(r.err(), ErrorCode::OK, "{req:?}");
    let d: GetDataResponse = r.decode();
    let text = utf8(d.data);
    (text, d.stat, r.header.zxid)
}

/// `/zookeeper/config` through `node` after a sync.
async fn config_node(node: &Node) -> (String, Stat) {
    let mut c = connect_when_up(node.client).await;
    let r = c
        .call(
            OpCode::SYNC,
            &SyncRequest {
                path: "/zookeeper/config".into(),
            },
        )
        .await;
    assert_eq!(r.err(), ErrorCode::OK);
    let r = c
        .call(
            OpCode::GET_DATA,
            &GetDataRequest {
                path: "/zookeeper/config".into(),
                watch: false,
            },
        )
        .await;
    assert_eq!(r.err(), ErrorCode::OK);
    let d: GetDataResponse = r.decode();
    (utf8(d.data), d.stat)
}

/// Waits (bounded) until every node of `sids` shows `want` in `/zookeeper/config`.
async fn same_config(nodes: &[Node], sids: &[usize], want: &str) {
    for &sid in sids {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let (text, stat) = config_node(&nodes[sid - 1]).await;
            if text == want {
                assert_eq!(stat.version, -1, "node {sid}");
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "node {sid} has {text:?}, want {want:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Creates `/load/n<i>` through the first node of `addrs` that answers, moving on when a
/// connection drops; the paths whose create was acknowledged.
fn writer(addrs: Vec<SocketAddr>, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<Vec<String>> {
    tokio::spawn(async move {
        let mut acked = Vec::new();
        let mut i = 0usize;
        let mut next = 0usize;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        while !stop.load(Ordering::SeqCst) && tokio::time::Instant::now() < deadline {
            let addr = addrs[next % addrs.len()];
            next += 1;
            let Some(mut c) =
                Client::connect_with(addr, 0, Bytes::from_static(&[0; 16]), 10_000, 0).await
            else {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            while !stop.load(Ordering::SeqCst) && tokio::time::Instant::now() < deadline {
                i += 1;
                let path = format!("/load/n{i}");
                let mut buf = BytesMut::new();
                buf.put_i32(i as i32);
                buf.put_i32(OpCode::CREATE.0);
                buf.extend_from_slice(&create(&path, b"x", 0).to_vec());
                if c.stream.write_all(&frame(&buf)).await.is_err() {
                    break;
                }
                match c.recv().await {
                    Some(r) if r.err() == ErrorCode::OK => acked.push(path),
                    Some(_) => {}
                    None => break,
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        acked
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_ferrokeeper_leader_reconfigures_its_ensemble() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .try_init();
    let mut nodes = configs(4, 3, "reconfigEnabled=true\n");
    for n in nodes.iter_mut().take(3) {
        n.server = Some(start(&n.cfg).await);
    }
    let leader = wait_leader(&nodes, &[1, 2, 3]).await;
    let followers: Vec<usize> = [1, 2, 3].into_iter().filter(|s| *s != leader).collect();
    let (f, g) = (followers[0], followers[1]);
    let lc = nodes[leader - 1].client;

    let mut setup = connect_when_up(lc).await;
    let r = setup.call(OpCode::CREATE, &create("/load", b"", 0)).await;
    assert_eq!(r.err(), ErrorCode::OK);
    let stop = Arc::new(AtomicBool::new(false));
    let load = writer(vec![nodes[g - 1].client, nodes[3].client], stop.clone());

    // the refusals, in the reference's order of checks
    let leave_f = reconfig(None, Some(&f.to_string()), None, -1);
    let mut plain = connect_when_up(lc).await;
    let r = plain.call(OpCode::RECONFIG, &leave_f).await;
    assert_eq!(
        r.err(),
        ErrorCode::NO_AUTH,
        "the config node is world READ only"
    );
    let mut plain_f = connect_when_up(nodes[f - 1].client).await;
    let r = plain_f.call(OpCode::RECONFIG, &leave_f).await;
    assert_eq!(r.err(), ErrorCode::NO_AUTH, "forwarded by a follower");
    let mut su = super_client(lc).await;
    let r = su
        .call(OpCode::RECONFIG, &reconfig(None, Some("2"), None, 12345))
        .await;
    assert_eq!(r.err(), ErrorCode::BAD_VERSION);
    let ghosts = format!(
        "server.5=127.0.0.1:{}:{}:participant;127.0.0.1:{},server.6=127.0.0.1:{}:{}:participant;127.0.0.1:{}",
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        free_port()
    );
    let r = su
        .call(
            OpCode::RECONFIG,
            &reconfig(Some(&ghosts), Some(&format!("{f},{g}")), None, -1),
        )
        .await;
    assert_eq!(r.err(), ErrorCode::NEW_CONFIG_NO_QUORUM);

    // a fourth server follows first, then joins
    nodes[3].server = Some(start(&nodes[3].cfg).await);
    wait_mode(&nodes[3], "follower").await;
    let join = format!("server.4={}", nodes[3].line);
    let (text, stat, zxid) = reconfig_ok(&mut su, &reconfig(Some(&join), None, None, -1)).await;
    assert!(text.contains(&join), "{text}");
    assert!(text.ends_with(&format!("version={zxid:x}")), "{text}");
    assert_eq!((stat.version, stat.mzxid), (-1, zxid));
    same_config(&nodes, &[1, 2, 3, 4], &text).await;

    // a follower leaves: it keeps following as a non-voter (as in 3.8)
    let (text, _, zxid) = reconfig_ok(&mut su, &leave_f).await;
    assert!(!text.contains(&format!("server.{f}=")), "{text}");
    same_config(&nodes, &[1, 2, 3, 4], &text).await;
    assert_eq!(mode(nodes[f - 1].client).await.as_deref(), Some("follower"));

    // non-incremental: back to all four, from the config we know
    let members: Vec<String> = (1..=4)
        .map(|s| format!("server.{s}={}", nodes[s - 1].line))
        .collect();
    let (text, _, _) = reconfig_ok(
        &mut su,
        &reconfig(None, None, Some(&members.join(",")), zxid),
    )
    .await;
    for m in &members {
        assert!(text.contains(m.as_str()), "{text}");
    }
    same_config(&nodes, &[1, 2, 3, 4], &text).await;

    // the leader leaves (asked through a follower): the follower leaves its role with the
    // reconfig's commit before answering (3.8's client sees ConnectionLoss), and the
    // designated node leads the new config
    let mut su_g = super_client(nodes[g - 1].client).await;
    su_g.send(
        OpCode::RECONFIG,
        &reconfig(None, Some(&leader.to_string()), None, -1),
    )
    .await;
    let answer = tokio::time::timeout(Duration::from_secs(10), su_g.recv())
        .await
        .expect("the connection closes in time");
    assert!(answer.is_none(), "answered: {:?}", answer.map(|r| r.err()));
    let rest: Vec<usize> = [f, g, 4].into();
    let new_leader = wait_leader(&nodes, &rest).await;
    assert_ne!(new_leader, leader);
    let (text, _) = config_node(&nodes[new_leader - 1]).await;
    assert!(!text.contains(&format!("server.{leader}=")), "{text}");
    same_config(&nodes, &rest, &text).await;

    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::SeqCst);
    let acked = load.await.unwrap();
    assert!(acked.len() > 20, "only {} writes acknowledged", acked.len());
    let mut c = connect_when_up(nodes[new_leader - 1].client).await;
    for path in &acked {
        let r = c
            .call(
                OpCode::EXISTS,
                &ferrokeeper::jute::proto::ExistsRequest {
                    path: path.clone(),
                    watch: false,
                },
            )
            .await;
        assert_eq!(r.err(), ErrorCode::OK, "acknowledged {path} lost");
    }

    for n in &mut nodes {
        if let Some(s) = n.server.take() {
            s.shutdown().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_reconfig_enabled_a_leader_answers_reconfig_disabled() {
    let mut nodes = configs(3, 3, "");
    for n in &mut nodes {
        n.server = Some(start(&n.cfg).await);
    }
    let leader = wait_leader(&nodes, &[1, 2, 3]).await;
    let follower = if leader == 1 { 2 } else { 1 };
    for sid in [leader, follower] {
        let mut su = super_client(nodes[sid - 1].client).await;
        let r = su
            .call(OpCode::RECONFIG, &reconfig(None, Some("3"), None, -1))
            .await;
        assert_eq!(r.err(), ErrorCode::RECONFIG_DISABLED, "through {sid}");
    }
    for n in &mut nodes {
        if let Some(s) = n.server.take() {
            s.shutdown().await;
        }
    }
}
