#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
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

This file holds the command line and the run; the pieces it drives are
scenario.py, workload.py, observe.py, analyse.py, report.py and svg.py
(tests/lab/README.md, "The code"). `make lab` (labctl.py) keeps the same
topology up instead.
"""
import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))
sys.path.insert(0, HERE)

import labenv  # noqa: E402
import analyse  # noqa: E402
import azure  # noqa: E402
import observe  # noqa: E402
import report  # noqa: E402
import scenario  # noqa: E402
import svg  # noqa: E402
import workload  # noqa: E402

ROOT = labenv.ROOT

# ---- the run ---------------------------------------------------------------

def run(args, lab, data, paths, schedule, events):
    """Drives <schedule> (and the timed <events>) through the started lab
    for the run <data> describes (an analyse.RunData with its mode,
    regions, plan, quotas, threads, phases, incidents and duration set),
    fills in what it observed, stops the lab's processes, then analyses
    and renders."""
    out = args.out
    mode, regions = data.mode, data.regions
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
    sampler = workload.Sampler(lab, regions, mode == "mock")
    sampler.start(t0)
    progress = report.Progress(sys.stdout, data.duration, regions, sampler)
    wl = workload.Workload(lab, paths, schedule, args.threads, events,
                           progress=progress)
    results = wl.run(t0)
    progress.done(results)
    data.results, data.events = results, wl.event_log
    data.workload_s = round(time.monotonic() - t0, 2)
    # the counters of the workload itself (before any settle request)
    time.sleep(0.2)  # the last access log lines
    data.final = sampler.snapshot()
    data.haproxy = observe.haproxy_servers(lab, regions)
    data.access = observe.access_summary(lab)
    data.mock_stats = {r: lab.region(r).stats() for r in regions} \
        if mode == "mock" else {}
    data.settle_s, data.settle_n = workload.settle(lab, paths, regions)
    sampler.stop()
    data.samples = sampler.samples
    # breaker counters and transitions: including the settle's probes
    data.backends = {b["name"]: b for b in observe.agent_backends(lab)}
    data.transitions = observe.transitions(lab, wall0)
    data.leaked = lab.leaked_secrets()
    logs_dir = os.path.join(out, "logs")
    shutil.rmtree(logs_dir, ignore_errors=True)
    if not data.leaked:
        os.makedirs(logs_dir)
        for fn in os.listdir(lab.dir):
            if fn.endswith(".log"):
                shutil.copy(os.path.join(lab.dir, fn), logs_dir)
    # -- stop everything, then analyse --
    lab.stop_processes()
    data.procs = {"haproxy": lab.haproxy.returncode,
                  "aoai-spoa": lab.agent.returncode if lab.agent else None}
    for r in regions if mode == "mock" else ():
        data.procs["mock " + r] = lab.region(r).proc.returncode
    return write_outputs(args, data)


def write_outputs(args, data):
    """The analysis of <data>, written as report.json and traffic.svg."""
    chart = os.path.join(args.out, "traffic.svg")
    rep_path = os.path.join(args.out, "report.json")
    rep = analyse.analyse(data, scenario.MIX, {
        "chart": show_path(chart), "report": show_path(rep_path),
        "logs": show_path(os.path.join(args.out, "logs"))})
    title = ("aoai-spoa lab: requests per second by region (%s)" % (
        "mock regions" if data.mode == "mock" else "real Azure OpenAI"))
    svg.render(chart, title, data.samples, data.regions,
               max(data.duration, data.workload_s + data.settle_s),
               data.transitions, data.phases, data.incidents)
    with open(rep_path, "w") as f:
        json.dump(rep, f, indent=1)
    return rep


def show_path(p):
    rel = os.path.relpath(p, ROOT)
    return p if rel.startswith("..") else rel


# ---- modes ---------------------------------------------------------------------

def mock_mode(args):
    duration = args.duration
    phases, incidents = scenario.scenario(duration)
    schedule = scenario.arrivals(phases, args.seed)
    regions = list(labenv.REGIONS)
    print("aoai-spoa lab: HAProxy %s + aoai-spoa + 3 mock regions on "
          "127.0.0.1, %.0f s workload, %d client threads" % (
              haproxy_version(), duration, args.threads))
    for r in regions:
        q = scenario.QUOTAS[r]
        p = scenario.PLAN[r]
        print("  %-14s priority %d weight %d  %-15s quota %d requests / %d s,"
              " latency %d ms" % (r, p["priority"], p["weight"],
                                  p["role"], q["rpm"],
                                  q["window_ms"] // 1000, q["latency_ms"]))
    sys.stdout.flush()
    with labenv.Lab(quotas=scenario.QUOTAS, keep=args.keep) as lab:
        paths = workload.Paths(labenv.DEPLOYMENT, "text-embedding-3-small",
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
        data = analyse.RunData(
            mode="mock", regions=regions, plan=scenario.PLAN,
            quotas={r: scenario.QUOTAS[r] for r in regions
                    if r in scenario.QUOTAS},
            threads=args.threads, phases=phases, incidents=incidents,
            duration=duration)
        rep = run(args, lab, data, paths, schedule, events)
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
        b.get("state") == "closed" for b in observe.agent_backends(lab)),
        8.0, 0.1)
    def trips():
        return sum(b.get("counters", {}).get("trips", 0)
                   for b in observe.agent_backends(lab)
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
        paths = workload.Paths(cfg["deployment"], cfg["embeddings_deployment"],
                      cfg["api_version"])
        events = [(t_trip, "trip backend %s 5s" % first,
                   lambda rel: lab.agent_cmd("trip backend %s 5s" % first))]
        data = analyse.RunData(
            mode="azure", regions=regions, plan=plan, threads=args.threads,
            phases=phases, incidents=incidents, duration=duration)
        rep = run(args, lab, data, paths, schedule, events)
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
    report.print_report(rep, sys.stdout)
    return 0 if rep["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
