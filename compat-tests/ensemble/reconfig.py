#!/usr/bin/python3
"""zkCli.sh's `reconfig` and `config` on a 3-node ensemble: all reference ZooKeeper 3.8.0 vs
all candidate (ferrokeeper), the same commands, the masked transcripts compared.

    reconfig.py --list
    reconfig.py --ferro "<cmd> [args]" [--ref "<cmd> [args]"] SCENARIO...

Every scenario starts a fresh ensemble per side (reconfigEnabled=true and a superDigest for
super:test in zoo.cfg, as ZooKeeper's reconfig documentation sets it up) and drives it through
node 2, a follower (FastLeaderElection picks sid 3 when all start empty), so each reconfig is
forwarded to the leader. Scenarios:

  follower    without auth (NoAuth), then as super: -remove 1, config, -add 1 back, a stale -v
              (BadVersion), a malformed -add, -members 2,3 (non-incremental), -add 1 again,
              `config -c` and `config -s`, `get -s /zookeeper/config`
  leader      as super, -remove 3 (the leader): the reply (the committed config or
              ConnectionLoss, either of which 3.8 gives: see leader_reply), then (new zkCli, once
              1 and 2 serve again with a leader among them) `config` through 1 and 2, and 3
              back by -add

Besides the transcripts, after each scenario every running node's `/zookeeper/config` (read by
zkCli `config` through each node) and its zoo.cfg.dynamic.<version> of the last version must be
the same on each side. Ports are masked per node (<q1> <e1> <c1> ...), config versions as <V1>,
<V2>... in order of appearance, zxids and times by lib/mask.py.

Prints `PASS reconfig_<name>` / `FAIL reconfig_<name>` with a diff. Every process is stopped by
PID; temp dirs are removed unless KEEP_TMP=1.
"""

import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from cluster import (REF_CMD, Ensemble, Fail, log, print_fail, reap, run_dir,  # noqa: E402
                     wait_until)
import harness  # noqa: E402  (cluster puts compat-tests/lib on sys.path)

# super:test, the digest kazoo's harness and ZooKeeper's docs use
SUPER_DIGEST = "super:D/InIHSb7yEEbrWz8b9l71RjZJU="
EXTRA_CFG = f"reconfigEnabled=true\nDigestAuthenticationProvider.superDigest={SUPER_DIGEST}\n"
SCENARIOS = ["follower", "leader"]


def line(n):
    return (f"server.{n.sid}=127.0.0.1:{n.quorum_port}:{n.election_port}:participant;"
            f"127.0.0.1:{n.client_port}")


def follower_script(ens):
    n1, n2, n3 = ens.nodes
    return [
        ["reconfig -remove 1",
         "addauth digest super:test",
         "reconfig -remove 1",
         "config",
         f"reconfig -add {line(n1)}",
         "config",
         "reconfig -remove 1 -v 12345",
         "reconfig -add server.9=nonsense",
         "reconfig -add",
         f"reconfig -members {line(n2)},{line(n3)}",
         "config",
         f"reconfig -add {line(n1)}",
         "config -c",
         "config -s",
         "get -s /zookeeper/config"],
    ]


def run_script(ens, via, tmp, name, cmds):
    """One zkCli process through node `via` running `cmds`; its raw transcript lines."""
    os.makedirs(tmp, exist_ok=True)
    script = os.path.join(tmp, f"{name}.zk")
    with open(script, "w") as f:
        f.write("\n".join(cmds) + "\n")
    raw = os.path.join(tmp, "raw")
    os.makedirs(raw, exist_ok=True)
    return harness.zkcli_script(via.client_port, raw, script, dict(os.environ),
                                f"zkCli through server {via.sid}: {name}")


def config_of(ens, n, tmp, tag):
    """`config` through `n` after a sync, as zkCli prints it (no banners)."""
    lines = run_script(ens, n, tmp, f"cfg-{tag}-{n.sid}",
                       ["sync /zookeeper/config", "config"])
    return [ln for ln in lines[1:] if ln.startswith(("server.", "version="))]


def wait_config_everywhere(ens, nodes, tmp, tag):
    """Every node of `nodes` shows the same config (after a sync) and holds its dynamic file
    with the same text; the config's lines."""
    def same():
        texts = [config_of(ens, n, tmp, tag) for n in nodes]
        return texts[0] if texts[0] and all(t == texts[0] for t in texts) else None
    cfg = wait_until("the same /zookeeper/config on every node", same, 60, step=1)
    version = cfg[-1].split("=", 1)[1]
    files = {}
    for n in nodes:
        path = os.path.join(os.path.dirname(n.cfg), f"zoo.cfg.dynamic.{version}")
        try:
            with open(path) as f:
                files[n.sid] = f.read()
        except OSError as e:
            raise Fail(f"server {n.sid}: {e}")
    if len(set(files.values())) != 1:
        raise Fail(f"zoo.cfg.dynamic.{version} differs between nodes: {files}")
    return [f"# config on servers {[n.sid for n in nodes]}"] + cfg + \
        [f"# zoo.cfg.dynamic.<version> on every one of them: {len(files[nodes[0].sid].splitlines())} lines"]


