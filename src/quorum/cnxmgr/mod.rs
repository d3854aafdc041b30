//! Election connections (`QuorumCnxManager`: `Listener`, `SendWorker`, `RecvWorker`,
//! `connectOne` / `connectAll` / `toSend` / `haveDelivered`) over tokio.
//!
//! Invariants: at most one live connection per peer, and only one dialled by the larger sid
//! survives (a smaller initiator hangs up after its initial message; a larger receiver hangs
//! up and dials back); our own sid is refused. Each peer has a send slot of capacity 1 (the
//! newest notification replaces an unsent one) and the last message sent is repeated on a
//! fresh connection if nothing newer waits; received messages (1 byte…512 KiB) go to one
//! queue of 100 that drops its oldest. Messages to our own sid loop back into that queue.

pub mod initial;
mod worker;

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

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
            port_bind_retry: 3,
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
}

/// The election connection manager; cheap to clone.
#[derive(Debug, Clone)]
pub struct QuorumCnxManager {
    inner: Arc<Inner>,
    local_addrs: Arc<Vec<SocketAddr>>,
}

impl QuorumCnxManager {
    /// Binds the election port(s) (retrying as `Listener#acceptConnections` does) and starts
    /// accepting.
    pub async fn start(cfg: CnxConfig) -> Result<Self, CnxError> {
        let listeners = bind_all(&cfg).await?;
        let local_addrs = listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect();
        let inner = Arc::new(Inner {
            cfg,
            peers: Mutex::new(Peers::default()),
            recv: Mutex::new(VecDeque::new()),
            recv_notify: Notify::new(),
            shutdown: CancellationToken::new(),
            observer_counter: AtomicI64::new(-1),
            next_conn: AtomicU64::new(1),
        });
        for listener in listeners {
            tokio::spawn(worker::accept_loop(inner.clone(), listener));
        }
        Ok(QuorumCnxManager {
            inner,
            local_addrs: Arc::new(local_addrs),
        })
    }

    pub fn my_id(&self) -> i64 {
        self.inner.cfg.my_id
    }

    /// Where the listener(s) ended up (useful with port 0).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
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
        let Some(addrs) = addrs.or_else(|| self.cfg.peers.get(&sid).cloned()) else {
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

async fn bind_all(cfg: &CnxConfig) -> Result<Vec<TcpListener>, CnxError> {
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
    let mut out = Vec::new();
    for t in targets {
        out.push(bind_with_retry(&t, cfg.port_bind_retry).await?);
    }
    Ok(out)
}

async fn bind_with_retry(addr: &str, retries: u32) -> Result<TcpListener, CnxError> {
    let mut attempt = 0u32;
    loop {
        match TcpListener::bind(addr).await {
            Ok(l) => {
                info!(addr, "election port listening");
                return Ok(l);
            }
            Err(source) => {
                attempt += 1;
                if retries != 0 && attempt >= retries {
                    return Err(CnxError::Bind {
                        addr: addr.to_owned(),
                        source,
                    });
                }
                warn!(addr, error = %source, "Exception while listening; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests;
