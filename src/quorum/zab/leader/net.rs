//! The leader's sockets on the quorum port (`Leader.LearnerCnxAcceptor`, `LearnerHandler`'s
//! reader and sender threads): one reader and one writer task per learner. Whoever runs the
//! [`super::LeaderEngine`] owns the inbox; nothing here interprets a packet.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures::StreamExt;
use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, OwnedSemaphorePermit};
use tokio::task::JoinHandle;
use tokio_util::codec::FramedRead;
use tracing::{info, warn};

use super::engine::ConnId;
use crate::jute::quorum::QuorumPacket;
use crate::jute::Jute;
use crate::quorum::zab::stream::QuorumCodec;

/// What the learner sockets report to the engine's owner.
pub enum Incoming {
    /// A learner connected: its outgoing queue and its reader task.
    Accepted(ConnId, mpsc::UnboundedSender<Outgoing>, JoinHandle<()>),
    Packet(ConnId, QuorumPacket),
    Closed(ConnId),
}

/// What goes out to one learner, in order.
pub enum Outgoing {
    Packet(QuorumPacket),
    /// A piece of a SNAP payload. The permit goes back once the bytes are handed to the
    /// socket: the sender takes one per chunk, which bounds the chunks waiting here.
    Chunk(Bytes, OwnedSemaphorePermit),
}

/// Bind `quorum_addr` (or the wildcard on its port with `quorumListenOnAllIPs`).
pub async fn bind_quorum_port(
    quorum_addr: SocketAddr,
    listen_on_all_ips: bool,
) -> std::io::Result<TcpListener> {
    let bind = if listen_on_all_ips {
        let any = match quorum_addr {
            SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
            SocketAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
        };
        SocketAddr::new(any, quorum_addr.port())
    } else {
        quorum_addr
    };
    TcpListener::bind(bind).await
}

pub async fn accept_loop(listener: TcpListener, inbox: mpsc::UnboundedSender<Incoming>) {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    loop {
        let Ok((sock, peer)) = listener.accept().await else {
            continue;
        };
        let _ = sock.set_nodelay(true);
        let conn = NEXT.fetch_add(1, Ordering::Relaxed);
        info!(%peer, conn, "learner connection accepted");
        let (rd, wr) = sock.into_split();
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(write_loop(wr, rx));
        let reader = tokio::spawn(read_loop(conn, rd, inbox.clone()));
        if inbox.send(Incoming::Accepted(conn, tx, reader)).is_err() {
            return;
        }
    }
}

async fn read_loop(
    conn: ConnId,
    rd: tokio::net::tcp::OwnedReadHalf,
    inbox: mpsc::UnboundedSender<Incoming>,
) {
    let mut frames = FramedRead::new(rd, QuorumCodec::default());
    while let Some(item) = frames.next().await {
        match item {
            Ok(p) => {
                if inbox.send(Incoming::Packet(conn, p)).is_err() {
                    return;
                }
            }
            Err(e) => {
                warn!(conn, "learner stream: {e}");
                break;
            }
        }
    }
    let _ = inbox.send(Incoming::Closed(conn));
}

async fn write_loop(wr: OwnedWriteHalf, mut rx: mpsc::UnboundedReceiver<Outgoing>) {
    let mut out = BufWriter::new(wr);
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(item) = next {
            let (bytes, permit) = match item {
                Outgoing::Packet(p) => (Bytes::from(p.to_vec()), None),
                Outgoing::Chunk(b, permit) => (b, Some(permit)),
            };
            if out.write_all(&bytes).await.is_err() {
                return;
            }
            drop(permit);
            next = rx.try_recv().ok();
        }
        if out.flush().await.is_err() {
            return;
        }
    }
    let _ = out.shutdown().await;
}
