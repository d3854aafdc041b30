#!/usr/bin/python3
"""kazoo scenarios: scenarios.py --list | scenarios.py HOST:PORT NAME...

Each scenario gets its own root znode (/kazoo_<name>) and its own clients,
prints a deterministic transcript between '##BEGIN kazoo_<name>' and
'##END kazoo_<name>', and never waits without a bound.  Children lists are
sorted; nothing volatile (zxids, times, session ids) is printed except
through the harness's masking.
"""
import logging
import sys
from collections import namedtuple
import threading
import time
import traceback

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import (BadVersionError, NoNodeError, NodeExistsError,
                              NotEmptyError, NoAuthError, KazooException)
from kazoo.protocol.serialization import Watch, int_struct, write_string
from kazoo.protocol.states import EventType
from kazoo.security import make_digest_acl, make_acl

logging.basicConfig(level=logging.CRITICAL)
HOSTS = None
SCENARIOS = {}
WAIT = 15.0


def scenario(fn):
    SCENARIOS[fn.__name__] = fn
    return fn


def out(*args):
    print(*args, flush=True)


def client(**kw):
    c = KazooClient(hosts=HOSTS, timeout=10.0, **kw)
    c.start(timeout=WAIT)
    return c


def stat_str(st):
    return ("version=%d cversion=%d aversion=%d dataLength=%d numChildren=%d ephemeral=%s"
            % (st.version, st.cversion, st.aversion, st.dataLength, st.numChildren,
               st.ephemeralOwner != 0))


def err(fn, *a, **kw):
    try:
        r = fn(*a, **kw)
        return "ok %r" % (r,)
    except KazooException as e:
        return type(e).__name__


def wait_for(pred, timeout=WAIT):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


@scenario
def crud(root):
    zk = client()
    zk.create(root, b"r")
    out("create", zk.create(root + "/a", b"alpha"))
    out("create parents", zk.create(root + "/x/y/z", b"deep", makepath=True))
    data, st = zk.get(root + "/a")
    out("get", data, stat_str(st))
    st = zk.set(root + "/a", b"beta")
    out("set", stat_str(st))
    out("set bad version", err(zk.set, root + "/a", b"c", version=0))
    out("exists", stat_str(zk.exists(root + "/a")))
    out("exists missing", zk.exists(root + "/nope"))
    out("children", sorted(zk.get_children(root)))
    ch, st = zk.get_children(root, include_data=True)
    out("children2", sorted(ch), stat_str(st))
    out("create dup", err(zk.create, root + "/a"))
    out("create no parent", err(zk.create, root + "/q/r"))
    out("delete not empty", err(zk.delete, root + "/x"))
    out("delete bad version", err(zk.delete, root + "/a", version=7))
    out("delete", err(zk.delete, root + "/a", version=1))
    out("delete missing", err(zk.delete, root + "/a"))
    out("delete recursive", err(zk.delete, root + "/x", recursive=True))
    out("seq", zk.create(root + "/s-", sequence=True), zk.create(root + "/s-", sequence=True))
    out("eph", zk.create(root + "/e", ephemeral=True))
    out("eph child", err(zk.create, root + "/e/c"))
    out("children", sorted(zk.get_children(root)))
    zk.stop(); zk.close()
    zk = client()
    out("after close", sorted(zk.get_children(root)))
    zk.stop(); zk.close()


@scenario
def create2_and_modes(root):
    zk = client()
    zk.ensure_path(root)
    path, st = zk.create(root + "/c2", b"xy", include_data=True)
    out("create2", path, stat_str(st))
    path, st = zk.create(root + "/seq", b"", sequence=True, ephemeral=True, include_data=True)
    out("create2 eseq", path, stat_str(st))
    out("ephemeral child", err(zk.create, path + "/child"))
    out("sync", zk.sync(root))
    zk.stop(); zk.close()


