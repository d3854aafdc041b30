//! `ferrokeeper snapshot`: 3.8's `SnapshotFormatter` (`zkSnapShotToolkit.sh`): every znode with
//! its stat (and data, `-d`), the sessions, the last zxid; or an ncdu JSON tree (`-json`).

use std::collections::HashMap;
use std::path::Path;

use base64::Engine;

use super::{java_absolute_path, uncaught, Console, EXECUTION_FINISHED, INVALID_INVOCATION};
use crate::admin::javafmt::java_date_utc;
use crate::javaorder::{bucket, long_hash, JavaStringSet};
use crate::jute::data::StatPersisted;
use crate::persist::snapshot::{self, SnapshotContents};
use crate::tree::DataNode;

const USAGE: &str = "\
USAGE: SnapshotFormatter [-d|-json] snapshot_file
       -d dump the data for each znode
       -json dump znode info in json format
";

pub(crate) fn main(args: &[String], con: &mut Console<'_>) -> u8 {
    let mut dump_data = false;
    let mut dump_json = false;
    let mut file = None;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "-d" => dump_data = true,
            "-json" => dump_json = true,
            other => {
                file = Some(other.to_string());
                i += 1;
                break;
            }
        }
        i += 1;
    }
    let Some(file) = file.filter(|_| i == args.len()) else {
        con.err(USAGE);
        return INVALID_INVOCATION;
    };
    if let Some(error) = validate_file_input(&file) {
        con.err(&format!("{error}\n"));
        return INVALID_INVOCATION;
    }
    if dump_data && dump_json {
        con.err("Cannot specify both data dump (-d) and json mode (-json) in same call\n");
        return INVALID_INVOCATION;
    }
    let path = Path::new(&file);
    let contents = match snapshot::read_snapshot_contents(path) {
        Ok(c) => c,
        Err(e) => return uncaught(con, &format!("java.io.IOException: {e}")),
    };
    let view = TreeView::new(&contents);
    if dump_json {
        print_json(&view, con, now_ms());
    } else {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let file_zxid = crate::persist::txnlog::zxid_from_name(&name, "snapshot");
        print_details(&view, &contents, dump_data, file_zxid, con);
    }
    EXECUTION_FINISHED
}

/// `ZKUtil#validateFileInput`.
pub(crate) fn validate_file_input(file: &str) -> Option<String> {
    let abs = java_absolute_path(file);
    let meta = match std::fs::metadata(file) {
        Ok(m) => m,
        Err(_) => return Some(format!("File '{abs}' does not exist.")),
    };
    if meta.is_dir() {
        if std::fs::read_dir(file).is_err() {
            return Some(format!("Read permission is denied on the file '{abs}'"));
        }
        return Some(format!("'{abs}' is a directory. it must be a file."));
    }
    if std::fs::File::open(file).is_err() {
        return Some(format!("Read permission is denied on the file '{abs}'"));
    }
    None
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The loaded tree with each node's children in the order the Java tool's freshly
/// deserialized `DataTree` iterates them: a `HashSet(8)` filled in file order.
struct TreeView<'a> {
    contents: &'a SnapshotContents,
    children: HashMap<&'a str, JavaStringSet>,
}

impl<'a> TreeView<'a> {
    fn new(contents: &'a SnapshotContents) -> TreeView<'a> {
        let mut children: HashMap<&str, JavaStringSet> = HashMap::new();
        for path in &contents.paths_in_file_order {
            if let Some(slash) = path.rfind('/') {
                children
                    .entry(&path[..slash])
                    .or_insert_with(JavaStringSet::child_set)
                    .insert(&path[slash + 1..]);
            }
        }
        TreeView { contents, children }
    }

    /// A node by the path the Java tool looks it up with ("/" is the root).
    fn node(&self, path: &str) -> Option<&'a DataNode> {
        self.contents.tree.node(path)
    }

    fn children(&self, path: &str) -> Vec<&str> {
        let key = if path == "/" { "" } else { path };
        self.children
            .get(key)
            .map(|s| s.java_order())
            .unwrap_or_default()
    }
}

fn child_path(parent: &str, child: &str) -> String {
    if parent == "/" {
        format!("/{child}")
    } else {
        format!("{parent}/{child}")
    }
}

fn hex(value: i64) -> String {
    // `String.format("%#016x")`: the 0x counts toward the width of 16
    format!("{value:#016x}")
}

fn print_details(
    view: &TreeView<'_>,
    contents: &SnapshotContents,
    dump_data: bool,
    file_zxid: i64,
    con: &mut Console<'_>,
) {
    con.out(&format!(
        "ZNode Details (count={}):\n",
        contents.tree.node_count()
    ));
    let tree_zxid = print_znode(view, "/", dump_data, con);
    con.out("----\n");
    con.out("Session Details (sid, timeout, ephemeralCount):\n");
    for (sid, timeout) in sessions_in_java_order(&contents.sessions) {
        let ephemerals = contents.tree.ephemerals(sid).len();
        con.out(&format!("{}, {timeout}, {ephemerals}\n", hex(sid)));
    }
    con.out(&format!(
        "----\nLast zxid: 0x{:x}\n",
        file_zxid.max(tree_zxid)
    ));
}

