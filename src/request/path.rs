//! `PathUtils#validatePath`: the reference checks UTF-16 code units, so a character outside
//! the Basic Multilingual Plane (a surrogate pair in Java) is always invalid.

/// Why a path is not valid; the text follows the reference's messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("Path length must be > 0")]
    Empty,
    #[error("Path must start with / character")]
    NotAbsolute,
    #[error("Path must not end with / character")]
    TrailingSlash,
    #[error("Invalid path string \"{path}\" caused by {reason} @{at}")]
    Invalid {
        path: String,
        reason: &'static str,
        at: usize,
    },
}

fn forbidden(c: char) -> bool {
    matches!(c,
        '\u{1}'..='\u{1f}' | '\u{7f}'..='\u{9f}' | '\u{e000}'..='\u{f8ff}' | '\u{fff0}'..='\u{ffff}')
        || u32::from(c) > 0xffff
}

pub fn validate_path(path: &str) -> Result<(), PathError> {
    if path.is_empty() {
        return Err(PathError::Empty);
    }
    if !path.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    if path.len() == 1 {
        return Ok(());
    }
    if path.ends_with('/') {
        return Err(PathError::TrailingSlash);
    }
    let invalid = |reason, at| {
        Err(PathError::Invalid {
            path: path.to_string(),
            reason,
            at,
        })
    };
    for (at, segment) in path.split('/').enumerate().skip(1) {
        if segment.is_empty() {
            return invalid("empty node name specified", at);
        }
        if segment == "." || segment == ".." {
            return invalid("relative paths not allowed", at);
        }
        if segment.contains('\0') {
            return invalid("null character not allowed", at);
        }
        if segment.chars().any(forbidden) {
            return invalid("invalid character", at);
        }
    }
    Ok(())
}

/// The parent of an absolute path ("/a" → "/", "/a/b" → "/a"); `None` without a slash.
pub fn parent_of(path: &str) -> Option<&str> {
    let slash = path.rfind('/')?;
    Some(if slash == 0 { "/" } else { &path[..slash] })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_path_rules() {
        for ok in ["/", "/a", "/a/b", "/a.b", "/...", "/a/.b", "/\u{e9}t\u{e9}"] {
            assert_eq!(validate_path(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "a",
            "/a/",
            "//a",
            "/a//b",
            "/.",
            "/a/..",
            "/a/./b",
            "/a\0b",
            "/a\u{1}",
            "/\u{7f}",
            "/\u{e000}",
            "/\u{fff0}",
            "/\u{1f600}",
        ] {
            assert!(validate_path(bad).is_err(), "{bad:?} should be invalid");
        }
    }

    #[test]
    fn parents() {
        assert_eq!(parent_of("/a"), Some("/"));
        assert_eq!(parent_of("/a/b"), Some("/a"));
        assert_eq!(parent_of("a"), None);
    }
}
