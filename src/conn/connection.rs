//! One client connection: handshake, then frames to the core and queued replies back.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::listener::ConnLimits;
use crate::jute::codes::OpCode;
use crate::jute::proto::ConnectRequest;
use crate::jute::Jute;
use crate::pipeline::{ConnId, CoreMsg, CoreState, Outbound};

/// Recognises a four-letter word from the first four bytes of a connection and returns the
/// read-only job that renders its answer against the core's state.
pub type FourLetterHandler =
    Arc<dyn Fn([u8; 4]) -> Option<Box<dyn FnOnce(&mut CoreState) -> String + Send>> + Send + Sync>;

/// Per-connection read and write buffers: enough to batch many small requests and replies;
/// a bigger frame is read straight into its own buffer. Idle sessions pay this twice each.
const CONN_BUFFER: usize = 16 * 1024;

#[derive(Debug, thiserror::Error)]
enum FrameError {
    #[error("Len error {0}")]
    Length(i32),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

async fn read_body(
    rd: &mut BufReader<OwnedReadHalf>,
    len: i32,
    max: usize,
) -> Result<Bytes, FrameError> {
    let size = usize::try_from(len).map_err(|_| FrameError::Length(len))?;
    if size > max {
        return Err(FrameError::Length(len));
    }
    let mut body = BytesMut::zeroed(size);
    rd.read_exact(&mut body).await?;
    Ok(body.freeze())
}

async fn read_frame(rd: &mut BufReader<OwnedReadHalf>, max: usize) -> Result<Bytes, FrameError> {
    let len = rd.read_i32().await?;
    read_body(rd, len, max).await
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
    let mut rd = BufReader::with_capacity(CONN_BUFFER, rd);
    let handshake = async {
        let first = rd.read_i32().await?;
        Ok::<_, FrameError>(first)
    };
    let first = match tokio::time::timeout(limits.handshake_timeout, handshake).await {
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
    let connect = match tokio::time::timeout(
        limits.handshake_timeout,
        read_body(&mut rd, first, limits.max_frame),
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
    let (out_tx, out_rx) = mpsc::unbounded_channel();
    let closed = CancellationToken::new();
    let writer = tokio::spawn(writer(wr, out_rx, closed.clone()));
    let hello = CoreMsg::Connect {
        conn,
        remote,
        req,
        out: out_tx,
    };
    if core.send(hello).await.is_ok() {
        read_loop(&mut rd, conn, &core, limits, remote, &closed, &shutdown).await;
    }
    let _ = core.send(CoreMsg::Disconnected { conn }).await;
    closed.cancel();
    let _ = writer.await;
}

async fn read_loop(
    rd: &mut BufReader<OwnedReadHalf>,
    conn: ConnId,
    core: &mpsc::Sender<CoreMsg>,
    limits: &ConnLimits,
    remote: SocketAddr,
    closed: &CancellationToken,
    shutdown: &CancellationToken,
) {
    loop {
        let frame = tokio::select! {
            _ = closed.cancelled() => return,
            _ = shutdown.cancelled() => return,
            f = read_frame(rd, limits.max_frame) => f,
        };
        let frame = match frame {
            Ok(f) => f,
            Err(FrameError::Io(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => return,
            Err(e) => {
                tracing::warn!(client = %remote, error = %e, "bad frame; closing connection");
                return;
            }
        };
        if frame.len() < 8 {
            tracing::warn!(client = %remote, len = frame.len(), "frame shorter than a RequestHeader; closing");
            return;
        }
        let xid = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
        let op = OpCode(i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]));
        let msg = CoreMsg::Packet {
            conn,
            xid,
            op,
            body: frame.slice(8..),
            received: tokio::time::Instant::now(),
        };
        if core.send(msg).await.is_err() {
            return;
        }
    }
}

/// Drains the session's queue; everything queued before a Close is written first.
async fn writer(
    wr: OwnedWriteHalf,
    mut rx: mpsc::UnboundedReceiver<Outbound>,
    closed: CancellationToken,
) {
    let mut wr = BufWriter::with_capacity(CONN_BUFFER, wr);
    loop {
        let msg = tokio::select! {
            m = rx.recv() => m,
            _ = closed.cancelled() => None,
        };
        let Some(mut msg) = msg else { break };
        loop {
            match msg {
                Outbound::Frame(frame) => {
                    if wr.write_all(&frame).await.is_err() {
                        closed.cancel();
                        return;
                    }
                }
                Outbound::Close => {
                    let _ = wr.flush().await;
                    let _ = wr.shutdown().await;
                    closed.cancel();
                    return;
                }
            }
            match rx.try_recv() {
                Ok(next) => msg = next,
                Err(_) => break,
            }
        }
        if wr.flush().await.is_err() {
            closed.cancel();
            return;
        }
    }
    let _ = wr.flush().await;
    let _ = wr.shutdown().await;
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
