"""zkServer.sh side by side: Debian's /usr/share/zookeeper/bin/zkServer.sh running the reference,
ferrokeeper's bin/zkServer.sh running the candidate, with the same ZOOCFGDIR layout
(<side>/<node>/conf/zoo.cfg, data/, logs/). Each command's stdout, stderr and exit status
form the transcript; ports, paths, pids and the version are masked, then the two are compared.

    zkserver.py --list
    zkserver.py --ferro '<ferrokeeper binary>' SCENARIO...

Debian's zkEnv.sh fixes ZOOCFGDIR, ZOO_LOG_DIR and the class path to /etc and /var; the
reference's script runs through a symlink in a directory of its own, next to a zkEnv.sh
written here that takes them from the environment as upstream 3.8's does (zkServer.sh
sources the zkEnv.sh beside the path it was started by). Servers started with `start` are
stopped by the pid their pid file names; every wait is bounded; only 127.0.0.1.
"""
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))
from harness import (four_letter, free_port, print_fail, remove_unless_kept, report,  # noqa: E402
                     scratch_dir, side_args)

COMPAT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(COMPAT)
DEBIAN_SCRIPT = "/usr/share/zookeeper/bin/zkServer.sh"
OUR_SCRIPT = os.path.join(ROOT, "bin", "zkServer.sh")
J = "/usr/share/java"
REF_JARS = ["zookeeper", "zookeeper-jute", "slf4j-api", "slf4j-simple", "snappy-java",
            "commons-cli", "jackson-core", "metrics-core", "netty-handler", "netty-transport",
            "netty-common", "netty-buffer", "netty-codec", "netty-resolver",
            "netty-transport-native-epoll", "netty-transport-native-unix-common"]
# what upstream 3.8's zkEnv.sh sets up, from the environment
REF_ZKENV = """\
ZOOCFGDIR="${ZOOCFGDIR:-/etc/zookeeper/conf}"
ZOOCFG="$ZOOCFGDIR/${ZOOCFG:-zoo.cfg}"
ZOO_LOG_DIR="${ZOO_LOG_DIR:-/tmp}"
JAVA=java
CLASSPATH="%s"
SERVER_JVMFLAGS="-Xmx256m -XX:+UseSerialGC -Dzookeeper.admin.enableServer=false $SERVER_JVMFLAGS"
""" % ":".join("%s/%s.jar" % (J, j) for j in REF_JARS if os.path.exists("%s/%s.jar" % (J, j)))
# a user and host for the log file names, the same on both sides
ENV_USER = "compat"


class Fail(Exception):
    pass


def log(msg):
    print("[zkserver] " + msg, file=sys.stderr, flush=True)


