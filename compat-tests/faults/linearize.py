"""Linearizability checker for the register workload of issue #11 (register_load.py).

Why: killing leaders of mixed ferrokeeper / Apache ZooKeeper ensembles must never let a
client observe a history that no single, atomic register could have produced (a stale read
after an acknowledged write, a lost acknowledged write, a setData that passed a version
check it should have failed).  This module decides that for a recorded history.

Model, one register per key, state (value, version) = znode data + Stat.version:
  write(v)       setData(version=-1): always succeeds, (v, version + 1)
  cas(e, v)      setData(version=e): succeeds iff version == e, (v, version + 1); else
                 BadVersion, no effect
  read()         sync + getData: returns (value, version)

Completions: `ok` (with its result), `fail` (definitely no effect; a failed cas whose
`error` is absent or "BadVersion" additionally proves version != e at some point of its
interval; an op failed with `error` "NoNode" saw the znode missing, which a register that
exists before the history and is never deleted cannot show, so it is a violation by itself;
other failures are dropped), `unknown` (timeout / connection loss: the op may take effect
at any time after its invocation, or never; unknown reads are dropped).

Algorithm: the history is split per key (registers are independent), then each key is
searched Wing & Gong style as refined by Lowe: a doubly linked list of call and return
events in time order; the search linearizes a call whose op is still pending, backtracks
when it reaches the return of an op not yet linearized, and memoizes every (linearized set,
register state) it has been in, so no configuration is explored twice.  Unknown ops have no
return event, so they may be linearized anywhere after their call or never.  Prunings that
hold for this model (see _search) keep concurrent reads and unknown ops from multiplying
the configurations.  The search is bounded by a state count and a deadline and then
answers "undecided".

A violation is reported with a small window that still proves it: the shortest time window
[t0, t1] whose ops are not linearizable (ops crossing t0 or t1 are weakened to "may or may
not have taken effect" or dropped if they are reads; if t0 is not the start of the history
the register may start in any state), then every op whose weakening keeps the violation is
left out.  Each of those weakenings admits every behaviour the full history admits, so a
violating window always means a violating history.
"""

import bisect
import threading
import time

__all__ = ["check", "History", "Result"]

READ, WRITE, CAS, BADVERSION, NONODE = range(5)
_KINDS = {"read": READ, "write": WRITE, "cas": CAS}
_INF = float("inf")
_ANY = type("AnyValue", (), {"__repr__": lambda self: "<any value>"})()
_UNREAD = type("UnreadValue", (), {"__repr__": lambda self: "<a value no read returns>"})()
_EXPLAIN_OPS = 80  # explain() shows at most this many ops of a window


class _Op:
    """One op of one key as the search sees it.  `required`: it has a finite completion
    and must be linearized; `new_version`: the version an acknowledged write/cas produced
    (None if unknown); `src`: index of the op in the checked history."""

    __slots__ = ("kind", "value", "expected", "new_version", "read", "invoke", "complete",
                 "required", "src", "weakened")

    def __init__(self, kind, value, expected, new_version, read, invoke, complete, required,
                 src, weakened=False):
        self.kind, self.value, self.expected = kind, value, expected
        self.new_version, self.read = new_version, read
        self.invoke, self.complete, self.required = invoke, complete, required
        self.src, self.weakened = src, weakened

    def weaken(self):
        """The same write/cas with its outcome forgotten: it may take effect at any time
        after its call, or never."""
        return _Op(self.kind, self.value, self.expected, None, None, self.invoke, _INF, False,
                   self.src, True)


def _step(state, op):
    """The register state after `op`, or None if `op` cannot happen in `state`.

    A state is (value, version, known).  With known=False the version is an offset from an
    unknown base version >= 0 (a window that does not start at the history's start), and
    value may be _ANY; the first read or versioned result pins them down."""
    value, ver, known = state
    kind = op.kind
    if kind == READ:
        rvalue, rver = op.read
        if value is not _ANY and value != rvalue:
            return None
        if known:
            if ver != rver:
                return None
        elif rver < ver:
            return None
        return (rvalue, rver, True)
    if kind == BADVERSION:
        return None if known and ver == op.expected else state
    if kind == NONODE:
        return None
    if kind == CAS:
        if known:
            if ver != op.expected:
                return None
        elif op.expected < ver:
            return None
        ver, known = op.expected, True
    ver += 1
    r = op.new_version
    if r is not None:
        if known:
            if r != ver:
                return None
        elif r < ver:
            return None
        ver, known = r, True
    return (op.value, ver, known)


