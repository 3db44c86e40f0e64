#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The shipped Grafana dashboard and Prometheus rules (docs/monitoring/)
against a real Prometheus scraping the lab.

1. The dashboard JSON is valid and importable in structure: a Prometheus
   data-source variable, every panel and target on it, unique ids, grid
   positions, no hard-coded data source.
2. `promtool check rules` and `promtool test rules` (the unit tests in
   docs/monitoring/aoai-spoa.rules.test.yml).
3. The lab (three mock regions, agent, HAProxy with its own exporter) under
   load through incidents -- eastus throttling, swedencentral failing,
   every region throttling (pool exhausted), the agent stopped (HAProxy
   routes alone) -- scraped every second by Prometheus (its data in a temp
   folder) evaluating the shipped rules. Then: every dashboard expression
   parses and returns data over the run; every rule is healthy; every
   metric a rule reads exists; the pool-exhausted and fail-open alerts went
   pending or firing. Prometheus and the lab are stopped at the end.
   With MONITORING_SVG=FILE, the panels' queries are drawn into FILE
   (tests/lab/dashsvg.py) for readers without Grafana.
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import time

from harness import Tap
import labenv

sys.path.insert(0, os.path.join(labenv.ROOT, "tests", "lab"))
import dashsvg  # noqa: E402
import monitor  # noqa: E402

BIG = {"rpm": 1000000, "tpm": 1000000000}


def check_dashboard(t):
    try:
        with open(monitor.DASHBOARD) as f:
            dash = json.load(f)
    except (OSError, ValueError) as exc:
        t.ok(False, "dashboard: valid JSON", str(exc))
        return None
    t.ok(True, "dashboard: valid JSON")
    t.ok(isinstance(dash.get("title"), str) and dash.get("uid") and
         isinstance(dash.get("schemaVersion"), int) and
         isinstance(dash.get("panels"), list) and dash["panels"],
         "dashboard: title, uid, schemaVersion, panels",
         {k: dash.get(k) for k in ("title", "uid", "schemaVersion")})
    tvars = {v.get("name"): v for v in dash.get("templating", {}).get(
        "list", [])}
    ds = tvars.get("datasource", {})
    t.ok(ds.get("type") == "datasource" and ds.get("query") == "prometheus",
         "dashboard: a Prometheus data-source variable ($datasource)", ds)
    panels = []

    def walk(ps):
        for p in ps:
            panels.append(p)
            walk(p.get("panels", []))
    walk(dash["panels"])
    ids = [p.get("id") for p in panels]
    t.ok(len(ids) == len(set(ids)) and all(isinstance(i, int) for i in ids),
         "dashboard: unique integer panel ids", ids)
    bad = [p.get("title") for p in panels if not (
        isinstance(p.get("gridPos"), dict) and
        all(isinstance(p["gridPos"].get(k), int) for k in "xywh") and
        p["gridPos"]["x"] + p["gridPos"]["w"] <= 24)]
    t.ok(not bad, "dashboard: every panel has a grid position within 24 "
         "columns", bad)
    want_ds = {"type": "prometheus", "uid": "${datasource}"}
    bad = [p.get("title") for p in panels if p.get("type") != "row" and (
        p.get("datasource") != want_ds or not p.get("targets") or any(
            tg.get("datasource") != want_ds or not tg.get("expr")
            or not tg.get("refId") for tg in p["targets"]))]
    t.ok(not bad, "dashboard: every panel and target uses $datasource and "
         "has an expression", bad)
    used = set(re.findall(r"\$(\w+)", json.dumps(dash)))
    known = set(tvars) | {"__rate_interval"}
    t.ok(used <= known, "dashboard: every $variable is defined",
         sorted(used - known))
    return dash


def promtool(t):
    for argv, name in (
            ([monitor.PROMTOOL_BIN, "check", "rules", monitor.RULES],
             "promtool check rules"),
            ([monitor.PROMTOOL_BIN, "test", "rules", monitor.RULES_TEST],
             "promtool test rules (docs/monitoring/aoai-spoa.rules.test."
             "yml)")):
        try:
            p = subprocess.run(argv, cwd=monitor.MONITORING_DIR,
                               stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=120)
            out, rc = p.stdout.decode("utf-8", "replace"), p.returncode
        except OSError as exc:
            out, rc = str(exc), "not run"
        t.ok(rc == 0 and "SUCCESS" in out, name, out[-1500:])


