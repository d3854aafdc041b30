//! One client connection: handshake, then frames to the core and queued replies back.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::listener::ConnLimits;
use crate::jute::codes::OpCode;
use crate::jute::proto::ConnectRequest;
use crate::jute::Jute;
use crate::pipeline::{outbound_queue, ConnId, CoreMsg, CoreState, Outbound, OutboundRx};

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
struct FrameReader {
    rd: OwnedReadHalf,
    buf: BytesMut,
}

impl FrameReader {
    fn new(rd: OwnedReadHalf) -> Self {
        FrameReader {
            rd,
            buf: BytesMut::new(),
        }
    }

    /// Read until at least `n` bytes are buffered.
    async fn fill(&mut self, n: usize) -> Result<(), FrameError> {
        while self.buf.len() < n {
            if self.buf.is_empty() {
                // wait for data without holding a buffer, then read what is there
                self.rd.readable().await?;
                self.buf.reserve(READ_CHUNK.max(n));
                match self.rd.try_read_buf(&mut self.buf) {
                    Ok(0) => return Err(eof()),
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        self.buf = BytesMut::new();
                    }
                    Err(e) => return Err(e.into()),
                }
            } else {
                self.buf.reserve(READ_CHUNK.max(n - self.buf.len()));
                if self.rd.read_buf(&mut self.buf).await? == 0 {
                    return Err(eof());
                }
            }
        }
        Ok(())
    }

    /// The next frame's length prefix, not consumed (the four-letter-word sniff).
    async fn peek_len(&mut self) -> Result<i32, FrameError> {
        self.fill(4).await?;
        Ok(i32::from_be_bytes([
            self.buf[0],
            self.buf[1],
            self.buf[2],
            self.buf[3],
        ]))
    }

    async fn next_frame(&mut self, max: usize) -> Result<Bytes, FrameError> {
        let len = self.peek_len().await?;
        let size = usize::try_from(len).map_err(|_| FrameError::Length(len))?;
        if size > max {
            return Err(FrameError::Length(len));
        }
        self.fill(4 + size).await?;
        let _ = self.buf.split_to(4);
        let body = self.buf.split_to(size).freeze();
        if self.buf.is_empty() {
            // release the chunk once its frames are out (they keep their own part alive)
            self.buf = BytesMut::new();
        }
        Ok(body)
    }
}

fn eof() -> FrameError {
    FrameError::Io(std::io::ErrorKind::UnexpectedEof.into())
}

pub(super) async fn connection(
    stream: TcpStream,
    remote: SocketAddr,
    conn: ConnId,
    core: mpsc::Sender<CoreMsg>,
    limits: &ConnLimits,
    four_letter: FourLetterHandler,
    shutdown: CancellationToken,
) {
    let _ = stream.set_nodelay(true);
    let (rd, wr) = stream.into_split();
    let mut rd = FrameReader::new(rd);
    let first = match tokio::time::timeout(limits.handshake_timeout, rd.peek_len()).await {
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
        answer_four_letter(wr, &core, job).await;
        return;
    }
    let connect =
        match tokio::time::timeout(limits.handshake_timeout, rd.next_frame(limits.max_frame)).await
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
    let (out_tx, mut out_rx) = outbound_queue();
    let hello = CoreMsg::Connect {
        conn,
        remote,
        req,
        out: out_tx,
    };
    let mut wr = wr;
    if core.send(hello).await.is_ok() {
        let session = Session {
            conn,
            core: &core,
            limits,
            remote,
        };
        session
            .serve(&mut rd, &mut wr, &mut out_rx, &shutdown)
            .await;
    }
    let _ = wr.shutdown().await;
    let _ = core.send(CoreMsg::Disconnected { conn }).await;
}

/// An established connection: one task reads requests and writes what the core queued
/// (a second task per connection cost every idle session its stack and bookkeeping).
struct Session<'a> {
    conn: ConnId,
    core: &'a mpsc::Sender<CoreMsg>,
    limits: &'a ConnLimits,
    remote: SocketAddr,
}

impl Session<'_> {
    /// Until the client or the core closes, or shutdown. Reading is cancel-safe (its state
    /// lives in `rd`), so whichever side is ready goes first; a batch of replies is written
    /// to the end before the next frame is read.
    async fn serve(
        &self,
        rd: &mut FrameReader,
        wr: &mut OwnedWriteHalf,
        out: &mut OutboundRx,
        shutdown: &CancellationToken,
    ) {
        loop {
            tokio::select! {
                biased;
                msg = out.recv() => {
                    let Some(first) = msg else { return };
                    match write_batch(wr, out, first).await {
                        Ok(false) => {}
                        Ok(true) | Err(_) => return,
                    }
                }
                _ = shutdown.cancelled() => return,
                frame = rd.next_frame(self.limits.max_frame) => {
                    if !self.request(frame).await {
                        return;
                    }
                }
            }
        }
    }

    /// Hand one frame to the core; false when the connection must end.
    async fn request(&self, frame: Result<Bytes, FrameError>) -> bool {
        let frame = match frame {
            Ok(f) => f,
            Err(FrameError::Io(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return false
            }
            Err(e) => {
                tracing::warn!(client = %self.remote, error = %e, "bad frame; closing connection");
                return false;
            }
        };
        if frame.len() < 8 {
            tracing::warn!(client = %self.remote, len = frame.len(), "frame shorter than a RequestHeader; closing");
            return false;
        }
        let xid = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
        let op = OpCode(i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]));
        let msg = CoreMsg::Packet {
            conn: self.conn,
            xid,
            op,
            body: frame.slice(8..),
            received: tokio::time::Instant::now(),
        };
        self.core.send(msg).await.is_ok()
    }
}

/// Write `first` and whatever else is queued (up to [`WRITE_BATCH`] bytes) in one write;
/// Ok(true) when a Close was among them (everything before it is written first). A lone
/// reply, the common case, is written as is, without a batch buffer.
async fn write_batch(
    wr: &mut OwnedWriteHalf,
    out: &mut OutboundRx,
    first: Outbound,
) -> std::io::Result<bool> {
    let Outbound::Frame(first) = first else {
        return Ok(true);
    };
    let Some(second) = out.try_recv() else {
        wr.write_all(&first).await?;
        return Ok(false);
    };
    let mut buf = Vec::from(&first[..]);
    let mut next = Some(second);
    let mut close = false;
    while let Some(msg) = next.take() {
        match msg {
            Outbound::Frame(frame) => buf.extend_from_slice(&frame),
            Outbound::Close => {
                close = true;
                break;
            }
        }
        if buf.len() < WRITE_BATCH {
            next = out.try_recv();
        }
    }
    wr.write_all(&buf).await?;
    Ok(close)
}

async fn answer_four_letter(
    mut wr: OwnedWriteHalf,
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
