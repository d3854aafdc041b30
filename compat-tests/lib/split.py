#!/usr/bin/env python3
"""split.py OUTDIR < stream: cut a multi-scenario driver's stdout into
OUTDIR/<name>.raw files at '##BEGIN <name>' / '##END <name>' lines.
Anything outside a BEGIN/END pair is dropped (log noise)."""
import os
import sys

outdir = sys.argv[1]
cur, buf = None, []
for line in sys.stdin:
    line = line.rstrip("\n")
    if line.startswith("##BEGIN "):
        cur, buf = line[8:].strip(), []
    elif line.startswith("##END ") and cur is not None:
        with open(os.path.join(outdir, cur + ".raw"), "w") as f:
            f.write("\n".join(buf) + "\n")
        cur = None
    elif cur is not None:
        buf.append(line)
if cur is not None:  # driver died mid-scenario: keep what we have
    with open(os.path.join(outdir, cur + ".raw"), "w") as f:
        f.write("\n".join(buf + ["!! driver ended before ##END"]) + "\n")
