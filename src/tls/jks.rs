//! keytool's JKS key store format (the JDK's `sun.security.provider.JavaKeyStore`).
//!
//! Layout, all integers big-endian: magic `0xFEEDFEED`, version (1 or 2), entry count, then
//! per entry a tag (1 = private key, 2 = trusted certificate), the alias (Java `writeUTF`:
//! u16 length + modified UTF-8), a creation time (i64 ms), and
//! * private key: u32 length + the protected key (an `EncryptedPrivateKeyInfo` whose
//!   algorithm is Sun's key protector), u32 chain length, each certificate as
//!   [version 2: `writeUTF` type] + u32 length + DER;
//! * trusted certificate: [version 2: type] + u32 length + DER.
//!
//! The file ends with SHA-1(password as UTF-16BE ‖ "Mighty Aphrodite" ‖ everything before),
//! which Java checks on load even for an empty password; a mismatch is Java's "Keystore was
//! tampered with, or password was incorrect".
//!
//! Sun's key protector: the protected bytes are salt(20) ‖ ciphertext ‖ check(20); the key
//! stream is the chain of digests d₀ = salt, dᵢ = SHA-1(password ‖ dᵢ₋₁); the check is
//! SHA-1(password ‖ plaintext), the plaintext a PKCS#8 `PrivateKeyInfo`.

use sha1::{Digest, Sha1};

use super::der::{self, Reader, TAG_OCTET_STRING, TAG_OID, TAG_SEQUENCE};

pub(crate) const MAGIC: u32 = 0xFEED_FEED;
/// JCEKS (`keytool -storetype JCEKS`), which we do not read.
pub(crate) const JCEKS_MAGIC: u32 = 0xCECE_CECE;
const KEY_PROTECTOR_OID: &str = "1.3.6.1.4.1.42.2.17.1.1";
const DIGEST_LEN: usize = 20;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum JksError {
    #[error("not a JKS key store: {0}")]
    Malformed(String),
    /// The keyed integrity digest disagrees: Java's "Keystore was tampered with, or password
    /// was incorrect".
    #[error("key store was tampered with, or password was incorrect")]
    WrongPassword,
    /// The key protector's check digest disagrees for this alias.
    #[error("cannot recover the private key of entry '{0}': wrong password")]
    WrongKeyPassword(String),
    #[error("{0}")]
    Unsupported(String),
}

/// One private-key entry, still protected.
#[derive(Debug, Clone)]
pub(crate) struct JksKeyEntry {
    pub(crate) alias: String,
    protected_key: Vec<u8>,
    pub(crate) chain: Vec<Vec<u8>>,
}

/// A parsed and integrity-checked JKS file.
#[derive(Debug, Clone, Default)]
pub(crate) struct JksStore {
    pub(crate) keys: Vec<JksKeyEntry>,
    /// Trusted-certificate entries: (alias, DER).
    pub(crate) trusted: Vec<(String, Vec<u8>)>,
}

struct Input<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Input<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], JksError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| JksError::Malformed(format!("truncated {what}")))?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn u16(&mut self, what: &str) -> Result<u16, JksError> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self, what: &str) -> Result<u32, JksError> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn utf(&mut self, what: &str) -> Result<String, JksError> {
        let len = usize::from(self.u16(what)?);
        // Modified UTF-8 differs from UTF-8 only for NUL and supplementary characters, which
        // aliases and certificate types do not hold in practice.
        Ok(String::from_utf8_lossy(self.take(len, what)?).into_owned())
    }

    fn blob(&mut self, what: &str) -> Result<&'a [u8], JksError> {
        let len = self.u32(what)? as usize;
        self.take(len, what)
    }
}

/// Java's `char[]` password as the bytes both JKS digests use: UTF-16BE.
fn password_bytes(password: &str) -> Vec<u8> {
    password.encode_utf16().flat_map(u16::to_be_bytes).collect()
}

