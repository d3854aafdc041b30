#!/usr/bin/env python3
"""Run zkCli.sh scenarios: zkcli.py HOST:PORT OUTDIR SCENARIO_FILE...

Scenario file: one zkCli command per line; '#' comments; '$R' is replaced by
the scenario's own root znode (/zkcli_<name>); a line '---' starts a new zkCli
process (a new session).  Without JLine zkCli does not echo commands, so every
command is preceded by a read of a nonexistent marker node whose error line is
turned back into "> command" in the transcript.
"""
import os
import subprocess
import sys

ZKCLI = "/usr/share/zookeeper/bin/zkCli.sh"
MARK = "/zkcli-echo-"


def segments(path, root):
    seg = []
    with open(path) as f:
        for raw in f:
            line = raw.rstrip("\n").replace("$R", root)
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if line.strip() == "---":
                yield seg
                seg = []
            else:
                seg.append(line)
    yield seg


WARMUP = "/zkcli-warmup"


def run_segment(hostport, cmds, timeout):
    # zkCli reads stdin before its session is up; a request caught by a failed first
    # connection attempt ends in ConnectionLoss. Two throwaway reads absorb that, and
    # everything printed before the first marker is dropped.
    feed = ["ls %s" % WARMUP, "ls %s" % WARMUP]
    for i, cmd in enumerate(cmds):
        feed.append("ls %s%d" % (MARK, i))
        feed.append(cmd)
    feed.append("quit")
    try:
        proc = subprocess.run([ZKCLI, "-server", hostport], input="\n".join(feed) + "\n",
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=timeout)
        out = proc.stdout
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        out += "\n!! zkCli timed out after %ds\n" % timeout
    lines = []
    started = False
    for line in out.splitlines():
        marker = "Node does not exist: " + MARK
        if not started:
            if marker not in line:
                continue
            started = True
        if marker in line:
            before, _, idx = line.partition(marker)
            if before.strip():
                lines.append(before)
            line = "> " + cmds[int(idx)]
        lines.append(line)
    return lines


def main():
    hostport, outdir, files = sys.argv[1], sys.argv[2], sys.argv[3:]
    for path in files:
        name = "zkcli_" + os.path.basename(path)[:-3]
        root = "/" + name
        lines = []
        for n, seg in enumerate(segments(path, root)):
            lines.append("=== zkCli process %d" % (n + 1))
            lines.extend(run_segment(hostport, seg, 60))
        with open(os.path.join(outdir, name + ".raw"), "w") as f:
            f.write("\n".join(lines) + "\n")


main()