class _Budget:
    def __init__(self, seconds, max_states):
        self.deadline = time.monotonic() + seconds
        self.max_states = max_states
        self.states = 0
        self.gave_up = False  # some search ran out of it


def _cap(op):
    """The highest register version at which `op` can still be linearized (versions never
    decrease, so a state above the cap of a pending op is a dead end)."""
    if op.kind == READ:
        return op.read[1]
    if op.kind == CAS:
        return op.expected
    if op.kind == WRITE and op.new_version is not None:
        return op.new_version - 1
    return _INF


def _search(ops, init, budget):
    """Wing-Gong-Lowe search of `ops` (sorted by invoke) from state `init`.
    Returns (verdict, frontier): verdict True: linearizable; False: not; None: the budget
    ran out; frontier: the latest completion time at which the search got stuck.

    Prunings, each keeping every configuration that can still succeed:
    - a pending op that leaves the state as it is (a matching read, a holding BadVersion)
      is linearized at once, without trying the alternatives;
    - a value that no read returns is replaced by _UNREAD, so writes of such values are
      interchangeable; among interchangeable unknown ops (same kind and expected version)
      only the earliest invoked pending one may be linearized (any linearization using a
      later one at some instant can use an earlier one, invoked no later, at that instant);
    - the only op writing a value that reads returned, all with one version V, must produce
      V (else those reads fail): it is checked as if acknowledged with V (not when the
      initial state is wholly unknown, as it may hold that value);
    - while the version is known, a state whose version exceeds the smallest cap of the
      pending required ops is dropped (kept in a segment tree over the required ops);
    - configurations that differ only in unknown ops that can no longer take effect share
      one memo entry;
    - no unknown op is linearized while the state is wholly unknown."""
    n = len(ops)
    if n == 0:
        return True, -_INF
    read_versions = {}  # value -> the versions reads returned with it
    for op in ops:
        if op.kind == READ:
            read_versions.setdefault(op.read[0], set()).add(op.read[1])
    writers = {}  # value -> how many ops (and the initial state) may have written it
    for op in ops:
        if op.kind == WRITE or op.kind == CAS:
            writers[op.value] = writers.get(op.value, 0) + 1
    if init[0] is not _ANY:
        writers[init[0]] = writers.get(init[0], 0) + 1
    bind = init[0] is not _ANY  # a state wholly unknown may hold any value already
    out = []
    for op in ops:
        if op.kind != WRITE and op.kind != CAS:
            out.append(op)
        elif op.value not in read_versions:
            out.append(_Op(op.kind, _UNREAD, op.expected, op.new_version, None, op.invoke,
                           op.complete, op.required, op.src, op.weakened))
        elif (bind and op.new_version is None and writers[op.value] == 1
              and len(read_versions[op.value]) == 1):
            out.append(_Op(op.kind, op.value, op.expected, next(iter(read_versions[op.value])),
                           None, op.invoke, op.complete, op.required, op.src, op.weakened))
        else:
            out.append(op)
    ops = out
    if init[0] is not _ANY and init[0] not in read_versions:
        init = (_UNREAD, init[1], init[2])
    # bit of each op in its own linearized set: required ops (in invoke order) and unknown
    # ops (in cap order) apart, so that the required set can be cached as (bits above the
    # lowest pending one, that index) and the unknown ops that can no longer take effect
    # (cap below the version) as one low mask
    bit = [0] * n
    prev_alike = [-1] * n  # previous interchangeable unknown op
    last_alike = {}
    nreq = 0
    unknown = sorted((i for i in range(n) if not ops[i].required), key=lambda i: _cap(ops[i]))
    unknown_caps = [_cap(ops[i]) for i in unknown]
    for j, i in enumerate(unknown):
        bit[i] = j
    for i, op in enumerate(ops):
        if op.required:
            bit[i] = nreq
            nreq += 1
        else:
            if op.value is _UNREAD:
                cls = (op.kind, op.expected)
                prev_alike[i] = last_alike.get(cls, -1)
                last_alike[cls] = i
    size = 1
    while size < nreq:
        size *= 2
    caps = [_INF] * (2 * size)  # caps[1]: the smallest cap of a pending required op
    for i, op in enumerate(ops):
        if op.required:
            caps[size + bit[i]] = _cap(op)
    for j in range(size - 1, 0, -1):
        caps[j] = min(caps[2 * j], caps[2 * j + 1])

    def set_cap(j, value):
        j += size
        caps[j] = value
        j >>= 1
        while j:
            m = min(caps[2 * j], caps[2 * j + 1])
            if caps[j] == m:
                break
            caps[j] = m
            j >>= 1

    # required ops: a doubly linked list of call (2i) and return (2i + 1) events in time
    # order, calls first on equal times (equal times count as concurrent), HEAD = 2n;
    # unknown ops (no return event) apart: a list of calls in invoke order, UHEAD = n.  The
    # candidates of a configuration are the calls before the first return: required ones
    # first, then unknown ones invoked no later than that return.
    events = [(op.invoke, 0, 2 * i) for i, op in enumerate(ops) if op.required]
    events += [(op.complete, 1, 2 * i + 1) for i, op in enumerate(ops) if op.required]
    events.sort()
    head = 2 * n
    nxt = [-1] * (2 * n + 1)
    prv = [-1] * (2 * n + 1)
    last = head
    for _, _, e in events:
        nxt[last] = e
        prv[e] = last
        last = e
    uhead = n
    unxt = [-1] * (n + 1)
    uprv = [-1] * (n + 1)
    last = uhead
    for i, op in enumerate(ops):  # ops are sorted by invoke
        if not op.required:
            unxt[last] = i
            uprv[i] = last
            last = i

    def lift(i):
        if ops[i].required:
            for x in (2 * i, 2 * i + 1):
                nxt[prv[x]] = nxt[x]
                if nxt[x] != -1:
                    prv[nxt[x]] = prv[x]
        else:
            unxt[uprv[i]] = unxt[i]
            if unxt[i] != -1:
                uprv[unxt[i]] = uprv[i]

    def unlift(i):
        if ops[i].required:
            for x in (2 * i + 1, 2 * i):
                nxt[prv[x]] = x
                if nxt[x] != -1:
                    prv[nxt[x]] = x
        else:
            unxt[uprv[i]] = i
            if unxt[i] != -1:
                uprv[unxt[i]] = i

    def config_key(nreq_set, nunk_set, new):
        """Configurations with the same future share a key: the same pending required ops,
        state, and unknown ops that can still take effect."""
        low = ((nreq_set + 1) & ~nreq_set).bit_length() - 1
        if new[2]:
            nunk_set |= (1 << bisect.bisect_left(unknown_caps, new[1])) - 1
        return (nreq_set >> low, low, nunk_set, new)

    def first_return():
        x = nxt[head]
        while not x & 1:
            x = nxt[x]
        return ops[x >> 1].complete

    cache = set()
    stack = []  # (op index, state before it, forced)
    state = init
    lreq = lunk = 0
    remaining = nreq
    frontier = stuck = limit = -_INF
    steps = 0
    fresh = True  # a configuration just entered
    mode = 1  # 1: scanning required calls at e, 2: unknown calls at u, 0: backtrack
    e = u = -1
    while remaining:
        steps += 1
        if budget.states >= budget.max_states or (
                steps & 4095 == 0 and time.monotonic() > budget.deadline):
            return None, frontier
        if fresh:
            # a pending op that leaves the state as it is (a read that matches, a BadVersion
            # that holds) is linearized at once, without branching: nothing pending must
            # precede it and nothing after it can tell, so this configuration has a
            # linearization iff the one with that op added has
            fresh = False
            e = nxt[head]
            while not e & 1:
                op = ops[e >> 1]
                if (op.kind == READ or op.kind == BADVERSION) and _step(state, op) == state:
                    break
                e = nxt[e]
            if not e & 1:
                i = e >> 1
                nreq_set = lreq | (1 << bit[i])
                key = config_key(nreq_set, lunk, state)
                if key in cache:  # explored before, without success
                    mode, stuck = 0, -_INF
                else:
                    cache.add(key)
                    budget.states += 1
                    stack.append((i, state, True))
                    lreq = nreq_set
                    set_cap(bit[i], _INF)
                    remaining -= 1
                    lift(i)
                    fresh = True
                    continue
            else:
                mode, e = 1, nxt[head]
        if mode == 1:
            if e & 1:  # the first return: go on with the unknown ops invoked before it
                stuck = limit = ops[e >> 1].complete
                mode, u = 2, unxt[uhead]
                continue
            i = e >> 1
            e = nxt[e]
        elif mode == 2:
            # from a state still wholly unknown an unknown op leads nowhere new: starting
            # in the state it produces, with the op still available, covers it
            if u == -1 or ops[u].invoke > limit or (state[0] is _ANY and not state[2]):
                mode = 0
                continue
            i = u
            u = unxt[u]
            p = prev_alike[i]
            if p >= 0 and not (lunk >> bit[p]) & 1:
                continue
        else:  # no candidate left: undo linearizations
            frontier = max(frontier, stuck)
            while True:
                if not stack:
                    return False, frontier
                i, state, forced = stack.pop()
                op = ops[i]
                if op.required:
                    lreq &= ~(1 << bit[i])
                    set_cap(bit[i], _cap(op))
                    remaining += 1
                else:
                    lunk &= ~(1 << bit[i])
                unlift(i)
                if not forced:
                    break
            if op.required:
                mode, e = 1, nxt[2 * i]
            else:
                mode, u = 2, unxt[i]
                stuck = limit = first_return()
            continue
        # try to linearize candidate i
        op = ops[i]
        new = _step(state, op)
        if new is None:
            continue
        if op.required:
            nreq_set, nunk_set = lreq | (1 << bit[i]), lunk
            set_cap(bit[i], _INF)
        else:
            nreq_set, nunk_set = lreq, lunk | (1 << bit[i])
        key = config_key(nreq_set, nunk_set, new)
        if not (new[2] and new[1] > caps[1]) and key not in cache:
            cache.add(key)
            budget.states += 1
            stack.append((i, state, False))
            state, lreq, lunk = new, nreq_set, nunk_set
            if op.required:
                remaining -= 1
            lift(i)
            fresh = True
        elif op.required:
            set_cap(bit[i], _cap(op))
    return True, frontier


