//! A certificate subject as Java's `X500Principal.getName()` prints it (RFC 2253 style).
//!
//! 3.8's `X509AuthenticationProvider#getClientId` uses exactly that string as the `x509` auth
//! id, so ACLs written against a Java server (`x509:CN=client,OU=Eng,O=Example,C=US`) only
//! match here if every byte agrees. The rules below are those of the JDK's `AVA` /
//! `RDN#toRFC2253String` (non-canonical form), checked against Java 17 in the unit tests:
//! * RDNs in reverse encoding order, joined by `,`; the AVAs of a multi-valued RDN in
//!   encoding order, joined by `+`.
//! * Only CN, C, L, ST, O, OU, STREET, DC and UID are printed by name; any other type is
//!   printed as its dotted OID, and then the value is always `#` + lower-case hex of its DER.
//! * A value that is not one of the string types Java reads (UTF8, Printable, T61, IA5,
//!   General, BMP) is printed as `#` + hex too; the others are decoded as UTF-8 whatever
//!   their type, as the JDK does.
//! * In a string value, each of `,=+<>#;"\` gets a backslash, NUL becomes `\00`, other
//!   characters are kept as they are (non-ASCII included), and leading or trailing spaces
//!   (and CRs) get a backslash.

use super::der::{self, DerError, Reader, TAG_OID, TAG_SEQUENCE, TAG_SET};

const TAG_UTF8_STRING: u8 = 0x0c;
const TAG_PRINTABLE_STRING: u8 = 0x13;
const TAG_T61_STRING: u8 = 0x14;
const TAG_IA5_STRING: u8 = 0x16;
const TAG_GENERAL_STRING: u8 = 0x1b;
const TAG_BMP_STRING: u8 = 0x1e;

/// The keywords Java's RFC 2253 output uses, by OID.
const RFC2253_KEYWORDS: &[(&str, &str)] = &[
    ("2.5.4.3", "CN"),
    ("2.5.4.6", "C"),
    ("2.5.4.7", "L"),
    ("2.5.4.8", "ST"),
    ("2.5.4.10", "O"),
    ("2.5.4.11", "OU"),
    ("2.5.4.9", "STREET"),
    ("0.9.2342.19200300.100.1.25", "DC"),
    ("0.9.2342.19200300.100.1.1", "UID"),
];

/// Java's `X500Principal.getName()` for a DER-encoded certificate's subject: the `x509` id.
pub fn x509_subject_name(cert_der: &[u8]) -> Result<String, DerError> {
    format_name(der::certificate_subject(cert_der)?)
}

/// Java's `X500Principal.getName()` for a DER-encoded `Name`.
pub(crate) fn format_name(name: &[u8]) -> Result<String, DerError> {
    let seq = Reader::new(name).expect(TAG_SEQUENCE, "Name is not a SEQUENCE")?;
    let mut rdns = Vec::new();
    let mut reader = Reader::new(seq.content);
    while !reader.is_empty() {
        let set = reader.expect(TAG_SET, "RDN is not a SET")?;
        let mut avas = Vec::new();
        let mut in_set = Reader::new(set.content);
        while !in_set.is_empty() {
            let ava = in_set.expect(TAG_SEQUENCE, "AttributeTypeAndValue is not a SEQUENCE")?;
            avas.push(format_ava(ava.content)?);
        }
        if avas.is_empty() {
            return Err(DerError("empty RDN"));
        }
        rdns.push(avas.join("+"));
    }
    rdns.reverse();
    Ok(rdns.join(","))
}

fn format_ava(ava: &[u8]) -> Result<String, DerError> {
    let mut fields = Reader::new(ava);
    let oid = der::oid_to_string(
        fields
            .expect(TAG_OID, "attribute type is not an OID")?
            .content,
    )?;
    let value = fields.next_tlv()?;
    let keyword = RFC2253_KEYWORDS
        .iter()
        .find(|(o, _)| *o == oid)
        .map(|(_, k)| *k);
    let text = keyword.and_then(|_| decode_string(value.tag, value.content));
    let mut out = String::with_capacity(32);
    out.push_str(keyword.unwrap_or(&oid));
    out.push('=');
    match text {
        Some(text) => out.push_str(&escape(&text)),
        None => {
            out.push('#');
            for b in value.encoded {
                out.push_str(&format!("{b:02x}"));
            }
        }
    }
    Ok(out)
}

/// The text of a value `AVA#isDerString(value, false)` accepts (UTF8, Printable, T61, IA5,
/// General, BMP). Java's RFC 2253 output decodes the content bytes as UTF-8 whatever the
/// string type, malformed bytes becoming U+FFFD (so a BMPString prints `\00` escapes);
/// being byte-for-byte compatible matters more than being right here.
fn decode_string(tag: u8, content: &[u8]) -> Option<String> {
    match tag {
        TAG_UTF8_STRING | TAG_PRINTABLE_STRING | TAG_T61_STRING | TAG_IA5_STRING
        | TAG_GENERAL_STRING | TAG_BMP_STRING => {
            Some(String::from_utf8_lossy(content).into_owned())
        }
        _ => None,
    }
}

