//! Quorum verifiers: `flexible/QuorumMaj` (simple majority of participants) and
//! `flexible/QuorumHierarchical` (`group.N` / `weight.N`: a majority of groups, each by a
//! weighted majority).
//!
//! Invariants: the member lines of [`QuorumVerifier::to_string`] follow Java's `HashMap`
//! iteration order over `Long` keys (ascending for sids below the table size), because that
//! string travels in election notifications and NEWLEADER and peers compare it byte for byte.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::config::servers::parse_server;
use crate::config::{LearnerType, QuorumServerSpec};
use crate::javaorder::{bucket, long_hash};

/// Why a `server.N` / `group.N` / `weight.N` set does not make a verifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifierError {
    #[error("bad line {0:?} in quorum config")]
    BadLine(String),
    #[error("server.{sid}: {problem}")]
    BadServer { sid: i64, problem: String },
    #[error("Server {0}is in multiple groups")]
    MultipleGroups(i64),
    #[error("Server {0}is not in a group")]
    NotInGroup(i64),
}

/// Group layout of a hierarchical quorum.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Hierarchy {
    /// sid → gid.
    server_group: BTreeMap<i64, i64>,
    /// sid → weight (participants without `weight.N` get 1).
    server_weight: BTreeMap<i64, i64>,
    /// gid → total weight of its servers.
    group_weight: BTreeMap<i64, i64>,
    /// Number of `group.N` lines (`QuorumHierarchical.numGroups`).
    num_groups: i64,
}

/// A quorum configuration: its members, their roles, and which sid sets form a quorum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumVerifier {
    members: BTreeMap<i64, QuorumServerSpec>,
    hierarchy: Option<Hierarchy>,
    version: i64,
}

impl QuorumVerifier {
    /// `QuorumMaj(Map)`: every participant votes, weight 1.
    pub fn majority(members: impl IntoIterator<Item = QuorumServerSpec>, version: i64) -> Self {
        let members = members.into_iter().map(|s| (s.sid, s)).collect();
        QuorumVerifier {
            members,
            hierarchy: None,
            version,
        }
    }

    /// `QuorumHierarchical#parse`: `groups` are gid → `sid:sid:...`, `weights` sid → weight.
    pub fn hierarchical(
        members: impl IntoIterator<Item = QuorumServerSpec>,
        groups: &BTreeMap<i64, String>,
        weights: &BTreeMap<i64, String>,
        version: i64,
    ) -> Result<Self, VerifierError> {
        let members: BTreeMap<i64, QuorumServerSpec> =
            members.into_iter().map(|s| (s.sid, s)).collect();
        let mut server_group = BTreeMap::new();
        for (gid, value) in groups {
            for part in value.split(':') {
                let sid: i64 = part
                    .trim()
                    .parse()
                    .map_err(|_| VerifierError::BadLine(format!("group.{gid}={value}")))?;
                if server_group.insert(sid, *gid).is_some() {
                    return Err(VerifierError::MultipleGroups(sid));
                }
            }
        }
        let mut server_weight = BTreeMap::new();
        for (sid, value) in weights {
            let w: i64 = value
                .trim()
                .parse()
                .map_err(|_| VerifierError::BadLine(format!("weight.{sid}={value}")))?;
            server_weight.insert(*sid, w);
        }
        for spec in members.values() {
            if spec.learner_type == LearnerType::Participant {
                if !server_group.contains_key(&spec.sid) {
                    return Err(VerifierError::NotInGroup(spec.sid));
                }
                server_weight.entry(spec.sid).or_insert(1);
            }
        }
        let mut group_weight = BTreeMap::new();
        for (sid, gid) in &server_group {
            let w = server_weight.get(sid).copied().unwrap_or(0);
            *group_weight.entry(*gid).or_insert(0) += w;
        }
        let num_groups = i64::try_from(groups.len()).unwrap_or(i64::MAX);
        Ok(QuorumVerifier {
            members,
            hierarchy: Some(Hierarchy {
                server_group,
                server_weight,
                group_weight,
                num_groups,
            }),
            version,
        })
    }

