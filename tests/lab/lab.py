#!/usr/bin/env python3
"""`make run`: the aoai-spoa lab, and its analysis.

Starts three mock Azure OpenAI regions, the agent and HAProxy on loopback
(tests/lib/labenv.py, haproxy-conf/lab/), drives a realistic workload
through HAProxy (open-loop arrivals over 24 client threads; chat
completions, streamed chat completions and embeddings; a load peak that
exceeds the PTU-like region's quota; a 5xx burst in one region and
connection resets in another), then prints the analysis of the seed lab's
last step -- "verify that requests are being served by different regions"
-- and stops everything. Writes build/lab/report.json, build/lab/traffic.svg
and build/lab/logs/.

With a real Azure configuration (--azure-config FILE or AZURE_CONFIG=FILE;
see tests/lab/README.md and tests/lab/azure.env.example) it renders the
production HAProxy configuration (haproxy-conf/haproxy.cfg) for those
regions and runs a small workload (AOAI_REQUESTS, default 50) with the same
analysis. That path is untested here (no network on this machine) except
for the rendering, which tests/e2e/test_lab.py checks with `haproxy -c`.

    python3 tests/lab/lab.py [--duration 60] [--threads 24] [--out build/lab]
                             [--azure-config FILE] [--render-only DIR]

Exit status: 0 when every check of the analysis passed, 1 otherwise, 2 on a
usage or configuration error. Environment: LAB_DURATION (seconds),
LAB_THREADS, LAB_OUT, AZURE_CONFIG.
"""
import argparse
import collections
import datetime
import json
import os
import queue
import random
import re
import shutil
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))
sys.path.insert(0, HERE)

import labenv  # noqa: E402
import azure  # noqa: E402
import svg  # noqa: E402

ROOT = labenv.ROOT

# ---- the mock scenario ----------------------------------------------------

WINDOW_MS = 5000  # the mocks' quota window (Azure counts per minute; the
#                   lab per 5 s so that throttling and recovery fit in a run)
QUOTAS = {
    # PTU-like: the biggest share of traffic, fast, a quota that the peak
    # exceeds.
    "eastus": {"rpm": 150, "tpm": 2000000, "window_ms": WINDOW_MS,
               "latency_ms": 25, "stream_delay_ms": 20},
    # standard deployment, priority 1 as well, smaller quota
    "swedencentral": {"rpm": 60, "tpm": 1000000, "window_ms": WINDOW_MS,
                      "latency_ms": 45, "stream_delay_ms": 25},
    # pay-as-you-go spillover (priority 2): big quota, slower
    "westus-payg": {"rpm": 2500, "tpm": 50000000, "window_ms": WINDOW_MS,
                    "latency_ms": 90, "stream_delay_ms": 30},
}
PLAN = {  # what haproxy-conf/lab/aoai-spoa.yaml says (for the report)
    "eastus": {"priority": 1, "weight": 2, "role": "PTU-like"},
    "swedencentral": {"priority": 1, "weight": 1, "role": "standard"},
    "westus-payg": {"priority": 2, "weight": 1, "role": "PAYG spillover"},
}
# (name, start, end as fractions of the duration, requests per second)
PHASES = [("warm-up", 0.00, 0.15, 20), ("peak", 0.15, 0.40, 90),
          ("steady", 0.40, 0.75, 30), ("peak", 0.75, 0.88, 70),
          ("cool-down", 0.88, 1.00, 20)]
MIX = (("chat", 0.85), ("stream", 0.05), ("embeddings", 0.10))


def scenario(duration):
    phases = [{"name": n, "start": round(a * duration, 2),
               "end": round(b * duration, 2), "rps": rps}
              for n, a, b, rps in PHASES]
    burst = max(2.0, 0.05 * duration)
    resets = max(2.0, 0.04 * duration)
    # in the steady phase, after the peak's throttle cooldowns (each
    # incident also waits until its region is back in traffic)
    t_a = round(0.50 * duration, 2)
    t_b = round(0.62 * duration, 2)
    incidents = [
        {"region": "eastus", "kind": "5xx burst (every answer 500)",
         "start": t_a, "end": round(t_a + burst, 2),
         "on": {"fail_status": 500, "fail_rate": 100},
         "off": {"fail_rate": 0}},
        {"region": "swedencentral", "kind": "connection resets",
         "start": t_b, "end": round(t_b + resets, 2),
         "on": {"reset_count": 1000000}, "off": {"reset_count": 0}},
    ]
    return phases, incidents


