#![allow(clippy::unwrap_used)]
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::*;
use crate::quorum::tls::tests::{peer, SERVER};

async fn manager(my_id: i64) -> QuorumCnxManager {
    let cfg = CnxConfig::new(my_id, vec!["127.0.0.1:0".to_owned()]);
    QuorumCnxManager::start(cfg).await.unwrap()
}

async fn pair() -> (QuorumCnxManager, QuorumCnxManager) {
    pair_with(QuorumTls::plaintext(), QuorumTls::plaintext()).await
}

/// Two managers, sids 1 and 2, each with its quorum TLS settings.
async fn pair_with(t1: Arc<QuorumTls>, t2: Arc<QuorumTls>) -> (QuorumCnxManager, QuorumCnxManager) {
    // bind first to learn the ports, then give each the other's address
    let l1 = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let l2 = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let peers: HashMap<i64, Vec<String>> =
        HashMap::from([(1, vec![l1.to_string()]), (2, vec![l2.to_string()])]);
    let mut c1 = CnxConfig::new(1, vec![l1.to_string()]);
    c1.peers = peers.clone();
    c1.tls = t1;
    let mut c2 = CnxConfig::new(2, vec![l2.to_string()]);
    c2.peers = peers;
    c2.tls = t2;
    (
        QuorumCnxManager::start(c1).await.unwrap(),
        QuorumCnxManager::start(c2).await.unwrap(),
    )
}

#[tokio::test]
async fn smaller_sid_dialling_gets_a_dial_back_and_messages_flow() {
    let (m1, m2) = pair().await;
    m1.to_send(2, b"hello from 1".to_vec());
    let got = m2.poll_recv(Duration::from_secs(5)).await.unwrap();
    assert_eq!(got, (1, b"hello from 1".to_vec()));
    m2.to_send(1, b"back".to_vec());
    assert_eq!(
        m1.poll_recv(Duration::from_secs(5)).await.unwrap(),
        (2, b"back".to_vec())
    );
    assert!(m1.connected_to_peer(2) && m2.connected_to_peer(1));
    m1.halt();
    m2.halt();
}

#[tokio::test]
async fn own_sid_loops_back_and_own_sid_connections_are_refused() {
    let m = manager(5).await;
    m.to_send(5, vec![1, 2]);
    assert_eq!(
        m.poll_recv(Duration::from_secs(1)).await.unwrap(),
        (5, vec![1, 2])
    );
    let mut s = TcpStream::connect(m.local_addrs()[0]).await.unwrap();
    s.write_all(&initial::encode(5, &["127.0.0.1:1".to_owned()], false))
        .await
        .unwrap();
    let mut buf = [0u8; 1];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .unwrap();
    assert_eq!(n.unwrap(), 0, "closed");
    assert!(!m.connected_to_peer(5));
    m.halt();
}

#[tokio::test]
async fn larger_sid_connection_is_kept_and_bad_lengths_drop_it() {
    let m = manager(1).await;
    // queued before 9 connects (9 is not in the view, so nobody dials): only the newest stays
    m.to_send(9, vec![1]);
    m.to_send(9, vec![2]);
    assert!(!m.have_delivered());
    let mut s = TcpStream::connect(m.local_addrs()[0]).await.unwrap();
    s.write_all(&initial::encode(9, &["127.0.0.1:1".to_owned()], false))
        .await
        .unwrap();
    s.write_all(&[0, 0, 0, 3, 7, 8, 9]).await.unwrap();
    assert_eq!(
        m.poll_recv(Duration::from_secs(5)).await.unwrap(),
        (9, vec![7, 8, 9])
    );
    assert!(m.connected_to_peer(9));
    let mut frame = [0u8; 5];
    s.read_exact(&mut frame).await.unwrap();
    assert_eq!(frame, [0, 0, 0, 1, 2]);
    assert!(m.have_delivered());
    s.write_all(&(PACKET_MAX_SIZE as i32 + 1).to_be_bytes())
        .await
        .unwrap();
    let mut buf = [0u8; 1];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .unwrap();
    assert_eq!(n.unwrap(), 0, "oversized packet closes the connection");
    m.halt();
}

