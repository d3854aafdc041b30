//! One client connection: the TLS handshake where the port asks for one, then the
//! four-letter-word sniff or the ZooKeeper handshake, then requests decoded for the core and
//! what the core queued encoded back. Written once over [`Transport`] (plaintext TCP or TLS).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::encode;
use super::listener::{ConnLimits, PerIpGuard};
use super::tls::{self, ClientTls};
use super::transport::Transport;
use crate::jute::codes::{ErrorCode, OpCode};
use crate::jute::data::Id;
use crate::jute::proto::{ConnectRequest, GetSaslRequest, SetSaslResponse};
use crate::jute::Jute;
use crate::pipeline::core::TlsOrigin;
use crate::pipeline::reply::Answer;
use crate::pipeline::{outbound_queue, ConnId, CoreMsg, CoreState, Outbound, OutboundRx};
use crate::request::Request;
use crate::sasl::server::ClientSasl;
use crate::sasl::SaslServer;

/// Recognises a four-letter word from the first four bytes of a connection and returns the
/// read-only job that renders its answer against the core's state. The flag says whether
/// the word came in on `secureClientPort` (`cons` and `stat` list that port's connections);
/// the address is the asking connection's, which 3.8 counts and lists among the connections.
pub type FourLetterHandler = Arc<
    dyn Fn([u8; 4], bool, SocketAddr) -> Option<Box<dyn FnOnce(&mut CoreState) -> String + Send>>
        + Send
        + Sync,
>;

/// Replies written with one syscall at most this far apart (bytes).
const WRITE_BATCH: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
enum FrameError {
    #[error("Len error {0}")]
    Length(i32),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Length-prefixed frames off the transport, buffering only while data is arriving.
#[derive(Default)]
struct FrameReader {
    buf: BytesMut,
}

impl FrameReader {
    /// Read until at least `n` bytes are buffered. Handshake and requests wait for bytes only
    /// through this poll function: its futures are what every idle connection's task holds,
    /// so their size is paid per session.
    fn poll_fill<T: Transport>(
        &mut self,
        cx: &mut Context<'_>,
        stream: &mut T,
        n: usize,
    ) -> Poll<Result<(), FrameError>> {
        while self.buf.len() < n {
            std::task::ready!(stream.poll_read_into(cx, &mut self.buf, n))?;
        }
        Poll::Ready(Ok(()))
    }

    /// The next frame's length prefix, not consumed (the four-letter-word sniff).
    async fn peek_len<T: Transport>(&mut self, stream: &mut T) -> Result<i32, FrameError> {
        std::future::poll_fn(|cx| self.poll_fill(cx, stream, 4)).await?;
        Ok(self.buffered_len().unwrap_or_default())
    }