class Side:
    """One side's script and nodes: `script` is the zkServer.sh to run, `extra_env` what it
    needs (FERROKEEPER for ours)."""

    def __init__(self, name, root, script, extra_env):
        self.name, self.root, self.script, self.extra_env = name, root, script, extra_env
        self.pids = set()  # of servers started with `start`, stopped by PID at the end

    def node_dir(self, node):
        return os.path.join(self.root, node)

    def env(self, node):
        env = dict(os.environ)
        for k in ("JVMFLAGS", "SERVER_JVMFLAGS", "CLIENT_JVMFLAGS", "ZOOCFG", "ZOOPIDFILE",
                  "ZOO_LOG4J_PROP", "ZOO_LOG_FILE", "JMXDISABLE", "FERROKEEPER"):
            env.pop(k, None)
        env.update(self.extra_env)
        # a test's own CLIENT_JVMFLAGS (status over TLS) is in extra_env
        d = self.node_dir(node)
        env.update(ZOOCFGDIR=os.path.join(d, "conf"), ZOO_LOG_DIR=os.path.join(d, "logs"),
                   USER=ENV_USER)
        return env

    def run(self, node, *args, timeout=60):
        """`zkServer.sh args` for `node`: the transcript lines and the exit status."""
        p = subprocess.run([self.script] + list(args), env=self.env(node),
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=timeout)
        lines = ["$ zkServer.sh %s  [%s]" % (" ".join(args), node)]
        lines += ["out: " + ln for ln in p.stdout.splitlines()]
        lines += ["err: " + ln for ln in p.stderr.splitlines()]
        lines.append("exit %d" % p.returncode)
        self.remember_pid(node)
        return lines, p.returncode

    def pid_file(self, node):
        return os.path.join(self.node_dir(node), "data", "zookeeper_server.pid")

    def remember_pid(self, node):
        try:
            with open(self.pid_file(node)) as f:
                self.pids.add(int(f.read().strip()))
        except (OSError, ValueError):
            pass

    def kill_all(self):
        for pid in self.pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def write_node(side, node, lines, myid=None):
    d = side.node_dir(node)
    for sub in ("conf", "data", "logs"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    with open(os.path.join(d, "conf", "zoo.cfg"), "w") as f:
        f.write("\n".join(["tickTime=1000", "initLimit=10", "syncLimit=5",
                           "dataDir=%s/data" % d, "maxClientCnxns=0",
                           "4lw.commands.whitelist=*", "admin.enableServer=false"]
                          + lines) + "\n")
    if myid is not None:
        with open(os.path.join(d, "data", "myid"), "w") as f:
            f.write("%d\n" % myid)


def wait_mode(port, what, limit=60):
    """Until `srvr` on `port` names a Mode (the server serves)."""
    deadline = time.time() + limit
    while time.time() < deadline:
        try:
            if "Mode:" in four_letter(port, "srvr"):
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise Fail("%s: no Mode from srvr on port %d within %ds" % (what, port, limit))


def wait_gone(port, limit=30):
    """Until nothing accepts on `port`."""
    deadline = time.time() + limit
    while time.time() < deadline:
        try:
            four_letter(port, "srvr", timeout=1)
        except OSError:
            return
        time.sleep(0.3)
    raise Fail("port %d still answers %ds after stop" % (port, limit))


PRINT_CMD = re.compile(r'^out: "(?P<prog>[^"]+)" .*-Dzookeeper\.log\.dir="(?P<dir>[^"]*)" '
                       r'.*-Dzookeeper\.log\.file="(?P<file>[^"]*)" .*"(?P<cfg>[^"]+)" '
                       r'> "(?P<out>[^"]+)" 2>&1 < /dev/null$')


def mask(lines, side, ports):
    """Paths under the side's root, the given ports, pids, the version, print-cmd's command
    (its shape: log dir, log file, config, .out file) masked."""
    out = []
    for line in lines:
        m = PRINT_CMD.match(line)
        if m:
            line = "out: <program> log.dir=%s log.file=%s config=%s > %s" % (
                m["dir"], m["file"], m["cfg"], m["out"])
        elif line.startswith("out: \""):
            line = "out: print-cmd of an unknown shape: " + line
        line = line.replace(side.script, "<script>").replace(side.root, "<SIDE>")
        for name, port in ports.items():
            line = re.sub(r"\b%d\b" % port, "<%s>" % name, line)
        line = re.sub(r"already running as process \d+\.", "already running as process <pid>.", line)
        line = re.sub(r"Apache ZooKeeper, version \S+.*", "Apache ZooKeeper, version <v>", line)
        out.append(line)
    return out


# --- scenarios ------------------------------------------------------------------------------

def standalone(side):
    """start, start again, status, print-cmd, version, stop, status and stop when stopped."""
    port = free_port()
    write_node(side, "solo", ["clientPort=%d" % port, "clientPortAddress=127.0.0.1"])
    t = []
    lines, code = side.run("solo", "start")
    t += lines
    if code == 0:
        wait_mode(port, side.name)
    for args in (["start"], ["status"], ["print-cmd"], ["version"], ["stop"]):
        t += side.run("solo", *args)[0]
    wait_gone(port)
    for args in (["status"], ["stop"], ["bogus"]):
        t += side.run("solo", *args)[0]
    problems = []
    if side.script == OUR_SCRIPT:
        # the log of `start` is the rolling file named as 3.8 names it, in ZOO_LOG_DIR
        logs = os.path.join(side.node_dir("solo"), "logs")
        name = "zookeeper-%s-server-%s.log" % (ENV_USER, os.uname().nodename)
        try:
            with open(os.path.join(logs, name)) as f:
                text = f.read()
        except OSError as e:
            problems.append("no log file %s (%s); logs/ has %s" % (name, e, os.listdir(logs)))
        else:
            if not re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} \[myid:\] - INFO  \[", text, re.M):
                problems.append("%s has no line in 3.8's pattern:\n%s" % (name, text[:500]))
            if "Snapshotting: 0x0 to " not in text:
                problems.append("%s lacks 3.8's 'Snapshotting: 0x0 to' line" % name)
    return mask(t, side, {"client": port}), problems


def ensemble(side):
    """Three nodes started with `start`; each one's status (node 3 has no clientPort line:
    its client port is in its server.3 line, as 3.8's status finds it); the modes; stop."""
    client = [free_port() for _ in range(3)]
    quorum = [(free_port(), free_port()) for _ in range(3)]
    servers = []
    for i in range(3):
        line = "server.%d=127.0.0.1:%d:%d" % (i + 1, quorum[i][0], quorum[i][1])
        if i == 2:
            line += ";127.0.0.1:%d" % client[i]
        servers.append(line)
    for i in range(3):
        own = [] if i == 2 else ["clientPort=%d" % client[i], "clientPortAddress=127.0.0.1"]
        write_node(side, "n%d" % (i + 1), own + servers, myid=i + 1)
    t = []
    for i in range(3):
        t += side.run("n%d" % (i + 1), "start")[0]
    for i in range(3):
        wait_mode(client[i], "%s n%d" % (side.name, i + 1))
    modes = []
    for i in range(3):
        lines, code = side.run("n%d" % (i + 1), "status")
        # which node leads is the election's timing: the mode is kept aside, sorted below
        for ln in lines:
            if ln.startswith("out: Mode: "):
                modes.append(ln[len("out: Mode: "):])
            else:
                t.append(ln)
    t.append("modes: " + ",".join(sorted(modes)))
    for i in range(3):
        t += side.run("n%d" % (i + 1), "stop")[0]
    for i in range(3):
        wait_gone(client[i])
    t += side.run("n3", "status")[0]
    ports = {"client%d" % (i + 1): client[i] for i in range(3)}
    problems = []
    if side.script == OUR_SCRIPT:
        # each node's log file: the state lines operators grep for, in 3.8's words and with
        # the node's myid (LOOKING, then LEADING or FOLLOWING as status said)
        name = "zookeeper-%s-server-%s.log" % (ENV_USER, os.uname().nodename)
        leaders = 0
        for i in range(3):
            path = os.path.join(side.node_dir("n%d" % (i + 1)), "logs", name)
            try:
                with open(path) as f:
                    text = f.read()
            except OSError as e:
                problems.append("n%d: no log file (%s)" % (i + 1, e))
                continue
            # (the config's own warnings come before the id is known: `[myid:]`, as in 3.8)
            states = re.findall(r"^.* - (?:LOOKING|LEADING|FOLLOWING).*$", text, re.M)
            stray = [ln for ln in states if "[myid:%d] - " % (i + 1) not in ln]
            if stray:
                problems.append("n%d: a state line without [myid:%d]: %r" % (i + 1, i + 1, stray[0]))
            if " - LOOKING" not in text:
                problems.append("n%d: no LOOKING line" % (i + 1))
            if " - LEADING" in text:
                leaders += 1
            elif " - FOLLOWING" not in text:
                problems.append("n%d: neither LEADING nor FOLLOWING" % (i + 1))
        if leaders != 1:
            problems.append("%d logs say LEADING, not 1" % leaders)
    return mask(t, side, ports), problems


def foreground(side):
    """A systemd unit's `ExecStart=<dir>/zkServer.sh start-foreground`, run directly: the
    script's process becomes the server (exec), serves, and SIGTERM stops it."""
    port = free_port()
    write_node(side, "fg", ["clientPort=%d" % port, "clientPortAddress=127.0.0.1"])
    out_path = os.path.join(side.node_dir("fg"), "foreground.out")
    with open(out_path, "w") as out:
        p = subprocess.Popen([side.script, "start-foreground"], env=side.env("fg"),
                             stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                             start_new_session=True)
    t = ["$ zkServer.sh start-foreground"]
    try:
        wait_mode(port, side.name)
        with open("/proc/%d/cmdline" % p.pid, "rb") as f:
            argv0 = os.path.basename(f.read().split(b"\0")[0].decode())
        t.append("the started pid runs: %s" % ("the server" if argv0 in ("java", "ferrokeeper")
                                                else "a shell: " + argv0))
        t.append("srvr: " + ("Mode: standalone" if "Mode: standalone" in four_letter(port, "srvr")
                             else "no standalone Mode"))
        p.send_signal(signal.SIGTERM)
        try:
            code = p.wait(timeout=30)
            # the JVM exits 143 on SIGTERM, ferrokeeper 0 after its orderly shutdown: both
            # are a clean stop to systemd (ZooKeeper units list 143 in SuccessExitStatus)
            t.append("SIGTERM: stopped, %s" % ("cleanly" if code in (0, 143) else "exit %d" % code))
        except subprocess.TimeoutExpired:
            t.append("SIGTERM: still running after 30 s")
        wait_gone(port)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    with open(out_path) as f:
        head = [ln for ln in f.read().splitlines()
                if ln.startswith(("ZooKeeper JMX", "Using config:"))]
    t += ["out: " + ln for ln in head]
    return mask(t, side, {"client": port}), []


def status_tls(side):
    """A server with only a secureClientPort: status finds it, says Client SSL: true and asks
    srvr over TLS with the client key and trust stores of CLIENT_JVMFLAGS (PKCS12 and JKS);
    without them it fails with 3.8's note."""
    from pki import make_pki
    pki = make_pki(os.path.join(os.path.dirname(side.root), "pki"))
    secure = free_port()
    trust_p12 = pki.trust("p12")
    server_pem = os.path.join(pki.dir, "server-plainkey.pem")
    with open(server_pem, "wb") as out:
        # key unencrypted: 3.8.0's PemReader on Java 17 cannot decrypt openssl's PBES2 keys
        for part in ("server.key", "server.crt", "ca.pem"):
            with open(os.path.join(pki.dir, part), "rb") as f:
                out.write(f.read())
    write_node(side, "tls", [
        "secureClientPort=%d" % secure, "secureClientPortAddress=127.0.0.1",
        "serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory",
        "ssl.keyStore.location=" + server_pem,
        "ssl.trustStore.location=" + trust_p12.path,
        "ssl.trustStore.password=" + trust_p12.password])
    alice, trust = pki.client("alice", "p12"), pki.trust("jks")
    flags = " ".join([
        "-Dzookeeper.ssl.keyStore.location=" + alice.path,
        "-Dzookeeper.ssl.keyStore.password=" + alice.password,
        "-Dzookeeper.ssl.trustStore.location=" + trust.path,
        "-Dzookeeper.ssl.trustStore.password=" + trust.password])
    t = side.run("tls", "start")[0]
    side.extra_env["CLIENT_JVMFLAGS"] = flags
    try:
        # no plaintext port to poll: status itself, until it answers (bounded)
        deadline = time.time() + 60
        while True:
            lines, code = side.run("tls", "status")
            if code == 0 or time.time() > deadline:
                break
            time.sleep(1)
        t += lines
    finally:
        del side.extra_env["CLIENT_JVMFLAGS"]
    t += side.run("tls", "status")[0]
    t += side.run("tls", "stop")[0]
    return mask(t, side, {"secure": secure}), []


SCENARIOS = {"standalone": standalone, "ensemble": ensemble, "foreground": foreground,
             "status_tls": status_tls}


def make_sides(work, ferro, control):
    """The reference's side (Debian's script through a symlink beside our zkEnv.sh) and the
    candidate's (our script and binary; with the control run, the reference's again)."""
    refbin = os.path.join(work, "refbin")
    if not os.path.isdir(refbin):
        os.makedirs(refbin)
        os.symlink(DEBIAN_SCRIPT, os.path.join(refbin, "zkServer.sh"))
        with open(os.path.join(refbin, "zkEnv.sh"), "w") as f:
            f.write(REF_ZKENV)
    ref_script = os.path.join(refbin, "zkServer.sh")
    ref = Side("ref", os.path.join(work, "ref"), ref_script, {})
    if control:
        cand = Side("cand", os.path.join(work, "cand"), ref_script, {})
    else:
        cand = Side("cand", os.path.join(work, "cand"), OUR_SCRIPT,
                    {"FERROKEEPER": os.path.abspath(ferro)})
    return ref, cand


def main():
    argv = sys.argv[1:]
    if argv[:1] == ["--list"]:
        for n in SCENARIOS:
            print(n)
        return 0
    args = side_args(argv, [], "zkserver.py --ferro '<ferrokeeper binary>' SCENARIO...")
    if args is None:
        return 2
    cmds, names = args
    control = os.path.basename(cmds["ferro"][0]) == "zk-reference"
    work = scratch_dir("zkserver.", env="DATADIR_TMP")
    failed = 0
    try:
        for name in names:
            t0 = time.time()
            sub = os.path.join(work, name)
            os.makedirs(sub)
            ref, cand = make_sides(sub, cmds["ferro"][0], control)
            try:
                r, r_problems = SCENARIOS[name](ref)
                c, c_problems = SCENARIOS[name](cand)
                problems = ["(reference) " + p for p in r_problems] + \
                           ["(candidate) " + p for p in c_problems]
                if os.environ.get("ZKSERVER_SHOW"):
                    log("reference transcript:\n  " + "\n  ".join(r))
                if not report("zkserver_" + name, r, c, problems):
                    failed += 1
            except Exception as e:
                failed += 1
                print_fail("zkserver_" + name, e, Fail)
            finally:
                ref.kill_all()
                cand.kill_all()
            log("%s: %.1fs" % (name, time.time() - t0))
    finally:
        remove_unless_kept(work, log)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
