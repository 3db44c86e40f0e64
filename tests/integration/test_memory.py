#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Memory under floods: idle SPOP connections hold no frame buffers, and
memory goes back to the system after a flood.

Baseline: the agent's RSS with a few connections served. Then:
- 2,000 idle connections after HELLO: RSS per connection (the increase
  over the baseline, divided) stays far below one frame buffer (16 KiB);
  before, each held both buffers (49 KiB).
- five rounds of 2,000 connections that each leave a frame half sent
  (a read buffer held by each), then close: after each round RSS comes
  back to within 2x the baseline (before: 64.7 MB after five rounds of
  2,000, from 2.8 MB).
The agent measured is the build without sanitizers (AddressSanitizer's
allocator keeps freed memory in quarantine). RSS is read from
/proc/PID/status; no timing is asserted (the return is
awaited for up to 20 s, an event).
"""
import socket
import struct

import harness as H
import itest

N = 2000
ROUNDS = 5


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def open_hello(port, n):
    conns = []
    for _ in range(n):
        c = itest.connect(port)
        c.send(H.haproxy_hello())
        conns.append(c)
    for c in conns:
        f = c.recv()
        if not f:
            raise RuntimeError("no AGENT-HELLO")
    return conns


def main():
    t = H.Tap()
    H.raise_nofile(3 * N + 256)
    with H.Procs() as procs:
        port = H.free_port()
        p, _ = H.start_agent(procs, H.agent_yaml(port, log_level="notice"),
                             port, binary=H.AGENT_FAST)
        for _ in range(5):
            itest.serves(port)
        base = rss_kib(p.pid)

        conns = open_hello(port, N)
        for i, c in enumerate(conns):
            itest.route(c, 1, i + 1)
        idle = rss_kib(p.pid)
        per = (idle - base) * 1024 / N
        t.ok(per < 4096, "%d idle connections after HELLO and one NOTIFY: "
             "%.0f bytes of RSS each (baseline %d KiB, with them %d KiB; "
             "< 4 KiB: no frame buffer held)" % (N, per, base, idle))
        for c in conns:
            c.close()

        peak = 0
        after = []
        for r in range(ROUNDS):
            conns = open_hello(port, N)
            # a frame announced at 1000 bytes, 10 sent: a read buffer each
            part = struct.pack(">I", 1000) + b"\x03" * 10
            for c in conns:
                c.send(part)
            H.wait_until(lambda: rss_kib(p.pid) > base + N * 3, 10)
            peak = max(peak, rss_kib(p.pid))
            for c in conns:
                c.close()
            H.wait_until(lambda: rss_kib(p.pid) <= 2 * base, 20, 0.2)
            after.append(rss_kib(p.pid))
        t.ok(peak > base + N * 3, "the floods held read buffers (peak %d "
             "KiB)" % peak)
        t.ok(all(a <= 2 * base for a in after),
             "after each of %d floods of %d connections RSS came back to "
             "within 2x the baseline of %d KiB: %s KiB"
             % (ROUNDS, N, base, after))
        t.ok(itest.serves(port), "still serving")
        procs.stop(p)
    t.done()


if __name__ == "__main__":
    main()
