//! Our node leads real Apache ZooKeeper 3.8.0 learners, served exactly as the binary serves
//! it (skipped without java / the jars / python3-kazoo): we are server 3 with the newest data
//! (three txns of epoch 1), win the election, SNAP-sync two real followers, and then every
//! write — through our client port or forwarded by a follower (REQUEST) — commits and reads
//! back with the same zxid everywhere; a real observer syncs and applies INFORMs; with one
//! follower killed we keep committing, and with both gone we step down.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use common::realzk::{available, Mixed};
use ferrokeeper::jute::codes::{perms, OpCode};
use ferrokeeper::jute::data::{Acl, Id};
use ferrokeeper::jute::txn::{CreateTxn, TxnBody, TxnDigest, TxnEntry, TxnHeader};
use ferrokeeper::persist::epoch::{write_epoch, ACCEPTED_EPOCH_FILENAME, CURRENT_EPOCH_FILENAME};
use ferrokeeper::persist::snapshot::{write_snapshot, SnapshotCompression};
use ferrokeeper::persist::txnlog::{TxnLog, TxnLogOptions};
use ferrokeeper::tree::{DataTree, TreeOptions};

const TICK_MS: u64 = 500;
const OURS: usize = 3;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Just enough of prep to seed a dataDir: txns with the tree digest after them.
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
        let world = Acl {
            perms: perms::ALL,
            id: Id {
                scheme: "world".into(),
                id: "anyone".into(),
            },
        };
        self.create_with(session, cxid, path, data, vec![world])
    }

    fn create_with(
        &mut self,
        session: i64,
        cxid: i32,
        path: &str,
        data: &[u8],
        acl: Vec<Acl>,
    ) -> TxnEntry {
        let parent = path
            .rsplit_once('/')
            .map_or("/", |(p, _)| if p.is_empty() { "/" } else { p });
        let cversion = self.tree.stat(parent).map_or(0, |s| s.cversion);
        let body = TxnBody::Create(CreateTxn {
            path: path.to_owned(),
            data: Some(data.to_vec().into()),
            acl,
            ephemeral: false,
            parent_cversion: cversion + 1,
        });
        self.seal(session, cxid, OpCode::CREATE, body)
    }
}

/// Our dataDir: an empty snapshot, three creates at epoch 1 in the txn log, epochs 1.
fn seed_data(data_dir: &Path) {
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
}

/// Nodes under /big in [`seed_big`]'s snapshot.
const BIG: usize = 6_000;

/// Our dataDir: a snapshot of [`BIG`] nodes of 512 bytes under /big (tens of chunks, more
/// than one slice), every tenth with an ACL list of its own; epochs 1.
fn seed_big(data_dir: &Path) {
    let v2 = data_dir.join("version-2");
    std::fs::create_dir_all(&v2).unwrap();
    let mut prep = MiniPrep {
        tree: DataTree::with_options(TreeOptions::default()),
        next: 0x1_0000_0001,
    };
    prep.create(0, 0, "/big", b"");
    let data = vec![b'b'; 512];
    for i in 0..BIG {
        let path = format!("/big/n{i:05}");
        let mut acl = vec![Acl {
            perms: perms::ALL,
            id: Id {
                scheme: "world".into(),
                id: "anyone".into(),
            },
        }];
        if i % 10 == 0 {
            acl.push(Acl {
                perms: perms::ALL,
                id: Id {
                    scheme: "digest".into(),
                    id: format!("seed{i}:x"),
                },
            });
        }
        prep.create_with(0, 0, &path, &data, acl);
    }
    let zxid = prep.next - 1;
    write_snapshot(&v2, zxid, &prep.tree, &[], SnapshotCompression::None, false).unwrap();
    write_epoch(&v2, CURRENT_EPOCH_FILENAME, 1).unwrap();
    write_epoch(&v2, ACCEPTED_EPOCH_FILENAME, 1).unwrap();
}

