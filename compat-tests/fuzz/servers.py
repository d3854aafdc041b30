"""Server processes for the fuzzer: the reference and the candidate, side by side.

Each server gets its own temp dir (zoo.cfg, data/, server.log) and a free
127.0.0.1 port, and is stopped by PID — on success, on exceptions, at exit and
on SIGINT/SIGTERM (every Popen is registered in RUNNING). Temp dirs are removed
unless KEEP_TMP=1.

zoo.cfg is compat-tests/run's `write_cfg` (extendedTypesEnabled=true already
in it) plus two lines the fuzzer needs:

* `DigestAuthenticationProvider.superDigest` — the final tree is read as the
  super user (the reference turns the unknown key into the
  `zookeeper.DigestAuthenticationProvider.superDigest` property it reads);
* `znode.container.checkIntervalMs=3600000` — the ContainerManager deletes
  empty containers and expired TTL nodes on a timer, at a moment unrelated to
  the op sequence, so it is pushed past any run. ferrokeeper reads the key from
  zoo.cfg; 3.8 reads it only as a JVM property, so the reference also gets
  `-Dznode.container.checkIntervalMs=3600000` through JAVA_TOOL_OPTIONS.
"""

import atexit
import base64
import hashlib
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REF_CMD = os.path.join(os.path.dirname(HERE), "lib", "zk-reference")
SUPER = ("super", "superpw")
CONTAINER_INTERVAL_MS = 3600000
RUNNING = []          # every Popen we started and have not reaped
TMPDIRS = []
_used_ports = set()


def digest_id(user, pw):
    """The `digest` scheme id of user:pw (`DigestAuthenticationProvider.generateDigest`)."""
    h = base64.b64encode(hashlib.sha1(f"{user}:{pw}".encode()).digest()).decode()
    return f"{user}:{h}"


def free_port():
    """A port the OS just handed out and this process never handed out before."""
    for _ in range(100):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        if port not in _used_ports:
            _used_ports.add(port)
            return port
    raise RuntimeError("no fresh free port")


def make_tmp(prefix):
    d = tempfile.mkdtemp(prefix=prefix)
    TMPDIRS.append(d)
    return d


def four_letter(port, word, timeout=2.0):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(word.encode())
        out = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            b = s.recv(4096)
            if not b:
                break
            out += b
        return out.decode("utf-8", "replace")


class ServerError(Exception):
    """A server did not come up: `what` is a short stable reason, the message the details."""

    def __init__(self, server, what, detail):
        super().__init__(f"{server} {what}\n{detail}")
        self.what = f"{'reference' if server == 'ref' else 'ferrokeeper'} {what}"


