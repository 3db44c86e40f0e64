/* SPDX-License-Identifier: Apache-2.0 */
/* Azure OpenAI behaviour of the mock: routing, auth, quotas, faults, answer
 * bodies, event streams and the /_mock/ control endpoint.
 */
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "mock.h"

#define API_DEFAULT_VERSION "2024-02-01"
#define API_VERSION_MAX	    32

/* Body being built; the loop is single-threaded and bodies are built and
 * copied out synchronously, so one buffer serves every connection.
 */
static char api_scratch[MOCK_OUT_CAP - 2048];
static struct embed_input api_inputs[EMBED_MAX_INPUTS];

enum api_op {
	API_NONE,  /* no such resource */
	API_CHAT,  /* chat completions */
	API_EMBED, /* embeddings */
};

/* Where a request goes. */
struct api_route {
	enum api_op op;			   /* operation */
	char model[MOCK_NAME_MAX + 1];	   /* deployment or body "model" */
	char version[API_VERSION_MAX + 1]; /* api-version, or the default */
};

/* Everything about an answer but its body. */
struct api_resp {
	int status;	   /* HTTP status */
	const char *ctype; /* Content-Type */
	bool api;	   /* an API answer: rate-limit headers */
	bool chunked;	   /* Transfer-Encoding: chunked */
	bool no_length;	   /* neither length nor chunks: ends with the close */
	int64_t ra_s;	   /* retry-after, <0 omitted */
	int64_t ra_ms;	   /* retry-after-ms, <0 omitted */
	const char *allow; /* Allow, for 405 */
	const char *www_auth; /* WWW-Authenticate, for a bad token */
};

#define API_TOKEN_401                                                          \
	"Unauthorized. Access token is missing, invalid, audience is "         \
	"incorrect (https://cognitiveservices.azure.com), or have expired."
#define API_WWW_AUTH                                                           \
	"Bearer authorization_uri=\"https://login.microsoftonline.com/"        \
	"common/oauth2/authorize\", error=\"invalid_token\""

/* Content pieces of a streamed answer; NULL is the region name. */
static const char *const api_pieces[] = {
	"Hello", " from",    " the", " mock", " deployment",
	" in",	 " region ", NULL,   ".",
};
#define API_PIECES_N (sizeof(api_pieces) / sizeof(api_pieces[0]))

ev_tstamp mock_now(const struct mock_srv *srv)
{
	return ev_now(srv->loop);
}

/* splitmix64: small, seedable, good enough for ids and fault draws. */
static uint64_t api_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void api_uuid(struct mock_srv *srv, char *dst, size_t size)
{
	uint64_t a = api_rand(&srv->id_rng), b = api_rand(&srv->id_rng);

	snprintf(dst, size,
		 "%08" PRIx64 "-%04" PRIx64 "-4%03" PRIx64 "-%04" PRIx64
		 "-%012" PRIx64,
		 a >> 32, (a >> 16) & 0xffff, a & 0xfff,
		 ((b >> 48) & 0x3fff) | 0x8000, b & (uint64_t)0xffffffffffff);
}

static void api_completion_id(struct mock_srv *srv, char *dst, size_t size)
{
	static const char b62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				  "abcdefghijklmnopqrstuvwxyz";
	size_t i, n = strlen("chatcmpl-");

	if (size < n + 30)
		return;
	memcpy(dst, "chatcmpl-", n);
	for (i = 0; i < 29; i++)
		dst[n + i] = b62[api_rand(&srv->id_rng) % 62];
	dst[n + 29] = '\0';
}

static const char *api_reason(int status)
{
	switch (status) {
	case 100:
		return "Continue";
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 409:
		return "Conflict";
	case 413:
		return "Content Too Large";
	case 414:
		return "URI Too Long";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Status";
	}
}

/* Azure-style error messages for the statuses the mock produces. */
static const char *api_error_message(int status)
{
	switch (status) {
	case 400:
		return "The request is malformed.";
	case 401:
		return "Access denied due to invalid subscription key or wrong "
		       "API endpoint. Make sure to provide a valid key for an "
		       "active subscription and use a correct regional API "
		       "endpoint for your resource.";
	case 404:
		return "Resource not found";
	case 405:
		return "Method not allowed";
	case 413:
		return "The request body is too large.";
	case 414:
		return "The request target is too long.";
	case 431:
		return "The request headers are too large.";
	case 500:
		return "The server had an error while processing your "
		       "request. Sorry about that!";
	case 501:
		return "Transfer-Encoding not supported.";
	case 502:
		return "Bad gateway.";
	case 503:
		return "The service is temporarily unable to process your "
		       "request. Please try again later.";
	case 504:
		return "The server did not respond in time.";
	case 505:
		return "HTTP version not supported.";
	default:
		return api_reason(status);
	}
}

