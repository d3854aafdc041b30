//! A minimal ZooKeeper client for integration tests: raw frames over TCP, built on the
//! crate's Jute codec, against an in-process server on 127.0.0.1:0. Every wait is bounded.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use ferrokeeper::jute::codes::{ErrorCode, OpCode};
use ferrokeeper::jute::proto::{ConnectRequest, ConnectResponse, ReplyHeader, WatcherEvent};
use ferrokeeper::jute::Jute;
use ferrokeeper::server::RunningServer;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

pub mod kdc;
pub mod pki;
pub mod realzk;
pub mod reconfig;

pub const WAIT: Duration = Duration::from_secs(10);

/// A fresh data directory for one test.
pub fn temp_data_dir() -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "ferrokeeper-test-{}-{}",
        std::process::id(),
        rand_suffix()
    ))
}

/// Start a standalone server from zoo.cfg text (clientPort is forced to 0).
pub async fn start_server(extra_cfg: &str) -> RunningServer {
    start_server_in(&temp_data_dir(), extra_cfg).await
}

/// Start a standalone server on `dir` (which may hold an earlier run's data).
pub async fn start_server_in(dir: &Path, extra_cfg: &str) -> RunningServer {
    // the AdminServer defaults to 0.0.0.0:8080, which parallel tests cannot share
    let text = format!(
        "tickTime=200\ndataDir={}\nadmin.serverAddress=127.0.0.1\nadmin.serverPort=0\n{extra_cfg}\n",
        dir.display()
    );
    let mut cfg = ferrokeeper::config::parse(&text, Path::new("zoo.cfg")).expect("test config");
    // like the reference, zoo.cfg treats clientPort=0 as unset; tests want an ephemeral port
    cfg.client_port = Some(0);
    cfg.client_port_address = Some(std::net::Ipv4Addr::LOCALHOST.into());
    ferrokeeper::server::start(cfg)
        .await
        .expect("server starts")
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// A reply: header plus raw body bytes.
#[derive(Debug)]
pub struct Reply {
    pub header: ReplyHeader,
    pub body: Bytes,
}

impl Reply {
    pub fn err(&self) -> ErrorCode {
        self.header.err
    }
    pub fn decode<T: Jute>(&self) -> T {
        T::from_bytes(&self.body).expect("reply body decodes")
    }
}

/// A session over plaintext TCP, or over any other byte stream (TLS).
pub struct Client<S = TcpStream> {
    pub stream: S,
    pub session_id: i64,
    pub passwd: Bytes,
    pub timeout: i32,
    xid: i32,
    pub events: VecDeque<WatcherEvent>,
    pub last_zxid: i64,
}

pub async fn read_frame<S: AsyncRead + Unpin>(stream: &mut S) -> Option<Bytes> {
    let len = tokio::time::timeout(WAIT, stream.read_i32())
        .await
        .ok()?
        .ok()?;
    let mut buf = vec![0u8; usize::try_from(len).ok()?];
    tokio::time::timeout(WAIT, stream.read_exact(&mut buf))
        .await
        .ok()?
        .ok()?;
    Some(Bytes::from(buf))
}

pub fn frame(body: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(body.len() + 4);
    v.put_i32(body.len() as i32);
    v.extend_from_slice(body);
    v
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        Self::connect_with(addr, 0, Bytes::from_static(&[0; 16]), 30000, 0)
            .await
            .expect("session established")
    }

    /// Handshake; `None` if the server refused (closed or answered session id 0).
    pub async fn connect_with(
        addr: SocketAddr,
        session_id: i64,
        passwd: Bytes,
        timeout: i32,
        last_zxid: i64,
    ) -> Option<Client> {
        let stream = TcpStream::connect(addr).await.ok()?;
        Client::handshake(stream, session_id, passwd, timeout, last_zxid).await
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    /// The ZooKeeper handshake over an open stream; `None` if the server refused.
    pub async fn handshake(
        stream: S,
        session_id: i64,
        passwd: Bytes,
        timeout: i32,
        last_zxid: i64,
    ) -> Option<Client<S>> {
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: last_zxid,
            time_out: timeout,
            session_id,
            passwd,
            read_only: Some(false),
        };
        Self::handshake_request(stream, req)
            .await
            .map(|(client, _)| client)
    }

    /// Sends `req`; the session and the server's readOnly flag, `None` if the server refused
    /// (closed, answered session id 0, or answered something that is no ConnectResponse).
    pub async fn handshake_request(
        mut stream: S,
        req: ConnectRequest,
    ) -> Option<(Client<S>, Option<bool>)> {
        let last_zxid = req.last_zxid_seen;
        stream.write_all(&frame(&req.to_vec())).await.ok()?;
        let rsp = ConnectResponse::from_bytes(&read_frame(&mut stream).await?).ok()?;
        if rsp.session_id == 0 {
            return None;
        }
        let read_only = rsp.read_only;
        Some((
            Client {
                stream,
                session_id: rsp.session_id,
                passwd: rsp.passwd,
                timeout: rsp.time_out,
                xid: 0,
                events: VecDeque::new(),
                last_zxid,
            },
            read_only,
        ))
    }

    pub async fn send(&mut self, op: OpCode, body: &impl Jute) -> i32 {
        self.xid += 1;
        let xid = self.xid;
        self.send_xid(xid, op, &body.to_vec()).await;
        xid
    }

    pub async fn send_xid(&mut self, xid: i32, op: OpCode, body: &[u8]) {
        let mut buf = BytesMut::new();
        buf.put_i32(xid);
        buf.put_i32(op.0);
        buf.extend_from_slice(body);
        self.stream
            .write_all(&frame(&buf))
            .await
            .expect("request written");
    }

    /// The next reply that is not a notification; notifications are queued in `events`.
    pub async fn recv(&mut self) -> Option<Reply> {
        loop {
            let f = read_frame(&mut self.stream).await?;
            let (rest, header) = ReplyHeader::decode(&f).ok()?;
            let body = f.slice(f.len() - rest.len()..);
            if header.xid == -1 {
                self.events.push_back(WatcherEvent::from_bytes(&body).ok()?);
                continue;
            }
            if header.zxid > 0 {
                self.last_zxid = header.zxid;
            }
            return Some(Reply { header, body });
        }
    }

    /// Request/response.
    pub async fn call(&mut self, op: OpCode, body: &impl Jute) -> Reply {
        let xid = self.send(op, body).await;
        let reply = self.recv().await.expect("reply");
        assert_eq!(reply.header.xid, xid, "replies come in request order");
        reply
    }

    pub async fn call_empty(&mut self, op: OpCode) -> Reply {
        self.xid += 1;
        let xid = self.xid;
        self.send_xid(xid, op, &[]).await;
        self.recv().await.expect("reply")
    }

    /// Wait (bounded) for the next watch event.
    pub async fn next_event(&mut self) -> Option<WatcherEvent> {
        if let Some(e) = self.events.pop_front() {
            return Some(e);
        }
        let f = read_frame(&mut self.stream).await?;
        let (rest, header) = ReplyHeader::decode(&f).ok()?;
        assert_eq!(header.xid, -1, "expected a notification");
        assert_eq!(header.zxid, -1, "3.8 notifications carry zxid -1");
        WatcherEvent::from_bytes(rest).ok()
    }

    /// True once the server has closed the connection (bounded wait).
    pub async fn is_closed(&mut self) -> bool {
        let mut buf = [0u8; 256];
        loop {
            match tokio::time::timeout(WAIT, self.stream.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => continue,
                Err(_) => return false,
            }
        }
    }

    pub async fn close_session(&mut self) -> Reply {
        self.call_empty(OpCode::CLOSE_SESSION).await
    }
}

