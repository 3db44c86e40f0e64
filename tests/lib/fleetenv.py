# SPDX-License-Identifier: Apache-2.0
"""A fleet of HAProxy + agent nodes in front of the same mock regions.

Each node is a labenv.Lab (its own HAProxy, agent, ports and folder); node1
starts the three mock regions, the others share them. With share=True each
HAProxy also loads haproxy-conf/lab/fleet.cfg (a plaintext peers section
whose peers listen on 127.0.0.1, 127.0.0.2, 127.0.0.3, and the aoai-fleet
table) as peer nodeN, and each agent gets a fleet: block naming the table
and the node. With share=False nothing is shared: today's per-node
behaviour, for comparison. With fast=True (the default) each node's
aoai-spoe.conf is rendered from its agent's YAML (aoai-spoa haproxy-config
--spoe, the fleet.peers list naming the three nodes): aoai-route carries
the other nodes' deadlines read from the table, so a node learns a
throttle on its next request; fast=False keeps the shipped
aoai-spoe.conf, the agent then learns them from its reads of the table
only. With resp=True (the default, when sharing) each HAProxy gets
AOAI_FLEET_NODE: the region shims of the lab's haproxy.cfg write the
node's own deadlines to the table from the agent's aoai-result answer
(the response path); resp=False leaves those rules out, the agent then
writes over the runtime API once a read shows the deadline missing.
Standard library only.

    import fleetenv

    with fleetenv.Fleet(3, share=True) as fl:
        fl.nodes[0].chat("hi")                 # a labenv.Lab each
        fl.state("eastus")                     # [(state, reason), ...]
        fl.table(0)                            # {key: gpt0} of node1's table
        fl.regions["eastus"].set(throttle_all=1, retry_after=20)
"""
import json
import os
import re
import socket
import subprocess
import time

import labenv

FLEET_CFG = os.path.join(labenv.ROOT, "haproxy-conf/lab/fleet.cfg")
TABLE = "aoai-fleet"
MAX_NODES = 3  # fleet.cfg names node1..node3


def peer_addr(i):
    """Loopback address of node i (0-based): 127.0.0.1, .2, .3."""
    return "127.0.0.%d" % (i + 1)


