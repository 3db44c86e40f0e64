#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Documents that must agree with the shipped files: the agent's HAProxy
stats socket (one path), the systemd units (README, man page, package),
and the example version strings (the VERSION file's release)."""
import glob
import os
import re

import harness as H

DOCS = ["README.md", "docs/control.md", "docs/routing.md",
        "haproxy-conf/README.md", "docs/man/aoai-spoa.8",
        "docs/man/aoai-spoa.yaml.5"]


def read(rel):
    path = os.path.join(H.ROOT, rel)
    return open(path).read() if os.path.exists(path) else ""


def main():
    t = H.Tap()
    yml = read("haproxy-conf/aoai-spoa.yaml")
    m = re.search(r"^\s*stats_socket:\s*unix://(\S+)", yml, re.M)
    sock = m.group(1) if m else None
    t.ok(sock and re.search(r"^\s*stats socket %s " % re.escape(sock),
                            read("haproxy-conf/haproxy.cfg"), re.M),
         "the shipped YAML's stats_socket %s is a stats socket of the "
         "shipped haproxy.cfg" % sock)
    other = []
    for rel in DOCS:
        for path in re.findall(r"stats_socket\W+unix://([^\s\"`]+)",
                               read(rel)):
            if path != sock:
                other.append("%s: %s" % (rel, path))
    t.ok(not other, "every stats_socket example in the docs is %s" % sock,
         other)
    t.ok(sock and sock in read("haproxy-conf/README.md") and
         sock in read("docs/control.md") and sock in read(
             "docs/man/aoai-spoa.8"),
         "haproxy-conf/README.md, docs/control.md and aoai-spoa(8) name "
         "the agent's stats socket")

    units = sorted(os.path.basename(p) for p in glob.glob(
        os.path.join(H.ROOT, "systemd/*")) if p.endswith((".service",
                                                           ".socket")))
    readme = read("README.md")
    t.ok(len(units) == 3 and all(u in readme for u in units) and
         "three units" in readme,
         "README names the three units of systemd/ (%s)" % ", ".join(units))
    man8 = read("docs/man/aoai-spoa.8")
    t.ok(all(u in man8 for u in units), "aoai-spoa(8) FILES names every "
         "unit")
    rules = read("debian/rules")
    t.ok(all("systemd/%s" % u in rules for u in units),
         "the package installs every unit (debian/rules)")
    mk = read("Makefile")
    t.ok(all(u in mk for u in units), "make install installs every unit")

    release = read("VERSION").strip()
    ver = r"%s(\+g[0-9a-f]{7,}(\.dirty)?)?" % re.escape(release)
    bad = []
    found = 0
    for rel in DOCS:
        text = read(rel)
        for v in re.findall(r"\"version\":\"([^\"]+)\"", text) + \
                re.findall(r"# aoai-spoa (\S+)", text):
            found += 1
            if not re.fullmatch(ver, v):
                bad.append("%s: %s" % (rel, v))
    t.ok(found >= 2 and not bad, "%d example version strings in the docs "
         "are release %s, +gHASH" % (found, release), bad)
    t.done()


if __name__ == "__main__":
    main()
