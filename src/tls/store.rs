//! Key stores and trust stores from files: 3.8's `KeyStoreFileType`, `FileKeyStoreLoader*`,
//! `PEMFileLoader` / `PemReader`, `JKSFileLoader`, `PKCS12FileLoader`.
//!
//! * Type: the `type` setting (case-insensitive JKS, PEM, PKCS12, BCFKS) or, when unset, the
//!   file name's last `.` suffix, exactly `.jks`, `.pem`, `.p12` or `.bcfks` (3.8 knows no
//!   `.pfx`). BCFKS is recognised and refused: it needs Bouncy Castle's FIPS provider.
//! * JKS and PKCS12 are sniffed by content as the JDK 9+ does (`keystore.type.compat`): a
//!   `.jks` that is really PKCS12 loads, and the other way round.
//! * Key store: the first private-key entry (by alias, as the JDK's key manager would pick
//!   among equals) and its chain; the key password is the store password, as 3.8 passes it
//!   to `KeyManagerFactory#init`.
//! * Trust store: JKS and PKCS12 trusted-certificate entries only (a PKCS12 certificate needs
//!   Java's trusted-key-usage attribute, as in the JDK; keytool sets it, openssl does not),
//!   or every certificate of a PEM file. An empty trust store is an error, as the JDK's
//!   `PKIXBuilderParameters` makes it.
//! * PEM key store: one file with the private key and the chain. PKCS#8 as 3.8 reads it,
//!   encrypted with PBES2 (AES, PBKDF2 with HMAC-SHA1/SHA-2) when a password is set; PBES1
//!   and PKCS#12 PBE keys, which Java also reads, are refused naming their algorithm.
//!   Lenient where 3.8 fails: a plain key with a password set, PKCS#1 and SEC1 keys.

use std::path::{Path, PathBuf};

use base64::Engine;
use rustls_pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer,
};

use super::jks::{self, JksError};
use super::{StoreProblem, TlsError};

/// 3.8's `KeyStoreFileType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStoreFileType {
    Jks,
    Pem,
    Pkcs12,
    /// Bouncy Castle FIPS key store: recognised so the error can say what it is.
    Bcfks,
}

impl KeyStoreFileType {
    /// `fromPropertyValue`: `Ok(None)` for an empty value.
    pub fn from_property_value(value: &str) -> Result<Option<Self>, String> {
        match value.to_uppercase().as_str() {
            "" => Ok(None),
            "JKS" => Ok(Some(Self::Jks)),
            "PEM" => Ok(Some(Self::Pem)),
            "PKCS12" => Ok(Some(Self::Pkcs12)),
            "BCFKS" => Ok(Some(Self::Bcfks)),
            _ => Err(format!(
                "unknown key store type {value:?}; expected JKS, PEM, PKCS12 or BCFKS"
            )),
        }
    }

    /// `fromFilename`: the text from the last `.` of the whole path, compared exactly.
    pub fn from_file_name(path: &str) -> Option<Self> {
        let ext = &path[path.rfind('.')?..];
        match ext {
            ".jks" => Some(Self::Jks),
            ".pem" => Some(Self::Pem),
            ".p12" => Some(Self::Pkcs12),
            ".bcfks" => Some(Self::Bcfks),
            _ => None,
        }
    }
}

/// Where one store comes from, with the setting names for error messages.
#[derive(Clone)]
pub struct StoreSpec {
    /// The setting that named the file, as written (e.g. `ssl.keyStore.location`).
    pub location_key: String,
    pub location: PathBuf,
    /// Empty when unset, as 3.8 defaults it.
    pub password: String,
    pub file_type: KeyStoreFileType,
}

impl std::fmt::Debug for StoreSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreSpec")
            .field("location_key", &self.location_key)
            .field("location", &self.location)
            .field("password", &"<redacted>")
            .field("file_type", &self.file_type)
            .finish()
    }
}