/* Starts a window if the previous one expired (fixed window). */
static void api_window_roll(struct mock_srv *srv)
{
	ev_tstamp now = mock_now(srv);
	ev_tstamp len = (double)srv->set.window_ms / 1000.0;

	if (now >= srv->win.start + len || now < srv->win.start) {
		srv->win.start = now;
		srv->win.requests = 0;
		srv->win.tokens = 0;
	}
}

/* Milliseconds until the current window expires, at least 1. */
static int64_t api_window_left_ms(const struct mock_srv *srv)
{
	double ms = (srv->win.start - mock_now(srv)) * 1000.0 +
		    (double)srv->set.window_ms;

	ms = ceil(ms);
	return ms < 1.0 ? 1 : (int64_t)ms;
}

/*
 * The lab's lower bound for any design that learns a throttle from a 429
 * (tests/lab/fleet.py): a 429 whose request HAProxy had decided
 * (x-lab-decided-us) before this region's first 429 left could not have
 * been avoided by any node, however fast the news travelled. The others
 * were decided by nodes the news had not reached yet: the latest of them,
 * in us after the first 429 left, is how long the news took to reach the
 * last node that sent.
 */
static void api_count_unavoidable(const struct conn *c)
{
	struct mock_srv *srv = c->srv;
	struct timespec ts;
	uint64_t now_us;

	if (!srv->first_429_us) {
		clock_gettime(CLOCK_REALTIME, &ts);
		now_us = (uint64_t)ts.tv_sec * 1000000u +
			 (uint64_t)ts.tv_nsec / 1000u;
		srv->first_429_us = now_us + srv->set.latency_ms * 1000u;
	}
	if (!c->req.decided_us)
		return;
	if (c->req.decided_us < srv->first_429_us)
		srv->stats.throttled_unavoidable++;
	else if (c->req.decided_us - srv->first_429_us >
		 srv->stats.throttled_last_us)
		srv->stats.throttled_last_us =
			c->req.decided_us - srv->first_429_us;
}

/* Writes the status line and headers of <r> for a body of <body_len>. */
static void api_head(struct conn *c, const struct api_resp *r, size_t body_len)
{
	struct mock_srv *srv = c->srv;
	const struct mock_settings *set = &srv->set;
	struct mbuf *o = &c->out;
	char apim[40], xid[40];

	api_uuid(srv, apim, sizeof(apim));
	api_uuid(srv, xid, sizeof(xid));
	mbuf_printf(o, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n", r->status,
		    api_reason(r->status), r->ctype);
	if (r->chunked)
		mbuf_printf(o, "Transfer-Encoding: chunked\r\n");
	else if (!r->no_length)
		mbuf_printf(o, "Content-Length: %zu\r\n", body_len);
	mbuf_printf(o,
		    "x-ms-region: %s\r\napim-request-id: %s\r\n"
		    "x-request-id: %s\r\n",
		    srv->region, apim, xid);
	if (r->api && r->status == 429)
		mbuf_printf(o, "x-ratelimit-remaining-requests: 0\r\n");
	else if (r->api && set->rpm)
		mbuf_printf(o,
			    "x-ratelimit-remaining-requests: %" PRIu64 "\r\n",
			    set->rpm > srv->win.requests
				    ? set->rpm - srv->win.requests
				    : 0);
	if (r->api && set->tpm)
		mbuf_printf(o, "x-ratelimit-remaining-tokens: %" PRIu64 "\r\n",
			    set->tpm > srv->win.tokens
				    ? set->tpm - srv->win.tokens
				    : 0);
	if (r->ra_s >= 0)
		mbuf_printf(o, "retry-after: %" PRId64 "\r\n", r->ra_s);
	if (r->ra_ms >= 0)
		mbuf_printf(o, "retry-after-ms: %" PRId64 "\r\n", r->ra_ms);
	if (r->www_auth)
		mbuf_printf(o, "WWW-Authenticate: %s\r\n", r->www_auth);
	if (r->allow)
		mbuf_printf(o, "Allow: %s\r\n", r->allow);
	if (r->ctype && strncmp(r->ctype, "text/event-stream", 17) == 0)
		mbuf_printf(o, "Cache-Control: no-cache\r\n");
	if (c->close_after)
		mbuf_printf(o, "Connection: close\r\n");
	else if (c->req.minor == 0)
		mbuf_printf(o, "Connection: keep-alive\r\n");
	mbuf_printf(o, "\r\n");
}

