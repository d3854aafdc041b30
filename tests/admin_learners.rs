//! A leader's per-learner admin views (`observers` / `obsr`, `observer_connection_stat_reset`)
//! against an in-process ensemble of three participants and an observer: the observer's
//! `LearnerHandler#getLearnerHandlerInfo` entry, its figures moving with a client's requests
//! through the observer, and the reset.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{connect_when_up, create, free_port, temp_data_dir, WAIT};
use ferrokeeper::jute::codes::{ErrorCode, OpCode};
use ferrokeeper::jute::proto::SyncRequest;
use ferrokeeper::server::RunningServer;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Node {
    client: SocketAddr,
    admin: SocketAddr,
    server: Option<RunningServer>,
}

/// Servers 1-3 vote, 4 observes; each node's AdminServer on its own loopback port.
async fn start_ensemble(root: &std::path::Path) -> Vec<Node> {
    let ports: Vec<[u16; 4]> = (0..4)
        .map(|_| [free_port(), free_port(), free_port(), free_port()])
        .collect();
    let lines: String = ports
        .iter()
        .enumerate()
        .map(|(i, [q, e, c, _])| {
            let kind = if i == 3 { ":observer" } else { "" };
            format!("server.{}=127.0.0.1:{q}:{e}{kind};127.0.0.1:{c}\n", i + 1)
        })
        .collect();
    let mut nodes = Vec::new();
    for (i, [_, _, client, admin]) in ports.iter().enumerate() {
        let sid = i + 1;
        let dir = root.join(format!("n{sid}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("myid"), format!("{sid}\n")).unwrap();
        let observer = if sid == 4 { "peerType=observer\n" } else { "" };
        let text = format!(
            "tickTime=200\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort={client}\n\
             clientPortAddress=127.0.0.1\nadmin.enableServer=true\n\
             admin.serverAddress=127.0.0.1\nadmin.serverPort={admin}\n\
             4lw.commands.whitelist=*\n{observer}{lines}",
            dir.display()
        );
        let cfg = dir.join("zoo.cfg");
        std::fs::write(&cfg, text).unwrap();
        let cfg = ferrokeeper::config::load(&cfg).expect("ensemble config");
        let server = ferrokeeper::server::start(cfg).await.expect("node starts");
        nodes.push(Node {
            client: SocketAddr::from(([127, 0, 0, 1], *client)),
            admin: SocketAddr::from(([127, 0, 0, 1], *admin)),
            server: Some(server),
        });
    }
    nodes
}

/// A command's JSON text, or None while the AdminServer does not answer.
async fn command_text(addr: SocketAddr, name: &str) -> Option<String> {
    let mut s = TcpStream::connect(addr).await.ok()?;
    let req =
        format!("GET /commands/{name} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.ok()?;
    let mut raw = String::new();
    tokio::time::timeout(WAIT, s.read_to_string(&mut raw))
        .await
        .ok()?
        .ok()?;
    raw.split_once("\r\n\r\n").map(|(_, body)| body.to_owned())
}

async fn command(addr: SocketAddr, name: &str) -> Option<Value> {
    serde_json::from_str(&command_text(addr, name).await?).ok()
}

/// A four-letter word's answer.
async fn four(addr: SocketAddr, word: &str) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(word.as_bytes()).await.unwrap();
    let mut out = String::new();
    tokio::time::timeout(WAIT, s.read_to_string(&mut out))
        .await
        .expect("answer in time")
        .unwrap();
    out
}

/// Wait (bounded) until a participant leads with the observer synced; the leader's index.
async fn wait_for_synced_observer(nodes: &[Node]) -> usize {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        for (i, n) in nodes.iter().enumerate().take(3) {
            if let Some(v) = command(n.admin, "observers").await {
                if v["synced_observers"] == 1 {
                    return i;
                }
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no leader with a synced observer"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The observer's entry in the leader's `observers`, once nothing is queued for it.
async fn observer_entry(leader: SocketAddr) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let v = command(leader, "obsr").await.expect("observers answers");
        assert_eq!(v["command"], "observers");
        let list = v["observers"].as_array().expect("a list").clone();
        assert_eq!(list.len(), 1, "{v}");
        assert_eq!(v["synced_observers"], 1);
        if list[0]["queued_packets"] == 0 {
            return list[0].clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "queue never empty");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn int(v: &Value, key: &str) -> i64 {
    v[key]
        .as_i64()
        .unwrap_or_else(|| panic!("{key} is no integer: {v}"))
}

/// The leader's `Zxid: 0x...` from `srvr`.
async fn leader_zxid(client: SocketAddr) -> i64 {
    let srvr = four(client, "srvr").await;
    let hex = srvr
        .lines()
        .find_map(|l| l.strip_prefix("Zxid: 0x"))
        .expect("a Zxid line");
    i64::from_str_radix(hex, 16).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leader_lists_its_observer_with_the_learner_handler_figures() {
    let root = temp_data_dir();
    let mut nodes = start_ensemble(&root).await;
    let li = wait_for_synced_observer(&nodes).await;
    let (leader, leader_client) = (nodes[li].admin, nodes[li].client);

    // synced (NEWLEADER acked) comes before UPTODATE is queued and its ACK is counted: wait
    // for both
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let entry = loop {
        let entry = observer_entry(leader).await;
        if int(&entry, "packets_sent") >= 3 && int(&entry, "packets_received") >= 1 {
            break entry;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "UPTODATE never sent or acked: {entry}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // the entry's keys as written (one observer: its fields are the 4-space-indented lines)
    let text = command_text(leader, "observers").await.unwrap();
    let keys: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("    \""))
        .filter_map(|l| l.split('"').next())
        .collect();
    assert_eq!(
        keys,
        [
            "remote_socket_address",
            "sid",
            "established",
            "queued_packets",
            "queued_packets_size",
            "packets_received",
            "packets_sent",
            "requests",
            "last_zxid"
        ]
    );
    assert_eq!(entry["sid"], 4);
    let remote = entry["remote_socket_address"].as_str().unwrap();
    assert!(remote.starts_with("/127.0.0.1:"), "{remote}");
    let now_ms = i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    let established = int(&entry, "established");
    assert!(
        established <= now_ms && established > now_ms - 60_000,
        "{established} vs {now_ms}"
    );
    // NEWLEADER (28 + the config `conf` prints, version=0 without reconfigEnabled) and
    // UPTODATE (28) left the queue without having been counted into it
    let conf = four(leader_client, "conf").await;
    let membership = conf.split_once("membership: \n").unwrap().1;
    assert!(membership.ends_with("version=0"), "{membership}");
    let newleader = 28 + membership.len() as i64;
    assert_eq!(int(&entry, "queued_packets_size"), -(newleader + 28));
    assert_eq!(int(&entry, "requests"), 0);
    let (sent0, received0) = (int(&entry, "packets_sent"), int(&entry, "packets_received"));
    // DIFF, NEWLEADER, UPTODATE then PINGs; its ACK of UPTODATE then PING replies
    assert!(sent0 >= 3 && received0 >= 1, "{entry}");

    // the followers are not observers; a follower has no observer master
    for n in nodes.iter().take(3).filter(|n| n.admin != leader) {
        // a follower still syncing answers that it is not serving
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let v = loop {
            let v = command(n.admin, "observers").await.unwrap();
            if !v["synced_observers"].is_null() {
                break v;
            }
            assert!(tokio::time::Instant::now() < deadline, "{v}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_eq!(v["synced_observers"], 0);
        assert_eq!(v["observers"], Value::Array(Vec::new()));
    }

    // createSession, create, sync and closeSession go through the observer to the leader
    let mut c = connect_when_up(nodes[3].client).await;
    let r = c.call(OpCode::CREATE, &create("/obs", b"x", 0)).await;
    assert_eq!(r.err(), ErrorCode::OK);
    let r = c
        .call(
            OpCode::SYNC,
            &SyncRequest {
                path: "/obs".to_owned(),
            },
        )
        .await;
    assert_eq!(r.err(), ErrorCode::OK);
    assert_eq!(c.close_session().await.err(), ErrorCode::OK);
    let zxid = leader_zxid(leader_client).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let entry = loop {
        let e = observer_entry(leader).await;
        if int(&e, "requests") == 4 && int(&e, "last_zxid") == zxid {
            break e;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "requests / last_zxid 0x{zxid:x}: {e}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // three INFORMs and a SYNC answer out, four REQUESTs in
    assert!(int(&entry, "packets_sent") >= sent0 + 4, "{entry}");
    assert!(int(&entry, "packets_received") >= received0 + 4, "{entry}");
    assert_eq!(entry["remote_socket_address"], remote);
    assert_eq!(int(&entry, "established"), established);

    // orst zeroes the observers' counters and forgets the last zxid; the queue figures stay
    let before = int(&entry, "packets_sent");
    let r = command(leader, "orst").await.unwrap();
    assert_eq!(r["command"], "observer_connection_stat_reset");
    assert_eq!(r["error"], Value::Null);
    let after = observer_entry(leader).await;
    assert_eq!(int(&after, "requests"), 0);
    assert!(int(&after, "packets_sent") < before, "{after}");
    assert!(int(&after, "packets_received") < before, "{after}");
    assert!(
        [-1, zxid].contains(&int(&after, "last_zxid")),
        "a PING may have gone out since: {after}"
    );
    assert_eq!(int(&after, "queued_packets_size"), -(newleader + 28));

    for n in &mut nodes {
        if let Some(s) = n.server.take() {
            s.shutdown().await;
        }
    }
    let _ = std::fs::remove_dir_all(&root);
}
