#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Region faults through HAProxy and the agent's circuit breakers.

- a burst of 500s in eastus: every client request still succeeds (retry-on
  + redispatch), the breaker trips (eastus gets no request while open),
  and eastus takes traffic again once healthy;
- connection resets in swedencentral: same (the upstream hop turns a reset
  into a 502 that the shim reports, so the breaker sees resets too);
- a region that does not answer within the upstream timeout: 504, retried
  on another region, no client failure;
- a region that refuses connections (mock stopped): no client failure, the
  health check takes it out, it comes back when restarted.
"""
import time

from harness import Tap
import labenv


def reset(lab):
    for n in labenv.REGIONS:
        lab.region(n).reset_stats()


def wait_traffic(lab, name, timeout=15.0):
    end = time.monotonic() + timeout
    lab.region(name).reset_stats()
    while time.monotonic() < end:
        res = lab.run_load(6, threads=2)
        if labenv.failures(res):
            return False
        if lab.region(name).stats()["requests"] > 0:
            return True
        time.sleep(0.2)
    return False


def main():
    t = Tap()
    # The upstream timeout is shortened for the timeout case only.
    with labenv.Lab(extra_env={"AOAI_UPSTREAM_TIMEOUT": "1s"}) as lab:
        lab.run_load(30, threads=3)
        east, swe = lab.region("eastus"), lab.region("swedencentral")

        # ---- 5xx burst ----
        east.set(fail_status=500, fail_count=1000)
        reset(lab)
        res = lab.run_load(60, threads=3)
        t.ok(not labenv.failures(res), "5xx: eastus answers 500, 60 "
             "client requests all 200", labenv.status_counts(res))
        st = east.stats()
        t.ok(1 <= st["status"].get("500", 0) <= 10,
             "5xx: eastus saw only the requests that tripped its breaker",
             st["status"])
        t.ok(any(r.headers.get("x-aoai-retries", "0") != "0" for r in res),
             "5xx: failed attempts were retried on another region")
        reset(lab)
        res = lab.run_load(60, threads=3)
        t.ok(not labenv.failures(res) and east.stats()["requests"] == 0,
             "5xx: breaker open, eastus gets no request",
             east.stats()["requests"])
        east.set(fail_count=0)
        t.ok(wait_traffic(lab, "eastus"),
             "5xx: eastus recovers (half-open probe, closed)")

        # ---- connection resets ----
        swe.set(reset_count=1000)
        reset(lab)
        res = lab.run_load(60, threads=3)
        t.ok(not labenv.failures(res), "resets: swedencentral resets, 60 "
             "client requests all 200", labenv.status_counts(res))
        st = swe.stats()
        # count 5 trips it; up to 3 more attempts were in flight (3
        # threads), and a run longer than the 5 s trip sends a half-open
        # probe or two (each failing re-opens it for longer): not 60
        t.ok(1 <= st["resets"] <= 16, "resets: only until the breaker "
             "tripped, plus its probes", st)
        reset(lab)
        res = lab.run_load(60, threads=3)
        t.ok(not labenv.failures(res) and swe.stats()["requests"] == 0,
             "resets: breaker open, swedencentral gets no request",
             swe.stats()["requests"])
        swe.set(reset_count=0)
        t.ok(wait_traffic(lab, "swedencentral"), "resets: swedencentral "
             "recovers")

        # ---- timeout ----
        time.sleep(1)
        east.set(latency_ms=3000)
        reset(lab)
        t0 = time.monotonic()
        res = lab.run_load(12, threads=3)
        spent = time.monotonic() - t0
        t.ok(not labenv.failures(res), "timeout: eastus silent for 3 s, "
             "all 200", labenv.status_counts(res))
        slow = [r.elapsed for r in res if r.elapsed > 0.9]
        t.ok(slow and max(slow) < 2.9, "timeout: given up after the 1 s "
             "upstream timeout, retried elsewhere (max %.2f s)"
             % max([r.elapsed for r in res]))
        t.ok(all(r.headers.get("x-aoai-server") != "eastus" for r in res),
             "timeout: answers came from other regions (%.1f s)" % spent)
        east.set(latency_ms=0)

        # ---- refused connections ----
        time.sleep(0.5)
        swe.stop()
        reset_names = [n for n in labenv.REGIONS if n != "swedencentral"]
        for n in reset_names:
            lab.region(n).reset_stats()
        res = lab.run_load(60, threads=3)
        t.ok(not labenv.failures(res), "refused: swedencentral down, 60 "
             "requests all 200", labenv.status_counts(res))
        t.ok(lab.wait_server("aoai", "swedencentral", "DOWN", 10),
             "refused: health check marks swedencentral DOWN",
             lab.server_state("aoai"))
        res = lab.run_load(30, threads=3)
        t.ok(not labenv.failures(res) and all(
            r.headers.get("x-aoai-retries") == "0" for r in res),
            "refused: once DOWN, no attempt goes there")
        swe.start()
        t.ok(lab.wait_server("aoai", "swedencentral", "UP", 10),
             "refused: swedencentral UP again after restart")
        t.ok(wait_traffic(lab, "swedencentral", 20),
             "refused: swedencentral takes traffic again")

        errs = [l for l in lab.spoe_lines() if " st=0 " not in l]
        t.ok(not errs, "SPOE log: st=0 on every line", errs[:3])
        lab.stop_processes()
        t.ok(not lab.leaked_secrets(), "no key in any log")
    t.done()


if __name__ == "__main__":
    main()
