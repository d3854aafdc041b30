//! Our node as a learner in a real Apache ZooKeeper 3.8.0 ensemble, served exactly as the
//! binary serves it (skipped without java / the jars / python3-kazoo): two reference nodes
//! (sids 1, 2) elect first, then our node joins as sid 3 and follows (or observes) their
//! leader. Writes go through the real nodes with kazoo; after every sync our tree, read
//! through our client port, equals the leader's and our `srvr` Zxid equals the leader's.
//!
//! Which sync the leader chose is told from outside as an operator would: the leader's
//! `mntr` counts SNAP syncs in `zk_snap_count` and DIFF and TRUNC syncs in `zk_diff_count`
//! (`LearnerHandler#run`), and a learner takes a snapshot after SNAP and TRUNC but not after
//! DIFF (`Learner#syncWithLeader`), so a new `snapshot.<zxid>` file in our dataDir tells
//! TRUNC from DIFF.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::realzk::{available, Mixed};
use ferrokeeper::jute::codes::OpCode;
use ferrokeeper::jute::data::Acl;
use ferrokeeper::jute::txn::{CreateTxn, TxnBody, TxnEntry, TxnHeader};
use ferrokeeper::persist::txnlog::{self, TxnLog, TxnLogOptions};

const TICK_MS: u64 = 500;
const OURS: usize = 3;

/// One ensemble at a time: four JVMs would not fit the test machine.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

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