    /// `QuorumPeer#configFromString`: the text a notification or NEWLEADER carries
    /// (`server.N=...`, optional `group.N` / `weight.N`, `version=<hex>`).
    pub fn from_config_str(text: &str) -> Result<Self, VerifierError> {
        let mut servers = Vec::new();
        let (mut groups, mut weights) = (BTreeMap::new(), BTreeMap::new());
        let mut version = 0;
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (key, value) = line
                .split_once('=')
                .ok_or_else(|| VerifierError::BadLine(line.to_owned()))?;
            let (key, value) = (key.trim(), value.trim());
            let id = |prefix: &str| -> Result<i64, VerifierError> {
                key[prefix.len()..]
                    .parse()
                    .map_err(|_| VerifierError::BadLine(line.to_owned()))
            };
            if key.starts_with("server.") {
                let sid = id("server.")?;
                let spec = parse_server(sid, value, true)
                    .map_err(|problem| VerifierError::BadServer { sid, problem })?;
                servers.push(spec);
            } else if key.starts_with("group.") {
                groups.insert(id("group.")?, value.to_owned());
            } else if key.starts_with("weight.") {
                weights.insert(id("weight.")?, value.to_owned());
            } else if key == "version" {
                version = u64::from_str_radix(value, 16)
                    .map(|v| v as i64)
                    .map_err(|_| VerifierError::BadLine(line.to_owned()))?;
            }
        }
        if groups.is_empty() {
            Ok(Self::majority(servers, version))
        } else {
            Self::hierarchical(servers, &groups, &weights, version)
        }
    }

    /// A `QuorumMaj` (no `group.N` / `weight.N`): the only kind an incremental reconfig edits.
    pub fn is_majority(&self) -> bool {
        self.hierarchy.is_none()
    }

    /// The config version (`version=` in hex in the dynamic file).
    pub fn version(&self) -> i64 {
        self.version
    }

    pub fn set_version(&mut self, version: i64) {
        self.version = version;
    }

    /// Every member, participants and observers.
    pub fn all_members(&self) -> &BTreeMap<i64, QuorumServerSpec> {
        &self.members
    }

    /// Participants: the sids whose votes count.
    pub fn voting_members(&self) -> BTreeSet<i64> {
        self.members_of(LearnerType::Participant)
    }

    pub fn observing_members(&self) -> BTreeSet<i64> {
        self.members_of(LearnerType::Observer)
    }

    fn members_of(&self, kind: LearnerType) -> BTreeSet<i64> {
        let it = self.members.values().filter(|s| s.learner_type == kind);
        it.map(|s| s.sid).collect()
    }

    pub fn is_voter(&self, sid: i64) -> bool {
        self.members
            .get(&sid)
            .is_some_and(|s| s.learner_type == LearnerType::Participant)
    }

    /// `QuorumVerifier#getWeight`. A hierarchical sid without a weight (an observer, a
    /// stranger) is 0 here where Java would throw, so such a vote can never win.
    pub fn weight(&self, sid: i64) -> i64 {
        match &self.hierarchy {
            None => 1,
            Some(h) => h.server_weight.get(&sid).copied().unwrap_or(0),
        }
    }

    /// `containsQuorum`: majority of participants, or for hierarchical a majority of groups
    /// each holding more than half its weight. Only sids of voting members should be given
    /// (`SyncedLearnerTracker#addAck` filters them).
    pub fn contains_quorum(&self, sids: &BTreeSet<i64>) -> bool {
        let Some(h) = &self.hierarchy else {
            let half = self.voting_members().len() / 2;
            return sids.len() > half;
        };
        if sids.is_empty() {
            return false;
        }
        let mut expansion: BTreeMap<i64, i64> = BTreeMap::new();
        for sid in sids {
            if let Some(gid) = h.server_group.get(sid) {
                let w = h.server_weight.get(sid).copied().unwrap_or(0);
                *expansion.entry(*gid).or_insert(0) += w;
            }
        }
        let majority_groups = expansion
            .iter()
            .filter(|(gid, w)| **w > h.group_weight.get(gid).copied().unwrap_or(0) / 2)
            .count();
        i64::try_from(majority_groups).unwrap_or(i64::MAX) > h.num_groups / 2
    }

    /// `QuorumMaj#equals` / `QuorumHierarchical#equals`: same version, or the same members
    /// (and groups and weights).
    pub fn same_as(&self, other: &QuorumVerifier) -> bool {
        self.version == other.version
            || (self.members == other.members && self.hierarchy == other.hierarchy)
    }
}

