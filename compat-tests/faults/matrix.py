#!/usr/bin/python3
"""The fault matrix: mixed ensembles of the candidate (ferrokeeper) and the reference (Apache
ZooKeeper 3.8) under write load through every node, one fault at a time, each on a fresh
ensemble.

    matrix.py --list [--ci]
    matrix.py --ferro "<cmd>" [--ref "<cmd>"] [--repeat N] [--ci] [REGEX... | --exact CELL...]

A cell is `fault_<mix>_<fault>_<role>-<kind>`: mixes {3ferro, 2zk_1ferro, 1zk_2ferro, 5mixed
(2 zk + 3 ferro)} and the all-reference controls {3zk, 5zk}; faults {kill (kill -9, then
restart on its dataDir), stop (SIGSTOP beyond syncLimit, then SIGCONT), partition (its veth
down for longer than syncLimit, then up; one network namespace per node, see netns.py),
wipe (kill -9, dataDir wiped, restart)}; victim {leader, follower} × {zk, ferro}. Before its
fault every cell kills and restarts its leader at least once (after a write that leaves every
node at the same zxid), so members sit in different election rounds as in a long-lived
ensemble, and again until the victim's role is held by a node of the victim's kind.

Each cell, under a kazoo writer per node (creating /fm/w<k>-<i>): the fault, then the victim
must serve again — `srvr` shows it in its role, one leader in the ensemble, and at least the
Zxid the others had when it came back; the time from restart / SIGCONT / heal to that is the
*rejoin* time; for leader victims the time from the fault to the first write acknowledged
after it is the *election* time. Then every node serves with one leader, every acknowledged
create is on every node (0 lost), every znode under /fm was sent by some client (0 phantom),
and every node holds the same tree (data + every Stat field) and srvr Zxid. Leader-kill
cells also run a register workload (write / compare-and-set / sync+read from two clients per
node) and check the history is linearizable (linearize.py).

Prints one `PASS`/`FAIL fault_<cell>` line per cell with its numbers, then a table of every
cell beside the all-reference control of the same fault and victim role (median and max over
repetitions), and last `N passed, M failed`. Timing is printed, never asserted: a victim that
does not serve within REJOIN_BOUND fails. Every process is stopped by PID; namespaces, links
and temp dirs are removed at exit (KEEP_TMP=1 keeps the dirs).
"""

import os
import re
import signal
import statistics
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "ensemble"))
sys.path.insert(0, HERE)

from cluster import REF_CMD, TICK, Ensemble, Fail, log, print_fail, reap, run_dir, wait_until  # noqa: E402
from kz import client, close, require_converged, synced, writers_on_every_node  # noqa: E402
import register_load  # noqa: E402
import netns  # noqa: E402

Z, F = "zk", "ferro"
# mix -> (reference nodes, candidate nodes)
MIXES = {"3ferro": (0, 3), "2zk_1ferro": (2, 1), "1zk_2ferro": (1, 2), "5mixed": (2, 3),
         "3zk": (3, 0), "5zk": (5, 0)}
CONTROL = {"3ferro": "3zk", "2zk_1ferro": "3zk", "1zk_2ferro": "3zk", "5mixed": "5zk",
           "3zk": "3zk", "5zk": "5zk"}
FAULTS = ["kill", "stop", "partition", "wipe"]
SYNC_LIMIT = 5
DOWN = SYNC_LIMIT * TICK / 1000 + 3  # longer than syncLimit: the others give the victim up
REJOIN_BOUND = 90
ROOT = "/fm"
# the two scenarios of issue #11 and one cell of every fault, with their controls
CI_CELLS = ["2zk_1ferro_kill_follower-zk", "1zk_2ferro_partition_follower-ferro",
            "3ferro_stop_leader-ferro", "5mixed_wipe_follower-zk", "2zk_1ferro_kill_leader-zk",
            "3zk_kill_follower-zk", "3zk_partition_follower-zk", "3zk_kill_leader-zk"]


def cells():
    """Every (mix, fault, role, kind) of the matrix, in a stable order."""
    out = []
    for mix, (nz, nf) in MIXES.items():
        victims = []
        for kind, count, other in ((Z, nz, nf), (F, nf, nz)):
            if count == 0:
                continue
            victims.append(("leader", kind))
            if count >= 2 or other > 0:
                victims.append(("follower", kind))
        for fault in FAULTS:
            out += [(mix, fault, role, kind) for role, kind in victims]
    return out


