//! Our learner in a real Apache ZooKeeper 3.8.0 ensemble: two reference nodes (sids 1, 2) and
//! our node as sid 3, which elects with the election driver and then follows (or observes)
//! the leader through `quorum::zab::learner`. Writes go through the real nodes with kazoo;
//! our tree must end equal to a dump taken through a real node's client port, and our last
//! zxid equal to the leader's (`srvr`). Prints "skipped" without java, the jars or kazoo.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::free_port;
use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrokeeper::config::LearnerType;
use ferrokeeper::jute::codes::OpCode;
use ferrokeeper::jute::data::Acl;
use ferrokeeper::jute::txn::{CreateTxn, TxnBody, TxnEntry, TxnHeader};
use ferrokeeper::persist::txnlog::{self, TxnLog, TxnLogOptions};
use ferrokeeper::quorum::election::{answer_notifications, look_for_leader, ElectionConfig};
use ferrokeeper::quorum::zab::learner::{
    run_learner, LearnerConfig, LearnerDb, LearnerDbOptions, LearnerExit, LearnerParams,
    LearnerPhase, LearnerRole, LearnerStatus, LearnerTimeouts, NoTouches, SyncMode,
};
use ferrokeeper::quorum::{CnxConfig, FastLeaderElection, QuorumCnxManager, QuorumVerifier};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

const PY: &str = "/usr/bin/python3";
const TICK_MS: u64 = 500;

/// One ensemble at a time: four JVMs would not fit the test machine.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

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

#[derive(Clone, Copy)]
struct Ports {
    quorum: u16,
    election: u16,
    client: u16,
}

struct Ensemble {
    root: PathBuf,
    ports: Vec<Ports>,
    observer: bool,
    real: Vec<Child>,
}

impl Drop for Ensemble {
    fn drop(&mut self) {
        for c in &mut self.real {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::env::var_os("FK_KEEP_TEST_DIRS").is_none() {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}

impl Ensemble {
    fn new(tag: &str, observer: bool) -> Ensemble {
        let root = std::env::temp_dir().join(format!(
            "fk-learner-{tag}-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&root).unwrap();
        let ports = (0..3)
            .map(|_| Ports {
                quorum: free_port(),
                election: free_port(),
                client: free_port(),
            })
            .collect();
        Ensemble {
            root,
            ports,
            observer,
            real: Vec::new(),
        }
    }

    fn server_lines(&self) -> String {
        self.ports
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let role = if i == 2 && self.observer {
                    ":observer"
                } else {
                    ""
                };
                format!(
                    "server.{}=127.0.0.1:{}:{}{role}\n",
                    i + 1,
                    p.quorum,
                    p.election
                )
            })
            .collect()
    }

    fn dir(&self, sid: usize) -> PathBuf {
        self.root.join(format!("n{sid}"))
    }

    fn start_real(&mut self, sid: usize) {
        let dir = self.dir(sid);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("myid"), format!("{sid}\n")).unwrap();
        let cfg = format!(
            "tickTime={TICK_MS}\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort={}\n\
             clientPortAddress=127.0.0.1\n4lw.commands.whitelist=*\nadmin.enableServer=false\n{}",
            dir.display(),
            self.ports[sid - 1].client,
            self.server_lines()
        );
        std::fs::write(dir.join("zoo.cfg"), cfg).unwrap();
        let log = std::fs::File::create(dir.join("out.log")).unwrap();
        let child = Command::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/compat-tests/lib/zk-reference"
        ))
        .arg(dir.join("zoo.cfg"))
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
        self.real.push(child);
    }

