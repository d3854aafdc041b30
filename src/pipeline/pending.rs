//! The prep stage's view of the tree: the tree plus changes prepped but not yet applied
//! (`ZooKeeperServer#outstandingChanges` / `ChangeRecord`). A multi sees its own earlier ops
//! through it, and once a txn log sits between prep and apply, later requests see earlier
//! unapplied txns through it too.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;

use crate::jute::data::{Acl, StatPersisted};
use crate::tree::DataTree;

/// A node as prep sees it; `stat == None` records a pending delete.
#[derive(Debug, Clone)]
pub struct ChangeRecord {
    pub zxid: i64,
    pub stat: Option<StatPersisted>,
    pub data: Option<Bytes>,
    pub child_count: i32,
    pub acl: Arc<Vec<Acl>>,
}

/// Pending changes, a stack per path so a rolled-back multi uncovers what was there before.
#[derive(Debug, Default)]
pub struct PendingChanges {
    by_path: HashMap<String, Vec<ChangeRecord>>,
}

impl PendingChanges {
    /// The node at `path` as prep must see it; `None` if it does not exist (or is being deleted).
    pub fn get(&self, tree: &DataTree, path: &str) -> Option<ChangeRecord> {
        if let Some(rec) = self.by_path.get(path).and_then(|s| s.last()) {
            return rec.stat.is_some().then(|| rec.clone());
        }
        let node = tree.node(path)?;
        Some(ChangeRecord {
            zxid: node.stat.mzxid,
            stat: Some(node.stat.clone()),
            data: node.data.clone(),
            child_count: node.num_children(),
            acl: node.acl.clone(),
        })
    }

    pub fn add(&mut self, path: &str, rec: ChangeRecord) {
        self.by_path.entry(path.to_string()).or_default().push(rec);
    }

    /// Drop every record of `zxid` (a failed multi, `PrepRequestProcessor#rollbackPendingChanges`).
    pub fn rollback(&mut self, zxid: i64) {
        self.by_path.retain(|_, stack| {
            stack.retain(|r| r.zxid != zxid);
            !stack.is_empty()
        });
    }

    /// The tree has applied everything up to `zxid`; those records are now the tree's.
    pub fn applied_through(&mut self, zxid: i64) {
        self.by_path.retain(|_, stack| {
            stack.retain(|r| r.zxid > zxid);
            !stack.is_empty()
        });
    }

    /// Paths whose pending state says a session owns (true) or no longer has (false) them.
    pub fn ephemeral_changes(&self, session_id: i64) -> Vec<(String, bool)> {
        self.by_path
            .iter()
            .filter_map(|(path, stack)| {
                let rec = stack.last()?;
                match &rec.stat {
                    None => Some((path.clone(), false)),
                    Some(s) if s.ephemeral_owner == session_id => Some((path.clone(), true)),
                    Some(_) => None,
                }
            })
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.by_path.is_empty()
    }
}
