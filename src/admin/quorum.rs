//! An ensemble member's configuration as the words print it: `QuorumZooKeeperServer#dumpConf`
//! (the lines `conf` adds after the standalone ones), `QuorumMaj#toString` and
//! `QuorumPeer.QuorumServer#toString` (the `membership:` block), and the address strings the
//! admin commands share (`QuorumServer#delimitedHostString`).
//!
//! Invariant: everything here is derived from the parsed zoo.cfg in the view, except the
//! `membership:` block, which is the peer's committed quorum config when the view has it.

use std::fmt::Write;

use super::view::ServerView;
use crate::config::{LearnerType, QuorumServerSpec};
use crate::quorum::verifier::server_string;

/// `QuorumServer#delimitedHostString`: IPv6 literals in brackets.
pub(super) fn delimited_host(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

/// `host:port` with the host delimited.
pub(super) fn host_port(host: &str, port: u16) -> String {
    format!("{}:{port}", delimited_host(host))
}

/// This server's own `server.N` entry.
pub(super) fn own_spec(v: &ServerView) -> Option<&QuorumServerSpec> {
    v.config.servers.get(&v.server_id)
}

/// `QuorumPeer#getClientAddress` for `spec`: its `;[host:]port` part or, for this server
/// without one, `clientPortAddress:clientPort` (`QuorumPeerConfig#setupClientPort`).
pub(super) fn client_address(v: &ServerView, spec: &QuorumServerSpec) -> Option<String> {
    if let Some((host, port)) = &spec.client_address {
        return Some(host_port(host, *port));
    }
    if spec.sid != v.server_id {
        return None;
    }
    let port = v.config.client_port?;
    let host = v
        .config
        .client_port_address
        .map_or("0.0.0.0".to_owned(), |ip| ip.to_string());
    Some(host_port(&host, port))
}

/// Ports of this server's quorum or election addresses, `|`-joined.
fn own_ports(v: &ServerView, election: bool) -> String {
    own_spec(v).map_or_else(String::new, |s| {
        let ports: Vec<String> = s
            .addresses
            .iter()
            .map(|a| {
                if election {
                    a.election_port
                } else {
                    a.quorum_port
                }
                .to_string()
            })
            .collect();
        ports.join("|")
    })
}

/// `LearnerType#ordinal` of this server.
fn peer_type(v: &ServerView) -> u8 {
    let t = own_spec(v).map_or(v.config.peer_type, |s| s.learner_type);
    match t {
        LearnerType::Participant => 0,
        LearnerType::Observer => 1,
    }
}

/// What `conf` prints after the standalone lines; the last line has no newline, as
/// `QuorumMaj#toString` ends with `version=<hex>` and `dumpConf` uses `print`.
pub(super) fn conf_lines(v: &ServerView) -> String {
    let c = &v.config;
    let mut out = format!(
        "initLimit={}\nsyncLimit={}\nelectionAlg={}\nelectionPort={}\nquorumPort={}\npeerType={}\nmembership: \n",
        c.init_limit,
        c.sync_limit,
        c.election_alg,
        own_ports(v, true),
        own_ports(v, false),
        peer_type(v)
    );
    if let Some(text) = v.quorum.as_ref().and_then(|q| q.membership.as_deref()) {
        // the committed config, as a reconfig left it
        out.push_str(text);
        return out;
    }
    for (sid, spec) in &c.servers {
        // `QuorumServer#toString`, the same text the quorum config carries
        let _ = writeln!(out, "server.{sid}={}", server_string(spec));
    }
    out.push_str("version=0");
    out
}

/// `QuorumPeer#getLeaderAddress`: the leader's host strings, `|`-joined ("" when unknown).
pub(super) fn leader_ip(v: &ServerView, leader_id: i64) -> String {
    v.config
        .servers
        .get(&leader_id)
        .map_or_else(String::new, |s| {
            let hosts: Vec<&str> = s.addresses.iter().map(|a| a.host.as_str()).collect();
            hosts.join("|")
        })
}

/// `QuorumPeer#getZabState` from the detailed peer state: the word after the first ` - `,
/// `election` while looking.
pub(super) fn zab_state(peer_state: &str) -> &str {
    peer_state.split(" - ").nth(1).unwrap_or("election")
}
