#!/usr/bin/env python3
"""Normalise one raw client transcript so reference and candidate compare.

Usage: mask.py KIND < raw > masked, KIND in zkcli|climt|kazoo|curator.

What is masked (see README.md):
  * zxids (cZxid/mZxid/pZxid, czxid=/mzxid=, "zxid" fields) -> Z1, Z2... in order
    of first appearance, so equalities inside one transcript survive;
  * session ids (0x + 8..16 hex digits, ephemeralOwner, "session id") -> S1, S2...;
  * ctime/mtime dates, "time = N msec", ports of 127.0.0.1;
  * children lists are sorted (ZooKeeper returns HashSet order);
  * zkCli: watcher notifications are printed by another thread, so they are
    moved out of line into a trailing "-- watcher events --" section, in order, a
    connection state repeated back to back kept once;
    the "Closed" event and JVM/SLF4J noise are dropped.
"""
import re
import sys

KIND = sys.argv[1] if len(sys.argv) > 1 else "generic"


class Renamer:
    def __init__(self, prefix):
        self.prefix = prefix
        self.seen = {}

    def __call__(self, value):
        key = value.lower()
        if key in ("0x0", "0"):
            return "0x0"
        if key not in self.seen:
            self.seen[key] = "<%s%d>" % (self.prefix, len(self.seen) + 1)
        return self.seen[key]


zxid = Renamer("Z")
sess = Renamer("S")

NOISE = (
    re.compile(r"^SLF4J:"),
    re.compile(r"^Connecting to "),
    re.compile(r"^Welcome to ZooKeeper!"),
    re.compile(r"^JLine support is"),
    re.compile(r"^time = -?\d+ msec$"),
    re.compile(r"^Batch mode: "),
    re.compile(r"^\s*$"),
)


def mask_line(line):
    line = re.sub(r"^(\s*[cmp]Zxid = )(0x[0-9a-fA-F]+)",
                  lambda m: m.group(1) + zxid(m.group(2)), line)
    line = re.sub(r"([cmp]zxid=)([0-9a-fA-F]+)",
                  lambda m: m.group(1) + zxid("0x" + m.group(2)), line)
    line = re.sub(r"(zxid[=: ]+)(-?\d+|0x[0-9a-fA-F]+)",
                  lambda m: m.group(1) + zxid(m.group(2)), line, flags=re.I)
    line = re.sub(r"^(\s*[cm]time ?= ?).*$", r"\1<time>", line)
    line = re.sub(r"(ephemeralOwner ?= ?)(0x)?([0-9a-fA-F]+)",
                  lambda m: m.group(1) + sess("0x" + m.group(3)), line)
    line = re.sub(r"(session(?: id|Id|_id)?[=: ]+)(0x)?([0-9a-fA-F]+)",
                  lambda m: m.group(1) + sess("0x" + m.group(3)), line, flags=re.I)
    line = re.sub(r"\b0x[0-9a-fA-F]{9,16}\b", lambda m: sess(m.group(0)), line)
    line = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:<port>", line)
    line = re.sub(r"localhost:\d+", "localhost:<port>", line)
    return line


def sort_bracket_list(line):
    m = re.match(r"^\[(.*)\]$", line)
    if not m or "=" in line or "'" in line:
        return line
    items = [x for x in m.group(1).split(", ") if x != ""]
    return "[" + ", ".join(sorted(items)) + "]"


def sort_runs(lines, pred):
    out, run = [], []
    for line in lines + [None]:
        if line is not None and pred(line):
            run.append(line)
            continue
        if run:
            out.extend(sorted(run))
            run = []
        if line is not None:
            out.append(line)
    return out


def zkcli(lines):
    body, events = [], []
    for line in lines:
        if line == "WATCHER::":
            continue
        if line.startswith("WatchedEvent "):
            # a connection state repeated back to back (SyncConnected between them is
            # masked) is one more reconnect cycle, and how many fit before the next command
            # is the client's timing, not the server's answer
            repeated = events and events[-1] == line and "type:None" in line
            if "state:Closed" not in line and not repeated:
                events.append(line)
            continue
        body.append(sort_bracket_list(line))
    body = sort_runs(body, lambda l: l.startswith("/"))
    return body + ["-- watcher events --"] + events


def climt(lines):
    # Children come as tab-indented names after "<path>: rc = 0".
    return sort_runs(lines, lambda l: l.startswith("\t") and "=" not in l)


def main():
    raw = sys.stdin.read().splitlines()
    lines = []
    for line in raw:
        line = line.rstrip()
        # The zkCli Closed event is printed without a newline, glued to the next output.
        line = line.replace("WatchedEvent state:Closed type:None path:null", "")
        # The client makes the connect event itself and its event thread prints it racing
        # the first commands (under load it lands inside a banner line that NOISE drops).
        line = line.replace("WatchedEvent state:SyncConnected type:None path:null", "")
        if any(p.search(line) for p in NOISE):
            continue
        lines.append(mask_line(line))
    if KIND == "zkcli":
        lines = zkcli(lines)
    elif KIND == "climt":
        lines = climt(lines)
    sys.stdout.write("".join(l + "\n" for l in lines))


main()
