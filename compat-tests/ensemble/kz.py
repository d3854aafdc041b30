"""kazoo helpers for the ensemble checks: one-node clients, tree dumps, convergence."""

import logging
import threading
import time

from kazoo.client import KazooClient
from kazoo.exceptions import (ConnectionLoss, NodeExistsError, NoNodeError, OperationTimeoutError,
                              SessionExpiredError)
from kazoo.handlers.threading import KazooTimeoutError

from cluster import Fail, wait_until

logging.getLogger("kazoo").setLevel(logging.CRITICAL)  # reconnect chatter
WAIT = 20
RETRYABLE = (ConnectionLoss, SessionExpiredError, OperationTimeoutError, KazooTimeoutError)


def client(nodes, timeout=10.0, start_timeout=20):
    """A client of the given node(s) only, tried in the given order."""
    nodes = nodes if isinstance(nodes, list) else [nodes]
    zk = KazooClient(hosts=",".join(n.hp for n in nodes), timeout=timeout,
                     randomize_hosts=False)
    try:
        zk.start(timeout=start_timeout)
    except Exception as e:
        close(zk)
        raise Fail(f"kazoo could not connect to {[n.name for n in nodes]} within "
                   f"{start_timeout}s: {e!r}") from None
    return zk


def close(zk):
    try:
        zk.stop()
    except Exception:
        pass
    try:
        zk.close()
    except Exception:
        pass


def synced(zk, path="/"):
    zk.sync_async(path).get(timeout=WAIT)
    return zk


def dump(zk, root="/"):
    """path -> (data, stat tuple) of the whole tree, read through one connection."""
    out = {}
    frontier = [root]
    while frontier:
        nxt = []
        for i in range(0, len(frontier), 300):
            chunk = frontier[i:i + 300]
            rs = [(p, zk.get_async(p), zk.get_children_async(p)) for p in chunk]
            for p, g, c in rs:
                try:
                    data, stat = g.get(timeout=WAIT)
                    kids = c.get(timeout=WAIT)
                except NoNodeError:
                    continue
                st = tuple(stat)
                if p == "/zookeeper/config":
                    # ctime/mtime are each server's own clock when it loaded its config
                    # (QuorumPeer#setQuorumVerifier): they differ across ZooKeeper nodes too
                    st = st[:2] + (0, 0) + st[4:]
                out[p] = (data, st)
                nxt += [p.rstrip("/") + "/" + k for k in sorted(kids)]
        frontier = nxt
    return out


STAT = ("czxid", "mzxid", "ctime", "mtime", "version", "cversion", "aversion",
        "ephemeralOwner", "dataLength", "numChildren", "pzxid")


def diff(a, b, na, nb, limit=12):
    problems = []
    for p in sorted(set(a) - set(b))[:limit]:
        problems.append(f"{p}: on {na}, missing on {nb}")
    for p in sorted(set(b) - set(a))[:limit]:
        problems.append(f"{p}: on {nb}, not on {na}")
    for p in sorted(set(a) & set(b)):
        if a[p] == b[p]:
            continue
        d = []
        if a[p][0] != b[p][0]:
            d.append(f"data {a[p][0]!r:.40} vs {b[p][0]!r:.40}")
        for f, u, v in zip(STAT, a[p][1], b[p][1]):
            if u != v:
                d.append(f"{f} {u:#x} vs {v:#x}" if "zxid" in f or f == "ephemeralOwner"
                         else f"{f} {u} vs {v}")
        problems.append(f"{p}: {'; '.join(d)}")
        if len(problems) >= limit:
            problems.append("...")
            break
    return problems


def converge(ens, timeout=30):
    """Every running node holds the same tree and, once the clients are gone, the same last
    zxid (srvr). Each node is read through its own client port after a sync that follows a
    final write, so every node must at least have that write."""
    nodes = [n for n in ens.nodes if n.alive() and not n.stopped]
    zk = client(nodes[0])
    try:
        st = zk.set("/ens_converge", b"again") if zk.exists("/ens_converge") \
            else zk.exists(zk.create("/ens_converge", b"x") and "/ens_converge")
        final = st.mzxid
    finally:
        close(zk)
    problems = []
    for attempt in range(2):  # a session expiring between two dumps drops its ephemerals
        problems = []
        dumps = {}
        for n in nodes:
            c = client(n)
            try:
                dumps[n.name] = dump(synced(c))
            finally:
                close(c)
        ref = nodes[0].name
        for n in nodes[1:]:
            d = diff(dumps[ref], dumps[n.name], ref, n.name)
            if d:
                problems.append(f"tree on {n.name} differs from {ref} "
                                f"({len(dumps[ref])} vs {len(dumps[n.name])} znodes):")
                problems += ["  " + x for x in d]
        if not problems:
            break

    def same_zxid():
        zs = {n.name: n.zxid() for n in nodes}
        return zs if len(set(zs.values())) == 1 else False
    try:
        zs = wait_until("the same Zxid in srvr on every node", same_zxid, timeout)
        if list(zs.values())[0] < final:
            problems.append(f"srvr Zxid {zs} is below the final write's zxid {final:#x}")
    except Fail:
        zs = {}
        for n in nodes:
            try:
                zs[n.name] = hex(n.zxid())
            except Exception as e:
                zs[n.name] = repr(e)
        problems.append(f"srvr Zxid differs between nodes for {timeout}s: {zs}")
    return problems


def writers_on_every_node(ens, root):
    """`root` made, then a Writer per node: through that node first, the others after it."""
    zk = client(ens.leader())
    try:
        zk.ensure_path(root)
    finally:
        close(zk)
    return [Writer(k, [n] + [m for m in ens.nodes if m is not n], root)
            for k, n in enumerate(ens.nodes)]


class Writer:
    """Creates /<root>/w<k>-<i> one after another through the given nodes (first one
    preferred), riding out connection loss: an uncertain create is retried under the same
    path, NodeExists then meaning it had been applied."""

    def __init__(self, k, nodes, root):
        self.k, self.root = k, root
        self.zk = KazooClient(hosts=",".join(n.hp for n in nodes), timeout=15.0,
                              randomize_hosts=False)
        self.zk.start(timeout=20)
        self.acked, self.tried, self.errors = [], set(), []
        self.ack_times = []
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        i = 0
        uncertain = False
        while not self.stop_flag.is_set():
            p = f"{self.root}/w{self.k}-{i:06d}"
            self.tried.add(p)
            try:
                self.zk.create(p, b"v%d" % i)
                self.acked.append(p)
                self.ack_times.append(time.time())
                i += 1
                uncertain = False
            except NodeExistsError:
                if not uncertain:
                    self.errors.append(f"{p}: NodeExists on a first attempt")
                self.acked.append(p)
                self.ack_times.append(time.time())
                i += 1
                uncertain = False
            except RETRYABLE as e:
                uncertain = True
                self.errors.append(type(e).__name__)
                time.sleep(0.2)
            except Exception as e:  # anything else is a wrong answer
                self.errors.append(f"{p}: {e!r}")
                uncertain = True
                time.sleep(0.2)

    def finish(self):
        self.stop_flag.set()
        self.thread.join(timeout=30)
        close(self.zk)

    def acks_after(self, t):
        return sum(1 for x in self.ack_times if x > t)


def require_converged(ens, after):
    """converge(), raising Fail with every disagreement; `after` names what just happened."""
    problems = converge(ens)
    if problems:
        raise Fail(f"after {after}, the nodes disagree:\n" +
                   "\n".join("  " + p for p in problems))
