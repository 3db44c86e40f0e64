#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""HAProxy soft reload, streaming and large bodies.

- three soft reloads (new process, same configuration, -x takes the
  listeners over, -sf soft-stops the old one) under steady keep-alive load:
  no failed request, not even one the client had to resend on a new
  connection; old processes exit; routing continues;
- SSE streaming through HAProxy: every event of the region's stream
  arrives, ending with data: [DONE]; the first event arrives long before
  the end (no buffering);
- a 100 KB chat body (tune.bufsize is 128 KB) whose first attempts fail
  (429 and 503) is retried on another region with its body intact (the region's prompt token count is
  body bytes / 4; the mocks' bytes_in show each attempt carried it all);
- a body larger than tune.bufsize still goes through (not retryable).
"""
import http.client
import json
import time

from harness import Tap
import labenv


def sse_events(text):
    return [l[len("data: "):] for l in text.splitlines()
            if l.startswith("data: ")]


def stream_timing(lab, body, headers):
    """(seconds to first data line, seconds to the end, text) for a
    streamed chat read incrementally through HAProxy."""
    conn = http.client.HTTPConnection("127.0.0.1", lab.fe_port, timeout=30)
    t0 = time.monotonic()
    conn.request("POST", labenv.chat_path(), body=body, headers=headers)
    resp = conn.getresponse()
    first = None
    chunks = []
    while True:
        line = resp.readline()
        if not line:
            break
        if first is None and line.startswith(b"data: "):
            first = time.monotonic() - t0
        chunks.append(line)
    end = time.monotonic() - t0
    conn.close()
    return first, end, b"".join(chunks).decode()


def main():
    t = Tap()
    with labenv.Lab(quotas={n: {"stream_delay_ms": 40}
                            for n in labenv.REGIONS}) as lab:
        lab.run_load(30, threads=3)

        # ---- soft reload under load ----
        load = labenv.Load(lab, threads=3).start()
        olds = []
        try:
            time.sleep(1.0)
            for _ in range(3):
                olds.append(lab.haproxy)
                lab.reload_haproxy()
                time.sleep(1.5)
        finally:
            res = load.stop()
        t.ok(len(res) > 300 and not labenv.failures(res),
             "reload: 3 soft reloads under load, %d requests, none failed"
             % len(res), labenv.status_counts(res))
        stale = sum(1 for r in res if getattr(r, "retried_stale", False))
        t.eq(stale, 0, "reload: no request hit a keep-alive connection "
             "closed under it (option idle-close-on-response)")
        exited = all(labenv.wait_until(lambda p=p: p.poll() is not None,
                                       10) for p in olds)
        t.ok(exited, "reload: every old process exited",
             [p.poll() for p in olds])
        t.ok(lab.haproxy.poll() is None, "reload: the new process runs")
        r = lab.chat("after reload")
        t.ok(r.status == 200 and r.headers.get("x-aoai-reason") ==
             "weighted", "reload: routing decisions continue")

        # ---- SSE streaming ----
        msg = {"messages": [{"role": "user", "content": "stream me"}],
               "stream": True}
        body = json.dumps(msg)
        hdrs = {"Content-Type": "application/json",
                "api-key": lab.client_key}
        first, end, text = stream_timing(lab, body, hdrs)
        ev = sse_events(text)
        t.ok(ev and ev[-1] == "[DONE]", "SSE: ends with data: [DONE]",
             text[-200:])
        try:
            parsed = [json.loads(e) for e in ev[:-1]]
        except ValueError as exc:
            parsed = []
            t.ok(False, "SSE: every event is JSON", exc)
        content = "".join((p["choices"][0].get("delta") or {})
                          .get("content", "") for p in parsed
                          if p.get("choices"))
        region = parsed[0].get("model") if parsed else None
        t.ok(parsed and content.startswith("Hello") and
             all(p.get("object") == "chat.completion.chunk"
                 for p in parsed),
             "SSE: chunks intact (%d events, %r)" % (len(ev), content))
        # the same stream straight from a mock, for the event count
        direct = http.client.HTTPConnection(
            "127.0.0.1", lab.region("eastus").port, timeout=30)
        direct.request("POST", labenv.chat_path(), body=body, headers={
            "Content-Type": "application/json",
            "api-key": lab.region("eastus").api_key})
        dtext = direct.getresponse().read().decode()
        direct.close()
        t.eq(len(ev), len(sse_events(dtext)),
             "SSE: as many events as the region sent")
        t.ok(first is not None and end > 0.3 and first < end / 2,
             "SSE: not buffered (first event %.2f s, end %.2f s)"
             % (first or -1, end))
        del region

        # ---- 100 KB body failover ----
        for n in labenv.REGIONS:
            lab.region(n).reset_stats()
        lab.region("eastus").set(fail_status=429, fail_count=1)
        lab.region("swedencentral").set(fail_status=503, fail_count=1)
        content = "x" * 100000
        big = json.dumps({"messages": [{"role": "user",
                                        "content": content}]})
        r = lab.client().chat(body=big)
        t.eq(r.status, 200, "100 KB: 429 and 503 first, then 200")
        stats = {n: lab.region(n).stats() for n in labenv.REGIONS}
        attempts = sum(s["requests"] for s in stats.values())
        t.ok(attempts >= 3 and r.headers.get("x-aoai-retries") in
             ("+2", "2"), "100 KB: three attempts, two retries",
             (attempts, r.headers.get("x-aoai-retries")))
        full = [n for n, s in stats.items() if s["requests"] and
                s["bytes_in"] >= len(big) * s["requests"]]
        t.eq(sorted(full), sorted(n for n, s in stats.items()
                                  if s["requests"]),
             "100 KB: every attempt carried the whole body (bytes_in)")
        usage = r.json().get("usage", {})
        t.eq(usage.get("prompt_tokens"), len(big) // 4,
             "100 KB: the answering region got the body intact")

        # ---- larger than tune.bufsize ----
        huge = json.dumps({"messages": [{"role": "user",
                                         "content": "y" * 300000}]})
        r = lab.client().chat(body=huge)
        t.ok(r.status == 200 and r.json().get("usage", {}).get(
            "prompt_tokens") == len(huge) // 4,
            "300 KB body (above tune.bufsize): proxied intact",
            (r.status, r.body[:200]))

        errs = [l for l in lab.spoe_lines() if " st=0 " not in l]
        t.ok(not errs, "SPOE log: st=0 on every line", errs[:3])
        lab.stop_processes()
        t.ok(not lab.leaked_secrets(), "no key in any log")
    t.done()


if __name__ == "__main__":
    main()
