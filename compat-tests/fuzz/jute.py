"""Jute encoding for the ZooKeeper 3.8 client protocol (stdlib only).

Writer builds request bodies; Reader decodes reply bodies. Decoding is total:
`decode_reply(opcode, body)` never raises — whatever does not parse as the
record the opcode promises (short, or with trailing bytes) comes back as a
("raw", hex) value, so a malformed answer is compared like any other.

Records are plain tuples / dicts; strings from the wire are decoded as UTF-8
with surrogateescape (lossless for invalid bytes).
"""

import struct

# --- opcodes (ZooDefs.OpCode) ---------------------------------------------------
OP = {
    "notification": 0, "create": 1, "delete": 2, "exists": 3, "getData": 4,
    "setData": 5, "getACL": 6, "setACL": 7, "getChildren": 8, "sync": 9,
    "ping": 11, "getChildren2": 12, "check": 13, "multi": 14, "create2": 15,
    "reconfig": 16, "checkWatches": 17, "removeWatches": 18,
    "createContainer": 19, "deleteContainer": 20, "createTTL": 21,
    "multiRead": 22, "auth": 100, "setWatches": 101, "sasl": 102,
    "getEphemerals": 103, "getAllChildrenNumber": 104, "setWatches2": 105,
    "addWatch": 106, "whoAmI": 107, "createSession": -10, "closeSession": -11,
    "error": -1,
}
OPNAME = {v: k for k, v in OP.items()}

XID_NOTIFICATION, XID_PING, XID_AUTH, XID_SETWATCHES = -1, -2, -4, -8

ERR = {
    0: "Ok", -1: "SystemError", -2: "RuntimeInconsistency", -3: "DataInconsistency",
    -4: "ConnectionLoss", -5: "MarshallingError", -6: "Unimplemented",
    -7: "OperationTimeout", -8: "BadArguments", -12: "UnknownSession",
    -13: "NewConfigNoQuorum", -14: "ReconfigInProgress", -100: "APIError",
    -101: "NoNode", -102: "NoAuth", -103: "BadVersion",
    -108: "NoChildrenForEphemerals", -110: "NodeExists", -111: "NotEmpty",
    -112: "SessionExpired", -113: "InvalidCallback", -114: "InvalidACL",
    -115: "AuthFailed", -118: "SessionMoved", -119: "NotReadOnly",
    -120: "EphemeralOnLocalSession", -121: "NoWatcher", -122: "RequestTimeout",
    -123: "ReconfigDisabled", -124: "SessionClosedRequireSaslAuth",
    -125: "QuotaExceeded", -127: "ThrottledOp",
}

EVENT = {-1: "None", 1: "NodeCreated", 2: "NodeDeleted", 3: "NodeDataChanged",
         4: "NodeChildrenChanged", 5: "DataWatchRemoved", 6: "ChildWatchRemoved",
         7: "PersistentWatchRemoved"}
STATE = {-1: "Unknown", 0: "Disconnected", 1: "NoSyncConnected", 3: "SyncConnected",
         4: "AuthFailed", 5: "ConnectedReadOnly", 6: "SaslAuthenticated",
         -112: "Expired", 7: "Closed"}

STAT_FIELDS = ("czxid", "mzxid", "ctime", "mtime", "version", "cversion", "aversion",
               "ephemeralOwner", "dataLength", "numChildren", "pzxid")


def err_name(code):
    return ERR.get(code, str(code))


class DecodeError(Exception):
    pass


class Writer:
    """Append-only Jute output archive."""

    def __init__(self):
        self.parts = []

    def int(self, v):
        self.parts.append(struct.pack(">i", v))
        return self

    def long(self, v):
        self.parts.append(struct.pack(">q", v))
        return self

    def bool(self, v):
        self.parts.append(b"\x01" if v else b"\x00")
        return self

    def buffer(self, b):
        if b is None:
            return self.int(-1)
        self.int(len(b))
        self.parts.append(bytes(b))
        return self

    def ustring(self, s):
        if s is None:
            return self.int(-1)
        return self.buffer(s if isinstance(s, bytes) else s.encode("utf-8", "surrogatepass"))

    def strings(self, items):
        if items is None:
            return self.int(-1)
        self.int(len(items))
        for s in items:
            self.ustring(s)
        return self

    def acls(self, acl):
        """acl: list of (perms, scheme, id) or None."""
        if acl is None:
            return self.int(-1)
        self.int(len(acl))
        for perms, scheme, ident in acl:
            self.int(perms).ustring(scheme).ustring(ident)
        return self

    def bytes(self):
        return b"".join(self.parts)


