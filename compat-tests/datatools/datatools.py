#!/usr/bin/python3
"""ZooKeeper's data tools against ferrokeeper's subcommands, on the same files.

    datatools.py --list
    datatools.py --ferro "<cmd> [args]" [--ref "<cmd> [args]"] SCENARIO...

One workload (every txn type: create, ephemeral, sequential, container, TTL, setData,
setACL, check, delete, deleteContainer, multi, a failed multi's error txns, createSession,
closeSession; data with commas, newlines, '%' and bytes that are not UTF-8) runs on the
reference Apache ZooKeeper 3.8.0 and on the candidate, each on its own dataDir with a small
snapCount, so both leave several logs and snapshots. Then the Java tools
(TxnLogToolkit, SnapshotFormatter, SnapshotComparer, PurgeTxnLog) and
`<candidate> txnlog|snapshot|snapshot-compare|purge` run on the same files and their stdout,
stderr and exit codes must be equal:

  datatools_ref_files    the tools on the files the reference wrote
  datatools_ferro_files  the tools on the files the candidate wrote
  datatools_damaged      a CRC error (dump, --recover --yes, interactive --recover), a torn
                         tail, a file that is not a log, a missing file, chop (-c -z)
  datatools_purge        PurgeTxnLog -n 3 on copies of both dataDirs: same lines, same files left
  datatools_usage        bad command lines: usage texts, messages, exit codes

Both sides run with LANG=C.UTF-8 and TZ=UTC (the Java tools print dates in the JVM's
locale and zone; ours print the English-locale UTC forms). Volatile bits are masked: the
JVM's "Exiting JVM" log line and stack-trace frames, the comparer's timings, the JSON
timestamp, the text after `Exception in thread "main"` (exception messages are not
reproduced word for word; the fact and the exit code are).
"""

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "datadir"))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))

import datadir  # noqa: E402
from datadir import Server, Fail, RUNNING, REF_CMD, REF_CP, snap_files  # noqa: E402
from harness import kill_all, print_fail, remove_unless_kept, side_args  # noqa: E402
from tree import CreateContainer, CreateTTL, raw, gather, client, stop, open_acl, acl_kinds  # noqa: E402

ENV = dict(os.environ, LANG="C.UTF-8", LC_ALL="C.UTF-8", TZ="UTC")
SCENARIOS = {}
CLASSES = {
    "txnlog": "org.apache.zookeeper.server.persistence.TxnLogToolkit",
    "snapshot": "org.apache.zookeeper.server.SnapshotFormatter",
    "snapshot-compare": "org.apache.zookeeper.server.SnapshotComparer",
    "purge": "org.apache.zookeeper.server.PurgeTxnLog",
}


def scenario(fn):
    SCENARIOS[fn.__name__] = fn
    return fn


def log(*a):
    print("[datatools]", *a, file=sys.stderr, flush=True)


def java(tool, args, stdin=b"", cwd=None):
    cmd = ["java", "-Xmx256m", "-XX:+UseSerialGC", "-cp", REF_CP,
           "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn", CLASSES[tool], *args]
    p = subprocess.run(cmd, input=stdin, capture_output=True, timeout=120, env=ENV, cwd=cwd)
    return p.returncode, p.stdout, p.stderr


def ours(tool, args, stdin=b"", cwd=None):
    if CONTROL:
        return java(tool, args, stdin, cwd)
    p = subprocess.run(ARGS["ferro"] + [tool, *args], input=stdin, capture_output=True,
                       timeout=120, env=ENV, cwd=cwd)
    return p.returncode, p.stdout, p.stderr


TIMING = re.compile(rb"in (\S+ in )?\d+\.\d{6} seconds")


def mask_out(b):
    b = TIMING.sub(rb"in \1<secs> seconds", b)
    return re.sub(rb'"timestamp":\d+', b'"timestamp":<ms>', b)


def mask_err(b):
    keep = []
    for ln in b.split(b"\n"):
        if ln.startswith(b"[main] ") or ln.startswith(b"\tat ") or ln.startswith(b"\t... "):
            continue
        if ln.startswith(b"Caused by: "):
            continue
        if ln.startswith(b'Exception in thread "main" '):
            ln = b'Exception in thread "main" <exception>'
        keep.append(ln)
    return b"\n".join(keep)


