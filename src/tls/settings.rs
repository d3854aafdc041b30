//! The `ssl.*` / `ssl.quorum.*` settings as 3.8's `X509Util`, `SSLContextAndOptions` and
//! `ClientX509Util` read them.
//!
//! 3.8 turns an unknown zoo.cfg key `k` into the system property `zookeeper.k`, and the
//! X509Util classes read `zookeeper.ssl.<x>` / `zookeeper.ssl.quorum.<x>`. As everywhere in
//! `config`, both spellings are accepted here (`ssl.keyStore.location` and
//! `zookeeper.ssl.keyStore.location`); the later line wins. Values are trimmed (zoo.cfg
//! values are). Errors name the key as it was written.

use std::path::PathBuf;
use std::time::Duration;

use rustls::{SupportedCipherSuite, SupportedProtocolVersion};

use super::context::{cipher_suites_from_names, default_cipher_suites, protocol_versions};
use super::store::{read_password_file, KeyStoreFileType, StoreSpec};
use super::TlsError;
use crate::config::ServerConfig;

/// `X509Util.DEFAULT_PROTOCOL`.
pub const DEFAULT_PROTOCOL: &str = "TLSv1.2";
/// `X509Util.DEFAULT_HANDSHAKE_DETECTION_TIMEOUT_MILLIS`.
pub const DEFAULT_HANDSHAKE_DETECTION_TIMEOUT_MS: u64 = 5000;

/// Which `X509Util` the settings are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsContextKind {
    /// `ClientX509Util`: `ssl.*`, the secure client port.
    Client,
    /// `QuorumX509Util`: `ssl.quorum.*`, the quorum (2888) and election (3888) sockets,
    /// and the AdminServer's key and trust stores (3.8's `JettyAdminServer` reads those).
    Quorum,
}

impl TlsContextKind {
    /// The key prefix without the optional `zookeeper.`.
    pub fn prefix(self) -> &'static str {
        match self {
            TlsContextKind::Client => "ssl.",
            TlsContextKind::Quorum => "ssl.quorum.",
        }
    }
}

/// 3.8's `X509Util.ClientAuth`: whether a listening socket asks for a client certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// Do not ask.
    None,
    /// Ask; a client without one may connect (one that sends an untrusted one may not).
    Want,
    /// Ask and require. 3.8's default.
    Need,
}

/// One TLS context's settings, resolved: stores located, passwords read, protocol names and
/// cipher suites mapped to rustls.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    pub kind: TlsContextKind,
    /// `keyStore.*`; `None` when the location is unset or empty (3.8 warns and goes on).
    pub key_store: Option<StoreSpec>,
    /// `trustStore.*`; `None` when unset or empty.
    pub trust_store: Option<StoreSpec>,
    /// From `enabledProtocols`, or `[protocol]` when unset, as `SSLContextAndOptions` does.
    pub protocol_versions: Vec<&'static SupportedProtocolVersion>,
    /// From `ciphersuites`, or the usable part of 3.8's default list (four ECDHE GCM
    /// suites), plus the TLSv1.3 suites when TLSv1.3 is enabled.
    pub cipher_suites: Vec<SupportedCipherSuite>,
    pub client_auth: ClientAuth,
    /// `hostnameVerification`, default true. For [`TlsContextKind::Quorum`] this checks both
    /// the server we connect to and the peer that connects to us; for the client context
    /// only the former (3.8's `shouldVerifyClientHostname`).
    pub hostname_verification: bool,
    /// `crl` / `ocsp`: accepted, not implemented (warned at parse).
    pub crl: bool,
    pub ocsp: bool,
    /// `handshakeDetectionTimeoutMillis`: how long a port-unified listener waits for the
    /// first bytes to tell TLS from plaintext.
    pub handshake_detection_timeout: Duration,
    /// `ssl.authProvider` (client context only; default `x509`): the auth scheme fed with
    /// the client certificate.
    pub auth_provider: Option<String>,
}

/// Looks keys up under both spellings in a list of zoo.cfg entries (file order).
struct Lookup<'a> {
    entries: &'a [(String, String)],
    prefix: &'static str,
}

impl<'a> Lookup<'a> {
    /// (key as written, value) of the last entry for `prefix + suffix`, either spelling.
    fn get(&self, suffix: &str) -> Option<(&'a str, &'a str)> {
        let short = format!("{}{suffix}", self.prefix);
        let long = format!("zookeeper.{short}");
        self.entries
            .iter()
            .rev()
            .find(|(k, _)| *k == short || *k == long)
            .map(|(k, v)| (k.as_str(), v.trim()))
    }