def _prepare(history):
    """history dicts -> {key: [_Op sorted by invoke]}, validating every field used."""
    per_key = {}
    for idx, h in enumerate(history):
        try:
            kind = _KINDS[h["kind"]]
            status = h["status"]
            invoke = float(h["invoke"])
            key = h["key"]
        except (KeyError, TypeError, ValueError) as ex:
            raise ValueError(f"history[{idx}]: bad or missing field: {ex!r} in {h!r}") from None
        if status not in ("ok", "fail", "unknown"):
            raise ValueError(f"history[{idx}]: status {status!r}")
        complete = h.get("complete")
        if status != "unknown":
            if complete is None or complete < invoke:
                raise ValueError(f"history[{idx}]: {status} needs complete >= invoke: {h!r}")
        result = h.get("result")
        value = h.get("value")
        expected = h.get("expected_version")
        if kind != READ and not isinstance(value, (bytes, bytearray)):
            raise ValueError(f"history[{idx}]: {h['kind']} needs bytes value: {h!r}")
        if kind == CAS and not isinstance(expected, int):
            raise ValueError(f"history[{idx}]: cas needs int expected_version: {h!r}")
        new_version = read = None
        if status == "unknown":
            if kind == READ:
                continue
            required, complete = False, _INF
        elif status == "fail":
            error = h.get("error")
            if error == "NoNode":
                kind, required = NONODE, True
            elif kind == CAS and error in (None, "BadVersion"):
                kind, required = BADVERSION, True
            else:
                continue
        else:
            required = True
            if kind == READ:
                if (not isinstance(result, (tuple, list)) or len(result) != 2
                        or not isinstance(result[1], int)):
                    raise ValueError(f"history[{idx}]: ok read needs result (value, version)")
                read = (bytes(result[0]) if result[0] is not None else None, result[1])
            elif result is not None:
                if not isinstance(result, int):
                    raise ValueError(f"history[{idx}]: ok {h['kind']} result must be the "
                                     f"new version (int) or None: {h!r}")
                new_version = result
        per_key.setdefault(key, []).append(
            _Op(kind, bytes(value) if value is not None else None, expected, new_version, read,
                invoke, float(complete), required, idx))
    for ops in per_key.values():
        ops.sort(key=lambda o: (o.invoke, o.src))
    return per_key


