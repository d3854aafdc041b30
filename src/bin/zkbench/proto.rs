//! The client side of the ZooKeeper wire protocol, as much as a load generator needs
//! (`ClientCnxn` / `ClientCnxnSocketNIO` in the reference): the length-prefixed framing, the
//! session handshake, and encoding requests straight into a reusable write buffer; over plain
//! TCP or TLS ([`Endpoint`], `ClientCnxnSocketNetty` with `zookeeper.client.secure`).
//!
//! Invariants: every frame read is bounded by [`MAX_FRAME`]; nothing here panics on what the
//! server sends; replies on one connection come back in request order (the reference's
//! `FinalRequestProcessor` answers a session's requests FIFO), which [`Reply`] users rely on.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use ferrokeeper::jute::codes::{ErrorCode, OpCode};
use ferrokeeper::jute::proto::{ConnectRequest, ConnectResponse, ReplyHeader, RequestHeader};
use ferrokeeper::jute::{DecodeError, Jute};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::client::TlsStream;
use tokio_util::either::Either;

/// Bounds every frame read. Requests are capped by jute.maxbuffer (1 MiB), but replies are not:
/// a getChildren of a parent with 1M children is about 12 MiB (`zkbench children`), so the
/// bound only catches a broken stream.
pub(crate) const MAX_FRAME: usize = 64 << 20;
/// `xid` of watch notifications (`ClientCnxn#NOTIFICATION_XID`).
pub(crate) const NOTIFICATION_XID: i32 = -1;
/// `xid` of pings (`ClientCnxn#PING_XID`).
pub(crate) const PING_XID: i32 = -2;

#[derive(Debug, thiserror::Error)]
pub(crate) enum BenchError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("bad frame from server: {0}")]
    Decode(#[from] DecodeError),
    #[error("{0}")]
    Protocol(String),
    #[error("timed out: {0}")]
    Timeout(&'static str),
    #[error("tls: {0}")]
    Tls(String),
}

pub(crate) type Result<T> = std::result::Result<T, BenchError>;

/// Where the sessions connect, and whether over TLS.
#[derive(Clone, Debug)]
pub(crate) struct Endpoint {
    pub(crate) addr: SocketAddr,
    pub(crate) tls: Option<TlsTarget>,
}

/// The TLS side of an [`Endpoint`]: the client config (trust anchors, our certificate) and
/// the name the server's certificate must carry.
#[derive(Clone, Debug)]
pub(crate) struct TlsTarget {
    pub(crate) config: Arc<rustls::ClientConfig>,
    pub(crate) server_name: rustls_pki_types::ServerName<'static>,
}

/// A session's connection. Writes over TLS may stay in the TLS buffer until a flush, so
/// every writer flushes after writing (a no-op for plain TCP).
pub(crate) type Stream = Either<TcpStream, Box<TlsStream<TcpStream>>>;

/// An established session: the socket plus what the handshake told us.
pub(crate) struct Session {
    pub(crate) stream: Stream,
    /// Kept for debugging output; the load does not need it.
    #[allow(dead_code)]
    pub(crate) session_id: i64,
    #[allow(dead_code)]
    pub(crate) timeout_ms: i32,
    /// Bytes read past the handshake reply (the server may already have sent more).
    pub(crate) inbuf: BytesMut,
}

/// Open a connection (TCP, then TLS if `ep` says so) and create a new session (protocol
/// version 0, like the 3.8 client).
pub(crate) async fn connect(ep: &Endpoint, timeout_ms: i32, deadline: Duration) -> Result<Session> {
    connect_from(ep, None, timeout_ms, deadline).await
}

/// The `i`-th of `n` loopback source addresses (127.0.0.1, 127.0.0.2, ...): one source
/// address has only about 28k ephemeral ports towards one server port, so 100k sessions need
/// several (all of 127/8 is loopback on Linux).
pub(crate) fn loopback_source(i: usize, n: usize) -> Option<IpAddr> {
    if n <= 1 {
        return None;
    }
    let k = u8::try_from(i % n.min(254)).unwrap_or(0);
    Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, k + 1)))
}

/// [`connect`] from a given local address (`None`: the kernel's choice).
pub(crate) async fn connect_from(
    ep: &Endpoint,
    source: Option<IpAddr>,
    timeout_ms: i32,
    deadline: Duration,
) -> Result<Session> {
    let fut = async {
        let tcp = match source {
            None => TcpStream::connect(ep.addr).await?,
            Some(ip) => {
                let sock = if ip.is_ipv4() {
                    TcpSocket::new_v4()?
                } else {
                    TcpSocket::new_v6()?
                };
                sock.bind(SocketAddr::new(ip, 0))?;
                sock.connect(ep.addr).await?
            }
        };
        tcp.set_nodelay(true)?;
        let mut stream = match &ep.tls {
            None => Either::Left(tcp),
            Some(t) => {
                let connector = tokio_rustls::TlsConnector::from(t.config.clone());
                let tls = connector
                    .connect(t.server_name.clone(), tcp)
                    .await
                    .map_err(|e| BenchError::Tls(format!("handshake with {}: {e}", ep.addr)))?;
                Either::Right(Box::new(tls))
            }
        };
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            time_out: timeout_ms,
            session_id: 0,
            passwd: Bytes::from_static(&[0; 16]),
            read_only: Some(false),
        };
        let mut out = Vec::with_capacity(64);
        put_frame(&mut out, |b| req.encode(b));
        stream.write_all(&out).await?;
        stream.flush().await?;
        let mut inbuf = BytesMut::with_capacity(4096);
        let frame = loop {
            if let Some(f) = next_frame(&mut inbuf)? {
                break f;
            }
            if stream.read_buf(&mut inbuf).await? == 0 {
                return Err(BenchError::Protocol(
                    "server closed during handshake".into(),
                ));
            }
        };
        let resp = ConnectResponse::from_bytes(&frame)?;
        if resp.session_id == 0 || resp.time_out <= 0 {
            return Err(BenchError::Protocol("session refused by server".into()));
        }
        Ok(Session {
            stream,
            session_id: resp.session_id,
            timeout_ms: resp.time_out,
            inbuf,
        })
    };
    tokio::time::timeout(deadline, fut)
        .await
        .map_err(|_| BenchError::Timeout("connect"))?
}

