#!/usr/bin/python3
"""Kerberos (GSSAPI) client authentication: sasl_gssapi.py --list |
sasl_gssapi.py [--ferro CMD] [--ref CMD] NAME...

A throwaway MIT KDC (lib/kdc.py) serves realm EXAMPLE.COM. The reference ZooKeeper 3.8 runs
with a JAAS `Server` section (Krb5LoginModule, useKeyTab, principal
zookeeper/localhost@EXAMPLE.COM), -Djava.security.krb5.conf pointing at the KDC's krb5.conf,
and authProvider.1=SASLAuthenticationProvider; zkCli.sh authenticates with a JAAS `Client`
section from alice's and then bob's keytab.

  kerberos_zkcli     alice: whoami, a node only sasl:alice@EXAMPLE.COM may use, and one
                     for sasl:alice (which does not match her id); bob: NoAuth on hers
  kerberos_kazoo     kazoo (pure-sasl over python3-kerberos) from alice's and then bob's
                     ticket cache (kinit from the keytab): whoAmI, the same ACLs
  kerberos_garbled_token
                     a raw socket sends `sasl` packets GSSAPI cannot accept (sasl/garbled.py)
  kerberos_expired_ticket
                     zkCli.sh whose login cannot get a ticket: the principal `expired`
                     (the KDC refuses it) and alice's ticket cache after its 5 s lifetime
  kerberos_auth_to_local
                     servers with -Dzookeeper.security.auth_to_local=<a rule mapping alice to
                     carol>, kerberos.removeRealmFromPrincipal=true and letAnySaslUserDoX=anybody
                     (their own pair): alice's and bob's whoami and ACLs (a2l_*.zk)

Without --ferro only the reference runs, and its transcript is checked for what Kerberos
must have done (each user's sasl id, bob's NoAuth): this pins the KDC set-up to what Java
expects. With --ferro the candidate runs beside it with the same files (its JAAS file in
SERVER_JVMFLAGS) and the masked transcripts must match. Servers and the KDC are stopped
by PID; every wait is bounded.
"""
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
COMPAT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(COMPAT, "lib"))
from kdc import make_kdc  # noqa: E402
from harness import (PY, J, Server as HarnessServer, harness_errors, masked,  # noqa: E402
                     paced_zkcli, remove_unless_kept, report, scratch_dir, write_lines,
                     zkcli_script)


SCENARIOS = ["zkcli", "kazoo", "garbled_token", "expired_ticket", "auth_to_local"]
# scenario -> the extra JVM flags of its own server pair (the others share one plain pair);
# the rule holds no blank, as SERVER_JVMFLAGS is split on blanks
PROFILES = {"auth_to_local": (
    r"-Dzookeeper.security.auth_to_local=RULE:[1:$1@$0](alice@EXAMPLE\.COM)s/alice@.*/carol/",
    "-Dzookeeper.kerberos.removeRealmFromPrincipal=true",
    "-Dzookeeper.letAnySaslUserDoX=anybody",
)}
SASL = "org.apache.zookeeper.server.auth.SASLAuthenticationProvider"
KRB5 = "com.sun.security.auth.module.Krb5LoginModule"


def jaas(path, section, keytab, principal):
    with open(path, "w") as f:
        f.write('%s {\n  %s required\n  useKeyTab=true\n  keyTab="%s"\n  storeKey=true\n'
                '  useTicketCache=false\n  principal="%s";\n};\n'
                % (section, KRB5, keytab, principal))
    return path


def reference_cmd():
    # as lib/zk-reference, with the JVM flags a Kerberos deployment sets in SERVER_JVMFLAGS
    netty = ":".join("%s/%s.jar" % (J, j) for j in
                     ("netty-codec", "netty-resolver", "netty-transport-native-unix-common"))
    cp = ":".join("%s/%s.jar" % (J, j) for j in
                  ("zookeeper", "zookeeper-jute", "slf4j-api", "slf4j-simple")) + ":" + netty
    return ["java", "-Xmx256m", "-XX:+UseSerialGC", "-Dzookeeper.admin.enableServer=false",
            "-cp", cp, "org.apache.zookeeper.server.quorum.QuorumPeerMain"]


