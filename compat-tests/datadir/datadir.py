#!/usr/bin/python3
"""dataDir swaps between the reference Apache ZooKeeper 3.8.0 and the candidate.

    datadir.py --list
    datadir.py --ferro "<cmd> [args]" [--ref "<cmd> [args]"] SCENARIO...

A scenario builds a tree of a few thousand znodes on one server (every kind the
snapshot and txn log formats know: null/empty/large data, world/digest/ip/auth
ACLs, sequentials, containers, TTL nodes, quotas, multis, deletes, ephemerals of
a session left alive), stops it by PID and starts the other server on the same
dataDir; the two trees, read through the client port, must be equal and the
live session must reconnect. `datadir_readers*` feed the candidate's files to
the reference's own offline readers (TxnLogToolkit, SnapshotFormatter).

Prints `PASS datadir_<name>` / `FAIL datadir_<name>` (+ indented details) per
scenario. Every wait is bounded; every process started is stopped by PID;
temp dirs are removed unless KEEP_TMP=1.
"""

import base64
import hashlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))

from harness import (four_letter, free_port, kill_all, print_fail,  # noqa: E402
                     remove_unless_kept, side_args)

from tree import build_tree, dump_tree, diff_dumps, hold_session  # noqa: E402

J = "/usr/share/java"
REF_JARS = ["zookeeper", "zookeeper-jute", "slf4j-api", "slf4j-simple", "snappy-java",
            "commons-cli", "jackson-core", "metrics-core"]
REF_CP = ":".join(f"{J}/{j}.jar" for j in REF_JARS if os.path.exists(f"{J}/{j}.jar"))
# like lib/zk-reference, plus snappy-java (snappy snapshots) and a logger that says why it fails
REF_CMD = ["java", "-Xmx256m", "-XX:+UseSerialGC", "-Dzookeeper.admin.enableServer=false",
           "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn", "-cp", REF_CP,
           "org.apache.zookeeper.server.quorum.QuorumPeerMain"]
SUPER = ("super", "superpw")
SNAP_COUNT = 400
SCENARIOS = {}


class Fail(Exception):
    pass


def scenario(fn):
    SCENARIOS[fn.__name__] = fn
    return fn


def log(*a):
    print("[datadir]", *a, file=sys.stderr, flush=True)


def super_digest():
    user, pw = SUPER
    h = base64.b64encode(hashlib.sha1(f"{user}:{pw}".encode()).digest()).decode()
    return f"{user}:{h}"


class Server:
    """One server process on `data`, started from its own zoo.cfg on a free port."""

    def __init__(self, name, cmd, work, data, extra=""):
        self.name, self.cmd, self.work, self.data = name, cmd, work, data
        self.port = free_port()
        self.hp = f"127.0.0.1:{self.port}"
        self.cfg = os.path.join(work, f"{name}.cfg")
        self.logf = os.path.join(work, f"{name}.log")
        with open(self.cfg, "w") as f:
            f.write(f"""tickTime=2000
initLimit=10
syncLimit=5
dataDir={data}
clientPort={self.port}
clientPortAddress=127.0.0.1
maxClientCnxns=0
minSessionTimeout=4000
maxSessionTimeout=40000
4lw.commands.whitelist=*
extendedTypesEnabled=true
admin.enableServer=false
snapCount={SNAP_COUNT}
znode.container.checkIntervalMs=3600000
DigestAuthenticationProvider.superDigest={super_digest()}
{extra}
""")
        self.proc = None

    def start(self):
        out = open(self.logf, "ab")
        self.proc = subprocess.Popen(self.cmd + [self.cfg], stdout=out, stderr=out,
                                     stdin=subprocess.DEVNULL)
        out.close()
        RUNNING.append(self.proc)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise Fail(f"{self.name} exited at start-up (status {self.proc.returncode})\n"
                           + self.log_tail())
            try:
                # the reference answers 4lw before its data is loaded; srvr says Zxid once it is
                if "Zxid: 0x" in four_letter(self.port, "srvr", 5):
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        raise Fail(f"{self.name} did not answer on {self.hp} within 60s\n" + self.log_tail())

    def stop(self, how="term"):
        """Stop by PID: SIGTERM and wait (SIGKILL after 30s), or SIGKILL at once."""
        p = self.proc
        if p is None or p.poll() is not None:
            return
        p.send_signal(signal.SIGKILL if how == "kill" else signal.SIGTERM)
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)
            raise Fail(f"{self.name} ignored SIGTERM for 30s")

    def log_tail(self, n=25):
        try:
            with open(self.logf, errors="replace") as f:
                lines = f.readlines()[-n:]
        except OSError:
            return ""
        return "".join("    | " + ln for ln in lines)

    def zxid(self):
        m = re.search(r"Zxid: (0x[0-9a-f]+)", four_letter(self.port, "srvr", 5))
        if not m:
            raise Fail(f"{self.name}: no Zxid in srvr")
        return int(m.group(1), 16)


