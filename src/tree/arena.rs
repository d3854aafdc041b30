//! Node storage for [`super::DataTree`]: replaces the reference's `NodeHashMapImpl`
//! (a map from full path to `DataNode`) with an arena of nodes addressed by `u32` slot,
//! so each path component is stored once, in its own node.
//!
//! Invariants:
//! - slot [`ROOT`] is the root; it is never freed and is not in `index`;
//! - every other live node is in `index` under `(parent slot, name)` and in its parent's
//!   `children`, which stay sorted by name (except during a load: [`Arena::link_loaded`]
//!   appends, [`Arena::sort_children_of`] sorts);
//! - a freed slot has `parent == NONE` and is on `free` until reused.

use std::ops::{Index, IndexMut};
use std::sync::Arc;

use hashbrown::HashTable;

use super::node::{DataNode, Kids, Name};
use crate::jute::data::{Acl, StatPersisted};

pub(super) const ROOT: u32 = 0;
pub(super) const NONE: u32 = u32::MAX;

/// Slots per chunk of [`Slots`]; a power of two so a slot number splits with a shift.
const CHUNK_BITS: u32 = 12;
pub(super) const CHUNK: usize = 1 << CHUNK_BITS;

/// The node table, in chunks of [`CHUNK`] slots. Only the first chunk grows by
/// reallocation (so a small tree stays small); later ones are allocated full and never
/// move. A single `Vec` would copy every node each time it doubled (jemalloc has no
/// `mremap`), which at a million nodes was an eighth of a restart.
#[derive(Debug, Clone, Default)]
struct Slots {
    chunks: Vec<Vec<DataNode>>,
    len: usize,
}

impl Slots {
    /// Room for `capacity` slots in the first chunk (at most one chunk's worth).
    fn with_capacity(capacity: usize) -> Slots {
        Slots {
            chunks: vec![Vec::with_capacity(capacity.clamp(1, CHUNK))],
            len: 0,
        }
    }

    fn len(&self) -> usize {
        self.len
    }

    fn get(&self, idx: u32) -> Option<&DataNode> {
        self.chunks
            .get((idx >> CHUNK_BITS) as usize)?
            .get(idx as usize & (CHUNK - 1))
    }

    fn get_mut(&mut self, idx: u32) -> Option<&mut DataNode> {
        self.chunks
            .get_mut((idx >> CHUNK_BITS) as usize)?
            .get_mut(idx as usize & (CHUNK - 1))
    }

    /// Appends `node`; its slot number, or [`NONE`] past `u32` slots.
    fn push(&mut self, node: DataNode) -> u32 {
        match self.chunks.last_mut() {
            Some(last) if last.len() < CHUNK => last.push(node),
            _ => {
                let mut chunk = Vec::with_capacity(CHUNK);
                chunk.push(node);
                self.chunks.push(chunk);
            }
        }
        self.len += 1;
        u32::try_from(self.len - 1).unwrap_or(NONE)
    }

    fn iter(&self) -> impl Iterator<Item = &DataNode> {
        self.chunks.iter().flatten()
    }

    /// Appends `nodes`; a vector of one chunk's capacity that starts a chunk becomes that
    /// chunk without being copied.
    fn append(&mut self, nodes: Vec<DataNode>) {
        let last_full = self.chunks.last().map_or(true, |c| c.len() == CHUNK);
        if last_full && nodes.capacity() == CHUNK {
            self.len += nodes.len();
            self.chunks.push(nodes);
            return;
        }
        for node in nodes {
            self.push(node);
        }
    }
}

impl Index<u32> for Slots {
    type Output = DataNode;
    fn index(&self, idx: u32) -> &DataNode {
        &self.chunks[(idx >> CHUNK_BITS) as usize][idx as usize & (CHUNK - 1)]
    }
}

impl IndexMut<u32> for Slots {
    fn index_mut(&mut self, idx: u32) -> &mut DataNode {
        &mut self.chunks[(idx >> CHUNK_BITS) as usize][idx as usize & (CHUNK - 1)]
    }
}

#[derive(Debug, Clone)]
pub(super) struct Arena {
    slots: Slots,
    free: Vec<u32>,
    /// Slot of each non-root node, hashed by (parent slot, name).
    index: HashTable<u32>,
    /// Randomly keyed, so client-chosen names cannot force collisions.
    hasher: ahash::RandomState,
    live: usize,
    /// What freed slots hold, so they keep no ACL list alive.
    vacant_acl: Arc<Vec<Acl>>,
}

pub(super) fn slot_hash(hasher: &ahash::RandomState, parent: u32, name: &[u8]) -> u64 {
    hasher.hash_one((parent, name))
}

