//! The txn log against ZooKeeper 3.8.0 itself (a log the real server wrote; the reference's
//! TxnLogToolkit reading ours), torn tails at every byte, corruption, roll/truncate, and a
//! full disk.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use ferrokeeper::jute::codes::OpCode;
use ferrokeeper::jute::data::{Acl, Id};
use ferrokeeper::jute::txn::{
    CreateSessionTxn, CreateTxn, DeleteTxn, SetDataTxn, TxnBody, TxnDigest, TxnEntry, TxnHeader,
};
use ferrokeeper::persist::txnlog::{
    last_logged_zxid, log_file_name, log_files, read_txns, truncate, TxnLog, TxnLogOptions,
};
use ferrokeeper::persist::PersistError;

const FIXTURE: &str = "tests/fixtures/txnlog/log.1";
const PRE_ALLOC: u64 = 4096;

/// A directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!(
            "ferrokeeper-txnlog-{}-{name}-{n}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn opts() -> TxnLogOptions {
    TxnLogOptions {
        pre_alloc_size: PRE_ALLOC,
        force_sync: false,
        ..TxnLogOptions::default()
    }
}

fn open_acl() -> Vec<Acl> {
    vec![Acl {
        perms: 31,
        id: Id {
            scheme: "world".into(),
            id: "anyone".into(),
        },
    }]
}

/// A plausible txn for `zxid`, cycling through a few kinds.
fn txn(zxid: i64) -> TxnEntry {
    let session = 0x0100_0019_5264_0000;
    let (op, body) = match zxid % 4 {
        0 => (
            OpCode::CREATE_SESSION,
            TxnBody::CreateSession(CreateSessionTxn { time_out: 10_000 }),
        ),
        1 => (
            OpCode::CREATE,
            TxnBody::Create(CreateTxn {
                path: format!("/n{zxid}"),
                data: Some(Bytes::from(vec![b'x'; (zxid as usize * 37) % 300])),
                acl: open_acl(),
                ephemeral: false,
                parent_cversion: zxid as i32,
            }),
        ),
        2 => (
            OpCode::SET_DATA,
            TxnBody::SetData(SetDataTxn {
                path: "/a".into(),
                data: Some(Bytes::from_static(b"world")),
                version: zxid as i32,
            }),
        ),
        _ => (
            OpCode::MULTI,
            TxnBody::Multi(vec![
                (
                    OpCode::DELETE,
                    TxnBody::Delete(DeleteTxn {
                        path: format!("/n{}", zxid - 2),
                    }),
                ),
                (
                    OpCode::SET_DATA,
                    TxnBody::SetData(SetDataTxn {
                        path: "/a".into(),
                        data: None,
                        version: 1,
                    }),
                ),
            ]),
        ),
    };
    TxnEntry {
        header: TxnHeader {
            client_id: session,
            cxid: zxid as i32,
            zxid,
            time: 1_700_000_000_000 + zxid,
            op,
        },
        body,
        digest: Some(TxnDigest {
            version: 2,
            tree_digest: 0x1234_5678 * zxid,
        }),
    }
}

fn write_log(dir: &Path, zxids: std::ops::RangeInclusive<i64>) {
    let mut log = TxnLog::open(dir, opts()).unwrap();
    for z in zxids {
        log.append(z, &txn(z).to_vec()).unwrap();
    }
    log.commit().unwrap();
}

/// A fresh log of `zxids` in one file: its dir, the file, and the file's bytes.
fn written_log(name: &str, zxids: std::ops::RangeInclusive<i64>) -> (TempDir, PathBuf, Vec<u8>) {
    let tmp = TempDir::new(name);
    write_log(tmp.path(), zxids);
    let file = tmp.path().join(log_file_name(1));
    let bytes = std::fs::read(&file).unwrap();
    (tmp, file, bytes)
}

fn read_all(dir: &Path, after: i64) -> Result<Vec<i64>, PersistError> {
    read_txns(dir, after)?.map(|t| t.map(|t| t.zxid)).collect()
}

