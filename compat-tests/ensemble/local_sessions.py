#!/usr/bin/python3
"""Local sessions in mixed ensembles (localSessionsEnabled and localSessionsUpgradingEnabled
on every node), side by side with an all-reference ensemble of the same shape:

    local_sessions.py --ferro "<cmd>" [--ref "<cmd>"] MIX...     (printed localsessions_<MIX>)
    local_sessions.py --list

MIX: 2zk_1ferro (node 1 a candidate follower, 2-3 reference), 1zk_2ferro (node 1 a reference
follower, 2-3 candidates, 3 leading). Node A is the mix's candidate follower, B a follower of
the other kind, W the leader. The transcript, the same for the mix and its control:

  1. a kazoo client on A (in a child process, so it can vanish without closeSession) gets a
     local session: A's and W's `mntr` session counts, a persistent create;
  2. an ephemeral create upgrades it: the counts again, the ephemeral's owner is the session;
  3. a local session of its own on A, never upgraded, reconnected on B: B refuses it;
  4. the upgraded session reconnected on B (raw ConnectRequest with its id and password);
     the old connection on A then writes (SessionMoved) and reads;
  5. both connections vanish (the child is SIGKILLed, the raw socket is dropped): a watcher
     on W sees the ephemeral go when the session expires, and A refuses the session.

Prints `PASS localsessions_<mix>` or `FAIL ...` with the two transcripts' diff. Every wait is
bounded; every process started is stopped by PID; the temp dir is removed unless KEEP_TMP=1.
"""

import difflib
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from cluster import (REF_CMD, RUNNING, Ensemble, Fail, four_letter, log, print_fail,  # noqa: E402
                     reap, run_dir)
from harness import side_args  # noqa: E402
from kz import client, close  # noqa: E402

Z, F = "zk", "ferro"
# mix -> (nodes, sid of A, sid of B); with equal zxids node 3 leads
MIXES = {
    "2zk_1ferro": ([(F, False), (Z, False), (Z, False)], 1, 2),
    "1zk_2ferro": ([(Z, False), (F, False), (F, False)], 2, 1),
}
EXTRA_CFG = "localSessionsEnabled=true\nlocalSessionsUpgradingEnabled=true\n"
TIMEOUT_MS = 4000  # the harness's minSessionTimeout

# The session holder: one kazoo session on A, driven line by line over stdin/stdout.
HOLDER = r"""
import json, logging, sys
from kazoo.client import KazooClient
logging.getLogger("kazoo").setLevel(logging.CRITICAL)
zk = KazooClient(hosts=sys.argv[1], timeout=float(sys.argv[2]), randomize_hosts=False)

def outcome(f):
    try:
        f()
        return "ok"
    except Exception as e:
        return type(e).__name__

def say(x):
    print(json.dumps(x), flush=True)

for line in sys.stdin:
    cmd = line.split()
    if cmd[0] == "start":
        zk.start(timeout=20)
        sid, pw = zk.client_id
        say({"id": sid, "pw": pw.hex()})
    elif cmd[0] == "create":
        say(outcome(lambda: zk.create(cmd[1], b"x", ephemeral=cmd[2] == "e")))
    elif cmd[0] == "set":
        say(outcome(lambda: zk.set(cmd[1], b"y")))
    elif cmd[0] == "get":
        say(outcome(lambda: zk.get(cmd[1])))
"""


