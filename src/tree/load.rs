//! Rebuilding a [`DataTree`] from snapshot parts: replaces `DataTree#deserialize`,
//! `#setupQuota` / `#traverseNode` and `ReferenceCountedACLCache#deserialize`.
//!
//! Invariants of the result (as the reference leaves them after a load):
//! - every node's parent was loaded before it (snapshots are written depth-first);
//! - ephemeral / container / TTL indexes come from each node's `ephemeralOwner`, classified
//!   with the tree's [`super::EphemeralOptions`]; the root is never indexed;
//! - the digest is the sum over every loaded node (the root hashed once, as "");
//! - the approximate data size is counted *before* quota stat nodes are recounted, so it
//!   keeps the sizes the snapshot stored for them;
//! - ACL cache entries no node uses are dropped, the others count their users.

use std::collections::HashMap;
use std::sync::Arc;

use super::acl_cache::OPEN_UNSAFE_ACL_ID;
use super::arena::{self, CHUNK, NONE, ROOT};
use super::ephemeral::EphemeralType;
use super::node::Name;
use super::quota::{LIMIT_NODE, QUOTA_ZOOKEEPER};
use super::{DataNode, DataTree, TreeOptions};
use crate::jute::data::{Acl, StatPersisted};

/// Why a node could not be added; the snapshot reader adds the file and offset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreeLoadError {
    #[error("node {0:?} appears twice")]
    Duplicate(String),
    #[error("invalid datatree: unable to find parent {parent:?} of path {path:?}")]
    MissingParent { path: String, parent: String },
    #[error("path {0:?} is neither the root \"\" nor absolute")]
    BadPath(String),
    #[error("the snapshot has no root node")]
    NoRoot,
}

/// Snapshot nodes prepared by a [`NodePreparer`] on the decoding thread, while their bytes
/// are still in that core's cache: each new node is built whole (name, ACL, ephemeral kind,
/// its parent's slot and its index hash whenever its parent is on the previous node's
/// path, which depth-first order makes the rule), in the slots it will take, so the
/// builder adopts the vector as a chunk of the arena and only links the nodes in.
#[derive(Debug, Default)]
pub struct PreparedBatch {
    /// The new nodes, in slot order.
    nodes: Vec<DataNode>,
    /// One per node record, in file order.
    records: Vec<Record>,
    /// The wrapping sum of the records' digest terms.
    digest: i64,
    /// The records' share of `approximateDataSize`.
    data_size: i64,
    /// Slots whose subtree ended in this batch (the node after it is not under it), so
    /// their children can be sorted while they are still in cache.
    closed: Vec<u32>,
    /// How many nodes use each ACL id.
    acl_uses: Vec<(i64, u64)>,
}

#[derive(Debug)]
enum Record {
    /// The next of the batch's `nodes`, with its parent's slot and its index hash; the
    /// path is kept for an ephemeral, container or TTL node's index entry.
    Linked {
        parent: u32,
        hash: u64,
        path: Option<String>,
    },
    /// The next of the batch's `nodes`, whose parent the builder looks up by path.
    Unlinked { path: String },
    /// The path "".
    Root(Box<DataNode>),
    /// Neither the root nor an absolute path with a non-empty last component.
    Bad(String),
}

impl PreparedBatch {
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

/// Prepares snapshot nodes in file order (see [`PreparedBatch`]); made by
/// [`TreeBuilder::preparer`] once the ACL map is read and before any node is added.
#[derive(Debug)]
pub struct NodePreparer {
    options: TreeOptions,
    hasher: ahash::RandomState,
    /// The ACL cache's lists: sharing one (a reference count bump, a locked instruction
    /// that waits for the thread's pending stores) is cheaper here than on the builder.
    acls: HashMap<i64, Arc<Vec<Acl>>>,
    /// What a node whose ACL id is missing from the cache gets: no permission for
    /// anyone. The reference keeps the id and fails every later lookup of it; refusing
    /// access is the closest behaviour a shared list can give.
    unknown_acl: Arc<Vec<Acl>>,
    last_acl: Option<(i64, Arc<Vec<Acl>>)>,
    /// The path of the previous node, and the slots of its ancestors (itself included)
    /// with their path lengths ([`NONE`] where the builder has to look the slot up).
    previous: String,
    chain: Vec<(usize, u32)>,
    /// The slot the next new node takes.
    next_slot: usize,
    batch: PreparedBatch,
}

impl NodePreparer {
    fn new(tree: &DataTree) -> Self {
        let acls = &tree.acl_cache;
        let mut lists: HashMap<i64, Arc<Vec<Acl>>> =
            acls.iter().map(|(id, acl)| (id, acl.clone())).collect();
        lists.insert(OPEN_UNSAFE_ACL_ID, acls.open_unsafe());
        NodePreparer {
            options: tree.options,
            hasher: tree.arena.hasher().clone(),
            acls: lists,
            unknown_acl: Arc::new(vec![Acl::new(0, "world", "anyone")]),
            last_acl: None,
            previous: String::new(),
            chain: Vec::new(),
            next_slot: tree.arena.next_slot(),
            batch: PreparedBatch::default(),
        }
    }

