#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Control socket: every command and error path, access levels,
JSON output, prompt mode, limits, run-time changes across reloads, socket
files (mode, stale socket), reload of the socket list.
"""
import json
import os
import re
import socket
import stat
import subprocess
import time

import harness as H
import itest

CFG = """\
agent:
  log_level: info
listen:
  - tcp://127.0.0.1:{port}
control:
  - {{address: "unix://{dir}/admin.sock", level: admin}}
  - {{address: "unix://{dir}/oper.sock", level: operator, mode: "0660"}}
  - {{address: "tcp://127.0.0.1:{uport}", level: user}}
{extra}backends:
  - name: eastus
    circuit_breaker:
      trip_duration: 45s
  - name: swedencentral
  - name: westus-payg
pools:
  - name: chat
    members:
      - {{backend: eastus, priority: 1, weight: 3}}
      - {{backend: swedencentral, priority: 1, weight: 1}}
      - {{backend: westus-payg, priority: 2, weight: 1}}
"""

# what each command needs; the argument is a valid one for the test setup
OPERATOR_CMDS = ["set weight chat eastus 3", "disable backend westus-payg",
                 "enable backend westus-payg", "trip backend westus-payg 1s",
                 "reset backend westus-payg"]
ADMIN_CMDS = ["reload", "clear counters"]
USER_CMDS = ["help", "show info", "show backends", "show pools",
             "show config", "show haproxy", "show metrics",
             "set timeout cli 30"]

BACKEND_KEYS = {"name", "state", "disabled", "down", "runtime", "reason",
                "remaining_ms", "trip_duration_ms", "consecutive_trips",
                "probes_inflight", "probe_limit", "window_faults",
                "window_calls", "consecutive_faults", "remaining_requests",
                "remaining_tokens", "remaining_requests_age_ms",
                "remaining_tokens_age_ms", "headroom_permille",
                "weight_permille", "auth_unavailable", "auth", "counters"}
MEMBER_KEYS = {"backend", "priority", "weight", "cfg_weight",
               "runtime_weight", "effective_weight_milli", "state",
               "available"}


def connect(addr, timeout=5.0):
    if isinstance(addr, int):
        return socket.create_connection((H.LOCAL, addr), timeout)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(addr)
    return s


def recv_all(s, timeout=5.0):
    s.settimeout(timeout)
    out = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    except socket.timeout:
        pass
    except ConnectionResetError:
        pass
    return out


def ask(addr, line, timeout=5.0):
    """One non-interactive line: the whole answer, until the agent closes."""
    s = connect(addr, timeout)
    try:
        s.sendall(line.encode() + b"\n")
        return recv_all(s, timeout).decode("utf-8", "replace")
    finally:
        s.close()


def ask_json(addr, line):
    text = ask(addr, line)
    try:
        return json.loads(text)
    except ValueError:
        return {"_unparsable": text}


def backends(addr):
    return {b["name"]: b for b in ask_json(addr, "show backends json")
            .get("backends", [])}


def members(addr):
    pools = ask_json(addr, "show pools json").get("pools", [])
    return {m["backend"]: m for m in pools[0]["members"]} if pools else {}


def route_counts(port, n=40):
    c = itest.active(port)
    counts = {}
    try:
        for i in range(n):
            _f, acts = itest.route(c, 1, i + 1)
            b = acts.get(b"backend")
            key = b.decode() if b else "-" + (acts.get(b"reason") or
                                              b"?").decode()
            counts[key] = counts.get(key, 0) + 1
    finally:
        c.close()
    return counts


class Prompt:
    """An interactive session (after "prompt")."""

    def __init__(self, addr):
        self.s = connect(addr)
        self.buf = b""
        self.s.sendall(b"prompt\n")
        self.read()

    def read(self, timeout=5.0):
        """Output up to the next prompt (without it), or None at EOF."""
        self.s.settimeout(timeout)
        while b"\n> " not in self.buf and not self.buf.startswith(b"> "):
            chunk = self.s.recv(65536)
            if not chunk:
                return None
            self.buf += chunk
        if self.buf.startswith(b"> "):
            self.buf = self.buf[2:]
            return ""
        i = self.buf.index(b"\n> ")
        out, self.buf = self.buf[:i + 1], self.buf[i + 3:]
        return out.decode()

    def cmd(self, line):
        self.s.sendall(line.encode() + b"\n")
        return self.read()

    def close(self):
        self.s.close()


def main():
    t = H.Tap()
    with H.Procs() as procs:
        agents = itest.Agents(t, procs)
        port, uport = H.free_port(), H.free_port()
        d = procs.dir
        admin, oper = os.path.join(d, "admin.sock"), os.path.join(d,
                                                                 "oper.sock")

        # a stale socket left by a dead process is replaced
        st = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        st.bind(admin)
        st.close()
        text = CFG.format(port=port, uport=uport, dir=d, extra="")
        p, cfg_path = agents.start(text, port)
        t.ok(H.wait_until(lambda: os.path.exists(oper), 5),
             "control sockets created")
        t.eq(stat.S_IMODE(os.stat(admin).st_mode), 0o600,
             "control socket mode 0600 by default (stale one replaced)")
        t.eq(stat.S_IMODE(os.stat(oper).st_mode), 0o660,
             "control socket mode as configured")

        # -- help, generated from the table, filtered by level
        h_admin, h_oper, h_user = (ask(admin, "help"), ask(oper, "help"),
                                   ask(uport, "help"))
        t.ok("reload" in h_admin and "trip backend NAME [DURATION]"
             in h_admin, "help at admin lists every command", h_admin)
        t.ok("trip backend" in h_oper and "reload" not in h_oper,
             "help at operator omits admin commands", h_oper)
        t.ok("show backends" in h_user and "trip backend" not in h_user
             and "set weight" not in h_user, "help at user lists read-only "
             "commands only", h_user)
        t.ok(h_admin.endswith("\n\n"), "every answer ends with an empty "
             "line", repr(h_admin[-20:]))

        # -- show info
        info = ask(admin, "show info")
        kv = dict(ln.split(":", 1) for ln in info.splitlines() if ":" in ln)
        kv = {k.strip(): v.strip() for k, v in kv.items()}
        t.ok(kv.get("config_file") == cfg_path and kv.get("backends") == "3"
             and "uptime_s" in kv and "version" in kv
             and "conn_accepted" in kv and "route_decisions" in kv,
             "show info: version, uptime, config file, counters", info)
        cols = {re.match(r"\S+\s+", ln).end() for ln in info.splitlines()
                if ln.strip()}
        t.eq(len(cols), 1, "show info: values aligned in one column")
        j = ask_json(admin, "show info json")
        per_status = {"disconnect_out_%d" % i for i in range(14)} \
            | {"disconnect_out_other"}
        t.ok(set(kv) | per_status == set(j) and j.get("pid") == p.pid
             and isinstance(j.get("uptime_s"), int)
             and j.get("config_file") == cfg_path,
             "show info json: the same keys as the text, typed, plus one "
             "disconnect_out_N per status", j)
        t.ok(kv.get("disconnect_out") == "0" and not per_status & set(kv)
             and j.get("disconnect_out") == 0,
             "show info: disconnects sent on one line, their total in JSON",
             info)
        t.eq(ask_json(admin, "show info -json").get("pid"), p.pid,
             "'-json' works like 'json'")

        # -- show backends / pools
        sb = ask(admin, "show backends")
        lines = [ln for ln in sb.splitlines() if ln]
        t.ok(lines and lines[0].split()[:3] == ["BACKEND", "STATE", "UNTIL"]
             and len(lines) == 4, "show backends: header + 3 rows", sb)
        pos = lines[0].index("STATE")
        t.ok(all(ln[pos:].split()[0] in ("closed", "open", "cooling",
                                          "half-open") for ln in lines[1:]),
             "show backends: columns aligned", sb)
        bj = ask_json(admin, "show backends json")
        ok = (isinstance(bj.get("backends"), list)
              and len(bj["backends"]) == 3
              and all(set(b) == BACKEND_KEYS for b in bj["backends"]))
        t.ok(ok, "show backends json: documented keys", bj)
        one = ask_json(admin, "show backends eastus json")
        t.ok([b["name"] for b in one.get("backends", [])] == ["eastus"],
             "show backends NAME json: one backend", one)
        pj = ask_json(admin, "show pools json")
        ok = (len(pj.get("pools", [])) == 1
              and set(pj["pools"][0]) == {"name", "best_priority",
                                          "current_priority", "counters",
                                          "members"}
              and all(set(m) == MEMBER_KEYS
                      for m in pj["pools"][0]["members"]))
        t.ok(ok, "show pools json: documented keys", pj)
        sp = ask(admin, "show pools chat")
        t.ok("pool chat: 3 members" in sp and "PRIORITY" in sp,
             "show pools NAME: text", sp)

        # -- show config: valid configuration, JSON form
        conf = ask(admin, "show config")
        copy = procs.write("copy.yaml", conf.rstrip("\n") + "\n")
        chk = subprocess.run([H.AGENT_FAST if os.path.exists(H.AGENT_FAST)
                              else H.AGENT, "-c", "-f", copy],
                             capture_output=True, text=True)
        t.ok(chk.returncode == 0 and "configuration OK" in chk.stdout,
             "show config prints a configuration the agent accepts",
             chk.stdout + chk.stderr + conf[:2000])
        cj = ask_json(admin, "show config json")
        t.ok(cj.get("backends", [{}])[0].get("circuit_breaker", {})
             .get("trip_duration_ms") == 45000
             and cj.get("pools", [{}])[0].get("members", [{}])[0]
             .get("weight") == 3, "show config json: defaults expanded, ms",
             cj)
        t.ok(ask_json(admin, "show haproxy json") == {"enabled": False}
             and "link: off" in ask(admin, "show haproxy"),
             "show haproxy without a haproxy: block")
        t.ok(ask(admin, "show metrics").startswith("# HELP aoai_spoa_"),
             "show metrics: Prometheus text")

        # -- access levels
        for cmd in USER_CMDS:
            out = ask(uport, cmd)
            t.ok(not out.startswith("error"), "user may run '%s'" % cmd,
                 out[:200])
        for cmd in OPERATOR_CMDS + ADMIN_CMDS:
            out = ask(uport, cmd)
            t.ok(out.startswith("error: permission denied") and
                 out.count("\n") == 2, "user may not run '%s'" % cmd, out)
        for cmd in OPERATOR_CMDS:
            out = ask(oper, cmd)
            t.ok(not out.startswith("error"), "operator may run '%s'" % cmd,
                 out)
        for cmd in ADMIN_CMDS:
            out = ask(oper, cmd)
            t.ok(out.startswith("error: permission denied"),
                 "operator may not run '%s'" % cmd, out)
        out = ask(admin, "operator; reload")
        t.ok("permission denied" in out,
             "'operator' lowers an admin session", out)
        out = ask(admin, "user; set weight chat eastus 3")
        t.ok("permission denied" in out, "'user' lowers a session", out)
        out = ask(uport, "operator; trip backend eastus")
        t.ok("permission denied" in out, "a level never goes up", out)
        t.ok("permission denied" in ask(uport, "show info; reload"),
             "a denied command after an allowed one on the same line")

        # -- errors: one clear line each, the session goes on
        errors = {
            "frobnicate": "unknown command",
            "show nothing": "unknown command",
            "set weight chat eastus": "missing arguments",
            "show info extra": "too many arguments",
            "set weight chat eastus 1001": "weight: expected",
            "set weight chat eastus -1": "weight: expected",
            "set weight chat eastus 2x": "weight: expected",
            "set weight nopool eastus 1": "no pool 'nopool'",
            "set weight chat nobackend 1": "no backend 'nobackend'",
            "trip backend nobackend": "no backend",
            "trip backend eastus 0s": "duration: expected",
            "trip backend eastus 25h": "duration: expected",
            "trip backend eastus 10": "duration: expected",
            "trip backend eastus 5x": "duration: expected",
            "disable backend": "missing arguments",
            "enable backend a b": "too many arguments",
            "reset backend nobackend": "no backend",
            "show pools nopool": "no pool",
            "show backends nobackend": "no backend",
            "set timeout cli 0": "expected a duration",
            "set timeout cli abc": "expected a duration",
            " ".join(["show"] * 17): "too many words",
        }
        for cmd, want in errors.items():
            out = ask(admin, cmd)
            t.ok(out.startswith("error: ") and want in out
                 and out.endswith("\n\n") and out.count("\n") == 2,
                 "error line for '%s'" % cmd[:40], repr(out))
        e = ask_json(admin, "show backends nobackend json")
        t.ok(set(e) == {"error"} and "nobackend" in e["error"],
             "errors in json mode are {\"error\": ...}", e)
        for cmd, want in (("frobnicate json", "unknown command"),
                          ("show info extra json", "too many arguments"),
                          ("reload -json", "too many arguments")):
            e = ask_json(admin, cmd)
            t.ok(set(e) == {"error"} and want in e["error"],
                 "'%s': the error in JSON as asked" % cmd, e)
        out = ask(admin, "show info;frobnicate;show pools")
        t.ok("version:" in out and "unknown command" in out
             and "pool chat" in out,
             "';' runs every command, errors do not stop the line",
             out[-300:])
        s = connect(admin)
        s.sendall(b"show info\x00x\n")
        out = recv_all(s).decode()
        s.close()
        t.ok(out.startswith("error: NUL byte"), "NUL byte refused", out)
        s = connect(admin)
        s.sendall(b"x" * 5000)
        out = recv_all(s).decode()
        s.close()
        t.ok(out.startswith("error: line too long") and out.count("\n") == 2,
             "line too long: one error line, then closed", out[:200])
        s = connect(admin)
        s.sendall(b"show info")
        s.shutdown(socket.SHUT_WR)
        out = recv_all(s).decode()
        s.close()
        t.ok("version:" in out, "a last line without newline runs at EOF")
        t.ok("pool chat" in ask(admin, "show pools\r"), "CRLF accepted")
        s = connect(admin)
        s.sendall(b"show info\nshow pools\n")
        out = recv_all(s).decode()
        s.close()
        t.ok("version:" in out and "pool chat" not in out,
             "outside prompt mode one line is run, then closed", out[-200:])

        # -- prompt mode
        pr = Prompt(admin)
        o1 = pr.cmd("show pools")
        o2 = pr.cmd("frobnicate")
        o3 = pr.cmd("")
        o4 = pr.cmd("show backends json")
        t.ok("pool chat" in o1 and o2.startswith("error: unknown")
             and o3 == "" and json.loads(o4).get("backends"),
             "prompt mode: several lines, a prompt after each",
             (o1, o2, o3, o4))
        pr.s.sendall(b"quit\n")
        t.ok(recv_all(pr.s) == b"\n", "quit closes the session")
        pr.close()
        pr = Prompt(admin)
        t.eq(pr.cmd("set timeout cli 1"), "\n", "set timeout cli")
        start = time.monotonic()
        rest = recv_all(pr.s, 5)
        took = time.monotonic() - start
        t.ok(rest == b"" and 0.7 < took < 3, "idle session closed after "
             "its timeout", "%r after %.2fs" % (rest, took))
        pr.close()

        # -- changes, visible as run-time changes, effective on routing
        before = route_counts(port, 40)
        t.eq(before, {"eastus": 30, "swedencentral": 10},
             "routing before changes: 3:1")
        t.ok(ask(oper, "set weight chat eastus 1").startswith(
            "weight of eastus in pool chat set to 1 (configured 3)"),
            "set weight answers what it did")
        m = members(admin)
        t.ok(m["eastus"]["weight"] == 1 and m["eastus"]["cfg_weight"] == 3
             and m["eastus"]["runtime_weight"] is True,
             "set weight shown as a run-time change (json)", m)
        t.ok("1*" in ask(admin, "show pools") and "weight*" in
             ask(admin, "show backends"), "set weight marked * in text")
        t.eq(route_counts(port, 40), {"eastus": 20, "swedencentral": 20},
             "set weight changes the split")
        ask(oper, "disable backend swedencentral")
        b = backends(admin)["swedencentral"]
        t.ok(b["disabled"] and b["runtime"]["disabled"]
             and b["weight_permille"] == 0, "disable backend shown", b)
        t.eq(route_counts(port, 20), {"eastus": 20},
             "disable backend: no new decisions to it")
        out = ask(oper, "trip backend eastus")
        b = backends(admin)["eastus"]
        t.ok(out.startswith("backend eastus open for 45s")
             and b["state"] == "open" and b["runtime"]["trip"]
             and 40000 < b["remaining_ms"] <= 45000
             and b["reason"].startswith("operator trip"),
             "trip backend: open for its trip_duration by default",
             (out, b))
        t.eq(route_counts(port, 10), {"westus-payg": 10},
             "tripped and disabled backends avoided: spillover")
        ask(oper, "trip backend westus-payg 2m")
        b = backends(admin)["westus-payg"]
        t.ok(b["state"] == "open" and 110000 < b["remaining_ms"] <= 120000,
             "trip backend NAME DURATION", b)
        c = route_counts(port, 3)
        t.eq(c, {"-exhausted": 3}, "every member unavailable: exhausted")

        # run-time changes survive a reload
        out = ask(admin, "reload")
        t.ok(out.startswith("reloaded %s: 3 backends, 1 pools" % cfg_path),
             "reload: ok", out)
        b, m = backends(admin), members(admin)
        t.ok(b["eastus"]["state"] == "open"
             and b["swedencentral"]["disabled"]
             and m["eastus"]["weight"] == 1
             and m["eastus"]["runtime_weight"],
             "run-time changes survive a reload", (b, m))
        # a bad file is rejected, with every error, and changes nothing
        with open(cfg_path, "w") as f:
            f.write(text.replace("trip_duration: 45s", "trip_duration: 45")
                    .replace("{backend: westus-payg,", "{backend: nowhere,"))
        out = ask(admin, "reload")
        lines = out.splitlines()
        t.ok(lines[0].startswith("error: reload rejected (")
             and len([ln for ln in lines if ln.startswith("  " + cfg_path)])
             >= 2, "bad reload: one error line, then each error", out)
        t.eq(backends(admin)["eastus"]["state"], "open",
             "bad reload: the running configuration and state stay")
        # a good file changes the control sockets: one added, one removed
        extra_sock = os.path.join(d, "extra.sock")
        with open(cfg_path, "w") as f:
            f.write(text.replace('  - {address: "unix://%s/oper.sock", '
                                 'level: operator, mode: "0660"}' % d,
                                 '  - {address: "unix://%s", level: user}'
                                 % extra_sock))
        out = ask(admin, "reload")
        t.ok(out.startswith("reloaded"), "reload with other sockets", out)
        t.ok(os.path.exists(extra_sock) and not os.path.exists(oper),
             "reload opens new control sockets and closes removed ones")
        t.ok("permission denied" in ask(extra_sock, "reset backend eastus"),
             "a new socket has its configured level")
        # reset undoes every run-time change
        for name in ("eastus", "swedencentral", "westus-payg"):
            out = ask(admin, "reset backend %s" % name)
            t.ok(out.startswith("backend %s reset" % name), "reset " + name,
                 out)
        b, m = backends(admin), members(admin)
        t.ok(all(x["state"] == "closed" and not x["disabled"]
                 and not any(x["runtime"].values()) for x in b.values())
             and all(not x["runtime_weight"] and x["weight"] == x[
                 "cfg_weight"] for x in m.values()),
             "reset backend: closed, enabled, configured weights", (b, m))
        t.ok("*" not in ask(admin, "show backends"),
             "no run-time mark left after reset")
        t.eq(route_counts(port, 40), {"eastus": 30, "swedencentral": 10},
             "routing after reset: 3:1 again")
        info = ask_json(admin, "show info json")
        t.ok(info.get("reloads", 0) >= 2 and info.get("reload_failed") == 1,
             "reloads counted", info)
        ask(admin, "clear counters")
        info = ask_json(admin, "show info json")
        t.ok(info.get("route_decisions") == 0 and info.get("msg_route") == 0
             and info.get("reloads", 0) >= 2,
             "clear counters zeroes counters, keeps reload counts", info)

        # a slow reader does not block others; its output is bounded
        hog = connect(admin)
        hog.sendall(b"prompt\n" + b"show metrics\n" * 400)
        start = time.monotonic()
        ok = all("version:" in ask(admin, "show info") for _ in range(20))
        t.ok(ok and time.monotonic() - start < 5,
             "a client not reading its output does not block others")
        hog.close()
        t.ok(itest.serves(port), "SPOP still served")

        # a control socket path that is in use refuses to start
        bad = CFG.format(port=H.free_port(), uport=H.free_port(), dir=d,
                         extra="")
        p2, _ = H.start_agent(procs, bad, name="busy")
        rc = p2.wait(10)
        log = H.read_log(p2)
        t.ok(rc == 1 and "in use by a running process" in log,
             "a live control socket path is not taken over", log[-500:])
        longp = "/tmp/" + "x" * 120 + ".sock"
        p3, _ = H.start_agent(procs, CFG.replace(
            "unix://{dir}/admin.sock", "unix://" + longp).format(
                port=H.free_port(), uport=H.free_port(), dir=d, extra=""),
            name="long")
        rc = p3.wait(10)
        t.ok(rc == 1, "a control socket path too long is refused",
             H.read_log(p3)[-500:])
        agents.finish()
        t.ok(not os.path.exists(admin), "control socket removed at exit")
    t.done()


if __name__ == "__main__":
    main()
