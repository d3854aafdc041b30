//! Snapshot files against ZooKeeper 3.8.0: fixtures the real server wrote (see
//! tests/fixtures/snapshot/make_fixtures.sh), files we write read back by the real server,
//! round trips, damage and fallback, and the SNAP stream.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use bytes::Bytes;
use ferrokeeper::jute::codes::OpCode;
use ferrokeeper::jute::data::Acl;
use ferrokeeper::jute::txn::*;
use ferrokeeper::persist::snapshot::*;
use ferrokeeper::tree::{DataTree, EphemeralOptions, TreeOptions};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/snapshot");
const FIXTURE_ZXID: i64 = 0x94;
/// The session that owned the fixture's ephemerals when the server was killed.
const FIXTURE_SESSION: i64 = 72057749158625285;

fn opts() -> TreeOptions {
    TreeOptions {
        digest_enabled: true,
        ephemeral: EphemeralOptions {
            extended_types_enabled: true,
            emulate_353_ttl: false,
        },
    }
}

fn fixture(name: &str) -> PathBuf {
    Path::new(FIXTURES).join(name)
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fk-snap-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// path → (data hex or "-", client stat csv, ACLs), as make_tree.py dumps a live server.
fn expected() -> BTreeMap<String, (String, String, String)> {
    let text = std::fs::read_to_string(fixture("expected.txt")).unwrap();
    text.lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[0].into(), (f[1].into(), f[2].into(), f[3].into()))
        })
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The same dump computed from a loaded tree.
fn dump(tree: &DataTree) -> BTreeMap<String, (String, String, String)> {
    let mut out = BTreeMap::new();
    let mut stack = vec!["/".to_string()];
    while let Some(p) = stack.pop() {
        let n = tree.node(&p).unwrap();
        let s = tree.stat(&p).unwrap();
        let stat = [
            s.czxid,
            s.mzxid,
            s.ctime,
            s.mtime,
            s.version.into(),
            s.cversion.into(),
            s.aversion.into(),
            s.ephemeral_owner,
            s.data_length.into(),
            s.num_children.into(),
            s.pzxid,
        ]
        .map(|v| v.to_string())
        .join(",");
        let data = match &n.data {
            None => "-".to_string(),
            Some(d) => hex(d),
        };
        let acl: Vec<String> = n
            .acl
            .iter()
            .map(|a| format!("{},{},{}", a.perms, a.id.scheme, a.id.id))
            .collect();
        out.insert(p.clone(), (data, stat, acl.join(";")));
        for c in tree.children(&p).unwrap() {
            stack.push(format!("{}/{c}", p.trim_end_matches('/')));
        }
    }
    out
}

#[test]
fn loads_the_reference_snapshot_exactly() {
    let snap = read_snapshot(&fixture("snapshot.94"), opts()).unwrap();
    assert_eq!(snap.zxid, FIXTURE_ZXID);
    assert_eq!(snap.tree.last_processed_zxid(), FIXTURE_ZXID);
    assert_eq!(dump(&snap.tree), expected());
    assert!(snap.sessions.contains(&(FIXTURE_SESSION, 40000)));
    let eph = snap.tree.ephemerals(FIXTURE_SESSION);
    assert_eq!(eph.len(), 6, "{eph:?}");
    assert_eq!(snap.tree.containers(), vec!["/cont"]);
    assert_eq!(snap.tree.ttls(), vec!["/ttl"]);
    // The stored ZxidDigest is for the snapshot's own zxid, so it was checked on load.
    let raw = std::fs::read(fixture("snapshot.94")).unwrap();
    let trailer = &raw[raw.len() - 33..];
    assert_eq!(&trailer[..8], &FIXTURE_ZXID.to_be_bytes());
    assert_eq!(&trailer[12..20], &snap.tree.digest().to_be_bytes());
    assert_eq!(snap.digest, None);
    // Quotas: /app has a count limit and its stats node was recounted.
    assert!(!snap.tree.quota_exceeded("/app/x", 1, 0));
}