def arrivals(phases, seed):
    """[(t, kind)]: Poisson arrivals per phase, kinds drawn from MIX."""
    rnd = random.Random(seed)
    out = []
    for p in phases:
        t = p["start"]
        while True:
            t += rnd.expovariate(p["rps"])
            if t >= p["end"]:
                break
            u, acc = rnd.random(), 0.0
            for kind, share in MIX:
                acc += share
                if u < acc:
                    break
            out.append((t, kind))
    return out


# ---- the workload ----------------------------------------------------------

class Paths:
    def __init__(self, deployment, embeddings, api_version):
        self.deployment = deployment
        self.embeddings = embeddings
        self.api_version = api_version

    def chat(self):
        return ("/openai/deployments/%s/chat/completions?api-version=%s"
                % (self.deployment, self.api_version))

    def emb(self):
        return ("/openai/deployments/%s/embeddings?api-version=%s"
                % (self.embeddings, self.api_version))


def do_request(client, paths, kind, i):
    """One request; returns (status or None, error or None, headers)."""
    if kind == "embeddings":
        body = {"input": "lab embedding input %d" % i}
        path = paths.emb()
    else:
        body = {"messages": [
            {"role": "system", "content": "You are a terse assistant."},
            {"role": "user", "content": "Lab request %d: say hello." % i}],
            "max_tokens": 16}
        if kind == "stream":
            body["stream"] = True
            body["max_tokens"] = 32
        path = paths.chat()
    r = client.request("POST", path, json.dumps(body))
    err = None
    if r.status == 200:
        if kind == "stream":
            if b"data: [DONE]" not in r.body:
                err = "incomplete stream"
        else:
            try:
                j = r.json()
                if kind == "chat" and not j["choices"][0]["message"][
                        "content"]:
                    err = "empty answer"
                if kind == "embeddings" and not j["data"][0]["embedding"]:
                    err = "empty embedding"
            except (ValueError, KeyError, IndexError, TypeError):
                err = "bad JSON body"
    return r, err


class Workload:
    """Open-loop: a dispatcher releases each request at its arrival time to
    a pool of <threads> keep-alive clients; timed events run on their own
    thread."""

    def __init__(self, lab, paths, schedule, threads, events=()):
        self.lab = lab
        self.paths = paths
        self.schedule = schedule
        self.threads = threads
        self.events = sorted(events, key=lambda e: e[0])
        self.q = queue.Queue()
        self.results = []
        self.lock = threading.Lock()
        self.event_log = []
        self.t0 = None

    def _worker(self):
        c = self.lab.client()
        try:
            while True:
                job = self.q.get()
                if job is None:
                    return
                i, t_sched, kind = job
                start = time.monotonic() - self.t0
                rec = {"i": i, "kind": kind, "sched": t_sched,
                       "start": start, "status": None, "error": None,
                       "server": None, "retries": 0, "reason": None}
                try:
                    r, err = do_request(c, self.paths, kind, i)
                    rec["status"] = r.status
                    rec["error"] = err
                    rec["server"] = r.headers.get("x-aoai-server")
                    rec["reason"] = r.headers.get("x-aoai-reason")
                    rec["retries"] = abs(int(r.headers.get(
                        "x-aoai-retries", "0").lstrip("+") or 0))
                    rec["retried_stale"] = r.retried_stale
                except Exception as exc:  # noqa: BLE001 - recorded
                    rec["error"] = type(exc).__name__
                    c.close()
                rec["end"] = time.monotonic() - self.t0
                with self.lock:
                    self.results.append(rec)
        finally:
            c.close()

    def _events(self):
        for t, label, fn in self.events:
            delay = self.t0 + t - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            try:
                fn(lambda: round(time.monotonic() - self.t0, 2))
                self.event_log.append((round(time.monotonic() - self.t0, 2),
                                       label, "ok"))
            except Exception as exc:  # noqa: BLE001 - reported
                self.event_log.append((round(time.monotonic() - self.t0, 2),
                                       label, "failed: %s" % exc))

    def run(self, t0):
        self.t0 = t0
        ws = [threading.Thread(target=self._worker, daemon=True)
              for _ in range(self.threads)]
        for w in ws:
            w.start()
        ev = threading.Thread(target=self._events, daemon=True)
        ev.start()
        for i, (t, kind) in enumerate(self.schedule):
            delay = self.t0 + t - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self.q.put((i, t, kind))
        for _ in ws:
            self.q.put(None)
        for w in ws:
            w.join(120)
        ev.join(120)
        return self.results


