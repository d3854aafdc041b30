#!/usr/bin/python3
"""kazoo with SASL DIGEST-MD5 for sasl.py: kazoo_sasl.py PORT open|enforced

kazoo's sasl_options (pure-sasl does DIGEST-MD5). Prints a deterministic transcript;
every wait is bounded.
"""
import logging
import sys
import time

from kazoo.client import KazooClient
from kazoo.exceptions import AuthFailedError
from kazoo.protocol.states import KeeperState
from kazoo.security import make_acl

logging.basicConfig(level=logging.CRITICAL)
PORT, MODE = int(sys.argv[1]), sys.argv[2]
ROOT = "/sasl_kazoo"


def out(*args):
    print(*args, flush=True)


def client(user=None, password=None):
    """A started client and how its session began. kazoo reports CONNECTED before its SASL
    exchange, so start() races the exchange's failure; the outcome is read from the first
    request instead (it waits for the exchange), or from the AUTH_FAILED state."""
    kw = {}
    if user:
        kw["sasl_options"] = {"mechanism": "DIGEST-MD5", "username": user,
                              "password": password}
    c = KazooClient(hosts="127.0.0.1:%d" % PORT, timeout=10.0,
                    connection_retry={"max_tries": 1}, command_retry={"max_tries": 0}, **kw)
    # the states the connection thread reports (CLOSED is also where a client starts)
    seen = []
    report = c._session_callback

    def record(state):
        seen.append(state)
        report(state)

    c._session_callback = record
    c.start_async()
    deadline = time.time() + 20
    outcome = "no session within 20 s"
    while time.time() < deadline:
        # AUTH_FAILED is followed by CLOSED at once: either means the session ended
        if KeeperState.AUTH_FAILED in seen or KeeperState.CLOSED in seen:
            outcome = "ended before any request"
            break
        if c.connected:
            try:
                c.exists_async("/").get(timeout=10)
                outcome = "connected"
            except AuthFailedError:
                outcome = "auth failed"
            except Exception as e:
                outcome = "first request: %s" % type(e).__name__
                # the request can lose the race with the end of a refused exchange (kazoo
                # 2.8's connection thread dies on SessionClosedRequireSaslAuth, a code it
                # does not know): the session's fate is what the states then say
                until = time.time() + 5
                while time.time() < until:
                    if KeeperState.AUTH_FAILED in seen or KeeperState.CLOSED in seen:
                        outcome = "ended before any request"
                        break
                    time.sleep(0.05)
            break
        time.sleep(0.05)
    out("  outcome:", outcome)
    return c


def err(fn, *a, **kw):
    try:
        r = fn(*a, **kw)
        if hasattr(r, "get") and hasattr(r, "rawlink"):
            r = r.get(timeout=10)
        if isinstance(r, tuple) and len(r) == 2 and hasattr(r[1], "version"):
            r = (r[0], "version=%d" % r[1].version)
        return "ok %r" % (r,)
    except Exception as e:
        return "error %s" % type(e).__name__


def as_user(title, user, password, steps):
    out("## %s" % title)
    c = client(user, password)
    for label, fn in steps:
        out("  %s: %s" % (label, err(fn, c)))
    try:
        c.stop()
        c.close()
    except Exception:
        pass


def acl_text(acls):
    return sorted("%s:%s:%d" % (a.id.scheme, a.id.id, a.perms) for a in acls)


def main():
    if MODE == "enforced":
        as_user("anonymous", None, None, [("exists /", lambda c: c.exists_async("/").get(timeout=10) is not None)])
        as_user("bob, wrong password", "bob", "nope",
                [("exists /", lambda c: c.exists_async("/").get(timeout=10) is not None)])
        as_user("bob", "bob", "bobsecret", [
            ("create", lambda c: c.create_async(ROOT, b"x")),
            ("get", lambda c: c.get_async(ROOT)),
        ])
        return
    only_bob = [make_acl("sasl", "bob", all=True)]
    as_user("bob", "bob", "bobsecret", [
        ("create sasl:bob", lambda c: c.create_async(ROOT, b"bob's", acl=only_bob)),
        ("get", lambda c: c.get_async(ROOT)),
        ("acl", lambda c: acl_text(c.get_acls_async(ROOT).get(timeout=10)[0])),
        ("create auth", lambda c: c.create_async(ROOT + "-auth", b"", acl=[make_acl("auth", "", all=True)])),
        ("acl auth", lambda c: acl_text(c.get_acls_async(ROOT + "-auth").get(timeout=10)[0])),
        ("bad sasl id", lambda c: c.create_async(ROOT + "-bad", b"", acl=[make_acl("sasl", "a@b@c", all=True)])),
    ])
    as_user("alice", "alice", "alicesecret", [
        ("get", lambda c: c.get_async(ROOT)),
        ("set", lambda c: c.set_async(ROOT, b"alice")),
        ("get auth node", lambda c: c.get_async(ROOT + "-auth")),
    ])
    as_user("super", "super", "adminsecret", [
        ("get", lambda c: c.get_async(ROOT)),
        ("delete", lambda c: c.delete_async(ROOT + "-auth")),
    ])
    as_user("anonymous", None, None, [("get", lambda c: c.get_async(ROOT))])
    as_user("bob, wrong password", "bob", "nope", [("get", lambda c: c.get_async(ROOT))])
    as_user("unknown user", "mallory", "nope2", [("get", lambda c: c.get_async(ROOT))])


main()
