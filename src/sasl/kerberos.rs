//! Kerberos principal names as ZooKeeper reads them (its `KerberosName`), and the rule by which
//! a SASL client's principal becomes its `sasl:` id: 3.8's `SaslServerCallbackHandler`
//! shortens the authenticated principal with the `zookeeper.security.auth_to_local` rules
//! ([`AuthToLocal`]; by default the one rule `DEFAULT`: strip the realm when it is the default
//! realm, keep the first component), then puts the host back unless
//! `kerberos.removeHostFromPrincipal=true` and the realm back unless
//! `kerberos.removeRealmFromPrincipal=true`. So with neither set, `alice@EXAMPLE.COM` stays
//! `alice@EXAMPLE.COM`; both set give `alice`, and `zkquorum/localhost@EXAMPLE.COM` becomes
//! `zkquorum`. When no rule applies (a principal of another realm under `DEFAULT`), or a rule
//! fails in a way 3.8 catches, the id is, as Java's `AuthorizeCallback` leaves it, the
//! authorization id the client asked for (its own principal, as ZooKeeper's clients send it).

use std::sync::Arc;

use regex::Regex;

use super::SaslError;

/// The system property holding the rules.
pub const AUTH_TO_LOCAL_PROPERTY: &str = "zookeeper.security.auth_to_local";

/// How the authenticated principal becomes the `sasl:` id (`zookeeper.kerberos.*` and
/// `zookeeper.security.auth_to_local`).
#[derive(Debug, Clone, Default)]
pub struct PrincipalRules {
    /// `kerberos.removeHostFromPrincipal=true`: `zk/host@R` is authorized as `zk@R`.
    pub remove_host_from_principal: bool,
    /// `kerberos.removeRealmFromPrincipal=true`: `alice@R` is authorized as `alice`.
    pub remove_realm_from_principal: bool,
    /// The short-name rules, parsed once at start-up.
    pub auth_to_local: Arc<AuthToLocal>,
}

/// `zookeeper.security.auth_to_local` as 3.8's `KerberosName#parseRules` reads it: Hadoop's
/// rules, `DEFAULT` and `RULE:[n:format](match)s/from/to/[g]` (the match and the
/// substitution optional), separated by nothing or by blanks/newlines, tried in order.
///
/// 3.8 parses them when the class is first used (the first SASL authentication or `sasl` ACL)
/// and a rule it cannot parse then breaks every later use (the worker thread or, for an ACL,
/// the whole server dies); [`AuthToLocal::parse`] refuses it at start-up instead.
///
/// Regular expressions are the `regex` crate's, which Java's agree with for what rules use
/// (classes, quantifiers, groups, alternation, anchors). What Java has and the crate lacks
/// (back-references, look-around, possessive quantifiers) is refused at start-up; `\d`,
/// `\w`, `\s` and `\b` also match non-ASCII characters here, where Java's do not.
#[derive(Debug, Clone)]
pub struct AuthToLocal {
    rules: Vec<Rule>,
}

impl Default for AuthToLocal {
    /// The property's default, `DEFAULT`.
    fn default() -> Self {
        AuthToLocal {
            rules: vec![Rule::Default],
        }
    }
}

#[derive(Debug, Clone)]
enum Rule {
    Default,
    Custom(Box<CustomRule>),
}

#[derive(Debug, Clone)]
struct CustomRule {
    /// How many components the principal has (`n` in `[n:format]`).
    components: i32,
    /// `$0` is the realm, `$1`.. the components.
    format: String,
    /// `(regex)`: the formatted name must match it whole (Java's `matches()`).
    matcher: Option<(String, Regex)>,
    /// `s/from/to/[g]`: the first (or every) match of `from` replaced by `to`.
    substitution: Option<Substitution>,
}

#[derive(Debug, Clone)]
struct Substitution {
    from: Regex,
    to: String,
    global: bool,
}

/// Why a rule did not give a short name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleFailure {
    /// What `KerberosName` throws as an `IOException` (`NoMatchingRule`,
    /// `BadFormatString`): 3.8 logs it and keeps the requested id.
    Checked(String),
    /// What Java throws as a runtime exception (a `$n` one past the components, a bad
    /// `$` in a substitution's replacement): the authentication cannot complete.
    Unchecked(String),
}

