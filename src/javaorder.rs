//! Iteration orders of the Java hash collections whose order the reference's outputs follow:
//! the nodes of a snapshot file, the `dump` of a session's ephemerals, the order a
//! closeSession deletes them in (which decides its events and, under a quota, its counts).
//!
//! A `HashMap` iterates bucket by bucket (the key's hash spread by `HashMap#hash`, masked by
//! the table size) and, within a bucket, in insertion order; a table doubles past 3/4 load
//! and never shrinks. Where the reference's history cannot be known (a set that once held
//! more entries, collisions ordered by a source map's history, the tree bins of a bucket with
//! more than eight entries in a table of 64 or more) the order falls back to a deterministic
//! one.

use std::collections::HashMap;

/// `String#hashCode` over UTF-16 code units.
pub(crate) fn string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// `Long#hashCode`.
pub(crate) fn long_hash(v: i64) -> i32 {
    (v ^ ((v as u64) >> 32) as i64) as i32
}

/// The bucket `HashMap` puts a key with hash `h` in, for a table of `cap` (a power of two).
pub(crate) fn bucket(h: i32, cap: usize) -> usize {
    let spread = h ^ ((h as u32) >> 16) as i32;
    (spread as u32 as usize) & (cap - 1)
}

/// `HashMap.tableSizeFor`.
fn table_size_for(c: usize) -> usize {
    c.max(1).next_power_of_two().min(1 << 30)
}

/// Table size of `new HashMap<>(map)` or `map.clone()` for a map of `n` entries (JDK 8–17
/// pre-sizing).
pub(crate) fn copy_capacity(n: usize) -> usize {
    let ft = n as f32 / 0.75f32 + 1.0f32;
    table_size_for(ft as usize)
}

/// Table size of a `new HashSet<>(8)` that grew to `n` entries without shrinking.
pub(crate) fn child_set_capacity(n: usize) -> usize {
    let mut cap = 8usize;
    while n * 4 > cap * 3 && cap < (1 << 30) {
        cap *= 2;
    }
    cap
}

/// Sorts `items` into the order a Java hash table of `cap` iterates them: by bucket, then
/// by `tie` (the insertion order, as far as we know it).
pub(crate) fn sort_like_java<T, K: Ord>(
    items: &mut [T],
    cap: usize,
    hash: impl Fn(&T) -> i32,
    tie: impl Fn(&T) -> K,
) {
    // keys computed once per item: hashing names inside the comparator was O(n log n) hashes
    items.sort_by_cached_key(|item| (bucket(hash(item), cap), tie(item)));
}

/// Default table size of `new HashSet<>()`, allocated at the first add.
const DEFAULT_CAPACITY: usize = 16;
/// A bucket holding this many entries when one more arrives is turned into a tree bin, or,
/// in a table smaller than [`MIN_TREEIFY_CAPACITY`], makes the table double instead.
const TREEIFY_THRESHOLD: u32 = 8;
const MIN_TREEIFY_CAPACITY: usize = 64;

/// A `java.util.HashSet<String>` reduced to what decides its iteration order: each member's
/// hash and insertion rank, and a table size that grows as the reference's does.
#[derive(Debug, Clone)]
pub(crate) struct JavaStringSet {
    members: HashMap<Box<str>, Member>,
    /// Members per bucket of the current table, for the resize a crowded bucket causes.
    bins: HashMap<usize, u32>,
    /// 0 until the first add allocates a table of `initial`.
    capacity: usize,
    initial: usize,
    next_rank: u64,
}

#[derive(Debug, Clone, Copy)]
struct Member {
    hash: i32,
    rank: u64,
}

impl Default for JavaStringSet {
    fn default() -> Self {
        Self::presized(DEFAULT_CAPACITY)
    }
}

impl JavaStringSet {
    fn presized(initial: usize) -> Self {
        JavaStringSet {
            members: HashMap::new(),
            bins: HashMap::new(),
            capacity: 0,
            initial,
            next_rank: 0,
        }
    }

    /// `new HashSet<String>(8)`, the child set `DataNode#addChild` creates.
    pub(crate) fn child_set() -> Self {
        Self::presized(8)
    }

