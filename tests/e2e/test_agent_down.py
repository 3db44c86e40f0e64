#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A dead agent costs nothing once HAProxy marked it down, on every version.

The lab under steady load (3 clients): the median request time with the
agent up is the baseline; then the agent is killed (SIGKILL) under that
load and, once option spop-check marked it DOWN, the median request time
is measured twice: under the same load, and after a pause without
traffic. The agent is then restarted and the baseline measured again; the
larger of the two baselines is the reference, so a machine whose load
drifts during the run does not fail the test.
Each is compared with the baseline of the same run, as a ratio: a request
that waits for the agent waits the 150 ms route processing timeout (and
100 ms more for the result), tens of times a normal request through the
mocks, so a ratio below 3 cannot hide a wait while tolerating a loaded
machine. The added median is printed in milliseconds.
"""
import signal
import time

from harness import Tap
import labenv

MAX_RATIO = 3.0


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if xs else None


def window(load, t_from, t_to):
    return [r for t0, r in list(load.results)
            if t_from <= t0 < t_to and not isinstance(r, Exception)]


def decided(rs):
    """At least 20 responses, 90 % of them routed by the agent (on a
    loaded machine an exchange may hit the processing timeout: that is
    fail-open, not what this test is about)."""
    n = sum(1 for r in rs if "x-aoai-backend" in r.headers)
    return len(rs) >= 20 and n >= 0.9 * len(rs)


def measure(lab, seconds, load=None):
    """Median elapsed time (s) and the responses of <seconds> of load
    (<load> when given, left running; else a new one, stopped after)."""
    own = load is None
    if own:
        load = labenv.Load(lab, threads=3).start()
    try:
        t0 = time.monotonic()
        time.sleep(seconds + 0.3)
        got = window(load, t0 + 0.3, t0 + 0.3 + seconds)
    finally:
        res = load.stop() if own else []
    return median([r.elapsed for r in got]), got, res


def check_down(t, label, base, med, down, res):
    t.ok(not labenv.failures(res) and len(down) >= 20,
         "agent down, %s: %d requests in 2 s (at least 20), none failed"
         % (label, len(down)), labenv.status_counts(down))
    t.ok(all("x-aoai-backend" not in r.headers for r in down),
         "agent down, %s: no decision from the agent" % label)
    ratio = med / base if med and base else None
    t.ok(ratio is not None and ratio < MAX_RATIO,
         "agent down, %s: median %.1f ms = %.2f x the agent-up baseline "
         "(added %+.1f ms; < %.1f x)"
         % (label, (med or 0) * 1000, ratio or -1,
            ((med or 0) - (base or 0)) * 1000, MAX_RATIO))


def main():
    t = Tap()
    with labenv.Lab() as lab:
        lab.run_load(30, threads=3)
        # the agent dies under load: exchanges in flight when it dies are
        # what kept HAProxy 3.0 waiting afterwards
        load = labenv.Load(lab, threads=3).start()
        try:
            base1, up, _ = measure(lab, 2.0, load)
            t.ok(base1 is not None and decided(up),
                 "agent up: %d requests, at least 90%% decided by the "
                 "agent (median %.1f ms)" % (len(up), (base1 or 0) * 1000))
            lab.kill_agent(signal.SIGKILL)
            t.ok(lab.wait_server("aoai-spoa", "agent", "DOWN", 10),
                 "killed under load: spop-check marks the agent DOWN")
            down1 = measure(lab, 2.0, load)
        finally:
            res1 = load.stop()
        time.sleep(5)
        load = labenv.Load(lab, threads=3).start()
        try:
            down2 = measure(lab, 2.0, load)
            # the baseline brackets the down windows: the machine's load
            # drifts, the agent's cost does not
            lab.start_agent()
            t.ok(lab.wait_server("aoai-spoa", "agent", "UP", 10),
                 "restarted: the agent is UP again")
            time.sleep(0.5)
            base2, up, _ = measure(lab, 2.0, load)
            t.ok(base2 is not None and decided(up),
                 "agent up again: %d requests, at least 90%% decided by "
                 "the agent (median %.1f ms)" % (len(up),
                                                 (base2 or 0) * 1000))
        finally:
            res2 = load.stop()
        base = max(base1 or 0, base2 or 0)
        check_down(t, "under load", base, down1[0], down1[1], res1)
        check_down(t, "after 5 s idle", base, down2[0], down2[1], res2)
        lab.stop_processes()
    t.done()


if __name__ == "__main__":
    main()
