//! `ferrokeeper purge`: 3.8's `PurgeTxnLog` (`zkCleanup.sh`): keep the newest `count`
//! snapshots and the logs they need, delete the older files, one line per file.

use std::path::{Path, PathBuf};

use super::javatext::date_medium;
use super::{
    java_absolute_path, java_file_path, uncaught, Console, EXECUTION_FINISHED, UNEXPECTED_ERROR,
};
use crate::persist::purge;

const USAGE: &str = "\
Usage:
PurgeTxnLog dataLogDir [snapDir] -n count
\tdataLogDir -- path to the txn log directory
\tsnapDir -- path to the snapshot directory
\tcount -- the number of old snaps/logs you want to keep, value should be greater than or equal to 3
";

const COUNT_ERR_MSG: &str = "count should be greater than or equal to 3";

struct Usage;

pub(crate) fn main(args: &[String], con: &mut Console<'_>) -> u8 {
    match parse(args, con) {
        Ok((log_dir, snap_dir, count)) => run(&log_dir, &snap_dir, count, con),
        Err(Usage) => {
            con.out(USAGE);
            UNEXPECTED_ERROR
        }
    }
}

/// `PurgeTxnLog#main`'s checks, in its order: (dataLogDir, snapDir, count).
fn parse(args: &[String], con: &mut Console<'_>) -> Result<(PathBuf, PathBuf, usize), Usage> {
    if args.len() < 3 || args.len() > 4 {
        return Err(Usage);
    }
    let log_dir = existing(&args[0], con)?;
    let (snap_dir, option, count) = if args.len() == 3 {
        (log_dir.clone(), &args[1], count(&args[2], con)?)
    } else {
        (existing(&args[1], con)?, &args[2], count(&args[3], con)?)
    };
    if option != "-n" {
        return Err(Usage);
    }
    Ok((log_dir, snap_dir, count))
}

fn existing(path: &str, con: &mut Console<'_>) -> Result<PathBuf, Usage> {
    if std::fs::symlink_metadata(path).is_err() && std::fs::metadata(path).is_err() {
        con.err(&format!(
            "Path '{}' does not exist. \n",
            java_absolute_path(path)
        ));
        return Err(Usage);
    }
    Ok(PathBuf::from(java_file_path(path)))
}

fn count(text: &str, con: &mut Console<'_>) -> Result<usize, Usage> {
    match text.parse::<i32>() {
        Ok(n) if n >= 3 => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
        Ok(_) => {
            con.err(&format!("{COUNT_ERR_MSG}\n"));
            Err(Usage)
        }
        Err(_) => {
            con.err(&format!("'{text}' can not be parsed to integer.\n"));
            Err(Usage)
        }
    }
}

fn run(log_dir: &Path, snap_dir: &Path, count: usize, con: &mut Console<'_>) -> u8 {
    let plan = match purge::plan_for_tool(log_dir, snap_dir, count) {
        Ok(p) => p,
        Err(e) => return uncaught(con, &e.to_string()),
    };
    for file in plan {
        con.out(&format!(
            "Removing file: {}\t{}\n",
            date_medium(file.modified_ms),
            file.path.display()
        ));
        if purge::remove(&file.path).is_err() {
            con.err(&format!("Failed to remove {}\n", file.path.display()));
        }
    }
    EXECUTION_FINISHED
}

#[cfg(test)]
mod tests {
    use crate::tools::test_console::run;

    #[test]
    fn usage_errors_like_purge_txn_log() {
        let (code, out, err) = run("purge", &["/tmp"], "");
        assert_eq!(code, Some(1));
        assert!(out.starts_with("Usage:\nPurgeTxnLog dataLogDir [snapDir] -n count\n"));
        assert_eq!(err, "");
        let (code, _, err) = run("purge", &["/tmp", "-n", "2"], "");
        assert_eq!(code, Some(1));
        assert_eq!(err, "count should be greater than or equal to 3\n");
        let (_, _, err) = run("purge", &["/tmp", "-n", "x"], "");
        assert_eq!(err, "'x' can not be parsed to integer.\n");
        let (_, _, err) = run("purge", &["/no/such/dir", "-n", "3"], "");
        assert_eq!(err, "Path '/no/such/dir' does not exist. \n");
        // the count is checked before the option's name
        let (code, _, err) = run("purge", &["/tmp", "-x", "3"], "");
        assert_eq!((code, err.as_str()), (Some(1), ""));
    }
}
