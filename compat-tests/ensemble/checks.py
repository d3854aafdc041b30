"""The checks of an ensemble scenario (issue #6 "done when"). Each takes a healthy running
Ensemble, raises Fail with the precise problem, and leaves every node running and serving
(the driver verifies convergence — same tree, same Zxid — after each)."""

import os
import re
import signal
import subprocess
import time

from cluster import TICK, Fail, log, wait_until
from kz import RETRYABLE, Writer, client, close, converge, synced

HERE = os.path.dirname(os.path.abspath(__file__))
CT = os.path.dirname(HERE)
J = "/usr/share/java"
CURATOR_JARS = ["curator-recipes", "curator-framework", "curator-client", "zookeeper",
                "zookeeper-jute", "guava", "failureaccess", "slf4j-api", "slf4j-nop",
                "netty-handler", "netty-transport", "netty-common", "netty-buffer",
                "netty-codec", "netty-resolver", "netty-transport-native-epoll",
                "netty-transport-native-unix-common", "commons-io", "commons-cli",
                "metrics-core", "snappy-java"]
CURATOR_CP = ":".join(f"{J}/{j}.jar" for j in CURATOR_JARS if os.path.exists(f"{J}/{j}.jar"))
CURATOR_OUT = os.path.join(CT, "out", "curator")
LEARNER_SYNC = {"DIFF": "Getting a diff from the leader", "SNAP": "Getting a snapshot from leader",
                "TRUNC": "Truncating log to get in sync with the leader"}
DEAD = 2 * 5 * TICK / 1000 + 2  # a SIGSTOPped peer is dropped after syncLimit ticks


def compile_curator():
    src = os.path.join(CT, "curator", "EnsembleScenarios.java")
    cls = os.path.join(CURATOR_OUT, "EnsembleScenarios.class")
    if not os.path.exists(cls) or os.path.getmtime(src) > os.path.getmtime(cls):
        os.makedirs(CURATOR_OUT, exist_ok=True)
        log("javac EnsembleScenarios.java")
        subprocess.run(["javac", "-nowarn", "-encoding", "UTF-8", "-cp", CURATOR_CP, "-d",
                        CURATOR_OUT, src], check=True, timeout=300)


def pick_follower(ens, prefer_other_kind=True):
    """A follower, preferably of the other kind than the leader (cross-kind sync)."""
    leader = ens.leader()
    fs = ens.followers()
    if not fs:
        raise Fail(f"no follower to use; {ens.status()}")
    other = [f for f in fs if f.kind != leader.kind]
    return leader, (other or fs)[0] if prefer_other_kind else fs[0]


def expect_sync_mode(node, since, mode, leader):
    """A reference learner logs how it was synced; the candidate's log format is its own."""
    if node.kind != "zk":
        return
    text = node.log_text()[since:]
    got = [m for m, s in LEARNER_SYNC.items() if s in text]
    if mode not in got:
        raise Fail(f"{node.name} (reference learner) was synced by leader {leader.name} with "
                   f"{got or 'nothing logged'}, expected {mode} (what a ZooKeeper leader sends "
                   f"here)")


def must_have(node, paths, what, root=None):
    """Read through `node` only, after a sync: every path exists."""
    zk = client(node)
    try:
        synced(zk, root or "/")
        missing = [p for p in paths if not zk.exists(p)]
    finally:
        close(zk)
    if missing:
        raise Fail(f"{node.name}: {len(missing)} of {len(paths)} {what} missing after sync, "
                   f"e.g. {missing[:4]}")


def write_some(node, root, n, tag):
    zk = client(node)
    try:
        zk.ensure_path(root)
        paths = []
        for i in range(n):
            p = zk.create(f"{root}/{tag}-", b"%d" % i, sequence=True)
            paths.append(p)
        zk.set(root, tag.encode())
        if paths:
            zk.delete(paths[0])
            paths = paths[1:]
        return paths
    finally:
        close(zk)


