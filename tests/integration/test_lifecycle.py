#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Lifecycle of the real agent: SIGHUP reloads (bad files rejected with
FILE:LINE:COL errors, good ones applied, breaker state kept), and SIGTERM
with open connections (DISCONNECT 0 to each, bounded by shutdown_timeout
even when a peer never reads)."""
import os
import re
import signal
import socket
import threading
import time

import harness as H
import itest as I

EMBEDDINGS = """\
  - name: embeddings
    members:
      - {backend: swedencentral, priority: 1, weight: 1}
      - {backend: eastus, priority: 1, weight: 1}
"""


def pos(text, needle, offset=0):
    """1-based (line, col) of <needle> (+offset) in <text>."""
    i = text.index(needle) + offset
    line = text.count("\n", 0, i) + 1
    col = i - (text.rfind("\n", 0, i) + 1) + 1
    return line, col


def sighup(p):
    os.kill(p.pid, signal.SIGHUP)


def wait_log(p, pattern, count=1, timeout=5):
    return H.wait_until(lambda: len(I.log_lines(p, pattern)) >= count,
                        timeout)


def reloads(tap, procs, agents):
    port = H.free_port()
    good = I.agent_cfg(port)
    p, cfg = agents.start(good, port, name="agent-reload")
    keep = I.active(port)
    try:
        # throttle eastus for long before any reload
        f = I.send_result(keep, 1, 1, "eastus", 429, retry_after_ms="30000")
        chat = {I.route(keep, 2, i + 1)[1].get(b"backend")
                for i in range(8)}
        tap.eq(chat, {b"swedencentral"}, "before the reloads: eastus is "
               "throttled (only swedencentral)")

        # 1. a YAML syntax error
        bad1 = good.replace("    members:\n", "    members: x\n     y: z\n",
                            1)
        line1, col1 = pos(bad1, "     y: z", 6)
        with open(cfg, "w") as fh:
            fh.write(bad1)
        sighup(p)
        tap.ok(wait_log(p, r"rejected"), "SIGHUP with a syntax error: the "
               "log says the reload was rejected", H.read_log(p)[-1500:])
        errs = I.log_lines(p, re.escape(cfg) + r":\d+:\d+: ")
        tap.ok(any("%s:%d:%d: " % (cfg, line1, col1) in ln for ln in errs),
               "syntax error logged as FILE:%d:%d: message" % (line1, col1),
               errs)
        f, acts = I.route(keep, 3, 1)
        tap.ok(I.ack_ok(f, 3, 1) and acts.get(b"backend") ==
               b"swedencentral", "after the rejected reload the old pools "
               "route (existing connection)", acts)
        tap.ok(I.serves(port), "after the rejected reload new connections "
               "are served")

        # 2. an unknown key and a bad value
        bad2 = good.replace("agent:\n", "agent:\n  colour: blue\n", 1)
        bad2 = bad2.replace("weight: 1}", "weight: many}", 1)
        line2, col2 = pos(bad2, "colour")
        line3, col3 = pos(bad2, "many")
        with open(cfg, "w") as fh:
            fh.write(bad2)
        sighup(p)
        tap.ok(wait_log(p, r"rejected", 2), "SIGHUP with an unknown key and "
               "a bad value: rejected", H.read_log(p)[-1500:])
        errs = I.log_lines(p, re.escape(cfg) + r":\d+:\d+: ")
        tap.ok(any("%s:%d:%d: " % (cfg, line2, col2) in ln and "colour" in ln
                   for ln in errs),
               "unknown key logged at FILE:%d:%d naming the key"
               % (line2, col2), errs)
        tap.ok(any("%s:%d:%d: " % (cfg, line3, col3) in ln for ln in errs),
               "bad weight logged at FILE:%d:%d" % (line3, col3), errs)
        tap.ok(any("2 errors" in ln for ln in I.log_lines(p, "rejected")),
               "the rejection counts 2 errors", I.log_lines(p, "rejected"))
        _f, acts = I.route(keep, 3, 2, pool="chat")
        tap.eq(acts.get(b"reason"), b"weighted", "old pools still route")

        # 3. a good file adding pool "embeddings"
        with open(cfg, "w") as fh:
            fh.write(good + EMBEDDINGS)
        sighup(p)
        tap.ok(wait_log(p, r"reloaded"), "SIGHUP with a good file: "
               "reloaded", H.read_log(p)[-1500:])
        emb = set()
        ok = True
        for i in range(8):
            f, acts = I.route(keep, 4, i + 1, pool="embeddings")
            ok = ok and I.ack_ok(f, 4, i + 1) and acts.get(b"reason") == \
                b"weighted"
            emb.add(acts.get(b"backend"))
        tap.ok(ok, "after the reload, routes for pool \"embeddings\" work "
               "(on a connection opened before it)")
        tap.eq(emb, {b"swedencentral"}, "breaker state survives the reload: "
               "eastus still avoided in the new pool")
        chat = {I.route(keep, 5, i + 1)[1].get(b"backend")
                for i in range(8)}
        tap.eq(chat, {b"swedencentral"}, "breaker state survives the "
               "reload: eastus still avoided in chat")
        c = I.active(port)
        _f, acts = I.route(c, 1, 1, pool="embeddings")
        c.close()
        tap.eq(acts.get(b"backend"), b"swedencentral",
               "a new connection routes pool \"embeddings\" too")

        # 4. a good file dropping pool "chat"
        with open(cfg, "w") as fh:
            fh.write(good.replace("  - name: chat\n", "  - name: chat2\n")
                     + EMBEDDINGS)
        sighup(p)
        tap.ok(wait_log(p, r"reloaded", 2), "second good reload applied")
        _f, acts = I.route(keep, 6, 1, pool="chat")
        tap.eq(acts, {b"reason": b"unknown-pool"}, "a pool removed by a "
               "reload is unknown afterwards")
        _f, acts = I.route(keep, 6, 2, pool="chat2")
        tap.eq(acts.get(b"backend"), b"swedencentral",
               "the renamed pool routes, eastus still throttled")
    finally:
        keep.close()


def sigterm_open_connections(tap, procs, agents):
    port = H.free_port()
    p, _ = agents.start(I.agent_cfg(port, shutdown_timeout="3s"), port,
                        name="agent-sigterm")
    conns = [I.active(port) for _ in range(5)]
    for i, c in enumerate(conns):
        I.route(c, i, 1)
    waiting = I.connect(port)  # connected, no HELLO yet
    t0 = time.monotonic()
    os.kill(p.pid, signal.SIGTERM)
    res = [I.expect_disconnect(c, timeout=5) for c in conns]
    tap.eq([r[0] for r in res], [0] * 5, "SIGTERM: each of 5 connected "
           "clients receives AGENT-DISCONNECT status 0")
    tap.ok(all(r[2] for r in res), "SIGTERM: then EOF on each")
    tap.ok(waiting.eof(5), "SIGTERM: a connection still in HELLO is closed")
    try:
        rc = p.wait(6)
    except Exception:
        rc = None
    dt = time.monotonic() - t0
    agents.stopped(p)
    tap.eq(rc, 0, "SIGTERM with open connections: exit status 0")
    tap.ok(dt < 3.0 + 1.0, "... within shutdown_timeout (3s)",
           "%.2fs" % dt)
    for c in conns + [waiting]:
        c.close()


def sigterm_stuck_reader(tap, procs, agents):
    port = H.free_port()
    p, _ = agents.start(I.agent_cfg(port, shutdown_timeout="2s"), port,
                        name="agent-stuck")
    stuck = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.connect((H.LOCAL, port))
    stuck.sendall(H.haproxy_hello())
    # ACKs of 20 routes (~0.8 KiB each): several MiB nobody reads
    data = b"".join(H.notify(i, i + 1, [H.route_msg()] * 20)
                    for i in range(10000))
    stuck.settimeout(20)

    def writer():
        try:
            stuck.sendall(data)
        except OSError:
            pass
    t = threading.Thread(target=writer, daemon=True)
    t.start()
    reader = I.active(port)
    time.sleep(1.5)
    t0 = time.monotonic()
    os.kill(p.pid, signal.SIGTERM)
    st, _m, closed = I.expect_disconnect(reader, timeout=5)
    tap.eq(st, 0, "SIGTERM beside a peer that never reads: the reading "
           "client gets DISCONNECT 0")
    tap.ok(closed, "... and EOF")
    refused = False
    try:
        socket.create_connection((H.LOCAL, port), 1).close()
    except OSError:
        refused = True
    tap.ok(refused or p.poll() is not None, "while stopping, the listener "
           "is closed (new connections refused)")
    try:
        rc = p.wait(8)
    except Exception:
        rc = None
    dt = time.monotonic() - t0
    agents.stopped(p)
    tap.eq(rc, 0, "a client that never reads: the agent still exits 0")
    tap.ok(dt < 2.0 + 2.0, "... no later than shutdown_timeout (2s)",
           "%.2fs" % dt)
    reader.close()
    I.rst_close(stuck)
    t.join(5)


def sigint(tap, procs, agents):
    port = H.free_port()
    p, _ = agents.start(I.agent_cfg(port), port, name="agent-sigint")
    c = I.active(port)
    os.kill(p.pid, signal.SIGINT)
    st, _m, closed = I.expect_disconnect(c)
    c.close()
    try:
        rc = p.wait(6)
    except Exception:
        rc = None
    agents.stopped(p)
    tap.ok(st == 0 and closed, "SIGINT: DISCONNECT 0 then EOF")
    tap.eq(rc, 0, "SIGINT: exit status 0")


def main():
    tap = H.Tap()
    with H.Procs() as procs:
        agents = I.Agents(tap, procs)
        try:
            reloads(tap, procs, agents)
            sigterm_open_connections(tap, procs, agents)
            sigterm_stuck_reader(tap, procs, agents)
            sigint(tap, procs, agents)
        except Exception as exc:
            tap.ok(False, "lifecycle tests ran to the end", repr(exc))
        agents.finish()
    tap.done()


if __name__ == "__main__":
    main()
