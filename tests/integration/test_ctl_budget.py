#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Per-listener client budgets: with 300 silent clients squatting the
user-level control socket, the admin socket and /metrics still answer;
the refusal of a user-level client reaches it even when it had already
written its command; a user-level client cannot keep its place for
long with "set timeout cli".
"""
import json
import os
import socket

import harness as H

CFG = """\
agent:
  log_level: notice
listen:
  - tcp://127.0.0.1:{port}
control:
  - {{address: "unix://{dir}/ctl.sock", level: admin}}
  - {{address: "tcp://127.0.0.1:{uport}", level: user}}
metrics: tcp://127.0.0.1:{mport}
backends:
  - name: eastus
pools:
  - name: chat
    members:
      - {{backend: eastus}}
"""

SQUATTERS = 300


def http_get(port):
    s = socket.create_connection((H.LOCAL, port), 5)
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    data = H.recv_all(s)
    s.close()
    return data


def user_ask(port, line):
    """Writes <line> before reading, as socat does; returns the answer."""
    s = socket.create_connection((H.LOCAL, port), 5)
    s.sendall(line)
    try:
        data = H.recv_all(s)
    except ConnectionResetError:
        data = b"<reset>"
    s.close()
    return data


def admin_clients(path):
    try:
        return json.loads(H.ask_unix(path, "show info json"))[
            "control_clients"]
    except (OSError, ValueError, KeyError):
        return -1


def main():
    t = H.Tap()
    H.raise_nofile(4096)
    with H.Procs() as procs:
        port, uport, mport = H.free_port(), H.free_port(), H.free_port()
        path = os.path.join(procs.dir, "ctl.sock")
        p, _ = H.start_agent(procs, CFG.format(port=port, uport=uport,
                                            mport=mport, dir=procs.dir),
                          port)
        H.wait_until(lambda: os.path.exists(path), 5)

        out = user_ask(uport, b"set timeout cli 24h\n")
        t.ok(out.startswith(b"error: expected a duration from 1s to 5m "
                            b"at level user"),
             "level user: 'set timeout cli 24h' refused", out)

        squat = []
        try:
            for _ in range(SQUATTERS):
                squat.append(socket.create_connection((H.LOCAL, uport), 5))
            # the agent has seen them all once it holds a full budget
            def held():
                try:
                    return json.loads(H.ask_unix(path, "show info json"))[
                        "control_clients"] >= 128
                except (OSError, ValueError):
                    return False
            H.wait_until(held, 10)
            outs = [user_ask(uport, b"show info\n") for _ in range(5)]
            t.ok(all(o.startswith(b"error: too many control clients")
                     for o in outs),
                 "5 user-level clients over the budget, each having "
                 "written its command first, read their refusal and a "
                 "clean close (no reset)", outs)
            fails = 0
            for _ in range(10):
                try:
                    json.loads(H.ask_unix(path, "show info json"))
                except (OSError, ValueError):
                    fails += 1
            t.eq(fails, 0, "admin 'show info' answered 10/10 while %d "
                 "user-level clients squat" % SQUATTERS)
            fails = 0
            for _ in range(10):
                try:
                    ok = http_get(mport).startswith(b"HTTP/1.1 200")
                except OSError:
                    ok = False
                fails += not ok
            t.eq(fails, 0, "/metrics answered 10/10 meanwhile")
            t.ok(H.wait_until(lambda: 0 < admin_clients(path) <= 128 + 2,
                              5),
                 "user-level clients held to their budget",
                 admin_clients(path))
        finally:
            for s in squat:
                s.close()
        t.ok(H.wait_until(lambda: 0 <= admin_clients(path) <= 1, 5),
             "every squatter released")
        procs.stop(p)
    t.done()


if __name__ == "__main__":
    main()
