//! rustls configurations from [`TlsSettings`]: what 3.8's `SSLContextAndOptions` (protocols,
//! cipher suites, client auth) and `ZKTrustManager` (hostname verification) do for Java.
//!
//! Differences from 3.8, all deliberate:
//! * Only TLSv1.2 and TLSv1.3 exist in rustls; other protocol names are refused at start-up.
//! * Cipher suites Java has but rustls lacks (CBC, static RSA, DHE, ...) are skipped with a
//!   warning, so a list copied from a 3.8 deployment keeps working; names that are no suite
//!   at all are refused. When `ciphersuites` is unset, the usable part of 3.8's default list
//!   (the four ECDHE GCM suites) is used, plus rustls' TLSv1.3 suites when TLSv1.3 is enabled
//!   (3.8's list has none, which makes TLSv1.3 unusable there unless listed).
//! * Hostname verification (3.8's rules, see `hostname`) checks the name the caller connects
//!   to and any extra names it passes; 3.8 checks the peer's IP address, then its
//!   reverse-DNS name, which we do not look up.
//! * No trust store means no trust: 3.8 would fall back to the JDK's `cacerts`.

use std::net::IpAddr;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::server::{ParsedCertificate, WebPkiClientVerifier};
use rustls::{
    CertificateError, CipherSuite, ClientConfig, DigitallySignedStruct, RootCertStore,
    ServerConfig, SignatureScheme, SupportedCipherSuite, SupportedProtocolVersion,
};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use super::hostname;
use super::settings::{ClientAuth, TlsContextKind, TlsSettings};
use super::store::{load_key_store, load_trust_store, KeyMaterial, StoreSpec};
use super::{StoreProblem, TlsError};

/// IANA (= Java) names of the suites the ring provider implements.
const RUSTLS_SUITES: &[(CipherSuite, &str)] = &[
    (
        CipherSuite::TLS13_AES_128_GCM_SHA256,
        "TLS_AES_128_GCM_SHA256",
    ),
    (
        CipherSuite::TLS13_AES_256_GCM_SHA384,
        "TLS_AES_256_GCM_SHA384",
    ),
    (
        CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
        "TLS_CHACHA20_POLY1305_SHA256",
    ),
    (
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    ),
    (
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    ),
    (
        CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
    (
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    ),
    (
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    ),
    (
        CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
];

/// Suites of JDK 17's SunJSSE that rustls does not implement: skipped, not refused.
const JAVA_ONLY_SUITES: &[&str] = &[
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_DHE_DSS_WITH_AES_256_GCM_SHA384",
    "TLS_DHE_DSS_WITH_AES_128_GCM_SHA256",
    "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256",
    "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_DHE_DSS_WITH_AES_256_CBC_SHA256",
    "TLS_DHE_DSS_WITH_AES_128_CBC_SHA256",
    "TLS_DHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_DHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_DHE_DSS_WITH_AES_256_CBC_SHA",
    "TLS_DHE_DSS_WITH_AES_128_CBC_SHA",
    "TLS_ECDH_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDH_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDH_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDH_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA384",
    "TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDH_RSA_WITH_AES_256_CBC_SHA384",
    "TLS_ECDH_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDH_RSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDH_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_CBC_SHA256",
    "TLS_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_EMPTY_RENEGOTIATION_INFO_SCSV",
];

/// 3.8's `X509Util#getDefaultCipherSuites` for Java 9+ (GCM first, then CBC).
const DEFAULT_SUITES_3_8: &[&str] = &[
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
];

/// The Java / IANA name of a suite rustls implements.
pub fn java_name(suite: CipherSuite) -> Option<&'static str> {
    RUSTLS_SUITES
        .iter()
        .find(|(s, _)| *s == suite)
        .map(|(_, n)| *n)
}

fn ring_suite(name: &str) -> Option<SupportedCipherSuite> {
    let (suite, _) = RUSTLS_SUITES.iter().find(|(_, n)| *n == name)?;
    rustls::crypto::ring::ALL_CIPHER_SUITES
        .iter()
        .find(|s| s.suite() == *suite)
        .copied()
}

/// `enabledProtocols` (or `[protocol]`) as rustls versions; `key` names the setting.
pub(crate) fn protocol_versions(
    key: &str,
    names: &[String],
) -> Result<Vec<&'static SupportedProtocolVersion>, TlsError> {
    let mut versions = Vec::new();
    let mut refused = Vec::new();
    for name in names {
        match name.as_str() {
            "TLSv1.2" => versions.push(&rustls::version::TLS12),
            "TLSv1.3" => versions.push(&rustls::version::TLS13),
            _ => refused.push(name.as_str()),
        }
    }
    if !refused.is_empty() || versions.is_empty() {
        return Err(TlsError::Setting {
            key: key.to_owned(),
            value: names.join(","),
            problem: format!(
                "only TLSv1.2 and TLSv1.3 are supported; not: {}",
                refused.join(", ")
            ),
        });
    }
    versions.dedup();
    Ok(versions)
}