/// Our certificate chain (leaf first) and its private key.
#[derive(Debug)]
pub struct KeyMaterial {
    /// The alias of the entry used (`key` for PEM, as 3.8's PemReader names it).
    pub alias: String,
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

impl StoreSpec {
    fn err(&self, problem: StoreProblem) -> TlsError {
        TlsError::Store {
            key: self.location_key.clone(),
            path: self.location.clone(),
            problem,
        }
    }

    fn read(&self) -> Result<Vec<u8>, TlsError> {
        std::fs::read(&self.location).map_err(|e| self.err(StoreProblem::Read(e)))
    }
}

/// Loads the key store: our key and chain.
pub fn load_key_store(spec: &StoreSpec) -> Result<KeyMaterial, TlsError> {
    let bytes = spec.read()?;
    let material = match spec.file_type {
        KeyStoreFileType::Pem => pem_key_store(&bytes, &spec.password),
        KeyStoreFileType::Jks | KeyStoreFileType::Pkcs12 => {
            if is_jks(&bytes) {
                jks_key_store(&bytes, &spec.password)
            } else {
                pkcs12_key_store(&bytes, &spec.password)
            }
        }
        KeyStoreFileType::Bcfks => Err(bcfks()),
    }
    .map_err(|p| spec.err(p))?;
    tracing::debug!(
        key = spec.location_key,
        path = %spec.location.display(),
        alias = material.alias,
        chain = material.chain.len(),
        "loaded key store"
    );
    Ok(material)
}

/// Loads the trust store: the certificates we trust as anchors.
pub fn load_trust_store(spec: &StoreSpec) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = spec.read()?;
    let certs = match spec.file_type {
        KeyStoreFileType::Pem => pem_blocks(&bytes).map(|blocks| {
            blocks
                .into_iter()
                .filter(|b| b.label.contains("CERTIFICATE"))
                .map(|b| CertificateDer::from(b.der))
                .collect::<Vec<_>>()
        }),
        KeyStoreFileType::Jks | KeyStoreFileType::Pkcs12 => {
            if is_jks(&bytes) {
                jks::parse(&bytes, &spec.password)
                    .map_err(jks_problem)
                    .map(|s| {
                        s.trusted
                            .into_iter()
                            .map(|(_, der)| CertificateDer::from(der))
                            .collect()
                    })
            } else {
                pkcs12(&bytes, &spec.password).map(|ks| {
                    ks.entries()
                        .filter_map(|(_, e)| match e {
                            p12_keystore::KeyStoreEntry::Certificate(c) => {
                                Some(CertificateDer::from(c.as_der().to_vec()))
                            }
                            _ => None,
                        })
                        .collect()
                })
            }
        }
        KeyStoreFileType::Bcfks => Err(bcfks()),
    }
    .map_err(|p| spec.err(p))?;
    if certs.is_empty() {
        return Err(spec.err(StoreProblem::NoCertificates));
    }
    tracing::debug!(
        key = spec.location_key,
        path = %spec.location.display(),
        certificates = certs.len(),
        "loaded trust store"
    );
    Ok(certs)
}

/// The password from `passwordPath` as 3.8's `SecretUtils#readSecret` reads it: the whole
/// file as UTF-8 less one trailing line separator (`\n` on the platforms we run on).
pub fn read_password_file(path: &Path) -> std::io::Result<String> {
    let bytes = std::fs::read(path)?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    Ok(match text.strip_suffix('\n') {
        Some(t) => t.to_owned(),
        None => text,
    })
}

fn bcfks() -> StoreProblem {
    StoreProblem::Unsupported(
        "BCFKS (Bouncy Castle FIPS key store) is not supported; convert it to PKCS12 or JKS \
         with keytool -importkeystore"
            .to_owned(),
    )
}

