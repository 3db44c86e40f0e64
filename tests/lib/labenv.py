# SPDX-License-Identifier: Apache-2.0
"""The whole aoai-spoa lab on free loopback ports, in a temporary folder.

Starts three mock Azure OpenAI regions (build/mock-aoai), the agent
(build/aoai-spoa with haproxy-conf/lab/aoai-spoa.yaml) and HAProxy with
haproxy-conf/lab/haproxy.cfg, and stops all of them when the ``with`` block
ends, even on an exception. Standard library only.

    import labenv

    with labenv.Lab(quotas={"eastus": {"rpm": 100}}) as lab:
        c = lab.client()                       # keep-alive HTTP client
        r = c.chat("hello")                    # -> labenv.Response
        r.status, r.headers["x-aoai-backend"], r.json()
        lab.region("eastus").stats()           # mock counters (dict)
        lab.region("eastus").set(throttle_all=1)   # mock fault injection
        lab.kill_agent(); lab.start_agent()    # fail-open experiments
        lab.reload_haproxy()                   # soft reload (-x ... -sf)

Lab(...) arguments (all optional, keyword only):
  regions     list of region names, default REGIONS (eastus, swedencentral,
              westus-payg: the server names in the lab haproxy.cfg)
  quotas      {region: {mock option: value}} passed as command-line options
              to that mock: rpm, tpm, window_ms, latency_ms,
              stream_delay_ms, seed (see build/mock-aoai --help)
  api_keys    {region: key}; default "CANARY-KEY-<region>-<random hex>".
              HAProxy injects the key from a map file (0600) in the lab
              folder; each mock only accepts its own key. leaked_secrets()
              looks for every key in every log.
  bearer      a token every mock also accepts as "Authorization: Bearer"
              (Entra ID pass-through), default None
  agent_yaml  full agent YAML text instead of the shipped lab file (its
              addresses are rewritten the same way, see below)
  agent_edit  function(yaml_text) -> yaml_text applied after loading
  start_agent False: do not start the agent (HAProxy alone, fail-open)
  agent_args  extra command-line arguments for the agent (e.g. ["-d"])
  haproxy_cfg path of the HAProxy configuration (default: the lab one)
  extra_env   more environment variables for HAProxy, e.g.
              {"AOAI_UPSTREAM_TIMEOUT": "1s"} (see lab/haproxy.cfg)
  workdir     use this folder (kept) instead of a fresh temporary one
  keep        keep the temporary folder after stop (for post-mortems)
  mock_verbose  mocks log every request on stderr (their log files)
  client_key  the gateway key clients send in api-key (HAProxy checks it
              against a clients map, then drops it), default
              "CANARY-GW-<random hex>"
  shared_regions  another started Lab whose mock regions (and keys) this
              one uses instead of starting its own (a fleet of nodes in
              front of the same regions: tests/lib/fleetenv.py)

Handles (attributes of a started Lab):
  url            "http://127.0.0.1:PORT", the client-facing frontend
  fe_port        its port
  dir            the lab folder (logs, sockets, rendered configs)
  regions        {name: Region}; region(name) is the same
  agent          the agent's subprocess.Popen (None when not running)
  haproxy        the current HAProxy subprocess.Popen
  agent_port, agent_yaml_path, haproxy_cfg, keys_map
  client_key     the gateway key HAProxy accepts (Client sends it)
  keys_map, clients_map  the map files (region keys; gateway keys)
  stats_socket   HAProxy's runtime API (unix socket path): haproxy_cmd()
  control_socket the agent's control socket (unix path): agent_cmd()
  metrics_port   the agent's /metrics port
  logs           {"haproxy": path, "agent": path, "<region>": path, ...}
  env            the environment HAProxy runs with (AOAI_* variables)

Region handle (one mock):
  name, port, url ("http://127.0.0.1:PORT"), control_url (url + "/_mock"),
  api_key, proc, log_path; set(**kv) -> settings dict (POST /_mock/set,
  e.g. set(fail_status=500, fail_count=20), set(reset=1)), settings(),
  stats() -> dict (requests, bytes_in, throttled, resets, streams,
  connections, tokens, auth_failures, aoai_headers (requests that carried
  an x-aoai-* header), status {"200": n, ...}),
  reset_stats(), stop(), start() (same port, same options).

Lab methods:
  client(timeout=30) -> labhttp.Client on the frontend with the gateway
      key; request(...) / chat(...): one-shot helpers on a fresh Client.
  run_load(n, threads=4, fn=None) -> list of Response or Exception
      (labload.run_load); labenv.Load(lab, ...) is labload.Load.
  kill_agent(sig=SIGKILL), stop_agent(), start_agent(), pause_agent()
      (SIGSTOP), resume_agent() (SIGCONT).
  reload_haproxy(timeout=10) -> new Popen: starts a new HAProxy with the
      same configuration, taking over the listeners (-x stats socket) and
      soft-stopping the old one (-sf). The old process is waited for in
      the background and reaped at stop.
  haproxy_cmd(cmd) -> str: a runtime API command on the stats socket.
  server_state(backend="aoai") -> {server: "UP"/"DOWN"/...} (show stat).
  wait_server(backend, server, state, timeout=10) -> bool.
  agent_cmd(cmd) -> str: one command on the agent's control socket.
  log_text(name) -> str: a log file's content ("haproxy", "agent", region).
  all_logs() -> {name: text} of every log file in the lab folder.
  spoe_lines() -> the "SPOE: [...]" lines of HAProxy's log.
  access_lines() -> HAProxy's access log lines of the client frontend.
  secrets() -> every key of the lab (region keys, gateway key, bearer).
  leaked_secrets() -> [(log file, secret)] for every secret found in any
      *.log file of the lab folder (should be []).
  stop_processes(): every process stopped, logs kept (e.g. to grep them
      complete); stop(): that plus the folder removed (unless keep or
      workdir); the with block calls stop(); both idempotent.

The HTTP client (Client, Response) is labhttp's, the load drivers and
the result helpers (run_load, Load, status_counts, failures, served_by)
labload's; labenv re-exports them.

Every address is on 127.0.0.1; ports come from free_port() or the mocks'
--port 0 --port-file; HAProxy's internal hops are abstract sockets named
after the frontend port. HAProxy runs with HAPROXY_RUN_OPTS (-dMglobal,
as haproxy-conf/README.md asks of production). The environment variables AOAI_SPOA, MOCK_AOAI and
HAPROXY choose the binaries (tests/run.py sets them).
"""
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile

