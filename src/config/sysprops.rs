//! Keys the reference reads through `System.getProperty`, under either spelling.
//!
//! `QuorumPeerConfig#parseProperties` turns an unknown key `k` into `zookeeper.k`; the server
//! then reads properties by their full name, most with the `zookeeper.` prefix and a few
//! without (`jute.maxbuffer`, `readonlymode.enabled`, `znode.container.*`). Both spellings are
//! accepted here; when both appear, the later line wins.
//!
//! A property zoo.cfg does not set comes from the JVM flags (`-Dname=value` in
//! `SERVER_JVMFLAGS` / `JVMFLAGS`, [`super::jvmflags`]) under its exact Java name: zoo.cfg
//! wins, as `parseProperties` overwrites a `-D` with `System.setProperty`.

use std::collections::BTreeMap;

use super::jvmflags::SystemProperties;
use super::values::{decode_int, decode_long};

/// Deduplicated entries: trimmed key → (line, trimmed value); the last occurrence wins.
pub(super) struct Props {
    pub(super) latest: BTreeMap<String, (usize, String)>,
    /// The `-D` settings of the JVM flags.
    pub(super) jvm: SystemProperties,
}

/// The line number reported for a value that came from the JVM flags.
pub(super) const JVM_FLAG_LINE: usize = 0;

/// Key prefixes (or exact keys) of features ferrokeeper does not have yet.
/// (`ssl.*` and `ssl.quorum.*`, `sslQuorum`, `portUnification`, `sslQuorumReloadCertFiles`,
/// `secureClientPort*`, `client.portUnification`,
/// `serverCnxnFactory`, `authProvider.*`, and the SASL keys (`superUser*`,
/// `allowSaslFailedClients`, `sessionRequireClientSASLAuth`, `enforce.auth.*`,
/// `sasl.serverconfig`, `kerberos.remove*FromPrincipal`, `letAnySaslUserDoX`,
/// `security.auth_to_local`) are honoured; `client.secure` is a
/// client-side key that a 3.8 server ignores too.)
const UNSUPPORTED: &[&str] = &[
    "audit.",
    "oraclePath",
    "observerMasterPort",
    "multiAddress.",
    "jvm.pause.",
    "requestThrottle",
    "connectionMaxTokens",
    "learner.",
    "leader.",
];

impl Props {
    /// The entry setting the system property `prop`, if any: zoo.cfg's (either spelling),
    /// else the JVM flag's (line [`JVM_FLAG_LINE`]).
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
            .or_else(|| {
                self.jvm
                    .iter()
                    .find(|(k, _)| *k == prop)
                    .map(|(k, v)| (k, JVM_FLAG_LINE, v))
            })
    }

    /// Every system property named `zookeeper.<prefix>…` (zoo.cfg: `<prefix>…` or
    /// `zookeeper.<prefix>…`), as (name without `zookeeper.`, value); zoo.cfg wins over a
    /// JVM flag of the same name.
    pub(super) fn with_prefix(&self, prefix: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for (k, v) in self.jvm.iter() {
            if let Some(bare) = k.strip_prefix("zookeeper.") {
                if bare.starts_with(prefix) {
                    out.insert(bare.to_owned(), v.to_owned());
                }
            }
        }
        let mut cfg: Vec<(&String, &(usize, String))> = self.latest.iter().collect();
        cfg.sort_by_key(|(_, (line, _))| *line);
        for (k, (_, v)) in cfg {
            let bare = k.strip_prefix("zookeeper.").unwrap_or(k);
            if bare.starts_with(prefix) {
                out.insert(bare.to_owned(), v.clone());
            }
        }
        out
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

/// A setting for a feature ferrokeeper lacks (either spelling).
pub(super) fn is_unsupported(key: &str) -> bool {
    let bare = key.strip_prefix("zookeeper.").unwrap_or(key);
    UNSUPPORTED.iter().any(|u| bare.starts_with(u))
}

/// Logs, once per key, a setting for a feature ferrokeeper lacks.
pub(super) fn warn_unsupported(key: &str, line: usize) {
    if line == JVM_FLAG_LINE && is_unsupported(key) {
        tracing::warn!(
            key,
            "JVM flag (-D) setting is not supported by ferrokeeper yet; ignored"
        );
    } else if is_unsupported(key) {
        tracing::warn!(
            key,
            line,
            "zoo.cfg setting is not supported by ferrokeeper yet; ignored"
        );
    }
}
