#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Listeners of the real agent: unix sockets (mode, stale file replaced,
live socket or regular file refused), systemd socket activation, IPv6."""
import os
import shlex
import socket
import stat

import harness as H
import itest as I


def wait_path(path, p, timeout=10):
    def ready():
        if p.poll() is not None:
            return True
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(0.5)
            s.connect(path)
            s.close()
            return True
        except OSError:
            return False
    return H.wait_until(ready, timeout) and p.poll() is None


def start_unix(agents, procs, path, name, extra="", wait=True):
    item = '{address: "unix://%s"%s}' % (path, extra)
    cfg = procs.write(name + ".yaml", I.agent_cfg(listen=[item]))
    p = procs.start([H.AGENT, "-f", cfg], log_name=name + ".log",
                    env=I.env_without_listen())
    if wait:
        agents.track(name, p)
        wait_path(path, p)
    return p


def unix_listener(tap, procs, agents):
    path = procs.path("spop.sock")
    p = start_unix(agents, procs, path, "agent-unix", ', mode: "0660"')
    st = os.stat(path)
    tap.ok(stat.S_ISSOCK(st.st_mode), "unix listener: the path is a socket")
    tap.eq(oct(stat.S_IMODE(st.st_mode)), oct(0o660),
           "unix listener mode \"0660\": socket file mode 0660")
    tap.ok(I.serves(path=path), "HELLO + NOTIFY over the unix socket")
    c = I.connect(path=path)
    f = c.hello()
    c.close()
    tap.eq(f and H.kvs(f).get(b"capabilities"), b"pipelining",
           "unix socket: same AGENT-HELLO")
    rc = procs.stop(p)
    agents.stopped(p)
    tap.eq(rc, 0, "agent-unix: exit 0 on SIGTERM")
    tap.ok(not os.path.exists(path), "the socket file is removed at exit")

    path2 = procs.path("spop2.sock")
    p = start_unix(agents, procs, path2, "agent-unix-0600", ', mode: "0600"')
    tap.eq(oct(stat.S_IMODE(os.stat(path2).st_mode)), oct(0o600),
           "unix listener mode \"0600\": socket file mode 0600")
    procs.stop(p)


def stale_live_regular(tap, procs, agents):
    # stale: bound then closed, file left behind
    path = procs.path("stale.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.close()
    tap.ok(os.path.exists(path), "a stale socket file is left at the path")
    p = start_unix(agents, procs, path, "agent-stale")
    tap.ok(p.poll() is None and I.serves(path=path),
           "stale socket file: replaced, the agent serves on it",
           H.read_log(p)[-800:])

    # live: somebody listens there
    path = procs.path("live.sock")
    live = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    live.bind(path)
    live.listen(16)
    try:
        p = start_unix(agents, procs, path, "agent-live", wait=False)
        try:
            rc = p.wait(10)
        except Exception:
            rc = None
        agents.track("agent-live", p, 1)
        tap.eq(rc, 1, "live socket at the path: the agent refuses to start "
               "(exit 1)")
        log = H.read_log(p)
        tap.ok(path in log and ("in use" in log or "running" in log),
               "live socket: a clear error naming the path", log[-800:])
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.settimeout(2)
        c.connect(path)
        a, _ = live.accept()
        a.close()
        c.close()
        tap.ok(True, "the live socket was left alone (still accepts)")
    except OSError as exc:
        tap.ok(False, "the live socket was left alone (still accepts)", exc)
    finally:
        live.close()

    # a regular file
    path = procs.path("regular.sock")
    with open(path, "w") as fh:
        fh.write("precious\n")
    p = start_unix(agents, procs, path, "agent-regular", wait=False)
    try:
        rc = p.wait(10)
    except Exception:
        rc = None
    agents.track("agent-regular", p, 1)
    tap.eq(rc, 1, "regular file at the path: the agent refuses to start")
    log = H.read_log(p)
    tap.ok(path in log and "not a socket" in log,
           "regular file: a clear error naming the path", log[-800:])
    with open(path) as fh:
        tap.eq(fh.read(), "precious\n", "the regular file is untouched")


def systemd(tap, procs, agents):
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.bind((H.LOCAL, 0))
    lsock.listen(64)
    port = lsock.getsockname()[1]
    cfg_port = H.free_port()  # in the file, must stay unused
    cfg = procs.write("systemd.yaml", I.agent_cfg(cfg_port))
    fd = lsock.fileno()
    keep = None
    if fd == 3:  # dup2(3, 3) would keep FD_CLOEXEC
        keep = os.dup(fd)
        fd = keep

    def child():
        os.dup2(fd, 3)  # inheritable, as systemd passes it
    cmd = "LISTEN_PID=$$ LISTEN_FDS=1 exec %s -f %s" % (
        shlex.quote(H.AGENT), shlex.quote(cfg))
    p = procs.start(["sh", "-c", cmd], log_name="agent-systemd.log",
                    preexec_fn=child, close_fds=False,
                    env=I.env_without_listen())
    agents.track("agent-systemd", p)
    lsock.close()  # the agent owns it now
    if keep is not None:
        os.close(keep)
    tap.ok(H.wait_until(lambda: p.poll() is not None or I.serves(port), 10)
           and p.poll() is None,
           "socket activation: HELLO + NOTIFY over the socket passed as "
           "fd 3", H.read_log(p)[-800:])
    tap.ok(not H.wait_port(cfg_port, 0.3),
           "socket activation: the file's listen address is not used")
    tap.ok("systemd" in H.read_log(p), "socket activation: the log names "
           "the inherited socket", H.read_log(p)[-800:])

    # LISTEN_PID of another process: the variables are not for us
    port2 = H.free_port()
    cfg2 = procs.write("systemd2.yaml", I.agent_cfg(port2))
    cmd = "LISTEN_PID=1 LISTEN_FDS=1 exec %s -f %s" % (
        shlex.quote(H.AGENT), shlex.quote(cfg2))
    p2 = procs.start(["sh", "-c", cmd], log_name="agent-notours.log",
                     env=I.env_without_listen())
    agents.track("agent-notours", p2)
    tap.ok(H.wait_port(port2, 10, p2) and I.serves(port2),
           "LISTEN_PID of another process: the file's address is used")


def ipv6(tap, procs, agents):
    if not I.ipv6_available():
        print("ok - IPv6 listener tcp://[::1]:PORT # SKIP no IPv6")
        return
    port = I.free_port6()
    cfg = procs.write("v6.yaml", I.agent_cfg(
        listen=["tcp://[::1]:%d" % port], log_level="debug"))
    p = procs.start([H.AGENT, "-f", cfg], log_name="agent-v6.log",
                    env=I.env_without_listen())
    agents.track("agent-v6", p)

    def v6_hello():
        try:
            s = socket.create_connection(("::1", port), 1)
        except OSError:
            return False
        c = I.Peer.__new__(I.Peer)
        c.sock, c.buf = s, b""
        try:
            f = c.hello()
            f2, acts = I.route(c, 1, 1)
            return I.ack_ok(f2, 1, 1) and b"backend" in acts
        except OSError:
            return False
        finally:
            c.close()
    tap.ok(H.wait_until(lambda: p.poll() is not None or v6_hello(), 10)
           and p.poll() is None,
           "IPv6 listener tcp://[::1]:PORT: HELLO + NOTIFY work",
           H.read_log(p)[-800:])
    tap.ok(H.wait_until(lambda: "[::1]:" in "".join(
        I.log_lines(p, "accepted|closed")), 3),
        "IPv6 peers are logged as [::1]:port", H.read_log(p)[-800:])


def main():
    tap = H.Tap()
    with H.Procs() as procs:
        agents = I.Agents(tap, procs)
        try:
            unix_listener(tap, procs, agents)
            stale_live_regular(tap, procs, agents)
            systemd(tap, procs, agents)
            ipv6(tap, procs, agents)
        except Exception as exc:
            tap.ok(False, "socket tests ran to the end", repr(exc))
        agents.finish()
    tap.done()


if __name__ == "__main__":
    main()