/// Record start offsets of a file written by `write_log` (records are self-describing).
fn record_offsets(file: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = 16;
    while at + 12 <= file.len() {
        let len = i32::from_be_bytes(file[at + 8..at + 12].try_into().unwrap()) as usize;
        if len == 0 {
            break;
        }
        let end = at + 12 + len + 1;
        out.push((at, end));
        at = end;
    }
    out
}

/// Capture what tracing logs while `f` runs.
fn capture_logs<T>(f: impl FnOnce() -> T) -> (T, String) {
    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let out = tracing::subscriber::with_default(subscriber, f);
    let text = String::from_utf8_lossy(&buf.0.lock().unwrap()).into_owned();
    (out, text)
}

// ---- interop with the real server ----

const EXPECTED_OPS: [OpCode; 15] = [
    OpCode::CREATE_SESSION,
    OpCode::CREATE,
    OpCode::SET_DATA,
    OpCode::CREATE,
    OpCode::CREATE,
    OpCode::CREATE,
    OpCode::SET_ACL,
    OpCode::MULTI,
    OpCode::MULTI,
    OpCode::ERROR,
    OpCode::DELETE,
    OpCode::CLOSE_SESSION,
    OpCode::CREATE_SESSION,
    OpCode::CREATE,
    OpCode::CLOSE_SESSION,
];

fn check_reference_log(dir: &Path) {
    let txns: Vec<_> = read_txns(dir, 0).unwrap().map(|t| t.unwrap()).collect();
    let zxids: Vec<i64> = txns.iter().map(|t| t.zxid).collect();
    assert_eq!(zxids, (1..=15).collect::<Vec<_>>());
    let ops: Vec<OpCode> = txns.iter().map(|t| t.entry.header.op).collect();
    assert_eq!(ops, EXPECTED_OPS);
    for t in &txns {
        // Our codec re-encodes what ZooKeeper wrote byte for byte, digest included.
        assert_eq!(t.entry.to_vec(), t.bytes, "zxid {:#x}", t.zxid);
        // ZooKeeper 3.8 digests every txn but the error txn of a failed single op.
        let is_error = t.entry.header.op == OpCode::ERROR;
        assert_eq!(t.entry.digest.is_none(), is_error, "zxid {:#x}", t.zxid);
    }
    assert_eq!(last_logged_zxid(dir).unwrap(), 15);
}

#[test]
fn reads_a_log_written_by_zookeeper_3_8() {
    let tmp = TempDir::new("fixture");
    std::fs::copy(FIXTURE, tmp.path().join("log.1")).unwrap();
    check_reference_log(tmp.path());

    // The same file without its preallocated zeros reads the same.
    let bytes = std::fs::read(FIXTURE).unwrap();
    let end = bytes.iter().rposition(|b| *b != 0).unwrap() + 1;
    let trimmed = TempDir::new("fixture-trimmed");
    std::fs::write(trimmed.path().join("log.1"), &bytes[..end]).unwrap();
    check_reference_log(trimmed.path());
}

#[test]
fn appends_after_a_log_written_by_zookeeper() {
    let tmp = TempDir::new("fixture-append");
    std::fs::copy(FIXTURE, tmp.path().join("log.1")).unwrap();
    let mut log = TxnLog::open(tmp.path(), opts()).unwrap();
    log.append(16, &txn(16).to_vec()).unwrap();
    log.commit().unwrap();
    assert_eq!(
        read_all(tmp.path(), 0).unwrap(),
        (1..=16).collect::<Vec<_>>()
    );
    assert_eq!(read_all(tmp.path(), 14).unwrap(), vec![15, 16]);
}

fn zookeeper_classpath() -> Option<String> {
    let java_ok = Command::new("java").arg("-version").output().is_ok();
    let jars = [
        "zookeeper",
        "zookeeper-jute",
        "commons-cli",
        "slf4j-api",
        "slf4j-simple",
    ];
    let paths: Vec<String> = jars
        .iter()
        .map(|j| format!("/usr/share/java/{j}.jar"))
        .filter(|p| Path::new(p).exists())
        .collect();
    (java_ok && paths.len() >= 3).then(|| paths.join(":"))
}