# ----------------------------------------------------------------- 1. reads/writes, recipes
def check_rw(ens, ctx):
    """Through every node: a persistent, an ephemeral, sequentials (persistent and
    ephemeral) and a setData; every node reads all of them after sync; closing a session
    removes its ephemerals everywhere."""
    root = "/ens_rw"
    clients = {n.name: client(n) for n in ens.nodes}
    try:
        clients[ens.nodes[0].name].ensure_path(root)
        made, seqs = {}, []
        for n in ens.nodes:
            zk = clients[n.name]
            sid = zk.client_id[0]
            zk.create(f"{root}/p{n.sid}", f"from {n.name}".encode())
            st = zk.set(f"{root}/p{n.sid}", f"set via {n.name}".encode())
            if st.version != 1:
                raise Fail(f"setData via {n.name}: expected version 1, got {st.version}")
            zk.create(f"{root}/e{n.sid}", b"eph", ephemeral=True)
            s = [zk.create(f"{root}/s-", n.name.encode(), sequence=True) for _ in range(3)]
            s.append(zk.create(f"{root}/es-", b"eseq", ephemeral=True, sequence=True))
            seqs += s
            made[n.name] = (sid, s)
        nums = sorted(int(p[-10:]) for p in seqs)
        if len(set(nums)) != len(nums):
            raise Fail(f"sequence numbers repeat across nodes: {nums}")
        for n in ens.nodes:
            zk = synced(clients[n.name], root)
            kids = set(zk.get_children(root))
            want = {f"p{m.sid}" for m in ens.nodes} | {f"e{m.sid}" for m in ens.nodes} \
                | {p.rsplit("/", 1)[1] for p in seqs}
            if kids != want:
                raise Fail(f"children of {root} read via {n.name} after sync: missing "
                           f"{sorted(want - kids)}, unexpected {sorted(kids - want)}")
            for m in ens.nodes:
                data, st = zk.get(f"{root}/p{m.sid}")
                if data != f"set via {m.name}".encode() or st.version != 1:
                    raise Fail(f"{root}/p{m.sid} read via {n.name}: {data!r} version "
                               f"{st.version}, expected b'set via {m.name}' version 1")
                owner = zk.exists(f"{root}/e{m.sid}").ephemeralOwner
                if owner != made[m.name][0]:
                    raise Fail(f"{root}/e{m.sid} read via {n.name}: ephemeralOwner {owner:#x}, "
                               f"expected {made[m.name][0]:#x} (session on {m.name})")
        # closing the session of node 1's client deletes its ephemerals on every node
        first = ens.nodes[0]
        close(clients.pop(first.name))
        gone = [f"{root}/e{first.sid}", made[first.name][1][-1]]
        for n in ens.nodes[1:]:
            zk = synced(clients[n.name], root)
            left = [p for p in gone if zk.exists(p)]
            if left:
                raise Fail(f"{left} still served by {n.name} after the owner's session "
                           f"(on {first.name}) closed")
    finally:
        for zk in clients.values():
            close(zk)


def run_curator(ens, scenario):
    compile_curator()
    cmd = ["java", "-Xmx128m", "-XX:+UseSerialGC", "-cp", f"{CURATOR_OUT}:{CURATOR_CP}",
           "EnsembleScenarios", scenario] + [n.hp for n in ens.nodes]
    try:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=180)
    except subprocess.TimeoutExpired:
        raise Fail(f"Curator {scenario} did not finish in 180s") from None
    out = p.stdout.decode(errors="replace")
    fails = [ln for ln in out.splitlines() if ln.startswith("FAIL")]
    if p.returncode != 0 or fails:
        err = p.stderr.decode(errors="replace").strip().splitlines()[-8:]
        raise Fail(f"Curator {scenario} (one client per node: "
                   f"{', '.join(f'{n.name}={n.hp}' for n in ens.nodes)}) exit {p.returncode}:\n"
                   + "\n".join("  " + x for x in (fails or out.splitlines()[-8:]) + err))
    log(f"curator {scenario}: " + "; ".join(ln[3:] for ln in out.splitlines()
                                               if ln.startswith("OK"))[:300])


