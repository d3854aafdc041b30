//! Whether a string is a distinguished name Java's `new X500Principal(String)` accepts:
//! `X509AuthenticationProvider#isValid`, so an `x509:<id>` ACL is refused (InvalidACL) for
//! exactly the ids 3.8 refuses.
//!
//! The rules are those of the JDK's RFC 1779 / RFC 2253 "default" parser, quirks included:
//! RDNs split at `,` or `;` unless escaped or inside a quoted value (the JDK counts quotes
//! since the last split, so only an odd count of exactly one keeps a separator), AVAs split
//! at `+` the same way, keywords are the JDK's (`CN`, `C`, `L`, `S`, `ST`, `O`, `OU`, `T`,
//! `IP`, `STREET`, `DC`, `DNQUALIFIER`, `DNQ`, `SURNAME`, `GIVENNAME`, `INITIALS`,
//! `GENERATION`, `EMAIL`, `EMAILADDRESS`, `UID`, `SERIALNUMBER`, any case, blanks around
//! them ignored) or a dotted OID with an optional `OID.` prefix; values are `#` followed by
//! the hex of one DER value, a quoted string, or a string where `,+<>;"` must be escaped and
//! only ``,=\n+<>#;\" `` and hex pairs may follow a backslash. Checked against Java 17 (see
//! the tests).

const KEYWORDS: &[&str] = &[
    "CN",
    "C",
    "L",
    "S",
    "ST",
    "O",
    "OU",
    "T",
    "IP",
    "STREET",
    "DC",
    "DNQUALIFIER",
    "DNQ",
    "SURNAME",
    "GIVENNAME",
    "INITIALS",
    "GENERATION",
    "EMAIL",
    "EMAILADDRESS",
    "UID",
    "SERIALNUMBER",
];

/// Characters that may follow a backslash in an unquoted value.
const ESCAPABLE: &str = ",=\n+<>#;\\\" ";
/// Characters that may follow a backslash in a quoted value.
const ESCAPABLE_QUOTED: &str = ",=\n+<>#;\\\"";
/// Characters an unquoted value may not hold unescaped.
const MUST_ESCAPE: &str = ",+<>;\"";

/// `new X500Principal(name)` would not throw.
pub fn is_valid_x500_name(name: &str) -> bool {
    if name.is_empty() {
        return true;
    }
    let b = name.as_bytes();
    let mut start = 0;
    let mut search = 0;
    let mut quotes = 0;
    for pos in (0..b.len()).filter(|&i| b[i] == b',' || b[i] == b';') {
        quotes += count_quotes(b, search, pos);
        if quotes != 1 && !dn_separator_escaped(b, pos, search) {
            if !is_valid_rdn(&name[start..pos]) {
                return false;
            }
            start = pos + 1;
            quotes = 0;
        }
        search = pos + 1;
    }
    is_valid_rdn(&name[start..])
}

/// Quotes in `b[from..to]` not preceded by a backslash.
fn count_quotes(b: &[u8], from: usize, to: usize) -> usize {
    (from..to)
        .filter(|&i| b[i] == b'"' && (i == from || b[i - 1] != b'\\'))
        .count()
}

/// The JDK's test of whether the separator at `pos` is escaped: one backslash before it,
/// or, after two, an odd number of backslashes anywhere since the last separator.
fn dn_separator_escaped(b: &[u8], pos: usize, search: usize) -> bool {
    if pos == 0 || b[pos - 1] != b'\\' {
        return false;
    }
    if pos == 1 || b[pos - 2] != b'\\' {
        return true;
    }
    b[search..pos].iter().filter(|&&c| c == b'\\').count() % 2 == 1
}

fn is_valid_rdn(rdn: &str) -> bool {
    let b = rdn.as_bytes();
    let mut start = 0;
    let mut search = 0;
    let mut quotes = 0;
    for pos in (0..b.len()).filter(|&i| b[i] == b'+') {
        quotes += count_quotes(b, search, pos);
        if pos > 0 && b[pos - 1] != b'\\' && quotes != 1 {
            let ava = &rdn[start..pos];
            if ava.is_empty() || !is_valid_ava(ava) {
                return false;
            }
            start = pos + 1;
            quotes = 0;
        }
        search = pos + 1;
    }
    let ava = &rdn[start..];
    !ava.is_empty() && is_valid_ava(ava)
}

fn is_terminator(c: Option<char>) -> bool {
    matches!(c, None | Some('+' | ',' | ';'))
}

fn is_valid_ava(ava: &str) -> bool {
    let Some((keyword, value)) = ava.split_once('=') else {
        return false;
    };
    if !is_valid_keyword(keyword) {
        return false;
    }
    let mut chars = value.chars().skip_while(|c| *c == ' ' || *c == '\n');
    match chars.next() {
        None => true,
        Some('#') => is_valid_hex_value(chars),
        Some('"') => is_valid_quoted(chars),
        Some(first) => is_valid_unquoted(first, chars),
    }
}