/// `TxnLogToolkit --dump` of `file`: its stdout and exit status.
fn reference_dump(cp: &str, file: &Path) -> (String, bool) {
    let out = Command::new("java")
        .args([
            "-cp",
            cp,
            "org.apache.zookeeper.server.persistence.TxnLogToolkit",
        ])
        .arg("--dump")
        .arg(file)
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        out.status.success(),
    )
}

#[test]
fn zookeeper_reads_a_log_we_wrote() {
    let Some(cp) = zookeeper_classpath() else {
        println!("skipped: java or the ZooKeeper jars are not installed");
        return;
    };
    let tmp = TempDir::new("interop");
    let mut log = TxnLog::open(tmp.path(), TxnLogOptions::default()).unwrap();
    for z in 1..=40 {
        log.append(z, &txn(z).to_vec()).unwrap();
        if z % 7 == 0 {
            log.commit().unwrap();
        }
        if z == 25 {
            log.roll().unwrap();
        }
    }
    log.commit().unwrap();
    let files = log_files(tmp.path(), 0);
    assert_eq!(files.len(), 2);
    let mut total = 0;
    for (file, expected) in files.iter().zip([25, 15]) {
        let (out, ok) = reference_dump(&cp, file);
        assert!(ok, "TxnLogToolkit failed on {}:\n{out}", file.display());
        assert!(
            out.contains(&format!("EOF reached after {expected} txns.")),
            "{out}"
        );
        for bad in ["CRC ERROR", "partial", "Exception"] {
            assert!(!out.contains(bad), "{bad} in\n{out}");
        }
        total += out.lines().filter(|l| l.contains(" zxid 0x")).count();
    }
    assert_eq!(total, 40);
}

#[test]
fn zookeeper_reads_our_appends_after_its_own_log() {
    let Some(cp) = zookeeper_classpath() else {
        println!("skipped: java or the ZooKeeper jars are not installed");
        return;
    };
    let tmp = TempDir::new("interop-append");
    std::fs::copy(FIXTURE, tmp.path().join("log.1")).unwrap();
    let mut log = TxnLog::open(tmp.path(), opts()).unwrap();
    for z in 16..=20 {
        log.append(z, &txn(z).to_vec()).unwrap();
    }
    log.commit().unwrap();
    let (out, ok) = reference_dump(&cp, &tmp.path().join("log.10"));
    assert!(ok && out.contains("EOF reached after 5 txns."), "{out}");
    let (out, ok) = reference_dump(&cp, &tmp.path().join("log.1"));
    assert!(ok && out.contains("EOF reached after 15 txns."), "{out}");
}

// ---- torn tails and corruption ----

