//! `ferrokeeper snapshot-compare`: 3.8's `SnapshotComparer` (`zkSnapshotComparer.sh`): two
//! snapshots compared depth by depth, printing the subtrees whose size or descendant count
//! differ by more than the thresholds; `-i` walks the trees interactively.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use super::cli::{self, OptSpec};
use super::{java_file_path, uncaught, Console, EXECUTION_FINISHED, INVALID_INVOCATION};
use crate::persist::snapshot;
use crate::tree::DataTree;

const OPTIONS: [OptSpec; 6] = [
    OptSpec::value("l", "left", true),
    OptSpec::value("r", "right", true),
    OptSpec::value("b", "bytes", true),
    OptSpec::value("n", "nodes", true),
    OptSpec::flag("d", "debug"),
    OptSpec::flag("i", "interactive"),
];

const HELP: &str = "\
usage: java -cp <classPath> org.apache.zookeeper.server.SnapshotComparer
 -b,--bytes <BYTETHRESHOLD>   (Required) The node data delta size threshold, in bytes, for printing the node.
 -d,--debug                   Use debug output.
 -i,--interactive             Enter interactive mode.
 -l,--left <LEFT>             (Required) The left snapshot file.
 -n,--nodes <NODETHRESHOLD>   (Required) The descendant node delta size threshold, in nodes, for printing the node.
 -r,--right <RIGHT>           (Required) The right snapshot file.
";

pub(crate) fn main(args: &[String], con: &mut Console<'_>) -> u8 {
    let parsed = match cli::parse(&OPTIONS, args) {
        Ok(p) => p,
        Err(msg) => {
            con.err(&format!("{msg}\n"));
            con.out(HELP);
            return INVALID_INVOCATION;
        }
    };
    let value = |k: &str| parsed.value(k).unwrap_or_default().to_string();
    let (left, right) = (java_file_path(&value("l")), java_file_path(&value("r")));
    let mut thresholds = [0i64; 2];
    for (slot, key) in thresholds.iter_mut().zip(["b", "n"]) {
        let text = value(key);
        match text.parse::<i32>() {
            Ok(v) => *slot = i64::from(v),
            Err(_) => {
                return uncaught(
                    con,
                    &format!("java.lang.NumberFormatException: For input string: \"{text}\""),
                )
            }
        }
    }
    let limits = Limits {
        bytes: thresholds[0],
        nodes: thresholds[1],
        debug: parsed.has("d"),
        interactive: parsed.has("i"),
    };
    con.out("Successfully parsed options!\n");
    let mut trees = Vec::new();
    for file in [&left, &right] {
        match TreeInfo::load(Path::new(file), con) {
            Ok(t) => trees.push(t),
            Err(code) => return code,
        }
    }
    let [mut left, mut right] = match <[TreeInfo; 2]>::try_from(trees) {
        Ok(t) => t,
        Err(_) => return EXECUTION_FINISHED,
    };
    con.out(&format!("{}\n", left.summary()));
    con.out(&format!("{}\n", right.summary()));
    compare_trees(&mut left, &mut right, limits, con)
}

#[derive(Clone, Copy)]
struct Limits {
    bytes: i64,
    nodes: i64,
    debug: bool,
    interactive: bool,
}

/// `TreeInfo.TreeNode`: a znode's own size and its subtree's totals.
struct Node {
    label: String,
    descendant_size: i64,
    descendant_count: i64,
    children: Vec<usize>,
}

/// `TreeInfo`: every node, by depth (1-based in the Java tool, the root alone at depth 1).
struct TreeInfo {
    nodes: Vec<Node>,
    at_depth: Vec<Vec<usize>>,
    by_label: HashMap<String, usize>,
    root: usize,
}