impl std::fmt::Display for RuleFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RuleFailure::Checked(m) | RuleFailure::Unchecked(m) => f.write_str(m),
        }
    }
}

/// `KerberosName`'s rule grammar, Java's `\s` and `\d` spelled as the ASCII classes they are.
fn rule_parser() -> Result<Regex, regex::Error> {
    Regex::new(
        r"^[ \t\n\x0B\x0C\r]*(?:(DEFAULT)|RULE:\[([0-9]*):([^\]]*)\](?:\(([^)]*)\))?(?:s/([^/]*)/([^/]*)/(g)?)?)",
    )
}

impl AuthToLocal {
    /// Parses the property's value; the error names the rule text that could not be read.
    pub fn parse(value: &str) -> Result<Self, String> {
        let parser = rule_parser().map_err(|e| format!("internal rule grammar: {e}"))?;
        let mut rules = Vec::new();
        // Java's String#trim: every char up to U+0020
        let mut remaining = value.trim_matches(|c: char| c <= ' ');
        while !remaining.is_empty() {
            let Some(caps) = parser.captures(remaining) else {
                return Err(format!("Invalid rule: {remaining}"));
            };
            let text = caps.get(0).map_or("", |m| m.as_str());
            if caps.get(1).is_some() {
                rules.push(Rule::Default);
            } else {
                rules.push(Rule::Custom(Box::new(Self::custom(
                    &caps,
                    text.trim_start(),
                )?)));
            }
            remaining = &remaining[text.len()..];
        }
        Ok(AuthToLocal { rules })
    }

    fn custom(caps: &regex::Captures<'_>, text: &str) -> Result<CustomRule, String> {
        let group = |i: usize| caps.get(i).map(|m| m.as_str());
        let n = group(2).unwrap_or("");
        let components = n
            .parse::<i32>()
            .map_err(|_| format!("Invalid rule: {text}: component count {n:?} is not a number"))?;
        let compile = |what: &str, pattern: &str, anchored: bool| {
            let source = if anchored {
                format!("^(?:{pattern})$")
            } else {
                pattern.to_owned()
            };
            Regex::new(&source)
                .map_err(|e| format!("Invalid rule: {text}: {what} /{pattern}/: {e}"))
        };
        let matcher = match group(4) {
            Some(p) => Some((p.to_owned(), compile("match", p, true)?)),
            None => None,
        };
        let substitution = match group(5) {
            Some(from) => Some(Substitution {
                from: compile("substitution", from, false)?,
                to: group(6).unwrap_or("").to_owned(),
                global: group(7).is_some(),
            }),
            None => None,
        };
        Ok(CustomRule {
            components,
            format: group(3).unwrap_or("").to_owned(),
            matcher,
            substitution,
        })
    }

    /// `KerberosName#getShortName`: the first rule that applies gives the short name.
    pub fn short_name(
        &self,
        name: &KerberosName,
        default_realm: &str,
    ) -> Result<String, RuleFailure> {
        let Some(realm) = &name.realm else {
            // a simple name needs no rule (a name with a host has a realm: see `parse`)
            return Ok(name.service.clone());
        };
        let mut params: Vec<&str> = vec![realm, &name.service];
        if let Some(host) = &name.host {
            params.push(host);
        }
        for rule in &self.rules {
            if let Some(short) = rule.apply(&params, default_realm)? {
                return Ok(short);
            }
        }
        Err(RuleFailure::Checked(format!("No rules applied to {name}")))
    }
}

impl Rule {
    fn apply(&self, params: &[&str], default_realm: &str) -> Result<Option<String>, RuleFailure> {
        let result = match self {
            Rule::Default => (params[0] == default_realm).then(|| params[1].to_owned()),
            Rule::Custom(rule) => rule.apply(params)?,
        };
        match result {
            Some(r) if r.contains(['/', '@']) => Err(RuleFailure::Checked(format!(
                "Non-simple name {r} after auth_to_local rule {self}"
            ))),
            other => Ok(other),
        }
    }
}