class Reader:
    """Jute input archive over one frame; every read checks bounds."""

    def __init__(self, data):
        self.data, self.pos = data, 0

    def _take(self, n):
        if n < 0 or self.pos + n > len(self.data):
            raise DecodeError(f"need {n} bytes at {self.pos}, have {len(self.data) - self.pos}")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def int(self):
        return struct.unpack(">i", self._take(4))[0]

    def long(self):
        return struct.unpack(">q", self._take(8))[0]

    def bool(self):
        b = self._take(1)[0]
        if b > 1:
            raise DecodeError(f"boolean byte {b}")
        return bool(b)

    def buffer(self):
        n = self.int()
        if n == -1:
            return None
        if n < -1:
            raise DecodeError(f"buffer length {n}")
        return bytes(self._take(n))

    def ustring(self):
        b = self.buffer()
        return None if b is None else b.decode("utf-8", "surrogateescape")

    def vector(self, item):
        n = self.int()
        if n == -1:
            return None
        if n < -1 or n > len(self.data):
            raise DecodeError(f"vector length {n}")
        return [item() for _ in range(n)]

    def stat(self):
        vals = (self.long(), self.long(), self.long(), self.long(), self.int(), self.int(),
                self.int(), self.long(), self.int(), self.int(), self.long())
        return dict(zip(STAT_FIELDS, vals))

    def acl(self):
        return (self.int(), self.ustring(), self.ustring())

    def rest(self):
        return bytes(self.data[self.pos:])

    def at_end(self):
        return self.pos == len(self.data)


# --- requests --------------------------------------------------------------------

def connect_request(last_zxid, timeout, session_id, passwd, read_only):
    """ConnectRequest; read_only None leaves the trailing byte out (pre-3.4 client)."""
    w = Writer().int(0).long(last_zxid).int(timeout).long(session_id).buffer(passwd)
    if read_only is not None:
        w.bool(read_only)
    return w.bytes()


def decode_connect_response(body):
    r = Reader(body)
    try:
        out = {"protocolVersion": r.int(), "timeOut": r.int(), "sessionId": r.long(),
               "passwd": r.buffer()}
        if not r.at_end():
            out["readOnly"] = r.bool()
        if not r.at_end():
            out["trailing"] = r.rest().hex()
        return out
    except DecodeError as e:
        return {"raw": body.hex(), "error": str(e)}


def _create_body(w, sub):
    w.ustring(sub["path"]).buffer(sub.get("data")).acls(sub.get("acl")).int(sub.get("flags", 0))
    if sub["type"] == "createTTL":
        w.long(sub.get("ttl", 0))


def _sub_body(w, sub):
    t = sub["type"]
    if t in ("create", "create2", "createContainer", "createTTL"):
        _create_body(w, sub)
    elif t == "delete":
        w.ustring(sub["path"]).int(sub.get("version", -1))
    elif t == "setData":
        w.ustring(sub["path"]).buffer(sub.get("data")).int(sub.get("version", -1))
    elif t == "check":
        w.ustring(sub["path"]).int(sub.get("version", -1))
    elif t in ("getData", "getChildren", "exists"):
        w.ustring(sub["path"]).bool(False)
    else:
        raise ValueError(f"no sub-op encoding for {t}")


def request_body(op):
    """Body bytes of one request; op is a generator op dict (see gen.py)."""
    k = op["k"]
    w = Writer()
    if k in ("create", "create2", "createContainer", "createTTL"):
        _create_body(w, dict(op, type=k))
    elif k == "delete":
        w.ustring(op["path"]).int(op["version"])
    elif k in ("exists", "getData", "getChildren", "getChildren2"):
        w.ustring(op["path"]).bool(op["watch"])
    elif k == "setData":
        w.ustring(op["path"]).buffer(op["data"]).int(op["version"])
    elif k in ("getACL", "sync", "getAllChildrenNumber", "getEphemerals"):
        w.ustring(op["path"])
    elif k == "setACL":
        w.ustring(op["path"]).acls(op["acl"]).int(op["version"])
    elif k in ("checkWatches", "removeWatches"):
        w.ustring(op["path"]).int(op["wtype"])
    elif k == "addWatch":
        w.ustring(op["path"]).int(op["mode"])
    elif k in ("multi", "multiRead"):
        for sub in op["ops"]:
            w.int(OP[sub["type"]]).bool(False).int(-1)
            _sub_body(w, sub)
        w.int(-1).bool(True).int(-1)
    elif k == "auth":
        w.int(0).ustring(op["scheme"]).buffer(op["cred"])
    elif k == "whoAmI":
        pass
    else:
        raise ValueError(f"no request encoding for {k}")
    body = w.bytes()
    if op.get("truncate"):
        body = body[:max(0, len(body) - op["truncate"])]
    return body


