#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Capture golden SPOP 2.0 frames from the real HAProxy installed on this host.

Usage:
    capture.py                 run HAProxy against a fake SPOE agent, write the
                               *.bin frames and README.md next to this script
    capture.py --out DIR       same, but write into DIR
    capture.py --dump FILE...  print a human-readable decode of frame files

What a run does:
  1. starts a fake SPOE agent (Python, this file) on 127.0.0.1:<port 0>;
  2. writes haproxy.cfg + spoe.conf into a temp dir (all ports chosen at run
     time, everything bound to 127.0.0.1);
  3. starts `haproxy -db -f haproxy.cfg`, waits for the spop-check health-check
     HELLO, sends one HTTP request (x-session: abc) so HAProxy opens an SPOE
     connection (normal HELLO) and emits the NOTIFY frames of both messages,
     then sends SIGUSR1 (soft stop) and records what HAProxy sends on the
     idle SPOE connection;
  4. saves every interesting frame exactly as received (4-byte length prefix
     included) and writes README.md with a decode of each one, produced by the
     decoder below.

Python 3 standard library only. Never contacts anything but 127.0.0.1.
Every process it starts is killed in a finally block; the temp dir is removed.
"""

import argparse
import http.client
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
HAPROXY = os.environ.get("HAPROXY", "/usr/sbin/haproxy")
LOCALHOST = "127.0.0.1"
OVERALL_DEADLINE = 25.0  # seconds; the whole run must finish in < 30 s

sys.path.insert(0, os.path.join(HERE, "..", "lib"))
from spop import *  # noqa: E402,F401,F403  the shared test codec


def _hex(b):
    return " ".join("%02x" % x for x in b)


def _fmt_value(val):
    tname, fl, v = val
    if tname == "NULL":
        s = "(null)"
    elif tname in ("STRING", "BINARY"):
        try:
            txt = v.decode("ascii")
            s = repr(txt) if txt.isprintable() else "0x" + v.hex()
        except UnicodeDecodeError:
            s = "0x" + v.hex()
        if tname == "BINARY":
            s = "0x%s %s" % (v.hex(), "(%s)" % s if not s.startswith("0x") else "")
    else:
        s = str(v)
    if fl and tname != "BOOL":
        s += "  [flags=0x%x]" % fl
    return "%-7s %s" % (tname, s.rstrip())


def hexdump(raw):
    lines = []
    for off in range(0, len(raw), 16):
        chunk = raw[off:off + 16]
        asc = "".join(chr(c) if 32 <= c < 127 else "." for c in chunk)
        lines.append("%04x  %-47s  %s" % (off, _hex(chunk), asc))
    return "\n".join(lines)


def dump_frame(raw, name=None):
    """Human-readable decode of one frame (length prefix included)."""
    d = decode_frame(raw)
    body = d["body"]
    out = []
    if name:
        out.append("file          : %s (%d bytes)" % (name, len(raw)))
    out.append("length prefix : %d  [%s]" % (d["length"], _hex(raw[:4])))
    out.append("frame type    : %d (%s)  [%02x]" % (d["type"], d["type_name"], d["type"]))
    fl = []
    if d["flags"] & FL_FIN:
        fl.append("FIN")
    if d["flags"] & FL_ABORT:
        fl.append("ABORT")
    if d["flags"] & ~3:
        fl.append("reserved bits 0x%x" % (d["flags"] & ~3))
    out.append("flags         : 0x%08x (%s)  [%s]" % (d["flags"], "|".join(fl) or "none", _hex(body[1:5])))
    out.append("stream-id     : %d" % d["stream_id"])
    out.append("frame-id      : %d  [stream-id+frame-id varints: %s]" % (d["frame_id"], _hex(body[5:d["meta_end"]])))
    out.append("payload       : %s (%d bytes)" % (d["payload_kind"], len(body) - d["meta_end"]))
    if "kv" in d:
        for name_, val, s, e in d["kv"]:
            out.append("  %-20s %s" % (name_.decode(), _fmt_value(val)))
            out.append("  %-20s   [%s]" % ("", _hex(body[s:e])))
    if "messages" in d:
        for m in d["messages"]:
            out.append("  message %r, %d args  [%s]" % (m["name"].decode(), m["nargs"],
                                                       _hex(body[m["start"]:m["hdr_end"]])))
            for aname, val, s, e in m["args"]:
                out.append("    %-18s %s" % (aname.decode(), _fmt_value(val)))
                out.append("    %-18s   [%s]" % ("", _hex(body[s:e])))
    if "actions" in d:
        for a in d["actions"]:
            line = "  action %d (%s), %d args" % (a["type"], a["type_name"], a["nargs"])
            if "scope" in a:
                line += ": scope %d (%s), name %r" % (a["scope"], SCOPES.get(a["scope"], "?"), a["name"].decode())
            if "value" in a:
                line += ", value " + _fmt_value(a["value"])
            out.append(line)
            out.append("    [%s]" % _hex(body[a["start"]:a["end"]]))
    if d.get("unparsed"):
        out.append("  unparsed: %s" % _hex(d["unparsed"]))
    out.append("hex:")
    out.append(hexdump(raw))
    return "\n".join(out)


def kv_dict(d):
    return {k.decode(): v for k, v, _, _ in d.get("kv", [])}


# --------------------------------------------------------------------------
# Fake SPOE agent
# --------------------------------------------------------------------------

def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


class FakeAgent:
    """Accepts SPOP connections, records every frame in both directions."""

    def __init__(self):
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((LOCALHOST, 0))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        self.cond = threading.Condition()
        self.events = []  # dicts: t, conn, dir ('in'/'out'/'close'), raw, decoded
        self.conns = []
        self.stopping = False
        self.t0 = time.monotonic()
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)

    def start(self):
        self.thread.start()

    def _record(self, conn_no, direction, raw=None, note=None):
        ev = {"t": time.monotonic() - self.t0, "conn": conn_no, "dir": direction, "raw": raw, "note": note}
        if raw is not None:
            try:
                ev["decoded"] = decode_frame(raw)
            except DecodeError as e:
                ev["decoded"] = None
                ev["note"] = "decode error: %s" % e
        with self.cond:
            self.events.append(ev)
            self.cond.notify_all()

    def _accept_loop(self):
        n = 0
        while not self.stopping:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            n += 1
            with self.cond:
                self.conns.append(c)
            threading.Thread(target=self._serve, args=(c, n), daemon=True).start()

    def _send(self, c, conn_no, raw):
        c.sendall(raw)
        self._record(conn_no, "out", raw)

    def _serve(self, c, conn_no):
        c.settimeout(OVERALL_DEADLINE)
        why = "eof from haproxy"
        try:
            while True:
                hdr = recv_exact(c, 4)
                if hdr is None:
                    break
                (ln,) = struct.unpack(">I", hdr)
                if ln > 1 << 20:
                    why = "absurd frame length %d" % ln
                    break
                body = recv_exact(c, ln)
                if body is None:
                    why = "eof inside a frame"
                    break
                raw = hdr + body
                self._record(conn_no, "in", raw)
                d = decode_frame(raw)
                if d["type"] == T_HAPROXY_HELLO:
                    kvs = kv_dict(d)
                    mfs = kvs.get("max-frame-size", ("UINT32", 0, 16380))[2]
                    self._send(c, conn_no, agent_hello(mfs))
                    hc = kvs.get("healthcheck")
                    if hc and hc[2]:
                        why = "agent closed after health-check HELLO"
                        break
                elif d["type"] == T_NOTIFY:
                    self._send(c, conn_no, ack_set_var(d["stream_id"], d["frame_id"], "backend", "eastus"))
                elif d["type"] == T_HAPROXY_DISCONNECT:
                    self._send(c, conn_no, agent_disconnect(0, "ok"))
                    why = "agent closed after AGENT-DISCONNECT"
                    break
        except (OSError, DecodeError) as e:
            why = "error: %s" % e
        finally:
            try:
                c.close()
            except OSError:
                pass
            self._record(conn_no, "close", note=why)

    def wait_for(self, pred, timeout):
        """Wait until pred(events) returns a truthy value; returns it or None."""
        end = time.monotonic() + timeout
        with self.cond:
            while True:
                r = pred(self.events)
                if r:
                    return r
                left = end - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def snapshot(self):
        with self.cond:
            return list(self.events)

    def stop(self):
        self.stopping = True
        try:
            self.lsock.close()
        except OSError:
            pass
        with self.cond:
            conns = list(self.conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                c.close()
            except OSError:
                pass


# event predicates --------------------------------------------------------

def _in_frames(events, ftype):
    return [e for e in events if e["dir"] == "in" and e.get("decoded") and e["decoded"]["type"] == ftype]


def find_hello(events, healthcheck):
    for e in _in_frames(events, T_HAPROXY_HELLO):
        hc = kv_dict(e["decoded"]).get("healthcheck")
        if bool(hc and hc[2]) == healthcheck:
            return e
    return None


def find_notify(events, msg_name):
    for e in _in_frames(events, T_NOTIFY):
        if any(m["name"] == msg_name.encode() for m in e["decoded"]["messages"]):
            return e
    return None


def find_reply(events, conn, ftype, after_t):
    for e in events:
        if e["dir"] == "out" and e["conn"] == conn and e["t"] >= after_t and e["decoded"]["type"] == ftype:
            return e
    return None


# --------------------------------------------------------------------------
# HAProxy configuration
# --------------------------------------------------------------------------

SPOE_CONF = """\
[aoai]
spoe-agent aoai-agent
    messages aoai-route aoai-result
    option var-prefix aoai
    no option send-frag-payload
    register-var-names backend reason retry_after
    timeout hello 2s
    timeout idle 20s
    timeout processing 2s
    use-backend spoe-aoai
    log global