class Server:
    """One server process; `start()` / `stop(how)` keep the port and the dataDir."""

    def __init__(self, name, cmd, root):
        self.name, self.cmd = name, list(cmd)
        self.dir = os.path.join(root, name)
        os.makedirs(os.path.join(self.dir, "data"), exist_ok=True)
        self.cfg = os.path.join(self.dir, "zoo.cfg")
        self.logf = os.path.join(self.dir, "server.log")
        self.proc = None
        self.move_port()

    def move_port(self):
        """(Re)write zoo.cfg for a fresh port."""
        self.port = free_port()
        with open(self.cfg, "w") as f:
            f.write(f"""tickTime=2000
initLimit=10
syncLimit=5
dataDir={self.dir}/data
clientPort={self.port}
clientPortAddress=127.0.0.1
maxClientCnxns=0
minSessionTimeout=4000
maxSessionTimeout=40000
4lw.commands.whitelist=*
extendedTypesEnabled=true
admin.enableServer=false
DigestAuthenticationProvider.superDigest={digest_id(*SUPER)}
znode.container.checkIntervalMs={CONTAINER_INTERVAL_MS}
""")

    def spawn(self):
        env = dict(os.environ)
        env["JAVA_TOOL_OPTIONS"] = (env.get("JAVA_TOOL_OPTIONS", "") +
                                    f" -Dznode.container.checkIntervalMs={CONTAINER_INTERVAL_MS}")
        with open(self.logf, "ab") as out:
            self.proc = subprocess.Popen(self.cmd + [self.cfg], stdout=out, stderr=out,
                                         stdin=subprocess.DEVNULL, env=env)
        RUNNING.append(self.proc)

    def wait_ready(self, limit=60):
        """Bounded wait until `srvr` reports a Zxid (the data is loaded)."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerError(self.name, "exited at start-up",
                                  f"status {self.proc.returncode}\n{self.log_tail()}")
            try:
                if "Zxid: 0x" in four_letter(self.port, "srvr", 1.0):
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise ServerError(self.name, "did not start",
                          f"no answer on port {self.port} within {limit}s\n{self.log_tail()}")

    def start(self):
        self.spawn()
        self.wait_ready()

    def stop(self, how="term"):
        """SIGTERM (SIGKILL after 20 s) or SIGKILL at once; always reaps the PID."""
        p = self.proc
        if p is None:
            return
        if p.poll() is None:
            p.send_signal(signal.SIGKILL if how == "kill" else signal.SIGTERM)
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)
        if p in RUNNING:
            RUNNING.remove(p)
        self.proc = None

    def log_tail(self, n=20):
        try:
            with open(self.logf, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
            return "\n".join(lines[-n:])
        except OSError:
            return ""


class Pair:
    """The reference and the candidate on fresh ports and fresh temp dirs."""

    def __init__(self, ferro_cmd, ref_cmd):
        self.root = make_tmp("ferro-fuzz.")
        self.ref = Server("ref", shlex.split(ref_cmd), self.root)
        self.fer = Server("ferro", shlex.split(ferro_cmd), self.root)
        self.ref.spawn()
        self.fer.spawn()

    def wait_ready(self, retries=0):
        """Wait for both; a server that exits at start-up gets `retries` more tries on a
        new port (another process may take a free port before the server binds it)."""
        for s in self.servers():
            for attempt in range(retries + 1):
                try:
                    s.wait_ready()
                    break
                except ServerError:
                    if attempt == retries:
                        raise
                    s.stop("kill")
                    s.move_port()
                    s.spawn()

    def servers(self):
        return (self.ref, self.fer)

    def stop(self, how="term"):
        """Stop both at once (the JVM's exit is the slow part)."""
        threads = [threading.Thread(target=s.stop, args=(how,)) for s in self.servers()]
        for t in threads:
            t.start()
        for t in threads:
            t.join(40)

    def restart(self, how):
        self.stop(how)
        for s in self.servers():
            s.spawn()
        self.wait_ready()

    def dispose(self):
        self.stop("kill")
        remove_tmp(self.root)


class Pool:
    """Keeps one fresh pair starting in the background, so the next run or shrink
    attempt does not wait for a JVM from scratch."""

    def __init__(self, ferro_cmd, ref_cmd):
        self.ferro_cmd, self.ref_cmd = ferro_cmd, ref_cmd
        self.spare = None

    def get(self):
        pair = self.spare or Pair(self.ferro_cmd, self.ref_cmd)
        self.spare = None
        try:
            pair.wait_ready(retries=2)
        except ServerError:
            pair.dispose()
            raise
        return pair

    def prepare(self):
        if self.spare is None:
            self.spare = Pair(self.ferro_cmd, self.ref_cmd)

    def close(self):
        if self.spare is not None:
            self.spare.dispose()
            self.spare = None


def remove_tmp(path):
    if os.environ.get("KEEP_TMP"):
        return
    shutil.rmtree(path, ignore_errors=True)
    if path in TMPDIRS:
        TMPDIRS.remove(path)


def cleanup():
    for p in list(RUNNING):
        if p.poll() is None:
            try:
                p.kill()
            except OSError:
                pass
    for p in list(RUNNING):
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
    RUNNING.clear()
    if not os.environ.get("KEEP_TMP"):
        for d in list(TMPDIRS):
            shutil.rmtree(d, ignore_errors=True)
        TMPDIRS.clear()
    elif TMPDIRS:
        print(f"[fuzz] KEEP_TMP: kept {' '.join(TMPDIRS)}", file=sys.stderr)


def _on_signal(signum, _frame):
    cleanup()
    sys.exit(128 + signum)


def install_cleanup():
    atexit.register(cleanup)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
