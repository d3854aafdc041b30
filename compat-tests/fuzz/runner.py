"""Lockstep execution of one op sequence on the reference and on the candidate.

For every op the runner does the same thing on both servers (same sessions,
same xids, same bytes except for `$last` paths, which each side resolves from
its own replies), waits for the op's reply on both, then drains pending
notifications with a *ping barrier*: every connected session of both servers
sends a ping and the runner waits (bounded) for its answer. A server queues a
notification on a session's connection when the txn is applied, before it
answers anything that session sends later, so once the ping is answered
everything the op triggered for that session has arrived.

Each session slot has one stream of what its connection received, in order:
connect responses, replies, notifications (xid -1), "closed by server". After
the barrier both sides' streams are masked and compared:

* zxids -> Z1, Z2, ... in order of first appearance per side (reply headers,
  Stat czxid/mzxid/pzxid), so equal zxids stay equal and 0 / -1 stay as they are;
* session ids (connect responses, Stat.ephemeralOwner, wchc) -> S1, S2, ... in
  order of first appearance; passwords -> their length plus whether a resumed
  session got its own password back;
* ctime/mtime -> T when within an hour of the run (0 and wild values are kept);
* children lists of getChildren / getChildren2 / multiRead getChildren and the
  final tree are sorted: README "Compatibility with Apache ZooKeeper 3.8", row
  "Order of children in getChildren" (3.8 returns HashSet order);
* wchc is compared as per-session sorted path lists: README row "Order in
  `wchc`/`wchp`/`dump`".

Events are compared in order everywhere, including the NodeDeleted /
NodeChildrenChanged a closeSession fires in the Java HashSet order of the
session's ephemerals, which the candidate reproduces.

Not compared at all: the events an expiring session's own connection gets while
it expires. 3.8 closes an idle connection from two threads: the SessionTracker
expires the session (its closeSession txn deletes the ephemerals and fires their
watches, then the connection is closed) and the NIO ConnectionExpirer closes
the connection (dropping its watches first). Their deadlines are rounded up to
tickTime and to 10 s (`zookeeper.nio.sessionlessCnxnTimeout`); when both fall
on the same boundary they race, so whether that connection hears the NodeDeleted
of its own ephemerals varies from run to run of the reference.

The runner stops at the first mismatch. At the end of a sequence it reconnects
disconnected sessions and compares the whole tree, read as the super user
(data, every Stat field masked, ACL, sorted children), `wchc`, `wchs` and a
few `mntr` counts.
"""

import select
import time
import zlib

import jute
from client import Session, enc_path
from gen import quota_stats_safe, show
from servers import SUPER, ServerError, four_letter

REPLY_LIMIT = 10.0          # s to wait for an op's reply
BARRIER_LIMIT = 5.0         # s to wait for the ping barrier
CLOSE_LAG = 1.0             # s one side may lag the other in closing a connection
CONNECT_TRIES = 3
RECONNECT_AFTER = 1.0       # s a deliberately disconnected session stays away at most
DEFAULT_TIMEOUT = 10000     # ms, a session the runner opens on its own
TICK = 2.0                  # s, zoo.cfg tickTime: session deadlines are rounded up to it
MNTR_KEYS = ("zk_znode_count", "zk_watch_count", "zk_ephemerals_count",
             "zk_approximate_data_size")
TREE_LIMIT = 5000
CONTAINER_OWNER = -(2 ** 63)


