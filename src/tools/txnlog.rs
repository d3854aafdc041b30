//! `ferrokeeper txnlog`: 3.8's `TxnLogToolkit` (`zkTxnLogToolkit.sh`): dump a log file one txn
//! a line, repair CRC errors into `<file>.fixed` (`-r`), chop it at a zxid (`-c -z`).

use std::io::BufRead;
use std::path::{Path, PathBuf};

use super::cli::{self, OptSpec};
use super::javatext::{
    acl_list_to_string, date_short_long, java_utf8, op_to_string, record_to_string,
};
use super::{
    java_file_path, uncaught, Console, EXECUTION_FINISHED, INVALID_INVOCATION, UNEXPECTED_ERROR,
};
use crate::jute::codes::OpCode;
use crate::jute::prim::Jute;
use crate::jute::txn::{MultiTxn, TxnBody, TxnHeader};
use crate::persist::txnlog::{
    txn_checksum, TxnFileError, TxnFileHeader, TxnFileItem, TxnFileReader, TxnFileWriter,
    DEFAULT_MAX_TXN_LEN,
};

const OPTIONS: [OptSpec; 7] = [
    OptSpec::flag("h", "help"),
    OptSpec::flag("r", "recover"),
    OptSpec::flag("v", "verbose"),
    OptSpec::flag("d", "dump"),
    OptSpec::flag("y", "yes"),
    OptSpec::flag("c", "chop"),
    OptSpec::value("z", "zxid", false),
];

/// `HelpFormatter#printHelp(120, ...)` of the Java tool's options.
const HELP: &str = "\
usage: TxnLogToolkit [-dhrvc] <txn_log_file_name> (-z <zxid>)
 -c,--chop         Chop mode. Chop txn file to a zxid.
 -d,--dump         Dump mode. Dump all entries of the log file with printing the content of a nodepath (default)
 -h,--help         Print help message
 -r,--recover      Recovery mode. Re-calculate CRC for broken entries.
 -v,--verbose      Be verbose in recovery mode: print all entries, not just fixed ones.
 -y,--yes          Non-interactive mode: repair all CRC errors without asking
 -z,--zxid <arg>   Used with chop. Zxid to which to chop.
";

/// How a run ended when it did not end normally: the Java tool's exit code, after its
/// message was printed.
struct Exit(u8);

pub(crate) fn main(args: &[String], con: &mut Console<'_>) -> u8 {
    let parsed = match cli::parse(&OPTIONS, args) {
        Ok(p) => p,
        Err(msg) => {
            con.err(&format!("{msg}\n\n"));
            con.out(HELP);
            return UNEXPECTED_ERROR;
        }
    };
    if parsed.has("h") {
        con.out(HELP);
        return EXECUTION_FINISHED;
    }
    let Some(file) = parsed.args.first() else {
        con.out(HELP);
        return UNEXPECTED_ERROR;
    };
    let path = PathBuf::from(java_file_path(file));
    if let (true, Some(zxid)) = (parsed.has("c"), parsed.value("z")) {
        if let Err(Exit(code)) = readable(&path, con) {
            return code;
        }
        let Some(zxid) = java_long_decode(zxid) else {
            return uncaught(
                con,
                &format!("java.lang.NumberFormatException: For input string: \"{zxid}\""),
            );
        };
        if zxid < 0 {
            // the Java tool takes a negative zxid for dump mode with no file opened
            return uncaught(con, "java.lang.NullPointerException");
        }
        if let Err(msg) = chop(&path, zxid, con) {
            con.out(&format!("Got exception: {msg}\n"));
        }
        return EXECUTION_FINISHED;
    }
    let mode = Mode {
        recover: parsed.has("r"),
        verbose: parsed.has("v"),
        force: parsed.has("y"),
    };
    match dump(&path, mode, con) {
        Ok(()) => EXECUTION_FINISHED,
        Err(Exit(code)) => code,
    }
}

#[derive(Clone, Copy)]
struct Mode {
    recover: bool,
    verbose: bool,
    force: bool,
}

