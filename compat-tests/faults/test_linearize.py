#!/usr/bin/python3
"""Tests of linearize.py: hand-made histories with a known verdict (stale read, concurrent
read, impossible cas, unknown writes, lost acknowledged write), random histories produced
by simulating a real register (all must pass; one corrupted read must fail), tiny random
histories against a brute-force checker (verdicts and windows), and a performance run
(3 keys, 6 clients, 36,000 ops) that must be decided.

    python3 -m unittest compat-tests/faults/test_linearize.py
    python3 compat-tests/faults/test_linearize.py
"""

import itertools
import os
import random
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from linearize import History, check  # noqa: E402


def op(client, kind, invoke, complete, status="ok", value=None, expected=None, result=None,
       key="/k", error=None):
    d = {"client": client, "key": key, "kind": kind, "value": value,
         "expected_version": expected, "invoke": invoke,
         "complete": None if status == "unknown" else complete, "status": status,
         "result": result}
    if error is not None:
        d["error"] = error
    return d


def write(c, t0, t1, value, version=None, status="ok", key="/k"):
    return op(c, "write", t0, t1, status, value=value, result=version, key=key)


def cas(c, t0, t1, expected, value, version=None, status="ok", key="/k"):
    return op(c, "cas", t0, t1, status, value=value, expected=expected,
              result=version if status == "ok" else None, key=key,
              error="BadVersion" if status == "fail" else None)


def read(c, t0, t1, value, version, key="/k"):
    return op(c, "read", t0, t1, value=None, result=(value, version), key=key)


def same_op(a, b):
    return all(a[f] == b[f] for f in ("client", "kind", "invoke", "value", "result"))


def in_window(res, o):
    return any(same_op(w, o) for w in res.window)


def simulate(rng, clients, keys, ops_per_client, p_unknown=0.03):
    """A linearizable history: every client runs ops one after another over random,
    overlapping intervals; each op takes effect on a real register at a random instant of
    its interval (an unknown op: only sometimes).  Returns (history, replaced) where
    replaced[(key, version)] is the (value, version) the write that produced `version`
    overwrote."""
    events = []  # (time, order, client index, op index)
    plans = []
    for c in range(clients):
        t = rng.uniform(0, 1)
        plan = []
        for i in range(ops_per_client):
            t += rng.expovariate(2.0)
            dur = rng.expovariate(1.0) + 0.01
            point = rng.uniform(t, t + dur)
            plan.append((t, t + dur, point))
            events.append((t, 0, c, i))
            events.append((point, 1, c, i))
            t += dur
        plans.append(plan)
    events.sort()
    state = {k: (b"", 0) for k in keys}
    replaced = {}
    hist = [[None] * ops_per_client for _ in range(clients)]
    counter = 0
    for _, kind_ev, c, i in events:
        t0, t1, _ = plans[c][i]
        if kind_ev == 0:  # invocation: choose the op
            key = rng.choice(keys)
            kind = rng.choice(("read", "read", "write", "cas"))
            unknown = kind != "read" and rng.random() < p_unknown
            counter += 1
            value = f"c{c}-{counter}".encode()
            expected = state[key][1] - (0 if rng.random() < 0.7 else rng.randint(-2, 2))
            hist[c][i] = {"client": f"c{c}", "key": key, "kind": kind,
                          "value": None if kind == "read" else value,
                          "expected_version": expected if kind == "cas" else None,
                          "invoke": t0, "complete": None if unknown else t1,
                          "status": "unknown" if unknown else "ok", "result": None,
                          "effective": not unknown or rng.random() < 0.5}
            continue
        h = hist[c][i]  # linearization point: apply to the register
        key = h["key"]
        cur = state[key]
        if h["kind"] == "read":
            h["result"] = cur
        elif h["kind"] == "cas" and cur[1] != h["expected_version"]:
            if h["status"] == "ok":
                h["status"], h["error"] = "fail", "BadVersion"
        elif h["effective"]:
            state[key] = (h["value"], cur[1] + 1)
            replaced[(key, cur[1] + 1)] = cur
            if h["status"] == "ok":
                h["result"] = cur[1] + 1
    out = [h for per in hist for h in per]
    for h in out:
        del h["effective"]
    out.sort(key=lambda h: h["invoke"])
    return out, replaced