RUNNING = []


def snap_files(data, prefix):
    d = os.path.join(data, "version-2")
    names = [n for n in os.listdir(d) if n.startswith(prefix)] if os.path.isdir(d) else []
    return sorted(names, key=lambda n: int(n.split(".")[1], 16))


def file_zxid(name):
    return int(name.split(".")[1], 16)


def check_layout(srv, min_logs=2):
    """The build left periodic snapshots AND txns in the log after the newest snapshot."""
    snaps, logs = snap_files(srv.data, "snapshot."), snap_files(srv.data, "log.")
    deadline = time.time() + 20
    while file_zxid(snaps[-1]) >= srv.zxid() if snaps else True:
        if time.time() > deadline:
            raise Fail(f"setup: no txn after the newest snapshot {snaps[-1:]}")
        time.sleep(0.2)
        snaps = snap_files(srv.data, "snapshot.")
    if len(snaps) < 2 or len(logs) < min_logs:
        raise Fail(f"setup: snapCount={SNAP_COUNT} should have rolled: {snaps} {logs}")
    return snaps, logs


class Inflight:
    """Writers that keep creating under /dd_inflight until the server dies; a path is
    recorded as acknowledged only once its create succeeded."""

    def __init__(self, hp):
        from kazoo.client import KazooClient
        self.zk = KazooClient(hosts=hp, timeout=30)
        self.zk.start(timeout=15)
        self.acked, self.tried = set(), set()
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        i = 0
        while not self.stop_flag.is_set():
            batch = []
            for _ in range(20):
                p = f"/dd_inflight/w{i:06d}"
                i += 1
                self.tried.add(p)
                batch.append((p, self.zk.create_async(p, b"x" * (i % 300))))
            for p, r in batch:
                try:
                    r.get(timeout=10)
                    self.acked.add(p)
                except Exception:
                    self.stop_flag.set()

    def finish(self):
        self.stop_flag.set()
        self.thread.join(timeout=20)
        try:
            self.zk.stop()
            self.zk.close()
        except Exception:
            pass


def swap(work, first_cmd, second_cmd, first, second, how):
    data = os.path.join(work, "data")
    a = Server(first, first_cmd, work, data).start()
    tree = build_tree(a.hp, SUPER, RUNNING.append)
    snaps, logs = check_layout(a)
    log(f"{first}: {tree['count']} znodes, snapshots {len(snaps)}, logs {len(logs)}")
    dump_a = dump_tree(a.hp, SUPER)
    tree["holder"].kill()
    infl = None
    if how == "kill":
        infl = Inflight(a.hp)
        time.sleep(1.0)  # let writes be in flight when the JVM/process dies
    a.stop(how)
    if infl:
        infl.finish()
        if len(infl.acked) < 20:
            raise Fail(f"in-flight load produced only {len(infl.acked)} acknowledged writes")
    b = Server(second, second_cmd, work, data)
    try:
        b.start()
    except Fail as e:
        torn = [f"{n} ({os.path.getsize(os.path.join(data, 'version-2', n))} bytes)"
                for n in snap_files(data, "log.")
                if os.path.getsize(os.path.join(data, "version-2", n)) < 16]
        if torn:
            raise Fail(f"{first} was killed between creating a log file and writing its "
                       f"16-byte header: {torn}; {second} cannot start from it.\n{e}")
        raise
    dump_b = dump_tree(b.hp, SUPER)
    skip = "/dd_inflight"
    problems = diff_dumps(dump_a, dump_b, first, second, skip=skip)
    problems += check_owners(data, tree, f"{second}'s start-up snapshot")
    if infl:
        have = {p for p in dump_b if p.startswith(skip + "/")}
        lost = sorted(infl.acked - have)
        extra = sorted(have - infl.tried)
        if lost:
            problems.append(f"{len(lost)} acknowledged writes lost after SIGKILL, e.g. {lost[:3]}")
        if extra:
            problems.append(f"{len(extra)} znodes nobody created: {extra[:3]}")
        log(f"in flight: {len(infl.acked)} acked, {len(have)} recovered, {len(infl.tried)} tried")
    if problems:
        raise Fail("\n".join(problems) + "\n" + b.log_tail(10))
    reconnect(b, tree, max(n["stat"][1] for n in dump_a.values()))
    b.stop("term")