/* Counts an API answer and logs it when verbose. */
static void api_count(struct conn *c, int status)
{
	struct mock_srv *srv = c->srv;

	if (c->is_mock)
		return;
	if (status >= 0 && status < MOCK_STATUS_N)
		srv->stats.status[status]++;
	if (srv->verbose) {
		struct mhttp_str m = mhttp_at(c->in, c->req.method);
		struct mhttp_str p = mhttp_at(c->in, c->req.path);

		fprintf(stderr, "mock-aoai: %s %.*s %.*s %d\n", srv->region,
			(int)m.len, m.p, (int)p.len, p.p, status);
	}
}

/* Queues head and body, then starts the answer. Ownership of nothing moves.
 * An answer that does not fit (a bug) becomes a bare 500 and a close.
 */
static void api_send(struct conn *c, const struct api_resp *r, const char *body,
		     size_t len, enum conn_after after, uint64_t delay_ms)
{
	static const char oops[] = "HTTP/1.1 500 Internal Server Error\r\n"
				   "Content-Length: 0\r\n"
				   "Connection: close\r\n\r\n";
	struct mhttp_str method = mhttp_at(c->in, c->req.method);
	size_t mark = c->out.len;

	api_head(c, r, len);
	/* RFC 9110 §9.3.2: same headers, no content. */
	if (!mhttp_str_eq(method, "HEAD"))
		mbuf_add(&c->out, body, len);
	if (c->out.over) {
		fprintf(stderr, "mock-aoai: answer too large, sending 500\n");
		c->out.len = mark;
		c->out.over = false;
		mbuf_add(&c->out, oops, sizeof(oops) - 1);
		c->close_after = true;
		after = CONN_AFTER_WRITE;
	}
	api_count(c, r->status);
	conn_respond(c, after, delay_ms);
}

/* Sends an Azure-style error with the default message for <status>. */
static void api_error(struct conn *c, struct api_resp *r, const char *msg,
		      uint64_t delay_ms)
{
	int n;

	r->ctype = "application/json";
	n = snprintf(api_scratch, sizeof(api_scratch),
		     "{\"error\":{\"code\":\"%d\",\"message\":\"%s\"}}",
		     r->status, msg ? msg : api_error_message(r->status));
	if (n < 0 || (size_t)n >= sizeof(api_scratch))
		n = 0;
	api_send(c, r, api_scratch, (size_t)n, CONN_AFTER_WRITE, delay_ms);
}

void api_proto_error(struct conn *c, int status)
{
	struct api_resp r = {.status = status, .ra_s = -1, .ra_ms = -1};

	if (!c->is_mock) {
		c->srv->stats.requests++;
		c->srv->stats.bytes_in += c->in_len;
	}
	api_error(c, &r, NULL, 0);
}

/* Deployment and model names: Azure allows letters, digits, '-', '_', '.'. */
static bool api_name_ok(const char *p, size_t len)
{
	size_t i;

	if (len == 0 || len > MOCK_NAME_MAX)
		return false;
	for (i = 0; i < len; i++) {
		char ch = p[i];

		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
		      (ch >= 'A' && ch <= 'Z') || ch == '-' || ch == '_' ||
		      ch == '.' || ch == ':'))
			return false;
	}
	return true;
}

static void api_copy_name(char *dst, const char *p, size_t len)
{
	memcpy(dst, p, len);
	dst[len] = '\0';
}

/* Skips JSON whitespace in [p, end). */
static const char *api_json_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	return p;
}

/* Finds `"key"` followed by optional spaces and ':' in the body. Returns
 * the first byte of the value (after spaces), or NULL. A substring search,
 * not a JSON parser: good enough for a mock.
 */
static const char *api_json_find(const char *body, size_t len, const char *key)
{
	const char *p = body, *end = body + len;
	size_t klen = strlen(key);

	while (p < end) {
		const char *k = memmem(p, (size_t)(end - p), key, klen);
		const char *v;

		if (!k)
			return NULL;
		v = api_json_ws(k + klen, end);
		if (v < end && *v == ':')
			return api_json_ws(v + 1, end);
		p = k + klen;
	}
	return NULL;
}

static bool api_body_stream(const char *body, size_t len)
{
	const char *v = api_json_find(body, len, "\"stream\"");

	return v && (size_t)(body + len - v) >= 4 && memcmp(v, "true", 4) == 0;
}

/* Copies the body's "model" into <dst> when it is a sane name. */
static bool api_body_model(const char *body, size_t len, char *dst)
{
	const char *v = api_json_find(body, len, "\"model\"");
	const char *end = body + len, *q;

	if (!v || v >= end || *v != '"')
		return false;
	v++;
	q = memchr(v, '"', (size_t)(end - v));
	if (!q || !api_name_ok(v, (size_t)(q - v)))
		return false;
	api_copy_name(dst, v, (size_t)(q - v));
	return true;
}

