"""Read-only mode side by side: a 3-node ensemble of the reference, then one of the candidate,
both with `-Dreadonlymode.enabled=true` (SERVER_JVMFLAGS for the candidate, the JVM's command
line for the reference) and `localSessionsEnabled=true` (3.8's read-only server cannot create
a session without it). Nodes 2 and 3 are cut off (their network namespaces' links down; on
127.0.0.1, without namespaces, they are stopped instead), so node 1 is alone: a kazoo
`read_only=True` client reads from it, its writes and sync fail NotReadOnly, a read-write
client gets no session, isro/srvr/mntr say read-only. Then 2 and 3 come back: the client
ends up in read-write service (a new session) and writes. The masked transcripts must match.

    read_only.py --ferro CMD [--ref CMD] [kazoo]
"""
import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "ensemble"))
sys.path.insert(0, HERE)
import cluster  # noqa: E402
import harness  # noqa: E402
import netns  # noqa: E402

FLAG = "-Dreadonlymode.enabled=true"
SCENARIOS = ["kazoo"]


def transcript(kind, cmd, net):
    from kazoo.client import KazooClient
    from kazoo.protocol.states import KeeperState
    root = harness.scratch_dir(f"ro-{kind}-")
    place = net.place if net else None
    ens = cluster.Ensemble([(kind, False)] * 3, root, {kind: cmd}, place=place)
    for n in ens.nodes:
        with open(n.cfg, "a") as f:
            f.write("localSessionsEnabled=true\n")
    out = []
    try:
        ens.start()
        alone, others = ens.nodes[0], ens.nodes[1:]
        rw = KazooClient(hosts=alone.hp)
        rw.start(15)
        out.append("setup create " + harness.kazoo_result(rw.create, "/ro", b"kept"))
        rw.stop()
        rw.close()
        for n in others:
            net.cut(n.sid) if net else n.stop()
        cluster.wait_until("node 1 read-only",
                           lambda: cluster.four_letter(alone.hp, "isro") == "ro", 60)
        out.append("isro " + cluster.four_letter(alone.hp, "isro"))
        srvr = cluster.four_letter(alone.hp, "srvr").splitlines()
        out.append("srvr " + " | ".join(ln for ln in srvr if ln.startswith(("READ-ONLY", "Mode"))))
        mntr = cluster.four_letter(alone.hp, "mntr")
        out.append("mntr " + " ".join(re.findall(r"^zk_server_state\t.*$", mntr, re.M)))
        c = KazooClient(hosts=alone.hp, read_only=True)
        states = []
        c.add_listener(lambda s: states.append(str(s)))
        c.start(15)
        out.append(f"ro client state {c.client_state}")
        out.append("get " + harness.kazoo_result(c.get, "/ro"))
        # sorted: ferrokeeper lists children in its own order, not HashSet's, in any mode
        out.append("children " + harness.kazoo_result(lambda: sorted(c.get_children("/"))))
        out.append("exists " + harness.kazoo_result(lambda: c.exists("/none")))
        out.append("create " + harness.kazoo_result(c.create, "/x", b""))
        out.append("set " + harness.kazoo_result(c.set, "/ro", b"new"))
        out.append("delete " + harness.kazoo_result(c.delete, "/ro"))
        out.append("sync " + harness.kazoo_result(c.sync, "/ro"))
        out.append("multi " + harness.kazoo_result(
            lambda: c.transaction().create("/y").commit()))
        other = KazooClient(hosts=alone.hp, connection_retry={"max_tries": 0})
        try:
            other.start(4)
            out.append("rw client: connected")
        except Exception as e:
            out.append(f"rw client: {type(e).__name__}")
        finally:
            other.stop()
            other.close()
        for n in others:
            net.heal(n.sid) if net else n.start(ens.cmd(n))
        ens.wait_healthy(90, ens.nodes)
        cluster.wait_until("the client back in read-write service",
                           lambda: c.client_state == KeeperState.CONNECTED, 60)
        out.append(f"after heal client state {c.client_state}")
        out.append("states " + " ".join(dict.fromkeys(states)))
        out.append("create " + harness.kazoo_result(c.create, "/after", b""))
        out.append("get " + harness.kazoo_result(c.get, "/ro"))
        out.append("isro " + cluster.four_letter(alone.hp, "isro"))
        c.stop()
        c.close()
    except cluster.Fail as e:
        out.append(f"!! {e}")
    finally:
        if net:
            net.reset()
        ens.stop_all()
        harness.remove_unless_kept(root, cluster.log)
    return out


def main(argv):
    parsed = harness.side_args(argv, None, "read_only.py --ferro CMD [--ref CMD] [kazoo]")
    if parsed is None:
        return 2
    cmds, names = parsed
    if "--list" in names:
        print("\n".join("readonly_" + s for s in SCENARIOS))
        return 0
    ref = cmds["ref"] or cluster.REF_CMD[:1] + [FLAG] + cluster.REF_CMD[1:]
    os.environ["SERVER_JVMFLAGS"] = FLAG  # the candidate reads the JVM flags zkServer.sh would
    why = netns.available()
    net = netns.Net() if why is None else None
    if net is None:
        cluster.log(f"no network namespaces ({why}): stopping nodes instead of cutting them")
    cluster.run_dir("ro-run-")
    ok = True
    for s in names or SCENARIOS:
        try:
            a = harness.masked("kazoo", transcript("ref", ref, net))
            b = harness.masked("kazoo", transcript("ferro", cmds["ferro"], net))
            ok &= harness.report("readonly_" + s, a, b)
        except Exception as e:  # a harness failure, not a difference
            cluster.print_fail("readonly_" + s, e)
            ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
