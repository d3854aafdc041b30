//! `DigestCalculator` (digest version 2) and `AdHash`: the tree digest is the wrapping 64-bit
//! sum of a CRC32 per znode. Nodes under `/zookeeper/` are left out (their quota data is
//! updated locally); `/zookeeper` itself and the root (hashed under the path "") are in.

use crate::jute::data::StatPersisted;

/// `DigestCalculator.DIGEST_VERSION`, carried in `TxnDigest.version` and snapshots.
pub const DIGEST_VERSION: i32 = 2;

/// `ZooDefs.ZOOKEEPER_NODE_SUBTREE`.
const ZOOKEEPER_NODE_SUBTREE: &str = "/zookeeper/";

/// The Stat fields a digest covers, as bytes.
const STAT_BYTES: usize = 60;
/// Nodes up to this many digested bytes are hashed in one pass.
const ONE_PASS: usize = 256;

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
    let data = data.unwrap_or_default();
    let mut b = [0u8; STAT_BYTES];
    let longs = [stat.czxid, stat.mzxid, stat.pzxid, stat.ctime, stat.mtime];
    for (i, v) in longs.iter().enumerate() {
        b[i * 8..i * 8 + 8].copy_from_slice(&v.to_be_bytes());
    }
    b[40..44].copy_from_slice(&stat.version.to_be_bytes());
    b[44..48].copy_from_slice(&stat.cversion.to_be_bytes());
    b[48..52].copy_from_slice(&stat.aversion.to_be_bytes());
    b[52..60].copy_from_slice(&stat.ephemeral_owner.to_be_bytes());
    let mut crc = crc32fast::Hasher::new();
    let len = path.len() + data.len() + STAT_BYTES;
    if len <= ONE_PASS {
        // one pass over a contiguous copy: each update has a fixed cost that dominates at
        // these sizes, and replaying a large log computes three digests per create
        let mut all = [0u8; ONE_PASS];
        all[..path.len()].copy_from_slice(path.as_bytes());
        all[path.len()..path.len() + data.len()].copy_from_slice(data);
        all[path.len() + data.len()..len].copy_from_slice(&b);
        crc.update(&all[..len]);
    } else {
        crc.update(path.as_bytes());
        crc.update(data);
        crc.update(&b);
    }
    i64::from(crc.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_pass_and_piecewise_hash_the_same_bytes() {
        let stat = StatPersisted {
            czxid: 1,
            mzxid: 2,
            pzxid: 3,
            ctime: 4,
            mtime: 5,
            version: 6,
            cversion: 7,
            aversion: 8,
            ephemeral_owner: 9,
        };
        let mut tail = Vec::new();
        for v in [1i64, 2, 3, 4, 5] {
            tail.extend_from_slice(&v.to_be_bytes());
        }
        for v in [6i32, 7, 8] {
            tail.extend_from_slice(&v.to_be_bytes());
        }
        tail.extend_from_slice(&9i64.to_be_bytes());
        for size in [0, 10, ONE_PASS - STAT_BYTES - 2, ONE_PASS, 5000] {
            let data = vec![0xa5u8; size];
            let whole = [b"/a".as_slice(), &data, &tail].concat();
            let want = i64::from(crc32fast::hash(&whole));
            assert_eq!(node_digest("/a", Some(&data), &stat), want, "{size} bytes");
        }
    }

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
