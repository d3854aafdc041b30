//! Where the server's log goes: stderr by default, or a size-rolled file in the log
//! directory, chosen with the system properties a 3.x log4j/logback configuration reads.
//!
//! | property | meaning | default |
//! |---|---|---|
//! | `zookeeper.root.logger` | `LEVEL[,APPENDER...]`; appenders `CONSOLE` (stderr) and `ROLLINGFILE` (`ZOO_LOG4J_PROP` of the scripts) | `INFO,CONSOLE` |
//! | `zookeeper.log.dir` | the rolling file's directory (`ZOO_LOG_DIR`) | `.` |
//! | `zookeeper.log.file` | its name (`ZOO_LOG_FILE`) | `zookeeper.log` |
//! | `zookeeper.log.maxfilesize` | roll when the file is past this (`10MB`, `256MB`, `1GB`, bytes) | `10MB` |
//! | `zookeeper.log.maxbackupindex` | rolled files kept: `NAME.1` (newest) … `NAME.N` | `10` |
//!
//! They come from `-D` arguments of the command line (`bin/zkServer.sh` passes the first
//! three) and from `SERVER_JVMFLAGS` / `JVMFLAGS`. `RUST_LOG`, when set, replaces the level.
//!
//! File lines follow the shipped pattern `%d{ISO8601} [myid:%X{myid}] - %-5p [%t:%C{1}@%L] -
//! %m%n`, with the Rust module where Java has the class, so a grep or a log shipper written
//! for 3.8's files reads ours. The file is written by a background thread
//! (`tracing-appender`), so a slow disk does not hold up request threads; rolling is
//! `file-rotate`'s, as log4j's `RollingFileAppender` does it: the file is renamed `NAME.1`,
//! older ones shift up, the one past the backup index is deleted.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use file_rotate::compression::Compression;
use file_rotate::suffix::AppendCount;
use file_rotate::{ContentLimit, FileRotate};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::jvmflags::SystemProperties;

/// log4j's `MaxFileSize` in Debian's shipped `log4j.properties`.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 10 * 1024 * 1024;
/// Rolled files kept by default.
pub const DEFAULT_MAX_BACKUP_INDEX: usize = 10;

/// The server's id for `[myid:N]`, once the configuration is read (empty when standalone,
/// as 3.8's MDC is).
static MYID: OnceLock<u64> = OnceLock::new();

/// Sets the id shown in the file's `[myid:N]`.
pub fn set_myid(id: u64) {
    let _ = MYID.set(id);
}

/// A logging property that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("-D{key}={value}: {problem}")]
    Property {
        key: &'static str,
        value: String,
        problem: &'static str,
    },
    #[error("cannot write the log file {}: {source}", path.display())]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The rolling file appender's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RollingFile {
    pub path: PathBuf,
    pub max_file_size: u64,
    pub max_backup_index: usize,
}

/// What [`init`] sets up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogSettings {
    /// An `EnvFilter` directive (`info`, `warn`, ...).
    pub level: String,
    pub console: bool,
    pub file: Option<RollingFile>,
    /// Appender names we do not have (`TRACEFILE`, ...): warned about once logging runs.
    pub unknown_appenders: Vec<String>,
}

impl LogSettings {
    /// From the properties in the module's table.
    pub fn from_properties(props: &SystemProperties) -> Result<LogSettings, LogError> {
        let root = props.get("zookeeper.root.logger").unwrap_or("INFO,CONSOLE");
        let mut parts = root.split(',').map(str::trim);
        let level_name = parts.next().unwrap_or_default();
        let level = match level_name.to_ascii_uppercase().as_str() {
            "" | "INFO" => "info",
            "ALL" | "TRACE" => "trace",
            "DEBUG" => "debug",
            "WARN" => "warn",
            "ERROR" | "FATAL" => "error",
            "OFF" => "off",
            _ => {
                return Err(LogError::Property {
                    key: "zookeeper.root.logger",
                    value: root.to_owned(),
                    problem: "the level must be TRACE, DEBUG, INFO, WARN, ERROR or OFF",
                })
            }
        };
        let (mut console, mut rolling, mut unknown_appenders) = (false, false, Vec::new());
        for appender in parts.filter(|a| !a.is_empty()) {
            match appender.to_ascii_uppercase().as_str() {
                "CONSOLE" => console = true,
                "ROLLINGFILE" => rolling = true,
                _ => unknown_appenders.push(appender.to_owned()),
            }
        }
        let file = if rolling {
            let dir = props.get("zookeeper.log.dir").unwrap_or(".");
            let name = props.get("zookeeper.log.file").unwrap_or("zookeeper.log");
            let max_file_size = match props.get("zookeeper.log.maxfilesize") {
                None => DEFAULT_MAX_FILE_SIZE,
                Some(v) => parse_file_size(v).ok_or_else(|| LogError::Property {
                    key: "zookeeper.log.maxfilesize",
                    value: v.to_owned(),
                    problem: "expected a size such as 10MB, 512KB, 1GB or a byte count",
                })?,
            };
            let max_backup_index = match props.get("zookeeper.log.maxbackupindex") {
                None => DEFAULT_MAX_BACKUP_INDEX,
                Some(v) => v.trim().parse().map_err(|_| LogError::Property {
                    key: "zookeeper.log.maxbackupindex",
                    value: v.to_owned(),
                    problem: "expected a whole number",
                })?,
            };
            Some(RollingFile {
                path: Path::new(dir).join(name),
                max_file_size,
                max_backup_index,
            })
        } else {
            None
        };
        Ok(LogSettings {
            level: level.to_owned(),
            console,
            file,
            unknown_appenders,
        })
    }
}

