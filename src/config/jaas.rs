//! JAAS login configuration files as Java's `sun.security.provider.ConfigFile` reads them
//! (`-Djava.security.auth.login.config=<file>`):
//!
//! ```text
//! Server {
//!     org.apache.zookeeper.server.auth.DigestLoginModule required
//!     user_bob="bobsecret";
//! };
//! ```
//!
//! Tokens are `java.io.StreamTokenizer`'s as ConfigFile sets it up: words of letters,
//! digits, `.`, `$`, `_`, `-`, `*` (a word cannot start with a digit, `.` or `-`: that is a
//! number, which no part of the grammar accepts); strings in `"` or `'` with Java's
//! backslash escapes, ending at the line's end when unterminated; `//…` and `/*…*/`
//! comments, and a lone `/` outside a string also starts a comment to the line's end (why
//! unquoted paths do not work in JAAS files). Option values get `${prop}` expansion
//! (`PropertyExpander`, on by default through `policy.expandProperties`): `${/}` is the
//! file separator, `${{…}}` is kept as written, an unknown property is an error, and a value
//! that expands to "" is an error. A section given twice is an error; an option given twice
//! keeps its last value; the control flag is case-insensitive.
//!
//! Difference: errors name the file and the line the bad token is on; Java's line count
//! misses line breaks inside comments and strings.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use super::jvmflags::SystemProperties;
use super::ConfigError;

/// `LoginModuleControlFlag`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControlFlag {
    Required,
    Requisite,
    Sufficient,
    Optional,
}

/// One `LoginModule` line of a section (`AppConfigurationEntry`).
#[derive(Clone, PartialEq, Eq)]
pub struct LoginModuleEntry {
    /// The login module's class name.
    pub class: String,
    pub flag: ControlFlag,
    /// Options after expansion; the last of two same keys wins.
    pub options: BTreeMap<String, String>,
}

impl fmt::Debug for LoginModuleEntry {
    /// Option values hold passwords (`user_<name>`, `password`): only keys are shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginModuleEntry")
            .field("class", &self.class)
            .field("flag", &self.flag)
            .field("option_keys", &self.options.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// A whole JAAS file: section name → its login modules, in file order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JaasConfig {
    /// The file it came from.
    pub path: PathBuf,
    pub sections: BTreeMap<String, Vec<LoginModuleEntry>>,
}

impl JaasConfig {
    /// The section `name` (`Configuration#getAppConfigurationEntry`).
    pub fn section(&self, name: &str) -> Option<&[LoginModuleEntry]> {
        self.sections.get(name).map(Vec::as_slice)
    }
}

/// The file that `java.security.auth.login.config` names: a leading `=` (which in Java
/// replaces the files of `java.security`) and a `file:` URL prefix are dropped.
pub fn login_config_path(value: &str) -> PathBuf {
    let v = value.strip_prefix('=').unwrap_or(value);
    let v = v
        .strip_prefix("file://")
        .or_else(|| v.strip_prefix("file:"));
    PathBuf::from(v.unwrap_or(value.strip_prefix('=').unwrap_or(value)))
}

/// Reads and parses the JAAS file at `path`.
pub fn load(path: &Path, props: &SystemProperties) -> Result<JaasConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_owned(),
        source,
    })?;
    parse(&text, path, props)
}

/// Parses JAAS text; `path` names the file in errors.
pub fn parse(text: &str, path: &Path, props: &SystemProperties) -> Result<JaasConfig, ConfigError> {
    let mut p = Parser {
        lx: Lexer::new(text),
        props,
        path,
    };
    let mut sections = BTreeMap::new();
    loop {
        let (line, tok) = p.lx.next_token();
        let name = match tok {
            Tok::Eof => break,
            Tok::Word(w) | Tok::Quoted(w) => w,
            other => return Err(p.err(line, format!("expected [section name], found [{other}]"))),
        };
        p.expect_char('{')?;
        let mut modules = Vec::new();
        loop {
            let (line, tok) = p.lx.next_token();
            let class = match tok {
                Tok::Char('}') => break,
                Tok::Word(w) => w,
                other => {
                    return Err(p.err(
                        line,
                        format!("expected [module class name], found [{other}]"),
                    ))
                }
            };
            let flag_word = p.word("controlFlag")?;
            let flag = match flag_word.1.to_ascii_uppercase().as_str() {
                "REQUIRED" => ControlFlag::Required,
                "REQUISITE" => ControlFlag::Requisite,
                "SUFFICIENT" => ControlFlag::Sufficient,
                "OPTIONAL" => ControlFlag::Optional,
                other => {
                    return Err(p.err(flag_word.0, format!("Invalid control flag, {other}")));
                }
            };
            let mut options = BTreeMap::new();
            loop {
                let (line, tok) = p.lx.next_token();
                let key = match tok {
                    Tok::Char(';') => break,
                    Tok::Word(w) => w,
                    other => {
                        return Err(p.err(line, format!("expected [option key], found [{other}]")))
                    }
                };
                p.expect_char('=')?;
                let (line, tok) = p.lx.next_token();
                let value = match tok {
                    Tok::Word(w) | Tok::Quoted(w) => w,
                    other => {
                        return Err(p.err(line, format!("expected [option value], found [{other}]")))
                    }
                };
                let value = p.expand(line, &value)?;
                options.insert(key, value);
            }
            modules.push(LoginModuleEntry {
                class,
                flag,
                options,
            });
        }
        p.expect_char(';')?;
        if sections.contains_key(&name) {
            return Err(p.err(
                p.lx.line,
                format!("Can not specify multiple entries for {name}"),
            ));
        }
        sections.insert(name, modules);
    }
    Ok(JaasConfig {
        path: path.to_owned(),
        sections,
    })
}

