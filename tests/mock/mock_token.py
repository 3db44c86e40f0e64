# SPDX-License-Identifier: Apache-2.0
"""Mock token endpoints for the Entra ID tests (stdlib only).

Not a test program (run.py runs only test_*.py). Imported by
tests/integration/test_auth.py, which runs it in threads of its own
process on 127.0.0.1 ports chosen at run time:

- TokenServer(tls=None): the instance metadata service, plain HTTP:
  GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=...
  with "Metadata: true", answered like IMDS (expires_on as a string).
- TokenServer(tls=(cert, key)): Entra ID's v2.0 token endpoint over TLS:
  POST /{tenant}/oauth2/v2.0/token, client credentials with a
  client_secret or a client_assertion (jwt-bearer).

Behaviour is set on the object: `lifetime` (s) of the tokens issued,
`script` (statuses to answer before succeeding, one per request),
`fail` (a status answered to every request while set), `retry_after`
(a Retry-After value sent with failures when set), `secret` (the
client secret expected), `chunked` (answer with chunked bodies),
`jwt_key` (bytes: tokens are then JWTs signed HS256 with it, audience
https://cognitiveservices.azure.com and exp, which the region mock
verifies offline with --jwt-key-file). Every
request is recorded in `requests`; every token issued in `issued`.
make_ca() writes a test CA and a server certificate for 127.0.0.1 with the
openssl CLI.
"""
import base64
import hashlib
import hmac
import http.server
import json
import os
import secrets
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CANARY = "CANARYTOKEN"


def make_ca(folder):
    """Test CA and a server certificate for 127.0.0.1; returns
    (ca_cert, server_cert, server_key) paths."""
    ca_key = os.path.join(folder, "ca.key")
    ca = os.path.join(folder, "ca.pem")
    key = os.path.join(folder, "server.key")
    csr = os.path.join(folder, "server.csr")
    crt = os.path.join(folder, "server.pem")
    ext = os.path.join(folder, "server.ext")
    run = lambda *a: subprocess.run(a, check=True, capture_output=True)
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
        "-keyout", ca_key, "-out", ca, "-days", "2", "-subj",
        "/CN=aoai-spoa test CA")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
        "-out", csr, "-subj", "/CN=127.0.0.1")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n"
                "extendedKeyUsage=serverAuth\n")
    run("openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
        "-CAcreateserial", "-out", crt, "-days", "2", "-extfile", ext)
    return ca, crt, key


def new_token(n):
    """A JWT-shaped token holding CANARY, so leaks are easy to find."""
    rnd = secrets.token_urlsafe(24)
    return "eyJ0eXAiOiJKV1QifQ.%s%d%s.c2lnbmF0dXJl" % (CANARY, n, rnd)


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed_token(n, key, exp):
    """An access token the region mock verifies: HS256 JWT, audience
    Cognitive Services, expiry <exp>, the canary in its id claim."""
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64(json.dumps({
        "aud": "https://cognitiveservices.azure.com", "exp": exp,
        "iat": int(time.time()),
        "jti": "%s%d%s" % (CANARY, n, secrets.token_urlsafe(12))}).encode())
    sig = hmac.new(key, ("%s.%s" % (head, body)).encode(),
                   hashlib.sha256).digest()
    return "%s.%s.%s" % (head, body, _b64(sig))


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _answer(self, status, obj):
        body = json.dumps(obj).encode()
        srv = self.server.owner
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Connection", "close")
        if status != 200 and srv.retry_after is not None:
            self.send_header("Retry-After", srv.retry_after)
        if srv.chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            half = len(body) // 2
            for part in (body[:half], body[half:]):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        self.close_connection = True

    def _failure(self):
        srv = self.server.owner
        with srv.lock:
            if srv.fail:
                return srv.fail
            if srv.script:
                return srv.script.pop(0)
        return None

    def do_GET(self):
        srv = self.server.owner
        url = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(url.query))
        rec = {"method": "GET", "path": url.path, "query": q,
               "metadata": self.headers.get("Metadata")}
        with srv.lock:
            srv.requests.append(rec)
        if url.path != "/metadata/identity/oauth2/token":
            return self._answer(404, {"error": "not_found"})
        if self.headers.get("Metadata") != "true":
            return self._answer(400, {"error": "invalid_request",
                                      "error_description":
                                      "Required metadata header not "
                                      "specified"})
        status = self._failure()
        if status:
            return self._answer(status, {"error": "unavailable"})
        tok, exp = srv.issue()
        self._answer(200, {"access_token": tok, "client_id": q.get(
            "client_id", "system"), "expires_in": str(srv.lifetime),
            "expires_on": str(exp), "ext_expires_in": str(srv.lifetime),
            "not_before": str(exp - srv.lifetime),
            "resource": q.get("resource"), "token_type": "Bearer"})

    def do_POST(self):
        srv = self.server.owner
        n = int(self.headers.get("Content-Length", "0"))
        form = dict(urllib.parse.parse_qsl(self.rfile.read(n).decode()))
        rec = {"method": "POST", "path": self.path, "form": form,
               "ctype": self.headers.get("Content-Type")}
        with srv.lock:
            srv.requests.append(rec)
        parts = self.path.split("/")
        if len(parts) != 5 or parts[2:] != ["oauth2", "v2.0", "token"]:
            return self._answer(404, {"error": "not_found"})
        if form.get("grant_type") != "client_credentials" or \
                not form.get("scope", "").endswith("/.default"):
            return self._answer(400, {"error": "invalid_request"})
        if "client_secret" in form:
            if srv.secret is None or form["client_secret"] != srv.secret:
                return self._answer(401, {
                    "error": "invalid_client", "error_description":
                    "AADSTS7000215: Invalid client secret provided."})
        elif form.get("client_assertion_type") != JWT_BEARER or \
                not form.get("client_assertion"):
            return self._answer(400, {"error": "invalid_request"})
        status = self._failure()
        if status:
            return self._answer(status, {
                "error": "temporarily_unavailable",
                "error_description": "AADSTS50196: loop detected"})
        tok, _ = srv.issue()
        self._answer(200, {"token_type": "Bearer",
                           "expires_in": srv.lifetime,
                           "ext_expires_in": srv.lifetime,
                           "access_token": tok})


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # a client stopped mid-answer (tests stop drivers at any time)
        if not isinstance(sys.exc_info()[1], (BrokenPipeError,
                                               ConnectionResetError)):
            super().handle_error(request, client_address)


class TokenServer:
    """IMDS (plain) or Entra ID (TLS) mock on 127.0.0.1 in a thread."""

    all_issued = []  # every token any instance issued (leak checks)

    def __init__(self, tls=None, lifetime=3600):
        self.lifetime = lifetime
        self.script = []
        self.fail = None
        self.secret = None
        self.chunked = False
        self.retry_after = None
        self.jwt_key = None
        self.requests = []
        self.issued = []
        self.lock = threading.Lock()
        self.httpd = _Server(("127.0.0.1", 0), _Handler)
        self.httpd.owner = self
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(tls[0], tls[1])
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket,
                                                server_side=True)
        self.port = self.httpd.server_address[1]
        self.url = "%s://127.0.0.1:%d" % ("https" if tls else "http",
                                          self.port)
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       daemon=True)
        self.thread.start()

    def issue(self):
        with self.lock:
            exp = int(time.time()) + self.lifetime
            tok = signed_token(len(self.issued), self.jwt_key, exp) \
                if self.jwt_key else new_token(len(self.issued))
            self.issued.append(tok)
            TokenServer.all_issued.append(tok)
            return tok, exp

    def count(self):
        with self.lock:
            return len(self.requests)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
