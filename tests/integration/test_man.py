#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The man pages: they render without warnings, aoai-spoa(8) lists the
options --help prints, the versions agree (VERSION, man pages,
debian/changelog), and the key reference of aoai-spoa.yaml(5) is exactly
the set of keys the parser accepts. (The entries themselves are generated
from the schema; tests/unit/test_man_keys.c checks that. This test asks
the running parser, so a key the schema lists but the parser refuses, or
the reverse, fails here.)

The parser is asked, not a copy of its tables: at every mapping of a
configuration that otherwise passes "aoai-spoa -c", an unknown key is
inserted, and the error "unknown key 'zz_probe' (valid: a, b, ...)" names
the keys that mapping accepts.
"""
import copy
import json
import os
import re
import subprocess
import sys
import tempfile

import harness as H

MAN = os.path.join(H.ROOT, "docs/man")
PAGES = ("aoai-spoa.8", "aoai-spoa.yaml.5", "aoai-spoa-import-apim.1")
PROBE = "zz_probe"

# A file that passes -c with every optional mapping present (JSON is YAML).
BASE = {
    "agent": {},
    "listen": [{"address": "tcp://127.0.0.1:1"}],
    "control": [{"address": "unix:///run/aoai-spoa/c.sock"}],
    "haproxy": {"stats_socket": "unix:///run/haproxy/a.sock",
                "backend": "aoai"},
    "fleet": {"table": "aoai-fleet", "node": "node1",
              "peers": [{"name": "node1",
                         "address": "tcp://127.0.0.1:2"}]},
    "defaults": {"circuit_breaker": {"failure": {}}, "headroom": {},
                 "auth": {}},
    "backends": [{"name": "a", "circuit_breaker": {"failure": {}},
                  "headroom": {}, "auth": {}, "upstream": {}}],
    "pools": [{"name": "p", "members": [{"backend": "a"}]}],
}
# Where to insert the probe in BASE, and the man page's path of that
# mapping ("" is the top level; circuit_breaker and headroom are documented
# once for defaults and backends, the items of listen and control once as
# listen[]).
PROBES = (
    ((), ""),
    (("agent",), "agent"),
    (("listen", 0), "listen[]", {"level"}),  # "control sockets only"
    (("control", 0), "listen[]"),
    (("haproxy",), "haproxy"),
    (("fleet",), "fleet"),
    (("fleet", "peers", 0), "fleet.peers[]"),
    (("defaults",), "defaults"),
    (("defaults", "circuit_breaker"), "circuit_breaker"),
    (("defaults", "circuit_breaker", "failure"), "circuit_breaker.failure"),
    (("defaults", "headroom"), "headroom"),
    (("backends", 0), "backends[]"),
    (("backends", 0, "circuit_breaker"), "circuit_breaker"),
    (("backends", 0, "circuit_breaker", "failure"),
     "circuit_breaker.failure"),
    (("backends", 0, "headroom"), "headroom"),
    (("defaults", "auth"), "auth"),
    (("backends", 0, "auth"), "auth"),
    (("backends", 0, "upstream"), "backends[].upstream"),
    (("pools", 0), "pools[]"),
    (("pools", 0, "members", 0), "pools[].members[]"),
)


def run(argv):
    p = subprocess.run(argv, capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, timeout=60,
                       env=dict(os.environ, LC_ALL="C.UTF-8", MANWIDTH="80"))
    return p.returncode, p.stdout, p.stderr


def check(tmp, doc):
    path = os.path.join(tmp, "probe.yaml")
    with open(path, "w") as f:
        json.dump(doc, f)
    return run([H.AGENT_FAST, "-c", "-f", path])


def documented_keys(text):
    """The key paths of the KEYS section: ".TP" then ".B path"."""
    sect = text.split(".SH KEYS", 1)[1].split("\n.SH ", 1)[0]
    keys = re.findall(r"^\.TP\n\.B (\S+)$", sect, re.M)
    return [k.replace("\\-", "-") for k in keys]


def parent(key):
    return key.rsplit(".", 1)[0] if "." in key else ""


def main():
    t = H.Tap()
    texts = {}
    for page in PAGES:
        path = os.path.join(MAN, page)
        texts[page] = open(path).read() if os.path.exists(path) else ""
        rc, out, err = run(["groff", "-man", "-ww", "-Tutf8", "-z", path])
        t.ok(rc == 0 and not err.strip() and texts[page],
             "%s: groff -man -ww renders it without a warning" % page,
             err[-500:])
        rc, out, err = run(["man", "--warnings", "-l", path])
        t.ok(rc == 0 and len(out) > 500 and not err.strip(),
             "%s: man -l renders it (%d bytes), no warning" % (page,
                                                              len(out)),
             err[-500:])

    release = open(os.path.join(H.ROOT, "VERSION")).read().strip()
    for page in PAGES:
        m = re.search(r'^\.TH \S+ \d \S+ "(?:aoai-spoa )?(\S+)"',
                      texts[page], re.M)
        t.eq(m and m.group(1), release, "%s: .TH names release %s (the "
             "VERSION file)" % (page, release))
    ch = open(os.path.join(H.ROOT, "debian/changelog")).readline()
    m = re.match(r"aoai-spoa \(([^)-]+)(-[^)]*)?\)", ch)
    t.eq(m and m.group(1), release, "debian/changelog's upstream version "
         "is the VERSION file's")

    # aoai-spoa(8) and --help: the same short and long options
    rc, usage, err = run([H.AGENT_FAST, "--help"])
    help_opts = set(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", usage))
    sect = texts["aoai-spoa.8"].split(".SH OPTIONS", 1)[-1].split(
        "\n.SH ", 1)[0]
    man_opts = set(o.replace("\\-", "-") for o in re.findall(
        r"(\\-\\-[a-z][\w-]*|\\-[A-Za-z])\b", sect))
    t.ok(rc == 0 and help_opts and help_opts == man_opts,
         "aoai-spoa(8) OPTIONS and --help list the same options (%s)"
         % " ".join(sorted(help_opts)),
         "only in --help: %s; only in the man page: %s"
         % (sorted(help_opts - man_opts), sorted(man_opts - help_opts)))
    rc, usage2, err = run([sys.executable, os.path.join(
        H.ROOT, "agent/tools/import-apim.py"), "--help"])
    help2 = set(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", usage2))
    sect = texts["aoai-spoa-import-apim.1"].split(".SH OPTIONS", 1)[
        -1].split("\n.SH ", 1)[0]
    man2 = set(o.replace("\\-", "-") for o in re.findall(
        r"(\\-\\-[a-z][\w-]*|\\-[A-Za-z])\b", sect))
    t.ok(rc == 0 and help2 and help2 == man2,
         "aoai-spoa-import-apim(1) OPTIONS and --help list the same "
         "options (%s)" % " ".join(sorted(help2)),
         "only in --help: %s; only in the man page: %s"
         % (sorted(help2 - man2), sorted(man2 - help2)))
    syn = re.findall(r"^usage: (.*)$|^       (aoai-spoa .*)$", usage, re.M)
    t.ok(len(syn) == 4, "--help gives the four synopsis lines of "
         "aoai-spoa(8)", syn)

    # aoai-spoa.yaml(5): the documented keys are the parser's keys
    doc = documented_keys(texts["aoai-spoa.yaml.5"])
    t.ok(len(doc) > 40 and len(doc) == len(set(doc)),
         "aoai-spoa.yaml(5) documents %d keys, each once" % len(doc),
         sorted(k for k in doc if doc.count(k) > 1))
    docset = set(doc)
    with tempfile.TemporaryDirectory(prefix="aoai-man-") as tmp:
        rc, out, err = check(tmp, BASE)
        t.ok(rc == 0, "the probe's base configuration passes -c",
             out + err)
        probed = set()
        for where, prefix, *skip in PROBES:
            cfg = copy.deepcopy(BASE)
            node = cfg
            for step in where:
                node = node[step]
            node[PROBE] = 1
            rc, out, err = check(tmp, cfg)
            m = re.search(r"unknown key '%s' \(valid: ([^)]*)\)" % PROBE,
                          err)
            valid = set(m.group(1).split(", ")) if m else None
            want = set(k[len(prefix) + 1 if prefix else 0:]
                       for k in docset if parent(k) == prefix)
            want -= skip[0] if skip else set()
            probed.add(prefix)
            t.ok(rc == 1 and valid == want,
                 "%s: the parser's keys are the documented ones (%d)"
                 % ("/".join(str(s) for s in where) or "top level",
                    len(want)),
                 "parser only: %s; man page only: %s; stderr: %s"
                 % (sorted((valid or set()) - want),
                    sorted(want - (valid or set())), err[-300:]))
        unprobed = sorted(k for k in docset if parent(k) not in probed)
        t.ok(not unprobed, "every documented key lies in a probed mapping",
             unprobed)
    t.done()


if __name__ == "__main__":
    main()