fn usable(
    suites: Vec<SupportedCipherSuite>,
    versions: &[&'static SupportedProtocolVersion],
) -> Vec<SupportedCipherSuite> {
    suites
        .into_iter()
        .filter(|s| versions.iter().any(|v| *v == s.version()))
        .collect()
}

/// 3.8's default suites that rustls has, plus its TLSv1.3 suites when TLSv1.3 is enabled.
pub(crate) fn default_cipher_suites(
    versions: &[&'static SupportedProtocolVersion],
) -> Vec<SupportedCipherSuite> {
    let tls13 = RUSTLS_SUITES
        .iter()
        .map(|(_, n)| *n)
        .filter(|n| !n.contains("_WITH_"));
    let suites = tls13
        .chain(DEFAULT_SUITES_3_8.iter().copied())
        .filter_map(ring_suite)
        .collect();
    usable(suites, versions)
}

/// `ciphersuites` as rustls suites, in the order given.
pub(crate) fn cipher_suites_from_names(
    key: &str,
    names: &[String],
    versions: &[&'static SupportedProtocolVersion],
) -> Result<Vec<SupportedCipherSuite>, TlsError> {
    let mut suites = Vec::new();
    let mut skipped = Vec::new();
    let mut unknown = Vec::new();
    for name in names {
        match ring_suite(name) {
            Some(s) if !suites.contains(&s) => suites.push(s),
            Some(_) => {}
            None if JAVA_ONLY_SUITES.contains(&name.as_str()) => skipped.push(name.as_str()),
            None => unknown.push(name.as_str()),
        }
    }
    if !unknown.is_empty() {
        return Err(TlsError::Setting {
            key: key.to_owned(),
            value: names.join(","),
            problem: format!("unknown cipher suites: {}", unknown.join(", ")),
        });
    }
    if !skipped.is_empty() {
        tracing::warn!(
            key,
            suites = skipped.join(","),
            "cipher suites not available in ferrokeeper's TLS library; skipped"
        );
    }
    let suites = usable(suites, versions);
    if suites.is_empty() {
        return Err(TlsError::Setting {
            key: key.to_owned(),
            value: names.join(","),
            problem: "no cipher suite usable with the enabled protocols".to_owned(),
        });
    }
    Ok(suites)
}

/// Loaded key and trust material of one context, ready to make rustls configurations.
///
/// Loading is the slow, failing part; configs are cheap to make from it, e.g. one client
/// config per quorum peer with that peer's names.
#[derive(Debug, Clone)]
pub struct TlsMaterial {
    pub settings: TlsSettings,
    provider: Arc<CryptoProvider>,
    /// Our chain and key, when a key store is configured.
    identity: Option<Arc<rustls::sign::CertifiedKey>>,
    roots: Option<Arc<RootCertStore>>,
}

impl TlsMaterial {
    /// Loads the stores `settings` names.
    pub fn load(settings: TlsSettings) -> Result<Self, TlsError> {
        let provider = Arc::new(CryptoProvider {
            cipher_suites: settings.cipher_suites.clone(),
            ..rustls::crypto::ring::default_provider()
        });
        let identity = match &settings.key_store {
            Some(spec) => Some(load_identity(&provider, spec)?),
            None => None,
        };
        let roots = match &settings.trust_store {
            Some(spec) => {
                let mut roots = RootCertStore::empty();
                for cert in load_trust_store(spec)? {
                    roots.add(cert).map_err(|e| TlsError::Store {
                        key: spec.location_key.clone(),
                        path: spec.location.clone(),
                        problem: StoreProblem::Malformed(format!("not a usable trust anchor: {e}")),
                    })?;
                }
                Some(Arc::new(roots))
            }
            None => None,
        };
        Ok(TlsMaterial {
            settings,
            provider,
            identity,
            roots,
        })
    }

    /// Our certificate (the key store's leaf), when a key store is set.
    pub fn identity_leaf(&self) -> Option<&CertificateDer<'static>> {
        self.identity.as_ref().and_then(|key| key.cert.first())
    }

    fn key_name(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.settings.kind.prefix())
    }

    fn roots(&self) -> Result<Arc<RootCertStore>, TlsError> {
        self.roots.clone().ok_or_else(|| {
            TlsError::Build(format!(
                "{} is not set: ferrokeeper has no default trust store (the JDK's cacerts)",
                self.key_name("trustStore.location")
            ))
        })
    }

    fn build_err(&self, e: impl std::fmt::Display) -> TlsError {
        TlsError::Build(format!("{} TLS context: {e}", self.key_name("*")))
    }

    /// A listening socket's config: our certificate, and client certificates asked for and
    /// checked against the trust store per `clientAuth`.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, TlsError> {
        self.listener_config(
            self.provider.clone(),
            &self.settings.protocol_versions,
            self.settings.client_auth,
        )
    }

    /// The AdminServer's HTTPS config. 3.8's `JettyAdminServer` takes only the key and trust
    /// stores from `ssl.quorum.*` (load this from [`TlsContextKind::Quorum`] settings) and
    /// leaves the rest to Jetty's `SslContextFactory.Server` defaults: no client
    /// certificate asked for, the JDK's protocols and suites (here: all of rustls').
    pub fn admin_server_config(&self) -> Result<Arc<ServerConfig>, TlsError> {
        self.listener_config(
            Arc::new(rustls::crypto::ring::default_provider()),
            rustls::ALL_VERSIONS,
            ClientAuth::None,
        )
    }

    fn listener_config(
        &self,
        provider: Arc<CryptoProvider>,
        versions: &[&'static SupportedProtocolVersion],
        client_auth: ClientAuth,
    ) -> Result<Arc<ServerConfig>, TlsError> {
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(versions)
            .map_err(|e| self.build_err(e))?;
        let builder = match client_auth {
            ClientAuth::None => builder.with_no_client_auth(),
            auth => {
                let mut verifier =
                    WebPkiClientVerifier::builder_with_provider(self.roots()?, provider);
                if auth == ClientAuth::Want {
                    verifier = verifier.allow_unauthenticated();
                }
                builder.with_client_cert_verifier(verifier.build().map_err(|e| self.build_err(e))?)
            }
        };
        let key = self.identity.as_ref().ok_or_else(|| {
            TlsError::Build(format!(
                "{} is not set: a TLS listener needs a certificate",
                self.key_name("keyStore.location")
            ))
        })?;
        let resolver = rustls::sign::SingleCertAndKey::from(key.clone());
        Ok(Arc::new(builder.with_cert_resolver(Arc::new(resolver))))
    }

    /// A connecting socket's config (quorum and election connections): the server's chain
    /// is checked against the trust store and, with `hostnameVerification`, its names (as
    /// `ZKHostnameVerifier` reads them) against the name connected to or one of
    /// `also_accept`. 3.8 tries the peer's IP address, then its reverse-DNS name: connect by
    /// IP and pass the host name from zoo.cfg here. Our certificate is offered when a key
    /// store is set.
    pub fn client_config(&self, also_accept: &[String]) -> Result<Arc<ClientConfig>, TlsError> {
        let verifier = Arc::new(PeerVerifier {
            roots: self.roots()?,
            provider: self.provider.clone(),
            hostname_verification: self.settings.hostname_verification,
            also_accept: also_accept.to_vec(),
        });
        let builder = ClientConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&self.settings.protocol_versions)
            .map_err(|e| self.build_err(e))?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let config = match &self.identity {
            Some(key) => builder.with_client_cert_resolver(Arc::new(
                rustls::sign::SingleCertAndKey::from(key.clone()),
            )),
            None => builder.with_no_client_auth(),
        };
        Ok(Arc::new(config))
    }

    /// For a quorum listener: 3.8's client hostname verification (`ZKTrustManager` with
    /// `clientHostnameVerificationEnabled`), which a rustls verifier cannot do as it does
    /// not know the peer's address. Call after the handshake with the peer's leaf
    /// certificate; passes when the certificate names `addr` or one of `names` (3.8: the
    /// reverse-DNS name). A no-op for the client context or with `hostnameVerification=false`.
    pub fn verify_peer_host(
        &self,
        leaf: &CertificateDer<'_>,
        addr: IpAddr,
        names: &[String],
    ) -> Result<(), TlsError> {
        if self.settings.kind != TlsContextKind::Quorum || !self.settings.hostname_verification {
            return Ok(());
        }
        let addr_text = addr.to_string();
        if std::iter::once(&addr_text)
            .chain(names)
            .any(|host| hostname::verify_host(leaf, host))
        {
            return Ok(());
        }
        Err(TlsError::PeerHost(format!(
            "the certificate of {addr} names neither that address{}",
            if names.is_empty() {
                String::new()
            } else {
                format!(" nor {}", names.join(", "))
            }
        )))
    }
}

