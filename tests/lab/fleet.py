#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The fleet lab (make run FLEET=3, or make lab-fleet): three HAProxy +
agent nodes in front of the same three mock regions, once with throttles
shared through HAProxy peers and once without, in the same run.

Each run: clients send chat requests through every node at once, with
random (exponential) gaps between requests, at about 2, 20 and 200
requests a second per node, and then unpaced (3 clients per node, as
fast as the machine lets them: the single node then runs faster than
each fleet node, whose six processes share the cores); after WARM
seconds eastus starts answering every request with 429 and Retry-After
20 s. Printed per node and for the fleet: the 429s each region answered
it (the agent's throttle counters), the client-visible errors, and how
long the node kept sending to eastus after the first 429 anywhere (the
last time its agent's eastus decisions or results moved, sampled every
SAMPLE seconds on the control sockets; the resolution is that
sampling's, one round over the three nodes).

The floor: the lab's HAProxy stamps every decided request with the time
of the decision (x-lab-decided-us) and the mock counts the 429s of
requests decided before eastus's first 429 left it. No node could have
known of the throttle when those were decided, so no design that learns
a throttle from a 429, shared however fast, can receive fewer.

    python3 tests/lab/fleet.py [--nodes 3] [--seconds 8] [--poll 250ms]
                               [--poll-only] [--rate unpaced ...]
                               [--repeat N] [--latency MS]

Sharing renders each node's aoai-spoe.conf from its YAML (fleet.peers):
aoai-route carries the other nodes' deadlines, read from the table by
HAProxy on every request; each node's own deadlines are written to the
table by its HAProxy with the 429's response, from the agent's
aoai-result answer (the lab's region shims have the rules).

Two baselines are measured in the same run, each a single node on its
own: at the same per-node rate, and carrying the fleet's whole traffic
(3x the clients, so 3x the rate: what one node in front of the same
clients would see, the fair "a single node's" figure for the requests in
flight when the 429 comes). --poll-only adds a third run per rate with the
shipped aoai-spoe.conf, where the agents learn only from their reads of
the table, for comparison.

--rate runs only the named rates (2, 20, unpaced; repeatable); --repeat
runs each rate N times and ends with each configuration's totals over
the repeats (the counts are small: one run says little).

--latency puts every region MS milliseconds away (the mock answers that
late): a 429 then reaches the nodes one round trip after the throttle
began, and every request decided meanwhile is in the floor.

--poll sets the agents' fleet.poll_interval (the propagation delay is
about half of it on average, plus a few ms); the CPU seconds the agents
and HAProxy spent during each run are printed, to weigh a shorter one.
"""
import argparse
import json
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import fleetenv  # noqa: E402
import labenv  # noqa: E402

WARM = 2.0    # seconds of traffic before the throttle
SAMPLE = 0.02  # seconds between control-socket samples
RA = 20        # Retry-After of the throttle, seconds
BIG = {"rpm": 1000000, "tpm": 1000000000}


def counters(node):
    """{backend: (decisions, throttles, results)} of one agent."""
    out = {}
    for b in json.loads(node.agent_cmd("show backends json"))["backends"]:
        c = b.get("counters", b)
        res = sum(c.get(k, 0) for k in ("results_2xx", "results_3xx",
                                         "results_4xx", "throttles",
                                         "results_5xx", "results_none"))
        out[b["name"]] = (c.get("decisions", 0), c.get("throttles", 0), res)
    return out


def cpu_s(pid):
    """User + system CPU seconds of process <pid> so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(n, share, seconds, threads, pause, poll, fast=True, latency=0):
    opts = dict(BIG, latency_ms=latency) if latency else BIG
    with fleetenv.Fleet(n, share=share, poll=poll, fast=fast,
                        quotas={r: opts for r in labenv.REGIONS}) as fl:
        for nd in fl.nodes:
            nd.run_load(6, threads=2)
        base = [counters(nd) for nd in fl.nodes]
        cpu0 = sum(cpu_s(nd.agent.pid) + cpu_s(nd.haproxy.pid)
                   for nd in fl.nodes)
        def paced(client, i):
            if pause:
                time.sleep(random.expovariate(1.0 / pause))
            return client.chat("x")
        loads = [labenv.Load(nd, threads=threads, fn=paced).start()
                 for nd in fl.nodes]
        samples = []  # (time, node, counters)
        stop = threading.Event()

        def sampler():
            while not stop.is_set():
                for i, nd in enumerate(fl.nodes):
                    samples.append((time.monotonic(), i, counters(nd)))
                time.sleep(SAMPLE)
        th = threading.Thread(target=sampler, daemon=True)
        th.start()
        time.sleep(WARM)
        fl.regions["eastus"].set(throttle_all=1, retry_after=RA,
                                 retry_after_ms=RA * 1000)
        time.sleep(max(0.0, seconds - WARM))
        results = [ld.stop() for ld in loads]
        cpu = sum(cpu_s(nd.agent.pid) + cpu_s(nd.haproxy.pid)
                  for nd in fl.nodes) - cpu0
        stop.set()
        th.join()
        fl.regions["eastus"].set(throttle_all=0)
        end = [counters(nd) for nd in fl.nodes]
        mock = fl.regions["eastus"].stats()
    # first 429 anywhere: the first sample where any node's eastus
    # throttles moved; per node, the last sample where its eastus
    # decisions or results moved after that
    first = None
    last = {}
    prev = {}
    for t, i, c in samples:
        d, th_, res = c.get("eastus", (0, 0, 0))
        if first is None and th_ > base[i]["eastus"][1]:
            first = t
        p = prev.get(i)
        if p is not None and (d > p[0] or res > p[2]) and first is not None:
            last[i] = t
        prev[i] = (d, th_, res)
    rows = []
    for i in range(n):
        thr = {r: end[i][r][1] - base[i][r][1] for r in labenv.REGIONS}
        errs = len(labenv.failures(results[i]))
        kept = (last[i] - first) if (first is not None and i in last) else 0
        rows.append((fl.nodes[i].name, thr, errs, len(results[i]), kept))
    floor = (mock.get("throttled_unavoidable", 0), mock.get("throttled", 0),
             mock.get("throttled_last_us", 0) / 1000.0)
    return rows, first is not None, cpu, floor


def show(title, rows, floor):
    print("\n%s" % title)
    print("%-7s %8s %14s %12s %9s %7s %s" % (
        "node", "requests", "429 eastus", "429 sweden", "429 payg",
        "errors", "kept sending to eastus after the first 429"))
    tot = {r: 0 for r in labenv.REGIONS}
    for name, thr, errs, nreq, kept in rows:
        print("%-7s %8d %14d %12d %9d %7d %.2f s" % (
            name, nreq, thr["eastus"], thr["swedencentral"],
            thr["westus-payg"], errs, kept))
        for r in tot:
            tot[r] += thr[r]
    print("%-7s %8d %14d %12d %9d %7d %.2f s (max)" % (
        "fleet", sum(r[3] for r in rows), tot["eastus"],
        tot["swedencentral"], tot["westus-payg"], sum(r[2] for r in rows),
        max(r[4] for r in rows)))
    print("        429s eastus answered: %d; for requests decided before "
          "its first 429 left it (no node could have known): %d" % (
              floor[1], floor[0]))
    print("        the last 429's request was decided %.2f ms after "
          "eastus's first 429 left it" % floor[2])
    return tot["eastus"]


# (label, clients per node, mean gap between a client's requests, s)
RATES = (("~2/s per node", 2, 1.0), ("~20/s per node", 3, 0.15),
         ("~200/s per node", 3, 0.015), ("unpaced", 3, 0.0))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--poll", default="250ms",
                    help="the agents' fleet.poll_interval")
    ap.add_argument("--poll-only", action="store_true",
                    help="also run sharing with the reads of the table "
                    "only (the shipped aoai-spoe.conf, no fleet arguments "
                    "on aoai-route)")
    ap.add_argument("--rate", action="append", choices=("2", "20", "200",
                                                        "unpaced"),
                    help="only this rate (repeatable; default all)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="runs of each rate, totals at the end")
    ap.add_argument("--latency", type=int, default=0, metavar="MS",
                    help="every region answers MS milliseconds late (the "
                    "round trip to Azure; default 0, loopback)")
    a = ap.parse_args()
    n = max(1, min(a.nodes, fleetenv.MAX_NODES))
    rc = 0
    keys = {"~2/s per node": "2", "~20/s per node": "20",
            "~200/s per node": "200", "unpaced": "unpaced"}
    todo = [r for r in RATES if not a.rate or keys[r[0]] in a.rate]
    sums = {}  # label -> [off, on, one, one_all] lists
    floors = {}  # label -> the same, 429s no node could have avoided
    lags = {}  # label -> the same, ms from the first 429 to the last's
    for label, threads, pause in [r for r in todo
                                  for _ in range(max(1, a.repeat))]:
        lat = {"latency": a.latency}
        off, seen_off, cpu_off, f_off = run(n, False, a.seconds, threads,
                                            pause, a.poll, **lat)
        on, seen_on, cpu_on, f_on = run(n, True, a.seconds, threads, pause,
                                        a.poll, **lat)
        one, seen_one, _, f_one = run(1, False, a.seconds, threads, pause,
                                      a.poll, **lat)
        one_all, seen_all, _, f_all = run(1, False, a.seconds, threads * n,
                                          pause, a.poll, **lat)
        if a.poll_only:
            po, seen_po, cpu_po, f_po = run(n, True, a.seconds, threads,
                                            pause, a.poll, fast=False, **lat)
        print("\n==== %s: %d clients per node, mean gap %.2f s, regions "
              "%d ms away ====" % (label, threads, pause, a.latency))
        t_off = show("sharing OFF (today: each node on its own)", off,
                     f_off)
        if a.poll_only:
            t_po = show("sharing ON, reads of the table only (poll %s)"
                        % a.poll, po, f_po)
            print("%s: 429s eastus with reads only: %d (CPU %.2f s)" % (
                label, t_po, cpu_po))
            seen_on = seen_on and seen_po
        t_on = show("sharing ON (HAProxy peers: deadlines written with the "
                    "response, aoai-route's fleet arguments, reads every "
                    "%s)" % a.poll, on, f_on)
        t_one = show("a single node on its own, the same rate", one, f_one)
        t_all = show("a single node on its own, the fleet's traffic (%d "
                     "clients)" % (threads * n), one_all, f_all)

        def ratio(x, y):
            return "%.2f" % (x / y) if y else "n/a"
        print("\n%s: 429s eastus answered the fleet: %d with sharing, "
              "%d without; a single node's: %d at the same rate, %d with "
              "the fleet's traffic; with sharing / single node: %s (same "
              "rate), %s (fleet's traffic)" % (
                  label, t_on, t_off, t_one, t_all, ratio(t_on, t_one),
                  ratio(t_on, t_all)), flush=True)
        print("%s: the fleet's 429s with sharing for requests decided "
              "before eastus's first 429 left it: %d, that alone %s times "
              "the single node's %d at the same rate (no design that learns "
              "from 429s goes below it)" % (
                  label, f_on[0], ratio(f_on[0], t_one), t_one), flush=True)
        seen_on = seen_on and seen_one and seen_all
        for i, v in enumerate((t_off, t_on, t_one, t_all)):
            sums.setdefault(label, [[], [], [], []])[i].append(v)
        for i, v in enumerate((f_off, f_on, f_one, f_all)):
            floors.setdefault(label, [[], [], [], []])[i].append(v[0])
            lags.setdefault(label, [[], [], [], []])[i].append(v[2])
        print("CPU seconds of the agents and HAProxy during the run: "
              "%.2f with sharing, %.2f without" % (cpu_on, cpu_off),
              flush=True)
        if not (seen_off and seen_on):
            print("warning: no 429 was seen in one of the runs")
            rc = 1
    if a.repeat > 1:
        print("\n==== totals over %d runs of each rate: 429s eastus "
              "answered ====" % a.repeat)
        for label, (off, on, one, one_all) in sums.items():
            print("%s: sharing off %s = %d; sharing on %s = %d; a single "
                  "node, same rate %s = %d; a single node, the fleet's "
                  "traffic %s = %d; with sharing / single node: %.2f "
                  "(same rate), %.2f (fleet's traffic)" % (
                      label, off, sum(off), on, sum(on), one, sum(one),
                      one_all, sum(one_all),
                      sum(on) / max(1, sum(one)),
                      sum(on) / max(1, sum(one_all))), flush=True)
            fo = floors[label]
            print("%s: of those, decided before eastus's first 429 left it: "
                  "sharing off %d, sharing on %d, single node same rate %d, "
                  "fleet's traffic %d; the fleet's with sharing / the single "
                  "node's 429s at the same rate: %.2f" % (
                      label, sum(fo[0]), sum(fo[1]), sum(fo[2]), sum(fo[3]),
                      sum(fo[1]) / max(1, sum(one))), flush=True)
            lg = lags[label]
            print("%s: the last 429's request decided after eastus's first "
                  "429 left it, ms, run by run: sharing off %s; sharing on "
                  "%s; single node same rate %s; fleet's traffic %s" % (
                      label, *(" ".join("%.2f" % x for x in v)
                               for v in lg)), flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
