//! `system_properties` without a JVM: the properties that mean something for a native
//! process (os, user, paths, separators) plus every zoo.cfg entry the reference turns into a
//! `zookeeper.<key>` system property (`QuorumPeerConfig#parseProperties`), and the `-D`
//! settings of the JVM flags (`SERVER_JVMFLAGS`, `JVMFLAGS`).
//!
//! Invariant: sorted by key, like the reference's `TreeMap`. The `java.*`, `jdk.*` and
//! `sun.*` properties have no meaning here and are left out.

use std::collections::BTreeMap;

use crate::config::ServerConfig;

/// Keys `QuorumPeerConfig#parseProperties` consumes itself (exact, or as prefixes).
const CONFIG_KEYS: &[&str] = &[
    "autopurge.purgeInterval",
    "autopurge.snapRetainCount",
    "clientPort",
    "clientPortAddress",
    "clientPortListenBacklog",
    "connectToLearnerMasterLimit",
    "dataDir",
    "dataLogDir",
    "dynamicConfigFile",
    "electionAlg",
    "initLimit",
    "localSessionsEnabled",
    "localSessionsUpgradingEnabled",
    "maxClientCnxns",
    "maxSessionTimeout",
    "minSessionTimeout",
    "multiAddress.enabled",
    "multiAddress.reachabilityCheckEnabled",
    "multiAddress.reachabilityCheckTimeoutMs",
    "observerMasterPort",
    "oraclePath",
    "peerType",
    "portUnification",
    "quorum.cnxn.threads.size",
    "quorumListenOnAllIPs",
    "reconfigEnabled",
    "secureClientPort",
    "secureClientPortAddress",
    "sslQuorum",
    "sslQuorumReloadCertFiles",
    "standaloneEnabled",
    "syncEnabled",
    "syncLimit",
    "tickTime",
    "version",
];
const CONFIG_PREFIXES: &[&str] = &[
    "server.",
    "group.",
    "weight.",
    "metricsProvider.",
    "quorum.auth.",
];

fn is_config_key(key: &str) -> bool {
    CONFIG_KEYS.contains(&key) || CONFIG_PREFIXES.iter().any(|p| key.starts_with(p))
}

/// Java's `os.arch` names for the common Rust targets.
fn os_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "i386",
        other => other,
    }
}

fn os_name() -> String {
    let os = std::env::consts::OS;
    match os {
        "linux" => "Linux".to_owned(),
        "macos" => "Mac OS X".to_owned(),
        _ => os.to_owned(),
    }
}

/// The sorted property map.
pub(crate) fn system_properties(cfg: &ServerConfig) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    m.insert("file.separator".to_owned(), "/".to_owned());
    m.insert("line.separator".to_owned(), "\n".to_owned());
    m.insert("path.separator".to_owned(), ":".to_owned());
    m.insert("os.arch".to_owned(), os_arch().to_owned());
    m.insert("os.name".to_owned(), os_name());
    if let Ok(dir) = std::env::current_dir() {
        m.insert("user.dir".to_owned(), dir.display().to_string());
    }
    for (var, prop) in [("HOME", "user.home"), ("USER", "user.name")] {
        if let Ok(v) = std::env::var(var) {
            m.insert(prop.to_owned(), v);
        }
    }
    // `-D` settings from SERVER_JVMFLAGS / JVMFLAGS; zoo.cfg's `zookeeper.<key>` overwrites
    for (k, v) in cfg.system_properties.iter() {
        m.insert(k.to_owned(), v.to_owned());
    }
    for (k, v) in &cfg.raw {
        if !is_config_key(k) {
            // always prefixed, even a key that already starts with `zookeeper.`
            m.insert(format!("zookeeper.{k}"), v.clone());
        }
    }
    m
}
