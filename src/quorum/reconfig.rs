//! Dynamic reconfiguration on a peer (`QuorumPeer#setLastSeenQuorumVerifier`,
//! `#setQuorumVerifier`, the disk half of `#processReconfig`, `QuorumPeerConfig#writeDynamicConfig`,
//! `#editStaticConfig`, `#backupOldConfig`).
//!
//! [`PeerConfig`] holds the committed and the last proposed quorum configs of a peer; every
//! part that needs them (the roles, the election, the words) reads them from it, and the
//! election is told of a change through its [`watch`] channel.
//!
//! Invariants: the committed version only grows; a committed config is on disk
//! (`zoo.cfg.dynamic.<version hex>`, zoo.cfg pointing at it) before anything acts on it; a
//! proposed one is in `zoo.cfg.dynamic.next` until it is committed.

use std::io::Write;
use std::path::{Path, PathBuf};

use tokio::sync::watch;

use super::verifier::QuorumVerifier;
use crate::config::properties;
use crate::javaorder::string_hash;

/// `QuorumPeerConfig.nextDynamicConfigFileSuffix`.
pub const NEXT_DYNAMIC_SUFFIX: &str = ".dynamic.next";

/// The committed config (`quorumVerifier`) and the newest one seen proposed
/// (`lastSeenQuorumVerifier`; the committed one when nothing newer is in flight).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumConfigs {
    pub committed: QuorumVerifier,
    pub last_seen: QuorumVerifier,
}

/// Why a config file could not be written.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct ConfigFileError {
    path: PathBuf,
    #[source]
    source: std::io::Error,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ConfigFileError + '_ {
    move |source| ConfigFileError {
        path: path.to_owned(),
        source,
    }
}

/// A peer's quorum configs and where they are written.
#[derive(Debug)]
pub struct PeerConfig {
    pub my_id: i64,
    /// `reconfigEnabled`.
    pub enabled: bool,
    /// zoo.cfg as the server was started with it (`QuorumPeer.configFilename`).
    cfg_path: PathBuf,
    state: watch::Sender<QuorumConfigs>,
}

/// What `processReconfig` found besides the new config.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Activation {
    /// The membership changed (`prevQV.getVersion() < qv.getVersion() && !prevQV.equals(qv)`).
    pub changed: bool,
    /// Our own `server.N` line names a client address that differs from `old_client`.
    pub new_client: Option<(String, u16)>,
}

impl PeerConfig {
    pub fn new(my_id: i64, enabled: bool, cfg_path: PathBuf, initial: QuorumVerifier) -> Self {
        let (state, _) = watch::channel(QuorumConfigs {
            committed: initial.clone(),
            last_seen: initial,
        });
        PeerConfig {
            my_id,
            enabled,
            cfg_path,
            state,
        }
    }

    pub fn committed(&self) -> QuorumVerifier {
        self.state.borrow().committed.clone()
    }

    pub fn last_seen(&self) -> QuorumVerifier {
        self.state.borrow().last_seen.clone()
    }

    /// Told of every change of the configs.
    pub fn subscribe(&self) -> watch::Receiver<QuorumConfigs> {
        self.state.subscribe()
    }

    /// `zoo.cfg.dynamic.next` (`QuorumPeer#getNextDynamicConfigFilename`).
    pub fn next_file(&self) -> PathBuf {
        suffixed(&self.cfg_path, NEXT_DYNAMIC_SUFFIX)
    }

    /// `zoo.cfg.dynamic.<version hex>` (`QuorumPeer#makeDynamicConfigFilename`).
    pub fn dynamic_file(&self, version: i64) -> PathBuf {
        suffixed(&self.cfg_path, &format!(".dynamic.{:x}", version as u64))
    }

    /// `setLastSeenQuorumVerifier`: a reconfig was proposed (or a leader announced its
    /// config). Nothing without `reconfigEnabled`; the same version twice is a no-op.
    pub fn set_last_seen(&self, qv: QuorumVerifier, write_to_disk: bool) {
        if !self.enabled {
            tracing::info!("Dynamic reconfig is disabled, we don't store the last seen config.");
            return;
        }
        let mut stale = None;
        let changed = self.state.send_if_modified(|s| {
            if s.last_seen.version() > qv.version() {
                stale = Some(s.committed.version());
            }
            if s.last_seen.version() == qv.version() {
                return false;
            }
            s.last_seen = qv.clone();
            true
        });
        if let Some(current) = stale {
            tracing::error!(
                "setLastSeenQuorumVerifier called with stale config {}. Current version: {current}",
                qv.version()
            );
        }
        if changed && write_to_disk {
            let next = self.next_file();
            if let Err(e) = write_dynamic_config(&next, &qv, true) {
                tracing::error!("Error writing next dynamic config file to disk: {e}");
            }
        }
    }

