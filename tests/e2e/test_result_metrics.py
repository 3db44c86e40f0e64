#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""What HAProxy's aoai-result tells the agent, as an SRE reads it back:

- the per-region latency histogram is fed by the shim's duration_ms: with
  every mock region answering after 300 ms, each attempt lands above the
  0.25 s bucket, and each region's count grows by the requests it served;
- the quota gauges hold the last x-ratelimit-remaining-* values the region
  sent (the same the client saw), with an age;
- a 401 from a region (a wrong Entra ID token) shows in the 4XX column of
  "show backends" and in the 4xx results class;
- the decision-to-result histogram (the aoai backend's x-aoai-t0 stamp,
  since_decision_ms from the shims) counts every attempt, a 429 retried on
  another region and that retry both, each at least its own time to
  headers, the retry also the throttled attempt before it; the stamp never
  reaches a region, and a client's own x-aoai-t0 is not believed.
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


RESPONSE = "aoai_spoa_backend_response_time_seconds"
DECISION = "aoai_spoa_backend_decision_to_result_seconds"


def hist(lab, name=RESPONSE, m=None):
    """{backend: {le: cumulative count, "sum": seconds}} of a per-backend
    histogram (the attempts' latency by default)."""
    m = m if m is not None else lab.agent_cmd("show metrics")
    h = {}
    for labels, v in samples(m, name + "_bucket").items():
        d = dict(labels)
        h.setdefault(d["backend"], {})[d["le"].rstrip('"')] = v
    for labels, v in samples(m, name + "_sum").items():
        h.setdefault(dict(labels)["backend"], {})["sum"] = v
    return h


def delta(after, before, be, le):
    return after.get(be, {}).get(le, 0) - before.get(be, {}).get(le, 0)


def bad_values(lab):
    return sum(samples(lab.agent_cmd("show metrics"),
                       "aoai_spoa_bad_value_total").values())


def mock_counts(regions):
    """{region: (requests, 429s, x-aoai-* headers seen)} from the mocks."""
    out = {}
    for x in regions:
        s = x.stats()
        out[x.name] = (s["requests"], s["status"].get("429", 0),
                       s["aoai_headers"])
    return out


def check_decision_phase1(t, lab, before_d, before_r, served):
    """After N requests at LATENCY_MS: one decision-to-result sample per
    attempt, each at least that attempt's own time to headers."""
    def counted():
        h = hist(lab, DECISION)
        return sum(delta(h, before_d, b, "+Inf")
                   for b in labenv.REGIONS) >= N
    labenv.wait_until(counted, 10)
    m = lab.agent_cmd("show metrics")
    dec, rsp = hist(lab, DECISION, m), hist(lab, RESPONSE, m)
    got = {b: delta(dec, before_d, b, "+Inf") for b in labenv.REGIONS}
    t.ok(got == {b: float(n) for b, n in served.items()},
         "decision-to-result count per region = requests the region "
         "served", (got, served))
    fast = {b: delta(dec, before_d, b, "0.250") for b in labenv.REGIONS}
    t.eq(fast, {b: 0.0 for b in labenv.REGIONS},
         "no decision-to-result below 0.25 s while regions take %d ms"
         % LATENCY_MS)
    # the stamp is taken before the shim's own start: per attempt, the
    # decision-to-result time is at least the time to headers (one
    # HAProxy clock, whole milliseconds on both)
    sums = {b: (round(delta(dec, before_d, b, "sum"), 3),
                round(delta(rsp, before_r, b, "sum"), 3))
            for b in labenv.REGIONS}
    print("# decision-to-result / time-to-headers sums (s) per region: %s"
          % sums)
    t.ok(all(d >= r >= 0 for d, r in sums.values()),
         "decision-to-result sums: non-negative, at least the time to "
         "headers", sums)
    # the lab's HAProxy timeouts end any attempt well within 120 s: a
    # sample above it would be a bad stamp (e.g. counted from 1970)
    inf = {b: delta(dec, before_d, b, "+Inf") -
           delta(dec, before_d, b, "120.000") for b in labenv.REGIONS}
    t.eq(inf, {b: 0.0 for b in labenv.REGIONS},
         "no decision-to-result sample beyond 120 s")


