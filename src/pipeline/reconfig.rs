//! The leader's prep of `reconfig` (`PrepRequestProcessor#pRequest2Txn`, `OpCode.reconfig`):
//! the next quorum config from an incremental (joining / leaving) or a non-incremental
//! (`newMembers`) request, checked against the configs the leader holds and the followers
//! synced with it. The txn itself (a SetDataTxn on `/zookeeper/config`) is built by
//! [`PrepContext::reconfig`](super::prep::PrepContext::reconfig).
//!
//! Invariant: the new config's version is the zxid of the txn that carries it.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::properties;
use crate::config::servers::parse_server;
use crate::config::QuorumServerSpec;
use crate::jute::codes::ErrorCode;
use crate::jute::proto::ReconfigRequest;
use crate::quorum::verifier::QuorumVerifier;

/// What the leader knows when it preps a reconfig.
#[derive(Debug, Clone)]
pub struct LeaderConfigs {
    /// `getQuorumVerifier`.
    pub committed: QuorumVerifier,
    /// `getLastSeenQuorumVerifier`: newer than `committed` while a reconfig is in flight.
    pub last_seen: QuorumVerifier,
    /// The leader itself and the followers it forwards to that are synced
    /// (`LearnerHandler#synced`), whatever config they are in.
    pub synced: BTreeSet<i64>,
    /// `QuorumPeerConfig.isStandaloneEnabled`.
    pub standalone_enabled: bool,
}

impl LeaderConfigs {
    /// `Leader#isQuorumSynced`: the synced voters of `qv` form a quorum of it.
    pub fn is_quorum_synced(&self, qv: &QuorumVerifier) -> bool {
        let voters = qv.voting_members();
        let ids: BTreeSet<i64> = self.synced.intersection(&voters).copied().collect();
        qv.contains_quorum(&ids)
    }
}

/// The config a reconfig request asks for, versioned `zxid`, or the error ZooKeeper answers
/// with (the checks after `reconfigEnabled`, in the reference's order, up to the ACL check).
pub fn next_config(
    req: &ReconfigRequest,
    zxid: i64,
    view: &LeaderConfigs,
) -> Result<QuorumVerifier, ErrorCode> {
    let last_seen = &view.last_seen;
    if last_seen.version() != view.committed.version() {
        return Err(ErrorCode::RECONFIG_IN_PROGRESS);
    }
    let config_id = req.cur_config_id;
    if config_id != -1 && config_id != last_seen.version() {
        tracing::info!(
            "Reconfiguration from version {config_id} failed -- last seen version is {}",
            last_seen.version()
        );
        return Err(ErrorCode::BAD_VERSION);
    }
    let mut qv = match &req.new_members {
        Some(members) => {
            tracing::info!("Non-incremental reconfig");
            non_incremental(members, view.standalone_enabled)?
        }
        None => {
            tracing::info!("Incremental reconfig");
            incremental(req, last_seen)?
        }
    };
    qv.set_version(zxid);
    let voters = qv.voting_members().len();
    if view.standalone_enabled && voters < 2 {
        tracing::warn!("Reconfig failed - new configuration must include at least 2 followers");
        return Err(ErrorCode::BAD_ARGUMENTS);
    }
    if voters < 1 {
        tracing::warn!("Reconfig failed - new configuration must include at least 1 follower");
        return Err(ErrorCode::BAD_ARGUMENTS);
    }
    if !view.is_quorum_synced(&qv) {
        tracing::warn!(
            "Reconfig failed - there must be a connected and synced quorum in new configuration"
        );
        return Err(ErrorCode::NEW_CONFIG_NO_QUORUM);
    }
    Ok(qv)
}