fn readable(path: &Path, con: &mut Console<'_>) -> Result<(), Exit> {
    if std::fs::File::open(path).is_err() {
        con.err(&format!(
            "File doesn't exist or not readable: {}\n",
            path.display()
        ));
        return Err(Exit(UNEXPECTED_ERROR));
    }
    Ok(())
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn dump(path: &Path, mode: Mode, con: &mut Console<'_>) -> Result<(), Exit> {
    readable(path, con)?;
    let fixed_path = PathBuf::from(format!("{}.fixed", path.display()));
    let mut fixed = None;
    if mode.recover {
        if fixed_path.exists() {
            con.err(&format!(
                "Recovery file {} already exists or not writable\n",
                fixed_path.display()
            ));
            return Err(Exit(UNEXPECTED_ERROR));
        }
        match TxnFileWriter::create(&fixed_path, false) {
            Ok(w) => fixed = Some(w),
            Err(e) => {
                return Err(Exit(uncaught(
                    con,
                    &format!("java.io.FileNotFoundException: {e}"),
                )))
            }
        }
    }
    let result = dump_records(path, mode, fixed.as_mut(), con);
    let finished = fixed.map(TxnFileWriter::finish);
    let crc_fixed = result?;
    if let Some(Err(e)) = finished {
        return Err(Exit(uncaught(con, &format!("java.io.IOException: {e}"))));
    }
    if mode.recover {
        con.out(&format!(
            "Recovery file {} has been written with {crc_fixed} fixed CRC error(s)\n",
            fixed_path.display()
        ));
    }
    Ok(())
}

/// The records of `path`, printed (and copied into `fixed`); the number of CRCs repaired.
fn dump_records(
    path: &Path,
    mode: Mode,
    mut fixed: Option<&mut TxnFileWriter>,
    con: &mut Console<'_>,
) -> Result<u64, Exit> {
    let io_exit = |con: &mut Console<'_>, e: &dyn std::fmt::Display| {
        Exit(uncaught(con, &format!("java.io.IOException: {e}")))
    };
    let (mut reader, header) = match TxnFileReader::open(path, DEFAULT_MAX_TXN_LEN) {
        Ok(Some(r)) => r,
        Ok(None) => return Err(Exit(uncaught(con, "java.io.EOFException"))),
        Err(e) => return Err(io_exit(con, &e)),
    };
    if !header.is_txn_log() {
        con.err(&format!("Invalid magic number for {}\n", file_name(path)));
        return Err(Exit(INVALID_INVOCATION));
    }
    con.out(&header_line(&header));
    if let Some(w) = fixed.as_deref_mut() {
        w.write_header(header, true).map_err(|e| io_exit(con, &e))?;
    }
    let mut count = 0u64;
    let mut crc_fixed = 0u64;
    loop {
        let (mut crc, bytes) = match reader.next_txn() {
            Ok(TxnFileItem::Txn { crc, bytes }) => (crc, bytes),
            Ok(TxnFileItem::Eof | TxnFileItem::Empty) => {
                con.out(&format!("EOF reached after {count} txns.\n"));
                return Ok(crc_fixed);
            }
            Err(TxnFileError::NullBuffer) => {
                return Err(Exit(uncaught(con, "java.lang.NullPointerException")))
            }
            Err(e) => return Err(io_exit(con, &e)),
        };
        let actual = txn_checksum(&bytes);
        if crc != actual {
            if !mode.recover {
                print_txn(&bytes, "CRC ERROR", con)?;
            } else if mode.force {
                crc = actual;
                print_txn(&bytes, "CRC FIXED", con)?;
                crc_fixed += 1;
            } else {
                print_txn(&bytes, "CRC ERROR", con)?;
                if ask_for_fix(con)? {
                    crc = actual;
                    crc_fixed += 1;
                }
            }
        }
        if !mode.recover || mode.verbose {
            print_txn(&bytes, "", con)?;
        }
        match reader.end_of_record() {
            Ok(Some(b'B')) => {}
            Ok(Some(_)) => {
                con.err("Last transaction was partial.\n");
                return Err(Exit(UNEXPECTED_ERROR));
            }
            Ok(None) => return Err(Exit(uncaught(con, "java.io.EOFException"))),
            Err(e) => return Err(io_exit(con, &e)),
        }
        if let Some(w) = fixed.as_deref_mut() {
            w.append(crc, &bytes).map_err(|e| io_exit(con, &e))?;
        }
        count += 1;
    }
}