impl Arena {
    /// An arena holding only `root`, with room for `capacity` nodes.
    pub(super) fn new(mut root: DataNode, capacity: usize) -> Arena {
        root.parent = NONE;
        root.name = Name::new("");
        let mut slots = Slots::with_capacity(capacity);
        slots.push(root);
        Arena {
            slots,
            free: Vec::new(),
            index: HashTable::with_capacity(capacity),
            hasher: ahash::RandomState::new(),
            live: 1,
            vacant_acl: Arc::new(Vec::new()),
        }
    }

    /// Room for `additional` more nodes in the index, so it does not rehash step by step
    /// (the slots grow a chunk at a time and need no reserving).
    pub(super) fn reserve(&mut self, additional: usize) {
        let Arena {
            slots,
            index,
            hasher,
            ..
        } = self;
        index.reserve(additional, |&i| {
            let n = &slots[i];
            slot_hash(hasher, n.parent, n.name.as_bytes())
        });
    }

    /// Live nodes, the root included.
    pub(super) fn len(&self) -> usize {
        self.live
    }

    pub(super) fn get(&self, idx: u32) -> Option<&DataNode> {
        self.slots
            .get(idx)
            .filter(|n| idx == ROOT || n.parent != NONE)
    }

    pub(super) fn get_mut(&mut self, idx: u32) -> Option<&mut DataNode> {
        self.slots
            .get_mut(idx)
            .filter(|n| idx == ROOT || n.parent != NONE)
    }

    pub(super) fn root(&self) -> &DataNode {
        &self.slots[ROOT]
    }

    /// The child of `parent` called `name`.
    pub(super) fn child(&self, parent: u32, name: &str) -> Option<u32> {
        let name = name.as_bytes();
        let h = slot_hash(&self.hasher, parent, name);
        let slots = &self.slots;
        self.index
            .find(h, |&i| {
                slots
                    .get(i)
                    .is_some_and(|n| n.parent == parent && n.name.as_bytes() == name)
            })
            .copied()
    }

    /// The slot of an absolute path; "" and "/" are the root. Empty components never match.
    pub(super) fn lookup(&self, path: &str) -> Option<u32> {
        if path.is_empty() || path == "/" {
            return Some(ROOT);
        }
        let rest = path.strip_prefix('/')?;
        rest.split('/')
            .try_fold(ROOT, |cur, name| self.child(cur, name))
    }