def _window(ops, t0, t1, left_out=()):
    """The ops of window [t0, t1] (t0 None: from the history's start); those crossing an
    edge or listed in `left_out` weakened (writes, cas) or dropped (ops that only observe)."""
    out = []
    for op in ops:
        if op.invoke > t1 or (t0 is not None and op.complete < t0):
            continue
        if op.src in left_out or (t0 is not None and op.invoke < t0) or op.complete > t1:
            if op.kind == WRITE or op.kind == CAS:
                out.append(op.weaken())
        else:
            out.append(op)
    return out


class Result:
    """Outcome of check().

    ok      True iff every key is linearizable
    status  "linearizable" | "violation" | "undecided"
    key     the first key (sorted order) that violated, else the first undecided, else None
    window  for a violation: the ops (copies of the history dicts, in invoke order) that
            prove it; ops marked "weakened": True (they cross the window's edge, or the
            violation holds without them) count only as "may or may not have taken effect"
            and are shown because a shown read returned their value
    window_initial  the (value, version) the window starts from; None: any state
    stats   {"ops", "keys": ops and keys searched (a violation stops the check; ops
            that carry no information, like unknown reads, are not counted), "states",
            "seconds"}
    """

    def __init__(self, status, key=None, window=None, stats=None, detail=None,
                 window_initial=None):
        self.status, self.key = status, key
        self.ok = status == "linearizable"
        self.window = window or []
        self.window_initial = window_initial
        self.stats = stats or {}
        self._detail = detail or {}

    def __repr__(self):
        return f"<Result {self.status} key={self.key!r} window={len(self.window)} ops>"

    def explain(self):
        """Readable lines (one string) describing the outcome."""
        s = self.stats
        head = (f"{s.get('ops', 0)} ops on {s.get('keys', 0)} keys, "
                f"{s.get('states', 0)} states, {s.get('seconds', 0.0):.2f} s")
        if self.status == "linearizable":
            return f"linearizable ({head})"
        d = self._detail
        if self.status == "undecided":
            return (f"UNDECIDED on key {self.key!r}: the search gave up after "
                    f"{d.get('reason')} ({head}); not a proof either way, count it as a "
                    f"failure or rerun with a larger bound")
        t_start = min(o["invoke"] for o in self.window)
        t_end = max((o["complete"] for o in self.window if o["complete"] is not None),
                    default=t_start)
        start = ("the register may hold any state at the window's start"
                 if self.window_initial is None
                 else f"the register starts in the initial state {self.window_initial!r}")
        lines = [f"NOT LINEARIZABLE on key {self.key!r} ({head})",
                 f"window: {len(self.window)} ops over {(t_end - t_start) * 1e3:.3f} ms, "
                 f"starting {t_start - d['t_first']:.6f} s after the key's first op; {start}"]
        shown = self.window
        if len(shown) > _EXPLAIN_OPS:  # a window the time bound kept large: its two ends
            first = _EXPLAIN_OPS // 4
            shown = shown[:first] + [None] + shown[-(_EXPLAIN_OPS - first):]
        for o in shown:
            lines.append(f"  ... {len(self.window) - _EXPLAIN_OPS} ops ..." if o is None
                         else "  " + _describe(o, t_start))
        lines.append("no order of these ops, each at one instant inside its interval, is "
                     "consistent with one register (value, version)")
        if d["left_out"]:
            lines.append(f"{d['left_out']} other ops of the key overlapping the window are not "
                         f"shown: the violation holds whatever they did")
        if d.get("shrink_stopped"):
            lines.append("(shrinking stopped at its time bound: the window may not be minimal)")
        return "\n".join(lines)