/// Append `[len][payload]` to `out`, the payload written by `body`.
pub(crate) fn put_frame(out: &mut Vec<u8>, body: impl FnOnce(&mut Vec<u8>)) {
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    body(out);
    let len = i32::try_from(out.len() - at - 4).unwrap_or(i32::MAX);
    out[at..at + 4].copy_from_slice(&len.to_be_bytes());
}

/// Append one request frame: header then record.
pub(crate) fn put_request<R: Jute>(out: &mut Vec<u8>, xid: i32, op: OpCode, req: &R) {
    put_frame(out, |b| {
        RequestHeader { xid, op }.encode(b);
        req.encode(b);
    });
}

/// Append a request with no body (ping, closeSession).
pub(crate) fn put_bare(out: &mut Vec<u8>, xid: i32, op: OpCode) {
    put_frame(out, |b| RequestHeader { xid, op }.encode(b));
}

/// Split one complete frame off the front of `buf`, if there is one.
pub(crate) fn next_frame(buf: &mut BytesMut) -> Result<Option<BytesMut>> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    let len = usize::try_from(len)
        .ok()
        .filter(|l| *l <= MAX_FRAME)
        .ok_or_else(|| BenchError::Protocol(format!("frame length {len}")))?;
    if buf.len() < 4 + len {
        buf.reserve(4 + len - buf.len());
        return Ok(None);
    }
    buf.advance(4);
    Ok(Some(buf.split_to(len)))
}

/// A decoded reply header; the body stays in `body`.
pub(crate) struct Reply {
    pub(crate) xid: i32,
    #[allow(dead_code)]
    pub(crate) zxid: i64,
    pub(crate) err: ErrorCode,
    pub(crate) body: BytesMut,
}

pub(crate) fn parse_reply(mut frame: BytesMut) -> Result<Reply> {
    let h = ReplyHeader::from_bytes(&frame)?;
    // ReplyHeader is fixed-size: xid (4) + zxid (8) + err (4).
    frame.advance(16.min(frame.len()));
    Ok(Reply {
        xid: h.xid,
        zxid: h.zxid,
        err: h.err,
        body: frame,
    })
}

/// VmRSS of a process in KiB, from /proc/<pid>/status.
pub(crate) fn rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmRSS:")
}

/// RssAnon of a process in KiB: its resident memory less the file pages it maps (its
/// executable and libraries), which the page cache shares and can drop.
pub(crate) fn rss_anon_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "RssAnon:")
}

fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// `USER_HZ`: /proc reports CPU times in these ticks, 100 on every Linux ABI.
pub(crate) const TICKS_PER_SEC: f64 = 100.0;

/// utime + stime of all the processes, in ticks (from /proc/<pid>/stat); `None` if any is gone.
pub(crate) fn cpu_ticks(pids: &[u32]) -> Option<u64> {
    if pids.is_empty() {
        return None;
    }
    let mut total = 0;
    for pid in pids {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // the command name may hold spaces: fields count from after its closing ')'
        let rest = &stat[stat.rfind(')')? + 1..];
        let mut fields = rest.split_whitespace().skip(11);
        let utime: u64 = fields.next()?.parse().ok()?;
        let stime: u64 = fields.next()?.parse().ok()?;
        total += utime + stime;
    }
    Some(total)
}

/// A small, fast PRNG (xorshift64*): the load must not depend on a crate or cost much.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub(crate) fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `0..n` (n > 0); the modulo bias is irrelevant at benchmark sizes.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_round_trip() {
        let mut out = Vec::new();
        put_bare(&mut out, PING_XID, OpCode::PING);
        assert_eq!(out, [0, 0, 0, 8, 255, 255, 255, 254, 0, 0, 0, 11]);
        let mut buf = BytesMut::from(&out[..7]);
        assert!(next_frame(&mut buf).unwrap().is_none());
        buf.extend_from_slice(&out[7..]);
        let f = next_frame(&mut buf).unwrap().unwrap();
        assert_eq!(&f[..], &out[4..]);
        assert!(buf.is_empty());
    }

    #[test]
    fn loopback_sources_cycle() {
        assert_eq!(loopback_source(5, 1), None);
        assert_eq!(loopback_source(0, 4), Some("127.0.0.1".parse().unwrap()));
        assert_eq!(loopback_source(6, 4), Some("127.0.0.3".parse().unwrap()));
    }

    #[test]
    fn negative_length_is_an_error() {
        let mut buf = BytesMut::from(&[255u8, 255, 255, 255][..]);
        assert!(next_frame(&mut buf).is_err());
    }
}
