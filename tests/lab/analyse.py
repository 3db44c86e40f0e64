# SPDX-License-Identifier: Apache-2.0
"""The lab's analysis: what one run measured (RunData), aggregated per
region and per client (aggregate), judged (checks) and assembled into the
report that report.py prints and lab.py writes as JSON. No I/O here."""
import collections
import datetime


class RunData:
    """Everything one run observed; lab.py fills it.

    mode          "mock" or "azure"
    regions       region names, in report order
    plan          {region: {"priority", "weight", "role"}}
    quotas        {region: mock options} (mock mode) or {}
    threads       client threads
    phases, incidents, events   the scenario and what actually ran
    duration      planned workload seconds; workload_s, settle_s, settle_n
    results       one dict per client request (workload.Workload)
    samples       [(t, {region: counters})] (workload.Sampler)
    final         the last sample, taken right after the workload
    backends      {name: agent backend} (`show backends json`)
    transitions   [{"t", "region", "from", "to", "why"}] (agent log)
    haproxy       {server or "BACKEND": show stat figures}
    access        access-log summary (observe.access_summary)
    mock_stats    {region: mock /_mock/stats}
    leaked        [(log file, secret)]
    procs         {process: exit status}
    """

    def __init__(self, **kw):
        self.mode = "mock"
        self.regions = []
        self.plan = {}
        self.quotas = {}
        self.threads = 0
        self.phases = []
        self.incidents = []
        self.events = []
        self.duration = 0.0
        self.workload_s = 0.0
        self.settle_s = 0.0
        self.settle_n = 0
        self.results = []
        self.samples = []
        self.final = {}
        self.backends = {}
        self.transitions = []
        self.haproxy = {}
        self.access = {}
        self.mock_stats = {}
        self.leaked = []
        self.procs = {}
        for k, v in kw.items():
            if not hasattr(self, k):
                raise TypeError("RunData: unknown field %s" % k)
            setattr(self, k, v)


