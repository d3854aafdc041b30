#!/usr/bin/python3
"""The register workload of issue #11: kazoo clients read and write a few znodes through
every node of a live ensemble and record every op in a linearize.History, which
linearize.check() then decides.

Why: a leader killed in a mixed ferrokeeper / Apache ZooKeeper ensemble must not make any
node serve a stale read, lose an acknowledged setData, or accept a setData whose version
check should have failed; clients pinned to every node, reading with sync + getData,
catch any of these.

    run(nodes_hostports, keys=..., clients_per_node=2, duration=30.0, stop_event=None,
        history=None) -> History

Each client is one KazooClient connected to exactly one node (hosts=that node only,
randomize_hosts=False) and loops until `duration` has passed or `stop_event` is set,
picking a random key and op:
  write  set(key, value, version=-1)
  cas    set(key, value, version=v), v from this client's latest read of the key (a fresh
         read first half of the time); BadVersionError is a definite failure
  read   sync(key) then get(key) -> (data, stat.version)
Every value written is unique (client id, counter, run tag), so a read names its write.
ConnectionLoss / OperationTimeout / SessionExpired / the per-op timeout leave a write or
cas "unknown" (it may still take effect) and drop a read.  While its connection is down a
client does not issue ops.  Keys are created (if missing) and their initial state read
before the clients start.  The module starts and stops no server; it stops every client
it started, each within a bound.

    register_load.py HOST:PORT... [--duration S]   runs the load, then checks the history
"""

import argparse
import logging
import os
import random
import sys
import threading
import time

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import (BadVersionError, ConnectionClosedError, ConnectionLoss,
                              NoNodeError, OperationTimeoutError, SessionExpiredError)
from kazoo.handlers.threading import KazooTimeoutError

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from linearize import History, check  # noqa: E402

logging.getLogger("kazoo").setLevel(logging.CRITICAL)  # reconnect chatter

# the op may have reached a server (or still reach it): its outcome is unknown
UNCERTAIN = (ConnectionLoss, OperationTimeoutError, SessionExpiredError, KazooTimeoutError,
             ConnectionClosedError)
# reconnect promptly once a killed node is back (kazoo's default backoff grows to an hour)
RECONNECT = {"max_tries": -1, "delay": 0.1, "backoff": 1.5, "max_delay": 1.0}
SETUP_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0  # for kazoo's stop() + close() of one client


def _new_client(hosts, session_timeout):
    return KazooClient(hosts=hosts, randomize_hosts=False, timeout=session_timeout,
                       connection_retry=dict(RECONNECT))


def _stop_clients(clients):
    """Stop and close kazoo clients in parallel, each bounded by STOP_TIMEOUT."""
    def stop(zk):
        try:
            zk.stop()
            zk.close()
        except Exception:  # a client that never connected, or a socket already gone
            pass
    threads = [threading.Thread(target=stop, args=(zk,), daemon=True) for zk in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=STOP_TIMEOUT)


def _setup(nodes_hostports, keys, history, op_timeout, session_timeout):
    """Create the keys if missing and record their state; retried through any node until
    SETUP_TIMEOUT."""
    deadline = time.monotonic() + SETUP_TIMEOUT
    last = None
    while time.monotonic() < deadline:
        for hp in nodes_hostports:
            zk = _new_client(hp, session_timeout)
            try:
                zk.start(timeout=min(15.0, max(1.0, deadline - time.monotonic())))
                states = {}
                for key in keys:
                    zk.ensure_path_async(key).get(timeout=op_timeout)
                    zk.sync_async(key).get(timeout=op_timeout)
                    data, stat = zk.get_async(key).get(timeout=op_timeout)
                    states[key] = (data, stat.version)
                for key, (data, version) in states.items():
                    history.set_initial(key, data, version)
                return
            except Exception as e:
                last = f"{hp}: {e!r}"
            finally:
                _stop_clients([zk])
            if time.monotonic() >= deadline:
                break
        time.sleep(0.5)
    raise RuntimeError(f"could not create the keys {list(keys)} within {SETUP_TIMEOUT}s; "
                       f"last error: {last}")


