#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Which responses reach http-response rules and SPOE, per HAProxy version.

Why the shipped topology needs its third pass (the upstream-<name> hop):
a response HAProxy generates itself (connection refused -> 503, server
timeout -> 504) runs no http-response rule and fires no SPOE event, only
http-after-response rules; and a response consumed by an L7 retry reaches
neither. This script shows it on each HAProxy given, over loopback:

  up       the server answers 200
  refused  nothing listens on the server's port (retries 0): HAProxy 503
  timeout  the server accepts and never answers (timeout server 300ms): 504
  retried  retry-on 503, the first server answers 503, the second 200
           ("503s served": the 503 attempt did happen)

Each case is one request through a backend with
  filter spoe ... (message on the on-http-response event)
  http-response set-header x-hr yes
  http-response send-spoe-group ...
  http-after-response set-header x-har yes
and the SPOE log lines of the request (one per processed event or group)
are counted. The agent is build/bench/ack-server.

    python3 tests/bench/generated_responses.py [--versions "2.6 3.0 3.2"]

2.6 is /usr/sbin/haproxy; 3.0 and 3.2 run from the cached Debian root
filesystems (tests/lib/rootfs.py: trixie, sid). Prints one table; exits 1
if a HAProxy could not be run. A probe, not a test: it asserts nothing.
"""
import argparse
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))

import harness  # noqa: E402
import rootfs  # noqa: E402

ACK = os.path.join(ROOT, "build", "bench", "ack-server")
SUITES = {"3.0": "trixie", "3.2": "sid"}

SPOE = """[probe]
spoe-agent probe-agent
    messages probe-event
    groups probe-group
    option var-prefix probe
    timeout hello 500ms
    timeout idle 30s
    timeout processing 500ms
    use-backend agent
    log global

spoe-message probe-event
    args status=status
    event on-http-response

spoe-message probe-grp
    args status=status

spoe-group probe-group
    messages probe-grp
"""

BACKEND = """
backend {name}
    filter spoe engine probe config "{spoe}"
    http-response set-header x-hr yes
    http-response send-spoe-group probe probe-group
    http-after-response set-header x-har yes
{extra}
"""

CFG = """global
    log stdout format raw local0 info

defaults
    mode http
    log global
    option httplog
    timeout connect 500ms
    timeout client 5s
    timeout server 300ms
    retries 0

frontend fe
    bind 127.0.0.1:{port}
    use_backend %[req.hdr(x-case)]
{backends}
backend agent
    mode tcp
    timeout server 30s
    server a 127.0.0.1:{agent}
"""


class Fixed(threading.Thread):
    """A loopback HTTP server answering every request with <status>, or
    never answering (status None)."""

    def __init__(self, status):
        super().__init__(daemon=True)
        self.status = status
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.held = []
        self.answered = 0

    def run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,),
                             daemon=True).start()

    def serve(self, c):
        self.held.append(c)
        buf = b""
        try:
            while True:
                d = c.recv(65536)
                if not d:
                    return
                buf += d
                while b"\r\n\r\n" in buf:
                    head, buf = buf.split(b"\r\n\r\n", 1)
                    if self.status is None:
                        continue
                    c.sendall(b"HTTP/1.1 %d X\r\ncontent-length: 2\r\n\r\nok"
                              % self.status)
                    self.answered += 1
        except OSError:
            return


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def probe(haproxy, label):
    ok200, ko503, hang = Fixed(200), Fixed(503), Fixed(None)
    for t in (ok200, ko503, hang):
        t.start()
    cases = {
        "up": "    server s 127.0.0.1:%d" % ok200.port,
        "refused": "    server s 127.0.0.1:%d" % closed_port(),
        "timeout": "    server s 127.0.0.1:%d" % hang.port,
        "retried": "    retry-on 503\n    retries 1\n    option redispatch 1"
                   "\n    balance first\n    server bad 127.0.0.1:%d\n"
                   "    server good 127.0.0.1:%d" % (ko503.port, ok200.port),
    }
    rows = []
    with harness.Procs() as procs:
        aport, port = harness.free_port(), harness.free_port()
        spoe = procs.write("probe-spoe.conf", SPOE)
        cfg = procs.write("probe.cfg", CFG.format(
            port=port, agent=aport, backends="".join(
                BACKEND.format(name=n, spoe=spoe, extra=x)
                for n, x in cases.items())))
        a = procs.start([ACK, str(aport)], log_name="ack.log")
        if not harness.wait_port(aport, 10, a):
            raise RuntimeError("ack-server: %s" % harness.read_log(a))
        h = procs.start(haproxy + ["-db", "-f", cfg], log_name="haproxy.log")
        if not harness.wait_port(port, 15, h):
            raise RuntimeError("%s: %s" % (label, harness.read_log(h)))
        for case in cases:
            before = len(harness.read_log(h))
            n503 = ko503.answered
            req = urllib.request.Request("http://127.0.0.1:%d/" % port,
                                         headers={"x-case": case})
            try:
                with urllib.request.urlopen(req, timeout=10) as r:
                    st, hdrs = r.status, r.headers
            except urllib.error.HTTPError as e:
                st, hdrs = e.code, e.headers
            time.sleep(0.3)  # the log lines
            log = harness.read_log(h)[before:]
            ev = len(re.findall(r"SPOE: \[probe-agent\] <EVENT:on-http-resp",
                                log))
            grp = len(re.findall(r"SPOE: \[probe-agent\] <GROUP:probe-group",
                                 log))
            rows.append((label, case, st, ko503.answered - n503,
                         hdrs.get("x-hr") or "-", hdrs.get("x-har") or "-",
                         ev, grp))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--versions", default="2.6 3.0 3.2")
    args = ap.parse_args()
    rows, rc = [], 0
    for v in args.versions.split():
        try:
            if v == "2.6":
                cmd = ["/usr/sbin/haproxy"]
            else:
                cmd = rootfs.argv(rootfs.ensure(SUITES[v]),
                                  "/usr/sbin/haproxy")
            out = subprocess.run(cmd + ["-v"], stdout=subprocess.PIPE)
            label = re.search(rb"version (\S+)", out.stdout).group(1).decode()
            rows += probe(cmd, label)
        except (RuntimeError, OSError, KeyError, AttributeError,
                rootfs.RootfsError) as e:
            print("%s: cannot run: %s" % (v, e))
            rc = 1
    hdr = ("haproxy", "case", "status", "503s served", "http-response rule",
           "http-after-response rule", "SPOE on-http-response",
           "SPOE send-spoe-group")
    w = [max(len(str(x)) for x in col) for col in zip(hdr, *rows)]
    fmt = "  ".join("%%-%ds" % n for n in w)
    print(fmt % hdr)
    for r in rows:
        print(fmt % r)
    return rc


if __name__ == "__main__":
    sys.exit(main())
