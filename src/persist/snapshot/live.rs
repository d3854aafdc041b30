//! The traversal of a fuzzy snapshot taken from the live tree (`DataTree#serialize` /
//! `#serializeNode` while `FinalRequestProcessor` keeps applying txns): the core calls
//! [`SnapshotJob::step`] between requests, each call encoding a bounded number of nodes, and
//! the txns applied in between are repaired by replaying the log from [`SnapshotJob::zxid`].
//!
//! Invariants:
//! - nodes come out depth-first, a parent before its children, each directory's children in
//!   the order the reference's `HashSet` iterates them (as `format::write_tree`);
//! - only nodes that existed at the start are written (czxid ≤ the start zxid). Anything
//!   created later is re-created by replay; writing it could leave a node whose replayed
//!   delete of an earlier incarnation would orphan its children;
//! - a child deleted before its turn is skipped: the replayed delete moves its parent's pzxid
//!   forward even though the child is missing (`DataTree::apply`);
//! - the ACL map goes out before any node, in a file as in a learner's SNAP, so it is the
//!   cache as it stood at the start zxid ([`SnapshotJob::start`]), and the nodes stream
//!   straight into place behind it. Every id a written node refers to is in the map or is -1
//!   (`OPEN_UNSAFE_ACL_ID`, which 3.8's `ReferenceCountedACLCache#convertLong` accepts
//!   without an entry; any other unknown id makes a 3.8 reader fail with "Failed to fetch
//!   acls for N"). Ids are never reused, so a node's id is missing from the map only if its
//!   ACL was set after the start — by a txn with a zxid above the start zxid, which every
//!   load of the snapshot replays, putting the right ACL back. Such a node is written with
//!   -1 (ACLs are in no digest);
//! - no step does work proportional to the tree or to a directory: a directory's children
//!   are collected in sorted runs of at most one step's budget, then merged.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::io;
use std::sync::Arc;
use std::time::Instant;

use super::format::encode_node;
use crate::javaorder::{bucket, child_set_capacity, string_hash};
use crate::jute::data::Acl;
use crate::tree::{DataNode, DataTree, NodeSlot, OPEN_UNSAFE_ACL_ID};

/// How much one [`SnapshotJob::step`] may do.
#[derive(Debug, Clone, Copy)]
pub struct StepBudget {
    /// Nodes written plus children collected.
    pub max_units: usize,
    /// Stop once the output holds this many bytes.
    pub max_bytes: usize,
    /// Stop at this instant (checked every few nodes).
    pub deadline: Option<Instant>,
}

/// What the file needs after the nodes: the digest trailer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotTail {
    /// `ZxidDigest` as of the end of the traversal; `None` with digests disabled.
    pub digest: Option<(i64, i64)>,
    /// The tree's last processed zxid at the end of the traversal (what 3.9's
    /// `DataTree#serializeLastProcessedZxid` appends).
    pub last_processed_zxid: i64,
}

/// A child waiting for its turn; orders as the reference's child set iterates.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    bucket: usize,
    czxid: i64,
    name: Box<str>,
    /// Where the child lived when collected; with `czxid` and `name`, how the visit finds it.
    slot: NodeSlot,
}

/// A directory whose node is written and whose children are being collected or visited.
#[derive(Debug)]
struct Frame {
    path: String,
    /// Where the directory lives and its czxid: a child is found through its slot, not by a
    /// lookup per path component (most of a big traversal's time otherwise).
    slot: NodeSlot,
    czxid: i64,
    /// The table size of the reference's child set when the node was written.
    cap: usize,
    /// While collecting: the last name taken; `None` once collection has ended.
    cursor: Option<Box<str>>,
    collecting: bool,
    /// Sorted runs, largest first (so `pop` gives the smallest).
    runs: Vec<Vec<Entry>>,
    heads: BinaryHeap<Reverse<(Entry, usize)>>,
}

impl Frame {
    fn new(path: String, slot: NodeSlot, node: &DataNode) -> Frame {
        let n = usize::try_from(node.num_children()).unwrap_or(0);
        Frame {
            path,
            slot,
            czxid: node.stat.czxid,
            cap: child_set_capacity(n),
            cursor: None,
            collecting: true,
            runs: Vec::new(),
            heads: BinaryHeap::new(),
        }
    }

    fn child_path(&self, name: &str) -> String {
        let mut p = String::with_capacity(self.path.len() + 1 + name.len());
        p.push_str(&self.path);
        p.push('/');
        p.push_str(name);
        p
    }

    /// Takes up to `max` more children (existing at the start zxid) into a new sorted run;
    /// returns how many names it looked at.
    fn collect(&mut self, tree: &DataTree, start_zxid: i64, max: usize) -> usize {
        // deleted (or deleted and created again, which has no child from before the start)
        if !tree
            .node_at(self.slot)
            .is_some_and(|n| n.stat.czxid == self.czxid)
        {
            self.end_collection();
            return 1;
        }
        let mut run = Vec::new();
        let mut seen = 0;
        let mut last = None;
        for (slot, child) in tree.children_after(self.slot, self.cursor.as_deref()) {
            if seen == max {
                break;
            }
            seen += 1;
            let name = child.name();
            last = Some(name);
            if child.stat.czxid <= start_zxid {
                run.push(Entry {
                    bucket: bucket(string_hash(name), self.cap),
                    czxid: child.stat.czxid,
                    name: name.into(),
                    slot,
                });
            }
        }
        let finished = seen < max;
        self.cursor = last.map(Into::into);
        if !run.is_empty() {
            run.sort_unstable_by(|a, b| b.cmp(a));
            self.runs.push(run);
        }
        if finished {
            self.end_collection();
        }
        seen.max(1)
    }