spoe-message aoai-route
    args pool=str(chat) key=req.hdr(x-session) missing=req.hdr(x-not-there) n=int(42) neg=int(-7) big=int(300) src=src b=bool(1) f=bool(0) ip4=ipv4(10.1.2.3) ip6=ipv6(::1) bin=bin(00ff10) meth=method
    event on-backend-http-request

spoe-message aoai-result
    args backend=var(txn.aoai.backend) status=status retry_after=res.hdr(retry-after) retry_after_ms=res.hdr(retry-after-ms) remaining_requests=res.hdr(x-ratelimit-remaining-requests) remaining_tokens=res.hdr(x-ratelimit-remaining-tokens)
    event on-http-response
"""

HAPROXY_CFG = """\
global
    log stdout format raw local0 debug
    nbthread 1
    hard-stop-after 8s

defaults
    mode http
    log global
    option httplog
    timeout connect 2s
    timeout client 10s
    timeout server 10s

frontend fe
    bind {lo}:{fe_port}
    default_backend be_app

backend be_app
    filter spoe engine aoai config {spoe_conf}
    http-response set-header x-aoai-backend %[var(txn.aoai.backend)] if {{ var(txn.aoai.backend) -m found }}
    server app {lo}:{app_port}

listen app
    bind {lo}:{app_port}
    http-request return status 200 content-type text/plain string ok hdr retry-after 7 hdr x-ratelimit-remaining-requests 99

