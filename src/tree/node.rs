//! `DataNode`: one znode's data, shared ACL and persisted stat, plus its place in the
//! tree's arena (its own last path component, its parent's slot and its children's slots).
//!
//! Invariants: `children` holds slot indexes sorted by the children's names; `name` is the
//! last path component ("" for the root); both are maintained by [`super::arena::Arena`].

use std::sync::Arc;

use bytes::Bytes;

use super::ephemeral::EphemeralType;
use crate::jute::data::{Acl, Stat, StatPersisted};

/// Longest name kept inline; most znode names (sequence nodes, ids) fit.
const INLINE: usize = 22;

/// A path component, inline when short: a heap `Box<str>` costs another 32-byte allocation
/// per node, which dominated memory for millions of small names.
#[derive(Debug, Clone)]
pub(super) enum Name {
    Inline { len: u8, buf: [u8; INLINE] },
    Heap(Box<str>),
}

impl Name {
    pub(super) fn new(s: &str) -> Name {
        if s.len() <= INLINE {
            let mut buf = [0u8; INLINE];
            buf[..s.len()].copy_from_slice(s.as_bytes());
            Name::Inline {
                len: s.len() as u8,
                buf,
            }
        } else {
            Name::Heap(s.into())
        }
    }

    /// The name's bytes: comparing these skips the UTF-8 check `as_str` makes, and orders
    /// names as `str` does.
    pub(super) fn as_bytes(&self) -> &[u8] {
        match self {
            Name::Inline { len, buf } => &buf[..usize::from(*len)],
            Name::Heap(s) => s.as_bytes(),
        }
    }

    pub(super) fn as_str(&self) -> &str {
        match self {
            // Always valid: built from a `&str` cut at its end.
            Name::Inline { len, buf } => {
                std::str::from_utf8(&buf[..usize::from(*len)]).unwrap_or("")
            }
            Name::Heap(s) => s,
        }
    }
}

/// Child slots, sorted by name. Boxed: most nodes are leaves, and an empty `Option<Box>`
/// is 8 bytes where an empty `Vec` is 24.
#[derive(Debug, Clone, Default)]
pub(super) struct Kids(#[allow(clippy::box_collection)] Option<Box<Vec<u32>>>);

impl Kids {
    pub(super) fn as_slice(&self) -> &[u32] {
        self.0.as_deref().map_or(&[], Vec::as_slice)
    }

    pub(super) fn len(&self) -> usize {
        self.as_slice().len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }

    pub(super) fn vec_mut(&mut self) -> &mut Vec<u32> {
        self.0.get_or_insert_with(Box::default)
    }

    pub(super) fn from_vec(v: Vec<u32>) -> Kids {
        Kids((!v.is_empty()).then(|| Box::new(v)))
    }
}

#[derive(Debug, Clone)]
pub struct DataNode {
    pub stat: StatPersisted,
    /// A plain boxed slice: half the size of `Bytes` and no shared buffer kept alive.
    pub data: Option<Box<[u8]>>,
    pub acl: Arc<Vec<Acl>>,
    /// The ACL cache id snapshots write for this node (-1 for the built-in open nodes).
    pub(super) acl_id: i64,
    /// Children's slots, sorted by name.
    pub(super) children: Kids,
    pub(super) name: Name,
    /// The parent's slot (`u32::MAX` for the root and for free slots).
    pub(super) parent: u32,
    /// `EphemeralType.get(stat.ephemeralOwner)`, fixed at creation with the tree's options.
    pub(super) kind: EphemeralType,
}

impl DataNode {
    pub(super) fn new(
        data: Option<Box<[u8]>>,
        acl: (i64, Arc<Vec<Acl>>),
        stat: StatPersisted,
    ) -> Self {
        DataNode {
            stat,
            data,
            acl: acl.1,
            acl_id: acl.0,
            children: Kids::default(),
            name: Name::new(""),
            parent: u32::MAX,
            kind: EphemeralType::Void,
        }
    }

    pub fn num_children(&self) -> i32 {
        i32::try_from(self.children.len()).unwrap_or(i32::MAX)
    }

    /// The last path component ("" for the root).
    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    /// The data as a shareable buffer (a copy: the node keeps a plain slice).
    pub fn data_bytes(&self) -> Option<Bytes> {
        self.data.as_deref().map(Bytes::copy_from_slice)
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
