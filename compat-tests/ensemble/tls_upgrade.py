#!/usr/bin/python3
"""Quorum TLS on mixed ensembles of the candidate (ferrokeeper) and the reference (Apache
ZooKeeper 3.8), under load: the ZooKeeper Admin Guide's "Upgrading existing non-TLS cluster
with no downtime", then a move of the whole quorum to another CA with
sslQuorumReloadCertFiles. The long variant of tests/quorum_tls.rs, run by hand:

    tls_upgrade.py --ferro "<cmd>" [--ref "<cmd>"] [MIX...]
    scripts/tls-upgrade [MIX...]

MIX: 2zk_1ferro, 1zk_2ferro, 3ferro, 3zk_control (default: the first three). Per mix, one
fresh ensemble, plaintext at first, with a kz.Writer per node (through every node) and the
register workload (two clients per node, linearize.py) running throughout:

  1. every server restarted in turn (SIGTERM, then started again) with portUnification=true
     and the ssl.quorum.* stores; 2. again with sslQuorum=true; 3. again with
     portUnification=false and sslQuorumReloadCertFiles=true. The ensemble must be healthy
     (every node serving, one leader) before the next restart.
  4. every node's key and trust store files are replaced by a second, disjoint PKI (the
     rogue CA's) while it runs; the leader is killed, so the others must connect anew with
     the new material on both ends; it comes back on the new files.

Then: writes were acknowledged in every step, every acknowledged create is on every node,
none that nobody sent, the same tree and Zxid everywhere, and the register history is
linearizable. Prints `PASS tls_upgrade_<mix>` / `FAIL ...` with the reasons, and the longest
time without an acknowledged write. Every process is stopped by PID; the temp dir is removed
unless KEEP_TMP=1.
"""

import os
import shutil
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "faults"))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))

from cluster import REF_CMD, Ensemble, Fail, log, print_fail, reap, run_dir  # noqa: E402
from harness import side_args  # noqa: E402
from kz import client, close, require_converged, synced, writers_on_every_node  # noqa: E402
import register_load  # noqa: E402
from pki import make_pki  # noqa: E402

Z, F = "zk", "ferro"
MIXES = {
    "2zk_1ferro": [(F, False), (Z, False), (Z, False)],
    "1zk_2ferro": [(Z, False), (F, False), (F, False)],
    "3ferro": [(F, False)] * 3,
    "3zk_control": [(Z, False)] * 3,
}
ROOT = "/tlsup"
STEPS = [  # (sslQuorum, portUnification, sslQuorumReloadCertFiles)
    (False, True, False),
    (True, True, False),
    (True, False, True),
]


def tls_lines(ks, ts, ssl_quorum, unified, reload):
    b = lambda v: "true" if v else "false"  # noqa: E731
    return (f"sslQuorum={b(ssl_quorum)}\nportUnification={b(unified)}\n"
            f"sslQuorumReloadCertFiles={b(reload)}\n"
            f"ssl.quorum.keyStore.location={ks}\nssl.quorum.keyStore.password=changeit\n"
            f"ssl.quorum.trustStore.location={ts}\nssl.quorum.trustStore.password=changeit\n")


def configure(ens, node, extra):
    node.write_cfg("\n".join(n.server_line() for n in ens.nodes))
    with open(node.cfg, "a") as f:
        f.write(extra)


def replace_file(src, dst):
    tmp = dst + ".new"
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def acked_since(writers, t):
    return sum(w.acks_after(t) for w in writers)


def restart(ens, node, writers):
    t0 = time.time()
    node.stop("term")
    node.start(ens.cmd(node))
    ens.wait_healthy(90)
    # the ensemble takes writes again before the next server goes
    deadline = time.time() + 60
    t_ok = time.time()
    while acked_since(writers, t_ok) < 3:
        if time.time() > deadline:
            raise Fail(f"no write acknowledged for 60 s after {node.name} came back")
        time.sleep(0.1)
    log(f"  {node.name} restarted and the ensemble writes again after "
        f"{time.time() - t0:.1f}s; {ens.status()}")