/* Maps the request to an operation; API_NONE is a 404. */
static void api_resolve(struct conn *c, const char *body, struct api_route *rt)
{
	static const char dep[] = "/openai/deployments/";
	struct mhttp_str path = mhttp_at(c->in, c->req.path);
	struct mhttp_str query = mhttp_at(c->in, c->req.query);
	struct mhttp_str ver;
	const char *name, *slash, *end = path.p + path.len;
	struct mhttp_str rest;

	rt->op = API_NONE;
	memcpy(rt->version, API_DEFAULT_VERSION, sizeof(API_DEFAULT_VERSION));
	if (mhttp_str_eq(path, "/openai/v1/chat/completions") ||
	    mhttp_str_eq(path, "/openai/v1/embeddings")) {
		rt->op = path.len == strlen("/openai/v1/embeddings") ? API_EMBED
								     : API_CHAT;
		if (!api_body_model(body, c->body_len, rt->model)) {
			const char *dflt = rt->op == API_CHAT
						   ? "gpt-4o"
						   : "text-embedding-3-small";

			api_copy_name(rt->model, dflt, strlen(dflt));
		}
		return;
	}
	if (!mhttp_str_prefix(path, dep))
		return;
	name = path.p + sizeof(dep) - 1;
	slash = memchr(name, '/', (size_t)(end - name));
	if (!slash || !api_name_ok(name, (size_t)(slash - name)))
		return;
	rest.p = slash;
	rest.len = (size_t)(end - slash);
	/* Azure answers 404 when api-version is missing. */
	if (!mhttp_query_get(query, "api-version", &ver) || ver.len == 0)
		return;
	if (mhttp_str_eq(rest, "/chat/completions"))
		rt->op = API_CHAT;
	else if (mhttp_str_eq(rest, "/embeddings"))
		rt->op = API_EMBED;
	else
		return;
	api_copy_name(rt->model, name, (size_t)(slash - name));
	if (api_name_ok(ver.p, ver.len) && ver.len <= API_VERSION_MAX)
		api_copy_name(rt->version, ver.p, ver.len);
}

/* Compares without an early exit on the first difference. */
static bool api_secret_eq(struct mhttp_str s, const char *secret, size_t len)
{
	unsigned char d = 0;
	size_t i;

	if (s.len != len)
		return false;
	for (i = 0; i < len; i++)
		d |= (unsigned char)(s.p[i] ^ secret[i]);
	return d == 0;
}

static bool api_auth_ok(struct conn *c)
{
	struct mock_srv *srv = c->srv;

	if (!srv->api_key_len && !srv->bearer_len && !srv->jwt_key_len)
		return true;
	if (srv->api_key_len && c->req.has_api_key &&
	    api_secret_eq(mhttp_at(c->in, c->req.api_key), srv->api_key,
			  srv->api_key_len))
		return true;
	if ((srv->bearer_len || srv->jwt_key_len) && c->req.has_authz) {
		struct mhttp_str a = mhttp_at(c->in, c->req.authz);

		if (a.len > 7 && strncasecmp(a.p, "Bearer ", 7) == 0) {
			a.p += 7;
			a.len -= 7;
			while (a.len && *a.p == ' ') {
				a.p++;
				a.len--;
			}
			if (srv->jwt_key_len &&
			    mock_jwt_ok(srv, a.p, a.len, mock_now(srv)))
				return true;
			return srv->bearer_len &&
			       api_secret_eq(a, srv->bearer, srv->bearer_len);
		}
	}
	return false;
}

/* Decides whether this request is an injected failure. */
static bool api_fault(struct mock_srv *srv)
{
	if (srv->set.fail_count > 0) {
		srv->set.fail_count--;
		return true;
	}
	return srv->set.fail_rate > 0 &&
	       api_rand(&srv->fail_rng) % 100 < srv->set.fail_rate;
}

/* Answers 429 with Azure's headers and body. */
static void api_throttle(struct conn *c, const struct api_route *rt)
{
	struct mock_srv *srv = c->srv;
	const struct mock_settings *set = &srv->set;
	struct api_resp r = {.status = 429, .api = true};
	int64_t left = api_window_left_ms(srv);
	int64_t secs = (left + 999) / 1000;
	char msg[512];

	r.ra_s = set->retry_after >= 0		    ? set->retry_after
		 : set->retry_after == MOCK_RA_AUTO ? secs
						    : -1;
	if (set->retry_after_ms >= 0)
		r.ra_ms = set->retry_after_ms;
	else if (set->retry_after_ms == MOCK_RA_NONE ||
		 set->retry_after == MOCK_RA_NONE)
		r.ra_ms = -1;
	else if (set->retry_after >= 0)
		r.ra_ms = set->retry_after * 1000;
	else
		r.ra_ms = left;
	srv->stats.throttled++;
	api_count_unavoidable(c);
	snprintf(msg, sizeof(msg),
		 "Requests to the %s Operation under Azure OpenAI API version "
		 "%s have exceeded call rate limit of your current OpenAI S0 "
		 "pricing tier. Please retry after %" PRId64 " seconds. Please "
		 "go here: https://aka.ms/oai/quotaincrease if you would like "
		 "to further increase the default rate limit.",
		 rt->op == API_EMBED ? "Embeddings_Create"
				     : "ChatCompletions_Create",
		 rt->version, r.ra_s >= 0 ? r.ra_s : secs);
	api_error(c, &r, msg, set->latency_ms);
}

