# SPDX-License-Identifier: Apache-2.0
"""The lab's rendered files: the agent's configuration on the lab's
addresses, and HAProxy's map files of region keys and gateway keys.
Standard library only.

The shipped haproxy-conf/lab/aoai-spoa.yaml (or a test's text derived
from it) stays the one source of the agent's settings: it is read into
data (labyaml), the lab's sockets are set in that data by role, and the
result is written as YAML the agent reads (JSON).
"""
import os

import labyaml

LOCAL = "127.0.0.1"

# The addresses the shipped lab YAML (haproxy-conf/lab/aoai-spoa.yaml)
# listens on, by role. No rendered file may keep one of them: each lab
# puts its own in their place.
SHIPPED = {
    "agent": "127.0.0.1:12345",
    "metrics": "127.0.0.1:9101",
    "control_tcp": "127.0.0.1:9102",
    "dir": "/tmp/aoai-lab/",
}


class LabConfError(ValueError):
    pass


class Sockets:
    """Where one lab's agent listens: its folder (unix sockets, the
    HAProxy stats socket) and its loopback ports by role."""

    def __init__(self, folder, agent, metrics, control_tcp):
        self.dir = folder
        self.agent = agent
        self.metrics = metrics
        self.control_tcp = control_tcp

    def tcp(self, port):
        return "tcp://%s:%d" % (LOCAL, port)

    def unix(self, shipped):
        """The lab's socket named as the shipped unix:// address <shipped>."""
        return "unix://" + os.path.join(self.dir,
                                        os.path.basename(shipped[7:]))


def _controls(items, socks):
    """Control sockets <items> (each an address or {address, ...}) on the
    lab's folder or its one control port."""
    out, tcp = [], False
    for item in items:
        addr = item if isinstance(item, str) else (item or {}).get("address")
        if not isinstance(addr, str):
            raise LabConfError("control: an address is required: %r"
                               % (item,))
        if addr.startswith("unix://"):
            new = socks.unix(addr)
        elif tcp:
            raise LabConfError("control: the lab has one TCP control port")
        else:
            new, tcp = socks.tcp(socks.control_tcp), True
        out.append(new if isinstance(item, str) else dict(item, address=new))
    return out


def place(cfg, socks):
    """Agent configuration <cfg> (data) with every socket by role on the
    lab's: listen, control, metrics, haproxy.stats_socket. Returns a new
    dict; <cfg> is not changed."""
    if not isinstance(cfg, dict):
        raise LabConfError("the agent configuration is not a mapping")
    out = dict(cfg)
    out["listen"] = [socks.tcp(socks.agent)]
    ctl = cfg.get("control")
    if isinstance(ctl, list):
        out["control"] = _controls(ctl, socks)
    elif ctl is not None:
        out["control"] = _controls([ctl], socks)[0]
    if cfg.get("metrics") is not None:
        out["metrics"] = socks.tcp(socks.metrics)
    hap = cfg.get("haproxy")
    if isinstance(hap, dict) and isinstance(hap.get("stats_socket"), str):
        sock = hap["stats_socket"]
        out["haproxy"] = dict(hap, stats_socket=socks.unix(sock)
                              if sock.startswith("unix://") else sock)
    return out


def agent_config(text, socks):
    """The agent's configuration file for one lab: YAML <text> (the
    shipped lab file or one derived from it) read into data, its sockets
    placed on <socks>, written as YAML. Raises LabConfError when the text
    is beyond the lab's YAML or still names a shipped address."""
    try:
        cfg = labyaml.load(text)
    except labyaml.LabYamlError as e:
        raise LabConfError("agent YAML: %s" % e)
    out = labyaml.dump(place(cfg, socks))
    for role, shipped in SHIPPED.items():
        if shipped in out:
            raise LabConfError("agent YAML: %s (%s) is the shipped one, "
                               "not this lab's" % (shipped, role))
    return out


def write_private(path, lines):
    """Writes <lines> ("key value" pairs) to <path>, mode 0600: the maps
    hold keys."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.writelines("%s %s\n" % kv for kv in lines)
    os.chmod(path, 0o600)