backend spoe-aoai
    mode tcp
    balance roundrobin
    option spop-check
    timeout connect 1s
    timeout server 30s
    server agent {lo}:{agent_port} check inter 1s
"""


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((LOCALHOST, 0))
    p = s.getsockname()[1]
    s.close()
    return p


def haproxy_version():
    out = subprocess.run([HAPROXY, "-v"], capture_output=True, text=True, timeout=5).stdout
    return out.splitlines()[0].strip() if out else "unknown"


# --------------------------------------------------------------------------
# The capture run
# --------------------------------------------------------------------------

def run_capture(outdir):
    t_start = time.monotonic()
    deadline = t_start + OVERALL_DEADLINE

    def left(cap):
        return max(0.1, min(cap, deadline - time.monotonic()))

    version = haproxy_version()
    tmp = tempfile.mkdtemp(prefix="aoai-golden-")
    agent = FakeAgent()
    proc = None
    logf = None
    obs = {"version": version}
    try:
        agent.start()
        fe_port, app_port = free_port(), free_port()
        spoe_path = os.path.join(tmp, "spoe.conf")
        cfg_path = os.path.join(tmp, "haproxy.cfg")
        log_path = os.path.join(tmp, "haproxy.log")
        with open(spoe_path, "w") as f:
            f.write(SPOE_CONF)
        cfg = HAPROXY_CFG.format(lo=LOCALHOST, fe_port=fe_port, app_port=app_port,
                                 agent_port=agent.port, spoe_conf=spoe_path)
        with open(cfg_path, "w") as f:
            f.write(cfg)
        obs["spoe_conf"] = SPOE_CONF
        obs["haproxy_cfg"] = HAPROXY_CFG.format(lo=LOCALHOST, fe_port="FE_PORT", app_port="APP_PORT",
                                                agent_port="AGENT_PORT", spoe_conf="spoe.conf")

        chk = subprocess.run([HAPROXY, "-c", "-f", cfg_path], capture_output=True, text=True,
                             timeout=left(5), cwd=tmp)
        if chk.returncode != 0:
            raise RuntimeError("haproxy -c failed:\n" + chk.stdout + chk.stderr)
        obs["config_check"] = (chk.stdout + chk.stderr).strip()

        logf = open(log_path, "wb")
        proc = subprocess.Popen([HAPROXY, "-db", "-f", cfg_path], stdout=logf, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=tmp)

        # 1. health-check HELLO (option spop-check)
        hc = agent.wait_for(lambda ev: find_hello(ev, True), left(6))
        if not hc:
            raise RuntimeError("no health-check HELLO from haproxy")
        # Did HAProxy open a normal SPOE connection on its own, without traffic?
        time.sleep(0.3)
        obs["hello_before_traffic"] = find_hello(agent.snapshot(), False) is not None

        # 2. one HTTP request -> normal HELLO + NOTIFY aoai-route + NOTIFY aoai-result
        hconn = http.client.HTTPConnection(LOCALHOST, fe_port, timeout=left(5))
        hconn.request("GET", "/v1/chat?x=1", headers={"x-session": "abc", "Connection": "close"})
        resp = hconn.getresponse()
        resp.read()
        obs["http_status"] = resp.status
        obs["http_x_aoai_backend"] = resp.getheader("x-aoai-backend")
        hconn.close()

        hello = agent.wait_for(lambda ev: find_hello(ev, False), left(3))
        route = agent.wait_for(lambda ev: find_notify(ev, "aoai-route"), left(3))
        result = agent.wait_for(lambda ev: find_notify(ev, "aoai-result"), left(3))
        if not (hello and route and result):
            raise RuntimeError("missing frames: hello=%s route=%s result=%s" % (bool(hello), bool(route), bool(result)))
        spoe_conn = hello["conn"]

        # 3. soft stop
        time.sleep(0.2)
        t_sig = time.monotonic() - agent.t0
        proc.send_signal(signal.SIGUSR1)
        obs["stop_method"] = "soft stop: SIGUSR1 to the haproxy -db process"

        def disc_pred(ev):
            for e in _in_frames(ev, T_HAPROXY_DISCONNECT):
                if e["t"] >= t_sig:
                    return e
            return None

        disc = agent.wait_for(disc_pred, left(5))
        obs["disconnect_on_soft_stop"] = disc is not None
        if disc is None:
            obs["stop_method"] += " (no HAPROXY-DISCONNECT seen; see events)"
        try:
            proc.wait(timeout=left(9))
            obs["exit_code"] = proc.returncode
        except subprocess.TimeoutExpired:
            obs["exit_code"] = None
        t_exit = time.monotonic() - agent.t0
        obs["exit_after_sigusr1_s"] = round(t_exit - t_sig, 2) if obs["exit_code"] is not None else None
        time.sleep(0.2)

        events = agent.snapshot()
        logf.close()
        logf = None
        with open(log_path, "rb") as f:
            obs["log"] = f.read().decode("utf-8", "replace")
        obs["events"] = events
        obs["spoe_conn"] = spoe_conn

        files = {
            "haproxy-hello-healthcheck.bin": hc,
            "haproxy-hello.bin": hello,
            "notify-route.bin": route,
            "notify-result.bin": result,
            "agent-hello.bin": find_reply(events, spoe_conn, T_AGENT_HELLO, hello["t"]),
            "ack.bin": find_reply(events, route["conn"], T_ACK, route["t"]),
        }
        if disc is not None:
            files["haproxy-disconnect.bin"] = disc
        os.makedirs(outdir, exist_ok=True)
        for fn, ev in files.items():
            if ev is None:
                raise RuntimeError("frame for %s not captured" % fn)
            with open(os.path.join(outdir, fn), "wb") as f:
                f.write(ev["raw"])
        obs["files"] = {fn: ev["raw"] for fn, ev in files.items()}
        obs["conn_of"] = {fn: ev["conn"] for fn, ev in files.items()}
        obs["disconnect_delay_s"] = round(disc["t"] - t_sig, 3) if disc is not None else None
        obs["duration_s"] = round(time.monotonic() - t_start, 2)
        write_readme(outdir, obs)
        return obs
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                pass
        if logf is not None:
            logf.close()
        agent.stop()
        shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------
# README generation
# --------------------------------------------------------------------------

FILE_DESCRIPTIONS = [
    ("haproxy-hello.bin", "HAPROXY-HELLO that opens a normal SPOE connection (sent by the SPOE applet when the first stream needs the agent)."),
    ("haproxy-hello-healthcheck.bin", "HAPROXY-HELLO sent by `option spop-check` on the agent backend's server (healthcheck=true)."),
    ("notify-route.bin", "NOTIFY carrying message `aoai-route` (event on-backend-http-request), request `GET /v1/chat?x=1` with `x-session: abc`."),
    ("notify-result.bin", "NOTIFY carrying message `aoai-result` (event on-http-response) for the same stream."),
    ("haproxy-disconnect.bin", "HAPROXY-DISCONNECT HAProxy sent on the idle SPOE connection after SIGUSR1 (soft stop)."),
    ("agent-hello.bin", "AGENT-HELLO the fake agent (capture.py) answered on the normal connection."),
    ("ack.bin", "ACK the fake agent answered to notify-route.bin (set-var txn `backend` = \"eastus\")."),
]


def _v(obs_file_raw):
    return decode_frame(obs_file_raw)


def observed_facts(obs):
    facts = []
    files = obs["files"]
    h = kv_dict(_v(files["haproxy-hello.bin"]))
    hc_d = _v(files["haproxy-hello-healthcheck.bin"])
    hc = kv_dict(hc_d)

    def show(v):
        return "%s %r" % (v[0], v[2].decode() if isinstance(v[2], bytes) else v[2])

    facts.append("Normal HAPROXY-HELLO KV order: %s." % ", ".join("`%s` (%s)" % (k.decode(), v[0]) for k, v, _, _ in _v(files["haproxy-hello.bin"])["kv"]))
    facts.append("Normal HELLO values: supported-versions %s, max-frame-size %s, capabilities %s." % (
        show(h["supported-versions"]), show(h["max-frame-size"]), show(h["capabilities"])))
    if "engine-id" in h:
        facts.append("Normal HELLO carries engine-id (%s, %d chars)." % (h["engine-id"][0], len(h["engine-id"][2])))
    facts.append("Health-check HELLO KV order: %s; engine-id %s." % (
        ", ".join("`%s` (%s)" % (k.decode(), v[0]) for k, v, _, _ in hc_d["kv"]),
        "present" if "engine-id" in hc else "ABSENT"))
    facts.append("Health-check HELLO values: supported-versions %s, max-frame-size %s, capabilities %s, healthcheck %s." % (
        show(hc["supported-versions"]), show(hc["max-frame-size"]), show(hc["capabilities"]),
        show(hc["healthcheck"])))
    facts.append("HELLO stream-id/frame-id: normal %d/%d, health-check %d/%d; flags normal 0x%08x, health-check 0x%08x." % (
        _v(files["haproxy-hello.bin"])["stream_id"], _v(files["haproxy-hello.bin"])["frame_id"],
        hc_d["stream_id"], hc_d["frame_id"], _v(files["haproxy-hello.bin"])["flags"], hc_d["flags"]))
    facts.append("A normal SPOE connection was %s opened before any traffic (only the spop-check connection exists until a stream needs the agent)." % (
        "ALREADY" if obs["hello_before_traffic"] else "NOT"))
    r = _v(files["notify-route.bin"])
    s = _v(files["notify-result.bin"])
    facts.append("NOTIFY aoai-route: stream-id %d, frame-id %d, flags 0x%08x; NOTIFY aoai-result: stream-id %d, frame-id %d (same connection: %s)." % (
        r["stream_id"], r["frame_id"], r["flags"], s["stream_id"], s["frame_id"],
        "yes" if obs["conn_of"]["notify-route.bin"] == obs["conn_of"]["notify-result.bin"] == obs["conn_of"]["haproxy-hello.bin"] else "no"))
    types = {}
    for m in r["messages"] + s["messages"]:
        for an, val, _, _ in m["args"]:
            types[an.decode()] = val
    desc = []
    for an, (t, fl, v) in types.items():
        if t == "NULL":
            desc.append("`%s` -> NULL" % an)
        elif t == "STRING":
            desc.append("`%s` -> STRING(%s)" % (an, v.decode()))
        elif t == "BINARY":
            desc.append("`%s` -> BINARY(0x%s)" % (an, v.hex()))
        else:
            desc.append("`%s` -> %s(%s)" % (an, t, v))
    facts.append("Argument types as sent: " + "; ".join(desc) + ".")
    # Encoding details, derived from the captured bytes.
    enc = {}  # arg name -> (decoded value, bytes of the typed value)
    for fr in (r, s):
        for m in fr["messages"]:
            for an, val, st, en in m["args"]:
                name_len = len(enc_str(an))
                enc[an.decode()] = (val, fr["body"][st + name_len:en])
    ints = sorted({v[0] for k, (v, _) in enc.items() if k in ("n", "neg", "big", "status")})
    facts.append("Integer samples (int(), status) use type(s) %s; never INT32/UINT32 in NOTIFY." % "/".join(ints))
    if "neg" in enc:
        facts.append("int(-7) is encoded as `%s`: the two's-complement uint64 value as a %d-byte varint after the type byte." % (
            _hex(enc["neg"][1]), len(enc["neg"][1]) - 1))
    if "missing" in enc:
        facts.append("An absent header (req.hdr of a missing header) is NULL, encoded as the single byte `%s`; an unset var and absent response headers likewise." % _hex(enc["missing"][1]))
    if "b" in enc and "f" in enc:
        facts.append("bool(1) / bool(0) work (sample fetch `bool()`): encoded `%s` (true, flag bit 0x10) and `%s` (false)." % (
            _hex(enc["b"][1]), _hex(enc["f"][1])))
    if "ip6" in enc:
        facts.append("ipv6(::1) works: IPV6 type 7 + 16 raw bytes. `src` of an IPv4 client is IPV4 type 6 + 4 raw bytes.")
    if "meth" in enc:
        facts.append("`method` (HAProxy's METH sample type) is sent as %s; bin() as %s." % (
            enc["meth"][0][0], enc["bin"][0][0] if "bin" in enc else "?"))
    facts.append("KV names, message names and var names are bare `<varint length><bytes>` (no type byte); values are typed data.")
    if obs.get("disconnect_on_soft_stop"):
        dd = _v(files["haproxy-disconnect.bin"])
        dk = kv_dict(dd)
        facts.append("Soft stop (SIGUSR1) DOES make HAProxy send HAPROXY-DISCONNECT on the idle SPOE connection: status-code %s, message %s, stream-id %d, frame-id %d, %.3f s after the signal (the agent then answered AGENT-DISCONNECT and closed)." % (
            show(dk["status-code"]), show(dk["message"]), dd["stream_id"], dd["frame_id"], obs["disconnect_delay_s"]))
    else:
        facts.append("Soft stop (SIGUSR1) did NOT produce a HAPROXY-DISCONNECT.")
    if obs.get("exit_code") is not None:
        facts.append("HAProxy (-db, idle) exited with status %s, %.2f s after SIGUSR1." % (obs["exit_code"], obs["exit_after_sigusr1_s"]))
    else:
        facts.append("HAProxy had not exited within the wait window after SIGUSR1 (killed).")
    facts.append("The ACK's set-var was applied: response header x-aoai-backend = %r (HTTP %s); aoai-result's `backend=var(txn.aoai.backend)` arrived as %s." % (
        obs.get("http_x_aoai_backend"), obs.get("http_status"),
        show(types["backend"]) if "backend" in types else "?"))
    spoe_lines = [l for l in obs["log"].splitlines() if l.startswith("SPOE:")]
    if spoe_lines:
        facts.append("SPOE logs one line per processed event (before the HTTP log line of the stream), e.g. " + "; ".join("`%s`" % l for l in spoe_lines) + ". Format: `SPOE: [AGENT] <EVENT:name> sid=STREAM st=STATUS reqT/qT/wT/resT/pT idles/applets sending/waiting errors/processed`.")
    else:
        facts.append("No SPOE log line was emitted.")
    return facts


def write_readme(outdir, obs):
    out = []
    out.append("# Golden SPOP frames from the real HAProxy\n")
    out.append("Generated by `tests/golden/capture.py` (do not edit by hand; re-run the script).\n")
    out.append("- HAProxy: `%s` (`%s`)" % (obs["version"], HAPROXY))
    out.append("- Captured: %s, run took %.1f s" % (time.strftime("%Y-%m-%d %H:%M:%S %Z"), obs["duration_s"]))
    out.append("- Method: a fake SPOE agent in capture.py on 127.0.0.1 (port chosen at run time) answers HELLO with "
               "AGENT-HELLO (version \"2.0\", HAProxy's max-frame-size, capabilities \"pipelining\"), every NOTIFY with an ACK "
               "holding one set-var (txn, `backend`, STRING \"eastus\"), HAPROXY-DISCONNECT with AGENT-DISCONNECT (0, \"ok\"). "
               "HAProxy runs `-db` with the configuration below; the script waits for the spop-check HELLO, sends one HTTP "
               "request (`GET /v1/chat?x=1`, `x-session: abc`), then stops HAProxy (%s)." % obs["stop_method"])
    out.append("- Every `.bin` file is one frame exactly as it crossed the socket, **including** the 4-byte big-endian length prefix.")
    out.append("- Decode any of them with `python3 tests/golden/capture.py --dump FILE`.\n")
    out.append("## Files\n")
    out.append("| file | bytes | what |")
    out.append("|---|---|---|")
    for fn, what in FILE_DESCRIPTIONS:
        if fn in obs["files"]:
            out.append("| `%s` | %d | %s |" % (fn, len(obs["files"][fn]), what))
    out.append("")
    out.append("## Observed HAProxy behaviour\n")
    for f in observed_facts(obs):
        out.append("- " + f)
    out.append("")
    out.append("## Decoded frames\n")
    for fn, _ in FILE_DESCRIPTIONS:
        if fn in obs["files"]:
            out.append("### %s\n" % fn)
            out.append("```")
            out.append(dump_frame(obs["files"][fn], fn))
            out.append("```\n")
    out.append("## Frame sequence seen by the fake agent\n")
    out.append("conn 1.. are TCP connections in accept order; times are seconds since the agent started.\n")
    out.append("```")
    for e in obs["events"]:
        if e["dir"] == "close":
            out.append("%7.3f conn %d  close  (%s)" % (e["t"], e["conn"], e["note"]))
        else:
            d = e["decoded"]
            extra = ""
            if d and d["type"] == T_HAPROXY_HELLO and kv_dict(d).get("healthcheck"):
                extra = " healthcheck"
            if d and d["type"] == T_NOTIFY:
                extra = " " + ",".join(m["name"].decode() for m in d["messages"])
            out.append("%7.3f conn %d  %s  %-18s sid=%d fid=%d len=%d%s" % (
                e["t"], e["conn"], "<-" if e["dir"] == "in" else "->",
                d["type_name"] if d else "?", d["stream_id"] if d else -1, d["frame_id"] if d else -1,
                len(e["raw"]) - 4, extra))
    out.append("```\n")
    out.append("## HAProxy log (stdout, `log stdout format raw local0 debug`)\n")
    out.append("```")
    out.append(obs["log"].rstrip())
    out.append("```\n")
    out.append("## Configuration used\n")
    out.append("`haproxy.cfg` (ports and paths substituted at run time):\n")
    out.append("```")
    out.append(obs["haproxy_cfg"].rstrip())
    out.append("```\n")
    out.append("`spoe.conf`:\n")
    out.append("```")
    out.append(obs["spoe_conf"].rstrip())
    out.append("```")
    with open(os.path.join(outdir, "README.md"), "w") as f:
        f.write("\n".join(out) + "\n")


# --------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dump", nargs="+", metavar="FILE", help="decode frame file(s) and exit")
    ap.add_argument("--out", default=HERE, help="output directory (default: next to this script)")
    args = ap.parse_args(argv)
    if args.dump:
        rc = 0
        for i, fn in enumerate(args.dump):
            with open(fn, "rb") as f:
                raw = f.read()
            if i:
                print()
            try:
                print(dump_frame(raw, os.path.basename(fn)))
            except DecodeError as e:
                print("%s: decode error: %s" % (fn, e), file=sys.stderr)
                rc = 1
        return rc
    obs = run_capture(args.out)
    print("HAProxy: %s" % obs["version"])
    for fn, raw in obs["files"].items():
        print("wrote %s (%d bytes)" % (os.path.join(args.out, fn), len(raw)))
    print("wrote %s" % os.path.join(args.out, "README.md"))
    print("took %.2f s" % obs["duration_s"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