/// Our key store as a rustls signing identity, checked to belong together.
fn load_identity(
    provider: &CryptoProvider,
    spec: &StoreSpec,
) -> Result<Arc<rustls::sign::CertifiedKey>, TlsError> {
    let KeyMaterial { chain, key, alias } = load_key_store(spec)?;
    let err = |problem| TlsError::Store {
        key: spec.location_key.clone(),
        path: spec.location.clone(),
        problem,
    };
    let signing = provider.key_provider.load_private_key(key).map_err(|e| {
        err(StoreProblem::Unsupported(format!(
            "private key of entry '{alias}': {e}"
        )))
    })?;
    let certified = rustls::sign::CertifiedKey::new(chain, signing);
    certified.keys_match().map_err(|e| {
        err(StoreProblem::Malformed(format!(
            "entry '{alias}': the private key does not belong to the certificate ({e})"
        )))
    })?;
    Ok(Arc::new(certified))
}

/// The text `ZKHostnameVerifier` would be given for a name.
fn host_text(name: &ServerName<'_>) -> String {
    match name {
        ServerName::DnsName(d) => d.as_ref().to_owned(),
        ServerName::IpAddress(ip) => IpAddr::from(*ip).to_string(),
        other => format!("{other:?}"),
    }
}

/// webpki's chain check against the trust store, then 3.8's name check (per
/// `hostnameVerification`) on the name connected to and the extra names.
#[derive(Debug)]
struct PeerVerifier {
    roots: Arc<RootCertStore>,
    provider: Arc<CryptoProvider>,
    hostname_verification: bool,
    also_accept: Vec<String>,
}

