#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Frames after the HELLO (SPOE.txt 3.2, 3.4, 3.5) against the real agent:
NOTIFY -> ACK id echo and actions, what aoai-route answers, unknown
messages/arguments, several messages per NOTIFY, HAPROXY-DISCONNECT, and
every frame-level error with its status code (3, 4, 10)."""
import struct

import harness as H
import itest as I
import spop

CHAT = (b"eastus", b"swedencentral", b"westus-payg")


def frame_error(tap, port, name, data, code, ack_first=None):
    """Sends <data> after a HELLO; expects DISCONNECT <code> then EOF.
    <ack_first>: (sid, fid) of an ACK expected before the DISCONNECT."""
    c = I.active(port)
    try:
        c.send(data)
        if ack_first:
            f = c.recv()
            tap.ok(I.ack_ok(f, *ack_first), "%s: the valid NOTIFY before "
                   "it is ACKed" % name, f and f["type_name"])
        st, _m, closed = I.expect_disconnect(c, timeout=4)
        tap.eq(st, code, "%s: AGENT-DISCONNECT status %d" % (name, code))
        tap.ok(closed, "%s: then the agent closes (nothing else sent)"
               % name)
    finally:
        c.close()


def ids_echo(tap, port):
    c = I.active(port)
    try:
        cases = [(0, 1), (0, 0), (1, 1), (239, 240), (240, 239),
                 (2287, 2288), (2 ** 32, 2 ** 32 + 1), (2 ** 40, 7),
                 (5, 2 ** 40), (2 ** 63, 2 ** 63 - 1),
                 (2 ** 64 - 1, 2 ** 64 - 1)]
        bad = []
        members = True
        for sid, fid in cases:
            f, acts = I.route(c, sid, fid)
            if not I.ack_ok(f, sid, fid):
                bad.append((sid, fid, f and (f["type_name"], f["stream_id"],
                                             f["frame_id"])))
            members = members and acts.get(b"backend") in CHAT[:2] \
                and acts.get(b"reason") == b"weighted"
        tap.ok(not bad, "ACK echoes stream-id/frame-id exactly (0, 2^40, "
               "2^63, 2^64-1, varint boundaries)", bad)
        tap.ok(members, "aoai-route chat: backend is a priority-1 chat "
               "member, reason \"weighted\"")

        f, acts = I.route(c, 11, 12)
        kinds = [(a["type"], a["scope"]) for a in f["actions"]]
        tap.ok(all(k == (1, spop.SCOPE_TXN) for k in kinds) and
               set(acts) == {b"backend", b"reason"},
               "aoai-route: exactly set-var txn backend + reason", kinds)
        types = {a["name"]: a["value"][0] for a in f["actions"]}
        tap.eq(types, {b"backend": "STRING", b"reason": "STRING"},
               "aoai-route: variables are STRINGs")

        f, acts = I.route(c, 13, 14, pool="nosuch")
        tap.ok(I.ack_ok(f, 13, 14) and acts == {b"reason": b"unknown-pool"},
               "unknown pool: reason \"unknown-pool\", no backend", acts)

        c.send(H.notify(15, 16, [("aoai-route", [])]))
        f = c.recv()
        acts = H.actions(f)
        tap.ok(I.ack_ok(f, 15, 16) and b"reason" in acts
               and b"backend" not in acts,
               "aoai-route without pool: still an ACK with a reason", acts)

        c.send(H.notify(17, 18, [("aoai-route", [("pool", "NULL", None)])]))
        f = c.recv()
        acts = H.actions(f)
        tap.ok(I.ack_ok(f, 17, 18) and b"reason" in acts
               and b"backend" not in acts,
               "aoai-route with pool NULL (absent sample): ACK with a reason",
               acts)

        c.send(H.notify(19, 20, [("aoai-route",
                                  [("pool", "BINARY", b"chat"),
                                   ("key", "BINARY", b"\x00\xff")])]))
        f = c.recv()
        acts = H.actions(f)
        tap.ok(I.ack_ok(f, 19, 20) and acts.get(b"backend") in CHAT,
               "aoai-route with BINARY pool and key: routed", acts)

        c.send(H.notify(21, 22, [("x-unknown-message",
                                  [("pool", "STRING", "chat")])]))
        f = c.recv()
        tap.ok(I.ack_ok(f, 21, 22) and b"backend" not in H.actions(f)
               and b"reason" not in H.actions(f),
               "unknown message: ACKed with >= 1 action, ignored",
               f and f.get("actions"))

        c.send(H.notify(23, 24, []))
        f = c.recv()
        tap.ok(I.ack_ok(f, 23, 24), "NOTIFY with no message: ACK with >= 1 "
               "action", f and f.get("actions"))

        c.send(H.notify(25, 26, [H.route_msg(extra=[
            ("hint", "STRING", "x"), ("n", "INT64", -5), ("b", "BOOL", True),
            ("ip", "IPV4", "10.0.0.1"), ("ip6", "IPV6", "::1"),
            ("u", "UINT64", 2 ** 64 - 1), ("nul", "NULL", None)])]))
        f = c.recv()
        acts = H.actions(f)
        tap.ok(I.ack_ok(f, 25, 26) and acts.get(b"backend") in CHAT
               and acts.get(b"reason") == b"weighted",
               "unknown arguments of every type are ignored", acts)

        c.send(H.notify(27, 28, [I.result_msg("eastus", 200)]))
        f = c.recv()
        tap.ok(I.ack_ok(f, 27, 28), "aoai-result alone: ACK with >= 1 "
               "action", f and f.get("actions"))

        c.send(H.notify(29, 30, [
            ("x-first", [("a", "STRING", "b")]),
            I.result_msg("eastus", 200, retry_after="1"),
            H.route_msg("chat"),
            ("x-last", [])]))
        f = c.recv()
        acts = H.actions(f)
        tap.ok(I.ack_ok(f, 29, 30) and acts.get(b"backend") in CHAT
               and acts.get(b"reason") == b"weighted",
               "several messages in one NOTIFY (unknown, result, route, "
               "unknown): the route is answered", acts)

        c.send(H.notify(31, 32, [H.route_msg("chat"),
                                 H.route_msg("nosuch")]))
        f = c.recv()
        names = [a["name"] for a in f["actions"]] if f else []
        tap.ok(I.ack_ok(f, 31, 32) and names.count(b"reason") == 2,
               "two aoai-route messages in one NOTIFY: both answered",
               names)

        f, acts = I.route(c, 33, 34)
        tap.ok(I.ack_ok(f, 33, 34), "the connection is still usable")
    finally:
        c.close()


def unknown_frame_skipped(tap, port):
    c = I.active(port)
    try:
        c.send(spop.frame(50, b"\x01\x02\x03", 1, 1)
               + spop.frame(200, b"", 0, 0)
               + H.notify(2, 3, [H.route_msg()]))
        f = c.recv()
        tap.ok(I.ack_ok(f, 2, 3), "unknown frame types 50 and 200 are "
               "skipped: the NOTIFY after them is ACKed",
               f and f["type_name"])
        c.send(spop.frame(50, b"", 0, 0))
        f, _ = I.route(c, 4, 5)
        tap.ok(I.ack_ok(f, 4, 5), "unknown frame alone, then a NOTIFY: "
               "ACKed", f and f["type_name"])
    finally:
        c.close()


def disconnects(tap, port):
    c = I.active(port)
    try:
        f, _ = I.route(c, 1, 1)
        c.send(H.haproxy_disconnect(0, "bye"))
        st, msg, closed = I.expect_disconnect(c)
        tap.eq(st, 0, "HAPROXY-DISCONNECT -> AGENT-DISCONNECT status 0")
        tap.ok(isinstance(msg, bytes), "AGENT-DISCONNECT carries a message")
        tap.ok(closed, "HAPROXY-DISCONNECT: then the agent closes")
    finally:
        c.close()
    c = I.active(port)
    try:
        c.send(H.haproxy_disconnect(2, "timeout"))
        st, _m, closed = I.expect_disconnect(c)
        tap.eq(st, 0, "HAPROXY-DISCONNECT with an error status -> "
               "AGENT-DISCONNECT 0")
        tap.ok(closed, "then the agent closes")
    finally:
        c.close()

    # 1 MiB announced, only the prefix sent: answered at once
    c = I.active(port)
    try:
        c.send(struct.pack(">I", 1 << 20))
        st, _m, closed = I.expect_disconnect(c, timeout=3)
        tap.eq(st, 3, "prefix announcing 1 MiB (no body sent): DISCONNECT "
               "3 without waiting for the body")
        tap.ok(closed, "frame too big: then the agent closes")
    finally:
        c.close()
    frame_error(tap, port, "frame of 16381 bytes (ours 16380)",
                struct.pack(">I", 16381) + b"\x03" * 100, 3)
    frame_error(tap, port, "frame length 3 (< 7)",
                struct.pack(">I", 3) + b"\x03\x00\x00", 4)
    frame_error(tap, port, "frame length 0", struct.pack(">I", 0), 4)

    good = H.notify(1, 1, [H.route_msg()])
    body = H.message("aoai-route", [("pool", "STRING", "chat"),
                                    ("key", "STRING", "k")])
    cut = spop.frame(spop.T_NOTIFY, body[:-3], 1, 2)
    frame_error(tap, port, "NOTIFY with a truncated message list",
                good + cut, 4, ack_first=(1, 1))
    nargs = spop.enc_str("aoai-route") + bytes([3]) + spop.kv(
        "pool", "STRING", "chat")
    frame_error(tap, port, "NOTIFY announcing 3 arguments, carrying 1",
                spop.frame(spop.T_NOTIFY, nargs, 1, 2), 4)
    frame_error(tap, port, "NOTIFY whose message name overruns the frame",
                spop.frame(spop.T_NOTIFY, b"\x50aoai", 1, 2), 4)
    frame_error(tap, port, "NOTIFY with an argument of data type 12",
                spop.frame(spop.T_NOTIFY, spop.enc_str("aoai-route")
                           + b"\x01" + spop.enc_str("pool") + b"\x0c", 1, 2),
                4)
    frame_error(tap, port, "NOTIFY without FIN (fragmentation not "
                "announced)", H.notify(3, 4, [H.route_msg()], flags=0), 10)
    frame_error(tap, port, "UNSET frame (a fragment)",
                spop.frame(0, b"\x00", 3, 4, flags=spop.FL_FIN), 10)
    frame_error(tap, port, "second HAPROXY-HELLO", H.haproxy_hello(), 4)
    frame_error(tap, port, "ACK sent to the agent",
                spop.ack_set_var(1, 1, "x", "y"), 4)
    never = bytes([spop.T_NOTIFY]) + struct.pack(">I", 1) + b"\xf0" \
        + b"\xff" * 20
    frame_error(tap, port, "stream-id varint that never ends",
                struct.pack(">I", len(never)) + never, 4)
    # frames after the faulty one are not answered
    frame_error(tap, port, "NOTIFY without FIN between two valid ones",
                good + H.notify(1, 2, [H.route_msg()], flags=0)
                + H.notify(1, 3, [H.route_msg()]), 10, ack_first=(1, 1))


def main():
    tap = H.Tap()
    with H.Procs() as procs:
        agents = I.Agents(tap, procs)
        try:
            port = H.free_port()
            agents.start(H.agent_yaml(port), port)
            ids_echo(tap, port)
            unknown_frame_skipped(tap, port)
            disconnects(tap, port)
            tap.ok(I.serves(port), "the agent serves new connections after "
                   "every protocol error")
        except Exception as exc:
            tap.ok(False, "frame tests ran to the end", repr(exc))
        agents.finish()
    tap.done()


if __name__ == "__main__":
    main()
