//! ZAB wire interop: a real 3-node Apache ZooKeeper 3.8.0 ensemble on 127.0.0.1 with a TCP
//! proxy between follower 1 and the leader (server 3)'s quorum port. Every byte both ways is
//! recorded, decoded with `quorum::zab::stream`, typed with `ZabMessage`, re-encoded and
//! compared; a SNAP sync's payload is loaded and compared with the leader's tree.
//! Prints "skipped" without java, the jars or python3-kazoo. Fixture-only tests always run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::free_port;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferrokeeper::jute::quorum::QuorumPacket;
use ferrokeeper::jute::Jute;
use ferrokeeper::persist::committed::CommittedLog;
use ferrokeeper::persist::restore::restore;
use ferrokeeper::quorum::zab::packet::{QuorumPacketType as T, Sender, ZabMessage};
use ferrokeeper::quorum::zab::stream::{
    decode_packet, read_snap_payload, SnapPayload, DEFAULT_MAX_ITEM,
};
use ferrokeeper::tree::{DataTree, TreeOptions};

const PY: &str = "/usr/bin/python3";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/zab")
        .join(name)
}

/// One packet of a recorded direction, with the global sequence number of the chunk that
/// completed it (to order packets across the two directions).
#[derive(Debug)]
struct Seen {
    packet: QuorumPacket,
    msg: ZabMessage,
    seq: u64,
    /// Offset in the direction's bytes just past it (and past a SNAP payload).
    end: usize,
}

/// Decode one direction: every packet, re-encoded and compared, plus the SNAP payload.
fn decode_direction(
    bytes: &[u8],
    ends: &[(usize, u64)],
    from: Sender,
) -> (Vec<Seen>, Option<SnapPayload>) {
    let seq_at = |end: usize| {
        ends.iter()
            .find(|(e, _)| *e >= end)
            .map_or(u64::MAX, |(_, s)| *s)
    };
    let mut out = Vec::new();
    let mut snap = None;
    let mut at = 0;
    while at < bytes.len() {
        let Some((packet, used)) = decode_packet(&bytes[at..], DEFAULT_MAX_ITEM).unwrap() else {
            panic!(
                "{from:?}: {} trailing bytes are not a whole packet",
                bytes.len() - at
            );
        };
        let raw = bytes[at..at + used].to_vec();
        assert_eq!(packet.to_vec(), raw, "{from:?}: re-encoded packet differs");
        let msg = ZabMessage::parse(&packet, from).unwrap();
        assert_eq!(msg.to_packet(), packet, "{from:?}: typed view is not exact");
        at += used;
        if msg.packet_type() == T::SNAP {
            let mut rest = &bytes[at..];
            let before = rest.len();
            snap = Some(read_snap_payload(&mut rest, packet.zxid, TreeOptions::default()).unwrap());
            at += before - rest.len();
        }
        out.push(Seen {
            packet,
            msg,
            seq: seq_at(at),
            end: at,
        });
    }
    (out, snap)
}

fn types(seen: &[Seen]) -> Vec<T> {
    seen.iter().map(|s| s.msg.packet_type()).collect()
}

fn check_fixture(name: &str, from: Sender, want_prefix: &[T]) -> Vec<Seen> {
    let bytes = std::fs::read(fixture(name)).unwrap();
    let (seen, _) = decode_direction(&bytes, &[(bytes.len(), 0)], from);
    assert_eq!(&types(&seen)[..want_prefix.len()], want_prefix, "{name}");
    seen
}