def brute_force(history, initial=(b"", 0)):
    """Is a one-key history linearizable?  Tries every subset of the unknown ops with every
    order of the ops: independent of linearize.py's search, for a handful of ops only."""
    ops = [h for h in history
           if not (h["status"] == "unknown" and h["kind"] == "read")
           and not (h["status"] == "fail"
                    and (h["kind"] != "cas" or h.get("error", "BadVersion") != "BadVersion"))]
    required = [h for h in ops if h["status"] != "unknown"]
    unknown = [h for h in ops if h["status"] == "unknown"]

    def end(h):
        return float("inf") if h["complete"] is None else h["complete"]

    def legal(order):
        value, version = initial
        for n, h in enumerate(order):
            if any(end(later) < h["invoke"] for later in order[n + 1:]):
                return False
            if h["kind"] == "read":
                if (value, version) != tuple(h["result"]):
                    return False
            elif h["status"] == "fail":
                if version == h["expected_version"]:
                    return False
            else:
                if h["kind"] == "cas" and version != h["expected_version"]:
                    return False
                value, version = h["value"], version + 1
                if h["status"] == "ok" and h["result"] not in (None, version):
                    return False
        return True

    return any(legal(order)
               for r in range(len(unknown) + 1)
               for chosen in itertools.combinations(unknown, r)
               for order in itertools.permutations(required + list(chosen)))


def tiny(rng):
    """A history of 1-6 ops over a few values (repeated values allowed), from a simulated
    register, then with one field perturbed half of the time: about half of them are
    linearizable."""
    n = rng.randint(1, 6)
    values = [b"a", b"b", b"c"][:rng.randint(1, 3)]
    spans = []
    for _ in range(n):
        t0 = rng.uniform(0, 10)
        t1 = t0 + rng.uniform(0, 5)
        spans.append((t0, t1, rng.uniform(t0, t1)))
    value, version = b"", 0
    hist = []
    for k in sorted(range(n), key=lambda k: spans[k][2]):
        t0, t1, _ = spans[k]
        kind = rng.choice(("read", "write", "cas"))
        unknown = kind != "read" and rng.random() < 0.3
        h = {"client": f"c{k}", "key": "/k", "kind": kind, "value": None,
             "expected_version": None, "invoke": t0, "complete": None if unknown else t1,
             "status": "unknown" if unknown else "ok", "result": None}
        if kind == "read":
            h["result"] = (value, version)
        else:
            h["value"] = rng.choice(values)
            effective = not unknown or rng.random() < 0.5
            if kind == "cas":
                h["expected_version"] = version if rng.random() < 0.6 else rng.randint(0, 3)
                if h["expected_version"] != version:
                    effective = False
                    if not unknown:
                        h["status"], h["error"] = "fail", "BadVersion"
            if effective:
                value, version = h["value"], version + 1
                if not unknown and rng.random() < 0.7:
                    h["result"] = version
        hist.append(h)
    if rng.random() < 0.5:
        h = rng.choice(hist)
        if h["kind"] == "read":
            h["result"] = (rng.choice([b"", *values]), rng.randint(0, 3))
        elif h["status"] == "ok":
            h["result"] = rng.randint(1, 4)
        else:
            h["invoke"] = rng.uniform(0, 10)
            if h["complete"] is not None:
                h["complete"] = h["invoke"] + rng.uniform(0, 1)
    rng.shuffle(hist)
    return hist


