//! What a reconfig changes about a node itself, on ferrokeeper ensembles served in this
//! process on loopback: a client port moved by reconfig (the port closes, the new one serves,
//! connections already open stay, as with 3.8's `NIOServerCnxnFactory#reconfigure`); a
//! follower made an observer and a participant again (`updateLearnerType`: `srvr` Mode
//! follows, writes through it still work); and an ensemble restarted with a
//! `zoo.cfg.dynamic.next` (a reconfig proposed but not committed when it stopped), which the
//! new leader commits (`QuorumPeerConfig` reads it back as the last seen config).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use common::srvr_mode as mode;
use common::{connect_when_up, create, free_port, temp_data_dir, Client};
use ferrokeeper::jute::codes::{ErrorCode, OpCode};
use ferrokeeper::jute::proto::{
    AuthPacket, GetDataRequest, GetDataResponse, ReconfigRequest, SyncRequest,
};
use ferrokeeper::jute::Jute;
use ferrokeeper::server::RunningServer;
use tokio::net::TcpStream;

const SUPER: &str = "super:test";

struct Node {
    client: SocketAddr,
    /// `host:quorumPort:electionPort` of its `server.N` line.
    quorum: String,
    cfg: PathBuf,
    server: Option<RunningServer>,
}

impl Node {
    /// The `server.N=` value with `role` and the client port `client`.
    fn line(&self, role: &str, client: u16) -> String {
        format!("{}:{role};127.0.0.1:{client}", self.quorum)
    }
}

struct Ensemble {
    root: PathBuf,
    nodes: Vec<Node>,
}

impl Ensemble {
    async fn stop(&mut self) {
        for n in &mut self.nodes {
            if let Some(s) = n.server.take() {
                s.shutdown().await;
            }
        }
    }
}

/// Three reconfig-enabled participants with a super user. With `dynamic`, zoo.cfg names a
/// dynamic file (`zoo.cfg.dynamic.<dynamic hex>`) holding the membership, as it does after a
/// first reconfig.
fn configs(dynamic: Option<u64>) -> Ensemble {
    let root = temp_data_dir();
    let nodes: Vec<(String, u16)> = (0..3)
        .map(|_| {
            (
                format!("127.0.0.1:{}:{}", free_port(), free_port()),
                free_port(),
            )
        })
        .collect();
    let digest = ferrokeeper::pipeline::auth::generate_digest(SUPER);
    let servers: String = nodes
        .iter()
        .enumerate()
        .map(|(i, (q, c))| format!("server.{}={q}:participant;127.0.0.1:{c}\n", i + 1))
        .collect();
    let nodes = nodes
        .into_iter()
        .enumerate()
        .map(|(i, (quorum, c))| {
            let dir = root.join(format!("n{}", i + 1));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("myid"), format!("{}\n", i + 1)).unwrap();
            let cfg = dir.join("zoo.cfg");
            let membership = match dynamic {
                Some(v) => {
                    let file = PathBuf::from(format!("{}.dynamic.{v:x}", cfg.display()));
                    std::fs::write(&file, &servers).unwrap();
                    format!("dynamicConfigFile={}\n", file.display())
                }
                None => servers.clone(),
            };
            let text = format!(
                "tickTime=200\ninitLimit=10\nsyncLimit=5\ndataDir={}\n\
                 admin.enableServer=false\nmaxSessionTimeout=30000\n4lw.commands.whitelist=*\n\
                 reconfigEnabled=true\nDigestAuthenticationProvider.superDigest={digest}\n\
                 {membership}",
                dir.display()
            );
            std::fs::write(&cfg, text).unwrap();
            Node {
                client: SocketAddr::from(([127, 0, 0, 1], c)),
                quorum,
                cfg,
                server: None,
            }
        })
        .collect();
    Ensemble { root, nodes }
}

async fn start(cfg: &Path) -> RunningServer {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .try_init();
    let cfg = ferrokeeper::config::load(cfg).expect("ensemble config");
    ferrokeeper::server::start(cfg).await.expect("node starts")
}

