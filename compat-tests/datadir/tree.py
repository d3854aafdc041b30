"""Build, dump and compare a znode tree through the client port (kazoo).

The tree covers what the snapshot and txn-log formats encode: null / empty /
binary / large data, world / digest / ip / auth ACLs (shared lists exercise the
snapshot's ACL cache), persistent and ephemeral sequentials, containers with and
without children, TTL nodes, quota subtrees (zkCli setquota), multis (one that
fails), setData / setACL / delete history, a deep chain and non-ASCII names.
"""

import json
import logging
import os
import random
import subprocess
import sys
import time

from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError
from kazoo.protocol.serialization import Create, long_struct
from kazoo.security import ACL, Id, make_digest_acl_credential

WAIT = 30
logging.getLogger("kazoo").setLevel(logging.CRITICAL)  # reconnect chatter
PERM_ALL, READ, WRITE, CREATE = 31, 1, 2, 4
ZKCLI = "/usr/share/zookeeper/bin/zkCli.sh"


class CreateContainer(Create):
    """OpCode.createContainer (19); kazoo 2.8 has no container flag."""
    type = 19


class CreateTTL(Create):
    """OpCode.createTTL (21): CreateTTLRequest = CreateRequest + ttl."""
    type = 21

    def __new__(cls, path, data, acl, flags, ttl):
        self = super().__new__(cls, path, data, acl, flags)
        self.ttl = ttl
        return self

    def serialize(self):
        return super().serialize() + long_struct.pack(self.ttl)


def raw(zk, req):
    r = zk.handler.async_result()
    zk._call(req, r)
    return r


def gather(results):
    for r in results:
        r.get(timeout=WAIT)


def client(hp, auth=None, **kw):
    zk = KazooClient(hosts=hp, timeout=WAIT, auth_data=auth or [], **kw)
    zk.start(timeout=15)
    return zk


def stop(zk):
    try:
        zk.stop()
    finally:
        zk.close()


def open_acl():
    return [ACL(PERM_ALL, Id("world", "anyone"))]


def acl_kinds():
    bob = make_digest_acl_credential("bob", "pw")
    alice = make_digest_acl_credential("alice", "secret")
    return [
        open_acl(),
        [ACL(READ, Id("world", "anyone"))],
        [ACL(READ | WRITE, Id("digest", bob))],
        [ACL(PERM_ALL, Id("ip", "127.0.0.1"))],
        [ACL(READ, Id("ip", "10.0.0.0/8")), ACL(READ, Id("world", "anyone"))],
        [ACL(PERM_ALL, Id("auth", ""))],
        [ACL(PERM_ALL, Id("digest", alice)), ACL(READ, Id("ip", "127.0.0.1")),
         ACL(CREATE, Id("world", "anyone"))],
    ]


def zkcli(hp, *commands):
    """Run zkCli.sh commands (non-interactive, bounded)."""
    script = "\n".join(commands) + "\nquit\n"
    p = subprocess.run([ZKCLI, "-server", hp], input=script.encode(), capture_output=True,
                       timeout=90)
    out = p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")
    if "Exception" in out and "quota" in out.lower():
        raise RuntimeError("zkCli setquota failed:\n" + out[-2000:])


