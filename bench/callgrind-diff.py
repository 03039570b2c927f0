#!/usr/bin/env python3
"""Per-function instruction difference between two callgrind runs of m7bridged, per frame.

Usage: callgrind-diff.py SMALL.out LARGE.out FRAMES_SMALL FRAMES_LARGE [TOP]
Reads `callgrind_annotate --inclusive=no` of both files; prints the total per frame and
the functions that account for the difference, largest first (self cost, not inclusive).
"""
import re
import subprocess
import sys

LINE = re.compile(r"^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(.*?)(?:\s+\[(.*)\])?$")


def annotate(path):
    out = subprocess.run(
        ["callgrind_annotate", "--inclusive=no", "--tree=none", "--auto=no",
         "--threshold=100", path],
        check=True, capture_output=True, text=True).stdout
    costs, total = {}, None
    for line in out.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        n = int(m.group(1).replace(",", ""))
        name = m.group(2).strip()
        if name == "PROGRAM TOTALS":
            total = n
            continue
        # Keep the file's base name and the function; drop build paths and the object.
        fil, _, fn = name.rpartition(":")
        fil = fil.rsplit("/", 1)[-1] if fil else "???"
        obj = (m.group(3) or "").rsplit("/", 1)[-1]
        if fil == "???" and fn.startswith("0x"):
            fn = "(no symbol)"
            fil = obj
        key = f"{fil}:{fn}"
        costs[key] = costs.get(key, 0) + n
    if total is None:
        sys.exit(f"callgrind-diff: no PROGRAM TOTALS in {path}")
    return total, costs


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    small, large = sys.argv[1], sys.argv[2]
    f1, f2 = int(sys.argv[3]), int(sys.argv[4])
    top = int(sys.argv[5]) if len(sys.argv) > 5 else 25
    t1, c1 = annotate(small)
    t2, c2 = annotate(large)
    frames = f2 - f1
    per = (t2 - t1) / frames
    print(f"instructions per frame: {per:.0f}  (({t2:,} - {t1:,}) / {frames} frames)")
    diff = {k: c2.get(k, 0) - c1.get(k, 0) for k in set(c1) | set(c2)}
    rows = sorted(diff.items(), key=lambda kv: -kv[1])
    print(f"{'instr/frame':>11} {'share':>6}  function (self cost)")
    shown = 0
    for k, d in rows[:top]:
        print(f"{d / frames:11.1f} {100.0 * d / (t2 - t1):5.1f}%  {k}")
        shown += d
    rest = (t2 - t1) - shown
    print(f"{rest / frames:11.1f} {100.0 * rest / (t2 - t1):5.1f}%  (everything else)")


if __name__ == "__main__":
    main()