def _describe(o, t0):
    ms = lambda t: f"+{(t - t0) * 1e3:.3f}"  # noqa: E731
    end = ms(o["complete"]) if o["complete"] is not None else "?"
    kind = o["kind"]
    if kind == "write":
        call = f"write({o['value']!r})"
    elif kind == "cas":
        call = f"cas(expected_version={o['expected_version']}, {o['value']!r})"
    else:
        call = "read()"
    st = o["status"]
    res = o.get("result")
    if st == "ok":
        if kind == "read":
            out = f"ok ({res[0]!r}, version {res[1]})"
        else:
            out = "ok" + (f", version {res}" if res is not None else "")
    elif st == "fail":
        out = f"fail ({o.get('error') or 'BadVersion'})"
    else:
        out = "unknown" + (f" ({o['error']})" if o.get("error") else "") + \
              ": may or may not have taken effect"
    if o.get("weakened") and st != "unknown":
        out += " [weakened: counted as may or may not have taken effect]"
    return f"[{ms(o['invoke'])} .. {end} ms] {o['client']}: {call} -> {out}"


def _fails(ops, t0, t1, left_out, init, budget):
    """True only if the window is proved not linearizable (undecided counts as False)."""
    start = init if t0 is None else (_ANY, 0, False)
    verdict = _search(_window(ops, t0, t1, left_out), start, budget)[0]
    budget.gave_up |= verdict is None
    return verdict is False


