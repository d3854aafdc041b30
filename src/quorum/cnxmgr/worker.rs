//! Per-connection tasks: accepting (`Listener`, `handleConnection`), dialling
//! (`initiateConnection`, `startConnection`) and the send / receive halves (`SendWorker`,
//! `RecvWorker`).

use std::sync::atomic::Ordering;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::quorum::auth::{authenticate_learner, authenticate_server, bounded, Unread};
use crate::quorum::tls::{host_of, QuorumStream, QuorumWriteHalf};

pub(super) async fn accept_loop(inner: Arc<Inner>, listener: TcpListener) {
    loop {
        let accepted = tokio::select! {
            _ = inner.shutdown.cancelled() => return,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, remote)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(handle_connection(inner.clone(), stream, remote));
            }
            Err(e) => {
                warn!(error = %e, "election accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// `handleConnection`: TLS or not as the listener takes it, then the initial message, then
/// keep, refuse or replace the connection.
async fn handle_connection(inner: Arc<Inner>, stream: TcpStream, remote: SocketAddr) {
    let timeout = inner.cfg.socket_timeout;
    let mut stream = match inner.cfg.tls.accept(stream, remote, timeout).await {
        Ok(s) => s,
        Err(e) => {
            warn!("election connection from {remote} closed: {e}");
            return;
        }
    };
    let read = tokio::time::timeout(timeout, initial::read(&mut stream)).await;
    let init = match read {
        Ok(Ok(m)) => m,
        Ok(Err(e)) => {
            warn!(%remote, error = %e, "Initial message parsing error");
            return;
        }
        Err(_) => {
            warn!(%remote, "timed out reading the initial message");
            return;
        }
    };
    // `authServer.authenticate`: before the tie-break, whichever way it goes
    let mut unread = Unread::default();
    if let Some(auth) = &inner.cfg.auth {
        let peer = remote.to_string();
        let exchange = authenticate_server(&mut stream, auth.server(), auth.server_require, &peer);
        match bounded(timeout, exchange).await {
            Ok(u) => unread = u,
            Err(e) => {
                warn!(%remote, error = %e, "Exception handling connection, closing server connection");
                return;
            }
        }
    }
    let mut sid = init.sid;
    if sid == OBSERVER_ID {
        sid = inner.observer_counter.fetch_sub(1, Ordering::SeqCst);
    }
    let my_id = inner.cfg.my_id;
    if sid < my_id {
        // we win the tie-break: drop theirs (and any connection we had) and dial back
        let old = inner.peers().senders.remove(&sid);
        if let Some(w) = old {
            w.cancel.cancel();
        }
        drop(stream);
        let announced: Vec<String> = init
            .election_addrs
            .iter()
            .map(|(h, p)| host_port_string(h, *p))
            .collect();
        let addrs = (!announced.is_empty()).then_some(announced);
        inner.connect_one(sid, addrs);
    } else if sid == my_id {
        warn!(%remote, "connection request from a server with our own id (ZOOKEEPER-2164)");
    } else {
        start_workers(&inner, sid, stream, unread);
    }
}

fn host_port_string(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// `initiateConnection` + `startConnection`.
pub(super) async fn initiate(inner: Arc<Inner>, sid: i64, addrs: Vec<String>) {
    let result = dial(&inner, sid, &addrs).await;
    inner.peers().in_progress.remove(&sid);
    match result {
        Ok(Some(stream)) => start_workers(&inner, sid, stream, Unread::default()),
        Ok(None) => {}
        Err(e) => warn!(sid, ?addrs, error = %e, "Cannot open channel to peer"),
    }
}

async fn dial(inner: &Inner, sid: i64, addrs: &[String]) -> std::io::Result<Option<QuorumStream>> {
    let mut last_err = std::io::Error::new(std::io::ErrorKind::NotFound, "no address");
    for addr in addrs {
        let connect = tokio::time::timeout(inner.cfg.cnx_timeout, TcpStream::connect(addr));
        let stream = match connect.await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                last_err = e;
                continue;
            }
            Err(_) => {
                last_err = std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let cfg = &inner.cfg;
        let secured = cfg.tls.connect(stream, host_of(addr), cfg.socket_timeout);
        let mut stream = match secured.await {
            Ok(s) => s,
            Err(e) => {
                // 3.8 gives up on this attempt too; the election dials again later
                warn!("Cannot open secure channel to {sid} at election address {addr}: {e}");
                return Ok(None);
            }
        };
        let hello = initial::encode(cfg.my_id, &cfg.my_election_addrs, cfg.multi_address_enabled);
        stream.write_all(&hello).await?;
        stream.flush().await?;
        // `authLearner.authenticate`, whoever keeps the connection afterwards
        if let Some(auth) = &cfg.auth {
            // `qps.hostname`: the peer's host as the view names it, even when we dial the
            // address it announced (an IP) to answer its connection
            let host = cfg
                .peers
                .get(&sid)
                .and_then(|addrs| addrs.first())
                .map_or(host_of(addr), |a| host_of(a))
                .to_owned();
            let sasl = auth.clone();
            let exchange = authenticate_learner(&mut stream, move || sasl.learner(&host), addr);
            if let Err(e) = bounded(cfg.socket_timeout, exchange).await {
                warn!(sid, %addr, error = %e, "Exception while connecting, closing learner connection");
                return Ok(None);
            }
        }
        if sid > cfg.my_id {
            // the larger sid dials back; our attempt only told it we exist
            return Ok(None);
        }
        return Ok(Some(stream));
    }
    Err(last_err)
}

/// Registers the connection for `sid`, replacing (and closing) any older one. `unread`:
/// what the SASL peek took off the start of the peer's first message.
fn start_workers(inner: &Arc<Inner>, sid: i64, stream: QuorumStream, unread: Unread) {
    info!(sid, tls = stream.is_tls(), "election connection up");
    let (rd, wr) = stream.into_split();
    let conn_id = inner.next_conn.fetch_add(1, Ordering::SeqCst);
    let cancel = inner.shutdown.child_token();
    let slot = {
        let mut peers = inner.peers();
        let worker = Worker {
            conn_id,
            cancel: cancel.clone(),
        };
        if let Some(old) = peers.senders.insert(sid, worker) {
            old.cancel.cancel();
        }
        peers.queues.entry(sid).or_default().clone()
    };
    let (i1, i2, c1, c2) = (inner.clone(), inner.clone(), cancel.clone(), cancel);
    tokio::spawn(async move {
        tokio::select! {
            _ = c1.cancelled() => {}
            r = send_loop(&i1, sid, &slot, wr) => if let Err(e) = r {
                warn!(sid, error = %e, "Exception when using channel");
            },
        }
        finish(&i1, sid, conn_id, &c1);
    });
    tokio::spawn(async move {
        tokio::select! {
            _ = c2.cancelled() => {}
            r = recv_loop(&i2, sid, std::io::Cursor::new(unread.0).chain(rd)) => warn!(sid, error = %r, "Connection broken"),
        }
        finish(&i2, sid, conn_id, &c2);
    });
}

fn finish(inner: &Inner, sid: i64, conn_id: u64, cancel: &CancellationToken) {
    cancel.cancel();
    let mut peers = inner.peers();
    if peers
        .senders
        .get(&sid)
        .is_some_and(|w| w.conn_id == conn_id)
    {
        peers.senders.remove(&sid);
    }
}

async fn write_msg(wr: &mut QuorumWriteHalf, msg: &[u8]) -> std::io::Result<()> {
    let len = i32::try_from(msg.len()).unwrap_or(i32::MAX);
    let mut frame = Vec::with_capacity(4 + msg.len());
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(msg);
    wr.write_all(&frame).await?;
    wr.flush().await
}

/// `SendWorker#run`: repeat the last message if nothing is pending, then drain the slot.
async fn send_loop(
    inner: &Inner,
    sid: i64,
    slot: &SendSlot,
    mut wr: QuorumWriteHalf,
) -> std::io::Result<()> {
    if slot.lock().is_none() {
        let last = inner.peers().last_sent.get(&sid).cloned();
        if let Some(msg) = last {
            write_msg(&mut wr, &msg).await?;
        }
    }
    loop {
        let next = slot.lock().take();
        match next {
            Some(msg) => {
                inner.peers().last_sent.insert(sid, msg.clone());
                write_msg(&mut wr, &msg).await?;
            }
            None => slot.notify.notified().await,
        }
    }
}

/// `RecvWorker#run`: length-prefixed messages into the shared receive queue.
async fn recv_loop<R: AsyncRead + Unpin>(inner: &Inner, sid: i64, mut rd: R) -> std::io::Error {
    loop {
        let len = match rd.read_i32().await {
            Ok(l) => l,
            Err(e) => return e,
        };
        let Some(n) = usize::try_from(len)
            .ok()
            .filter(|n| (1..=PACKET_MAX_SIZE).contains(n))
        else {
            let msg = format!("Received packet with invalid packet: {len}");
            return std::io::Error::new(std::io::ErrorKind::InvalidData, msg);
        };
        let mut buf = vec![0u8; n];
        if let Err(e) = rd.read_exact(&mut buf).await {
            return e;
        }
        inner.push_recv(sid, buf);
    }
}
