# SPDX-License-Identifier: Apache-2.0
"""Helpers shared by the integration tests (tests/integration/test_*.py).

Not a test program itself (run.py only runs test_*.py). Python puts the
running script's folder first on sys.path, so the tests `import itest`.

- Peer: harness.SpopClient that records the length of every frame it
  receives, so each test program can check the agent never sent a frame
  shorter than type + flags + two varints (7 bytes).
- Agents: every agent process a test program starts; finish() stops the
  ones still running with SIGTERM and checks, per agent, exit status and
  the absence of sanitizer reports in its log.
- expect_disconnect(), rst_close(), ack_ok(): small protocol helpers.
"""
import os
import re
import signal
import socket
import struct
import time

import harness as H
import spop

SANITIZER = re.compile(r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|"
                       r"runtime error:|SUMMARY: UndefinedBehavior")


class Peer(H.SpopClient):
    """SpopClient that records every received frame's length."""

    lengths = []  # every frame received by any Peer of this program

    def recv_raw(self, timeout=5.0):
        raw = super().recv_raw(timeout)
        if raw is not None:
            Peer.lengths.append(struct.unpack(">I", raw[:4])[0])
        return raw


def connect(port=None, path=None, timeout=5.0):
    return Peer(port=port, path=path, timeout=timeout)


def active(port=None, path=None, **hello_kw):
    """A connection with the HELLO done; raises if the agent refuses."""
    c = connect(port, path)
    f = c.hello(**hello_kw)
    if not f or f["type"] != spop.T_AGENT_HELLO:
        raise RuntimeError("no AGENT-HELLO: %r" % (f,))
    return c


def active_retry(port=None, path=None, timeout=5.0, **hello_kw):
    """active(), retried while the agent refuses (e.g. max_connections
    reached until it notices connections just closed)."""
    end = time.monotonic() + timeout
    while True:
        try:
            return active(port, path, **hello_kw)
        except (OSError, RuntimeError, spop.DecodeError):
            if time.monotonic() >= end:
                raise
            time.sleep(0.05)


