"""Seeded generator of operation sequences, and their one-line rendering.

An op is a JSON-able dict: `k` (kind), `s` (session slot) and the kind's
parameters. Data is a latin-1 str (one char per byte) or None (null buffer);
paths are str, where a lone \\udc80-\\udcff stands for a raw invalid UTF-8 byte;
the path `$last` means "the last path a create answered on this server" and is
resolved by the runner per server. Session-level kinds (open, close,
disconnect, reconnect, expire, restart) are executed by the runner, which also
opens a session on its own when an op names a slot without one — so any
sub-list of a sequence (what the shrinker tries) is still a valid sequence.

The path space is kept small on purpose (three names, depth <= 3) so that ops
collide; edge paths ("/", /zookeeper, /zookeeper/quota, /zookeeper/config,
trailing slash, empty, relative, ., .., very long, non-ASCII, characters 3.8
rejects, invalid UTF-8) are mixed in.
"""

import json
import random
import re

from servers import SUPER, digest_id

NAMES = ["a", "b", "c"]
LONG = "/" + "l" * 2000
SPECIAL_PATHS = [
    "/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config", "/zookeeper/quota/a",
    "/zookeeper/quota/a/zookeeper_limits", "/zookeeper/quota/a/zookeeper_stats",
    "/zookeeper/x", "/a/", "/zookeeper/", "", "a", "//a", "/a//b", "/a/.", "/a/..", "/./a",
    "/a/.b", "/\u00e9", "/\u65e5\u672c", "/a\u0000b", "/a\u0001", "/\U0001F600", "/a\u007f",
    "/\ufffe", "/\udcff", "/a/\udcc3", LONG, "/a/b/c/a", "/a/b/c/a/b",
]

ACLS = {
    "OPEN": [[31, "world", "anyone"]],
    "READ": [[1, "world", "anyone"]],
    "NOREAD": [[30, "world", "anyone"]],
    "CREATE_DELETE": [[12, "world", "anyone"]],
    "NONE": [[0, "world", "anyone"]],
    "CREATOR": [[31, "auth", ""]],
    "CREATOR_READ": [[31, "auth", ""], [1, "world", "anyone"]],
    "ALICE": [[31, "digest", digest_id("alice", "pw1")]],
    "BOB_READ_ALL": [[31, "digest", digest_id("bob", "pw2")], [1, "world", "anyone"]],
    "ALICE_NOREAD": [[30, "digest", digest_id("alice", "pw1")], [31, "world", "anyone"]],
    "IP": [[31, "ip", "127.0.0.1"]],
    "IP8": [[31, "ip", "127.0.0.0/8"]],
    "IP_OTHER": [[31, "ip", "10.0.0.0/8"]],
    "IP_OTHER_READ": [[31, "ip", "10.1.2.3"], [1, "world", "anyone"]],
    "IP_BADMASK": [[31, "ip", "127.0.0.1/33"]],
    "IP_BAD": [[31, "ip", "300.0.0.1"]],
    "IP0": [[31, "ip", "0.0.0.0/0"]],
    "EMPTY": [],
    "NULL": None,
    "BADSCHEME": [[31, "foo", "bar"]],
    "WORLD_BADID": [[31, "world", "nobody"]],
    "DIGEST_BAD": [[31, "digest", "nocolon"]],
    "DUP": [[31, "world", "anyone"], [31, "world", "anyone"]],
    "PERMS_HIGH": [[63, "world", "anyone"]],
    "PERMS_NEG": [[-1, "world", "anyone"]],
}
ACL_WEIGHTS = {"OPEN": 40, "READ": 6, "NOREAD": 8, "CREATE_DELETE": 4, "NONE": 2,
               "CREATOR": 6, "CREATOR_READ": 3, "ALICE": 5, "BOB_READ_ALL": 3,
               "ALICE_NOREAD": 3, "IP": 3, "IP8": 2, "IP_OTHER": 2, "IP_OTHER_READ": 2,
               "IP_BADMASK": 1, "IP_BAD": 1, "IP0": 1, "EMPTY": 1, "NULL": 1, "BADSCHEME": 1,
               "WORLD_BADID": 1, "DIGEST_BAD": 1, "DUP": 1, "PERMS_HIGH": 1, "PERMS_NEG": 1}
