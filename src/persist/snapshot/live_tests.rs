//! Live (fuzzy) snapshots: on a still tree the file is byte for byte what the stop-the-world
//! writer produces; with txns applied between the slices, load + replay of the txns after the
//! snapshot's zxid is exactly the live tree.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::*;
use crate::jute::codes::OpCode;
use crate::jute::data::Acl;
use crate::jute::txn::*;

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fk-live-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

/// A tree with the txns applied to it since it was built, as the log would hold them.
struct Live {
    tree: DataTree,
    zxid: i64,
    log: Vec<TxnEntry>,
}

fn acl(scheme: &str, id: &str, perms: i32) -> Vec<Acl> {
    vec![Acl::new(perms, scheme, id)]
}

impl Live {
    fn new() -> Live {
        Live {
            tree: DataTree::new(true),
            zxid: 0,
            log: Vec::new(),
        }
    }

    fn apply(&mut self, op: OpCode, client_id: i64, body: TxnBody) {
        self.zxid += 1;
        let e = TxnEntry {
            header: TxnHeader {
                client_id,
                cxid: 0,
                zxid: self.zxid,
                time: 1_000 + self.zxid,
                op,
            },
            body,
            digest: None,
        };
        self.tree.apply(&e);
        self.log.push(e);
    }

    fn create_body(&self, path: &str, data: &str, acl: Vec<Acl>, eph: bool) -> TxnBody {
        let parent = path.rsplit_once('/').map_or("/", |(p, _)| p);
        let cv = self.tree.node(parent).map_or(0, |n| n.stat.cversion);
        TxnBody::Create(CreateTxn {
            path: path.into(),
            data: Some(Bytes::copy_from_slice(data.as_bytes())),
            acl,
            ephemeral: eph,
            parent_cversion: cv + 1,
        })
    }

    fn create(&mut self, path: &str, data: &str, acl: Vec<Acl>, session: i64) {
        let body = self.create_body(path, data, acl, session != 0);
        self.apply(OpCode::CREATE, session, body);
    }

    fn delete(&mut self, path: &str) {
        let body = TxnBody::Delete(DeleteTxn { path: path.into() });
        self.apply(OpCode::DELETE, 0, body);
    }

    fn set_data(&mut self, path: &str, data: &str) {
        let version = self.tree.node(path).map_or(0, |n| n.stat.version + 1);
        let body = TxnBody::SetData(SetDataTxn {
            path: path.into(),
            data: Some(Bytes::copy_from_slice(data.as_bytes())),
            version,
        });
        self.apply(OpCode::SET_DATA, 0, body);
    }

    fn set_acl(&mut self, path: &str, acl: Vec<Acl>) {
        let version = self.tree.node(path).map_or(0, |n| n.stat.aversion + 1);
        let body = TxnBody::SetAcl(SetAclTxn {
            path: path.into(),
            acl,
            version,
        });
        self.apply(OpCode::SET_ACL, 0, body);
    }

    fn close_session(&mut self, session: i64) {
        let paths = self.tree.ephemerals(session);
        let body = TxnBody::CloseSession(Some(CloseSessionTxn {
            paths2_delete: paths,
        }));
        self.apply(OpCode::CLOSE_SESSION, session, body);
    }

    /// A multi that creates a node and sets its data.
    fn multi(&mut self, path: &str) {
        let create = self.create_body(path, "m", Acl::open_unsafe(), false);
        let set = TxnBody::SetData(SetDataTxn {
            path: path.into(),
            data: Some(Bytes::from_static(b"mm")),
            version: 1,
        });
        let body = TxnBody::Multi(vec![(OpCode::CREATE, create), (OpCode::SET_DATA, set)]);
        self.apply(OpCode::MULTI, 0, body);
    }

    /// Paths outside /zookeeper, sorted (the map's order is not deterministic).
    fn user_paths(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .tree
            .iter_nodes()
            .map(|(p, _)| p.to_string())
            .filter(|p| p != "/" && !p.starts_with("/zookeeper"))
            .collect();
        v.sort();
        v
    }
}

/// A small deterministic generator (tests only need repeatable variety).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) as usize) % n.max(1)
    }
}

