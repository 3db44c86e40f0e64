#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A flood of idle connections on the SPOP port does not take the agent
away from HAProxy, on every version.

The agent runs with max_connections 32 and a long hello_timeout; 200
connections that never say HELLO are opened on its port and held. Before,
they filled the cap: the agent refused HAProxy's health checks and
HAProxy marked it DOWN. Now the oldest connection without HELLO makes
room for each new one: HAProxy keeps the agent UP through 10 of its
health checks (spop-check every second) and every request of a load run
meanwhile gets the agent's decision.
"""
import socket
import time

from harness import Tap
import labenv

CAP = 32
FLOOD = 200


def edit(text):
    return text.replace("agent:\n", "agent:\n  max_connections: %d\n" % CAP,
                        1).replace("hello_timeout: 5s", "hello_timeout: 60s")


def main():
    t = Tap()
    with labenv.Lab(agent_edit=edit) as lab:
        res = lab.run_load(20, threads=2)
        t.ok(not labenv.failures(res), "baseline: 20 requests served")
        flood = []
        try:
            for _ in range(FLOOD):
                flood.append(socket.create_connection(
                    (labenv.LOCAL, lab.agent_port), 5))
            states = []
            for _ in range(20):
                states.append(lab.server_state("aoai-spoa").get("agent"))
                time.sleep(0.5)
            t.ok(states and all(s == "UP" for s in states),
                 "the agent stays UP in HAProxy while %d idle connections "
                 "sit on max_connections %d" % (FLOOD, CAP),
                 sorted(set(map(str, states))))
            res = lab.run_load(100, threads=3)
            decided = sum(1 for r in res if not isinstance(r, Exception)
                          and "x-aoai-backend" in r.headers)
            t.ok(not labenv.failures(res) and decided == len(res),
                 "100 requests meanwhile: none failed, %d decided by the "
                 "agent" % decided, labenv.status_counts(res))
        finally:
            for s in flood:
                s.close()
        lab.stop_processes()
    t.done()


if __name__ == "__main__":
    main()
