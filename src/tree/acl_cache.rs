//! `ReferenceCountedACLCache`: each distinct ACL list is stored once and numbered; nodes hold
//! the shared `Arc` and the number, which snapshots write instead of the list.
//!
//! Invariants (as the reference): ids grow from 1 and are never reused; id -1 is
//! `OPEN_ACL_UNSAFE` and is never in the map (only the built-in nodes use it); an entry is
//! dropped when its reference count reaches zero.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use crate::jute::data::Acl;
use crate::jute::txn_ref::AclsRef;

/// `ReferenceCountedACLCache.OPEN_UNSAFE_ACL_ID`.
pub const OPEN_UNSAFE_ACL_ID: i64 = -1;

/// Hash/Eq view of an ACL list (the jute records derive only `Eq`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct AclKey(Arc<Vec<Acl>>);

impl Hash for AclKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.len().hash(state);
        for a in self.0.iter() {
            a.perms.hash(state);
            a.id.scheme.hash(state);
            a.id.id.hash(state);
        }
    }
}

#[derive(Debug, Clone)]
struct Entry {
    acl: Arc<Vec<Acl>>,
    refs: u64,
}

#[derive(Debug, Clone)]
pub struct AclCache {
    by_id: BTreeMap<i64, Entry>,
    by_list: HashMap<AclKey, i64>,
    /// `aclIndex`: the last id handed out.
    index: i64,
    open_unsafe: Arc<Vec<Acl>>,
    /// The id `by_list` gave the last list interned, while `by_list` is unchanged: most
    /// creates repeat one list, and probing the map needs an owned copy of it.
    last: Option<i64>,
    /// The last encoded list [`AclCache::intern_encoded`] decoded: replayed creates repeat
    /// the same bytes, so they skip decoding (and its allocations).
    last_encoded: Option<(Vec<u8>, Vec<Acl>)>,
}

impl Default for AclCache {
    fn default() -> Self {
        AclCache {
            by_id: BTreeMap::new(),
            by_list: HashMap::new(),
            index: 0,
            open_unsafe: Arc::new(Acl::open_unsafe()),
            last: None,
            last_encoded: None,
        }
    }
}

impl AclCache {
    /// `convertAcls`: the id and shared list for `acl`, counting one more user.
    pub fn intern(&mut self, acl: &[Acl]) -> (i64, Arc<Vec<Acl>>) {
        let repeat = self.last.and_then(|id| {
            self.by_id
                .get(&id)
                .filter(|e| e.acl.as_slice() == acl)
                .map(|_| id)
        });
        if let Some(id) = repeat {
            self.add_usage(id);
            let shared = self.get(id).unwrap_or(&self.open_unsafe).clone();
            return (id, shared);
        }
        let probe = AclKey(Arc::new(acl.to_vec()));
        let id = match self.by_list.get(&probe) {
            Some(id) => *id,
            None => {
                self.index += 1;
                let id = self.index;
                self.by_id.insert(
                    id,
                    Entry {
                        acl: probe.0.clone(),
                        refs: 0,
                    },
                );
                self.by_list.insert(probe, id);
                id
            }
        };
        self.last = Some(id);
        self.add_usage(id);
        let shared = self.get(id).unwrap_or(&self.open_unsafe).clone();
        (id, shared)
    }

    /// [`AclCache::intern`] for a list still in its Jute encoding (`vector<ACL>`).
    pub fn intern_encoded(&mut self, acl: AclsRef<'_>) -> (i64, Arc<Vec<Acl>>) {
        let cached = match self.last_encoded.take() {
            Some((bytes, list)) if bytes == acl.0 => (bytes, list),
            _ => (acl.0.to_vec(), acl.to_vec()),
        };
        let r = self.intern(&cached.1);
        self.last_encoded = Some(cached);
        r
    }

    /// `addUsage`: one more node uses `id` (ignored for -1 and unknown ids).
    pub fn add_usage(&mut self, id: i64) {
        self.add_usages(id, 1);
    }

    /// `uses` more nodes use `id` (a load counts them in batches).
    pub fn add_usages(&mut self, id: i64, uses: u64) {
        match self.by_id.get_mut(&id) {
            Some(e) => e.refs += uses,
            None if id == OPEN_UNSAFE_ACL_ID => {}
            None => tracing::info!(acl = id, uses, "ignoring acl not in the cache"),
        }
    }

