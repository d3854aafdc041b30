//! `DataNode`: one znode's data, shared ACL, persisted stat and child names.

use std::collections::BTreeSet;
use std::sync::Arc;

use bytes::Bytes;

use super::ephemeral::EphemeralType;
use crate::jute::data::{Acl, Stat, StatPersisted};

#[derive(Debug, Clone)]
pub struct DataNode {
    pub data: Option<Bytes>,
    pub acl: Arc<Vec<Acl>>,
    pub stat: StatPersisted,
    /// The ACL cache id snapshots write for this node (-1 for the built-in open nodes).
    pub(super) acl_id: i64,
    /// `EphemeralType.get(stat.ephemeralOwner)`, fixed at creation with the tree's options.
    pub(super) kind: EphemeralType,
    /// Last path components only; sorted so listings are deterministic.
    pub(super) children: BTreeSet<Box<str>>,
}

impl DataNode {
    pub(super) fn new(data: Option<Bytes>, acl: (i64, Arc<Vec<Acl>>), stat: StatPersisted) -> Self {
        DataNode {
            data,
            acl: acl.1,
            stat,
            acl_id: acl.0,
            kind: EphemeralType::Void,
            children: BTreeSet::new(),
        }
    }

    pub fn children(&self) -> impl Iterator<Item = &str> {
        self.children.iter().map(|c| &**c)
    }

    /// Child names after `after` (all for `None`), sorted: a cursor that survives changes to
    /// the set, for work spread over many steps (the live snapshot).
    pub fn children_after<'a>(&'a self, after: Option<&str>) -> impl Iterator<Item = &'a str> {
        use std::ops::Bound;
        let lower = after.map_or(Bound::Unbounded, Bound::Excluded);
        self.children
            .range::<str, _>((lower, Bound::Unbounded))
            .map(|c| &**c)
    }

    pub fn num_children(&self) -> i32 {
        i32::try_from(self.children.len()).unwrap_or(i32::MAX)
    }

    pub fn has_child(&self, name: &str) -> bool {
        self.children.contains(name)
    }

    /// The ACL cache id of this node's ACL (see [`super::AclCache`]).
    pub fn acl_id(&self) -> i64 {
        self.acl_id
    }

    pub fn ephemeral_type(&self) -> EphemeralType {
        self.kind
    }

    pub fn data_len(&self) -> usize {
        self.data.as_ref().map_or(0, |d| d.len())
    }

    /// `DataNode#copyStat`. Quirks: the client sees `ephemeralOwner` only for session-owned
    /// nodes (0 for containers and TTL nodes), and `cversion` as `2 * stored - numChildren`,
    /// because the stored cversion counts creates only and every absent child was deleted.
    pub fn client_stat(&self) -> Stat {
        let s = &self.stat;
        let num_children = self.num_children();
        Stat {
            czxid: s.czxid,
            mzxid: s.mzxid,
            ctime: s.ctime,
            mtime: s.mtime,
            version: s.version,
            cversion: s.cversion.wrapping_mul(2).wrapping_sub(num_children),
            aversion: s.aversion,
            ephemeral_owner: if self.kind == EphemeralType::Normal {
                s.ephemeral_owner
            } else {
                0
            },
            data_length: i32::try_from(self.data_len()).unwrap_or(i32::MAX),
            num_children,
            pzxid: s.pzxid,
        }
    }

    /// This node's term in the tree digest.
    pub(super) fn digest(&self, path: &str) -> i64 {
        super::digest::node_digest(path, self.data.as_deref(), &self.stat)
    }
}
