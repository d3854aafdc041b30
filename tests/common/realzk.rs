//! Mixed ensembles on loopback for integration tests: real Apache ZooKeeper 3.8 nodes
//! (`compat-tests/lib/zk-reference`, each stopped by its PID) beside ferrokeeper nodes served
//! in this process exactly as the binary serves them (`server::start` on a zoo.cfg). Every
//! wait is bounded; the directory is removed at the end unless `FK_KEEP_TEST_DIRS` is set
//! (each real node's output is in `<dir>/n<sid>/out.log`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ferrokeeper::server::RunningServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::free_port;

pub const PY: &str = "/usr/bin/python3";
const REFERENCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/compat-tests/lib/zk-reference");

/// java and the Debian ZooKeeper jars are there.
pub fn java_available() -> bool {
    let java = Command::new("java")
        .arg("-version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    java && Path::new("/usr/share/java/zookeeper.jar").exists()
}

/// java, the Debian ZooKeeper jars and python3-kazoo are all there.
pub fn available() -> bool {
    let kazoo = Command::new(PY)
        .args(["-c", "import kazoo"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    kazoo && java_available()
}

/// Our nodes' warnings go to the test's captured output, shown when it fails; with
/// FK_TEST_LOG=1 everything from info up goes to stderr (`--nocapture` to see it).
pub fn log_to_stderr() {
    let builder = tracing_subscriber::fmt();
    let _ = if std::env::var_os("FK_TEST_LOG").is_some() {
        builder
            .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
            .with_writer(std::io::stderr)
            .try_init()
    } else {
        builder
            .with_env_filter(tracing_subscriber::EnvFilter::new("warn"))
            .with_test_writer()
            .try_init()
    };
}

/// Whether a mixed-ensemble test is skipped (and says so): java, the ZooKeeper jars or
/// python3-kazoo missing. Honours FK_TEST_LOG first.
pub fn skip() -> bool {
    log_to_stderr();
    if !available() {
        println!("skipped: java, the ZooKeeper jars or python3-kazoo missing");
        return true;
    }
    false
}

/// One ensemble at a time: more JVMs would not fit the test machine.
pub static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[derive(Debug, Clone, Copy)]
pub struct Ports {
    pub quorum: u16,
    pub election: u16,
    pub client: u16,
}

/// Servers `1..=n` with their ports and data dirs; each is started as a real node or ours.
pub struct Mixed {
    pub root: PathBuf,
    pub ports: Vec<Ports>,
    pub tick_ms: u64,
    observers: Vec<usize>,
    /// Servers `1..=members` are the initial ensemble; a later sid knows them and itself (it
    /// joins by reconfig). All of them unless [`Mixed::set_members`].
    members: usize,
    /// Extra zoo.cfg lines per sid (e.g. TLS settings), written at each start.
    extra: HashMap<usize, String>,
    /// The host of every `server.N` line (`127.0.0.1` unless [`Mixed::set_hostname`]).
    hostname: String,
    /// `SERVER_JVMFLAGS` per sid (e.g. the JAAS file), for real nodes and ours alike.
    jvm_flags: HashMap<usize, String>,
    real: HashMap<usize, Child>,
    ours: HashMap<usize, RunningServer>,
}

impl Drop for Mixed {
    fn drop(&mut self) {
        for (_, mut c) in self.real.drain() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::env::var_os("FK_KEEP_TEST_DIRS").is_none() {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}

impl Mixed {
    pub fn new(tag: &str, n: usize, observers: &[usize], tick_ms: u64) -> Mixed {
        let root =
            std::env::temp_dir().join(format!("fk-{tag}-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&root).unwrap();
        let ports = (0..n)
            .map(|_| Ports {
                quorum: free_port(),
                election: free_port(),
                client: free_port(),
            })
            .collect();
        Mixed {
            root,
            ports,
            tick_ms,
            observers: observers.to_vec(),
            members: n,
            extra: HashMap::new(),
            hostname: "127.0.0.1".to_owned(),
            jvm_flags: HashMap::new(),
            real: HashMap::new(),
            ours: HashMap::new(),
        }
    }

    pub fn server_lines(&self) -> String {
        self.server_lines_of(self.ports.len())
    }

    /// The `server.N` lines `sid`'s zoo.cfg gets.
    fn server_lines_of(&self, sid: usize) -> String {
        let known = if sid <= self.members {
            self.members
        } else {
            self.ports.len()
        };
        self.ports
            .iter()
            .take(known)
            .enumerate()
            .map(|(i, p)| {
                let role = if self.observers.contains(&(i + 1)) {
                    ":observer"
                } else {
                    ""
                };
                format!(
                    "server.{}={}:{}:{}{role}\n",
                    i + 1,
                    self.hostname,
                    p.quorum,
                    p.election
                )
            })
            .collect()
    }

    /// `sid`'s dataDir.
    pub fn dir(&self, sid: usize) -> PathBuf {
        self.root.join(format!("n{sid}"))
    }

    pub fn client(&self, sid: usize) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.ports[sid - 1].client))
    }

    /// zoo.cfg and myid in `sid`'s dataDir (kept if already there).
    fn config(&self, sid: usize) -> PathBuf {
        let dir = self.dir(sid);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("myid"), format!("{sid}\n")).unwrap();
        let peer_type = if self.observers.contains(&sid) {
            "peerType=observer\n"
        } else {
            ""
        };
        let cfg = format!(
            "tickTime={}\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort={}\n\
             clientPortAddress=127.0.0.1\n4lw.commands.whitelist=*\nadmin.enableServer=false\n\
             {peer_type}{}{}",
            self.tick_ms,
            dir.display(),
            self.ports[sid - 1].client,
            self.server_lines_of(sid),
            self.extra.get(&sid).map_or("", String::as_str),
        );
        let path = dir.join("zoo.cfg");
        std::fs::write(&path, cfg).unwrap();
        path
    }

    /// The host every `server.N` line names from the next start on (`localhost` where a
    /// Kerberos principal's instance must match it); it must resolve to 127.0.0.1.
    pub fn set_hostname(&mut self, host: &str) {
        self.hostname = host.to_owned();
    }

    /// zoo.cfg lines `sid` gets from its next start on (replacing earlier ones).
    pub fn set_extra(&mut self, sid: usize, lines: &str) {
        self.extra.insert(sid, lines.to_owned());
    }

    /// Only servers `1..=n` form the initial ensemble; the later ones join by reconfig.
    pub fn set_members(&mut self, n: usize) {
        self.members = n;
    }

    /// `SERVER_JVMFLAGS` of `sid` from its next start on.
    pub fn set_jvm_flags(&mut self, sid: usize, flags: &str) {
        self.jvm_flags.insert(sid, flags.to_owned());
    }

    /// Writes the JAAS file `<root>/<name>.jaas`; the `SERVER_JVMFLAGS` flag naming it.
    pub fn jaas(&self, name: &str, text: &str) -> String {
        let path = self.root.join(format!("{name}.jaas"));
        std::fs::write(&path, text).unwrap();
        format!("-Djava.security.auth.login.config={}", path.display())
    }

    /// [`Mixed::set_extra`] for every sid.
    pub fn set_extra_all(&mut self, lines: &str) {
        for sid in 1..=self.ports.len() {
            self.set_extra(sid, lines);
        }
    }

    /// [`Mixed::set_jvm_flags`] for every sid.
    pub fn set_jvm_flags_all(&mut self, flags: &str) {
        for sid in 1..=self.ports.len() {
            self.set_jvm_flags(sid, flags);
        }
    }

    /// Whether `sid` runs as a real node / as ours (started and not stopped).
    pub fn is_real(&self, sid: usize) -> bool {
        self.real.contains_key(&sid)
    }

    pub fn is_ours(&self, sid: usize) -> bool {
        self.ours.contains_key(&sid)
    }

    pub fn start_real(&mut self, sid: usize) {
        let cfg = self.config(sid);
        let log = std::fs::File::create(self.dir(sid).join("out.log")).unwrap();
        // logged at INFO into out.log, so that `real_warnings` has something to show
        let child = Command::new(REFERENCE)
            .arg(cfg)
            .env("FK_REF_LOG", "1")
            .env(
                "SERVER_JVMFLAGS",
                self.jvm_flags.get(&sid).map_or("", String::as_str),
            )
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.real.insert(sid, child);
    }

    /// The last WARN / ERROR lines of every real node's output, for a failure message (ours
    /// go to the captured test output).
    pub fn real_warnings(&self) -> String {
        let mut out = String::new();
        for sid in (1..=self.ports.len()).filter(|&s| self.is_real(s)) {
            let text = std::fs::read_to_string(self.dir(sid).join("out.log")).unwrap_or_default();
            let lines: Vec<&str> = text
                .lines()
                .filter(|l| l.contains("WARN") || l.contains("ERROR"))
                .collect();
            out.push_str(&format!("\n--- real {sid}: last warnings ---\n"));
            for line in &lines[lines.len().saturating_sub(20)..] {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }

    /// kill -9 by PID.
    pub fn kill_real(&mut self, sid: usize) {
        if let Some(mut c) = self.real.remove(&sid) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Serve `sid` from this process, as `ferrokeeper <zoo.cfg>` would.
    pub async fn start_ours(&mut self, sid: usize) {
        let flags = self.jvm_flags.get(&sid).map_or("", String::as_str);
        let jvm = ferrokeeper::config::SystemProperties::from_flags(flags);
        let cfg = ferrokeeper::config::load_with(&self.config(sid), jvm).expect("zoo.cfg");
        let server = ferrokeeper::server::start(cfg).await.expect("node starts");
        self.ours.insert(sid, server);
    }

    /// A clean shutdown: the node stops serving and its log is flushed.
    pub async fn stop_ours(&mut self, sid: usize) {
        if let Some(s) = self.ours.remove(&sid) {
            s.shutdown().await;
        }
    }

    /// Start `sid` as ours or as a real node; a real one is waited for (at most 30 s) until
    /// its client port answers, so that the next node started comes up after it, as ours.
    pub async fn start_as(&mut self, sid: usize, ours: bool) {
        if ours {
            self.start_ours(sid).await;
            return;
        }
        self.start_real(sid);
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.four(sid, "srvr").await.is_none() {
            assert!(
                Instant::now() < deadline,
                "real node {sid} never opened its port"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stop `sid`, whichever kind it is: ours cleanly, a real node by PID.
    pub async fn stop(&mut self, sid: usize) {
        if self.is_ours(sid) {
            self.stop_ours(sid).await;
        } else {
            self.kill_real(sid);
        }
    }

    /// A four-letter word's answer, or None while the port does not answer.
    pub async fn four(&self, sid: usize, word: &str) -> Option<String> {
        let mut s = TcpStream::connect(self.client(sid)).await.ok()?;
        s.write_all(word.as_bytes()).await.ok()?;
        let mut out = String::new();
        tokio::time::timeout(Duration::from_secs(3), s.read_to_string(&mut out))
            .await
            .ok()?
            .ok()?;
        Some(out)
    }

    /// The value of the `key` line (e.g. "Mode:") of a four-letter word's answer.
    pub async fn field(&self, sid: usize, word: &str, key: &str) -> Option<String> {
        let text = self.four(sid, word).await?;
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .map(|v| v.trim().to_owned())
    }

    pub async fn mode(&self, sid: usize) -> Option<String> {
        self.field(sid, "srvr", "Mode:").await
    }

    /// Wait (at most `secs`) until `sid`'s `srvr` says Mode: `want`.
    pub async fn wait_mode(&self, sid: usize, want: &str, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let m = self.mode(sid).await;
            if m.as_deref() == Some(want) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "server {sid}: mode {m:?}, wanted {want}; see {}",
                self.root.display()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Wait (at most `secs`) until `sid` stops serving (`srvr` gives no Mode).
    pub async fn wait_not_serving(&self, sid: usize, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while self.mode(sid).await.is_some() {
            assert!(Instant::now() < deadline, "server {sid} still serving");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// `srvr`'s Zxid.
    pub async fn zxid(&self, sid: usize) -> i64 {
        let z = self.field(sid, "srvr", "Zxid:").await.expect("srvr");
        i64::from_str_radix(z.trim_start_matches("0x"), 16).unwrap()
    }

    /// Run a kazoo script (`zk` connected to `sid`) and return its stdout; killed by PID
    /// after 40 s.
    pub async fn kazoo(&self, sid: usize, body: &str) -> String {
        self.kazoo_background(sid, body).finish().await
    }

    /// `get(path)` through `sid`: (data, mzxid).
    pub async fn get(&self, sid: usize, path: &str) -> (String, i64) {
        let out = self
            .kazoo(
                sid,
                &format!("d, st = zk.get('{path}')\nprint(d.decode(), st.mzxid)"),
            )
            .await;
        let (d, z) = out.trim().rsplit_once(' ').unwrap();
        (d.to_owned(), z.parse().unwrap())
    }

    /// Every znode but /zookeeper/config (its data is the node's own config text), read
    /// through `sid` after a sync: path → (hex data, the eleven Stat fields).
    pub async fn dump(&self, sid: usize) -> BTreeMap<String, (String, Vec<i64>)> {
        let out = self
            .kazoo(
                sid,
                "zk.sync('/')\nout = {}\n\
                 def walk(p):\n\
                 \x20   data, st = zk.get(p)\n\
                 \x20   if p != '/zookeeper/config':\n\
                 \x20       out[p] = [binascii.hexlify(data or b'').decode(), [st.czxid, st.mzxid, st.ctime, st.mtime, st.version, st.cversion, st.aversion, st.ephemeralOwner, st.dataLength, st.numChildren, st.pzxid]]\n\
                 \x20   for c in zk.get_children(p):\n\
                 \x20       walk((p if p != '/' else '') + '/' + c)\n\
                 walk('/')\n\
                 print(json.dumps(out))",
            )
            .await;
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        v.as_object()
            .unwrap()
            .iter()
            .map(|(k, e)| {
                let data = e[0].as_str().unwrap().to_owned();
                let stat = e[1]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_i64().unwrap())
                    .collect();
                (k.clone(), (data, stat))
            })
            .collect()
    }
}

/// A kazoo script running beside the test (see [`Mixed::kazoo_background`]); killed by PID
/// if dropped unfinished.
pub struct Background {
    sid: usize,
    child: Option<Child>,
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Background {
    /// Wait (at most 40 s from now) for the script to end; its stdout. Its pipes are read
    /// meanwhile: a script printing more than a pipe holds (a dump of a big tree) would
    /// otherwise block on its write and never end.
    pub async fn finish(mut self) -> String {
        let sid = self.sid;
        let Some(mut child) = self.child.take() else {
            return String::new();
        };
        let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                if let Some(mut p) = pipe {
                    let _ = p.read_to_end(&mut buf);
                }
                buf
            })
        };
        let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
        let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
        tokio::task::spawn_blocking(move || {
            let deadline = Instant::now() + Duration::from_secs(40);
            loop {
                if let Some(status) = child.try_wait().unwrap() {
                    let out = stdout.join().unwrap();
                    let err = stderr.join().unwrap();
                    assert!(
                        status.success(),
                        "kazoo script failed on server {sid}: {}",
                        String::from_utf8_lossy(&err)
                    );
                    return String::from_utf8(out).unwrap();
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("kazoo script timed out on server {sid}");
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        })
        .await
        .unwrap()
    }
}

impl Mixed {
    /// Start a kazoo script (`zk` connected to `sid`) and return at once, so that the
    /// ensemble can change (a node started or stopped) while it writes.
    pub fn kazoo_background(&self, sid: usize, body: &str) -> Background {
        let script = format!(
            "import json, binascii\nfrom kazoo.client import KazooClient\n\
             zk = KazooClient(hosts='127.0.0.1:{}', timeout=10)\nzk.start(timeout=30)\n\
             {body}\nzk.stop()\nzk.close()\n",
            self.ports[sid - 1].client
        );
        let child = Command::new(PY)
            .args(["-c", &script])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Background {
            sid,
            child: Some(child),
        }
    }

    /// The zxids of the `snapshot.<zxid>` files in `sid`'s dataDir.
    pub fn snapshots(&self, sid: usize) -> std::collections::BTreeSet<i64> {
        let Ok(entries) = std::fs::read_dir(self.dir(sid).join("version-2")) else {
            return Default::default();
        };
        entries
            .filter_map(|e| {
                let name = e.ok()?.file_name().into_string().ok()?;
                i64::from_str_radix(name.strip_prefix("snapshot.")?, 16).ok()
            })
            .collect()
    }

    /// A numeric `mntr` value (`key` without the `zk_` prefix).
    pub async fn mntr(&self, sid: usize, key: &str) -> i64 {
        let v = self
            .field(sid, "mntr", &format!("zk_{key}\t"))
            .await
            .unwrap_or_else(|| panic!("server {sid}: no zk_{key} in mntr"));
        v.parse()
            .unwrap_or_else(|_| panic!("server {sid}: zk_{key} is {v:?}"))
    }
}

/// Two real nodes (sids 1, 2) and ours (sid 3), all configured: ours joins the real leader,
/// then, the real leader killed, leads the real nodes; the ensemble forms within `secs`.
pub async fn ours_joins_then_leads(ens: &mut Mixed, secs: u64) {
    ens.start_real(1);
    ens.start_real(2);
    let leader = wait_formed(ens, &[1, 2], secs).await;
    let other = 3 - leader;
    ens.start_ours(3).await;
    ens.wait_mode(3, "follower", 60).await;
    write_through_all_and_compare(ens, &[1, 2, 3], "joined").await;

    // the real leader goes: ours (largest sid) leads, the other real node follows it
    ens.kill_real(leader);
    ens.wait_mode(3, "leader", 60).await;
    ens.wait_mode(other, "follower", 60).await;
    ens.start_real(leader);
    assert_eq!(wait_formed(ens, &[1, 2, 3], secs).await, 3);
    write_through_all_and_compare(ens, &[1, 2, 3], "ours-leads").await;
    ens.stop_ours(3).await;
}

/// Ours (sids 1, 2) lead and the real node (sid 3) joins them as a follower within
/// `secs`; then, ours at sid 2 restarted, the real node leads ours.
pub async fn real_joins_then_leads(ens: &mut Mixed, secs: u64) {
    ens.start_ours(1).await;
    ens.start_ours(2).await;
    assert_eq!(wait_formed(ens, &[1, 2], 60).await, 2, "ours lead first");
    ens.start_real(3);
    ens.wait_mode(3, "follower", secs).await;
    write_through_all_and_compare(ens, &[1, 2, 3], "real-joins").await;

    // the real node leads ours
    ens.stop_ours(2).await;
    ens.wait_mode(3, "leader", 60).await;
    ens.start_ours(2).await;
    assert_eq!(wait_formed(ens, &[1, 2, 3], 60).await, 3);
    write_through_all_and_compare(ens, &[1, 2, 3], "real-leads").await;
}

/// The sid of the one leader among `modes` (sid, `srvr` Mode), once every node serves.
pub fn single_leader(modes: &[(usize, Option<String>)]) -> Option<usize> {
    let mut leaders = modes
        .iter()
        .filter(|(_, m)| m.as_deref() == Some("leader"))
        .map(|(s, _)| *s);
    let first = leaders.next()?;
    (leaders.next().is_none() && modes.iter().all(|(_, m)| m.is_some())).then_some(first)
}

/// Waits (at most `secs`) until every sid in `sids` serves and exactly one of them leads;
/// the leader's sid.
pub async fn wait_formed(ens: &Mixed, sids: &[usize], secs: u64) -> usize {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let mut modes = Vec::new();
        for &sid in sids {
            modes.push((sid, ens.mode(sid).await));
        }
        if let Some(leader) = single_leader(&modes) {
            return leader;
        }
        assert!(
            Instant::now() < deadline,
            "no ensemble of {sids:?}: {modes:?}; see {}{}",
            ens.root.display(),
            ens.real_warnings()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// A write through every node in `sids`, then the same tree (after sync) and the same
/// `srvr` Zxid on all of them.
pub async fn write_through_all_and_compare(ens: &Mixed, sids: &[usize], tag: &str) {
    for &sid in sids {
        ens.kazoo(
            sid,
            &format!("zk.create('/{tag}-via-{sid}', b'{sid}', makepath=True)"),
        )
        .await;
    }
    assert_same_everywhere(ens, sids).await;
    for &sid in sids {
        for &via in sids {
            let (data, _) = ens.get(sid, &format!("/{tag}-via-{via}")).await;
            assert_eq!(data, via.to_string(), "server {sid}, /{tag}-via-{via}");
        }
    }
}

pub async fn assert_same_everywhere(ens: &Mixed, sids: &[usize]) {
    let first = ens.dump(sids[0]).await;
    for &sid in &sids[1..] {
        let other = ens.dump(sid).await;
        assert_eq!(
            other, first,
            "server {sid}'s tree differs from {}'s",
            sids[0]
        );
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut zxids = BTreeSet::new();
        for &sid in sids {
            zxids.insert(ens.zxid(sid).await);
        }
        if zxids.len() == 1 {
            return;
        }
        assert!(Instant::now() < deadline, "zxids differ: {zxids:x?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `sid` does not serve during the whole of `secs`.
pub async fn stays_out(ens: &Mixed, sid: usize, secs: u64) {
    let until = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < until {
        let mode = ens.mode(sid).await;
        assert_eq!(mode, None, "server {sid} joined: {mode:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The reference's jars (the Debian package's) as a Java classpath, for running its own
/// tools (SnapshotFormatter, a QuorumPeerMain) against our files; None without java or a jar.
pub fn reference_classpath() -> Option<String> {
    let j = "/usr/share/java";
    let jars = [
        "zookeeper.jar",
        "zookeeper-jute.jar",
        "slf4j-api.jar",
        "slf4j-simple.jar",
        "netty-handler.jar",
        "netty-transport.jar",
        "netty-common.jar",
        "netty-buffer.jar",
        "netty-codec.jar",
        "netty-resolver.jar",
        "netty-transport-native-epoll.jar",
        "netty-transport-native-unix-common.jar",
        "commons-io.jar",
        "commons-cli.jar",
        "metrics-core.jar",
        "snappy-java.jar",
    ];
    let java_ok = Command::new("java")
        .arg("-version")
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let paths: Vec<String> = jars.iter().map(|n| format!("{j}/{n}")).collect();
    (java_ok && paths.iter().all(|p| Path::new(p).exists())).then(|| paths.join(":"))
}