def cell_name(c):
    mix, fault, role, kind = c
    return f"{mix}_{fault}_{role}-{kind}"


def node_order(mix, role, kind):
    """Kinds by sid, a first guess at who leads after the warm-up leader change (equal zxids:
    the highest sid wins, so the second highest): of the victim's kind for a leader victim,
    of the other kind (when there is one) for a follower victim, so followers sync across
    kinds. Cell.form changes leaders until the guess holds."""
    nz, nf = MIXES[mix]
    kinds = [Z] * nz + [F] * nf
    if role == "leader":
        lead = kind
    else:
        other = F if kind == Z else Z
        lead = other if other in kinds else kind
    kinds.remove(lead)
    warmup = kinds.pop()
    rest = []  # interleave the rest, so both kinds sit at low and middle sids
    zs, fs = [k for k in kinds if k == Z], [k for k in kinds if k == F]
    while zs or fs:
        if fs:
            rest.append(fs.pop())
        if zs:
            rest.append(zs.pop())
    return [(k, False) for k in rest + [lead, warmup]]


def equalize(ens):
    """One write through the leader, then wait until every running node reports its zxid.
    Without traffic, zxids are unequal after a leader change: a learner that synced in the
    new leader's first quorum keeps its old zxid (DIFF sets none), while one that synced
    later takes epoch << 32 from its SNAP. The late joiner would then win every election,
    whatever the sids. A long-lived ensemble has traffic, which makes the zxids equal
    again, so the election is decided by sid as node_order expects."""
    zk = client([ens.leader()])
    close(zk)  # createSession and closeSession: two txns through the whole quorum
    running = [n for n in ens.nodes if n.alive() and not n.stopped]
    wait_until("every node at the same Zxid before the warm-up leader change",
               lambda: len({n.zxid() for n in running}) == 1, 30, 0.1)


