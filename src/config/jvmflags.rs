//! System properties from the JVM command line that zkServer.sh would build.
//!
//! zkServer.sh runs `java … $JVMFLAGS QuorumPeerMain zoo.cfg` after
//! `JVMFLAGS="$SERVER_JVMFLAGS $JVMFLAGS"`: both variables are split on blanks (unquoted
//! expansion: quotes are not special, so a value cannot hold a space), and of two `-Dname=`
//! the later one wins, so `JVMFLAGS` beats `SERVER_JVMFLAGS`. `-Dname` alone sets "".
//! Anything that is not `-D…` (`-Xmx`, `-cp`, `-XX:…`) means nothing here and is skipped.
//!
//! `QuorumPeerConfig#parseProperties` later turns every zoo.cfg key it does not know into
//! `System.setProperty("zookeeper.<key>")`, which overwrites a `-D` of the same name: zoo.cfg
//! wins ([`super::sysprops::Props`] looks there first).

use std::collections::BTreeMap;

/// The two environment variables, in the order zkServer.sh puts them on the command line.
pub const ENV_VARS: [&str; 2] = ["SERVER_JVMFLAGS", "JVMFLAGS"];

/// `-Dname=value` settings; for a name given twice, the later value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SystemProperties {
    props: BTreeMap<String, String>,
}

impl SystemProperties {
    /// From `SERVER_JVMFLAGS` and `JVMFLAGS` of this process's environment.
    pub fn from_env() -> SystemProperties {
        let values: Vec<String> = ENV_VARS
            .iter()
            .map(|v| std::env::var(v).unwrap_or_default())
            .collect();
        SystemProperties::from_flags(&values.join(" "))
    }

    /// `java -Dname=value… $SERVER_JVMFLAGS $JVMFLAGS`: the `defines` (given as `-D` options on
    /// our command line, by `bin/zkServer.sh`), then the environment's, later ones winning as
    /// on a JVM command line. A define's value may hold blanks (it is one argument).
    pub fn from_defines_and_env(defines: &[String]) -> SystemProperties {
        let mut props = BTreeMap::new();
        for def in defines {
            let (name, value) = def.split_once('=').unwrap_or((def, ""));
            if !name.is_empty() {
                props.insert(name.to_owned(), value.to_owned());
            }
        }
        props.extend(SystemProperties::from_env().props);
        SystemProperties { props }
    }

    /// From a JVM command line fragment (`-Da=b -Xmx1g -Dc`).
    pub fn from_flags(flags: &str) -> SystemProperties {
        let mut props = BTreeMap::new();
        // the shell's default IFS: space, tab, newline
        for word in flags.split([' ', '\t', '\n']).filter(|w| !w.is_empty()) {
            let Some(def) = word.strip_prefix("-D") else {
                continue;
            };
            let (name, value) = def.split_once('=').unwrap_or((def, ""));
            if !name.is_empty() {
                props.insert(name.to_owned(), value.to_owned());
            }
        }
        SystemProperties { props }
    }

    /// Settings given as pairs (tests, embedding).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        SystemProperties {
            props: pairs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        }
    }

    /// The `-D` value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.props.get(name).map(String::as_str)
    }

    /// Every `-D` setting, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.props.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// `System.getProperty(name)` as far as a native process has an answer: a `-D` setting,
    /// else the JVM's own properties that configuration files use in `${…}` (user.home,
    /// user.name, user.dir, java.io.tmpdir, the separators).
    pub fn lookup(&self, name: &str) -> Option<String> {
        if let Some(v) = self.get(name) {
            return Some(v.to_owned());
        }
        match name {
            "user.home" => std::env::var("HOME").ok(),
            "user.name" => std::env::var("USER").ok(),
            "user.dir" => std::env::current_dir()
                .ok()
                .map(|d| d.display().to_string()),
            "java.io.tmpdir" => Some("/tmp".to_owned()),
            "file.separator" => Some("/".to_owned()),
            "path.separator" => Some(":".to_owned()),
            "line.separator" => Some("\n".to_owned()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_definitions_win_and_other_flags_are_skipped() {
        // what zkServer.sh builds from SERVER_JVMFLAGS="-Da=1 -Xmx1g" JVMFLAGS="-Da=2 -Db"
        let p = SystemProperties::from_flags("-Da=1 -Xmx1g\t-Dzookeeper.x=y=z  -Da=2 -Db -D");
        assert_eq!(p.get("a"), Some("2"));
        assert_eq!(p.get("b"), Some(""));
        assert_eq!(p.get("zookeeper.x"), Some("y=z"));
        assert_eq!(p.iter().count(), 3);
    }

    #[test]
    fn quotes_are_not_shell_syntax_in_an_unquoted_expansion() {
        let p = SystemProperties::from_flags("-Dname=\"a b\"");
        assert_eq!(p.get("name"), Some("\"a"));
    }

    #[test]
    fn lookup_falls_back_to_the_jvm_builtins() {
        let p = SystemProperties::from_pairs([("file.separator", "\\")]);
        assert_eq!(p.lookup("file.separator").as_deref(), Some("\\"));
        assert_eq!(p.lookup("path.separator").as_deref(), Some(":"));
        assert_eq!(p.lookup("no.such.property"), None);
    }
}