def _first_true(pred, lo, hi, hi_known):
    """The smallest i in [lo, hi] with pred(i), for pred monotone (False... True), or None.
    Probes lo, lo+1, lo+3, lo+7, ... first, so that the cost follows the answer, not hi;
    pred(hi) is taken as True if hi_known."""
    below, k = lo - 1, 0
    while True:
        i = min(hi, lo + (1 << k) - 1)
        if i == hi:
            if not hi_known and not pred(hi):
                return None
            break
        if pred(i):
            break
        below, k = i, k + 1
    while below + 1 < i:
        mid = (below + i) // 2
        if pred(mid):
            i = mid
        else:
            below = mid
    return i


def _shrink(ops, init, seconds, frontier):
    """(t0, t1, left_out, stopped): a small window that still fails, see the module doc.
    `frontier`: the search of the whole key got stuck at no return later than that, so the
    violation shows around it: windows grow around it until one fails, then its end moves
    back and its start forward as far as the violation allows."""
    budget = _Budget(seconds, 1 << 62)
    ends = sorted({op.complete for op in ops if op.complete != _INF})
    starts = sorted({op.invoke for op in ops})
    je = min(bisect.bisect_left(ends, frontier), len(ends) - 1)
    js = max(bisect.bisect_right(starts, ends[je]) - 1, 0)

    def fails(i, j):  # window [starts[i], ends[j]]; i None: from the initial state
        return _fails(ops, None if i is None else starts[i], ends[j], (), init, budget)

    k = 0
    while True:
        j1 = min(je + (1 << k) - 1, len(ends) - 1)
        i0 = js - (1 << k) + 1
        i0 = i0 if i0 > 0 else None
        # the whole history is known to fail
        if (i0 is None and j1 == len(ends) - 1) or fails(i0, j1):
            break
        k += 1
    j1 = _first_true(lambda j: fails(i0, j), je, j1, True)
    if i0 is None:
        i0 = 0 if fails(0, j1) else None
    if i0 is not None:
        hi = bisect.bisect_right(starts, ends[j1]) - 1
        while i0 < hi:
            mid = (i0 + hi + 1) // 2
            if fails(mid, j1):
                i0 = mid
            else:
                hi = mid - 1
    t0, t1 = (None if i0 is None else starts[i0]), ends[j1]
    # leave out every op whose weakening keeps the violation: reads first, then the rest
    left_out = set()
    inside = [op for op in _window(ops, t0, t1) if not op.weakened]
    inside.sort(key=lambda op: (op.kind != READ, op.invoke))
    for op in inside:
        if time.monotonic() > budget.deadline:
            budget.gave_up = True
            break
        trial = left_out | {op.src}
        if _fails(ops, t0, t1, trial, init, budget):
            left_out = trial
    return t0, t1, left_out, budget.gave_up


