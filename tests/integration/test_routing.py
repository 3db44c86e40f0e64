#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Routing through the real agent over SPOP: exact weighted split, learning
from aoai-result (429 cooldown, spillover, exhaustion, 5xx breaker with
statuses given as strings), garbage argument values, session affinity, and
that key values never reach the log."""
import collections

import harness as H
import itest as I

CANARY = "SECRET-CANARY-123"


def split(c, n, sid=1, pool="chat", start=1):
    cnt = collections.Counter()
    reasons = collections.Counter()
    bad = 0
    for i in range(n):
        f, acts = I.route(c, sid, start + i, pool)
        if not I.ack_ok(f, sid, start + i):
            bad += 1
        cnt[acts.get(b"backend")] += 1
        reasons[acts.get(b"reason")] += 1
    return cnt, reasons, bad


def weights(tap, port):
    c = I.active(port)
    try:
        cnt, reasons, bad = split(c, 400)
        tap.eq(dict(cnt), {b"eastus": 300, b"swedencentral": 100},
               "weights 3:1 over 400 NOTIFYs: exactly 300 eastus / 100 "
               "swedencentral")
        tap.ok(bad == 0 and set(reasons) == {b"weighted"},
               "400 ACKs echo their ids, reason \"weighted\"", reasons)
    finally:
        c.close()
    conns = [I.active(port) for _ in range(4)]
    try:
        cnt = collections.Counter()
        for i in range(400):
            _f, acts = I.route(conns[i % 4], i, i + 1)
            cnt[acts.get(b"backend")] += 1
        tap.eq(dict(cnt), {b"eastus": 300, b"swedencentral": 100},
               "weights 3:1 hold across 4 connections (one engine)")
    finally:
        for c in conns:
            c.close()


def strings_as_ints(tap, port):
    """status "503" as a STRING counts: 5 of them trip the breaker
    (default failure.count 5, status_codes 408, 500-599)."""
    c = I.active(port)
    try:
        for i in range(5):
            f = I.send_result(c, 2, i + 1, "swedencentral",
                              ("STRING", "503"))
        tap.ok(I.ack_ok(f, 2, 5), "aoai-result with status \"503\" "
               "(STRING) is ACKed")
        cnt, reasons, _ = split(c, 40, sid=3)
        tap.eq(dict(cnt), {b"eastus": 40}, "5 results with status \"503\" "
               "(STRING) open swedencentral's breaker: routes avoid it")
        for i, typ in enumerate(("INT32", "UINT32", "UINT64")):
            f = I.send_result(c, 4, i + 1, "eastus", (typ, 200))
            tap.ok(I.ack_ok(f, 4, i + 1), "aoai-result with status as %s "
                   "accepted" % typ)
    finally:
        c.close()


def learning(tap, port):
    c = I.active(port)
    try:
        f = I.send_result(c, 1, 1, "eastus", 429, retry_after_ms="5000")
        tap.ok(I.ack_ok(f, 1, 1), "aoai-result 429 retry_after_ms \"5000\": "
               "ACKed")
        cnt, reasons, _ = split(c, 40, sid=2)
        tap.eq(dict(cnt), {b"swedencentral": 40},
               "after eastus 429 retry-after-ms 5000: routes never name "
               "eastus (only swedencentral)")
        tap.eq(set(reasons), {b"weighted"}, "... with reason \"weighted\"")

        f = I.send_result(c, 1, 2, "swedencentral", 429, retry_after="5")
        cnt, reasons, _ = split(c, 20, sid=3)
        tap.eq(dict(cnt), {b"westus-payg": 20},
               "both priority-1 members throttled: routes go to "
               "westus-payg")
        tap.eq(set(reasons), {b"spillover"}, "... with reason "
               "\"spillover\"")

        f = I.send_result(c, 1, 3, "westus-payg", 429,
                          retry_after_ms="2000")
        f, acts = I.route(c, 4, 1)
        tap.ok(I.ack_ok(f, 4, 1) and acts.get(b"reason") == b"exhausted",
               "all three throttled: reason \"exhausted\"", acts)
        tap.ok(b"backend" not in acts, "exhausted: no backend variable",
               acts)
        ra = [a["value"] for a in f["actions"] if a["name"] ==
              b"retry_after"]
        tap.ok(len(ra) == 1 and ra[0][0] in ("INT32", "INT64", "UINT32",
                                             "UINT64")
               and 1 <= ra[0][2] <= 6,
               "exhausted: retry_after is an integer >= 1 (about 2s here)",
               ra)
        # the earliest cooldown ends (2 s, jitter aside): traffic resumes
        seen = {}

        def resumed():
            _f, a = I.route(c, 5, 1)
            seen.update(a)
            return b"backend" in a
        tap.ok(H.wait_until(resumed, timeout=8, step=0.1),
               "after the shortest cooldown, routes name a backend again",
               seen)
        tap.ok(seen.get(b"backend") == b"westus-payg"
               and seen.get(b"reason") in (b"probe", b"spillover"),
               "... westus-payg (the first to cool down), as probe or "
               "spillover", seen)
    finally:
        c.close()


GARBAGE_STATUS = [("abc", ("STRING", "abc")),
                  ("99999", ("INT64", 99999)),
                  ("-1", ("INT64", -1)),
                  ("2^64-1", ("UINT64", 2 ** 64 - 1)),
                  ("\"20000000000000000000000\"",
                   ("STRING", "20000000000000000000000")),
                  ("\"5x\"", ("STRING", "5x"))]


def garbage_pools():
    """Pool gN = {backend gN, backend ok}, weights 1:1, one per garbage
    status: a backend whose breaker opened drops out of its pool only."""
    out = "backends:\n  - name: ok\n"
    out += "".join("  - name: g%d\n" % i for i in range(len(GARBAGE_STATUS)))
    out += "pools:\n"
    for i in range(len(GARBAGE_STATUS)):
        out += ("  - name: g%d\n    members:\n"
                "      - {backend: g%d, weight: 1}\n"
                "      - {backend: ok, weight: 1}\n" % (i, i))
    return out


def garbage(tap, port, p):
    c = I.active(port)
    try:
        for i, (label, status) in enumerate(GARBAGE_STATUS):
            acked = True
            for j in range(8):  # failure.count defaults to 5
                f = I.send_result(c, 1, j + 1, "g%d" % i, status)
                acked = acked and I.ack_ok(f, 1, j + 1)
            cnt, reasons, bad = split(c, 10, sid=2, pool="g%d" % i)
            tap.ok(acked and bad == 0, "8 aoai-result with status %s are "
                   "ACKed" % label)
            tap.eq(dict(cnt), {b"g%d" % i: 5, b"ok": 5},
                   "status %s is ignored, not counted as a fault (8 of them "
                   "leave the backend in its pool)" % label)
        ok = True
        cases = [
            [I.result_msg("ok", 200, retry_after="banana",
                          retry_after_ms="soon",
                          remaining_requests="lots",
                          remaining_tokens=("INT64", -1),
                          duration_ms=("STRING", "-3"))],
            [I.result_msg("nosuch-backend", 429, retry_after="10")],
            [("aoai-result", [("backend", "INT64", 7),
                              ("status", "BOOL", True)])],
            [("aoai-result", [("backend", "STRING", ""),
                              ("status", "INT64", 500)])],
            [I.result_msg("ok", 200, retry_after=("IPV6", "::1"),
                          retry_after_ms=("BOOL", False))],
            [I.result_msg("ok", 200, retry_after="Sun, 99 Foo 10000 "
                          "25:61:61 GMT", retry_after_ms="1e3")],
        ]
        for i, msgs in enumerate(cases):
            c.send(H.notify(9, i + 1, msgs))
            f = c.recv()
            ok = ok and I.ack_ok(f, 9, i + 1)
        tap.ok(ok, "garbage aoai-result values (retry_after \"banana\", "
               "negative, wrong types, bad dates, unknown backend) are all "
               "ACKed")
        cnt, reasons, bad = split(c, 10, sid=10, pool="g0")
        tap.ok(bad == 0 and set(reasons) == {b"weighted"},
               "after the garbage, routing still answers \"weighted\"",
               reasons)
        c.send(H.notify(12, 1, [I.result_msg("ok", 429,
                                             retry_after="banana")]))
        f = c.recv()
        f, acts = I.route(c, 12, 2, pool="g0")
        tap.ok(I.ack_ok(f, 12, 2) and b"reason" in acts,
               "a 429 with retry_after \"banana\" is still handled", acts)
    finally:
        c.close()
    tap.ok(I.serves(port), "the agent serves after garbage values")


def affinity_and_canary(tap, port, p):
    c = I.active(port)
    try:
        got = set()
        reasons = set()
        for i in range(10):
            f, acts = I.route(c, 1, i + 1, key=CANARY)
            got.add(acts.get(b"backend"))
            reasons.add(acts.get(b"reason"))
        tap.ok(len(got) == 1 and got <= {b"eastus", b"swedencentral"},
               "the same key goes to the same backend", got)
        tap.eq(reasons, {b"affinity"}, "key routes: reason \"affinity\"")
        I.route(c, 2, 1, pool="nosuch", key=CANARY)
        I.route(c, 2, 2, pool="chat", key=CANARY * 20)
        c.send(H.notify(2, 3, [("aoai-route", [("key", "STRING", CANARY)])]))
        c.recv()
        c.send(H.notify(2, 4, [("aoai-route", [("key", "BINARY",
                                                CANARY.encode()),
                                               ("pool", "STRING",
                                                "nosuch2")])]))
        c.recv()
        # a protocol error right after a key was seen
        c.send(H.notify(2, 5, [H.route_msg("chat", CANARY)], flags=0))
        I.expect_disconnect(c)
    finally:
        c.close()
    log = H.read_log(p)
    tap.ok("unknown pool" in log, "the debug log has routing lines (the "
           "canary check is meaningful)")
    tap.ok(CANARY not in log, "no log line contains a key value",
           [ln for ln in log.splitlines() if CANARY in ln][:3])


def main():
    tap = H.Tap()
    with H.Procs() as procs:
        agents = I.Agents(tap, procs)
        try:
            port = H.free_port()
            agents.start(H.agent_yaml(port), port, name="agent-weights")
            weights(tap, port)
            strings_as_ints(tap, port)

            port2 = H.free_port()
            agents.start(H.agent_yaml(port2, log_level="debug"), port2,
                         name="agent-learning")
            learning(tap, port2)

            port3 = H.free_port()
            p3, _ = agents.start(I.agent_cfg(port3, pools=garbage_pools()),
                                 port3, name="agent-garbage")
            garbage(tap, port3, p3)

            port4 = H.free_port()
            p4, _ = agents.start(H.agent_yaml(port4, log_level="debug"),
                                 port4, name="agent-canary")
            affinity_and_canary(tap, port4, p4)
        except Exception as exc:
            tap.ok(False, "routing tests ran to the end", repr(exc))
        agents.finish()
    tap.done()


if __name__ == "__main__":
    main()