/// Start the real pair and wait until one of them leads (before our node exists, so that a
/// real node leads: with equal zxids the larger sid, ours, would win); returns its sid.
async fn real_leader(ens: &mut Mixed) -> usize {
    ens.start_real(1);
    ens.start_real(2);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        for sid in [1, 2] {
            if ens.mode(sid).await.as_deref() == Some("leader") {
                return sid;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no leader among the real nodes; see {}",
            ens.root.display()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The leader's sync counters: (SNAP syncs, DIFF + TRUNC syncs) it has served.
async fn sync_counts(ens: &Mixed, leader: usize) -> (i64, i64) {
    (
        ens.mntr(leader, "snap_count").await,
        ens.mntr(leader, "diff_count").await,
    )
}

/// Our tree, read through our client port, equals the leader's, our `srvr` Zxid reaches
/// the leader's (the dumps' own sessions are txns too, so it is read after both), and every
/// txn we applied left our tree with the digest the real leader computed for it.
async fn assert_same_as_leader(ens: &Mixed, leader: usize) {
    let theirs = ens.dump(leader).await;
    let ours = ens.dump(OURS).await;
    for (path, want) in &theirs {
        assert_eq!(ours.get(path), Some(want), "znode {path}");
    }
    assert_eq!(ours.len(), theirs.len(), "node counts differ");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let want = ens.zxid(leader).await;
        let got = ens.zxid(OURS).await;
        if got == want {
            assert_eq!(ens.mntr(OURS, "digest_mismatches_count").await, 0);
            return;
        }
        assert!(
            Instant::now() < deadline,
            "our zxid 0x{got:x}, the leader's 0x{want:x}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn exists(ens: &Mixed, sid: usize, path: &str) -> bool {
    let out = ens
        .kazoo(
            sid,
            &format!("zk.sync('/')\nprint(zk.exists('{path}') is not None)"),
        )
        .await;
    out.trim() == "True"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follower_joins_real_ensemble_snap_diff_trunc() {
    if !available() {
        println!("skipped: java, the ZooKeeper jars or python3-kazoo missing");
        return;
    }
    let _serial = SERIAL.lock().await;
    let mut ens = Mixed::new("learner-follower", 3, &[], TICK_MS);
    let leader = real_leader(&mut ens).await;
    let other = 3 - leader;
    ens.kazoo(other, WRITES_BEFORE).await;

    // SNAP: an empty node joins; writes through both real nodes afterwards are replicated
    let (snaps, diffs) = sync_counts(&ens, leader).await;
    ens.start_ours(OURS).await;
    ens.wait_mode(OURS, "follower", 60).await;
    assert_eq!(sync_counts(&ens, leader).await, (snaps + 1, diffs));
    // snapshot.0 of the empty dataDir, then the one taken after SNAP
    let after_snap = ens.snapshots(OURS);
    assert_eq!(after_snap.len(), 2, "{after_snap:x?}");
    assert!(after_snap.contains(&0), "{after_snap:x?}");
    ens.kazoo(leader, WRITES_AFTER).await;
    ens.kazoo(
        other,
        "for i in range(30): zk.create('/app/n%d' % i, str(i).encode())",
    )
    .await;
    // the leader counts us as a synced follower
    let synced = ens.mntr(leader, "synced_followers").await;
    assert!(synced >= 2, "zk_synced_followers {synced}");
    assert_same_as_leader(&ens, leader).await;

    // DIFF: stopped a while, then back on the same dataDir while writes continue
    ens.stop_ours(OURS).await;
    ens.kazoo(
        other,
        "for i in range(10): zk.create('/app/while-down-%d' % i)",
    )
    .await;
    let before = ens.snapshots(OURS);
    let (snaps, diffs) = sync_counts(&ens, leader).await;
    let writer = ens.kazoo_background(
        leader,
        "import time\nfor i in range(40):\n    zk.create('/app/during-%d' % i, b'd')\n    time.sleep(0.05)",
    );
    ens.start_ours(OURS).await;
    ens.wait_mode(OURS, "follower", 60).await;
    assert_eq!(sync_counts(&ens, leader).await, (snaps, diffs + 1));
    // no snapshot after DIFF
    assert_eq!(ens.snapshots(OURS), before);
    writer.finish().await;
    assert_same_as_leader(&ens, leader).await;
    assert!(exists(&ens, OURS, "/app/while-down-9").await);
    assert!(exists(&ens, OURS, "/app/during-39").await);

    // TRUNC: while we are down our log gets a txn the quorum never saw, and the leader has
    // nothing newer
    ens.stop_ours(OURS).await;
    let last = ens.zxid(leader).await;
    let log_dir = ens.dir(OURS).join("version-2");
    assert_eq!(txnlog::last_logged_zxid(&log_dir).unwrap(), last);
    append_bogus_txn(&log_dir, last);
    let before = ens.snapshots(OURS);
    let (snaps, diffs) = sync_counts(&ens, leader).await;
    ens.start_ours(OURS).await;
    ens.wait_mode(OURS, "follower", 60).await;
    assert_eq!(sync_counts(&ens, leader).await, (snaps, diffs + 1));
    // the snapshot taken after TRUNC, at the leader's last zxid
    let mut want = before.clone();
    want.insert(last);
    assert_eq!(ens.snapshots(OURS), want);
    ens.kazoo(other, "zk.create('/after-trunc', b'ok')").await;
    assert_same_as_leader(&ens, leader).await;
    assert!(!exists(&ens, OURS, "/bogus").await);
    assert!(exists(&ens, OURS, "/after-trunc").await);
    ens.stop_ours(OURS).await;
}

/// A create of /bogus at `last + 1`, appended to the log directly.
fn append_bogus_txn(log_dir: &std::path::Path, last: i64) {
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
    let mut log = TxnLog::open(log_dir, TxnLogOptions::default()).unwrap();
    log.append(last + 1, &entry.to_vec()).unwrap();
    log.close().unwrap();
    assert_eq!(txnlog::last_logged_zxid(log_dir).unwrap(), last + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observer_joins_real_ensemble_and_applies_informs() {
    if !available() {
        println!("skipped: java, the ZooKeeper jars or python3-kazoo missing");
        return;
    }
    let _serial = SERIAL.lock().await;
    let mut ens = Mixed::new("learner-observer", 3, &[OURS], TICK_MS);
    let leader = real_leader(&mut ens).await;
    let other = 3 - leader;
    ens.kazoo(leader, WRITES_BEFORE).await;
    ens.start_ours(OURS).await;
    ens.wait_mode(OURS, "observer", 60).await;
    ens.kazoo(other, WRITES_AFTER).await;
    assert_eq!(ens.mntr(leader, "synced_observers").await, 1);
    assert_same_as_leader(&ens, leader).await;
    // written after UPTODATE: reached us only as INFORMs
    assert!(exists(&ens, OURS, "/app/m2").await);
    assert!(!exists(&ens, OURS, "/app/a").await);
    ens.stop_ours(OURS).await;
}