import harness
import labconf
import labload
from labhttp import API_VERSION, DEPLOYMENT, LOCAL  # noqa: F401
from labhttp import Client, Response, chat_path  # noqa: F401
from labload import Load, failures, served_by, status_counts  # noqa: F401

ROOT = os.environ.get("AOAI_ROOT") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
AGENT_BIN = os.environ.get("AOAI_SPOA") or os.path.join(ROOT,
                                                        "build/aoai-spoa")
MOCK_BIN = os.environ.get("MOCK_AOAI") or os.path.join(ROOT,
                                                       "build/mock-aoai")
HAPROXY_BIN = os.environ.get("HAPROXY", "/usr/sbin/haproxy")
# How the shipped topology runs HAProxy (haproxy-conf/README.md, "Speed"):
# -dMglobal keeps released buffers in HAProxy's own pools instead of
# handing them back to malloc, which trims and page-faults them in again:
# measured on 2.6, ~6 page faults and about half of HAProxy's CPU per
# request with 128 KB buffers.
HAPROXY_RUN_OPTS = ["-dMglobal"]
LAB_CFG = os.path.join(ROOT, "haproxy-conf/lab/haproxy.cfg")
LAB_YAML = os.path.join(ROOT, "haproxy-conf/lab/aoai-spoa.yaml")
SPOE_CONF = os.path.join(ROOT, "haproxy-conf/aoai-spoe.conf")

REGIONS = ("eastus", "swedencentral", "westus-payg")

# Addresses in the shipped lab YAML that the lab replaces (labconf).
YAML_AGENT = labconf.SHIPPED["agent"]
YAML_METRICS = labconf.SHIPPED["metrics"]
YAML_CONTROL_TCP = labconf.SHIPPED["control_tcp"]
YAML_DIR = labconf.SHIPPED["dir"]