/// A real learner that started empty has a snapshot past zxid 0 only if it synced by SNAP
/// (`Learner#syncWithLeader` snapshots after SNAP and TRUNC, not after DIFF).
fn snap_synced(dir: &Path) -> bool {
    std::fs::read_dir(dir.join("version-2"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .any(|n| n.starts_with("snapshot.") && n != "snapshot.0")
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
    let mut ens = Mixed::new("leader", 4, &[4], TICK_MS);
    seed_data(&ens.dir(OURS));
    // One real peer first: it cannot make a quorum without us, and our vote (epoch 1, zxid
    // 0x100000003) beats its empty one. Two real peers could elect each other while we load,
    // and we would then rightly be truncated to their history.
    ens.start_ours(OURS).await;
    ens.start_real(1);
    ens.wait_mode(OURS, "leader", 60).await;
    ens.start_real(2);

    // both real followers sync by SNAP (they are empty) and follow a new epoch
    for sid in [1, 2] {
        ens.wait_mode(sid, "follower", 60).await;
        assert!(snap_synced(&ens.dir(sid)), "server {sid} SNAP");
    }
    let v2 = ens.dir(OURS).join("version-2");
    for file in ["currentEpoch", "acceptedEpoch"] {
        assert_eq!(
            std::fs::read_to_string(v2.join(file)).unwrap(),
            "2",
            "{file}"
        );
    }
    for sid in [1, 2] {
        assert_eq!(
            ens.get(sid, "/pre/a").await,
            ("alpha".into(), 0x1_0000_0002)
        );
    }

    // a write through our client port commits in epoch 2 and reads back everywhere
    let out = ens
        .kazoo(OURS, "print(zk.create('/fk-local', b'v1'))")
        .await;
    assert_eq!(out.trim(), "/fk-local");
    let (_, z) = ens.get(OURS, "/fk-local").await;
    assert_eq!(z >> 32, 2, "zxid {z:#x}");
    for sid in [1, 2] {
        assert_eq!(ens.get(sid, "/fk-local").await, ("v1".into(), z));
    }

    // REQUEST: a client's create sent to follower 1 is forwarded to us and committed
    let out = ens
        .kazoo(1, "print(zk.create('/via-follower', b'through-1'))")
        .await;
    assert_eq!(out.trim(), "/via-follower");
    let (d, z_fwd) = ens.get(OURS, "/via-follower").await;
    assert_eq!(d, "through-1");
    assert!(z_fwd > z);
    assert_eq!(
        ens.get(2, "/via-follower").await,
        ("through-1".into(), z_fwd)
    );

    // a real observer syncs and sees commits (INFORM)
    ens.start_real(4);
    ens.wait_mode(4, "observer", 60).await;
    ens.kazoo(OURS, "zk.create('/fk-obs', b'o')").await;
    let (_, z_obs) = ens.get(OURS, "/fk-obs").await;
    assert_eq!(ens.get(4, "/fk-obs").await, ("o".into(), z_obs));
    // the real learners check every txn's digest, computed by our prep, against their trees
    for sid in [1, 2, 4] {
        assert_eq!(
            ens.mntr(sid, "digest_mismatches_count").await,
            0,
            "server {sid}"
        );
    }

    // one follower gone: still a quorum, still committing
    ens.kill_real(1);
    ens.kazoo(OURS, "zk.create('/fk-after-kill', b'k')").await;
    let (_, z2) = ens.get(OURS, "/fk-after-kill").await;
    assert_eq!(ens.get(2, "/fk-after-kill").await, ("k".into(), z2));
    assert_eq!(ens.mode(OURS).await.as_deref(), Some("leader"));

    // both gone: the leader steps down (syncLimit ticks without a synced quorum)
    ens.kill_real(2);
    ens.wait_not_serving(OURS, 20).await;
    ens.stop_ours(OURS).await;
}

/// A real follower SNAP-syncs from us while clients keep writing through us — creates, data
/// changes, deletes and setACLs with new lists (ids not in the payload's ACL map) on a tree
/// of several slices: once synced it holds exactly our tree, ACLs included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_follower_snap_syncs_while_writes_arrive() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    }
    if !available() {
        println!("skipped: java, /usr/share/java/zookeeper.jar or python3-kazoo missing");
        return;
    }
    let mut ens = Mixed::new("leader-snap", 3, &[], TICK_MS);
    seed_big(&ens.dir(OURS));
    ens.start_ours(OURS).await;
    ens.start_real(1);
    ens.wait_mode(OURS, "leader", 60).await;
    ens.wait_mode(1, "follower", 60).await;

    // writes until told to stop (at most 500 rounds or 30 s), ten rounds in flight at a
    // time; each round touches nodes no other round touches, so none is refused
    let flag = ens.root.join("stop-writing");
    let writer = ens.kazoo_background(
        OURS,
        &format!(
            "import os, time\n\
             from kazoo.security import ACL, Id\n\
             zk.ensure_path('/w')\n\
             i = 0\n\
             end = time.time() + 30\n\
             while i < 500 and time.time() < end and (i < 20 or not os.path.exists('{flag}')):\n\
             \x20   asked = []\n\
             \x20   for j in range(i, i + 10):\n\
             \x20       asked.append(zk.create_async('/w/n%d' % j, b'w%d' % j))\n\
             \x20       asked.append(zk.set_async('/big/n%05d' % j, b'changed%d' % j))\n\
             \x20       asked.append(zk.set_acls_async('/big/n%05d' % (1000 + j), [ACL(1, Id('world', 'anyone')), ACL(31, Id('digest', 'late%d:x' % j))]))\n\
             \x20       asked.append(zk.delete_async('/big/n%05d' % (2000 + j)))\n\
             \x20   for a in asked:\n\
             \x20       a.get(timeout=20)\n\
             \x20   i += 10\n\
             print(i)",
            flag = flag.display()
        ),
    );
    // the empty follower can only be synced by SNAP
    ens.start_real(2);
    ens.wait_mode(2, "follower", 60).await;
    std::fs::write(&flag, b"").unwrap();
    let rounds: usize = writer.finish().await.trim().parse().unwrap();
    assert!(rounds >= 20, "{rounds} rounds");
    assert!(snap_synced(&ens.dir(2)), "server 2 SNAP");

    let ours = tree_of(&ens, OURS).await;
    // "/", /zookeeper, /zookeeper/quota, /big, /w, and what the writer created and deleted
    assert_eq!(ours.len(), BIG + 5, "nodes on the leader");
    let late = ours["/big/n01000"].to_string();
    assert!(late.contains("late0:x"), "{late}");
    for sid in [1, 2] {
        let theirs = tree_of(&ens, sid).await;
        let differ = ours
            .iter()
            .find(|(p, v)| theirs.get(*p) != Some(v))
            .map(|(p, v)| (p.clone(), v.clone(), theirs.get(p).cloned()));
        assert_eq!(differ, None, "server {sid}: first node that differs");
        assert_eq!(theirs.len(), ours.len(), "server {sid}: node count");
    }
    ens.kill_real(2);
    ens.kill_real(1);
    ens.stop_ours(OURS).await;
}

/// Every znode but /zookeeper/config through `sid` after a sync: path → [data, Stat, ACLs],
/// read level by level with pipelined requests (thousands of nodes in a few seconds), and
/// handed over in a file (more than a pipe holds).
async fn tree_of(ens: &Mixed, sid: usize) -> serde_json::Map<String, serde_json::Value> {
    let file = ens.root.join(format!("tree-of-{sid}.json"));
    ens.kazoo(
        sid,
        &format!(
            "zk.sync('/')\n\
             out = {{}}\n\
             level = ['/']\n\
             while level:\n\
             \x20   asked = [(p, zk.get_async(p), zk.get_acls_async(p)) for p in level]\n\
             \x20   level = []\n\
             \x20   for p, g, a in asked:\n\
             \x20       data, st = g.get(timeout=30)\n\
             \x20       acls, _ = a.get(timeout=30)\n\
             \x20       if p != '/zookeeper/config':\n\
             \x20           out[p] = [binascii.hexlify(data or b'').decode(), list(st), [str(x) for x in acls]]\n\
             \x20       if st.numChildren > 0:\n\
             \x20           level += [(p if p != '/' else '') + '/' + c for c in zk.get_children(p)]\n\
             open('{}', 'w').write(json.dumps(out))",
            file.display()
        ),
    )
    .await;
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    v.as_object().unwrap().clone()
}
