#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The shipped systemd units: hardened (systemd-analyze security), every
sandboxing option explained by a comment, and consistent with the binary.
"""
import os
import re
import subprocess
import tempfile

from harness import ROOT, Tap

UNIT = os.path.join(ROOT, "systemd/aoai-spoa.service")
SOCKET = os.path.join(ROOT, "systemd/aoai-spoa.socket")
MAX_EXPOSURE = 1.0  # systemd's scale: 0 safest .. 10 unsafe; "OK" < 3


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
    # the installed file set works for the unit's dynamic user (group
    # haproxy): it can read its configuration, and the socket its
    # HAProxy link points at is one HAProxy opens to group haproxy
    with tempfile.TemporaryDirectory(prefix="aoai-install-") as dest:
        r = subprocess.run(["make", "-s", "install", "DESTDIR=" + dest,
                            "PREFIX=/usr"], cwd=ROOT, capture_output=True,
                           text=True)
        t.ok(r.returncode == 0, "make install DESTDIR PREFIX=/usr",
             r.stderr[-500:])
        yml = os.path.join(dest, "etc/aoai-spoa/aoai-spoa.yaml")
        mode = os.stat(yml).st_mode & 0o777 if os.path.exists(yml) else 0
        t.ok(mode & 0o004, "installed YAML readable by the dynamic user "
             "(mode %o)" % mode)
        unit_path = os.path.join(dest, "lib/systemd/system/aoai-spoa.service")
        unit_text = open(unit_path).read() if os.path.exists(unit_path) \
            else ""
        t.ok("ExecStart=/usr/sbin/aoai-spoa -f" in unit_text and
             os.path.exists(os.path.join(dest, "usr/sbin/aoai-spoa")),
             "installed unit names the binary under PREFIX")
        extra = ["usr/bin/aoai-spoa-import-apim",
                 "usr/share/man/man8/aoai-spoa.8",
                 "usr/share/man/man5/aoai-spoa.yaml.5",
                 "usr/share/man/man1/aoai-spoa-import-apim.1",
                 "usr/share/doc/aoai-spoa/LICENSE"]
        t.ok(all(os.path.exists(os.path.join(dest, x)) for x in extra),
             "make install also installs the APIM import tool, the man "
             "pages and the licence",
             [x for x in extra if not os.path.exists(os.path.join(dest, x))])
    yaml_text = open(os.path.join(ROOT, "haproxy-conf/aoai-spoa.yaml")).read()
    m = re.search(r"stats_socket:\s*unix://(\S+)", yaml_text)
    cfg = open(os.path.join(ROOT, "haproxy-conf/haproxy.cfg")).read()
    ok = m and re.search(r"^\s*stats socket %s .*group haproxy.*level admin"
                         % re.escape(m.group(1)), cfg, re.M)
    t.ok(bool(ok), "agent's stats_socket is a HAProxy socket of group "
         "haproxy, level admin (mirror)", m.group(1) if m else None)
    t.done()


if __name__ == "__main__":
    main()
