#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""`make lab` / `make lab-stop` / `make lab-scenario`: the lab kept up.

    python3 tests/lab/labctl.py up        start it in the background, print
                                          how to reach it, return
                      up --prometheus     the same plus a Prometheus
                                          scraping it (make lab PROMETHEUS=1)
    python3 tests/lab/labctl.py status    is it up; each region's settings
                                          and the agent's circuit states
    python3 tests/lab/labctl.py stop      stop everything it started
    python3 tests/lab/labctl.py SCENARIO  change a mock region while it runs

Scenarios (REGION is eastus, swedencentral, westus-payg or all):
    throttle REGION        every request answered 429 (Retry-After from
                           the quota window)
    quota REGION N         N requests per quota window (5 s in the lab)
    break REGION           every request answered 500
    reset REGION           every connection reset
    slow REGION MS         answers delayed MS milliseconds
    heal REGION            back to the region's start-up settings

The same three mock regions, agent and HAProxy as `make run`
(tests/lib/labenv.py), plus HAProxy's own Prometheus exporter. A daemon
process holds them; its pid is in <state>/lab.pid and what it started in
<state>/lab.json (state folder: build/lab, or --state DIR, or LAB_STATE).
`stop` sends it SIGTERM, waits for it, then makes sure every process it
listed is gone. Exit status 0 on success, 1 on failure, 2 on bad usage.
"""
import argparse
import json
import os
import signal
import sys
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))
sys.path.insert(0, HERE)

import labenv  # noqa: E402
import monitor  # noqa: E402
import scenario  # noqa: E402

SCENARIOS = {
    # name: (arguments after REGION, function(args) -> mock settings)
    "throttle": ((), lambda a: {"throttle_all": 1}),
    "quota": (("N",), lambda a: {"rpm": int(a[0])}),
    "break": ((), lambda a: {"fail_status": 500, "fail_rate": 100}),
    "reset": ((), lambda a: {"reset_count": 1000000000}),
    "slow": (("MS",), lambda a: {"latency_ms": int(a[0])}),
    "heal": ((), lambda a: {}),
}


class Paths:
    def __init__(self, state):
        self.dir = os.path.abspath(state)
        self.pid = os.path.join(self.dir, "lab.pid")
        self.json = os.path.join(self.dir, "lab.json")
        self.log = os.path.join(self.dir, "labd.log")
        self.prom = os.path.join(self.dir, "prometheus.yml")


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child of ours is not running any more
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def ours(pid, st, paths):
    """True when <pid> still runs one of the lab's programs: its command
    line names the lab's run folder or state folder (a pid the system gave
    to another program since is left alone)."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            args = f.read().decode("utf-8", "replace").split("\0")
    except OSError:
        return False
    return any(d + os.sep in a for a in args
               for d in (st.get("folder") or "\0", paths.dir))


def read_pid(paths):
    try:
        with open(paths.pid) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def read_state(paths):
    try:
        with open(paths.json) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def write_atomic(path, text, mode=0o644):
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


# ---- the daemon ------------------------------------------------------------

def daemon(paths, ready_fd, with_prometheus=False):
    """Holds the lab (and a Prometheus scraping it when asked) until
    SIGTERM/SIGINT; reports "ok" or an error on <ready_fd> once it is up
    (or failed to come up)."""
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    exporter = labenv.free_port()
    lab = None
    prom = None
    try:
        cfg = monitor.haproxy_cfg_with_exporter(paths.dir, exporter)
        lab = labenv.Lab(quotas=scenario.QUOTAS, haproxy_cfg=cfg)
        lab.start()
        state = {
            "pid": os.getpid(),
            "endpoint": lab.url,
            "client_key": lab.client_key,
            "deployment": labenv.DEPLOYMENT,
            "api_version": labenv.API_VERSION,
            "control_socket": lab.control_socket,
            "haproxy_socket": lab.stats_socket,
            "metrics_url": "http://127.0.0.1:%d/metrics" % lab.metrics_port,
            "haproxy_metrics_url": "http://127.0.0.1:%d/metrics" % exporter,
            "folder": lab.dir,
            "logs": dict(lab.logs, **{r: lab.region(r).log_path
                                      for r in lab.regions}),
            "regions": {r: {"control_url": lab.region(r).control_url,
                            "pid": lab.region(r).proc.pid}
                        for r in lab.regions},
            "pids": {"haproxy": lab.haproxy.pid, "aoai-spoa": lab.agent.pid},
        }
        state["pids"].update({"mock " + r: lab.region(r).proc.pid
                              for r in lab.regions})
        prom = monitor.Prometheus(paths.dir, {
            monitor.AGENT_JOB: "127.0.0.1:%d" % lab.metrics_port,
            monitor.HAPROXY_JOB: "127.0.0.1:%d" % exporter},
            rules=[monitor.RULES], interval="5s")
        write_atomic(paths.prom, prom.config_text())
        if with_prometheus:
            prom.start()
            state["prometheus_url"] = prom.url
            state["pids"]["prometheus"] = prom.proc.pid
        else:
            prom = None
        write_atomic(paths.json, json.dumps(state, indent=1) + "\n", 0o600)
        os.write(ready_fd, b"ok\n")
        os.close(ready_fd)
        ready_fd = None
        while not stop:
            time.sleep(0.5)
            if lab.haproxy.poll() is not None:
                print("labd: haproxy exited (%s); stopping the lab"
                      % lab.haproxy.returncode, flush=True)
                break
        print("labd: stopping", flush=True)
    except Exception as exc:  # noqa: BLE001 - reported to `up`
        if ready_fd is not None:
            os.write(ready_fd, ("error: %s: %s\n" % (
                type(exc).__name__, exc)).encode())
        print("labd: %s: %s" % (type(exc).__name__, exc), flush=True)
    finally:
        if prom:
            prom.stop()
        if lab:
            lab.stop()
        for p in (paths.json, paths.pid):
            try:
                os.unlink(p)
            except OSError:
                pass
        print("labd: stopped", flush=True)