#[test]
fn rewriting_the_reference_snapshot_keeps_java_order() {
    let snap = read_snapshot(&fixture("snapshot.94"), opts()).unwrap();
    let dir = temp_dir("rewrite");
    let ours = write_snapshot(
        &dir,
        snap.zxid,
        &snap.tree,
        &snap.sessions,
        SnapshotCompression::None,
        true,
    )
    .unwrap();
    assert_eq!(ours.file_name().unwrap(), "snapshot.94");
    let theirs = std::fs::read(fixture("snapshot.94")).unwrap();
    let mine = std::fs::read(&ours).unwrap();
    assert_eq!(mine.len(), theirs.len());
    // Header, sessions, ACL map and every node up to /queue's children come out in the
    // reference's (Java hash) order. /queue once held 30 children and kept the larger
    // table after 10 were deleted, which its snapshot cannot tell us, so its children may
    // come out in another order from there on.
    let queue = theirs.windows(7).position(|w| w == b"/queue/").unwrap();
    assert_eq!(&mine[..queue], &theirs[..queue]);
    let again = read_snapshot(&ours, opts()).unwrap();
    assert_eq!(dump(&again.tree), dump(&snap.tree));
    assert_eq!(again.tree.digest(), snap.tree.digest());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn loads_the_reference_gz_and_snappy_snapshots() {
    let plain = read_snapshot(&fixture("snapshot.94"), opts()).unwrap();
    for name in ["snapshot.96.gz", "snapshot.96.snappy"] {
        let snap = read_snapshot(&fixture(name), opts()).unwrap();
        assert_eq!(snap.zxid, 0x96);
        // Only session txns happened in between.
        assert_eq!(dump(&snap.tree), dump(&plain.tree), "{name}");
        assert_eq!(snap.tree.digest(), plain.tree.digest());
    }
}

#[test]
fn reference_formatter_reads_our_snapshots() {
    let Some(cp) = common::realzk::reference_classpath() else {
        println!("skipped: java or the ZooKeeper jars are absent");
        return;
    };
    let snap = read_snapshot(&fixture("snapshot.94"), opts()).unwrap();
    let dir = temp_dir("formatter");
    for c in [
        SnapshotCompression::None,
        SnapshotCompression::Gzip,
        SnapshotCompression::Snappy,
    ] {
        let f = write_snapshot(&dir, snap.zxid, &snap.tree, &snap.sessions, c, false).unwrap();
        let out = Command::new("java")
            .args([
                "-cp",
                &cp,
                "org.apache.zookeeper.server.SnapshotFormatter",
                "-d",
            ])
            .arg(&f)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{c:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("/app/n03/deep/er/est"), "{c:?}: {text}");
        assert!(text.contains("Session Details"), "{c:?}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn reference_server_serves_our_snapshot() {
    let Some(cp) = common::realzk::reference_classpath() else {
        println!("skipped: java or the ZooKeeper jars are absent");
        return;
    };
    let snap = read_snapshot(&fixture("snapshot.94"), opts()).unwrap();
    let dir = temp_dir("server");
    let v2 = dir.join("data/version-2");
    std::fs::create_dir_all(&v2).unwrap();
    let compression = SnapshotCompression::Snappy;
    write_snapshot(
        &v2,
        snap.zxid,
        &snap.tree,
        &snap.sessions,
        compression,
        true,
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = dir.join("zoo.cfg");
    std::fs::write(
        &cfg,
        format!(
            "tickTime=2000\ndataDir={}\nclientPort={port}\nextendedTypesEnabled=true\nadmin.enableServer=false\n",
            dir.join("data").display()
        ),
    )
    .unwrap();
    let mut server = Command::new("java")
        .arg("-Dzookeeper.snapshot.compression.method=snappy")
        .args([
            "-cp",
            &cp,
            "org.apache.zookeeper.server.quorum.QuorumPeerMain",
        ])
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let up = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(200));
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let out_file = dir.join("dump.txt");
    let dumped = up
        && Command::new("/usr/bin/python3")
            .arg(fixture("make_tree.py"))
            .arg(port.to_string())
            .arg(&out_file)
            .arg("dump")
            .status()
            .is_ok_and(|s| s.success());
    let _ = server.kill();
    let _ = server.wait();
    assert!(up, "reference server did not start");
    if !dumped {
        println!("skipped: python3-kazoo is absent");
        return;
    }
    let got = std::fs::read_to_string(&out_file).unwrap();
    let want = std::fs::read_to_string(fixture("expected.txt")).unwrap();
    assert_eq!(got, want);
    std::fs::remove_dir_all(dir).unwrap();
}

fn txn(op: OpCode, zxid: i64, body: TxnBody) -> TxnEntry {
    TxnEntry {
        header: TxnHeader {
            client_id: 0x55,
            cxid: 1,
            zxid,
            time: 1_000 + zxid,
            op,
        },
        body,
        digest: None,
    }
}

/// A tree with persistent, ephemeral, sequential-named, container, TTL, null-data and
/// quota'd nodes, several ACLs, a deletion and a setACL.
fn busy_tree() -> DataTree {
    let mut t = DataTree::with_options(opts());
    let digest = vec![Acl::new(31, "digest", "u:hash")];
    let create = |path: &str, data: Option<&str>, acl: Vec<Acl>, eph: bool| {
        TxnBody::Create(CreateTxn {
            path: path.into(),
            data: data.map(|d| Bytes::copy_from_slice(d.as_bytes())),
            acl,
            ephemeral: eph,
            parent_cversion: -1,
        })
    };
    let bodies = vec![
        (
            OpCode::CREATE_SESSION,
            TxnBody::CreateSession(CreateSessionTxn { time_out: 30000 }),
        ),
        (
            OpCode::CREATE,
            create("/a", Some("x"), Acl::open_unsafe(), false),
        ),
        (OpCode::CREATE, create("/a/b", None, digest.clone(), false)),
        (
            OpCode::CREATE,
            create("/a/seq-0000000002", Some(""), Acl::read_unsafe(), false),
        ),
        (
            OpCode::CREATE,
            create("/e", Some("eph"), digest.clone(), true),
        ),
        (
            OpCode::CREATE,
            create("/zookeeper/quota/a", None, Acl::open_unsafe(), false),
        ),
        (
            OpCode::CREATE,
            create(
                "/zookeeper/quota/a/zookeeper_limits",
                Some("count=10,bytes=-1"),
                Acl::open_unsafe(),
                false,
            ),
        ),
        (
            OpCode::CREATE,
            create(
                "/zookeeper/quota/a/zookeeper_stats",
                Some("count=0,bytes=0"),
                Acl::open_unsafe(),
                false,
            ),
        ),
        (
            OpCode::CREATE_CONTAINER,
            TxnBody::CreateContainer(CreateContainerTxn {
                path: "/c".into(),
                data: None,
                acl: Acl::open_unsafe(),
                parent_cversion: -1,
            }),
        ),
        (
            OpCode::CREATE_TTL,
            TxnBody::CreateTtl(CreateTtlTxn {
                path: "/t".into(),
                data: None,
                acl: Acl::open_unsafe(),
                parent_cversion: -1,
                ttl: 5000,
            }),
        ),
        (
            OpCode::CREATE,
            create("/a/gone", Some("bye"), Acl::open_unsafe(), false),
        ),
        (
            OpCode::DELETE,
            TxnBody::Delete(DeleteTxn {
                path: "/a/gone".into(),
            }),
        ),
        (
            OpCode::SET_ACL,
            TxnBody::SetAcl(SetAclTxn {
                path: "/a".into(),
                acl: Acl::read_unsafe(),
                version: -1,
            }),
        ),
    ];
    for (i, (op, body)) in bodies.into_iter().enumerate() {
        let applied = t.apply(&txn(op, 1 + i as i64, body));
        assert_eq!(
            applied.err,
            ferrokeeper::jute::codes::ErrorCode::OK,
            "txn {i}"
        );
    }
    t
}

fn assert_same_tree(a: &DataTree, b: &DataTree) {
    assert_eq!(dump(a), dump(b));
    assert_eq!(a.digest(), b.digest());
    assert_eq!(a.approximate_data_size(), b.approximate_data_size());
    assert_eq!(a.node_count(), b.node_count());
    assert_eq!(a.sessions_with_ephemerals(), b.sessions_with_ephemerals());
    assert_eq!(a.containers(), b.containers());
    assert_eq!(a.ttls(), b.ttls());
    assert_eq!(a.last_processed_zxid(), b.last_processed_zxid());
    let ids = |t: &DataTree| -> Vec<(i64, u64)> {
        t.acl_cache()
            .iter()
            .map(|(id, _)| (id, t.acl_cache().usage(id)))
            .collect()
    };
    assert_eq!(ids(a), ids(b));
    for p in ["/a", "/a/b", "/e"] {
        assert_eq!(a.node(p).unwrap().acl_id(), b.node(p).unwrap().acl_id());
    }
    assert_eq!(
        a.quota_exceeded("/a/z", 1, 0),
        b.quota_exceeded("/a/z", 1, 0)
    );
}

#[test]
fn round_trip_every_kind_of_node_in_every_compression() {
    let tree = busy_tree();
    let zxid = tree.last_processed_zxid();
    let dir = temp_dir("roundtrip");
    for c in [
        SnapshotCompression::None,
        SnapshotCompression::Gzip,
        SnapshotCompression::Snappy,
    ] {
        let f = write_snapshot(&dir, zxid, &tree, &[(0x55, 30000)], c, false).unwrap();
        let snap = read_snapshot(&f, opts()).unwrap();
        assert_eq!(snap.sessions, vec![(0x55, 30000)]);
        assert_eq!(snap.digest, None);
        assert_same_tree(&snap.tree, &tree);
        std::fs::remove_file(f).unwrap();
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn damaged_newest_falls_back_to_an_older_one() {
    let tree = busy_tree();
    let dir = temp_dir("fallback");
    let old = write_snapshot(
        &dir,
        5,
        &DataTree::new(true),
        &[],
        SnapshotCompression::None,
        false,
    )
    .unwrap();
    let new = write_snapshot(&dir, 0x20, &tree, &[], SnapshotCompression::None, false).unwrap();
    // Flip one byte in the middle: the tail still looks valid, the checksum does not match.
    let mut bytes = std::fs::read(&new).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&new, bytes).unwrap();
    // A leftover temp file and a non-snapshot are ignored.
    std::fs::write(dir.join(".snapshot.30.tmp"), b"junk").unwrap();
    std::fs::write(dir.join("log.1"), b"junk").unwrap();
    assert_eq!(find_snapshots(&dir, 10), vec![new.clone(), old.clone()]);
    let err = read_snapshot(&new, opts()).unwrap_err();
    assert!(err.to_string().contains("snapshot.20"), "{err}");
    let loaded = load_newest_valid(&dir, opts()).unwrap().unwrap();
    assert_eq!(loaded.zxid, 5);
    std::fs::remove_file(&old).unwrap();
    assert!(matches!(
        load_newest_valid(&dir, opts()),
        Err(SnapshotError::NoValidSnapshot(_))
    ));
    std::fs::remove_file(&new).unwrap();
    assert!(load_newest_valid(&dir, opts()).unwrap().is_none());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn truncated_files_are_errors_naming_file_and_offset() {
    let tree = busy_tree();
    let dir = temp_dir("truncated");
    for c in [
        SnapshotCompression::None,
        SnapshotCompression::Gzip,
        SnapshotCompression::Snappy,
    ] {
        let f = write_snapshot(&dir, 9, &tree, &[], c, false).unwrap();
        let bytes = std::fs::read(&f).unwrap();
        for cut in [bytes.len() / 3, bytes.len() / 2, bytes.len() - 40] {
            std::fs::write(&f, &bytes[..cut]).unwrap();
            match read_snapshot(&f, opts()) {
                Err(e @ SnapshotError::Damaged { .. }) => {
                    let text = e.to_string();
                    assert!(
                        text.contains(&*f.to_string_lossy()) && text.contains("at byte"),
                        "{text}"
                    );
                }
                other => panic!("{c:?} cut {cut}: {other:?}"),
            }
        }
        std::fs::remove_file(f).unwrap();
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn snap_stream_round_trip() {
    let tree = busy_tree();
    let mut buf = Vec::new();
    serialize_snap_stream(&tree, &[(0x55, 30000), (0x66, 4000)], &mut buf).unwrap();
    buf.extend_from_slice(b"\0\0\0\x0aBenWasHere");
    let (mut loaded, sessions, used) = deserialize_snap_stream(&buf, opts()).unwrap();
    assert_eq!(&buf[used..], b"\0\0\0\x0aBenWasHere");
    assert_eq!(sessions, vec![(0x55, 30000), (0x66, 4000)]);
    loaded.set_last_processed_zxid(tree.last_processed_zxid());
    assert_same_tree(&loaded, &tree);
    for cut in 0..used {
        assert!(deserialize_snap_stream(&buf[..cut], opts()).is_err());
    }
}
