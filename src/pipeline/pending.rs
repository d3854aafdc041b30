//! The prep stage's view of the tree: the tree plus changes prepped but not yet applied
//! (`ZooKeeperServer#outstandingChanges` / `ChangeRecord`). A multi sees its own earlier ops
//! through it, and once a txn log sits between prep and apply, later requests see earlier
//! unapplied txns through it too.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;

use crate::jute::data::{Acl, StatPersisted};
use crate::tree::{digest, DataTree};

/// A node as prep sees it; `stat == None` records a pending delete.
#[derive(Debug, Clone)]
pub struct ChangeRecord {
    pub zxid: i64,
    pub stat: Option<StatPersisted>,
    pub data: Option<Bytes>,
    pub child_count: i32,
    pub acl: Arc<Vec<Acl>>,
    /// This node's term in the tree digest (0 when deleted or outside the digest).
    pub node_digest: i64,
}

/// Pending changes, a stack per path so a rolled-back multi uncovers what was there before.
/// A stack is a deque: a parent under many in-flight creates holds hundreds of records, and
/// applying retires them one at a time from the bottom.
#[derive(Debug, Default)]
pub struct PendingChanges {
    by_path: HashMap<Arc<str>, VecDeque<ChangeRecord>, ahash::RandomState>,
    /// The tree digest after each pending change, in zxid order (`precalculatedDigest`).
    digests: VecDeque<(i64, i64)>,
    /// Every record's zxid and path in the order added (zxid order), so that applying a txn
    /// visits only its own paths instead of every pending one.
    /// The key is shared with `by_path`: a path already pending (a parent under many
    /// creates) costs no allocation.
    order: VecDeque<(i64, Arc<str>)>,
}

impl PendingChanges {
    /// The node at `path` as prep must see it; `None` if it does not exist (or is being deleted).
    pub fn get(&self, tree: &DataTree, path: &str) -> Option<ChangeRecord> {
        if let Some(rec) = self.by_path.get(path).and_then(|s| s.back()) {
            return rec.stat.is_some().then(|| rec.clone());
        }
        let node = tree.node(path)?;
        let node_digest = if tree.options().digest_enabled {
            digest::node_digest(path, node.data.as_deref(), &node.stat)
        } else {
            0
        };
        Some(ChangeRecord {
            zxid: node.stat.mzxid,
            stat: Some(node.stat.clone()),
            data: node.data_bytes(),
            child_count: node.num_children(),
            acl: node.acl.clone(),
            node_digest,
        })
    }

    /// The tree digest once every pending change is applied.
    pub fn current_digest(&self, tree: &DataTree) -> i64 {
        self.digests
            .back()
            .map_or_else(|| tree.digest(), |(_, d)| *d)
    }

    pub fn push_digest(&mut self, zxid: i64, tree_digest: i64) {
        self.digests.push_back((zxid, tree_digest));
    }

    pub fn add(&mut self, path: &str, rec: ChangeRecord) {
        let key = match self.by_path.get_key_value(path) {
            Some((key, _)) => key.clone(),
            None => Arc::from(path),
        };
        self.order.push_back((rec.zxid, key.clone()));
        self.by_path.entry(key).or_default().push_back(rec);
    }

    /// Drop every record of `zxid` (a failed multi, `PrepRequestProcessor#rollbackPendingChanges`).
    pub fn rollback(&mut self, zxid: i64) {
        while self.digests.back().is_some_and(|(z, _)| *z == zxid) {
            self.digests.pop_back();
        }
        self.by_path.retain(|_, stack| {
            stack.retain(|r| r.zxid != zxid);
            !stack.is_empty()
        });
    }

    /// The tree has applied everything up to `zxid`; those records are now the tree's.
    pub fn applied_through(&mut self, zxid: i64) {
        while self.digests.front().is_some_and(|(z, _)| *z <= zxid) {
            self.digests.pop_front();
        }
        while self.order.front().is_some_and(|(z, _)| *z <= zxid) {
            let Some((_, path)) = self.order.pop_front() else {
                break;
            };
            if let Some(stack) = self.by_path.get_mut(&*path) {
                // records are pushed in zxid order: the applied ones are at the bottom
                while stack.front().is_some_and(|r| r.zxid <= zxid) {
                    stack.pop_front();
                }
                if stack.is_empty() {
                    self.by_path.remove(&*path);
                }
            }
        }
    }

