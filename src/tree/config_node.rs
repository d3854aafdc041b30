//! `/zookeeper/config` in an ensemble: `ZKDatabase#initConfigInZKDatabase` writes the quorum
//! verifier's text there at start-up and after every sync with a leader, outside any txn.

use super::quota::CONFIG_ZOOKEEPER;
use super::{node_size, DataTree};
use crate::jute::data::Acl;

impl DataTree {
    /// Set `/zookeeper/config` to `config` as the reference's `DataTree#setData(path, data,
    /// -1, configVersion, now)` does: version -1, mzxid = the config version, mtime = `now_ms`.
    /// The node is under `/zookeeper/`, so the digest does not change.
    pub fn init_config_node(&mut self, config: &[u8], config_version: i64, now_ms: i64) {
        if self.node(CONFIG_ZOOKEEPER).is_none() {
            tracing::warn!(
                "configuration znode missing (should only happen during upgrade), creating the node"
            );
            let read = self.acl_cache.intern(&Acl::read_unsafe());
            self.insert_builtin(CONFIG_ZOOKEEPER, read);
        }
        let Some(node) = self.node_mut(CONFIG_ZOOKEEPER) else {
            return;
        };
        let old = node_size(CONFIG_ZOOKEEPER, node.data.as_deref());
        node.data = Some(config.to_vec().into_boxed_slice());
        node.stat.mtime = now_ms;
        node.stat.mzxid = config_version;
        node.stat.version = -1;
        let new = node_size(CONFIG_ZOOKEEPER, node.data.as_deref());
        self.data_size += new - old;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::TreeOptions;

    #[test]
    fn config_node_takes_the_text_with_version_minus_one_and_no_digest_change() {
        let mut t = DataTree::with_options(TreeOptions::default());
        let digest = t.digest();
        let size = t.approximate_data_size();
        t.init_config_node(b"server.1=a:1:2:participant\nversion=0", 0, 1234);
        let n = t.node(CONFIG_ZOOKEEPER).unwrap();
        assert_eq!(
            n.data.as_deref(),
            Some(&b"server.1=a:1:2:participant\nversion=0"[..])
        );
        assert_eq!((n.stat.version, n.stat.mzxid, n.stat.mtime), (-1, 0, 1234));
        assert_eq!(t.digest(), digest);
        assert_eq!(t.approximate_data_size(), size + 36);
        assert_eq!(t.approximate_data_size(), t.full_data_size());
    }
}
