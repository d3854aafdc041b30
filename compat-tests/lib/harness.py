"""What the compat drivers share: command lines, temp dirs, a server on its own zoo.cfg,
zkCli.sh and Curator runs, masked side-by-side comparison.

A driver puts compat-tests/lib on sys.path and imports what it needs. Every wait here is
bounded; every process started here is stopped by PID; only 127.0.0.1.
"""
import difflib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

LIB = os.path.dirname(os.path.abspath(__file__))
COMPAT = os.path.dirname(LIB)
PY = "/usr/bin/python3"  # Debian's, with kazoo and pure-sasl
J = "/usr/share/java"
ZKCLI = "/usr/share/zookeeper/bin/zkCli.sh"
ZK_REFERENCE = os.path.join(LIB, "zk-reference")
# a Java client of Debian's zookeeper.jar: its manifest lacks netty-codec/-resolver/
# -unix-common, which the Netty client socket needs
CLIENT_JARS = ["zookeeper", "zookeeper-jute", "netty-handler", "netty-transport", "netty-common",
               "netty-buffer", "netty-codec", "netty-resolver", "netty-transport-native-epoll",
               "netty-transport-native-unix-common", "slf4j-api", "slf4j-nop", "commons-io",
               "metrics-core", "snappy-java"]
CURATOR_JARS = ["curator-recipes", "curator-framework", "curator-client", "guava",
                "failureaccess"]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def java_cp(jars=CLIENT_JARS):
    return ":".join("%s/%s.jar" % (J, j) for j in jars if os.path.exists("%s/%s.jar" % (J, j)))


def side_args(argv, ref_cmd, usage):
    """`--ferro CMD` and `--ref CMD` (each split on spaces) and the other words, in order:
    ({"ref": ..., "ferro": ...}, names). None, after printing `usage`, without --ferro."""
    cmds, names = {"ref": ref_cmd}, []
    argv = list(argv)
    while argv:
        a = argv.pop(0)
        if a in ("--ferro", "--ref"):
            cmds[a[2:]] = argv.pop(0).split()
        else:
            names.append(a)
    if "ferro" not in cmds:
        print("usage: " + usage, file=sys.stderr)
        return None
    return cmds, names


def scratch_dir(prefix, env="ENSEMBLE_TMP"):
    """A fresh temp dir under $`env` (else the system's)."""
    return tempfile.mkdtemp(prefix=prefix, dir=os.environ.get(env) or None)


def remove_unless_kept(path, say=None):
    """Remove the run's temp dir, or keep it and say so with KEEP_TMP=1."""
    if os.environ.get("KEEP_TMP"):
        (say or (lambda m: print(m, file=sys.stderr)))("kept %s" % path)
    else:
        shutil.rmtree(path, ignore_errors=True)


def print_fail(name, e, expected=()):
    """The driver's FAIL line for `name`, then why, indented: the message of an `expected`
    exception (a check that failed), else the traceback of the unexpected one."""
    import traceback
    msg = str(e) if isinstance(e, expected) else traceback.format_exc()
    print("FAIL %s" % name, flush=True)
    for ln in msg.rstrip().splitlines():
        print("    " + ln, flush=True)


def kill_all(procs):
    """Kill (by PID) every process of `procs` still running, each waited for at most 10 s."""
    for p in procs:
        if p.poll() is None:
            p.kill()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass


def four_letter(port, cmd, timeout=2, host="127.0.0.1"):
    """A four-letter word's whole answer (the server closes when done)."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(cmd.encode())
        chunks = []
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
    return b"".join(chunks).decode(errors="replace")


class Server:
    """One server process (reference or candidate) started on dir/zoo.cfg: a standalone
    server on a free client port of 127.0.0.1, four-letter words allowed, no AdminServer,
    plus `extra` zoo.cfg lines. Its output goes to dir/server.log."""

    def __init__(self, name, cmd, d, extra=(), env=None):
        self.name, self.dir = name, d
        self.port = free_port()
        os.makedirs(os.path.join(d, "data"), exist_ok=True)
        cfg = os.path.join(d, "zoo.cfg")
        with open(cfg, "w") as f:
            f.write("\n".join([
                "tickTime=2000", "initLimit=10", "syncLimit=5", "dataDir=%s/data" % d,
                "clientPort=%d" % self.port, "clientPortAddress=127.0.0.1", "maxClientCnxns=0",
                "4lw.commands.whitelist=*", "admin.enableServer=false"] + list(extra)) + "\n")
        self.log = open(os.path.join(d, "server.log"), "w")
        self.proc = subprocess.Popen(cmd + [cfg], stdout=self.log, stderr=subprocess.STDOUT,
                                     env=env, start_new_session=True)

    def wait_up(self, limit=60, more_ports=()):
        """Until `srvr` names a Mode (serving, not just listening: 3.8 accepts before its
        ZooKeeperServer runs), then until each of `more_ports` accepts connections."""
        deadline = time.time() + limit
        while "Mode:" not in self._srvr():
            if self.proc.poll() is not None:
                raise RuntimeError("%s server exited (%s)" % (self.name, self.proc.returncode))
            if time.time() > deadline:
                raise RuntimeError("%s server: not serving on port %d within %ds"
                                   % (self.name, self.port, limit))
            time.sleep(0.3)
        for port in more_ports:
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.time() > deadline:
                        raise RuntimeError("%s server: port %d never opened" % (self.name, port))
                    time.sleep(0.3)

    def _srvr(self):
        try:
            return four_letter(self.port, "srvr")
        except OSError:
            return ""

    def log_tail(self, n=5):
        try:
            with open(os.path.join(self.dir, "server.log")) as f:
                return " | ".join(f.read().splitlines()[-n:])
        except OSError:
            return ""

    def stop(self):
        """SIGTERM by PID, SIGKILL after 10 s."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def zkcli_script(port, raw, script, env, title):
    """lib/zkcli.py runs `script` (a .zk file) with zkCli.sh against 127.0.0.1:`port` in
    `env`; its transcript (raw/zkcli_<script name>.raw), headed by `title`."""
    subprocess.run([PY, os.path.join(LIB, "zkcli.py"), "127.0.0.1:%d" % port, raw, script],
                   env=env, timeout=300, check=False)
    name = "zkcli_" + os.path.basename(script)[:-len(".zk")]
    lines = ["### " + title]
    try:
        with open(os.path.join(raw, name + ".raw")) as f:
            lines.extend(f.read().splitlines())
    except OSError:
        lines.append("!! no zkCli transcript for %s" % name)
    return lines


ZKCLI_NOISE = ("SLF4J", "Connecting to ", "Welcome to ZooKeeper", "JLine support", "WATCHER::")


def paced_zkcli(port, jaas, cmds, pause=0.8, flags=(), base_env=None):
    """One zkCli.sh process, commands fed one by one (zkCli runs them as they arrive, and
    the SASL outcome must be known before the first); the output without banners and
    stack frames. `jaas` is the client's JAAS file (or None), `flags` more CLIENT_JVMFLAGS,
    `base_env` the environment to start from (Kerberos: the KDC's)."""
    env = dict(os.environ if base_env is None else base_env)
    env.pop("JVMFLAGS", None)
    env["CLIENT_JVMFLAGS"] = " ".join(
        (["-Djava.security.auth.login.config=%s" % jaas] if jaas else []) + list(flags))
    proc = subprocess.Popen([ZKCLI, "-server", "127.0.0.1:%d" % port], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env, start_new_session=True)
    try:
        time.sleep(2.5)
        for cmd in cmds + ["quit"]:
            proc.stdin.write(cmd + "\n")
            proc.stdin.flush()
            time.sleep(pause)
        out, _ = proc.communicate(timeout=60)
    except (subprocess.TimeoutExpired, BrokenPipeError):
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        out = (out or "") + "\n!! zkCli did not finish\n"
    lines, states = [], set()
    for line in out.splitlines():
        s = line.strip()
        if not s or s.startswith("at ") or s.startswith("...") or any(n in line for n in ZKCLI_NOISE):
            continue
        # How often a refused client reconnects before `quit` is timing (the reference itself
        # printed one Disconnected or two under load); which connection states the session
        # passed through is the server's behaviour, so each is kept once, in first-seen order.
        if s.startswith("WatchedEvent state:") and "type:None" in s:
            if s in states:
                continue
            states.add(s)
        lines.append(line)
    return lines