    /// `removeUsage`: one node less uses `id`; the entry goes when none is left.
    pub fn release(&mut self, id: i64) {
        let Some(e) = self.by_id.get_mut(&id) else {
            return;
        };
        e.refs = e.refs.saturating_sub(1);
        if e.refs == 0 {
            if let Some(e) = self.by_id.remove(&id) {
                self.by_list.remove(&AclKey(e.acl));
                self.last = None;
            }
        }
    }

    /// `convertLong`: the list for an id (-1 is `OPEN_ACL_UNSAFE`).
    pub fn get(&self, id: i64) -> Option<&Arc<Vec<Acl>>> {
        if id == OPEN_UNSAFE_ACL_ID {
            return Some(&self.open_unsafe);
        }
        self.by_id.get(&id).map(|e| &e.acl)
    }

    /// The shared `OPEN_ACL_UNSAFE` list the built-in nodes carry under id -1.
    pub fn open_unsafe(&self) -> Arc<Vec<Acl>> {
        self.open_unsafe.clone()
    }

    /// Entries in id order, for the snapshot's ACL map.
    pub fn iter(&self) -> impl Iterator<Item = (i64, &Arc<Vec<Acl>>)> {
        self.by_id.iter().map(|(id, e)| (*id, &e.acl))
    }

    /// `size()`: number of distinct lists held.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Reference count of an id (0 if absent).
    pub fn usage(&self, id: i64) -> u64 {
        self.by_id.get(&id).map_or(0, |e| e.refs)
    }

    /// Snapshot loading (`deserialize`): enter a list under its stored id with no users yet;
    /// nodes then call [`AclCache::add_usage`] and finally [`AclCache::purge_unused`].
    pub fn insert_loaded(&mut self, id: i64, acl: Vec<Acl>) -> Arc<Vec<Acl>> {
        self.index = self.index.max(id);
        let acl = Arc::new(acl);
        self.by_list.insert(AclKey(acl.clone()), id);
        self.last = None;
        self.by_id.insert(
            id,
            Entry {
                acl: acl.clone(),
                refs: 0,
            },
        );
        acl
    }

    /// `purgeUnused`: drop entries no node refers to.
    pub fn purge_unused(&mut self) {
        let unused: Vec<i64> = self
            .by_id
            .iter()
            .filter(|(_, e)| e.refs == 0)
            .map(|(id, _)| *id)
            .collect();
        for id in unused {
            if let Some(e) = self.by_id.remove(&id) {
                self.by_list.remove(&AclKey(e.acl));
                self.last = None;
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn interning_and_release() {
        let mut c = AclCache::default();
        let (a, la) = c.intern(&Acl::read_unsafe());
        let (b, lb) = c.intern(&Acl::open_unsafe());
        let (a2, la2) = c.intern(&Acl::read_unsafe());
        assert_eq!((a, b, a2), (1, 2, 1));
        assert!(Arc::ptr_eq(&la, &la2));
        assert_eq!(*lb, Acl::open_unsafe());
        assert_eq!(c.usage(1), 2);
        c.release(1);
        c.release(1);
        assert!(c.get(1).is_none());
        // ids are never reused
        assert_eq!(c.intern(&Acl::read_unsafe()).0, 3);
        assert_eq!(**c.get(OPEN_UNSAFE_ACL_ID).unwrap(), Acl::open_unsafe());
        c.release(OPEN_UNSAFE_ACL_ID);
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn encoded_lists_intern_like_decoded_ones() {
        use crate::jute::Jute;
        let mut c = AclCache::default();
        let read = Acl::read_unsafe().to_vec();
        let open = Acl::open_unsafe().to_vec();
        let (a, _) = c.intern_encoded(AclsRef(&read));
        let (b, lb) = c.intern_encoded(AclsRef(&open));
        let (b2, lb2) = c.intern_encoded(AclsRef(&open));
        assert_eq!((a, b, b2), (1, 2, 2));
        assert!(Arc::ptr_eq(&lb, &lb2));
        assert_eq!(c.usage(2), 2);
        c.release(2);
        c.release(2);
        assert_eq!(c.intern_encoded(AclsRef(&open)).0, 3);
        assert_eq!(c.intern(&Acl::read_unsafe()).0, 1);
        assert_eq!(c.usage(1), 2);
    }
}
