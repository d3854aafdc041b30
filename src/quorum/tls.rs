//! TLS on the election (3888) and quorum (2888) sockets: `sslQuorum`, `portUnification`,
//! `ssl.quorum.*` and `sslQuorumReloadCertFiles`. Replaces, for 3.8: `QuorumPeer`'s
//! `isSslQuorum` / `shouldUsePortUnification`, `QuorumX509Util#createSSLSocket` as
//! `QuorumCnxManager#initiateConnection` and `Learner#connectToLeader` use it, and
//! `UnifiedServerSocket` as the election listener and `Leader`'s learner acceptor use it.
//!
//! As in 3.8:
//! * connections we open are TLS exactly when `sslQuorum=true`;
//! * a listener with `portUnification=true` takes TLS and plaintext peers (whatever
//!   `sslQuorum` says), one with only `sslQuorum=true` takes TLS only, else plaintext only;
//!   the kind is told by the first five bytes, waiting at most
//!   `ssl.quorum.handshakeDetectionTimeoutMillis` (silence counts as plaintext);
//! * what runs inside TLS (initial message, QuorumPackets) is unchanged;
//! * `ssl.quorum.hostnameVerification` checks the certificate of the peer we connect to
//!   against its address and its zoo.cfg host name, and the certificate of a peer that
//!   connects to us against its address (3.8 also tries the reverse-DNS name; we try the
//!   zoo.cfg names that resolve to that address instead).
//!
//! Every handshake runs in the task that owns the socket, bounded in time; a failure is an
//! error for that one connection. The material comes from a [`TlsSource`] at each
//! handshake, so a reloaded store reaches new connections only.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio_rustls::TlsStream;
use tokio_util::either::Either;

use crate::config::ServerConfig;
use crate::tls::detect::{detect, Detected};
use crate::tls::settings::DEFAULT_HANDSHAKE_DETECTION_TIMEOUT_MS;
use crate::tls::{java_name, TlsContextKind, TlsError, TlsSettings, TlsSource};

/// What a quorum or election listener takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerMode {
    Plaintext,
    /// `sslQuorum=true`, `portUnification=false`.
    TlsOnly,
    /// `portUnification=true`.
    Unified,
}

/// Why one quorum connection was not established; the peer is named by whoever logs it.
#[derive(Debug, thiserror::Error)]
pub enum QuorumTlsError {
    #[error(
        "plaintext connection refused: this quorum port takes TLS only (sslQuorum=true, \
         portUnification=false)"
    )]
    PlaintextRefused,
    #[error(
        "TLS connection refused: this quorum port takes plaintext only (sslQuorum=false, \
         portUnification=false)"
    )]
    TlsRefused,
    #[error("closed before sending anything")]
    ClosedEarly,
    #[error("TLS handshake did not finish within {0:?}")]
    HandshakeTimeout(Duration),
    #[error("TLS handshake failed: {0}")]
    Handshake(std::io::Error),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// The quorum TLS settings of this peer and its current material.
#[derive(Debug)]
pub struct QuorumTls {
    /// `sslQuorum`.
    pub ssl_quorum: bool,
    /// `portUnification`.
    pub port_unification: bool,
    /// Loaded when either of the above is on.
    source: Option<Arc<TlsSource>>,
    /// zoo.cfg host names by the addresses they resolve to, for the accepting side's
    /// hostname check.
    names_by_ip: HashMap<IpAddr, Vec<String>>,
    detection_timeout: Duration,
}

impl QuorumTls {
    /// No TLS anywhere (3.8's defaults).
    pub fn plaintext() -> Arc<Self> {
        Arc::new(QuorumTls {
            ssl_quorum: false,
            port_unification: false,
            source: None,
            names_by_ip: HashMap::new(),
            detection_timeout: Duration::from_millis(DEFAULT_HANDSHAKE_DETECTION_TIMEOUT_MS),
        })
    }

    /// The given switches over `source` (required when either is on). Checks that the
    /// configurations they need can be made, so a missing store fails here, at start-up.
    pub fn new(
        ssl_quorum: bool,
        port_unification: bool,
        source: Option<Arc<TlsSource>>,
        names_by_ip: HashMap<IpAddr, Vec<String>>,
    ) -> Result<Arc<Self>, TlsError> {
        let source = if ssl_quorum || port_unification {
            let source = source.ok_or_else(|| {
                TlsError::Build("sslQuorum / portUnification need ssl.quorum.* stores".to_owned())
            })?;
            // a listener takes TLS in both modes; only sslQuorum dials with it
            source.server_config()?;
            if ssl_quorum {
                source.client_config(&[])?;
            }
            Some(source)
        } else {
            None
        };
        let detection_timeout = source.as_ref().map_or(
            Duration::from_millis(DEFAULT_HANDSHAKE_DETECTION_TIMEOUT_MS),
            |s| s.material().settings.handshake_detection_timeout,
        );
        Ok(Arc::new(QuorumTls {
            ssl_quorum,
            port_unification,
            source,
            names_by_ip,
            detection_timeout,
        }))
    }

