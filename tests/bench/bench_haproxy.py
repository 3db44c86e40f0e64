#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""make bench-haproxy: the shipped HAProxy topology next to its alternatives.

A benchmark, not a test: it prints numbers and ratios measured in the same
run and never fails on a timing. It exits non-zero only when something
could not run at all.

The configurations, all on loopback, all over the same three mock regions
(build/mock-aoai, no quota, no latency: their CPU share is reported):
  1 plain     HAProxy, balance roundrobin (weights 2/1/1), nothing else
  1a floor1   the floor of the shipped design's mechanics in one HTTP pass:
              roundrobin with the shipped tuning (tune.bufsize 131072,
              -dMglobal, http-reuse always, http-buffer-request,
              http-no-delay, retry-on + retries 3 + redispatch), no SPOE,
              no rules, no logs
  1c floor2   the same through two passes (frontend/backend -> abns@ listen
              per region -> region)
  1b floor3   the same through the shipped topology's three passes
              (frontend/backend -> abns@ shim -> abns@ upstream -> region)
  2 lua       HAProxy, a Lua action doing smooth weighted round-robin,
              then use-server (tests/bench/swrr.lua)
  3 spoe-ack  HAProxy, SPOE aoai-route (haproxy-conf/aoai-spoe.conf) to an
              ACK-only agent (build/bench/ack-server), then use-server
  4 spoe-agent  the same to aoai-spoa (route message only)
  3b shipped-ack  haproxy-conf/lab/haproxy.cfg as shipped (both SPOE
              messages) with the ACK-only agent
  5 shipped   haproxy-conf/lab/haproxy.cfg as shipped: route + result +
              in-request failover, with aoai-spoa (the lab agent YAML),
              HAProxy started as the lab starts it (-dMglobal)
  5b shipped2  a variant, not shipped: the lab configuration with each
              region's upstream-<name> folded into its region-<name> shim
              (two passes). Faster, but a connection error or timeout
              towards a region becomes a 503/504 that HAProxy generates
              inside the shim, which reaches no http-response rule and no
              SPOE (tests/bench/generated_responses.py): the agent never
              hears of it. Skipped, with a message, when the lab
              configuration no longer has the shape it folds.
  6 portkey   the Portkey AI gateway (tests/bench/portkey, pinned),
              loadbalance mode over the same regions

Load: wrk, HTTP/1.1 keep-alive, chat-completion POSTs (BENCH_BODY bytes
of JSON). Each round runs every configuration at full load (BENCH_SECONDS
each), then 1, 1b, 3, 4, 5 at a fixed rate of half of 5's rate in that round (wrk's delay
hook paces each connection; the achieved rate is printed). Rounds are
interleaved (BENCH_ROUNDS, default 3). Ratios are computed within each
round, then their median is taken.

CPU per request: user+system time of the gateway (HAProxy or node) and of
the agent, from /proc/PID/stat, over the requests wrk completed.

Instructions per request (load-independent; the machine is shared and has
no hardware counters for perf): after the rounds, every HAProxy-based
configuration is started again with HAProxy and its agent under
valgrind --tool=callgrind, warmed up with BENCH_INSTR_WARMUP requests,
its counters zeroed, driven with exactly BENCH_INSTR_REQS requests
(h2load --h1, 4 connections, the same POSTs), and dumped: instructions
executed (Ir) by HAProxy and by the agent, divided by the requests.
BENCH_INSTR=0 skips this phase.

Memory: HAProxy's RSS on 5, idle and with BENCH_STREAMS (1000) streamed
completions open at once, each past its first event.