/// `printZnode`, depth first; the largest mzxid/pzxid seen.
fn print_znode(view: &TreeView<'_>, root: &str, dump_data: bool, con: &mut Console<'_>) -> i64 {
    let mut zxid = i64::MIN;
    let mut stack = vec![root.to_string()];
    while let Some(path) = stack.pop() {
        con.out("----\n");
        let Some(node) = view.node(&path) else {
            // the Java tool would fail on the missing node; a loaded tree has them all
            continue;
        };
        con.out(&path);
        con.out("\n");
        print_stat(&node.stat, con);
        zxid = zxid.max(node.stat.mzxid.max(node.stat.pzxid));
        if dump_data {
            let data = node
                .data_bytes()
                .map(|d| base64::engine::general_purpose::STANDARD.encode(d))
                .unwrap_or_default();
            con.out(&format!("  data = {data}\n"));
        } else {
            con.out(&format!("  dataLength = {}\n", node.data_len()));
        }
        let kids = view.children(&path);
        for child in kids.iter().rev() {
            stack.push(child_path(&path, child));
        }
    }
    zxid
}

fn print_stat(stat: &StatPersisted, con: &mut Console<'_>) {
    con.out(&format!("  cZxid = {}\n", hex(stat.czxid)));
    con.out(&format!("  ctime = {}\n", java_date_utc(stat.ctime)));
    con.out(&format!("  mZxid = {}\n", hex(stat.mzxid)));
    con.out(&format!("  mtime = {}\n", java_date_utc(stat.mtime)));
    con.out(&format!("  pZxid = {}\n", hex(stat.pzxid)));
    con.out(&format!("  cversion = {}\n", stat.cversion));
    con.out(&format!("  dataVersion = {}\n", stat.version));
    con.out(&format!("  aclVersion = {}\n", stat.aversion));
    con.out(&format!(
        "  ephemeralOwner = {}\n",
        hex(stat.ephemeral_owner)
    ));
}

/// A `new HashMap<Long, Integer>()` filled in file order, iterated.
fn sessions_in_java_order(sessions: &[(i64, i32)]) -> Vec<(i64, i32)> {
    let mut cap = 16usize;
    while sessions.len() > cap / 4 * 3 {
        cap *= 2;
    }
    let mut v: Vec<(usize, usize, i64, i32)> = sessions
        .iter()
        .enumerate()
        .map(|(i, (sid, to))| (bucket(long_hash(*sid), cap), i, *sid, *to))
        .collect();
    v.sort_unstable();
    v.into_iter().map(|(_, _, sid, to)| (sid, to)).collect()
}

/// Jackson's `JsonStringEncoder#quoteAsString`.
fn json_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// `printSnapshotJson`: ncdu's export format, inode numbers from 1001.
fn print_json(view: &TreeView<'_>, con: &mut Console<'_>, timestamp: i64) {
    con.out(&format!(
        "[1,0,{{\"progname\":\"SnapshotFormatter.java\",\"progver\":\"0.01\",\"timestamp\":{timestamp}}}"
    ));
    let mut inode = 1000u64;
    // (path, closing bracket due after its subtree)
    enum Step {
        Node(String),
        Close,
    }
    let mut stack = vec![Step::Node("/".to_string())];
    while let Some(step) = stack.pop() {
        let path = match step {
            Step::Close => {
                con.out("]");
                continue;
            }
            Step::Node(p) => p,
        };
        let Some(node) = view.node(&path) else {
            con.err(&format!("DataTree Node for {path} doesn't exist\n"));
            continue;
        };
        let name = if path == "/" {
            "/"
        } else {
            path.rsplit('/').next().unwrap_or_default()
        };
        con.out(",");
        inode += 1;
        let len = node.data_len();
        let entry = format!(
            "{{\"name\":\"{}\",\"asize\":{len},\"dsize\":{len},\"dev\":0,\"ino\":{inode}}}",
            json_quote(name)
        );
        let kids = view.children(&path);
        if kids.is_empty() {
            con.out(&entry);
        } else {
            con.out(&format!("[{entry}"));
            stack.push(Step::Close);
            for child in kids.iter().rev() {
                stack.push(Step::Node(child_path(&path, child)));
            }
        }
    }
    con.out("]");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::test_console::run;

    #[test]
    fn hex_like_java_format() {
        assert_eq!(hex(0), "0x00000000000000");
        assert_eq!(hex(0x1_0000_0005), "0x00000100000005");
        assert_eq!(hex(-1), "0xffffffffffffffff");
    }

    #[test]
    fn sessions_iterate_like_a_java_hash_map() {
        // Long#hashCode of small ids is the id: buckets 1, 2, 3 of a 16-slot table
        let v = sessions_in_java_order(&[(3, 1), (0x11, 2), (1, 3)]);
        assert_eq!(v, vec![(0x11, 2), (1, 3), (3, 1)]);
    }

    #[test]
    fn json_strings_like_jackson() {
        assert_eq!(json_quote("a\"b\\c\n\u{1}é"), "a\\\"b\\\\c\\n\\u0001é");
    }

    #[test]
    fn usage_and_bad_files_exit_2() {
        let (code, out, err) = run("snapshot", &[], "");
        assert_eq!((code, out.as_str()), (Some(2), ""));
        assert_eq!(err, USAGE);
        let (code, _, err) = run("snapshot", &["/no/such/snapshot.1"], "");
        assert_eq!(code, Some(2));
        assert_eq!(err, "File '/no/such/snapshot.1' does not exist.\n");
        let (code, _, err) = run("snapshot", &["-d", "-json", "/"], "");
        assert_eq!(code, Some(2));
        assert_eq!(err, "'/' is a directory. it must be a file.\n");
        let (code, _, _) = run("snapshot", &["a", "b"], "");
        assert_eq!(code, Some(2));
    }
}