#[test]
fn torn_last_record_at_every_byte_is_dropped_with_a_warning() {
    const N: i64 = 6;
    let src = TempDir::new("torn-src");
    write_log(src.path(), 1..=N);
    let name = log_file_name(1);
    let original = std::fs::read(src.path().join(&name)).unwrap();
    let records = record_offsets(&original);
    assert_eq!(records.len(), N as usize);
    let (start, end) = records[N as usize - 1];
    for cut in start + 1..end {
        // Two shapes of a torn write: the file ends there, or preallocated zeros follow.
        let eof = original[..cut].to_vec();
        let mut zeroed = original.clone();
        zeroed[cut..end].fill(0);
        for (shape, bytes) in [("eof", eof), ("zeros", zeroed)] {
            let tmp = TempDir::new("torn");
            let file = tmp.path().join(&name);
            std::fs::write(&file, &bytes).unwrap();
            let ctx = format!("cut at {cut} ({shape})");

            let (read, logs) = capture_logs(|| {
                let mut it = read_txns(tmp.path(), 0).unwrap();
                let zxids: Vec<i64> = it.by_ref().map(|t| t.unwrap().zxid).collect();
                let torn = it.torn_tail().map(|(p, o)| (p.to_path_buf(), o));
                (zxids, torn)
            });
            assert_eq!(read.0, (1..N).collect::<Vec<_>>(), "{ctx}");
            // The checksum's high 4 bytes are zero: a record torn inside them left only
            // zeros, which is exactly what a clean end of log looks like.
            if bytes[start..].iter().all(|b| *b == 0) {
                assert_eq!(read.1, None, "{ctx}");
            } else {
                assert_eq!(read.1, Some((file.clone(), start as u64)), "{ctx}");
                assert!(logs.contains("WARN"), "{ctx}: {logs}");
                assert!(
                    logs.contains(&format!("{}", file.display())),
                    "{ctx}: {logs}"
                );
                assert!(logs.contains(&format!("offset {start}")), "{ctx}: {logs}");
            }
            assert_eq!(last_logged_zxid(tmp.path()).unwrap(), N - 1, "{ctx}");

            // Re-open cuts the tail; the next append lands on a clean boundary.
            let mut log = TxnLog::open(tmp.path(), opts()).unwrap();
            let after_open = std::fs::read(&file).unwrap();
            assert!(after_open.len() >= start, "{ctx}");
            assert!(after_open[start..].iter().all(|b| *b == 0), "{ctx}");
            log.append(N, &txn(N).to_vec()).unwrap();
            log.commit().unwrap();
            let all: Vec<_> = read_txns(tmp.path(), 0)
                .unwrap()
                .map(|t| t.unwrap())
                .collect();
            let zxids: Vec<i64> = all.iter().map(|t| t.zxid).collect();
            assert_eq!(zxids, (1..=N).collect::<Vec<_>>(), "{ctx}");
            assert_eq!(all.last().unwrap().entry, txn(N), "{ctx}");
        }
    }
}

#[test]
fn a_torn_first_record_leaves_no_file_behind() {
    let tmp = TempDir::new("torn-first");
    write_log(tmp.path(), 1..=3);
    let bytes = std::fs::read(tmp.path().join(log_file_name(1))).unwrap();
    // A second file whose only record is torn, and a third that is only a header.
    std::fs::write(tmp.path().join(log_file_name(4)), &bytes[..40]).unwrap();
    assert_eq!(read_all(tmp.path(), 0).unwrap(), vec![1, 2, 3]);
    let mut log = TxnLog::open(tmp.path(), opts()).unwrap();
    assert!(!tmp.path().join(log_file_name(4)).exists());
    log.append(4, &txn(4).to_vec()).unwrap();
    log.commit().unwrap();
    assert_eq!(read_all(tmp.path(), 0).unwrap(), vec![1, 2, 3, 4]);
    std::fs::write(tmp.path().join(log_file_name(9)), &bytes[..16]).unwrap();
    assert_eq!(read_all(tmp.path(), 0).unwrap(), vec![1, 2, 3, 4]);
}

fn assert_corrupt(r: Result<Vec<i64>, PersistError>, file: &Path, offset: usize, ctx: &str) {
    match r {
        Err(PersistError::Corrupt {
            file: f, offset: o, ..
        }) => {
            assert_eq!(f, file, "{ctx}");
            assert_eq!(o, offset as u64, "{ctx}");
        }
        other => panic!("{ctx}: expected Corrupt, got {other:?}"),
    }
}

#[test]
fn any_flipped_byte_mid_log_is_corrupt_naming_file_and_offset() {
    let src = TempDir::new("flip-src");
    write_log(src.path(), 1..=5);
    let name = log_file_name(1);
    let original = std::fs::read(src.path().join(&name)).unwrap();
    let (start, end) = record_offsets(&original)[2];
    for at in start..end {
        let tmp = TempDir::new("flip");
        let file = tmp.path().join(&name);
        let mut bytes = original.clone();
        bytes[at] ^= 0xff;
        std::fs::write(&file, &bytes).unwrap();
        let ctx = format!("flipped byte {at}");
        assert_corrupt(read_all(tmp.path(), 0), &file, start, &ctx);
        assert!(TxnLog::open(tmp.path(), opts()).is_err(), "{ctx}");
    }
}

