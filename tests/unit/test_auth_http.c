/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the token endpoints' HTTP pieces (agent/http.c,
 * agent/http-resp.c): URL parsing, the response parser fed whole and byte
 * by byte, caps, and request building.
 */
#include <stdio.h>
#include <string.h>

#include "http.h"
#include "secret.h"
#include "tap.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

struct url_case {
	const char *in;
	int rc;
	bool tls;
	const char *host;
	unsigned port;
	const char *path;
};

static const struct url_case url_cases[] = {
	{"http://169.254.169.254", 0, false, "169.254.169.254", 80, "/"},
	{"https://login.microsoftonline.com/", 0, true,
	 "login.microsoftonline.com", 443, "/"},
	{"https://127.0.0.1:8443/x/y?z=1", 0, true, "127.0.0.1", 8443,
	 "/x/y?z=1"},
	{"http://[::1]:81/p", 0, false, "::1", 81, "/p"},
	{"http://host?q", -1, false, "", 0, ""},
	{"ftp://host/", -1, false, "", 0, ""},
	{"http://", -1, false, "", 0, ""},
	{"http://:80/", -1, false, "", 0, ""},
	{"http://h:0/", -1, false, "", 0, ""},
	{"http://h:65536/", -1, false, "", 0, ""},
	{"http://h:8x/", -1, false, "", 0, ""},
	{"http://user@h/", -1, false, "", 0, ""},
	{"http://[::1/", -1, false, "", 0, ""},
	{"http://h/a b", -1, false, "", 0, ""},
};

struct resp_case {
	const char *name;
	const char *in;
	int rc;	    /* feed result over the whole input */
	int eof_rc; /* http_resp_eof() after, when rc == 0 */
	int status;
	const char *body; /* when complete */
};

static const struct resp_case resp_cases[] = {
	{"content-length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
	 1, 0, 200, "hello"},
	{"bytes after the body ignored",
	 "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiEXTRA", 1, 0, 200,
	 "hi"},
	{"chunked",
	 "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	 "3\r\nabc\r\n4;ext=1\r\ndefg\r\n0\r\nTrailer: x\r\n\r\n",
	 1, 0, 200, "abcdefg"},
	{"bare LF lines", "HTTP/1.1 400 Bad\nContent-Length: 1\n\nx", 1, 0, 400,
	 "x"},
	{"close-delimited", "HTTP/1.0 200 OK\r\n\r\nto the end", 0, 1, 200,
	 "to the end"},
	{"interim 100 then 200",
	 "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"
	 "Content-Length: 1\r\n\r\n!",
	 1, 0, 200, "!"},
	{"204 has no body", "HTTP/1.1 204 No Content\r\n\r\n", 1, 0, 204, ""},
	{"early close", "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc", 0,
	 -1, 200, NULL},
	{"close inside the head", "HTTP/1.1 200 OK\r\nContent-Le", 0, -1, 200,
	 NULL},
	{"bad status line", "HTTP/2 200 OK\r\n\r\n", -1, 0, 0, NULL},
	{"bad status code", "HTTP/1.1 2x0 OK\r\n\r\n", -1, 0, 0, NULL},
	{"status 099", "HTTP/1.1 099 OK\r\n\r\n", -1, 0, 0, NULL},
	{"header without colon", "HTTP/1.1 200 OK\r\nbroken\r\n\r\n", -1, 0,
	 200, NULL},
	{"bad content-length", "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
	 -1, 0, 200, NULL},
	{"negative content-length",
	 "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", -1, 0, 200, NULL},
	{"conflicting content-length",
	 "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
	 -1, 0, 200, NULL},
	{"huge content-length",
	 "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n", -1,
	 0, 200, NULL},
	{"body over the cap", "HTTP/1.1 200 OK\r\nContent-Length: 65\r\n\r\n",
	 -1, 0, 200, NULL},
	{"gzip transfer coding",
	 "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", -1, 0,
	 200, NULL},
	{"bad chunk size",
	 "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", -1, 0,
	 200, NULL},
	{"chunk over the cap",
	 "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n41\r\n", -1, 0,
	 200, NULL},
	{"missing CRLF after chunk",
	 "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n", -1,
	 0, 200, NULL},
};

#define BODY_CAP 64

/* Feeds <in> in pieces of <step> bytes (0: whole), then EOF if needed. */
static int feed(struct http_resp *r, const char *in, size_t step, int *eof_rc)
{
	size_t n = strlen(in), off = 0;
	int rc = 0;

	*eof_rc = 0;
	if (!step)
		step = n;
	while (off < n) {
		size_t k = n - off < step ? n - off : step;

		rc = http_resp_feed(r, in + off, k);
		off += k;
		if (rc != 0)
			return rc;
	}
	*eof_rc = http_resp_eof(r);
	return rc;
}

static void test_resp(void)
{
	struct sec_buf body;
	struct http_resp r;

	sec_buf_init(&body, BODY_CAP);
	for (size_t i = 0; i < N(resp_cases); i++) {
		const struct resp_case *c = &resp_cases[i];

		for (size_t step = 0; step <= 1; step++) {
			int rc, eof_rc;

			memset(&r, 0, sizeof(r));
			http_resp_init(&r, &body);
			rc = feed(&r, c->in, step, &eof_rc);
			if (!tap_ok(rc == c->rc && (rc || eof_rc == c->eof_rc),
				    "resp %s (%s): rc %d/%d eof %d/%d", c->name,
				    step ? "byte by byte" : "whole", rc, c->rc,
				    eof_rc, c->eof_rc))
				continue;
			if (!c->body)
				continue;
			tap_is_int(r.status, c->status, c->name);
			tap_is_mem(body.p, body.len, c->body, strlen(c->body),
				   c->name);
		}
	}
	sec_buf_free(&body);
}

