//! Every listener whose port is taken at start-up, as ZooKeeper 3.8 handles it (issue #19):
//! the built binary runs as a process on 127.0.0.1 ports, the port is occupied first, and
//! what an operator sees is checked — the exit code (`ExitCode`), the log line, whether the
//! node serves. Every process is stopped by its PID (SIGKILL) when its test ends.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{connect_when_up, create, exists, free_port, note_handed_out, temp_data_dir};
use ferrokeeper::jute::codes::{ErrorCode, OpCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PROMETHEUS: &str = "org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider";
const NOT_SERVING: &str = "This ZooKeeper instance is not currently serving requests";

/// A loopback port that is taken for as long as the listener lives.
fn occupied() -> (TcpListener, u16) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    note_handed_out(port);
    (l, port)
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A ferrokeeper process logging at info to a file; killed by PID when dropped.
struct Node {
    child: Child,
    log: PathBuf,
    client: SocketAddr,
}

impl Node {
    /// Writes `dir/zoo.cfg` (and `dir/myid` for an ensemble member) and starts the binary.
    fn start(dir: &Path, myid: Option<usize>, client: u16, cfg: &str) -> Node {
        std::fs::create_dir_all(dir).unwrap();
        if let Some(id) = myid {
            std::fs::write(dir.join("myid"), format!("{id}\n")).unwrap();
        }
        let text = format!(
            "tickTime=500\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort={client}\n\
             clientPortAddress=127.0.0.1\nadmin.serverAddress=127.0.0.1\n{cfg}",
            dir.display()
        );
        let zoo_cfg = dir.join("zoo.cfg");
        std::fs::write(&zoo_cfg, text).unwrap();
        let log = dir.join("node.log");
        let child = Command::new(env!("CARGO_BIN_EXE_ferrokeeper"))
            .arg(&zoo_cfg)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start ferrokeeper");
        Node {
            child,
            log,
            client: loopback(client),
        }
    }

    /// The exit code once the process has ended, or None if it still runs after `bound`.
    async fn exit_code_within(&mut self, bound: Duration) -> Option<i32> {
        let deadline = Instant::now() + bound;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status.code().expect("exited, not killed by a signal"));
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Lines of the log containing `needle`.
    fn log_count(&self, needle: &str) -> usize {
        self.log_text()
            .lines()
            .filter(|l| l.contains(needle))
            .count()
    }

    /// Wait (bounded) until the log holds `n` lines with `needle`.
    async fn wait_for_log(&self, needle: &str, n: usize, bound: Duration) {
        let deadline = Instant::now() + bound;
        while self.log_count(needle) < n {
            assert!(
                Instant::now() < deadline,
                "no {n}× {needle:?} in the log:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if self.running() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// `srvr`'s Mode, the not-serving line, or None when nothing answers.
async fn srvr_mode(addr: SocketAddr) -> Option<String> {
    let mut s = tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(addr))
        .await
        .ok()?
        .ok()?;
    s.write_all(b"srvr").await.ok()?;
    let mut out = String::new();
    tokio::time::timeout(Duration::from_secs(2), s.read_to_string(&mut out))
        .await
        .ok()?
        .ok()?;
    if out.contains(NOT_SERVING) {
        return Some(NOT_SERVING.to_owned());
    }
    out.lines()
        .find_map(|l| l.strip_prefix("Mode: "))
        .map(str::to_owned)
}

/// Wait (bounded) until every node serves, one as leader and the others as followers.
async fn wait_until_formed(nodes: &mut [Node]) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let mut modes = Vec::new();
        for n in nodes.iter() {
            modes.push(srvr_mode(n.client).await);
        }
        let leaders = modes.iter().flatten().filter(|m| *m == "leader").count();
        let followers = modes.iter().flatten().filter(|m| *m == "follower").count();
        if leaders == 1 && followers == nodes.len() - 1 {
            return;
        }
        for (i, n) in nodes.iter_mut().enumerate() {
            assert!(n.running(), "node {} exited:\n{}", i + 1, n.log_text());
        }
        assert!(Instant::now() < deadline, "no ensemble formed: {modes:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A write through the first node is seen through every node.
async fn serves_writes(nodes: &[Node], path: &str) {
    let mut c = connect_when_up(nodes[0].client).await;
    let r = c.call(OpCode::CREATE, &create(path, b"x", 0)).await;
    assert_eq!(r.err(), ErrorCode::OK, "create {path}");
    for n in nodes {
        let mut c = connect_when_up(n.client).await;
        let deadline = Instant::now() + Duration::from_secs(20);
        while !exists(&mut c, path).await {
            assert!(
                Instant::now() < deadline,
                "{path} never seen at {}",
                n.client
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Ports of a 3-node ensemble on loopback: (quorum, election, client) per node.
struct Ports {
    nodes: Vec<(u16, u16, u16)>,
}

impl Ports {
    fn fresh() -> Ports {
        Ports {
            nodes: (0..3)
                .map(|_| (free_port(), free_port(), free_port()))
                .collect(),
        }
    }

    fn server_lines(&self) -> String {
        self.nodes
            .iter()
            .enumerate()
            .map(|(i, (q, e, _))| format!("server.{}=127.0.0.1:{q}:{e}\n", i + 1))
            .collect()
    }

    /// Start node `sid` (1-based) of this ensemble under `root` with `extra` settings.
    fn start(&self, root: &Path, sid: usize, extra: &str) -> Node {
        let client = self.nodes[sid - 1].2;
        let cfg = format!("{}{extra}", self.server_lines());
        Node::start(&root.join(format!("n{sid}")), Some(sid), client, &cfg)
    }
}

/// Issue #19's set-up: three members on one host with the same admin port (the default 8080
/// in real life): one runs the AdminServer, the two others warn once and serve on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ensemble_members_sharing_one_admin_port_form_and_serve() {
    let root = temp_data_dir();
    let ports = Ports::fresh();
    let admin = free_port();
    let extra = format!("admin.serverPort={admin}\n");
    let mut nodes: Vec<Node> = (1..=3).map(|sid| ports.start(&root, sid, &extra)).collect();
    wait_until_formed(&mut nodes).await;
    serves_writes(&nodes, "/admin-port-shared").await;

    let started = format!("Started AdminServer on address 127.0.0.1, port {admin}");
    let problem = format!("Problem starting AdminServer on address 127.0.0.1, port {admin}");
    let with: Vec<usize> = nodes.iter().map(|n| n.log_count(&started)).collect();
    let without: Vec<usize> = nodes.iter().map(|n| n.log_count(&problem)).collect();
    assert_eq!(with.iter().sum::<usize>(), 1, "one AdminServer: {with:?}");
    assert_eq!(
        without.iter().sum::<usize>(),
        2,
        "two warnings: {without:?}"
    );
    for (i, n) in nodes.iter().enumerate() {
        assert_eq!(with[i] + without[i], 1, "node {} says it once", i + 1);
        if without[i] == 1 {
            let line = n.log_text();
            let line = line.lines().find(|l| l.contains(&problem)).unwrap();
            assert!(line.contains("WARN"), "a warning: {line}");
            assert!(
                line.contains("Address already in use"),
                "the reason: {line}"
            );
        }
    }
    // the one AdminServer answers
    let mut s = TcpStream::connect(loopback(admin)).await.unwrap();
    s.write_all(b"GET /commands/ruok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_string(&mut out))
        .await
        .unwrap()
        .unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
}

/// `ZooKeeperServerMain#runFromConfig` starts the AdminServer before the client port; its
/// `AdminServerException` ends `main` with ERROR_STARTING_ADMIN_SERVER (4).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_whose_admin_port_is_taken_exits_with_4() {
    for client_taken_too in [false, true] {
        let (_admin_holder, admin) = occupied();
        let (_client_holder, client) = if client_taken_too {
            let (l, p) = occupied();
            (Some(l), p)
        } else {
            (None, free_port())
        };
        let cfg = format!("admin.serverPort={admin}\n");
        let mut node = Node::start(&temp_data_dir(), None, client, &cfg);
        let code = node.exit_code_within(Duration::from_secs(30)).await;
        assert_eq!(code, Some(4), "{}", node.log_text());
        let log = node.log_text();
        assert!(
            log.contains("Unable to start AdminServer, exiting abnormally"),
            "{log}"
        );
        assert!(
            log.contains(&format!("port {admin}")),
            "names the port: {log}"
        );
    }
}

/// A taken client port is a `BindException` from `NIOServerCnxnFactory#configure`, caught
/// by `main` as "Unexpected exception": UNEXPECTED_ERROR (1), standalone and in an ensemble.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_port_taken_exits_with_1_in_both_modes() {
    let (_standalone_holder, standalone_port) = occupied();
    let mut standalone = Node::start(
        &temp_data_dir(),
        None,
        standalone_port,
        &format!("admin.serverPort={}\n", free_port()),
    );
    let mut ports = Ports::fresh();
    let (_member_holder, member_port) = occupied();
    ports.nodes[0].2 = member_port;
    let mut member = ports.start(&temp_data_dir(), 1, "admin.enableServer=false\n");
    for (node, port) in [
        (&mut standalone, standalone_port),
        (&mut member, member_port),
    ] {
        let code = node.exit_code_within(Duration::from_secs(30)).await;
        assert_eq!(code, Some(1), "{}", node.log_text());
        let log = node.log_text();
        assert!(
            log.contains("Unexpected exception, exiting abnormally"),
            "{log}"
        );
        assert!(
            log.contains(&format!("127.0.0.1:{port}")),
            "names it: {log}"
        );
        assert!(log.contains("Address already in use"), "the reason: {log}");
    }
}

/// `MetricsProviderBootstrap#startMetricsProvider` runs first in both mains; the Prometheus
/// provider's bind failure becomes an IOException and UNEXPECTED_ERROR (1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_port_taken_exits_with_1_in_both_modes() {
    let (_holder, metrics) = occupied();
    let provider = format!(
        "metricsProvider.className={PROMETHEUS}\nmetricsProvider.httpHost=127.0.0.1\n\
         metricsProvider.httpPort={metrics}\n"
    );
    let standalone_cfg = format!("admin.serverPort={}\n{provider}", free_port());
    let mut standalone = Node::start(&temp_data_dir(), None, free_port(), &standalone_cfg);
    let ports = Ports::fresh();
    let member_cfg = format!("admin.enableServer=false\n{provider}");
    let mut member = ports.start(&temp_data_dir(), 1, &member_cfg);
    for node in [&mut standalone, &mut member] {
        let code = node.exit_code_within(Duration::from_secs(30)).await;
        assert_eq!(code, Some(1), "{}", node.log_text());
        let log = node.log_text();
        assert!(
            log.contains("Unexpected exception, exiting abnormally"),
            "{log}"
        );
        assert!(
            log.contains(&format!("Cannot boot MetricsProvider {PROMETHEUS}")),
            "{log}"
        );
        assert!(
            log.contains(&format!("127.0.0.1:{metrics}")),
            "names it: {log}"
        );
    }
}

/// `QuorumCnxManager.Listener`: `electionPortBindRetry` attempts (3 by default) a second
/// apart, then UNABLE_TO_BIND_QUORUM_PORT (14).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn election_port_taken_exits_with_14_after_the_retries() {
    for (setting, attempts) in [("", 3), ("electionPortBindRetry=1\n", 1)] {
        let mut ports = Ports::fresh();
        let (_holder, election) = occupied();
        ports.nodes[0].1 = election;
        let cfg = format!("admin.enableServer=false\n{setting}");
        let mut node = ports.start(&temp_data_dir(), 1, &cfg);
        let code = node.exit_code_within(Duration::from_secs(60)).await;
        assert_eq!(code, Some(14), "{}", node.log_text());
        let addr = format!("127.0.0.1:{election}");
        let failed = format!("Exception while listening to address {addr}");
        assert_eq!(node.log_count(&failed), attempts, "{}", node.log_text());
        let leaving = format!("Leaving listener thread for address {addr} after {attempts} errors");
        assert_eq!(node.log_count(&leaving), 1, "{}", node.log_text());
        assert!(node
            .log_text()
            .contains("won't be able to participate in leader election"));
    }
}

/// `electionPortBindRetry=0`: the listener retries for as long as it takes, the node runs on
/// (it still dials its peers), and the port is bound once it is free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn election_port_with_unlimited_retries_is_bound_once_free() {
    let root = temp_data_dir();
    let mut ports = Ports::fresh();
    let (holder, election) = occupied();
    ports.nodes[2].1 = election;
    let mut nodes = vec![
        ports.start(&root, 1, "admin.enableServer=false\n"),
        ports.start(&root, 2, "admin.enableServer=false\n"),
        ports.start(
            &root,
            3,
            "admin.enableServer=false\nelectionPortBindRetry=0\n",
        ),
    ];
    let failed = format!("Exception while listening to address 127.0.0.1:{election}");
    // more failures than the default 3 allow, and still running
    nodes[2]
        .wait_for_log(&failed, 5, Duration::from_secs(60))
        .await;
    assert!(nodes[2].running(), "{}", nodes[2].log_text());
    drop(holder);
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(loopback(election)).is_err() {
        assert!(Instant::now() < deadline, "{}", nodes[2].log_text());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    wait_until_formed(&mut nodes).await;
    serves_writes(&nodes, "/election-port-freed").await;
}

/// `Leader`'s constructor cannot bind the quorum port: it logs "Couldn't bind to", throws,
/// and `QuorumPeer#run` goes LOOKING again — the node never exits; once the port is free
/// the ensemble forms with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quorum_port_taken_makes_the_leader_elect_again() {
    let root = temp_data_dir();
    let mut ports = Ports::fresh();
    let (holder, quorum) = occupied();
    ports.nodes[2].0 = quorum;
    // node 3 first: with equal zxids the largest sid wins the first election
    let third = ports.start(&root, 3, "admin.enableServer=false\n");
    let deadline = Instant::now() + Duration::from_secs(30);
    while srvr_mode(third.client).await.is_none() {
        assert!(Instant::now() < deadline, "{}", third.log_text());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut nodes = vec![
        ports.start(&root, 1, "admin.enableServer=false\n"),
        ports.start(&root, 2, "admin.enableServer=false\n"),
        third,
    ];
    let failed = format!("Couldn't bind to 127.0.0.1:{quorum}");
    nodes[2]
        .wait_for_log(&failed, 1, Duration::from_secs(60))
        .await;
    assert!(nodes[2].running(), "{}", nodes[2].log_text());
    drop(holder);
    wait_until_formed(&mut nodes).await;
    serves_writes(&nodes, "/quorum-port-freed").await;
    assert!(nodes[2].running());
}

/// A taken `secureClientPort` ends start-up with 1, as 3.8's Netty factory does when its
/// bind fails, after the plaintext client port was opened; the log names the port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secure_client_port_taken_exits_with_1() {
    let (_holder, secure) = occupied();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/tls/fixtures");
    let cfg = format!(
        "admin.serverPort={}\nsecureClientPort={secure}\nsecureClientPortAddress=127.0.0.1\n\
         ssl.keyStore.location={}\nssl.keyStore.password=serverpass\n\
         ssl.trustStore.location={}\nssl.trustStore.password=trustpass\n",
        free_port(),
        fixtures.join("server.jks").display(),
        fixtures.join("truststore.jks").display(),
    );
    let mut node = Node::start(&temp_data_dir(), None, free_port(), &cfg);
    let code = node.exit_code_within(Duration::from_secs(30)).await;
    assert_eq!(code, Some(1), "{}", node.log_text());
    let log = node.log_text();
    assert!(
        log.contains("Unexpected exception, exiting abnormally"),
        "{log}"
    );
    assert!(
        log.contains(&format!("secure client port 127.0.0.1:{secure}")),
        "names it: {log}"
    );
    assert!(log.contains("Address already in use"), "the reason: {log}");
    assert!(!log.contains("not supported by ferrokeeper"), "{log}");
}