    fn name(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.prefix)
    }

    /// `ZKConfig#getBoolean`: `Boolean.parseBoolean(value.trim())`, default when unset.
    fn boolean(&self, suffix: &str, default: bool) -> bool {
        self.get(suffix)
            .map_or(default, |(_, v)| v.eq_ignore_ascii_case("true"))
    }

    /// `X509Util#getPasswordFromConfigPropertyOrFile`: a non-empty `passwordPath` wins.
    fn password(&self, which: &str) -> Result<String, TlsError> {
        if let Some((key, path)) = self.get(&format!("{which}.passwordPath")) {
            if !path.is_empty() {
                return read_password_file(path.as_ref()).map_err(|e| TlsError::Setting {
                    key: key.to_owned(),
                    value: path.to_owned(),
                    problem: format!("cannot read the password file: {e}"),
                });
            }
        }
        Ok(self
            .get(&format!("{which}.password"))
            .map_or_else(String::new, |(_, v)| v.to_owned()))
    }

    fn store(&self, which: &str) -> Result<Option<StoreSpec>, TlsError> {
        let Some((location_key, location)) = self
            .get(&format!("{which}.location"))
            .filter(|(_, v)| !v.is_empty())
        else {
            tracing::debug!(
                key = self.name(&format!("{which}.location")),
                "not specified"
            );
            return Ok(None);
        };
        let password = self.password(which)?;
        let type_value = self.get(&format!("{which}.type"));
        let declared = match type_value {
            Some((key, v)) => {
                KeyStoreFileType::from_property_value(v).map_err(|problem| TlsError::Setting {
                    key: key.to_owned(),
                    value: v.to_owned(),
                    problem,
                })?
            }
            None => None,
        };
        let file_type = match declared.or_else(|| KeyStoreFileType::from_file_name(location)) {
            Some(t) => t,
            None => {
                return Err(TlsError::Setting {
                    key: location_key.to_owned(),
                    value: location.to_owned(),
                    problem: format!(
                        "cannot tell the store type from the file name (.jks, .pem, .p12, \
                         .bcfks); set {}",
                        self.name(&format!("{which}.type"))
                    ),
                })
            }
        };
        Ok(Some(StoreSpec {
            location_key: location_key.to_owned(),
            location: PathBuf::from(location),
            password,
            file_type,
        }))
    }
}

/// Splits a Java `String#split(",")` list; we also trim and drop empty items.
fn list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

impl TlsSettings {
    /// The settings of `kind` from the server's zoo.cfg.
    pub fn from_config(kind: TlsContextKind, cfg: &ServerConfig) -> Result<Self, TlsError> {
        Self::from_entries(kind, &cfg.raw)
    }

