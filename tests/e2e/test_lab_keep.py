#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""`make lab` / `make lab-scenario` / `make lab-stop` (tests/lab/labctl.py)
with a private state folder.

up: returns once the lab is up and prints the endpoint, the client key,
the control socket and both metrics URLs; the endpoint serves a chat
completion with that key; a second `up` says it is already running.
With --prometheus (make lab PROMETHEUS=1) a Prometheus scrapes the agent
and HAProxy's exporter. Scenarios while it runs: `throttle eastus` (eastus answers only 429, the
clients still get 200 from the other regions), `heal eastus` (eastus
serves again), `break swedencentral` (its breaker opens); `status` shows
the settings. stop: exit 0, every process it started gone, its state files
removed; a second stop says "not running". With the daemon killed
(SIGKILL), stop still ends the processes it had started and says so.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

from harness import Tap
import labenv

LABCTL = os.path.join(labenv.ROOT, "tests", "lab", "labctl.py")


def labctl(state, *args, timeout=90):
    p = subprocess.run([sys.executable, LABCTL, "--state", state] +
                       list(args), cwd=labenv.ROOT, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                       timeout=timeout)
    out = p.stdout.decode("utf-8", "replace")
    for line in out.splitlines():
        print("#   labctl %s: %s" % (args[0], line))
    return p.returncode, out


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def chat(c):
    return c.chat("hello from test_lab_keep")


def agent_state(st, region):
    import socket
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(st["control_socket"])
        s.sendall(b"show backends json\n")
        s.shutdown(socket.SHUT_WR)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    for b in json.loads(data)["backends"]:
        if b["name"] == region:
            return b["state"]
    return None


def mock_stats(st, region):
    with urllib.request.urlopen(st["regions"][region]["control_url"]
                                + "/stats", timeout=5) as r:
        return json.loads(r.read())


def main():
    t = Tap()
    with tempfile.TemporaryDirectory(prefix="aoai-labkeep-") as state:
        rc, out = labctl(state, "--prometheus", "up")
        t.eq(rc, 0, "up --prometheus: exit 0 once the lab is up")
        try:
            with open(os.path.join(state, "lab.json")) as f:
                st = json.load(f)
        except (OSError, ValueError) as exc:
            t.ok(False, "up: state file written", exc)
            labctl(state, "stop")
            t.done()
        pids = dict(st["pids"], daemon=st["pid"])
        try:
            run(t, state, st, out)
        finally:
            rc, out = labctl(state, "stop")
        t.eq(rc, 0, "stop: exit 0")
        t.ok(re.search(r"^lab: stopped \(haproxy, aoai-spoa, mock eastus",
                       out, re.M), "stop: names what it stopped", out)
        left = [k for k, p in pids.items() if alive(p)]
        t.ok(not left, "stop: nothing left running (daemon, HAProxy, "
             "agent, 3 mocks, prometheus)", left)
        t.ok(not os.path.exists(os.path.join(state, "lab.pid")) and
             not os.path.exists(os.path.join(state, "lab.json")),
             "stop: pid and state files removed")
        t.ok(not os.path.exists(st["folder"]),
             "stop: the lab's run folder removed", st["folder"])
        rc, out = labctl(state, "stop")
        t.ok(rc == 0 and "not running" in out,
             "stop again: 'not running', exit 0", out)
        rc, out = labctl(state, "throttle", "eastus")
        t.ok(rc == 1 and "not running" in out,
             "a scenario without a lab: 'not running', exit 1", out)
        crashed_daemon(t, state)
    t.done()


def crashed_daemon(t, state):
    """The daemon killed (SIGKILL): stop still ends what it started."""
    rc, out = labctl(state, "--prometheus", "up")
    try:
        with open(os.path.join(state, "lab.json")) as f:
            st = json.load(f)
    except (OSError, ValueError) as exc:
        t.ok(False, "crash: up again", exc)
        return
    t.ok("prometheus" in st["pids"], "crash: prometheus in the state",
         st["pids"])
    os.kill(st["pid"], signal.SIGKILL)
    labenv.wait_until(lambda: not alive(st["pid"]), 5)
    left = [k for k, p in st["pids"].items() if alive(p)]
    t.ok(left, "crash: the daemon's processes outlive it", left)
    rc, out = labctl(state, "stop")
    t.ok(rc == 1 and "had to kill" in out, "crash: stop kills what is "
         "left and says so (exit 1)", out)
    left = [k for k, p in st["pids"].items() if alive(p)]
    t.ok(not left, "crash: nothing left running after stop", left)
    shutil.rmtree(st["folder"], ignore_errors=True)


