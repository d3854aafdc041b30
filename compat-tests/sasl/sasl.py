#!/usr/bin/python3
"""Client SASL (DIGEST-MD5) scenarios (issue #15): sasl.py --list | sasl.py --ferro CMD [--ref CMD] NAME...

The reference (lib/zk-reference) and the candidate run side by side with the same JAAS file
and the same JVM flags, given as zkServer.sh users give them:

    SERVER_JVMFLAGS="-Djava.security.auth.login.config=<jaas.conf>
                     -Dzookeeper.authProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider
                     -Dzookeeper.superUser=super"

with the admin guide's `Server { DigestLoginModule required user_super=… user_bob=… }`
section (plus alice). Each scenario runs real clients against both and compares masked
transcripts (lib/mask.py):

  sasl_zkcli           zkCli.sh with CLIENT_JVMFLAGS=-Djava.security.auth.login.config=<a
                       Client section>: bob creates a node only sasl:bob may use, alice is
                       refused, the super user reads it, a wrong password and an unknown user
                       get AuthFailed, a client without JAAS is refused
  sasl_zkcli_enforced  the same server with sessionRequireClientSASLAuth=true in zoo.cfg: a
                       client without SASL, with a wrong password, and bob
  sasl_kazoo           kazoo with sasl_options={"mechanism": "DIGEST-MD5", ...} (pure-sasl):
                       the same users and ACLs
  sasl_kazoo_enforced  kazoo under enforce.auth.enabled=true + enforce.auth.schemes=sasl
  sasl_curator         Curator 5.4 (curator/SaslScenarios.java), each client's JAAS section
                       named by its ZKClientConfig: bob creates a sasl:bob node and reads it
                       back, alice gets NoAuth, a wrong password gets no session
  sasl_garbled_token   a raw socket sends `sasl` packets whose tokens DIGEST-MD5 cannot parse
                       (garbled.py): each reply's error, whether the connection is closed and
                       whether the session survives
  sasl_zkcli_no_server_sasl
                       servers without SASL (no JAAS file, no SASL provider): zkCli.sh with a
                       JAAS Client section all the same
  sasl_garbled_token_no_server_sasl
                       garbled.py's `sasl` packets to servers without SASL

Servers are stopped by PID; every wait is bounded.
"""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
COMPAT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(COMPAT, "lib"))
from harness import (PY, ZK_REFERENCE, Server, curator, masked, paced_zkcli,  # noqa: E402
                     remove_unless_kept, report, scratch_dir, side_args, write_lines)

SASL = "org.apache.zookeeper.server.auth.SASLAuthenticationProvider"
SCENARIOS = ["zkcli", "zkcli_enforced", "kazoo", "kazoo_enforced", "curator", "garbled_token",
             "zkcli_no_server_sasl", "garbled_token_no_server_sasl"]
# scenario -> extra zoo.cfg lines of its server pair
PROFILES = {
    "zkcli": [],
    "kazoo": [],
    "zkcli_enforced": ["sessionRequireClientSASLAuth=true"],
    "kazoo_enforced": ["enforce.auth.enabled=true", "enforce.auth.schemes=sasl"],
    "curator": [],
    "garbled_token": [],
    "zkcli_no_server_sasl": [],
    "garbled_token_no_server_sasl": [],
}
# scenarios whose servers run without SASL: no JAAS file, no SASL provider
NO_SERVER_SASL = ("zkcli_no_server_sasl", "garbled_token_no_server_sasl")
USERS = {"super": "adminsecret", "bob": "bobsecret", "alice": "alicesecret"}


def write_jaas(d):
    """The server's JAAS file and one client file per (user, password)."""
    os.makedirs(d, exist_ok=True)
    server = os.path.join(d, "server.conf")
    with open(server, "w") as f:
        f.write("Server {\n       org.apache.zookeeper.server.auth.DigestLoginModule required\n")
        f.write("\n".join('       user_%s="%s"' % kv for kv in USERS.items()) + ";\n};\n")
    clients = {}
    for name, (user, password) in {"bob": ("bob", "bobsecret"), "alice": ("alice", "alicesecret"),
                                   "super": ("super", "adminsecret"), "wrong": ("bob", "nope"),
                                   "unknown": ("mallory", "nope2")}.items():
        path = os.path.join(d, "client-%s.conf" % name)
        with open(path, "w") as f:
            f.write('Client {\n       org.apache.zookeeper.server.auth.DigestLoginModule required\n'
                    '       username="%s"\n       password="%s";\n};\n' % (user, password))
        clients[name] = path
    # Curator picks a section per client (ZKClientConfig zookeeper.sasl.clientconfig)
    path = os.path.join(d, "clients.conf")
    with open(path, "w") as f:
        for name, (user, password) in {"bob": ("bob", "bobsecret"), "alice": ("alice", "alicesecret"),
                                       "wrong": ("bob", "nope")}.items():
            f.write('Client_%s {\n       org.apache.zookeeper.server.auth.DigestLoginModule '
                    'required\n       username="%s"\n       password="%s";\n};\n'
                    % (name, user, password))
    clients["sections"] = path
    return server, clients


