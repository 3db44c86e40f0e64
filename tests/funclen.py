#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Prints the longest C functions of the given files (default agent/*.c).

A function is a line at column 0 that opens with a name and '(' and whose
body opens with '{' alone at column 0 and ends with '}' at column 0, the
project's K&R layout (clang-format keeps it so). Lines count the body.

    python3 tests/funclen.py [--most N] [FILE...]
"""
import argparse
import glob
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEAD = re.compile(r"^[A-Za-z_][\w \*]*?\b(\w+)\s*\(")


def functions(path):
    """Yields (lines, name, path:line) for each function of <path>."""
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.read().split("\n")
    name, start = None, None
    for i, line in enumerate(lines):
        m = HEAD.match(line)
        if m and not line.startswith(("static const", "struct ", "enum ")) \
                or (m and "(" in line and line.startswith("static const")):
            name, head = m.group(1), i
        if line == "{" and name:
            start = i
        elif line == "}" and start is not None:
            yield i - start + 1, name, "%s:%d" % (
                os.path.relpath(path, ROOT), head + 1)
            name, start = None, None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--most", type=int, default=15)
    ap.add_argument("files", nargs="*")
    args = ap.parse_args()
    files = args.files or sorted(glob.glob(os.path.join(ROOT, "agent/*.c")))
    rows = [r for p in files for r in functions(p)]
    rows.sort(key=lambda r: -r[0])
    for n, name, where in rows[:args.most]:
        print("%5d  %-32s %s" % (n, name, where))
    return 0


if __name__ == "__main__":
    sys.exit(main())