/* One event of a streamed answer into api_scratch. Returns its length. */
static size_t api_stream_event(struct conn *c, int step)
{
	struct mock_stream *st = &c->stream;
	struct mbuf b = {api_scratch, 0, sizeof(api_scratch), false};
	int pieces = (int)API_PIECES_N;

	if (step > pieces + 1) {
		mbuf_printf(&b, "data: [DONE]\n\n");
		return b.len;
	}
	mbuf_printf(&b,
		    "data: {\"id\":\"%s\",\"object\":\"chat.completion.chunk\","
		    "\"created\":%lld,\"model\":\"%s\","
		    "\"system_fingerprint\":\"fp_mock\",\"choices\":["
		    "{\"index\":0,\"delta\":",
		    st->id, st->created, st->model);
	if (step == 0)
		mbuf_printf(&b, "{\"role\":\"assistant\",\"content\":\"\"}");
	else if (step <= pieces)
		mbuf_printf(&b, "{\"content\":\"%s\"}",
			    api_pieces[step - 1] ? api_pieces[step - 1]
						 : c->srv->region);
	else
		mbuf_printf(&b, "{}");
	mbuf_printf(&b, ",\"logprobs\":null,\"finish_reason\":%s}]}\n\n",
		    step == pieces + 1 ? "\"stop\"" : "null");
	return b.over ? 0 : b.len;
}

/* Appends event <step> to c->out with the framing in use. */
static void api_stream_put(struct conn *c, int step)
{
	size_t n = api_stream_event(c, step);

	if (c->stream.chunked)
		mbuf_printf(&c->out, "%zx\r\n", n);
	mbuf_add(&c->out, api_scratch, n);
	if (c->stream.chunked)
		mbuf_printf(&c->out, "\r\n");
}

bool api_stream_next(struct conn *c)
{
	int step = c->stream.step++;

	api_stream_put(c, step);
	if (step <= (int)API_PIECES_N + 1)
		return false;
	if (c->stream.chunked)
		mbuf_printf(&c->out, "0\r\n\r\n");
	return true;
}

/* Starts a streamed chat completion. */
static void api_stream_start(struct conn *c, const struct api_route *rt)
{
	struct mock_srv *srv = c->srv;
	struct api_resp r = {
		.status = 200,
		.ctype = "text/event-stream; charset=utf-8",
		.api = true,
		.ra_s = -1,
		.ra_ms = -1,
	};
	size_t mark = c->out.len;

	srv->stats.streams++;
	c->stream.step = 1;
	c->stream.created = (long long)mock_now(srv);
	/* HTTP/1.0 has no chunks: the end of the stream is the close. */
	c->stream.chunked = c->req.minor >= 1;
	if (!c->stream.chunked)
		c->close_after = true;
	r.chunked = c->stream.chunked;
	r.no_length = !c->stream.chunked;
	api_completion_id(srv, c->stream.id, sizeof(c->stream.id));
	memcpy(c->stream.model, rt->model, sizeof(c->stream.model));
	api_head(c, &r, 0);
	api_stream_put(c, 0);
	if (c->out.over) {
		struct api_resp oops = {.status = 500, .ra_s = -1, .ra_ms = -1};

		c->out.len = mark;
		c->out.over = false;
		c->close_after = true;
		api_error(c, &oops, NULL, 0);
		return;
	}
	api_count(c, 200);
	conn_respond(c, CONN_AFTER_STREAM, srv->set.latency_ms);
}

static void api_chat_body(struct mock_srv *srv, struct mbuf *b,
			  const struct api_route *rt, uint64_t prompt)
{
	char id[40];

	api_completion_id(srv, id, sizeof(id));
	mbuf_printf(b,
		    "{\"id\":\"%s\",\"object\":\"chat.completion\","
		    "\"created\":%lld,\"model\":\"%s\","
		    "\"system_fingerprint\":\"fp_mock\",\"choices\":[{"
		    "\"index\":0,\"finish_reason\":\"stop\","
		    "\"logprobs\":null,\"message\":{\"role\":\"assistant\","
		    "\"content\":\"Hello from the mock deployment in region "
		    "%s.\"}}],\"usage\":{\"prompt_tokens\":%" PRIu64
		    ",\"completion_tokens\":%d,\"total_tokens\":%" PRIu64 "}}",
		    id, (long long)mock_now(srv), rt->model, srv->region,
		    prompt, MOCK_COMPLETION_TOKENS,
		    prompt + MOCK_COMPLETION_TOKENS);
}