def drive(lab, prom, t):
    """The incidents, under steady load; returns (t_start, t_end)."""
    t0 = time.time()
    with labenv.Load(lab, threads=4, pause=0.02) as load:
        time.sleep(4)
        lab.region("eastus").set(throttle_all=1, retry_after=2,
                                 retry_after_ms=2000)
        time.sleep(3)
        lab.region("eastus").set(reset=1, **BIG)
        lab.region("swedencentral").set(fail_status=500, fail_rate=100)
        time.sleep(3)
        lab.region("swedencentral").set(reset=1, **BIG)
        for r in labenv.REGIONS:
            lab.region(r).set(throttle_all=1, retry_after=1,
                              retry_after_ms=1000)
        time.sleep(2)
        for r in labenv.REGIONS:
            lab.region(r).set(reset=1, **BIG)
        time.sleep(2)
        lab.stop_agent()
        time.sleep(4)
        lab.start_agent()
        time.sleep(4)
    t.ok(len(load.results) > 100, "load: requests sent through the run",
         len(load.results))
    time.sleep(3)  # the last scrapes and evaluations
    return t0, time.time()


def series_of(r):
    return r.get("data", {}).get("result", []) if r.get(
        "status") == "success" else []


def check_live(t, dash):
    with tempfile.TemporaryDirectory(prefix="aoai-monitoring-") as tmp:
        exporter = labenv.free_port()
        cfg = monitor.haproxy_cfg_with_exporter(tmp, exporter)
        with labenv.Lab(quotas={r: BIG for r in labenv.REGIONS},
                        haproxy_cfg=cfg) as lab:
            prom = monitor.Prometheus(
                tmp, {monitor.AGENT_JOB: "127.0.0.1:%d" % lab.metrics_port,
                      monitor.HAPROXY_JOB: "127.0.0.1:%d" % exporter},
                rules=[monitor.RULES])
            try:
                prom.start()
            except (monitor.PrometheusError, OSError) as exc:
                t.ok(False, "prometheus starts", str(exc))
                return
            try:
                t.ok(labenv.wait_until(
                    lambda: prom.scraped(monitor.AGENT_JOB) and
                    prom.scraped(monitor.HAPROXY_JOB), 15, 0.2),
                    "prometheus scrapes the agent and HAProxy's exporter",
                    prom.log_tail())
                start, end = drive(lab, prom, t)
                evaluate(t, prom, dash, start, end)
            finally:
                rc = prom.stop()
            t.eq(rc, 0, "prometheus stops on SIGTERM (exit 0)")
        t.ok(prom.proc.poll() is not None and lab.haproxy.poll() is not None
             and all(lab.region(r).proc.poll() is not None
                     for r in labenv.REGIONS),
             "nothing left running (prometheus, HAProxy, mocks)")


