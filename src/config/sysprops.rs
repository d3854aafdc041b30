//! Keys the reference reads through `System.getProperty`, under either spelling.
//!
//! `QuorumPeerConfig#parseProperties` turns an unknown key `k` into `zookeeper.k`; the server
//! then reads properties by their full name, most with the `zookeeper.` prefix and a few
//! without (`jute.maxbuffer`, `readonlymode.enabled`, `znode.container.*`). Both spellings are
//! accepted here; when both appear, the later line wins.

use std::collections::BTreeMap;

use super::values::{decode_int, decode_long};

/// Deduplicated entries: trimmed key → (line, trimmed value); the last occurrence wins.
pub(super) struct Props {
    pub(super) latest: BTreeMap<String, (usize, String)>,
}

/// Key prefixes (or exact keys) of features ferrokeeper does not have yet.
const UNSUPPORTED: &[&str] = &[
    "secureClientPort",
    "secureClientPortAddress",
    "sslQuorum",
    "portUnification",
    "sslQuorumReloadCertFiles",
    "client.portUnification",
    "client.secure",
    "serverCnxnFactory",
    "ssl.",
    "quorum.auth.",
    "authProvider.",
    "kerberos.",
    "sessionRequireClientSASLAuth",
    "enforce.auth.",
    "allowSaslFailedClients",
    "superUser",
    "audit.",
    "dynamicConfigFile",
    "oraclePath",
    "observerMasterPort",
    "localSessionsEnabled",
    "localSessionsUpgradingEnabled",
    "multiAddress.",
    "jvm.pause.",
    "requestThrottle",
    "connectionMaxTokens",
    "learner.",
    "leader.",
];

impl Props {
    /// The entry setting the system property `prop`, if any.
    pub(super) fn get(&self, prop: &str) -> Option<(&str, usize, &str)> {
        let other = match prop.strip_prefix("zookeeper.") {
            Some(short) => short.to_owned(),
            None => format!("zookeeper.{prop}"),
        };
        [prop, other.as_str()]
            .into_iter()
            .filter_map(|k| {
                self.latest
                    .get_key_value(k)
                    .map(|(k, (l, v))| (k.as_str(), *l, v.as_str()))
            })
            .max_by_key(|(_, line, _)| *line)
    }

    pub(super) fn string(&self, prop: &str) -> Option<String> {
        self.get(prop).map(|(_, _, v)| v.to_owned())
    }

    /// `Integer.getInteger(prop, default)`: junk means the default (with a warning).
    pub(super) fn int(&self, prop: &str, default: i32) -> i32 {
        match self.get(prop) {
            Some((key, line, v)) => decode_int(v).unwrap_or_else(|| {
                tracing::warn!(
                    key,
                    line,
                    value = v,
                    "not a number, using the default {default}"
                );
                default
            }),
            None => default,
        }
    }

    /// `Long.getLong(prop, default)`.
    pub(super) fn long(&self, prop: &str, default: i64) -> i64 {
        match self.get(prop) {
            Some((key, line, v)) => decode_long(v).unwrap_or_else(|| {
                tracing::warn!(
                    key,
                    line,
                    value = v,
                    "not a number, using the default {default}"
                );
                default
            }),
            None => default,
        }
    }

    /// Any property read as `f(value)` with a default when absent.
    pub(super) fn map<T>(&self, prop: &str, default: T, f: impl Fn(&str) -> T) -> T {
        self.get(prop).map_or(default, |(_, _, v)| f(v))
    }
}

/// Logs, once per key, a setting for a feature ferrokeeper lacks.
pub(super) fn warn_unsupported(key: &str, line: usize) {
    let bare = key.strip_prefix("zookeeper.").unwrap_or(key);
    if UNSUPPORTED.iter().any(|u| bare.starts_with(u)) {
        tracing::warn!(
            key,
            line,
            "zoo.cfg setting is not supported by ferrokeeper yet; ignored"
        );
    }
}
