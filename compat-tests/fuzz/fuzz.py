#!/usr/bin/python3
"""Differential fuzzer: Apache ZooKeeper 3.8 (reference) vs. ferrokeeper, op by op.

    fuzz.py --ferro "<cmd>" [--seeds 1-20] [--ops 2000] [--sessions 1,3] [--minutes N] [NAME...]
    fuzz.py --list                      scenario names of the CI seed set
    fuzz.py --ferro "<cmd>" --replay FILE --sessions S   re-run a saved sequence

For each seed x session count a sequence is generated (gen.py), run in
lockstep against two fresh servers (servers.py, runner.py) and reported as
`PASS fuzz_seed<N>_s<S>` or `FAIL fuzz_seed<N>_s<S>` with indented details:
the seed, the op index, both sides' masked transcripts, and the sequence
shrunk by delta debugging (shrink.py; --shrink-seconds per mismatch, 120 by
default) as readable lines plus a JSON file for --replay. A mismatch class is
shrunk once per invocation; later failures of that class point at the first.
The last line is always `N passed, M failed`; the exit status is non-zero if
anything failed. See README.md.

Without --seeds/--ops/--sessions the fixed CI set runs: seeds 1-6 x 300 ops x
{1, 3} sessions. The candidate is started as `<cmd> <zoo.cfg>`; the reference
is compat-tests/lib/zk-reference. KEEP_TMP=1 keeps the servers' dirs.
"""

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True      # no __pycache__ in the shared working tree

import gen  # noqa: E402
import servers  # noqa: E402
from shrink import run_once, shrink  # noqa: E402

CI_SEEDS, CI_OPS, CI_SESSIONS = list(range(1, 7)), 300, [1, 3]
SHRUNK = {}           # mismatch class -> the case whose shrunk sequence was printed


def log(*a):
    print("[fuzz]", *a, file=sys.stderr, flush=True)


def parse_seeds(text):
    out = []
    for part in text.split(","):
        if "-" in part[1:]:
            lo, hi = part.split("-", 1)
            out.extend(range(int(lo), int(hi) + 1))
        elif part:
            out.append(int(part))
    return out


def name(seed, nslots):
    return f"fuzz_seed{seed}_s{nslots}"


def save_repro(args, label, ops):
    os.makedirs(args.repro_dir, exist_ok=True)
    path = os.path.join(args.repro_dir, f"{label}.json")
    with open(path, "w") as f:
        json.dump(ops, f, indent=1)
    return path


def report_failure(args, pool, label, ops, nslots, seed, m, elapsed):
    print(f"FAIL {label}", flush=True)
    print(f"    seed {seed}, {nslots} session(s), {len(ops)} ops, ran {elapsed:.1f}s")
    print(m.describe())
    if args.shrink_seconds <= 0:
        return
    if m.cls in SHRUNK:
        print(f"    same class as {SHRUNK[m.cls]}, not shrunk again")
        return
    SHRUNK[m.cls] = label
    t0 = time.monotonic()
    small, sm, runs, cut, reproduced = shrink(pool, ops, nslots, m, args.shrink_seconds)
    took = time.monotonic() - t0
    if not reproduced:
        print(f"    not reproduced on a fresh pair (timing-dependent?); "
              f"{runs} run(s) in {took:.0f}s")
        return
    state = f"cut short by the {args.shrink_seconds:.0f}s budget" if cut else "done"
    print(f"    shrunk to {len(small)} op(s) in {took:.0f}s ({runs} runs, {state}):")
    for i, op in enumerate(small):
        print(f"      #{i} {gen.show(op)}")
    if sm is not None and sm is not m:
        print("    shrunk run's mismatch:")
        print(sm.describe("      "))
    path = save_repro(args, label, small)
    print(f"    replay: compat-tests/fuzz/fuzz.py --ferro '{args.ferro}' --replay {path} "
          f"--sessions {nslots}")


def run_case(args, pool, label, ops, nslots, seed):
    t0 = time.monotonic()
    logf = None
    if args.verbose:
        def logf(text):
            log(text)
    try:
        m = run_once(pool, ops, nslots, logf)
    except servers.ServerError as e:
        print(f"FAIL {label}")
        print("    servers did not start: " + str(e).replace("\n", "\n    "))
        return False
    elapsed = time.monotonic() - t0
    ran = len(ops) if m is None or m.index is None else m.index + 1
    log(f"{label}: {ran} of {len(ops)} ops in {elapsed:.1f}s")
    if m is None:
        print(f"PASS {label}", flush=True)
        return True
    report_failure(args, pool, label, ops, nslots, seed, m, elapsed)
    return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ferro", help="candidate command, started as <cmd> <zoo.cfg>")
    ap.add_argument("--ref", default=servers.REF_CMD,
                    help="reference command (default compat-tests/lib/zk-reference, which "
                         "logs nothing; a class path with slf4j-simple shows why it fails)")
    ap.add_argument("--seeds", help="e.g. 1-20 or 3,7,9 (default: the CI set 1-6)")
    ap.add_argument("--ops", type=int, help=f"ops per sequence (default {CI_OPS})")
    ap.add_argument("--sessions", default=None, help="session counts, e.g. 1,3 (default 1,3)")
    ap.add_argument("--minutes", type=float, default=0,
                    help="start no new sequence after this many minutes")
    ap.add_argument("--shrink-seconds", type=float, default=120,
                    help="time budget to shrink each mismatch (0: do not shrink)")
    ap.add_argument("--repro-dir", default="/tmp/ferro-fuzz-repro",
                    help="where shrunk sequences are saved as JSON")
    ap.add_argument("--replay", help="run the ops of this JSON file instead of generating")
    ap.add_argument("--list", action="store_true", help="print the scenario names and exit")
    ap.add_argument("-v", "--verbose", action="store_true", help="log every op's transcripts")
    ap.add_argument("names", nargs="*",
                    help="only these cases, as seed<N>_s<S> (compat-tests/run passes them)")
    args = ap.parse_args()

    seeds = parse_seeds(args.seeds) if args.seeds else CI_SEEDS
    nops = args.ops or CI_OPS
    sessions = [int(x) for x in args.sessions.split(",")] if args.sessions else CI_SESSIONS
    cases = [(seed, s) for seed in seeds for s in sessions]
    if args.names:
        wanted = {n.removeprefix("fuzz_") for n in args.names}
        cases = [c for c in cases if name(*c).removeprefix("fuzz_") in wanted]
    if args.list:
        for seed, s in cases:
            print(name(seed, s))
        return 0
    if not args.ferro:
        ap.error("--ferro is required")

    servers.install_cleanup()
    pool = servers.Pool(args.ferro, args.ref)
    passed = failed = 0
    start = time.monotonic()
    try:
        if args.replay:
            with open(args.replay) as f:
                ops = json.load(f)
            for s in sessions:
                ok = run_case(args, pool, f"replay_s{s}", ops, s, "replay")
                passed, failed = passed + ok, failed + (not ok)
        else:
            for seed, s in cases:
                if args.minutes and time.monotonic() - start > args.minutes * 60:
                    log(f"time limit: {len(cases) - passed - failed} sequence(s) not started")
                    break
                ops = gen.generate(seed, nops, s)
                ok = run_case(args, pool, name(seed, s), ops, s, seed)
                passed, failed = passed + ok, failed + (not ok)
    finally:
        pool.close()
    log(f"total {time.monotonic() - start:.0f}s")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
