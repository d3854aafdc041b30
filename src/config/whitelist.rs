//! `4lw.commands.whitelist` as `FourLetterCommands#isEnabled` builds it.
//!
//! Invariants (3.8): entries are comma separated and trimmed; `*` enables every known word;
//! `srvr` is always enabled (zkServer.sh needs it); `isro` is added when read-only mode is on.
//! Unknown names are kept (the reference keeps them too) but can never match a word.

use std::collections::BTreeSet;

/// Every four-letter word the reference knows (`FourLetterCommands.cmd2String`).
pub const ALL_WORDS: [&str; 18] = [
    "conf", "cons", "crst", "dirs", "dump", "envi", "gtmk", "ruok", "stmk", "srst", "srvr", "stat",
    "wchc", "wchp", "wchs", "mntr", "isro", "hash",
];

/// The set of enabled four-letter words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FourLetterWhitelist {
    enabled: BTreeSet<String>,
}

impl Default for FourLetterWhitelist {
    fn default() -> Self {
        Self::new(None, false)
    }
}

impl FourLetterWhitelist {
    /// `list` is the value of `4lw.commands.whitelist` (None when absent).
    pub fn new(list: Option<&str>, read_only_mode: bool) -> Self {
        let mut enabled = BTreeSet::new();
        for cmd in list.unwrap_or("").split(',').map(str::trim) {
            if cmd == "*" {
                // `isEnabled` stops reading the list at `*`.
                enabled.extend(ALL_WORDS.iter().map(|w| (*w).to_owned()));
                break;
            }
            if !cmd.is_empty() {
                enabled.insert(cmd.to_owned());
            }
        }
        if read_only_mode {
            enabled.insert("isro".to_owned());
        }
        enabled.insert("srvr".to_owned());
        Self { enabled }
    }

    /// Every word enabled.
    pub fn all() -> Self {
        Self::new(Some("*"), false)
    }

    pub fn is_enabled(&self, word: &str) -> bool {
        self.enabled.contains(word)
    }

    /// Enabled names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.enabled.iter().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn default_is_only_srvr() {
        let w = FourLetterWhitelist::default();
        assert_eq!(w.names().collect::<Vec<_>>(), vec!["srvr"]);
        assert!(!w.is_enabled("isro"));
        assert!(!w.is_enabled("ruok"));
    }

    #[test]
    fn list_is_trimmed_and_star_means_all() {
        let w = FourLetterWhitelist::new(Some(" ruok , stat,,"), false);
        assert!(w.is_enabled("ruok") && w.is_enabled("stat") && w.is_enabled("srvr"));
        assert!(!w.is_enabled("mntr"));
        let all = FourLetterWhitelist::new(Some("ruok, *"), false);
        assert!(ALL_WORDS.iter().all(|w| all.is_enabled(w)));
    }

    #[test]
    fn read_only_mode_enables_isro() {
        assert!(FourLetterWhitelist::new(None, true).is_enabled("isro"));
    }
}
