//! Snapshot files and the SNAP sync payload: replaces `FileSnap`, `SnapStream`,
//! `SerializeUtils#serializeSnapshot` / `#deserializeSnapshot` and the (de)serialization
//! parts of `DataTree` and `ReferenceCountedACLCache` of ZooKeeper 3.8.0.
//!
//! A file `snapshot.<zxid hex>[.gz|.snappy]` holds: `FileHeader{"ZKSN", 2, -1}`, the
//! sessions, the ACL map, the nodes, a seal (Adler-32 of all uncompressed bytes so far +
//! "/"), and, with digests enabled, `ZxidDigest{zxid, 2, digest}` + a second seal over
//! everything before it. 3.8 writes no lastProcessedZxid trailer; anything after the
//! digest seal is ignored, as 3.8 does.
//!
//! Two writers produce the same bytes for a still tree: [`write_snapshot`] walks a tree it
//! holds still, and the live path — [`SnapshotJob`] (the core encodes a slice at a time) plus
//! [`spawn_snapshot_writer`] (a thread files the chunks) — takes a fuzzy snapshot of a tree
//! that keeps changing, repaired on load by replaying the log from its zxid. A learner's SNAP
//! payload streams from the same job made by [`SnapshotJob::start`]:
//! [`write_snap_stream_head`], the node records, [`write_snap_stream_end`].
//!
//! Invariants: files are written under a hidden temporary name and renamed into place, so
//! a crash never leaves a complete-looking partial snapshot; reading never panics, caps
//! every length at `jute.maxbuffer` limits, and names the file and the (uncompressed)
//! byte offset of any damage.

mod format;
mod live;
mod stream;
mod writer;
mod xerial;

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::tree::{digest::DIGEST_VERSION, DataTree, TreeOptions};
use stream::{CheckedReader, CheckedWriter, Fault, DEFAULT_MAX_ITEM};

pub use format::encode_node;
pub use live::{SnapshotJob, SnapshotTail, StepBudget};
pub use stream::{FaultKind, JUTE_MAX_BUFFER};
pub use writer::{spawn_snapshot_writer, SnapshotDone, SnapshotPart, SnapshotTarget};

/// `FileSnap.SNAPSHOT_FILE_PREFIX`.
pub const SNAPSHOT_FILE_PREFIX: &str = "snapshot";
/// How many snapshots `FileSnap#deserialize` tries before giving up.
pub const SNAPSHOTS_TO_TRY: usize = 100;

/// `SnapStream.StreamMode` (`zookeeper.snapshot.compression.method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SnapshotCompression {
    /// "" (CHECKED): plain bytes.
    #[default]
    None,
    /// "gz".
    Gzip,
    /// "snappy": snappy-java's stream format.
    Snappy,
}

impl SnapshotCompression {
    /// `StreamMode.fromString`: case-insensitive, anything unknown is the default.
    pub fn from_name(name: &str) -> Self {
        match name.to_ascii_lowercase().as_str() {
            "gz" => SnapshotCompression::Gzip,
            "snappy" => SnapshotCompression::Snappy,
            _ => SnapshotCompression::None,
        }
    }

    /// `StreamMode#getFileExtension`.
    pub fn extension(self) -> &'static str {
        match self {
            SnapshotCompression::None => "",
            SnapshotCompression::Gzip => ".gz",
            SnapshotCompression::Snappy => ".snappy",
        }
    }

    /// `SnapStream#getStreamMode(String)`: from the last dot-separated part of a file name.
    pub fn of_file_name(name: &str) -> Self {
        match name.rsplit_once('.') {
            Some((_, ext)) => SnapshotCompression::from_name(ext),
            None => SnapshotCompression::None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("{file}: {source}")]
    Io { file: PathBuf, source: io::Error },
    #[error("{file}: at byte {offset}: {kind}")]
    Damaged {
        file: PathBuf,
        /// Offset in the uncompressed stream.
        offset: u64,
        kind: FaultKind,
    },
    #[error("{file}: digest mismatch at zxid {zxid:#x}: snapshot has {stored}, loaded tree has {actual}")]
    DigestMismatch {
        file: PathBuf,
        zxid: i64,
        stored: i64,
        actual: i64,
    },
    #[error("{0}: not a snapshot file name")]
    BadName(PathBuf),
    #[error("not able to find valid snapshots in {0}")]
    NoValidSnapshot(PathBuf),
    #[error("snapshot 0x{0:x} abandoned before its traversal ended")]
    Abandoned(i64),
}

