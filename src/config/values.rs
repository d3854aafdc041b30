//! Java's value parsers, with the reference's leniency kept where it has any.
//!
//! `Integer#parseInt` (QuorumPeerConfig keys): strict, fatal on junk. `Integer#decode` behind
//! `Integer.getInteger` / `Long.getLong` (system-property keys): accepts `0x`, `#` and octal,
//! and junk silently means "use the default". `QuorumPeerConfig#parseBoolean`: strict
//! true/false (any case). `Boolean.getBoolean`: only "true" (any case) is true.

/// `Integer#parseInt` / `Long#parseLong`: optional sign, decimal digits.
pub(super) fn parse_decimal(v: &str) -> Result<i64, String> {
    let digits = v.strip_prefix(['+', '-']).unwrap_or(v);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("\"{v}\" is not a number"));
    }
    v.parse::<i64>()
        .map_err(|_| format!("\"{v}\" is out of range"))
}

/// `Integer#parseInt`.
pub(super) fn parse_int(v: &str) -> Result<i32, String> {
    let n = parse_decimal(v)?;
    i32::try_from(n).map_err(|_| format!("\"{v}\" is out of range for a 32-bit integer"))
}

/// `Long#decode`: `[+-](0x|0X|#)hex | [+-]0octal | [+-]decimal`.
pub(super) fn decode_long(v: &str) -> Option<i64> {
    let (neg, body) = match v.as_bytes().first() {
        Some(b'-') => (true, &v[1..]),
        Some(b'+') => (false, &v[1..]),
        _ => (false, v),
    };
    let (radix, digits) = if let Some(h) = body
        .strip_prefix("0x")
        .or_else(|| body.strip_prefix("0X"))
        .or_else(|| body.strip_prefix('#'))
    {
        (16, h)
    } else if body.len() > 1 && body.starts_with('0') {
        (8, &body[1..])
    } else {
        (10, body)
    };
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return None;
    }
    let magnitude = i128::from_str_radix(digits, radix).ok()?;
    let n = if neg { -magnitude } else { magnitude };
    i64::try_from(n).ok()
}

/// `Integer#decode`.
pub(super) fn decode_int(v: &str) -> Option<i32> {
    decode_long(v).and_then(|n| i32::try_from(n).ok())
}

/// `QuorumPeerConfig#parseBoolean`.
pub(super) fn parse_bool_strict(key: &str, v: &str) -> Result<bool, String> {
    if v.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if v.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(format!(
            "Invalid option {v} for {key}. Choose 'true' or 'false.'"
        ))
    }
}

/// `Boolean#parseBoolean` / `Boolean.getBoolean`.
pub(super) fn java_bool(v: &str) -> bool {
    v.eq_ignore_ascii_case("true")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parse_int_is_strict() {
        assert_eq!(parse_int("+42"), Ok(42));
        assert_eq!(parse_int("-1"), Ok(-1));
        assert_eq!(parse_int("abc"), Err("\"abc\" is not a number".to_owned()));
        assert!(parse_int("0x10").is_err());
        assert!(parse_int("3000000000").is_err());
        assert!(parse_int("").is_err());
    }

    #[test]
    fn decode_accepts_java_radixes() {
        assert_eq!(decode_int("0x10"), Some(16));
        assert_eq!(decode_int("#ff"), Some(255));
        assert_eq!(decode_int("010"), Some(8));
        assert_eq!(decode_int("-0X1"), Some(-1));
        assert_eq!(decode_int("0"), Some(0));
        assert_eq!(decode_int("abc"), None);
        assert_eq!(decode_int("0x-1"), None);
        assert_eq!(decode_long("9223372036854775807"), Some(i64::MAX));
    }

    #[test]
    fn booleans() {
        assert_eq!(parse_bool_strict("k", "TRUE"), Ok(true));
        assert!(parse_bool_strict("k", "yes").is_err());
        assert!(java_bool("True") && !java_bool("yes"));
    }
}
