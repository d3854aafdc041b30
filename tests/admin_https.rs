//! The AdminServer over HTTPS (`admin.portUnification`, `admin.forceHttps`, the stores of
//! `ssl.quorum.*`), against a live in-process server, with a rustls client trusting the test
//! CA of `src/tls/fixtures` and a tiny HTTP/1.1 client (one request per connection).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::{start_server, temp_data_dir, WAIT};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/tls/fixtures")
        .join(name)
}

/// The admin HTTPS settings of the fixtures' server certificate (SAN localhost, 127.0.0.1).
fn stores() -> String {
    format!(
        "ssl.quorum.keyStore.location={}\nssl.quorum.keyStore.password=serverpass\n\
         zookeeper.ssl.quorum.trustStore.location={}\nssl.quorum.trustStore.password=trustpass\n",
        fixture("server.jks").display(),
        fixture("truststore.jks").display()
    )
}

/// A client config trusting the CA in `ca_pem` only.
fn client_trusting(ca_pem: &str) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(fixture(ca_pem)).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

async fn tls_connect(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::IpAddress(addr.ip().into());
    tokio::time::timeout(
        WAIT,
        tokio_rustls::TlsConnector::from(config).connect(name, tcp),
    )
    .await
    .map_err(|_| std::io::Error::other("handshake timed out"))?
}

struct HttpReply {
    status: u16,
    headers: String,
    body: String,
}

/// Everything the server sends until it closes (a missing close_notify is fine here).
async fn read_all(io: &mut (impl AsyncRead + Unpin)) -> Vec<u8> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(WAIT, io.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return raw,
            Ok(Ok(n)) => raw.extend_from_slice(&buf[..n]),
            Err(_) => panic!("no close within {WAIT:?}; got {raw:?}"),
        }
    }
}

async fn get(mut io: impl AsyncRead + AsyncWrite + Unpin, target: &str) -> HttpReply {
    let req = format!("GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    io.write_all(req.as_bytes()).await.unwrap();
    io.flush().await.unwrap();
    let text = String::from_utf8(read_all(&mut io).await).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("header end");
    HttpReply {
        status: head.split(' ').nth(1).unwrap().parse().unwrap(),
        headers: head.to_ascii_lowercase(),
        body: body.to_owned(),
    }
}

async fn https_get(addr: SocketAddr, target: &str) -> HttpReply {
    let tls = tls_connect(addr, client_trusting("ca.pem")).await.unwrap();
    get(tls, target).await
}

async fn http_get(addr: SocketAddr, target: &str) -> HttpReply {
    get(TcpStream::connect(addr).await.unwrap(), target).await
}

fn json(r: &HttpReply) -> Value {
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.headers.contains("content-type: application/json"));
    serde_json::from_str(&r.body).unwrap()
}

/// `monitor` over HTTPS counts `n` admin requests that came over plain HTTP.
async fn assert_insecure_admin_count(admin: SocketAddr, n: i64) {
    let mntr = json(&https_get(admin, "/commands/monitor").await);
    assert_eq!(mntr["command"], "monitor");
    assert_eq!(mntr["insecure_admin_count"], n);
}

const STS: &str = "strict-transport-security: max-age=86400; includesubdomains";

#[tokio::test]
async fn unified_port_serves_https_and_counts_plain_http() {
    let server = start_server(&format!("admin.portUnification=true\n{}", stores())).await;
    let admin = server.admin_addr.expect("admin server on");

    let ruok = https_get(admin, "/commands/ruok").await;
    assert!(ruok.headers.contains(STS), "{}", ruok.headers);
    let ruok = json(&ruok);
    assert_eq!(ruok["command"], "ruok");
    assert!(ruok["error"].is_null());

    // plain HTTP on the same port: served, without the STS header, and counted
    let plain = http_get(admin, "/commands/ruok").await;
    assert!(!plain.headers.contains("strict-transport-security"));
    assert_eq!(json(&plain)["command"], "ruok");

    assert_insecure_admin_count(admin, 1).await;
    server.shutdown().await;
}