@scenario
def data_watch(root):
    zk = client()
    zk.create(root, b"")
    zk.create(root + "/d", b"v0")
    seen, cond = [], threading.Condition()

    @zk.DataWatch(root + "/d")
    def w(data, st, event=None):
        with cond:
            seen.append((data, st.version if st else None, event.type if event else None))
            cond.notify_all()

    def expect(n):
        with cond:
            cond.wait_for(lambda: len(seen) >= n, WAIT)
    expect(1)
    zk.set(root + "/d", b"v1"); expect(2)
    zk.set(root + "/d", b"v2"); expect(3)
    zk.delete(root + "/d"); expect(4)
    zk.create(root + "/d", b"again"); expect(5)
    for s in seen:
        out("data watch", *s)
    zk.stop(); zk.close()


@scenario
def children_watch(root):
    zk = client()
    zk.create(root, b"")
    seen, cond = [], threading.Condition()

    @zk.ChildrenWatch(root)
    def w(children):
        with cond:
            seen.append(sorted(children))
            cond.notify_all()

    def expect(n):
        with cond:
            cond.wait_for(lambda: len(seen) >= n, WAIT)
    expect(1)
    zk.create(root + "/a"); expect(2)
    zk.create(root + "/b"); expect(3)
    zk.delete(root + "/a"); expect(4)
    zk.set(root, b"data change does not fire child watch")
    zk.create(root + "/c"); expect(5)
    for s in seen:
        out("children", s)
    zk.stop(); zk.close()


@scenario
def raw_watches(root):
    zk = client()
    zk.create(root, b"")
    events = []
    zk.exists(root + "/n", watch=events.append)
    zk.create(root + "/n", b"1")
    zk.get(root + "/n", watch=events.append)
    zk.get_children(root, watch=events.append)
    zk.set(root + "/n", b"2")
    zk.create(root + "/m")
    zk.get(root + "/n", watch=events.append)
    zk.get_children(root + "/n", watch=events.append)
    zk.delete(root + "/n")
    wait_for(lambda: len(events) >= 6)
    for e in events:
        out("event", e.type, e.state, e.path)
    zk.stop(); zk.close()


@scenario
def transactions(root):
    zk = client()
    zk.create(root, b"")
    t = zk.transaction()
    t.create(root + "/a", b"a")
    t.create(root + "/b", b"b")
    t.set_data(root + "/a", b"a2")
    t.check(root + "/a", 1)
    out("commit ok", [r if isinstance(r, (str, bool)) else type(r).__name__ for r in t.commit()])
    t = zk.transaction()
    t.create(root + "/c", b"c")
    t.delete(root + "/b", version=5)
    t.set_data(root + "/a", b"x")
    out("commit fail", [r if isinstance(r, (str, bool)) else type(r).__name__ for r in t.commit()])
    out("c exists", zk.exists(root + "/c") is not None)
    t = zk.transaction()
    t.check(root + "/zz", 0)
    t.create(root + "/d")
    out("commit check", [r if isinstance(r, (str, bool)) else type(r).__name__ for r in t.commit()])
    t = zk.transaction()
    t.delete(root + "/a")
    t.delete(root + "/b")
    t.create(root + "/seq-", sequence=True)
    out("commit delete", [r if isinstance(r, (str, bool)) else type(r).__name__ for r in t.commit()])
    out("children", sorted(zk.get_children(root)))
    zk.stop(); zk.close()


@scenario
def lock(root):
    a, b = client(), client()
    la, lb = a.Lock(root, "a"), b.Lock(root, "b")
    out("a acquire", la.acquire(timeout=WAIT))
    out("b try", lb.acquire(blocking=False))
    got = threading.Event()
    th = threading.Thread(target=lambda: (lb.acquire(timeout=WAIT), got.set()))
    th.start()
    time.sleep(0.3)
    out("b waiting", not got.is_set(), "contenders", la.contenders())
    la.release()
    out("b got", got.wait(WAIT))
    th.join(WAIT)
    out("contenders", lb.contenders())
    lb.release()
    out("lock nodes", len(a.get_children(root)))
    for c in (a, b):
        c.stop(); c.close()