class Sampler:
    """Every second: each region's cumulative counters (the mocks' own, or
    the agent's per-backend results when there are no mocks) and the
    agent's circuit states."""

    def __init__(self, lab, regions, mock):
        self.lab = lab
        self.regions = regions
        self.mock = mock
        self.samples = []
        self.stop_ev = threading.Event()
        self.thread = None
        self.t0 = None

    def snapshot(self):
        out = {}
        if self.mock:
            for r in self.regions:
                try:
                    st = self.lab.region(r).stats()
                except Exception:  # noqa: BLE001 - a missed sample
                    continue
                s = st.get("status", {})
                out[r] = {
                    "requests": st.get("requests", 0),
                    "ok": sum(v for k, v in s.items() if k.startswith("2")),
                    "throttled": s.get("429", 0),
                    "failed": sum(v for k, v in s.items()
                                  if k.startswith("5")) + st.get("resets",
                                                                 0)}
        else:
            for b in agent_backends(self.lab):
                c = b.get("counters", {})
                if b.get("name") not in self.regions:
                    continue
                out[b["name"]] = {
                    "requests": sum(c.get(k, 0) for k in (
                        "results_2xx", "results_3xx", "results_4xx",
                        "results_5xx", "results_none")),
                    "ok": c.get("results_2xx", 0),
                    "throttled": c.get("throttles", 0),
                    "failed": c.get("results_5xx", 0) + c.get(
                        "results_none", 0)}
        return out

    def _loop(self):
        k = 0
        while not self.stop_ev.is_set():
            self.samples.append((round(time.monotonic() - self.t0, 3),
                                 self.snapshot()))
            k += 1
            delay = self.t0 + k - time.monotonic()
            if delay > 0:
                self.stop_ev.wait(delay)

    def start(self, t0):
        self.t0 = t0
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def stop(self):
        self.stop_ev.set()
        self.thread.join(10)
        self.samples.append((round(time.monotonic() - self.t0, 3),
                             self.snapshot()))


# ---- reading the agent and HAProxy ------------------------------------------

def agent_backends(lab):
    try:
        return json.loads(lab.agent_cmd("show backends json"))["backends"]
    except (OSError, ValueError, KeyError):
        return []


LOG_TRANSITION = re.compile(
    r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) aoai-spoa\[\w+\]: "
    r"backend (\S+): (\S+) -> (\S+): (.*)$")


def transitions(lab, wall0):
    """The agent's "backend X: a -> b: why" lines, t relative to wall0."""
    out = []
    for line in lab.log_text("agent").splitlines():
        m = LOG_TRANSITION.match(line.strip())
        if not m:
            continue
        ts = m.group(1)
        fmt = "%Y-%m-%dT%H:%M:%S.%fZ" if "." in ts else "%Y-%m-%dT%H:%M:%SZ"
        t = datetime.datetime.strptime(ts, fmt).replace(
            tzinfo=datetime.timezone.utc).timestamp()
        out.append({"t": round(t - wall0, 3), "region": m.group(2),
                    "from": m.group(3), "to": m.group(4),
                    "why": m.group(5)})
    return out


ACCESS = re.compile(r" aoai-front (\S+)/(\S+) .*? (\d{3}) .*"
                    r"aoai_reason=(\S+) .*upstream_status=(\S+) "
                    r"retries=(\+?-?\d+)")


def access_summary(lab):
    reasons = collections.Counter()
    retried = 0
    retries = 0
    redispatched = 0
    n = 0
    for line in lab.access_lines():
        m = ACCESS.search(line)
        if not m:
            continue
        n += 1
        reasons[m.group(4)] += 1
        rc = m.group(6)
        k = abs(int(rc.lstrip("+")))
        if k:
            retried += 1
            retries += k
        if rc.startswith("+"):
            redispatched += 1
    return {"lines": n, "requests_retried": retried, "retries": retries,
            "last_retry_redispatched": redispatched,
            "decisions_by_reason": dict(reasons.most_common())}