def reconnect(srv, tree, max_zxid):
    """The session left alive on the first server resumes on the second, ephemerals intact."""
    from kazoo.client import KazooClient
    sid, pw = tree["session"]
    zk = KazooClient(hosts=srv.hp, client_id=(sid, pw), timeout=30)
    try:
        zk.start(timeout=15)
        if zk.client_id[0] != sid:
            raise Fail(f"session 0x{sid:x} was not resumed on {srv.name} "
                       f"(got 0x{zk.client_id[0]:x})")
        kids = sorted(zk.get_children("/dd/eph"))
        if kids != sorted(tree["ephemerals"]):
            raise Fail(f"ephemerals after reconnect: {kids} != {sorted(tree['ephemerals'])}")
        for k in kids:
            owner = zk.exists("/dd/eph/" + k).ephemeralOwner
            if owner != sid:
                raise Fail(f"/dd/eph/{k} owner 0x{owner:x} != 0x{sid:x}")
        zk.create("/dd/after-swap", b"z")
        st = zk.exists("/dd/after-swap")
        if st.czxid <= max_zxid:
            raise Fail(f"zxid went backwards after the swap: 0x{st.czxid:x} <= 0x{max_zxid:x}")
    finally:
        zk.stop()
        zk.close()
    # closing the session deleted its ephemerals
    zk = KazooClient(hosts=srv.hp, timeout=30)
    zk.start(timeout=15)
    try:
        left = zk.get_children("/dd/eph")
        if left:
            raise Fail(f"ephemerals survived closeSession: {left}")
    finally:
        zk.stop()
        zk.close()


def ferro_and_ref():
    return ARGS["ferro"], ARGS["ref"]


@scenario
def zk_to_ferro_sigterm(work):
    f, r = ferro_and_ref()
    swap(work, r, f, "reference", "candidate", "term")


@scenario
def zk_to_ferro_sigkill(work):
    f, r = ferro_and_ref()
    swap(work, r, f, "reference", "candidate", "kill")


@scenario
def ferro_to_zk_sigterm(work):
    f, r = ferro_and_ref()
    swap(work, f, r, "candidate", "reference", "term")


@scenario
def ferro_to_zk_sigkill(work):
    f, r = ferro_and_ref()
    swap(work, f, r, "candidate", "reference", "kill")