    /// One node as the snapshot stores it; `path` is "" for the root. A malformed path is
    /// reported when the builder reaches the node, so errors keep file order.
    pub fn prepare(
        &mut self,
        path: String,
        data: Option<Box<[u8]>>,
        acl_id: i64,
        stat: StatPersisted,
    ) {
        let split = match path.rfind('/') {
            _ if path.is_empty() => None,
            Some(i) if path.starts_with('/') && i + 1 < path.len() => Some(i),
            _ => {
                self.batch.records.push(Record::Bad(path));
                return;
            }
        };
        let acl = match &self.last_acl {
            // Runs of nodes share a list: no map lookup for those.
            Some((id, list)) if *id == acl_id => list.clone(),
            _ => {
                let list = match self.acls.get(&acl_id) {
                    Some(list) => list.clone(),
                    None => {
                        tracing::warn!(
                            path,
                            acl = acl_id,
                            "node refers to an ACL not in the cache"
                        );
                        self.unknown_acl.clone()
                    }
                };
                self.last_acl = Some((acl_id, list.clone()));
                list
            }
        };
        match self.batch.acl_uses.iter_mut().find(|(id, _)| *id == acl_id) {
            Some((_, n)) => *n += 1,
            None => self.batch.acl_uses.push((acl_id, 1)),
        }
        let kind = EphemeralType::of(stat.ephemeral_owner, self.options.ephemeral);
        let mut node = DataNode::new(data, (acl_id, acl), stat);
        node.kind = kind;
        if self.options.digest_enabled {
            self.batch.digest = self.batch.digest.wrapping_add(node.digest(&path));
        }
        self.batch.data_size = self.batch.data_size.saturating_add(match split {
            // The reference's map holds the root twice, as "" and "/".
            None => 2 * node.data_len() as i64 + 1,
            Some(_) => super::node_size(&path, node.data.as_deref()),
        });
        let Some(i) = split else {
            self.previous.clear();
            self.close_chain(0);
            self.chain.push((0, ROOT));
            self.batch.records.push(Record::Root(Box::new(node)));
            return;
        };
        let near = self.previous.as_bytes().get(..i) == Some(&path.as_bytes()[..i]);
        let on_chain = if near {
            self.chain.iter().rposition(|&(len, _)| len == i)
        } else {
            None
        };
        let parent = match on_chain {
            Some(at) => {
                self.close_chain(at + 1);
                self.chain[at].1
            }
            None => {
                self.close_chain(0);
                self.chain.push((i, NONE));
                NONE
            }
        };
        node.name = Name::new(path.get(i + 1..).unwrap_or_default());
        node.parent = parent;
        let slot = u32::try_from(self.next_slot).unwrap_or(NONE);
        self.next_slot += 1;
        self.chain.push((path.len(), slot));
        self.previous.clear();
        self.previous.push_str(&path);
        let record = if parent == NONE {
            Record::Unlinked { path }
        } else {
            Record::Linked {
                parent,
                hash: arena::slot_hash(&self.hasher, parent, node.name.as_bytes()),
                path: (kind != EphemeralType::Void).then_some(path),
            }
        };
        if self.batch.nodes.capacity() == 0 && slot as usize % CHUNK == 0 {
            // Starts a chunk of the arena: the vector can become it.
            self.batch.nodes.reserve_exact(CHUNK);
        }
        self.batch.nodes.push(node);
        self.batch.records.push(record);
    }

    /// Ends the subtrees of the chain's entries from `keep` on.
    fn close_chain(&mut self, keep: usize) {
        let ended = self.chain.drain(keep.min(self.chain.len())..);
        let batch = &mut self.batch;
        batch
            .closed
            .extend(ended.map(|(_, slot)| slot).filter(|&s| s != NONE));
    }