    fn four(&self, sid: usize, word: &str) -> Option<String> {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.ports[sid - 1].client)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
        s.write_all(word.as_bytes()).ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        Some(out)
    }

    fn field(&self, sid: usize, word: &str, key: &str) -> Option<String> {
        let text = self.four(sid, word)?;
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .map(|v| v.trim().to_owned())
    }

    fn wait_leader(&self) -> usize {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            for sid in [1, 2] {
                if self.field(sid, "srvr", "Mode:").as_deref() == Some("leader") {
                    return sid;
                }
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        panic!(
            "no leader among the real nodes; see {}",
            self.root.display()
        );
    }

    fn zxid(&self, sid: usize) -> i64 {
        let z = self.field(sid, "srvr", "Zxid:").expect("srvr");
        i64::from_str_radix(z.trim_start_matches("0x"), 16).unwrap()
    }

    fn kazoo(&self, sid: usize, body: &str) -> String {
        let script = format!(
            "from kazoo.client import KazooClient\nimport json, binascii\n\
             zk = KazooClient(hosts='127.0.0.1:{}', timeout=10)\nzk.start(timeout=30)\n{body}\n\
             zk.stop()\nzk.close()\n",
            self.ports[sid - 1].client
        );
        let out = Command::new(PY).args(["-c", &script]).output().unwrap();
        assert!(
            out.status.success(),
            "kazoo failed on {sid}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Every znode but /zookeeper/config (its data is the peer's own config text):
    /// path → (hex data, the eleven Stat fields).
    fn dump(&self, sid: usize) -> BTreeMap<String, (String, Vec<i64>)> {
        let out = self.kazoo(
            sid,
            "out = {}\n\
             def walk(p):\n\
             \x20   data, st = zk.get(p)\n\
             \x20   if p != '/zookeeper/config':\n\
             \x20       out[p] = [binascii.hexlify(data or b'').decode(), [st.czxid, st.mzxid, st.ctime, st.mtime, st.version, st.cversion, st.aversion, st.ephemeralOwner, st.dataLength, st.numChildren, st.pzxid]]\n\
             \x20   for c in zk.get_children(p):\n\
             \x20       walk((p if p != '/' else '') + '/' + c)\n\
             walk('/')\n\
             print(json.dumps(out))",
        );
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        v.as_object()
            .unwrap()
            .iter()
            .map(|(k, e)| {
                let data = e[0].as_str().unwrap().to_owned();
                let stat = e[1]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_i64().unwrap())
                    .collect();
                (k.clone(), (data, stat))
            })
            .collect()
    }

    fn verifier(&self) -> QuorumVerifier {
        QuorumVerifier::from_config_str(&self.server_lines()).unwrap()
    }
}

fn our_dump(db: &LearnerDb) -> BTreeMap<String, (String, Vec<i64>)> {
    let mut out = BTreeMap::new();
    let tree = db.tree();
    let mut stack = vec!["/".to_owned()];
    while let Some(p) = stack.pop() {
        let node = tree.node(&p).unwrap();
        let st = tree.stat(&p).unwrap();
        if p != "/zookeeper/config" {
            let data = node.data.as_deref().map(hex).unwrap_or_default();
            let stat = vec![
                st.czxid,
                st.mzxid,
                st.ctime,
                st.mtime,
                i64::from(st.version),
                i64::from(st.cversion),
                i64::from(st.aversion),
                st.ephemeral_owner,
                i64::from(st.data_length),
                i64::from(st.num_children),
                st.pzxid,
            ];
            out.insert(p.clone(), (data, stat));
        }
        for c in tree.children(&p).unwrap() {
            stack.push(format!("{}/{c}", if p == "/" { "" } else { &p }));
        }
    }
    out
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Our node (sid 3): elect with the real pair, then run the learner in a task.
struct OurNode {
    cancel: CancellationToken,
    status: watch::Receiver<LearnerStatus>,
    task: tokio::task::JoinHandle<(LearnerDb, LearnerExit)>,
    election_task: tokio::task::JoinHandle<()>,
}

async fn start_ours(ens: &Ensemble, data_dir: &Path) -> OurNode {
    let db = LearnerDb::open(LearnerDbOptions::new(data_dir)).unwrap();
    let learner_type = if ens.observer {
        LearnerType::Observer
    } else {
        LearnerType::Participant
    };
    let mut cnx_cfg = CnxConfig::new(3, vec![format!("127.0.0.1:{}", ens.ports[2].election)]);
    cnx_cfg.peers = (1..=3)
        .map(|i: usize| {
            let p = ens.ports[i - 1].election;
            (i as i64, vec![format!("127.0.0.1:{p}")])
        })
        .collect::<HashMap<_, _>>();
    let cnx = QuorumCnxManager::start(cnx_cfg).await.unwrap();
    let mut engine = FastLeaderElection::new(ElectionConfig::new(3, learner_type, ens.verifier()));
    let cancel = CancellationToken::new();
    let vote = tokio::time::timeout(
        Duration::from_secs(30),
        look_for_leader(
            &mut engine,
            &cnx,
            db.last_processed_zxid(),
            db.epochs().current,
            &cancel,
        ),
    )
    .await
    .expect("election took over 30 s")
    .unwrap();
    let leader = usize::try_from(vote.id).unwrap();
    assert!(leader == 1 || leader == 2, "we must not lead: {vote:?}");
    let election_cancel = cancel.child_token();
    let election_task = tokio::spawn(async move {
        answer_notifications(&mut engine, &cnx, &election_cancel, None).await;
        cnx.halt();
    });
    let (tx, rx) = watch::channel(LearnerStatus {
        phase: LearnerPhase::Connecting,
        sync_mode: None,
        last_processed_zxid: -1,
        last_logged_zxid: -1,
        current_epoch: -1,
        digest_mismatches: 0,
        syncs_completed: 0,
    });
    let params = LearnerParams {
        leader: format!("127.0.0.1:{}", ens.ports[leader - 1].quorum)
            .parse()
            .unwrap(),
        cfg: LearnerConfig {
            sid: 3,
            role: LearnerRole::from(learner_type),
            config_version: 0,
        },
        timeouts: LearnerTimeouts {
            tick: Duration::from_millis(TICK_MS),
            init_limit: 10,
            sync_limit: 5,
        },
        touches: Arc::new(NoTouches),
        status: Some(tx),
        cancel: cancel.clone(),
    };
    let task = tokio::spawn(async move {
        let mut db = db;
        let exit = run_learner(&params, &mut db).await;
        (db, exit)
    });
    OurNode {
        cancel,
        status: rx,
        task,
        election_task,
    }
}

impl OurNode {
    async fn wait(&mut self, what: &str, f: impl Fn(&LearnerStatus) -> bool) -> LearnerStatus {
        let r = tokio::time::timeout(Duration::from_secs(60), self.status.wait_for(|s| f(s)))
            .await
            .map(|r| r.map(|s| s.clone()));
        match r {
            Ok(Ok(s)) => s,
            _ => panic!(
                "learner: {what} never happened: {:?}",
                *self.status.borrow()
            ),
        }
    }

    async fn stop(self) -> LearnerDb {
        self.cancel.cancel();
        let (db, exit) = tokio::time::timeout(Duration::from_secs(20), self.task)
            .await
            .unwrap()
            .unwrap();
        assert!(matches!(exit, LearnerExit::Cancelled), "{exit}");
        let _ = tokio::time::timeout(Duration::from_secs(5), self.election_task).await;
        db
    }
}

/// Run `f` on a blocking thread (kazoo and 4lw calls block).
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

async fn converge(ens: &Arc<Ensemble>, node: &mut OurNode, leader: usize) -> i64 {
    let e = Arc::clone(ens);
    let want = blocking(move || e.zxid(leader)).await;
    node.wait(&format!("reaching zxid 0x{want:x}"), |s| {
        s.last_processed_zxid == want
    })
    .await;
    want
}

/// Dump through real node `sid` (its session's txns included), wait until we reach the
/// leader's zxid, stop our node and compare.
async fn stop_and_compare(
    ens: &Arc<Ensemble>,
    mut node: OurNode,
    leader: usize,
    sid: usize,
) -> LearnerDb {
    let e = Arc::clone(ens);
    let theirs = blocking(move || e.dump(sid)).await;
    let zxid = converge(ens, &mut node, leader).await;
    let db = node.stop().await;
    assert_eq!(db.last_processed_zxid(), zxid);
    let ours = our_dump(&db);
    assert_eq!(ours.len(), theirs.len(), "node counts differ");
    for (path, want) in &theirs {
        assert_eq!(ours.get(path), Some(want), "znode {path}");
    }
    assert_eq!(db.digest_mismatches(), 0);
    db
}

const WRITES_BEFORE: &str = "zk.create('/app', b'root')\n\
    zk.create('/app/a', b'alpha')\n\
    zk.set('/app/a', b'alpha2')\n\
    for i in range(20): zk.create('/app/s-', b'x' * i, sequence=True)\n\
    zk.create('/gone', b'')\n\
    zk.delete('/gone')\n";

const WRITES_AFTER: &str = "t = zk.transaction()\n\
    t.create('/app/m1', b'one')\n\
    t.create('/app/m2', b'two')\n\
    t.commit()\n\
    zk.set('/app', b'root2')\n\
    zk.create('/app/ephemeral', b'e', ephemeral=True)\n\
    zk.create('/app/c', b'', makepath=True)\n\
    zk.delete('/app/a')\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follower_joins_real_ensemble_snap_diff_trunc() {
    if !available() {
        println!("skipped: java, the ZooKeeper jars or python3-kazoo missing");
        return;
    }
    let _serial = SERIAL.lock().await;
    let mut ens = Ensemble::new("follower", false);
    ens.start_real(1);
    ens.start_real(2);
    let ens = Arc::new(ens);
    let e = Arc::clone(&ens);
    let leader = blocking(move || e.wait_leader()).await;
    let other = 3 - leader;
    let e = Arc::clone(&ens);
    blocking(move || e.kazoo(other, WRITES_BEFORE)).await;

    // (a) fresh join; writes through both real nodes afterwards are replicated
    let our_dir = ens.dir(3);
    let mut node = start_ours(&ens, &our_dir).await;
    let st = node
        .wait("UPTODATE", |s| s.phase == LearnerPhase::Broadcast)
        .await;
    println!("fresh join synced with {:?}", st.sync_mode);
    let e = Arc::clone(&ens);
    blocking(move || {
        e.kazoo(leader, WRITES_AFTER);
        e.kazoo(
            other,
            "for i in range(30): zk.create('/app/n%d' % i, str(i).encode())",
        );
    })
    .await;
    // (c) the leader counts us as a synced follower
    let e = Arc::clone(&ens);
    let synced = blocking(move || e.field(leader, "mntr", "zk_synced_followers"))
        .await
        .unwrap();
    assert!(
        synced.parse::<i64>().unwrap() >= 2,
        "zk_synced_followers {synced}"
    );
    drop(stop_and_compare(&ens, node, leader, other).await);

    // (b) restart on the same dataDir while writes continue: DIFF catch-up
    let e = Arc::clone(&ens);
    blocking(move || {
        e.kazoo(
            other,
            "for i in range(10): zk.create('/app/while-down-%d' % i)",
        )
    })
    .await;
    let e = Arc::clone(&ens);
    let writer = tokio::task::spawn_blocking(move || {
        e.kazoo(
            leader,
            "import time\nfor i in range(40):\n    zk.create('/app/during-%d' % i, b'd')\n    time.sleep(0.05)",
        )
    });
    let mut node = start_ours(&ens, &our_dir).await;
    let st = node
        .wait("UPTODATE", |s| s.phase == LearnerPhase::Broadcast)
        .await;
    assert_eq!(st.sync_mode, Some(SyncMode::Diff));
    writer.await.unwrap();
    let db = stop_and_compare(&ens, node, leader, leader).await;
    let last = db.last_processed_zxid();
    drop(db);

    // TRUNC: our log gets a txn the quorum never saw; the leader has nothing newer
    let e = Arc::clone(&ens);
    let leader_zxid = blocking(move || e.zxid(leader)).await;
    assert_eq!(last, leader_zxid);
    append_bogus_txn(&our_dir, last);
    let mut node = start_ours(&ens, &our_dir).await;
    let st = node
        .wait("UPTODATE", |s| s.phase == LearnerPhase::Broadcast)
        .await;
    assert_eq!(st.sync_mode, Some(SyncMode::Trunc));
    let e = Arc::clone(&ens);
    blocking(move || e.kazoo(other, "zk.create('/after-trunc', b'ok')")).await;
    let db = stop_and_compare(&ens, node, leader, other).await;
    assert!(db.tree().node("/bogus").is_none());
    assert!(db.tree().node("/after-trunc").is_some());
}

/// A create of /bogus at `last + 1`, appended to the log directly.
fn append_bogus_txn(data_dir: &Path, last: i64) {
    let log_dir = data_dir.join("version-2");
    let entry = TxnEntry {
        header: TxnHeader {
            client_id: 0x1234,
            cxid: 1,
            zxid: last + 1,
            time: 0,
            op: OpCode::CREATE,
        },
        body: TxnBody::Create(CreateTxn {
            path: "/bogus".into(),
            data: Some(bytes::Bytes::from_static(b"never committed")),
            acl: Acl::open_unsafe(),
            ephemeral: false,
            parent_cversion: 1_000,
        }),
        digest: None,
    };
    let mut log = TxnLog::open(&log_dir, TxnLogOptions::default()).unwrap();
    log.append(last + 1, &entry.to_vec()).unwrap();
    log.close().unwrap();
    assert_eq!(txnlog::last_logged_zxid(&log_dir).unwrap(), last + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observer_joins_real_ensemble_and_applies_informs() {
    if !available() {
        println!("skipped: java, the ZooKeeper jars or python3-kazoo missing");
        return;
    }
    let _serial = SERIAL.lock().await;
    let mut ens = Ensemble::new("observer", true);
    ens.start_real(1);
    ens.start_real(2);
    let ens = Arc::new(ens);
    let e = Arc::clone(&ens);
    let leader = blocking(move || e.wait_leader()).await;
    let other = 3 - leader;
    let e = Arc::clone(&ens);
    blocking(move || e.kazoo(leader, WRITES_BEFORE)).await;
    let our_dir = ens.dir(3);
    let mut node = start_ours(&ens, &our_dir).await;
    node.wait("UPTODATE", |s| s.phase == LearnerPhase::Broadcast)
        .await;
    let e = Arc::clone(&ens);
    blocking(move || e.kazoo(other, WRITES_AFTER)).await;
    let e = Arc::clone(&ens);
    let observers = blocking(move || e.field(leader, "mntr", "zk_synced_observers"))
        .await
        .unwrap();
    assert_eq!(observers, "1");
    let db = stop_and_compare(&ens, node, leader, leader).await;
    // written after UPTODATE: reached us only as INFORMs
    assert!(db.tree().node("/app/m2").is_some());
    assert!(db.tree().node("/app/a").is_none());
}
