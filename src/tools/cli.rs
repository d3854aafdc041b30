//! Command lines as Apache commons-cli's `DefaultParser` reads them (the parser
//! `TxnLogToolkit` and `SnapshotComparer` use), with its error messages, so a script that
//! drives the Java tool drives ours the same way.

use std::collections::HashMap;

/// One option: short name, long name, whether it takes a value, whether it is required.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OptSpec {
    pub(crate) short: &'static str,
    pub(crate) long: &'static str,
    pub(crate) has_arg: bool,
    pub(crate) required: bool,
}

impl OptSpec {
    pub(crate) const fn flag(short: &'static str, long: &'static str) -> OptSpec {
        OptSpec {
            short,
            long,
            has_arg: false,
            required: false,
        }
    }

    pub(crate) const fn value(short: &'static str, long: &'static str, required: bool) -> OptSpec {
        OptSpec {
            short,
            long,
            has_arg: true,
            required,
        }
    }
}

/// The options seen (by short name, with their first value) and the other arguments.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    seen: HashMap<&'static str, Option<String>>,
    pub(crate) args: Vec<String>,
}

impl Parsed {
    pub(crate) fn has(&self, short: &str) -> bool {
        self.seen.contains_key(short)
    }

    pub(crate) fn value(&self, short: &str) -> Option<&str> {
        self.seen.get(short).and_then(|v| v.as_deref())
    }
}

/// Parse `args` against `specs`; `Err` holds the `ParseException` message.
pub(crate) fn parse(specs: &[OptSpec], args: &[String]) -> Result<Parsed, String> {
    let mut p = Parsed::default();
    let mut i = 0;
    // the option still waiting for its value
    let mut pending: Option<&OptSpec> = None;
    while i < args.len() {
        let token = args[i].as_str();
        i += 1;
        if let Some(spec) = pending.take() {
            if !is_option_token(specs, token) {
                set(&mut p, spec, Some(token.to_string()));
                continue;
            }
            return Err(format!("Missing argument for option: {}", spec.short));
        }
        if token == "--" {
            p.args.extend(args[i..].iter().cloned());
            break;
        }
        if token == "-" || !token.starts_with('-') {
            p.args.push(token.to_string());
            continue;
        }
        if let Some(long) = token.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (long, None),
            };
            let spec = match_long(specs, name, token)?;
            match (spec.has_arg, inline) {
                (true, Some(v)) => set(&mut p, spec, Some(v.to_string())),
                (true, None) => pending = Some(spec),
                (false, Some(_)) => return Err(format!("Unrecognized option: {token}")),
                (false, None) => set(&mut p, spec, None),
            }
            continue;
        }
        let t = &token[1..];
        if let Some(spec) = specs.iter().find(|s| s.short == t) {
            if spec.has_arg {
                pending = Some(spec);
            } else {
                set(&mut p, spec, None);
            }
            continue;
        }
        if t.len() > 1 && !t.contains('=') {
            if let Ok(spec) = match_long(specs, t, token) {
                if spec.has_arg {
                    pending = Some(spec);
                } else {
                    set(&mut p, spec, None);
                }
                continue;
            }
        }
        // concatenated short options, `-rv`, or a short option and its value, `-z0x5`
        for (at, ch) in t.char_indices() {
            let Some(spec) = specs
                .iter()
                .find(|s| s.short.len() == 1 && s.short.starts_with(ch))
            else {
                let rest = if at == 0 { token } else { &t[at..] };
                return Err(format!("Unrecognized option: {rest}"));
            };
            if spec.has_arg {
                let rest = &t[at + ch.len_utf8()..];
                if rest.is_empty() {
                    pending = Some(spec);
                } else {
                    set(&mut p, spec, Some(rest.to_string()));
                }
                break;
            }
            set(&mut p, spec, None);
        }
    }
    if let Some(spec) = pending {
        return Err(format!("Missing argument for option: {}", spec.short));
    }
    let missing: Vec<&str> = specs
        .iter()
        .filter(|s| s.required && !p.has(s.short))
        .map(|s| s.short)
        .collect();
    match missing.len() {
        0 => Ok(p),
        1 => Err(format!("Missing required option: {}", missing[0])),
        _ => Err(format!("Missing required options: {}", missing.join(", "))),
    }
}

fn set(p: &mut Parsed, spec: &OptSpec, value: Option<String>) {
    // the first value is the one `getOptionValue` answers
    p.seen.entry(spec.short).or_insert(value);
}

/// An exact long name, else the only option whose long name starts with `name`.
fn match_long<'a>(specs: &'a [OptSpec], name: &str, token: &str) -> Result<&'a OptSpec, String> {
    if let Some(s) = specs.iter().find(|s| s.long == name) {
        return Ok(s);
    }
    let matching: Vec<&OptSpec> = specs.iter().filter(|s| s.long.starts_with(name)).collect();
    match matching.as_slice() {
        [one] => Ok(one),
        [] => Err(format!("Unrecognized option: {token}")),
        many => {
            let names: Vec<String> = many.iter().map(|s| format!("'{}'", s.long)).collect();
            Err(format!(
                "Ambiguous option: '{name}'  (could be: {})",
                names.join(", ")
            ))
        }
    }
}

/// `DefaultParser#isOption`-ish: a token that would be read as an option, not as a value.
fn is_option_token(specs: &[OptSpec], token: &str) -> bool {
    if !token.starts_with('-') || token == "-" {
        return false;
    }
    if token.parse::<f64>().is_ok() {
        return false;
    }
    if let Some(long) = token.strip_prefix("--") {
        let name = long.split_once('=').map_or(long, |(n, _)| n);
        return specs.iter().any(|s| s.long.starts_with(name));
    }
    let t = &token[1..];
    specs
        .iter()
        .any(|s| s.short == t || t.starts_with(s.short) || s.long.starts_with(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPECS: [OptSpec; 4] = [
        OptSpec::flag("r", "recover"),
        OptSpec::flag("v", "verbose"),
        OptSpec::flag("c", "chop"),
        OptSpec::value("z", "zxid", false),
    ];

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn short_long_prefix_and_concatenated() {
        let Ok(p) = parse(&SPECS, &args(&["-rv", "f", "--chop", "-z", "0x5"])) else {
            panic!("parse");
        };
        assert!(p.has("r") && p.has("v") && p.has("c"));
        assert_eq!(p.value("z"), Some("0x5"));
        assert_eq!(p.args, vec!["f"]);
        let Ok(p) = parse(&SPECS, &args(&["--rec", "--zxid=7", "f"])) else {
            panic!("parse");
        };
        assert!(p.has("r"));
        assert_eq!(p.value("z"), Some("7"));
        let Ok(p) = parse(&SPECS, &args(&["-z12", "-verbose"])) else {
            panic!("parse");
        };
        assert_eq!(p.value("z"), Some("12"));
        assert!(p.has("v"));
    }

    #[test]
    fn errors_read_like_commons_cli() {
        assert_eq!(
            parse(&SPECS, &args(&["-x", "f"])).err(),
            Some("Unrecognized option: -x".into())
        );
        assert_eq!(
            parse(&SPECS, &args(&["f", "-z"])).err(),
            Some("Missing argument for option: z".into())
        );
        let req = [
            OptSpec::value("l", "left", true),
            OptSpec::value("r", "right", true),
        ];
        assert_eq!(
            parse(&req, &args(&[])).err(),
            Some("Missing required options: l, r".into())
        );
        assert_eq!(
            parse(&req, &args(&["-l", "a"])).err(),
            Some("Missing required option: r".into())
        );
    }
}