def run_mix(mix, cmds, tmp, pki):
    root = tempfile.mkdtemp(prefix=f"{mix}.", dir=tmp)
    ens = Ensemble(MIXES[mix], root, cmds)
    ks, ts = os.path.join(root, "quorum.jks"), os.path.join(root, "trust.jks")
    shutil.copyfile(pki.server("jks").path, ks)
    shutil.copyfile(pki.trust("jks").path, ts)
    try:
        exercise(mix, ens, ks, ts, pki)
    except Exception as e:
        msg = str(e) if isinstance(e, Fail) else traceback.format_exc()
        raise Fail(f"{msg.rstrip()}\n  {ens.status()}\n{ens.tails()}") from None
    finally:
        ens.stop_all()
        reap()


def exercise(mix, ens, ks, ts, pki):
    """The steps under load, then the checks."""
    writers, lin = [], None
    try:
        ens.start(90)
        writers = writers_on_every_node(ens, ROOT)
        lin = register_load.Background([n.hp for n in ens.nodes], 3600, log)
        time.sleep(2)
        for step, (ssl_quorum, unified, reload) in enumerate(STEPS, 1):
            log(f"{mix}: step {step}: sslQuorum={ssl_quorum} portUnification={unified}")
            for n in ens.nodes:
                configure(ens, n, tls_lines(ks, ts, ssl_quorum, unified, reload))
                restart(ens, n, writers)
        log(f"{mix}: moving every node to the rogue CA's key and trust stores")
        replace_file(pki.client("rogue-server", "jks").path, ks)
        replace_file(pki.trust("jks", ca="rogue").path, ts)
        time.sleep(3)  # ferrokeeper polls the files every second; 3.8 is told at once
        leader = ens.leader()
        leader.stop("kill")
        ens.wait_healthy(90, nodes=[n for n in ens.nodes if n is not leader])
        t_ok = time.time()
        deadline = t_ok + 60
        while acked_since(writers, t_ok) < 3:
            if time.time() > deadline:
                raise Fail("no write acknowledged on the new CA without the old leader")
            time.sleep(0.1)
        leader.start(ens.cmd(leader))
        ens.wait_healthy(90)
        time.sleep(2)
    finally:
        for w in writers:
            w.finish()
        if lin:
            lin.finish()
    check(ens, writers, lin)


def check(ens, writers, lin):
    acked = [p for w in writers for p in w.acked]
    tried = set().union(*(w.tried for w in writers))
    times = sorted(t for w in writers for t in w.ack_times)
    gap = max((b - a for a, b in zip(times, times[1:])), default=0.0)
    log(f"{len(acked)} creates acknowledged; longest gap without one {gap:.1f}s")
    if len(acked) < 100:
        raise Fail(f"only {len(acked)} creates acknowledged")
    require_converged(ens, "the upgrade and the rotation")
    for n in ens.nodes:
        zk = client(n)
        try:
            present = {f"{ROOT}/{c}" for c in synced(zk, ROOT).get_children(ROOT)}
        finally:
            close(zk)
        lost = [p for p in acked if p not in present]
        phantom = sorted(present - tried)
        if lost:
            raise Fail(f"{len(lost)} acknowledged creates missing on {n.name}: {lost[:5]}")
        if phantom:
            raise Fail(f"{n.name} serves creates nobody sent: {phantom[:5]}")
    verdict = lin.verdict()
    if verdict is not True:
        raise Fail(f"register history not linearizable:\n{verdict}")


def main():
    argv = sys.argv[1:]
    parsed = side_args(argv, REF_CMD, "tls_upgrade.py --ferro '<cmd>' [--ref '<cmd>'] [MIX...]")
    if parsed is None:
        return 2
    args, mixes = parsed
    mixes = mixes or [m for m in MIXES if not m.endswith("_control")]
    bad = [m for m in mixes if m not in MIXES]
    if bad:
        print(f"unknown mixes: {bad}; known: {list(MIXES)}", file=sys.stderr)
        return 2
    tmp = run_dir("tls-upgrade.")
    pki = make_pki(os.path.join(tmp, "pki"))
    cmds = {F: args["ferro"], Z: args["ref"]}
    failed = 0
    for mix in mixes:
        t0 = time.time()
        name = f"tls_upgrade_{mix}"
        try:
            run_mix(mix, cmds, tmp, pki)
            print(f"PASS {name}", flush=True)
        except Exception as e:
            failed += 1
            if not isinstance(e, Fail):
                e = Fail(traceback.format_exc())
            print_fail(name, e)
        finally:
            reap()
        log(f"{name}: {time.time() - t0:.1f}s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
