#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Logs an operator reads at 3 a.m.:
- the count of rate-limited messages is reported once their window is
  over, by a timer, without waiting for another message of the kind;
- a frozen event loop is reported ("event loop stalled N s");
- HAProxy's routine close of an idle SPOE connection (HAPROXY-DISCONNECT
  status 2) is info, not a warning;
- a failed "reload" on the control socket names who asked;
- HAProxy's stats socket missing at start (HAProxy starts after the
  agent) gives no warning;
- a breaker trip is in the state file well before the 10 s period, so a
  kill -9 right after it does not lose it.
"""
import os
import signal
import time

import harness as H
import itest
import spop

CFG = """\
agent:
  log_level: info
listen:
  - tcp://127.0.0.1:{port}
control: unix://{dir}/ctl.sock
state_file: {dir}/state.msgpack
haproxy:
  stats_socket: unix://{dir}/not-yet-haproxy.sock
  backend: aoai
  poll_interval: 200ms
backends:
  - name: eastus
  - name: swedencentral
pools:
  - name: chat
    members:
      - {{backend: eastus}}
      - {{backend: swedencentral}}
"""


def lines(p, pattern):
    return itest.log_lines(p, pattern)


def ask(path, line):
    try:
        return H.ask_unix(path, line)
    except OSError:
        return ""


def main():
    t = H.Tap()
    with H.Procs() as procs:
        port = H.free_port()
        text = CFG.format(port=port, dir=procs.dir)
        p, cfg = H.start_agent(procs, text, port)
        ctl = os.path.join(procs.dir, "ctl.sock")
        H.wait_until(lambda: os.path.exists(ctl), 5)
        # a trip just after start, then kill -9: the periodic write (every
        # 10 s) has not run yet; the trip must survive
        state = os.path.join(procs.dir, "state.msgpack")
        before = os.stat(state).st_mtime_ns if os.path.exists(state) else 0
        out = H.ask_unix(ctl, "trip backend eastus 10m")
        t.ok(not out.startswith("error"), "trip backend eastus", out)
        t.ok(H.wait_until(lambda: os.path.exists(state) and
                          os.stat(state).st_mtime_ns != before, 5, 0.05),
             "the state file is written after the trip, before the 10 s "
             "period")

        p.send_signal(signal.SIGKILL)
        p.wait(10)
        p, _ = H.start_agent(procs, text, port)
        H.wait_until(lambda: "eastus" in ask(ctl, "show backends"), 5)
        out = H.ask_unix(ctl, "show backends")
        row = [ln for ln in out.splitlines() if "eastus" in ln]
        t.ok(row and "OPEN" in row[0].upper(), "after kill -9 and a "
             "restart the trip is still there", row)
        # several polls of a stats socket that does not exist yet
        H.wait_until(lambda: '"poll_errors":' in ask(ctl, "show haproxy json")
                     and '"poll_errors":0,' not in ask(ctl, "show haproxy "
                                                         "json"), 5)
        time.sleep(1.0)
        warn = lines(p, r"\[warning\].*haproxy")
        t.ok(not warn, "HAProxy's stats socket missing at start: no "
             "warning", warn[:3])

        # 20 unknown pools: 5 logged, 15 suppressed, then silence
        c = itest.active(port)
        for i in range(20):
            f, _ = itest.route(c, 1, i + 1, pool="nope")
        c.close()
        logged = lines(p, r'unknown pool "nope"')
        t.eq(len(logged), 5, "20 unknown pools: 5 lines in the window")
        t.ok(H.wait_until(lambda: lines(
            p, r"15 similar messages suppressed in 10 s, the last: "
               r"aoai-route: unknown pool \"nope\""), 15, 0.2),
             "the 15 suppressed are reported once the window is over, "
             "with no further message of the kind")

        # HAProxy closes an idle connection: status 2
        c = itest.active(port)
        c.send(H.haproxy_disconnect(2, "idle"))
        itest.expect_disconnect(c)
        c.close()
        t.ok(H.wait_until(lambda: lines(
            p, r"\[info\].*HAPROXY-DISCONNECT 2"), 5),
            "HAPROXY-DISCONNECT 2 (HAProxy's idle close) logged at info")
        t.ok(not lines(p, r"\[warning\].*HAPROXY-DISCONNECT 2"),
             "... and not as a warning")

        # a failed reload names the control client that asked
        with open(cfg, "a") as f:
            f.write("bogus_key: 1\n")
        out = H.ask_unix(ctl, "reload")
        t.ok(out.startswith("error: reload rejected"), "bad file: reload "
             "rejected", out)
        t.ok(H.wait_until(lambda: lines(
            p, r"control .*ctl.sock.*: reload rejected \(1 error\)"), 5),
            "the log says which control socket asked for it",
            lines(p, "reload")[-3:])
        with open(cfg, "w") as f:
            f.write(text)

        # a frozen process: the loop reports its stall when it resumes
        p.send_signal(signal.SIGSTOP)
        time.sleep(3.0)
        p.send_signal(signal.SIGCONT)
        t.ok(H.wait_until(lambda: lines(
            p, r"\[warning\].*event loop stalled [0-9.]+ s"), 5),
            "frozen 3 s: 'event loop stalled' logged",
            lines(p, "stalled"))

        procs.stop(p)
    t.done()


if __name__ == "__main__":
    main()
