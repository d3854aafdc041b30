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

use std::sync::Arc;

use super::arena::ROOT;
use super::ephemeral::EphemeralType;
use super::quota::{LIMIT_NODE, QUOTA_ZOOKEEPER};
use super::{split_parent, DataNode, DataTree, TreeOptions};
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

/// Accumulates ACL cache entries and nodes in snapshot order, then yields the tree.
#[derive(Debug)]
pub struct TreeBuilder {
    tree: DataTree,
    has_root: bool,
    /// The path of the last node added, and the slots of its ancestors (itself included)
    /// with their path lengths: a snapshot lists a node right after its parent or a
    /// sibling's subtree, so the parent is almost always on this chain.
    last_path: String,
    chain: Vec<(usize, u32)>,
}

/// What a node whose ACL id is missing from the cache gets: no permission for anyone.
/// The reference keeps the id and fails every later lookup of it; refusing access is the
/// closest behaviour a shared list can give.
fn unknown_acl() -> Arc<Vec<Acl>> {
    Arc::new(vec![Acl::new(0, "world", "anyone")])
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
            last_path: String::new(),
            chain: Vec::new(),
        }
    }

    /// One entry of the snapshot's ACL map (no users yet).
    pub fn add_acl(&mut self, id: i64, acl: Vec<Acl>) {
        self.tree.acl_cache.insert_loaded(id, acl);
    }

    /// The parent slot of `path` and its last component.
    fn parent_of<'p>(&mut self, path: &'p str) -> Result<(u32, &'p str), TreeLoadError> {
        let (parent, name) =
            split_parent(path).ok_or_else(|| TreeLoadError::BadPath(path.to_string()))?;
        if name.is_empty() || !path.starts_with('/') {
            return Err(TreeLoadError::BadPath(path.to_string()));
        }
        let cached = self
            .chain
            .iter()
            .rposition(|&(len, _)| len == parent.len())
            .filter(|_| self.last_path.get(..parent.len()) == Some(parent));
        let idx = match cached {
            Some(at) => {
                self.chain.truncate(at + 1);
                self.chain[at].1
            }
            None => {
                let idx = self.tree.arena.lookup(parent).filter(|_| self.has_root);
                let idx = idx.ok_or_else(|| TreeLoadError::MissingParent {
                    path: path.to_string(),
                    parent: parent.to_string(),
                })?;
                self.chain.clear();
                self.chain.push((parent.len(), idx));
                idx
            }
        };
        Ok((idx, name))
    }

    /// One node as the snapshot stores it; `path` is "" for the root.
    pub fn add_node(
        &mut self,
        path: &str,
        data: Option<Box<[u8]>>,
        acl_id: i64,
        stat: StatPersisted,
    ) -> Result<(), TreeLoadError> {
        let parent = if path.is_empty() {
            if self.has_root {
                return Err(TreeLoadError::Duplicate(String::new()));
            }
            None
        } else {
            Some(self.parent_of(path)?)
        };
        let t = &mut self.tree;
        let acl = match t.acl_cache.get(acl_id) {
            Some(list) => list.clone(),
            None => {
                tracing::warn!(path, acl = acl_id, "node refers to an ACL not in the cache");
                unknown_acl()
            }
        };
        t.acl_cache.add_usage(acl_id);
        let mut node = DataNode::new(data, (acl_id, acl), stat);
        node.kind = EphemeralType::of(node.stat.ephemeral_owner, t.options.ephemeral);
        let digest = if t.options.digest_enabled {
            node.digest(path)
        } else {
            0
        };
        let kind = node.kind;
        let owner = node.stat.ephemeral_owner;
        let Some((parent, name)) = parent else {
            let root = &mut t.arena.get_mut(ROOT).ok_or(TreeLoadError::NoRoot)?;
            root.data = node.data;
            root.acl = node.acl;
            root.acl_id = node.acl_id;
            root.stat = node.stat;
            root.kind = node.kind;
            t.digest = t.digest.wrapping_add(digest);
            self.has_root = true;
            self.last_path.clear();
            self.chain.clear();
            self.chain.push((0, ROOT));
            return Ok(());
        };
        let idx = t
            .arena
            .push_loaded(parent, name, node)
            .ok_or_else(|| TreeLoadError::Duplicate(path.to_string()))?;
        t.digest = t.digest.wrapping_add(digest);
        match kind {
            EphemeralType::Container => {
                t.containers.insert(path.into());
            }
            EphemeralType::Ttl => {
                t.ttls.insert(path.into());
            }
            EphemeralType::Normal => {
                t.ephemerals.entry(owner).or_default().insert(path);
            }
            EphemeralType::Void => {}
        }
        self.last_path.clear();
        self.last_path.push_str(path);
        self.chain.push((path.len(), idx));
        Ok(())
    }

    /// Completes the load: data size, quota trie and stat nodes, unused ACLs, and the zxid
    /// the snapshot was taken at.
    pub fn finish(mut self, zxid: i64) -> Result<DataTree, TreeLoadError> {
        if !self.has_root {
            return Err(TreeLoadError::NoRoot);
        }
        let t = &mut self.tree;
        t.arena.sort_children();
        t.data_size = t.full_data_size();
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
