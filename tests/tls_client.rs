//! TLS on the client ports (issue #14): `secureClientPort`, `client.portUnification`, x509
//! authentication and certificate reload, against served ferrokeeper instances on free
//! 127.0.0.1 ports, with a rustls client speaking the Jute protocol. The PKI is
//! `compat-tests/lib/pki.py`'s (openssl + keytool), made once per test run: the CA, a server
//! certificate, clients alice / bob / super, a client of an untrusted CA, an expired client.
//! Every wait is bounded; every process a test starts is stopped by its PID.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::pki::{pki, pki_file};
use common::{create, create_with_acl, free_port, temp_data_dir, Client};
use ferrokeeper::jute::codes::{perms, ErrorCode, OpCode};
use ferrokeeper::jute::data::Acl;
use ferrokeeper::jute::proto::{
    AuthPacket, GetAclResponse, GetDataRequest, GetDataResponse, WhoAmIResponse,
};
use ferrokeeper::server::RunningServer;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

const WAIT: Duration = Duration::from_secs(10);
const PASS: &str = "changeit";

/// `X500Principal.getName()` of the pki's client certificates.
const ALICE: &str = "CN=alice,OU=Eng,O=Example,C=US";
const BOB: &str = "CN=bob,OU=Ops,O=Example,C=US";
const ADMIN: &str = "CN=admin,O=Example,C=US";

/// zoo.cfg lines for the client TLS context: the server's key store as JKS, the trust store
/// as PKCS12 (`pki.py` makes both).
fn ssl_lines(key_store: &str) -> String {
    format!(
        "ssl.keyStore.location={key_store}\nssl.keyStore.password={PASS}\n\
         ssl.trustStore.location={}\nssl.trustStore.password={PASS}\n",
        pki_file("truststore.p12")
    )
}

struct Ports {
    server: RunningServer,
    plain: SocketAddr,
    secure: SocketAddr,
}

/// A standalone server with `clientPort` and `secureClientPort` on ephemeral ports.
async fn start(extra: &str) -> Ports {
    let text = format!(
        "tickTime=200\ndataDir={}\nadmin.enableServer=false\n4lw.commands.whitelist=*\n\
         secureClientPort=1\n{}{extra}\n",
        temp_data_dir().display(),
        ssl_lines(&pki_file("server.jks")),
    );
    let mut cfg = ferrokeeper::config::parse(&text, Path::new("zoo.cfg")).expect("test config");
    // zoo.cfg treats port 0 as unset; the tests want ephemeral ports
    cfg.client_port = Some(0);
    cfg.client_port_address = Some(Ipv4Addr::LOCALHOST.into());
    cfg.secure_client_port = Some(0);
    cfg.secure_client_port_address = Some(Ipv4Addr::LOCALHOST.into());
    let server = ferrokeeper::server::start(cfg)
        .await
        .expect("server starts");
    let plain = server.client_addr;
    let secure = server.secure_client_addr.expect("secure port open");
    assert_ne!(plain, secure);
    Ports {
        server,
        plain,
        secure,
    }
}