impl CustomRule {
    fn apply(&self, params: &[&str]) -> Result<Option<String>, RuleFailure> {
        if usize::try_from(self.components).ok() != Some(params.len() - 1) {
            return Ok(None);
        }
        let base = replace_parameters(&self.format, params)?;
        if let Some((_, m)) = &self.matcher {
            if !m.is_match(&base) {
                return Ok(None);
            }
        }
        match &self.substitution {
            None => Ok(Some(base)),
            Some(s) => java_replace(&s.from, &base, &s.to, s.global)
                .map(Some)
                .map_err(RuleFailure::Unchecked),
        }
    }
}

impl std::fmt::Display for Rule {
    /// As `Rule#toString` shows it in its errors.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Rule::Custom(r) = self else {
            return f.write_str("DEFAULT");
        };
        write!(f, "RULE:[{}:{}]", r.components, r.format)?;
        if let Some((text, _)) = &r.matcher {
            write!(f, "({text})")?;
        }
        if let Some(s) = &r.substitution {
            write!(
                f,
                "s/{}/{}/{}",
                s.from.as_str(),
                s.to,
                if s.global { "g" } else { "" }
            )?;
        }
        Ok(())
    }
}

/// `Rule#replaceParameters`: `$n` in the format becomes component `n` (`$0` the realm).
fn replace_parameters(format: &str, params: &[&str]) -> Result<String, RuleFailure> {
    let mut out = String::new();
    let mut rest = format;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        let digits = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let num = &after[..digits];
        let Ok(index) = num.parse::<i32>() else {
            return Err(RuleFailure::Checked(format!(
                "bad format in username mapping in {num}"
            )));
        };
        let len = params.len();
        if usize::try_from(index).map_or(true, |i| i > len) {
            return Err(RuleFailure::Checked(format!(
                "index {index} from {format} is outside of the valid range 0 to {}",
                len as i64 - 1
            )));
        }
        // Java checks `> length`, so `$length` is an out-of-bounds array index there
        let Some(param) = usize::try_from(index).ok().and_then(|i| params.get(i)) else {
            return Err(RuleFailure::Unchecked(format!(
                "Index {index} out of bounds for length {len}"
            )));
        };
        out.push_str(param);
        rest = &after[digits..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `Matcher#replaceFirst` / `#replaceAll` with Java's replacement syntax: `$n` (as many
/// digits as still name a group), `${name}`, and `\` quoting the next character. Errors are
/// Java's (`IllegalArgumentException`, `IndexOutOfBoundsException`), raised only when a match
/// is replaced, as Java parses the replacement then.
fn java_replace(from: &Regex, base: &str, to: &str, global: bool) -> Result<String, String> {
    let mut out = String::new();
    let mut copied = 0;
    let mut search = 0;
    // Java's find(): after an empty match the next search starts one character later
    while search <= base.len() {
        let Some(caps) = from.captures_at(base, search) else {
            break;
        };
        let Some(m) = caps.get(0) else { break };
        out.push_str(&base[copied..m.start()]);
        expand_java(&caps, from, to, &mut out)?;
        copied = m.end();
        if !global {
            break;
        }
        search = if m.is_empty() {
            match base[m.end()..].chars().next() {
                Some(c) => m.end() + c.len_utf8(),
                None => break,
            }
        } else {
            m.end()
        };
    }
    out.push_str(&base[copied..]);
    Ok(out)
}

fn expand_java(
    caps: &regex::Captures<'_>,
    re: &Regex,
    to: &str,
    out: &mut String,
) -> Result<(), String> {
    let groups = re.captures_len() - 1;
    let mut chars = to.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(quoted) => out.push(quoted),
                None => return Err("character to be escaped is missing".to_owned()),
            },
            '$' => {
                let index = match chars.next() {
                    None => {
                        return Err("Illegal group reference: group index is missing".to_owned())
                    }
                    Some('{') => {
                        let mut name = String::new();
                        loop {
                            match chars.next() {
                                Some('}') => break,
                                Some(ch) if ch.is_ascii_alphanumeric() => name.push(ch),
                                _ => {
                                    return Err(
                                        "named capturing group is missing trailing '}'".to_owned()
                                    )
                                }
                            }
                        }
                        if name.is_empty() {
                            return Err("named capturing group has 0 length name".to_owned());
                        }
                        match caps.name(&name) {
                            Some(m) => out.push_str(m.as_str()),
                            None if re.capture_names().flatten().any(|n| n == name) => {}
                            None => return Err(format!("No group with name {{{name}}}")),
                        }
                        continue;
                    }
                    Some(d) if d.is_ascii_digit() => {
                        let mut index = d as usize - '0' as usize;
                        // the longest run of digits that still names a group
                        while let Some(next) = chars.peek().and_then(|c| c.to_digit(10)) {
                            let longer = index * 10 + next as usize;
                            if longer > groups {
                                break;
                            }
                            index = longer;
                            chars.next();
                        }
                        index
                    }
                    Some(_) => return Err("Illegal group reference".to_owned()),
                };
                if index > groups {
                    return Err(format!("No group {index}"));
                }
                if let Some(m) = caps.get(index) {
                    out.push_str(m.as_str());
                }
            }
            other => out.push(other),
        }
    }
    Ok(())
}

