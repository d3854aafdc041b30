//! The core's side of a live snapshot: bounded slices, backpressure from a full channel, and
//! giving up when the snapshot thread stops. `measure_*` (ignored) are the 1M-znode numbers:
//! `cargo test --release --lib measure_ -- --ignored --nocapture --test-threads=1`.

use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::mpsc;

use super::*;
use crate::jute::codes::OpCode;
use crate::jute::data::Acl;
use crate::jute::txn::{CreateTxn, TxnBody, TxnEntry, TxnHeader};
use crate::persist::snapshot::write_snapshot;

/// `dirs` directories of `per_dir` nodes with `len` bytes of data each.
pub(crate) fn tree_of(dirs: usize, per_dir: usize, len: usize) -> DataTree {
    let mut tree = DataTree::new(true);
    let mut zxid = 0;
    let data = Bytes::from(vec![b'x'; len]);
    let mut create = |tree: &mut DataTree, path: String| {
        zxid += 1;
        let parent = path.rsplit_once('/').map_or("/", |(p, _)| p).to_string();
        let cv = tree.node(&parent).map_or(0, |n| n.stat.cversion);
        tree.apply(&TxnEntry {
            header: TxnHeader {
                client_id: 0,
                cxid: 0,
                zxid,
                time: zxid,
                op: OpCode::CREATE,
            },
            body: TxnBody::Create(CreateTxn {
                path,
                data: Some(data.clone()),
                acl: Acl::open_unsafe(),
                ephemeral: false,
                parent_cversion: cv + 1,
            }),
            digest: None,
        });
    };
    for d in 0..dirs {
        create(&mut tree, format!("/d{d}"));
        for i in 0..per_dir {
            create(&mut tree, format!("/d{d}/n{i:07}"));
        }
    }
    tree
}

/// Every node record a still tree yields, in one piece.
fn all_records(tree: &DataTree) -> Vec<u8> {
    let (mut job, _) = SnapshotJob::start(tree);
    let mut out = Vec::new();
    let budget = StepBudget {
        max_units: usize::MAX,
        max_bytes: usize::MAX,
        deadline: None,
    };
    while !job.is_done() {
        job.step(tree, &mut out, budget).unwrap();
    }
    out
}

#[test]
fn a_full_channel_blocks_the_slices_and_nothing_piles_up() {
    let tree = tree_of(3, 1_500, 100);
    let (tx, mut rx) = mpsc::channel(1);
    let mut live = LiveSnapshot::new(SnapshotJob::start(&tree).0, tx);
    let mut nodes = Vec::new();
    let mut finished = false;
    let mut blocked = 0;
    loop {
        match live.slice(&tree) {
            SliceOutcome::Blocked => {
                blocked += 1;
                assert!(live.pending.len() <= 2, "at most a chunk and the tail wait");
                assert!(matches!(live.work(), SnapshotWork::Blocked(_)));
            }
            SliceOutcome::Sent => break,
            other => assert_eq!(other, SliceOutcome::More),
        }
        while let Ok(part) = rx.try_recv() {
            match part {
                SnapshotPart::Nodes(b) => nodes.extend_from_slice(&b),
                SnapshotPart::Finish(_) => finished = true,
            }
        }
    }
    if let Ok(SnapshotPart::Finish(_)) = rx.try_recv() {
        finished = true;
    }
    assert!(finished);
    assert!(blocked > 0, "a one-message channel must fill up");
    assert_eq!(nodes, all_records(&tree));
    assert!(live.slices > 1);
}

#[test]
fn slices_are_bounded_and_a_gone_thread_fails_the_snapshot() {
    let tree = tree_of(2, 3_000, 10);
    let (tx, mut rx) = mpsc::channel(1_000);
    let mut live = LiveSnapshot::new(SnapshotJob::start(&tree).0, tx);
    assert_eq!(live.slice(&tree), SliceOutcome::More);
    let mut first = 0;
    while let Ok(SnapshotPart::Nodes(b)) = rx.try_recv() {
        first += b.len();
    }
    // one slice writes at most SLICE_UNITS nodes of 10 bytes (+ ~90 bytes of record each)
    assert!(first <= SLICE_UNITS * 120, "{first} bytes in one slice");
    drop(rx);
    let mut outcome = SliceOutcome::More;
    for _ in 0..10 {
        outcome = live.slice(&tree);
        if outcome != SliceOutcome::More {
            break;
        }
    }
    assert_eq!(outcome, SliceOutcome::Failed);
}

fn rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn measure_layout() -> (usize, usize) {
    match std::env::var("FK_LAYOUT").as_deref() {
        Ok("nested") => (1_000, 1_000),
        _ => (1, 1_000_000),
    }
}

#[test]
#[ignore = "a measurement: run in release, one at a time"]
fn measure_live_snapshot_of_a_million_znodes() {
    let (dirs, per_dir) = measure_layout();
    let tree = tree_of(dirs, per_dir, 100);
    let dir = std::env::temp_dir().join(format!("fk-measure-live-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let base = rss_kb();
    let started = Instant::now();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let (job, acls) = SnapshotJob::start(&tree);
    let target = SnapshotTarget {
        snap_dir: dir.clone(),
        zxid: job.zxid(),
        compression: SnapshotCompression::None,
        fsync: true,
        last_processed_zxid: false,
    };
    let on_done: SnapshotDone = Box::new(move |r| done_tx.send(r.map(|_| ())).unwrap());
    let tx = spawn_snapshot_writer(target, Vec::new(), acls, CHANNEL_CHUNKS, on_done).unwrap();
    let mut live = LiveSnapshot::new(job, tx);
    let mut peak = base;
    let mut waited = Duration::ZERO;
    loop {
        let outcome = live.slice(&tree);
        peak = peak.max(rss_kb());
        match outcome {
            SliceOutcome::Sent => break,
            SliceOutcome::Blocked => {
                let t = Instant::now();
                std::thread::sleep(Duration::from_micros(200));
                waited += t.elapsed();
            }
            SliceOutcome::More => {}
            SliceOutcome::Failed => panic!("snapshot failed"),
        }
    }
    let traversal = started.elapsed();
    done_rx.recv().unwrap().unwrap();
    println!(
        "live {dirs}x{per_dir}: longest slice {:?}, {} slices, traversal {:?} \
         (waiting for the disk {:?}), file written after {:?}, RSS base {} MB, peak +{} MB",
        live.longest_slice,
        live.slices,
        traversal,
        waited,
        started.elapsed(),
        base / 1024,
        (peak - base) / 1024
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
#[ignore = "a measurement: run in release, one at a time"]
fn measure_clone_snapshot_of_a_million_znodes() {
    let (dirs, per_dir) = measure_layout();
    let tree = tree_of(dirs, per_dir, 100);
    let dir = std::env::temp_dir().join(format!("fk-measure-clone-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let base = rss_kb();
    let started = Instant::now();
    let copy = tree.clone();
    let stall = started.elapsed();
    let peak = rss_kb();
    write_snapshot(
        &dir,
        copy.last_processed_zxid(),
        &copy,
        &[],
        Default::default(),
        true,
    )
    .unwrap();
    println!(
        "clone {dirs}x{per_dir}: stall {stall:?}, file written after {:?}, RSS base {} MB, +{} MB",
        started.elapsed(),
        base / 1024,
        (peak.max(rss_kb()) - base) / 1024
    );
    let _ = std::fs::remove_dir_all(&dir);
}
