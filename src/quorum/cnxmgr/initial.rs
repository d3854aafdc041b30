//! The first bytes on every election connection (`QuorumCnxManager#startConnection` writes
//! them, `#handleConnection` / `InitialMessage#parse` read them):
//! `long protocolVersion, long sid, int addrLen, bytes "host:port[|host:port...]"`.
//!
//! Invariants: `-65536` (V1, one address) and `-65535` (V2, `|`-separated) are accepted; a
//! non-negative first long is a pre-3.5 peer's bare sid; `addrLen` must be 1…2048; wildcard
//! hosts are dropped from the address list as the reference does.

use std::net::{IpAddr, SocketAddr};

use tokio::io::{AsyncRead, AsyncReadExt};

/// `QuorumCnxManager.PROTOCOL_VERSION_V1`.
pub const PROTOCOL_VERSION_V1: i64 = -65536;
/// `QuorumCnxManager.PROTOCOL_VERSION_V2` (only with `multiAddress.enabled`).
pub const PROTOCOL_VERSION_V2: i64 = -65535;
/// `QuorumCnxManager.maxBuffer`: the longest address string accepted.
pub const MAX_ADDR_LEN: i32 = 2048;

/// A decoded initial message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitialMessage {
    pub sid: i64,
    /// `host:port` pairs as announced (empty for a legacy peer or only wildcards).
    pub election_addrs: Vec<(String, u16)>,
}

#[derive(Debug, thiserror::Error)]
pub enum InitialMessageError {
    #[error("Got unrecognized protocol version {0}")]
    Version(i64),
    #[error("Unreasonable buffer length: {0}")]
    Length(i32),
    #[error("Badly formed address: {0}")]
    Address(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// `NetUtils#formatInetAddr`: `host:port`, IPv6 literals bracketed.
pub fn format_addr(addr: &SocketAddr) -> String {
    match addr.ip() {
        IpAddr::V4(ip) => format!("{ip}:{}", addr.port()),
        IpAddr::V6(ip) => format!("[{ip}]:{}", addr.port()),
    }
}

/// The bytes a 3.8 server sends: V1 with the first address unless multi-address is on.
/// `addrs` are already `host:port` strings (hosts as configured, `NetUtils#formatInetAddr`).
pub fn encode(sid: i64, addrs: &[String], multi_address: bool) -> Vec<u8> {
    let (version, text) = if multi_address {
        (PROTOCOL_VERSION_V2, addrs.join("|"))
    } else {
        (
            PROTOCOL_VERSION_V1,
            addrs.first().cloned().unwrap_or_default(),
        )
    };
    let mut out = Vec::with_capacity(20 + text.len());
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(&sid.to_be_bytes());
    let len = i32::try_from(text.len()).unwrap_or(i32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(text.as_bytes());
    out
}

/// `ConfigUtils#getHostAndPort` for one `host:port` / `[v6]:port`.
fn host_port(s: &str) -> Option<(String, u16)> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, tail) = rest.split_once(']')?;
        (h, tail.strip_prefix(':')?)
    } else {
        let mut parts = s.split(':');
        let (h, p) = (parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        (h, p)
    };
    Some((host.to_owned(), port.parse().ok()?))
}

fn is_wildcard(host: &str) -> bool {
    host.parse::<IpAddr>().is_ok_and(|ip| ip.is_unspecified())
}

/// Reads one initial message from a fresh connection.
pub async fn read<R: AsyncRead + Unpin>(r: &mut R) -> Result<InitialMessage, InitialMessageError> {
    let first = r.read_i64().await?;
    if first >= 0 {
        return Ok(InitialMessage {
            sid: first,
            election_addrs: Vec::new(),
        });
    }
    if first != PROTOCOL_VERSION_V1 && first != PROTOCOL_VERSION_V2 {
        return Err(InitialMessageError::Version(first));
    }
    let sid = r.read_i64().await?;
    let len = r.read_i32().await?;
    if !(1..=MAX_ADDR_LEN).contains(&len) {
        return Err(InitialMessageError::Length(len));
    }
    let mut buf = vec![0u8; usize::try_from(len).unwrap_or(0)];
    r.read_exact(&mut buf).await?;
    let text = String::from_utf8_lossy(&buf);
    let mut election_addrs = Vec::new();
    // Java's String#split drops trailing empty pieces
    for piece in text.trim_end_matches('|').split('|') {
        let (host, port) =
            host_port(piece).ok_or_else(|| InitialMessageError::Address(piece.to_owned()))?;
        if !is_wildcard(&host) {
            election_addrs.push((host, port));
        }
    }
    Ok(InitialMessage {
        sid,
        election_addrs,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    async fn parse(bytes: &[u8]) -> Result<InitialMessage, InitialMessageError> {
        read(&mut &bytes[..]).await
    }

    #[tokio::test]
    async fn v1_round_trip_and_bytes() {
        let bytes = encode(3, &[format_addr(&"127.0.0.1:3888".parse().unwrap())], false);
        assert_eq!(&bytes[..8], &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0]);
        assert_eq!(&bytes[16..20], &[0, 0, 0, 14]);
        let m = parse(&bytes).await.unwrap();
        assert_eq!(m.sid, 3);
        assert_eq!(m.election_addrs, vec![("127.0.0.1".to_owned(), 3888)]);
    }

    #[tokio::test]
    async fn v2_multi_address_legacy_and_wildcards() {
        let a: SocketAddr = "[::1]:1".parse().unwrap();
        let b: SocketAddr = "0.0.0.0:2".parse().unwrap();
        let m = parse(&encode(7, &[format_addr(&a), format_addr(&b)], true))
            .await
            .unwrap();
        assert_eq!(
            m.election_addrs,
            vec![("::1".to_owned(), 1)],
            "wildcard dropped"
        );
        let legacy = parse(&5i64.to_be_bytes()).await.unwrap();
        assert_eq!(
            legacy,
            InitialMessage {
                sid: 5,
                election_addrs: vec![]
            }
        );
    }

    #[tokio::test]
    async fn rejects_bad_versions_lengths_and_addresses() {
        let mut bytes = encode(1, &["127.0.0.1:1".to_owned()], false);
        bytes[7] = 7;
        assert!(matches!(
            parse(&bytes).await,
            Err(InitialMessageError::Version(_))
        ));
        for len in [0i32, -1, 2049] {
            let mut b = PROTOCOL_VERSION_V1.to_be_bytes().to_vec();
            b.extend_from_slice(&1i64.to_be_bytes());
            b.extend_from_slice(&len.to_be_bytes());
            b.extend_from_slice(&[b'a'; 10]);
            assert!(matches!(
                parse(&b).await,
                Err(InitialMessageError::Length(_))
            ));
        }
        let mut b = PROTOCOL_VERSION_V1.to_be_bytes().to_vec();
        b.extend_from_slice(&1i64.to_be_bytes());
        b.extend_from_slice(&4i32.to_be_bytes());
        b.extend_from_slice(b"host");
        assert!(matches!(
            parse(&b).await,
            Err(InitialMessageError::Address(_))
        ));
        b.truncate(b.len() - 1);
        assert!(matches!(parse(&b).await, Err(InitialMessageError::Io(_))));
    }
}
