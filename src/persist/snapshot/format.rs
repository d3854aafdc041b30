//! The snapshot body: `SerializeUtils#serializeSnapshot` / `#deserializeSnapshot` (sessions,
//! then `DataTree#serialize`: `ReferenceCountedACLCache#serialize` and the nodes depth-first
//! from the root "", ended by the path "/"), the `FileHeader`, and `DataTree.ZxidDigest`.
//!
//! Invariants: a parent is always written before its children; the reader builds the tree
//! through [`TreeBuilder`], so every structural error carries the offset of its node.

use std::io::{self, Read, Write};

use super::stream::{CheckedReader, CheckedWriter, FaultKind, ReadResult};
use crate::javaorder::{child_set_capacity, copy_capacity, long_hash, sort_like_java, string_hash};
use crate::jute::data::{Acl, Id, StatPersisted};
use crate::jute::persistence::SNAP_MAGIC;
use crate::tree::{
    digest, DataNode, DataTree, NodePreparer, PreparedBatch, TreeBuilder, TreeOptions,
};

/// `FileSnap.VERSION`.
pub(super) const SNAP_VERSION: i32 = 2;
/// `FileSnap.dbId`.
pub(super) const SNAP_DBID: i64 = -1;

pub(super) fn write_header<W: Write>(w: &mut CheckedWriter<W>) -> io::Result<()> {
    w.i32(SNAP_MAGIC)?;
    w.i32(SNAP_VERSION)?;
    w.i64(SNAP_DBID)
}

/// `FileSnap#deserialize` checks only the magic.
pub(super) fn read_header<R: Read>(r: &mut CheckedReader<R>) -> ReadResult<()> {
    let magic = r.i32("file header")?;
    r.i32("file header")?;
    r.i64("file header")?;
    if magic != SNAP_MAGIC {
        return Err(r.fault(
            0,
            FaultKind::Invalid(format!(
                "mismatching magic headers {magic:#010x} != {SNAP_MAGIC:#010x}"
            )),
        ));
    }
    Ok(())
}

pub(super) fn write_sessions<W: Write>(
    w: &mut CheckedWriter<W>,
    sessions: &[(i64, i32)],
) -> io::Result<()> {
    let mut s = sessions.to_vec();
    let cap = copy_capacity(s.len());
    sort_like_java(&mut s, cap, |e| long_hash(e.0), |e| e.0);
    w.i32(i32::try_from(s.len()).unwrap_or(i32::MAX))?;
    for (id, timeout) in s {
        w.i64(id)?;
        w.i32(timeout)?;
    }
    Ok(())
}

pub(super) fn read_sessions<R: Read>(r: &mut CheckedReader<R>) -> ReadResult<Vec<(i64, i32)>> {
    // A later entry for the same id replaces the earlier one (it is a map).
    let map: std::collections::BTreeMap<i64, i32> =
        read_sessions_in_file_order(r)?.into_iter().collect();
    Ok(map.into_iter().collect())
}

/// The session entries exactly as the file lists them, duplicates included.
pub(super) fn read_sessions_in_file_order<R: Read>(
    r: &mut CheckedReader<R>,
) -> ReadResult<Vec<(i64, i32)>> {
    let count = r.i32("session count")?;
    let mut v = Vec::new();
    for _ in 0..count.max(0) {
        let id = r.i64("session id")?;
        let timeout = r.i32("session timeout")?;
        v.push((id, timeout));
    }
    Ok(v)
}

fn write_acl_list<W: Write>(w: &mut CheckedWriter<W>, acls: &[Acl]) -> io::Result<()> {
    w.i32(i32::try_from(acls.len()).unwrap_or(i32::MAX))?;
    for a in acls {
        w.i32(a.perms)?;
        w.string(&a.id.scheme)?;
        w.string(&a.id.id)?;
    }
    Ok(())
}

fn read_acl_list<R: Read>(r: &mut CheckedReader<R>) -> ReadResult<Vec<Acl>> {
    let at = r.offset();
    let n = r.i32("acl count")?;
    if n < 0 {
        // `startVector` returns null for -1, which the reference refuses here.
        return Err(r.fault(at, FaultKind::Invalid("missing acls".into())));
    }
    let mut v = Vec::new();
    for _ in 0..n {
        let perms = r.i32("acl perms")?;
        let scheme = r.string("acl scheme")?;
        let id = r.string("acl id")?;
        v.push(Acl {
            perms,
            id: Id { scheme, id },
        });
    }
    Ok(v)
}