    /// From zoo.cfg: loads the `ssl.quorum.*` stores when `sslQuorum` or `portUnification`
    /// is on (an unusable store is an error naming its key and file) and resolves the
    /// members' host names.
    pub async fn from_config(cfg: &ServerConfig) -> Result<Arc<Self>, TlsError> {
        if !cfg.ssl_quorum && !cfg.port_unification {
            tracing::info!("Using insecure (non-TLS) quorum communication");
            return Ok(Self::plaintext());
        }
        tracing::info!(
            "Using {} quorum communication; port unification {}",
            if cfg.ssl_quorum {
                "TLS encrypted"
            } else {
                "insecure (non-TLS)"
            },
            if cfg.port_unification {
                "enabled"
            } else {
                "disabled"
            }
        );
        let settings = TlsSettings::from_config(TlsContextKind::Quorum, cfg)?;
        let source = tokio::task::spawn_blocking(move || TlsSource::load(settings))
            .await
            .map_err(|e| TlsError::Build(format!("loading the ssl.quorum.* stores: {e}")))??;
        let mut names_by_ip: HashMap<IpAddr, Vec<String>> = HashMap::new();
        for spec in cfg.servers.values() {
            for a in &spec.addresses {
                if a.host.parse::<IpAddr>().is_ok() {
                    continue;
                }
                // an unresolvable member is only missing from this table; dialling it
                // reports the problem
                let Ok(addrs) = tokio::net::lookup_host((a.host.as_str(), a.quorum_port)).await
                else {
                    continue;
                };
                for addr in addrs {
                    let names = names_by_ip.entry(addr.ip()).or_default();
                    if !names.contains(&a.host) {
                        names.push(a.host.clone());
                    }
                }
            }
        }
        Self::new(
            cfg.ssl_quorum,
            cfg.port_unification,
            Some(source),
            names_by_ip,
        )
    }

    /// The material in use, when TLS is on at all (for `sslQuorumReloadCertFiles`).
    pub fn source(&self) -> Option<&Arc<TlsSource>> {
        self.source.as_ref()
    }

    pub fn listener_mode(&self) -> ListenerMode {
        if self.port_unification {
            ListenerMode::Unified
        } else if self.ssl_quorum {
            ListenerMode::TlsOnly
        } else {
            ListenerMode::Plaintext
        }
    }

    fn tls_source(&self) -> Result<&Arc<TlsSource>, QuorumTlsError> {
        self.source.as_ref().ok_or_else(|| {
            QuorumTlsError::Tls(TlsError::Build(
                "no ssl.quorum.* material loaded".to_owned(),
            ))
        })
    }

