#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Prints the include graph of agent/ and protocol/ by module and fails on
a cycle or an upward include.

A module is a file name without its extension: conn.c and conn.h are the
module conn. A .c file that defines a function declared in the header it
includes implements that header (cfg-schema.c implements part of cfg.h):
that include is not a dependency and is listed apart. A types header (HAProxy's X-t.h habit) is a node of its own,
conn-t: it holds types only, so including it costs no call into the
module. An edge "a -> b" means a file of a includes a header of b. The
script fails (exit 1) when the graph has a cycle, when a types header
includes a function header of a module that is not a leaf (a module
including nothing of the project), or when a module other than main
includes agent.h or agent-t.h (the lifecycle is the top). The same graph
is then checked at module level, where a module is a file stem without
its -t or -priv suffix (conn-t.h and conn.c are one module, route-priv.h
belongs to route): no cycle there either.

    python3 tests/deps_graph.py
"""
import glob
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
# a prototype's or a definition's name: "type name(" at the start of a line
FUNC = re.compile(r'^[A-Za-z_][\w \*]*?\b(\w+)\(', re.M)


def declared(header):
    """Names of the functions whose prototypes <header> holds."""
    try:
        with open(header, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return set()
    return {m for m in FUNC.findall(text)
            if not m.startswith(("static", "struct", "enum"))}


def defined(path):
    """Names of the functions <path> (a .c) defines, static or not."""
    with open(path, encoding="utf-8") as f:
        return set(FUNC.findall(f.read())) if path.endswith(".c") else set()


def module(path):
    return os.path.basename(path).rsplit(".", 1)[0]


def graph():
    """Returns ({module: modules it uses}, [(module, header it implements)])."""
    edges, impl = {}, []
    for d in ("protocol", "agent"):
        for path in sorted(glob.glob(os.path.join(ROOT, d, "*.[ch]"))):
            m = module(path)
            edges.setdefault(m, set())
            with open(path, encoding="utf-8") as f:
                incs = INCLUDE.findall(f.read())
            mine = defined(path)
            for inc in incs:
                n = module(inc)
                if n == m:
                    continue
                hdr = os.path.join(os.path.dirname(path), inc)
                if mine & declared(hdr):
                    impl.append((m, inc))
                else:
                    edges[m].add(n)
    return edges, impl


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


def stem(node):
    """The module a node belongs to: conn-t -> conn, route-priv -> route."""
    for suffix in ("-t", "-priv"):
        if node.endswith(suffix):
            return node[: -len(suffix)]
    return node


def collapse(edges):
    """The graph between modules: the nodes of one stem merged."""
    out = {}
    for m, uses in edges.items():
        mine = out.setdefault(stem(m), set())
        mine.update(stem(n) for n in uses if stem(n) != stem(m))
    return out


def main():
    edges, impl = graph()
    for m in sorted(edges):
        print("%-10s -> %s" % (m, " ".join(sorted(edges[m])) or "-"))
    for m, inc in impl:
        print("%-10s implements %s" % (m, inc))
    bad = ["cycle: %s" % " <-> ".join(c) for c in cycles(edges)]
    for m in sorted(edges):
        if m.endswith("-t"):
            bad += ["types header %s.h includes %s.h" % (m, n)
                    for n in sorted(edges[m])
                    if not n.endswith("-t") and edges.get(n)]
        for top in ("agent", "agent-t"):
            if top in edges[m] and stem(m) not in ("agent", "main"):
                bad.append("upward include: %s includes %s.h" % (m, top))
    modules = collapse(edges)
    bad += ["module cycle: %s" % " <-> ".join(c) for c in cycles(modules)]
    for line in bad:
        print(line)
    if bad:
        return 1
    print("no cycle, no upward include (%d nodes, %d modules)"
          % (len(edges), len(modules)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