def check_curator(ens, ctx):
    """LeaderLatch (one participant per node) and InterProcessMutex (two clients per node)."""
    run_curator(ens, "latch")
    run_curator(ens, "mutex")


# ----------------------------------------------------------------- 2. leader kill under load
def check_leader_kill(ens, ctx):
    root = "/ens_kill"
    old = ens.leader()
    survivors = [n for n in ens.nodes if n is not old]
    zk = client(survivors[0])
    zk.ensure_path(root)
    close(zk)
    # a session on a surviving follower, holding an ephemeral, must outlive the election
    holder_node = next(n for n in survivors if not n.observer)
    holder = client(holder_node, timeout=30.0)
    sid = holder.client_id[0]
    holder.create(f"{root}/holder", b"h", ephemeral=True)
    writers = []
    try:
        for k, n in enumerate(survivors[:3]):
            writers.append(Writer(k, [n] + [m for m in survivors if m is not n], root))
        time.sleep(2)
        before = sum(len(w.acked) for w in writers)
        if before < 5:
            raise Fail(f"load: only {before} acknowledged creates in 2s before the kill")
        log(f"kill -9 leader {old.name} ({before} acks so far)")
        old.stop("kill")
        t_kill = time.time()
        ens.wait_healthy(60, nodes=survivors)
        new = ens.leader()
        t_new = time.time()
        log(f"new leader {new.name} after {t_new - t_kill:.1f}s")
        for w in writers:
            wait_until(f"writer {w.k} (via {survivors[w.k].name} first) to get 5 creates "
                       f"acknowledged after the new leader {new.name} was elected",
                       lambda w=w: w.acks_after(t_new) >= 5, 30)
    finally:
        for w in writers:
            w.finish()
    acked = [p for w in writers for p in w.acked]
    tried = set().union(*(w.tried for w in writers))
    odd = [e for w in writers for e in w.errors if not e.isidentifier()]
    if odd:
        raise Fail(f"writers got unexpected answers: {odd[:5]}")
    # a learner closes its clients when it loses its leader (Learner#shutdown): the holder
    # reconnects on its own; give it a bounded while
    deadline = time.time() + 30
    while not holder.connected and time.time() < deadline:
        time.sleep(0.1)
    cid = holder.client_id[0] if holder.client_id else None
    if cid != sid or not holder.connected:
        raise Fail(f"the session 0x{sid:x} on surviving {holder_node.name} did not survive "
                   f"the election (state {holder.state}, id {cid if cid is None else hex(cid)})")
    close_later = holder
    try:
        for n in survivors:
            zk = synced(client(n), root)
            try:
                have = set(f"{root}/{k}" for k in zk.get_children(root))
                st = zk.exists(f"{root}/holder")
            finally:
                close(zk)
            lost = [p for p in acked if p not in have]
            extra = sorted(p for p in have - tried if p != f"{root}/holder")
            if lost:
                raise Fail(f"{len(lost)} of {len(acked)} acknowledged creates lost after kill -9 "
                           f"of leader {old.name}, read via {n.name}: {lost[:5]}")
            if extra:
                raise Fail(f"{n.name} serves creates nobody sent: {extra[:5]}")
            if st is None or st.ephemeralOwner != sid:
                raise Fail(f"{root}/holder read via {n.name}: "
                           f"{'missing' if st is None else hex(st.ephemeralOwner)}, expected "
                           f"an ephemeral of the surviving session 0x{sid:x}")
        log(f"{len(acked)} acked creates all present on {len(survivors)} survivors")
        ens.start_node(old)
        must_have(old, acked, "acknowledged creates (restarted old leader)", root)
    finally:
        close(close_later)


# ----------------------------------------------------------------- 3. catch-up
def check_diff(ens, ctx):
    leader, f = pick_follower(ens)
    # the follower's last zxid must be one the leader committed itself (committedLog),
    # or a fresh ZooKeeper leader sends SNAP (its txn log is larger than its snapshot)
    write_some(leader, "/ens_diff", 3, "before")
    must_have(f, [], "")
    f.stop("term")
    paths = write_some(leader, "/ens_diff", 25, "d")
    mark = len(f.log_text())
    ens.start_node(f)
    must_have(f, paths, "txns written while it was down")
    expect_sync_mode(f, mark, "DIFF", leader)


