//! Read-only mode (`readonlymode.enabled`, 3.8's ReadOnlyZooKeeperServer) on a 3-node
//! ferrokeeper ensemble on loopback: the node left alone keeps serving readOnly clients the
//! tree it had, answers writes and sync NotReadOnly, refuses read-write clients, says `ro` /
//! `Mode: read-only`; when the others return it drops its read-only clients and serves
//! read-write again. The same against Apache ZooKeeper, through kazoo, is in
//! compat-tests/faults/read_only.py.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use common::{connect_when_up, create, free_port, temp_data_dir, Client};
use ferrokeeper::jute::codes::{ErrorCode, OpCode};
use ferrokeeper::jute::proto::{ConnectRequest, GetDataRequest, GetDataResponse, SyncRequest};
use ferrokeeper::server::RunningServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Node {
    sid: usize,
    cfg: PathBuf,
    client: SocketAddr,
    server: Option<RunningServer>,
}

/// zoo.cfg + myid for three nodes with read-only mode (and local sessions, without which
/// 3.8's read-only server cannot create a session at all).
fn configs() -> Vec<(usize, PathBuf, SocketAddr)> {
    let root = temp_data_dir();
    let ports: Vec<(u16, u16, u16)> = (0..3)
        .map(|_| (free_port(), free_port(), free_port()))
        .collect();
    let lines: String = ports
        .iter()
        .enumerate()
        .map(|(i, (q, e, _))| format!("server.{}=127.0.0.1:{q}:{e}\n", i + 1))
        .collect();
    (0..3)
        .map(|i| {
            let dir = root.join(format!("n{}", i + 1));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("myid"), format!("{}\n", i + 1)).unwrap();
            let client = ports[i].2;
            let text = format!(
                "tickTime=200\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort={client}\n\
                 clientPortAddress=127.0.0.1\nadmin.enableServer=false\nmaxSessionTimeout=30000\n\
                 4lw.commands.whitelist=srvr,mntr\nreadonlymode.enabled=true\nlocalSessionsEnabled=true\n{lines}",
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

async fn word(addr: SocketAddr, w: &str) -> Option<String> {
    let mut s = TcpStream::connect(addr).await.ok()?;
    s.write_all(w.as_bytes()).await.ok()?;
    let mut out = String::new();
    tokio::time::timeout(Duration::from_secs(2), s.read_to_string(&mut out))
        .await
        .ok()?
        .ok()?;
    Some(out)
}

async fn mode(addr: SocketAddr) -> Option<String> {
    word(addr, "srvr")
        .await?
        .lines()
        .find_map(|l| l.strip_prefix("Mode: "))
        .map(str::to_owned)
}

/// Waits (bounded) until every running node serves and one leads.
async fn wait_for_leader(nodes: &[Node]) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut modes = Vec::new();
        for n in nodes.iter().filter(|n| n.server.is_some()) {
            modes.push((n.sid, mode(n.client).await));
        }
        if common::realzk::single_leader(&modes).is_some() {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no single leader: {modes:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn connect_request(read_only: bool, session_id: i64, passwd: Bytes) -> ConnectRequest {
    ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0,
        time_out: 10_000,
        session_id,
        passwd,
        read_only: Some(read_only),
    }
}

async fn handshake(addr: SocketAddr, req: ConnectRequest) -> Option<(Client, Option<bool>)> {
    let stream = TcpStream::connect(addr).await.ok()?;
    Client::handshake_request(stream, req).await
}

async fn get(c: &mut Client, path: &str) -> (ErrorCode, Vec<u8>) {
    let req = GetDataRequest {
        path: path.to_owned(),
        watch: false,
    };
    let r = c.call(OpCode::GET_DATA, &req).await;
    let data = if r.err() == ErrorCode::OK {
        r.decode::<GetDataResponse>()
            .data
            .unwrap_or_default()
            .to_vec()
    } else {
        Vec::new()
    };
    (r.err(), data)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_cut_off_serves_read_only_clients_until_the_quorum_returns() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .try_init();
    let mut nodes = Vec::new();
    for (sid, cfg, client) in configs() {
        let server = Some(start(&cfg).await);
        nodes.push(Node {
            sid,
            cfg,
            client,
            server,
        });
    }
    wait_for_leader(&nodes).await;
    let alone = nodes[0].client;
    let mut c = connect_when_up(alone).await;
    let r = c.call(OpCode::CREATE, &create("/kept", b"before", 0)).await;
    assert_eq!(r.err(), ErrorCode::OK);
    assert_eq!(word(alone, "isro").await.as_deref(), Some("rw"));
    drop(c);

    // nodes 2 and 3 go: node 1 is LOOKING, then serves read-only
    for n in &mut nodes[1..] {
        n.server.take().unwrap().shutdown().await;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while mode(alone).await.as_deref() != Some("read-only") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "node 1 never went read-only: {:?}",
            word(alone, "srvr").await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(word(alone, "isro").await.as_deref(), Some("ro"));
    let srvr = word(alone, "srvr").await.unwrap();
    assert!(
        srvr.lines().nth(1) == Some("READ-ONLY mode; serving only read-only clients"),
        "{srvr}"
    );
    let mntr = word(alone, "mntr").await.unwrap();
    assert!(mntr.contains("zk_server_state\tread-only\n"), "{mntr}");

    // a read-write client is hung up on without an answer
    let zeros = Bytes::from_static(&[0; 16]);
    assert!(
        handshake(alone, connect_request(false, 0, zeros.clone()))
            .await
            .is_none(),
        "a readOnly=false client got a session in read-only mode"
    );

    // a read-only client: a (local) session, the tree as it was, no writes
    let (mut ro, flag) = handshake(alone, connect_request(true, 0, zeros.clone()))
        .await
        .expect("read-only session");
    assert_eq!(flag, Some(true), "ConnectResponse.readOnly");
    assert_eq!(
        ro.session_id >> 56,
        1,
        "the session id carries the server id"
    );
    assert_eq!(
        get(&mut ro, "/kept").await,
        (ErrorCode::OK, b"before".to_vec())
    );
    let r = ro.call(OpCode::CREATE, &create("/new", b"", 0)).await;
    assert_eq!(r.err(), ErrorCode::NOT_READ_ONLY, "create");
    assert!(r.header.zxid > 0, "NotReadOnly carries the last zxid");
    let sync = SyncRequest {
        path: "/kept".to_owned(),
    };
    let r = ro.call(OpCode::SYNC, &sync).await;
    assert_eq!(r.err(), ErrorCode::NOT_READ_ONLY, "sync");
    let r = ro.call_empty(OpCode::PING).await;
    assert_eq!(r.err(), ErrorCode::OK, "ping");
    assert_eq!(get(&mut ro, "/new").await.0, ErrorCode::NO_NODE);
    let (session, passwd) = (ro.session_id, ro.passwd.clone());

    // a local session closes without a txn
    let (mut closing, _) = handshake(alone, connect_request(true, 0, zeros.clone()))
        .await
        .expect("second read-only session");
    assert_eq!(closing.close_session().await.err(), ErrorCode::OK);
    assert!(closing.is_closed().await);

    // the quorum returns: the read-only client is dropped, its local session unknown there
    for n in &mut nodes[1..] {
        n.server = Some(start(&n.cfg).await);
    }
    wait_for_leader(&nodes).await;
    assert!(ro.is_closed().await, "read-only client still connected");
    assert_eq!(word(alone, "isro").await.as_deref(), Some("rw"));
    assert!(
        handshake(alone, connect_request(true, session, passwd))
            .await
            .is_none(),
        "the read-only session lived on in read-write mode"
    );
    let (mut rw, flag) = handshake(alone, connect_request(true, 0, zeros))
        .await
        .expect("read-write session");
    assert_eq!(flag, Some(false));
    let r = rw.call(OpCode::CREATE, &create("/new", b"after", 0)).await;
    assert_eq!(r.err(), ErrorCode::OK, "a write once the quorum is back");
    assert_eq!(get(&mut rw, "/kept").await.1, b"before");

    for n in &mut nodes {
        if let Some(s) = n.server.take() {
            s.shutdown().await;
        }
    }
}
