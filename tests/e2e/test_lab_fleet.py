#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""`make run FLEET=3` (tests/lab/fleet.py), shortened: one rate (~2
requests a second per node), 5 s of traffic per configuration.

The lab must run from a fresh clone and its figures must hold together:
exit 0 (every configuration saw its 429s), the four configurations
printed (the fleet without and with sharing, a single node at the same
rate and one carrying the fleet's traffic), each with a fleet line; the
fleet with sharing received fewer 429s from eastus than without (at this
rate each node without sharing needs a 429 of its own: 3; with sharing
the first one is enough, unless a second node sent within the few
milliseconds the news takes); the agents' throttle counters add up to
the 429s the mock answered; the mock's floor (429s of requests decided
before its first 429 left) never exceeds them.

Run once, against the first HAProxy version of the matrix (tests/run.py
E2E_ONCE): the lab's figures are not about the version; tests/e2e/
test_fleet.py covers the fleet on every version.
"""
import os
import re
import subprocess
import sys

from harness import Tap
import labenv

FLEET = os.path.join(labenv.ROOT, "tests", "lab", "fleet.py")
SECTIONS = ("sharing OFF", "sharing ON", "a single node on its own, the "
            "same rate", "a single node on its own, the fleet's traffic")


def sections(out):
    """{title prefix: (fleet 429s eastus, mock total, mock floor)}."""
    got = {}
    title = None
    fleet = None
    for line in out.splitlines():
        for s in SECTIONS:
            if line.startswith(s):
                title, fleet = s, None
        m = re.match(r"fleet\s+\d+\s+(\d+)\s", line)
        if m and title:
            fleet = int(m.group(1))
        m = re.search(r"429s eastus answered: (\d+); for requests decided "
                      r"before its first 429 left it \(no node could have "
                      r"known\): (\d+)", line)
        if m and title and fleet is not None:
            got[title] = (fleet, int(m.group(1)), int(m.group(2)))
            title = None
    return got


def main():
    t = Tap()
    p = subprocess.run([sys.executable, FLEET, "--rate", "2", "--seconds",
                        "5"], cwd=labenv.ROOT, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                       timeout=300)
    out = p.stdout.decode("utf-8", "replace")
    for line in out.splitlines():
        print("#   fleet: " + line)
    t.eq(p.returncode, 0, "fleet lab: exit 0 (every configuration saw "
         "eastus's 429s)")
    got = sections(out)
    t.eq(sorted(got), sorted(SECTIONS), "fleet lab: the four "
         "configurations, each with its fleet line and the mock's figures")
    if len(got) != len(SECTIONS):
        t.done()
        return
    off, on = got["sharing OFF"], got["sharing ON"]
    t.ok(on[0] < off[0], "fleet lab: fewer 429s with sharing than without",
         "with %d, without %d" % (on[0], off[0]))
    t.ok(off[0] >= 2, "fleet lab: without sharing, nodes find the throttle "
         "on their own (at least 2 of the 3 pay a 429)", off[0])
    for s in SECTIONS:
        fleet, mock, floor = got[s]
        t.eq(fleet, mock, "fleet lab, %s: the agents counted every 429 the "
             "mock answered" % s)
        t.ok(1 <= floor <= mock, "fleet lab, %s: the floor is between 1 "
             "(the first 429) and the 429s answered" % s,
             "floor %d of %d" % (floor, mock))
    t.ok("with sharing / single node:" in out and
         "no design that learns from 429s goes below it" in out,
         "fleet lab: prints the ratios and the floor")
    t.done()


if __name__ == "__main__":
    main()
