//! Leader election against the real Apache ZooKeeper 3.8.0 (skipped without java / the jars),
//! between our own drivers over loopback, and the captured wire bytes as fixtures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::free_port;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use ferrokeeper::config::LearnerType;
use ferrokeeper::quorum::cnxmgr::initial;
use ferrokeeper::quorum::election::{
    look_for_leader, ElectionConfig, FastLeaderElection, NotificationMsg, ServerState,
    CURRENT_VERSION,
};
use ferrokeeper::quorum::{CnxConfig, QuorumCnxManager, QuorumVerifier};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

const FIXTURES: &str = "tests/fixtures/election";

/// One server's ports: (quorum, election, client).
#[derive(Clone, Copy)]
struct Ports {
    quorum: u16,
    election: u16,
    client: u16,
}

fn server_lines(ports: &[Ports]) -> String {
    ports
        .iter()
        .enumerate()
        .map(|(i, p)| format!("server.{}=127.0.0.1:{}:{}\n", i + 1, p.quorum, p.election))
        .collect()
}

fn verifier(ports: &[Ports]) -> QuorumVerifier {
    QuorumVerifier::from_config_str(&server_lines(ports)).unwrap()
}

/// A real ZooKeeper process, killed by PID when dropped.
struct RealPeer {
    child: Child,
    dir: PathBuf,
}

impl Drop for RealPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start_real(sid: usize, ports: &[Ports]) -> RealPeer {
    let dir = std::env::temp_dir().join(format!(
        "fk-election-{}-{sid}-{}",
        std::process::id(),
        free_port()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("myid"), format!("{sid}\n")).unwrap();
    let cfg = format!(
        "tickTime=500\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort={}\n\
         clientPortAddress=127.0.0.1\n4lw.commands.whitelist=*\nadmin.enableServer=false\n{}",
        dir.display(),
        ports[sid - 1].client,
        server_lines(ports)
    );
    std::fs::write(dir.join("zoo.cfg"), cfg).unwrap();
    let log = std::fs::File::create(dir.join("out.log")).unwrap();
    let child = Command::new("compat-tests/lib/zk-reference")
        .arg(dir.join("zoo.cfg"))
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    RealPeer { child, dir }
}

/// `srvr` on a client port; None while the server is not serving.
fn srvr(port: u16) -> Option<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(b"srvr").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

fn mode(port: u16) -> Option<String> {
    let text = srvr(port)?;
    let line = text.lines().find(|l| l.starts_with("Mode: "))?;
    Some(line.trim_start_matches("Mode: ").to_owned())
}

/// Waits until one of the real peers leads and the other follows; returns the leader's sid.
fn wait_for_real_leader(ports: &[Ports], sids: &[usize]) -> usize {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let modes: Vec<Option<String>> = sids.iter().map(|s| mode(ports[s - 1].client)).collect();
        let leader = sids
            .iter()
            .zip(&modes)
            .find(|(_, m)| m.as_deref() == Some("leader"));
        let followers = modes
            .iter()
            .filter(|m| m.as_deref() == Some("follower"))
            .count();
        if let (Some((sid, _)), true) = (leader, followers + 1 == sids.len()) {
            return *sid;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    panic!("the real peers formed no quorum within 60 s");
}

/// Accepts on our election port and keeps each dialler's initial message.
async fn capture_initial_messages(listener: TcpListener, out: tokio::sync::mpsc::Sender<Vec<u8>>) {
    loop {
        let Ok((mut s, _)) = listener.accept().await else {
            return;
        };
        let mut buf = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut buf)).await;
        if out.send(buf).await.is_err() {
            return;
        }
    }
}