    fn buffered_len(&self) -> Option<i32> {
        let b = self.buf.get(..4)?;
        Some(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A whole frame already buffered, taken out; `Ok(None)` when more bytes are needed.
    fn take_frame(&mut self, max: usize) -> Result<Option<Bytes>, FrameError> {
        let Some(len) = self.buffered_len() else {
            return Ok(None);
        };
        let size = usize::try_from(len).map_err(|_| FrameError::Length(len))?;
        if size > max {
            return Err(FrameError::Length(len));
        }
        if self.buf.len() < 4 + size {
            return Ok(None);
        }
        let _ = self.buf.split_to(4);
        let body = self.buf.split_to(size).freeze();
        if self.buf.is_empty() {
            // release the chunk once its frames are out (they keep their own part alive)
            self.buf = BytesMut::new();
        }
        Ok(Some(body))
    }

    /// The next frame.
    fn next_frame<'a, T: Transport>(
        &'a mut self,
        stream: &'a mut T,
        max: usize,
    ) -> impl Future<Output = Result<Bytes, FrameError>> + 'a {
        std::future::poll_fn(move |cx| loop {
            if let Some(frame) = self.take_frame(max)? {
                return Poll::Ready(Ok(frame));
            }
            let want = match self.buffered_len().map(usize::try_from) {
                Some(Ok(size)) => 4 + size,
                _ => 4,
            };
            std::task::ready!(self.poll_fill(cx, stream, want))?;
        })
    }
}

/// Where a connection came in, and what its port asks of it.
#[derive(Clone)]
pub(super) struct Port {
    /// `secureClientPort` (TLS only) or the client port with `client.portUnification`.
    pub(super) tls: Option<Arc<ClientTls>>,
    /// This is `secureClientPort`.
    pub(super) secure: bool,
}

/// A new connection's task: the TLS handshake when the port has TLS, then the
/// four-letter-word sniff or the ZooKeeper handshake. An established session then gets a
/// task of its own ([`Session::serve`]) and this one ends, so what 10,000 idle sessions hold
/// is only the small serving state, not the handshake's timers and messages as well.
#[allow(clippy::too_many_arguments)]
pub(super) async fn connection(
    stream: TcpStream,
    remote: SocketAddr,
    conn: ConnId,
    core: mpsc::Sender<CoreMsg>,
    limits: ConnLimits,
    four_letter: FourLetterHandler,
    shutdown: CancellationToken,
    guard: PerIpGuard,
    port: Port,
) {
    let _ = stream.set_nodelay(true);
    let hello = Hello {
        remote,
        conn,
        core,
        limits,
        four_letter,
        shutdown,
        guard,
        secure_port: port.secure,
    };
    match port.tls {
        None => hello.handshake(stream, None).await,
        // on the heap: rustls' state would otherwise make every plaintext connection's
        // handshake task larger too
        Some(tls) => Box::pin(tls_connection(stream, hello, tls, port.secure)).await,
    }
}

/// A connection on a port with TLS: detection (port unification), the TLS handshake, then
/// the ZooKeeper handshake over TLS, or over plaintext for a plaintext client.
async fn tls_connection(stream: TcpStream, hello: Hello, tls: Arc<ClientTls>, secure: bool) {
    let remote = hello.remote;
    match tls::accept(stream, remote, &tls, hello.limits.handshake_timeout).await {
        tls::Accepted::Plaintext(stream) => hello.handshake(stream, None).await,
        tls::Accepted::Tls(stream, auth) => {
            let origin = TlsOrigin {
                auth,
                secure_port: secure,
            };
            hello.handshake(*stream, Some(origin)).await;
        }
        tls::Accepted::Closed => {}
    }
}

/// What a connection's handshake needs besides its transport.
struct Hello {
    remote: SocketAddr,
    conn: ConnId,
    core: mpsc::Sender<CoreMsg>,
    limits: ConnLimits,
    four_letter: FourLetterHandler,
    shutdown: CancellationToken,
    guard: PerIpGuard,
    secure_port: bool,
}

impl Hello {
    /// The four-letter-word sniff, then the ConnectRequest, handed to the core with what the
    /// TLS handshake established (`tls`, None for plaintext); the session is then served in
    /// a task of its own.
    async fn handshake<T: Transport>(self, mut stream: T, tls: Option<TlsOrigin>) {
        let Hello {
            remote,
            conn,
            core,
            limits,
            four_letter,
            shutdown,
            guard,
            secure_port,
        } = self;
        let mut rd = FrameReader::default();
        let first = match tokio::time::timeout(limits.handshake_timeout, rd.peek_len(&mut stream))
            .await
        {
            Ok(Ok(first)) => first,
            Ok(Err(e)) => {
                tracing::debug!(client = %remote, error = %e, "connection closed before handshake");
                return;
            }
            Err(_) => {
                tracing::info!(client = %remote, "no handshake within the timeout; closing");
                return;
            }
        };
        if let Some(job) = four_letter(first.to_be_bytes(), secure_port, remote) {
            answer_four_letter(stream, &core, job).await;
            return;
        }
        let connect = match tokio::time::timeout(
            limits.handshake_timeout,
            rd.next_frame(&mut stream, limits.max_frame),
        )
        .await
        {
            Ok(Ok(body)) => ConnectRequest::from_bytes(&body),
            Ok(Err(e)) => {
                tracing::warn!(client = %remote, error = %e, "bad connect frame; closing");
                return;
            }
            Err(_) => return,
        };
        let req = match connect {
            Ok(req) => req,
            Err(e) => {
                tracing::warn!(client = %remote, error = %e, "malformed ConnectRequest; closing");
                return;
            }
        };
        let (out_tx, out_rx) = outbound_queue();
        let hello = CoreMsg::Connect {
            conn,
            remote,
            req,
            out: out_tx,
            tls: tls.map(Box::new),
        };
        if core.send(hello).await.is_err() {
            let _ = stream.shutdown().await;
            return;
        }
        let session = Session {
            conn,
            core,
            sasl: limits.sasl.clone().map(|login| {
                Box::new(SaslState {
                    login,
                    exchange: None,
                })
            }),
            max_frame: limits.max_frame,
            remote,
            stream,
            rd,
            out: out_rx,
            shutdown,
            established: false,
            _guard: guard,
        };
        tokio::spawn(session.serve());
    }
}

/// An established connection: one task reads requests and writes what the core queued
/// (a second task per connection cost every idle session its stack and bookkeeping).
struct Session<T> {
    conn: ConnId,
    core: mpsc::Sender<CoreMsg>,
    /// The server's SASL login and this connection's exchange; None without a login (the
    /// core then answers `sasl` packets). Boxed: most sessions never use it.
    sasl: Option<Box<SaslState>>,
    max_frame: usize,
    remote: SocketAddr,
    stream: T,
    rd: FrameReader,
    out: OutboundRx,
    shutdown: CancellationToken,
    /// The ConnectResponse went out. Until then nothing more is read: a client may send
    /// requests right behind its ConnectRequest (the Netty client sends its auth packets,
    /// setWatches and queued requests at once), and they belong to the session the core is
    /// still creating. 3.8 likewise stops reading (`disableRecv`) until `finishSessionInit`.
    established: bool,
    /// The connection's maxClientCnxns slot, given back when the session's task ends.
    _guard: PerIpGuard,
}

impl<T: Transport> Session<T> {
    /// Until the client or the core closes, or shutdown; then the core is told. (An async
    /// block, not an async fn taking `self`: that would hold the session twice.)
    #[allow(clippy::manual_async_fn)]
    fn serve(mut self) -> impl Future<Output = ()> + Send {
        async move {
            self.serve_frames().await;
            let _ = self.stream.shutdown().await;
            let gone = CoreMsg::Disconnected { conn: self.conn };
            if let Err(Some(msg)) = try_to_core(&self.core, gone) {
                wait_for_core(&self.core, msg).await;
            }
        }
    }