def same(tool, args, problems, label, stdin=b"", cwd=None, files=()):
    """Run both tools; record any difference in exit code, stdout, stderr, or in `files`
    (paths each run produces, compared by content and then removed)."""
    results = []
    for run in (java, ours):
        rc, out, err = run(tool, args, stdin, cwd)
        made = {}
        for f in files:
            if os.path.exists(f):
                with open(f, "rb") as fh:
                    made[f] = (os.path.getsize(f), hashlib.sha256(fh.read()).hexdigest())
                os.remove(f)
            else:
                made[f] = None
        results.append((rc, mask_out(out), mask_err(err), made))
    (jrc, jout, jerr, jmade), (orc, oout, oerr, omade) = results
    bad = []
    if jrc != orc:
        bad.append(f"exit code: java {jrc}, ours {orc}")
    if jout != oout:
        bad.append("stdout differs:\n" + first_diff(jout, oout))
    if jerr != oerr:
        bad.append("stderr differs:\n" + first_diff(jerr, oerr))
    if jmade != omade:
        bad.append(f"files written differ: java {jmade}, ours {omade}")
    if bad:
        problems.append(f"{label}: {tool} {' '.join(args)}\n  " + "\n  ".join(bad))
    return jrc, jout


def first_diff(a, b):
    la, lb = a.split(b"\n"), b.split(b"\n")
    for i in range(max(len(la), len(lb))):
        x = la[i] if i < len(la) else b"<none>"
        y = lb[i] if i < len(lb) else b"<none>"
        if x != y:
            return (f"    line {i + 1} ({len(la)} vs {len(lb)} lines)\n"
                    f"    java: {x[:300]!r}\n    ours: {y[:300]!r}")
    return "    (no line differs)"


# --- the workload ----------------------------------------------------------------

def workload(hp):
    """Every txn type; returns after closing all sessions but one left to the restart."""
    from kazoo.security import make_digest_acl
    from kazoo.exceptions import NoNodeError, BadVersionError
    zk = client(hp, auth=[("digest", "super:superpw")])
    try:
        zk.create("/dt", b"top")
        odd = [b"plain", b"a,b\nc%d}", b"\xc3\x28\x00\xe2\x82\xff", b"", None, b"x" * 3000,
               "ünï/çødé".encode()]
        gather([zk.create_async(f"/dt/n{i}", odd[i % len(odd)]) for i in range(60)])
        gather([zk.create_async("/dt/seq-", b"s", sequence=True) for _ in range(5)])
        kinds = acl_kinds()
        gather([zk.create_async(f"/dt/acl{i}", b"a", acl=kinds[i]) for i in range(len(kinds))])
        zk.create("/dt/c2", b"c2", include_data=True)  # create2
        gather([raw(zk, CreateContainer(f"/dt/cont{i}", b"", open_acl(), 4)) for i in range(3)])
        zk.create("/dt/cont0/kid", b"k")
        gather([raw(zk, CreateTTL(f"/dt/ttl{i}", b"t", open_acl(), 5, 3_600_000)) for i in range(3)])
        gather([raw(zk, CreateTTL("/dt/ttls-", b"t", open_acl(), 6, 7_200_000)) for _ in range(2)])
        gather([zk.set_async(f"/dt/n{i}", odd[(i + 3) % len(odd)]) for i in range(60)])
        zk.set("/dt/n1", b"v", version=1)
        try:
            zk.set("/dt/n1", b"v", version=99)  # fails: no txn
        except BadVersionError:
            pass
        zk.set_acls("/dt/n2", [make_digest_acl("bob", "pw", all=True)])
        zk.set_acls("/dt/n3", kinds[4], version=0)
        gather([zk.delete_async(f"/dt/n{i}") for i in range(40, 60)])
        t = zk.transaction()
        t.create("/dt/m1", b"m1")
        t.set_data("/dt/n0", b"multi")
        t.check("/dt/n4", 1)
        t.delete("/dt/n5")
        t.create("/dt/mseq-", b"q", sequence=True)
        t.commit()
        t = zk.transaction()  # fails: the multi's error txns
        t.create("/dt/m2", b"m2")
        t.delete("/dt/nope")
        t.commit()
        try:
            zk.delete("/dt/nope")
        except NoNodeError:
            pass
        # sessions: ephemerals closed with their session, one session left open
        for k in range(3):
            other = client(hp)
            gather([other.create_async(f"/dt/e{k}-{j}", b"e", ephemeral=True) for j in range(3)])
            other.create(f"/dt/es{k}-", b"", ephemeral=True, sequence=True)
            stop(other)
        # a container that had a child and lost it is reaped by the server's container
        # manager, which logs a deleteContainer txn
        zk.delete("/dt/cont0/kid")
        deadline = time.time() + 30
        while zk.exists("/dt/cont0") and time.time() < deadline:
            time.sleep(0.2)
        if zk.exists("/dt/cont0"):
            raise Fail("the emptied container /dt/cont0 was not reaped within 30s")
        zk.delete("/dt/cont2")
        # enough txns to roll logs and snapshots a few more times
        for r in range(4):
            gather([zk.create_async(f"/dt/roll{r}-{i}", b"r" * (i % 50)) for i in range(60)])
        keep = client(hp)
        keep.create("/dt/kept-eph", b"kept", ephemeral=True)
        return keep
    finally:
        stop(zk)


