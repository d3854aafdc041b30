#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;
use crate::tls::store::tests::fixture_path;

const SECS: Duration = Duration::from_secs(5);

fn fx(name: &str) -> String {
    fixture_path(name).to_string_lossy().into_owned()
}

/// `ssl.quorum.*` with the fixture key store `key` (file, password), the fixture CA trusted,
/// plus `extra` (keys without the `ssl.quorum.` prefix).
pub(crate) fn source(key: (&str, &str), extra: &[(&str, &str)]) -> Arc<TlsSource> {
    let mut entries = vec![
        ("ssl.quorum.keyStore.location".to_owned(), fx(key.0)),
        ("ssl.quorum.keyStore.password".to_owned(), key.1.to_owned()),
        (
            "ssl.quorum.trustStore.location".to_owned(),
            fx("truststore.jks"),
        ),
        (
            "ssl.quorum.trustStore.password".to_owned(),
            "trustpass".to_owned(),
        ),
    ];
    for (k, v) in extra {
        entries.push((format!("ssl.quorum.{k}"), (*v).to_owned()));
    }
    TlsSource::load(TlsSettings::from_entries(TlsContextKind::Quorum, &entries).unwrap()).unwrap()
}

pub(crate) const SERVER: (&str, &str) = ("server.jks", "serverpass");

/// A peer's quorum TLS: `sslQuorum`, `portUnification`, its key store.
pub(crate) fn peer(ssl: bool, unified: bool, key: (&str, &str)) -> Arc<QuorumTls> {
    QuorumTls::new(ssl, unified, Some(source(key, &[])), HashMap::new()).unwrap()
}

/// One connection from `dialer` (to the zoo.cfg host `host`) to a listener of `acceptor`:
/// (the acceptor's result, the dialer's result).
async fn connect_pair(
    acceptor: &QuorumTls,
    dialer: &QuorumTls,
    host: &str,
) -> (
    Result<QuorumStream, QuorumTlsError>,
    Result<QuorumStream, QuorumTlsError>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let dial = async {
        let s = TcpStream::connect(addr).await.unwrap();
        let mut s = dialer.connect(s, host, SECS).await?;
        // a plaintext dialer speaks first, as a learner or an election peer does
        s.write_all(b"hello").await?;
        s.flush().await?;
        Ok(s)
    };
    let accept = async {
        let (s, remote) = listener.accept().await.unwrap();
        acceptor.accept(s, remote, SECS).await
    };
    let (a, d) = tokio::join!(accept, dial);
    (a, d)
}

/// Bytes both ways over an established pair.
async fn talk(mut accepted: QuorumStream, mut dialled: QuorumStream) {
    let mut buf = [0u8; 5];
    accepted.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"hello");
    accepted.write_all(b"world").await.unwrap();
    accepted.flush().await.unwrap();
    dialled.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"world");
}

#[tokio::test]
async fn tls_peers_talk_and_the_listener_mode_follows_the_switches() {
    let tls = peer(true, false, SERVER);
    assert_eq!(tls.listener_mode(), ListenerMode::TlsOnly);
    assert_eq!(
        peer(true, true, SERVER).listener_mode(),
        ListenerMode::Unified
    );
    assert_eq!(
        peer(false, true, SERVER).listener_mode(),
        ListenerMode::Unified
    );
    assert_eq!(
        QuorumTls::plaintext().listener_mode(),
        ListenerMode::Plaintext
    );
    let (a, d) = connect_pair(&tls, &tls, "127.0.0.1").await;
    let (a, d) = (a.unwrap(), d.unwrap());
    assert!(a.is_tls() && d.is_tls());
    talk(a, d).await;
}

#[tokio::test]
async fn port_unification_takes_tls_and_plaintext() {
    let unified = peer(false, true, SERVER);
    let plain = QuorumTls::plaintext();
    let (a, d) = connect_pair(&unified, &plain, "127.0.0.1").await;
    let (a, d) = (a.unwrap(), d.unwrap());
    assert!(!a.is_tls());
    talk(a, d).await;
    let secure = peer(true, false, SERVER);
    let (a, d) = connect_pair(&unified, &secure, "127.0.0.1").await;
    let (a, d) = (a.unwrap(), d.unwrap());
    assert!(a.is_tls());
    talk(a, d).await;
}

#[tokio::test]
async fn tls_only_refuses_plaintext_and_plaintext_only_refuses_tls() {
    let secure = peer(true, false, SERVER);
    let plain = QuorumTls::plaintext();
    let (a, _) = connect_pair(&secure, &plain, "127.0.0.1").await;
    assert!(matches!(a, Err(QuorumTlsError::PlaintextRefused)), "{a:?}");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let dial = async {
        let s = TcpStream::connect(addr).await.unwrap();
        secure.connect(s, "127.0.0.1", SECS).await
    };
    let accept = async {
        let (s, remote) = listener.accept().await.unwrap();
        // the refused socket is dropped here, which ends the dialer's handshake
        plain.accept(s, remote, SECS).await
    };
    let (a, d) = tokio::join!(accept, dial);
    assert!(matches!(a, Err(QuorumTlsError::TlsRefused)), "{a:?}");
    assert!(d.is_err());
}

#[tokio::test]
async fn untrusted_certificates_are_refused_both_ways() {
    let good = peer(true, false, SERVER);
    let rogue = peer(true, false, ("rogue-nopass.pem", ""));
    // a rogue dialer: its certificate is not signed by our CA
    let (a, _) = connect_pair(&good, &rogue, "127.0.0.1").await;
    let err = a.unwrap_err().to_string();
    assert!(err.contains("UnknownIssuer"), "{err}");
    // a rogue listener: we do not trust it
    let (_, d) = connect_pair(&rogue, &good, "127.0.0.1").await;
    let err = d.unwrap_err().to_string();
    assert!(err.contains("UnknownIssuer"), "{err}");
}