def check_spoofed_stamp(t, lab, regions):
    """A client's x-aoai-t0 is replaced by the backend's own stamp."""
    before = hist(lab, DECISION)
    bad = bad_values(lab)
    r = lab.client().chat("hi", headers={"x-aoai-t0": "1"})
    be = r.headers.get("x-aoai-backend")

    def counted():
        return delta(hist(lab, DECISION), before, be, "+Inf") >= 1
    labenv.wait_until(counted, 10)
    after = hist(lab, DECISION)
    t.ok(r.status == 200 and delta(after, before, be, "+Inf") == 1 and
         delta(after, before, be, "120.000") == 1 and
         bad_values(lab) == bad,
         "a client's x-aoai-t0: 200, timed from the agent's decision "
         "(within the 120 s bucket, not from 1970), no bad value",
         (r.status, be, {k: delta(after, before, be, k)
                         for k in ("120.000", "+Inf", "sum")}))


def check_retried(t, lab, regions):
    """eastus answers 429 after 300 ms: the request is retried on another
    region, and both attempts are counted, the retry from the decision."""
    for x in regions:
        x.set(reset=1, **QUOTA)
        x.reset_stats()
    lab.region("eastus").set(throttle_all=1, latency_ms=LATENCY_MS,
                             retry_after=1, retry_after_ms=1000)
    m = lab.agent_cmd("show metrics")
    dec0, rsp0 = hist(lab, DECISION, m), hist(lab, RESPONSE, m)
    c = lab.client()
    codes = []
    # the agent's weighted picks reach eastus within a few requests; once
    # it has throttled, the agent routes around it
    for _ in range(10):
        codes.append(c.chat("hi").status)
        if lab.region("eastus").stats()["status"].get("429", 0):
            break
    mc = mock_counts(regions)
    attempts = sum(n for n, _, _ in mc.values())

    def counted():
        h = hist(lab, DECISION)
        return sum(delta(h, dec0, b, "+Inf")
                   for b in labenv.REGIONS) >= attempts
    labenv.wait_until(counted, 10)
    m = lab.agent_cmd("show metrics")
    dec, rsp = hist(lab, DECISION, m), hist(lab, RESPONSE, m)
    throttled = mc["eastus"][1]
    t.ok(throttled >= 1 and codes == [200] * len(codes),
         "eastus answered 429, every client got 200 (retried elsewhere)",
         (codes, mc))
    got = {b: delta(dec, dec0, b, "+Inf") for b in labenv.REGIONS}
    t.ok(got == {b: float(n) for b, (n, _, _) in mc.items()},
         "decision-to-result counts every attempt: the 429 and its retry "
         "(per region = requests the region received)", (got, mc))
    others = [b for b in labenv.REGIONS if b != "eastus"]
    slow_dec = sum(delta(dec, dec0, b, "+Inf") - delta(dec, dec0, b, "0.250")
                   for b in others)
    # per retry: decision-to-result minus its own time to headers is the
    # time before the retry started, the 429's 300 ms among it
    before_retry = round(sum(delta(dec, dec0, b, "sum") -
                             delta(rsp, rsp0, b, "sum") for b in others), 3)
    print("# retry phase: client codes %s, mock (requests, 429s, x-aoai "
          "headers) %s, decision-to-result count/sum per region %s" % (
              codes, mc, {b: (delta(dec, dec0, b, "+Inf"),
                              round(delta(dec, dec0, b, "sum"), 3))
                          for b in labenv.REGIONS}))
    t.ok(slow_dec >= throttled and before_retry >= 0.25 * throttled,
         "the retries' decision-to-result includes the %d ms 429 before "
         "them (above 0.25 s, and by 0.25 s or more above their own time "
         "to headers)" % LATENCY_MS, (slow_dec, before_retry, throttled))
    t.ok(delta(dec, dec0, "eastus", "0.250") == 0 and
         delta(dec, dec0, "eastus", "+Inf") == throttled,
         "the throttled attempts are counted on eastus, above 0.25 s",
         dec.get("eastus"))
    lab.region("eastus").set(reset=1, **QUOTA)


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
        before_d = hist(lab, DECISION)
        t.eq(sorted(before), sorted(labenv.REGIONS),
             "latency histogram: one series set per configured region")
        t.eq(sorted(before_d), sorted(labenv.REGIONS),
             "decision-to-result histogram: one series set per region")
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
        check_decision_phase1(t, lab, before_d, before, served)

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

        # ---- decision-to-result: a spoofed stamp, a retried 429 ----
        check_spoofed_stamp(t, lab, regions)
        leaked = {n: h for n, (_, _, h) in mock_counts(regions).items()}
        t.eq(leaked, {b: 0 for b in labenv.REGIONS},
             "x-aoai-t0 (or any x-aoai-* header) never reached a region, "
             "the client's own included")
        check_retried(t, lab, regions)
        leaked = {n: h for n, (_, _, h) in mock_counts(regions).items()}
        t.eq(leaked, {b: 0 for b in labenv.REGIONS},
             "nor did it on the 429 and its retry")
    t.done()


if __name__ == "__main__":
    main()