class Masker:
    """Per-side maps that turn volatile values into ordinals (see module docstring)."""

    def __init__(self):
        self.zxids = {}
        self.sessions = {}
        self.t0 = time.time() * 1000

    def z(self, v):
        if v <= 0:
            return str(v)
        if v not in self.zxids:
            self.zxids[v] = len(self.zxids) + 1
        return f"Z{self.zxids[v]}"

    def sid(self, v):
        if v == 0:
            return "0"
        if v not in self.sessions:
            self.sessions[v] = len(self.sessions) + 1
        return f"S{self.sessions[v]}"

    def time(self, v):
        if v != 0 and self.t0 - 3600e3 < v < time.time() * 1000 + 3600e3:
            return "T"
        return str(v)

    def owner(self, v):
        if v == 0 or v in self.sessions:
            return self.sid(v)
        if v == CONTAINER_OWNER:
            return "CONTAINER"
        if (v >> 56) & 0xFF == 0xFF:
            return f"TTL({v & 0xFFFFFFFFFF})"
        return self.sid(v)

    def stat(self, st):
        m = {"czxid": self.z, "mzxid": self.z, "pzxid": self.z, "ctime": self.time,
             "mtime": self.time, "ephemeralOwner": self.owner}
        return "Stat(" + " ".join(f"{k}={m[k](v) if k in m else v}" for k, v in st.items()) + ")"

    def value(self, v, key=None):
        if v is None:
            return "null"
        if isinstance(v, dict):
            if "czxid" in v:
                return self.stat(v)
            return "{" + ", ".join(f"{k}: {self.value(x, k)}" for k, x in v.items()) + "}"
        if isinstance(v, (list, tuple)):
            items = [self.value(x) for x in v]
            if key == "children":  # the README row below
                items.sort()
            return "[" + ", ".join(items) + "]"
        if isinstance(v, (bytes, str)) and len(v) > 64:
            crc = zlib.crc32(v if isinstance(v, bytes) else enc_path(v))
            return f"{v[:16]!r}...({len(v)} {'bytes' if isinstance(v, bytes) else 'chars'}, " \
                   f"crc32 {crc:08x})"
        if isinstance(v, (bytes, str)):
            return repr(v)
        return str(v)

    def multi(self, results):
        out = []
        for res in results:
            if res[0] == "getChildren" and isinstance(res[2], list):
                out.append(f"(getChildren, {jute.err_name(res[1])}, "
                           f"{self.value(res[2], 'children')})")
            elif res[0] == "error":
                out.append(f"(error, {jute.err_name(res[1])}, {jute.err_name(res[2])})")
            else:
                out.append("(" + ", ".join([res[0], jute.err_name(res[1]) if res[0] != "end"
                                            else str(res[1])]
                                           + [self.value(x) for x in res[2:]]) + ")")
        return "[" + ", ".join(out) + "]"

    def item(self, it):
        kind = it[0]
        if kind == "connect":
            resp, how = it[1], it[2]
            if "raw" in resp:
                return f"connect RAW {resp['raw']} ({resp['error']})"
            pw = resp["passwd"]
            s = (f"connect {how}: proto={resp['protocolVersion']} timeout={resp['timeOut']} "
                 f"session={self.sid(resp['sessionId'])} "
                 f"passwd={'null' if pw is None else len(pw)}B"
                 f"{'=0' if pw and not any(pw) else ''} readOnly={resp.get('readOnly', 'absent')}")
            return s + (f" trailing={resp['trailing']}" if "trailing" in resp else "")
        if kind == "reply":
            _, xid, zxid, err, body, opcode = it
            if isinstance(body, dict) and "results" in body:
                b = self.multi(body["results"])
            else:
                b = self.value(body)
            return (f"reply {jute.OPNAME.get(opcode, opcode)} xid={xid} zxid={self.z(zxid)} "
                    f"err={jute.err_name(err)} {b}")
        if kind == "event":
            ev, zxid = it[1], it[2]
            if ev[0] == "raw":
                return f"event RAW {ev[1]} zxid={self.z(zxid)}"
            return (f"event {jute.EVENT.get(ev[0], ev[0])} {jute.STATE.get(ev[1], ev[1])} "
                    f"{self.value(ev[2])} zxid={self.z(zxid)}")
        if kind == "closed":
            return "closed by server"
        if kind == "unexpected":
            return f"unexpected reply xid={it[1]} zxid={self.z(it[2])} err={it[3]} body={it[4]}"
        if kind == "badframe":
            return f"bad frame {it[1]}"
        return " ".join(str(x) for x in it)


class Mismatch:
    """The first difference of a run: where, what class, both sides' transcripts."""

    def __init__(self, index, op, cls, ref, fer, slot, note=None):
        self.index, self.op, self.cls = index, op, cls
        self.ref, self.fer, self.slot = ref, fer, slot
        self.note = note

    def describe(self, indent="    "):
        where = "final check" if self.op is None else f"op {self.index}: {show(self.op)}"
        lines = [f"mismatch at {where}", f"class: {self.cls}"]
        if self.note:
            lines.extend(self.note.splitlines())
        for name, t in (("reference", self.ref), ("ferrokeeper", self.fer)):
            lines.append(f"{name}:")
            for slot in sorted(t, key=str):
                mark = " <--" if slot == self.slot else ""
                lines.append(f"  {slot}:{mark}")
                lines.extend(f"    {x}" for x in t[slot][:60])
                if len(t[slot]) > 60:
                    lines.append(f"    ... {len(t[slot]) - 60} more")
        return "\n".join(indent + x for x in lines)