class _Client:
    def __init__(self, cid, hp, keys, history, halt, op_timeout, session_timeout, tag, seed):
        self.cid, self.keys, self.history, self.halt = cid, keys, history, halt
        self.op_timeout, self.tag = op_timeout, tag
        self.rng = random.Random(seed)
        self.zk = _new_client(hp, session_timeout)
        self.read_versions = {}  # key -> version of this client's latest read
        self.counter = 0
        self.thread = threading.Thread(target=self._loop, name=f"register-{cid}", daemon=True)

    def _loop(self):
        try:
            self.zk.start_async()
        except Exception:  # no connection thread: nothing to record
            return
        while not self.halt.is_set():
            if self.zk.state != KazooState.CONNECTED:
                self.halt.wait(0.05)
                continue
            key = self.rng.choice(self.keys)
            r = self.rng.random()
            if r < 0.4:
                self._read(key)
            elif r < 0.7:
                self._set(key, "write")
            else:
                if key not in self.read_versions or self.rng.random() < 0.5:
                    if not self._read(key):
                        continue
                self._set(key, "cas")

    def _read(self, key):
        """True if it read the key."""
        h = self.history
        op = h.invoke(self.cid, key, "read")
        try:
            self.zk.sync_async(key).get(timeout=self.op_timeout)
            data, stat = self.zk.get_async(key).get(timeout=self.op_timeout)
        except NoNodeError:
            h.complete(op, "fail", error="NoNode")
            return False
        except Exception as e:  # the read tells nothing: dropped by the checker
            h.complete(op, "unknown", error=type(e).__name__)
            return False
        h.complete(op, "ok", (data, stat.version))
        self.read_versions[key] = stat.version
        return True

    def _set(self, key, kind):
        h = self.history
        self.counter += 1
        value = f"{self.cid}-{self.counter}.{self.tag}".encode()
        if kind == "cas":
            expected = self.read_versions.pop(key)
            op = h.invoke(self.cid, key, "cas", value=value, expected_version=expected)
        else:
            expected = -1
            op = h.invoke(self.cid, key, "write", value=value)
        try:
            stat = self.zk.set_async(key, value, expected).get(timeout=self.op_timeout)
        except BadVersionError:
            h.complete(op, "fail", error="BadVersion")
        except NoNodeError:
            h.complete(op, "fail", error="NoNode")
        except UNCERTAIN as e:
            h.complete(op, "unknown", error=type(e).__name__)
        except Exception as e:  # unexpected: it may still have been applied
            h.complete(op, "unknown", error=repr(e))
        else:
            h.complete(op, "ok", stat.version)


def run(nodes_hostports, keys=("/lin/a", "/lin/b", "/lin/c"), clients_per_node=2,
        duration=30.0, stop_event=None, history=None, op_timeout=5.0, session_timeout=10.0,
        seed=None):
    """Run the register workload against the running nodes `nodes_hostports`
    ("127.0.0.1:port") until `duration` seconds have passed or `stop_event` is set, and
    return the History (`history` if given, else a new one).  Raises RuntimeError if the
    keys cannot be set up.  Returns only once every client is stopped (or abandoned after
    its bound: its op in flight then stays unknown)."""
    history = History() if history is None else history
    keys = list(keys)
    rng = random.Random(seed)
    tag = f"{rng.getrandbits(16):04x}"
    _setup(nodes_hostports, keys, history, op_timeout, session_timeout)
    halt = threading.Event()
    clients = [_Client(f"n{n}c{j}", hp, keys, history, halt, op_timeout, session_timeout, tag,
                       rng.getrandbits(32))
               for n, hp in enumerate(nodes_hostports) for j in range(clients_per_node)]
    for c in clients:
        c.thread.start()
    deadline = time.monotonic() + duration
    try:
        while time.monotonic() < deadline:
            if stop_event is not None and stop_event.is_set():
                break
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
    finally:
        halt.set()
        for c in clients:  # an op in flight ends within 2 op timeouts (sync + get)
            c.thread.join(timeout=2 * op_timeout + 5)
        _stop_clients([c.zk for c in clients])
    return history


class Background:
    """run() in a thread beside other load (two clients per node, for at most `duration`
    seconds): finish() stops it, verdict() checks the history (True, or why not)."""

    def __init__(self, nodes_hostports, duration, log):
        self.log = log
        self.stop = threading.Event()
        self.history = History()
        self.thread = threading.Thread(
            target=run, daemon=True,
            kwargs={"nodes_hostports": nodes_hostports, "clients_per_node": 2,
                    "duration": duration, "stop_event": self.stop, "history": self.history})
        self.thread.start()

    def finish(self):
        self.stop.set()
        self.thread.join(timeout=60)

    def verdict(self):
        # the History itself: it carries each key's state when the load began
        r = check(self.history)
        self.log(f"linearizability: {r.stats}")
        if r.ok and not r.stats.get("ops"):
            return "the register workload recorded no operation (its keys were not created?)"
        return True if r.ok else r.explain()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("nodes", nargs="+", metavar="HOST:PORT")
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--clients-per-node", type=int, default=2)
    args = ap.parse_args()
    history = run(args.nodes, clients_per_node=args.clients_per_node, duration=args.duration)
    ops = history.ops()
    counts = {}
    for o in ops:
        k = (o["kind"], o["status"])
        counts[k] = counts.get(k, 0) + 1
    print(f"{len(ops)} ops: " + ", ".join(f"{k[0]} {k[1]} {v}" for k, v in sorted(counts.items())))
    result = check(history)
    print(result.explain())
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