/// Order in which a `java.util.HashMap<Long, _>` holding `keys` iterates, keys inserted in
/// ascending order: bucket index of `Long#hashCode` spread by `HashMap#hash`, in the table the
/// map grows to (16, doubled past 0.75 load).
pub(crate) fn java_hash_order(keys: impl IntoIterator<Item = i64>) -> Vec<i64> {
    let mut keys: Vec<i64> = keys.into_iter().collect();
    keys.sort_unstable();
    keys.dedup();
    let mut capacity = 16;
    while keys.len() > capacity * 3 / 4 {
        capacity *= 2;
    }
    // stable sort keeps insertion (ascending) order within a bucket
    keys.sort_by_key(|k| bucket(long_hash(*k), capacity));
    keys
}

/// `QuorumServer#toString`: `host:qport:eport[|...]:participant|observer[;chost:cport]`.
pub fn server_string(spec: &QuorumServerSpec) -> String {
    let bracket = |h: &str| {
        if h.contains(':') {
            format!("[{h}]")
        } else {
            h.to_owned()
        }
    };
    // Java sorts the quorum and the election address lists each by host on their own.
    let mut quorum: Vec<_> = spec
        .addresses
        .iter()
        .map(|a| (&a.host, a.quorum_port))
        .collect();
    let mut election: Vec<_> = spec
        .addresses
        .iter()
        .map(|a| (&a.host, a.election_port))
        .collect();
    quorum.sort_by(|a, b| a.0.cmp(b.0));
    election.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = quorum
        .iter()
        .zip(&election)
        .map(|((h, qp), (_, ep))| format!("{}:{qp}:{ep}", bracket(h)))
        .collect::<Vec<_>>()
        .join("|");
    out.push_str(match spec.learner_type {
        LearnerType::Observer => ":observer",
        LearnerType::Participant => ":participant",
    });
    if let Some((host, port)) = &spec.client_address {
        out.push_str(&format!(";{}:{port}", bracket(host)));
    }
    out
}

impl fmt::Display for QuorumVerifier {
    /// `QuorumMaj#toString` / `QuorumHierarchical#toString`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for sid in java_hash_order(self.members.keys().copied()) {
            if let Some(spec) = self.members.get(&sid) {
                writeln!(f, "server.{sid}={}", server_string(spec))?;
            }
        }
        if let Some(h) = &self.hierarchy {
            let mut groups: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
            for sid in java_hash_order(h.server_group.keys().copied()) {
                if let Some(gid) = h.server_group.get(&sid) {
                    groups.entry(*gid).or_default().push(sid);
                }
            }
            for gid in java_hash_order(groups.keys().copied()) {
                let sids: Vec<String> = groups[&gid].iter().map(i64::to_string).collect();
                writeln!(f, "group.{gid}={}", sids.join(":"))?;
            }
            for sid in java_hash_order(h.server_weight.keys().copied()) {
                writeln!(f, "weight.{sid}={}", h.server_weight[&sid])?;
            }
        }
        write!(f, "version={:x}", self.version as u64)
    }
}

#[cfg(test)]
#[path = "verifier_tests.rs"]
mod tests;
