#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""`make run` (tests/lab/lab.py), shortened, and its real-Azure rendering.

A. The lab with a 20 s workload (LAB_DURATION) into a temporary folder:
   exit 0 (every check of its analysis passed), report.json complete and
   sane (every region listed, shares add up to 100 %, zero client-visible
   429s and errors, breaker trips and recoveries, HAProxy retries), the SVG
   chart parses as XML, logs copied, every process stopped.
B. Real Azure mode, rendering only (there is no network here): the
   production haproxy.cfg rendered for an example azure.env passes
   `haproxy -c`, the agent YAML passes `aoai-spoa -c`, the keys are only in
   the 0600 keys map, bad configurations are refused with the variable's
   name.
"""
import json
import os
import re
import stat
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

from harness import Tap
import labenv

ROOT = labenv.ROOT
LAB = os.path.join(ROOT, "tests", "lab", "lab.py")
EXAMPLE = os.path.join(ROOT, "tests", "lab", "azure.env.example")
REGIONS = list(labenv.REGIONS)
DURATION = 20


def run_lab(argv, env_extra=None, timeout=180):
    env = dict(os.environ)
    env.update(env_extra or {})
    p = subprocess.run([sys.executable, LAB] + argv, cwd=ROOT, env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       stdin=subprocess.DEVNULL, timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace")


def test_lab(t, tmp):
    out_dir = os.path.join(tmp, "lab")
    rc, out = run_lab(["--out", out_dir],
                      {"LAB_DURATION": str(DURATION)})
    for line in out.splitlines():
        print("#   lab: " + line)
    t.eq(rc, 0, "lab: exit 0 (every check of its analysis passed)")
    t.ok("== Analyze Load Balancing Results ==" in out and
         "RESULT: PASS" in out, "lab: prints the analysis and RESULT: PASS")
    path = os.path.join(out_dir, "report.json")
    try:
        with open(path) as f:
            rep = json.load(f)
    except (OSError, ValueError) as exc:
        t.ok(False, "lab: report.json written and valid JSON", exc)
        return
    t.ok(True, "lab: report.json written and valid JSON")
    for k in ("mode", "duration_s", "workload", "incidents", "regions",
              "client", "haproxy", "breaker_transitions", "checks", "ok",
              "chart", "samples", "processes_exit"):
        if k not in rep:
            t.ok(False, "lab: report has every section", "missing %s" % k)
            break
    else:
        t.ok(True, "lab: report has every section")
    t.eq(rep.get("mode"), "mock", "lab: mock mode")
    names = [r.get("name") for r in rep.get("regions", [])]
    t.eq(sorted(names), sorted(REGIONS), "lab: every region listed")
    shares = [r.get("share_pct", 0) for r in rep.get("regions", [])]
    t.ok(abs(sum(shares) - 100.0) <= 0.3, "lab: shares add up to 100 %",
         shares)
    t.ok(all(r.get("served", 0) > 0 for r in rep.get("regions", [])),
         "lab: every region served requests (priority-2 spillover too)",
         {r["name"]: r.get("served") for r in rep.get("regions", [])})
    c = rep.get("client", {})
    t.ok(c.get("requests", 0) >= 10 * DURATION,
         "lab: a real workload (>= 10 rps on average)", c.get("requests"))
    t.eq(c.get("429"), 0, "lab: zero client-visible 429")
    t.eq(c.get("errors"), 0, "lab: zero client-visible errors")
    served = sum(r.get("served", 0) for r in rep.get("regions", []))
    t.eq(served, c.get("ok"), "lab: regions' 2xx = clients' 2xx")
    by_kind = c.get("by_kind", {})
    t.ok(all(by_kind.get(k, {}).get("requests", 0) > 0
             for k in ("chat", "stream", "embeddings")),
         "lab: chat, streamed chat and embeddings in the mix", by_kind)
    lat = c.get("latency_ms", {})
    t.ok(isinstance(lat.get("p50"), (int, float)) and isinstance(
        lat.get("p99"), (int, float)) and 0 < lat["p50"] <= lat["p99"],
        "lab: latency p50 <= p99 reported", lat)
    east = next((r for r in rep.get("regions", [])
                 if r["name"] == "eastus"), {})
    t.ok(east.get("region_view", {}).get("429", 0) > 0,
         "lab: the peak throttled eastus (region view 429 > 0)")
    hb = rep.get("haproxy", {}).get("backend", {})
    t.ok(hb.get("retries", 0) > 0 and rep["haproxy"]["access_log"].get(
        "requests_retried", 0) > 0,
        "lab: HAProxy retried on another region (show stat + access log)",
        hb)
    trips = {r["name"]: r["breaker"]["trips"] for r in rep.get("regions", [])}
    recov = {r["name"]: r["breaker"]["recoveries"]
             for r in rep.get("regions", [])}
    t.ok(trips.get("eastus", 0) >= 1 and trips.get("swedencentral", 0) >= 1,
         "lab: both incidents tripped a breaker", trips)
    t.ok(any(tr["to"] == "open" for tr in rep.get("breaker_transitions", []))
         and all(recov.get(r, 0) >= 1 for r in ("eastus", "swedencentral")),
         "lab: trips and recoveries in the agent's transitions", recov)
    failed = [ch for ch in rep.get("checks", []) if not ch.get("ok")]
    t.ok(rep.get("ok") is True and not failed, "lab: every check ok",
         failed)
    svg = os.path.join(out_dir, "traffic.svg")
    try:
        root = ET.parse(svg).getroot()
        t.ok(root.tag.endswith("svg") and len(list(root.iter())) > 20,
             "lab: traffic.svg parses as XML (an svg with content)")
    except (OSError, ET.ParseError) as exc:
        t.ok(False, "lab: traffic.svg parses as XML", exc)
    # regions whose breaker tripped (both incidents normally; whether they
    # did is checked above, not again here)
    tripped = [r["name"] for r in rep.get("regions", [])
               if r.get("breaker", {}).get("trips", 0) >= 1]
    check_svg_labels(t, svg, tripped)
    check_words(t, out, rep, tripped)
    t.ok(os.path.isfile(os.path.join(out_dir, "logs", "agent.log"))
         and os.path.isfile(os.path.join(out_dir, "logs", "haproxy.log")),
         "lab: logs copied next to the report")
    t.eq(rep.get("leaked_secrets"), 0, "lab: no key in any log")
    ex = rep.get("processes_exit", {})
    t.ok(ex and all(v == 0 for k, v in ex.items() if k != "haproxy")
         and ex.get("haproxy") in (0, -15),
         "lab: every process stopped (none needed SIGKILL)", ex)


def check_svg_labels(t, path, tripped):
    """Text labels of one line (same y) must not overlap, with the chart's
    own width estimate (svg.CHAR_W); trip and recovery labels name their
    region."""
    sys.path.insert(0, os.path.join(ROOT, "tests", "lab"))
    import svg as lab_svg
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return
    ns = "{http://www.w3.org/2000/svg}"
    by_y = {}
    texts = []
    for el in root.iter(ns + "text"):
        if el.get("transform"):
            continue
        text = "".join(el.itertext())
        texts.append(text)
        w = len(text) * lab_svg.CHAR_W
        x = float(el.get("x"))
        anchor = el.get("text-anchor", "start")
        x0 = x - w / 2 if anchor == "middle" else x - w if anchor == "end" \
            else x
        by_y.setdefault(el.get("y"), []).append((x0, x0 + w, text))
    overlaps = []
    for y, spans in by_y.items():
        spans.sort()
        for (a0, a1, ta), (b0, b1, tb) in zip(spans, spans[1:]):
            if b0 < a1:
                overlaps.append("%r / %r at y=%s" % (ta, tb, y))
    t.ok(not overlaps, "lab: chart labels do not overlap", overlaps[:5])
    t.ok(tripped and all(any(x == "%s trip" % r for x in texts) and
                         any(x == "%s recovered" % r for x in texts)
                         for r in tripped),
         "lab: chart's trip and recovery labels name their region",
         [x for x in texts if "trip" in x or "recovered" in x])


def check_words(t, out, rep, tripped):
    """Progress while the workload runs; fallback routings counted next to
    the agent's decisions; breaker recoveries apart from cooldown ends; a
    normal stop reads as one."""
    prog = [l for l in out.splitlines() if re.match(
        r"^  \[\s*\d+/\d+ s\]\s+\d+ requests, \d+ errors; last \d+ s "
        r"served by: ", l)]
    t.ok(len(prog) >= 2, "lab: progress lines while the workload runs "
         "(elapsed, requests, shares)", prog)
    acc = rep.get("haproxy", {}).get("access_log", {})
    alone = acc.get("haproxy_alone", {})
    routed = [r.get("routing", {}) for r in rep.get("regions", [])]
    t.ok(isinstance(alone.get("total"), int) and
         sum(r.get("by_agent", 0) + r.get("by_haproxy_alone", 0)
             for r in routed) == sum(
             acc.get("decisions_by_reason", {}).values()) + alone["total"]
         and "- " not in acc.get("decisions_by_reason", {}),
         "lab: routings by the agent and by HAProxy alone (fail-open) "
         "counted apart, per region", (acc, routed))
    t.ok(re.search(r"^routing decisions \(access log\): by the agent \d+ "
                   r".*; by HAProxy alone \d+", out, re.M),
         "lab: report prints decisions by the agent next to HAProxy's own")
    br = {r["name"]: r["breaker"] for r in rep.get("regions", [])}
    t.ok(tripped and all(br[r].get("breaker_recoveries", 0) >= 1
                         for r in tripped) and
         all(b.get("breaker_recoveries", 0) + b.get("cooldown_ends", 0)
             <= b.get("recoveries", 0) for b in br.values()),
         "lab: breaker recoveries and ends of cooldowns counted apart", br)
    stop = [l for l in out.splitlines() if l.startswith("stopped:")]
    t.ok(len(stop) == 1 and "exit" not in stop[0] and "NOT" not in stop[0],
         "lab: a normal stop reads as one (no exit codes)", stop)
    t.ok(tripped and all(
        re.search(r"^\s+\d+\.\d s  %s tripped " % r, out, re.M) and
        re.search(r"^\s+\d+\.\d s  %s recovered " % r, out, re.M)
        for r in tripped), "lab: trip and recovery lines name their region",
        tripped)


def test_render(t, tmp):
    d = os.path.join(tmp, "render")
    keys = {"AOAI_EASTUS_API_KEY": "CANARY-AZ-east-0123456789abcdef",
            "AOAI_SWEDENCENTRAL_API_KEY": "CANARY-AZ-swe-0123456789abcdef",
            "AOAI_WESTUS_PAYG_API_KEY": "CANARY-AZ-payg-0123456789abcdef"}
    rc, out = run_lab(["--azure-config", EXAMPLE, "--render-only", d],
                      keys, 60)
    for line in out.splitlines():
        print("#   render: " + line)
    t.eq(rc, 0, "azure render: exit 0")
    # lab.py prints each check's exit status ("haproxy -c" is silent on
    # a valid file since 2.9)
    t.ok(re.search(r"haproxy\S* -c -f \S+ -> exit 0$", out, re.M),
         "azure render: haproxy -c accepts the rendered production config",
         out[-800:])
    t.ok("configuration OK" in out,
         "azure render: aoai-spoa -c accepts the rendered agent YAML")
    try:
        with open(os.path.join(d, "haproxy.cfg")) as f:
            cfg = f.read()
    except OSError as exc:
        t.ok(False, "azure render: haproxy.cfg written", exc)
        return
    live = "\n".join(l for l in cfg.splitlines()
                     if not l.lstrip().startswith("#"))
    for host, name in (("contoso-eastus.openai.azure.com", "eastus"),
                       ("contoso-swedencentral.openai.azure.com",
                        "swedencentral"),
                       ("contoso-westus.openai.azure.com", "westus-payg")):
        t.ok(re.search(r"server %s %s:443 sni str\(%s\) check-sni %s"
                       % (re.escape(name), re.escape(host), re.escape(host),
                          re.escape(host)), live) is not None
             and "set-header Host %s" % host in live,
             "azure render: %s -> %s (Host, address, SNI, TLS defaults)"
             % (name, host))
    t.ok("ssl verify required" in live,
         "azure render: upstream TLS verification kept from production")
    t.ok(re.search(r"replace-path \^/openai/deployments/gpt-4o/\(\.\*\)\$ "
                   r"/openai/deployments/gpt-4o-payg/", live) is not None,
         "azure render: westus-payg deployment rename")
    t.ok(re.search(r"server westus-payg \S+ weight 1 backup ",
                   live) is not None and re.search(
        r"server eastus \S+ weight 2 track", live) is not None,
        "azure render: weights and backup (priority 2) in backend aoai")
    t.ok(re.search(r"bind 127\.0\.0\.1:\d+\n", live) is not None and
         "/etc/haproxy" not in live and "chroot" not in live,
         "azure render: loopback client bind, files in the run folder")
    t.ok(not any(k in cfg for k in keys.values()),
         "azure render: no api key in haproxy.cfg")
    kmap = os.path.join(d, "azure-keys.map")
    try:
        mode = stat.S_IMODE(os.stat(kmap).st_mode)
        with open(kmap) as f:
            ktext = f.read()
        t.ok(mode == 0o600 and all(k in ktext for k in keys.values()),
             "azure render: keys only in the 0600 keys map", oct(mode))
    except OSError as exc:
        t.ok(False, "azure render: keys map written", exc)
    # refused configurations name the variable
    bad = os.path.join(tmp, "bad.env")
    with open(bad, "w") as f:
        f.write("AOAI_REGIONS=eastus\n"
                "AOAI_EASTUS_ENDPOINT=http://insecure.example\n")
    rc, out = run_lab(["--azure-config", bad, "--render-only",
                       os.path.join(tmp, "bad")],
                      {"AOAI_EASTUS_API_KEY": ""}, 30)
    t.ok(rc == 2 and "AOAI_EASTUS_ENDPOINT" in out
         and "AOAI_EASTUS_API_KEY" in out,
         "azure render: bad config refused (exit 2), naming the variables",
         "rc %s: %s" % (rc, out.strip()[-300:]))


def main():
    t = Tap()
    with tempfile.TemporaryDirectory(prefix="aoai-labtest-") as tmp:
        test_render(t, tmp)
        test_lab(t, tmp)
    t.done()


if __name__ == "__main__":
    main()
