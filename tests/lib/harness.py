# SPDX-License-Identifier: Apache-2.0
"""Test harness shared by the Python test layers (stdlib only).

- Tap: one line per check, "ok - name" / "not ok - name: detail"; done()
  exits 1 when any check failed (tests/run.py counts the lines).
- Procs: every process a test starts, stopped in a finally block.
- SpopClient: a raw SPOP peer playing HAProxy's side, over tests/lib/spop.py.
- start_agent(): the real build/aoai-spoa on a port chosen at run time.

Everything listens on 127.0.0.1 or on unix sockets in a temporary folder.
"""
import os
import resource
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

import spop

ROOT = os.environ.get("AOAI_ROOT") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
AGENT = os.environ.get("AOAI_SPOA_ASAN") or os.path.join(
    ROOT, "build/asan/aoai-spoa")
AGENT_FAST = os.environ.get("AOAI_SPOA") or os.path.join(
    ROOT, "build/aoai-spoa")
MOCK = os.environ.get("MOCK_AOAI") or os.path.join(ROOT, "build/mock-aoai")
# tests/run.py runs the e2e layer once per HAProxy version: HAPROXY is that
# version's binary (a rootfs.py wrapper for a Debian root filesystem) and
# AOAI_HAPROXY_VERSION its label, put in front of every check name.
HAPROXY = os.environ.get("HAPROXY", "/usr/sbin/haproxy")
HAPROXY_VERSION = os.environ.get("AOAI_HAPROXY_VERSION", "")
LOCAL = "127.0.0.1"


class Tap:
    """TAP-style reporter."""

    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.prefix = ("[haproxy %s] " % HAPROXY_VERSION
                       if HAPROXY_VERSION else "")

    def ok(self, cond, name, detail=""):
        name = self.prefix + name
        if cond:
            self.passed += 1
            print("ok - %s" % name, flush=True)
        else:
            self.failed += 1
            print("not ok - %s%s" % (name, ": " + str(detail) if detail
                                     else ""), flush=True)
        return bool(cond)

    def eq(self, got, want, name):
        return self.ok(got == want, name, "got %r, want %r" % (got, want))

    def done(self):
        sys.stdout.flush()
        sys.exit(1 if self.failed or not self.passed else 0)