# The lab uses the harness's helpers (one copy of each).
free_port = harness.free_port
wait_port = harness.wait_port


def wait_until(pred, timeout=10.0, step=0.05):
    """Polls pred() until it is true or <timeout> seconds passed."""
    return harness.wait_until(pred, timeout, step)


def env_name(region):
    """AOAI_<REGION> prefix of a region's environment variables."""
    return re.sub(r"[^A-Za-z0-9]", "_", region).upper()


class LabError(RuntimeError):
    pass


# ---- one mock region -----------------------------------------------------

class Region:
    """One build/mock-aoai process (a region)."""

    def __init__(self, lab, name, api_key, options, bearer=None):
        self.lab = lab
        self.name = name
        self.api_key = api_key
        self.options = dict(options or {})
        self.bearer = bearer
        self.port = 0
        self.proc = None
        self.log_path = os.path.join(lab.dir, "mock-%s.log" % name)
        self.key_file = os.path.join(lab.dir, "mock-%s.key" % name)

    @property
    def url(self):
        return "http://%s:%d" % (LOCAL, self.port)

    @property
    def control_url(self):
        return self.url + "/_mock"

    @property
    def addr(self):
        return "%s:%d" % (LOCAL, self.port)

    def start(self):
        with open(self.key_file, "w") as f:
            f.write(self.api_key + "\n")
        os.chmod(self.key_file, 0o600)
        port_file = os.path.join(self.lab.dir, "mock-%s.port" % self.name)
        if os.path.exists(port_file):
            os.unlink(port_file)
        argv = [MOCK_BIN, "--region", self.name, "--port", str(self.port),
                "--port-file", port_file, "--api-key-file", self.key_file]
        if self.bearer:
            argv += ["--bearer", self.bearer]
        for k, v in sorted(self.options.items()):
            argv += ["--" + k.replace("_", "-"), str(v)]
        if self.lab.mock_verbose:
            argv.append("-v")
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.lab._procs.append(self.proc)

        def ready():
            try:
                with open(port_file) as f:
                    return int(f.read().strip() or 0) > 0
            except (OSError, ValueError):
                return False
        if not wait_until(ready, 10) or self.proc.poll() is not None:
            raise LabError("mock %s did not start: %s"
                           % (self.name, self.lab.log_text(self.name)))
        with open(port_file) as f:
            self.port = int(f.read().strip())
        if not wait_port(self.port, 10, self.proc):
            raise LabError("mock %s not listening" % self.name)

    def stop(self, sig=signal.SIGTERM):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def _ctl(self, method, path, timeout=5.0):
        conn = http.client.HTTPConnection(LOCAL, self.port, timeout=timeout)
        try:
            conn.request(method, "/_mock/" + path)
            r = conn.getresponse()
            data = r.read()
            if r.status != 200:
                raise LabError("mock %s %s %s: %d %s" % (
                    self.name, method, path, r.status, data[:200]))
            return json.loads(data) if data[:1] == b"{" else data
        finally:
            conn.close()

    def set(self, **kv):
        """POST /_mock/set?k=v&...; returns the settings in force."""
        q = "&".join("%s=%s" % (k, v) for k, v in kv.items())
        return self._ctl("POST", "set?" + q)

    def settings(self):
        return self._ctl("GET", "settings")

    def stats(self):
        return self._ctl("GET", "stats")

    def reset_stats(self):
        return self._ctl("POST", "stats/reset")

    def status_count(self, code, stats=None):
        st = stats if stats is not None else self.stats()
        return int(st.get("status", {}).get(str(code), 0))


# ---- the lab -------------------------------------------------------------