impl SnapshotError {
    fn io(file: &Path, source: io::Error) -> Self {
        SnapshotError::Io {
            file: file.to_path_buf(),
            source,
        }
    }

    fn damaged(file: &Path, f: Fault) -> Self {
        SnapshotError::Damaged {
            file: file.to_path_buf(),
            offset: f.offset,
            kind: f.kind,
        }
    }
}

/// A loaded snapshot.
#[derive(Debug)]
pub struct SnapshotData {
    pub tree: DataTree,
    /// (session id, timeout ms), sorted by id.
    pub sessions: Vec<(i64, i32)>,
    /// From the file name; also the tree's last processed zxid.
    pub zxid: i64,
    /// The stored `(zxid, digest)` still to be checked while replaying the log: present
    /// only when it belongs to a txn after the snapshot's zxid (a fuzzy snapshot). One for
    /// the snapshot's own zxid is checked on load.
    pub digest: Option<(i64, i64)>,
}

/// `Util.getZxidFromName`: the hex after `snapshot.`, ignoring later dot-separated parts.
pub fn zxid_from_name(name: &str) -> Option<i64> {
    let mut parts = name.split('.');
    if parts.next() != Some(SNAPSHOT_FILE_PREFIX) {
        return None;
    }
    let hex = parts.next()?;
    i64::from_str_radix(hex, 16).ok()
}

/// `snapshot.<zxid lowercase hex><extension>`.
pub fn snapshot_file_name(zxid: i64, compression: SnapshotCompression) -> String {
    format!("{SNAPSHOT_FILE_PREFIX}.{zxid:x}{}", compression.extension())
}

/// Write atomically enough that a crash leaves either no file or an invalid one the loader
/// skips: the bytes go to a hidden temporary file that is renamed into place once complete.
pub fn write_snapshot(
    snap_dir: &Path,
    zxid: i64,
    tree: &DataTree,
    sessions: &[(i64, i32)],
    compression: SnapshotCompression,
    fsync: bool,
) -> Result<PathBuf, SnapshotError> {
    let file = SnapshotFile {
        snap_dir,
        zxid,
        compression,
        fsync,
        pacing: Pacing::Blocking,
    };
    let path = file.path();
    tracing::info!("Snapshotting: 0x{zxid:x} to {}", path.display());
    let mut body = |out: &mut dyn Write| write_checked(out, tree, sessions).map(drop);
    file.write(&mut body)
        .map_err(|e| SnapshotError::io(&path, e))?;
    tracing::info!(file = %path.display(), "snapshot written");
    Ok(path)
}

/// How a snapshot file shares the disk with the txn log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pacing {
    /// Something waits for the file (start-up, a learner's sync, a restore): as fast as the
    /// disk goes.
    Blocking,
    /// Written while clients are served: yields the disk to the txn log ([`PacedFile`]).
    Background,
}

/// One snapshot file to write, atomically enough that a crash leaves either no file or an
/// invalid one the loader skips: the bytes go to a hidden temporary file that is renamed into
/// place once complete (and, with `fsync`, the directory synced).
pub(super) struct SnapshotFile<'a> {
    pub(super) snap_dir: &'a Path,
    pub(super) zxid: i64,
    pub(super) compression: SnapshotCompression,
    pub(super) fsync: bool,
    pub(super) pacing: Pacing,
}

