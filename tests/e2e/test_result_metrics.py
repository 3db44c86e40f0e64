#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""What HAProxy's aoai-result tells the agent, as an SRE reads it back:

- the per-region latency histogram is fed by the shim's duration_ms: with
  every mock region answering after 300 ms, each attempt lands above the
  0.25 s bucket, and each region's count grows by the requests it served;
- the quota gauges hold the last x-ratelimit-remaining-* values the region
  sent (the same the client saw), with an age;
- a 401 from a region (a wrong Entra ID token) shows in the 4XX column of
  "show backends" and in the 4xx results class.
"""
import json

from harness import Tap
import labenv

LATENCY_MS = 300
N = 6
QUOTA = {"rpm": 100000, "tpm": 50000000}


def samples(text, name):
    """{labels-dict-as-tuple: value} of the samples called <name>."""
    out = {}
    for ln in text.splitlines():
        if not ln.startswith(name + "{") and not ln.startswith(name + " "):
            continue
        head, _, val = ln.rpartition(" ")
        labels = ()
        if "{" in head:
            body = head[head.index("{") + 1:head.rindex("}")]
            labels = tuple(sorted(
                (k, v.strip('"')) for k, v in
                (p.split("=", 1) for p in body.split('",') if p)))
        out[labels] = float(val)
    return out


def hist(lab):
    """{backend: {le: cumulative count}} of the latency histogram."""
    m = lab.agent_cmd("show metrics")
    h = {}
    for labels, v in samples(
            m, "aoai_spoa_backend_response_time_seconds_bucket").items():
        d = dict(labels)
        h.setdefault(d["backend"], {})[d["le"].rstrip('"')] = v
    return h


def delta(after, before, be, le):
    return after.get(be, {}).get(le, 0) - before.get(be, {}).get(le, 0)


def main():
    t = Tap()
    bearer = "CANARY-BEARER-%s" % __import__("os").urandom(6).hex()
    with labenv.Lab(bearer=bearer,
                    quotas={r: QUOTA for r in labenv.REGIONS}) as lab:
        regions = [lab.region(n) for n in labenv.REGIONS]
        for x in regions:
            x.set(latency_ms=LATENCY_MS)
            x.reset_stats()
        before = hist(lab)
        t.eq(sorted(before), sorted(labenv.REGIONS),
             "latency histogram: one series set per configured region")
        c = lab.client()
        last = {}
        codes = []
        for _ in range(N):
            r = c.chat("hi")
            codes.append(r.status)
            last[r.headers.get("x-aoai-backend")] = r
        t.eq(codes, [200] * N, "%d slow requests through HAProxy: 200" % N)
        served = {x.name: x.stats()["requests"] for x in regions}

        # the ACK of each aoai-result came before the response went on;
        # wait on the counts anyway, a late ACK is still learned
        def counted():
            h = hist(lab)
            return sum(delta(h, before, b, "+Inf")
                       for b in labenv.REGIONS) >= N
        labenv.wait_until(counted, 10)
        after = hist(lab)
        got = {b: delta(after, before, b, "+Inf") for b in labenv.REGIONS}
        t.ok(got == {b: float(n) for b, n in served.items()},
             "histogram count per region = requests the region served",
             (got, served))
        fast = {b: delta(after, before, b, "0.250") for b in labenv.REGIONS}
        t.eq(fast, {b: 0.0 for b in labenv.REGIONS},
             "no attempt below 0.25 s while regions take %d ms" % LATENCY_MS)
        m = lab.agent_cmd("show metrics")
        total = sum(samples(
            m, "aoai_spoa_backend_response_time_seconds_count").values())
        t.ok(total >= N, "the _count series follow", total)

        # ---- quota gauges: the last values the region sent ----
        rq = samples(m, "aoai_spoa_backend_remaining_requests")
        tk = samples(m, "aoai_spoa_backend_remaining_tokens")
        age = samples(m, "aoai_spoa_backend_remaining_requests_age_seconds")
        for be, r in sorted(last.items()):
            key = (("backend", be),)
            want_r = r.headers.get("x-ratelimit-remaining-requests")
            want_t = r.headers.get("x-ratelimit-remaining-tokens")
            t.ok(want_r is not None and rq.get(key) == float(want_r)
                 and want_t is not None and tk.get(key) == float(want_t),
                 "%s: remaining requests/tokens gauges = the last headers"
                 % be, (rq.get(key), want_r, tk.get(key), want_t))
            t.ok(age.get(key) is not None and age[key] >= 0,
                 "%s: the quota's age is exported" % be, age.get(key))

        # ---- a 401 from a region: 4XX in show backends ----
        for x in regions:
            x.set(latency_ms=0)
        r = lab.client(api_key="").chat(
            "hi", headers={"Authorization": "Bearer wrong-token"})
        be = r.headers.get("x-aoai-backend")
        t.ok(r.status == 401 and be in labenv.REGIONS,
             "a wrong bearer: the region answers 401", (r.status, be))
        sb = lab.agent_cmd("show backends")
        lines = [ln for ln in sb.splitlines() if ln]
        # HEADROOM holds spaces: read the column at the header's offset
        col = lines[0].index("4XX") if lines and "4XX" in lines[0] else -1
        row = {ln.split()[0]: ln[col:].split()[0] for ln in lines[1:]
               if ln.split()[0] in labenv.REGIONS}
        t.ok(col > 0 and row.get(be) == "1" and all(
            v == "0" for k, v in row.items() if k != be),
            "show backends: the 401 in the region's 4XX column", sb)
        j = json.loads(lab.agent_cmd("show backends %s json" % be))
        t.eq(j["backends"][0]["counters"]["results_4xx"], 1,
             "show backends json: results_4xx")
    t.done()


if __name__ == "__main__":
    main()