/// Appends a Jute `buffer` (length, bytes; null as -1) to `out`.
fn put_buffer(out: &mut Vec<u8>, b: Option<&[u8]>) -> io::Result<()> {
    match b {
        None => out.extend_from_slice(&(-1i32).to_be_bytes()),
        Some(b) => {
            let len = i32::try_from(b.len()).map_err(|_| {
                io::Error::new(io::ErrorKind::InvalidInput, "item longer than 2 GiB")
            })?;
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(b);
        }
    }
    Ok(())
}

/// One node record as `DataTree#serializeNode` writes it: path, data, ACL id and
/// `StatPersisted`, appended to `out`. Pure, so the core can encode while the tree is live.
pub fn encode_node(
    out: &mut Vec<u8>,
    path: &str,
    data: Option<&[u8]>,
    acl_id: i64,
    s: &StatPersisted,
) -> io::Result<()> {
    put_buffer(out, Some(path.as_bytes()))?;
    put_buffer(out, data)?;
    out.extend_from_slice(&acl_id.to_be_bytes());
    for v in [s.czxid, s.mzxid, s.ctime, s.mtime] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    for v in [s.version, s.cversion, s.aversion] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out.extend_from_slice(&s.ephemeral_owner.to_be_bytes());
    out.extend_from_slice(&s.pzxid.to_be_bytes());
    Ok(())
}

/// `ReferenceCountedACLCache#serialize`: the map in the order a Java copy of it iterates.
pub(super) fn write_acl_map<'a, W: Write>(
    w: &mut CheckedWriter<W>,
    entries: impl Iterator<Item = (i64, &'a [Acl])>,
) -> io::Result<()> {
    let mut acls: Vec<(i64, &[Acl])> = entries.collect();
    let cap = copy_capacity(acls.len());
    sort_like_java(&mut acls, cap, |e| long_hash(e.0), |e| e.0);
    w.i32(i32::try_from(acls.len()).unwrap_or(i32::MAX))?;
    for (id, list) in acls {
        w.i64(id)?;
        write_acl_list(w, list)?;
    }
    Ok(())
}

/// Bytes of a node's ACL id (a long) and its `StatPersisted` (five longs, three ints, and
/// one more long), which always follow one another.
const ACL_AND_STAT_LEN: usize = 8 + 4 * 8 + 3 * 4 + 2 * 8;

/// A node's ACL id and stat, read as one item: a million nodes make ten million reads
/// otherwise, each with its own checksum bookkeeping.
fn read_acl_and_stat<R: Read>(r: &mut CheckedReader<R>) -> ReadResult<(i64, StatPersisted)> {
    let b: [u8; ACL_AND_STAT_LEN] = r.array("node acl and stat")?;
    let mut f = Fields { b: &b, at: 0 };
    let acl_id = f.i64();
    let stat = StatPersisted {
        czxid: f.i64(),
        mzxid: f.i64(),
        ctime: f.i64(),
        mtime: f.i64(),
        version: f.i32(),
        cversion: f.i32(),
        aversion: f.i32(),
        ephemeral_owner: f.i64(),
        pzxid: f.i64(),
    };
    Ok((acl_id, stat))
}

/// Big-endian fields taken in order from a fixed-size record.
struct Fields<'a> {
    b: &'a [u8; ACL_AND_STAT_LEN],
    at: usize,
}

impl Fields<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut x = [0u8; N];
        if let Some(src) = self.b.get(self.at..self.at + N) {
            x.copy_from_slice(src);
        }
        self.at += N;
        x
    }

    fn i64(&mut self) -> i64 {
        i64::from_be_bytes(self.take())
    }

    fn i32(&mut self) -> i32 {
        i32::from_be_bytes(self.take())
    }
}