def build_tree(hp, superauth, track):
    rnd = random.Random(42)
    zk = client(hp, [("digest", "alice:secret")])
    n = 0
    try:
        tops = ["/dd", "/dd/data", "/dd/acl", "/dd/seq", "/dd/cont", "/dd/ttl", "/dd/quota",
                "/dd/quota/a", "/dd/quota/b", "/dd/set", "/dd/deep", "/dd/multi", "/dd/eph",
                "/dd/u", "/dd/bulk", "/dd_inflight"]
        for p in tops:
            zk.create(p, p.encode())
        n += len(tops)
        zkcli(hp, "setquota -n 500 /dd/quota/a", "setquota -b 100000 /dd/quota/b")
        for q in ("a", "b"):
            if not zk.exists(f"/zookeeper/quota/dd/quota/{q}/zookeeper_limits"):
                raise RuntimeError(f"zkCli setquota did not create the quota of /dd/quota/{q}")
        n += 8  # /zookeeper/quota/dd/quota/{a,b} + limits + stats (+ /dd, /dd/quota)
        # data of every size, null included
        sizes = [None, 0, 1, 7, 100, 1000, 4096, 20000]
        rs = []
        for i in range(600):
            s = sizes[i % len(sizes)]
            data = None if s is None else bytes(rnd.getrandbits(8) for _ in range(s))
            rs.append(raw(zk, Create(f"/dd/data/n{i}", data, open_acl(), 0)))
        big = bytes(rnd.getrandbits(8) for _ in range(500_000))
        rs.append(zk.create_async("/dd/data/big", big))
        gather(rs)
        n += 601
        # ACL kinds, many nodes sharing each list
        kinds = acl_kinds()
        gather([zk.create_async(f"/dd/acl/a{i}", b"acl%d" % i, acl=kinds[i % len(kinds)])
                for i in range(150)])
        n += 150
        # sequentials, some with null data
        rs = [zk.create_async("/dd/seq/s-", b"seq", sequence=True) for i in range(300)]
        rs += [raw(zk, Create("/dd/seq/null-", None, open_acl(), 2)) for _ in range(100)]
        gather(rs)
        n += 400
        # containers: with children, never used, used then emptied
        gather([raw(zk, CreateContainer(f"/dd/cont/{c}", b"c", open_acl(), 4))
                for c in ("full", "empty", "emptied")])
        gather([zk.create_async(f"/dd/cont/full/k{i}", b"") for i in range(20)])
        zk.create("/dd/cont/emptied/gone", b"")
        zk.delete("/dd/cont/emptied/gone")
        n += 23
        # TTL nodes (flags 5 persistent, 6 persistent sequential), one with children
        rs = [raw(zk, CreateTTL(f"/dd/ttl/t{i}", b"ttl", open_acl(), 5, 3_600_000))
              for i in range(30)]
        rs += [raw(zk, CreateTTL("/dd/ttl/ts-", b"ttls", open_acl(), 6, 7_200_000))
               for _ in range(20)]
        gather(rs)
        gather([zk.create_async(f"/dd/ttl/t0/k{i}", b"k") for i in range(5)])
        n += 55
        # quota subtrees, updated by txns after setquota
        rs = [zk.create_async(f"/dd/quota/a/q{i}", b"q" * i) for i in range(100)]
        rs += [zk.create_async(f"/dd/quota/b/q{i}", b"b" * 500) for i in range(50)]
        gather(rs)
        n += 150
        # history: versions, cversion, aversion, pzxid
        gather([zk.create_async(f"/dd/set/n{i}", b"0") for i in range(100)])
        for v in range(1, 4):
            gather([zk.set_async(f"/dd/set/n{i}", b"v%d" % v * i) for i in range(100)])
        gather([zk.create_async(f"/dd/set/n{i}/c", b"") for i in range(0, 100, 2)])
        gather([zk.delete_async(f"/dd/set/n{i}/c") for i in range(0, 100, 4)])
        gather([zk.set_acls_async(f"/dd/set/n{i}", kinds[i % len(kinds)])
                for i in range(0, 100, 3)])
        n += 100 + 25
        # a deep chain
        p = "/dd/deep"
        for i in range(60):
            p += f"/l{i}"
            zk.create(p, b"%d" % i)
        n += 60
        # multis: one committed, one failed (logged as an error multi)
        t = zk.transaction()
        for i in range(10):
            t.create(f"/dd/multi/m{i}", b"m")
        t.set_data("/dd/multi", b"multi-set")
        t.delete("/dd/multi/m9")
        t.commit()
        t = zk.transaction()
        t.create("/dd/multi/never", b"")
        t.check("/dd/multi", 12345)
        t.commit()
        n += 9
        # names beyond ASCII
        for name in ("ünïcödé", "with space", "日本語", "a:b", "x" * 200):
            zk.create("/dd/u/" + name, name.encode())
        n += 5
        # bulk plus create/delete churn
        gather([zk.create_async(f"/dd/bulk/b{i}", b"bulk-%d" % i) for i in range(1500)])
        gather([zk.create_async(f"/dd/bulk/tmp{i}", b"") for i in range(200)])
        gather([zk.delete_async(f"/dd/bulk/tmp{i}") for i in range(200)])
        n += 1500
    finally:
        stop(zk)
    holder, session, ephemerals = spawn_holder(hp, track)
    return {"count": n + len(ephemerals), "holder": holder, "session": session,
            "ephemerals": ephemerals}


