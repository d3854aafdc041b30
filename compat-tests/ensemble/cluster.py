"""Ensemble plumbing: nodes (reference ZooKeeper or candidate), their zoo.cfg, processes.

Every node gets its own directory (`data/myid`, `zoo.cfg`, `node.log`) and OS-chosen free
ports on 127.0.0.1. Processes are stopped by PID only (SIGTERM, SIGKILL after a bound);
`RUNNING` lists every process started so the driver can reap them on any exit. A node's
role is read from the `srvr` four-letter word.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))
import harness  # noqa: E402

J = "/usr/share/java"
# netty-codec: missing from zookeeper.jar's manifest Class-Path (Debian 3.8.0), needed by the
# quorum TLS listener (UnifiedServerSocket -> SslHandler)
REF_JARS = ["zookeeper", "zookeeper-jute", "slf4j-api", "slf4j-simple", "snappy-java",
            "commons-cli", "jackson-core", "metrics-core", "netty-codec"]
REF_CP = ":".join(f"{J}/{j}.jar" for j in REF_JARS if os.path.exists(f"{J}/{j}.jar"))
# like lib/zk-reference, but logging WARN and the learner's sync mode (DIFF/SNAP/TRUNC) at INFO
REF_CMD = ["java", "-Xmx256m", "-XX:+UseSerialGC", "-Dzookeeper.admin.enableServer=false",
           "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
           "-Dorg.slf4j.simpleLogger.log.org.apache.zookeeper.server.quorum.Learner=info",
           "-Dorg.slf4j.simpleLogger.showDateTime=true",
           "-cp", REF_CP, "org.apache.zookeeper.server.quorum.QuorumPeerMain"]
TICK = 1000
RUNNING = []  # every Popen started, reaped by the driver


def reap():
    """Kill every process this run started and has not stopped (SIGCONT first: a SIGSTOPped
    one would not die until resumed)."""
    for p in RUNNING:
        if p.poll() is None:
            try:
                p.send_signal(signal.SIGCONT)
                p.kill()
                p.wait(timeout=10)
            except Exception:
                pass
    RUNNING.clear()


def run_dir(prefix, teardown=None):
    """The run's temp dir (under $ENSEMBLE_TMP); at exit every process is reaped, `teardown`
    runs and the dir is removed (kept with KEEP_TMP=1). SIGTERM exits through the same path."""
    import atexit
    import tempfile
    tmp = tempfile.mkdtemp(prefix=prefix, dir=os.environ.get("ENSEMBLE_TMP"))

    def cleanup():
        reap()
        if teardown:
            teardown()
        harness.remove_unless_kept(tmp, log)
    atexit.register(cleanup)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    return tmp


class Fail(Exception):
    pass


def print_fail(name, e):
    """The driver's FAIL line for `name`, then why: a Fail's own message, else the traceback
    of the unexpected exception."""
    harness.print_fail(name, e, Fail)


class Fatal(Fail):
    """Raised inside a wait_until predicate: stop waiting, this will not get better."""


def log(*a):
    print("[ensemble]", *a, file=sys.stderr, flush=True)


# Every port handed out in this run: the kernel may give a port that was free a moment ago to
# the next bind(0) again, and two nodes of one ensemble once got the same client port that way.
_HANDED_OUT = set()


def free_ports(n):
    """n free ports, distinct from each other and from every port handed out before in this run
    (all candidate sockets are held open until all are chosen)."""
    socks, ports = [], []
    try:
        for _ in range(50 * n):
            if len(ports) == n:
                break
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            port = s.getsockname()[1]
            if port not in _HANDED_OUT:
                _HANDED_OUT.add(port)
                ports.append(port)
        if len(ports) < n:
            raise Fail(f"could not find {n} unused ports")
        return ports
    finally:
        for s in socks:
            s.close()


def four_letter(hp, cmd, timeout=3):
    host, port = hp.split(":")
    return harness.four_letter(int(port), cmd, timeout, host)


def wait_until(what, pred, timeout, step=0.2):
    """Poll pred() until truthy (returned) or raise Fail after `timeout` seconds."""
    deadline = time.time() + timeout
    last = None
    while True:
        try:
            r = pred()
            if r:
                return r
        except Fatal:
            raise
        except Exception as e:  # a node not answering yet
            last = e
        if time.time() > deadline:
            raise Fail(f"timed out after {timeout}s waiting for {what}"
                       + (f" (last error: {last!r})" if last else ""))
        time.sleep(step)


class Node:
    """`host` is the address the node binds and is reached at (127.0.0.1, or its own network
    namespace's address when `wrap` runs it there, e.g. `ip netns exec NS`)."""

    def __init__(self, sid, kind, observer, root, host="127.0.0.1", wrap=()):
        self.sid, self.kind, self.observer = sid, kind, observer
        self.host, self.wrap = host, list(wrap)
        self.name = f"{kind}{sid}" + ("(obs)" if observer else "")
        self.dir = os.path.join(root, f"node{sid}-{kind}")
        self.data = os.path.join(self.dir, "data")
        self.cfg = os.path.join(self.dir, "zoo.cfg")
        self.logf = os.path.join(self.dir, "node.log")
        self.client_port, self.quorum_port, self.election_port = free_ports(3)
        self.hp = f"{host}:{self.client_port}"
        self.proc = None
        self.stopped = False  # SIGSTOPped
        self.cmd_override = None  # run this node's files with another server (check 6)

    def server_line(self):
        obs = ":observer" if self.observer else ""
        return (f"server.{self.sid}={self.host}:{self.quorum_port}:{self.election_port}{obs}"
                f";{self.host}:{self.client_port}")

    def write_cfg(self, servers):
        os.makedirs(self.data, exist_ok=True)
        with open(os.path.join(self.data, "myid"), "w") as f:
            f.write(f"{self.sid}\n")
        with open(self.cfg, "w") as f:
            f.write(f"""tickTime={TICK}
initLimit=10
syncLimit=5
dataDir={self.data}
clientPort={self.client_port}
clientPortAddress={self.host}
maxClientCnxns=0
minSessionTimeout=4000
maxSessionTimeout=40000
4lw.commands.whitelist=*
admin.enableServer=false
{"peerType=observer" if self.observer else ""}
{servers}
""")

    def start(self, cmd):
        out = open(self.logf, "ab")
        out.write(f"===== start {' '.join(cmd)} {self.cfg} at {time.strftime('%T')}\n".encode())
        out.flush()
        self.proc = subprocess.Popen(self.wrap + cmd + [self.cfg], stdout=out, stderr=out,
                                     stdin=subprocess.DEVNULL)
        out.close()
        self.stopped = False
        RUNNING.append(self.proc)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        if self.alive():
            self.proc.send_signal(sig)
            if sig == signal.SIGSTOP:
                self.stopped = True
            elif sig == signal.SIGCONT:
                self.stopped = False

    def stop(self, how="term"):
        """By PID: SIGKILL at once (how="kill"), or SIGTERM then SIGKILL after 20s."""
        p = self.proc
        if p is None or p.poll() is not None:
            return
        if self.stopped:
            p.send_signal(signal.SIGCONT)
            self.stopped = False
        p.send_signal(signal.SIGKILL if how == "kill" else signal.SIGTERM)
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)
            raise Fail(f"{self.name} ignored SIGTERM for 20s (killed)")

    def srvr(self):
        return four_letter(self.hp, "srvr")

    def mode(self):
        """leader/follower/observer/standalone, 'not serving', or 'down' (no answer)."""
        try:
            out = self.srvr()
        except OSError:
            return "down"
        m = re.search(r"^Mode: (\w+)", out, re.M)
        if m:
            return m.group(1)
        if "not currently serving" in out:
            return "not serving"
        return "?" + out.strip()[:60]

    def zxid(self):
        m = re.search(r"Zxid: (0x[0-9a-f]+)", self.srvr())
        if not m:
            raise Fail(f"{self.name}: no Zxid in srvr")
        return int(m.group(1), 16)

    def log_tail(self, n=25):
        try:
            with open(self.logf, errors="replace") as f:
                lines = f.readlines()[-n:]
        except OSError:
            return ""
        return f"  last {len(lines)} lines of {self.name}'s log ({self.logf}):\n" + \
            "".join("    | " + ln.rstrip("\n")[:300] + "\n" for ln in lines)

    def log_text(self):
        try:
            with open(self.logf, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def wipe(self):
        """Remove everything under dataDir except myid."""
        for n in os.listdir(self.data):
            if n == "myid":
                continue
            p = os.path.join(self.data, n)
            shutil.rmtree(p) if os.path.isdir(p) else os.remove(p)


class Ensemble:
    """Nodes described by a mix: list of (kind, observer)."""

    def __init__(self, mix, root, cmds, place=None):
        """`place(sid) -> (host, wrap)` puts node sid elsewhere than 127.0.0.1."""
        self.cmds = cmds  # kind -> command list
        place = place or (lambda sid: ("127.0.0.1", ()))
        self.nodes = [Node(i + 1, k, o, root, *place(i + 1)) for i, (k, o) in enumerate(mix)]
        servers = "\n".join(n.server_line() for n in self.nodes)
        for n in self.nodes:
            n.write_cfg(servers)

    def cmd(self, node):
        return node.cmd_override or self.cmds[node.kind]

    def describe(self):
        return ", ".join(f"{n.name}@{n.client_port}" for n in self.nodes)

    def start(self, timeout=60):
        for n in self.nodes:
            n.start(self.cmd(n))
        self.wait_healthy(timeout)

    def start_node(self, n, timeout=60):
        n.start(self.cmd(n))
        self.wait_serving(n, timeout)

    def voters(self):
        return [n for n in self.nodes if not n.observer]

    def modes(self):
        return {n.name: ("SIGSTOPPED" if n.stopped else n.mode()) for n in self.nodes}

    def status(self):
        return "modes: " + ", ".join(f"{k}={v}" for k, v in self.modes().items())

    def expected_mode_ok(self, n, m):
        if not n.alive():
            raise Fatal(f"{n.name} exited (status {n.proc.returncode})")
        if m == "standalone":
            raise Fatal(f"{n.name} serves standalone although its zoo.cfg lists "
                        f"{len(self.nodes)} servers")
        if n.observer:
            return m == "observer"
        return m in ("leader", "follower")

    def wait_serving(self, n, timeout=60):
        def ok():
            return self.expected_mode_ok(n, n.mode())
        try:
            wait_until(f"{n.name} to serve in the quorum", ok, timeout)
        except Fail as e:
            raise Fail(f"{e}\n  {self.status()}\n" + self.tails([n])) from None

    def wait_healthy(self, timeout=60, nodes=None):
        """Every (given, running) node serves in its role and there is exactly one leader."""
        nodes = nodes or [n for n in self.nodes if n.alive() and not n.stopped]

        def ok():
            modes = [n.mode() for n in nodes]
            if not all(self.expected_mode_ok(n, m) for n, m in zip(nodes, modes)):
                return False
            return modes.count("leader") == 1
        try:
            wait_until("a healthy ensemble (one leader, every node serving)", ok, timeout)
        except Fail as e:
            raise Fail(f"{e}\n  {self.status()}\n" + self.tails(nodes)) from None

    def leader(self):
        ls = [n for n in self.nodes if n.alive() and not n.stopped and n.mode() == "leader"]
        if len(ls) != 1:
            raise Fail(f"expected exactly one leader, {self.status()}")
        return ls[0]

    def followers(self):
        return [n for n in self.nodes if not n.observer and n.alive() and not n.stopped
                and n.mode() == "follower"]

    def tails(self, nodes=None, n=25):
        """Log tails of the candidate nodes (the reference's are WARN-only and terse)."""
        out = []
        for nd in nodes or self.nodes:
            if nd.kind == "ferro" or not nd.alive():
                out.append(nd.log_tail(n))
        return "".join(out)

    def stop_all(self):
        for n in self.nodes:
            try:
                n.stop("term")
            except Exception:
                n.stop("kill")
