//! The admin commands whose answer depends on the server's part in an ensemble
//! (`Commands.LeaderCommand`, `VotingViewCommand`, `SyncedObserverConsCommand`,
//! `ZabStateCommand`), as 3.8.0 answers for a standalone server, a leader, a follower and an
//! observer (checked against captures in `fixtures/http/ensemble/`).
//!
//! Invariant: ensemble answers need `ServerView::quorum`; without it each command answers
//! as the reference's non-quorum `ZooKeeperServer` does.

use super::super::javafmt::java_socket_addr;
use super::super::json::{CommandResponse, Json};
use super::super::quorum::{client_address, delimited_host, leader_ip, own_spec, zab_state};
use super::super::view::{LearnerHandlerView, ServerView};
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

/// `LearnerHandler#getLearnerHandlerInfo`: a `LinkedHashMap` in this order; `established` is
/// a `Date`, which Jackson writes as epoch ms.
fn learner_handler_info(h: &LearnerHandlerView) -> Json {
    Json::obj()
        .with("remote_socket_address", java_socket_addr(&h.remote))
        .with("sid", h.sid)
        .with("established", h.established_ms)
        .with("queued_packets", h.queued_packets)
        .with("queued_packets_size", h.queued_packets_size)
        .with("packets_received", h.packets_received)
        .with("packets_sent", h.packets_sent)
        .with("requests", h.requests)
        .with("last_zxid", h.last_zxid)
}

fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// `Long#hashCode` (and `Date#hashCode`, the same fold of its epoch ms).
fn java_long_hash(v: i64) -> i32 {
    (v ^ ((v as u64) >> 32) as i64) as i32
}

/// `AbstractMap#hashCode` of [`learner_handler_info`]'s map: the sum of `key ^ value` hashes
/// (`queued_packets` is an `Integer`, the other numbers `Long`s).
fn learner_handler_info_hash(h: &LearnerHandlerView) -> i32 {
    let long = |v: i64| java_long_hash(v);
    let count = |v: u64| java_long_hash(i64::try_from(v).unwrap_or(i64::MAX));
    let entries = [
        (
            "remote_socket_address",
            java_string_hash(&java_socket_addr(&h.remote)),
        ),
        ("sid", long(h.sid)),
        ("established", long(h.established_ms)),
        (
            "queued_packets",
            i32::try_from(h.queued_packets).unwrap_or(i32::MAX),
        ),
        ("queued_packets_size", long(h.queued_packets_size)),
        ("packets_received", count(h.packets_received)),
        ("packets_sent", count(h.packets_sent)),
        ("requests", count(h.requests)),
        ("last_zxid", long(h.last_zxid)),
    ];
    entries.iter().fold(0i32, |sum, (k, v)| {
        sum.wrapping_add(java_string_hash(k) ^ v)
    })
}

/// The order a default `HashSet` iterates `items` by their hashes: by bucket of the spread
/// hash in a table of 16 doubled while more than ¾ full; in a bucket, as inserted (here by
/// sid, since the reference inserts from a set ordered by identity hash).
fn java_hash_set_order<T>(mut items: Vec<(i32, T)>) -> Vec<T> {
    let mut capacity: usize = 16;
    while items.len() > capacity / 4 * 3 {
        capacity *= 2;
    }
    let mask = capacity - 1;
    let bucket = |h: i32| ((h ^ ((h as u32) >> 16) as i32) as u32 as usize) & mask;
    // a stable sort keeps the insertion order within a bucket
    items.sort_by_key(|(h, _)| bucket(*h));
    items.into_iter().map(|(_, t)| t).collect()
}

