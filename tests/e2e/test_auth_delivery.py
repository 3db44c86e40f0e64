#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Token delivery to a real HAProxy (tests/run.py runs this once per
supported version, HAPROXY naming the binary): the token map written by
agent/tokmap.c is loaded at start, `set map` on the runtime API (the line agent/tokmap.c
formats) replaces a token in the running process, a new process started
for a reload reads the current token from the map before its first
request, and a key without a token ("-") sends no Authorization header.
Driven by tests/tools/auth-drive against the mock IMDS.
"""
import http.server
import os
import sys
import threading
import time

import harness as H

sys.path.insert(0, os.path.join(H.ROOT, "tests/mock"))
import mock_token as M  # noqa: E402

DRIVE = os.path.join(H.ROOT, "build/asan/tools/auth-drive")
if not os.path.exists(DRIVE):
    DRIVE = os.path.join(H.ROOT, "build/tools/auth-drive")

t = H.Tap()

CFG = """\
global
    stats socket {sock} mode 600 level admin
defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    # the agent picks the backend; its name is the map's key
    http-request set-var(txn.bearer) str(eastus),map({map})
    http-request del-header Authorization
    http-request del-header api-key
    http-request set-header Authorization "Bearer %[var(txn.bearer)]" \
if {{ var(txn.bearer) -m found }} !{{ var(txn.bearer) -m str -- - }}
    default_backend be
backend be
    server s1 127.0.0.1:{echo}
# a region with a key beside the keyless one
frontend keyed
    bind 127.0.0.1:{kport}
    http-request del-header Authorization
    http-request set-header api-key "%[str(westus),map({keys})]"
    default_backend be