/// `QuorumPeerConfig#parseDynamicConfig` of `newMembers` (commas read as line breaks).
fn non_incremental(members: &str, standalone_enabled: bool) -> Result<QuorumVerifier, ErrorCode> {
    let text = members.replace(',', "\n");
    let entries = properties::parse(&text).map_err(|_| ErrorCode::BAD_ARGUMENTS)?;
    let mut lines = String::new();
    for e in &entries {
        let key = e.key.trim();
        if !(key.starts_with("server.")
            || key == "version"
            || key.starts_with("group")
            || key.starts_with("weight"))
        {
            tracing::warn!("Unrecognised parameter: {key}");
            return Err(ErrorCode::BAD_ARGUMENTS);
        }
        lines.push_str(&format!("{key}={}\n", e.value.trim()));
    }
    let qv = QuorumVerifier::from_config_str(&lines).map_err(|e| {
        tracing::warn!("{e}");
        ErrorCode::BAD_ARGUMENTS
    })?;
    let (voters, observers) = (qv.voting_members().len(), qv.observing_members().len());
    // these are IllegalArgumentExceptions in the reference, which `pRequest`'s catch-all
    // answers with MarshallingError
    if observers > 0 && (voters == 0 || (voters == 1 && standalone_enabled)) {
        tracing::error!("Observers w/o participants is an invalid configuration");
        return Err(ErrorCode::MARSHALLING_ERROR);
    }
    if voters == 0 && !standalone_enabled {
        return Err(ErrorCode::MARSHALLING_ERROR);
    }
    Ok(qv)
}

/// Joining and leaving applied to the last seen config (a majority one only).
fn incremental(
    req: &ReconfigRequest,
    last_seen: &QuorumVerifier,
) -> Result<QuorumVerifier, ErrorCode> {
    if !last_seen.is_majority() {
        tracing::warn!(
            "Incremental reconfiguration requested but last configuration seen has a \
             non-majority quorum system"
        );
        return Err(ErrorCode::BAD_ARGUMENTS);
    }
    let mut next: BTreeMap<i64, QuorumServerSpec> = last_seen.all_members().clone();
    // `StringUtils.split`: trimmed, empty parts dropped
    let split = |s: &Option<String>, sep: char| -> Vec<String> {
        s.as_deref()
            .map(|s| {
                s.split(sep)
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    for leaving in split(&req.leaving_servers, ',') {
        // `Long.parseLong` failing is no KeeperException: MarshallingError
        let sid: i64 = leaving.parse().map_err(|_| ErrorCode::MARSHALLING_ERROR)?;
        next.remove(&sid);
    }
    for joiner in split(&req.joining_servers, ',') {
        let parts: Vec<&str> = joiner
            .split('=')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect();
        let [key, value] = parts.as_slice() else {
            tracing::warn!("Wrong format of server string");
            return Err(ErrorCode::BAD_ARGUMENTS);
        };
        let sid: i64 = key[key.rfind('.').map_or(0, |i| i + 1)..]
            .parse()
            .map_err(|_| ErrorCode::MARSHALLING_ERROR)?;
        let spec = parse_server(sid, value, true).map_err(|e| {
            tracing::warn!("Reconfiguration failed: {e}");
            ErrorCode::BAD_ARGUMENTS
        })?;
        if spec.client_address.is_none() {
            tracing::warn!(
                "Wrong format of server string - each server should have 3 ports specified"
            );
            return Err(ErrorCode::BAD_ARGUMENTS);
        }
        for other in next.values().filter(|o| o.sid != sid) {
            if let Some(clash) = address_clash(&spec, other) {
                tracing::warn!("{clash}");
                return Err(ErrorCode::BAD_ARGUMENTS);
            }
        }
        next.insert(sid, spec);
    }
    Ok(QuorumVerifier::majority(next.into_values(), 0))
}

/// `QuorumServer#checkAddressDuplicate` (`joiner.checkAddressDuplicate(other)`): any of the
/// joiner's quorum, election or client addresses used by `other` (wildcard and loopback
/// addresses are never compared).
fn address_clash(joiner: &QuorumServerSpec, other: &QuorumServerSpec) -> Option<String> {
    let special =
        |h: &str| matches!(h, "0.0.0.0" | "::" | "::1" | "localhost") || h.starts_with("127.");
    let addrs = |s: &QuorumServerSpec| -> Vec<(String, u16)> {
        let mut v: Vec<(String, u16)> = Vec::new();
        for a in &s.addresses {
            v.push((a.host.clone(), a.quorum_port));
            v.push((a.host.clone(), a.election_port));
        }
        v.extend(s.client_address.clone());
        v.retain(|(h, _)| !special(h));
        v
    };
    let theirs = addrs(other);
    addrs(joiner)
        .into_iter()
        .find(|a| theirs.contains(a))
        .map(|(h, p)| {
            format!(
                "{h}:{p} of server.{} conflicts {h}:{p} of server.{}",
                joiner.sid, other.sid
            )
        })
}

#[cfg(test)]
#[path = "reconfig_tests.rs"]
mod tests;
