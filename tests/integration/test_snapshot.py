#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""State snapshots of the real agent (state_file): a throttle learned over
SPOP survives SIGTERM and a restart, a periodic write survives SIGKILL, a
garbage, truncated or unwritable state file is logged and the agent starts
fresh, and -c checks the key."""
import os
import signal
import stat
import subprocess
import time

import harness as H
import itest as I


def cfg_with_state(port, path):
    return I.agent_cfg(port) + "state_file: %s\n" % path


def wait_log(p, pattern, timeout=5):
    return H.wait_until(lambda: I.log_lines(p, pattern), timeout)


def backends_of(port, n=20, key=None):
    """The set of backends <n> aoai-route decisions name."""
    c = I.active(port)
    try:
        return {I.route(c, 9, i + 1, key=key)[1].get(b"backend")
                for i in range(n)}
    finally:
        c.close()


def stop(tap, procs, agents, p, name):
    rc = procs.stop(p, signal.SIGTERM, 10)
    agents.stopped(p)
    tap.eq(rc, 0, "%s: exits 0 on SIGTERM" % name)


def restart_keeps_throttle(tap, procs, agents):
    path = procs.path("state.msgpack")
    port = H.free_port()
    p, _ = agents.start(cfg_with_state(port, path), port, name="agent-1")
    tap.ok(wait_log(p, r"state file .*state\.msgpack: none yet"),
           "first start: no state file yet, logged",
           H.read_log(p)[-1500:])
    c = I.active(port)
    try:
        f = I.send_result(c, 1, 1, "eastus", 429, retry_after_ms="60000")
        tap.ok(I.ack_ok(f, 1, 1), "aoai-result 429 retry_after_ms 60000 "
               "for eastus: ACKed")
    finally:
        c.close()
    tap.eq(backends_of(port), {b"swedencentral"},
           "eastus is avoided while it cools down")
    stop(tap, procs, agents, p, "agent-1")
    st = os.stat(path) if os.path.exists(path) else None
    tap.ok(st is not None and stat.S_IMODE(st.st_mode) == 0o600,
           "SIGTERM wrote the state file, mode 0600",
           "mode %o" % stat.S_IMODE(st.st_mode) if st else "missing")
    tap.ok(not os.path.exists(path + ".tmp"),
           "no temporary file left beside it")

    port = H.free_port()
    p, _ = agents.start(cfg_with_state(port, path), port, name="agent-2")
    tap.ok(wait_log(p, r"notice.*restored 3 backends from .*state\.msgpack|"
                       r"restored 3 backends from .*state\.msgpack"),
           "restart: \"restored 3 backends from FILE\" logged",
           H.read_log(p)[-1500:])
    tap.ok(I.log_lines(p, r"backend eastus: closed -> cooling"),
           "restart: eastus restored as cooling (logged)")
    tap.eq(backends_of(port, 40), {b"swedencentral"},
           "after the restart eastus is still avoided (40 decisions)")
    tap.eq(backends_of(port, 40, key="user-1"), {b"swedencentral"},
           "... with a session key too")

    # a change is written within the period (10 s), so SIGKILL keeps it
    before = open(path, "rb").read()
    c = I.active(port)
    try:
        I.send_result(c, 1, 1, "swedencentral", 429, retry_after_ms="60000")
    finally:
        c.close()
    tap.eq(backends_of(port), {b"westus-payg"},
           "both priority-1 members cooling: spillover to westus-payg")
    written = H.wait_until(lambda: open(path, "rb").read() != before, 15,
                           0.2)
    tap.ok(written, "the change is written within 10 s, while running")
    tap.ok(open(path, "rb").read().count(b"cooling") == 2,
           "the file now holds two cooling backends")
    os.kill(p.pid, signal.SIGKILL)
    p.wait(5)
    agents.stopped(p)

    port = H.free_port()
    p, _ = agents.start(cfg_with_state(port, path), port, name="agent-3")
    tap.ok(wait_log(p, r"restored 3 backends"), "after SIGKILL: restored")
    tap.eq(backends_of(port), {b"westus-payg"},
           "after SIGKILL and a restart both cooldowns hold")
    stop(tap, procs, agents, p, "agent-3")


def bad_files(tap, procs, agents):
    cases = [
        ("garbage", b"this is not msgpack\n" * 10,
         r"ignored: not an aoai-spoa state file; starting fresh"),
        ("empty", b"", r"ignored: empty file; starting fresh"),
    ]
    good = procs.path("state.msgpack")
    if os.path.exists(good):
        data = open(good, "rb").read()
        cases.append(("truncated", data[:len(data) // 2],
                      r"ignored: (checksum mismatch|truncated).*; starting "
                      r"fresh"))
        flipped = bytearray(data)
        flipped[len(data) - 20] ^= 0x01
        cases.append(("one bit flipped", bytes(flipped),
                      r"ignored: checksum mismatch"))
    for name, content, pattern in cases:
        path = procs.path("bad-%s.msgpack" % name.replace(" ", "-"))
        with open(path, "wb") as fh:
            fh.write(content)
        port = H.free_port()
        p, _ = agents.start(cfg_with_state(port, path), port,
                            name="agent-%s" % name.replace(" ", "-"))
        tap.ok(wait_log(p, pattern), "%s state file: the agent starts and "
               "logs the file and the reason" % name, H.read_log(p)[-1500:])
        tap.eq(len(I.log_lines(p, r"state file .* ignored")), 1,
               "%s state file: logged once" % name)
        tap.eq(backends_of(port, 8), {b"eastus", b"swedencentral"},
               "%s state file: starts fresh (both backends used)" % name)
        stop(tap, procs, agents, p, "agent-%s" % name)
        tap.ok(open(path, "rb").read()[:1] == b"\x86",
               "%s state file: replaced by a valid one at exit" % name)


def unwritable(tap, procs, agents):
    path = procs.path("no-such-dir/state.msgpack")
    port = H.free_port()
    p, _ = agents.start(cfg_with_state(port, path), port,
                        name="agent-unwritable")
    tap.ok(I.serves(port), "state file in a missing directory: the agent "
           "serves")
    stop(tap, procs, agents, p, "agent-unwritable")
    tap.ok(I.log_lines(p, r"state file .*no-such-dir/state\.msgpack not "
                          r"written: cannot create"),
           "... and logs why the state file could not be written",
           H.read_log(p)[-1500:])


def check_mode(tap, procs):
    port = H.free_port()
    for value, want in [
            ("relative/state.msgpack", "state_file: expected an absolute "
             "path"),
            ("/var/lib/aoai-spoa/", "state_file: expected a file name"),
            ("/var/lib/aoai-spoa/..", "state_file: expected a file name"),
            ("/" + "x" * 300, "state_file: path too long: 301 bytes, at "
             "most 255"),
            ("[a, b]", "state_file: expected a scalar")]:
        text = I.agent_cfg(port) + "state_file: %s\n" % value
        cfg = procs.write("check.yaml", text)
        line = text.count("\n", 0, text.index("state_file:")) + 1
        p = subprocess.run([H.AGENT, "-c", "-f", cfg],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=I.env_without_listen(), timeout=20)
        err = p.stderr.decode("utf-8", "replace")
        tap.ok(p.returncode == 1 and ("%s:%d:13: %s" % (cfg, line, want))
               in err, "-c rejects state_file %s" % value[:40], err[-600:])
    cfg = procs.write("check.yaml", I.agent_cfg(port) +
                      "state_file: /var/lib/aoai-spoa/state.msgpack\n")
    p = subprocess.run([H.AGENT, "-c", "-f", cfg], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=I.env_without_listen(),
                       timeout=20)
    tap.ok(p.returncode == 0 and b"configuration OK" in p.stdout,
           "-c accepts state_file: /var/lib/aoai-spoa/state.msgpack",
           p.stderr.decode("utf-8", "replace")[-600:])


def main():
    tap = H.Tap()
    with H.Procs() as procs:
        agents = I.Agents(tap, procs)
        try:
            restart_keeps_throttle(tap, procs, agents)
            bad_files(tap, procs, agents)
            unwritable(tap, procs, agents)
            check_mode(tap, procs)
        except Exception as exc:
            tap.ok(False, "snapshot tests ran to the end", repr(exc))
        agents.finish()
    tap.done()


if __name__ == "__main__":
    main()
