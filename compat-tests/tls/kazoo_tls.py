#!/usr/bin/python3
"""kazoo over TLS for tls.py: kazoo_tls.py PLAIN_PORT SECURE_PORT PKI_DIR

kazoo's use_ssl=True with PEM files (certfile, keyfile, ca). Prints a deterministic
transcript; every wait is bounded.
"""
import logging
import os
import sys

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException
from kazoo.security import make_acl

logging.basicConfig(level=logging.CRITICAL)
PLAIN, SECURE, PKI = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
ALICE = "CN=alice,OU=Eng,O=Example,C=US"
ROOT = "/tls_kazoo"
opened = []


def out(*args):
    print(*args, flush=True)


def client(port, who=None):
    kw = {}
    if who:
        kw = dict(use_ssl=True, ca=os.path.join(PKI, "ca.pem"),
                  certfile=os.path.join(PKI, who + ".crt"),
                  keyfile=os.path.join(PKI, who + ".key"))
    c = KazooClient(hosts="127.0.0.1:%d" % port, timeout=10.0, **kw)
    c.start(timeout=15)
    opened.append(c)
    return c


def err(fn, *a, **kw):
    try:
        return "ok %r" % (fn(*a, **kw),)
    except KazooException as e:
        return type(e).__name__


def acls(zk, path):
    try:
        acl, _ = zk.get_acls(path)
    except KazooException as e:
        return type(e).__name__
    return sorted("%s:%s:%d" % (a.id.scheme, a.id.id, a.perms) for a in acl)


def main():
    alice = client(SECURE, "alice")
    alice.create(ROOT, b"r")
    out("create alice", err(alice.create, ROOT + "/alice", b"secret",
                            acl=[make_acl("x509", ALICE, all=True)]))
    out("alice get", err(lambda: alice.get(ROOT + "/alice")[0]))
    out("alice acl", acls(alice, ROOT + "/alice"))
    bob = client(SECURE, "bob")
    out("bob get", err(bob.get, ROOT + "/alice"))
    out("bob acl", acls(bob, ROOT + "/alice"))
    out("bob creates for alice", err(bob.create, ROOT + "/for-alice", b"",
                                     acl=[make_acl("x509", ALICE, read=True)]))
    out("bob reads it", err(bob.get, ROOT + "/for-alice"))
    out("alice reads it", err(lambda: alice.get(ROOT + "/for-alice")[0]))
    out("no DN", err(bob.create, ROOT + "/bad", b"", acl=[make_acl("x509", "alice", all=True)]))
    out("auth acl", err(bob.create, ROOT + "/bobs", b"", acl=[make_acl("auth", "", all=True)]))
    out("bobs acl", acls(bob, ROOT + "/bobs"))
    out("addauth x509 over tls", err(bob.add_auth, "x509", "CN=mallory"))
    out("bob get after addauth", err(bob.get, ROOT + "/alice"))
    admin = client(SECURE, "super")
    out("super get", err(lambda: admin.get(ROOT + "/alice")[0]))
    out("super acl", acls(admin, ROOT + "/alice"))
    unified = client(PLAIN, "alice")
    out("tls on clientPort", err(lambda: unified.get(ROOT + "/alice")[0]))
    plain = client(PLAIN)
    out("plaintext on clientPort", err(plain.get, ROOT + "/alice"))
    out("plaintext children", sorted(plain.get_children(ROOT)))
    out("ruok over tls", alice.command(b"ruok"))
    out("ruok over plaintext", plain.command(b"ruok"))
    out("addauth x509 over plaintext", err(plain.add_auth, "x509", "anything"))
    for c in opened:
        try:
            c.stop()
            c.close()
        except Exception:  # closing a client the server closed
            pass


main()