impl SnapshotFile<'_> {
    fn name(&self) -> String {
        snapshot_file_name(self.zxid, self.compression)
    }

    pub(super) fn path(&self) -> PathBuf {
        self.snap_dir.join(self.name())
    }

    /// Lets `body` write the uncompressed stream; on failure the temporary file is removed.
    pub(super) fn write(
        &self,
        body: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
    ) -> io::Result<PathBuf> {
        // A leading dot keeps the name from parsing as a snapshot (`Util.getZxidFromName`).
        let tmp = self.snap_dir.join(format!(".{}.tmp", self.name()));
        let path = self.path();
        let result = write_compressed(&tmp, self.compression, self.fsync, self.pacing, body)
            .and_then(|()| fs::rename(&tmp, &path))
            .and_then(|()| {
                if self.fsync {
                    File::open(self.snap_dir)?.sync_all()
                } else {
                    Ok(())
                }
            });
        match result {
            Ok(()) => Ok(path),
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                Err(e)
            }
        }
    }
}

/// Bytes of snapshot written between two flushes to the disk, when snapshots are fsynced.
const SYNC_EVERY: u64 = 1 << 20;

/// While the txn log is being fsynced, a snapshot waits this many times as long as its last
/// flush took before writing on: it takes at most a quarter of the disk's time from clients
/// waiting for their writes, and runs at full speed when nobody writes.
const YIELD_FACTOR: u32 = 3;

/// A snapshot file that, when fsynced at all, is flushed to the disk every [`SYNC_EVERY`]
/// bytes instead of only at the end, and in the background yields the disk to the txn log. A
/// log write queued behind hundreds of MiB of snapshot writeback waits for all of it; one
/// behind a snapshot that writes back flat out waits for part of it every time. Both are what
/// a client waiting for its write ack would see. (The block layer's I/O priorities do not
/// help: the devices of virtual machines mostly have no scheduler that honours them.)
///
/// Measured on a 2M-znode tree snapshotted over and over under 16 × 4 setData, against one
/// flush at the end: p999 8.6–10 ms instead of 117–307 ms, p99 4.4–4.5 instead of 6.4–7.0 ms.
struct PacedFile {
    file: File,
    unsynced: u64,
    sync: bool,
    pacing: Pacing,
    log_syncs: u64,
}