#[tokio::test]
async fn bind_gives_up_after_the_retries() {
    let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut cfg = CnxConfig::new(1, vec![taken.local_addr().unwrap().to_string()]);
    cfg.port_bind_retry = 1;
    assert!(matches!(
        QuorumCnxManager::start(cfg).await,
        Err(CnxError::Bind { .. })
    ));
}

#[tokio::test]
async fn spawned_listener_reports_when_it_gives_up() {
    let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut cfg = CnxConfig::new(1, vec![taken.local_addr().unwrap().to_string()]);
    cfg.port_bind_retry = 2;
    let (m, exit) = QuorumCnxManager::spawn(cfg).unwrap();
    let gave_up = tokio::time::timeout(Duration::from_secs(20), exit.gave_up())
        .await
        .expect("the listener gives up after its retries");
    assert!(matches!(gave_up, CnxError::Bind { .. }));
    assert!(m.local_addrs().is_empty());
    m.halt();
}

#[tokio::test]
async fn spawned_listener_without_a_retry_limit_binds_once_the_port_is_free() {
    let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = taken.local_addr().unwrap();
    let mut cfg = CnxConfig::new(1, vec![addr.to_string()]);
    cfg.port_bind_retry = 0;
    let (m, exit) = QuorumCnxManager::spawn(cfg).unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    drop(taken);
    let mut bound = false;
    for _ in 0..100 {
        if m.local_addrs() == vec![addr] {
            bound = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(bound, "bound after the port was freed");
    // bound: the listener never reports giving up
    let waited = tokio::time::timeout(Duration::from_millis(200), exit.gave_up()).await;
    assert!(waited.is_err());
    m.halt();
}

/// Messages both ways, whoever dials; the connection is up on both sides.
async fn exchange(m1: &QuorumCnxManager, m2: &QuorumCnxManager) {
    m1.to_send(2, b"from 1".to_vec());
    assert_eq!(
        m2.poll_recv(Duration::from_secs(10)).await,
        Some((1, b"from 1".to_vec()))
    );
    m2.to_send(1, b"from 2".to_vec());
    assert_eq!(
        m1.poll_recv(Duration::from_secs(10)).await,
        Some((2, b"from 2".to_vec()))
    );
    assert!(m1.connected_to_peer(2) && m2.connected_to_peer(1));
}

#[tokio::test]
async fn ssl_quorum_pair_exchanges_messages() {
    let (m1, m2) = pair_with(peer(true, false, SERVER), peer(true, false, SERVER)).await;
    exchange(&m1, &m2).await;
    m1.halt();
    m2.halt();
}

/// The rolling upgrade's middle step: port-unified peers, one dialling plaintext and one
/// TLS, talk whichever of them keeps the connection (the larger sid's dial survives).
#[tokio::test]
async fn port_unification_takes_a_tls_dialer_and_a_plaintext_one() {
    for (t1, t2) in [
        (peer(false, true, SERVER), peer(true, true, SERVER)),
        (peer(true, true, SERVER), peer(false, true, SERVER)),
    ] {
        let (m1, m2) = pair_with(t1, t2).await;
        exchange(&m1, &m2).await;
        m1.halt();
        m2.halt();
    }
}

/// A plaintext peer and a TLS-only one never connect, either way round; a peer with an
/// untrusted certificate neither.
#[tokio::test]
async fn plaintext_and_untrusted_peers_stay_out_of_a_tls_only_quorum() {
    let rogue = ("rogue-nopass.pem", "");
    for (t1, t2) in [
        (QuorumTls::plaintext(), peer(true, false, SERVER)),
        (peer(true, false, SERVER), QuorumTls::plaintext()),
        (peer(true, false, rogue), peer(true, false, SERVER)),
    ] {
        let (m1, m2) = pair_with(t1, t2).await;
        m1.to_send(2, b"from 1".to_vec());
        m2.to_send(1, b"from 2".to_vec());
        assert_eq!(m2.poll_recv(Duration::from_secs(2)).await, None);
        assert_eq!(m1.poll_recv(Duration::from_millis(100)).await, None);
        assert!(!m1.connected_to_peer(2) && !m2.connected_to_peer(1));
        m1.halt();
        m2.halt();
    }
}