Environment: BENCH_ROUNDS (3), BENCH_SECONDS (5), BENCH_CONNS (32),
ACK_SERVER (another ACK-only agent binary),
BENCH_BODY (2048), BENCH_JSON (output file, default
build/bench-haproxy.json), BENCH_SMOKE=1 (one short round, every
configuration, a few requests each: checks that everything works),
BENCH_ONLY (comma-separated configuration names), HAPROXY (binary; 3.0
or 3.2 from the cached Debian root filesystems:
HAPROXY=$(python3 tests/lib/rootfs.py haproxy trixie|sid)),
BENCH_SHIPPED_CFG (another configuration in place of 5, to try changes),
BENCH_NBTHREAD (HAProxy threads of 1-4 and floors; default HAProxy's, one
per CPU), BENCH_INSTR (1), BENCH_INSTR_REQS (2000), BENCH_INSTR_WARMUP
(300), BENCH_CALLGRIND_DIR (keep the callgrind dumps there, for
callgrind_annotate: the last dump of each process covers exactly the
counted requests), BENCH_LOG_DIR (keep every process's output there).
"""
import json
import os
import re
import selectors
import signal
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))

import harness  # noqa: E402
import labenv  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import table  # noqa: E402  (the agent benchmark's table)

BUILD = os.path.join(ROOT, "build")
AGENT = os.environ.get("AOAI_SPOA") or os.path.join(BUILD, "aoai-spoa")
MOCK = os.environ.get("MOCK_AOAI") or os.path.join(BUILD, "mock-aoai")
ACK = os.environ.get("ACK_SERVER") or os.path.join(BUILD, "bench",
                                                   "ack-server")
HAPROXY = os.environ.get("HAPROXY", "/usr/sbin/haproxy")
PORTKEY_DIR = os.path.join(ROOT, "tests", "bench", "portkey")
PORTKEY_JS = os.path.join(PORTKEY_DIR, "node_modules", "@portkey-ai",
                          "gateway", "build", "start-server.js")
LAB_CFG = os.environ.get("BENCH_SHIPPED_CFG") or os.path.join(
    ROOT, "haproxy-conf", "lab", "haproxy.cfg")
LAB_YAML = os.path.join(ROOT, "haproxy-conf", "lab", "aoai-spoa.yaml")
SPOE_CONF = os.path.join(ROOT, "haproxy-conf", "aoai-spoe.conf")
SWRR_LUA = os.path.join(ROOT, "tests", "bench", "swrr.lua")

SMOKE = os.environ.get("BENCH_SMOKE") == "1"
ROUNDS = 1 if SMOKE else max(1, int(os.environ.get("BENCH_ROUNDS", "3")))
SECONDS = 1 if SMOKE else max(1, int(os.environ.get("BENCH_SECONDS", "5")))
CONNS = 4 if SMOKE else max(2, int(os.environ.get("BENCH_CONNS", "32")))
BODY = max(64, int(os.environ.get("BENCH_BODY", "2048")))
# HAProxy threads of configurations 1-4 ("" = HAProxy's default, one per
# CPU, as the lab configuration of 5 has it)
NBTHREAD = os.environ.get("BENCH_NBTHREAD", "")
STREAMS = 20 if SMOKE else int(os.environ.get("BENCH_STREAMS", "1000"))
JSON_OUT = os.environ.get("BENCH_JSON") or os.path.join(
    BUILD, "bench-haproxy.json")
REGIONS = ("eastus", "swedencentral", "westus-payg")
WEIGHTS = {"eastus": 2, "swedencentral": 1, "westus-payg": 1}
CONFIGS = ("plain", "floor1", "floor2", "floor3", "lua", "spoe-ack",
           "spoe-agent", "shipped-ack", "shipped", "shipped2", "portkey")
# the numbers the issue and the README use for each configuration
LABEL = {"plain": "1", "floor1": "1a", "floor3": "1b", "floor2": "1c",
         "lua": "2", "spoe-ack": "3", "shipped-ack": "3b", "spoe-agent": "4",
         "shipped": "5", "shipped2": "5b", "portkey": "6"}
FIXED = ("plain", "floor3", "spoe-ack", "spoe-agent", "shipped")
INSTR = os.environ.get("BENCH_INSTR", "1") != "0"
PERF_REQS = 100 if SMOKE else 5000
KEEP_CG = os.environ.get("BENCH_CALLGRIND_DIR")
KEEP_LOGS = os.environ.get("BENCH_LOG_DIR")
NO_REP_STRINGS = ("glibc.cpu.x86_rep_movsb_threshold=4294967295:"
                  "glibc.cpu.x86_rep_stosb_threshold=4294967295")
INSTR_REQS = 100 if SMOKE else max(
    100, int(os.environ.get("BENCH_INSTR_REQS", "2000")))
INSTR_WARMUP = 20 if SMOKE else max(
    0, int(os.environ.get("BENCH_INSTR_WARMUP", "300")))
# a smoke run checks that the phase works on two configurations only
INSTR_CONFIGS = ("plain", "shipped") if SMOKE else tuple(
    c for c in CONFIGS if c != "portkey")
CLK_TCK = os.sysconf("SC_CLK_TCK")
PATH = labenv.chat_path()


def chat_body(size):
    """A chat-completion request of about <size> bytes of JSON."""
    msg = {"messages": [{"role": "system",
                         "content": "You are a helpful assistant."},
                        {"role": "user", "content": ""}],
           "max_tokens": 16, "temperature": 0}
    base = len(json.dumps(msg))
    msg["messages"][1]["content"] = ("lorem ipsum " * size)[:max(
        1, size - base)]
    return json.dumps(msg)


# ---- processes ------------------------------------------------------------

def cpu_seconds(pids):
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total / CLK_TCK


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def wait_http(url, timeout, proc=None, headers=None, data=None):
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            break
        try:
            req = urllib.request.Request(url, data=data,
                                         headers=headers or {})
            with urllib.request.urlopen(req, timeout=2) as r:
                if r.status < 500:
                    return True
        except urllib.error.HTTPError as e:
            last = e
            if e.code < 500 and e.code != 404:
                return True
        except OSError as e:
            last = e
        time.sleep(0.1)
    raise RuntimeError("%s not ready: %s" % (url, last))


class Setup:
    """Every process of the benchmark, started once, stopped by Procs."""

    def __init__(self, procs, valgrind=False):
        self.p = procs
        self.vg = valgrind  # HAProxy and the agents under callgrind
        self.mocks = {}
        self.gw = {}       # config -> (port, [gateway pids], [agent pids])
        self.mock_pids = []
        self.wait = 90 if valgrind else 15
        self.cg_name = {}   # pid -> the name its callgrind dumps carry

    def prefix(self, name):
        """The command prefix running <name> under callgrind, or []. The
        HAProxy of another Debian is a script exec'ing its loader: the
        child is followed."""
        if not self.vg:
            return []
        # glibc copies large blocks with "rep movsb", which callgrind counts
        # once per byte: the 128 KB retry-buffer copy alone would count
        # 131,072 instructions. Vector copies count about what they cost.
        return ["env", "GLIBC_TUNABLES=" + NO_REP_STRINGS,
                "valgrind", "-q", "--tool=callgrind", "--trace-children=yes",
                "--dump-instr=no", "--callgrind-out-file=%s"
                % self.p.path("cg-%s.%%p" % name)]

    def start_mocks(self):
        for name in REGIONS:
            pf = self.p.path("mock-%s.port" % name)
            proc = self.p.start([MOCK, "--region", name, "--port", "0",
                                 "--port-file", pf],
                                log_name="mock-%s.log" % name)
            ok = harness.wait_until(lambda: os.path.exists(pf) and open(
                pf).read().strip() not in ("", "0"), 10)
            if not ok:
                raise RuntimeError("mock %s: %s" % (name,
                                                    harness.read_log(proc)))
            self.mocks[name] = int(open(pf).read().strip())
            self.mock_pids.append(proc.pid)

    def haproxy(self, name, cfg_text=None, cfg_path=None, env=None,
                opts=()):
        if cfg_text is not None:
            cfg_path = self.p.write("%s.cfg" % name, cfg_text)
        argv = self.prefix(name) + [HAPROXY, "-db"] + list(opts) + [
            "-f", cfg_path]
        chk = subprocess.run([HAPROXY, "-c", "-q", "-f", cfg_path],
                             env=env, cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)
        if chk.returncode != 0:
            raise RuntimeError("%s: haproxy -c: %s" % (
                name, chk.stdout.decode("utf-8", "replace")))
        h = self.p.start(argv, log_name="%s.log" % name, env=env, cwd=ROOT)
        self.cg_name[h.pid] = name
        return h

    def agent(self, name, yaml_text):
        path = self.p.write("%s.yaml" % name, yaml_text)
        a = self.p.start(self.prefix(name) + [AGENT, "-f", path],
                         log_name="%s.log" % name)
        self.cg_name[a.pid] = name
        return a

    def ack_server(self, name, port):
        a = self.p.start(self.prefix(name) + [ACK, str(port)],
                         log_name="%s.log" % name)
        self.cg_name[a.pid] = name
        if not harness.wait_port(port, self.wait, a):
            raise RuntimeError("ack-server: %s" % harness.read_log(a))
        return a

    def servers(self, extra=""):
        return "\n".join(
            "    server %s 127.0.0.1:%d weight %d%s"
            % (r, self.mocks[r], WEIGHTS[r], extra) for r in REGIONS)

    def simple_cfg(self, port, backend_rules, extra_global="",
                   extra_sections=""):
        return """global
    maxconn 4096
{nbthread}    stats socket "{dir}/{port}.sock" mode 600 level admin
{extra_global}
defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    timeout http-keep-alive 10s

frontend fe
    bind 127.0.0.1:{port}
    default_backend regions

backend regions
    balance roundrobin
{rules}
{servers}
{extra_sections}
""".format(dir=self.p.dir, port=port, extra_global=extra_global,
           nbthread="    nbthread %d\n" % int(NBTHREAD) if NBTHREAD else "",
           rules=backend_rules, servers=self.servers(),
           extra_sections=extra_sections)

    def floor_cfg(self, port, passes):
        """Plain roundrobin with the shipped configuration's tuning and
        retries, through <passes> HTTP passes: the frontend/backend, then
        one abns@ listen per region and pass, the last one connecting to
        the region. No SPOE, no rules, no logs, no health checks."""
        def addr(k, r):  # where pass <k> of region <r> is reached
            if k > passes:
                return "127.0.0.1:%d" % self.mocks[r]
            return "abns@bench-%d-p%d-%s" % (port, k, r)
        hops = "".join("""
listen p{k}-{r}
    bind {me}
    server {r} {nxt}
""".format(k=k, r=r, me=addr(k, r), nxt=addr(k + 1, r))
                       for k in range(2, passes + 1) for r in REGIONS)
        return """global
    maxconn 4096
    tune.bufsize 131072
{nbthread}    stats socket "{dir}/{port}.sock" mode 600 level admin

defaults
    mode http
    option http-no-delay
    http-reuse always
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    timeout http-keep-alive 10s

frontend fe
    bind 127.0.0.1:{port}
    option http-buffer-request
    default_backend regions

backend regions
    balance roundrobin
    retry-on 500 502 503 504 conn-failure empty-response response-timeout
    retries 3
    option redispatch 1
{servers}
{hops}""".format(dir=self.p.dir, port=port, hops=hops,
                 nbthread="    nbthread %d\n" % int(NBTHREAD) if NBTHREAD
                 else "",
                 servers="\n".join("    server %s %s weight %d" % (
                     r, addr(2, r), WEIGHTS[r]) for r in REGIONS))

    def start(self, wanted):
        self.start_mocks()
        agent_backend = """
backend aoai-spoa
    mode tcp
    balance roundrobin
    option spop-check
    timeout connect 500ms
    timeout server 60s
    timeout check 500ms
    server agent 127.0.0.1:{port} check inter 1s fastinter 250ms fall 2 rise 2
"""
        spoe_rules = """    http-request set-var(txn.aoai_pool) str(chat)
    filter spoe engine aoai config "%s"
    use-server "%%[var(txn.aoai.backend)]" if { var(txn.aoai.backend) -m found }""" % SPOE_CONF

        if "plain" in wanted:
            port = harness.free_port()
            h = self.haproxy("plain", self.simple_cfg(port, ""))
            self.gw["plain"] = (port, [h], [])
        for name, passes in (("floor1", 1), ("floor2", 2), ("floor3", 3)):
            if name in wanted:
                port = harness.free_port()
                h = self.haproxy(name, self.floor_cfg(port, passes),
                                 opts=labenv.HAPROXY_RUN_OPTS)
                self.gw[name] = (port, [h], [])
        if "lua" in wanted:
            port = harness.free_port()
            rules = """    http-request lua.swrr
    use-server "%[var(txn.swrr)]" if { var(txn.swrr) -m found }"""
            h = self.haproxy("lua", self.simple_cfg(
                port, rules, '    lua-load "%s"' % SWRR_LUA))
            self.gw["lua"] = (port, [h], [])
        if "spoe-ack" in wanted:
            port, aport = harness.free_port(), harness.free_port()
            a = self.ack_server("ack", aport)
            h = self.haproxy("spoe-ack", self.simple_cfg(
                port, spoe_rules,
                extra_sections=agent_backend.format(port=aport)))
            self.gw["spoe-ack"] = (port, [h], [a])
        if "spoe-agent" in wanted:
            port, aport = harness.free_port(), harness.free_port()
            y = harness.agent_yaml(aport, log_level="warning")
            y = y.replace("priority: 2, weight: 1", "priority: 1, weight: 1")
            y = y.replace("priority: 1, weight: 3", "priority: 1, weight: 2")
            a = self.agent("agent-route", y)
            if not harness.wait_port(aport, self.wait, a):
                raise RuntimeError("agent: %s" % harness.read_log(a))
            h = self.haproxy("spoe-agent", self.simple_cfg(
                port, spoe_rules,
                extra_sections=agent_backend.format(port=aport)))
            self.gw["spoe-agent"] = (port, [h], [a])
        if "shipped-ack" in wanted:
            self.start_shipped("shipped-ack", ack=True)
        if "shipped" in wanted:
            self.start_shipped("shipped")
        if "shipped2" in wanted:
            self.start_shipped("shipped2", cfg_path=self.p.write(
                "shipped2.cfg", two_pass_cfg(LAB_CFG)))
        if "portkey" in wanted:
            self.start_portkey()
        for name, (port, gws, agents) in self.gw.items():
            if not harness.wait_port(port, self.wait, gws[0]):
                raise RuntimeError("%s: %s" % (name,
                                               harness.read_log(gws[0])))
        # every configuration answers one request before any load
        for name in self.gw:
            st, body = one_request(self, name)
            if st != 200:
                raise RuntimeError("%s: first request answered %d: %s"
                                   % (name, st, body[:300]))

    def start_shipped(self, name, ack=False, cfg_path=LAB_CFG):
        """The lab configuration as shipped, with the lab agent YAML (or the
        ACK-only agent: <ack>); every AOAI_*_PORT variable it names gets a
        free port."""
        d = self.p.path(name)
        os.makedirs(d, exist_ok=True)
        port, aport = harness.free_port(), harness.free_port()
        keys = self.p.write("%s/keys.map" % name, "".join(
            "%s bench-key-%s\n" % (r, r) for r in REGIONS))
        clients = self.p.write("%s/clients.map" % name,
                               "bench-gw-key bench\n")
        os.chmod(keys, 0o600)
        os.chmod(clients, 0o600)
        env = dict(os.environ)
        with open(cfg_path) as f:
            cfg = f.read()
        for var in sorted(set(re.findall(r"\$\{(AOAI_[A-Z0-9_]+_PORT)-",
                                         cfg))):
            env[var] = str(harness.free_port())
        env.update({"AOAI_LAB_DIR": d, "AOAI_FE_PORT": str(port),
                    "AOAI_AGENT_ADDR": "127.0.0.1:%d" % aport,
                    "AOAI_SPOE_CONF": SPOE_CONF, "AOAI_KEYS_MAP": keys,
                    "AOAI_CLIENTS_MAP": clients})
        for r in REGIONS:
            env["AOAI_%s_ADDR" % labenv.env_name(r)] = "127.0.0.1:%d" % (
                self.mocks[r])
        if ack:
            a = self.ack_server("ack-" + name, aport)
        else:
            with open(LAB_YAML) as f:
                y = f.read()
            y = (y.replace(labenv.YAML_AGENT, "127.0.0.1:%d" % aport)
                 .replace(labenv.YAML_METRICS, "127.0.0.1:%d"
                          % harness.free_port())
                 .replace(labenv.YAML_CONTROL_TCP, "127.0.0.1:%d"
                          % harness.free_port())
                 .replace(labenv.YAML_DIR, d + "/")
                 .replace("log_level: info", "log_level: warning"))
            a = self.agent("agent-" + name, y)
            if not harness.wait_port(aport, self.wait, a):
                raise RuntimeError("agent: %s" % harness.read_log(a))
        # run as the lab runs it (labenv.HAPROXY_RUN_OPTS: -dMglobal)
        h = self.haproxy(name, cfg_path=cfg_path, env=env,
                         opts=labenv.HAPROXY_RUN_OPTS)
        self.gw[name] = (port, [h], [a])
        sock = os.path.join(d, "haproxy.sock")

        def ready():
            try:
                out = harness.ask_unix(sock, "show stat")
            except OSError:
                return False
            up = [ln for ln in out.splitlines()
                  if ln.startswith("aoai,") and ",UP," in ln]
            agent_up = any(ln.startswith("aoai-spoa,agent,") and ",UP,"
                           in ln for ln in out.splitlines())
            return len(up) >= len(REGIONS) and agent_up
        if not harness.wait_until(ready, self.wait):
            raise RuntimeError("%s: servers not UP: %s"
                               % (name, harness.read_log(h)[-2000:]))

    def start_portkey(self):
        if not os.path.exists(PORTKEY_JS):
            raise RuntimeError("Portkey is not installed: make "
                               "bench-haproxy-deps (npm ci in %s)"
                               % PORTKEY_DIR)
        port = harness.free_port()
        env = dict(os.environ, NODE_ENV="production")
        n = self.p.start(["node", PORTKEY_JS, "--port=%d" % port,
                          "--headless"], log_name="portkey.log", env=env,
                         cwd=PORTKEY_DIR)
        self.gw["portkey"] = (port, [n], [])
        self.portkey_config = json.dumps({
            "strategy": {"mode": "loadbalance"},
            "targets": [{
                "provider": "azure-openai",
                "api_key": "bench-key-%s" % r,
                "resource_name": r,
                "deployment_id": labenv.DEPLOYMENT,
                "api_version": labenv.API_VERSION,
                "custom_host": "http://127.0.0.1:%d/openai" % self.mocks[r],
                "weight": WEIGHTS[r]} for r in REGIONS]},
            separators=(",", ":"))

    def request_shape(self, name):
        """(path, headers) that configuration expects."""
        if name == "portkey":
            return "/v1/chat/completions", {
                "x-portkey-config": self.portkey_config,
                "content-type": "application/json"}
        headers = {"content-type": "application/json"}
        if name.startswith("shipped"):
            headers["api-key"] = "bench-gw-key"
        return PATH, headers


def two_pass_cfg(path):
    """The lab configuration at <path> with every "listen upstream-<r>"
    folded into "listen region-<r>": the shim's server line is replaced by
    the upstream's rules and server, tracks point at the shim, and the
    upstream's "timeout server" moves to the shim. Raises ValueError when
    the file has not that shape."""
    with open(path) as f:
        text = f.read()
    blocks = re.split(r"\n(?=listen |backend |frontend |defaults |global)",
                      text)
    ups = {}
    for b in blocks:
        m = re.match(r"listen upstream-(\S+) from upstream\n", b)
        if m:
            body = [ln for ln in b.splitlines()[1:]
                    if ln.strip() and not ln.lstrip().startswith(
                        ("bind ", "#"))]
            ups[m.group(1)] = body
    if set(ups) != set(REGIONS):
        raise ValueError("no upstream-<region> listen for each of %s"
                         % ", ".join(REGIONS))
    tmo = re.search(r"defaults upstream\n(?:.*\n)*?\s+(timeout server .*)",
                    text)
    out = []
    for b in blocks:
        if b.startswith("listen upstream-"):
            continue
        m = re.match(r"listen region-(\S+) from region\n", b)
        if m:
            r = m.group(1)
            lines = b.splitlines()
            srv = [i for i, ln in enumerate(lines)
                   if ln.lstrip().startswith("server ")]
            if len(srv) != 1:
                raise ValueError("region-%s: not one server line" % r)
            extra = ["    " + tmo.group(1)] if tmo else []
            lines[srv[0]:srv[0] + 1] = extra + ups[r]
            b = "\n".join(lines) + "\n"
        out.append(b)
    text = "\n".join(out)
    text, n = re.subn(r"track upstream-(\S+)/", r"track region-\1/", text)
    if n == 0:
        raise ValueError("no 'track upstream-<region>/' in backend aoai")
    return text


def one_request(setup, name):
    port = setup.gw[name][0]
    path, headers = setup.request_shape(name)
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path),
                                 data=chat_body(BODY).encode(),
                                 headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")
    except OSError as e:
        return 0, str(e)


# ---- load -------------------------------------------------------------------

WRK_LUA = """
wrk.method = "POST"
wrk.body = %(body)s
%(headers)s
local d = %(delay)d
if d > 0 then
    function delay() return d end
end
"""


def lua_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse_dur(s):
    m = re.match(r"([\d.]+)(us|ms|s|m)", s)
    v = float(m.group(1))
    return v * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[
        m.group(2)]


def run_wrk(setup, name, seconds, delay_ms=0):
    """wrk against one configuration; returns a result dict."""
    port, gws, agents = setup.gw[name]
    path, headers = setup.request_shape(name)
    script = setup.p.write("wrk-%s.lua" % name, WRK_LUA % {
        "body": lua_str(chat_body(BODY)),
        "headers": "\n".join('wrk.headers[%s] = %s' % (lua_str(k),
                                                         lua_str(v))
                             for k, v in headers.items()),
        "delay": delay_ms})
    gw_pids = [p.pid for p in gws]
    ag_pids = [p.pid for p in agents]
    c0 = (cpu_seconds(gw_pids), cpu_seconds(ag_pids),
          cpu_seconds(setup.mock_pids))
    t0 = time.monotonic()
    out = subprocess.run(
        ["wrk", "-t2", "-c%d" % CONNS, "-d%ds" % seconds, "--latency",
         "-s", script, "http://127.0.0.1:%d%s" % (port, path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        timeout=seconds + 60).stdout.decode("utf-8", "replace")
    wall = time.monotonic() - t0
    c1 = (cpu_seconds(gw_pids), cpu_seconds(ag_pids),
          cpu_seconds(setup.mock_pids))
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+),", out)
    if not m:
        raise RuntimeError("%s: wrk output: %s" % (name, out[-800:]))
    reqs = int(m.group(1))
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errs = re.search(r"Socket errors: (.*)", out)
    n = max(reqs, 1)
    return {"config": name, "requests": reqs, "rps": rate,
            "p50_ms": parse_dur(lat["50"]) if "50" in lat else None,
            "p99_ms": parse_dur(lat["99"]) if "99" in lat else None,
            "non_2xx": int(non2xx.group(1)) if non2xx else 0,
            "socket_errors": errs.group(1).strip() if errs else "",
            "gw_cpu_us": (c1[0] - c0[0]) / n * 1e6,
            "agent_cpu_us": (c1[1] - c0[1]) / n * 1e6,
            "gw_agent_cpu_us": ((c1[0] - c0[0]) + (c1[1] - c0[1])) / n * 1e6,
            "mock_cpu_share": (c1[2] - c0[2]) / max(wall, 1e-6) /
            (os.cpu_count() or 1),
            "delay_ms": delay_ms}


# ---- memory per streaming request -------------------------------------------

def stream_rss(setup, n):
    """HAProxy's RSS (shipped configuration) idle, then with <n> streamed
    completions open at once (every one has received its first event);
    returns a dict. The mocks pace their events 2 s apart meanwhile."""
    port, gws, _ = setup.gw["shipped"]
    pid = gws[0].pid
    for r in REGIONS:
        urllib.request.urlopen(urllib.request.Request(
            "http://127.0.0.1:%d/_mock/set?stream_delay_ms=2000"
            % setup.mocks[r], data=b"", method="POST"), timeout=5).read()
    body = json.dumps({"messages": [{"role": "user", "content": "hi"}],
                       "stream": True}).encode()
    req = (("POST %s HTTP/1.1\r\nHost: bench\r\napi-key: bench-gw-key\r\n"
            "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
            % (PATH, len(body))).encode() + body)
    time.sleep(1.0)
    idle = rss_kb(pid)
    sel = selectors.DefaultSelector()
    socks, started = [], 0
    try:
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall(req)
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ)
            socks.append(s)
        seen = set()
        end = time.monotonic() + 20
        while len(seen) < n and time.monotonic() < end:
            for key, _ in sel.select(0.5):
                try:
                    if key.fileobj.recv(65536):
                        seen.add(key.fileobj)
                except OSError:
                    pass
        started = len(seen)
        time.sleep(0.5)
        busy = rss_kb(pid)
    finally:
        for s in socks:
            s.close()
        for r in REGIONS:
            urllib.request.urlopen(urllib.request.Request(
                "http://127.0.0.1:%d/_mock/set?stream_delay_ms=10"
                % setup.mocks[r], data=b"", method="POST"), timeout=5).read()
    return {"streams": n, "started": started, "idle_rss_kb": idle,
            "rss_kb": busy,
            "kb_per_1000": (busy - idle) * 1000.0 / max(started, 1)}


# ---- report -----------------------------------------------------------------

def name(c):
    return "%s %s" % (LABEL[c], c)


def f1(v):
    return "-" if v is None else "%.1f" % v


def f2(v):
    return "-" if v is None else "%.2f" % v


def ratio(a, b):
    if a is None or b is None or not b:
        return None
    return a / b


def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


# (ratio name, numerator, denominator): req/s and CPU ratios per round
RPS_RATIOS = (("5/1", "shipped", "plain"), ("4/3", "spoe-agent", "spoe-ack"),
              ("2/1", "lua", "plain"), ("5/6", "shipped", "portkey"),
              ("1a/1", "floor1", "plain"), ("1c/1", "floor2", "plain"),
              ("1b/1", "floor3", "plain"), ("5/1b", "shipped", "floor3"),
              ("3b/1b", "shipped-ack", "floor3"),
              ("5/3b", "shipped", "shipped-ack"),
              ("5b/1", "shipped2", "plain"), ("5b/5", "shipped2", "shipped"))
CPU_RATIOS = (("cpu 5/1", "shipped", "plain"),
              ("cpu 1b/1", "floor3", "plain"),
              ("cpu 5/1b", "shipped", "floor3"),
              ("cpu 4/3", "spoe-agent", "spoe-ack"))
# instructions per request of HAProxy (one callgrind run, not per round)
IR_RATIOS = (("Ir 5/1", "shipped", "plain"), ("Ir 1a/1", "floor1", "plain"),
             ("Ir 1c/1", "floor2", "plain"), ("Ir 1b/1", "floor3", "plain"),
             ("Ir 1b/1a", "floor3", "floor1"),
             ("Ir 3b/1b", "shipped-ack", "floor3"),
             ("Ir 5/3b", "shipped", "shipped-ack"),
             ("Ir 5/1b", "shipped", "floor3"), ("Ir 3/1", "spoe-ack", "plain"),
             ("Ir 5b/1", "shipped2", "plain"), ("Ir 5b/5", "shipped2", "shipped"),
             ("Ir 4/3", "spoe-agent", "spoe-ack"), ("Ir 2/1", "lua", "plain"))


def round_ratios(full, fixed):
    def get(c, k, d=full):
        return d[c][k] if c in d else None
    r = {}
    for k, a, b in RPS_RATIOS:
        r[k] = ratio(get(a, "rps"), get(b, "rps"))
    for k, a, b in CPU_RATIOS:
        r[k] = ratio(get(a, "gw_cpu_us"), get(b, "gw_cpu_us"))
    r["p99 6/5"] = ratio(get("portkey", "p99_ms"), get("shipped", "p99_ms"))
    for k, a, b in (("+p50 5-1", "shipped", "plain"),
                    ("+p99 5-1", "shipped", "plain"),
                    ("+p99 4-3", "spoe-agent", "spoe-ack")):
        key = "p50_ms" if "p50" in k else "p99_ms"
        va, vb = get(a, key, fixed), get(b, key, fixed)
        r[k] = None if va is None or vb is None else va - vb
    return r


# ---- instructions per request (callgrind) ----------------------------------

def callgrind_total(setup, proc):
    """Ir in the newest callgrind dump of <proc>."""
    name, pid = setup.cg_name[proc.pid], proc.pid
    prefix = setup.p.path("cg-%s.%d." % (name, pid))
    dumps = [f for f in os.listdir(setup.p.dir)
             if os.path.join(setup.p.dir, f).startswith(prefix)]
    if not dumps:
        raise RuntimeError("%s: no callgrind dump for pid %d" % (name, pid))
    last = max(dumps, key=lambda f: int(f.rsplit(".", 1)[1]))
    with open(os.path.join(setup.p.dir, last)) as f:
        for line in f:
            if line.startswith("totals:") or line.startswith("summary:"):
                return int(line.split()[1])
    raise RuntimeError("%s: no totals in %s" % (name, last))


def h2load(setup, name, n):
    """Exactly <n> requests (4 connections, keep-alive); returns (done,
    2xx)."""
    port = setup.gw[name][0]
    path, headers = setup.request_shape(name)
    body = setup.p.write("h2load-body.json", chat_body(BODY))
    argv = ["h2load", "--h1", "-n", str(n), "-c", "4", "-t", "1", "-d", body]
    for k, v in headers.items():
        argv += ["-H", "%s: %s" % (k, v)]
    out = subprocess.run(argv + ["http://127.0.0.1:%d%s" % (port, path)],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         timeout=900).stdout.decode("utf-8", "replace")
    done = re.search(r"requests: \d+ total, \d+ started, (\d+) done", out)
    ok = re.search(r"status codes: (\d+) 2xx", out)
    if not done or not ok:
        raise RuntimeError("%s: h2load output: %s" % (name, out[-800:]))
    return int(done.group(1)), int(ok.group(1))


def count_instructions(setup, name):
    """HAProxy's and the agent's instructions per request on <name>."""
    port, gws, agents = setup.gw[name]
    h2load(setup, name, INSTR_WARMUP)
    pids = [p.pid for p in gws + agents]
    for pid in pids:
        subprocess.run(["callgrind_control", "-z", str(pid)],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=True, timeout=60)
    done, ok = h2load(setup, name, INSTR_REQS)
    for pid in pids:
        subprocess.run(["callgrind_control", "-d", str(pid)],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=True, timeout=60)
    n = max(done, 1)
    gw_ir = sum(callgrind_total(setup, p) for p in gws)
    ag_ir = sum(callgrind_total(setup, p) for p in agents)
    return {"config": name, "requests": done, "ok_2xx": ok,
            "gw_ir": gw_ir / n, "agent_ir": ag_ir / n}


def perf_counts(setup, name, n):
    """System calls, page faults and context switches per request of the
    gateway and of the agent on <name> (perf stat on tracepoints and
    software events, which need no hardware counters), over exactly <n>
    requests; None when perf cannot count."""
    port, gws, agents = setup.gw[name]
    events = "raw_syscalls:sys_enter,page-faults,context-switches"
    runs = []
    for who, ps in (("gw", gws), ("agent", agents)):
        if not ps:
            continue
        out = setup.p.path("perf-%s-%s.csv" % (name, who))
        pr = setup.p.start(["perf", "stat", "-x,", "-e", events, "-o", out,
                            "-p", ",".join(str(p.pid) for p in ps)],
                           log_name="perf-%s-%s.log" % (name, who))
        runs.append((who, pr, out))
    time.sleep(0.5)  # perf attached
    done, ok = h2load(setup, name, n)
    res = {"requests": done, "ok_2xx": ok}
    for who, pr, out in runs:
        setup.p.stop(pr, signal.SIGINT)
        try:
            with open(out) as f:
                rows = [ln.split(",") for ln in f if "," in ln]
        except OSError:
            return None
        vals = {r[2]: r[0] for r in rows if len(r) > 2}
        for ev, key in (("raw_syscalls:sys_enter", "syscalls"),
                        ("page-faults", "faults"),
                        ("context-switches", "cswitches")):
            v = vals.get(ev, "")
            if not v.isdigit():
                return None
            res["%s_%s" % (who, key)] = int(v) / max(done, 1)
    return res


def instructions_phase(wanted):
    """Every HAProxy-based configuration of <wanted> again, under
    callgrind; returns {config: result}."""
    res = {}
    with harness.Procs() as procs:
        setup = Setup(procs, valgrind=True)
        setup.start([c for c in wanted if c in INSTR_CONFIGS])
        for c in INSTR_CONFIGS:
            if c in setup.gw:
                res[c] = count_instructions(setup, c)
        if KEEP_CG:
            os.makedirs(KEEP_CG, exist_ok=True)
            for f in os.listdir(procs.dir):
                if f.startswith("cg-"):
                    shutil.copy(os.path.join(procs.dir, f), KEEP_CG)
    return res


def main():
    wanted = [c for c in (os.environ.get("BENCH_ONLY") or ",".join(
        CONFIGS)).split(",") if c]
    for c in wanted:
        if c not in CONFIGS:
            print("BENCH_ONLY: unknown configuration %r (%s)"
                  % (c, ", ".join(CONFIGS)))
            return 2
    for tool, pkg, needed in (("wrk", "wrk", True),
                              ("h2load", "nghttp2-client", True),
                              ("valgrind", "valgrind", INSTR),
                              ("callgrind_control", "valgrind", INSTR)):
        if needed and not shutil.which(tool):
            print("bench-haproxy: %s is missing (apt-get install %s)"
                  % (tool, pkg))
            return 2
    if "shipped2" in wanted:
        try:
            two_pass_cfg(LAB_CFG)
        except (OSError, ValueError) as e:
            print("shipped2 skipped: %s does not fold: %s" % (LAB_CFG, e))
            wanted.remove("shipped2")
    harness.raise_nofile(16384)
    load = os.getloadavg()
    hv = subprocess.run([HAPROXY, "-v"], stdout=subprocess.PIPE).stdout
    hv = hv.decode().splitlines()[0] if hv else "?"
    print("make bench-haproxy: %s; %d rounds x %d s, %d connections, "
          "%d-byte chat POSTs; load average %.2f %.2f %.2f"
          % (hv, ROUNDS, SECONDS, CONNS, BODY, load[0], load[1], load[2]))
    if SMOKE:
        print("  smoke mode: one short round, numbers meaningless")
    results = {"haproxy": hv, "rounds": [], "smoke": SMOKE,
               "seconds": SECONDS, "connections": CONNS, "body": BODY,
               "loadavg": load}
    with harness.Procs() as procs:
        setup = Setup(procs)
        setup.start(wanted)
        for rnd in range(ROUNDS):
            full, fixed = {}, {}
            for c in wanted:
                full[c] = run_wrk(setup, c, SECONDS)
            # fixed rate: half of the shipped topology's rate this round
            base = full.get("shipped") or full[wanted[0]]
            target = max(base["rps"] / 2, 50.0)
            delay = max(1, int(round(CONNS * 1000.0 / target)))
            for c in FIXED:
                if c in wanted:
                    fixed[c] = run_wrk(setup, c, SECONDS, delay)
            rr = round_ratios(full, fixed)
            results["rounds"].append({"full": full, "fixed": fixed,
                                      "target_rps": target,
                                      "ratios": rr})
            table("round %d: full load" % (rnd + 1),
                  ("config", "req/s", "p50 ms", "p99 ms", "gw+agent us/req",
                   "gw us/req", "mocks cpu", "non-2xx", "errors"),
                  [(name(c), "%.0f" % r["rps"], f2(r["p50_ms"]),
                    f2(r["p99_ms"]), f1(r["gw_agent_cpu_us"]),
                    f1(r["gw_cpu_us"]),
                    "%.0f%%" % (100 * r["mock_cpu_share"]), r["non_2xx"],
                    r["socket_errors"] or "-")
                   for c, r in full.items()])
            table("round %d: fixed rate, about %.0f req/s (half of %s)"
                  % (rnd + 1, target, base["config"]),
                  ("config", "req/s", "p50 ms", "p99 ms", "non-2xx"),
                  [(name(c), "%.0f" % r["rps"], f2(r["p50_ms"]),
                    f2(r["p99_ms"]), r["non_2xx"])
                   for c, r in fixed.items()])
            print("  ratios: " + ", ".join("%s %s" % (k, f2(v))
                                            for k, v in rr.items()))
        if not shutil.which("perf"):
            print("\nperf stat cannot count here: perf is not installed")
        else:
            sysc = {}
            for c in wanted:
                if c == "portkey":
                    continue
                r = perf_counts(setup, c, PERF_REQS)
                if r is None:
                    print("\nperf stat cannot count here: no system call "
                          "figures")
                    sysc = {}
                    break
                sysc[c] = r
            if sysc:
                results["syscalls"] = sysc
                table("per request, %d requests (perf stat: tracepoints "
                      "and software events)" % PERF_REQS,
                      ("config", "HAProxy syscalls", "faults", "cswitch",
                       "agent syscalls", "2xx"),
                      [(name(c), f1(r["gw_syscalls"]), f2(r["gw_faults"]),
                        f2(r["gw_cswitches"]), f1(r.get("agent_syscalls")),
                        r["ok_2xx"]) for c, r in sysc.items()])
        if KEEP_LOGS:
            os.makedirs(KEEP_LOGS, exist_ok=True)
            for f in os.listdir(procs.dir):
                if f.endswith(".log"):
                    shutil.copy(os.path.join(procs.dir, f), KEEP_LOGS)
        # memory after the run (idle), per gateway process
        results["rss_kb"] = {c: rss_kb(g[1][0].pid)
                             for c, g in setup.gw.items()}
        if "shipped" in wanted and STREAMS:
            m = stream_rss(setup, STREAMS)
            results["stream_rss"] = m
            print("\nshipped: HAProxy RSS %.1f MB idle, %.1f MB with %d of %d "
                  "streamed completions open: %.1f MB per 1,000 streams"
                  % (m["idle_rss_kb"] / 1024.0, m["rss_kb"] / 1024.0,
                     m["started"], m["streams"], m["kb_per_1000"] / 1024.0))
    meds = {}
    for c in wanted:
        rows = [r["full"][c] for r in results["rounds"]]
        meds[c] = {k: med([x[k] for x in rows]) for k in
                   ("rps", "p50_ms", "p99_ms", "gw_agent_cpu_us",
                    "gw_cpu_us", "mock_cpu_share")}
    rmed = {k: med([r["ratios"][k] for r in results["rounds"]])
            for k in results["rounds"][0]["ratios"]}
    results["median"] = meds
    results["median_ratios"] = rmed
    table("medians over %d rounds" % ROUNDS,
          ("config", "req/s", "p50 ms", "p99 ms", "gw+agent us/req",
           "gw us/req", "mocks cpu"),
          [(name(c), "%.0f" % m["rps"], f2(m["p50_ms"]), f2(m["p99_ms"]),
            f1(m["gw_agent_cpu_us"]), f1(m["gw_cpu_us"]),
            "%.0f%%" % (100 * (m["mock_cpu_share"] or 0)))
           for c, m in meds.items()])
    instr = {}
    if INSTR:
        print("\ninstructions: every HAProxy configuration again under "
              "callgrind, %d requests each (after %d)"
              % (INSTR_REQS, INSTR_WARMUP))
        sys.stdout.flush()
        instr = instructions_phase(wanted)
        results["instructions"] = instr
        table("instructions per request (callgrind, load-independent)",
              ("config", "HAProxy Ir/req", "agent Ir/req", "x plain",
               "requests", "2xx"),
              [(name(c), "%.0f" % r["gw_ir"], "%.0f" % r["agent_ir"],
                f2(ratio(r["gw_ir"], instr.get("plain", {}).get("gw_ir"))),
                r["requests"], r["ok_2xx"]) for c, r in instr.items()])
        for k, a, b in IR_RATIOS:
            rmed[k] = ratio(instr.get(a, {}).get("gw_ir"),
                            instr.get(b, {}).get("gw_ir"))
        rmed["Ir+agent 4/3"] = ratio(
            sum(instr.get("spoe-agent", {}).get(k, 0) or 0
                for k in ("gw_ir", "agent_ir")) or None,
            sum(instr.get("spoe-ack", {}).get(k, 0) or 0
                for k in ("gw_ir", "agent_ir")) or None)
    goals = (("5/1", ">=", 0.5), ("+p50 5-1", "<=", 1.0),
             ("+p99 5-1", "<=", 5.0), ("4/3", ">=", 0.95),
             ("+p99 4-3", "<=", 1.0), ("5/6", ">=", 30.0),
             ("p99 6/5", ">=", 20.0), ("cpu 5/1", "<=", 3.0),
             ("Ir 5/1", "<=", 3.0), ("2/1", None, None))
    goals += tuple((k, None, None) for k, _, _ in RPS_RATIOS + CPU_RATIOS +
                   IR_RATIOS if k not in [g[0] for g in goals]) + (
                       ("Ir+agent 4/3", None, None),)
    rows = []
    for k, op, goal in goals:
        v = rmed.get(k)
        if v is None:
            verdict = "-"
        elif op is None:
            verdict = "(no goal)"
        else:
            ok = v >= goal if op == ">=" else v <= goal
            verdict = "%s %s: %s" % (op, goal, "met" if ok else "MISSED")
        rows.append((k, f2(v), verdict))
    table("median of the per-round ratios (ms for +p50/+p99 at the fixed "
          "rate; Ir: instructions, one callgrind run); 1 plain, 1a/1c/1b "
          "floor in 1/2/3 passes, 2 lua, 3 spoe-ack, 3b shipped-ack, "
          "4 spoe-agent, 5 shipped, 6 portkey",
          ("ratio", "value", "goal"), rows)
    os.makedirs(os.path.dirname(os.path.abspath(JSON_OUT)), exist_ok=True)
    with open(JSON_OUT, "w") as f:
        json.dump(results, f, indent=1, sort_keys=True)
    print("\nresults: %s" % os.path.relpath(JSON_OUT, ROOT))
    bad = [c for r in results["rounds"] for c, x in r["full"].items()
           if x["requests"] == 0] + [c for c, x in instr.items()
                                     if x["requests"] == 0]
    if bad:
        print("no request completed: %s" % ", ".join(sorted(set(bad))))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
