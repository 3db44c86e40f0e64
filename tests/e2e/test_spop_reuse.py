#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""HAProxy reuses its SPOP connections to the agent, on every version.

600 requests from 3 clients through the lab, then a soft reload and 600
more: the agent counts the HELLOs it answered (its "hello" counter, which
the spop-check's health-check HELLOs also feed; those are subtracted).
HAProxy 3.2 without "pool-low-conn" on the agent's server opened 118 new
connections for the first 600 requests and 70 after the reload (2.6: 4
and 6); a connection per handful of requests means a HELLO round trip
per handful of requests. The bound is generous against the load of the
machine and far below that churn.

After the reload the old HAProxy soft-stops: 2.6 and 3.0 send
HAPROXY-DISCONNECT on their idle SPOP connections, 3.2 resets them. The
agent (debug log) must end every one of them as a normal close, with no
warning or error line since the reload.
"""
import collections
import json
import re

from harness import Tap
import labenv

MAX_HELLOS = 20
NORMAL_CLOSES = ("closed by peer", "closed by peer (reset)", "disconnected",
                 "health check done")
CLOSED = re.compile(r": closed: (.*) \(\d+ NOTIFYs\)$")


def counters(lab):
    d = json.loads(lab.agent_cmd("show info json"))
    return d["hello"] - d["healthcheck"], d["conn_refused"]


def main():
    t = Tap()
    with labenv.Lab(agent_args=["-d"]) as lab:
        lab.run_load(3, threads=1)
        h0, _ = counters(lab)
        res = lab.run_load(600, threads=3)
        h1, _ = counters(lab)
        t.ok(not labenv.failures(res), "600 requests, none failed",
             labenv.status_counts(res))
        t.ok(h1 - h0 <= MAX_HELLOS, "600 requests from 3 clients: %d new "
             "SPOP connections (at most %d)" % (h1 - h0, MAX_HELLOS))
        before = len(lab.log_text("agent").splitlines())
        lab.reload_haproxy()
        res = lab.run_load(600, threads=3)
        h2, refused = counters(lab)
        t.ok(not labenv.failures(res), "after a reload: 600 requests, "
             "none failed", labenv.status_counts(res))
        t.ok(h2 - h1 <= MAX_HELLOS, "reload then 600 requests: %d new SPOP "
             "connections (at most %d)" % (h2 - h1, MAX_HELLOS))
        t.eq(refused, 0, "the agent refused no connection")
        old = list(lab._old_haproxy)
        t.ok(labenv.wait_until(lambda: all(p.poll() is not None
                                           for p in old), 15),
             "the old HAProxy finished its soft stop")
        log = lab.log_text("agent").splitlines()
        reasons = collections.Counter(
            m.group(1) for m in map(CLOSED.search, log) if m)
        t.ok(reasons and set(reasons) <= set(NORMAL_CLOSES),
             "every SPOP close is a normal one: %s" % dict(reasons))
        bad = [l for l in log[before:]
               if re.search(r"aoai-spoa\[(warning|err|crit)", l)]
        t.ok(not bad, "no warning or error in the agent's log since the "
             "reload", bad[:5])
        lab.stop_processes()
    t.done()


if __name__ == "__main__":
    main()
