//! The znode tree: replaces `DataTree`, `DataNode`, `ReferenceCountedACLCache`,
//! `DigestCalculator` / `AdHash` / `NodeHashMapImpl`, the quota `StatsTrack` updates and
//! `EphemeralType` of Apache ZooKeeper 3.8.0.
//!
//! The tree *applies* txns the prep stage already validated (`DataTree#processTxn`) and
//! answers reads. It knows nothing of sockets or watch owners: [`DataTree::apply`] reports
//! which `(path, event)` pairs a txn fires and the pipeline delivers them.
//!
//! Invariants:
//! - nodes live in an arena ([`arena`]) addressed by slot, each storing only its last path
//!   component; the root answers to "/" and "" (the reference keeps both keys, which shows
//!   in [`DataTree::node_count`]);
//! - every parent lists its children's slots sorted by name; `ephemerals` / `containers` /
//!   `ttls` index nodes by their `ephemeralOwner` kind, fixed at creation;
//! - `digest` is the wrapping sum of [`digest::node_digest`] over every node outside
//!   `/zookeeper/`, updated around each change (`NodeHashMapImpl#preChange/postChange`);
//! - replaying a txn whose effect is already there returns its error code and never panics.

mod accounting;
mod acl_cache;
mod apply;
mod arena;
mod config_node;
pub mod digest;
mod ephemeral;
pub mod load;
mod node;
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod oracle_tests;
pub mod quota;
mod replay;
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use crate::javaorder::JavaStringSet;

pub use accounting::NamespaceQuotas;
pub use acl_cache::{AclCache, OPEN_UNSAFE_ACL_ID};
pub use ephemeral::{EphemeralOptions, EphemeralType, CONTAINER_EPHEMERAL_OWNER, MAX_TTL};
pub use load::{NodePreparer, PreparedBatch, TreeBuilder, TreeLoadError};
pub use node::DataNode;
pub use quota::StatsTrack;

use crate::jute::codes::{ErrorCode, EventType};
use crate::jute::data::{Acl, Stat, StatPersisted};
use quota::{QuotaPrefixes, CONFIG_ZOOKEEPER, PROC_ZOOKEEPER, QUOTA_ZOOKEEPER};

/// One watch event a txn fires; the watch manager maps the event to its tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchTrigger {
    pub path: String,
    pub event: EventType,
    /// The ACL a watcher needs READ on to be told (CVE-2024-23944, 3.8.4's ZOOKEEPER-4799):
    /// the changed node's as it was at the change — the deleted node's own for NodeDeleted,
    /// the parent's for NodeChildrenChanged (`DataTree#createNode` / `deleteNode` /
    /// `setData` pass it to `WatchManager#triggerWatch`).
    pub acl: Arc<Vec<Acl>>,
}

/// What a txn produced (`DataTree.ProcessTxnResult` without the header echo).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppliedResult {
    /// createSession, closeSession, error txns, and any txn that failed.
    None,
    /// Any create flavour; `stat` is the new node's client stat.
    Created {
        path: String,
        stat: Stat,
    },
    Deleted,
    DataSet(Stat),
    AclSet(Stat),
    Checked,
    /// Per sub-txn, in order.
    Multi(Vec<(ErrorCode, AppliedResult)>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub err: ErrorCode,
    pub result: AppliedResult,
    pub triggers: Vec<WatchTrigger>,
}

/// Switches the reference reads from system properties.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeOptions {
    /// `digest.enabled` (default true).
    pub digest_enabled: bool,
    pub ephemeral: EphemeralOptions,
}

impl Default for TreeOptions {
    fn default() -> Self {
        TreeOptions {
            digest_enabled: true,
            ephemeral: EphemeralOptions::default(),
        }
    }
}

/// Where a node lives in the tree ([`DataTree::slot_of`], [`DataTree::node_at`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeSlot(u32);

