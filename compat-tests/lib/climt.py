#!/usr/bin/env python3
"""Run C-client scenarios: climt.py HOST:PORT OUTDIR SCENARIO_FILE...

cli_mt's interactive mode sends every command asynchronously and may quit
before the answers arrive, so each line runs as one batch-mode invocation
(`cli_mt host:port cmd:<line>`), which waits for its completion and exits.
Only commands that complete through a callback work in batch mode: create
(+e/+s/+c/+t=ms), create2, get, set, ls, ls2, delete, sync, config.
'$R' is replaced by the scenario root (/climt_<name>); '#' starts a comment.
"""
import os
import subprocess
import sys

CLI = "/usr/lib/zookeeper/bin/cli_mt"


def main():
    hostport, outdir, files = sys.argv[1], sys.argv[2], sys.argv[3:]
    for path in files:
        name = "climt_" + os.path.basename(path)[:-5]
        lines = []
        with open(path) as f:
            cmds = [l.rstrip("\n").replace("$R", "/" + name) for l in f]
        for cmd in cmds:
            if not cmd.strip() or cmd.lstrip().startswith("#"):
                continue
            lines.append("> " + cmd)
            try:
                p = subprocess.run([CLI, hostport, "cmd:" + cmd], stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, timeout=20)
                lines.extend(p.stdout.decode(errors="replace").splitlines())
                lines.append("exit=%d" % p.returncode)
            except subprocess.TimeoutExpired:
                lines.append("!! cli_mt timed out")
        with open(os.path.join(outdir, name + ".raw"), "w") as f:
            f.write("\n".join(lines) + "\n")


main()