fn escape(value: &str) -> String {
    const ESCAPEES: &str = ",=+<>#;\"\\";
    let mut chars: Vec<char> = Vec::with_capacity(value.len());
    for c in value.chars() {
        if ESCAPEES.contains(c) {
            chars.push('\\');
            chars.push(c);
        } else if c == '\0' {
            chars.extend(['\\', '0', '0']);
        } else {
            chars.push(c);
        }
    }
    let blank = |c: &char| *c == ' ' || *c == '\r';
    let lead = chars.iter().take_while(|c| blank(c)).count();
    let trail_start = chars.len() - chars.iter().rev().take_while(|c| blank(c)).count();
    let mut out = String::with_capacity(chars.len() + 4);
    for (i, c) in chars.iter().enumerate() {
        if i < lead || i >= trail_start.max(lead) {
            out.push('\\');
        }
        out.push(*c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/src/tls/fixtures/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    /// The strings Java 17 printed for the fixture certificates (`fixtures/dn-golden.txt`,
    /// made by `DnGolden.java`), pinned here so the tests need no Java.
    #[test]
    fn subjects_match_java_x500_principal_get_name() {
        let golden = [
            ("dn-plain.der", "CN=client,OU=Eng,O=Example,C=US"),
            (
                "dn-special.der",
                r#"OU=\ lead and trail\ ,O=\#hash,CN=a\,b\+c\<d\>e\;f\"g\\h\=i"#,
            ),
            (
                "dn-multi.der",
                "OU=Eng+O=Example,CN=alice+UID=alice,DC=example,DC=org",
            ),
            (
                "dn-oids.der",
                "CN=x,2.5.4.4=#0c034c6565,2.5.4.42=#0c03416e6e,2.5.4.12=#0c034f7073,\
                 STREET=1 Main St,ST=IDF,L=Paris,2.5.4.5=#13023432,\
                 1.2.840.113549.1.9.1=#160f6f7073406578616d706c652e6f7267",
            ),
            ("dn-utf8.der", "CN=名前,O=Café Müller"),
        ];
        for (file, want) in golden {
            assert_eq!(x509_subject_name(&fixture(file)).unwrap(), want, "{file}");
        }
    }

    #[test]
    fn golden_file_agrees_with_the_pinned_strings() {
        let text = String::from_utf8(fixture("dn-golden.txt")).unwrap();
        for line in text.lines() {
            let (file, want) = line.split_once('\t').unwrap();
            assert_eq!(x509_subject_name(&fixture(file)).unwrap(), want, "{file}");
        }
    }

    #[test]
    fn escaping_edges() {
        assert_eq!(escape("  "), r"\ \ ");
        assert_eq!(escape(" a "), r"\ a\ ");
        assert_eq!(escape("a\0b"), r"a\00b");
        assert_eq!(escape("#x#"), r"\#x\#");
        assert_eq!(escape(""), "");
    }

    #[test]
    fn non_string_values_print_as_hex_even_under_a_keyword() {
        // CN=INTEGER 5: Java prints `#` + the value's DER.
        let name = [
            0x30, 0x0c, 0x31, 0x0a, 0x30, 0x08, 0x06, 0x03, 0x55, 0x04, 0x03, 0x02, 0x01, 0x05,
        ];
        assert_eq!(format_name(&name).unwrap(), "CN=#020105");
        assert!(format_name(&name[..12]).is_err());
    }

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// DER Names made by hand, and what Java 17's `new X500Principal(der).getName()` printed
    /// for them: the string types, control characters, blanks, odd OIDs and empty parts.
    #[test]
    fn hand_made_names_match_java() {
        let golden: &[(&str, &str, &str)] = &[
            (
                "bmp",
                "300f310d300b06035504031e04006800e9",
                "CN=\\00h\\00\u{fffd}",
            ),
            (
                "t61",
                "300f310d300b06035504031404636166e9",
                "CN=caf\u{fffd}",
            ),
            (
                "universal",
                "300f310d300b06035504031c0400000061",
                "CN=#1c0400000061",
            ),
            (
                "emoji",
                "3011310f300d06035504030c0678f09f988079",
                "CN=x\u{1f600}y",
            ),
            ("nul", "300e310c300a06035504030c03610062", "CN=a\\00b"),
            ("spaces", "300e310c300a06035504030c03202020", "CN=\\ \\ \\ "),
            (
                "cr",
                "300e310c300a06035504030c030d780d",
                "CN=\\\u{d}x\\\u{d}",
            ),
            (
                "ctrl",
                "3011310f300d06035504030c06610a6201637f",
                "CN=a\u{a}b\u{1}c\u{7f}",
            ),
            (
                "printable_trailing",
                "301a310c300a060355040a1303782020310a30080603550403130179",
                "CN=y,O=x\\ \\ ",
            ),
            (
                "ia5_nonascii",
                "301431123010060a0992268993f22c640119160264e9",
                "DC=d\u{fffd}",
            ),
            (
                "utf8_invalid",
                "300e310c300a06035504030c0361ff62",
                "CN=a\u{fffd}b",
            ),
            ("empty_name", "3000", ""),
            ("empty_value", "300b3109300706035504030c00", "CN="),
            (
                "multi3",
                "3020311e300806035504030c017a300806038837010c01713008060355040b130175",
                "CN=z+2.999.1=#0c0171+OU=u",
            ),
            ("general", "300e310c300a06035504031b0367656e", "CN=gen"),
            (
                "octet_under_ou",
                "300d310b3009060355040b04020102",
                "OU=#04020102",
            ),
            (
                "inner_spaces_hash",
                "30133111300f06035504030c086120206220232063",
                "CN=a  b \\# c",
            ),
            (
                "leading_hash_space",
                "300e310c300a06035504030c03232078",
                "CN=\\# x",
            ),
        ];
        for (what, der, want) in golden {
            assert_eq!(format_name(&unhex(der)).unwrap(), *want, "{what}");
        }
    }
}