#[test]
fn garbage_after_the_end_marker_hiding_a_record_is_corrupt() {
    let (tmp, file, mut bytes) = written_log("hidden", 1..=4);
    let (start, end) = record_offsets(&bytes)[1];
    // Zero the length of record 2: the reference would stop there and lose 3 and 4.
    bytes[start + 8..start + 12].fill(0);
    std::fs::write(&file, &bytes).unwrap();
    assert_corrupt(read_all(tmp.path(), 0), &file, start, "zero length");
    assert!(end > start);
}

#[test]
fn a_record_beyond_a_hole_in_the_preallocated_tail_is_corrupt() {
    use std::os::unix::fs::{FileExt, MetadataExt};
    let (tmp, file, bytes) = written_log("hole", 1..=4);
    let records = record_offsets(&bytes);
    let end_of_data = records[3].1;
    let (start, end) = records[1];
    // a preallocated tail as `FilePadding` leaves it (a hole), with a copy of record 2
    // written far into it: the scan that skips holes must still find it
    let f = std::fs::OpenOptions::new().write(true).open(&file).unwrap();
    let far: u64 = 16 << 20;
    f.set_len(2 * far).unwrap();
    f.write_all_at(&bytes[start..end], far).unwrap();
    f.sync_all().unwrap();
    let meta = std::fs::metadata(&file).unwrap();
    assert!(meta.blocks() * 512 < far, "the tail should be sparse");
    let read = read_all(tmp.path(), 0);
    if let Err(PersistError::Corrupt { reason, .. }) = &read {
        assert!(
            reason.contains(&format!("valid record follows at offset {far}")),
            "{reason}"
        );
    }
    assert_corrupt(read, &file, end_of_data, "a record beyond a hole");
}

#[test]
fn damage_in_an_older_file_is_corrupt() {
    let tmp = TempDir::new("older");
    let mut log = TxnLog::open(tmp.path(), opts()).unwrap();
    for z in 1..=8 {
        log.append(z, &txn(z).to_vec()).unwrap();
        if z == 4 {
            log.roll().unwrap();
        }
    }
    log.commit().unwrap();
    let first = tmp.path().join(log_file_name(1));
    let bytes = std::fs::read(&first).unwrap();
    let (start, end) = record_offsets(&bytes)[3];
    // Torn last record of log.1, but log.5 starts after the missing zxid 4: a gap.
    let mut torn = bytes.clone();
    torn[start + 20..end].fill(0);
    std::fs::write(&first, &torn).unwrap();
    assert_corrupt(read_all(tmp.path(), 0), &first, start, "gap");

    // The reference restarting after a crash re-logs zxid 4 in a new file: no gap, tolerated.
    std::fs::rename(tmp.path().join(log_file_name(5)), tmp.path().join("moved")).unwrap();
    let mut log = TxnLog::open(tmp.path(), opts()).unwrap();
    std::fs::write(&first, &torn).unwrap();
    log.append(4, &txn(4).to_vec()).unwrap();
    log.commit().unwrap();
    assert_eq!(read_all(tmp.path(), 0).unwrap(), vec![1, 2, 3, 4]);
}

#[test]
fn bad_magic_is_corrupt() {
    let (tmp, file, mut bytes) = written_log("magic", 1..=2);
    bytes[0] = b'X';
    std::fs::write(&file, &bytes).unwrap();
    assert_corrupt(read_all(tmp.path(), 0), &file, 0, "magic");
}

