#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""HAProxy runtime API link against the real HAProxy.

HAProxy is started by the test with a stats socket in the temporary
folder; its backend's servers are two small Python HTTP servers and one
dead region (a port nothing listens on). The agent polls HAProxy every
200ms with mirror on, and routes are driven over SPOP.

- a server set to MAINT in HAProxy is avoided within one poll interval;
  an operator's MAINT is never lifted by the mirror;
- HAProxy's connection errors to the dead region trip its breaker, and
  the open circuit shows as DRAIN in HAProxy;
- "trip backend" on the control socket: DRAIN in HAProxy's show stat,
  READY again after "reset backend"; one command per transition;
- HAProxy reloaded (-sf): the link follows the new process and re-applies
  DRAIN; HAProxy gone: DOWN/MAINT states are forgotten (fail open), and
  the link comes back when HAProxy does.
"""
import http.server
import json
import os
import re
import socket
import subprocess
import threading
import time

import harness as H

POLL = 0.2

HAPROXY_CFG = """\
global
    stats socket {dir}/admin.sock mode 600 level admin
    stats timeout 30s
defaults
    mode http
    timeout connect 500ms
    timeout client 5s
    timeout server 5s
    retries 0
frontend fe
    bind 127.0.0.1:{fport}
    default_backend aoai
backend aoai
    balance roundrobin
    server eastus 127.0.0.1:{p1}
    server swedencentral 127.0.0.1:{p2}
    server westus-payg 127.0.0.1:{p3}
"""

AGENT_CFG = """\
agent:
  log_level: info
listen:
  - tcp://127.0.0.1:{port}
control: unix://{dir}/ctl.sock
haproxy:
  stats_socket: unix://{dir}/admin.sock
  backend: aoai
  poll_interval: 200ms
  mirror: true
backends:
  - name: eastus
  - name: swedencentral
  - name: westus-payg
    circuit_breaker:
      failure:
        count: 3
        interval: 30s
      trip_duration: 1m
pools:
  - name: chat
    members:
      - {{backend: eastus, priority: 1, weight: 1}}
      - {{backend: swedencentral, priority: 1, weight: 1}}
      - {{backend: westus-payg, priority: 2, weight: 1}}
"""

SANITIZER = re.compile(r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|"
                       r"runtime error:")


class Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b'{"ok":true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def region():
    srv = http.server.ThreadingHTTPServer((H.LOCAL, 0), Ok)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def unix_ask(path, line, timeout=5.0):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
        s.sendall(line.encode() + b"\n")
        out = H.recv_all(s)
        return out.decode()
    except OSError as exc:
        return "OSError: %s" % exc
    finally:
        s.close()


class Env:
    def __init__(self, procs):
        self.procs = procs
        self.dir = procs.dir
        self.admin = os.path.join(self.dir, "admin.sock")
        self.ctl = os.path.join(self.dir, "ctl.sock")
        self.haproxy = None

    def hap(self, line):
        return unix_ask(self.admin, line)

    def agent(self, line):
        return unix_ask(self.ctl, line)

    def agent_json(self, line):
        out = self.agent(line)
        try:
            return json.loads(out)
        except ValueError:
            return {"_unparsable": out}

    def backend(self, name):
        for b in self.agent_json("show backends json").get("backends", []):
            if b["name"] == name:
                return b
        return {}

    def server(self, name):
        for s in self.agent_json("show haproxy json").get("servers", []):
            if s["name"] == name:
                return s
        return {}

    def stat(self):
        """{server: status} from HAProxy's own show stat."""
        out = self.hap("show stat aoai 4 -1")
        lines = [ln for ln in out.splitlines() if ln and ln[0] != "#"]
        hdr = out.splitlines()[0][2:].split(",") if out.startswith("#") \
            else []
        if "svname" not in hdr:
            return {}
        i, j = hdr.index("svname"), hdr.index("status")
        return {f[i]: f[j] for f in (ln.split(",") for ln in lines)}

    def admin_state(self, name):
        out = self.hap("show servers state aoai")
        for ln in out.splitlines():
            f = ln.split()
            if len(f) > 6 and f[3] == name:
                return int(f[6])
        return None

    def start_haproxy(self, cfg, old=None):
        argv = [H.HAPROXY, "-db", "-f", cfg]
        if old is not None:
            argv += ["-sf", str(old.pid)]
        p = self.procs.start(argv, log_name="haproxy-%d.log"
                             % len(self.procs.procs))
        return p


def routes(port, n):
    c = H.SpopClient(port)
    counts = {}
    try:
        c.hello()
        for i in range(n):
            _f, acts = c.route(1, i + 1)
            b = acts.get(b"backend")
            key = b.decode() if b else "-" + (acts.get(b"reason")
                                              or b"?").decode()
            counts[key] = counts.get(key, 0) + 1
    finally:
        c.close()
    return counts