fn is_jks(bytes: &[u8]) -> bool {
    let magic = bytes
        .get(..4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    // Anything that is not a DER SEQUENCE goes to the JKS parser, which names the bad magic.
    matches!(magic, Some(jks::MAGIC) | Some(jks::JCEKS_MAGIC)) || bytes.first() != Some(&0x30)
}

fn jks_problem(e: JksError) -> StoreProblem {
    match e {
        JksError::WrongPassword | JksError::WrongKeyPassword(_) => {
            StoreProblem::WrongPassword(e.to_string())
        }
        JksError::Unsupported(m) => StoreProblem::Unsupported(m),
        JksError::Malformed(m) => StoreProblem::Malformed(m),
    }
}

fn jks_key_store(bytes: &[u8], password: &str) -> Result<KeyMaterial, StoreProblem> {
    let store = jks::parse(bytes, password).map_err(jks_problem)?;
    let mut keys = store.keys;
    keys.sort_by(|a, b| a.alias.cmp(&b.alias));
    let entry = keys.first().ok_or(StoreProblem::NoPrivateKey)?;
    if keys.len() > 1 {
        tracing::warn!(
            alias = entry.alias,
            entries = keys.len(),
            "key store holds several private keys; using the first alias"
        );
    }
    let key = entry.decrypt(password).map_err(jks_problem)?;
    Ok(KeyMaterial {
        alias: entry.alias.clone(),
        chain: entry
            .chain
            .iter()
            .map(|c| CertificateDer::from(c.clone()))
            .collect(),
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)),
    })
}

fn pkcs12(bytes: &[u8], password: &str) -> Result<p12_keystore::KeyStore, StoreProblem> {
    p12_keystore::KeyStore::from_pkcs12(bytes, password).map_err(|e| match e {
        p12_keystore::error::Error::MacError(_) => StoreProblem::WrongPassword(
            "the PKCS12 integrity check failed: wrong password".to_owned(),
        ),
        other => StoreProblem::Malformed(format!("PKCS12: {other}")),
    })
}

fn pkcs12_key_store(bytes: &[u8], password: &str) -> Result<KeyMaterial, StoreProblem> {
    let store = pkcs12(bytes, password)?;
    let (alias, entry) = store
        .private_key_chain()
        .ok_or(StoreProblem::NoPrivateKey)?;
    Ok(KeyMaterial {
        alias: alias.to_owned(),
        chain: entry
            .chain()
            .iter()
            .map(|c| CertificateDer::from(c.as_der().to_vec()))
            .collect(),
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(entry.key().to_vec())),
    })
}

struct PemBlock {
    label: String,
    der: Vec<u8>,
}

/// The `-----BEGIN x-----` … `-----END x-----` blocks of a file, in order. Text between
/// blocks is ignored, as 3.8's PemReader regexes ignore it.
fn pem_blocks(bytes: &[u8]) -> Result<Vec<PemBlock>, StoreProblem> {
    let text = String::from_utf8_lossy(bytes);
    let mut rest: &str = &text;
    let mut blocks = Vec::new();
    while let Some(begin) = rest.find("-----BEGIN ") {
        let after = &rest[begin + "-----BEGIN ".len()..];
        let label_end = after
            .find("-----")
            .ok_or_else(|| StoreProblem::Malformed("unterminated PEM header".to_owned()))?;
        let label = after[..label_end].trim().to_owned();
        let body_and_rest = &after[label_end + 5..];
        let end = body_and_rest
            .find("-----END ")
            .ok_or_else(|| StoreProblem::Malformed(format!("PEM block {label} has no END line")))?;
        let body = &body_and_rest[..end];
        if body.contains(':') {
            return Err(StoreProblem::Unsupported(format!(
                "PEM block {label} has headers (legacy OpenSSL encryption); use PKCS#8: \
                 openssl pkcs8 -topk8"
            )));
        }
        let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64.as_bytes())
            .map_err(|e| StoreProblem::Malformed(format!("PEM block {label}: {e}")))?;
        blocks.push(PemBlock { label, der });
        let tail = &body_and_rest[end + "-----END ".len()..];
        rest = match tail.find("-----") {
            Some(i) => &tail[i + 5..],
            None => "",
        };
    }
    Ok(blocks)
}

