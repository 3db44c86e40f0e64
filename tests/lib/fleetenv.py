# SPDX-License-Identifier: Apache-2.0
"""A fleet of HAProxy + agent nodes in front of the same mock regions.

Each node is a labenv.Lab (its own HAProxy, agent, ports and folder); node1
starts the three mock regions, the others share them. With share=True each
HAProxy also loads haproxy-conf/lab/fleet.cfg (a plaintext peers section
whose peers listen on 127.0.0.1, 127.0.0.2, 127.0.0.3, and the aoai-fleet
table) as peer nodeN, and each agent gets a fleet: block naming the table
and the node. With share=False nothing is shared: today's per-node
behaviour, for comparison. Standard library only.

    import fleetenv

    with fleetenv.Fleet(3, share=True) as fl:
        fl.nodes[0].chat("hi")                 # a labenv.Lab each
        fl.state("eastus")                     # [(state, reason), ...]
        fl.table(0)                            # {key: gpt0} of node1's table
        fl.regions["eastus"].set(throttle_all=1, retry_after=20)
"""
import json
import os
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


def fleet_yaml(node, poll="250ms", max_wait="5m"):
    return ("\nfleet:\n  table: %s\n  node: %s\n  poll_interval: %s\n"
            "  max_wait: %s\n" % (TABLE, node, poll, max_wait))


class Node(labenv.Lab):
    """One HAProxy + agent node; peer nodeN of the fleet when sharing."""

    def __init__(self, index, share, peer_env, poll="250ms", **kw):
        self.index = index
        self.name = "node%d" % (index + 1)
        self.share = share
        if share:
            kw["agent_edit"] = lambda t: t + fleet_yaml(self.name, poll)
            env = dict(kw.pop("extra_env", None) or {})
            env.update(peer_env)
            kw["extra_env"] = env
        super().__init__(**kw)

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

    def __init__(self, n=3, share=True, poll="250ms", quotas=None, **kw):
        assert 1 <= n <= MAX_NODES
        self.n = n
        self.share = share
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