def pct(values, p):
    if not values:
        return None
    v = sorted(values)
    k = min(len(v) - 1, max(0, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return round(v[k], 1)


def breaker_episodes(transitions):
    """{region: {"breaker_recoveries", "cooldown_ends"}}: a circuit that
    closes after it was open (tripped by failures) is a breaker recovery;
    one that closes after a throttle cooldown is the end of a cooldown."""
    out = collections.defaultdict(lambda: {"breaker_recoveries": 0,
                                           "cooldown_ends": 0})
    cause = {}
    for t in sorted(transitions, key=lambda t: t["t"]):
        r = t["region"]
        if t["to"] in ("open", "cooling"):
            # a half-open probe that fails re-opens: the cause stays open
            if cause.get(r) != "open":
                cause[r] = t["to"]
        elif t["to"] == "closed" and r in cause:
            out[r]["breaker_recoveries" if cause.pop(r) == "open"
                   else "cooldown_ends"] += 1
    return out


def client_summary(results):
    ok_res = [r for r in results if r["status"] == 200 and not r["error"]]
    errs = [r for r in results if not (r["status"] == 200
                                       and not r["error"])]
    status = collections.Counter(
        str(r["status"]) if r["status"] is not None else r["error"]
        for r in results)
    lat = [1000 * (r["end"] - r["start"]) for r in results]
    wait = [1000 * (r["start"] - r["sched"]) for r in results]
    by_kind = {}
    for kind in ("chat", "stream", "embeddings"):
        ks = [r for r in results if r["kind"] == kind]
        kl = [1000 * (r["end"] - r["start"]) for r in ks]
        by_kind[kind] = {"requests": len(ks),
                         "errors": sum(1 for r in ks if not (
                             r["status"] == 200 and not r["error"])),
                         "p50_ms": pct(kl, 50), "p99_ms": pct(kl, 99)}
    return {
        "requests": len(results), "ok": len(ok_res), "errors": len(errs),
        "status": dict(status.most_common()),
        "429": sum(1 for r in results if r["status"] == 429),
        "5xx": sum(1 for r in results if (r["status"] or 0) >= 500),
        "exceptions": sum(1 for r in results if r["status"] is None),
        "bad_bodies": sum(1 for r in results
                          if r["status"] == 200 and r["error"]),
        "latency_ms": {"p50": pct(lat, 50), "p90": pct(lat, 90),
                       "p99": pct(lat, 99),
                       "max": round(max(lat), 1) if lat else None},
        "max_queue_wait_ms": round(max(wait), 1) if wait else None,
        "by_kind": by_kind,
        "retried_by_haproxy": sum(1 for r in results if r["retries"]),
        # the response had a region but no agent decision: HAProxy routed
        # it alone (x-aoai-reason missing)
        "routed_without_agent": sum(1 for r in results if r["server"]
                                    and r["reason"] in (None, "", "-")),
        "first_errors": [{k: r[k] for k in ("i", "kind", "start", "status",
                                            "error", "server")}
                         for r in errs[:10]],
    }


def region_rows(run):
    total_ok = sum(run.final.get(r, {}).get("ok", 0) for r in run.regions)
    episodes = breaker_episodes(run.transitions)
    alone = run.access.get("haproxy_alone", {}).get("by_server", {})
    agent_by_server = run.access.get("agent_by_server", {})
    rows = []
    for r in run.regions:
        v = run.final.get(r, {})
        cl = [x for x in run.results if x["server"] == r]
        b = run.backends.get(r, {})
        c = b.get("counters", {})
        q = run.quotas.get(r)
        row = {
            "name": r,
            "priority": run.plan.get(r, {}).get("priority"),
            "weight": run.plan.get(r, {}).get("weight"),
            "role": run.plan.get(r, {}).get("role", ""),
            "quota": ({"requests_per_window": q["rpm"],
                       "window_ms": q["window_ms"]} if q else None),
            "requests": v.get("requests", 0),
            "served": v.get("ok", 0),
            "share_pct": round(100.0 * v.get("ok", 0) / total_ok, 1)
            if total_ok else 0.0,
            "region_view": {"2xx": v.get("ok", 0),
                            "429": v.get("throttled", 0),
                            "5xx_or_reset": v.get("failed", 0)},
            "client_view": {
                "2xx": sum(1 for x in cl if x["status"] == 200),
                "429": sum(1 for x in cl if x["status"] == 429),
                "5xx": sum(1 for x in cl if (x["status"] or 0) >= 500)},
            "routing": {"by_agent": agent_by_server.get(r, 0),
                        "by_haproxy_alone": alone.get(r, 0)},
            "haproxy": run.haproxy.get(r, {}),
            "breaker": {
                "trips": c.get("trips", 0),
                "cooldowns": c.get("cooldowns", 0),
                "recoveries": c.get("recoveries", 0),
                "breaker_recoveries": episodes[r]["breaker_recoveries"],
                "cooldown_ends": episodes[r]["cooldown_ends"],
                "final_state": b.get("state"),
                "transitions": [t for t in run.transitions
                                if t["region"] == r]},
        }
        if run.mode == "mock":
            st = run.mock_stats.get(r, {})
            row["region_view"]["resets"] = st.get("resets", 0)
            row["region_view"]["streams"] = st.get("streams", 0)
        rows.append(row)
    return rows, total_ok


def stopped_cleanly(procs):
    """Exit statuses that mean "stopped when asked": 0, or -15 for HAProxy
    in the foreground (-db), which dies of SIGTERM by design. SIGKILL (-9,
    after 5 s) would mean a process that did not stop."""
    return {k: v in (0, None) or (k == "haproxy" and v == -15)
            for k, v in procs.items()}


def checks(run, rows, client, total_ok):
    out = []

    def check(ok, name, detail=""):
        out.append({"name": name, "ok": bool(ok), "detail": detail})

    served_regions = [r["name"] for r in rows if r["served"] > 0]
    check(len(served_regions) >= 2,
          "requests are served by different regions",
          ", ".join("%s %.1f%%" % (r["name"], r["share_pct"]) for r in rows))
    check(client["errors"] == 0, "zero client-visible errors",
          "%d errors: %s" % (client["errors"], client["status"]))
    check(client["429"] == 0, "zero client-visible 429 (capacity existed "
          "in another region)", "%d" % client["429"])
    check(total_ok == client["ok"] + client["bad_bodies"],
          "the regions served each request exactly once",
          "regions 2xx %d, client 2xx %d" % (total_ok, client["ok"]))
    if run.mode == "mock":
        check(all(r["served"] > 0 for r in rows),
              "every region served (spillover reached priority 2)",
              served_regions)
        east = next(r for r in rows if r["name"] == "eastus")
        check(east["region_view"]["429"] > 0,
              "the peak exceeded eastus's quota (it answered 429s)",
              east["region_view"]["429"])
        for inc in run.incidents:
            row = next(r for r in rows if r["name"] == inc["region"])
            br = row["breaker"]
            check(br["trips"] >= 1 and br["recoveries"] >= 1
                  and br["final_state"] in ("closed", "cooling"),
                  "%s: %s tripped its breaker and it recovered"
                  % (inc["region"], inc["kind"]),
                  "trips %d, recoveries %d, final %s" % (
                      br["trips"], br["recoveries"], br["final_state"]))
    check(not run.leaked, "no api key or gateway key in any log",
          sorted({fn for fn, _ in run.leaked}))
    clean = stopped_cleanly(run.procs)
    check(all(clean.values()),
          "every process stopped on SIGTERM (agent and mocks exit 0)",
          run.procs)
    return out


def analyse(run, mix, paths):
    """The report (a JSON-able dict) of <run>; <mix> is the request mix,
    <paths> {"chart", "report", "logs"} as they are shown."""
    client = client_summary(run.results)
    rows, total_ok = region_rows(run)
    chk = checks(run, rows, client, total_ok)
    rep = {
        "mode": run.mode,
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"),
        "duration_s": run.duration, "workload_s": run.workload_s,
        "settle_s": run.settle_s, "settle_requests": run.settle_n,
        "threads": run.threads,
        "workload": {"phases": run.phases, "mix": dict(mix),
                     "requests": len(run.results)},
        "incidents": [{k: v for k, v in i.items() if k not in ("on", "off")}
                      for i in run.incidents],
        "events": run.events,
        "regions": rows,
        "client": client,
        "haproxy": {"backend": run.haproxy.get("BACKEND", {}),
                    "access_log": run.access},
        "breaker_transitions": run.transitions,
        "leaked_secrets": len(run.leaked),
        "processes_exit": run.procs,
        "processes_clean": stopped_cleanly(run.procs),
        "checks": chk,
        "ok": all(c["ok"] for c in chk),
        "samples": [[t, s] for t, s in run.samples],
    }
    rep.update(paths)
    return rep