/// A principal split as ZooKeeper splits it: `service[/host]@realm`, or a simple name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KerberosName {
    /// The first component (`zookeeper`, `alice`).
    pub service: String,
    /// The second component (`localhost` in `zookeeper/localhost@EXAMPLE.COM`).
    pub host: Option<String>,
    /// The realm; None only for a name without `@`.
    pub realm: Option<String>,
}

impl KerberosName {
    /// Split `name`. A name with an `@` must be `service[/host]@realm` with no further `/` or
    /// `@`; a name without one is taken whole as a simple name, as ZooKeeper does.
    pub fn parse(name: &str) -> Result<Self, SaslError> {
        let malformed = || SaslError::Authentication(format!("Malformed Kerberos name: {name}"));
        let Some((left, realm)) = name.split_once('@') else {
            return Ok(Self {
                service: name.to_owned(),
                host: None,
                realm: None,
            });
        };
        if realm.contains(['@', '/']) {
            return Err(malformed());
        }
        let (service, host) = match left.split_once('/') {
            Some((_, h)) if h.contains('/') => return Err(malformed()),
            Some((s, h)) => (s, Some(h.to_owned())),
            None => (left, None),
        };
        Ok(Self {
            service: service.to_owned(),
            host,
            realm: Some(realm.to_owned()),
        })
    }
}

impl std::fmt::Display for KerberosName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.service)?;
        if let Some(host) = &self.host {
            write!(f, "/{host}")?;
        }
        if let Some(realm) = &self.realm {
            write!(f, "@{realm}")?;
        }
        Ok(())
    }
}

/// `SaslServerCallbackHandler#handleAuthorizeCallback`: the `sasl:` id of a client
/// authenticated as `authentication_id` that asked to be `requested_id` (the authorization id
/// of its last handshake message, or its own principal when it sent none). An error fails the
/// authentication (what Java throws past the callback: a malformed name, a rule's runtime
/// error).
pub fn authorized_id(
    authentication_id: &str,
    requested_id: &str,
    default_realm: &str,
    rules: &PrincipalRules,
) -> Result<String, SaslError> {
    tracing::info!(
        "Successfully authenticated client: authenticationID={authentication_id};  authorizationID={requested_id}."
    );
    let name = KerberosName::parse(authentication_id)?;
    let short = match rules.auth_to_local.short_name(&name, default_realm) {
        Ok(short) => short,
        Err(RuleFailure::Checked(why)) => {
            tracing::error!(
                "Failed to set name based on Kerberos authentication rules: {why} (default realm {default_realm:?})"
            );
            return Ok(requested_id.to_owned());
        }
        Err(RuleFailure::Unchecked(why)) => {
            tracing::error!(
                "{AUTH_TO_LOCAL_PROPERTY} rule failed on {name}: {why}; the authentication fails"
            );
            return Err(SaslError::Authentication(format!(
                "{AUTH_TO_LOCAL_PROPERTY} rule failed on {name}: {why}"
            )));
        }
    };
    let mut id = short;
    if let (false, Some(host)) = (rules.remove_host_from_principal, &name.host) {
        id.push('/');
        id.push_str(host);
    }
    if let (false, Some(realm)) = (rules.remove_realm_from_principal, &name.realm) {
        id.push('@');
        id.push_str(realm);
    }
    tracing::info!("Setting authorizedID: {id}");
    Ok(id)
}