impl Write for PacedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.unsynced += n as u64;
        if self.sync && self.unsynced >= SYNC_EVERY {
            let started = Instant::now();
            self.file.sync_data()?;
            self.unsynced = 0;
            let log_syncs = crate::persist::txnlog::log_syncs();
            if self.pacing == Pacing::Background && log_syncs != self.log_syncs {
                self.log_syncs = log_syncs;
                std::thread::sleep(started.elapsed() * YIELD_FACTOR);
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Creates `tmp` and lets `body` write the uncompressed stream into it through the chosen
/// compression (`SnapStream#getOutputStream`); fsyncs the file if asked.
fn write_compressed(
    tmp: &Path,
    compression: SnapshotCompression,
    fsync: bool,
    pacing: Pacing,
    body: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let paced = PacedFile {
        file: File::create(tmp)?,
        unsynced: 0,
        sync: fsync,
        pacing,
        log_syncs: crate::persist::txnlog::log_syncs(),
    };
    let mut file = BufWriter::with_capacity(1 << 20, paced);
    match compression {
        SnapshotCompression::None => body(&mut file)?,
        SnapshotCompression::Gzip => {
            let mut gz = flate2::write::GzEncoder::new(&mut file, flate2::Compression::default());
            body(&mut gz)?;
            gz.finish()?;
        }
        SnapshotCompression::Snappy => {
            let mut x = xerial::XerialWriter::new(&mut file);
            body(&mut x)?;
            x.finish()?;
        }
    }
    let paced = file.into_inner().map_err(|e| e.into_error())?;
    if fsync {
        paced.file.sync_all()?;
    }
    Ok(())
}

/// `FileSnap#serialize` into `out`: header, body, seal, and the digest + seal.
fn write_checked<W: Write>(out: W, tree: &DataTree, sessions: &[(i64, i32)]) -> io::Result<W> {
    let mut w = CheckedWriter::new(out);
    format::write_header(&mut w)?;
    format::write_sessions(&mut w, sessions)?;
    format::write_tree(&mut w, tree)?;
    w.seal()?;
    if tree.options().digest_enabled {
        format::write_digest(&mut w, tree.last_processed_zxid(), tree.digest())?;
        w.seal()?;
    }
    let mut out = w.into_inner()?;
    out.flush()?;
    Ok(out)
}

/// Loads one snapshot file (compression from its name, zxid from its name).
pub fn read_snapshot(
    path: &Path,
    tree_options: TreeOptions,
) -> Result<SnapshotData, SnapshotError> {
    read_snapshot_with_limit(path, tree_options, DEFAULT_MAX_ITEM)
}

/// [`read_snapshot`] with a different longest string/buffer (`jute.maxbuffer` + extra).
pub fn read_snapshot_with_limit(
    path: &Path,
    tree_options: TreeOptions,
    max_item: usize,
) -> Result<SnapshotData, SnapshotError> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let zxid = zxid_from_name(name).ok_or_else(|| SnapshotError::BadName(path.to_path_buf()))?;
    let file = File::open(path).map_err(|e| SnapshotError::io(path, e))?;
    let len = file
        .metadata()
        .map_err(|e| SnapshotError::io(path, e))?
        .len();
    let file = BufReader::with_capacity(1 << 20, file);
    let result = match SnapshotCompression::of_file_name(name) {
        SnapshotCompression::None => {
            // Nothing in a plain file can be longer than the file.
            let cap = max_item.min(usize::try_from(len).unwrap_or(usize::MAX));
            read_checked_sized(file, cap, tree_options, zxid, nodes_in(len, 1))
        }
        SnapshotCompression::Gzip => read_checked_sized(
            flate2::read::MultiGzDecoder::new(file),
            max_item,
            tree_options,
            zxid,
            nodes_in(len, 2),
        ),
        SnapshotCompression::Snappy => read_checked_sized(
            xerial::XerialReader::new(file),
            max_item,
            tree_options,
            zxid,
            nodes_in(len, 2),
        ),
    };
    let (tree, sessions, stored) = result.map_err(|f| SnapshotError::damaged(path, f))?;
    let digest = match stored {
        // `DataTree#deserializeZxidDigest` / `#compareSnapshotDigests`.
        Some((dz, version, d)) if dz > 0 && dz >= zxid && version == DIGEST_VERSION => {
            if dz == zxid {
                if d != tree.digest() {
                    return Err(SnapshotError::DigestMismatch {
                        file: path.to_path_buf(),
                        zxid,
                        stored: d,
                        actual: tree.digest(),
                    });
                }
                None
            } else {
                Some((dz, d))
            }
        }
        _ => None,
    };
    Ok(SnapshotData {
        tree,
        sessions,
        zxid,
        digest,
    })
}

/// A snapshot as the offline tools read it (`FileSnap#deserialize(DataTree, Map, InputArchive)`
/// under `SnapshotFormatter` and `SnapshotComparer`): header, sessions and nodes only; the
/// seal and the stored digest after them are not read, as those tools do not read them.
#[derive(Debug)]
pub struct SnapshotContents {
    pub tree: DataTree,
    /// (session id, timeout ms) in file order; a repeated id keeps its first place and takes
    /// the last timeout, as `HashMap#put` does.
    pub sessions: Vec<(i64, i32)>,
    /// Every node's path in file order, the root as "": the order `DataTree#deserialize`
    /// adds each node to its parent's child set.
    pub paths_in_file_order: Vec<String>,
}

/// Reads `path` for the offline tools; the compression follows the file name
/// (`SnapStream#getInputStream`). Any name is accepted.
pub fn read_snapshot_contents(path: &Path) -> Result<SnapshotContents, SnapshotError> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let zxid = zxid_from_name(name).unwrap_or(0);
    let file = File::open(path).map_err(|e| SnapshotError::io(path, e))?;
    let file = BufReader::with_capacity(1 << 20, file);
    let read = |input: &mut dyn Read| -> Result<SnapshotContents, Fault> {
        let mut r = CheckedReader::new(input, DEFAULT_MAX_ITEM);
        format::read_header(&mut r)?;
        let mut sessions: Vec<(i64, i32)> = Vec::new();
        let mut at = std::collections::HashMap::new();
        for (id, timeout) in format::read_sessions_in_file_order(&mut r)? {
            match at.get(&id) {
                Some(&i) => sessions[i] = (id, timeout),
                None => {
                    at.insert(id, sessions.len());
                    sessions.push((id, timeout));
                }
            }
        }
        let mut paths = Vec::new();
        let tree =
            format::read_tree_observed(&mut r, TreeOptions::default(), zxid, 0, &mut |p: &str| {
                paths.push(p.to_string())
            })?;
        Ok(SnapshotContents {
            tree,
            sessions,
            paths_in_file_order: paths,
        })
    };
    match SnapshotCompression::of_file_name(name) {
        SnapshotCompression::None => read(&mut { file }),
        SnapshotCompression::Gzip => read(&mut flate2::read::MultiGzDecoder::new(file)),
        SnapshotCompression::Snappy => read(&mut xerial::XerialReader::new(file)),
    }
    .map_err(|f| SnapshotError::damaged(path, f))
}