/// `observers` / `obsr`: on a leader, its `observingLearners` (a `HashSet` of
/// [`learner_handler_info`] maps); a follower has no observer master here, so it answers as
/// 3.8's non-leader servers do, `0` and `[ ]`.
pub(super) fn observers(v: &ServerView, r: CommandResponse) -> CommandResponse {
    let observing: Vec<&LearnerHandlerView> = v
        .quorum
        .as_ref()
        .and_then(|q| q.leader.as_ref())
        .map(|l| {
            l.learner_handlers
                .iter()
                .filter(|h| h.observer && h.forwarding)
                .collect()
        })
        .unwrap_or_default();
    let r = put(r, "synced_observers", observing.len() as u64);
    let hashed = observing
        .iter()
        .map(|h| (learner_handler_info_hash(h), learner_handler_info(h)))
        .collect();
    put(r, "observers", Json::Arr(java_hash_set_order(hashed)))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Observer `k` of the `H.java` check run on 3.8's JDK: the same maps put in a
    /// `HashSet` in sid order.
    fn observer(k: i64) -> LearnerHandlerView {
        LearnerHandlerView {
            sid: k + 3,
            observer: true,
            forwarding: true,
            remote: format!("127.0.0.1:{}", 40000 + 17 * k).parse().unwrap(),
            established_ms: 1_796_335_447_991 + 1000 * k,
            queued_packets: k % 2,
            queued_packets_size: -298 + 28 * (k % 2),
            packets_received: (30 + k) as u64,
            packets_sent: (31 + k) as u64,
            requests: (k / 3) as u64,
            last_zxid: 4_294_967_296 + k,
        }
    }

    fn sids_in_set_order(n: i64) -> Vec<i64> {
        let items = (1..=n)
            .map(observer)
            .map(|h| (learner_handler_info_hash(&h), h.sid))
            .collect();
        java_hash_set_order(items)
    }

    #[test]
    fn observers_in_the_order_a_java_hash_set_of_their_maps_iterates() {
        // what java printed for the same maps (5, then 14: past one resize)
        assert_eq!(sids_in_set_order(5), vec![4, 8, 6, 5, 7]);
        assert_eq!(
            sids_in_set_order(14),
            vec![4, 8, 16, 10, 11, 6, 5, 12, 13, 7, 9, 17, 14, 15]
        );
    }

    #[test]
    fn learner_handler_info_fields_in_order_with_java_types() {
        let info = learner_handler_info(&observer(1));
        let text = info.to_pretty();
        let keys: Vec<&str> = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix('"'))
            .filter_map(|l| l.split('"').next())
            .collect();
        assert_eq!(
            keys,
            [
                "remote_socket_address",
                "sid",
                "established",
                "queued_packets",
                "queued_packets_size",
                "packets_received",
                "packets_sent",
                "requests",
                "last_zxid"
            ]
        );
        assert!(text.contains("\"remote_socket_address\" : \"/127.0.0.1:40017\""));
        assert!(text.contains("\"established\" : 1796335448991,"));
        assert!(text.contains("\"queued_packets_size\" : -270,"));
    }

    #[test]
    fn only_forwarded_observers_are_listed() {
        let cfg =
            crate::config::parse("dataDir=/tmp/x\n", std::path::Path::new("zoo.cfg")).unwrap();
        let mut v = ServerView::idle(
            std::sync::Arc::new(cfg),
            std::sync::Arc::new(super::super::super::ServerStats::new()),
        );
        let mut follower = observer(1);
        follower.observer = false;
        let mut syncing = observer(2);
        syncing.forwarding = false;
        v.quorum = Some(super::super::super::QuorumView {
            leader: Some(super::super::super::LeaderView {
                learner_handlers: vec![follower, syncing, observer(3)],
                ..Default::default()
            }),
            ..Default::default()
        });
        let r = observers(&v, CommandResponse::new("observers"));
        assert_eq!(r.data.get("synced_observers"), Some(&Json::Int(1)));
        let Some(Json::Arr(list)) = r.data.get("observers") else {
            panic!("no observers list");
        };
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].get("sid"), Some(&Json::Int(6)));
    }
}
