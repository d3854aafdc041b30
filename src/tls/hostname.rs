//! 3.8's `ZKHostnameVerifier`: does a certificate name a host?
//!
//! Not webpki's check, because ZooKeeper's differs where deployments rely on it: the Admin
//! Guide's quorum TLS recipe makes keytool certificates with the host name in the CN and no
//! subjectAltName, which only the CN fallback accepts. The rules:
//! * The certificate's DNS and IP subjectAltNames are its names; only when it has none of
//!   those, the first CN of the subject (leftmost in RFC 2253 order) stands in.
//! * An IPv4 / IPv6 host matches IP entries by address; any other host matches DNS entries
//!   (or the CN) case-insensitively, where one `*` matches a run of characters within one
//!   label (`*.example.org`, `zk*.example.org`).
//! * An IP host is also compared with the CN as text, as 3.8 does.

use std::net::IpAddr;

use super::der::{self, DerError, Reader, TAG_OCTET_STRING, TAG_OID, TAG_SEQUENCE, TAG_SET};

const SAN_OID: &str = "2.5.29.17";
const CN_OID: &str = "2.5.4.3";

#[derive(Debug, Default, PartialEq, Eq)]
struct Names {
    dns: Vec<String>,
    ips: Vec<IpAddr>,
    first_cn: Option<String>,
}

fn names(cert: &[u8]) -> Result<Names, DerError> {
    let certificate = Reader::new(cert).expect(TAG_SEQUENCE, "certificate is not a SEQUENCE")?;
    let tbs = Reader::new(certificate.content).expect(TAG_SEQUENCE, "no tbsCertificate")?;
    let mut fields = Reader::new(tbs.content);
    if fields.peek_tag() == Some(0xa0) {
        fields.next_tlv()?;
    }
    for what in ["serialNumber", "signature", "issuer", "validity"] {
        fields.next_tlv().map_err(|_| DerError(what))?;
    }
    let subject = fields.expect(TAG_SEQUENCE, "subject is not a SEQUENCE")?;
    fields.expect(TAG_SEQUENCE, "subjectPublicKeyInfo is not a SEQUENCE")?;
    let mut out = Names {
        first_cn: first_cn(subject.content)?,
        ..Names::default()
    };
    while !fields.is_empty() {
        let field = fields.next_tlv()?;
        // [3] EXPLICIT Extensions; [1] / [2] unique ids are skipped.
        if field.tag != 0xa3 {
            continue;
        }
        let exts = Reader::new(field.content).expect(TAG_SEQUENCE, "extensions")?;
        let mut exts = Reader::new(exts.content);
        while !exts.is_empty() {
            let ext = exts.expect(TAG_SEQUENCE, "extension is not a SEQUENCE")?;
            let mut parts = Reader::new(ext.content);
            let oid = der::oid_to_string(parts.expect(TAG_OID, "extension OID")?.content)?;
            let mut value = parts.next_tlv()?;
            if value.tag == 0x01 {
                value = parts.next_tlv()?; // the critical flag
            }
            if oid != SAN_OID || value.tag != TAG_OCTET_STRING {
                continue;
            }
            let general_names = Reader::new(value.content).expect(TAG_SEQUENCE, "GeneralNames")?;
            let mut gns = Reader::new(general_names.content);
            while !gns.is_empty() {
                let gn = gns.next_tlv()?;
                match gn.tag {
                    // [2] dNSName
                    0x82 => out
                        .dns
                        .push(String::from_utf8_lossy(gn.content).into_owned()),
                    // [7] iPAddress
                    0x87 => match gn.content.len() {
                        4 => {
                            let b: [u8; 4] =
                                [gn.content[0], gn.content[1], gn.content[2], gn.content[3]];
                            out.ips.push(IpAddr::from(b));
                        }
                        16 => {
                            let mut b = [0u8; 16];
                            b.copy_from_slice(gn.content);
                            out.ips.push(IpAddr::from(b));
                        }
                        _ => {}
                    },
                    _ => {}
                }
            }
        }
    }
    Ok(out)
}