def _kind(item):
    return "nothing" if item is None else item.split(" ", 1)[0]


def _err(item):
    for part in item.split(" "):
        if part.startswith("err="):
            return part[4:]
    return "?"


def classify(op, slot, a, b):
    """A short name for a difference, stable under shrinking (no paths, no ordinals)."""
    where = "final" if op is None else op["k"]
    own = op is not None and slot == f"s{op.get('s')}"
    ka, kb = _kind(a), _kind(b)
    if ka == kb == "reply":
        ea, eb = _err(a), _err(b)
        what = a.split(" ")[1]
        if where == "burst":        # named after the request, so unwrapping keeps the class
            where = what
        if ea != eb:
            return f"{where}: reply {what} err {ea} vs {eb}"
        return f"{where}: reply {what} ({ea}) body differs"
    if ka == kb == "event":
        ta, tb = a.split(" ")[1], b.split(" ")[1]
        return f"{where}: {'own' if own else 'other'} event {ta} vs {tb}"
    if "event" in (ka, kb):
        ev = a if ka == "event" else b
        side = "only reference" if ka == "event" else "only ferrokeeper"
        return f"{where}: {'own' if own else 'other'} event {ev.split(' ')[1]} {side}"
    if ka == kb == "connect":
        return f"{where}: connect differs"
    if slot in ("tree", "wchc", "wchs", "mntr"):
        return f"{where}: {slot} differs"
    return f"{where}: {ka} vs {kb}"


FINAL_ORDER = {"tree": 0, "mntr": 1, "wchs": 2, "wchc": 3}


def first_difference(ref, fer):
    for slot in sorted(set(ref) | set(fer), key=lambda s: (FINAL_ORDER.get(s, -1), s)):
        a, b = ref.get(slot, []), fer.get(slot, [])
        if a != b:
            j = next((i for i in range(min(len(a), len(b))) if a[i] != b[i]), min(len(a), len(b)))
            return slot, (a[j] if j < len(a) else None), (b[j] if j < len(b) else None)
    return None


class Side:
    """One server's view of the run: sessions per slot, their streams, the masker."""

    def __init__(self, name, server, nslots):
        self.name, self.server = name, server
        self.streams = [[] for _ in range(nslots)]
        self.sess = [Session(DEFAULT_TIMEOUT, False, self.streams[i]) for i in range(nslots)]
        self.masker = Masker()
        self.last_created = None

    def connections(self):
        return [s for s in self.sess if s.sock is not None and not s.closed_by_server]


