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
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
COMPAT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(COMPAT, "lib"))
from harness import (PY, ZK_REFERENCE, Server, curator, free_port, java_cp,  # noqa: E402
                     masked, remove_unless_kept, report, scratch_dir, side_args, write_lines,
                     zkcli_script)
from pki import make_pki  # noqa: E402

SCENARIOS = ["zkcli", "kazoo", "curator"]
NETTY = "org.apache.zookeeper.server.NettyServerCnxnFactory"
X509 = "org.apache.zookeeper.server.auth.X509AuthenticationProvider"


def server_pem(pki):
    """The server's PEM key store, key unencrypted: 3.8.0's PemReader on Java 17 cannot
    decrypt the PBES2 keys openssl writes ("PBES2 SecretKeyFactory not available")."""
    path = os.path.join(pki.dir, "server-plainkey.pem")
    with open(path, "wb") as out:
        for part in ("server.key", "server.crt", "ca.pem"):
            with open(os.path.join(pki.dir, part), "rb") as f:
                out.write(f.read())
    return path


def tls_server(side, cmd, tmp, pki):
    """A server with a port-unified clientPort and a secureClientPort (`.secure`)."""
    trust = pki.trust("p12")
    secure = free_port()
    server = Server(side, cmd, os.path.join(tmp, side), [
        "secureClientPort=%d" % secure, "secureClientPortAddress=127.0.0.1",
        "client.portUnification=true", "serverCnxnFactory=" + NETTY,
        "ssl.keyStore.location=" + server_pem(pki),
        "ssl.trustStore.location=" + trust.path, "ssl.trustStore.password=" + trust.password,
        "authProvider.1=" + X509,
        "X509AuthenticationProvider.superUser=" + pki.client_dn("super"),
        "minSessionTimeout=4000", "maxSessionTimeout=40000",
    ])
    server.plain, server.secure = server.port, secure
    return server


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
        title = "%s (%s %s) on the %s port" % (who, fmt, "TLS",
                                               "secure" if port == server.secure else "unified")
        lines.extend(zkcli_script(port, raw, os.path.join(HERE, script), env, title))
    return "zkcli", lines


def run_kazoo(server, pki, raw):
    with open(os.path.join(raw, "kazoo.err"), "w") as err:
        out = subprocess.run([PY, os.path.join(HERE, "kazoo_tls.py"), str(server.plain),
                              str(server.secure), pki.dir], stdout=subprocess.PIPE, stderr=err,
                             timeout=300, check=False, text=True)
    return "kazoo", out.stdout.splitlines()


def run_curator(server, pki, raw):
    return "curator", curator("TlsScenarios", "tls_curator",
                              ["127.0.0.1:%d" % server.secure, pki.dir],
                              os.path.join(raw, "curator.err"))


RUNNERS = {"zkcli": run_zkcli, "kazoo": run_kazoo, "curator": run_curator}


def main(argv):
    if argv and argv[0] == "--list":
        print("\n".join(SCENARIOS))
        return 0
    args = side_args(argv, [ZK_REFERENCE], "tls.py --ferro CMD [--ref CMD] NAME...")
    if args is None:
        return 2
    cmds, names = args
    tmp = scratch_dir("tls.")
    pki = make_pki(os.path.join(tmp, "pki"))
    servers = {}
    failed = 0
    try:
        for side in ("ref", "ferro"):
            servers[side] = tls_server(side, cmds[side], tmp, pki)
        for s in servers.values():
            s.wait_up(more_ports=[s.secure])
        for name in names:
            results = {}
            for side, server in servers.items():
                raw = os.path.join(server.dir, "raw")
                os.makedirs(raw, exist_ok=True)
                kind, lines = RUNNERS[name](server, pki, raw)
                results[side] = masked(kind, lines)
                write_lines(os.path.join(raw, "tls_%s.txt" % name), results[side])
            if not report("tls_" + name, results["ref"], results["ferro"]):
                failed += 1
    except Exception as e:  # the harness reports, the caller counts missing results
        print("tls driver error: %s" % e)
        for s in servers.values():
            print("  %s log tail: %s" % (s.name, s.log_tail()))
    finally:
        for s in servers.values():
            s.stop()
        remove_unless_kept(tmp)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