def spawn_holder(hp, track):
    """A child process owns a session with ephemerals and stays alive until killed."""
    me = os.path.join(os.path.dirname(os.path.abspath(__file__)), "datadir.py")
    p = subprocess.Popen([sys.executable, me, "--hold", hp], stdout=subprocess.PIPE,
                         stdin=subprocess.DEVNULL)
    track(p)
    line = b""
    deadline = time.time() + 30
    while time.time() < deadline and not line.endswith(b"\n"):
        b = p.stdout.read1(4096) if hasattr(p.stdout, "read1") else p.stdout.read(1)
        if not b:
            break
        line += b
    info = json.loads(line.decode())
    return p, (info["sid"], bytes.fromhex(info["passwd"])), info["ephemerals"]


def hold_session(hp, superauth):
    zk = KazooClient(hosts=hp, timeout=40)
    zk.start(timeout=15)
    names = []
    for i in range(5):
        zk.create(f"/dd/eph/e{i}", b"eph%d" % i, ephemeral=True)
        names.append(f"e{i}")
    for _ in range(3):
        names.append(zk.create("/dd/eph/s-", b"", ephemeral=True,
                               sequence=True).rsplit("/", 1)[1])
    raw(zk, Create("/dd/eph/null", None, open_acl(), 1)).get(timeout=WAIT)
    names.append("null")
    sid, pw = zk.client_id
    print(json.dumps({"sid": sid, "passwd": pw.hex(), "ephemerals": names}), flush=True)
    time.sleep(600)  # the parent SIGKILLs us, leaving the session open on the server


def dump_tree(hp, superauth):
    """path -> {data, stat (kazoo ZnodeStat tuple), acl, children}, read as super."""
    zk = client(hp, [("digest", "%s:%s" % superauth)])
    out = {}
    try:
        frontier = ["/"]
        while frontier:
            nxt = []
            for i in range(0, len(frontier), 300):
                chunk = frontier[i:i + 300]
                rs = [(p, zk.get_async(p), zk.get_acls_async(p), zk.get_children_async(p))
                      for p in chunk]
                for p, g, a, c in rs:
                    try:
                        data, stat = g.get(timeout=WAIT)
                        acls, _ = a.get(timeout=WAIT)
                        kids = sorted(c.get(timeout=WAIT))
                    except NoNodeError:
                        continue  # an ephemeral of a session that just expired
                    out[p] = {"data": data, "stat": tuple(stat),
                              "acl": [(x.perms, x.id.scheme, x.id.id) for x in acls],
                              "children": kids}
                    nxt += [(p.rstrip("/") + "/" + k) for k in kids]
            frontier = nxt
    finally:
        stop(zk)
    return out


STAT_FIELDS = ("czxid", "mzxid", "ctime", "mtime", "version", "cversion", "aversion",
               "ephemeralOwner", "dataLength", "numChildren", "pzxid")


def diff_dumps(a, b, name_a, name_b, skip=None):
    """Human-readable differences (at most 20); `skip` excludes a subtree, whose own Stat
    changes with in-flight writes."""
    def keep(p):
        return not skip or not (p == skip or p.startswith(skip + "/"))
    problems = []
    pa, pb = {p for p in a if keep(p)}, {p for p in b if keep(p)}
    for p in sorted(pa - pb)[:5]:
        problems.append(f"{p}: served by {name_a}, missing on {name_b}")
    for p in sorted(pb - pa)[:5]:
        problems.append(f"{p}: served by {name_b}, not by {name_a}")
    for p in sorted(pa & pb):
        x, y = a[p], b[p]
        if p == "/" and skip:
            x = dict(x, children=[k for k in x["children"] if "/" + k != skip])
            y = dict(y, children=[k for k in y["children"] if "/" + k != skip])
        if x == y:
            continue
        d = []
        if x["data"] != y["data"]:
            d.append(f"data {short(x['data'])} -> {short(y['data'])}")
        for f, u, v in zip(STAT_FIELDS, x["stat"], y["stat"]):
            if u != v:
                d.append(f"{f} {u:#x} -> {v:#x}" if "zxid" in f.lower() or f == "ephemeralOwner"
                         else f"{f} {u} -> {v}")
        if x["acl"] != y["acl"]:
            d.append(f"acl {x['acl']} -> {y['acl']}")
        if x["children"] != y["children"]:
            d.append(f"children {len(x['children'])} -> {len(y['children'])}")
        problems.append(f"{p}: {'; '.join(d)}")
        if len(problems) >= 20:
            problems.append("...")
            break
    if problems:
        problems.insert(0, f"tree served by {name_b} differs from {name_a} "
                           f"({len(pa)} vs {len(pb)} znodes):")
    return problems


def short(d):
    if d is None:
        return "null"
    return repr(d[:24]) + (f"...({len(d)} bytes)" if len(d) > 24 else "")
