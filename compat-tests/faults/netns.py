"""Network partitions for ensemble nodes: one network namespace per node, joined by a bridge.

Each node runs inside its own namespace (`ip netns exec`) with one veth leg on a bridge in
the root namespace, where the test driver and its clients live. Cutting a node off is
`ip link set <its host-side veth> down` — peers and clients lose it at once, as with a
pulled cable — and healing is `up`. The addresses are the project's own test hosts on a
/24 that exists only on this bridge (nothing is routed anywhere else). Everything created
here is removed by `teardown` (also at exit); names carry the run's PID, so runs side by side
keep apart and a later run removes what a killed one left.

Where namespaces cannot be made (not root, no `ip`), `available()` says why and the matrix
runs every node on 127.0.0.1 and skips the partition fault.
"""

import atexit
import os
import re
import shutil
import subprocess

PREFIX = "fkf"  # every namespace / link this module creates: fkf<pid of the run>...
RUN = f"{PREFIX}{os.getpid()}"
SUBNET = f"10.231.{os.getpid() % 250}"  # bridge .1, node sid at .(10 + sid); one per run


def _ip(*args, check=True):
    p = subprocess.run(["ip", *args], stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=20)
    if check and p.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {p.stderr.decode(errors='replace').strip()}")
    return p


def available():
    """None when namespaces can be used here, else the reason they cannot."""
    if shutil.which("ip") is None:
        return "no `ip` command (iproute2)"
    if os.geteuid() != 0:
        return "not root: cannot create network namespaces"
    probe = f"{PREFIX}probe{os.getpid()}"
    try:
        _ip("netns", "add", probe)
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
        return f"cannot create a network namespace: {e}"
    _ip("netns", "del", probe, check=False)
    return None


def _dead(name):
    """A name of this module's made by a run that is no longer alive (killed before its
    teardown); a run still going keeps its own."""
    m = re.match(PREFIX + r"(\d+)", name)
    if not m:
        return False
    try:
        os.kill(int(m.group(1)), 0)
        return False
    except ProcessLookupError:
        return True
    except PermissionError:
        return False


def _leftovers():
    """Namespaces and links of earlier runs of this module that were killed."""
    out = _ip("-o", "link", "show", check=False).stdout.decode(errors="replace")
    for line in out.splitlines():
        parts = line.split(":")
        if len(parts) > 1:
            name = parts[1].strip().split("@")[0]
            if _dead(name):
                _ip("link", "del", name, check=False)
    ns = _ip("netns", "list", check=False).stdout.decode(errors="replace")
    for line in ns.splitlines():
        name = line.split()[0] if line.split() else ""
        if _dead(name):
            _ip("netns", "del", name, check=False)


class Net:
    """The bridge and one namespace per node sid."""

    def __init__(self):
        _leftovers()
        self.bridge = f"{RUN}br"
        self.sids = []
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("addr", "add", f"{SUBNET}.1/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        atexit.register(self.teardown)

    @staticmethod
    def ns(sid):
        return f"{RUN}n{sid}"

    @staticmethod
    def veth(sid):
        return f"{RUN}v{sid}"

    @staticmethod
    def host(sid):
        return f"{SUBNET}.{10 + sid}"

    def add(self, sid):
        """A namespace for node sid, reachable at host(sid); returns (host, wrap)."""
        ns, veth = self.ns(sid), self.veth(sid)
        _ip("netns", "add", ns)
        _ip("link", "add", veth, "type", "veth", "peer", "name", f"{veth}p")
        _ip("link", "set", f"{veth}p", "netns", ns)
        _ip("link", "set", veth, "master", self.bridge)
        _ip("link", "set", veth, "up")
        _ip("-n", ns, "link", "set", "lo", "up")
        _ip("-n", ns, "link", "set", f"{veth}p", "name", "eth0")
        _ip("-n", ns, "addr", "add", f"{self.host(sid)}/24", "dev", "eth0")
        _ip("-n", ns, "link", "set", "eth0", "up")
        self.sids.append(sid)
        return self.host(sid), ["ip", "netns", "exec", ns]

    def place(self, sid):
        """For cluster.Ensemble(place=...): the namespace of sid, made on first use."""
        if sid not in self.sids:
            return self.add(sid)
        return self.host(sid), ["ip", "netns", "exec", self.ns(sid)]

    def cut(self, sid):
        _ip("link", "set", self.veth(sid), "down")

    def heal(self, sid):
        _ip("link", "set", self.veth(sid), "up")

    def reset(self):
        """Every node connected again (after a failed cell)."""
        for sid in self.sids:
            _ip("link", "set", self.veth(sid), "up", check=False)

    def teardown(self):
        for sid in self.sids:
            _ip("link", "del", self.veth(sid), check=False)
            _ip("netns", "del", self.ns(sid), check=False)
        self.sids = []
        _ip("link", "del", self.bridge, check=False)
