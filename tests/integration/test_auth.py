#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Entra ID credentials against mock token endpoints (agent/cred.c through
tests/tools/auth-drive): managed identity on a mock IMDS (plain HTTP),
workload identity, client secret and client certificate on a mock Entra ID
over TLS with a CA made at test time. Tokens are fetched, refreshed before
expiry, kept through failures while valid, then reported expired; retries
back off; the client assertion is checked with the openssl CLI; no token or
secret reaches any output.

No timing assertion: waits are bounded, and what is checked is the order
and content of events, never how long they took.
"""
import base64
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading

import harness as H
import itest

sys.path.insert(0, os.path.join(H.ROOT, "tests/mock"))
import mock_token as M  # noqa: E402

DRIVE = os.path.join(H.ROOT, "build/asan/tools/auth-drive")
if not os.path.exists(DRIVE):
    DRIVE = os.path.join(H.ROOT, "build/tools/auth-drive")
CLIENT = "11111111-2222-3333-4444-555555555555"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
SECRET = "CANARYSECRET~x.y_z-0123456789abcdef"

t = H.Tap()


class Drive:
    """One auth-drive process and its log."""

    def __init__(self, procs, name, *args):
        self.procs = procs
        self.map = procs.path(name + ".map")
        self.p = procs.start([DRIVE, "--map", self.map, "--name", name] +
                             list(args) + ["--backoff-min", "100",
                                           "--backoff-max", "400"],
                             log_name=name + ".log")

    def log(self):
        with open(self.p.log_path, errors="replace") as f:
            return f.read()

    def lines(self, prefix):
        return [ln for ln in self.log().splitlines()
                if ln.startswith(prefix)]

    def tokens(self):
        return self.lines("event token")

    def wait(self, pred, timeout=20.0):
        return H.wait_until(pred, timeout, 0.05)

    def describe(self):
        n = len(self.lines("describe"))
        self.p.send_signal(signal.SIGUSR1)
        self.wait(lambda: len(self.lines("describe")) > n
                  and len(self.lines("failed")) > n, 5)
        return self.lines("describe")[-1], self.lines("failed")[-1]

    def map_value(self):
        try:
            with open(self.map) as f:
                return f.read().split(" ", 1)[1].strip()
        except (OSError, IndexError):
            return None

    def stop(self):
        rc = self.procs.stop(self.p)
        log = self.log()
        t.ok(rc == 0 and "stopped" in log, "%s: clean stop" %
             os.path.basename(self.map), "rc %r" % rc)
        t.ok(not itest.SANITIZER.search(log), "%s: no sanitizer report" %
             os.path.basename(self.map))
        return log


def sha8(tok):
    return hashlib.sha256(tok.encode()).hexdigest()[:16]


def b64d(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def test_managed_identity(procs, logs):
    imds = M.TokenServer(lifetime=4)
    imds.chunked = True
    try:
        d = Drive(procs, "mi", "--kind", "managed-identity", "--imds",
                  imds.url, "--client-id", CLIENT)
        t.ok(d.wait(lambda: len(d.tokens()) >= 1), "mi: token fetched")
        r = imds.requests[0]
        t.ok(r["metadata"] == "true" and
             r["query"].get("api-version") == "2018-02-01" and
             r["query"].get("resource") ==
             "https://cognitiveservices.azure.com" and
             r["query"].get("client_id") == CLIENT,
             "mi: IMDS request has Metadata: true, resource, client_id",
             r)
        t.eq(d.map_value(), imds.issued[0], "mi: map holds the token")
        t.eq(os.stat(d.map).st_mode & 0o7777, 0o640, "mi: map is 0640")
        t.ok(sha8(imds.issued[0]) in d.tokens()[0],
             "mi: event names the token by hash only")
        t.ok(d.wait(lambda: len(d.tokens()) >= 2),
             "mi: refreshed before expiry (4 s token)")
        t.ok("event expired" not in d.log(),
             "mi: never without a token while refreshing")
        t.eq(d.map_value(), imds.issued[-1], "mi: map holds the new token")
        # the token endpoint fails: the token is kept, then expires
        imds.fail = 503
        n = imds.count()
        t.ok(d.wait(lambda: "event expired" in d.log()),
             "mi: failing endpoint: token reported expired")
        log = d.log()
        kept = log.find("current token kept")
        t.ok(0 <= kept < log.find("event expired"),
             "mi: failures kept the current token until it expired")
        t.ok(imds.count() - n >= 2, "mi: retried while failing",
             imds.count() - n)
        t.eq(d.map_value(), "-", "mi: map says no token after expiry")
        desc, failed = d.describe()
        t.ok("token=expired" in desc and "HTTP 503" in desc and
             "usable=0" in desc, "mi: describe: expired, last error", desc)
        counts = dict(kv.split("=") for kv in failed.split()[2:])
        t.ok(int(counts["http_5xx"]) >= 2 and
             sum(map(int, counts.values())) == int(counts["http_5xx"]),
             "mi: failures counted, all as http_5xx", failed)
        # recovery
        imds.fail = None
        t.ok(d.wait(lambda: "token=valid" in d.describe()[0]),
             "mi: a new token after the endpoint recovers")
        t.eq(d.lines("avail"), ["avail mi 1", "avail mi 0", "avail mi 1"],
             "mi: availability reported on each change only")
        logs.append(d.stop())
    finally:
        imds.close()


def test_map_at_start(procs, logs):
    imds = M.TokenServer()
    imds.fail = 503
    try:
        d = Drive(procs, "fresh", "--kind", "managed-identity", "--imds",
                  imds.url)
        t.ok(d.wait(lambda: "failed (http_5xx)" in d.log()),
             "start: endpoint failing")
        t.eq(open(d.map).read(), "fresh -\n",
             "start: a missing map is written with '-' so HAProxy can load "
             "it")
        logs.append(d.stop())
        keep = procs.write("kept.map", "kept eyJ.still.valid\n")
        d = Drive(procs, "kept", "--kind", "managed-identity", "--imds",
                  imds.url)
        t.ok(d.wait(lambda: "failed (http_5xx)" in d.log()),
             "start: endpoint failing again")
        t.eq(open(keep).read(), "kept eyJ.still.valid\n",
             "start: an existing map is left for HAProxy's next reload")
        logs.append(d.stop())
    finally:
        imds.close()


def test_backoff(procs, logs):
    imds = M.TokenServer(lifetime=3600)
    imds.script = [500, 429, 503, 410]
    try:
        d = Drive(procs, "mib", "--kind", "managed-identity", "--imds",
                  imds.url)
        t.ok(d.wait(lambda: len(d.tokens()) >= 1),
             "backoff: token after four failures")
        t.eq(imds.count(), 5, "backoff: one request per retry")
        delays = [int(ln.split("retry in ")[1].split()[0])
                  for ln in d.log().splitlines() if "retry in" in ln]
        bounds = [(80, 100), (160, 200), (320, 400), (320, 400)]
        t.ok(len(delays) == 4 and all(lo <= x <= hi for x, (lo, hi) in
                                      zip(delays, bounds)),
             "backoff: delays double from 100 ms to the 400 ms cap, "
             "jittered", delays)
        _, failed = d.describe()
        t.ok("throttled=1" in failed and "http_5xx=2" in failed and
             "http_4xx=1" in failed, "backoff: causes counted", failed)
        sched = [int(x) for x in re.findall(r"refresh in (\d+)s", d.log())]
        t.ok(sched and 1790 <= sched[0] <= 1800,
             "backoff: 1 h token scheduled for refresh at half-life", sched)
        logs.append(d.stop())
        # a Retry-After longer than the back-off is honoured
        imds.retry_after = "1"
        imds.script = [429]
        d = Drive(procs, "mira", "--kind", "managed-identity", "--imds",
                  imds.url)
        t.ok(d.wait(lambda: len(d.tokens()) >= 1),
             "retry-after: token after the 429")
        t.ok("retry in 1000 ms" in d.log(),
             "retry-after: the 1 s asked for replaces the 100 ms back-off",
             [ln for ln in d.log().splitlines() if "retry in" in ln])
        logs.append(d.stop())
    finally:
        imds.close()


def test_tls_refused(procs, logs):
    ca, crt, key = M.make_ca(procs.dir)
    entra = M.TokenServer(tls=(crt, key))
    entra.secret = SECRET
    try:
        sf = procs.write("wrongca.secret", SECRET + "\n")
        os.chmod(sf, 0o600)
        # the system CAs do not know the test CA
        d = Drive(procs, "tlsbad", "--kind", "client-secret",
                  "--authority", entra.url, "--tenant", TENANT,
                  "--client-id", CLIENT, "--secret-file", sf)
        t.ok(d.wait(lambda: "failed (tls)" in d.log()),
             "tls: a server the CAs do not vouch for is refused")
        t.eq(len(entra.requests), 0, "tls: no request reached it")
        logs.append(d.stop())
    finally:
        entra.close()


def test_client_secret(procs, logs):
    ca, crt, key = M.make_ca(procs.dir)
    entra = M.TokenServer(tls=(crt, key), lifetime=3600)
    entra.secret = SECRET
    try:
        sf = procs.write("world.secret", SECRET)
        os.chmod(sf, 0o644)
        p = procs.start([DRIVE, "--map", procs.path("x.map"), "--name",
                         "x", "--kind",
                         "client-secret", "--authority", entra.url,
                         "--tenant", TENANT, "--client-id", CLIENT,
                         "--secret-file", sf, "--ca-file", ca],
                        log_name="world.log")
        rc = p.wait(10)
        log = H.read_log(p)
        t.ok(rc == 1 and "accessible by others" in log,
             "secret: a world-readable secret file is refused", log[-200:])
        logs.append(log)
        os.chmod(sf, 0o600)
        d = Drive(procs, "sp", "--kind", "client-secret", "--authority",
                  entra.url, "--tenant", TENANT, "--client-id", CLIENT,
                  "--secret-file", sf, "--ca-file", ca)
        t.ok(d.wait(lambda: len(d.tokens()) >= 1),
             "secret: token fetched over TLS")
        f = entra.requests[0]["form"]
        t.ok(entra.requests[0]["path"] ==
             "/%s/oauth2/v2.0/token" % TENANT and
             f.get("client_secret") == SECRET and
             f.get("client_id") == CLIENT and
             f.get("scope") == "https://cognitiveservices.azure.com/.default"
             and f.get("grant_type") == "client_credentials",
             "secret: v2.0 client-credentials request",
             {k: v for k, v in f.items() if k != "client_secret"})
        t.eq(d.map_value(), entra.issued[0], "secret: map holds the token")
        logs.append(d.stop())
        # a wrong secret: a 4xx with the AADSTS code, never the secret
        entra.secret = "another"
        d = Drive(procs, "spbad", "--kind", "client-secret", "--authority",
                  entra.url, "--tenant", TENANT, "--client-id", CLIENT,
                  "--secret-file", sf, "--ca-file", ca)
        t.ok(d.wait(lambda: "invalid_client AADSTS7000215" in d.log()),
             "secret: a refused secret is reported by its AADSTS code")
        logs.append(d.stop())
    finally:
        entra.close()


def test_workload_identity(procs, logs):
    ca, crt, key = M.make_ca(procs.dir)
    entra = M.TokenServer(tls=(crt, key), lifetime=4)
    entra.chunked = True  # chunked bodies over TLS too
    try:
        tf = procs.write("federated", "eyJhbGciOiJSUzI1NiJ9.Zmlyc3Q.c2ln\n")
        os.chmod(tf, 0o644)  # projected volumes are world-readable
        env = dict(os.environ, AZURE_FEDERATED_TOKEN_FILE=tf,
                   AZURE_CLIENT_ID=CLIENT, AZURE_TENANT_ID=TENANT)
        d = Drive.__new__(Drive)
        d.procs = procs
        d.map = procs.path("wi.map")
        d.p = procs.start([DRIVE, "--map", d.map, "--name", "wi",
                           "--kind", "workload-identity", "--authority",
                           entra.url, "--ca-file", ca], log_name="wi.log",
                          env=env)
        t.ok(d.wait(lambda: len(d.tokens()) >= 1),
             "wi: token fetched with the environment AKS sets")
        f = entra.requests[0]["form"]
        t.ok(f.get("client_assertion") == "eyJhbGciOiJSUzI1NiJ9.Zmlyc3Q.c2ln"
             and f.get("client_assertion_type") == M.JWT_BEARER and
             f.get("client_id") == CLIENT,
             "wi: the federated token is the client assertion")
        with open(tf + ".new", "w") as fh:
            fh.write("eyJhbGciOiJSUzI1NiJ9.c2Vjb25k.c2ln")
        os.chmod(tf + ".new", 0o644)
        os.rename(tf + ".new", tf)
        t.ok(d.wait(lambda: len(d.tokens()) >= 2), "wi: refreshed")
        t.eq(entra.requests[-1]["form"].get("client_assertion"),
             "eyJhbGciOiJSUzI1NiJ9.c2Vjb25k.c2ln",
             "wi: the file is re-read on each refresh")
        # the file disappears: a local failure, retried, token kept
        n = entra.count()
        os.rename(tf, tf + ".away")
        t.ok(d.wait(lambda: "failed (local)" in d.log() and
                    "No such file" in d.log()),
             "wi: a missing token file is a local failure, retried")
        t.eq(entra.count(), n, "wi: nothing sent without the file")
        os.rename(tf + ".away", tf)
        k = len(d.tokens())
        t.ok(d.wait(lambda: len(d.tokens()) > k),
             "wi: a token again once the file is back")
        logs.append(d.stop())
    finally:
        entra.close()


class RawServer:
    """Answers every connection with <reply> bytes (None: never answers),
    on 127.0.0.1 in a thread."""

    def __init__(self, reply):
        self.reply = reply
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.held = []
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            if self.reply is None:
                self.held.append(c)
                continue
            try:
                c.recv(65536)
                c.sendall(self.reply)
            except OSError:
                pass
            c.close()

    def close(self):
        self.sock.close()
        for c in self.held:
            c.close()


def test_transport_failures(procs, logs):
    big = (b"HTTP/1.1 200 OK\r\nContent-Length: 10000000\r\n\r\n" +
           b"x" * 1000)
    cases = [
        ("refused", None, "connect"),
        ("silent", RawServer(None), "timeout"),
        ("oversized", RawServer(big), "protocol"),
        ("not JSON", RawServer(b"HTTP/1.1 200 OK\r\nContent-Length: 5"
                               b"\r\n\r\nhello"), "response"),
        ("no token", RawServer(b"HTTP/1.1 200 OK\r\nContent-Length: 2"
                               b"\r\n\r\n{}"), "response"),
        ("truncated", RawServer(b"HTTP/1.1 200 OK\r\nContent-Length: 9"
                                b"\r\n\r\n{}"), "io"),
    ]
    for name, srv, cause in cases:
        port = srv.port if srv else H.free_port()
        d = Drive(procs, "tr-" + name.replace(" ", ""), "--kind",
                  "managed-identity", "--imds", "http://127.0.0.1:%d" % port,
                  "--timeout", "0.5")
        t.ok(d.wait(lambda: "failed (%s)" % cause in d.log(), 10),
             "transport: %s counted as %s" % (name, cause),
             d.lines("20")[-1:] if d.lines("20") else "")
        t.ok(not d.tokens(), "transport: %s gives no token" % name)
        logs.append(d.stop())
        if srv:
            srv.close()


def openssl(*args, data=None):
    return subprocess.run(("openssl",) + args, input=data,
                          capture_output=True)


def test_client_certificate(procs, logs):
    ca, crt, key = M.make_ca(procs.dir)
    entra = M.TokenServer(tls=(crt, key), lifetime=3600)
    try:
        ck, cc = procs.path("app.key"), procs.path("app.crt")
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                ck, "-out", cc, "-days", "2", "-subj", "/CN=aoai-app")
        pem = procs.path("app.pem")
        with open(pem, "w") as f:
            f.write(open(cc).read() + open(ck).read())
        os.chmod(pem, 0o600)
        d = Drive(procs, "cert", "--kind", "client-certificate",
                  "--authority", entra.url, "--tenant", TENANT,
                  "--client-id", CLIENT, "--cert-file", pem, "--ca-file", ca)
        t.ok(d.wait(lambda: len(d.tokens()) >= 1),
             "cert: token fetched with a signed client assertion")
        f = entra.requests[0]["form"]
        jwt = f.get("client_assertion", "")
        parts = jwt.split(".")
        t.ok(len(parts) == 3 and f.get("client_assertion_type") ==
             M.JWT_BEARER and "client_secret" not in f,
             "cert: jwt-bearer assertion, no secret")
        hdr = json.loads(b64d(parts[0]))
        claims = json.loads(b64d(parts[1]))
        der = openssl("x509", "-in", cc, "-outform", "DER").stdout
        x5t = base64.urlsafe_b64encode(
            hashlib.sha256(der).digest()).decode().rstrip("=")
        t.ok(hdr.get("alg") == "RS256" and hdr.get("typ") == "JWT" and
             hdr.get("x5t#S256") == x5t,
             "cert: header alg RS256, x5t#S256 of the certificate", hdr)
        aud = "%s/%s/oauth2/v2.0/token" % (entra.url, TENANT)
        t.ok(claims.get("aud") == aud and claims.get("iss") == CLIENT and
             claims.get("sub") == CLIENT and len(claims.get("jti", "")) == 36
             and claims["exp"] - claims["nbf"] == 600,
             "cert: claims aud, iss, sub, jti, nbf, exp", claims)
        pub = procs.path("app.pub")
        openssl("x509", "-in", cc, "-pubkey", "-noout", "-out", pub)
        sig = procs.path("sig.bin")
        with open(sig, "wb") as fh:
            fh.write(b64d(parts[2]))
        data = (parts[0] + "." + parts[1]).encode()
        r = openssl("dgst", "-sha256", "-verify", pub, "-signature", sig,
                    data=data)
        t.ok(r.returncode == 0 and b"Verified OK" in r.stdout,
             "cert: openssl verifies the signature with the certificate",
             r.stdout + r.stderr)
        r = openssl("dgst", "-sha256", "-verify", pub, "-signature", sig,
                    data=data + b"x")
        t.ok(r.returncode != 0, "cert: and rejects it over other bytes")
        logs.append(d.stop())
        # a key readable by others is refused before any request
        os.chmod(pem, 0o644)
        n = entra.count()
        p = procs.start([DRIVE, "--map", procs.path("y.map"), "--name",
                         "y", "--kind",
                         "client-certificate", "--authority", entra.url,
                         "--tenant", TENANT, "--client-id", CLIENT,
                         "--cert-file", pem, "--ca-file", ca],
                        log_name="cert644.log")
        rc = p.wait(10)
        with open(p.log_path) as fh:
            log = fh.read()
        t.ok(rc == 1 and "accessible by others" in log and
             entra.count() == n,
             "cert: a world-readable key file is refused", log[-200:])
        logs.append(log)
    finally:
        entra.close()


def main():
    logs = []
    issued = []
    with H.Procs() as procs:
        for test in (test_managed_identity, test_map_at_start, test_backoff, test_tls_refused,
                     test_client_secret, test_workload_identity,
                     test_client_certificate, test_transport_failures):
            before = len(M.TokenServer.all_issued)
            test(procs, logs)
            issued += M.TokenServer.all_issued[before:]
    text = "\n".join(logs)
    t.ok(len(issued) >= 6, "canary: tokens were issued", len(issued))
    t.ok(M.CANARY not in text and
         not any(tok in text for tok in issued),
         "canary: no token in any output")
    t.ok("CANARYSECRET" not in text, "canary: no client secret in any "
         "output")
    t.ok("Zmlyc3Q" not in text and "c2Vjb25k" not in text,
         "canary: no federated token in any output")
    t.done()


if __name__ == "__main__":
    main()