@scenario
def election(root):
    clients = [client() for _ in range(3)]
    leaders, cond = [], threading.Condition()
    stops = [threading.Event() for _ in range(3)]

    def lead(i):
        with cond:
            leaders.append(i)
            cond.notify_all()
        stops[i].wait(WAIT)

    elections = [c.Election(root, "p%d" % i) for i, c in enumerate(clients)]
    threads = []
    for i, e in enumerate(elections):
        threads.append(threading.Thread(target=e.run, args=(lead, i)))
        threads[-1].start()
        wait_for(lambda: len(e.contenders()) >= i + 1)
    with cond:
        cond.wait_for(lambda: len(leaders) >= 1, WAIT)
    out("contenders", elections[0].contenders())
    for step in range(3):
        cur = leaders[-1]
        stops[cur].set()
        threads[cur].join(WAIT)
        if step < 2:
            with cond:
                cond.wait_for(lambda: len(leaders) >= step + 2, WAIT)
    out("leaders in order", leaders)
    for c in clients:
        c.stop(); c.close()


@scenario
def counter(root):
    a, b = client(), client()
    ca, cb = a.Counter(root), b.Counter(root)
    ca += 5
    cb += 3
    ca -= 1
    out("value", ca.value, cb.value)
    fa, fb = a.Counter(root + "f", default=0.5), b.Counter(root + "f", default=0.5)
    fa += 1.25
    out("float", fb.value)
    a.stop(); b.stop(); a.close(); b.close()


@scenario
def party(root):
    a, b, c = client(), client(), client()
    pa, pb = a.Party(root, "alice"), b.Party(root, "bob")
    pa.join(); pb.join()
    watcher = c.Party(root)
    out("members", sorted(watcher), len(watcher))
    pa.leave()
    out("after leave", sorted(watcher))
    sp = a.ShallowParty(root + "s", "carol")
    sp.join()
    out("shallow", sorted(c.ShallowParty(root + "s")))
    b.stop(); b.close()
    out("after bob closes", sorted(watcher))
    for z in (a, c):
        z.stop(); z.close()


@scenario
def queue(root):
    a, b = client(), client()
    q = a.Queue(root)
    for item in (b"one", b"two", b"three"):
        q.put(item)
    q.put(b"urgent", priority=10)
    q.put(b"first", priority=1)
    qb = b.Queue(root)
    out("len", len(qb))
    out("items", [qb.get() for _ in range(5)], qb.get())
    lq = a.LockingQueue(root + "l")
    lq.put(b"x"); lq.put(b"y", priority=1)
    lqb = b.LockingQueue(root + "l")
    out("locking get", lqb.get(timeout=WAIT))
    out("consume", lqb.consume())
    out("locking get", lqb.get(timeout=WAIT), lqb.consume(), len(lqb))
    for z in (a, b):
        z.stop(); z.close()


@scenario
def acl_auth(root):
    zk = client(auth_data=[("digest", "u1:p1")])
    zk.create(root, b"")
    acl = make_digest_acl("u1", "p1", all=True)
    zk.create(root + "/priv", b"secret", acl=[acl])
    out("acl", [(a.perms, a.id.scheme, a.id.id) for a in zk.get_acls(root + "/priv")[0]])
    zk.create(root + "/ro", b"r", acl=[make_acl("world", "anyone", read=True, admin=True)])
    out("set ro", err(zk.set, root + "/ro", b"w"))
    other = client()
    out("other get", err(other.get, root + "/priv"))
    out("other get ro", other.get(root + "/ro")[0])
    other.add_auth("digest", "u1:p1")
    out("other get after auth", other.get(root + "/priv")[0])
    out("set_acls", stat_str(zk.set_acls(root + "/ro", [make_acl("world", "anyone", all=True)])))
    out("set_acls bad version", err(zk.set_acls, root + "/ro", [make_acl("world", "anyone", read=True)], version=0))
    out("whoami", other.client_id is not None)
    for z in (zk, other):
        z.stop(); z.close()


