//! Our ZAB leader with real Apache ZooKeeper 3.8.0 learners (skipped without java / the jars /
//! python3-kazoo): we are server 3 with the newest data, win the election, SNAP-sync two real
//! followers, commit txns we propose (visible through their client ports), receive the writes
//! their clients send (a small test "pipeline" answers createSession / create / closeSession
//! so kazoo sessions work), feed a real observer with INFORMs, keep committing with one
//! follower killed and step down when both are gone.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::free_port;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ferrokeeper::config::LearnerType;
use ferrokeeper::jute::codes::{perms, OpCode};
use ferrokeeper::jute::data::{Acl, Id};
use ferrokeeper::jute::proto::CreateRequest;
use ferrokeeper::jute::txn::{
    CloseSessionTxn, CreateSessionTxn, CreateTxn, TxnBody, TxnDigest, TxnEntry, TxnHeader,
};
use ferrokeeper::jute::Jute;
use ferrokeeper::persist::epoch::{write_epoch, ACCEPTED_EPOCH_FILENAME, CURRENT_EPOCH_FILENAME};
use ferrokeeper::persist::snapshot::{write_snapshot, SnapshotCompression};
use ferrokeeper::persist::txnlog::{TxnLog, TxnLogOptions};
use ferrokeeper::quorum::election::{answer_notifications, look_for_leader, ServerState};
use ferrokeeper::quorum::zab::leader::{
    start_leader, LeaderConfig, LeaderDb, LeaderEvent, LeaderExit, LeaderHandle, LeaderSettings,
    LearnerKind, SyncKind,
};
use ferrokeeper::quorum::zab::packet::LearnerRequest;
use ferrokeeper::quorum::QuorumVerifier;
use ferrokeeper::quorum::{CnxConfig, ElectionConfig, FastLeaderElection, QuorumCnxManager};
use ferrokeeper::tree::{DataTree, TreeOptions};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

const PY: &str = "/usr/bin/python3";
const TICK_MS: u64 = 500;

#[derive(Clone, Copy)]
struct Ports {
    quorum: u16,
    election: u16,
    client: u16,
}

/// Servers 1..3 vote, 4 observes.
fn server_lines(ports: &[Ports]) -> String {
    ports
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let role = if i == 3 { ":observer" } else { "" };
            format!(
                "server.{}=127.0.0.1:{}:{}{role}\n",
                i + 1,
                p.quorum,
                p.election
            )
        })
        .collect()
}