struct Parser<'a> {
    lx: Lexer<'a>,
    props: &'a SystemProperties,
    path: &'a Path,
}

impl Parser<'_> {
    fn err(&self, line: usize, problem: String) -> ConfigError {
        ConfigError::Jaas {
            file: self.path.display().to_string(),
            line,
            problem,
        }
    }

    fn expect_char(&mut self, c: char) -> Result<(), ConfigError> {
        match self.lx.next_token() {
            (_, Tok::Char(got)) if got == c => Ok(()),
            (line, Tok::Eof) => Err(self.err(line, format!("expected [{c}], read [end of file]"))),
            (line, other) => Err(self.err(line, format!("expected [{c}], found [{other}]"))),
        }
    }

    fn word(&mut self, what: &str) -> Result<(usize, String), ConfigError> {
        match self.lx.next_token() {
            (line, Tok::Word(w)) => Ok((line, w)),
            (line, other) => Err(self.err(line, format!("expected [{what}], found [{other}]"))),
        }
    }

    /// `ConfigFile.Spi#expand` over `PropertyExpander#expand`.
    fn expand(&self, line: usize, value: &str) -> Result<String, ConfigError> {
        if value.is_empty() || !value.contains("${") {
            return Ok(value.to_owned());
        }
        let mut out = String::with_capacity(value.len());
        let mut rest = value;
        while let Some(p) = rest.find("${") {
            out.push_str(&rest[..p]);
            let after = &rest[p + 2..];
            if after.starts_with('{') {
                // `${{…}}` stays as written
                match after.find("}}") {
                    Some(e) if p + 2 + e + 2 < rest.len() => {
                        out.push_str(&rest[p..p + 2 + e + 2]);
                        rest = &rest[p + 2 + e + 2..];
                    }
                    _ => {
                        out.push_str(&rest[p..]);
                        rest = "";
                    }
                }
                continue;
            }
            let Some(end) = after.find('}') else {
                out.push_str(&rest[p..]);
                rest = "";
                break;
            };
            let name = &after[..end];
            if name == "/" {
                out.push('/');
            } else {
                match self.props.lookup(name) {
                    Some(v) => out.push_str(&v),
                    None => return Err(self.err(line, format!("unable to expand property {name}"))),
                }
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        if out.is_empty() {
            return Err(self.err(
                line,
                format!("system property [{value}] expanded to empty value"),
            ));
        }
        Ok(out)
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Tok {
    Word(String),
    Quoted(String),
    /// A token starting with a digit, `.` or `-` (StreamTokenizer's TT_NUMBER).
    Number(String),
    Char(char),
    Eof,
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Word(w) | Tok::Number(w) => f.write_str(w),
            Tok::Quoted(q) => write!(f, "\"{q}\""),
            Tok::Char(c) => write!(f, "{c}"),
            Tok::Eof => f.write_str("end of file"),
        }
    }
}

fn is_word_start(c: char) -> bool {
    c.is_ascii_alphabetic() || ('\u{a0}'..='\u{ff}').contains(&c) || matches!(c, '$' | '_' | '*')
}

fn is_word_part(c: char) -> bool {
    is_word_start(c) || c.is_ascii_digit() || matches!(c, '.' | '-')
}

struct Lexer<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    /// The line the lexer is on (1-based).
    line: usize,
}

impl<'a> Lexer<'a> {
    fn new(text: &'a str) -> Self {
        Lexer {
            chars: text.chars().peekable(),
            line: 1,
        }
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.next();
        if c == Some('\n') {
            self.line += 1;
        }
        c
    }

    fn skip_to_line_end(&mut self) {
        while let Some(&c) = self.chars.peek() {
            if c == '\n' || c == '\r' {
                break;
            }
            self.bump();
        }
    }