fn header_line(h: &TxnFileHeader) -> String {
    format!(
        "ZooKeeper Transactional Log File with dbid {} txnlog format version {}\n",
        h.dbid, h.version
    )
}

/// `askForFix`: Yes / No / Abort, by the first letter of the next word on stdin.
fn ask_for_fix(con: &mut Console<'_>) -> Result<bool, Exit> {
    loop {
        con.out("Would you like to fix it (Yes/No/Abort) ? ");
        con.flush();
        let Some(word) = con.next_word() else {
            return Err(Exit(uncaught(con, "java.util.NoSuchElementException")));
        };
        match word.chars().next().map(|c| c.to_ascii_uppercase()) {
            Some('Y') => return Ok(true),
            Some('N') => return Ok(false),
            Some('A') => {
                con.err("Recovery aborted.\n");
                return Err(Exit(EXECUTION_FINISHED));
            }
            _ => {}
        }
    }
}

/// `printTxn`: the txn's line, after `prefix - ` when there is a prefix.
fn print_txn(bytes: &[u8], prefix: &str, con: &mut Console<'_>) -> Result<(), Exit> {
    let line = match txn_line(bytes) {
        Ok(l) => l,
        Err(e) => return Err(Exit(uncaught(con, &format!("java.io.IOException: {e}")))),
    };
    if !prefix.trim().is_empty() {
        con.out(&format!("{prefix} - "));
    }
    con.out(&line);
    if !line.ends_with('\n') {
        con.out("\n");
    }
    Ok(())
}

/// One txn as `TxnLogToolkit#printTxn` formats it (without the final newline it adds when
/// the text does not already end with one).
pub(crate) fn txn_line(bytes: &[u8]) -> Result<String, String> {
    let (rest, hdr) = TxnHeader::decode(bytes).map_err(|e| format!("{e:?}"))?;
    let text = if hdr.op == OpCode::MULTI {
        // the sub-txns' records as raw bytes, decoded as text
        let (_, multi) = MultiTxn::decode(rest).map_err(|e| format!("{e:?}"))?;
        let parts: Vec<String> = multi
            .txns
            .iter()
            .map(|t| format!("{}:{}", op_to_string(t.op), java_utf8(&t.data)))
            .collect();
        parts.join(";")
    } else {
        let (_, body) = TxnBody::decode_for(hdr.op, rest)
            .map_err(|_| format!("Unsupported Txn with type={}", hdr.op.0))?;
        body_text(&body)
    };
    Ok(format!(
        "{} session 0x{:x} cxid 0x{:x} zxid 0x{:x} {} {}",
        date_short_long(hdr.time),
        hdr.client_id,
        i64::from(hdr.cxid),
        hdr.zxid,
        op_to_string(hdr.op),
        text
    ))
}

/// `getFormattedTxnStr`.
fn body_text(body: &TxnBody) -> String {
    let data = |d: &Option<bytes::Bytes>| d.as_deref().map(java_utf8).unwrap_or_default();
    match body {
        TxnBody::Create(c) => format!(
            "{},{},{},{},{}",
            c.path,
            data(&c.data),
            acl_list_to_string(&c.acl),
            c.ephemeral,
            c.parent_cversion
        ),
        TxnBody::SetData(s) => format!("{},{},{}", s.path, data(&s.data), s.version),
        TxnBody::CreateContainer(c) => format!(
            "{},{},{},{}",
            c.path,
            data(&c.data),
            acl_list_to_string(&c.acl),
            c.parent_cversion
        ),
        TxnBody::CreateTtl(c) => format!(
            "{},{},{},{},{}",
            c.path,
            data(&c.data),
            acl_list_to_string(&c.acl),
            c.parent_cversion,
            c.ttl
        ),
        other => record_to_string(other),
    }
}