/// PBES2's OID; Java also reads PBES1 and PKCS#12 PBE keys, which we refuse by name.
const PBES2_OID: &str = "1.2.840.113549.1.5.13";

/// An `EncryptedPrivateKeyInfo` decrypted to its PKCS#8 `PrivateKeyInfo`.
fn decrypt_pkcs8(der: &[u8], password: &str) -> Result<pkcs8::SecretDocument, StoreProblem> {
    let malformed =
        |e: &dyn std::fmt::Display| StoreProblem::Malformed(format!("encrypted private key: {e}"));
    let oid = {
        use super::der::{oid_to_string, Reader, TAG_OID, TAG_SEQUENCE};
        let outer = Reader::new(der)
            .expect(TAG_SEQUENCE, "not a SEQUENCE")
            .map_err(|e| malformed(&e))?;
        let alg = Reader::new(outer.content)
            .expect(TAG_SEQUENCE, "no algorithm")
            .map_err(|e| malformed(&e))?;
        let oid = Reader::new(alg.content)
            .expect(TAG_OID, "no algorithm OID")
            .map_err(|e| malformed(&e))?;
        oid_to_string(oid.content).map_err(|e| malformed(&e))?
    };
    let unsupported = |what: String| {
        StoreProblem::Unsupported(format!(
            "private key encryption {what}: only PBES2 (e.g. AES) is supported; re-encrypt \
             with openssl pkcs8 -topk8 -v2 aes-256-cbc"
        ))
    };
    if oid != PBES2_OID {
        return Err(unsupported(oid));
    }
    let info = pkcs8::EncryptedPrivateKeyInfo::try_from(der).map_err(|e| malformed(&e))?;
    info.decrypt(password).map_err(|e| match e {
        // A wrong password shows as bad padding (pkcs5 0.7 reports it as EncryptFailed) or,
        // rarely, as padding that passes over garbage that is no DER.
        pkcs8::Error::EncryptedPrivateKey(
            pkcs5::Error::DecryptFailed | pkcs5::Error::EncryptFailed,
        )
        | pkcs8::Error::Asn1(_) => {
            StoreProblem::WrongPassword("cannot decrypt the private key".to_owned())
        }
        other => unsupported(other.to_string()),
    })
}

