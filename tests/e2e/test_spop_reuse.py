#!/usr/bin/env python3
"""HAProxy reuses its SPOP connections to the agent, on every version.

600 requests from 3 clients through the lab, then a soft reload and 600
more: the agent counts the HELLOs it answered (its "hello" counter, which
the spop-check's health-check HELLOs also feed; those are subtracted).
HAProxy 3.2 without "pool-low-conn" on the agent's server opened 118 new
connections for the first 600 requests and 70 after the reload (2.6: 4
and 6); a connection per handful of requests means a HELLO round trip
per handful of requests. The bound is generous against the load of the
machine and far below that churn.
"""
import json

from harness import Tap
import labenv

MAX_HELLOS = 20


def counters(lab):
    d = json.loads(lab.agent_cmd("show info json"))
    return d["hello"] - d["healthcheck"], d["conn_refused"]


def main():
    t = Tap()
    with labenv.Lab() as lab:
        lab.run_load(3, threads=1)
        h0, _ = counters(lab)
        res = lab.run_load(600, threads=3)
        h1, _ = counters(lab)
        t.ok(not labenv.failures(res), "600 requests, none failed",
             labenv.status_counts(res))
        t.ok(h1 - h0 <= MAX_HELLOS, "600 requests from 3 clients: %d new "
             "SPOP connections (at most %d)" % (h1 - h0, MAX_HELLOS))
        lab.reload_haproxy()
        res = lab.run_load(600, threads=3)
        h2, refused = counters(lab)
        t.ok(not labenv.failures(res), "after a reload: 600 requests, "
             "none failed", labenv.status_counts(res))
        t.ok(h2 - h1 <= MAX_HELLOS, "reload then 600 requests: %d new SPOP "
             "connections (at most %d)" % (h2 - h1, MAX_HELLOS))
        t.eq(refused, 0, "the agent refused no connection")
        lab.stop_processes()
    t.done()


if __name__ == "__main__":
    main()
