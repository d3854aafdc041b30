#!/usr/bin/python3
"""ZooKeeper ensembles of candidate (ferrokeeper) nodes, alone and mixed with the reference
Apache ZooKeeper 3.8.0, driven by real clients (kazoo, Curator).

    ensemble.py --list [--controls]
    ensemble.py --ferro "<cmd> [args]" [--ref "<cmd> [args]"] SCENARIO...

A scenario is `<mix>_<check>` (printed as `ensemble_<mix>_<check>`). Scenarios of one mix
share one ensemble, started once (fresh temp dirs, free ports on 127.0.0.1) and restarted
fresh after a failed check; after every check all nodes must hold the same tree (path,
data, full Stat, read after sync through each node's own client port) and the same srvr
Zxid. Mixes named `*_control` are all-reference ensembles that prove the harness; `--list`
shows them only with `--controls` (or ENSEMBLE_CONTROLS=1).

Prints `PASS ensemble_<name>` / `FAIL ensemble_<name>` (+ indented details: node, check,
expected vs got, srvr modes, the tail of every candidate node's log). Every wait is bounded;
every process started is stopped by PID; temp dirs are removed unless KEEP_TMP=1.
"""

import os
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from cluster import REF_CMD, Ensemble, Fail, log, print_fail, reap, run_dir  # noqa: E402
from checks import CHECKS  # noqa: E402
from harness import side_args  # noqa: E402  (cluster puts compat-tests/lib on sys.path)
from kz import require_converged  # noqa: E402

Z, F = "zk", "ferro"
# mix name -> [(kind, observer)], node i+1 = entry i. With equal zxids FastLeaderElection
# picks the highest sid, so 2zk_1ferro starts with a reference leader and a candidate
# follower, 1zk_2ferro the other way round.
MIXES = {
    "3ferro": [(F, False)] * 3,
    "5ferro": [(F, False)] * 5,
    "2zk_1ferro": [(F, False), (Z, False), (Z, False)],
    "1zk_2ferro": [(Z, False), (F, False), (F, False)],
    "3zk_ferro_observer": [(Z, False)] * 3 + [(F, True)],
    "3ferro_zk_observer": [(F, False)] * 3 + [(Z, True)],
    "3zk_control": [(Z, False)] * 3,
    "5zk_control": [(Z, False)] * 5,
    "3zk_observer_control": [(Z, False)] * 3 + [(Z, True)],
}
BASE_CHECKS = ["rw", "curator", "leader_kill", "diff", "snap", "trunc",
               "partition_follower", "partition_leader"]
# check 6 (a candidate-written dataDir restarted as a reference node) once per suite
EXTRA = {"3ferro": ["datadir_to_zk"], "3zk_control": ["datadir_to_zk"]}


def all_scenarios(controls):
    out = []
    for mix in MIXES:
        if mix.endswith("_control") and not controls:
            continue
        out += [(mix, c) for c in BASE_CHECKS + EXTRA.get(mix, [])]
    return out


class MixRun:
    """One mix's ensemble, started fresh for every check. Fresh, not shared: ZooKeeper 3.8.0
    itself loses txns when a node that was caught up by DIFF is later restarted from its
    own disk (the DIFF's committed txns are applied in memory but never logged; cf.
    ZOOKEEPER-4785), which would make the all-reference controls fail on later checks."""

    def __init__(self, mix, cmds, tmp):
        self.mix, self.cmds, self.tmp = mix, cmds, tmp
        self.ens, self.start_error, self.round = None, None, 0

    def ensure(self):
        self.teardown()
        if self.start_error:
            raise Fail(f"the {self.mix} ensemble did not start (see the first check of "
                       f"this mix): {self.start_error.splitlines()[0]}")
        self.round += 1
        root = tempfile.mkdtemp(prefix=f"{self.mix}-{self.round}.", dir=self.tmp)
        ens = Ensemble(MIXES[self.mix], root, self.cmds)
        log(f"{self.mix}: starting {ens.describe()} in {root}")
        t0 = time.time()
        try:
            ens.start(90)
        except Fail as e:
            self.start_error = str(e)
            ens.stop_all()
            raise Fail(f"ensemble {ens.describe()} did not form:\n{e}") from None
        log(f"{self.mix}: formed in {time.time() - t0:.1f}s; {ens.status()}")
        self.ens = ens
        return ens

    def teardown(self):
        if self.ens:
            self.ens.stop_all()
        self.ens = None
        reap()


def run_one(mr, check, ref_cmd):
    ens = mr.ensure()
    ctx = {"notes": [], "ref_cmd": ref_cmd}
    try:
        CHECKS[check](ens, ctx)
        require_converged(ens, "the check (check 5)")
    except Exception as e:
        msg = str(e) if isinstance(e, Fail) else traceback.format_exc()
        details = [f"check {check} on {MIXES_DESC(mr.mix)}", msg.rstrip()]
        try:
            details.append(ens.status())
        except Exception:
            pass
        tails = ens.tails()
        mr.teardown()
        raise Fail("\n".join(details) + ("\n" + tails if tails else "")) from None
    return ctx["notes"]


def MIXES_DESC(mix):
    return f"mix {mix} [" + ", ".join(k + (":observer" if o else "") for k, o in MIXES[mix]) + "]"


def main():
    argv = sys.argv[1:]
    if argv[:1] == ["--list"]:
        controls = "--controls" in argv or os.environ.get("ENSEMBLE_CONTROLS") == "1"
        for mix, c in all_scenarios(controls):
            print(f"{mix}_{c}")
        return 0
    parsed = side_args(argv, REF_CMD, "ensemble.py --ferro '<cmd>' [--ref '<cmd>'] SCENARIO...")
    if parsed is None:
        return 2
    args, names = parsed
    known = {f"{m}_{c}": (m, c) for m, c in all_scenarios(True)}
    bad = [n for n in names if n not in known]
    if bad:
        print(f"unknown scenarios: {bad}", file=sys.stderr)
        return 2
    cmds = {F: args["ferro"], Z: args["ref"]}
    tmp = run_dir("ensemble.")
    # group by mix, keeping the canonical check order
    order = list(known)
    names = sorted(set(names), key=order.index)
    failed = 0
    for mix in MIXES:
        checks = [known[n][1] for n in names if known[n][0] == mix]
        if not checks:
            continue
        mr = MixRun(mix, cmds, tmp)
        t_mix = time.time()
        try:
            for check in checks:
                t0 = time.time()
                name = f"ensemble_{mix}_{check}"
                try:
                    notes = run_one(mr, check, args["ref"])
                    print(f"PASS {name}", flush=True)
                    for n in notes:
                        print("    note: " + n, flush=True)
                except Exception as e:
                    failed += 1
                    print_fail(name, e)
                log(f"{name}: {time.time() - t0:.1f}s")
        finally:
            mr.teardown()
            log(f"{mix}: {time.time() - t_mix:.1f}s in all")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