#[derive(Debug, Clone)]
pub struct DataTree {
    arena: arena::Arena,
    /// Session → its ephemeral paths. Like the reference, a session's entry stays (maybe
    /// empty) until its closeSession, which the `dump` four-letter word shows; the set keeps
    /// the reference's iteration order, which decides the order a closeSession deletes in.
    ephemerals: HashMap<i64, JavaStringSet>,
    containers: BTreeSet<Box<str>>,
    ttls: BTreeSet<Box<str>>,
    acl_cache: AclCache,
    quotas: QuotaPrefixes,
    options: TreeOptions,
    digest: i64,
    /// `nodeDataSize`: maintained incrementally like the reference, which does not count
    /// quota stat rewrites, so it may drift from a full recount.
    data_size: i64,
    last_processed_zxid: i64,
}

/// The map key of a path: "" is the root's alias.
fn key(path: &str) -> &str {
    if path.is_empty() {
        "/"
    } else {
        path
    }
}

/// `String.length()` of a path as Java counts it (UTF-16 units).
fn java_len(s: &str) -> i64 {
    let n = if s.is_ascii() {
        s.len()
    } else {
        s.encode_utf16().count()
    };
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// `DataTree.getNodeSize`.
fn node_size(path: &str, data: Option<&[u8]>) -> i64 {
    java_len(path) + data.map_or(0, |d| i64::try_from(d.len()).unwrap_or(i64::MAX))
}

/// Splits at the last '/': `("", "a")` for "/a". `None` for a path with no '/'.
fn split_parent(path: &str) -> Option<(&str, &str)> {
    let i = path.rfind('/')?;
    Some((&path[..i], &path[i + 1..]))
}

impl DataTree {
    /// A fresh tree as a 3.8 standalone starts: "/", /zookeeper, /zookeeper/quota (ACL id -1,
    /// empty data, zeroed stat) and /zookeeper/config (READ_ACL_UNSAFE, ACL id 1).
    pub fn new(digest_enabled: bool) -> Self {
        DataTree::with_options(TreeOptions {
            digest_enabled,
            ..TreeOptions::default()
        })
    }

    pub fn with_options(options: TreeOptions) -> Self {
        let acl_cache = AclCache::default();
        let open = (OPEN_UNSAFE_ACL_ID, acl_cache.open_unsafe());
        let root = DataNode::new(Some(Box::default()), open.clone(), StatPersisted::default());
        let mut t = DataTree::empty(options, root, 8);
        t.acl_cache = acl_cache;
        if t.options.digest_enabled {
            t.digest = t.arena.root().digest("");
        }
        for path in [PROC_ZOOKEEPER, QUOTA_ZOOKEEPER] {
            t.insert_builtin(path, open.clone());
        }
        let read = t.acl_cache.intern(&Acl::read_unsafe());
        t.insert_builtin(CONFIG_ZOOKEEPER, read);
        // `DataTree#addConfigNode` sets its ACL with version -1, which lands in aversion.
        if let Some(config) = t.node_mut(CONFIG_ZOOKEEPER) {
            config.stat.aversion = -1;
        }
        t.data_size = t.full_data_size();
        t
    }

    /// A tree holding only `root`, with room for `capacity` nodes.
    pub(super) fn empty(options: TreeOptions, root: DataNode, capacity: usize) -> Self {
        DataTree {
            arena: arena::Arena::new(root, capacity),
            ephemerals: HashMap::new(),
            containers: BTreeSet::new(),
            ttls: BTreeSet::new(),
            acl_cache: AclCache::default(),
            quotas: QuotaPrefixes::default(),
            options,
            digest: 0,
            data_size: 0,
            last_processed_zxid: 0,
        }
    }

    fn insert_builtin(&mut self, path: &str, acl: (i64, std::sync::Arc<Vec<Acl>>)) {
        let node = DataNode::new(Some(Box::default()), acl, StatPersisted::default());
        if self.options.digest_enabled {
            self.digest = self.digest.wrapping_add(node.digest(path));
        }
        if let Some((parent, name)) = self.arena.lookup_parent(path) {
            self.arena.insert(parent, name, node);
        }
    }

    pub(super) fn node_mut(&mut self, path: &str) -> Option<&mut DataNode> {
        let idx = self.arena.lookup(path)?;
        self.arena.get_mut(idx)
    }

    /// `DataTree#approximateDataSize`: a full recount over the reference's map, where the
    /// root appears twice (as "" and "/").
    pub fn full_data_size(&self) -> i64 {
        let root = self.arena.root();
        let mut total = 2 * root.data_len() as i64 + 1;
        // (node, Java length of its path) depth-first; the root's children start at "/".
        let mut stack: Vec<(&DataNode, i64)> = vec![(root, 0)];
        while let Some((node, len)) = stack.pop() {
            for (name, child) in self.arena.children_of(node) {
                let child_len = len + 1 + java_len(name);
                total += child_len + child.data_len() as i64;
                stack.push((child, child_len));
            }
        }
        total
    }

    pub fn options(&self) -> TreeOptions {
        self.options
    }

    /// A node by path; "/" (or "") is the root.
    pub fn node(&self, path: &str) -> Option<&DataNode> {
        self.arena.get(self.arena.lookup(path)?)
    }

    pub fn stat(&self, path: &str) -> Option<Stat> {
        self.node(path).map(DataNode::client_stat)
    }

    /// Child names in sorted order.
    pub fn children(&self, path: &str) -> Option<Vec<String>> {
        self.node(path).map(|n| self.children_of(n))
    }

    /// A node's child names in sorted order.
    pub fn children_of(&self, node: &DataNode) -> Vec<String> {
        self.arena
            .children_of(node)
            .map(|(name, _)| name.to_string())
            .collect()
    }

    /// A node's children (name, node) in name order.
    pub fn child_nodes<'a>(
        &'a self,
        node: &'a DataNode,
    ) -> impl Iterator<Item = (&'a str, &'a DataNode)> + 'a {
        self.arena.children_of(node)
    }

    /// The place of the node at `path`, for [`DataTree::node_at`].
    pub fn slot_of(&self, path: &str) -> Option<NodeSlot> {
        self.arena.lookup(path).map(NodeSlot)
    }

    /// The node living at `slot` now, if any: one array access instead of a lookup per path
    /// component. A slot is reused once its node is deleted, so the caller checks that the
    /// node found is the one it meant (its czxid and name).
    pub fn node_at(&self, slot: NodeSlot) -> Option<&DataNode> {
        self.arena.get(slot.0)
    }

    /// [`DataTree::node_at`], if that node's parent lives at `parent`.
    pub fn child_at(&self, parent: NodeSlot, slot: NodeSlot) -> Option<&DataNode> {
        self.arena.get(slot.0).filter(|n| n.parent == parent.0)
    }

    /// The children of the node at `parent` whose names sort after `after` (all for `None`),
    /// in name order, with their slots: a cursor that survives changes to the set, for work
    /// spread over many steps (the live snapshot). Empty if no node lives at `parent`.
    pub fn children_after<'a>(
        &'a self,
        parent: NodeSlot,
        after: Option<&str>,
    ) -> impl Iterator<Item = (NodeSlot, &'a DataNode)> + 'a {
        let name_of = move |c: u32| self.arena.get(c).map_or(&[][..], |n| n.name.as_bytes());
        let kids = self
            .arena
            .get(parent.0)
            .map(|n| n.children.iter_after(after.map(str::as_bytes), name_of));
        kids.into_iter()
            .flatten()
            .filter_map(move |c| Some((NodeSlot(c), self.arena.get(c)?)))
    }

    /// `DataTree#getAllChildrenNumber`: every descendant. 3.8's node map holds the root under
    /// two keys, "" and "/" (also after `DataTree#deserialize`): "/" answers the map's size
    /// without both, while "" counts the keys that start with "/", the "/" alias among them —
    /// one more than "/" (so /zookeeper and its children count in both).
    pub fn all_children_number(&self, path: &str) -> Option<i32> {
        let node = self.node(path)?;
        let without_root = self.arena.len() - 1;
        match path {
            "/" => return Some(i32::try_from(without_root).unwrap_or(i32::MAX)),
            "" => return Some(i32::try_from(without_root + 1).unwrap_or(i32::MAX)),
            _ => {}
        }
        let mut count: i64 = 0;
        let mut stack: Vec<&DataNode> = vec![node];
        while let Some(n) = stack.pop() {
            for (_, child) in self.arena.children_of(n) {
                count += 1;
                stack.push(child);
            }
        }
        Some(i32::try_from(count).unwrap_or(i32::MAX))
    }

    /// The session's ephemeral paths, in the order the reference's set iterates them.
    pub fn ephemerals(&self, session_id: i64) -> Vec<String> {
        self.ephemerals
            .get(&session_id)
            .map(|s| s.java_order().into_iter().map(str::to_owned).collect())
            .unwrap_or_default()
    }

    /// getEphemerals (`FinalRequestProcessor`): all of them for a blank or "/" prefix, else
    /// those whose path starts with `prefix` (a plain string prefix, not per component), in
    /// the order of the copy `DataTree#getEphemerals` answers with.
    pub fn ephemerals_by_prefix(&self, session_id: i64, prefix: &str) -> Vec<String> {
        let trimmed = prefix.trim_matches(|c: char| c <= ' ');
        let all = trimmed.is_empty() || trimmed == "/";
        self.ephemerals
            .get(&session_id)
            .map(|s| {
                s.java_clone()
                    .java_order()
                    .into_iter()
                    .filter(|p| all || p.starts_with(prefix))
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The paths a closeSession txn lists (`PrepRequestProcessor` closeSession): a copy of the
    /// session's ephemerals, then each pending change in order — a delete removes its path,
    /// a node the session owns is added — in the copy's iteration order.
    pub fn close_session_paths<'a>(
        &self,
        session_id: i64,
        pending: impl IntoIterator<Item = (&'a str, bool)>,
    ) -> Vec<String> {
        let mut paths = self
            .ephemerals
            .get(&session_id)
            .map_or_else(JavaStringSet::default, JavaStringSet::java_clone);
        for (path, owned) in pending {
            if owned {
                paths.insert(path);
            } else {
                paths.remove(path);
            }
        }
        paths.java_order().into_iter().map(str::to_owned).collect()
    }

    /// Sessions with an ephemerals entry (possibly empty), by id, for `dump`.
    pub fn sessions_with_ephemerals(&self) -> Vec<(i64, Vec<String>)> {
        let mut v: Vec<(i64, Vec<String>)> = self
            .ephemerals
            .iter()
            .map(|(s, paths)| {
                let paths = paths.java_order().into_iter().map(str::to_owned).collect();
                (*s, paths)
            })
            .collect();
        v.sort_by_key(|(s, _)| *s);
        v
    }

    /// `getEphemeralsCount` (mntr `zk_ephemerals_count`).
    pub fn ephemerals_count(&self) -> usize {
        self.ephemerals.values().map(JavaStringSet::len).sum()
    }

    pub fn last_processed_zxid(&self) -> i64 {
        self.last_processed_zxid
    }

    /// For restore: the zxid a snapshot was taken at.
    pub fn set_last_processed_zxid(&mut self, zxid: i64) {
        self.last_processed_zxid = zxid;
    }

    /// `getNodeCount` (mntr `zk_znode_count`): the reference's map size, which holds the
    /// root twice — a fresh tree reports 5.
    pub fn node_count(&self) -> usize {
        self.arena.len() + 1
    }

    /// `cachedApproximateDataSize` (mntr `zk_approximate_data_size`).
    pub fn approximate_data_size(&self) -> i64 {
        self.data_size
    }

    /// The tree digest (`getTreeDigest`); 0 when digests are disabled.
    pub fn digest(&self) -> i64 {
        self.digest
    }

    /// Compares with the digest a txn carries (`DataTree#compareDigest`), after applying it.
    /// True when they agree or there is nothing to compare.
    pub fn digest_matches(&self, txn: &crate::jute::txn::TxnEntry) -> bool {
        self.digest_matches_at(txn.header.zxid, txn.digest.as_ref())
    }

    /// Container nodes, sorted (ContainerManager candidates).
    pub fn containers(&self) -> Vec<String> {
        self.containers.iter().map(|p| p.to_string()).collect()
    }

    /// TTL nodes, sorted.
    pub fn ttls(&self) -> Vec<String> {
        self.ttls.iter().map(|p| p.to_string()).collect()
    }

    pub fn acl_cache(&self) -> &AclCache {
        &self.acl_cache
    }

    /// Every node with its path, in no particular order (the root as "/").
    pub fn iter_nodes(&self) -> impl Iterator<Item = (String, &DataNode)> {
        self.arena.iter().map(|(i, n)| (self.arena.path_of(i), n))
    }
}