type Loaded = (DataTree, Vec<(i64, i32)>, Option<(i64, i32, i64)>);

/// About how many nodes a snapshot file of `len` bytes holds: a node record is at least
/// 84 bytes plus its path and data, `ratio` the compression assumed.
fn nodes_in(len: u64, ratio: u64) -> usize {
    usize::try_from(len.saturating_mul(ratio) / 128)
        .unwrap_or(0)
        .min(1 << 26)
}

#[cfg(test)]
fn read_checked<R: Read>(
    input: R,
    max_item: usize,
    options: TreeOptions,
    zxid: i64,
) -> Result<Loaded, Fault> {
    read_checked_sized(input, max_item, options, zxid, 0)
}

fn read_checked_sized<R: Read>(
    input: R,
    max_item: usize,
    options: TreeOptions,
    zxid: i64,
    nodes: usize,
) -> Result<Loaded, Fault> {
    let mut r = CheckedReader::new(input, max_item);
    format::read_header(&mut r)?;
    let sessions = format::read_sessions(&mut r)?;
    let tree = format::read_tree_sized(&mut r, options, zxid, nodes)?;
    format::check_seal(&mut r)?;
    let mut digest = None;
    if options.digest_enabled {
        digest = format::read_digest(&mut r)?;
        if digest.is_some() {
            format::check_seal(&mut r)?;
        }
    }
    Ok((tree, sessions, digest))
}

/// A snapshot streamed into the AdminServer's `restore` (3.9's
/// `ZKDatabase#deserializeSnapshot(InputArchive, CheckedInputStream)`).
#[derive(Debug)]
pub struct StreamedSnapshot {
    pub tree: DataTree,
    pub sessions: Vec<(i64, i32)>,
    /// The last processed zxid 3.9 appends after the digest; `None` in a 3.8 snapshot.
    pub last_processed_zxid: Option<i64>,
}