def raise_nofile(n=8192):
    """Raises this process's descriptor limit (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(max(soft, n), hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return want


def free_port():
    """A TCP port free on 127.0.0.1 now (bound then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOCAL, 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10.0, proc=None):
    """Waits until something accepts on 127.0.0.1:port."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with socket.create_connection((LOCAL, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.02)
    return False


def recv_all(sock):
    """Everything <sock> sends until it closes (bytes)."""
    out = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return out
        out += chunk


def ask_unix(path, line, timeout=5.0):
    """One command line on a unix socket (the agent's control socket or
    HAProxy's runtime API); returns the whole answer as text."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall(line.encode() + b"\n")
        return recv_all(s).decode("utf-8", "replace")


def wait_until(pred, timeout=10.0, step=0.02):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return bool(pred())


class Procs:
    """Context manager owning every process a test starts."""

    def __init__(self):
        self.procs = []
        self.tmp = tempfile.TemporaryDirectory(prefix="aoai-test-")
        self.dir = self.tmp.name

    def __enter__(self):
        return self

    def start(self, argv, log_name=None, **kw):
        if log_name:
            log = open(os.path.join(self.dir, log_name), "wb")
            kw.setdefault("stdout", log)
            kw.setdefault("stderr", subprocess.STDOUT)
        kw.setdefault("stdin", subprocess.DEVNULL)
        p = subprocess.Popen(argv, **kw)
        p.log_path = os.path.join(self.dir, log_name) if log_name else None
        self.procs.append(p)
        return p

    def stop(self, p, sig=signal.SIGTERM, timeout=10.0):
        """Stops <p>; returns its exit code (None if it had to be killed)."""
        if p.poll() is None:
            try:
                p.send_signal(sig)
            except ProcessLookupError:
                pass
            try:
                return p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                return None
        return p.returncode

    def __exit__(self, *exc):
        for p in reversed(self.procs):
            if p.poll() is None:
                try:
                    os.kill(p.pid, signal.SIGCONT)
                except OSError:
                    pass
                p.terminate()
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.tmp.cleanup()
        return False

    def path(self, name):
        return os.path.join(self.dir, name)

    def write(self, name, text):
        path = self.path(name)
        with open(path, "w") as f:
            f.write(text)
        return path


def read_log(p):
    if not getattr(p, "log_path", None):
        return ""
    with open(p.log_path, "rb") as f:
        return f.read().decode("utf-8", "replace")


AGENT_YAML = """\
agent:
  log_level: {log_level}
  max_connections: {max_connections}
  hello_timeout: {hello_timeout}
  idle_timeout: {idle_timeout}
  shutdown_timeout: 3s
listen:
  - tcp://127.0.0.1:{port}
backends:
  - name: eastus
  - name: swedencentral
  - name: westus-payg
pools:
  - name: chat
    members:
      - {{backend: eastus, priority: 1, weight: 3}}
      - {{backend: swedencentral, priority: 1, weight: 1}}
      - {{backend: westus-payg, priority: 2, weight: 1}}
"""


def agent_yaml(port, log_level="info", max_connections=4096,
               hello_timeout="5s", idle_timeout="60s"):
    return AGENT_YAML.format(port=port, log_level=log_level,
                             max_connections=max_connections,
                             hello_timeout=hello_timeout,
                             idle_timeout=idle_timeout)


def start_agent(procs, yaml_text, port=None, binary=None, name="agent",
                env=None):
    """Writes the config, starts the agent, waits for its port.
    Returns (proc, config path). <port> must be the one in yaml_text."""
    cfg = procs.write(name + ".yaml", yaml_text)
    p = procs.start([binary or AGENT, "-f", cfg], log_name=name + ".log",
                    env=env)
    if port is not None and not wait_port(port, 10, p):
        raise RuntimeError("agent did not listen on %d: %s"
                           % (port, read_log(p)[-2000:]))
    return p, cfg


# ---- HAProxy's side of SPOP ----

def haproxy_hello(versions="2.0", mfs=16380, caps="pipelining,async",
                  healthcheck=None, engine_id="test-engine", omit=()):
    items = []
    if "versions" not in omit:
        items.append(spop.kv("supported-versions", "STRING", versions))
    if "mfs" not in omit:
        items.append(spop.kv("max-frame-size", "UINT32", mfs))
    if "caps" not in omit:
        items.append(spop.kv("capabilities", "STRING", caps))
    if healthcheck is not None:
        items.append(spop.kv("healthcheck", "BOOL", healthcheck))
    if engine_id:
        items.append(spop.kv("engine-id", "STRING", engine_id))
    return spop.frame(spop.T_HAPROXY_HELLO, b"".join(items))


def message(name, args):
    """args: list of (name, type name, value)."""
    out = spop.enc_str(name) + bytes([len(args)])
    for aname, tname, value in args:
        out += spop.kv(aname, tname, value)
    return out


def notify(stream_id, frame_id, messages, flags=spop.FL_FIN):
    """messages: list of (name, args)."""
    payload = b"".join(message(n, a) for n, a in messages)
    return spop.frame(spop.T_NOTIFY, payload, stream_id, frame_id, flags)


def route_msg(pool="chat", key=None, extra=()):
    args = [("pool", "STRING", pool)]
    if key is not None:
        args.append(("key", "STRING", key))
    args.extend(extra)
    return ("aoai-route", args)


def haproxy_disconnect(code=0, message_text="normal"):
    return spop.frame(spop.T_HAPROXY_DISCONNECT,
                      spop.kv("status-code", "UINT32", code)
                      + spop.kv("message", "STRING", message_text))


def actions(decoded):
    """{variable name: value} of an ACK's set-var actions (unset-var: None)."""
    out = {}
    for a in decoded.get("actions", []):
        if a.get("type") == 1:
            val = a["value"]
            out[a["name"]] = val[2] if isinstance(val, tuple) else val
        elif a.get("type") == 2:
            out[a["name"]] = None
    return out


def kvs(decoded):
    """{name: value} of a KV-LIST frame."""
    out = {}
    for name, val, _s, _e in decoded.get("kv", []):
        out[name] = val[2] if isinstance(val, tuple) else val
    return out


class SpopClient:
    """A blocking SPOP connection playing HAProxy."""

    def __init__(self, port=None, path=None, timeout=5.0):
        if path:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(path)
        else:
            self.sock = socket.create_connection((LOCAL, port), timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP if not path else
                             socket.SOL_SOCKET,
                             socket.TCP_NODELAY if not path else
                             socket.SO_KEEPALIVE, 1)
        self.buf = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, n, timeout):
        self.sock.settimeout(timeout)
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                return False
            self.buf += chunk
        return True

    def recv_raw(self, timeout=5.0):
        """One whole frame with its prefix, or None at EOF."""
        try:
            if not self._fill(4, timeout):
                return None
            (n,) = struct.unpack(">I", self.buf[:4])
            if not self._fill(4 + n, timeout):
                return None
        except (ConnectionResetError, BrokenPipeError):
            return None
        raw, self.buf = self.buf[:4 + n], self.buf[4 + n:]
        return raw

    def recv(self, timeout=5.0):
        """One decoded frame (dict), or None at EOF."""
        raw = self.recv_raw(timeout)
        return None if raw is None else spop.decode_frame(raw)

    def eof(self, timeout=5.0):
        """True when the agent closed the connection (nothing else came)."""
        try:
            self.sock.settimeout(timeout)
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False

    def hello(self, **kw):
        self.send(haproxy_hello(**kw))
        return self.recv()

    def route(self, stream_id, frame_id, pool="chat", key=None):
        self.send(notify(stream_id, frame_id, [route_msg(pool, key)]))
        f = self.recv()
        return f, actions(f) if f else {}
