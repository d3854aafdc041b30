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

/// Entries per chunk of a parent's child list: an insert or removal moves at most one
/// chunk, so a parent with a million children costs O(log n + CHUNK) per change instead of
/// a memmove of the whole list.
const CHUNK: usize = 512;

#[derive(Debug, Clone, Default)]
struct KidChunks {
    /// The total over `chunks`, kept so `numChildren` (every Stat) is O(1).
    len: usize,
    /// Non-empty chunks; concatenated, the slots sorted by name.
    chunks: Vec<Vec<u32>>,
}

/// Child slots, sorted by name (see [`CHUNK`]). Boxed: most nodes are leaves, and an empty
/// `Option<Box>` is 8 bytes.
#[derive(Debug, Clone, Default)]
pub(super) struct Kids(Option<Box<KidChunks>>);

impl Kids {
    pub(super) fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |k| k.len)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.0
            .iter()
            .flat_map(|k| k.chunks.iter().flat_map(|c| c.iter().copied()))
    }

    pub(super) fn to_vec(&self) -> Vec<u32> {
        self.iter().collect()
    }

    pub(super) fn last(&self) -> Option<u32> {
        self.0
            .as_ref()
            .and_then(|k| k.chunks.last())
            .and_then(|c| c.last().copied())
    }

    pub(super) fn from_vec(v: Vec<u32>) -> Kids {
        if v.is_empty() {
            return Kids(None);
        }
        let len = v.len();
        let chunks = if len <= 2 * CHUNK {
            vec![v]
        } else {
            v.chunks(CHUNK).map(<[u32]>::to_vec).collect()
        };
        Kids(Some(Box::new(KidChunks { len, chunks })))
    }

    /// Append at the end (names in order, or a load that sorts afterwards).
    pub(super) fn push(&mut self, idx: u32) {
        let k = self.0.get_or_insert_with(Box::default);
        match k.chunks.last_mut() {
            Some(c) if c.len() < 2 * CHUNK => c.push(idx),
            _ => k.chunks.push(vec![idx]),
        }
        k.len += 1;
    }

    /// Insert `idx` (named `name`) keeping the order; `name_of` reads a slot's name.
    pub(super) fn insert_sorted<'a>(
        &mut self,
        idx: u32,
        name: &[u8],
        name_of: impl Fn(u32) -> &'a [u8],
    ) {
        let k = self.0.get_or_insert_with(Box::default);
        if k.chunks.is_empty() {
            k.chunks.push(Vec::new());
        }
        let (ci, pos) = position(k, name, &name_of);
        let chunk = &mut k.chunks[ci];
        chunk.insert(pos, idx);
        if chunk.len() > 2 * CHUNK {
            let tail = chunk.split_off(CHUNK);
            k.chunks.insert(ci + 1, tail);
        }
        k.len += 1;
    }

    /// Remove `idx` (named `name`); false if it is not there.
    pub(super) fn remove_sorted<'a>(
        &mut self,
        idx: u32,
        name: &[u8],
        name_of: impl Fn(u32) -> &'a [u8],
    ) -> bool {
        let Some(k) = self.0.as_mut() else {
            return false;
        };
        let (ci, pos) = position(k, name, &name_of);
        let found = k
            .chunks
            .get(ci)
            .and_then(|c| c.get(pos))
            .is_some_and(|&c| c == idx);
        if !found {
            return false;
        }
        k.chunks[ci].remove(pos);
        if k.chunks[ci].is_empty() {
            k.chunks.remove(ci);
        }
        k.len -= 1;
        if k.len == 0 {
            self.0 = None;
        }
        true
    }

    /// The slots whose names sort after `after` (all for `None`), in order.
    pub(super) fn iter_after<'a>(
        &'a self,
        after: Option<&[u8]>,
        name_of: impl Fn(u32) -> &'a [u8],
    ) -> impl Iterator<Item = u32> + 'a {
        let (ci, pos) = match (self.0.as_deref(), after) {
            (Some(k), Some(a)) => {
                let ci = k
                    .chunks
                    .partition_point(|c| c.last().is_some_and(|&l| name_of(l) <= a));
                let pos = k
                    .chunks
                    .get(ci)
                    .map_or(0, |c| c.partition_point(|&s| name_of(s) <= a));
                (ci, pos)
            }
            _ => (0, 0),
        };
        self.0.iter().flat_map(move |k| {
            k.chunks
                .iter()
                .enumerate()
                .skip(ci)
                .flat_map(move |(i, c)| c[if i == ci { pos } else { 0 }..].iter().copied())
        })
    }
}

/// (chunk, position) of the first slot whose name is not below `name`; the chunk is the
/// last one when every name is below.
fn position<'a>(k: &KidChunks, name: &[u8], name_of: &impl Fn(u32) -> &'a [u8]) -> (usize, usize) {
    if k.chunks.is_empty() {
        return (0, 0);
    }
    let ci = k
        .chunks
        .partition_point(|c| c.last().is_some_and(|&l| name_of(l) < name))
        .min(k.chunks.len() - 1);
    let pos = k.chunks[ci].partition_point(|&s| name_of(s) < name);
    (ci, pos)
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