AUTHS = [("digest", "alice:pw1", 30), ("digest", "bob:pw2", 20), ("digest", "alice:wrong", 8),
         ("digest", f"{SUPER[0]}:{SUPER[1]}", 3), ("foo", "bar", 8), ("ip", "127.0.0.1", 4),
         ("digest", "", 3), ("digest", "nocolon", 3), ("world", "anyone", 2)]
TTLS = [1, 500, 60000, 0, -1, 2 ** 40, 2 ** 40 - 1]
TIMEOUTS = [(4000, 15), (10000, 40), (30000, 30), (1000, 5), (100000, 5)]

# kind -> weight for ordinary ops
WEIGHTS = {
    "create": 14, "create2": 10, "createContainer": 3, "createTTL": 4, "delete": 9,
    "exists": 7, "getData": 7, "setData": 8, "getACL": 3, "setACL": 4, "getChildren": 5,
    "getChildren2": 4, "sync": 1, "ping": 1, "multi": 7, "multiRead": 3, "checkWatches": 3,
    "removeWatches": 4, "addWatch": 5, "setWatches": 1, "setWatches2": 1, "auth": 3,
    "getEphemerals": 2, "getAllChildrenNumber": 2, "whoAmI": 1, "quota": 2, "rawOp": 1,
    "close": 1, "open": 1, "reconnect": 2, "disconnect": 1, "burst": 3,
}
# a burst: requests sent back to back on one session, answered in order
BURST_KINDS = [("create", 20), ("create2", 10), ("delete", 15), ("setData", 15), ("getData", 15),
               ("exists", 10), ("getChildren2", 10), ("sync", 3), ("setACL", 3), ("multi", 5)]
TRUNCATABLE = {"create", "create2", "setData", "getData", "exists", "getChildren", "setACL",
               "multi", "delete", "addWatch"}


def pick(rng, weighted):
    """Weighted choice among (value, weight) -> value, or (a, b, weight) -> (a, b)."""
    x = rng.uniform(0, sum(item[-1] for item in weighted))
    for item in weighted:
        x -= item[-1]
        if x <= 0:
            break
    return item[0] if len(item) == 2 else item[:-1]


