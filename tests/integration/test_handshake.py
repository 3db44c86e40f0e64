#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""HELLO handshake of the real agent (SPOE.txt 3.2.4, 3.2.5, 3.5): the
first frame, every HAPROXY-HELLO refusal and its status code, the
AGENT-HELLO contents and frame-size negotiation, health checks, hello and
idle timeouts, and the log lines of refused connections."""
import time

import harness as H
import itest as I
import spop


def hello_refused(tap, port, name, code, **hello_kw):
    c = I.connect(port)
    try:
        c.send(H.haproxy_hello(**hello_kw))
        st, _msg, closed = I.expect_disconnect(c)
        tap.eq(st, code, "%s: AGENT-DISCONNECT status %d" % (name, code))
        tap.ok(closed, "%s: then the agent closes" % name)
    finally:
        c.close()


def first_frame(tap, port, name, data, code=4):
    c = I.connect(port)
    try:
        c.send(data)
        st, _msg, closed = I.expect_disconnect(c)
        tap.eq(st, code, "%s: AGENT-DISCONNECT status %d" % (name, code))
        tap.ok(closed, "%s: then the agent closes" % name)
    finally:
        c.close()


def notify_of_length(length, sid, fid):
    """A NOTIFY (aoai-route chat) whose frame length is exactly <length>."""
    pad = 0
    for _ in range(10):
        msg = H.route_msg("chat", extra=[("pad", "STRING", "x" * pad)])
        data = H.notify(sid, fid, [msg])
        got = len(data) - 4
        if got == length:
            return data
        pad = max(0, pad + length - got)
    raise RuntimeError("cannot build a NOTIFY of %d bytes" % length)


def agent_hello_checks(tap, port):
    c = I.connect(port)
    try:
        f = c.hello()
        tap.eq(f and f["type"], spop.T_AGENT_HELLO,
               "HELLO: the answer is an AGENT-HELLO")
        kv = H.kvs(f)
        tap.eq(kv.get(b"version"), b"2.0", "AGENT-HELLO: version \"2.0\"")
        tap.eq(kv.get(b"max-frame-size"), 16380,
               "AGENT-HELLO: max-frame-size 16380 for HAProxy's 16380")
        tap.eq(kv.get(b"capabilities"), b"pipelining",
               "AGENT-HELLO: capabilities exactly \"pipelining\"")
        mfs_type = [v[0] for n, v, _s, _e in f["kv"]
                    if n == b"max-frame-size"]
        tap.eq(mfs_type, ["UINT32"], "AGENT-HELLO: max-frame-size is UINT32")
        tap.eq((f["stream_id"], f["frame_id"], f["flags"]), (0, 0, 1),
               "AGENT-HELLO: stream-id 0, frame-id 0, FIN")
        f, acts = I.route(c, 1, 1)
        tap.ok(I.ack_ok(f, 1, 1) and acts.get(b"reason") == b"weighted",
               "after the HELLO a NOTIFY is ACKed", acts)
    finally:
        c.close()

    for theirs, want, label in ((65536, 16380, "above ours -> ours"),
                                (1000, 1000, "below ours -> theirs"),
                                (256, 256, "256 (the minimum) accepted"),
                                (0xFFFFFFFF, 16380, "2^32-1 -> ours")):
        c = I.connect(port)
        try:
            f = c.hello(mfs=theirs)
            tap.eq(f and H.kvs(f).get(b"max-frame-size"), want,
                   "max-frame-size %d: %s" % (theirs, label))
        finally:
            c.close()

    c = I.connect(port)
    try:
        f = c.hello(versions="1.0, 2.0 ,3.0")
        tap.ok(f and f["type"] == spop.T_AGENT_HELLO
               and H.kvs(f).get(b"version") == b"2.0",
               "supported-versions \"1.0, 2.0 ,3.0\" (spaces ignored) -> 2.0",
               f and f["type_name"])
    finally:
        c.close()

    c = I.connect(port)
    try:
        f = c.hello(caps="pipelining,async,fragmentation")
        tap.eq(f and H.kvs(f).get(b"capabilities"), b"pipelining",
               "HAProxy offering async/fragmentation still gets pipelining "
               "only")
    finally:
        c.close()


def negotiated_size(tap, port):
    """The negotiated size applies to frames from HAProxy afterwards."""
    c = I.active(port, mfs=1000)
    try:
        c.send(notify_of_length(1000, 5, 9))
        f = c.recv()
        tap.ok(I.ack_ok(f, 5, 9), "negotiated 1000: a 1000-byte NOTIFY is "
               "ACKed", f and f["type_name"])
        c.send(notify_of_length(1001, 5, 10))
        st, _m, closed = I.expect_disconnect(c)
        tap.eq(st, 3, "negotiated 1000: a 1001-byte NOTIFY -> DISCONNECT 3")
        tap.ok(closed, "negotiated 1000: then the agent closes")
    finally:
        c.close()


def healthcheck(tap, port):
    c = I.connect(port)
    try:
        c.send(H.haproxy_hello(healthcheck=True))
        f = c.recv()
        tap.eq(f and f["type"], spop.T_AGENT_HELLO,
               "health check: AGENT-HELLO")
        # then EOF, and no DISCONNECT in between
        nxt = "timeout"
        try:
            nxt = c.recv(5)
        except OSError:
            pass
        tap.ok(nxt is None, "health check: the agent closes without a "
               "DISCONNECT", nxt if nxt is None or nxt == "timeout"
               else nxt["type_name"])
    finally:
        c.close()
    c = I.connect(port)
    try:
        f = c.hello(healthcheck=False)
        tap.eq(f and f["type"], spop.T_AGENT_HELLO,
               "healthcheck=false: AGENT-HELLO")
        f, _ = I.route(c, 3, 4)
        tap.ok(I.ack_ok(f, 3, 4), "healthcheck=false: the connection "
               "stays usable")
    finally:
        c.close()


def refusals(tap, port):
    first_frame(tap, port, "first frame NOTIFY",
                H.notify(1, 1, [H.route_msg()]))
    first_frame(tap, port, "first frame HAPROXY-DISCONNECT",
                H.haproxy_disconnect())
    first_frame(tap, port, "first frame of unknown type 50",
                spop.frame(50, b""))
    first_frame(tap, port, "first frame an ACK (agent frame)",
                spop.ack_set_var(1, 1, "x", "y"))
    hello_refused(tap, port, "HELLO without supported-versions", 5,
                  omit=("versions",))
    hello_refused(tap, port, "HELLO with version \"1.0\"", 8,
                  versions="1.0")
    hello_refused(tap, port, "HELLO without max-frame-size", 6,
                  omit=("mfs",))
    hello_refused(tap, port, "HELLO with max-frame-size 255", 9, mfs=255)
    hello_refused(tap, port, "HELLO without capabilities", 7,
                  omit=("caps",))
    # a HELLO whose KV-LIST is cut in the middle of an item
    hello = H.haproxy_hello()
    body = hello[4:-3]
    first_frame(tap, port, "HELLO with a truncated KV-LIST",
                len(body).to_bytes(4, "big") + body)


def timeouts_and_logs(tap, procs, agents):
    port = H.free_port()
    p, _ = agents.start(I.agent_cfg(port, hello_timeout="1s",
                                    idle_timeout="1s",
                                    max_frame_size=4096),
                        port, name="agent-timeouts")
    # log lines of refused connections name the peer and the reason
    c = I.connect(port)
    peer1 = "127.0.0.1:%d" % c.sock.getsockname()[1]
    c.send(H.notify(1, 1, [H.route_msg()]))
    st1, _m, _c = I.expect_disconnect(c)
    c.close()
    c = I.connect(port)
    peer2 = "127.0.0.1:%d" % c.sock.getsockname()[1]
    c.send(H.haproxy_hello(versions="1.0"))
    st2, _m, _c = I.expect_disconnect(c)
    c.close()

    c = I.connect(port)
    peer3 = "127.0.0.1:%d" % c.sock.getsockname()[1]
    t0 = time.monotonic()
    st3, _m, closed = I.expect_disconnect(c, timeout=6)
    dt = time.monotonic() - t0
    c.close()
    tap.eq(st3, 2, "hello_timeout 1s, nothing sent: DISCONNECT status 2")
    tap.ok(closed, "hello timeout: then the agent closes")
    tap.ok(0.7 <= dt <= 4.5, "hello timeout fires after about 1s",
           "%.2fs" % dt)

    c = I.connect(port)
    c.send(H.haproxy_hello()[:5])  # a HELLO cut after its prefix
    st, _m, closed = I.expect_disconnect(c, timeout=6)
    c.close()
    tap.eq(st, 2, "hello timeout with half a HELLO sent: status 2")

    c = I.connect(port)
    f = c.hello()
    tap.eq(f and H.kvs(f).get(b"max-frame-size"), 4096,
           "agent max_frame_size 4096: AGENT-HELLO says 4096 for HAProxy's "
           "16380")
    ok = True
    for i in range(5):  # 2 s of traffic, one NOTIFY every 0.4 s
        time.sleep(0.4)
        f, _ = I.route(c, 9, i + 1)
        ok = ok and I.ack_ok(f, 9, i + 1)
    tap.ok(ok, "idle_timeout 1s: a connection with traffic every 0.4s "
           "stays open for 2s")
    t0 = time.monotonic()
    st, _m, closed = I.expect_disconnect(c, timeout=6)
    dt = time.monotonic() - t0
    c.close()
    tap.eq(st, 2, "idle_timeout 1s after HELLO: DISCONNECT status 2")
    tap.ok(closed, "idle timeout: then the agent closes")
    tap.ok(0.7 <= dt <= 4.5, "idle timeout fires about 1s after the last "
           "frame", "%.2fs" % dt)

    tap.ok(I.serves(port), "agent-timeouts still serves new connections")
    log = H.read_log(p).splitlines()

    def has(peer, *words):
        return any(peer in ln and all(w in ln for w in words) for ln in log)
    tap.ok(st1 == 4 and has(peer1, "DISCONNECT 4",
                           "first frame is not HAPROXY-HELLO"),
           "log: refused connection names the peer and the reason (first "
           "frame)", "\n".join(log[-10:]))
    tap.ok(st2 == 8 and has(peer2, "DISCONNECT 8", "version"),
           "log: refused HELLO names the peer and the reason (version)",
           "\n".join(log[-10:]))
    tap.ok(has(peer3, "DISCONNECT 2", "HELLO"),
           "log: hello timeout names the peer and the reason",
           "\n".join(log[-10:]))


def main():
    tap = H.Tap()
    with H.Procs() as procs:
        agents = I.Agents(tap, procs)
        try:
            port = H.free_port()
            agents.start(H.agent_yaml(port), port)
            agent_hello_checks(tap, port)
            refusals(tap, port)
            negotiated_size(tap, port)
            healthcheck(tap, port)
            tap.ok(I.serves(port), "the agent still serves after every "
                   "refusal")
            timeouts_and_logs(tap, procs, agents)
        except Exception as exc:  # a crash is a failed check, not a hang
            tap.ok(False, "handshake tests ran to the end", repr(exc))
        agents.finish()
    tap.done()


if __name__ == "__main__":
    main()
