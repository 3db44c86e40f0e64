# SPDX-License-Identifier: Apache-2.0
"""Looking at a running lab: HAProxy's runtime API and the agent's control
socket (Sockets), and the lab's log files with the secrets that must not
be in them (Logs). Neither starts nor stops anything. Standard library
only.
"""
import os
import socket

import harness


class Sockets:
    """HAProxy's stats socket and the agent's control socket (paths)."""

    def __init__(self, stats_socket, control_socket):
        self.stats_socket = stats_socket
        self.control_socket = control_socket

    def haproxy_cmd(self, cmd, timeout=5.0):
        """One runtime API command on HAProxy's stats socket."""
        return harness.ask_unix(self.stats_socket, cmd.rstrip("\n"), timeout)

    def agent_cmd(self, cmd, timeout=5.0):
        """One command on the agent's control socket; the answer read
        until it closes or <timeout> passes with nothing more."""
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
        """HAProxy's "show stat" as a list of dicts ([] when it does not
        answer)."""
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
        of every backend when backend is None. Status: "UP", "DOWN",
        "MAINT", "no check", ... ("UP 1/2" style transitions are kept as
        is)."""
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
        return harness.wait_until(
            lambda: self.server_state(backend).get(server) == state,
            timeout, 0.1)

    def server_stat(self, backend, server):
        """The "show stat" row of one server (dict), or {}."""
        for row in self.show_stat():
            if row.get("pxname") == backend and row.get("svname") == server:
                return row
        return {}


class Logs:
    """The log files of a lab folder: <logs> maps a name ("haproxy",
    "agent", a region) to its path, filled as processes start; <secrets>
    is a function returning every secret of the lab."""

    def __init__(self, folder, logs, secrets):
        self.dir = folder
        self.logs = logs
        self.secrets = secrets

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

    def leaked_secrets(self):
        """[(log file, secret)] for every secret found in a log."""
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