impl TreeInfo {
    fn load(file: &Path, con: &mut Console<'_>) -> Result<TreeInfo, u8> {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Err(e) = std::fs::File::open(file) {
            let why = match e.kind() {
                std::io::ErrorKind::NotFound => "No such file or directory",
                std::io::ErrorKind::PermissionDenied => "Permission denied",
                _ if file.is_dir() => "Is a directory",
                _ => "I/O error",
            };
            return Err(uncaught(
                con,
                &format!("java.io.FileNotFoundException: {} ({why})", file.display()),
            ));
        }
        let started = Instant::now();
        let contents = match snapshot::read_snapshot_contents(file) {
            Ok(c) => c,
            Err(e) => return Err(uncaught(con, &format!("java.io.IOException: {e}"))),
        };
        con.out(&format!(
            "Deserialized snapshot in {name} in {:.6} seconds\n",
            started.elapsed().as_secs_f64()
        ));
        let started = Instant::now();
        let info = TreeInfo::build(&contents.tree);
        con.out(&format!(
            "Processed data tree in {:.6} seconds\n",
            started.elapsed().as_secs_f64()
        ));
        Ok(info)
    }

    fn build(tree: &DataTree) -> TreeInfo {
        let mut info = TreeInfo {
            nodes: Vec::new(),
            at_depth: Vec::new(),
            by_label: HashMap::new(),
            root: 0,
        };
        let root_size = tree.node("").map_or(0, |n| n.data_len());
        info.root = info.populate(tree, String::new(), root_size, 1);
        info
    }

    /// `populateChildren`, registering each node after its children (post-order).
    fn populate(&mut self, tree: &DataTree, label: String, size: usize, depth: usize) -> usize {
        // explicit stack: (label, own size, depth, children done so far, child labels left)
        struct Frame {
            label: String,
            size: i64,
            depth: usize,
            done: Vec<usize>,
            todo: Vec<(String, usize)>,
        }
        let frame = |tree: &DataTree, label: String, size: i64, depth: usize| {
            let mut todo: Vec<(String, usize)> = tree
                .node(&label)
                .map(|n| tree.children_of(n))
                .unwrap_or_default()
                .into_iter()
                .map(|c| {
                    let p = format!("{label}/{c}");
                    let s = tree.node(&p).map_or(0, |n| n.data_len());
                    (p, s)
                })
                .collect();
            todo.reverse();
            Frame {
                label,
                size,
                depth,
                done: Vec::new(),
                todo,
            }
        };
        let size = i64::try_from(size).unwrap_or(i64::MAX);
        let mut stack = vec![frame(tree, label, size, depth)];
        loop {
            let Some(top) = stack.last_mut() else {
                return self.root;
            };
            if let Some((child, child_size)) = top.todo.pop() {
                let d = top.depth + 1;
                let child_size = i64::try_from(child_size).unwrap_or(i64::MAX);
                stack.push(frame(tree, child, child_size, d));
                continue;
            }
            let Some(f) = stack.pop() else {
                return self.root;
            };
            let mut descendant_size = f.size;
            let mut descendant_count = f.done.len() as i64;
            for &c in &f.done {
                descendant_size += self.nodes[c].descendant_size;
                descendant_count += self.nodes[c].descendant_count;
            }
            let id = self.nodes.len();
            self.nodes.push(Node {
                label: f.label.clone(),
                descendant_size,
                descendant_count,
                children: f.done,
            });
            while self.at_depth.len() < f.depth {
                self.at_depth.push(Vec::new());
            }
            self.at_depth[f.depth - 1].push(id);
            self.by_label.insert(f.label, id);
            match stack.last_mut() {
                Some(parent) => parent.done.push(id),
                None => return id,
            }
        }
    }

    /// `TreeInfo#toString`.
    fn summary(&self) -> String {
        let mut s = format!("Node count: {}\n", self.nodes.len());
        s.push_str(&format!(
            "Total size: {}\n",
            self.nodes[self.root].descendant_size
        ));
        s.push_str(&format!("Max depth: {}\n", self.at_depth.len()));
        for (i, level) in self.at_depth.iter().enumerate() {
            s.push_str(&format!("Count of nodes at depth {i}: {}\n", level.len()));
        }
        s
    }
}