def server(name, cmd, tmp, kdc, extra_flags=(), profile=""):
    """One side's server with the Kerberos `Server` login in SERVER_JVMFLAGS (on the java
    command line for the reference) and the KDC's environment."""
    d = os.path.join(tmp, profile, name)
    os.makedirs(d, exist_ok=True)
    server_jaas = jaas(os.path.join(d, "server.jaas"), "Server", kdc.keytab("zookeeper"),
                       kdc.principal("zookeeper"))
    flags = ["-Djava.security.auth.login.config=" + server_jaas,
             "-Djava.security.krb5.conf=" + kdc.krb5_conf] + list(extra_flags)
    env = kdc.env()
    env["SERVER_JVMFLAGS"] = " ".join(flags)
    if name == "ref":
        cmd = cmd[:1] + flags + cmd[1:]
    return HarnessServer(name, cmd, d, ["authProvider.1=" + SASL], env)


def run_zkcli(server, kdc, raw, scripts=(("alice", "alice"), ("bob", "bob"))):
    lines = []
    for who, script in scripts:
        client_jaas = jaas(os.path.join(raw, who + ".jaas"), "Client", kdc.keytab(who),
                           kdc.principal(who))
        env = kdc.env()
        env["CLIENT_JVMFLAGS"] = " ".join([
            "-Djava.security.auth.login.config=" + client_jaas,
            "-Djava.security.krb5.conf=" + kdc.krb5_conf,
            # the server's principal, not derived from reverse DNS of 127.0.0.1
            "-Dzookeeper.server.principal=" + kdc.principal("zookeeper"),
        ])
        lines.extend(zkcli_script(server.port, raw, os.path.join(HERE, script + ".zk"), env,
                                  who))
    return "zkcli", lines


def kinit(kdc, who, ccache, lifetime=None):
    env = kdc.env()
    env["KRB5CCNAME"] = "FILE:" + ccache
    args = ["kinit"] + (["-l", lifetime] if lifetime else []) + [
        "-k", "-t", kdc.keytab(who), kdc.principal(who)]
    r = subprocess.run(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=60, check=False)
    return env, r


def run_kazoo(server, kdc, raw):
    lines = []
    for who in ("alice", "bob"):
        env, r = kinit(kdc, who, os.path.join(raw, who + ".ccache"))
        if r.returncode != 0:
            lines.append("!! kinit %s: %s" % (who, r.stdout.strip()))
            continue
        with open(os.path.join(raw, "kazoo_%s.err" % who), "w") as err:
            out = subprocess.run([PY, os.path.join(HERE, "kazoo_gssapi.py"), str(server.port), who],
                                 env=env, stdout=subprocess.PIPE, stderr=err, timeout=120,
                                 check=False, text=True)
        lines.extend(out.stdout.splitlines())
    return "kazoo", lines


