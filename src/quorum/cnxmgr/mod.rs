//! Election connections (`QuorumCnxManager`: `Listener`, `SendWorker`, `RecvWorker`,
//! `connectOne` / `connectAll` / `toSend` / `haveDelivered`) over tokio.
//!
//! Invariants: at most one live connection per peer, and only one dialled by the larger sid
//! survives (a smaller initiator hangs up after its initial message; a larger receiver hangs
//! up and dials back); our own sid is refused. Each peer has a send slot of capacity 1 (the
//! newest notification replaces an unsent one) and the last message sent is repeated on a
//! fresh connection if nothing newer waits; received messages (1 byte…512 KiB) go to one
//! queue of 100 that drops its oldest. Messages to our own sid loop back into that queue.
//!
//! With `sslQuorum` the connections we dial are TLS; what the listener takes follows
//! `portUnification` / `sslQuorum` (see [`super::tls`]). The handshake and the check of the
//! kind of peer happen in the connection's own task, bounded by the socket timeout.
//!
//! The election port is bound as `Listener.ListenerHandler#acceptConnections` binds it: an
//! attempt, on failure an error and a second's pause, at most `electionPortBindRetry` times
//! (3; 0 = no limit). [`QuorumCnxManager::spawn`] does that in the background while dialling
//! already works, as the reference's listener thread does, and reports when it gives up.

pub mod initial;
mod worker;

use crate::sasl::quorum::QuorumSasl;
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, Notify};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::tls::QuorumTls;

pub use initial::{
    format_addr, InitialMessage, InitialMessageError, MAX_ADDR_LEN, PROTOCOL_VERSION_V1,
    PROTOCOL_VERSION_V2,
};

/// `QuorumCnxManager.PACKETMAXSIZE`.
pub const PACKET_MAX_SIZE: usize = 512 * 1024;
/// `QuorumCnxManager.RECV_CAPACITY`.
pub const RECV_CAPACITY: usize = 100;
/// `QuorumPeer.OBSERVER_ID`: observers without a configured sid.
pub const OBSERVER_ID: i64 = i64::MAX;
/// `Listener.DEFAULT_PORT_BIND_MAX_RETRY`.
pub const DEFAULT_PORT_BIND_MAX_RETRY: u32 = 3;
/// The pause after a failed bind (`ListenerHandler#acceptConnections` sleeps 1000 ms).
const PORT_BIND_RETRY_PAUSE: Duration = Duration::from_secs(1);

/// Settings of the connection manager.
#[derive(Debug, Clone)]
pub struct CnxConfig {
    pub my_id: i64,
    /// Our election addresses as `host:port` (announced, and bound unless listening on all IPs).
    pub my_election_addrs: Vec<String>,
    /// Election addresses of every member of the view, `host:port`.
    pub peers: HashMap<i64, Vec<String>>,
    /// `quorumListenOnAllIPs`: bind the wildcard address on our election port.
    pub listen_on_all_ips: bool,
    /// `multiAddress.enabled`: send the V2 initial message with every address.
    pub multi_address_enabled: bool,
    /// `zookeeper.cnxTimeout` (5 s): connect timeout.
    pub cnx_timeout: Duration,
    /// Reading the initial message on an accepted socket (the reference: initLimit × tickTime).
    pub socket_timeout: Duration,
    /// `zookeeper.electionPortBindRetry` (3; 0 = forever), one second apart.
    pub port_bind_retry: u32,
    /// `sslQuorum` / `portUnification` and the `ssl.quorum.*` material.
    pub tls: Arc<QuorumTls>,
    /// `quorum.auth.enableSasl`: each connection authenticates right after the initial
    /// message.
    pub auth: Option<Arc<QuorumSasl>>,
}