fn threshold_info(l: Limits, con: &mut Console<'_>) {
    con.out(&format!(
        "Printing analysis for nodes difference larger than {} bytes or node count difference larger than {}.\n",
        l.bytes, l.nodes
    ));
}

fn compare_trees(
    left: &mut TreeInfo,
    right: &mut TreeInfo,
    l: Limits,
    con: &mut Console<'_>,
) -> u8 {
    let max_depth = left.at_depth.len().max(right.at_depth.len());
    if !l.interactive {
        threshold_info(l, con);
        for depth in 0..max_depth {
            con.out(&format!("Analysis for depth {depth}\n"));
            compare_line(left, right, depth, l, con);
        }
    } else {
        let mut current = 0usize;
        while current < max_depth {
            con.out(&format!("Current depth is {current}\n"));
            con.out("- Press enter to move to print current depth layer;\n- Type a number to jump to and print all nodes at a given depth;\n- Enter an ABSOLUTE path to print the immediate subtree of a node. Path must start with '/'.\n");
            con.flush();
            let Some(input) = con.next_line() else {
                return uncaught(con, "java.util.NoSuchElementException: No line found");
            };
            threshold_info(l, con);
            if input.is_empty() {
                con.out(&format!("Analysis for depth {current}\n"));
                compare_line(left, right, current, l, con);
                current += 1;
            } else if input.starts_with('/') {
                con.out(&format!("Analysis for node {input}\n"));
                compare_subtree(left, right, &input, l, con);
            } else {
                let last = max_depth as i64 - 1;
                match input.parse::<i32>() {
                    Ok(d) if d < 0 || i64::from(d) > last => {
                        con.out(&format!("Depth must be in range [0, {last}]\n"));
                        continue;
                    }
                    Ok(d) => {
                        current = usize::try_from(d).unwrap_or(0);
                        con.out(&format!("Analysis for depth {current}\n"));
                        compare_line(left, right, current, l, con);
                    }
                    Err(_) => con.out(&format!(
                        "Input {input} is not valid. Depth must be in range [0, {last}]. Path must be an absolute path which starts with '/'.\n"
                    )),
                }
            }
            con.out("\n");
        }
    }
    con.out("All layers compared.\n");
    EXECUTION_FINISHED
}

fn compare_subtree(
    left: &TreeInfo,
    right: &TreeInfo,
    path: &str,
    l: Limits,
    con: &mut Console<'_>,
) {
    let l_root = left.by_label.get(path);
    let r_root = right.by_label.get(path);
    if l_root.is_none() && r_root.is_none() {
        con.out(&format!(
            "Path {path} is neither found in left tree nor right tree.\n"
        ));
        return;
    }
    let mut l_list = l_root
        .map(|&i| left.nodes[i].children.clone())
        .unwrap_or_default();
    let mut r_list = r_root
        .map(|&i| right.nodes[i].children.clone())
        .unwrap_or_default();
    compare_nodes(left, right, &mut l_list, &mut r_list, l, con);
}

fn compare_line(
    left: &mut TreeInfo,
    right: &mut TreeInfo,
    depth: usize,
    l: Limits,
    con: &mut Console<'_>,
) {
    let mut l_list = left.at_depth.get(depth).cloned().unwrap_or_default();
    let mut r_list = right.at_depth.get(depth).cloned().unwrap_or_default();
    compare_nodes(left, right, &mut l_list, &mut r_list, l, con);
}

/// `String#compareTo`: UTF-16 code unit order.
fn java_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