#[tokio::test]
async fn force_https_refuses_plain_http_and_bad_clients_only() {
    let server = start_server(&format!(
        "admin.forceHttps=true\nadmin.portUnification=false\nadmin.idleTimeout=500\n{}",
        stores()
    ))
    .await;
    let admin = server.admin_addr.expect("admin server on");

    // plain HTTP: the handshake fails and the connection closes without an HTTP answer
    let mut plain = TcpStream::connect(admin).await.unwrap();
    plain
        .write_all(b"GET /commands/ruok HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let raw = read_all(&mut plain).await;
    assert!(!raw.starts_with(b"HTTP/"), "{raw:?}");

    // a client that does not trust the server's CA gives up; the server goes on
    let untrusting = tls_connect(admin, client_trusting("rogue-nopass.pem")).await;
    assert!(untrusting.is_err());

    // a connection that never starts its handshake is closed after admin.idleTimeout
    let mut silent = TcpStream::connect(admin).await.unwrap();
    let t = std::time::Instant::now();
    assert!(read_all(&mut silent).await.is_empty());
    assert!(
        t.elapsed() >= Duration::from_millis(400),
        "{:?}",
        t.elapsed()
    );

    assert_insecure_admin_count(admin, 0).await;
    server.shutdown().await;
}

#[tokio::test]
async fn only_the_stores_of_ssl_quorum_are_read_and_metrics_stay_plain() {
    // JettyAdminServer ignores the quorum context's protocols and client auth: a protocol
    // list the quorum could not use does not stop the admin port, and no client
    // certificate is asked for although ssl.quorum.clientAuth defaults to need.
    let server = start_server(&format!(
        "admin.portUnification=true\nssl.quorum.enabledProtocols=TLSv1.1\n{}\n\
         metricsProvider.className=org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider\n\
         metricsProvider.httpHost=127.0.0.1\nmetricsProvider.httpPort=0",
        stores()
    ))
    .await;
    let admin = server.admin_addr.expect("admin server on");
    assert_eq!(
        json(&https_get(admin, "/commands/ruok").await)["command"],
        "ruok"
    );
    // the Prometheus endpoint has no TLS in 3.8
    let metrics = server.metrics_addr.expect("metrics endpoint on");
    let r = http_get(metrics, "/metrics").await;
    assert_eq!(r.status, 200);
    assert!(tls_connect(metrics, client_trusting("ca.pem"))
        .await
        .is_err());
    server.shutdown().await;
}

#[tokio::test]
async fn plain_admin_port_by_default_reads_no_store() {
    // without portUnification / forceHttps a broken store is never read
    let server = start_server(
        "ssl.quorum.keyStore.location=/nonexistent/keystore.jks\nadmin.portUnification=false",
    )
    .await;
    let admin = server.admin_addr.expect("admin server on");
    assert_eq!(
        json(&http_get(admin, "/commands/ruok").await)["command"],
        "ruok"
    );
    server.shutdown().await;
}

async fn start_error(extra: &str) -> String {
    let text = format!(
        "tickTime=200\ndataDir={}\nadmin.serverAddress=127.0.0.1\nadmin.serverPort=0\n{extra}\n",
        temp_data_dir().display()
    );
    let mut cfg = ferrokeeper::config::parse(&text, Path::new("zoo.cfg")).unwrap();
    cfg.client_port = Some(0);
    cfg.client_port_address = Some(std::net::Ipv4Addr::LOCALHOST.into());
    match ferrokeeper::server::start(cfg).await {
        Ok(server) => {
            server.shutdown().await;
            panic!("the server started with {extra}");
        }
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn a_bad_key_store_stops_the_server_naming_the_key_and_file() {
    let wrong_password = stores().replace("serverpass", "nope");
    let e = start_error(&format!("admin.forceHttps=true\n{wrong_password}")).await;
    assert!(e.contains("ssl.quorum.keyStore.location"), "{e}");
    assert!(e.contains("server.jks"), "{e}");

    let missing_trust = format!(
        "admin.portUnification=true\nssl.quorum.keyStore.location={}\n\
         ssl.quorum.keyStore.password=serverpass",
        fixture("server.jks").display()
    );
    let e = start_error(&missing_trust).await;
    assert!(e.contains("ssl.quorum.trustStore.location"), "{e}");

    let e = start_error(&format!(
        "admin.portUnification=true\n{}",
        stores().replace("truststore.jks", "no-such-truststore.jks")
    ))
    .await;
    assert!(e.contains("ssl.quorum.trustStore.location"), "{e}");
    assert!(e.contains("no-such-truststore.jks"), "{e}");
}