def haproxy_servers(lab, regions):
    out = {}
    for row in lab.show_stat():
        if row.get("pxname") == "aoai" and row.get("svname") in regions:
            out[row["svname"]] = {
                "attempts": int(row.get("stot") or 0),
                "retries": int(row.get("wretr") or 0),
                "redispatches": int(row.get("wredis") or 0),
                "status": row.get("status")}
        if row.get("pxname") == "aoai" and row.get("svname") == "BACKEND":
            out["BACKEND"] = {
                "requests": int(row.get("stot") or 0),
                "retries": int(row.get("wretr") or 0),
                "redispatches": int(row.get("wredis") or 0)}
    return out


def pct(values, p):
    if not values:
        return None
    v = sorted(values)
    k = min(len(v) - 1, max(0, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return round(v[k], 1)


# ---- the run ---------------------------------------------------------------

def settle(lab, paths, regions, limit=12.0):
    """Light traffic until no circuit is open/half-open (or <limit> s):
    a breaker needs a probe to close. Returns the seconds it took."""
    t0 = time.monotonic()
    c = lab.client()
    i = 0
    try:
        while time.monotonic() - t0 < limit:
            states = {b["name"]: b["state"] for b in agent_backends(lab)}
            if all(states.get(r) in ("closed", "cooling") for r in regions):
                break
            try:
                do_request(c, paths, "chat", 100000 + i)
            except Exception:  # noqa: BLE001 - not part of the analysis
                c.close()
            i += 1
            time.sleep(0.2)
    finally:
        c.close()
    return round(time.monotonic() - t0, 2), i


def run(args, mode, lab, regions, plan, paths, schedule, phases, incidents,
        duration, events):
    out = args.out
    os.makedirs(out, exist_ok=True)
    # zero every counter so the analysis covers the workload only
    if mode == "mock":
        for r in regions:
            lab.region(r).reset_stats()
    lab.agent_cmd("clear counters")
    lab.haproxy_cmd("clear counters all")
    lab.log_text("agent")
    t0 = time.monotonic()
    wall0 = time.time()
    sampler = Sampler(lab, regions, mode == "mock")
    sampler.start(t0)
    wl = Workload(lab, paths, schedule, args.threads, events)
    results = wl.run(t0)
    workload_s = round(time.monotonic() - t0, 2)
    # the counters of the workload itself (before any settle request)
    time.sleep(0.2)  # the last access log lines
    final = sampler.snapshot()
    hap = haproxy_servers(lab, regions)
    acc = access_summary(lab)
    mock_stats = {r: lab.region(r).stats() for r in regions} \
        if mode == "mock" else {}
    settle_s, settle_n = settle(lab, paths, regions)
    sampler.stop()
    # breaker counters and transitions: including the settle's probes
    backends = {b["name"]: b for b in agent_backends(lab)}
    trans = transitions(lab, wall0)
    leaked = lab.leaked_secrets()
    logs_dir = os.path.join(out, "logs")
    shutil.rmtree(logs_dir, ignore_errors=True)
    if not leaked:
        os.makedirs(logs_dir)
        for fn in os.listdir(lab.dir):
            if fn.endswith(".log"):
                shutil.copy(os.path.join(lab.dir, fn), logs_dir)
    # -- stop everything, then analyse --
    lab.stop_processes()
    procs = {"haproxy": lab.haproxy.returncode,
             "aoai-spoa": lab.agent.returncode if lab.agent else None}
    for r in regions if mode == "mock" else ():
        procs["mock " + r] = lab.region(r).proc.returncode
    return analyse(args, mode, regions, plan, results, phases, incidents,
                   duration, workload_s, settle_s, settle_n, backends, trans,
                   hap, acc, final, mock_stats, sampler.samples, leaked,
                   procs, wl.event_log)


def analyse(args, mode, regions, plan, results, phases, incidents, duration,
            workload_s, settle_s, settle_n, backends, trans, hap, acc, final,
            mock_stats, samples, leaked, procs, event_log):
    n = len(results)
    ok_res = [r for r in results if r["status"] == 200 and not r["error"]]
    errs = [r for r in results if r not in ok_res]
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
                         "errors": sum(1 for r in ks if r in errs),
                         "p50_ms": pct(kl, 50), "p99_ms": pct(kl, 99)}
    total_ok = sum(final.get(r, {}).get("ok", 0) for r in regions)
    rows = []
    for r in regions:
        v = final.get(r, {})
        cl = [x for x in results if x["server"] == r]
        b = backends.get(r, {})
        c = b.get("counters", {})
        tr = [t for t in trans if t["region"] == r]
        row = {
            "name": r,
            "priority": plan.get(r, {}).get("priority"),
            "weight": plan.get(r, {}).get("weight"),
            "role": plan.get(r, {}).get("role", ""),
            "quota": ({"requests_per_window": QUOTAS[r]["rpm"],
                       "window_ms": QUOTAS[r]["window_ms"]}
                      if mode == "mock" and r in QUOTAS else None),
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
            "haproxy": hap.get(r, {}),
            "breaker": {
                "trips": c.get("trips", 0),
                "cooldowns": c.get("cooldowns", 0),
                "recoveries": c.get("recoveries", 0),
                "final_state": b.get("state"),
                "transitions": tr},
        }
        if mode == "mock":
            st = mock_stats.get(r, {})
            row["region_view"]["resets"] = st.get("resets", 0)
            row["region_view"]["streams"] = st.get("streams", 0)
        rows.append(row)
    client = {
        "requests": n, "ok": len(ok_res), "errors": len(errs),
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
        "first_errors": [{k: r[k] for k in ("i", "kind", "start", "status",
                                            "error", "server")}
                         for r in errs[:10]],
    }
    checks = []

    def check(ok, name, detail=""):
        checks.append({"name": name, "ok": bool(ok), "detail": detail})

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
    if mode == "mock":
        check(all(r["served"] > 0 for r in rows),
              "every region served (spillover reached priority 2)",
              served_regions)
        east = next(r for r in rows if r["name"] == "eastus")
        check(east["region_view"]["429"] > 0,
              "the peak exceeded eastus's quota (it answered 429s)",
              east["region_view"]["429"])
        for inc in incidents:
            row = next(r for r in rows if r["name"] == inc["region"])
            br = row["breaker"]
            check(br["trips"] >= 1 and br["recoveries"] >= 1
                  and br["final_state"] in ("closed", "cooling"),
                  "%s: %s tripped its breaker and it recovered"
                  % (inc["region"], inc["kind"]),
                  "trips %d, recoveries %d, final %s" % (
                      br["trips"], br["recoveries"], br["final_state"]))
    check(not leaked, "no api key or gateway key in any log",
          sorted({fn for fn, _ in leaked}))
    # labenv stops with SIGTERM: HAProxy (-db) dies of it by design (-15);
    # SIGKILL (-9, after 5 s) would mean a process that did not stop.
    check(all(v in (0, None) or (k == "haproxy" and v == -15)
              for k, v in procs.items()),
          "every process stopped on SIGTERM (agent and mocks exit 0)", procs)
    report = {
        "mode": mode,
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"),
        "duration_s": duration, "workload_s": workload_s,
        "settle_s": settle_s, "settle_requests": settle_n,
        "threads": args.threads,
        "workload": {"phases": phases, "mix": dict(MIX),
                     "requests": n},
        "incidents": [{k: v for k, v in i.items() if k not in ("on", "off")}
                      for i in incidents],
        "events": event_log,
        "regions": rows,
        "client": client,
        "haproxy": {"backend": hap.get("BACKEND", {}), "access_log": acc},
        "breaker_transitions": trans,
        "leaked_secrets": len(leaked),
        "processes_exit": procs,
        "checks": checks,
        "ok": all(c["ok"] for c in checks),
        "chart": show_path(os.path.join(args.out, "traffic.svg")),
        "report": show_path(os.path.join(args.out, "report.json")),
        "logs": show_path(os.path.join(args.out, "logs")),
        "samples": [[t, s] for t, s in samples],
    }
    title = ("aoai-spoa lab: requests per second by region (%s)" % (
        "mock regions" if mode == "mock" else "real Azure OpenAI"))
    svg.render(os.path.join(args.out, "traffic.svg"), title, samples,
               regions, max(duration, workload_s + settle_s), trans, phases,
               incidents)
    with open(os.path.join(args.out, "report.json"), "w") as f:
        json.dump(report, f, indent=1)
    return report


# ---- printing ----------------------------------------------------------------

def show_path(p):
    rel = os.path.relpath(p, ROOT)
    return p if rel.startswith("..") else rel


def fmt_ms(v):
    return "-" if v is None else "%d ms" % round(v)


def print_report(rep):
    w = sys.stdout.write
    mock = rep["mode"] == "mock"
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
    w("\nper region (%s view: what each region answered; client view: the "
      "region of each final response)\n" % ("the mocks'" if mock
                                            else "the agent's"))
    hdr = ("%-14s %4s %3s %-10s %7s %6s | %6s %5s %6s | %6s %4s %4s | "
           "%5s %6s | %5s %5s %5s\n")
    w(hdr % ("region", "prio", "wt", "quota", "served", "share", "2xx",
             "429", "5xx/rs", "cl-2xx", "429", "5xx", "retry", "redisp",
             "trips", "cool", "recov"))
    for r in rep["regions"]:
        q = r["quota"]
        quota = "%d/%ds" % (q["requests_per_window"],
                            q["window_ms"] // 1000) if q else "-"
        rv, cv, h, b = (r["region_view"], r["client_view"], r["haproxy"],
                        r["breaker"])
        w(hdr % (r["name"], r["priority"], r["weight"], quota, r["served"],
                 "%.1f%%" % r["share_pct"], rv["2xx"], rv["429"],
                 rv["5xx_or_reset"], cv["2xx"], cv["429"], cv["5xx"],
                 h.get("retries", 0), h.get("redispatches", 0), b["trips"],
                 b["cooldowns"], b["recoveries"]))
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
    w("HAProxy: %d retries, %d redispatches (show stat, backend aoai); %d "
      "requests needed a retry (access log); decisions: %s\n" % (
          hb.get("retries", 0), hb.get("redispatches", 0),
          acc["requests_retried"], ", ".join(
              "%s %d" % kv for kv in acc["decisions_by_reason"].items())))
    w("breakers (agent log):\n")
    shown = 0
    tripped = set()
    for t in rep["breaker_transitions"]:
        # a trip and what follows it until the circuit is closed again
        # (throttle cooldowns are counted below, not listed)
        if t["to"] == "open":
            tripped.add(t["region"])
        if t["region"] not in tripped:
            continue
        if t["to"] == "closed":
            tripped.discard(t["region"])
        w("  %6.1f s  %-14s %s -> %s: %s\n" % (t["t"], t["region"],
                                              t["from"], t["to"], t["why"]))
        shown += 1
    cools = sum(1 for t in rep["breaker_transitions"] if t["to"] == "cooling")
    w("  (%s; %d throttle cooldowns after a 429: %s)\n" % (
        "no trip" if not shown else "trips and recoveries above", cools,
        ", ".join("%s %d" % (r["name"], r["breaker"]["cooldowns"])
                  for r in rep["regions"])))
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
    w("stopped: %s\n" % ", ".join("%s (exit %s)" % kv
                                  for kv in rep["processes_exit"].items()))
    w("RESULT: %s\n" % ("PASS" if rep["ok"] else "FAIL"))


# ---- modes ---------------------------------------------------------------------

def mock_mode(args):
    duration = args.duration
    phases, incidents = scenario(duration)
    schedule = arrivals(phases, args.seed)
    regions = list(labenv.REGIONS)
    print("aoai-spoa lab: HAProxy %s + aoai-spoa + 3 mock regions on "
          "127.0.0.1, %.0f s workload, %d client threads" % (
              haproxy_version(), duration, args.threads))
    for r in regions:
        q = QUOTAS[r]
        print("  %-14s priority %d weight %d  %-15s quota %d requests / %d s,"
              " latency %d ms" % (r, PLAN[r]["priority"], PLAN[r]["weight"],
                                  PLAN[r]["role"], q["rpm"],
                                  q["window_ms"] // 1000, q["latency_ms"]))
    sys.stdout.flush()
    with labenv.Lab(quotas=QUOTAS, keep=args.keep) as lab:
        paths = Paths(labenv.DEPLOYMENT, "text-embedding-3-small",
                      labenv.API_VERSION)
        events = []
        for inc in incidents:
            events.append((inc["start"], "%s: %s" % (inc["region"],
                                                     inc["kind"]),
                           lambda rel, inc=inc: incident(lab, inc, rel)))
        print("running: %d requests scheduled (%s) ..." % (
            len(schedule), ", ".join("%s %s rps %.0f-%.0f s" % (
                p["name"], p["rps"], p["start"], p["end"])
                for p in phases)))
        sys.stdout.flush()
        rep = run(args, "mock", lab, regions, PLAN,
                  paths, schedule, phases, incidents, duration, events)
        if args.keep:
            print("lab folder kept: %s" % lab.dir)
    return rep


def incident(lab, inc, rel):
    """Waits (up to 8 s) until every region's circuit is closed, so that
    the region takes traffic when the incident starts and the incident
    is one region's (two priority-1 regions failing at once is another
    scenario: see haproxy-conf/README.md); then injects it for its
    length. Records the actual start and end."""
    length = inc["end"] - inc["start"]
    labenv.wait_until(lambda: all(
        b.get("state") == "closed" for b in agent_backends(lab)), 8.0, 0.1)
    def trips():
        return sum(b.get("counters", {}).get("trips", 0)
                   for b in agent_backends(lab)
                   if b.get("name") == inc["region"])
    trips0 = trips()
    reg = lab.region(inc["region"])
    inc["start"] = rel()
    reg.set(**inc["on"])
    time.sleep(length)
    # a region that happened to get little traffic (its quota headroom
    # steers the agent away) may not have failed often enough yet: the
    # incident lasts until its breaker opened, 4 s more at most
    labenv.wait_until(lambda: trips() > trips0, 4.0, 0.1)
    reg.set(**inc["off"])
    inc["end"] = rel()


def haproxy_version():
    try:
        out = subprocess.run([labenv.HAPROXY_BIN, "-v"], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, timeout=10).stdout
        m = re.search(rb"version (\S+)", out)
        return m.group(1).decode() if m else "?"
    except OSError:
        return "?"


def render_azure(cfg, run_dir, fe_port, agent_addr, clients_map):
    """Writes haproxy.cfg, azure-keys.map in run_dir; returns the cfg path
    and the agent YAML text."""
    ports = {r["name"]: (labenv.free_port(), labenv.free_port())
             for r in cfg["regions"]}
    keys = os.path.join(run_dir, "azure-keys.map")
    fd = os.open(keys, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(azure.keys_map_text(cfg))
    text = azure.render_haproxy(cfg, run_dir, fe_port, agent_addr, ports,
                                keys, clients_map, labenv.SPOE_CONF)
    path = os.path.join(run_dir, "haproxy.cfg")
    with open(path, "w") as f:
        f.write(text)
    return path, azure.render_agent_yaml(cfg)


def render_only(args, cfg):
    """--render-only DIR: the configuration files the real mode would use,
    and haproxy -c / aoai-spoa -c on them (no traffic)."""
    d = os.path.abspath(args.render_only)
    os.makedirs(d, exist_ok=True)
    clients = os.path.join(d, "aoai-clients.map")
    with open(clients, "w") as f:
        f.write("lab-render-check lab-client\n")
    path, yaml_text = render_azure(cfg, d, labenv.free_port(),
                                   "127.0.0.1:%d" % labenv.free_port(),
                                   clients)
    ypath = os.path.join(d, "aoai-spoa.yaml")
    with open(ypath, "w") as f:
        f.write(yaml_text.replace(labenv.YAML_DIR, d + "/"))
    rc = 0
    for argv in ([labenv.HAPROXY_BIN, "-c", "-f", path],
                 [labenv.AGENT_BIN, "-c", "-f", ypath]):
        p = subprocess.run(argv, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
        print("$ %s -> exit %d\n%s" % (" ".join(argv), p.returncode,
                                       p.stdout.decode("utf-8", "replace")))
        rc |= p.returncode
    return rc


def azure_mode(args, cfg):
    regions = [r["name"] for r in cfg["regions"]]
    plan = {r["name"]: {"priority": r["priority"], "weight": r["weight"],
                        "role": r["host"]} for r in cfg["regions"]}
    n = cfg["requests"]
    rps = 5.0
    duration = max(5.0, n / rps + 2)
    rnd = random.Random(args.seed)
    n_stream = max(1, n // 20)
    n_emb = max(1, n // 10) if cfg["embeddings_deployment"] else 0
    kinds = (["stream"] * n_stream + ["embeddings"] * n_emb
             + ["chat"] * (n - n_stream - n_emb))
    rnd.shuffle(kinds)
    schedule = [(1.0 + i / rps, k) for i, k in enumerate(kinds)]
    phases = [{"name": "steady", "start": 0.0, "end": duration,
               "rps": rps}]
    top = min(r["priority"] for r in cfg["regions"])
    first = next(r["name"] for r in cfg["regions"] if r["priority"] == top)
    t_trip = round(duration * 0.4, 1)
    incidents = [{"region": first, "kind": "breaker tripped by operator "
                  "(trip backend %s 5s)" % first, "start": t_trip,
                  "end": t_trip + 5}]
    print("aoai-spoa lab, REAL AZURE OpenAI mode (untested here: no "
          "network on the machine it was written on)")
    for r in cfg["regions"]:
        print("  %-14s priority %d weight %d  %s  deployment %s" % (
            r["name"], r["priority"], r["weight"], r["endpoint"],
            r["deployment"]))
    print("workload: %d requests at %.0f rps over %d threads (quota and "
          "cost), api-version %s" % (n, rps, cfg["threads"],
                                     cfg["api_version"]))
    args.threads = cfg["threads"]
    # No mock: labenv starts the agent (with the rendered YAML) and HAProxy
    # with the production configuration rendered for these regions. labenv
    # picks the ports in start(), so the configuration is rendered right
    # before HAProxy starts, from the ports it chose.
    lab = labenv.Lab(regions=[], keep=args.keep,
                     agent_yaml=azure.render_agent_yaml(cfg),
                     extra_env={"AOAI_DEBUG_HEADERS": "1"})
    cfg_path = os.path.join(lab.dir, "haproxy.cfg")
    lab.haproxy_cfg = cfg_path
    orig = lab._start_haproxy

    def start_haproxy(extra=()):
        render_azure_into(lab, cfg, cfg_path)
        return orig(extra)
    lab._start_haproxy = start_haproxy
    try:
        lab.start()
        paths = Paths(cfg["deployment"], cfg["embeddings_deployment"],
                      cfg["api_version"])
        events = [(t_trip, "trip backend %s 5s" % first,
                   lambda rel: lab.agent_cmd("trip backend %s 5s" % first))]
        rep = run(args, "azure", lab, regions, plan, paths, schedule, phases,
                  incidents, duration, events)
    finally:
        lab.stop()
    return rep


def render_azure_into(lab, cfg, cfg_path):
    path, _ = render_azure(cfg, lab.dir, lab.fe_port,
                           lab.env["AOAI_AGENT_ADDR"], lab.clients_map)
    assert path == cfg_path
    # leaked_secrets() looks for these too
    lab.api_keys.update({r["name"]: r["api_key"] for r in cfg["regions"]})


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=float,
                    default=float(os.environ.get("LAB_DURATION") or 60),
                    help="workload seconds (mock mode; default 60)")
    ap.add_argument("--threads", type=int,
                    default=int(os.environ.get("LAB_THREADS") or 24))
    ap.add_argument("--out", default=os.environ.get("LAB_OUT")
                    or os.path.join(ROOT, "build", "lab"))
    ap.add_argument("--azure-config",
                    default=os.environ.get("AZURE_CONFIG") or None,
                    help="KEY=VALUE file of real regions (real Azure mode)")
    ap.add_argument("--render-only", metavar="DIR",
                    help="with --azure-config: write the rendered "
                    "configurations to DIR and check them; no traffic")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", action="store_true",
                    help="keep the lab's temporary folder")
    args = ap.parse_args()
    args.out = os.path.abspath(args.out)
    if args.duration < 10 or args.duration > 600:
        ap.error("--duration: 10..600 seconds")
    if not 1 <= args.threads <= 256:
        ap.error("--threads: 1..256")
    for b in (labenv.AGENT_BIN, labenv.MOCK_BIN):
        if not os.access(b, os.X_OK):
            print("lab: %s missing: run `make` and `make build/mock-aoai` "
                  "(or `make run`)" % b, file=sys.stderr)
            return 2
    if args.azure_config or args.render_only:
        try:
            cfg = azure.load_config(args.azure_config)
        except (azure.ConfigError, OSError) as exc:
            print("lab: Azure configuration: %s" % exc, file=sys.stderr)
            return 2
        if args.render_only:
            return render_only(args, cfg)
        rep = azure_mode(args, cfg)
    else:
        rep = mock_mode(args)
    print_report(rep)
    return 0 if rep["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