class AddWatch(namedtuple("AddWatch", "path mode")):
    """addWatch (opcode 106), which kazoo 2.8 lacks; mode 1 is PERSISTENT_RECURSIVE."""
    type = 106

    def serialize(self):
        return bytearray(write_string(self.path)) + int_struct.pack(self.mode)

    @classmethod
    def deserialize(cls, buf, offset):
        return int_struct.unpack_from(buf, offset)[0]  # ErrorResponse{err}


def add_watch(zk, path, mode):
    result = zk.handler.async_result()
    zk._call(AddWatch(path, mode), result)
    return err(result.get, timeout=WAIT)


def record_events(zk):
    """Every notification the connection reads, in order, as (type, path): kazoo 2.8 hands an
    event only to a one-shot watcher it registered for that exact path."""
    events = []
    conn = zk._connection
    read = conn._read_watch_event

    def recording(buf, offset):
        watch, _ = Watch.deserialize(buf, offset)
        events.append((EVENT_NAMES.get(watch.type, watch.type), watch.path))
        return read(buf, offset)

    conn._read_watch_event = recording
    return events


EVENT_NAMES = {1: "CREATED", 2: "DELETED", 3: "CHANGED", 4: "CHILD"}


@scenario
def persistent_watch_acl(root):
    """CVE-2024-23944: a persistent-recursive watch on a readable parent reports only the
    children the watching connection may READ, judged by the auth it has at each change."""
    owner = client(auth_data=[("digest", "u1:p1")])
    owner.create(root, b"")
    watchers = [("anyone", client()),
                ("u1", client(auth_data=[("digest", "u1:p1")])),
                ("u2", client(auth_data=[("digest", "u2:p2")]))]
    logs = {}
    for name, zk in watchers:
        logs[name] = record_events(zk)
        out("addWatch", name, add_watch(zk, root, 1))
    no_read = make_acl("world", "anyone", write=True, create=True, delete=True, admin=True)
    out("perms without read", no_read.perms)

    def show(step):
        for name, zk in watchers:
            zk.exists(root)  # answered after every event sent to it before
            out(step, name, logs[name])
            del logs[name][:]

    owner.create(root + "/noread", b"", acl=[no_read])
    owner.set(root + "/noread", b"1")
    owner.create(root + "/u1", b"", acl=[make_digest_acl("u1", "p1", all=True)])
    owner.set(root + "/u1", b"1")
    owner.create(root + "/open", b"")
    owner.set(root + "/open", b"1")
    show("events")
    dict(watchers)["u2"].add_auth("digest", "u1:p1")
    owner.set(root + "/u1", b"2")
    for child in ("u1", "noread", "open"):
        owner.delete(root + "/" + child)
    show("after u2 adds u1")
    for _, zk in watchers + [("owner", owner)]:
        zk.stop(); zk.close()


@scenario
def session_expiry(root):
    zk = client()
    zk.create(root, b"")
    zk.create(root + "/eph", b"", ephemeral=True)
    states = []
    zk.add_listener(lambda s: states.append(s))
    sid, pwd = zk.client_id
    # the classic trick: a second client on the same session closes it
    twin = KazooClient(hosts=HOSTS, client_id=(sid, pwd), timeout=10.0)
    twin.start(timeout=WAIT)
    out("twin same session", twin.client_id[0] == sid)
    twin.stop(); twin.close()
    observer = client()
    out("eph gone", wait_for(lambda: observer.exists(root + "/eph") is None))
    out("lost", wait_for(lambda: KazooState.LOST in states))
    out("reconnected", wait_for(lambda: zk.state == KazooState.CONNECTED))
    out("new session", zk.client_id[0] != sid)
    out("usable", zk.exists(root) is not None)
    for z in (zk, observer):
        z.stop(); z.close()


