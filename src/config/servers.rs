//! `server.N` lines as `QuorumPeer.QuorumServer#initializeWithAddressString` reads them:
//! `host:quorumPort:electionPort[:participant|:observer][;[clientHost:]clientPort]`, several
//! `|`-separated addresses only with `multiAddress.enabled`. Host names are kept as written
//! (resolution is the quorum layer's job); `[v6]` literals are unbracketed.

/// `participant` or `observer` (`QuorumPeer.LearnerType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LearnerType {
    Participant,
    Observer,
}

/// One quorum address: the host and its quorum (2888) and election (3888) ports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuorumAddress {
    pub host: String,
    pub quorum_port: u16,
    pub election_port: u16,
}

/// A parsed `server.N` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuorumServerSpec {
    pub sid: i64,
    pub addresses: Vec<QuorumAddress>,
    pub learner_type: LearnerType,
    /// `;[host:]port` part; host defaults to `0.0.0.0` as in the reference.
    pub client_address: Option<(String, u16)>,
}

/// Splits `host:port:...` honouring `[v6]` brackets (`ConfigUtils#getHostAndPort`).
fn host_and_ports(s: &str) -> Result<Vec<String>, String> {
    if let Some(rest) = s.strip_prefix('[') {
        let close = rest
            .find(']')
            .ok_or_else(|| format!("{s} starts with '[' but has no matching ']'"))?;
        let host = rest[..close].to_owned();
        let tail = &rest[close + 1..];
        if tail.is_empty() {
            return Ok(vec![host]);
        }
        let tail = tail
            .strip_prefix(':')
            .ok_or_else(|| format!("{s} does not have : after ]"))?;
        let mut parts = vec![host];
        parts.extend(tail.split(':').map(str::to_owned));
        Ok(parts)
    } else {
        Ok(s.split(':').map(str::to_owned).collect())
    }
}

fn port(host: &str, s: &str) -> Result<u16, String> {
    match s.parse::<i64>() {
        Ok(p) => u16::try_from(p).map_err(|_| format!("port out of range:{p}")),
        Err(_) => Err(format!("Address unresolved: {host}:{s}")),
    }
}

fn learner_type(s: &str) -> Result<LearnerType, String> {
    match s.to_ascii_lowercase().as_str() {
        "participant" => Ok(LearnerType::Participant),
        "observer" => Ok(LearnerType::Observer),
        _ => Err(format!("Unrecognised peertype: {s}")),
    }
}

/// Parses the value of `server.<sid>`.
pub fn parse_server(
    sid: i64,
    value: &str,
    multi_address: bool,
) -> Result<QuorumServerSpec, String> {
    let wrong = || {
        format!("{value} does not have the form server_config or server_config;client_config where server_config is the pipe separated list of host:port:port or host:port:port:type and client_config is port or host:port")
    };
    let halves: Vec<&str> = value.split(';').collect();
    if halves.len() > 2 {
        return Err(wrong());
    }
    let client_address = match halves.get(1) {
        Some(client) => {
            let parts = host_and_ports(client)?;
            let (host, p) = match parts.as_slice() {
                [p] => ("0.0.0.0".to_owned(), p),
                [h, p] => (h.clone(), p),
                _ => return Err(wrong()),
            };
            let p = port(&host, p)?;
            Some((host, p))
        }
        None => None,
    };
    let servers: Vec<&str> = halves[0].split('|').collect();
    if servers.len() > 1 && !multi_address {
        return Err(format!("Multiple address feature is disabled, but multiple addresses were specified for sid {sid}"));
    }
    let mut addresses = Vec::new();
    let mut kind: Option<LearnerType> = None;
    for server in servers {
        let parts = host_and_ports(server)?;
        if !(3..=4).contains(&parts.len()) {
            return Err(wrong());
        }
        let host = parts[0].clone();
        let quorum_port = port(&host, &parts[1])?;
        let election_port = port(&host, &parts[2])?;
        if quorum_port == election_port {
            return Err(format!("Client and election port must be different! Please update the configuration file on server.{sid}"));
        }
        if let Some(t) = parts.get(3) {
            let t = learner_type(t)?;
            if kind.is_some_and(|k| k != t) {
                return Err("Multiple addresses should have similar roles".to_owned());
            }
            kind = Some(t);
        }
        addresses.push(QuorumAddress {
            host,
            quorum_port,
            election_port,
        });
    }
    Ok(QuorumServerSpec {
        sid,
        addresses,
        learner_type: kind.unwrap_or(LearnerType::Participant),
        client_address,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn full_form() {
        let s = parse_server(2, "zk2:2888:3888:observer;10.0.0.2:2181", false).unwrap();
        assert_eq!(s.learner_type, LearnerType::Observer);
        assert_eq!(s.addresses[0].host, "zk2");
        assert_eq!(s.addresses[0].quorum_port, 2888);
        assert_eq!(s.addresses[0].election_port, 3888);
        assert_eq!(s.client_address, Some(("10.0.0.2".to_owned(), 2181)));
    }

    #[test]
    fn client_port_only_and_ipv6() {
        let s = parse_server(1, "[::1]:2888:3888;2181", false).unwrap();
        assert_eq!(s.addresses[0].host, "::1");
        assert_eq!(s.client_address, Some(("0.0.0.0".to_owned(), 2181)));
        assert_eq!(s.learner_type, LearnerType::Participant);
    }

    #[test]
    fn rejects_reference_errors() {
        assert!(parse_server(1, "h:2888", false).is_err());
        assert!(parse_server(1, "h:2888:2888", false).is_err());
        assert!(parse_server(1, "h:x:3888", false).is_err());
        assert!(parse_server(1, "h:1:2:boss", false).is_err());
        assert!(parse_server(1, "a:1:2|b:1:2", false).is_err());
        assert_eq!(
            parse_server(1, "a:1:2|b:1:2", true)
                .unwrap()
                .addresses
                .len(),
            2
        );
    }
}