fn compare_nodes(
    left: &TreeInfo,
    right: &TreeInfo,
    l_list: &mut [usize],
    r_list: &mut [usize],
    l: Limits,
    con: &mut Console<'_>,
) {
    l_list.sort_by(|a, b| java_cmp(&left.nodes[*a].label, &left.nodes[*b].label));
    r_list.sort_by(|a, b| java_cmp(&right.nodes[*a].label, &right.nodes[*b].label));
    let (mut li, mut ri) = (0, 0);
    while li < l_list.len() || ri < r_list.len() {
        let ln = l_list.get(li).map(|&i| &left.nodes[i]);
        let rn = r_list.get(ri).map(|&i| &right.nodes[i]);
        match (ln, rn) {
            (Some(a), Some(b)) => {
                if l.debug {
                    con.out(&format!("Comparing {} to {}\n", a.label, b.label));
                }
                match java_cmp(&a.label, &b.label) {
                    std::cmp::Ordering::Less => {
                        if l.debug {
                            con.out("left is less\n");
                        }
                        print_one_side(a, "left", l, con);
                        li += 1;
                    }
                    std::cmp::Ordering::Greater => {
                        if l.debug {
                            con.out("right is less\n");
                        }
                        print_one_side(b, "right", l, con);
                        ri += 1;
                    }
                    std::cmp::Ordering::Equal => {
                        if l.debug {
                            con.out("same\n");
                        }
                        print_both(a, b, l, con);
                        li += 1;
                        ri += 1;
                    }
                }
            }
            (Some(a), None) => {
                print_one_side(a, "left", l, con);
                li += 1;
            }
            (None, Some(b)) => {
                print_one_side(b, "right", l, con);
                ri += 1;
            }
            (None, None) => break,
        }
    }
}

fn print_one_side(n: &Node, side: &str, l: Limits, con: &mut Console<'_>) {
    if n.descendant_size > l.bytes || n.descendant_count > l.nodes {
        con.out(&format!(
            "Node {} found only in {side} tree. Descendant size: {}. Descendant count: {}\n",
            n.label, n.descendant_size, n.descendant_count
        ));
    } else if l.debug || l.interactive {
        con.out(&format!(
            "Filtered {side} node {} of size {}\n",
            n.label, n.descendant_size
        ));
    }
}

fn print_both(a: &Node, b: &Node, l: Limits, con: &mut Console<'_>) {
    let size_delta = b.descendant_size - a.descendant_size;
    let count_delta = b.descendant_count - a.descendant_count;
    if size_delta.abs() > l.bytes || count_delta.abs() > l.nodes {
        con.out(&format!(
            "Node {} found in both trees. Delta: {size_delta} bytes, {count_delta} descendants\n",
            a.label
        ));
    } else if l.debug || l.interactive {
        con.out(&format!(
            "Filtered node {} of left size {}, right size {}\n",
            a.label, a.descendant_size, b.descendant_size
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::test_console::run;

    #[test]
    fn missing_options_print_usage_and_exit_2() {
        let (code, out, err) = run("snapshot-compare", &["-l", "a"], "");
        assert_eq!(code, Some(2));
        assert_eq!(err, "Missing required options: r, b, n\n");
        assert_eq!(out, HELP);
    }

    #[test]
    fn labels_sort_like_java_strings() {
        // UTF-16 order puts U+FFFD after a supplementary character, unlike UTF-8 order
        assert_eq!(
            java_cmp("/\u{FFFD}", "/\u{1F600}"),
            std::cmp::Ordering::Greater
        );
        assert_eq!(java_cmp("/a", "/a/b"), std::cmp::Ordering::Less);
    }

    #[test]
    fn a_fresh_tree_has_the_reference_layout() {
        let info = TreeInfo::build(&DataTree::new(true));
        // "", /zookeeper, /zookeeper/{quota,config}: depths 1..3
        assert_eq!(info.summary().lines().next(), Some("Node count: 4"));
        assert_eq!(
            info.at_depth.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![1, 1, 2]
        );
        let zk = &info.nodes[info.by_label["/zookeeper"]];
        assert_eq!(zk.descendant_count, 2);
    }
}
