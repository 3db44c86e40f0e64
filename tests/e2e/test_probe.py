#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A half-open probe that fails is not a client-visible failure, on every
version.

The scenario: swedencentral cools down from a 429 (Retry-After 600 s, so
it stays drained in HAProxy for the whole test), eastus answers 500 to
everything, its breaker trips for 1 s and goes half-open, and the agent
sends the next request to eastus as the probe (reason=probe, through
use-server). The probe gets the 500; HAProxy retries it (retry-on 500,
retries 3, redispatch 1) while westus-payg, the backup tier, can serve.

Before, the mirror set a half-open server back to READY: once that had
reached HAProxy, eastus was the only active server it could use and every
retry went back to it, so the client got eastus's 500. Now a backend stays
drained in HAProxy until its circuit closes: use-server still sends the
probe there, and the redispatched retries go to the backup.

The agent reaches HAProxy's runtime API through a relay that holds each
connection MIRROR_DELAY_S before passing it on: the lab's mirror is
otherwise faster than in production (262 ms from a trip to its drain under
load), and the retries of a failed probe (milliseconds) must not depend on
winning that race. Each trial waits (events, not time) until the agent
shows eastus half-open and its HAProxy link has completed two more polls,
so whatever the mirror wanted is applied before the probe; then it sends
one request. At least 30 trials must be probes, and none may fail.
"""
import json
import os
import re
import select
import socket
import threading
import time

from harness import Tap
import labenv

TRIALS = 30
MIRROR_DELAY_S = 0.3
RELAY_NAME = "haproxy-slow.sock"


class SlowRelay:
    """A unix socket that passes each connection on to <target> after
    <delay> seconds, then copies bytes both ways until either side
    closes."""

    def __init__(self, path, target, delay):
        self.path, self.target, self.delay = path, target, delay
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        os.chmod(path, 0o600)
        self.sock.listen(16)
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._pipe, args=(c,),
                             daemon=True).start()

    def _pipe(self, c):
        u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            time.sleep(self.delay)
            u.connect(self.target)
            peers = {c: u, u: c}
            while True:
                r, _w, _x = select.select(list(peers), [], [], 5)
                if not r:
                    return
                for s in r:
                    data = s.recv(65536)
                    if not data:
                        peers[s].shutdown(socket.SHUT_WR)
                        del peers[s]
                        if not peers or s is u:
                            return
                        continue
                    peers[s].sendall(data)
        except OSError:
            return
        finally:
            u.close()
            c.close()

    def close(self):
        self.stopped = True
        self.sock.close()


def edit(text):
    """1 s trips that never grow, Retry-After honoured up to 10 min, a
    fast HAProxy link."""
    subs = [(r"(\n    trip_duration: )5s", r"\g<1>1s"),
            (r"(\n    max_trip_duration: )30s", r"\g<1>1s"),
            (r"(\n    max_retry_after: )60s", r"\g<1>10m"),
            (r"(\n      trip_duration: )5s", r"\g<1>1s"),
            (r"(\n  poll_interval: )1s", r"\g<1>200ms"),
            (r"(\n  stats_socket: unix://\S*/)haproxy\.sock",
             r"\g<1>" + RELAY_NAME)]
    for pat, rep in subs:
        text, n = re.subn(pat, rep, text, count=1)
        if n != 1:
            raise RuntimeError("lab YAML changed: %s not found" % pat)
    return text


def backend(lab, name):
    d = json.loads(lab.agent_cmd("show backends json"))
    for b in d.get("backends", []):
        if b["name"] == name:
            return b
    return {}


def polls(lab):
    return json.loads(lab.agent_cmd("show haproxy json")).get("polls", 0)


def state(lab, name):
    return backend(lab, name).get("state")


def drive(lab, pred, timeout=20.0):
    """Sends requests one at a time until pred() holds."""
    def step():
        lab.run_load(1, threads=1)
        return pred()
    return labenv.wait_until(step, timeout, 0.05)


def main():
    t = Tap()
    with labenv.Lab(agent_edit=edit) as lab:
        relay = SlowRelay(os.path.join(lab.dir, RELAY_NAME),
                          lab.stats_socket, MIRROR_DELAY_S)
        t.ok(labenv.wait_until(lambda: polls(lab) >= 2, 10),
             "the agent polls HAProxy through a relay adding %d ms"
             % (MIRROR_DELAY_S * 1000))
        east = lab.region("eastus")
        swe = lab.region("swedencentral")
        res = lab.run_load(20, threads=2)
        t.ok(not labenv.failures(res), "baseline: 20 requests served")

        swe.set(throttle_all=1, retry_after=600)
        t.ok(drive(lab, lambda: state(lab, "swedencentral") == "cooling"),
             "swedencentral cools down from a 429 (Retry-After 600 s)")
        t.ok(labenv.wait_until(lambda: lab.server_state().get(
            "swedencentral") == "DRAIN", 10),
            "swedencentral is drained in HAProxy", lab.server_state())
        east.set(fail_status=500, fail_count=1000000000)
        t.ok(drive(lab, lambda: state(lab, "eastus") in ("open",
                                                         "half-open")),
             "eastus answers 500: its breaker trips")

        probes = failed = 0
        outcomes = {}
        for _ in range(TRIALS * 2):
            if probes >= TRIALS:
                break
            if not labenv.wait_until(
                    lambda: state(lab, "eastus") == "half-open", 10, 0.05):
                break
            p0 = polls(lab)
            labenv.wait_until(lambda: polls(lab) >= p0 + 2, 10, 0.05)
            c = lab.client()
            try:
                r = c.chat("probe trial")
            except Exception as exc:  # noqa: BLE001 - counted
                r = exc
            finally:
                c.close()
            if isinstance(r, Exception):
                key = ("exception", type(r).__name__, "-", "-")
                reason = "?"
            else:
                reason = r.headers.get("x-aoai-reason", "-")
                key = (r.status, reason, r.headers.get("x-aoai-server", "-"),
                       r.headers.get("x-aoai-retries", "-"))
            outcomes[key] = outcomes.get(key, 0) + 1
            if reason != "probe":
                continue
            probes += 1
            if isinstance(r, Exception) or r.status != 200:
                failed += 1
        summary = ", ".join("%s x%d" % ("/".join(map(str, k)), n)
                            for k, n in sorted(outcomes.items(),
                                               key=str))
        t.ok(probes >= TRIALS, "%d half-open probes to eastus (status/"
             "reason/server/retries: %s)" % (probes, summary))
        t.eq(failed, 0, "client failures among %d failed probes while "
             "westus-payg (backup) can serve" % probes)
        st = east.stats()
        t.ok(st["status"].get("500", 0) >= probes,
             "eastus answered 500 to every probe", st["status"])
        lab.stop_processes()
        relay.close()
        t.ok(not lab.leaked_secrets(), "no key in any log")
    t.done()


if __name__ == "__main__":
    main()