def evaluate(t, prom, dash, start, end):
    empty, failed = [], []
    exprs = monitor.dashboard_exprs(dash) if dash else []
    legends = {}
    for p in (dash or {}).get("panels", []):
        for tg in p.get("targets", []):
            legends[(p.get("title"), tg.get("refId"))] = tg.get(
                "legendFormat", "")
    drawn = {}
    for title, ref, expr in exprs:
        r = prom.query_range(monitor.substitute(expr), start, end)
        drawn.setdefault(title, []).extend(dashsvg.series_points(
            series_of(r), legends.get((title, ref), "")))
        if r.get("status") != "success":
            failed.append("%s/%s: %s" % (title, ref, r.get("error")))
        elif not series_of(r):
            empty.append("%s/%s" % (title, ref))
        else:
            # what the panel would show, for a reader without Grafana
            ss = series_of(r)
            peak = max(float(v[1]) for x in ss for v in x["values"]
                       if v[1] not in ("NaN", "+Inf", "-Inf")) \
                if any(v[1] not in ("NaN", "+Inf", "-Inf")
                       for x in ss for v in x["values"]) else float("nan")
            print("# panel %s/%s: %d series, peak %.4g" % (
                title, ref, len(ss), peak))
    t.ok(exprs and not failed, "dashboard: all %d expressions parse "
         "(Prometheus query_range)" % len(exprs), failed)
    t.ok(exprs and not empty, "dashboard: every expression returns data "
         "over the lab run", empty)
    if os.environ.get("MONITORING_SVG"):
        dashsvg.render(os.environ["MONITORING_SVG"], "aoai-spoa dashboard "
                       "queries over a lab run (Prometheus data)",
                       list(drawn.items()), start, end)
        print("# dashboard queries drawn: %s" % os.environ["MONITORING_SVG"])
    var_metrics = []
    for v in (dash or {}).get("templating", {}).get("list", []):
        q = v.get("query")
        q = q.get("query", "") if isinstance(q, dict) else q or ""
        m = re.match(r"label_values\((\w+)", q)
        if m:
            var_metrics.append(m.group(1))
    missing = [m for m in var_metrics
               if not series_of(prom.query_range(m, start, end))]
    t.ok(var_metrics and not missing, "dashboard: the metrics its "
         "variables list values from exist (%s)" % ", ".join(var_metrics),
         missing)
    groups = prom.rule_groups()
    rules = [r for g in groups for r in g.get("rules", [])]
    t.eq(len(rules), 11, "rules: Prometheus loaded the 11 rules")
    bad = [(r.get("name"), r.get("health"), r.get("lastError"))
           for r in rules if r.get("health") != "ok"]
    t.ok(rules and not bad, "rules: every rule evaluated without error",
         bad)
    missing = []
    for r in rules:
        for name in sorted(set(re.findall(
                r"\b(aoai_spoa_\w+|haproxy_\w+|up)\b(?=\{|\[|\s|\))",
                r["query"]))):
            # the lab has no keyless region: tests/e2e/test_auth_agent.py
            # checks the agent exports every auth_ metric the rules read
            if name.startswith("aoai_spoa_auth_"):
                continue
            if not series_of(prom.query_range(name, start, end)):
                missing.append("%s: %s" % (r["name"], name))
    t.ok(rules and not missing, "rules: every metric a rule reads was "
         "scraped in the lab", missing)
    for rec in ("aoai:failopen_requests:rate5m",
                "aoai:haproxy_requests:rate5m"):
        r = prom.query_range(rec, start, end)
        t.ok(series_of(r), "rules: recording rule %s has data" % rec)
    fo = prom.query_range("max_over_time(aoai:failopen_requests:rate5m"
                          "[1m])", start, end)
    peak = max([float(v[1]) for s in series_of(fo) for v in s["values"]]
               or [0.0])
    t.ok(peak > 0, "fail-open: requests HAProxy routed while the agent was "
         "stopped show up", "peak %.2f req/s" % peak)
    print("# fail-open peak (aoai:failopen_requests:rate5m, max over 1m): "
          "%.2f req/s" % peak)
    seen = {}
    alerts = prom.query_range('ALERTS{alertstate=~"pending|firing"}', start,
                              end)
    for s in series_of(alerts):
        seen.setdefault(s["metric"]["alertname"], set()).add(
            s["metric"]["alertstate"])
    t.ok("firing" in seen.get("AoaiSpoaPoolExhausted", ()),
         "alert AoaiSpoaPoolExhausted fired while every region throttled",
         seen)
    t.ok(seen.get("AoaiSpoaFailOpen"), "alert AoaiSpoaFailOpen pending or "
         "firing after the agent stopped", seen)
    t.ok(seen.get("AoaiSpoaDown"), "alert AoaiSpoaDown pending while the "
         "agent was stopped", seen)
    t.ok("AoaiSpoaCircuitOpen" not in seen, "alert AoaiSpoaCircuitOpen "
         "silent: no circuit stayed open 10 minutes", seen)


def main():
    t = Tap()
    for b in (monitor.PROMETHEUS_BIN, monitor.PROMTOOL_BIN):
        if not os.access(b, os.X_OK):
            t.ok(False, "%s installed" % b, "run `make deps` (Debian "
                 "package prometheus)")
            t.done()
    dash = check_dashboard(t)
    promtool(t)
    check_live(t, dash)
    t.done()


if __name__ == "__main__":
    main()
