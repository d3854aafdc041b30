//! Just enough DER reading for the few structures we walk by hand: a certificate's subject,
//! JKS's `EncryptedPrivateKeyInfo`. Definite lengths only (DER forbids the others).

/// A malformed encoding; the caller names the file or field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed DER: {0}")]
pub struct DerError(pub(crate) &'static str);

pub(crate) const TAG_INTEGER: u8 = 0x02;
pub(crate) const TAG_OCTET_STRING: u8 = 0x04;
pub(crate) const TAG_OID: u8 = 0x06;
pub(crate) const TAG_SEQUENCE: u8 = 0x30;
pub(crate) const TAG_SET: u8 = 0x31;

/// One TLV: its tag, its content, and the whole encoding (tag + length + content).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tlv<'a> {
    pub(crate) tag: u8,
    pub(crate) content: &'a [u8],
    pub(crate) encoded: &'a [u8],
}

/// A cursor over consecutive TLVs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Reader { rest: bytes }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    pub(crate) fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    pub(crate) fn next_tlv(&mut self) -> Result<Tlv<'a>, DerError> {
        let all = self.rest;
        let (&tag, after_tag) = all.split_first().ok_or(DerError("truncated tag"))?;
        if tag & 0x1f == 0x1f {
            return Err(DerError("multi-byte tags are not used here"));
        }
        let (&first, mut after_len) = after_tag
            .split_first()
            .ok_or(DerError("truncated length"))?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 {
                return Err(DerError("unsupported length encoding"));
            }
            if after_len.len() < n {
                return Err(DerError("truncated length"));
            }
            let (len_bytes, tail) = after_len.split_at(n);
            after_len = tail;
            len_bytes
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
        };
        if after_len.len() < len {
            return Err(DerError("content runs past the end"));
        }
        let header = all.len() - after_len.len();
        let (content, rest) = after_len.split_at(len);
        self.rest = rest;
        Ok(Tlv {
            tag,
            content,
            encoded: &all[..header + len],
        })
    }

    /// The next TLV, which must carry `tag`.
    pub(crate) fn expect(&mut self, tag: u8, what: &'static str) -> Result<Tlv<'a>, DerError> {
        let tlv = self.next_tlv()?;
        if tlv.tag != tag {
            return Err(DerError(what));
        }
        Ok(tlv)
    }
}

/// Dotted form of an OBJECT IDENTIFIER's content bytes.
pub(crate) fn oid_to_string(content: &[u8]) -> Result<String, DerError> {
    let mut arcs: Vec<u64> = Vec::new();
    let mut acc: u64 = 0;
    for (i, &b) in content.iter().enumerate() {
        if acc > (u64::MAX >> 7) {
            return Err(DerError("OID arc too large"));
        }
        acc = (acc << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                // The first subidentifier packs the first two arcs.
                let first = (acc / 40).min(2);
                arcs.push(first);
                arcs.push(acc - first * 40);
            } else {
                arcs.push(acc);
            }
            acc = 0;
        } else if i + 1 == content.len() {
            return Err(DerError("OID ends inside an arc"));
        }
    }
    if arcs.is_empty() {
        return Err(DerError("empty OID"));
    }
    Ok(arcs
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join("."))
}

/// The DER `subject` Name (the whole SEQUENCE encoding) of an X.509 certificate.
pub(crate) fn certificate_subject(cert: &[u8]) -> Result<&[u8], DerError> {
    let certificate = Reader::new(cert).expect(TAG_SEQUENCE, "certificate is not a SEQUENCE")?;
    let mut tbs = Reader::new(certificate.content)
        .expect(TAG_SEQUENCE, "tbsCertificate is not a SEQUENCE")?
        .content;
    let mut fields = Reader::new(tbs);
    // [0] EXPLICIT version is optional.
    if fields.peek_tag() == Some(0xa0) {
        fields.next_tlv()?;
    }
    fields.expect(TAG_INTEGER, "serialNumber is not an INTEGER")?;
    fields.expect(TAG_SEQUENCE, "signature is not a SEQUENCE")?;
    fields.expect(TAG_SEQUENCE, "issuer is not a SEQUENCE")?;
    fields.expect(TAG_SEQUENCE, "validity is not a SEQUENCE")?;
    let subject = fields.expect(TAG_SEQUENCE, "subject is not a SEQUENCE")?;
    tbs = subject.encoded;
    Ok(tbs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oids_print_dotted() {
        assert_eq!(
            oid_to_string(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01]).unwrap(),
            "1.2.840.113549.1.9.1"
        );
        assert_eq!(oid_to_string(&[0x55, 0x04, 0x03]).unwrap(), "2.5.4.3");
        assert!(oid_to_string(&[0x86]).is_err());
    }

    #[test]
    fn long_lengths_and_truncation() {
        let mut long = vec![0x04, 0x81, 0x80];
        long.extend([7u8; 0x80]);
        let tlv = Reader::new(&long).next_tlv().unwrap();
        assert_eq!(tlv.content.len(), 0x80);
        assert_eq!(tlv.encoded.len(), long.len());
        assert!(Reader::new(&long[..10]).next_tlv().is_err());
    }
}