static void ctl_dispatch(struct conn *c);

void api_dispatch(struct conn *c)
{
	struct mock_srv *srv = c->srv;
	struct mock_settings *set = &srv->set;
	const char *body = c->in + c->req.head_len;
	struct api_resp r = {.api = true, .ra_s = -1, .ra_ms = -1};
	struct mbuf b = {api_scratch, 0, sizeof(api_scratch), false};
	struct mhttp_str method = mhttp_at(c->in, c->req.method);
	struct api_route rt;
	uint64_t prompt, tokens;
	int n_inputs = 0;

	if (c->is_mock) {
		ctl_dispatch(c);
		return;
	}
	srv->stats.requests++;
	srv->stats.bytes_in += c->req_end;
	/* the gateway's own headers (x-aoai-t0...) must not reach Azure */
	if (c->req.has_aoai_hdr)
		srv->stats.aoai_headers++;
	api_window_roll(srv);
	if (set->reset_count > 0) {
		set->reset_count--;
		srv->stats.resets++;
		if (srv->verbose)
			fprintf(stderr, "mock-aoai: %s reset\n", srv->region);
		conn_respond(c, CONN_AFTER_RESET, set->latency_ms);
		return;
	}
	if (api_fault(srv)) {
		r.status = (int)set->fail_status;
		api_error(c, &r, NULL, set->latency_ms);
		return;
	}
	api_resolve(c, body, &rt);
	if (rt.op == API_NONE) {
		r.status = 404;
		api_error(c, &r, NULL, set->latency_ms);
		return;
	}
	if (!mhttp_str_eq(method, "POST")) {
		r.status = 405;
		r.allow = "POST";
		api_error(c, &r, NULL, set->latency_ms);
		return;
	}
	if (!api_auth_ok(c)) {
		srv->stats.auth_failures++;
		r.status = 401;
		/* a keyless resource answers a bad token in Entra ID's words */
		if (srv->jwt_key_len && !c->req.has_api_key) {
			r.www_auth = API_WWW_AUTH;
			api_error(c, &r, API_TOKEN_401, set->latency_ms);
			return;
		}
		api_error(c, &r, NULL, set->latency_ms);
		return;
	}
	if (rt.op == API_EMBED) {
		n_inputs = embed_inputs(body, c->body_len, api_inputs);
		if (n_inputs <= 0) {
			r.status = 400;
			api_error(c, &r,
				  n_inputs < 0
					  ? "Too many inputs for the mock "
					    "(at most 128)."
					  : "'input' must be a string or a "
					    "non-empty array.",
				  set->latency_ms);
			return;
		}
	}
	/* Token estimate: a token is about 4 bytes of prompt. */
	prompt = c->body_len / 4 ? c->body_len / 4 : 1;
	tokens = prompt + (rt.op == API_CHAT ? MOCK_COMPLETION_TOKENS : 0);
	if (set->throttle_all ||
	    (set->rpm && srv->win.requests + 1 > set->rpm) ||
	    (set->tpm && srv->win.tokens + tokens > set->tpm)) {
		api_throttle(c, &rt);
		return;
	}
	srv->win.requests++;
	srv->win.tokens += tokens;
	srv->stats.tokens += tokens;
	if (rt.op == API_CHAT && api_body_stream(body, c->body_len)) {
		api_stream_start(c, &rt);
		return;
	}
	if (rt.op == API_CHAT)
		api_chat_body(srv, &b, &rt, prompt);
	else
		embed_body(&b, api_inputs, n_inputs,
			   embed_base64_wanted(body, c->body_len), rt.model,
			   prompt);
	r.status = 200;
	r.ctype = "application/json";
	api_send(c, &r, b.p, b.over ? 0 : b.len, CONN_AFTER_WRITE,
		 set->latency_ms);
}

/* ---- /_mock/ control endpoint ---- */

enum ctl_kind {
	CTL_U64,    /* unsigned number within [min, max] */
	CTL_RETRY,  /* number within [min, max], "auto" or "none" */
	CTL_ACTION, /* 0 or 1, acted upon, not stored */
};

/* A settable key of /_mock/set. */
struct ctl_key {
	const char *name;   /* query key */
	enum ctl_kind kind; /* value syntax */
	size_t off;	    /* field in struct mock_settings */
	uint64_t min, max;  /* accepted range */
};

#define CTL_OFF(f) offsetof(struct mock_settings, f)