class Runner:
    def __init__(self, pair, nslots):
        self.pair = pair
        self.nslots = nslots
        self.sides = [Side("ref", pair.ref, nslots), Side("ferro", pair.fer, nslots)]
        self.disc_at = [None] * nslots
        self.extra = []             # sessions outside the slots (the final super session)

    # --- waiting ---------------------------------------------------------------------
    def poll(self, limit):
        socks = [s for side in self.sides for s in side.connections()]
        socks += [s for s in self.extra if s.connected()]
        if not socks:
            time.sleep(min(limit, 0.01))
            return
        readable, _, _ = select.select(socks, [], [], limit)
        for s in readable:
            s.pump()

    def keepalive(self):
        now = time.monotonic()
        for side in self.sides:
            for s in side.connections():
                if (s.alive and not s.handshaking and not s.expiring
                        and now - s.last_send > s.negotiated / 3000.0):
                    s.ping()

    def wait(self, cond, limit):
        deadline = time.monotonic() + limit
        while not cond():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.keepalive()
            self.poll(min(left, 0.05))
        return True

    def both(self, slot):
        return [side.sess[slot] for side in self.sides]

    # --- session handling --------------------------------------------------------------
    def connect(self, slot, fresh=None):
        """Connect slot's session on both sides; fresh=(timeout, ro) starts a new session.
        A connection the server closes before its ConnectResponse is retried (3 tries):
        3.8 sometimes drops a connect that races the close of the session's previous
        connection; a client just tries again."""
        for side in self.sides:
            if fresh is not None:
                side.sess[slot] = Session(fresh[0], fresh[1], side.streams[slot])
        sessions = self.both(slot)
        todo = list(sessions)
        for _ in range(CONNECT_TRIES):
            for s, side in zip(sessions, self.sides):
                if s in todo:
                    s.connect(side.server.port)
            self.wait(lambda: all(not s.handshaking or s.closed_by_server for s in todo),
                      REPLY_LIMIT)
            todo = [s for s in todo if s.handshake_closed]
            if not todo:
                break
            time.sleep(0.3)
        for s in sessions:
            if s.handshake_closed:
                s.inbox.append(("note", f"connection closed before the ConnectResponse "
                                        f"({CONNECT_TRIES} tries)"))
            elif s.handshaking:
                s.inbox.append(("note", "no connect response"))
                s.drop()
        # a refused session (expired, or unknown) is answered and then closed
        self.wait(lambda: all(s.alive or s.sock is None or s.closed_by_server for s in sessions),
                  CLOSE_LAG)
        for s in sessions:
            if not s.alive:
                s.forget()
        if fresh is None:
            self.prime(slot)

    def prime(self, slot):
        """What the Java client sends after a reconnect: its auth, then its watches."""
        expect = []
        for s in self.both(slot):
            if not s.alive or not s.connected():
                continue
            for scheme, cred in s.auths:
                s.send(jute.OP["auth"], jute.Writer().int(0).ustring(scheme)
                       .buffer(cred.encode()).bytes(), jute.XID_AUTH)
            lists = s.watch_lists()
            if any(lists):
                persistent = any(lists[3:])
                body = jute.set_watches_body(s.last_zxid, *[[enc_path(p) for p in lst]
                                                            for lst in (lists if persistent
                                                                        else lists[:3])])
                opcode = jute.OP["setWatches2" if persistent else "setWatches"]
                s.send(opcode, body, jute.XID_SETWATCHES)
            want = {x: s.replies_seen.get(x, 0) for x in (jute.XID_AUTH, jute.XID_SETWATCHES)}
            want[jute.XID_AUTH] += len(s.auths)
            want[jute.XID_SETWATCHES] += 1 if any(lists) else 0
            expect.append((s, want))
        self.wait(lambda: all(s.closed_by_server or all(s.replies_seen.get(x, 0) >= n
                                                         for x, n in want.items())
                              for s, want in expect), REPLY_LIMIT)

    def close_session(self, slot):
        """closeSession on both sides; the server answers and closes the connection."""
        sessions = self.both(slot)
        xids = [s.send(jute.OP["closeSession"], b"") for s in sessions]
        self.wait(lambda: all(s.closed_by_server or x in s.last_reply
                              for s, x in zip(sessions, xids)), REPLY_LIMIT)
        self.wait(lambda: all(s.closed_by_server for s in sessions), 2.0)
        for s in sessions:
            if not s.closed_by_server:
                s.inbox.append(("note", "connection still open 2s after closeSession"))
            s.forget()

    def ensure(self, slot):
        """The op on `slot` needs a connected session: reopen or reconnect as needed."""
        for _ in range(2):
            sessions = self.both(slot)
            if all(s.alive and s.connected() and not s.handshaking for s in sessions):
                return
            if any(not s.alive for s in sessions):
                self.note(slot, "runner: new session")
                self.connect(slot, fresh=(DEFAULT_TIMEOUT, False))
            else:
                self.note(slot, "runner: reconnect")
                self.connect(slot)
            self.disc_at[slot] = None

    def note(self, slot, text):
        for side in self.sides:
            side.streams[slot].append(("note", text))

    def pre_steps(self, op):
        """Reconnect sessions the server dropped, and deliberately disconnected ones
        that have been away for RECONNECT_AFTER (so none of them expires by accident)."""
        now = time.monotonic()
        for slot in range(self.nslots):
            sessions = self.both(slot)
            dropped = any(s.alive and s.closed_by_server for s in sessions)
            away = self.disc_at[slot] is not None and (now - self.disc_at[slot] > RECONNECT_AFTER
                                                      or op.get("s") == slot)
            if (dropped or away) and op["k"] != "restart" and not (
                    op["k"] == "reconnect" and op["s"] == slot):
                self.ensure(slot)

    # --- ops ---------------------------------------------------------------------
    def resolve(self, side, op):
        """The op as this side sends it: `$last` resolved, quota stats data made parseable."""
        def one(o):
            if o.get("path") == "$last":
                o = dict(o, path=side.last_created or "/")
            if "data" in o and not quota_stats_safe(o["path"], o["data"]):
                o = dict(o, data="count=1,bytes=1")
            return o
        op = one(op)
        if "ops" in op:
            op = dict(op, ops=[one(s) for s in op["ops"]])
        return dict(op, rpath=op.get("path"))

    def encode(self, op):
        """(opcode, body, xid) of a request op; paths and data become bytes here."""
        k = op["k"]
        conv = dict(op)
        for key in ("path",):
            if key in conv and isinstance(conv[key], str):
                conv[key] = enc_path(conv[key])
        if "data" in conv and conv["data"] is not None:
            conv["data"] = conv["data"].encode("latin-1")
        if "ops" in conv:
            conv["ops"] = [dict(s, path=enc_path(s["path"]),
                                data=None if s.get("data") is None
                                else s["data"].encode("latin-1")) for s in conv["ops"]]
        if k == "auth":
            conv["cred"] = op["cred"].encode()
            return jute.OP["auth"], jute.request_body(conv), jute.XID_AUTH
        if k in ("setWatches", "setWatches2"):
            lists = [[enc_path(p) for p in conv.get("w_" + x) or []]
                     for x in ("data", "exist", "child", "persistent", "recursive")]
            rel = conv["rel"]
            body = jute.set_watches_body(rel, *(lists if k == "setWatches2" else lists[:3]))
            return jute.OP[k], body, jute.XID_SETWATCHES
        if k == "ping":
            return jute.OP["ping"], b"", jute.XID_PING
        if k == "rawOp":
            return conv["opcode"], self.raw_body(conv), None
        if k == "close":
            return jute.OP["closeSession"], b"", None
        return jute.OP[k], jute.request_body(conv), None

    @staticmethod
    def raw_body(op):
        n, path = op["opcode"], op["path"]
        if n == 13:
            return jute.Writer().ustring(path).int(-1).bytes()
        if n == 16:
            return jute.Writer().ustring(None).ustring(None).ustring(None).long(-1).bytes()
        if n == 20:
            return path
        if n == 102:
            return jute.Writer().buffer(b"token").bytes()
        return b""

    def request(self, op):
        """Send the op (or every request of a burst, back to back) on both sides and
        wait for all the replies."""
        slot = op["s"]
        sent = []
        for side in self.sides:
            s = side.sess[slot]
            for req in op["reqs"] if op["k"] == "burst" else [op]:
                rop = self.resolve(side, req)
                if rop["k"] in ("setWatches", "setWatches2") and rop["rel"] == "last":
                    rop["rel"] = s.last_zxid
                opcode, body, xid = self.encode(rop)
                if xid == jute.XID_PING:
                    s.record_ping = True
                    s.pings_sent += 1
                if xid is not None:
                    s.last_reply.pop(xid, None)
                sent.append((side, s, rop, s.send(opcode, body, xid)))

        def answered(s, x):
            return x in s.last_reply if x != jute.XID_PING else s.pings_answered >= s.pings_sent
        if not self.wait(lambda: all(s.closed_by_server or answered(s, x) for _, s, _, x in sent),
                         REPLY_LIMIT):
            for _, s, _, x in sent:
                if not s.closed_by_server and not answered(s, x) and s.sock is not None:
                    s.inbox.append(("note", f"no reply within {REPLY_LIMIT:.0f}s; dropped"))
                    s.drop()
        for side, s, rop, x in sent:
            if x in s.last_reply:
                err, body = s.last_reply[x]
                s.note_reply(rop, err, body)
                if s.last_created is not None:
                    side.last_created = s.last_created
        if op["k"] == "close":
            self.wait(lambda: all(s.closed_by_server for _, s, _, _ in sent), 2.0)
            for _, s, _, _ in sent:
                s.forget()

    def restart(self, how):
        for side in self.sides:
            for s in side.sess:
                s.drop()
        self.pair.restart(how)
        for slot in range(self.nslots):
            if any(s.alive for s in self.both(slot)):
                self.connect(slot)
            self.disc_at[slot] = None

    def expire(self, slot):
        for other in range(self.nslots):    # nobody else may expire during the wait
            if self.disc_at[other] is not None:
                self.ensure(other)
        self.ensure(slot)
        sessions = self.both(slot)
        for s in sessions:
            s.expiring = True
        limit = max(s.negotiated for s in sessions) * 1.5 / 1000 + 10
        # The connection may be closed before the session expires (3.8's NIO
        # ConnectionExpirer rounds its deadline to 10 s, the SessionTracker to tickTime),
        # and resuming then would renew the session: wait until it must have expired.
        expired_at = max(s.last_send + s.negotiated / 1000 for s in sessions) + TICK + 0.5
        if not self.wait(lambda: all(s.closed_by_server for s in sessions)
                         and time.monotonic() > expired_at, limit):
            for s in sessions:
                if not s.closed_by_server:
                    s.inbox.append(("note", f"not expired within {limit:.0f}s"))
                    s.drop()
        for s in sessions:
            s.expiring = False
        self.connect(slot)          # resuming an expired session: timeout 0, then closed
        for s in self.both(slot):
            if s.alive:
                s.inbox.append(("note", "session survived expiry"))

    def execute(self, op):
        k, slot = op["k"], op.get("s", 0)
        if k == "restart":
            self.restart(op["how"])
        elif k == "open":
            if any(s.alive for s in self.both(slot)):
                self.ensure(slot)
                self.close_session(slot)
            self.connect(slot, fresh=(op["timeout"], op["ro"]))
        elif k == "disconnect":
            self.ensure(slot)
            for s in self.both(slot):
                s.drop()
            self.disc_at[slot] = time.monotonic()
        elif k == "reconnect":
            if any(not s.alive for s in self.both(slot)):
                self.ensure(slot)
            else:
                for s in self.both(slot):
                    s.drop()
                self.connect(slot)
            self.disc_at[slot] = None
        elif k == "expire":
            self.expire(slot)
        else:
            self.ensure(slot)
            self.request(op)

    def barrier(self):
        """Ping every connected session on both sides and wait for the answers."""
        targets = []
        for side in self.sides:
            for s in side.connections():
                if s.alive and not s.handshaking and not s.expiring:
                    s.ping()
                    targets.append(s)
        if not self.wait(lambda: all(s.closed_by_server or s.pings_answered >= s.pings_sent
                                     for s in targets), BARRIER_LIMIT):
            for s in targets:
                if not s.closed_by_server and s.pings_answered < s.pings_sent:
                    s.inbox.append(("note", "no ping reply within 5s"))

        def lagging():
            return any(a.sock is not None and b.sock is not None
                       and a.closed_by_server != b.closed_by_server
                       for a, b in zip(*[side.sess for side in self.sides]))
        self.wait(lambda: not lagging(), CLOSE_LAG)

    def transcripts(self, op):
        out = []
        for side in self.sides:
            t = {}
            for slot, stream in enumerate(side.streams):
                items = [side.masker.item(it) for it in stream]
                if op is not None and op["k"] == "expire" and slot == op["s"]:
                    items = [x for x in items if not x.startswith("event ")]
                if items:
                    t[f"s{slot}"] = items
                stream.clear()
            out.append(t)
        return out

    # --- final check -------------------------------------------------------------------
    def call(self, s, opcode, body, xid=None):
        x = s.send(opcode, body, xid)
        self.wait(lambda: s.closed_by_server or x in s.last_reply, REPLY_LIMIT)
        return s.last_reply.pop(x, (None, None))

    def dump_tree(self, side):
        s = Session(30000, False)
        self.extra = [s]
        s.connect(side.server.port)
        self.wait(lambda: not s.handshaking or s.closed_by_server, REPLY_LIMIT)
        if not s.alive:
            return ["cannot open the super session"]
        s.inbox.clear()
        self.call(s, jute.OP["auth"], jute.Writer().int(0).ustring("digest")
                  .buffer(f"{SUPER[0]}:{SUPER[1]}".encode()).bytes(), jute.XID_AUTH)
        m, lines, queue = side.masker, [], ["/"]
        deadline = time.monotonic() + 60
        while queue and len(lines) < TREE_LIMIT and time.monotonic() < deadline:
            path = queue.pop(0)
            p = enc_path(path)
            err, got = self.call(s, jute.OP["getData"], jute.Writer().ustring(p).bool(False).bytes())
            if err != 0:
                lines.append(f"{m.value(path)} getData {jute.err_name(err)}")
                continue
            aerr, acl = self.call(s, jute.OP["getACL"], jute.Writer().ustring(p).bytes())
            cerr, kids = self.call(s, jute.OP["getChildren"],
                                   jute.Writer().ustring(p).bool(False).bytes())
            children = sorted((kids or {}).get("children") or [])
            lines.append(f"{m.value(path)} data={m.value((got or {}).get('data'))} "
                         f"{m.value((got or {}).get('stat'))} "
                         f"acl={m.value((acl or {}).get('acl')) if aerr == 0 else jute.err_name(aerr)}"
                         f" children={m.value(children)}")
            queue.extend((path.rstrip("/") + "/" + c) for c in children)
        if queue:
            lines.append(f"tree walk cut short ({len(queue)} paths left)")
        s.drop()
        self.extra = []
        return lines

    def watch_dump(self, side):
        m = side.masker
        wchc, by = four_letter(side.server.port, "wchc"), {}
        cur = None
        for line in wchc.splitlines():
            if line.startswith("0x"):
                cur = m.sid(int(line.rstrip(":"), 16))
                by.setdefault(cur, [])
            elif line.startswith("\t") and cur is not None:
                by[cur].append(line.strip())
        return [f"{k}: {sorted(v)}" for k, v in sorted(by.items())]

    def mntr(self, side):
        vals = {}
        for line in four_letter(side.server.port, "mntr").splitlines():
            parts = line.split("\t")
            if len(parts) == 2 and parts[0] in MNTR_KEYS:
                vals[parts[0]] = parts[1]
        return [f"{k}={vals.get(k, 'absent')}" for k in MNTR_KEYS]

    def final(self):
        for slot in range(self.nslots):
            if any(s.alive and not s.connected() for s in self.both(slot)):
                self.ensure(slot)
        self.barrier()
        ref, fer = self.transcripts(None)
        diff = first_difference(ref, fer)
        if diff is None:
            ref, fer = {}, {}
            for side, t in zip(self.sides, (ref, fer)):
                t["wchc"] = self.watch_dump(side)
                t["wchs"] = [four_letter(side.server.port, "wchs").strip()]
                t["mntr"] = self.mntr(side)
                t["tree"] = self.dump_tree(side)
            diff = first_difference(ref, fer)
        if diff is None:
            return None
        slot, a, b = diff
        return Mismatch(None, None, classify(None, slot, a, b), ref, fer, slot)

    def run(self, ops, log=None):
        """Run ops in lockstep; the first Mismatch, or None when everything matched."""
        for i, op in enumerate(ops):
            self.pre_steps(op)
            try:
                self.execute(op)
            except ServerError as e:      # a restart that did not come back
                return Mismatch(i, op, f"{op['k']}: {e.what}", {}, {}, None, str(e))
            self.barrier()
            ref, fer = self.transcripts(op)
            if log is not None:
                log(f"#{i} {show(op)}\n  ref: {ref}\n  fer: {fer}")
            dead = self.dead_server()
            if dead is not None:
                return Mismatch(i, op, dead[0], ref, fer, None, dead[1])
            diff = first_difference(ref, fer)
            if diff is not None:
                slot, a, b = diff
                return Mismatch(i, op, classify(op, slot, a, b), ref, fer, slot)
        return self.final()

    def dead_server(self):
        """(class, log tail) if a server process has exited."""
        for side, label in zip(self.sides, ("reference", "ferrokeeper")):
            p = side.server.proc
            if p is not None and p.poll() is not None:
                return f"{label} server exited", (f"{label} exited with status {p.returncode}; "
                                                  f"log tail:\n{side.server.log_tail()}")
        return None

    def close(self):
        for side in self.sides:
            for s in side.sess:
                s.drop()