DIRS = {}


def data_dir(side, work):
    """Build (once) the dataDir the side's server wrote; stopped, a restart snapshot taken."""
    if side in DIRS:
        if isinstance(DIRS[side], Exception):
            raise Fail(f"{side}: the dataDir could not be built: {DIRS[side]}")
        return DIRS[side]
    try:
        DIRS[side] = build_data_dir(side, work)
    except Exception as e:
        DIRS[side] = e
        raise
    return DIRS[side]


def build_data_dir(side, work):
    cmd = ARGS["ref"] if side == "reference" else ARGS["ferro"]
    data = os.path.join(work, f"{side}-data")
    os.makedirs(data)
    datadir.SNAP_COUNT = 100
    # the reference reads the container manager's interval from a system property only
    fast_reaper = "znode.container.checkIntervalMs=500"
    if side == "reference" and os.path.basename(cmd[0]) == "java":
        cmd = cmd[:1] + ["-D" + fast_reaper] + cmd[1:]
    srv = Server(side, cmd, work, data, fast_reaper).start()
    keep = workload(srv.hp)
    # the live session is in the snapshot written at shutdown/restart
    srv.stop("term")
    try:
        keep.stop()
        keep.close()
    except Exception:
        pass
    srv = Server(side, cmd, work, data).start()
    srv.stop("term")
    v2 = os.path.join(data, "version-2")
    logs, snaps = snap_files(data, "log."), snap_files(data, "snapshot.")
    if len(logs) < 2 or len(snaps) < 4:
        raise Fail(f"{side}: expected several logs and snapshots: {logs} {snaps}")
    log(f"{side}: {len(logs)} logs, {len(snaps)} snapshots")
    return data, v2, logs, snaps


def tools_on(side, work):
    data, v2, logs, snaps = data_dir(side, work)
    problems = []
    for name in logs:
        rc, out = same("txnlog", [os.path.join(v2, name)], problems, side)
        if rc != 0 or b"EOF reached after" not in out:
            problems.append(f"{side}: TxnLogToolkit {name} exit {rc}")
    # the longest file, every txn type in it, in detail mode too
    same("txnlog", ["-d", os.path.join(v2, logs[0])], problems, side)
    for name in snaps:
        path = os.path.join(v2, name)
        same("snapshot", [path], problems, side)
        same("snapshot", ["-d", path], problems, side)
        same("snapshot", ["-json", path], problems, side)
    first, last = os.path.join(v2, snaps[0]), os.path.join(v2, snaps[-1])
    same("snapshot-compare", ["-l", first, "-r", last, "-b", "0", "-n", "0"], problems, side)
    same("snapshot-compare", ["--left", last, "--right", first, "-b", "100", "-n", "2", "-d"],
         problems, side)
    same("snapshot-compare", ["-l", first, "-r", last, "-b", "0", "-n", "0", "-i"], problems,
         side, stdin=b"\n2\n/dt\n/none\nx\n99\n\n\n\n\n\n")
    if problems:
        raise Fail("\n".join(problems[:12]))


@scenario
def ref_files(work):
    tools_on("reference", work)


@scenario
def ferro_files(work):
    tools_on("candidate", work)


def record_offsets(path):
    """(offset, length) of each record of a log file, by its lengths (no CRC checks)."""
    with open(path, "rb") as f:
        b = f.read()
    out, at = [], 16
    while at + 12 <= len(b):
        n = int.from_bytes(b[at + 8:at + 12], "big", signed=True)
        if n <= 0 or at + 12 + n + 1 > len(b):
            break
        out.append((at, n))
        at += 12 + n + 1
    return b, out