/// A persistent create of `path` whose ACL is one entry: `perms` for `scheme`:`id`.
pub fn create_with_acl(
    path: &str,
    data: &[u8],
    perms: i32,
    scheme: &str,
    id: &str,
) -> ferrokeeper::jute::proto::CreateRequest {
    ferrokeeper::jute::proto::CreateRequest {
        acl: Some(vec![ferrokeeper::jute::data::Acl::new(perms, scheme, id)]),
        ..create(path, data, 0)
    }
}

/// A create of `path` with world:anyone ACL.
pub fn create(path: &str, data: &[u8], flags: i32) -> ferrokeeper::jute::proto::CreateRequest {
    ferrokeeper::jute::proto::CreateRequest {
        path: path.into(),
        data: Some(Bytes::copy_from_slice(data)),
        acl: Some(ferrokeeper::jute::data::Acl::open_unsafe()),
        flags,
    }
}

pub async fn exists(c: &mut Client, path: &str) -> bool {
    let req = ferrokeeper::jute::proto::ExistsRequest {
        path: path.into(),
        watch: false,
    };
    c.call(OpCode::EXISTS, &req).await.err() == ErrorCode::OK
}

/// A loopback port nothing is bound to right now and never handed out before in this test
/// binary (for servers started by port number). It is taken below the kernel's ephemeral
/// range where there is room, so that no client connection's local port (a real node's, a
/// kazoo's) can take it before the server binds it.
pub fn free_port() -> u16 {
    if let Some((low, high)) = below_ephemeral() {
        let span = u32::from(high - low);
        for _ in 0..span {
            let next = NEXT_FIXED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let offset = (std::process::id().wrapping_mul(7919).wrapping_add(next)) % span;
            let port = low + offset as u16;
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() && note_handed_out(port) {
                return port;
            }
        }
    }
    let mut held = Vec::new();
    for _ in 0..100 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        let port = l.local_addr().expect("a bound port").port();
        held.push(l);
        if note_handed_out(port) {
            return port;
        }
    }
    panic!("no fresh port in 100 tries");
}

static NEXT_FIXED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Ports from 10000 up to the start of `ip_local_port_range`, when at least 4096 of them.
fn below_ephemeral() -> Option<(u16, u16)> {
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let start: u16 = range.split_whitespace().next()?.parse().ok()?;
    (start >= 10_000 + 4096).then_some((10_000, start))
}

/// Ports handed out by this test binary: a port freed after a bind may come back from a
/// later one, so two nodes of one ensemble (or two tests side by side) could share one.
static HANDED_OUT: std::sync::Mutex<Option<std::collections::HashSet<u16>>> =
    std::sync::Mutex::new(None);

/// Record `port` as handed out; false if it already was.
pub fn note_handed_out(port: u16) -> bool {
    HANDED_OUT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get_or_insert_with(std::collections::HashSet::new)
        .insert(port)
}

/// Connect once the server at `addr` accepts sessions (bounded wait).
pub async fn connect_when_up(addr: SocketAddr) -> Client {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(c) =
            Client::connect_with(addr, 0, Bytes::from_static(&[0; 16]), 10_000, 0).await
        {
            return c;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "server did not come up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `srvr`'s `Mode:` value (leader, follower, observer, standalone, read-only), or None while
/// the server does not answer it.
pub async fn srvr_mode(addr: SocketAddr) -> Option<String> {
    let mut s = TcpStream::connect(addr).await.ok()?;
    s.write_all(b"srvr").await.ok()?;
    let mut out = String::new();
    tokio::time::timeout(Duration::from_secs(2), s.read_to_string(&mut out))
        .await
        .ok()?
        .ok()?;
    out.lines()
        .find_map(|l| l.strip_prefix("Mode: "))
        .map(str::to_owned)
}