def curator(cls, marker, args, err_path, jvm_flags=()):
    """Runs compat-tests/curator/`cls` (compiled by compat-tests/run's compile_curator) and
    returns what it printed between ##BEGIN `marker` and ##END `marker`."""
    cp = os.path.join(COMPAT, "out", "curator") + ":" + java_cp(CLIENT_JARS + CURATOR_JARS)
    with open(err_path, "w") as err:
        out = subprocess.run(["java"] + list(jvm_flags) + ["-cp", cp, cls] + list(args),
                             stdout=subprocess.PIPE, stderr=err, timeout=300, check=False,
                             text=True)
    lines = out.stdout.splitlines()
    if "##BEGIN " + marker in lines:
        lines = lines[lines.index("##BEGIN " + marker) + 1:]
    if "##END " + marker in lines:
        lines = lines[:lines.index("##END " + marker)]
    else:
        lines.append("!! driver ended before ##END")
    return lines


def masked(kind, lines):
    """`lines` through lib/mask.py's masks for `kind` (zkcli, kazoo, curator, ...)."""
    r = subprocess.run([PY, os.path.join(LIB, "mask.py"), kind],
                       input="\n".join(lines) + "\n", stdout=subprocess.PIPE, text=True,
                       timeout=60, check=True)
    return r.stdout.splitlines()


def write_lines(path, lines):
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def harness_errors(lines):
    """The lines of a transcript that say the harness, not the server, went wrong."""
    return [line for line in lines if line.startswith("!! ") or line.startswith("EXCEPTION")]


def report(label, ref, cand, problems=None):
    """PASS `label` when the masked transcripts are equal, the reference's is not empty and
    there are no problems (by default: the reference's harness errors); else FAIL with a
    unified diff and the problems. True on PASS."""
    if problems is None:
        problems = ["(reference) " + line for line in harness_errors(ref)]
    ok = ref == cand and not problems and bool(ref)
    print(("PASS " if ok else "FAIL ") + label)
    if not ok:
        for line in difflib.unified_diff(ref, cand, "reference/" + label, "candidate/" + label,
                                         lineterm=""):
            print("    " + line)
        for line in problems:
            print("    " + line)
    sys.stdout.flush()
    return ok


def kazoo_result(fn, *a, **kw):
    """A kazoo call's outcome as a transcript line: `ok <value>` (an async result waited for
    up to 10 s, a (data, ZnodeStat) pair shown with the version only) or `error <class>`."""
    try:
        r = fn(*a, **kw)
        if hasattr(r, "get") and hasattr(r, "rawlink"):
            r = r.get(timeout=10)
        if isinstance(r, tuple) and len(r) == 2 and hasattr(r[1], "version"):
            r = (r[0], "version=%d" % r[1].version)
        return "ok %r" % (r,)
    except Exception as e:
        return "error %s" % type(e).__name__


def session_outcome(c, settle=False):
    """Starts kazoo client `c` and says how its session began. kazoo reports CONNECTED
    before its SASL exchange, so start() races the exchange's failure; the outcome is read
    from the first request instead (it waits for the exchange), or from the AUTH_FAILED
    state. With `settle`, a first request that fails otherwise waits up to 5 s for the
    states to say the session ended."""
    from kazoo.exceptions import AuthFailedError
    from kazoo.protocol.states import KeeperState
    # the states the connection thread reports (CLOSED is also where a client starts)
    seen = []
    report_state = c._session_callback

    def record(state):
        seen.append(state)
        report_state(state)

    def ended():
        # AUTH_FAILED is followed by CLOSED at once: either means the session ended
        return KeeperState.AUTH_FAILED in seen or KeeperState.CLOSED in seen

    c._session_callback = record
    c.start_async()
    deadline = time.time() + 20
    while time.time() < deadline:
        if ended():
            return "ended before any request"
        if c.connected:
            try:
                c.exists_async("/").get(timeout=10)
                return "connected"
            except AuthFailedError:
                return "auth failed"
            except Exception as e:
                outcome = "first request: %s" % type(e).__name__
            if settle:
                until = time.time() + 5
                while time.time() < until:
                    if ended():
                        return "ended before any request"
                    time.sleep(0.05)
            return outcome
        time.sleep(0.05)
    return "no session within 20 s"