def free_port_on(addr):
    """A TCP port free on <addr> now (bound then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((addr, 0))
        return s.getsockname()[1]


def fleet_yaml(node, poll="250ms", max_wait="5m", peer_env=None):
    """The fleet: block of node <node>; with <peer_env> (the peers ports)
    it lists the three nodes, plaintext on loopback as fleet.cfg has
    them."""
    text = ("\nfleet:\n  table: %s\n  node: %s\n  poll_interval: %s\n"
            "  max_wait: %s\n" % (TABLE, node, poll, max_wait))
    if peer_env:
        text += "  plaintext: true\n  peers:\n"
        for i in range(MAX_NODES):
            text += "    - {name: node%d, address: tcp://%s:%s}\n" % (
                i + 1, peer_addr(i), peer_env["AOAI_PEER_PORT_%d" % (i + 1)])
    return text


def render_yaml(text):
    """The agent YAML <text> with the upstream endpoint haproxy-config
    needs given to each backend (the lab's regions have none: the lab's
    haproxy.cfg is not rendered, only aoai-spoe.conf is)."""
    try:
        data = json.loads(text)  # what labconf writes
    except ValueError:
        data = None
    if isinstance(data, dict):
        for b in data.get("backends", []):
            b.setdefault("upstream", {})["endpoint"] = (
                "%s.lab.invalid" % b["name"])
        return json.dumps(data, indent=2)
    out, inside = [], False
    for line in text.splitlines(True):
        if line[:1] not in ("", " ", "#", "\n"):
            inside = line.startswith("backends:")
        out.append(line)
        m = re.match(r"  - name: ([\w.:-]+)\s*$", line)
        if inside and m:
            out.append("    upstream:\n      endpoint: %s.lab.invalid\n"
                       % m.group(1))
    return "".join(out)

class Node(labenv.Lab):
    """One HAProxy + agent node; peer nodeN of the fleet when sharing."""

    def __init__(self, index, share, peer_env, poll="250ms", fast=True,
                 resp=True, **kw):
        self.index = index
        self.name = "node%d" % (index + 1)
        self.share = share
        self.fast = share and fast
        env = dict(kw.pop("extra_env", None) or {})
        # decided requests carry x-lab-decided-us: the mock's floor
        # (tests/lab/fleet.py)
        env["AOAI_LAB_DECIDED_US"] = "1"
        if share:
            kw["agent_edit"] = lambda t: t + fleet_yaml(
                self.name, poll, peer_env=peer_env)
            env.update(peer_env)
            if resp:
                env["AOAI_FLEET_NODE"] = self.name
        kw["extra_env"] = env
        super().__init__(**kw)

    def _write_agent_yaml(self):
        super()._write_agent_yaml()
        if not self.fast:
            return
        with open(self.agent_yaml_path) as f:
            text = render_yaml(f.read())
        src = os.path.join(self.dir, "render.yaml")
        with open(src, "w") as f:
            f.write(text)
        p = subprocess.run([labenv.AGENT_BIN, "haproxy-config", "-f", src,
                            "--spoe"], capture_output=True, text=True,
                           stdin=subprocess.DEVNULL, timeout=30)
        if p.returncode != 0:
            raise labenv.LabError("haproxy-config --spoe: " + p.stderr)
        self.spoe_conf = os.path.join(self.dir, "aoai-spoe.conf")
        with open(self.spoe_conf, "w") as f:
            f.write(p.stdout)
        self.env["AOAI_SPOE_CONF"] = self.spoe_conf

    def _haproxy_argv(self, extra=()):
        fleet = ["-f", FLEET_CFG, "-L", self.name] if self.share else []
        return ([labenv.HAPROXY_BIN, "-db"] + labenv.HAPROXY_RUN_OPTS +
                ["-f", self.haproxy_cfg] + fleet + list(extra))

    def restart_haproxy(self, timeout=15.0):
        """Stops HAProxy (SIGTERM, hard) and starts a fresh one."""
        old = self.haproxy
        if old is not None and old.poll() is None:
            old.terminate()
            try:
                old.wait(10)
            except subprocess.TimeoutExpired:
                old.kill()
                old.wait()
        self._start_haproxy()
        self.wait_ready(timeout)

    def backend(self, name):
        """(state, reason) of agent backend <name>."""
        for b in json.loads(self.agent_cmd("show backends json"))["backends"]:
            if b["name"] == name:
                return b["state"], b["reason"]
        return None, None

    def table(self):
        """{key: gpt0} of this node's aoai-fleet table."""
        out = {}
        for line in self.haproxy_cmd("show table %s" % TABLE).splitlines():
            if not line.startswith("0x"):
                continue
            f = dict(w.split("=", 1) for w in line.split()[1:] if "=" in w)
            if "key" in f and "gpt0" in f:
                out[f["key"]] = int(f["gpt0"])
        return out


class Fleet:
    """n nodes (at most 3) sharing mock regions; stopped together."""

    def __init__(self, n=3, share=True, poll="250ms", quotas=None,
                 fast=True, resp=True, **kw):
        assert 1 <= n <= MAX_NODES
        self.n = n
        self.share = share
        self.fast = fast
        self.resp = resp
        self.poll = poll
        self.quotas = quotas
        self.kw = kw
        self.nodes = []
        self.peer_env = {}

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
    def regions(self):
        return self.nodes[0].regions

    def start(self):
        for i in range(MAX_NODES):
            self.peer_env["AOAI_PEER_PORT_%d" % (i + 1)] = str(
                free_port_on(peer_addr(i)))
        for i in range(self.n):
            node = Node(i, self.share, self.peer_env, poll=self.poll,
                        fast=self.fast, resp=self.resp,
                        quotas=self.quotas if i == 0 else None,
                        shared_regions=self.nodes[0] if i else None,
                        **self.kw)
            self.nodes.append(node)
            node.start()
        return self

    def stop(self):
        # node1 owns the regions: it goes last
        for node in reversed(self.nodes):
            node.stop()

    def state(self, backend):
        return [nd.backend(backend) for nd in self.nodes]

    def wait_all(self, backend, pred, timeout=5.0, step=0.005,
                 nodes=None):
        """Polls the agents of <nodes> (indexes, default all) until
        pred((state, reason)) holds for backend <backend> on each; returns
        {index: time.monotonic() when it was first seen}."""
        want = list(range(self.n)) if nodes is None else list(nodes)
        seen = {}
        end = time.monotonic() + timeout
        while time.monotonic() < end and len(seen) < len(want):
            for i in want:
                if i not in seen and pred(self.nodes[i].backend(backend)):
                    seen[i] = time.monotonic()
            time.sleep(step)
        return seen