def http_get(port, n):
    codes = []
    for _ in range(n):
        s = socket.create_connection((H.LOCAL, port), 5)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = H.recv_all(s)
        s.close()
        codes.append(int(data.split()[1]) if data else 0)
    return codes


def timed(pred, timeout):
    """Seconds until pred() holds, or None."""
    start = time.monotonic()
    if H.wait_until(pred, timeout, 0.01):
        return time.monotonic() - start
    return None


def main():
    t = H.Tap()
    if not os.access(H.HAPROXY, os.X_OK):
        t.ok(False, "HAProxy at %s" % H.HAPROXY)
        t.done()
    with H.Procs() as procs:
        env = Env(procs)
        r1, r2 = region(), region()
        p3, fport, port = H.free_port(), H.free_port(), H.free_port()
        hcfg = procs.write("haproxy.cfg", HAPROXY_CFG.format(
            dir=env.dir, fport=fport, p1=r1.server_address[1],
            p2=r2.server_address[1], p3=p3))
        chk = subprocess.run([H.HAPROXY, "-c", "-f", hcfg],
                             capture_output=True, text=True)
        t.ok(chk.returncode == 0, "HAProxy accepts the test configuration",
             chk.stdout + chk.stderr)
        hp = env.start_haproxy(hcfg)
        t.ok(H.wait_port(fport, 10, hp) and
             H.wait_until(lambda: os.path.exists(env.admin), 5),
             "HAProxy started with a stats socket")
        agent, _ = H.start_agent(procs, AGENT_CFG.format(port=port,
                                                         dir=env.dir), port)

        # -- the link
        up = timed(lambda: env.agent_json("show haproxy json").get("up"), 5)
        t.ok(up is not None, "link up", env.agent("show haproxy"))
        servers = env.agent_json("show haproxy json").get("servers", [])
        t.ok(len(servers) == 3 and all(s["seen"] for s in servers),
             "the three servers are read from HAProxy", servers)
        t.eq(routes(port, 20), {"eastus": 10, "swedencentral": 10},
             "routing before: 1:1 over the priority-1 members")

        # -- MAINT in HAProxy: avoided within one poll interval
        t.eq(env.hap("set server aoai/eastus state maint"), "\n",
             "set server aoai/eastus state maint (HAProxy)")
        took = timed(lambda: env.backend("eastus").get("down"), 3)
        t.ok(took is not None and took <= POLL + 0.2,
             "MAINT seen by the agent within one poll interval",
             "%r s" % took)
        t.eq(routes(port, 20), {"swedencentral": 20},
             "a server in MAINT gets no decision")
        # the mirror never lifts an operator's MAINT
        env.agent("trip backend eastus 30s")
        time.sleep(5 * POLL)
        t.eq(env.admin_state("eastus"), 1,
             "mirror leaves MAINT alone even when the circuit opens")
        env.agent("reset backend eastus")
        env.hap("set server aoai/eastus state ready")
        took = timed(lambda: env.backend("eastus").get("down") is False, 3)
        t.ok(took is not None and took <= POLL + 0.2,
             "READY again: available within one poll interval",
             "%r s" % took)
        t.eq(routes(port, 20), {"eastus": 10, "swedencentral": 10},
             "routing restored after MAINT")

        # -- the dead region: HAProxy's econ trips the breaker
        codes = http_get(fport, 9)
        t.ok(codes.count(503) == 3 and codes.count(200) == 6,
             "HAProxy reaches the live regions, fails on the dead one",
             codes)
        took = timed(lambda: env.backend("westus-payg").get("state") ==
                     "open", 3)
        b = env.backend("westus-payg")
        t.ok(took is not None and b["counters"]["external_faults"] >= 3
             and b["counters"]["trips"] == 1,
             "connection errors counted by HAProxy trip the breaker", b)
        s = env.server("westus-payg")
        t.ok(s.get("econ", 0) >= 3 and s.get("faults", 0) >= 3,
             "show haproxy: econ and faults fed", s)
        took = timed(lambda: env.stat().get("westus-payg") == "DRAIN", 2)
        t.ok(took is not None, "the open circuit is DRAIN in HAProxy",
             env.stat())

        # -- trip via the control socket: DRAIN, then READY after reset
        sets0 = env.agent_json("show haproxy json").get("sets", 0)
        env.agent("trip backend swedencentral 60s")
        took = timed(lambda: env.stat().get("swedencentral") == "DRAIN", 2)
        t.ok(took is not None, "trip backend: DRAIN in HAProxy's show stat "
             "(%.2fs)" % (took or -1), env.stat())
        t.eq(env.admin_state("swedencentral"), 8,
             "srv_admin_state has the forced drain bit")
        time.sleep(5 * POLL)
        log = H.read_log(agent)
        t.eq(len(re.findall(r"set server aoai/swedencentral state drain",
                            log)), 1,
             "one set server per transition, none repeated by the polls")
        env.agent("reset backend swedencentral")
        took = timed(lambda: env.stat().get("swedencentral") == "no check"
                     and env.admin_state("swedencentral") == 0, 2)
        t.ok(took is not None, "reset backend: READY again in HAProxy",
             env.stat())
        time.sleep(5 * POLL)
        h = env.agent_json("show haproxy json")
        t.eq(h.get("sets", 0) - sets0, 2,
             "exactly two set server commands: drain, ready")
        t.eq(h.get("set_errors"), 0, "no set server error")
        log = H.read_log(agent)
        t.eq(len(re.findall(r"set server aoai/swedencentral state ready",
                            log)), 1, "READY sent once")

        # half-open stays DRAIN (use-server still takes the probe there,
        # a redispatched retry cannot): READY only once it is closed
        env.agent("trip backend swedencentral 1s")
        t.ok(timed(lambda: env.stat().get("swedencentral") == "DRAIN", 2)
             is not None, "short trip: DRAIN")
        took = timed(lambda: env.backend("swedencentral").get("state") ==
                     "half-open", 4)
        polls = env.agent_json("show haproxy json").get("polls", 0)
        timed(lambda: env.agent_json("show haproxy json").get("polls", 0)
              >= polls + 2, 4)
        t.ok(took is not None and env.stat().get("swedencentral") ==
             "DRAIN", "half-open: still DRAIN in HAProxy two polls later",
             env.stat())
        env.agent("reset backend swedencentral")
        t.ok(timed(lambda: env.stat().get("swedencentral") == "no check",
                   2) is not None, "closed: READY in HAProxy", env.stat())

        # -- HAProxy reloaded: the new process has no DRAIN; re-applied
        env.agent("trip backend swedencentral 60s")
        t.ok(timed(lambda: env.stat().get("swedencentral") == "DRAIN", 2)
             is not None, "DRAIN before the HAProxy reload")
        hp2 = env.start_haproxy(hcfg, old=hp)
        t.ok(H.wait_until(lambda: hp.poll() is not None, 10),
             "old HAProxy process finished (-sf)")
        took = timed(lambda: env.stat().get("swedencentral") == "DRAIN"
                     and env.agent_json("show haproxy json").get("up"), 5)
        log = H.read_log(agent)
        t.ok(took is not None and "replaced" in log,
             "after the HAProxy reload the link follows the new process "
             "and re-applies DRAIN", (env.stat(), log[-800:]))
        t.ok(env.stat().get("westus-payg") == "DRAIN",
             "every open circuit re-applied", env.stat())

        # -- HAProxy gone: fail open; back: the link reconnects
        env.hap("set server aoai/eastus state maint")
        t.ok(timed(lambda: env.backend("eastus").get("down"), 3)
             is not None, "MAINT again before HAProxy stops")
        procs.stop(hp2)
        took = timed(lambda: env.backend("eastus").get("down") is False, 5)
        h = env.agent_json("show haproxy json")
        t.ok(took is not None and not h.get("up") and
             h.get("poll_errors", 0) >= 3,
             "HAProxy gone: after 3 failed polls its states are forgotten",
             h)
        t.ok("eastus" in routes(port, 10), "eastus routed again (fail "
             "open)")
        hp3 = env.start_haproxy(hcfg)
        took = timed(lambda: env.agent_json("show haproxy json").get("up")
                     and env.stat().get("swedencentral") == "DRAIN", 5)
        t.ok(took is not None, "HAProxy back: link up, DRAIN re-applied",
             env.stat())

        # -- metrics of the link
        m = env.agent("show metrics")
        t.ok(re.search(r"^aoai_spoa_haproxy_up 1$", m, re.M) and
             re.search(r"^aoai_spoa_haproxy_faults_total [1-9]", m, re.M),
             "link metrics exported")

        rc = procs.stop(agent)
        t.eq(rc, 0, "agent exits 0 on SIGTERM")
        bad = [ln for ln in H.read_log(agent).splitlines()
               if SANITIZER.search(ln)]
        t.ok(not bad, "no sanitizer finding in the agent's log", bad[:3])
        procs.stop(hp3)
        r1.shutdown()
        r2.shutdown()
    t.done()


if __name__ == "__main__":
    main()