@scenario
def reconnect_datawatch(root):
    # kazoo 2.8 does not send SetWatches: on a dropped connection it fires
    # NONE events and its recipes re-read and re-watch; the session survives.
    zk = client()
    zk.create(root, b"")
    zk.create(root + "/w", b"0")
    seen, raw = [], []
    zk.DataWatch(root + "/w", lambda d, st, ev=None: seen.append(d))
    zk.get(root + "/w", watch=raw.append)
    states = []
    zk.add_listener(lambda s: states.append(s))
    sid = zk.client_id[0]
    wait_for(lambda: len(seen) >= 1)
    zk._connection._socket.shutdown(2)
    out("suspended", wait_for(lambda: KazooState.SUSPENDED in states))
    out("reconnected", wait_for(lambda: zk.state == KazooState.CONNECTED))
    out("same session", zk.client_id[0] == sid)
    out("raw watch reset", wait_for(lambda: len(raw) >= 1), [e.type for e in raw])
    zk.set(root + "/w", b"1")
    out("datawatch after reconnect", wait_for(lambda: b"1" in seen))
    out("lost", KazooState.LOST in states)
    zk.stop(); zk.close()


@scenario
def ephemeral_cleanup(root):
    a, b = client(), client()
    a.create(root, b"")
    a.create(root + "/e1", ephemeral=True)
    a.create(root + "/e2-", ephemeral=True, sequence=True)
    events = []
    b.get_children(root, watch=events.append)
    b.exists(root + "/e1", watch=events.append)
    a.stop(); a.close()
    wait_for(lambda: len(events) >= 2)
    out("events", sorted((e.type, e.path) for e in events))
    out("children", b.get_children(root))
    b.stop(); b.close()


@scenario
def large_and_binary(root):
    zk = client()
    zk.create(root, b"")
    blob = bytes(range(256)) * 1000
    zk.create(root + "/big", blob)
    data, st = zk.get(root + "/big")
    out("roundtrip", data == blob, st.dataLength)
    zk.create(root + "/empty", b"")
    out("empty", zk.get(root + "/empty")[0])
    out("too big", err(zk.set, root + "/big", b"x" * (1024 * 1024 + 100)))
    many = ["%s/n%03d" % (root, i) for i in range(200)]
    for p in many:
        zk.create(p, b"")
    out("many", len(zk.get_children(root)), sorted(zk.get_children(root))[:3])
    out("numChildren", zk.exists(root).numChildren, zk.exists(root).cversion)
    zk.stop(); zk.close()


@scenario
def four_letter(root):
    zk = client()
    out("ruok", zk.command(b"ruok"))
    out("isro", zk.command(b"isro"))
    conf = zk.command(b"conf")
    out("conf keys", sorted(l.split("=")[0] for l in conf.splitlines() if "=" in l and l.split("=")[0] in (
        "clientPort", "tickTime", "maxClientCnxns", "minSessionTimeout", "maxSessionTimeout")))
    out("srvr mode", [l for l in zk.command(b"srvr").splitlines() if l.startswith("Mode")])
    zk.stop(); zk.close()


def main():
    global HOSTS
    if sys.argv[1] == "--list":
        print("\n".join(SCENARIOS))
        return
    HOSTS = sys.argv[1]
    for name in sys.argv[2:]:
        out("##BEGIN kazoo_" + name)
        try:
            SCENARIOS[name]("/kazoo_" + name)
        except Exception as e:  # transcript shows the failure; the harness compares it
            out("EXCEPTION", type(e).__name__, str(e).splitlines()[0] if str(e) else "")
            traceback.print_exc(file=sys.stderr)
        out("##END kazoo_" + name)
    sys.stdout.flush()


main()
