//! `ferrokeeper txnlog|snapshot|snapshot-compare` on files the real ZooKeeper 3.8.0 wrote
//! (tests/fixtures/txnlog, tests/fixtures/snapshot), against what the Java tools printed on
//! them (tests/fixtures/datatools, made by its make_golden.sh with TZ=UTC, LANG=C.UTF-8).
//! `compat-tests/datatools` runs the Java tools live, on more files and damage.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const FIXTURES: &str = "tests/fixtures";

fn run(args: &[&str], stdin: &[u8]) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferrokeeper"))
        .args(args)
        .current_dir(FIXTURES)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn golden(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(FIXTURES).join("datatools").join(name)).unwrap()
}

fn mask(out: &[u8]) -> String {
    let text = String::from_utf8_lossy(out);
    let mut masked = String::new();
    for line in text.split_inclusive('\n') {
        match line.find(" in ").filter(|_| line.ends_with(" seconds\n")) {
            // SnapshotComparer's timings
            Some(_) => {
                let cut = line.rfind(" in ").unwrap();
                masked.push_str(&line[..cut]);
                masked.push_str(" in <secs> seconds\n");
            }
            None => masked.push_str(line),
        }
    }
    match masked.find("\"timestamp\":") {
        Some(at) => {
            let end = masked[at + 12..]
                .find(|c: char| !c.is_ascii_digit())
                .map_or(masked.len(), |e| at + 12 + e);
            format!("{}<ms>{}", &masked[..at + 12], &masked[end..])
        }
        None => masked,
    }
}

fn assert_same_as_java(args: &[&str], golden_file: &str) {
    let out = run(args, b"");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want = mask(&golden(golden_file));
    let got = mask(&out.stdout);
    if want != got {
        let line = want
            .lines()
            .zip(got.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(want.lines().count().min(got.lines().count()));
        panic!(
            "{args:?} differs from the Java tool at line {}:\njava: {:?}\nours: {:?}",
            line + 1,
            want.lines().nth(line),
            got.lines().nth(line)
        );
    }
}

#[test]
fn txn_log_dump_is_the_java_toolkits() {
    assert_same_as_java(&["txnlog", "txnlog/log.1"], "txnlog.log.1.txt");
}

#[test]
fn snapshot_dumps_are_the_java_formatters() {
    assert_same_as_java(&["snapshot", "snapshot/snapshot.94"], "snapshot.94.txt");
    assert_same_as_java(
        &["snapshot", "-d", "snapshot/snapshot.94"],
        "snapshot.94.d.txt",
    );
    assert_same_as_java(
        &["snapshot", "-d", "snapshot/snapshot.96.gz"],
        "snapshot.96.gz.d.txt",
    );
    assert_same_as_java(
        &["snapshot", "snapshot/snapshot.96.snappy"],
        "snapshot.96.snappy.txt",
    );
    assert_same_as_java(
        &["snapshot", "-json", "snapshot/snapshot.94"],
        "snapshot.94.json.txt",
    );
}

#[test]
fn snapshot_comparison_is_the_java_comparers() {
    assert_same_as_java(
        &[
            "snapshot-compare",
            "-l",
            "snapshot/snapshot.94",
            "-r",
            "snapshot/snapshot.96.gz",
            "-b",
            "0",
            "-n",
            "0",
        ],
        "compare.94.96.txt",
    );
}

/// A copy of the fixture log under a temp dir, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("fk-datatools-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(Path::new(FIXTURES).join("txnlog/log.1"), dir.join("log.1")).unwrap();
        Scratch(dir)
    }
    fn file(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn abs_fixture(p: &str) -> String {
    std::fs::canonicalize(Path::new(FIXTURES).join(p))
        .unwrap()
        .display()
        .to_string()
}

#[test]
fn recover_repairs_a_crc_and_the_fixed_log_dumps_like_the_original() {
    let s = Scratch::new("recover");
    let log = s.file("log.1");
    let mut bytes = std::fs::read(&log).unwrap();
    // the first record's stored checksum (right after the 16-byte header)
    bytes[16 + 7] ^= 0x01;
    std::fs::write(&log, &bytes).unwrap();

    let out = run(&["txnlog", &log], b"");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    assert!(text
        .lines()
        .nth(1)
        .unwrap()
        .starts_with("CRC ERROR - 11/22/26, 4:49:53 AM UTC session"));

    let out = run(&["txnlog", "-r", &log], b"n\n");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Would you like to fix it (Yes/No/Abort) ? ")
    );
    assert!(String::from_utf8_lossy(&out.stdout).ends_with(&format!(
        "Recovery file {log}.fixed has been written with 0 fixed CRC error(s)\n"
    )));
    let out = run(&["txnlog", "-r", "-y", &log], b"");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!("Recovery file {log}.fixed already exists or not writable\n")
    );
    std::fs::remove_file(format!("{log}.fixed")).unwrap();

    let out = run(&["txnlog", "--recover", "--yes", &log], b"");
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("\nCRC FIXED - "));
    assert!(text.ends_with("has been written with 1 fixed CRC error(s)\n"));
    let fixed = run(&["txnlog", &format!("{log}.fixed")], b"");
    let original = golden("txnlog.log.1.txt");
    assert_eq!(
        String::from_utf8_lossy(&fixed.stdout),
        String::from_utf8_lossy(&original)
    );
}

#[test]
fn chop_keeps_the_txns_up_to_the_zxid() {
    let s = Scratch::new("chop");
    let log = s.file("log.1");
    let out = run(&["txnlog", "-c", "-z", "0x4", &log], b"");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "ZooKeeper Transactional Log File with dbid 0 txnlog format version 2\n\
         Chopping at 4 new log has 4 records\n"
    );
    let chopped = run(&["txnlog", &s.file("log.1.chopped4")], b"");
    let text = String::from_utf8_lossy(&chopped.stdout);
    assert!(text.ends_with("EOF reached after 4 txns.\n"), "{text}");
    // a zxid the log does not hold: the Java tool's message, still exit 0
    let out = run(&["txnlog", "--chop", "--zxid=99", &log], b"");
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).ends_with("Got exception: Failed to chop log.1\n"));
}

#[test]
fn a_file_that_is_not_a_txn_log_is_named_and_exits_2() {
    let snap = abs_fixture("snapshot/snapshot.94");
    let out = run(&["txnlog", &snap], b"");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "Invalid magic number for snapshot.94\n"
    );
    let out = run(&["txnlog", "/no/such/log.1"], b"");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "File doesn't exist or not readable: /no/such/log.1\n"
    );
}
