# SPDX-License-Identifier: Apache-2.0
"""What the lab prints: progress lines while the workload runs, and the
report of the analysis (analyse.analyse) at the end. Text only."""
import collections
import threading


def fmt_ms(v):
    return "-" if v is None else "%d ms" % round(v)


class Progress:
    """One line every <every> seconds of the workload: elapsed, requests
    so far, errors, and which regions served the last interval (the
    region of each final response)."""

    def __init__(self, out, duration, regions, sampler=None, every=5.0):
        self.out = out
        self.duration = duration
        self.regions = regions
        self.every = every
        self.next = every
        self.seen = 0
        self.lock = threading.Lock()

    def _line(self, elapsed, results):
        recent = results[self.seen:]
        self.seen = len(results)
        by = collections.Counter(r["server"] or "-" for r in recent
                                 if r["status"] == 200)
        n_ok = sum(by.values())
        errors = sum(1 for r in results
                     if not (r["status"] == 200 and not r["error"]))
        alone = sum(1 for r in recent if r["server"]
                    and r["reason"] in (None, "", "-"))
        shares = ", ".join("%s %d%%" % (name, round(100.0 * by[name] / n_ok))
                           for name in self.regions if by.get(name)) \
            if n_ok else "no 200 yet"
        self.out.write("  [%3.0f/%.0f s] %5d requests, %d errors; last %.0f s"
                       " served by: %s%s\n" % (
                           elapsed, self.duration, len(results), errors,
                           self.every, shares,
                           "; %d routed by HAProxy alone" % alone
                           if alone else ""))
        self.out.flush()

    def tick(self, elapsed, results, lock):
        """Called by the workload's dispatcher; prints when due."""
        if elapsed < self.next:
            return
        with lock:
            snap = list(results)
        with self.lock:
            self.next = (int(elapsed / self.every) + 1) * self.every
            self._line(elapsed, snap)

    def done(self, results):
        self.out.write("  workload done: %d requests; settling and "
                       "stopping...\n" % len(results))
        self.out.flush()