def scenario(name, ens, tmp):
    n1, n2, n3 = ens.nodes
    out = []
    if name == "follower":
        out += run_script(ens, n2, tmp, "follower", follower_script(ens)[0])
        ens.wait_healthy(60)
        out += wait_config_everywhere(ens, ens.nodes, tmp, "end")
    elif name == "leader":
        leader = ens.leader()
        if leader.sid != 3:
            raise Fail(f"server {leader.sid} leads, not 3: the scenario needs 3 to lead")
        lines, printed = leader_reply(run_script(ens, n2, tmp, "leader-remove",
                                                 ["addauth digest super:test",
                                                  "reconfig -remove 3"]))
        out += lines
        ens.wait_healthy(60, nodes=[n1, n2])
        new = [n for n in (n1, n2) if n.mode() == "leader"]
        out.append(f"# after: server {new[0].sid if new else '?'} leads, "
                   f"server 3 is {'serving' if n3.mode() in ('leader', 'follower', 'observer') else 'not serving'}")
        committed = wait_config_everywhere(ens, [n1, n2], tmp, "removed")
        if printed and printed != [ln for ln in committed if not ln.startswith("#")]:
            raise Fail(f"the reply's config {printed} is not the committed {committed}")
        out += committed
        out += run_script(ens, n1, tmp, "leader-add",
                          ["addauth digest super:test", f"reconfig -add {line(n3)}", "config"])
        ens.wait_healthy(60)
        out += wait_config_everywhere(ens, ens.nodes, tmp, "end")
    return out


def leader_reply(lines):
    """3.8's follower commits a reconfig that moves the leadership and then leaves its role
    (Follower#processPacket), so the reply races the connection's close: zkCli prints the
    committed config or ConnectionLoss, and Disconnected / SyncConnected events come or not.
    The transcript with one line for either outcome and without those events; the config
    lines the reply printed (none on ConnectionLoss), checked later against the committed."""
    out, printed, in_reply = [], [], False
    for ln in lines:
        # zkCli's output and its watcher's interleave, so the reply is anywhere after the command
        if in_reply and ln.startswith(("server.", "version=")):
            printed.append(ln)
            continue
        if in_reply and ln.startswith(("Committed new configuration:",
                                       "KeeperErrorCode = ConnectionLoss")):
            continue
        if re.search(r"WatchedEvent state:(Disconnected|SyncConnected) ", ln):
            continue
        out.append(ln)
        if ln == "> reconfig -remove 3":
            out.append("<the committed config, or ConnectionLoss: 3.8 races the two>")
            in_reply = True
    return out, printed


def mask(ens, lines):
    ports = {}
    for n in ens.nodes:
        ports[str(n.quorum_port)] = f"<q{n.sid}>"
        ports[str(n.election_port)] = f"<e{n.sid}>"
        ports[str(n.client_port)] = f"<c{n.sid}>"
    versions = {}

    def version(m):
        v = versions.setdefault(m.group(2), f"<V{len(versions) + 1}>")
        return m.group(1) + v
    out = []
    for ln in lines:
        ln = re.sub(r"\b\d{2,5}\b", lambda m: ports.get(m.group(0), m.group(0)), ln)
        ln = re.sub(r"(version=|-v )([0-9a-f]+)", version, ln)
        # `config -c`: "<version> <connect string>"
        ln = re.sub(r"^()([0-9a-f]{9,16})(?= )", version, ln)
        out.append(ln)
    return harness.masked("zkcli", out)


def run_side(name, kind, cmd, tmp):
    root = os.path.join(tmp, f"{name}-{kind}")
    os.makedirs(root)
    ens = Ensemble([(kind, False)] * 3, root, {kind: cmd})
    for n in ens.nodes:
        with open(n.cfg, "a") as f:
            f.write(EXTRA_CFG)
    try:
        ens.start(90)
        lines = scenario(name, ens, os.path.join(root, "zkcli"))
        return mask(ens, lines)
    except Fail as e:
        raise Fail(f"{kind}: {e}\n  {ens.status()}\n" + ens.tails()) from None
    finally:
        ens.stop_all()
        reap()


def main():
    argv = sys.argv[1:]
    if argv[:1] == ["--list"]:
        print("\n".join(SCENARIOS))
        return 0
    parsed = harness.side_args(argv, REF_CMD, "reconfig.py --ferro '<cmd>' [--ref '<cmd>'] SCENARIO...")
    if parsed is None:
        return 2
    args, names = parsed
    bad = [n for n in names if n not in SCENARIOS]
    if bad:
        print(f"unknown scenarios: {bad}", file=sys.stderr)
        return 2
    tmp = run_dir("reconfig.")
    failed = 0
    for name in names:
        label = f"reconfig_{name}"
        t0 = time.time()
        try:
            ref = run_side(name, "zk", args["ref"], tmp)
            cand = run_side(name, "ferro", args["ferro"], tmp)
            if not harness.report(label, ref, cand):
                failed += 1
        except Exception as e:
            failed += 1
            print_fail(label, e)
        log(f"{label}: {time.time() - t0:.1f}s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