class Lab:
    """See the module docstring."""

    def __init__(self, regions=REGIONS, quotas=None, api_keys=None,
                 bearer=None, agent_yaml=None, agent_edit=None,
                 start_agent=True, agent_args=(), haproxy_cfg=None,
                 extra_env=None, workdir=None, keep=False,
                 mock_verbose=False, client_key=None, shared_regions=None):
        self.region_names = list(regions)
        self.quotas = quotas or {}
        self.api_keys = dict(api_keys or {})
        self.bearer = bearer
        self.agent_yaml_text = agent_yaml
        self.agent_edit = agent_edit
        self.want_agent = start_agent
        self.agent_args = list(agent_args)
        self.haproxy_cfg = haproxy_cfg or LAB_CFG
        self.extra_env = dict(extra_env or {})
        self.keep = keep or bool(workdir)
        self.mock_verbose = mock_verbose
        self.shared_regions = shared_regions
        self._tmp = None
        if workdir:
            os.makedirs(workdir, exist_ok=True)
            self.dir = os.path.abspath(workdir)
        else:
            self.dir = tempfile.mkdtemp(prefix="aoai-lab-")
        self._procs = []
        self._old_haproxy = []
        self._stopped = False
        self.regions = {}
        self.agent = None
        self.haproxy = None
        self.fe_port = 0
        self.agent_port = 0
        self.metrics_port = 0
        self.control_tcp_port = 0
        self.stats_socket = os.path.join(self.dir, "haproxy.sock")
        self.control_socket = os.path.join(self.dir, "control.sock")
        self.keys_map = os.path.join(self.dir, "aoai-keys.map")
        self.clients_map = os.path.join(self.dir, "aoai-clients.map")
        self.client_key = client_key or "CANARY-GW-%s" % os.urandom(6).hex()
        self.agent_yaml_path = os.path.join(self.dir, "aoai-spoa.yaml")
        self.logs = {"haproxy": os.path.join(self.dir, "haproxy.log"),
                     "agent": os.path.join(self.dir, "agent.log")}
        self.env = {}

    # -- lifecycle --

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    @property
    def url(self):
        return "http://%s:%d" % (LOCAL, self.fe_port)

    def region(self, name):
        return self.regions[name]

    def start(self):
        for name in self.region_names:
            if self.shared_regions is not None:
                self.regions[name] = self.shared_regions.regions[name]
                self.api_keys[name] = self.shared_regions.api_keys[name]
                self.logs[name] = self.regions[name].log_path
                continue
            key = self.api_keys.get(name) or "CANARY-KEY-%s-%s" % (
                name, os.urandom(6).hex())
            self.api_keys[name] = key
            r = Region(self, name, key, self.quotas.get(name),
                       self.bearer)
            r.start()
            self.regions[name] = r
            self.logs[name] = r.log_path
        labconf.write_private(self.keys_map, [
            (name, self.api_keys[name]) for name in self.region_names])
        labconf.write_private(self.clients_map,
                              [(self.client_key, "lab-client")])
        self.fe_port = free_port()
        self.agent_port = free_port()
        self.metrics_port = free_port()
        self.control_tcp_port = free_port()
        self.env = dict(os.environ)
        self.env.update({
            "AOAI_LAB_DIR": self.dir,
            "AOAI_FE_PORT": str(self.fe_port),
            "AOAI_AGENT_ADDR": "%s:%d" % (LOCAL, self.agent_port),
            "AOAI_SPOE_CONF": SPOE_CONF,
            "AOAI_KEYS_MAP": self.keys_map,
            "AOAI_CLIENTS_MAP": self.clients_map,
        })
        for name, r in self.regions.items():
            # the shims and upstreams listen on abstract sockets named
            # after AOAI_FE_PORT: no port of their own
            self.env["AOAI_%s_ADDR" % env_name(name)] = r.addr
        self.env.update(self.extra_env)
        self._write_agent_yaml()
        if self.want_agent:
            self.start_agent()
        self._start_haproxy()
        self.wait_ready()
        return self

    def _write_agent_yaml(self):
        if self.agent_yaml_text is not None:
            text = self.agent_yaml_text
        else:
            with open(LAB_YAML) as f:
                text = f.read()
        if self.agent_edit:
            text = self.agent_edit(text)
        text = labconf.agent_yaml(text, {
            "agent": "%s:%d" % (LOCAL, self.agent_port),
            "metrics": "%s:%d" % (LOCAL, self.metrics_port),
            "control_tcp": "%s:%d" % (LOCAL, self.control_tcp_port),
            "dir": self.dir + "/"})
        with open(self.agent_yaml_path, "w") as f:
            f.write(text)

    def start_agent(self, timeout=10.0):
        """Starts the agent (again) on the same port; waits for it."""
        if self.agent is not None and self.agent.poll() is None:
            return self.agent
        log = open(self.logs["agent"], "ab")
        self.agent = subprocess.Popen(
            [AGENT_BIN, "-f", self.agent_yaml_path] + self.agent_args,
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self._procs.append(self.agent)
        if not wait_port(self.agent_port, timeout, self.agent):
            raise LabError("agent did not listen on %d: %s" % (
                self.agent_port, self.log_text("agent")[-2000:]))
        return self.agent

    def stop_agent(self, sig=signal.SIGTERM, timeout=10.0):
        """Stops the agent; returns its exit code (None: killed)."""
        p = self.agent
        if p is None:
            return None
        if p.poll() is None:
            try:
                os.kill(p.pid, signal.SIGCONT)
                p.send_signal(sig)
                return p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                return None
            except ProcessLookupError:
                pass
        return p.returncode

    def kill_agent(self, sig=signal.SIGKILL):
        return self.stop_agent(sig)

    def pause_agent(self):
        os.kill(self.agent.pid, signal.SIGSTOP)

    def resume_agent(self):
        os.kill(self.agent.pid, signal.SIGCONT)

    def _haproxy_argv(self, extra=()):
        return ([HAPROXY_BIN, "-db"] + HAPROXY_RUN_OPTS +
                ["-f", self.haproxy_cfg] + list(extra))

    def _start_haproxy(self, extra=()):
        log = open(self.logs["haproxy"], "ab")
        p = subprocess.Popen(self._haproxy_argv(extra), env=self.env,
                             cwd=ROOT, stdin=subprocess.DEVNULL,
                             stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self._procs.append(p)
        self.haproxy = p
        return p

    def check_config(self):
        """haproxy -c on the lab configuration with this lab's env."""
        out = subprocess.run([HAPROXY_BIN, "-c", "-f", self.haproxy_cfg],
                             env=self.env, cwd=ROOT,
                             stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)
        return out.returncode, out.stdout.decode("utf-8", "replace")

    def wait_ready(self, timeout=15.0):
        """Frontend listening, every region server and the agent UP (or
        the agent DOWN when it is not running)."""
        if not wait_port(self.fe_port, timeout, self.haproxy):
            raise LabError("haproxy did not start: %s"
                           % self.log_text("haproxy")[-3000:])
        want_agent = "UP" if (self.agent is not None
                              and self.agent.poll() is None) else "DOWN"

        def ready():
            st = self.server_state(None)
            for name in self.region_names:
                if st.get(("aoai", name)) != "UP":
                    return False
            return st.get(("aoai-spoa", "agent")) == want_agent
        if not wait_until(ready, timeout, 0.1):
            raise LabError("lab not ready: %r" % (self.server_state(None),))

    def reload_haproxy(self, timeout=10.0):
        """Soft reload: a new HAProxy takes the listeners over (-x) and
        soft-stops the old one (-sf). Returns the new Popen."""
        old = self.haproxy
        new = self._start_haproxy(["-x", self.stats_socket,
                                   "-sf", str(old.pid)])
        self._old_haproxy.append(old)
        # ready when the old one is gone and the new one answers
        def new_up():
            if new.poll() is not None:
                return True
            try:
                self.haproxy_cmd("show info")
                return True
            except OSError:
                return False
        wait_until(new_up, timeout)
        if new.poll() is not None:
            raise LabError("new haproxy exited: %s"
                           % self.log_text("haproxy")[-3000:])
        return new

    def stop_processes(self):
        """Stops every process (SIGCONT first, then SIGTERM, SIGKILL after
        5 s); the folder and its logs stay until stop(). Idempotent."""
        for p in reversed(self._procs):
            if p.poll() is None:
                try:
                    os.kill(p.pid, signal.SIGCONT)
                    p.terminate()
                except OSError:
                    pass
        for p in reversed(self._procs):
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def stop(self):
        """Stops everything and removes the folder (unless keep/workdir)."""
        if self._stopped:
            return
        self._stopped = True
        self.stop_processes()
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)

    # -- sockets --

    def _unix_cmd(self, path, cmd, timeout=5.0):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(path)
            s.sendall(cmd.rstrip("\n").encode() + b"\n")
            out = harness.recv_all(s)
        return out.decode("utf-8", "replace")

    def haproxy_cmd(self, cmd, timeout=5.0):
        """One runtime API command on HAProxy's stats socket."""
        return self._unix_cmd(self.stats_socket, cmd, timeout)

    def agent_cmd(self, cmd, timeout=5.0):
        """One command on the agent's control socket."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(self.control_socket)
            s.sendall(cmd.rstrip("\n").encode() + b"\n")
            s.shutdown(socket.SHUT_WR)
            out = b""
            while True:
                try:
                    chunk = s.recv(65536)
                except socket.timeout:
                    break
                if not chunk:
                    break
                out += chunk
        return out.decode("utf-8", "replace")

    def show_stat(self):
        """HAProxy's "show stat" as a list of dicts."""
        try:
            out = self.haproxy_cmd("show stat")
        except OSError:
            return []
        lines = [l for l in out.splitlines() if l.strip()]
        if not lines or not lines[0].startswith("# "):
            return []
        cols = lines[0][2:].split(",")
        return [dict(zip(cols, l.split(","))) for l in lines[1:]]

    def server_state(self, backend="aoai"):
        """{server: status} of <backend>, or {(backend, server): status}
        of every backend when backend is None. Status: "UP", "DOWN", "MAINT",
        "no check", ... ("UP 1/2" style transitions are kept as is)."""
        out = {}
        for row in self.show_stat():
            if row.get("svname") in ("FRONTEND", "BACKEND"):
                continue
            st = row.get("status", "")
            if backend is None:
                out[(row.get("pxname"), row.get("svname"))] = st
            elif row.get("pxname") == backend:
                out[row.get("svname")] = st
        return out

    def wait_server(self, backend, server, state, timeout=10.0):
        return wait_until(lambda: self.server_state(backend).get(server)
                          == state, timeout, 0.1)

    def server_stat(self, backend, server):
        """The "show stat" row of one server (dict), or {}."""
        for row in self.show_stat():
            if row.get("pxname") == backend and row.get("svname") == server:
                return row
        return {}

    # -- logs --

    def log_text(self, name):
        path = self.logs.get(name) or os.path.join(self.dir, name)
        try:
            with open(path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def all_logs(self):
        """{file name: text} of every log file in the lab folder."""
        out = {}
        for fn in sorted(os.listdir(self.dir)):
            if fn.endswith(".log"):
                with open(os.path.join(self.dir, fn), "rb") as f:
                    out[fn] = f.read().decode("utf-8", "replace")
        return out

    def secrets(self):
        out = list(self.api_keys.values()) + [self.client_key]
        if self.bearer:
            out.append(self.bearer)
        return out

    def leaked_secrets(self):
        found = []
        for fn, text in self.all_logs().items():
            for sec in self.secrets():
                if sec and sec in text:
                    found.append((fn, sec))
        return found

    def spoe_lines(self):
        return [l for l in self.log_text("haproxy").splitlines()
                if "SPOE: [" in l]

    def access_lines(self):
        """HAProxy's access log lines of the client-facing frontend."""
        return [l for l in self.log_text("haproxy").splitlines()
                if " aoai-front " in l]

    # -- traffic --

    def client(self, timeout=30.0, api_key=None):
        """A keep-alive Client; api_key defaults to the lab's gateway key
        (client_key); pass "" to send none."""
        return Client(LOCAL, self.fe_port, timeout,
                      self.client_key if api_key is None else api_key)

    def request(self, method, path, body=None, headers=None):
        c = self.client()
        try:
            return c.request(method, path, body, headers)
        finally:
            c.close()

    def chat(self, *a, **kw):
        c = self.client()
        try:
            return c.chat(*a, **kw)
        finally:
            c.close()

    def run_load(self, n, threads=4, fn=None):
        """n requests over <threads> keep-alive clients (labload.run_load)."""
        return labload.run_load(self.client, n, threads, fn)