/* Keys of /_mock/set, in the order /_mock/settings shows them. */
static const struct ctl_key ctl_keys[] = {
	{"rpm", CTL_U64, CTL_OFF(rpm), 0, 1000000000000ULL},
	{"tpm", CTL_U64, CTL_OFF(tpm), 0, 1000000000000ULL},
	{"window_ms", CTL_U64, CTL_OFF(window_ms), 1, 86400000},
	{"latency_ms", CTL_U64, CTL_OFF(latency_ms), 0, 600000},
	{"fail_status", CTL_U64, CTL_OFF(fail_status), 400, 599},
	{"fail_count", CTL_U64, CTL_OFF(fail_count), 0, 1000000000},
	{"fail_rate", CTL_U64, CTL_OFF(fail_rate), 0, 100},
	{"seed", CTL_U64, CTL_OFF(seed), 0, UINT64_MAX},
	{"reset_count", CTL_U64, CTL_OFF(reset_count), 0, 1000000000},
	{"retry_after", CTL_RETRY, CTL_OFF(retry_after), 0, 86400},
	{"retry_after_ms", CTL_RETRY, CTL_OFF(retry_after_ms), 0, 86400000},
	{"throttle_all", CTL_U64, CTL_OFF(throttle_all), 0, 1},
	{"stream_delay_ms", CTL_U64, CTL_OFF(stream_delay_ms), 0, 60000},
	{"reset", CTL_ACTION, 0, 0, 1},
};
static const size_t ctl_keys_n = sizeof(ctl_keys) / sizeof(ctl_keys[0]);

/* Parses a decimal number in [min, max]. */
static bool ctl_number(struct mhttp_str v, uint64_t min, uint64_t max,
		       uint64_t *out)
{
	uint64_t n = 0;
	size_t i;

	if (v.len == 0 || v.len > 19)
		return false;
	for (i = 0; i < v.len; i++) {
		if (v.p[i] < '0' || v.p[i] > '9')
			return false;
		n = n * 10 + (uint64_t)(v.p[i] - '0');
	}
	if (n < min || n > max)
		return false;
	*out = n;
	return true;
}

static const struct ctl_key *ctl_lookup(struct mhttp_str k)
{
	size_t i;

	for (i = 0; i < ctl_keys_n; i++)
		if (mhttp_str_eq(k, ctl_keys[i].name))
			return &ctl_keys[i];
	return NULL;
}

/* Applies the query of /_mock/set to a copy of the settings, then swaps it
 * in; nothing changes when any pair is wrong. Returns 0, or -1 with the
 * reason in <err> (JSON-safe).
 */
static int ctl_set(struct mock_srv *srv, struct mhttp_str query, char *err,
		   size_t errlen)
{
	struct mock_settings next = srv->set;
	struct mhttp_str q = query, k, v;
	bool has_val, reset = false, reseed = false;
	const struct ctl_key *key;
	uint64_t n;

	/* "reset" applies first, wherever it is in the query. */
	while (mhttp_query_next(&q, &k, &v, &has_val)) {
		key = ctl_lookup(k);
		if (!key) {
			if (api_name_ok(k.p, k.len))
				snprintf(err, errlen, "unknown key '%.*s'",
					 (int)k.len, k.p);
			else
				snprintf(err, errlen, "unknown key");
			return -1;
		}
		if (key->kind == CTL_ACTION && ctl_number(v, 0, 1, &n) && n)
			reset = true;
	}
	if (reset)
		next = srv->defaults;
	q = query;
	while (mhttp_query_next(&q, &k, &v, &has_val)) {
		char *field;
		int64_t special = 0;

		key = ctl_lookup(k);
		field = (char *)&next + key->off;
		if (key->kind == CTL_RETRY && mhttp_str_eq(v, "auto"))
			special = MOCK_RA_AUTO;
		else if (key->kind == CTL_RETRY && mhttp_str_eq(v, "none"))
			special = MOCK_RA_NONE;
		if (special) {
			memcpy(field, &special, sizeof(special));
			continue;
		}
		if (!ctl_number(v, key->min, key->max, &n)) {
			snprintf(err, errlen,
				 "bad value for '%s': expected %" PRIu64
				 "..%" PRIu64 "%s",
				 key->name, key->min, key->max,
				 key->kind == CTL_RETRY ? ", auto or none"
							: "");
			return -1;
		}
		if (key->kind == CTL_ACTION)
			continue;
		if (key->kind == CTL_RETRY) {
			int64_t s = (int64_t)n;

			memcpy(field, &s, sizeof(s));
		} else {
			memcpy(field, &n, sizeof(n));
		}
		if (key->off == CTL_OFF(seed))
			reseed = true;
	}
	srv->set = next;
	if (reset)
		memset(&srv->win, 0, sizeof(srv->win));
	if (reset || reseed)
		srv->fail_rng = srv->set.seed;
	return 0;
}

