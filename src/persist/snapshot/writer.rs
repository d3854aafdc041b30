//! The thread that files a live snapshot (`FileTxnSnapLog#save` / `FileSnap#serialize` for a
//! tree serialized elsewhere): node records arrive in chunks and go to a hidden temporary
//! nodes file; the tail (ACL map, digest) arrives last, because the traversal learns it only
//! at the end, and the real file is then assembled in the reference's order — header,
//! sessions, ACL map, nodes, "/", seal, digest, seal — through the same checked and
//! compressed writer as [`super::write_snapshot`], and renamed into place.
//!
//! Invariants: nothing complete-looking exists until the rename; on any failure, or when the
//! sender goes away before the tail, both temporary files are removed and the error is
//! reported to `on_done` (the txn log still holds every txn, so nothing is lost).

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use tokio::sync::mpsc;

use super::format;
use super::live::SnapshotTail;
use super::stream::CheckedWriter;
use super::{snapshot_file_name, sync_dir, write_compressed, SnapshotCompression, SnapshotError};

/// What the core sends the snapshot thread.
#[derive(Debug)]
pub enum SnapshotPart {
    /// Encoded node records, in file order.
    Nodes(Vec<u8>),
    /// The traversal is complete: write the file.
    Finish(SnapshotTail),
}

/// Where a live snapshot goes.
#[derive(Debug, Clone)]
pub struct SnapshotTarget {
    pub snap_dir: PathBuf,
    /// Names the file; the log is replayed after it.
    pub zxid: i64,
    pub compression: SnapshotCompression,
    pub fsync: bool,
    /// Append the last processed zxid and a third seal after the digest, as 3.9 does with
    /// `serializeLastProcessedZxid.enabled` (the AdminServer's `snapshot`); 3.8 readers
    /// stop after the digest and never see it.
    pub last_processed_zxid: bool,
}

/// Called on the snapshot thread with the file written, or why there is none.
pub type SnapshotDone = Box<dyn FnOnce(Result<PathBuf, SnapshotError>) + Send>;

/// Starts the thread; the core sends it [`SnapshotPart`]s over a channel of `capacity`
/// messages (chunks), which is what bounds the memory a slow disk can make the core hold.
pub fn spawn_snapshot_writer(
    target: SnapshotTarget,
    sessions: Vec<(i64, i32)>,
    capacity: usize,
    on_done: SnapshotDone,
) -> Result<mpsc::Sender<SnapshotPart>, SnapshotError> {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let dir = target.snap_dir.clone();
    std::thread::Builder::new()
        .name("snapshot".into())
        .spawn(move || on_done(run(&target, &sessions, rx)))
        .map_err(|e| SnapshotError::io(&dir, e))?;
    Ok(tx)
}

fn nodes_tmp_path(target: &SnapshotTarget) -> PathBuf {
    // a leading dot keeps it from parsing as a snapshot (`Util.getZxidFromName`)
    target
        .snap_dir
        .join(format!(".snapshot.{:x}.nodes.tmp", target.zxid))
}

fn run(
    target: &SnapshotTarget,
    sessions: &[(i64, i32)],
    mut rx: mpsc::Receiver<SnapshotPart>,
) -> Result<PathBuf, SnapshotError> {
    remove_leftovers(&target.snap_dir);
    let nodes = nodes_tmp_path(target);
    let result = receive(&nodes, &mut rx).and_then(|tail| match tail {
        Some(tail) => assemble(target, sessions, &nodes, &tail),
        None => Err(SnapshotError::Abandoned(target.zxid)),
    });
    // closing first tells a core still sending to give up
    drop(rx);
    let _ = fs::remove_file(&nodes);
    result
}

/// Temporary files of a snapshot a crash interrupted: only one snapshot is written at a
/// time, so any such file is garbage (and a node file can be as large as the tree).
fn remove_leftovers(snap_dir: &Path) {
    let Ok(entries) = fs::read_dir(snap_dir) else {
        return;
    };
    for e in entries.filter_map(Result::ok) {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(".snapshot.") && name.ends_with(".tmp") {
            match fs::remove_file(e.path()) {
                Ok(()) => {
                    tracing::info!(file = %name, "removed a leftover temporary snapshot file")
                }
                Err(err) => tracing::warn!(file = %name, error = %err, "cannot remove"),
            }
        }
    }
}

/// Appends node chunks until the tail arrives (`Some`) or the sender is gone (`None`).
fn receive(
    nodes: &Path,
    rx: &mut mpsc::Receiver<SnapshotPart>,
) -> Result<Option<SnapshotTail>, SnapshotError> {
    let io_err = |e| SnapshotError::io(nodes, e);
    let mut out = BufWriter::with_capacity(1 << 20, File::create(nodes).map_err(io_err)?);
    while let Some(part) = rx.blocking_recv() {
        match part {
            SnapshotPart::Nodes(bytes) => out.write_all(&bytes).map_err(io_err)?,
            SnapshotPart::Finish(tail) => {
                out.flush().map_err(io_err)?;
                return Ok(Some(tail));
            }
        }
    }
    Ok(None)
}

fn assemble(
    target: &SnapshotTarget,
    sessions: &[(i64, i32)],
    nodes: &Path,
    tail: &SnapshotTail,
) -> Result<PathBuf, SnapshotError> {
    let name = snapshot_file_name(target.zxid, target.compression);
    let path = target.snap_dir.join(&name);
    let tmp = target.snap_dir.join(format!(".{name}.tmp"));
    let last_zxid = target
        .last_processed_zxid
        .then_some(tail.last_processed_zxid);
    let mut body = |out: &mut dyn Write| write_body(out, sessions, nodes, tail, last_zxid);
    let result = write_compressed(&tmp, target.compression, target.fsync, &mut body)
        .and_then(|()| fs::rename(&tmp, &path))
        .and_then(|()| {
            if target.fsync {
                sync_dir(&target.snap_dir)
            } else {
                Ok(())
            }
        });
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(SnapshotError::io(&path, e));
    }
    Ok(path)
}

fn write_body(
    out: &mut dyn Write,
    sessions: &[(i64, i32)],
    nodes: &Path,
    tail: &SnapshotTail,
    last_zxid: Option<i64>,
) -> io::Result<()> {
    let mut w = CheckedWriter::new(out);
    format::write_header(&mut w)?;
    format::write_sessions(&mut w, sessions)?;
    format::write_acl_map(&mut w, tail.acls.iter().map(|(id, l)| (*id, l.as_slice())))?;
    let mut file = File::open(nodes)?;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        w.raw(&buf[..n])?;
    }
    w.string("/")?;
    w.seal()?;
    if let Some((zxid, digest)) = tail.digest {
        format::write_digest(&mut w, zxid, digest)?;
        w.seal()?;
    }
    if let Some(zxid) = last_zxid {
        w.i64(zxid)?;
        w.seal()?;
    }
    w.into_inner()?.flush()
}