fn pem_key_store(bytes: &[u8], password: &str) -> Result<KeyMaterial, StoreProblem> {
    let blocks = pem_blocks(bytes)?;
    let key_block = blocks
        .iter()
        .find(|b| b.label.contains("PRIVATE KEY"))
        .ok_or(StoreProblem::NoPrivateKey)?;
    let key = match key_block.label.as_str() {
        "ENCRYPTED PRIVATE KEY" => {
            if password.is_empty() {
                return Err(StoreProblem::WrongPassword(
                    "the private key is encrypted and no password is set".to_owned(),
                ));
            }
            let doc = decrypt_pkcs8(&key_block.der, password)?;
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(doc.as_bytes().to_vec()))
        }
        "PRIVATE KEY" => PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_block.der.clone())),
        "RSA PRIVATE KEY" => PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(key_block.der.clone())),
        "EC PRIVATE KEY" => PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(key_block.der.clone())),
        other => {
            return Err(StoreProblem::Unsupported(format!(
                "private key block {other}"
            )))
        }
    };
    let chain: Vec<CertificateDer<'static>> = blocks
        .iter()
        .filter(|b| b.label.contains("CERTIFICATE"))
        .map(|b| CertificateDer::from(b.der.clone()))
        .collect();
    if chain.is_empty() {
        return Err(StoreProblem::NoCertificates);
    }
    Ok(KeyMaterial {
        alias: "key".to_owned(),
        chain,
        key,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn fixture_path(name: &str) -> PathBuf {
        PathBuf::from(format!(
            "{}/src/tls/fixtures/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
    }

    pub(crate) fn spec(name: &str, password: &str) -> StoreSpec {
        let location = fixture_path(name);
        let file_type = KeyStoreFileType::from_file_name(&location.to_string_lossy()).unwrap();
        StoreSpec {
            location_key: "ssl.keyStore.location".to_owned(),
            location,
            password: password.to_owned(),
            file_type,
        }
    }

    fn leaf_subject(m: &KeyMaterial) -> String {
        crate::tls::x509_subject_name(&m.chain[0]).unwrap()
    }

    #[test]
    fn type_from_setting_or_file_name() {
        assert_eq!(
            KeyStoreFileType::from_property_value("pkcs12"),
            Ok(Some(KeyStoreFileType::Pkcs12))
        );
        assert_eq!(KeyStoreFileType::from_property_value(""), Ok(None));
        assert!(KeyStoreFileType::from_property_value("JCEKS").is_err());
        assert_eq!(
            KeyStoreFileType::from_file_name("/a/b.jks"),
            Some(KeyStoreFileType::Jks)
        );
        assert_eq!(
            KeyStoreFileType::from_file_name("b.p12"),
            Some(KeyStoreFileType::Pkcs12)
        );
        assert_eq!(
            KeyStoreFileType::from_file_name("b.pem"),
            Some(KeyStoreFileType::Pem)
        );
        assert_eq!(
            KeyStoreFileType::from_file_name("b.bcfks"),
            Some(KeyStoreFileType::Bcfks)
        );
        // As in 3.8: exact, case-sensitive suffix, no .pfx, the last dot of the whole path.
        assert_eq!(KeyStoreFileType::from_file_name("b.JKS"), None);
        assert_eq!(KeyStoreFileType::from_file_name("b.pfx"), None);
        assert_eq!(KeyStoreFileType::from_file_name("/etc/zk.d/keystore"), None);
    }

    #[test]
    fn every_key_store_type_yields_the_same_identity() {
        for (file, pass) in [
            ("server.jks", "serverpass"),
            ("server.p12", "serverpass"),
            ("server.pem", "serverpass"),
            ("server-nopass.pem", ""),
            ("server-p12.jks", "serverpass"),
            ("server-keytool.p12", "serverpass"),
            ("server-legacy.p12", "serverpass"),
        ] {
            let m = load_key_store(&spec(file, pass)).unwrap();
            assert_eq!(
                leaf_subject(&m),
                "CN=server,OU=Eng,O=Example,C=US",
                "{file}"
            );
            assert_eq!(m.chain.len(), 2, "{file}");
        }
        for (file, pass) in [
            ("client.jks", "clientpass"),
            ("client.p12", "clientpass"),
            ("client.pem", "clientpass"),
            ("client-sha1prf.pem", "clientpass"),
        ] {
            let m = load_key_store(&spec(file, pass)).unwrap();
            assert_eq!(
                leaf_subject(&m),
                "CN=client,OU=Eng,O=Example,C=US",
                "{file}"
            );
        }
    }

    #[test]
    fn trust_stores_hold_the_ca() {
        for (file, pass) in [
            ("truststore.jks", "trustpass"),
            ("truststore.p12", "trustpass"),
            ("truststore.pem", ""),
            ("truststore.pem", "ignored for PEM"),
        ] {
            let certs = load_trust_store(&spec(file, pass)).unwrap();
            assert_eq!(certs.len(), 1, "{file}");
            assert_eq!(
                crate::tls::x509_subject_name(&certs[0]).unwrap(),
                "CN=Test CA,O=Ferrokeeper Test,C=US"
            );
        }
    }

    #[test]
    fn openssl_pkcs12_certificates_are_not_trust_anchors() {
        // No trusted-key-usage attribute: the JDK ignores them, so do we.
        let err = load_trust_store(&spec("server.p12", "serverpass")).unwrap_err();
        assert!(matches!(
            err,
            TlsError::Store {
                problem: StoreProblem::NoCertificates,
                ..
            }
        ));
    }

    #[test]
    fn wrong_passwords_are_reported_as_such() {
        for file in [
            "server.jks",
            "server.p12",
            "server.pem",
            "server-p12.jks",
            "server-keytool.p12",
            "server-legacy.p12",
        ] {
            let err = load_key_store(&spec(file, "wrong")).unwrap_err();
            assert!(
                matches!(
                    err,
                    TlsError::Store {
                        problem: StoreProblem::WrongPassword(_),
                        ..
                    }
                ),
                "{file}: {err}"
            );
            let text = err.to_string();
            assert!(text.contains("ssl.keyStore.location"), "{text}");
            assert!(text.contains(file), "{text}");
        }
        let err = load_key_store(&spec("server.pem", "")).unwrap_err();
        assert!(matches!(
            err,
            TlsError::Store {
                problem: StoreProblem::WrongPassword(_),
                ..
            }
        ));
        let err = load_trust_store(&spec("truststore.jks", "")).unwrap_err();
        assert!(matches!(
            err,
            TlsError::Store {
                problem: StoreProblem::WrongPassword(_),
                ..
            }
        ));
    }

    #[test]
    fn pbes1_keys_are_refused_by_name() {
        let err = load_key_store(&spec("client-pbes1.pem", "clientpass")).unwrap_err();
        assert!(
            matches!(
                err,
                TlsError::Store {
                    problem: StoreProblem::Unsupported(_),
                    ..
                }
            ),
            "{err}"
        );
        // pbeWithSHAAnd3-KeyTripleDES-CBC
        assert!(err.to_string().contains("1.2.840.113549.1.12.1.3"), "{err}");
    }

    #[test]
    fn missing_file_names_key_and_path() {
        let err = load_key_store(&spec("nope.jks", "x")).unwrap_err();
        assert!(matches!(
            err,
            TlsError::Store {
                problem: StoreProblem::Read(_),
                ..
            }
        ));
        let text = err.to_string();
        assert!(
            text.contains("ssl.keyStore.location") && text.contains("nope.jks"),
            "{text}"
        );
    }

    #[test]
    fn trust_store_as_key_store_has_no_private_key() {
        for (file, pass) in [
            ("truststore.jks", "trustpass"),
            ("truststore.pem", ""),
            ("truststore.p12", "trustpass"),
        ] {
            let err = load_key_store(&spec(file, pass)).unwrap_err();
            assert!(
                matches!(
                    err,
                    TlsError::Store {
                        problem: StoreProblem::NoPrivateKey,
                        ..
                    }
                ),
                "{file}: {err}"
            );
        }
    }

    #[test]
    fn type_setting_overrides_extension_and_bcfks_is_refused() {
        let mut s = spec("truststore.pem", "");
        s.file_type = KeyStoreFileType::Bcfks;
        let err = load_trust_store(&s).unwrap_err();
        assert!(err.to_string().contains("BCFKS"), "{err}");
        // A PEM file read as JKS: the JKS parser names the bad magic.
        s.file_type = KeyStoreFileType::Jks;
        let err = load_trust_store(&s).unwrap_err();
        assert!(
            matches!(
                err,
                TlsError::Store {
                    problem: StoreProblem::Malformed(_),
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn password_file_loses_one_trailing_newline_only() {
        let dir = std::env::temp_dir().join(format!("fk-tls-pw-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("pw");
        std::fs::write(&p, "secret\n").unwrap();
        assert_eq!(read_password_file(&p).unwrap(), "secret");
        std::fs::write(&p, " secret \n\n").unwrap();
        assert_eq!(read_password_file(&p).unwrap(), " secret \n");
        std::fs::write(&p, "secret").unwrap();
        assert_eq!(read_password_file(&p).unwrap(), "secret");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