def _regions_tables(w, rep):
    mock = rep["mode"] == "mock"
    w("\nper region: what each region answered (%s counters), the region of "
      "each final response (client), who routed it\n" % (
          "the mocks'" if mock else "the agent's"))
    groups = (("", "%-14s %4s %3s %-9s %6s %6s"),
              ("region answered", "%5s %5s %6s"),
              ("client got", "%5s %4s %4s"),
              ("routed by", "%6s %6s"),
              ("HAProxy", "%5s %6s"))
    hdr = " | ".join(f for _, f in groups) + "\n"
    widths = [len(f % tuple([""] * f.count("%"))) for _, f in groups]
    w(" | ".join(g.center(n) for (g, _), n in zip(groups, widths)).rstrip()
      + "\n")
    w(hdr % ("region", "prio", "wt", "quota", "served", "share", "2xx",
             "429", "5xx/rs", "2xx", "429", "5xx", "agent", "alone",
             "retry", "redisp"))
    for r in rep["regions"]:
        q = r["quota"]
        quota = "%d/%ds" % (q["requests_per_window"],
                            q["window_ms"] // 1000) if q else "-"
        rv, cv, h, ro = (r["region_view"], r["client_view"], r["haproxy"],
                         r["routing"])
        w(hdr % (r["name"], r["priority"], r["weight"], quota, r["served"],
                 "%.1f%%" % r["share_pct"], rv["2xx"], rv["429"],
                 rv["5xx_or_reset"], cv["2xx"], cv["429"], cv["5xx"],
                 ro["by_agent"], ro["by_haproxy_alone"],
                 h.get("retries", 0), h.get("redispatches", 0)))
    w("\nbreakers per region (agent): a trip opens the circuit after "
      "failures, a breaker recovery closes it again; a throttle cooldown "
      "follows a 429 and ends when a probe succeeds\n")
    hdr = "%-14s %6s %10s %10s %10s %s\n"
    w(hdr % ("region", "trips", "recoveries", "cooldowns", "cool ends",
             "final"))
    for r in rep["regions"]:
        b = r["breaker"]
        w(hdr % (r["name"], b["trips"], b["breaker_recoveries"],
                 b["cooldowns"], b["cooldown_ends"], b["final_state"] or "-"))


def _transitions(w, rep):
    w("breaker trips and recoveries (agent log):\n")
    shown = 0
    tripped = set()
    for t in rep["breaker_transitions"]:
        # a trip and what follows it until the circuit is closed again
        # (throttle cooldowns are counted above, not listed)
        if t["to"] == "open":
            tripped.add(t["region"])
        if t["region"] not in tripped:
            continue
        if t["to"] == "closed":
            tripped.discard(t["region"])
        what = {"open": "%s tripped" if t["from"] == "closed"
                else "%s stays open", "half-open": "%s probing",
                "closed": "%s recovered"}.get(t["to"], "%s " + t["to"])
        w("  %6.1f s  %-24s %s -> %s: %s\n" % (
            t["t"], what % t["region"], t["from"], t["to"], t["why"]))
        shown += 1
    if not shown:
        w("  no trip\n")


def print_report(rep, out):
    w = out.write
    w("\n== Analyze Load Balancing Results ==\n")
    w("%d requests in %.1f s over %d client threads (%s); phases: %s\n" % (
        rep["client"]["requests"], rep["workload_s"], rep["threads"],
        ", ".join("%d %s" % (v["requests"], k)
                  for k, v in rep["client"]["by_kind"].items()),
        ", ".join("%s %s rps" % (p["name"], p["rps"])
                  for p in rep["workload"]["phases"])))
    for i in rep["incidents"]:
        w("incident: %s %s at %.1f-%.1f s\n" % (i["region"], i["kind"],
                                                i["start"], i["end"]))
    _regions_tables(w, rep)
    c = rep["client"]
    w("\nclients: %d requests, %d ok, %d errors (%d x 429, %d x 5xx, %d "
      "exceptions, %d bad bodies); status %s\n" % (
          c["requests"], c["ok"], c["errors"], c["429"], c["5xx"],
          c["exceptions"], c["bad_bodies"], c["status"]))
    lm = c["latency_ms"]
    w("latency (client side): p50 %s, p90 %s, p99 %s, max %s; by kind: %s;"
      " max queue wait %s\n" % (
          fmt_ms(lm["p50"]), fmt_ms(lm["p90"]), fmt_ms(lm["p99"]),
          fmt_ms(lm["max"]), ", ".join(
              "%s p50 %s p99 %s" % (k, fmt_ms(v["p50_ms"]),
                                    fmt_ms(v["p99_ms"]))
              for k, v in c["by_kind"].items() if v["requests"]),
          fmt_ms(c["max_queue_wait_ms"])))
    hb = rep["haproxy"]["backend"]
    acc = rep["haproxy"]["access_log"]
    alone = acc.get("haproxy_alone", {})
    w("routing decisions (access log): by the agent %d (%s); by HAProxy "
      "alone %d%s\n" % (
          sum(acc["decisions_by_reason"].values()), ", ".join(
              "%s %d" % kv for kv in acc["decisions_by_reason"].items())
          or "none", alone.get("total", 0),
          " (fail-open: the SPOE exchange failed or was late, HAProxy used "
          "its static weights: %s)" % ", ".join(
              "%s: %d" % kv for kv in alone.get("by_error", {}).items())
          if alone.get("total") else ""))
    w("HAProxy: %d retries, %d redispatches (show stat, backend aoai); %d "
      "requests needed a retry (access log)\n" % (
          hb.get("retries", 0), hb.get("redispatches", 0),
          acc["requests_retried"]))
    _transitions(w, rep)
    if rep["settle_requests"]:
        w("settle: %d light requests over %.1f s until every circuit closed "
          "(a breaker closes on a successful probe)\n" % (
              rep["settle_requests"], rep["settle_s"]))
    w("\nchecks:\n")
    for ch in rep["checks"]:
        w("  [%s] %s%s\n" % ("ok" if ch["ok"] else "FAIL", ch["name"],
                             "" if ch["ok"] else ": %s" % (ch["detail"],)))
    w("\nchart:  %s (requests/s per region, 429s, failures, circuit states)"
      "\nreport: %s\nlogs:   %s\n" % (rep["chart"], rep["report"],
                                     rep["logs"]))
    clean = rep.get("processes_clean", {})
    bad = [k for k, ok in clean.items() if not ok]
    if bad:
        w("stopped: NOT cleanly: %s\n" % ", ".join(
            "%s (exit %s)" % (k, rep["processes_exit"][k]) for k in bad))
    else:
        w("stopped: %s, each on SIGTERM as asked\n" % ", ".join(clean))
    w("RESULT: %s\n" % ("PASS" if rep["ok"] else "FAIL"))
