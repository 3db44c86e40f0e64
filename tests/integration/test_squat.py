#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""SPOP squatting: a connection that trickles bytes without ever
completing a frame is closed by the idle timeout all the same; with
max_connections filled by connections that never say HELLO, HAProxy's
health checks and connections are still served (the oldest connection
without HELLO makes room).
"""
import socket
import time

import harness as H
import itest
import spop


def trickle(port, frame, step):
    """HELLO, then <frame> one byte every <step> s. Returns the number
    of bytes sent before the agent closed the connection (len(frame)
    when it never did)."""
    c = itest.active(port)
    sent = 0
    try:
        for b in frame:
            try:
                c.send(bytes([b]))
            except OSError:
                return sent
            sent += 1
            # anything from the agent (its DISCONNECT, EOF) ends it
            if c.eof(step):
                return sent
        return sent
    finally:
        c.close()


def main():
    t = H.Tap()
    H.raise_nofile(4096)
    with H.Procs() as procs:
        # trickling: idle_timeout 1s; a frame announced at 200 bytes
        # whose body comes one byte every 0.1 s, 8x the idle timeout
        port = H.free_port()
        p, _ = H.start_agent(procs, H.agent_yaml(port, idle_timeout="1s"),
                             port)
        frame = b"\x00\x00\x00\xc8" + b"\x03" * 80
        sent = trickle(port, frame, 0.1)
        t.ok(sent < len(frame), "a connection trickling one byte at a "
             "time, never completing a frame, is closed by the idle "
             "timeout (%d of %d bytes taken)" % (sent, len(frame)))
        t.ok(itest.serves(port), "a normal connection is served meanwhile")
        procs.stop(p)

        # a flood without HELLO on a small cap
        port = H.free_port()
        cap = 16
        p, _ = H.start_agent(procs, H.agent_yaml(
            port, max_connections=cap, hello_timeout="60s"), port)
        flood = []
        try:
            for _ in range(cap * 4):
                s = socket.create_connection((H.LOCAL, port), 5)
                flood.append(s)
            time.sleep(0.2)
            ok = 0
            for _ in range(10):
                try:
                    c = itest.connect(port)
                    f = c.hello(healthcheck=True)
                    c.close()
                    ok += f is not None and f["type"] == spop.T_AGENT_HELLO
                except OSError:
                    pass
            t.eq(ok, 10, "health checks answered 10/10 while %d "
                 "connections without HELLO sit on max_connections %d"
                 % (len(flood), cap))
            served = sum(itest.serves(port) for _ in range(10))
            t.eq(served, 10, "HAProxy-like connections served 10/10 "
                 "meanwhile")
            active = [itest.active(port) for _ in range(cap // 2)]
            for _ in range(cap * 2):
                flood.append(socket.create_connection((H.LOCAL, port), 5))
            time.sleep(0.2)
            still = sum(itest.ack_ok(itest.route(c, 1, 2)[0], 1, 2)
                        for c in active)
            t.eq(still, len(active), "connections after HELLO are never "
                 "the ones evicted")
            for c in active:
                c.close()
        finally:
            for s in flood:
                s.close()
        t.ok(itest.log_lines(p, "closed the oldest connection without "
                             "HELLO"), "the eviction is logged")
        procs.stop(p)
    t.done()


if __name__ == "__main__":
    main()