    /// Reading is cancel-safe (its state lives in `rd`), so whichever side is ready goes
    /// first; a batch of replies is written to the end before the next frame is read.
    async fn serve_frames(&mut self) {
        loop {
            // the select only says what is ready; the handlers below need the stream and the
            // queue the select's futures borrow, and they await only the rare boxed waits
            let ready = tokio::select! {
                biased;
                msg = self.out.recv() => Ready::Out(msg),
                _ = self.shutdown.cancelled() => return,
                frame = self.rd.next_frame(&mut self.stream, self.max_frame), if self.established => Ready::Frame(frame),
            };
            match ready {
                Ready::Out(None) => return,
                Ready::Out(Some(first)) => {
                    self.established |= matches!(first, Outbound::Connect(_));
                    let (bytes, close) = gather(&mut self.out, first);
                    match self.stream.write_now(bytes) {
                        Ok(None) => {}
                        Ok(Some(wait)) => {
                            if wait.await.is_err() {
                                return;
                            }
                        }
                        Err(_) => return,
                    }
                    if close {
                        return;
                    }
                }
                Ready::Frame(frame) => {
                    let msg = match self.packet(frame) {
                        Handled::Core(msg) => msg,
                        Handled::Close => return,
                        Handled::Sasl(outcome) => {
                            if !self.sasl_outcome(*outcome).await {
                                return;
                            }
                            continue;
                        }
                    };
                    match try_to_core(&self.core, msg) {
                        Ok(()) => {}
                        Err(Some(msg)) => {
                            if !wait_for_core(&self.core, msg).await {
                                return;
                            }
                        }
                        Err(None) => return,
                    }
                }
            }
        }
    }

