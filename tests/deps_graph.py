#!/usr/bin/env python3
"""Prints the include graph of agent/ and protocol/ by module and fails on
a cycle.

A module is a file name without its extension and without a "-t" suffix:
ctl.c, ctl.h and ctl-t.h are the module ctl. An edge "a -> b" means a
file of a includes a header of b. A cycle between modules means two of
them depend on each other, whatever the headers say; the script prints
each cycle and exits 1.

    python3 tests/deps_graph.py
"""
import glob
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def module(path):
    base = os.path.basename(path).rsplit(".", 1)[0]
    return base[:-2] if base.endswith("-t") else base


def graph():
    edges = {}
    for d in ("protocol", "agent"):
        for path in sorted(glob.glob(os.path.join(ROOT, d, "*.[ch]"))):
            m = module(path)
            edges.setdefault(m, set())
            with open(path, encoding="utf-8") as f:
                for inc in INCLUDE.findall(f.read()):
                    n = module(inc)
                    if n != m:
                        edges[m].add(n)
    return edges


def cycles(edges):
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def main():
    edges = graph()
    for m in sorted(edges):
        print("%-10s -> %s" % (m, " ".join(sorted(edges[m])) or "-"))
    bad = cycles(edges)
    for comp in bad:
        print("cycle: %s" % " <-> ".join(comp))
    if bad:
        return 1
    print("no cycle (%d modules)" % len(edges))
    return 0


if __name__ == "__main__":
    sys.exit(main())
