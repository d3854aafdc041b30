"""A raw-socket ZooKeeper 3.8 client session (one TCP connection at a time).

`Session` speaks the framed client protocol: the ConnectRequest handshake
(with or without the trailing readOnly byte), requests with increasing xids,
pings (xid -2), auth packets (xid -4), setWatches / setWatches2 (xid -8) and
watch notifications (xid -1). Nothing blocks: the runner polls every socket of
both servers through `select` and calls `pump()` on readable ones; replies and
events land in `inbox` in arrival order.

A session also keeps what a Java client would keep across a reconnect: its id
and password, the last zxid it saw in a reply, the auth it added and the
watches it holds (one-shot watches leave the model when their event arrives,
as in `ZKWatchManager`), so the runner (`Runner.connect` / `Runner.prime`) can
resume it like the Java client's `primeConnection` does (auth packets first,
then setWatches).
"""

import socket
import struct
import time
import zlib

import jute

FRAME_MAX = 16 * 1024 * 1024


def enc_path(s):
    """Path text to bytes; lone \\udc80-\\udcff stand for raw (invalid UTF-8) bytes."""
    return s.encode("utf-8", "surrogateescape")


class Session:
    """One client session against one server; see the module docstring."""

    def __init__(self, timeout, read_only=False, inbox=None):
        self.timeout_req = timeout
        self.read_only = read_only          # None: leave the readOnly byte out
        self.sock = None
        self.rbuf = bytearray()
        self.handshaking = False
        self.handshake_closed = False
        self.closed_by_server = False
        self.session_id = 0
        self.passwd = b"\0" * 16
        self.negotiated = 0
        self.last_zxid = 0
        self.next_xid = 1
        self.pending = {}                   # xid -> opcode
        # ("connect"|"reply"|"event"|"closed"|..., ...) in arrival order; the runner
        # passes one list per session slot, so a slot's successive sessions share it
        self.inbox = [] if inbox is None else inbox
        self.pings_sent = 0
        self.pings_answered = 0
        self.record_ping = False            # put the next ping reply in the inbox
        self.replies_seen = {}              # xid -> replies with that xid so far
        self.last_reply = {}                # xid -> (err, body) of its latest reply
        self.expiring = False
        self.last_send = 0.0
        self.auths = []                     # (scheme, cred) the server accepted
        self.watches = {"data": set(), "exist": set(), "child": set(),
                        "persistent": set(), "recursive": set()}
        self.alive = False                  # the server holds this session
        self.last_created = None

    # --- connection ---------------------------------------------------------------
    def connected(self):
        return self.sock is not None and not self.closed_by_server

    def connect(self, port):
        """Open a socket and send the ConnectRequest (new session when session_id is 0)."""
        self.drop()
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.sock.settimeout(5)
        self.rbuf = bytearray()
        self.closed_by_server = False
        self.handshaking = True
        self.handshake_closed = False
        self.pending = {}
        self.pings_sent = self.pings_answered = 0
        self.send_frame(jute.connect_request(self.last_zxid if self.session_id else 0,
                                             self.timeout_req, self.session_id, self.passwd,
                                             self.read_only))

    def drop(self):
        """Close our side of the connection (the session stays on the server)."""
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock = None
        self.handshaking = False

    def fileno(self):
        return self.sock.fileno()

    def send_frame(self, payload):
        try:
            self.sock.sendall(struct.pack(">i", len(payload)) + payload)
            self.last_send = time.monotonic()
        except OSError:
            self._closed()

    def _closed(self):
        if not self.closed_by_server:
            self.closed_by_server = True
            if self.handshaking:            # the runner retries such a connect
                self.handshake_closed = True
            else:
                self.inbox.append(("closed",))

    def send(self, opcode, body, xid=None):
        if xid is None:
            xid = self.next_xid
            self.next_xid += 1
        self.pending[xid] = opcode
        self.send_frame(struct.pack(">ii", xid, opcode) + body)
        return xid

    def ping(self):
        self.pings_sent += 1
        self.send(jute.OP["ping"], b"", jute.XID_PING)

    # --- receiving ------------------------------------------------------------------
    def pump(self):
        """Read what the socket has and turn complete frames into inbox items."""
        try:
            chunk = self.sock.recv(1 << 16)
        except (BlockingIOError, socket.timeout):
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._closed()
            return
        self.rbuf += chunk
        while len(self.rbuf) >= 4:
            (n,) = struct.unpack(">i", self.rbuf[:4])
            if n < 0 or n > FRAME_MAX:
                self.inbox.append(("badframe", bytes(self.rbuf[:64]).hex()))
                self._closed()
                return
            if len(self.rbuf) < 4 + n:
                break
            frame = bytes(self.rbuf[4:4 + n])
            del self.rbuf[:4 + n]
            self._frame(frame)

    def _frame(self, frame):
        if self.handshaking:
            self.handshaking = False
            resp = jute.decode_connect_response(frame)
            if not self.session_id:
                how = "new"
            elif resp.get("timeOut", 0) <= 0:
                how = "refused"
            elif resp.get("sessionId") != self.session_id:
                how = "other session"
            else:
                how = "resumed" if resp.get("passwd") == self.passwd else "resumed, password changed"
            self.inbox.append(("connect", resp, how))
            if resp.get("timeOut", 0) > 0 and "raw" not in resp:
                self.session_id = resp["sessionId"]
                self.passwd = resp["passwd"] or b""
                self.negotiated = resp["timeOut"]
                self.alive = True
            else:
                self.alive = False
            return
        hdr = jute.decode_header(frame)
        if hdr is None:
            self.inbox.append(("badframe", frame.hex()))
            return
        xid, zxid, err, body = hdr
        if xid == jute.XID_NOTIFICATION:
            ev = jute.decode_event(body)
            self.inbox.append(("event", ev, zxid))
            self._event_fired(ev)
            return
        if xid == jute.XID_PING and jute.XID_PING in self.pending:
            self.pings_answered += 1
            if self.record_ping:
                self.record_ping = False
                self.inbox.append(("reply", xid, zxid, err, jute.decode_reply(11, body), 11))
            return
        opcode = self.pending.get(xid) if xid < 0 else self.pending.pop(xid, None)
        if opcode is None:
            self.inbox.append(("unexpected", xid, zxid, err, body.hex()))
            return
        if zxid > 0:
            self.last_zxid = zxid
        decoded = jute.decode_reply(opcode, body)
        self.replies_seen[xid] = self.replies_seen.get(xid, 0) + 1
        self.last_reply[xid] = (err, decoded)
        self.inbox.append(("reply", xid, zxid, err, decoded, opcode))

    # --- client-side watch model (what a reconnect re-registers) ---------------------
    def _event_fired(self, ev):
        if ev[0] == "raw":
            return
        etype, _, path = ev
        w = self.watches
        if etype in (1, 3):       # NodeCreated, NodeDataChanged
            w["data"].discard(path)
            w["exist"].discard(path)
        elif etype == 4:          # NodeChildrenChanged
            w["child"].discard(path)
        elif etype == 2:          # NodeDeleted
            for k in ("data", "exist", "child"):
                w[k].discard(path)

    def note_reply(self, op, err, body):
        """Update the watch model / auth list / last created path after a reply to `op`."""
        k, w = op["k"], self.watches
        path = op.get("rpath")
        if k == "exists" and op["watch"]:
            if err == 0:
                w["data"].add(path)
            elif err == -101:
                w["exist"].add(path)
        elif k == "getData" and op["watch"] and err == 0:
            w["data"].add(path)
        elif k in ("getChildren", "getChildren2") and op["watch"] and err == 0:
            w["child"].add(path)
        elif k == "addWatch" and err == 0 and op["mode"] in (0, 1):
            w["persistent" if op["mode"] == 0 else "recursive"].add(path)
        elif k == "removeWatches" and err == 0:
            kinds = {1: ("child",), 2: ("data", "exist"),
                     3: ("data", "exist", "child", "persistent", "recursive")}
            for kind in kinds.get(op["wtype"], ()):
                w[kind].discard(path)
        elif k in ("setWatches", "setWatches2") and err == 0:
            for kind in ("data", "exist", "child", "persistent", "recursive"):
                w[kind].update(op.get("w_" + kind) or ())
        elif k == "auth" and err == 0:
            self.auths.append((op["scheme"], op["cred"]))
        if err == 0 and isinstance(body, dict) and "path" in body and k.startswith("create"):
            self.last_created = body["path"]
        if k == "multi" and isinstance(body, dict):
            for res in body.get("results", []):
                if res[0] in ("create", "create2", "createTTL", "createContainer") and res[1] == 0:
                    self.last_created = res[2]

    def watch_lists(self):
        """The watch lists in SetWatches2 order, each in a fixed order that is not sorted
        (the Java client sends HashMap order; the server must keep the order it gets)."""
        return [sorted(self.watches[k], key=lambda p: (zlib.crc32(enc_path(p)), p))
                for k in ("data", "exist", "child", "persistent", "recursive")]

    def forget(self):
        """The server no longer holds this session: start the next one from scratch."""
        self.drop()
        self.alive = False
        self.session_id = 0
        self.passwd = b"\0" * 16
        self.last_zxid = 0
        self.auths = []
        for s in self.watches.values():
            s.clear()