/// A rustls client trusting the test CA, presenting `who`'s certificate (None: none).
fn client_config(who: Option<&str>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(pki().join("ca.pem")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    let config = match who {
        Some(who) => {
            let chain = CertificateDer::pem_file_iter(pki().join(format!("{who}.crt")))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            let key = PrivateKeyDer::from_pem_file(pki().join(format!("{who}.key"))).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    Arc::new(config)
}

/// TLS to `addr` as `who`; the error when the handshake fails.
async fn tls(addr: SocketAddr, who: Option<&str>) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::IpAddress(Ipv4Addr::LOCALHOST.into());
    let connecting = TlsConnector::from(client_config(who)).connect(name, tcp);
    // with TLS 1.2 a server that refuses our certificate may do so after this returns:
    // callers then see the connection close
    tokio::time::timeout(WAIT, connecting).await?
}

/// A session over TLS as `who`; None when the server refused or closed.
async fn tls_session(addr: SocketAddr, who: Option<&str>) -> Option<Client<TlsStream<TcpStream>>> {
    let stream = tls(addr, who).await.ok()?;
    Client::handshake(stream, 0, Bytes::from_static(&[0; 16]), 30_000, 0).await
}

fn get(path: &str) -> GetDataRequest {
    GetDataRequest {
        path: path.into(),
        watch: false,
    }
}

async fn whoami<S>(c: &mut Client<S>) -> Vec<(String, String)>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let r = c.call_empty(OpCode::WHO_AM_I).await;
    assert_eq!(r.err(), ErrorCode::OK);
    r.decode::<WhoAmIResponse>()
        .client_info
        .into_iter()
        .map(|i| (i.auth_scheme, i.user))
        .collect()
}

/// A four-letter word's answer; over TLS as `who` when given.
async fn four_letter(addr: SocketAddr, word: &[u8], tls_as: Option<Option<&str>>) -> String {
    let mut out = Vec::new();
    match tls_as {
        Some(who) => {
            let mut s = tls(addr, who).await.unwrap();
            s.write_all(word).await.unwrap();
            let _ = tokio::time::timeout(WAIT, s.read_to_end(&mut out)).await;
        }
        None => {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(word).await.unwrap();
            let _ = tokio::time::timeout(WAIT, s.read_to_end(&mut out)).await;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// True once the server closed `stream` (bounded).
async fn closed<S: tokio::io::AsyncRead + Unpin>(stream: &mut S) -> bool {
    closed_within(stream, WAIT).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_sessions_work_and_plaintext_on_the_tls_port_is_refused() {
    let p = start("").await;
    let mut alice = tls_session(p.secure, Some("alice"))
        .await
        .expect("TLS session");
    let r = alice
        .call(OpCode::CREATE, &create("/tls", b"over tls", 0))
        .await;
    assert_eq!(r.err(), ErrorCode::OK);
    let r = alice.call(OpCode::GET_DATA, &get("/tls")).await;
    assert_eq!(
        r.decode::<GetDataResponse>().data.unwrap(),
        &b"over tls"[..]
    );
    // the certificate's id is the session's before its first request, in 3.8's order
    assert_eq!(
        whoami(&mut alice).await,
        [
            ("x509".to_owned(), ALICE.to_owned()),
            ("ip".to_owned(), "127.0.0.1".to_owned())
        ]
    );

    // a plaintext client on the TLS port: closed, and nothing else is affected
    let refused = Client::connect_with(p.secure, 0, Bytes::from_static(&[0; 16]), 30_000, 0).await;
    assert!(refused.is_none(), "a plaintext handshake on the TLS port");
    let r = alice.call(OpCode::GET_DATA, &get("/tls")).await;
    assert_eq!(r.err(), ErrorCode::OK);
    // the plaintext port serves plaintext clients, which have no x509 id
    let mut plain = Client::connect(p.plain).await;
    assert_eq!(
        whoami(&mut plain).await,
        [("ip".to_owned(), "127.0.0.1".to_owned())]
    );
    let r = plain.call(OpCode::GET_DATA, &get("/tls")).await;
    assert_eq!(
        r.decode::<GetDataResponse>().data.unwrap(),
        &b"over tls"[..]
    );
    // and TLS is not spoken on the plaintext port
    assert!(tls_session(p.plain, Some("alice")).await.is_none());
    p.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_expired_and_missing_client_certificates_are_refused() {
    let p = start("").await;
    let mut alice = tls_session(p.secure, Some("alice"))
        .await
        .expect("TLS session");
    for who in [Some("rogue-client"), Some("expired"), None] {
        // TLS 1.2: the client's side of the handshake may finish before the server refuses,
        // so the refusal shows as a closed connection at the latest
        if let Ok(mut s) = tls(p.secure, who).await {
            let hello = common::frame(&[0; 45]);
            let _ = s.write_all(&hello).await;
            assert!(closed(&mut s).await, "{who:?} must be refused");
        }
        assert!(tls_session(p.secure, who).await.is_none(), "{who:?}");
    }
    let r = alice.call(OpCode::EXISTS, &exists_req("/")).await;
    assert_eq!(r.err(), ErrorCode::OK);
    assert!(tls_session(p.secure, Some("bob")).await.is_some());
    p.server.shutdown().await;
}

fn exists_req(path: &str) -> ferrokeeper::jute::proto::ExistsRequest {
    ferrokeeper::jute::proto::ExistsRequest {
        path: path.into(),
        watch: false,
    }
}

/// A node alice alone may read: bob gets NoAuth, the x509 super user reads it; an x509 ACL
/// id that is no DN is InvalidACL; `auth` expands to the x509 id; addauth x509 confirms a
/// certificate over TLS and fails (closing the session) over plaintext.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x509_ids_in_acls_super_user_and_addauth() {
    let p = start(&format!("X509AuthenticationProvider.superUser={ADMIN}\n")).await;
    let mut alice = tls_session(p.secure, Some("alice")).await.unwrap();
    let only_alice = create_with_acl("/alice", b"secret", perms::ALL, "x509", ALICE);
    assert_eq!(
        alice.call(OpCode::CREATE, &only_alice).await.err(),
        ErrorCode::OK
    );
    let r = alice.call(OpCode::GET_DATA, &get("/alice")).await;
    assert_eq!(r.decode::<GetDataResponse>().data.unwrap(), &b"secret"[..]);

    let mut bob = tls_session(p.secure, Some("bob")).await.unwrap();
    assert_eq!(
        bob.call(OpCode::GET_DATA, &get("/alice")).await.err(),
        ErrorCode::NO_AUTH
    );
    let mut plain = Client::connect(p.plain).await;
    assert_eq!(
        plain.call(OpCode::GET_DATA, &get("/alice")).await.err(),
        ErrorCode::NO_AUTH
    );

    let mut admin = tls_session(p.secure, Some("super")).await.unwrap();
    let ids = whoami(&mut admin).await;
    assert!(
        ids.contains(&("super".to_owned(), ADMIN.to_owned())),
        "{ids:?}"
    );
    let r = admin.call(OpCode::GET_DATA, &get("/alice")).await;
    assert_eq!(r.decode::<GetDataResponse>().data.unwrap(), &b"secret"[..]);

    // bob may set an ACL naming someone else's DN, but not one that is no DN
    let not_a_dn = create_with_acl("/bad", b"", perms::ALL, "x509", "alice");
    assert_eq!(
        bob.call(OpCode::CREATE, &not_a_dn).await.err(),
        ErrorCode::INVALID_ACL
    );
    let for_alice = create_with_acl("/for-alice", b"", perms::READ, "x509", ALICE);
    assert_eq!(
        bob.call(OpCode::CREATE, &for_alice).await.err(),
        ErrorCode::OK
    );
    assert_eq!(
        bob.call(OpCode::GET_DATA, &get("/for-alice")).await.err(),
        ErrorCode::NO_AUTH
    );
    assert_eq!(
        alice.call(OpCode::GET_DATA, &get("/for-alice")).await.err(),
        ErrorCode::OK
    );

    // `auth` is bob's x509 id (ip ids are not lent to `auth`)
    let auth = create_with_acl("/bobs", b"", perms::ALL, "auth", "");
    assert_eq!(bob.call(OpCode::CREATE, &auth).await.err(), ErrorCode::OK);
    let r = bob.call(OpCode::GET_ACL, &get_acl_req("/bobs")).await;
    assert_eq!(
        r.decode::<GetAclResponse>().acl,
        [Acl::new(perms::ALL, "x509", BOB)]
    );

    // addauth x509 over TLS: the certificate's id again, nothing new
    let addauth = AuthPacket {
        auth_type: 0,
        scheme: "x509".into(),
        auth: Bytes::from_static(b"CN=mallory"),
    };
    assert_eq!(bob.call(OpCode::AUTH, &addauth).await.err(), ErrorCode::OK);
    assert!(!whoami(&mut bob)
        .await
        .iter()
        .any(|(_, id)| id.contains("mallory")));
    // over plaintext: AuthFailed, then the connection closes
    let r = plain.call(OpCode::AUTH, &addauth).await;
    assert_eq!(r.err(), ErrorCode::AUTH_FAILED);
    assert!(plain.is_closed().await);
    p.server.shutdown().await;
}

fn get_acl_req(path: &str) -> ferrokeeper::jute::proto::GetAclRequest {
    ferrokeeper::jute::proto::GetAclRequest { path: path.into() }
}

/// Four-letter words inside TLS on the secure port; `cons` lists the sessions of the port
/// it is asked on (3.8's two factories), `srvr` counts every connection, the asking one too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_letter_words_over_tls() {
    let p = start("").await;
    let _alice = tls_session(p.secure, Some("alice")).await.unwrap();
    let _plain = Client::connect(p.plain).await;
    assert_eq!(
        four_letter(p.secure, b"ruok", Some(Some("bob"))).await,
        "imok"
    );
    let sessions = |cons: &str| cons.lines().filter(|l| l.contains("sid=0x")).count();
    let secure_cons = four_letter(p.secure, b"cons", Some(Some("bob"))).await;
    let plain_cons = four_letter(p.plain, b"cons", None).await;
    assert_eq!(sessions(&secure_cons), 1, "{secure_cons}");
    assert_eq!(sessions(&plain_cons), 1, "{plain_cons}");
    assert_ne!(secure_cons, plain_cons);
    let srvr = four_letter(p.secure, b"srvr", Some(Some("bob"))).await;
    assert!(srvr.contains("Connections: 3"), "{srvr}");
    p.server.shutdown().await;
}

/// `client.portUnification`: TLS and plaintext clients and four-letter words on clientPort.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_unification_serves_both_kinds() {
    let provider = "authProvider.1=org.apache.zookeeper.server.auth.X509AuthenticationProvider";
    let p = start(&format!("client.portUnification=true\n{provider}\n")).await;
    let mut alice = tls_session(p.plain, Some("alice"))
        .await
        .expect("TLS on clientPort");
    assert!(whoami(&mut alice)
        .await
        .contains(&("x509".to_owned(), ALICE.to_owned())));
    assert_eq!(
        alice
            .call(OpCode::CREATE, &create("/u", b"both", 0))
            .await
            .err(),
        ErrorCode::OK
    );
    let mut plain = Client::connect(p.plain).await;
    let r = plain.call(OpCode::GET_DATA, &get("/u")).await;
    assert_eq!(r.decode::<GetDataResponse>().data.unwrap(), &b"both"[..]);
    // four bytes decide nothing in a TLS record header: 3.8 falls back to plaintext at once
    assert_eq!(four_letter(p.plain, b"ruok", None).await, "imok");
    assert_eq!(
        four_letter(p.plain, b"ruok", Some(Some("bob"))).await,
        "imok"
    );
    // the secure port stays TLS only
    assert!(
        Client::connect_with(p.secure, 0, Bytes::from_static(&[0; 16]), 30_000, 0)
            .await
            .is_none()
    );
    p.server.shutdown().await;
}

/// 3.8.0 with `client.portUnification` and no x509 provider registered closes every TLS
/// client that presents a certificate ("X509 Auth provider not found: x509"); plaintext
/// clients are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_unification_without_the_x509_provider_refuses_certificates() {
    let text = format!(
        "tickTime=200\ndataDir={}\nadmin.enableServer=false\nclient.portUnification=true\n{}",
        temp_data_dir().display(),
        ssl_lines(&pki_file("server.jks")),
    );
    let mut cfg = ferrokeeper::config::parse(&text, Path::new("zoo.cfg")).unwrap();
    assert!(!cfg.x509_auth_provider);
    cfg.client_port = Some(0);
    cfg.client_port_address = Some(Ipv4Addr::LOCALHOST.into());
    let server = ferrokeeper::server::start(cfg).await.unwrap();
    assert!(tls_session(server.client_addr, Some("alice"))
        .await
        .is_none());
    assert!(common::exists(&mut Client::connect(server.client_addr).await, "/").await);
    server.shutdown().await;
}

/// A rotated key store reaches new handshakes; a session opened before keeps working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_store_is_used_by_new_handshakes() {
    let dir = temp_data_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let live = dir.join("live.p12");
    std::fs::copy(pki().join("server.p12"), &live).unwrap();
    let p = start(&format!(
        "ssl.keyStore.location={}\nssl.keyStore.type=PKCS12\n",
        live.display()
    ))
    .await;
    let leaf = |s: &TlsStream<TcpStream>| s.get_ref().1.peer_certificates().unwrap()[0].to_vec();
    let before = leaf(&tls(p.secure, Some("bob")).await.unwrap());
    let mut alice = tls_session(p.secure, Some("alice")).await.unwrap();
    assert_eq!(
        alice
            .call(OpCode::CREATE, &create("/r", b"", 0))
            .await
            .err(),
        ErrorCode::OK
    );

    // alice's certificate (CA-signed, SAN 127.0.0.1) becomes the server's, written whole
    let next = dir.join("live.p12.new");
    std::fs::copy(pki().join("alice.p12"), &next).unwrap();
    std::fs::rename(&next, &live).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let after = loop {
        let seen = leaf(&tls(p.secure, Some("bob")).await.unwrap());
        if seen != before {
            break seen;
        }
        assert!(
            Instant::now() < deadline,
            "the rotated certificate was never served"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let alice_crt = CertificateDer::pem_file_iter(pki().join("alice.crt"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(after, alice_crt.to_vec());
    assert_eq!(
        alice.call(OpCode::EXISTS, &exists_req("/r")).await.err(),
        ErrorCode::OK
    );
    assert!(tls_session(p.secure, Some("bob")).await.is_some());
    p.server.shutdown().await;
}

/// The binary as an operator runs it, logging to a file; killed by PID when dropped.
struct Process {
    child: Child,
    log: PathBuf,
}

impl Process {
    fn start(extra: &str) -> (Process, u16, u16) {
        let dir = temp_data_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let (plain, secure) = (free_port(), free_port());
        let cfg = dir.join("zoo.cfg");
        std::fs::write(
            &cfg,
            format!(
                "tickTime=500\ndataDir={}\nclientPort={plain}\nclientPortAddress=127.0.0.1\n\
                 secureClientPort={secure}\nsecureClientPortAddress=127.0.0.1\n\
                 admin.enableServer=false\n{extra}",
                dir.display()
            ),
        )
        .unwrap();
        let log = dir.join("server.log");
        let child = Command::new(env!("CARGO_BIN_EXE_ferrokeeper"))
            .arg(&cfg)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        (Process { child, log }, plain, secure)
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Wait (bounded) for a log line holding every needle; returns it.
    async fn log_line(&self, needles: &[&str], bound: Duration) -> String {
        let deadline = Instant::now() + bound;
        loop {
            let text = self.log_text();
            if let Some(line) = text.lines().find(|l| needles.iter().all(|n| l.contains(n))) {
                return line.to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "no line with {needles:?} in:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn exit_code(&mut self, bound: Duration) -> Option<i32> {
        let deadline = Instant::now() + bound;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn connect_when_up(addr: SocketAddr) -> TcpStream {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(s) = TcpStream::connect(addr).await {
            return s;
        }
        assert!(Instant::now() < deadline, "{addr} never came up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Each kind of bad client: one log line naming its address and the reason, its
/// connection closed, the server serving on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_clients_get_one_log_line_each() {
    let (server, _, secure) = Process::start(&ssl_lines(&pki_file("server.pem")));
    let secure = SocketAddr::from(([127, 0, 0, 1], secure));
    drop(connect_when_up(secure).await);

    // plaintext on the TLS port
    let mut s = TcpStream::connect(secure).await.unwrap();
    let port = s.local_addr().unwrap().port().to_string();
    s.write_all(&common::frame(&[0; 45])).await.unwrap();
    assert!(closed(&mut s).await);
    let line = server
        .log_line(&[&port, "TLS handshake failed"], WAIT)
        .await;
    assert!(line.contains("not a TLS client"), "{line}");

    // untrusted CA, expired
    for (who, reason) in [
        ("rogue-client", "not issued by a CA"),
        ("expired", "expired"),
    ] {
        let tcp = TcpStream::connect(secure).await.unwrap();
        let port = tcp.local_addr().unwrap().port().to_string();
        let name = ServerName::IpAddress(Ipv4Addr::LOCALHOST.into());
        let connector = TlsConnector::from(client_config(Some(who)));
        if let Ok(Ok(mut s)) = tokio::time::timeout(WAIT, connector.connect(name, tcp)).await {
            let _ = s.write_all(&common::frame(&[0; 45])).await;
            assert!(closed(&mut s).await, "{who}");
        }
        let line = server
            .log_line(&[&port, "TLS handshake failed"], WAIT)
            .await;
        assert!(line.contains(reason), "{who}: {line}");
    }

    // half a ClientHello, then gone
    let mut s = TcpStream::connect(secure).await.unwrap();
    let port = s.local_addr().unwrap().port().to_string();
    s.write_all(&[0x16, 0x03, 0x01, 0x00, 0x80, 0x01, 0x00])
        .await
        .unwrap();
    drop(s);
    let line = server
        .log_line(&[&port, "TLS handshake failed"], WAIT)
        .await;
    assert!(line.contains("disconnected"), "{line}");

    // a stalled handshake is closed within the handshake timeout (10 s)
    let mut s = TcpStream::connect(secure).await.unwrap();
    let port = s.local_addr().unwrap().port().to_string();
    s.write_all(&[0x16, 0x03]).await.unwrap();
    let started = Instant::now();
    assert!(closed_within(&mut s, Duration::from_secs(15)).await);
    assert!(started.elapsed() >= Duration::from_secs(8), "closed early");
    let line = server
        .log_line(&[&port, "TLS handshake failed"], WAIT)
        .await;
    assert!(line.contains("not finished within the timeout"), "{line}");

    // and the server serves on
    let mut alice = tls_session(secure, Some("alice"))
        .await
        .expect("still serving");
    assert_eq!(
        alice.call(OpCode::EXISTS, &exists_req("/")).await.err(),
        ErrorCode::OK
    );
}

/// True once the server closed `s`, false if it has not within `bound`.
async fn closed_within<S: tokio::io::AsyncRead + Unpin>(s: &mut S, bound: Duration) -> bool {
    let mut buf = [0u8; 64];
    let deadline = tokio::time::Instant::now() + bound;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

/// A key store that cannot be used stops start-up with 2, naming the key and the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unusable_key_store_stops_start_up() {
    let wrong_password = format!(
        "ssl.keyStore.location={}\nssl.keyStore.password=wrong\n\
         ssl.trustStore.location={}\nssl.trustStore.password={PASS}\n",
        pki_file("server.jks"),
        pki_file("truststore.jks")
    );
    let missing = ssl_lines("/nonexistent/keystore.jks");
    for (cfg, needles) in [
        (
            wrong_password,
            vec!["ssl.keyStore.location".to_owned(), pki_file("server.jks")],
        ),
        (
            missing,
            vec![
                "ssl.keyStore.location".to_owned(),
                "/nonexistent/keystore.jks".to_owned(),
            ],
        ),
    ] {
        let (mut server, plain, _) = Process::start(&cfg);
        assert_eq!(
            server.exit_code(Duration::from_secs(30)).await,
            Some(2),
            "{}",
            server.log_text()
        );
        let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
        let line = server.log_line(&needles, WAIT).await;
        assert!(line.contains("Invalid config"), "{line}");
        // nothing was bound
        assert!(TcpStream::connect(("127.0.0.1", plain)).await.is_err());
    }
}

/// The Netty client sends its requests right behind the ConnectRequest, before the
/// ConnectResponse: they are answered after it, in the session being created (3.8 stops
/// reading until the session is set up), over TLS and plaintext alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_pipelined_behind_the_connect_request_are_served() {
    use ferrokeeper::jute::proto::{ConnectRequest, ConnectResponse, ReplyHeader};
    use ferrokeeper::jute::Jute;

    async fn pipelined<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(mut s: S) {
        let connect = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            time_out: 30_000,
            session_id: 0,
            passwd: Bytes::from_static(&[0; 16]),
            read_only: Some(false),
        };
        let mut bytes = common::frame(&connect.to_vec());
        let mut request = 1i32.to_be_bytes().to_vec();
        request.extend(OpCode::CREATE.0.to_be_bytes());
        request.extend(create("/pipelined", b"p", 0).to_vec());
        bytes.extend(common::frame(&request));
        let mut request = 2i32.to_be_bytes().to_vec();
        request.extend(OpCode::GET_DATA.0.to_be_bytes());
        request.extend(get("/pipelined").to_vec());
        bytes.extend(common::frame(&request));
        s.write_all(&bytes).await.unwrap();
        let rsp = ConnectResponse::from_bytes(&common::read_frame(&mut s).await.unwrap()).unwrap();
        assert_ne!(rsp.session_id, 0);
        for xid in [1, 2] {
            let frame = common::read_frame(&mut s).await.expect("a reply");
            let (_, header) = ReplyHeader::decode(&frame).unwrap();
            assert_eq!((header.xid, header.err), (xid, ErrorCode::OK));
        }
    }

    let p = start("").await;
    pipelined(tls(p.secure, Some("alice")).await.unwrap()).await;
    let mut plain = Client::connect(p.plain).await;
    let req = ferrokeeper::jute::proto::DeleteRequest {
        path: "/pipelined".into(),
        version: -1,
    };
    assert_eq!(plain.call(OpCode::DELETE, &req).await.err(), ErrorCode::OK);
    pipelined(TcpStream::connect(p.plain).await.unwrap()).await;
    p.server.shutdown().await;
}
