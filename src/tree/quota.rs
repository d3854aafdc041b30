//! `Quotas`, `StatsTrack` and the `PathTrie` of quota'd paths.
//!
//! `/zookeeper/quota<path>/zookeeper_limits` holds the limits, `.../zookeeper_stats` the
//! current count/bytes of the subtree at `<path>`; only the deepest quota'd prefix of a path
//! is charged (`DataTree#getMaxPrefixWithQuota`).

use std::collections::{BTreeMap, HashSet};

pub const PROC_ZOOKEEPER: &str = "/zookeeper";
pub const QUOTA_ZOOKEEPER: &str = "/zookeeper/quota";
pub const CONFIG_ZOOKEEPER: &str = "/zookeeper/config";
pub const LIMIT_NODE: &str = "zookeeper_limits";
pub const STAT_NODE: &str = "zookeeper_stats";

/// `Quotas.limitPath`.
pub fn limit_path(path: &str) -> String {
    format!("{QUOTA_ZOOKEEPER}{path}/{LIMIT_NODE}")
}

/// `Quotas.statPath`.
pub fn stat_path(path: &str) -> String {
    format!("{QUOTA_ZOOKEEPER}{path}/{STAT_NODE}")
}

/// `Quotas.trimQuotaPath`; `None` where the reference would index out of bounds.
pub fn trim_quota_path(quota_path: &str) -> Option<&str> {
    quota_path.get(QUOTA_ZOOKEEPER.len()..)
}

const COUNT: &str = "count";
const BYTES: &str = "bytes";
const COUNT_HARD_LIMIT: &str = "countHardLimit";
const BYTE_HARD_LIMIT: &str = "byteHardLimit";

/// `StatsTrack`: `key=long` pairs separated by `,` or `;`; absent keys read as -1.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsTrack {
    stats: BTreeMap<String, i64>,
}

impl StatsTrack {
    /// Parse the node text. Pairs the reference could not parse (it would throw) are skipped.
    pub fn parse(text: &[u8]) -> StatsTrack {
        let text = String::from_utf8_lossy(text);
        let mut stats = BTreeMap::new();
        for pair in text.split([',', ';']).filter(|p| !p.is_empty()) {
            // Java's String.split("=") drops trailing empty parts.
            let mut parts: Vec<&str> = pair.split('=').collect();
            while parts.last() == Some(&"") {
                parts.pop();
            }
            if parts.len() < 2 {
                tracing::warn!(pair, "unparsable quota pair");
                continue;
            }
            let value = if parts[1].is_empty() {
                Ok(-1)
            } else {
                parts[1].parse::<i64>()
            };
            match value {
                Ok(v) => {
                    stats.insert(parts[0].to_string(), v);
                }
                Err(_) => tracing::warn!(pair, "unparsable quota value"),
            }
        }
        StatsTrack { stats }
    }

    fn get(&self, key: &str) -> i64 {
        self.stats.get(key).copied().unwrap_or(-1)
    }

    pub fn count(&self) -> i64 {
        self.get(COUNT)
    }
    pub fn bytes(&self) -> i64 {
        self.get(BYTES)
    }
    pub fn count_hard_limit(&self) -> i64 {
        self.get(COUNT_HARD_LIMIT)
    }
    pub fn byte_hard_limit(&self) -> i64 {
        self.get(BYTE_HARD_LIMIT)
    }
    pub fn set_count(&mut self, v: i64) {
        self.stats.insert(COUNT.to_string(), v);
    }
    pub fn set_bytes(&mut self, v: i64) {
        self.stats.insert(BYTES.to_string(), v);
    }
    pub fn set_count_hard_limit(&mut self, v: i64) {
        self.stats.insert(COUNT_HARD_LIMIT.to_string(), v);
    }
    pub fn set_byte_hard_limit(&mut self, v: i64) {
        self.stats.insert(BYTE_HARD_LIMIT.to_string(), v);
    }

    /// `StatsTrack#toString`: `count=..,bytes=..` first; other keys sorted after an extra `=`,
    /// each as `;key=value` (kept parseable by 3.4 servers).
    pub fn to_text(&self) -> String {
        let mut s = format!("{COUNT}={},{BYTES}={}", self.count(), self.bytes());
        let mut rest = self
            .stats
            .iter()
            .filter(|(k, _)| k.as_str() != COUNT && k.as_str() != BYTES)
            .peekable();
        if rest.peek().is_some() {
            s.push('=');
            for (k, v) in rest {
                s.push_str(&format!(";{k}={v}"));
            }
        }
        s
    }
}

/// `PathTrie` as the tree uses it: a set of paths compared by non-blank components.
#[derive(Debug, Clone, Default)]
pub struct QuotaPrefixes {
    paths: HashSet<String>,
}

/// Components as `PathTrie.split` keeps them (blank ones, by Java's `trim`, are dropped).
fn components(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|t| !t.chars().all(|c| c <= ' '))
}

fn normalize(path: &str) -> String {
    let mut s = String::with_capacity(path.len());
    for c in components(path) {
        s.push('/');
        s.push_str(c);
    }
    s
}

impl QuotaPrefixes {
    /// `addPath`; a path with no component (the trie root) is never reported, so ignore it.
    pub fn add(&mut self, path: &str) {
        let p = normalize(path);
        if !p.is_empty() {
            self.paths.insert(p);
        }
    }

    pub fn remove(&mut self, path: &str) {
        self.paths.remove(&normalize(path));
    }

    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// `getMaxPrefixWithQuota`: the deepest quota'd path that is a prefix of `path`.
    pub fn max_prefix(&self, path: &str) -> Option<String> {
        if self.paths.is_empty() {
            return None;
        }
        let mut prefix = String::with_capacity(path.len());
        let mut best = None;
        for c in components(path) {
            prefix.push('/');
            prefix.push_str(c);
            if self.paths.contains(&prefix) {
                best = Some(prefix.clone());
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_text_round_trip() {
        let t = StatsTrack::parse(b"count=-1,bytes=-1=;byteHardLimit=-1;countHardLimit=3");
        assert_eq!(t.count(), -1);
        assert_eq!(t.count_hard_limit(), 3);
        assert_eq!(
            t.to_text(),
            "count=-1,bytes=-1=;byteHardLimit=-1;countHardLimit=3"
        );
        let mut s = StatsTrack::parse(b"count=0,bytes=0");
        s.set_count(2);
        s.set_bytes(6);
        assert_eq!(s.to_text(), "count=2,bytes=6");
        assert_eq!(StatsTrack::parse(b"").to_text(), "count=-1,bytes=-1");
        assert_eq!(StatsTrack::parse(b"count==5,bytes=x").count(), -1);
    }

    #[test]
    fn max_prefix() {
        let mut q = QuotaPrefixes::default();
        assert_eq!(q.max_prefix("/a/b"), None);
        q.add("/a");
        q.add("/a/b/c");
        assert_eq!(q.max_prefix("/a/b").as_deref(), Some("/a"));
        assert_eq!(q.max_prefix("/a/b/c/d").as_deref(), Some("/a/b/c"));
        assert_eq!(q.max_prefix("/ab"), None);
        q.remove("/a");
        assert_eq!(q.max_prefix("/a/b"), None);
        assert_eq!(trim_quota_path("/zookeeper/quota/a"), Some("/a"));
        assert_eq!(trim_quota_path("/zookeeper"), None);
    }
}
