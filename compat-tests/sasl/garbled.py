#!/usr/bin/python3
"""Garbled SASL tokens on a raw socket: garbled.py PORT digest|gssapi|none

`none` is a server without SASL (no JAAS login): tokens it has no mechanism for.

Each case opens a session (ConnectRequest), sends `sasl` packets (opcode 102) whose tokens
do not follow the mechanism, and prints what a client can see: each reply's header error
and whether it carries a token (the token itself is random: nonces), whether the server then
closed the connection or still answers a ping, and whether the session survived (a new
connection resuming it gets a non-zero timeout). The tokens are fixed bytes, not random, so
a failure reproduces. Every wait is bounded; only 127.0.0.1.
"""
import socket
import struct
import sys
import time

PORT, MECH = int(sys.argv[1]), sys.argv[2]
SASL_OP, PING_OP, CLOSE_OP, EXISTS_OP = 102, 11, -11, 3
ERRORS = {0: "Ok", -115: "AuthFailed", -124: "SessionClosedRequireSaslAuth",
          -112: "SessionExpired", -4: "ConnectionLoss", -6: "Unimplemented",
          -2: "MarshallingError", -102: "NoAuth", -101: "NoNode"}


def out(*a):
    print(*a, flush=True)


def buf(b):
    return struct.pack(">i", -1) if b is None else struct.pack(">i", len(b)) + b


class Conn:
    def __init__(self, session=0, passwd=b"\0" * 16):
        self.sock = socket.create_connection(("127.0.0.1", PORT), timeout=5)
        body = struct.pack(">iqiq", 0, 0, 10000, session) + buf(passwd) + b"\0"
        self.sock.sendall(struct.pack(">i", len(body)) + body)
        r = self.frame(5)
        if r is None:
            raise RuntimeError("no ConnectResponse")
        _proto, self.timeout, self.session = struct.unpack(">iiq", r[:16])
        (n,) = struct.unpack(">i", r[16:20])
        self.passwd = r[20:20 + n]

    def recv_exact(self, n, deadline):
        data = b""
        while len(data) < n:
            left = deadline - time.time()
            if left <= 0:
                raise socket.timeout()
            self.sock.settimeout(left)
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise EOFError()
            data += chunk
        return data

    def frame(self, wait):
        """The next frame, None on a timeout; EOFError when the server closed."""
        deadline = time.time() + wait
        try:
            (n,) = struct.unpack(">i", self.recv_exact(4, deadline))
            return self.recv_exact(n, deadline)
        except (socket.timeout, TimeoutError):
            return None
        except (ConnectionResetError, BrokenPipeError):
            raise EOFError()

    def send(self, xid, op, body=b""):
        payload = struct.pack(">ii", xid, op) + body
        self.sock.sendall(struct.pack(">i", len(payload)) + payload)

    def close(self):
        self.sock.close()


def reply_text(frame):
    xid, _zxid, err = struct.unpack(">iqi", frame[:16])
    text = "xid=%d err=%s" % (xid, ERRORS.get(err, err))
    rest = frame[16:]
    if len(rest) >= 4:
        (n,) = struct.unpack(">i", rest[:4])
        text += " token=%s" % ("null" if n < 0 else "empty" if n == 0 else "bytes")
    elif rest:
        text += " body=%d bytes" % len(rest)
    return text


def afterwards(c):
    """Whether the connection is still served: the server closes it, or answers a ping."""
    try:
        deadline = time.time() + 3
        # a close the server already decided on arrives first
        while time.time() < deadline:
            f = c.frame(0.5)
            if f is not None:
                return "unexpected frame " + reply_text(f)
        c.send(-2, PING_OP)
        f = c.frame(5)
        if f is None:
            return "open, ping unanswered"
        return "open, ping %s" % reply_text(f).split(" token=")[0]
    except (EOFError, OSError):
        return "closed"


def session_fate(session, passwd):
    try:
        c = Conn(session, passwd)
    except (RuntimeError, EOFError, OSError) as e:
        return "resume failed: %s" % type(e).__name__
    alive = c.timeout > 0
    if alive:
        # end it now rather than at its timeout
        try:
            c.send(1, CLOSE_OP)
            c.frame(5)
        except (EOFError, OSError):
            pass
    c.close()
    return "session survives" if alive else "session gone"


def digest_response(challenge, user, password):
    """A client's DIGEST-MD5 response (pure-sasl, as kazoo makes it)."""
    import puresasl.client
    cli = puresasl.client.SASLClient("zk-sasl-md5", "zookeeper", mechanism="DIGEST-MD5",
                                     username=user, password=password)
    return cli.process(challenge)