    /// What one frame asks for: a message for the core, a SASL step answered here, or the
    /// end of the connection.
    fn packet(&mut self, frame: Result<Bytes, FrameError>) -> Handled {
        let frame = match frame {
            Ok(f) => f,
            Err(FrameError::Io(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Handled::Close
            }
            Err(e) => {
                tracing::warn!(client = %self.remote, error = %e, "bad frame; closing connection");
                return Handled::Close;
            }
        };
        if frame.len() < 8 {
            tracing::warn!(client = %self.remote, len = frame.len(), "frame shorter than a RequestHeader; closing");
            return Handled::Close;
        }
        let xid = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
        let op = OpCode(i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]));
        let body = frame.slice(8..);
        if op == OpCode::SASL {
            let token = match sasl_token(&body) {
                Ok(t) => t,
                Err(why) => {
                    tracing::warn!(client = %self.remote, "{why}; closing connection");
                    return Handled::Close;
                }
            };
            if let Some(sasl) = self.sasl.as_deref_mut() {
                return Handled::Sasl(Box::new(sasl.step(self.conn, self.remote, xid, &token)));
            }
        }
        // decoded here, off the core; an unknown opcode (None) is the core's to answer
        let req = match Request::decode(op, &body) {
            Ok(req) => req.map(Box::new),
            Err(e) => {
                tracing::warn!(client = %self.remote, op = op.0, error = %e, "malformed request record");
                Some(Box::new(Request::Malformed(op)))
            }
        };
        Handled::Core(CoreMsg::Packet {
            conn: self.conn,
            xid,
            op,
            req,
            body,
            received: tokio::time::Instant::now(),
        })
    }

    /// A SASL step's ids go to the core (ahead of any later packet), then its reply out;
    /// false when the connection ends. On the heap, as [`wait_for_core`]: inline, this rare
    /// future would be the largest part of every idle connection's task.
    fn sasl_outcome(
        &mut self,
        outcome: SaslOutcome,
    ) -> Pin<Box<dyn Future<Output = bool> + Send + '_>> {
        Box::pin(async move {
            if let Some(ids) = outcome.ids {
                let msg = CoreMsg::Authenticated {
                    conn: self.conn,
                    ids,
                };
                match try_to_core(&self.core, msg) {
                    Ok(()) => {}
                    Err(Some(msg)) => {
                        if !wait_for_core(&self.core, msg).await {
                            return false;
                        }
                    }
                    Err(None) => return false,
                }
            }
            let mut buf = Vec::new();
            encode::encode(&outcome.reply, &mut buf);
            match self.stream.write_now(Bytes::from(buf)) {
                Ok(None) => {}
                Ok(Some(wait)) => {
                    if wait.await.is_err() {
                        return false;
                    }
                }
                Err(_) => return false,
            }
            !outcome.close
        })
    }
}

/// What a frame asks of its connection.
enum Handled {
    Core(CoreMsg),
    /// A `sasl` packet, answered by the connection itself.
    Sasl(Box<SaslOutcome>),
    Close,
}

/// The server's SASL login and one connection's exchange with it.
struct SaslState {
    login: Arc<ClientSasl>,
    /// Created by the first `sasl` packet (3.8 creates it with the connection).
    exchange: Option<Box<dyn SaslServer>>,
}

/// One `sasl` packet's answer: `SetSASLResponse` behind ReplyHeader{xid, 0, err}, the ids a
/// completed exchange adds, and whether the connection then closes.
struct SaslOutcome {
    reply: Outbound,
    ids: Option<Vec<Id>>,
    close: bool,
}