/// Java's `String#trim`: every char up to U+0020 at either end.
fn java_trim(s: &str) -> &str {
    s.trim_matches(|c: char| c <= ' ')
}

fn is_valid_keyword(keyword: &str) -> bool {
    let upper = java_trim(keyword).to_uppercase();
    if KEYWORDS.contains(&upper.as_str()) {
        return true;
    }
    let oid = upper.strip_prefix("OID.").unwrap_or(&upper);
    oid.starts_with(|c: char| c.is_ascii_digit()) && is_valid_oid(oid)
}

/// `ObjectIdentifier.of`: at least two components, the first 0..=2, the second below 40
/// under 0 and 1, none negative (`Integer.parseInt` takes a sign).
fn is_valid_oid(oid: &str) -> bool {
    let mut parts = Vec::new();
    for comp in oid.split('.') {
        let digits = comp.strip_prefix(['+', '-']).unwrap_or(comp);
        if digits.is_empty() || !digits.bytes().all(|d| d.is_ascii_digit()) {
            return false;
        }
        let zero = digits.bytes().all(|d| d == b'0');
        if comp.starts_with('-') && !zero {
            return false;
        }
        // big components only matter for the first two checks
        let significant = digits.trim_start_matches('0');
        parts.push(if significant.is_empty() {
            0
        } else {
            significant.parse::<u64>().unwrap_or(u64::MAX)
        });
    }
    match parts[..] {
        [first, second, ..] => first <= 2 && (first == 2 || second <= 39),
        _ => false,
    }
}

fn is_hex(c: char) -> bool {
    c.is_ascii_hexdigit()
}

/// `#` then hex digits up to the end of the AVA: an even, non-zero number of them that
/// make exactly one DER value.
fn is_valid_hex_value(chars: impl Iterator<Item = char>) -> bool {
    let mut digits = Vec::new();
    for c in chars {
        if is_terminator(Some(c)) {
            break;
        }
        match c.to_digit(16) {
            Some(d) if c.is_ascii() => digits.push(d as u8),
            _ => return false,
        }
    }
    if digits.is_empty() || digits.len() % 2 == 1 {
        return false;
    }
    let bytes: Vec<u8> = digits.chunks(2).map(|p| p[0] << 4 | p[1]).collect();
    is_one_der_value(&bytes)
}

/// A tag, a definite length and exactly that many bytes.
fn is_one_der_value(b: &[u8]) -> bool {
    let [tag, first, rest @ ..] = b else {
        return false;
    };
    if tag & 0x1f == 0x1f {
        return false;
    }
    let (len, rest) = match *first {
        n if n < 0x80 => (usize::from(n), rest),
        0x81..=0x84 => {
            let n = usize::from(first & 0x7f);
            if rest.len() < n {
                return false;
            }
            let len = rest[..n]
                .iter()
                .fold(0usize, |acc, &d| acc << 8 | usize::from(d));
            (len, &rest[n..])
        }
        _ => return false,
    };
    rest.len() == len
}

/// Escaped hex pair: the first digit given, the second next.
fn hex_pair_tail(chars: &mut impl Iterator<Item = char>) -> bool {
    chars.next().is_some_and(is_hex)
}

fn is_valid_quoted(mut chars: impl Iterator<Item = char>) -> bool {
    loop {
        match chars.next() {
            None => return false,
            Some('"') => break,
            Some('\\') => match chars.next() {
                None => return false,
                Some(c) if is_hex(c) => {
                    if !hex_pair_tail(&mut chars) {
                        return false;
                    }
                }
                Some(c) if ESCAPABLE_QUOTED.contains(c) => {}
                Some(_) => return false,
            },
            Some(_) => {}
        }
    }
    chars.all(|c| c == ' ' || c == '\n')
}

fn is_valid_unquoted(first: char, mut chars: impl Iterator<Item = char>) -> bool {
    let mut c = Some(first);
    while let Some(ch) = c {
        if ch == '\\' {
            match chars.next() {
                None => return false,
                Some(e) if is_hex(e) => {
                    if !hex_pair_tail(&mut chars) {
                        return false;
                    }
                }
                Some(e) if ESCAPABLE.contains(e) => {}
                Some(_) => return false,
            }
        } else if MUST_ESCAPE.contains(ch) {
            return false;
        }
        c = chars.next();
        if is_terminator(c) {
            break;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each string with what `new X500Principal(s)` did on OpenJDK 17 (`X500Check.java` in
    /// `src/tls/fixtures`: `java X500Check.java <strings>` prints `ok` or `bad` per line).
    const JAVA17: &[(&str, bool)] = include!("fixtures/x500-golden.in");

    #[test]
    fn accepts_exactly_what_java_accepts() {
        let mut wrong = Vec::new();
        for (name, java) in JAVA17 {
            if is_valid_x500_name(name) != *java {
                wrong.push(format!("{name:?}: java says {java}"));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }
}
