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
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
COMPAT = os.path.dirname(HERE)
PY = "/usr/bin/python3"
ZKCLI = "/usr/share/zookeeper/bin/zkCli.sh"
SASL = "org.apache.zookeeper.server.auth.SASLAuthenticationProvider"
SCENARIOS = ["zkcli", "zkcli_enforced", "kazoo", "kazoo_enforced", "curator", "garbled_token",
             "zkcli_no_server_sasl", "garbled_token_no_server_sasl"]
# scenario -> extra zoo.cfg lines of its server pair
PROFILES = {
    "zkcli": "",
    "kazoo": "",
    "zkcli_enforced": "sessionRequireClientSASLAuth=true\n",
    "kazoo_enforced": "enforce.auth.enabled=true\nenforce.auth.schemes=sasl\n",
    "curator": "",
    "garbled_token": "",
    "zkcli_no_server_sasl": "",
    "garbled_token_no_server_sasl": "",
}
# scenarios whose servers run without SASL: no JAAS file, no SASL provider
NO_SERVER_SASL = ("zkcli_no_server_sasl", "garbled_token_no_server_sasl")
USERS = {"super": "adminsecret", "bob": "bobsecret", "alice": "alicesecret"}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


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


class Server:
    def __init__(self, name, cmd, d, extra, env):
        self.name = name
        self.dir = d
        self.port = free_port()
        os.makedirs(os.path.join(d, "data"), exist_ok=True)
        cfg = os.path.join(d, "zoo.cfg")
        with open(cfg, "w") as f:
            f.write("tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir=%s/data\n" % d
                    + "clientPort=%d\nclientPortAddress=127.0.0.1\nmaxClientCnxns=0\n" % self.port
                    + "4lw.commands.whitelist=*\nadmin.enableServer=false\n" + extra)
        self.log = open(os.path.join(d, "server.log"), "w")
        self.proc = subprocess.Popen(cmd + [cfg], stdout=self.log, stderr=subprocess.STDOUT,
                                     env=env, start_new_session=True)

    def wait_up(self, limit=60):
        deadline = time.time() + limit
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("%s server exited (%s)" % (self.name, self.proc.returncode))
            try:
                # serving, not just listening: 3.8 accepts before its ZooKeeperServer runs
                with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                    s.sendall(b"srvr")
                    s.settimeout(2)
                    answer = b""
                    while True:
                        chunk = s.recv(4096)
                        if not chunk:
                            break
                        answer += chunk
                if b"Mode:" in answer:
                    return
                time.sleep(0.3)
            except OSError:
                if time.time() > deadline:
                    raise RuntimeError("%s server: port %d never opened" % (self.name, self.port))
                time.sleep(0.3)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


NOISE = ("SLF4J", "Connecting to ", "Welcome to ZooKeeper", "JLine support", "WATCHER::")


def zkcli(port, jaas, cmds, pause=0.8, flags=(), base_env=None):
    """One zkCli.sh process, commands fed one by one (zkCli runs them as they arrive, and
    the SASL outcome must be known before the first); the output without banners and
    stack frames. `flags` are more CLIENT_JVMFLAGS, `base_env` the environment to start from
    (Kerberos: the KDC's)."""
    env = dict(os.environ if base_env is None else base_env)
    env.pop("JVMFLAGS", None)
    env["CLIENT_JVMFLAGS"] = " ".join(
        (["-Djava.security.auth.login.config=%s" % jaas] if jaas else []) + list(flags))
    proc = subprocess.Popen([ZKCLI, "-server", "127.0.0.1:%d" % port], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env, start_new_session=True)
    try:
        time.sleep(2.5)
        for cmd in cmds + ["quit"]:
            proc.stdin.write(cmd + "\n")
            proc.stdin.flush()
            time.sleep(pause)
        out, _ = proc.communicate(timeout=60)
    except (subprocess.TimeoutExpired, BrokenPipeError):
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        out = (out or "") + "\n!! zkCli did not finish\n"
    lines, states = [], set()
    for line in out.splitlines():
        s = line.strip()
        if not s or s.startswith("at ") or s.startswith("...") or any(n in line for n in NOISE):
            continue
        # How often a refused client reconnects before `quit` is timing (the reference itself
        # printed one Disconnected or two under load); which connection states the session
        # passed through is the server's behaviour, so each is kept once, in first-seen order.
        if s.startswith("WatchedEvent state:") and "type:None" in s:
            if s in states:
                continue
            states.add(s)
        lines.append(line)
    return lines