#[test]
fn captured_fixtures_decode_and_re_encode_exactly() {
    let learner = check_fixture(
        "diff_learner_to_leader.bin",
        Sender::Learner,
        &[T::FOLLOWERINFO, T::ACKEPOCH, T::ACK, T::ACK],
    );
    match &learner[0].msg {
        ZabMessage::FollowerInfo { info, .. } => {
            assert_eq!(info.serverid, 1);
            assert_eq!(info.protocol_version, 0x10000);
        }
        other => panic!("{other:?}"),
    }
    let leader = check_fixture(
        "diff_leader_to_learner.bin",
        Sender::Leader,
        &[T::LEADERINFO, T::DIFF],
    );
    let t = types(&leader);
    let nl = t.iter().position(|x| *x == T::NEWLEADER).unwrap();
    assert!(t[2..nl].chunks(2).all(|c| c == [T::PROPOSAL, T::COMMIT]));
    assert_eq!(t[nl + 1], T::UPTODATE);
    let snap = std::fs::read(fixture("snap_leader_to_learner.bin")).unwrap();
    let (seen, payload) = decode_direction(&snap, &[(snap.len(), 0)], Sender::Leader);
    assert_eq!(
        &types(&seen)[..4],
        &[T::LEADERINFO, T::SNAP, T::NEWLEADER, T::UPTODATE]
    );
    let payload = payload.unwrap();
    assert!(payload.tree.node("/zab/a").is_some());
    assert_eq!(payload.tree.last_processed_zxid(), seen[1].packet.zxid);
    check_fixture("broadcast_learner_to_leader.bin", Sender::Learner, &[]);
    check_fixture("broadcast_leader_to_learner.bin", Sender::Leader, &[]);
}

// ---------------------------------------------------------------------------------------
// The live ensemble.

fn java_classpath() -> Option<String> {
    let kazoo_ok = Command::new(PY)
        .args(["-c", "import kazoo"])
        .status()
        .is_ok_and(|s| s.success());
    common::realzk::reference_classpath().filter(|_| kazoo_ok)
}

/// A reference server process, killed by its own PID when dropped.
struct Node {
    child: Option<Child>,
}

impl Node {
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Ensemble {
    root: PathBuf,
    cp: String,
    client: [u16; 3],
    quorum: [u16; 3],
    election: [u16; 3],
    proxy: u16,
}

impl Ensemble {
    fn dir(&self, id: usize) -> PathBuf {
        self.root.join(format!("n{id}"))
    }

    /// Server 1 dials the leader (3) through the proxy; everyone else sees real ports.
    fn write_config(&self, id: usize) -> PathBuf {
        let dir = self.dir(id);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("myid"), id.to_string()).unwrap();
        let mut cfg = format!(
            "tickTime=500\ninitLimit=20\nsyncLimit=10\ndataDir={}\nclientPort={}\n\
             clientPortAddress=127.0.0.1\nadmin.enableServer=false\n4lw.commands.whitelist=srvr\n",
            dir.display(),
            self.client[id - 1]
        );
        for s in 1..=3 {
            let q = if id == 1 && s == 3 {
                self.proxy
            } else {
                self.quorum[s - 1]
            };
            cfg += &format!("server.{s}=127.0.0.1:{q}:{}\n", self.election[s - 1]);
        }
        let path = self.root.join(format!("zoo{id}.cfg"));
        std::fs::write(&path, cfg).unwrap();
        path
    }

    fn start(&self, id: usize) -> Node {
        let cfg = self.write_config(id);
        let log = std::fs::File::create(self.root.join(format!("n{id}.log"))).unwrap();
        let child = Command::new("java")
            .args([
                "-Xmx128m",
                "-XX:+UseSerialGC",
                "-Dzookeeper.admin.enableServer=false",
            ])
            .args([
                "-cp",
                &self.cp,
                "org.apache.zookeeper.server.quorum.QuorumPeerMain",
            ])
            .arg(cfg)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        Node { child: Some(child) }
    }

    fn mode(&self, id: usize) -> Option<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.client[id - 1])).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        s.write_all(b"srvr").ok()?;
        let mut text = String::new();
        s.read_to_string(&mut text).ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix("Mode: "))
            .map(str::to_string)
    }

    fn wait_mode(&self, id: usize, want: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if self.mode(id).as_deref() == Some(want) {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!(
            "server {id} never became {want}; see {}",
            self.root.display()
        );
    }

    /// Run a kazoo snippet against server `id` (`zk` is a started client).
    fn kazoo(&self, id: usize, body: &str) {
        let script = format!(
            "from kazoo.client import KazooClient\nzk = KazooClient(hosts='127.0.0.1:{}', timeout=10)\n\
             zk.start(timeout=30)\n{body}\nzk.stop()\nzk.close()\n",
            self.client[id - 1]
        );
        let ok = Command::new(PY)
            .args(["-c", &script])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kazoo script failed against server {id}");
    }
}

