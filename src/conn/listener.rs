//! Accepting client connections.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::connection::{connection, FourLetterHandler, Port};
use super::tls::ClientTls;
use crate::pipeline::CoreMsg;
use crate::sasl::server::ClientSasl;

/// Limits and settings every connection of the server gets.
#[derive(Clone)]
pub struct ConnLimits {
    /// jute.maxbuffer: the largest frame a client may send (`NIOServerCnxn#readLength`).
    pub max_frame: usize,
    /// maxClientCnxns per remote IP; 0 = unlimited.
    pub max_client_cnxns: usize,
    /// A connection that has not finished its handshake by then is dropped
    /// (`zookeeper.nio.sessionlessCnxnTimeout`, 10 s).
    pub handshake_timeout: Duration,
    /// The server's SASL login, when it has one: each connection runs its own exchange.
    pub sasl: Option<Arc<ClientSasl>>,
}

/// Bind the client port with the reference's socket options (reuseaddr, backlog).
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}

/// Counts connections per IP; the guard gives the slot back when the connection ends.
#[derive(Clone, Default)]
pub(crate) struct PerIp(Arc<Mutex<HashMap<IpAddr, usize>>>);

pub(crate) struct PerIpGuard {
    table: PerIp,
    ip: IpAddr,
}

impl PerIp {
    /// Take a slot for `ip` unless it already has `max` (the map lock is held only to count).
    pub(super) fn acquire(&self, ip: IpAddr, max: usize) -> Option<PerIpGuard> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = map.entry(ip).or_insert(0);
        if max != 0 && *n >= max {
            return None;
        }
        *n += 1;
        Some(PerIpGuard {
            table: self.clone(),
            ip,
        })
    }
}

impl Drop for PerIpGuard {
    fn drop(&mut self) {
        let mut map = self.table.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = map.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

/// One listening client port.
pub struct ClientListener {
    pub listener: TcpListener,
    /// TLS (`secureClientPort`, or `clientPort` with `client.portUnification`).
    pub tls: Option<Arc<ClientTls>>,
    /// This is `secureClientPort` (3.8's secure `ServerCnxnFactory`).
    pub secure: bool,
    /// Where a reconfig moved this port to (`ServerCnxnFactory#reconfigure`); None for a
    /// port that never moves.
    pub moves: Option<watch::Receiver<SocketAddr>>,
}

/// Hands out connection ids, unique across the listeners of one server.
#[derive(Clone, Debug)]
pub struct ConnIds(Arc<AtomicU64>);

impl Default for ConnIds {
    fn default() -> Self {
        ConnIds(Arc::new(AtomicU64::new(1)))
    }
}

/// `NIOServerCnxnFactory#reconfigure`: the old socket closes first, then `addr` is bound; the
/// connections accepted so far stay. A new address that cannot be bound leaves the port
/// closed, as in 3.8.
fn move_listener(old: Option<TcpListener>, addr: SocketAddr) -> Option<TcpListener> {
    let from = old.as_ref().and_then(|l| l.local_addr().ok());
    drop(old);
    tracing::info!(?from, to = %addr, "binding to port {addr}");
    match bind(addr) {
        Ok(l) => Some(l),
        Err(e) => {
            tracing::error!(error = %e, "Error reconfiguring client port to {addr}");
            None
        }
    }
}

/// Accept until `shutdown`; each connection gets its own task. maxClientCnxns counts per
/// listener, as each 3.8 connection factory keeps its own count.
pub async fn serve(
    client: ClientListener,
    core: mpsc::Sender<CoreMsg>,
    limits: ConnLimits,
    four_letter: FourLetterHandler,
    shutdown: CancellationToken,
    ids: ConnIds,
) {
    let ClientListener {
        listener,
        tls,
        secure,
        mut moves,
    } = client;
    // None once a move could not bind its new address: nothing is accepted until the next one
    let mut listener = Some(listener);
    let port = Port { tls, secure };
    let per_ip = PerIp::default();
    loop {
        let accept = async {
            match &listener {
                Some(l) => l.accept().await,
                None => std::future::pending().await,
            }
        };
        let moved = async {
            let Some(m) = moves.as_mut() else {
                return std::future::pending().await;
            };
            match m.changed().await {
                Ok(()) => Some(*m.borrow_and_update()),
                // the sender is gone: the port stays where it is
                Err(_) => None,
            }
        };
        let (stream, remote) = tokio::select! {
            _ = shutdown.cancelled() => return,
            to = moved => {
                match to {
                    Some(addr) => listener = move_listener(listener.take(), addr),
                    None => moves = None,
                }
                continue;
            }
            accepted = accept => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let Some(guard) = per_ip.acquire(remote.ip(), limits.max_client_cnxns) else {
            tracing::warn!(
                client = %remote,
                max = limits.max_client_cnxns,
                "too many connections from this address; closing"
            );
            drop(stream);
            continue;
        };
        let id = ids.0.fetch_add(1, Ordering::Relaxed);
        let core = core.clone();
        let limits = limits.clone();
        let four_letter = four_letter.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(connection(
            stream,
            remote,
            id,
            core,
            limits,
            four_letter,
            shutdown,
            guard,
            port.clone(),
        ));
    }
}
