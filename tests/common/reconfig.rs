//! What the mixed-ensemble reconfig tests share: a node's `/zookeeper/config` through kazoo,
//! a reconfig through kazoo, and the check that every node holds the same config node and
//! dynamic file.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use super::realzk::Mixed;

/// `/zookeeper/config` through `sid` after a sync: data and the Stat fields a reconfig sets.
pub async fn config_node(ens: &Mixed, sid: usize) -> String {
    ens.kazoo(
        sid,
        "zk.sync('/zookeeper/config')\nd, st = zk.get('/zookeeper/config')\n\
         print(repr(d.decode()), st.czxid, st.mzxid, st.version, st.dataLength, st.pzxid)",
    )
    .await
    .trim()
    .to_owned()
}

/// The config version (hex) of a `config_node` answer.
pub fn version_of(node: &str) -> String {
    let at = node.rfind("version=").expect("version line") + "version=".len();
    node[at..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect()
}

/// A reconfig through `sid` (skipACL: no super user needed); the new config's text as the
/// reply carries it (repr'd).
pub async fn reconfig(ens: &Mixed, sid: usize, joining: &str, leaving: &str) -> String {
    let arg = |s: &str| {
        if s.is_empty() {
            "None".to_owned()
        } else {
            format!("'{s}'")
        }
    };
    ens.kazoo(
        sid,
        &format!(
            "d, st = zk.reconfig(joining={}, leaving={}, new_members=None)\nprint(repr(d.decode()))",
            arg(joining),
            arg(leaving)
        ),
    )
    .await
    .trim()
    .to_owned()
}

/// Waits until every node in `sids` shows the config `text` (a reply's, repr'd) in
/// `/zookeeper/config`, then compares the nodes' node Stat and dynamic config files.
pub async fn same_config(ens: &Mixed, sids: &[usize], text: &str) {
    let version = version_of(text);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut nodes = Vec::new();
    for &sid in sids {
        loop {
            let node = config_node(ens, sid).await;
            if node.starts_with(text) {
                nodes.push((sid, node));
                break;
            }
            assert!(
                Instant::now() < deadline,
                "server {sid}'s /zookeeper/config is not the reply's\nreply {text}\nnode  {node}"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
    for (sid, node) in &nodes[1..] {
        assert_eq!(
            node, &nodes[0].1,
            "/zookeeper/config of {sid} vs {}",
            nodes[0].0
        );
    }
    let name = format!("zoo.cfg.dynamic.{version}");
    let files: Vec<(usize, String)> = sids
        .iter()
        .map(|&sid| {
            let text = std::fs::read_to_string(ens.dir(sid).join(&name))
                .unwrap_or_else(|e| panic!("server {sid}: {name}: {e}"));
            (sid, text)
        })
        .collect();
    for (sid, f) in &files[1..] {
        assert_eq!(f, &files[0].1, "{name} of {sid} vs {}", files[0].0);
    }
}

/// The sorted children of `/load` through `sid`.
pub async fn load_children(ens: &Mixed, sid: usize) -> BTreeSet<String> {
    let out = ens
        .kazoo(
            sid,
            "zk.sync('/load')\nprint(' '.join(zk.get_children('/load')))",
        )
        .await;
    out.split_whitespace().map(str::to_owned).collect()
}