def run(t, state, st, out):
    for what, text in (("endpoint", st["endpoint"]),
                       ("client key", st["client_key"]),
                       ("control socket", st["control_socket"]),
                       ("agent metrics URL", st["metrics_url"]),
                       ("HAProxy metrics URL", st["haproxy_metrics_url"])):
        t.ok(text and text in out, "up: prints the %s" % what, text)
    t.ok("make lab-stop" in out, "up: says how to stop it")
    t.ok(st.get("prometheus_url") and st["prometheus_url"] in out,
         "up --prometheus: prints the Prometheus URL")
    def scraped():
        q = st["prometheus_url"] + "/api/v1/query?query=up"
        with urllib.request.urlopen(q, timeout=5) as r:
            res = json.loads(r.read())["data"]["result"]
        return sorted((x["metric"]["job"], x["value"][1]) for x in res)
    t.ok(labenv.wait_until(lambda: scraped() == [("aoai-spoa", "1"),
                                                 ("haproxy", "1")], 20, 0.5),
         "up --prometheus: Prometheus scrapes the agent and HAProxy",
         scraped())
    rc, again = labctl(state, "up")
    t.ok(rc == 0 and "already running" in again,
         "up again: 'already running', exit 0")
    port = int(st["endpoint"].rsplit(":", 1)[1])
    c = labenv.Client("127.0.0.1", port, api_key=st["client_key"])
    try:
        r = chat(c)
        t.ok(r.status == 200 and r.json()["choices"][0]["message"]
             ["content"], "the endpoint answers a chat completion with the "
             "printed key", r)
        for name, url, prefix in (
                ("agent", st["metrics_url"], "aoai_spoa_"),
                ("HAProxy", st["haproxy_metrics_url"], "haproxy_")):
            with urllib.request.urlopen(url, timeout=5) as m:
                body = m.read().decode()
            t.ok(m.status == 200 and prefix in body,
                 "%s metrics served at the printed URL" % name, url)

        rc, o = labctl(state, "throttle", "eastus")
        t.ok(rc == 0 and "lab: throttle eastus" in o,
             "scenario 'throttle eastus': exit 0")
        before = mock_stats(st, "eastus")["status"]
        rs = [chat(c) for _ in range(30)]
        after = mock_stats(st, "eastus")["status"]
        new = {k: after.get(k, 0) - before.get(k, 0) for k in after}
        t.ok(all(r.status == 200 for r in rs), "throttled eastus: clients "
             "still get 200", labenv.status_counts(rs))
        t.ok(new.get("200", 0) == 0,
             "throttled eastus: eastus served nothing", new)
        t.ok(all(r.headers.get("x-aoai-server") != "eastus" for r in rs),
             "throttled eastus: responses came from the other regions",
             labenv.served_by(rs))
        rc, o = labctl(state, "status")
        t.ok(rc == 0 and re.search(r"^  eastus\s+throttle_all=1", o, re.M),
             "status: shows eastus throttled", o)

        rc, o = labctl(state, "heal", "eastus")
        t.ok(rc == 0 and "lab: heal eastus" in o, "scenario 'heal eastus'")
        ok = labenv.wait_until(lambda: chat(c).headers.get(
            "x-aoai-server") == "eastus", 20, 0.2)
        t.ok(ok, "healed eastus serves again")

        rc, o = labctl(state, "break", "swedencentral")
        t.ok(rc == 0, "scenario 'break swedencentral'")
        opened = labenv.wait_until(
            lambda: chat(c) and agent_state(st, "swedencentral") in (
                "open", "half-open"), 20, 0.05)
        t.ok(opened, "broken swedencentral: its breaker opens",
             agent_state(st, "swedencentral"))
        rc, o = labctl(state, "heal", "all")
        t.ok(rc == 0 and o.count("lab: heal ") == 3, "scenario 'heal all'")
        rc, o = labctl(state, "throttle", "nowhere")
        t.ok(rc == 2 and "unknown region" in o, "unknown region: exit 2")
        rc, o = labctl(state, "slow", "eastus")
        t.ok(rc == 2 and "usage" in o, "missing argument: usage, exit 2")
    finally:
        c.close()
    time.sleep(0.1)


if __name__ == "__main__":
    main()
