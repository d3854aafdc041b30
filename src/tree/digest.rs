//! `DigestCalculator` (digest version 2) and `AdHash`: the tree digest is the wrapping 64-bit
//! sum of a CRC32 per znode. Nodes under `/zookeeper/` are left out (their quota data is
//! updated locally); `/zookeeper` itself and the root (hashed under the path "") are in.

use crate::jute::data::StatPersisted;

/// `DigestCalculator.DIGEST_VERSION`, carried in `TxnDigest.version` and snapshots.
pub const DIGEST_VERSION: i32 = 2;

/// `ZooDefs.ZOOKEEPER_NODE_SUBTREE`.
const ZOOKEEPER_NODE_SUBTREE: &str = "/zookeeper/";

/// Whether a node at `path` takes part in the tree digest.
pub fn is_tracked(path: &str) -> bool {
    !path.starts_with(ZOOKEEPER_NODE_SUBTREE)
}

/// `DigestCalculator.calculateDigest`: CRC32 over path bytes, data, then czxid, mzxid, pzxid,
/// ctime, mtime (longs), version, cversion, aversion (ints), ephemeralOwner (long), big-endian.
/// Returns 0 for untracked paths, as the reference does.
pub fn node_digest(path: &str, data: Option<&[u8]>, stat: &StatPersisted) -> i64 {
    if !is_tracked(path) {
        return 0;
    }
    // "/" and "" alias the root; the reference always hashes it as "".
    let path = if path == "/" { "" } else { path };
    let mut crc = crc32fast::Hasher::new();
    crc.update(path.as_bytes());
    if let Some(d) = data {
        crc.update(d);
    }
    let mut b = [0u8; 60];
    let longs = [stat.czxid, stat.mzxid, stat.pzxid, stat.ctime, stat.mtime];
    for (i, v) in longs.iter().enumerate() {
        b[i * 8..i * 8 + 8].copy_from_slice(&v.to_be_bytes());
    }
    b[40..44].copy_from_slice(&stat.version.to_be_bytes());
    b[44..48].copy_from_slice(&stat.cversion.to_be_bytes());
    b[48..52].copy_from_slice(&stat.aversion.to_be_bytes());
    b[52..60].copy_from_slice(&stat.ephemeral_owner.to_be_bytes());
    crc.update(&b);
    i64::from(crc.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_tree_nodes() {
        // DataTree() of 3.8.0: getTreeDigest() = 1371985504 = crc(root "") + crc("/zookeeper").
        let zero = StatPersisted::default();
        let sum = node_digest("/", Some(b""), &zero) + node_digest("/zookeeper", Some(b""), &zero);
        assert_eq!(sum, 1371985504);
        assert_eq!(node_digest("/zookeeper/quota", None, &zero), 0);
        assert_eq!(
            node_digest("/", None, &zero),
            node_digest("", Some(b""), &zero)
        );
    }
}