class Cell:
    """One fault on one fresh ensemble."""

    def __init__(self, c, cmds, tmp, net):
        self.mix, self.fault, self.role, self.kind = c
        self.cmds, self.tmp, self.net = cmds, tmp, net
        self.result = {"rejoin": None, "election": None, "acked": 0, "lost": 0, "phantom": 0,
                       "linearizable": None}

    def form(self):
        """A fresh ensemble that has been through at least one leader change (kill -9 and
        restart of its leader), changed again until the victim's role is held by a node of
        the victim's kind. Each change follows a write that leaves every node at the same
        zxid (equalize), so the survivors' election goes by sid."""
        last = None
        for attempt in range(2):
            reap()
            root = tempfile.mkdtemp(prefix=f"{cell_name(self.c())}.{attempt}.", dir=self.tmp)
            place = self.net.place if self.net else None
            ens = Ensemble(node_order(self.mix, self.role, self.kind), root, self.cmds, place)
            try:
                ens.start(90)
                for _ in range(4):
                    equalize(ens)
                    warm = ens.leader()
                    warm.stop("kill")
                    ens.wait_healthy(60, nodes=[n for n in ens.nodes if n is not warm])
                    ens.start_node(warm, REJOIN_BOUND)
                    ens.wait_healthy(60)
                    victim = self.pick(ens)
                    if victim is not None:
                        return ens, victim
            except Fail as e:
                ens.stop_all()
                raise Fail(f"ensemble {ens.describe()} did not form, or its leader did not "
                           f"rejoin after kill -9 and restart:\n{e}") from None
            last = ens.status()
            ens.stop_all()
        raise Fail(f"no {self.role} of kind {self.kind} after 2 fresh starts with 4 leader "
                   f"changes each ({last})")

    def c(self):
        return (self.mix, self.fault, self.role, self.kind)

    def pick(self, ens):
        if self.role == "leader":
            n = ens.leader()
            return n if n.kind == self.kind else None
        fs = [n for n in ens.followers() if n.kind == self.kind]
        return fs[0] if fs else None

    def run(self):
        ens, victim = self.form()
        try:
            self.exercise(ens, victim)
            require_converged(ens, "the fault")
        except Exception as e:
            msg = str(e) if isinstance(e, Fail) else traceback.format_exc()
            try:
                msg += "\n" + ens.status()
            except Exception:
                pass
            raise Fail(msg.rstrip() + "\n" + ens.tails()) from None
        finally:
            if self.net:
                self.net.reset()
            ens.stop_all()
            reap()

    def exercise(self, ens, victim):
        writers = writers_on_every_node(ens, ROOT)
        lin = None
        if self.fault == "kill" and self.role == "leader":
            lin = register_load.Background([n.hp for n in ens.nodes], 600, log)
        try:
            time.sleep(2)
            before = sum(len(w.acked) for w in writers)
            if before < 5:
                raise Fail(f"load: only {before} acknowledged creates in 2s before the fault")
            was_leader = victim.mode() == "leader"
            log(f"{cell_name(self.c())}: {self.fault} {victim.name} "
                f"({'leader' if was_leader else 'follower'}); {ens.status()}")
            t_fault = time.time()
            t_back, floor = self.inject(ens, victim, writers, t_fault)
            wait_until(f"{victim.name} to serve again after the {self.fault}",
                       lambda: self.rejoined(ens, victim, floor), REJOIN_BOUND, 0.1)
            self.result["rejoin"] = time.time() - t_back
            ens.wait_healthy(60)
            t_ok = time.time()
            for w in writers:
                wait_until(f"writer {w.k} to get a create acknowledged after the ensemble "
                           f"healed", lambda w=w: w.acks_after(t_ok) >= 1, 30)
        finally:
            for w in writers:
                w.finish()
            if lin:
                lin.finish()
        if lin:
            self.result["linearizable"] = lin.verdict()
        self.check_writes(ens, writers)

    @staticmethod
    def rejoined(ens, victim, floor):
        """The victim serves in its role, the ensemble has one leader, and the victim holds
        at least what the quorum had committed when it came back: a SIGSTOPped or cut-off
        node still claims its old role for a moment after it resumes, a stale one."""
        if not ens.expected_mode_ok(victim, victim.mode()):
            return False
        live = [n for n in ens.nodes if n.alive() and not n.stopped]
        if [n.mode() for n in live].count("leader") != 1:
            return False
        return victim.zxid() >= floor

    def inject(self, ens, victim, writers, t_fault):
        """Do the fault; returns when the victim was given back (restart, SIGCONT, heal) and
        the highest zxid the others served then."""
        leader_victim = self.role == "leader"
        if self.fault in ("kill", "wipe"):
            victim.stop("kill")
            if self.fault == "wipe":
                victim.wipe()
        elif self.fault == "stop":
            victim.signal(signal.SIGSTOP)
        else:
            self.net.cut(victim.sid)
        if leader_victim:
            def first_ack():
                ts = [t for w in writers for t in w.ack_times if t > t_fault + 0.05]
                return min(ts) if ts else None
            t = wait_until("a write acknowledged by the survivors after the leader's fault",
                           first_ack, 90, 0.05)
            self.result["election"] = t - t_fault
        # hold the fault: a restart at once, the others past syncLimit for stop/partition
        hold = 1.0 if self.fault in ("kill", "wipe") else DOWN
        time.sleep(max(0.0, t_fault + hold - time.time()))
        floor = 0
        for n in ens.nodes:
            if n is not victim:
                try:
                    floor = max(floor, n.zxid())
                except (OSError, Fail):
                    pass  # a node between roles answers no Zxid
        t_back = time.time()
        if self.fault in ("kill", "wipe"):
            victim.start(ens.cmd(victim))
        elif self.fault == "stop":
            victim.signal(signal.SIGCONT)
        else:
            self.net.heal(victim.sid)
        return t_back, floor

    def check_writes(self, ens, writers):
        acked = [p for w in writers for p in w.acked]
        tried = set().union(*(w.tried for w in writers))
        odd = [e for w in writers for e in w.errors if not e.isidentifier()]
        if odd:
            raise Fail(f"writers got unexpected answers: {odd[:5]}")
        self.result["acked"] = len(acked)
        for n in ens.nodes:
            zk = synced(client(n), ROOT)
            try:
                have = {f"{ROOT}/{k}" for k in zk.get_children(ROOT)}
            finally:
                close(zk)
            lost = [p for p in acked if p not in have]
            phantom = sorted(have - tried)
            self.result["lost"] = max(self.result["lost"], len(lost))
            self.result["phantom"] = max(self.result["phantom"], len(phantom))
            if lost:
                raise Fail(f"{len(lost)} of {len(acked)} acknowledged creates missing on "
                           f"{n.name}: {lost[:5]}")
            if phantom:
                raise Fail(f"{n.name} serves creates nobody sent: {phantom[:5]}")
        if self.result["linearizable"] not in (None, True):
            raise Fail(f"register history not linearizable:\n{self.result['linearizable']}")