    pub(crate) fn len(&self) -> usize {
        self.members.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// `HashMap#putVal`: appended to its bucket; the table doubles when that bucket already
    /// held [`TREEIFY_THRESHOLD`] entries in a small table, and when the set outgrows 3/4 of it.
    pub(crate) fn insert(&mut self, key: &str) -> bool {
        if self.members.contains_key(key) {
            return false;
        }
        if self.capacity == 0 {
            self.capacity = self.initial;
        }
        let hash = string_hash(key);
        let bin = self.bins.entry(bucket(hash, self.capacity)).or_insert(0);
        let crowded = *bin >= TREEIFY_THRESHOLD;
        *bin += 1;
        self.members.insert(
            key.into(),
            Member {
                hash,
                rank: self.next_rank,
            },
        );
        self.next_rank += 1;
        if crowded && self.capacity < MIN_TREEIFY_CAPACITY {
            self.grow();
        }
        if self.members.len() > self.capacity * 3 / 4 {
            self.grow();
        }
        true
    }

    pub(crate) fn remove(&mut self, key: &str) -> bool {
        let Some(m) = self.members.remove(key) else {
            return false;
        };
        if let Some(bin) = self.bins.get_mut(&bucket(m.hash, self.capacity)) {
            *bin = bin.saturating_sub(1);
        }
        true
    }

    fn grow(&mut self) {
        self.capacity *= 2;
        self.bins.clear();
        for m in self.members.values() {
            *self.bins.entry(bucket(m.hash, self.capacity)).or_insert(0) += 1;
        }
    }

    /// The members in the order the reference's set iterates them.
    pub(crate) fn java_order(&self) -> Vec<&str> {
        let mut v: Vec<(usize, u64, &str)> = self
            .members
            .iter()
            .map(|(k, m)| (bucket(m.hash, self.capacity.max(1)), m.rank, &**k))
            .collect();
        v.sort_unstable();
        v.into_iter().map(|(_, _, k)| k).collect()
    }

    /// `HashSet#clone`: a table pre-sized for the current members, filled in iteration order.
    pub(crate) fn java_clone(&self) -> JavaStringSet {
        let mut copy = JavaStringSet::presized(copy_capacity(self.len()));
        for k in self.java_order() {
            copy.insert(k);
        }
        copy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_hashes() {
        assert_eq!(string_hash("zookeeper"), 1_600_681_804);
        assert_eq!(string_hash(""), 0);
        assert_eq!(long_hash(-1), 0);
        assert_eq!(long_hash(5), 5);
        assert_eq!(copy_capacity(3), 8);
        assert_eq!(copy_capacity(12), 32);
        assert_eq!(child_set_capacity(6), 8);
        assert_eq!(child_set_capacity(7), 16);
    }

    fn set(keys: &[&str]) -> JavaStringSet {
        let mut s = JavaStringSet::default();
        for k in keys {
            s.insert(k);
        }
        s
    }

    fn joined(s: &JavaStringSet) -> String {
        s.java_order().join(",")
    }

    /// The `i`-th of 16 keys with one `String#hashCode` ("Aa" and "BB" hash alike).
    fn colliding(i: usize) -> String {
        let mut k = String::from("/");
        for bit in (0..4).rev() {
            k.push_str(if (i >> bit) & 1 == 0 { "Aa" } else { "BB" });
        }
        k
    }

    // Expected orders printed by OpenJDK 17's HashSet for the same operations.
    #[test]
    fn iterates_like_java_hash_set() {
        let two = set(&["/zookeeper/quota/a/zookeeper_limits", "/a"]);
        assert_eq!(joined(&two), "/zookeeper/quota/a/zookeeper_limits,/a");
        assert_eq!(joined(&two.java_clone()), joined(&two));

        let names: Vec<String> = (0..20).map(|i| format!("/n{i}")).collect();
        let mut grown = JavaStringSet::default();
        for n in &names {
            grown.insert(n);
        }
        assert_eq!(
            joined(&grown),
            "/n11,/n10,/n19,/n0,/n18,/n1,/n17,/n2,/n16,/n3,/n15,/n4,/n14,/n5,/n13,/n6,/n12,/n7,/n8,/n9"
        );
        for n in &names[..15] {
            assert!(grown.remove(n));
        }
        for k in ["/z1", "/y2", "/x3"] {
            grown.insert(k);
        }
        assert_eq!(
            joined(&grown),
            "/z1,/y2,/x3,/n19,/n18,/n17,/n16,/n15",
            "kept its table of 32"
        );
        let mut copy = grown.java_clone();
        assert_eq!(
            joined(&copy),
            "/n19,/n18,/n17,/n16,/n15,/z1,/y2,/x3",
            "pre-sized to 16"
        );
        copy.insert("/late1");
        copy.insert("/late2");
        copy.remove("/n16");
        for i in 0..6 {
            copy.insert(&format!("/m{i}"));
        }
        assert_eq!(
            joined(&copy),
            "/z1,/y2,/x3,/late2,/late1,/n19,/n18,/n17,/m0,/m1,/n15,/m2,/m3,/m4,/m5"
        );
    }

    #[test]
    fn crowded_bucket_doubles_a_small_table() {
        let mut small = JavaStringSet::default();
        for i in 0..9 {
            small.insert(&colliding(i));
        }
        small.insert("/o1");
        small.insert("/o17");
        let want = "/o1,/o17,/AaAaAaAa,/AaAaAaBB,/AaAaBBAa,/AaAaBBBB,/AaBBAaAa,/AaBBAaBB,\
                    /AaBBBBAa,/AaBBBBBB,/BBAaAaAa";
        assert_eq!(joined(&small), want);
        assert_eq!(joined(&small.java_clone()), want);

        let mut s = set(&["/q", "/r"]);
        for i in 0..8 {
            s.insert(&colliding(i));
            s.insert(&format!("/o{i}"));
        }
        assert_eq!(
            joined(&s),
            "/o0,/o1,/o2,/o3,/o4,/o5,/o6,/o7,/q,/r,/AaAaAaAa,/AaAaAaBB,/AaAaBBAa,/AaAaBBBB,\
             /AaBBAaAa,/AaBBAaBB,/AaBBBBAa,/AaBBBBBB"
        );
    }
}
