//! TLS material: settings, key and trust stores, rustls configurations and the x509 identity.
//! The listeners, the quorum sockets and the AdminServer build on it; [`detect`] tells TLS
//! from plaintext on port-unified sockets, [`TlsSource`] follows the store files.
//!
//! Replaces, for 3.8: `X509Util` / `ClientX509Util` / `QuorumX509Util` and `ZKConfig`'s ssl
//! keys ([`TlsSettings`]), `KeyStoreFileType`, `FileKeyStoreLoader*`, `PemReader`,
//! `SecretUtils` ([`store`]), the JDK's JKS reader (`jks`), `SSLContextAndOptions` and
//! `ZKTrustManager` ([`TlsMaterial`]) and `X509AuthenticationProvider#getClientId`
//! ([`x509_subject_name`], [`peer_x509_id`]).
//!
//! Use: `TlsSettings::from_config(kind, &cfg)` → `TlsMaterial::load(settings)` → per socket
//! `server_config()` / `client_config(names)` (and `verify_peer_host` after a quorum accept).
//!
//! Invariants:
//! * Crypto is rustls with the `ring` provider; no system OpenSSL.
//! * Everything a setting can get wrong is a [`TlsError`] at load time naming the key as the
//!   user wrote it (`ssl.keyStore.location`, `zookeeper.ssl.quorum.ciphersuites`, ...), and
//!   for a store the file and the reason; nothing on file or config data panics.
//! * Passwords are never logged or printed (`StoreSpec`'s Debug redacts them).
//! * The `x509` id of a peer is byte-for-byte what Java's `X500Principal.getName()` gives,
//!   since ACLs written for a 3.8 ensemble compare it as a string.

mod context;
pub(crate) mod der;
pub mod detect;
mod dn;
mod dn_string;
mod hostname;
pub(crate) mod jks;
mod reload;
pub mod settings;
pub mod store;

use std::path::PathBuf;

pub use context::{java_name, peer_x509_id, TlsMaterial};
pub use der::DerError;
pub use dn::x509_subject_name;
pub use dn_string::is_valid_x500_name;
pub use reload::TlsSource;
pub use settings::{ClientAuth, TlsContextKind, TlsSettings};
pub use store::{load_key_store, load_trust_store, KeyMaterial, KeyStoreFileType, StoreSpec};

/// What is wrong with a store file.
#[derive(Debug, thiserror::Error)]
pub enum StoreProblem {
    #[error("cannot read the file: {0}")]
    Read(std::io::Error),
    #[error("wrong password: {0}")]
    WrongPassword(String),
    #[error("no private key entry")]
    NoPrivateKey,
    #[error("no certificates")]
    NoCertificates,
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error("malformed: {0}")]
    Malformed(String),
}

/// Why a TLS context cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A setting's value is unusable.
    #[error("{key}: {value:?}: {problem}")]
    Setting {
        key: String,
        value: String,
        problem: String,
    },
    /// A key store or trust store cannot be used; `key` is its location setting.
    #[error("{key} = {}: {problem}", path.display())]
    Store {
        key: String,
        path: PathBuf,
        problem: StoreProblem,
    },
    /// The settings do not make a usable configuration (e.g. a listener without a key store).
    #[error("{0}")]
    Build(String),
    /// A quorum peer's certificate does not name the address it connected from.
    #[error("hostname verification failed: {0}")]
    PeerHost(String),
}
