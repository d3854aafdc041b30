//! HTTPS on the AdminServer, as 3.8's `JettyAdminServer` offers it (3.8.0 and 3.8.6 agree).
//!
//! * `admin.portUnification=true`: one port serves HTTPS and plain HTTP
//!   (`UnifiedConnectionFactory`); every plain connection counts in `insecure_admin_count`.
//! * `admin.forceHttps=true`: HTTPS only (`SslConnectionFactory`); wins over
//!   `admin.portUnification`, as in 3.8.
//! * Neither (the default): plain HTTP only, no store is read.
//!
//! The key and trust stores are `ssl.quorum.keyStore.*` / `ssl.quorum.trustStore.*` (3.8 reads
//! them through `QuorumX509Util`'s property names) and nothing else of the quorum context:
//! protocols, suites and client auth are Jetty's `SslContextFactory.Server` defaults, so no
//! client certificate is asked for (see [`TlsMaterial::admin_server_config`]). Both stores
//! must load; Jetty never reloads them, and neither do we.
//!
//! Differences from 3.8: a store that cannot be loaded stops the server with the key and the
//! file named (3.8's `AdminServerFactory` logs "Unable to start JettyAdminServer" and runs
//! without one); the unified port tells TLS from plain text by a whole TLS record header
//! ([`detect`]) where Jetty looks at the first byte only, which differs only for clients that
//! are neither.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::admin::ServerStats;
use crate::config::ServerConfig;
use crate::tls::detect::{detect, Detected};
use crate::tls::{TlsContextKind, TlsError, TlsMaterial, TlsSettings};

/// How the admin port speaks TLS, loaded at bind time.
#[derive(Clone)]
pub(crate) struct AdminTls {
    config: Arc<rustls::ServerConfig>,
    /// `admin.portUnification` without `admin.forceHttps`.
    unified: bool,
}

/// The key name prefixes JettyAdminServer reads, without the optional `zookeeper.`.
const STORE_KEYS: [&str; 2] = ["ssl.quorum.keyStore.", "ssl.quorum.trustStore."];

impl AdminTls {
    /// The HTTPS configuration `cfg` asks for; `None` for plain HTTP only.
    pub(crate) fn load(cfg: &ServerConfig) -> Result<Option<Self>, TlsError> {
        if !cfg.admin_force_https && !cfg.admin_port_unification {
            return Ok(None);
        }
        // Only the stores: a quorum setting Jetty ignores (a protocol list, clientAuth) must
        // not stop the admin port.
        let entries: Vec<(String, String)> = cfg
            .raw
            .iter()
            .filter(|(k, _)| {
                let bare = k.strip_prefix("zookeeper.").unwrap_or(k);
                STORE_KEYS.iter().any(|p| bare.starts_with(p))
            })
            .cloned()
            .collect();
        let settings = TlsSettings::from_entries(TlsContextKind::Quorum, &entries)?;
        // 3.8 loads both stores unconditionally; an unset location fails there too.
        for (store, key) in [
            (&settings.key_store, "ssl.quorum.keyStore.location"),
            (&settings.trust_store, "ssl.quorum.trustStore.location"),
        ] {
            if store.is_none() {
                return Err(TlsError::Build(format!(
                    "{key} is not set: the AdminServer's HTTPS (admin.portUnification / \
                     admin.forceHttps) needs it"
                )));
            }
        }
        let locations: Vec<String> = [&settings.key_store, &settings.trust_store]
            .into_iter()
            .flatten()
            .map(|s| s.location.display().to_string())
            .collect();
        let material = TlsMaterial::load(settings)?;
        let config = material.admin_server_config()?;
        if let [key, trust] = locations.as_slice() {
            tracing::info!("Successfully loaded private key from {key}");
            tracing::info!("Successfully loaded certificate authority from {trust}");
        }
        Ok(Some(AdminTls {
            config,
            unified: !cfg.admin_force_https,
        }))
    }

    pub(crate) fn mode(&self) -> &'static str {
        if self.unified {
            "HTTP and HTTPS"
        } else {
            "HTTPS only"
        }
    }

    /// Decides what `stream` speaks and completes the TLS handshake if it is TLS, within
    /// `timeout`. `None` when the connection is to be closed (the reason is logged).
    pub(crate) async fn accept(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        timeout: Duration,
        stats: &ServerStats,
    ) -> Option<Transport> {
        if self.unified {
            match detect(&stream, timeout).await {
                Ok(Detected::Plaintext) => {
                    stats.insecure_admin();
                    return Some(Transport::Plain(stream));
                }
                Ok(Detected::Tls) => {}
                Err(e) => {
                    tracing::debug!(%peer, "AdminServer connection closed before any request: {e}");
                    return None;
                }
            }
        }
        let acceptor = TlsAcceptor::from(self.config.clone());
        match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
            Ok(Ok(tls)) => Some(Transport::Tls(Box::new(tls))),
            Ok(Err(e)) => {
                tracing::warn!(
                    %peer,
                    reason = %handshake_failure(&e),
                    "AdminServer TLS handshake failed; connection closed"
                );
                None
            }
            Err(_) => {
                tracing::warn!(
                    %peer,
                    "AdminServer TLS handshake not completed within {} ms; connection closed",
                    timeout.as_millis()
                );
                None
            }
        }
    }
}

/// What a failed handshake says, with the likely cause when the client spoke no TLS at all.
fn handshake_failure(e: &std::io::Error) -> String {
    let not_tls = matches!(
        e.get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>()),
        Some(rustls::Error::InvalidMessage(
            rustls::InvalidMessage::InvalidContentType
                | rustls::InvalidMessage::UnknownProtocolVersion
        ))
    );
    if not_tls {
        format!("{e} (not a TLS client: plain HTTP on the HTTPS-only port?)")
    } else {
        e.to_string()
    }
}

/// An accepted admin connection.
pub(crate) enum Transport {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}
