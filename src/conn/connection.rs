//! One client connection: handshake, then requests decoded for the core and what the core
//! queued encoded back.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::encode;
use super::listener::{ConnLimits, PerIpGuard};
use crate::jute::codes::OpCode;
use crate::jute::proto::ConnectRequest;
use crate::jute::Jute;
use crate::pipeline::{outbound_queue, ConnId, CoreMsg, CoreState, Outbound, OutboundRx};
use crate::request::Request;

/// Recognises a four-letter word from the first four bytes of a connection and returns the
/// read-only job that renders its answer against the core's state.
pub type FourLetterHandler =
    Arc<dyn Fn([u8; 4]) -> Option<Box<dyn FnOnce(&mut CoreState) -> String + Send>> + Send + Sync>;

/// How much a connection reads at a time. The buffer exists only while bytes are being
/// read or parsed: an idle connection holds none (`NIOServerCnxn` likewise keeps only its
/// 4-byte length buffer between requests), so 10,000 idle sessions cost little.
const READ_CHUNK: usize = 16 * 1024;
/// Replies written with one syscall at most this far apart (bytes).
const WRITE_BATCH: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
enum FrameError {
    #[error("Len error {0}")]
    Length(i32),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Length-prefixed frames off the socket, buffering only while data is arriving.
#[derive(Default)]
struct FrameReader {
    buf: BytesMut,
}

impl FrameReader {
    /// Read until at least `n` bytes are buffered. Handshake and requests wait for bytes only
    /// through this poll function: its futures are what every idle connection's task holds,
    /// so their size is paid per session (tokio's `readable()` is a chain of some 200 bytes).
    fn poll_fill(
        &mut self,
        cx: &mut Context<'_>,
        stream: &TcpStream,
        n: usize,
    ) -> Poll<Result<(), FrameError>> {
        while self.buf.len() < n {
            std::task::ready!(stream.poll_read_ready(cx))?;
            self.read_ready(stream, n)?;
        }
        Poll::Ready(Ok(()))
    }

    /// Read what the socket has, towards `n` buffered bytes; the buffer is allocated only
    /// now that data is there, and given back if there was none after all.
    fn read_ready(&mut self, stream: &TcpStream, n: usize) -> Result<(), FrameError> {
        self.buf
            .reserve(READ_CHUNK.max(n.saturating_sub(self.buf.len())));
        match stream.try_read_buf(&mut self.buf) {
            Ok(0) => Err(eof()),
            Ok(_) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if self.buf.is_empty() {
                    self.buf = BytesMut::new();
                }
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The next frame's length prefix, not consumed (the four-letter-word sniff).
    async fn peek_len(&mut self, stream: &TcpStream) -> Result<i32, FrameError> {
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
    fn next_frame<'a>(
        &'a mut self,
        stream: &'a TcpStream,
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

fn eof() -> FrameError {
    FrameError::Io(std::io::ErrorKind::UnexpectedEof.into())
}

/// A new connection's task: the four-letter-word sniff or the handshake. An established
/// session then gets a task of its own ([`Session::serve`]) and this one ends, so what
/// 10,000 idle sessions hold is only the small serving state, not the handshake's timers
/// and messages as well.
#[allow(clippy::too_many_arguments)]
pub(super) async fn connection(
    mut stream: TcpStream,
    remote: SocketAddr,
    conn: ConnId,
    core: mpsc::Sender<CoreMsg>,
    limits: ConnLimits,
    four_letter: FourLetterHandler,
    shutdown: CancellationToken,
    guard: PerIpGuard,
) {
    let _ = stream.set_nodelay(true);
    let mut rd = FrameReader::default();
    let first = match tokio::time::timeout(limits.handshake_timeout, rd.peek_len(&stream)).await {
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
    if let Some(job) = four_letter(first.to_be_bytes()) {
        answer_four_letter(stream, &core, job).await;
        return;
    }
    let connect = match tokio::time::timeout(
        limits.handshake_timeout,
        rd.next_frame(&stream, limits.max_frame),
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
    };
    if core.send(hello).await.is_err() {
        let _ = stream.shutdown().await;
        return;
    }
    let session = Session {
        conn,
        core,
        max_frame: limits.max_frame,
        remote,
        stream,
        rd,
        out: out_rx,
        shutdown,
        _guard: guard,
    };
    tokio::spawn(session.serve());
}

/// An established connection: one task reads requests and writes what the core queued
/// (a second task per connection cost every idle session its stack and bookkeeping).
struct Session {
    conn: ConnId,
    core: mpsc::Sender<CoreMsg>,
    max_frame: usize,
    remote: SocketAddr,
    stream: TcpStream,
    rd: FrameReader,
    out: OutboundRx,
    shutdown: CancellationToken,
    /// The connection's maxClientCnxns slot, given back when the session's task ends.
    _guard: PerIpGuard,
}

impl Session {
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
                frame = self.rd.next_frame(&self.stream, self.max_frame) => Ready::Frame(frame),
            };
            match ready {
                Ready::Out(None) => return,
                Ready::Out(Some(first)) => {
                    let (bytes, close) = gather(&mut self.out, first);
                    match write_now(&mut self.stream, bytes) {
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
                    let Some(msg) = self.packet(frame) else {
                        return;
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

    /// The core's message for one frame; None when the connection must end.
    fn packet(&self, frame: Result<Bytes, FrameError>) -> Option<CoreMsg> {
        let frame = match frame {
            Ok(f) => f,
            Err(FrameError::Io(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => return None,
            Err(e) => {
                tracing::warn!(client = %self.remote, error = %e, "bad frame; closing connection");
                return None;
            }
        };
        if frame.len() < 8 {
            tracing::warn!(client = %self.remote, len = frame.len(), "frame shorter than a RequestHeader; closing");
            return None;
        }
        let xid = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
        let op = OpCode(i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]));
        let body = frame.slice(8..);
        // decoded here, off the core; an unknown opcode (None) is the core's to answer
        let req = match Request::decode(op, &body) {
            Ok(req) => req.map(Box::new),
            Err(e) => {
                tracing::warn!(client = %self.remote, op = op.0, error = %e, "malformed request record");
                Some(Box::new(Request::Malformed(op)))
            }
        };
        Some(CoreMsg::Packet {
            conn: self.conn,
            xid,
            op,
            req,
            body,
            received: tokio::time::Instant::now(),
        })
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

/// The rest of a write that has to wait for room in the socket.
type WriteWait<'a> = Pin<Box<dyn Future<Output = std::io::Result<()>> + Send + 'a>>;

/// Write `bytes` now as far as the socket takes them; the socket nearly always takes them
/// all. Only waiting for room is a future, kept on the heap while it waits, so that an idle
/// connection's task stays small.
fn write_now(stream: &mut TcpStream, bytes: Bytes) -> std::io::Result<Option<WriteWait<'_>>> {
    let written = match stream.try_write(&bytes) {
        Ok(n) => n,
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => 0,
        Err(e) => return Err(e),
    };
    if written >= bytes.len() {
        return Ok(None);
    }
    let rest = bytes.slice(written..);
    Ok(Some(Box::pin(async move { stream.write_all(&rest).await })))
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

async fn answer_four_letter(
    mut wr: TcpStream,
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
    fn a_lone_close_writes_nothing() {
        let (_tx, mut rx) = outbound_queue();
        assert_eq!(gather(&mut rx, Outbound::Close), (Bytes::new(), true));
    }
}