/// Parses `bytes` and verifies the keyed integrity digest with `password`.
pub(crate) fn parse(bytes: &[u8], password: &str) -> Result<JksStore, JksError> {
    let mut input = Input { bytes, pos: 0 };
    match input.u32("magic")? {
        MAGIC => {}
        JCEKS_MAGIC => {
            return Err(JksError::Unsupported(
                "JCEKS key stores are not supported; convert with keytool -importkeystore \
                 -deststoretype PKCS12"
                    .to_owned(),
            ))
        }
        other => return Err(JksError::Malformed(format!("bad magic {other:#010x}"))),
    }
    let version = input.u32("version")?;
    if version != 1 && version != 2 {
        return Err(JksError::Malformed(format!("unknown version {version}")));
    }
    let count = input.u32("entry count")?;
    let mut store = JksStore::default();
    // Each entry takes at least 14 bytes; bounds the loop by the data, not only the header.
    if count as usize > bytes.len() / 14 {
        return Err(JksError::Malformed(format!(
            "entry count {count} exceeds the file"
        )));
    }
    for _ in 0..count {
        let tag = input.u32("entry tag")?;
        let alias = input.utf("alias")?;
        input.take(8, "entry date")?;
        match tag {
            1 => {
                let protected_key = input.blob("protected key")?.to_vec();
                let n = input.u32("chain length")?;
                if n as usize > bytes.len() / 4 {
                    return Err(JksError::Malformed(format!(
                        "chain length {n} exceeds the file"
                    )));
                }
                let mut chain = Vec::new();
                for _ in 0..n {
                    chain.push(read_cert(&mut input, version)?);
                }
                store.keys.push(JksKeyEntry {
                    alias,
                    protected_key,
                    chain,
                });
            }
            2 => {
                let cert = read_cert(&mut input, version)?;
                store.trusted.push((alias, cert));
            }
            3 => {
                return Err(JksError::Unsupported(format!(
                    "entry '{alias}' is a secret key, which JKS cannot hold"
                )))
            }
            other => return Err(JksError::Malformed(format!("unknown entry tag {other}"))),
        }
    }
    let body_len = input.pos;
    let stored = input.take(DIGEST_LEN, "integrity digest")?;
    let mut md = Sha1::new();
    md.update(password_bytes(password));
    md.update(b"Mighty Aphrodite");
    md.update(&bytes[..body_len]);
    if md.finalize().as_slice() != stored {
        return Err(JksError::WrongPassword);
    }
    Ok(store)
}

fn read_cert(input: &mut Input<'_>, version: u32) -> Result<Vec<u8>, JksError> {
    if version == 2 {
        let cert_type = input.utf("certificate type")?;
        if cert_type != "X.509" {
            return Err(JksError::Unsupported(format!(
                "certificate type {cert_type}"
            )));
        }
    }
    Ok(input.blob("certificate")?.to_vec())
}

impl JksKeyEntry {
    /// The PKCS#8 `PrivateKeyInfo`, recovered with the key password (3.8 uses the store
    /// password for keys too: `KeyManagerFactory#init(keyStore, password)`).
    pub(crate) fn decrypt(&self, password: &str) -> Result<Vec<u8>, JksError> {
        let malformed = |e: der::DerError| {
            JksError::Malformed(format!("protected key of '{}': {e}", self.alias))
        };
        let epki = Reader::new(&self.protected_key)
            .expect(TAG_SEQUENCE, "EncryptedPrivateKeyInfo is not a SEQUENCE")
            .map_err(malformed)?;
        let mut fields = Reader::new(epki.content);
        let alg = fields
            .expect(TAG_SEQUENCE, "algorithm is not a SEQUENCE")
            .map_err(malformed)?;
        let oid = Reader::new(alg.content)
            .expect(TAG_OID, "algorithm has no OID")
            .map_err(malformed)?;
        let oid = der::oid_to_string(oid.content).map_err(malformed)?;
        if oid != KEY_PROTECTOR_OID {
            return Err(JksError::Unsupported(format!(
                "entry '{}' is protected with algorithm {oid}, not Sun's JKS key protector",
                self.alias
            )));
        }
        let data = fields
            .expect(TAG_OCTET_STRING, "encryptedData is not an OCTET STRING")
            .map_err(malformed)?
            .content;
        if data.len() < 2 * DIGEST_LEN {
            return Err(JksError::Malformed(format!(
                "protected key of '{}' is too short",
                self.alias
            )));
        }
        let (salt, rest) = data.split_at(DIGEST_LEN);
        let (cipher, check) = rest.split_at(rest.len() - DIGEST_LEN);
        let pw = password_bytes(password);
        let mut plain = Vec::with_capacity(cipher.len());
        let mut digest: Vec<u8> = salt.to_vec();
        for block in cipher.chunks(DIGEST_LEN) {
            digest = Sha1::new()
                .chain_update(&pw)
                .chain_update(&digest)
                .finalize()
                .to_vec();
            plain.extend(block.iter().zip(&digest).map(|(c, k)| c ^ k));
        }
        let expect = Sha1::new()
            .chain_update(&pw)
            .chain_update(&plain)
            .finalize();
        if expect.as_slice() != check {
            return Err(JksError::WrongKeyPassword(self.alias.clone()));
        }
        Ok(plain)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/src/tls/fixtures/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    /// Re-encodes a store as format version 1 (no certificate type strings), with a fresh
    /// digest: keytool only writes version 2, but old stores are version 1.
    fn to_version_1(store: &JksStore, password: &str) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend(MAGIC.to_be_bytes());
        out.extend(1u32.to_be_bytes());
        out.extend(((store.keys.len() + store.trusted.len()) as u32).to_be_bytes());
        let utf = |out: &mut Vec<u8>, s: &str| {
            out.extend((s.len() as u16).to_be_bytes());
            out.extend(s.as_bytes());
        };
        for k in &store.keys {
            out.extend(1u32.to_be_bytes());
            utf(&mut out, &k.alias);
            out.extend(0u64.to_be_bytes());
            out.extend((k.protected_key.len() as u32).to_be_bytes());
            out.extend(&k.protected_key);
            out.extend((k.chain.len() as u32).to_be_bytes());
            for c in &k.chain {
                out.extend((c.len() as u32).to_be_bytes());
                out.extend(c);
            }
        }
        for (alias, c) in &store.trusted {
            out.extend(2u32.to_be_bytes());
            utf(&mut out, alias);
            out.extend(0u64.to_be_bytes());
            out.extend((c.len() as u32).to_be_bytes());
            out.extend(c);
        }
        let digest = Sha1::new()
            .chain_update(password_bytes(password))
            .chain_update(b"Mighty Aphrodite")
            .chain_update(&out)
            .finalize();
        out.extend(digest);
        out
    }