"""


class Echo:
    """Backend recording the Authorization header of each request."""

    def __init__(self):
        seen = self.seen = []
        keys = self.keys = []

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                keys.append(self.headers.get("api-key"))
                seen.append(self.headers.get("Authorization"))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # HAProxy closing idle connections at reload

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever,
                         daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def get(port):
    """One request through HAProxy (the backend records its headers);
    returns the status."""
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    c.request("GET", "/openai/deployments/x/chat/completions",
              headers={"Authorization": "Bearer client-token",
                       "api-key": "client-key"})
    r = c.getresponse()
    r.read()
    c.close()
    return r.status


def run(procs, logs):
    imds = M.TokenServer(lifetime=10)
    echo = Echo()
    d = None
    try:
        argv = [H.HAPROXY]
        mp = procs.path("tokens.map")
        sock = procs.path("hapi.sock")
        port, kport = H.free_port(), H.free_port()
        keys = procs.write("keys.map", "westus CANARYKEY0123\n")
        cfg = procs.write("h.cfg", CFG.format(
            sock=sock, port=port, map=mp, echo=echo.port, kport=kport,
            keys=keys))
        d = procs.start([DRIVE, "--map", mp, "--hapi", sock, "--name",
                         "eastus", "--kind", "managed-identity", "--imds",
                         imds.url, "--backoff-min", "100", "--backoff-max",
                         "300"], log_name="drive.log")

        def log():
            return H.read_log(d)

        # the map exists, with a token, before HAProxy starts
        t.ok(H.wait_until(lambda: "event token" in log(), 15),
             "token in the map before HAProxy starts")
        h1 = procs.start(argv + ["-db", "-f", cfg],
                         log_name="haproxy-1.log")
        t.ok(H.wait_port(port, 10, h1), "HAProxy up")
        t.ok(H.wait_until(lambda: 'hapi-answer ""' in log(), 15),
             "the first set map, refused before HAProxy listened, is "
             "sent again once it is up")
        hl = [ln for ln in log().splitlines() if "hapi" in ln]
        before = hl.index('hapi-answer ""')
        get(port)
        t.ok(echo.seen[-1] == "Bearer " + imds.issued[0],
             "first request carries the token from the map; the "
             "client's own credentials are dropped")
        get(kport)
        t.ok(echo.seen[-1] is None and echo.keys[-1] == "CANARYKEY0123",
             "a keyed region beside it still gets its api-key and no "
             "token")
        # refresh at half-life: set map on the running process, while
        # two clients keep sending requests
        stop = threading.Event()
        statuses = []

        def load():
            while not stop.is_set():
                statuses.append(get(port))
                time.sleep(0.002)  # load, not a benchmark: share the CPU

        load_threads = [threading.Thread(target=load) for _ in range(2)]
        for th in load_threads:
            th.start()
        n0 = len(echo.seen)
        # the driver prints the event after the set map
        t.ok(H.wait_until(lambda: "refreshes=2 " in log(), 15),
             "refreshed token sent with set map")
        # the map is updated once the driver has logged the refresh;
        # keep the load going until requests after it have arrived, or a
        # slow refresh leaves none in the window (seen under CI load)
        n1 = len(echo.seen)
        H.wait_until(lambda: len(echo.seen) > max(n0 + 50, n1 + 20), 10)
        stop.set()
        for th in load_threads:
            th.join()
        during = echo.seen[n0:]
        valid = ["Bearer " + tok for tok in imds.issued]
        t.ok(len(during) > 50 and all(a in valid for a in during) and
             all(st == 200 for st in statuses),
             "%d requests across the rotation, each with a valid "
             "token, none failed" % len(during))
        t.ok(valid[0] in during and any(a in valid[1:] for a in during),
             "the rotation happened under that load")
        # the first token came before HAProxy listened
        answers = [ln for ln in log().splitlines() if "hapi" in ln][before:]
        t.ok(answers and all(ln == 'hapi-answer ""' for ln in answers),
             "HAProxy accepted every set map once up", answers)
        get(port)
        got = (echo.seen[-1] or "")[len("Bearer "):]
        t.ok(got in imds.issued[1:],
             "the running process uses a refreshed token")
        # the runtime API unreachable at a refresh: the line is sent again
        os.rename(sock, sock + ".away")
        errors = log().count("hapi-error")
        t.ok(H.wait_until(lambda: log().count("hapi-error") > errors, 15),
             "a refresh while the runtime API is unreachable")
        os.rename(sock + ".away", sock)

        def resent():
            lines = log().splitlines()
            last_err = max(i for i, ln in enumerate(lines)
                           if ln.startswith("hapi-error"))
            return 'hapi-answer ""' in lines[last_err:]
        t.ok(H.wait_until(resent, 15),
             "the set map is sent again once it is back")
        with open(mp) as f:
            current = f.read().split()[1]
        get(port)
        got = (echo.seen[-1] or "")[len("Bearer "):]
        t.ok(current in imds.issued and
             got in imds.issued[imds.issued.index(current):],
             "the running process caught up with the map")
        # reload: a new process reads the map file, already current
        h2 = procs.start(argv + ["-db", "-f", cfg, "-sf", str(h1.pid)],
                         log_name="haproxy-2.log")
        t.ok(H.wait_until(lambda: h1.poll() is not None, 10),
             "the old process left after the reload")
        t.ok(H.wait_port(port, 10, h2), "new process up")
        with open(mp) as f:
            current = f.read().split()[1]
        get(port)
        got = (echo.seen[-1] or "")[len("Bearer "):]
        t.ok(current in imds.issued and
             got in imds.issued[imds.issued.index(current):],
             "the new process's first request has the current token")
        # the token expires without replacement: no Authorization at all
        imds.fail = 503
        t.ok(H.wait_until(lambda: "event expired" in log(), 20),
             "token expired")
        lines = log().splitlines()
        i = [k for k, ln in enumerate(lines)
             if ln.startswith("event expired")][0]
        t.eq(lines[i - 1], 'hapi-answer ""',
             "expiry sent with set map")
        get(port)
        t.ok(echo.seen[-1] is None and echo.keys[-1] is None,
             "no token, no Authorization header (and no api-key)")
        for p in (h2, d):
            procs.stop(p)
        logs.append(log())
        logs.append(H.read_log(h1) + H.read_log(h2))
    finally:
        imds.close()
        echo.close()


def main():
    logs = []
    with H.Procs() as procs:
        run(procs, logs)
    text = "\n".join(logs)
    t.ok(len(M.TokenServer.all_issued) >= 3, "tokens were issued")
    t.ok(M.CANARY not in text and "CANARYKEY" not in text,
         "no token or key in the driver's or HAProxy's output")
    t.done()


if __name__ == "__main__":
    main()