def check_snap(ens, ctx):
    leader, f = pick_follower(ens)
    f.stop("term")
    f.wipe()
    paths = write_some(leader, "/ens_snap", 25, "s")
    mark = len(f.log_text())
    ens.start_node(f)
    must_have(f, paths, "txns written while it was down (dataDir wiped)")
    expect_sync_mode(f, mark, "SNAP", leader)


def check_trunc(ens, ctx):
    """The leader logs a proposal no other voter ever receives, and dies; the others elect and
    move on; the old leader restarts holding that uncommitted txn: it must drop it (TRUNC).

    Provoked by SIGKILLing every other voter, then at once sending the leader a create
    (it logs the proposal before its next quorum check, within tickTime/2, makes it give up),
    then SIGKILLing the leader. SIGSTOPping the voters instead does not work: the proposal
    waits in their socket buffers, they log it on SIGCONT and the next epoch commits it.
    The old leader rejoins before the new epoch writes anything: a ZooKeeper leader sends
    TRUNC only while the learner's zxid is above its own last one; once the new epoch has
    txns it sends SNAP ("Cannot send TRUNC to peer ... from different epoch",
    LearnerHandler#queueCommittedProposals)."""
    root = "/ens_trunc"
    write_some(ens.nodes[0], root, 3, "t")
    attempts = []
    for attempt in range(1, 4):
        old = ens.leader()
        voters = [n for n in ens.voters() if n is not old]
        zk = client(old, timeout=4.0)
        try:
            for n in voters:
                n.stop("kill")
            pending = zk.create_async(f"{root}/uncommitted", b"never")
            time.sleep(0.4)
            acked = pending.ready() and pending.successful()
            old.stop("kill")
        finally:
            close(zk)
        if acked:
            raise Fail(f"setup: leader {old.name} acknowledged a create after every other voter "
                       f"was SIGKILLed")
        logged = last_logged(old)
        log(f"trunc attempt {attempt}: {old.name}'s last logged txn: {logged}")
        attempts.append(f"{old.name}: {logged or 'no txn readable by TxnLogToolkit'}")
        for n in voters:
            n.start(ens.cmd(n))
        ens.wait_healthy(60, nodes=[n for n in ens.nodes if n is not old])
        new = ens.leader()
        mark = len(old.log_text())
        ens.start_node(old)
        after = write_some(new, root, 5, "after")
        if logged is None or "/ens_trunc/uncommitted" not in logged:
            must_have(old, after, "creates of the new epoch (restarted old leader)", root)
            continue  # the leader gave up before proposing: try again
        zk = synced(client(old), root)
        try:
            if zk.exists(f"{root}/uncommitted"):
                raise Fail(f"old leader {old.name} serves {root}/uncommitted, a txn the quorum "
                           f"never committed (its log ended with {logged}); new leader "
                           f"{new.name}")
            missing = [p for p in after if not zk.exists(p)]
            if missing:
                raise Fail(f"old leader {old.name} lacks the new epoch's creates {missing[:3]}")
        finally:
            close(zk)
        expect_sync_mode(old, mark, "TRUNC", new)
        return
    raise Fail("could not provoke TRUNC in 3 attempts: the old leader's newest log.* did not "
               "end with the uncommitted create (TxnLogToolkit --dump, last txn per attempt: "
               + "; ".join(attempts) + ")")


