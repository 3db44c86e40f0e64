#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes agent/hacfg-tmpl.c (the fixed text of "aoai-spoa haproxy-config")
from the shipped haproxy-conf/haproxy.cfg and aoai-spoe.conf.

For a change made by hand to the shipped files (a merge, a new rule):
run this, rebuild, then "make haproxy-conf" must leave the shipped files
unchanged (tests/e2e/test_config.py checks rendered == shipped). The parts
the YAML decides become "@PART@" lines again: the agent's stats socket,
the aoai backend's server lines (their template: the first backend's line,
"@NAME@", "@WEIGHT@@BACKUP@"), the agent server's address ("@AGENT@"), and
the regions, whose template is the first backend's shim + upstream pair
with its name and endpoint as "@NAME@" / "@ENDPOINT@", its api-key line as
"@CREDENTIAL@" and "@RENAME@" before its upstream server line (the first
backend of the shipped YAML has no deployment rename).
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))


def c_line(line):
    return '\t"' + line.replace("\\", "\\\\").replace('"', '\\"') + '",\n'


def first_backend():
    """(name, endpoint) of the shipped YAML's first backend."""
    text = open(os.path.join(ROOT, "haproxy-conf/aoai-spoa.yaml")).read()
    m = re.search(r"^backends:\n(?:#.*\n|\s*\n)*  - name: ([\w.:-]+).*\n"
                  r"    upstream:\n      endpoint: (\S+)", text, re.M)
    if not m:
        sys.exit("aoai-spoa.yaml: no first backend with upstream.endpoint")
    return m.group(1), m.group(2)


def main():
    name, endpoint = first_backend()
    cfg = open(os.path.join(ROOT, "haproxy-conf/haproxy.cfg")).read()
    spoe = open(os.path.join(ROOT, "haproxy-conf/aoai-spoe.conf")).read()
    lines = cfg.split("\n")[:-1]
    out, region, server = [], [], []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("    stats socket ") and "admin.sock" not in line:
            out.append("@STATS_SOCKET@")
        elif line.startswith("    server ") and " abns@aoai-region-" in line:
            if out[-1] != "@SERVERS@":
                out.append("@SERVERS@")
            if line.startswith("    server %s " % name) and not server:
                server.append(re.sub(r" weight \d+( backup)?",
                                     " weight @WEIGHT@@BACKUP@",
                                     line).replace(name, "@NAME@"))
        elif line.startswith("    server agent "):
            w = line.split(" ")
            w[6] = "@AGENT@"  # "", "", "", "", "server", "agent", ADDRESS
            out.append(" ".join(w))
        elif line.startswith("listen region-"):
            break
        else:
            out.append(line)
        i += 1
    if out[-1] != "":
        sys.exit("haproxy.cfg: no blank line before the first region")
    out[-1] = "@REGIONS@"
    # the first pair: from its shim to the line before the next shim
    end = next((j for j in range(i + 1, len(lines))
                if lines[j].startswith("listen region-")), len(lines))
    pair = [""] + lines[i:end]
    while pair[-1] == "":
        pair.pop()
    for line in pair:
        if line.startswith("    http-request set-header api-key "):
            region.append("@CREDENTIAL@")
            continue
        if line.startswith("    server %s %s:" % (name, endpoint)):
            region.append("@RENAME@")
        region.append(line.replace(endpoint, "@ENDPOINT@").replace(
            name, "@NAME@"))
    # the fixed text after the last pair (e.g. the fleet block): from the
    # first blank line after the last upstream section's indented body
    last = max(j for j in range(len(lines))
               if lines[j].startswith("listen upstream-"))
    k = last + 1
    while k < len(lines) and lines[k].startswith(" "):
        k += 1
    out.extend(lines[k:])
    if not server or "@WEIGHT@@BACKUP@" not in server[0]:
        sys.exit("haproxy.cfg: no server line of %s with a weight in "
                 "backend aoai" % name)
    if "@CREDENTIAL@" not in region or "@RENAME@" not in region:
        sys.exit("haproxy.cfg: the %s pair has no api-key line or no "
                 "upstream server line" % name)
    path = os.path.join(ROOT, "agent/hacfg-tmpl.c")
    with open(path, "w") as f:
        f.write("""/* SPDX-License-Identifier: Apache-2.0 */
/* The fixed text of haproxy.cfg and aoai-spoe.conf that haproxy-config
 * renders around what comes from the YAML (hacfg.c). Edit these lines as
 * the HAProxy files they become (or the shipped files, then run
 * tests/tools/hacfg-template.py); a whole line "@PART@" is where hacfg.c
 * puts the part named PART, and in the region template "@NAME@" and
 * "@ENDPOINT@" are the backend's name and upstream endpoint.
 */
#include <stddef.h>

#include "hacfg-tmpl.h"

const char *const hacfg_tmpl_cfg[] = {
""")
        f.writelines(c_line(l) for l in out)
        f.write("\tNULL,\n};\n\nconst char *const hacfg_tmpl_server[] = {\n")
        f.writelines(c_line(l) for l in server)
        f.write("\tNULL,\n};\n\nconst char *const hacfg_tmpl_region[] = {\n")
        f.writelines(c_line(l) for l in region)
        f.write("\tNULL,\n};\n\nconst char *const hacfg_tmpl_spoe[] = {\n")
        f.writelines(c_line(l) for l in spoe.split("\n")[:-1])
        f.write("\tNULL,\n};\n")
    print("wrote %s (%d + %d + %d lines of template)"
          % (path, len(out), len(region), spoe.count("\n")))


if __name__ == "__main__":
    main()