/// Reads an uncompressed snapshot (3.9 reads the stream raw, whatever compression wrote
/// it): header, sessions, nodes, seal; then, if present, the digest and its seal, and the
/// last processed zxid and its seal. A stored digest that disagrees with the tree is logged,
/// as `DataTree#compareSnapshotDigests` does; the restore goes on.
pub fn read_snapshot_stream<R: Read>(
    input: R,
    tree_options: TreeOptions,
) -> Result<StreamedSnapshot, SnapshotError> {
    let mut r = CheckedReader::new(input, DEFAULT_MAX_ITEM);
    let mut parse = || -> Result<_, Fault> {
        format::read_header(&mut r)?;
        let sessions = format::read_sessions(&mut r)?;
        let tree = format::read_tree_sized(&mut r, tree_options, 0, 0)?;
        format::check_seal(&mut r)?;
        let digest = format::read_digest(&mut r)?;
        if digest.is_some() {
            format::check_seal(&mut r)?;
        }
        let last = r.i64_or_eof("lastZxid")?;
        if last.is_some() {
            format::check_seal(&mut r)?;
        }
        Ok((tree, sessions, digest, last))
    };
    let (tree, sessions, digest, last) =
        parse().map_err(|f| SnapshotError::damaged(Path::new("<restore stream>"), f))?;
    if let (Some((dz, version, stored)), Some(last)) = (digest, last) {
        if tree_options.digest_enabled
            && dz == last
            && version == DIGEST_VERSION
            && stored != tree.digest()
        {
            tracing::error!(
                zxid = format_args!("0x{dz:x}"),
                stored,
                actual = tree.digest(),
                "restored snapshot's digest does not match its tree"
            );
        }
    }
    Ok(StreamedSnapshot {
        tree,
        sessions,
        last_processed_zxid: last,
    })
}

/// `SnapStream#isValidSnapshot`: a plain file must be ≥ 10 bytes and end with int 1 + '/'
/// (the seal's "/"); a compressed one must start with its format's magic.
pub fn is_valid_snapshot(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    if zxid_from_name(name).is_none() {
        return false;
    }
    let check = || -> io::Result<bool> {
        let mut f = File::open(path)?;
        match SnapshotCompression::of_file_name(name) {
            SnapshotCompression::None => {
                if f.metadata()?.len() < 10 {
                    return Ok(false);
                }
                f.seek(SeekFrom::End(-5))?;
                let mut tail = [0u8; 5];
                f.read_exact(&mut tail)?;
                Ok(tail == [0, 0, 0, 1, b'/'])
            }
            SnapshotCompression::Gzip => {
                let mut magic = [0u8; 2];
                f.read_exact(&mut magic)?;
                Ok(magic == [0x1f, 0x8b])
            }
            SnapshotCompression::Snappy => {
                let mut magic = [0u8; 8];
                f.read_exact(&mut magic)?;
                Ok(magic == xerial::MAGIC)
            }
        }
    };
    match check() {
        Ok(valid) => valid,
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "invalid snapshot");
            false
        }
    }
}

/// Files in `snap_dir` whose names parse as snapshots, newest first (`Util#sortDataDir`).
fn sorted_snapshots(snap_dir: &Path) -> Vec<(i64, PathBuf)> {
    let Ok(entries) = fs::read_dir(snap_dir) else {
        return Vec::new();
    };
    let mut v: Vec<(i64, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name();
            let zxid = zxid_from_name(name.to_str()?)?;
            Some((zxid, e.path()))
        })
        .collect();
    v.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    v
}

/// Newest first, at most n, only names that parse and pass [`is_valid_snapshot`]
/// (`FileSnap#findNValidSnapshots`).
pub fn find_snapshots(snap_dir: &Path, n: usize) -> Vec<PathBuf> {
    sorted_snapshots(snap_dir)
        .into_iter()
        .map(|(_, p)| p)
        .filter(|p| is_valid_snapshot(p))
        .take(n)
        .collect()
}

/// `FileSnap#findNRecentSnapshots`: newest first, names only, no validity check.
pub fn find_recent_snapshots(snap_dir: &Path, n: usize) -> Vec<PathBuf> {
    sorted_snapshots(snap_dir)
        .into_iter()
        .map(|(_, p)| p)
        .take(n)
        .collect()
}

/// `FileSnap#deserialize`: the newest of the last 100 valid-looking snapshots that loads;
/// a damaged one is skipped with a warning naming it. `Ok(None)` when there is none at
/// all; an error when there are some but none loads.
pub fn load_newest_valid(
    snap_dir: &Path,
    tree_options: TreeOptions,
) -> Result<Option<SnapshotData>, SnapshotError> {
    let candidates = find_snapshots(snap_dir, SNAPSHOTS_TO_TRY);
    if candidates.is_empty() {
        return Ok(None);
    }
    for path in candidates {
        tracing::info!("Reading snapshot {}", path.display());
        match read_snapshot(&path, tree_options) {
            Ok(data) => return Ok(Some(data)),
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "problem reading snap file")
            }
        }
    }
    Err(SnapshotError::NoValidSnapshot(snap_dir.to_path_buf()))
}