impl CnxConfig {
    pub fn new(my_id: i64, my_election_addrs: Vec<String>) -> Self {
        CnxConfig {
            my_id,
            my_election_addrs,
            peers: HashMap::new(),
            listen_on_all_ips: false,
            multi_address_enabled: false,
            cnx_timeout: Duration::from_secs(5),
            socket_timeout: Duration::from_secs(20),
            port_bind_retry: DEFAULT_PORT_BIND_MAX_RETRY,
            tls: QuorumTls::plaintext(),
            auth: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CnxError {
    #[error("cannot bind election address {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("no election address to listen on")]
    NoAddress,
}

/// One peer's send slot (`CircularBlockingQueue` of capacity 1).
#[derive(Debug, Default)]
struct SendSlot {
    msg: Mutex<Option<Vec<u8>>>,
    notify: Notify,
}

impl SendSlot {
    fn lock(&self) -> MutexGuard<'_, Option<Vec<u8>>> {
        // poisoning only follows a panic elsewhere; the slot content stays usable
        self.msg.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[derive(Debug)]
struct Worker {
    conn_id: u64,
    cancel: CancellationToken,
}

#[derive(Debug, Default)]
struct Peers {
    senders: HashMap<i64, Worker>,
    queues: HashMap<i64, Arc<SendSlot>>,
    last_sent: HashMap<i64, Vec<u8>>,
    in_progress: HashSet<i64>,
}

#[derive(Debug)]
struct Inner {
    cfg: CnxConfig,
    // std Mutex: short map edits, never held across an await
    peers: Mutex<Peers>,
    recv: Mutex<VecDeque<(i64, Vec<u8>)>>,
    recv_notify: Notify,
    shutdown: CancellationToken,
    observer_counter: AtomicI64,
    next_conn: AtomicU64,
    /// Where the listener(s) are bound so far.
    local_addrs: Mutex<Vec<SocketAddr>>,
    /// Election addresses of the members of the current configs (`QuorumPeer#getView`),
    /// replaced on a reconfig; starts as `cfg.peers`.
    view: Mutex<HashMap<i64, Vec<String>>>,
}

/// The election connection manager; cheap to clone.
#[derive(Debug, Clone)]
pub struct QuorumCnxManager {
    inner: Arc<Inner>,
}

/// Resolves when the election listener has given up on every address
/// (`Listener#run` leaving with a socket exception, after which 3.8 exits with
/// `UNABLE_TO_BIND_QUORUM_PORT`); pends forever once one address is bound.
#[derive(Debug)]
pub struct ListenerExit(oneshot::Receiver<CnxError>);

impl ListenerExit {
    /// The last bind error, once no election address could be bound.
    pub async fn gave_up(self) -> CnxError {
        match self.0.await {
            Ok(e) => e,
            Err(_) => std::future::pending().await,
        }
    }
}

impl QuorumCnxManager {
    /// Binds the election port(s) (retrying as `Listener#acceptConnections` does), then
    /// starts accepting; an error once the retries are used up.
    pub async fn start(cfg: CnxConfig) -> Result<Self, CnxError> {
        let targets = listen_targets(&cfg)?;
        let never = CancellationToken::new();
        let mut listeners = Vec::new();
        for t in targets {
            listeners.push(bind_with_retry(&t, cfg.port_bind_retry, &never).await?);
        }
        let manager = Self::new(cfg);
        for listener in listeners {
            manager.inner.listen(listener);
        }
        Ok(manager)
    }

    /// `QuorumCnxManager#start` as `QuorumPeer#startLeaderElection` calls it: returns at
    /// once, usable for dialling, while the election port(s) are bound in the background with
    /// the retries; the [`ListenerExit`] tells when the listener gave up on all of them.
    pub fn spawn(cfg: CnxConfig) -> Result<(Self, ListenerExit), CnxError> {
        let targets = listen_targets(&cfg)?;
        let manager = Self::new(cfg);
        let (gave_up_tx, gave_up_rx) = oneshot::channel();
        let (bound_tx, bound_rx) = mpsc::unbounded_channel();
        let count = targets.len();
        for t in targets {
            let inner = manager.inner.clone();
            let bound_tx = bound_tx.clone();
            tokio::spawn(async move {
                let retry = inner.cfg.port_bind_retry;
                match bind_with_retry(&t, retry, &inner.shutdown).await {
                    Ok(listener) => {
                        let _ = bound_tx.send(None);
                        inner.listen(listener);
                    }
                    Err(e) => {
                        let _ = bound_tx.send(Some(e));
                    }
                }
            });
        }
        drop(bound_tx);
        tokio::spawn(report_listener_exit(
            manager.inner.shutdown.clone(),
            bound_rx,
            count,
            gave_up_tx,
        ));
        Ok((manager, ListenerExit(gave_up_rx)))
    }

    fn new(cfg: CnxConfig) -> Self {
        let inner = Arc::new(Inner {
            view: Mutex::new(cfg.peers.clone()),
            cfg,
            peers: Mutex::new(Peers::default()),
            recv: Mutex::new(VecDeque::new()),
            recv_notify: Notify::new(),
            shutdown: CancellationToken::new(),
            observer_counter: AtomicI64::new(-1),
            next_conn: AtomicU64::new(1),
            local_addrs: Mutex::new(Vec::new()),
        });
        QuorumCnxManager { inner }
    }

    pub fn my_id(&self) -> i64 {
        self.inner.cfg.my_id
    }

    /// A reconfig changed the members: `sid` → election addresses.
    pub fn set_view(&self, view: HashMap<i64, Vec<String>>) {
        *self.inner.view.lock().unwrap_or_else(|e| e.into_inner()) = view;
    }

    /// `QuorumCnxManager#connectOne`: dial `sid` at its address in the view.
    pub fn connect_one(&self, sid: i64) {
        self.inner.connect_one(sid, None);
    }

    /// Where the listener(s) are bound so far (useful with port 0).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.inner
            .local_addrs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// `toSend`: replace the peer's pending message and make sure we are connected; our own
    /// sid goes straight to the receive queue.
    pub fn to_send(&self, sid: i64, msg: Vec<u8>) {
        if sid == self.inner.cfg.my_id {
            self.inner.push_recv(sid, msg);
            return;
        }
        let slot = self.inner.peers().queues.entry(sid).or_default().clone();
        *slot.lock() = Some(msg);
        slot.notify.notify_one();
        self.inner.connect_one(sid, None);
    }

    /// `connectAll`: dial every peer we have a queue for and no connection to.
    pub fn connect_all(&self) {
        let sids: Vec<i64> = self.inner.peers().queues.keys().copied().collect();
        for sid in sids {
            self.inner.connect_one(sid, None);
        }
    }

    /// `haveDelivered`: some peer's send slot is empty.
    pub fn have_delivered(&self) -> bool {
        let peers = self.inner.peers();
        peers.queues.values().any(|q| q.lock().is_none())
    }

    /// `connectedToPeer`.
    pub fn connected_to_peer(&self, sid: i64) -> bool {
        self.inner.peers().senders.contains_key(&sid)
    }

    /// The next received message, `(sender sid, bytes)`. Cancel-safe.
    pub async fn recv(&self) -> (i64, Vec<u8>) {
        // a queue that never empties (a peer that keeps sending) must not keep the election
        // task, and whatever it is selected with, from yielding to the rest of the server
        tokio::task::coop::consume_budget().await;
        loop {
            let notified = self.inner.recv_notify.notified();
            if let Some(m) = self.inner.recv_lock().pop_front() {
                return m;
            }
            notified.await;
        }
    }

    /// Like [`recv`](Self::recv) with a time limit (`pollRecvQueue`).
    pub async fn poll_recv(&self, timeout: Duration) -> Option<(i64, Vec<u8>)> {
        tokio::time::timeout(timeout, self.recv()).await.ok()
    }

    /// `halt`: stop listening and close every connection.
    pub fn halt(&self) {
        self.inner.shutdown.cancel();
        let mut peers = self.inner.peers();
        for (_, w) in peers.senders.drain() {
            w.cancel.cancel();
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Inner {
    fn peers(&self) -> MutexGuard<'_, Peers> {
        self.peers.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn recv_lock(&self) -> MutexGuard<'_, VecDeque<(i64, Vec<u8>)>> {
        self.recv.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Accept on a bound election port until halted.
    fn listen(self: &Arc<Self>, listener: TcpListener) {
        if let Ok(a) = listener.local_addr() {
            self.local_addrs
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(a);
        }
        tokio::spawn(worker::accept_loop(self.clone(), listener));
    }

    fn push_recv(&self, sid: i64, msg: Vec<u8>) {
        let mut q = self.recv_lock();
        if q.len() >= RECV_CAPACITY {
            q.pop_front();
        }
        q.push_back((sid, msg));
        drop(q);
        self.recv_notify.notify_one();
    }

    /// `connectOne`: dial `sid` unless connected or already dialling, at `addrs` (announced by
    /// the peer) or its address in the view.
    fn connect_one(self: &Arc<Self>, sid: i64, addrs: Option<Vec<String>>) {
        if self.shutdown.is_cancelled() {
            return;
        }
        let mut peers = self.peers();
        if peers.senders.contains_key(&sid) {
            return;
        }
        let known = || {
            let view = self.view.lock().unwrap_or_else(|e| e.into_inner());
            view.get(&sid).cloned()
        };
        let Some(addrs) = addrs.or_else(known) else {
            warn!(sid, "Invalid server id");
            return;
        };
        if !peers.in_progress.insert(sid) {
            return;
        }
        drop(peers);
        tokio::spawn(worker::initiate(self.clone(), sid, addrs));
    }
}

/// The addresses to listen on: ours, or the wildcard on our port with `quorumListenOnAllIPs`.
fn listen_targets(cfg: &CnxConfig) -> Result<Vec<String>, CnxError> {
    let mut targets: Vec<String> = Vec::new();
    for a in &cfg.my_election_addrs {
        if cfg.listen_on_all_ips {
            let port = a.rsplit(':').next().unwrap_or("0");
            targets.push(format!("0.0.0.0:{port}"));
        } else {
            targets.push(a.clone());
        }
    }
    targets.dedup();
    if targets.is_empty() {
        return Err(CnxError::NoAddress);
    }
    Ok(targets)
}

/// `ListenerHandler#acceptConnections`' bind loop: each failure is logged and followed by a
/// second's pause; after `max_retry` failures (0: never) the handler leaves.
async fn bind_with_retry(
    addr: &str,
    max_retry: u32,
    shutdown: &CancellationToken,
) -> Result<TcpListener, CnxError> {
    let mut errors = 0u32;
    loop {
        let source = match TcpListener::bind(addr).await {
            Ok(l) => {
                info!(addr, "election port listening");
                return Ok(l);
            }
            Err(e) => e,
        };
        error!(error = %source, "Exception while listening to address {addr}");
        errors = errors.saturating_add(1);
        tokio::select! {
            _ = shutdown.cancelled() => {}
            _ = tokio::time::sleep(PORT_BIND_RETRY_PAUSE) => {}
        }
        if shutdown.is_cancelled() || (max_retry != 0 && errors >= max_retry) {
            if !shutdown.is_cancelled() {
                error!(
                    "Leaving listener thread for address {addr} after {errors} errors. \
                     Use zookeeper.electionPortBindRetry property to increase retry count."
                );
            }
            return Err(CnxError::Bind {
                addr: addr.to_owned(),
                source,
            });
        }
    }
}

/// `Listener#run`: once every address's handler has left without a bound socket (and we are
/// not shutting down), the listener is gone for good.
async fn report_listener_exit(
    shutdown: CancellationToken,
    mut bound: mpsc::UnboundedReceiver<Option<CnxError>>,
    count: usize,
    gave_up: oneshot::Sender<CnxError>,
) {
    let mut last = None;
    for _ in 0..count {
        match bound.recv().await {
            Some(Some(e)) => last = Some(e),
            // one address listens: the listener stays (the latch never opens)
            Some(None) | None => return,
        }
    }
    if let Some(e) = last.filter(|_| !shutdown.is_cancelled()) {
        let _ = gave_up.send(e);
    }
}

#[cfg(test)]
mod tests;