    fn end_collection(&mut self) {
        self.collecting = false;
        self.cursor = None;
        for (i, run) in self.runs.iter_mut().enumerate() {
            if let Some(e) = run.pop() {
                self.heads.push(Reverse((e, i)));
            }
        }
    }

    /// The next child in visit order, if any is left.
    fn next_child(&mut self) -> Option<Entry> {
        let Reverse((entry, run)) = self.heads.pop()?;
        if let Some(e) = self.runs.get_mut(run).and_then(Vec::pop) {
            self.heads.push(Reverse((e, run)));
        }
        Some(entry)
    }
}

/// One fuzzy snapshot in progress.
#[derive(Debug)]
pub struct SnapshotJob {
    zxid: i64,
    root_pending: bool,
    frames: Vec<Frame>,
    /// The ids of the map that went out first; a node with any other is written with -1.
    acl_ids: HashSet<i64>,
    acl_ids_replaced: u64,
    nodes: u64,
}

/// Nodes between two looks at the clock.
const CLOCK_EVERY: usize = 32;

impl SnapshotJob {
    /// Starts at the tree as it stands (the snapshot is named after its last processed
    /// zxid): returns the job and the ACL map to write before the nodes, the ACL cache as of
    /// the start zxid.
    #[allow(clippy::type_complexity)]
    pub fn start(tree: &DataTree) -> (SnapshotJob, Vec<(i64, Arc<Vec<Acl>>)>) {
        let map: Vec<(i64, Arc<Vec<Acl>>)> = tree
            .acl_cache()
            .iter()
            .map(|(id, l)| (id, l.clone()))
            .collect();
        let job = SnapshotJob {
            zxid: tree.last_processed_zxid(),
            root_pending: true,
            frames: Vec::new(),
            acl_ids: map.iter().map(|(id, _)| *id).collect(),
            acl_ids_replaced: 0,
            nodes: 0,
        };
        (job, map)
    }

    /// Nodes written with -1 because their ACL id is newer than the map that went first.
    pub fn acl_ids_replaced(&self) -> u64 {
        self.acl_ids_replaced
    }

    /// The zxid the snapshot is named after; replay starts after it.
    pub fn zxid(&self) -> i64 {
        self.zxid
    }

    /// Nodes written so far.
    pub fn nodes_written(&self) -> u64 {
        self.nodes
    }

    /// True once every node has been written.
    pub fn is_done(&self) -> bool {
        !self.root_pending && self.frames.is_empty()
    }

    /// Appends the next node records to `out` within `budget`; returns the units used (see
    /// [`SnapshotJob::is_done`] for the end). An error means a record could not be encoded
    /// (a length beyond 2 GiB).
    pub fn step(
        &mut self,
        tree: &DataTree,
        out: &mut Vec<u8>,
        budget: StepBudget,
    ) -> io::Result<usize> {
        let mut units = 0;
        let mut since_clock = 0;
        while units < budget.max_units && out.len() < budget.max_bytes {
            if since_clock >= CLOCK_EVERY {
                since_clock = 0;
                if budget.deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
            }
            since_clock += 1;
            if self.root_pending {
                self.root_pending = false;
                if let Some(slot) = tree.slot_of("/") {
                    if let Some(root) = tree.node_at(slot) {
                        self.write(String::new(), slot, root, out)?;
                    }
                }
                units += 1;
                continue;
            }
            let Some(frame) = self.frames.last_mut() else {
                break;
            };
            if frame.collecting {
                units += frame.collect(tree, self.zxid, budget.max_units - units);
                continue;
            }
            units += 1;
            let Some(child) = frame.next_child() else {
                self.frames.pop();
                continue;
            };
            // Gone if deleted since: its slot is then free or holds a node created after the
            // start (a later czxid), such as a later incarnation of the name, which is left
            // to replay like any later create.
            match tree.child_at(frame.slot, child.slot) {
                Some(node) if node.stat.czxid == child.czxid && node.name() == &*child.name => {
                    let path = frame.child_path(&child.name);
                    self.write(path, child.slot, node, out)?
                }
                _ => {}
            }
        }
        Ok(units)
    }

    fn write(
        &mut self,
        path: String,
        slot: NodeSlot,
        node: &DataNode,
        out: &mut Vec<u8>,
    ) -> io::Result<()> {
        let mut acl_id = node.acl_id();
        if acl_id != OPEN_UNSAFE_ACL_ID && !self.acl_ids.contains(&acl_id) {
            // set after the start: the replayed setACL restores it
            acl_id = OPEN_UNSAFE_ACL_ID;
            self.acl_ids_replaced += 1;
        }
        encode_node(out, &path, node.data.as_deref(), acl_id, &node.stat)?;
        self.nodes += 1;
        if node.num_children() > 0 {
            self.frames.push(Frame::new(path, slot, node));
        }
        Ok(())
    }

    /// The digest trailer, taken when the traversal is complete.
    pub fn finish(self, tree: &DataTree) -> SnapshotTail {
        SnapshotTail {
            digest: tree
                .options()
                .digest_enabled
                .then(|| (tree.last_processed_zxid(), tree.digest())),
            last_processed_zxid: tree.last_processed_zxid(),
        }
    }
}