def rst_close(sock):
    """Closes with SO_LINGER 0: the kernel sends RST instead of FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                        struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


def expect_disconnect(c, timeout=5.0):
    """Reads the next frame. Returns (status, message, closed_after):
    status is the AGENT-DISCONNECT status-code, "EOF" when the agent closed
    without one, "timeout" when nothing came, or "frame TYPE" for another
    frame; closed_after tells whether the agent then closed the socket."""
    try:
        f = c.recv(timeout)
    except socket.timeout:
        return "timeout", None, False
    except spop.DecodeError as exc:
        return "undecodable: %s" % exc, None, False
    if f is None:
        return "EOF", None, True
    if f["type"] != spop.T_AGENT_DISCONNECT:
        return "frame %s" % f["type_name"], None, c.eof(timeout)
    kv = H.kvs(f)
    closed = c.eof(timeout)
    return kv.get(b"status-code"), kv.get(b"message"), closed and not c.buf


def ack_ok(f, sid, fid):
    """True when <f> is an ACK echoing <sid>/<fid> with >= 1 action."""
    return (f is not None and f["type"] == spop.T_ACK
            and f["stream_id"] == sid and f["frame_id"] == fid
            and f["flags"] & spop.FL_FIN and len(f.get("actions", [])) >= 1)


def route(c, sid, fid, pool="chat", key=None, extra=()):
    """Sends one aoai-route; returns (frame, {var: value})."""
    c.send(H.notify(sid, fid, [H.route_msg(pool, key, extra)]))
    f = c.recv()
    return f, H.actions(f) if f else {}


def result_msg(backend, status, **args):
    """An aoai-result message; args values are (type, value) or a str."""
    items = [("backend", "STRING", backend)]
    if status is not None:
        items.append(("status",) + (status if isinstance(status, tuple)
                                    else ("INT64", status)))
    for k, v in args.items():
        items.append((k,) + (v if isinstance(v, tuple) else ("STRING", v)))
    return ("aoai-result", items)


def send_result(c, sid, fid, backend, status, **args):
    c.send(H.notify(sid, fid, [result_msg(backend, status, **args)]))
    return c.recv()


def serves(port=None, path=None, timeout=5.0):
    """True when a fresh connection gets HELLO + one routed ACK."""
    try:
        c = connect(port, path, timeout)
        try:
            f = c.hello()
            if not f or f["type"] != spop.T_AGENT_HELLO:
                return False
            f, acts = route(c, 7, 1)
            return ack_ok(f, 7, 1) and b"reason" in acts
        finally:
            c.close()
    except (OSError, spop.DecodeError):
        return False


def log_lines(p, pattern):
    return [ln for ln in H.read_log(p).splitlines() if re.search(pattern, ln)]


class Agents:
    """The agents of one test program, checked at the end."""

    def __init__(self, tap, procs):
        self.tap = tap
        self.procs = procs
        self.items = []  # [name, proc, expected exit status or None]

    def start(self, yaml_text, port=None, name="agent", **kw):
        p, cfg = H.start_agent(self.procs, yaml_text, port, name=name, **kw)
        self.items.append([name, p, 0])
        return p, cfg

    def track(self, name, p, rc=0):
        """Checks a process started otherwise; <rc> its expected status
        (None: whatever it is, only the log is checked)."""
        self.items.append([name, p, rc])

    def stopped(self, p):
        """The test stopped <p> itself and checked its exit."""
        for it in self.items:
            if it[1] is p:
                it[2] = None

    def finish(self, timeout=10.0):
        for name, p, rc in self.items:
            if p.poll() is None:
                start = time.monotonic()
                got = self.procs.stop(p, signal.SIGTERM, timeout)
                self.tap.ok(got == 0, "%s: exits 0 on SIGTERM" % name,
                            "exit %r after %.1fs" % (got, time.monotonic()
                                                     - start))
            elif rc is not None:
                self.tap.eq(p.returncode, rc, "%s: exit status" % name)
            bad = [ln for ln in H.read_log(p).splitlines()
                   if SANITIZER.search(ln)]
            self.tap.ok(not bad, "%s: no sanitizer finding in its log"
                        % name, "; ".join(bad[:3]) + "\n"
                        + H.read_log(p)[-3000:])
        short = [n for n in Peer.lengths if n < 7]
        self.tap.ok(Peer.lengths and not short,
                    "every frame received (%d) is at least 7 bytes long"
                    % len(Peer.lengths), "lengths %r" % short[:10])


def ipv6_available():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def free_port6():
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
        s.bind(("::1", 0))
        return s.getsockname()[1]


AGENT_DEFAULTS = {"log_level": "info", "max_connections": 4096,
                  "hello_timeout": "5s", "idle_timeout": "60s",
                  "shutdown_timeout": "3s"}

POOLS = """\
backends:
  - name: eastus
  - name: swedencentral
  - name: westus-payg
pools:
  - name: chat
    members:
      - {backend: eastus, priority: 1, weight: 3}
      - {backend: swedencentral, priority: 1, weight: 1}
      - {backend: westus-payg, priority: 2, weight: 1}
"""


def agent_cfg(port=None, listen=None, pools=POOLS, **agent):
    """A configuration like harness.agent_yaml() with any agent key set.
    <listen>: list of YAML items (strings) instead of tcp://127.0.0.1:port.
    """
    keys = dict(AGENT_DEFAULTS, **agent)
    out = "agent:\n" + "".join("  %s: %s\n" % kv for kv in keys.items())
    items = listen if listen is not None else [
        "tcp://127.0.0.1:%d" % port]
    out += "listen:\n" + "".join("  - %s\n" % i for i in items)
    return out + pools


def env_without_listen():
    env = dict(os.environ)
    for k in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        env.pop(k, None)
    return env
