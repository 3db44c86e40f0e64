#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Tests of the mock Azure OpenAI region server (build/mock-aoai).

Prints one line per check, "ok - name" or "not ok - name: detail", and exits
1 when a check failed. The binary is $MOCK_AOAI, or build/mock-aoai under
the repository root. $MOCK_AOAI_WRAPPER runs it under a tool, e.g.
MOCK_AOAI_WRAPPER="valgrind -q --error-exitcode=99 --leak-check=full"; the
exit status check at the end then fails on any memory error.
"""
import base64
import hashlib
import hmac
import json
import os
import re
import shlex
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
MOCK = os.environ.get("MOCK_AOAI", os.path.join(ROOT, "build/mock-aoai"))
WRAPPER = shlex.split(os.environ.get("MOCK_AOAI_WRAPPER", ""))
SLOW = 10.0 if WRAPPER else 1.0  # timeouts scale under valgrind
REGION = "Sweden Central"
KEY = "k3y-for-tests"
BEARER = "t0ken-for-tests"
CHAT = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
EMBED = "/openai/deployments/emb-3/embeddings?api-version=2024-10-21"
V1 = "/openai/v1/chat/completions"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-"
                  r"[0-9a-f]{12}$")
BODY_401 = ('{"error":{"code":"401","message":"Access denied due to invalid '
            'subscription key or wrong API endpoint. Make sure to provide a '
            'valid key for an active subscription and use a correct regional '
            'API endpoint for your resource."}}')
BODY_404 = '{"error":{"code":"404","message":"Resource not found"}}'
BODY_429 = ('{"error":{"code":"429","message":"Requests to the '
            'ChatCompletions_Create Operation under Azure OpenAI API version '
            '%s have exceeded call rate limit of your current OpenAI S0 '
            'pricing tier. Please retry after %s seconds. Please go here: '
            'https://aka.ms/oai/quotaincrease if you would like to further '
            'increase the default rate limit."}}')

failures = 0


def check(cond, name, detail=""):
    """Prints one TAP-like line; returns cond."""
    global failures
    if cond:
        print("ok - %s" % name, flush=True)
    else:
        failures += 1
        print("not ok - %s: %s" % (name, detail or "failed"), flush=True)
    return cond


def check_eq(got, want, name):
    return check(got == want, name, "got %r, want %r" % (got, want))


class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # lower-case name -> last value
        self.body = body

    def header(self, name):
        return self.headers.get(name.lower())

    def json(self):
        return json.loads(self.body.decode())


class Conn:
    """A minimal HTTP/1.1 client over one socket: keep-alive, pipelining,
    chunked answers, raw bytes when needed."""

    def __init__(self, port, timeout=10.0):
        self.sock = socket.create_connection(("127.0.0.1", port),
                                             timeout=timeout * SLOW)
        self.buf = b""

    def close(self):
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("connection closed by the mock")
        self.buf += data

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _take(self, n):
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def response(self, keep_interim=False):
        while True:
            parts = self._line().decode("latin-1").split(" ", 2)
            status = int(parts[1])
            headers = {}
            while True:
                line = self._line()
                if not line:
                    break
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            if 100 <= status < 200 and not keep_interim:
                continue
            break
        if 100 <= status < 200:
            return Resp(status, headers, b"")
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self._line().split(b";")[0], 16)
                if size == 0:
                    while self._line():
                        pass
                    break
                body += self._take(size)
                self._take(2)
        elif "content-length" in headers:
            body = self._take(int(headers["content-length"]))
        else:
            body = self.buf
            self.buf = b""
            while True:
                data = self.sock.recv(65536)
                if not data:
                    break
                body += data
        return Resp(status, headers, body)

    def request(self, method, path, body=b"", headers=None, key=KEY):
        self.send(build(method, path, body, headers, key))
        return self.response()

    def at_eof(self, wait=2.0):
        """True when the peer closed (EOF or reset) within <wait> s."""
        self.sock.settimeout(wait * SLOW)
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False


def build(method, path, body=b"", headers=None, key=KEY):
    if isinstance(body, str):
        body = body.encode()
    h = {"Host": "mock.test", "Content-Type": "application/json"}
    if key is not None:
        h["api-key"] = key
    if method == "POST" or body:
        h["Content-Length"] = str(len(body))
    h.update(headers or {})
    head = "%s %s HTTP/1.1\r\n" % (method, path)
    head += "".join("%s: %s\r\n" % kv for kv in h.items() if kv[1] is not None)
    return head.encode() + b"\r\n" + body


def chat_body(text="Say hello.", stream=False, size=0, model=None):
    doc = {"messages": [{"role": "user", "content": text + "x" * size}]}
    if model:
        doc["model"] = model
    if stream:
        doc["stream"] = True
    return json.dumps(doc).encode()


class Mock:
    """One mock-aoai process; stop() returns its exit status."""

    def __init__(self, tmp, *extra):
        self.port_file = os.path.join(tmp, "port-%d" % time.monotonic_ns())
        self.err_path = self.port_file + ".stderr"
        key_file = os.path.join(tmp, "api-key")
        with open(key_file, "w") as f:
            f.write(KEY + "\n")
        argv = WRAPPER + [MOCK, "--region", REGION, "--port", "0",
                          "--port-file", self.port_file,
                          "--api-key-file", key_file, "--bearer", BEARER]
        argv += list(extra)
        self.err = open(self.err_path, "w+b")
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                     stderr=self.err,
                                     stdin=subprocess.DEVNULL)
        try:
            self._wait_ready()
        except BaseException:
            self.kill()
            raise

    def _wait_ready(self):
        deadline = time.monotonic() + 10 * SLOW
        self.port = None
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                with open(self.port_file) as f:
                    self.port = int(f.read())
                break
            except (OSError, ValueError):
                time.sleep(0.02)
        if self.port is None:
            raise RuntimeError("mock did not start: %s" % self.stderr())
        # The port file is written just before the log line.
        while time.monotonic() < deadline and b"listening" not in \
                self.stderr().encode():
            time.sleep(0.02)

    def stderr(self):
        self.err.flush()
        with open(self.err_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def conn(self):
        return Conn(self.port)

    def get(self, path, method="GET", body=b"", headers=None, key=KEY):
        c = self.conn()
        try:
            return c.request(method, path, body, headers, key)
        finally:
            c.close()

    def post(self, path, body=b"", headers=None, key=KEY):
        return self.get(path, "POST", body, headers, key)

    def set(self, query):
        r = self.post("/_mock/set?" + query, key=None)
        if r.status != 200:
            raise RuntimeError("set %s: %d %r" % (query, r.status, r.body))
        return r.json()

    def stats(self):
        return self.get("/_mock/stats", key=None).json()

    def stop(self, sig=signal.SIGTERM, wait=5.0):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=wait * SLOW)
        except subprocess.TimeoutExpired:
            return None

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.err.close()


def test_startup(m):
    with open(m.port_file) as f:
        check_eq(f.read(), "%d\n" % m.port, "port file holds the bound port")
    check("mock-aoai %s listening on 127.0.0.1:%d" % (REGION, m.port)
          in m.stderr(), "startup line on stderr", repr(m.stderr()[-300:]))
    r = m.get("/_mock/health", key=None)
    check(r.status == 200 and r.body == b"ok", "GET /_mock/health is ok",
          "%d %r" % (r.status, r.body))


def test_chat(m):
    body = chat_body()
    r = m.post(CHAT, body)
    check_eq(r.status, 200, "chat completion: 200")
    check_eq(r.header("x-ms-region"), REGION, "chat: x-ms-region")
    check(UUID.match(r.header("apim-request-id") or ""),
          "chat: apim-request-id is uuid-like", r.header("apim-request-id"))
    check(UUID.match(r.header("x-request-id") or ""),
          "chat: x-request-id is uuid-like", r.header("x-request-id"))
    check_eq(r.header("content-type"), "application/json",
             "chat: content-type")
    check_eq(r.header("content-length"), str(len(r.body)),
             "chat: content-length")
    check(r.header("x-ratelimit-remaining-requests") is None and
          r.header("x-ratelimit-remaining-tokens") is None,
          "chat: no rate-limit headers without quota", str(r.headers))
    d = r.json()
    msg = d["choices"][0]["message"]
    check(d["id"].startswith("chatcmpl-") and
          d["object"] == "chat.completion" and
          isinstance(d["created"], int) and d["model"] == "gpt-4o",
          "chat: id, object, created, model", str(d))
    check(msg["role"] == "assistant" and REGION in msg["content"],
          "chat: assistant message names the region", str(msg))
    u = d["usage"]
    check(u["prompt_tokens"] == len(body) // 4 and
          u["completion_tokens"] == 16 and
          u["total_tokens"] == u["prompt_tokens"] + 16,
          "chat: usage = body/4 + 16", str(u))


def test_embeddings(m):
    r = m.post(EMBED, b'{"input": "hello world"}')
    check_eq(r.status, 200, "embeddings: 200")
    d = r.json()
    ok = (d["object"] == "list" and d["data"][0]["object"] == "embedding" and
          d["data"][0]["index"] == 0 and len(d["data"][0]["embedding"]) >= 3
          and all(isinstance(x, float) for x in d["data"][0]["embedding"])
          and d["model"] == "emb-3" and d["usage"]["prompt_tokens"] == 6 and
          d["usage"]["total_tokens"] == 6)
    check(ok, "embeddings: list of one embedding, model, usage", str(d))
    check_eq(r.header("x-ms-region"), REGION, "embeddings: x-ms-region")


def embed(m, inputs, fmt=None):
    body = {"input": inputs}
    if fmt:
        body["encoding_format"] = fmt
    r = m.post(EMBED, json.dumps(body).encode())
    return r, (r.json() if r.status == 200 else None)


def test_embeddings_formats(m):
    """As Azure answers: one embedding per input, index in order, floats or
    base64 of little-endian float32 when asked."""
    texts = ["first input", "second, with \"quotes\" and [brackets]",
             "third"]
    r, f = embed(m, texts)
    check(r.status == 200 and len(f["data"]) == 3 and
          [d["index"] for d in f["data"]] == [0, 1, 2] and
          all(d["object"] == "embedding" for d in f["data"]),
          "embeddings: three inputs, three embeddings, index 0..2",
          "%d %r" % (r.status, r.body[:300]))
    vecs = [d["embedding"] for d in f["data"]]
    check(all(len(v) == 8 and all(isinstance(x, float) and
                                  -0.05 <= x <= 0.05 for x in v)
              for v in vecs) and len({tuple(v) for v in vecs}) == 3,
          "embeddings: floats by default, a different vector per input",
          vecs)
    r, b = embed(m, texts, "base64")
    ok = r.status == 200 and len(b["data"]) == 3
    check(ok and all(isinstance(d["embedding"], str) for d in b["data"]),
          "embeddings: encoding_format base64 answers strings",
          r.body[:300])
    if ok:
        dec = [list(struct.unpack("<8f", base64.b64decode(
            d["embedding"], validate=True))) for d in b["data"]]
        want = [list(struct.unpack("<8f", struct.pack("<8f", *v)))
                for v in vecs]
        check_eq(dec, want, "embeddings: base64 decodes (float32 LE) to "
                 "the float answer's values")
        check_eq([d["index"] for d in b["data"]], [0, 1, 2],
                 "embeddings: base64 answer keeps index order")
        check(b["usage"]["prompt_tokens"] > 0 and
              b["usage"]["total_tokens"] == b["usage"]["prompt_tokens"],
              "embeddings: usage (prompt = total)", b.get("usage"))
    r, one = embed(m, texts[1])
    check(r.status == 200 and len(one["data"]) == 1 and
          one["data"][0]["embedding"] == vecs[1],
          "embeddings: a string input is one embedding, the same vector "
          "as in an array", "%d %r" % (r.status, r.body[:300]))
    r, b = embed(m, texts[1], "float")
    check(r.status == 200 and b["data"][0]["embedding"] == vecs[1],
          "embeddings: encoding_format float answers floats")
    r, tok = embed(m, [1734, 374, 264, 1296])
    check(r.status == 200 and len(tok["data"]) == 1,
          "embeddings: an array of token numbers is one input",
          "%d %r" % (r.status, r.body[:300]))
    r, tok = embed(m, [[1734, 374], [264, 1296]])
    check(r.status == 200 and len(tok["data"]) == 2,
          "embeddings: an array of token arrays is one input each",
          "%d %r" % (r.status, r.body[:300]))
    r, _ = embed(m, ["x"] * 128, "base64")
    check(r.status == 200 and len(r.json()["data"]) == 128,
          "embeddings: 128 inputs in one request", "%d" % r.status)
    r = m.post(EMBED, b'{"model":"x"}')
    check(r.status == 200 and len(r.json()["data"]) == 1,
          "embeddings: a body without input is one input (lenient)",
          "%d %r" % (r.status, r.body[:200]))
    for name, body in (("an empty array", b'{"input":[]}'),
                       ("a number", b'{"input":42}'),
                       ("129 inputs", json.dumps(
                           {"input": ["x"] * 129}).encode()),
                       ("a cut array", b'{"input":["a","b"')):
        r = m.post(EMBED, body)
        check(r.status == 400 and r.json()["error"]["code"] == "400",
              "embeddings: %s is a 400" % name,
              "%d %r" % (r.status, r.body[:200]))


def test_v1(m):
    r = m.post(V1, chat_body(model="gpt-4.1-mini"))
    check(r.status == 200 and r.json()["model"] == "gpt-4.1-mini",
          "v1 path: 200 with the body's model", "%d %r" % (r.status, r.body))
    r = m.post("/openai/v1/embeddings", b'{"model":"te3","input":"x"}')
    check(r.status == 200 and r.json()["object"] == "list",
          "v1 embeddings: 200", "%d %r" % (r.status, r.body))


def test_auth(m):
    r = m.post(CHAT, chat_body(), key="wrong")
    check_eq(r.status, 401, "bad api-key: 401")
    check_eq(r.body.decode(), BODY_401, "bad api-key: Azure body")
    r = m.post(CHAT, chat_body(), key=None)
    check_eq(r.status, 401, "no api-key: 401")
    r = m.post(CHAT, chat_body(), key=None,
               headers={"Authorization": "Bearer " + BEARER})
    check_eq(r.status, 200, "Authorization: Bearer accepted")
    r = m.post(CHAT, chat_body(), key=None,
               headers={"Authorization": "Bearer nope"})
    check_eq(r.status, 401, "wrong bearer: 401")


def test_jwt(tmp):
    """--jwt-key-file: Entra ID tokens checked offline, as Azure does."""
    import mock_token
    key = b"jwt-test-key"
    key_file = os.path.join(tmp, "jwt.key")
    with open(key_file, "wb") as f:
        f.write(key + b"\n")
    now = int(time.time())
    good = mock_token.signed_token(1, key, now + 60)
    m = Mock(tmp, "--jwt-key-file", key_file)
    try:
        def ask(tok):
            return m.post(CHAT, chat_body(), key=None,
                          headers={"Authorization": "Bearer " + tok})
        check_eq(ask(good).status, 200, "jwt: a signed, current token: 200")
        head, body, sig = good.split(".")
        other = json.loads(base64.urlsafe_b64decode(body + "==="))
        other["aud"] = "https://management.azure.com"
        forged = mock_token._b64(json.dumps(other).encode())
        for name, tok in (
                ("expired", mock_token.signed_token(2, key, now - 5)),
                ("signed with another key",
                 mock_token.signed_token(3, b"other", now + 60)),
                ("another audience, signature kept",
                 "%s.%s.%s" % (head, forged, sig)),
                ("another audience, signed", "%s.%s.%s" % (
                    head, forged, mock_token._b64(hmac.new(
                        key, ("%s.%s" % (head, forged)).encode(),
                        hashlib.sha256).digest()))),
                ("not a JWT", "abc"),
                ("unsigned", "%s.%s." % (head, body))):
            r = ask(tok)
            check(r.status == 401 and json.loads(r.body)["error"][
                "message"].startswith("Unauthorized. Access token is "
                                      "missing, invalid, audience is "
                                      "incorrect") and
                  (r.header("WWW-Authenticate") or "").startswith(
                      "Bearer ") and "invalid_token" in r.header(
                      "WWW-Authenticate"),
                  "jwt: %s: Azure's 401 with WWW-Authenticate" % name,
                  "%d %r %r" % (r.status, r.body, r.headers))
        r = m.post(CHAT, chat_body(), key=None)
        check_eq(r.status, 401, "jwt: no token: 401")
        check_eq(m.post(CHAT, chat_body()).status, 200,
                 "jwt: an api-key still works beside it")
        check_eq(m.stats()["auth_failures"], 7, "jwt: auth_failures counts "
                 "each rejection")
    finally:
        m.stop()
        m.kill()


def test_not_found(m):
    r = m.post("/openai/deployments/gpt-4o/completionz?api-version=1",
               chat_body())
    check(r.status == 404 and r.body.decode() == BODY_404,
          "bad path: 404 with Azure body", "%d %r" % (r.status, r.body))
    r = m.post("/openai/deployments/gpt-4o/chat/completions", chat_body())
    check_eq(r.status, 404, "missing api-version: 404")
    r = m.get("/", key=None)
    check_eq(r.status, 404, "GET /: 404")
    r = m.get(CHAT)
    check(r.status == 405 and r.header("allow") == "POST",
          "GET on chat path: 405 with Allow", "%d %s" % (r.status, r.headers))
    r = m.get("/_mock/nothing", key=None)
    check_eq(r.status, 404, "unknown /_mock/ path: 404")


def test_keepalive_pipelining(m):
    before = m.stats()["connections"]
    c = m.conn()
    try:
        r1 = c.request("POST", CHAT, chat_body())
        r2 = c.request("POST", EMBED, b'{"input":"a"}')
        check(r1.status == 200 and r2.status == 200,
              "keep-alive: two requests on one connection")
        c.send(build("POST", CHAT, chat_body()) +
               build("POST", EMBED, b'{"input":"b"}') +
               build("GET", "/nope"))
        rs = [c.response() for _ in range(3)]
        check_eq([r.status for r in rs], [200, 200, 404],
                 "pipelined requests answered in order")
    finally:
        c.close()
    check_eq(m.stats()["connections"] - before, 2,
             "keep-alive: one connection used (plus the stats one)")
    c = m.conn()
    try:
        r = c.request("POST", CHAT, chat_body(),
                      headers={"Connection": "close"})
        check(r.status == 200 and r.header("connection") == "close",
              "Connection: close echoed", str(r.headers))
        check(c.at_eof(), "Connection: close honoured")
    finally:
        c.close()
    c = m.conn()
    try:
        c.send(b"HEAD /_mock/health HTTP/1.1\r\nHost: x\r\n\r\n"
               b"GET /_mock/health HTTP/1.1\r\nHost: x\r\n\r\n")
        c._line()
        head = {}
        for line in iter(c._line, b""):
            k, _, v = line.decode().partition(":")
            head[k.lower()] = v.strip()
        r = c.response()
        check(head.get("content-length") == "2" and r.body == b"ok",
              "HEAD: headers only, connection stays in sync", str(head))
    finally:
        c.close()
    c = m.conn()
    try:
        c.send(b"GET /_mock/health HTTP/1.0\r\n\r\n")
        r = c.response()
        check(r.status == 200 and c.at_eof(), "HTTP/1.0 closes by default")
    finally:
        c.close()


def test_quota(m):
    m.set("reset=1&rpm=2")
    ok1 = m.post(CHAT, chat_body())
    ok2 = m.post(CHAT, chat_body())
    check_eq([ok1.header("x-ratelimit-remaining-requests"),
              ok2.header("x-ratelimit-remaining-requests")], ["1", "0"],
             "rpm: x-ratelimit-remaining-requests counts down")
    r = m.post(CHAT, chat_body())
    check_eq(r.status, 429, "rpm exceeded: 429")
    ra, ra_ms = r.header("retry-after"), r.header("retry-after-ms")
    check(ra is not None and ra.isdigit() and 1 <= int(ra) <= 60,
          "429: retry-after in seconds", repr(ra))
    check(ra_ms is not None and ra_ms.isdigit() and
          int(ra) == (int(ra_ms) + 999) // 1000,
          "429: retry-after-ms matches retry-after", "%r %r" % (ra, ra_ms))
    check_eq(r.header("x-ratelimit-remaining-requests"), "0",
             "429: x-ratelimit-remaining-requests: 0")
    check_eq(r.body.decode(), BODY_429 % ("2024-10-21", ra),
             "429: Azure body")
    s = m.get("/_mock/settings", key=None).json()
    check_eq(s["window"]["requests"], 2, "429 does not consume quota")
    m.set("retry_after=7")
    r = m.post(CHAT, chat_body())
    check_eq((r.status, r.header("retry-after"), r.header("retry-after-ms")),
             (429, "7", "7000"), "retry_after override")
    check("retry after 7 seconds" in r.body.decode(),
          "retry_after override in the message")
    m.set("retry_after=3&retry_after_ms=1234")
    r = m.post(CHAT, chat_body())
    check_eq((r.header("retry-after"), r.header("retry-after-ms")),
             ("3", "1234"), "retry_after_ms override")
    m.set("retry_after=none&retry_after_ms=auto")
    r = m.post(CHAT, chat_body())
    check(r.status == 429 and r.header("retry-after") is None and
          r.header("retry-after-ms") is None,
          "retry_after=none omits the headers", str(r.headers))
    m.set("retry_after=auto&window_ms=300")
    time.sleep(0.35)
    r = m.post(CHAT, chat_body())
    check_eq(r.status, 200, "new window after window_ms: 200")
    # Tokens: prompt = body/4, +16 completion tokens for chat.
    m.set("reset=1&tpm=100")
    r = m.post(CHAT, b"x" * 300)
    check(r.status == 200 and
          r.header("x-ratelimit-remaining-tokens") == str(100 - 75 - 16),
          "tpm: x-ratelimit-remaining-tokens", str(r.headers))
    r = m.post(CHAT, b"x" * 40)
    check_eq(r.status, 429, "tpm exceeded: 429")
    r = m.post(EMBED, b"x" * 8)
    check_eq(r.status, 200, "tpm: smaller request still fits")
    m.set("reset=1&throttle_all=1&retry_after=2")
    r = m.post(EMBED, b'{"input":"a"}')
    check(r.status == 429 and r.header("retry-after") == "2" and
          "Embeddings_Create" in r.body.decode(),
          "throttle_all: 429 (Embeddings_Create)", "%d %r" % (r.status,
                                                              r.body))
    m.proc.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + 2 * SLOW
    while time.monotonic() < deadline and \
            m.get("/_mock/settings", key=None).json()["throttle_all"]:
        time.sleep(0.02)
    check_eq(m.post(CHAT, chat_body()).status, 200,
             "SIGUSR1 toggles throttle_all")
    m.set("reset=1")


def test_faults(m):
    m.set("reset=1&fail_status=503&fail_count=2")
    rs = [m.post(CHAT, chat_body()) for _ in range(3)]
    check_eq([r.status for r in rs], [503, 503, 200],
             "fail_count=2 fail_status=503")
    check(rs[0].json()["error"]["code"] == "503" and
          rs[0].header("x-ms-region") == REGION,
          "503: Azure-style error JSON and headers", rs[0].body.decode())

    def draw():
        return [m.post(EMBED, b'{"input":"a"}').status for _ in range(20)]
    m.set("reset=1&fail_rate=50&seed=42")
    first = draw()
    m.set("seed=42")
    second = draw()
    n = first.count(500)
    check(first == second and 0 < n < 20,
          "fail_rate=50 is deterministic for a seed", "%r %r" % (first,
                                                                 second))
    m.set("reset=1&reset_count=1")
    c = m.conn()
    try:
        c.send(build("POST", CHAT, chat_body()))
        try:
            c.response()
            got = "an answer"
        except ConnectionResetError:
            got = "reset"
        except (EOFError, socket.timeout) as exc:
            got = repr(exc)
        check_eq(got, "reset", "reset_count=1: connection reset")
    finally:
        c.close()
    check_eq(m.post(CHAT, chat_body()).status, 200,
             "after reset_count: answers again")
    m.set("latency_ms=300")
    t0 = time.monotonic()
    r = m.post(CHAT, chat_body())
    t1 = time.monotonic()
    m.get("/_mock/health", key=None)
    t2 = time.monotonic()
    check(r.status == 200 and t1 - t0 >= 0.29, "latency_ms delays answers",
          "%.3f s" % (t1 - t0))
    check(t2 - t1 < 0.25 * SLOW, "latency_ms spares /_mock/",
          "%.3f s" % (t2 - t1))
    r = m.post("/_mock/set?bogus=1", key=None)
    check(r.status == 400 and "bogus" in r.body.decode(),
          "unknown set key: 400", "%d %r" % (r.status, r.body))
    r = m.post("/_mock/set?rpm=5&fail_rate=101", key=None)
    s = m.get("/_mock/settings", key=None).json()
    check(r.status == 400 and s["rpm"] == 0 and s["latency_ms"] == 300,
          "bad value: 400, nothing applied", "%d %r" % (r.status, s))
    s = m.set("reset=1")
    check(s["latency_ms"] == 0 and s["fail_rate"] == 0 and
          s["retry_after"] == "auto" and s["window_ms"] == 60000,
          "reset=1 restores the defaults", str(s))


def test_stream(m):
    m.set("stream_delay_ms=20")
    c = m.conn()
    try:
        t0 = time.monotonic()
        r = c.request("POST", CHAT, chat_body(stream=True))
        secs = time.monotonic() - t0
        check(r.status == 200 and
              r.header("content-type").startswith("text/event-stream") and
              r.header("transfer-encoding") == "chunked",
              "stream: 200 text/event-stream, chunked", str(r.headers))
        text = r.body.decode()
        events = [e for e in text.split("\n\n") if e]
        check(all(e.startswith("data: ") for e in events) and
              text.endswith("data: [DONE]\n\n"),
              "stream: data events ending with data: [DONE]", text[-200:])
        chunks = [json.loads(e[6:]) for e in events[:-1]]
        content = "".join(ch["choices"][0]["delta"].get("content", "")
                          for ch in chunks)
        check(len(chunks) >= 3 and
              all(ch["object"] == "chat.completion.chunk" for ch in chunks)
              and REGION in content and
              chunks[-1]["choices"][0]["finish_reason"] == "stop",
              "stream: chat.completion.chunk deltas name the region",
              content)
        check(secs >= 0.02 * (len(events) - 2), "stream: events are paced",
              "%.3f s for %d events" % (secs, len(events)))
        r = c.request("POST", CHAT, chat_body())
        check_eq(r.status, 200, "stream: connection reusable afterwards")
    finally:
        c.close()
    m.set("stream_delay_ms=10")


def test_bodies(m):
    r = m.post(CHAT, b"y" * (200 * 1024))
    check(r.status == 200 and r.json()["usage"]["prompt_tokens"] == 51200,
          "200 KB body accepted", "%d %r" % (r.status, r.body[:200]))
    payload = chat_body("chunked body")
    pieces = [payload[:10], payload[10:11], payload[11:]]
    raw = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(p), p) for p in pieces)
    raw += b"0\r\nX-Trailer: yes\r\n\r\n"
    c = m.conn()
    try:
        c.send(b"POST %s HTTP/1.1\r\nHost: x\r\napi-key: %s\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n"
               % (CHAT.encode(), KEY.encode()))
        for i in range(0, len(raw), 7):  # dribbled
            c.send(raw[i:i + 7])
            time.sleep(0.001)
        r = c.response()
        check(r.status == 200 and
              r.json()["usage"]["prompt_tokens"] == len(payload) // 4,
              "chunked request body decoded", "%d %r" % (r.status, r.body))
        r = c.request("POST", EMBED, b'{"input":"after chunked"}')
        check_eq(r.status, 200, "keep-alive after a chunked body")
    finally:
        c.close()
    c = m.conn()
    try:
        c.send(b"POST %s HTTP/1.1\r\nHost: x\r\napi-key: %s\r\n"
               b"Content-Length: 11\r\nExpect: 100-continue\r\n\r\n"
               % (CHAT.encode(), KEY.encode()))
        interim = c.response(keep_interim=True)
        c.send(b'{"a":"bcd"}')
        r = c.response()
        check(interim.status == 100 and r.status == 200,
              "Expect: 100-continue", "%d %d" % (interim.status, r.status))
    finally:
        c.close()


def raw_exchange(m, data, name, want):
    c = m.conn()
    try:
        try:
            c.send(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            r = c.response()
            got = r.status
        except (EOFError, ConnectionResetError, socket.timeout) as exc:
            got = repr(exc)
        check_eq(got, want, name)
        if got == want:
            check(c.at_eof(), name + ": connection closed")
    finally:
        c.close()


def test_malformed(m):
    raw_exchange(m, b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
                 b"\r\n" % (CHAT.encode(), 5 * 1024 * 1024),
                 "Content-Length over 4 MiB: 413", 413)
    raw_exchange(m, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40000 +
                 b"\r\n\r\n", "40 KB of headers: 431", 431)
    raw_exchange(m, b"\x16\x03\x01 garbage\r\n\r\n", "garbage line: 400", 400)
    raw_exchange(m, b"GET /x HTTP/1.1\r\n\r\n", "HTTP/1.1 without Host: 400",
                 400)
    raw_exchange(m, b"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
                 "obs-fold: 400", 400)
    raw_exchange(m, b"POST %s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
                 b"chunked\r\n\r\nzz\r\n" % CHAT.encode(),
                 "bad chunk size: 400", 400)
    raw_exchange(m, b"POST %s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
                 b"chunked\r\n\r\n500000\r\n" % CHAT.encode(),
                 "chunk over 4 MiB: 413", 413)
    raw_exchange(m, b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n" % CHAT.encode(),
                 "Content-Length with Transfer-Encoding: 400", 400)
    raw_exchange(m, b"GET / HTTP/2.0\r\nHost: x\r\n\r\n",
                 "HTTP/2.0 request line: 505", 505)
    # Junk of all sorts must not take the mock down.
    seed = 7
    for i in range(60):
        seed = (seed * 1103515245 + 12345) & 0x7fffffff
        n = seed % 3000
        junk = bytes((seed >> (j % 16) ^ j * 31) & 0xff for j in range(n))
        if i % 3 == 0:
            junk = b"POST / HTTP/1.1\r\nHost: x\r\n" + junk
        try:
            s = socket.create_connection(("127.0.0.1", m.port), timeout=2)
            s.sendall(junk + b"\r\n\r\n")
            s.close()
        except OSError:
            pass
    r = m.get("/_mock/health", key=None)
    check(r.status == 200 and m.proc.poll() is None,
          "still healthy after junk input")


def test_stats(m):
    m.set("reset=1")
    r = m.post("/_mock/stats/reset", key=None)
    check(r.status == 200 and r.json()["requests"] == 0,
          "POST /_mock/stats/reset zeroes")
    sent = 0
    for req in (build("POST", CHAT, chat_body()),
                build("POST", EMBED, b'{"input":"x"}'),
                build("POST", CHAT, chat_body(), key="bad"),
                build("POST", "/nope", b"{}"),
                build("POST", CHAT, chat_body(stream=True))):
        c = m.conn()
        c.send(req)
        c.response()
        c.close()
        sent += len(req)
    m.set("rpm=1")  # the window already holds 3 requests
    req = build("POST", CHAT, chat_body())
    m.post(CHAT, chat_body())
    sent += len(req)
    m.set("reset_count=1")
    c = m.conn()
    try:
        c.send(req)
        try:
            c.response()
        except (ConnectionResetError, EOFError):
            pass
    finally:
        c.close()
    sent += len(req)
    s = m.stats()
    want = {"region": REGION, "requests": 7,
            "status": {"200": 3, "401": 1, "404": 1, "429": 1},
            "resets": 1, "streams": 1, "bytes_in": sent, "auth_failures": 1}
    got = {k: s.get(k) for k in want}
    check_eq(got, want, "stats counters")
    check_eq(s.get("aoai_headers"), 0, "no x-aoai-* header seen")
    m.post(CHAT, chat_body(), headers={"X-AOAI-T0": "1764806400000"})
    m.post(CHAT, chat_body(), headers={"x-aoai-upstream-status": "200",
                                       "x-aoaiother": "1"})
    m.post(CHAT, chat_body(), headers={"x-aoaiother": "1"})
    check_eq(m.stats().get("aoai_headers"), 2,
             "requests with an x-aoai-* header counted (any case)")
    # the fleet lab's floor: 429s of requests HAProxy decided before this
    # region's first 429 left it (x-lab-decided-us, wall clock, us)
    m.post("/_mock/stats/reset", key=None)
    m.set("reset=1&throttle_all=1")
    now_us = int(time.time() * 1e6)
    for label, hdr in (("decided before", str(now_us - 5000)),
                       ("decided before", str(now_us - 4000)),
                       ("decided after", str(now_us + 60 * 10**6)),
                       ("a bad value", "12x"), ("no header", None)):
        hdrs = {"x-lab-decided-us": hdr} if hdr else {}
        check_eq(m.post(CHAT, chat_body(), headers=hdrs).status, 429,
                 "throttle_all, x-lab-decided-us %s: 429" % label)
    s = m.stats()
    check_eq((s.get("throttled"), s.get("throttled_unavoidable")), (5, 2),
             "429s of requests decided before the first 429: 2 of 5 (one "
             "decided after it, one bad value, one without the header)")
    check(59 * 10**6 < s.get("throttled_last_us", 0) <= 60 * 10**6,
          "throttled_last_us: the one decided after, ~60 s after the first",
          s.get("throttled_last_us"))
    m.post("/_mock/stats/reset", key=None)
    m.post(CHAT, chat_body(),
           headers={"x-lab-decided-us": str(int(time.time() * 1e6))})
    check_eq(m.stats().get("throttled_unavoidable"), 1,
             "a stats reset starts the count at the next first 429")
    m.set("reset=1")


def test_cli():
    p = subprocess.run([MOCK, "--port", "0"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, timeout=10)
    check(p.returncode == 2 and b"--region" in p.stderr,
          "missing --region: exit 2", "%d %r" % (p.returncode, p.stderr))
    p = subprocess.run([MOCK, "--region", "x", "--port", "70000", "--rpm",
                        "-1"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, timeout=10)
    check(p.returncode == 2 and b"--port" in p.stderr and
          b"--rpm" in p.stderr, "every bad option reported",
          "%d %r" % (p.returncode, p.stderr))


def main():
    if not os.access(MOCK, os.X_OK):
        check(False, "mock binary exists", MOCK + " (run make)")
        return 1
    tmp = tempfile.TemporaryDirectory(prefix="mock-aoai-test-")
    m = None
    try:
        m = Mock(tmp.name)
        for test in (test_startup, test_chat, test_embeddings,
                     test_embeddings_formats, test_v1,
                     test_auth, test_not_found, test_keepalive_pipelining,
                     test_quota, test_faults, test_stream, test_bodies,
                     test_malformed, test_stats):
            try:
                test(m)
            except Exception as exc:  # one broken test must not hide others
                check(False, test.__name__, "%s: %s"
                      % (type(exc).__name__, exc))
        t0 = time.monotonic()
        rc = m.stop(signal.SIGTERM, wait=5.0)
        check(rc == 0, "SIGTERM: exit 0 promptly",
              "exit %r after %.1f s; stderr: %s"
              % (rc, time.monotonic() - t0, m.stderr()[-3000:]))
        try:
            test_jwt(tmp.name)
        except Exception as exc:
            check(False, "test_jwt", "%s: %s" % (type(exc).__name__, exc))
        try:
            test_cli()
        except Exception as exc:
            check(False, "test_cli", "%s: %s" % (type(exc).__name__, exc))
    except Exception as exc:
        check(False, "mock runs", "%s: %s" % (type(exc).__name__, exc))
    finally:
        if m:
            m.kill()
        tmp.cleanup()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
