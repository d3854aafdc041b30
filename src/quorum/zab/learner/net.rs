//! The learner's connection to its leader (`Learner#connectToLeader`, `#readPacket`,
//! `#writePacket`, the socket side of `#syncWithLeader`), TLS with `sslQuorum`: a reader
//! task and a writer task.
//! The core owns the [`super::LearnerEngine`] and executes it; these tasks only move bytes.
//! The SNAP payload that follows a SNAP packet is parsed here, on a blocking thread, and
//! reaches the core with its packet as one message, so the core never parses a database.
//!
//! Invariants: packets reach the core in the order they arrived; a read that waits longer
//! than tickTime × initLimit (until NEWLEADER has been read) or tickTime × syncLimit (after)
//! loses the leader, as the reference's socket timeouts do; the SNAP reader consumes exactly
//! the payload and hands every byte after it back to the packet reader.

use crate::quorum::auth::{authenticate_learner, bounded};
use crate::sasl::quorum::QuorumSasl;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::codec::FramedRead;

use crate::jute::quorum::QuorumPacket;
use crate::quorum::tls::{QuorumReadHalf, QuorumStream, QuorumTls, QuorumWriteHalf};
use crate::quorum::zab::packet::QuorumPacketType;
use crate::quorum::zab::stream::{read_snap_payload, QuorumCodec, SnapPayload};
use crate::tree::TreeOptions;

/// `Learner#connectToLeader`: five tries, this far apart
/// (`zookeeper.leaderConnectDelayDuringRetryMs`) — 400 ms of retrying in all.
const CONNECT_TRIES: u32 = 5;
const CONNECT_RETRY_DELAY: Duration = Duration::from_millis(100);
/// The first retry comes this soon, and each wait doubles up to [`CONNECT_RETRY_DELAY`]: a
/// follower ends the election at the moment its new leader does and usually dials just
/// before the leader's port is bound; waiting the full delay there is most of a failover.
const CONNECT_FIRST_RETRY: Duration = Duration::from_millis(5);
/// Socket bytes handed to the SNAP parser per chunk, and chunks in flight.
const SNAP_CHUNK: usize = 64 * 1024;
const SNAP_CHUNKS_IN_FLIGHT: usize = 16;

/// tickTime, initLimit, syncLimit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LearnerTimeouts {
    pub tick: Duration,
    pub init_limit: u32,
    pub sync_limit: u32,
}

impl LearnerTimeouts {
    /// Connect and read timeout until NEWLEADER.
    pub fn init(&self) -> Duration {
        self.tick * self.init_limit
    }

    /// Read timeout afterwards: a leader silent this long is lost.
    pub fn sync(&self) -> Duration {
        self.tick * self.sync_limit
    }
}

/// What the link reports to the core.
#[derive(Debug)]
pub enum FromLeader {
    Packet(QuorumPacket),
    /// A SNAP packet and the database that followed it.
    Snap {
        packet: QuorumPacket,
        payload: Box<SnapPayload>,
    },
    /// The connection failed or the leader went silent: back to election.
    Lost(String),
}

/// The running tasks; dropping this stops them.
pub struct LinkTasks {
    /// Encoded packets to the leader, written in order.
    pub to_leader: mpsc::UnboundedSender<Bytes>,
    reader: JoinHandle<()>,
    writer: JoinHandle<()>,
}

impl Drop for LinkTasks {
    fn drop(&mut self) {
        self.reader.abort();
        self.writer.abort();
    }
}

/// Connect to the leader's quorum port at `leader` (zoo.cfg calls it `host`), with TLS when
/// `sslQuorum` is on, retrying as the reference does (a failed handshake is a failed try
/// too), within initLimit.
pub async fn connect(
    leader: SocketAddr,
    host: &str,
    timeouts: LearnerTimeouts,
    tls: &QuorumTls,
    auth: Option<&Arc<QuorumSasl>>,
) -> std::io::Result<QuorumStream> {
    let mut stream = connect_once_up(leader, host, timeouts, tls).await?;
    // `authLearner.authenticate` before FOLLOWERINFO; a failure ends this try to follow
    if let Some(auth) = auth {
        let name = leader.to_string();
        let (sasl, host) = (auth.clone(), host.to_owned());
        let exchange = authenticate_learner(&mut stream, move || sasl.learner(&host), &name);
        bounded(timeouts.init(), exchange)
            .await
            .map_err(std::io::Error::other)?;
    }
    Ok(stream)
}