    /// `setQuorumVerifier`: adopt `qv` as committed if it is newer; the previous committed
    /// config (the current one when `qv` is not newer).
    pub fn set_committed(&self, qv: QuorumVerifier, write_to_disk: bool) -> QuorumVerifier {
        let mut prev = None;
        let mut last_seen_version = 0;
        self.state.send_if_modified(|s| {
            if s.committed.version() >= qv.version() {
                tracing::debug!(
                    "{} setQuorumVerifier called with known or old config {}. Current version: {}",
                    self.my_id,
                    qv.version(),
                    s.committed.version()
                );
                return false;
            }
            prev = Some(std::mem::replace(&mut s.committed, qv.clone()));
            if qv.version() > s.last_seen.version() {
                s.last_seen = qv.clone();
            }
            last_seen_version = s.last_seen.version();
            true
        });
        let Some(prev) = prev else {
            return self.committed();
        };
        if write_to_disk {
            let dynamic = self.dynamic_file(qv.version());
            // `needEraseClientInfoFromStaticConfig`: a config from a reconfig never takes our
            // client address from zoo.cfg
            let erase = qv
                .all_members()
                .get(&self.my_id)
                .is_some_and(|s| s.client_address.is_some());
            let written = write_dynamic_config(&dynamic, &qv, false)
                .and_then(|()| edit_static_config(&self.cfg_path, &dynamic, erase));
            if let Err(e) = written {
                tracing::error!("Error closing file: {e}");
            }
        }
        if qv.version() == last_seen_version {
            let next = self.next_file();
            if next.exists() {
                if let Err(e) = std::fs::remove_file(&next) {
                    tracing::warn!("deleting {} failed: {e}", next.display());
                }
            }
        }
        prev
    }

    /// The config half of `processReconfig`: without `reconfigEnabled` nothing; otherwise
    /// `qv` becomes the committed config (on disk) and what changed is reported.
    /// `old_client` is where our client port listens now.
    pub fn activate(&self, qv: QuorumVerifier, old_client: Option<(String, u16)>) -> Activation {
        if !self.enabled {
            tracing::debug!("Reconfig feature is disabled, skip reconfig processing.");
            return Activation::default();
        }
        let prev = self.set_committed(qv.clone(), true);
        let changed = prev.version() < qv.version() && !prev.same_as(&qv);
        let new_client = if changed {
            qv.all_members()
                .get(&self.my_id)
                .and_then(|s| s.client_address.clone())
                .filter(|c| Some(c) != old_client.as_ref())
        } else {
            None
        };
        Activation {
            changed,
            new_client,
        }
    }
}

fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// `AtomicFileWritingIdiom`: the text goes to a temporary file renamed over `path`.
fn write_atomically(path: &Path, text: &str) -> Result<(), ConfigFileError> {
    let tmp = suffixed(path, ".tmp");
    let mut f = std::fs::File::create(&tmp).map_err(io_err(&tmp))?;
    f.write_all(text.as_bytes()).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io_err(path))
}

/// `writeDynamicConfig`: the config's `key=value` lines sorted, `\n`-joined, no newline at the
/// end; `version=` only with `keep_version`.
pub fn dynamic_config_text(qv: &QuorumVerifier, keep_version: bool) -> String {
    let mut lines: Vec<String> = qv
        .to_string()
        .lines()
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| keep_version || !k.trim().starts_with("version"))
        .map(|(k, v)| format!("{}={}", k.trim(), v.trim()))
        .collect();
    lines.sort();
    lines.join("\n")
}

pub fn write_dynamic_config(
    path: &Path,
    qv: &QuorumVerifier,
    keep_version: bool,
) -> Result<(), ConfigFileError> {
    write_atomically(path, &dynamic_config_text(qv, keep_version))
}