/// `DataTree#serialize`: the ACL map, every node depth-first, then "/".
pub(super) fn write_tree<W: Write>(w: &mut CheckedWriter<W>, tree: &DataTree) -> io::Result<()> {
    write_acl_map(w, tree.acl_cache().iter().map(|(id, l)| (id, l.as_slice())))?;
    if let Some(root) = tree.node("/") {
        // One path buffer for the walk: each entry is (its parent's path length, name, node).
        let mut path = String::new();
        let mut stack: Vec<(usize, &str, &DataNode)> = vec![(0, "", root)];
        let mut children: Vec<(&str, &DataNode)> = Vec::new();
        while let Some((parent_len, name, node)) = stack.pop() {
            path.truncate(parent_len);
            if parent_len > 0 || !name.is_empty() {
                path.push('/');
                path.push_str(name);
            }
            w.append(|block| {
                encode_node(
                    block,
                    &path,
                    node.data.as_deref(),
                    node.acl_id(),
                    &node.stat,
                )
            })?;
            if node.num_children() == 0 {
                continue;
            }
            children.clear();
            children.extend(tree.child_nodes(node));
            let cap = child_set_capacity(children.len());
            sort_like_java(
                &mut children,
                cap,
                |e| string_hash(e.0),
                |e| (e.1.stat.czxid, e.0),
            );
            // Reversed onto the stack so they pop in order.
            let len = path.len();
            stack.extend(children.iter().rev().map(|&(n, c)| (len, n, c)));
        }
    }
    w.string("/")
}

/// `DataTree#deserialize` into a builder; `zxid` becomes the tree's last processed zxid.
pub(super) fn read_tree<R: Read>(
    r: &mut CheckedReader<R>,
    options: TreeOptions,
    zxid: i64,
) -> ReadResult<DataTree> {
    read_tree_sized(r, options, zxid, 0)
}

/// [`read_tree`] into a tree with room for about `nodes` nodes, so the node table and its
/// index do not grow (and rehash) step by step. Decoding (and the checksum) stays on this
/// thread, which also builds each node whole while its bytes are hot, and a second thread
/// links batches of them into the tree: a restart or a learner's SNAP waits for both.
pub(super) fn read_tree_sized<R: Read>(
    r: &mut CheckedReader<R>,
    options: TreeOptions,
    zxid: i64,
    nodes: usize,
) -> ReadResult<DataTree> {
    let mut b = TreeBuilder::with_capacity(options, nodes);
    read_acl_map(r, &mut b)?;
    let mut preparer = b.preparer();
    let (batches, to_build) = std::sync::mpsc::sync_channel::<DecodedBatch>(BATCHES_IN_FLIGHT);
    std::thread::scope(|scope| {
        let builder = std::thread::Builder::new()
            .name("snapshot-load".into())
            .spawn_scoped(scope, move || -> Result<DataTree, (Option<u64>, String)> {
                for (offsets, batch) in to_build {
                    b.add_batch(batch)
                        .map_err(|(i, e)| (offsets.get(i).copied(), e.to_string()))?;
                }
                b.finish(zxid).map_err(|e| (None, e.to_string()))
            })
            .map_err(|e| r.fault(r.offset(), FaultKind::Io(e)))?;
        let decoded = decode_nodes(r, &mut preparer, &batches);
        drop(batches);
        let end = r.offset();
        let built = builder
            .join()
            .unwrap_or_else(|_| Err((Some(end), "the tree builder thread panicked".to_string())));
        // The first problem in file order: a node the builder refused comes before any
        // decoding error (it was decoded), which comes before what `finish` finds missing.
        match (built, decoded) {
            (Err((Some(at), e)), _) => Err(r.fault(at, FaultKind::Invalid(e))),
            (_, Err(fault)) => Err(fault),
            (built, Ok(())) => built.map_err(|(_, e)| r.fault(end, FaultKind::Invalid(e))),
        }
    })
}

/// Batches decoded ahead of the builder.
const BATCHES_IN_FLIGHT: usize = 8;

/// A batch of prepared nodes and the offset each of its records started at.
type DecodedBatch = (Vec<u64>, PreparedBatch);

/// Decodes node records up to the closing "/" into `batches`; stops early (returning Ok)
/// if the builder stopped taking them, which then has the error to report.
fn decode_nodes<R: Read>(
    r: &mut CheckedReader<R>,
    preparer: &mut NodePreparer,
    batches: &std::sync::mpsc::SyncSender<DecodedBatch>,
) -> ReadResult<()> {
    let mut offsets = Vec::new();
    while read_node(r, preparer, &mut offsets, &mut |_| {})? {
        if preparer.batch_is_full() {
            let batch = (std::mem::take(&mut offsets), preparer.take_batch());
            if batches.send(batch).is_err() {
                return Ok(());
            }
        }
    }
    let last = preparer.take_batch();
    if !last.is_empty() {
        let _ = batches.send((offsets, last));
    }
    Ok(())
}