fn populate(live: &mut Live) {
    live.create("/a", "a", Acl::open_unsafe(), 0);
    live.create("/b", "b", acl("world", "anyone", 0x1f), 0);
    for i in 0..12 {
        live.create(&format!("/a/n{i}"), "x", Acl::open_unsafe(), 0);
        live.create(&format!("/b/d{i}"), "y", acl("digest", "u:1", 0x1f), 0);
        for j in 0..3 {
            live.create(&format!("/b/d{i}/c{j}"), "z", Acl::read_unsafe(), 0);
        }
    }
    live.create("/a/e1", "", Acl::open_unsafe(), 0x51);
    live.create("/b/e2", "", Acl::open_unsafe(), 0x52);
}

/// The ACL map a job starts with.
type AclMap = Vec<(i64, std::sync::Arc<Vec<Acl>>)>;

/// Runs the parts through the snapshot thread; returns the file or the error it reported.
fn file_parts(
    dir: &Path,
    zxid: i64,
    compression: SnapshotCompression,
    acls: AclMap,
    parts: Vec<SnapshotPart>,
) -> Result<PathBuf, SnapshotError> {
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let target = SnapshotTarget {
        snap_dir: dir.to_path_buf(),
        zxid,
        compression,
        fsync: false,
        last_processed_zxid: false,
    };
    let on_done: SnapshotDone = Box::new(move |r| done_tx.send(r).unwrap());
    let tx = spawn_snapshot_writer(
        target,
        vec![(0x51, 30_000), (0x52, 4_000)],
        acls,
        2,
        on_done,
    )?;
    for p in parts {
        if tx.blocking_send(p).is_err() {
            break;
        }
    }
    drop(tx);
    done_rx.recv().unwrap()
}

/// Steps `job` to the end with `units` per step (calling `between` after each step).
fn run_job(
    job: &mut SnapshotJob,
    live: &mut Live,
    mut units: impl FnMut() -> usize,
    mut between: impl FnMut(&mut Live),
) -> Vec<SnapshotPart> {
    let mut parts = Vec::new();
    while !job.is_done() {
        let mut buf = Vec::new();
        let budget = StepBudget {
            max_units: units(),
            max_bytes: usize::MAX,
            deadline: None,
        };
        job.step(&live.tree, &mut buf, budget).unwrap();
        parts.push(SnapshotPart::Nodes(buf));
        between(live);
    }
    parts
}

