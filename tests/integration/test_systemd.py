#!/usr/bin/env python3
"""The shipped systemd units: hardened (systemd-analyze security), every
sandboxing option explained by a comment, and consistent with the binary.
"""
import os
import re
import subprocess

from harness import ROOT, Tap

UNIT = os.path.join(ROOT, "systemd/aoai-spoa.service")
SOCKET = os.path.join(ROOT, "systemd/aoai-spoa.socket")
MAX_EXPOSURE = 2.0  # systemd's scale: 0 safest .. 10 unsafe; "OK" < 3


def main():
    t = Tap()
    out = subprocess.run(["systemd-analyze", "security", "--offline=yes",
                          UNIT], capture_output=True, text=True)
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+)",
                  out.stdout + out.stderr)
    t.ok(m is not None, "systemd-analyze security reports a level",
         (out.stdout + out.stderr)[-500:])
    if m:
        t.ok(float(m.group(1)) <= MAX_EXPOSURE,
             "exposure level %s <= %.1f" % (m.group(1), MAX_EXPOSURE))

    lines = open(UNIT).read().splitlines()
    section, bare = None, []
    for i, line in enumerate(lines):
        if line.startswith("["):
            section = line
            continue
        if section == "[Service]" and re.match(r"^[A-Z]\w+=", line):
            j = i - 1
            while j >= 0 and re.match(r"^[A-Z]\w+=", lines[j]):
                j -= 1
            if j < 0 or not lines[j].startswith("#"):
                bare.append(line)
    t.ok(not bare, "every [Service] option group has a comment", bare)

    unit = "\n".join(lines)
    t.ok("ExecStartPre=/usr/local/sbin/aoai-spoa -c -f" in unit,
         "the unit checks the configuration before starting")
    t.ok("ExecReload=/bin/kill -HUP $MAINPID" in unit,
         "reload is SIGHUP (validated, old config kept on error)")
    t.ok("IPAddressAllow=localhost" in unit and "IPAddressDeny=any" in unit,
         "network limited to loopback")
    sock = open(SOCKET).read()
    t.ok("SocketMode=0660" in sock and "SocketGroup=haproxy" in sock,
         "SPOP socket reachable by group haproxy only")
    t.ok("/var/lib/haproxy/aoai-spoa.sock" in sock,
         "SPOP socket inside Debian's HAProxy chroot")
    t.done()


if __name__ == "__main__":
    main()