/// Waits (bounded) until every node serves and exactly one leads; its sid.
async fn wait_leader(nodes: &[Node]) -> usize {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    loop {
        let mut modes = Vec::new();
        for (i, n) in nodes.iter().enumerate() {
            modes.push((i + 1, mode(n.client).await));
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

async fn wait_mode(addr: SocketAddr, want: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    loop {
        let m = mode(addr).await;
        if m.as_deref() == Some(want) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{addr} never {want}: {m:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits (bounded) until nothing listens on `addr` any more.
async fn wait_refused(addr: SocketAddr) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(addr).await.is_ok() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{addr} still accepts connections"
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

/// An incremental reconfig adding (or changing) `joining`; the new config's text.
async fn join(c: &mut Client, joining: &str) -> String {
    let req = ReconfigRequest {
        joining_servers: Some(joining.to_owned()),
        leaving_servers: None,
        new_members: None,
        cur_config_id: -1,
    };
    let r = c.call(OpCode::RECONFIG, &req).await;
    assert_eq!(r.err(), ErrorCode::OK, "{req:?}");
    let d: GetDataResponse = r.decode();
    String::from_utf8(d.data.unwrap_or_default().as_ref().to_owned()).unwrap()
}

/// `path`'s data through `c` after a sync.
async fn read(c: &mut Client, path: &str) -> String {
    let r = c
        .call(OpCode::SYNC, &SyncRequest { path: path.into() })
        .await;
    assert_eq!(r.err(), ErrorCode::OK);
    let r = c
        .call(
            OpCode::GET_DATA,
            &GetDataRequest {
                path: path.into(),
                watch: false,
            },
        )
        .await;
    assert_eq!(r.err(), ErrorCode::OK, "{path}");
    let d: GetDataResponse = r.decode();
    String::from_utf8(d.data.unwrap_or_default().as_ref().to_owned()).unwrap()
}

/// Waits (bounded) until `/zookeeper/config` read through `addr` is `want`.
async fn wait_config(addr: SocketAddr, want: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut c = connect_when_up(addr).await;
        let text = read(&mut c, "/zookeeper/config").await;
        if text == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{addr} has {text:?}, want {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A create through `addr`, read back through `check`.
async fn write_through(addr: SocketAddr, check: SocketAddr, path: &str) {
    let mut c = connect_when_up(addr).await;
    let r = c.call(OpCode::CREATE, &create(path, b"v", 0)).await;
    assert_eq!(r.err(), ErrorCode::OK, "create {path} through {addr}");
    let mut other = connect_when_up(check).await;
    assert_eq!(read(&mut other, path).await, "v");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reconfig_moves_a_client_port() {
    let mut ens = configs(None);
    for n in &mut ens.nodes {
        n.server = Some(start(&n.cfg).await);
    }
    let leader = wait_leader(&ens.nodes).await;
    let f = if leader == 1 { 2 } else { 1 };
    let (old_f, old_l) = (ens.nodes[f - 1].client, ens.nodes[leader - 1].client);
    let mut su = super_client(old_l).await;
    // a session opened before the move
    let mut before = connect_when_up(old_f).await;
    let r = before
        .call(OpCode::CREATE, &create("/before", b"v", 0))
        .await;
    assert_eq!(r.err(), ErrorCode::OK);

    // the follower's client port moves
    let new_port = free_port();
    let new_f = SocketAddr::from(([127, 0, 0, 1], new_port));
    let line = ens.nodes[f - 1].line("participant", new_port);
    let text = join(&mut su, &format!("server.{f}={line}")).await;
    assert!(text.contains(&format!("server.{f}={line}")), "{text}");
    wait_refused(old_f).await;
    wait_mode(new_f, "follower").await;
    wait_config(new_f, &text).await;
    write_through(new_f, old_l, "/through-new-port").await;
    // `conf` reports the port the listener is on (`getClientPort`)
    let conf = four_letter(new_f, "conf").await;
    assert!(
        conf.starts_with(&format!("clientPort={new_port}\n")),
        "{conf}"
    );
    // NIOServerCnxnFactory#reconfigure closes the listening socket only
    assert_eq!(read(&mut before, "/through-new-port").await, "v");
    ens.nodes[f - 1].client = new_f;

    // so does the leader's, and it keeps leading
    let new_port = free_port();
    let new_l = SocketAddr::from(([127, 0, 0, 1], new_port));
    let line = ens.nodes[leader - 1].line("participant", new_port);
    let text = join(&mut su, &format!("server.{leader}={line}")).await;
    wait_refused(old_l).await;
    assert_eq!(mode(new_l).await.as_deref(), Some("leader"));
    wait_config(new_f, &text).await;
    write_through(new_f, new_l, "/after-leader-moved").await;
    assert_eq!(read(&mut su, "/after-leader-moved").await, "v");

    ens.stop().await;
    let _ = std::fs::remove_dir_all(&ens.root);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_follower_made_observer_and_participant_again() {
    let mut ens = configs(None);
    for n in &mut ens.nodes {
        n.server = Some(start(&n.cfg).await);
    }
    let leader = wait_leader(&ens.nodes).await;
    let f = if leader == 1 { 2 } else { 1 };
    let (fc, lc) = (ens.nodes[f - 1].client, ens.nodes[leader - 1].client);
    let port = fc.port();
    let mut su = super_client(lc).await;

    let observer = format!("server.{f}={}", ens.nodes[f - 1].line("observer", port));
    let text = join(&mut su, &observer).await;
    assert!(text.contains(&observer), "{text}");
    wait_mode(fc, "observer").await;
    wait_config(fc, &text).await;
    write_through(fc, lc, "/through-observer").await;
    assert_eq!(mode(lc).await.as_deref(), Some("leader"));

    let participant = format!("server.{f}={}", ens.nodes[f - 1].line("participant", port));
    let text = join(&mut su, &participant).await;
    assert!(text.contains(&participant), "{text}");
    wait_mode(fc, "follower").await;
    wait_config(fc, &text).await;
    write_through(fc, lc, "/through-follower").await;
    assert_eq!(wait_leader(&ens.nodes).await, leader);

    // the leader made an observer: another node leads (the designated leader), and the old
    // leader observes it
    let demoted = format!(
        "server.{leader}={}",
        ens.nodes[leader - 1].line("observer", lc.port())
    );
    let text = join(&mut su, &demoted).await;
    assert!(text.contains(&demoted), "{text}");
    wait_mode(lc, "observer").await;
    let voters: Vec<SocketAddr> = ens
        .nodes
        .iter()
        .map(|n| n.client)
        .filter(|c| *c != lc)
        .collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    let new_leader = loop {
        let mut modes = Vec::new();
        for c in &voters {
            modes.push(mode(*c).await);
        }
        if let Some(i) = modes.iter().position(|m| m.as_deref() == Some("leader")) {
            if modes.iter().all(|m| m.is_some()) {
                break voters[i];
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no leader among the voters: {modes:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    wait_config(lc, &text).await;
    write_through(lc, new_leader, "/through-demoted-leader").await;

    ens.stop().await;
    let _ = std::fs::remove_dir_all(&ens.root);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_ensemble_restarted_with_a_pending_config_commits_it() {
    let mut ens = configs(Some(0x1_0000_0000));
    // the pending config: server 4 joins as an observer (it need not run)
    let joiner = format!(
        "server.4=127.0.0.1:{}:{}:observer;127.0.0.1:{}",
        free_port(),
        free_port(),
        free_port()
    );
    let committed =
        std::fs::read_to_string(format!("{}.dynamic.100000000", ens.nodes[0].cfg.display()))
            .unwrap();
    let pending = format!("{committed}{joiner}\nversion=200000000");
    for n in &ens.nodes {
        std::fs::write(format!("{}.dynamic.next", n.cfg.display()), &pending).unwrap();
    }
    for n in &mut ens.nodes {
        n.server = Some(start(&n.cfg).await);
    }
    wait_leader(&ens.nodes).await;
    for n in &ens.nodes {
        wait_config(n.client, &pending).await;
    }
    for n in &ens.nodes {
        let cfg = n.cfg.display();
        let next = PathBuf::from(format!("{cfg}.dynamic.next"));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while next.exists() {
            assert!(tokio::time::Instant::now() < deadline, "{next:?} stays");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let written = std::fs::read_to_string(format!("{cfg}.dynamic.200000000")).unwrap();
        assert!(written.contains(&joiner), "{written}");
        let zoo = std::fs::read_to_string(&n.cfg).unwrap();
        assert!(zoo.contains(".dynamic.200000000"), "{zoo}");
    }
    ens.stop().await;

    // restarted once more, with nothing pending, the ensemble keeps that config
    for n in &mut ens.nodes {
        n.server = Some(start(&n.cfg).await);
    }
    wait_leader(&ens.nodes).await;
    wait_config(ens.nodes[0].client, &pending).await;
    ens.stop().await;
    let _ = std::fs::remove_dir_all(&ens.root);
}

/// A four-letter word's answer from `addr`.
async fn four_letter(addr: SocketAddr, word: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(word.as_bytes()).await.unwrap();
    let mut out = String::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut out))
        .await
        .expect("an answer in time")
        .unwrap();
    out
}