#[test]
fn still_tree_gives_the_same_bytes_as_the_stop_the_world_writer() {
    let mut live = Live::new();
    populate(&mut live);
    let dir = temp_dir("still");
    let sessions = [(0x51, 30_000), (0x52, 4_000)];
    let reference = write_snapshot(
        &dir,
        live.zxid,
        &live.tree,
        &sessions,
        Default::default(),
        false,
    )
    .unwrap();
    let reference = fs::read(reference).unwrap();
    for units in [1, 2, 7, 2_000] {
        let (mut job, acls) = SnapshotJob::start(&live.tree);
        let mut parts = run_job(&mut job, &mut live, || units, |_| {});
        parts.push(SnapshotPart::Finish(job.finish(&live.tree)));
        let sub = dir.join(format!("u{units}"));
        fs::create_dir_all(&sub).unwrap();
        let path = file_parts(&sub, live.zxid, SnapshotCompression::None, acls, parts).unwrap();
        assert_eq!(
            fs::read(&path).unwrap(),
            reference,
            "{units} units per step"
        );
        // only the snapshot is left behind
        assert_eq!(fs::read_dir(&sub).unwrap().count(), 1);
    }
    for compression in [SnapshotCompression::Gzip, SnapshotCompression::Snappy] {
        let (mut job, acls) = SnapshotJob::start(&live.tree);
        let mut parts = run_job(&mut job, &mut live, || 5, |_| {});
        parts.push(SnapshotPart::Finish(job.finish(&live.tree)));
        let path = file_parts(&dir, live.zxid, compression, acls, parts).unwrap();
        let data = read_snapshot(&path, TreeOptions::default()).unwrap();
        assert_same_tree(&live.tree, &data.tree);
        assert_eq!(data.sessions, sessions.to_vec());
    }
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_sender_gone_before_the_tail_leaves_no_file() {
    let mut live = Live::new();
    populate(&mut live);
    let dir = temp_dir("abandoned");
    // what a crash in the middle of an earlier snapshot left
    fs::write(dir.join(".snapshot.3.nodes.tmp"), b"junk").unwrap();
    fs::write(dir.join(".snapshot.3.tmp"), b"junk").unwrap();
    let (mut job, acls) = SnapshotJob::start(&live.tree);
    let parts = run_job(&mut job, &mut live, || 3, |_| {});
    let r = file_parts(&dir, live.zxid, SnapshotCompression::None, acls, parts);
    assert!(matches!(r, Err(SnapshotError::Abandoned(_))), "{r:?}");
    assert_eq!(
        fs::read_dir(&dir).unwrap().count(),
        0,
        "temporary files removed"
    );
    let _ = fs::remove_dir_all(&dir);
}

/// One random change to the live tree, of the kinds a fuzzy snapshot must survive.
fn random_change(live: &mut Live, rng: &mut Rng, fresh_acl: &mut u32) {
    let paths = live.user_paths();
    let pick = |rng: &mut Rng| paths[rng.below(paths.len())].clone();
    let n = live.zxid;
    match rng.below(9) {
        0 | 1 => {
            let parent = pick(rng);
            let is_eph = live
                .tree
                .node(&parent)
                .is_some_and(|p| p.stat.ephemeral_owner != 0);
            if !is_eph {
                let session = [0, 0, 0x51, 0x52][rng.below(4)];
                live.create(
                    &format!("{parent}/k{n}"),
                    "new",
                    Acl::open_unsafe(),
                    session,
                );
            }
        }
        2 => {
            let p = pick(rng);
            if live.tree.node(&p).is_some_and(|n| n.num_children() == 0) {
                live.delete(&p);
            }
        }
        3 => live.set_data(&pick(rng), &format!("d{n}")),
        4 => {
            *fresh_acl += 1;
            let list = acl("digest", &format!("fresh:{fresh_acl}"), 0x1f);
            live.set_acl(&pick(rng), list);
        }
        5 => live.set_acl(&pick(rng), Acl::read_unsafe()),
        6 => {
            // a leaf replaced by a new incarnation that gets a child of its own
            let p = pick(rng);
            let leaf = live
                .tree
                .node(&p)
                .is_some_and(|n| n.num_children() == 0 && n.stat.ephemeral_owner == 0);
            if leaf {
                live.delete(&p);
                live.create(&p, "again", Acl::open_unsafe(), 0);
                live.create(&format!("{p}/kid"), "", Acl::open_unsafe(), 0);
            }
        }
        7 => live.multi(&format!("/a/m{n}")),
        _ => {
            if rng.below(4) == 0 {
                live.close_session([0x51, 0x52][rng.below(2)]);
            } else {
                live.create(&format!("/b/k{n}"), "w", Acl::open_unsafe(), 0);
            }
        }
    }
}

#[test]
fn fuzzy_snapshot_plus_replay_is_the_live_tree() {
    let dir = temp_dir("fuzzy");
    for seed in 0..40u64 {
        let mut live = Live::new();
        populate(&mut live);
        let mut rng = Rng(seed);
        let mut fresh_acl = 0;
        let (mut job, acls) = SnapshotJob::start(&live.tree);
        let start = job.zxid();
        let mut step_rng = Rng(seed ^ 0x5eed);
        let mut parts = run_job(
            &mut job,
            &mut live,
            || 1 + step_rng.below(3),
            |live| {
                for _ in 0..1 + rng.below(3) {
                    random_change(live, &mut rng, &mut fresh_acl);
                }
            },
        );
        let tail = job.finish(&live.tree);
        assert_eq!(
            tail.digest,
            Some((live.tree.last_processed_zxid(), live.tree.digest()))
        );
        parts.push(SnapshotPart::Finish(tail));
        let path = file_parts(&dir, start, SnapshotCompression::None, acls, parts).unwrap();
        let loaded = read_snapshot(&path, TreeOptions::default()).unwrap();
        check_replay(&live, loaded, start, seed);
        fs::remove_file(&path).unwrap();
    }
    let _ = fs::remove_dir_all(&dir);
}

/// Every node read back has an ACL the map holds and existed at the start.
fn assert_written_at_start(tree: &DataTree, start: i64, seed: u64) {
    for (path, node) in tree.iter_nodes() {
        assert!(
            tree.acl_cache().get(node.acl_id()).is_some(),
            "seed {seed}: {path} has ACL id {} missing from the map",
            node.acl_id()
        );
        assert!(
            node.stat.czxid <= start,
            "seed {seed}: {path} created later"
        );
    }
}

fn check_replay(live: &Live, loaded: SnapshotData, start: i64, seed: u64) {
    let mut tree = loaded.tree;
    assert_written_at_start(&tree, start, seed);
    let (dz, stored) = loaded
        .digest
        .expect("txns were applied during the traversal");
    let mut checked = false;
    for e in live.log.iter().filter(|e| e.header.zxid > start) {
        tree.apply(e);
        if e.header.zxid == dz {
            assert_eq!(tree.digest(), stored, "seed {seed}: digest at 0x{dz:x}");
            checked = true;
        }
    }
    assert!(checked, "seed {seed}: the trailer names a replayed zxid");
    assert_same_tree(&live.tree, &tree);
}

/// Node by node: data, stat, ACL list and children; then digest, sizes and indexes.
fn assert_same_tree(live: &DataTree, got: &DataTree) {
    let nodes = |t: &DataTree| -> BTreeMap<String, String> {
        t.iter_nodes()
            .map(|(p, n)| {
                let kids = t.children_of(n);
                let v = format!("{:?} {:?} {:?} {kids:?}", n.data, n.stat, n.acl);
                (p.to_string(), v)
            })
            .collect()
    };
    let (want, have) = (nodes(live), nodes(got));
    for (p, v) in &want {
        assert_eq!(have.get(p), Some(v), "node {p}");
    }
    assert_eq!(want.len(), have.len(), "extra nodes: {have:?}");
    assert_eq!(live.digest(), got.digest());
    assert_eq!(
        live.sessions_with_ephemerals(),
        got.sessions_with_ephemerals()
    );
    assert_eq!(live.containers(), got.containers());
    assert_eq!(live.full_data_size(), got.full_data_size());
}

/// A SNAP payload streamed over a changing tree, as a learner reads it: `start` is its zxid.
fn stream_snap(
    live: &mut Live,
    units: impl FnMut() -> usize,
    between: impl FnMut(&mut Live),
) -> (Vec<u8>, i64, u64) {
    use crate::quorum::zab::stream::SnapPayloadJob;
    let mut out = Vec::new();
    let sessions = [(0x51, 30_000), (0x52, 4_000)];
    let mut job = SnapPayloadJob::start(&live.tree, &sessions, &mut out).unwrap();
    let start = job.zxid();
    let (mut units, mut between) = (units, between);
    while !job.is_done() {
        let budget = StepBudget {
            max_units: units(),
            max_bytes: usize::MAX,
            deadline: None,
        };
        job.step(&live.tree, &mut out, budget).unwrap();
        between(live);
    }
    let (_, replaced) = job.finish(&mut out);
    (out, start, replaced)
}

/// What a learner does with a SNAP: parse it (every node's ACL id must resolve, or a 3.8
/// learner fails "Failed to fetch acls"), then replay the txns after its zxid.
fn learner_replay(live: &Live, payload: &[u8], start: i64, seed: u64) -> DataTree {
    use crate::quorum::zab::stream::read_snap_payload;
    let mut input = payload;
    let snap = read_snap_payload(&mut input, start, TreeOptions::default()).unwrap();
    assert!(input.is_empty(), "seed {seed}: the whole payload is read");
    assert_eq!(snap.sessions, vec![(0x51, 30_000), (0x52, 4_000)]);
    let mut tree = snap.tree;
    assert_eq!(tree.last_processed_zxid(), start);
    assert_written_at_start(&tree, start, seed);
    for e in live.log.iter().filter(|e| e.header.zxid > start) {
        tree.apply(e);
    }
    tree
}

/// Changes ACLs once, after the first step: /b/d3 gets `fresh`, a list no node had at the
/// start (a new id, not in the map written first); /b/d4 one already in the map (its id kept).
fn set_acls_once(fresh: &[Acl]) -> impl FnMut(&mut Live) {
    let fresh = fresh.to_vec();
    let mut changed = false;
    move |live| {
        if !changed {
            changed = true;
            live.set_acl("/b/d3", fresh.clone());
            live.set_acl("/b/d4", Acl::read_unsafe());
        }
    }
}

#[test]
fn set_acl_after_a_snap_starts_is_written_with_an_id_the_map_holds() {
    let mut live = Live::new();
    populate(&mut live);
    let fresh = acl("digest", "late:1", 0x1f);
    let (payload, start, replaced) = stream_snap(&mut live, || 1, set_acls_once(&fresh));
    assert_eq!(replaced, 1, "only /b/d3's id is newer than the map");
    let mut input = &payload[..];
    let snap =
        crate::quorum::zab::stream::read_snap_payload(&mut input, start, TreeOptions::default())
            .unwrap();
    let d3 = snap.tree.node("/b/d3").unwrap();
    assert_eq!(d3.acl_id(), crate::tree::OPEN_UNSAFE_ACL_ID);
    let d4 = snap.tree.node("/b/d4").unwrap();
    assert_eq!(*d4.acl, Acl::read_unsafe());
    let tree = learner_replay(&live, &payload, start, 0);
    assert_eq!(*tree.node("/b/d3").unwrap().acl, fresh);
    assert_same_tree(&live.tree, &tree);
}

#[test]
fn set_acl_after_a_file_snapshot_starts_is_restored_by_replay() {
    let mut live = Live::new();
    populate(&mut live);
    let dir = temp_dir("late-acl");
    let fresh = acl("digest", "late:2", 0x1f);
    let (mut job, acls) = SnapshotJob::start(&live.tree);
    let start = job.zxid();
    let mut parts = run_job(&mut job, &mut live, || 1, set_acls_once(&fresh));
    assert_eq!(
        job.acl_ids_replaced(),
        1,
        "only /b/d3's id is newer than the map"
    );
    parts.push(SnapshotPart::Finish(job.finish(&live.tree)));
    let path = file_parts(&dir, start, SnapshotCompression::None, acls, parts).unwrap();
    let loaded = read_snapshot(&path, TreeOptions::default()).unwrap();
    // the file alone: -1, which every 3.8 reader accepts; the old list would be as wrong
    let d3 = loaded.tree.node("/b/d3").unwrap();
    assert_eq!(d3.acl_id(), crate::tree::OPEN_UNSAFE_ACL_ID);
    assert_eq!(*loaded.tree.node("/b/d4").unwrap().acl, Acl::read_unsafe());
    check_replay(&live, loaded, start, 0);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn streamed_snap_plus_replay_is_the_live_tree() {
    for seed in 0..40u64 {
        let mut live = Live::new();
        populate(&mut live);
        let mut rng = Rng(seed);
        let mut step_rng = Rng(seed ^ 0x5eed);
        let mut fresh_acl = 0;
        let (payload, start, _) = stream_snap(
            &mut live,
            || 1 + step_rng.below(3),
            |live| {
                for _ in 0..1 + rng.below(3) {
                    random_change(live, &mut rng, &mut fresh_acl);
                }
            },
        );
        let tree = learner_replay(&live, &payload, start, seed);
        assert_same_tree(&live.tree, &tree);
    }
}

#[test]
fn a_node_without_its_parent_is_reported_at_its_offset_even_with_damage_after_it() {
    let mut live = Live::new();
    live.create("/a", "x", acl("world", "anyone", 31), 0);
    // enough nodes that the loader's batches fill several times over
    for i in 0..3000 {
        live.create(&format!("/n{i:04}"), "v", acl("world", "anyone", 31), 0);
    }
    live.create("/a/b", "y", acl("world", "anyone", 31), 0);
    let mut bytes = write_checked(Vec::new(), &live.tree, &[]).unwrap();
    let find = |bytes: &[u8], pat: &[u8]| bytes.windows(pat.len()).position(|w| w == pat);
    // "/a" becomes "/z": "/a/b" then names a parent that was never loaded
    let a = find(&bytes, b"\0\0\0\x02/a").unwrap();
    bytes[a + 5] = b'z';
    let child = find(&bytes, b"\0\0\0\x04/a/b").unwrap();
    let err = |bytes: &[u8]| {
        read_checked(bytes, DEFAULT_MAX_ITEM, TreeOptions::default(), live.zxid)
            .err()
            .unwrap()
    };
    let whole = err(&bytes);
    assert_eq!(whole.offset, child as u64, "{:?}", whole.kind);
    assert!(
        whole.kind.to_string().contains("unable to find parent"),
        "{:?}",
        whole.kind
    );
    // a truncation after the orphan does not hide it
    let cut = bytes.len() - 40;
    assert!(cut > child + 200);
    assert_eq!(err(&bytes[..cut]).offset, child as u64);
    // and a truncation before it is reported where it is
    let early = err(&bytes[..a + 3]);
    assert!(early.offset <= a as u64 + 3, "{early:?}");
}