@scenario
def damaged(work):
    problems = []
    for side in ("candidate", "reference"):
        data, v2, logs, snaps = data_dir(side, work)
        src = os.path.join(v2, logs[0])
        b, recs = record_offsets(src)
        if len(recs) < 20:
            raise Fail(f"{side}: {logs[0]} has only {len(recs)} records")
        d = os.path.join(work, f"damaged-{side}")
        os.makedirs(d)
        # CRC errors in two txns: a flipped data byte, and a flipped stored checksum
        bad = bytearray(b)
        at, n = recs[5]
        bad[at + 12 + n - 1] ^= 0x01
        at, n = recs[9]
        bad[at] ^= 0x40
        crc = os.path.join(d, "log.crc")
        with open(crc, "wb") as f:
            f.write(bad)
        same("txnlog", [crc], problems, f"{side} crc")
        fixed = crc + ".fixed"
        same("txnlog", ["-r", "-y", crc], problems, f"{side} crc", files=[fixed])
        same("txnlog", ["--recover", "--verbose", "--yes", crc], problems, f"{side} crc",
             files=[fixed])
        same("txnlog", ["-r", crc], problems, f"{side} crc", stdin=b"maybe\nyes\nno\n",
             files=[fixed])
        same("txnlog", ["-r", crc], problems, f"{side} crc", stdin=b"abort\n", files=[fixed])
        same("txnlog", ["-r", crc], problems, f"{side} crc", stdin=b"", files=[fixed])
        with open(fixed, "wb") as f:
            f.write(b"")
        same("txnlog", ["-r", "-y", crc], problems, f"{side} crc exists")
        os.remove(fixed)
        # torn tails: inside a txn, and a record whose end byte is not 'B'
        at, n = recs[12]
        torn = os.path.join(d, "log.torn")
        with open(torn, "wb") as f:
            f.write(b[:at + 12 + n // 2])
        same("txnlog", [torn], problems, f"{side} torn")
        partial = bytearray(b[:at + 12 + n + 1])
        partial[-1] = 0x41
        with open(torn, "wb") as f:
            f.write(partial)
        same("txnlog", [torn], problems, f"{side} partial")
        # not a txn log; too short for a header; missing; a directory
        same("txnlog", [os.path.join(v2, snaps[-1])], problems, f"{side} not-a-log")
        short = os.path.join(d, "log.short")
        with open(short, "wb") as f:
            f.write(b[:10])
        same("txnlog", [short], problems, f"{side} short")
        same("txnlog", [os.path.join(d, "log.missing")], problems, f"{side} missing")
        same("snapshot", [os.path.join(v2, logs[0])], problems, f"{side} log-as-snapshot")
        same("snapshot", [d], problems, f"{side} dir-as-snapshot")
        # a gzip snapshot (snapshot.compression.method=gz names it .gz), and a truncated one
        import gzip
        with open(os.path.join(v2, snaps[-1]), "rb") as f:
            snap = f.read()
        gz = os.path.join(d, snaps[-1] + ".gz")
        with open(gz, "wb") as f:
            f.write(gzip.compress(snap))
        same("snapshot", ["-d", gz], problems, f"{side} gz")
        cut = os.path.join(d, snaps[-1])
        with open(cut, "wb") as f:
            f.write(snap[:len(snap) // 2])
        same("snapshot", [cut], problems, f"{side} truncated snapshot")
        # chop: at a zxid in the file, past its end, before its start; on a damaged file
        zx = [int.from_bytes(b[a + 12 + 12:a + 12 + 20], "big") for a, _ in recs]
        copy = os.path.join(d, "log.chop")
        shutil.copyfile(src, copy)
        for z, label in ((zx[len(zx) // 2], "mid"), (zx[-1] + 5, "past"), (zx[0] - 1, "before")):
            for form in (hex(z), str(z)):
                same("txnlog", ["-c", "-z", form, copy], problems, f"{side} chop {label}",
                     files=[f"{copy}.chopped{z}"])
        z = zx[len(zx) // 2]
        same("txnlog", ["--chop", f"--zxid={z}", crc], problems, f"{side} chop crc",
             files=[f"{crc}.chopped{z}"])
    if problems:
        raise Fail("\n".join(problems[:12]))


@scenario
def purge(work):
    problems = []
    for side in ("reference", "candidate"):
        data, v2, logs, snaps = data_dir(side, work)
        left = {}
        outs = {}
        for who, run in (("java", java), ("ours", ours)):
            cwd = os.path.join(work, f"purge-{side}-{who}")
            shutil.copytree(data, os.path.join(cwd, "data"))  # copy2 keeps the mtimes
            rc, out, err = run("purge", ["data", "-n", "3"], cwd=cwd)
            outs[who] = (rc, sorted(mask_out(out).split(b"\n")), mask_err(err))
            left[who] = sorted(os.listdir(os.path.join(cwd, "data", "version-2")))
            # and the two-directory form, which checks each holds only its own files
            rc2, out2, err2 = run("purge", ["data", "data", "-n", "4"], cwd=cwd)
            outs[who + "2"] = (rc2, out2, mask_err(err2))
        if outs["java"] != outs["ours"]:
            problems.append(f"{side}: purge output differs:\n  java {outs['java']}\n"
                            f"  ours {outs['ours']}")
        if outs["java2"] != outs["ours2"]:
            problems.append(f"{side}: second purge differs:\n  java {outs['java2']}\n"
                            f"  ours {outs['ours2']}")
        if left["java"] != left["ours"]:
            problems.append(f"{side}: files left differ: java {left['java']} ours {left['ours']}")
        if not any(b"Removing file:" in ln for ln in outs["java"][1]):
            problems.append(f"{side}: PurgeTxnLog removed nothing; the test proves nothing")
    # a log directory holding snapshots: refused before anything is deleted
    data, _, _, _ = data_dir("reference", work)
    mixed = os.path.join(work, "purge-mixed")
    shutil.copytree(data, os.path.join(mixed, "logs"))
    os.makedirs(os.path.join(mixed, "snaps"))
    same("purge", ["logs", "snaps", "-n", "3"], problems, "mixed dirs", cwd=mixed)
    if problems:
        raise Fail("\n".join(problems[:12]))


@scenario
def usage(work):
    problems = []
    cases = {
        "txnlog": [[], ["-h"], ["--help"], ["-x", "f"], ["-z"], ["f", "--zxid"],
                   ["-c", "-z", "zz", "/etc/hostname"]],
        "snapshot": [[], ["-d"], ["-json", "-d", "/etc/hostname", "extra"], ["/nonexistent"],
                     ["-d", "-json", "/etc/hostname"], ["/tmp"]],
        "snapshot-compare": [[], ["-l", "a"], ["-l", "a", "-r", "b", "-b", "x", "-n", "1"],
                             ["-l", "/nonexistent", "-r", "b", "-b", "1", "-n", "1"],
                             ["--bogus"]],
        "purge": [[], ["/tmp"], ["/tmp", "-n", "2"], ["/tmp", "-n", "x"], ["/tmp", "-m", "3"],
                  ["/nonexistent", "-n", "3"], ["/tmp", "/nonexistent", "-n", "3"],
                  ["a", "b", "c", "d", "e"]],
    }
    for tool, arglists in cases.items():
        for args in arglists:
            same(tool, args, problems, "usage", cwd=work)
    if problems:
        raise Fail("\n".join(problems[:12]))


def main():
    argv = sys.argv[1:]
    if argv[:1] == ["--list"]:
        for n in SCENARIOS:
            print(n)
        return 0
    global ARGS
    args = side_args(argv, REF_CMD, "datatools.py --ferro '<cmd>' [--ref '<cmd>'] SCENARIO...")
    if args is None:
        return 2
    ARGS, names = args
    # FERRO_CMD=…zk-reference is the control run: the reference's server and its tools twice
    global CONTROL
    if os.path.basename(ARGS["ferro"][0]) == "zk-reference":
        ARGS["ferro"] = REF_CMD
        CONTROL = True
    datadir.ARGS = ARGS
    work = tempfile.mkdtemp(prefix="datatools.", dir=os.environ.get("DATADIR_TMP"))
    failed = 0
    try:
        for name in names:
            t0 = time.time()
            try:
                SCENARIOS[name](work)
                print(f"PASS datatools_{name}", flush=True)
            except Exception as e:
                failed += 1
                print_fail(f"datatools_{name}", e, Fail)
            log(f"{name}: {time.time() - t0:.1f}s")
    finally:
        kill_all(RUNNING)
        remove_unless_kept(work, log)
    return 1 if failed else 0


ARGS = {}
CONTROL = False

if __name__ == "__main__":
    sys.exit(main())
