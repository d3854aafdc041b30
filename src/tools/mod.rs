//! ZooKeeper's offline data tools as `ferrokeeper` subcommands, printing what the Java tools
//! print, byte for byte, with their exit codes:
//!
//! | subcommand | Java class (script) |
//! |---|---|
//! | `txnlog` | `persistence.TxnLogToolkit` (`zkTxnLogToolkit.sh`) |
//! | `snapshot` | `SnapshotFormatter` (`zkSnapShotToolkit.sh`) |
//! | `snapshot-compare` | `SnapshotComparer` (`zkSnapshotComparer.sh`) |
//! | `purge` | `PurgeTxnLog` (`zkCleanup.sh`) |
//! | `four-letter-word` | `client.FourLetterWordMain` (`zkServer.sh status`) |
//!
//! Files are read and written only through `persist`. Where the Java tool dies of an uncaught
//! exception, ours prints the exception's first line and exits 1, as the JVM does.

mod cli;
mod compare;
mod four_letter;
mod javatext;
mod purge;
mod snapshot;
mod txnlog;

use std::io::{BufRead, Write};

/// `ExitCode.EXECUTION_FINISHED`.
const EXECUTION_FINISHED: u8 = 0;
/// `ExitCode.UNEXPECTED_ERROR`, also the JVM's status after an uncaught exception.
const UNEXPECTED_ERROR: u8 = 1;
/// `ExitCode.INVALID_INVOCATION`.
const INVALID_INVOCATION: u8 = 2;

/// The subcommands, by the name given after `ferrokeeper`.
pub const TOOLS: [&str; 5] = [
    "txnlog",
    "snapshot",
    "snapshot-compare",
    "purge",
    "four-letter-word",
];

/// Runs the tool `name` with its arguments on the process's stdin/stdout/stderr; `None` if
/// there is no such tool. The value is the process exit code.
pub fn run(name: &str, args: &[String]) -> Option<u8> {
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let stdin = std::io::stdin();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut err = stderr.lock();
    let mut input = stdin.lock();
    let mut con = Console {
        out: &mut out,
        err: &mut err,
        input: &mut input,
    };
    let code = run_with(name, args, &mut con);
    con.flush();
    code
}

/// [`run`] on given streams.
pub(crate) fn run_with(name: &str, args: &[String], con: &mut Console<'_>) -> Option<u8> {
    Some(match name {
        "txnlog" => txnlog::main(args, con),
        "snapshot" => snapshot::main(args, con),
        "snapshot-compare" => compare::main(args, con),
        "purge" => purge::main(args, con),
        "four-letter-word" => four_letter::main(args, con),
        _ => return None,
    })
}

/// The tool's stdout, stderr and stdin. Write errors are ignored, as a Java `PrintStream`
/// ignores them (a closed pipe ends nothing early).
pub(crate) struct Console<'a> {
    out: &'a mut dyn Write,
    err: &'a mut dyn Write,
    input: &'a mut dyn BufRead,
}

impl Console<'_> {
    fn out(&mut self, s: &str) {
        let _ = self.out.write_all(s.as_bytes());
    }

    /// stderr, after what stdout holds so far (the two are one terminal to the reader).
    fn err(&mut self, s: &str) {
        self.flush();
        let _ = self.err.write_all(s.as_bytes());
    }

    fn flush(&mut self) {
        let _ = self.out.flush();
        let _ = self.err.flush();
    }

    fn next_word(&mut self) -> Option<String> {
        txnlog::read_word(self.input)
    }

    fn next_line(&mut self) -> Option<String> {
        let mut line = String::new();
        match self.input.read_line(&mut line) {
            Ok(0) | Err(_) => None,
            Ok(_) => {
                let trimmed = line.strip_suffix('\n').unwrap_or(&line);
                Some(trimmed.strip_suffix('\r').unwrap_or(trimmed).to_string())
            }
        }
    }
}

/// The end of a Java tool that dies of an uncaught exception: the JVM's first line of it on
/// stderr and status 1. `exception` is the class and message (`java.io.EOFException`).
fn uncaught(con: &mut Console<'_>, exception: &str) -> u8 {
    con.err(&format!("Exception in thread \"main\" {exception}\n"));
    UNEXPECTED_ERROR
}

/// `new File(path).toString()`: repeated separators collapsed, a trailing one dropped.
fn java_file_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if c == '/' && out.ends_with('/') {
            continue;
        }
        out.push(c);
    }
    if out.len() > 1 && out.ends_with('/') {
        out.pop();
    }
    out
}

/// `File#getAbsolutePath`: relative paths resolved against the working directory, not
/// normalised further.
fn java_absolute_path(path: &str) -> String {
    let p = java_file_path(path);
    if p.starts_with('/') {
        return p;
    }
    match std::env::current_dir() {
        Ok(cwd) if p.is_empty() => cwd.display().to_string(),
        Ok(cwd) => format!("{}/{p}", cwd.display()),
        Err(_) => p,
    }
}

#[cfg(test)]
pub(crate) mod test_console {
    use super::Console;

    /// Runs a tool with `stdin` as input; (exit code, stdout, stderr).
    pub(crate) fn run(tool: &str, args: &[&str], stdin: &str) -> (Option<u8>, String, String) {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let mut input = stdin.as_bytes();
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let code = {
            let mut con = Console {
                out: &mut out,
                err: &mut err,
                input: &mut input,
            };
            super::run_with(tool, &args, &mut con)
        };
        (
            code,
            String::from_utf8_lossy(&out).into_owned(),
            String::from_utf8_lossy(&err).into_owned(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_paths_like_java_file() {
        assert_eq!(java_file_path("a//b/"), "a/b");
        assert_eq!(java_file_path("/"), "/");
        assert_eq!(java_absolute_path("/x//y"), "/x/y");
    }

    #[test]
    fn unknown_tool() {
        assert_eq!(test_console::run("nope", &[], "").0, None);
    }
}