/// Dials a real peer as sid 3 with a LOOKING notification and returns the frames it sends
/// until the first one that is not LOOKING. A fresh connection first repeats the last
/// message the peer queued for sid 3 (`SendWorker#run`): its stale LOOKING vote.
async fn ask_real_peer(election_port: u16, our_port: u16, qv: &QuorumVerifier) -> Vec<Vec<u8>> {
    let mut s = TcpStream::connect(("127.0.0.1", election_port))
        .await
        .unwrap();
    let hello = initial::encode(3, &[format!("127.0.0.1:{our_port}")], false);
    s.write_all(&hello).await.unwrap();
    let msg = NotificationMsg {
        state: 0,
        leader: 3,
        zxid: 0,
        election_epoch: 1,
        peer_epoch: 0,
        version: CURRENT_VERSION,
        config: Some(qv.to_string().into_bytes()),
    }
    .encode();
    s.write_all(&(msg.len() as i32).to_be_bytes())
        .await
        .unwrap();
    s.write_all(&msg).await.unwrap();
    let read = async {
        let mut frames = Vec::new();
        loop {
            let len = s.read_i32().await.unwrap();
            let mut buf = vec![0u8; usize::try_from(len).unwrap()];
            s.read_exact(&mut buf).await.unwrap();
            let looking = NotificationMsg::decode(&buf).unwrap().state == 0;
            frames.push(buf);
            if !looking || frames.len() > 4 {
                return frames;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("no reply")
}

fn write_fixture(name: &str, bytes: &[u8]) {
    if std::env::var_os("FK_WRITE_FIXTURES").is_some() {
        std::fs::create_dir_all(FIXTURES).unwrap();
        std::fs::write(Path::new(FIXTURES).join(name), bytes).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_pair_elects_and_our_driver_follows_the_same_leader() {
    if !common::realzk::java_available() {
        println!("skipped: java or /usr/share/java/zookeeper.jar missing");
        return;
    }
    let ports: Vec<Ports> = (0..3)
        .map(|_| Ports {
            quorum: free_port(),
            election: free_port(),
            client: free_port(),
        })
        .collect();
    let qv = verifier(&ports);
    // our election port answers first with a recorder of the real peers' initial messages
    let recorder = TcpListener::bind(("127.0.0.1", ports[2].election))
        .await
        .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    let rec_task = tokio::spawn(capture_initial_messages(recorder, tx));
    let real = [start_real(1, &ports), start_real(2, &ports)];
    let leader = tokio::task::spawn_blocking({
        let ports = ports.clone();
        move || wait_for_real_leader(&ports, &[1, 2])
    })
    .await
    .unwrap();
    rec_task.abort();
    let _ = rec_task.await;

    // (b) the initial message a real 3.8 peer sends
    let hello = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap();
    let parsed = initial::read(&mut &hello[..]).await.unwrap();
    assert!(parsed.sid == 1 || parsed.sid == 2);
    let p = ports[usize::try_from(parsed.sid).unwrap() - 1].election;
    assert_eq!(parsed.election_addrs, vec![("127.0.0.1".to_owned(), p)]);
    assert_eq!(&hello[..8], &initial::PROTOCOL_VERSION_V1.to_be_bytes());
    write_fixture("initial-message.bin", &hello);

    // (b) their notifications to a LOOKING peer, out of election
    for sid in [1usize, 2] {
        let frames = ask_real_peer(ports[sid - 1].election, ports[2].election, &qv).await;
        for stale in &frames[..frames.len() - 1] {
            let n = NotificationMsg::decode(stale).unwrap();
            assert_eq!(n.state, 0);
            assert_eq!(n.encode(), *stale);
            write_fixture("notification-looking.bin", stale);
        }
        let reply = frames.last().unwrap().clone();
        let n = NotificationMsg::decode(&reply).unwrap();
        let want = if sid == leader {
            ServerState::Leading
        } else {
            ServerState::Following
        };
        assert_eq!(ServerState::from_wire(n.state), Some(want));
        assert_eq!(n.leader, i64::try_from(leader).unwrap());
        assert_eq!(n.version, CURRENT_VERSION);
        let text = String::from_utf8(n.config.clone().unwrap()).unwrap();
        assert_eq!(text, qv.to_string(), "QuorumMaj#toString byte for byte");
        assert_eq!(n.encode(), reply, "re-encodes to the same bytes");
        let name = if sid == leader {
            "notification-leading.bin"
        } else {
            "notification-following.bin"
        };
        write_fixture(name, &reply);
    }

    // (a) our driver as server 3 joins and names the same leader
    let mut cnx_cfg = CnxConfig::new(3, vec![format!("127.0.0.1:{}", ports[2].election)]);
    cnx_cfg.peers = (1..=3)
        .map(|i: usize| {
            (
                i as i64,
                vec![format!("127.0.0.1:{}", ports[i - 1].election)],
            )
        })
        .collect::<HashMap<_, _>>();
    let cnx = QuorumCnxManager::start(cnx_cfg).await.unwrap();
    let mut engine =
        FastLeaderElection::new(ElectionConfig::new(3, LearnerType::Participant, qv.clone()));
    let cancel = CancellationToken::new();
    let vote = tokio::time::timeout(
        Duration::from_secs(30),
        look_for_leader(&mut engine, &cnx, 0, 0, &cancel),
    )
    .await
    .expect("election took over 30 s")
    .unwrap();
    cnx.halt();
    assert_eq!(vote.id, i64::try_from(leader).unwrap());
    assert_eq!(engine.state(), ServerState::Following);
    // the real pair still has its quorum
    assert_eq!(mode(ports[leader - 1].client).as_deref(), Some("leader"));
    drop(real);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_of_our_drivers_elect_the_highest_epoch_zxid_sid() {
    let ports: Vec<Ports> = (0..3)
        .map(|_| Ports {
            quorum: free_port(),
            election: free_port(),
            client: free_port(),
        })
        .collect();
    let qv = verifier(&ports);
    let peers: HashMap<i64, Vec<String>> = (1..=3)
        .map(|i: usize| {
            (
                i as i64,
                vec![format!("127.0.0.1:{}", ports[i - 1].election)],
            )
        })
        .collect();
    // (epoch, zxid): 2 has the newest epoch although 3 has the larger zxid
    let history = [(1, 0x1_0000_0010), (2, 0x2_0000_0001), (1, 0x1_0000_0020)];
    let mut tasks = Vec::new();
    for (i, (epoch, zxid)) in history.into_iter().enumerate() {
        let sid = i as i64 + 1;
        let mut cfg = CnxConfig::new(sid, peers[&sid].clone());
        cfg.peers = peers.clone();
        let qv = qv.clone();
        tasks.push(tokio::spawn(async move {
            let cnx = QuorumCnxManager::start(cfg).await.unwrap();
            let mut e =
                FastLeaderElection::new(ElectionConfig::new(sid, LearnerType::Participant, qv));
            let cancel = CancellationToken::new();
            let v = look_for_leader(&mut e, &cnx, zxid, epoch, &cancel)
                .await
                .unwrap();
            // keep answering briefly so slower peers can finish
            let answer = ferrokeeper::quorum::election::answer_notifications(
                &mut e, &cnx, &cancel, None, None,
            );
            let _ = tokio::time::timeout(Duration::from_secs(2), answer).await;
            cnx.halt();
            (v, e.state())
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(
            tokio::time::timeout(Duration::from_secs(30), t)
                .await
                .unwrap()
                .unwrap(),
        );
    }
    for (i, (vote, state)) in results.iter().enumerate() {
        assert_eq!((vote.id, vote.zxid, vote.peer_epoch), (2, 0x2_0000_0001, 2));
        let want = if i == 1 {
            ServerState::Leading
        } else {
            ServerState::Following
        };
        assert_eq!(*state, want);
    }
}

#[tokio::test]
async fn captured_fixtures_decode_and_reencode() {
    let dir = Path::new(FIXTURES);
    let hello = std::fs::read(dir.join("initial-message.bin")).unwrap();
    let m = initial::read(&mut &hello[..]).await.unwrap();
    assert!(m.sid == 1 || m.sid == 2);
    assert_eq!(m.election_addrs[0].0, "127.0.0.1");
    for (name, state) in [
        ("notification-looking.bin", ServerState::Looking),
        ("notification-leading.bin", ServerState::Leading),
        ("notification-following.bin", ServerState::Following),
    ] {
        let bytes = std::fs::read(dir.join(name)).unwrap();
        let n = NotificationMsg::decode(&bytes).unwrap();
        assert_eq!(ServerState::from_wire(n.state), Some(state));
        assert_eq!(n.version, CURRENT_VERSION);
        let qv = QuorumVerifier::from_config_str(
            std::str::from_utf8(n.config.as_deref().unwrap()).unwrap(),
        )
        .unwrap();
        assert_eq!(qv.voting_members().len(), 3);
        assert_eq!(qv.to_string().as_bytes(), n.config.as_deref().unwrap());
        assert_eq!(n.encode(), bytes);
    }
}