/// The SNAP sync payload (`SerializeUtils#serializeSnapshot`): sessions, ACL map, nodes,
/// "/". No header, checksum or digest; ZAB appends the "BenWasHere" signature itself.
pub fn serialize_snap_stream(
    tree: &DataTree,
    sessions: &[(i64, i32)],
    out: &mut impl Write,
) -> io::Result<()> {
    let mut w = CheckedWriter::new(out);
    format::write_sessions(&mut w, sessions)?;
    format::write_tree(&mut w, tree)?;
    w.into_inner().map(drop)
}

/// The head of a SNAP payload streamed from a [`SnapshotJob::start`] job: the
/// sessions and the ACL map the job returned; its node records follow, then
/// [`write_snap_stream_end`]. For a still tree the three are [`serialize_snap_stream`]'s bytes.
pub fn write_snap_stream_head(
    sessions: &[(i64, i32)],
    acls: &[(i64, std::sync::Arc<Vec<crate::jute::data::Acl>>)],
    out: &mut Vec<u8>,
) -> io::Result<()> {
    let mut w = CheckedWriter::new(out);
    format::write_sessions(&mut w, sessions)?;
    format::write_acl_map(&mut w, acls.iter().map(|(id, l)| (*id, l.as_slice())))?;
    w.into_inner().map(drop)
}

/// The end of a streamed SNAP payload's nodes (`DataTree#serializeNodes`'s "/").
pub fn write_snap_stream_end(out: &mut Vec<u8>) {
    out.extend_from_slice(&1i32.to_be_bytes());
    out.push(b'/');
}

/// Reads a SNAP payload from the front of `input`; returns the tree (its last processed
/// zxid left 0 for the caller to set from the SNAP packet), the sessions and the bytes used.
#[allow(clippy::type_complexity)] // the signature the pipeline expects
pub fn deserialize_snap_stream(
    input: &[u8],
    tree_options: TreeOptions,
) -> Result<(DataTree, Vec<(i64, i32)>, usize), SnapshotError> {
    let mut r = CheckedReader::new(input, DEFAULT_MAX_ITEM.min(input.len()));
    let parse = |r: &mut CheckedReader<&[u8]>| -> Result<_, Fault> {
        let sessions = format::read_sessions(r)?;
        let tree = format::read_tree(r, tree_options, 0)?;
        Ok((tree, sessions))
    };
    let (tree, sessions) =
        parse(&mut r).map_err(|f| SnapshotError::damaged(Path::new("<SNAP stream>"), f))?;
    let used = usize::try_from(r.offset()).unwrap_or(input.len());
    Ok((tree, sessions, used))
}

/// [`deserialize_snap_stream`] over a byte stream (a learner's socket): reads exactly the
/// payload's bytes and nothing after it (no read-ahead), so the caller can go on reading the
/// stream — the "BenWasHere" signature and the packets behind it. Strings and buffers are
/// capped at `jute.maxbuffer` + extrasize, as `BinaryInputArchive#checkLength` does.
pub fn read_snap_stream<R: Read>(
    input: &mut R,
    tree_options: TreeOptions,
) -> Result<(DataTree, Vec<(i64, i32)>), SnapshotError> {
    let mut r = CheckedReader::new(input, DEFAULT_MAX_ITEM);
    let mut parse = || -> Result<_, Fault> {
        let sessions = format::read_sessions(&mut r)?;
        let tree = format::read_tree(&mut r, tree_options, 0)?;
        Ok((tree, sessions))
    };
    parse().map_err(|f| SnapshotError::damaged(Path::new("<SNAP stream>"), f))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod live_tests;
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