def run_zkcli(server, clients, enforced):
    p = server.port
    lines = []
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
    for title, jaas, cmds in sessions:
        lines.append("### zkCli as %s" % title)
        lines.extend(zkcli(p, jaas, cmds))
    return "zkcli", lines


def run_zkcli_no_server_sasl(server, clients, _enforced):
    lines = []
    for title, jaas, cmds in [
        ("bob", clients["bob"], ["whoami", "create /open x", "get /open",
                                 "create /bob x sasl:bob:cdrwa", "ls /"]),
        ("unknown user", clients["unknown"], ["whoami", "get /open"]),
    ]:
        lines.append("### zkCli as %s" % title)
        lines.extend(zkcli(server.port, jaas, cmds))
    return "zkcli", lines


def java_cp(jars):
    return ":".join("/usr/share/java/%s.jar" % j for j in jars
                    if os.path.exists("/usr/share/java/%s.jar" % j))


def run_curator(server, clients, _enforced):
    # the classes compat-tests/run compiles (compile_curator)
    cp = os.path.join(COMPAT, "out", "curator") + ":" + java_cp([
        "curator-recipes", "curator-framework", "curator-client", "zookeeper", "zookeeper-jute",
        "guava", "failureaccess", "slf4j-api", "slf4j-nop", "netty-handler", "netty-transport",
        "netty-common", "netty-buffer", "netty-codec", "netty-resolver",
        "netty-transport-native-epoll", "netty-transport-native-unix-common", "commons-io",
        "metrics-core", "snappy-java"])
    with open(os.path.join(server.dir, "curator.err"), "w") as err:
        out = subprocess.run(["java", "-Djava.security.auth.login.config=" + clients["sections"],
                              "-cp", cp, "SaslScenarios", "127.0.0.1:%d" % server.port],
                             stdout=subprocess.PIPE, stderr=err, timeout=300, check=False,
                             text=True)
    lines = out.stdout.splitlines()
    if "##BEGIN sasl_curator" in lines:
        lines = lines[lines.index("##BEGIN sasl_curator") + 1:]
    if "##END sasl_curator" in lines:
        lines = lines[:lines.index("##END sasl_curator")]
    else:
        lines.append("!! driver ended before ##END")
    return "curator", lines


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


def masked(kind, lines):
    r = subprocess.run([PY, os.path.join(COMPAT, "lib", "mask.py"), kind],
                       input="\n".join(lines) + "\n", stdout=subprocess.PIPE, text=True,
                       timeout=60, check=True)
    return r.stdout.splitlines()


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
            with open(os.path.join(server.dir, "transcript.txt"), "w") as f:
                f.write("\n".join(results[side]) + "\n")
    finally:
        for s in servers.values():
            s.stop()
    return results


def main(argv):
    if argv and argv[0] == "--list":
        print("\n".join(SCENARIOS))
        return 0
    cmds = {"ref": [os.path.join(COMPAT, "lib", "zk-reference")]}
    names = []
    while argv:
        a = argv.pop(0)
        if a in ("--ferro", "--ref"):
            cmds[a[2:]] = argv.pop(0).split()
        else:
            names.append(a)
    if "ferro" not in cmds:
        print("usage: sasl.py --ferro CMD [--ref CMD] NAME...", file=sys.stderr)
        return 2
    base = os.environ.get("ENSEMBLE_TMP") or tempfile.gettempdir()
    tmp = tempfile.mkdtemp(prefix="sasl.", dir=base)
    failed = 0
    try:
        for name in names:
            try:
                results = run_scenario(name, cmds, tmp)
            except Exception as e:  # the harness reports, the caller counts missing results
                print("sasl driver error in %s: %s" % (name, e))
                failed += 1
                continue
            ref, cand = results["ref"], results["ferro"]
            harness_error = [l for l in ref if l.startswith("!! ")]
            if ref == cand and not harness_error and ref:
                print("PASS sasl_%s" % name)
            else:
                failed += 1
                print("FAIL sasl_%s" % name)
                import difflib
                for line in difflib.unified_diff(ref, cand, "reference/sasl_" + name,
                                                 "candidate/sasl_" + name, lineterm=""):
                    print("    " + line)
                for line in harness_error:
                    print("    (reference) " + line)
            sys.stdout.flush()
    finally:
        if not os.environ.get("KEEP_TMP"):
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("kept %s" % tmp, file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
