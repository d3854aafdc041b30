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
//! - a file ([`SnapshotJob::new`]): every ACL id a written node refers to is in
//!   [`SnapshotTail::acls`], even if that ACL was freed since (the writer puts the map
//!   before the nodes once the traversal is over);
//! - a stream ([`SnapshotJob::acl_map_first`], a learner's SNAP): the ACL map goes out
//!   before any node, so it is the cache as it stood at the start zxid, and every id a
//!   written node refers to is in it or is -1 (`OPEN_UNSAFE_ACL_ID`, which 3.8's
//!   `ReferenceCountedACLCache#convertLong` accepts without an entry; any other unknown id
//!   makes a 3.8 learner fail with "Failed to fetch acls for N"). Ids are never reused, so a
//!   node's id is missing from the map only if its ACL was set after the start — by a txn
//!   with a zxid above the start zxid, which the learner replays, putting the right ACL
//!   back. Such a node is written with -1 (ACLs are in no digest);
//! - no step does work proportional to the tree or to a directory: a directory's children
//!   are collected in sorted runs of at most one step's budget, then merged.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashSet};
use std::io;
use std::sync::Arc;
use std::time::Instant;

use super::format::encode_node;
use crate::javaorder::{bucket, child_set_capacity, string_hash};
use crate::jute::data::Acl;
use crate::tree::{DataNode, DataTree, OPEN_UNSAFE_ACL_ID};

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

/// What the file needs after the nodes: the ACL map and the digest trailer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotTail {
    /// Every ACL id a written node refers to, with its list.
    pub acls: Vec<(i64, Arc<Vec<Acl>>)>,
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
}

/// A directory whose node is written and whose children are being collected or visited.
#[derive(Debug)]
struct Frame {
    path: String,
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
    fn new(path: String, node: &DataNode) -> Frame {
        let n = usize::try_from(node.num_children()).unwrap_or(0);
        Frame {
            path,
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
        if tree.node(&self.path).is_none() {
            self.end_collection();
            return 1;
        }
        let mut run = Vec::new();
        let mut seen = 0;
        let mut last = None;
        for (name, child) in tree.children_after(&self.path, self.cursor.as_deref()) {
            if seen == max {
                break;
            }
            seen += 1;
            last = Some(name);
            if child.stat.czxid <= start_zxid {
                run.push(Entry {
                    bucket: bucket(string_hash(name), self.cap),
                    czxid: child.stat.czxid,
                    name: name.into(),
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
    fn next_child(&mut self) -> Option<Box<str>> {
        let Reverse((entry, run)) = self.heads.pop()?;
        if let Some(e) = self.runs.get_mut(run).and_then(Vec::pop) {
            self.heads.push(Reverse((e, run)));
        }
        Some(entry.name)
    }
}

/// Which ACL ids the written nodes may refer to.
#[derive(Debug)]
enum AclIds {
    /// A file: the map is written after the traversal, from the ids the nodes used.
    Collect(BTreeMap<i64, Arc<Vec<Acl>>>),
    /// A stream: the map went out first with these ids; any other is written as -1.
    Fixed { ids: HashSet<i64>, replaced: u64 },
}

/// One fuzzy snapshot in progress.
#[derive(Debug)]
pub struct SnapshotJob {
    zxid: i64,
    root_pending: bool,
    frames: Vec<Frame>,
    acls: AclIds,
    nodes: u64,
}

/// Nodes between two looks at the clock.
const CLOCK_EVERY: usize = 32;

impl SnapshotJob {
    /// Starts at the tree as it stands: the file is named after its last processed zxid.
    pub fn new(tree: &DataTree) -> SnapshotJob {
        SnapshotJob {
            zxid: tree.last_processed_zxid(),
            root_pending: true,
            frames: Vec::new(),
            acls: AclIds::Collect(BTreeMap::new()),
            nodes: 0,
        }
    }

    /// Starts at the tree as it stands, for a stream whose ACL map precedes the nodes (a
    /// SNAP payload): returns the job and that map, the ACL cache as of the start zxid.
    #[allow(clippy::type_complexity)]
    pub fn acl_map_first(tree: &DataTree) -> (SnapshotJob, Vec<(i64, Arc<Vec<Acl>>)>) {
        let map: Vec<(i64, Arc<Vec<Acl>>)> = tree
            .acl_cache()
            .iter()
            .map(|(id, l)| (id, l.clone()))
            .collect();
        let job = SnapshotJob {
            acls: AclIds::Fixed {
                ids: map.iter().map(|(id, _)| *id).collect(),
                replaced: 0,
            },
            ..SnapshotJob::new(tree)
        };
        (job, map)
    }

    /// Nodes written with -1 because their ACL id is newer than the map sent first.
    pub fn acl_ids_replaced(&self) -> u64 {
        match &self.acls {
            AclIds::Collect(_) => 0,
            AclIds::Fixed { replaced, .. } => *replaced,
        }
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
                if let Some(root) = tree.node("/") {
                    self.write(String::new(), root, out)?;
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
            let Some(name) = frame.next_child() else {
                self.frames.pop();
                continue;
            };
            let path = frame.child_path(&name);
            match tree.node(&path) {
                // a later incarnation of the name is left to replay, like any later create
                Some(node) if node.stat.czxid <= self.zxid => self.write(path, node, out)?,
                _ => {}
            }
        }
        Ok(units)
    }

    fn write(&mut self, path: String, node: &DataNode, out: &mut Vec<u8>) -> io::Result<()> {
        let mut acl_id = node.acl_id();
        match &mut self.acls {
            AclIds::Collect(map) => {
                if acl_id != OPEN_UNSAFE_ACL_ID {
                    map.entry(acl_id).or_insert_with(|| node.acl.clone());
                }
            }
            AclIds::Fixed { ids, replaced } => {
                if acl_id != OPEN_UNSAFE_ACL_ID && !ids.contains(&acl_id) {
                    // set after the start: the replayed setACL restores it on the learner
                    acl_id = OPEN_UNSAFE_ACL_ID;
                    *replaced += 1;
                }
            }
        }
        encode_node(out, &path, node.data.as_deref(), acl_id, &node.stat)?;
        self.nodes += 1;
        if node.num_children() > 0 {
            self.frames.push(Frame::new(path, node));
        }
        Ok(())
    }

    /// The ACL map and the digest trailer, taken when the traversal is complete (for a
    /// stream, whose map went out first, the map is empty).
    pub fn finish(self, tree: &DataTree) -> SnapshotTail {
        let acls = match self.acls {
            AclIds::Collect(map) => map.into_iter().collect(),
            AclIds::Fixed { .. } => Vec::new(),
        };
        SnapshotTail {
            acls,
            digest: tree
                .options()
                .digest_enabled
                .then(|| (tree.last_processed_zxid(), tree.digest())),
            last_processed_zxid: tree.last_processed_zxid(),
        }
    }
}
