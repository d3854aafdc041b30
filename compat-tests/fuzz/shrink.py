"""Run a sequence on a fresh server pair, and shrink a failing one.

`run_once` takes a fresh pair from the pool (the next one is already starting
in the background), runs the ops in lockstep and disposes of the pair.

`shrink` first tries dropping each expire / restart op (seconds each), then
does delta debugging (ddmin over the op list: drop chunks, halving the chunk
size when nothing can go), then drops single sub-ops of multi / multiRead and
single requests of a burst, and turns a burst of one request into that request.
A candidate is kept when its first mismatch has the same class (`runner.classify`)
as the original; everything after that mismatch is cut at once. Each attempt
runs against fresh servers, so the whole shrink is bounded by a time budget.
"""

import math
import time

from runner import Runner
from servers import ServerError

SLOW_KINDS = {"expire", "restart"}


def run_once(pool, ops, nslots, log=None):
    pair = pool.get()
    pool.prepare()
    runner = Runner(pair, nslots)
    try:
        return runner.run(ops, log)
    finally:
        runner.close()
        pair.dispose()


class Shrinker:
    def __init__(self, pool, nslots, cls, budget):
        self.pool, self.nslots, self.cls = pool, nslots, cls
        self.deadline = time.monotonic() + budget
        self.runs = 0
        self.cut_short = False
        self.last = None

    def interesting(self, ops):
        """Same mismatch class? Returns the candidate cut after its mismatch, or None."""
        if time.monotonic() > self.deadline:
            self.cut_short = True
            return None
        self.runs += 1
        try:
            m = run_once(self.pool, ops, self.nslots)
        except ServerError:
            return None
        if m is None or m.cls != self.cls:
            return None
        self.last = m
        return ops if m.index is None else ops[:m.index + 1]

    def slow_ops(self, ops):
        """Try dropping each expire / restart first: they cost seconds per attempt."""
        i = len(ops) - 1
        while i >= 0 and not self.cut_short:
            if i < len(ops) and ops[i]["k"] in SLOW_KINDS:
                got = self.interesting(ops[:i] + ops[i + 1:])
                if got is not None:
                    ops = got
            i -= 1
        return ops

    def ddmin(self, ops):
        n = 2
        while len(ops) >= 2 and not self.cut_short:
            size = math.ceil(len(ops) / n)
            for i in range(0, len(ops), size):
                got = self.interesting(ops[:i] + ops[i + size:])
                if got is not None:
                    ops = got
                    n = max(n - 1, 2)
                    break
            else:
                if n >= len(ops):
                    break
                n = min(len(ops), 2 * n)
        return ops

    def unwrap(self, ops):
        """A burst of one request becomes that request."""
        for i in range(len(ops)):
            if i < len(ops) and ops[i]["k"] == "burst" and len(ops[i]["reqs"]) == 1:
                got = self.interesting(ops[:i] + [ops[i]["reqs"][0]] + ops[i + 1:])
                if got is not None:
                    ops = got
        return ops

    def sub_ops(self, ops):
        i = 0
        while i < len(ops):
            key = "reqs" if "reqs" in ops[i] else "ops"
            j = 0
            while i < len(ops) and j < len(ops[i].get(key, ())) and not self.cut_short:
                smaller = dict(ops[i], **{key: ops[i][key][:j] + ops[i][key][j + 1:]})
                got = self.interesting(ops[:i] + [smaller] + ops[i + 1:])
                if got is not None:
                    ops = got
                else:
                    j += 1
            i += 1
        return ops


def shrink(pool, ops, nslots, mismatch, budget):
    """(shrunk ops, its mismatch, runs, cut_short, reproduced)."""
    sh = Shrinker(pool, nslots, mismatch.cls, budget)
    start = ops if mismatch.index is None else ops[:mismatch.index + 1]
    got = sh.interesting(start)
    if got is None:
        return start, mismatch, sh.runs, sh.cut_short, False
    got = sh.slow_ops(got)
    got = sh.ddmin(got)
    got = sh.sub_ops(got)
    got = sh.sub_ops(sh.unwrap(got))
    return got, sh.last, sh.runs, sh.cut_short, True