impl SaslState {
    /// `ZooKeeperServer#processSasl` for one token, on the connection's task as 3.8 runs it
    /// on its I/O thread (a GSSAPI step reads the keytab; a DIGEST-MD5 step only hashes).
    fn step(&mut self, conn: ConnId, remote: SocketAddr, xid: i32, token: &[u8]) -> SaslOutcome {
        let login = &self.login;
        let exchange = self.exchange.get_or_insert_with(|| login.new_server());
        let reply = |err: ErrorCode, token: Option<Vec<u8>>| {
            let body = SetSaslResponse {
                token: token.map(Bytes::from),
            };
            Outbound::reply(
                xid,
                0,
                Answer {
                    err,
                    body: Some(body.into()),
                },
            )
        };
        match exchange.evaluate_response(token) {
            Ok(challenge) => {
                let ids = match (exchange.is_complete(), exchange.authorization_id()) {
                    (true, Some(id)) => {
                        let mut ids = vec![Id::new("sasl", id)];
                        if login.is_super_user(id) {
                            ids.push(Id::new("super", ""));
                        }
                        Some(ids)
                    }
                    _ => None,
                };
                // a mechanism's last empty challenge (GSSAPI's) is Java's null token
                let last = exchange.is_complete() && challenge.is_empty();
                SaslOutcome {
                    reply: reply(ErrorCode::OK, (!last).then_some(challenge)),
                    ids,
                    close: false,
                }
            }
            Err(e) if login.allow_failed_clients && !login.sasl_required => {
                tracing::warn!(
                    conn,
                    principal = exchange.claimed_id().unwrap_or("unknown"),
                    "Client /{remote} failed to SASL authenticate: {e}; maintaining the \
                     connection (allowSaslFailedClients)"
                );
                SaslOutcome {
                    reply: reply(ErrorCode::OK, None),
                    ids: None,
                    close: false,
                }
            }
            Err(e) => {
                // sendCloseSession: the connection closes, the session lives on until it
                // expires; the client sees AuthFailed (or SessionClosedRequireSaslAuth)
                let err = if login.sasl_required {
                    ErrorCode::SESSION_CLOSED_REQUIRE_SASL_AUTH
                } else {
                    ErrorCode::AUTH_FAILED
                };
                tracing::warn!(
                    conn,
                    principal = exchange.claimed_id().unwrap_or("unknown"),
                    "Client /{remote} failed to SASL authenticate: {e}; closing the connection"
                );
                SaslOutcome {
                    reply: reply(err, None),
                    ids: None,
                    close: true,
                }
            }
        }
    }
}

/// A `sasl` packet's token, or why the connection ends without a reply. 3.8's
/// `processSasl` reads the record and the token's length before it looks for a SASL server,
/// so with or without a login a malformed record (`byteBuffer2Record` throws) and a null
/// token (a NullPointerException) close the connection; the session lives on.
fn sasl_token(body: &[u8]) -> Result<Bytes, String> {
    match GetSaslRequest::from_bytes(body) {
        Ok(GetSaslRequest { token: Some(t) }) => Ok(t),
        Ok(GetSaslRequest { token: None }) => Err("SASL packet with a null token".into()),
        Err(e) => Err(format!("malformed SASL packet: {e}")),
    }
}

/// What woke an established connection.
enum Ready {
    Out(Option<Outbound>),
    Frame(Result<Bytes, FrameError>),
}

/// `first` and whatever else is queued (up to [`WRITE_BATCH`] bytes) encoded into one
/// buffer, and whether a Close was among them (everything before it is still written).
fn gather(out: &mut OutboundRx, first: Outbound) -> (Bytes, bool) {
    if matches!(first, Outbound::Close) {
        return (Bytes::new(), true);
    }
    let mut buf = Vec::with_capacity(encode::size_hint(&first));
    let mut next = Some(first);
    while let Some(msg) = next.take() {
        if matches!(msg, Outbound::Close) {
            return (Bytes::from(buf), true);
        }
        encode::encode(&msg, &mut buf);
        if buf.len() < WRITE_BATCH {
            next = out.try_recv();
        }
    }
    (Bytes::from(buf), false)
}

/// Hand `msg` to the core: `Err(Some(msg))` when its queue is full (globalOutstandingLimit)
/// and the caller must wait with [`wait_for_core`], `Err(None)` once the core is gone.
fn try_to_core(core: &mpsc::Sender<CoreMsg>, msg: CoreMsg) -> Result<(), Option<CoreMsg>> {
    match core.try_send(msg) {
        Ok(()) => Ok(()),
        Err(TrySendError::Full(msg)) => Err(Some(msg)),
        Err(TrySendError::Closed(_)) => Err(None),
    }
}