impl ServerCertVerifier for PeerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let parsed = ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &parsed,
            &self.roots,
            intermediates,
            now,
            self.provider.signature_verification_algorithms.all,
        )?;
        if !self.hostname_verification {
            return Ok(ServerCertVerified::assertion());
        }
        let connected = host_text(server_name);
        if std::iter::once(&connected)
            .chain(&self.also_accept)
            .any(|host| hostname::verify_host(end_entity, host))
        {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The `x509` auth id of a TLS peer: Java's `getSubjectX500Principal().getName()` of its
/// leaf certificate, or `None` when it sent none (or an unparsable one, logged).
pub fn peer_x509_id(peer_certificates: Option<&[CertificateDer<'_>]>) -> Option<String> {
    let leaf = peer_certificates?.first()?;
    match super::dn::x509_subject_name(leaf) {
        Ok(id) => Some(id),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the subject of the peer certificate");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::store::tests::fixture_path;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn fx(name: &str) -> String {
        fixture_path(name).to_string_lossy().into_owned()
    }

    /// Material of `kind` from zoo.cfg-style pairs, keys given without the context prefix.
    fn material(kind: TlsContextKind, pairs: &[(&str, &str)]) -> TlsMaterial {
        let entries: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (format!("{}{k}", kind.prefix()), (*v).to_owned()))
            .collect();
        TlsMaterial::load(TlsSettings::from_entries(kind, &entries).unwrap()).unwrap()
    }

    fn server(client_auth: &str, extra: &[(&str, &str)]) -> Arc<ServerConfig> {
        let ks = fx("server.jks");
        let ts = fx("truststore.jks");
        let mut pairs = vec![
            ("keyStore.location", ks.as_str()),
            ("keyStore.password", "serverpass"),
            ("trustStore.location", ts.as_str()),
            ("trustStore.password", "trustpass"),
            ("clientAuth", client_auth),
        ];
        pairs.extend_from_slice(extra);
        material(TlsContextKind::Client, &pairs)
            .server_config()
            .unwrap()
    }

    /// A quorum-side client: `key_store` is (file, password) or none.
    fn client(key_store: Option<(&str, &str)>, extra: &[(&str, &str)]) -> TlsMaterial {
        let ts = fx("truststore.pem");
        let ks = key_store.map(|(f, p)| (fx(f), p));
        let mut pairs = vec![("trustStore.location", ts.as_str())];
        if let Some((f, p)) = &ks {
            pairs.push(("keyStore.location", f.as_str()));
            pairs.push(("keyStore.password", p));
        }
        pairs.extend_from_slice(extra);
        material(TlsContextKind::Quorum, &pairs)
    }

    struct Outcome {
        /// The server's view: the client's x509 id, if the handshake passed.
        server: Result<Option<String>, std::io::Error>,
        /// The client's view: the negotiated version, once the server confirmed.
        client: Result<rustls::ProtocolVersion, std::io::Error>,
    }

    /// One handshake over an in-memory pipe; the server writes "ok" once it accepted, so
    /// the client's result also says whether the server let it in.
    async fn handshake(
        server: Arc<ServerConfig>,
        client: Arc<ClientConfig>,
        name: &str,
    ) -> Outcome {
        let (c_io, s_io) = tokio::io::duplex(64 * 1024);
        let name = ServerName::try_from(name.to_owned()).unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(server);
        let connector = tokio_rustls::TlsConnector::from(client);
        let server_side = async move {
            let mut tls = acceptor.accept(s_io).await?;
            let id = peer_x509_id(tls.get_ref().1.peer_certificates());
            tls.write_all(b"ok").await?;
            tls.flush().await?;
            Ok(id)
        };
        let client_side = async move {
            let mut tls = connector.connect(name, c_io).await?;
            let mut buf = [0u8; 2];
            tls.read_exact(&mut buf).await?;
            assert_eq!(&buf, b"ok");
            tls.get_ref()
                .1
                .protocol_version()
                .ok_or_else(|| std::io::Error::other("no version"))
        };
        let (server, client) = tokio::join!(server_side, client_side);
        Outcome { server, client }
    }

    const CLIENT_ID: &str = "CN=client,OU=Eng,O=Example,C=US";

    #[tokio::test]
    async fn client_auth_need() {
        let s = server("need", &[]);
        let with_cert = client(Some(("client.p12", "clientpass")), &[]);
        let o = handshake(
            s.clone(),
            with_cert.client_config(&[]).unwrap(),
            "localhost",
        )
        .await;
        assert_eq!(o.server.unwrap().as_deref(), Some(CLIENT_ID));
        // 3.8's default protocol.
        assert_eq!(o.client.unwrap(), rustls::ProtocolVersion::TLSv1_2);

        let anonymous = client(None, &[]);
        let o = handshake(s, anonymous.client_config(&[]).unwrap(), "localhost").await;
        assert!(o.server.is_err());
        assert!(o.client.is_err());
    }

    #[tokio::test]
    async fn client_auth_want() {
        let s = server("want", &[]);
        let anonymous = client(None, &[]);
        let o = handshake(
            s.clone(),
            anonymous.client_config(&[]).unwrap(),
            "localhost",
        )
        .await;
        assert_eq!(o.server.unwrap(), None);
        assert!(o.client.is_ok());

        let with_cert = client(Some(("client.jks", "clientpass")), &[]);
        let o = handshake(
            s.clone(),
            with_cert.client_config(&[]).unwrap(),
            "localhost",
        )
        .await;
        assert_eq!(o.server.unwrap().as_deref(), Some(CLIENT_ID));

        // An untrusted certificate is refused even when a certificate is only wanted.
        let rogue = client(Some(("rogue-nopass.pem", "")), &[]);
        let o = handshake(s, rogue.client_config(&[]).unwrap(), "localhost").await;
        assert!(o.server.is_err());
    }

    #[tokio::test]
    async fn client_auth_none_does_not_ask() {
        let s = server("none", &[]);
        let with_cert = client(Some(("client.pem", "clientpass")), &[]);
        let o = handshake(s, with_cert.client_config(&[]).unwrap(), "localhost").await;
        assert_eq!(o.server.unwrap(), None);
    }

    #[tokio::test]
    async fn untrusted_server_is_refused_even_without_hostname_verification() {
        let ks = fx("rogue-nopass.pem");
        let s = material(
            TlsContextKind::Quorum,
            &[("keyStore.location", &ks), ("clientAuth", "none")],
        )
        .server_config()
        .unwrap();
        let c = client(None, &[("hostnameVerification", "false")]);
        let o = handshake(s, c.client_config(&[]).unwrap(), "127.0.0.1").await;
        let err = o.client.unwrap_err().to_string();
        assert!(err.contains("UnknownIssuer"), "{err}");
    }

    #[tokio::test]
    async fn hostname_verification() {
        let s = server("none", &[]);
        // The server certificate names localhost and 127.0.0.1 only.
        let strict = client(None, &[]);
        let o = handshake(
            s.clone(),
            strict.client_config(&[]).unwrap(),
            "other.example",
        )
        .await;
        let err = o.client.unwrap_err().to_string();
        assert!(err.contains("NotValidForName"), "{err}");
        let o = handshake(s.clone(), strict.client_config(&[]).unwrap(), "127.0.0.1").await;
        assert!(o.client.is_ok());
        // Connected by one name, accepted under another the caller vouches for.
        let also = ["localhost".to_owned()];
        let o = handshake(s.clone(), strict.client_config(&also).unwrap(), "10.1.2.3").await;
        assert!(o.client.is_ok());
        let relaxed = client(None, &[("hostnameVerification", "false")]);
        let o = handshake(s, relaxed.client_config(&[]).unwrap(), "other.example").await;
        assert!(o.client.is_ok());
    }

    /// The ZooKeeper Admin Guide's quorum TLS recipe: keytool self-signed certificates with
    /// the host name as CN and no SAN, each trusted directly, clientAuth=need.
    #[tokio::test]
    async fn self_signed_admin_guide_setup() {
        let ks = fx("selfsigned.jks");
        let ts = fx("selfsigned-trust.jks");
        let m = material(
            TlsContextKind::Quorum,
            &[
                ("keyStore.location", &ks),
                ("keyStore.password", "selfpass"),
                ("trustStore.location", &ts),
                ("trustStore.password", "selfpass"),
            ],
        );
        let o = handshake(
            m.server_config().unwrap(),
            m.client_config(&[]).unwrap(),
            "localhost",
        )
        .await;
        assert_eq!(o.server.unwrap().as_deref(), Some("CN=localhost"));
        assert!(o.client.is_ok());
        // By IP the CN does not match; the configured host name does.
        let o = handshake(
            m.server_config().unwrap(),
            m.client_config(&[]).unwrap(),
            "127.0.0.1",
        )
        .await;
        assert!(o.client.is_err());
        let o = handshake(
            m.server_config().unwrap(),
            m.client_config(&["localhost".to_owned()]).unwrap(),
            "127.0.0.1",
        )
        .await;
        assert!(o.client.is_ok());
    }

    #[tokio::test]
    async fn protocol_versions_are_enforced() {
        let s13 = server("none", &[("enabledProtocols", "TLSv1.3")]);
        let c13 = client(None, &[("protocol", "TLSv1.3")]);
        let o = handshake(s13.clone(), c13.client_config(&[]).unwrap(), "localhost").await;
        assert_eq!(o.client.unwrap(), rustls::ProtocolVersion::TLSv1_3);
        let c12 = client(None, &[]);
        let o = handshake(s13, c12.client_config(&[]).unwrap(), "localhost").await;
        assert!(o.client.is_err() && o.server.is_err());
    }

    #[tokio::test]
    async fn ec_server_key() {
        let ks = fx("client.pem");
        let s = material(
            TlsContextKind::Quorum,
            &[
                ("keyStore.location", &ks),
                ("keyStore.password", "clientpass"),
                ("clientAuth", "none"),
            ],
        )
        .server_config()
        .unwrap();
        let c = client(None, &[]);
        let o = handshake(s, c.client_config(&[]).unwrap(), "127.0.0.1").await;
        assert!(o.client.is_ok());
    }

    #[tokio::test]
    async fn admin_server_asks_for_no_certificate_and_speaks_both_versions() {
        let ks = fx("server.p12");
        // ssl.quorum.clientAuth and protocol do not apply to the AdminServer.
        let m = material(
            TlsContextKind::Quorum,
            &[
                ("keyStore.location", &ks),
                ("keyStore.password", "serverpass"),
                ("clientAuth", "need"),
            ],
        );
        let admin = m.admin_server_config().unwrap();
        let c = client(
            Some(("client.p12", "clientpass")),
            &[("protocol", "TLSv1.3")],
        );
        let o = handshake(admin, c.client_config(&[]).unwrap(), "localhost").await;
        assert_eq!(o.server.unwrap(), None);
        assert_eq!(o.client.unwrap(), rustls::ProtocolVersion::TLSv1_3);
    }

    #[test]
    fn quorum_peer_host_verification() {
        let m = client(None, &[]);
        let leaf = |f: &str| {
            let ks = crate::tls::store::tests::spec(f, "");
            load_key_store(&ks).unwrap().chain.remove(0)
        };
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let elsewhere: IpAddr = "10.0.0.1".parse().unwrap();
        assert!(m
            .verify_peer_host(&leaf("client-nopass.pem"), local, &[])
            .is_ok());
        let err = m
            .verify_peer_host(&leaf("client-nopass.pem"), elsewhere, &[])
            .unwrap_err();
        assert!(matches!(err, TlsError::PeerHost(_)), "{err}");
        let other = leaf("other-nopass.pem");
        let named = ["other.example".to_owned()];
        assert!(m.verify_peer_host(&other, elsewhere, &named).is_ok());
        assert!(m
            .verify_peer_host(&other, "10.9.9.9".parse().unwrap(), &[])
            .is_ok());
        let selfsigned = load_key_store(&crate::tls::store::tests::spec(
            "selfsigned.jks",
            "selfpass",
        ))
        .unwrap()
        .chain
        .remove(0);
        assert!(m.verify_peer_host(&selfsigned, local, &[]).is_err());
        assert!(m
            .verify_peer_host(&selfsigned, local, &["localhost".to_owned()])
            .is_ok());
        // Off with hostnameVerification=false, and never done for the client context.
        let relaxed = client(None, &[("hostnameVerification", "false")]);
        assert!(relaxed.verify_peer_host(&other, local, &[]).is_ok());
        let ts = fx("truststore.pem");
        let client_ctx = material(TlsContextKind::Client, &[("trustStore.location", &ts)]);
        assert!(client_ctx.verify_peer_host(&other, local, &[]).is_ok());
    }

    #[test]
    fn missing_stores_are_named() {
        let ts = fx("truststore.pem");
        let no_key = material(TlsContextKind::Client, &[("trustStore.location", &ts)]);
        let err = no_key.server_config().unwrap_err();
        assert!(err.to_string().contains("ssl.keyStore.location"), "{err}");
        let ks = fx("server-nopass.pem");
        let no_trust = material(TlsContextKind::Quorum, &[("keyStore.location", &ks)]);
        let err = no_trust.server_config().unwrap_err();
        assert!(
            err.to_string().contains("ssl.quorum.trustStore.location"),
            "{err}"
        );
        assert!(no_trust.client_config(&[]).is_err());
        // clientAuth=none needs no trust store.
        let none = material(
            TlsContextKind::Quorum,
            &[("keyStore.location", &ks), ("clientAuth", "none")],
        );
        assert!(none.server_config().is_ok());
    }

    #[test]
    fn key_that_does_not_match_its_certificate_is_refused() {
        // Glue rogue's key to the server's chain.
        let dir = std::env::temp_dir().join(format!("fk-tls-mismatch-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let rogue = std::fs::read_to_string(fixture_path("rogue-nopass.pem")).unwrap();
        let server = std::fs::read_to_string(fixture_path("server-nopass.pem")).unwrap();
        let key_end = rogue.find("-----END PRIVATE KEY-----").unwrap() + 25;
        let cert_start = server.find("-----BEGIN CERTIFICATE-----").unwrap();
        let path = dir.join("mixed.pem");
        std::fs::write(
            &path,
            format!("{}\n{}", &rogue[..key_end], &server[cert_start..]),
        )
        .unwrap();
        let entries = vec![(
            "ssl.keyStore.location".to_owned(),
            path.to_string_lossy().into_owned(),
        )];
        let settings = TlsSettings::from_entries(TlsContextKind::Client, &entries).unwrap();
        let err = TlsMaterial::load(settings).unwrap_err();
        assert!(err.to_string().contains("does not belong"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
