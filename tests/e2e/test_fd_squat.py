#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Out of descriptors, HAProxy still gets through, on every version.

The agent runs under RLIMIT_NOFILE 256 (as with `ulimit -n 256`); a test
client opens 400 SPOP connections and says HELLO on each, then leaves them
idle. Before, the agent accepted until accept() failed with EMFILE and then
only paused: HAProxy's health checks and connections waited behind the
flood and HAProxy marked the agent DOWN. Now, at the descriptor limit (a
quarter of it is kept for the control socket, the runtime API, token
requests and snapshots), each new connection replaces the connection that
has been idle longest with no frame in flight: HAProxy keeps the agent UP,
no DOWN transition is counted, and every request of a load run gets the
agent's decision; the agent counts what it closed (conn_evicted_idle).
"""
import json
import resource
import socket
import subprocess
import time

import harness
from harness import Tap
import labenv

NOFILE = 256
FLOOD = 400


class FdLab(labenv.Lab):
    """The lab with the agent under RLIMIT_NOFILE <NOFILE>."""

    def start_agent(self, timeout=10.0):
        if self.agent is not None and self.agent.poll() is None:
            return self.agent

        def limit():
            resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))
        log = open(self.logs["agent"], "ab")
        self.agent = subprocess.Popen(
            [labenv.AGENT_BIN, "-f", self.agent_yaml_path] + self.agent_args,
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            preexec_fn=limit)
        log.close()
        self._procs.append(self.agent)
        if not labenv.wait_port(self.agent_port, timeout, self.agent):
            raise labenv.LabError("agent did not listen: %s"
                                  % self.log_text("agent")[-2000:])
        return self.agent


def info(lab):
    """The agent's counters, or None when its control socket does not
    answer (out of descriptors, it cannot accept the client)."""
    try:
        return json.loads(lab.agent_cmd("show info json"))
    except (OSError, ValueError):
        return None


def delta(a, b, key):
    return (b or {}).get(key, 0) - (a or {}).get(key, 0)


def chkdown(lab):
    """HAProxy's count of UP -> DOWN transitions of the agent."""
    for row in lab.show_stat():
        if row.get("pxname") == "aoai-spoa" and row.get("svname") == "agent":
            return int(row.get("chkdown") or 0)
    return -1


def main():
    t = Tap()
    harness.raise_nofile(4096)
    with FdLab() as lab:
        res = lab.run_load(20, threads=2)
        t.ok(not labenv.failures(res), "baseline: 20 requests served")
        i0 = info(lab)
        down0 = chkdown(lab)
        flood = []
        try:
            hello = harness.haproxy_hello()
            for _ in range(FLOOD):
                s = socket.create_connection((labenv.LOCAL, lab.agent_port),
                                             5)
                s.sendall(hello)
                flood.append(s)
            # every connection of the flood accepted and HELLO'd, some of
            # them closed again to make room: events, however long
            labenv.wait_until(lambda: delta(i0, info(lab), "hello")
                              >= FLOOD, 15, 0.2)
            i1 = info(lab)
            t.ok(i1 is not None, "the control socket answers meanwhile "
                 "(descriptors kept in reserve)")
            t.ok(delta(i0, i1, "hello") >= FLOOD,
                 "the agent accepted and answered HELLO on all %d "
                 "connections under RLIMIT_NOFILE %d" % (FLOOD, NOFILE),
                 {k: delta(i0, i1, k) for k in (
                     "conn_accepted", "hello", "conn_evicted",
                     "conn_evicted_idle", "conn_refused", "accept_paused")})
            states = []
            for _ in range(20):
                states.append(lab.server_state("aoai-spoa").get("agent"))
                time.sleep(0.5)
            t.ok(states and all(s == "UP" for s in states),
                 "the agent stays UP in HAProxy (20 samples) while %d idle "
                 "HELLO'd connections press on %d descriptors"
                 % (FLOOD, NOFILE), sorted(set(map(str, states))))
            res = lab.run_load(100, threads=3)
            decided = sum(1 for r in res if not isinstance(r, Exception)
                          and "x-aoai-backend" in r.headers)
            t.ok(not labenv.failures(res) and decided == len(res),
                 "100 requests meanwhile: none failed, %d decided by the "
                 "agent, %d fell back" % (decided, len(res) - decided),
                 labenv.status_counts(res))
            t.eq(chkdown(lab) - down0, 0, "HAProxy counted no DOWN "
                 "transition of the agent")
            evicted = (info(lab) or {}).get("conn_evicted_idle", 0)
            t.ok(evicted > 0,
                 "the agent counts the idle connections it closed to make "
                 "room (conn_evicted_idle %d)" % evicted)
            log = lab.log_text("agent")
            t.ok("descriptor limit reached" in log and "idle" in log,
                 "the agent's log says why it closed them")
        finally:
            for s in flood:
                s.close()
        t.ok(lab.agent.poll() is None, "the agent is still running")
        lab.stop_processes()
    t.done()


if __name__ == "__main__":
    main()
