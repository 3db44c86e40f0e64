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
  agent_yaml  full agent YAML text instead of the shipped lab file
  agent_edit  function(yaml_text) -> yaml_text applied to that text; the
              result is read into data and its sockets (listen, control,
              metrics, haproxy.stats_socket) set to the lab's (labconf)
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
  haproxy_cmd, agent_cmd, show_stat, server_state, wait_server,
  server_stat: labobserve.Sockets (lab.sockets) on the lab's sockets;
  log_text, all_logs, leaked_secrets, spoe_lines, access_lines:
  labobserve.Logs (lab.logfiles) on its folder.
  secrets() -> every key of the lab (region keys, gateway key, bearer).
  stop_processes(): every process stopped, logs kept (e.g. to grep them
      complete); stop(): that plus the folder removed (unless keep or
      workdir); the with block calls stop(); both idempotent.

The pieces: labregion (one mock region: Region), labconf and labyaml (the
rendered files), labobserve (looking), labhttp and labload (traffic); Lab
starts and stops the topology. The HTTP client (Client, Response) is
labhttp's, the load drivers and
the result helpers (run_load, Load, status_counts, failures, served_by)
labload's; labenv re-exports them.

Every address is on 127.0.0.1; ports come from free_port() or the mocks'
--port 0 --port-file; HAProxy's internal hops are abstract sockets named
after the frontend port. HAProxy runs with HAPROXY_RUN_OPTS (-dMglobal,
as haproxy-conf/README.md asks of production). The environment variables AOAI_SPOA, MOCK_AOAI and
HAPROXY choose the binaries (tests/run.py sets them).
"""
import os
import re
import shutil
import signal
import subprocess
import tempfile

import harness
import labconf
import labload
from labobserve import Logs, Sockets
from labregion import MOCK_BIN, LabError, Region  # noqa: F401
from labhttp import API_VERSION, DEPLOYMENT, LOCAL  # noqa: F401
from labhttp import Client, Response, chat_path  # noqa: F401
from labload import Load, failures, served_by, status_counts  # noqa: F401

ROOT = os.environ.get("AOAI_ROOT") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
AGENT_BIN = os.environ.get("AOAI_SPOA") or os.path.join(ROOT,
                                                        "build/aoai-spoa")
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
        self.sockets = Sockets(self.stats_socket, self.control_socket)
        self.logfiles = Logs(self.dir, self.logs, self.secrets)

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
            r = Region(self.dir, name, key, self.quotas.get(name),
                       self.bearer, self.mock_verbose, self._procs)
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
        """The agent's configuration: the shipped lab file (or agent_yaml),
        agent_edit applied, read into data with this lab's sockets
        (labconf)."""
        if self.agent_yaml_text is not None:
            text = self.agent_yaml_text
        else:
            with open(LAB_YAML) as f:
                text = f.read()
        if self.agent_edit:
            text = self.agent_edit(text)
        socks = labconf.Sockets(self.dir, self.agent_port, self.metrics_port,
                                self.control_tcp_port)
        try:
            text = labconf.agent_config(text, socks)
        except labconf.LabConfError as e:
            raise LabError(str(e))
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

    # -- observation (labobserve) --

    def haproxy_cmd(self, cmd, timeout=5.0):
        return self.sockets.haproxy_cmd(cmd, timeout)

    def agent_cmd(self, cmd, timeout=5.0):
        return self.sockets.agent_cmd(cmd, timeout)

    def show_stat(self):
        return self.sockets.show_stat()

    def server_state(self, backend="aoai"):
        return self.sockets.server_state(backend)

    def wait_server(self, backend, server, state, timeout=10.0):
        return self.sockets.wait_server(backend, server, state, timeout)

    def server_stat(self, backend, server):
        return self.sockets.server_stat(backend, server)

    def log_text(self, name):
        return self.logfiles.log_text(name)

    def all_logs(self):
        return self.logfiles.all_logs()

    def leaked_secrets(self):
        return self.logfiles.leaked_secrets()

    def spoe_lines(self):
        return self.logfiles.spoe_lines()

    def access_lines(self):
        return self.logfiles.access_lines()

    def secrets(self):
        out = list(self.api_keys.values()) + [self.client_key]
        if self.bearer:
            out.append(self.bearer)
        return out

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
