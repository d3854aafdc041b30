//! TLS on the client port (3.8's `NettyServerCnxnFactory` with an `SslHandler`, or with
//! `DualModeSslHandler` under `client.portUnification`), and the x509 ids of the client's
//! certificate (`CertificateVerifier` → `X509AuthenticationProvider#handleAuthentication`).
//!
//! Runs in the connection's task, never on the core: port-unification detection (bounded by
//! `ssl.handshakeDetectionTimeoutMillis`), the handshake (bounded by the connection's
//! handshake timeout, 10 s, Netty's `SslHandler` default), then the certificate's ids. Each
//! failure is one log line with the client's address and the reason, and closes only that
//! connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::jute::data::Id;
use crate::tls::detect::{detect, Detected};
use crate::tls::{peer_x509_id, ClientAuth, TlsSource};

/// A client port's TLS: its material (followed for certificate reloads) and how client
/// certificates become auth ids.
#[derive(Debug)]
pub struct ClientTls {
    /// The client context's material (`ssl.*`).
    pub source: Arc<TlsSource>,
    /// `client.portUnification`: plaintext clients are served too, told apart by their
    /// first bytes. False on `secureClientPort`.
    pub unified: bool,
    /// The `x509` auth provider is registered (`ServerConfig::x509_auth_provider`).
    pub x509_provider: bool,
    /// `X509AuthenticationProvider.superUser`.
    pub super_user: Option<String>,
}

/// What came of a new connection on a TLS port.
pub(super) enum Accepted {
    /// A plaintext client on a port-unified port.
    Plaintext(TcpStream),
    /// A TLS client, with the ids its certificate authenticated.
    Tls(Box<TlsStream<TcpStream>>, Vec<Id>),
    /// Closed (said why in the log).
    Closed,
}

/// TLS (or, on a port-unified port, plaintext) for a new connection.
pub(super) async fn accept(
    stream: TcpStream,
    remote: SocketAddr,
    tls: &ClientTls,
    handshake_timeout: Duration,
) -> Accepted {
    if tls.unified {
        let timeout = tls.source.material().settings.handshake_detection_timeout;
        match detect(&stream, timeout).await {
            Ok(Detected::Plaintext) => return Accepted::Plaintext(stream),
            Ok(Detected::Tls) => {}
            Err(e) => {
                tracing::debug!(client = %remote, error = %e, "connection closed before sending anything");
                return Accepted::Closed;
            }
        }
    }
    let config = match tls.source.server_config() {
        Ok(config) => config,
        Err(e) => {
            tracing::warn!(client = %remote, error = %e, "no usable TLS configuration; closing");
            return Accepted::Closed;
        }
    };
    let acceptor = TlsAcceptor::from(config);
    let stream = match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            log_handshake_failure(remote, &e);
            return Accepted::Closed;
        }
        Err(_) => {
            tracing::warn!(
                client = %remote,
                timeout = ?handshake_timeout,
                "TLS handshake failed: not finished within the timeout; closing"
            );
            return Accepted::Closed;
        }
    };
    match certificate_ids(&stream, remote, tls) {
        Some(ids) => Accepted::Tls(Box::new(stream), ids),
        None => Accepted::Closed,
    }
}

/// `CertificateVerifier#operationComplete`: with `clientAuth` need or want, a presented
/// certificate is handed to the x509 provider, which adds the id `x509:<subject>` (and
/// `super:<subject>` first for `X509AuthenticationProvider.superUser`). Without the
/// provider registered, 3.8 closes the connection. None: close.
fn certificate_ids(
    stream: &TlsStream<TcpStream>,
    remote: SocketAddr,
    tls: &ClientTls,
) -> Option<Vec<Id>> {
    let (_, session) = stream.get_ref();
    // the verifier that checked the chain is the one the handshake used; its clientAuth
    // decides, as the engine's flags do in 3.8
    if tls.source.material().settings.client_auth == ClientAuth::None {
        return Some(Vec::new());
    }
    let certificates = match session.peer_certificates() {
        Some(c) if !c.is_empty() => c,
        // `want` and no certificate: served without an x509 id
        _ => return Some(Vec::new()),
    };
    if !tls.x509_provider {
        tracing::error!(client = %remote, "X509 Auth provider not found: x509; closing (register it with authProvider.<n>=org.apache.zookeeper.server.auth.X509AuthenticationProvider)");
        return None;
    }
    let Some(dn) = peer_x509_id(Some(certificates)) else {
        tracing::error!(client = %remote, "Authentication failed: the client certificate's subject cannot be read; closing");
        return None;
    };
    let mut ids = Vec::with_capacity(2);
    if tls.super_user.as_deref() == Some(dn.as_str()) {
        tracing::info!(client = %remote, "Authenticated Id '{dn}' as super user");
        ids.push(Id::new("super", &dn));
    }
    tracing::info!(client = %remote, "Authenticated Id '{dn}' for Scheme 'x509'");
    ids.push(Id::new("x509", &dn));
    Some(ids)
}

/// One line saying why a handshake failed, in words an operator can act on.
fn log_handshake_failure(remote: SocketAddr, e: &std::io::Error) {
    use rustls::{CertificateError, Error as TlsErr};
    let reason = match e.get_ref().and_then(|inner| inner.downcast_ref::<TlsErr>()) {
        Some(TlsErr::InvalidMessage(m)) => format!(
            "not a TLS client: its first bytes are not a TLS handshake ({m:?}); a plaintext \
             client on a TLS port?"
        ),
        Some(TlsErr::NoCertificatesPresented) => {
            "the client sent no certificate, and ssl.clientAuth is need".to_owned()
        }
        Some(TlsErr::InvalidCertificate(c)) => {
            let what = match c {
                CertificateError::UnknownIssuer => {
                    "not issued by a CA in ssl.trustStore".to_owned()
                }
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                    format!("expired ({c:?})")
                }
                CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                    format!("not valid yet ({c:?})")
                }
                other => format!("{other:?}"),
            };
            format!("the client certificate is rejected: {what}")
        }
        Some(TlsErr::AlertReceived(alert)) => format!(
            "the client aborted the handshake with alert {alert:?} (does it trust our \
             certificate?)"
        ),
        Some(other) => other.to_string(),
        None if matches!(
            e.kind(),
            std::io::ErrorKind::UnexpectedEof
                | std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::BrokenPipe
        ) =>
        {
            tracing::info!(client = %remote, "TLS handshake failed: the client disconnected during it");
            return;
        }
        None => e.to_string(),
    };
    tracing::warn!(client = %remote, "TLS handshake failed: {reason}; closing");
}