#[test]
fn oversized_length_is_not_allocated() {
    let (tmp, file, mut bytes) = written_log("huge", 1..=3);
    let (start, _) = record_offsets(&bytes)[1];
    bytes[start + 8..start + 12].copy_from_slice(&i32::MAX.to_be_bytes());
    std::fs::write(&file, &bytes).unwrap();
    assert_corrupt(read_all(tmp.path(), 0), &file, start, "huge length");
    bytes[start + 8..start + 12].copy_from_slice(&(-5i32).to_be_bytes());
    std::fs::write(&file, &bytes).unwrap();
    assert_corrupt(read_all(tmp.path(), 0), &file, start, "negative length");
}

// ---- roll, truncate, listing ----

fn rolled_log(dir: &Path) {
    let mut log = TxnLog::open(dir, opts()).unwrap();
    for z in 1..=30 {
        log.append(z, &txn(z).to_vec()).unwrap();
        if z % 10 == 0 {
            log.commit().unwrap();
            log.roll().unwrap();
        }
    }
}

#[test]
fn roll_and_read_across_files() {
    let tmp = TempDir::new("roll");
    rolled_log(tmp.path());
    let names = |v: Vec<PathBuf>| -> Vec<String> {
        v.iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    };
    assert_eq!(
        names(log_files(tmp.path(), 0)),
        ["log.1", "log.b", "log.15"]
    );
    assert_eq!(names(log_files(tmp.path(), 0xb)), ["log.b", "log.15"]);
    assert_eq!(names(log_files(tmp.path(), 0x16)), ["log.15"]);
    assert_eq!(
        read_all(tmp.path(), 0).unwrap(),
        (1..=30).collect::<Vec<_>>()
    );
    assert_eq!(
        read_all(tmp.path(), 12).unwrap(),
        (13..=30).collect::<Vec<_>>()
    );
    assert_eq!(read_all(tmp.path(), 30).unwrap(), Vec::<i64>::new());
    assert_eq!(last_logged_zxid(tmp.path()).unwrap(), 30);
    // Preallocation: every file is zero-extended beyond its data.
    for f in log_files(tmp.path(), 0) {
        assert!(std::fs::metadata(&f).unwrap().len() >= PRE_ALLOC);
    }
}

#[test]
fn size_limit_rolls_after_commit() {
    let tmp = TempDir::new("limit");
    let o = TxnLogOptions {
        txn_log_size_limit: Some(6000),
        ..opts()
    };
    let mut log = TxnLog::open(tmp.path(), o).unwrap();
    let mut rolls = 0;
    for z in 1..=40 {
        log.append(z, &txn(z).to_vec()).unwrap();
        let stats = log.commit().unwrap();
        assert_eq!(stats.txns, 1);
        rolls += usize::from(stats.rolled);
    }
    assert!(rolls >= 2, "{rolls}");
    assert!(log_files(tmp.path(), 0).len() >= rolls);
    assert_eq!(
        read_all(tmp.path(), 0).unwrap(),
        (1..=40).collect::<Vec<_>>()
    );
}

#[test]
fn truncate_drops_everything_after_zxid() {
    let tmp = TempDir::new("truncate");
    rolled_log(tmp.path());
    truncate(tmp.path(), 15).unwrap();
    assert_eq!(
        read_all(tmp.path(), 0).unwrap(),
        (1..=15).collect::<Vec<_>>()
    );
    assert_eq!(log_files(tmp.path(), 0).len(), 2);
    assert_eq!(last_logged_zxid(tmp.path()).unwrap(), 15);
    // Appending after a truncate continues in a new file.
    write_log(tmp.path(), 16..=17);
    assert_eq!(
        read_all(tmp.path(), 0).unwrap(),
        (1..=17).collect::<Vec<_>>()
    );
    truncate(tmp.path(), 10).unwrap();
    assert_eq!(
        read_all(tmp.path(), 0).unwrap(),
        (1..=10).collect::<Vec<_>>()
    );
    truncate(tmp.path(), 0).unwrap();
    assert_eq!(read_all(tmp.path(), 0).unwrap(), Vec::<i64>::new());
    assert_eq!(last_logged_zxid(tmp.path()).unwrap(), -1);
    assert!(matches!(
        truncate(tmp.path(), 5),
        Err(PersistError::NoLogFiles { .. })
    ));
    write_log(tmp.path(), 1..=2);
    assert_eq!(read_all(tmp.path(), 0).unwrap(), vec![1, 2]);
}

