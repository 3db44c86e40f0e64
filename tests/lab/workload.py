# SPDX-License-Identifier: Apache-2.0
"""Driving the lab: the requests (chat, stream, embeddings), the open-loop
workload with its timed events, the per-second sampler of the regions'
counters, and the settle traffic that lets every circuit close."""
import json
import queue
import threading
import time

import observe

class Paths:
    def __init__(self, deployment, embeddings, api_version):
        self.deployment = deployment
        self.embeddings = embeddings
        self.api_version = api_version

    def chat(self):
        return ("/openai/deployments/%s/chat/completions?api-version=%s"
                % (self.deployment, self.api_version))

    def emb(self):
        return ("/openai/deployments/%s/embeddings?api-version=%s"
                % (self.embeddings, self.api_version))


def do_request(client, paths, kind, i):
    """One request; returns (status or None, error or None, headers)."""
    if kind == "embeddings":
        body = {"input": "lab embedding input %d" % i}
        path = paths.emb()
    else:
        body = {"messages": [
            {"role": "system", "content": "You are a terse assistant."},
            {"role": "user", "content": "Lab request %d: say hello." % i}],
            "max_tokens": 16}
        if kind == "stream":
            body["stream"] = True
            body["max_tokens"] = 32
        path = paths.chat()
    r = client.request("POST", path, json.dumps(body))
    err = None
    if r.status == 200:
        if kind == "stream":
            if b"data: [DONE]" not in r.body:
                err = "incomplete stream"
        else:
            try:
                j = r.json()
                if kind == "chat" and not j["choices"][0]["message"][
                        "content"]:
                    err = "empty answer"
                if kind == "embeddings" and not j["data"][0]["embedding"]:
                    err = "empty embedding"
            except (ValueError, KeyError, IndexError, TypeError):
                err = "bad JSON body"
    return r, err


class Workload:
    """Open-loop: a dispatcher releases each request at its arrival time to
    a pool of <threads> keep-alive clients; timed events run on their own
    thread."""

    def __init__(self, lab, paths, schedule, threads, events=(),
                 progress=None):
        self.lab = lab
        self.progress = progress
        self.paths = paths
        self.schedule = schedule
        self.threads = threads
        self.events = sorted(events, key=lambda e: e[0])
        self.q = queue.Queue()
        self.results = []
        self.lock = threading.Lock()
        self.event_log = []
        self.t0 = None

    def _worker(self):
        c = self.lab.client()
        try:
            while True:
                job = self.q.get()
                if job is None:
                    return
                i, t_sched, kind = job
                start = time.monotonic() - self.t0
                rec = {"i": i, "kind": kind, "sched": t_sched,
                       "start": start, "status": None, "error": None,
                       "server": None, "retries": 0, "reason": None}
                try:
                    r, err = do_request(c, self.paths, kind, i)
                    rec["status"] = r.status
                    rec["error"] = err
                    rec["server"] = r.headers.get("x-aoai-server")
                    rec["reason"] = r.headers.get("x-aoai-reason")
                    rec["retries"] = abs(int(r.headers.get(
                        "x-aoai-retries", "0").lstrip("+") or 0))
                    rec["retried_stale"] = r.retried_stale
                except Exception as exc:  # noqa: BLE001 - recorded
                    rec["error"] = type(exc).__name__
                    c.close()
                rec["end"] = time.monotonic() - self.t0
                with self.lock:
                    self.results.append(rec)
        finally:
            c.close()

    def _events(self):
        for t, label, fn in self.events:
            delay = self.t0 + t - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            try:
                fn(lambda: round(time.monotonic() - self.t0, 2))
                self.event_log.append((round(time.monotonic() - self.t0, 2),
                                       label, "ok"))
            except Exception as exc:  # noqa: BLE001 - reported
                self.event_log.append((round(time.monotonic() - self.t0, 2),
                                       label, "failed: %s" % exc))

    def run(self, t0):
        self.t0 = t0
        ws = [threading.Thread(target=self._worker, daemon=True)
              for _ in range(self.threads)]
        for w in ws:
            w.start()
        ev = threading.Thread(target=self._events, daemon=True)
        ev.start()
        for i, (t, kind) in enumerate(self.schedule):
            delay = self.t0 + t - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self.q.put((i, t, kind))
            if self.progress:
                self.progress.tick(time.monotonic() - self.t0, self.results,
                                   self.lock)
        for _ in ws:
            self.q.put(None)
        for w in ws:
            w.join(120)
        ev.join(120)
        return self.results


class Sampler:
    """Every second: each region's cumulative counters (the mocks' own, or
    the agent's per-backend results when there are no mocks) and the
    agent's circuit states."""

    def __init__(self, lab, regions, mock):
        self.lab = lab
        self.regions = regions
        self.mock = mock
        self.samples = []
        self.stop_ev = threading.Event()
        self.thread = None
        self.t0 = None

    def snapshot(self):
        out = {}
        if self.mock:
            for r in self.regions:
                try:
                    st = self.lab.region(r).stats()
                except Exception:  # noqa: BLE001 - a missed sample
                    continue
                s = st.get("status", {})
                out[r] = {
                    "requests": st.get("requests", 0),
                    "ok": sum(v for k, v in s.items() if k.startswith("2")),
                    "throttled": s.get("429", 0),
                    "failed": sum(v for k, v in s.items()
                                  if k.startswith("5")) + st.get("resets",
                                                                 0)}
        else:
            for b in observe.agent_backends(self.lab):
                c = b.get("counters", {})
                if b.get("name") not in self.regions:
                    continue
                out[b["name"]] = {
                    "requests": sum(c.get(k, 0) for k in (
                        "results_2xx", "results_3xx", "results_4xx",
                        "results_5xx", "results_none")),
                    "ok": c.get("results_2xx", 0),
                    "throttled": c.get("throttles", 0),
                    "failed": c.get("results_5xx", 0) + c.get(
                        "results_none", 0)}
        return out

    def _loop(self):
        k = 0
        while not self.stop_ev.is_set():
            self.samples.append((round(time.monotonic() - self.t0, 3),
                                 self.snapshot()))
            k += 1
            delay = self.t0 + k - time.monotonic()
            if delay > 0:
                self.stop_ev.wait(delay)

    def start(self, t0):
        self.t0 = t0
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def stop(self):
        self.stop_ev.set()
        self.thread.join(10)
        self.samples.append((round(time.monotonic() - self.t0, 3),
                             self.snapshot()))


def settle(lab, paths, regions, limit=12.0):
    """Light traffic until no circuit is open/half-open (or <limit> s):
    a breaker needs a probe to close. Returns the seconds it took."""
    t0 = time.monotonic()
    c = lab.client()
    i = 0
    try:
        while time.monotonic() - t0 < limit:
            states = {b["name"]: b["state"] for b in observe.agent_backends(lab)}
            if all(states.get(r) in ("closed", "cooling") for r in regions):
                break
            try:
                do_request(c, paths, "chat", 100000 + i)
            except Exception:  # noqa: BLE001 - not part of the analysis
                c.close()
            i += 1
            time.sleep(0.2)
    finally:
        c.close()
    return round(time.monotonic() - t0, 2), i