def cmd_up(paths, out, with_prometheus=False):
    pid = read_pid(paths)
    if pid and alive(pid):
        out.write("lab: already running (pid %d)\n" % pid)
        print_state(read_state(paths) or {}, paths, out)
        return 0
    for b in (labenv.AGENT_BIN, labenv.MOCK_BIN):
        if not os.access(b, os.X_OK):
            out.write("lab: %s missing: run `make lab` (it builds them)\n"
                      % b)
            return 1
    os.makedirs(paths.dir, exist_ok=True)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the daemon: its own session, stdio to its log
        os.close(r)
        try:
            os.setsid()
            if os.fork():
                os._exit(0)
            write_atomic(paths.pid, "%d\n" % os.getpid())
            log = os.open(paths.log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                          0o600)
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(log, 1)
            os.dup2(log, 2)
            sys.stdout = os.fdopen(1, "w", buffering=1)
            sys.stderr = sys.stdout
            daemon(paths, w, with_prometheus)
        finally:
            os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    answer = b""
    while True:
        chunk = os.read(r, 4096)
        if not chunk:
            break
        answer += chunk
    os.close(r)
    if not answer.startswith(b"ok"):
        out.write("lab: did not start: %s (see %s)\n" % (
            answer.decode("utf-8", "replace").strip() or "no answer",
            paths.log))
        return 1
    print_state(read_state(paths) or {}, paths, out)
    return 0


def print_state(st, paths, out):
    w = out.write
    if not st:
        w("lab: no state in %s\n" % paths.json)
        return
    w("aoai-spoa lab is up (daemon pid %d); stop it with `make lab-stop`\n"
      % st["pid"])
    w("  endpoint        %s  (Azure OpenAI API: deployment %s, "
      "api-version %s)\n" % (st["endpoint"], st["deployment"],
                             st["api_version"]))
    w("  api-key         %s  (the gateway's client key; HAProxy holds "
      "the regions' keys)\n" % st["client_key"])
    w("  agent control   socat - UNIX-CONNECT:%s  (try: show backends)\n"
      % st["control_socket"])
    w("  HAProxy API     socat - UNIX-CONNECT:%s\n" % st["haproxy_socket"])
    w("  agent metrics   %s\n" % st["metrics_url"])
    w("  HAProxy metrics %s\n" % st["haproxy_metrics_url"])
    if st.get("prometheus_url"):
        w("  prometheus      %s  (scrapes both every 5 s, loads "
          "docs/monitoring/aoai-spoa.rules.yml)\n" % st["prometheus_url"])
    else:
        w("  prometheus      prometheus --config.file=%s  (scrapes both, "
          "loads docs/monitoring/aoai-spoa.rules.yml; or make lab "
          "PROMETHEUS=1)\n" % paths.prom)
    w("  logs            %s\n" % os.path.dirname(st["logs"]["agent"]))
    w("  scenarios       make lab-scenario S='throttle eastus'  (break, "
      "reset, slow REGION MS, quota REGION N, heal REGION|all)\n")
    w("  try:            curl -s %s/openai/deployments/%s/chat/completions"
      "?api-version=%s -H 'api-key: %s' -H 'content-type: "
      "application/json' -d '{\"messages\":[{\"role\":\"user\","
      "\"content\":\"hi\"}]}'\n" % (st["endpoint"], st["deployment"],
                                    st["api_version"], st["client_key"]))