class Holder:
    """The child process holding the session under test."""

    def __init__(self, hp):
        self.p = subprocess.Popen([sys.executable, "-c", HOLDER, hp, str(TIMEOUT_MS / 1000)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, text=True)
        RUNNING.append(self.p)

    def ask(self, line, timeout=30):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        out = []
        t = threading.Thread(target=lambda: out.append(self.p.stdout.readline()), daemon=True)
        t.start()
        t.join(timeout)
        if not out or not out[0]:
            raise Fail(f"the session holder did not answer {line!r} within {timeout}s")
        return json.loads(out[0])

    def kill(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGKILL)
            self.p.wait(timeout=10)


def raw_connect(hp, session_id, passwd):
    """A ConnectRequest for (session_id, passwd) on hp; (open socket, accepted, same id).
    Not accepted: the server's answer has timeout 0 (`Invalid session ... probably
    expired`)."""
    host, port = hp.split(":")
    s = socket.create_connection((host, int(port)), timeout=10)
    body = struct.pack(">iqiqi", 0, 0, TIMEOUT_MS, session_id, len(passwd)) + passwd + b"\0"
    s.sendall(struct.pack(">i", len(body)) + body)
    head = b""
    while len(head) < 4:
        chunk = s.recv(4 - len(head))
        if not chunk:
            return s, False, False
        head += chunk
    (n,) = struct.unpack(">i", head)
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    _, timeout, sid = struct.unpack(">iiq", data[:16])
    return s, timeout > 0, sid == session_id


def sessions(node):
    """`mntr`'s global and local session counts."""
    out = four_letter(node.hp, "mntr")
    def val(k):
        m = re.search(rf"^zk_{k}\t(\d+)", out, re.M)
        return m.group(1) if m else "-"
    return f"global={val('global_sessions')} local={val('local_sessions')}"


def scenario(ens, a_sid, b_sid):
    a, b = ens.nodes[a_sid - 1], ens.nodes[b_sid - 1]
    w = ens.leader()
    t = [f"A {a.mode()}, B {b.mode()}, W {w.mode()}"]
    watcher = client(w)
    holder = Holder(a.hp)
    raw = None
    try:
        # 1. a local session on A
        ident = holder.ask("start")
        sid, pw = ident["id"], bytes.fromhex(ident["pw"])
        t.append(f"1 connected on A; A {sessions(a)}; W {sessions(w)}")
        t.append(f"1 create persistent /ls: {holder.ask('create /ls p')}")
        # 2. upgraded by an ephemeral
        t.append(f"2 create ephemeral /ls/e: {holder.ask('create /ls/e e')}")
        watcher.sync("/")
        stat = watcher.exists("/ls/e")
        t.append(f"2 /ls/e on W owned by the session: {stat is not None and stat.ephemeralOwner == sid}")
        t.append(f"2 after the upgrade A {sessions(a)}; W {sessions(w)}")
        # 3. a never-upgraded local session of A, reconnected on B
        local = client(a)
        lsid, lpw = local.client_id
        s, accepted, same = raw_connect(b.hp, lsid, lpw)
        s.close()
        t.append(f"3 local session reconnected on B: accepted={accepted} same_id={same}")
        t.append(f"3 it still works on A: {local.exists('/ls') is not None}")
        close(local)
        # 4. the upgraded session moves to B
        raw, accepted, same = raw_connect(b.hp, sid, pw)
        t.append(f"4 upgraded session reconnected on B: accepted={accepted} same_id={same}")
        t.append(f"4 old connection on A writes: {holder.ask('set /ls')}")
        t.append(f"4 old connection on A reads: {holder.ask('get /ls')}")
        # 5. both connections vanish: the session expires
        gone = threading.Event()
        watcher.exists("/ls/e", watch=lambda ev: gone.set() if ev.type == "DELETED" else None)
        holder.kill()
        raw.close()
        raw = None
        t0 = time.time()
        expired = gone.wait(4 * TIMEOUT_MS / 1000 + 10)
        t.append(f"5 ephemeral deleted by expiry: {expired}"
                 f" (within the timeout + 2 ticks: {expired and time.time() - t0 < TIMEOUT_MS / 1000 + 4})")
        s, accepted, same = raw_connect(a.hp, sid, pw)
        s.close()
        t.append(f"5 expired session reconnected on A: accepted={accepted}")
        t.append(f"5 /ls/e exists: {watcher.exists('/ls/e') is not None}")
    finally:
        holder.kill()
        if raw:
            raw.close()
        close(watcher)
    return t


def run_mix(nodes, a_sid, b_sid, cmds, tmp, tag):
    root = tempfile.mkdtemp(prefix=f"{tag}.", dir=tmp)
    ens = Ensemble(nodes, root, cmds)
    for n in ens.nodes:
        with open(n.cfg, "a") as f:
            f.write(EXTRA_CFG)
    log(f"{tag}: starting {ens.describe()} in {root}")
    try:
        ens.start(90)
        return scenario(ens, a_sid, b_sid)
    finally:
        ens.stop_all()
        reap()


def main():
    argv = sys.argv[1:]
    if argv[:1] == ["--list"]:
        for mix in MIXES:
            print(mix)
        return 0
    parsed = side_args(argv, REF_CMD, "local_sessions.py --ferro '<cmd>' [--ref '<cmd>'] MIX...")
    if parsed is None:
        return 2
    args, names = parsed
    bad = [n for n in names if n not in MIXES]
    if bad:
        print(f"unknown scenarios: {bad}", file=sys.stderr)
        return 2
    cmds = {F: args["ferro"], Z: args["ref"]}
    tmp = run_dir("localsessions.")
    failed = 0
    for name in names:
        nodes, a_sid, b_sid = MIXES[name]
        full = f"localsessions_{name}"
        try:
            ref = run_mix([(Z, o) for _, o in nodes], a_sid, b_sid, cmds, tmp, f"{name}-control")
            cand = run_mix(nodes, a_sid, b_sid, cmds, tmp, name)
            if ref == cand:
                print(f"PASS {full}", flush=True)
                for line in cand:
                    print("    " + line, flush=True)
            else:
                diff = difflib.unified_diff(ref, cand, "all-reference", name, lineterm="")
                raise Fail("\n".join(diff))
        except Exception as e:
            failed += 1
            print_fail(full, e)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