    /// The next token and the line it starts on.
    fn next_token(&mut self) -> (usize, Tok) {
        loop {
            let Some(&c) = self.chars.peek() else {
                return (self.line, Tok::Eof);
            };
            let line = self.line;
            if c <= ' ' {
                self.bump();
                continue;
            }
            if c == '/' {
                self.bump();
                match self.chars.peek() {
                    Some('*') => {
                        self.bump();
                        let mut prev = '\0';
                        while let Some(c) = self.bump() {
                            if prev == '*' && c == '/' {
                                break;
                            }
                            prev = c;
                        }
                    }
                    // `//`, and a lone `/` (its comment-character default)
                    _ => self.skip_to_line_end(),
                }
                continue;
            }
            if c == '"' || c == '\'' {
                self.bump();
                return (line, Tok::Quoted(self.quoted(c)));
            }
            if is_word_start(c) || c.is_ascii_digit() || c == '.' || c == '-' {
                let number = !is_word_start(c);
                let mut w = String::new();
                while let Some(&c) = self.chars.peek() {
                    if !is_word_part(c) {
                        break;
                    }
                    w.push(c);
                    self.bump();
                }
                return (line, if number { Tok::Number(w) } else { Tok::Word(w) });
            }
            self.bump();
            return (line, Tok::Char(c));
        }
    }

