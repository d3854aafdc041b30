//! `--tls-ca`, `--tls-cert`, `--tls-key`: the client side of the secure client port, as a
//! Java client with `zookeeper.client.secure=true` and `zookeeper.ssl.*` would connect.
//!
//! Stores are read with ferrokeeper's own loaders, so the files the servers use work here
//! too: PEM (a key may be encrypted with `--tls-password`, as 3.8's PemReader allows), JKS
//! and PKCS12 by file extension. The server's certificate is checked against `--tls-ca` and
//! must name `--tls-server-name` (default: the IP address connected to), as rustls checks
//! any server.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ferrokeeper::tls::{load_key_store, load_trust_store, KeyStoreFileType, StoreSpec};
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use crate::proto::TlsTarget;

/// The TLS options of the command line.
pub(crate) struct TlsOptions<'a> {
    pub(crate) ca: &'a Path,
    pub(crate) cert: Option<&'a Path>,
    pub(crate) key: Option<&'a Path>,
    pub(crate) password: &'a str,
    pub(crate) server_name: Option<&'a str>,
}

fn spec(option: &str, path: &Path, password: &str) -> Result<StoreSpec, String> {
    let file_type = KeyStoreFileType::from_file_name(&path.to_string_lossy())
        .ok_or_else(|| format!("{option} {}: expected .pem, .jks or .p12", path.display()))?;
    Ok(StoreSpec {
        location_key: option.to_owned(),
        location: PathBuf::from(path),
        password: password.to_owned(),
        file_type,
    })
}

/// Our certificate chain and key: one store (`--tls-cert`), or a PEM chain and a separate
/// unencrypted PEM key (`--tls-key`).
fn identity(
    cert: &Path,
    key: Option<&Path>,
    password: &str,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    let Some(key) = key else {
        let m = load_key_store(&spec("--tls-cert", cert, password)?).map_err(|e| e.to_string())?;
        return Ok((m.chain, m.key));
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("--tls-cert {}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("--tls-cert {}: no certificate", cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("--tls-key {}: {e}", key.display()))?;
    Ok((chain, key))
}

/// A client config from the options, checked now so a bad file fails before any load.
pub(crate) fn target(o: &TlsOptions<'_>, addr: SocketAddr) -> Result<TlsTarget, String> {
    let mut roots = RootCertStore::empty();
    let anchors =
        load_trust_store(&spec("--tls-ca", o.ca, o.password)?).map_err(|e| e.to_string())?;
    for cert in anchors {
        roots
            .add(cert)
            .map_err(|e| format!("--tls-ca {}: {e}", o.ca.display()))?;
    }
    if roots.is_empty() {
        return Err(format!("--tls-ca {}: no certificate", o.ca.display()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    let config = match o.cert {
        Some(cert) => {
            let (chain, key) = identity(cert, o.key, o.password)?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("--tls-cert {}: {e}", cert.display()))?
        }
        None if o.key.is_some() => return Err("--tls-key needs --tls-cert".to_owned()),
        None => builder.with_no_client_auth(),
    };
    let server_name = match o.server_name {
        Some(n) => {
            ServerName::try_from(n.to_owned()).map_err(|e| format!("--tls-server-name {n}: {e}"))?
        }
        None => ServerName::IpAddress(addr.ip().into()),
    };
    Ok(TlsTarget {
        config: Arc::new(config),
        server_name,
    })
}