/// logback's `FileSize` syntax (log4j's `MaxFileSize` takes the same): a number and an
/// optional KB / MB / GB unit, case-insensitive, blanks allowed between.
pub fn parse_file_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let digits = t.len() - t.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let n: u64 = t[..digits].parse().ok()?;
    let unit = match t[digits..].trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "KB" => 1024,
        "MB" => 1024 * 1024,
        "GB" => 1024 * 1024 * 1024,
        _ => return None,
    };
    n.checked_mul(unit).filter(|&b| b > 0)
}

/// A writer of `file`, rolled by size. The directory is made and the file opened first so
/// an unusable path is an error here (file-rotate panics on one).
pub fn rolling_writer(file: &RollingFile) -> Result<FileRotate<AppendCount>, LogError> {
    let err = |source| LogError::File {
        path: file.path.clone(),
        source,
    };
    if let Some(dir) = file.path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&file.path)
        .map_err(err)?;
    let limit = usize::try_from(file.max_file_size).unwrap_or(usize::MAX);
    Ok(FileRotate::new(
        &file.path,
        // log4j with MaxBackupIndex=0 truncates instead of keeping one: keep one at least
        AppendCount::new(file.max_backup_index.max(1)),
        ContentLimit::BytesSurpassed(limit),
        Compression::None,
        None,
    ))
}

/// Keeps the log file's writer thread; dropping it flushes what is queued.
pub struct LogGuard {
    _worker: Option<tracing_appender::non_blocking::WorkerGuard>,
}

/// Installs the global subscriber for `settings`. On a file that cannot be written the
/// error is returned and stderr logging is installed instead, so the cause is seen.
pub fn init(settings: &LogSettings) -> Result<LogGuard, LogError> {
    let filter =
        || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.level));
    let file = settings.file.as_ref().map(rolling_writer).transpose();
    let (file, problem) = match file {
        Ok(f) => (f, None),
        Err(e) => (None, Some(e)),
    };
    // stderr when asked, when nothing else was, or when the file failed
    let console = settings.console || file.is_none();
    let (file_layer, worker) = match file {
        Some(writer) => {
            let (non_blocking, worker) = tracing_appender::non_blocking(writer);
            let layer = tracing_subscriber::fmt::layer()
                .with_writer(non_blocking)
                .with_ansi(false)
                .event_format(ZooKeeperPattern)
                .with_filter(filter());
            (Some(layer), Some(worker))
        }
        None => (None, None),
    };
    let console_layer = console.then(|| {
        use std::io::IsTerminal;
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .with_filter(filter())
    });
    tracing_subscriber::registry()
        .with(file_layer)
        .with(console_layer)
        .init();
    for appender in &settings.unknown_appenders {
        tracing::warn!(
            appender,
            "zookeeper.root.logger: no such appender here (CONSOLE and ROLLINGFILE are)"
        );
    }
    match problem {
        Some(e) => Err(e),
        None => Ok(LogGuard { _worker: worker }),
    }
}

/// `%d{ISO8601} [myid:%X{myid}] - %-5p [%t:%C{1}@%L] - %m%n`.
pub struct ZooKeeperPattern;

