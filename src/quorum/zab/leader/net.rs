//! The leader's sockets on the quorum port (`Leader.LearnerCnxAcceptor`, `LearnerHandler`'s
//! reader and sender threads): one reader and one writer task per learner, once the
//! connection is secured as `sslQuorum` / `portUnification` say (`UnifiedServerSocket`).
//! Whoever runs the [`super::LeaderEngine`] owns the inbox; nothing here interprets a packet.

use crate::quorum::auth::{authenticate_server, bounded, Unread};
use crate::sasl::quorum::QuorumSasl;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit};
use tokio::task::JoinHandle;
use tokio_util::codec::FramedRead;
use tracing::{info, warn};

use super::engine::ConnId;
use crate::jute::quorum::QuorumPacket;
use crate::jute::Jute;
use crate::quorum::tls::{QuorumReadHalf, QuorumTls, QuorumWriteHalf};
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

/// The bound quorum port and how it takes learners (`Leader`'s server sockets).
#[derive(Debug)]
pub struct LearnerListener {
    pub listener: TcpListener,
    /// `sslQuorum` / `portUnification` and the `ssl.quorum.*` material.
    pub tls: Arc<QuorumTls>,
    /// tickTime × initLimit: how long a TLS handshake may take (3.8's socket timeout
    /// until the learner is synced).
    pub handshake_timeout: Duration,
    /// `quorum.auth.enableSasl`: a learner authenticates before FOLLOWERINFO.
    pub auth: Option<Arc<QuorumSasl>>,
}

/// `LearnerCnxAcceptor`: every accepted socket is secured (or refused) in a task of its
/// own, so a slow or hostile peer holds up nobody else.
pub async fn accept_loop(listener: LearnerListener, inbox: mpsc::UnboundedSender<Incoming>) {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    loop {
        let (sock, peer) = match listener.listener.accept().await {
            Ok(a) => a,
            Err(e) => {
                warn!(error = %e, "learner accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if inbox.is_closed() {
            return;
        }
        let _ = sock.set_nodelay(true);
        let conn = NEXT.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(start_learner(
            conn,
            sock,
            peer,
            listener.tls.clone(),
            listener.auth.clone(),
            listener.handshake_timeout,
            inbox.clone(),
        ));
    }
}

async fn start_learner(
    conn: ConnId,
    sock: TcpStream,
    peer: SocketAddr,
    tls: Arc<QuorumTls>,
    auth: Option<Arc<QuorumSasl>>,
    handshake_timeout: Duration,
    inbox: mpsc::UnboundedSender<Incoming>,
) {
    let mut stream = match tls.accept(sock, peer, handshake_timeout).await {
        Ok(s) => s,
        Err(e) => {
            warn!(conn, "learner connection from {peer} closed: {e}");
            return;
        }
    };
    // `LearnerHandler#run` starts with `authServer.authenticate`
    let mut unread = Unread::default();
    if let Some(auth) = auth {
        let name = peer.to_string();
        let exchange = authenticate_server(&mut stream, auth.server(), auth.server_require, &name);
        match bounded(handshake_timeout, exchange).await {
            Ok(u) => unread = u,
            Err(e) => {
                warn!(conn, "learner connection from {peer} closed: {e}");
                return;
            }
        }
    }
    info!(%peer, conn, tls = stream.is_tls(), "learner connection accepted");
    let (rd, wr) = stream.into_split();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(write_loop(wr, rx));
    // the reader starts once the engine has heard of the connection, so no packet of it
    // arrives before `Accepted`
    let (go, started) = oneshot::channel();
    let reader = tokio::spawn(read_loop(conn, rd, unread, inbox.clone(), started));
    match inbox.send(Incoming::Accepted(conn, tx, reader)) {
        Ok(()) => {
            let _ = go.send(());
        }
        Err(mpsc::error::SendError(Incoming::Accepted(_, _, reader))) => reader.abort(),
        Err(_) => {}
    }
}

async fn read_loop(
    conn: ConnId,
    rd: QuorumReadHalf,
    unread: Unread,
    inbox: mpsc::UnboundedSender<Incoming>,
    started: oneshot::Receiver<()>,
) {
    if started.await.is_err() {
        return;
    }
    let mut frames = FramedRead::new(rd, QuorumCodec::default());
    frames.read_buffer_mut().extend_from_slice(&unread.0);
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

async fn write_loop(wr: QuorumWriteHalf, mut rx: mpsc::UnboundedReceiver<Outgoing>) {
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