/// `Long.decode`: decimal, `0x`/`0X`/`#` hex or `0` octal, with an optional sign.
fn java_long_decode(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, digits) = if let Some(h) = body.strip_prefix("0x").or(body.strip_prefix("0X")) {
        (16, h)
    } else if let Some(h) = body.strip_prefix('#') {
        (16, h)
    } else if body.len() > 1 && body.starts_with('0') {
        (8, &body[1..])
    } else {
        (10, body)
    };
    if digits.is_empty() || digits.starts_with(['-', '+']) {
        return None;
    }
    let text = if neg {
        format!("-{digits}")
    } else {
        digits.to_string()
    };
    i64::from_str_radix(&text, radix).ok()
}

/// `TxnLogToolkit#chop` / `LogChopper#chop`: copy the txns up to and including `zxid` into
/// `<file>.chopped<zxid>`. `Err` is the message the Java tool prints after "Got exception: ".
fn chop(path: &Path, zxid: i64, con: &mut Console<'_>) -> Result<(), String> {
    let name = file_name(path);
    let target_name = format!("{name}.chopped{zxid}");
    let target = match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(dir) => dir.join(&target_name),
        None => PathBuf::from(&target_name),
    };
    let failed = || format!("Failed to chop {name}");
    let mut out = TxnFileWriter::create(&target, true).map_err(|e| e.to_string())?;
    let chopped = chop_records(path, zxid, &mut out, con);
    out.finish().map_err(|e| e.to_string())?;
    match chopped? {
        true => Ok(()),
        false => Err(failed()),
    }
}

fn chop_records(
    path: &Path,
    zxid: i64,
    out: &mut TxnFileWriter,
    con: &mut Console<'_>,
) -> Result<bool, String> {
    let (mut reader, header) = match TxnFileReader::open(path, DEFAULT_MAX_TXN_LEN) {
        Ok(Some(r)) => r,
        Ok(None) => return Err("null".into()),
        Err(e) => return Err(e.to_string()),
    };
    if !header.is_txn_log() {
        con.err("Invalid magic number in txn log file\n");
        return Ok(false);
    }
    con.out(&header_line(&header));
    out.write_header(header, false).map_err(|e| e.to_string())?;
    let mut count = 0u64;
    let mut has_zxid = false;
    let mut previous: i64 = -1;
    loop {
        let (crc, bytes) = match reader.next_txn() {
            Ok(TxnFileItem::Txn { crc, bytes }) => (crc, bytes),
            Ok(TxnFileItem::Eof | TxnFileItem::Empty) => {
                con.out(&format!("EOF reached after {count} txns.\n"));
                return Ok(false);
            }
            Err(TxnFileError::NullBuffer) => return Err("null".into()),
            Err(e) => return Err(e.to_string()),
        };
        let actual = txn_checksum(&bytes);
        if crc != actual {
            return Err(format!("CRC doesn't match {crc} vs {actual}"));
        }
        let (rest, hdr) = TxnHeader::decode(&bytes).map_err(|e| format!("{e:?}"))?;
        if hdr.op != OpCode::MULTI {
            TxnBody::decode_for(hdr.op, rest)
                .map_err(|_| format!("Unsupported Txn with type={}", hdr.op.0))?;
        }
        match reader.end_of_record() {
            Ok(Some(b'B')) => {}
            Ok(Some(_)) => {
                con.out("Last transaction was partial.\n");
                return Err("Last transaction was partial.".into());
            }
            Ok(None) => return Err("null".into()),
            Err(e) => return Err(e.to_string()),
        }
        let txn_zxid = hdr.zxid;
        if txn_zxid == zxid {
            has_zxid = true;
        }
        if previous != -1 && txn_zxid != previous.wrapping_add(1) {
            let (epoch, counter) = (txn_zxid >> 32, txn_zxid & 0xffff_ffff);
            if epoch == previous >> 32 {
                con.out(&format!(
                    "There is intra-epoch gap between {previous:x} and {txn_zxid:x}\n"
                ));
            } else if counter != 1 {
                con.out(&format!(
                    "There is inter-epoch gap between {previous:x} and {txn_zxid:x}\n"
                ));
            }
        }
        previous = txn_zxid;
        if txn_zxid > zxid {
            if count == 0 || !has_zxid {
                con.out(&format!("This log does not contain zxid {zxid:x}\n"));
                return Ok(false);
            }
            con.out(&format!(
                "Chopping at {zxid:x} new log has {count} records\n"
            ));
            return Ok(true);
        }
        out.append(crc, &bytes).map_err(|e| e.to_string())?;
        count += 1;
    }
}

