#!/usr/bin/python3
"""kazoo with SASL DIGEST-MD5 for sasl.py: kazoo_sasl.py PORT open|enforced

kazoo's sasl_options (pure-sasl does DIGEST-MD5). Prints a deterministic transcript;
every wait is bounded.
"""
import logging
import os
import sys

from kazoo.client import KazooClient
from kazoo.security import make_acl

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))
from harness import kazoo_result as err, session_outcome  # noqa: E402

logging.basicConfig(level=logging.CRITICAL)
PORT, MODE = int(sys.argv[1]), sys.argv[2]
ROOT = "/sasl_kazoo"


def out(*args):
    print(*args, flush=True)


def client(user=None, password=None):
    """A started client; prints how its session began."""
    kw = {}
    if user:
        kw["sasl_options"] = {"mechanism": "DIGEST-MD5", "username": user,
                              "password": password}
    c = KazooClient(hosts="127.0.0.1:%d" % PORT, timeout=10.0,
                    connection_retry={"max_tries": 1}, command_retry={"max_tries": 0}, **kw)
    # the first request can lose the race with the end of a refused exchange (kazoo 2.8's
    # connection thread dies on SessionClosedRequireSaslAuth, a code it does not know): the
    # session's fate is what the states then say
    out("  outcome:", session_outcome(c, settle=True))
    return c


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