/// The rare wait for room in the core's queue, on the heap: inline, its future would be the
/// largest part of every idle connection's task.
fn wait_for_core(
    core: &mpsc::Sender<CoreMsg>,
    msg: CoreMsg,
) -> Pin<Box<dyn Future<Output = bool> + Send + '_>> {
    Box::pin(async move { core.send(msg).await.is_ok() })
}

async fn answer_four_letter<W: AsyncWrite + Unpin>(
    mut wr: W,
    core: &mpsc::Sender<CoreMsg>,
    job: Box<dyn FnOnce(&mut CoreState) -> String + Send>,
) {
    let (tx, rx) = oneshot::channel();
    if core
        .send(CoreMsg::Inspect { f: job, reply: tx })
        .await
        .is_err()
    {
        return;
    }
    if let Ok(text) = rx.await {
        let _ = wr.write_all(text.as_bytes()).await;
    }
    let _ = wr.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jute::codes::{ErrorCode, KeeperState};
    use crate::jute::proto::WatcherEvent;

    /// What is queued goes out in queue order, in one buffer, up to a Close.
    #[test]
    fn gather_encodes_the_queue_in_order_up_to_a_close() {
        let (tx, mut rx) = outbound_queue();
        let before_close = [
            Outbound::header(1, 5, ErrorCode::OK),
            Outbound::Notification(WatcherEvent {
                event_type: 3,
                state: KeeperState::SYNC_CONNECTED.0,
                path: "/a".into(),
            }),
            Outbound::header(2, 6, ErrorCode::NO_NODE),
        ];
        for msg in before_close.iter().cloned() {
            tx.send(msg).unwrap();
        }
        tx.send(Outbound::Close).unwrap();
        tx.send(Outbound::header(3, 7, ErrorCode::OK)).unwrap();
        let first = rx.try_recv().unwrap();
        let (bytes, close) = gather(&mut rx, first);
        let mut want = Vec::new();
        for msg in &before_close {
            encode::encode(msg, &mut want);
        }
        assert_eq!(&bytes[..], &want[..]);
        assert!(close);
    }

    #[test]
    fn sasl_tokens_and_the_packets_that_end_the_connection() {
        let buffer = |len: i32, rest: &[u8]| [&len.to_be_bytes()[..], rest].concat();
        assert_eq!(sasl_token(&buffer(0, b"")).unwrap(), Bytes::new());
        // bytes after the record are ignored, as `byteBuffer2Record` ignores them
        assert_eq!(sasl_token(&buffer(3, b"abcd")).unwrap(), &b"abc"[..]);
        assert!(sasl_token(&buffer(-1, b""))
            .unwrap_err()
            .contains("null token"));
        for bad in [buffer(50, b"abc"), buffer(-7, b""), vec![0, 0]] {
            assert!(
                sasl_token(&bad).unwrap_err().contains("malformed"),
                "{bad:?}"
            );
        }
    }

    /// An idle connection's task is this future: its size is paid per session, so what a
    /// rare path (a SASL step, a full core queue, a full socket) keeps across an await must
    /// stay boxed.
    #[tokio::test]
    async fn an_idle_sessions_task_stays_small() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let _client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (stream, remote) = listener.accept().await.unwrap();
        let (core, _core_rx) = mpsc::channel(1);
        let (_out_tx, out) = outbound_queue();
        let session = Session {
            conn: 1,
            core,
            sasl: None,
            max_frame: 1 << 20,
            remote,
            stream,
            rd: FrameReader::default(),
            out,
            shutdown: CancellationToken::new(),
            established: true,
            _guard: super::super::listener::PerIp::default()
                .acquire(remote.ip(), 0)
                .unwrap(),
        };
        let task = session.serve();
        let size = std::mem::size_of_val(&task);
        // tokio keeps a task in a 128-byte-aligned cell with 104 bytes of its own: up to 536
        // bytes of future the cell is 640 bytes, above that 768
        assert!(size <= 536, "an idle session's task holds {size} bytes");
    }

    #[test]
    fn a_lone_close_writes_nothing() {
        let (_tx, mut rx) = outbound_queue();
        assert_eq!(gather(&mut rx, Outbound::Close), (Bytes::new(), true));
    }
}