def cmd_stop(paths, out, timeout=40.0):
    pid = read_pid(paths)
    st = read_state(paths) or {}
    if not pid or not alive(pid):
        leftover = [k for k, p in st.get("pids", {}).items()
                    if alive(p) and ours(p, st, paths)]
        if not leftover:
            out.write("lab: not running\n")
            for p in (paths.json, paths.pid):
                if os.path.exists(p):
                    os.unlink(p)
            return 0
    else:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
            out.write("lab: the daemon did not stop in %.0f s: killed\n"
                      % timeout)
    killed = []
    for name, p in st.get("pids", {}).items():
        if alive(p) and ours(p, st, paths):
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
            killed.append(name)
    for p in (paths.json, paths.pid):
        if os.path.exists(p):
            os.unlink(p)
    if killed:
        out.write("lab: stopped; had to kill %s\n" % ", ".join(killed))
        return 1
    out.write("lab: stopped (%s)\n" % ", ".join(st.get("pids", {})
                                                or ["daemon"]))
    return 0


def mock_set(url, settings):
    q = "&".join("%s=%s" % kv for kv in settings.items())
    req = urllib.request.Request(url + "/set?" + q, data=b"", method="POST")
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())


def mock_get(url, path):
    with urllib.request.urlopen(url + path, timeout=5) as r:
        return json.loads(r.read())


def cmd_scenario(paths, out, name, region, rest):
    st = read_state(paths)
    pid = read_pid(paths)
    if not st or not pid or not alive(pid):
        out.write("lab: not running (make lab)\n")
        return 1
    regions = st["regions"]
    targets = list(regions) if region == "all" else [region]
    if any(r not in regions for r in targets):
        out.write("lab: unknown region %s (one of: %s, all)\n" % (
            region, ", ".join(regions)))
        return 2
    want, fn = SCENARIOS[name]
    if len(rest) != len(want) or not all(a.isdigit() for a in rest):
        out.write("lab: usage: %s REGION %s\n" % (name, " ".join(want)))
        return 2
    settings = {"reset": 1}
    settings.update(fn(rest))
    for r in targets:
        try:
            mock_set(regions[r]["control_url"], settings)
        except (OSError, ValueError) as exc:
            out.write("lab: %s: %s\n" % (r, exc))
            return 1
        out.write("lab: %s %s%s\n" % (name, r, "".join(" " + a
                                                       for a in rest)))
    return 0


def cmd_status(paths, out):
    st = read_state(paths)
    pid = read_pid(paths)
    if not st or not pid or not alive(pid):
        out.write("lab: not running\n")
        return 1
    print_state(st, paths, out)
    for r, reg in st["regions"].items():
        try:
            s = mock_get(reg["control_url"], "/settings")
        except (OSError, ValueError) as exc:
            out.write("  %-14s unreachable: %s\n" % (r, exc))
            continue
        flags = [k for k in ("throttle_all", "fail_rate", "reset_count",
                             "latency_ms", "rpm") if s.get(k)]
        out.write("  %-14s %s\n" % (r, ", ".join(
            "%s=%s" % (k, s[k]) for k in flags) or "-"))
    return 0


def main():
    ap = argparse.ArgumentParser(
        description="the aoai-spoa lab kept up; see the module docstring",
        usage="labctl.py [--state DIR] up|stop|status|SCENARIO REGION ...")
    ap.add_argument("--state", default=os.environ.get("LAB_STATE") or
                    os.path.join(labenv.ROOT, "build", "lab"))
    ap.add_argument("--prometheus", action="store_true",
                    help="up: also start a Prometheus scraping the lab "
                    "(data in the state folder)")
    ap.add_argument("command")
    ap.add_argument("args", nargs="*")
    a = ap.parse_args()
    paths = Paths(a.state)
    out = sys.stdout
    if a.command == "up" and not a.args:
        return cmd_up(paths, out, a.prometheus)
    if a.command == "stop" and not a.args:
        return cmd_stop(paths, out)
    if a.command == "status" and not a.args:
        return cmd_status(paths, out)
    if a.command in SCENARIOS and a.args:
        return cmd_scenario(paths, out, a.command, a.args[0], a.args[1:])
    ap.print_usage(sys.stderr)
    sys.stderr.write("scenarios: %s REGION|all\n" % ", ".join(SCENARIOS))
    return 2


if __name__ == "__main__":
    sys.exit(main())
