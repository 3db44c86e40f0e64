#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Throttling (429 + Retry-After) through HAProxy and the agent.

A. one region throttled: zero client-visible 429 (in-request failover via
   the shim's 429 -> 503 and retry-on), the region gets no request during its
   cooldown, traffic returns after it;
B. the whole priority-1 tier throttled: spillover to the priority-2 region
   (whose deployment name HAProxy rewrites), and back when the tier recovers;
C. every region throttled: HAProxy answers 429 itself with the agent's
   Retry-After and an Azure-style body, and no region receives a request
   during the cooldown; service resumes after it.
"""
import json
import time

from harness import Tap
import labenv

COOL = 3  # seconds of Retry-After the mocks announce


def throttle(lab, names, on, secs=COOL):
    for n in names:
        if on:
            lab.region(n).set(throttle_all=1, retry_after=secs,
                              retry_after_ms=secs * 1000)
        else:
            lab.region(n).set(throttle_all=0)


def reset(lab):
    for n in labenv.REGIONS:
        lab.region(n).reset_stats()


def requests_of(lab):
    return {n: lab.region(n).stats()["requests"] for n in labenv.REGIONS}


def cooldown_left(lab, name):
    """Seconds left of <name>'s open or cooling circuit, as the agent
    reports it (0 when it is in another state)."""
    for b in json.loads(lab.agent_cmd("show backends json"))["backends"]:
        if b["name"] == name and b["state"] in ("open", "cooling"):
            return b["remaining_ms"] / 1000.0
    return 0.0


def load_until(lab, n, seconds, threads=3):
    """Up to <n> small chat requests from <threads> clients, none sent
    after <seconds>; returns the responses."""
    end = time.monotonic() + seconds
    load = labenv.Load(lab, threads=threads).start()
    while len(load.results) < n and time.monotonic() < end:
        time.sleep(0.01)
    load.stop()
    return [r for t0, r in load.results[:n] if t0 < end]


def wait_traffic(lab, name, timeout=12.0):
    """Sends small batches until <name> receives a request; True if so."""
    end = time.monotonic() + timeout
    lab.region(name).reset_stats()
    while time.monotonic() < end:
        lab.run_load(6, threads=2)
        if lab.region(name).stats()["requests"] > 0:
            return True
        time.sleep(0.2)
    return False


def main():
    t = Tap()
    # Quotas far above what the test sends, only so that every answer
    # carries x-ratelimit-remaining-* like Azure's: the 429's "remaining 0"
    # must not outlive the cooldown in the agent's headroom steering.
    big = {"rpm": 1000000, "tpm": 1000000000}
    with labenv.Lab(quotas={n: big for n in labenv.REGIONS}) as lab:
        lab.run_load(30, threads=3)

        # ---- A: one region throttled ----
        throttle(lab, ["eastus"], True)
        reset(lab)
        res = lab.run_load(90, threads=3)
        codes = labenv.status_counts(res)
        t.eq(dict(codes), {200: 90}, "A: eastus throttled, 90 requests, "
             "zero client-visible 429")
        st = lab.region("eastus").stats()
        t.ok(1 <= st["throttled"] <= 6, "A: eastus answered only the few "
             "requests that discovered the throttle", st)
        t.ok(any(r.headers.get("x-aoai-retries", "0") != "0" for r in res),
             "A: the discovering request was retried on another region")
        # Up to 60 requests, all sent while the agent still reports the
        # cooldown (it started at the first 429 above; on a loaded machine
        # the 90 requests can take most of it, and the request after its
        # end is rightly eastus's half-open probe).
        reset(lab)
        left = cooldown_left(lab, "eastus")
        res = load_until(lab, 60, left - 0.3)
        t.ok(not labenv.failures(res), "A: still all 200 during cooldown")
        t.ok(len(res) >= 10, "A: at least 10 requests sent during the "
             "cooldown (%.1f s left)" % left, len(res))
        t.eq(lab.region("eastus").stats()["requests"], 0,
             "A: eastus receives no request during its cooldown")
        t.ok(labenv.served_by(res).get("swedencentral", 0) == len(res),
             "A: swedencentral (same priority) takes the traffic",
             labenv.served_by(res))
        throttle(lab, ["eastus"], False)
        t.ok(wait_traffic(lab, "eastus"), "A: traffic returns to eastus "
             "after the cooldown")
        time.sleep(0.5)
        reset(lab)
        res = lab.run_load(90, threads=3)
        n = requests_of(lab)
        t.ok(not labenv.failures(res) and 0.5 < n["eastus"] / 90.0 < 0.8,
             "A: eastus back to its 2/3 share", n)

        # ---- B: priority-1 tier throttled -> spillover ----
        throttle(lab, ["eastus", "swedencentral"], True)
        reset(lab)
        res = lab.run_load(60, threads=3)
        codes = labenv.status_counts(res)
        t.ok(set(codes) == {200},
             "B: tier throttled: zero client-visible 429 (the mirror "
             "drains throttled servers for HAProxy's retries)", dict(codes))
        n = requests_of(lab)
        t.ok(n["westus-payg"] == 60, "B: spillover to westus-payg", n)
        late = res[-30:]
        t.ok(all(r.status == 200 and r.headers.get("x-aoai-server") ==
                 "westus-payg" for r in late),
             "B: after discovery every request spills over",
             labenv.status_counts(late))
        t.ok(all(r.headers.get("x-aoai-reason") == "spillover"
                 for r in late), "B: x-aoai-reason spillover",
             {r.headers.get("x-aoai-reason") for r in late})
        t.ok(all(r.json().get("model") == "gpt-4o-payg" for r in late),
             "B: deployment renamed gpt-4o -> gpt-4o-payg for westus-payg")
        throttle(lab, ["eastus", "swedencentral"], False)
        t.ok(wait_traffic(lab, "eastus") or wait_traffic(lab,
                                                         "swedencentral"),
             "B: traffic returns to priority 1")
        time.sleep(COOL + 1.5)  # every cooldown and probe is over
        lab.run_load(12, threads=2)
        reset(lab)
        res = lab.run_load(60, threads=3)
        n = requests_of(lab)
        t.ok(not labenv.failures(res) and n["westus-payg"] == 0,
             "B: and back: priority 2 idle again", n)

        # ---- C: every region throttled ----
        throttle(lab, labenv.REGIONS, True, secs=4)
        c = lab.client()
        seen = []
        for _ in range(12):
            r = c.chat("x")
            seen.append(r)
            if r.headers.get("x-aoai-reason") == "exhausted":
                break
        t.ok(seen[-1].headers.get("x-aoai-reason") == "exhausted",
             "C: the agent declares the pool exhausted",
             [(r.status, r.headers.get("x-aoai-reason")) for r in seen])
        t.ok(all(r.status == 429 for r in seen),
             "C: while every region is throttled clients get 429",
             [r.status for r in seen])
        reset(lab)
        t0 = time.monotonic()
        res = lab.run_load(30, threads=3)
        spent = time.monotonic() - t0
        t.ok(all(r.status == 429 for r in res), "C: 30 requests, all 429",
             labenv.status_counts(res))
        ras = [r.headers.get("retry-after") for r in res]
        ok_ra = all(v is not None and v.isdigit() and 1 <= int(v) <= 6
                    for v in ras)
        t.ok(ok_ra, "C: Retry-After in seconds, about the regions' 4 s",
             sorted(set(ras)))
        t.ok(all(r.headers.get("x-aoai-reason") == "exhausted"
                 and r.headers.get("x-aoai-server") == "<NOSRV>"
                 for r in res), "C: answered by HAProxy, no server")
        body = res[0].json()
        t.ok(body.get("error", {}).get("code") == "429" and "retry after"
             in body["error"].get("message", "").lower(),
             "C: Azure-style JSON error body", body)
        t.ok(all(r.headers.get("content-type") == "application/json"
                 for r in res), "C: content-type application/json")
        t.eq(requests_of(lab), {n: 0 for n in labenv.REGIONS},
             "C: no region receives a request during the cooldown "
             "(%.1f s)" % spent)
        throttle(lab, labenv.REGIONS, False)
        wait = max(int(v) for v in ras if v and v.isdigit())
        time.sleep(wait)
        ok = False
        end = time.monotonic() + 6
        while time.monotonic() < end and not ok:
            ok = c.chat("again").status == 200
            time.sleep(0.1)
        t.ok(ok, "C: served again once Retry-After has passed")

        spoe_err = [l for l in lab.spoe_lines() if " st=0 " not in l]
        t.ok(not spoe_err, "SPOE log: st=0 on every line", spoe_err[:3])
        lab.stop_processes()
        t.ok(not lab.leaked_secrets(), "no key in any log",
             lab.leaked_secrets()[:2])
    t.done()


if __name__ == "__main__":
    main()