    #[test]
    fn keytool_key_store_parses_and_its_key_decrypts() {
        let store = parse(&fixture("server.jks"), "serverpass").unwrap();
        assert_eq!(store.keys.len(), 1);
        assert_eq!(store.keys[0].alias, "server");
        assert_eq!(store.keys[0].chain.len(), 2);
        let key = store.keys[0].decrypt("serverpass").unwrap();
        // A PKCS#8 PrivateKeyInfo is a SEQUENCE starting with INTEGER 0.
        assert_eq!(&key[..1], &[0x30]);
        assert_eq!(
            store.keys[0].decrypt("nope").unwrap_err(),
            JksError::WrongKeyPassword("server".to_owned())
        );
    }

    #[test]
    fn wrong_or_missing_password_fails_the_integrity_check() {
        let bytes = fixture("truststore.jks");
        assert_eq!(
            parse(&bytes, "trustpas").unwrap_err(),
            JksError::WrongPassword
        );
        assert_eq!(parse(&bytes, "").unwrap_err(), JksError::WrongPassword);
        let store = parse(&bytes, "trustpass").unwrap();
        assert_eq!(store.trusted.len(), 1);
        assert_eq!(store.trusted[0].0, "ca");
    }

    #[test]
    fn tampering_is_detected() {
        let mut bytes = fixture("truststore.jks");
        let mid = bytes.len() / 2;
        bytes[mid] ^= 1;
        assert!(parse(&bytes, "trustpass").is_err());
    }

    #[test]
    fn version_1_stores_parse() {
        let v2 = parse(&fixture("client.jks"), "clientpass").unwrap();
        let v1 = to_version_1(&v2, "clientpass");
        let store = parse(&v1, "clientpass").unwrap();
        assert_eq!(store.keys[0].chain, v2.keys[0].chain);
        assert!(store.keys[0].decrypt("clientpass").is_ok());
    }

    #[test]
    fn truncation_and_other_formats_are_rejected() {
        let bytes = fixture("server.jks");
        for cut in [0, 3, 11, 40, bytes.len() - 1] {
            assert!(parse(&bytes[..cut], "serverpass").is_err(), "cut at {cut}");
        }
        let mut jceks = bytes.clone();
        jceks[..4].copy_from_slice(&JCEKS_MAGIC.to_be_bytes());
        assert!(matches!(
            parse(&jceks, "serverpass"),
            Err(JksError::Unsupported(_))
        ));
        let mut huge = bytes[..8].to_vec();
        huge.extend(u32::MAX.to_be_bytes());
        assert!(matches!(
            parse(&huge, "serverpass"),
            Err(JksError::Malformed(_))
        ));
    }
}