/// The connection, retried within initLimit as `Learner#connectToLeader` retries.
async fn connect_once_up(
    leader: SocketAddr,
    host: &str,
    timeouts: LearnerTimeouts,
    tls: &QuorumTls,
) -> std::io::Result<QuorumStream> {
    let started = tokio::time::Instant::now();
    let deadline = started + timeouts.init();
    // as long as 3.8's tries last, however many the shorter first waits make
    let retrying_until = started + CONNECT_RETRY_DELAY * (CONNECT_TRIES - 1);
    let mut delay = CONNECT_FIRST_RETRY;
    let mut tries = 0;
    loop {
        tries += 1;
        let err = match tokio::time::timeout_at(deadline, TcpStream::connect(leader)).await {
            Ok(Ok(s)) => {
                s.set_nodelay(true)?;
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                match tls.connect(s, host, left).await {
                    Ok(s) => return Ok(s),
                    Err(e) => std::io::Error::other(e),
                }
            }
            Ok(Err(e)) => e,
            Err(_) => std::io::Error::from(std::io::ErrorKind::TimedOut),
        };
        let now = tokio::time::Instant::now();
        if now + delay > retrying_until || now + delay >= deadline {
            return Err(err);
        }
        if tries == 1 {
            tracing::warn!(tries, "cannot connect to the leader at {leader}: {err}");
        } else {
            tracing::debug!(tries, "cannot connect to the leader at {leader}: {err}");
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(CONNECT_RETRY_DELAY);
    }
}

/// Start reading and writing the connection to the leader.
pub fn spawn_link(
    stream: QuorumStream,
    timeouts: LearnerTimeouts,
    tree_options: TreeOptions,
    inbox: mpsc::UnboundedSender<FromLeader>,
) -> LinkTasks {
    let (rd, wr) = stream.into_split();
    let (tx, rx) = mpsc::unbounded_channel();
    let reader = FramedRead::new(rd, QuorumCodec::default());
    let reader = tokio::spawn(read_loop(reader, timeouts, tree_options, inbox.clone()));
    let writer = tokio::spawn(write_loop(wr, rx, inbox));
    LinkTasks {
        to_leader: tx,
        reader,
        writer,
    }
}

async fn read_loop(
    mut reader: FramedRead<QuorumReadHalf, QuorumCodec>,
    timeouts: LearnerTimeouts,
    tree_options: TreeOptions,
    inbox: mpsc::UnboundedSender<FromLeader>,
) {
    let mut limit = timeouts.init();
    loop {
        let msg = match tokio::time::timeout(limit, reader.next()).await {
            Err(_) => FromLeader::Lost(format!("the leader was silent for {limit:?}")),
            Ok(None) => FromLeader::Lost("the leader closed the connection".to_owned()),
            Ok(Some(Err(e))) => FromLeader::Lost(format!("stream from the leader: {e}")),
            Ok(Some(Ok(p))) if p.packet_type == QuorumPacketType::SNAP.0 => {
                match read_snap(&mut reader, p.zxid, tree_options, timeouts.init()).await {
                    Ok(payload) => FromLeader::Snap {
                        packet: p,
                        payload: Box::new(payload),
                    },
                    Err(e) => FromLeader::Lost(e),
                }
            }
            Ok(Some(Ok(p))) => {
                if p.packet_type == QuorumPacketType::NEWLEADER.0 {
                    limit = timeouts.sync();
                }
                FromLeader::Packet(p)
            }
        };
        let lost = matches!(msg, FromLeader::Lost(_));
        if inbox.send(msg).is_err() || lost {
            return;
        }
    }
}

/// The payload after a SNAP packet, parsed on a blocking thread from chunks this task reads
/// off the socket; whatever the parser did not consume goes back into the packet reader's
/// buffer.
async fn read_snap(
    reader: &mut FramedRead<QuorumReadHalf, QuorumCodec>,
    zxid: i64,
    tree_options: TreeOptions,
    limit: Duration,
) -> Result<SnapPayload, String> {
    let (tx, rx) = mpsc::channel::<Bytes>(SNAP_CHUNKS_IN_FLIGHT);
    let buffered = reader.read_buffer_mut().split().freeze();
    let mut parser = tokio::task::spawn_blocking(move || {
        let mut input = ChunkReader { rx, cur: buffered };
        let r = read_snap_payload(&mut input, zxid, tree_options);
        // no more chunks: a send blocked on a full channel fails and keeps its chunk
        input.rx.close();
        (r, input)
    });
    let mut tx = Some(tx);
    let mut unsent = Vec::new();
    let (result, rest) = loop {
        let mut chunk = BytesMut::with_capacity(SNAP_CHUNK);
        tokio::select! {
            done = &mut parser => match done {
                Ok(r) => break r,
                Err(e) => return Err(format!("SNAP payload parser: {e}")),
            },
            r = tokio::time::timeout(limit, reader.get_mut().read_buf(&mut chunk)), if tx.is_some() => {
                match r {
                    Err(_) => return Err(format!("the leader was silent for {limit:?} during SNAP")),
                    Ok(Err(e)) => return Err(format!("reading the SNAP payload: {e}")),
                    // end of stream: the parser sees EOF once the channel closes
                    Ok(Ok(0)) => tx = None,
                    Ok(Ok(_)) => {
                        if let Some(t) = &tx {
                            if let Err(e) = t.send(chunk.freeze()).await {
                                unsent.push(e.0);
                                tx = None;
                            }
                        }
                    }
                }
            }
        }
    };
    let buf = reader.read_buffer_mut();
    buf.extend_from_slice(&rest.into_leftover());
    for c in unsent {
        buf.extend_from_slice(&c);
    }
    result.map_err(|e| format!("SNAP payload: {e}"))
}

/// `std::io::Read` over socket chunks sent by the async side.
struct ChunkReader {
    rx: mpsc::Receiver<Bytes>,
    cur: Bytes,
}

impl ChunkReader {
    /// The unread rest of the current chunk and of every chunk still queued.
    fn into_leftover(mut self) -> BytesMut {
        let mut out = BytesMut::from(&self.cur[..]);
        while let Ok(c) = self.rx.try_recv() {
            out.extend_from_slice(&c);
        }
        out
    }
}

impl std::io::Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                Some(c) => self.cur = c,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur.split_to(n));
        Ok(n)
    }
}

