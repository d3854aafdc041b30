//! The admin commands whose answer depends on the server's part in an ensemble
//! (`Commands.LeaderCommand`, `VotingViewCommand`, `SyncedObserverConsCommand`,
//! `ZabStateCommand`), as 3.8.0 answers for a standalone server, a leader, a follower and an
//! observer (checked against captures in `fixtures/http/ensemble/`).
//!
//! Invariant: ensemble answers need `ServerView::quorum`; without it each command answers
//! as the reference's non-quorum `ZooKeeperServer` does.

use super::super::json::{CommandResponse, Json};
use super::super::quorum::{client_address, delimited_host, leader_ip, own_spec, zab_state};
use super::super::view::ServerView;
use crate::config::{LearnerType, QuorumServerSpec};

fn put(mut r: CommandResponse, key: &str, value: impl Into<Json>) -> CommandResponse {
    r.data.put(key, value);
    r
}

/// `leader` / `lead`.
pub(super) fn leader(v: &ServerView, r: CommandResponse) -> CommandResponse {
    let Some(q) = &v.quorum else {
        return put(r, "error", "server is not initialized");
    };
    let r = put(r, "is_leader", q.leader.is_some());
    let r = put(r, "leader_id", q.leader_id);
    put(r, "leader_ip", leader_ip(v, q.leader_id))
}

/// `QuorumServerView`: one voting member.
fn server_view(v: &ServerView, spec: &QuorumServerSpec) -> Json {
    let addrs = |election: bool| {
        let list = spec.addresses.iter().map(|a| {
            let port = if election {
                a.election_port
            } else {
                a.quorum_port
            };
            Json::from(format!("{}:{port}", delimited_host(&a.host)))
        });
        Json::Arr(list.collect())
    };
    let learner_type = match spec.learner_type {
        LearnerType::Participant => "participant",
        LearnerType::Observer => "observer",
    };
    Json::obj()
        .with("server_addresses", addrs(false))
        .with("election_addresses", addrs(true))
        .with(
            "client_address",
            client_address(v, spec).unwrap_or_default(),
        )
        .with("learner_type", learner_type)
}

/// `voting_view`: the participants by sid (a `HashMap<Long, _>`: ascending for small sids).
pub(super) fn voting_view(v: &ServerView, r: CommandResponse) -> CommandResponse {
    let mut view = Json::obj();
    if v.quorum.is_some() {
        for (sid, spec) in &v.config.servers {
            if spec.learner_type == LearnerType::Participant {
                view.put(&sid.to_string(), server_view(v, spec));
            }
        }
    }
    put(r, "current_config", view)
}

/// `observers` / `obsr`: the count a leader knows; the per-observer connection beans are
/// not in the view, so the list stays empty.
pub(super) fn observers(v: &ServerView, r: CommandResponse) -> CommandResponse {
    let synced = v
        .quorum
        .as_ref()
        .and_then(|q| q.leader.as_ref())
        .map_or(0, |l| l.synced_observers);
    let r = put(r, "synced_observers", synced);
    put(r, "observers", Json::Arr(Vec::new()))
}

/// Jackson's bean form of `MultipleAddresses` (its getters, in the order Jackson found them).
fn multiple_addresses(spec: &QuorumServerSpec, election: bool) -> Json {
    let port = |a: &crate::config::QuorumAddress| {
        if election {
            a.election_port
        } else {
            a.quorum_port
        }
    };
    let all: Vec<Json> = spec
        .addresses
        .iter()
        .map(|a| Json::from(format!("{}:{}", delimited_host(&a.host), port(a))))
        .collect();
    let one = all.first().cloned().unwrap_or(Json::Null);
    let wildcard = spec
        .addresses
        .iter()
        .map(|a| Json::from(format!("0.0.0.0:{}", port(a))));
    let ports = spec
        .addresses
        .iter()
        .map(|a| Json::from(i64::from(port(a))));
    let hosts = spec.addresses.iter().map(|a| Json::from(a.host.as_str()));
    Json::obj()
        .with("empty", all.is_empty())
        .with("all_addresses", Json::Arr(all.clone()))
        .with("all_reachable_addresses", Json::Arr(all.clone()))
        .with("one", one.clone())
        .with("reachable_address", one.clone())
        .with("wildcard_addresses", Json::Arr(wildcard.collect()))
        .with("all_ports", Json::Arr(ports.collect()))
        .with("all_host_strings", Json::Arr(hosts.collect()))
        .with("all_reachable_addresses_or_all", Json::Arr(all))
        .with("reachable_or_one", one)
}

/// `zabstate`: this peer's addresses, whether it votes, and its zxid split into epoch and
/// counter.
pub(super) fn zabstate(v: &ServerView, r: CommandResponse) -> CommandResponse {
    let (Some(q), Some(spec)) = (&v.quorum, own_spec(v)) else {
        let r = put(r, "voting", false);
        return put(r, "zabstate", "");
    };
    let r = put(r, "myid", v.server_id);
    let r = put(r, "is_leader", q.leader.is_some());
    let r = put(r, "quorum_address", multiple_addresses(spec, false));
    let r = put(r, "election_address", multiple_addresses(spec, true));
    let client = client_address(v, spec).map_or(Json::Null, Json::from);
    let r = put(r, "client_address", client);
    let r = put(r, "voting", spec.learner_type == LearnerType::Participant);
    let r = put(r, "last_zxid", format!("0x{:x}", v.last_zxid));
    let r = put(r, "zab_epoch", v.last_zxid >> 32);
    let r = put(r, "zab_counter", v.last_zxid & 0xffff_ffff);
    put(r, "zabstate", zab_state(&q.peer_state))
}