    /// A connection accepted on a quorum or election port: tells TLS from plaintext, refuses
    /// the kind this listener does not take, runs the TLS handshake within `timeout` and
    /// checks the peer's certificate names its address (`hostnameVerification`).
    pub async fn accept(
        &self,
        stream: TcpStream,
        remote: SocketAddr,
        timeout: Duration,
    ) -> Result<QuorumStream, QuorumTlsError> {
        let kind = detect(&stream, self.detection_timeout)
            .await
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::UnexpectedEof => QuorumTlsError::ClosedEarly,
                _ => QuorumTlsError::Io(e),
            })?;
        match (self.listener_mode(), kind) {
            (ListenerMode::Plaintext, Detected::Plaintext)
            | (ListenerMode::Unified, Detected::Plaintext) => {
                return Ok(QuorumStream::Plain(stream));
            }
            (ListenerMode::Plaintext, Detected::Tls) => return Err(QuorumTlsError::TlsRefused),
            (ListenerMode::TlsOnly, Detected::Plaintext) => {
                return Err(QuorumTlsError::PlaintextRefused)
            }
            (ListenerMode::TlsOnly | ListenerMode::Unified, Detected::Tls) => {}
        }
        let source = self.tls_source()?;
        let acceptor = tokio_rustls::TlsAcceptor::from(source.server_config()?);
        let tls = match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
            Err(_) => return Err(QuorumTlsError::HandshakeTimeout(timeout)),
            Ok(Err(e)) => return Err(QuorumTlsError::Handshake(e)),
            Ok(Ok(tls)) => tls,
        };
        let session = tls.get_ref().1;
        if let Some(leaf) = session.peer_certificates().and_then(|c| c.first()) {
            let names = self
                .names_by_ip
                .get(&remote.ip())
                .map_or(&[][..], Vec::as_slice);
            source
                .material()
                .verify_peer_host(leaf, remote.ip(), names)?;
        }
        tracing::info!(
            "Accepted TLS connection from {remote} - {}",
            describe(session)
        );
        Ok(QuorumStream::Tls(Box::new(TlsStream::Server(tls))))
    }

    /// A connection we opened to `host` (as zoo.cfg names it): TLS with `sslQuorum`, the
    /// handshake bounded by `timeout`; the peer's certificate must name the address we
    /// reached or `host`.
    pub async fn connect(
        &self,
        stream: TcpStream,
        host: &str,
        timeout: Duration,
    ) -> Result<QuorumStream, QuorumTlsError> {
        if !self.ssl_quorum {
            return Ok(QuorumStream::Plain(stream));
        }
        let remote = stream.peer_addr()?;
        let also_accept: Vec<String> = if host.parse::<IpAddr>().is_ok() || host.is_empty() {
            Vec::new()
        } else {
            vec![host.to_owned()]
        };
        let config = self.tls_source()?.client_config(&also_accept)?;
        let connector = tokio_rustls::TlsConnector::from(config);
        let name = ServerName::IpAddress(remote.ip().into());
        let tls = match tokio::time::timeout(timeout, connector.connect(name, stream)).await {
            Err(_) => return Err(QuorumTlsError::HandshakeTimeout(timeout)),
            Ok(Err(e)) => return Err(QuorumTlsError::Handshake(e)),
            Ok(Ok(tls)) => tls,
        };
        tracing::info!(
            "SSL handshake complete with {remote} - {}",
            describe(tls.get_ref().1)
        );
        Ok(QuorumStream::Tls(Box::new(TlsStream::Client(tls))))
    }
}

/// "TLSv1_2 - TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", as 3.8 logs a session.
fn describe(session: &rustls::CommonState) -> String {
    let version = session
        .protocol_version()
        .map_or_else(|| "?".to_owned(), |v| format!("{v:?}"));
    let suite = session
        .negotiated_cipher_suite()
        .and_then(|s| java_name(s.suite()))
        .unwrap_or("?");
    format!("{version} - {suite}")
}

/// The host of a `host:port` / `[v6]:port` address string.
pub fn host_of(addr: &str) -> &str {
    if let Some(rest) = addr.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    addr.rsplit_once(':').map_or(addr, |(h, _)| h)
}

/// An election or quorum connection, plaintext or TLS.
pub enum QuorumStream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl std::fmt::Debug for QuorumStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            QuorumStream::Plain(_) => "QuorumStream::Plain",
            QuorumStream::Tls(_) => "QuorumStream::Tls",
        })
    }
}

impl QuorumStream {
    pub fn is_tls(&self) -> bool {
        matches!(self, QuorumStream::Tls(_))
    }

    /// Halves for a reader task and a writer task. A plaintext socket splits for free; a
    /// TLS session is shared behind tokio's split lock.
    pub fn into_split(self) -> (QuorumReadHalf, QuorumWriteHalf) {
        match self {
            QuorumStream::Plain(s) => {
                let (r, w) = s.into_split();
                (Either::Left(r), Either::Left(w))
            }
            QuorumStream::Tls(s) => {
                let (r, w) = tokio::io::split(*s);
                (Either::Right(r), Either::Right(w))
            }
        }
    }
}

/// The reading half of a [`QuorumStream`] (tokio-util's `Either` reads from whichever side
/// it holds).
pub type QuorumReadHalf = Either<OwnedReadHalf, tokio::io::ReadHalf<TlsStream<TcpStream>>>;

/// The writing half of a [`QuorumStream`]. With TLS, bytes may wait in the session until
/// a flush: writers flush after each batch.
pub type QuorumWriteHalf = Either<OwnedWriteHalf, tokio::io::WriteHalf<TlsStream<TcpStream>>>;

impl AsyncRead for QuorumStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            QuorumStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            QuorumStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for QuorumStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            QuorumStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            QuorumStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            QuorumStream::Plain(s) => Pin::new(s).poll_flush(cx),
            QuorumStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            QuorumStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            QuorumStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