/// Chunks of one proxied connection: (global seq, learner→leader?, bytes).
type Chunks = Arc<Mutex<Vec<(u64, bool, Vec<u8>)>>>;

/// Accepts learner connections and pipes each to `target`, recording every chunk.
fn start_proxy(port: u16, target: u16) -> Arc<Mutex<Vec<Chunks>>> {
    let conns: Arc<Mutex<Vec<Chunks>>> = Arc::default();
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let seq = Arc::new(AtomicU64::new(0));
    let all = conns.clone();
    std::thread::spawn(move || {
        for inbound in listener.incoming() {
            let Ok(inbound) = inbound else { continue };
            let Ok(outbound) = TcpStream::connect(("127.0.0.1", target)) else {
                continue;
            };
            let chunks: Chunks = Arc::default();
            all.lock().unwrap().push(chunks.clone());
            for (mut from, mut to, up) in [
                (
                    inbound.try_clone().unwrap(),
                    outbound.try_clone().unwrap(),
                    true,
                ),
                (outbound, inbound, false),
            ] {
                let (chunks, seq) = (chunks.clone(), seq.clone());
                std::thread::spawn(move || {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        match from.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                let s = seq.fetch_add(1, Ordering::SeqCst);
                                chunks.lock().unwrap().push((s, up, buf[..n].to_vec()));
                                if to.write_all(&buf[..n]).is_err() {
                                    break;
                                }
                            }
                        }
                    }
                    let _ = to.shutdown(std::net::Shutdown::Both);
                });
            }
        }
    });
    conns
}

/// One connection's two directions, decoded.
struct Conversation {
    up: Vec<Seen>,
    down: Vec<Seen>,
    snap: Option<SnapPayload>,
    up_bytes: Vec<u8>,
    down_bytes: Vec<u8>,
}

fn decode_conn(chunks: &Chunks) -> Conversation {
    let chunks = chunks.lock().unwrap().clone();
    let mut dirs = [(Vec::new(), Vec::new()), (Vec::new(), Vec::new())];
    for (seq, up, bytes) in chunks {
        let (buf, ends) = &mut dirs[usize::from(up)];
        buf.extend_from_slice(&bytes);
        ends.push((buf.len(), seq));
    }
    let [(down_bytes, down_ends), (up_bytes, up_ends)] = dirs;
    let (up, _) = decode_direction(&up_bytes, &up_ends, Sender::Learner);
    let (down, snap) = decode_direction(&down_bytes, &down_ends, Sender::Leader);
    Conversation {
        up,
        down,
        snap,
        up_bytes,
        down_bytes,
    }
}

fn first(seen: &[Seen], t: T) -> &Seen {
    seen.iter()
        .find(|s| s.msg.packet_type() == t)
        .unwrap_or_else(|| panic!("no {:?} in {:?}", t.name(), types(seen)))
}