async fn write_loop(
    mut writer: QuorumWriteHalf,
    mut rx: mpsc::UnboundedReceiver<Bytes>,
    inbox: mpsc::UnboundedSender<FromLeader>,
) {
    let mut buf = Vec::new();
    while let Some(first) = rx.recv().await {
        buf.clear();
        buf.extend_from_slice(&first);
        while let Ok(more) = rx.try_recv() {
            buf.extend_from_slice(&more);
        }
        // TLS holds records back until flushed
        let written = match writer.write_all(&buf).await {
            Ok(()) => writer.flush().await,
            Err(e) => Err(e),
        };
        if let Err(e) = written {
            let _ = inbox.send(FromLeader::Lost(format!("writing to the leader: {e}")));
            return;
        }
    }
    let _ = writer.shutdown().await;
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn timeouts() -> LearnerTimeouts {
        LearnerTimeouts {
            tick: Duration::from_millis(1000),
            init_limit: 10,
            sync_limit: 5,
        }
    }

    fn free_addr() -> SocketAddr {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    }

    #[tokio::test]
    async fn a_leader_binding_after_the_first_tries_is_reached_and_one_never_bound_is_not() {
        let tls = QuorumTls::plaintext();
        let addr = free_addr();
        let late = tokio::spawn(async move {
            // past the first few short retries, inside the 400 ms of 3.8's five tries
            tokio::time::sleep(Duration::from_millis(150)).await;
            let l = tokio::net::TcpListener::bind(addr).await.unwrap();
            l.accept().await.unwrap()
        });
        let stream = connect_once_up(addr, "127.0.0.1", timeouts(), &tls).await;
        assert!(stream.is_ok(), "{:?}", stream.err());
        late.await.unwrap();

        let never = free_addr();
        let err = connect_once_up(never, "127.0.0.1", timeouts(), &tls)
            .await
            .err()
            .unwrap();
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    }
}