    /// Whether the open batch filled the arena chunk it is in (or grew long on records
    /// that add no node).
    pub fn batch_is_full(&self) -> bool {
        self.next_slot % CHUNK == 0 && !self.batch.nodes.is_empty()
            || self.batch.records.len() >= 2 * CHUNK
    }

    /// The open batch (possibly empty); a new one starts.
    pub fn take_batch(&mut self) -> PreparedBatch {
        std::mem::take(&mut self.batch)
    }
}

/// Accumulates ACL cache entries and nodes in snapshot order, then yields the tree.
#[derive(Debug)]
pub struct TreeBuilder {
    tree: DataTree,
    has_root: bool,
    /// `approximateDataSize` of the nodes added.
    data_size: i64,
    /// Slots that were given children since their list was last sorted: a bit per slot,
    /// and the slots in the order they were first marked.
    unsorted_bits: Vec<u64>,
    unsorted: Vec<u32>,
    /// Prepares the nodes given to [`TreeBuilder::add_node`].
    preparer: Option<NodePreparer>,
}

/// Where `slot`'s flag is in [`TreeBuilder`]'s `unsorted_bits`.
fn unsorted_bit(slot: u32) -> (usize, u64) {
    (slot as usize / 64, 1 << (slot % 64))
}

impl TreeBuilder {
    pub fn new(options: TreeOptions) -> Self {
        TreeBuilder::with_capacity(options, 0)
    }

    /// A builder with room for about `nodes` nodes.
    pub fn with_capacity(options: TreeOptions, nodes: usize) -> Self {
        let root = DataNode::new(None, (0, Arc::new(Vec::new())), StatPersisted::default());
        TreeBuilder {
            tree: DataTree::empty(options, root, nodes),
            has_root: false,
            data_size: 0,
            unsorted_bits: Vec::new(),
            unsorted: Vec::new(),
            preparer: None,
        }
    }

    /// One entry of the snapshot's ACL map (no users yet).
    pub fn add_acl(&mut self, id: i64, acl: Vec<Acl>) {
        self.tree.acl_cache.insert_loaded(id, acl);
    }

    /// A preparer for the batches [`TreeBuilder::add_batch`] takes, to use on any thread;
    /// made after the last [`TreeBuilder::add_acl`] and before any node is added.
    pub fn preparer(&self) -> NodePreparer {
        NodePreparer::new(&self.tree)
    }

    /// One node as the snapshot stores it; `path` is "" for the root.
    pub fn add_node(
        &mut self,
        path: &str,
        data: Option<Box<[u8]>>,
        acl_id: i64,
        stat: StatPersisted,
    ) -> Result<(), TreeLoadError> {
        let mut preparer = match self.preparer.take() {
            Some(p) => p,
            None => self.preparer(),
        };
        preparer.prepare(path.to_string(), data, acl_id, stat);
        let batch = preparer.take_batch();
        self.preparer = Some(preparer);
        self.add_batch(batch).map_err(|(_, e)| e)
    }

