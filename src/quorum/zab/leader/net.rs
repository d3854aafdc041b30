//! The leader's sockets on the quorum port (`Leader.LearnerCnxAcceptor`, `LearnerHandler`'s
//! reader and sender threads): one reader and one writer task per learner, once the
//! connection is secured as `sslQuorum` / `portUnification` say (`UnifiedServerSocket`).
//! Whoever runs the [`super::LeaderEngine`] owns the inbox; nothing here interprets a packet.

use crate::quorum::auth::{authenticate_server, bounded, Unread};
use crate::sasl::quorum::QuorumSasl;
use std::collections::VecDeque;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::StreamExt;
use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit};
use tokio::task::JoinHandle;
use tokio_util::codec::FramedRead;
use tracing::{info, warn};

use super::engine::ConnId;
use crate::admin::summary::{Summary, SummaryValues};
use crate::jute::quorum::QuorumPacket;
use crate::jute::Jute;
use crate::quorum::tls::{QuorumReadHalf, QuorumTls, QuorumWriteHalf};
use crate::quorum::zab::packet::QuorumPacketType as T;
use crate::quorum::zab::stream::QuorumCodec;

/// A learner connection past its TLS and SASL handshakes.
pub struct AcceptedLearner {
    /// Its outgoing queue.
    pub tx: mpsc::UnboundedSender<Outgoing>,
    pub reader: JoinHandle<()>,
    pub remote: SocketAddr,
    /// Wall-clock ms of the accept (`LearnerHandler#getEstablished`).
    pub established_ms: i64,
    pub traffic: Arc<LearnerTraffic>,
}

/// One learner connection's packets as `LearnerHandler` counts them (the figures of
/// `LearnerHandler#getLearnerHandlerInfo`). The sender counts a packet into the queue, the
/// writer out of it once written, the engine's owner counts what the learner sent.
///
/// Invariant: LEADERINFO and SNAP are written past the queue in the reference, so they are
/// neither queued nor sent here; NEWLEADER and UPTODATE are put on the queue without their
/// size (`queuedPackets.add`, not `queuePacket`), so `queued_packets_size` ends up below
/// zero by their sizes once they are written, as 3.8's does.
///
/// The `<sid>_learner_handler_qp_size` summary samples the queue's length each time the
/// writer takes a packet; `<sid>_learner_handler_qp_time_ms` times every 1000th packet
/// through the queue (3.8's `MarkerQuorumPacket`, queued behind packets 0, 1000, ...).
#[derive(Debug)]
pub struct LearnerTraffic {
    queued_packets: AtomicI64,
    queued_packets_size: AtomicI64,
    packets_received: AtomicU64,
    packets_sent: AtomicU64,
    requests: AtomicU64,
    last_zxid: AtomicI64,
    qp_size: Summary,
    qp_time_ms: Summary,
    /// `packetCounter`: packets queued through `queuePacket` so far.
    counted_in: AtomicU64,
    /// Of those, how many the writer took.
    counted_out: AtomicU64,
    /// The markers in the queue: the counted packet each follows, and when it was queued.
    markers: Mutex<VecDeque<(u64, Instant)>>,
}

/// A copy of [`LearnerTraffic`]'s counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrafficCounts {
    pub queued_packets: i64,
    pub queued_packets_size: i64,
    pub packets_received: u64,
    pub packets_sent: u64,
    pub requests: u64,
    /// Zxid of the last packet written with a positive zxid; -1 before one (or after `orst`).
    pub last_zxid: i64,
}

impl Default for LearnerTraffic {
    fn default() -> Self {
        LearnerTraffic {
            queued_packets: AtomicI64::new(0),
            queued_packets_size: AtomicI64::new(0),
            packets_received: AtomicU64::new(0),
            packets_sent: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            last_zxid: AtomicI64::new(-1),
            qp_size: Summary::new(),
            qp_time_ms: Summary::with_percentiles(),
            counted_in: AtomicU64::new(0),
            counted_out: AtomicU64::new(0),
            markers: Mutex::new(VecDeque::new()),
        }
    }
}

/// `LearnerHandler.markerPacketInterval`.
const MARKER_INTERVAL: u64 = 1000;

/// `LearnerHandler#packetSize`: header estimate plus the data.
fn packet_size(p: &QuorumPacket) -> i64 {
    let data = p.data.as_ref().map_or(0, |d| d.len());
    28 + i64::try_from(data).unwrap_or(i64::MAX - 28)
}

/// Whether the reference queues `p` through `queuePacket` (counted, sized, followed by a
/// marker now and then) rather than a bare `queuedPackets.add`.
fn counted(p: &QuorumPacket) -> bool {
    !matches!(T(p.packet_type), T::NEWLEADER | T::UPTODATE)
}

/// Whether the reference writes `p` through the handler's queue.
fn through_queue(p: &QuorumPacket) -> bool {
    !matches!(T(p.packet_type), T::LEADERINFO | T::SNAP)
}

