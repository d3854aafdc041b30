//! The iteration order of the Java hash collections a snapshot is written from, so that a
//! tree the reference wrote and we re-load is written back byte for byte in most cases.
//!
//! The order never matters to a reader (any order loads the same tree); it is emulated only
//! to make our files comparable with the reference's. Cases we cannot know (a child set
//! that once held more entries and kept its larger table, hash collisions ordered by a
//! source map's history, tree bins) fall back to a deterministic order.

/// `String#hashCode` over UTF-16 code units.
pub(super) fn string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// `Long#hashCode`.
pub(super) fn long_hash(v: i64) -> i32 {
    (v ^ ((v as u64) >> 32) as i64) as i32
}

/// The bucket `HashMap` puts a key with hash `h` in, for a table of `cap` (a power of two).
pub(super) fn bucket(h: i32, cap: usize) -> usize {
    let spread = h ^ ((h as u32) >> 16) as i32;
    (spread as u32 as usize) & (cap - 1)
}

/// `HashMap.tableSizeFor`.
fn table_size_for(c: usize) -> usize {
    c.max(1).next_power_of_two().min(1 << 30)
}

/// Table size of `new HashMap<>(map)` for a map of `n` entries (JDK 8–17 pre-sizing).
pub(super) fn copy_capacity(n: usize) -> usize {
    let ft = n as f32 / 0.75f32 + 1.0f32;
    table_size_for(ft as usize)
}

/// Table size of a `new HashSet<>(8)` that grew to `n` entries without shrinking.
pub(super) fn child_set_capacity(n: usize) -> usize {
    let mut cap = 8usize;
    while n * 4 > cap * 3 && cap < (1 << 30) {
        cap *= 2;
    }
    cap
}

/// Sorts `items` into the order a Java hash table of `cap` iterates them: by bucket, then
/// by `tie` (the insertion order, as far as we know it).
pub(super) fn sort_like_java<T, K: Ord>(
    items: &mut [T],
    cap: usize,
    hash: impl Fn(&T) -> i32,
    tie: impl Fn(&T) -> K,
) {
    // keys computed once per item: hashing names inside the comparator was O(n log n) hashes
    items.sort_by_cached_key(|item| (bucket(hash(item), cap), tie(item)));
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
}
