# SPDX-License-Identifier: Apache-2.0
"""Driving load through the lab: a fixed number of requests over a few
keep-alive clients (run_load), or steady background load (Load), and
what the results say (status_counts, failures, served_by). Each takes a
client factory, such as Lab.client, so it works against any frontend.
Standard library only.
"""
import collections
import threading
import time


def run_load(client, n, threads=4, fn=None):
    """n requests over <threads> keep-alive clients made by client();
    fn(client, i) sends one (default: a small chat). Returns the list of
    Response or Exception, in no particular order."""
    fn = fn or (lambda c, i: c.chat("hello %d" % i))
    results = []
    lock = threading.Lock()
    counter = iter(range(n))

    def worker():
        c = client()
        try:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                try:
                    r = fn(c, i)
                except Exception as exc:  # noqa: BLE001 - recorded
                    r = exc
                with lock:
                    results.append(r)
        finally:
            c.close()
    ts = [threading.Thread(target=worker, daemon=True)
          for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return results


def status_counts(results):
    """Counter of status codes (exceptions counted by class name)."""
    return collections.Counter(
        type(r).__name__ if isinstance(r, Exception) else r.status
        for r in results)


def failures(results, ok=(200,)):
    """The results that are exceptions or have a status not in <ok>."""
    return [r for r in results
            if isinstance(r, Exception) or r.status not in ok]


def served_by(results):
    """Counter of x-aoai-server (the server that answered) of responses."""
    return collections.Counter(r.headers.get("x-aoai-server")
                               for r in results
                               if not isinstance(r, Exception))


class Load:
    """Steady background load: <threads> keep-alive clients sending fn(client,
    i) (default a small chat) until stop(); pause between requests. <lab>
    is anything with a client() method (a Lab)."""

    def __init__(self, lab, threads=4, fn=None, pause=0.0):
        self.lab = lab
        self.threads = threads
        self.fn = fn or (lambda c, i: c.chat("hello %d" % i))
        self.pause = pause
        self.results = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._ts = []
        self._n = 0

    def _worker(self):
        c = self.lab.client()
        try:
            while not self._stop.is_set():
                with self._lock:
                    i = self._n
                    self._n += 1
                t0 = time.monotonic()
                try:
                    r = self.fn(c, i)
                except Exception as exc:  # noqa: BLE001 - recorded
                    r = exc
                with self._lock:
                    self.results.append((t0, r))
                if self.pause:
                    self._stop.wait(self.pause)
        finally:
            c.close()

    def start(self):
        for _ in range(self.threads):
            t = threading.Thread(target=self._worker, daemon=True)
            t.start()
            self._ts.append(t)
        return self

    def stop(self):
        self._stop.set()
        for t in self._ts:
            t.join(60)
        return [r for _t, r in self.results]

    @property
    def errors(self):
        return [r for _t, r in self.results if isinstance(r, Exception)]

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False