/// `SaslQuorumServerCallbackHandler#handleAuthorizeCallback` for a Kerberos login, with the
/// fix for CVE-2023-44981: a learner is a quorum member only when it asked to be exactly who
/// it authenticated as, and that principal is `service/host@REALM` with `host` one of the
/// hostnames of the ensemble's `server.N` lines. The id is then the principal, unshortened.
pub fn quorum_authorized(
    authentication_id: &str,
    authorization_id: &str,
    authorized_hosts: &std::collections::BTreeSet<String>,
) -> Result<String, SaslError> {
    let refused = || {
        tracing::error!(
            "SASL authorization completed, {authorization_id} is not authorized to connect"
        );
        SaslError::Authentication(format!(
            "{authorization_id} is not authorized to connect as a quorum member"
        ))
    };
    if authentication_id != authorization_id {
        return Err(refused());
    }
    // Java splits on '/' and '@' and wants exactly three parts
    let parts: Vec<&str> = authorization_id.split(['/', '@']).collect();
    match parts.as_slice() {
        [_, host, _] if authorized_hosts.contains(*host) => {}
        _ => return Err(refused()),
    }
    tracing::info!(
        "Successfully authenticated learner: authenticationID={authentication_id};  authorizationID={authorization_id}."
    );
    Ok(authorization_id.to_owned())
}

