//! `java.util.Properties#load` syntax, with the line number each entry starts on.
//!
//! Replaces `Properties.load(InputStream)` as `QuorumPeerConfig#parse` uses it. Rules kept from
//! the reference: natural lines end at `\n`, `\r` or `\r\n`; a line whose first non-blank char
//! is `#` or `!` is a comment (and never continues); a line ending in an odd number of
//! backslashes continues on the next one, whose leading blanks are skipped; the key ends at
//! the first unescaped `=`, `:` or blank; blanks, then one `=`/`:`, then blanks are skipped
//! before the value; `\t \n \r \f \uXXXX` are escapes and `\x` is `x` for anything else.
//! Blanks are space, tab and form feed.
//!
//! Difference: the reference decodes bytes as ISO-8859-1; we take UTF-8 when the file is valid
//! UTF-8 (so non-ASCII paths work) and fall back to ISO-8859-1 otherwise.

/// One `key=value` entry: the line it starts on (1-based), key and value after unescaping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub line: usize,
    pub key: String,
    pub value: String,
}

/// A malformed `\uXXXX` escape (`Properties#loadConvert` throws "Malformed \uxxxx encoding.").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MalformedEscape {
    pub line: usize,
}

/// Decodes a file's bytes as the loader sees them.
pub fn decode(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
    }
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t' || c == '\x0c'
}

/// Splits text into natural lines, keeping each line's 1-based number.
fn natural_lines(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let (mut start, mut i, mut n) = (0, 0, 1);
    while i < bytes.len() {
        if bytes[i] == b'\n' || bytes[i] == b'\r' {
            out.push((n, &text[start..i]));
            n += 1;
            if bytes[i] == b'\r' && bytes.get(i + 1) == Some(&b'\n') {
                i += 1;
            }
            start = i + 1;
        }
        i += 1;
    }
    if start < bytes.len() {
        out.push((n, &text[start..]));
    }
    out
}

fn continues(line: &str) -> bool {
    line.chars().rev().take_while(|&c| c == '\\').count() % 2 == 1
}

/// Parses every entry in file order (duplicates kept; the caller lets the later one win).
pub fn parse(text: &str) -> Result<Vec<Entry>, MalformedEscape> {
    let lines = natural_lines(text);
    let mut entries = Vec::new();
    let mut idx = 0;
    while idx < lines.len() {
        let (start_line, first) = lines[idx];
        idx += 1;
        let trimmed = first.trim_start_matches(is_blank);
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('!') {
            continue;
        }
        let mut logical = String::from(trimmed);
        while continues(&logical) && idx < lines.len() {
            logical.pop();
            logical.push_str(lines[idx].1.trim_start_matches(is_blank));
            idx += 1;
        }
        if continues(&logical) {
            // A continuation at end of file drops the dangling backslash.
            logical.pop();
        }
        let (raw_key, raw_value) = split_key_value(&logical);
        let key = unescape(raw_key).ok_or(MalformedEscape { line: start_line })?;
        let value = unescape(raw_value).ok_or(MalformedEscape { line: start_line })?;
        entries.push(Entry {
            line: start_line,
            key,
            value,
        });
    }
    Ok(entries)
}

/// Splits a logical line at the first unescaped separator, skipping the separator run.
fn split_key_value(line: &str) -> (&str, &str) {
    let mut escaped = false;
    let mut key_end = line.len();
    let mut sep_is_blank = false;
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '=' || c == ':' || is_blank(c) {
            key_end = i;
            sep_is_blank = is_blank(c);
            break;
        }
    }
    let key = &line[..key_end];
    let mut rest = &line[key_end..];
    if sep_is_blank {
        rest = rest.trim_start_matches(is_blank);
        if let Some(r) = rest.strip_prefix(['=', ':']) {
            rest = r;
        }
    } else if !rest.is_empty() {
        rest = &rest[1..];
    }
    (key, rest.trim_start_matches(is_blank))
}

/// Resolves backslash escapes; `None` for a malformed `\uXXXX`.
fn unescape(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                if hex.len() != 4 {
                    return None;
                }
                let code = u32::from_str_radix(&hex, 16).ok()?;
                // Lone surrogates cannot be a Rust char; keep the replacement char.
                out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
            }
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\x0c'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn kv(text: &str) -> Vec<(String, String)> {
        parse(text)
            .unwrap()
            .into_iter()
            .map(|e| (e.key, e.value))
            .collect()
    }

    #[test]
    fn separators_and_comments() {
        let got = kv("# c\n! c\n  a=1\nb:2\nc 3\nd = 4\ne\t:\t5\nf\n\n   \ng=\n");
        let want = [
            ("a", "1"),
            ("b", "2"),
            ("c", "3"),
            ("d", "4"),
            ("e", "5"),
            ("f", ""),
            ("g", ""),
        ];
        let want: Vec<_> = want
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn only_one_separator_is_consumed() {
        assert_eq!(kv("a==b"), vec![("a".into(), "=b".into())]);
        assert_eq!(kv("a  :=b"), vec![("a".into(), "=b".into())]);
        assert_eq!(kv("a=b=c"), vec![("a".into(), "b=c".into())]);
    }

    #[test]
    fn continuation_and_line_numbers() {
        let e = parse("x=1\nlong=a,\\\n    b,\\\r\n  c\ny=2\\\\\nz=3").unwrap();
        assert_eq!(e[1].key, "long");
        assert_eq!(e[1].value, "a,b,c");
        assert_eq!(e[1].line, 2);
        assert_eq!(e[2].value, "2\\");
        assert_eq!(e[2].line, 5);
        assert_eq!(e[3].line, 6);
    }

    #[test]
    fn comment_lines_do_not_continue() {
        assert_eq!(kv("# x \\\na=1"), vec![("a".into(), "1".into())]);
    }

    #[test]
    fn escapes() {
        assert_eq!(
            kv("k\\=ey\\ x=\\u0041\\t\\q"),
            vec![("k=ey x".into(), "A\tq".into())]
        );
        assert_eq!(parse("a\n\nb=\\u00zz").unwrap_err().line, 3);
        assert_eq!(parse("b=\\u00").unwrap_err().line, 1);
    }

    #[test]
    fn trailing_backslash_at_eof() {
        assert_eq!(kv("a=1\\"), vec![("a".into(), "1".into())]);
    }

    #[test]
    fn latin1_fallback() {
        assert_eq!(decode(&[b'a', 0xe9]), "a\u{e9}");
        assert_eq!(decode("é".as_bytes()), "é");
    }
}
