//! Quota bookkeeping on the tree: `DataTree#updateQuotaStat`, `#updateQuotaForPath`,
//! `#getCounts` and the hard-limit check of `ZooKeeperServer#checkQuota`.

use std::collections::BTreeMap;

use super::quota::{limit_path, stat_path, StatsTrack, LIMIT_NODE, QUOTA_ZOOKEEPER, STAT_NODE};
use super::{key, DataTree};

impl DataTree {
    /// Adds to the counters in `<prefix>`'s stats node. Like the reference this rewrites the
    /// node's data without touching its stat or the approximate data size.
    pub(super) fn update_quota_stat(&mut self, prefix: &str, bytes_diff: i64, count_diff: i64) {
        let path = stat_path(prefix);
        let Some(node) = self.node_mut(&path) else {
            tracing::error!(path, "missing quota stat node");
            return;
        };
        let mut stats = StatsTrack::parse(node.data.as_deref().unwrap_or_default());
        stats.set_count(stats.count() + count_diff);
        stats.set_bytes(stats.bytes() + bytes_diff);
        node.data = Some(stats.to_text().into_bytes().into_boxed_slice());
    }

    /// Recounts the subtree at `real` into its stats node (when that node is created).
    pub(super) fn update_quota_for_path(&mut self, real: &str) {
        let (count, bytes) = self.counts(real);
        let mut stats = StatsTrack::default();
        stats.set_bytes(bytes);
        stats.set_count(count);
        let path = stat_path(real);
        let text = stats.to_text().into_bytes().into_boxed_slice();
        if self.with_node_mut(&path, |n| n.data = Some(text)).is_none() {
            tracing::warn!(path, "missing quota stat node");
        }
    }

    /// `DataTree#getCounts`: the node and its descendants, children addressed as
    /// `path + "/" + name` exactly as the reference does.
    fn counts(&self, path: &str) -> (i64, i64) {
        let (mut count, mut bytes) = (0i64, 0i64);
        let mut stack = vec![path.to_string()];
        while let Some(p) = stack.pop() {
            let Some(node) = self.node(key(&p)) else {
                continue;
            };
            count += 1;
            bytes += i64::try_from(node.data_len()).unwrap_or(i64::MAX);
            stack.extend(self.child_nodes(node).map(|(c, _)| format!("{p}/{c}")));
        }
        (count, bytes)
    }

    /// `ZooKeeperServer#checkQuota` for a create (`count_delta` 1, `bytes_delta` its data
    /// length) or a setData (0, new - old length): true when the deepest quota over `path`
    /// has a hard limit the change would pass. Soft limits only log, as in the reference.
    pub fn quota_exceeded(&self, path: &str, count_delta: i64, bytes_delta: i64) -> bool {
        let Some(prefix) = self.quotas.max_prefix(path) else {
            return false;
        };
        let Some(limit_node) = self.node(&limit_path(&prefix)) else {
            tracing::error!(prefix, "missing quota limit node");
            return false;
        };
        let limits = StatsTrack::parse(limit_node.data.as_deref().unwrap_or_default());
        let check_count =
            count_delta != 0 && (limits.count() > -1 || limits.count_hard_limit() > -1);
        let check_bytes =
            bytes_delta != 0 && (limits.bytes() > -1 || limits.byte_hard_limit() > -1);
        if !check_count && !check_bytes {
            return false;
        }
        let Some(stat_node) = self.node(&stat_path(&prefix)) else {
            tracing::error!(prefix, "missing quota stat node");
            return false;
        };
        let current = StatsTrack::parse(stat_node.data.as_deref().unwrap_or_default());
        let over = |now: i64, delta: i64, hard: i64, soft: i64, what: &str| {
            let limit = if hard > -1 { hard } else { soft };
            let new = now + delta;
            if new > limit {
                tracing::warn!(prefix, what, new, limit, hard = hard > -1, "quota exceeded");
            }
            new > limit && hard > -1
        };
        (check_count
            && over(
                current.count(),
                count_delta,
                limits.count_hard_limit(),
                limits.count(),
                "count",
            ))
            || (check_bytes
                && over(
                    current.bytes(),
                    bytes_delta,
                    limits.byte_hard_limit(),
                    limits.bytes(),
                    "bytes",
                ))
    }
}

/// The four `quota_*_per_namespace` gauge sets (`QuotaMetricsUtils`), keyed by the top
/// namespace of the quota'd path and summed over every quota under it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NamespaceQuotas {
    /// The hard count limit where one is set, else the soft one.
    pub count_limit: BTreeMap<String, i64>,
    pub bytes_limit: BTreeMap<String, i64>,
    pub count_usage: BTreeMap<String, i64>,
    pub bytes_usage: BTreeMap<String, i64>,
}

impl DataTree {
    /// Walks `/zookeeper/quota` as `QuotaMetricsUtils#getQuotaLimitOrUsage` does: only leaves
    /// named `zookeeper_limits` / `zookeeper_stats` that hold data count.
    pub fn namespace_quotas(&self) -> NamespaceQuotas {
        let mut out = NamespaceQuotas::default();
        let mut stack = vec![QUOTA_ZOOKEEPER.to_owned()];
        while let Some(path) = stack.pop() {
            let Some(node) = self.node(key(&path)) else {
                continue;
            };
            let children = self.children_of(node);
            if !children.is_empty() {
                stack.extend(children.iter().map(|c| format!("{path}/{c}")));
                continue;
            }
            let limits = path.ends_with(&format!("/{LIMIT_NODE}"));
            if !limits && !path.ends_with(&format!("/{STAT_NODE}")) {
                continue;
            }
            let Some(namespace) = top_namespace(&path[QUOTA_ZOOKEEPER.len()..]) else {
                continue;
            };
            let Some(data) = node.data.as_deref() else {
                continue;
            };
            let s = StatsTrack::parse(data);
            let add = |map: &mut BTreeMap<String, i64>, v: i64| {
                *map.entry(namespace.to_owned()).or_default() += v;
            };
            let hard_or_soft = |hard: i64, soft: i64| if hard > -1 { hard } else { soft };
            if limits {
                add(
                    &mut out.count_limit,
                    hard_or_soft(s.count_hard_limit(), s.count()),
                );
                add(
                    &mut out.bytes_limit,
                    hard_or_soft(s.byte_hard_limit(), s.bytes()),
                );
            } else {
                add(&mut out.count_usage, s.count());
                add(&mut out.bytes_usage, s.bytes());
            }
        }
        out
    }
}

/// `PathUtils#getTopNamespace`: the first component, Java `split("/")` style.
pub(crate) fn top_namespace(path: &str) -> Option<&str> {
    let mut parts: Vec<&str> = path.split('/').collect();
    while parts.len() > 1 && parts.last() == Some(&"") {
        parts.pop();
    }
    parts.get(1).copied()
}

#[cfg(test)]
mod namespace_tests {
    use super::top_namespace;

    #[test]
    fn top_namespace_like_java_split() {
        assert_eq!(top_namespace("/app/x/zookeeper_limits"), Some("app"));
        assert_eq!(top_namespace("/app/"), Some("app"));
        assert_eq!(top_namespace("/"), None);
        assert_eq!(top_namespace(""), None);
    }
}