def run_tool(cls, *args):
    p = subprocess.run(["java", "-Xmx256m", "-cp", REF_CP,
                        "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn", cls, *args],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


TXN_LINE = re.compile(r" session 0x[0-9a-f]+ cxid 0x[0-9a-f]+ zxid 0x([0-9a-f]+) ")


def check_logs(data, last_zxid):
    """TxnLogToolkit --dump reads every log.* cleanly; zxids run 1..last without a gap."""
    problems, expect = [], None
    for name in snap_files(data, "log."):
        rc, out, err = run_tool("org.apache.zookeeper.server.persistence.TxnLogToolkit",
                                "--dump", os.path.join(data, "version-2", name))
        zxids = [int(m.group(1), 16) for m in TXN_LINE.finditer(out)]
        m = re.search(r"EOF reached after (\d+) txns\.", out)
        bad = [ln for ln in (out + err).splitlines()
               if "CRC ERROR" in ln or "Exception" in ln or "partial" in ln]
        if rc != 0 or bad or not m:
            problems.append(f"TxnLogToolkit {name}: exit {rc}: {(bad or [err.strip()])[:3]}")
            continue
        if int(m.group(1)) != len(zxids):
            problems.append(f"{name}: toolkit says {m.group(1)} txns, printed {len(zxids)}")
        if zxids and zxids[0] != file_zxid(name):
            problems.append(f"{name}: first txn zxid 0x{zxids[0]:x}")
        if expect is not None and zxids and zxids[0] != expect:
            problems.append(f"{name}: starts at 0x{zxids[0]:x}, expected 0x{expect:x}")
        if zxids != list(range(zxids[0], zxids[0] + len(zxids))) if zxids else False:
            problems.append(f"{name}: zxids not consecutive")
        if zxids:
            expect = zxids[-1] + 1
    if expect is None:
        problems.append("TxnLogToolkit printed no txn at all")
    elif expect - 1 != last_zxid:
        problems.append(f"logs end at 0x{expect - 1:x}, server said Zxid 0x{last_zxid:x}")
    return problems


NODE = re.compile(r"^----\n(/.*)\n  cZxid = (0x[0-9a-f]+)\n  ctime = .*\n  mZxid = (0x[0-9a-f]+)\n"
                  r"  mtime = .*\n  pZxid = (0x[0-9a-f]+)\n  cversion = (-?\d+)\n"
                  r"  dataVersion = (-?\d+)\n  aclVersion = (-?\d+)\n"
                  r"  ephemeralOwner = (0x[0-9a-f]+)\n  data = (.*)$", re.M)


def check_snapshots(data, dump):
    """SnapshotFormatter -d loads every snapshot.*; the newest (the start-up snapshot of a
    restart, so exact) holds exactly the dumped tree."""
    problems = []
    snaps = snap_files(data, "snapshot.")
    for name in snaps:
        rc, out, err = run_tool("org.apache.zookeeper.server.SnapshotFormatter", "-d",
                                os.path.join(data, "version-2", name))
        m = re.search(r"ZNode Details \(count=(\d+)\):", out)
        nodes = NODE.findall(out)
        bad = [ln for ln in (out + err).splitlines() if "Exception" in ln or "Error" in ln]
        if rc != 0 or bad or not m:
            problems.append(f"SnapshotFormatter {name}: exit {rc}: {(bad or [err.strip()])[:3]}")
            continue
        # DataTree keeps the root under both "" and "/", so count is one more than printed
        if int(m.group(1)) != len(nodes) + 1:
            problems.append(f"{name}: count={m.group(1)} but {len(nodes)} znodes printed")
        if name != snaps[-1]:
            continue
        if len(nodes) != len(dump):
            problems.append(f"{name}: {len(nodes)} znodes, the server served {len(dump)}")
        for path, cz, mz, pz, cv, v, av, eo, d in nodes:
            n = dump.get(path)
            if n is None:
                problems.append(f"{name}: {path} not served by the server")
                continue
            s = n["stat"]
            # DataNode#copyStat serves cversion*2 - numChildren: the persisted cversion
            # counts creates only; TTL and container owners are served as 0
            owner = int(eo, 16)
            want = (s[0], s[1], s[10], (s[5] + s[9]) // 2, s[4], s[6],
                    s[7] if owner >> 56 not in (0x80, 0xff) else owner,
                    base64.b64encode(n["data"] or b"").decode())
            got = (int(cz, 16), int(mz, 16), int(pz, 16), int(cv), int(v), int(av),
                   int(eo, 16), d)
            if got != want:
                problems.append(f"{name}: {path}: snapshot {got[:7]} != served {want[:7]}"
                                + (" (data differs)" if got[7] != want[7] else ""))
    return problems[:20]


def snapshot_nodes(data, name=None):
    """SnapshotFormatter -d of one snapshot (default: the newest): path -> raw fields."""
    name = name or snap_files(data, "snapshot.")[-1]
    rc, out, err = run_tool("org.apache.zookeeper.server.SnapshotFormatter", "-d",
                            os.path.join(data, "version-2", name))
    if rc != 0:
        raise Fail(f"SnapshotFormatter {name}: exit {rc}: {err.strip()[-500:]}")
    return name, {n[0]: n[1:] for n in NODE.findall(out)}


def check_owners(data, tree, who):
    """Raw ephemeralOwner in the newest snapshot (which `who` wrote): containers, TTL nodes
    (hidden as 0 from clients) and the live session's ephemerals kept their kind."""
    name, nodes = snapshot_nodes(data)
    problems = []
    want = {f"/dd/cont/{c}": 0x8000000000000000 for c in ("full", "empty", "emptied")}
    want.update({p: 0xFF00000000000000 | 3_600_000 for p in nodes
                 if re.fullmatch(r"/dd/ttl/t\d+", p)})
    want.update({p: 0xFF00000000000000 | 7_200_000 for p in nodes
                 if p.startswith("/dd/ttl/ts-")})
    want.update({"/dd/eph/" + e: tree["session"][0] for e in tree["ephemerals"]})
    if len(want) != 3 + 50 + len(tree["ephemerals"]):
        problems.append(f"{name} ({who}): {len(want)} TTL/container/ephemeral znodes found")
    for p, w in sorted(want.items()):
        got = int(nodes[p][6], 16) if p in nodes else None
        if got != w:
            problems.append(f"{name} ({who}): {p} ephemeralOwner "
                            f"{'missing' if got is None else hex(got)}, expected {w:#x}")
    return problems[:10]


def readers(work, method):
    f, r = ferro_and_ref()
    data = os.path.join(work, "data")
    extra = f"snapshot.compression.method={method}" if method else ""
    a = Server("candidate", f, work, data, extra).start()
    tree = build_tree(a.hp, SUPER, RUNNING.append)
    check_layout(a)
    tree["holder"].kill()
    last = a.zxid()
    a.stop("term")
    # a restart writes an exact start-up snapshot of the final tree
    a = Server("candidate", f, work, data, extra).start()
    dump = dump_tree(a.hp, SUPER)
    last2 = a.zxid()
    a.stop("term")
    suffix = {"gz": ".gz", "snappy": ".snappy"}.get(method, "")
    snaps = snap_files(data, "snapshot.")
    if not all(s.endswith(suffix) for s in snaps) if suffix else \
            any("." in s[len("snapshot."):] for s in snaps):
        raise Fail(f"snapshot names for compression '{method}': {snaps}")
    problems = check_logs(data, last2 if last2 >= last else last)
    problems += check_snapshots(data, dump)
    problems += check_owners(data, tree, "candidate")
    # and the reference itself starts from these files
    b = Server("reference", r, work, data, extra).start()
    dump_b = dump_tree(b.hp, SUPER)
    problems += diff_dumps(dump, dump_b, "candidate", "reference")
    b.stop("term")
    if problems:
        raise Fail("\n".join(problems[:30]))


@scenario
def readers_plain(work):
    readers(work, "")


@scenario
def readers_gz(work):
    readers(work, "gz")


@scenario
def readers_snappy(work):
    readers(work, "snappy")


def main():
    argv = sys.argv[1:]
    if argv[:1] == ["--list"]:
        for n in SCENARIOS:
            print(n)
        return 0
    if argv[:1] == ["--hold"]:
        hold_session(argv[1], SUPER)
        return 0
    global ARGS
    args = side_args(argv, REF_CMD, "datadir.py --ferro '<cmd>' [--ref '<cmd>'] SCENARIO...")
    if args is None:
        return 2
    ARGS, names = args
    # lib/zk-reference has no snappy-java: use our own launcher when it is the candidate
    if os.path.basename(ARGS["ferro"][0]) == "zk-reference":
        ARGS["ferro"] = REF_CMD
    failed = 0
    for name in names:
        t0 = time.time()
        work = tempfile.mkdtemp(prefix=f"datadir-{name}.", dir=os.environ.get("DATADIR_TMP"))
        RUNNING.clear()
        try:
            SCENARIOS[name](work)
            print(f"PASS datadir_{name}", flush=True)
        except Exception as e:
            failed += 1
            print_fail(f"datadir_{name}", e, Fail)
        finally:
            kill_all(RUNNING)
            remove_unless_kept(work, log)
            log(f"{name}: {time.time() - t0:.1f}s")
    return 1 if failed else 0


ARGS = {}

if __name__ == "__main__":
    sys.exit(main())