#[tokio::test]
async fn hostname_verification_on_both_sides() {
    // CA-signed, but names other.example and 10.9.9.9 only
    let other = ("other-nopass.pem", "");
    let good = peer(true, false, SERVER);
    let misnamed = peer(true, false, other);
    // we dial it at 127.0.0.1: refused, unless zoo.cfg calls it other.example
    let (_, d) = connect_pair(&misnamed, &good, "127.0.0.1").await;
    let err = d.unwrap_err().to_string();
    assert!(err.contains("NotValidForName"), "{err}");
    let (a, d) = connect_pair(&misnamed, &good, "other.example").await;
    talk(a.unwrap(), d.unwrap()).await;
    // it dials us from 127.0.0.1: the check after the handshake refuses it
    let (a, _) = connect_pair(&good, &misnamed, "127.0.0.1").await;
    assert!(
        matches!(a, Err(QuorumTlsError::Tls(TlsError::PeerHost(_)))),
        "{a:?}"
    );
    // ... unless a member's zoo.cfg name resolving to that address is on it
    let named = QuorumTls::new(
        true,
        false,
        Some(source(SERVER, &[])),
        HashMap::from([(
            "127.0.0.1".parse().unwrap(),
            vec!["other.example".to_owned()],
        )]),
    )
    .unwrap();
    let (a, d) = connect_pair(&named, &misnamed, "127.0.0.1").await;
    talk(a.unwrap(), d.unwrap()).await;
    // hostnameVerification=false: both directions pass
    let relaxed = QuorumTls::new(
        true,
        false,
        Some(source(SERVER, &[("hostnameVerification", "false")])),
        HashMap::new(),
    )
    .unwrap();
    let (a, d) = connect_pair(&relaxed, &misnamed, "127.0.0.1").await;
    talk(a.unwrap(), d.unwrap()).await;
    let (a, d) = connect_pair(&misnamed, &relaxed, "127.0.0.1").await;
    talk(a.unwrap(), d.unwrap()).await;
}

#[tokio::test]
async fn client_auth_none_takes_a_dialer_without_a_certificate() {
    let listener_side = QuorumTls::new(
        true,
        false,
        Some(source(SERVER, &[("clientAuth", "none")])),
        HashMap::new(),
    )
    .unwrap();
    let entries = vec![
        (
            "ssl.quorum.trustStore.location".to_owned(),
            fx("truststore.pem"),
        ),
        ("ssl.quorum.clientAuth".to_owned(), "none".to_owned()),
    ];
    let anonymous_source =
        TlsSource::load(TlsSettings::from_entries(TlsContextKind::Quorum, &entries).unwrap())
            .unwrap();
    // no key store: fine for dialling, not for listening
    let err = QuorumTls::new(true, false, Some(anonymous_source.clone()), HashMap::new())
        .unwrap_err()
        .to_string();
    assert!(err.contains("ssl.quorum.keyStore.location"), "{err}");
    let anonymous = QuorumTls {
        ssl_quorum: true,
        port_unification: false,
        source: Some(anonymous_source),
        names_by_ip: HashMap::new(),
        detection_timeout: SECS,
    };
    let (a, d) = connect_pair(&listener_side, &anonymous, "127.0.0.1").await;
    talk(a.unwrap(), d.unwrap()).await;
    // the default (need) refuses it
    let (a, _) = connect_pair(&peer(true, false, SERVER), &anonymous, "127.0.0.1").await;
    assert!(matches!(a, Err(QuorumTlsError::Handshake(_))), "{a:?}");
}

/// A TLS record header and then nothing: the handshake's bound ends it; a silent peer on a
/// TLS-only port counts as plaintext once the detection timeout passes.
#[tokio::test]
async fn stalled_and_silent_peers_are_dropped_in_bounded_time() {
    let tls = QuorumTls::new(
        true,
        false,
        Some(source(
            SERVER,
            &[("handshakeDetectionTimeoutMillis", "200")],
        )),
        HashMap::new(),
    )
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let mut stalled = TcpStream::connect(addr).await.unwrap();
    stalled
        .write_all(&[0x16, 0x03, 0x01, 0x00, 0x80])
        .await
        .unwrap();
    let (s, remote) = listener.accept().await.unwrap();
    let t0 = Instant::now();
    let r = tls.accept(s, remote, Duration::from_millis(300)).await;
    assert!(
        matches!(r, Err(QuorumTlsError::HandshakeTimeout(_))),
        "{r:?}"
    );
    assert!(t0.elapsed() < SECS);

    let _silent = TcpStream::connect(addr).await.unwrap();
    let (s, remote) = listener.accept().await.unwrap();
    let t0 = Instant::now();
    let r = tls.accept(s, remote, SECS).await;
    assert!(matches!(r, Err(QuorumTlsError::PlaintextRefused)), "{r:?}");
    assert!(t0.elapsed() >= Duration::from_millis(200) && t0.elapsed() < SECS);
    drop(stalled);
}

#[test]
fn hosts_of_addresses() {
    assert_eq!(host_of("zk1.example:3888"), "zk1.example");
    assert_eq!(host_of("127.0.0.1:3888"), "127.0.0.1");
    assert_eq!(host_of("[::1]:3888"), "::1");
}