class Gen:
    """Generates one sequence; `self.timeout[slot]` models each slot's session timeout."""

    def __init__(self, seed, nslots):
        self.rng = random.Random(seed)
        self.nslots = nslots
        self.timeout = [10000] * nslots

    # --- parameters -------------------------------------------------------------
    def normal_path(self):
        r = self.rng
        depth = pick(r, [(1, 45), (2, 35), (3, 20)])
        return "/" + "/".join(r.choice(NAMES) for _ in range(depth))

    def path(self, special=0.2):
        r = self.rng
        x = r.random()
        if x < special:
            return r.choice(SPECIAL_PATHS)
        if x < special + 0.07:
            return "$last"
        return self.normal_path()

    def data(self):
        r = self.rng
        x = r.random()
        if x < 0.1:
            return None
        if x < 0.2:
            return ""
        if x < 0.6:
            return r.choice(["x", "hello", "data", "count=1,bytes=5"])
        if x < 0.97:
            return "".join(chr(r.randrange(256)) for _ in range(r.randrange(1, 20)))
        return "z" * r.choice([4096, 100000])

    def acl(self):
        return ACLS[pick(self.rng, list(ACL_WEIGHTS.items()))]

    def version(self):
        return -1 if self.rng.random() < 0.6 else self.rng.choice([0, 1, 2, 5, -2])

    def create_flags(self, kind):
        r = self.rng
        if kind == "createContainer":
            return 4 if r.random() < 0.8 else r.choice([0, 1, 2, 5])
        if kind == "createTTL":
            return r.choice([5, 6]) if r.random() < 0.8 else r.choice([0, 1, 2, 4, 7])
        return pick(r, [(0, 35), (1, 15), (2, 15), (3, 10), (4, 5), (5, 3), (6, 2), (7, 1),
                        (-1, 1), (100, 1)])

    def create_op(self, kind):
        op = {"k": kind, "path": self.path(0.12), "data": self.data(), "acl": self.acl(),
              "flags": self.create_flags(kind)}
        if kind == "createTTL":
            op["ttl"] = self.rng.choice(TTLS)
            if op["flags"] in (0, 1, 2, 3, 4) and op["ttl"] < 0:
                # Reference defect: createTTL with a non-TTL mode and a negative TTL passes
                # PrepRequestProcessor (EphemeralType#validateTTL only rejects ttl >= 0 for
                # those modes) and is logged; applying it throws in
                # EphemeralType.TTL#toEphemeralOwner and the JVM exits, and again on every
                # start from that dataDir. Such a run could compare nothing after it.
                op["ttl"] = 1000
        return op

    def sub_op(self, read):
        r = self.rng
        if read:
            t = pick(r, [("getData", 45), ("getChildren", 45), ("setData", 3), ("exists", 2)])
        else:
            t = pick(r, [("create", 20), ("create2", 8), ("createContainer", 3),
                         ("createTTL", 4), ("delete", 15), ("setData", 15), ("check", 12),
                         ("getData", 1)])
        sub = {"type": t, "path": self.path(0.1)}
        if t.startswith("create"):
            sub.update(self.create_op(t))
            del sub["k"]
            if t in ("create", "create2") and r.random() < 0.08:
                sub["flags"] = r.choice([5, 6])       # a TTL mode on a plain create
        elif t in ("delete", "check"):
            sub["version"] = self.version()
        elif t == "setData":
            sub["data"], sub["version"] = self.data(), self.version()
        return sub

    def watch_lists(self):
        r = self.rng
        return {"w_" + kind: [self.path(0.1) for _ in range(r.randrange(3))]
                for kind in ("data", "exist", "child", "persistent", "recursive")}

    # --- ops ----------------------------------------------------------------------
    def op(self, kind, slot):
        r = self.rng
        if kind in ("create", "create2", "createContainer", "createTTL"):
            op = self.create_op(kind)
        elif kind == "delete":
            op = {"k": kind, "path": self.path(), "version": self.version()}
        elif kind in ("exists", "getData", "getChildren", "getChildren2"):
            op = {"k": kind, "path": self.path(), "watch": r.random() < 0.5}
        elif kind == "setData":
            op = {"k": kind, "path": self.path(), "data": self.data(), "version": self.version()}
        elif kind in ("getACL", "sync", "getAllChildrenNumber"):
            op = {"k": kind, "path": self.path(0.35)}
        elif kind == "getEphemerals":
            op = {"k": kind, "path": r.choice(["/", "", "/a", "/a/", "/b", "/zz", "$last"])}
        elif kind == "setACL":
            op = {"k": kind, "path": self.path(), "acl": self.acl(), "version": self.version()}
        elif kind in ("checkWatches", "removeWatches"):
            op = {"k": kind, "path": self.path(0.1),
                  "wtype": r.choice([1, 2, 3]) if r.random() < 0.9 else r.choice([0, 4, 5])}
        elif kind == "addWatch":
            op = {"k": kind, "path": self.path(0.15),
                  "mode": r.choice([0, 1]) if r.random() < 0.95 else 2}
        elif kind in ("multi", "multiRead"):
            n = r.choice([0, 1, 2, 2, 3, 3, 4, 5]) if kind == "multi" else r.randrange(1, 5)
            op = {"k": kind, "ops": [self.sub_op(kind == "multiRead") for _ in range(n)]}
        elif kind in ("setWatches", "setWatches2"):
            op = dict({"k": kind, "rel": r.choice(["last", "last", 0, 2 ** 62])},
                      **self.watch_lists())
            if kind == "setWatches":
                del op["w_persistent"], op["w_recursive"]
        elif kind == "auth":
            scheme, cred = pick(r, AUTHS)
            op = {"k": kind, "scheme": scheme, "cred": cred}
        elif kind in ("ping", "whoAmI", "close", "disconnect", "reconnect"):
            op = {"k": kind}
        elif kind == "rawOp":
            op = {"k": kind, "opcode": r.choice([10, 13, 16, 20, 102, 200, -10, 0]),
                  "path": self.normal_path()}
            if op["opcode"] == 13:
                # Reference defect: a check (13) outside a multi on an existing node gets no
                # answer and logs a CheckVersionTxn that 3.8 cannot read back
                # ("Unsupported Txn with type=13"): the server never starts from that
                # dataDir again. On a missing node it is an ordinary error txn.
                op["path"] = "/zz" + op["path"]
        elif kind == "burst":
            n = r.randrange(2, 7)
            reqs = [self.op(pick(r, BURST_KINDS), slot) for _ in range(n)]
            # Reference race: a setACL's ChangeRecord keeps the node's old ACL
            # (PrepRequestProcessor), so a request behind it in the burst is checked against
            # the old or the new ACL depending on whether the setACL was applied before the
            # request was prepped. Only the last request of a burst may be a setACL.
            acls = [q for q in reqs if q["k"] == "setACL"]
            reqs = [q for q in reqs if q["k"] != "setACL"] + acls[:1]
            op = {"k": kind, "reqs": reqs}
        elif kind == "open":
            op = self.open_op()
            self.timeout[slot] = op["timeout"]
        else:
            raise ValueError(kind)
        op["s"] = slot
        if kind in TRUNCATABLE and r.random() < 0.015:
            op["truncate"] = r.choice([1, 2, 5])
        return op

    def open_op(self, timeout=None):
        ro = pick(self.rng, [(False, 70), (True, 10), (None, 20)])
        return {"k": "open", "timeout": timeout or pick(self.rng, TIMEOUTS), "ro": ro}

    def quota_ops(self, slot):
        """What `setquota` does: the quota path, its zookeeper_limits and zookeeper_stats."""
        r = self.rng
        target = r.choice(["/a", "/a/b", "/b", "/c/a"])
        limits = r.choice(["count=3,bytes=50", "count=-1,bytes=10", "count=2,bytes=-1",
                           "countHardLimit=2", "count=1,bytes=1,countHardLimit=5,byteHardLimit=9",
                           "garbage"])
        base = "/zookeeper/quota" + target
        ops, parts = [], base.split("/")[1:]
        for i in range(2, len(parts) + 1):
            ops.append({"k": "create", "path": "/" + "/".join(parts[:i]), "data": None,
                        "acl": ACLS["OPEN"], "flags": 0})
        ops.append({"k": "create", "path": base + "/zookeeper_limits", "data": limits,
                    "acl": ACLS["OPEN"], "flags": 0})
        ops.append({"k": "create", "path": base + "/zookeeper_stats",
                    "data": "count=0,bytes=0", "acl": ACLS["OPEN"], "flags": 0})
        if r.random() < 0.3:
            ops.append({"k": "setData", "path": base + "/zookeeper_limits",
                        "data": "count=1,bytes=2", "version": -1})
        for op in ops:
            op["s"] = slot
        return ops

    def expire_ops(self, slot):
        """A short session on `slot`, a few ops of its own, then its expiry."""
        ops = []
        if self.timeout[slot] > 4000:
            ops.append(dict(self.open_op(4000), s=slot))
            self.timeout[slot] = 4000
        for _ in range(self.rng.randrange(1, 5)):
            kind = pick(self.rng, [("create", 50), ("getData", 15), ("exists", 15),
                                   ("addWatch", 10), ("getChildren", 10)])
            op = self.op(kind, slot)
            if kind == "create":
                op["flags"] = self.rng.choice([1, 3])
            ops.append(op)
        ops.append({"k": "expire", "s": slot})
        self.timeout[slot] = 10000
        return ops

    def sequence(self, n):
        r = self.rng
        kinds = list(WEIGHTS.items())
        ops = []
        # at least one restart and one expiry in a sequence of 60 ops or more
        restart_at = r.randrange(n // 3, 2 * n // 3) if n >= 60 else n
        expire_at = r.randrange(n // 4, 3 * n // 4) if n >= 60 else n
        while len(ops) < n:
            slot = r.randrange(self.nslots)
            i = len(ops)
            if i >= restart_at or r.random() < 0.002:
                ops.append({"k": "restart", "how": r.choice(["term", "kill"]), "s": 0})
                restart_at = n if i >= restart_at else restart_at
            elif i >= expire_at or r.random() < 0.0007:
                ops.extend(self.expire_ops(slot))
                expire_at = n if i >= expire_at else expire_at
            else:
                kind = pick(r, kinds)
                ops.extend(self.quota_ops(slot) if kind == "quota" else [self.op(kind, slot)])
        return ops


STATS_DATA = re.compile(r"[A-Za-z]+=-?[0-9]{1,18}([,;]+[A-Za-z]+=-?[0-9]{1,18})*")


def quota_stats_safe(path, data):
    """False for data the reference cannot survive on a quota stats node.

    Reference defect: `DataTree#updateQuotaStat` parses a `zookeeper_stats` node's
    data with `StatsTrack(String)` on every create / delete / setData under the quota
    path; data that does not parse (null, a pair without `=`, a value that is not a
    long) throws in the SyncThread and the JVM exits. A client can write anything
    there with setData, so the runner replaces such data (on both servers alike)."""
    if not (path.startswith("/zookeeper/quota/") and path.endswith("/zookeeper_stats")):
        return True
    return data is not None and (data == "" or STATS_DATA.fullmatch(data) is not None)


def generate(seed, nops, nslots):
    return Gen(seed * 1000 + nslots, nslots).sequence(nops)


# --- rendering ---------------------------------------------------------------------
ACL_NAMES = {json.dumps(v): k for k, v in ACLS.items()}


def show_data(d):
    if d is None:
        return "null"
    if len(d) > 40:
        return f"{d[:12]!r}...({len(d)} bytes)"
    return repr(d)


def show_path(p):
    if len(p) > 40:
        return repr(p[:12]) + f"...({len(p)} chars)"
    return repr(p)


def show_acl(acl):
    return ACL_NAMES.get(json.dumps(acl), json.dumps(acl))


def show_sub(sub):
    parts = [sub["type"], show_path(sub["path"])]
    for key in ("data", "acl", "flags", "ttl", "version"):
        if key in sub:
            parts.append(f"{key}=" + (show_data(sub[key]) if key == "data" else
                                      show_acl(sub[key]) if key == "acl" else str(sub[key])))
    return " ".join(parts)


def show(op):
    """One readable line for an op."""
    k = op["k"]
    head = f"s{op['s']} {k}" if k != "restart" else "restart"
    parts = [head]
    if k == "multi" or k == "multiRead":
        parts.append("[" + "; ".join(show_sub(s) for s in op["ops"]) + "]")
    if k == "burst":
        parts.append("[" + "; ".join(show(r).split(" ", 1)[1] for r in op["reqs"]) + "]")
    for key, val in op.items():
        if key in ("k", "s", "ops", "reqs"):
            continue
        if key == "path":
            parts.append(show_path(val))
        elif key == "data":
            parts.append("data=" + show_data(val))
        elif key == "acl":
            parts.append("acl=" + show_acl(val))
        else:
            parts.append(f"{key}={val}")
    return " ".join(parts)