/// `SecurityUtils#getServerPrincipal`: `quorum.auth.kerberos.servicePrincipal` with a
/// `_HOST` instance becomes the principal of the peer at `hostname` (lower-cased). Only the
/// exact two-part form `service/_HOST` is rewritten, as in 3.8 (`zkquorum/_HOST@REALM` is
/// taken literally).
pub fn service_principal_for(principal: &str, hostname: &str) -> String {
    match principal.split('/').collect::<Vec<_>>().as_slice() {
        [service, "_HOST"] => format!("{service}/{}", hostname.to_lowercase()),
        _ => principal.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(host: bool, realm: bool, rules: &str) -> PrincipalRules {
        PrincipalRules {
            remove_host_from_principal: host,
            remove_realm_from_principal: realm,
            auth_to_local: Arc::new(AuthToLocal::parse(rules).unwrap()),
        }
    }

    fn keep() -> PrincipalRules {
        with(false, false, "DEFAULT")
    }

    fn strip() -> PrincipalRules {
        with(true, true, "DEFAULT")
    }

    fn id(principal: &str, rules: PrincipalRules) -> String {
        authorized_id(principal, "requested", "EXAMPLE.COM", &rules).unwrap()
    }

    #[test]
    fn parses_as_zookeeper_does() {
        let n = KerberosName::parse("zookeeper/localhost@EXAMPLE.COM").unwrap();
        assert_eq!(n.service, "zookeeper");
        assert_eq!(n.host.as_deref(), Some("localhost"));
        assert_eq!(n.realm.as_deref(), Some("EXAMPLE.COM"));
        assert_eq!(n.to_string(), "zookeeper/localhost@EXAMPLE.COM");
        let simple = KerberosName::parse("a/b").unwrap();
        assert_eq!((simple.service.as_str(), simple.host), ("a/b", None));
        for bad in ["a@b@C", "a/b/c@R", "a@R/x"] {
            let err = KerberosName::parse(bad).unwrap_err().to_string();
            assert!(err.contains("Malformed Kerberos name"), "{bad}: {err}");
        }
    }

    #[test]
    fn host_and_realm_stay_unless_removed() {
        assert_eq!(id("alice@EXAMPLE.COM", keep()), "alice@EXAMPLE.COM");
        assert_eq!(id("alice@EXAMPLE.COM", strip()), "alice");
        let zk = "zkquorum/localhost@EXAMPLE.COM";
        assert_eq!(id(zk, keep()), zk);
        assert_eq!(id(zk, strip()), "zkquorum");
        assert_eq!(id(zk, with(true, false, "DEFAULT")), "zkquorum@EXAMPLE.COM");
        assert_eq!(id(zk, with(false, true, "DEFAULT")), "zkquorum/localhost");
    }

    /// Hadoop's rule set from its `KerberosName` documentation and tests, default realm
    /// APACHE.ORG: rules are tried in order, the first that gives a name wins.
    const HADOOP: &str = "RULE:[1:$1@$0](.*@YAHOO\\.COM)s/@.*//\n\
        RULE:[2:$1](johndoe)s/^.*$/guest/\n\
        RULE:[2:$1;$2](^.*;admin$)s/;admin$//\n\
        RULE:[2:$2](root)\n\
        DEFAULT";

    fn short(rules: &str, principal: &str) -> Result<String, RuleFailure> {
        let rules = AuthToLocal::parse(rules).unwrap();
        rules.short_name(&KerberosName::parse(principal).unwrap(), "APACHE.ORG")
    }

    #[test]
    fn hadoop_rules_translate_in_order() {
        for (principal, expected) in [
            ("omalley@APACHE.ORG", "omalley"),
            ("hdfs/namenode.apache.org@APACHE.ORG", "hdfs"),
            ("oom@YAHOO.COM", "oom"),
            ("johndoe/zoo@FOO.COM", "guest"),
            ("joe/admin@FOO.COM", "joe"),
            ("joe/root@FOO.COM", "root"),
            // a simple name needs no rule
            ("plain", "plain"),
        ] {
            assert_eq!(
                short(HADOOP, principal).as_deref(),
                Ok(expected),
                "{principal}"
            );
        }
        for unmapped in ["foo@ACME.COM", "root/joe@FOO.COM"] {
            assert_eq!(
                short(HADOOP, unmapped),
                Err(RuleFailure::Checked(format!(
                    "No rules applied to {unmapped}"
                )))
            );
        }
    }

    #[test]
    fn rule_syntax_as_kerberos_name_reads_it() {
        // no separator needed between rules; blanks and newlines around them
        assert_eq!(short("RULE:[1:x$1]DEFAULT", "a@R").as_deref(), Ok("xa"));
        assert_eq!(short("  \n RULE:[2:$2]  \n ", "a/h@R").as_deref(), Ok("h"));
        // `matches()` wants the whole formatted name, `s///` replaces the first match, `g` all
        assert_eq!(
            short("RULE:[1:$1](b)", "abc@R"),
            Err(RuleFailure::Checked("No rules applied to abc@R".into()))
        );
        assert_eq!(short("RULE:[1:$1](.b.)", "abc@R").as_deref(), Ok("abc"));
        assert_eq!(
            short("RULE:[1:$1]s/[ab]/x/", "abab@R").as_deref(),
            Ok("xbab")
        );
        assert_eq!(
            short("RULE:[1:$1]s/[ab]/x/g", "abab@R").as_deref(),
            Ok("xxxx")
        );
        // Java's replacement syntax: $n groups (as many digits as name a group), \ quotes
        assert_eq!(
            short("RULE:[1:$1]s/(a)(b)/$2$1$10\\$/", "ab@R").as_deref(),
            Ok("baa0$")
        );
        // Java's empty-match stepping in replaceAll
        assert_eq!(
            short("RULE:[1:$1]s/b*/-/g", "abc@R").as_deref(),
            Ok("-a--c-")
        );
        // $0 is the realm, $1.. the components; the component count must be exact
        assert_eq!(short("RULE:[2:$0-$2-$1]", "a/h@R").as_deref(), Ok("R-h-a"));
        assert!(short("RULE:[1:$1]", "a/h@R").is_err());
        for bad in [
            "RULE:[1:$1]junk",
            "RULE:[:$1]",
            "RULE:[99999999999:$1]",
            "RULE:[1:$1",
            "DEFAULTS",
            "RULE:[1:$1](a(b)",
            "RULE:[1:$1]s/(a/x/",
            "nonsense",
        ] {
            let err = AuthToLocal::parse(bad).unwrap_err();
            assert!(err.starts_with("Invalid rule: "), "{bad}: {err}");
        }
        assert_eq!(
            AuthToLocal::parse("DEFAULT RULE:[1:$1]junk").unwrap_err(),
            "Invalid rule: junk"
        );
    }

    #[test]
    fn rule_failures_are_java_s() {
        // IOExceptions (logged, requested id kept)
        assert_eq!(
            short("RULE:[1:$1@$0]", "a@R"),
            Err(RuleFailure::Checked(
                "Non-simple name a@R after auth_to_local rule RULE:[1:$1@$0]".into()
            ))
        );
        assert_eq!(
            short("RULE:[1:$3]", "a@R"),
            Err(RuleFailure::Checked(
                "index 3 from $3 is outside of the valid range 0 to 1".into()
            ))
        );
        assert_eq!(
            short("RULE:[1:$x]", "a@R"),
            Err(RuleFailure::Checked(
                "bad format in username mapping in ".into()
            ))
        );
        // runtime exceptions: `$n` with n == components+1, bad `$` in a replacement
        assert!(matches!(
            short("RULE:[1:$2]", "a@R"),
            Err(RuleFailure::Unchecked(_))
        ));
        assert!(matches!(
            short("RULE:[1:$1]s/a/$2/", "a@R"),
            Err(RuleFailure::Unchecked(_))
        ));
        assert!(matches!(
            short("RULE:[1:$1]s/a/$x/", "a@R"),
            Err(RuleFailure::Unchecked(_))
        ));
        // ... but only when the substitution replaces something, as Java parses it then
        assert_eq!(short("RULE:[1:$1]s/z/$x/", "a@R").as_deref(), Ok("a"));
    }

    /// What the server makes of the id: a checked failure keeps the requested id, a
    /// runtime one fails the authentication, a rule's name then gets host and realm back.
    #[test]
    fn rules_decide_the_authorized_id() {
        let rule = "RULE:[1:$1@$0](.*@EXAMPLE\\.COM)s/@.*// RULE:[2:$1-$2]";
        assert_eq!(id("alice@EXAMPLE.COM", with(false, true, rule)), "alice");
        assert_eq!(
            id("alice@EXAMPLE.COM", with(false, false, rule)),
            "alice@EXAMPLE.COM"
        );
        assert_eq!(
            id("zookeeper/localhost@EXAMPLE.COM", with(false, false, rule)),
            "zookeeper-localhost/localhost@EXAMPLE.COM"
        );
        assert_eq!(
            id("zookeeper/localhost@EXAMPLE.COM", with(true, true, rule)),
            "zookeeper-localhost"
        );
        // DEFAULT is gone: another realm's one-component name maps by the first rule only
        assert_eq!(id("alice@OTHER.ORG", with(true, true, rule)), "requested");
        assert!(matches!(
            authorized_id("a@R", "a@R", "R", &with(false, false, "RULE:[1:$2]")),
            Err(SaslError::Authentication(_))
        ));
    }

    #[test]
    fn another_realm_keeps_the_requested_id() {
        assert_eq!(id("alice@OTHER.ORG", strip()), "requested");
        assert_eq!(id("zk/h@OTHER.ORG", keep()), "requested");
    }

    #[test]
    fn a_malformed_principal_is_refused() {
        assert!(matches!(
            authorized_id("a@b@C", "x", "EXAMPLE.COM", &keep()),
            Err(SaslError::Authentication(_))
        ));
    }

    fn hosts(list: &[&str]) -> std::collections::BTreeSet<String> {
        list.iter().map(|h| h.to_string()).collect()
    }

    #[test]
    fn a_quorum_learner_must_be_service_host_realm_of_a_listed_host() {
        let h = hosts(&["localhost", "zk2.example.com"]);
        let zk = "zkquorum/localhost@EXAMPLE.COM";
        assert_eq!(quorum_authorized(zk, zk, &h).unwrap(), zk);
        let other = "zkquorum/zk2.example.com@EXAMPLE.COM";
        assert_eq!(quorum_authorized(other, other, &h).unwrap(), other);
        // CVE-2023-44981: no instance part, or a host outside the ensemble
        for refused in [
            "alice@EXAMPLE.COM",
            "zkquorum/evil@EXAMPLE.COM",
            "zkquorum/localhost",
        ] {
            assert!(
                matches!(
                    quorum_authorized(refused, refused, &h),
                    Err(SaslError::Authentication(_))
                ),
                "{refused}"
            );
        }
        // asking to be someone else
        assert!(quorum_authorized(zk, other, &h).is_err());
    }

    #[test]
    fn only_service_slash_host_pattern_is_rewritten() {
        assert_eq!(
            service_principal_for("zkquorum/_HOST", "ZK1.Example.COM"),
            "zkquorum/zk1.example.com"
        );
        for literal in [
            "zkquorum/localhost",
            "zkquorum/_HOST@EXAMPLE.COM",
            "zkquorum",
            "a/b/_HOST",
        ] {
            assert_eq!(service_principal_for(literal, "h"), literal);
        }
    }
}