/// `editStaticConfig`'s text: zoo.cfg's entries in the order `Properties` (a
/// `ConcurrentHashMap` since JDK 9) iterates them, without the membership keys (and the
/// client port ones with `erase_client`), then `dynamicConfigFile=` naming `dynamic`.
pub fn static_config_text(cfg_text: &str, dynamic: &str, erase_client: bool) -> String {
    let entries = properties::parse(cfg_text).unwrap_or_default();
    let mut out = String::new();
    for (key, value) in properties_order(entries.into_iter().map(|e| (e.key, e.value))) {
        let key = key.trim();
        let skip = [
            "server.",
            "group",
            "weight",
            "dynamicConfigFile",
            "peerType",
        ]
        .iter()
        .any(|p| key.starts_with(p))
            || (erase_client && key.starts_with("clientPort"));
        if !skip {
            out.push_str(&format!("{key}={}\n", value.trim()));
        }
    }
    out.push_str(&format!("dynamicConfigFile={dynamic}\n"));
    out
}

pub fn edit_static_config(
    cfg_path: &Path,
    dynamic: &Path,
    erase_client: bool,
) -> Result<(), ConfigFileError> {
    let bytes = std::fs::read(cfg_path).map_err(io_err(cfg_path))?;
    let canonical = std::fs::canonicalize(dynamic).map_err(io_err(dynamic))?;
    let text = static_config_text(
        &properties::decode(&bytes),
        &canonical.display().to_string(),
        erase_client,
    );
    write_atomically(cfg_path, &text)
}

/// `QuorumPeerConfig#backupOldConfig`: zoo.cfg copied to zoo.cfg.bak, as a distributed server
/// with `reconfigEnabled` and no `dynamicConfigFile` does at start-up.
pub fn backup_old_config(cfg_path: &Path) -> Result<(), ConfigFileError> {
    let bytes = std::fs::read(cfg_path).map_err(io_err(cfg_path))?;
    let bak = suffixed(cfg_path, ".bak");
    write_atomically(&bak, &String::from_utf8_lossy(&bytes))
}

/// The iteration order of a `java.util.Properties` loaded with `entries` (JDK 17: a
/// `ConcurrentHashMap` created for 8 entries, i.e. a table of 16 resized at 3/4 load; a bin
/// keeps insertion order and a resize splits it the way `ConcurrentHashMap#transfer` does).
/// A key loaded twice keeps its first place and its last value.
pub fn properties_order(
    entries: impl IntoIterator<Item = (String, String)>,
) -> Vec<(String, String)> {
    let spread = |k: &str| {
        let h = string_hash(k);
        ((h ^ ((h as u32) >> 16) as i32) & 0x7fff_ffff) as usize
    };
    let mut n = 16usize;
    let mut table: Vec<Vec<(usize, String, String)>> = vec![Vec::new(); n];
    let mut count = 0usize;
    for (key, value) in entries {
        let h = spread(&key);
        let bin = &mut table[h & (n - 1)];
        if let Some(e) = bin.iter_mut().find(|e| e.1 == key) {
            e.2 = value;
            continue;
        }
        bin.push((h, key, value));
        count += 1;
        if count >= n - (n >> 2) {
            let mut next: Vec<Vec<(usize, String, String)>> = vec![Vec::new(); n * 2];
            for (i, bin) in table.into_iter().enumerate() {
                if bin.is_empty() {
                    continue;
                }
                // the last run of nodes going the same way is moved as it is; the nodes
                // before it are pushed on the front of their list one by one
                let bit = |e: &(usize, String, String)| e.0 & n;
                let mut last_run = 0;
                for j in 1..bin.len() {
                    if bit(&bin[j]) != bit(&bin[j - 1]) {
                        last_run = j;
                    }
                }
                let run_hi = bit(&bin[last_run]) != 0;
                let mut lo = Vec::new();
                let mut hi = Vec::new();
                let mut rest = bin;
                let tail = rest.split_off(last_run);
                for e in rest {
                    if bit(&e) == 0 {
                        lo.insert(0, e);
                    } else {
                        hi.insert(0, e);
                    }
                }
                if run_hi {
                    hi.extend(tail);
                } else {
                    lo.extend(tail);
                }
                next[i] = lo;
                next[i + n] = hi;
            }
            table = next;
            n *= 2;
        }
    }
    table
        .into_iter()
        .flatten()
        .map(|(_, k, v)| (k, v))
        .collect()
}

#[cfg(test)]
#[path = "reconfig_tests.rs"]
mod tests;