def run_zkcli(server, clients, enforced):
    if enforced:
        sessions = [
            ("no JAAS", None, ["ls /", "whoami"]),
            ("bob, wrong password", clients["wrong"], ["ls /"]),
            ("bob", clients["bob"], ["whoami", "create /enf x", "ls /enf", "get /enf"]),
        ]
    else:
        sessions = [
            ("bob", clients["bob"], ["whoami", "create /bob data sasl:bob:cdrwa", "get /bob",
                                     "getAcl /bob", "create /bob-auth x auth::cdrwa",
                                     "getAcl /bob-auth", "create /bad x sasl:a@b@c:cdrwa"]),
            ("alice", clients["alice"], ["whoami", "get /bob", "set /bob x", "getAcl /bob"]),
            ("super", clients["super"], ["whoami", "get /bob", "set /bob super-was-here",
                                         "get /bob"]),
            ("no JAAS", None, ["whoami", "get /bob", "ls /"]),
            ("bob, wrong password", clients["wrong"], ["whoami", "get /bob", "ls /"]),
            ("unknown user", clients["unknown"], ["get /bob"]),
        ]
    return "zkcli", zkcli_sessions(server.port, sessions)


def run_zkcli_no_server_sasl(server, clients, _enforced):
    return "zkcli", zkcli_sessions(server.port, [
        ("bob", clients["bob"], ["whoami", "create /open x", "get /open",
                                 "create /bob x sasl:bob:cdrwa", "ls /"]),
        ("unknown user", clients["unknown"], ["whoami", "get /open"]),
    ])


def zkcli_sessions(port, sessions):
    """One paced zkCli.sh per (title, client JAAS file or None, commands), in turn."""
    lines = []
    for title, jaas, cmds in sessions:
        lines.append("### zkCli as %s" % title)
        lines.extend(paced_zkcli(port, jaas, cmds))
    return lines


def run_curator(server, clients, _enforced):
    return "curator", curator("SaslScenarios", "sasl_curator", ["127.0.0.1:%d" % server.port],
                              os.path.join(server.dir, "curator.err"),
                              ["-Djava.security.auth.login.config=" + clients["sections"]])


def run_garbled(server, _clients, _enforced, mech="digest"):
    out = subprocess.run([PY, os.path.join(HERE, "garbled.py"), str(server.port), mech],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300,
                         check=False, text=True)
    lines = out.stdout.splitlines()
    if out.returncode != 0:
        lines.append("!! garbled.py exited with %d" % out.returncode)
    return "garbled", lines


RUNNERS = {"zkcli": run_zkcli, "zkcli_enforced": run_zkcli, "curator": run_curator,
           "garbled_token": run_garbled, "zkcli_no_server_sasl": run_zkcli_no_server_sasl,
           "garbled_token_no_server_sasl": lambda s, c, e: run_garbled(s, c, e, "none")}


def run_kazoo(server, clients, enforced):
    out = subprocess.run([PY, os.path.join(HERE, "kazoo_sasl.py"), str(server.port),
                          "enforced" if enforced else "open"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=300,
                         check=False, text=True)
    return "kazoo", out.stdout.splitlines()


def run_scenario(name, cmds, tmp):
    jaas_server, clients = write_jaas(os.path.join(tmp, "jaas"))
    env = dict(os.environ)
    env.pop("JVMFLAGS", None)
    env["SERVER_JVMFLAGS"] = "" if name in NO_SERVER_SASL else " ".join([
        "-Djava.security.auth.login.config=" + jaas_server,
        "-Dzookeeper.authProvider.1=" + SASL,
        "-Dzookeeper.superUser=super",
    ])
    servers = {}
    results = {}
    try:
        for side in ("ref", "ferro"):
            servers[side] = Server(side, cmds[side], os.path.join(tmp, name, side),
                                   PROFILES[name], env)
        for s in servers.values():
            s.wait_up()
        enforced = name.endswith("_enforced")
        runner = RUNNERS.get(name, run_kazoo)
        for side, server in servers.items():
            kind, lines = runner(server, clients, enforced)
            results[side] = masked(kind, lines)
            write_lines(os.path.join(server.dir, "transcript.txt"), results[side])
    finally:
        for s in servers.values():
            s.stop()
    return results


def main(argv):
    if argv and argv[0] == "--list":
        print("\n".join(SCENARIOS))
        return 0
    args = side_args(argv, [ZK_REFERENCE], "sasl.py --ferro CMD [--ref CMD] NAME...")
    if args is None:
        return 2
    cmds, names = args
    tmp = scratch_dir("sasl.")
    failed = 0
    try:
        for name in names:
            try:
                results = run_scenario(name, cmds, tmp)
            except Exception as e:  # the harness reports, the caller counts missing results
                print("sasl driver error in %s: %s" % (name, e))
                failed += 1
                continue
            if not report("sasl_" + name, results["ref"], results["ferro"]):
                failed += 1
    finally:
        remove_unless_kept(tmp)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