def check(history, initial=(b"", 0), *, time_limit=60.0, max_states=2_000_000,
          shrink_time=20.0):
    """Check a register history (list of op dicts, or a History).

    initial: (value, version) of every key before the history, or {key: (value, version)}
    (missing keys: (b"", 0)); a History's own `initial` entries take precedence.
    time_limit / max_states bound the search of all keys together (then "undecided");
    shrink_time bounds the search for a small violating window.
    """
    t_begin = time.monotonic()
    known_initial = {}
    if isinstance(history, History):
        known_initial = history.initial_states()
        history = history.ops()
    per_key = _prepare(history)
    budget = _Budget(time_limit, max_states)
    undecided = None
    checked = []  # keys searched so far
    for key in sorted(per_key):
        ops = per_key[key]
        checked.append(ops)
        if key in known_initial:
            value, version = known_initial[key]
        elif isinstance(initial, dict):
            value, version = initial.get(key, (b"", 0))
        else:
            value, version = initial
        init = (bytes(value) if value is not None else None, version, True)
        verdict, frontier = _search(ops, init, budget)
        if verdict is None:
            if undecided is None:
                undecided = key
            if time.monotonic() > budget.deadline or budget.states >= budget.max_states:
                break
            continue
        if verdict is False:
            t0, t1, left_out, stopped = _shrink(ops, init, shrink_time, frontier)
            proof = _window(ops, t0, t1, left_out)
            # weakened ops are shown only where a shown read returned their value
            read_values = {op.read[0] for op in proof if op.kind == READ}
            window = []
            for op in proof:
                if op.weakened and op.value not in read_values:
                    continue
                d = dict(history[op.src])
                if op.weakened and d["status"] != "unknown":
                    d["weakened"] = True
                window.append(d)
            overlapping = sum(1 for op in ops
                              if op.invoke <= t1 and (t0 is None or op.complete >= t0))
            detail = {"t_first": ops[0].invoke, "shrink_stopped": stopped,
                      "left_out": overlapping - len(window)}
            return Result("violation", key, window, _stats(checked, budget, t_begin), detail,
                          None if t0 is not None else (init[0], init[1]))
    if undecided is not None:
        reason = (f"{budget.states} states (max_states={max_states})"
                  if budget.states >= max_states else f"{time_limit} s (time_limit)")
        return Result("undecided", undecided, stats=_stats(checked, budget, t_begin),
                      detail={"reason": reason})
    return Result("linearizable", stats=_stats(checked, budget, t_begin))


def _stats(checked, budget, t_begin):
    return {"ops": sum(len(ops) for ops in checked), "keys": len(checked),
            "states": budget.states, "seconds": time.monotonic() - t_begin}


class History:
    """Thread-safe recorder of register ops, timed with time.monotonic().

        op = h.invoke("c1", "/lin/a", "cas", value=b"c1-7", expected_version=3)
        ... h.complete(op, "fail", error="BadVersion")

    An op never completed counts as unknown.  `set_initial(key, value, version)` records
    the state a key had before any op of the history (the first call per key wins)."""

    _ARGS = ("value", "expected_version")

    def __init__(self):
        self._lock = threading.Lock()
        self._ops = []
        self._completed = set()
        self._initial = {}

    def invoke(self, client, key, kind, **args):
        """Record an op about to be sent (args: value, expected_version); its id."""
        if kind not in _KINDS:
            raise ValueError(f"kind {kind!r}")
        bad = set(args) - set(self._ARGS)
        if bad:
            raise TypeError(f"unknown op arguments {sorted(bad)}")
        op = {"client": str(client), "key": key, "kind": kind, "value": args.get("value"),
              "expected_version": args.get("expected_version"), "invoke": time.monotonic(),
              "complete": None, "status": "unknown", "result": None}
        with self._lock:
            self._ops.append(op)
            return len(self._ops) - 1

    def complete(self, op_id, status, result=None, error=None):
        """Record the outcome of op `op_id` just received: status "ok" (result: (value,
        version) for a read, the new version or None for write/cas), "fail" or "unknown";
        `error` names the failure (e.g. "BadVersion", "NoNode", "ConnectionLoss")."""
        now = time.monotonic()
        if status not in ("ok", "fail", "unknown"):
            raise ValueError(f"status {status!r}")
        with self._lock:
            if op_id in self._completed:
                raise ValueError(f"op {op_id} completed twice")
            self._completed.add(op_id)
            op = self._ops[op_id]
            op["status"], op["result"] = status, result
            op["complete"] = None if status == "unknown" else now
            if error is not None:
                op["error"] = error

    def set_initial(self, key, value, version):
        with self._lock:
            self._initial.setdefault(key, (value, version))

    def initial_states(self):
        with self._lock:
            return dict(self._initial)

    def ops(self):
        """A snapshot: copies of the op dicts in the order they were recorded."""
        with self._lock:
            return [dict(op) for op in self._ops]