    /// A batch of nodes, in the order they were prepared; an error comes with the index
    /// of the record it is about, and leaves the builder spent (its load has failed).
    pub fn add_batch(&mut self, batch: PreparedBatch) -> Result<(), (usize, TreeLoadError)> {
        let t = &mut self.tree;
        t.digest = t.digest.wrapping_add(batch.digest);
        self.data_size = self.data_size.saturating_add(batch.data_size);
        for (id, uses) in batch.acl_uses {
            t.acl_cache.add_usages(id, uses);
        }
        let mut slot = t.arena.next_slot();
        t.arena.append_loaded(batch.nodes);
        for (at, record) in batch.records.into_iter().enumerate() {
            let (parent, hash, path) = match record {
                Record::Bad(path) => return Err((at, TreeLoadError::BadPath(path))),
                Record::Root(node) => {
                    if self.has_root {
                        return Err((at, TreeLoadError::Duplicate(String::new())));
                    }
                    let root = t.arena.get_mut(ROOT).ok_or((at, TreeLoadError::NoRoot))?;
                    root.data = node.data;
                    root.acl = node.acl;
                    root.acl_id = node.acl_id;
                    root.stat = node.stat;
                    root.kind = node.kind;
                    self.has_root = true;
                    continue;
                }
                Record::Linked { parent, hash, path } => (parent, Some(hash), path),
                Record::Unlinked { path } => {
                    let parent = path.get(..path.rfind('/').unwrap_or(0)).unwrap_or_default();
                    match t.arena.lookup(parent).filter(|_| self.has_root) {
                        Some(idx) => (idx, None, Some(path)),
                        None => {
                            let e = TreeLoadError::MissingParent {
                                parent: parent.to_string(),
                                path,
                            };
                            return Err((at, e));
                        }
                    }
                }
            };
            let idx = u32::try_from(slot).unwrap_or(NONE);
            slot += 1;
            if !t.arena.link_loaded(idx, parent, hash) {
                let path = path.unwrap_or_else(|| t.arena.path_of(idx));
                return Err((at, TreeLoadError::Duplicate(path)));
            }
            let (word, bit) = unsorted_bit(parent);
            if word >= self.unsorted_bits.len() {
                self.unsorted_bits.resize(word + 1, 0);
            }
            if self.unsorted_bits[word] & bit == 0 {
                self.unsorted_bits[word] |= bit;
                self.unsorted.push(parent);
            }
            let Some(path) = path else { continue };
            let kind = t.arena.get(idx).map_or(EphemeralType::Void, |n| n.kind);
            match kind {
                EphemeralType::Container => {
                    t.containers.insert(path.into_boxed_str());
                }
                EphemeralType::Ttl => {
                    t.ttls.insert(path.into_boxed_str());
                }
                EphemeralType::Normal => {
                    let owner = t.arena.get(idx).map_or(0, |n| n.stat.ephemeral_owner);
                    t.ephemerals.entry(owner).or_default().insert(&path);
                }
                EphemeralType::Void => {}
            }
        }
        for slot in batch.closed {
            self.sort_if_unsorted(slot);
        }
        Ok(())
    }

    /// Sorts `slot`'s children if it was given some since they were last sorted.
    fn sort_if_unsorted(&mut self, slot: u32) {
        let (word, bit) = unsorted_bit(slot);
        match self.unsorted_bits.get_mut(word) {
            Some(w) if *w & bit != 0 => *w &= !bit,
            _ => return,
        }
        self.tree.arena.sort_children_of(slot);
    }