def set_watches_body(rel_zxid, data, exist, child, persistent=None, recursive=None):
    """SetWatches (persistent/recursive None) or SetWatches2."""
    w = Writer().long(rel_zxid).strings(data).strings(exist).strings(child)
    if persistent is not None:
        w.strings(persistent).strings(recursive)
    return w.bytes()


# --- replies ------------------------------------------------------------------------

def _multi_result(r):
    out = []
    while True:
        t, done, err = r.int(), r.bool(), r.int()
        if done:
            out.append(("end", t, err))
            return out
        if t == OP["create"]:
            out.append(("create", err, r.ustring()))
        elif t in (OP["create2"], OP["createTTL"], OP["createContainer"]):
            out.append((OPNAME[t], err, r.ustring(), r.stat()))
        elif t in (OP["delete"], OP["check"]):
            out.append((OPNAME[t], err))
        elif t == OP["setData"]:
            out.append(("setData", err, r.stat()))
        elif t == OP["getChildren"]:
            out.append(("getChildren", err, r.vector(r.ustring)))
        elif t == OP["getData"]:
            out.append(("getData", err, r.buffer(), r.stat()))
        elif t == OP["error"]:
            out.append(("error", err, r.int()))
        else:
            out.append(("unknown", t, err, r.rest().hex()))
            return out
        if len(out) > 10000:
            raise DecodeError("runaway multi result")


def _decode(opcode, r):
    name = OPNAME.get(opcode)
    if name == "create":
        return {"path": r.ustring()}
    if name in ("create2", "createTTL", "createContainer"):
        return {"path": r.ustring(), "stat": r.stat()}
    if name in ("exists", "setData", "setACL"):
        return {"stat": r.stat()}
    if name == "getData":
        return {"data": r.buffer(), "stat": r.stat()}
    if name == "getACL":
        return {"acl": r.vector(r.acl), "stat": r.stat()}
    if name == "getChildren":
        return {"children": r.vector(r.ustring)}
    if name == "getEphemerals":
        return {"ephemerals": r.vector(r.ustring)}
    if name == "getChildren2":
        return {"children": r.vector(r.ustring), "stat": r.stat()}
    if name == "sync":
        return {"path": r.ustring()}
    if name in ("addWatch", "getAllChildrenNumber"):
        return {"int": r.int()}
    if name == "whoAmI":
        return {"clientInfo": r.vector(lambda: (r.ustring(), r.ustring()))}
    if name in ("multi", "multiRead"):
        return {"results": _multi_result(r)}
    raise DecodeError(f"no reply record for opcode {opcode}")


def decode_reply(opcode, body):
    """Decode a reply body for `opcode`; None for an empty body; never raises."""
    if not body:
        return None
    r = Reader(body)
    try:
        out = _decode(opcode, r)
    except (DecodeError, struct.error) as e:
        return {"raw": bytes(body).hex(), "error": str(e)}
    if not r.at_end():
        out["trailing"] = r.rest().hex()
    return out


def decode_header(frame):
    """ReplyHeader (xid, zxid, err) and the body after it, or None if too short."""
    if len(frame) < 16:
        return None
    xid, zxid, err = struct.unpack(">iqi", frame[:16])
    return xid, zxid, err, frame[16:]


def decode_event(body):
    """WatcherEvent (type, state, path) or a raw record."""
    r = Reader(body)
    try:
        ev = (r.int(), r.int(), r.ustring())
        if not r.at_end():
            return ("raw", bytes(body).hex())
        return ev
    except DecodeError:
        return ("raw", bytes(body).hex())
