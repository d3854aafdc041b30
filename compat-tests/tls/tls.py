#!/usr/bin/python3
"""Client TLS scenarios (issue #14): tls.py --list | tls.py --ferro CMD [--ref CMD] NAME...

Starts the reference (zk-reference, with serverCnxnFactory=NettyServerCnxnFactory, which
3.8 needs for TLS) and the candidate side by side with the same zoo.cfg TLS lines:

    clientPort (+ client.portUnification=true), secureClientPort, ssl.keyStore (PEM),
    ssl.trustStore (PKCS12), authProvider.1=X509AuthenticationProvider,
    X509AuthenticationProvider.superUser=<admin's DN>

then runs each scenario against both, masks the transcripts with lib/mask.py and prints
PASS/FAIL tls_<name> (with a diff). PKI: lib/pki.py, made once in the run's temp dir.

  tls_zkcli    zkCli.sh over Netty TLS (CLIENT_JVMFLAGS): alice's JKS key store on
               secureClientPort, bob's PKCS12 on the port-unified clientPort; whoami,
               x509 ACLs, an id that is no DN, addauth x509
  tls_kazoo    kazoo use_ssl=True with PEM certfile/keyfile/ca: a node only alice's DN may
               read (bob NoAuth, the super user reads), auth ACLs, TLS and plaintext on the
               unified clientPort, addauth x509 over plaintext, ruok over TLS
  tls_curator  Curator with a TLS ZKClientConfig (PKCS12 and JKS key stores)

The C client (cli_mt) of Debian's zookeeper-bin is built without OpenSSL (no --ssl option),
so it has no TLS scenario. Servers are stopped by PID; every wait is bounded.
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
sys.path.insert(0, os.path.join(COMPAT, "lib"))
from pki import make_pki  # noqa: E402

PY = "/usr/bin/python3"
J = "/usr/share/java"
SCENARIOS = ["zkcli", "kazoo", "curator"]
PASS = "changeit"
NETTY = "org.apache.zookeeper.server.NettyServerCnxnFactory"
X509 = "org.apache.zookeeper.server.auth.X509AuthenticationProvider"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def server_pem(pki):
    """The server's PEM key store, key unencrypted: 3.8.0's PemReader on Java 17 cannot
    decrypt the PBES2 keys openssl writes ("PBES2 SecretKeyFactory not available")."""
    path = os.path.join(pki.dir, "server-plainkey.pem")
    with open(path, "wb") as out:
        for part in ("server.key", "server.crt", "ca.pem"):
            with open(os.path.join(pki.dir, part), "rb") as f:
                out.write(f.read())
    return path


def write_cfg(d, plain, secure, pki):
    os.makedirs(os.path.join(d, "data"), exist_ok=True)
    trust = pki.trust("p12")
    lines = [
        "tickTime=2000", "initLimit=10", "syncLimit=5", "dataDir=%s/data" % d,
        "clientPort=%d" % plain, "clientPortAddress=127.0.0.1",
        "secureClientPort=%d" % secure, "secureClientPortAddress=127.0.0.1",
        "client.portUnification=true", "serverCnxnFactory=" + NETTY,
        "ssl.keyStore.location=" + server_pem(pki),
        "ssl.trustStore.location=" + trust.path, "ssl.trustStore.password=" + trust.password,
        "authProvider.1=" + X509,
        "X509AuthenticationProvider.superUser=" + pki.client_dn("super"),
        "maxClientCnxns=0", "minSessionTimeout=4000", "maxSessionTimeout=40000",
        "4lw.commands.whitelist=*", "admin.enableServer=false",
    ]
    path = os.path.join(d, "zoo.cfg")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


class Server:
    def __init__(self, name, cmd, tmp, pki):
        self.name = name
        self.dir = os.path.join(tmp, name)
        self.plain, self.secure = free_port(), free_port()
        cfg = write_cfg(self.dir, self.plain, self.secure, pki)
        self.log = open(os.path.join(self.dir, "server.log"), "w")
        self.proc = subprocess.Popen(cmd + [cfg], stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def wait_up(self, limit=60):
        deadline = time.time() + limit
        for port in (self.plain, self.secure):
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError("%s server exited (%s)" % (self.name, self.proc.returncode))
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.time() > deadline:
                        raise RuntimeError("%s server: port %d never opened" % (self.name, port))
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


def java_cp(extra=()):
    jars = ["zookeeper", "zookeeper-jute", "netty-handler", "netty-transport", "netty-common",
            "netty-buffer", "netty-codec", "netty-resolver", "netty-transport-native-epoll",
            "netty-transport-native-unix-common", "slf4j-api", "slf4j-nop", "commons-io",
            "metrics-core", "snappy-java"] + list(extra)
    return ":".join("%s/%s.jar" % (J, j) for j in jars if os.path.exists("%s/%s.jar" % (J, j)))


def zkcli_flags(pki, who, fmt):
    store = pki.client(who, fmt)
    trust = pki.trust("jks")
    # the Debian zookeeper.jar's manifest lacks netty-codec/-resolver/-unix-common, which
    # the Netty client socket needs: a later -cp on the java command line wins
    return " ".join([
        "-cp /etc/zookeeper/conf:" + java_cp(),
        "-Dzookeeper.client.secure=true",
        "-Dzookeeper.clientCnxnSocket=org.apache.zookeeper.ClientCnxnSocketNetty",
        "-Dzookeeper.ssl.keyStore.location=" + store.path,
        "-Dzookeeper.ssl.keyStore.password=" + store.password,
        "-Dzookeeper.ssl.keyStore.type=" + store.type,
        "-Dzookeeper.ssl.trustStore.location=" + trust.path,
        "-Dzookeeper.ssl.trustStore.password=" + trust.password,
    ])


def run_zkcli(server, pki, raw):
    lines = []
    for who, fmt, port, script in (("alice", "jks", server.secure, "alice.zk"),
                                   ("bob", "p12", server.plain, "bob.zk")):
        env = dict(os.environ, CLIENT_JVMFLAGS=zkcli_flags(pki, who, fmt))
        subprocess.run([PY, os.path.join(COMPAT, "lib", "zkcli.py"), "127.0.0.1:%d" % port, raw,
                        os.path.join(HERE, script)], env=env, timeout=300, check=False)
        name = "zkcli_" + script[:-3]
        lines.append("### %s (%s %s) on the %s port" % (who, fmt, "TLS",
                                                       "secure" if port == server.secure else "unified"))
        try:
            with open(os.path.join(raw, name + ".raw")) as f:
                lines.extend(f.read().splitlines())
        except OSError:
            lines.append("!! no zkCli transcript for %s" % name)
    return "zkcli", lines


def run_kazoo(server, pki, raw):
    out = subprocess.run([PY, os.path.join(HERE, "kazoo_tls.py"), str(server.plain),
                          str(server.secure), pki.dir], stdout=subprocess.PIPE,
                         stderr=open(os.path.join(raw, "kazoo.err"), "w"), timeout=300,
                         check=False, text=True)
    return "kazoo", out.stdout.splitlines()


def run_curator(server, pki, raw):
    cp = os.path.join(COMPAT, "out", "curator") + ":" + java_cp(
        ["curator-recipes", "curator-framework", "curator-client", "guava", "failureaccess"])
    out = subprocess.run(["java", "-cp", cp, "TlsScenarios", "127.0.0.1:%d" % server.secure,
                          pki.dir], stdout=subprocess.PIPE,
                         stderr=open(os.path.join(raw, "curator.err"), "w"), timeout=300,
                         check=False, text=True)
    lines = out.stdout.splitlines()
    if "##BEGIN tls_curator" in lines:
        lines = lines[lines.index("##BEGIN tls_curator") + 1:]
    if "##END tls_curator" in lines:
        lines = lines[:lines.index("##END tls_curator")]
    else:
        lines.append("!! driver ended before ##END")
    return "curator", lines


RUNNERS = {"zkcli": run_zkcli, "kazoo": run_kazoo, "curator": run_curator}


def masked(kind, lines):
    r = subprocess.run([PY, os.path.join(COMPAT, "lib", "mask.py"), kind],
                       input="\n".join(lines) + "\n", stdout=subprocess.PIPE, text=True,
                       timeout=60, check=True)
    return r.stdout.splitlines()


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
        print("usage: tls.py --ferro CMD [--ref CMD] NAME...", file=sys.stderr)
        return 2
    base = os.environ.get("ENSEMBLE_TMP") or tempfile.gettempdir()
    tmp = tempfile.mkdtemp(prefix="tls.", dir=base)
    pki = make_pki(os.path.join(tmp, "pki"))
    servers = {}
    failed = 0
    try:
        for side in ("ref", "ferro"):
            servers[side] = Server(side, cmds[side], tmp, pki)
        for s in servers.values():
            s.wait_up()
        for name in names:
            results = {}
            for side, server in servers.items():
                raw = os.path.join(server.dir, "raw")
                os.makedirs(raw, exist_ok=True)
                kind, lines = RUNNERS[name](server, pki, raw)
                results[side] = masked(kind, lines)
                with open(os.path.join(raw, "tls_%s.txt" % name), "w") as f:
                    f.write("\n".join(results[side]) + "\n")
            ref, cand = results["ref"], results["ferro"]
            harness_error = [l for l in ref if l.startswith("!! ") or l.startswith("EXCEPTION")]
            if ref == cand and not harness_error and ref:
                print("PASS tls_%s" % name)
            else:
                failed += 1
                print("FAIL tls_%s" % name)
                import difflib
                for line in difflib.unified_diff(ref, cand, "reference/tls_" + name,
                                                 "candidate/tls_" + name, lineterm=""):
                    print("    " + line)
                for line in harness_error:
                    print("    (reference) " + line)
            sys.stdout.flush()
    except Exception as e:  # the harness reports, the caller counts missing results
        print("tls driver error: %s" % e)
        for s in servers.values():
            try:
                with open(os.path.join(s.dir, "server.log")) as f:
                    print("  %s log tail: %s" % (s.name, " | ".join(f.read().splitlines()[-5:])))
            except OSError:
                pass
    finally:
        for s in servers.values():
            s.stop()
        if not os.environ.get("KEEP_TMP"):
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("kept %s" % tmp, file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