def sasl_step(c, xid, label, body):
    """Sends one `sasl` packet (`body`, the request's record) and prints its reply. The
    reply's frame, None when none came within 5 s; EOFError when the server closed."""
    try:
        c.send(xid, SASL_OP, body)
        f = c.frame(5)
    except EOFError:
        out("  %s: closed, no reply" % label)
        raise
    out("  %s: %s" % (label, "no reply within 5 s" if f is None else reply_text(f)))
    return f


def reply_token(f):
    """The token of a `sasl` reply frame (b"" when null or absent)."""
    rest = f[16:]
    if len(rest) < 4:
        return b""
    (n,) = struct.unpack(">i", rest[:4])
    return rest[4:4 + n] if n > 0 else b""


def conclude(c, closed, session, passwd):
    """What the server did with the connection afterwards, and with its session."""
    out("  then: %s" % ("closed" if closed else afterwards(c)))
    c.close()
    time.sleep(0.3)
    out("  resume: %s" % session_fate(session, passwd))


def gssapi_after_success():
    """alice's whole GSSAPI exchange (pure-sasl, as kazoo runs it; her ticket cache is
    KRB5CCNAME), then one more token."""
    import puresasl.client
    out("## after success")
    c = Conn()
    session, passwd = c.session, c.passwd
    cli = puresasl.client.SASLClient("localhost", "zookeeper", mechanism="GSSAPI")
    challenge, xid, closed = None, 0, False
    try:
        while not cli.complete and xid < 10:
            response = cli.process(challenge) or b""
            if cli.complete and not response:
                break
            xid += 1
            f = sasl_step(c, xid, "step %d" % xid, buf(response))
            if f is None:
                break
            challenge = reply_token(f)
    except EOFError:
        closed = True
    out("  complete: %s" % cli.complete)
    if not closed:
        try:
            sasl_step(c, xid + 1, "again", buf(b"more"))
        except EOFError:
            closed = True
    conclude(c, closed, session, passwd)


def case(title, steps):
    """steps: list of (label, token or callable(previous reply token) -> token, raw_body)."""
    out("## %s" % title)
    c = Conn()
    session, passwd = c.session, c.passwd
    challenge = b""
    closed = False
    for i, (label, token, raw) in enumerate(steps, 1):
        if callable(token):
            token = token(challenge)
        try:
            f = sasl_step(c, i, label, raw if raw is not None else buf(token))
        except EOFError:
            closed = True
            break
        if f is not None and len(f) >= 20:
            challenge = reply_token(f)
    conclude(c, closed, session, passwd)


def main():
    junk = bytes(range(7, 250, 3))
    if MECH == "digest":
        case("initial response (DIGEST-MD5 takes none)", [("junk", junk, None)])
        case("junk response", [("empty", b"", None), ("junk", junk, None)])
        case("non-UTF-8 response", [("empty", b"", None), ("bytes", b"\xff\xfe\xfd=\"\x80\"", None)])
        case("directives without a digest", [
            ("empty", b"", None),
            ("partial", b'charset=utf-8,username="bob",realm="zk-sasl-md5",qop=auth', None)])
        case("unterminated quote", [("empty", b"", None), ("bad", b'username="bob', None)])
        case("response too long", [("empty", b"", None), ("long", b"a" * 5000, None)])
        case("after success", [
            ("empty", b"", None),
            ("bob", lambda ch: digest_response(ch, "bob", "bobsecret"), None),
            ("again", b"", None)])
        case("record shorter than its length", [
            ("short", None, struct.pack(">i", 50) + b"abc")])
        case("null token (length -1)", [("null", None, struct.pack(">i", -1))])
        case("negative length other than -1", [
            ("negative", None, struct.pack(">i", -7))])
    elif MECH == "none":
        case("junk token", [("junk", junk, None), ("again", b"", None)])
        case("null token (length -1)", [("null", None, struct.pack(">i", -1))])
        case("record shorter than its length", [
            ("short", None, struct.pack(">i", 50) + b"abc")])
        case("negative length other than -1", [
            ("negative", None, struct.pack(">i", -7))])
    else:
        case("junk initial token", [("junk", junk, None)])
        case("empty initial token", [("empty", b"", None)])
        case("token with a GSS header but junk inside", [
            ("junk", b"\x60\x81\x90\x06\x09\x2a\x86\x48\x86\xf7\x12\x01\x02\x02" + junk, None)])
        gssapi_after_success()
        case("record shorter than its length", [
            ("short", None, struct.pack(">i", 50) + b"abc")])


main()
