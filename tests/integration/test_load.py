#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Stream handling and connection load against the real agent: byte at a
time delivery, pipelining in one write, large ACKs to a slow reader, 1,000
concurrent connections, max_connections, and EOF/RST at any point."""
import resource
import select
import socket
import threading
import time

import harness as H
import itest as I
import spop


def byte_at_a_time(tap, port):
    c = I.connect(port)
    try:
        data = H.haproxy_hello() + b"".join(
            H.notify(i, 1000 + i, [H.route_msg()]) for i in range(20))
        for i in range(len(data)):
            c.send(data[i:i + 1])
            if i % 4 == 0:
                time.sleep(0.0005)
        f = c.recv()
        tap.eq(f and f["type"], spop.T_AGENT_HELLO,
               "byte at a time: AGENT-HELLO")
        ok = 0
        order = []
        for _ in range(20):
            f = c.recv()
            if f and f["type"] == spop.T_ACK and \
                    f["frame_id"] == 1000 + f["stream_id"] and \
                    H.actions(f).get(b"reason") == b"weighted":
                ok += 1
                order.append(f["stream_id"])
        tap.eq(ok, 20, "byte at a time: 20 NOTIFYs, 20 correct ACKs")
        tap.eq(sorted(order), list(range(20)), "byte at a time: each id "
               "answered once")
    finally:
        c.close()


def pipelined(tap, port, n=300):
    c = I.active(port)
    try:
        c.send(b"".join(H.notify(i, 5000 + i, [H.route_msg()])
                        for i in range(n)))
        seen = []
        good = True
        for _ in range(n):
            f = c.recv()
            if f is None or f["type"] != spop.T_ACK:
                good = False
                break
            seen.append((f["stream_id"], f["frame_id"]))
            good = good and len(f["actions"]) >= 1
        tap.eq(sorted(seen), [(i, 5000 + i) for i in range(n)],
               "%d NOTIFYs in one write: %d ACKs with the right ids"
               % (n, n))
        tap.ok(good, "pipelined ACKs all carry actions")
        f, _ = I.route(c, 1, 1)
        tap.ok(I.ack_ok(f, 1, 1), "the pipelined connection is still usable")
    finally:
        c.close()


def slow_reader_big_acks(tap, port, p, n=3000):
    """HAProxy is slow to read while NOTIFYs keep coming, and each ACK is
    about 1.5 KiB (62 aoai-route messages in one NOTIFY, far below the
    negotiated 16380). The agent must apply back-pressure, not break the
    connection. Every ACK has the same size (ids kept to 2-byte varints)
    so the output buffer fills the same way on every run."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect((H.LOCAL, port))
    c = I.Peer.__new__(I.Peer)
    c.sock, c.buf = s, b""
    ids = [(240 + i % 2000, 240 + i // 2000) for i in range(n)]
    try:
        c.hello()
        msgs = [("aoai-route", [])] * 62
        data = b"".join(H.notify(sid, fid, msgs) for sid, fid in ids)

        def writer():
            try:
                s.sendall(data)
            except OSError:
                pass
        s.settimeout(30)
        t = threading.Thread(target=writer, daemon=True)
        t.start()
        time.sleep(2.0)  # not reading: output piles up on the agent side
        got = []
        last = None
        while len(got) < n:
            try:
                f = c.recv(10)
            except (socket.timeout, spop.DecodeError) as exc:
                last = repr(exc)
                break
            if f is None or f["type"] != spop.T_ACK:
                last = "EOF" if f is None else (f["type_name"], H.kvs(f))
                break
            got.append((f["stream_id"], f["frame_id"]))
        tap.ok(len(got) == n, "slow reader, %d pipelined NOTIFYs with "
               "1.5 KiB ACKs: every one ACKed" % n,
               "%d ACKed, then %r; agent log: %s" % (
                   len(got), last, I.log_lines(p, "DISCONNECT")[-2:]))
        tap.ok(got == ids[:len(got)], "slow reader: ACKs carry the right "
               "ids")
        I.rst_close(s)
        t.join(10)
    finally:
        c.close()


def concurrent(tap, port, n=1000):
    socks = []
    try:
        for _ in range(n):
            socks.append(I.connect(port, timeout=10))
        tap.eq(len(socks), n, "%d connections open at once" % n)
        for c in socks:
            c.send(H.haproxy_hello())
        hellos = sum(1 for c in socks
                     if (lambda f: f and f["type"] == spop.T_AGENT_HELLO)(
                         c.recv(10)))
        tap.eq(hellos, n, "%d concurrent connections: every HELLO answered"
               % n)
        for i, c in enumerate(socks):
            c.send(H.notify(i, i + 1, [H.route_msg()]))
        acks = 0
        for i, c in enumerate(socks):
            f = c.recv(10)
            if I.ack_ok(f, i, i + 1):
                acks += 1
        tap.eq(acks, n, "%d concurrent connections: every NOTIFY ACKed"
               % n)
    finally:
        for c in socks:
            c.close()


def max_connections(tap, port, p):
    """At max_connections a new connection replaces an idle one; it is
    refused only when every connection has a frame in flight. So each
    of the 10 first gets one answered NOTIFY and the first 4 bytes of the
    next one in the same segment (read once the first ACK is back)."""
    conns = [I.active(port) for _ in range(10)]
    rest = []
    for i, c in enumerate(conns):
        nxt = H.notify(1, i + 1, [H.route_msg("chat", None, ())])
        c.send(H.notify(2, i + 1, [H.route_msg("chat", None, ())]) +
               nxt[:4])
        c.recv()
        rest.append(nxt[4:])
    extra = None
    try:
        extra = I.connect(port)
        peer = "127.0.0.1:%d" % extra.sock.getsockname()[1]
        try:
            extra.send(H.haproxy_hello())
        except OSError:
            pass
        try:
            f = extra.recv(5)
        except OSError as exc:  # reset: closed without an answer too
            f = None if not isinstance(exc, socket.timeout) else "timeout"
        tap.ok(f is None, "max_connections 10: the 11th connection is "
               "closed without a HELLO answer",
               f if not isinstance(f, dict) else f["type_name"])
        tap.ok(H.wait_until(lambda: I.log_lines(
            p, r"%s.*refused.*max_connections" % peer), 5),
               "log: the refusal names the peer and max_connections",
               H.read_log(p)[-1500:])
        ok = True
        for i, c in enumerate(conns):
            c.send(rest[i])
            ok = I.ack_ok(c.recv(), 1, i + 1) and ok
        tap.ok(ok, "the 10 admitted connections keep working")
        # all idle now: a new connection is served, the idlest one goes
        # (one that completed a frame in the same millisecond would not)
        time.sleep(0.05)
        fresh = I.connect(port)
        try:
            f = fresh.hello()
            tap.ok(f is not None and f["type"] == spop.T_AGENT_HELLO,
                   "max_connections 10, every connection idle: the 11th "
                   "is served")
        finally:
            fresh.close()
        closed = [c for c in conns if c.eof(0.3)]
        tap.eq(len(closed), 1, "and exactly one idle connection was "
               "closed for it")
        tap.ok(H.wait_until(lambda: I.log_lines(
            p, r"max_connections reached.*closed conn #\d+.*idle"), 5),
               "log: the eviction names the limit and the connection")
        for c in closed:
            conns.remove(c)
            c.close()
        conns.pop().close()
        tap.ok(H.wait_until(lambda: I.serves(port), 5),
               "after closing one, a new connection is served")
    finally:
        if extra:
            extra.close()
        for c in conns:
            c.close()


def abrupt_closes(tap, port):
    """Each way a peer can vanish; meanwhile an old connection and new
    ones keep working. The agent has max_connections 10, so leaked
    connection slots would show at the end."""
    keeper = I.active_retry(port)  # the last test's closes may be pending
    try:
        hello = H.haproxy_hello()
        notes = b"".join(H.notify(i, i + 1, [H.route_msg()])
                         for i in range(200))
        half = H.notify(1, 1, [H.route_msg()])
        cases = []

        def case(name, fn):
            cases.append(name)
            c = I.connect(port)
            try:
                fn(c)
            except OSError:
                pass
            finally:
                c.close()
            f, _ = I.route(keeper, 1, len(cases))
            tap.ok(I.ack_ok(f, 1, len(cases)) and I.serves(port),
                   "%s: the agent keeps serving (old and new connections)"
                   % name)

        case("RST right after connect", lambda c: I.rst_close(c.sock))
        case("EOF mid-HELLO", lambda c: (c.send(hello[:20]),
                                         c.sock.shutdown(socket.SHUT_WR),
                                         c.eof(2)))
        case("RST mid-HELLO", lambda c: (c.send(hello[:20]),
                                         time.sleep(0.05),
                                         I.rst_close(c.sock)))
        case("EOF in the length prefix", lambda c: (
            c.send(hello), c.recv(), c.send(b"\x00\x00"),
            c.sock.shutdown(socket.SHUT_WR), c.eof(2)))
        case("EOF mid-NOTIFY", lambda c: (
            c.send(hello), c.recv(), c.send(half[:12]),
            c.sock.shutdown(socket.SHUT_WR), c.eof(2)))
        case("RST mid-NOTIFY", lambda c: (
            c.send(hello), c.recv(), c.send(half[:12]), time.sleep(0.05),
            I.rst_close(c.sock)))
        case("RST with 200 NOTIFYs in flight", lambda c: (
            c.send(hello), c.recv(), c.send(notes), I.rst_close(c.sock)))
        case("EOF with 200 NOTIFYs in flight", lambda c: (
            c.send(hello), c.recv(), c.send(notes),
            c.sock.shutdown(socket.SHUT_WR), c.eof(2)))
        case("RST while HELLO and NOTIFYs arrive together", lambda c: (
            c.send(hello + notes), I.rst_close(c.sock)))

        def unread(c):
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            c.send(hello)
            c.recv()
            big = b"".join(H.notify(i, i + 1, [H.route_msg()] * 20)
                           for i in range(3000))
            c.sock.settimeout(2)
            try:
                c.sock.sendall(big)
            except OSError:
                pass
            I.rst_close(c.sock)
        case("RST while the agent is blocked writing ACKs", unread)
        case("RST after the agent sent a DISCONNECT", lambda c: (
            c.send(hello), c.recv(), c.send(H.notify(1, 1, [], flags=0)),
            time.sleep(0.05), I.rst_close(c.sock)))
        case("RST after a health check", lambda c: (
            c.send(H.haproxy_hello(healthcheck=True)), I.rst_close(c.sock)))
    finally:
        keeper.close()
    # every slot was given back: 10 connections fit again
    conns = []

    def fill():
        while conns:
            conns.pop().close()
        try:
            for _ in range(10):
                conns.append(I.active(port))
            return True
        except (OSError, RuntimeError):
            return False
    try:
        tap.ok(H.wait_until(fill, 5, 0.2), "after the abrupt closes, all 10 "
               "connection slots are free again")
    finally:
        for c in conns:
            c.close()


def out_of_descriptors(tap, procs, agents):
    """RLIMIT_NOFILE 32: accept() fails with EMFILE; the agent must pause
    accepting, keep what it has, and admit the waiting connections once
    descriptors are free again."""
    port = H.free_port()
    cfg = procs.write("agent-emfile.yaml", I.agent_cfg(port))

    def limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (32, 32))
    p = procs.start([H.AGENT, "-f", cfg], log_name="agent-emfile.log",
                    preexec_fn=limit, env=I.env_without_listen())
    agents.track("agent-emfile", p)
    if not H.wait_port(port, 10, p):
        tap.ok(False, "agent-emfile starts", H.read_log(p)[-800:])
        return
    conns = [I.connect(port) for _ in range(40)]
    try:
        for c in conns:
            c.send(H.haproxy_hello())

        def collect(pending, secs):
            done = []
            end = time.monotonic() + secs
            while pending and time.monotonic() < end:
                r, _w, _x = select.select([c.sock for c in pending], [], [],
                                          0.1)
                for c in [c for c in pending if c.sock in r]:
                    pending.remove(c)
                    f = c.recv(2)
                    if f and f["type"] == spop.T_AGENT_HELLO:
                        done.append(c)
            return done
        pending = list(conns)
        first = collect(pending, 2.0)
        tap.ok(0 < len(first) <= 40, "RLIMIT_NOFILE 32, 40 connections: "
               "the agent answers what it can (%d)" % len(first))
        for c in first:
            c.close()
        later = collect(pending, 8.0)
        tap.eq(len(first) + len(later), 40, "once descriptors are free, "
               "every waiting connection gets its AGENT-HELLO")
        tap.ok(p.poll() is None and I.serves(port),
               "out of descriptors: the agent keeps serving")
        if len(first) < 40:
            tap.ok(I.log_lines(p, "Too many open files"),
                   "the log says why accepting paused")
    finally:
        for c in conns:
            c.close()


def main():
    tap = H.Tap()
    want = H.raise_nofile(4096)
    with H.Procs() as procs:
        agents = I.Agents(tap, procs)
        try:
            port = H.free_port()
            p, _ = agents.start(H.agent_yaml(port), port)
            byte_at_a_time(tap, port)
            pipelined(tap, port)
            slow_reader_big_acks(tap, port, p)
            if want >= 2100:
                concurrent(tap, port)
            else:
                print("ok - 1000 concurrent connections # SKIP "
                      "RLIMIT_NOFILE hard limit %d" % want)
            tap.ok(I.serves(port), "the agent still serves after the load")

            port2 = H.free_port()
            p2, _ = agents.start(I.agent_cfg(port2, max_connections=10),
                                 port2, name="agent-max10")
            max_connections(tap, port2, p2)
            abrupt_closes(tap, port2)
            out_of_descriptors(tap, procs, agents)
        except Exception as exc:
            tap.ok(False, "load tests ran to the end", repr(exc))
        agents.finish()
    tap.done()


if __name__ == "__main__":
    main()