def fmt(x):
    return "-" if x is None else f"{x:.1f}"


def summary(results):
    """Every cell beside the control of the same fault and victim role."""
    def times(mix, fault, role, kind, key):
        return [r[key] for r in results.get((mix, fault, role, kind), []) if r[key] is not None]

    def med_max(xs):
        return f"{statistics.median(xs):.1f}/{max(xs):.1f}" if xs else "-"
    lines = ["", "cell | rejoin s (median/max) | zk control | election s | zk control | "
             "runs | acked | lost | phantom | linearizable"]
    for c, rs in results.items():
        mix, fault, role, kind = c
        ctl = (CONTROL[mix], fault, role, Z)
        lin = {str(r["linearizable"] is True) for r in rs if r["linearizable"] is not None}
        lines.append(" | ".join([
            cell_name(c), med_max(times(*c, "rejoin")), med_max(times(*ctl, "rejoin")),
            med_max(times(*c, "election")), med_max(times(*ctl, "election")), str(len(rs)),
            str(sum(r["acked"] for r in rs)), str(sum(r["lost"] for r in rs)),
            str(sum(r["phantom"] for r in rs)), ",".join(sorted(lin)) or "-"]))
    return "\n".join(lines)


def main():
    argv = sys.argv[1:]
    args = {"ref": REF_CMD, "repeat": 1}
    pats, ci = [], False
    while argv:
        a = argv.pop(0)
        if a in ("--ferro", "--ref"):
            args[a[2:]] = argv.pop(0).split()
        elif a == "--repeat":
            args["repeat"] = int(argv.pop(0))
        elif a == "--ci":
            ci = True
        elif a == "--exact":
            args["exact"] = True
        elif a == "--list":
            args["list"] = True
        else:
            pats.append(a)
    def wanted(name):
        if args.get("exact"):
            return name in pats
        return not pats or any(re.search(p, name) for p in pats)
    chosen = [c for c in cells() if (not ci or cell_name(c) in CI_CELLS) and wanted(cell_name(c))]
    if args.get("list"):
        for c in chosen:
            print(f"fault_{cell_name(c)}")
        return 0
    if "ferro" not in args:
        print(__doc__, file=sys.stderr)
        return 2
    why = netns.available()
    net = netns.Net() if why is None else None
    if why:
        log(f"network namespaces unavailable ({why}): nodes on 127.0.0.1, partition cells "
            f"skipped")
    cmds = {F: args["ferro"], Z: args["ref"]}
    tmp = run_dir("faults.", net.teardown if net else None)
    results, passed, failed = {}, 0, 0
    for rep in range(args["repeat"]):
        for c in chosen:
            name = f"fault_{cell_name(c)}"
            if c[1] == "partition" and net is None:
                print(f"SKIP {name} (no network namespaces: {why})", flush=True)
                continue
            cell = Cell(c, cmds, tmp, net)
            t0 = time.time()
            try:
                cell.run()
                r = cell.result
                results.setdefault(c, []).append(r)
                passed += 1
                print(f"PASS {name}  rejoin {fmt(r['rejoin'])}s  election {fmt(r['election'])}s"
                      f"  acked {r['acked']} lost {r['lost']} phantom {r['phantom']}"
                      + (f"  linearizable {r['linearizable'] is True}"
                         if r["linearizable"] is not None else "")
                      + f"  ({time.time() - t0:.0f}s)", flush=True)
            except Exception as e:
                failed += 1
                print_fail(name, e)
    print(summary(results), flush=True)
    print(f"{passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
