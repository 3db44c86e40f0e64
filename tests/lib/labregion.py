# SPDX-License-Identifier: Apache-2.0
"""One mock Azure OpenAI region of the lab: a build/mock-aoai process on a
loopback port it picks, its key file, its log, and its /_mock control API
(settings, fault injection, counters). Standard library only.

Region handle (one mock):
  name, port, url ("http://127.0.0.1:PORT"), control_url (url + "/_mock"),
  api_key, proc, log_path; set(**kv) -> settings dict (POST /_mock/set,
  e.g. set(fail_status=500, fail_count=20), set(reset=1)), settings(),
  stats() -> dict (requests, bytes_in, throttled, resets, streams,
  connections, tokens, auth_failures, aoai_headers (requests that carried
  an x-aoai-* header), status {"200": n, ...}),
  reset_stats(), stop(), start() (same port, same options).
"""
import http.client
import json
import os
import signal
import subprocess

import harness
from labhttp import LOCAL

ROOT = os.environ.get("AOAI_ROOT") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MOCK_BIN = os.environ.get("MOCK_AOAI") or os.path.join(ROOT,
                                                       "build/mock-aoai")


class LabError(RuntimeError):
    pass


class Region:
    """One build/mock-aoai process (a region)."""

    def __init__(self, folder, name, api_key, options, bearer=None,
                 verbose=False, procs=None):
        self.dir = folder
        self.verbose = verbose
        self.procs = procs if procs is not None else []
        self.name = name
        self.api_key = api_key
        self.options = dict(options or {})
        self.bearer = bearer
        self.port = 0
        self.proc = None
        self.log_path = os.path.join(folder, "mock-%s.log" % name)
        self.key_file = os.path.join(folder, "mock-%s.key" % name)

    @property
    def url(self):
        return "http://%s:%d" % (LOCAL, self.port)

    @property
    def control_url(self):
        return self.url + "/_mock"

    @property
    def addr(self):
        return "%s:%d" % (LOCAL, self.port)

    def start(self):
        with open(self.key_file, "w") as f:
            f.write(self.api_key + "\n")
        os.chmod(self.key_file, 0o600)
        port_file = os.path.join(self.dir, "mock-%s.port" % self.name)
        if os.path.exists(port_file):
            os.unlink(port_file)
        argv = [MOCK_BIN, "--region", self.name, "--port", str(self.port),
                "--port-file", port_file, "--api-key-file", self.key_file]
        if self.bearer:
            argv += ["--bearer", self.bearer]
        for k, v in sorted(self.options.items()):
            argv += ["--" + k.replace("_", "-"), str(v)]
        if self.verbose:
            argv.append("-v")
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.procs.append(self.proc)

        def ready():
            try:
                with open(port_file) as f:
                    return int(f.read().strip() or 0) > 0
            except (OSError, ValueError):
                return False
        if not harness.wait_until(ready, 10, 0.05) or self.proc.poll() is not None:
            raise LabError("mock %s did not start: %s"
                           % (self.name, self.log_text()))
        with open(port_file) as f:
            self.port = int(f.read().strip())
        if not harness.wait_port(self.port, 10, self.proc):
            raise LabError("mock %s not listening" % self.name)

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self, sig=signal.SIGTERM):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def _ctl(self, method, path, timeout=5.0):
        conn = http.client.HTTPConnection(LOCAL, self.port, timeout=timeout)
        try:
            conn.request(method, "/_mock/" + path)
            r = conn.getresponse()
            data = r.read()
            if r.status != 200:
                raise LabError("mock %s %s %s: %d %s" % (
                    self.name, method, path, r.status, data[:200]))
            return json.loads(data) if data[:1] == b"{" else data
        finally:
            conn.close()

    def set(self, **kv):
        """POST /_mock/set?k=v&...; returns the settings in force."""
        q = "&".join("%s=%s" % (k, v) for k, v in kv.items())
        return self._ctl("POST", "set?" + q)

    def settings(self):
        return self._ctl("GET", "settings")

    def stats(self):
        return self._ctl("GET", "stats")

    def reset_stats(self):
        return self._ctl("POST", "stats/reset")

    def status_count(self, code, stats=None):
        st = stats if stats is not None else self.stats()
        return int(st.get("status", {}).get(str(code), 0))
