# SPDX-License-Identifier: Apache-2.0
"""The lab's HTTP client: one keep-alive connection per Client, the
Azure OpenAI paths, and the Response it returns. Standard library only.

    c = labhttp.Client("127.0.0.1", port, api_key="...")
    r = c.chat("hello")         # Response: status, headers, body, elapsed
    r.json(), r.text, r.retried_stale

A Client retries a request ONCE, only when a reused keep-alive connection
was closed before a single response byte arrived (what every HTTP client
does on a stale keep-alive connection); retried_stale says it happened.
"""
import http.client
import json
import time

LOCAL = "127.0.0.1"
API_VERSION = "2024-06-01"
DEPLOYMENT = "gpt-4o"


def chat_path(deployment=DEPLOYMENT):
    return ("/openai/deployments/%s/chat/completions?api-version=%s"
            % (deployment, API_VERSION))


class Response:
    def __init__(self, status, reason, headers, body, elapsed,
                 retried_stale=False):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body
        self.elapsed = elapsed
        self.retried_stale = retried_stale

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<Response %s %s %d bytes %.3fs>" % (
            self.status, self.headers.get("x-aoai-backend", "-"),
            len(self.body), self.elapsed)


class Client:
    """A keep-alive HTTP/1.1 client to one host:port (not thread-safe: use
    one per thread)."""

    def __init__(self, host, port, timeout=30.0, api_key=None):
        self.host = host
        self.port = port
        self.timeout = timeout
        self.api_key = api_key
        self.conn = None
        self.reused = False
        self.stale_retries = 0

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def _connect(self):
        self.conn = http.client.HTTPConnection(self.host, self.port,
                                               timeout=self.timeout)
        self.reused = False

    def request(self, method, path, body=None, headers=None):
        """Sends one request; returns a Response (raises OSError or
        http.client.HTTPException when it failed)."""
        hdrs = {"Content-Type": "application/json"}
        if self.api_key:
            hdrs["api-key"] = self.api_key
        hdrs.update(headers or {})
        if isinstance(body, str):
            body = body.encode()
        start = time.monotonic()
        retried = False
        while True:
            if self.conn is None:
                self._connect()
            reused = self.reused
            try:
                self.conn.request(method, path, body=body, headers=hdrs)
                resp = self.conn.getresponse()
                data = resp.read()
            except (http.client.RemoteDisconnected, ConnectionResetError,
                    BrokenPipeError, http.client.BadStatusLine) as exc:
                # A keep-alive connection the server closed while idle:
                # retry once on a new connection, as HTTP clients do.
                self.close()
                if reused and not retried and not (
                        isinstance(exc, http.client.BadStatusLine)
                        and not isinstance(exc,
                                           http.client.RemoteDisconnected)):
                    retried = True
                    self.stale_retries += 1
                    continue
                raise
            except Exception:
                self.close()
                raise
            self.reused = True
            headers_l = {k.lower(): v for k, v in resp.getheaders()}
            if resp.will_close:
                self.close()
            return Response(resp.status, resp.reason, headers_l, data,
                            time.monotonic() - start, retried)

    def chat_path(self, deployment=DEPLOYMENT):
        return chat_path(deployment)

    def chat(self, text="hello", stream=False, deployment=DEPLOYMENT,
             body=None, headers=None, path=None):
        """POST a chat completion (body: raw bytes/str overrides text)."""
        if body is None:
            msg = {"messages": [{"role": "user", "content": text}],
                   "max_tokens": 16}
            if stream:
                msg["stream"] = True
            body = json.dumps(msg)
        return self.request("POST", path or self.chat_path(deployment),
                            body, headers)

    def embeddings(self, text="hello", deployment="text-embedding-3-small",
                   headers=None):
        return self.request(
            "POST", "/openai/deployments/%s/embeddings?api-version=%s"
            % (deployment, API_VERSION), json.dumps({"input": text}),
            headers)
