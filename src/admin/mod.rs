//! Four-letter words on the client port, in Apache ZooKeeper 3.8.0's exact text.
//!
//! Replaces `server/command/FourLetterCommands` and the `*Command` classes, `ServerStats`
//! (see [`stats`]) and the text dumps of `ZooKeeperServer`, `DataTree`, `WatchManager`,
//! `SessionTrackerImpl`, `ExpiryQueue`, `ServerCnxn`.
//!
//! Invariants: the admin module formats a [`ServerView`] the server published and never
//! locks the tree; a word not in the whitelist answers
//! `<word> is not executed because it is not in the whitelist.`; words that need a running
//! server answer [`words::ZK_NOT_SERVING`] otherwise, as the reference does; `srst` resets
//! [`ServerStats`] and `crst` calls the view's connection-reset hook. Output shapes are
//! checked line by line against captures from the real server in `fixtures/`; an ensemble
//! member's (leader, follower, observer) against captures from a real ensemble in
//! `fixtures/ensemble/` (see [`quorum`] for its `conf` lines).
//!
//! Not done here (caller's job): the connection counts a four-letter word as one packet
//! received (`NIOServerCnxn#checkFourLetterWord`), and for `stmk` reads the 8-byte mask that
//! follows the word and stores it before building the view.

pub mod http;
pub(crate) mod javafmt;
pub mod json;
mod mntr;
mod mntr_names;
pub mod process;
pub mod prometheus;
mod quorum;
pub mod stats;
pub mod summary;
#[cfg(test)]
mod tests;
pub mod view;
mod words;

pub use stats::{ServerStats, StatsSnapshot};
pub use view::{
    ConnectionSessionView, ConnectionView, LeaderView, LearnerHandlerView, QuorumView, ServerView,
    SessionView,
};

use crate::config::FourLetterWhitelist;

/// The words 3.8.0 knows (`FourLetterCommands.cmd2String`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FourLetterWord {
    Ruok,
    Stat,
    Srvr,
    Conf,
    Cons,
    Crst,
    Dump,
    Envi,
    Mntr,
    Wchs,
    Wchc,
    Wchp,
    Dirs,
    Isro,
    Srst,
    Hash,
    Gtmk,
    Stmk,
}

const WORDS: [(FourLetterWord, &str); 18] = [
    (FourLetterWord::Ruok, "ruok"),
    (FourLetterWord::Stat, "stat"),
    (FourLetterWord::Srvr, "srvr"),
    (FourLetterWord::Conf, "conf"),
    (FourLetterWord::Cons, "cons"),
    (FourLetterWord::Crst, "crst"),
    (FourLetterWord::Dump, "dump"),
    (FourLetterWord::Envi, "envi"),
    (FourLetterWord::Mntr, "mntr"),
    (FourLetterWord::Wchs, "wchs"),
    (FourLetterWord::Wchc, "wchc"),
    (FourLetterWord::Wchp, "wchp"),
    (FourLetterWord::Dirs, "dirs"),
    (FourLetterWord::Isro, "isro"),
    (FourLetterWord::Srst, "srst"),
    (FourLetterWord::Hash, "hash"),
    (FourLetterWord::Gtmk, "gtmk"),
    (FourLetterWord::Stmk, "stmk"),
];

impl FourLetterWord {
    /// The word whose ASCII is the first four bytes of a connection (the reference compares
    /// the frame-length int, i.e. the same four bytes, case-sensitively).
    pub fn from_bytes(first4: &[u8; 4]) -> Option<Self> {
        WORDS
            .iter()
            .find(|(_, name)| name.as_bytes() == first4)
            .map(|(w, _)| *w)
    }

    pub fn name(self) -> &'static str {
        WORDS
            .iter()
            .find(|(w, _)| *w == self)
            .map_or("", |(_, name)| name)
    }
}

/// `Version#getFullVersion` in the reference's shape: `3.8.0-<revision>, built on <date>`.
/// Kazoo's `server_version()` and zkServer.sh keep parsing it as 3.8.0. The date is
/// `FERROKEEPER_BUILD_DATE` at compile time when set.
pub fn version_string() -> String {
    format!(
        "3.8.0-ferrokeeper-{}, built on {}",
        env!("CARGO_PKG_VERSION"),
        option_env!("FERROKEEPER_BUILD_DATE").unwrap_or("unknown")
    )
}

/// Runs one word and returns the exact bytes to write before closing the connection.
pub fn execute(word: FourLetterWord, whitelist: &FourLetterWhitelist, view: &ServerView) -> String {
    if !whitelist.is_enabled(word.name()) {
        return format!(
            "{} is not executed because it is not in the whitelist.\n",
            word.name()
        );
    }
    use FourLetterWord as W;
    let needs_server = !matches!(word, W::Ruok | W::Envi | W::Gtmk | W::Stmk);
    if needs_server && !view.serving {
        // `IsroCommand` and `DigestCommand` print without a newline.
        return match word {
            W::Isro => "null".to_owned(),
            W::Hash => words::ZK_NOT_SERVING.to_owned(),
            _ => format!("{}\n", words::ZK_NOT_SERVING),
        };
    }
    match word {
        W::Ruok => "imok".to_owned(),
        W::Stat => words::stat(view, true),
        W::Srvr => words::stat(view, false),
        W::Conf => words::conf(view),
        W::Cons => words::cons(view),
        W::Crst => {
            if let Some(reset) = &view.reset_connection_stats {
                reset();
            }
            "Connection stats reset.\n".to_owned()
        }
        W::Dump => words::dump(view),
        W::Envi => words::envi(view),
        W::Mntr => mntr::mntr(view),
        W::Wchs => words::wchs(view),
        W::Wchc => words::wch_dump(view, false),
        W::Wchp => words::wch_dump(view, true),
        W::Dirs => words::dirs(view),
        W::Isro => if view.read_only { "ro" } else { "rw" }.to_owned(),
        W::Srst => {
            view.stats.reset();
            "Server stats reset.\n".to_owned()
        }
        W::Hash => words::hash(view),
        W::Gtmk | W::Stmk => view.trace_mask.to_string(),
    }
}