/// FOLLOWERINFO → LEADERINFO → ACKEPOCH → DIFF/SNAP → NEWLEADER → ACK → UPTODATE → ACK.
fn check_handshake(c: &Conversation, sync: T) {
    let up = types(&c.up);
    assert_eq!(&up[..2], &[T::FOLLOWERINFO, T::ACKEPOCH], "{up:?}");
    let down = types(&c.down);
    assert_eq!(&down[..2], &[T::LEADERINFO, sync], "{down:?}");
    let fi = first(&c.up, T::FOLLOWERINFO);
    let li = first(&c.down, T::LEADERINFO);
    let ae = first(&c.up, T::ACKEPOCH);
    let nl = first(&c.down, T::NEWLEADER);
    let utd = first(&c.down, T::UPTODATE);
    assert!(fi.seq < li.seq && li.seq < ae.seq, "discovery order");
    assert!(ae.seq < c.down[1].seq, "sync after ACKEPOCH");
    // the ACK of NEWLEADER carries its zxid; UPTODATE only after it; then ACK(newEpoch, 0)
    let acks: Vec<&Seen> =
        c.up.iter()
            .filter(|s| s.msg.packet_type() == T::ACK)
            .collect();
    assert_eq!(acks[0].packet.zxid, nl.packet.zxid);
    assert!(nl.seq < acks[0].seq && acks[0].seq < utd.seq);
    // 3.8.0 may ACK a proposal queued before UPTODATE ahead of the UPTODATE ACK (the order
    // ZOOKEEPER-4685 fixed later), so look for the latter by its zxid rather than position
    // (the NEWLEADER ACK, acks[0], carries the same zxid)
    let utd_ack = acks[1..]
        .iter()
        .find(|a| a.packet.zxid == li.packet.zxid)
        .expect("an ACK of UPTODATE carrying makeZxid(newEpoch, 0)");
    assert!(
        utd.seq < utd_ack.seq,
        "UPTODATE is acknowledged after it arrives"
    );
    assert_eq!(utd.packet.zxid, -1);
    // between the sync packet and NEWLEADER only PROPOSAL/COMMIT pairs, then UPTODATE; the
    // leader's PINGs share the same queue and may fall anywhere after the sync packet
    let no_pings: Vec<T> = down.iter().copied().filter(|t| *t != T::PING).collect();
    let nl_at = no_pings.iter().position(|t| *t == T::NEWLEADER).unwrap();
    assert!(
        no_pings[2..nl_at]
            .chunks(2)
            .all(|p| p == [T::PROPOSAL, T::COMMIT]),
        "{down:?}"
    );
    assert_eq!(no_pings[nl_at + 1], T::UPTODATE, "{down:?}");
}

fn dump(tree: &DataTree) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (path, node) in tree.iter_nodes() {
        if path.starts_with("/zookeeper") {
            continue; // /zookeeper/config is rewritten from each peer's own config
        }
        let p = if path.is_empty() { "/" } else { &path };
        let stat = tree.stat(p).unwrap();
        out.insert(
            p.to_string(),
            format!("{:?} {:?} {:?}", node.data, stat, node.acl),
        );
    }
    out
}

fn save(name: &str, bytes: &[u8]) {
    if std::env::var_os("ZAB_WRITE_FIXTURES").is_some() {
        std::fs::create_dir_all(fixture("")).unwrap();
        std::fs::write(fixture(name), bytes).unwrap();
    }
}