impl LearnerTraffic {
    /// `p` is handed to the learner's queue.
    pub fn queued(&self, p: &QuorumPacket) {
        if !through_queue(p) {
            return;
        }
        self.queued_packets.fetch_add(1, Ordering::Relaxed);
        if counted(p) {
            self.queued_packets_size
                .fetch_add(packet_size(p), Ordering::Relaxed);
            let n = self.counted_in.fetch_add(1, Ordering::Relaxed);
            if n % MARKER_INTERVAL == 0 {
                self.markers
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push_back((n, Instant::now()));
            }
        }
    }

    /// `p` left the queue onto the socket (`LearnerHandler#sendPackets`).
    fn written(&self, p: &QuorumPacket) {
        if !through_queue(p) {
            return;
        }
        let left = self.queued_packets.fetch_sub(1, Ordering::Relaxed) - 1;
        self.qp_size.add(left);
        self.queued_packets_size
            .fetch_sub(packet_size(p), Ordering::Relaxed);
        // only a packet numbered like a marker's can have one behind it: no lock otherwise
        let n = counted(p).then(|| self.counted_out.fetch_add(1, Ordering::Relaxed));
        if n.is_some_and(|n| n % MARKER_INTERVAL == 0) {
            let mut markers = self.markers.lock().unwrap_or_else(|e| e.into_inner());
            if markers.front().is_some_and(|(after, _)| Some(*after) == n) {
                if let Some((_, queued)) = markers.pop_front() {
                    // the writer takes the marker next: one more look at the queue
                    self.qp_size.add(left);
                    let ms = i64::try_from(queued.elapsed().as_millis()).unwrap_or(i64::MAX);
                    self.qp_time_ms.add(ms);
                }
            }
        }
        if p.zxid > 0 {
            self.last_zxid.store(p.zxid, Ordering::Relaxed);
        }
        self.packets_sent.fetch_add(1, Ordering::Relaxed);
    }

    /// The learner sent `p` after acking NEWLEADER (the handler's main loop counts only
    /// from there on).
    pub fn received(&self, p: &QuorumPacket) {
        self.packets_received.fetch_add(1, Ordering::Relaxed);
        if T(p.packet_type) == T::REQUEST {
            self.requests.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// `LearnerHandler#resetObserverConnectionStats`: the queue figures stay.
    pub fn reset(&self) {
        self.packets_received.store(0, Ordering::Relaxed);
        self.packets_sent.store(0, Ordering::Relaxed);
        self.requests.store(0, Ordering::Relaxed);
        self.last_zxid.store(-1, Ordering::Relaxed);
    }

    /// The `<sid>_learner_handler_qp_size` and `_qp_time_ms` summaries.
    pub fn queue_summaries(&self) -> [SummaryValues; 2] {
        [self.qp_size.values(), self.qp_time_ms.values()]
    }

    pub fn counts(&self) -> TrafficCounts {
        TrafficCounts {
            queued_packets: self.queued_packets.load(Ordering::Relaxed),
            queued_packets_size: self.queued_packets_size.load(Ordering::Relaxed),
            packets_received: self.packets_received.load(Ordering::Relaxed),
            packets_sent: self.packets_sent.load(Ordering::Relaxed),
            requests: self.requests.load(Ordering::Relaxed),
            last_zxid: self.last_zxid.load(Ordering::Relaxed),
        }
    }
}

/// What the learner sockets report to the engine's owner.
pub enum Incoming {
    /// A learner connected.
    Accepted(ConnId, AcceptedLearner),
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
    let established_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let traffic = Arc::new(LearnerTraffic::default());
    let (rd, wr) = stream.into_split();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(write_loop(wr, rx, traffic.clone()));
    // the reader starts once the engine has heard of the connection, so no packet of it
    // arrives before `Accepted`
    let (go, started) = oneshot::channel();
    let reader = tokio::spawn(read_loop(conn, rd, unread, inbox.clone(), started));
    let accepted = AcceptedLearner {
        tx,
        reader,
        remote: peer,
        established_ms,
        traffic,
    };
    match inbox.send(Incoming::Accepted(conn, accepted)) {
        Ok(()) => {
            let _ = go.send(());
        }
        Err(mpsc::error::SendError(Incoming::Accepted(_, a))) => a.reader.abort(),
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

async fn write_loop(
    wr: QuorumWriteHalf,
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
    traffic: Arc<LearnerTraffic>,
) {
    let mut out = BufWriter::new(wr);
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(item) = next {
            let (bytes, permit, packet) = match item {
                Outgoing::Packet(p) => (Bytes::from(p.to_vec()), None, Some(p)),
                Outgoing::Chunk(b, permit) => (b, Some(permit), None),
            };
            if out.write_all(&bytes).await.is_err() {
                return;
            }
            if let Some(p) = &packet {
                traffic.written(p);
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