class HandMade(unittest.TestCase):
    def test_stale_read_rejected(self):
        w = write("c1", 10.0, 11.0, b"new", 2)
        r = read("c2", 12.0, 13.0, b"old", 1)
        h = [write("c0", 0.0, 1.0, b"old", 1), read("c2", 1.5, 2.5, b"old", 1),
             read("c3", 3.0, 4.0, b"old", 1), w, read("c3", 10.5, 10.8, b"old", 1), r,
             read("c3", 14.0, 15.0, b"new", 2), write("c0", 16.0, 17.0, b"later", 3),
             read("c2", 18.0, 19.0, b"later", 3)]
        res = check(h)
        self.assertFalse(res.ok)
        self.assertEqual((res.status, res.key), ("violation", "/k"))
        self.assertTrue(in_window(res, w), res.explain())
        self.assertTrue(in_window(res, r), res.explain())
        self.assertLessEqual(len(res.window), 3, res.explain())
        text = res.explain()
        self.assertIn("b'old'", text)
        self.assertIn("write(b'new')", text)

    def test_concurrent_read_either_value(self):
        for seen in ((b"old", 1), (b"new", 2)):
            h = [write("c0", 0.0, 1.0, b"old", 1), write("c1", 2.0, 5.0, b"new", 2),
                 read("c2", 3.0, 4.0, *seen), read("c2", 6.0, 7.0, b"new", 2)]
            self.assertTrue(check(h).ok, seen)

    def test_two_concurrent_reads_may_not_disagree_backwards(self):
        # both overlap the write, but the second starts after the first saw the new value
        h = [write("c0", 0.0, 10.0, b"new", 1), read("c1", 1.0, 2.0, b"new", 1),
             read("c2", 3.0, 4.0, b"", 0)]
        self.assertFalse(check(h).ok)

    def test_impossible_cas_rejected(self):
        bad = cas("c2", 4.0, 5.0, 7, b"x", 8)
        h = [write("c0", 0.0, 1.0, b"a", 1), read("c1", 2.0, 3.0, b"a", 1), bad,
             read("c1", 6.0, 7.0, b"x", 8)]
        res = check(h)
        self.assertEqual(res.status, "violation", res.explain())
        self.assertTrue(in_window(res, bad), res.explain())

    def test_cas_and_badversion(self):
        h = [write("c0", 0.0, 1.0, b"a", 1), cas("c1", 2.0, 3.0, 1, b"b", 2),
             cas("c2", 4.0, 5.0, 1, b"c", status="fail"), read("c0", 6.0, 7.0, b"b", 2)]
        self.assertTrue(check(h).ok)
        # a BadVersion while the version matched for the whole interval is wrong
        h[2] = cas("c2", 4.0, 5.0, 2, b"c", status="fail")
        self.assertFalse(check(h).ok)
        # ... unless a concurrent write may have moved the version first
        h.append(write("c3", 3.5, 4.5, b"d", status="unknown"))
        h[3] = read("c0", 6.0, 7.0, b"d", 3)
        self.assertTrue(check(h).ok)

    def test_unknown_write_may_or_may_not_apply(self):
        u = write("c1", 2.0, None, b"maybe", status="unknown")
        base = [write("c0", 0.0, 1.0, b"a", 1), u]
        applied = base + [read("c2", 5.0, 6.0, b"maybe", 2)]
        not_applied = base + [read("c2", 5.0, 6.0, b"a", 1), read("c2", 7.0, 8.0, b"a", 1)]
        late = base + [read("c2", 5.0, 6.0, b"a", 1), read("c2", 100.0, 101.0, b"maybe", 2)]
        for h in (applied, not_applied, late):
            res = check(h)
            self.assertTrue(res.ok, res.explain())
        # once seen it cannot be undone
        undone = base + [read("c2", 5.0, 6.0, b"maybe", 2), read("c2", 7.0, 8.0, b"a", 1)]
        self.assertFalse(check(undone).ok)
        # it cannot take effect before it was invoked
        early = [write("c0", 0.0, 1.0, b"a", 1), read("c2", 1.5, 1.8, b"maybe", 2),
                 write("c1", 2.0, None, b"maybe", status="unknown")]
        self.assertFalse(check(early).ok)

    def test_unknown_read_dropped_and_failed_write_no_effect(self):
        h = [write("c0", 0.0, 1.0, b"a", 1),
             op("c1", "read", 2.0, None, status="unknown"),
             op("c1", "write", 3.0, 4.0, status="fail", value=b"no", error="NoAuth"),
             read("c2", 5.0, 6.0, b"a", 1)]
        self.assertTrue(check(h).ok)

    def test_nonode_rejected(self):
        # the key exists before the history and nobody deletes it
        for kind, value in (("read", None), ("write", b"x")):
            missing = op("c1", kind, 3.0, 4.0, status="fail", value=value, error="NoNode")
            h = [write("c0", 0.0, 1.0, b"a", 1), missing, read("c2", 5.0, 6.0, b"a", 1)]
            res = check(h)
            self.assertEqual(res.status, "violation")
            self.assertTrue(in_window(res, missing), res.explain())
            self.assertIn("fail (NoNode)", res.explain())

    def test_lost_acknowledged_write_rejected(self):
        lost = write("c1", 2.0, 3.0, b"acked", 2)
        h = [write("c0", 0.0, 1.0, b"a", 1), lost]
        h += [read(f"c{2 + i % 3}", 4.0 + i, 4.5 + i, b"a", 1) for i in range(20)]
        res = check(h)
        self.assertEqual(res.status, "violation")
        self.assertTrue(in_window(res, lost), res.explain())

    def test_initial_state_and_keys_independent(self):
        h = [read("c0", 0.0, 1.0, b"init", 4, key="/a"), read("c0", 0.0, 1.0, b"", 0, key="/b")]
        self.assertTrue(check(h, initial={"/a": (b"init", 4)}).ok)
        res = check(h)
        self.assertEqual((res.status, res.key), ("violation", "/a"))
        self.assertIn("initial state (b'', 0)", res.explain())

    def test_undecided_is_bounded(self):
        rng = random.Random(5)
        h, _ = simulate(rng, 6, ["/k"], 300)
        res = check(h, max_states=50)
        self.assertEqual(res.status, "undecided")
        self.assertFalse(res.ok)
        self.assertIn("UNDECIDED", res.explain())

    def test_history_recorder(self):
        rec = History()

        def client(n):
            for i in range(100):
                w = rec.invoke(f"c{n}", "/k", "write", value=b"%d-%d" % (n, i))
                rec.complete(w, "unknown", error="ConnectionLoss")

        threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        r = rec.invoke("c9", "/k", "read")
        rec.complete(r, "ok", (b"", 0))
        rec.set_initial("/k", b"", 0)
        ops = rec.ops()
        self.assertEqual(len(ops), 401)
        self.assertTrue(all(o["complete"] is None for o in ops[:-1]))
        self.assertGreaterEqual(ops[-1]["complete"], ops[-1]["invoke"])
        self.assertTrue(check(rec).ok)
        with self.assertRaises(TypeError):
            rec.invoke("c0", "/k", "cas", version=3)
        with self.assertRaises(ValueError):
            rec.complete(r, "ok", (b"", 0))
        with self.assertRaises(ValueError):
            rec.complete(0, "ok", 1)