/// Reads words from stdin for the recovery prompt.
pub(crate) fn read_word(input: &mut dyn BufRead) -> Option<String> {
    let mut word = Vec::new();
    loop {
        let buf = input.fill_buf().ok()?;
        if buf.is_empty() {
            break;
        }
        let mut used = 0;
        let mut done = false;
        for &b in buf {
            used += 1;
            if b.is_ascii_whitespace() {
                if !word.is_empty() {
                    done = true;
                    break;
                }
            } else {
                word.push(b);
            }
        }
        input.consume(used);
        if done {
            break;
        }
    }
    (!word.is_empty()).then(|| String::from_utf8_lossy(&word).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jute::data::{Acl, Id};
    use crate::jute::txn::{CreateTxn, SetDataTxn, Txn, TxnEntry};
    use bytes::Bytes;

    fn entry(op: OpCode, body: TxnBody) -> Vec<u8> {
        TxnEntry {
            header: TxnHeader {
                client_id: 0x1000_0a2b_c3d0_0000,
                cxid: 3,
                zxid: 0x1_0000_0005,
                time: 1_764_760_244_123,
                op,
            },
            body,
            digest: None,
        }
        .to_vec()
    }

    #[test]
    fn lines_like_txn_log_toolkit() {
        let create = entry(
            OpCode::CREATE,
            TxnBody::Create(CreateTxn {
                path: "/a".into(),
                data: Some(Bytes::from_static(b"hello")),
                acl: vec![Acl {
                    perms: 31,
                    id: Id {
                        scheme: "world".into(),
                        id: "anyone".into(),
                    },
                }],
                ephemeral: false,
                parent_cversion: 4,
            }),
        );
        assert_eq!(
            txn_line(&create).ok().as_deref(),
            Some(
                "12/3/25, 11:10:44 AM UTC session 0x10000a2bc3d00000 cxid 0x3 zxid 0x100000005 \
                 create /a,hello,[31,s{'world,'anyone}\n],false,4"
            )
        );
        let set = entry(
            OpCode::SET_DATA,
            TxnBody::SetData(SetDataTxn {
                path: "/a".into(),
                data: None,
                version: 2,
            }),
        );
        assert!(txn_line(&set)
            .unwrap_or_default()
            .ends_with(" setData /a,,2"));
        let mut sub = Vec::new();
        TxnBody::Delete(crate::jute::txn::DeleteTxn { path: "/b".into() }).encode(&mut sub);
        let mut multi = Vec::new();
        TxnHeader {
            client_id: 1,
            cxid: -1,
            zxid: 2,
            time: 0,
            op: OpCode::MULTI,
        }
        .encode(&mut multi);
        MultiTxn {
            txns: vec![Txn {
                op: OpCode::DELETE,
                data: Bytes::from(sub),
            }],
        }
        .encode(&mut multi);
        assert_eq!(
            txn_line(&multi).ok().as_deref(),
            Some(
                "1/1/70, 12:00:00 AM UTC session 0x1 cxid 0xffffffffffffffff zxid 0x2 multi \
                 delete:\0\0\0\u{2}/b"
            )
        );
    }

    #[test]
    fn long_decode_like_java() {
        assert_eq!(java_long_decode("0x1f"), Some(31));
        assert_eq!(java_long_decode("#10"), Some(16));
        assert_eq!(java_long_decode("010"), Some(8));
        assert_eq!(java_long_decode("-5"), Some(-5));
        assert_eq!(java_long_decode("0"), Some(0));
        assert_eq!(java_long_decode("x"), None);
    }

    #[test]
    fn words_from_stdin() {
        let mut input: &[u8] = b"  yes\n n\n";
        assert_eq!(read_word(&mut input).as_deref(), Some("yes"));
        assert_eq!(read_word(&mut input).as_deref(), Some("n"));
        assert_eq!(read_word(&mut input), None);
    }
}