/// The CN `LdapName` finds first in the RFC 2253 string: from the last RDN backwards.
fn first_cn(name_content: &[u8]) -> Result<Option<String>, DerError> {
    let mut rdns = Vec::new();
    let mut reader = Reader::new(name_content);
    while !reader.is_empty() {
        rdns.push(reader.expect(TAG_SET, "RDN is not a SET")?);
    }
    for rdn in rdns.iter().rev() {
        let mut avas = Reader::new(rdn.content);
        while !avas.is_empty() {
            let ava = avas.expect(TAG_SEQUENCE, "AVA is not a SEQUENCE")?;
            let mut parts = Reader::new(ava.content);
            let oid = der::oid_to_string(parts.expect(TAG_OID, "AVA type")?.content)?;
            if oid == CN_OID {
                let value = parts.next_tlv()?;
                return Ok(Some(String::from_utf8_lossy(value.content).into_owned()));
            }
        }
    }
    Ok(None)
}

/// `matchIdentity(host, identity, strict = true)` on lower-cased strings.
fn match_identity(host: &str, identity: &str) -> bool {
    match identity.find('*') {
        Some(star) => {
            let (prefix, suffix) = (&identity[..star], &identity[star + 1..]);
            host.len() >= prefix.len() + suffix.len()
                && host.starts_with(prefix)
                && host.ends_with(suffix)
                && !host[prefix.len()..host.len() - suffix.len()].contains('.')
        }
        None => host == identity,
    }
}

/// Whether `cert` (DER) names `host` as 3.8's `ZKHostnameVerifier#verify` decides.
pub(crate) fn verify_host(cert: &[u8], host: &str) -> bool {
    let Ok(names) = names(cert) else {
        return false;
    };
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let host_ip: Option<IpAddr> = bare.parse().ok();
    let host_lc = host.to_lowercase();
    if names.dns.is_empty() && names.ips.is_empty() {
        return names
            .first_cn
            .is_some_and(|cn| match_identity(&host_lc, &cn.to_lowercase()));
    }
    match host_ip {
        Some(ip) => names.ips.contains(&ip),
        None => names
            .dns
            .iter()
            .any(|d| match_identity(&host_lc, &d.to_lowercase())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::store::tests::spec;

    fn leaf(file: &str, password: &str) -> Vec<u8> {
        crate::tls::load_key_store(&spec(file, password))
            .unwrap()
            .chain[0]
            .to_vec()
    }

    #[test]
    fn san_entries_are_the_names() {
        let server = leaf("server-nopass.pem", "");
        assert_eq!(
            names(&server).unwrap(),
            Names {
                dns: vec!["localhost".to_owned()],
                ips: vec!["127.0.0.1".parse().unwrap()],
                first_cn: Some("server".to_owned()),
            }
        );
        assert!(verify_host(&server, "localhost"));
        assert!(verify_host(&server, "LOCALHOST"));
        assert!(verify_host(&server, "127.0.0.1"));
        // With SANs present the CN does not count.
        assert!(!verify_host(&server, "server"));
        assert!(!verify_host(&server, "127.0.0.2"));
        assert!(!verify_host(&server, "[::1]"));
    }

    #[test]
    fn without_sans_the_cn_stands_in() {
        let cert = leaf("selfsigned.jks", "selfpass");
        assert!(verify_host(&cert, "localhost"));
        assert!(verify_host(&cert, "LocalHost"));
        assert!(!verify_host(&cert, "127.0.0.1"));
        assert!(!verify_host(&cert, "otherhost"));
    }

    #[test]
    fn wildcards_cover_one_label() {
        assert!(match_identity("zk1.example.org", "*.example.org"));
        assert!(match_identity("zk1.example.org", "zk*.example.org"));
        assert!(!match_identity("a.zk1.example.org", "*.example.org"));
        assert!(!match_identity("example.org", "*.example.org"));
        assert!(!match_identity("zk1.example.org", "zk2.example.org"));
        assert!(match_identity("zk1.example.org", "zk1.example.org"));
    }

    #[test]
    fn garbage_names_nothing() {
        assert!(!verify_host(&[0x30, 0x03, 0x02, 0x01], "localhost"));
        assert!(!verify_host(&[], "localhost"));
    }
}