    /// The settings of `kind` from zoo.cfg entries in file order (trimmed keys).
    pub fn from_entries(
        kind: TlsContextKind,
        entries: &[(String, String)],
    ) -> Result<Self, TlsError> {
        let l = Lookup {
            entries,
            prefix: kind.prefix(),
        };
        let key_store = l.store("keyStore")?;
        let trust_store = l.store("trustStore")?;

        let protocol_versions = match l.get("enabledProtocols") {
            Some((key, v)) => protocol_versions(key, &list(v))?,
            None => {
                let (key, protocol) = l.get("protocol").filter(|(_, v)| !v.is_empty()).map_or(
                    (l.name("protocol"), DEFAULT_PROTOCOL.to_owned()),
                    |(k, v)| (k.to_owned(), v.to_owned()),
                );
                protocol_versions(&key, &[protocol])?
            }
        };
        let cipher_suites = match l.get("ciphersuites") {
            Some((key, v)) => cipher_suites_from_names(key, &list(v), &protocol_versions)?,
            None => default_cipher_suites(&protocol_versions),
        };

        let client_auth = match l.get("clientAuth") {
            None => ClientAuth::Need,
            Some((key, v)) => match v.to_uppercase().as_str() {
                "" | "NEED" => ClientAuth::Need,
                "WANT" => ClientAuth::Want,
                "NONE" => ClientAuth::None,
                _ => {
                    return Err(TlsError::Setting {
                        key: key.to_owned(),
                        value: v.to_owned(),
                        problem: "expected none, want or need".to_owned(),
                    })
                }
            },
        };

        if let Some((key, class)) = l.get("context.supplier.class") {
            // A Java class supplying the SSLContext cannot be loaded here.
            tracing::warn!(
                key,
                class,
                "not supported; the stores and settings above are used"
            );
        }
        let hostname_verification = l.boolean("hostnameVerification", true);
        let crl = l.boolean("crl", false);
        let ocsp = l.boolean("ocsp", false);
        for (on, what) in [(crl, "crl"), (ocsp, "ocsp")] {
            if on {
                tracing::warn!(
                    key = l.name(what),
                    "certificate revocation checking is not implemented; certificates are \
                     not checked against CRLs or OCSP"
                );
            }
        }

        let handshake_detection_timeout = match l.get("handshakeDetectionTimeoutMillis") {
            None => DEFAULT_HANDSHAKE_DETECTION_TIMEOUT_MS,
            Some((key, v)) => {
                let ms: i32 = v.parse().map_err(|_| TlsError::Setting {
                    key: key.to_owned(),
                    value: v.to_owned(),
                    problem: "not a number".to_owned(),
                })?;
                if ms < 1 {
                    // 3.8: an infinite wait could lock up an accept thread.
                    tracing::warn!(
                        key,
                        value = ms,
                        "must be at least 1; using {DEFAULT_HANDSHAKE_DETECTION_TIMEOUT_MS}"
                    );
                    DEFAULT_HANDSHAKE_DETECTION_TIMEOUT_MS
                } else {
                    u64::from(ms.unsigned_abs())
                }
            }
        };

        let auth_provider = match kind {
            TlsContextKind::Client => Some(
                l.get("authProvider")
                    .map_or_else(|| "x509".to_owned(), |(_, v)| v.to_owned()),
            ),
            TlsContextKind::Quorum => None,
        };

        Ok(TlsSettings {
            kind,
            key_store,
            trust_store,
            protocol_versions,
            cipher_suites,
            client_auth,
            hostname_verification,
            crl,
            ocsp,
            handshake_detection_timeout: Duration::from_millis(handshake_detection_timeout),
            auth_provider,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::store::tests::fixture_path;

    fn entries(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn fx(name: &str) -> String {
        fixture_path(name).to_string_lossy().into_owned()
    }

    #[test]
    fn defaults_are_3_8s() {
        let s = TlsSettings::from_entries(TlsContextKind::Client, &[]).unwrap();
        assert!(s.key_store.is_none() && s.trust_store.is_none());
        assert_eq!(s.client_auth, ClientAuth::Need);
        assert!(s.hostname_verification);
        assert!(!s.crl && !s.ocsp);
        assert_eq!(s.handshake_detection_timeout, Duration::from_millis(5000));
        assert_eq!(s.auth_provider.as_deref(), Some("x509"));
        assert_eq!(s.protocol_versions, vec![&rustls::version::TLS12]);
        let names: Vec<String> = s
            .cipher_suites
            .iter()
            .map(|c| {
                crate::tls::context::java_name(c.suite())
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(
            names,
            [
                "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
                "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            ]
        );
        let q = TlsSettings::from_entries(TlsContextKind::Quorum, &[]).unwrap();
        assert_eq!(q.auth_provider, None);
    }

    #[test]
    fn both_spellings_and_the_later_line_wins() {
        let e = entries(&[
            ("ssl.clientAuth", "none"),
            ("zookeeper.ssl.clientAuth", "want"),
            ("ssl.quorum.clientAuth", "NONE"),
            ("zookeeper.ssl.hostnameVerification", "FALSE"),
            ("ssl.quorum.hostnameVerification", " True "),
            ("zookeeper.ssl.authProvider", "x509custom"),
        ]);
        let c = TlsSettings::from_entries(TlsContextKind::Client, &e).unwrap();
        assert_eq!(c.client_auth, ClientAuth::Want);
        assert!(!c.hostname_verification);
        assert_eq!(c.auth_provider.as_deref(), Some("x509custom"));
        let q = TlsSettings::from_entries(TlsContextKind::Quorum, &e).unwrap();
        assert_eq!(q.client_auth, ClientAuth::None);
        assert!(q.hostname_verification);
    }

    #[test]
    fn stores_resolve_type_and_password() {
        // A trailing newline, which 3.8's SecretUtils drops.
        let pw = fixture_path("trustpass.pass");
        let e = entries(&[
            ("ssl.quorum.keyStore.location", &fx("server.jks")),
            ("ssl.quorum.keyStore.password", "serverpass"),
            (
                "zookeeper.ssl.quorum.trustStore.location",
                &fx("truststore.p12"),
            ),
            ("ssl.quorum.trustStore.password", "ignored"),
            ("ssl.quorum.trustStore.passwordPath", pw.to_str().unwrap()),
            ("ssl.quorum.trustStore.type", "pkcs12"),
        ]);
        let q = TlsSettings::from_entries(TlsContextKind::Quorum, &e).unwrap();
        let ks = q.key_store.unwrap();
        assert_eq!(ks.file_type, KeyStoreFileType::Jks);
        assert_eq!(ks.password, "serverpass");
        assert_eq!(ks.location_key, "ssl.quorum.keyStore.location");
        let ts = q.trust_store.unwrap();
        assert_eq!(ts.file_type, KeyStoreFileType::Pkcs12);
        assert_eq!(ts.password, "trustpass");
        assert_eq!(ts.location_key, "zookeeper.ssl.quorum.trustStore.location");
        // The client context does not see quorum keys.
        let c = TlsSettings::from_entries(TlsContextKind::Client, &e).unwrap();
        assert!(c.key_store.is_none());
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("ssl.clientAuth", "maybe")], "ssl.clientAuth"),
            (
                &[
                    ("ssl.keyStore.location", "/x/keystore"),
                    ("ssl.keyStore.type", "JCEKS"),
                ],
                "ssl.keyStore.type",
            ),
            (
                &[("ssl.keyStore.location", "/x/keystore")],
                "ssl.keyStore.location",
            ),
            (
                &[
                    ("ssl.trustStore.location", "/x/t.pem"),
                    ("ssl.trustStore.passwordPath", "/nonexistent/pw"),
                ],
                "ssl.trustStore.passwordPath",
            ),
            (
                &[("ssl.handshakeDetectionTimeoutMillis", "soon")],
                "ssl.handshakeDetectionTimeoutMillis",
            ),
            (
                &[("zookeeper.ssl.enabledProtocols", "TLSv1.2,TLSv1.1")],
                "zookeeper.ssl.enabledProtocols",
            ),
            (&[("ssl.protocol", "SSLv3")], "ssl.protocol"),
            (
                &[("ssl.ciphersuites", "TLS_AES_128_GCM_SHA256,TLS_BOGUS")],
                "ssl.ciphersuites",
            ),
        ];
        for (pairs, key) in cases {
            let err =
                TlsSettings::from_entries(TlsContextKind::Client, &entries(pairs)).unwrap_err();
            assert!(err.to_string().starts_with(key), "{key}: {err}");
        }
        let err = TlsSettings::from_entries(
            TlsContextKind::Client,
            &entries(&[("ssl.enabledProtocols", "TLSv1.2,TLSv1.1,SSLv3")]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("TLSv1.1, SSLv3"), "{err}");
        let err = TlsSettings::from_entries(
            TlsContextKind::Client,
            &entries(&[("ssl.ciphersuites", "TLS_BOGUS,TLS_AES_128_GCM_SHA256,NOPE")]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("TLS_BOGUS, NOPE"), "{err}");
    }

    #[test]
    fn small_handshake_timeout_falls_back_to_default() {
        let s = TlsSettings::from_entries(
            TlsContextKind::Client,
            &entries(&[("ssl.handshakeDetectionTimeoutMillis", "0")]),
        )
        .unwrap();
        assert_eq!(s.handshake_detection_timeout, Duration::from_millis(5000));
        let s = TlsSettings::from_entries(
            TlsContextKind::Client,
            &entries(&[("ssl.handshakeDetectionTimeoutMillis", "250")]),
        )
        .unwrap();
        assert_eq!(s.handshake_detection_timeout, Duration::from_millis(250));
    }

    #[test]
    fn protocols_and_suites_map_to_rustls() {
        let s = TlsSettings::from_entries(
            TlsContextKind::Quorum,
            &entries(&[
                ("ssl.quorum.enabledProtocols", "TLSv1.3, TLSv1.2"),
                (
                    "ssl.quorum.ciphersuites",
                    "TLS_AES_256_GCM_SHA384,TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256,TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
                ),
            ]),
        )
        .unwrap();
        assert_eq!(
            s.protocol_versions,
            vec![&rustls::version::TLS13, &rustls::version::TLS12]
        );
        // The CBC suite is one Java has and rustls lacks: skipped with a warning.
        let got: Vec<_> = s.cipher_suites.iter().map(|c| c.suite()).collect();
        assert_eq!(
            got,
            [
                rustls::CipherSuite::TLS13_AES_256_GCM_SHA384,
                rustls::CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
            ]
        );
        // Only TLS 1.3 suites while only TLS 1.2 is enabled: nothing usable.
        let err = TlsSettings::from_entries(
            TlsContextKind::Quorum,
            &entries(&[("ssl.quorum.ciphersuites", "TLS_AES_256_GCM_SHA384")]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("no cipher suite"), "{err}");
        // protocol=TLSv1.3 alone enables only 1.3, and the default list gains the 1.3 suites.
        let s = TlsSettings::from_entries(
            TlsContextKind::Client,
            &entries(&[("ssl.protocol", "TLSv1.3")]),
        )
        .unwrap();
        assert_eq!(s.protocol_versions, vec![&rustls::version::TLS13]);
        assert!(s
            .cipher_suites
            .iter()
            .all(|c| c.version() == &rustls::version::TLS13));
    }
}