    /// A string's body up to its closing quote or the line's end, escapes resolved.
    fn quoted(&mut self, quote: char) -> String {
        let mut s = String::new();
        while let Some(&c) = self.chars.peek() {
            if c == '\n' || c == '\r' {
                break;
            }
            self.bump();
            if c == quote {
                break;
            }
            if c != '\\' {
                s.push(c);
                continue;
            }
            let Some(e) = self.bump() else { break };
            match e {
                'a' => s.push('\u{7}'),
                'b' => s.push('\u{8}'),
                'f' => s.push('\u{c}'),
                'n' => s.push('\n'),
                'r' => s.push('\r'),
                't' => s.push('\t'),
                'v' => s.push('\u{b}'),
                '0'..='7' => {
                    // up to three octal digits, the first ≤ 3 for a third one
                    let mut v = e as u32 - '0' as u32;
                    let max_digits = if e <= '3' { 2 } else { 1 };
                    for _ in 0..max_digits {
                        match self.chars.peek() {
                            Some(&d @ '0'..='7') => {
                                v = v * 8 + (d as u32 - '0' as u32);
                                self.bump();
                            }
                            _ => break,
                        }
                    }
                    s.push(char::from_u32(v).unwrap_or('\u{fffd}'));
                }
                other => s.push(other),
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn jaas(text: &str) -> JaasConfig {
        parse(text, Path::new("jaas.conf"), &SystemProperties::default()).unwrap()
    }

    fn err(text: &str) -> String {
        parse(text, Path::new("jaas.conf"), &SystemProperties::default())
            .unwrap_err()
            .to_string()
    }

    /// ZooKeeper's admin guide (SASL with DIGEST-MD5): the server's and the client's file.
    #[test]
    fn zookeeper_admin_guide_digest_files() {
        let c = jaas(
            "Server {\n       org.apache.zookeeper.server.auth.DigestLoginModule required\n       \
             user_super=\"adminsecret\"\n       user_bob=\"bobsecret\";\n};\n\
             Client {\n       org.apache.zookeeper.server.auth.DigestLoginModule required\n       \
             username=\"bob\"\n       password=\"bobsecret\";\n};\n",
        );
        let server = c.section("Server").unwrap();
        assert_eq!(server.len(), 1);
        assert_eq!(
            server[0].class,
            "org.apache.zookeeper.server.auth.DigestLoginModule"
        );
        assert_eq!(server[0].flag, ControlFlag::Required);
        assert_eq!(server[0].options["user_super"], "adminsecret");
        assert_eq!(server[0].options["user_bob"], "bobsecret");
        assert_eq!(c.section("Client").unwrap()[0].options["username"], "bob");
        assert!(c.section("client").is_none());
    }

    /// Kafka's zookeeper_jaas.conf, Kerberos (the ZooKeeper admin guide's Krb5 example).
    #[test]
    fn kafka_and_kerberos_files() {
        let c = jaas(
            "// Kafka's broker-side ZooKeeper client\n\
             Client {\n   org.apache.kafka.common.security.plain.PlainLoginModule required\n   \
             username=\"kafka\"\n   password=\"kafka-secret\";\n};\n\
             /* the ZooKeeper server,\n   with Kerberos */\n\
             Server {\n  com.sun.security.auth.module.Krb5LoginModule required\n  \
             useKeyTab=true\n  keyTab=\"/path/to/server/keytab\"\n  storeKey=true\n  \
             useTicketCache=false\n  principal=\"zookeeper/yourzkhostname@EXAMPLE.COM\";\n};\n",
        );
        let server = &c.section("Server").unwrap()[0];
        assert_eq!(server.class, "com.sun.security.auth.module.Krb5LoginModule");
        assert_eq!(server.options["useKeyTab"], "true");
        assert_eq!(server.options["keyTab"], "/path/to/server/keytab");
        assert_eq!(
            server.options["principal"],
            "zookeeper/yourzkhostname@EXAMPLE.COM"
        );
        assert_eq!(
            c.section("Client").unwrap()[0].options["password"],
            "kafka-secret"
        );
    }

    #[test]
    fn several_modules_flags_any_case_quoted_names_and_escapes() {
        let c = jaas(
            "\"Quoted Name\" { a.B Sufficient; c.D OPTIONAL k='v\\\"w' k2=\"a\\\\b\\tc\\101\"; \
             e.F requisite k=x1 k=last; };",
        );
        let s = c.section("Quoted Name").unwrap();
        assert_eq!(
            s.iter().map(|m| m.flag).collect::<Vec<_>>(),
            [
                ControlFlag::Sufficient,
                ControlFlag::Optional,
                ControlFlag::Requisite
            ]
        );
        assert_eq!(s[1].options["k"], "v\"w");
        assert_eq!(s[1].options["k2"], "a\\b\tcA");
        assert_eq!(s[2].options["k"], "last");
        assert!(s[0].options.is_empty());
    }

    #[test]
    fn property_expansion_as_java_does_it() {
        let props = SystemProperties::from_pairs([("zk.home", "/opt/zk"), ("empty", "")]);
        let c = parse(
            "S { m.M required a=\"${zk.home}${/}keytab\" b=\"${{not.expanded}}x\" \
             c=\"${unclosed\" d=\"x${zk.home}y${zk.home}\"; };",
            Path::new("j"),
            &props,
        )
        .unwrap();
        let o = &c.section("S").unwrap()[0].options;
        assert_eq!(o["a"], "/opt/zk/keytab");
        assert_eq!(o["b"], "${{not.expanded}}x");
        assert_eq!(o["c"], "${unclosed");
        assert_eq!(o["d"], "x/opt/zky/opt/zk");
        let e = parse(
            "S {\n m.M required\n a=\"${nope}\"; };",
            Path::new("j"),
            &props,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(e, "j line 3: unable to expand property nope");
        let e = parse(
            "S { m.M required a=\"${empty}\"; };",
            Path::new("j"),
            &props,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("expanded to empty value"), "{e}");
    }

    #[test]
    fn bad_files_name_the_file_and_the_line() {
        assert_eq!(
            err("Server {\n  a.B required\n  user_bob=\"x\"\n};\n"),
            "jaas.conf line 4: expected [option key], found [}]"
        );
        assert_eq!(
            err("Server {\n  a.B mandatory;\n};"),
            "jaas.conf line 2: Invalid control flag, MANDATORY"
        );
        assert_eq!(
            err("Server {\n  a.B required;\n}"),
            "jaas.conf line 3: expected [;], read [end of file]"
        );
        assert_eq!(
            err("S { a.B required; };\nS { c.D required; };"),
            "jaas.conf line 2: Can not specify multiple entries for S"
        );
        // an unquoted path: `/` starts a comment, so the value is missing
        assert_eq!(
            err("S { a.B required\n keyTab=/etc/zk.keytab;\n};"),
            "jaas.conf line 3: expected [option value], found [}]"
        );
        assert_eq!(
            err("S { a.B required port=2181; };"),
            "jaas.conf line 1: expected [option value], found [2181]"
        );
        assert_eq!(
            err("S { a.B required k=\"v\" ; } ;\nS2"),
            "jaas.conf line 2: expected [{], read [end of file]"
        );
    }

    #[test]
    fn comments_and_empty_files() {
        assert!(jaas("").sections.is_empty());
        assert!(jaas("// only\n/* comments */\n").sections.is_empty());
        let c = jaas("S { /* c */ a.B // c\n required /* x */ k=v; // t\n};");
        assert_eq!(c.section("S").unwrap()[0].options["k"], "v");
    }

    #[test]
    fn login_config_value_forms() {
        assert_eq!(login_config_path("/etc/j.conf"), Path::new("/etc/j.conf"));
        assert_eq!(login_config_path("=/etc/j.conf"), Path::new("/etc/j.conf"));
        assert_eq!(
            login_config_path("file:/etc/j.conf"),
            Path::new("/etc/j.conf")
        );
    }

    #[test]
    fn debug_output_hides_passwords() {
        let c = jaas("S { a.B required user_bob=\"sekrit\"; };");
        assert!(!format!("{c:?}").contains("sekrit"));
    }
}