fn available() -> bool {
    let java = Command::new("java")
        .arg("-version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let kazoo = Command::new(PY)
        .args(["-c", "import kazoo"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    java && kazoo && Path::new("/usr/share/java/zookeeper.jar").exists()
}

/// A real ZooKeeper process; killed by PID and its dir removed when dropped.
struct RealPeer {
    child: Option<Child>,
    dir: PathBuf,
}

impl RealPeer {
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for RealPeer {
    fn drop(&mut self) {
        self.kill();
        if std::env::var_os("FK_LEADER_DEBUG").is_some() {
            return;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start_real(sid: usize, ports: &[Ports], root: &Path) -> RealPeer {
    let dir = root.join(format!("real-{sid}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("myid"), format!("{sid}\n")).unwrap();
    let peer_type = if sid == 4 { "peerType=observer\n" } else { "" };
    let cfg = format!(
        "tickTime={TICK_MS}\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort={}\n\
         clientPortAddress=127.0.0.1\n4lw.commands.whitelist=*\nadmin.enableServer=false\n\
         {peer_type}{}",
        dir.display(),
        ports[sid - 1].client,
        server_lines(ports)
    );
    std::fs::write(dir.join("zoo.cfg"), cfg).unwrap();
    let log = std::fs::File::create(dir.join("out.log")).unwrap();
    // FK_LEADER_DEBUG: the same server with slf4j-simple, to read its log in out.log
    let mut cmd = if std::env::var_os("FK_LEADER_DEBUG").is_some() {
        let j = "/usr/share/java";
        let mut c = Command::new("java");
        c.args([
            "-Dzookeeper.admin.enableServer=false",
            "-cp",
            &format!(
                "{j}/zookeeper.jar:{j}/zookeeper-jute.jar:{j}/slf4j-api.jar:{j}/slf4j-simple.jar"
            ),
            "org.apache.zookeeper.server.quorum.QuorumPeerMain",
        ]);
        c
    } else {
        Command::new("compat-tests/lib/zk-reference")
    };
    let child = cmd
        .arg(dir.join("zoo.cfg"))
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    RealPeer {
        child: Some(child),
        dir,
    }
}

fn srvr(port: u16) -> Option<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(b"srvr").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

fn srvr_field(port: u16, field: &str) -> Option<String> {
    let text = srvr(port)?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    Some(line[field.len()..].trim().to_owned())
}

async fn wait_mode(port: u16, want: &str, secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let m = tokio::task::spawn_blocking(move || srvr_field(port, "Mode:"))
            .await
            .unwrap();
        if m.as_deref() == Some(want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "port {port}: mode {m:?}, wanted {want}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Run a kazoo script against a client port (bounded: killed after 40 s); its stdout.
async fn kazoo(port: u16, body: &str) -> String {
    let script = format!(
        "import sys\nfrom kazoo.client import KazooClient\n\
         zk = KazooClient(hosts='127.0.0.1:{port}', timeout=10)\nzk.start(timeout=30)\n\
         {body}\nzk.stop()\nzk.close()\n"
    );
    tokio::task::spawn_blocking(move || {
        let mut child = Command::new(PY)
            .args(["-c", &script])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                let mut out = String::new();
                child
                    .stdout
                    .take()
                    .unwrap()
                    .read_to_string(&mut out)
                    .unwrap();
                assert!(status.success(), "kazoo script failed on {port}: {out}");
                return out;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("kazoo script timed out on {port}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    })
    .await
    .unwrap()
}

/// `get(path)` through a client port: (data, mzxid).
async fn kazoo_get(port: u16, path: &str) -> (String, i64) {
    let out = kazoo(
        port,
        &format!("d, st = zk.get('{path}')\nprint(d.decode(), st.mzxid)"),
    )
    .await;
    let (d, z) = out.trim().rsplit_once(' ').unwrap();
    (d.to_owned(), z.parse().unwrap())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Just enough of prep for this test: txns with the tree digest after them, from a tree
/// kept in step with the leader's.
struct MiniPrep {
    tree: DataTree,
    next: i64,
}

impl MiniPrep {
    fn seal(&mut self, client_id: i64, cxid: i32, op: OpCode, body: TxnBody) -> TxnEntry {
        let mut txn = TxnEntry {
            header: TxnHeader {
                client_id,
                cxid,
                zxid: self.next,
                time: now_ms(),
                op,
            },
            body,
            digest: None,
        };
        self.next += 1;
        self.tree.apply(&txn);
        txn.digest = Some(TxnDigest {
            version: 2,
            tree_digest: self.tree.digest(),
        });
        txn
    }

    fn create(&mut self, session: i64, cxid: i32, path: &str, data: &[u8]) -> TxnEntry {
        let parent = path
            .rsplit_once('/')
            .map_or("/", |(p, _)| if p.is_empty() { "/" } else { p });
        let cversion = self.tree.stat(parent).map_or(0, |s| s.cversion);
        let body = TxnBody::Create(CreateTxn {
            path: path.to_owned(),
            data: Some(data.to_vec().into()),
            acl: vec![Acl {
                perms: perms::ALL,
                id: Id {
                    scheme: "world".into(),
                    id: "anyone".into(),
                },
            }],
            ephemeral: false,
            parent_cversion: cversion + 1,
        });
        self.seal(session, cxid, OpCode::CREATE, body)
    }
}

#[derive(Default)]
struct Seen {
    serving: Option<i64>,
    synced: Vec<(i64, LearnerKind, SyncKind)>,
    requests: Vec<(i64, LearnerRequest)>,
    committed: Vec<i64>,
    touches: usize,
}

type Ask = (String, Vec<u8>, oneshot::Sender<i64>);

/// The test's stand-in for the pipeline: consumes leader events, answers forwarded
/// createSession / create / closeSession, proposes local creates on request.
async fn mini_pipeline(
    mut prep: MiniPrep,
    handle: LeaderHandle,
    mut events: mpsc::UnboundedReceiver<LeaderEvent>,
    mut asks: mpsc::UnboundedReceiver<Ask>,
    seen: Arc<Mutex<Seen>>,
) {
    loop {
        let txn = tokio::select! {
            ev = events.recv() => {
                let Some(ev) = ev else { return };
                match ev {
                    LeaderEvent::Serving { zxid } => {
                        prep.tree.set_last_processed_zxid(zxid);
                        prep.next = zxid + 1;
                        seen.lock().unwrap().serving = Some(zxid);
                        None
                    }
                    LeaderEvent::Committed(t) => {
                        seen.lock().unwrap().committed.push(t.header.zxid);
                        None
                    }
                    LeaderEvent::LearnerSynced { sid, kind, how } => {
                        seen.lock().unwrap().synced.push((sid, kind, how));
                        None
                    }
                    LeaderEvent::SessionTouches { .. } => {
                        seen.lock().unwrap().touches += 1;
                        None
                    }
                    LeaderEvent::Request { sid, request } => {
                        seen.lock().unwrap().requests.push((sid, request.clone()));
                        answer(&mut prep, &request)
                    }
                    LeaderEvent::LearnerLost { .. } => None,
                }
            }
            ask = asks.recv() => {
                let Some((path, data, reply)) = ask else { return };
                let t = prep.create(0, 0, &path, &data);
                let _ = reply.send(t.header.zxid);
                Some(t)
            }
        };
        if let Some(t) = txn {
            handle.propose(t).await.unwrap();
        }
    }
}

fn answer(prep: &mut MiniPrep, r: &LearnerRequest) -> Option<TxnEntry> {
    let (sid, cxid) = (r.session_id, r.cxid);
    match r.op {
        OpCode::CREATE_SESSION => {
            let time_out = i32::from_be_bytes(r.request.get(..4)?.try_into().ok()?);
            let body = TxnBody::CreateSession(CreateSessionTxn { time_out });
            Some(prep.seal(sid, cxid, OpCode::CREATE_SESSION, body))
        }
        OpCode::CLOSE_SESSION => {
            let paths2_delete = prep.tree.ephemerals(sid);
            let body = TxnBody::CloseSession(Some(CloseSessionTxn { paths2_delete }));
            Some(prep.seal(sid, cxid, OpCode::CLOSE_SESSION, body))
        }
        OpCode::CREATE => {
            let req = CreateRequest::from_bytes(&r.request).ok()?;
            let data = req.data.clone().unwrap_or_default();
            Some(prep.create(sid, cxid, &req.path, &data))
        }
        _ => None,
    }
}

/// Our dataDir: an empty snapshot, three creates at epoch 1 in the txn log, epochs 1.
fn seed_data(data_dir: &Path) -> PathBuf {
    let v2 = data_dir.join("version-2");
    std::fs::create_dir_all(&v2).unwrap();
    let tree = DataTree::with_options(TreeOptions::default());
    write_snapshot(&v2, 0, &tree, &[], SnapshotCompression::None, false).unwrap();
    let mut prep = MiniPrep {
        tree,
        next: 0x1_0000_0001,
    };
    let mut log = TxnLog::open(&v2, TxnLogOptions::default()).unwrap();
    for (path, data) in [("/pre", "p"), ("/pre/a", "alpha"), ("/pre/b", "beta")] {
        let t = prep.create(0, 0, path, data.as_bytes());
        log.append(t.header.zxid, &t.to_vec()).unwrap();
    }
    log.commit().unwrap();
    log.close().unwrap();
    write_epoch(&v2, CURRENT_EPOCH_FILENAME, 1).unwrap();
    write_epoch(&v2, ACCEPTED_EPOCH_FILENAME, 1).unwrap();
    v2
}

async fn wait_for<T>(what: &str, secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn propose_create(asks: &mpsc::UnboundedSender<Ask>, path: &str, data: &str) -> i64 {
    let (tx, rx) = oneshot::channel();
    asks.send((path.to_owned(), data.as_bytes().to_vec(), tx))
        .unwrap();
    rx.await.unwrap()
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("FK_LEADER_DEBUG").is_some() {
            return;
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_followers_and_observer_follow_our_leader() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    }
    if !available() {
        println!("skipped: java, /usr/share/java/zookeeper.jar or python3-kazoo missing");
        return;
    }
    let root = TempDir(std::env::temp_dir().join(format!(
        "fk-leader-{}-{}",
        std::process::id(),
        free_port()
    )));
    let ports: Vec<Ports> = (0..4)
        .map(|_| Ports {
            quorum: free_port(),
            election: free_port(),
            client: free_port(),
        })
        .collect();
    let qv = QuorumVerifier::from_config_str(&server_lines(&ports)).unwrap();
    let v2 = seed_data(&root.0.join("ours"));

    // election: ours first, so the real peers meet our (epoch 1, zxid 0x100000003) vote
    let mut cnx_cfg = CnxConfig::new(3, vec![format!("127.0.0.1:{}", ports[2].election)]);
    cnx_cfg.peers = (1..=4)
        .map(|i: usize| {
            (
                i as i64,
                vec![format!("127.0.0.1:{}", ports[i - 1].election)],
            )
        })
        .collect::<HashMap<_, _>>();
    let cnx = QuorumCnxManager::start(cnx_cfg).await.unwrap();
    let mut fle =
        FastLeaderElection::new(ElectionConfig::new(3, LearnerType::Participant, qv.clone()));
    let cancel = CancellationToken::new();
    // loaded before the election: followers give up on a leader not listening within ~5 s
    let db = LeaderDb::load(&v2, &v2, TreeOptions::default(), 500).unwrap();
    let mirror = LeaderDb::load(&v2, &v2, TreeOptions::default(), 500)
        .unwrap()
        .tree;
    assert_eq!(db.tree.last_processed_zxid(), 0x1_0000_0003);
    let election = {
        let cancel = cancel.clone();
        let (last, epoch) = (db.tree.last_processed_zxid(), db.epochs.current);
        tokio::spawn(async move {
            let vote = look_for_leader(&mut fle, &cnx, last, epoch, &cancel).await;
            (vote, fle, cnx)
        })
    };
    let mut real: HashMap<usize, RealPeer> = HashMap::new();
    for sid in [1, 2] {
        real.insert(sid, start_real(sid, &ports, &root.0));
    }
    let (vote, mut fle, cnx) = tokio::time::timeout(Duration::from_secs(60), election)
        .await
        .expect("election took over 60 s")
        .unwrap();
    let vote = vote.unwrap();
    assert_eq!((vote.id, fle.state()), (3, ServerState::Leading));
    let cnx = Arc::new(cnx);
    let answering = {
        let (cnx, cancel) = (cnx.clone(), cancel.clone());
        tokio::spawn(async move { answer_notifications(&mut fle, &cnx, &cancel, None).await })
    };

    // lead
    let cfg = LeaderConfig {
        settings: LeaderSettings::new(3, qv.clone(), 10, 5),
        tick_time: Duration::from_millis(TICK_MS),
        quorum_addr: format!("127.0.0.1:{}", ports[2].quorum).parse().unwrap(),
        listen_on_all_ips: false,
        snap_dir: v2.clone(),
        log_dir: v2.clone(),
        snapshot_size_factor: 0.33,
        txn_log: TxnLogOptions::default(),
    };
    let leader = start_leader(cfg, db, cancel.clone()).await.unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let (ask_tx, ask_rx) = mpsc::unbounded_channel();
    let pipeline = tokio::spawn(mini_pipeline(
        MiniPrep {
            tree: mirror,
            next: 0,
        },
        leader.handle.clone(),
        leader.events,
        ask_rx,
        seen.clone(),
    ));
    let mut leader_task = leader.task;

    // (a) both real followers sync by SNAP (they are empty) and follow
    let serving = wait_for("a quorum to ack NEWLEADER", 60, || {
        seen.lock().unwrap().serving
    })
    .await;
    assert_eq!(serving, 0x2_0000_0000, "epoch = max(acceptedEpoch) + 1");
    for sid in [1usize, 2] {
        wait_mode(ports[sid - 1].client, "follower", 60).await;
    }
    {
        let s = seen.lock().unwrap();
        for sid in [1, 2] {
            assert!(
                s.synced
                    .contains(&(sid, LearnerKind::Follower, SyncKind::Snap)),
                "{:?}",
                s.synced
            );
        }
    }
    assert_eq!(
        std::fs::read_to_string(v2.join("currentEpoch")).unwrap(),
        "2"
    );
    assert_eq!(
        std::fs::read_to_string(v2.join("acceptedEpoch")).unwrap(),
        "2"
    );
    for sid in [1usize, 2] {
        let (d, z) = kazoo_get(ports[sid - 1].client, "/pre/a").await;
        assert_eq!((d.as_str(), z), ("alpha", 0x1_0000_0002));
    }

    // (b) a txn we propose is committed and visible through both followers
    let z = propose_create(&ask_tx, "/fk-local", "v1").await;
    wait_for("our txn to commit", 20, || {
        seen.lock().unwrap().committed.contains(&z).then_some(())
    })
    .await;
    for sid in [1usize, 2] {
        let (d, mz) = kazoo_get(ports[sid - 1].client, "/fk-local").await;
        assert_eq!((d.as_str(), mz), ("v1", z));
    }

    // REQUEST: a client's create sent to follower 1 reaches us, well formed
    let out = kazoo(
        ports[0].client,
        "print(zk.create('/via-follower', b'through-1'))",
    )
    .await;
    assert_eq!(out.trim(), "/via-follower");
    {
        let s = seen.lock().unwrap();
        let (sid, req) = s
            .requests
            .iter()
            .find(|(_, r)| r.op == OpCode::CREATE)
            .expect("a forwarded create");
        assert_eq!(*sid, 1);
        let cr = CreateRequest::from_bytes(&req.request).unwrap();
        assert_eq!(cr.path, "/via-follower");
        assert_eq!(cr.data.as_deref(), Some(&b"through-1"[..]));
        assert!(s
            .requests
            .iter()
            .any(|(_, r)| r.op == OpCode::CREATE_SESSION));
    }
    let (d, _) = kazoo_get(ports[1].client, "/via-follower").await;
    assert_eq!(d, "through-1");

    // (d) a real observer syncs and sees commits (INFORM)
    real.insert(4, start_real(4, &ports, &root.0));
    wait_mode(ports[3].client, "observer", 60).await;
    let z_obs = propose_create(&ask_tx, "/fk-obs", "o").await;
    let (d, mz) = kazoo_get(ports[3].client, "/fk-obs").await;
    assert_eq!((d.as_str(), mz), ("o", z_obs));
    assert!(seen
        .lock()
        .unwrap()
        .synced
        .iter()
        .any(|(sid, k, _)| *sid == 4 && *k == LearnerKind::Observer));

    // (c) one follower gone: still a quorum, still committing
    real.get_mut(&1).unwrap().kill();
    let z2 = propose_create(&ask_tx, "/fk-after-kill", "k").await;
    wait_for("a commit with one follower", 20, || {
        seen.lock().unwrap().committed.contains(&z2).then_some(())
    })
    .await;
    let (d, mz) = kazoo_get(ports[1].client, "/fk-after-kill").await;
    assert_eq!((d.as_str(), mz), ("k", z2));
    assert!(!leader_task.is_finished());

    // both gone: the leader steps down within syncLimit
    real.get_mut(&2).unwrap().kill();
    let exit = tokio::time::timeout(Duration::from_secs(20), &mut leader_task)
        .await
        .expect("leader did not step down")
        .unwrap();
    match exit {
        LeaderExit::SteppedDown(why) => {
            assert!(why.contains("Not sufficient followers synced"), "{why}")
        }
        other => panic!("unexpected exit {other:?}"),
    }
    println!("touch batches seen: {}", seen.lock().unwrap().touches);

    cancel.cancel();
    let _ = answering.await;
    cnx.halt();
    pipeline.abort();
    drop(real);
}
