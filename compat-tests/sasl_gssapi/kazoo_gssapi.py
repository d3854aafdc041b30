#!/usr/bin/python3
"""kazoo with SASL GSSAPI (pure-sasl over python3-kerberos) for sasl_gssapi.py:
kazoo_gssapi.py PORT alice|bob

The Kerberos credentials are the ticket cache KRB5CCNAME names (the driver kinits the user
from the keytab into it). kazoo names the server's principal after the host it connects
to, so the client connects to localhost (127.0.0.1 in /etc/hosts): service "zookeeper" on
host "localhost" is zookeeper/localhost@EXAMPLE.COM. Prints a deterministic transcript;
every wait is bounded.
"""
import logging
import os
import struct
import sys
import time

from kazoo.client import KazooClient
from kazoo.exceptions import AuthFailedError
from kazoo.protocol.serialization import read_string
from kazoo.protocol.states import KeeperState
from kazoo.security import make_acl

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))
from harness import kazoo_result as err  # noqa: E402

logging.basicConfig(level=logging.CRITICAL)
PORT, WHO = int(sys.argv[1]), sys.argv[2]
ROOT = "/kazoo_gssapi"


def out(*args):
    print(*args, flush=True)


class WhoAmI:
    """OpCode.whoAmI (107), which kazoo 2.8 has no call for: a list of ClientInfo. Not a
    namedtuple: an empty tuple is false, and kazoo drops the reply of a false request."""
    type = 107

    def serialize(self):
        return bytearray()

    @classmethod
    def deserialize(cls, buf, offset):
        (count,) = struct.unpack_from("!i", buf, offset)
        offset += 4
        ids = []
        for _ in range(max(count, 0)):
            scheme, offset = read_string(buf, offset)
            user, offset = read_string(buf, offset)
            ids.append("%s=%s" % (scheme, user))
        return sorted(ids)


def whoami(c):
    r = c.handler.async_result()
    c._call(WhoAmI(), r)
    return r.get(timeout=10)


def client():
    """A started client and how its session began; kazoo reports CONNECTED before its SASL
    exchange, so the outcome is read from the first request (it waits for the exchange)."""
    c = KazooClient(hosts="localhost:%d" % PORT, timeout=10.0,
                    sasl_options={"mechanism": "GSSAPI", "service": "zookeeper"},
                    connection_retry={"max_tries": 1}, command_retry={"max_tries": 0})
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
            break
        time.sleep(0.05)
    out("  outcome:", outcome)
    return c


def acl_text(acls):
    return sorted("%s:%s:%d" % (a.id.scheme, a.id.id, a.perms) for a in acls)


def main():
    out("## %s" % WHO)
    c = client()
    mine = [make_acl("sasl", "alice@EXAMPLE.COM", all=True)]
    short = [make_acl("sasl", "alice", all=True)]
    if WHO == "alice":
        steps = [
            ("whoami", lambda: whoami(c)),
            ("create root", lambda: c.create_async(ROOT, b"gss")),
            ("create mine", lambda: c.create_async(ROOT + "/mine", b"x", acl=mine)),
            ("acl mine", lambda: acl_text(c.get_acls_async(ROOT + "/mine").get(timeout=10)[0])),
            ("get mine", lambda: c.get_async(ROOT + "/mine")),
            ("create shortname", lambda: c.create_async(ROOT + "/shortname", b"y", acl=short)),
            ("get shortname", lambda: c.get_async(ROOT + "/shortname")),
        ]
    else:
        steps = [
            ("whoami", lambda: whoami(c)),
            ("get mine", lambda: c.get_async(ROOT + "/mine")),
            ("set mine", lambda: c.set_async(ROOT + "/mine", b"bob")),
            ("children", lambda: sorted(c.get_children_async(ROOT).get(timeout=10))),
        ]
    for label, fn in steps:
        out("  %s: %s" % (label, err(fn)))
    try:
        c.stop()
        c.close()
    except Exception:
        pass


main()
