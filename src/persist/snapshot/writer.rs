//! The thread that files a live snapshot (`FileTxnSnapLog#save` / `FileSnap#serialize` for a
//! tree serialized elsewhere): the header, the sessions and the ACL map (all as of the start
//! zxid) go first, then node records as they arrive in chunks, then the tail (the digest, which
//! the traversal learns only at the end), through the same checked and compressed writer as
//! [`super::write_snapshot`], into a hidden temporary file renamed into place.
//!
//! Invariants: nothing complete-looking exists until the rename; on any failure, or when the
//! sender goes away before the tail, the temporary file is removed and the error is reported
//! to `on_done` (the txn log still holds every txn, so nothing is lost).

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::mpsc;

use super::format;
use super::live::SnapshotTail;
use super::stream::CheckedWriter;
use super::{Pacing, SnapshotCompression, SnapshotError, SnapshotFile};
use crate::jute::data::Acl;

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
/// `acls` is the map [`super::SnapshotJob::start`] returned with the job.
pub fn spawn_snapshot_writer(
    target: SnapshotTarget,
    sessions: Vec<(i64, i32)>,
    acls: Vec<(i64, Arc<Vec<Acl>>)>,
    capacity: usize,
    on_done: SnapshotDone,
) -> Result<mpsc::Sender<SnapshotPart>, SnapshotError> {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let dir = target.snap_dir.clone();
    std::thread::Builder::new()
        .name("snapshot".into())
        .spawn(move || on_done(run(&target, &sessions, &acls, rx)))
        .map_err(|e| SnapshotError::io(&dir, e))?;
    Ok(tx)
}

fn run(
    target: &SnapshotTarget,
    sessions: &[(i64, i32)],
    acls: &[(i64, Arc<Vec<Acl>>)],
    mut rx: mpsc::Receiver<SnapshotPart>,
) -> Result<PathBuf, SnapshotError> {
    remove_leftovers(&target.snap_dir);
    let file = SnapshotFile {
        snap_dir: &target.snap_dir,
        zxid: target.zxid,
        compression: target.compression,
        fsync: target.fsync,
        pacing: Pacing::Background,
    };
    let mut abandoned = false;
    let mut body =
        |out: &mut dyn Write| write_body(out, target, sessions, acls, &mut rx, &mut abandoned);
    let result = file.write(&mut body);
    // closing first tells a core still sending to give up
    drop(rx);
    result.map_err(|e| {
        if abandoned {
            SnapshotError::Abandoned(target.zxid)
        } else {
            SnapshotError::io(&file.path(), e)
        }
    })
}

/// Temporary files of a snapshot a crash interrupted (the snapshot's own, or an older
/// version's `.nodes.tmp`): only one snapshot is written at a time, so any such file is
/// garbage, and it can be as large as the tree.
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

/// The whole file's uncompressed stream; node chunks are written as they arrive. Sets
/// `abandoned` (and fails) when the sender goes away before the tail.
fn write_body(
    out: &mut dyn Write,
    target: &SnapshotTarget,
    sessions: &[(i64, i32)],
    acls: &[(i64, Arc<Vec<Acl>>)],
    rx: &mut mpsc::Receiver<SnapshotPart>,
    abandoned: &mut bool,
) -> io::Result<()> {
    let mut w = CheckedWriter::new(out);
    format::write_header(&mut w)?;
    format::write_sessions(&mut w, sessions)?;
    format::write_acl_map(&mut w, acls.iter().map(|(id, l)| (*id, l.as_slice())))?;
    let tail = loop {
        match rx.blocking_recv() {
            Some(SnapshotPart::Nodes(bytes)) => w.raw(&bytes)?,
            Some(SnapshotPart::Finish(tail)) => break tail,
            None => {
                *abandoned = true;
                return Err(io::Error::other("the traversal stopped before its end"));
            }
        }
    };
    write_end(&mut w, &tail, target.last_processed_zxid)?;
    w.into_inner()?.flush()
}

/// "/" and the seal that end the nodes, the digest trailer, and with `last_processed_zxid`
/// the zxid 3.9 appends.
fn write_end<W: Write>(
    w: &mut CheckedWriter<W>,
    tail: &SnapshotTail,
    last_processed_zxid: bool,
) -> io::Result<()> {
    w.string("/")?;
    w.seal()?;
    if let Some((zxid, digest)) = tail.digest {
        format::write_digest(w, zxid, digest)?;
        w.seal()?;
    }
    if last_processed_zxid {
        w.i64(tail.last_processed_zxid)?;
        w.seal()?;
    }
    Ok(())
}