static void test_resp_caps(void)
{
	static char line[HTTP_LINE_MAX + 64];
	struct sec_buf body;
	struct http_resp r;
	int rc = 0;

	sec_buf_init(&body, BODY_CAP);
	http_resp_init(&r, &body);
	memcpy(line, "HTTP/1.1 200 OK\r\nX: ", 21);
	memset(line + 21, 'a', sizeof(line) - 22);
	rc = http_resp_feed(&r, line, sizeof(line) - 1);
	tap_ok(rc == -1 && strstr(r.err, "too long"),
	       "a header line over HTTP_LINE_MAX is refused");

	http_resp_init(&r, &body);
	rc = http_resp_feed(&r, "HTTP/1.1 200 OK\r\n", 17);
	for (int i = 0; rc == 0 && i < HTTP_HEAD_MAX / 8; i++)
		rc = http_resp_feed(&r, "X: yyy\r\n", 8);
	tap_ok(rc == -1 && strstr(r.err, "headers too large"),
	       "headers over HTTP_HEAD_MAX are refused");

	http_resp_init(&r, &body);
	rc = http_resp_feed(&r, "HTTP/1.1 200 OK\r\n\r\n", 19);
	for (int i = 0; rc == 0 && i < 100; i++)
		rc = http_resp_feed(&r, "0123456789", 10);
	tap_ok(rc == -1, "a close-delimited body over the cap is refused");
	sec_buf_free(&body);
}

static void test_retry_after(void)
{
	static const char in[] =
		"HTTP/1.1 429 Too Many Requests\r\n"
		"retry-after:  7 \r\nContent-Length: 0\r\n\r\n";
	struct sec_buf body;
	struct http_resp r;

	sec_buf_init(&body, BODY_CAP);
	http_resp_init(&r, &body);
	tap_ok(http_resp_feed(&r, in, strlen(in)) == 1 &&
		       strcmp(r.retry_after, "7") == 0,
	       "Retry-After kept, trimmed");
	http_resp_init(&r, &body);
	tap_ok(http_resp_feed(&r, "HTTP/1.1 200 OK\r\n\r\n", 19) == 0 &&
		       r.retry_after[0] == '\0',
	       "no Retry-After: empty");
	sec_buf_free(&body);
}

static void test_urls(void)
{
	char err[HTTP_ERR_MAX];
	struct http_url u;

	for (size_t i = 0; i < N(url_cases); i++) {
		const struct url_case *c = &url_cases[i];
		int rc = http_url_parse(c->in, &u, err, sizeof(err));

		if (!tap_is_int(rc, c->rc, c->in) || rc)
			continue;
		tap_ok(u.tls == c->tls && strcmp(u.host, c->host) == 0 &&
			       u.port == c->port &&
			       strcmp(u.path, c->path) == 0,
		       "%s: tls %d host %s port %u path %s", c->in, u.tls,
		       u.host, u.port, u.path);
	}
}

static void test_request(void)
{
	static const char want[] =
		"POST /t/oauth2/v2.0/token HTTP/1.1\r\n"
		"Host: 127.0.0.1:8443\r\nConnection: close\r\n"
		"Accept: application/json\r\nUser-Agent: aoai-spoa\r\n"
		"Content-Type: application/x-www-form-urlencoded\r\n"
		"Content-Length: 3\r\n\r\na=b";
	static const char want_get[] =
		"GET /m HTTP/1.1\r\nHost: [::1]\r\nConnection: close\r\n"
		"Accept: application/json\r\nUser-Agent: aoai-spoa\r\n"
		"Metadata: true\r\n\r\n";
	struct ev_loop *loop = ev_default_loop(0);
	static char big[HTTP_REQUEST_MAX];
	struct http_client c;
	char err[HTTP_ERR_MAX];
	struct http_url u;

	tap_ok(http_client_init(&c, loop) == 0, "client init");
	http_url_parse("https://127.0.0.1:8443", &u, err, sizeof(err));
	tap_ok(http_request_build(&c, "POST", &u, "/t/oauth2/v2.0/token", NULL,
				  "application/x-www-form-urlencoded", "a=b",
				  3) == 0,
	       "POST built");
	tap_is_mem(c.req.p, c.req.len, want, strlen(want), "POST bytes");
	http_url_parse("http://[::1]:80", &u, err, sizeof(err));
	http_request_build(&c, "GET", &u, "/m", "Metadata: true\r\n", NULL,
			   NULL, 0);
	tap_is_mem(c.req.p, c.req.len, want_get, strlen(want_get),
		   "GET bytes (IPv6 host bracketed, default port left out)");
	memset(big, 'x', sizeof(big));
	tap_ok(http_request_build(&c, "POST", &u, "/", NULL, "text/plain", big,
				  sizeof(big)) == -1 &&
		       c.req.len == 0,
	       "a request over HTTP_REQUEST_MAX is refused, nothing kept");
	tap_ok(http_start(&c, &(struct http_url){.tls = true, .port = 1}, NULL,
			  1.0, NULL, NULL) == -1,
	       "https without a TLS context is refused");
	http_client_free(&c);
}

int main(void)
{
	test_urls();
	test_resp();
	test_resp_caps();
	test_retry_after();
	test_request();
	return tap_done();
}
