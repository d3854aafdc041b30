//! What the mixed-ensemble reconfig tests share: a node's `/zookeeper/config` through kazoo,
//! a reconfig through kazoo, and the check that every node holds the same config node and
//! dynamic file.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::free_port;
use super::realzk::{Background, Mixed};

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

/// The reconfig removing the leader `old`, sent through it; the new config's text (repr'd).
/// 3.8's leader may close its clients' connections before the reply is written (a race in
/// ZooKeeper itself), so on a connection loss the committed config is read through `stay`.
pub async fn leader_leaves(ens: &Mixed, old: usize, stay: usize) -> String {
    ens.kazoo(
        old,
        &format!(
            "import time\nfrom kazoo.exceptions import ConnectionLoss, KazooException\n\
             try:\n\
             \x20   d, st = zk.reconfig(joining=None, leaving='{old}', new_members=None)\n\
             except ConnectionLoss:\n\
             \x20   other = KazooClient(hosts='{addr}', timeout=10)\n\
             \x20   other.start(timeout=30)\n\
             \x20   deadline = time.time() + 30\n\
             \x20   while True:\n\
             \x20       try:\n\
             \x20           other.sync('/zookeeper/config')\n\
             \x20           d, st = other.get('/zookeeper/config')\n\
             \x20           if b'server.{old}=' not in d:\n\
             \x20               break\n\
             \x20       except KazooException:\n\
             \x20           pass\n\
             \x20       if time.time() > deadline:\n\
             \x20           raise\n\
             \x20       time.sleep(0.2)\n\
             \x20   other.stop()\n\
             print(repr(d.decode()))",
            addr = ens.client(stay),
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

/// The `server.N=` value of `sid` with `role` and client port `client`.
pub fn line(ens: &Mixed, sid: usize, role: &str, client: u16) -> String {
    let p = ens.ports[sid - 1];
    format!(
        "server.{sid}=127.0.0.1:{}:{}:{role};127.0.0.1:{client}",
        p.quorum, p.election
    )
}

/// A client of the nodes `sids` that writes sequential children of `/load` until told to
/// stop, moving on when its node goes; [`Load::finish`] gives the acknowledged names.
pub struct Load {
    stop: PathBuf,
    /// While this file exists the writer holds its next create (and says so in `paused`).
    pause: PathBuf,
    paused: PathBuf,
    script: Background,
}

impl Load {
    pub async fn start(ens: &Mixed, sids: &[usize]) -> Load {
        ens.kazoo(sids[0], "zk.ensure_path('/load')").await;
        let tag = free_port();
        let stop = ens.root.join(format!("stop-load-{tag}"));
        let pause = ens.root.join(format!("pause-load-{tag}"));
        let paused = ens.root.join(format!("paused-load-{tag}"));
        let hosts: Vec<String> = sids
            .iter()
            .map(|&s| format!("127.0.0.1:{}", ens.ports[s - 1].client))
            .collect();
        let script = ens.kazoo_background(
            sids[0],
            &format!(
                "import os, time\nfrom kazoo.exceptions import KazooException\n\
                 w = KazooClient(hosts='{}', timeout=10)\nw.start(timeout=30)\n\
                 acked = []\nfailed = 0\nend = time.time() + 150\n\
                 while not os.path.exists('{}') and time.time() < end:\n\
                 \x20   if os.path.exists('{}'):\n\
                 \x20       open('{}', 'w').close()\n\
                 \x20       time.sleep(0.05)\n\
                 \x20       continue\n\
                 \x20   try:\n\
                 \x20       acked.append(w.create('/load/n', b'x', sequence=True))\n\
                 \x20   except KazooException:\n\
                 \x20       failed += 1\n\
                 \x20       time.sleep(0.2)\n\
                 \x20   time.sleep(0.02)\n\
                 w.stop()\nprint(failed, ' '.join(p.rsplit('/', 1)[1] for p in acked))",
                hosts.join(","),
                stop.display(),
                pause.display(),
                paused.display()
            ),
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        Load {
            stop,
            pause,
            paused,
            script,
        }
    }

    /// Holds the writer (at most 20 s to see it hold): no write of its in flight.
    pub async fn pause(&self) {
        std::fs::write(&self.pause, b"").unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.paused.exists() {
            assert!(Instant::now() < deadline, "the writer did not pause");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn resume(&self) {
        std::fs::remove_file(&self.pause).unwrap();
    }

    /// Stops the writer; every acknowledged create must be there through `check`, and at
    /// least `min` were acknowledged.
    pub async fn finish(self, ens: &Mixed, check: usize, min: usize) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        std::fs::write(&self.stop, b"").unwrap();
        let summary = self.script.finish().await;
        let (failed, names) = summary
            .trim()
            .split_once(' ')
            .unwrap_or((summary.trim(), ""));
        let acked: BTreeSet<String> = names.split_whitespace().map(str::to_owned).collect();
        assert!(
            acked.len() >= min,
            "only {} writes acknowledged ({failed} failed)",
            acked.len()
        );
        let present = load_children(ens, check).await;
        let lost: Vec<&String> = acked.difference(&present).collect();
        assert!(lost.is_empty(), "acknowledged creates lost: {lost:?}");
        println!("load: {} acknowledged, {failed} failed", acked.len());
    }
}

/// A create through `via`, read back through `check`.
pub async fn write_through(ens: &Mixed, via: usize, check: usize, path: &str) {
    ens.kazoo(via, &format!("zk.create('{path}', b'{via}')"))
        .await;
    let out = ens
        .kazoo(
            check,
            &format!("zk.sync('{path}')\nprint(zk.get('{path}')[0].decode())"),
        )
        .await;
    assert_eq!(out.trim(), via.to_string(), "{path} through {check}");
}

/// Waits (at most 30 s) until nothing accepts connections on `addr`.
pub async fn wait_refused(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(addr).await.is_ok() {
        assert!(
            Instant::now() < deadline,
            "{addr} still accepts connections"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