def run_garbled(server, kdc, raw):
    # alice's ticket for the case that completes an exchange before its last token
    env, r = kinit(kdc, "alice", os.path.join(raw, "garbled.ccache"))
    if r.returncode != 0:
        return "garbled", ["!! kinit alice: %s" % r.stdout.strip()]
    out = subprocess.run([PY, os.path.join(COMPAT, "sasl", "garbled.py"), str(server.port),
                          "gssapi"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         env=env, timeout=300, check=False, text=True)
    lines = out.stdout.splitlines()
    if out.returncode != 0:
        lines.append("!! garbled.py exited with %d" % out.returncode)
    return "garbled", lines


def run_expired(server, kdc, raw):
    """Clients whose JAAS login gets no valid ticket: 3.8's client goes on without SASL
    (an AuthFailed event), and the server sees an unauthenticated session."""
    short = os.path.join(raw, "short.ccache")
    _env, r = kinit(kdc, "alice", short, "5s")
    if r.returncode != 0:
        return "zkcli", ["!! kinit -l 5s alice: %s" % r.stdout.strip()]
    expired_jaas = jaas(os.path.join(raw, "expired.jaas"), "Client", kdc.keytab("expired"),
                        kdc.principal("expired"))
    cache_jaas = os.path.join(raw, "short.jaas")
    with open(cache_jaas, "w") as f:
        f.write('Client {\n  %s required\n  useKeyTab=false\n  useTicketCache=true\n'
                '  ticketCache="%s"\n  doNotPrompt=true\n  principal="%s";\n};\n'
                % (KRB5, short, kdc.principal("alice")))
    flags = ["-Djava.security.krb5.conf=" + kdc.krb5_conf,
             "-Dzookeeper.server.principal=" + kdc.principal("zookeeper")]
    # the KDC's clock decides: wait past the 5 s lifetime (and a second of skew)
    time.sleep(7)
    lines = []
    for title, client_jaas, node in (("principal expired in the KDC", expired_jaas, "/kexp_principal"),
                                     ("alice, ticket cache expired", cache_jaas, "/kexp_cache")):
        lines.append("### %s" % title)
        lines.extend(paced_zkcli(server.port, client_jaas,
                                 ["whoami", "create %s x" % node, "create %s/auth x auth::cdrwa" % node,
                                  "getAcl %s" % node, "ls %s" % node],
                                 flags=flags, base_env=kdc.env()))
    return "zkcli", lines


RUNNERS = {"zkcli": run_zkcli, "kazoo": run_kazoo, "garbled_token": run_garbled,
           "expired_ticket": run_expired,
           "auth_to_local": lambda server, kdc, raw: run_zkcli(
               server, kdc, raw, (("alice", "a2l_alice"), ("bob", "a2l_bob")))}
# what Kerberos must have done on the reference: (scenario, line that must appear)
EXPECTED = {"zkcli": ["sasl: alice@EXAMPLE.COM", "sasl: bob@EXAMPLE.COM",
                      "'sasl,'alice@EXAMPLE.COM", "Insufficient permission : /zkcli_alice/mine",
                      "Insufficient permission : /zkcli_alice/shortname"],
            "kazoo": ["whoami: ok ['ip=127.0.0.1', 'sasl=alice@EXAMPLE.COM']",
                      "whoami: ok ['ip=127.0.0.1', 'sasl=bob@EXAMPLE.COM']",
                      "get mine: error NoAuthError"],
            "garbled_token": ["err=AuthFailed"],
            "expired_ticket": ["state:AuthFailed"],
            # alice mapped to carol (realm removed), bob unmapped (his principal, as requested);
            # bob reads carol's node through sasl:anybody only
            "auth_to_local": ["sasl: carol", "sasl: bob@EXAMPLE.COM", "'sasl,'anybody",
                              "Insufficient permission : /zkcli_a2l_alice/principal",
                              "Insufficient permission : /zkcli_a2l_alice/carol"]}


def run_one(name, servers, kdc):
    """Run one scenario on a started server pair; 1 if it failed."""
    failed = 0
    results = {}
    for side, server in servers.items():
        raw = os.path.join(server.dir, "raw")
        os.makedirs(raw, exist_ok=True)
        kind, lines = RUNNERS[name](server, kdc, raw)
        results[side] = masked(kind, lines)
        write_lines(os.path.join(raw, "kerberos_%s.txt" % name), results[side])
    ref = results["ref"]
    problems = ["(reference) " + line for line in harness_errors(ref)]
    text = "\n".join(ref)
    problems += ["(reference) missing: %s" % e for e in EXPECTED[name] if e not in text]
    if not report("kerberos_" + name, ref, results.get("ferro", ref), problems):
        failed += 1
        if "ferro" not in results:
            print("    reference transcript:")
            for line in ref:
                print("      " + line)
    sys.stdout.flush()
    return failed


def main(argv):
    if argv and argv[0] == "--list":
        print("\n".join(SCENARIOS))
        return 0
    cmds = {"ref": reference_cmd()}
    names = []
    while argv:
        a = argv.pop(0)
        if a in ("--ferro", "--ref"):
            cmds[a[2:]] = argv.pop(0).split()
        else:
            names.append(a)
    names = names or SCENARIOS
    tmp = scratch_dir("sasl_gssapi.")
    kdc = make_kdc(os.path.join(tmp, "kdc"))
    servers = {}
    failed = 0
    try:
        kdc.start()
        # scenarios sharing a profile share one server pair, started when first needed
        for profile in sorted({PROFILES.get(n, ()) for n in names}, key=len):
            for s in servers.values():
                s.stop()
            servers = {}
            pname = "-".join(n for n in names if PROFILES.get(n, ()) == profile and profile)
            for side in [s for s in ("ref", "ferro") if s in cmds]:
                servers[side] = server(side, cmds[side], tmp, kdc, profile, pname)
            for s in servers.values():
                s.wait_up()
            for name in [n for n in names if PROFILES.get(n, ()) == profile]:
                failed += run_one(name, servers, kdc)
    except Exception as e:  # the harness reports, the caller counts missing results
        failed += 1
        print("sasl_gssapi driver error: %s" % e)
        for s in servers.values():
            print("  %s log tail: %s" % (s.name, s.log_tail(5)))
        print("  kdc: " + kdc.log_tail(5).replace("\n", " | "))
    finally:
        for s in servers.values():
            s.stop()
        kdc.stop()
        remove_unless_kept(tmp)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