    /// The slot of `path`'s parent and `path`'s last component.
    pub(super) fn lookup_parent<'p>(&self, path: &'p str) -> Option<(u32, &'p str)> {
        let (parent, name) = super::split_parent(path)?;
        Some((self.lookup(parent)?, name))
    }

    fn alloc(&mut self, node: DataNode) -> u32 {
        self.live += 1;
        if let Some(idx) = self.free.pop() {
            self.slots[idx] = node;
            idx
        } else {
            self.slots.push(node)
        }
    }

    fn index_insert(&mut self, parent: u32, name: &str, idx: u32) {
        let h = slot_hash(&self.hasher, parent, name.as_bytes());
        let Arena {
            slots,
            index,
            hasher,
            ..
        } = self;
        index.insert_unique(h, idx, |&i| {
            let n = &slots[i];
            slot_hash(hasher, n.parent, n.name.as_bytes())
        });
    }

    /// Adds `node` as `parent`'s child `name` (which must not exist), keeping the parent's
    /// children sorted.
    pub(super) fn insert(&mut self, parent: u32, name: &str, mut node: DataNode) -> u32 {
        node.parent = parent;
        node.name = Name::new(name);
        let idx = self.alloc(node);
        self.index_insert(parent, name, idx);
        let mut kids = std::mem::take(&mut self.slots[parent].children);
        let slots = &self.slots;
        let name_of = |c: u32| slots.get(c).map_or(&[][..], |n| n.name.as_bytes());
        let after_last = kids.last().map_or(true, |c| name_of(c) < name.as_bytes());
        if after_last {
            // Names often arrive in order (sequential nodes, bulk loads): append.
            kids.push(idx);
        } else {
            kids.insert_sorted(idx, name.as_bytes(), name_of);
        }
        self.slots[parent].children = kids;
        idx
    }

    /// The key of [`slot_hash`], for a loader hashing nodes on another thread.
    pub(super) fn hasher(&self) -> &ahash::RandomState {
        &self.hasher
    }

    /// The slot the next appended node takes (a load appends to an arena that has freed
    /// nothing).
    pub(super) fn next_slot(&self) -> usize {
        self.slots.len()
    }

    /// Appends nodes a load prepared in slot order, each named and with its parent's slot
    /// where known; [`Arena::link_loaded`] then puts each in the index and its parent's
    /// children.
    pub(super) fn append_loaded(&mut self, nodes: Vec<DataNode>) {
        self.live += nodes.len();
        self.slots.append(nodes);
    }

    /// Links the appended node at `idx` under `parent` (`hash`: its [`slot_hash`], if the
    /// loader knew the parent): the parent's children stay unsorted until
    /// [`Arena::sort_children_of`]. False if the parent already has a child of that name.
    pub(super) fn link_loaded(&mut self, idx: u32, parent: u32, hash: Option<u64>) -> bool {
        let Arena {
            slots,
            index,
            hasher,
            ..
        } = self;
        let h = match hash {
            Some(h) => h,
            None => {
                slots[idx].parent = parent;
                slot_hash(hasher, parent, slots[idx].name.as_bytes())
            }
        };
        // The new node's name is read only for a candidate with the same hash tag: its
        // line was written on the loader's core.
        let slots_now = &*slots;
        let entry = index.entry(
            h,
            |&i| {
                slots_now.get(i).is_some_and(|n| {
                    n.parent == parent && n.name.as_bytes() == slots_now[idx].name.as_bytes()
                })
            },
            |&i| {
                let n = &slots_now[i];
                slot_hash(hasher, n.parent, n.name.as_bytes())
            },
        );
        let hashbrown::hash_table::Entry::Vacant(vacant) = entry else {
            return false;
        };
        vacant.insert(idx);
        slots[parent].children.push(idx);
        true
    }

    /// Sorts `idx`'s children by name (a load links them unsorted).
    pub(super) fn sort_children_of(&mut self, idx: u32) {
        let Some(node) = self.slots.get_mut(idx) else {
            return;
        };
        if node.children.len() < 2 {
            return;
        }
        let kids = std::mem::take(&mut node.children);
        let slots = &self.slots;
        let mut named: Vec<(&[u8], u32)> =
            kids.iter().map(|c| (slots[c].name.as_bytes(), c)).collect();
        named.sort_unstable();
        let sorted: Vec<u32> = named.into_iter().map(|(_, c)| c).collect();
        self.slots[idx].children = Kids::from_vec(sorted);
    }

    /// Removes `parent`'s child `name` and returns it (with no children: a node deleted
    /// while it still had some takes them along, which valid txns never ask for).
    pub(super) fn remove(&mut self, parent: u32, name: &str) -> Option<DataNode> {
        let idx = self.child(parent, name)?;
        let mut kids = std::mem::take(&mut self.slots[parent].children);
        let slots = &self.slots;
        let name_of = |c: u32| slots.get(c).map_or(&[][..], |n| n.name.as_bytes());
        if !kids.remove_sorted(idx, name.as_bytes(), name_of) {
            // not where its name says: keep the list consistent the slow way
            let rest: Vec<u32> = kids.iter().filter(|&c| c != idx).collect();
            kids = Kids::from_vec(rest);
        }
        self.slots[parent].children = kids;
        let node = self.release(idx);
        let mut orphans = node.children.to_vec();
        while let Some(child) = orphans.pop() {
            let gone = self.release(child);
            orphans.extend(gone.children.iter());
        }
        Some(node)
    }

    /// Frees `idx`'s slot (dropping it from the index) and returns what it held.
    fn release(&mut self, idx: u32) -> DataNode {
        let (parent, h) = {
            let n = &self.slots[idx];
            (
                n.parent,
                slot_hash(&self.hasher, n.parent, n.name.as_bytes()),
            )
        };
        if let Ok(entry) = self.index.find_entry(h, |&i| i == idx) {
            entry.remove();
        }
        let vacant = DataNode::new(None, (0, self.vacant_acl.clone()), StatPersisted::default());
        let node = std::mem::replace(&mut self.slots[idx], vacant);
        debug_assert_ne!(parent, NONE);
        self.free.push(idx);
        self.live -= 1;
        node
    }

    /// The full path of a live slot ("/" for the root).
    pub(super) fn path_of(&self, idx: u32) -> String {
        if idx == ROOT {
            return "/".to_string();
        }
        let mut names = Vec::new();
        let mut cur = idx;
        while cur != ROOT && cur != NONE {
            let n = &self.slots[cur];
            names.push(n.name.as_str());
            cur = n.parent;
        }
        let mut p = String::new();
        for name in names.iter().rev() {
            p.push('/');
            p.push_str(name);
        }
        p
    }

    /// Children of a node, in name order.
    pub(super) fn children_of<'a>(
        &'a self,
        node: &'a DataNode,
    ) -> impl Iterator<Item = (&'a str, &'a DataNode)> + 'a {
        node.children.iter().filter_map(move |c| {
            let n = self.slots.get(c)?;
            Some((n.name.as_str(), n))
        })
    }

    /// Every live slot with its node.
    pub(super) fn iter(&self) -> impl Iterator<Item = (u32, &DataNode)> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(i, n)| *i == ROOT as usize || n.parent != NONE)
            .map(|(i, n)| (u32::try_from(i).unwrap_or(NONE), n))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn leaf() -> DataNode {
        DataNode::new(None, (0, Arc::new(Vec::new())), StatPersisted::default())
    }

    #[test]
    fn slots_are_reused_and_children_stay_sorted() {
        let mut a = Arena::new(leaf(), 0);
        let long = "x".repeat(40);
        for name in ["b", "a", long.as_str(), "c"] {
            a.insert(ROOT, name, leaf());
        }
        let names = |a: &Arena| -> Vec<String> {
            a.children_of(a.root())
                .map(|(n, _)| n.to_string())
                .collect()
        };
        assert_eq!(names(&a), ["a", "b", "c", long.as_str()]);
        let b = a.lookup("/b").unwrap();
        let under = a.insert(b, "deep", leaf());
        assert_eq!(a.path_of(under), "/b/deep");
        assert!(a.remove(ROOT, "b").is_some());
        assert_eq!(a.len(), 4);
        assert!(a.lookup("/b").is_none() && a.lookup("/b/deep").is_none());
        let again = a.insert(ROOT, "d", leaf());
        assert!(again == b || again == under);
        assert_eq!(a.lookup("/d"), Some(again));
        assert!(a.lookup("/a//").is_none() && a.lookup("a").is_none());
    }

    #[test]
    fn loaded_children_are_sorted_at_the_end() {
        let mut a = Arena::new(leaf(), 4);
        let named = |name: &str| {
            let mut n = leaf();
            n.name = Name::new(name);
            n
        };
        a.append_loaded(["z", "m", "a", "m"].map(named).into());
        for idx in 1..4 {
            assert!(a.link_loaded(idx, ROOT, None));
        }
        assert!(!a.link_loaded(4, ROOT, None), "a second child named m");
        a.sort_children_of(ROOT);
        let got: Vec<&str> = a.children_of(a.root()).map(|(n, _)| n).collect();
        assert_eq!(got, ["a", "m", "z"]);
    }

    #[test]
    fn a_wide_parent_stays_sorted_across_chunks() {
        let mut a = Arena::new(leaf(), 16);
        // interleaved names, as concurrent sessions create them: never append-only
        let mut names: Vec<String> = (0..5000u32)
            .map(|i| format!("c{}_{}", i % 64, i / 64))
            .collect();
        for n in &names {
            a.insert(ROOT, n, leaf());
        }
        names.sort();
        let listed = |a: &Arena| -> Vec<String> {
            a.children_of(a.root())
                .map(|(n, _)| n.to_string())
                .collect()
        };
        assert_eq!(listed(&a), names);
        // remove every third, from the middle out
        let gone: Vec<String> = names.iter().step_by(3).cloned().collect();
        for n in gone.iter().rev() {
            assert!(a.remove(ROOT, n).is_some(), "{n}");
        }
        names.retain(|n| !gone.contains(n));
        assert_eq!(listed(&a), names);
        assert_eq!(a.root().children.len(), names.len());
        for n in &names {
            assert!(a.child(ROOT, n).is_some());
        }
    }

    #[test]
    fn growth_past_the_first_chunk_moves_no_node() {
        let mut a = Arena::new(leaf(), 1);
        let parent = a.insert(ROOT, "p", leaf());
        for i in 0..CHUNK {
            a.insert(parent, &format!("n{i:05}"), leaf());
        }
        let at = |a: &Arena, idx: u32| std::ptr::from_ref(a.get(idx).unwrap()) as usize;
        let (parent_at, root_at) = (at(&a, parent), at(&a, ROOT));
        for i in CHUNK..3 * CHUNK {
            a.insert(parent, &format!("n{i:05}"), leaf());
        }
        assert_eq!((at(&a, parent), at(&a, ROOT)), (parent_at, root_at));
        assert_eq!(a.len(), 3 * CHUNK + 2);
        assert_eq!(a.iter().count(), a.len());
        let name = format!("/p/n{:05}", 3 * CHUNK - 1);
        assert_eq!(a.path_of(a.lookup(&name).unwrap()), name);
    }
}