#[test]
fn reference_ensemble_speaks_what_we_decode() {
    let Some(cp) = java_classpath() else {
        println!("skipped: java, the ZooKeeper jars or python3-kazoo are absent");
        return;
    };
    let root = std::env::temp_dir().join(format!("fk-zab-wire-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let ens = Ensemble {
        root: root.clone(),
        cp,
        client: [free_port(), free_port(), free_port()],
        quorum: [free_port(), free_port(), free_port()],
        election: [free_port(), free_port(), free_port()],
        proxy: free_port(),
    };
    let conns = start_proxy(ens.proxy, ens.quorum[2]);
    let _n3 = ens.start(3);
    let _n2 = ens.start(2);
    ens.wait_mode(3, "leader");
    ens.kazoo(
        3,
        "zk.create('/zab', b'root')\nzk.create('/zab/a', b'x' * 100)\n\
         zk.create('/zab/b', None)\nzk.set('/zab/a', b'y')",
    );

    // 1. an empty follower joins a leader with data: SNAP
    let mut n1 = ens.start(1);
    ens.wait_mode(1, "follower");
    let snap_conv = decode_conn(&conns.lock().unwrap()[0]);
    check_handshake(&snap_conv, T::SNAP);
    let snap = snap_conv.snap.as_ref().expect("SNAP payload");
    let v2 = ens.dir(3).join("version-2");
    let leader = restore(
        &v2,
        &v2,
        TreeOptions::default(),
        false,
        CommittedLog::unused(),
    )
    .unwrap();
    assert_eq!(
        snap.tree.last_processed_zxid(),
        leader.tree.last_processed_zxid()
    );
    assert_eq!(dump(&snap.tree), dump(&leader.tree));
    assert_eq!(snap.tree.digest(), leader.tree.digest());
    assert_eq!(snap.sessions, leader.sessions);
    save(
        "snap_leader_to_learner.bin",
        &snap_conv.down_bytes[..snap_conv.down[3].end],
    );

    // 2. broadcast: writes through the follower are forwarded as REQUESTs
    ens.kazoo(
        1,
        "zk.create('/zab/c', b'c')\nzk.create('/zab/e', b'', ephemeral=True)\n\
         zk.set('/zab/c', b'cc')\nzk.delete('/zab/b')\nimport time\ntime.sleep(1.5)",
    );
    std::thread::sleep(Duration::from_millis(800));
    let live = decode_conn(&conns.lock().unwrap()[0]);
    let up = types(&live.up);
    let down = types(&live.down);
    for t in [T::REQUEST, T::ACK, T::PING] {
        assert!(up.contains(&t), "learner never sent {:?}: {up:?}", t.name());
    }
    for t in [T::PROPOSAL, T::COMMIT, T::PING] {
        assert!(
            down.contains(&t),
            "leader never sent {:?}: {down:?}",
            t.name()
        );
    }
    // every PROPOSAL after UPTODATE is acked with its zxid, then committed
    let utd = down.iter().position(|t| *t == T::UPTODATE).unwrap();
    for p in live.down[utd..]
        .iter()
        .filter(|s| s.msg.packet_type() == T::PROPOSAL)
    {
        let z = p.packet.zxid;
        assert!(live.up.iter().any(|s| s.msg == ZabMessage::Ack { zxid: z }));
        assert!(live
            .down
            .iter()
            .any(|s| s.msg == ZabMessage::Commit { zxid: z }));
    }
    // a learner PING reply touches the live session
    assert!(live
        .up
        .iter()
        .any(|s| matches!(&s.msg, ZabMessage::PingReply { touches, .. } if !touches.is_empty())));
    // after FOLLOWERINFO, ACKEPOCH, ACK, ACK and after UPTODATE
    save(
        "broadcast_learner_to_leader.bin",
        &live.up_bytes[live.up[3].end..],
    );
    save(
        "broadcast_leader_to_learner.bin",
        &live.down_bytes[live.down[utd].end..],
    );

    // 3. the follower restarts behind the leader: DIFF + proposals
    n1.stop();
    ens.kazoo(3, "zk.create('/zab/d', b'd')\nzk.set('/zab/a', b'z')");
    let _n1 = ens.start(1);
    ens.wait_mode(1, "follower");
    let deadline = Instant::now() + Duration::from_secs(30);
    while conns.lock().unwrap().len() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    let diff = decode_conn(&conns.lock().unwrap()[1]);
    check_handshake(&diff, T::DIFF);
    let proposals = diff
        .down
        .iter()
        .filter(|s| s.msg.packet_type() == T::PROPOSAL)
        .count();
    assert!(proposals >= 2, "DIFF carried {proposals} proposals");
    let nl = diff
        .down
        .iter()
        .position(|s| s.msg.packet_type() == T::NEWLEADER)
        .unwrap();
    save(
        "diff_learner_to_leader.bin",
        &diff.up_bytes[..diff.up[3].end],
    );
    save(
        "diff_leader_to_learner.bin",
        &diff.down_bytes[..diff.down[nl + 1].end],
    );

    // epoch files live in the snapshot directory, as bare decimals
    let e = std::fs::read_to_string(ens.dir(1).join("version-2/currentEpoch")).unwrap();
    assert_eq!(e, "1");
    assert!(!ens.dir(1).join("currentEpoch").exists());
    drop((_n1, _n2, _n3));
    let _ = std::fs::remove_dir_all(root);
}