    /// Completes the load: data size, quota trie and stat nodes, unused ACLs, and the zxid
    /// the snapshot was taken at.
    pub fn finish(mut self, zxid: i64) -> Result<DataTree, TreeLoadError> {
        if !self.has_root {
            return Err(TreeLoadError::NoRoot);
        }
        for slot in std::mem::take(&mut self.unsorted) {
            self.sort_if_unsorted(slot);
        }
        let t = &mut self.tree;
        t.data_size = self.data_size;
        t.setup_quota();
        t.acl_cache.purge_unused();
        t.last_processed_zxid = zxid;
        Ok(self.tree)
    }
}

impl DataTree {
    /// `DataTree#setupQuota`: every leaf under /zookeeper/quota named `zookeeper_limits`
    /// marks a quota'd path, whose stats node is recounted from the tree.
    fn setup_quota(&mut self) {
        if self.node(QUOTA_ZOOKEEPER).is_none() {
            return;
        }
        let end = format!("/{LIMIT_NODE}");
        let mut found = Vec::new();
        let mut stack = vec![QUOTA_ZOOKEEPER.to_string()];
        while let Some(path) = stack.pop() {
            let Some(node) = self.node(&path) else {
                continue;
            };
            if node.children.is_empty() {
                if path.ends_with(&end) {
                    // The reference cuts at the *first* "/zookeeper_limits".
                    let cut = path.find(&end).unwrap_or(path.len());
                    if let Some(real) = path.get(QUOTA_ZOOKEEPER.len()..cut) {
                        found.push(real.to_string());
                    }
                }
                continue;
            }
            stack.extend(self.child_nodes(node).map(|(c, _)| format!("{path}/{c}")));
        }
        for real in found {
            self.update_quota_for_path(&real);
            self.quotas.add(&real);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn stat(czxid: i64, owner: i64) -> StatPersisted {
        StatPersisted {
            czxid,
            mzxid: czxid,
            pzxid: czxid,
            ephemeral_owner: owner,
            ..StatPersisted::default()
        }
    }

    #[test]
    fn fresh_tree_parts_rebuild_the_same_tree() {
        let fresh = DataTree::new(true);
        let mut b = TreeBuilder::new(TreeOptions::default());
        for (id, acl) in fresh.acl_cache().iter() {
            b.add_acl(id, acl.to_vec());
        }
        for p in ["", "/zookeeper", "/zookeeper/config", "/zookeeper/quota"] {
            let n = fresh.node(p).unwrap();
            b.add_node(p, n.data.clone(), n.acl_id(), n.stat.clone())
                .unwrap();
        }
        let t = b.finish(0).unwrap();
        assert_eq!(t.digest(), fresh.digest());
        assert_eq!(t.approximate_data_size(), fresh.approximate_data_size());
        assert_eq!(t.node_count(), fresh.node_count());
        assert_eq!(t.acl_cache().usage(1), 1);
    }

    #[test]
    fn batches_across_arena_chunks_build_the_tree_one_node_at_a_time_builds() {
        // Depth-first with children in reverse order, over several arena chunks, then a
        // node whose parent is off the previous node's path (looked up by the builder).
        let mut paths = vec![String::new()];
        for p in (0..3).rev() {
            paths.push(format!("/p{p}"));
            paths.extend((0..2 * CHUNK).rev().map(|n| format!("/p{p}/n{n}")));
        }
        paths.push("/p2/late".to_string());
        let node = |i: usize| (Some(vec![i as u8; 3].into_boxed_slice()), stat(i as i64, 0));

        let mut one_by_one = TreeBuilder::new(TreeOptions::default());
        let mut batched = TreeBuilder::new(TreeOptions::default());
        let mut preparer = batched.preparer();
        let mut batches = 0;
        for (i, p) in paths.iter().enumerate() {
            let (data, st) = node(i);
            one_by_one
                .add_node(p, data.clone(), -1, st.clone())
                .unwrap();
            preparer.prepare(p.clone(), data, -1, st);
            if preparer.batch_is_full() {
                batched.add_batch(preparer.take_batch()).unwrap();
                batches += 1;
            }
        }
        batched.add_batch(preparer.take_batch()).unwrap();
        assert!(batches >= 3, "{batches} full batches");
        let (a, b) = (one_by_one.finish(1).unwrap(), batched.finish(1).unwrap());
        assert_eq!(
            b.node_count(),
            paths.len() + 1,
            "the root counts twice, as in 3.8"
        );
        assert_eq!(b.node_count(), a.node_count());
        assert_eq!(b.digest(), a.digest());
        assert_eq!(b.approximate_data_size(), b.full_data_size());
        for p in &paths[1..] {
            assert_eq!(
                b.node(p).map(|n| n.stat.czxid),
                a.node(p).map(|n| n.stat.czxid),
                "{p}"
            );
        }
        for (parent, count) in [
            ("/", 3),
            ("/p0", 2 * CHUNK),
            ("/p1", 2 * CHUNK),
            ("/p2", 2 * CHUNK + 1),
        ] {
            let kids = b.children(parent).unwrap();
            assert_eq!(kids.len(), count, "{parent}");
            assert!(
                kids.windows(2).all(|w| w[0] < w[1]),
                "{parent}'s children sorted"
            );
            assert_eq!(Some(kids), a.children(parent));
        }
    }

    #[test]
    fn rejects_orphans_duplicates_and_missing_root() {
        let mut b = TreeBuilder::new(TreeOptions::default());
        assert!(matches!(
            b.add_node("/a", None, -1, stat(1, 0)),
            Err(TreeLoadError::MissingParent { .. })
        ));
        b.add_node("", None, -1, stat(0, 0)).unwrap();
        assert_eq!(
            b.add_node("", None, -1, stat(0, 0)),
            Err(TreeLoadError::Duplicate(String::new()))
        );
        assert!(matches!(
            b.add_node("a", None, -1, stat(1, 0)),
            Err(TreeLoadError::BadPath(_))
        ));
        b.add_node("/e", None, 7, stat(2, 0x55)).unwrap();
        let t = b.finish(9).unwrap();
        assert_eq!(t.ephemerals(0x55), vec!["/e".to_string()]);
        assert_eq!(t.last_processed_zxid(), 9);
        assert_eq!(t.node("/e").unwrap().acl[0].perms, 0);
        assert!(matches!(
            TreeBuilder::new(TreeOptions::default()).finish(0),
            Err(TreeLoadError::NoRoot)
        ));
    }
}
