#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The lab in normal operation, through HAProxy only.

- client authentication: gateway key checked then dropped, never forwarded;
  each region gets its own key from HAProxy; an Entra ID bearer token is
  passed through and no key is added to it;
- weights: >= 400 requests split 2:1 between the priority-1 regions, none
  to the priority-2 spillover, within tolerance (mock counters);
- affinity: a key's requests all go to one region (reason affinity), and
  the key (x-aoai-affinity) never reaches a region;
- embeddings use their pool; x-aoai-* headers and the access log carry the
  decision, the reason and the retries;
- HAProxy's SPOE log lines show st=0 only;
- no key (region keys, gateway key, bearer) appears in any log of the run
  (agent in debug, mocks verbose, HAProxy).
"""
import json
import re

from harness import Tap
import labenv

N = 420


def main():
    t = Tap()
    bearer = "CANARY-BEARER-%s" % __import__("os").urandom(6).hex()
    with labenv.Lab(bearer=bearer, agent_args=["-d"],
                    mock_verbose=True) as lab:
        regions = [lab.region(n) for n in labenv.REGIONS]

        # ---- authentication ----
        r = lab.client(api_key="").chat("hi")
        t.eq(r.status, 401, "no gateway key: 401 from HAProxy")
        c = lab.client(api_key="not-a-gateway-key")
        t.eq(c.chat("hi").status, 401, "unknown gateway key: 401")
        c = lab.client(api_key=lab.region("eastus").api_key)
        t.eq(c.chat("hi").status, 401,
             "a region key is not a gateway key: 401")
        t.eq(sum(x.stats()["requests"] for x in regions), 0,
             "rejected requests never reach a region")

        c = lab.client()
        r = c.chat("hi")
        t.eq(r.status, 200, "gateway key: 200 (region key injected)")
        t.ok(r.json().get("object") == "chat.completion",
             "chat completion body", r.body[:200])
        t.eq(sum(x.stats()["auth_failures"] for x in regions), 0,
             "no region saw a wrong key")

        cb = lab.client(api_key="")
        r = cb.chat("hi", headers={"Authorization": "Bearer " + bearer})
        t.eq(r.status, 200, "Entra ID bearer without api-key: 200")
        r = cb.chat("hi", headers={"Authorization": "Bearer wrong-token"})
        t.eq(r.status, 401, "wrong bearer: the region answers 401 (no key "
             "added to a bearer request)")
        t.eq(sum(x.stats()["auth_failures"] for x in regions), 1,
             "the wrong bearer reached one region, unchanged")
        r = lab.client().chat("hi", headers={"Authorization": "Bearer x"})
        t.eq(r.status, 401, "gateway key + bearer: bearer wins, no key "
             "injected")

        # ---- weights ----
        for x in regions:
            x.reset_stats()
        res = lab.run_load(N, threads=4)
        bad = labenv.failures(res)
        t.ok(not bad, "%d requests, all 200" % N, bad[:3])
        counts = {x.name: x.stats()["requests"] for x in regions}
        t.eq(sum(counts.values()), N, "every request reached exactly one "
             "region")
        share = counts["eastus"] / float(N)
        t.ok(abs(share - 2 / 3.0) < 0.05, "eastus gets 2/3 (+-5%%): %.3f"
             % share, counts)
        t.ok(abs(counts["swedencentral"] / float(N) - 1 / 3.0) < 0.05,
             "swedencentral gets 1/3 (+-5%)", counts)
        t.eq(counts["westus-payg"], 0, "priority-2 region idle")
        reasons = {r.headers.get("x-aoai-reason") for r in res}
        t.eq(reasons, {"weighted"}, "x-aoai-reason weighted")
        t.ok(all(r.headers.get("x-aoai-backend") ==
                 r.headers.get("x-aoai-server") for r in res),
             "served by the server the agent chose")
        t.ok(all(r.headers.get("x-aoai-retries") == "0" for r in res),
             "no retry")

        # ---- affinity: one key, one region; the key is not forwarded ----
        for x in regions:
            x.reset_stats()
        c = lab.client()
        res = [c.chat("hi", headers={"x-aoai-affinity": "tenant-%d" % (i % 4)})
               for i in range(24)]
        t.ok(all(r.status == 200 for r in res), "affinity: 24 requests, "
             "all 200", [r.status for r in res])
        t.eq({r.headers.get("x-aoai-reason") for r in res}, {"affinity"},
             "affinity: x-aoai-reason affinity")
        by_key = {}
        for i, r in enumerate(res):
            by_key.setdefault(i % 4, set()).add(r.headers.get("x-aoai-server"))
        t.ok(all(len(v) == 1 for v in by_key.values()),
             "affinity: each key served by one region every time", by_key)
        t.eq(sum(x.stats()["aoai_headers"] for x in regions), 0,
             "affinity: no region saw x-aoai-affinity (nor any x-aoai-*)")

        # ---- embeddings pool ----
        r = lab.client().embeddings("vector please")
        t.ok(r.status == 200 and r.json().get("data"),
             "embeddings through pool embeddings", r.body[:200])

        # ---- streaming sanity (the full check is in test_reload_stream) --
        r = lab.client().chat("stream", stream=True)
        t.ok(r.status == 200 and r.text.rstrip().endswith("data: [DONE]"),
             "SSE stream ends with data: [DONE]", r.text[-200:])

        # ---- logs ----
        access = lab.access_lines()
        t.ok(len(access) >= N, "access log: one line per request",
             len(access))
        pat = re.compile(r"aoai-front aoai/(\S+) .* client=lab-client "
                         r"aoai_backend=(\S+) aoai_reason=(\S+) "
                         r"aoai_error=- upstream_status=200 retries=0 ")
        good = [l for l in access if pat.search(l)]
        t.ok(len(good) >= N, "access log: client, backend, reason, "
             "upstream status, retries", access[-1:])
        spoe = lab.spoe_lines()
        t.ok(len(spoe) >= 2 * N, "SPOE log: route and result lines",
             len(spoe))
        errs = [l for l in spoe if " st=0 " not in l]
        t.ok(not errs, "SPOE log: st=0 on every line", errs[:3])
        route = [l for l in spoe if "<EVENT:on-backend-http-request>" in l]
        result = [l for l in spoe if "<GROUP:aoai-result-group>" in l]
        t.ok(route and result, "SPOE log: both engines used",
             (len(route), len(result)))

        lab.stop_processes()
        leaks = lab.leaked_secrets()
        t.ok(not leaks, "no key in any log (haproxy, agent -d, mocks -v)",
             leaks[:3])
        t.ok(len(lab.secrets()) == 5 and all(
            len(lab.log_text(n)) > 0 for n in lab.logs),
            "canaries: 3 region keys, gateway key, bearer; logs not empty")
    t.done()


if __name__ == "__main__":
    main()