    /// Every pending record in the order added, as the closeSession prep reads them: a delete
    /// (false) or a node the session owns (true); other records are skipped.
    pub fn ephemeral_changes(&self, session_id: i64) -> Vec<(Arc<str>, bool)> {
        // each path's stack holds its records in the order `order` lists them; a rolled-back
        // record left its `order` entry behind, which finds no record of its zxid
        let mut next: HashMap<&str, usize> = HashMap::new();
        let mut changes = Vec::new();
        for (zxid, path) in &self.order {
            let Some(stack) = self.by_path.get(&**path) else {
                continue;
            };
            let i = next.entry(&**path).or_insert(0);
            while stack.get(*i).is_some_and(|r| r.zxid < *zxid) {
                *i += 1;
            }
            let Some(rec) = stack.get(*i).filter(|r| r.zxid == *zxid) else {
                continue;
            };
            *i += 1;
            match &rec.stat {
                None => changes.push((path.clone(), false)),
                Some(s) if s.ephemeral_owner == session_id => changes.push((path.clone(), true)),
                Some(_) => {}
            }
        }
        changes
    }

    pub fn is_empty(&self) -> bool {
        self.by_path.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(zxid: i64, version: i32) -> ChangeRecord {
        ChangeRecord {
            zxid,
            stat: Some(StatPersisted {
                version,
                ..StatPersisted::default()
            }),
            data: None,
            child_count: 0,
            acl: Arc::new(Vec::new()),
            node_digest: 0,
        }
    }

    fn version(p: &PendingChanges, tree: &DataTree, path: &str) -> Option<i32> {
        p.get(tree, path).and_then(|r| r.stat).map(|s| s.version)
    }

    #[test]
    fn applying_drops_exactly_the_records_up_to_the_applied_zxid() {
        let tree = DataTree::new(false);
        let mut p = PendingChanges::default();
        p.add("/a", rec(1, 1));
        p.add("/b", rec(2, 1));
        p.add("/a", rec(3, 2));
        p.add("/c", rec(4, 1));
        p.rollback(4);
        p.applied_through(1);
        assert_eq!(version(&p, &tree, "/a"), Some(2), "zxid 3 still pending");
        assert_eq!(version(&p, &tree, "/b"), Some(1));
        p.applied_through(3);
        assert_eq!(
            version(&p, &tree, "/a"),
            None,
            "back to the tree (no /a there)"
        );
        assert_eq!(version(&p, &tree, "/c"), None, "rolled back");
        assert!(p.is_empty());
        p.applied_through(4);
        assert!(p.is_empty());
    }

    fn owned(zxid: i64, owner: i64) -> ChangeRecord {
        let mut r = rec(zxid, 0);
        if let Some(s) = r.stat.as_mut() {
            s.ephemeral_owner = owner;
        }
        r
    }

    fn gone(zxid: i64) -> ChangeRecord {
        ChangeRecord {
            stat: None,
            ..rec(zxid, 0)
        }
    }

    #[test]
    fn ephemeral_changes_come_in_the_order_added() {
        let mut p = PendingChanges::default();
        p.add("/e", owned(1, 7));
        p.add("/f", owned(2, 7));
        p.add("/e", gone(3));
        p.add("/g", owned(3, 8)); // another session's node: skipped
        p.add("/e", owned(4, 8)); // recreated by another session: the delete still counts
        p.add("/h", owned(5, 7));
        p.rollback(5);
        let changes: Vec<(String, bool)> = p
            .ephemeral_changes(7)
            .into_iter()
            .map(|(path, owned)| (path.to_string(), owned))
            .collect();
        let want = [("/e", true), ("/f", true), ("/e", false)];
        let want: Vec<(String, bool)> = want.iter().map(|(p, o)| (p.to_string(), *o)).collect();
        assert_eq!(changes, want);
    }
}