impl<S, N> FormatEvent<S, N> for ZooKeeperPattern
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let now = chrono::Local::now();
        let thread = std::thread::current();
        let myid = MYID.get().map(u64::to_string).unwrap_or_default();
        write!(
            writer,
            "{} [myid:{myid}] - {:<5} [{}:{}@{}] - ",
            now.format("%Y-%m-%d %H:%M:%S,%3f"),
            meta.level().as_str(),
            thread.name().unwrap_or("unnamed"),
            meta.target(),
            meta.line().unwrap_or(0),
        )?;
        ctx.format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn props(pairs: &[(&'static str, &'static str)]) -> SystemProperties {
        SystemProperties::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn stderr_is_the_default() {
        let s = LogSettings::from_properties(&props(&[])).unwrap();
        assert_eq!(s.level, "info");
        assert!(s.console);
        assert_eq!(s.file, None);
    }

    #[test]
    fn the_scripts_rollingfile_choice_names_the_file() {
        let s = LogSettings::from_properties(&props(&[
            ("zookeeper.root.logger", "WARN,ROLLINGFILE,TRACEFILE"),
            ("zookeeper.log.dir", "/var/log/zk"),
            ("zookeeper.log.file", "zookeeper-zk-server-h1.log"),
        ]))
        .unwrap();
        assert_eq!(s.level, "warn");
        assert!(!s.console);
        assert_eq!(s.unknown_appenders, ["TRACEFILE"]);
        assert_eq!(
            s.file,
            Some(RollingFile {
                path: PathBuf::from("/var/log/zk/zookeeper-zk-server-h1.log"),
                max_file_size: 10 * 1024 * 1024,
                max_backup_index: 10,
            })
        );
    }

    #[test]
    fn sizes_and_bad_values() {
        assert_eq!(parse_file_size("10MB"), Some(10 << 20));
        assert_eq!(parse_file_size(" 256 mb "), Some(256 << 20));
        assert_eq!(parse_file_size("1GB"), Some(1 << 30));
        assert_eq!(parse_file_size("512KB"), Some(512 << 10));
        assert_eq!(parse_file_size("4096"), Some(4096));
        assert_eq!(parse_file_size("0"), None);
        assert_eq!(parse_file_size("10TB"), None);
        assert_eq!(parse_file_size("MB"), None);
        for bad in [
            ("zookeeper.root.logger", "LOUD,CONSOLE"),
            ("zookeeper.log.maxfilesize", "big"),
            ("zookeeper.log.maxbackupindex", "-1"),
        ] {
            let mut p = vec![("zookeeper.root.logger", "INFO,ROLLINGFILE")];
            p.retain(|(k, _)| *k != bad.0);
            p.push(bad);
            assert!(LogSettings::from_properties(&props(&p)).is_err(), "{bad:?}");
        }
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("fk-logging-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn rolls_by_size_keeping_max_backup_index_files_newest_first() {
        let dir = scratch("roll");
        let file = RollingFile {
            path: dir.join("sub").join("zookeeper.log"),
            max_file_size: 100,
            max_backup_index: 3,
        };
        let mut w = rolling_writer(&file).unwrap();
        // 40-byte lines, each one write as the appender thread writes an event: a file
        // takes three (past 100 bytes), then the next line rolls it
        for i in 0..30 {
            w.write_all(format!("{i:>39}\n").as_bytes()).unwrap();
        }
        w.flush().unwrap();
        let sub = dir.join("sub");
        assert_eq!(
            names(&sub),
            [
                "zookeeper.log",
                "zookeeper.log.1",
                "zookeeper.log.2",
                "zookeeper.log.3"
            ]
        );
        let read = |n: &str| std::fs::read_to_string(sub.join(n)).unwrap();
        let first = |n: &str| read(n).lines().next().unwrap().trim().to_owned();
        // every line kept whole, the newest in the live file, older ones in higher indexes
        assert_eq!(first("zookeeper.log"), "27");
        assert_eq!(first("zookeeper.log.1"), "24");
        assert_eq!(first("zookeeper.log.3"), "18");
        assert_eq!(read("zookeeper.log.1").len(), 120);
        drop(w);
        // a restart appends to the live file and goes on rolling from there
        let mut w = rolling_writer(&file).unwrap();
        w.write_all(format!("{:>39}\n", "again").as_bytes())
            .unwrap();
        w.flush().unwrap();
        assert_eq!(first("zookeeper.log"), "again");
        assert_eq!(first("zookeeper.log.1"), "27");
        assert_eq!(names(&sub).len(), 4);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn file_lines_follow_the_shipped_pattern() {
        use std::sync::{Arc, Mutex};
        #[derive(Clone, Default)]
        struct Buf(Arc<Mutex<Vec<u8>>>);
        impl Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buf = Buf::default();
        let sink = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || sink.clone())
            .with_ansi(false)
            .event_format(ZooKeeperPattern)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(
                zxid = "0x5",
                "Expiring session 0x1, timeout of 4000ms exceeded"
            );
        });
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let re = regex::Regex::new(
            r#"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} \[myid:\d*\] - WARN  \[.+:ferrokeeper::logging::tests@\d+\] - Expiring session 0x1, timeout of 4000ms exceeded zxid="0x5"\n$"#,
        )
        .unwrap();
        assert!(re.is_match(&text), "{text:?}");
    }

    #[test]
    fn an_unwritable_log_dir_is_an_error_not_a_panic() {
        let dir = scratch("bad");
        std::fs::create_dir_all(&dir).unwrap();
        let blocker = dir.join("not-a-dir");
        std::fs::write(&blocker, b"x").unwrap();
        let file = RollingFile {
            path: blocker.join("zookeeper.log"),
            max_file_size: 100,
            max_backup_index: 1,
        };
        assert!(matches!(rolling_writer(&file), Err(LogError::File { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