/* The settings in force, as JSON, from the key table. */
static void ctl_settings_json(struct mock_srv *srv, struct mbuf *b)
{
	size_t i;

	api_window_roll(srv);
	mbuf_printf(b, "{\"region\":\"%s\"", srv->region);
	for (i = 0; i < ctl_keys_n; i++) {
		const struct ctl_key *key = &ctl_keys[i];
		const char *field = (const char *)&srv->set + key->off;
		uint64_t u;
		int64_t s;

		if (key->kind == CTL_ACTION)
			continue;
		if (key->kind == CTL_U64) {
			memcpy(&u, field, sizeof(u));
			mbuf_printf(b, ",\"%s\":%" PRIu64, key->name, u);
			continue;
		}
		memcpy(&s, field, sizeof(s));
		if (s == MOCK_RA_AUTO)
			mbuf_printf(b, ",\"%s\":\"auto\"", key->name);
		else if (s == MOCK_RA_NONE)
			mbuf_printf(b, ",\"%s\":\"none\"", key->name);
		else
			mbuf_printf(b, ",\"%s\":%" PRId64, key->name, s);
	}
	mbuf_printf(b,
		    ",\"window\":{\"requests\":%" PRIu64 ",\"tokens\":%" PRIu64
		    ",\"remaining_ms\":%" PRId64 "}}",
		    srv->win.requests, srv->win.tokens,
		    api_window_left_ms(srv));
}

static void ctl_stats_json(struct mock_srv *srv, struct mbuf *b)
{
	const struct mock_stats *st = &srv->stats;
	bool first = true;
	int i;

	mbuf_printf(b, "{\"region\":\"%s\"", srv->region);
#define MOCK_COUNTER_JSON(name)                                                \
	mbuf_printf(b, ",\"" #name "\":%" PRIu64, st->name);
	MOCK_COUNTERS(MOCK_COUNTER_JSON)
#undef MOCK_COUNTER_JSON
	mbuf_printf(b, ",\"status\":{");
	for (i = 0; i < MOCK_STATUS_N; i++) {
		if (!st->status[i])
			continue;
		mbuf_printf(b, "%s\"%d\":%" PRIu64, first ? "" : ",", i,
			    st->status[i]);
		first = false;
	}
	mbuf_printf(b, "}}");
}

/* Answers a /_mock/ request; never counted, never delayed. */
static void ctl_dispatch(struct conn *c)
{
	struct mock_srv *srv = c->srv;
	struct mhttp_str path = mhttp_at(c->in, c->req.path);
	struct mhttp_str method = mhttp_at(c->in, c->req.method);
	struct api_resp r = {.status = 200, .ra_s = -1, .ra_ms = -1};
	struct mbuf b = {api_scratch, 0, sizeof(api_scratch), false};
	bool get = mhttp_str_eq(method, "GET");
	bool post = mhttp_str_eq(method, "POST");
	char err[160];

	r.ctype = "application/json";
	if (mhttp_str_eq(path, "/_mock/health")) {
		if (!get && !mhttp_str_eq(method, "HEAD"))
			goto not_allowed_get;
		r.ctype = "text/plain";
		mbuf_printf(&b, "ok");
	} else if (mhttp_str_eq(path, "/_mock/stats")) {
		if (!get)
			goto not_allowed_get;
		ctl_stats_json(srv, &b);
	} else if (mhttp_str_eq(path, "/_mock/stats/reset")) {
		if (!post)
			goto not_allowed_post;
		memset(&srv->stats, 0, sizeof(srv->stats));
		srv->first_429_us = 0;
		ctl_stats_json(srv, &b);
	} else if (mhttp_str_eq(path, "/_mock/settings")) {
		if (!get)
			goto not_allowed_get;
		ctl_settings_json(srv, &b);
	} else if (mhttp_str_eq(path, "/_mock/set")) {
		if (!post)
			goto not_allowed_post;
		if (ctl_set(srv, mhttp_at(c->in, c->req.query), err,
			    sizeof(err)) == -1) {
			r.status = 400;
			api_error(c, &r, err, 0);
			return;
		}
		if (srv->verbose)
			fprintf(stderr, "mock-aoai: %s settings changed\n",
				srv->region);
		ctl_settings_json(srv, &b);
	} else {
		r.status = 404;
		api_error(c, &r, NULL, 0);
		return;
	}
	api_send(c, &r, b.p, b.over ? 0 : b.len, CONN_AFTER_WRITE, 0);
	return;

not_allowed_get:
	r.allow = "GET";
	goto not_allowed;
not_allowed_post:
	r.allow = "POST";
not_allowed:
	r.status = 405;
	api_error(c, &r, NULL, 0);
}