class Randomized(unittest.TestCase):
    SEED = 20240611

    def test_simulated_histories(self):
        rng = random.Random(self.SEED)
        for n in range(150):
            clients = rng.randint(2, 6)
            keys = ["/a", "/b"][:rng.randint(1, 2)]
            h, replaced = simulate(rng, clients, keys, rng.randint(5, 40),
                                   p_unknown=rng.choice((0.0, 0.05, 0.2)))
            res = check(h)
            self.assertTrue(res.ok, f"history {n} (seed {self.SEED}):\n{res.explain()}")

            reads = [i for i, o in enumerate(h) if o["kind"] == "read" and o["status"] == "ok"]
            if not reads:
                continue
            # a value nobody wrote
            bad = [dict(o) for o in h]
            i = rng.choice(reads)
            bad[i]["result"] = (b"never-written", bad[i]["result"][1])
            res = check(bad)
            self.assertEqual(res.status, "violation", f"history {n}: never-written read")
            self.assertTrue(in_window(res, bad[i]), res.explain())
            # the state some write overwrote, although that write completed before the read
            stale = [(i, w) for i in reads for w in h
                     if w["kind"] != "read" and w["status"] == "ok"
                     and w["result"] is not None and w["complete"] < h[i]["invoke"]
                     and w["key"] == h[i]["key"]]
            if not stale:
                continue
            i, w = rng.choice(stale)
            bad = [dict(o) for o in h]
            bad[i]["result"] = replaced[(w["key"], w["result"])]
            res = check(bad)
            self.assertEqual(res.status, "violation", f"history {n}: stale read")
            self.assertTrue(in_window(res, bad[i]), res.explain())


class AgainstBruteForce(unittest.TestCase):
    SEED = 411

    def test_verdicts_and_windows(self):
        """The same verdict as trying every order, on thousands of tiny histories; and every
        reported window, its weakened ops as unknown, fails from every starting state it
        claims (the initial state, or a spread of states if it may start in any)."""
        rng = random.Random(self.SEED)
        anywhere = [(v, n) for v in (b"", b"a", b"b", b"c", b"z") for n in range(7)]
        verdicts = {True: 0, False: 0}
        for n in range(3000):
            h = tiny(rng)
            res = check(h)
            expected = brute_force(h)
            verdicts[expected] += 1
            self.assertEqual(res.ok, expected, f"case {n}: {h}\n{res.explain()}")
            if res.ok:
                continue
            window = [dict(d, status="unknown", complete=None) if d.get("weakened") else d
                      for d in res.window]
            starts = anywhere if res.window_initial is None else [res.window_initial]
            for start in starts:
                self.assertFalse(brute_force(window, start),
                                 f"case {n}: window passes from {start}:\n{res.explain()}")
        self.assertGreater(min(verdicts.values()), 500, verdicts)


class Performance(unittest.TestCase):
    def test_three_keys_six_clients(self):
        """3 keys, 6 clients, 2,000 ops per client and key (36,000 ops, 1% unknown)."""
        rng = random.Random(7)
        h, _ = simulate(rng, 6, ["/lin/a", "/lin/b", "/lin/c"], 6000, p_unknown=0.01)
        t = time.monotonic()
        res = check(h)
        took = time.monotonic() - t
        print(f"\nperformance: {len(h)} ops (3 keys, 6 clients): {res.status} in {took:.2f} s, "
              f"{res.stats['states']} states", file=sys.stderr)
        self.assertNotEqual(res.status, "undecided", res.explain())
        self.assertTrue(res.ok, res.explain())
        # the same history with one late read returning a value nobody wrote
        i = [n for n, o in enumerate(h) if o["kind"] == "read" and o["status"] == "ok"][-100]
        h[i] = dict(h[i], result=(b"never-written", h[i]["result"][1]))
        t = time.monotonic()
        res = check(h)
        took = time.monotonic() - t
        print(f"performance: the same with one bad read: {res.status} in {took:.2f} s "
              f"(window of {len(res.window)} ops)", file=sys.stderr)
        self.assertEqual(res.status, "violation", res.explain())


if __name__ == "__main__":
    unittest.main(verbosity=2)