/// Reads one node record into `preparer` (noting where it started in `offsets`, and
/// showing its path to `on_path`); false at the closing "/".
fn read_node<R: Read>(
    r: &mut CheckedReader<R>,
    preparer: &mut NodePreparer,
    offsets: &mut Vec<u64>,
    on_path: &mut dyn FnMut(&str),
) -> ReadResult<bool> {
    let at = r.offset();
    let path = r.string("path")?;
    if path == "/" {
        return Ok(false);
    }
    on_path(&path);
    let data = r.buffer("node data")?.map(Vec::into_boxed_slice);
    let (acl_id, stat) = read_acl_and_stat(r)?;
    offsets.push(at);
    preparer.prepare(path, data, acl_id, stat);
    Ok(true)
}

fn read_acl_map<R: Read>(r: &mut CheckedReader<R>, b: &mut TreeBuilder) -> ReadResult<()> {
    let count = r.i32("acl map size")?;
    for _ in 0..count.max(0) {
        let id = r.i64("acl id")?;
        let list = read_acl_list(r)?;
        b.add_acl(id, list);
    }
    Ok(())
}

/// [`read_tree_sized`] on one thread that also hands each node's path to `on_path`, in
/// file order.
pub(super) fn read_tree_observed<R: Read>(
    r: &mut CheckedReader<R>,
    options: TreeOptions,
    zxid: i64,
    nodes: usize,
    on_path: &mut dyn FnMut(&str),
) -> ReadResult<DataTree> {
    let mut b = TreeBuilder::with_capacity(options, nodes);
    read_acl_map(r, &mut b)?;
    let mut preparer = b.preparer();
    let mut offsets = Vec::new();
    loop {
        let more = read_node(r, &mut preparer, &mut offsets, on_path)?;
        if !more || preparer.batch_is_full() {
            let at = r.offset();
            b.add_batch(preparer.take_batch()).map_err(|(i, e)| {
                let at = offsets.get(i).copied().unwrap_or(at);
                r.fault(at, FaultKind::Invalid(e.to_string()))
            })?;
            offsets.clear();
        }
        if !more {
            break;
        }
    }
    let end = r.offset();
    b.finish(zxid)
        .map_err(|e| r.fault(end, FaultKind::Invalid(e.to_string())))
}

/// `SnapStream#checkSealIntegrity`.
pub(super) fn check_seal<R: Read>(r: &mut CheckedReader<R>) -> ReadResult<()> {
    let expected = r.checksum();
    let at = r.offset();
    let val = r.i64("checksum")?;
    r.string("checksum seal")?;
    if val != expected {
        return Err(r.fault(
            at,
            FaultKind::Invalid(format!(
                "CRC corruption: stored {val:#x}, computed {expected:#x}"
            )),
        ));
    }
    Ok(())
}

/// `ZxidDigest`: a zxid and the tree digest as of that zxid.
pub(super) fn write_digest<W: Write>(
    w: &mut CheckedWriter<W>,
    zxid: i64,
    digest: i64,
) -> io::Result<()> {
    w.i64(zxid)?;
    w.i32(digest::DIGEST_VERSION)?;
    w.i64(digest)
}

/// A stored `ZxidDigest`: `None` at end of stream (a snapshot from before digests).
pub(super) fn read_digest<R: Read>(
    r: &mut CheckedReader<R>,
) -> ReadResult<Option<(i64, i32, i64)>> {
    let Some(zxid) = r.i64_or_eof("digest zxid")? else {
        return Ok(None);
    };
    let version = r.i32("digest version")?;
    let digest = if version < 2 {
        // Older servers wrote the digest as a hex string.
        let at = r.offset();
        let text = r.buffer("digest")?;
        match text {
            None => 0,
            Some(t) => {
                let s = String::from_utf8_lossy(&t).into_owned();
                i64::from_str_radix(&s, 16)
                    .map_err(|_| r.fault(at, FaultKind::Invalid(format!("bad hex digest {s:?}"))))?
            }
        }
    } else {
        r.i64("digest")?
    };
    Ok(Some((zxid, version, digest)))
}