#[test]
fn truncate_cuts_a_torn_tail() {
    let (tmp, file, bytes) = written_log("truncate-torn", 1..=3);
    let (start, end) = record_offsets(&bytes)[2];
    std::fs::write(&file, &bytes[..end - 1]).unwrap();
    truncate(tmp.path(), 2).unwrap();
    assert_eq!(std::fs::metadata(&file).unwrap().len(), start as u64);
    assert_eq!(read_all(tmp.path(), 0).unwrap(), vec![1, 2]);
}

#[test]
fn empty_or_missing_dir_reads_empty() {
    let tmp = TempDir::new("empty");
    assert_eq!(read_all(tmp.path(), 0).unwrap(), Vec::<i64>::new());
    assert_eq!(
        read_all(&tmp.path().join("nope"), 0).unwrap(),
        Vec::<i64>::new()
    );
    assert_eq!(last_logged_zxid(tmp.path()).unwrap(), -1);
    assert!(log_files(tmp.path(), 0).is_empty());
}

#[test]
fn invalid_appends_are_refused() {
    let tmp = TempDir::new("invalid");
    let mut log = TxnLog::open(tmp.path(), opts()).unwrap();
    assert!(matches!(
        log.append(1, &[]),
        Err(PersistError::InvalidTxn { .. })
    ));
    log.append(1, &txn(1).to_vec()).unwrap();
    let stats = log.commit().unwrap();
    assert_eq!(stats.txns, 1);
    assert!(log.current_file_size() >= PRE_ALLOC);
    assert_eq!(log.current_file(), Some(tmp.path().join("log.1").as_path()));
}

// ---- full disk ----

struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn full_disk_is_an_io_error_naming_the_file() {
    let tmp = TempDir::new("tmpfs");
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(tmp.path())
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !mounted {
        println!("skipped: cannot mount a tmpfs (needs root)");
        return;
    }
    let mount = Mount(tmp.path().to_path_buf());
    let dir = tmp.path().join("version-2");
    let o = TxnLogOptions {
        force_sync: true,
        ..opts()
    };
    let mut log = TxnLog::open(&dir, o).unwrap();
    log.append(1, &txn(1).to_vec()).unwrap();
    log.commit().unwrap();
    // Fill the rest of the file system.
    let filler = tmp.path().join("filler");
    let chunk = vec![7u8; 64 * 1024];
    let mut f = std::fs::File::create(&filler).unwrap();
    while std::io::Write::write_all(&mut f, &chunk).is_ok() {}
    drop(f);

    let big = {
        let mut t = txn(1);
        t.header.zxid = 2;
        t.body = TxnBody::Create(CreateTxn {
            path: "/big".into(),
            data: Some(Bytes::from(vec![1u8; 200 * 1024])),
            acl: open_acl(),
            ephemeral: false,
            parent_cversion: 0,
        });
        t.to_vec()
    };
    log.append(2, &big).unwrap();
    let err = log.commit().unwrap_err();
    assert!(err.is_disk_full(), "{err}");
    assert_eq!(err.file(), Some(dir.join("log.1").as_path()), "{err}");
    // Nothing after a failed write is reported committed.
    assert!(matches!(log.commit(), Err(PersistError::Failed { .. })));
    assert!(matches!(
        log.append(3, &txn(3).to_vec()),
        Err(PersistError::Failed { .. })
    ));
    drop(log);
    std::fs::remove_file(&filler).unwrap();
    // After space is back, a restart recovers to the last committed txn.
    let log = TxnLog::open(&dir, opts()).unwrap();
    assert_eq!(read_all(&dir, 0).unwrap(), vec![1]);
    drop(log);
    drop(mount);
}