def last_logged(node):
    """The last txn in the node's newest log.* file, per the reference's TxnLogToolkit."""
    d = os.path.join(node.data, "version-2")
    logs = sorted((n for n in os.listdir(d) if n.startswith("log.")),
                  key=lambda n: int(n.split(".")[1], 16)) if os.path.isdir(d) else []
    if not logs:
        return None
    from cluster import REF_CP
    try:
        p = subprocess.run(["java", "-Xmx128m", "-cp", REF_CP,
                            "org.apache.zookeeper.server.persistence.TxnLogToolkit", "--dump",
                            os.path.join(d, logs[-1])],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    except subprocess.TimeoutExpired:
        return None
    lines = [ln for ln in p.stdout.decode(errors="replace").splitlines() if " zxid 0x" in ln]
    if not lines:
        return None
    m = re.search(r"zxid (0x[0-9a-f]+) (\w+)(.*)", lines[-1])
    return f"{m.group(1)} {m.group(2)}{m.group(3)[:40]}" if m else lines[-1][-80:]


# ----------------------------------------------------------------- 4. partitions
def partition(ens, victim, root):
    others = [n for n in ens.nodes if n is not victim]
    was_leader = victim.mode() == "leader"
    # a session on the victim opened before: anything it gets acknowledged must persist
    vz = client(victim, timeout=30.0)  # outlives the SIGSTOP
    victim.signal(signal.SIGSTOP)
    acked = []
    try:
        t0 = time.time()
        if was_leader:
            ens.wait_healthy(60, nodes=others)
        writer = [n for n in others if n.mode() == "leader"][0]
        zk = client(writer)
        try:
            zk.ensure_path(root)
            for i in range(20):
                acked.append(zk.create(f"{root}/n-", b"%d" % i, sequence=True))
        finally:
            close(zk)
        time.sleep(max(0.0, DEAD - (time.time() - t0)))
    finally:
        victim.signal(signal.SIGCONT)
    # right after SIGCONT the victim may still believe in its old role: a write through it
    late = f"{root}/late-write"
    try:
        vz.create(late, b"from the resumed node")
        late_acked = True
    except RETRYABLE:
        late_acked = False
    except Exception as e:
        late_acked = False
        log(f"late write via resumed {victim.name}: {e!r}")
    finally:
        close(vz)
    ens.wait_serving(victim, 60)
    ens.wait_healthy(60)
    zk = client(victim)
    try:
        synced(zk, root)
        missing = [p for p in acked if not zk.exists(p)]
        if missing:
            raise Fail(f"resumed {victim.name} ({'old leader' if was_leader else 'follower'}) "
                       f"serves stale data after sync: {len(missing)} of {len(acked)} creates "
                       f"made while it was stopped are missing, e.g. {missing[:3]}")
    finally:
        close(zk)
    if late_acked:
        must_have(ens.leader(), [late], f"write acknowledged by the resumed {victim.name}")


def check_partition_follower(ens, ctx):
    leader, f = pick_follower(ens)
    partition(ens, f, "/ens_part_f")


def check_partition_leader(ens, ctx):
    partition(ens, ens.leader(), "/ens_part_l")


# ----------------------------------------------------------------- 6. dataDir to the reference
def check_datadir_to_zk(ens, ctx):
    """A candidate follower's dataDir restarts as a reference node in the same ensemble."""
    leader = ens.leader()
    fs = [f for f in ens.followers() if f.kind == "ferro"] or ens.followers()
    f = fs[0]
    write_some(leader, "/ens_dd", 10, "x")
    f.stop("term")
    f.cmd_override = ctx["ref_cmd"]
    mark = len(f.log_text())
    write_some(leader, "/ens_dd", 5, "y")
    ens.start_node(f)
    log(f"{f.name}'s dataDir now served by the reference: {f.mode()}")
    text = f.log_text()[mark:]
    errs = [ln for ln in text.splitlines() if "ERROR" in ln or "Exception" in ln][:5]
    if errs:
        ctx["notes"].append(f"reference on {f.name}'s dataDir logged: {errs}")


CHECKS = {
    "rw": check_rw,
    "curator": check_curator,
    "leader_kill": check_leader_kill,
    "diff": check_diff,
    "snap": check_snap,
    "trunc": check_trunc,
    "partition_follower": check_partition_follower,
    "partition_leader": check_partition_leader,
    "datadir_to_zk": check_datadir_to_zk,
}

__all__ = ["CHECKS", "converge"]
